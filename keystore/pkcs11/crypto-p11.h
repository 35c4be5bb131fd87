/*
 * crypto-p11.h: the PKCS#11 module's own crypto primitives (crypto-p11.c),
 * built into libkmes-pkcs11.so only; the rest of keystore/ never calls
 * them. Like keystore/crypto.h, it keeps OpenSSL's types out of the
 * module's other files.
 */
#ifndef KMES_CRYPTO_P11_H
#define KMES_CRYPTO_P11_H

#include <stddef.h>
#include <stdint.h>

struct ks_key;

/*
 * The raw operations the module needs, where the application has already
 * hashed the message or built the PKCS#1 DigestInfo. A signer is a store
 * key rebuilt for them, its private values in OpenSSL's secure heap.
 */
enum ks_p11_hash {
	KS_P11_SHA1 = 1,
	KS_P11_SHA224,
	KS_P11_SHA256,
	KS_P11_SHA384,
	KS_P11_SHA512,
};

struct ks_p11_hash_ctx;
struct ks_p11_signer;

/* Returns the digest size of h in bytes, or 0 for an unknown hash. */
size_t ks_p11_hash_len(enum ks_p11_hash h);

/* Starts a running hash. Returns 0 or a negative KMES_ERR_*. */
int ks_p11_hash_new(enum ks_p11_hash h, struct ks_p11_hash_ctx **cp)
    __attribute__((warn_unused_result));

/* Hashes len more bytes. Returns 0 or a negative KMES_ERR_*. */
int ks_p11_hash_update(struct ks_p11_hash_ctx *c, const void *p, size_t len)
    __attribute__((warn_unused_result));

/* Writes the digest (once) into out; *lenp gets its size. Returns 0 or
 * a negative KMES_ERR_* (KMES_ERR_NO_BUFFER_SPACE if outlen is short). */
int ks_p11_hash_final(struct ks_p11_hash_ctx *c, uint8_t *out, size_t outlen,
    size_t *lenp) __attribute__((warn_unused_result));

/* Frees c; accepts NULL. */
void ks_p11_hash_free(struct ks_p11_hash_ctx *c);

/*
 * Builds a signer from k, which must hold a private key and not be a
 * certificate. Returns 0 or a negative KMES_ERR_*.
 */
int ks_p11_signer_new(const struct ks_key *k, struct ks_p11_signer **sp)
    __attribute__((warn_unused_result));

/* Wipes and frees s; accepts NULL. */
void ks_p11_signer_free(struct ks_p11_signer *s);

/* Returns the size of every signature s makes: the modulus size for RSA,
 * twice the group order's size for ECDSA, 64 for Ed25519. */
size_t ks_p11_sig_len(const struct ks_p11_signer *s);

/*
 * Each signer writes exactly siglen (== ks_p11_sig_len) bytes to sig and
 * returns 0 or a negative KMES_ERR_*.
 * rsa_pkcs1: PKCS#1 v1.5 type 1 padding of in (the caller's DigestInfo);
 * KMES_ERR_MESSAGE_TOO_LARGE if len + 11 exceeds the modulus size.
 * rsa_pss: RSASSA-PSS of the digest dg (dglen must be hash's size) with
 * MGF1 over mgf1 and a salt of saltlen bytes.
 * ecdsa: ECDSA over the digest dg, as r || s each padded to half of siglen.
 * ed25519: pure Ed25519 over the message msg.
 */
int ks_p11_sign_rsa_pkcs1(const struct ks_p11_signer *s, const uint8_t *in,
    size_t len, uint8_t *sig, size_t siglen)
    __attribute__((warn_unused_result));
int ks_p11_sign_rsa_pss(const struct ks_p11_signer *s, enum ks_p11_hash hash,
    enum ks_p11_hash mgf1, size_t saltlen, const uint8_t *dg, size_t dglen,
    uint8_t *sig, size_t siglen) __attribute__((warn_unused_result));
int ks_p11_sign_ecdsa(const struct ks_p11_signer *s, const uint8_t *dg,
    size_t dglen, uint8_t *sig, size_t siglen)
    __attribute__((warn_unused_result));
int ks_p11_sign_ed25519(const struct ks_p11_signer *s, const uint8_t *msg,
    size_t len, uint8_t *sig, size_t siglen)
    __attribute__((warn_unused_result));

/*
 * Verifiers: a signer holding only the public key
 * of an SSH public key blob, for C_Verify. ks_p11_sig_len and
 * ks_p11_signer_free serve it too. Returns 0 or a negative KMES_ERR_*.
 */
int ks_p11_verifier_new(const uint8_t *blob, size_t len,
    struct ks_p11_signer **sp) __attribute__((warn_unused_result));

/*
 * Each checks a signature of exactly siglen (== ks_p11_sig_len) bytes over
 * the same input its ks_p11_sign_* counterpart takes, and returns 0 if it
 * holds, KMES_ERR_SIGNATURE_INVALID if not, or another negative KMES_ERR_*
 * (rsa_pkcs1: KMES_ERR_MESSAGE_TOO_LARGE if len + 11 exceeds siglen).
 */
int ks_p11_verify_rsa_pkcs1(const struct ks_p11_signer *s, const uint8_t *in,
    size_t len, const uint8_t *sig, size_t siglen)
    __attribute__((warn_unused_result));
int ks_p11_verify_rsa_pss(const struct ks_p11_signer *s, enum ks_p11_hash hash,
    enum ks_p11_hash mgf1, size_t saltlen, const uint8_t *dg, size_t dglen,
    const uint8_t *sig, size_t siglen) __attribute__((warn_unused_result));
int ks_p11_verify_ecdsa(const struct ks_p11_signer *s, const uint8_t *dg,
    size_t dglen, const uint8_t *sig, size_t siglen)
    __attribute__((warn_unused_result));
int ks_p11_verify_ed25519(const struct ks_p11_signer *s, const uint8_t *msg,
    size_t len, const uint8_t *sig, size_t siglen)
    __attribute__((warn_unused_result));

#endif /* KMES_CRYPTO_P11_H */
