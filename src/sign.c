/*
 * sign.c: a sign request's way through the agent. The handler checks what
 * needs no waiting (the key is held, its destination constraints allow
 * this connection) and signs at once; a request that must wait becomes a
 * struct request whose steps run one after another: the store PIN (a
 * locked store key), then the user's yes (a confirm key), then the
 * signature (in process, or on the key's token). Each step is a feature
 * that knows nothing of the others: it ends the request, or hands it back
 * through r->next.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "askpass.h"
#include "astore.h"
#include "audit.h"
#include "clock.h"
#include "kbuf.h"
#include "keytable.h"
#include "kmes-err.h"
#include "lock.h"
#include "log.h"
#include "policy.h"
#include "prov.h"
#include "request.h"
#include "sign.h"
#include "unlock.h"

/* The signature, reused by each loop thread: no allocation per request. */
static _Thread_local struct kbuf *scratch_sig;

void
sign_thread_done(void)
{
	kbuf_free(scratch_sig);
	scratch_sig = NULL;
}

static void
fingerprint(const struct agent *a, const struct ks_key *k, char *fp, size_t len)
{
	if (ks_key_fingerprint(k, a->opt.fp_hash, fp, len) != 0)
		snprintf(fp, len, "(no fingerprint)");
}

/*
 * Signs with id in process. Returns 0 with the signature in *sigp (the
 * thread's scratch buffer), or a negative KMES_ERR_* (logged, audited).
 */
static int
sign_here(struct agent *a, const struct peer *p, struct ks_identity *id,
    const uint8_t *data, size_t dlen, uint32_t flags, struct kbuf **sigp)
{
	struct kbuf *sig;
	int r;

	if (scratch_sig == NULL && (scratch_sig = kbuf_new()) == NULL)
		return KMES_ERR_ALLOC;
	sig = scratch_sig;
	kbuf_reset(sig);
	if ((r = ks_key_sign(ks_identity_key(id), data, dlen, flags, sig)) !=
	    0) {
		log_error("signing with \"%s\" failed: %s",
		    ks_identity_comment(id), kmes_err(r));
		audit_sign(p, id, NULL, 0, "error", kmes_err(r));
		return r;
	}
	atomic_store(&a->last_use_ms, agent_now_ms());
	audit_sign(p, id, NULL, 0, "ok", NULL);
	if (log_enabled(LOG_LVL_DEBUG)) {
		char fp[KS_FP_MAX];

		fingerprint(a, ks_identity_key(id), fp, sizeof(fp));
		log_debug("signed %zu bytes with %s %s \"%s\"", dlen,
		    ks_key_short_name(ks_identity_key(id)), fp,
		    ks_identity_comment(id));
	}
	*sigp = sig;
	return 0;
}

/* The last step: the signature, here or on the key's token. */
static void
sign_finish(struct request *r)
{
	struct kbuf *sig;

	if (ks_identity_origin(r->id) == KS_ORIGIN_TOKEN) {
		prov_sign(r);
		return;
	}
	if (sign_here(r->agent, r->peer, r->id, r->data, r->dlen, r->flags,
		&sig) != 0) {
		request_reply_code(r, SSH_AGENT_FAILURE);
		return;
	}
	request_reply_sig(r, kbuf_ptr(sig), kbuf_len(sig));
}

static void
confirmed(struct request *r, int allowed, const uint8_t *answer, size_t len)
{
	(void)answer;
	(void)len;
	if (request_orphaned(r)) {
		request_end(r);
		return;
	}
	/* The agent may have been locked meanwhile. */
	if (allowed && lock_is_locked(r->agent))
		allowed = 0;
	if (!allowed) {
		log_verbose("user refused use of key \"%s\"",
		    ks_identity_comment(r->id));
		audit_sign(r->peer, r->id, NULL, 0, "denied", "not confirmed");
		request_reply_code(r, SSH_AGENT_FAILURE);
		return;
	}
	sign_finish(r);
}

/* A confirm key: ask the user first, as ssh-agent does. */
static void
sign_confirm(struct request *r)
{
	char fp[KS_FP_MAX], prompt[1024];

	fingerprint(r->agent, ks_identity_key(r->id), fp, sizeof(fp));
	if (r->user == NULL)
		snprintf(prompt, sizeof(prompt),
		    "Allow use of key %s?\nKey fingerprint %s.",
		    ks_identity_comment(r->id), fp);
	else
		snprintf(prompt, sizeof(prompt),
		    "Allow use of key %s?\nKey fingerprint %s.\n"
		    "public key authentication request for user "
		    "\"%s\" to listed host",
		    ks_identity_comment(r->id), fp, r->user);
	if (askpass_start(r, ASKPASS_CONFIRM, prompt, confirmed) != 0) {
		log_info("cannot ask for confirmation: refusing key");
		confirmed(r, 0, NULL, 0);
	}
}

