/*
 * test-bcrypt.c: bcrypt_pbkdf against the published OpenBSD regress
 * vectors (as carried by other implementations), and its argument checks.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "kmes-err.h"
#include "testutil.h"

struct kat {
	const char *pass;
	size_t passlen;
	const char *salt;
	size_t saltlen;
	unsigned int rounds;
	const char *hex;
};

/* From OpenBSD's regress/lib/libutil/bcrypt_pbkdf. */
static const char lorem[] =
    "Lorem ipsum dolor sit amet, consectetur adipisicing elit, "
    "sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. "
    "Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris "
    "nisi ut aliquip ex ea commodo consequat. "
    "Duis aute irure dolor in reprehenderit in voluptate velit esse "
    "cillum dolore eu fugiat nulla pariatur. Excepteur sint occaecat "
    "cupidatat non proident, sunt in culpa qui officia deserunt mollit "
    "anim id est laborum.";

static const struct kat kats[] = {
	{ "password", 8, "salt", 4, 4,
	    "5bbf0cc293587f1c3635555c27796598"
	    "d47e579071bf427e9d8fbe842aba34d9" },
	{ "password", 8, "\0", 1, 4, "c12b566235eee04c212598970a579a67" },
	{ "\0", 1, "salt", 4, 4, "6051be18c2f4f82cbf0efee5471b4bb9" },
	{ "password\0", 9, "salt\0", 5, 4,
	    "7410e44cf4fa07bfaac8a928b1727fac"
	    "001375e7bf7384370f48efd121743050" },
	{ "pass\0wor", 8, "sa\0l", 4, 4, "c2bffd9db38f6569efef4372f4de83c0" },
	{ "pass\0word", 9, "sa\0lt", 5, 4, "4ba4ac3925c0e8d7f0cdb6bb1684a56f" },
	{ "password", 8, "salt", 4, 8,
	    "e1367ec5151a33faac4cc1c144cd23fa15d5548493ecc99b9b5d9c0d"
	    "3b27bec76227ea66088b849b20ab7aa478010246e74bba51723fefa9"
	    "f9474d6508845e8d" },
	{ "password", 8, "salt", 4, 42, "833cf0dcf56db65608e8f0dc0ce882bd" },
	{ lorem, sizeof(lorem) - 1, "salis\0", 6, 8,
	    "10978b07253df57f71a162eb0e8ad30a" },
};

#define NKATS (sizeof(kats) / sizeof(kats[0]))

static void
unhex(const char *hex, uint8_t *out, size_t *lenp)
{
	size_t i, n = strlen(hex) / 2;
	unsigned int v;

	for (i = 0; i < n; i++) {
		ck_assert(sscanf(hex + 2 * i, "%2x", &v) == 1);
		out[i] = (uint8_t)v;
	}
	*lenp = n;
}

START_TEST(matches_openbsd_vectors)
{
	const struct kat *k = &kats[_i];
	uint8_t want[128], got[128];
	size_t n;

	unhex(k->hex, want, &n);
	memset(got, 0xaa, sizeof(got));
	ck_assert_int_eq(ks_bcrypt_pbkdf((const uint8_t *)k->pass, k->passlen,
			     (const uint8_t *)k->salt, k->saltlen, k->rounds,
			     got, n),
	    0);
	ck_assert_mem_eq(got, want, n);
	/* Nothing written past the requested length. */
	ck_assert_uint_eq(got[n], 0xaa);
}
END_TEST

START_TEST(refuses_bad_arguments)
{
	uint8_t key[KS_BCRYPT_KEY_MAX + 1];
	const uint8_t *p = (const uint8_t *)"pw", *s = (const uint8_t *)"salt";

	ck_assert_int_eq(ks_bcrypt_pbkdf(p, 0, s, 4, 4, key, 32),
	    KMES_ERR_INVALID_ARGUMENT);
	ck_assert_int_eq(ks_bcrypt_pbkdf(p, 2, s, 0, 4, key, 32),
	    KMES_ERR_INVALID_ARGUMENT);
	ck_assert_int_eq(ks_bcrypt_pbkdf(p, 2, s, 4, 0, key, 32),
	    KMES_ERR_INVALID_ARGUMENT);
	ck_assert_int_eq(ks_bcrypt_pbkdf(p, 2, s, 4, KS_BCRYPT_ROUNDS_MAX + 1,
			     key, 32),
	    KMES_ERR_INVALID_ARGUMENT);
	ck_assert_int_eq(ks_bcrypt_pbkdf(p, 2, s, 4, 4, key, 0),
	    KMES_ERR_INVALID_ARGUMENT);
	ck_assert_int_eq(ks_bcrypt_pbkdf(p, 2, s, 4, 4, key,
			     KS_BCRYPT_KEY_MAX + 1),
	    KMES_ERR_INVALID_ARGUMENT);
}
END_TEST

START_TEST(long_outputs_are_strided)
{
	/* 48 bytes (aes256-ctr key + IV) spans two bcrypt blocks. */
	uint8_t a[48], b[48];
	const uint8_t *p = (const uint8_t *)"pw", *s = (const uint8_t *)"salt";

	ck_assert_int_eq(ks_bcrypt_pbkdf(p, 2, s, 4, 2, a, sizeof(a)), 0);
	ck_assert_int_eq(ks_bcrypt_pbkdf(p, 2, s, 4, 2, b, sizeof(b)), 0);
	ck_assert_mem_eq(a, b, sizeof(a));
	/* A shorter output is not a prefix: bytes are interleaved. */
	ck_assert_int_eq(ks_bcrypt_pbkdf(p, 2, s, 4, 2, b, 16), 0);
	ck_assert(memcmp(a, b, 16) != 0);
}
END_TEST

START_TEST(knows_openssh_ciphers)
{
	static const char *const known[] = {
		"none",
		"aes128-ctr",
		"aes192-ctr",
		"aes256-ctr",
		"aes256-cbc",
		"aes256-gcm@openssh.com",
		"chacha20-poly1305@openssh.com",
	};
	const struct ks_kf_cipher *c;
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		ck_assert_ptr_nonnull(c = ks_kf_cipher_lookup(known[i]));
		ck_assert_str_eq(c->name, known[i]);
	}
	ck_assert_ptr_null(ks_kf_cipher_lookup("3des-cbc"));
	ck_assert_ptr_null(ks_kf_cipher_lookup(""));
	c = ks_kf_cipher_lookup("aes256-gcm@openssh.com");
	ck_assert_uint_eq(c->key_len + c->iv_len, 44);
	ck_assert_uint_eq(c->tag_len, 16);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("bcrypt");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, matches_openbsd_vectors, 0, (int)NKATS);
	tcase_add_test(tc, refuses_bad_arguments);
	tcase_add_test(tc, long_outputs_are_strided);
	tcase_add_test(tc, knows_openssh_ciphers);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
