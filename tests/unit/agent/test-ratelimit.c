/*
 * test-ratelimit.c: the global guessing limiter (src/ratelimit.c) on a
 * fake clock: a burst, then one guess per refill whatever the number of
 * clients; no more than max_inflight checked at once; a doubling delay
 * after failures that stops at its cap and ends on a right guess; a client
 * that waits for its (held) replies is never refused; and the user's one
 * typo after an attack costs seconds, not minutes.
 */
#include <check.h>
#include <stdint.h>

#include "kmes-err.h"
#include "ratelimit.h"
#include "testutil.h"

static uint64_t fake_now;

static uint64_t
fake_clock(void *arg)
{
	(void)arg;
	return fake_now;
}

/* The same bucket without the failure delay, to see the bucket alone. */
static const struct rl_params bucket_params = {
	.burst = RL_BURST,
	.refill_ms = RL_REFILL_MS,
	.max_inflight = RL_MAX_INFLIGHT,
	.delay_base_ms = 0,
	.delay_max_ms = 0,
	.forget_ms = RL_FORGET_MS,
};

static struct ratelimit *
new_rl_with(const struct rl_params *p)
{
	struct ratelimit *rl;

	fake_now = 1000000;
	rl = rl_new(p, fake_clock, NULL);
	ck_assert_ptr_nonnull(rl);
	return rl;
}

static struct ratelimit *
new_rl(void)
{
	return new_rl_with(&rl_daemon_params);
}

/* Admits and ends one guess with o; returns rl_admit's result. */
static int
guess(struct ratelimit *rl, enum rl_outcome o)
{
	int r = rl_admit(rl, NULL);

	if (r == 0)
		rl_done(rl, o);
	return r;
}

START_TEST(test_burst_then_refused_at_once)
{
	struct ratelimit *rl = new_rl_with(&bucket_params);
	uint64_t retry = 0;
	unsigned int i;

	for (i = 0; i < RL_BURST; i++)
		ck_assert_int_eq(guess(rl, RL_WRONG), 0);
	ck_assert_int_eq(rl_admit(rl, &retry), KMES_ERR_DENIED);
	ck_assert_uint_eq(retry, RL_REFILL_MS);
	ck_assert_uint_eq(rl_inflight(rl), 0);
	rl_free(rl);
}
END_TEST

START_TEST(test_refill_gives_one_guess_per_period)
{
	struct ratelimit *rl = new_rl_with(&bucket_params);
	uint64_t start, admitted = 0;

	start = fake_now;
	/* A client hammering every 10 ms for 60 s. */
	while (fake_now - start < 60000) {
		if (guess(rl, RL_WRONG) == 0)
			admitted++;
		fake_now += 10;
	}
	ck_assert_uint_le(admitted, RL_BURST + 60000 / RL_REFILL_MS);
	ck_assert_uint_ge(admitted, 60000 / RL_REFILL_MS);
	rl_free(rl);
}
END_TEST

START_TEST(test_credit_does_not_accumulate_past_burst)
{
	struct ratelimit *rl = new_rl_with(&bucket_params);
	unsigned int i, n = 0;

	fake_now += 3600 * 1000; /* an hour idle */
	for (i = 0; i < 100; i++)
		if (guess(rl, RL_WRONG) == 0)
			n++;
	ck_assert_uint_eq(n, RL_BURST);
	rl_free(rl);
}
END_TEST

START_TEST(test_inflight_bound_refuses_parallel_guesses)
{
	struct ratelimit *rl = new_rl();
	unsigned int i;

	for (i = 0; i < RL_MAX_INFLIGHT; i++)
		ck_assert_int_eq(rl_admit(rl, NULL), 0);
	/* The bucket still has credit, but no more checks at once. */
	fake_now += 10 * RL_REFILL_MS;
	ck_assert_int_eq(rl_admit(rl, NULL), KMES_ERR_DENIED);
	ck_assert_uint_eq(rl_inflight(rl), RL_MAX_INFLIGHT);
	rl_done(rl, RL_NEUTRAL);
	ck_assert_int_eq(rl_admit(rl, NULL), 0);
	rl_done(rl, RL_NEUTRAL);
	rl_done(rl, RL_NEUTRAL);
	ck_assert_uint_eq(rl_inflight(rl), 0);
	rl_free(rl);
}
END_TEST

