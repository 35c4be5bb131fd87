/*
 * p11-sign.c: C_SignInit, C_Sign, C_SignUpdate and C_SignFinal, and the
 * operation state that p11-verify.c shares with them.
 *
 * Hash-and-sign mechanisms hash as the data arrives; the others (the
 * caller has hashed) collect their input up to what the mechanism can
 * take. The signature size is fixed per key, so a size query (NULL
 * buffer) or a short buffer is answered before anything is consumed and
 * leaves the operation running, as PKCS#11 requires.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "p11.h"
#include "secmem.h"
#include "store.h"

/* CKM_ECDSA takes a hash; none is longer than this. */
#define ECDSA_INPUT_MAX 512
/* CKM_EDDSA buffers the whole message (pure Ed25519 cannot stream). */
#define EDDSA_INPUT_MAX (16 * 1024 * 1024)

#define SV (CKF_SIGN | CKF_VERIFY)
#define EC_CURVES (CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS)

const struct p11_mech p11_mechs[] = {
	{ CKM_RSA_PKCS_KEY_PAIR_GEN, 1024, 16384, CKF_GENERATE_KEY_PAIR },
	{ CKM_RSA_PKCS, 1024, 16384, SV },
	{ CKM_SHA256_RSA_PKCS, 1024, 16384, SV },
	{ CKM_SHA384_RSA_PKCS, 1024, 16384, SV },
	{ CKM_SHA512_RSA_PKCS, 1024, 16384, SV },
	{ CKM_RSA_PKCS_PSS, 1024, 16384, SV },
	{ CKM_SHA256_RSA_PKCS_PSS, 1024, 16384, SV },
	{ CKM_SHA384_RSA_PKCS_PSS, 1024, 16384, SV },
	{ CKM_SHA512_RSA_PKCS_PSS, 1024, 16384, SV },
	{ CKM_EC_KEY_PAIR_GEN, 256, 521, CKF_GENERATE_KEY_PAIR | EC_CURVES },
	{ CKM_ECDSA, 256, 521, SV | EC_CURVES },
	{ CKM_ECDSA_SHA256, 256, 521, SV | EC_CURVES },
	{ CKM_ECDSA_SHA384, 256, 521, SV | EC_CURVES },
	{ CKM_ECDSA_SHA512, 256, 521, SV | EC_CURVES },
	{ CKM_EC_EDWARDS_KEY_PAIR_GEN, 255, 255, CKF_GENERATE_KEY_PAIR },
	{ CKM_EDDSA, 255, 255, SV },
};
const size_t p11_nmechs = sizeof(p11_mechs) / sizeof(p11_mechs[0]);

/* DER DigestInfo prefixes (RFC 8017 9.2 note 1), the digest follows. */
static const uint8_t di_sha256[] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
	0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04,
	0x20 };
static const uint8_t di_sha384[] = { 0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60,
	0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04,
	0x30 };
static const uint8_t di_sha512[] = { 0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60,
	0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04,
	0x40 };
_Static_assert(P11_OP_IN_MAX >= sizeof(di_sha512) + 64,
    "a DigestInfo and a SHA-512 digest fit in P11_OP_IN_MAX");

void
p11_sign_op_end(struct p11_sign_op *op)
{
	ks_p11_hash_free(op->hctx);
	kbuf_free(op->data);
	memset(op, 0, sizeof(*op));
}

static int
mech_hash(CK_MECHANISM_TYPE m)
{
	switch (m) {
	case CKM_SHA_1:
		return KS_P11_SHA1;
	case CKM_SHA224:
		return KS_P11_SHA224;
	case CKM_SHA256:
	case CKM_SHA256_RSA_PKCS:
	case CKM_SHA256_RSA_PKCS_PSS:
	case CKM_ECDSA_SHA256:
		return KS_P11_SHA256;
	case CKM_SHA384:
	case CKM_SHA384_RSA_PKCS:
	case CKM_SHA384_RSA_PKCS_PSS:
	case CKM_ECDSA_SHA384:
		return KS_P11_SHA384;
	case CKM_SHA512:
	case CKM_SHA512_RSA_PKCS:
	case CKM_SHA512_RSA_PKCS_PSS:
	case CKM_ECDSA_SHA512:
		return KS_P11_SHA512;
	default:
		return 0;
	}
}

static int
mgf_hash(CK_RSA_PKCS_MGF_TYPE mgf)
{
	switch (mgf) {
	case CKG_MGF1_SHA1:
		return KS_P11_SHA1;
	case CKG_MGF1_SHA224:
		return KS_P11_SHA224;
	case CKG_MGF1_SHA256:
		return KS_P11_SHA256;
	case CKG_MGF1_SHA384:
		return KS_P11_SHA384;
	case CKG_MGF1_SHA512:
		return KS_P11_SHA512;
	default:
		return 0;
	}
}

