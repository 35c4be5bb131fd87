/*
 * crypto-p11.c: the raw signing primitives of the PKCS#11 module.
 *
 * A PKCS#11 application hands the token what OpenSSH's agent protocol never
 * does: an already built PKCS#1 DigestInfo (CKM_RSA_PKCS), a bare hash
 * (CKM_ECDSA, CKM_RSA_PKCS_PSS), and wants ECDSA signatures as r || s. So a
 * store key is rebuilt here as a "signer" from its agent wire form, which
 * ks_key_put_private writes into a locked kbuf. As in crypto-ossl.c (see
 * its header comment), RSA and EC private values go into BN_secure_new
 * BIGNUMs used in place by the low-level RSA and ECDSA calls, because
 * handing them to a provider would copy them into ordinary heap, and the
 * Ed25519 seed is imported and at once duplicated into the secure heap.
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* RSA_*, EC_KEY_*: see above */

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/rsa.h>

#include "crypto-int.h"
#include "crypto-ossl-methods.h"
#include "crypto-p11.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "secmem.h"

/* Room for the largest private key in wire form (RSA 16384: ~5 KiB). */
#define SIGNER_WIRE_MAX (64 * 1024)

struct ks_p11_signer {
	enum ks_key_type type;
	size_t siglen;
	RSA *rsa;
	EC_KEY *ec;
	EVP_PKEY *ed;
};

struct ks_p11_hash_ctx {
	EVP_MD_CTX *md;
	size_t len;
};

static int
fail(int r)
{
	ERR_clear_error();
	return r;
}

static const char *
hash_name(enum ks_p11_hash h)
{
	switch (h) {
	case KS_P11_SHA1:
		return "SHA1";
	case KS_P11_SHA224:
		return "SHA224";
	case KS_P11_SHA256:
		return "SHA256";
	case KS_P11_SHA384:
		return "SHA384";
	case KS_P11_SHA512:
		return "SHA512";
	}
	return NULL;
}

size_t
ks_p11_hash_len(enum ks_p11_hash h)
{
	switch (h) {
	case KS_P11_SHA1:
		return 20;
	case KS_P11_SHA224:
		return 28;
	case KS_P11_SHA256:
		return 32;
	case KS_P11_SHA384:
		return 48;
	case KS_P11_SHA512:
		return 64;
	}
	return 0;
}

/* Returns a digest, or NULL; EVP_get_digestbyname needs no freeing. */
static const EVP_MD *
get_md(enum ks_p11_hash h)
{
	const char *name;

	if ((name = hash_name(h)) == NULL)
		return NULL;
	return EVP_get_digestbyname(name);
}

int
ks_p11_hash_new(enum ks_p11_hash h, struct ks_p11_hash_ctx **cp)
{
	struct ks_p11_hash_ctx *c = NULL;
	const EVP_MD *md;
	int r;

	*cp = NULL;
	if ((md = get_md(h)) == NULL)
		return KMES_ERR_INVALID_ARGUMENT;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return KMES_ERR_ALLOC;
	if ((c->md = EVP_MD_CTX_new()) == NULL) {
		r = fail(KMES_ERR_ALLOC);
		goto out;
	}
	if (EVP_DigestInit_ex(c->md, md, NULL) != 1) {
		r = fail(KMES_ERR_CRYPTO);
		goto out;
	}
	c->len = ks_p11_hash_len(h);
	*cp = c;
	c = NULL;
	r = 0;
out:
	ks_p11_hash_free(c);
	return r;
}

int
ks_p11_hash_update(struct ks_p11_hash_ctx *c, const void *p, size_t len)
{
	if (c == NULL || (p == NULL && len != 0))
		return KMES_ERR_INVALID_ARGUMENT;
	if (len != 0 && EVP_DigestUpdate(c->md, p, len) != 1)
		return fail(KMES_ERR_CRYPTO);
	return 0;
}

int
ks_p11_hash_final(struct ks_p11_hash_ctx *c, uint8_t *out, size_t outlen,
    size_t *lenp)
{
	unsigned int n = 0;

	*lenp = 0;
	if (c == NULL)
		return KMES_ERR_INVALID_ARGUMENT;
	if (outlen < c->len)
		return KMES_ERR_NO_BUFFER_SPACE;
	if (EVP_DigestFinal_ex(c->md, out, &n) != 1 || n != c->len)
		return fail(KMES_ERR_CRYPTO);
	*lenp = n;
	return 0;
}

