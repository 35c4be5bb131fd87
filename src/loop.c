/*
 * loop.c: the event loops. One thread per core, each with its own epoll set
 * and its own connections; the listening socket sits in every set with
 * EPOLLEXCLUSIVE so accepts spread over the threads. A connection is only
 * ever touched by its loop, so no client can stall another beyond one
 * signature's worth of CPU, and slow work (askpass, unlock delays, the lock
 * KDF) waits on events rather than on the thread.
 */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "agent-reader.h"
#include "kbuf.h"
#include "keytable.h"
#include "kmes-err.h"
#include "log.h"
#include "secmem.h"
#include "workers.h"

#define MAX_EVENTS 64
/* How long a loop keeps polling after activity before it sleeps. */
#define LOOP_SPIN_US 200

struct fd_watch {
	enum watch_kind kind; /* WATCH_FD */
	int fd;
	void (*cb)(struct loop *, int, uint32_t, void *);
	void *arg;
	struct fd_watch *next;
};

struct offload {
	struct loop *loop;
	struct conn *conn;
	void (*fn)(void *);
	void (*done)(struct conn *, void *);
	void *arg;
	struct offload *next;
};

/* A connection accepted by one loop for another, less busy one. */
struct handoff {
	int fd;
	struct ucred cred;
	struct handoff *next;
};

struct loop {
	struct agent *agent;
	atomic_uint nconns;
	struct handoff *handoffs; /* guarded by done_mtx */
	unsigned int index;
	int epfd;
	pthread_t thread;
	enum watch_kind listen_kind;
	enum watch_kind event_kind;
	enum watch_kind signal_kind;
	int evfd;
	int sigfd;
	uint64_t listen_paused_until;
	struct conn *conns;
	size_t ntimed;
	struct fd_watch *watches;
	/* Freed during a batch of events; released after it. */
	struct conn *dead_conns;
	struct fd_watch *dead_watches;
	pthread_mutex_t done_mtx;
	struct offload *done;
};

static atomic_int expiry_dirty = 1;

/*
 * Offloaded jobs run on two fixed pools, never on a thread of their own:
 * KDF jobs (lock password, store PIN from ssh-add -X) on one thread per
 * core up to KDF_THREADS_MAX, and jobs that mostly wait for another
 * process (pinentry dialogs, PKCS#11 helpers) on WAIT_THREADS, so a few
 * open dialogs cannot starve ssh-add -x/-X. Each pool's queue is a fixed
 * array; when it is full the request is answered FAILURE at once.
 * Every scrypt in the daemon also passes kdf_gate (as many slots as KDF
 * threads): the KDF memory is at most that many scrypt arrays, 16 MiB
 * each for the lock password, whatever the number of clients.
 */
#define KDF_THREADS_MAX 4
#define KDF_QUEUE 16
#define WAIT_THREADS 8
#define WAIT_QUEUE 32
static struct workers *kdf_pool, *wait_pool;
static struct workers_gate *kdf_gate;

struct agent *
loop_agent(struct loop *l)
{
	return l->agent;
}

unsigned int
loop_index(const struct loop *l)
{
	return l->index;
}

static void
wake(struct loop *l)
{
	uint64_t one = 1;

	/* EAGAIN means a wakeup is already pending: good enough. */
	(void)!write(l->evfd, &one, sizeof(one));
}

void
loop_kick_expiry(struct agent *a)
{
	atomic_store(&expiry_dirty, 1);
	wake(a->loops[0]);
}

static int
epoll_set(struct loop *l, int op, int fd, uint32_t events, void *cookie)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = cookie;
	return epoll_ctl(l->epfd, op, fd, &ev);
}

int
loop_watch_fd(struct loop *l, int fd,
    void (*cb)(struct loop *, int, uint32_t, void *), void *arg)
{
	struct fd_watch *w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return KMES_ERR_ALLOC;
	w->kind = WATCH_FD;
	w->fd = fd;
	w->cb = cb;
	w->arg = arg;
	if (epoll_set(l, EPOLL_CTL_ADD, fd, EPOLLIN, w) != 0) {
		free(w);
		return KMES_ERR_SYSTEM;
	}
	w->next = l->watches;
	l->watches = w;
	return 0;
}

