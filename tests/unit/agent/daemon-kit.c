/*
 * daemon-kit.c: the daemon's core driven by hand (see daemon-kit.h).
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent-msg.h"
#include "astore.h"
#include "clock.h"
#include "crypto.h"
#include "daemon-kit.h"
#include "dispatch.h"
#include "guess.h"
#include "kbuf.h"
#include "keytable.h"
#include "kmes-err.h"
#include "log.h"
#include "prov.h"
#include "ratelimit.h"
#include "secmem.h"
#include "testutil.h"
#include "workers.h"

/* Queue sizes as main.c's: a full queue is part of what is tested. */
#define KIT_KDF_QUEUE 16
#define KIT_WAIT_QUEUE 32

static uint64_t
real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Keeps every file the daemon or a child might open in the scratch dir. */
static void
scratch_env(const char *dir)
{
	static const char *const unset[] = {
		"DISPLAY",
		"WAYLAND_DISPLAY",
		"SSH_AUTH_SOCK",
		"KMES_STORE",
		"KMES_PINENTRY_TIMEOUT",
		"SSH_ASKPASS_PROMPT",
	};
	size_t i;

	ck_assert_int_eq(setenv("HOME", dir, 1), 0);
	ck_assert_int_eq(setenv("XDG_DATA_HOME", dir, 1), 0);
	ck_assert_int_eq(setenv("XDG_CONFIG_HOME", dir, 1), 0);
	ck_assert_int_eq(setenv("XDG_RUNTIME_DIR", dir, 1), 0);
	for (i = 0; i < sizeof(unset) / sizeof(unset[0]); i++)
		ck_assert_int_eq(unsetenv(unset[i]), 0);
	ck_assert_int_eq(setenv("SSH_ASKPASS_REQUIRE", "force", 1), 0);
}

struct kit *
kit_new(void)
{
	struct kit *k;
	struct agent *a;

	ck_assert_ptr_nonnull(k = calloc(1, sizeof(*k)));
	ck_assert_int_eq(tu_setup("daemon"), 0);
	scratch_env(tu_dir());
	snprintf(k->askpass, sizeof(k->askpass), "%s/askpass.sh", tu_dir());
	snprintf(k->askpass_pid, sizeof(k->askpass_pid), "%s/askpass.pid",
	    tu_dir());
	ck_assert_int_eq(setenv("SSH_ASKPASS", k->askpass, 1), 0);
	/* Before anything reads the clock (the limiter starts from it). */
	k->now = KIT_T0;
	clock_set_fake(&k->now);

	a = &k->agent;
	a->opt.fp_hash = KS_FP_SHA256;
	a->opt.uid = getuid();
	a->opt.nloops = 1;
	a->opt.allowed_providers = "/usr/lib*/*,/usr/local/lib*/*";
	a->listen_fd = -1;
	ck_assert_ptr_nonnull(a->table = ks_table_new());
	pthread_mutex_init(&a->lock_mtx, NULL);
	ck_assert_ptr_nonnull(a->lock_secret = kmes_secure_alloc(
				  KS_PWHASH_SALT_LEN + KS_PWHASH_LEN));
	ck_assert_ptr_nonnull(a->guesses = guess_limiter_new());
	ck_assert_ptr_nonnull(a->kdf_gate = workers_gate_new(1));
	ck_assert_ptr_nonnull(a->kdf_pool = workers_new(0, KIT_KDF_QUEUE));
	ck_assert_ptr_nonnull(a->wait_pool = workers_new(0, KIT_WAIT_QUEUE));
	dispatch_hooks(a, &k->hooks);
	ck_assert_ptr_nonnull(
	    a->loops = loopset_new(1, -1, getuid(), &k->hooks, &a->quit, 0, 0));
	ck_assert_ptr_nonnull(k->loop = loopset_loop(a->loops, 0));
	return k;
}

void
kit_free(struct kit *k)
{
	struct agent *a = &k->agent;

	/* main.c's order: jobs finish and post, then the loop runs the
	 * completions and drops its clients. */
	workers_free(a->wait_pool);
	workers_free(a->kdf_pool);
	loopset_free(a->loops);
	if (k->hooks.thread_end != NULL)
		k->hooks.thread_end(k->hooks.arg);
	prov_shutdown(a);
	workers_gate_free(a->kdf_gate);
	astore_close(a);
	ks_table_free(a->table);
	kmes_secure_free(a->lock_secret);
	rl_free(a->guesses);
	pthread_mutex_destroy(&a->lock_mtx);
	clock_set_fake(NULL);
	tu_teardown();
	free(k);
}

int
kit_connect(struct kit *k)
{
	int sv[2];

	/* CLOEXEC: an askpass child holding our end would hide a hang-up. */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
	    0);
	ck_assert_int_eq(loop_adopt(k->loop, sv[0], getuid(), getpid()), 0);
	return sv[1];
}

