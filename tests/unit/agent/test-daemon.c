/*
 * test-daemon.c: every agent message type through the real loop, dispatch
 * and reply path, over a socketpair, on a fake clock and hand-run pools
 * (daemon-kit.h): what each answers, that signatures verify, that what a
 * hostile or broken client sends gets FAILURE or drops only that client,
 * and that a client leaving mid-request leaves the loop working.
 */
#include <sys/socket.h>

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent-msg.h"
#include "crypto.h"
#include "daemon-kit.h"
#include "kbuf.h"
#include "keytable.h"
#include "kmes-err.h"
#include "lock.h"
#include "log.h"
#include "prov.h"
#include "testutil.h"
#include "workers.h"

static const uint8_t data[] = "data to be signed";
#define DLEN (sizeof(data) - 1)

static struct kit *k;

static void
setup(void)
{
	k = kit_new();
}

static void
teardown(void)
{
	kit_free(k);
	k = NULL;
}

/* The identities answer as (blob, comment) pairs; asserts its shape. */
static int
ids_contain(int fd, const struct ks_key *key, const char *comment, size_t *np)
{
	struct kbuf *m = kit_msg(SSH_AGENTC_REQUEST_IDENTITIES), *b;
	const uint8_t *blob, *want;
	size_t blen, wlen;
	char *c = NULL;
	uint32_t n, i;
	int found = 0;

	ck_assert_ptr_nonnull(b = kbuf_new());
	ck_assert_int_eq(kit_call(k, fd, m, b), SSH_AGENT_IDENTITIES_ANSWER);
	ck_assert_int_eq(kbuf_get_u32(b, &n), 0);
	want = ks_key_blob(key, &wlen);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(kbuf_get_string_direct(b, &blob, &blen), 0);
		ck_assert_int_eq(kbuf_get_cstring(b, &c, NULL), 0);
		if (blen == wlen && memcmp(blob, want, wlen) == 0 &&
		    strcmp(c, comment) == 0)
			found = 1;
		free(c);
	}
	ck_assert_uint_eq(kbuf_len(b), 0);
	if (np != NULL)
		*np = n;
	kbuf_free(b);
	kbuf_free(m);
	return found;
}

static uint8_t
call_code(int fd, struct kbuf *m)
{
	uint8_t t = kit_call(k, fd, m, NULL);

	kbuf_free(m);
	return t;
}

/* ------------------------------------------------------ identities, add */

START_TEST(test_lists_each_added_key_with_its_comment)
{
	struct ks_key *ed = kit_key(0), *ec = kit_key(KS_KEY_ECDSA_P256);
	int fd = kit_connect(k);
	size_t n;

	ck_assert_uint_eq(kit_count_ids(k, fd), 0);
	kit_add(k, fd, ed, "ed key", NULL);
	kit_add(k, fd, ec, "ec key", NULL);
	ck_assert(ids_contain(fd, ed, "ed key", &n));
	ck_assert(ids_contain(fd, ec, "ec key", &n));
	ck_assert_uint_eq(n, 2);
	/* Another client sees the same keys. */
	close(fd);
	fd = kit_connect(k);
	ck_assert(ids_contain(fd, ed, "ed key", &n));
	ck_assert_uint_eq(n, 2);
	close(fd);
	ks_key_free(ed);
	ks_key_free(ec);
}
END_TEST

START_TEST(test_signatures_of_added_keys_verify)
{
	struct ks_key *ed = kit_key(0), *ec = kit_key(KS_KEY_ECDSA_P384);
	struct ks_key *rsa = kit_key(KS_KEY_RSA);
	int fd = kit_connect(k);

	kit_add(k, fd, ed, "ed", NULL);
	kit_add(k, fd, ec, "ec", NULL);
	kit_add(k, fd, rsa, "rsa", NULL);
	ck_assert_int_eq(kit_sign_check(k, fd, ed, data, DLEN, 0),
	    SSH_AGENT_SIGN_RESPONSE);
	ck_assert_int_eq(kit_sign_check(k, fd, ec, data, DLEN, 0),
	    SSH_AGENT_SIGN_RESPONSE);
	ck_assert_int_eq(kit_sign_check(k, fd, rsa, data, DLEN,
			     KS_SIGN_RSA_SHA2_256),
	    SSH_AGENT_SIGN_RESPONSE);
	ck_assert_int_eq(kit_sign_check(k, fd, rsa, data, DLEN,
			     KS_SIGN_RSA_SHA2_512),
	    SSH_AGENT_SIGN_RESPONSE);
	close(fd);
	ks_key_free(ed);
	ks_key_free(ec);
	ks_key_free(rsa);
}
END_TEST

