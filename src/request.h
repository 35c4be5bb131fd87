/*
 * request.h: a client's state above its socket, and the requests that
 * cannot be answered at once.
 *
 * A struct client is one connection as the agent sees it: its peer (uid,
 * pid, session bindings) and at most one request in progress; the agent
 * protocol answers in order, so while a request waits the connection reads
 * nothing more. A struct request owns everything a waiting answer needs:
 * the signature being asked for, a deadline or a held reply, the job a
 * worker thread runs for it, and the hook that stops whatever runs for it
 * when the client goes away. Features (a confirm dialog, a store unlock, a
 * token signature, a lock KDF) take a request and end it with one of the
 * request_reply* calls; none of them touches the connection.
 */
#ifndef KMES_REQUEST_H
#define KMES_REQUEST_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "agent-msg.h"
#include "loop.h"

struct agent;
struct conn;
struct kbuf;
struct ks_identity;
struct ks_key;
struct workers;

/* A session binding recorded by session-bind@openssh.com. */
struct peer_bind {
	struct ks_key *hostkey;
	uint8_t sid[AGENT_MAX_SESSION_ID_LEN];
	size_t sid_len;
	int forwarded;
};

/* Who is asking: the socket's peer and what its ssh told us. */
struct peer {
	uid_t uid;
	pid_t pid;
	struct peer_bind binds[AGENT_MAX_SESSION_IDS];
	size_t nbinds;
};

struct client;
struct request;

/* The next step of a request, on its loop. */
typedef void (*request_fn)(struct request *r);

struct request {
	struct agent *agent;
	struct client *client;
	struct peer *peer; /* the client's; valid as long as r */
	struct loop *loop;
	/* The signature the request is for, if any (request_set_sign). */
	struct ks_identity *id;
	uint8_t *data;
	size_t dlen;
	uint32_t flags;
	char *user; /* the userauth request's user, if known */
	/* The feature running it sets these. */
	request_fn cancel; /* the client left: stop, do not reply */
	request_fn next;   /* what the handler does once a step is done */
	void *job;	   /* the feature's state */
	/* Private to request.c. */
	struct loop_timer timer;
	request_fn expired;
	struct loop_post post;
	void (*done)(struct request *, void *);
	void (*work)(void *);
	void *work_arg;
	int in_worker; /* a worker thread holds it */
	int holding;   /* a FAILURE waits for its timer */
	int ended;
};

/* ------------------------------------------------------------- clients */

/* The loop's hooks for the agent protocol: open, close; message is the
 * caller's (dispatch). */
struct client *client_new(struct agent *a, struct conn *c, uid_t uid,
    pid_t pid);
/* The socket went away: the waiting request, if any, is cancelled. */
void client_gone(struct client *cl);
struct peer *client_peer(struct client *cl);
struct agent *client_agent(struct client *cl);
struct loop *client_loop(struct client *cl);
/* Immediate replies, for requests answered at once. */
void client_reply(struct client *cl, const struct kbuf *body);
void client_reply_code(struct client *cl, uint8_t code);
void client_reply_sig(struct client *cl, const uint8_t *sig, size_t len);
/* Drops the connection (after a protocol violation). */
void client_close(struct client *cl);

/* ------------------------------------------------------------ requests */

/* Starts cl's request: the connection reads nothing more until it ends.
 * Returns NULL when out of memory (then reply at once). */
struct request *request_new(struct client *cl);
/* Keeps the signature r is for: id's reference is taken, data copied.
 * Returns 0 or KMES_ERR_ALLOC. */
int request_set_sign(struct request *r, struct ks_identity *id,
    const uint8_t *data, size_t dlen, uint32_t flags);
/* Returns 1 once the client has gone (replies are then dropped). */
int request_orphaned(const struct request *r);

/* Each ends r: the reply goes out and the connection reads on. */
void request_reply(struct request *r, const struct kbuf *body);
void request_reply_code(struct request *r, uint8_t code);
void request_reply_sig(struct request *r, const uint8_t *sig, size_t len);
/* Ends r with FAILURE after ms (a wrong guess's answer waits until the
 * next guess may pass); ms 0 replies now. */
void request_fail_after(struct request *r, uint64_t ms);
/* Ends r without a reply (the client has gone). */
void request_end(struct request *r);

/* Calls expired(r) at agent_now_ms() + ms unless r ends first; expired
 * must end r. A new deadline replaces the old. */
void request_deadline(struct request *r, uint64_t ms, request_fn expired);

/*
 * Runs work(arg) on a thread of pool, then done(r, arg) on r's loop, even
 * if the client left meanwhile (request_orphaned tells): done ends r or
 * hands it on. Returns 0, or a negative KMES_ERR_* (KMES_ERR_NO_BUFFER_SPACE
 * when the pool's queue is full) and then neither runs.
 */
int request_offload(struct request *r, struct workers *pool,
    void (*work)(void *), void (*done)(struct request *, void *), void *arg);

#endif /* KMES_REQUEST_H */
