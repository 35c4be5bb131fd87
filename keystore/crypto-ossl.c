/*
 * crypto-ossl.c: the OpenSSL backend. The only file that includes OpenSSL.
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
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "crypto-int.h"
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

/* scrypt cost: 16 MiB and a few tens of milliseconds per unlock attempt. */

#define EC_POINT_MAX (1 + 2 * 66)
#define RSA_MOD_MAX (KS_RSA_MAX_BITS / 8)

struct ks_pkey {
	enum ks_key_type type;
	unsigned int bits;
	EVP_PKEY *pub;	/* provider key for public operations */
	EVP_PKEY *ed;	/* Ed25519 private key (seed in the secure heap) */
	EC_KEY *ec;	/* ECDSA private key (scalar in the secure heap) */
	RSA *rsa;	/* RSA private key (secret BIGNUMs in the secure heap) */
	BIGNUM *n, *e;	/* RSA public values */
	uint8_t q[EC_POINT_MAX];	/* ECDSA public point, uncompressed */
	size_t qlen;
	/*
	 * A ready Ed25519 signing context: setting one up costs about as
	 * much as a sixth of the signature. Used by one thread at a time
	 * (trylock); the others build their own. It refers to pk->ed, so
	 * it holds no second copy of the seed.
	 */
	pthread_mutex_t ctx_mtx;
	EVP_MD_CTX *ed_ctx;
};

struct ks_curve {
	enum ks_key_type type;
	int nid;
	const char *group;
	size_t flen;		/* field element bytes */
	enum ks_hash hash;
};

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

/* Returns the curve's group order, or NULL. */
static const BIGNUM *
curve_order(const struct ks_curve *c)
{
	const EC_GROUP *g;

	(void)pthread_once(&fetch_once, fetch_algorithms);
	if ((g = groups[c - curves]) == NULL)
		return NULL;
	return EC_GROUP_get0_order(g);
}

/* Drops OpenSSL's queued errors so they cannot surface in a later call. */
static int
ossl_fail(int r)
{
	ERR_clear_error();
	return r;
}

static const struct ks_curve *
curve_for(enum ks_key_type type)
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
			return ossl_fail(KMES_ERR_ALLOC);
		if (ok == 2)
			secure_heap_unlocked = 1;
	}
	if (get_md(KS_HASH_SHA1) == NULL || get_md(KS_HASH_SHA256) == NULL ||
	    get_md(KS_HASH_SHA384) == NULL || get_md(KS_HASH_SHA512) == NULL ||
	    scrypt_kdf == NULL || curve_order(&curves[0]) == NULL ||
	    curve_order(&curves[1]) == NULL || curve_order(&curves[2]) == NULL)
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
			return ossl_fail(KMES_ERR_CRYPTO);
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
	return ks_kdf_scrypt(pw, pwlen, salt, KS_PWHASH_SALT_LEN, 14, 8, 1,
	    out, KS_PWHASH_LEN);
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
		return ossl_fail(KMES_ERR_CRYPTO);
	*lenp = n;
	return 0;
}

/* Key objects. */

static struct ks_pkey *
pkey_new(enum ks_key_type type)
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
	EC_KEY_free(pk->ec);	/* BN_clear_free on the scalar */
	RSA_free(pk->rsa);	/* BN_clear_free on every secret value */
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

/*
 * The providers' key managers by their OIDs, which OpenSSL maps to no
 * legacy NID: by "EC" or "RSA", EVP_PKEY_CTX_new_from_name would first ask
 * the default ENGINE (see crypto-ossl-methods.h) and fail on its methods.
 */
#define KEYMGMT_EC "1.2.840.10045.2.1"
#define KEYMGMT_RSA "1.2.840.113549.1.1.1"

