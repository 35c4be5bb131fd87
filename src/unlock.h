/*
 * unlock.h: unlocking the embedded key store while the agent runs: with
 * the PIN from ssh-add -X, or, when a sign request needs a locked store
 * key, with a PIN asked for through a pinentry or SSH_ASKPASS.
 */
#ifndef KMES_UNLOCK_H
#define KMES_UNLOCK_H

#include <stddef.h>
#include <stdint.h>

struct request;

/* ssh-add -X with the store PIN: a rate-limited guess, refused from a
 * session-bound peer. Ends r with SUCCESS or FAILURE. */
void unlock_store_pin(struct request *r, const uint8_t *pin, size_t len);
/* r's signature needs the locked store: asks for the PIN, logs in, then
 * runs r->next(r); on failure or no way to ask, ends r with FAILURE. */
void unlock_ask_store_pin(struct request *r);

#endif /* KMES_UNLOCK_H */
