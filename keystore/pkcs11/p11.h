/*
 * p11.h: the insides of libkmes-pkcs11.so, the key store as a PKCS#11 token.
 *
 * One slot, one token: the store at $KMES_STORE or ks_store_default_path().
 * Each store record shows as a public and a private key object. All module
 * state sits behind one mutex (p11_lock); the entry points (p11-entry.h)
 * take it, and everything declared here expects it held. Nothing here
 * includes OpenSSL: the signing primitives are crypto-p11.c's.
 */
#ifndef KMES_P11_H
#define KMES_P11_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "crypto-p11.h"
#include "p11-compat.h"

struct kbuf;
struct ks_store;

#define P11_SLOT_ID 1
#define P11_MAX_SESSIONS 1024
/* A template longer than this is a bug or an attack, never a real need. */
#define P11_TMPL_MAX 64
/* No attribute we read is longer (a 16384-bit modulus is 2 KiB). */
#define P11_ATTR_VALUE_MAX (64 * 1024)
#define P11_ID_LEN 16 /* the CKA_ID the module derives */
#define P11_ID_MAX 64 /* the longest CKA_ID a caller may give */
/* Session key pairs alive at once (each holds a private key in the
 * locked heap): more is a runaway or hostile application. */
#define P11_MAX_SESSION_KEYS 128
/* EC point as DER OCTET STRING: tag, up to two length bytes, 133 bytes. */
#define P11_EC_POINT_DER_MAX (3 + 133)

/* ---------------------------------------------------------- templates */

/* One attribute of a checked template; value points into the caller's. */
struct p11_attr {
	CK_ATTRIBUTE_TYPE type;
	const uint8_t *value;
	size_t len;
};

struct p11_tmpl {
	size_t n;
	struct p11_attr a[P11_TMPL_MAX];
};

/*
 * Checks an application's template and copies its shape into t: at most
 * P11_TMPL_MAX attributes, no NULL value with a length, no value over
 * P11_ATTR_VALUE_MAX, no attribute twice, CK_BBOOL values one byte of 0 or
 * 1, CK_ULONG values exactly sizeof(CK_ULONG). Returns CKR_OK,
 * CKR_ARGUMENTS_BAD, CKR_ATTRIBUTE_VALUE_INVALID or
 * CKR_TEMPLATE_INCONSISTENT.
 */
CK_RV p11_tmpl_parse(const CK_ATTRIBUTE *attrs, CK_ULONG n, struct p11_tmpl *t)
    __attribute__((warn_unused_result));

/* Returns the attribute of type in t, or NULL. */
const struct p11_attr *p11_tmpl_find(const struct p11_tmpl *t,
    CK_ATTRIBUTE_TYPE type);

/* Sets *v from a CK_BBOOL attribute. Returns 1 if present, else 0. */
int p11_tmpl_bool(const struct p11_tmpl *t, CK_ATTRIBUTE_TYPE type, int *v);

/* Sets *v from a CK_ULONG attribute. Returns 1 if present, else 0. */
int p11_tmpl_ulong(const struct p11_tmpl *t, CK_ATTRIBUTE_TYPE type,
    CK_ULONG *v);

/* Returns 1 if type is read as a CK_BBOOL, 2 as a CK_ULONG, else 0. */
int p11_attr_kind(CK_ATTRIBUTE_TYPE type);

/*
 * Maps CKA_EC_PARAMS (a DER OID or PrintableString curve name) to a key
 * type. Returns 0 and sets *type, or KMES_ERR_KEY_UNSUPPORTED or
 * KMES_ERR_INVALID_FORMAT.
 */
int p11_ec_params_type(const uint8_t *p, size_t len, int *type)
    __attribute__((warn_unused_result));

/* ------------------------------------------------------------ objects */