/* After the store PIN: the same key, now with its private half. */
static void
sign_unlocked(struct request *r)
{
	struct ks_identity *id;
	const uint8_t *blob;
	size_t blob_len;

	blob = ks_key_blob(ks_identity_key(r->id), &blob_len);
	id = ks_table_lookup(r->agent->table, blob, blob_len, agent_now_ms());
	if (id == NULL || !ks_key_has_private(ks_identity_key(id))) {
		ks_identity_unref(id);
		request_reply_code(r, SSH_AGENT_FAILURE);
		return;
	}
	ks_identity_unref(r->id);
	r->id = id;
	if (ks_identity_constraints(id)->confirm)
		sign_confirm(r);
	else
		sign_finish(r);
}

/* The key the client names, if the agent holds it. */
static struct ks_identity *
lookup(struct agent *a, const uint8_t *blob, size_t blob_len)
{
	struct ks_identity *id;

	if ((id = ks_table_lookup(a->table, blob, blob_len, agent_now_ms())) !=
	    NULL)
		return id;
	/* Perhaps kmes-keytool just added it to the store. */
	astore_sync(a);
	return ks_table_lookup(a->table, blob, blob_len, agent_now_ms());
}

void
sign_request(struct client *cl, struct kbuf *m)
{
	struct agent *a = client_agent(cl);
	const struct peer *p = client_peer(cl);
	const uint8_t *blob, *data;
	size_t blob_len, dlen;
	uint32_t flags;
	struct ks_identity *id = NULL;
	struct request *r;
	struct kbuf *sig;
	char *user = NULL;
	int rc;

	if ((rc = kbuf_get_string_direct(m, &blob, &blob_len)) != 0 ||
	    (rc = kbuf_get_string_direct(m, &data, &dlen)) != 0 ||
	    (rc = kbuf_get_u32(m, &flags)) != 0 || kbuf_len(m) != 0) {
		log_info("malformed sign request: %s",
		    kmes_err(rc != 0 ? rc : KMES_ERR_INVALID_FORMAT));
		goto fail;
	}
	if ((id = lookup(a, blob, blob_len)) == NULL) {
		log_verbose("sign request for a key the agent does not hold");
		audit_sign(p, NULL, blob, blob_len, "refused", "key not held");
		goto fail;
	}
	if (ks_identity_constraints(id)->ndest != 0 &&
	    policy_check_sign(p, id, data, dlen, &user) != 0) {
		audit_sign(p, id, NULL, 0, "denied", "destination constraint");
		goto fail;
	}
	if (ks_identity_origin(id) != KS_ORIGIN_TOKEN &&
	    ks_key_has_private(ks_identity_key(id)) &&
	    !ks_identity_constraints(id)->confirm) {
		/* The common case: sign now, no request to keep. */
		free(user);
		if (sign_here(a, p, id, data, dlen, flags, &sig) != 0)
			goto fail;
		client_reply_sig(cl, kbuf_ptr(sig), kbuf_len(sig));
		ks_identity_unref(id);
		return;
	}
	if ((r = request_new(cl)) == NULL ||
	    request_set_sign(r, id, data, dlen, flags) != 0) {
		if (r != NULL)
			request_reply_code(r, SSH_AGENT_FAILURE);
		free(user);
		ks_identity_unref(id);
		if (r == NULL)
			client_reply_code(cl, SSH_AGENT_FAILURE);
		return;
	}
	ks_identity_unref(id);
	r->user = user;
	if (ks_identity_origin(r->id) == KS_ORIGIN_STORE &&
	    !ks_key_has_private(ks_identity_key(r->id))) {
		/* A store key while the store is locked: ask for the PIN. */
		r->next = sign_unlocked;
		unlock_ask_store_pin(r);
	} else if (ks_identity_constraints(r->id)->confirm)
		sign_confirm(r);
	else
		sign_finish(r);
	return;
fail:
	free(user);
	ks_identity_unref(id);
	client_reply_code(cl, SSH_AGENT_FAILURE);
}
