/*
 * agent-reader.c: agent requests off a stream, each read into memory fit
 * for what it may carry (see agent-reader.h).
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "agent-msg.h"
#include "agent-reader.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "secmem.h"

/*
 * Locked memory all readers together may hold for secret requests in
 * flight. Real ones are a few KiB and handled as soon as they are in;
 * past this, a client that opens many connections and stops mid-request
 * gets blocks that are still guarded, no-dump and wiped but not locked, so
 * it can neither use up the RLIMIT_MEMLOCK that the agent's other secrets
 * need nor make the agent refuse anyone's request.
 */
#define READER_LOCKED_MAX (1024 * 1024)

static atomic_size_t locked_in_use;

struct agent_reader {
	uint8_t hdr[AGENT_READER_HDR];
	size_t hlen;	     /* header bytes in; < HDR while cur is NULL */
	struct kbuf *plain;  /* requests with no secret, one at a time */
	struct kbuf *secret; /* the request being read, if it may have one */
	struct kbuf *cur;    /* plain or secret; NULL while reading a header */
	size_t msglen;	     /* the current request's length */
	size_t need;	     /* bytes of it still to come */
	size_t ahead;	     /* next header bytes read after it (plain only) */
	size_t offered;	     /* bytes reserved by the last agent_reader_space */
	size_t locked;	     /* what secret's block counts against the budget */
	size_t max;	     /* longest message accepted */
	int classify;	     /* secret-bearing types go to secure memory */
};

/* Takes len bytes of the locked budget if they are free; 1 if taken. */
static int
budget_take(size_t len)
{
	size_t used = atomic_load(&locked_in_use);

	do {
		if (len > READER_LOCKED_MAX || used > READER_LOCKED_MAX - len)
			return 0;
	} while (
	    !atomic_compare_exchange_weak(&locked_in_use, &used, used + len));
	return 1;
}

/* Frees the secret request's block and gives back its budget. */
static void
drop_secret(struct agent_reader *r)
{
	kbuf_free(r->secret);
	r->secret = NULL;
	atomic_fetch_sub(&locked_in_use, r->locked);
	r->locked = 0;
}

static struct agent_reader *
reader_new(size_t max, int classify)
{
	struct agent_reader *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->max = max;
	r->classify = classify;
	/* Room for one whole message and the next one's header. */
	if ((r->plain = kbuf_new()) == NULL ||
	    kbuf_set_max_size(r->plain, max + AGENT_READER_HDR) != 0) {
		agent_reader_free(r);
		return NULL;
	}
	return r;
}

struct agent_reader *
agent_reader_new(void)
{
	return reader_new(AGENT_MSG_MAX, 1);
}

struct agent_reader *
agent_reader_new_plain(size_t max)
{
	if (max == 0 || max > UINT32_MAX - AGENT_READER_HDR)
		return NULL;
	return reader_new(max, 0);
}

void
agent_reader_free(struct agent_reader *r)
{
	if (r == NULL)
		return;
	kbuf_free(r->plain);
	drop_secret(r);
	kmes_freezero(r, sizeof(*r));
}

int
agent_reader_is_secret(uint8_t type)
{
	/*
	 * Only requests known to carry nothing secret share the ordinary
	 * buffer; anything else, an unknown type included, might (a key to
	 * add, a PIN, a lock password, an extension's payload).
	 */
	switch (type) {
	case SSH_AGENTC_REQUEST_RSA_IDENTITIES:
	case SSH_AGENTC_RSA_CHALLENGE:
	case SSH_AGENTC_REMOVE_RSA_IDENTITY:
	case SSH_AGENTC_REMOVE_ALL_RSA_IDENTITIES:
	case SSH_AGENTC_REQUEST_IDENTITIES:
	case SSH_AGENTC_SIGN_REQUEST:
	case SSH_AGENTC_REMOVE_IDENTITY:
	case SSH_AGENTC_REMOVE_ALL_IDENTITIES:
		return 0;
	default:
		return 1;
	}
}

/*
 * The claimed length, judged as soon as its 4 bytes are in (a peer may
 * claim 4 GiB and send nothing more): 0 or a negative KMES_ERR_*.
 */
static int
header_len(const struct agent_reader *r, size_t *lenp)
{
	uint32_t len;

	len = (uint32_t)r->hdr[0] << 24 | (uint32_t)r->hdr[1] << 16 |
	    (uint32_t)r->hdr[2] << 8 | (uint32_t)r->hdr[3];
	if (len > r->max)
		return KMES_ERR_MESSAGE_TOO_LARGE;
	if (len == 0)
		return KMES_ERR_INVALID_FORMAT;
	*lenp = len;
	return 0;
}

