/*
 * p11-keygen.c: C_GenerateKeyPair, for a store record (CKA_TOKEN true,
 * written through the store API in a read-write session after login) or a
 * session key pair (CKA_TOKEN false, the PKCS#11 default).
 *
 * A session key pair lives only in this process: its private key goes
 * from generation straight into a signer in OpenSSL's locked heap, and
 * the object table holds it until its session ends. As PKCS#11 allows, a
 * read-only session may make one, and without login if neither half is
 * CKA_PRIVATE; that changes nothing in the store and reveals nothing of
 * the user's keys.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "kmes-err.h"
#include "p11.h"
#include "store.h"

/* What the two templates ask for, checked for what the module can keep. */
static CK_RV
keygen_params(CK_MECHANISM_TYPE mech, const struct p11_tmpl *pub,
    const struct p11_tmpl *priv, enum ks_key_type *type, unsigned int *bits)
{
	static const uint8_t f4[] = { 0x01, 0x00, 0x01 };
	const struct p11_attr *a;
	CK_ULONG ul;
	size_t i;
	int v, t;

	/* Only keys that never leave: say so rather than pretend. */
	if ((p11_tmpl_bool(priv, CKA_EXTRACTABLE, &v) && v) ||
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
		/* The store makes e = 65537; any other choice is refused
		 * (a big-endian value may come with leading zero bytes). */
		if ((a = p11_tmpl_find(pub, CKA_PUBLIC_EXPONENT)) != NULL) {
			for (i = 0; i < a->len && a->value[i] == 0; i++)
				;
			if (a->len - i != sizeof(f4) ||
			    memcmp(a->value + i, f4, sizeof(f4)) != 0)
				return CKR_ATTRIBUTE_VALUE_INVALID;
		}
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

/*
 * The label: CKA_LABEL of either template (the same if both), or made up
 * for a store record (made_up), which needs one; a session key may have
 * none.
 */
static CK_RV
keygen_label(const struct p11_tmpl *pub, const struct p11_tmpl *priv,
    char *label, size_t size, int made_up)
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
	label[0] = '\0';
	if (!made_up)
		return CKR_OK;
	if (ks_random(rnd, sizeof(rnd)) != 0)
		return CKR_FUNCTION_FAILED;
	(void)snprintf(label, size, "pkcs11-%02x%02x%02x%02x", rnd[0], rnd[1],
	    rnd[2], rnd[3]);
	return CKR_OK;
}

/*
 * CKA_ID of either template (the same if both): 0 and *lenp set, or
 * *lenp 0 if none was given. One no other key has (CKR_ATTRIBUTE_VALUE_
 * INVALID otherwise, as for a label the store already has): consumers pair
 * keys and certificates by it.
 */
static CK_RV
keygen_id(const struct p11_tmpl *pub, const struct p11_tmpl *priv,
    uint8_t id[P11_ID_MAX], size_t *lenp)
{
	const struct p11_attr *a, *b;

	*lenp = 0;
	a = p11_tmpl_find(priv, CKA_ID);
	b = p11_tmpl_find(pub, CKA_ID);
	if (a != NULL && b != NULL &&
	    (a->len != b->len || memcmp(a->value, b->value, a->len) != 0))
		return CKR_TEMPLATE_INCONSISTENT;
	if (a == NULL)
		a = b;
	if (a == NULL)
		return CKR_OK;
	if (a->len == 0 || a->len > P11_ID_MAX)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	if (p11_id_taken(NULL, a->value, a->len))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	memcpy(id, a->value, a->len);
	*lenp = a->len;
	return CKR_OK;
}

/* A store record, as kmes-keytool generate makes one. */
static CK_RV
generate_token(struct p11_session *s, const struct p11_tmpl *tpub,
    const struct p11_tmpl *tpriv, enum ks_key_type type, unsigned int bits,
    CK_OBJECT_HANDLE_PTR hpub, CK_OBJECT_HANDLE_PTR hpriv)
{
	struct ks_key *key = NULL;
	char label[KS_STORE_LABEL_MAX + 1];
	uint8_t id[P11_ID_MAX];
	const uint8_t *blob;
	size_t i, blob_len, id_len;
	CK_RV rv;
	int r;

	if (!(s->flags & CKF_RW_SESSION))
		return CKR_SESSION_READ_ONLY;
	if (!p11_logged_in())
		return CKR_USER_NOT_LOGGED_IN;
	/* The IDs other processes gave count as much as ours. */
	if ((rv = p11_sync()) != CKR_OK ||
	    (rv = keygen_label(tpub, tpriv, label, sizeof(label), 1)) !=
		CKR_OK ||
	    (rv = keygen_id(tpub, tpriv, id, &id_len)) != CKR_OK)
		return rv;
	if ((r = ks_key_generate(type, bits, &key)) != 0) {
		rv = p11_rv(r);
		goto out;
	}
	/* The store keeps the caller's CKA_ID; none keeps the derived one. */
	r = ks_store_add_key_id(p11.store, label, key,
	    KS_REC_GENERATED | KS_REC_NEVER_EXTRACTABLE,
	    id_len != 0 ? id : NULL, id_len);
	if (r == KMES_ERR_EXISTS || r == KMES_ERR_INVALID_ARGUMENT) {
		/* label or ID taken, or a bad label */
		rv = CKR_ATTRIBUTE_VALUE_INVALID;
		goto out;
	}
	if (r != 0) {
		rv = p11_rv(r);
		goto out;
	}
	if ((rv = p11_rebuild()) != CKR_OK)
		goto out;
	blob = ks_key_plain_blob(key, &blob_len);
	rv = CKR_FUNCTION_FAILED;
	for (i = 0; i < p11.nkeys; i++) {
		if (p11.keys[i]->session == 0 &&
		    strcmp(p11.keys[i]->label, label) == 0 &&
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

/* A session key pair: never written, the private half only locked. */
static CK_RV
generate_session(struct p11_session *s, const struct p11_tmpl *tpub,
    const struct p11_tmpl *tpriv, enum ks_key_type type, unsigned int bits,
    CK_OBJECT_HANDLE_PTR hpub, CK_OBJECT_HANDLE_PTR hpriv)
{
	struct ks_key *key = NULL;
	struct p11_key *k = NULL, **nk;
	char label[KS_STORE_LABEL_MAX + 1];
	uint8_t id[P11_ID_MAX];
	const uint8_t *blob;
	size_t i, n, id_len;
	int pub_private = 0, priv_private = 1, r;
	CK_RV rv;

	(void)p11_tmpl_bool(tpub, CKA_PRIVATE, &pub_private);
	(void)p11_tmpl_bool(tpriv, CKA_PRIVATE, &priv_private);
	if ((pub_private || priv_private) && !p11_logged_in())
		return CKR_USER_NOT_LOGGED_IN;
	for (i = n = 0; i < p11.nkeys; i++)
		n += p11.keys[i]->session != 0;
	if (n >= P11_MAX_SESSION_KEYS)
		return CKR_DEVICE_MEMORY;
	if ((rv = keygen_label(tpub, tpriv, label, sizeof(label), 0)) !=
		CKR_OK ||
	    (rv = keygen_id(tpub, tpriv, id, &id_len)) != CKR_OK)
		return rv;
	if ((r = ks_key_generate(type, bits, &key)) != 0) {
		rv = p11_rv(r);
		goto out;
	}
	blob = ks_key_plain_blob(key, &n);
	if ((r = p11_key_new(label, blob, n,
		 KS_REC_GENERATED | KS_REC_NEVER_EXTRACTABLE, &k)) != 0 ||
	    (r = ks_p11_signer_new(key, &k->signer)) != 0) {
		rv = p11_rv(r);
		goto out;
	}
	if ((nk = reallocarray(p11.keys, p11.nkeys + 1, sizeof(*nk))) == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	p11.keys = nk;
	k->session = s->handle;
	k->pub_private = pub_private;
	k->priv_private = priv_private;
	if (id_len > 0) {
		memcpy(k->id, id, id_len);
		k->id_len = id_len;
	}
	k->handle = p11.next_handle;
	p11.next_handle += 2;
	k->seen = 1;
	p11.keys[p11.nkeys++] = k;
	*hpub = k->handle;
	*hpriv = k->handle + 1;
	k = NULL;
	rv = CKR_OK;
out:
	p11_key_free(k);
	ks_key_free(key); /* the signer holds its own copy, locked */
	return rv;
}

CK_RV
p11_generate(struct p11_session *s, CK_MECHANISM_PTR mech, CK_ATTRIBUTE_PTR pub,
    CK_ULONG npub, CK_ATTRIBUTE_PTR priv, CK_ULONG npriv,
    CK_OBJECT_HANDLE_PTR hpub, CK_OBJECT_HANDLE_PTR hpriv)
{
	struct p11_tmpl tpub, tpriv;
	enum ks_key_type type = KS_KEY_UNKNOWN;
	unsigned int bits = 0;
	int pub_token = 0, priv_token = 0;
	CK_RV rv;

	if (mech == NULL || hpub == NULL || hpriv == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((rv = p11_tmpl_parse(pub, npub, &tpub)) != CKR_OK ||
	    (rv = p11_tmpl_parse(priv, npriv, &tpriv)) != CKR_OK)
		return rv;
	if (mech->pParameter != NULL || mech->ulParameterLen != 0)
		return CKR_MECHANISM_PARAM_INVALID;
	(void)p11_tmpl_bool(&tpub, CKA_TOKEN, &pub_token);
	(void)p11_tmpl_bool(&tpriv, CKA_TOKEN, &priv_token);
	/* One record or one session pair: both halves live together. */
	if (pub_token != priv_token &&
	    p11_tmpl_find(&tpub, CKA_TOKEN) != NULL &&
	    p11_tmpl_find(&tpriv, CKA_TOKEN) != NULL)
		return CKR_TEMPLATE_INCONSISTENT;
	if ((rv = keygen_params(mech->mechanism, &tpub, &tpriv, &type,
		 &bits)) != CKR_OK)
		return rv;
	if (pub_token || priv_token)
		return generate_token(s, &tpub, &tpriv, type, bits, hpub,
		    hpriv);
	return generate_session(s, &tpub, &tpriv, type, bits, hpub, hpriv);
}