START_TEST(test_refuses_to_sign_with_a_key_not_held)
{
	struct ks_key *held = kit_key(0), *other = kit_key(0);
	int fd = kit_connect(k);

	kit_add(k, fd, held, "held", NULL);
	ck_assert_int_eq(kit_sign_check(k, fd, other, data, DLEN, 0),
	    SSH_AGENT_FAILURE);
	close(fd);
	ks_key_free(held);
	ks_key_free(other);
}
END_TEST

START_TEST(test_adding_a_key_again_replaces_its_comment)
{
	struct ks_key *ed = kit_key(0);
	int fd = kit_connect(k);
	size_t n;

	kit_add(k, fd, ed, "first", NULL);
	kit_add(k, fd, ed, "second", NULL);
	ck_assert(ids_contain(fd, ed, "second", &n));
	ck_assert_uint_eq(n, 1);
	close(fd);
	ks_key_free(ed);
}
END_TEST

START_TEST(test_lifetime_constraint_wipes_the_key_when_it_expires)
{
	struct ks_key *ed = kit_key(0), *keep = kit_key(0);
	struct agent_constraints c;
	int fd = kit_connect(k);

	memset(&c, 0, sizeof(c));
	c.lifetime_set = 1;
	c.lifetime = 10;
	kit_add(k, fd, ed, "short-lived", &c);
	kit_add(k, fd, keep, "kept", NULL);
	ck_assert(kit_quiet(k, fd, 1));
	kit_advance(k, 9999);
	ck_assert_uint_eq(ks_table_count(k->agent.table), 2);
	ck_assert_int_eq(kit_sign_check(k, fd, ed, data, DLEN, 0),
	    SSH_AGENT_SIGN_RESPONSE);
	/* At the lifetime, loop 0's tick wipes it from the table itself,
	 * not only from the answers. */
	kit_advance(k, 1);
	ck_assert_uint_eq(ks_table_count(k->agent.table), 1);
	ck_assert_uint_eq(kit_count_ids(k, fd), 1);
	ck_assert_int_eq(kit_sign_check(k, fd, ed, data, DLEN, 0),
	    SSH_AGENT_FAILURE);
	ck_assert_int_eq(kit_sign_check(k, fd, keep, data, DLEN, 0),
	    SSH_AGENT_SIGN_RESPONSE);
	close(fd);
	ks_key_free(ed);
	ks_key_free(keep);
}
END_TEST

START_TEST(test_default_lifetime_applies_to_unconstrained_adds)
{
	struct ks_key *ed = kit_key(0);
	int fd = kit_connect(k);

	k->agent.opt.default_lifetime = 5; /* -t 5 */
	kit_add(k, fd, ed, "t", NULL);
	ck_assert(kit_quiet(k, fd, 1));
	kit_advance(k, 4999);
	ck_assert_uint_eq(kit_count_ids(k, fd), 1);
	kit_advance(k, 1);
	ck_assert_uint_eq(ks_table_count(k->agent.table), 0);
	close(fd);
	ks_key_free(ed);
}
END_TEST

START_TEST(test_refuses_unenforceable_constraints)
{
	struct ks_key *ed = kit_key(0);
	struct kbuf *m = kit_msg(SSH_AGENTC_ADD_ID_CONSTRAINED);
	int fd = kit_connect(k);

	/* maxsign: a promise the agent cannot keep. */
	ck_assert_int_eq(ks_key_put_private(ed, m), 0);
	ck_assert_int_eq(kbuf_put_cstring(m, "maxsign"), 0);
	ck_assert_int_eq(kbuf_put_u8(m, SSH_AGENT_CONSTRAIN_MAXSIGN), 0);
	ck_assert_int_eq(kbuf_put_u32(m, 3), 0);
	ck_assert_int_eq(call_code(fd, m), SSH_AGENT_FAILURE);
	ck_assert_uint_eq(ks_table_count(k->agent.table), 0);
	close(fd);
	ks_key_free(ed);
}
END_TEST

/* ------------------------------------------------- destination, binds */

/* What ssh signs for a publickey userauth to the host of session sid. */
static struct kbuf *
userauth_data(const uint8_t *sid, size_t sid_len, const struct ks_key *key)
{
	struct kbuf *b;
	const uint8_t *blob;
	size_t blen;

	ck_assert_ptr_nonnull(b = kbuf_new());
	blob = ks_key_blob(key, &blen);
	ck_assert_int_eq(kbuf_put_string(b, sid, sid_len), 0);
	ck_assert_int_eq(kbuf_put_u8(b, 50), 0); /* USERAUTH_REQUEST */
	ck_assert_int_eq(kbuf_put_cstring(b, "alice"), 0);
	ck_assert_int_eq(kbuf_put_cstring(b, "ssh-connection"), 0);
	ck_assert_int_eq(kbuf_put_cstring(b, "publickey"), 0);
	ck_assert_int_eq(kbuf_put_u8(b, 1), 0);
	ck_assert_int_eq(kbuf_put_cstring(b, ks_key_type_name(key)), 0);
	ck_assert_int_eq(kbuf_put_string(b, blob, blen), 0);
	return b;
}

