/*
 * hostile.h: shared state and helpers of the hostile-client test.
 */
#ifndef KMES_HOSTILE_H
#define KMES_HOSTILE_H

#include <stddef.h>
#include <stdint.h>

#include "harness.h"

struct kbuf;
struct ks_key;

struct hostile {
	struct h_agent agent;
	struct ks_key *key; /* the Ed25519 key loaded into the agent */
	const uint8_t *blob;
	size_t blob_len;
};

/* Appends a SIGN_REQUEST body. Returns 0 or a negative KMES_ERR_*. */
int put_sign_request(struct kbuf *b, const uint8_t *blob, size_t blob_len,
    const uint8_t *data, size_t dlen, uint32_t flags);

/*
 * Checks that reply is a SIGN_RESPONSE holding a valid signature by k over
 * data. Returns 0 or a negative KMES_ERR_*.
 */
int check_sign_reply(struct kbuf *reply, const struct ks_key *k,
    const uint8_t *data, size_t dlen);

/* Appends an ADD_IDENTITY body. Returns 0 or a negative KMES_ERR_*. */
int put_add_identity(struct kbuf *b, const struct ks_key *k,
    const char *comment);

/* Returns 1 if reply is exactly SSH_AGENT_FAILURE, else 0. */
int is_failure(const struct kbuf *reply);

/*
 * Lists and signs over fd (one request each); returns 1 if the list shows
 * h->key and the signature verifies, else 0 with a diagnostic.
 */
int list_and_sign(struct hostile *h, int fd);

/* Signs fresh data over fd; returns 1 if the signature verifies, else 0. */
int sign_ok(struct hostile *h, int fd);

/* As list_and_sign over a fresh connection, after checking the process. */
int agent_serves(struct hostile *h);

/*
 * Closes fd (unless -1) and connects afresh; bails out if the agent no
 * longer accepts connections.
 */
int reconnect(struct hostile *h, int fd);

/* Deterministic generator for test input. */
uint64_t rng_next(uint64_t *s);
void rng_fill(uint64_t *s, uint8_t *p, size_t len);

/* hostile-random.c: noise and mutated requests. */
void check_random_frames(struct hostile *h);

/* hostile-load.c: many, slow and greedy clients. */
void check_idle_connections(struct hostile *h);
void check_slow_writer(struct hostile *h);
void check_pipelining(struct hostile *h);

#endif /* KMES_HOSTILE_H */