void
ks_p11_hash_free(struct ks_p11_hash_ctx *c)
{
	if (c == NULL)
		return;
	EVP_MD_CTX_free(c->md);
	free(c);
}

void
ks_p11_signer_free(struct ks_p11_signer *s)
{
	if (s == NULL)
		return;
	RSA_free(s->rsa);   /* BN_clear_free on every secret value */
	EC_KEY_free(s->ec); /* and on the scalar */
	EVP_PKEY_free(s->ed);
	kmes_freezero(s, sizeof(*s));
}

/* Reads an mpint from the locked wire buffer into a secure BIGNUM. */
static int
get_secure_bn(struct kbuf *b, BIGNUM **bnp)
{
	const uint8_t *p;
	size_t len;
	BIGNUM *bn;
	int r;

	*bnp = NULL;
	if ((r = kbuf_get_mpint_direct(b, &p, &len)) != 0)
		return r;
	if (len == 0 || len > INT_MAX)
		return KMES_ERR_KEY_INVALID;
	if ((bn = BN_secure_new()) == NULL)
		return fail(KMES_ERR_ALLOC);
	if (BN_bin2bn(p, (int)len, bn) == NULL) {
		BN_clear_free(bn);
		return fail(KMES_ERR_ALLOC);
	}
	BN_set_flags(bn, BN_FLG_CONSTTIME);
	*bnp = bn;
	return 0;
}

/* "ssh-rsa" n e d iqmp p q, the key being already checked by keyblob.c. */
static int
signer_rsa(struct kbuf *b, struct ks_p11_signer *s)
{
	BIGNUM *n = NULL, *e = NULL, *d = NULL, *iqmp = NULL, *p = NULL;
	BIGNUM *q = NULL, *dmp1 = NULL, *dmq1 = NULL, *t;
	BN_CTX *ctx = NULL;
	int r;

	if ((r = get_secure_bn(b, &n)) != 0 ||
	    (r = get_secure_bn(b, &e)) != 0 ||
	    (r = get_secure_bn(b, &d)) != 0 ||
	    (r = get_secure_bn(b, &iqmp)) != 0 ||
	    (r = get_secure_bn(b, &p)) != 0 || (r = get_secure_bn(b, &q)) != 0)
		goto out;
	if ((ctx = BN_CTX_secure_new()) == NULL ||
	    (dmp1 = BN_secure_new()) == NULL ||
	    (dmq1 = BN_secure_new()) == NULL) {
		r = fail(KMES_ERR_ALLOC);
		goto out;
	}
	BN_CTX_start(ctx);
	if ((t = BN_CTX_get(ctx)) == NULL || !BN_sub(t, p, BN_value_one()) ||
	    !BN_mod(dmp1, d, t, ctx) || !BN_sub(t, q, BN_value_one()) ||
	    !BN_mod(dmq1, d, t, ctx)) {
		BN_CTX_end(ctx);
		r = fail(KMES_ERR_CRYPTO);
		goto out;
	}
	BN_CTX_end(ctx);
	if ((s->rsa = ks_ossl_rsa_new()) == NULL) {
		r = fail(KMES_ERR_ALLOC);
		goto out;
	}
	if (RSA_set0_key(s->rsa, n, e, d) != 1) {
		r = fail(KMES_ERR_CRYPTO);
		goto out;
	}
	n = e = d = NULL;
	if (RSA_set0_factors(s->rsa, p, q) != 1) {
		r = fail(KMES_ERR_CRYPTO);
		goto out;
	}
	p = q = NULL;
	if (RSA_set0_crt_params(s->rsa, dmp1, dmq1, iqmp) != 1) {
		r = fail(KMES_ERR_CRYPTO);
		goto out;
	}
	dmp1 = dmq1 = iqmp = NULL;
	/* Cached Montgomery contexts would keep p and q in ordinary heap. */
	RSA_clear_flags(s->rsa, RSA_FLAG_CACHE_PRIVATE);
	s->siglen = (size_t)RSA_size(s->rsa);
	r = 0;
out:
	BN_CTX_free(ctx);
	BN_clear_free(n);
	BN_clear_free(e);
	BN_clear_free(d);
	BN_clear_free(iqmp);
	BN_clear_free(p);
	BN_clear_free(q);
	BN_clear_free(dmp1);
	BN_clear_free(dmq1);
	return r;
}

