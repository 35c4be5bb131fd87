/*
 * fuzz-agent-msg.c: the bytes a client writes to the agent socket, taken
 * apart in the daemon's order: src/loop.c reads messages one after
 * another through an agent_reader (here fed in reads of changing sizes,
 * and held to agent_msg_frame's answer for the same bytes; a message that
 * may carry a secret must come out of secure memory), src/dispatch.c
 * reads each by type (ADD_IDENTITY: the private
 * key, the comment, the constraints; SIGN_REQUEST: blob, data, flags, and
 * the userauth request inside data for destination-constrained keys;
 * EXTENSION: the name, then session-bind's fields, host key and
 * signature as src/policy.c checks them). ADD_SMARTCARD_KEY_CONSTRAINED,
 * which the daemon refuses unread today, is read as ssh-agent reads it
 * (provider, PIN, constraints): the same constraint parser, reached
 * without a valid private key in front of it. No key table, connection or
 * prompt is involved: only the parsers, each result checked against what
 * its contract in agent-msg.h and crypto.h promises.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent-msg.h"
#include "agent-reader.h"
#include "crypto.h"
#include "fuzz-common.h"
#include "kbuf.h"
#include "kmes-err.h"

/* What one input may frame; more messages only repeat the same paths. */
#define MAX_MESSAGES 64

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init_crypto();
	return 0;
}

