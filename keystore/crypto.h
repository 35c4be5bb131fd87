/*
 * crypto.h: the small internal crypto interface. Only keystore/crypto-*.c
 * include OpenSSL; everything else (the agent, the key table, tests that are
 * not about crypto) goes through these functions.
 *
 * A struct ks_key holds a public key, optionally a certificate over it, and
 * optionally the private half. Private material lives only inside OpenSSL's
 * secure heap (locked, no-dump, wiped on free) once ks_crypto_init() ran.
 * Keys are reference counted so a signer on one thread may keep using a key
 * that another thread removes from a table.
 */
#ifndef KMES_CRYPTO_H
#define KMES_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

struct kbuf;
struct ks_key;

enum ks_key_type {
	KS_KEY_UNKNOWN = 0,
	KS_KEY_ED25519,
	KS_KEY_ECDSA_P256,
	KS_KEY_ECDSA_P384,
	KS_KEY_ECDSA_P521,
	KS_KEY_RSA,
};

/* SSH_AGENTC_SIGN_REQUEST flags. */
#define KS_SIGN_RSA_SHA2_256 0x02
#define KS_SIGN_RSA_SHA2_512 0x04

enum ks_fp_hash {
	KS_FP_SHA256 = 0,
	KS_FP_MD5 = 1,
};

/* Room for "SHA256:" + 43 base64 chars, or "MD5:" + 47 hex-colon chars. */
#define KS_FP_MAX 64

/* Certificate types. */
#define KS_CERT_USER 1
#define KS_CERT_HOST 2

/*
 * Sets up OpenSSL's secure heap (secure_heap_bytes, 0 for a default) so that
 * private keys live in locked, no-dump memory. Call once, before any key is
 * made. Returns 0 or a negative KMES_ERR_*; KMES_ERR_SYSTEM if the heap
 * could be created but not locked.
 */
int ks_crypto_init(size_t secure_heap_bytes)
    __attribute__((warn_unused_result));

/* Returns bytes in use in OpenSSL's secure heap (for tests/diagnostics). */
size_t ks_crypto_secure_used(void);

/*
 * Parses the private-key part of SSH_AGENTC_ADD_IDENTITY (key type string
 * and the type's fields, certificate blob for -cert-v01 types), up to but not
 * including the comment, consuming it from b. Checks that the private key
 * matches the public key (and the certificate's key, whose CA signature is
 * verified). Returns 0 or a negative KMES_ERR_* (KMES_ERR_KEY_UNSUPPORTED for
 * DSA, sk- and other known-but-refused types).
 */
int ks_key_parse_private(struct kbuf *b, struct ks_key **keyp)
    __attribute__((warn_unused_result));

/*
 * Appends k's private key in the same agent wire form (for the test client
 * and benchmark, which act as ssh-add). Returns 0 or a negative KMES_ERR_*.
 */
int ks_key_put_private(const struct ks_key *k, struct kbuf *b);

/*
 * Parses a public key or certificate blob (certificate CA signatures are
 * verified). Returns 0 or a negative KMES_ERR_*.
 */
int ks_key_from_blob(const uint8_t *blob, size_t len, struct ks_key **keyp)
    __attribute__((warn_unused_result));

/* Generates a new private key (bits: RSA modulus size, ignored for others). */
int ks_key_generate(enum ks_key_type type, unsigned int bits,
    struct ks_key **keyp) __attribute__((warn_unused_result));

/* Takes another reference on k and returns it. */
struct ks_key *ks_key_ref(struct ks_key *k);

/* Drops a reference; the last one wipes and frees. Accepts NULL. */
void ks_key_free(struct ks_key *k);

/* Returns the key's wire blob (the certificate blob for certificates). */
const uint8_t *ks_key_blob(const struct ks_key *k, size_t *lenp);

/* Returns the blob of the plain public key (same as ks_key_blob if no cert). */
const uint8_t *ks_key_plain_blob(const struct ks_key *k, size_t *lenp);

enum ks_key_type ks_key_type(const struct ks_key *k);

/* Returns the SSH key type name, e.g. "ssh-ed25519-cert-v01@openssh.com". */
const char *ks_key_type_name(const struct ks_key *k);

/* Returns the ssh-add -l style name: "ED25519", "ECDSA-CERT", "RSA", ... */
const char *ks_key_short_name(const struct ks_key *k);

/* Returns the key size in bits (256 for Ed25519, as ssh-keygen prints). */
unsigned int ks_key_bits(const struct ks_key *k);

int ks_key_is_cert(const struct ks_key *k);
int ks_key_has_private(const struct ks_key *k);

/* Returns 1 if a and b have the same plain public key, else 0. */
int ks_key_equal_public(const struct ks_key *a, const struct ks_key *b);