/* "ecdsa-sha2-*" curve Q d. */
static int
signer_ecdsa(struct kbuf *b, struct ks_p11_signer *s)
{
	const uint8_t *q;
	size_t qlen;
	BIGNUM *d = NULL;
	int nid, r;

	switch (s->type) {
	case KS_KEY_ECDSA_P256:
		nid = NID_X9_62_prime256v1;
		break;
	case KS_KEY_ECDSA_P384:
		nid = NID_secp384r1;
		break;
	default:
		nid = NID_secp521r1;
		break;
	}
	if ((r = kbuf_get_string_direct(b, NULL, NULL)) != 0 ||
	    (r = kbuf_get_string_direct(b, &q, &qlen)) != 0 ||
	    (r = get_secure_bn(b, &d)) != 0)
		goto out;
	if ((s->ec = ks_ossl_ec_key_new(nid)) == NULL) {
		r = fail(KMES_ERR_ALLOC);
		goto out;
	}
	/* EC_KEY_set_private_key copies d into another secure BIGNUM. */
	if (EC_KEY_oct2key(s->ec, q, qlen, NULL) != 1 ||
	    EC_KEY_set_private_key(s->ec, d) != 1) {
		r = fail(KMES_ERR_KEY_INVALID);
		goto out;
	}
	s->siglen = 2 *
	    (size_t)((EC_GROUP_order_bits(EC_KEY_get0_group(s->ec)) + 7) / 8);
	r = 0;
out:
	BN_clear_free(d);
	return r;
}

/* "ssh-ed25519" pk (seed || pk). */
static int
signer_ed25519(struct kbuf *b, struct ks_p11_signer *s)
{
	const uint8_t *pk, *sk;
	size_t pklen, sklen;
	EVP_PKEY *import = NULL;
	int r;

	if ((r = kbuf_get_string_direct(b, &pk, &pklen)) != 0 ||
	    (r = kbuf_get_string_direct(b, &sk, &sklen)) != 0)
		return r;
	if (pklen != KS_ED25519_PK_LEN || sklen != KS_ED25519_SK_LEN)
		return KMES_ERR_KEY_INVALID;
	/* The import keeps the seed in ordinary heap; its dup does not. */
	import = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, sk,
	    KS_ED25519_SEED_LEN);
	if (import == NULL || (s->ed = EVP_PKEY_dup(import)) == NULL)
		r = fail(KMES_ERR_CRYPTO);
	else {
		s->siglen = KS_ED25519_SIG_LEN;
		r = 0;
	}
	EVP_PKEY_free(import); /* wipes the ordinary-heap seed */
	return r;
}

int
ks_p11_signer_new(const struct ks_key *k, struct ks_p11_signer **sp)
{
	struct ks_p11_signer *s = NULL;
	struct kbuf *b = NULL;
	int r;

	*sp = NULL;
	if (!ks_key_has_private(k) || ks_key_is_cert(k))
		return KMES_ERR_INVALID_ARGUMENT;
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (b = kbuf_new_secure(SIGNER_WIRE_MAX)) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	s->type = ks_key_type(k);
	if ((r = ks_key_put_private(k, b)) != 0 ||
	    (r = kbuf_get_string_direct(b, NULL, NULL)) != 0)
		goto out;
	switch (s->type) {
	case KS_KEY_RSA:
		r = signer_rsa(b, s);
		break;
	case KS_KEY_ED25519:
		r = signer_ed25519(b, s);
		break;
	case KS_KEY_ECDSA_P256:
	case KS_KEY_ECDSA_P384:
	case KS_KEY_ECDSA_P521:
		r = signer_ecdsa(b, s);
		break;
	default:
		r = KMES_ERR_KEY_UNSUPPORTED;
		break;
	}
	if (r != 0)
		goto out;
	if (kbuf_len(b) != 0) {
		r = KMES_ERR_INVALID_FORMAT;
		goto out;
	}
	*sp = s;
	s = NULL;
out:
	kbuf_free(b);
	ks_p11_signer_free(s);
	return r;
}

size_t
ks_p11_sig_len(const struct ks_p11_signer *s)
{
	return s->siglen;
}

int
ks_p11_sign_rsa_pkcs1(const struct ks_p11_signer *s, const uint8_t *in,
    size_t len, uint8_t *sig, size_t siglen)
{
	int n;

	if (s->rsa == NULL || siglen != s->siglen)
		return KMES_ERR_INVALID_ARGUMENT;
	/* Type 1 padding needs 11 bytes: PKCS#11 calls that a bad length. */
	if (len + 11 > s->siglen)
		return KMES_ERR_MESSAGE_TOO_LARGE;
	n = RSA_private_encrypt((int)len, in, sig, s->rsa, RSA_PKCS1_PADDING);
	if (n < 0 || (size_t)n != siglen)
		return fail(KMES_ERR_CRYPTO);
	return 0;
}