/* A whole header is in: judge it, then give the body its home. */
static int
start_request(struct agent_reader *r)
{
	uint8_t type = r->hdr[4];
	size_t len;
	int r2;

	if ((r2 = header_len(r, &len)) != 0)
		return r2;
	if (r->classify && agent_reader_is_secret(type)) {
		if (budget_take(len)) {
			r->locked = len;
			r->secret = kbuf_new_secure(len);
		} else
			r->secret = kbuf_new_secure_unlocked(len);
		if (r->secret == NULL)
			return KMES_ERR_ALLOC;
		r->cur = r->secret;
	} else
		r->cur = r->plain;
	if ((r2 = kbuf_put_u8(r->cur, type)) != 0)
		return r2;
	r->msglen = len;
	r->need = len - 1;
	r->hlen = 0;
	kmes_wipe(r->hdr, sizeof(r->hdr));
	return 0;
}

int
agent_reader_space(struct agent_reader *r, uint8_t **p, size_t *lenp)
{
	size_t want;
	int r2;

	*p = NULL;
	*lenp = 0;
	/* An offer not taken up: give its room back (wiped). */
	if (r->offered != 0) {
		if ((r2 = kbuf_consume_end(r->cur, r->offered)) != 0)
			return r2;
		r->offered = 0;
	}
	if (r->cur == NULL) {
		*p = r->hdr + r->hlen;
		*lenp = sizeof(r->hdr) - r->hlen;
		return 0;
	}
	if (r->need == 0)
		return 0;
	/*
	 * Past the end of this request lie bytes of unknown kind: only the
	 * next header may be read with one that has no secret, and nothing
	 * with one that has.
	 */
	want = r->need;
	if (r->cur == r->plain)
		want += sizeof(r->hdr);
	if ((r2 = kbuf_reserve(r->cur, want, p)) != 0)
		return r2;
	r->offered = want;
	*lenp = want;
	return 0;
}

int
agent_reader_got(struct agent_reader *r, size_t n)
{
	int r2;

	if (r->cur == NULL) {
		if (n > sizeof(r->hdr) - r->hlen)
			return KMES_ERR_INVALID_ARGUMENT;
		r->hlen += n;
		if (r->hlen < 4)
			return 0;
		if (r->hlen < sizeof(r->hdr))
			return header_len(r, &n);
		return start_request(r);
	}
	if (n > r->offered)
		return KMES_ERR_INVALID_ARGUMENT;
	if ((r2 = kbuf_consume_end(r->cur, r->offered - n)) != 0)
		return r2;
	r->offered = 0;
	if (n > r->need) {
		r->ahead = n - r->need;
		r->need = 0;
	} else
		r->need -= n;
	return 0;
}

int
agent_reader_ready(const struct agent_reader *r)
{
	return r->cur != NULL && r->need == 0;
}

int
agent_reader_in_secure(const struct agent_reader *r)
{
	return r->cur != NULL && r->cur == r->secret;
}

int
agent_reader_message(struct agent_reader *r, struct kbuf **msg)
{
	*msg = NULL;
	if (!agent_reader_ready(r) || r->offered != 0)
		return KMES_ERR_MESSAGE_INCOMPLETE;
	if ((*msg = kbuf_from(kbuf_ptr(r->cur), r->msglen)) == NULL)
		return KMES_ERR_ALLOC;
	return 0;
}

int
agent_reader_consume(struct agent_reader *r)
{
	size_t n;

	if (!agent_reader_ready(r))
		return KMES_ERR_MESSAGE_INCOMPLETE;
	if (r->cur == r->secret) {
		/* Wiped and unmapped: it may have carried a private key. */
		drop_secret(r);
	} else {
		memcpy(r->hdr, kbuf_ptr(r->plain) + r->msglen, r->ahead);
		r->hlen = r->ahead;
		kbuf_reset(r->plain);
	}
	r->cur = NULL;
	r->msglen = r->need = r->ahead = 0;
	if (r->hlen < 4)
		return 0;
	if (r->hlen < sizeof(r->hdr))
		return header_len(r, &n);
	return start_request(r);
}

int
agent_reader_recv(struct agent_reader *r, int fd)
{
	uint8_t *p;
	size_t want;
	ssize_t n;
	int r2;

	for (;;) {
		if ((r2 = agent_reader_space(r, &p, &want)) != 0)
			return r2;
		if (want == 0)
			return 0; /* a whole message waits */
		n = recv(fd, p, want, MSG_DONTWAIT);
		if ((r2 = agent_reader_got(r, n > 0 ? (size_t)n : 0)) != 0)
			return r2;
		if (n == 0)
			return KMES_ERR_CONNECTION_CLOSED;
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return KMES_ERR_MESSAGE_INCOMPLETE;
			return KMES_ERR_CONNECTION_CLOSED;
		}
		/* A short read drained the socket: no need to ask again. */
		if ((size_t)n < want && !agent_reader_ready(r))
			return KMES_ERR_MESSAGE_INCOMPLETE;
	}
}