/*
 * Signs data with k and appends the SSH signature blob (string algorithm,
 * string signature) to sig. flags: KS_SIGN_RSA_*; RSA without them signs
 * "ssh-rsa" with SHA-1, as ssh-agent does. Returns 0 or a negative KMES_ERR_*.
 */
int ks_key_sign(const struct ks_key *k, const uint8_t *data, size_t dlen,
    uint32_t flags, struct kbuf *sig) __attribute__((warn_unused_result));

/*
 * Verifies an SSH signature blob over data with k's public key. For RSA the
 * algorithm named in the blob must be ssh-rsa, rsa-sha2-256 or rsa-sha2-512.
 * Returns 0 if valid, else a negative KMES_ERR_*.
 */
int ks_key_verify(const struct ks_key *k, const uint8_t *sig, size_t slen,
    const uint8_t *data, size_t dlen) __attribute__((warn_unused_result));

/*
 * Writes k's fingerprint as ssh-keygen -l prints it ("SHA256:..." or
 * "MD5:aa:bb:..."), computed over the plain public key, into out.
 * Returns 0 or a negative KMES_ERR_*.
 */
int ks_key_fingerprint(const struct ks_key *k, enum ks_fp_hash alg, char *out,
    size_t outlen);

/*
 * Returns a malloc'd OpenSSH public key line "type base64 comment" (no
 * comment part if comment is NULL). Returns 0 or a negative KMES_ERR_*.
 */
int ks_key_to_openssh_line(const struct ks_key *k, const char *comment,
    char **linep);

/* Certificates (all return KMES_ERR_INVALID_ARGUMENT for a plain key). */

/* Returns a new reference to the CA key that signed certificate k. */
int ks_cert_signature_key(const struct ks_key *k, struct ks_key **cap);

/* Returns the certificate type (KS_CERT_USER or KS_CERT_HOST), or 0. */
unsigned int ks_cert_type(const struct ks_key *k);

/*
 * Checks that certificate k is a host certificate valid at unix time now,
 * with no critical options and no SHA-1 CA signature, for host name: name
 * is a wildcard pattern matched against each principal, as ssh-agent does
 * for destination constraints (an empty principal list matches any).
 * Returns 0 or a negative KMES_ERR_*.
 */
int ks_cert_check_host(const struct ks_key *k, const char *name, uint64_t now)
    __attribute__((warn_unused_result));

/* Fills buf with len cryptographically random bytes. Returns 0 or KMES_ERR_*. */
int ks_random(void *buf, size_t len) __attribute__((warn_unused_result));

/* Salted slow password hash (scrypt) for lock passwords. */
#define KS_PWHASH_SALT_LEN 16
#define KS_PWHASH_LEN 32
/* Returns 0 or a negative KMES_ERR_*; out is KS_PWHASH_LEN bytes. */
int ks_pw_hash(const uint8_t *pw, size_t pwlen,
    const uint8_t salt[KS_PWHASH_SALT_LEN], uint8_t out[KS_PWHASH_LEN])
    __attribute__((warn_unused_result));

/* Additions (append-only). */

/*
 * Parses an OpenSSH public key line "type base64 [comment]" (a .pub file or a
 * certificate's -cert.pub); the type word must match the blob's type.
 * Returns 0 or a negative KMES_ERR_*.
 */
int ks_key_from_openssh_line(const char *line, struct ks_key **keyp)
    __attribute__((warn_unused_result));

/* Returns the certificate's key id (for logs), or NULL for a plain key. */
const char *ks_cert_key_id(const struct ks_key *k);

/*
 * Store primitives (keystore/crypto-store.c): what the encrypted key store
 * (store.c, format in kmes-keystore(5)) needs and nothing more.
 */
#define KS_AEAD_KEY_LEN 32 /* AES-256-GCM */
#define KS_AEAD_NONCE_LEN 12
#define KS_AEAD_TAG_LEN 16
#define KS_HMAC_SHA256_LEN 32

/* scrypt bounds: a hostile store file must not make us allocate > 1 GiB. */
#define KS_SCRYPT_LOG2_N_MIN 10
#define KS_SCRYPT_LOG2_N_MAX 22
#define KS_SCRYPT_R_MAX 32
#define KS_SCRYPT_P_MAX 4
#define KS_SCRYPT_MEM_MAX (1024UL * 1024 * 1024)

/*
 * Derives outlen bytes from pin and salt with scrypt (N = 2^log2_n, r, p),
 * refusing parameters outside the KS_SCRYPT_* bounds with
 * KMES_ERR_INVALID_ARGUMENT. Returns 0 or a negative KMES_ERR_*.
 */
