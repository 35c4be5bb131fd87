/*
 * p11-store.c: the token's objects as the store file has them: following
 * changes made by kmes-keytool or the agent, finding objects, and the two
 * writes (C_GenerateKeyPair, C_DestroyObject), which go through the store
 * API and so take the same lock and atomic rename as every other writer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "store.h"
#include "p11.h"

/* Largest number of objects one C_FindObjectsInit may collect. */
#define FIND_MAX (2 * 100000)

static struct p11_key *
find_key(const char *label, const uint8_t *blob, size_t blob_len)
{
	size_t i;
	struct p11_key *k;

	for (i = 0; i < p11.nkeys; i++) {
		k = p11.keys[i];
		if (strcmp(k->label, label) == 0 && k->blob_len == blob_len &&
		    memcmp(k->blob, blob, blob_len) == 0)
			return k;
	}
	return NULL;
}

/*
 * Brings the object table in line with the store. Records that stay keep
 * their handles (and signers); a relabelled or replaced key is a new object.
 */
static CK_RV
rebuild(void)
{
	struct ks_store_entry e;
	struct p11_key *k, **nk;
	size_t i, j, n;
	int r;

	for (i = 0; i < p11.nkeys; i++)
		p11.keys[i]->seen = 0;
	n = ks_store_count(p11.store);
	for (i = 0; i < n; i++) {
		if (ks_store_entry(p11.store, i, &e) != 0)
			return CKR_DEVICE_ERROR;
		if ((k = find_key(e.label, e.blob, e.blob_len)) != NULL) {
			k->seen = 1;
			continue;
		}
		r = p11_key_new(e.label, e.blob, e.blob_len, e.flags, &k);
		if (r == KMES_ERR_KEY_UNSUPPORTED || r == KMES_ERR_KEY_INVALID)
			continue;	/* a type PKCS#11 cannot show */
		if (r != 0)
			return p11_rv(r);
		nk = reallocarray(p11.keys, p11.nkeys + 1, sizeof(*nk));
		if (nk == NULL) {
			p11_key_free(k);
			return CKR_HOST_MEMORY;
		}
		p11.keys = nk;
		k->handle = p11.next_handle;
		p11.next_handle += 2;
		k->seen = 1;
		p11.keys[p11.nkeys++] = k;
	}
	for (i = j = 0; i < p11.nkeys; i++) {
		if (p11.keys[i]->seen)
			p11.keys[j++] = p11.keys[i];
		else
			p11_key_free(p11.keys[i]);
	}
	p11.nkeys = j;
	return CKR_OK;
}

CK_RV
p11_sync(void)
{
	int changed = 0, r;

	if (p11.store == NULL) {
		/* No token yet: maybe kmes-keytool init has run since. */
		if (p11.path == NULL || ks_store_open(p11.path, &p11.store) != 0) {
			p11.store = NULL;
			return CKR_OK;
		}
		changed = 1;
	} else if ((r = ks_store_refresh(p11.store, &changed)) != 0) {
		/* A file being replaced or damaged: keep the last good view. */
		return CKR_OK;
	}
	if (!changed)
		return CKR_OK;
	return rebuild();
}

void
p11_objects_clear(void)
{
	size_t i;

	for (i = 0; i < p11.nkeys; i++)
		p11_key_free(p11.keys[i]);
	free(p11.keys);
	p11.keys = NULL;
	p11.nkeys = 0;
}

int
p11_logged_in(void)
{
	return p11.store != NULL && ks_store_logged_in(p11.store);
}

struct p11_key *
p11_object(CK_OBJECT_HANDLE h, int *priv)
{
	size_t i;

	for (i = 0; i < p11.nkeys; i++) {
		if (p11.keys[i]->handle == h) {
			*priv = 0;
			return p11.keys[i];
		}
		if (p11.keys[i]->handle + 1 == h) {
			/* Private objects do not exist for a logged-out caller. */
			if (!p11_logged_in())
				return NULL;
			*priv = 1;
			return p11.keys[i];
		}
	}
	return NULL;
}

CK_RV
p11_find_init(struct p11_session *s, CK_ATTRIBUTE_PTR attrs, CK_ULONG n)
{
	struct p11_tmpl t;
	CK_OBJECT_HANDLE *found = NULL;
	size_t i, nfound = 0;
	int priv, login;
	CK_RV rv;

	if ((rv = p11_tmpl_parse(attrs, n, &t)) != CKR_OK)
		return rv;
	if (s->find_active)
		return CKR_OPERATION_ACTIVE;
	if ((rv = p11_sync()) != CKR_OK)
		return rv;
	if (p11.nkeys > FIND_MAX / 2)
		return CKR_DEVICE_MEMORY;
	if (p11.nkeys > 0 &&
	    (found = calloc(2 * p11.nkeys, sizeof(*found))) == NULL)
		return CKR_HOST_MEMORY;
	login = p11_logged_in();
	for (i = 0; i < p11.nkeys; i++) {
		for (priv = 0; priv <= login; priv++) {
			if (p11_key_match(p11.keys[i], priv, &t))
				found[nfound++] = p11.keys[i]->handle +
				    (CK_OBJECT_HANDLE)priv;
		}
	}
	s->found = found;
	s->nfound = nfound;
	s->found_pos = 0;
	s->find_active = 1;
	return CKR_OK;
}

