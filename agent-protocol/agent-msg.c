/*
 * agent-msg.c: framing and the crypto-free parts of the agent protocol.
 */
#include <stdlib.h>
#include <string.h>

#include "agent-msg.h"
#include "fdio.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "secmem.h"

#define SSH2_MSG_USERAUTH_REQUEST 50

int
agent_msg_frame_max(const struct kbuf *in, size_t max, size_t *msglen)
{
	const uint8_t *p = kbuf_ptr(in);
	uint32_t len;

	*msglen = 0;
	if (kbuf_len(in) < 4)
		return KMES_ERR_MESSAGE_INCOMPLETE;
	len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
	/* Judge the claimed length before waiting for it to arrive. */
	if (len > max)
		return KMES_ERR_MESSAGE_TOO_LARGE;
	if (len == 0)
		return KMES_ERR_INVALID_FORMAT;
	if (kbuf_len(in) - 4 < len)
		return KMES_ERR_MESSAGE_INCOMPLETE;
	*msglen = len;
	return 0;
}

int
agent_msg_frame(const struct kbuf *in, size_t *msglen)
{
	return agent_msg_frame_max(in, AGENT_MSG_MAX, msglen);
}

int
agent_msg_put_framed_max(struct kbuf *out, const struct kbuf *body, size_t max)
{
	if (kbuf_len(body) > max)
		return KMES_ERR_MESSAGE_TOO_LARGE;
	return kbuf_put_stringb(out, body);
}

int
agent_msg_put_framed(struct kbuf *out, const struct kbuf *body)
{
	return agent_msg_put_framed_max(out, body, AGENT_MSG_MAX);
}

int
agent_msg_read_framed(int fd, size_t max, struct kbuf *body)
{
	uint8_t hdr[4], *p;
	struct kbuf *h;
	uint32_t len;
	int r;

	kbuf_reset(body);
	if ((r = kmes_read_all(fd, hdr, sizeof(hdr))) != 0)
		return r;
	if ((h = kbuf_from(hdr, sizeof(hdr))) == NULL)
		return KMES_ERR_ALLOC;
	r = kbuf_get_u32(h, &len);
	kbuf_free(h);
	if (r != 0)
		return r;
	/* Judge the claimed length before allocating for it. */
	if (len > max)
		return KMES_ERR_MESSAGE_TOO_LARGE;
	if (len == 0)
		return KMES_ERR_INVALID_FORMAT;
	if ((r = kbuf_reserve(body, len, &p)) != 0)
		return r;
	return kmes_read_all(fd, p, len);
}

int
agent_msg_put_code(struct kbuf *out, uint8_t code)
{
	int r;

	if ((r = kbuf_put_u32(out, 1)) != 0 ||
	    (r = kbuf_put_u8(out, code)) != 0)
		return r;
	return 0;
}

int
agent_msg_put_sign_response(struct kbuf *out, const uint8_t *sig, size_t len)
{
	int r;

	if (len > AGENT_MSG_MAX - 1 - 4)
		return KMES_ERR_MESSAGE_TOO_LARGE;
	if ((r = kbuf_put_u32(out, (uint32_t)(1 + 4 + len))) != 0 ||
	    (r = kbuf_put_u8(out, SSH_AGENT_SIGN_RESPONSE)) != 0 ||
	    (r = kbuf_put_string(out, sig, len)) != 0)
		return r;
	return 0;
}

static void
hop_clear(struct agent_hop *h)
{
	size_t i;

	free(h->user);
	free(h->hostname);
	for (i = 0; i < h->nkeys; i++)
		free(h->keys[i].blob);
	free(h->keys);
	memset(h, 0, sizeof(*h));
}

void
agent_constraints_clear(struct agent_constraints *c)
{
	size_t i;

	for (i = 0; i < c->ndest; i++) {
		hop_clear(&c->dest[i].from);
		hop_clear(&c->dest[i].to);
	}
	free(c->dest);
	memset(c, 0, sizeof(*c));
}

void
agent_constraints_move(struct agent_constraints *dst,
    struct agent_constraints *src)
{
	agent_constraints_clear(dst);
	*dst = *src;
	memset(src, 0, sizeof(*src));
}

/* Turns an empty string into NULL ("any"). */
static void
empty_to_null(char **s)
{
	if (*s != NULL && **s == '\0') {
		free(*s);
		*s = NULL;
	}
}

