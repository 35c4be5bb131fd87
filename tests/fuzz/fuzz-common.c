/*
 * fuzz-common.c: shared by the libFuzzer targets (see fuzz-common.h).
 *
 * Every target is linked with --wrap=kmes_secure_alloc and
 * --wrap=kmes_secure_free, so the calls the libraries make land here first
 * and are counted: those mappings come from mmap, where LeakSanitizer does
 * not look, and they are exactly where decrypted key bytes sit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "fuzz-common.h"
#include "kbuf.h"
#include "kmes-err.h"

/* Keys above this size are not test-signed: a 16384-bit RSA sign is slow. */
#define SIGN_BITS_MAX 4096

void *__real_kmes_secure_alloc(size_t len);
void __real_kmes_secure_free(void *p);
void *__wrap_kmes_secure_alloc(size_t len);
void __wrap_kmes_secure_free(void *p);

static long secure_live; /* kmes_secure_alloc blocks not freed */
static long secure_live_at_begin;
static size_t ossl_used_at_begin;
static int in_input;

void *
__wrap_kmes_secure_alloc(size_t len)
{
	void *p = __real_kmes_secure_alloc(len);

	if (p != NULL)
		secure_live++;
	return p;
}

void
__wrap_kmes_secure_free(void *p)
{
	if (p != NULL)
		secure_live--;
	__real_kmes_secure_free(p);
}

void
fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, what);
	abort();
}

/*
 * OpenSSL keeps a few secure-heap bytes for good once a private key is
 * first used (its private DRBG's state, 512 bytes): make that happen
 * before any input, so fuzz_end's secure heap balance is exact.
 */
static void
warm_up(void)
{
	static const uint8_t data[] = "warm-up";
	struct ks_key *k = NULL;
	struct kbuf *sig = NULL;

	FUZZ_CHECK(ks_key_generate(KS_KEY_ECDSA_P256, 0, &k) == 0);
	FUZZ_CHECK((sig = kbuf_new()) != NULL);
	FUZZ_CHECK(ks_key_sign(k, data, sizeof(data), 0, sig) == 0);
	kbuf_free(sig);
	ks_key_free(k);
}

void
fuzz_init_crypto(void)
{
	static int done;
	int r;

	if (done)
		return;
	/* KMES_ERR_SYSTEM: the heap exists but mlock failed; fine here. */
	r = ks_crypto_init(0);
	if (r != 0 && r != KMES_ERR_SYSTEM) {
		fprintf(stderr, "ks_crypto_init: %s\n", kmes_err(r));
		abort();
	}
	warm_up();
	done = 1;
}

void
fuzz_begin(void)
{
	FUZZ_CHECK(!in_input);
	in_input = 1;
	secure_live_at_begin = secure_live;
	ossl_used_at_begin = ks_crypto_secure_used();
}

void
fuzz_end(void)
{
	FUZZ_CHECK(in_input);
	in_input = 0;
	if (secure_live != secure_live_at_begin) {
		fprintf(stderr,
		    "leak: %ld kmes_secure_alloc block(s) not "
		    "freed\n",
		    secure_live - secure_live_at_begin);
		abort();
	}
	if (ks_crypto_secure_used() != ossl_used_at_begin) {
		fprintf(stderr,
		    "leak: OpenSSL secure heap use went from %zu "
		    "to %zu bytes\n",
		    ossl_used_at_begin, ks_crypto_secure_used());
		abort();
	}
}

/* Checks that a blob parses to a key with exactly the same blob. */
static void
check_blob_fixed_point(const struct ks_key *k, const uint8_t *blob, size_t len)
{
	struct ks_key *again = NULL;
	const uint8_t *b2;
	size_t b2len;

	FUZZ_CHECK(ks_key_from_blob(blob, len, &again) == 0);
	b2 = ks_key_blob(again, &b2len);
	FUZZ_CHECK(b2len == len && memcmp(b2, blob, len) == 0);
	FUZZ_CHECK(ks_key_equal_public(k, again));
	FUZZ_CHECK(!ks_key_has_private(again));
	ks_key_free(again);
}

static void
check_fingerprints(const struct ks_key *k, const struct ks_key *plain)
{
	char fp[KS_FP_MAX], fp2[KS_FP_MAX], small[8];

	FUZZ_CHECK(ks_key_fingerprint(k, KS_FP_SHA256, fp, sizeof(fp)) == 0);
	FUZZ_CHECK(strncmp(fp, "SHA256:", 7) == 0 && strlen(fp) == 7 + 43);
	/* A certificate's fingerprint is its key's. */
	FUZZ_CHECK(
	    ks_key_fingerprint(plain, KS_FP_SHA256, fp2, sizeof(fp2)) == 0);
	FUZZ_CHECK(strcmp(fp, fp2) == 0);
	FUZZ_CHECK(ks_key_fingerprint(k, KS_FP_MD5, fp, sizeof(fp)) == 0);
	FUZZ_CHECK(strncmp(fp, "MD5:", 4) == 0 && strlen(fp) == 4 + 47);
	/* Too small a buffer is refused, not overrun (ASan watches small). */
	FUZZ_CHECK(
	    ks_key_fingerprint(k, KS_FP_SHA256, small, sizeof(small)) != 0);
	FUZZ_CHECK(ks_key_fingerprint(k, KS_FP_MD5, small, sizeof(small)) != 0);
}

