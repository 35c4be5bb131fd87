/*
 * bench.h: kmes-bench internals (bench/ only). The benchmark runs
 * kmes-agent and OpenSSH's ssh-agent side by side, under the same keys,
 * data sizes and client counts, and prints a Markdown comparison.
 */
#ifndef KMES_BENCH_H
#define KMES_BENCH_H

#include <sys/types.h>

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

/* Latency samples kept per client thread; signing goes on past the cap. */
#define BENCH_SAMPLES_MAX (2u * 1000 * 1000)
/* Most client threads in one cell. */
#define BENCH_CLIENTS_MAX 8
/* Bytes signed per request: a fresh length in [MIN, MAX] every time. */
#define BENCH_DATA_MIN 32
#define BENCH_DATA_MAX 64

/* One agent process under test. */
struct bench_agent {
	const char *name; /* "kmes-agent", "ssh-agent" */
	const char *path;
	char sock[PATH_MAX];
	char log[PATH_MAX]; /* its stdout and stderr */
	pid_t pid;	    /* -1 when not running */
	long hwm_kb;	    /* VmHWM just before it was stopped */
	long rss_kb;	    /* VmRSS at the same moment */
	int exit_status;    /* wait status once stopped */
};

/* One key type, generated once and loaded into both agents. */
struct bench_key {
	const char *label; /* "Ed25519" */
	enum ks_key_type type;
	unsigned int bits;
	uint32_t flags;	    /* SIGN_REQUEST flags */
	const char *sigalg; /* algorithm every signature must name */
	double target;	    /* wanted kmes/ssh-agent throughput ratio */
	const char *token;  /* key label on the SoftHSM2 token, or NULL */
	double ceiling1;    /* in-process signatures/s, one thread */
	double ceiling2;    /* the same on SCALING_CORES threads */
	struct ks_key *key;
	const uint8_t *blob;
	size_t blob_len;
};

/* What one agent did in one cell (key type x client count). */
struct bench_result {
	uint64_t nsig;	   /* signatures answered in the window */
	uint64_t nsamples; /* latencies recorded (capped per thread) */
	double secs;	   /* window length as measured */
	double rate;	   /* nsig / secs */
	double p50_us;
	double p99_us;
	int verified;  /* signatures checked with ks_key_verify */
	int failed;    /* a request failed or a signature was bad */
	char why[160]; /* first failure, for the report */
};

/* Latency arrays reused from cell to cell, one per client slot. */
struct bench_samples {
	uint32_t *lat[BENCH_CLIENTS_MAX]; /* nanoseconds, saturating */
	size_t n[BENCH_CLIENTS_MAX];	  /* recorded in this cell */
	uint32_t *merged;		  /* scratch for percentiles */
	size_t merged_cap;
};

/* agents.c */

/*
 * Starts a->path with "-D -a a->sock" (output to a->log) and waits up to
 * timeout_ms for the socket to accept connections. Returns 0 or a negative
 * KMES_ERR_*.
 */
int bench_agent_start(struct bench_agent *a, int timeout_ms);

/* Reads VmHWM and VmRSS, then stops a with SIGTERM (SIGKILL if it lingers). */
void bench_agent_stop(struct bench_agent *a);

/* Returns 1 if a is still running (not exited, not a zombie), else 0. */
int bench_agent_alive(struct bench_agent *a);

/* Adds k to the agent as ssh-add would. Returns 0 or a negative KMES_ERR_*. */
int bench_agent_add(const struct bench_agent *a, const struct bench_key *k);

/* token.c: the PKCS#11 rows (SoftHSM2). */

/*
 * Makes a private SoftHSM2 token under dir with a key for every entry of
 * keys that names one, and exports SOFTHSM2_CONF for the agents started
 * after it. Returns 0, or -1 with a message on stderr.
 */
int bench_token_prepare(const char *dir, struct bench_key *keys, size_t nkeys);

/* Loads the token's module into a, as ssh-add -s does. Returns 0 or KMES_ERR_*. */
int bench_token_add(const struct bench_agent *a);

/*
 * Finds k's token key in a's list: sets k->key and k->blob the first time,
 * else checks a serves the same key. Returns 0 or a negative KMES_ERR_*.
 */
int bench_token_key(const struct bench_agent *a, struct bench_key *k);

/* Removes the token directory. */
void bench_token_cleanup(void);

/* measure.c */

/*
 * Runs one slice of a cell: nclients threads, each on its own connection
 * to sock, sign with k in a closed loop for seconds. Adds what they did to
 * *res and their latencies to s; a failed request or a bad signature is
 * counted in res->failed. Returns 0, or a negative KMES_ERR_* if the slice
 * could not be run at all.
 */
int bench_run_slice(const char *sock, const struct bench_key *k,
    unsigned int nclients, double seconds, struct bench_samples *s,
    struct bench_result *res);

/*
 * Turns the slices of a cell into a rate and latency percentiles. Returns
 * 0 or a negative KMES_ERR_*.
 */
int bench_cell_finish(struct bench_samples *s, unsigned int nclients,
    struct bench_result *res);

/*
 * Signs with k in-process on nthreads threads for seconds: what the cores
 * can do with no agent and no socket in the way, in signatures/s. Returns
 * 0 or a negative KMES_ERR_*.
 */
int bench_sign_ceiling(const struct bench_key *k, unsigned int nthreads,
    double seconds, double *rate);

/* Allocates the sample arrays. Returns 0 or a negative KMES_ERR_*. */
int bench_samples_init(struct bench_samples *s);

/* Forgets the samples of the previous cell. */
void bench_samples_rewind(struct bench_samples *s);

/* Frees the sample arrays; accepts a zeroed struct. */
void bench_samples_free(struct bench_samples *s);

#endif /* KMES_BENCH_H */
