/*
 * dispatch.c: one handler per agent request. Every handler appends exactly
 * one reply to the connection (now, or when its wait ends) and never lets
 * anything a client sends end the daemon.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "kbuf.h"
#include "keytable.h"
#include "kmes-err.h"
#include "log.h"
#include "secmem.h"

/* Scratch buffers reused by each loop thread: no allocation per request. */
static _Thread_local struct kbuf *scratch_body, *scratch_sig;

static struct kbuf *
scratch(struct kbuf **b)
{
	if (*b == NULL)
		*b = kbuf_new();
	else
		kbuf_reset(*b);
	return *b;
}

void
dispatch_thread_done(void)
{
	kbuf_free(scratch_body);
	kbuf_free(scratch_sig);
	scratch_body = scratch_sig = NULL;
}

void
dispatch_reply_code(struct conn *c, uint8_t code)
{
	if (agent_msg_put_code(c->out, code) != 0)
		c->closing = 1;
}

static void
reply_body(struct conn *c, const struct kbuf *body)
{
	if (agent_msg_put_framed(c->out, body) != 0)
		c->closing = 1;
}

void
dispatch_fingerprint(const struct agent *a, const struct ks_key *k,
    char *fp, size_t len)
{
	if (ks_key_fingerprint(k, a->opt.fp_hash, fp, len) != 0)
		snprintf(fp, len, "(no fingerprint)");
}

static void
process_request_identities(struct agent *a, struct conn *c, int locked)
{
	struct kbuf *body = scratch(&scratch_body);
	struct ks_identity **ids = NULL;
	size_t i, n = 0, shown = 0, cnt_off;
	const uint8_t *blob;
	size_t blob_len;
	uint8_t *cnt;
	int r;

	if (body == NULL) {
		c->closing = 1;
		return;
	}
	if ((r = kbuf_put_u8(body, SSH_AGENT_IDENTITIES_ANSWER)) != 0 ||
	    (r = kbuf_put_u32(body, 0)) != 0)
		goto fail;
	cnt_off = 1;
	if (!locked) {
		astore_sync(a);
		if ((r = ks_table_snapshot(a->table, agent_now_ms(), &ids,
		    &n)) != 0)
			goto fail;
		for (i = 0; i < n; i++) {
			/* Keys restricted away from this hop stay hidden. */
			if (policy_identity_permitted(ids[i], c, NULL, NULL,
			    NULL) != 0)
				continue;
			blob = ks_key_blob(ks_identity_key(ids[i]), &blob_len);
			if ((r = kbuf_put_string(body, blob, blob_len)) != 0 ||
			    (r = kbuf_put_cstring(body,
			    ks_identity_comment(ids[i]))) != 0)
				goto fail;
			shown++;
		}
	}
	/* Patch the count now that we know it. */
	cnt = (uint8_t *)kbuf_ptr(body) + cnt_off;
	cnt[0] = (uint8_t)(shown >> 24);
	cnt[1] = (uint8_t)(shown >> 16);
	cnt[2] = (uint8_t)(shown >> 8);
	cnt[3] = (uint8_t)shown;
	log_debug("identities: %zu of %zu shown", shown, n);
	ks_identity_list_free(ids, n);
	reply_body(c, body);
	return;
 fail:
	ks_identity_list_free(ids, n);
	log_error("listing identities: %s", kmes_err(r));
	dispatch_reply_code(c, SSH_AGENT_FAILURE);
}

