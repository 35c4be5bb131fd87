/*
 * loopset.c: the event loops together. One loop per core (up to the
 * caller's count), each on its own thread but loop 0, which runs on the
 * caller's; the listening socket sits in every loop's epoll set with
 * EPOLLEXCLUSIVE, and the loop that accepts a client hands it to the loop
 * with the fewest, so concurrent signers use every core.
 */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "kmes-err.h"
#include "log.h"
#include "loop-int.h"
#include "loop.h"

/* How long a loop keeps polling after activity before it sleeps. */
#define LOOP_SPIN_US 200

/* A connection accepted by one loop for another, less busy one. */
struct handoff {
	struct loop_post post;
	struct loop *loop;
	int fd;
	struct ucred cred;
};

/* On the target loop. */
static void
adopt_handoff(void *arg)
{
	struct handoff *h = arg;

	/* Counted when handed over; loop_adopt counts again. */
	atomic_fetch_sub(&h->loop->nconns, 1);
	(void)loop_adopt(h->loop, h->fd, h->cred.uid, h->cred.pid);
	free(h);
}

/* Spread connections evenly so concurrent signers use every core. */
static struct loop *
pick_loop(struct loop *self)
{
	struct loopset *s = self->set;
	struct loop *best = self;
	unsigned int i, n, best_n = atomic_load(&self->nconns);

	for (i = 0; i < s->n; i++) {
		n = atomic_load(&s->loops[i]->nconns);
		if (n < best_n) {
			best = s->loops[i];
			best_n = n;
		}
	}
	return best;
}

void
loop_accept(struct loop *l)
{
	struct loopset *s = l->set;
	struct ucred cred;
	struct handoff *h;
	struct loop *target;
	socklen_t len;
	int fd;

	for (;;) {
		fd = accept4(s->listen_fd, NULL, NULL,
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
				    s->listen_fd, NULL);
			}
			return;
		}
		len = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
			log_error("getsockopt SO_PEERCRED: %s",
			    strerror(errno));
			close(fd);
			continue;
		}
		if (cred.uid != 0 && cred.uid != s->owner) {
			log_error("refusing connection from uid %ld pid %ld: "
				  "not the agent's owner (uid %ld)",
			    (long)cred.uid, (long)cred.pid, (long)s->owner);
			close(fd);
			continue;
		}
		target = pick_loop(l);
		if (target == l) {
			(void)loop_adopt(l, fd, cred.uid, cred.pid);
			continue;
		}
		if ((h = calloc(1, sizeof(*h))) == NULL) {
			close(fd);
			continue;
		}
		h->fd = fd;
		h->cred = cred;
		h->loop = target;
		/* Counted now, so the next accept sees it. */
		atomic_fetch_add(&target->nconns, 1);
		loop_post(target, &h->post, adopt_handoff, h);
	}
}

static void *
loop_thread(void *arg)
{
	struct loop *l = arg;
	struct loopset *s = l->set;
	uint64_t busy_until = 0;
	int timeout;

	while (!atomic_load(s->quit)) {
		/*
		 * Right after serving a request, poll without sleeping for a
		 * moment: a client signing in a loop sends its next request
		 * within microseconds, and waking a sleeping CPU costs more
		 * than the signature itself on virtual machines.
		 */
		timeout = agent_now_us() < busy_until ? 0 : -1;
		if (loop_run_once(l, timeout) > 0)
			busy_until = agent_now_us() + LOOP_SPIN_US;
	}
	if (s->hooks.thread_end != NULL)
		s->hooks.thread_end(s->hooks.arg);
	return NULL;
}

struct loopset *
loopset_new(unsigned int n, int listen_fd, uid_t owner,
    const struct loop_hooks *hooks, atomic_int *quit, int catch_signals,
    int catch_int)
{
	struct loopset *s;
	sigset_t set;
	unsigned int i;

	if (n == 0 || (s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->hooks = *hooks;
	s->listen_fd = listen_fd;
	s->owner = owner;
	s->quit = quit;
	atomic_store(&s->tick_dirty, 1);
	if ((s->loops = calloc(n, sizeof(*s->loops))) == NULL)
		goto fail;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (catch_int)
		sigaddset(&set, SIGINT);
	for (i = 0; i < n; i++) {
		if ((s->loops[i] = loop_new(s, i,
			 i == 0 && catch_signals ? &set : NULL)) == NULL)
			goto fail;
		s->n++;
	}
	return s;
fail:
	loopset_free(s);
	return NULL;
}

int
loopset_run(struct loopset *s)
{
	unsigned int i;
	int r = 0;

	/* Loop 0 runs on the calling thread; the rest get their own. */
	for (i = 1; i < s->n; i++) {
		if (pthread_create(&s->loops[i]->thread, NULL, loop_thread,
			s->loops[i]) != 0) {
			loopset_stop(s);
			r = KMES_ERR_SYSTEM;
			break;
		}
	}
	if (r == 0)
		loop_thread(s->loops[0]);
	for (i = 1; i < s->n; i++) {
		if (s->loops[i]->thread != 0)
			pthread_join(s->loops[i]->thread, NULL);
		s->loops[i]->thread = 0;
	}
	return r;
}

void
loopset_free(struct loopset *s)
{
	unsigned int i;

	if (s == NULL)
		return;
	/* Completions still posted free their state, then the clients go. */
	for (i = 0; i < s->n; i++)
		loop_run_posts(s->loops[i]);
	for (i = 0; i < s->n; i++)
		loop_free(s->loops[i]);
	free(s->loops);
	free(s);
}

unsigned int
loopset_count(const struct loopset *s)
{
	return s->n;
}

struct loop *
loopset_loop(struct loopset *s, unsigned int i)
{
	return i < s->n ? s->loops[i] : NULL;
}

void
loopset_kick(struct loopset *s)
{
	atomic_store(&s->tick_dirty, 1);
	loop_wake(s->loops[0]);
}

void
loopset_stop(struct loopset *s)
{
	unsigned int i;

	atomic_store(s->quit, 1);
	for (i = 0; i < s->n; i++)
		loop_wake(s->loops[i]);
}
