/*
 * test-agent-reader.c: the agent's request reader puts every byte of a
 * request that may carry a key, PIN or password in locked, no-dump memory
 * from the first read on, never reads past a request into the wrong kind
 * of memory, wipes what it has handled, and refuses hostile headers before
 * allocating. Where bytes land is checked against the kernel's own view of
 * the mapping (/proc/self/smaps VmFlags), not against the reader's word.
 */
#include <sys/mman.h>
#include <sys/socket.h>

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent-msg.h"
#include "agent-reader.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "secmem.h"
#include "testutil.h"

/* One request on the wire: length, type, body of n bytes of pattern. */
struct req {
	uint8_t type;
	size_t n;
	uint8_t fill;
};

static size_t
put_req(uint8_t *out, const struct req *q)
{
	uint32_t len = (uint32_t)(q->n + 1);
	size_t i;

	out[0] = (uint8_t)(len >> 24);
	out[1] = (uint8_t)(len >> 16);
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
	out[4] = q->type;
	for (i = 0; i < q->n; i++)
		out[5 + i] = (uint8_t)(q->fill + i * 7);
	return 5 + q->n;
}

/* The VmFlags of the mapping holding address p ("" if none, NULL: error). */
static char *
vmflags_of(const void *p)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512], *flags = NULL;
	unsigned long lo, hi, a = (unsigned long)p;
	int in = 0;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		/* A mapping's first line; its fields start "Name:". */
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			in = a >= lo && a < hi;
			continue;
		}
		if (in && strncmp(line, "VmFlags:", 8) == 0) {
			flags = strdup(line + 8);
			break;
		}
	}
	fclose(f);
	return flags != NULL ? flags : strdup("");
}

static int
has_flag(const char *flags, const char *f)
{
	size_t n = strlen(f);
	const char *s;

	for (s = flags; (s = strstr(s, f)) != NULL; s += n) {
		if ((s == flags || s[-1] == ' ') &&
		    (s[n] == ' ' || s[n] == '\n' || s[n] == '\0'))
			return 1;
	}
	return 0;
}

/* Whether the page holding p is excluded from core dumps (VmFlags dd). */
static int
vmflags_dd(const void *p)
{
	char *f = vmflags_of(p);
	int ok = has_flag(f, "dd");

	free(f);
	return ok;
}

/*
 * Whether mlock takes effect here: a sanitizer's runtime makes it a no-op
 * that reports success, and then only "no-dump" can be checked.
 */
