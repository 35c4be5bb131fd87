/*
 * config.h: kmes-agent's configuration file, agent.conf (see
 * kmes-agent.conf(5)). It holds start-up defaults that the command line
 * overrides, and never a secret: there is no PIN keyword.
 */
#ifndef KMES_CONFIG_H
#define KMES_CONFIG_H

#include <stddef.h>

/* pkcs11 lines a file may hold; the command line has the same cap. */
#define CONFIG_MAX_PKCS11 8

struct config_pkcs11 {
	char *module; /* absolute, ~/ expanded */
	char *token;  /* label or serial; NULL: every token */
};

struct agent_config {
	char *path;	 /* the file it came from (for messages) */
	char *store;	 /* absolute, ~/ expanded; NULL unset */
	char *audit_log; /* absolute, ~/ expanded; NULL unset */
	char *pinentry;	 /* a program name or absolute path; NULL unset */
	char *allowed_providers; /* -P pattern list; NULL unset */
	int pin;	/* -1 unset, 0 no, 1 yes: unlock the store at start */
	long lock_idle; /* seconds, -1 unset */
	long lifetime;	/* seconds (-t), -1 unset */
	long pkcs11_timeout; /* seconds, -1 unset */
	int allow_remote_pkcs11; /* -1 unset, 0 no, 1 yes (-O allow-remote-pkcs11) */
	size_t npkcs11;
	struct config_pkcs11 pkcs11[CONFIG_MAX_PKCS11];
};

/*
 * Returns $XDG_CONFIG_HOME/kmes/agent.conf, else $HOME/.config/kmes/agent.conf
 * (each variable only if absolute), malloc'd, or NULL if neither is usable.
 */
char *config_default_path(void);

/*
 * Parses text (len bytes, not NUL-terminated) read from the file `name`
 * into a new *cfgp. Returns 0 or a negative KMES_ERR_*; on error err (if
 * errlen > 0) holds "name:LINE: message" and *cfgp stays NULL.
 */
int config_parse(const char *name, const char *text, size_t len,
    struct agent_config **cfgp, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * Reads and parses path into a new *cfgp; a missing file is an empty config
 * (everything unset) when !must_exist. Returns 0 or a negative KMES_ERR_*;
 * on error err holds "path:LINE: message", or "path: message" for a problem
 * with the file itself (type, size, owner, mode, read error).
 */
int config_load(const char *path, int must_exist, struct agent_config **cfgp,
    char *err, size_t errlen) __attribute__((warn_unused_result));

/* Frees cfg and every string it holds; accepts NULL. */
void config_free(struct agent_config *cfg);

#endif /* KMES_CONFIG_H */