START_TEST(test_failure_delay_doubles_up_to_its_cap)
{
	struct ratelimit *rl = new_rl();
	uint64_t retry, expect = RL_DELAY_BASE_MS;
	unsigned int i;

	for (i = 0; i < 10; i++) {
		fake_now += 10 * RL_REFILL_MS; /* the bucket is full */
		ck_assert_int_eq(rl_admit(rl, NULL), 0);
		/* The wrong guess's reply is held exactly that long. */
		ck_assert_uint_eq(rl_done(rl, RL_WRONG), expect);
		ck_assert_int_eq(rl_admit(rl, &retry), KMES_ERR_DENIED);
		ck_assert_uint_eq(retry, expect);
		/* One millisecond early is still refused; on time passes. */
		fake_now += retry - 1;
		ck_assert_int_eq(rl_admit(rl, NULL), KMES_ERR_DENIED);
		fake_now += 1;
		ck_assert_int_eq(guess(rl, RL_NEUTRAL), 0);
		/* The neutral guess did not change the count. */
		expect = expect * 2 > RL_DELAY_MAX_MS ? RL_DELAY_MAX_MS :
							expect * 2;
	}
	ck_assert_uint_eq(expect, RL_DELAY_MAX_MS);
	rl_free(rl);
}
END_TEST

START_TEST(test_right_guess_ends_the_delay)
{
	struct ratelimit *rl = new_rl();
	unsigned int i;

	for (i = 0; i < 8; i++) {
		fake_now += RL_DELAY_MAX_MS + RL_REFILL_MS;
		ck_assert_int_eq(guess(rl, RL_WRONG), 0);
	}
	fake_now += RL_DELAY_MAX_MS;
	ck_assert_int_eq(rl_admit(rl, NULL), 0);
	ck_assert_uint_eq(rl_done(rl, RL_RIGHT), 0);
	/* No delay left: the next guess waits only for the bucket. */
	ck_assert_int_eq(guess(rl, RL_WRONG), 0);
	fake_now += RL_DELAY_BASE_MS;
	ck_assert_int_eq(rl_admit(rl, NULL), 0);
	rl_done(rl, RL_NEUTRAL);
	rl_free(rl);
}
END_TEST

/* Right or refused-before-the-check requests give their turn back. */
START_TEST(test_right_guesses_do_not_use_up_the_bucket)
{
	struct ratelimit *rl = new_rl_with(&bucket_params);
	unsigned int i;

	/* ssh-add -s for several tokens and ssh-add -X, all right, and
	 * modules refused before any PIN was tried. */
	for (i = 0; i < 20; i++) {
		ck_assert_int_eq(guess(rl, RL_RIGHT), 0);
		ck_assert_int_eq(guess(rl, RL_NEUTRAL), 0);
	}
	/* Wrong ones still get exactly the burst. */
	for (i = 0; i < RL_BURST; i++)
		ck_assert_int_eq(guess(rl, RL_WRONG), 0);
	ck_assert_int_eq(rl_admit(rl, NULL), KMES_ERR_DENIED);
	rl_free(rl);
}
END_TEST

/* Knowing one secret buys no guesses at another: alternating a right
 * guess with a wrong one still meters the wrong ones at the refill rate. */
START_TEST(test_right_guesses_do_not_launder_wrong_ones)
{
	struct ratelimit *rl = new_rl_with(&bucket_params);
	uint64_t start = fake_now, wrong = 0;

	while (fake_now - start < 60000) {
		if (guess(rl, RL_RIGHT) == 0 && guess(rl, RL_WRONG) == 0)
			wrong++;
		fake_now += 10;
	}
	ck_assert_uint_le(wrong, RL_BURST + 60000 / RL_REFILL_MS);
	rl_free(rl);
}
END_TEST

START_TEST(test_failures_forgotten_after_quiet_time)
{
	struct ratelimit *rl = new_rl();
	uint64_t retry;
	unsigned int i;

	for (i = 0; i < 8; i++) {
		fake_now += RL_DELAY_MAX_MS + RL_REFILL_MS;
		ck_assert_int_eq(guess(rl, RL_WRONG), 0);
	}
	fake_now += RL_FORGET_MS;
	ck_assert_int_eq(guess(rl, RL_WRONG), 0);
	ck_assert_int_eq(rl_admit(rl, &retry), KMES_ERR_DENIED);
	ck_assert_uint_eq(retry, RL_DELAY_BASE_MS);
	rl_free(rl);
}
END_TEST

