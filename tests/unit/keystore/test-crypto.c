/*
 * test-crypto.c: keys made by the agent itself: generation, the private key
 * round trip of SSH_AGENTC_ADD_IDENTITY, signatures, the secure heap, and the
 * small helpers (fingerprints, key lines, random, password hash).
 */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto-int.h"
#include "crypto.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "test-util.h"

static const struct gen {
	enum ks_key_type type;
	unsigned int bits;
	const char *name;
	const char *short_name;
	size_t min_secure; /* secure-heap bytes the private half needs */
} gens[] = {
	{ KS_KEY_ED25519, 0, "ssh-ed25519", "ED25519", 32 },
	{ KS_KEY_ECDSA_P256, 256, "ecdsa-sha2-nistp256", "ECDSA", 32 },
	{ KS_KEY_ECDSA_P384, 384, "ecdsa-sha2-nistp384", "ECDSA", 48 },
	{ KS_KEY_ECDSA_P521, 521, "ecdsa-sha2-nistp521", "ECDSA", 66 },
	{ KS_KEY_RSA, 2048, "ssh-rsa", "RSA", 256 + 5 * 128 },
	{ KS_KEY_RSA, 3072, "ssh-rsa", "RSA", 384 + 5 * 192 },
};

#define NGEN (int)(sizeof(gens) / sizeof(gens[0]))

/* Generated once in main(): RSA generation is slow, above all in valgrind. */
static struct ks_key *keys[NGEN];

static const uint8_t msg[] = "the quick brown fox signs the lazy dog";

static struct kbuf *
put_private(const struct ks_key *k)
{
	struct kbuf *b = kbuf_new();

	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(ks_key_put_private(k, b), 0);
	return b;
}

static struct ks_key *
parse_private(const struct kbuf *b)
{
	struct kbuf *v = kbuf_from(kbuf_ptr(b), kbuf_len(b));
	struct ks_key *k = NULL;

	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(ks_key_parse_private(v, &k), 0);
	ck_assert_uint_eq(kbuf_len(v), 0);
	kbuf_free(v);
	return k;
}

static struct kbuf *
sign(const struct ks_key *k, const void *data, size_t len, uint32_t flags)
{
	struct kbuf *sig = kbuf_new();

	ck_assert_ptr_nonnull(sig);
	ck_assert_int_eq(ks_key_sign(k, data, len, flags, sig), 0);
	return sig;
}

/* Returns the algorithm name at the start of a signature blob. */
static char *
sig_alg(const struct kbuf *sig)
{
	struct kbuf *v = kbuf_from(kbuf_ptr(sig), kbuf_len(sig));
	char *alg = NULL;

	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(kbuf_get_cstring(v, &alg, NULL), 0);
	kbuf_free(v);
	return alg;
}

static int
verify(const struct ks_key *k, const struct kbuf *sig, const void *data,
    size_t len)
{
	return ks_key_verify(k, kbuf_ptr(sig), kbuf_len(sig), data, len);
}

START_TEST(test_generated_key_reports_type_name_and_bits)
{
	const struct ks_key *k = keys[_i];

	ck_assert_int_eq(ks_key_type(k), gens[_i].type);
	ck_assert_str_eq(ks_key_type_name(k), gens[_i].name);
	ck_assert_str_eq(ks_key_short_name(k), gens[_i].short_name);
	ck_assert_uint_eq(ks_key_bits(k),
	    gens[_i].bits == 0 ? 256 : gens[_i].bits);
	ck_assert_int_eq(ks_key_has_private(k), 1);
	ck_assert_int_eq(ks_key_is_cert(k), 0);
	ck_assert_uint_eq(ks_cert_type(k), 0);
	ck_assert_ptr_null(ks_cert_key_id(k));
}
END_TEST

