/*
 * test-daemon-token.c: token signatures through the real loop and dispatch
 * (daemon-kit.h) and a real PKCS#11 helper (the built kmes-agent) on a
 * SoftHSM2 token made in the scratch directory, behind the fault shim
 * (tests/support/p11-shim.c). A signature the token makes verifies; one it
 * fails is FAILURE; one it never answers is FAILURE at --pkcs11-timeout on
 * the fake clock, not before, and the hung helper is replaced for the next
 * request.
 */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent-msg.h"
#include "crypto.h"
#include "daemon-kit.h"
#include "kbuf.h"
#include "keytable.h"
#include "kmes-err.h"
#include "log.h"
#include "prov.h"
#include "testutil.h"

#define SOFTHSM "/usr/lib/softhsm/libsofthsm2.so"
#define TOKEN_PIN "4321"
#define TIMEOUT_MS 3000

static const uint8_t data[] = "data to be signed";
#define DLEN (sizeof(data) - 1)

static struct kit *k;
static struct ks_key *tkey; /* the token key's public half */
static char ctl[600];

/* Replaces the shim's rules at once (rename), as softhsm.sh does. */
static void
shim_rules(const char *rules)
{
	char tmp[700];

	snprintf(tmp, sizeof(tmp), "%s.new", ctl);
	ck_assert_int_eq(tu_write("shim.ctl.new", rules, strlen(rules)), 0);
	ck_assert_int_eq(rename(tmp, ctl), 0);
}

/* The token's one identity in the agent's table. */
static struct ks_key *
token_key(void)
{
	struct ks_identity **ids = NULL;
	struct ks_key *key = NULL;
	size_t i, n = 0;

	ck_assert_int_eq(ks_table_snapshot(k->agent.table, k->now, &ids, &n),
	    0);
	for (i = 0; i < n; i++) {
		if (ks_identity_origin(ids[i]) == KS_ORIGIN_TOKEN) {
			ck_assert_ptr_null(key);
			key = ks_key_ref(ks_identity_key(ids[i]));
		}
	}
	ks_identity_list_free(ids, n);
	ck_assert_ptr_nonnull(key);
	return key;
}

static void
setup(void)
{
	char conf[600], shim[PATH_MAX], err[PROV_ERR_MAX];
	const char *shim_env = getenv("SHIM_MODULE");
	FILE *f;

	ck_assert_msg(shim_env != NULL && getenv("KMES_AGENT") != NULL,
	    "SHIM_MODULE and KMES_AGENT must be set (run by meson)");
	ck_assert_msg(access(SOFTHSM, R_OK) == 0, "SoftHSM2 is not installed");
	k = kit_new();
	k->agent.opt.pkcs11_timeout_ms = TIMEOUT_MS;
	/* A SoftHSM of our own: its tokens live in the scratch dir. */
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", tu_dir());
	ck_assert_ptr_nonnull(f = fopen(conf, "w"));
	fprintf(f,
	    "directories.tokendir = %s\nobjectstore.backend = file\n"
	    "log.level = ERROR\nslots.removable = false\n",
	    tu_dir());
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(setenv("SOFTHSM2_CONF", conf, 1), 0);
	ck_assert_int_eq(tu_sh_quiet("softhsm2-util --init-token --free "
				     "--label kit --pin " TOKEN_PIN
				     " --so-pin 87654321"),
	    0);
	ck_assert_int_eq(tu_sh_quiet(
			     "pkcs11-tool --module " SOFTHSM
			     " --token-label kit --login --pin " TOKEN_PIN
			     " --keypairgen "
			     "--key-type EC:prime256v1 --id 01 --label kitkey"),
	    0);
	snprintf(ctl, sizeof(ctl), "%s/shim.ctl", tu_dir());
	ck_assert_int_eq(setenv("KMES_SHIM_MODULE", SOFTHSM, 1), 0);
	ck_assert_int_eq(setenv("KMES_SHIM_CTL", ctl, 1), 0);
	shim_rules("");
	prov_set_helper_exe(getenv("KMES_AGENT"));
	ck_assert_ptr_nonnull(realpath(shim_env, shim));
	/* As kmes-agent --pkcs11 does before the loops run. */
	ck_assert_msg(prov_add(&k->agent, shim, NULL,
			  (const uint8_t *)TOKEN_PIN, strlen(TOKEN_PIN), NULL,
			  0, 0, 1, err, sizeof(err)) == 0,
	    "prov_add: %s", err);
	tkey = token_key();
}

static void
teardown(void)
{
	ks_key_free(tkey);
	tkey = NULL;
	kit_free(k);
	k = NULL;
}

