/*
 * crypto-bcrypt.c: the OpenSSL half of key file import (keyfile.c holds the
 * OpenSSL-free parsing): OpenSSH's bcrypt_pbkdf and the ciphers of the
 * openssh-key-v1 private section. PEM / PKCS#8 keys are crypto-pem.c's.
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
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "crypto.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "secmem.h"

/* bcrypt_pbkdf. */

#define BF_NWORDS (BF_ROUNDS + 2 + 4 * 256) /* P then the four S-boxes */
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
			if ((r = sha512(ctx, md, st->tmpout, sizeof(st->tmpout),
				 NULL, 0, st->sha2salt)) != 0)
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
	EVP_MD_CTX_free(ctx); /* clears the hash state */
	EVP_MD_free(md);
	kmes_secure_free(st);
	return r;
}

/* openssh-key-v1 ciphers. */

enum {
	KF_NONE,
	KF_EVP, /* AES CTR and CBC: OpenSSL, no padding */
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
	NULL,
	"AES-128-CTR",
	"AES-192-CTR",
	"AES-256-CTR",
	"AES-128-CBC",
	"AES-192-CBC",
	"AES-256-CBC",
	"AES-128-GCM",
	"AES-256-GCM",
	"ChaCha20",
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
	    (tag != NULL &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, (int)taglen,
		    (void *)tag) != 1) ||
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
	EVP_CIPHER_CTX_free(ctx); /* clears the key schedule */
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
