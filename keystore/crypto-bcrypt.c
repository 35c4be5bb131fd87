/*
 * crypto-bcrypt.c: the OpenSSL half of key file import (keyfile.c holds the
 * OpenSSL-free parsing): OpenSSH's bcrypt_pbkdf, the ciphers of the
 * openssh-key-v1 private section, and PEM / PKCS#8 private keys.
 *
 * bcrypt_pbkdf needs the "expensive key schedule" of Blowfish, reseeded
 * with salt between block encryptions. No EVP interface exposes a Blowfish
 * schedule, so this file uses the deprecated BF_KEY / BF_encrypt as the raw
 * block function over P and S arrays it fills itself (hence
 * OPENSSL_SUPPRESS_DEPRECATED, for those two names only).
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* BF_KEY, BF_encrypt: see above */

#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <openssl/blowfish.h>
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

/* bcrypt_pbkdf. */

#define BF_NWORDS (BF_ROUNDS + 2 + 4 * 256)	/* P then the four S-boxes */
#define PI_GUARD_BITS 64
#define SHA512_LEN 64
#define BCRYPT_WORDS 8
#define BCRYPT_HASH_LEN (BCRYPT_WORDS * 4)
#define BCRYPT_EXPAND_ROUNDS 64

/*
 * Blowfish's initial P and S are the hexadecimal digits of pi's fraction.
 * OpenSSL keeps its copy private, so compute them once rather than carry a
 * 4 KiB table whose typos nothing would catch; a self-check pins them.
 */
static BF_LONG bf_pi[BF_NWORDS];
static int bf_pi_ok;
static pthread_once_t bf_pi_once = PTHREAD_ONCE_INIT;

static uint32_t
load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Sets sum to floor-ish 2^bits * atan(1/x) by Gregory's series. */
static int
atan_inv(BIGNUM *sum, BN_ULONG x, int bits)
{
	BIGNUM *term = NULL, *t = NULL;
	BN_ULONG k;
	int ok = 0;

	if ((term = BN_new()) == NULL || (t = BN_new()) == NULL)
		goto out;
	BN_zero(sum);
	if (!BN_set_word(term, 1) || !BN_lshift(term, term, bits) ||
	    BN_div_word(term, x) == (BN_ULONG)-1)
		goto out;
	/* Each step truncates: the error stays far below the guard bits. */
	for (k = 0; !BN_is_zero(term); k++) {
		if (BN_copy(t, term) == NULL ||
		    BN_div_word(t, 2 * k + 1) == (BN_ULONG)-1)
			goto out;
		if ((k & 1) ? !BN_sub(sum, sum, t) : !BN_add(sum, sum, t))
			goto out;
		if (BN_div_word(term, x * x) == (BN_ULONG)-1)
			goto out;
	}
	ok = 1;
 out:
	BN_free(term);
	BN_free(t);
	return ok;
}

static void
bf_pi_compute(void)
{
	BIGNUM *a = NULL, *b = NULL;
	uint8_t digits[BF_NWORDS * 4];
	const int bits = BF_NWORDS * 32 + PI_GUARD_BITS;
	size_t i;

	/* Machin: pi = 16 atan(1/5) - 4 atan(1/239); keep the fraction. */
	if ((a = BN_new()) == NULL || (b = BN_new()) == NULL ||
	    !atan_inv(a, 5, bits) || !atan_inv(b, 239, bits) ||
	    !BN_mul_word(a, 16) || !BN_mul_word(b, 4) || !BN_sub(a, a, b) ||
	    !BN_mask_bits(a, bits) || !BN_rshift(a, a, PI_GUARD_BITS) ||
	    BN_bn2binpad(a, digits, sizeof(digits)) != (int)sizeof(digits))
		goto out;
	for (i = 0; i < BF_NWORDS; i++)
		bf_pi[i] = load_be32(digits + 4 * i);
	/* First P word, first and last S words, as the Blowfish paper has. */
	bf_pi_ok = bf_pi[0] == 0x243f6a88 &&
	    bf_pi[BF_ROUNDS + 2] == 0xd1310ba6 &&
	    bf_pi[BF_NWORDS - 1] == 0x3ac372e6;
 out:
	BN_free(a);
	BN_free(b);
	ERR_clear_error();
}

