/*
 * hostile-load.c: clients that hurt by being many, slow or greedy rather
 * than malformed: idle connections, a writer trickling one byte at a time,
 * and clients that pipeline requests but never read the replies. Each must
 * cost the agent bounded memory and must not delay anybody else.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "agent-msg.h"
#include "crypto.h"
#include "hostile.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "testkit.h"

#define IDLE_CONNS 100
#define IDLE_ROUNDS 100
#define IDLE_LIMIT_MS 5000

#define SLOW_BYTE_MS 10
#define SLOW_HEAD_START 10 /* bytes the slow writer sends first */
#define FAST_SIGNATURES 50

#define PIPELINE_REQUESTS 2000
#define FLOOD_CHUNK_REQUESTS 13107 /* 65535 bytes of 5-byte frames */
#define FLOOD_MAX_REQUESTS 1000000
#define FLOOD_STALL_MS 1000
#define RSS_GROWTH_MAX_KB (8 * 1024)

/* REQUEST_IDENTITIES framed, split inside its length prefix. */
static const uint8_t list_head[] = { 0, 0 };
static const uint8_t list_tail[] = { 0, 1, SSH_AGENTC_REQUEST_IDENTITIES };

/* Sends the rest of a listing request (or all of it) and checks the reply. */
static int
idle_speaks(int fd, int sent_head)
{
	struct kbuf *reply;
	int ok, r = 0;

	if ((reply = kbuf_new()) == NULL)
		return 0;
	if (!sent_head)
		r = h_send(fd, list_head, sizeof(list_head), H_REPLY_MS);
	if (r == 0)
		r = h_send(fd, list_tail, sizeof(list_tail), H_REPLY_MS);
	if (r == 0)
		r = h_recv_frame(fd, reply, H_REPLY_MS);
	ok = r == 0 && h_reply_type(reply) == SSH_AGENT_IDENTITIES_ANSWER;
	kbuf_free(reply);
	return ok;
}

void
check_idle_connections(struct hostile *h)
{
	int fds[IDLE_CONNS], i, fd, nopen = 0, nserved = 0, rounds;
	uint64_t t0, elapsed;

	for (i = 0; i < IDLE_CONNS; i++) {
		if ((fds[i] = h_connect(h->agent.sock, 2000)) == -1)
			break;
		nopen++;
		/* Half of them stop inside a length prefix. */
		if (i % 2 == 1 &&
		    h_send(fds[i], list_head, sizeof(list_head), H_REPLY_MS) !=
			0)
			tap_diag("idle connection %d: cannot send", i);
	}
	tap_check(nopen == IDLE_CONNS,
	    "%d of %d idle connections open "
	    "(half of them stopped inside a length prefix)",
	    nopen, IDLE_CONNS);

	if ((fd = h_connect(h->agent.sock, 2000)) == -1)
		tap_bail("cannot connect next to the idle clients: %s",
		    strerror(errno));
	t0 = tk_now_ms();
	for (rounds = 0; rounds < IDLE_ROUNDS; rounds++) {
		if (!list_and_sign(h, fd))
			break;
	}
	elapsed = tk_now_ms() - t0;
	close(fd);
	tap_check(rounds == IDLE_ROUNDS && elapsed < IDLE_LIMIT_MS,
	    "a fresh client lists and signs %d times in %llu ms next to them "
	    "(limit %d ms)",
	    rounds, (unsigned long long)elapsed, IDLE_LIMIT_MS);

	for (i = 0; i < nopen; i++) {
		nserved += idle_speaks(fds[i], i % 2 == 1);
		close(fds[i]);
	}
	tap_check(nserved == nopen,
	    "%d of %d idle connections are served "
	    "when they finally speak",
	    nserved, nopen);
}

struct slow_writer {
	int fd;
	struct kbuf *frame; /* the whole framed SIGN_REQUEST */
	struct kbuf *reply;
	atomic_size_t sent;
	atomic_int done; /* set once the last byte is out */
	int send_r;
	int recv_r;
};

static void *
slow_writer_main(void *arg)
{
	struct slow_writer *s = arg;
	struct kbuf *rest;

	s->send_r = s->recv_r = KMES_ERR_INTERNAL;
	rest = kbuf_from(kbuf_ptr(s->frame), kbuf_len(s->frame));
	if (rest == NULL) {
		s->send_r = KMES_ERR_ALLOC;
		goto out;
	}
	while (kbuf_len(rest) > 0) {
		if ((s->send_r = h_send(s->fd, kbuf_ptr(rest), 1,
			 H_REPLY_MS)) != 0 ||
		    (s->send_r = kbuf_consume(rest, 1)) != 0)
			goto out;
		atomic_fetch_add(&s->sent, 1);
		tk_sleep_ms(SLOW_BYTE_MS);
	}
	atomic_store(&s->done, 1);
	s->recv_r = h_recv_frame(s->fd, s->reply, H_REPLY_MS);
out:
	atomic_store(&s->done, 1);
	kbuf_free(rest);
	return NULL;
}