static int
is_pss(CK_MECHANISM_TYPE m)
{
	return m == CKM_RSA_PKCS_PSS || m == CKM_SHA256_RSA_PKCS_PSS ||
	    m == CKM_SHA384_RSA_PKCS_PSS || m == CKM_SHA512_RSA_PKCS_PSS;
}

/* Checks the mechanism's parameter block (caller's memory, its length). */
static CK_RV
check_params(const CK_MECHANISM *mech, struct p11_sign_op *op, size_t siglen)
{
	CK_RSA_PKCS_PSS_PARAMS pss;
	CK_EDDSA_PARAMS ed;
	size_t hlen;

	if (mech->pParameter == NULL && mech->ulParameterLen != 0)
		return CKR_ARGUMENTS_BAD;
	if (is_pss(mech->mechanism)) {
		if (mech->ulParameterLen != sizeof(pss) ||
		    mech->pParameter == NULL)
			return CKR_MECHANISM_PARAM_INVALID;
		memcpy(&pss, mech->pParameter, sizeof(pss));
		op->pss_hash = mech_hash(pss.hashAlg);
		op->pss_mgf = mgf_hash(pss.mgf);
		if (op->pss_hash == 0 || op->pss_mgf == 0)
			return CKR_MECHANISM_PARAM_INVALID;
		/* The hash-and-sign variants fix the hash. */
		if (mech->mechanism != CKM_RSA_PKCS_PSS &&
		    op->pss_hash != mech_hash(mech->mechanism))
			return CKR_MECHANISM_PARAM_INVALID;
		hlen = ks_p11_hash_len((enum ks_p11_hash)op->pss_hash);
		if (pss.sLen > siglen || hlen + pss.sLen + 2 > siglen)
			return CKR_MECHANISM_PARAM_INVALID;
		op->pss_salt = pss.sLen;
		return CKR_OK;
	}
	if (mech->mechanism == CKM_EDDSA && mech->ulParameterLen != 0) {
		/* Only pure Ed25519: no prehash, no context. */
		if (mech->ulParameterLen != sizeof(ed))
			return CKR_MECHANISM_PARAM_INVALID;
		memcpy(&ed, mech->pParameter, sizeof(ed));
		if (ed.phFlag != CK_FALSE || ed.ulContextDataLen != 0)
			return CKR_MECHANISM_PARAM_INVALID;
		return CKR_OK;
	}
	if (mech->ulParameterLen != 0)
		return CKR_MECHANISM_PARAM_INVALID;
	return CKR_OK;
}

/* Decrypts the key on its first use after a login; kept until logout. */
static CK_RV
load_signer(struct p11_key *k)
{
	struct ks_key *key = NULL;
	const uint8_t *blob;
	size_t blob_len;
	long i;
	CK_RV rv;
	int r;

	if (k->signer != NULL)
		return CKR_OK;
	if ((i = ks_store_find(p11.store, k->label)) < 0)
		return CKR_KEY_HANDLE_INVALID;
	if ((r = ks_store_load_key(p11.store, (size_t)i, &key)) != 0)
		return p11_rv(r);
	/* The label may have moved to another key since we listed it. */
	blob = ks_key_plain_blob(key, &blob_len);
	if (blob_len != k->blob_len || memcmp(blob, k->blob, blob_len) != 0) {
		rv = CKR_KEY_HANDLE_INVALID;
		goto out;
	}
	if ((r = ks_p11_signer_new(key, &k->signer)) != 0) {
		rv = p11_rv(r);
		goto out;
	}
	rv = CKR_OK;
out:
	ks_key_free(key);
	return rv;
}

CK_RV
p11_sign_init(struct p11_session *s, CK_MECHANISM_PTR mech,
    CK_OBJECT_HANDLE hkey)
{
	struct p11_sign_op *op = &s->sign;
	struct p11_key *k;
	int fresh, priv;
	CK_RV rv;

	/* Taken first: a C_SignInit that fails spends it too. */
	fresh = p11_fresh_login_take(s);
	if (mech == NULL)
		return CKR_ARGUMENTS_BAD;
	if (op->active)
		return CKR_OPERATION_ACTIVE;
	if ((k = p11_object(hkey, &priv)) == NULL)
		return p11_logged_in() ? CKR_KEY_HANDLE_INVALID :
					 CKR_USER_NOT_LOGGED_IN;
	if (!priv)
		return CKR_KEY_FUNCTION_NOT_PERMITTED;
	if ((rv = p11_op_mech_check(mech->mechanism, k, CKF_SIGN)) != CKR_OK)
		return rv;
	if ((rv = load_signer(k)) != CKR_OK)
		return rv;
	if ((rv = p11_op_begin(op, mech, ks_p11_sig_len(k->signer))) != CKR_OK)
		return rv;
	op->key = hkey;
	op->need_auth = (k->flags & KS_REC_CONFIRM) != 0;
	op->authed = op->need_auth && fresh;
	return CKR_OK;
}