static int
mlock_works(void)
{
	static int works = -1;
	long ps = sysconf(_SC_PAGESIZE);
	void *pg;
	char *f;

	if (works != -1)
		return works;
	pg = mmap(NULL, (size_t)ps, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert(pg != MAP_FAILED);
	works = 0;
	if (mlock(pg, (size_t)ps) == 0) {
		f = vmflags_of(pg);
		works = has_flag(f, "lo");
		free(f);
	}
	munmap(pg, (size_t)ps);
	return works;
}

/*
 * Whether [p, p + n) lies in memory that is excluded from core dumps and
 * locked (unless mlock was refused, which secmem counts, or is a no-op).
 */
static int
in_secure_mapping(const void *p, size_t n)
{
	char *a = vmflags_of(p), *b = vmflags_of((const uint8_t *)p + n - 1);
	int ok = has_flag(a, "dd") && has_flag(b, "dd") &&
	    (kmes_secure_lock_failures() != 0 || !mlock_works() ||
		(has_flag(a, "lo") && has_flag(b, "lo")));

	free(a);
	free(b);
	return ok;
}

/*
 * Feeds the stream to r in reads of at most chunk bytes, taking what each
 * space offers as a socket would, and hands every whole request to check.
 * Records, for each byte of the stream marked in want_secure, whether it
 * was written into secure memory (secure[i] 1 or 0); others stay 2.
 */
static void
feed(struct agent_reader *r, const uint8_t *s, size_t len, size_t chunk,
    void (*check)(struct kbuf *, size_t, int, void *), void *arg,
    const uint8_t *want_secure, uint8_t *secure)
{
	size_t off = 0, want, n, nmsg = 0;
	struct kbuf *msg;
	uint8_t *p;

	memset(secure, 2, len);
	while (off < len || agent_reader_ready(r)) {
		ck_assert_int_eq(agent_reader_space(r, &p, &want), 0);
		if (want == 0) {
			ck_assert_int_eq(agent_reader_message(r, &msg), 0);
			check(msg, nmsg++, agent_reader_in_secure(r), arg);
			kbuf_free(msg);
			ck_assert_int_eq(agent_reader_consume(r), 0);
			continue;
		}
		n = want;
		if (n > chunk)
			n = chunk;
		if (n > len - off)
			n = len - off;
		memcpy(p, s + off, n);
		/* Asking the kernel is slow: only for the bytes checked. */
		if (memchr(want_secure + off, 1, n) != NULL)
			memset(secure + off, in_secure_mapping(p, n) ? 1 : 0,
			    n);
		ck_assert_int_eq(agent_reader_got(r, n), 0);
		off += n;
	}
}

/* The requests of one stream, as check() expects them in turn. */
struct expect {
	const struct req *q;
	size_t nq;
	const uint8_t *wire;
	size_t *start; /* each request's offset in the stream */
};

static void
check_req(struct kbuf *msg, size_t i, int secure, void *arg)
{
	const struct expect *e = arg;
	const struct req *q;

	ck_assert_uint_lt(i, e->nq);
	q = &e->q[i];
	ck_assert_uint_eq(kbuf_len(msg), q->n + 1);
	ck_assert(
	    memcmp(kbuf_ptr(msg), e->wire + e->start[i] + 4, q->n + 1) == 0);
	ck_assert_int_eq(secure, agent_reader_is_secret(q->type));
	if (secure)
		ck_assert(in_secure_mapping(kbuf_ptr(msg), q->n + 1));
}

/*
 * A key list, a key to add (the secret), a signature, a lock password
 * and a removal, back to back: what a pipelining client could send.
 */
static const struct req stream_reqs[] = {
	{ SSH_AGENTC_REQUEST_IDENTITIES, 0, 0 },
	{ SSH_AGENTC_ADD_IDENTITY, 600, 0x11 },
	{ SSH_AGENTC_SIGN_REQUEST, 700, 0x22 },
	{ SSH_AGENTC_LOCK, 12, 0x33 },
	{ SSH_AGENTC_REMOVE_ALL_IDENTITIES, 0, 0 },
};
#define NREQS (sizeof(stream_reqs) / sizeof(stream_reqs[0]))

static uint8_t *
make_stream(size_t *lenp, size_t *start)
{
	uint8_t *w = malloc(8192);
	size_t i, off = 0;

	ck_assert_ptr_nonnull(w);
	for (i = 0; i < NREQS; i++) {
		start[i] = off;
		off += put_req(w + off, &stream_reqs[i]);
	}
	*lenp = off;
	return w;
}

START_TEST(test_secret_requests_never_touch_ordinary_memory)
{
	size_t start[NREQS], len, chunk, i, j;
	uint8_t *w = make_stream(&len, start), *sec = malloc(len);
	uint8_t *body = calloc(1, len);
	struct expect e = { stream_reqs, NREQS, w, start };
	struct agent_reader *r;
	size_t c;

	ck_assert_ptr_nonnull(sec);
	ck_assert_ptr_nonnull(body);
	for (i = 0; i < NREQS; i++) {
		if (agent_reader_is_secret(stream_reqs[i].type))
			memset(body + start[i] + 5, 1, stream_reqs[i].n);
	}
	/* Read sizes from a byte at a time to all at once: each cuts the
	 * stream at other places (every cut of each header among them). */
	for (c = 0; c < 12; c++) {
		chunk = c < 8 ? c + 1 :
		    c == 8    ? 13 :
		    c == 9    ? 97 :
		    c == 10   ? 1000 :
				len;
		ck_assert_ptr_nonnull(r = agent_reader_new());
		feed(r, w, len, chunk, check_req, &e, body, sec);
		/* Each body byte of a secret request, however the reads
		 * fell, went straight into secure memory. */
		for (j = 0; j < len; j++)
			ck_assert_msg(!body[j] || sec[j] == 1,
			    "chunk %zu: "
			    "byte %zu of the stream read into plain memory",
			    chunk, j);
		agent_reader_free(r);
	}
	free(body);
	free(sec);
	free(w);
}
END_TEST

/* Remembers where the secret request sat and what its first bytes were. */
struct seen {
	const uint8_t *plain;
	const uint8_t *secret;
	size_t plain_len;
};

START_TEST(test_a_handled_request_is_wiped_and_a_secret_one_unmapped)
{
	static const struct req sign = { SSH_AGENTC_SIGN_REQUEST, 300, 0x5a };
	static const struct req add = { SSH_AGENTC_ADD_ID_CONSTRAINED, 5000,
		0x6b };
	uint8_t w[6000], *p, vec;
	struct agent_reader *r = agent_reader_new();
	struct kbuf *msg;
	size_t len, want, n, i;
	const uint8_t *at;
	long ps = sysconf(_SC_PAGESIZE);

	ck_assert_ptr_nonnull(r);
	len = put_req(w, &sign);
	len += put_req(w + len, &add);
	/* Everything the reader asks for, until the add is whole. */
	for (n = 0; n < len; n += want) {
		ck_assert_int_eq(agent_reader_space(r, &p, &want), 0);
		if (want == 0) {
			ck_assert_int_eq(agent_reader_message(r, &msg), 0);
			at = kbuf_ptr(msg);
			ck_assert_int_eq(agent_reader_in_secure(r), 0);
			kbuf_free(msg);
			ck_assert_int_eq(agent_reader_consume(r), 0);
			/* The ordinary buffer stays: it must read as zeros. */
			for (i = 0; i < sign.n + 1; i++)
				ck_assert_uint_eq(at[i], 0);
			continue;
		}
		if (want > len - n)
			want = len - n;
		memcpy(p, w + n, want);
		ck_assert_int_eq(agent_reader_got(r, want), 0);
	}
	ck_assert(agent_reader_ready(r));
	ck_assert_int_eq(agent_reader_in_secure(r), 1);
	ck_assert_int_eq(agent_reader_message(r, &msg), 0);
	at = kbuf_ptr(msg);
	ck_assert(in_secure_mapping(at, add.n + 1));
	ck_assert(memcmp(at, w + 5 + sign.n + 4, add.n + 1) == 0);
	kbuf_free(msg);
	ck_assert_int_eq(agent_reader_consume(r), 0);
	/* Unmapped: mincore refuses a range that is no longer mapped. */
	errno = 0;
	ck_assert_int_eq(mincore((void *)((uintptr_t)at & ~(uintptr_t)(ps - 1)),
			     1, &vec),
	    -1);
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert(!agent_reader_ready(r));
	agent_reader_free(r);
}
END_TEST

START_TEST(test_reads_stop_at_the_end_of_each_request)
{
	static const struct req sign = { SSH_AGENTC_SIGN_REQUEST, 100, 1 };
	static const struct req add = { SSH_AGENTC_ADD_IDENTITY, 100, 2 };
	struct agent_reader *r = agent_reader_new();
	uint8_t w[300], *p;
	size_t want;

	ck_assert_ptr_nonnull(r);
	put_req(w, &sign);
	/* The header first: its type decides where the body goes. */
	ck_assert_int_eq(agent_reader_space(r, &p, &want), 0);
	ck_assert_uint_eq(want, AGENT_READER_HDR);
	memcpy(p, w, want);
	ck_assert_int_eq(agent_reader_got(r, want), 0);
	/* A request with no secret: its body and no more than the next
	 * header, whose type is not known yet. */
	ck_assert_int_eq(agent_reader_space(r, &p, &want), 0);
	ck_assert_uint_eq(want, sign.n + AGENT_READER_HDR);
	memcpy(p, w + 5, sign.n);
	put_req(w, &add);
	memcpy(p + sign.n, w, AGENT_READER_HDR);
	ck_assert_int_eq(agent_reader_got(r, want), 0);
	ck_assert(agent_reader_ready(r));
	ck_assert_int_eq(agent_reader_consume(r), 0);
	/* The add's header came with it: its body, exactly, and no more. */
	ck_assert_int_eq(agent_reader_in_secure(r), 1);
	ck_assert_int_eq(agent_reader_space(r, &p, &want), 0);
	ck_assert_uint_eq(want, add.n);
	ck_assert(in_secure_mapping(p, want));
	/* An offer not taken is given back; one over it is refused. */
	ck_assert_int_eq(agent_reader_space(r, &p, &want), 0);
	ck_assert_uint_eq(want, add.n);
	ck_assert_int_eq(agent_reader_got(r, want + 1),
	    KMES_ERR_INVALID_ARGUMENT);
	agent_reader_free(r);
}
END_TEST

/* Feeds one 5-byte header; returns what agent_reader_got says. */
static int
feed_header(struct agent_reader *r, uint32_t len, uint8_t type)
{
	uint8_t h[5] = { len >> 24, len >> 16, len >> 8, len, type }, *p;
	size_t want;

	ck_assert_int_eq(agent_reader_space(r, &p, &want), 0);
	ck_assert_uint_eq(want, sizeof(h));
	memcpy(p, h, sizeof(h));
	return agent_reader_got(r, sizeof(h));
}

START_TEST(test_hostile_headers_are_refused_before_allocating)
{
	struct agent_reader *r;
	uint8_t *p;
	size_t want;

	/* A peer may claim 4 GiB and stop: judged on the length alone. */
	ck_assert_ptr_nonnull(r = agent_reader_new());
	ck_assert_int_eq(agent_reader_space(r, &p, &want), 0);
	memset(p, 0xff, 4);
	ck_assert_int_eq(agent_reader_got(r, 4), KMES_ERR_MESSAGE_TOO_LARGE);
	agent_reader_free(r);
	/* Or claim 4 GiB of key: judged before any allocation. */
	ck_assert_ptr_nonnull(r = agent_reader_new());
	ck_assert_int_eq(feed_header(r, 0xffffffffU, SSH_AGENTC_ADD_IDENTITY),
	    KMES_ERR_MESSAGE_TOO_LARGE);
	ck_assert_int_eq(agent_reader_in_secure(r), 0);
	agent_reader_free(r);
	ck_assert_ptr_nonnull(r = agent_reader_new());
	ck_assert_int_eq(feed_header(r, AGENT_MSG_MAX + 1,
			     SSH_AGENTC_SIGN_REQUEST),
	    KMES_ERR_MESSAGE_TOO_LARGE);
	agent_reader_free(r);
	ck_assert_ptr_nonnull(r = agent_reader_new());
	ck_assert_int_eq(feed_header(r, 0, SSH_AGENTC_LOCK),
	    KMES_ERR_INVALID_FORMAT);
	agent_reader_free(r);
	/* The largest request is fine, and asks for exactly its body. */
	ck_assert_ptr_nonnull(r = agent_reader_new());
	ck_assert_int_eq(feed_header(r, AGENT_MSG_MAX,
			     SSH_AGENTC_ADD_ID_CONSTRAINED),
	    0);
	ck_assert_int_eq(agent_reader_space(r, &p, &want), 0);
	ck_assert_uint_eq(want, AGENT_MSG_MAX - 1);
	ck_assert(in_secure_mapping(p, want));
	agent_reader_free(r);
}
END_TEST

/* Whether the page holding p is locked in memory (VmFlags lo). */
static int
locked(const void *p)
{
	char *f = vmflags_of(p);
	int ok = has_flag(f, "lo");

	free(f);
	return ok;
}

/*
 * Many connections that each stop in the middle of a maximal secret
 * request get their memory, but only 1 MiB of it locked in all: the rest
 * is no-dump and wiped but cannot use up what the agent may lock for its
 * own secrets. Nobody is refused, and budget comes back when a request goes.
 */
START_TEST(test_stalled_requests_share_a_bounded_locked_budget)
{
	struct agent_reader *r[6];
	uint8_t *p[6];
	size_t want, i;

	for (i = 0; i < 6; i++) {
		ck_assert_ptr_nonnull(r[i] = agent_reader_new());
		ck_assert_int_eq(feed_header(r[i], AGENT_MSG_MAX,
				     SSH_AGENTC_ADD_IDENTITY),
		    0);
		ck_assert_int_eq(agent_reader_space(r[i], &p[i], &want), 0);
		ck_assert_uint_eq(want, AGENT_MSG_MAX - 1);
	}
	if (kmes_secure_lock_failures() == 0 && mlock_works()) {
		for (i = 0; i < 4; i++)
			ck_assert(locked(p[i]));
	}
	for (i = 4; i < 6; i++) {
		ck_assert(!locked(p[i]));
		ck_assert(vmflags_dd(p[i]));
	}
	/* One stalled client leaves: the next request is locked again. */
	agent_reader_free(r[0]);
	ck_assert_ptr_nonnull(r[0] = agent_reader_new());
	ck_assert_int_eq(feed_header(r[0], 1000, SSH_AGENTC_LOCK), 0);
	ck_assert_int_eq(agent_reader_space(r[0], &p[0], &want), 0);
	ck_assert(in_secure_mapping(p[0], want));
	for (i = 0; i < 6; i++)
		agent_reader_free(r[i]);
}
END_TEST

/* Writes a frame of type t with a body of len bytes of b to fd. */
static void
write_frame(int fd, uint8_t t, size_t len, uint8_t b)
{
	uint8_t *m = malloc(5 + len);

	ck_assert_ptr_nonnull(m);
	m[0] = (uint8_t)((len + 1) >> 24);
	m[1] = (uint8_t)((len + 1) >> 16);
	m[2] = (uint8_t)((len + 1) >> 8);
	m[3] = (uint8_t)(len + 1);
	m[4] = t;
	memset(m + 5, b, len);
	ck_assert_int_eq(write(fd, m, 5 + len), (ssize_t)(5 + len));
	free(m);
}

START_TEST(test_recv_hands_over_whole_frames_and_sees_the_end)
{
	struct agent_reader *r = agent_reader_new();
	struct kbuf *msg;
	int sv[2];

	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
			     sv),
	    0);
	/* Nothing sent: the socket would block. */
	ck_assert_int_eq(agent_reader_recv(r, sv[0]),
	    KMES_ERR_MESSAGE_INCOMPLETE);
	/* Half a header, then the rest and a second frame in one write. */
	ck_assert_int_eq(write(sv[1], "\0\0", 2), 2);
	ck_assert_int_eq(agent_reader_recv(r, sv[0]),
	    KMES_ERR_MESSAGE_INCOMPLETE);
	ck_assert_int_eq(write(sv[1], "\0\1\x0b", 3), 3);
	write_frame(sv[1], SSH_AGENTC_REQUEST_IDENTITIES, 0, 0);
	ck_assert_int_eq(agent_reader_recv(r, sv[0]), 0);
	ck_assert_int_eq(agent_reader_message(r, &msg), 0);
	ck_assert_uint_eq(kbuf_len(msg), 1);
	ck_assert_uint_eq(kbuf_ptr(msg)[0], SSH_AGENTC_REQUEST_IDENTITIES);
	kbuf_free(msg);
	ck_assert_int_eq(agent_reader_consume(r), 0);
	ck_assert_int_eq(agent_reader_recv(r, sv[0]), 0);
	ck_assert_int_eq(agent_reader_consume(r), 0);
	/* The peer goes: the end of the stream is said, not waited for. */
	close(sv[1]);
	ck_assert_int_eq(agent_reader_recv(r, sv[0]),
	    KMES_ERR_CONNECTION_CLOSED);
	close(sv[0]);
	agent_reader_free(r);
}
END_TEST