/*
 * One key pair: a public object (handle) and a private one (handle+1).
 * Either a store record (session 0), or a session key pair made by
 * C_GenerateKeyPair with CKA_TOKEN false: never written anywhere, its
 * private key only in signer (OpenSSL's locked heap), gone with its
 * session, at C_CloseAllSessions and C_Finalize, and at logout for each
 * half that is CKA_PRIVATE.
 */
struct p11_key {
	CK_OBJECT_HANDLE handle;
	CK_SESSION_HANDLE session;     /* 0: a store record */
	int pub_private, priv_private; /* CKA_PRIVATE of each half */
	int pub_gone, priv_gone;       /* a session pair's destroyed halves */
	char *label;
	uint8_t *blob; /* SSH public key blob */
	size_t blob_len;
	uint32_t flags; /* KS_REC_* */
	int type;	/* enum ks_key_type */
	CK_KEY_TYPE ck_type;
	uint8_t id[P11_ID_MAX];
	size_t id_len;
	const uint8_t *n, *e; /* RSA modulus and exponent, in blob */
	size_t n_len, e_len;
	CK_ULONG bits;
	const uint8_t *params; /* static DER */
	size_t params_len;
	uint8_t point[P11_EC_POINT_DER_MAX]; /* CKA_EC_POINT */
	size_t point_len;
	struct ks_p11_signer *signer;	/* after login, on first use */
	struct ks_p11_signer *verifier; /* public half, on first C_Verify */
	int seen;
};

/*
 * Builds the objects of one record from its label, public blob and flags
 * (the blob is parsed with kbuf). Returns 0 or a negative KMES_ERR_*
 * (KMES_ERR_KEY_UNSUPPORTED for a type PKCS#11 cannot show).
 */
int p11_key_new(const char *label, const uint8_t *blob, size_t blob_len,
    uint32_t flags, struct p11_key **kp) __attribute__((warn_unused_result));

/*
 * Sets k's CKA_ID to the len bytes at id (at most P11_ID_MAX), or to the
 * one derived from its public key if len is 0. Returns 0 or a negative
 * KMES_ERR_*.
 */
int p11_key_set_id(struct p11_key *k, const uint8_t *id, size_t len)
    __attribute__((warn_unused_result));

/* Wipes the signer and frees; accepts NULL. */
void p11_key_free(struct p11_key *k);

/* What looking up one attribute of an object found. */
enum p11_attr_res {
	P11_ATTR_OK,
	P11_ATTR_SENSITIVE,
	P11_ATTR_INVALID,
};

/* Scratch space for values that are not stored in the key itself. */
union p11_attr_buf {
	CK_ULONG ul;
	CK_BBOOL b;
	uint8_t bytes[32];
};

/*
 * Looks up attribute type of k's public (priv == 0) or private object.
 * On P11_ATTR_OK *vp and *lenp give the value, which may live in buf.
 */
enum p11_attr_res p11_key_attr(const struct p11_key *k, int priv,
    CK_ATTRIBUTE_TYPE type, union p11_attr_buf *buf, const void **vp,
    size_t *lenp);

/*
 * Fills an application's template with k's values, as C_GetAttributeValue
 * (every attribute is answered; the last error is returned).
 */
CK_RV p11_key_get_attrs(const struct p11_key *k, int priv, CK_ATTRIBUTE *attrs,
    CK_ULONG n);

/* Returns 1 if every attribute of t has this value in k's object. */
int p11_key_match(const struct p11_key *k, int priv, const struct p11_tmpl *t);

/* Mechanisms k may sign with, as CKA_ALLOWED_MECHANISMS lists them. */
const CK_MECHANISM_TYPE *p11_key_mechs(const struct p11_key *k, size_t *np);

/* ------------------------------------------------------------ sessions */