START_TEST(test_destination_constrained_key_signs_only_for_its_host)
{
	struct ks_key *user = kit_key(0), *host = kit_key(0);
	struct ks_key *other = kit_key(0);
	struct agent_constraints c;
	struct agent_dest_constraint d;
	struct agent_keyspec spec;
	struct kbuf *ua_host, *ua_other;
	uint8_t sid_host[32], sid_other[32];
	int fd_local = kit_connect(k), fd_host = kit_connect(k);
	int fd_other = kit_connect(k);

	memset(sid_host, 0xa1, sizeof(sid_host));
	memset(sid_other, 0xb2, sizeof(sid_other));
	/* ssh-add -h host-h: from here to host-h, whose key is host. */
	memset(&c, 0, sizeof(c));
	memset(&d, 0, sizeof(d));
	spec.blob = (uint8_t *)(uintptr_t)ks_key_blob(host, &spec.blob_len);
	spec.is_ca = 0;
	d.to.hostname = "host-h";
	d.to.keys = &spec;
	d.to.nkeys = 1;
	c.dest = &d;
	c.ndest = 1;
	kit_add(k, fd_local, user, "restricted", &c);

	ck_assert_int_eq(call_code(fd_host,
			     kit_bind_msg(host, sid_host, sizeof(sid_host), 0)),
	    SSH_AGENT_SUCCESS);
	ck_assert_int_eq(call_code(fd_other,
			     kit_bind_msg(other, sid_other, sizeof(sid_other),
				 0)),
	    SSH_AGENT_SUCCESS);
	ua_host = userauth_data(sid_host, sizeof(sid_host), user);
	ua_other = userauth_data(sid_other, sizeof(sid_other), user);

	/* Bound to host-h: listed, and signs its userauth. */
	ck_assert_uint_eq(kit_count_ids(k, fd_host), 1);
	ck_assert_int_eq(kit_sign_check(k, fd_host, user, kbuf_ptr(ua_host),
			     kbuf_len(ua_host), 0),
	    SSH_AGENT_SIGN_RESPONSE);
	/* ... but not a userauth for another session. */
	ck_assert_int_eq(kit_sign_check(k, fd_host, user, kbuf_ptr(ua_other),
			     kbuf_len(ua_other), 0),
	    SSH_AGENT_FAILURE);
	/* Bound to another host: hidden and refused. */
	ck_assert_uint_eq(kit_count_ids(k, fd_other), 0);
	ck_assert_int_eq(kit_sign_check(k, fd_other, user, kbuf_ptr(ua_other),
			     kbuf_len(ua_other), 0),
	    SSH_AGENT_FAILURE);
	/* Unbound (local): listed, but it signs for nobody. */
	ck_assert_uint_eq(kit_count_ids(k, fd_local), 1);
	ck_assert_int_eq(kit_sign_check(k, fd_local, user, kbuf_ptr(ua_host),
			     kbuf_len(ua_host), 0),
	    SSH_AGENT_FAILURE);
	/* A bound connection cannot remove a key hidden from it. */
	{
		struct kbuf *m = kit_msg(SSH_AGENTC_REMOVE_IDENTITY);
		const uint8_t *blob;
		size_t blen;

		blob = ks_key_blob(user, &blen);
		ck_assert_int_eq(kbuf_put_string(m, blob, blen), 0);
		ck_assert_int_eq(call_code(fd_other, m), SSH_AGENT_FAILURE);
		ck_assert_uint_eq(ks_table_count(k->agent.table), 1);
	}
	kbuf_free(ua_host);
	kbuf_free(ua_other);
	close(fd_local);
	close(fd_host);
	close(fd_other);
	ks_key_free(user);
	ks_key_free(host);
	ks_key_free(other);
}
END_TEST