START_TEST(test_private_round_trip_keeps_key_and_bytes)
{
	const struct ks_key *k = keys[_i];
	struct kbuf *enc, *enc2, *sig, *msgbuf;
	struct ks_key *k2, *pub;
	const uint8_t *b1, *b2;
	size_t l1, l2;

	enc = put_private(k);
	k2 = parse_private(enc);
	enc2 = put_private(k2);
	ck_assert(kbuf_equal(enc, enc2));
	b1 = ks_key_blob(k, &l1);
	b2 = ks_key_blob(k2, &l2);
	ck_assert_uint_eq(l1, l2);
	ck_assert_mem_eq(b1, b2, l1);
	ck_assert_int_eq(ks_key_equal_public(k, k2), 1);

	/* Each copy's signatures verify with the other, and with the blob. */
	ck_assert_int_eq(ks_key_from_blob(b1, l1, &pub), 0);
	ck_assert_int_eq(ks_key_has_private(pub), 0);
	sig = sign(k2, msg, sizeof(msg), KS_SIGN_RSA_SHA2_512);
	ck_assert_int_eq(verify(k, sig, msg, sizeof(msg)), 0);
	ck_assert_int_eq(verify(pub, sig, msg, sizeof(msg)), 0);
	kbuf_free(sig);
	sig = sign(k, msg, sizeof(msg), 0);
	ck_assert_int_eq(verify(k2, sig, msg, sizeof(msg)), 0);

	/* ADD_IDENTITY puts a comment after the key: it must stay unread. */
	msgbuf = kbuf_new();
	ck_assert_int_eq(kbuf_putb(msgbuf, enc), 0);
	ck_assert_int_eq(kbuf_put_cstring(msgbuf, "comment"), 0);
	ks_key_free(k2);
	ck_assert_int_eq(ks_key_parse_private(msgbuf, &k2), 0);
	ck_assert_uint_eq(kbuf_len(msgbuf), 4 + 7);

	kbuf_free(msgbuf);
	kbuf_free(sig);
	kbuf_free(enc);
	kbuf_free(enc2);
	ks_key_free(k2);
	ks_key_free(pub);
}
END_TEST

START_TEST(test_signature_binds_data_and_key)
{
	const struct ks_key *k = keys[_i];
	const struct ks_key *other = keys[(_i + 1) % NGEN];
	uint8_t altered[sizeof(msg)];
	struct kbuf *sig;
	uint8_t *bad;
	size_t i, len;

	sig = sign(k, msg, sizeof(msg), KS_SIGN_RSA_SHA2_256);
	ck_assert_int_eq(verify(k, sig, msg, sizeof(msg)), 0);
	memcpy(altered, msg, sizeof(msg));
	altered[3] ^= 1;
	ck_assert_int_ne(verify(k, sig, altered, sizeof(altered)), 0);
	ck_assert_int_ne(verify(k, sig, msg, sizeof(msg) - 1), 0);
	ck_assert_int_ne(verify(other, sig, msg, sizeof(msg)), 0);

	/* No single changed byte anywhere in the blob still verifies. */
	len = kbuf_len(sig);
	bad = malloc(len);
	ck_assert_ptr_nonnull(bad);
	for (i = 0; i < len; i++) {
		memcpy(bad, kbuf_ptr(sig), len);
		bad[i] ^= 0x01;
		ck_assert_int_ne(ks_key_verify(k, bad, len, msg, sizeof(msg)),
		    0);
	}
	/* Nor does any truncation, nor a trailing byte. */
	for (i = 0; i < len; i++)
		ck_assert_int_ne(ks_key_verify(k, kbuf_ptr(sig), i, msg,
				     sizeof(msg)),
		    0);
	ck_assert_int_eq(kbuf_put_u8(sig, 0), 0);
	ck_assert_int_ne(verify(k, sig, msg, sizeof(msg)), 0);
	free(bad);
	kbuf_free(sig);
}
END_TEST