static uint32_t
peek_be32(const struct kbuf *b)
{
	const uint8_t *p = kbuf_ptr(b);

	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Checks that p[0..len) lies inside the len bytes at base. */
static int
inside(const uint8_t *p, size_t len, const uint8_t *base, size_t base_len)
{
	uintptr_t a = (uintptr_t)p, lo = (uintptr_t)base;

	return p != NULL && a >= lo && len <= base_len &&
	    a - lo <= base_len - len;
}

static int
str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int
hop_eq(const struct agent_hop *a, const struct agent_hop *b)
{
	size_t i;

	if (!str_eq(a->user, b->user) || !str_eq(a->hostname, b->hostname) ||
	    a->nkeys != b->nkeys)
		return 0;
	for (i = 0; i < a->nkeys; i++) {
		if (a->keys[i].blob_len != b->keys[i].blob_len ||
		    memcmp(a->keys[i].blob, b->keys[i].blob,
			a->keys[i].blob_len) != 0 ||
		    a->keys[i].is_ca != b->keys[i].is_ca)
			return 0;
	}
	return 1;
}

static int
constraints_eq(const struct agent_constraints *a,
    const struct agent_constraints *b)
{
	size_t i;

	if (a->lifetime_set != b->lifetime_set ||
	    (a->lifetime_set && a->lifetime != b->lifetime) ||
	    a->confirm != b->confirm || a->ndest != b->ndest)
		return 0;
	for (i = 0; i < a->ndest; i++) {
		if (!hop_eq(&a->dest[i].from, &b->dest[i].from) ||
		    !hop_eq(&a->dest[i].to, &b->dest[i].to))
			return 0;
	}
	return 1;
}

static int
constraints_empty(const struct agent_constraints *c)
{
	return c->lifetime == 0 && !c->lifetime_set && !c->confirm &&
	    c->dest == NULL && c->ndest == 0;
}

static void
check_hop(const struct agent_hop *h)
{
	size_t i;

	/* "" means any and is kept as NULL, never as an empty string. */
	FUZZ_CHECK(h->user == NULL || h->user[0] != '\0');
	FUZZ_CHECK(h->hostname == NULL || h->hostname[0] != '\0');
	FUZZ_CHECK(h->nkeys <= AGENT_MAX_HOP_KEYS);
	FUZZ_CHECK((h->keys == NULL) == (h->nkeys == 0));
	for (i = 0; i < h->nkeys; i++) {
		FUZZ_CHECK(h->keys[i].blob != NULL && h->keys[i].blob_len != 0);
		FUZZ_CHECK(h->keys[i].is_ca == 0 || h->keys[i].is_ca == 1);
	}
}

/*
 * What parsed must be what ssh-agent would enforce, and it must survive
 * encoding and parsing again unchanged, with one canonical encoding.
 * Encoding may reorder constraints but drops nothing, so it is as long as
 * the wire_len bytes parsed: a constraint accepted and then lost (an
 * empty destination list read as "no restriction") shows up here.
 */
static void
check_constraints(const struct agent_constraints *c, size_t wire_len)
{
	struct agent_constraints again, moved;
	struct kbuf *enc = NULL, *enc2 = NULL;
	const struct agent_dest_constraint *d;
	size_t i;

	FUZZ_CHECK(c->lifetime_set || c->lifetime == 0);
	FUZZ_CHECK(c->confirm == 0 || c->confirm == 1);
	FUZZ_CHECK(c->ndest <= AGENT_MAX_DEST_CONSTRAINTS);
	FUZZ_CHECK((c->dest == NULL) == (c->ndest == 0));
	for (i = 0; i < c->ndest; i++) {
		d = &c->dest[i];
		check_hop(&d->from);
		check_hop(&d->to);
		FUZZ_CHECK(d->from.user == NULL);
		FUZZ_CHECK((d->from.hostname == NULL) == (d->from.nkeys == 0));
		FUZZ_CHECK(d->to.hostname != NULL && d->to.nkeys != 0);
	}

	memset(&again, 0, sizeof(again));
	memset(&moved, 0, sizeof(moved));
	FUZZ_CHECK((enc = kbuf_new()) != NULL && (enc2 = kbuf_new()) != NULL);
	FUZZ_CHECK(agent_constraints_put(enc, c) == 0);
	FUZZ_CHECK(agent_constraints_put(enc2, c) == 0);
	FUZZ_CHECK(kbuf_len(enc) == wire_len);
	FUZZ_CHECK(agent_constraints_parse(enc, &again) == 0);
	FUZZ_CHECK(kbuf_len(enc) == 0);
	FUZZ_CHECK(constraints_eq(c, &again));
	kbuf_reset(enc);
	FUZZ_CHECK(agent_constraints_put(enc, &again) == 0);
	FUZZ_CHECK(kbuf_equal(enc, enc2));

	agent_constraints_move(&moved, &again);
	FUZZ_CHECK(constraints_empty(&again));
	FUZZ_CHECK(constraints_eq(c, &moved));
	agent_constraints_clear(&moved);
	FUZZ_CHECK(constraints_empty(&moved));
	kbuf_free(enc);
	kbuf_free(enc2);
}

/* SSH_AGENTC_ADD_IDENTITY and ADD_ID_CONSTRAINED, as process_add_identity. */
static void
add_identity(struct kbuf *m)
{
	struct agent_constraints cons;
	struct ks_key *key = NULL;
	char *comment = NULL;
	size_t before = kbuf_len(m), cons_len;
	int r;

	memset(&cons, 0, sizeof(cons));
	r = ks_key_parse_private(m, &key);
	FUZZ_CHECK_CODE(r);
	if (r != 0) {
		/* Nothing is consumed unless the whole key parses. */
		FUZZ_CHECK(key == NULL && kbuf_len(m) == before);
		return;
	}
	FUZZ_CHECK(key != NULL && kbuf_len(m) < before);
	fuzz_check_private_key(key);
	if (kbuf_get_cstring(m, &comment, NULL) != 0)
		goto out;
	/* Garbage in cons proves the parser clears it first. */
	memset(&cons, 0xa5, sizeof(cons));
	cons_len = kbuf_len(m);
	r = agent_constraints_parse(m, &cons);
	FUZZ_CHECK_CODE(r);
	if (r != 0) {
		FUZZ_CHECK(constraints_empty(&cons));
		goto out;
	}
	FUZZ_CHECK(kbuf_len(m) == 0);
	check_constraints(&cons, cons_len);
out:
	agent_constraints_clear(&cons);
	free(comment);
	ks_key_free(key);
}

/* ADD_SMARTCARD_KEY_CONSTRAINED: string provider, string PIN, constraints. */
static void
add_smartcard_constrained(struct kbuf *m)
{
	struct agent_constraints cons;
	size_t cons_len;
	int r;

	if (kbuf_get_string_direct(m, NULL, NULL) != 0 ||
	    kbuf_get_string_direct(m, NULL, NULL) != 0)
		return;
	memset(&cons, 0xa5, sizeof(cons));
	cons_len = kbuf_len(m);
	r = agent_constraints_parse(m, &cons);
	FUZZ_CHECK_CODE(r);
	if (r != 0)
		FUZZ_CHECK(constraints_empty(&cons));
	else {
		FUZZ_CHECK(kbuf_len(m) == 0);
		check_constraints(&cons, cons_len);
	}
	agent_constraints_clear(&cons);
}

/* The data of a SIGN_REQUEST, as check_dest_sign reads it. */
static void
userauth(const uint8_t *data, size_t dlen)
{
	struct agent_userauth ua;
	struct ks_key *hostkey = NULL;
	int r;

	memset(&ua, 0xa5, sizeof(ua));
	r = agent_userauth_parse(data, dlen, &ua);
	if (r != 0) {
		FUZZ_CHECK(r == KMES_ERR_INVALID_FORMAT || r == KMES_ERR_ALLOC);
		FUZZ_CHECK(ua.user == NULL && ua.pkalg == NULL &&
		    ua.sid == NULL && ua.key == NULL && ua.hostkey == NULL);
		return;
	}
	FUZZ_CHECK(ua.user != NULL && ua.pkalg != NULL);
	FUZZ_CHECK(ua.sid_len != 0 && inside(ua.sid, ua.sid_len, data, dlen));
	FUZZ_CHECK(ua.key_len == 0 || inside(ua.key, ua.key_len, data, dlen));
	if (ua.hostkey != NULL) {
		FUZZ_CHECK(ua.hostkey_len == 0 ||
		    inside(ua.hostkey, ua.hostkey_len, data, dlen));
		r = ks_key_from_blob(ua.hostkey, ua.hostkey_len, &hostkey);
		FUZZ_CHECK_CODE(r);
		if (r == 0)
			fuzz_check_public_key(hostkey, ua.hostkey,
			    ua.hostkey_len);
		ks_key_free(hostkey);
	}
	agent_userauth_clear(&ua);
	FUZZ_CHECK(ua.user == NULL && ua.pkalg == NULL);
}

static void
sign_request(struct kbuf *m)
{
	const uint8_t *blob, *data;
	size_t blob_len, dlen;
	uint32_t flags;

	if (kbuf_get_string_direct(m, &blob, &blob_len) != 0 ||
	    kbuf_get_string_direct(m, &data, &dlen) != 0 ||
	    kbuf_get_u32(m, &flags) != 0 || kbuf_len(m) != 0)
		return;
	userauth(data, dlen);
}

/* session-bind@openssh.com, as policy_session_bind. */
static void
session_bind(struct kbuf *m)
{
	struct agent_session_bind sb;
	struct ks_key *key = NULL;
	const uint8_t *msg = kbuf_ptr(m);
	size_t len = kbuf_len(m);
	int r;

	memset(&sb, 0xa5, sizeof(sb));
	r = agent_session_bind_parse(m, &sb);
	FUZZ_CHECK_CODE(r);
	if (r != 0) {
		FUZZ_CHECK(sb.hostkey == NULL && sb.sid == NULL &&
		    sb.sig == NULL && sb.forwarding == 0);
		return;
	}
	FUZZ_CHECK(kbuf_len(m) == 0);
	FUZZ_CHECK(sb.forwarding == 0 || sb.forwarding == 1);
	FUZZ_CHECK(sb.hostkey_len != 0 &&
	    inside(sb.hostkey, sb.hostkey_len, msg, len));
	FUZZ_CHECK(sb.sid_len != 0 && sb.sid_len <= AGENT_MAX_SESSION_ID_LEN &&
	    inside(sb.sid, sb.sid_len, msg, len));
	FUZZ_CHECK(sb.sig_len == 0 || inside(sb.sig, sb.sig_len, msg, len));
	r = ks_key_from_blob(sb.hostkey, sb.hostkey_len, &key);
	FUZZ_CHECK_CODE(r);
	if (r != 0)
		return;
	fuzz_check_public_key(key, sb.hostkey, sb.hostkey_len);
	r = ks_key_verify(key, sb.sig, sb.sig_len, sb.sid, sb.sid_len);
	FUZZ_CHECK_CODE(r);
	ks_key_free(key);
}

static void
extension(struct kbuf *m)
{
	char *name = NULL;

	if (kbuf_get_cstring(m, &name, NULL) != 0)
		return;
	if (strcmp(name, AGENT_EXT_SESSION_BIND) == 0)
		session_bind(m);
	free(name);
}

/* REMOVE_IDENTITY, LOCK and UNLOCK: one string and nothing more. */
static void
one_string(struct kbuf *m)
{
	const uint8_t *p;
	size_t len;

	if (kbuf_get_string_direct(m, &p, &len) == 0 && kbuf_len(m) == 0)
		FUZZ_CHECK(len == 0 || p != NULL);
}

static void
dispatch(struct kbuf *m)
{
	uint8_t type;

	/* Framing never yields an empty message. */
	FUZZ_CHECK(kbuf_get_u8(m, &type) == 0);
	FUZZ_CHECK(agent_msg_name(type) != NULL);
	switch (type) {
	case SSH_AGENTC_SIGN_REQUEST:
		sign_request(m);
		break;
	case SSH_AGENTC_ADD_IDENTITY:
	case SSH_AGENTC_ADD_ID_CONSTRAINED:
		add_identity(m);
		break;
	case SSH_AGENTC_REMOVE_IDENTITY:
	case SSH_AGENTC_LOCK:
	case SSH_AGENTC_UNLOCK:
		one_string(m);
		break;
	case SSH_AGENTC_EXTENSION:
		extension(m);
		break;
	case SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED:
		add_smartcard_constrained(m);
		break;
	default:
		/* Answered without reading further. */
		break;
	}
}

/* The input as a socket: what the reader has taken of it so far. */
struct stream {
	const uint8_t *data;
	size_t size, fed, reads;
};

/*
 * Feeds the reader until it holds a whole message, in reads of sizes that
 * change from one read to the next (all it offers, or a few bytes), as a
 * socket may deliver them. Returns 0, KMES_ERR_MESSAGE_INCOMPLETE when
 * the input ran out first, or the reader's verdict on a bad header.
 */
static int
feed_reader(struct agent_reader *rd, struct stream *st)
{
	static const size_t sizes[] = { SIZE_MAX, 1, 3, SIZE_MAX, 2, 7, 64 };
	uint8_t *p;
	size_t want, n;
	int r;

	while (!agent_reader_ready(rd)) {
		if ((r = agent_reader_space(rd, &p, &want)) != 0)
			return r;
		FUZZ_CHECK(want != 0);
		n = sizes[st->reads++ % (sizeof(sizes) / sizeof(sizes[0]))];
		if (n > want)
			n = want;
		if (n > st->size - st->fed)
			n = st->size - st->fed;
		if (n == 0)
			return KMES_ERR_MESSAGE_INCOMPLETE;
		memcpy(p, st->data + st->fed, n);
		st->fed += n;
		if ((r = agent_reader_got(rd, n)) != 0)
			return r;
	}
	return 0;
}

/*
 * Takes the next message off in as src/loop.c does, through the reader,
 * and checks the answer against agent_msg_frame's and the length prefix;
 * pending is what agent_reader_consume said of a header it already had.
 * Returns a view of the body (type byte first), or NULL when the daemon
 * would wait for bytes or drop the client (*rp says which).
 */
static struct kbuf *
next_message(const struct kbuf *in, struct agent_reader *rd, struct stream *st,
    int pending, int *rp)
{
	struct kbuf *msg = NULL, *framed = NULL, *got = NULL;
	size_t have = kbuf_len(in), len = 1;
	uint32_t claimed = have >= 4 ? peek_be32(in) : 0;
	int r;

	*rp = r = agent_msg_frame(in, &len);
	switch (r) {
	case 0:
		FUZZ_CHECK(pending == 0);
		FUZZ_CHECK(have >= 4 && len == claimed);
		FUZZ_CHECK(len != 0 && len <= AGENT_MSG_MAX && len <= have - 4);
		break;
	case KMES_ERR_MESSAGE_INCOMPLETE:
		FUZZ_CHECK(len == 0);
		FUZZ_CHECK(have < 4 ||
		    (claimed != 0 && claimed <= AGENT_MSG_MAX &&
			claimed > have - 4));
		FUZZ_CHECK(pending == 0);
		FUZZ_CHECK(feed_reader(rd, st) == KMES_ERR_MESSAGE_INCOMPLETE);
		return NULL;
	case KMES_ERR_MESSAGE_TOO_LARGE:
		FUZZ_CHECK(len == 0 && have >= 4 && claimed > AGENT_MSG_MAX);
		FUZZ_CHECK((pending != 0 ? pending : feed_reader(rd, st)) == r);
		return NULL;
	case KMES_ERR_INVALID_FORMAT:
		FUZZ_CHECK(len == 0 && have >= 4 && claimed == 0);
		FUZZ_CHECK((pending != 0 ? pending : feed_reader(rd, st)) == r);
		return NULL;
	default:
		FUZZ_CHECK(!"agent_msg_frame: unexpected code");
	}
	FUZZ_CHECK((msg = kbuf_from(kbuf_ptr(in), 4 + len)) != NULL);
	FUZZ_CHECK(kbuf_consume(msg, 4) == 0 && kbuf_len(msg) == len);
	/* Framing the body again gives back the bytes it came from. */
	FUZZ_CHECK((framed = kbuf_new()) != NULL);
	FUZZ_CHECK(agent_msg_put_framed(framed, msg) == 0);
	FUZZ_CHECK(kbuf_equal_bytes(framed, kbuf_ptr(in), 4 + len));
	kbuf_free(framed);
	/* The reader gives the same message, from secure memory if its type
	 * may carry a secret, having read no byte past it but the next
	 * header's five. */
	FUZZ_CHECK(feed_reader(rd, st) == 0);
	FUZZ_CHECK(agent_reader_message(rd, &got) == 0);
	FUZZ_CHECK(kbuf_equal(got, msg));
	FUZZ_CHECK(agent_reader_in_secure(rd) ==
	    agent_reader_is_secret(kbuf_ptr(msg)[0]));
	FUZZ_CHECK(st->fed <=
	    (size_t)(kbuf_ptr(in) - st->data) + 4 + len + AGENT_READER_HDR);
	kbuf_free(got);
	return msg;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stream st = { data, size, 0, 0 };
	struct agent_reader *rd = NULL;
	struct kbuf *in = NULL, *msg;
	size_t n, len;
	int r = 0, pending = 0;

	fuzz_begin();
	FUZZ_CHECK((in = kbuf_from(data, size)) != NULL);
	/* One reader at a time stays inside the locked budget: its blocks
	 * all come from the kmes_secure_alloc that fuzz-common counts. */
	FUZZ_CHECK((rd = agent_reader_new()) != NULL);
	for (n = 0; n < MAX_MESSAGES; n++) {
		if ((msg = next_message(in, rd, &st, pending, &r)) == NULL)
			break;
		len = kbuf_len(msg);
		dispatch(msg);
		kbuf_free(msg);
		FUZZ_CHECK(kbuf_consume(in, 4 + len) == 0);
		/* It may hold the next header already, and judge it. */
		pending = agent_reader_consume(rd);
	}
	agent_reader_free(rd);
	/*
	 * A last frame still incomplete is parsed as if its prefix had named
	 * the bytes that are there, as for a client that sent just those:
	 * else every insertion or deletion the fuzzer makes would need a
	 * matching edit of the prefix before the body is parsed at all.
	 */
	if (n < MAX_MESSAGES && r == KMES_ERR_MESSAGE_INCOMPLETE &&
	    kbuf_len(in) > 4 && kbuf_len(in) - 4 <= AGENT_MSG_MAX) {
		FUZZ_CHECK(
		    (msg = kbuf_from(kbuf_ptr(in), kbuf_len(in))) != NULL);
		FUZZ_CHECK(kbuf_consume(msg, 4) == 0);
		dispatch(msg);
		kbuf_free(msg);
	}
	kbuf_free(in);
	fuzz_end();
	return 0;
}