/* Reads a big-endian word from d, cycling over its len bytes. */
static uint32_t
stream_word(const uint8_t *d, size_t len, size_t *j)
{
	uint32_t w = 0;
	int i;

	for (i = 0; i < 4; i++) {
		w = w << 8 | d[*j];
		if (++*j >= len)
			*j = 0;
	}
	return w;
}

/*
 * The eksblowfish expansion: key into P, then a running block, mixed with
 * salt words when salt is not NULL, re-encrypted to refill P and S.
 */
static void
bf_expand(BF_KEY *bf, const uint8_t *salt, size_t saltlen, const uint8_t *key,
    size_t keylen)
{
	BF_LONG blk[2] = { 0, 0 };
	BF_LONG *dst;
	size_t i, j = 0;

	for (i = 0; i < BF_ROUNDS + 2; i++)
		bf->P[i] ^= stream_word(key, keylen, &j);
	j = 0;
	for (i = 0; i < BF_NWORDS; i += 2) {
		if (salt != NULL) {
			blk[0] ^= stream_word(salt, saltlen, &j);
			blk[1] ^= stream_word(salt, saltlen, &j);
		}
		BF_encrypt(blk, bf);
		dst = i < BF_ROUNDS + 2 ? &bf->P[i] : &bf->S[i - BF_ROUNDS - 2];
		dst[0] = blk[0];
		dst[1] = blk[1];
	}
	kmes_wipe(blk, sizeof(blk));
}

/* Everything derived from the passphrase, kept in locked memory. */
struct bcrypt_state {
	BF_KEY bf;
	BF_LONG cdata[BCRYPT_WORDS];
	uint8_t sha2pass[SHA512_LEN];
	uint8_t sha2salt[SHA512_LEN];
	uint8_t tmpout[BCRYPT_HASH_LEN];
	uint8_t out[BCRYPT_HASH_LEN];
};

/* One bcrypt_hash of st->sha2pass and st->sha2salt into st->tmpout. */
static void
bcrypt_hash(struct bcrypt_state *st)
{
	static const uint8_t magic[BCRYPT_HASH_LEN] =
	    "OxychromaticBlowfishSwatDynamite";
	size_t i, j;

	memcpy(st->bf.P, bf_pi, sizeof(st->bf.P));
	memcpy(st->bf.S, bf_pi + BF_ROUNDS + 2, sizeof(st->bf.S));
	bf_expand(&st->bf, st->sha2salt, SHA512_LEN, st->sha2pass, SHA512_LEN);
	for (i = 0; i < BCRYPT_EXPAND_ROUNDS; i++) {
		bf_expand(&st->bf, NULL, 0, st->sha2salt, SHA512_LEN);
		bf_expand(&st->bf, NULL, 0, st->sha2pass, SHA512_LEN);
	}
	j = 0;
	for (i = 0; i < BCRYPT_WORDS; i++)
		st->cdata[i] = stream_word(magic, sizeof(magic), &j);
	for (i = 0; i < BCRYPT_EXPAND_ROUNDS; i++) {
		for (j = 0; j < BCRYPT_WORDS; j += 2)
			BF_encrypt(&st->cdata[j], &st->bf);
	}
	/* Little-endian output: OpenSSH's files depend on this quirk. */
	for (i = 0; i < BCRYPT_WORDS; i++) {
		st->tmpout[4 * i] = (uint8_t)st->cdata[i];
		st->tmpout[4 * i + 1] = (uint8_t)(st->cdata[i] >> 8);
		st->tmpout[4 * i + 2] = (uint8_t)(st->cdata[i] >> 16);
		st->tmpout[4 * i + 3] = (uint8_t)(st->cdata[i] >> 24);
	}
}

static int
sha512(EVP_MD_CTX *ctx, const EVP_MD *md, const uint8_t *a, size_t alen,
    const uint8_t *b, size_t blen, uint8_t out[SHA512_LEN])
{
	unsigned int n = 0;

	if (EVP_DigestInit_ex(ctx, md, NULL) != 1 ||
	    EVP_DigestUpdate(ctx, a, alen) != 1 ||
	    (blen != 0 && EVP_DigestUpdate(ctx, b, blen) != 1) ||
	    EVP_DigestFinal_ex(ctx, out, &n) != 1 || n != SHA512_LEN)
		return KMES_ERR_CRYPTO;
	return 0;
}