void
loop_unwatch_fd(struct loop *l, int fd)
{
	struct fd_watch **wp, *w;

	for (wp = &l->watches; (w = *wp) != NULL; wp = &w->next) {
		if (w->fd == fd) {
			*wp = w->next;
			(void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
			/* A later event of this batch may still name it. */
			w->kind = WATCH_DEAD;
			w->cb = NULL;
			w->next = l->dead_watches;
			l->dead_watches = w;
			return;
		}
	}
}

static void
conn_free(struct conn *c)
{
	struct loop *l = c->loop;

	if (c->wait == CONN_WAIT_DELAY)
		l->ntimed--;
	askpass_cancel(c);
	token_conn_gone(c);
	policy_conn_clear(c);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	(void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	atomic_fetch_sub(&l->nconns, 1);
	agent_reader_free(c->in);
	kbuf_free(c->out);
	kbuf_free(c->pending_reply);
	ks_identity_unref(c->pending_id);
	kmes_freezero(c->pending_data, c->pending_dlen);
	/* A later event of this batch may still name it. */
	memset(c, 0, sizeof(*c));
	c->kind = WATCH_DEAD;
	c->next = l->dead_conns;
	l->dead_conns = c;
}

static void
release_dead(struct loop *l)
{
	struct conn *c;
	struct fd_watch *w;

	while ((c = l->dead_conns) != NULL) {
		l->dead_conns = c->next;
		free(c);
	}
	while ((w = l->dead_watches) != NULL) {
		l->dead_watches = w->next;
		free(w);
	}
}

/* Closes c now, unless a helper thread still holds it. */
static void
conn_drop(struct conn *c)
{
	if (c->wait == CONN_WAIT_OFFLOAD) {
		c->closing = 1;
		(void)epoll_ctl(c->loop->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		c->events = 0;
		return;
	}
	conn_free(c);
}

void
loop_conn_update(struct conn *c)
{
	uint32_t want = 0;

	if (c->closing)
		return;
	if (c->wait == CONN_READY && kbuf_len(c->out) < CONN_OUT_HIGH &&
	    !agent_reader_ready(c->in))
		want |= EPOLLIN;
	if (kbuf_len(c->out) > 0)
		want |= EPOLLOUT;
	/* While waiting, still hear a hang-up so the wait can be cancelled. */
	if (want == 0)
		want = EPOLLRDHUP;
	if (want != c->events) {
		if (epoll_set(c->loop, EPOLL_CTL_MOD, c->fd, want, c) == 0)
			c->events = want;
	}
}

/* Writes what it can; returns -1 if the connection is dead. */
static int
conn_flush(struct conn *c)
{
	ssize_t n;
	int r;

	while (kbuf_len(c->out) > 0) {
		n = send(c->fd, kbuf_ptr(c->out), kbuf_len(c->out),
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		if ((r = kbuf_consume(c->out, (size_t)n)) != 0)
			return -1;
	}
	return 0;
}

static void
log_dropped(const struct conn *c, int r)
{
	log_info("dropping client (uid %ld, pid %ld): %s", (long)c->peer_uid,
	    (long)c->peer_pid, kmes_err(r));
}

/* Handles every complete request while the connection may take more. */
static int
conn_process(struct conn *c)
{
	struct agent *a = c->loop->agent;
	struct kbuf *msg;
	int r;

	while (c->wait == CONN_READY && kbuf_len(c->out) < CONN_OUT_HIGH) {
		r = agent_reader_message(c->in, &msg);
		if (r == KMES_ERR_MESSAGE_INCOMPLETE)
			return 0;
		if (r != 0)
			return -1;
		dispatch_message(a, c, msg);
		kbuf_free(msg);
		/* Wipes the request: it may have carried a private key. */
		if ((r = agent_reader_consume(c->in)) != 0) {
			log_dropped(c, r);
			return -1;
		}
		if (c->closing)
			return -1;
	}
	return 0;
}

/*
 * Reads straight into the home the reader gives each request: a request
 * that may carry a key, PIN or password goes to locked, no-dump memory
 * from its first body byte, never through an ordinary buffer.
 */
static void
conn_readable(struct conn *c)
{
	uint8_t *p;
	size_t want;
	ssize_t n;
	int r;

	for (;;) {
		if ((r = agent_reader_space(c->in, &p, &want)) != 0)
			goto hostile;
		if (want == 0) {
			/* A whole request: handle it before reading on, so a
			 * flood cannot make us buffer more than one. */
			if (conn_process(c) != 0)
				goto drop;
			if (c->wait != CONN_READY || agent_reader_ready(c->in))
				break;
			continue;
		}
		n = recv(c->fd, p, want, MSG_DONTWAIT);
		if ((r = agent_reader_got(c->in, n > 0 ? (size_t)n : 0)) != 0)
			goto hostile;
		if (n == 0)
			goto drop;
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			goto drop;
		}
		if ((size_t)n < want)
			break;
	}
	if (conn_process(c) != 0 || conn_flush(c) != 0)
		goto drop;
	loop_conn_update(c);
	return;
 hostile:
	log_dropped(c, r);
 drop:
	conn_drop(c);
}

static void
conn_event(struct conn *c, uint32_t ev)
{
	if (ev & EPOLLERR)
		goto drop;
	if (ev & EPOLLOUT) {
		if (conn_flush(c) != 0)
			goto drop;
		/* Output drained below the mark: requests may go on. */
		if (c->wait == CONN_READY && conn_process(c) != 0)
			goto drop;
		if (conn_flush(c) != 0)
			goto drop;
	}
	if (ev & EPOLLIN) {
		conn_readable(c);
		return;
	}
	if ((ev & (EPOLLHUP | EPOLLRDHUP)) && !(ev & EPOLLIN))
		goto drop;
	loop_conn_update(c);
	return;
 drop:
	conn_drop(c);
}

void
loop_conn_wait_until(struct conn *c, uint64_t when_ms)
{
	c->wait = CONN_WAIT_DELAY;
	c->wake_ms = when_ms;
	c->loop->ntimed++;
	loop_conn_update(c);
}

void
loop_conn_resume(struct conn *c)
{
	if (c->wait == CONN_WAIT_DELAY)
		c->loop->ntimed--;
	/* Still set only if the token's answer did not come in time. */
	if (c->treq != NULL)
		token_conn_timeout(c);
	c->wait = CONN_READY;
	if (c->pending_reply != NULL) {
		if (kbuf_putb(c->out, c->pending_reply) != 0)
			c->closing = 1;
		kbuf_free(c->pending_reply);
		c->pending_reply = NULL;
	}
	if (c->closing || conn_process(c) != 0 || conn_flush(c) != 0) {
		conn_drop(c);
		return;
	}
	loop_conn_update(c);
}

/* Spread connections evenly so concurrent signers use every core. */
static struct loop *
pick_loop(struct loop *self)
{
	struct agent *a = self->agent;
	struct loop *best = self;
	unsigned int i, n, best_n = atomic_load(&self->nconns);

	for (i = 0; i < a->nloops; i++) {
		n = atomic_load(&a->loops[i]->nconns);
		if (n < best_n) {
			best = a->loops[i];
			best_n = n;
		}
	}
	return best;
}

/* Takes ownership of fd; the loop now serves it. */
static void
conn_create(struct loop *l, int fd, const struct ucred *cred)
{
	struct conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->in = agent_reader_new()) == NULL ||
	    (c->out = kbuf_new()) == NULL)
		goto fail;
	c->kind = WATCH_CONN;
	c->fd = fd;
	c->loop = l;
	c->peer_uid = cred->uid;
	c->peer_pid = cred->pid;
	c->events = EPOLLIN;
	if (epoll_set(l, EPOLL_CTL_ADD, fd, EPOLLIN, c) != 0)
		goto fail;
	c->next = l->conns;
	if (l->conns != NULL)
		l->conns->prev = c;
	l->conns = c;
	atomic_fetch_add(&l->nconns, 1);
	log_debug("new connection from uid %ld pid %ld (loop %u)",
	    (long)cred->uid, (long)cred->pid, l->index);
	return;
 fail:
	if (c != NULL) {
		agent_reader_free(c->in);
		kbuf_free(c->out);
		free(c);
	}
	close(fd);
}

static void
accept_clients(struct loop *l)
{
	struct agent *a = l->agent;
	struct ucred cred;
	struct handoff *h;
	struct loop *target;
	socklen_t len;
	int fd;

	for (;;) {
		fd = accept4(a->listen_fd, NULL, NULL,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				/* Out of descriptors: back off instead of
				 * spinning on a readable listener. */
				log_error("accept: %s", strerror(errno));
				l->listen_paused_until = agent_now_ms() + 100;
				(void)epoll_ctl(l->epfd, EPOLL_CTL_DEL,
				    a->listen_fd, NULL);
			}
			return;
		}
		len = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
			log_error("getsockopt SO_PEERCRED: %s", strerror(errno));
			close(fd);
			continue;
		}
		if (cred.uid != 0 && cred.uid != a->opt.uid) {
			log_error("refusing connection from uid %ld pid %ld: "
			    "not the agent's owner (uid %ld)", (long)cred.uid,
			    (long)cred.pid, (long)a->opt.uid);
			close(fd);
			continue;
		}
		target = pick_loop(l);
		if (target == l) {
			conn_create(l, fd, &cred);
			continue;
		}
		if ((h = calloc(1, sizeof(*h))) == NULL) {
			close(fd);
			continue;
		}
		h->fd = fd;
		h->cred = cred;
		atomic_fetch_add(&target->nconns, 1);
		pthread_mutex_lock(&target->done_mtx);
		h->next = target->handoffs;
		target->handoffs = h;
		pthread_mutex_unlock(&target->done_mtx);
		wake(target);
	}
}

