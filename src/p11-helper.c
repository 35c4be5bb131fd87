/*
 * p11-helper.c: the process that holds one PKCS#11 module for kmes-agent.
 *
 * The agent never loads a vendor module into its own address space: a
 * module that crashes, leaks or hangs would take every client with it.
 * Instead each provider gets one of these, with one thread and one session
 * per channel, so signatures on one token run in parallel while the agent's
 * event loops stay free. The helper holds the token PIN (for re-logins after
 * an HSM restart) in locked memory; it never sees a private key.
 */
#include <sys/prctl.h>
#include <sys/resource.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent-msg.h"
#include "crypto.h"
#include "fdio.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "log.h"
#include "module-check.h"
#include "p11-proto.h"
#include "secmem.h"
#include "token.h"

struct helper {
	struct tok_module *m;
	struct tok_token **tokens;
	size_t ntokens;
	struct tok_key **keys;
	size_t nkeys;
};

/* One signing thread and the channel from the agent it serves. */
struct sign_channel {
	struct helper *h;
	int fd;
	struct tok_session **sessions; /* one per token, opened lazily */
};

/* Sends body framed. The agent reads every reply, so this cannot block
 * for long; a dead agent makes it fail and the helper leave. */
static int
send_msg(int fd, const struct kbuf *body)
{
	struct kbuf *f;
	int r;

	if ((f = kbuf_new()) == NULL)
		return KMES_ERR_ALLOC;
	if ((r = agent_msg_put_framed_max(f, body, P11H_MSG_MAX)) == 0)
		r = kmes_write_all(fd, kbuf_ptr(f), kbuf_len(f));
	kbuf_free(f);
	return r;
}

static void
note_log(void *arg, const char *text)
{
	(void)arg;
	log_info("%s", text);
}

static int
send_fail(int fd, int has_id, uint32_t id, int err, const char *why)
{
	struct kbuf *b;
	int r;

	if ((b = kbuf_new()) == NULL)
		return KMES_ERR_ALLOC;
	if ((r = kbuf_put_u8(b, P11H_FAIL)) == 0 &&
	    (!has_id || (r = kbuf_put_u32(b, id)) == 0) &&
	    (r = kbuf_put_u32(b, (uint32_t)-err)) == 0 &&
	    (r = kbuf_put_cstring(b, why)) == 0)
		r = send_msg(fd, b);
	kbuf_free(b);
	return r;
}

