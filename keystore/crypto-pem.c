/*
 * crypto-pem.c: PEM and PKCS#8 private keys (OpenSSL's own formats, as
 * openssl genpkey and ssh-keygen -m PEM write them) turned into the agent's
 * private key wire form, for key file import. An encrypted PKCS#8 file
 * whose KDF cost is above fixed caps is refused before any work, so a
 * hostile file cannot buy minutes of CPU or gigabytes of memory.
 */
#include <limits.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "crypto.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "secmem.h"

#define RSA_BYTES_MAX (16384 / 8)
#define EC_FIELD_MAX 66

struct pem_pass {
	const uint8_t *pass;
	size_t len;
	int asked;
};

static int
pem_pass_cb(char *buf, int size, int rwflag, void *u)
{
	struct pem_pass *pp = u;

	pp->asked = 1;
	if (pp->pass == NULL || size < 0 || pp->len > (size_t)size)
		return -1;
	memcpy(buf, pp->pass, pp->len);
	return (int)pp->len;
}

/*
 * Turns a parameter OpenSSL wrote in native byte order into big-endian in
 * place and returns it in *bep, *lenp.
 */
static int
param_be(OSSL_PARAM *p, const uint8_t **bep, size_t *lenp)
{
	const uint16_t one = 1;
	uint8_t *d = p->data, lsb, t;
	size_t n = p->return_size, i;

	*bep = NULL;
	*lenp = 0;
	if (!OSSL_PARAM_modified(p) || n == 0 || n > p->data_size)
		return KMES_ERR_KEY_INVALID;
	memcpy(&lsb, &one, 1);
	if (lsb == 1) {
		for (i = 0; i < n / 2; i++) {
			t = d[i];
			d[i] = d[n - 1 - i];
			d[n - 1 - i] = t;
		}
	}
	*bep = d;
	*lenp = n;
	return 0;
}

static int
put_param_mpint(struct kbuf *b, OSSL_PARAM *p)
{
	const uint8_t *be;
	size_t len;
	int r;

	if ((r = param_be(p, &be, &len)) != 0)
		return r;
	return kbuf_put_mpint(b, be, len);
}

/* Appends n big-endian bytes as exactly flen, refusing a wider value. */
static int
put_fixed(struct kbuf *b, const uint8_t *be, size_t n, size_t flen)
{
	size_t pad;
	int r;

	for (; n > flen; n--, be++) {
		if (*be != 0)
			return KMES_ERR_KEY_INVALID;
	}
	for (pad = flen - n; pad > 0; pad--) {
		if ((r = kbuf_put_u8(b, 0)) != 0)
			return r;
	}
	return kbuf_put(b, be, n);
}

static int
pem_put_rsa(EVP_PKEY *pkey, struct kbuf *b)
{
	/* The ADD_IDENTITY order: n e d iqmp p q. */
	static const char *const names[] = {
		OSSL_PKEY_PARAM_RSA_N,
		OSSL_PKEY_PARAM_RSA_E,
		OSSL_PKEY_PARAM_RSA_D,
		OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
		OSSL_PKEY_PARAM_RSA_FACTOR1,
		OSSL_PKEY_PARAM_RSA_FACTOR2,
		OSSL_PKEY_PARAM_RSA_FACTOR3,
	};
	const size_t nnames = sizeof(names) / sizeof(names[0]);
	OSSL_PARAM params[sizeof(names) / sizeof(names[0]) + 1];
	uint8_t *scratch = NULL;
	size_t i;
	int r;

	/* OpenSSL writes the secret values straight into locked memory. */
	if ((scratch = kmes_secure_alloc(nnames * RSA_BYTES_MAX)) == NULL)
		return KMES_ERR_ALLOC;
	for (i = 0; i < nnames; i++) {
		params[i] = OSSL_PARAM_construct_BN(names[i],
		    scratch + i * RSA_BYTES_MAX, RSA_BYTES_MAX);
	}
	params[nnames] = OSSL_PARAM_construct_end();
	if (EVP_PKEY_get_params(pkey, params) != 1) {
		/* e.g. a modulus over 16384 bits */
		r = KMES_ERR_KEY_UNSUPPORTED;
		goto out;
	}
	/* A third prime means multi-prime RSA, which SSH cannot carry. */
	if (OSSL_PARAM_modified(&params[nnames - 1])) {
		r = KMES_ERR_KEY_UNSUPPORTED;
		goto out;
	}
	if ((r = kbuf_put_cstring(b, "ssh-rsa")) != 0)
		goto out;
	for (i = 0; i < nnames - 1; i++) {
		if ((r = put_param_mpint(b, &params[i])) != 0)
			goto out;
	}
	r = 0;
out:
	kmes_secure_free(scratch);
	return r;
}

