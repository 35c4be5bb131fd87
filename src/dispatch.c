/*
 * dispatch.c: the agent protocol on the loops. Each message type has one
 * handler in the table below; a handler answers at once through its
 * client, or starts a request (request.c) that a feature answers later.
 * Whatever a client sends, exactly one reply goes back per request, and
 * nothing it sends ends the daemon.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "astore.h"
#include "clock.h"
#include "dispatch.h"
#include "kbuf.h"
#include "keytable.h"
#include "kmes-err.h"
#include "lock.h"
#include "log.h"
#include "loop.h"
#include "policy.h"
#include "prov.h"
#include "request.h"
#include "sign.h"
#include "unlock.h"

/* Reply bodies, reused by each loop thread: no allocation per request. */
static _Thread_local struct kbuf *scratch_body, *scratch_keys;

static struct kbuf *
scratch(struct kbuf **b)
{
	if (*b == NULL)
		*b = kbuf_new();
	else
		kbuf_reset(*b);
	return *b;
}

/* Which of a's identities p may see, as the IDENTITIES_ANSWER body. */
static int
list_identities(struct agent *a, const struct peer *p, int locked,
    struct kbuf *body)
{
	struct ks_identity **ids = NULL;
	size_t i, n = 0, shown = 0;
	struct kbuf *keys;
	const uint8_t *blob;
	size_t blob_len;
	int r = 0;

	/* The keys first, then the count in front of them: no patching. */
	if ((keys = scratch(&scratch_keys)) == NULL)
		return KMES_ERR_ALLOC;
	if (!locked) {
		astore_sync(a);
		if ((r = ks_table_snapshot(a->table, agent_now_ms(), &ids,
			 &n)) != 0)
			goto out;
		for (i = 0; i < n; i++) {
			/* Keys restricted away from this hop stay hidden. */
			if (policy_identity_permitted(ids[i], p, NULL, NULL,
				NULL) != 0)
				continue;
			blob = ks_key_blob(ks_identity_key(ids[i]), &blob_len);
			if ((r = kbuf_put_string(keys, blob, blob_len)) != 0 ||
			    (r = kbuf_put_cstring(keys,
				 ks_identity_comment(ids[i]))) != 0)
				goto out;
			shown++;
		}
	}
	if ((r = kbuf_put_u8(body, SSH_AGENT_IDENTITIES_ANSWER)) != 0 ||
	    (r = kbuf_put_u32(body, (uint32_t)shown)) != 0 ||
	    (r = kbuf_putb(body, keys)) != 0)
		goto out;
	log_debug("identities: %zu of %zu shown", shown, n);
out:
	ks_identity_list_free(ids, n);
	return r;
}

static void
request_identities(struct client *cl, struct kbuf *m, int locked)
{
	struct kbuf *body = scratch(&scratch_body);
	int r;

	(void)m;
	if (body == NULL) {
		client_close(cl);
		return;
	}
	if ((r = list_identities(client_agent(cl), client_peer(cl), locked,
		 body)) != 0) {
		log_error("listing identities: %s", kmes_err(r));
		client_reply_code(cl, SSH_AGENT_FAILURE);
		return;
	}
	client_reply(cl, body);
}

static void
handle_identities(struct client *cl, struct kbuf *m)
{
	request_identities(cl, m, 0);
}

/* Says why an add was refused, naming the key type the client sent. */
static void
log_refused_add(const struct kbuf *m, int r)
{
	const uint8_t *t;
	size_t tlen;
	const char *why = kmes_err(r);

	if (kbuf_peek_string_direct(m, &t, &tlen) != 0 || tlen > 64) {
		t = (const uint8_t *)"(unreadable)";
		tlen = strlen("(unreadable)");
	}
	if (r == KMES_ERR_KEY_UNSUPPORTED) {
		if (tlen >= 7 && memcmp(t, "ssh-dss", 7) == 0)
			why = "DSA keys are weak and not supported";
		else if (tlen >= 3 && memcmp(t, "sk-", 3) == 0)
			why = "security-key (FIDO) keys are not supported";
	}
	log_error("refusing to add %.*s key: %s", (int)tlen, (const char *)t,
	    why);
}