START_TEST(test_session_bind_needs_the_host_keys_signature)
{
	struct ks_key *host = kit_key(0), *forger = kit_key(0);
	struct kbuf *m, *sig;
	uint8_t sid[32];
	const uint8_t *blob;
	size_t blen;
	int fd = kit_connect(k);

	memset(sid, 0x5c, sizeof(sid));
	/* The session ID signed by another key than the one named. */
	m = kit_msg(SSH_AGENTC_EXTENSION);
	ck_assert_ptr_nonnull(sig = kbuf_new());
	ck_assert_int_eq(ks_key_sign(forger, sid, sizeof(sid), 0, sig), 0);
	blob = ks_key_blob(host, &blen);
	ck_assert_int_eq(kbuf_put_cstring(m, AGENT_EXT_SESSION_BIND), 0);
	ck_assert_int_eq(kbuf_put_string(m, blob, blen), 0);
	ck_assert_int_eq(kbuf_put_string(m, sid, sizeof(sid)), 0);
	ck_assert_int_eq(kbuf_put_stringb(m, sig), 0);
	ck_assert_int_eq(kbuf_put_u8(m, 0), 0);
	ck_assert_int_eq(call_code(fd, m), SSH_AGENT_FAILURE);
	kbuf_free(sig);
	/* The real one binds; a forwarding bind before it is fine too. */
	ck_assert_int_eq(call_code(fd, kit_bind_msg(host, sid, sizeof(sid), 1)),
	    SSH_AGENT_SUCCESS);
	sid[0] ^= 1;
	ck_assert_int_eq(call_code(fd, kit_bind_msg(host, sid, sizeof(sid), 0)),
	    SSH_AGENT_SUCCESS);
	/* An authentication bind is final. */
	sid[1] ^= 1;
	ck_assert_int_eq(call_code(fd, kit_bind_msg(host, sid, sizeof(sid), 1)),
	    SSH_AGENT_FAILURE);
	close(fd);
	ks_key_free(host);
	ks_key_free(forger);
}
END_TEST

START_TEST(test_extension_query_names_query_and_session_bind)
{
	struct kbuf *m = kit_msg(SSH_AGENTC_EXTENSION), *b;
	char *n1 = NULL, *n2 = NULL;
	int fd = kit_connect(k);

	ck_assert_ptr_nonnull(b = kbuf_new());
	ck_assert_int_eq(kbuf_put_cstring(m, AGENT_EXT_QUERY), 0);
	ck_assert_int_eq(kit_call(k, fd, m, b), SSH_AGENT_SUCCESS);
	ck_assert_int_eq(kbuf_get_cstring(b, &n1, NULL), 0);
	ck_assert_int_eq(kbuf_get_cstring(b, &n2, NULL), 0);
	ck_assert_uint_eq(kbuf_len(b), 0);
	ck_assert_str_eq(n1, AGENT_EXT_QUERY);
	ck_assert_str_eq(n2, AGENT_EXT_SESSION_BIND);
	free(n1);
	free(n2);
	kbuf_free(m);
	/* An extension we do not know: FAILURE, nothing else. */
	m = kit_msg(SSH_AGENTC_EXTENSION);
	ck_assert_int_eq(kbuf_put_cstring(m, "frobnicate@example.com"), 0);
	ck_assert_int_eq(call_code(fd, m), SSH_AGENT_FAILURE);
	kbuf_free(b);
	close(fd);
}
END_TEST

/* --------------------------------------------------------------- remove */

START_TEST(test_remove_forgets_only_the_named_key)
{
	struct ks_key *a = kit_key(0), *b = kit_key(0);
	struct kbuf *m;
	const uint8_t *blob;
	size_t blen, n;
	int fd = kit_connect(k);

	kit_add(k, fd, a, "a", NULL);
	kit_add(k, fd, b, "b", NULL);
	m = kit_msg(SSH_AGENTC_REMOVE_IDENTITY);
	blob = ks_key_blob(a, &blen);
	ck_assert_int_eq(kbuf_put_string(m, blob, blen), 0);
	ck_assert_int_eq(kit_call(k, fd, m, NULL), SSH_AGENT_SUCCESS);
	ck_assert(!ids_contain(fd, a, "a", &n));
	ck_assert(ids_contain(fd, b, "b", &n));
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(kit_sign_check(k, fd, a, data, DLEN, 0),
	    SSH_AGENT_FAILURE);
	/* Removing it again: not held. */
	ck_assert_int_eq(call_code(fd, m), SSH_AGENT_FAILURE);
	close(fd);
	ks_key_free(a);
	ks_key_free(b);
}
END_TEST

START_TEST(test_remove_all_forgets_every_added_key)
{
	static const uint8_t types[] = { SSH_AGENTC_REMOVE_ALL_IDENTITIES,
		SSH_AGENTC_REMOVE_ALL_RSA_IDENTITIES };
	struct ks_key *a = kit_key(0), *b = kit_key(KS_KEY_ECDSA_P256);
	size_t i;
	int fd = kit_connect(k);

	/* ssh-add -D sends both; each empties the table. */
	for (i = 0; i < 2; i++) {
		kit_add(k, fd, a, "a", NULL);
		kit_add(k, fd, b, "b", NULL);
		ck_assert_uint_eq(kit_count_ids(k, fd), 2);
		ck_assert_int_eq(call_code(fd, kit_msg(types[i])),
		    SSH_AGENT_SUCCESS);
		ck_assert_uint_eq(ks_table_count(k->agent.table), 0);
		ck_assert_uint_eq(kit_count_ids(k, fd), 0);
	}
	close(fd);
	ks_key_free(a);
	ks_key_free(b);
}
END_TEST

