/*
 * policy.c: session binding (session-bind@openssh.com) and destination
 * constraints (restrict-destination-v00@openssh.com), enforced the way
 * OpenSSH's ssh-agent does so that ssh-add -h means the same here.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "kbuf.h"
#include "keytable.h"
#include "kmes-err.h"
#include "log.h"
#include "match.h"
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
		return strcmp(pkalg, "rsa-sha2-256-cert-v01@openssh.com") == 0 ||
		    strcmp(pkalg, "rsa-sha2-512-cert-v01@openssh.com") == 0;
	return 0;
}

void
policy_conn_clear(struct conn *c)
{
	size_t i;

	for (i = 0; i < c->nbinds; i++) {
		ks_key_free(c->binds[i].hostkey);
		kmes_wipe(c->binds[i].sid, sizeof(c->binds[i].sid));
	}
	c->nbinds = 0;
}

int
policy_conn_remote(const struct conn *c)
{
	/*
	 * Like ssh-agent 9.2: a connection that carries any session binding
	 * came from an ssh client, and on a forwarded socket the first one is
	 * the forwarding hop's. A hostile peer on the far host cannot unsend
	 * it, so "any bind" is the test that cannot be dodged.
	 */
	return c->nbinds != 0;
}

int
policy_session_bind(struct conn *c, struct kbuf *m)
{
	struct agent_session_bind sb;
	struct ks_key *key = NULL;
	struct conn_bind *b;
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
	if ((r = ks_key_verify(key, sb.sig, sb.sig_len, sb.sid,
	    sb.sid_len)) != 0) {
		log_error("session-bind: host key signature over the session "
		    "ID does not verify: %s", kmes_err(r));
		goto out;
	}
	for (i = 0; i < c->nbinds; i++) {
		b = &c->binds[i];
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
	if (c->nbinds >= AGENT_MAX_SESSION_IDS) {
		log_error("session-bind: too many session IDs");
		r = KMES_ERR_DENIED;
		goto out;
	}
	b = &c->binds[c->nbinds++];
	b->hostkey = key;
	key = NULL;
	memcpy(b->sid, sb.sid, sb.sid_len);
	b->sid_len = sb.sid_len;
	b->forwarded = sb.forwarding;
	log_debug("session bound (%s, slot %zu)",
	    b->forwarded ? "forwarding" : "authentication", c->nbinds - 1);
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
		if (ks_cert_check_host(key, hop->hostname != NULL ?
		    hop->hostname : "(ORIGIN)", (uint64_t)time(NULL)) != 0)
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
policy_identity_permitted(const struct ks_identity *id, const struct conn *c,
    const char *user, const char **fwd_host, const char **dest_host)
{
	const struct ks_key *fromkey = NULL;
	const struct conn_bind *b;
	const char **hp;
	size_t i;

	if (ks_identity_constraints(id)->ndest == 0 || c->nbinds == 0)
		return 0; /* unconstrained, or local use */
	for (i = 0; i < c->nbinds; i++) {
		b = &c->binds[i];
		hp = NULL;
		if (i == c->nbinds - 1) {
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
		    i == c->nbinds - 1 ? user : NULL, hp))
			return KMES_ERR_DENIED;
		fromkey = b->hostkey;
	}
	/*
	 * Listing through a forwarding: show only keys usable beyond the
	 * last host, not merely to reach it.
	 */
	b = &c->binds[c->nbinds - 1];
	if (b->forwarded && user == NULL &&
	    !permitted_by_dest(b->hostkey, NULL, id, NULL, NULL))
		return KMES_ERR_DENIED;
	return 0;
}
