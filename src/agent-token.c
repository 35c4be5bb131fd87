/*
 * agent-token.c: keys on PKCS#11 tokens, signed with by helper processes.
 *
 * Each provider (a module, and a token of it or all of them) runs in its
 * own helper process (p11-helper.c) with CHAN_PER_LOOP channels per event
 * loop. A loop only ever touches its own channels, so a signature needs no
 * lock on the hot path: the request goes down an idle channel, the client
 * waits (with a deadline) and the reply wakes the same loop.
 *
 * What goes wrong, and what happens then:
 * - the module crashes: the helper dies, its channels read EOF, the
 *   requests in flight fail, and the next request starts a new helper
 *   (logging in again with the PIN the agent keeps in locked memory);
 * - the module hangs: the request's deadline passes, the client gets
 *   FAILURE, the helper is killed and later restarted; clients of other
 *   keys never notice;
 * - the HSM drops the session or the login: the helper reopens and logs in
 *   again, once, by itself (keystore/token.c).
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/time.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "fdio.h"
#include "kbuf.h"
#include "keytable.h"
#include "kmes-err.h"
#include "log.h"
#include "match.h"
#include "module-check.h"
#include "p11-proto.h"
#include "secmem.h"

#define MAX_PROVIDERS 16
#define MAX_LOOPS 8
#define CHAN_PER_LOOP 4

struct token_req {
	struct token_req *next;
	struct conn *conn;	/* NULL once the client stopped waiting */
	struct ks_identity *id;
	struct kbuf *msg;	/* the framed SIGN request */
	uint32_t reqid;
	unsigned int gen;	/* helper generation it was sent to */
	size_t prov;
	int sent;
};

struct provider {
	pthread_mutex_t mtx;	/* guards everything but the atomics */
	int used;
	/* Atomic: a failed add sets it under mtx alone, while adds scan
	 * every slot under provs_mtx alone. */
	atomic_int removed;
	int from_cli;
	char *module;		/* realpath */
	char *token;		/* label or serial; NULL for all tokens */
	char *desc;		/* "token 'x' (serial y)" from the helper */
	uint8_t *pin;		/* secure memory */
	size_t pinlen;
	uint8_t *cons;		/* constraints in wire form, for each key */
	size_t cons_len;
	uint64_t expiry_ms;
	pid_t pid;
	int fds[MAX_LOOPS * CHAN_PER_LOOP];	/* not yet taken by a loop */
	atomic_uint gen;
	atomic_int alive;
};

/* A loop's end of one channel; only that loop's thread touches it. */
struct channel {
	int fd;
	unsigned int li;	/* its loop's index */
	size_t pi;		/* its provider's index */
	unsigned int gen;
	struct loop *loop;
	struct token_req *req;	/* in flight, at most one */
	struct kbuf *in;
};

static struct provider provs[MAX_PROVIDERS];
static pthread_mutex_t provs_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct channel chans[MAX_LOOPS][MAX_PROVIDERS][CHAN_PER_LOOP];
/* Requests waiting for a free channel, per loop and provider. */
static struct token_req *waitq[MAX_LOOPS][MAX_PROVIDERS];
static atomic_uint next_reqid;

static uint64_t
timeout_ms(const struct agent *a)
{
	return a->opt.pkcs11_timeout_ms != 0 ? a->opt.pkcs11_timeout_ms :
	    30000;
}

static void
req_free(struct token_req *q)
{
	if (q == NULL)
		return;
	ks_identity_unref(q->id);
	kbuf_free(q->msg);
	free(q);
}

/* Frames body (u32 length first) into a new buffer. */
static struct kbuf *
frame(const struct kbuf *body)
{
	struct kbuf *b;

	if ((b = kbuf_new()) == NULL)
		return NULL;
	if (agent_msg_put_framed_max(b, body, P11H_MSG_MAX) != 0) {
		kbuf_free(b);
		return NULL;
	}
	return b;
}

void
token_init(void)
{
	size_t i, j, k;

	for (i = 0; i < MAX_PROVIDERS; i++) {
		pthread_mutex_init(&provs[i].mtx, NULL);
		for (j = 0; j < MAX_LOOPS * CHAN_PER_LOOP; j++)
			provs[i].fds[j] = -1;
	}
	for (i = 0; i < MAX_LOOPS; i++) {
		for (j = 0; j < MAX_PROVIDERS; j++) {
			for (k = 0; k < CHAN_PER_LOOP; k++) {
				chans[i][j][k].fd = -1;
				chans[i][j][k].li = (unsigned int)i;
				chans[i][j][k].pi = j;
			}
		}
	}
}

/* ------------------------------------------------ helper process start */

/* Reads one framed reply, waiting at most ms between bytes. */
static int
read_reply(int fd, struct kbuf *b, uint64_t ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0)
		return KMES_ERR_SYSTEM;
	return agent_msg_read_framed(fd, P11H_MSG_MAX, b);
}

/* Kills and reaps p's helper. Caller holds p->mtx. */
static void
helper_reap(struct provider *p)
{
	size_t i;

	if (p->pid > 0) {
		(void)kill(p->pid, SIGKILL);
		while (waitpid(p->pid, NULL, 0) == -1 && errno == EINTR)
			;
		p->pid = 0;
	}
	for (i = 0; i < MAX_LOOPS * CHAN_PER_LOOP; i++) {
		if (p->fds[i] >= 0)
			close(p->fds[i]);
		p->fds[i] = -1;
	}
	atomic_store(&p->alive, 0);
}

