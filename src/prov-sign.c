/*
 * prov-sign.c: signing with token keys over the helpers' channels.
 *
 * Each provider's helper has CHAN_PER_LOOP channels per event loop. A
 * loop only ever touches its own channels, so a signature needs no lock on
 * the hot path: the request goes down an idle channel, the client waits
 * (with a deadline) and the reply wakes the same loop. A helper that dies
 * fails what it had in flight and is restarted (on a worker: it blocks)
 * by the next request; one that hangs is killed at the deadline.
 */
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent-reader.h"
#include "agent.h"
#include "audit.h"
#include "clock.h"
#include "kbuf.h"
#include "keytable.h"
#include "kmes-err.h"
#include "log.h"
#include "loop.h"
#include "p11-proto.h"
#include "prov-int.h"
#include "prov.h"
#include "request.h"

struct token_req {
	struct token_req *next;
	struct request *req; /* NULL once the client stopped waiting */
	struct ks_identity *id;
	struct kbuf *msg; /* the framed SIGN request */
	uint32_t reqid;
	unsigned int gen; /* helper generation it was sent to */
	size_t prov;
	int sent;
};

struct channel {
	int fd;
	unsigned int li; /* its loop's index */
	size_t pi;	 /* its provider's index */
	unsigned int gen;
	struct loop *loop;
	struct token_req *req; /* in flight, at most one */
	struct agent_reader *in;
};

static struct channel chans[MAX_LOOPS][MAX_PROVIDERS][CHAN_PER_LOOP];
/* Requests waiting for a free channel, per loop and provider. */
static struct token_req *waitq[MAX_LOOPS][MAX_PROVIDERS];
static atomic_uint next_reqid;

static void
req_free(struct token_req *q)
{
	if (q == NULL)
		return;
	ks_identity_unref(q->id);
	kbuf_free(q->msg);
	free(q);
}

/* Frames body (u32 length first) into a new buffer. */
static struct kbuf *
frame(const struct kbuf *body)
{
	struct kbuf *b;

	if ((b = kbuf_new()) == NULL)
		return NULL;
	if (agent_msg_put_framed_max(b, body, P11H_MSG_MAX) != 0) {
		kbuf_free(b);
		return NULL;
	}
	return b;
}
void
prov_sign_init(void)
{
	size_t i, j, k;

	for (i = 0; i < MAX_LOOPS; i++) {
		for (j = 0; j < MAX_PROVIDERS; j++) {
			for (k = 0; k < CHAN_PER_LOOP; k++) {
				chans[i][j][k].fd = -1;
				chans[i][j][k].li = (unsigned int)i;
				chans[i][j][k].pi = j;
			}
		}
	}
}

/* ----------------------------------------------------- loop-side paths */

static void chan_event(struct loop *l, int fd, uint32_t ev, void *arg);

/* Ends q: the client (if still waiting) gets sig, or FAILURE if NULL. */
static void
req_finish(struct token_req *q, const uint8_t *sig, size_t siglen,
    const char *why)
{
	struct request *r = q->req;
	struct agent *a;

	if (r == NULL) {
		req_free(q);
		return;
	}
	a = r->agent;
	r->job = NULL;
	r->cancel = NULL;
	q->req = NULL;
	if (sig == NULL) {
		log_error("signing with \"%s\" on its token failed: %s",
		    ks_identity_comment(q->id), why);
		audit_sign(r->peer, q->id, NULL, 0, "error", why);
		req_free(q);
		request_reply_code(r, SSH_AGENT_FAILURE);
		return;
	}
	atomic_store(&a->last_use_ms, agent_now_ms());
	audit_sign(r->peer, q->id, NULL, 0, "ok", NULL);
	log_debug("signed with token key \"%s\"", ks_identity_comment(q->id));
	req_free(q);
	request_reply_sig(r, sig, siglen);
}

static void
chan_close(struct channel *ch)
{
	if (ch->fd >= 0) {
		loop_unwatch_fd(ch->loop, ch->fd);
		close(ch->fd);
	}
	ch->fd = -1;
	agent_reader_free(ch->in);
	ch->in = NULL;
}

/* The helper behind ch went away: fail what was in flight. */
static void
chan_dead(struct channel *ch, size_t pi, const char *why)
{
	struct token_req *q = ch->req;

	ch->req = NULL;
	chan_close(ch);
	prov_kill(&provs[pi], ch->gen, why);
	if (q != NULL)
		req_finish(q, NULL, 0, why);
}