START_TEST(test_a_plain_reader_takes_its_own_limit_and_no_secret)
{
	/* The PKCS#11 helpers' replies: up to 512 KiB, nothing secret. */
	struct agent_reader *r = agent_reader_new_plain(512 * 1024);
	struct kbuf *msg;
	uint8_t *frame;
	size_t big, off;
	ssize_t n;
	int sv[2];

	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_null(agent_reader_new_plain(0));
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
			     sv),
	    0);
	/* Longer than any agent request, within the plain reader's limit;
	 * type 17 (ADD_IDENTITY) would go to secure memory in an agent
	 * reader, and does not here. The socket holds less: read as it
	 * fills, as a loop would. */
	big = 5 + 300 * 1024;
	ck_assert_ptr_nonnull(frame = malloc(big));
	memset(frame, 0x5a, big);
	frame[0] = 0;
	frame[1] = (uint8_t)((big - 4) >> 16);
	frame[2] = (uint8_t)((big - 4) >> 8);
	frame[3] = (uint8_t)(big - 4);
	frame[4] = SSH_AGENTC_ADD_IDENTITY;
	for (off = 0; off < big; off += (size_t)n) {
		n = write(sv[1], frame + off, big - off);
		if (n < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			ck_assert_int_eq(agent_reader_recv(r, sv[0]),
			    KMES_ERR_MESSAGE_INCOMPLETE);
			n = 0;
		}
	}
	free(frame);
	ck_assert_int_eq(agent_reader_recv(r, sv[0]), 0);
	ck_assert_int_eq(agent_reader_in_secure(r), 0);
	ck_assert_int_eq(agent_reader_message(r, &msg), 0);
	ck_assert_uint_eq(kbuf_len(msg), 1 + 300 * 1024);
	kbuf_free(msg);
	ck_assert_int_eq(agent_reader_consume(r), 0);
	/* One byte past the limit is refused at the header. */
	ck_assert_int_eq(write(sv[1], "\0\x08\0\x01", 4), 4);
	ck_assert_int_eq(agent_reader_recv(r, sv[0]),
	    KMES_ERR_MESSAGE_TOO_LARGE);
	close(sv[0]);
	close(sv[1]);
	agent_reader_free(r);
}
END_TEST