/* hop: string user, string hostname, string reserved, (string key, bool ca)* */
static int
hop_parse(struct kbuf *b, struct agent_hop *h)
{
	const uint8_t *blob;
	size_t reserved_len, blob_len;
	struct agent_keyspec *nk;
	uint8_t is_ca;
	int r;

	memset(h, 0, sizeof(*h));
	if ((r = kbuf_get_cstring(b, &h->user, NULL)) != 0 ||
	    (r = kbuf_get_cstring(b, &h->hostname, NULL)) != 0 ||
	    (r = kbuf_get_string_direct(b, NULL, &reserved_len)) != 0)
		goto out;
	if (reserved_len != 0) {
		r = KMES_ERR_CONSTRAINT_UNSUPPORTED;
		goto out;
	}
	empty_to_null(&h->user);
	empty_to_null(&h->hostname);
	while (kbuf_len(b) != 0) {
		if (h->nkeys >= AGENT_MAX_HOP_KEYS) {
			r = KMES_ERR_INVALID_FORMAT;
			goto out;
		}
		if ((r = kbuf_get_string_direct(b, &blob, &blob_len)) != 0 ||
		    (r = kbuf_get_u8(b, &is_ca)) != 0)
			goto out;
		if (blob_len == 0) {
			r = KMES_ERR_INVALID_FORMAT;
			goto out;
		}
		nk = reallocarray(h->keys, h->nkeys + 1, sizeof(*h->keys));
		if (nk == NULL) {
			r = KMES_ERR_ALLOC;
			goto out;
		}
		h->keys = nk;
		if ((nk[h->nkeys].blob = malloc(blob_len)) == NULL) {
			r = KMES_ERR_ALLOC;
			goto out;
		}
		memcpy(nk[h->nkeys].blob, blob, blob_len);
		nk[h->nkeys].blob_len = blob_len;
		nk[h->nkeys].is_ca = is_ca != 0;
		h->nkeys++;
	}
	r = 0;
out:
	if (r != 0)
		hop_clear(h);
	return r;
}

/* constraint: string { string from_hop, string to_hop, string reserved } */
static int
dest_parse(struct kbuf *m, struct agent_dest_constraint *dc)
{
	struct kbuf *b = NULL, *from = NULL, *to = NULL;
	size_t reserved_len;
	int r;

	memset(dc, 0, sizeof(*dc));
	if ((r = kbuf_froms(m, &b)) != 0 || (r = kbuf_froms(b, &from)) != 0 ||
	    (r = kbuf_froms(b, &to)) != 0 ||
	    (r = kbuf_get_string_direct(b, NULL, &reserved_len)) != 0)
		goto out;
	if (kbuf_len(b) != 0) {
		r = KMES_ERR_INVALID_FORMAT;
		goto out;
	}
	if ((r = hop_parse(from, &dc->from)) != 0 ||
	    (r = hop_parse(to, &dc->to)) != 0)
		goto out;
	if (reserved_len != 0) {
		r = KMES_ERR_CONSTRAINT_UNSUPPORTED;
		goto out;
	}
	/* "from" names no user; it has a host and keys, or neither (origin). */
	if ((dc->from.hostname == NULL) != (dc->from.nkeys == 0) ||
	    dc->from.user != NULL) {
		r = KMES_ERR_INVALID_FORMAT;
		goto out;
	}
	/* "to" must say where, and by which keys that host is known. */
	if (dc->to.hostname == NULL || dc->to.nkeys == 0) {
		r = KMES_ERR_INVALID_FORMAT;
		goto out;
	}
	r = 0;
out:
	if (r != 0) {
		hop_clear(&dc->from);
		hop_clear(&dc->to);
	}
	kbuf_free(b);
	kbuf_free(from);
	kbuf_free(to);
	return r;
}

static int
restrict_dest_parse(struct kbuf *m, struct agent_constraints *c)
{
	struct kbuf *b = NULL;
	struct agent_dest_constraint *nd;
	int r;

	if (c->dest != NULL)
		return KMES_ERR_INVALID_FORMAT; /* given twice */
	if ((r = kbuf_froms(m, &b)) != 0)
		return r;
	while (kbuf_len(b) != 0) {
		if (c->ndest >= AGENT_MAX_DEST_CONSTRAINTS) {
			r = KMES_ERR_INVALID_FORMAT;
			goto out;
		}
		nd = reallocarray(c->dest, c->ndest + 1, sizeof(*c->dest));
		if (nd == NULL) {
			r = KMES_ERR_ALLOC;
			goto out;
		}
		c->dest = nd;
		if ((r = dest_parse(b, &c->dest[c->ndest])) != 0)
			goto out;
		c->ndest++;
	}
	/* An empty list would read as "no restriction": refuse it. */
	if (c->ndest == 0)
		r = KMES_ERR_INVALID_FORMAT;
out:
	kbuf_free(b);
	return r;
}

