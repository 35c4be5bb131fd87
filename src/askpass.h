/*
 * askpass.h: asking the user through SSH_ASKPASS for a request, as
 * ssh-agent does, without blocking the loop: a yes/no before a confirm key
 * signs, or a PIN.
 */
#ifndef KMES_ASKPASS_H
#define KMES_ASKPASS_H

#include <stddef.h>
#include <stdint.h>

struct request;

enum askpass_kind {
	ASKPASS_CONFIRM, /* yes/no: empty or "yes" allows */
	ASKPASS_SECRET,	 /* a PIN: any non-empty line */
};

/* Called on r's loop with the outcome; answer is wiped after it returns.
 * It must end r or hand it on. */
typedef void (*askpass_done_fn)(struct request *r, int ok,
    const uint8_t *answer, size_t len);

/* Starts askpass for r (which then waits; the dialog is killed if the
 * client leaves). Returns 0 or KMES_ERR_* (then nothing runs). */
int askpass_start(struct request *r, enum askpass_kind kind, const char *prompt,
    askpass_done_fn done);

#endif /* KMES_ASKPASS_H */
