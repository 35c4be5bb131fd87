/*
 * workers.c: the thread pools behind request_offload.
 *
 * The attack this replaces: one thread per offloaded job, each running a
 * 16 MiB scrypt, so 600 connections sending LOCK at once made 600 threads
 * and 7 GB of memory. Here the threads are fixed at start-up and the queue
 * is a fixed array: a client that sends more jobs than fit gets FAILURE at
 * once (the caller sees the error), and the daemon's memory for this work
 * does not grow with the number of clients.
 */
#include <pthread.h>
#include <stdlib.h>

#include "kmes-err.h"
#include "workers.h"

struct job {
	void (*fn)(void *);
	void *arg;
};

struct workers {
	pthread_mutex_t mtx;
	pthread_cond_t cond; /* a job queued, or stopping */
	struct job *q;	     /* ring of qmax */
	unsigned int qmax, head, len;
	unsigned int running;
	int stopping;
	pthread_t *threads;
	unsigned int nthreads;
};

struct workers_gate {
	pthread_mutex_t mtx;
	pthread_cond_t cond;
	unsigned int free;
};

/* Runs the job at the head of w's queue. Called and returns with w->mtx
 * held; the job itself runs without it. */
static void
run_head(struct workers *w)
{
	struct job j = w->q[w->head];

	w->head = (w->head + 1) % w->qmax;
	w->len--;
	w->running++;
	pthread_mutex_unlock(&w->mtx);
	j.fn(j.arg);
	pthread_mutex_lock(&w->mtx);
	w->running--;
}

static void *
worker_main(void *arg)
{
	struct workers *w = arg;

	pthread_mutex_lock(&w->mtx);
	for (;;) {
		while (w->len == 0 && !w->stopping)
			pthread_cond_wait(&w->cond, &w->mtx);
		/* Stopping still drains: every queued job owns a client's
		 * state that only its own callbacks know how to free. */
		if (w->len == 0)
			break;
		run_head(w);
	}
	pthread_mutex_unlock(&w->mtx);
	return NULL;
}

struct workers *
workers_new(unsigned int nthreads, unsigned int qmax)
{
	struct workers *w;
	unsigned int i;

	if (qmax == 0)
		return NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	pthread_mutex_init(&w->mtx, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->qmax = qmax;
	if ((w->q = calloc(qmax, sizeof(*w->q))) == NULL ||
	    (w->threads = calloc(nthreads, sizeof(*w->threads))) == NULL)
		goto fail;
	for (i = 0; i < nthreads; i++) {
		if (pthread_create(&w->threads[i], NULL, worker_main, w) != 0)
			goto fail;
		w->nthreads++;
	}
	return w;
fail:
	workers_free(w);
	return NULL;
}

int
workers_submit(struct workers *w, void (*fn)(void *), void *arg)
{
	int r = 0;

	pthread_mutex_lock(&w->mtx);
	if (w->stopping)
		r = KMES_ERR_DENIED;
	else if (w->len == w->qmax)
		r = KMES_ERR_NO_BUFFER_SPACE;
	else {
		w->q[(w->head + w->len) % w->qmax] = (struct job){ fn, arg };
		w->len++;
		pthread_cond_signal(&w->cond);
	}
	pthread_mutex_unlock(&w->mtx);
	return r;
}

unsigned int
workers_run_queued(struct workers *w)
{
	unsigned int n = 0;

	pthread_mutex_lock(&w->mtx);
	for (; w->len > 0; n++)
		run_head(w);
	pthread_mutex_unlock(&w->mtx);
	return n;
}

unsigned int
workers_busy(struct workers *w)
{
	unsigned int n;

	pthread_mutex_lock(&w->mtx);
	n = w->len + w->running;
	pthread_mutex_unlock(&w->mtx);
	return n;
}

void
workers_free(struct workers *w)
{
	unsigned int i;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mtx);
	w->stopping = 1;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->mtx);
	for (i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	/* A pool without threads drains on the caller's. */
	if (w->nthreads == 0)
		(void)workers_run_queued(w);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->mtx);
	free(w->threads);
	free(w->q);
	free(w);
}

struct workers_gate *
workers_gate_new(unsigned int n)
{
	struct workers_gate *g;

	if (n == 0 || (g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	pthread_mutex_init(&g->mtx, NULL);
	pthread_cond_init(&g->cond, NULL);
	g->free = n;
	return g;
}

void
workers_gate_enter(struct workers_gate *g)
{
	pthread_mutex_lock(&g->mtx);
	while (g->free == 0)
		pthread_cond_wait(&g->cond, &g->mtx);
	g->free--;
	pthread_mutex_unlock(&g->mtx);
}

void
workers_gate_leave(struct workers_gate *g)
{
	pthread_mutex_lock(&g->mtx);
	g->free++;
	pthread_cond_signal(&g->cond);
	pthread_mutex_unlock(&g->mtx);
}

void
workers_gate_free(struct workers_gate *g)
{
	if (g == NULL)
		return;
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->mtx);
	free(g);
}
