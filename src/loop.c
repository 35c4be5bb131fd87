/*
 * loop.c: one event loop: sockets and time, nothing above them.
 *
 * A loop has its own epoll set and its own connections (loopset.c runs one
 * per core and spreads the clients). A connection is only ever touched by
 * its loop, so no client can stall another beyond one request's worth of
 * CPU. What a request means is the business of the hooks (struct
 * loop_hooks): a handler replies at once, or suspends the connection and
 * replies later from a timer, a watched descriptor or a post from a worker
 * thread, all of which run on the same loop.
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

#include "agent-msg.h"
#include "agent-reader.h"
#include "clock.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "log.h"
#include "loop-int.h"
#include "loop.h"

#define MAX_EVENTS 64
/* The longest a loop sleeps without looking at the clock. */
#define LOOP_MAX_SLEEP_MS 60000

struct conn {
	enum watch_kind kind; /* WATCH_CONN; must stay first */
	int fd;
	struct loop *loop;
	void *ctx;		 /* the hooks' */
	struct agent_reader *in; /* requests, secret ones in secure memory */
	struct kbuf *out;
	uid_t uid;
	pid_t pid;
	uint32_t events; /* epoll interest currently registered */
	int suspended;	 /* a request is being answered later */
	int closing;	 /* drop at the end of this round */
	int in_process;	 /* inside conn_process */
	int dirty;	 /* on the loop's dirty list */
	struct conn *dirty_next;
	struct conn *next, *prev;
};

struct fd_watch {
	enum watch_kind kind; /* WATCH_FD */
	int fd;
	void (*cb)(struct loop *, int, uint32_t, void *);
	void *arg;
	struct fd_watch *next;
};

static void conn_free(struct conn *c);

unsigned int
loop_index(const struct loop *l)
{
	return l->index;
}

struct loop *
conn_loop(const struct conn *c)
{
	return c->loop;
}

void
loop_wake(struct loop *l)
{
	uint64_t one = 1;

	/* EAGAIN means a wakeup is already pending: good enough. */
	(void)!write(l->evfd, &one, sizeof(one));
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

/* ---------------------------------------------------- watches, timers */

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
			/* A later event of this round may still name it. */
			w->kind = WATCH_DEAD;
			w->cb = NULL;
			w->next = l->dead_watches;
			l->dead_watches = w;
			return;
		}
	}
}

void
loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
	if (!t->armed)
		return;
	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		l->timers = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
	t->next = t->prev = NULL;
	t->armed = 0;
}

void
loop_timer_set(struct loop *l, struct loop_timer *t, uint64_t when,
    void (*fn)(void *), void *arg)
{
	struct loop_timer *p, *prev = NULL;

	loop_timer_cancel(l, t);
	t->when = when;
	t->fn = fn;
	t->arg = arg;
	/* Sorted; the list is as long as the clients waiting on a timer. */
	for (p = l->timers; p != NULL && p->when <= when; p = p->next)
		prev = p;
	t->prev = prev;
	t->next = p;
	if (p != NULL)
		p->prev = t;
	if (prev != NULL)
		prev->next = t;
	else
		l->timers = t;
	t->armed = 1;
}

static void
run_timers(struct loop *l, uint64_t now)
{
	struct loop_timer *t;

	while ((t = l->timers) != NULL && t->when <= now) {
		loop_timer_cancel(l, t);
		t->fn(t->arg);
	}
}

void
loop_post(struct loop *l, struct loop_post *p, void (*fn)(void *), void *arg)
{
	p->fn = fn;
	p->arg = arg;
	p->next = NULL;
	pthread_mutex_lock(&l->post_mtx);
	*l->posts_tail = p;
	l->posts_tail = &p->next;
	pthread_mutex_unlock(&l->post_mtx);
	loop_wake(l);
}

/* ---------------------------------------------------------- connections */

static void
mark_dirty(struct conn *c)
{
	if (c->dirty || c->in_process)
		return;
	c->dirty = 1;
	c->dirty_next = c->loop->dirty;
	c->loop->dirty = c;
}

void
conn_reply(struct conn *c, const struct kbuf *body)
{
	if (c->closing)
		return;
	if (agent_msg_put_framed(c->out, body) != 0)
		c->closing = 1;
	mark_dirty(c);
}

void
conn_reply_code(struct conn *c, uint8_t code)
{
	if (c->closing)
		return;
	if (agent_msg_put_code(c->out, code) != 0)
		c->closing = 1;
	mark_dirty(c);
}

void
conn_reply_sig(struct conn *c, const uint8_t *sig, size_t len)
{
	if (c->closing)
		return;
	if (agent_msg_put_sign_response(c->out, sig, len) != 0)
		c->closing = 1;
	mark_dirty(c);
}

void
conn_suspend(struct conn *c)
{
	c->suspended = 1;
	mark_dirty(c);
}

void
conn_resume(struct conn *c)
{
	c->suspended = 0;
	mark_dirty(c);
}