START_TEST(test_rsa_flags_choose_ssh_rsa_sha256_sha512)
{
	static const struct {
		uint32_t flags;
		const char *alg;
	} cases[] = {
		{ 0, "ssh-rsa" },
		{ 0x01, "ssh-rsa" }, /* unknown bits are ignored */
		{ KS_SIGN_RSA_SHA2_256, "rsa-sha2-256" },
		{ KS_SIGN_RSA_SHA2_512, "rsa-sha2-512" },
		/* ssh-agent tests SHA2_256 first. */
		{ KS_SIGN_RSA_SHA2_256 | KS_SIGN_RSA_SHA2_512, "rsa-sha2-256" },
	};
	const struct ks_key *k = keys[4];
	struct kbuf *sig;
	size_t i, modlen = 2048 / 8;
	char *alg;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sig = sign(k, msg, sizeof(msg), cases[i].flags);
		alg = sig_alg(sig);
		ck_assert_str_eq(alg, cases[i].alg);
		/* string alg, string sig: the raw signature is modulus-sized. */
		ck_assert_uint_eq(kbuf_len(sig), 4 + strlen(alg) + 4 + modlen);
		ck_assert_int_eq(verify(k, sig, msg, sizeof(msg)), 0);
		free(alg);
		kbuf_free(sig);
	}
}
END_TEST

START_TEST(test_non_rsa_keys_ignore_rsa_flags)
{
	struct kbuf *sig;
	char *alg;
	int i;

	for (i = 0; i < 4; i++) {
		sig = sign(keys[i], msg, sizeof(msg),
		    KS_SIGN_RSA_SHA2_256 | KS_SIGN_RSA_SHA2_512);
		alg = sig_alg(sig);
		ck_assert_str_eq(alg, gens[i].name);
		ck_assert_int_eq(verify(keys[i], sig, msg, sizeof(msg)), 0);
		free(alg);
		kbuf_free(sig);
	}
}
END_TEST

/* Re-labels a signature blob with another algorithm name. */
static struct kbuf *
relabel(const struct kbuf *sig, const char *alg)
{
	struct kbuf *v = kbuf_from(kbuf_ptr(sig), kbuf_len(sig));
	struct kbuf *out = kbuf_new();
	const uint8_t *raw;
	size_t rawlen;

	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(kbuf_get_string_direct(v, NULL, NULL), 0);
	ck_assert_int_eq(kbuf_get_string_direct(v, &raw, &rawlen), 0);
	ck_assert_int_eq(kbuf_put_cstring(out, alg), 0);
	ck_assert_int_eq(kbuf_put_string(out, raw, rawlen), 0);
	kbuf_free(v);
	return out;
}

START_TEST(test_verify_refuses_mislabelled_signatures)
{
	struct kbuf *sig, *bad;

	/* RSA: the name picks the hash, so a swapped name must fail. */
	sig = sign(keys[4], msg, sizeof(msg), KS_SIGN_RSA_SHA2_256);
	bad = relabel(sig, "rsa-sha2-512");
	ck_assert_int_ne(verify(keys[4], bad, msg, sizeof(msg)), 0);
	kbuf_free(bad);
	bad = relabel(sig, "ssh-rsa");
	ck_assert_int_ne(verify(keys[4], bad, msg, sizeof(msg)), 0);
	kbuf_free(bad);
	bad = relabel(sig, "rsa-sha2-256-cert-v01@openssh.com");
	ck_assert_int_ne(verify(keys[4], bad, msg, sizeof(msg)), 0);
	kbuf_free(bad);
	kbuf_free(sig);

	/* Ed25519 and ECDSA accept only their own name. */
	sig = sign(keys[0], msg, sizeof(msg), 0);
	bad = relabel(sig, "ssh-ed25519-cert-v01@openssh.com");
	ck_assert_int_ne(verify(keys[0], bad, msg, sizeof(msg)), 0);
	kbuf_free(bad);
	kbuf_free(sig);
	sig = sign(keys[1], msg, sizeof(msg), 0);
	bad = relabel(sig, "ecdsa-sha2-nistp384");
	ck_assert_int_ne(verify(keys[1], bad, msg, sizeof(msg)), 0);
	kbuf_free(bad);
	kbuf_free(sig);
}
END_TEST