void
kit_send_raw(int fd, const void *p, size_t len)
{
	const uint8_t *b = p;
	ssize_t n;

	while (len > 0) {
		n = send(fd, b, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		ck_assert_int_gt(n, 0);
		b += n;
		len -= (size_t)n;
	}
}

void
kit_send(int fd, const struct kbuf *body)
{
	struct kbuf *out;

	ck_assert_ptr_nonnull(out = kbuf_new());
	ck_assert_int_eq(agent_msg_put_framed(out, body), 0);
	kit_send_raw(fd, kbuf_ptr(out), kbuf_len(out));
	kbuf_free(out);
}

static int
readable(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLIN | POLLHUP)) != 0;
}

/* One round: queued jobs (if asked), then the loop for up to wait_ms.
 * Returns how much happened. */
static int
round_once(struct kit *k, int workers, int wait_ms)
{
	int n = 0, r;

	if (workers) {
		n += (int)workers_run_queued(k->agent.kdf_pool);
		n += (int)workers_run_queued(k->agent.wait_pool);
	}
	r = loop_run_once(k->loop, wait_ms);
	ck_assert_int_ge(r, 0);
	return n + r;
}

int
kit_pump_until(struct kit *k, int (*done)(void *), void *arg, int workers)
{
	uint64_t end = real_ms() + KIT_BOUND_MS;

	while (!done(arg)) {
		if (real_ms() >= end)
			return 0;
		/* A few ms: real children (askpass, helpers) answer in real
		 * time; the loop wakes early when they do. */
		(void)round_once(k, workers, 5);
	}
	return 1;
}

struct fd_arg {
	int fd;
};

static int
fd_ready(void *arg)
{
	return readable(((struct fd_arg *)arg)->fd);
}

int
kit_pump(struct kit *k, int fd, int workers)
{
	struct fd_arg a = { fd };

	return kit_pump_until(k, fd_ready, &a, workers);
}

void
kit_settle(struct kit *k, int workers)
{
	int i, idle = 0;

	/* Everything due at the fake time happens within a few rounds;
	 * three idle rounds in a row mean the agent has settled. */
	for (i = 0; i < 200 && idle < 3; i++) {
		if (round_once(k, workers, 0) == 0)
			idle++;
		else
			idle = 0;
	}
	ck_assert_int_eq(idle, 3);
}

int
kit_quiet(struct kit *k, int fd, int workers)
{
	kit_settle(k, workers);
	return !readable(fd);
}

void
kit_advance(struct kit *k, uint64_t ms)
{
	k->now += ms;
	/* Timers due now fire in this round. */
	(void)round_once(k, 0, 0);
}

int
kit_reply(int fd, uint8_t *type, struct kbuf *body)
{
	struct kbuf *b;
	int r;

	ck_assert_ptr_nonnull(b = kbuf_new());
	if ((r = agent_msg_read_framed(fd, AGENT_MSG_MAX, b)) != 0) {
		kbuf_free(b);
		return r;
	}
	ck_assert_int_eq(kbuf_get_u8(b, type), 0);
	if (body != NULL) {
		kbuf_reset(body);
		ck_assert_int_eq(kbuf_putb(body, b), 0);
	}
	kbuf_free(b);
	return 0;
}

uint8_t
kit_call(struct kit *k, int fd, const struct kbuf *req, struct kbuf *reply)
{
	uint8_t type = 0;

	kit_send(fd, req);
	ck_assert_msg(kit_pump(k, fd, 1), "no reply within %d ms",
	    KIT_BOUND_MS);
	ck_assert_int_eq(kit_reply(fd, &type, reply), 0);
	return type;
}

/* ---------------------------------------------------- request builders */

struct kbuf *
kit_msg(uint8_t type)
{
	struct kbuf *b;

	ck_assert_ptr_nonnull(b = kbuf_new());
	ck_assert_int_eq(kbuf_put_u8(b, type), 0);
	return b;
}

struct kbuf *
kit_add_msg(const struct ks_key *key, const char *comment,
    const struct agent_constraints *cons)
{
	struct kbuf *b = kit_msg(cons != NULL ? SSH_AGENTC_ADD_ID_CONSTRAINED :
						SSH_AGENTC_ADD_IDENTITY);

	ck_assert_int_eq(ks_key_put_private(key, b), 0);
	ck_assert_int_eq(kbuf_put_cstring(b, comment), 0);
	if (cons != NULL)
		ck_assert_int_eq(agent_constraints_put(b, cons), 0);
	return b;
}

struct kbuf *
kit_sign_msg(const struct ks_key *key, const uint8_t *data, size_t dlen,
    uint32_t flags)
{
	struct kbuf *b = kit_msg(SSH_AGENTC_SIGN_REQUEST);
	const uint8_t *blob;
	size_t blen;

	blob = ks_key_blob(key, &blen);
	ck_assert_int_eq(kbuf_put_string(b, blob, blen), 0);
	ck_assert_int_eq(kbuf_put_string(b, data, dlen), 0);
	ck_assert_int_eq(kbuf_put_u32(b, flags), 0);
	return b;
}

