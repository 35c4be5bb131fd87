/*
 * astore.h: the embedded key store's keys as the agent's identities.
 */
#ifndef KMES_ASTORE_H
#define KMES_ASTORE_H

#include <stddef.h>
#include <stdint.h>

struct agent;

/* Opens the store at path and lists its public keys. Returns 0 or KMES_ERR_*. */
int astore_open(struct agent *a, const char *path);
void astore_close(struct agent *a);
const char *astore_label(struct agent *a);
/* PIN tries left before the store blocks; -1 if unknown right now. */
int astore_tries_left(struct agent *a);
/* Returns 1 if a store is served and its private keys are not loaded. */
int astore_locked(struct agent *a);
/* Logs in with the PIN and loads the private keys. Returns 0 or KMES_ERR_*. */
int astore_login(struct agent *a, const uint8_t *pin, size_t len,
    unsigned int *tries_left);
/* Wipes the store's private keys (keeps the public ones listed). */
void astore_lock(struct agent *a);
/* Re-reads the store file if it changed on disk. */
void astore_sync(struct agent *a);

#endif /* KMES_ASTORE_H */