CK_RV
p11_find(struct p11_session *s, CK_OBJECT_HANDLE_PTR out, CK_ULONG max,
    CK_ULONG_PTR count)
{
	CK_ULONG n = 0;

	if (count == NULL || (out == NULL && max != 0))
		return CKR_ARGUMENTS_BAD;
	if (!s->find_active)
		return CKR_OPERATION_NOT_INITIALIZED;
	while (n < max && s->found_pos < s->nfound)
		out[n++] = s->found[s->found_pos++];
	*count = n;
	return CKR_OK;
}

void
p11_find_final(struct p11_session *s)
{
	free(s->found);
	s->found = NULL;
	s->nfound = s->found_pos = 0;
	s->find_active = 0;
}

CK_RV
p11_get_attrs(CK_OBJECT_HANDLE h, CK_ATTRIBUTE_PTR attrs, CK_ULONG n)
{
	struct p11_key *k;
	int priv;

	if (attrs == NULL || n == 0)
		return CKR_ARGUMENTS_BAD;
	if ((k = p11_object(h, &priv)) == NULL)
		return CKR_OBJECT_HANDLE_INVALID;
	return p11_key_get_attrs(k, priv, attrs, n);
}

CK_RV
p11_destroy(struct p11_session *s, CK_OBJECT_HANDLE h)
{
	struct p11_key *k;
	int priv, r;

	if ((k = p11_object(h, &priv)) == NULL)
		return CKR_OBJECT_HANDLE_INVALID;
	if (!(s->flags & CKF_RW_SESSION))
		return CKR_SESSION_READ_ONLY;
	if (!p11_logged_in())
		return CKR_USER_NOT_LOGGED_IN;
	/* One record holds both halves: destroying either removes the key. */
	if ((r = ks_store_delete_key(p11.store, k->label)) != 0 &&
	    r != KMES_ERR_KEY_NOT_FOUND)
		return p11_rv(r);
	return rebuild();
}

/* What the two templates ask for, checked for what the store can keep. */
static CK_RV
keygen_params(CK_MECHANISM_TYPE mech, const struct p11_tmpl *pub,
    const struct p11_tmpl *priv, enum ks_key_type *type, unsigned int *bits)
{
	static const uint8_t f4[] = { 0x01, 0x00, 0x01 };
	const struct p11_attr *a;
	CK_ULONG ul;
	int v, t;

	/* Only token keys that never leave it: say so rather than pretend. */
	if ((p11_tmpl_bool(pub, CKA_TOKEN, &v) && !v) ||
	    (p11_tmpl_bool(priv, CKA_TOKEN, &v) && !v) ||
	    (p11_tmpl_bool(priv, CKA_EXTRACTABLE, &v) && v) ||
	    (p11_tmpl_bool(priv, CKA_SENSITIVE, &v) && !v) ||
	    (p11_tmpl_bool(priv, CKA_ALWAYS_AUTHENTICATE, &v) && v))
		return CKR_TEMPLATE_INCONSISTENT;
	if ((p11_tmpl_ulong(pub, CKA_CLASS, &ul) && ul != CKO_PUBLIC_KEY) ||
	    (p11_tmpl_ulong(priv, CKA_CLASS, &ul) && ul != CKO_PRIVATE_KEY))
		return CKR_TEMPLATE_INCONSISTENT;
	*bits = 0;
	switch (mech) {
	case CKM_RSA_PKCS_KEY_PAIR_GEN:
		*type = KS_KEY_RSA;
		if (!p11_tmpl_ulong(pub, CKA_MODULUS_BITS, &ul))
			return CKR_TEMPLATE_INCOMPLETE;
		if (ul < 1024 || ul > 16384)
			return CKR_ATTRIBUTE_VALUE_INVALID;
		*bits = (unsigned int)ul;
		/* The store makes e = 65537; any other choice is refused. */
		if ((a = p11_tmpl_find(pub, CKA_PUBLIC_EXPONENT)) != NULL &&
		    (a->len != sizeof(f4) || memcmp(a->value, f4, sizeof(f4))))
			return CKR_ATTRIBUTE_VALUE_INVALID;
		break;
	case CKM_EC_KEY_PAIR_GEN:
	case CKM_EC_EDWARDS_KEY_PAIR_GEN:
		if ((a = p11_tmpl_find(pub, CKA_EC_PARAMS)) == NULL) {
			if (mech == CKM_EC_KEY_PAIR_GEN)
				return CKR_TEMPLATE_INCOMPLETE;
			*type = KS_KEY_ED25519;
			break;
		}
		if (p11_ec_params_type(a->value, a->len, &t) != 0)
			return CKR_CURVE_NOT_SUPPORTED;
		if ((mech == CKM_EC_KEY_PAIR_GEN) != (t != KS_KEY_ED25519))
			return CKR_TEMPLATE_INCONSISTENT;
		*type = (enum ks_key_type)t;
		break;
	default:
		return CKR_MECHANISM_INVALID;
	}
	return CKR_OK;
}

