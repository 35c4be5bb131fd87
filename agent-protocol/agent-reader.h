/*
 * agent-reader.h: agent requests read off a byte stream one at a time, each
 * straight into memory fit for what it may carry.
 *
 * A request that may carry a private key, a PIN or a password (see
 * agent_reader_is_secret) is read into its own locked, no-dump, guarded
 * block, sized to its claimed length once its 5-byte header (length and
 * type) is in, and wiped and unmapped when it has been handled; no byte of
 * its body ever sits in ordinary heap, not even for a partial read. The
 * other requests share one ordinary buffer, wiped after each. The blocks
 * are mappings of their own (kmes_secure_alloc), never OpenSSL's secure
 * heap where the keys live; all readers together lock at most 1 MiB of
 * them, and blocks past that are guarded, no-dump and wiped but unlocked,
 * so stalled clients cannot use up what the agent may lock, nor get anyone
 * refused.
 *
 * The caller does the reading: agent_reader_space says where the next read
 * goes and how much it may take, agent_reader_got says how much came.
 * Reads never run past the end of the request being read, except by the
 * next request's header after a request with no secret (a client that
 * signs in a loop costs one read per request).
 */
#ifndef KMES_AGENT_READER_H
#define KMES_AGENT_READER_H

#include <stddef.h>
#include <stdint.h>

struct agent_reader;
struct kbuf;

/* Length prefix and type byte: what is read before the body's home is known. */
#define AGENT_READER_HDR 5

/* Returns a reader for requests of at most AGENT_MSG_MAX bytes, or NULL. */
struct agent_reader *agent_reader_new(void);
/*
 * Returns a reader for framed messages (u32 length, type byte, body) of at
 * most max bytes that carry no secret: every one goes to the ordinary
 * buffer whatever its type (the PKCS#11 helpers' replies). NULL on error.
 */
struct agent_reader *agent_reader_new_plain(size_t max);

/* Wipes every buffered byte and frees r; accepts NULL. */
void agent_reader_free(struct agent_reader *r);

/* Returns 1 if requests of this type are read into secure memory. */
int agent_reader_is_secret(uint8_t type);

/*
 * Points *p at where the next read must go and sets *lenp to the most it
 * may take; *lenp is 0 while a whole request waits (agent_reader_message).
 * Returns 0 or a negative KMES_ERR_*.
 */
int agent_reader_space(struct agent_reader *r, uint8_t **p, size_t *lenp)
    __attribute__((warn_unused_result));

/*
 * Records that n bytes (at most the last space's length) were read there.
 * Returns 0, KMES_ERR_MESSAGE_TOO_LARGE or KMES_ERR_INVALID_FORMAT for a
 * length that claims more than AGENT_MSG_MAX or nothing at all (judged as
 * soon as its 4 bytes are in, before anything is allocated),
 * KMES_ERR_ALLOC, or KMES_ERR_INVALID_ARGUMENT for a count the space did
 * not offer.
 */
int agent_reader_got(struct agent_reader *r, size_t n)
    __attribute__((warn_unused_result));

/* Returns 1 if a whole request is waiting to be handled. */
int agent_reader_ready(const struct agent_reader *r);

/* Returns 1 if the request being read, or waiting, sits in secure memory. */
int agent_reader_in_secure(const struct agent_reader *r);

/*
 * Sets *msg to a read-only view of the waiting request (type byte first,
 * no copy), valid until agent_reader_consume. Returns 0 or
 * KMES_ERR_MESSAGE_INCOMPLETE.
 */
int agent_reader_message(struct agent_reader *r, struct kbuf **msg)
    __attribute__((warn_unused_result));

/*
 * Wipes the handled request (unmapping its secure block) and moves on to
 * the next, whose header may already be in. Returns 0, or an error of
 * agent_reader_got for that header.
 */
int agent_reader_consume(struct agent_reader *r)
    __attribute__((warn_unused_result));

/*
 * The one receive loop for every framed stream the agent reads: reads from
 * the non-blocking socket fd until a whole message waits. Returns 0 (a
 * message waits: agent_reader_message, then agent_reader_consume),
 * KMES_ERR_MESSAGE_INCOMPLETE when the socket has nothing more for now,
 * KMES_ERR_CONNECTION_CLOSED at end of stream or on a socket error, or an
 * error of agent_reader_got (a hostile length).
 */
int agent_reader_recv(struct agent_reader *r, int fd)
    __attribute__((warn_unused_result));

#endif /* KMES_AGENT_READER_H */
