/*
 * p11-template.c: checking the attribute templates applications pass in.
 *
 * A template is untrusted: its count, its lengths and its pointers come
 * from the caller. Nothing reads a value before its length has been checked
 * against the attribute's type, and byte strings we interpret (EC
 * parameters) are read through a kbuf, never by pointer arithmetic.
 */
#include <string.h>

#include "crypto.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "p11.h"

int
p11_attr_kind(CK_ATTRIBUTE_TYPE type)
{
	switch (type) {
	case CKA_TOKEN:
	case CKA_PRIVATE:
	case CKA_MODIFIABLE:
	case CKA_COPYABLE:
	case CKA_DESTROYABLE:
	case CKA_SENSITIVE:
	case CKA_ENCRYPT:
	case CKA_DECRYPT:
	case CKA_WRAP:
	case CKA_UNWRAP:
	case CKA_SIGN:
	case CKA_SIGN_RECOVER:
	case CKA_VERIFY:
	case CKA_VERIFY_RECOVER:
	case CKA_DERIVE:
	case CKA_EXTRACTABLE:
	case CKA_LOCAL:
	case CKA_NEVER_EXTRACTABLE:
	case CKA_ALWAYS_SENSITIVE:
	case CKA_ALWAYS_AUTHENTICATE:
	case CKA_WRAP_WITH_TRUSTED:
	case CKA_TRUSTED:
		return 1;
	case CKA_CLASS:
	case CKA_KEY_TYPE:
	case CKA_MODULUS_BITS:
	case CKA_KEY_GEN_MECHANISM:
	case CKA_CERTIFICATE_TYPE:
		return 2;
	default:
		return 0;
	}
}

CK_RV
p11_tmpl_parse(const CK_ATTRIBUTE *attrs, CK_ULONG n, struct p11_tmpl *t)
{
	const CK_ATTRIBUTE *a;
	size_t i, j;
	uint8_t b;

	memset(t, 0, sizeof(*t));
	if (attrs == NULL && n != 0)
		return CKR_ARGUMENTS_BAD;
	if (n > P11_TMPL_MAX)
		return CKR_TEMPLATE_INCONSISTENT;
	for (i = 0; i < n; i++) {
		a = &attrs[i];
		/* A length with no value would have us read from address 0. */
		if (a->pValue == NULL && a->ulValueLen != 0)
			return CKR_ATTRIBUTE_VALUE_INVALID;
		if (a->ulValueLen > P11_ATTR_VALUE_MAX)
			return CKR_ATTRIBUTE_VALUE_INVALID;
		for (j = 0; j < i; j++) {
			if (t->a[j].type == a->type)
				return CKR_TEMPLATE_INCONSISTENT;
		}
		switch (p11_attr_kind(a->type)) {
		case 1:
			/* Exactly one byte: a longer "bool" is a lie. */
			if (a->ulValueLen != sizeof(CK_BBOOL))
				return CKR_ATTRIBUTE_VALUE_INVALID;
			memcpy(&b, a->pValue, 1);
			if (b != CK_TRUE && b != CK_FALSE)
				return CKR_ATTRIBUTE_VALUE_INVALID;
			break;
		case 2:
			if (a->ulValueLen != sizeof(CK_ULONG))
				return CKR_ATTRIBUTE_VALUE_INVALID;
			break;
		default:
			break;
		}
		t->a[i].type = a->type;
		t->a[i].value = a->pValue;
		t->a[i].len = a->ulValueLen;
	}
	t->n = n;
	return CKR_OK;
}

const struct p11_attr *
p11_tmpl_find(const struct p11_tmpl *t, CK_ATTRIBUTE_TYPE type)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		if (t->a[i].type == type)
			return &t->a[i];
	}
	return NULL;
}

int
p11_tmpl_bool(const struct p11_tmpl *t, CK_ATTRIBUTE_TYPE type, int *v)
{
	const struct p11_attr *a;

	if ((a = p11_tmpl_find(t, type)) == NULL || p11_attr_kind(type) != 1 ||
	    a->len != sizeof(CK_BBOOL))
		return 0;
	*v = a->value[0] == CK_TRUE;
	return 1;
}

int
p11_tmpl_ulong(const struct p11_tmpl *t, CK_ATTRIBUTE_TYPE type, CK_ULONG *v)
{
	const struct p11_attr *a;

	if ((a = p11_tmpl_find(t, type)) == NULL || p11_attr_kind(type) != 2 ||
	    a->len != sizeof(CK_ULONG))
		return 0;
	memcpy(v, a->value, sizeof(*v));
	return 1;
}

/* Named curves: OID contents (after tag and length) and the key type. */
static const struct {
	const uint8_t *oid;
	size_t len;
	int type;
} curve_oids[] = {
	{ (const uint8_t *)"\x2a\x86\x48\xce\x3d\x03\x01\x07", 8,
	    KS_KEY_ECDSA_P256 },
	{ (const uint8_t *)"\x2b\x81\x04\x00\x22", 5, KS_KEY_ECDSA_P384 },
	{ (const uint8_t *)"\x2b\x81\x04\x00\x23", 5, KS_KEY_ECDSA_P521 },
	/* id-Ed25519 (RFC 8410) */
	{ (const uint8_t *)"\x2b\x65\x70", 3, KS_KEY_ED25519 },
	/* 1.3.6.1.4.1.11591.15.1, which OpenSC 0.23 calls edwards25519 */
	{ (const uint8_t *)"\x2b\x06\x01\x04\x01\xda\x47\x0f\x01", 9,
	    KS_KEY_ED25519 },
};

int
p11_ec_params_type(const uint8_t *p, size_t len, int *type)
{
	struct kbuf *b = NULL;
	uint8_t tag, l;
	size_t i;
	int r;

	*type = KS_KEY_UNKNOWN;
	if ((b = kbuf_from(p, len)) == NULL)
		return KMES_ERR_INVALID_FORMAT;
	if ((r = kbuf_get_u8(b, &tag)) != 0 || (r = kbuf_get_u8(b, &l)) != 0)
		goto out;
	/* Every name we know is short: a long-form length is not one. */
	if (l >= 0x80 || kbuf_len(b) != l) {
		r = KMES_ERR_INVALID_FORMAT;
		goto out;
	}
	r = KMES_ERR_KEY_UNSUPPORTED;
	if (tag == 0x06) {
		for (i = 0; i < sizeof(curve_oids) / sizeof(curve_oids[0]);
		     i++) {
			if (kbuf_equal_bytes(b, curve_oids[i].oid,
				curve_oids[i].len)) {
				*type = curve_oids[i].type;
				r = 0;
				break;
			}
		}
	} else if (tag == 0x13) {
		/* PKCS#11 3.0 also names Edwards curves as printable text. */
		if (kbuf_equal_bytes(b, "edwards25519", 12) ||
		    kbuf_equal_bytes(b, "Ed25519", 7)) {
			*type = KS_KEY_ED25519;
			r = 0;
		}
	} else
		r = KMES_ERR_INVALID_FORMAT;
out:
	kbuf_free(b);
	return r;
}