static int
pub_fromdata(const char *alg, OSSL_PARAM *params, EVP_PKEY **pkeyp)
{
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	int r;

	*pkeyp = NULL;
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1) {
		r = ossl_fail(KMES_ERR_CRYPTO);
		goto out;
	}
	if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		r = ossl_fail(KMES_ERR_KEY_INVALID);
		goto out;
	}
	*pkeyp = pkey;
	pkey = NULL;
	r = 0;
 out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	return r;
}

/* Imports an Ed25519 seed so that the key lives in the secure heap. */
static int
ed25519_private(const uint8_t *pkbytes, const uint8_t *seed, EVP_PKEY **edp)
{
	EVP_PKEY *import = NULL, *ed = NULL;
	uint8_t derived[KS_ED25519_PK_LEN];
	size_t dlen = sizeof(derived);
	int r;

	*edp = NULL;
	/* The import keeps the seed in ordinary heap; its dup does not. */
	import = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, seed,
	    KS_ED25519_SEED_LEN);
	if (import == NULL || (ed = EVP_PKEY_dup(import)) == NULL ||
	    EVP_PKEY_get_raw_public_key(ed, derived, &dlen) != 1 ||
	    dlen != sizeof(derived)) {
		r = ossl_fail(KMES_ERR_CRYPTO);
		goto out;
	}
	/* A client could pair a seed with someone else's public key. */
	if (CRYPTO_memcmp(derived, pkbytes, sizeof(derived)) != 0) {
		r = KMES_ERR_KEY_MISMATCH;
		goto out;
	}
	*edp = ed;
	ed = NULL;
	r = 0;
 out:
	EVP_PKEY_free(import);	/* wipes the ordinary-heap seed */
	EVP_PKEY_free(ed);
	return r;
}

int
ks_pkey_ed25519(const uint8_t *pkbytes, size_t pklen, const uint8_t *seed,
    struct ks_pkey **pkp)
{
	struct ks_pkey *pk = NULL;
	int r;

	*pkp = NULL;
	if (pklen != KS_ED25519_PK_LEN)
		return KMES_ERR_KEY_INVALID;
	if ((pk = pkey_new(KS_KEY_ED25519)) == NULL)
		return KMES_ERR_ALLOC;
	pk->bits = 256;
	if (seed == NULL) {
		pk->pub = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL,
		    pkbytes, pklen);
		if (pk->pub == NULL) {
			r = ossl_fail(KMES_ERR_KEY_INVALID);
			goto out;
		}
	} else {
		if ((r = ed25519_private(pkbytes, seed, &pk->ed)) != 0)
			goto out;
		if (EVP_PKEY_up_ref(pk->ed) != 1) {
			r = ossl_fail(KMES_ERR_CRYPTO);
			goto out;
		}
		pk->pub = pk->ed;
	}
	*pkp = pk;
	pk = NULL;
	r = 0;
 out:
	ks_pkey_free(pk);
	return r;
}

/*
 * The checks OpenSSH applies to EC public points and scalars (sshkey.c):
 * beyond being on the curve, coordinates and scalar must not be tiny or
 * within one of the order, so keys OpenSSH refuses are refused here too.
 */
static int
ec_check_public(const struct ks_curve *c, const uint8_t *q, size_t qlen,
    const BIGNUM *order)
{
	BIGNUM *x = NULL, *y = NULL, *lim = NULL;
	int half = BN_num_bits(order) / 2, r;

	if (qlen != 1 + 2 * c->flen || q[0] != POINT_CONVERSION_UNCOMPRESSED)
		return KMES_ERR_KEY_INVALID;
	if ((x = BN_bin2bn(q + 1, (int)c->flen, NULL)) == NULL ||
	    (y = BN_bin2bn(q + 1 + c->flen, (int)c->flen, NULL)) == NULL ||
	    (lim = BN_dup(order)) == NULL || !BN_sub_word(lim, 1)) {
		r = ossl_fail(KMES_ERR_ALLOC);
		goto out;
	}
	if (BN_num_bits(x) <= half || BN_num_bits(y) <= half ||
	    BN_cmp(x, lim) >= 0 || BN_cmp(y, lim) >= 0) {
		r = KMES_ERR_KEY_INVALID;
		goto out;
	}
	r = 0;
 out:
	BN_free(x);
	BN_free(y);
	BN_free(lim);
	return r;
}