static void
run_offload_done(struct loop *l)
{
	struct offload *o, *next;
	struct handoff *h, *hn;

	pthread_mutex_lock(&l->done_mtx);
	o = l->done;
	l->done = NULL;
	h = l->handoffs;
	l->handoffs = NULL;
	pthread_mutex_unlock(&l->done_mtx);
	for (; h != NULL; h = hn) {
		hn = h->next;
		/* Counted when handed over; conn_create counts again. */
		atomic_fetch_sub(&l->nconns, 1);
		conn_create(l, h->fd, &h->cred);
		free(h);
	}
	for (; o != NULL; o = next) {
		struct conn *c = o->conn;

		next = o->next;
		c->wait = CONN_READY;
		o->done(c, o->arg);
		free(o);
		if (c->closing) {
			/* The client left while the job ran. */
			conn_free(c);
			continue;
		}
		if (c->wait == CONN_READY)
			loop_conn_resume(c);
	}
}

/* On a pool thread: the job, then its completion to c's loop. */
static void
offload_run(void *arg)
{
	struct offload *o = arg;
	struct loop *l = o->loop;

	o->fn(o->arg);
	pthread_mutex_lock(&l->done_mtx);
	o->next = l->done;
	l->done = o;
	pthread_mutex_unlock(&l->done_mtx);
	wake(l);
}

