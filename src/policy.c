/*
 * policy.c: session binding (session-bind@openssh.com) and destination
 * constraints (restrict-destination-v00@openssh.com), enforced the way
 * OpenSSH's ssh-agent does so that ssh-add -h means the same here.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "kbuf.h"
#include "keytable.h"
#include "kmes-err.h"
#include "log.h"
#include "match.h"
#include "policy.h"
#include "request.h"
#include "secmem.h"

int
policy_same_key(const struct ks_key *a, const struct ks_key *b)
{
	const uint8_t *ba, *bb;
	size_t la, lb;

	ba = ks_key_blob(a, &la);
	bb = ks_key_blob(b, &lb);
	return la == lb && memcmp(ba, bb, la) == 0;
}

int
policy_pkalg_matches(const char *pkalg, const struct ks_key *k)
{
	const char *t = ks_key_type_name(k);

	if (strcmp(pkalg, t) == 0)
		return 1;
	/* RSA signature algorithms name the same key type. */
	if (strcmp(t, "ssh-rsa") == 0)
		return strcmp(pkalg, "rsa-sha2-256") == 0 ||
		    strcmp(pkalg, "rsa-sha2-512") == 0;
	if (strcmp(t, "ssh-rsa-cert-v01@openssh.com") == 0)
		return strcmp(pkalg, "rsa-sha2-256-cert-v01@openssh.com") ==
		    0 ||
		    strcmp(pkalg, "rsa-sha2-512-cert-v01@openssh.com") == 0;
	return 0;
}

int
policy_peer_remote(const struct peer *p)
{
	/*
	 * Like ssh-agent 9.2: a connection that carries any session binding
	 * came from an ssh client, and on a forwarded socket the first one is
	 * the forwarding hop's. A hostile peer on the far host cannot unsend
	 * it, so "any bind" is the test that cannot be dodged.
	 */
	return p->nbinds != 0;
}

int
policy_session_bind(struct peer *p, struct kbuf *m)
{
	struct agent_session_bind sb;
	struct ks_key *key = NULL;
	struct peer_bind *b;
	size_t i;
	int r, sid_match;

	if ((r = agent_session_bind_parse(m, &sb)) != 0) {
		log_info("malformed session-bind: %s", kmes_err(r));
		return r;
	}
	if ((r = ks_key_from_blob(sb.hostkey, sb.hostkey_len, &key)) != 0) {
		log_info("session-bind: bad host key: %s", kmes_err(r));
		return r;
	}
	if ((r = ks_key_verify(key, sb.sig, sb.sig_len, sb.sid, sb.sid_len)) !=
	    0) {
		log_error("session-bind: host key signature over the session "
			  "ID does not verify: %s",
		    kmes_err(r));
		goto out;
	}
	for (i = 0; i < p->nbinds; i++) {
		b = &p->binds[i];
		/* An authentication bind is final: nothing may follow it. */
		if (!b->forwarded) {
			log_error("session-bind: connection already bound for "
				  "authentication");
			r = KMES_ERR_DENIED;
			goto out;
		}
		sid_match = b->sid_len == sb.sid_len &&
		    kmes_ct_memcmp(b->sid, sb.sid, sb.sid_len) == 0;
		if (sid_match && policy_same_key(key, b->hostkey)) {
			r = 0; /* already recorded */
			goto out;
		}
		if (sid_match) {
			log_error("session-bind: session ID already bound to "
				  "another host key");
			r = KMES_ERR_DENIED;
			goto out;
		}
	}
	/* ssh-agent 9.2 answers SUCCESS here without recording: we refuse. */
	if (p->nbinds >= AGENT_MAX_SESSION_IDS) {
		log_error("session-bind: too many session IDs");
		r = KMES_ERR_DENIED;
		goto out;
	}
	b = &p->binds[p->nbinds++];
	b->hostkey = key;
	key = NULL;
	memcpy(b->sid, sb.sid, sb.sid_len);
	b->sid_len = sb.sid_len;
	b->forwarded = sb.forwarding;
	log_debug("session bound (%s, slot %zu)",
	    b->forwarded ? "forwarding" : "authentication", p->nbinds - 1);
	r = 0;
out:
	ks_key_free(key);
	return r;
}

/* Does key match one of the hop's key specifications? */
static int
match_key_hop(const struct ks_key *key, const struct agent_hop *hop)
{
	const uint8_t *blob;
	size_t i, len;
	struct ks_key *ca;
	int ok;

	if (key == NULL)
		return 0;
	for (i = 0; i < hop->nkeys; i++) {
		const struct agent_keyspec *ks = &hop->keys[i];

		if (!ks_key_is_cert(key)) {
			if (ks->is_ca)
				continue;
			blob = ks_key_blob(key, &len);
			if (len == ks->blob_len &&
			    memcmp(blob, ks->blob, len) == 0)
				return 1;
			continue;
		}
		if (!ks->is_ca || ks_cert_signature_key(key, &ca) != 0)
			continue;
		blob = ks_key_blob(ca, &len);
		ok = len == ks->blob_len && memcmp(blob, ks->blob, len) == 0;
		ks_key_free(ca);
		if (!ok)
			continue;
		if (ks_cert_check_host(key,
			hop->hostname != NULL ? hop->hostname : "(ORIGIN)",
			(uint64_t)time(NULL)) != 0)
			continue;
		return 1;
	}
	return 0;
}

