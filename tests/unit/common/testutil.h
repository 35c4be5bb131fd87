/*
 * testutil.h: what the unit tests share: the Check runner, a scratch
 * directory where ssh-keygen and openssl write fixtures, and readers for
 * what they write that share no code with what is under test.
 */
#ifndef KMES_TESTUTIL_H
#define KMES_TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Runs every test of s, printing Check's summary, and frees it. Returns
 * the exit status for main: EXIT_SUCCESS, or EXIT_FAILURE if a test failed.
 */
int run_suite(Suite *s);

/* Creates the scratch directory /tmp/kmes-<name>-XXXXXX. Returns 0 or -1. */
int tu_setup(const char *name);

/* Removes the scratch directory, if there is one. */
void tu_teardown(void);

/* Returns the scratch directory path. */
const char *tu_dir(void);

/* Runs a shell command in the scratch directory; returns its exit status. */
int tu_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* As tu_sh, discarding its output: for commands that may fail on purpose. */
int tu_sh_quiet(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* As tu_sh, returning its standard output (malloc'd) or NULL on failure. */
char *tu_sh_output(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Reads a scratch file (NUL-terminated, malloc'd) or returns NULL; *lenp
 * (if lenp is not NULL) gets its length.
 */
char *tu_read(const char *name, size_t *lenp);

/* Writes a scratch file. Returns 0 or -1. */
int tu_write(const char *name, const void *p, size_t len);

/*
 * Decodes the base64 between "-----BEGIN label-----" and its END line into
 * a malloc'd buffer, skipping line ends, spaces and padding. Returns NULL
 * if absent or malformed.
 */
uint8_t *tu_dearmor(const char *text, const char *label, size_t *lenp);

/*
 * testutil-crypto.c, for tests that link the keystore: initialises crypto
 * as ks_crypto_init(0), accepting a heap that could not be locked (a low
 * RLIMIT_MEMLOCK still serves the tests). Returns 0 or -1 (said why).
 */
int tu_crypto_init(void);

#endif /* KMES_TESTUTIL_H */