START_TEST(test_ecdsa_signature_refuses_trailing_inner_bytes)
{
	struct kbuf *sig, *v, *bad;
	const uint8_t *alg, *raw;
	size_t alen, rawlen;

	sig = sign(keys[1], msg, sizeof(msg), 0);
	v = kbuf_from(kbuf_ptr(sig), kbuf_len(sig));
	ck_assert_int_eq(kbuf_get_string_direct(v, &alg, &alen), 0);
	ck_assert_int_eq(kbuf_get_string_direct(v, &raw, &rawlen), 0);
	bad = kbuf_new();
	ck_assert_int_eq(kbuf_put_string(bad, alg, alen), 0);
	ck_assert_int_eq(kbuf_put_u32(bad, (uint32_t)rawlen + 1), 0);
	ck_assert_int_eq(kbuf_put(bad, raw, rawlen), 0);
	ck_assert_int_eq(kbuf_put_u8(bad, 0), 0);
	ck_assert_int_ne(verify(keys[1], bad, msg, sizeof(msg)), 0);
	kbuf_free(bad);
	kbuf_free(v);
	kbuf_free(sig);
}
END_TEST

START_TEST(test_rsa_signature_is_padded_and_short_one_verifies)
{
	struct ks_key *k = NULL;
	struct kbuf *sig = NULL, *v, *shortsig;
	const uint8_t *raw;
	uint32_t n;
	size_t rawlen;
	int found = 0;

	/* 1024 bits: a leading zero byte comes once in 256 signatures. */
	ck_assert_int_eq(ks_key_generate(KS_KEY_RSA, 1024, &k), 0);
	for (n = 0; n < 8192 && !found; n++) {
		kbuf_free(sig);
		sig = sign(k, &n, sizeof(n), KS_SIGN_RSA_SHA2_256);
		v = kbuf_from(kbuf_ptr(sig), kbuf_len(sig));
		ck_assert_int_eq(kbuf_get_string_direct(v, NULL, NULL), 0);
		ck_assert_int_eq(kbuf_get_string_direct(v, &raw, &rawlen), 0);
		ck_assert_uint_eq(rawlen, 128);
		kbuf_free(v);
		found = raw[0] == 0;
	}
	ck_assert_msg(found, "no signature with a leading zero byte");
	n--;
	/* OpenSSH accepts (and some signers send) the zero byte stripped. */
	shortsig = kbuf_new();
	ck_assert_int_eq(kbuf_put_cstring(shortsig, "rsa-sha2-256"), 0);
	ck_assert_int_eq(kbuf_put_string(shortsig, raw + 1, rawlen - 1), 0);
	ck_assert_int_eq(verify(k, shortsig, &n, sizeof(n)), 0);
	kbuf_reset(shortsig);
	/* One byte longer than the modulus is refused. */
	ck_assert_int_eq(kbuf_put_cstring(shortsig, "rsa-sha2-256"), 0);
	ck_assert_int_eq(kbuf_put_u32(shortsig, (uint32_t)rawlen + 1), 0);
	ck_assert_int_eq(kbuf_put_u8(shortsig, 0), 0);
	ck_assert_int_eq(kbuf_put(shortsig, raw, rawlen), 0);
	ck_assert_int_ne(verify(k, shortsig, &n, sizeof(n)), 0);
	kbuf_free(shortsig);
	kbuf_free(sig);
	ks_key_free(k);
}
END_TEST