static int
ec_public(const struct ks_curve *c, const uint8_t *q, size_t qlen,
    EVP_PKEY **pkeyp)
{
	const BIGNUM *order;
	OSSL_PARAM params[3];
	int r;

	*pkeyp = NULL;
	if ((order = curve_order(c)) == NULL)
		return KMES_ERR_CRYPTO;
	if ((r = ec_check_public(c, q, qlen, order)) != 0)
		return r;
	/*
	 * Import refuses points off the curve, and an uncompressed point
	 * cannot be the point at infinity. The NIST curves have prime order,
	 * so that is the whole public-key check: an nQ == O test would only
	 * add a scalar multiplication to every blob parse.
	 */
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
	    (char *)c->group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
	    (uint8_t *)q, qlen);
	params[2] = OSSL_PARAM_construct_end();
	return pub_fromdata(KEYMGMT_EC, params, pkeyp);
}

/* Returns a BIGNUM (in the secure heap if secure) holding v, or NULL. */
static BIGNUM *
num_to_bn(const struct ks_num *v, int secure)
{
	static const uint8_t zero;
	BIGNUM *bn;

	if (v->len > INT_MAX)
		return NULL;
	if ((bn = secure ? BN_secure_new() : BN_new()) == NULL)
		return NULL;
	if (BN_bin2bn(v->len == 0 ? &zero : v->p, (int)v->len, bn) == NULL) {
		BN_clear_free(bn);
		return NULL;
	}
	return bn;
}

static BIGNUM *
secure_bn(const struct ks_num *v)
{
	return num_to_bn(v, 1);
}

static int
ec_private(const struct ks_curve *c, const uint8_t *q, size_t qlen,
    const struct ks_num *d, EC_KEY **eckp)
{
	EC_KEY *ec = NULL;
	BIGNUM *bd = NULL, *lim = NULL;
	const BIGNUM *order;
	int r;

	*eckp = NULL;
	if ((ec = ks_ossl_ec_key_new(c->nid)) == NULL ||
	    (bd = secure_bn(d)) == NULL) {
		r = ossl_fail(KMES_ERR_ALLOC);
		goto out;
	}
	if (EC_KEY_oct2key(ec, q, qlen, NULL) != 1) {
		r = ossl_fail(KMES_ERR_KEY_INVALID);
		goto out;
	}
	order = EC_GROUP_get0_order(EC_KEY_get0_group(ec));
	if ((lim = BN_dup(order)) == NULL || !BN_sub_word(lim, 1)) {
		r = ossl_fail(KMES_ERR_ALLOC);
		goto out;
	}
	if (BN_num_bits(bd) <= BN_num_bits(order) / 2 || BN_cmp(bd, lim) >= 0) {
		r = KMES_ERR_KEY_INVALID;
		goto out;
	}
	/* Copies bd into a BIGNUM that is also in the secure heap. */
	if (EC_KEY_set_private_key(ec, bd) != 1) {
		r = ossl_fail(KMES_ERR_KEY_INVALID);
		goto out;
	}
	/* The public point was checked already: failure here is d*G != Q. */
	if (EC_KEY_check_key(ec) != 1) {
		r = ossl_fail(KMES_ERR_KEY_MISMATCH);
		goto out;
	}
	*eckp = ec;
	ec = NULL;
	r = 0;
 out:
	BN_clear_free(bd);
	BN_free(lim);
	EC_KEY_free(ec);
	return r;
}