START_TEST(test_only_requests_known_to_be_harmless_are_plain)
{
	unsigned int t, plain = 0;

	for (t = 0; t < 256; t++)
		plain += !agent_reader_is_secret((uint8_t)t);
	/* Key list, sign, removals, and SSH1's public-only requests. */
	ck_assert_uint_eq(plain, 8);
	ck_assert(agent_reader_is_secret(SSH_AGENTC_ADD_IDENTITY));
	ck_assert(agent_reader_is_secret(SSH_AGENTC_ADD_ID_CONSTRAINED));
	ck_assert(agent_reader_is_secret(SSH_AGENTC_ADD_RSA_IDENTITY));
	ck_assert(agent_reader_is_secret(SSH_AGENTC_ADD_RSA_ID_CONSTRAINED));
	ck_assert(agent_reader_is_secret(SSH_AGENTC_ADD_SMARTCARD_KEY));
	ck_assert(
	    agent_reader_is_secret(SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED));
	ck_assert(agent_reader_is_secret(SSH_AGENTC_REMOVE_SMARTCARD_KEY));
	ck_assert(agent_reader_is_secret(SSH_AGENTC_LOCK));
	ck_assert(agent_reader_is_secret(SSH_AGENTC_UNLOCK));
	ck_assert(agent_reader_is_secret(SSH_AGENTC_EXTENSION));
	ck_assert(!agent_reader_is_secret(SSH_AGENTC_SIGN_REQUEST));
}
END_TEST

static Suite *
reader_suite(void)
{
	Suite *s = suite_create("agent-reader");
	TCase *tc = tcase_create("reader");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_secret_requests_never_touch_ordinary_memory);
	tcase_add_test(tc,
	    test_a_handled_request_is_wiped_and_a_secret_one_unmapped);
	tcase_add_test(tc, test_reads_stop_at_the_end_of_each_request);
	tcase_add_test(tc, test_hostile_headers_are_refused_before_allocating);
	tcase_add_test(tc, test_stalled_requests_share_a_bounded_locked_budget);
	tcase_add_test(tc, test_only_requests_known_to_be_harmless_are_plain);
	tcase_add_test(tc, test_recv_hands_over_whole_frames_and_sees_the_end);
	tcase_add_test(tc,
	    test_a_plain_reader_takes_its_own_limit_and_no_secret);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(reader_suite());
}