START_TEST(test_public_only_key_refuses_to_sign_or_export)
{
	const uint8_t *blob;
	struct ks_key *pub;
	struct kbuf *b = kbuf_new();
	size_t len;

	blob = ks_key_blob(keys[_i], &len);
	ck_assert_int_eq(ks_key_from_blob(blob, len, &pub), 0);
	ck_assert_int_eq(kbuf_put_u8(b, 0x55), 0);
	ck_assert_int_eq(ks_key_sign(pub, msg, sizeof(msg), 0, b),
	    KMES_ERR_INVALID_ARGUMENT);
	ck_assert_int_eq(ks_key_put_private(pub, b), KMES_ERR_INVALID_ARGUMENT);
	ck_assert_uint_eq(kbuf_len(b), 1);
	kbuf_free(b);
	ks_key_free(pub);
}
END_TEST

START_TEST(test_sign_appends_and_refuses_oversized_data)
{
	struct kbuf *b = kbuf_new();
	uint8_t *big;

	ck_assert_int_eq(kbuf_put_cstring(b, "prefix"), 0);
	ck_assert_int_eq(ks_key_sign(keys[0], msg, sizeof(msg), 0, b), 0);
	ck_assert_uint_eq(kbuf_len(b), 4 + 6 + 4 + 11 + 4 + 64);
	ck_assert_mem_eq(kbuf_ptr(b) + 4, "prefix", 6);
	big = calloc(1, 1024 * 1024 + 1);
	ck_assert_ptr_nonnull(big);
	kbuf_reset(b);
	ck_assert_int_eq(ks_key_sign(keys[0], big, 1024 * 1024 + 1, 0, b),
	    KMES_ERR_INVALID_ARGUMENT);
	ck_assert_uint_eq(kbuf_len(b), 0);
	ck_assert_int_eq(ks_key_sign(keys[0], big, 1024 * 1024, 0, b), 0);
	ck_assert_int_eq(ks_key_verify(keys[0], kbuf_ptr(b), kbuf_len(b), big,
			     1024 * 1024),
	    0);
	/* Empty data is a legal message. */
	kbuf_reset(b);
	ck_assert_int_eq(ks_key_sign(keys[1], NULL, 0, 0, b), 0);
	ck_assert_int_eq(ks_key_verify(keys[1], kbuf_ptr(b), kbuf_len(b), NULL,
			     0),
	    0);
	free(big);
	kbuf_free(b);
}
END_TEST

START_TEST(test_private_half_lives_in_secure_heap)
{
	struct kbuf *enc = put_private(keys[_i]), *sig;
	size_t base, loaded;
	struct ks_key *k;

	base = ks_crypto_secure_used();
	k = parse_private(enc);
	loaded = ks_crypto_secure_used();
	ck_assert_msg(loaded >= base + gens[_i].min_secure,
	    "secure heap grew by %zu, want >= %zu", loaded - base,
	    gens[_i].min_secure);
	/* Signing must not leave secrets (or leaks) in the secure heap. */
	sig = sign(k, msg, sizeof(msg), 0);
	ck_assert_uint_eq(ks_crypto_secure_used(), loaded);
	ks_key_free(k);
	ck_assert_uint_eq(ks_crypto_secure_used(), base);
	kbuf_free(sig);
	kbuf_free(enc);
}
END_TEST

START_TEST(test_generation_refuses_bad_arguments)
{
	struct ks_key *k = (struct ks_key *)1;

	ck_assert_int_eq(ks_key_generate(KS_KEY_RSA, 1023, &k),
	    KMES_ERR_INVALID_ARGUMENT);
	ck_assert_ptr_null(k);
	ck_assert_int_eq(ks_key_generate(KS_KEY_RSA, 16385, &k),
	    KMES_ERR_INVALID_ARGUMENT);
	ck_assert_int_eq(ks_key_generate(KS_KEY_UNKNOWN, 0, &k),
	    KMES_ERR_INVALID_ARGUMENT);
	ck_assert_int_eq(ks_key_generate((enum ks_key_type)99, 0, &k),
	    KMES_ERR_INVALID_ARGUMENT);
	ck_assert_ptr_null(k);
}
END_TEST