void
conn_close(struct conn *c)
{
	c->closing = 1;
	mark_dirty(c);
}

static void
conn_update(struct conn *c)
{
	uint32_t want = 0;

	if (!c->suspended && kbuf_len(c->out) < CONN_OUT_HIGH &&
	    !agent_reader_ready(c->in))
		want |= EPOLLIN;
	if (kbuf_len(c->out) > 0)
		want |= EPOLLOUT;
	/* While a request waits, still hear a hang-up to cancel it. */
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
		if (kbuf_consume(c->out, (size_t)n) != 0)
			return -1;
	}
	return 0;
}

static void
log_dropped(const struct conn *c, int r)
{
	log_info("dropping client (uid %ld, pid %ld): %s", (long)c->uid,
	    (long)c->pid, kmes_err(r));
}

/* Handles every whole request while the connection may take more. */
static int
conn_process(struct conn *c)
{
	const struct loop_hooks *h = &c->loop->set->hooks;
	struct kbuf *msg;
	int r;

	while (
	    !c->suspended && !c->closing && kbuf_len(c->out) < CONN_OUT_HIGH) {
		r = agent_reader_message(c->in, &msg);
		if (r == KMES_ERR_MESSAGE_INCOMPLETE)
			return 0;
		if (r != 0)
			return -1;
		c->in_process = 1;
		h->message(c->ctx, msg);
		c->in_process = 0;
		kbuf_free(msg);
		/* Wipes the request: it may have carried a private key. */
		if ((r = agent_reader_consume(c->in)) != 0) {
			log_dropped(c, r);
			return -1;
		}
	}
	return c->closing ? -1 : 0;
}

/* Handles what is buffered, writes what is due, sets the interest. */
static void
conn_service(struct conn *c)
{
	if (c->closing || conn_process(c) != 0 || conn_flush(c) != 0) {
		conn_free(c);
		return;
	}
	conn_update(c);
}

/*
 * Reads straight into the home the reader gives each request: a request
 * that may carry a key, PIN or password goes to locked, no-dump memory
 * from its first body byte, never through an ordinary buffer.
 */
static void
conn_readable(struct conn *c)
{
	int r;

	for (;;) {
		r = agent_reader_recv(c->in, c->fd);
		if (r == KMES_ERR_MESSAGE_INCOMPLETE)
			break;
		if (r == KMES_ERR_CONNECTION_CLOSED)
			goto drop;
		if (r != 0)
			goto hostile;
		/* A whole request: handle it before reading on, so a flood
		 * cannot make us buffer more than one. */
		if (conn_process(c) != 0)
			goto drop;
		if (c->suspended || agent_reader_ready(c->in))
			break;
	}
	conn_service(c);
	return;
hostile:
	log_dropped(c, r);
drop:
	conn_free(c);
}

static void
conn_event(struct conn *c, uint32_t ev)
{
	if (ev & EPOLLERR)
		goto drop;
	if ((ev & EPOLLOUT) && conn_flush(c) != 0)
		goto drop;
	if (ev & EPOLLIN) {
		conn_readable(c);
		return;
	}
	if (ev & (EPOLLHUP | EPOLLRDHUP))
		goto drop;
	/* Output drained below the mark: requests may go on. */
	conn_service(c);
	return;
drop:
	conn_free(c);
}

/* Closes c now: its hooks forget it first. */
static void
conn_free(struct conn *c)
{
	struct loop *l = c->loop;

	if (c->kind != WATCH_CONN)
		return;
	if (c->ctx != NULL)
		l->set->hooks.close(c->ctx);
	c->ctx = NULL;
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
	c->in = NULL;
	c->out = NULL;
	/* A later event of this round, or the dirty list, may name it. */
	c->kind = WATCH_DEAD;
	c->next = l->dead_conns;
	l->dead_conns = c;
}

static void
service_dirty(struct loop *l)
{
	struct conn *c;

	while ((c = l->dirty) != NULL) {
		l->dirty = c->dirty_next;
		c->dirty = 0;
		if (c->kind == WATCH_CONN)
			conn_service(c);
	}
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

int
loop_adopt(struct loop *l, int fd, uid_t uid, pid_t pid)
{
	struct conn *c;
	int r = KMES_ERR_ALLOC;

	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->in = agent_reader_new()) == NULL ||
	    (c->out = kbuf_new()) == NULL)
		goto fail;
	c->kind = WATCH_CONN;
	c->fd = fd;
	c->loop = l;
	c->uid = uid;
	c->pid = pid;
	c->events = EPOLLIN;
	if (epoll_set(l, EPOLL_CTL_ADD, fd, EPOLLIN, c) != 0) {
		r = KMES_ERR_SYSTEM;
		goto fail;
	}
	if ((c->ctx = l->set->hooks.open(l->set->hooks.arg, c, uid, pid)) ==
	    NULL) {
		(void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
		goto fail;
	}
	c->next = l->conns;
	if (l->conns != NULL)
		l->conns->prev = c;
	l->conns = c;
	atomic_fetch_add(&l->nconns, 1);
	log_debug("new connection from uid %ld pid %ld (loop %u)", (long)uid,
	    (long)pid, l->index);
	return 0;
fail:
	if (c != NULL) {
		agent_reader_free(c->in);
		kbuf_free(c->out);
		free(c);
	}
	close(fd);
	return r;
}

