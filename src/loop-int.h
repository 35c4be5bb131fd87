/*
 * loop-int.h: what loop.c (one loop: its connections, watches, timers and
 * posts) and loopset.c (the loops together: threads, accepting, signals)
 * share. Private to those two files.
 */
#ifndef KMES_LOOP_INT_H
#define KMES_LOOP_INT_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#include "loop.h"

/* Every object whose address is an epoll cookie starts with its kind. */
enum watch_kind {
	WATCH_DEAD = 0,
	WATCH_LISTEN,
	WATCH_EVENT,
	WATCH_SIGNAL,
	WATCH_CONN,
	WATCH_FD,
};

struct conn;
struct fd_watch;

struct loop {
	struct loopset *set;
	atomic_uint nconns; /* for spreading clients */
	unsigned int index;
	int epfd;
	int evfd;
	int sigfd;
	pthread_t thread;
	enum watch_kind listen_kind;
	enum watch_kind event_kind;
	enum watch_kind signal_kind;
	uint64_t listen_paused_until;
	uint64_t next_tick; /* loop 0 */
	struct conn *conns;
	struct conn *dirty;
	struct fd_watch *watches;
	struct loop_timer *timers; /* sorted by when */
	/* Freed during a round of events; released after it. */
	struct conn *dead_conns;
	struct fd_watch *dead_watches;
	pthread_mutex_t post_mtx; /* guards posts */
	struct loop_post *posts, **posts_tail;
};

struct loopset {
	struct loop_hooks hooks;
	struct loop **loops;
	unsigned int n;
	int listen_fd;
	uid_t owner;
	atomic_int *quit;
	atomic_int tick_dirty;
};

/* loop.c */
struct loop *loop_new(struct loopset *s, unsigned int i, const sigset_t *sigs);
void loop_free(struct loop *l);
void loop_wake(struct loop *l);
/* Runs what other threads posted to l (also at shutdown). */
void loop_run_posts(struct loop *l);
/* loopset.c: accepts the waiting clients (l's listener is readable). */
void loop_accept(struct loop *l);

#endif /* KMES_LOOP_INT_H */
