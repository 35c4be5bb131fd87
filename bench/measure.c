/*
 * measure.c: one benchmark cell. N client threads, each on its own
 * connection, sign in a closed loop until a shared deadline; every request's
 * latency goes into a preallocated array, and the first and the latest
 * signature of every client are verified afterwards, so an agent that
 * answers quickly with garbage shows up as a failure, not as a winner.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent-client.h"
#include "agent-msg.h"
#include "bench.h"
#include "kbuf.h"
#include "kmes-err.h"

/* Room for an RSA-16384 signature blob with its algorithm name. */
#define BENCH_SIG_MAX (2048 + 64)
/* Untimed requests per client before the window opens. */
#define BENCH_WARMUP 3

struct cell {
	const char *sock;
	const struct bench_key *key;
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	int go; /* 0 wait, 1 run, -1 give up */
	uint64_t deadline_ns;
};

/* A signature kept for checking once the window has closed. */
struct kept_sig {
	uint8_t data[BENCH_DATA_MAX];
	size_t dlen;
	uint8_t sig[BENCH_SIG_MAX];
	size_t siglen;
};

struct worker {
	struct cell *cell;
	unsigned int idx;
	pthread_t thread;
	int started;
	struct agent_client *ac;
	uint64_t rng;
	uint32_t *lat;	/* where this slice's samples go */
	size_t lat_cap; /* room left there */
	size_t nlat;
	uint64_t nsig;
	uint64_t end_ns;
	int r; /* first failure, 0 if none */
	struct kept_sig first;
	struct kept_sig latest;
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: cheap, and the same sequence for both agents. */
static uint64_t
rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

static void
fill_data(uint64_t *rng, uint8_t *data, size_t *dlenp)
{
	uint64_t v = 0;
	size_t i, dlen;

	dlen = BENCH_DATA_MIN +
	    rng_next(rng) % (BENCH_DATA_MAX - BENCH_DATA_MIN + 1);
	for (i = 0; i < dlen; i++) {
		if (i % 8 == 0)
			v = rng_next(rng);
		data[i] = (uint8_t)(v >> (8 * (i % 8)));
	}
	*dlenp = dlen;
}

/*
 * One SIGN_REQUEST over w's connection; on success *sigp and *siglenp point
 * into reply. Returns 0 or a negative KMES_ERR_*.
 */
static int
sign_once(struct worker *w, struct kbuf *req, struct kbuf *reply,
    const uint8_t *data, size_t dlen, const uint8_t **sigp, size_t *siglenp)
{
	const struct bench_key *k = w->cell->key;
	uint8_t code;
	int r;

	*sigp = NULL;
	*siglenp = 0;
	kbuf_reset(req);
	if ((r = kbuf_put_u8(req, SSH_AGENTC_SIGN_REQUEST)) != 0 ||
	    (r = kbuf_put_string(req, k->blob, k->blob_len)) != 0 ||
	    (r = kbuf_put_string(req, data, dlen)) != 0 ||
	    (r = kbuf_put_u32(req, k->flags)) != 0 ||
	    (r = agent_client_request(w->ac, req, reply)) != 0 ||
	    (r = kbuf_get_u8(reply, &code)) != 0)
		return r;
	if (code != SSH_AGENT_SIGN_RESPONSE)
		return code == SSH_AGENT_FAILURE ? KMES_ERR_AGENT_FAILURE :
						   KMES_ERR_AGENT_PROTOCOL;
	if ((r = kbuf_get_string_direct(reply, sigp, siglenp)) != 0)
		return r;
	if (kbuf_len(reply) != 0)
		return KMES_ERR_INVALID_FORMAT;
	return 0;
}

static int
keep(struct kept_sig *ks, const uint8_t *data, size_t dlen, const uint8_t *sig,
    size_t siglen)
{
	if (siglen > sizeof(ks->sig))
		return KMES_ERR_MESSAGE_TOO_LARGE;
	memcpy(ks->data, data, dlen);
	ks->dlen = dlen;
	memcpy(ks->sig, sig, siglen);
	ks->siglen = siglen;
	return 0;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct cell *c = w->cell;
	struct kbuf *req = NULL, *reply = NULL;
	uint8_t data[BENCH_DATA_MAX];
	const uint8_t *sig;
	size_t dlen, siglen;
	uint64_t t0, t1, lat;
	int go, i, r;

	if ((req = kbuf_new()) == NULL || (reply = kbuf_new()) == NULL) {
		r = KMES_ERR_ALLOC;
		goto wait;
	}
	/* First requests on a connection may pay for lazy setup: untimed. */
	for (i = 0, r = 0; i < BENCH_WARMUP && r == 0; i++) {
		fill_data(&w->rng, data, &dlen);
		r = sign_once(w, req, reply, data, dlen, &sig, &siglen);
	}
wait:
	pthread_mutex_lock(&c->mtx);
	while (c->go == 0)
		pthread_cond_wait(&c->cv, &c->mtx);
	go = c->go;
	pthread_mutex_unlock(&c->mtx);
	if (r != 0 || go != 1)
		goto out;

	for (;;) {
		fill_data(&w->rng, data, &dlen);
		if ((t0 = now_ns()) >= c->deadline_ns)
			break;
		if ((r = sign_once(w, req, reply, data, dlen, &sig, &siglen)) !=
		    0)
			goto out;
		t1 = now_ns();
		lat = t1 - t0;
		/* Past the cap we still sign and count, but stop recording. */
		if (w->nlat < w->lat_cap)
			w->lat[w->nlat++] = lat > UINT32_MAX ? UINT32_MAX :
							       (uint32_t)lat;
		if ((r = keep(w->nsig == 0 ? &w->first : &w->latest, data, dlen,
			 sig, siglen)) != 0)
			goto out;
		w->nsig++;
		w->end_ns = t1;
	}
	r = 0;
out:
	w->r = r;
	kbuf_free(req);
	kbuf_free(reply);
	return NULL;
}

/* Checks the algorithm name and the signature itself. */
static int
check_sig(const struct bench_key *k, const struct kept_sig *ks)
{
	struct kbuf *b = NULL;
	const uint8_t *alg;
	size_t alen;
	int r;

	if ((b = kbuf_from(ks->sig, ks->siglen)) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	if ((r = kbuf_get_string_direct(b, &alg, &alen)) != 0)
		goto out;
	/* RSA with flag 4 must come back as rsa-sha2-512, not SHA-1. */
	if (alen != strlen(k->sigalg) || memcmp(alg, k->sigalg, alen) != 0) {
		r = KMES_ERR_SIGNATURE_INVALID;
		goto out;
	}
	r = ks_key_verify(k->key, ks->sig, ks->siglen, ks->data, ks->dlen);
out:
	kbuf_free(b);
	return r;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of n sorted samples, in microseconds. */
static double
percentile_us(const uint32_t *v, size_t n, unsigned int pct)
{
	size_t rank;

	if (n == 0)
		return 0;
	rank = (n * pct + 99) / 100;
	if (rank == 0)
		rank = 1;
	return (double)v[rank - 1] / 1000.0;
}

int
bench_cell_finish(struct bench_samples *s, unsigned int nclients,
    struct bench_result *res)
{
	uint32_t *m;
	size_t total = 0, off = 0;
	unsigned int i;

	if (nclients > BENCH_CLIENTS_MAX)
		return KMES_ERR_INVALID_ARGUMENT;
	if (res->secs > 0)
		res->rate = (double)res->nsig / res->secs;
	for (i = 0; i < nclients; i++)
		total += s->n[i];
	if (total > s->merged_cap) {
		if ((m = realloc(s->merged, total * sizeof(*m))) == NULL)
			return KMES_ERR_ALLOC;
		s->merged = m;
		s->merged_cap = total;
	}
	for (i = 0; i < nclients; i++) {
		if (s->n[i] == 0)
			continue;
		memcpy(s->merged + off, s->lat[i], s->n[i] * sizeof(uint32_t));
		off += s->n[i];
	}
	qsort(s->merged, total, sizeof(uint32_t), cmp_u32);
	res->nsamples = total;
	res->p50_us = percentile_us(s->merged, total, 50);
	res->p99_us = percentile_us(s->merged, total, 99);
	return 0;
}

static void
fail(struct bench_result *res, unsigned int idx, const char *what, int r)
{
	if (res->failed++ != 0)
		return;
	snprintf(res->why, sizeof(res->why), "client %u: %s%s", idx, what,
	    kmes_err(r));
}

static void
start_all(struct cell *c, int go, double seconds)
{
	pthread_mutex_lock(&c->mtx);
	c->deadline_ns = now_ns() + (uint64_t)(seconds * 1e9);
	c->go = go;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mtx);
}

int
bench_run_slice(const char *sock, const struct bench_key *k,
    unsigned int nclients, double seconds, struct bench_samples *s,
    struct bench_result *res)
{
	struct worker w[BENCH_CLIENTS_MAX];
	struct cell c;
	uint64_t t0, end = 0;
	unsigned int i;
	int r, go = 1;

	if (nclients == 0 || nclients > BENCH_CLIENTS_MAX || seconds <= 0)
		return KMES_ERR_INVALID_ARGUMENT;
	memset(&c, 0, sizeof(c));
	memset(w, 0, sizeof(w));
	c.sock = sock;
	c.key = k;
	pthread_mutex_init(&c.mtx, NULL);
	pthread_cond_init(&c.cv, NULL);

	for (i = 0; i < nclients; i++) {
		w[i].cell = &c;
		w[i].idx = i;
		/* Append to what earlier slices of this cell recorded. */
		w[i].lat = s->lat[i] + s->n[i];
		w[i].lat_cap = BENCH_SAMPLES_MAX - s->n[i];
		w[i].rng = 0x9e3779b97f4a7c15ULL * (i + 1);
		if ((r = agent_client_connect(sock, &w[i].ac)) != 0) {
			fail(res, i, "connect: ", r);
			go = -1;
			break;
		}
		if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) !=
		    0) {
			fail(res, i, "thread: ", KMES_ERR_SYSTEM);
			go = -1;
			break;
		}
		w[i].started = 1;
	}
	t0 = now_ns();
	start_all(&c, go, seconds);
	for (i = 0; i < nclients; i++) {
		if (w[i].started)
			pthread_join(w[i].thread, NULL);
	}
	for (i = 0; i < nclients; i++) {
		agent_client_free(w[i].ac);
		if (!w[i].started)
			continue;
		if (w[i].r != 0)
			fail(res, i, "", w[i].r);
		if (w[i].end_ns > end)
			end = w[i].end_ns;
		res->nsig += w[i].nsig;
		s->n[i] += w[i].nlat;
		if (w[i].nsig > 0) {
			if ((r = check_sig(k, &w[i].first)) != 0)
				fail(res, i, "first signature: ", r);
			else
				res->verified++;
		}
		if (w[i].nsig > 1) {
			if ((r = check_sig(k, &w[i].latest)) != 0)
				fail(res, i, "last signature: ", r);
			else
				res->verified++;
		}
	}
	if (go == 1 && end <= t0 && res->failed == 0)
		fail(res, 0, "no signature in the window: ", KMES_ERR_TIMEOUT);
	if (end > t0)
		res->secs += (double)(end - t0) / 1e9;
	pthread_cond_destroy(&c.cv);
	pthread_mutex_destroy(&c.mtx);
	return 0;
}