/* ---------------------------------------------------------- lock, unlock */

START_TEST(test_lock_hides_keys_and_refuses_all_until_unlocked)
{
	struct ks_key *ed = kit_key(0), *other = kit_key(0);
	int fd = kit_connect(k);

	kit_add(k, fd, ed, "ed", NULL);
	ck_assert_int_eq(call_code(fd, kit_lock_msg(1, "secret")),
	    SSH_AGENT_SUCCESS);
	ck_assert(lock_is_locked(&k->agent));
	ck_assert_uint_eq(kit_count_ids(k, fd), 0);
	ck_assert_int_eq(kit_sign_check(k, fd, ed, data, DLEN, 0),
	    SSH_AGENT_FAILURE);
	ck_assert_int_eq(call_code(fd, kit_add_msg(other, "o", NULL)),
	    SSH_AGENT_FAILURE);
	ck_assert_int_eq(call_code(fd,
			     kit_msg(SSH_AGENTC_REMOVE_ALL_IDENTITIES)),
	    SSH_AGENT_FAILURE);
	/* Locking again while locked is refused. */
	ck_assert_int_eq(call_code(fd, kit_lock_msg(1, "secret")),
	    SSH_AGENT_FAILURE);
	ck_assert_int_eq(call_code(fd, kit_lock_msg(0, "secret")),
	    SSH_AGENT_SUCCESS);
	ck_assert(!lock_is_locked(&k->agent));
	ck_assert_uint_eq(kit_count_ids(k, fd), 1);
	ck_assert_int_eq(kit_sign_check(k, fd, ed, data, DLEN, 0),
	    SSH_AGENT_SIGN_RESPONSE);
	close(fd);
	ks_key_free(ed);
	ks_key_free(other);
}
END_TEST

START_TEST(test_wrong_unlock_password_answered_only_after_the_hold)
{
	struct kbuf *m;
	uint8_t t;
	int fd = kit_connect(k);

	ck_assert_int_eq(call_code(fd, kit_lock_msg(1, "right")),
	    SSH_AGENT_SUCCESS);
	m = kit_lock_msg(0, "wrong");
	kit_send(fd, m);
	kbuf_free(m);
	/* The KDF ran and said no; the answer waits for the fake clock. */
	ck_assert(kit_quiet(k, fd, 1));
	ck_assert_uint_eq(workers_busy(k->agent.kdf_pool), 0);
	kit_advance(k, 249);
	ck_assert(kit_quiet(k, fd, 1));
	kit_advance(k, 1);
	ck_assert(kit_pump(k, fd, 0));
	ck_assert_int_eq(kit_reply(fd, &t, NULL), 0);
	ck_assert_int_eq(t, SSH_AGENT_FAILURE);
	ck_assert(lock_is_locked(&k->agent));
	/* Meanwhile the connection was suspended; now it reads on. */
	ck_assert_int_eq(call_code(fd, kit_lock_msg(0, "right")),
	    SSH_AGENT_SUCCESS);
	ck_assert(!lock_is_locked(&k->agent));
	close(fd);
}
END_TEST

START_TEST(test_unlock_while_unlocked_is_refused)
{
	int fd = kit_connect(k);

	ck_assert_int_eq(call_code(fd, kit_lock_msg(0, "any")),
	    SSH_AGENT_FAILURE);
	ck_assert(!lock_is_locked(&k->agent));
	close(fd);
}
END_TEST

/* ------------------------------------------------------------ smartcard */

/* The marker library (tests/support/marker-lib.c) logs any load. */
static const char *
marker_lib(void)
{
	const char *p = getenv("KMES_MARKER_LIB");

	ck_assert_msg(p != NULL, "KMES_MARKER_LIB not set (run by meson)");
	return p;
}

static char marker_file[512];

static void
marker_setup(void)
{
	snprintf(marker_file, sizeof(marker_file), "%s/marker", tu_dir());
	ck_assert_int_eq(setenv("KMES_MARKER_FILE", marker_file, 1), 0);
	prov_set_helper_exe(getenv("KMES_AGENT"));
}

static struct kbuf *
smartcard_msg(uint8_t type, const char *provider, const char *pin)
{
	struct kbuf *m = kit_msg(type);

	ck_assert_int_eq(kbuf_put_cstring(m, provider), 0);
	ck_assert_int_eq(kbuf_put_cstring(m, pin), 0);
	return m;
}