/* Signs and queues the SIGN_RESPONSE (or FAILURE). */
static void
sign_and_reply(struct agent *a, struct conn *c, struct ks_identity *id,
    const uint8_t *data, size_t dlen, uint32_t flags)
{
	struct kbuf *sig = scratch(&scratch_sig);
	size_t siglen;
	int r;

	if (sig == NULL) {
		c->closing = 1;
		return;
	}
	if (ks_identity_origin(id) == KS_ORIGIN_TOKEN) {
		/* The token signs; the reply comes when it answers. */
		token_sign(a, c, id, data, dlen, flags);
		return;
	}
	if ((r = ks_key_sign(ks_identity_key(id), data, dlen, flags,
	    sig)) != 0) {
		log_error("signing with \"%s\" failed: %s",
		    ks_identity_comment(id), kmes_err(r));
		audit_sign(a, c, id, NULL, 0, "error", kmes_err(r));
		dispatch_reply_code(c, SSH_AGENT_FAILURE);
		return;
	}
	atomic_store(&a->last_use_ms, agent_now_ms());
	audit_sign(a, c, id, NULL, 0, "ok", NULL);
	/* Frame in place: u32 len, u8 SIGN_RESPONSE, string signature. */
	siglen = kbuf_len(sig);
	if ((r = kbuf_put_u32(c->out, (uint32_t)(1 + 4 + siglen))) != 0 ||
	    (r = kbuf_put_u8(c->out, SSH_AGENT_SIGN_RESPONSE)) != 0 ||
	    (r = kbuf_put_stringb(c->out, sig)) != 0) {
		c->closing = 1;
		return;
	}
	if (log_enabled(LOG_LVL_DEBUG)) {
		char fp[KS_FP_MAX];

		dispatch_fingerprint(a, ks_identity_key(id), fp, sizeof(fp));
		log_debug("signed %zu bytes with %s %s \"%s\"", dlen,
		    ks_key_short_name(ks_identity_key(id)), fp,
		    ks_identity_comment(id));
	}
}

/* Destination-constraint checks on a sign request (ssh-agent's order). */
static int
check_dest_sign(struct conn *c, const struct ks_identity *id,
    const uint8_t *data, size_t dlen, char **userp)
{
	struct agent_userauth ua;
	const struct conn_bind *last;
	const uint8_t *kblob;
	size_t kblob_len;
	struct ks_key *hostkey = NULL;
	int r = KMES_ERR_DENIED;

	*userp = NULL;
	if (c->nbinds == 0) {
		log_info("refusing use of destination-constrained key \"%s\" "
		    "to sign on an unbound connection",
		    ks_identity_comment(id));
		return KMES_ERR_DENIED;
	}
	if (agent_userauth_parse(data, dlen, &ua) != 0) {
		log_info("refusing use of destination-constrained key \"%s\" "
		    "to sign an unidentified signature",
		    ks_identity_comment(id));
		return KMES_ERR_DENIED;
	}
	kblob = ks_key_blob(ks_identity_key(id), &kblob_len);
	if (ua.key_len != kblob_len || memcmp(ua.key, kblob, kblob_len) != 0 ||
	    !policy_pkalg_matches(ua.pkalg, ks_identity_key(id))) {
		log_info("refusing destination-constrained key \"%s\": signed "
		    "request names another key", ks_identity_comment(id));
		goto out;
	}
	if (policy_identity_permitted(id, c, ua.user, NULL, NULL) != 0)
		goto out;
	last = &c->binds[c->nbinds - 1];
	if (ua.sid_len != last->sid_len ||
	    kmes_ct_memcmp(ua.sid, last->sid, last->sid_len) != 0) {
		log_error("refusing destination-constrained key \"%s\": "
		    "unexpected session ID for user %s",
		    ks_identity_comment(id), ua.user);
		goto out;
	}
	if (c->nbinds > 1 && ua.hostkey == NULL) {
		log_error("refusing destination-constrained key \"%s\": no "
		    "host key in signature for forwarded connection",
		    ks_identity_comment(id));
		goto out;
	}
	if (ua.hostkey != NULL) {
		if (ks_key_from_blob(ua.hostkey, ua.hostkey_len,
		    &hostkey) != 0 ||
		    !policy_same_key(hostkey, last->hostkey)) {
			log_error("refusing destination-constrained key "
			    "\"%s\": host key in request is not the one most "
			    "recently bound", ks_identity_comment(id));
			goto out;
		}
	}
	*userp = ua.user;
	ua.user = NULL;
	r = 0;
 out:
	ks_key_free(hostkey);
	agent_userauth_clear(&ua);
	return r;
}

