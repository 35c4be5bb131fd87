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
 */
#ifndef KMES_TOKEN_H
#define KMES_TOKEN_H

#include <stddef.h>
#include <stdint.h>

struct kbuf;
struct ks_key;
struct p11_module;
struct p11_token;
struct p11_session;

/* Room for an error message naming the module, token and CKR_ code. */
#define P11_ERRMSG_MAX 256

/* One key the token can sign with. */
struct p11_key {
	struct ks_key *pub;	/* the public key (no private half) */
	char *label;		/* CKA_LABEL, or a made-up one */
	uint8_t *id;		/* CKA_ID */
	size_t id_len;
	struct p11_token *token;
};

/*
 * Loads the module at path (e.g. /proc/self/fd/N) and calls C_Initialize
 * (with OS locking); messages call it name (NULL: path). Returns 0 or a
 * negative KMES_ERR_*; on error a message is left in err.
 */
int p11_module_load(const char *path, const char *name,
    struct p11_module **mp, char err[P11_ERRMSG_MAX])
    __attribute__((warn_unused_result));

/* C_Finalize, dlclose, and wipes the tokens' PINs. Accepts NULL. */
void p11_module_free(struct p11_module *m);

/*
 * Finds the tokens present in m's slots: the one whose label or serial
 * number equals want, or, if want is NULL, all of them. The tokens belong
 * to m. Returns 0, KMES_ERR_TOKEN_NOT_FOUND (with a message in err that
 * lists the tokens there are) or another negative KMES_ERR_*.
 */
int p11_module_tokens(struct p11_module *m, const char *want,
    struct p11_token ***tokensp, size_t *np, char err[P11_ERRMSG_MAX])
    __attribute__((warn_unused_result));

const char *p11_token_label(const struct p11_token *t);
const char *p11_token_serial(const struct p11_token *t);

/*
 * Logs the user in with pin (kept in locked memory for later re-logins).
 * A token without CKF_LOGIN_REQUIRED needs none. Returns 0,
 * KMES_ERR_PIN_INCORRECT, KMES_ERR_PIN_LOCKED or another negative KMES_ERR_*
 * (with a message in err).
 */
int p11_token_login(struct p11_token *t, const uint8_t *pin, size_t len,
    char err[P11_ERRMSG_MAX]) __attribute__((warn_unused_result));

/*
 * Lists the keys of t that can sign and that we can use (RSA, ECDSA
 * P-256/384/521, Ed25519), pairing private and public objects by CKA_ID;
 * objects of other kinds, or that cannot be read, are skipped with a note
 * to note(arg, text). Appends to *keysp (a malloc'd array, *np entries).
 * Returns 0 or a negative KMES_ERR_*.
 */
int p11_token_keys(struct p11_token *t, struct p11_key ***keysp, size_t *np,
    void (*note)(void *, const char *), void *arg)
    __attribute__((warn_unused_result));

/* Frees keys from p11_token_keys; accepts NULL. */
void p11_keys_free(struct p11_key **keys, size_t n);

/* Opens a session on t for one thread. Returns 0 or a negative KMES_ERR_*. */
int p11_session_open(struct p11_token *t, struct p11_session **sp)
    __attribute__((warn_unused_result));

void p11_session_free(struct p11_session *s);

/*
 * Signs data with k (which must be on s's token) as ssh-agent would with
 * the same flags (KS_SIGN_RSA_*), appending the SSH signature blob to sig.
 * If the token says the session or login was lost (the HSM restarted, the
 * network dropped), the session is reopened and the user logged in again,
 * once, before giving up. Returns 0 or a negative KMES_ERR_* (with a
 * message in err).
 */
int p11_session_sign(struct p11_session *s, const struct p11_key *k,
    const uint8_t *data, size_t dlen, uint32_t flags, struct kbuf *sig,
    char err[P11_ERRMSG_MAX]) __attribute__((warn_unused_result));

/* Returns the name of a CK_RV ("CKR_PIN_INCORRECT"), or NULL if unknown. */
const char *p11_rv_name(unsigned long rv);

#endif /* KMES_TOKEN_H */