int
agent_constraints_parse(struct kbuf *b, struct agent_constraints *c)
{
	char *ext = NULL;
	uint8_t type;
	int r;

	memset(c, 0, sizeof(*c));
	while (kbuf_len(b) != 0) {
		if ((r = kbuf_get_u8(b, &type)) != 0)
			goto out;
		switch (type) {
		case SSH_AGENT_CONSTRAIN_LIFETIME:
			if (c->lifetime_set) {
				r = KMES_ERR_INVALID_FORMAT;
				goto out;
			}
			if ((r = kbuf_get_u32(b, &c->lifetime)) != 0)
				goto out;
			c->lifetime_set = 1;
			break;
		case SSH_AGENT_CONSTRAIN_CONFIRM:
			if (c->confirm) {
				r = KMES_ERR_INVALID_FORMAT;
				goto out;
			}
			c->confirm = 1;
			break;
		case SSH_AGENT_CONSTRAIN_EXTENSION:
			if ((r = kbuf_get_cstring(b, &ext, NULL)) != 0)
				goto out;
			if (strcmp(ext, AGENT_CONSTRAINT_RESTRICT_DEST) == 0) {
				if ((r = restrict_dest_parse(b, c)) != 0)
					goto out;
			} else {
				/* sk-provider@openssh.com and the unknown. */
				r = KMES_ERR_CONSTRAINT_UNSUPPORTED;
				goto out;
			}
			free(ext);
			ext = NULL;
			break;
		default:
			/* maxsign (XMSS only in OpenSSH) and the unknown. */
			r = KMES_ERR_CONSTRAINT_UNSUPPORTED;
			goto out;
		}
	}
	r = 0;
out:
	free(ext);
	if (r != 0)
		agent_constraints_clear(c);
	return r;
}

static int
hop_put(struct kbuf *b, const struct agent_hop *h)
{
	struct kbuf *hb;
	size_t i;
	int r;

	if ((hb = kbuf_new()) == NULL)
		return KMES_ERR_ALLOC;
	if ((r = kbuf_put_cstring(hb, h->user)) != 0 ||
	    (r = kbuf_put_cstring(hb, h->hostname)) != 0 ||
	    (r = kbuf_put_string(hb, NULL, 0)) != 0)
		goto out;
	for (i = 0; i < h->nkeys; i++) {
		if ((r = kbuf_put_string(hb, h->keys[i].blob,
			 h->keys[i].blob_len)) != 0 ||
		    (r = kbuf_put_u8(hb, h->keys[i].is_ca ? 1 : 0)) != 0)
			goto out;
	}
	r = kbuf_put_stringb(b, hb);
out:
	kbuf_free(hb);
	return r;
}