/* Keeps a sign request (taking the reference to id) until a prompt ends. */
static int
stash_pending(struct conn *c, struct ks_identity *id, const uint8_t *data,
    size_t dlen, uint32_t flags)
{
	if ((c->pending_data = malloc(dlen == 0 ? 1 : dlen)) == NULL) {
		ks_identity_unref(id);
		return KMES_ERR_ALLOC;
	}
	memcpy(c->pending_data, data, dlen);
	c->pending_dlen = dlen;
	c->pending_flags = flags;
	c->pending_id = id;
	return 0;
}

void
dispatch_drop_pending(struct conn *c)
{
	kmes_freezero(c->pending_data, c->pending_dlen);
	c->pending_data = NULL;
	c->pending_dlen = 0;
	ks_identity_unref(c->pending_id);
	c->pending_id = NULL;
}

static void
process_sign_request(struct agent *a, struct conn *c, struct kbuf *m)
{
	const uint8_t *blob, *data;
	size_t blob_len, dlen;
	uint32_t flags;
	struct ks_identity *id = NULL;
	const struct agent_constraints *cons;
	char fp[KS_FP_MAX], prompt[1024], *user = NULL;
	int r;

	if ((r = kbuf_get_string_direct(m, &blob, &blob_len)) != 0 ||
	    (r = kbuf_get_string_direct(m, &data, &dlen)) != 0 ||
	    (r = kbuf_get_u32(m, &flags)) != 0 || kbuf_len(m) != 0) {
		log_info("malformed sign request: %s",
		    kmes_err(r != 0 ? r : KMES_ERR_INVALID_FORMAT));
		goto fail;
	}
	if ((id = ks_table_lookup(a->table, blob, blob_len,
	    agent_now_ms())) == NULL) {
		/* Perhaps kmes-keytool just added it to the store. */
		astore_sync(a);
		id = ks_table_lookup(a->table, blob, blob_len, agent_now_ms());
	}
	if (id == NULL) {
		log_verbose("sign request for a key the agent does not hold");
		audit_sign(a, c, NULL, blob, blob_len, "refused",
		    "key not held");
		goto fail;
	}
	cons = ks_identity_constraints(id);
	if (cons->ndest != 0 &&
	    check_dest_sign(c, id, data, dlen, &user) != 0) {
		audit_sign(a, c, id, NULL, 0, "denied",
		    "destination constraint");
		goto fail;
	}
	if (ks_identity_origin(id) == KS_ORIGIN_STORE &&
	    !ks_key_has_private(ks_identity_key(id))) {
		/* A store key while the store is locked: ask for the PIN. */
		free(user);
		if (stash_pending(c, id, data, dlen, flags) != 0)
			goto fail;
		id = NULL;
		unlock_ask_store_pin(a, c);
		return;
	}
	if (cons->confirm) {
		dispatch_fingerprint(a, ks_identity_key(id), fp, sizeof(fp));
		if (user == NULL)
			snprintf(prompt, sizeof(prompt),
			    "Allow use of key %s?\nKey fingerprint %s.",
			    ks_identity_comment(id), fp);
		else
			snprintf(prompt, sizeof(prompt),
			    "Allow use of key %s?\nKey fingerprint %s.\n"
			    "public key authentication request for user "
			    "\"%s\" to listed host",
			    ks_identity_comment(id), fp, user);
		free(user);
		user = NULL;
		if (stash_pending(c, id, data, dlen, flags) != 0)
			goto fail;
		id = NULL;
		if (askpass_start(c, ASKPASS_CONFIRM, prompt,
		    dispatch_confirm_done) != 0) {
			log_info("cannot ask for confirmation: refusing key");
			dispatch_confirm_done(a, c, 0, NULL, 0);
		}
		return;
	}
	free(user);
	sign_and_reply(a, c, id, data, dlen, flags);
	ks_identity_unref(id);
	return;
 fail:
	free(user);
	ks_identity_unref(id);
	dispatch_reply_code(c, SSH_AGENT_FAILURE);
}