struct pem_curve {
	const char *group; /* OpenSSL's group name */
	const char *type;  /* SSH key type */
	const char *curve; /* SSH curve identifier */
	size_t flen;
};

static const struct pem_curve pem_curves[] = {
	{ "prime256v1", "ecdsa-sha2-nistp256", "nistp256", 32 },
	{ "secp384r1", "ecdsa-sha2-nistp384", "nistp384", 48 },
	{ "secp521r1", "ecdsa-sha2-nistp521", "nistp521", 66 },
};

static int
pem_put_ecdsa(EVP_PKEY *pkey, struct kbuf *b)
{
	const struct pem_curve *c = NULL;
	OSSL_PARAM params[4];
	uint8_t *scratch = NULL;
	const uint8_t *x, *y;
	char group[64];
	size_t i, xlen, ylen;
	int r;

	if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
		group, sizeof(group), NULL) != 1)
		return KMES_ERR_KEY_UNSUPPORTED; /* explicit curve parameters */
	for (i = 0; i < sizeof(pem_curves) / sizeof(pem_curves[0]); i++) {
		if (strcmp(group, pem_curves[i].group) == 0)
			c = &pem_curves[i];
	}
	if (c == NULL)
		return KMES_ERR_KEY_UNSUPPORTED;
	if ((scratch = kmes_secure_alloc(3 * (EC_FIELD_MAX + 8))) == NULL)
		return KMES_ERR_ALLOC;
	params[0] = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_EC_PUB_X, scratch,
	    EC_FIELD_MAX + 8);
	params[1] = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_EC_PUB_Y,
	    scratch + (EC_FIELD_MAX + 8), EC_FIELD_MAX + 8);
	params[2] = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_PRIV_KEY,
	    scratch + 2 * (EC_FIELD_MAX + 8), EC_FIELD_MAX + 8);
	params[3] = OSSL_PARAM_construct_end();
	if (EVP_PKEY_get_params(pkey, params) != 1) {
		r = KMES_ERR_KEY_INVALID;
		goto out;
	}
	if ((r = param_be(&params[0], &x, &xlen)) != 0 ||
	    (r = param_be(&params[1], &y, &ylen)) != 0)
		goto out;
	/* The uncompressed point, as the SSH wire carries it. */
	if ((r = kbuf_put_cstring(b, c->type)) != 0 ||
	    (r = kbuf_put_cstring(b, c->curve)) != 0 ||
	    (r = kbuf_put_u32(b, (uint32_t)(1 + 2 * c->flen))) != 0 ||
	    (r = kbuf_put_u8(b, 0x04)) != 0 ||
	    (r = put_fixed(b, x, xlen, c->flen)) != 0 ||
	    (r = put_fixed(b, y, ylen, c->flen)) != 0 ||
	    (r = put_param_mpint(b, &params[2])) != 0)
		goto out;
	r = 0;
out:
	kmes_secure_free(scratch);
	return r;
}

static int
pem_put_ed25519(EVP_PKEY *pkey, struct kbuf *b)
{
	uint8_t pk[32], *seed;
	size_t pklen = sizeof(pk), seedlen = 32;
	int r;

	if (EVP_PKEY_get_raw_public_key(pkey, pk, &pklen) != 1 ||
	    pklen != sizeof(pk))
		return KMES_ERR_KEY_INVALID;
	/* The secret half is "seed || public key"; the seed goes in place. */
	if ((r = kbuf_put_cstring(b, "ssh-ed25519")) != 0 ||
	    (r = kbuf_put_string(b, pk, sizeof(pk))) != 0 ||
	    (r = kbuf_put_u32(b, 64)) != 0 ||
	    (r = kbuf_reserve(b, seedlen, &seed)) != 0)
		return r;
	if (EVP_PKEY_get_raw_private_key(pkey, seed, &seedlen) != 1 ||
	    seedlen != 32)
		return KMES_ERR_KEY_INVALID;
	return kbuf_put(b, pk, sizeof(pk));
}

/*
 * Ceilings on the key-derivation cost an encrypted PKCS#8 file may ask for:
 * the file names its own PBKDF2 iterations or scrypt parameters, and OpenSSL
 * would spend whatever it says (2^31 PBKDF2 rounds is minutes of CPU).
 */
#define PKCS8_MAX_ITER 10000000 /* ~2.5 s of PBKDF2-SHA256 here */
#define PKCS8_MAX_SCRYPT_N (1UL << 20)
#define PKCS8_MAX_SCRYPT_MEM (256UL * 1024 * 1024)

