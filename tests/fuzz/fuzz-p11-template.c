/*
 * fuzz-p11-template.c: the PKCS#11 module's handling of attribute
 * templates (keystore/pkcs11/p11-template.c, p11-object.c): an
 * application's CK_ATTRIBUTE array as C_FindObjectsInit,
 * C_GenerateKeyPair and C_GetAttributeValue receive it.
 *
 * The input is a list of attributes, each: type (4 bytes, big-endian), a
 * flags byte, a 2-byte length and that many value bytes (fewer if the
 * input ends). Flag 1 passes a NULL pValue that keeps the claimed length
 * (the lie a module must refuse); flag 2 claims the length of a CK_ULONG or
 * CK_BBOOL whatever the bytes are. Every value is its own malloc'd copy of
 * exactly the bytes given, so reading one byte too far is an ASan report.
 * The same template then goes through the parser, object matching,
 * C_GetAttributeValue's filler (writing into those buffers), the EC
 * parameter reader, and the remainder of the input through the public
 * blob reader that builds objects from store records.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "fuzz-common.h"
#include "kmes-err.h"
#include "p11.h"
#include "store.h"

#define MAX_ATTRS (P11_TMPL_MAX + 8)

static struct p11_key *objs[3];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const enum ks_key_type types[] = { KS_KEY_RSA, KS_KEY_ECDSA_P256,
		KS_KEY_ED25519 };
	struct ks_key *k = NULL;
	const uint8_t *blob;
	size_t i, len;

	fuzz_init_crypto();
	for (i = 0; i < 3; i++) {
		FUZZ_CHECK(ks_key_generate(types[i], 1024, &k) == 0);
		blob = ks_key_blob(k, &len);
		FUZZ_CHECK(p11_key_new(i == 0 ? "rsa" : "key", blob, len,
			       i == 1 ? KS_REC_GENERATED : 0, &objs[i]) == 0);
		ks_key_free(k);
	}
	return 0;
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static int
rv_allowed_parse(CK_RV rv)
{
	return rv == CKR_OK || rv == CKR_ARGUMENTS_BAD ||
	    rv == CKR_ATTRIBUTE_VALUE_INVALID ||
	    rv == CKR_TEMPLATE_INCONSISTENT;
}

static int
rv_allowed_get(CK_RV rv)
{
	return rv == CKR_OK || rv == CKR_ATTRIBUTE_SENSITIVE ||
	    rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_BUFFER_TOO_SMALL;
}

static void
check_parsed(const CK_ATTRIBUTE *a, size_t n, const struct p11_tmpl *t)
{
	size_t i, j;

	FUZZ_CHECK(t->n == n);
	for (i = 0; i < n; i++) {
		FUZZ_CHECK(t->a[i].type == a[i].type);
		FUZZ_CHECK(t->a[i].len == a[i].ulValueLen);
		FUZZ_CHECK(t->a[i].len == 0 || t->a[i].value != NULL);
		if (p11_attr_kind(a[i].type) == 1)
			FUZZ_CHECK(t->a[i].len == 1 && t->a[i].value[0] <= 1);
		if (p11_attr_kind(a[i].type) == 2)
			FUZZ_CHECK(t->a[i].len == sizeof(CK_ULONG));
		for (j = 0; j < i; j++)
			FUZZ_CHECK(t->a[j].type != t->a[i].type);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	CK_ATTRIBUTE attrs[MAX_ATTRS];
	size_t sizes[MAX_ATTRS];
	struct p11_tmpl t;
	struct p11_key *k = NULL;
	size_t n = 0, i, j, len, off = 0;
	uint8_t fl;
	CK_RV rv;
	int priv, type, r;

	fuzz_begin();
	memset(attrs, 0, sizeof(attrs));
	while (n < MAX_ATTRS && size - off >= 7) {
		attrs[n].type = be32(data + off);
		fl = data[off + 4];
		len = (size_t)data[off + 5] << 8 | data[off + 6];
		off += 7;
		if (len > size - off)
			len = size - off;
		sizes[n] = len;
		if (fl & 1) {
			attrs[n].pValue = NULL;
			attrs[n].ulValueLen = len;
		} else {
			/* malloc(0) may be NULL: keep one byte for it. */
			attrs[n].pValue = malloc(len == 0 ? 1 : len);
			FUZZ_CHECK(attrs[n].pValue != NULL);
			if (len > 0)
				memcpy(attrs[n].pValue, data + off, len);
			attrs[n].ulValueLen = len;
			if ((fl & 2) && p11_attr_kind(attrs[n].type) != 0 &&
			    len >= sizeof(CK_ULONG))
				attrs[n].ulValueLen = p11_attr_kind(
							  attrs[n].type) == 1 ?
				    sizeof(CK_BBOOL) :
				    sizeof(CK_ULONG);
		}
		off += len;
		n++;
	}

	rv = p11_tmpl_parse(attrs, n, &t);
	FUZZ_CHECK(rv_allowed_parse(rv));
	if (rv == CKR_OK) {
		check_parsed(attrs, n, &t);
		for (i = 0; i < 3; i++) {
			for (priv = 0; priv <= 1; priv++)
				(void)p11_key_match(objs[i], priv, &t);
		}
		for (i = 0; i < t.n; i++) {
			r = p11_ec_params_type(t.a[i].value, t.a[i].len, &type);
			FUZZ_CHECK_CODE(r);
			FUZZ_CHECK(r != 0 || type != KS_KEY_UNKNOWN);
		}
	}
	/*
	 * The filler writes into the buffers: never past what they hold.
	 * Each call rewrites ulValueLen, so the true sizes go back first.
	 */
	for (i = 0; i < 3; i++) {
		for (priv = 0; priv <= 1; priv++) {
			for (j = 0; j < n; j++) {
				if (attrs[j].pValue != NULL)
					attrs[j].ulValueLen = sizes[j];
			}
			rv = p11_key_get_attrs(objs[i], priv, attrs, n);
			FUZZ_CHECK(
			    rv_allowed_get(rv) || (n == 0 && rv == CKR_OK));
		}
	}

	/* What is left: a public key blob, as a store record holds one. */
	r = p11_key_new("fuzz", data + off, size - off, 0, &k);
	FUZZ_CHECK_CODE(r);
	if (r == 0) {
		FUZZ_CHECK(k->ck_type == CKK_RSA || k->ck_type == CKK_EC ||
		    k->ck_type == CKK_EC_EDWARDS);
		FUZZ_CHECK(k->point_len <= sizeof(k->point));
		FUZZ_CHECK(k->ck_type != CKK_RSA || k->n_len > 0);
	} else
		FUZZ_CHECK(k == NULL);
	p11_key_free(k);

	for (i = 0; i < n; i++)
		free(attrs[i].pValue);
	fuzz_end();
	return 0;
}
