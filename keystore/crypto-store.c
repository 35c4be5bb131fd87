/*
 * crypto-store.c: the primitives of the encrypted key store: scrypt for
 * PINs, AES-256-GCM for the wrapped data key and the sealed records, and
 * HMAC-SHA256 for key derivation and the whole-store MAC.
 *
 * OpenSSL contexts copy keys and passwords into their own allocations and
 * cleanse them when freed; every context is freed before we return, so no
 * copy outlives the call.
 */
#include <limits.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "crypto.h"
#include "kmes-err.h"

/* Drops OpenSSL's queued errors so they cannot surface in a later call. */
static int
ossl_fail(int r)
{
	ERR_clear_error();
	return r;
}

int
ks_kdf_scrypt(const uint8_t *pin, size_t pinlen, const uint8_t *salt,
    size_t saltlen, unsigned int log2_n, uint32_t r, uint32_t p, uint8_t *out,
    size_t outlen)
{
	static uint8_t empty;
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM params[7];
	uint64_t n, maxmem, vmem;
	int ret;

	if (out == NULL || outlen == 0)
		return KMES_ERR_INVALID_ARGUMENT;
	OPENSSL_cleanse(out, outlen);
	if ((pin == NULL && pinlen != 0) || salt == NULL || saltlen == 0 ||
	    log2_n < KS_SCRYPT_LOG2_N_MIN || log2_n > KS_SCRYPT_LOG2_N_MAX ||
	    r == 0 || r > KS_SCRYPT_R_MAX || p == 0 || p > KS_SCRYPT_P_MAX)
		return KMES_ERR_INVALID_ARGUMENT;
	n = (uint64_t)1 << log2_n;
	/*
	 * scrypt's V array is 128 * r * N bytes: the parameters come from a
	 * file someone else may have written, so bound what they cost.
	 */
	vmem = 128 * (uint64_t)r * (n + 2);
	if (vmem > KS_SCRYPT_MEM_MAX)
		return KMES_ERR_INVALID_ARGUMENT;
	/* OpenSSL refuses unless maxmem covers V and B with room to spare. */
	maxmem = vmem + 128 * (uint64_t)r * p + 64 * 1024;
	if ((kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL)) == NULL)
		return ossl_fail(KMES_ERR_CRYPTO);
	if ((kctx = EVP_KDF_CTX_new(kdf)) == NULL) {
		ret = ossl_fail(KMES_ERR_ALLOC);
		goto out;
	}
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
	    pinlen == 0 ? &empty : (uint8_t *)pin, pinlen);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
	    (uint8_t *)salt, saltlen);
	params[2] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n);
	params[3] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r);
	params[4] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p);
	params[5] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM,
	    &maxmem);
	params[6] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, outlen, params) != 1) {
		OPENSSL_cleanse(out, outlen);
		ret = ossl_fail(KMES_ERR_CRYPTO);
		goto out;
	}
	ret = 0;
out:
	EVP_KDF_CTX_free(kctx); /* cleanses its copy of the PIN */
	EVP_KDF_free(kdf);
	return ret;
}

/* Sets up ctx for AES-256-GCM with a 96-bit nonce and feeds it the AAD. */
static int
gcm_init(EVP_CIPHER_CTX *ctx, int enc, const uint8_t *key, const uint8_t *nonce,
    const uint8_t *aad, size_t aadlen)
{
	int outl;

	if (aadlen > INT_MAX || (aad == NULL && aadlen != 0))
		return KMES_ERR_INVALID_ARGUMENT;
	if (EVP_CipherInit_ex2(ctx, EVP_aes_256_gcm(), NULL, NULL, enc, NULL) !=
		1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, KS_AEAD_NONCE_LEN,
		NULL) != 1 ||
	    EVP_CipherInit_ex2(ctx, NULL, key, nonce, enc, NULL) != 1)
		return ossl_fail(KMES_ERR_CRYPTO);
	if (aadlen != 0 &&
	    EVP_CipherUpdate(ctx, NULL, &outl, aad, (int)aadlen) != 1)
		return ossl_fail(KMES_ERR_CRYPTO);
	return 0;
}

