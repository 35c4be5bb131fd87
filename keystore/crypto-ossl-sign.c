/*
 * crypto-ossl-sign.c: signing and verifying with OpenSSL key objects:
 * Ed25519 through a provider key whose seed sits in the secure heap, RSA
 * and ECDSA through the low-level calls on their secure-heap values (see
 * crypto-ossl.c), every verification through the provider public key.
 * Signatures go out and come in as SSH signature blobs.
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* RSA_*, EC_KEY_*: see crypto-ossl.c */

#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/rsa.h>

#include "crypto-int.h"
#include "crypto-ossl-int.h"
#include "kbuf.h"
#include "kmes-err.h"

/* Refuses a hash the key type does not sign with. */
static int
check_hash(const struct ks_pkey *pk, enum ks_hash hash)
{
	const struct ks_curve *c;

	switch (pk->type) {
	case KS_KEY_ED25519:
		return hash == KS_HASH_NONE ? 0 : KMES_ERR_INVALID_ARGUMENT;
	case KS_KEY_RSA:
		return (hash == KS_HASH_SHA1 || hash == KS_HASH_SHA256 ||
			   hash == KS_HASH_SHA512) ?
		    0 :
		    KMES_ERR_INVALID_ARGUMENT;
	default:
		c = ks_ossl_curve_for(pk->type);
		return c != NULL && c->hash == hash ? 0 :
						      KMES_ERR_INVALID_ARGUMENT;
	}
}

static int
sign_ed25519(const struct ks_pkey *pk, const uint8_t *data, size_t dlen,
    struct kbuf *b)
{
	struct ks_pkey *mpk = (struct ks_pkey *)pk; /* the cache is mutable */
	EVP_MD_CTX *ctx = NULL;
	size_t slen = KS_ED25519_SIG_LEN;
	uint8_t *p;
	int r, cached = 0;

	if ((r = kbuf_put_u32(b, KS_ED25519_SIG_LEN)) != 0 ||
	    (r = kbuf_reserve(b, KS_ED25519_SIG_LEN, &p)) != 0)
		return r;
	if (pthread_mutex_trylock(&mpk->ctx_mtx) == 0) {
		cached = 1;
		ctx = mpk->ed_ctx;
	}
	if (ctx == NULL) {
		if ((ctx = EVP_MD_CTX_new()) == NULL) {
			r = ks_ossl_fail(KMES_ERR_ALLOC);
			goto out;
		}
		if (EVP_DigestSignInit_ex(ctx, NULL, NULL, NULL, NULL, pk->ed,
			NULL) != 1) {
			r = ks_ossl_fail(KMES_ERR_CRYPTO);
			goto out;
		}
	}
	/* One-shot EdDSA leaves the context ready for the next message. */
	if (EVP_DigestSign(ctx, p, &slen, data, dlen) != 1 ||
	    slen != KS_ED25519_SIG_LEN) {
		r = ks_ossl_fail(KMES_ERR_CRYPTO);
		goto out;
	}
	r = 0;
out:
	if (cached) {
		if (r == 0)
			mpk->ed_ctx = ctx;
		else if (ctx == mpk->ed_ctx)
			mpk->ed_ctx = NULL;
		if (r != 0)
			EVP_MD_CTX_free(ctx);
		pthread_mutex_unlock(&mpk->ctx_mtx);
	} else
		EVP_MD_CTX_free(ctx);
	return r;
}

static int
sign_ecdsa(const struct ks_pkey *pk, enum ks_hash hash, const uint8_t *data,
    size_t dlen, struct kbuf *b)
{
	uint8_t dg[KS_HASH_MAX_LEN];
	size_t dglen;
	ECDSA_SIG *sig = NULL;
	const BIGNUM *sr, *ss;
	int r;

	if ((r = ks_digest(hash, data, dlen, dg, sizeof(dg), &dglen)) != 0)
		return r;
	if ((sig = ECDSA_do_sign(dg, (int)dglen, pk->ec)) == NULL)
		return ks_ossl_fail(KMES_ERR_CRYPTO);
	ECDSA_SIG_get0(sig, &sr, &ss);
	if ((r = kbuf_put_u32(b,
		 (uint32_t)(ks_ossl_mpint_size(sr) +
		     ks_ossl_mpint_size(ss)))) != 0 ||
	    (r = ks_ossl_put_bn(b, sr)) != 0 ||
	    (r = ks_ossl_put_bn(b, ss)) != 0)
		goto out;
	r = 0;
out:
	ECDSA_SIG_free(sig);
	return r;
}

static int
sign_rsa(const struct ks_pkey *pk, enum ks_hash hash, const uint8_t *data,
    size_t dlen, struct kbuf *b)
{
	uint8_t dg[KS_HASH_MAX_LEN], *p;
	size_t dglen, modlen = (size_t)RSA_size(pk->rsa);
	unsigned int slen = 0;
	int nid, r;

	nid = hash == KS_HASH_SHA1 ? NID_sha1 :
	    hash == KS_HASH_SHA256 ? NID_sha256 :
				     NID_sha512;
	if ((r = ks_digest(hash, data, dlen, dg, sizeof(dg), &dglen)) != 0)
		return r;
	if ((r = kbuf_put_u32(b, (uint32_t)modlen)) != 0 ||
	    (r = kbuf_reserve(b, modlen, &p)) != 0)
		return r;
	if (RSA_sign(nid, dg, (unsigned int)dglen, p, &slen, pk->rsa) != 1 ||
	    slen > modlen)
		return ks_ossl_fail(KMES_ERR_CRYPTO);
	/* SSH wants exactly modulus-length signatures: pad on the left. */
	if (slen < modlen) {
		memmove(p + (modlen - slen), p, slen);
		memset(p, 0, modlen - slen);
	}
	return 0;
}