int
ks_bcrypt_pbkdf(const uint8_t *pass, size_t passlen, const uint8_t *salt,
    size_t saltlen, unsigned int rounds, uint8_t *key, size_t keylen)
{
	struct bcrypt_state *st = NULL;
	EVP_MD *md = NULL;
	EVP_MD_CTX *ctx = NULL;
	uint8_t cnt[4];
	size_t stride, amt, left, i, dest;
	uint32_t count;
	unsigned int n;
	int r;

	if (passlen == 0 || saltlen == 0 || saltlen > KS_BCRYPT_SALT_MAX ||
	    keylen == 0 || keylen > KS_BCRYPT_KEY_MAX || rounds < 1 ||
	    rounds > KS_BCRYPT_ROUNDS_MAX)
		return KMES_ERR_INVALID_ARGUMENT;
	kmes_wipe(key, keylen);
	(void)pthread_once(&bf_pi_once, bf_pi_compute);
	if (!bf_pi_ok)
		return KMES_ERR_INTERNAL;
	if ((st = kmes_secure_alloc(sizeof(*st))) == NULL ||
	    (ctx = EVP_MD_CTX_new()) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	if ((md = EVP_MD_fetch(NULL, "SHA512", NULL)) == NULL) {
		r = KMES_ERR_CRYPTO;
		goto out;
	}
	if ((r = sha512(ctx, md, pass, passlen, NULL, 0, st->sha2pass)) != 0)
		goto out;
	/* Output bytes are spread with this stride over the blocks. */
	stride = (keylen + BCRYPT_HASH_LEN - 1) / BCRYPT_HASH_LEN;
	amt = (keylen + stride - 1) / stride;
	for (count = 1, left = keylen; left > 0; count++) {
		cnt[0] = (uint8_t)(count >> 24);
		cnt[1] = (uint8_t)(count >> 16);
		cnt[2] = (uint8_t)(count >> 8);
		cnt[3] = (uint8_t)count;
		if ((r = sha512(ctx, md, salt, saltlen, cnt, sizeof(cnt),
		    st->sha2salt)) != 0)
			goto out;
		bcrypt_hash(st);
		memcpy(st->out, st->tmpout, sizeof(st->out));
		for (n = 1; n < rounds; n++) {
			if ((r = sha512(ctx, md, st->tmpout,
			    sizeof(st->tmpout), NULL, 0, st->sha2salt)) != 0)
				goto out;
			bcrypt_hash(st);
			for (i = 0; i < sizeof(st->out); i++)
				st->out[i] ^= st->tmpout[i];
		}
		if (amt > left)
			amt = left;
		for (i = 0; i < amt; i++) {
			dest = i * stride + (count - 1);
			if (dest >= keylen)
				break;
			key[dest] = st->out[i];
		}
		if (i == 0) {
			/* Cannot happen: stride <= keylen. */
			r = KMES_ERR_INTERNAL;
			goto out;
		}
		left -= i;
	}
	r = 0;
 out:
	if (r != 0) {
		kmes_wipe(key, keylen);
		ERR_clear_error();
	}
	EVP_MD_CTX_free(ctx);	/* clears the hash state */
	EVP_MD_free(md);
	kmes_secure_free(st);
	return r;
}

/* openssh-key-v1 ciphers. */

enum {
	KF_NONE,
	KF_EVP,		/* AES CTR and CBC: OpenSSL, no padding */
	KF_GCM,
	KF_CHACHAPOLY,
};

static const struct ks_kf_cipher kf_ciphers[] = {
	{ "none", 0, 0, 8, 0, KF_NONE },
	{ "aes128-ctr", 16, 16, 16, 0, KF_EVP },
	{ "aes192-ctr", 24, 16, 16, 0, KF_EVP },
	{ "aes256-ctr", 32, 16, 16, 0, KF_EVP },
	{ "aes128-cbc", 16, 16, 16, 0, KF_EVP },
	{ "aes192-cbc", 24, 16, 16, 0, KF_EVP },
	{ "aes256-cbc", 32, 16, 16, 0, KF_EVP },
	{ "aes128-gcm@openssh.com", 16, 12, 16, 16, KF_GCM },
	{ "aes256-gcm@openssh.com", 32, 12, 16, 16, KF_GCM },
	{ "chacha20-poly1305@openssh.com", 64, 0, 8, 16, KF_CHACHAPOLY },
};

/* OpenSSL's names for the entries above, in the same order. */
static const char *const kf_evp_names[] = {
	NULL, "AES-128-CTR", "AES-192-CTR", "AES-256-CTR", "AES-128-CBC",
	"AES-192-CBC", "AES-256-CBC", "AES-128-GCM", "AES-256-GCM", "ChaCha20",
};

#define NKF_CIPHERS (sizeof(kf_ciphers) / sizeof(kf_ciphers[0]))

#define POLY1305_KEY_LEN 32
#define POLY1305_TAG_LEN 16
#define CHACHA_KEY_LEN 32
#define CHACHA_IV_LEN 16

const struct ks_kf_cipher *
ks_kf_cipher_lookup(const char *name)
{
	size_t i;

	for (i = 0; i < NKF_CIPHERS; i++) {
		if (strcmp(kf_ciphers[i].name, name) == 0)
			return &kf_ciphers[i];
	}
	return NULL;
}

/* Runs one OpenSSL cipher without padding; tag is set for GCM. */
static int
evp_decrypt(const char *alg, const uint8_t *key, const uint8_t *iv,
    const uint8_t *in, size_t len, const uint8_t *tag, size_t taglen,
    uint8_t *out)
{
	EVP_CIPHER *cipher = NULL;
	EVP_CIPHER_CTX *ctx = NULL;
	int outl = 0, fin = 0, r;

	if (len > INT_MAX)
		return KMES_ERR_INVALID_ARGUMENT;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	if ((cipher = EVP_CIPHER_fetch(NULL, alg, NULL)) == NULL ||
	    EVP_DecryptInit_ex2(ctx, cipher, key, iv, NULL) != 1 ||
	    EVP_CIPHER_CTX_set_padding(ctx, 0) != 1 ||
	    (tag != NULL && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG,
	    (int)taglen, (void *)tag) != 1) ||
	    EVP_DecryptUpdate(ctx, out, &outl, in, (int)len) != 1) {
		r = KMES_ERR_CRYPTO;
		goto out;
	}
	if (EVP_DecryptFinal_ex(ctx, out + outl, &fin) != 1) {
		/* For GCM, a wrong key is the likely cause: bad passphrase. */
		r = tag != NULL ? KMES_ERR_PASSPHRASE_INCORRECT :
		    KMES_ERR_CRYPTO;
		goto out;
	}
	if ((size_t)outl + (size_t)fin != len) {
		r = KMES_ERR_CRYPTO;
		goto out;
	}
	r = 0;
 out:
	if (r != 0) {
		kmes_wipe(out, len);
		ERR_clear_error();
	}
	EVP_CIPHER_CTX_free(ctx);	/* clears the key schedule */
	EVP_CIPHER_free(cipher);
	return r;
}