/* The label: CKA_LABEL of either template (the same if both), or made up. */
static CK_RV
keygen_label(const struct p11_tmpl *pub, const struct p11_tmpl *priv,
    char *label, size_t size)
{
	const struct p11_attr *a, *b;
	uint8_t rnd[4];

	a = p11_tmpl_find(priv, CKA_LABEL);
	b = p11_tmpl_find(pub, CKA_LABEL);
	if (a != NULL && b != NULL &&
	    (a->len != b->len || memcmp(a->value, b->value, a->len) != 0))
		return CKR_TEMPLATE_INCONSISTENT;
	if (a == NULL)
		a = b;
	if (a != NULL) {
		if (a->len == 0 || a->len >= size ||
		    memchr(a->value, '\0', a->len) != NULL)
			return CKR_ATTRIBUTE_VALUE_INVALID;
		memcpy(label, a->value, a->len);
		label[a->len] = '\0';
		return CKR_OK;
	}
	if (ks_random(rnd, sizeof(rnd)) != 0)
		return CKR_FUNCTION_FAILED;
	(void)snprintf(label, size, "pkcs11-%02x%02x%02x%02x", rnd[0], rnd[1],
	    rnd[2], rnd[3]);
	return CKR_OK;
}

CK_RV
p11_generate(struct p11_session *s, CK_MECHANISM_PTR mech,
    CK_ATTRIBUTE_PTR pub, CK_ULONG npub, CK_ATTRIBUTE_PTR priv,
    CK_ULONG npriv, CK_OBJECT_HANDLE_PTR hpub, CK_OBJECT_HANDLE_PTR hpriv)
{
	struct p11_tmpl tpub, tpriv;
	struct ks_key *key = NULL;
	enum ks_key_type type = KS_KEY_UNKNOWN;
	char label[KS_STORE_LABEL_MAX + 1];
	const uint8_t *blob;
	size_t i, blob_len;
	unsigned int bits = 0;
	CK_RV rv;
	int r;

	if (mech == NULL || hpub == NULL || hpriv == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((rv = p11_tmpl_parse(pub, npub, &tpub)) != CKR_OK ||
	    (rv = p11_tmpl_parse(priv, npriv, &tpriv)) != CKR_OK)
		return rv;
	if (mech->pParameter != NULL || mech->ulParameterLen != 0)
		return CKR_MECHANISM_PARAM_INVALID;
	if (!(s->flags & CKF_RW_SESSION))
		return CKR_SESSION_READ_ONLY;
	if (!p11_logged_in())
		return CKR_USER_NOT_LOGGED_IN;
	if ((rv = keygen_params(mech->mechanism, &tpub, &tpriv, &type,
	    &bits)) != CKR_OK ||
	    (rv = keygen_label(&tpub, &tpriv, label, sizeof(label))) != CKR_OK)
		return rv;
	if ((r = ks_key_generate(type, bits, &key)) != 0) {
		rv = p11_rv(r);
		goto out;
	}
	r = ks_store_add_key(p11.store, label, key,
	    KS_REC_GENERATED | KS_REC_NEVER_EXTRACTABLE);
	if (r == KMES_ERR_EXISTS || r == KMES_ERR_INVALID_ARGUMENT) {
		rv = CKR_ATTRIBUTE_VALUE_INVALID;	/* label taken or bad */
		goto out;
	}
	if (r != 0) {
		rv = p11_rv(r);
		goto out;
	}
	if ((rv = rebuild()) != CKR_OK)
		goto out;
	blob = ks_key_plain_blob(key, &blob_len);
	rv = CKR_FUNCTION_FAILED;
	for (i = 0; i < p11.nkeys; i++) {
		if (strcmp(p11.keys[i]->label, label) == 0 &&
		    p11.keys[i]->blob_len == blob_len &&
		    memcmp(p11.keys[i]->blob, blob, blob_len) == 0) {
			*hpub = p11.keys[i]->handle;
			*hpriv = p11.keys[i]->handle + 1;
			rv = CKR_OK;
			break;
		}
	}
 out:
	ks_key_free(key);
	return rv;
}