int
ks_pkey_ecdsa(enum ks_key_type type, const uint8_t *q, size_t qlen,
    const struct ks_num *d, struct ks_pkey **pkp)
{
	const struct ks_curve *c;
	struct ks_pkey *pk = NULL;
	int r;

	*pkp = NULL;
	if ((c = curve_for(type)) == NULL)
		return KMES_ERR_INVALID_ARGUMENT;
	if (qlen > EC_POINT_MAX)
		return KMES_ERR_KEY_INVALID;
	if ((pk = pkey_new(type)) == NULL)
		return KMES_ERR_ALLOC;
	if ((r = ec_public(c, q, qlen, &pk->pub)) != 0)
		goto out;
	if (d != NULL && (r = ec_private(c, q, qlen, d, &pk->ec)) != 0)
		goto out;
	memcpy(pk->q, q, qlen);
	pk->qlen = qlen;
	pk->bits = (unsigned int)EVP_PKEY_get_bits(pk->pub);
	*pkp = pk;
	pk = NULL;
	r = 0;
 out:
	ks_pkey_free(pk);
	return r;
}

static int
rsa_public(const BIGNUM *n, const BIGNUM *e, EVP_PKEY **pkeyp)
{
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	int bits = BN_num_bits(n), r;

	*pkeyp = NULL;
	if (bits < KS_RSA_MIN_BITS || bits > KS_RSA_MAX_BITS)
		return KMES_ERR_KEY_INVALID;
	if (!BN_is_odd(n) || !BN_is_odd(e) || BN_is_one(e) ||
	    BN_cmp(e, n) >= 0)
		return KMES_ERR_KEY_INVALID;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL) {
		r = ossl_fail(KMES_ERR_ALLOC);
		goto out;
	}
	r = pub_fromdata(KEYMGMT_RSA, params, pkeyp);
 out:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return r;
}

/*
 * Checks that a*b mod m is 1, using t as scratch. Returns 0,
 * KMES_ERR_KEY_MISMATCH if it is not, or KMES_ERR_CRYPTO.
 */
static int
mod_mul_is_one(BIGNUM *t, const BIGNUM *a, const BIGNUM *b, const BIGNUM *m,
    BN_CTX *ctx)
{
	if (!BN_mod_mul(t, a, b, m, ctx))
		return ossl_fail(KMES_ERR_CRYPTO);
	return BN_is_one(t) ? 0 : KMES_ERR_KEY_MISMATCH;
}

/*
 * Builds the RSA private key from wire values, computing the CRT exponents
 * from d as OpenSSH does, and checks that the parts belong together: a client
 * could pair a modulus with unrelated factors, or send a d or iqmp that would
 * turn every signature into garbage.
 */