int
ks_p11_sign_rsa_pss(const struct ks_p11_signer *s, enum ks_p11_hash hash,
    enum ks_p11_hash mgf1, size_t saltlen, const uint8_t *dg, size_t dglen,
    uint8_t *sig, size_t siglen)
{
	const EVP_MD *md, *mgf;
	uint8_t *em = NULL;
	int n, r;

	if (s->rsa == NULL || siglen != s->siglen)
		return KMES_ERR_INVALID_ARGUMENT;
	if ((md = get_md(hash)) == NULL || (mgf = get_md(mgf1)) == NULL ||
	    dglen != ks_p11_hash_len(hash) || saltlen > (size_t)INT_MAX)
		return KMES_ERR_INVALID_ARGUMENT;
	/* The encoded message is public (it is what the signature opens to). */
	if ((em = calloc(1, s->siglen)) == NULL)
		return KMES_ERR_ALLOC;
	if (RSA_padding_add_PKCS1_PSS_mgf1(s->rsa, em, dg, md, mgf,
		(int)saltlen) != 1) {
		r = fail(KMES_ERR_INVALID_ARGUMENT);
		goto out;
	}
	n = RSA_private_encrypt((int)s->siglen, em, sig, s->rsa,
	    RSA_NO_PADDING);
	if (n < 0 || (size_t)n != siglen) {
		r = fail(KMES_ERR_CRYPTO);
		goto out;
	}
	r = 0;
out:
	free(em);
	return r;
}

int
ks_p11_sign_ecdsa(const struct ks_p11_signer *s, const uint8_t *dg,
    size_t dglen, uint8_t *sig, size_t siglen)
{
	ECDSA_SIG *es = NULL;
	const BIGNUM *sr, *ss;
	size_t half = siglen / 2;
	int r;

	if (s->ec == NULL || siglen != s->siglen || dglen > INT_MAX)
		return KMES_ERR_INVALID_ARGUMENT;
	if ((es = ECDSA_do_sign(dg, (int)dglen, s->ec)) == NULL)
		return fail(KMES_ERR_CRYPTO);
	ECDSA_SIG_get0(es, &sr, &ss);
	/* PKCS#11 wants r || s, each left-padded to the order's size. */
	if (BN_bn2binpad(sr, sig, (int)half) != (int)half ||
	    BN_bn2binpad(ss, sig + half, (int)half) != (int)half) {
		r = fail(KMES_ERR_CRYPTO);
		goto out;
	}
	r = 0;
out:
	ECDSA_SIG_free(es);
	return r;
}

int
ks_p11_sign_ed25519(const struct ks_p11_signer *s, const uint8_t *msg,
    size_t len, uint8_t *sig, size_t siglen)
{
	EVP_MD_CTX *ctx = NULL;
	size_t n = siglen;
	int r;

	if (s->ed == NULL || siglen != KS_ED25519_SIG_LEN)
		return KMES_ERR_INVALID_ARGUMENT;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return fail(KMES_ERR_ALLOC);
	if (EVP_DigestSignInit_ex(ctx, NULL, NULL, NULL, NULL, s->ed, NULL) !=
		1 ||
	    EVP_DigestSign(ctx, sig, &n, msg, len) != 1 ||
	    n != KS_ED25519_SIG_LEN) {
		r = fail(KMES_ERR_CRYPTO);
		goto out;
	}
	r = 0;
out:
	EVP_MD_CTX_free(ctx);
	return r;
}

/*
 * Verifiers: the public half only, rebuilt from the SSH public key blob
 * the store keeps in the clear. Nothing here is secret, so ordinary
 * BIGNUMs and heap serve.
 */

static int
name_is(const uint8_t *p, size_t len, const char *s)
{
	return len == strlen(s) && memcmp(p, s, len) == 0;
}

