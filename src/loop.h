/*
 * loop.h: the event loops: sockets and time only. A loop accepts clients,
 * reads whole requests off their sockets, writes replies, runs timers,
 * watches descriptors and runs work posted to it from other threads. It
 * knows nothing of what a request means: the layer above plugs in through
 * struct loop_hooks, and a connection is an opaque handle to it.
 */
#ifndef KMES_LOOP_H
#define KMES_LOOP_H

#include <sys/types.h>

#include <stdatomic.h>
#include <stdint.h>

struct conn;
struct kbuf;
struct loop;
struct loopset;

/* Per-connection output held back before we stop reading its requests. */
#define CONN_OUT_HIGH (256 * 1024)

/* What the layer above provides. Every hook runs on the loop's thread. */
struct loop_hooks {
	/* A new client (peer credentials checked); returns its context,
	 * or NULL to drop the connection. */
	void *(*open)(void *arg, struct conn *c, uid_t uid, pid_t pid);
	/* One whole request (type byte first); its bytes are wiped after
	 * this returns. The handler replies now, or suspends c. */
	void (*message)(void *ctx, struct kbuf *msg);
	/* c is going away: after this returns the handle is dead. */
	void (*close)(void *ctx);
	/* Loop 0: periodic work at now; returns the next time (ms) it
	 * wants to run, 0 for never. May be NULL. */
	uint64_t (*tick)(void *arg, uint64_t now);
	/* The loop's thread is ending. May be NULL. */
	void (*thread_end)(void *arg);
	void *arg;
};

/* A one-shot timer, owned and placed by its user; never copied. */
struct loop_timer {
	uint64_t when;
	void (*fn)(void *arg);
	void *arg;
	struct loop_timer *next, *prev;
	int armed;
};

/* Work posted to a loop from any thread; owned by the poster. */
struct loop_post {
	void (*fn)(void *arg);
	void *arg;
	struct loop_post *next;
};

/* ------------------------------------------------------------ loop sets */

/*
 * Makes n loops serving listen_fd (-1: none; connections only through
 * loop_adopt) for peers of uid owner or root. quit is the stop flag the
 * loops poll (and set on SIGTERM/SIGHUP, and SIGINT if catch_int, when
 * catch_signals). Returns NULL on failure.
 */
struct loopset *loopset_new(unsigned int n, int listen_fd, uid_t owner,
    const struct loop_hooks *hooks, atomic_int *quit, int catch_signals,
    int catch_int);
unsigned int loopset_count(const struct loopset *s);
struct loop *loopset_loop(struct loopset *s, unsigned int i);
/* Runs loop 0 on this thread and the others on their own until quit. */
int loopset_run(struct loopset *s);
/* Sets quit and wakes every loop; safe from any thread. */
void loopset_stop(struct loopset *s);
/* Joins the threads, closes every connection and frees s; accepts NULL. */
void loopset_free(struct loopset *s);

/* -------------------------------------------------------------- a loop */

unsigned int loop_index(const struct loop *l);
/* Runs one round: waits up to timeout_ms (-1: until something happens,
 * capped by timers) for events, then handles them. For tests and run. */
int loop_run_once(struct loop *l, int timeout_ms);
/* Serves fd (a connected stream socket) as a client with these
 * credentials; takes fd. Returns 0 or a negative KMES_ERR_*. */
int loop_adopt(struct loop *l, int fd, uid_t uid, pid_t pid);
/* Runs fn(arg) on l's thread soon; p is the caller's until fn runs.
 * Safe from any thread; never fails. */
void loop_post(struct loop *l, struct loop_post *p, void (*fn)(void *),
    void *arg);
/* Arms t to run fn(arg) on l at when (ms, agent_now_ms); re-arms it if
 * already armed. */
void loop_timer_set(struct loop *l, struct loop_timer *t, uint64_t when,
    void (*fn)(void *), void *arg);
/* Disarms t if armed. */
void loop_timer_cancel(struct loop *l, struct loop_timer *t);
/* Calls cb when fd is readable (or hangs up). Returns 0 or KMES_ERR_*. */
int loop_watch_fd(struct loop *l, int fd,
    void (*cb)(struct loop *, int, uint32_t, void *), void *arg);
void loop_unwatch_fd(struct loop *l, int fd);
/* Makes the next round of loop 0 call the tick hook (any thread). */
void loopset_kick(struct loopset *s);

/* --------------------------------------------------------- connections */

struct loop *conn_loop(const struct conn *c);
/* Frames body (u8 type, fields) as a reply to c. On failure c closes. */
void conn_reply(struct conn *c, const struct kbuf *body);
/* A reply of a single code byte (SUCCESS, FAILURE). */
void conn_reply_code(struct conn *c, uint8_t code);
/* A SIGN_RESPONSE carrying sig. */
void conn_reply_sig(struct conn *c, const uint8_t *sig, size_t len);
/* Reads no further request from c until conn_resume; hears a hang-up. */
void conn_suspend(struct conn *c);
/* Lets c's requests flow again (handled after the current event). */
void conn_resume(struct conn *c);
/* Drops c (its close hook runs) after the current event. */
void conn_close(struct conn *c);

#endif /* KMES_LOOP_H */
