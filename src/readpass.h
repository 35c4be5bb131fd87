/*
 * readpass.h: reading PINs and passphrases from a descriptor, from the
 * controlling terminal with echo off, through $SSH_ASKPASS, or (PINs)
 * through a pinentry program.
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
int readpass_tty(const char *prompt, int confirm, uint8_t **secp, size_t *lenp)
    __attribute__((warn_unused_result));

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
/*
 * A new secret, asked twice: as readpass_interactive with confirm, but a
 * first entry of fewer than min or more than max bytes is said at once and
 * asked again (a terminal; askpass: KMES_ERR_INVALID_ARGUMENT), before
 * the user types it a second time.
 */
int readpass_new_secret(const char *prompt, size_t min, size_t max,
    uint8_t **secp, size_t *lenp) __attribute__((warn_unused_result));

/* What readpass_pin() asks for. */
struct readpass_prompt {
	const char *name;     /* "keystore 'work'", "token 'HSM1'" */
	int tries_left;	      /* -1 unknown */
	const char *error;    /* what went wrong on the previous try, or NULL */
	const char *pinentry; /* explicit program (--pinentry/config) or NULL */
};

/*
 * Asks for a PIN, trying in order: an explicit pinentry (told the
 * terminal's name if there is one, so pinentry-tty/-curses draw on it);
 * else the terminal ("Enter PIN for keystore 'work' (9 tries left): ");
 * else a pinentry found on PATH; else $SSH_ASKPASS. A cancel stops there
 * (KMES_ERR_DENIED); a pinentry that cannot run or show a dialog gives way
 * to the next. $KMES_PINENTRY_TIMEOUT (seconds) bounds a pinentry dialog.
 * A pinentry failure other than a cancel is explained on stderr. Returns
 * 0, KMES_ERR_SYSTEM when no way to ask exists, or another KMES_ERR_*.
 * Defined in pinentry.c: a program that calls it links that too.
 */
int readpass_pin(const struct readpass_prompt *p, uint8_t **secp, size_t *lenp)
    __attribute__((warn_unused_result));

#endif /* KMES_READPASS_H */