/* INIT: load, find the token(s), log in, list keys. */
static int
do_init(struct helper *h, struct kbuf *m, struct kbuf *reply,
    char err[TOK_ERRMSG_MAX])
{
	char *module = NULL, *want = NULL, desc[512], dlpath[64];
	char why[128];
	const uint8_t *pin;
	struct tok_token **found = NULL;
	size_t pinlen, i, nfound = 0, dlen = 0;
	uint8_t type;
	int r, n, logged_in = 0;

	if ((r = kbuf_get_u8(m, &type)) != 0 || type != P11H_INIT ||
	    (r = kbuf_get_cstring(m, &module, NULL)) != 0 ||
	    (r = kbuf_get_cstring(m, &want, NULL)) != 0 ||
	    (r = kbuf_get_string_direct(m, &pin, &pinlen)) != 0 ||
	    kbuf_len(m) != 0) {
		snprintf(err, TOK_ERRMSG_MAX, "bad INIT from the agent");
		r = r != 0 ? r : KMES_ERR_INVALID_FORMAT;
		goto out;
	}
	/*
	 * Load the descriptor the agent checked, not the path: the file at
	 * the path may have been replaced since. The check runs again here,
	 * in the process that loads, right before dlopen().
	 */
	if ((r = modcheck_fd(P11H_MODULE_FD, getuid(), why, sizeof(why))) !=
	    0) {
		snprintf(err, TOK_ERRMSG_MAX, "refusing to load %s: %s", module,
		    why);
		goto out;
	}
	snprintf(dlpath, sizeof(dlpath), "/proc/self/fd/%d", P11H_MODULE_FD);
	if ((r = tok_module_load(dlpath, module, &h->m, err)) != 0 ||
	    (r = tok_module_tokens(h->m, want[0] == '\0' ? NULL : want, &found,
		 &nfound, err)) != 0)
		goto out;
	h->tokens = found;
	h->ntokens = nfound;
	desc[0] = '\0';
	for (i = 0; i < nfound; i++) {
		if ((r = tok_token_login(found[i], pin, pinlen, err)) != 0) {
			char what[TOK_ERRMSG_MAX];

			snprintf(what, sizeof(what), "token '%s': %s",
			    tok_token_label(found[i]), err);
			memcpy(err, what, TOK_ERRMSG_MAX);
			/*
			 * Every token of a module (ssh-add -s) share one
			 * PIN; as ssh-agent does, serve the tokens that
			 * take it. A named token must take it.
			 */
			if (want[0] != '\0' || nfound == 1)
				goto out;
			log_info("%s; skipping that token", err);
			r = 0;
			continue;
		}
		logged_in++;
		if ((r = tok_token_keys(found[i], &h->keys, &h->nkeys, note_log,
			 NULL)) != 0) {
			snprintf(err, TOK_ERRMSG_MAX,
			    "token '%s': listing "
			    "keys: %s",
			    tok_token_label(found[i]), kmes_err(r));
			goto out;
		}
		n = snprintf(desc + dlen, sizeof(desc) - dlen,
		    "%stoken '%s' (serial %s)", i == 0 ? "" : ", ",
		    tok_token_label(found[i]), tok_token_serial(found[i]));
		if (n > 0 && (size_t)n < sizeof(desc) - dlen)
			dlen += (size_t)n;
	}
	if (logged_in == 0) {
		r = KMES_ERR_PIN_INCORRECT;
		goto out;
	}
	if ((r = kbuf_put_u8(reply, P11H_OK)) != 0 ||
	    (r = kbuf_put_cstring(reply, desc)) != 0 ||
	    (r = kbuf_put_u32(reply, (uint32_t)h->nkeys)) != 0)
		goto out;
	for (i = 0; i < h->nkeys; i++) {
		const uint8_t *blob;
		size_t blen;

		blob = ks_key_blob(h->keys[i]->pub, &blen);
		if ((r = kbuf_put_string(reply, blob, blen)) != 0 ||
		    (r = kbuf_put_cstring(reply, h->keys[i]->label)) != 0)
			goto out;
	}
	r = 0;
out:
	if (r != 0 && err[0] == '\0')
		snprintf(err, TOK_ERRMSG_MAX, "%s", kmes_err(r));
	free(module);
	free(want);
	return r;
}

static const struct tok_key *
find_key(const struct helper *h, const uint8_t *blob, size_t len)
{
	const uint8_t *kb;
	size_t i, klen;

	for (i = 0; i < h->nkeys; i++) {
		kb = ks_key_blob(h->keys[i]->pub, &klen);
		if (klen == len && memcmp(kb, blob, len) == 0)
			return h->keys[i];
	}
	return NULL;
}

static size_t
token_index(const struct helper *h, const struct tok_token *t)
{
	size_t i;

	for (i = 0; i < h->ntokens; i++) {
		if (h->tokens[i] == t)
			break;
	}
	return i;
}

/* One SIGN request: the reply goes out before the next is read. */
static int
serve_sign(struct sign_channel *w, struct kbuf *m, struct kbuf *reply,
    struct kbuf *sig)
{
	const uint8_t *blob, *data;
	size_t blen, dlen, ti;
	uint32_t id, flags;
	const struct tok_key *k;
	char err[TOK_ERRMSG_MAX];
	uint8_t type;
	int r;

