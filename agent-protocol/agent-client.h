/*
 * agent-client.h: a small blocking agent client, for the tests, the
 * benchmark and kmes-keytool. Not used by the daemon.
 */
#ifndef KMES_AGENT_CLIENT_H
#define KMES_AGENT_CLIENT_H

#include <stddef.h>
#include <stdint.h>

struct kbuf;
struct agent_client;

struct agent_identity {
	uint8_t *blob;
	size_t blob_len;
	char *comment;
};

/*
 * Connects to the agent socket at path (NULL: $SSH_AUTH_SOCK).
 * Returns 0 or a negative KMES_ERR_*.
 */
int agent_client_connect(const char *path, struct agent_client **acp)
    __attribute__((warn_unused_result));

/* Closes and frees; accepts NULL. */
void agent_client_free(struct agent_client *ac);

/* Returns the connected socket descriptor. */
int agent_client_fd(const struct agent_client *ac);

/*
 * Sends req as one framed message and reads one framed reply body into
 * reply (reset first). Returns 0 or a negative KMES_ERR_*.
 */
int agent_client_request(struct agent_client *ac, const struct kbuf *req,
    struct kbuf *reply) __attribute__((warn_unused_result));

/*
 * Sends req and expects SSH_AGENT_SUCCESS. Returns 0,
 * KMES_ERR_AGENT_FAILURE on FAILURE, or another negative KMES_ERR_*.
 */
int agent_client_simple(struct agent_client *ac, const struct kbuf *req)
    __attribute__((warn_unused_result));

/* Lists identities. Returns 0 or a negative KMES_ERR_*. */
int agent_client_list(struct agent_client *ac, struct agent_identity **idsp,
    size_t *nidsp) __attribute__((warn_unused_result));

/* Frees an identity list from agent_client_list; accepts NULL. */
void agent_identities_free(struct agent_identity *ids, size_t nids);

/*
 * Asks for a signature of data by the key with blob; the SSH signature
 * blob is returned malloc'd in *sigp. Returns 0 or a negative KMES_ERR_*.
 */
int agent_client_sign(struct agent_client *ac, const uint8_t *blob,
    size_t blob_len, const uint8_t *data, size_t dlen, uint32_t flags,
    uint8_t **sigp, size_t *siglenp) __attribute__((warn_unused_result));

#endif /* KMES_AGENT_CLIENT_H */