START_TEST(test_smartcard_off_the_allow_list_is_refused_unloaded)
{
	int fd = kit_connect(k);

	marker_setup();
	/* The default -P: /usr/lib*, not the build tree. */
	ck_assert_int_eq(call_code(fd,
			     smartcard_msg(SSH_AGENTC_ADD_SMARTCARD_KEY,
				 marker_lib(), "")),
	    SSH_AGENT_FAILURE);
	ck_assert_int_eq(
	    call_code(fd,
		smartcard_msg(SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED,
		    marker_lib(), "")),
	    SSH_AGENT_FAILURE);
	ck_assert_uint_eq(workers_busy(k->agent.wait_pool), 0);
	ck_assert_int_ne(access(marker_file, F_OK), 0);
	/* Removing one never added. */
	ck_assert_int_eq(call_code(fd,
			     smartcard_msg(SSH_AGENTC_REMOVE_SMARTCARD_KEY,
				 marker_lib(), "")),
	    SSH_AGENT_FAILURE);
	close(fd);
}
END_TEST

START_TEST(test_smartcard_from_a_bound_connection_refused_before_parsing)
{
	struct ks_key *host = kit_key(0);
	uint8_t sid[32];
	char allow[600], *slash;
	struct kbuf *m;
	int fd = kit_connect(k), local;

	marker_setup();
	/* -P names the marker's directory: only the binding stops it. */
	snprintf(allow, sizeof(allow), "%s", marker_lib());
	ck_assert_ptr_nonnull(slash = strrchr(allow, '/'));
	snprintf(slash, sizeof(allow) - (size_t)(slash - allow), "/*");
	k->agent.opt.allowed_providers = allow;
	memset(sid, 7, sizeof(sid));
	ck_assert_int_eq(call_code(fd, kit_bind_msg(host, sid, sizeof(sid), 1)),
	    SSH_AGENT_SUCCESS);
	/* A name and then garbage where the PIN should be: refused for the
	 * binding before any field past the name is read. */
	m = kit_msg(SSH_AGENTC_ADD_SMARTCARD_KEY);
	ck_assert_int_eq(kbuf_put_cstring(m, marker_lib()), 0);
	ck_assert_int_eq(kbuf_put_u8(m, 0xff), 0);
	ck_assert_int_eq(call_code(fd, m), SSH_AGENT_FAILURE);
	ck_assert_int_eq(
	    call_code(fd,
		smartcard_msg(SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED,
		    marker_lib(), "")),
	    SSH_AGENT_FAILURE);
	ck_assert_int_eq(call_code(fd,
			     smartcard_msg(SSH_AGENTC_REMOVE_SMARTCARD_KEY,
				 marker_lib(), "")),
	    SSH_AGENT_FAILURE);
	ck_assert_uint_eq(workers_busy(k->agent.wait_pool), 0);
	ck_assert_int_ne(access(marker_file, F_OK), 0);
	/* The control: from a local connection the same add does start a
	 * helper that loads it (and fails: it is no PKCS#11 module). */
	local = kit_connect(k);
	ck_assert_int_eq(call_code(local,
			     smartcard_msg(SSH_AGENTC_ADD_SMARTCARD_KEY,
				 marker_lib(), "")),
	    SSH_AGENT_FAILURE);
	ck_assert_int_eq(access(marker_file, F_OK), 0);
	close(local);
	close(fd);
	ks_key_free(host);
}
END_TEST

/* -------------------------------------------- unknown and malformed */

START_TEST(test_unknown_types_get_failure_and_the_client_stays)
{
	static const uint8_t types[] = { 0, SSH_AGENTC_REQUEST_RSA_IDENTITIES,
		SSH_AGENTC_RSA_CHALLENGE, SSH_AGENTC_ADD_RSA_IDENTITY,
		SSH_AGENTC_ADD_RSA_ID_CONSTRAINED, SSH_AGENT_SUCCESS, 100,
		255 };
	size_t i;
	int fd = kit_connect(k);

	for (i = 0; i < sizeof(types); i++)
		ck_assert_int_eq(call_code(fd, kit_msg(types[i])),
		    SSH_AGENT_FAILURE);
	ck_assert_uint_eq(kit_count_ids(k, fd), 0);
	close(fd);
}
END_TEST

