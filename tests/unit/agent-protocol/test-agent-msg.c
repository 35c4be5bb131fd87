/*
 * test-agent-msg.c: framing, constraint and session-bind parsing. Every
 * valid encoding cut short must be refused cleanly.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent-msg.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "testutil.h"

static const uint8_t fake_key_a[] =
    "\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
static const uint8_t fake_key_b[] =
    "\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20"
    "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

static struct kbuf *
frame_of(uint32_t len, size_t body_have)
{
	struct kbuf *b = kbuf_new();
	uint8_t *p;

	ck_assert_int_eq(kbuf_put_u32(b, len), 0);
	ck_assert_int_eq(kbuf_reserve(b, body_have, &p), 0);
	if (body_have)
		memset(p, 0x0b, body_have);
	return b;
}

START_TEST(test_frame_waits_for_whole_message)
{
	struct kbuf *b = frame_of(10, 9);
	size_t len;

	ck_assert_int_eq(agent_msg_frame(b, &len), KMES_ERR_MESSAGE_INCOMPLETE);
	ck_assert_int_eq(kbuf_put_u8(b, 1), 0);
	ck_assert_int_eq(agent_msg_frame(b, &len), 0);
	ck_assert_uint_eq(len, 10);
	kbuf_free(b);
}
END_TEST

START_TEST(test_frame_refuses_oversize_before_data_arrives)
{
	struct kbuf *b = frame_of(AGENT_MSG_MAX + 1, 0);
	size_t len;

	ck_assert_int_eq(agent_msg_frame(b, &len), KMES_ERR_MESSAGE_TOO_LARGE);
	kbuf_free(b);
	b = frame_of(0xffffffffU, 0);
	ck_assert_int_eq(agent_msg_frame(b, &len), KMES_ERR_MESSAGE_TOO_LARGE);
	kbuf_free(b);
}
END_TEST

START_TEST(test_frame_accepts_exact_limit)
{
	struct kbuf *b = frame_of(AGENT_MSG_MAX, AGENT_MSG_MAX);
	size_t len;

	ck_assert_int_eq(agent_msg_frame(b, &len), 0);
	ck_assert_uint_eq(len, AGENT_MSG_MAX);
	kbuf_free(b);
}
END_TEST

START_TEST(test_frame_refuses_empty_message)
{
	struct kbuf *b = frame_of(0, 0);
	size_t len;

	ck_assert_int_eq(agent_msg_frame(b, &len), KMES_ERR_INVALID_FORMAT);
	kbuf_free(b);
}
END_TEST

static void
make_dest(struct agent_constraints *c)
{
	memset(c, 0, sizeof(*c));
	c->ndest = 1;
	c->dest = calloc(1, sizeof(*c->dest));
	c->dest[0].to.hostname = strdup("server.example");
	c->dest[0].to.user = strdup("alice");
	c->dest[0].to.nkeys = 2;
	c->dest[0].to.keys = calloc(2, sizeof(struct agent_keyspec));
	c->dest[0].to.keys[0].blob = malloc(sizeof(fake_key_a) - 1);
	memcpy(c->dest[0].to.keys[0].blob, fake_key_a, sizeof(fake_key_a) - 1);
	c->dest[0].to.keys[0].blob_len = sizeof(fake_key_a) - 1;
	c->dest[0].to.keys[1].blob = malloc(sizeof(fake_key_b) - 1);
	memcpy(c->dest[0].to.keys[1].blob, fake_key_b, sizeof(fake_key_b) - 1);
	c->dest[0].to.keys[1].blob_len = sizeof(fake_key_b) - 1;
	c->dest[0].to.keys[1].is_ca = 1;
}

START_TEST(test_constraints_roundtrip)
{
	struct agent_constraints in, out;
	struct kbuf *b = kbuf_new();

	make_dest(&in);
	in.lifetime = 3600;
	in.lifetime_set = 1;
	in.confirm = 1;
	ck_assert_int_eq(agent_constraints_put(b, &in), 0);
	ck_assert_int_eq(agent_constraints_parse(b, &out), 0);
	ck_assert_uint_eq(out.lifetime, 3600);
	ck_assert_int_eq(out.lifetime_set, 1);
	ck_assert_int_eq(out.confirm, 1);
	ck_assert_uint_eq(out.ndest, 1);
	ck_assert_ptr_null(out.dest[0].from.hostname);
	ck_assert_str_eq(out.dest[0].to.hostname, "server.example");
	ck_assert_str_eq(out.dest[0].to.user, "alice");
	ck_assert_uint_eq(out.dest[0].to.nkeys, 2);
	ck_assert_int_eq(out.dest[0].to.keys[0].is_ca, 0);
	ck_assert_int_eq(out.dest[0].to.keys[1].is_ca, 1);
	ck_assert_mem_eq(out.dest[0].to.keys[1].blob, fake_key_b,
	    sizeof(fake_key_b) - 1);
	agent_constraints_clear(&in);
	agent_constraints_clear(&out);
	kbuf_free(b);
}
END_TEST

START_TEST(test_restrict_dest_every_truncation_refused)
{
	struct agent_constraints in, out;
	struct kbuf *b = kbuf_new(), *cut;
	size_t n;

	make_dest(&in);
	ck_assert_int_eq(agent_constraints_put(b, &in), 0);
	for (n = 1; n < kbuf_len(b); n++) {
		cut = kbuf_from(kbuf_ptr(b), n);
		ck_assert_int_ne(agent_constraints_parse(cut, &out), 0);
		/* Refused parses leave nothing behind to free. */
		ck_assert_uint_eq(out.ndest, 0);
		ck_assert_ptr_null(out.dest);
		kbuf_free(cut);
	}
	agent_constraints_clear(&in);
	kbuf_free(b);
}
END_TEST

