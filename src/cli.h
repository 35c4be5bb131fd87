/*
 * cli.h: kmes-agent's command line as the user meets it (cli.c).
 */
#ifndef KMES_CLI_H
#define KMES_CLI_H

#include "crypto.h"

#define PROGNAME "kmes-agent"

/* The usage on stderr after an error already said; exits 1. */
void cli_usage(void) __attribute__((noreturn));
/* --help: the usage and the options on stdout; exits 0. */
void cli_help(void) __attribute__((noreturn));
/* Exits through cli_usage unless typed ("name[=value]") spells name in
 * full: getopt_long would take "--lock" for --lock-idle. */
void cli_refuse_abbreviation(const char *typed, const char *name);
/* -E: "sha256" or "md5". Returns 0 or -1. */
int cli_parse_fp_hash(const char *s, enum ks_fp_hash *h);
/* Returns 1 (after saying so, with the chmod) if the store file at path
 * may be read or written by others. */
int cli_store_exposed(const char *path);
/* Warns if SSH_AUTH_SOCK names a live agent. */
void cli_warn_running_agent(void);

#endif /* KMES_CLI_H */
