/*
 * prov.c: PKCS#11 providers: the table, and the helper processes that
 * load the modules (started, restarted, stopped here; signing over them
 * is prov-sign.c's, the client requests smartcard.c's).
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
#include <sys/time.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent-msg.h"
#include "agent.h"
#include "fdio.h"
#include "kbuf.h"
#include "keytable.h"
#include "kmes-err.h"
#include "log.h"
#include "loop.h"
#include "module-check.h"
#include "p11-proto.h"
#include "prov-int.h"
#include "prov.h"
#include "secmem.h"

struct provider provs[MAX_PROVIDERS];
pthread_mutex_t provs_mtx = PTHREAD_MUTEX_INITIALIZER;
/* The program run as a helper: ourselves, unless a test says otherwise. */
static const char *helper_exe = "/proc/self/exe";

void
prov_set_helper_exe(const char *path)
{
	helper_exe = path != NULL ? path : "/proc/self/exe";
}

uint64_t
prov_timeout_ms(const struct agent *a)
{
	return a->opt.pkcs11_timeout_ms != 0 ? a->opt.pkcs11_timeout_ms : 30000;
}

void
prov_init(void)
{
	size_t i, j;

	for (i = 0; i < MAX_PROVIDERS; i++) {
		pthread_mutex_init(&provs[i].mtx, NULL);
		for (j = 0; j < MAX_LOOPS * CHAN_PER_LOOP; j++)
			provs[i].fds[j] = -1;
	}
	prov_sign_init();
}

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
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
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
	snprintf(lbuf, sizeof(lbuf), "%d",
	    a->opt.debug ? LOG_LVL_DEBUG : LOG_LVL_INFO);
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
	err = posix_spawn(&pid, helper_exe, &fa, NULL, argv, environ);
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
 * Sends the helper its INIT (module, token, PIN) on fd and reads the
 * answer into rep, waiting at most the PKCS#11 timeout. On a P11H_FAIL
 * answer returns the helper's error with its message in err. Returns 0
 * (rep then holds an OK past its type byte) or a negative KMES_ERR_*.
 */
static int
helper_init(struct agent *a, struct provider *p, int fd, struct kbuf *rep,
    char *err, size_t errlen)
{
	struct kbuf *body = NULL, *msg = NULL;
	char *why = NULL;
	uint32_t code;
	uint8_t type;
	int r;

	/* The INIT carries the PIN: secure buffers only. */
	if ((body = kbuf_new_secure(P11H_MSG_MAX)) == NULL ||
	    (msg = kbuf_new_secure(P11H_MSG_MAX + 4)) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	if ((r = kbuf_put_u8(body, P11H_INIT)) != 0 ||
	    (r = kbuf_put_cstring(body, p->module)) != 0 ||
	    (r = kbuf_put_cstring(body, p->token != NULL ? p->token : "")) !=
		0 ||
	    (r = kbuf_put_string(body, p->pin, p->pinlen)) != 0 ||
	    (r = agent_msg_put_framed_max(msg, body, P11H_MSG_MAX)) != 0)
		goto out;
	if (kmes_write_all(fd, kbuf_ptr(msg), kbuf_len(msg)) != 0) {
		r = KMES_ERR_CONNECTION_CLOSED;
		snprintf(err, errlen, "the PKCS#11 helper died at start");
		goto out;
	}
	if ((r = read_reply(fd, rep, prov_timeout_ms(a))) != 0) {
		if (r == KMES_ERR_TIMEOUT)
			snprintf(err, errlen,
			    "the PKCS#11 module did not "
			    "answer within %llu s",
			    (unsigned long long)prov_timeout_ms(a) / 1000);
		else
			snprintf(err, errlen,
			    "the PKCS#11 helper died while "
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
	if (type != P11H_OK)
		r = KMES_ERR_AGENT_PROTOCOL;
out:
	kbuf_free(body);
	kbuf_free(msg);
	free(why);
	return r;
}

/*
 * Reads the token's description and keys from the helper's OK (rep) and
 * serves the keys as source, each with p's constraints. Returns 0 (then
 * *descp is the description) or a negative KMES_ERR_*.
 */
static int
publish_keys(struct agent *a, struct provider *p, size_t source,
    struct kbuf *rep, char **descp, size_t *nkeys)
{
	struct ks_key **keys = NULL;
	char **comments = NULL, *desc = NULL;
	struct agent_constraints *cons = NULL;
	struct kbuf *cb = NULL;
	const uint8_t *blob;
	size_t i, n, made = 0, blen;
	uint32_t cnt;
	int r;

	if ((r = kbuf_get_cstring(rep, &desc, NULL)) != 0 ||
	    (r = kbuf_get_u32(rep, &cnt)) != 0 || cnt > 4096) {
		r = r != 0 ? r : KMES_ERR_AGENT_PROTOCOL;
		goto out;
	}
	n = cnt;
	if (n != 0 &&
	    ((keys = calloc(n, sizeof(*keys))) == NULL ||
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
	/* The table took every key, comment and constraint. */
	made = 0;
	*descp = desc;
	desc = NULL;
	*nkeys = n;
out:
	for (i = 0; i < made && keys != NULL; i++) {
		ks_key_free(keys[i]);
		free(comments[i]);
		agent_constraints_clear(&cons[i]);
	}
	free(keys);
	free(comments);
	free(cons);
	free(desc);
	return r;
}

int
prov_helper_start(struct agent *a, struct provider *p, size_t source, char *err,
    size_t errlen)
{
	size_t nch = (size_t)a->opt.nloops * CHAN_PER_LOOP, i, n = 0;
	int mine[P11H_MAX_CHANNELS], module_fd = -1;
	char chk[PROV_ERR_MAX - 16], *desc = NULL;
	struct kbuf *rep = NULL;
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
	if ((rep = kbuf_new()) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	if ((r = helper_init(a, p, mine[0], rep, err, errlen)) != 0 ||
	    (r = publish_keys(a, p, source, rep, &desc, &n)) != 0)
		goto out;
	if (p->expiry_ms != 0 && a->loops != NULL)
		loopset_kick(a->loops);
	for (i = 0; i < nch; i++) {
		(void)fcntl(mine[i], F_SETFL,
		    fcntl(mine[i], F_GETFL) | O_NONBLOCK);
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
	kbuf_free(rep);
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
prov_add(struct agent *a, const char *module, const char *token,
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
		if (slot == MAX_PROVIDERS &&
		    (!provs[i].used || provs[i].removed))
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
	r = prov_helper_start(a, p, slot + 1, err, errlen);
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

void
prov_kill(struct provider *p, unsigned int gen, const char *why)
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

size_t
prov_remove(struct agent *a, const char *canon)
{
	struct provider *p;
	size_t i, nkeys, found = 0;

	pthread_mutex_lock(&provs_mtx);
	for (i = 0; i < MAX_PROVIDERS; i++) {
		p = &provs[i];
		if (!p->used || p->removed || strcmp(p->module, canon) != 0)
			continue;
		pthread_mutex_lock(&p->mtx);
		p->removed = 1;
		nkeys = ks_table_remove_source(a->table, KS_ORIGIN_TOKEN,
		    (uint32_t)i + 1);
		helper_reap(p);
		log_info("removed PKCS#11 provider %s (%zu key(s))", p->module,
		    nkeys);
		pthread_mutex_unlock(&p->mtx);
		found++;
	}
	pthread_mutex_unlock(&provs_mtx);
	return found;
}

void
prov_shutdown(struct agent *a)
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