int
agent_constraints_put(struct kbuf *b, const struct agent_constraints *c)
{
	struct kbuf *all = NULL, *one = NULL;
	size_t i;
	int r = 0;

	if (c->lifetime_set &&
	    ((r = kbuf_put_u8(b, SSH_AGENT_CONSTRAIN_LIFETIME)) != 0 ||
		(r = kbuf_put_u32(b, c->lifetime)) != 0))
		return r;
	if (c->confirm &&
	    (r = kbuf_put_u8(b, SSH_AGENT_CONSTRAIN_CONFIRM)) != 0)
		return r;
	if (c->ndest == 0)
		return 0;
	if ((all = kbuf_new()) == NULL || (one = kbuf_new()) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	for (i = 0; i < c->ndest; i++) {
		kbuf_reset(one);
		if ((r = hop_put(one, &c->dest[i].from)) != 0 ||
		    (r = hop_put(one, &c->dest[i].to)) != 0 ||
		    (r = kbuf_put_string(one, NULL, 0)) != 0 ||
		    (r = kbuf_put_stringb(all, one)) != 0)
			goto out;
	}
	if ((r = kbuf_put_u8(b, SSH_AGENT_CONSTRAIN_EXTENSION)) != 0 ||
	    (r = kbuf_put_cstring(b, AGENT_CONSTRAINT_RESTRICT_DEST)) != 0 ||
	    (r = kbuf_put_stringb(b, all)) != 0)
		goto out;
out:
	kbuf_free(all);
	kbuf_free(one);
	return r;
}

int
agent_session_bind_parse(struct kbuf *b, struct agent_session_bind *sb)
{
	int r;

	memset(sb, 0, sizeof(*sb));
	if ((r = kbuf_get_string_direct(b, &sb->hostkey, &sb->hostkey_len)) !=
		0 ||
	    (r = kbuf_get_string_direct(b, &sb->sid, &sb->sid_len)) != 0 ||
	    (r = kbuf_get_string_direct(b, &sb->sig, &sb->sig_len)) != 0 ||
	    (r = kbuf_get_bool(b, &sb->forwarding)) != 0)
		goto out;
	if (kbuf_len(b) != 0 || sb->hostkey_len == 0 || sb->sid_len == 0 ||
	    sb->sid_len > AGENT_MAX_SESSION_ID_LEN) {
		r = KMES_ERR_INVALID_FORMAT;
		goto out;
	}
	r = 0;
out:
	if (r != 0)
		memset(sb, 0, sizeof(*sb));
	return r;
}

void
agent_userauth_clear(struct agent_userauth *ua)
{
	free(ua->user);
	free(ua->pkalg);
	memset(ua, 0, sizeof(*ua));
}

int
agent_userauth_parse(const uint8_t *data, size_t len, struct agent_userauth *ua)
{
	struct kbuf *b;
	char *service = NULL, *method = NULL;
	uint8_t type, sig_follows;
	int r;

	memset(ua, 0, sizeof(*ua));
	if ((b = kbuf_from(data, len)) == NULL)
		return KMES_ERR_ALLOC;
	if ((r = kbuf_get_string_direct(b, &ua->sid, &ua->sid_len)) != 0 ||
	    (r = kbuf_get_u8(b, &type)) != 0 ||
	    (r = kbuf_get_cstring(b, &ua->user, NULL)) != 0 ||
	    (r = kbuf_get_cstring(b, &service, NULL)) != 0 ||
	    (r = kbuf_get_cstring(b, &method, NULL)) != 0 ||
	    (r = kbuf_get_u8(b, &sig_follows)) != 0 ||
	    (r = kbuf_get_cstring(b, &ua->pkalg, NULL)) != 0 ||
	    (r = kbuf_get_string_direct(b, &ua->key, &ua->key_len)) != 0)
		goto out;
	if (ua->sid_len == 0 || type != SSH2_MSG_USERAUTH_REQUEST ||
	    sig_follows != 1 || strcmp(service, "ssh-connection") != 0) {
		r = KMES_ERR_INVALID_FORMAT;
		goto out;
	}
	if (strcmp(method, "publickey-hostbound-v00@openssh.com") == 0) {
		if ((r = kbuf_get_string_direct(b, &ua->hostkey,
			 &ua->hostkey_len)) != 0)
			goto out;
	} else if (strcmp(method, "publickey") != 0) {
		r = KMES_ERR_INVALID_FORMAT;
		goto out;
	}
	if (kbuf_len(b) != 0) {
		r = KMES_ERR_INVALID_FORMAT;
		goto out;
	}
	r = 0;
out:
	if (r != 0) {
		agent_userauth_clear(ua);
		r = KMES_ERR_INVALID_FORMAT;
	}
	free(service);
	free(method);
	kbuf_free(b);
	return r;
}

const char *
agent_msg_name(uint8_t type)
{
	switch (type) {
	case SSH_AGENTC_REQUEST_RSA_IDENTITIES:
		return "REQUEST_RSA_IDENTITIES(ssh1)";
	case SSH_AGENTC_RSA_CHALLENGE:
		return "RSA_CHALLENGE(ssh1)";
	case SSH_AGENTC_ADD_RSA_IDENTITY:
		return "ADD_RSA_IDENTITY(ssh1)";
	case SSH_AGENTC_REMOVE_RSA_IDENTITY:
		return "REMOVE_RSA_IDENTITY(ssh1)";
	case SSH_AGENTC_REMOVE_ALL_RSA_IDENTITIES:
		return "REMOVE_ALL_RSA_IDENTITIES";
	case SSH_AGENTC_REQUEST_IDENTITIES:
		return "REQUEST_IDENTITIES";
	case SSH_AGENTC_SIGN_REQUEST:
		return "SIGN_REQUEST";
	case SSH_AGENTC_ADD_IDENTITY:
		return "ADD_IDENTITY";
	case SSH_AGENTC_REMOVE_IDENTITY:
		return "REMOVE_IDENTITY";
	case SSH_AGENTC_REMOVE_ALL_IDENTITIES:
		return "REMOVE_ALL_IDENTITIES";
	case SSH_AGENTC_ADD_SMARTCARD_KEY:
		return "ADD_SMARTCARD_KEY";
	case SSH_AGENTC_REMOVE_SMARTCARD_KEY:
		return "REMOVE_SMARTCARD_KEY";
	case SSH_AGENTC_LOCK:
		return "LOCK";
	case SSH_AGENTC_UNLOCK:
		return "UNLOCK";
	case SSH_AGENTC_ADD_RSA_ID_CONSTRAINED:
		return "ADD_RSA_ID_CONSTRAINED(ssh1)";
	case SSH_AGENTC_ADD_ID_CONSTRAINED:
		return "ADD_ID_CONSTRAINED";
	case SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED:
		return "ADD_SMARTCARD_KEY_CONSTRAINED";
	case SSH_AGENTC_EXTENSION:
		return "EXTENSION";
	}
	return "unknown";
}