/* Is some destination constraint satisfied by from -> to (and user)? */
static int
permitted_by_dest(const struct ks_key *fromkey, const struct ks_key *tokey,
    const struct ks_identity *id, const char *user, const char **hostp)
{
	const struct agent_constraints *cons = ks_identity_constraints(id);
	const struct agent_dest_constraint *d;
	size_t i;

	if (hostp != NULL)
		*hostp = NULL;
	for (i = 0; i < cons->ndest; i++) {
		d = &cons->dest[i];
		if (fromkey == NULL) {
			/* First hop: only constraints starting here. */
			if (d->from.hostname != NULL || d->from.nkeys != 0)
				continue;
		} else if (!match_key_hop(fromkey, &d->from))
			continue;
		if (tokey != NULL && !match_key_hop(tokey, &d->to))
			continue;
		if (d->to.user != NULL && user != NULL &&
		    !kmes_match_pattern(user, d->to.user))
			continue;
		if (hostp != NULL)
			*hostp = d->to.hostname;
		return 1;
	}
	log_debug("key \"%s\" not permitted for this destination",
	    ks_identity_comment(id));
	return 0;
}

int
policy_identity_permitted(const struct ks_identity *id, const struct peer *p,
    const char *user, const char **fwd_host, const char **dest_host)
{
	const struct ks_key *fromkey = NULL;
	const struct peer_bind *b;
	const char **hp;
	size_t i;

	if (ks_identity_constraints(id)->ndest == 0 || p->nbinds == 0)
		return 0; /* unconstrained, or local use */
	for (i = 0; i < p->nbinds; i++) {
		b = &p->binds[i];
		hp = NULL;
		if (i == p->nbinds - 1) {
			hp = dest_host;
			/* Only the last hop may sign, and only if it is an
			 * authentication bind. */
			if (b->forwarded && user != NULL) {
				log_error("refusing to sign on a forwarding "
					  "hop");
				return KMES_ERR_DENIED;
			}
		} else {
			if (i == 0)
				hp = fwd_host;
			if (!b->forwarded) {
				log_error("refusing to forward through an "
					  "authentication bind");
				return KMES_ERR_DENIED;
			}
		}
		if (!permitted_by_dest(fromkey, b->hostkey, id,
			i == p->nbinds - 1 ? user : NULL, hp))
			return KMES_ERR_DENIED;
		fromkey = b->hostkey;
	}
	/*
	 * Listing through a forwarding: show only keys usable beyond the
	 * last host, not merely to reach it.
	 */
	b = &p->binds[p->nbinds - 1];
	if (b->forwarded && user == NULL &&
	    !permitted_by_dest(b->hostkey, NULL, id, NULL, NULL))
		return KMES_ERR_DENIED;
	return 0;
}

/* Destination-constraint checks on a sign request (ssh-agent's order). */
int
policy_check_sign(const struct peer *p, const struct ks_identity *id,
    const uint8_t *data, size_t dlen, char **userp)
{
	struct agent_userauth ua;
	const struct peer_bind *last;
	const uint8_t *kblob;
	size_t kblob_len;
	struct ks_key *hostkey = NULL;
	int r = KMES_ERR_DENIED;

	*userp = NULL;
	if (p->nbinds == 0) {
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
			 "request names another key",
		    ks_identity_comment(id));
		goto out;
	}
	if (policy_identity_permitted(id, p, ua.user, NULL, NULL) != 0)
		goto out;
	last = &p->binds[p->nbinds - 1];
	if (ua.sid_len != last->sid_len ||
	    kmes_ct_memcmp(ua.sid, last->sid, last->sid_len) != 0) {
		log_error("refusing destination-constrained key \"%s\": "
			  "unexpected session ID for user %s",
		    ks_identity_comment(id), ua.user);
		goto out;
	}
	if (p->nbinds > 1 && ua.hostkey == NULL) {
		log_error("refusing destination-constrained key \"%s\": no "
			  "host key in signature for forwarded connection",
		    ks_identity_comment(id));
		goto out;
	}
	if (ua.hostkey != NULL) {
		if (ks_key_from_blob(ua.hostkey, ua.hostkey_len, &hostkey) !=
			0 ||
		    !policy_same_key(hostkey, last->hostkey)) {
			log_error(
			    "refusing destination-constrained key "
			    "\"%s\": host key in request is not the one most "
			    "recently bound",
			    ks_identity_comment(id));
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