/* The Poly1305 key and computed tag. */
struct chachapoly_state {
	uint8_t polykey[POLY1305_KEY_LEN];
	uint8_t mac[POLY1305_TAG_LEN];
	uint8_t iv[CHACHA_IV_LEN];
};

/*
 * OpenSSH's chacha20-poly1305 at sequence number 0, as ssh-keygen uses it:
 * the first 32 key bytes give the Poly1305 key (keystream block 0) and
 * encrypt the data (from block 1); the other 32 bytes only ever encrypt
 * packet lengths, which a key file does not have. OpenSSL's 16-byte ChaCha20
 * IV is the little-endian block counter followed by the (all-zero) nonce.
 */
static int
chachapoly_decrypt(const uint8_t *key, const uint8_t *in, size_t len,
    const uint8_t *tag, uint8_t *out)
{
	static const uint8_t zeros[POLY1305_KEY_LEN];
	struct chachapoly_state *st = NULL;
	EVP_MAC *mac = NULL;
	EVP_MAC_CTX *mctx = NULL;
	size_t maclen = 0;
	int r;

	if ((st = kmes_secure_alloc(sizeof(*st))) == NULL)
		return KMES_ERR_ALLOC;
	if ((r = evp_decrypt("ChaCha20", key, st->iv, zeros, sizeof(zeros),
	    NULL, 0, st->polykey)) != 0)
		goto out;
	if ((mac = EVP_MAC_fetch(NULL, "POLY1305", NULL)) == NULL ||
	    (mctx = EVP_MAC_CTX_new(mac)) == NULL ||
	    EVP_MAC_init(mctx, st->polykey, sizeof(st->polykey), NULL) != 1 ||
	    EVP_MAC_update(mctx, in, len) != 1 ||
	    EVP_MAC_final(mctx, st->mac, &maclen, sizeof(st->mac)) != 1 ||
	    maclen != sizeof(st->mac)) {
		r = KMES_ERR_CRYPTO;
		goto out;
	}
	if (CRYPTO_memcmp(st->mac, tag, sizeof(st->mac)) != 0) {
		r = KMES_ERR_PASSPHRASE_INCORRECT;
		goto out;
	}
	st->iv[0] = 1;
	r = evp_decrypt("ChaCha20", key, st->iv, in, len, NULL, 0, out);
 out:
	if (r != 0)
		ERR_clear_error();
	EVP_MAC_CTX_free(mctx);
	EVP_MAC_free(mac);
	kmes_secure_free(st);
	return r;
}