START_TEST(test_fingerprint_formats_and_buffer_limits)
{
	char fp[KS_FP_MAX], small[10];
	size_t i;

	ck_assert_int_eq(ks_key_fingerprint(keys[_i], KS_FP_SHA256, fp,
			     sizeof(fp)),
	    0);
	ck_assert_uint_eq(strlen(fp), 7 + 43);
	ck_assert_mem_eq(fp, "SHA256:", 7);
	ck_assert_ptr_null(strchr(fp, '='));
	ck_assert_int_eq(ks_key_fingerprint(keys[_i], KS_FP_MD5, fp,
			     sizeof(fp)),
	    0);
	ck_assert_uint_eq(strlen(fp), 4 + 47);
	for (i = 4; i < strlen(fp); i++) {
		if ((i - 4) % 3 == 2)
			ck_assert_int_eq(fp[i], ':');
		else
			ck_assert_ptr_nonnull(
			    strchr("0123456789abcdef", fp[i]));
	}
	ck_assert_int_eq(ks_key_fingerprint(keys[_i], KS_FP_SHA256, small,
			     sizeof(small)),
	    KMES_ERR_NO_BUFFER_SPACE);
	ck_assert_int_eq(ks_key_fingerprint(keys[_i], KS_FP_SHA256, fp, 50),
	    KMES_ERR_NO_BUFFER_SPACE);
	ck_assert_int_eq(ks_key_fingerprint(keys[_i], KS_FP_MD5, fp, 51),
	    KMES_ERR_NO_BUFFER_SPACE);
	ck_assert_int_eq(ks_key_fingerprint(keys[_i], (enum ks_fp_hash)7, fp,
			     sizeof(fp)),
	    KMES_ERR_INVALID_ARGUMENT);
}
END_TEST

START_TEST(test_openssh_line_round_trip_and_refusals)
{
	struct ks_key *k;
	char *line, *bad;
	size_t len;

	ck_assert_int_eq(ks_key_to_openssh_line(keys[_i], "me@host", &line), 0);
	ck_assert_int_eq(strncmp(line, gens[_i].name, strlen(gens[_i].name)),
	    0);
	len = strlen(line);
	ck_assert_str_eq(line + len - 8, " me@host");
	ck_assert_int_eq(ks_key_from_openssh_line(line, &k), 0);
	ck_assert_int_eq(ks_key_equal_public(k, keys[_i]), 1);
	ks_key_free(k);

	/* The type word must match the blob. */
	ck_assert_int_gt(asprintf(&bad, "ssh-dss%s",
			     line + strlen(gens[_i].name)),
	    0);
	ck_assert_int_ne(ks_key_from_openssh_line(bad, &k), 0);
	free(bad);
	/* Corrupt base64 and missing fields are refused. */
	bad = strdup(line);
	bad[strlen(gens[_i].name) + 5] = '!';
	ck_assert_int_ne(ks_key_from_openssh_line(bad, &k), 0);
	free(bad);
	ck_assert_int_ne(ks_key_from_openssh_line("", &k), 0);
	ck_assert_int_ne(ks_key_from_openssh_line("ssh-ed25519", &k), 0);
	ck_assert_ptr_null(k);
	free(line);

	ck_assert_int_eq(ks_key_to_openssh_line(keys[_i], NULL, &line), 0);
	ck_assert_ptr_null(strchr(line + strlen(gens[_i].name) + 1, ' '));
	ck_assert_int_eq(ks_key_from_openssh_line(line, &k), 0);
	ks_key_free(k);
	free(line);
}
END_TEST