static int
offload_to(struct workers *pool, struct conn *c, void (*fn)(void *),
    void (*done)(struct conn *, void *), void *arg)
{
	struct offload *o;
	int r;

	if (pool == NULL)
		return KMES_ERR_INTERNAL;
	if ((o = calloc(1, sizeof(*o))) == NULL)
		return KMES_ERR_ALLOC;
	o->loop = c->loop;
	o->conn = c;
	o->fn = fn;
	o->done = done;
	o->arg = arg;
	if ((r = workers_submit(pool, offload_run, o)) != 0) {
		/* Full: the caller still owns arg and answers FAILURE. */
		log_verbose("busy: %s job from pid %ld refused (queue full)",
		    pool == kdf_pool ? "KDF" : "helper", (long)c->peer_pid);
		free(o);
		return r;
	}
	c->wait = CONN_WAIT_OFFLOAD;
	loop_conn_update(c);
	return 0;
}

int
loop_offload(struct conn *c, void (*fn)(void *),
    void (*done)(struct conn *, void *), void *arg)
{
	return offload_to(wait_pool, c, fn, done, arg);
}

int
loop_offload_kdf(struct conn *c, void (*fn)(void *),
    void (*done)(struct conn *, void *), void *arg)
{
	return offload_to(kdf_pool, c, fn, done, arg);
}

void
loop_kdf_enter(void)
{
	workers_gate_enter(kdf_gate);
}

void
loop_kdf_leave(void)
{
	workers_gate_leave(kdf_gate);
}

