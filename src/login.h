/*
 * login.h: the PINs kmes-agent asks for at start (the key store's, then
 * each PKCS#11 token's) and the logins they open, in the foreground or
 * handed from the process with the terminal to the daemon child.
 */
#ifndef KMES_LOGIN_H
#define KMES_LOGIN_H

#include <stddef.h>

struct agent;

/* --pkcs11 modules on the command line (or pkcs11 lines in agent.conf). */
#define MAX_CLI_TOKENS 8

/* What needs a PIN at start. */
struct login_target {
	const char *module; /* NULL for the key store */
	const char *token;  /* label or serial; NULL for all its tokens */
};

/* Appends a target (module NULL: the key store); the strings must outlive
 * the logins. Returns 0, or -1 when 1 + MAX_CLI_TOKENS are listed. */
int login_add_target(const char *module, const char *token);

/*
 * Foreground: asks for each target's PIN (pin_fd, else the terminal, a
 * pinentry or SSH_ASKPASS) and logs in here; the store's PIN may be
 * retried from a terminal. Returns 0 or the last negative KMES_ERR_*.
 */
int login_here(struct agent *a, int pin_fd);

/*
 * Daemon, parent side: asks for the PINs here, where the terminal is, and
 * sends them to the child over to_child; reads each outcome back from
 * from_child. Returns 0 once the child is logged in everywhere, else the
 * last negative KMES_ERR_*.
 */
int login_via_child(struct agent *a, int pin_fd, int to_child, int from_child);

/* Daemon, child side of login_via_child. Returns 0 or a KMES_ERR_*. */
int login_from_parent(struct agent *a, int from_parent, int to_parent);

#endif /* KMES_LOGIN_H */