/* Makes ch a channel of p's current helper, if it is not already. */
static int
chan_ensure(struct loop *l, unsigned int li, size_t pi, size_t j)
{
	struct channel *ch = &chans[li][pi][j];
	struct provider *p = &provs[pi];
	unsigned int gen = atomic_load(&p->gen);
	int fd;

	if (ch->fd >= 0 && ch->gen == gen)
		return 0;
	if (ch->fd >= 0) {
		/* A previous helper's channel. */
		if (ch->req != NULL)
			return KMES_ERR_LOCKED; /* its answer is still due */
		chan_close(ch);
	}
	/* Never wait on a loop: a restart may hold this for seconds. */
	if (pthread_mutex_trylock(&p->mtx) != 0)
		return KMES_ERR_LOCKED;
	fd = p->fds[li * CHAN_PER_LOOP + j];
	p->fds[li * CHAN_PER_LOOP + j] = -1;
	gen = atomic_load(&p->gen);
	pthread_mutex_unlock(&p->mtx);
	if (fd < 0)
		return KMES_ERR_CONNECTION_CLOSED;
	ch->fd = fd;
	ch->gen = gen;
	ch->loop = l;
	if ((ch->in = agent_reader_new_plain(P11H_MSG_MAX)) == NULL ||
	    loop_watch_fd(l, fd, chan_event, ch) != 0) {
		agent_reader_free(ch->in);
		ch->in = NULL;
		close(fd);
		ch->fd = -1;
		return KMES_ERR_SYSTEM;
	}
	return 0;
}

/* Writes the whole request; a stuck helper counts as dead. */
static int
chan_send(struct channel *ch, struct token_req *q)
{
	const uint8_t *p = kbuf_ptr(q->msg);
	size_t left = kbuf_len(q->msg);
	struct pollfd pfd = { ch->fd, POLLOUT, 0 };
	ssize_t n;
	int waits = 0;

	while (left > 0) {
		n = send(ch->fd, p, left, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			p += n;
			left -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		/* An idle helper thread drains at once; only a huge
		 * request ever waits here, and never for long. */
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    waits++ < 20 && poll(&pfd, 1, 50) >= 0)
			continue;
		return KMES_ERR_CONNECTION_CLOSED;
	}
	ch->req = q;
	q->sent = 1;
	q->gen = ch->gen;
	return 0;
}

/* Sends the next waiting request of (li, pi) on a free channel. */
static void
pump(struct loop *l, unsigned int li, size_t pi)
{
	struct token_req *q;
	struct channel *ch;
	size_t j;

	while ((q = waitq[li][pi]) != NULL) {
		if (q->req == NULL) {
			waitq[li][pi] = q->next;
			req_free(q);
			continue;
		}
		if (!atomic_load(&provs[pi].alive)) {
			waitq[li][pi] = q->next;
			req_finish(q, NULL, 0, "its PKCS#11 helper stopped");
			continue;
		}
		for (j = 0; j < CHAN_PER_LOOP; j++) {
			ch = &chans[li][pi][j];
			if (chan_ensure(l, li, pi, j) == 0 && ch->req == NULL)
				break;
		}
		if (j == CHAN_PER_LOOP)
			return; /* all busy: a reply will pump */
		waitq[li][pi] = q->next;
		q->next = NULL;
		if (chan_send(ch, q) != 0)
			chan_dead(ch, pi, "its helper stopped reading");
	}
}

static void
chan_reply(struct channel *ch, size_t pi, struct kbuf *m)
{
	struct token_req *q = ch->req;
	const uint8_t *sig;
	size_t siglen;
	uint32_t id, code;
	char *why = NULL;
	uint8_t type;

	if (kbuf_get_u8(m, &type) != 0 || kbuf_get_u32(m, &id) != 0 ||
	    q == NULL || id != q->reqid) {
		chan_dead(ch, pi, "it sent an unexpected reply");
		return;
	}
	ch->req = NULL;
	if (type == P11H_OK && kbuf_get_string_direct(m, &sig, &siglen) == 0 &&
	    kbuf_len(m) == 0) {
		req_finish(q, sig, siglen, NULL);
		return;
	}
	if (type == P11H_FAIL && kbuf_get_u32(m, &code) == 0 &&
	    kbuf_get_cstring(m, &why, NULL) == 0) {
		req_finish(q, NULL, 0, why);
		free(why);
		return;
	}
	free(why);
	ch->req = q;
	chan_dead(ch, pi, "it sent a malformed reply");
}

static void
chan_event(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct channel *ch = arg;
	size_t pi = ch->pi;
	unsigned int li = ch->li;
	struct kbuf *m;
	int r;

	(void)fd;
	(void)ev;
	while (ch->fd >= 0) {
		r = agent_reader_recv(ch->in, ch->fd);
		if (r == KMES_ERR_MESSAGE_INCOMPLETE)
			break;
		if (r != 0) {
			chan_dead(ch, pi,
			    r == KMES_ERR_CONNECTION_CLOSED ?
				"it exited or crashed" :
				"it sent a bad frame");
			break;
		}
		if (agent_reader_message(ch->in, &m) != 0) {
			chan_dead(ch, pi, "out of memory");
			break;
		}
		chan_reply(ch, pi, m);
		kbuf_free(m);
		/* chan_reply may have closed ch (a protocol error). */
		if (ch->fd < 0 || agent_reader_consume(ch->in) != 0) {
			if (ch->fd >= 0)
				chan_dead(ch, pi, "it sent a bad frame");
			break;
		}
	}
	pump(l, li, pi);
}

