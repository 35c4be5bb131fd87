/*
 * test-daemon-wait.c: the requests that wait, through the real loop and
 * dispatch (daemon-kit.h): a confirm dialog (SSH_ASKPASS, a script in the
 * scratch directory), the store PIN asked at sign time and its KDF on the
 * hand-run pool, ssh-add -X with the store PIN, and what happens when the
 * client leaves or the agent is locked while they wait. Nothing answers
 * before its time, a late answer cannot undo a lock, and a client that
 * leaves takes its dialog (by pid) and its reply with it.
 */
#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent-msg.h"
#include "astore.h"
#include "crypto.h"
#include "daemon-kit.h"
#include "kbuf.h"
#include "keytable.h"
#include "kmes-err.h"
#include "lock.h"
#include "log.h"
#include "prov.h"
#include "store.h"
#include "testutil.h"
#include "workers.h"

static const uint8_t data[] = "data to be signed";
#define DLEN (sizeof(data) - 1)
#define PIN "123456"

static struct kit *k;
static char fifo[512];

static void
setup(void)
{
	k = kit_new();
	snprintf(fifo, sizeof(fifo), "%s/answer", tu_dir());
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
}

static void
teardown(void)
{
	kit_free(k);
	k = NULL;
}

/* An askpass that waits for the user: it prints what the test writes
 * into the fifo, once the test writes (kit_answer). */
static void
askpass_waits(void)
{
	char body[600];

	snprintf(body, sizeof(body), "exec cat '%s'", fifo);
	kit_askpass(k, body);
}

static int answer_fd = -1;

static int
fifo_open(void *arg)
{
	(void)arg;
	answer_fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	return answer_fd >= 0;
}

/* The user answers the waiting askpass with line. */
static void
user_answers(const char *line)
{
	ck_assert(kit_pump_until(k, fifo_open, NULL, 0));
	ck_assert_int_eq(write(answer_fd, line, strlen(line)),
	    (ssize_t)strlen(line));
	close(answer_fd);
	answer_fd = -1;
}

static struct agent_constraints confirm_cons = { .confirm = 1 };

static uint8_t
reply_type(int fd, struct kbuf *body)
{
	uint8_t t = 0;

	ck_assert_msg(kit_pump(k, fd, 1), "no reply");
	ck_assert_int_eq(kit_reply(fd, &t, body), 0);
	return t;
}

/* ------------------------------------------------------------- confirm */

START_TEST(test_confirm_yes_signs_and_the_signature_verifies)
{
	struct ks_key *ed = kit_key(0);
	struct kbuf *m = kit_sign_msg(ed, data, DLEN, 0), *b;
	int fd = kit_connect(k);

	/* ssh-agent's contract: the askpass is told it is a yes/no. */
	kit_askpass(k,
	    "[ \"$SSH_ASKPASS_PROMPT\" = confirm ] || exit 3\n"
	    "echo yes");
	kit_add(k, fd, ed, "confirm me", &confirm_cons);
	ck_assert_ptr_nonnull(b = kbuf_new());
	kit_send(fd, m);
	ck_assert_int_gt(kit_askpass_wait(k), 0);
	ck_assert_int_eq(reply_type(fd, b), SSH_AGENT_SIGN_RESPONSE);
	kit_check_sig(b, ed, data, DLEN);
	kbuf_free(b);
	kbuf_free(m);
	close(fd);
	ks_key_free(ed);
}
END_TEST

START_TEST(test_confirm_no_refuses_the_signature)
{
	struct ks_key *ed = kit_key(0);
	int fd = kit_connect(k);

	kit_add(k, fd, ed, "confirm me", &confirm_cons);
	/* The dialog's cancel (non-zero exit), and an answer that is not
	 * yes: both refuse. */
	kit_askpass(k, "exit 1");
	ck_assert_int_eq(kit_sign_check(k, fd, ed, data, DLEN, 0),
	    SSH_AGENT_FAILURE);
	kit_askpass(k, "echo no");
	ck_assert_int_eq(kit_sign_check(k, fd, ed, data, DLEN, 0),
	    SSH_AGENT_FAILURE);
	/* Refused, not removed: the key is still held. */
	ck_assert_uint_eq(kit_count_ids(k, fd), 1);
	close(fd);
	ks_key_free(ed);
}
END_TEST

