/*
 * keyblob-int.h: what keyblob.c (key types, key objects, public blobs and
 * certificates), keyblob-private.c (the private key encoding) and
 * keyblob-sign.c (signatures and text forms) share. Private to keystore/.
 */
#ifndef KMES_KEYBLOB_INT_H
#define KMES_KEYBLOB_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto-int.h"

struct kbuf;

struct ks_keytype {
	const char *name;
	const char *short_name; /* as ssh-add -l prints it */
	const char *curve;	/* ECDSA curve identifier */
	const char *sigalg;	/* signature name (plain type name) */
	enum ks_key_type type;
	int cert;
};

struct ks_cert {
	uint32_t type;
	uint64_t serial;
	char *key_id;
	char **principals;
	size_t nprincipals;
	uint64_t valid_after;
	uint64_t valid_before;
	size_t critical_len; /* bytes of critical options */
	int sha1_signed;     /* CA signed with ssh-rsa (SHA-1) */
	struct ks_key *ca;
};

struct ks_key {
	atomic_uint refs;
	const struct ks_keytype *kt;
	struct ks_pkey *pk;
	uint8_t *blob; /* wire blob; the certificate for certs */
	size_t blob_len;
	uint8_t *plain; /* plain public key blob (== blob if no cert) */
	size_t plain_len;
	struct ks_cert *cert;
};

/* Public key fields as borrowed views into a blob. */
struct ks_pubfields {
	struct ks_num pk;   /* Ed25519 key or ECDSA point */
	struct ks_num e, n; /* RSA */
};

/* Whether the len bytes at p are exactly the string s. */
int ks_name_is(const uint8_t *p, size_t len, const char *s);

/*
 * Finds the key type called name. Returns 0, KMES_ERR_KEY_UNSUPPORTED (a
 * type OpenSSH knows that this agent will not hold) or
 * KMES_ERR_KEY_TYPE_UNKNOWN.
 */
int ks_keytype_lookup(const uint8_t *name, size_t len,
    const struct ks_keytype **ktp) __attribute__((warn_unused_result));

/* The plain (not certificate) key type of type, or NULL. */
const struct ks_keytype *ks_keytype_plain(enum ks_key_type type);

/* The hash an ECDSA key type signs with. */
enum ks_hash ks_ecdsa_hash(enum ks_key_type type);

/*
 * Wraps pk (always consumed) in a new key of type kt. Returns 0 or a
 * negative KMES_ERR_*.
 */
int ks_key_wrap(const struct ks_keytype *kt, struct ks_pkey *pk,
    struct ks_key **kp) __attribute__((warn_unused_result));

/* Reads an mpint from b as a borrowed view. Returns 0 or a KMES_ERR_*. */
int ks_blob_get_num(struct kbuf *b, struct ks_num *v)
    __attribute__((warn_unused_result));

/*
 * Reads the public fields of a key of type kt from b, as views into b.
 * Returns 0 or a negative KMES_ERR_*.
 */
int ks_blob_get_public_fields(struct kbuf *b, const struct ks_keytype *kt,
    struct ks_pubfields *f) __attribute__((warn_unused_result));

/*
 * Verifies SSH signature blob sig over data with k's public key; sets
 * *sha1p if it is an ssh-rsa (SHA-1) signature. Returns 0,
 * KMES_ERR_SIGNATURE_INVALID or another negative KMES_ERR_*.
 */
int ks_key_verify_sig(const struct ks_key *k, const uint8_t *sig, size_t slen,
    const uint8_t *data, size_t dlen, int *sha1p)
    __attribute__((warn_unused_result));

#endif /* KMES_KEYBLOB_INT_H */