void
loop_run_posts(struct loop *l)
{
	struct loop_post *p, *next;

	pthread_mutex_lock(&l->post_mtx);
	p = l->posts;
	l->posts = NULL;
	l->posts_tail = &l->posts;
	pthread_mutex_unlock(&l->post_mtx);
	for (; p != NULL; p = next) {
		next = p->next; /* p may be freed by its function */
		p->fn(p->arg);
	}
}

static int
compute_timeout(struct loop *l, uint64_t now)
{
	struct loopset *s = l->set;
	uint64_t next = 0;

	if (l->index == 0 && s->hooks.tick != NULL &&
	    (atomic_exchange(&s->tick_dirty, 0) ||
		(l->next_tick != 0 && now >= l->next_tick)))
		l->next_tick = s->hooks.tick(s->hooks.arg, now);
	if (l->index == 0)
		next = l->next_tick;
	if (l->timers != NULL && (next == 0 || l->timers->when < next))
		next = l->timers->when;
	if (l->listen_paused_until != 0 &&
	    (next == 0 || l->listen_paused_until < next))
		next = l->listen_paused_until;
	if (next == 0)
		return -1;
	if (next <= now)
		return 0;
	return next - now > LOOP_MAX_SLEEP_MS ? LOOP_MAX_SLEEP_MS :
						(int)(next - now);
}

static void
handle_signal(struct loop *l)
{
	struct signalfd_siginfo si;
	int got = 0;

	while (read(l->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		log_info("received signal %u, exiting", si.ssi_signo);
		got = 1;
	}
	if (got)
		loopset_stop(l->set);
}

int
loop_run_once(struct loop *l, int timeout_ms)
{
	struct epoll_event evs[MAX_EVENTS];
	uint64_t now = agent_now_ms(), v;
	int i, n, t;

	t = compute_timeout(l, now);
	if (timeout_ms >= 0 && (t < 0 || t > timeout_ms))
		t = timeout_ms;
	n = epoll_wait(l->epfd, evs, MAX_EVENTS, t);
	if (n == -1 && errno != EINTR) {
		log_error("epoll_wait: %s", strerror(errno));
		return KMES_ERR_SYSTEM;
	}
	for (i = 0; i < n; i++) {
		enum watch_kind *k = evs[i].data.ptr;

		switch (*k) {
		case WATCH_DEAD:
			break;
		case WATCH_LISTEN:
			loop_accept(l);
			break;
		case WATCH_EVENT:
			(void)!read(l->evfd, &v, sizeof(v));
			loop_run_posts(l);
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
	now = agent_now_ms();
	if (l->listen_paused_until != 0 && now >= l->listen_paused_until) {
		l->listen_paused_until = 0;
		(void)epoll_set(l, EPOLL_CTL_ADD, l->set->listen_fd,
		    EPOLLIN | EPOLLEXCLUSIVE, &l->listen_kind);
	}
	run_timers(l, now);
	service_dirty(l);
	release_dead(l);
	return n > 0 ? n : 0;
}

/* ------------------------------------------------------------ loop sets */

void
loop_free(struct loop *l)
{
	struct fd_watch *w, *wn;

	if (l == NULL)
		return;
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
	pthread_mutex_destroy(&l->post_mtx);
	free(l);
}

struct loop *
loop_new(struct loopset *s, unsigned int i, const sigset_t *sigs)
{
	struct loop *l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->set = s;
	l->index = i;
	l->listen_kind = WATCH_LISTEN;
	l->event_kind = WATCH_EVENT;
	l->signal_kind = WATCH_SIGNAL;
	l->epfd = l->evfd = l->sigfd = -1;
	l->posts_tail = &l->posts;
	pthread_mutex_init(&l->post_mtx, NULL);
	if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    (l->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    epoll_set(l, EPOLL_CTL_ADD, l->evfd, EPOLLIN, &l->event_kind) != 0)
		goto fail;
	if (s->listen_fd >= 0 &&
	    epoll_set(l, EPOLL_CTL_ADD, s->listen_fd, EPOLLIN | EPOLLEXCLUSIVE,
		&l->listen_kind) != 0)
		goto fail;
	if (sigs != NULL) {
		if ((l->sigfd = signalfd(-1, sigs,
			 SFD_NONBLOCK | SFD_CLOEXEC)) == -1 ||
		    epoll_set(l, EPOLL_CTL_ADD, l->sigfd, EPOLLIN,
			&l->signal_kind) != 0)
			goto fail;
	}
	return l;
fail:
	loop_free(l);
	return NULL;
}