static void
handle_add_identity(struct client *cl, struct kbuf *m)
{
	struct agent *a = client_agent(cl);
	struct ks_key *key = NULL;
	struct ks_identity *old = NULL;
	struct agent_constraints cons;
	char *comment = NULL, fp[KS_FP_MAX];
	const uint8_t *blob;
	size_t blob_len;
	uint64_t now = agent_now_ms(), expiry = 0;
	int r;

	memset(&cons, 0, sizeof(cons));
	if ((r = ks_key_parse_private(m, &key)) != 0) {
		log_refused_add(m, r);
		goto fail;
	}
	if ((r = kbuf_get_cstring(m, &comment, NULL)) != 0 ||
	    (r = agent_constraints_parse(m, &cons)) != 0) {
		log_error("refusing to add key: %s", kmes_err(r));
		goto fail;
	}
	blob = ks_key_blob(key, &blob_len);
	if ((old = ks_table_lookup(a->table, blob, blob_len, now)) != NULL) {
		/* A key hidden from this connection cannot be replaced. */
		if (ks_identity_origin(old) != KS_ORIGIN_ADDED ||
		    policy_identity_permitted(old, client_peer(cl), NULL, NULL,
			NULL) != 0) {
			log_error("refusing to replace a key not visible or "
				  "not removable from this connection");
			goto fail;
		}
	}
	if (cons.lifetime_set)
		expiry = now + (uint64_t)cons.lifetime * 1000;
	else if (a->opt.default_lifetime != 0)
		expiry = now + (uint64_t)a->opt.default_lifetime * 1000;
	if (ks_key_fingerprint(key, a->opt.fp_hash, fp, sizeof(fp)) != 0)
		snprintf(fp, sizeof(fp), "(no fingerprint)");
	log_info("added %s %s \"%s\"%s%s (lifetime %lus) (destination "
		 "constraints: %zu)",
	    ks_key_short_name(key), fp, comment,
	    old != NULL ? " replacing the old entry" : "",
	    cons.confirm ? " (confirm)" : "",
	    expiry == 0 ? 0UL : (unsigned long)((expiry - now) / 1000),
	    cons.ndest);
	r = ks_table_add(a->table, key, comment, &cons, expiry,
	    KS_ORIGIN_ADDED);
	key = NULL;
	comment = NULL;
	if (r != 0)
		goto fail;
	if (expiry != 0 && a->loops != NULL)
		loopset_kick(a->loops);
	ks_identity_unref(old);
	client_reply_code(cl, SSH_AGENT_SUCCESS);
	return;
fail:
	ks_identity_unref(old);
	ks_key_free(key);
	free(comment);
	agent_constraints_clear(&cons);
	client_reply_code(cl, SSH_AGENT_FAILURE);
}

static void
handle_remove_identity(struct client *cl, struct kbuf *m)
{
	struct agent *a = client_agent(cl);
	const uint8_t *blob;
	size_t blob_len;
	struct ks_identity *id = NULL;
	int r;

	if ((r = kbuf_get_string_direct(m, &blob, &blob_len)) != 0 ||
	    kbuf_len(m) != 0)
		goto fail;
	if ((id = ks_table_lookup(a->table, blob, blob_len, agent_now_ms())) ==
		NULL ||
	    policy_identity_permitted(id, client_peer(cl), NULL, NULL, NULL) !=
		0)
		goto fail;
	if (ks_table_remove(a->table, blob, blob_len, KS_ORIGIN_ADDED) != 0) {
		log_info("key \"%s\" cannot be removed with ssh-add",
		    ks_identity_comment(id));
		goto fail;
	}
	log_info("removed key \"%s\"", ks_identity_comment(id));
	ks_identity_unref(id);
	client_reply_code(cl, SSH_AGENT_SUCCESS);
	return;
fail:
	ks_identity_unref(id);
	client_reply_code(cl, SSH_AGENT_FAILURE);
}

