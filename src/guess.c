/*
 * guess.c: where a client's guess at a secret meets the global limiter
 * (ratelimit.c): the agent's lock password (ssh-add -X while locked), the
 * store PIN (ssh-add -X while the store is locked) and a token PIN
 * (ssh-add -s). Refusals are logged and audited like wrong guesses, so an
 * attack shows in the audit log even when it gets nowhere.
 */
#include <stdatomic.h>

#include "agent.h"
#include "audit.h"
#include "clock.h"
#include "guess.h"
#include "kmes-err.h"
#include "log.h"
#include "policy.h"
#include "ratelimit.h"
#include "request.h"

static uint64_t
guess_clock(void *arg)
{
	(void)arg;
	return agent_now_ms();
}

struct ratelimit *
guess_limiter_new(void)
{
	return rl_new(&rl_daemon_params, guess_clock, NULL);
}

int
guess_refuse_remote(const struct peer *p, const char *target)
{
	/*
	 * A PIN login from the far end of ssh -A would let anyone with a
	 * shell on that host burn the store's or the token's tries (ten in
	 * 0.11 s) and block it; ssh-agent has no such login at all. The
	 * refusal runs no KDF and touches no counter, not even ours.
	 */
	if (!policy_peer_remote(p))
		return 0;
	log_info("refusing %s PIN login from pid %ld: the connection is bound "
		 "to an ssh session (it may be forwarded)",
	    target, (long)p->pid);
	audit_unlock(p, target, "refused-remote");
	return 1;
}

/* Refusals logged and audited at most once per this many ms. */
#define REFUSAL_LOG_MS 1000

int
guess_admit(struct agent *a, const struct peer *p, const char *target)
{
	static _Atomic uint64_t last_logged;
	static atomic_ulong quiet;
	uint64_t retry_ms, now, last;

	if (rl_admit(a->guesses, &retry_ms) == 0)
		return 0;
	/*
	 * A flood is refused at tens of thousands of guesses a second; one
	 * line per second (with the count) keeps it from filling the disk
	 * through the log and the audit log instead.
	 */
	now = agent_now_ms();
	last = atomic_load(&last_logged);
	if (now - last < REFUSAL_LOG_MS ||
	    !atomic_compare_exchange_strong(&last_logged, &last, now)) {
		atomic_fetch_add(&quiet, 1);
		return KMES_ERR_DENIED;
	}
	log_info(
	    "refusing %s unlock attempt from pid %ld: too many guesses "
	    "(%lu more refused unlogged); the next is admitted in %.1f s at "
	    "the earliest",
	    target, (long)p->pid, atomic_exchange(&quiet, 0),
	    (double)retry_ms / 1000);
	audit_unlock(p, target, "rate-limited");
	return KMES_ERR_DENIED;
}

uint64_t
guess_done(struct agent *a, int r)
{
	enum rl_outcome o;

	switch (r) {
	case 0:
		o = RL_RIGHT;
		break;
	case KMES_ERR_PIN_INCORRECT:
	case KMES_ERR_PIN_LOCKED:
	case KMES_ERR_PASSPHRASE_INCORRECT:
		o = RL_WRONG;
		break;
	default:
		o = RL_NEUTRAL;
		break;
	}
	return rl_done(a->guesses, o);
}