START_TEST(test_malformed_requests_get_failure_and_change_nothing)
{
	struct ks_key *ed = kit_key(0);
	struct kbuf *m;
	const uint8_t *blob;
	size_t blen;
	int fd = kit_connect(k);

	kit_add(k, fd, ed, "ed", NULL);
	blob = ks_key_blob(ed, &blen);
	/* Sign: trailing byte; no flags. */
	m = kit_sign_msg(ed, data, DLEN, 0);
	ck_assert_int_eq(kbuf_put_u8(m, 0), 0);
	ck_assert_int_eq(call_code(fd, m), SSH_AGENT_FAILURE);
	m = kit_msg(SSH_AGENTC_SIGN_REQUEST);
	ck_assert_int_eq(kbuf_put_string(m, blob, blen), 0);
	ck_assert_int_eq(kbuf_put_string(m, data, DLEN), 0);
	ck_assert_int_eq(call_code(fd, m), SSH_AGENT_FAILURE);
	/* Remove: trailing byte. */
	m = kit_msg(SSH_AGENTC_REMOVE_IDENTITY);
	ck_assert_int_eq(kbuf_put_string(m, blob, blen), 0);
	ck_assert_int_eq(kbuf_put_u8(m, 0), 0);
	ck_assert_int_eq(call_code(fd, m), SSH_AGENT_FAILURE);
	ck_assert_uint_eq(ks_table_count(k->agent.table), 1);
	/* Lock: empty password, a NUL inside, a length past the end. */
	ck_assert_int_eq(call_code(fd, kit_lock_msg(1, "")), SSH_AGENT_FAILURE);
	m = kit_msg(SSH_AGENTC_LOCK);
	ck_assert_int_eq(kbuf_put_string(m, "a\0b", 3), 0);
	ck_assert_int_eq(call_code(fd, m), SSH_AGENT_FAILURE);
	m = kit_msg(SSH_AGENTC_LOCK);
	ck_assert_int_eq(kbuf_put_u32(m, 100), 0);
	ck_assert_int_eq(call_code(fd, m), SSH_AGENT_FAILURE);
	ck_assert(!lock_is_locked(&k->agent));
	/* Extension without a name; session-bind with no body. */
	ck_assert_int_eq(call_code(fd, kit_msg(SSH_AGENTC_EXTENSION)),
	    SSH_AGENT_FAILURE);
	m = kit_msg(SSH_AGENTC_EXTENSION);
	ck_assert_int_eq(kbuf_put_cstring(m, AGENT_EXT_SESSION_BIND), 0);
	ck_assert_int_eq(call_code(fd, m), SSH_AGENT_FAILURE);
	/* Still served, key intact. */
	ck_assert_int_eq(kit_sign_check(k, fd, ed, data, DLEN, 0),
	    SSH_AGENT_SIGN_RESPONSE);
	close(fd);
	ks_key_free(ed);
}
END_TEST

START_TEST(test_add_identity_cut_at_every_length_is_refused)
{
	struct ks_key *ec = kit_key(KS_KEY_ECDSA_P256);
	struct kbuf *full = kit_add_msg(ec, "cut", NULL), *m;
	size_t len;
	int fd = kit_connect(k);

	/* Every proper prefix (type byte kept) is refused on the same
	 * connection, which goes on being served. */
	for (len = 1; len < kbuf_len(full); len++) {
		ck_assert_ptr_nonnull(m = kbuf_from(kbuf_ptr(full), len));
		ck_assert_int_eq(kit_call(k, fd, m, NULL), SSH_AGENT_FAILURE);
		kbuf_free(m);
	}
	ck_assert_uint_eq(ks_table_count(k->agent.table), 0);
	ck_assert_int_eq(kit_call(k, fd, full, NULL), SSH_AGENT_SUCCESS);
	ck_assert_int_eq(kit_sign_check(k, fd, ec, data, DLEN, 0),
	    SSH_AGENT_SIGN_RESPONSE);
	kbuf_free(full);
	close(fd);
	ks_key_free(ec);
}
END_TEST

/* Returns 1 if the agent closed fd's connection (EOF, no reply). */
static int
dropped(int fd)
{
	uint8_t t;

	ck_assert(kit_pump(k, fd, 1));
	return kit_reply(fd, &t, NULL) == KMES_ERR_CONNECTION_CLOSED;
}

START_TEST(test_bad_frame_lengths_drop_only_that_client)
{
	static const uint8_t zero[4] = { 0, 0, 0, 0 };
	static const uint8_t huge[4] = { 0x00, 0x04, 0x00, 0x01 };
	int bystander = kit_connect(k), fd;

	fd = kit_connect(k);
	kit_send_raw(fd, zero, sizeof(zero));
	ck_assert(dropped(fd));
	close(fd);
	/* 256 KiB + 1: refused from the length alone. */
	fd = kit_connect(k);
	kit_send_raw(fd, huge, sizeof(huge));
	ck_assert(dropped(fd));
	close(fd);
	ck_assert_uint_eq(kit_count_ids(k, bystander), 0);
	close(bystander);
}
END_TEST

