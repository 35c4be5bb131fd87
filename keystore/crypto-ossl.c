/*
 * crypto-ossl.c: the OpenSSL backend's core: the secure heap, algorithms
 * fetched once, random bytes, digests and the password hash, and key
 * objects (struct ks_pkey) with their SSH wire form. Keys are built in
 * crypto-ossl-keys.c and used in crypto-ossl-sign.c; only the
 * crypto-*.c files include OpenSSL.
 *
 * Where private keys live. OpenSSL 3.0's provider import (EVP_PKEY_fromdata)
 * copies RSA and EC private values into ordinary BIGNUMs and Ed25519 seeds
 * into ordinary heap, whatever heap the parameters came from. So:
 *  - Ed25519 is imported through the provider and at once duplicated; the
 *    duplicate's seed is allocated from the secure heap, and freeing the
 *    import wipes the ordinary copy.
 *  - RSA and ECDSA private keys are kept as RSA and EC_KEY objects built
 *    from BN_secure_new values and used in place by RSA_sign and
 *    ECDSA_do_sign. Handing them to EVP would make the provider export them
 *    again into ordinary memory, hence the deprecated low-level calls.
 * Public-key work (verification, checks) goes through provider EVP_PKEYs.
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* RSA_*, EC_KEY_*: see above */

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "crypto-int.h"
#include "crypto-ossl-int.h"
#include "crypto-ossl-methods.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "secmem.h"

RSA *
ks_ossl_rsa_new(void)
{
	RSA *rsa;

	if ((rsa = RSA_new()) != NULL &&
	    RSA_set_method(rsa, RSA_PKCS1_OpenSSL()) != 1) {
		RSA_free(rsa);
		rsa = NULL;
	}
	return rsa;
}

EC_KEY *
ks_ossl_ec_key_new(int nid)
{
	EC_KEY *ec;

	if ((ec = EC_KEY_new_by_curve_name(nid)) != NULL &&
	    EC_KEY_set_method(ec, EC_KEY_OpenSSL()) != 1) {
		EC_KEY_free(ec);
		ec = NULL;
	}
	return ec;
}

#define SECURE_HEAP_DEFAULT (4 * 1024 * 1024)
#define SECURE_HEAP_MIN (64 * 1024)
#define SECURE_HEAP_MAX (1024 * 1024 * 1024)
#define SECURE_HEAP_MINSIZE 32

static const struct ks_curve curves[] = {
	{ KS_KEY_ECDSA_P256, NID_X9_62_prime256v1, "P-256", 32,
	    KS_HASH_SHA256 },
	{ KS_KEY_ECDSA_P384, NID_secp384r1, "P-384", 48, KS_HASH_SHA384 },
	{ KS_KEY_ECDSA_P521, NID_secp521r1, "P-521", 66, KS_HASH_SHA512 },
};

static const char *const md_names[] = {
	[KS_HASH_NONE] = NULL,
	[KS_HASH_SHA1] = "SHA1",
	[KS_HASH_SHA256] = "SHA256",
	[KS_HASH_SHA384] = "SHA384",
	[KS_HASH_SHA512] = "SHA512",
	[KS_HASH_MD5] = "MD5",
};

#define NHASH (sizeof(md_names) / sizeof(md_names[0]))

/* Fetched once: a per-signature fetch costs a locked method-store lookup. */
static EVP_MD *mds[NHASH];
static EVP_KDF *scrypt_kdf;
static EC_GROUP *groups[sizeof(curves) / sizeof(curves[0])];
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static int secure_heap_unlocked;