START_TEST(test_unenforced_constraints_refused)
{
	/* maxsign, sk-provider, an unknown extension, an unknown type. */
	static const uint8_t maxsign[] = { 3, 0, 0, 0, 10 };
	static const uint8_t unknown[] = { 77 };
	struct agent_constraints out;
	struct kbuf *b;

	b = kbuf_from(maxsign, sizeof(maxsign));
	ck_assert_int_eq(agent_constraints_parse(b, &out),
	    KMES_ERR_CONSTRAINT_UNSUPPORTED);
	kbuf_free(b);
	b = kbuf_from(unknown, sizeof(unknown));
	ck_assert_int_eq(agent_constraints_parse(b, &out),
	    KMES_ERR_CONSTRAINT_UNSUPPORTED);
	kbuf_free(b);

	b = kbuf_new();
	ck_assert_int_eq(kbuf_put_u8(b, SSH_AGENT_CONSTRAIN_EXTENSION), 0);
	ck_assert_int_eq(kbuf_put_cstring(b, "sk-provider@openssh.com"), 0);
	ck_assert_int_eq(kbuf_put_cstring(b, "internal"), 0);
	ck_assert_int_eq(agent_constraints_parse(b, &out),
	    KMES_ERR_CONSTRAINT_UNSUPPORTED);
	kbuf_free(b);

	b = kbuf_new();
	ck_assert_int_eq(kbuf_put_u8(b, SSH_AGENT_CONSTRAIN_EXTENSION), 0);
	ck_assert_int_eq(kbuf_put_cstring(b, "made-up@example.com"), 0);
	ck_assert_int_eq(agent_constraints_parse(b, &out),
	    KMES_ERR_CONSTRAINT_UNSUPPORTED);
	kbuf_free(b);
}
END_TEST