START_TEST(test_confirm_dialog_is_killed_when_its_client_leaves)
{
	struct ks_key *ed = kit_key(0), *plain = kit_key(0);
	struct kbuf *m = kit_sign_msg(ed, data, DLEN, 0);
	int fd = kit_connect(k), other = kit_connect(k);
	long pid;

	askpass_waits();
	kit_add(k, other, ed, "confirm me", &confirm_cons);
	kit_add(k, other, plain, "plain", NULL);
	kit_send(fd, m);
	ck_assert_int_gt(pid = kit_askpass_wait(k), 0);
	/* While the dialog is up, other clients are served. */
	ck_assert_int_eq(kit_sign_check(k, other, plain, data, DLEN, 0),
	    SSH_AGENT_SIGN_RESPONSE);
	ck_assert(!kit_pid_gone(pid));
	close(fd);
	kit_settle(k, 1);
	/* Killed and reaped: no dialog outlives the one who asked. */
	ck_assert(kit_pid_gone(pid));
	ck_assert_int_eq(kit_sign_check(k, other, plain, data, DLEN, 0),
	    SSH_AGENT_SIGN_RESPONSE);
	kbuf_free(m);
	close(other);
	ks_key_free(ed);
	ks_key_free(plain);
}
END_TEST

START_TEST(test_yes_given_after_a_lock_does_not_sign)
{
	struct ks_key *ed = kit_key(0);
	struct kbuf *m = kit_sign_msg(ed, data, DLEN, 0), *l;
	int fd = kit_connect(k), other = kit_connect(k);
	long pid;

	askpass_waits();
	kit_add(k, other, ed, "confirm me", &confirm_cons);
	kit_send(fd, m);
	ck_assert_int_gt(pid = kit_askpass_wait(k), 0);
	/* ssh-add -x while the dialog is up. */
	l = kit_lock_msg(1, "pw");
	ck_assert_int_eq(kit_call(k, other, l, NULL), SSH_AGENT_SUCCESS);
	kbuf_free(l);
	ck_assert(kit_quiet(k, fd, 1));
	/* The user, not knowing, says yes: the lock wins. */
	user_answers("yes\n");
	ck_assert_int_eq(reply_type(fd, NULL), SSH_AGENT_FAILURE);
	ck_assert(kit_pid_gone(pid));
	ck_assert(lock_is_locked(&k->agent));
	kbuf_free(m);
	close(fd);
	close(other);
	ks_key_free(ed);
}
END_TEST

/* ------------------------------------------------- store PIN at sign time */

/* A store at <scratch>/store holding key (cheap KDF, PIN 123456), served
 * locked: its public key is listed, its private half is not loaded. */
static void
serve_store_flags(const struct ks_key *key, uint32_t flags)
{
	static const struct ks_store_kdf cheap = { 10, 8, 1 };
	struct ks_store *s = NULL;
	char path[600];
	unsigned int left;

	snprintf(path, sizeof(path), "%s/store", tu_dir());
	ck_assert_int_eq(ks_store_create(path, "kit store",
			     (const uint8_t *)PIN, strlen(PIN),
			     (const uint8_t *)"so-pin-1", 8, &cheap),
	    0);
	ck_assert_int_eq(ks_store_open(path, &s), 0);
	ck_assert_int_eq(ks_store_login(s, 0, (const uint8_t *)PIN, strlen(PIN),
			     &left),
	    0);
	ck_assert_int_eq(ks_store_add_key(s, "store key", key, flags), 0);
	ks_store_free(s);
	ck_assert_int_eq(astore_open(&k->agent, path), 0);
	ck_assert(astore_locked(&k->agent));
}