CK_RV
p11_op_mech_check(CK_MECHANISM_TYPE type, const struct p11_key *k, CK_FLAGS use)
{
	const CK_MECHANISM_TYPE *m;
	size_t i, nm;

	for (i = 0; i < p11_nmechs; i++) {
		if (p11_mechs[i].type == type)
			break;
	}
	if (i == p11_nmechs || !(p11_mechs[i].flags & use))
		return CKR_MECHANISM_INVALID;
	m = p11_key_mechs(k, &nm);
	for (i = 0; i < nm; i++) {
		if (m[i] == type)
			return CKR_OK;
	}
	return CKR_KEY_TYPE_INCONSISTENT;
}

CK_RV
p11_op_begin(struct p11_sign_op *op, const CK_MECHANISM *mech, size_t siglen)
{
	CK_RV rv;
	int r;

	memset(op, 0, sizeof(*op));
	if ((rv = check_params(mech, op, siglen)) != CKR_OK)
		goto out;
	op->mech = mech->mechanism;
	if ((op->hash = mech_hash(mech->mechanism)) != 0) {
		if ((r = ks_p11_hash_new((enum ks_p11_hash)op->hash,
			 &op->hctx)) != 0) {
			rv = p11_rv(r);
			goto out;
		}
	} else {
		switch (op->mech) {
		case CKM_RSA_PKCS:
			op->data_max = siglen - 11;
			break;
		case CKM_RSA_PKCS_PSS:
			op->data_max = ks_p11_hash_len(
			    (enum ks_p11_hash)op->pss_hash);
			break;
		case CKM_ECDSA:
			op->data_max = ECDSA_INPUT_MAX;
			break;
		default:
			op->data_max = EDDSA_INPUT_MAX;
			break;
		}
		if ((op->data = kbuf_new()) == NULL) {
			rv = CKR_HOST_MEMORY;
			goto out;
		}
	}
	op->active = 1;
	rv = CKR_OK;
out:
	if (rv != CKR_OK)
		p11_sign_op_end(op);
	return rv;
}

CK_RV
p11_op_add(struct p11_sign_op *op, const uint8_t *p, size_t len)
{
	int r;

	if (op->hctx != NULL)
		r = ks_p11_hash_update(op->hctx, p, len);
	else if (len > op->data_max - kbuf_len(op->data))
		return CKR_DATA_LEN_RANGE;
	else
		r = kbuf_put(op->data, p, len);
	return r == 0 ? CKR_OK : p11_rv(r);
}

static CK_RV
sig_rv(int r)
{
	if (r == KMES_ERR_MESSAGE_TOO_LARGE)
		return CKR_DATA_LEN_RANGE;
	return p11_rv(r);
}

CK_RV
p11_op_input(struct p11_sign_op *op, uint8_t in[P11_OP_IN_MAX],
    const uint8_t **pp, size_t *lenp)
{
	const uint8_t *di = NULL, *p;
	size_t dilen = 0, len;
	int r;

	if (op->hctx != NULL) {
		if ((r = ks_p11_hash_final(op->hctx, in + sizeof(di_sha512),
			 P11_OP_IN_MAX - sizeof(di_sha512), &len)) != 0)
			return p11_rv(r);
		p = in + sizeof(di_sha512);
	} else {
		p = kbuf_ptr(op->data);
		len = kbuf_len(op->data);
	}
	switch (op->mech) {
	case CKM_SHA256_RSA_PKCS:
		di = di_sha256;
		dilen = sizeof(di_sha256);
		break;
	case CKM_SHA384_RSA_PKCS:
		di = di_sha384;
		dilen = sizeof(di_sha384);
		break;
	case CKM_SHA512_RSA_PKCS:
		di = di_sha512;
		dilen = sizeof(di_sha512);
		break;
	default:
		break;
	}
	if (di != NULL) {
		/* Put the prefix right before the digest: one DigestInfo. */
		memcpy(in + sizeof(di_sha512) - dilen, di, dilen);
		p = in + sizeof(di_sha512) - dilen;
		len += dilen;
	}
	switch (op->mech) {
	case CKM_RSA_PKCS_PSS:
	case CKM_SHA256_RSA_PKCS_PSS:
	case CKM_SHA384_RSA_PKCS_PSS:
	case CKM_SHA512_RSA_PKCS_PSS:
		if (len != ks_p11_hash_len((enum ks_p11_hash)op->pss_hash))
			return CKR_DATA_LEN_RANGE;
		break;
	case CKM_ECDSA:
		if (len == 0)
			return CKR_DATA_LEN_RANGE;
		break;
	default:
		break;
	}
	*pp = p;
	*lenp = len;
	return CKR_OK;
}

