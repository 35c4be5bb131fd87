/*
 * kf-util.h: helpers for the key file tests: a scratch directory where
 * ssh-keygen and openssl write fixtures, file reading, and a base64 decoder
 * that shares nothing with the code under test.
 */
#ifndef KMES_KF_UTIL_H
#define KMES_KF_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Creates the scratch directory and initialises crypto. Returns 0 or -1. */
int kf_setup(void);

/* Removes the scratch directory. */
void kf_teardown(void);

/* Runs a shell command in the scratch directory; returns its exit status. */
int kf_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reads a scratch file (NUL-terminated, malloc'd) or returns NULL. */
uint8_t *kf_read(const char *name, size_t *lenp);

/*
 * Decodes the base64 between "-----BEGIN label-----" and its END line into
 * a malloc'd buffer. Returns NULL if absent or malformed.
 */
uint8_t *kf_dearmour(const char *text, const char *label, size_t *lenp);

#endif /* KMES_KF_UTIL_H */