struct kbuf *
kit_lock_msg(int lock, const char *pw)
{
	struct kbuf *b = kit_msg(lock ? SSH_AGENTC_LOCK : SSH_AGENTC_UNLOCK);

	ck_assert_int_eq(kbuf_put_cstring(b, pw), 0);
	return b;
}

struct kbuf *
kit_bind_msg(const struct ks_key *hostkey, const uint8_t *sid, size_t sid_len,
    int forwarding)
{
	struct kbuf *b = kit_msg(SSH_AGENTC_EXTENSION), *sig;
	const uint8_t *blob;
	size_t blen;

	ck_assert_ptr_nonnull(sig = kbuf_new());
	ck_assert_int_eq(ks_key_sign(hostkey, sid, sid_len, 0, sig), 0);
	blob = ks_key_blob(hostkey, &blen);
	ck_assert_int_eq(kbuf_put_cstring(b, AGENT_EXT_SESSION_BIND), 0);
	ck_assert_int_eq(kbuf_put_string(b, blob, blen), 0);
	ck_assert_int_eq(kbuf_put_string(b, sid, sid_len), 0);
	ck_assert_int_eq(kbuf_put_stringb(b, sig), 0);
	ck_assert_int_eq(kbuf_put_u8(b, forwarding ? 1 : 0), 0);
	kbuf_free(sig);
	return b;
}

void
kit_add(struct kit *k, int fd, const struct ks_key *key, const char *comment,
    const struct agent_constraints *cons)
{
	struct kbuf *m = kit_add_msg(key, comment, cons);

	ck_assert_int_eq(kit_call(k, fd, m, NULL), SSH_AGENT_SUCCESS);
	kbuf_free(m);
}

void
kit_check_sig(struct kbuf *body, const struct ks_key *key, const uint8_t *data,
    size_t dlen)
{
	const uint8_t *sig;
	size_t slen;

	ck_assert_int_eq(kbuf_get_string_direct(body, &sig, &slen), 0);
	ck_assert_uint_eq(kbuf_len(body), 0);
	ck_assert_int_eq(ks_key_verify(key, sig, slen, data, dlen), 0);
}

uint8_t
kit_sign_check(struct kit *k, int fd, const struct ks_key *key,
    const uint8_t *data, size_t dlen, uint32_t flags)
{
	struct kbuf *m = kit_sign_msg(key, data, dlen, flags), *body;
	uint8_t type;

	ck_assert_ptr_nonnull(body = kbuf_new());
	type = kit_call(k, fd, m, body);
	if (type == SSH_AGENT_SIGN_RESPONSE)
		kit_check_sig(body, key, data, dlen);
	kbuf_free(body);
	kbuf_free(m);
	return type;
}

size_t
kit_count_ids(struct kit *k, int fd)
{
	struct kbuf *m = kit_msg(SSH_AGENTC_REQUEST_IDENTITIES), *body;
	uint32_t n;

	ck_assert_ptr_nonnull(body = kbuf_new());
	ck_assert_int_eq(kit_call(k, fd, m, body), SSH_AGENT_IDENTITIES_ANSWER);
	ck_assert_int_eq(kbuf_get_u32(body, &n), 0);
	kbuf_free(body);
	kbuf_free(m);
	return n;
}

struct ks_key *
kit_key(int type)
{
	struct ks_key *key = NULL;

	ck_assert_int_eq(ks_key_generate(type == 0 ? KS_KEY_ED25519 :
						     (enum ks_key_type)type,
			     2048, &key),
	    0);
	return key;
}

/* --------------------------------------------------------------- askpass */

void
kit_askpass(struct kit *k, const char *body)
{
	FILE *f;

	ck_assert_ptr_nonnull(f = fopen(k->askpass, "w"));
	/* The pid goes in whole (rename), so a reader never sees half. */
	fprintf(f, "#!/bin/sh\necho $$ >'%s.new' && mv '%s.new' '%s'\n%s\n",
	    k->askpass_pid, k->askpass_pid, k->askpass_pid, body);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(k->askpass, 0700), 0);
	(void)unlink(k->askpass_pid);
}

static int
pid_file_there(void *arg)
{
	return access(((struct kit *)arg)->askpass_pid, R_OK) == 0;
}

long
kit_askpass_wait(struct kit *k)
{
	char buf[32];
	ssize_t n;
	int fd;

	if (!kit_pump_until(k, pid_file_there, k, 0))
		return -1;
	ck_assert_int_ge(fd = open(k->askpass_pid, O_RDONLY | O_CLOEXEC), 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

int
kit_pid_gone(long pid)
{
	return kill((pid_t)pid, 0) == -1 && errno == ESRCH;
}

int
kit_main(const char *name, Suite *s)
{
	log_init(name, LOG_LVL_INFO, 1);
	if (tu_crypto_init() != 0)
		return EXIT_FAILURE;
	prov_init();
	return run_suite(s);
}