void
check_slow_writer(struct hostile *h)
{
	struct slow_writer s;
	struct kbuf *body = NULL;
	pthread_t th;
	uint8_t data[64];
	uint64_t seed = 5, t0, elapsed, deadline;
	size_t sent_then;
	int fd, i, done_then, r;

	memset(&s, 0, sizeof(s));
	rng_fill(&seed, data, sizeof(data));
	if ((body = kbuf_new()) == NULL || (s.frame = kbuf_new()) == NULL ||
	    (s.reply = kbuf_new()) == NULL ||
	    put_sign_request(body, h->blob, h->blob_len, data, sizeof(data),
		0) != 0 ||
	    agent_msg_put_framed(s.frame, body) != 0)
		tap_bail("out of memory");
	if ((s.fd = h_connect(h->agent.sock, 2000)) == -1 ||
	    (fd = h_connect(h->agent.sock, 2000)) == -1)
		tap_bail("cannot connect: %s", strerror(errno));
	if (pthread_create(&th, NULL, slow_writer_main, &s) != 0)
		tap_bail("pthread_create failed");

	deadline = tk_now_ms() + 3000;
	while (atomic_load(&s.sent) < SLOW_HEAD_START &&
	    !atomic_load(&s.done) && tk_now_ms() < deadline)
		tk_sleep_ms(1);
	t0 = tk_now_ms();
	for (i = 0; i < FAST_SIGNATURES; i++) {
		if (!sign_ok(h, fd))
			break;
	}
	elapsed = tk_now_ms() - t0;
	sent_then = atomic_load(&s.sent);
	done_then = atomic_load(&s.done);
	close(fd);
	tap_check(i == FAST_SIGNATURES && !done_then && sent_then > 0,
	    "%d signatures on another client finish while a slow writer is "
	    "mid-message (%llu ms; it had sent %zu of %zu bytes)",
	    i, (unsigned long long)elapsed, sent_then, kbuf_len(s.frame));

	pthread_join(th, NULL);
	if ((r = s.send_r) != 0 || (r = s.recv_r) != 0 ||
	    (r = check_sign_reply(s.reply, h->key, data, sizeof(data))) != 0)
		tap_diag("slow writer: %s", kmes_err(r));
	tap_check(r == 0,
	    "the slow writer's SIGN_REQUEST is answered with a "
	    "valid signature");
	close(s.fd);
	kbuf_free(body);
	kbuf_free(s.frame);
	kbuf_free(s.reply);
}

/* n framed REQUEST_IDENTITIES back to back. */
static struct kbuf *
list_requests(size_t n)
{
	struct kbuf *b;
	size_t i;

	if ((b = kbuf_new()) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (kbuf_put_u32(b, 1) != 0 ||
		    kbuf_put_u8(b, SSH_AGENTC_REQUEST_IDENTITIES) != 0) {
			kbuf_free(b);
			return NULL;
		}
	}
	return b;
}

static int
rss_ok(long base_kb, long now_kb)
{
	return base_kb > 0 && now_kb > 0 &&
	    now_kb - base_kb < RSS_GROWTH_MAX_KB;
}

void
check_pipelining(struct hostile *h)
{
	struct kbuf *many = NULL, *chunk = NULL;
	long rss0, rss1, rss2;
	size_t flooded = 0;
	int fdp, fdf, r;

	if ((many = list_requests(PIPELINE_REQUESTS)) == NULL ||
	    (chunk = list_requests(FLOOD_CHUNK_REQUESTS)) == NULL)
		tap_bail("out of memory");
	rss0 = tk_proc_kb(h->agent.pid, "VmRSS");
	if ((fdp = h_connect(h->agent.sock, 2000)) == -1 ||
	    (fdf = h_connect(h->agent.sock, 2000)) == -1)
		tap_bail("cannot connect: %s", strerror(errno));

	r = h_send(fdp, kbuf_ptr(many), kbuf_len(many), H_REPLY_MS);
	if (r != 0)
		tap_diag("pipelining: %s", kmes_err(r));
	tap_check(r == 0,
	    "a client pipelines %d REQUEST_IDENTITIES and "
	    "reads no reply",
	    PIPELINE_REQUESTS);
	tk_sleep_ms(300);
	rss1 = tk_proc_kb(h->agent.pid, "VmRSS");
	tap_check(rss_ok(rss0, rss1),
	    "the agent's RSS grows by less than "
	    "%d MiB meanwhile (%ld -> %ld kB)",
	    RSS_GROWTH_MAX_KB / 1024, rss0, rss1);
	tap_check(agent_serves(h),
	    "other clients are served while %d "
	    "replies wait unread",
	    PIPELINE_REQUESTS);

	/* Keep writing until the agent stops reading, which it must. */
	do {
		r = h_send(fdf, kbuf_ptr(chunk), kbuf_len(chunk),
		    FLOOD_STALL_MS);
		if (r == 0)
			flooded += FLOOD_CHUNK_REQUESTS;
	} while (r == 0 && flooded < FLOOD_MAX_REQUESTS);
	if (r != KMES_ERR_TIMEOUT)
		tap_diag("flood: %s",
		    r == 0 ? "the agent never stopped "
			     "reading" :
			     kmes_err(r));
	tap_check(r == KMES_ERR_TIMEOUT,
	    "the agent stops reading a client "
	    "that never reads its replies (after about %zu requests)",
	    flooded);
	tk_sleep_ms(300);
	rss2 = tk_proc_kb(h->agent.pid, "VmRSS");
	tap_check(rss_ok(rss0, rss2),
	    "the agent's RSS grows by less than "
	    "%d MiB under that flood (%ld -> %ld kB)",
	    RSS_GROWTH_MAX_KB / 1024, rss0, rss2);
	tap_check(agent_serves(h),
	    "other clients are served while the flood "
	    "waits");

	close(fdf);
	close(fdp);
	tk_sleep_ms(100);
	tap_check(agent_serves(h),
	    "the agent serves on once the greedy "
	    "clients hang up");
	kbuf_free(many);
	kbuf_free(chunk);
}