static int
rsa_private(const BIGNUM *n, const BIGNUM *e, const struct ks_rsa_priv *priv,
    RSA **rsap)
{
	BN_CTX *ctx = NULL;
	BIGNUM *d = NULL, *p = NULL, *q = NULL, *iqmp = NULL;
	BIGNUM *dmp1 = NULL, *dmq1 = NULL, *nn = NULL, *ee = NULL;
	BIGNUM *t, *pm1, *qm1;
	RSA *rsa = NULL;
	int r;

	*rsap = NULL;
	if ((ctx = BN_CTX_secure_new()) == NULL)
		return ossl_fail(KMES_ERR_ALLOC);
	BN_CTX_start(ctx);
	t = BN_CTX_get(ctx);
	pm1 = BN_CTX_get(ctx);
	if ((qm1 = BN_CTX_get(ctx)) == NULL ||
	    (d = secure_bn(&priv->d)) == NULL ||
	    (p = secure_bn(&priv->p)) == NULL ||
	    (q = secure_bn(&priv->q)) == NULL ||
	    (iqmp = secure_bn(&priv->iqmp)) == NULL ||
	    (dmp1 = BN_secure_new()) == NULL ||
	    (dmq1 = BN_secure_new()) == NULL) {
		r = ossl_fail(KMES_ERR_ALLOC);
		goto out;
	}
	BN_set_flags(d, BN_FLG_CONSTTIME);
	BN_set_flags(p, BN_FLG_CONSTTIME);
	BN_set_flags(q, BN_FLG_CONSTTIME);
	if (BN_cmp(p, BN_value_one()) <= 0 || BN_cmp(q, BN_value_one()) <= 0 ||
	    BN_is_zero(d)) {
		r = KMES_ERR_KEY_INVALID;
		goto out;
	}
	if (!BN_mul(t, p, q, ctx)) {
		r = ossl_fail(KMES_ERR_CRYPTO);
		goto out;
	}
	if (BN_cmp(t, n) != 0) {
		r = KMES_ERR_KEY_MISMATCH;
		goto out;
	}
	if (!BN_sub(pm1, p, BN_value_one()) || !BN_sub(qm1, q, BN_value_one()) ||
	    !BN_mod(dmp1, d, pm1, ctx) || !BN_mod(dmq1, d, qm1, ctx)) {
		r = ossl_fail(KMES_ERR_CRYPTO);
		goto out;
	}
	/* e*d == 1 mod p-1 and mod q-1, and iqmp*q == 1 mod p. */
	if ((r = mod_mul_is_one(t, e, dmp1, pm1, ctx)) != 0 ||
	    (r = mod_mul_is_one(t, e, dmq1, qm1, ctx)) != 0 ||
	    (r = mod_mul_is_one(t, iqmp, q, p, ctx)) != 0)
		goto out;
	if ((rsa = ks_ossl_rsa_new()) == NULL || (nn = BN_dup(n)) == NULL ||
	    (ee = BN_dup(e)) == NULL) {
		r = ossl_fail(KMES_ERR_ALLOC);
		goto out;
	}
	if (RSA_set0_key(rsa, nn, ee, d) != 1) {
		r = ossl_fail(KMES_ERR_CRYPTO);
		goto out;
	}
	nn = ee = d = NULL;
	if (RSA_set0_factors(rsa, p, q) != 1) {
		r = ossl_fail(KMES_ERR_CRYPTO);
		goto out;
	}
	p = q = NULL;
	if (RSA_set0_crt_params(rsa, dmp1, dmq1, iqmp) != 1) {
		r = ossl_fail(KMES_ERR_CRYPTO);
		goto out;
	}
	dmp1 = dmq1 = iqmp = NULL;
	/* Cached Montgomery contexts would keep p and q in ordinary heap. */
	RSA_clear_flags(rsa, RSA_FLAG_CACHE_PRIVATE);
	*rsap = rsa;
	rsa = NULL;
	r = 0;
 out:
	BN_CTX_end(ctx);
	BN_CTX_free(ctx);
	BN_clear_free(d);
	BN_clear_free(p);
	BN_clear_free(q);
	BN_clear_free(iqmp);
	BN_clear_free(dmp1);
	BN_clear_free(dmq1);
	BN_free(nn);
	BN_free(ee);
	RSA_free(rsa);
	return r;
}

int
ks_pkey_rsa(const struct ks_num *n, const struct ks_num *e,
    const struct ks_rsa_priv *priv, struct ks_pkey **pkp)
{
	struct ks_pkey *pk = NULL;
	int r;

	*pkp = NULL;
	if (n->len > RSA_MOD_MAX || e->len > RSA_MOD_MAX)
		return KMES_ERR_KEY_INVALID;
	if ((pk = pkey_new(KS_KEY_RSA)) == NULL)
		return KMES_ERR_ALLOC;
	if ((pk->n = num_to_bn(n, 0)) == NULL ||
	    (pk->e = num_to_bn(e, 0)) == NULL) {
		r = ossl_fail(KMES_ERR_ALLOC);
		goto out;
	}
	if ((r = rsa_public(pk->n, pk->e, &pk->pub)) != 0)
		goto out;
	if (priv != NULL && (r = rsa_private(pk->n, pk->e, priv,
	    &pk->rsa)) != 0)
		goto out;
	pk->bits = (unsigned int)BN_num_bits(pk->n);
	*pkp = pk;
	pk = NULL;
	r = 0;
 out:
	ks_pkey_free(pk);
	return r;
}

