/*
 * crypto-ossl-int.h: what the OpenSSL backend's files share:
 * crypto-ossl.c (setup, hashes, random bytes, key objects and their wire
 * form), crypto-ossl-keys.c (keys built from wire values, and generated)
 * and crypto-ossl-sign.c (signing and verifying). Only they include it.
 */
#ifndef KMES_CRYPTO_OSSL_INT_H
#define KMES_CRYPTO_OSSL_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "crypto-int.h"

struct kbuf;

#define EC_POINT_MAX (1 + 2 * 66)
#define RSA_MOD_MAX (KS_RSA_MAX_BITS / 8)

struct ks_pkey {
	enum ks_key_type type;
	unsigned int bits;
	EVP_PKEY *pub; /* provider key for public operations */
	EVP_PKEY *ed;  /* Ed25519 private key (seed in the secure heap) */
	EC_KEY *ec;    /* ECDSA private key (scalar in the secure heap) */
	RSA *rsa;      /* RSA private key (secret BIGNUMs in the secure heap) */
	BIGNUM *n, *e; /* RSA public values */
	uint8_t q[EC_POINT_MAX]; /* ECDSA public point, uncompressed */
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
	size_t flen; /* field element bytes */
	enum ks_hash hash;
};

/* The ECDSA curve of a key type, or NULL for another type. */
const struct ks_curve *ks_ossl_curve_for(enum ks_key_type type);

/* Returns the curve's group order, or NULL. */
const BIGNUM *ks_ossl_curve_order(const struct ks_curve *c);

/* OpenSSL's name of a hash, or NULL (KS_HASH_NONE or unknown). */
const char *ks_ossl_md_name(enum ks_hash hash);

/* Drops OpenSSL's queued errors so they cannot surface in a later call,
 * and returns r. */
int ks_ossl_fail(int r);

/* A new key object of type with nothing in it, or NULL. */
struct ks_pkey *ks_ossl_pkey_new(enum ks_key_type type);

/* Wire size of bn as an SSH mpint, length field included. */
size_t ks_ossl_mpint_size(const BIGNUM *bn);

/*
 * Appends bn as an SSH mpint, converting straight into b's storage so that
 * no temporary copy of a secret value is left to wipe. Returns 0 or a
 * negative KMES_ERR_*.
 */
int ks_ossl_put_bn(struct kbuf *b, const BIGNUM *bn);

#endif /* KMES_CRYPTO_OSSL_INT_H */