static void
serve_store(const struct ks_key *key)
{
	serve_store_flags(key, 0);
}

static int
kdf_queued(void *arg)
{
	(void)arg;
	return workers_busy(k->agent.kdf_pool) == 1;
}

/* Sends a sign request for the locked store key and waits until the PIN
 * from the askpass sits in the KDF queue, unanswered. */
static void
sign_until_kdf_queued(int fd, const struct ks_key *key)
{
	struct kbuf *m = kit_sign_msg(key, data, DLEN, 0);

	kit_send(fd, m);
	kbuf_free(m);
	ck_assert_int_gt(kit_askpass_wait(k), 0);
	ck_assert(kit_pump_until(k, kdf_queued, NULL, 0));
	ck_assert(kit_quiet(k, fd, 0));
	ck_assert(astore_locked(&k->agent));
}

START_TEST(test_store_key_waits_for_the_pin_then_signs)
{
	struct ks_key *key = kit_key(KS_KEY_ECDSA_P256);
	struct kbuf *b;
	int fd;

	serve_store(key);
	fd = kit_connect(k);
	ck_assert_uint_eq(kit_count_ids(k, fd), 1);
	kit_askpass(k, "echo " PIN);
	sign_until_kdf_queued(fd, key);
	ck_assert_ptr_nonnull(b = kbuf_new());
	ck_assert_int_eq(reply_type(fd, b), SSH_AGENT_SIGN_RESPONSE);
	kit_check_sig(b, key, data, DLEN);
	ck_assert(!astore_locked(&k->agent));
	/* Unlocked now: the next signature asks nobody. */
	kit_askpass(k, "exit 1");
	ck_assert_int_eq(kit_sign_check(k, fd, key, data, DLEN, 0),
	    SSH_AGENT_SIGN_RESPONSE);
	kbuf_free(b);
	close(fd);
	ks_key_free(key);
}
END_TEST

START_TEST(test_store_pin_prompt_cancelled_fails_and_stays_locked)
{
	struct ks_key *key = kit_key(0);
	int fd;

	serve_store(key);
	fd = kit_connect(k);
	kit_askpass(k, "exit 1");
	ck_assert_int_eq(kit_sign_check(k, fd, key, data, DLEN, 0),
	    SSH_AGENT_FAILURE);
	ck_assert(astore_locked(&k->agent));
	ck_assert_uint_eq(workers_busy(k->agent.kdf_pool), 0);
	ck_assert_int_eq(astore_tries_left(&k->agent), KS_STORE_MAX_TRIES);
	close(fd);
	ks_key_free(key);
}
END_TEST

START_TEST(test_store_wrong_pin_from_prompt_fails_and_costs_one_try)
{
	struct ks_key *key = kit_key(0);
	int fd;

	serve_store(key);
	fd = kit_connect(k);
	kit_askpass(k, "echo 000000");
	ck_assert_int_eq(kit_sign_check(k, fd, key, data, DLEN, 0),
	    SSH_AGENT_FAILURE);
	ck_assert(astore_locked(&k->agent));
	ck_assert_int_eq(astore_tries_left(&k->agent), KS_STORE_MAX_TRIES - 1);
	close(fd);
	ks_key_free(key);
}
END_TEST

START_TEST(test_client_gone_while_store_kdf_queued_gets_nothing_and_loop_lives)
{
	struct ks_key *key = kit_key(0);
	int fd, other;

	serve_store(key);
	fd = kit_connect(k);
	kit_askpass(k, "echo " PIN);
	sign_until_kdf_queued(fd, key);
	close(fd);
	kit_settle(k, 0);
	/* The job outlives its client: it still runs, posts its end to the
	 * loop, and that end frees the request without a reply. */
	ck_assert_uint_eq(workers_busy(k->agent.kdf_pool), 1);
	ck_assert_uint_eq(workers_run_queued(k->agent.kdf_pool), 1);
	other = kit_connect(k);
	ck_assert(kit_quiet(k, other, 1));
	ck_assert_uint_eq(workers_busy(k->agent.kdf_pool), 0);
	/* The PIN was the user's: the store is open for the next client. */
	ck_assert(!astore_locked(&k->agent));
	ck_assert_int_eq(kit_sign_check(k, other, key, data, DLEN, 0),
	    SSH_AGENT_SIGN_RESPONSE);
	close(other);
	ks_key_free(key);
}
END_TEST