START_TEST(test_token_signature_verifies)
{
	int fd = kit_connect(k);

	ck_assert_uint_eq(kit_count_ids(k, fd), 1);
	ck_assert_int_eq(kit_sign_check(k, fd, tkey, data, DLEN, 0),
	    SSH_AGENT_SIGN_RESPONSE);
	ck_assert_int_eq(kit_sign_check(k, fd, tkey, data, DLEN, 0),
	    SSH_AGENT_SIGN_RESPONSE);
	close(fd);
}
END_TEST

START_TEST(test_token_sign_error_is_failure_and_the_next_signs)
{
	int fd = kit_connect(k);

	shim_rules("C_Sign rv=CKR_DEVICE_ERROR once\n");
	ck_assert_int_eq(kit_sign_check(k, fd, tkey, data, DLEN, 0),
	    SSH_AGENT_FAILURE);
	ck_assert_int_eq(kit_sign_check(k, fd, tkey, data, DLEN, 0),
	    SSH_AGENT_SIGN_RESPONSE);
	close(fd);
}
END_TEST

START_TEST(test_slow_token_within_the_timeout_still_signs)
{
	struct kbuf *m = kit_sign_msg(tkey, data, DLEN, 0), *b;
	uint8_t t;
	int fd = kit_connect(k);

	/* Real time passes; the agent's clock does not reach the deadline. */
	shim_rules("C_Sign delay=200 once\n");
	ck_assert_ptr_nonnull(b = kbuf_new());
	kit_send(fd, m);
	ck_assert(kit_pump(k, fd, 1));
	ck_assert_int_eq(kit_reply(fd, &t, b), 0);
	ck_assert_int_eq(t, SSH_AGENT_SIGN_RESPONSE);
	kit_check_sig(b, tkey, data, DLEN);
	kbuf_free(b);
	kbuf_free(m);
	close(fd);
}
END_TEST

START_TEST(test_hung_token_fails_at_the_deadline_and_is_replaced)
{
	struct kbuf *m = kit_sign_msg(tkey, data, DLEN, 0);
	struct ks_key *plain = kit_key(0);
	uint8_t t;
	int fd = kit_connect(k), other = kit_connect(k);

	kit_add(k, other, plain, "plain", NULL);
	shim_rules("C_Sign hang\n");
	kit_send(fd, m);
	ck_assert(kit_quiet(k, fd, 1));
	kit_advance(k, TIMEOUT_MS - 1);
	ck_assert(kit_quiet(k, fd, 1));
	/* Other clients are served meanwhile. */
	ck_assert_int_eq(kit_sign_check(k, other, plain, data, DLEN, 0),
	    SSH_AGENT_SIGN_RESPONSE);
	kit_advance(k, 1);
	ck_assert(kit_pump(k, fd, 0));
	ck_assert_int_eq(kit_reply(fd, &t, NULL), 0);
	ck_assert_int_eq(t, SSH_AGENT_FAILURE);
	/* The module works again: the killed helper is restarted (on the
	 * wait pool) by the next request, which signs. */
	shim_rules("");
	ck_assert_int_eq(kit_sign_check(k, fd, tkey, data, DLEN, 0),
	    SSH_AGENT_SIGN_RESPONSE);
	kbuf_free(m);
	close(fd);
	close(other);
	ks_key_free(plain);
}
END_TEST

START_TEST(test_client_leaving_during_a_token_signature_gets_nothing)
{
	struct kbuf *m = kit_sign_msg(tkey, data, DLEN, 0);
	int fd = kit_connect(k), other;

	shim_rules("C_Sign delay=200\n");
	kit_send(fd, m);
	ck_assert(kit_quiet(k, fd, 1));
	close(fd);
	kit_settle(k, 1);
	/* The next signature is sent after the first and answered after it:
	 * while the kit waits for it, the first answer arrives, finds nobody
	 * and is dropped. */
	other = kit_connect(k);
	ck_assert_int_eq(kit_sign_check(k, other, tkey, data, DLEN, 0),
	    SSH_AGENT_SIGN_RESPONSE);
	shim_rules("");
	ck_assert_int_eq(kit_sign_check(k, other, tkey, data, DLEN, 0),
	    SSH_AGENT_SIGN_RESPONSE);
	kbuf_free(m);
	close(other);
}
END_TEST

static Suite *
token_suite(void)
{
	Suite *s = suite_create("daemon-token");
	TCase *tc = tcase_create("token");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_token_signature_verifies);
	tcase_add_test(tc, test_token_sign_error_is_failure_and_the_next_signs);
	tcase_add_test(tc, test_slow_token_within_the_timeout_still_signs);
	tcase_add_test(tc,
	    test_hung_token_fails_at_the_deadline_and_is_replaced);
	tcase_add_test(tc,
	    test_client_leaving_during_a_token_signature_gets_nothing);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return kit_main("test-daemon-token", token_suite());
}