/* r's deadline passed while its token signature was outstanding. */
static void
sign_expired(struct request *r)
{
	struct token_req *q = r->job;

	r->job = NULL;
	r->cancel = NULL;
	q->req = NULL;
	log_error("the token did not answer a signature with \"%s\" within "
		  "%llu s",
	    ks_identity_comment(q->id),
	    (unsigned long long)prov_timeout_ms(r->agent) / 1000);
	audit_sign(r->peer, q->id, NULL, 0, "error", "PKCS#11 timeout");
	/* The reply still due keeps its channel busy until the kill's
	 * EOF arrives; a queued request is dropped when its turn comes. */
	if (q->sent)
		prov_kill(&provs[q->prov], q->gen, "it hangs");
	request_reply_code(r, SSH_AGENT_FAILURE);
}

/* The client left: its request stays queued or in flight, unowned. */
static void
sign_cancel(struct request *r)
{
	struct token_req *q = r->job;

	r->job = NULL;
	q->req = NULL;
}

/* Queues q on r's loop and sends it when a channel is free. */
static void
submit(struct request *r, struct token_req *q)
{
	unsigned int li = loop_index(r->loop);
	struct token_req **tail;

	q->req = r;
	r->job = q;
	r->cancel = sign_cancel;
	/* The deadline answers FAILURE by itself (sign_expired). */
	request_deadline(r, prov_timeout_ms(r->agent), sign_expired);
	for (tail = &waitq[li][q->prov]; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = q;
	pump(r->loop, li, q->prov);
}

/* A restart of a dead helper, on a worker thread. */
struct restart_job {
	struct agent *agent;
	struct token_req *q;
	int r;
	char err[PROV_ERR_MAX];
};

static void
restart_run(void *arg)
{
	struct restart_job *j = arg;
	struct provider *p = &provs[j->q->prov];

	pthread_mutex_lock(&p->mtx);
	if (p->removed || !p->used)
		j->r = KMES_ERR_KEY_NOT_FOUND;
	else if (atomic_load(&p->alive))
		j->r = 0; /* another request restarted it */
	else {
		log_info("restarting the PKCS#11 helper for %s", p->module);
		j->r = prov_helper_start(j->agent, p, j->q->prov + 1, j->err,
		    sizeof(j->err));
	}
	pthread_mutex_unlock(&p->mtx);
}

static void
restart_done(struct request *r, void *arg)
{
	struct restart_job *j = arg;
	struct token_req *q = j->q;

	if (request_orphaned(r)) {
		req_free(q);
		request_end(r);
	} else if (j->r != 0) {
		log_error("PKCS#11 provider %s cannot be restarted: %s",
		    provs[q->prov].module,
		    j->err[0] != '\0' ? j->err : kmes_err(j->r));
		audit_sign(r->peer, q->id, NULL, 0, "error",
		    "PKCS#11 helper restart failed");
		req_free(q);
		request_reply_code(r, SSH_AGENT_FAILURE);
	} else
		submit(r, q);
	free(j);
}

void
prov_sign(struct request *r)
{
	struct token_req *q = NULL;
	struct restart_job *j = NULL;
	struct kbuf *body = NULL;
	const uint8_t *blob;
	size_t blen, pi = ks_identity_source(r->id) - 1;

	if (pi >= MAX_PROVIDERS || !provs[pi].used || provs[pi].removed) {
		audit_sign(r->peer, r->id, NULL, 0, "error",
		    "provider removed");
		goto fail;
	}
	blob = ks_key_blob(ks_identity_key(r->id), &blen);
	if ((q = calloc(1, sizeof(*q))) == NULL || (body = kbuf_new()) == NULL)
		goto fail;
	q->id = ks_identity_ref(r->id);
	q->prov = pi;
	q->reqid = atomic_fetch_add(&next_reqid, 1);
	if (kbuf_put_u8(body, P11H_SIGN) != 0 ||
	    kbuf_put_u32(body, q->reqid) != 0 ||
	    kbuf_put_string(body, blob, blen) != 0 ||
	    kbuf_put_string(body, r->data, r->dlen) != 0 ||
	    kbuf_put_u32(body, r->flags) != 0 || (q->msg = frame(body)) == NULL)
		goto fail;
	kbuf_free(body);
	body = NULL;
	if (atomic_load(&provs[pi].alive)) {
		submit(r, q);
		return;
	}
	/* The helper died or was stopped: start a new one off the loop. */
	if ((j = calloc(1, sizeof(*j))) == NULL)
		goto fail;
	j->agent = r->agent;
	j->q = q;
	if (request_offload(r, r->agent->wait_pool, restart_run, restart_done,
		j) != 0) {
		free(j);
		goto fail;
	}
	return;
fail:
	kbuf_free(body);
	req_free(q);
	request_reply_code(r, SSH_AGENT_FAILURE);
}