START_TEST(test_unlock_with_store_pin_opens_the_store)
{
	struct ks_key *key = kit_key(0);
	struct kbuf *m;
	int fd;

	serve_store(key);
	fd = kit_connect(k);
	/* ssh-add -X while only the store is locked: its PIN. */
	m = kit_lock_msg(0, PIN);
	ck_assert_int_eq(kit_call(k, fd, m, NULL), SSH_AGENT_SUCCESS);
	kbuf_free(m);
	ck_assert(!astore_locked(&k->agent));
	kit_askpass(k, "exit 1");
	ck_assert_int_eq(kit_sign_check(k, fd, key, data, DLEN, 0),
	    SSH_AGENT_SIGN_RESPONSE);
	close(fd);
	ks_key_free(key);
}
END_TEST

START_TEST(test_wrong_store_pin_from_client_answered_after_the_hold)
{
	struct ks_key *key = kit_key(0);
	struct kbuf *m = kit_lock_msg(0, "000000");
	uint8_t t;
	int fd;

	serve_store(key);
	fd = kit_connect(k);
	kit_send(fd, m);
	ck_assert(kit_quiet(k, fd, 1));
	ck_assert_int_eq(astore_tries_left(&k->agent), KS_STORE_MAX_TRIES - 1);
	kit_advance(k, 249);
	ck_assert(kit_quiet(k, fd, 1));
	kit_advance(k, 1);
	ck_assert(kit_pump(k, fd, 0));
	ck_assert_int_eq(kit_reply(fd, &t, NULL), 0);
	ck_assert_int_eq(t, SSH_AGENT_FAILURE);
	ck_assert(astore_locked(&k->agent));
	kbuf_free(m);
	close(fd);
	ks_key_free(key);
}
END_TEST

START_TEST(test_store_pin_from_a_bound_connection_is_refused_untried)
{
	struct ks_key *key = kit_key(0), *host = kit_key(0);
	struct kbuf *m;
	uint8_t sid[32], t;
	int fd;

	serve_store(key);
	fd = kit_connect(k);
	memset(sid, 3, sizeof(sid));
	m = kit_bind_msg(host, sid, sizeof(sid), 1);
	ck_assert_int_eq(kit_call(k, fd, m, NULL), SSH_AGENT_SUCCESS);
	kbuf_free(m);
	/* Another host's user could burn the store's tries: not one KDF. */
	m = kit_lock_msg(0, PIN);
	kit_send(fd, m);
	kbuf_free(m);
	ck_assert(kit_pump(k, fd, 0));
	ck_assert_uint_eq(workers_busy(k->agent.kdf_pool), 0);
	ck_assert_int_eq(kit_reply(fd, &t, NULL), 0);
	ck_assert_int_eq(t, SSH_AGENT_FAILURE);
	ck_assert(astore_locked(&k->agent));
	ck_assert_int_eq(astore_tries_left(&k->agent), KS_STORE_MAX_TRIES);
	close(fd);
	ks_key_free(key);
	ks_key_free(host);
}
END_TEST

START_TEST(test_store_confirm_key_needs_the_pin_and_then_a_yes)
{
	struct ks_key *key = kit_key(0);
	int fd;

	serve_store_flags(key, KS_REC_CONFIRM);
	fd = kit_connect(k);
	/* One script, two questions: the PIN, then the yes/no. */
	kit_askpass(k,
	    "if [ \"$SSH_ASKPASS_PROMPT\" = confirm ]; then "
	    "exit 1; else echo " PIN "; fi");
	ck_assert_int_eq(kit_sign_check(k, fd, key, data, DLEN, 0),
	    SSH_AGENT_FAILURE);
	/* The PIN was right (the store opened); the user said no. */
	ck_assert(!astore_locked(&k->agent));
	kit_askpass(k,
	    "[ \"$SSH_ASKPASS_PROMPT\" = confirm ] || exit 3\n"
	    "echo yes");
	ck_assert_int_eq(kit_sign_check(k, fd, key, data, DLEN, 0),
	    SSH_AGENT_SIGN_RESPONSE);
	close(fd);
	ks_key_free(key);
}
END_TEST