int
ks_pkey_sign(const struct ks_pkey *pk, enum ks_hash hash, const uint8_t *data,
    size_t dlen, struct kbuf *b)
{
	int r;

	if ((r = check_hash(pk, hash)) != 0)
		return r;
	switch (pk->type) {
	case KS_KEY_ED25519:
		if (pk->ed == NULL)
			return KMES_ERR_INVALID_ARGUMENT;
		return sign_ed25519(pk, data, dlen, b);
	case KS_KEY_RSA:
		if (pk->rsa == NULL)
			return KMES_ERR_INVALID_ARGUMENT;
		return sign_rsa(pk, hash, data, dlen, b);
	default:
		if (pk->ec == NULL)
			return KMES_ERR_INVALID_ARGUMENT;
		return sign_ecdsa(pk, hash, data, dlen, b);
	}
}

/* Converts an SSH ECDSA signature (mpint r, mpint s) to DER. */
static int
ecdsa_sig_der(const uint8_t *sig, size_t slen, unsigned char **derp,
    size_t *lenp)
{
	struct kbuf *b = NULL;
	const uint8_t *rp, *sp;
	size_t rlen, splen;
	BIGNUM *br = NULL, *bs = NULL;
	ECDSA_SIG *es = NULL;
	unsigned char *der = NULL;
	int len, r;

	*derp = NULL;
	*lenp = 0;
	if ((b = kbuf_from(sig, slen)) == NULL)
		return KMES_ERR_ALLOC;
	if ((r = kbuf_get_mpint_direct(b, &rp, &rlen)) != 0 ||
	    (r = kbuf_get_mpint_direct(b, &sp, &splen)) != 0)
		goto out;
	if (kbuf_len(b) != 0) {
		r = KMES_ERR_INVALID_FORMAT;
		goto out;
	}
	if ((br = BN_bin2bn(rp, (int)rlen, NULL)) == NULL ||
	    (bs = BN_bin2bn(sp, (int)splen, NULL)) == NULL ||
	    (es = ECDSA_SIG_new()) == NULL || ECDSA_SIG_set0(es, br, bs) != 1) {
		r = ks_ossl_fail(KMES_ERR_ALLOC);
		goto out;
	}
	br = bs = NULL;
	if ((len = i2d_ECDSA_SIG(es, &der)) <= 0) {
		r = ks_ossl_fail(KMES_ERR_CRYPTO);
		goto out;
	}
	*derp = der;
	*lenp = (size_t)len;
	der = NULL;
	r = 0;
out:
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	BN_free(br);
	BN_free(bs);
	kbuf_free(b);
	return r;
}

int
ks_pkey_verify(const struct ks_pkey *pk, enum ks_hash hash, const uint8_t *sig,
    size_t slen, const uint8_t *data, size_t dlen)
{
	EVP_MD_CTX *ctx = NULL;
	unsigned char *der = NULL;
	uint8_t padded[RSA_MOD_MAX];
	const uint8_t *vsig = sig;
	size_t vlen = slen, modlen;
	int r;

	if ((r = check_hash(pk, hash)) != 0)
		return r;
	switch (pk->type) {
	case KS_KEY_ED25519:
		if (slen != KS_ED25519_SIG_LEN)
			return KMES_ERR_SIGNATURE_INVALID;
		break;
	case KS_KEY_RSA:
		/* OpenSSH accepts a short signature and pads it; so do we. */
		modlen = (size_t)EVP_PKEY_get_size(pk->pub);
		if (slen == 0 || slen > modlen || modlen > sizeof(padded))
			return KMES_ERR_SIGNATURE_INVALID;
		if (slen < modlen) {
			memset(padded, 0, modlen - slen);
			memcpy(padded + (modlen - slen), sig, slen);
			vsig = padded;
			vlen = modlen;
		}
		break;
	default:
		if ((r = ecdsa_sig_der(sig, slen, &der, &vlen)) != 0)
			return r;
		vsig = der;
		break;
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		r = ks_ossl_fail(KMES_ERR_ALLOC);
		goto out;
	}
	if (EVP_DigestVerifyInit_ex(ctx, NULL, ks_ossl_md_name(hash), NULL,
		NULL, pk->pub, NULL) != 1) {
		r = ks_ossl_fail(KMES_ERR_CRYPTO);
		goto out;
	}
	if (EVP_DigestVerify(ctx, vsig, vlen, data, dlen) != 1) {
		r = ks_ossl_fail(KMES_ERR_SIGNATURE_INVALID);
		goto out;
	}
	r = 0;
out:
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	return r;
}