	if (kbuf_get_u8(m, &type) != 0 || type != P11H_SIGN ||
	    kbuf_get_u32(m, &id) != 0 ||
	    kbuf_get_string_direct(m, &blob, &blen) != 0 ||
	    kbuf_get_string_direct(m, &data, &dlen) != 0 ||
	    kbuf_get_u32(m, &flags) != 0 || kbuf_len(m) != 0)
		return KMES_ERR_INVALID_FORMAT; /* the agent is confused */
	if ((k = find_key(w->h, blob, blen)) == NULL)
		return send_fail(w->fd, 1, id, KMES_ERR_KEY_NOT_FOUND,
		    "key not on this token");
	ti = token_index(w->h, k->token);
	if (w->sessions[ti] == NULL &&
	    (r = tok_session_open(k->token, &w->sessions[ti])) != 0)
		return send_fail(w->fd, 1, id, r, kmes_err(r));
	kbuf_reset(sig);
	if ((r = tok_session_sign(w->sessions[ti], k, data, dlen, flags, sig,
		 err)) != 0) {
		log_error("token '%s': signing with \"%s\": %s",
		    tok_token_label(k->token), k->label,
		    err[0] != '\0' ? err : kmes_err(r));
		return send_fail(w->fd, 1, id, r,
		    err[0] != '\0' ? err : kmes_err(r));
	}
	kbuf_reset(reply);
	if ((r = kbuf_put_u8(reply, P11H_OK)) != 0 ||
	    (r = kbuf_put_u32(reply, id)) != 0 ||
	    (r = kbuf_put_stringb(reply, sig)) != 0)
		return r;
	return send_msg(w->fd, reply);
}

static void *
worker_run(void *arg)
{
	struct sign_channel *w = arg;
	struct kbuf *m = kbuf_new(), *reply = kbuf_new(), *sig = kbuf_new();
	int r;

	if (m == NULL || reply == NULL || sig == NULL ||
	    kbuf_set_max_size(m, P11H_MSG_MAX) != 0)
		_exit(1);
	for (;;) {
		if ((r = agent_msg_read_framed(w->fd, P11H_MSG_MAX, m)) != 0)
			break;
		if ((r = serve_sign(w, m, reply, sig)) != 0)
			break;
	}
	/*
	 * The agent closed the channel (it exited or gave up on us), or
	 * spoke nonsense. Leave at once: C_Finalize could wait on a thread
	 * stuck inside the module, and the process going away wipes the
	 * locked PIN and ends the sessions.
	 */
	if (r != KMES_ERR_CONNECTION_CLOSED)
		log_error("channel %d: %s; exiting", w->fd, kmes_err(r));
	_exit(0);
}

int
p11helper_main(int argc, char **argv)
{
	struct helper h;
	struct sign_channel *workers = NULL;
	struct kbuf *m = NULL, *reply = NULL;
	char err[TOK_ERRMSG_MAX], *end;
	pthread_t th;
	long nchan;
	int i, level;

	/* argv: kmes-agent --pkcs11-helper NCHAN LEVEL STDERR */
	if (argc != 5)
		return 2;
	nchan = strtol(argv[2], &end, 10);
	if (*end != '\0' || nchan < 1 || nchan > P11H_MAX_CHANNELS)
		return 2;
	level = atoi(argv[3]);
	log_init("kmes-agent(pkcs11)", (enum log_level)level,
	    strcmp(argv[4], "1") == 0);
	signal(SIGPIPE, SIG_IGN);
	memset(&h, 0, sizeof(h));
	if ((m = kbuf_new_secure(P11H_MSG_MAX)) == NULL ||
	    (reply = kbuf_new()) == NULL ||
	    (workers = calloc((size_t)nchan, sizeof(*workers))) == NULL)
		return 1;
	err[0] = '\0';
	/* The INIT carries the PIN: a secure buffer, wiped when freed. */
	if ((i = agent_msg_read_framed(P11H_FD_BASE, P11H_MSG_MAX, m)) != 0)
		return 1;
	if ((i = do_init(&h, m, reply, err)) != 0) {
		log_error("%s", err);
		(void)send_fail(P11H_FD_BASE, 0, 0, i, err);
		return 1;
	}
	kbuf_free(m);
	m = NULL;
	if (send_msg(P11H_FD_BASE, reply) != 0)
		return 1;
	kbuf_free(reply);
	for (i = 0; i < nchan; i++) {
		workers[i].h = &h;
		workers[i].fd = P11H_FD_BASE + i;
		if ((workers[i].sessions = calloc(h.ntokens == 0 ? 1 :
								   h.ntokens,
			 sizeof(*workers[i].sessions))) == NULL)
			return 1;
	}
	for (i = 1; i < nchan; i++) {
		if (pthread_create(&th, NULL, worker_run, &workers[i]) != 0) {
			log_error("cannot start a signing thread");
			return 1;
		}
		pthread_detach(th);
	}
	worker_run(&workers[0]);
	return 0;
}
