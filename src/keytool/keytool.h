/*
 * keytool.h: what kmes-keytool's subcommands share: the global options,
 * exit statuses, and helpers to open the store and read secrets.
 */
#ifndef KMES_KEYTOOL_H
#define KMES_KEYTOOL_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

#define KT_PROG "kmes-keytool"

/* Exit statuses (documented in kmes-keytool(1)). */
#define KT_EXIT_OK 0
#define KT_EXIT_FAIL 1	  /* any other error */
#define KT_EXIT_USAGE 2	  /* bad command line */
#define KT_EXIT_PIN 3	  /* wrong PIN, SO PIN or passphrase */
#define KT_EXIT_BLOCKED 4 /* the PIN is blocked */
#define KT_EXIT_CORRUPT 5 /* the store failed its integrity checks */
#define KT_EXIT_NOSTORE 6 /* no store at the path */

struct ks_key;
struct ks_store;

/* Which secret to read; selects the descriptor option and the prompt. */
enum kt_secret { KT_PIN, KT_SO_PIN, KT_NEW_PIN, KT_PASSPHRASE, KT_N_SECRETS };

/* Global options; descriptors are -1 when not given. */
struct keytool {
	const char *store_path;
	int fd[KT_N_SECRETS];	  /* indexed by enum kt_secret */
	const struct kt_cmd *cmd; /* the running subcommand */
};

struct kt_cmd {
	const char *name;
	int (*run)(struct keytool *kt, int argc, char **argv);
	const char *args; /* usage line after the name */
	const char *help; /* one line for --help */
};

/* The subcommands, one file each. */
int cmd_init(struct keytool *, int, char **);
int cmd_generate(struct keytool *, int, char **);
int cmd_import(struct keytool *, int, char **);
int cmd_list(struct keytool *, int, char **);
int cmd_export_public(struct keytool *, int, char **);
int cmd_delete(struct keytool *, int, char **);
int cmd_rename(struct keytool *, int, char **);
int cmd_so_passwd(struct keytool *, int, char **);
int cmd_passwd(struct keytool *, int, char **);
int cmd_unblock(struct keytool *, int, char **);
int cmd_info(struct keytool *, int, char **);
int cmd_verify(struct keytool *, int, char **);
int cmd_recover(struct keytool *, int, char **);

/* Prints "kmes-keytool: message" on stderr. */
void kt_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints the running subcommand's usage line; returns KT_EXIT_USAGE. */
int kt_usage(const struct keytool *kt);

/* Reports a getopt_long error (ch '?' or ':', with opterr off) and the
 * usage line; returns KT_EXIT_USAGE. */
int kt_bad_option(const struct keytool *kt, int ch, char **argv);
/* getopt_long refusing abbreviated long options ('?' after saying so). */
int kt_getopt(int argc, char **argv, const char *optstring,
    const struct option *longopts);
/* Says what a command did, one line on stderr. */
void kt_said(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "ED25519 SHA256:..." for a public key blob. */
void kt_blob_desc(const uint8_t *blob, size_t len, char *buf, size_t buflen);
/* Refuses any option (operands from optind on). Returns KT_EXIT_*. */
int kt_no_options(const struct keytool *kt, int argc, char **argv);
/* Index of the record holding key (any label), or -1. */
long kt_find_key(const struct ks_store *s, const struct ks_key *key);
/* 1 if the last kt_getopt refused an abbreviation. */
int kt_abbrev_refused(void);
/* CMD --help: the command's usage and what it does, on stdout. */
void kt_cmd_help(const struct keytool *kt);

/* For subcommands without options or arguments: returns KT_EXIT_OK, or
 * KT_EXIT_USAGE after saying why. */
int kt_no_arguments(const struct keytool *kt, int argc, char **argv);

/* For subcommands taking one operand and no options ("--" allowed, so a
 * label may start with '-'): sets *argp and returns KT_EXIT_OK, or
 * returns KT_EXIT_USAGE after saying why. */
int kt_one_argument(const struct keytool *kt, int argc, char **argv,
    const char **argp);

/* Maps a KMES_ERR_* code to an exit status. */
int kt_exit_status(int r);

/*
 * Parses a decimal in [min, max] into *vp. Returns 0, or -1 (nothing set)
 * if s is not such a number.
 */
int kt_parse_uint(const char *s, unsigned long min, unsigned long max,
    unsigned long *vp);

/* Says why a key or store label is unusable (empty, too long, control characters);
 * returns 0 if it is fine, else KT_EXIT_USAGE. */
int kt_check_label(const char *label);

/*
 * Opens the store with a message on failure. Returns KT_EXIT_OK or the exit
 * status to use; *sp is set only on success.
 */
int kt_open_store(const struct keytool *kt, struct ks_store **sp);

/*
 * Reads a secret from its descriptor option or interactively (asking twice
 * when confirm is set and it comes from a terminal), in locked memory the
 * caller frees with kmes_secure_free. New PINs are checked for length.
 * Returns KT_EXIT_OK or the exit status to use (a message was printed).
 */
int kt_read_secret(const struct keytool *kt, enum kt_secret which,
    const char *prompt, int confirm, uint8_t **secp, size_t *lenp);

/*
 * Reads the user PIN (so = 0) or SO PIN (so = 1) and logs in, saying
 * how many tries are left or how to unblock on failure.
 * Returns KT_EXIT_OK or the exit status to use.
 */
int kt_login(const struct keytool *kt, struct ks_store *s, int so);

/* Reads a new PIN (twice on a terminal). Returns KT_EXIT_OK or a status. */
int kt_read_new_pin(const struct keytool *kt, const char *prompt,
    uint8_t **pinp, size_t *lenp);

/* Looks up label, with a message if absent. Returns the index or -1. */
long kt_find_label(const struct ks_store *s, const char *label);

/*
 * For a subcommand without options or arguments: logs in with the user PIN
 * (so = 0) or the SO PIN (so = 1) and sets a new user PIN, saying "cannot
 * <what>" if the store refuses it. Returns KT_EXIT_OK or the exit status.
 */
enum kt_pin_change {
	KT_CHANGE_PIN,	  /* the PIN, knowing it (passwd) */
	KT_UNBLOCK,	  /* the PIN, with the SO PIN (unblock) */
	KT_CHANGE_SO_PIN, /* the SO PIN, knowing it (so-passwd) */
};
int kt_set_new_pin(const struct keytool *kt, int argc, char **argv,
    enum kt_pin_change how);

/*
 * Opens the store, refuses a label already in it and logs in, so a new key
 * fails before any key work. Returns KT_EXIT_OK or the exit status to use;
 * *sp is set only on success.
 */
int kt_open_for_new_key(const struct keytool *kt, const char *label,
    struct ks_store **sp);

/* Adds key under label, with a message on failure.
 * Returns KT_EXIT_OK or the exit status to use. */
int kt_add_key(struct ks_store *s, const char *label, const struct ks_key *key,
    uint32_t flags);

/* As kt_add_key, with a PKCS#11 CKA_ID (NULL and 0 for none). */
int kt_add_key_id(struct ks_store *s, const char *label,
    const struct ks_key *key, uint32_t flags, const uint8_t *id, size_t id_len);

/* Prints key's OpenSSH public key line with label as its comment.
 * Returns 0 or a negative KMES_ERR_* (nothing printed). */
int kt_print_public(const struct ks_key *key, const char *label);

#endif /* KMES_KEYTOOL_H */