/*
 * The attacker hammers from many connections (a guess every 5 ms, never
 * right) for ten minutes and stops; the user, one second later, makes a
 * typo and then types it right. Both of the user's tries must be admitted
 * within seconds: the worst case is the capped delay, twice.
 */
START_TEST(test_one_typo_after_attack_costs_seconds_not_minutes)
{
	struct ratelimit *rl = new_rl();
	uint64_t start = fake_now, t0, attacker = 0;

	while (fake_now - start < 600000) {
		if (guess(rl, RL_WRONG) == 0)
			attacker++;
		fake_now += 5;
	}
	/* Sustained: one guess per capped delay, plus the ramp to it. */
	ck_assert_uint_le(attacker, RL_BURST + 2 + 600000 / RL_DELAY_MAX_MS);
	fake_now += 1000;
	t0 = fake_now;
	while (rl_admit(rl, NULL) != 0)
		fake_now += 100;
	rl_done(rl, RL_WRONG); /* the typo */
	while (rl_admit(rl, NULL) != 0)
		fake_now += 100;
	rl_done(rl, RL_RIGHT);
	ck_assert_uint_le(fake_now - t0, 2 * RL_DELAY_MAX_MS);
	rl_free(rl);
}
END_TEST

/*
 * ssh-add -X typed wrong again and again by one user: each "no" is held
 * for what rl_done says, and the next try, sent when it arrives, is never
 * refused at once, however long the run.
 */
START_TEST(test_client_that_waits_for_replies_is_never_refused)
{
	struct ratelimit *rl = new_rl();
	uint64_t hold;
	unsigned int i;

	for (i = 0; i < 50; i++) {
		ck_assert_int_eq(rl_admit(rl, NULL), 0);
		fake_now += 60; /* the KDF */
		hold = rl_done(rl, RL_WRONG);
		ck_assert_uint_le(hold, RL_DELAY_MAX_MS);
		fake_now += hold;
	}
	ck_assert_int_eq(rl_admit(rl, NULL), 0);
	ck_assert_uint_eq(rl_done(rl, RL_RIGHT), 0);
	rl_free(rl);
}
END_TEST

START_TEST(test_bad_params_are_refused)
{
	struct rl_params p = rl_daemon_params;

	p.burst = 0;
	ck_assert_ptr_null(rl_new(&p, fake_clock, NULL));
	p = rl_daemon_params;
	p.refill_ms = 0;
	ck_assert_ptr_null(rl_new(&p, fake_clock, NULL));
	p = rl_daemon_params;
	p.max_inflight = 0;
	ck_assert_ptr_null(rl_new(&p, fake_clock, NULL));
	rl_free(NULL);
}
END_TEST

START_TEST(test_clock_stepping_back_refills_nothing)
{
	struct ratelimit *rl = new_rl_with(&bucket_params);
	unsigned int i;

	for (i = 0; i < RL_BURST; i++)
		ck_assert_int_eq(guess(rl, RL_WRONG), 0);
	fake_now -= 100000;
	ck_assert_int_eq(rl_admit(rl, NULL), KMES_ERR_DENIED);
	fake_now += 100000;
	ck_assert_int_eq(rl_admit(rl, NULL), KMES_ERR_DENIED);
	rl_free(rl);
}
END_TEST

static Suite *
ratelimit_suite(void)
{
	Suite *s = suite_create("ratelimit");
	TCase *tc = tcase_create("limits");

	tcase_add_test(tc, test_burst_then_refused_at_once);
	tcase_add_test(tc, test_refill_gives_one_guess_per_period);
	tcase_add_test(tc, test_credit_does_not_accumulate_past_burst);
	tcase_add_test(tc, test_inflight_bound_refuses_parallel_guesses);
	tcase_add_test(tc, test_failure_delay_doubles_up_to_its_cap);
	tcase_add_test(tc, test_right_guess_ends_the_delay);
	tcase_add_test(tc, test_right_guesses_do_not_use_up_the_bucket);
	tcase_add_test(tc, test_right_guesses_do_not_launder_wrong_ones);
	tcase_add_test(tc, test_failures_forgotten_after_quiet_time);
	tcase_add_test(tc,
	    test_one_typo_after_attack_costs_seconds_not_minutes);
	tcase_add_test(tc, test_client_that_waits_for_replies_is_never_refused);
	tcase_add_test(tc, test_bad_params_are_refused);
	tcase_add_test(tc, test_clock_stepping_back_refills_nothing);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(ratelimit_suite());
}
