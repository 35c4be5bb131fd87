/*
 * lock.h: ssh-add -x / -X: locking the agent with a password (its hash
 * made on the KDF pool), and the check every request makes.
 */
#ifndef KMES_LOCK_H
#define KMES_LOCK_H

#include <stddef.h>
#include <stdint.h>

struct agent;
struct request;

/* Returns 1 if the agent is locked with ssh-add -x. */
int lock_is_locked(struct agent *a);
/* LOCK (lock 1) or UNLOCK with pw; ends r with SUCCESS or FAILURE. An
 * UNLOCK is a guess at the global rate. */
void lock_request(struct request *r, const uint8_t *pw, size_t len, int lock);

#endif /* KMES_LOCK_H */
