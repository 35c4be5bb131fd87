/*
 * crypto-int.h: the seam between keyblob.c (SSH wire formats, no OpenSSL)
 * and crypto-ossl*.c (the OpenSSL backend), and the base64 codec keyblob.c
 * and keyfile.c share. Private to keystore/; nothing outside it includes
 * this header.
 *
 * A struct ks_pkey is the bare cryptographic key: a public key, and the
 * private half when there is one. It knows nothing of certificates, names or
 * blobs; keyblob.c wraps it in a struct ks_key.
 */
#ifndef KMES_CRYPTO_INT_H
#define KMES_CRYPTO_INT_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

struct kbuf;
struct ks_pkey;

/* Largest data ks_key_sign and ks_key_verify accept, as OpenSSH. */
#define KS_SIGN_DATA_MAX (1024 * 1024)

/* RSA modulus limits: OpenSSH refuses < 1024, the wire caps at 16384. */
#define KS_RSA_MIN_BITS 1024
#define KS_RSA_MAX_BITS 16384
#define KS_RSA_DEFAULT_BITS 3072

#define KS_ED25519_PK_LEN 32
#define KS_ED25519_SEED_LEN 32
#define KS_ED25519_SK_LEN 64 /* seed || public key, as OpenSSH keeps it */
#define KS_ED25519_SIG_LEN 64

enum ks_hash {
	KS_HASH_NONE = 0, /* Ed25519 signs the message itself */
	KS_HASH_SHA1,
	KS_HASH_SHA256,
	KS_HASH_SHA384,
	KS_HASH_SHA512,
	KS_HASH_MD5, /* fingerprints only */
};

#define KS_HASH_MAX_LEN 64

/* One SSH wire element of a key, as ks_pkey_put appends it. */
enum ks_part {
	KS_PART_ED25519_PK, /* string: 32-byte public key */
	KS_PART_ED25519_SK, /* string: seed || public key */
	KS_PART_EC_Q,	    /* string: uncompressed point */
	KS_PART_EC_D,	    /* mpint: private scalar */
	KS_PART_RSA_E,	    /* mpint */
	KS_PART_RSA_N,	    /* mpint */
	KS_PART_RSA_D,	    /* mpint */
	KS_PART_RSA_IQMP,   /* mpint: q^-1 mod p */
	KS_PART_RSA_P,	    /* mpint */
	KS_PART_RSA_Q,	    /* mpint */
};

/* A big-endian unsigned magnitude borrowed from a wire buffer. */
struct ks_num {
	const uint8_t *p;
	size_t len;
};

/* RSA private values in the order ssh-add sends them. */
struct ks_rsa_priv {
	struct ks_num d, iqmp, p, q;
};

/*
 * Constructors. Each validates what it is given and returns 0 or a negative
 * KMES_ERR_* (KMES_ERR_KEY_INVALID for a malformed public value,
 * KMES_ERR_KEY_MISMATCH when the private half does not match the public).
 * seed, d and priv may be NULL for a public-only key.
 */
int ks_pkey_ed25519(const uint8_t *pk, size_t pklen, const uint8_t *seed,
    struct ks_pkey **pkp) __attribute__((warn_unused_result));
int ks_pkey_ecdsa(enum ks_key_type type, const uint8_t *q, size_t qlen,
    const struct ks_num *d, struct ks_pkey **pkp)
    __attribute__((warn_unused_result));
int ks_pkey_rsa(const struct ks_num *n, const struct ks_num *e,
    const struct ks_rsa_priv *priv, struct ks_pkey **pkp)
    __attribute__((warn_unused_result));

/* Generates a private key. Returns 0 or a negative KMES_ERR_*. */
int ks_pkey_generate(enum ks_key_type type, unsigned int bits,
    struct ks_pkey **pkp) __attribute__((warn_unused_result));

/* Wipes and frees pk; accepts NULL. */
void ks_pkey_free(struct ks_pkey *pk);

int ks_pkey_has_private(const struct ks_pkey *pk);
unsigned int ks_pkey_bits(const struct ks_pkey *pk);

/* Appends one wire element of pk to b. Returns 0 or a negative KMES_ERR_*. */
int ks_pkey_put(const struct ks_pkey *pk, enum ks_part part, struct kbuf *b);

/*
 * Signs data and appends the raw signature as one SSH string: 64 bytes for
 * Ed25519, modulus-length bytes for RSA, (mpint r, mpint s) for ECDSA.
 * Returns 0 or a negative KMES_ERR_*; b may hold a partial string on error.
 */
int ks_pkey_sign(const struct ks_pkey *pk, enum ks_hash hash,
    const uint8_t *data, size_t dlen, struct kbuf *b)
    __attribute__((warn_unused_result));

/*
 * Verifies the contents of such a raw signature string. Returns 0 if valid,
 * else a negative KMES_ERR_*.
 */
int ks_pkey_verify(const struct ks_pkey *pk, enum ks_hash hash,
    const uint8_t *sig, size_t slen, const uint8_t *data, size_t dlen)
    __attribute__((warn_unused_result));

/* Hashes data into out (outlen >= KS_HASH_MAX_LEN); *lenp gets the size. */
int ks_digest(enum ks_hash hash, const void *data, size_t len, uint8_t *out,
    size_t outlen, size_t *lenp) __attribute__((warn_unused_result));

/*
 * Writes the base64 of len bytes at p into out as a NUL-terminated string,
 * with '=' padding if pad is set. Returns 0 or KMES_ERR_NO_BUFFER_SPACE.
 */
int ks_b64_encode(const uint8_t *p, size_t len, int pad, char *out,
    size_t outlen);

/* A strict base64 decoder fed one character at a time (base64.c). */
struct ks_b64 {
	uint32_t acc;
	unsigned int n;	  /* characters of the current quantum */
	unsigned int pad; /* '=' seen */
};

/*
 * Feeds c (from a zeroed st) and appends each completed quantum to out.
 * Returns 0, KMES_ERR_INVALID_FORMAT for a character or '=' out of place or
 * nonzero dropped bits, or kbuf's error.
 */
int ks_b64_feed(struct ks_b64 *st, char c, struct kbuf *out)
    __attribute__((warn_unused_result));

/*
 * Ends the text: with padded set a short last quantum is refused, else it
 * is decoded if it stands without '='. Returns 0 or a negative KMES_ERR_*.
 */
int ks_b64_end(struct ks_b64 *st, int padded, struct kbuf *out)
    __attribute__((warn_unused_result));

/*
 * Appends the decoding of the len characters at s (no white space, '='
 * padding optional) to out. Returns 0 or a negative KMES_ERR_*.
 */
int ks_b64_decode(const char *s, size_t len, struct kbuf *out)
    __attribute__((warn_unused_result));

#endif /* KMES_CRYPTO_INT_H */