struct ceiling_job {
	const struct bench_key *key;
	uint64_t deadline_ns;
	uint64_t n;
	uint64_t end_ns;
	int r;
};

static void *
ceiling_main(void *arg)
{
	struct ceiling_job *j = arg;
	struct kbuf *sig;
	uint8_t data[BENCH_DATA_MAX];
	uint64_t rng = 0x5eed;
	size_t dlen;

	if ((sig = kbuf_new()) == NULL) {
		j->r = KMES_ERR_ALLOC;
		return NULL;
	}
	while ((j->end_ns = now_ns()) < j->deadline_ns) {
		fill_data(&rng, data, &dlen);
		kbuf_reset(sig);
		if ((j->r = ks_key_sign(j->key->key, data, dlen, j->key->flags,
			 sig)) != 0)
			break;
		j->n++;
	}
	kbuf_free(sig);
	return NULL;
}

int
bench_sign_ceiling(const struct bench_key *k, unsigned int nthreads,
    double seconds, double *rate)
{
	struct ceiling_job jobs[BENCH_CLIENTS_MAX];
	pthread_t th[BENCH_CLIENTS_MAX];
	uint64_t t0, end = 0, n = 0;
	unsigned int i, started = 0;
	int r = 0;

	*rate = 0;
	if (nthreads == 0 || nthreads > BENCH_CLIENTS_MAX || seconds <= 0)
		return KMES_ERR_INVALID_ARGUMENT;
	memset(jobs, 0, sizeof(jobs));
	t0 = now_ns();
	for (i = 0; i < nthreads; i++) {
		jobs[i].key = k;
		jobs[i].deadline_ns = t0 + (uint64_t)(seconds * 1e9);
		if (pthread_create(&th[i], NULL, ceiling_main, &jobs[i]) != 0) {
			r = KMES_ERR_SYSTEM;
			break;
		}
		started++;
	}
	for (i = 0; i < started; i++) {
		pthread_join(th[i], NULL);
		if (r == 0)
			r = jobs[i].r;
		n += jobs[i].n;
		if (jobs[i].end_ns > end)
			end = jobs[i].end_ns;
	}
	if (r == 0 && end > t0)
		*rate = (double)n / ((double)(end - t0) / 1e9);
	return r;
}

int
bench_samples_init(struct bench_samples *s)
{
	unsigned int i;

	memset(s, 0, sizeof(*s));
	/* Untouched pages cost nothing: only what a cell records is paid. */
	for (i = 0; i < BENCH_CLIENTS_MAX; i++) {
		if ((s->lat[i] = malloc(
			 BENCH_SAMPLES_MAX * sizeof(uint32_t))) == NULL) {
			bench_samples_free(s);
			return KMES_ERR_ALLOC;
		}
	}
	return 0;
}

void
bench_samples_rewind(struct bench_samples *s)
{
	memset(s->n, 0, sizeof(s->n));
}

void
bench_samples_free(struct bench_samples *s)
{
	unsigned int i;

	for (i = 0; i < BENCH_CLIENTS_MAX; i++)
		free(s->lat[i]);
	free(s->merged);
	memset(s, 0, sizeof(*s));
}
