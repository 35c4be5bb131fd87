/*
 * store-util.h: shared fixtures for the key store tests: scratch
 * directories, a store made with a cheap KDF, pre-generated keys, and
 * whole-file helpers for the tamper tests.
 */
#ifndef KMES_STORE_UTIL_H
#define KMES_STORE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "store.h"

struct ks_image;
struct ks_key;
struct ks_store;

#define SU_PIN ((const uint8_t *)"123456")
#define SU_PIN_LEN 6
#define SU_SO_PIN ((const uint8_t *)"so-pin-987654")
#define SU_SO_PIN_LEN 13

/* scrypt N = 2^10, r = 8, p = 1: about a millisecond. */
extern const struct ks_store_kdf su_cheap_kdf;

struct su_gen {
	enum ks_key_type type;
	unsigned int bits;
	const char *name;
};

extern const struct su_gen su_gens[];
#define SU_NGEN 6

/* Generated once by su_setup (RSA generation is slow). */
extern struct ks_key *su_keys[SU_NGEN];

/* Makes the scratch directories, inits crypto, generates keys. 0 or -1. */
int su_setup(void);
void su_teardown(void);

/*
 * Returns a new path (malloc'd) under the scratch directory, or under a
 * tmpfs one if fast is set and /dev/shm exists (thousands of fsyncs).
 */
char *su_path(int fast, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Creates a store at path with the cheap KDF and the test PINs. */
void su_create(const char *path);

/* Opens path and logs in with the user PIN (asserts success). */
struct ks_store *su_open_login(const char *path);

/* Reads a whole file (malloc'd); asserts success. */
uint8_t *su_read(const char *path, size_t *lenp);

/* Replaces a file's contents (mode 0600); asserts success. */
void su_write(const char *path, const void *p, size_t len);

/* Parses a store file with the store's own parser, for tampering. */
struct ks_image *su_parse_file(const char *path);

/* Writes img over path through a new file renamed over it, as a writer
 * would (asserts success). */
void su_write_image(const char *path, const struct ks_image *img);

/* Signs with signer and checks the signature with checker. */
void su_sign_verify(const struct ks_key *signer, const struct ks_key *checker);

/*
 * Returns 1 if the store at path is refused by open, by a user login or by
 * verify; 0 if everything accepts it.
 */
int su_store_rejected(const char *path);

/* Runs a Check suite; returns the failure count for the exit status. */
int su_run(void *suite);

#endif /* KMES_STORE_UTIL_H */