static void
fetch_algorithms(void)
{
	size_t i;

	for (i = 0; i < NHASH; i++) {
		if (md_names[i] != NULL)
			mds[i] = EVP_MD_fetch(NULL, md_names[i], NULL);
	}
	scrypt_kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
	for (i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
		groups[i] = EC_GROUP_new_by_curve_name(curves[i].nid);
	ERR_clear_error();
}

static const EVP_MD *
get_md(enum ks_hash hash)
{
	if ((size_t)hash >= NHASH)
		return NULL;
	(void)pthread_once(&fetch_once, fetch_algorithms);
	return mds[hash];
}

const char *
ks_ossl_md_name(enum ks_hash hash)
{
	return (size_t)hash < NHASH ? md_names[hash] : NULL;
}

const BIGNUM *
ks_ossl_curve_order(const struct ks_curve *c)
{
	const EC_GROUP *g;

	(void)pthread_once(&fetch_once, fetch_algorithms);
	if ((g = groups[c - curves]) == NULL)
		return NULL;
	return EC_GROUP_get0_order(g);
}

int
ks_ossl_fail(int r)
{
	ERR_clear_error();
	return r;
}

const struct ks_curve *
ks_ossl_curve_for(enum ks_key_type type)
{
	size_t i;

	for (i = 0; i < sizeof(curves) / sizeof(curves[0]); i++) {
		if (curves[i].type == type)
			return &curves[i];
	}
	return NULL;
}

int
ks_crypto_init(size_t secure_heap_bytes)
{
	size_t size = SECURE_HEAP_DEFAULT;
	int ok;

	if (!CRYPTO_secure_malloc_initialized()) {
		if (secure_heap_bytes > SECURE_HEAP_MAX)
			return KMES_ERR_INVALID_ARGUMENT;
		if (secure_heap_bytes != 0) {
			/* OpenSSL wants a power of two. */
			size = SECURE_HEAP_MIN;
			while (size < secure_heap_bytes)
				size <<= 1;
		}
		ok = CRYPTO_secure_malloc_init(size, SECURE_HEAP_MINSIZE);
		if (ok == 0)
			return ks_ossl_fail(KMES_ERR_ALLOC);
		if (ok == 2)
			secure_heap_unlocked = 1;
	}
	if (get_md(KS_HASH_SHA1) == NULL || get_md(KS_HASH_SHA256) == NULL ||
	    get_md(KS_HASH_SHA384) == NULL || get_md(KS_HASH_SHA512) == NULL ||
	    scrypt_kdf == NULL || ks_ossl_curve_order(&curves[0]) == NULL ||
	    ks_ossl_curve_order(&curves[1]) == NULL ||
	    ks_ossl_curve_order(&curves[2]) == NULL)
		return KMES_ERR_CRYPTO;
	if (secure_heap_unlocked) {
		/* mlock failed: usually RLIMIT_MEMLOCK below the heap size. */
		errno = ENOMEM;
		return KMES_ERR_SYSTEM;
	}
	return 0;
}

size_t
ks_crypto_secure_used(void)
{
	return CRYPTO_secure_used();
}

int
ks_random(void *buf, size_t len)
{
	unsigned char *p = buf;
	int n;

	while (len > 0) {
		n = len > INT_MAX ? INT_MAX : (int)len;
		if (RAND_priv_bytes(p, n) != 1)
			return ks_ossl_fail(KMES_ERR_CRYPTO);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
ks_pw_hash(const uint8_t *pw, size_t pwlen,
    const uint8_t salt[KS_PWHASH_SALT_LEN], uint8_t out[KS_PWHASH_LEN])
{
	/* scrypt N=2^14, r=8, p=1: ~50 ms, run off the event loops. */
	return ks_kdf_scrypt(pw, pwlen, salt, KS_PWHASH_SALT_LEN, 14, 8, 1, out,
	    KS_PWHASH_LEN);
}

int
ks_digest(enum ks_hash hash, const void *data, size_t len, uint8_t *out,
    size_t outlen, size_t *lenp)
{
	const EVP_MD *md;
	unsigned int n = 0;

	*lenp = 0;
	if ((md = get_md(hash)) == NULL)
		return KMES_ERR_INVALID_ARGUMENT;
	if (outlen < (size_t)EVP_MD_get_size(md))
		return KMES_ERR_NO_BUFFER_SPACE;
	if (EVP_Digest(data, len, out, &n, md, NULL) != 1)
		return ks_ossl_fail(KMES_ERR_CRYPTO);
	*lenp = n;
	return 0;
}

/* Key objects. */

struct ks_pkey *
ks_ossl_pkey_new(enum ks_key_type type)
{
	struct ks_pkey *pk;

	if ((pk = calloc(1, sizeof(*pk))) == NULL)
		return NULL;
	if (pthread_mutex_init(&pk->ctx_mtx, NULL) != 0) {
		free(pk);
		return NULL;
	}
	pk->type = type;
	return pk;
}

void
ks_pkey_free(struct ks_pkey *pk)
{
	if (pk == NULL)
		return;
	EVP_MD_CTX_free(pk->ed_ctx);
	pthread_mutex_destroy(&pk->ctx_mtx);
	EVP_PKEY_free(pk->pub);
	EVP_PKEY_free(pk->ed);
	EC_KEY_free(pk->ec); /* BN_clear_free on the scalar */
	RSA_free(pk->rsa);   /* BN_clear_free on every secret value */
	BN_free(pk->n);
	BN_free(pk->e);
	kmes_freezero(pk, sizeof(*pk));
}

int
ks_pkey_has_private(const struct ks_pkey *pk)
{
	return pk->ed != NULL || pk->ec != NULL || pk->rsa != NULL;
}

unsigned int
ks_pkey_bits(const struct ks_pkey *pk)
{
	return pk->bits;
}

size_t
ks_ossl_mpint_size(const BIGNUM *bn)
{
	size_t n = (size_t)BN_num_bytes(bn);

	return 4 + n + (n > 0 && BN_num_bits(bn) % 8 == 0 ? 1 : 0);
}

/* Converts straight into b's storage: no copy of a secret value to wipe. */
int
ks_ossl_put_bn(struct kbuf *b, const BIGNUM *bn)
{
	size_t len = ks_ossl_mpint_size(bn) - 4, n = (size_t)BN_num_bytes(bn);
	uint8_t *p;
	int r;

	if (n > KBUF_MPINT_MAX_BYTES - 1)
		return KMES_ERR_BIGNUM_TOO_LARGE;
	if ((r = kbuf_put_u32(b, (uint32_t)len)) != 0)
		return r;
	if (len > n && (r = kbuf_put_u8(b, 0)) != 0)
		return r;
	if (n == 0)
		return 0;
	if ((r = kbuf_reserve(b, n, &p)) != 0)
		return r;
	if (BN_bn2bin(bn, p) != (int)n)
		return ks_ossl_fail(KMES_ERR_CRYPTO);
	return 0;
}

static int
put_ed25519(const struct ks_pkey *pk, int secret, struct kbuf *b)
{
	size_t want = secret ? KS_ED25519_SK_LEN : KS_ED25519_PK_LEN, len;
	uint8_t *p;
	int r;

	if (pk->type != KS_KEY_ED25519 || (secret && pk->ed == NULL))
		return KMES_ERR_INVALID_ARGUMENT;
	if ((r = kbuf_put_u32(b, (uint32_t)want)) != 0 ||
	    (r = kbuf_reserve(b, want, &p)) != 0)
		return r;
	if (secret) {
		len = KS_ED25519_SEED_LEN;
		if (EVP_PKEY_get_raw_private_key(pk->ed, p, &len) != 1 ||
		    len != KS_ED25519_SEED_LEN)
			return ks_ossl_fail(KMES_ERR_CRYPTO);
		p += KS_ED25519_SEED_LEN;
	}
	len = KS_ED25519_PK_LEN;
	if (EVP_PKEY_get_raw_public_key(pk->pub, p, &len) != 1 ||
	    len != KS_ED25519_PK_LEN)
		return ks_ossl_fail(KMES_ERR_CRYPTO);
	return 0;
}

int
ks_pkey_put(const struct ks_pkey *pk, enum ks_part part, struct kbuf *b)
{
	const BIGNUM *v = NULL;

	switch (part) {
	case KS_PART_ED25519_PK:
		return put_ed25519(pk, 0, b);
	case KS_PART_ED25519_SK:
		return put_ed25519(pk, 1, b);
	case KS_PART_EC_Q:
		if (pk->qlen == 0)
			return KMES_ERR_INVALID_ARGUMENT;
		return kbuf_put_string(b, pk->q, pk->qlen);
	case KS_PART_EC_D:
		if (pk->ec != NULL)
			v = EC_KEY_get0_private_key(pk->ec);
		break;
	case KS_PART_RSA_E:
		v = pk->e;
		break;
	case KS_PART_RSA_N:
		v = pk->n;
		break;
	case KS_PART_RSA_D:
		if (pk->rsa != NULL)
			v = RSA_get0_d(pk->rsa);
		break;
	case KS_PART_RSA_IQMP:
		if (pk->rsa != NULL)
			v = RSA_get0_iqmp(pk->rsa);
		break;
	case KS_PART_RSA_P:
		if (pk->rsa != NULL)
			v = RSA_get0_p(pk->rsa);
		break;
	case KS_PART_RSA_Q:
		if (pk->rsa != NULL)
			v = RSA_get0_q(pk->rsa);
		break;
	}
	if (v == NULL)
		return KMES_ERR_INVALID_ARGUMENT;
	return ks_ossl_put_bn(b, v);
}