/*
 * Moves fd above every descriptor number the helper is given, so that no
 * dup2() in the child overwrites a descriptor still to be passed on.
 */
static int
fd_above_targets(int fd)
{
	int moved;

	if (fd > P11H_MODULE_FD)
		return fd;
	moved = fcntl(fd, F_DUPFD_CLOEXEC, P11H_MODULE_FD + 1);
	close(fd);
	return moved;
}

/*
 * Spawns kmes-agent --pkcs11-helper with nch channels at fds 3.. and the
 * checked module file (module_fd) at P11H_MODULE_FD.
 */
static int
helper_spawn(struct agent *a, struct provider *p, int *mine, size_t nch,
    int module_fd)
{
	posix_spawn_file_actions_t fa;
	int theirs[P11H_MAX_CHANNELS], sv[2], err, mfd = -1;
	char nbuf[16], lbuf[16];
	char *argv[6];
	size_t i, made = 0;
	pid_t pid;
	int r = KMES_ERR_SYSTEM;
	extern char **environ;

	if ((mfd = fcntl(module_fd, F_DUPFD_CLOEXEC, P11H_MODULE_FD + 1)) < 0)
		goto out;
	for (i = 0; i < nch; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
		    sv) != 0)
			goto out;
		mine[i] = sv[0];
		if ((theirs[i] = fd_above_targets(sv[1])) < 0) {
			close(sv[0]);
			mine[i] = -1;
			goto out;
		}
		made++;
	}
	snprintf(nbuf, sizeof(nbuf), "%zu", nch);
	snprintf(lbuf, sizeof(lbuf), "%d", a->opt.debug ? LOG_LVL_DEBUG :
	    LOG_LVL_INFO);
	argv[0] = "kmes-agent";
	argv[1] = P11H_ARG;
	argv[2] = nbuf;
	argv[3] = lbuf;
	argv[4] = a->opt.foreground ? "1" : "0";
	argv[5] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null",
	    O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null",
	    O_WRONLY, 0);
	if (!a->opt.foreground)
		posix_spawn_file_actions_addopen(&fa, STDERR_FILENO,
		    "/dev/null", O_WRONLY, 0);
	/* dup2 clears close-on-exec on the target descriptor. */
	for (i = 0; i < nch; i++)
		posix_spawn_file_actions_adddup2(&fa, theirs[i],
		    P11H_FD_BASE + (int)i);
	posix_spawn_file_actions_adddup2(&fa, mfd, P11H_MODULE_FD);
	/* Ourselves, re-executed: no helper binary to find or to trust. */
	err = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err != 0) {
		log_error("cannot start a PKCS#11 helper: %s", strerror(err));
		goto out;
	}
	p->pid = pid;
	log_info("started a PKCS#11 helper (pid %ld) for %s", (long)pid,
	    p->module);
	r = 0;
 out:
	if (mfd >= 0)
		close(mfd);
	for (i = 0; i < made; i++) {
		close(theirs[i]);
		if (r != 0) {
			close(mine[i]);
			mine[i] = -1;
		}
	}
	return r;
}

/*
 * Starts p's helper, logs in and (re)publishes the token's keys. Blocks
 * (up to the PKCS#11 timeout): call it before the loops run or from an
 * offloaded job. Caller holds p->mtx. Returns 0 or a negative KMES_ERR_*,
 * with a message in err.
 */