START_TEST(test_client_leaving_mid_frame_is_freed_and_loop_serves_on)
{
	struct ks_key *ed = kit_key(0);
	struct kbuf *m = kit_sign_msg(ed, data, DLEN, 0), *out;
	int fd, other = kit_connect(k);

	kit_add(k, other, ed, "ed", NULL);
	ck_assert_ptr_nonnull(out = kbuf_new());
	ck_assert_int_eq(agent_msg_put_framed(out, m), 0);
	/* Half the length prefix, then gone. */
	fd = kit_connect(k);
	kit_send_raw(fd, kbuf_ptr(out), 2);
	ck_assert(kit_quiet(k, fd, 1));
	close(fd);
	ck_assert(kit_quiet(k, other, 1));
	/* The length and half the body, then gone. */
	fd = kit_connect(k);
	kit_send_raw(fd, kbuf_ptr(out), kbuf_len(out) / 2);
	ck_assert(kit_quiet(k, fd, 1));
	close(fd);
	ck_assert(kit_quiet(k, other, 1));
	ck_assert_int_eq(kit_sign_check(k, other, ed, data, DLEN, 0),
	    SSH_AGENT_SIGN_RESPONSE);
	kbuf_free(out);
	kbuf_free(m);
	close(other);
	ks_key_free(ed);
}
END_TEST

START_TEST(test_lock_applies_though_its_client_left_while_the_kdf_queued)
{
	struct kbuf *m = kit_lock_msg(1, "pw");
	int fd = kit_connect(k), other;

	kit_send(fd, m);
	kbuf_free(m);
	/* The loop reads it and queues the KDF; nothing runs it yet. */
	ck_assert(kit_quiet(k, fd, 0));
	ck_assert_uint_eq(workers_busy(k->agent.kdf_pool), 1);
	close(fd);
	kit_settle(k, 0);
	ck_assert_uint_eq(workers_busy(k->agent.kdf_pool), 1);
	/* The job runs with nobody waiting: the lock still takes (ssh-add
	 * -x must not half-work), no reply goes anywhere, nothing leaks. */
	ck_assert_uint_eq(workers_run_queued(k->agent.kdf_pool), 1);
	other = kit_connect(k);
	ck_assert(kit_quiet(k, other, 1));
	ck_assert(lock_is_locked(&k->agent));
	ck_assert_uint_eq(kit_count_ids(k, other), 0);
	close(other);
}
END_TEST

static Suite *
daemon_suite(void)
{
	Suite *s = suite_create("daemon");
	TCase *tc = tcase_create("messages");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_lists_each_added_key_with_its_comment);
	tcase_add_test(tc, test_signatures_of_added_keys_verify);
	tcase_add_test(tc, test_refuses_to_sign_with_a_key_not_held);
	tcase_add_test(tc, test_adding_a_key_again_replaces_its_comment);
	tcase_add_test(tc,
	    test_lifetime_constraint_wipes_the_key_when_it_expires);
	tcase_add_test(tc, test_default_lifetime_applies_to_unconstrained_adds);
	tcase_add_test(tc, test_refuses_unenforceable_constraints);
	tcase_add_test(tc,
	    test_destination_constrained_key_signs_only_for_its_host);
	tcase_add_test(tc, test_session_bind_needs_the_host_keys_signature);
	tcase_add_test(tc, test_extension_query_names_query_and_session_bind);
	tcase_add_test(tc, test_remove_forgets_only_the_named_key);
	tcase_add_test(tc, test_remove_all_forgets_every_added_key);
	tcase_add_test(tc, test_lock_hides_keys_and_refuses_all_until_unlocked);
	tcase_add_test(tc,
	    test_wrong_unlock_password_answered_only_after_the_hold);
	tcase_add_test(tc, test_unlock_while_unlocked_is_refused);
	tcase_add_test(tc,
	    test_smartcard_off_the_allow_list_is_refused_unloaded);
	tcase_add_test(tc,
	    test_smartcard_from_a_bound_connection_refused_before_parsing);
	tcase_add_test(tc, test_unknown_types_get_failure_and_the_client_stays);
	tcase_add_test(tc,
	    test_malformed_requests_get_failure_and_change_nothing);
	tcase_add_test(tc, test_add_identity_cut_at_every_length_is_refused);
	tcase_add_test(tc, test_bad_frame_lengths_drop_only_that_client);
	tcase_add_test(tc,
	    test_client_leaving_mid_frame_is_freed_and_loop_serves_on);
	tcase_add_test(tc,
	    test_lock_applies_though_its_client_left_while_the_kdf_queued);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return kit_main("test-daemon", daemon_suite());
}