struct p11_sign_op {
	int active;
	int multi; /* C_SignUpdate was called */
	CK_MECHANISM_TYPE mech;
	CK_OBJECT_HANDLE key; /* the private object */
	int hash;	      /* enum ks_p11_hash, 0 for none */
	int pss_hash, pss_mgf;
	size_t pss_salt;
	struct ks_p11_hash_ctx *hctx; /* hash-and-sign mechanisms */
	struct kbuf *data;	      /* the others collect their input */
	size_t data_max;
	/* A confirm key (CKA_ALWAYS_AUTHENTICATE): C_Login(CKU_CONTEXT_
	 * SPECIFIC) with the PIN must come before its signature. */
	int need_auth;
	int authed;
};

struct p11_session {
	CK_SESSION_HANDLE handle;
	CK_FLAGS flags;
	int find_active;
	CK_OBJECT_HANDLE *found;
	size_t nfound, found_pos;
	struct p11_sign_op sign;
	struct p11_sign_op verify; /* key is the public object */
};

/* The whole module. */
struct p11_state {
	int initialized;
	pid_t pid;
	char *path;
	struct ks_store *store; /* NULL: no token present */
	struct p11_key **keys;
	size_t nkeys;
	CK_OBJECT_HANDLE next_handle;
	struct p11_session **sessions;
	size_t nsessions;
	CK_SESSION_HANDLE next_session;
	/*
	 * The session whose user login is the last thing the module did
	 * (0: none). That PIN entry also pays for the next signature if it
	 * is with a CKA_ALWAYS_AUTHENTICATE key, as with PIV cards: OpenSSH
	 * logs in, looks the key up and signs without a context-specific
	 * login. Module state, not the session's: any other call, from any
	 * session or thread, spends it, so a PIN typed once can never pay
	 * for a confirm signature made later behind the user's back.
	 */
	CK_SESSION_HANDLE fresh_login;
};

extern struct p11_state p11;

/* Re-reads the store if it changed and rebuilds the objects. Returns CKR_*. */
CK_RV p11_sync(void);

/* Drops every object and session (wiping signers); keeps the store. */
void p11_objects_clear(void);

/* Finds the key behind an object handle; *priv says which object. */
struct p11_key *p11_object(CK_OBJECT_HANDLE h, int *priv);

/* Whether that half of k exists for the caller now (login, destroyed). */
int p11_key_visible(const struct p11_key *k, int priv);

/* Brings the object table in line with the store. Returns CKR_*. */
CK_RV p11_rebuild(void);

/* Destroys the session key pairs of session h (0: of every session). */
void p11_session_keys_drop(CK_SESSION_HANDLE h);

/* Destroys the CKA_PRIVATE halves of session key pairs (at logout). */
void p11_session_keys_logout(void);

/*
 * Spends the fresh login: returns 1 if it was s's and nothing but s's own
 * object searches came since, else 0. Called by every C_SignInit.
 */
int p11_fresh_login_take(const struct p11_session *s);

/* Whether the objects are visible now (private ones need a login). */
int p11_logged_in(void);

/* Ends a session's sign operation. */
void p11_sign_op_end(struct p11_sign_op *op);

/* Room for the largest input a primitive takes after hashing. */
#define P11_OP_IN_MAX 96

/*
 * The operation state shared by signing and verifying (p11-sign.c).
 * p11_op_mech_check: type is one of ours for use (CKF_SIGN, CKF_VERIFY)
 * and one k's type takes; CKR_MECHANISM_INVALID or
 * CKR_KEY_TYPE_INCONSISTENT if not. p11_op_begin: starts op for mech on a
 * key whose signatures are siglen bytes (checking its parameters).
 * p11_op_add: feeds data (CKR_DATA_LEN_RANGE past the mechanism's limit).
 * p11_op_input: finishes the hash and points *pp at what the primitive
 * takes (a DigestInfo for CKM_SHA*_RSA_PKCS), which may live in in.
 */
CK_RV p11_op_mech_check(CK_MECHANISM_TYPE type, const struct p11_key *k,
    CK_FLAGS use);
CK_RV p11_op_begin(struct p11_sign_op *op, const CK_MECHANISM *mech,
    size_t siglen);