static int
helper_start(struct agent *a, struct provider *p, size_t source, char *err,
    size_t errlen)
{
	size_t nch = (size_t)a->opt.nloops * CHAN_PER_LOOP, i, n = 0, made = 0;
	int mine[P11H_MAX_CHANNELS], module_fd = -1;
	char chk[TOKEN_ERR_MAX - 16];
	struct kbuf *body = NULL, *msg = NULL, *rep = NULL, *cb = NULL;
	struct ks_key **keys = NULL;
	char **comments = NULL, *why = NULL, *desc = NULL;
	struct agent_constraints *cons = NULL;
	const uint8_t *blob;
	size_t blen;
	uint32_t code, cnt;
	uint8_t type;
	int r;

	err[0] = '\0';
	helper_reap(p);
	if (nch > MAX_LOOPS * CHAN_PER_LOOP)
		nch = MAX_LOOPS * CHAN_PER_LOOP;
	for (i = 0; i < nch; i++)
		mine[i] = -1;
	/*
	 * Every start, restarts included: what the helper loads is checked
	 * here, before any process exists that could dlopen() it.
	 */
	if ((r = modcheck_open(p->module, a->opt.uid, &module_fd, chk,
	    sizeof(chk))) != 0) {
		snprintf(err, errlen, "not loaded: %s", chk);
		goto out;
	}
	if ((r = helper_spawn(a, p, mine, nch, module_fd)) != 0) {
		snprintf(err, errlen, "cannot start the PKCS#11 helper");
		goto out;
	}
	/* The INIT carries the PIN: secure buffers only. */
	if ((body = kbuf_new_secure(P11H_MSG_MAX)) == NULL ||
	    (msg = kbuf_new_secure(P11H_MSG_MAX + 4)) == NULL ||
	    (rep = kbuf_new()) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	if ((r = kbuf_put_u8(body, P11H_INIT)) != 0 ||
	    (r = kbuf_put_cstring(body, p->module)) != 0 ||
	    (r = kbuf_put_cstring(body, p->token != NULL ? p->token : "")) !=
	    0 || (r = kbuf_put_string(body, p->pin, p->pinlen)) != 0 ||
	    (r = agent_msg_put_framed_max(msg, body, P11H_MSG_MAX)) != 0)
		goto out;
	if (kmes_write_all(mine[0], kbuf_ptr(msg), kbuf_len(msg)) != 0) {
		r = KMES_ERR_CONNECTION_CLOSED;
		snprintf(err, errlen, "the PKCS#11 helper died at start");
		goto out;
	}
	if ((r = read_reply(mine[0], rep, timeout_ms(a))) != 0) {
		if (r == KMES_ERR_TIMEOUT)
			snprintf(err, errlen, "the PKCS#11 module did not "
			    "answer within %llu s",
			    (unsigned long long)timeout_ms(a) / 1000);
		else
			snprintf(err, errlen, "the PKCS#11 helper died while "
			    "loading the module (it may have crashed)");
		goto out;
	}
	if ((r = kbuf_get_u8(rep, &type)) != 0)
		goto out;
	if (type == P11H_FAIL) {
		if ((r = kbuf_get_u32(rep, &code)) != 0 ||
		    (r = kbuf_get_cstring(rep, &why, NULL)) != 0)
			goto out;
		snprintf(err, errlen, "%s", why);
		r = (int)-code;
		if (r >= 0 || r <= KMES_ERR_LAST)
			r = KMES_ERR_TOKEN;
		goto out;
	}
	if (type != P11H_OK || (r = kbuf_get_cstring(rep, &desc, NULL)) != 0 ||
	    (r = kbuf_get_u32(rep, &cnt)) != 0 || cnt > 4096) {
		r = r != 0 ? r : KMES_ERR_AGENT_PROTOCOL;
		goto out;
	}
	n = cnt;
	if (n != 0 && ((keys = calloc(n, sizeof(*keys))) == NULL ||
	    (comments = calloc(n, sizeof(*comments))) == NULL ||
	    (cons = calloc(n, sizeof(*cons))) == NULL)) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	for (made = 0; made < n; made++) {
		if ((r = kbuf_get_string_direct(rep, &blob, &blen)) != 0 ||
		    (r = ks_key_from_blob(blob, blen, &keys[made])) != 0 ||
		    (r = kbuf_get_cstring(rep, &comments[made], NULL)) != 0)
			goto out;
		if (p->cons_len != 0) {
			if ((cb = kbuf_from(p->cons, p->cons_len)) == NULL) {
				r = KMES_ERR_ALLOC;
				goto out;
			}
			r = agent_constraints_parse(cb, &cons[made]);
			kbuf_free(cb);
			cb = NULL;
			if (r != 0)
				goto out;
		}
	}
	if ((r = ks_table_replace_source(a->table, KS_ORIGIN_TOKEN,
	    (uint32_t)source, keys, comments, cons, n, p->expiry_ms)) != 0)
		goto out;
	made = 0;
	if (p->expiry_ms != 0)
		loop_kick_expiry(a);
	for (i = 0; i < nch; i++) {
		(void)fcntl(mine[i], F_SETFL, fcntl(mine[i], F_GETFL) |
		    O_NONBLOCK);
		p->fds[i] = mine[i];
		mine[i] = -1;
	}
	free(p->desc);
	p->desc = desc;
	desc = NULL;
	atomic_fetch_add(&p->gen, 1);
	atomic_store(&p->alive, 1);
	log_info("PKCS#11 %s of %s: %zu key(s)", p->desc, p->module, n);
	r = 0;
 out:
	if (r != 0 && err[0] == '\0')
		snprintf(err, errlen, "%s", kmes_err(r));
	if (module_fd >= 0)
		close(module_fd);
	for (i = 0; i < nch; i++) {
		if (mine[i] >= 0)
			close(mine[i]);
	}
	if (r != 0)
		helper_reap(p);
	for (i = 0; i < made && keys != NULL; i++) {
		ks_key_free(keys[i]);
		free(comments[i]);
		agent_constraints_clear(&cons[i]);
	}
	/* On success the table took every key, comment and constraint. */
	free(keys);
	free(comments);
	free(cons);
	kbuf_free(body);
	kbuf_free(msg);
	kbuf_free(rep);
	free(why);
	free(desc);
	return r;
}

static void
provider_clear(struct provider *p)
{
	free(p->module);
	free(p->token);
	free(p->desc);
	kmes_secure_free(p->pin);
	free(p->cons);
	p->module = p->token = p->desc = NULL;
	p->pin = p->cons = NULL;
	p->pinlen = p->cons_len = 0;
	p->used = 0;
}

static int
same_token(const char *x, const char *y)
{
	if (x == NULL || y == NULL)
		return x == y;
	return strcmp(x, y) == 0;
}

int
token_add_provider(struct agent *a, const char *module, const char *token,
    const uint8_t *pin, size_t pinlen, const uint8_t *cons, size_t cons_len,
    uint64_t expiry_ms, int from_cli, char *err, size_t errlen)
{
	struct provider *p = NULL;
	size_t i, slot = MAX_PROVIDERS;
	int r;

	err[0] = '\0';
	pthread_mutex_lock(&provs_mtx);
	for (i = 0; i < MAX_PROVIDERS; i++) {
		if (provs[i].used && !provs[i].removed &&
		    strcmp(provs[i].module, module) == 0 &&
		    same_token(provs[i].token, token)) {
			pthread_mutex_unlock(&provs_mtx);
			snprintf(err, errlen, "%s is already added", module);
			return KMES_ERR_EXISTS;
		}
		if (slot == MAX_PROVIDERS && (!provs[i].used ||
		    provs[i].removed))
			slot = i;
	}
	if (slot == MAX_PROVIDERS) {
		pthread_mutex_unlock(&provs_mtx);
		snprintf(err, errlen, "too many PKCS#11 providers (%d)",
		    MAX_PROVIDERS);
		return KMES_ERR_NO_BUFFER_SPACE;
	}
	p = &provs[slot];
	pthread_mutex_lock(&p->mtx);
	provider_clear(p);
	/*
	 * Named before provs_mtx is let go: another add scans every used
	 * slot's module and token under provs_mtx alone, and two concurrent
	 * ssh-add -s once made it strcmp a NULL module (a crash).
	 */
	if ((p->module = strdup(module)) == NULL ||
	    (token != NULL && (p->token = strdup(token)) == NULL)) {
		provider_clear(p);
		pthread_mutex_unlock(&p->mtx);
		pthread_mutex_unlock(&provs_mtx);
		return KMES_ERR_ALLOC;
	}
	p->used = 1;
	p->removed = 0;
	p->from_cli = from_cli;
	p->expiry_ms = expiry_ms;
	pthread_mutex_unlock(&provs_mtx);

	if ((p->pin = kmes_secure_alloc(pinlen == 0 ? 1 : pinlen)) == NULL ||
	    (cons_len != 0 && (p->cons = malloc(cons_len)) == NULL)) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	memcpy(p->pin, pin, pinlen);
	p->pinlen = pinlen;
	if (cons_len != 0)
		memcpy(p->cons, cons, cons_len);
	p->cons_len = cons_len;
	r = helper_start(a, p, slot + 1, err, errlen);
 out:
	if (r != 0) {
		/* Nothing of a provider that did not start stays behind. */
		ks_table_remove_source(a->table, KS_ORIGIN_TOKEN,
		    (uint32_t)slot + 1);
		/*
		 * The slot goes back as removed, its module and token kept:
		 * an add scanning the slots holds provs_mtx only, so they are
		 * freed only by the add that reuses the slot (under it).
		 */
		free(p->desc);
		kmes_secure_free(p->pin);
		free(p->cons);
		p->desc = NULL;
		p->pin = p->cons = NULL;
		p->pinlen = p->cons_len = 0;
		p->removed = 1;
	}
	pthread_mutex_unlock(&p->mtx);
	return r;
}

/* Marks generation gen of p dead, killing the helper if it is the
 * current one (it hung, or it broke the protocol). */
static void
provider_kill(struct provider *p, unsigned int gen, const char *why)
{
	/*
	 * Called on an event loop: never wait for the mutex. Whoever holds
	 * it (a restart, an add, a removal) reaps this helper anyway.
	 */
	if (pthread_mutex_trylock(&p->mtx) != 0)
		return;
	if (atomic_load(&p->gen) == gen && atomic_load(&p->alive)) {
		log_error("PKCS#11 %s: %s; stopping its helper (it is "
		    "restarted on the next request)",
		    p->desc != NULL ? p->desc : p->module, why);
		atomic_store(&p->alive, 0);
		if (p->pid > 0)
			(void)kill(p->pid, SIGKILL);
	}
	pthread_mutex_unlock(&p->mtx);
}

/* ----------------------------------------------------- loop-side paths */

static void chan_event(struct loop *l, int fd, uint32_t ev, void *arg);

static void
reply_failure(struct conn *c, struct token_req *q, const char *result,
    const char *why)
{
	struct agent *a = loop_agent(c->loop);

	audit_sign(a, c, q->id, NULL, 0, result, why);
	kbuf_reset(c->pending_reply);
	if (agent_msg_put_code(c->pending_reply, SSH_AGENT_FAILURE) != 0)
		c->closing = 1;
	loop_conn_resume(c);
}

/* Ends q: the client (if still waiting) gets sig, or FAILURE if NULL. */
static void
req_finish(struct token_req *q, const uint8_t *sig, size_t siglen,
    const char *why)
{
	struct conn *c = q->conn;
	struct agent *a;

	if (c == NULL) {
		req_free(q);
		return;
	}
	a = loop_agent(c->loop);
	c->treq = NULL;
	q->conn = NULL;
	if (sig == NULL) {
		log_error("signing with \"%s\" on its token failed: %s",
		    ks_identity_comment(q->id), why);
		reply_failure(c, q, "error", why);
		req_free(q);
		return;
	}
	atomic_store(&a->last_use_ms, agent_now_ms());
	audit_sign(a, c, q->id, NULL, 0, "ok", NULL);
	log_debug("signed with token key \"%s\"", ks_identity_comment(q->id));
	kbuf_reset(c->pending_reply);
	if (kbuf_put_u32(c->pending_reply, (uint32_t)(1 + 4 + siglen)) != 0 ||
	    kbuf_put_u8(c->pending_reply, SSH_AGENT_SIGN_RESPONSE) != 0 ||
	    kbuf_put_string(c->pending_reply, sig, siglen) != 0)
		c->closing = 1;
	req_free(q);
	loop_conn_resume(c);
}

static void
chan_close(struct channel *ch)
{
	if (ch->fd >= 0) {
		loop_unwatch_fd(ch->loop, ch->fd);
		close(ch->fd);
	}
	ch->fd = -1;
	kbuf_free(ch->in);
	ch->in = NULL;
}

/* The helper behind ch went away: fail what was in flight. */
static void
chan_dead(struct channel *ch, size_t pi, const char *why)
{
	struct token_req *q = ch->req;

	ch->req = NULL;
	chan_close(ch);
	provider_kill(&provs[pi], ch->gen, why);
	if (q != NULL)
		req_finish(q, NULL, 0, why);
}

/* Makes ch a channel of p's current helper, if it is not already. */
static int
chan_ensure(struct loop *l, unsigned int li, size_t pi, size_t j)
{
	struct channel *ch = &chans[li][pi][j];
	struct provider *p = &provs[pi];
	unsigned int gen = atomic_load(&p->gen);
	int fd;

	if (ch->fd >= 0 && ch->gen == gen)
		return 0;
	if (ch->fd >= 0) {
		/* A previous helper's channel. */
		if (ch->req != NULL)
			return KMES_ERR_LOCKED;	/* its answer is still due */
		chan_close(ch);
	}
	/* Never wait on a loop: a restart may hold this for seconds. */
	if (pthread_mutex_trylock(&p->mtx) != 0)
		return KMES_ERR_LOCKED;
	fd = p->fds[li * CHAN_PER_LOOP + j];
	p->fds[li * CHAN_PER_LOOP + j] = -1;
	gen = atomic_load(&p->gen);
	pthread_mutex_unlock(&p->mtx);
	if (fd < 0)
		return KMES_ERR_CONNECTION_CLOSED;
	ch->fd = fd;
	ch->gen = gen;
	ch->loop = l;
	if ((ch->in = kbuf_new()) == NULL ||
	    kbuf_set_max_size(ch->in, P11H_MSG_MAX + 4) != 0 ||
	    loop_watch_fd(l, fd, chan_event, ch) != 0) {
		kbuf_free(ch->in);
		ch->in = NULL;
		close(fd);
		ch->fd = -1;
		return KMES_ERR_SYSTEM;
	}
	return 0;
}

/* Writes the whole request; a stuck helper counts as dead. */
static int
chan_send(struct channel *ch, struct token_req *q)
{
	const uint8_t *p = kbuf_ptr(q->msg);
	size_t left = kbuf_len(q->msg);
	struct pollfd pfd = { ch->fd, POLLOUT, 0 };
	ssize_t n;
	int waits = 0;

	while (left > 0) {
		n = send(ch->fd, p, left, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			p += n;
			left -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		/* An idle helper thread drains at once; only a huge
		 * request ever waits here, and never for long. */
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    waits++ < 20 && poll(&pfd, 1, 50) >= 0)
			continue;
		return KMES_ERR_CONNECTION_CLOSED;
	}
	ch->req = q;
	q->sent = 1;
	q->gen = ch->gen;
	return 0;
}

/* Sends the next waiting request of (li, pi) on a free channel. */
static void
pump(struct loop *l, unsigned int li, size_t pi)
{
	struct token_req *q;
	struct channel *ch;
	size_t j;

	while ((q = waitq[li][pi]) != NULL) {
		if (q->conn == NULL) {
			waitq[li][pi] = q->next;
			req_free(q);
			continue;
		}
		if (!atomic_load(&provs[pi].alive)) {
			waitq[li][pi] = q->next;
			req_finish(q, NULL, 0, "its PKCS#11 helper stopped");
			continue;
		}
		for (j = 0; j < CHAN_PER_LOOP; j++) {
			ch = &chans[li][pi][j];
			if (chan_ensure(l, li, pi, j) == 0 && ch->req == NULL)
				break;
		}
		if (j == CHAN_PER_LOOP)
			return;		/* all busy: a reply will pump */
		waitq[li][pi] = q->next;
		q->next = NULL;
		if (chan_send(ch, q) != 0)
			chan_dead(ch, pi, "its helper stopped reading");
	}
}

static void
chan_reply(struct channel *ch, size_t pi, struct kbuf *m)
{
	struct token_req *q = ch->req;
	const uint8_t *sig;
	size_t siglen;
	uint32_t id, code;
	char *why = NULL;
	uint8_t type;

	if (kbuf_get_u8(m, &type) != 0 || kbuf_get_u32(m, &id) != 0 ||
	    q == NULL || id != q->reqid) {
		chan_dead(ch, pi, "it sent an unexpected reply");
		return;
	}
	ch->req = NULL;
	if (type == P11H_OK && kbuf_get_string_direct(m, &sig, &siglen) == 0 &&
	    kbuf_len(m) == 0) {
		req_finish(q, sig, siglen, NULL);
		return;
	}
	if (type == P11H_FAIL && kbuf_get_u32(m, &code) == 0 &&
	    kbuf_get_cstring(m, &why, NULL) == 0) {
		req_finish(q, NULL, 0, why);
		free(why);
		return;
	}
	free(why);
	ch->req = q;
	chan_dead(ch, pi, "it sent a malformed reply");
}

static void
chan_event(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct channel *ch = arg;
	size_t pi = ch->pi;
	unsigned int li = ch->li;
	struct kbuf *m;
	uint8_t *p;
	size_t want, len;
	ssize_t n;

	(void)fd;
	for (;;) {
		want = kbuf_avail(ch->in);
		if (want > 65536)
			want = 65536;
		if (want == 0 || kbuf_reserve(ch->in, want, &p) != 0) {
			chan_dead(ch, pi, "it sent an oversized reply");
			return;
		}
		n = recv(ch->fd, p, want, MSG_DONTWAIT);
		if (kbuf_consume_end(ch->in, n > 0 ? want - (size_t)n :
		    want) != 0) {
			chan_dead(ch, pi, "buffer error");
			return;
		}
		if (n == 0) {
			chan_dead(ch, pi, "it exited or crashed");
			pump(l, li, pi);
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			chan_dead(ch, pi, strerror(errno));
			pump(l, li, pi);
			return;
		}
		if ((size_t)n < want)
			break;
	}
	(void)ev;
	while (ch->fd >= 0) {
		int r = agent_msg_frame_max(ch->in, P11H_MSG_MAX, &len);

		if (r == KMES_ERR_MESSAGE_INCOMPLETE)
			break;
		if (r != 0) {
			chan_dead(ch, pi, "it sent a bad frame");
			break;
		}
		if ((m = kbuf_from(kbuf_ptr(ch->in) + 4, len)) == NULL) {
			chan_dead(ch, pi, "out of memory");
			break;
		}
		chan_reply(ch, pi, m);
		kbuf_free(m);
		if (ch->in == NULL || kbuf_consume(ch->in, 4 + len) != 0)
			break;
	}
	pump(l, li, pi);
}

/* Queues q on c's loop and sends it when a channel is free. */
static void
submit(struct conn *c, struct token_req *q)
{
	struct agent *a = loop_agent(c->loop);
	unsigned int li = loop_index(c->loop);
	struct token_req **tail;

	if ((c->pending_reply = kbuf_new()) == NULL ||
	    agent_msg_put_code(c->pending_reply, SSH_AGENT_FAILURE) != 0) {
		kbuf_free(c->pending_reply);
		c->pending_reply = NULL;
		req_free(q);
		c->closing = 1;
		return;
	}
	q->conn = c;
	c->treq = q;
	/* The deadline answers FAILURE by itself (token_conn_timeout). */
	loop_conn_wait_until(c, agent_now_ms() + timeout_ms(a));
	for (tail = &waitq[li][q->prov]; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = q;
	pump(c->loop, li, q->prov);
}

/* A restart of a dead helper, on a helper thread. */
struct restart_job {
	struct agent *agent;
	struct token_req *q;
	int r;
	char err[TOKEN_ERR_MAX];
};

static void
restart_run(void *arg)
{
	struct restart_job *j = arg;
	struct provider *p = &provs[j->q->prov];

	pthread_mutex_lock(&p->mtx);
	if (p->removed || !p->used)
		j->r = KMES_ERR_KEY_NOT_FOUND;
	else if (atomic_load(&p->alive))
		j->r = 0;	/* another request restarted it */
	else {
		log_info("restarting the PKCS#11 helper for %s", p->module);
		j->r = helper_start(j->agent, p, j->q->prov + 1, j->err,
		    sizeof(j->err));
	}
	pthread_mutex_unlock(&p->mtx);
}

static void
restart_done(struct conn *c, void *arg)
{
	struct restart_job *j = arg;
	struct token_req *q = j->q;

	if (j->r != 0) {
		log_error("PKCS#11 provider %s cannot be restarted: %s",
		    provs[q->prov].module, j->err[0] != '\0' ? j->err :
		    kmes_err(j->r));
		audit_sign(j->agent, c, q->id, NULL, 0, "error",
		    "PKCS#11 helper restart failed");
		if (agent_msg_put_code(c->out, SSH_AGENT_FAILURE) != 0)
			c->closing = 1;
		req_free(q);
	} else
		submit(c, q);
	free(j);
}

void
token_sign(struct agent *a, struct conn *c, struct ks_identity *id,
    const uint8_t *data, size_t dlen, uint32_t flags)
{
	struct token_req *q = NULL;
	struct restart_job *j = NULL;
	struct kbuf *body = NULL;
	const uint8_t *blob;
	size_t blen, pi = ks_identity_source(id) - 1;

	if (pi >= MAX_PROVIDERS || !provs[pi].used || provs[pi].removed) {
		audit_sign(a, c, id, NULL, 0, "error", "provider removed");
		goto fail;
	}
	blob = ks_key_blob(ks_identity_key(id), &blen);
	if ((q = calloc(1, sizeof(*q))) == NULL ||
	    (body = kbuf_new()) == NULL)
		goto fail;
	q->id = ks_identity_ref(id);
	q->prov = pi;
	q->reqid = atomic_fetch_add(&next_reqid, 1);
	if (kbuf_put_u8(body, P11H_SIGN) != 0 ||
	    kbuf_put_u32(body, q->reqid) != 0 ||
	    kbuf_put_string(body, blob, blen) != 0 ||
	    kbuf_put_string(body, data, dlen) != 0 ||
	    kbuf_put_u32(body, flags) != 0 ||
	    (q->msg = frame(body)) == NULL)
		goto fail;
	kbuf_free(body);
	body = NULL;
	if (atomic_load(&provs[pi].alive)) {
		submit(c, q);
		return;
	}
	/* The helper died or was stopped: start a new one off the loop. */
	if ((j = calloc(1, sizeof(*j))) == NULL)
		goto fail;
	j->agent = a;
	j->q = q;
	if (loop_offload(c, restart_run, restart_done, j) != 0) {
		free(j);
		goto fail;
	}
	return;
 fail:
	kbuf_free(body);
	req_free(q);
	if (agent_msg_put_code(c->out, SSH_AGENT_FAILURE) != 0)
		c->closing = 1;
}

void
token_conn_timeout(struct conn *c)
{
	struct token_req *q = c->treq;
	struct agent *a = loop_agent(c->loop);

	c->treq = NULL;
	q->conn = NULL;
	log_error("the token did not answer a signature with \"%s\" within "
	    "%llu s", ks_identity_comment(q->id),
	    (unsigned long long)timeout_ms(a) / 1000);
	audit_sign(a, c, q->id, NULL, 0, "error", "PKCS#11 timeout");
	/* The reply still due keeps its channel busy until the kill's
	 * EOF arrives; a queued request is dropped when its turn comes. */
	if (q->sent)
		provider_kill(&provs[q->prov], q->gen, "it hangs");
}

void
token_conn_gone(struct conn *c)
{
	if (c->treq != NULL) {
		c->treq->conn = NULL;
		c->treq = NULL;
	}
}

/* ------------------------------------------ ADD/REMOVE_SMARTCARD_KEY */

/*
 * A connection with a session binding may be another host's, reaching us
 * through ssh -A: it must not make us load code (CVE-2023-38408: the
 * constructor of any library the allow-list matches runs at dlopen) nor
 * drop the user's providers. As ssh-agent, refuse unless the user opted in
 * (-O allow-remote-pkcs11). Reads only the provider name, to say what was
 * refused; the PIN and constraints stay unparsed. Returns 1 if refused
 * (FAILURE queued), 0 if the request may go on.
 */
static int
refuse_remote(struct agent *a, struct conn *c, struct kbuf *m,
    const char *op)
{
	char *provider = NULL;

	if (!policy_conn_remote(c))
		return 0;
	if (a->opt.allow_remote_pkcs11) {
		log_info("%s of a PKCS#11 provider by a connection with a "
		    "session binding: allowed by -O allow-remote-pkcs11", op);
		return 0;
	}
	if (kbuf_get_cstring(m, &provider, NULL) != 0)
		provider = NULL;
	log_error("refusing to %s PKCS#11 provider \"%s\" for a connection "
	    "with a session binding (uid %ld, pid %ld): it may come from "
	    "another host over ssh -A; -O allow-remote-pkcs11 allows it", op,
	    provider != NULL ? provider : "(malformed)", (long)c->peer_uid,
	    (long)c->peer_pid);
	audit_provider(c, op, provider, "refused", "session-bound connection");
	free(provider);
	if (agent_msg_put_code(c->out, SSH_AGENT_FAILURE) != 0)
		c->closing = 1;
	return 1;
}

struct add_job {
	struct agent *agent;
	char *module;
	uint8_t *pin;		/* secure memory */
	size_t pinlen;
	uint8_t *cons;
	size_t cons_len;
	uint64_t expiry_ms;
	int guess;		/* a PIN from the client: rate-limited */
	int r;
	char err[TOKEN_ERR_MAX];
};

static void
add_job_free(struct add_job *j)
{
	free(j->module);
	kmes_secure_free(j->pin);
	free(j->cons);
	free(j);
}

static void
add_job_run(void *arg)
{
	struct add_job *j = arg;

	j->r = token_add_provider(j->agent, j->module, NULL, j->pin,
	    j->pinlen, j->cons, j->cons_len, j->expiry_ms, 0, j->err,
	    sizeof(j->err));
}

static void
add_job_done(struct conn *c, void *arg)
{
	struct add_job *j = arg;
	uint64_t hold = 0;

	if (j->guess)
		hold = guess_done(j->agent, j->r);
	if (j->r != 0)
		log_error("cannot add PKCS#11 provider %s: %s", j->module,
		    j->err[0] != '\0' ? j->err : kmes_err(j->r));
	audit_provider(c, "add", j->module, j->r == 0 ? "ok" : "error",
	    j->r == 0 ? NULL : j->err[0] != '\0' ? j->err : kmes_err(j->r));
	/* A wrong PIN's answer waits until the next guess may pass. */
	if (j->r == 0 || !guess_hold_failure(c, hold)) {
		if (agent_msg_put_code(c->out, j->r == 0 ?
		    SSH_AGENT_SUCCESS : SSH_AGENT_FAILURE) != 0)
			c->closing = 1;
	}
	add_job_free(j);
}

void
token_process_add(struct agent *a, struct conn *c, struct kbuf *m,
    int constrained)
{
	struct add_job *j = NULL;
	struct agent_constraints cons;
	char *provider = NULL, canon[PATH_MAX];
	const uint8_t *pin, *cstart;
	size_t pinlen, clen;
	uint64_t now = agent_now_ms();
	int r, admitted = 0;

	memset(&cons, 0, sizeof(cons));
	/* First: a remote peer gets nothing parsed, opened or started. */
	if (refuse_remote(a, c, m, "add"))
		return;
	if ((r = kbuf_get_cstring(m, &provider, NULL)) != 0 ||
	    (r = kbuf_get_string_direct(m, &pin, &pinlen)) != 0) {
		log_info("malformed add-smartcard request: %s", kmes_err(r));
		goto fail;
	}
	cstart = kbuf_ptr(m);
	clen = kbuf_len(m);
	if (!constrained && clen != 0) {
		log_info("malformed add-smartcard request: trailing bytes");
		goto fail;
	}
	if (constrained && (r = agent_constraints_parse(m, &cons)) != 0) {
		log_error("refusing PKCS#11 provider %s: %s", provider,
		    kmes_err(r));
		goto fail;
	}
	if (realpath(provider, canon) == NULL) {
		log_error("refusing PKCS#11 provider \"%s\": realpath: %s",
		    provider, strerror(errno));
		audit_provider(c, "add", provider, "refused", strerror(errno));
		goto fail;
	}
	if (kmes_match_pattern_list(canon, a->opt.allowed_providers) != 1) {
		log_error("refusing PKCS#11 provider \"%s\": not allowed by "
		    "the allow-list (-P)", canon);
		audit_provider(c, "add", canon, "refused",
		    "not allowed by the allow-list (-P)");
		goto fail;
	}
	/*
	 * A PIN is a guess, at the global rate. A session-bound peer only
	 * gets this far with -O allow-remote-pkcs11 (refuse_remote above):
	 * the user opted in to its token logins too, so they are limited
	 * like a local client's, not refused.
	 */
	if (pinlen != 0 && guess_admit(a, c, "token") != 0)
		goto fail;
	admitted = pinlen != 0;
	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (j->module = strdup(canon)) == NULL ||
	    (j->pin = kmes_secure_alloc(pinlen == 0 ? 1 : pinlen)) == NULL ||
	    (clen != 0 && (j->cons = malloc(clen)) == NULL))
		goto fail;
	j->agent = a;
	j->guess = admitted;
	memcpy(j->pin, pin, pinlen);
	j->pinlen = pinlen;
	if (clen != 0)
		memcpy(j->cons, cstart, clen);
	j->cons_len = clen;
	if (cons.lifetime_set)
		j->expiry_ms = now + (uint64_t)cons.lifetime * 1000;
	else if (a->opt.default_lifetime != 0)
		j->expiry_ms = now + (uint64_t)a->opt.default_lifetime * 1000;
	agent_constraints_clear(&cons);
	free(provider);
	if (loop_offload(c, add_job_run, add_job_done, j) != 0) {
		add_job_free(j);
		goto fail_quiet;
	}
	return;
 fail:
	if (j != NULL)
		add_job_free(j);
	agent_constraints_clear(&cons);
	free(provider);
 fail_quiet:
	if (admitted)
		guess_done(a, KMES_ERR_NO_BUFFER_SPACE);
	if (agent_msg_put_code(c->out, SSH_AGENT_FAILURE) != 0)
		c->closing = 1;
}

struct remove_job {
	struct agent *agent;
	char canon[PATH_MAX];
	size_t found;
};

static void
remove_job_run(void *arg)
{
	struct remove_job *j = arg;
	struct provider *p;
	size_t i, nkeys;

	/* Off the loop: a restart in progress may hold a provider's lock. */
	pthread_mutex_lock(&provs_mtx);
	for (i = 0; i < MAX_PROVIDERS; i++) {
		p = &provs[i];
		if (!p->used || p->removed || strcmp(p->module, j->canon) != 0)
			continue;
		pthread_mutex_lock(&p->mtx);
		p->removed = 1;
		nkeys = ks_table_remove_source(j->agent->table,
		    KS_ORIGIN_TOKEN, (uint32_t)i + 1);
		helper_reap(p);
		log_info("removed PKCS#11 provider %s (%zu key(s))",
		    p->module, nkeys);
		pthread_mutex_unlock(&p->mtx);
		j->found++;
	}
	pthread_mutex_unlock(&provs_mtx);
}

static void
remove_job_done(struct conn *c, void *arg)
{
	struct remove_job *j = arg;

	if (j->found == 0)
		log_info("remove-smartcard: provider %s was not added",
		    j->canon);
	audit_provider(c, "remove", j->canon, j->found != 0 ? "ok" : "error",
	    j->found != 0 ? NULL : "not added");
	if (agent_msg_put_code(c->out, j->found != 0 ? SSH_AGENT_SUCCESS :
	    SSH_AGENT_FAILURE) != 0)
		c->closing = 1;
	free(j);
}

void
token_process_remove(struct agent *a, struct conn *c, struct kbuf *m)
{
	char *provider = NULL;
	const uint8_t *pin;
	size_t pinlen;
	struct remove_job *j = NULL;

	if (refuse_remote(a, c, m, "remove"))
		return;
	if (kbuf_get_cstring(m, &provider, NULL) != 0 ||
	    kbuf_get_string_direct(m, &pin, &pinlen) != 0 ||
	    kbuf_len(m) != 0) {
		log_info("malformed remove-smartcard request");
		goto fail;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL)
		goto fail;
	j->agent = a;
	if (realpath(provider, j->canon) == NULL)
		snprintf(j->canon, sizeof(j->canon), "%s", provider);
	free(provider);
	provider = NULL;
	if (loop_offload(c, remove_job_run, remove_job_done, j) != 0)
		goto fail;
	return;
 fail:
	free(j);
	free(provider);
	if (agent_msg_put_code(c->out, SSH_AGENT_FAILURE) != 0)
		c->closing = 1;
}

void
token_shutdown(struct agent *a)
{
	size_t i;

	(void)a;
	for (i = 0; i < MAX_PROVIDERS; i++) {
		if (!provs[i].used)
			continue;
		pthread_mutex_lock(&provs[i].mtx);
		helper_reap(&provs[i]);
		provider_clear(&provs[i]);
		pthread_mutex_unlock(&provs[i].mtx);
	}
}
