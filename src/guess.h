/*
 * guess.h: where a client's guess at a secret meets the global limiter
 * (ratelimit.c): the lock password, a store PIN, a token PIN.
 */
#ifndef KMES_GUESS_H
#define KMES_GUESS_H

#include <stdint.h>

struct agent;
struct peer;
struct ratelimit;

/* Returns the daemon's limiter, or NULL when out of memory. */
struct ratelimit *guess_limiter_new(void);
/* Returns 1 (after a log and audit line) if p may have come over ssh -A
 * and so may not log in to the store or a token with a PIN it sends. */
int guess_refuse_remote(const struct peer *p, const char *target);
/* Admits a guess at target ("agent", "keystore", "token") from p. Returns
 * 0 (then call guess_done once) or KMES_ERR_DENIED, logged and audited. */
int guess_admit(struct agent *a, const struct peer *p, const char *target)
    __attribute__((warn_unused_result));
/* Ends an admitted guess with the check's result (0 or KMES_ERR_*).
 * Returns the ms until the next guess may be admitted (0 if none wait). */
uint64_t guess_done(struct agent *a, int r);

#endif /* KMES_GUESS_H */
