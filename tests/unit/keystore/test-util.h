/*
 * test-util.h: shared helpers for the keystore unit tests: a scratch
 * directory, running ssh-keygen, and reading the files it writes.
 */
#ifndef KMES_TEST_UTIL_H
#define KMES_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

struct kbuf;
struct ks_key;

/* Creates the scratch directory and initialises crypto. Returns 0 or -1. */
int tu_setup(void);

/* Removes the scratch directory. */
void tu_teardown(void);

/* Returns the scratch directory path. */
const char *tu_dir(void);

/* Runs a shell command in the scratch directory; returns its exit status. */
int tu_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* As tu_sh, returning its standard output (malloc'd) or NULL. */
char *tu_sh_output(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reads a scratch file (NUL-terminated, malloc'd) or returns NULL. */
char *tu_read(const char *name, size_t *lenp);

/* Writes a scratch file. Returns 0 or -1. */
int tu_write(const char *name, const void *p, size_t len);

/* Decodes base64, skipping whitespace, into a new buffer (NULL if bad). */
struct kbuf *tu_b64_decode(const char *s, size_t len);

/* Decodes the body of a "-----BEGIN label-----" armored file. */
struct kbuf *tu_dearmor(const char *text, const char *label);

/* Loads name.pub (or any OpenSSH public key line file) as a key. */
struct ks_key *tu_load_pub(const char *name);

/*
 * Returns a new buffer holding exactly the private key as ssh-add sends it
 * (type name and fields, no comment), cut from an unencrypted OpenSSH
 * private key file without using the code under test.
 */
struct kbuf *tu_private_blob(const char *name);

/*
 * Builds the ADD_IDENTITY private form of a certificate from the
 * certificate and the plain private form of its key.
 */
struct kbuf *tu_cert_private(const struct ks_key *cert,
    const struct kbuf *plain_priv);

#endif /* KMES_TEST_UTIL_H */