void
dispatch_confirm_done(struct agent *a, struct conn *c, int allowed,
    const uint8_t *answer, size_t len)
{
	struct ks_identity *id = c->pending_id;

	if (id == NULL)
		return;
	if (allowed) {
		/* The key may have been removed or locked meanwhile. */
		pthread_mutex_lock(&a->lock_mtx);
		allowed = !a->locked;
		pthread_mutex_unlock(&a->lock_mtx);
	}
	if (allowed)
		sign_and_reply(a, c, id, c->pending_data, c->pending_dlen,
		    c->pending_flags);
	else {
		log_verbose("user refused use of key \"%s\"",
		    ks_identity_comment(id));
		audit_sign(a, c, id, NULL, 0, "denied", "not confirmed");
		dispatch_reply_code(c, SSH_AGENT_FAILURE);
	}
	dispatch_drop_pending(c);
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
	log_error("refusing to add %.*s key: %s", (int)tlen,
	    (const char *)t, why);
}

static void
process_add_identity(struct agent *a, struct conn *c, struct kbuf *m)
{
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
		    policy_identity_permitted(old, c, NULL, NULL, NULL) != 0) {
			log_error("refusing to replace a key not visible or "
			    "not removable from this connection");
			goto fail;
		}
	}
	if (cons.lifetime_set)
		expiry = now + (uint64_t)cons.lifetime * 1000;
	else if (a->opt.default_lifetime != 0)
		expiry = now + (uint64_t)a->opt.default_lifetime * 1000;
	dispatch_fingerprint(a, key, fp, sizeof(fp));
	log_info("added %s %s \"%s\"%s%s (lifetime %lus) (destination "
	    "constraints: %zu)", ks_key_short_name(key), fp, comment,
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
	if (expiry != 0)
		loop_kick_expiry(a);
	ks_identity_unref(old);
	dispatch_reply_code(c, SSH_AGENT_SUCCESS);
	return;
 fail:
	ks_identity_unref(old);
	ks_key_free(key);
	free(comment);
	agent_constraints_clear(&cons);
	dispatch_reply_code(c, SSH_AGENT_FAILURE);
}

static void
process_remove_identity(struct agent *a, struct conn *c, struct kbuf *m)
{
	const uint8_t *blob;
	size_t blob_len;
	struct ks_identity *id = NULL;
	int r;

	if ((r = kbuf_get_string_direct(m, &blob, &blob_len)) != 0 ||
	    kbuf_len(m) != 0)
		goto fail;
	if ((id = ks_table_lookup(a->table, blob, blob_len,
	    agent_now_ms())) == NULL ||
	    policy_identity_permitted(id, c, NULL, NULL, NULL) != 0)
		goto fail;
	if (ks_table_remove(a->table, blob, blob_len, KS_ORIGIN_ADDED) != 0) {
		log_info("key \"%s\" cannot be removed with ssh-add",
		    ks_identity_comment(id));
		goto fail;
	}
	log_info("removed key \"%s\"", ks_identity_comment(id));
	ks_identity_unref(id);
	dispatch_reply_code(c, SSH_AGENT_SUCCESS);
	return;
 fail:
	ks_identity_unref(id);
	dispatch_reply_code(c, SSH_AGENT_FAILURE);
}

static void
process_remove_all(struct agent *a, struct conn *c)
{
	size_t n = ks_table_remove_all(a->table, KS_ORIGIN_ADDED);

	log_info("removed all %zu added identities", n);
	dispatch_reply_code(c, SSH_AGENT_SUCCESS);
}

/*
 * LOCK / UNLOCK: the KDF runs on the KDF pool. An UNLOCK is a guess at the
 * lock password and passes the global limiter (guess.c) first; OpenSSH
 * allows it from a forwarded connection, and so do we, at that rate.
 */
struct lock_job {
	struct agent *agent;
	int lock;		/* 1 LOCK, 0 UNLOCK */
	uint8_t *pw;		/* secure memory */
	size_t pwlen;
	uint8_t salt[KS_PWHASH_SALT_LEN];
	uint8_t *hash;		/* secure memory, KS_PWHASH_LEN */
	unsigned long epoch;
	int r;
};

static unsigned long lock_epoch;

static void
lock_job_free(struct lock_job *j)
{
	kmes_secure_free(j->pw);
	kmes_secure_free(j->hash);
	kmes_wipe(j, sizeof(*j));
	free(j);
}

static void
lock_job_run(void *arg)
{
	struct lock_job *j = arg;

	loop_kdf_enter();
	j->r = ks_pw_hash(j->pw, j->pwlen, j->salt, j->hash);
	loop_kdf_leave();
}

