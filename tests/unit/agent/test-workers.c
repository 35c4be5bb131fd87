/*
 * test-workers.c: the pool behind loop_offload (src/workers.c): a full
 * queue refuses at once and runs nothing of the refused job; stopping runs
 * every job already queued exactly once (each owns a client's state that
 * only it frees); no more threads run at once than the pool has; and the
 * KDF gate never admits more holders than its slots.
 */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "kmes-err.h"
#include "testutil.h"
#include "workers.h"

/* Jobs block on this until released, so the queue can be filled. */
static pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int released;
static unsigned int started, now_running, max_running;

static void
reset(void)
{
	released = 0;
	started = now_running = max_running = 0;
}

static void
blocking_job(void *arg)
{
	atomic_int *ran = arg;

	pthread_mutex_lock(&mtx);
	started++;
	if (++now_running > max_running)
		max_running = now_running;
	pthread_cond_broadcast(&cond);
	while (!released)
		pthread_cond_wait(&cond, &mtx);
	now_running--;
	pthread_mutex_unlock(&mtx);
	atomic_fetch_add(ran, 1);
}

static void
wait_started(unsigned int n)
{
	pthread_mutex_lock(&mtx);
	while (started < n)
		pthread_cond_wait(&cond, &mtx);
	pthread_mutex_unlock(&mtx);
}

static void
release_all(void)
{
	pthread_mutex_lock(&mtx);
	released = 1;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&mtx);
}

START_TEST(test_full_queue_refuses_at_once_and_runs_nothing)
{
	struct workers *w;
	atomic_int ran[12];
	unsigned int i;

	reset();
	for (i = 0; i < 12; i++)
		atomic_init(&ran[i], 0);
	ck_assert_ptr_nonnull(w = workers_new(2, 4));
	/* Two running, four waiting: the pool is full. */
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(workers_submit(w, blocking_job, &ran[i]), 0);
	wait_started(2);
	for (i = 2; i < 6; i++)
		ck_assert_int_eq(workers_submit(w, blocking_job, &ran[i]), 0);
	ck_assert_uint_eq(workers_busy(w), 6);
	for (i = 6; i < 12; i++)
		ck_assert_int_eq(workers_submit(w, blocking_job, &ran[i]),
		    KMES_ERR_NO_BUFFER_SPACE);
	release_all();
	workers_free(w);
	for (i = 0; i < 12; i++)
		ck_assert_int_eq(atomic_load(&ran[i]), i < 6 ? 1 : 0);
	ck_assert_uint_le(max_running, 2);
}
END_TEST

START_TEST(test_stop_runs_every_queued_job_once)
{
	struct workers *w;
	atomic_int ran[9];
	unsigned int i;

	reset();
	for (i = 0; i < 9; i++)
		atomic_init(&ran[i], 0);
	ck_assert_ptr_nonnull(w = workers_new(1, 8));
	ck_assert_int_eq(workers_submit(w, blocking_job, &ran[0]), 0);
	wait_started(1);
	for (i = 1; i < 9; i++)
		ck_assert_int_eq(workers_submit(w, blocking_job, &ran[i]), 0);
	/* Stop while one runs and eight wait; free() must drain them. */
	release_all();
	workers_free(w);
	for (i = 0; i < 9; i++)
		ck_assert_int_eq(atomic_load(&ran[i]), 1);
	ck_assert_uint_eq(max_running, 1);
}
END_TEST

START_TEST(test_zero_queue_is_refused)
{
	ck_assert_ptr_null(workers_new(4, 0));
	ck_assert_ptr_null(workers_new(0, 0));
	ck_assert_ptr_null(workers_gate_new(0));
	workers_free(NULL);
	workers_gate_free(NULL);
}
END_TEST

static void
count_job(void *arg)
{
	(*(int *)arg)++;
}

START_TEST(test_a_pool_without_threads_runs_jobs_only_when_asked)
{
	struct workers *w = workers_new(0, 2);
	int ran = 0;

	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(workers_submit(w, count_job, &ran), 0);
	ck_assert_int_eq(workers_submit(w, count_job, &ran), 0);
	/* Its queue is bounded like any pool's. */
	ck_assert_int_eq(workers_submit(w, count_job, &ran),
	    KMES_ERR_NO_BUFFER_SPACE);
	ck_assert_int_eq(ran, 0);
	ck_assert_uint_eq(workers_busy(w), 2);
	ck_assert_uint_eq(workers_run_queued(w), 2);
	ck_assert_int_eq(ran, 2);
	ck_assert_uint_eq(workers_busy(w), 0);
	/* Freeing drains what is still queued, on the caller's thread. */
	ck_assert_int_eq(workers_submit(w, count_job, &ran), 0);
	workers_free(w);
	ck_assert_int_eq(ran, 3);
}
END_TEST

static struct workers_gate *gate;
static atomic_uint in_gate, max_in_gate;

static void
gated_job(void *arg)
{
	unsigned int n, m;
	int i;

	(void)arg;
	workers_gate_enter(gate);
	n = atomic_fetch_add(&in_gate, 1) + 1;
	m = atomic_load(&max_in_gate);
	while (n > m && !atomic_compare_exchange_weak(&max_in_gate, &m, n))
		;
	/* Stay inside a moment, so other holders would overlap. */
	for (i = 0; i < 100; i++)
		sched_yield();
	atomic_fetch_sub(&in_gate, 1);
	workers_gate_leave(gate);
}

START_TEST(test_gate_admits_no_more_than_its_slots)
{
	struct workers *w;
	unsigned int i;

	ck_assert_ptr_nonnull(gate = workers_gate_new(2));
	ck_assert_ptr_nonnull(w = workers_new(8, 32));
	for (i = 0; i < 32; i++)
		ck_assert_int_eq(workers_submit(w, gated_job, NULL), 0);
	workers_free(w);
	ck_assert_uint_ge(atomic_load(&max_in_gate), 1);
	ck_assert_uint_le(atomic_load(&max_in_gate), 2);
	workers_gate_free(gate);
}
END_TEST

static Suite *
workers_suite(void)
{
	Suite *s = suite_create("workers");
	TCase *tc = tcase_create("pool");

	/* The machine may be shared with a whole test run. */
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_full_queue_refuses_at_once_and_runs_nothing);
	tcase_add_test(tc, test_stop_runs_every_queued_job_once);
	tcase_add_test(tc, test_zero_queue_is_refused);
	tcase_add_test(tc,
	    test_a_pool_without_threads_runs_jobs_only_when_asked);
	tcase_add_test(tc, test_gate_admits_no_more_than_its_slots);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(workers_suite());
}