static void
handle_remove_all(struct client *cl, struct kbuf *m)
{
	size_t n = ks_table_remove_all(client_agent(cl)->table,
	    KS_ORIGIN_ADDED);

	(void)m;
	log_info("removed all %zu added identities", n);
	client_reply_code(cl, SSH_AGENT_SUCCESS);
}

/* LOCK and UNLOCK: the password, then lock.c (or the store's PIN). */
static void
lock_or_unlock(struct client *cl, struct kbuf *m, int lock)
{
	struct agent *a = client_agent(cl);
	struct request *r;
	const uint8_t *pw;
	size_t pwlen;

	/* ssh-agent dies on a malformed request here; we just refuse. */
	if (kbuf_get_string_direct(m, &pw, &pwlen) != 0 || kbuf_len(m) != 0 ||
	    memchr(pw, '\0', pwlen) != NULL) {
		log_info("malformed %s request", lock ? "lock" : "unlock");
		goto fail;
	}
	if (pwlen == 0) {
		log_info("empty lock password not supported");
		goto fail;
	}
	if ((r = request_new(cl)) == NULL)
		goto fail;
	if (!lock && !lock_is_locked(a) && astore_locked(a)) {
		/* Not locked by ssh-add -x: ssh-add -X gives the store PIN
		 * (unlock.c checks where it came from and the rate). */
		unlock_store_pin(r, pw, pwlen);
		return;
	}
	lock_request(r, pw, pwlen, lock);
	return;
fail:
	client_reply_code(cl, SSH_AGENT_FAILURE);
}

static void
handle_lock(struct client *cl, struct kbuf *m)
{
	lock_or_unlock(cl, m, 1);
}

static void
handle_unlock(struct client *cl, struct kbuf *m)
{
	lock_or_unlock(cl, m, 0);
}

static void
handle_extension(struct client *cl, struct kbuf *m)
{
	char *name = NULL;
	struct kbuf *body;
	int r;

	if ((r = kbuf_get_cstring(m, &name, NULL)) != 0) {
		client_reply_code(cl, SSH_AGENT_FAILURE);
		return;
	}
	if (strcmp(name, AGENT_EXT_SESSION_BIND) == 0) {
		r = policy_session_bind(client_peer(cl), m);
		client_reply_code(cl,
		    r == 0 ? SSH_AGENT_SUCCESS : SSH_AGENT_FAILURE);
	} else if (strcmp(name, AGENT_EXT_QUERY) == 0 && kbuf_len(m) == 0) {
		/* draft-miller-ssh-agent: SUCCESS and the names we know. */
		body = scratch(&scratch_body);
		if (body == NULL || kbuf_put_u8(body, SSH_AGENT_SUCCESS) != 0 ||
		    kbuf_put_cstring(body, AGENT_EXT_QUERY) != 0 ||
		    kbuf_put_cstring(body, AGENT_EXT_SESSION_BIND) != 0)
			client_reply_code(cl, SSH_AGENT_FAILURE);
		else
			client_reply(cl, body);
	} else {
		log_debug("unsupported extension \"%s\"", name);
		client_reply_code(cl, SSH_AGENT_FAILURE);
	}
	free(name);
}

static void
handle_add_smartcard(struct client *cl, struct kbuf *m)
{
	smartcard_add(cl, m, 0);
}

static void
handle_add_smartcard_constrained(struct client *cl, struct kbuf *m)
{
	smartcard_add(cl, m, 1);
}

typedef void (*handler_fn)(struct client *, struct kbuf *);