static int
verifier_rsa(struct kbuf *b, struct ks_p11_signer *s)
{
	const uint8_t *ep, *np;
	size_t elen, nlen;
	BIGNUM *n = NULL, *e = NULL;
	int r;

	if ((r = kbuf_get_mpint_direct(b, &ep, &elen)) != 0 ||
	    (r = kbuf_get_mpint_direct(b, &np, &nlen)) != 0)
		return r;
	if (elen == 0 || nlen == 0 || elen > INT_MAX || nlen > INT_MAX)
		return KMES_ERR_KEY_INVALID;
	if ((n = BN_bin2bn(np, (int)nlen, NULL)) == NULL ||
	    (e = BN_bin2bn(ep, (int)elen, NULL)) == NULL ||
	    (s->rsa = ks_ossl_rsa_new()) == NULL) {
		r = fail(KMES_ERR_ALLOC);
		goto out;
	}
	/* A tiny modulus would make "siglen - 11" wrap for CKM_RSA_PKCS. */
	if (BN_num_bits(n) < KS_RSA_MIN_BITS ||
	    BN_num_bits(n) > KS_RSA_MAX_BITS) {
		r = KMES_ERR_KEY_UNSUPPORTED;
		goto out;
	}
	if (RSA_set0_key(s->rsa, n, e, NULL) != 1) {
		r = fail(KMES_ERR_KEY_INVALID);
		goto out;
	}
	n = e = NULL;
	s->siglen = (size_t)RSA_size(s->rsa);
	r = 0;
out:
	BN_free(n);
	BN_free(e);
	return r;
}

static int
verifier_ecdsa(struct kbuf *b, struct ks_p11_signer *s, int nid)
{
	const uint8_t *q;
	size_t qlen;
	int r;

	if ((r = kbuf_get_string_direct(b, NULL, NULL)) != 0 ||
	    (r = kbuf_get_string_direct(b, &q, &qlen)) != 0)
		return r;
	if ((s->ec = ks_ossl_ec_key_new(nid)) == NULL)
		return fail(KMES_ERR_ALLOC);
	/* oct2key checks that the point is on the curve. */
	if (EC_KEY_oct2key(s->ec, q, qlen, NULL) != 1)
		return fail(KMES_ERR_KEY_INVALID);
	s->siglen = 2 *
	    (size_t)((EC_GROUP_order_bits(EC_KEY_get0_group(s->ec)) + 7) / 8);
	return 0;
}

static int
verifier_ed25519(struct kbuf *b, struct ks_p11_signer *s)
{
	const uint8_t *pk;
	size_t pklen;
	int r;

	if ((r = kbuf_get_string_direct(b, &pk, &pklen)) != 0)
		return r;
	if (pklen != KS_ED25519_PK_LEN)
		return KMES_ERR_KEY_INVALID;
	if ((s->ed = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, pk,
		 pklen)) == NULL)
		return fail(KMES_ERR_KEY_INVALID);
	s->siglen = KS_ED25519_SIG_LEN;
	return 0;
}

int
ks_p11_verifier_new(const uint8_t *blob, size_t len, struct ks_p11_signer **sp)
{
	struct ks_p11_signer *s = NULL;
	struct kbuf *b = NULL;
	const uint8_t *tn;
	size_t tnlen;
	int r;

	*sp = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (b = kbuf_from(blob, len)) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	if ((r = kbuf_get_string_direct(b, &tn, &tnlen)) != 0)
		goto out;
	if (name_is(tn, tnlen, "ssh-rsa")) {
		s->type = KS_KEY_RSA;
		r = verifier_rsa(b, s);
	} else if (name_is(tn, tnlen, "ssh-ed25519")) {
		s->type = KS_KEY_ED25519;
		r = verifier_ed25519(b, s);
	} else if (name_is(tn, tnlen, "ecdsa-sha2-nistp256")) {
		s->type = KS_KEY_ECDSA_P256;
		r = verifier_ecdsa(b, s, NID_X9_62_prime256v1);
	} else if (name_is(tn, tnlen, "ecdsa-sha2-nistp384")) {
		s->type = KS_KEY_ECDSA_P384;
		r = verifier_ecdsa(b, s, NID_secp384r1);
	} else if (name_is(tn, tnlen, "ecdsa-sha2-nistp521")) {
		s->type = KS_KEY_ECDSA_P521;
		r = verifier_ecdsa(b, s, NID_secp521r1);
	} else
		r = KMES_ERR_KEY_UNSUPPORTED;
	if (r != 0)
		goto out;
	if (kbuf_len(b) != 0) {
		r = KMES_ERR_INVALID_FORMAT;
		goto out;
	}
	*sp = s;
	s = NULL;
out:
	kbuf_free(b);
	ks_p11_signer_free(s);
	return r;
}