static int
compute_timeout(struct loop *l, uint64_t now)
{
	struct agent *a = l->agent;
	uint64_t next = 0;
	struct conn *c;
	static _Thread_local uint64_t next_expiry;
	size_t nexp;

	if (l->index == 0 &&
	    (atomic_exchange(&expiry_dirty, 0) ||
	    (next_expiry != 0 && now >= next_expiry))) {
		next_expiry = ks_table_expire(a->table, now, &nexp);
		if (nexp != 0)
			log_info("%zu key(s) expired and were wiped", nexp);
	}
	if (l->index == 0)
		next = next_expiry;
	if (l->index == 0 && a->opt.lock_idle != 0 && !astore_locked(a) &&
	    a->store != NULL) {
		uint64_t idle_at = atomic_load(&a->last_use_ms) +
		    (uint64_t)a->opt.lock_idle * 1000;

		if (now >= idle_at) {
			log_info("no signature for %u s: locking the keystore",
			    a->opt.lock_idle);
			astore_lock(a);
		} else if (next == 0 || idle_at < next)
			next = idle_at;
	}
	if (l->ntimed > 0) {
		for (c = l->conns; c != NULL; c = c->next) {
			if (c->wait == CONN_WAIT_DELAY &&
			    (next == 0 || c->wake_ms < next))
				next = c->wake_ms;
		}
	}
	if (l->listen_paused_until != 0 &&
	    (next == 0 || l->listen_paused_until < next))
		next = l->listen_paused_until;
	if (next == 0)
		return -1;
	if (next <= now)
		return 0;
	return next - now > 60000 ? 60000 : (int)(next - now);
}

static void
run_timers(struct loop *l, uint64_t now)
{
	struct conn *c, *next;

	if (l->listen_paused_until != 0 && now >= l->listen_paused_until) {
		l->listen_paused_until = 0;
		(void)epoll_set(l, EPOLL_CTL_ADD, l->agent->listen_fd,
		    EPOLLIN | EPOLLEXCLUSIVE, &l->listen_kind);
	}
	if (l->ntimed == 0)
		return;
	for (c = l->conns; c != NULL; c = next) {
		next = c->next;
		if (c->wait == CONN_WAIT_DELAY && now >= c->wake_ms)
			loop_conn_resume(c);
	}
}

static void
handle_signal(struct loop *l)
{
	struct signalfd_siginfo si;
	struct agent *a = l->agent;
	unsigned int i;

	while (read(l->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		log_info("received signal %u, exiting", si.ssi_signo);
		atomic_store(&a->quit, 1);
	}
	for (i = 0; i < a->nloops; i++)
		wake(a->loops[i]);
}

static void *
loop_thread(void *arg)
{
	struct loop *l = arg;
	struct agent *a = l->agent;
	struct epoll_event evs[MAX_EVENTS];
	uint64_t v;
	int i, n;

	uint64_t now, busy_until = 0;
	int timeout;

	while (!atomic_load(&a->quit)) {
		now = agent_now_us();
		timeout = compute_timeout(l, now / 1000);
		/*
		 * Right after serving a request, poll without sleeping for a
		 * moment: a client signing in a loop sends its next request
		 * within microseconds, and waking a sleeping CPU costs more
		 * than the signature itself on virtual machines.
		 */
		if (now < busy_until && timeout != 0)
			timeout = 0;
		n = epoll_wait(l->epfd, evs, MAX_EVENTS, timeout);
		if (n > 0)
			busy_until = agent_now_us() + LOOP_SPIN_US;
		if (n == -1 && errno != EINTR) {
			log_error("epoll_wait: %s", strerror(errno));
			break;
		}
		for (i = 0; i < n; i++) {
			enum watch_kind *k = evs[i].data.ptr;

			switch (*k) {
			case WATCH_DEAD:
				break;
			case WATCH_LISTEN:
				accept_clients(l);
				break;
			case WATCH_EVENT:
				(void)!read(l->evfd, &v, sizeof(v));
				run_offload_done(l);
				break;
			case WATCH_SIGNAL:
				handle_signal(l);
				break;
			case WATCH_CONN:
				conn_event((struct conn *)k, evs[i].events);
				break;
			case WATCH_FD: {
				struct fd_watch *w = (struct fd_watch *)k;

				if (w->cb != NULL)
					w->cb(l, w->fd, evs[i].events, w->arg);
				break;
			}
			}
		}
		run_timers(l, agent_now_ms());
		release_dead(l);
	}
	dispatch_thread_done();
	return NULL;
}

static void
loop_free(struct loop *l)
{
	struct fd_watch *w, *wn;
	struct handoff *h;

	if (l == NULL)
		return;
	while ((h = l->handoffs) != NULL) {
		l->handoffs = h->next;
		close(h->fd);
		free(h);
	}
	while (l->conns != NULL)
		conn_free(l->conns);
	release_dead(l);
	for (w = l->watches; w != NULL; w = wn) {
		wn = w->next;
		free(w);
	}
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->evfd >= 0)
		close(l->evfd);
	if (l->sigfd >= 0)
		close(l->sigfd);
	pthread_mutex_destroy(&l->done_mtx);
	free(l);
}