/* Makes the signature (siglen bytes) from what the operation collected. */
static CK_RV
finish(struct p11_sign_op *op, const struct p11_key *k, uint8_t *sig,
    size_t siglen)
{
	uint8_t in[P11_OP_IN_MAX];
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
		r = ks_p11_sign_rsa_pkcs1(k->signer, p, len, sig, siglen);
		break;
	case CKM_RSA_PKCS_PSS:
	case CKM_SHA256_RSA_PKCS_PSS:
	case CKM_SHA384_RSA_PKCS_PSS:
	case CKM_SHA512_RSA_PKCS_PSS:
		r = ks_p11_sign_rsa_pss(k->signer,
		    (enum ks_p11_hash)op->pss_hash,
		    (enum ks_p11_hash)op->pss_mgf, op->pss_salt, p, len, sig,
		    siglen);
		break;
	case CKM_EDDSA:
		r = ks_p11_sign_ed25519(k->signer, p, len, sig, siglen);
		break;
	default:
		r = ks_p11_sign_ecdsa(k->signer, p, len, sig, siglen);
		break;
	}
	return sig_rv(r);
}

/* The signature size, or 0 if the key went away. */
static size_t
op_siglen(struct p11_sign_op *op, struct p11_key **kp)
{
	struct p11_key *k;
	int priv;

	if ((k = p11_object(op->key, &priv)) == NULL || !priv ||
	    k->signer == NULL)
		return 0;
	*kp = k;
	return ks_p11_sig_len(k->signer);
}

/* The common tail of C_Sign and C_SignFinal. */
static CK_RV
sign_out(struct p11_sign_op *op, const uint8_t *data, size_t len,
    CK_BYTE_PTR sig, CK_ULONG_PTR siglenp)
{
	struct p11_key *k = NULL;
	size_t siglen;
	CK_RV rv;

	if ((siglen = op_siglen(op, &k)) == 0) {
		rv = CKR_KEY_HANDLE_INVALID;
		goto out;
	}
	if (sig == NULL) {
		*siglenp = siglen;
		return CKR_OK; /* a size query: keep going */
	}
	if (*siglenp < siglen) {
		*siglenp = siglen;
		return CKR_BUFFER_TOO_SMALL;
	}
	if (data != NULL && (rv = p11_op_add(op, data, len)) != CKR_OK)
		goto out;
	if ((rv = finish(op, k, sig, siglen)) == CKR_OK)
		*siglenp = siglen;
out:
	p11_sign_op_end(op);
	return rv;
}

CK_RV
p11_sign(struct p11_session *s, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig,
    CK_ULONG_PTR siglenp)
{
	struct p11_sign_op *op = &s->sign;

	if (siglenp == NULL || (data == NULL && len != 0)) {
		p11_sign_op_end(op);
		return CKR_ARGUMENTS_BAD;
	}
	if (!op->active)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (op->need_auth && !op->authed)
		return CKR_USER_NOT_LOGGED_IN;
	if (op->multi) {
		p11_sign_op_end(op);
		return CKR_ARGUMENTS_BAD;
	}
	return sign_out(op, data == NULL ? (const uint8_t *)"" : data, len, sig,
	    siglenp);
}

CK_RV
p11_op_update(struct p11_sign_op *op, CK_BYTE_PTR data, CK_ULONG len)
{
	CK_RV rv;

	if (data == NULL && len != 0) {
		p11_sign_op_end(op);
		return CKR_ARGUMENTS_BAD;
	}
	if (!op->active)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (op->need_auth && !op->authed)
		return CKR_USER_NOT_LOGGED_IN;
	op->multi = 1;
	if (len == 0)
		return CKR_OK;
	if ((rv = p11_op_add(op, data, len)) != CKR_OK)
		p11_sign_op_end(op);
	return rv;
}

CK_RV
p11_sign_update(struct p11_session *s, CK_BYTE_PTR data, CK_ULONG len)
{
	return p11_op_update(&s->sign, data, len);
}

CK_RV
p11_sign_final(struct p11_session *s, CK_BYTE_PTR sig, CK_ULONG_PTR siglenp)
{
	struct p11_sign_op *op = &s->sign;

	if (siglenp == NULL) {
		p11_sign_op_end(op);
		return CKR_ARGUMENTS_BAD;
	}
	if (!op->active)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (op->need_auth && !op->authed)
		return CKR_USER_NOT_LOGGED_IN;
	return sign_out(op, NULL, 0, sig, siglenp);
}