int
ks_p11_verify_rsa_pkcs1(const struct ks_p11_signer *s, const uint8_t *in,
    size_t len, const uint8_t *sig, size_t siglen)
{
	uint8_t *out = NULL;
	int n, r;

	if (s->rsa == NULL || siglen != s->siglen || siglen > INT_MAX)
		return KMES_ERR_INVALID_ARGUMENT;
	if (len + 11 > s->siglen)
		return KMES_ERR_MESSAGE_TOO_LARGE;
	if ((out = malloc(s->siglen)) == NULL)
		return KMES_ERR_ALLOC;
	/* A value over the modulus or bad padding is a bad signature too. */
	n = RSA_public_decrypt((int)siglen, sig, out, s->rsa,
	    RSA_PKCS1_PADDING);
	if (n < 0 || (size_t)n != len || memcmp(out, in, len) != 0)
		r = fail(KMES_ERR_SIGNATURE_INVALID);
	else
		r = 0;
	free(out);
	return r;
}

int
ks_p11_verify_rsa_pss(const struct ks_p11_signer *s, enum ks_p11_hash hash,
    enum ks_p11_hash mgf1, size_t saltlen, const uint8_t *dg, size_t dglen,
    const uint8_t *sig, size_t siglen)
{
	const EVP_MD *md, *mgf;
	uint8_t *em = NULL;
	int n, r;

	if (s->rsa == NULL || siglen != s->siglen || siglen > INT_MAX)
		return KMES_ERR_INVALID_ARGUMENT;
	if ((md = get_md(hash)) == NULL || (mgf = get_md(mgf1)) == NULL ||
	    dglen != ks_p11_hash_len(hash) || saltlen > (size_t)INT_MAX)
		return KMES_ERR_INVALID_ARGUMENT;
	if ((em = malloc(s->siglen)) == NULL)
		return KMES_ERR_ALLOC;
	n = RSA_public_decrypt((int)siglen, sig, em, s->rsa, RSA_NO_PADDING);
	if (n < 0 || (size_t)n != siglen ||
	    RSA_verify_PKCS1_PSS_mgf1(s->rsa, dg, md, mgf, em, (int)saltlen) !=
		1)
		r = fail(KMES_ERR_SIGNATURE_INVALID);
	else
		r = 0;
	free(em);
	return r;
}

int
ks_p11_verify_ecdsa(const struct ks_p11_signer *s, const uint8_t *dg,
    size_t dglen, const uint8_t *sig, size_t siglen)
{
	ECDSA_SIG *es = NULL;
	BIGNUM *br = NULL, *bs = NULL;
	size_t half = siglen / 2;
	int r;

	if (s->ec == NULL || siglen != s->siglen || dglen > INT_MAX)
		return KMES_ERR_INVALID_ARGUMENT;
	if ((br = BN_bin2bn(sig, (int)half, NULL)) == NULL ||
	    (bs = BN_bin2bn(sig + half, (int)half, NULL)) == NULL ||
	    (es = ECDSA_SIG_new()) == NULL) {
		r = fail(KMES_ERR_ALLOC);
		goto out;
	}
	if (ECDSA_SIG_set0(es, br, bs) != 1) {
		r = fail(KMES_ERR_CRYPTO);
		goto out;
	}
	br = bs = NULL;
	/* 0 and -1 (r or s out of range) are both a bad signature. */
	r = ECDSA_do_verify(dg, (int)dglen, es, s->ec) == 1 ?
	    0 :
	    fail(KMES_ERR_SIGNATURE_INVALID);
out:
	BN_free(br);
	BN_free(bs);
	ECDSA_SIG_free(es);
	return r;
}

int
ks_p11_verify_ed25519(const struct ks_p11_signer *s, const uint8_t *msg,
    size_t len, const uint8_t *sig, size_t siglen)
{
	EVP_MD_CTX *ctx = NULL;
	int r;

	if (s->ed == NULL || siglen != KS_ED25519_SIG_LEN)
		return KMES_ERR_INVALID_ARGUMENT;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return fail(KMES_ERR_ALLOC);
	if (EVP_DigestVerifyInit_ex(ctx, NULL, NULL, NULL, NULL, s->ed, NULL) !=
	    1) {
		r = fail(KMES_ERR_CRYPTO);
		goto out;
	}
	r = EVP_DigestVerify(ctx, sig, siglen, msg, len) == 1 ?
	    0 :
	    fail(KMES_ERR_SIGNATURE_INVALID);
out:
	EVP_MD_CTX_free(ctx);
	return r;
}