START_TEST(test_random_fills_and_differs)
{
	uint8_t a[64], b[64], zero[64];

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	memset(zero, 0, sizeof(zero));
	ck_assert_int_eq(ks_random(a, sizeof(a)), 0);
	ck_assert_int_eq(ks_random(b, sizeof(b)), 0);
	ck_assert_int_ne(memcmp(a, b, sizeof(a)), 0);
	ck_assert_int_ne(memcmp(a, zero, sizeof(a)), 0);
	ck_assert_int_eq(ks_random(NULL, 0), 0);
}
END_TEST

START_TEST(test_pw_hash_is_scrypt_16k_8_1_and_input_sensitive)
{
	static const uint8_t salt[KS_PWHASH_SALT_LEN] = "0123456789abcdef";
	uint8_t h1[KS_PWHASH_LEN], h2[KS_PWHASH_LEN], want[KS_PWHASH_LEN];
	uint8_t salt2[KS_PWHASH_SALT_LEN];
	struct timespec t0, t1;
	char *out, *p;
	size_t i = 0;
	double ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(ks_pw_hash((const uint8_t *)"hunter2", 7, salt, h1),
	    0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	fprintf(stderr, "ks_pw_hash: %.1f ms\n", ms);

	/* Cross-check the cost parameters with OpenSSL's own scrypt. */
	out = tu_sh_output(
	    "openssl kdf -keylen 32 -kdfopt pass:hunter2 "
	    "-kdfopt salt:0123456789abcdef -kdfopt n:16384 -kdfopt r:8 "
	    "-kdfopt p:1 SCRYPT");
	ck_assert_ptr_nonnull(out);
	for (p = out; *p != '\0' && i < sizeof(want); p += 3)
		want[i++] = (uint8_t)strtoul((char[3]){ p[0], p[1], 0 }, NULL,
		    16);
	ck_assert_uint_eq(i, sizeof(want));
	ck_assert_mem_eq(h1, want, sizeof(want));
	free(out);

	ck_assert_int_eq(ks_pw_hash((const uint8_t *)"hunter2", 7, salt, h2),
	    0);
	ck_assert_mem_eq(h1, h2, sizeof(h1));
	ck_assert_int_eq(ks_pw_hash((const uint8_t *)"hunter3", 7, salt, h2),
	    0);
	ck_assert_int_ne(memcmp(h1, h2, sizeof(h1)), 0);
	memcpy(salt2, salt, sizeof(salt2));
	salt2[15] ^= 1;
	ck_assert_int_eq(ks_pw_hash((const uint8_t *)"hunter2", 7, salt2, h2),
	    0);
	ck_assert_int_ne(memcmp(h1, h2, sizeof(h1)), 0);
	ck_assert_int_eq(ks_pw_hash(NULL, 0, salt, h2), 0);
	ck_assert_int_ne(memcmp(h1, h2, sizeof(h1)), 0);
}
END_TEST

START_TEST(test_crypto_init_is_idempotent)
{
	int r = ks_crypto_init(0);

	ck_assert(r == 0 || r == KMES_ERR_SYSTEM);
	r = ks_crypto_init(1 << 20);
	ck_assert(r == 0 || r == KMES_ERR_SYSTEM);
}
END_TEST

START_TEST(test_distinct_keys_are_not_equal)
{
	int i, j;

	for (i = 0; i < NGEN; i++) {
		for (j = 0; j < NGEN; j++)
			ck_assert_int_eq(ks_key_equal_public(keys[i], keys[j]),
			    i == j);
	}
}
END_TEST

START_TEST(test_references_keep_key_alive)
{
	struct ks_key *k = ks_key_ref(keys[_i]);
	struct kbuf *sig;

	ck_assert_ptr_eq(k, keys[_i]);
	ks_key_free(k);
	sig = sign(keys[_i], msg, sizeof(msg), 0);
	ck_assert_int_eq(verify(keys[_i], sig, msg, sizeof(msg)), 0);
	kbuf_free(sig);
}
END_TEST

struct signer {
	const struct ks_key *k;
	int n;
	int bad;
};

static void *
sign_many(void *arg)
{
	struct signer *s = arg;
	struct kbuf *sig = kbuf_new();
	int i;

	for (i = 0; i < s->n && sig != NULL; i++) {
		kbuf_reset(sig);
		if (ks_key_sign(s->k, msg, sizeof(msg), KS_SIGN_RSA_SHA2_512,
			sig) != 0 ||
		    verify(s->k, sig, msg, sizeof(msg)) != 0)
			s->bad++;
	}
	kbuf_free(sig);
	return NULL;
}

START_TEST(test_concurrent_signers_share_one_key_safely)
{
	struct signer s[4];
	pthread_t t[4];
	int i;

	for (i = 0; i < 4; i++) {
		s[i].k = keys[_i];
		s[i].n = gens[_i].type == KS_KEY_RSA ? 8 : 64;
		s[i].bad = 0;
		ck_assert_int_eq(pthread_create(&t[i], NULL, sign_many, &s[i]),
		    0);
	}
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
		ck_assert_int_eq(s[i].bad, 0);
	}
}
END_TEST