START_TEST(test_duplicate_constraints_refused)
{
	static const uint8_t two_life[] = { 1, 0, 0, 0, 5, 1, 0, 0, 0, 6 };
	static const uint8_t two_confirm[] = { 2, 2 };
	struct agent_constraints out;
	struct kbuf *b;

	b = kbuf_from(two_life, sizeof(two_life));
	ck_assert_int_eq(agent_constraints_parse(b, &out),
	    KMES_ERR_INVALID_FORMAT);
	kbuf_free(b);
	b = kbuf_from(two_confirm, sizeof(two_confirm));
	ck_assert_int_eq(agent_constraints_parse(b, &out),
	    KMES_ERR_INVALID_FORMAT);
	kbuf_free(b);
}
END_TEST

START_TEST(test_restrict_dest_inconsistent_hops_refused)
{
	struct agent_constraints in, out;
	struct kbuf *b = kbuf_new();

	/* "from" with a user is invalid. */
	make_dest(&in);
	in.dest[0].from.user = strdup("mallory");
	ck_assert_int_eq(agent_constraints_put(b, &in), 0);
	ck_assert_int_eq(agent_constraints_parse(b, &out),
	    KMES_ERR_INVALID_FORMAT);
	agent_constraints_clear(&in);

	/* "to" without keys says nothing about which host: invalid. */
	kbuf_reset(b);
	make_dest(&in);
	free(in.dest[0].to.keys[0].blob);
	free(in.dest[0].to.keys[1].blob);
	in.dest[0].to.nkeys = 0;
	ck_assert_int_eq(agent_constraints_put(b, &in), 0);
	ck_assert_int_eq(agent_constraints_parse(b, &out),
	    KMES_ERR_INVALID_FORMAT);
	agent_constraints_clear(&in);

	/* "from" host without keys: invalid. */
	kbuf_reset(b);
	make_dest(&in);
	in.dest[0].from.hostname = strdup("jump");
	ck_assert_int_eq(agent_constraints_put(b, &in), 0);
	ck_assert_int_eq(agent_constraints_parse(b, &out),
	    KMES_ERR_INVALID_FORMAT);
	agent_constraints_clear(&in);
	kbuf_free(b);
}
END_TEST

static struct kbuf *
session_bind_body(void)
{
	struct kbuf *b = kbuf_new();

	ck_assert_int_eq(kbuf_put_string(b, fake_key_a, sizeof(fake_key_a) - 1),
	    0);
	ck_assert_int_eq(kbuf_put_string(b, "0123456789abcdef0123456789abcdef",
			     32),
	    0);
	ck_assert_int_eq(kbuf_put_string(b, "sig", 3), 0);
	ck_assert_int_eq(kbuf_put_u8(b, 1), 0);
	return b;
}

START_TEST(test_session_bind_parse_and_truncations)
{
	struct kbuf *b = session_bind_body(), *cut;
	struct agent_session_bind sb;
	size_t n;

	cut = kbuf_from(kbuf_ptr(b), kbuf_len(b));
	ck_assert_int_eq(agent_session_bind_parse(cut, &sb), 0);
	ck_assert_uint_eq(sb.sid_len, 32);
	ck_assert_int_eq(sb.forwarding, 1);
	kbuf_free(cut);
	for (n = 0; n < kbuf_len(b); n++) {
		cut = kbuf_from(kbuf_ptr(b), n);
		ck_assert_int_ne(agent_session_bind_parse(cut, &sb), 0);
		kbuf_free(cut);
	}
	/* Trailing garbage is refused too. */
	ck_assert_int_eq(kbuf_put_u8(b, 0), 0);
	ck_assert_int_ne(agent_session_bind_parse(b, &sb), 0);
	kbuf_free(b);
}
END_TEST