int
ks_pkey_generate(enum ks_key_type type, unsigned int bits,
    struct ks_pkey **pkp)
{
	const struct ks_curve *c;
	struct ks_pkey *pk = NULL;
	BIGNUM *e = NULL;
	RSA *rsa = NULL;
	int r;

	*pkp = NULL;
	if (type == KS_KEY_RSA) {
		if (bits == 0)
			bits = KS_RSA_DEFAULT_BITS;
		if (bits < KS_RSA_MIN_BITS || bits > KS_RSA_MAX_BITS)
			return KMES_ERR_INVALID_ARGUMENT;
	} else if (type != KS_KEY_ED25519 && curve_for(type) == NULL)
		return KMES_ERR_INVALID_ARGUMENT;
	if ((pk = pkey_new(type)) == NULL)
		return KMES_ERR_ALLOC;
	switch (type) {
	case KS_KEY_ED25519:
		/* Key generation allocates the seed in the secure heap. */
		if ((pk->ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL ||
		    EVP_PKEY_up_ref(pk->ed) != 1) {
			r = ossl_fail(KMES_ERR_CRYPTO);
			goto out;
		}
		pk->pub = pk->ed;
		pk->bits = 256;
		break;
	case KS_KEY_RSA:
		if ((e = BN_new()) == NULL || !BN_set_word(e, RSA_F4) ||
		    (rsa = ks_ossl_rsa_new()) == NULL ||
		    RSA_generate_key_ex(rsa, (int)bits, e, NULL) != 1) {
			r = ossl_fail(KMES_ERR_CRYPTO);
			goto out;
		}
		RSA_clear_flags(rsa, RSA_FLAG_CACHE_PRIVATE);
		if ((pk->n = BN_dup(RSA_get0_n(rsa))) == NULL ||
		    (pk->e = BN_dup(RSA_get0_e(rsa))) == NULL) {
			r = ossl_fail(KMES_ERR_ALLOC);
			goto out;
		}
		if ((r = rsa_public(pk->n, pk->e, &pk->pub)) != 0)
			goto out;
		pk->rsa = rsa;
		rsa = NULL;
		pk->bits = (unsigned int)BN_num_bits(pk->n);
		break;
	default:
		c = curve_for(type);
		if ((pk->ec = ks_ossl_ec_key_new(c->nid)) == NULL ||
		    EC_KEY_generate_key(pk->ec) != 1) {
			r = ossl_fail(KMES_ERR_CRYPTO);
			goto out;
		}
		pk->qlen = EC_POINT_point2oct(EC_KEY_get0_group(pk->ec),
		    EC_KEY_get0_public_key(pk->ec),
		    POINT_CONVERSION_UNCOMPRESSED, pk->q, sizeof(pk->q), NULL);
		if (pk->qlen != 1 + 2 * c->flen) {
			r = ossl_fail(KMES_ERR_CRYPTO);
			goto out;
		}
		if ((r = ec_public(c, pk->q, pk->qlen, &pk->pub)) != 0)
			goto out;
		pk->bits = (unsigned int)EVP_PKEY_get_bits(pk->pub);
		break;
	}
	*pkp = pk;
	pk = NULL;
	r = 0;
 out:
	BN_free(e);
	RSA_free(rsa);
	ks_pkey_free(pk);
	return r;
}

/* Wire size of bn as an SSH mpint, length field included. */
static size_t
mpint_size(const BIGNUM *bn)
{
	size_t n = (size_t)BN_num_bytes(bn);

	return 4 + n + (n > 0 && BN_num_bits(bn) % 8 == 0 ? 1 : 0);
}

/*
 * Appends bn as an SSH mpint, converting straight into b's storage so that
 * no temporary copy of a secret value is left to wipe.
 */
static int
put_bn(struct kbuf *b, const BIGNUM *bn)
{
	size_t len = mpint_size(bn) - 4, n = (size_t)BN_num_bytes(bn);
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
		return ossl_fail(KMES_ERR_CRYPTO);
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
			return ossl_fail(KMES_ERR_CRYPTO);
		p += KS_ED25519_SEED_LEN;
	}
	len = KS_ED25519_PK_LEN;
	if (EVP_PKEY_get_raw_public_key(pk->pub, p, &len) != 1 ||
	    len != KS_ED25519_PK_LEN)
		return ossl_fail(KMES_ERR_CRYPTO);
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
	return put_bn(b, v);
}

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
		    hash == KS_HASH_SHA512) ? 0 : KMES_ERR_INVALID_ARGUMENT;
	default:
		c = curve_for(pk->type);
		return c != NULL && c->hash == hash ?
		    0 : KMES_ERR_INVALID_ARGUMENT;
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
			r = ossl_fail(KMES_ERR_ALLOC);
			goto out;
		}
		if (EVP_DigestSignInit_ex(ctx, NULL, NULL, NULL, NULL, pk->ed,
		    NULL) != 1) {
			r = ossl_fail(KMES_ERR_CRYPTO);
			goto out;
		}
	}
	/* One-shot EdDSA leaves the context ready for the next message. */
	if (EVP_DigestSign(ctx, p, &slen, data, dlen) != 1 ||
	    slen != KS_ED25519_SIG_LEN) {
		r = ossl_fail(KMES_ERR_CRYPTO);
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
		return ossl_fail(KMES_ERR_CRYPTO);
	ECDSA_SIG_get0(sig, &sr, &ss);
	if ((r = kbuf_put_u32(b,
	    (uint32_t)(mpint_size(sr) + mpint_size(ss)))) != 0 ||
	    (r = put_bn(b, sr)) != 0 || (r = put_bn(b, ss)) != 0)
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
	    hash == KS_HASH_SHA256 ? NID_sha256 : NID_sha512;
	if ((r = ks_digest(hash, data, dlen, dg, sizeof(dg), &dglen)) != 0)
		return r;
	if ((r = kbuf_put_u32(b, (uint32_t)modlen)) != 0 ||
	    (r = kbuf_reserve(b, modlen, &p)) != 0)
		return r;
	if (RSA_sign(nid, dg, (unsigned int)dglen, p, &slen, pk->rsa) != 1 ||
	    slen > modlen)
		return ossl_fail(KMES_ERR_CRYPTO);
	/* SSH wants exactly modulus-length signatures: pad on the left. */
	if (slen < modlen) {
		memmove(p + (modlen - slen), p, slen);
		memset(p, 0, modlen - slen);
	}
	return 0;
}

int
ks_pkey_sign(const struct ks_pkey *pk, enum ks_hash hash,
    const uint8_t *data, size_t dlen, struct kbuf *b)
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
		r = ossl_fail(KMES_ERR_ALLOC);
		goto out;
	}
	br = bs = NULL;
	if ((len = i2d_ECDSA_SIG(es, &der)) <= 0) {
		r = ossl_fail(KMES_ERR_CRYPTO);
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
ks_pkey_verify(const struct ks_pkey *pk, enum ks_hash hash,
    const uint8_t *sig, size_t slen, const uint8_t *data, size_t dlen)
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
		r = ossl_fail(KMES_ERR_ALLOC);
		goto out;
	}
	if (EVP_DigestVerifyInit_ex(ctx, NULL, md_names[hash], NULL, NULL,
	    pk->pub, NULL) != 1) {
		r = ossl_fail(KMES_ERR_CRYPTO);
		goto out;
	}
	if (EVP_DigestVerify(ctx, vsig, vlen, data, dlen) != 1) {
		r = ossl_fail(KMES_ERR_SIGNATURE_INVALID);
		goto out;
	}
	r = 0;
 out:
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	return r;
}
