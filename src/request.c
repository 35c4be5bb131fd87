/*
 * request.c: clients (a connection's state above the socket) and the
 * requests that wait: their life from the message that starts one to the
 * one reply that ends it, whatever happens in between (a deadline, a
 * worker job, the client hanging up).
 */
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "clock.h"
#include "keytable.h"
#include "kmes-err.h"
#include "log.h"
#include "request.h"
#include "secmem.h"
#include "workers.h"

struct client {
	struct agent *agent;
	struct conn *conn; /* NULL once the socket is gone */
	struct peer peer;
	struct request *req; /* the one in progress */
};

static void
peer_clear(struct peer *p)
{
	size_t i;

	for (i = 0; i < p->nbinds; i++) {
		ks_key_free(p->binds[i].hostkey);
		kmes_wipe(p->binds[i].sid, sizeof(p->binds[i].sid));
	}
	p->nbinds = 0;
}

static void
client_free(struct client *cl)
{
	peer_clear(&cl->peer);
	free(cl);
}

struct client *
client_new(struct agent *a, struct conn *c, uid_t uid, pid_t pid)
{
	struct client *cl;

	if ((cl = calloc(1, sizeof(*cl))) == NULL)
		return NULL;
	cl->agent = a;
	cl->conn = c;
	cl->peer.uid = uid;
	cl->peer.pid = pid;
	return cl;
}

void
client_gone(struct client *cl)
{
	struct request *r = cl->req;

	cl->conn = NULL;
	if (r == NULL) {
		client_free(cl);
		return;
	}
	/* Whatever runs for the request stops; nobody reads its answer. */
	if (r->cancel != NULL)
		r->cancel(r);
	r->cancel = NULL;
	/* A worker still holds it: its completion ends it (and cl). */
	if (!r->in_worker)
		request_end(r);
}

struct peer *
client_peer(struct client *cl)
{
	return &cl->peer;
}

struct agent *
client_agent(struct client *cl)
{
	return cl->agent;
}

struct loop *
client_loop(struct client *cl)
{
	return conn_loop(cl->conn);
}

void
client_reply(struct client *cl, const struct kbuf *body)
{
	if (cl->conn != NULL)
		conn_reply(cl->conn, body);
}

void
client_reply_code(struct client *cl, uint8_t code)
{
	if (cl->conn != NULL)
		conn_reply_code(cl->conn, code);
}

void
client_reply_sig(struct client *cl, const uint8_t *sig, size_t len)
{
	if (cl->conn != NULL)
		conn_reply_sig(cl->conn, sig, len);
}

void
client_close(struct client *cl)
{
	if (cl->conn != NULL)
		conn_close(cl->conn);
}

struct request *
request_new(struct client *cl)
{
	struct request *r;

	if (cl->req != NULL || cl->conn == NULL)
		return NULL; /* one at a time: the protocol is in order */
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->agent = cl->agent;
	r->client = cl;
	r->peer = &cl->peer;
	r->loop = conn_loop(cl->conn);
	cl->req = r;
	conn_suspend(cl->conn);
	return r;
}

int
request_set_sign(struct request *r, struct ks_identity *id, const uint8_t *data,
    size_t dlen, uint32_t flags)
{
	if ((r->data = malloc(dlen == 0 ? 1 : dlen)) == NULL)
		return KMES_ERR_ALLOC;
	memcpy(r->data, data, dlen);
	r->dlen = dlen;
	r->flags = flags;
	r->id = ks_identity_ref(id);
	return 0;
}

int
request_orphaned(const struct request *r)
{
	return r->client->conn == NULL;
}

void
request_end(struct request *r)
{
	struct client *cl = r->client;

	if (r->ended)
		return;
	r->ended = 1;
	loop_timer_cancel(r->loop, &r->timer);
	ks_identity_unref(r->id);
	kmes_freezero(r->data, r->dlen);
	free(r->user);
	cl->req = NULL;
	free(r);
	if (cl->conn != NULL)
		conn_resume(cl->conn);
	else
		client_free(cl);
}

void
request_reply(struct request *r, const struct kbuf *body)
{
	client_reply(r->client, body);
	request_end(r);
}

void
request_reply_code(struct request *r, uint8_t code)
{
	client_reply_code(r->client, code);
	request_end(r);
}

void
request_reply_sig(struct request *r, const uint8_t *sig, size_t len)
{
	client_reply_sig(r->client, sig, len);
	request_end(r);
}

static void
hold_expired(void *arg)
{
	request_reply_code(arg, SSH_AGENT_FAILURE);
}

void
request_fail_after(struct request *r, uint64_t ms)
{
	if (ms == 0 || request_orphaned(r)) {
		request_reply_code(r, SSH_AGENT_FAILURE);
		return;
	}
	r->holding = 1;
	loop_timer_set(r->loop, &r->timer, agent_now_ms() + ms, hold_expired,
	    r);
}

static void
deadline_expired(void *arg)
{
	struct request *r = arg;

	r->expired(r);
}

void
request_deadline(struct request *r, uint64_t ms, request_fn expired)
{
	r->expired = expired;
	loop_timer_set(r->loop, &r->timer, agent_now_ms() + ms,
	    deadline_expired, r);
}

/* On r's loop: the worker is done with r. */
static void
offload_done(void *arg)
{
	struct request *r = arg;

	r->in_worker = 0;
	r->done(r, r->work_arg);
}

/* On a worker thread. */
static void
offload_run(void *arg)
{
	struct request *r = arg;

	r->work(r->work_arg);
	loop_post(r->loop, &r->post, offload_done, r);
}

int
request_offload(struct request *r, struct workers *pool, void (*work)(void *),
    void (*done)(struct request *, void *), void *arg)
{
	int rc;

	if (pool == NULL)
		return KMES_ERR_INTERNAL;
	r->work = work;
	r->done = done;
	r->work_arg = arg;
	r->in_worker = 1;
	if ((rc = workers_submit(pool, offload_run, r)) != 0) {
		r->in_worker = 0;
		log_verbose("busy: a job for pid %ld refused (queue full)",
		    (long)r->peer->pid);
		return rc;
	}
	return 0;
}