static struct kbuf *
userauth(const char *service, const char *method, uint8_t sig_follows,
    int hostbound)
{
	struct kbuf *b = kbuf_new();

	ck_assert_int_eq(kbuf_put_string(b, "sessionid", 9), 0);
	ck_assert_int_eq(kbuf_put_u8(b, 50), 0);
	ck_assert_int_eq(kbuf_put_cstring(b, "alice"), 0);
	ck_assert_int_eq(kbuf_put_cstring(b, service), 0);
	ck_assert_int_eq(kbuf_put_cstring(b, method), 0);
	ck_assert_int_eq(kbuf_put_u8(b, sig_follows), 0);
	ck_assert_int_eq(kbuf_put_cstring(b, "ssh-ed25519"), 0);
	ck_assert_int_eq(kbuf_put_string(b, fake_key_a, sizeof(fake_key_a) - 1),
	    0);
	if (hostbound)
		ck_assert_int_eq(kbuf_put_string(b, fake_key_b,
				     sizeof(fake_key_b) - 1),
		    0);
	return b;
}

START_TEST(test_userauth_parse_hostbound)
{
	struct kbuf *b = userauth("ssh-connection",
	    "publickey-hostbound-v00@openssh.com", 1, 1);
	struct agent_userauth ua;
	size_t n;

	ck_assert_int_eq(agent_userauth_parse(kbuf_ptr(b), kbuf_len(b), &ua),
	    0);
	ck_assert_str_eq(ua.user, "alice");
	ck_assert_str_eq(ua.pkalg, "ssh-ed25519");
	ck_assert_uint_eq(ua.sid_len, 9);
	ck_assert_ptr_nonnull(ua.hostkey);
	ck_assert_uint_eq(ua.hostkey_len, sizeof(fake_key_b) - 1);
	agent_userauth_clear(&ua);
	for (n = 0; n < kbuf_len(b); n++)
		ck_assert_int_ne(agent_userauth_parse(kbuf_ptr(b), n, &ua), 0);
	kbuf_free(b);
}
END_TEST

START_TEST(test_userauth_refuses_other_requests)
{
	struct kbuf *b;
	struct agent_userauth ua;

	b = userauth("ssh-userauth", "publickey", 1, 0);
	ck_assert_int_ne(agent_userauth_parse(kbuf_ptr(b), kbuf_len(b), &ua),
	    0);
	kbuf_free(b);
	b = userauth("ssh-connection", "publickey", 0, 0);
	ck_assert_int_ne(agent_userauth_parse(kbuf_ptr(b), kbuf_len(b), &ua),
	    0);
	kbuf_free(b);
	b = userauth("ssh-connection", "password", 1, 0);
	ck_assert_int_ne(agent_userauth_parse(kbuf_ptr(b), kbuf_len(b), &ua),
	    0);
	kbuf_free(b);
	/* plain publickey with a trailing host key: leftovers refused */
	b = userauth("ssh-connection", "publickey", 1, 1);
	ck_assert_int_ne(agent_userauth_parse(kbuf_ptr(b), kbuf_len(b), &ua),
	    0);
	kbuf_free(b);
	b = userauth("ssh-connection", "publickey", 1, 0);
	ck_assert_int_eq(agent_userauth_parse(kbuf_ptr(b), kbuf_len(b), &ua),
	    0);
	ck_assert_ptr_null(ua.hostkey);
	agent_userauth_clear(&ua);
	kbuf_free(b);
}
END_TEST

static Suite *
msg_suite(void)
{
	Suite *s = suite_create("agent-msg");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_frame_waits_for_whole_message);
	tcase_add_test(tc, test_frame_refuses_oversize_before_data_arrives);
	tcase_add_test(tc, test_frame_accepts_exact_limit);
	tcase_add_test(tc, test_frame_refuses_empty_message);
	tcase_add_test(tc, test_constraints_roundtrip);
	tcase_add_test(tc, test_restrict_dest_every_truncation_refused);
	tcase_add_test(tc, test_unenforced_constraints_refused);
	tcase_add_test(tc, test_duplicate_constraints_refused);
	tcase_add_test(tc, test_restrict_dest_inconsistent_hops_refused);
	tcase_add_test(tc, test_session_bind_parse_and_truncations);
	tcase_add_test(tc, test_userauth_parse_hostbound);
	tcase_add_test(tc, test_userauth_refuses_other_requests);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(msg_suite());
}
