/*
 * p11-object.c: a store record seen as two PKCS#11 key objects, and their
 * attributes.
 *
 * Public values come from the record's SSH public key blob, read with a
 * kbuf: RSA modulus and exponent, the EC point, the Ed25519 key. Private
 * values are never attributes: asking for one answers CKR_ATTRIBUTE_SENSITIVE.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "p11.h"
#include "secmem.h"
#include "store.h"

/* CKA_EC_PARAMS: the named curve's OID, DER. */
static const uint8_t oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
	0x03, 0x01, 0x07 };
static const uint8_t oid_p384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
static const uint8_t oid_p521[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23 };
static const uint8_t oid_ed25519[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };

static const CK_MECHANISM_TYPE rsa_mechs[] = {
	CKM_RSA_PKCS,
	CKM_SHA256_RSA_PKCS,
	CKM_SHA384_RSA_PKCS,
	CKM_SHA512_RSA_PKCS,
	CKM_RSA_PKCS_PSS,
	CKM_SHA256_RSA_PKCS_PSS,
	CKM_SHA384_RSA_PKCS_PSS,
	CKM_SHA512_RSA_PKCS_PSS,
};
static const CK_MECHANISM_TYPE ec_mechs[] = {
	CKM_ECDSA,
	CKM_ECDSA_SHA256,
	CKM_ECDSA_SHA384,
	CKM_ECDSA_SHA512,
};
static const CK_MECHANISM_TYPE ed_mechs[] = { CKM_EDDSA };

static const CK_BBOOL p11_true = CK_TRUE, p11_false = CK_FALSE;

void
p11_key_free(struct p11_key *k)
{
	if (k == NULL)
		return;
	ks_p11_signer_free(k->signer);
	ks_p11_signer_free(k->verifier);
	free(k->label);
	free(k->blob);
	kmes_freezero(k, sizeof(*k));
}

/* Bit length of a big-endian magnitude without leading zeros. */
static CK_ULONG
mag_bits(const uint8_t *p, size_t len)
{
	CK_ULONG bits;
	uint8_t top;

	if (len == 0)
		return 0;
	bits = (CK_ULONG)(len - 1) * 8;
	for (top = p[0]; top != 0; top >>= 1)
		bits++;
	return bits;
}

/* Writes the point as a DER OCTET STRING into k->point. */
static int
set_point(struct p11_key *k, const uint8_t *q, size_t qlen)
{
	size_t hdr = qlen < 0x80 ? 2 : 3;

	if (qlen > 0xff || hdr + qlen > sizeof(k->point))
		return KMES_ERR_KEY_INVALID;
	k->point[0] = 0x04;
	if (hdr == 2)
		k->point[1] = (uint8_t)qlen;
	else {
		k->point[1] = 0x81;
		k->point[2] = (uint8_t)qlen;
	}
	memcpy(k->point + hdr, q, qlen);
	k->point_len = hdr + qlen;
	return 0;
}

static int
name_is(const uint8_t *p, size_t len, const char *s)
{
	return len == strlen(s) && memcmp(p, s, len) == 0;
}