int
ks_aead_seal(const uint8_t key[KS_AEAD_KEY_LEN],
    const uint8_t nonce[KS_AEAD_NONCE_LEN], const uint8_t *aad, size_t aadlen,
    const uint8_t *pt, size_t len, uint8_t *ct, uint8_t tag[KS_AEAD_TAG_LEN])
{
	EVP_CIPHER_CTX *ctx = NULL;
	int outl, r;

	if (len > INT_MAX || (len != 0 && (pt == NULL || ct == NULL)))
		return KMES_ERR_INVALID_ARGUMENT;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		return ossl_fail(KMES_ERR_ALLOC);
	if ((r = gcm_init(ctx, 1, key, nonce, aad, aadlen)) != 0)
		goto out;
	if ((len != 0 &&
		(EVP_CipherUpdate(ctx, ct, &outl, pt, (int)len) != 1 ||
		    (size_t)outl != len)) ||
	    EVP_CipherFinal_ex(ctx, NULL, &outl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, KS_AEAD_TAG_LEN,
		tag) != 1) {
		r = ossl_fail(KMES_ERR_CRYPTO);
		goto out;
	}
	r = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

int
ks_aead_open(const uint8_t key[KS_AEAD_KEY_LEN],
    const uint8_t nonce[KS_AEAD_NONCE_LEN], const uint8_t *aad, size_t aadlen,
    const uint8_t *ct, size_t len, const uint8_t tag[KS_AEAD_TAG_LEN],
    uint8_t *pt)
{
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t t[KS_AEAD_TAG_LEN];
	int outl, r;

	if (len > INT_MAX || (len != 0 && (pt == NULL || ct == NULL)))
		return KMES_ERR_INVALID_ARGUMENT;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		return ossl_fail(KMES_ERR_ALLOC);
	if ((r = gcm_init(ctx, 0, key, nonce, aad, aadlen)) != 0)
		goto out;
	memcpy(t, tag, sizeof(t)); /* the ctrl wants a non-const pointer */
	if ((len != 0 &&
		(EVP_CipherUpdate(ctx, pt, &outl, ct, (int)len) != 1 ||
		    (size_t)outl != len)) ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, KS_AEAD_TAG_LEN,
		t) != 1) {
		r = ossl_fail(KMES_ERR_CRYPTO);
		goto out;
	}
	/* The final step compares the tag in constant time. */
	if (EVP_CipherFinal_ex(ctx, NULL, &outl) != 1) {
		r = ossl_fail(KMES_ERR_SIGNATURE_INVALID);
		goto out;
	}
	r = 0;
out:
	/* Never hand back plaintext that failed authentication. */
	if (r != 0 && len != 0 && pt != NULL)
		OPENSSL_cleanse(pt, len);
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

int
ks_hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *data,
    size_t len, uint8_t out[KS_HMAC_SHA256_LEN])
{
	EVP_MAC *mac = NULL;
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	size_t outl = 0;
	int r;

	OPENSSL_cleanse(out, KS_HMAC_SHA256_LEN);
	if (key == NULL || keylen == 0 || (data == NULL && len != 0))
		return KMES_ERR_INVALID_ARGUMENT;
	if ((mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		return ossl_fail(KMES_ERR_CRYPTO);
	if ((ctx = EVP_MAC_CTX_new(mac)) == NULL) {
		r = ossl_fail(KMES_ERR_ALLOC);
		goto out;
	}
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_MAC_init(ctx, key, keylen, params) != 1 ||
	    (len != 0 && EVP_MAC_update(ctx, data, len) != 1) ||
	    EVP_MAC_final(ctx, out, &outl, KS_HMAC_SHA256_LEN) != 1 ||
	    outl != KS_HMAC_SHA256_LEN) {
		OPENSSL_cleanse(out, KS_HMAC_SHA256_LEN);
		r = ossl_fail(KMES_ERR_CRYPTO);
		goto out;
	}
	r = 0;
out:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return r;
}
