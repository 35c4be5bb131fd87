/*
 * p11-verify.c: C_VerifyInit, C_Verify, C_VerifyUpdate and C_VerifyFinal,
 * for every mechanism the token signs with.
 *
 * Verifying is a public-key operation: it takes the public object, needs
 * no login and never touches the store's secrets. The input is collected
 * or hashed exactly as for signing (p11-sign.c), so a signature made by
 * C_Sign checks here with the same mechanism and parameters.
 */
#include <string.h>

#include "crypto.h"
#include "kmes-err.h"
#include "p11.h"

CK_RV
p11_verify_init(struct p11_session *s, CK_MECHANISM_PTR mech,
    CK_OBJECT_HANDLE hkey)
{
	struct p11_sign_op *op = &s->verify;
	struct p11_key *k;
	int priv, r;
	CK_RV rv;

	if (mech == NULL)
		return CKR_ARGUMENTS_BAD;
	if (op->active)
		return CKR_OPERATION_ACTIVE;
	if ((k = p11_object(hkey, &priv)) == NULL)
		return CKR_KEY_HANDLE_INVALID;
	/* CKA_VERIFY is true on the public object only. */
	if (priv)
		return CKR_KEY_FUNCTION_NOT_PERMITTED;
	if ((rv = p11_op_mech_check(mech->mechanism, k, CKF_VERIFY)) != CKR_OK)
		return rv;
	if (k->verifier == NULL &&
	    (r = ks_p11_verifier_new(k->blob, k->blob_len, &k->verifier)) != 0)
		return p11_rv(r);
	if ((rv = p11_op_begin(op, mech, ks_p11_sig_len(k->verifier))) !=
	    CKR_OK)
		return rv;
	op->key = hkey;
	return CKR_OK;
}

/* Checks siglen bytes at sig against what the operation collected. */
static CK_RV
check(struct p11_sign_op *op, const struct p11_key *k, const uint8_t *sig,
    size_t siglen)
{
	uint8_t in[P11_OP_IN_MAX];
	const struct ks_p11_signer *v = k->verifier;
	const uint8_t *p;
	size_t len;
	CK_RV rv;
	int r;

	if ((rv = p11_op_input(op, in, &p, &len)) != CKR_OK)
		return rv;
	switch (op->mech) {
	case CKM_SHA256_RSA_PKCS:
	case CKM_SHA384_RSA_PKCS:
	case CKM_SHA512_RSA_PKCS:
	case CKM_RSA_PKCS:
		r = ks_p11_verify_rsa_pkcs1(v, p, len, sig, siglen);
		break;
	case CKM_RSA_PKCS_PSS:
	case CKM_SHA256_RSA_PKCS_PSS:
	case CKM_SHA384_RSA_PKCS_PSS:
	case CKM_SHA512_RSA_PKCS_PSS:
		r = ks_p11_verify_rsa_pss(v, (enum ks_p11_hash)op->pss_hash,
		    (enum ks_p11_hash)op->pss_mgf, op->pss_salt, p, len, sig,
		    siglen);
		break;
	case CKM_EDDSA:
		r = ks_p11_verify_ed25519(v, p, len, sig, siglen);
		break;
	default:
		r = ks_p11_verify_ecdsa(v, p, len, sig, siglen);
		break;
	}
	switch (r) {
	case 0:
		return CKR_OK;
	case KMES_ERR_SIGNATURE_INVALID:
		return CKR_SIGNATURE_INVALID;
	case KMES_ERR_MESSAGE_TOO_LARGE:
		return CKR_DATA_LEN_RANGE;
	default:
		return p11_rv(r);
	}
}

/* The common tail of C_Verify and C_VerifyFinal; always ends op. */
static CK_RV
verify_out(struct p11_sign_op *op, const uint8_t *data, size_t len,
    const uint8_t *sig, size_t siglen)
{
	struct p11_key *k;
	int priv;
	CK_RV rv;

	/* The store may have dropped the key since C_VerifyInit. */
	if ((k = p11_object(op->key, &priv)) == NULL || priv ||
	    k->verifier == NULL) {
		rv = CKR_KEY_HANDLE_INVALID;
		goto out;
	}
	if (data != NULL && (rv = p11_op_add(op, data, len)) != CKR_OK)
		goto out;
	if (siglen != ks_p11_sig_len(k->verifier)) {
		rv = CKR_SIGNATURE_LEN_RANGE;
		goto out;
	}
	rv = check(op, k, sig, siglen);
out:
	p11_sign_op_end(op);
	return rv;
}

CK_RV
p11_verify(struct p11_session *s, CK_BYTE_PTR data, CK_ULONG len,
    CK_BYTE_PTR sig, CK_ULONG siglen)
{
	struct p11_sign_op *op = &s->verify;

	if ((data == NULL && len != 0) || sig == NULL) {
		p11_sign_op_end(op);
		return CKR_ARGUMENTS_BAD;
	}
	if (!op->active)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (op->multi) {
		p11_sign_op_end(op);
		return CKR_ARGUMENTS_BAD;
	}
	return verify_out(op, data == NULL ? (const uint8_t *)"" : data, len,
	    sig, siglen);
}

CK_RV
p11_verify_update(struct p11_session *s, CK_BYTE_PTR data, CK_ULONG len)
{
	return p11_op_update(&s->verify, data, len);
}

CK_RV
p11_verify_final(struct p11_session *s, CK_BYTE_PTR sig, CK_ULONG siglen)
{
	struct p11_sign_op *op = &s->verify;

	if (sig == NULL) {
		p11_sign_op_end(op);
		return CKR_ARGUMENTS_BAD;
	}
	if (!op->active)
		return CKR_OPERATION_NOT_INITIALIZED;
	return verify_out(op, NULL, 0, sig, siglen);
}