/* Reads the public values out of k->blob. */
static int
parse_blob(struct p11_key *k)
{
	struct kbuf *b = NULL;
	const uint8_t *tn, *q;
	size_t tnlen, qlen, want = 0;
	int r;

	if ((b = kbuf_from(k->blob, k->blob_len)) == NULL)
		return KMES_ERR_ALLOC;
	if ((r = kbuf_get_string_direct(b, &tn, &tnlen)) != 0)
		goto out;
	if (name_is(tn, tnlen, "ssh-rsa")) {
		k->type = KS_KEY_RSA;
		k->ck_type = CKK_RSA;
		if ((r = kbuf_get_mpint_direct(b, &k->e, &k->e_len)) != 0 ||
		    (r = kbuf_get_mpint_direct(b, &k->n, &k->n_len)) != 0)
			goto out;
		if (k->n_len == 0 || k->e_len == 0) {
			r = KMES_ERR_KEY_INVALID;
			goto out;
		}
		k->bits = mag_bits(k->n, k->n_len);
	} else if (name_is(tn, tnlen, "ssh-ed25519")) {
		k->type = KS_KEY_ED25519;
		k->ck_type = CKK_EC_EDWARDS;
		k->params = oid_ed25519;
		k->params_len = sizeof(oid_ed25519);
		k->bits = 256;
		if ((r = kbuf_get_string_direct(b, &q, &qlen)) != 0)
			goto out;
		want = 32;
	} else {
		k->ck_type = CKK_EC;
		if (name_is(tn, tnlen, "ecdsa-sha2-nistp256")) {
			k->type = KS_KEY_ECDSA_P256;
			k->params = oid_p256;
			k->params_len = sizeof(oid_p256);
			k->bits = 256;
			want = 65;
		} else if (name_is(tn, tnlen, "ecdsa-sha2-nistp384")) {
			k->type = KS_KEY_ECDSA_P384;
			k->params = oid_p384;
			k->params_len = sizeof(oid_p384);
			k->bits = 384;
			want = 97;
		} else if (name_is(tn, tnlen, "ecdsa-sha2-nistp521")) {
			k->type = KS_KEY_ECDSA_P521;
			k->params = oid_p521;
			k->params_len = sizeof(oid_p521);
			k->bits = 521;
			want = 133;
		} else {
			r = KMES_ERR_KEY_UNSUPPORTED;
			goto out;
		}
		if ((r = kbuf_get_string_direct(b, NULL, NULL)) != 0 ||
		    (r = kbuf_get_string_direct(b, &q, &qlen)) != 0)
			goto out;
	}
	if (k->type != KS_KEY_RSA) {
		if (qlen != want) {
			r = KMES_ERR_KEY_INVALID;
			goto out;
		}
		if ((r = set_point(k, q, qlen)) != 0)
			goto out;
	}
	if (kbuf_len(b) != 0) {
		r = KMES_ERR_INVALID_FORMAT;
		goto out;
	}
	r = 0;
out:
	kbuf_free(b);
	return r;
}

/* CKA_ID: the first bytes of SHA-256 over the public blob, stable forever. */
static int
make_id(struct p11_key *k)
{
	struct ks_p11_hash_ctx *h = NULL;
	uint8_t dg[64];
	size_t dglen;
	int r;

	if ((r = ks_p11_hash_new(KS_P11_SHA256, &h)) != 0 ||
	    (r = ks_p11_hash_update(h, k->blob, k->blob_len)) != 0 ||
	    (r = ks_p11_hash_final(h, dg, sizeof(dg), &dglen)) != 0)
		goto out;
	memcpy(k->id, dg, P11_ID_LEN);
	k->id_len = P11_ID_LEN;
out:
	ks_p11_hash_free(h);
	return r;
}

int
p11_key_set_id(struct p11_key *k, const uint8_t *id, size_t len)
{
	if (len > sizeof(k->id))
		return KMES_ERR_INVALID_ARGUMENT;
	if (len == 0)
		return make_id(k);
	memcpy(k->id, id, len);
	k->id_len = len;
	return 0;
}