static const struct handler {
	uint8_t type;
	handler_fn fn;
	int while_locked; /* served while ssh-add -x holds */
} handlers[] = {
	{ SSH_AGENTC_REQUEST_IDENTITIES, handle_identities, 0 },
	{ SSH_AGENTC_SIGN_REQUEST, sign_request, 0 },
	{ SSH_AGENTC_ADD_IDENTITY, handle_add_identity, 0 },
	{ SSH_AGENTC_ADD_ID_CONSTRAINED, handle_add_identity, 0 },
	{ SSH_AGENTC_REMOVE_IDENTITY, handle_remove_identity, 0 },
	{ SSH_AGENTC_REMOVE_ALL_IDENTITIES, handle_remove_all, 0 },
	{ SSH_AGENTC_REMOVE_ALL_RSA_IDENTITIES, handle_remove_all, 0 },
	{ SSH_AGENTC_LOCK, handle_lock, 0 },
	{ SSH_AGENTC_UNLOCK, handle_unlock, 1 },
	{ SSH_AGENTC_EXTENSION, handle_extension, 0 },
	{ SSH_AGENTC_ADD_SMARTCARD_KEY, handle_add_smartcard, 0 },
	{ SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED,
	    handle_add_smartcard_constrained, 0 },
	{ SSH_AGENTC_REMOVE_SMARTCARD_KEY, smartcard_remove, 0 },
};

static const struct handler *
handler_for(uint8_t type)
{
	size_t i;

	for (i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
		if (handlers[i].type == type)
			return &handlers[i];
	}
	return NULL;
}

/* loop_hooks.message: one whole request of client ctx. */
static void
dispatch_message(void *ctx, struct kbuf *msg)
{
	struct client *cl = ctx;
	const struct handler *h;
	uint8_t type;

	if (kbuf_get_u8(msg, &type) != 0) {
		client_close(cl);
		return;
	}
	log_debug("request %s (%u) from pid %ld", agent_msg_name(type), type,
	    (long)client_peer(cl)->pid);
	h = handler_for(type);
	if (h != NULL && !h->while_locked && lock_is_locked(client_agent(cl))) {
		/* Locked: an empty key list, and no to everything else. */
		if (type == SSH_AGENTC_REQUEST_IDENTITIES)
			request_identities(cl, msg, 1);
		else
			client_reply_code(cl, SSH_AGENT_FAILURE);
		return;
	}
	if (h == NULL) {
		log_info("unknown message type %u from pid %ld", type,
		    (long)client_peer(cl)->pid);
		client_reply_code(cl, SSH_AGENT_FAILURE);
		return;
	}
	h->fn(cl, msg);
}

static void *
dispatch_open(void *arg, struct conn *c, uid_t uid, pid_t pid)
{
	return client_new(arg, c, uid, pid);
}

static void
dispatch_close(void *ctx)
{
	client_gone(ctx);
}

/* Loop 0's periodic work: key lifetimes and --lock-idle. */
static uint64_t
dispatch_tick(void *arg, uint64_t now)
{
	struct agent *a = arg;
	uint64_t next, idle_at;
	size_t nexp;

	next = ks_table_expire(a->table, now, &nexp);
	if (nexp != 0)
		log_info("%zu key(s) expired and were wiped", nexp);
	if (a->opt.lock_idle != 0 && a->store != NULL && !astore_locked(a)) {
		idle_at = atomic_load(&a->last_use_ms) +
		    (uint64_t)a->opt.lock_idle * 1000;
		if (now >= idle_at) {
			log_info("no signature for %u s: locking the keystore",
			    a->opt.lock_idle);
			astore_lock(a);
		} else if (next == 0 || idle_at < next)
			next = idle_at;
	}
	return next;
}

static void
dispatch_thread_end(void *arg)
{
	(void)arg;
	kbuf_free(scratch_body);
	kbuf_free(scratch_keys);
	scratch_body = scratch_keys = NULL;
	sign_thread_done();
}

void
dispatch_hooks(struct agent *a, struct loop_hooks *h)
{
	memset(h, 0, sizeof(*h));
	h->open = dispatch_open;
	h->message = dispatch_message;
	h->close = dispatch_close;
	h->tick = dispatch_tick;
	h->thread_end = dispatch_thread_end;
	h->arg = a;
}