int
loops_start(struct agent *a)
{
	sigset_t set;
	struct loop *l;
	unsigned int i, nkdf;

	if ((a->loops = calloc(a->opt.nloops, sizeof(*a->loops))) == NULL)
		return KMES_ERR_ALLOC;
	nkdf = a->opt.nloops < KDF_THREADS_MAX ? a->opt.nloops :
	    KDF_THREADS_MAX;
	if (nkdf == 0)
		nkdf = 1;
	if ((kdf_gate = workers_gate_new(nkdf)) == NULL ||
	    (kdf_pool = workers_new(nkdf, KDF_QUEUE)) == NULL ||
	    (wait_pool = workers_new(WAIT_THREADS, WAIT_QUEUE)) == NULL)
		return KMES_ERR_SYSTEM;
	log_debug("%u KDF thread(s), %u helper threads", nkdf, WAIT_THREADS);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (a->opt.foreground)
		sigaddset(&set, SIGINT);
	for (i = 0; i < a->opt.nloops; i++) {
		if ((l = calloc(1, sizeof(*l))) == NULL)
			return KMES_ERR_ALLOC;
		a->loops[i] = l;
		a->nloops++;
		l->agent = a;
		l->index = i;
		l->listen_kind = WATCH_LISTEN;
		l->event_kind = WATCH_EVENT;
		l->signal_kind = WATCH_SIGNAL;
		l->sigfd = -1;
		pthread_mutex_init(&l->done_mtx, NULL);
		if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
		    (l->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
			return KMES_ERR_SYSTEM;
		if (epoll_set(l, EPOLL_CTL_ADD, a->listen_fd,
		    EPOLLIN | EPOLLEXCLUSIVE, &l->listen_kind) != 0 ||
		    epoll_set(l, EPOLL_CTL_ADD, l->evfd, EPOLLIN,
		    &l->event_kind) != 0)
			return KMES_ERR_SYSTEM;
		if (i == 0) {
			l->sigfd = signalfd(-1, &set,
			    SFD_NONBLOCK | SFD_CLOEXEC);
			if (l->sigfd == -1 || epoll_set(l, EPOLL_CTL_ADD,
			    l->sigfd, EPOLLIN, &l->signal_kind) != 0)
				return KMES_ERR_SYSTEM;
		}
	}
	/* Loop 0 runs on the calling thread; the rest get their own. */
	for (i = 1; i < a->nloops; i++) {
		if (pthread_create(&a->loops[i]->thread, NULL, loop_thread,
		    a->loops[i]) != 0)
			return KMES_ERR_SYSTEM;
	}
	loop_thread(a->loops[0]);
	return 0;
}

void
loops_join(struct agent *a)
{
	unsigned int i;

	for (i = 0; i < a->nloops; i++)
		wake(a->loops[i]);
	for (i = 1; i < a->nloops; i++) {
		if (a->loops[i]->thread != 0)
			pthread_join(a->loops[i]->thread, NULL);
	}
	/*
	 * Jobs still queued or running will touch their loops: let the pools
	 * finish them (bounded queues; pinentry gives up on quit, PKCS#11 on
	 * its timeout), then run their completions so each frees its state.
	 */
	workers_free(wait_pool);
	workers_free(kdf_pool);
	wait_pool = kdf_pool = NULL;
	workers_gate_free(kdf_gate);
	kdf_gate = NULL;
	for (i = 0; i < a->nloops; i++) {
		run_offload_done(a->loops[i]);
		loop_free(a->loops[i]);
	}
	free(a->loops);
	a->loops = NULL;
	a->nloops = 0;
}