int ks_kdf_scrypt(const uint8_t *pin, size_t pinlen, const uint8_t *salt,
    size_t saltlen, unsigned int log2_n, uint32_t r, uint32_t p, uint8_t *out,
    size_t outlen) __attribute__((warn_unused_result));

/*
 * AES-256-GCM: encrypts len bytes of pt into ct (len bytes; may be pt) and
 * writes the 16-byte tag, authenticating aad as well. The caller picks a
 * nonce that is never reused with the key. Returns 0 or a negative KMES_ERR_*.
 */
int ks_aead_seal(const uint8_t key[KS_AEAD_KEY_LEN],
    const uint8_t nonce[KS_AEAD_NONCE_LEN], const uint8_t *aad, size_t aadlen,
    const uint8_t *pt, size_t len, uint8_t *ct, uint8_t tag[KS_AEAD_TAG_LEN])
    __attribute__((warn_unused_result));

/*
 * Checks the tag and decrypts len bytes of ct into pt. Returns 0,
 * KMES_ERR_SIGNATURE_INVALID if anything was altered (pt is then wiped),
 * or another negative KMES_ERR_*.
 */
int ks_aead_open(const uint8_t key[KS_AEAD_KEY_LEN],
    const uint8_t nonce[KS_AEAD_NONCE_LEN], const uint8_t *aad, size_t aadlen,
    const uint8_t *ct, size_t len, const uint8_t tag[KS_AEAD_TAG_LEN],
    uint8_t *pt) __attribute__((warn_unused_result));

/* HMAC-SHA256 of data under key into out. Returns 0 or a negative KMES_ERR_*. */
int ks_hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *data,
    size_t len, uint8_t out[KS_HMAC_SHA256_LEN])
    __attribute__((warn_unused_result));

/*
 * Key file import (keystore/crypto-bcrypt.c): the OpenSSL half of
 * keyfile.c, which parses openssh-key-v1 and hands PEM to OpenSSL.
 */

/* bcrypt_pbkdf limits: OpenSSH's output cap, and sane costs for a file. */
#define KS_BCRYPT_KEY_MAX 1024
#define KS_BCRYPT_SALT_MAX 1024
#define KS_BCRYPT_ROUNDS_MAX 10000

/*
 * OpenSSH's bcrypt_pbkdf: derives keylen bytes into key from pass and salt
 * at cost rounds. Returns 0, or KMES_ERR_INVALID_ARGUMENT for an empty pass
 * or salt, or sizes or rounds outside 1 and the KS_BCRYPT_* caps.
 */
int ks_bcrypt_pbkdf(const uint8_t *pass, size_t passlen, const uint8_t *salt,
    size_t saltlen, unsigned int rounds, uint8_t *key, size_t keylen)
    __attribute__((warn_unused_result));

/* An openssh-key-v1 private-section cipher; mode is crypto-bcrypt.c's. */
struct ks_kf_cipher {
	const char *name;
	size_t key_len;
	size_t iv_len;
	size_t block_size;
	size_t tag_len; /* AEAD tag after the encrypted section */
	int mode;
};

/* Returns the cipher called name ("none" included), or NULL if unknown. */
const struct ks_kf_cipher *ks_kf_cipher_lookup(const char *name);

/*
 * Decrypts len bytes (a multiple of c->block_size) at in into out (len
 * bytes, not overlapping in) with key and IV keyiv (c->key_len + c->iv_len
 * bytes), first checking the c->tag_len-byte tag for AEAD ciphers. Returns
 * 0, KMES_ERR_PASSPHRASE_INCORRECT if the tag does not match (out is then
 * wiped), or another negative KMES_ERR_*.
 */
int ks_kf_decrypt(const struct ks_kf_cipher *c, const uint8_t *keyiv,
    const uint8_t *in, size_t len, const uint8_t *tag, uint8_t *out)
    __attribute__((warn_unused_result));

/*
 * Reads a PEM private key (PKCS#1, SEC1 or PKCS#8, encrypted or not: RSA,
 * ECDSA P-256/384/521, Ed25519) and appends it to b, which should be a
 * kbuf_new_secure buffer, in the SSH_AGENTC_ADD_IDENTITY private-key form
 * without comment, for ks_key_parse_private. passphrase NULL means none is
 * available. Returns 0, KMES_ERR_PASSPHRASE_REQUIRED,
 * KMES_ERR_PASSPHRASE_INCORRECT, KMES_ERR_KEY_UNSUPPORTED,
 * KMES_ERR_INVALID_FORMAT or another negative KMES_ERR_*.
 */
int ks_pem_private_to_wire(const uint8_t *data, size_t len,
    const uint8_t *passphrase, size_t passlen, struct kbuf *b)
    __attribute__((warn_unused_result));

#endif /* KMES_CRYPTO_H */
