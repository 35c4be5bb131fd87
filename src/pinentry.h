/*
 * pinentry.h: asking for a PIN through a pinentry program (pinentry-curses,
 * -tty, -gnome3, ...), which speaks the Assuan protocol on its stdin and
 * stdout. The PIN comes back in kmes_secure_alloc memory; the program is
 * never allowed to cache it in a desktop keyring.
 */
#ifndef KMES_PINENTRY_H
#define KMES_PINENTRY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Longest wait for an answer when the request sets no timeout (seconds). */
#define PINENTRY_WAIT_DEFAULT 300

/* One question. Only program is required; every text may be NULL. */
struct pinentry_req {
	const char *program; /* absolute path, or a name searched on PATH */
	const char *title;   /* SETTITLE, e.g. "kmes-agent" */
	const char *desc;    /* SETDESC: which store/token, tries left */
	const char *prompt;  /* SETPROMPT, e.g. "PIN:" */
	const char *error;   /* SETERROR after a wrong try, or NULL */
	const char
	    *ttyname; /* OPTION ttyname (curses/tty pinentries), or NULL */
	unsigned int timeout_s; /* SETTIMEOUT, 0 = none */
	/*
	 * Optional: the question is abandoned (KMES_ERR_TIMEOUT) soon after
	 * *quit becomes non-zero, so a daemon that shuts down is not held by
	 * an open dialog.
	 */
	const atomic_int *quit;
};

/*
 * Runs the program, asks, and returns the PIN in kmes_secure_alloc memory
 * (NUL-terminated, *lenp bytes without the NUL). The wait is bounded by
 * timeout_s plus a short grace, or PINENTRY_WAIT_DEFAULT seconds. An empty
 * entry counts as a cancel: no store or token has an empty PIN, and trying
 * one would cost a try. Returns 0, KMES_ERR_DENIED if the user cancelled,
 * KMES_ERR_TIMEOUT if nobody answered in time, KMES_ERR_SYSTEM if the
 * program could not be run or could not show a dialog (the caller may fall
 * back to another way of asking), or another negative KMES_ERR_* when the
 * program broke the protocol.
 */
int pinentry_getpin(const struct pinentry_req *req, uint8_t **pinp,
    size_t *lenp) __attribute__((warn_unused_result));

/*
 * As pinentry_getpin, with a program already connected to fd (a stream
 * socket) instead of one it starts: req->program is not used, and fd
 * stays open. The seam the fuzzer drives; returns as pinentry_getpin.
 */
int pinentry_getpin_fd(int fd, const struct pinentry_req *req, uint8_t **pinp,
    size_t *lenp) __attribute__((warn_unused_result));

/* Returns the absolute path of "pinentry" on PATH (malloc'd), or NULL. */
char *pinentry_find(void);

/* Returns a static sentence saying why pinentry_getpin() failed with r. */
const char *pinentry_err(int r);

/*
 * Returns the dialog timeout in seconds that $KMES_PINENTRY_TIMEOUT asks
 * for (1..3600), or dflt when it is unset or invalid.
 */
unsigned int pinentry_timeout_env(unsigned int dflt);

#endif /* KMES_PINENTRY_H */