static Suite *
crypto_suite(void)
{
	Suite *s = suite_create("crypto");
	TCase *tc;

	tc = tcase_create("generated keys");
	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, test_generated_key_reports_type_name_and_bits,
	    0, NGEN);
	tcase_add_loop_test(tc, test_private_round_trip_keeps_key_and_bytes, 0,
	    NGEN);
	tcase_add_loop_test(tc, test_signature_binds_data_and_key, 0, NGEN);
	tcase_add_loop_test(tc, test_public_only_key_refuses_to_sign_or_export,
	    0, NGEN);
	tcase_add_loop_test(tc, test_private_half_lives_in_secure_heap, 0,
	    NGEN);
	tcase_add_loop_test(tc, test_fingerprint_formats_and_buffer_limits, 0,
	    NGEN);
	tcase_add_loop_test(tc, test_openssh_line_round_trip_and_refusals, 0,
	    NGEN);
	tcase_add_loop_test(tc, test_references_keep_key_alive, 0, NGEN);
	tcase_add_loop_test(tc, test_concurrent_signers_share_one_key_safely, 0,
	    NGEN);
	tcase_add_test(tc, test_distinct_keys_are_not_equal);
	suite_add_tcase(s, tc);

	tc = tcase_create("signatures");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_rsa_flags_choose_ssh_rsa_sha256_sha512);
	tcase_add_test(tc, test_non_rsa_keys_ignore_rsa_flags);
	tcase_add_test(tc, test_verify_refuses_mislabelled_signatures);
	tcase_add_test(tc, test_ecdsa_signature_refuses_trailing_inner_bytes);
	tcase_add_test(tc, test_rsa_signature_is_padded_and_short_one_verifies);
	tcase_add_test(tc, test_sign_appends_and_refuses_oversized_data);
	suite_add_tcase(s, tc);

	tc = tcase_create("helpers");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_generation_refuses_bad_arguments);
	tcase_add_test(tc, test_random_fills_and_differs);
	tcase_add_test(tc, test_pw_hash_is_scrypt_16k_8_1_and_input_sensitive);
	tcase_add_test(tc, test_crypto_init_is_idempotent);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	int status, i, r;

	if (tu_setup("keystore") != 0 || tu_crypto_init() != 0)
		return 1;
	for (i = 0; i < NGEN; i++) {
		if ((r = ks_key_generate(gens[i].type, gens[i].bits,
			 &keys[i])) != 0) {
			fprintf(stderr, "generate %s: %s\n", gens[i].name,
			    kmes_err(r));
			return 1;
		}
	}
	status = run_suite(crypto_suite());
	for (i = 0; i < NGEN; i++)
		ks_key_free(keys[i]);
	tu_teardown();
	return status;
}
