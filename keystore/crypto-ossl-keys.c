/*
 * crypto-ossl-keys.c: OpenSSL key objects made from SSH wire values
 * (ks_pkey_ed25519, ks_pkey_ecdsa, ks_pkey_rsa: public keys checked on
 * their curve or modulus, private halves checked against them) and
 * generated ones (ks_pkey_generate). Where each private value lives, and
 * why, is crypto-ossl.c's header comment.
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* RSA_*, EC_KEY_*: see crypto-ossl.c */

#include <limits.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include "crypto-int.h"
#include "crypto-ossl-int.h"
#include "crypto-ossl-methods.h"
#include "kmes-err.h"

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
		r = ks_ossl_fail(KMES_ERR_CRYPTO);
		goto out;
	}
	if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		r = ks_ossl_fail(KMES_ERR_KEY_INVALID);
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
		r = ks_ossl_fail(KMES_ERR_CRYPTO);
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
	EVP_PKEY_free(import); /* wipes the ordinary-heap seed */
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
	if ((pk = ks_ossl_pkey_new(KS_KEY_ED25519)) == NULL)
		return KMES_ERR_ALLOC;
	pk->bits = 256;
	if (seed == NULL) {
		pk->pub = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL,
		    pkbytes, pklen);
		if (pk->pub == NULL) {
			r = ks_ossl_fail(KMES_ERR_KEY_INVALID);
			goto out;
		}
	} else {
		if ((r = ed25519_private(pkbytes, seed, &pk->ed)) != 0)
			goto out;
		if (EVP_PKEY_up_ref(pk->ed) != 1) {
			r = ks_ossl_fail(KMES_ERR_CRYPTO);
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
		r = ks_ossl_fail(KMES_ERR_ALLOC);
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
	if ((order = ks_ossl_curve_order(c)) == NULL)
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
		r = ks_ossl_fail(KMES_ERR_ALLOC);
		goto out;
	}
	if (EC_KEY_oct2key(ec, q, qlen, NULL) != 1) {
		r = ks_ossl_fail(KMES_ERR_KEY_INVALID);
		goto out;
	}
	order = EC_GROUP_get0_order(EC_KEY_get0_group(ec));
	if ((lim = BN_dup(order)) == NULL || !BN_sub_word(lim, 1)) {
		r = ks_ossl_fail(KMES_ERR_ALLOC);
		goto out;
	}
	if (BN_num_bits(bd) <= BN_num_bits(order) / 2 || BN_cmp(bd, lim) >= 0) {
		r = KMES_ERR_KEY_INVALID;
		goto out;
	}
	/* Copies bd into a BIGNUM that is also in the secure heap. */
	if (EC_KEY_set_private_key(ec, bd) != 1) {
		r = ks_ossl_fail(KMES_ERR_KEY_INVALID);
		goto out;
	}
	/* The public point was checked already: failure here is d*G != Q. */
	if (EC_KEY_check_key(ec) != 1) {
		r = ks_ossl_fail(KMES_ERR_KEY_MISMATCH);
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
	if ((c = ks_ossl_curve_for(type)) == NULL)
		return KMES_ERR_INVALID_ARGUMENT;
	if (qlen > EC_POINT_MAX)
		return KMES_ERR_KEY_INVALID;
	if ((pk = ks_ossl_pkey_new(type)) == NULL)
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
	if (!BN_is_odd(n) || !BN_is_odd(e) || BN_is_one(e) || BN_cmp(e, n) >= 0)
		return KMES_ERR_KEY_INVALID;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL) {
		r = ks_ossl_fail(KMES_ERR_ALLOC);
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
		return ks_ossl_fail(KMES_ERR_CRYPTO);
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
		return ks_ossl_fail(KMES_ERR_ALLOC);
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
		r = ks_ossl_fail(KMES_ERR_ALLOC);
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
		r = ks_ossl_fail(KMES_ERR_CRYPTO);
		goto out;
	}
	if (BN_cmp(t, n) != 0) {
		r = KMES_ERR_KEY_MISMATCH;
		goto out;
	}
	if (!BN_sub(pm1, p, BN_value_one()) ||
	    !BN_sub(qm1, q, BN_value_one()) || !BN_mod(dmp1, d, pm1, ctx) ||
	    !BN_mod(dmq1, d, qm1, ctx)) {
		r = ks_ossl_fail(KMES_ERR_CRYPTO);
		goto out;
	}
	/* e*d == 1 mod p-1 and mod q-1, and iqmp*q == 1 mod p. */
	if ((r = mod_mul_is_one(t, e, dmp1, pm1, ctx)) != 0 ||
	    (r = mod_mul_is_one(t, e, dmq1, qm1, ctx)) != 0 ||
	    (r = mod_mul_is_one(t, iqmp, q, p, ctx)) != 0)
		goto out;
	if ((rsa = ks_ossl_rsa_new()) == NULL || (nn = BN_dup(n)) == NULL ||
	    (ee = BN_dup(e)) == NULL) {
		r = ks_ossl_fail(KMES_ERR_ALLOC);
		goto out;
	}
	if (RSA_set0_key(rsa, nn, ee, d) != 1) {
		r = ks_ossl_fail(KMES_ERR_CRYPTO);
		goto out;
	}
	nn = ee = d = NULL;
	if (RSA_set0_factors(rsa, p, q) != 1) {
		r = ks_ossl_fail(KMES_ERR_CRYPTO);
		goto out;
	}
	p = q = NULL;
	if (RSA_set0_crt_params(rsa, dmp1, dmq1, iqmp) != 1) {
		r = ks_ossl_fail(KMES_ERR_CRYPTO);
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
	if ((pk = ks_ossl_pkey_new(KS_KEY_RSA)) == NULL)
		return KMES_ERR_ALLOC;
	if ((pk->n = num_to_bn(n, 0)) == NULL ||
	    (pk->e = num_to_bn(e, 0)) == NULL) {
		r = ks_ossl_fail(KMES_ERR_ALLOC);
		goto out;
	}
	if ((r = rsa_public(pk->n, pk->e, &pk->pub)) != 0)
		goto out;
	if (priv != NULL &&
	    (r = rsa_private(pk->n, pk->e, priv, &pk->rsa)) != 0)
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
ks_pkey_generate(enum ks_key_type type, unsigned int bits, struct ks_pkey **pkp)
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
	} else if (type != KS_KEY_ED25519 && ks_ossl_curve_for(type) == NULL)
		return KMES_ERR_INVALID_ARGUMENT;
	if ((pk = ks_ossl_pkey_new(type)) == NULL)
		return KMES_ERR_ALLOC;
	switch (type) {
	case KS_KEY_ED25519:
		/* Key generation allocates the seed in the secure heap. */
		if ((pk->ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) ==
			NULL ||
		    EVP_PKEY_up_ref(pk->ed) != 1) {
			r = ks_ossl_fail(KMES_ERR_CRYPTO);
			goto out;
		}
		pk->pub = pk->ed;
		pk->bits = 256;
		break;
	case KS_KEY_RSA:
		if ((e = BN_new()) == NULL || !BN_set_word(e, RSA_F4) ||
		    (rsa = ks_ossl_rsa_new()) == NULL ||
		    RSA_generate_key_ex(rsa, (int)bits, e, NULL) != 1) {
			r = ks_ossl_fail(KMES_ERR_CRYPTO);
			goto out;
		}
		RSA_clear_flags(rsa, RSA_FLAG_CACHE_PRIVATE);
		if ((pk->n = BN_dup(RSA_get0_n(rsa))) == NULL ||
		    (pk->e = BN_dup(RSA_get0_e(rsa))) == NULL) {
			r = ks_ossl_fail(KMES_ERR_ALLOC);
			goto out;
		}
		if ((r = rsa_public(pk->n, pk->e, &pk->pub)) != 0)
			goto out;
		pk->rsa = rsa;
		rsa = NULL;
		pk->bits = (unsigned int)BN_num_bits(pk->n);
		break;
	default:
		c = ks_ossl_curve_for(type);
		if ((pk->ec = ks_ossl_ec_key_new(c->nid)) == NULL ||
		    EC_KEY_generate_key(pk->ec) != 1) {
			r = ks_ossl_fail(KMES_ERR_CRYPTO);
			goto out;
		}
		pk->qlen = EC_POINT_point2oct(EC_KEY_get0_group(pk->ec),
		    EC_KEY_get0_public_key(pk->ec),
		    POINT_CONVERSION_UNCOMPRESSED, pk->q, sizeof(pk->q), NULL);
		if (pk->qlen != 1 + 2 * c->flen) {
			r = ks_ossl_fail(KMES_ERR_CRYPTO);
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