static void
lock_job_done(struct conn *c, void *arg)
{
	struct lock_job *j = arg;
	struct agent *a = j->agent;
	int ok = 0, verdict = j->r;
	uint64_t hold = 0;

	pthread_mutex_lock(&a->lock_mtx);
	if (j->r != 0) {
		log_error("lock password hash failed: %s", kmes_err(j->r));
	} else if (j->lock) {
		if (!a->locked) {
			memcpy(a->lock_secret, j->salt, KS_PWHASH_SALT_LEN);
			memcpy(a->lock_secret + KS_PWHASH_SALT_LEN, j->hash,
			    KS_PWHASH_LEN);
			a->locked = 1;
			lock_epoch++;
			ok = 1;
			log_info("agent locked");
			/* Locking wipes the store's private keys too. */
			astore_lock(a);
		}
	} else if (a->locked && j->epoch == lock_epoch) {
		if (kmes_ct_memcmp(j->hash, a->lock_secret +
		    KS_PWHASH_SALT_LEN, KS_PWHASH_LEN) == 0) {
			a->locked = 0;
			kmes_wipe(a->lock_secret,
			    KS_PWHASH_SALT_LEN + KS_PWHASH_LEN);
			lock_epoch++;
			ok = 1;
			log_info("agent unlocked");
		} else
			verdict = KMES_ERR_PASSPHRASE_INCORRECT;
	} else {
		/* Unlocked (and perhaps relocked) meanwhile: no verdict. */
		verdict = KMES_ERR_LOCKED;
	}
	pthread_mutex_unlock(&a->lock_mtx);
	if (!j->lock) {
		/* Counted whether or not the client waits for the answer. */
		hold = guess_done(a, verdict);
		audit_unlock(c, "agent", ok ? "ok" :
		    verdict == KMES_ERR_PASSPHRASE_INCORRECT ?
		    "wrong-password" : "error");
		if (verdict == KMES_ERR_PASSPHRASE_INCORRECT)
			log_info("unlock failed: wrong password; answering "
			    "in %.2f s", (double)hold / 1000);
	}
	lock_job_free(j);
	/* The "no" waits until a next guess could pass (ssh-agent too
	 * answers a wrong password slowly). */
	if (!ok && guess_hold_failure(c, hold))
		return;
	dispatch_reply_code(c, ok ? SSH_AGENT_SUCCESS : SSH_AGENT_FAILURE);
}

static void
process_lock(struct agent *a, struct conn *c, struct kbuf *m, int lock)
{
	const uint8_t *pw;
	size_t pwlen;
	struct lock_job *j = NULL;
	int locked, admitted = 0;

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
	pthread_mutex_lock(&a->lock_mtx);
	locked = a->locked;
	if ((j = calloc(1, sizeof(*j))) != NULL) {
		j->epoch = lock_epoch;
		if (!lock)
			memcpy(j->salt, a->lock_secret, KS_PWHASH_SALT_LEN);
	}
	pthread_mutex_unlock(&a->lock_mtx);
	if (j == NULL)
		goto fail;
	if (!lock && !locked && astore_locked(a)) {
		/* Not locked by ssh-add -x: ssh-add -X gives the store PIN
		 * (store-unlock.c checks where it came from and the rate). */
		free(j);
		if (unlock_store_login(a, c, pw, pwlen, 0) != 0)
			goto fail;
		return;
	}
	if (lock == locked) {
		/* Lock while locked, or unlock while unlocked. */
		free(j);
		goto fail;
	}
	if (!lock) {
		if (guess_admit(a, c, "agent") != 0) {
			free(j);
			goto fail;
		}
		admitted = 1;
	}
	j->agent = a;
	j->lock = lock;
	j->pwlen = pwlen;
	if ((j->pw = kmes_secure_alloc(pwlen)) == NULL ||
	    (j->hash = kmes_secure_alloc(KS_PWHASH_LEN)) == NULL ||
	    (lock && ks_random(j->salt, sizeof(j->salt)) != 0))
		goto fail_job;
	memcpy(j->pw, pw, pwlen);
	if (loop_offload_kdf(c, lock_job_run, lock_job_done, j) != 0)
		goto fail_job;
	return;
 fail_job:
	lock_job_free(j);
	if (admitted)
		guess_done(a, KMES_ERR_NO_BUFFER_SPACE);
 fail:
	dispatch_reply_code(c, SSH_AGENT_FAILURE);
}