int
p11_key_new(const char *label, const uint8_t *blob, size_t blob_len,
    uint32_t flags, struct p11_key **kp)
{
	struct p11_key *k = NULL;
	int r;

	*kp = NULL;
	if (label == NULL || blob == NULL || blob_len == 0)
		return KMES_ERR_INVALID_ARGUMENT;
	if ((k = calloc(1, sizeof(*k))) == NULL ||
	    (k->label = strdup(label)) == NULL ||
	    (k->blob = malloc(blob_len)) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	memcpy(k->blob, blob, blob_len);
	k->blob_len = blob_len;
	k->flags = flags;
	k->priv_private = 1;
	if ((r = parse_blob(k)) != 0 || (r = make_id(k)) != 0)
		goto out;
	*kp = k;
	k = NULL;
out:
	p11_key_free(k);
	return r;
}

const CK_MECHANISM_TYPE *
p11_key_mechs(const struct p11_key *k, size_t *np)
{
	switch (k->ck_type) {
	case CKK_RSA:
		*np = sizeof(rsa_mechs) / sizeof(rsa_mechs[0]);
		return rsa_mechs;
	case CKK_EC:
		*np = sizeof(ec_mechs) / sizeof(ec_mechs[0]);
		return ec_mechs;
	default:
		*np = sizeof(ed_mechs) / sizeof(ed_mechs[0]);
		return ed_mechs;
	}
}

static CK_MECHANISM_TYPE
gen_mech(const struct p11_key *k)
{
	switch (k->ck_type) {
	case CKK_RSA:
		return CKM_RSA_PKCS_KEY_PAIR_GEN;
	case CKK_EC:
		return CKM_EC_KEY_PAIR_GEN;
	default:
		return CKM_EC_EDWARDS_KEY_PAIR_GEN;
	}
}

#define BOOLV(x) \
	do { \
		*vp = (x) ? &p11_true : &p11_false; \
		*lenp = sizeof(CK_BBOOL); \
		return P11_ATTR_OK; \
	} while (0)

#define ULONGV(x) \
	do { \
		buf->ul = (x); \
		*vp = &buf->ul; \
		*lenp = sizeof(CK_ULONG); \
		return P11_ATTR_OK; \
	} while (0)

#define BYTESV(p, n) \
	do { \
		*vp = (p); \
		*lenp = (n); \
		return P11_ATTR_OK; \
	} while (0)

/* The attributes only a private key object has. */
static enum p11_attr_res
private_attr(const struct p11_key *k, CK_ATTRIBUTE_TYPE type, const void **vp,
    size_t *lenp)
{
	int gen = (k->flags & KS_REC_GENERATED) != 0;

	switch (type) {
	case CKA_SENSITIVE:
	case CKA_SIGN:
		BOOLV(1);
	case CKA_DECRYPT:
	case CKA_SIGN_RECOVER:
	case CKA_UNWRAP:
	case CKA_EXTRACTABLE:
	case CKA_WRAP_WITH_TRUSTED:
		BOOLV(0);
	case CKA_ALWAYS_AUTHENTICATE:
		/* kmes-keytool --confirm: the PIN again for every signature. */
		BOOLV((k->flags & KS_REC_CONFIRM) != 0);
	case CKA_ALWAYS_SENSITIVE:
	case CKA_NEVER_EXTRACTABLE:
		/* An imported key was once a file: it was extractable then. */
		BOOLV(gen);
	case CKA_PRIVATE_EXPONENT:
	case CKA_PRIME_1:
	case CKA_PRIME_2:
	case CKA_EXPONENT_1:
	case CKA_EXPONENT_2:
	case CKA_COEFFICIENT:
		return k->ck_type == CKK_RSA ? P11_ATTR_SENSITIVE :
					       P11_ATTR_INVALID;
	case CKA_VALUE:
		return k->ck_type != CKK_RSA ? P11_ATTR_SENSITIVE :
					       P11_ATTR_INVALID;
	default:
		return P11_ATTR_INVALID;
	}
}

static enum p11_attr_res
public_attr(CK_ATTRIBUTE_TYPE type, const void **vp, size_t *lenp)
{
	switch (type) {
	case CKA_VERIFY:
		BOOLV(1);
	case CKA_ENCRYPT:
	case CKA_VERIFY_RECOVER:
	case CKA_WRAP:
	case CKA_TRUSTED:
		BOOLV(0);
	default:
		return P11_ATTR_INVALID;
	}
}

enum p11_attr_res
p11_key_attr(const struct p11_key *k, int priv, CK_ATTRIBUTE_TYPE type,
    union p11_attr_buf *buf, const void **vp, size_t *lenp)
{
	const CK_MECHANISM_TYPE *m;
	size_t nm;
	int gen = (k->flags & KS_REC_GENERATED) != 0;

	*vp = NULL;
	*lenp = 0;
	switch (type) {
	case CKA_CLASS:
		ULONGV(priv ? CKO_PRIVATE_KEY : CKO_PUBLIC_KEY);
	case CKA_TOKEN:
		BOOLV(k->session == 0);
	case CKA_DESTROYABLE:
		BOOLV(1);
	case CKA_PRIVATE:
		BOOLV(priv ? k->priv_private : k->pub_private);
	case CKA_MODIFIABLE:
		BOOLV(1); /* CKA_ID and CKA_LABEL, see p11_set_attrs */
	case CKA_COPYABLE:
	case CKA_DERIVE:
		BOOLV(0);
	case CKA_LOCAL:
		BOOLV(gen);
	case CKA_LABEL:
		BYTESV(k->label, strlen(k->label));
	case CKA_ID:
		BYTESV(k->id, k->id_len);
	case CKA_KEY_TYPE:
		ULONGV(k->ck_type);
	case CKA_KEY_GEN_MECHANISM:
		ULONGV(gen ? gen_mech(k) : CK_UNAVAILABLE_INFORMATION);
	case CKA_START_DATE:
	case CKA_END_DATE:
	case CKA_SUBJECT:
		BYTESV(k->id, 0);
	case CKA_ALLOWED_MECHANISMS:
		m = p11_key_mechs(k, &nm);
		BYTESV(m, nm * sizeof(*m));
	case CKA_MODULUS:
		if (k->ck_type != CKK_RSA)
			return P11_ATTR_INVALID;
		BYTESV(k->n, k->n_len);
	case CKA_PUBLIC_EXPONENT:
		if (k->ck_type != CKK_RSA)
			return P11_ATTR_INVALID;
		BYTESV(k->e, k->e_len);
	case CKA_MODULUS_BITS:
		if (k->ck_type != CKK_RSA)
			return P11_ATTR_INVALID;
		ULONGV(k->bits);
	case CKA_EC_PARAMS:
		if (k->ck_type == CKK_RSA)
			return P11_ATTR_INVALID;
		BYTESV(k->params, k->params_len);
	case CKA_EC_POINT:
		if (k->ck_type == CKK_RSA)
			return P11_ATTR_INVALID;
		BYTESV(k->point, k->point_len);
	default:
		break;
	}
	if (priv)
		return private_attr(k, type, vp, lenp);
	return public_attr(type, vp, lenp);
}

CK_RV
p11_key_get_attrs(const struct p11_key *k, int priv, CK_ATTRIBUTE *attrs,
    CK_ULONG n)
{
	union p11_attr_buf buf;
	const void *v;
	size_t len;
	CK_ULONG i;
	CK_RV rv = CKR_OK;

	if (attrs == NULL && n != 0)
		return CKR_ARGUMENTS_BAD;
	for (i = 0; i < n; i++) {
		switch (p11_key_attr(k, priv, attrs[i].type, &buf, &v, &len)) {
		case P11_ATTR_SENSITIVE:
			attrs[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			rv = CKR_ATTRIBUTE_SENSITIVE;
			continue;
		case P11_ATTR_INVALID:
			attrs[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			rv = CKR_ATTRIBUTE_TYPE_INVALID;
			continue;
		case P11_ATTR_OK:
			break;
		}
		if (attrs[i].pValue == NULL)
			attrs[i].ulValueLen = len;
		else if (attrs[i].ulValueLen < len) {
			attrs[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			rv = CKR_BUFFER_TOO_SMALL;
		} else {
			if (len > 0)
				memcpy(attrs[i].pValue, v, len);
			attrs[i].ulValueLen = len;
		}
	}
	return rv;
}

int
p11_key_match(const struct p11_key *k, int priv, const struct p11_tmpl *t)
{
	union p11_attr_buf buf;
	const void *v;
	size_t i, len;

	for (i = 0; i < t->n; i++) {
		if (p11_key_attr(k, priv, t->a[i].type, &buf, &v, &len) !=
			P11_ATTR_OK ||
		    len != t->a[i].len ||
		    (len > 0 && memcmp(v, t->a[i].value, len) != 0))
			return 0;
	}
	return 1;
}