static int
asn1_int_le(const ASN1_INTEGER *a, unsigned long max, unsigned long *v)
{
	long x;

	if (a == NULL || (x = ASN1_INTEGER_get(a)) <= 0 ||
	    (unsigned long)x > max)
		return 0;
	if (v != NULL)
		*v = (unsigned long)x;
	return 1;
}

/* Refuses an encrypted PKCS#8 block whose KDF cost is above the caps. */
static int
pkcs8_cost_ok(const uint8_t *data, size_t len)
{
	static const char tag[] = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
	const X509_ALGOR *alg = NULL;
	const ASN1_OBJECT *obj;
	X509_SIG *p8 = NULL;
	PBE2PARAM *pbe2 = NULL;
	PBKDF2PARAM *kdf = NULL;
	SCRYPT_PARAMS *sp = NULL;
	PBEPARAM *pbe = NULL;
	BIO *bio = NULL;
	unsigned long n, r, p;
	int ok = 0, nid;

	if (memmem(data, len, tag, sizeof(tag) - 1) == NULL)
		return 1;
	if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL ||
	    (p8 = PEM_read_bio_PKCS8(bio, NULL, NULL, NULL)) == NULL)
		goto out;
	X509_SIG_get0(p8, &alg, NULL);
	X509_ALGOR_get0(&obj, NULL, NULL, alg);
	nid = OBJ_obj2nid(obj);
	if (nid == NID_pbes2) {
		if ((pbe2 = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM),
			 alg->parameter)) == NULL)
			goto out;
		nid = OBJ_obj2nid(pbe2->keyfunc->algorithm);
		if (nid == NID_id_pbkdf2) {
			kdf = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(
							    PBKDF2PARAM),
			    pbe2->keyfunc->parameter);
			ok = kdf != NULL &&
			    asn1_int_le(kdf->iter, PKCS8_MAX_ITER, NULL);
		} else if (nid == NID_id_scrypt) {
			sp = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(
							   SCRYPT_PARAMS),
			    pbe2->keyfunc->parameter);
			ok = sp != NULL &&
			    asn1_int_le(sp->costParameter, PKCS8_MAX_SCRYPT_N,
				&n) &&
			    asn1_int_le(sp->blockSize, 64, &r) &&
			    asn1_int_le(sp->parallelizationParameter, 16, &p) &&
			    128UL * r * (n + p) <= PKCS8_MAX_SCRYPT_MEM;
		}
	} else {
		/* PKCS#5 v1.5 / PKCS#12 schemes carry a plain count. */
		pbe = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBEPARAM),
		    alg->parameter);
		ok = pbe != NULL &&
		    asn1_int_le(pbe->iter, PKCS8_MAX_ITER, NULL);
	}
out:
	PBE2PARAM_free(pbe2);
	PBKDF2PARAM_free(kdf);
	SCRYPT_PARAMS_free(sp);
	PBEPARAM_free(pbe);
	X509_SIG_free(p8);
	BIO_free(bio);
	ERR_clear_error();
	return ok;
}

int
ks_pem_private_to_wire(const uint8_t *data, size_t len,
    const uint8_t *passphrase, size_t passlen, struct kbuf *b)
{
	struct pem_pass pp;
	BIO *bio = NULL;
	EVP_PKEY *pkey = NULL;
	int r;

	if (len > INT_MAX)
		return KMES_ERR_INVALID_ARGUMENT;
	pp.pass = passphrase;
	pp.len = passlen;
	pp.asked = 0;
	if (passphrase != NULL && !pkcs8_cost_ok(data, len))
		return KMES_ERR_KEY_UNSUPPORTED;
	if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	/*
	 * OpenSSL decodes the RSA and EC secrets and the Ed25519 seed into
	 * its secure heap once ks_crypto_init has run; the DER it passes
	 * through on the way sits in its ordinary heap, cleansed when freed.
	 */
	pkey = PEM_read_bio_PrivateKey_ex(bio, NULL, pem_pass_cb, &pp, NULL,
	    NULL);
	if (pkey == NULL) {
		if (!pp.asked)
			r = KMES_ERR_INVALID_FORMAT;
		else if (passphrase == NULL)
			r = KMES_ERR_PASSPHRASE_REQUIRED;
		else
			r = KMES_ERR_PASSPHRASE_INCORRECT;
		goto out;
	}
	if (EVP_PKEY_is_a(pkey, "ED25519"))
		r = pem_put_ed25519(pkey, b);
	else if (EVP_PKEY_is_a(pkey, "EC"))
		r = pem_put_ecdsa(pkey, b);
	else if (EVP_PKEY_is_a(pkey, "RSA"))
		r = pem_put_rsa(pkey, b);
	else
		r = KMES_ERR_KEY_UNSUPPORTED; /* DSA, RSA-PSS, X25519, ... */
out:
	ERR_clear_error();
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	return r;
}
