/*
 * ratelimit.h: one limiter for every secret a client can guess (the
 * agent's lock password, the store PIN, a token PIN), shared by all
 * connections: a token bucket that only wrong guesses use up, a bound on
 * guesses being checked at once, and a capped delay that grows with
 * consecutive failures.
 */
#ifndef KMES_RATELIMIT_H
#define KMES_RATELIMIT_H

#include <stdint.h>

struct ratelimit;

struct rl_params {
	unsigned int burst;	   /* guesses admitted back to back */
	uint64_t refill_ms;	   /* one more guess every refill_ms */
	unsigned int max_inflight; /* guesses being checked at once */
	uint64_t delay_base_ms;	   /* wait after the first failure */
	uint64_t delay_max_ms;	   /* cap of the doubling wait */
	uint64_t forget_ms;	   /* quiet time that clears failures */
};

/* The daemon's values; kmes-agent(1) LIMITS quotes them. */
#define RL_BURST 3
#define RL_REFILL_MS 1000
#define RL_MAX_INFLIGHT 2
#define RL_DELAY_BASE_MS 250
#define RL_DELAY_MAX_MS 4000
#define RL_FORGET_MS 60000
/* Those values as one set, for the daemon and its tests. */
extern const struct rl_params rl_daemon_params;

/* How a guess ended. */
enum rl_outcome {
	RL_RIGHT,   /* the secret was right: the failure delay ends */
	RL_WRONG,   /* a wrong secret: the next guess waits longer */
	RL_NEUTRAL, /* refused before any secret was checked */
};

/* Monotonic milliseconds; injected so tests can drive time. */
typedef uint64_t (*rl_clock_fn)(void *arg);

/* Returns a new limiter, or NULL when out of memory. */
struct ratelimit *rl_new(const struct rl_params *p, rl_clock_fn clock,
    void *clock_arg);
/* Frees rl; accepts NULL. */
void rl_free(struct ratelimit *rl);
/*
 * Admits one guess or refuses it at once (nothing queues). Returns 0 when
 * admitted (the caller must later call rl_done exactly once), else
 * KMES_ERR_DENIED with the milliseconds until a guess could be admitted
 * in *retry_ms (when retry_ms is not NULL).
 */
int rl_admit(struct ratelimit *rl, uint64_t *retry_ms)
    __attribute__((warn_unused_result));
/*
 * Ends an admitted guess with its outcome. Returns the milliseconds until
 * the next guess could be admitted (0 after RL_RIGHT): holding a wrong
 * guess's reply that long means a client that waits for its replies, as
 * ssh-add does, is never refused.
 */
uint64_t rl_done(struct ratelimit *rl, enum rl_outcome o);
/* Guesses admitted and not yet done (for tests and logs). */
unsigned int rl_inflight(struct ratelimit *rl);

#endif /* KMES_RATELIMIT_H */