CK_RV p11_op_add(struct p11_sign_op *op, const uint8_t *p, size_t len);
/*
 * p11_op_update: one C_SignUpdate or C_VerifyUpdate on op: checks the
 * arguments, that op is active (and authorised, for a confirm key), then
 * feeds data; a bad call ends op as PKCS#11 says.
 */
CK_RV p11_op_update(struct p11_sign_op *op, CK_BYTE_PTR data, CK_ULONG len);
CK_RV p11_op_input(struct p11_sign_op *op, uint8_t in[P11_OP_IN_MAX],
    const uint8_t **pp, size_t *lenp);

/* Maps a KMES_ERR_* code to the nearest CKR_*. */
CK_RV p11_rv(int r);

/* Pads s into a fixed-width blank-filled PKCS#11 text field. */
void p11_pad(CK_UTF8CHAR *dst, size_t width, const char *s);

/* Entry points implemented in the other files (lock held by the caller). */
CK_RV p11_find_init(struct p11_session *s, CK_ATTRIBUTE_PTR t, CK_ULONG n);
CK_RV p11_find(struct p11_session *s, CK_OBJECT_HANDLE_PTR out, CK_ULONG max,
    CK_ULONG_PTR count);
void p11_find_final(struct p11_session *s);

/*
 * C_SetAttributeValue: CKA_ID and CKA_LABEL, each unique, may change (a
 * store key's in a read-write session after login, written to the
 * store); every other attribute is CKR_ATTRIBUTE_READ_ONLY.
 */
CK_RV p11_set_attrs(struct p11_session *s, CK_OBJECT_HANDLE h,
    CK_ATTRIBUTE_PTR attrs, CK_ULONG n);

/*
 * Returns 1 if a key other than self (may be NULL) has this CKA_ID,
 * derived or given, else 0.
 */
int p11_id_taken(const struct p11_key *self, const uint8_t *id, size_t len);
CK_RV p11_get_attrs(CK_OBJECT_HANDLE h, CK_ATTRIBUTE_PTR t, CK_ULONG n);
CK_RV p11_destroy(struct p11_session *s, CK_OBJECT_HANDLE h);
CK_RV p11_generate(struct p11_session *s, CK_MECHANISM_PTR mech,
    CK_ATTRIBUTE_PTR pub, CK_ULONG npub, CK_ATTRIBUTE_PTR priv, CK_ULONG npriv,
    CK_OBJECT_HANDLE_PTR hpub, CK_OBJECT_HANDLE_PTR hpriv);
CK_RV p11_sign_init(struct p11_session *s, CK_MECHANISM_PTR mech,
    CK_OBJECT_HANDLE key);
CK_RV p11_sign(struct p11_session *s, CK_BYTE_PTR data, CK_ULONG len,
    CK_BYTE_PTR sig, CK_ULONG_PTR siglen);
CK_RV p11_sign_update(struct p11_session *s, CK_BYTE_PTR data, CK_ULONG len);
CK_RV p11_sign_final(struct p11_session *s, CK_BYTE_PTR sig,
    CK_ULONG_PTR siglen);
CK_RV p11_verify_init(struct p11_session *s, CK_MECHANISM_PTR mech,
    CK_OBJECT_HANDLE key);
CK_RV p11_verify(struct p11_session *s, CK_BYTE_PTR data, CK_ULONG len,
    CK_BYTE_PTR sig, CK_ULONG siglen);
CK_RV p11_verify_update(struct p11_session *s, CK_BYTE_PTR data, CK_ULONG len);
CK_RV p11_verify_final(struct p11_session *s, CK_BYTE_PTR sig, CK_ULONG siglen);

/* The mechanisms this token offers. */
struct p11_mech {
	CK_MECHANISM_TYPE type;
	CK_ULONG min_bits, max_bits;
	CK_FLAGS flags;
};
extern const struct p11_mech p11_mechs[];
extern const size_t p11_nmechs;

#endif /* KMES_P11_H */
