/*
 * token.h: signing with keys that live on a PKCS#11 token (an HSM such as
 * a Futurex KMES Series 3 through its libfxpkcs11.so, or SoftHSM2).
 *
 * A module is loaded and initialised once per process; tokens are picked by
 * label or serial number (never by slot number, which a network HSM may
 * renumber); a login keeps a copy of the PIN in locked memory so that a
 * session lost to a restarted HSM can be reopened and logged in again.
 * Each thread that signs uses its own session. The private keys never leave
 * the token: this file only ever asks the token to sign.
 *
 * Nothing here is safe to run inside the agent's own address space when
 * the module is not trusted to behave: kmes-agent calls it from a helper
 * process (src/p11-helper.c).
 *
 * Names: tok_ is the PKCS#11 *client* (this file, token.c, token-keys.c).
 * Under tok_, a "token" (struct tok_token) is always a token in someone
 * else's PKCS#11 module, one slot of an HSM that we log in to and ask to
 * sign. The PKCS#11 *provider*, libkmes-pkcs11.so (keystore/pkcs11/), keeps
 * the prefix p11_; there the one "token" is our own key store shown to
 * other programs. No struct tag is declared under both prefixes.
 */
#ifndef KMES_TOKEN_H
#define KMES_TOKEN_H

#include <stddef.h>
#include <stdint.h>

struct kbuf;
struct ks_key;
struct tok_module;
struct tok_token;
struct tok_session;

/* Room for an error message naming the module, token and CKR_ code. */
#define TOK_ERRMSG_MAX 256

/* One key the token can sign with. */
struct tok_key {
	struct ks_key *pub; /* the public key (no private half) */
	char *label;	    /* CKA_LABEL, or a made-up one */
	uint8_t *id;	    /* CKA_ID */
	size_t id_len;
	struct tok_token *token;
};

/*
 * Loads the module at path (e.g. /proc/self/fd/N) and calls C_Initialize
 * (with OS locking); messages call it name (NULL: path). Returns 0 or a
 * negative KMES_ERR_*; on error a message is left in err.
 */
int tok_module_load(const char *path, const char *name, struct tok_module **mp,
    char err[TOK_ERRMSG_MAX]) __attribute__((warn_unused_result));

/* C_Finalize, dlclose, and wipes the tokens' PINs. Accepts NULL. */
void tok_module_free(struct tok_module *m);

/*
 * Finds the tokens present in m's slots: the one whose label or serial
 * number equals want, or, if want is NULL, all of them. The tokens belong
 * to m. Returns 0, KMES_ERR_TOKEN_NOT_FOUND (with a message in err that
 * lists the tokens there are) or another negative KMES_ERR_*.
 */
int tok_module_tokens(struct tok_module *m, const char *want,
    struct tok_token ***tokensp, size_t *np, char err[TOK_ERRMSG_MAX])
    __attribute__((warn_unused_result));

const char *tok_token_label(const struct tok_token *t);
const char *tok_token_serial(const struct tok_token *t);

/*
 * Logs the user in with pin (kept in locked memory for later re-logins).
 * A token without CKF_LOGIN_REQUIRED needs none. Returns 0,
 * KMES_ERR_PIN_INCORRECT, KMES_ERR_PIN_LOCKED or another negative KMES_ERR_*
 * (with a message in err).
 */
int tok_token_login(struct tok_token *t, const uint8_t *pin, size_t len,
    char err[TOK_ERRMSG_MAX]) __attribute__((warn_unused_result));

/*
 * Lists the keys of t that can sign and that we can use (RSA, ECDSA
 * P-256/384/521, Ed25519), pairing private and public objects by CKA_ID;
 * objects of other kinds, or that cannot be read, are skipped with a note
 * to note(arg, text). Appends to *keysp (a malloc'd array, *np entries).
 * Returns 0 or a negative KMES_ERR_*.
 */
int tok_token_keys(struct tok_token *t, struct tok_key ***keysp, size_t *np,
    void (*note)(void *, const char *), void *arg)
    __attribute__((warn_unused_result));

/* Frees keys from tok_token_keys; accepts NULL. */
void tok_keys_free(struct tok_key **keys, size_t n);

/* Opens a session on t for one thread. Returns 0 or a negative KMES_ERR_*. */
int tok_session_open(struct tok_token *t, struct tok_session **sp)
    __attribute__((warn_unused_result));

void tok_session_free(struct tok_session *s);

/*
 * Signs data with k (which must be on s's token) as ssh-agent would with
 * the same flags (KS_SIGN_RSA_*), appending the SSH signature blob to sig.
 * If the token says the session or login was lost (the HSM restarted, the
 * network dropped), the session is reopened and the user logged in again,
 * once, before giving up. Returns 0 or a negative KMES_ERR_* (with a
 * message in err).
 */
int tok_session_sign(struct tok_session *s, const struct tok_key *k,
    const uint8_t *data, size_t dlen, uint32_t flags, struct kbuf *sig,
    char err[TOK_ERRMSG_MAX]) __attribute__((warn_unused_result));

/* Returns the name of a CK_RV ("CKR_PIN_INCORRECT"), or NULL if unknown. */
const char *tok_rv_name(unsigned long rv);

#endif /* KMES_TOKEN_H */
