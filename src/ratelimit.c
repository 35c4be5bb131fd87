/*
 * ratelimit.c: how fast anyone may guess a secret the agent checks.
 *
 * The attack this stops: a client that opens a new connection for every
 * guess and never reads a reply. A delay applied to "this connection's
 * reply" slows nobody like that, so all state here is global and a guess
 * is counted when it is admitted, wherever its reply goes.
 *
 * Three rules, each for its own attacker:
 * - a token bucket (burst, then one guess per refill): the hard cap on
 *   the rate of any mix of connections and secrets, whatever the outcomes;
 * - at most max_inflight guesses being checked at once: parallel
 *   connections cannot race ahead of the verdicts that would slow them;
 * - after a wrong guess the next one waits delay_base, doubling with each
 *   consecutive failure up to delay_max: a sustained attack falls to one
 *   guess per delay_max.
 * A guess that does not pass is refused at once; nothing queues, so no
 * client can pile up state here. The reply to a wrong guess is held until
 * the next guess would pass (rl_done's result), so a client that waits for
 * its replies, like ssh-add, only ever sees a slow "no", as with ssh-agent.
 *
 * The legitimate user after an attack: the delay is capped and the bucket
 * refills in refill_ms, so once the attacker stops, a guess is admitted
 * within delay_max (4 s); a typo then costs at most another delay_max,
 * never minutes. A right guess ends the delay and gives its bucket turn
 * back (so does a request refused before any secret was checked), and
 * failures are forgotten after forget_ms without one. A client
 * that knows one secret (say a lock password it set itself) gains nothing
 * against another from that: right guesses only give back what they took,
 * so wrong ones still get at most burst, then one per refill_ms; and the
 * delay it can clear only guards the lock password, which it cannot use
 * while the agent is locked (the store and tokens count their own tries).
 */
#include <pthread.h>
#include <stdlib.h>

#include "kmes-err.h"
#include "ratelimit.h"

struct ratelimit {
	struct rl_params p;
	rl_clock_fn clock;
	void *clock_arg;
	pthread_mutex_t mtx;
	uint64_t credit_ms; /* bucket: refill_ms per guess, capped */
	uint64_t credit_at; /* when credit_ms was last brought up to date */
	unsigned int inflight;
	unsigned int failures; /* consecutive wrong guesses */
	uint64_t last_fail;    /* when the last one was known */
	uint64_t not_before;   /* no guess admitted before this */
};

const struct rl_params rl_daemon_params = {
	.burst = RL_BURST,
	.refill_ms = RL_REFILL_MS,
	.max_inflight = RL_MAX_INFLIGHT,
	.delay_base_ms = RL_DELAY_BASE_MS,
	.delay_max_ms = RL_DELAY_MAX_MS,
	.forget_ms = RL_FORGET_MS,
};

struct ratelimit *
rl_new(const struct rl_params *p, rl_clock_fn clock, void *clock_arg)
{
	struct ratelimit *rl;

	if (p->burst == 0 || p->refill_ms == 0 || p->max_inflight == 0)
		return NULL;
	if ((rl = calloc(1, sizeof(*rl))) == NULL)
		return NULL;
	rl->p = *p;
	rl->clock = clock;
	rl->clock_arg = clock_arg;
	pthread_mutex_init(&rl->mtx, NULL);
	rl->credit_ms = (uint64_t)p->burst * p->refill_ms;
	rl->credit_at = clock(clock_arg);
	return rl;
}

void
rl_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	pthread_mutex_destroy(&rl->mtx);
	free(rl);
}

/* Brings the bucket and the failure memory up to now. Caller holds mtx. */
static void
advance(struct ratelimit *rl, uint64_t now)
{
	uint64_t cap = (uint64_t)rl->p.burst * rl->p.refill_ms;

	/* A clock that steps back refills nothing. */
	if (now > rl->credit_at) {
		rl->credit_ms += now - rl->credit_at;
		if (rl->credit_ms > cap)
			rl->credit_ms = cap;
		rl->credit_at = now;
	}
	if (rl->failures != 0 && now >= rl->last_fail &&
	    now - rl->last_fail >= rl->p.forget_ms)
		rl->failures = 0;
}

int
rl_admit(struct ratelimit *rl, uint64_t *retry_ms)
{
	uint64_t now, wait = 0;
	int r = KMES_ERR_DENIED;

	pthread_mutex_lock(&rl->mtx);
	now = rl->clock(rl->clock_arg);
	advance(rl, now);
	if (rl->not_before > now)
		wait = rl->not_before - now;
	if (rl->credit_ms < rl->p.refill_ms &&
	    rl->p.refill_ms - rl->credit_ms > wait)
		wait = rl->p.refill_ms - rl->credit_ms;
	if (rl->inflight >= rl->p.max_inflight) {
		/* The verdicts are due within one check; say the least. */
		if (wait == 0)
			wait = rl->p.delay_base_ms;
		goto out;
	}
	if (wait != 0)
		goto out;
	rl->credit_ms -= rl->p.refill_ms;
	rl->inflight++;
	r = 0;
out:
	pthread_mutex_unlock(&rl->mtx);
	if (retry_ms != NULL)
		*retry_ms = r == 0 ? 0 : wait;
	return r;
}

/* Gives an admitted guess's bucket turn back. Caller holds mtx. */
static void
refund(struct ratelimit *rl)
{
	uint64_t cap = (uint64_t)rl->p.burst * rl->p.refill_ms;

	rl->credit_ms += rl->p.refill_ms;
	if (rl->credit_ms > cap)
		rl->credit_ms = cap;
}

uint64_t
rl_done(struct ratelimit *rl, enum rl_outcome o)
{
	uint64_t now, delay, wait = 0;
	unsigned int shift;

	pthread_mutex_lock(&rl->mtx);
	now = rl->clock(rl->clock_arg);
	advance(rl, now);
	if (rl->inflight > 0)
		rl->inflight--;
	switch (o) {
	case RL_RIGHT:
		/* A right guess gives its turn back: the bucket meters only
		 * guesses that could be an attacker's, and a user adding
		 * tokens and unlocking in a row is never refused. */
		refund(rl);
		rl->failures = 0;
		rl->not_before = 0;
		break;
	case RL_WRONG:
		if (rl->failures < 64)
			rl->failures++;
		rl->last_fail = now;
		shift = rl->failures - 1;
		if (shift > 31 ||
		    (rl->p.delay_base_ms << shift) > rl->p.delay_max_ms)
			delay = rl->p.delay_max_ms;
		else
			delay = rl->p.delay_base_ms << shift;
		/* Two verdicts close together: the later wait wins. */
		if (now + delay > rl->not_before)
			rl->not_before = now + delay;
		wait = rl->not_before - now;
		if (rl->credit_ms < rl->p.refill_ms &&
		    rl->p.refill_ms - rl->credit_ms > wait)
			wait = rl->p.refill_ms - rl->credit_ms;
		break;
	case RL_NEUTRAL:
		/* Refused before any secret was checked (a module file that
		 * is not loaded, a provider already added): not a guess. */
		refund(rl);
		break;
	}
	pthread_mutex_unlock(&rl->mtx);
	return wait;
}

unsigned int
rl_inflight(struct ratelimit *rl)
{
	unsigned int n;

	pthread_mutex_lock(&rl->mtx);
	n = rl->inflight;
	pthread_mutex_unlock(&rl->mtx);
	return n;
}