static unsigned int want_busy;

static int
kdf_holds(void *arg)
{
	(void)arg;
	return workers_busy(k->agent.kdf_pool) == want_busy;
}

START_TEST(test_full_kdf_queue_refuses_at_once_and_serves_the_queued)
{
	struct ks_key *key = kit_key(0);
	struct kbuf *m = kit_sign_msg(key, data, DLEN, 0), *b;
	int fds[17];
	unsigned int i;
	uint8_t t;

	serve_store(key);
	kit_askpass(k, "echo " PIN);
	/* Sixteen PINs wait for the KDF (the queue main.c gives it). */
	for (i = 0; i < 16; i++) {
		fds[i] = kit_connect(k);
		kit_send(fds[i], m);
		want_busy = i + 1;
		ck_assert(kit_pump_until(k, kdf_holds, NULL, 0));
	}
	/* The seventeenth is told no at once, not queued without bound. */
	fds[16] = kit_connect(k);
	kit_send(fds[16], m);
	ck_assert(kit_pump(k, fds[16], 0));
	ck_assert_int_eq(kit_reply(fds[16], &t, NULL), 0);
	ck_assert_int_eq(t, SSH_AGENT_FAILURE);
	ck_assert_uint_eq(workers_busy(k->agent.kdf_pool), 16);
	/* Each queued one is answered, with a good signature. */
	ck_assert_ptr_nonnull(b = kbuf_new());
	for (i = 0; i < 16; i++) {
		ck_assert_int_eq(reply_type(fds[i], b),
		    SSH_AGENT_SIGN_RESPONSE);
		kit_check_sig(b, key, data, DLEN);
	}
	for (i = 0; i < 17; i++)
		close(fds[i]);
	kbuf_free(b);
	kbuf_free(m);
	ks_key_free(key);
}
END_TEST

static Suite *
wait_suite(void)
{
	Suite *s = suite_create("daemon-wait");
	TCase *tc = tcase_create("confirm");
	TCase *ts = tcase_create("store");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_confirm_yes_signs_and_the_signature_verifies);
	tcase_add_test(tc, test_confirm_no_refuses_the_signature);
	tcase_add_test(tc,
	    test_confirm_dialog_is_killed_when_its_client_leaves);
	tcase_add_test(tc, test_yes_given_after_a_lock_does_not_sign);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(ts, setup, teardown);
	tcase_set_timeout(ts, 30);
	tcase_add_test(ts, test_store_key_waits_for_the_pin_then_signs);
	tcase_add_test(ts,
	    test_store_pin_prompt_cancelled_fails_and_stays_locked);
	tcase_add_test(ts,
	    test_store_wrong_pin_from_prompt_fails_and_costs_one_try);
	tcase_add_test(ts,
	    test_client_gone_while_store_kdf_queued_gets_nothing_and_loop_lives);
	tcase_add_test(ts, test_store_confirm_key_needs_the_pin_and_then_a_yes);
	tcase_add_test(ts,
	    test_full_kdf_queue_refuses_at_once_and_serves_the_queued);
	tcase_add_test(ts, test_unlock_with_store_pin_opens_the_store);
	tcase_add_test(ts,
	    test_wrong_store_pin_from_client_answered_after_the_hold);
	tcase_add_test(ts,
	    test_store_pin_from_a_bound_connection_is_refused_untried);
	suite_add_tcase(s, ts);
	return s;
}

int
main(void)
{
	return kit_main("test-daemon-wait", wait_suite());
}
