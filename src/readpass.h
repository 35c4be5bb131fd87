/*
 * readpass.h: reading PINs and passphrases from a descriptor, from the
 * controlling terminal with echo off, or through $SSH_ASKPASS.
 *
 * Every secret is returned in memory from kmes_secure_alloc (locked, no
 * dump, guarded, wiped on free), NUL-terminated for convenience, and must
 * be released with kmes_secure_free(). The trailing newline (and a CR
 * before it) is never part of the secret. Nothing here logs a secret.
 */
#ifndef KMES_READPASS_H
#define KMES_READPASS_H

#include <stddef.h>
#include <stdint.h>

/* Longest secret accepted, in bytes, without the newline. */
#define READPASS_MAX 1024

/*
 * Reads one line from fd. Reads a byte at a time so that nothing after the
 * newline is consumed: one pipe may carry several lines meant for several
 * readers. A line longer than READPASS_MAX is consumed to its end and
 * refused. Returns 0, KMES_ERR_CONNECTION_CLOSED at end of input before any
 * byte, KMES_ERR_STRING_TOO_LARGE, or another negative KMES_ERR_*.
 */
int readpass_fd(int fd, uint8_t **secp, size_t *lenp)
    __attribute__((warn_unused_result));

/*
 * Prompts on /dev/tty with echo off and reads one line; with confirm set,
 * asks a second time and compares in constant time (up to three rounds,
 * saying so on the terminal when the entries differ). The terminal mode is
 * restored on every way out; a signal that arrives meanwhile is re-raised
 * after restoring it. Returns 0, KMES_ERR_SYSTEM (errno set) if there is
 * no terminal, KMES_ERR_DENIED if the entries never matched,
 * KMES_ERR_CONNECTION_CLOSED at end of input, or another KMES_ERR_*.
 */
int readpass_tty(const char *prompt, int confirm, uint8_t **secp,
    size_t *lenp) __attribute__((warn_unused_result));

/*
 * Runs $SSH_ASKPASS with prompt as its argument and reads the first line
 * it prints. Returns 0, KMES_ERR_INVALID_ARGUMENT if SSH_ASKPASS is unset,
 * KMES_ERR_DENIED if the program failed (the user cancelled), or another
 * negative KMES_ERR_*.
 */
int readpass_askpass(const char *prompt, uint8_t **secp, size_t *lenp)
    __attribute__((warn_unused_result));

/*
 * Interactive reading as ssh tools do it: the terminal if there is one,
 * else $SSH_ASKPASS if set (asking twice and comparing when confirm is
 * set). Returns as readpass_tty() or readpass_askpass().
 */
int readpass_interactive(const char *prompt, int confirm, uint8_t **secp,
    size_t *lenp) __attribute__((warn_unused_result));

#endif /* KMES_READPASS_H */