int
ks_kf_decrypt(const struct ks_kf_cipher *c, const uint8_t *keyiv,
    const uint8_t *in, size_t len, const uint8_t *tag, uint8_t *out)
{
	size_t i;

	/* Only our own table's entries: mode and the names are ours. */
	for (i = 0; i < NKF_CIPHERS && c != &kf_ciphers[i]; i++)
		;
	if (i == NKF_CIPHERS || len % c->block_size != 0)
		return KMES_ERR_INVALID_ARGUMENT;
	switch (c->mode) {
	case KF_NONE:
		if (len != 0)
			memcpy(out, in, len);
		return 0;
	case KF_EVP:
		return evp_decrypt(kf_evp_names[i], keyiv, keyiv + c->key_len,
		    in, len, NULL, 0, out);
	case KF_GCM:
		return evp_decrypt(kf_evp_names[i], keyiv, keyiv + c->key_len,
		    in, len, tag, c->tag_len, out);
	case KF_CHACHAPOLY:
		return chachapoly_decrypt(keyiv, in, len, tag, out);
	default:
		return KMES_ERR_INTERNAL;
	}
}

/* PEM and PKCS#8 private keys. */

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
		OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_E,
		OSSL_PKEY_PARAM_RSA_D, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
		OSSL_PKEY_PARAM_RSA_FACTOR1, OSSL_PKEY_PARAM_RSA_FACTOR2,
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
	const char *group;	/* OpenSSL's group name */
	const char *type;	/* SSH key type */
	const char *curve;	/* SSH curve identifier */
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
	params[0] = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_EC_PUB_X,
	    scratch, EC_FIELD_MAX + 8);
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
#define PKCS8_MAX_ITER 10000000		/* ~2.5 s of PBKDF2-SHA256 here */
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
			kdf = ASN1_TYPE_unpack_sequence(
			    ASN1_ITEM_rptr(PBKDF2PARAM),
			    pbe2->keyfunc->parameter);
			ok = kdf != NULL &&
			    asn1_int_le(kdf->iter, PKCS8_MAX_ITER, NULL);
		} else if (nid == NID_id_scrypt) {
			sp = ASN1_TYPE_unpack_sequence(
			    ASN1_ITEM_rptr(SCRYPT_PARAMS),
			    pbe2->keyfunc->parameter);
			ok = sp != NULL &&
			    asn1_int_le(sp->costParameter, PKCS8_MAX_SCRYPT_N,
			    &n) &&
			    asn1_int_le(sp->blockSize, 64, &r) &&
			    asn1_int_le(sp->parallelizationParameter, 16,
			    &p) &&
			    128UL * r * (n + p) <= PKCS8_MAX_SCRYPT_MEM;
		}
	} else {
		/* PKCS#5 v1.5 / PKCS#12 schemes carry a plain count. */
		pbe = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBEPARAM),
		    alg->parameter);
		ok = pbe != NULL && asn1_int_le(pbe->iter, PKCS8_MAX_ITER,
		    NULL);
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
		r = KMES_ERR_KEY_UNSUPPORTED;	/* DSA, RSA-PSS, X25519, ... */
 out:
	ERR_clear_error();
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	return r;
}