static void
check_line(const struct ks_key *k, const char *comment)
{
	struct ks_key *back = NULL;
	const uint8_t *blob, *b2;
	size_t blen, b2len, tlen = strlen(ks_key_type_name(k));
	char *line = NULL;

	FUZZ_CHECK(ks_key_to_openssh_line(k, comment, &line) == 0);
	FUZZ_CHECK(
	    strncmp(line, ks_key_type_name(k), tlen) == 0 && line[tlen] == ' ');
	FUZZ_CHECK(ks_key_from_openssh_line(line, &back) == 0);
	blob = ks_key_blob(k, &blen);
	b2 = ks_key_blob(back, &b2len);
	FUZZ_CHECK(b2len == blen && memcmp(b2, blob, blen) == 0);
	ks_key_free(back);
	free(line);
}

static void
check_cert(const struct ks_key *k)
{
	struct ks_key *ca = NULL;
	unsigned int type = ks_cert_type(k);
	int r;

	if (!ks_key_is_cert(k)) {
		FUZZ_CHECK(type == 0 && ks_cert_key_id(k) == NULL);
		FUZZ_CHECK(ks_cert_signature_key(k, &ca) ==
			KMES_ERR_INVALID_ARGUMENT &&
		    ca == NULL);
		FUZZ_CHECK(ks_cert_check_host(k, "host.example.org", 0) ==
		    KMES_ERR_INVALID_ARGUMENT);
		return;
	}
	FUZZ_CHECK(type == KS_CERT_USER || type == KS_CERT_HOST);
	FUZZ_CHECK(ks_cert_key_id(k) != NULL);
	FUZZ_CHECK(ks_cert_signature_key(k, &ca) == 0 && ca != NULL);
	FUZZ_CHECK(!ks_key_is_cert(ca) && !ks_key_has_private(ca));
	ks_key_free(ca);
	/* Principals are matched as patterns: run the matcher too. */
	r = ks_cert_check_host(k, "host.example.org", 1700000000);
	FUZZ_CHECK_CODE(r);
	FUZZ_CHECK(r != 0 || type == KS_CERT_HOST);
	r = ks_cert_check_host(k, "*", UINT64_MAX);
	FUZZ_CHECK_CODE(r);
	FUZZ_CHECK(r != 0 || type == KS_CERT_HOST);
}

void
fuzz_check_public_key(const struct ks_key *k, const uint8_t *orig,
    size_t orig_len)
{
	struct ks_key *plain = NULL;
	const uint8_t *blob, *pblob;
	size_t blen, plen;

	FUZZ_CHECK(ks_key_type(k) != KS_KEY_UNKNOWN);
	FUZZ_CHECK(ks_key_type_name(k) != NULL);
	FUZZ_CHECK(ks_key_short_name(k) != NULL);
	FUZZ_CHECK(ks_key_bits(k) != 0);
	blob = ks_key_blob(k, &blen);
	pblob = ks_key_plain_blob(k, &plen);
	FUZZ_CHECK(blob != NULL && blen != 0 && pblob != NULL && plen != 0);
	/* The CA signed the bytes it was given: a certificate keeps them. */
	if (ks_key_is_cert(k) && orig != NULL)
		FUZZ_CHECK(blen == orig_len && memcmp(blob, orig, blen) == 0);
	if (!ks_key_is_cert(k))
		FUZZ_CHECK(plen == blen && memcmp(pblob, blob, blen) == 0);
	check_blob_fixed_point(k, blob, blen);

	FUZZ_CHECK(ks_key_from_blob(pblob, plen, &plain) == 0);
	FUZZ_CHECK(!ks_key_is_cert(plain) && ks_key_equal_public(k, plain));
	FUZZ_CHECK(ks_key_type(plain) == ks_key_type(k));
	FUZZ_CHECK(ks_key_bits(plain) == ks_key_bits(k));
	check_blob_fixed_point(plain, pblob, plen);

	check_cert(k);
	check_fingerprints(k, plain);
	check_line(k, "fuzz comment");
	check_line(k, NULL);
	ks_key_free(plain);
}

void
fuzz_check_private_key(const struct ks_key *k)
{
	static const uint8_t data[] = "kmes fuzz: data to be signed";
	struct ks_key *back = NULL;
	struct kbuf *wire = NULL, *sig = NULL;
	const uint8_t *blob, *b2;
	size_t blen, b2len;
	uint32_t flags = 0;

	FUZZ_CHECK(ks_key_has_private(k));
	fuzz_check_public_key(k, NULL, 0);

	/* The agent wire form parses back to the same key, all consumed. */
	FUZZ_CHECK((wire = kbuf_new_secure(256 * 1024)) != NULL);
	FUZZ_CHECK(ks_key_put_private(k, wire) == 0);
	FUZZ_CHECK(ks_key_parse_private(wire, &back) == 0);
	FUZZ_CHECK(kbuf_len(wire) == 0);
	FUZZ_CHECK(ks_key_has_private(back) && ks_key_equal_public(k, back));
	blob = ks_key_blob(k, &blen);
	b2 = ks_key_blob(back, &b2len);
	FUZZ_CHECK(b2len == blen && memcmp(b2, blob, blen) == 0);
	ks_key_free(back);
	kbuf_free(wire);

	if (ks_key_bits(k) > SIGN_BITS_MAX)
		return;
	if (ks_key_type(k) == KS_KEY_RSA)
		flags = KS_SIGN_RSA_SHA2_256;
	FUZZ_CHECK((sig = kbuf_new()) != NULL);
	FUZZ_CHECK(ks_key_sign(k, data, sizeof(data), flags, sig) == 0);
	FUZZ_CHECK(ks_key_verify(k, kbuf_ptr(sig), kbuf_len(sig), data,
		       sizeof(data)) == 0);
	kbuf_free(sig);
}