static void
process_extension(struct agent *a, struct conn *c, struct kbuf *m)
{
	char *name = NULL;
	struct kbuf *body;
	int r;

	if ((r = kbuf_get_cstring(m, &name, NULL)) != 0) {
		dispatch_reply_code(c, SSH_AGENT_FAILURE);
		return;
	}
	if (strcmp(name, AGENT_EXT_SESSION_BIND) == 0) {
		r = policy_session_bind(c, m);
		dispatch_reply_code(c, r == 0 ? SSH_AGENT_SUCCESS :
		    SSH_AGENT_FAILURE);
	} else if (strcmp(name, AGENT_EXT_QUERY) == 0 && kbuf_len(m) == 0) {
		/* draft-miller-ssh-agent: SUCCESS and the names we know. */
		body = scratch(&scratch_body);
		if (body == NULL ||
		    kbuf_put_u8(body, SSH_AGENT_SUCCESS) != 0 ||
		    kbuf_put_cstring(body, AGENT_EXT_QUERY) != 0 ||
		    kbuf_put_cstring(body, AGENT_EXT_SESSION_BIND) != 0)
			dispatch_reply_code(c, SSH_AGENT_FAILURE);
		else
			reply_body(c, body);
	} else {
		log_debug("unsupported extension \"%s\"", name);
		dispatch_reply_code(c, SSH_AGENT_FAILURE);
	}
	free(name);
}

void
dispatch_message(struct agent *a, struct conn *c, struct kbuf *msg)
{
	uint8_t type;
	int locked;

	if (kbuf_get_u8(msg, &type) != 0) {
		c->closing = 1;
		return;
	}
	log_debug("request %s (%u) from pid %ld", agent_msg_name(type), type,
	    (long)c->peer_pid);
	pthread_mutex_lock(&a->lock_mtx);
	locked = a->locked;
	pthread_mutex_unlock(&a->lock_mtx);
	if (locked && type != SSH_AGENTC_UNLOCK) {
		/* Locked: an empty key list, and no to everything else. */
		if (type == SSH_AGENTC_REQUEST_IDENTITIES)
			process_request_identities(a, c, 1);
		else
			dispatch_reply_code(c, SSH_AGENT_FAILURE);
		return;
	}
	switch (type) {
	case SSH_AGENTC_REQUEST_IDENTITIES:
		process_request_identities(a, c, 0);
		break;
	case SSH_AGENTC_SIGN_REQUEST:
		process_sign_request(a, c, msg);
		break;
	case SSH_AGENTC_ADD_IDENTITY:
	case SSH_AGENTC_ADD_ID_CONSTRAINED:
		process_add_identity(a, c, msg);
		break;
	case SSH_AGENTC_REMOVE_IDENTITY:
		process_remove_identity(a, c, msg);
		break;
	case SSH_AGENTC_REMOVE_ALL_IDENTITIES:
	case SSH_AGENTC_REMOVE_ALL_RSA_IDENTITIES:
		process_remove_all(a, c);
		break;
	case SSH_AGENTC_LOCK:
		process_lock(a, c, msg, 1);
		break;
	case SSH_AGENTC_UNLOCK:
		process_lock(a, c, msg, 0);
		break;
	case SSH_AGENTC_EXTENSION:
		process_extension(a, c, msg);
		break;
	case SSH_AGENTC_ADD_SMARTCARD_KEY:
		token_process_add(a, c, msg, 0);
		break;
	case SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED:
		token_process_add(a, c, msg, 1);
		break;
	case SSH_AGENTC_REMOVE_SMARTCARD_KEY:
		token_process_remove(a, c, msg);
		break;
	default:
		log_info("unknown message type %u from pid %ld", type,
		    (long)c->peer_pid);
		dispatch_reply_code(c, SSH_AGENT_FAILURE);
		break;
	}
}
