/*
 * p11-store.c: the token's objects as the store file has them: following
 * changes made by kmes-keytool or the agent, finding objects, and
 * C_DestroyObject, which like C_GenerateKeyPair (p11-keygen.c) writes
 * through the store API and so takes the same lock and atomic rename as
 * every other writer, and C_SetAttributeValue of CKA_ID and CKA_LABEL.
 * Session keys (p11-keygen.c) share the object table but are never
 * written: a rebuild keeps them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "p11.h"
#include "store.h"

/* Every CKA_ID a caller may give fits the store's field. */
_Static_assert(P11_ID_MAX <= KS_STORE_CKAID_MAX,
    "a CKA_ID longer than the store keeps");

/* Largest number of objects one C_FindObjectsInit may collect. */
#define FIND_MAX (2 * 100000)

static struct p11_key *
find_key(const char *label, const uint8_t *blob, size_t blob_len)
{
	size_t i;
	struct p11_key *k;

	for (i = 0; i < p11.nkeys; i++) {
		k = p11.keys[i];
		if (k->session == 0 && strcmp(k->label, label) == 0 &&
		    k->blob_len == blob_len &&
		    memcmp(k->blob, blob, blob_len) == 0)
			return k;
	}
	return NULL;
}

/*
 * Brings the object table in line with the store. Records that stay keep
 * their handles (and signers); a relabelled or replaced key is a new object.
 */
CK_RV
p11_rebuild(void)
{
	struct ks_store_entry e;
	struct p11_key *k, **nk;
	size_t i, j, n;
	int r;

	/* Session keys are no record's: they stay until their session ends. */
	for (i = 0; i < p11.nkeys; i++)
		p11.keys[i]->seen = p11.keys[i]->session != 0;
	n = ks_store_count(p11.store);
	for (i = 0; i < n; i++) {
		if (ks_store_entry(p11.store, i, &e) != 0)
			return CKR_DEVICE_ERROR;
		if ((k = find_key(e.label, e.blob, e.blob_len)) != NULL) {
			/* Its CKA_ID may have been set since, here or not. */
			if ((r = p11_key_set_id(k, e.ckaid, e.ckaid_len)) != 0)
				return p11_rv(r);
			k->seen = 1;
			continue;
		}
		r = p11_key_new(e.label, e.blob, e.blob_len, e.flags, &k);
		if (r == KMES_ERR_KEY_UNSUPPORTED || r == KMES_ERR_KEY_INVALID)
			continue; /* a type PKCS#11 cannot show */
		if (r == 0 && e.ckaid_len != 0)
			r = p11_key_set_id(k, e.ckaid, e.ckaid_len);
		if (r != 0) {
			p11_key_free(k);
			return p11_rv(r);
		}
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
		if (p11.path == NULL ||
		    ks_store_open(p11.path, &p11.store) != 0) {
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
	return p11_rebuild();
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

int
p11_key_visible(const struct p11_key *k, int priv)
{
	if (priv ? k->priv_gone : k->pub_gone)
		return 0;
	/* Private objects do not exist for a logged-out caller. */
	if ((priv ? k->priv_private : k->pub_private) && !p11_logged_in())
		return 0;
	return 1;
}

struct p11_key *
p11_object(CK_OBJECT_HANDLE h, int *priv)
{
	size_t i;
	int p;

	for (i = 0; i < p11.nkeys; i++) {
		if (p11.keys[i]->handle != h && p11.keys[i]->handle + 1 != h)
			continue;
		p = p11.keys[i]->handle != h;
		if (!p11_key_visible(p11.keys[i], p))
			return NULL;
		*priv = p;
		return p11.keys[i];
	}
	return NULL;
}

/* Removes entry i of the table, wiping its signer. */
static void
key_remove(size_t i)
{
	p11_key_free(p11.keys[i]);
	p11.keys[i] = p11.keys[--p11.nkeys];
}

void
p11_session_keys_drop(CK_SESSION_HANDLE h)
{
	size_t i;

	for (i = 0; i < p11.nkeys;) {
		if (p11.keys[i]->session != 0 &&
		    (h == 0 || p11.keys[i]->session == h))
			key_remove(i);
		else
			i++;
	}
}

void
p11_session_keys_logout(void)
{
	struct p11_key *k;
	size_t i;

	/* PKCS#11 C_Logout: the application's private session objects go. */
	for (i = 0; i < p11.nkeys;) {
		k = p11.keys[i];
		if (k->session != 0) {
			k->pub_gone |= k->pub_private;
			k->priv_gone |= k->priv_private;
			if (k->pub_gone && k->priv_gone) {
				key_remove(i);
				continue;
			}
		}
		i++;
	}
}

CK_RV
p11_find_init(struct p11_session *s, CK_ATTRIBUTE_PTR attrs, CK_ULONG n)
{
	struct p11_tmpl t;
	CK_OBJECT_HANDLE *found = NULL;
	size_t i, nfound = 0;
	int priv;
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
	for (i = 0; i < p11.nkeys; i++) {
		for (priv = 0; priv <= 1; priv++) {
			if (p11_key_visible(p11.keys[i], priv) &&
			    p11_key_match(p11.keys[i], priv, &t))
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
	size_t i;
	int priv, r;

	if ((k = p11_object(h, &priv)) == NULL)
		return CKR_OBJECT_HANDLE_INVALID;
	if (k->session != 0) {
		/* A session object: each half goes on its own, in any session. */
		if (priv)
			k->priv_gone = 1;
		else
			k->pub_gone = 1;
		for (i = 0; k->pub_gone && k->priv_gone && i < p11.nkeys; i++) {
			if (p11.keys[i] == k) {
				key_remove(i);
				break;
			}
		}
		return CKR_OK;
	}
	if (!(s->flags & CKF_RW_SESSION))
		return CKR_SESSION_READ_ONLY;
	if (!p11_logged_in())
		return CKR_USER_NOT_LOGGED_IN;
	/* One record holds both halves: destroying either removes the key. */
	if ((r = ks_store_delete_key(p11.store, k->label)) != 0 &&
	    r != KMES_ERR_KEY_NOT_FOUND)
		return p11_rv(r);
	return p11_rebuild();
}

int
p11_id_taken(const struct p11_key *self, const uint8_t *id, size_t len)
{
	size_t i;

	for (i = 0; i < p11.nkeys; i++) {
		if (p11.keys[i] != self && p11.keys[i]->id_len == len &&
		    memcmp(p11.keys[i]->id, id, len) == 0)
			return 1;
	}
	return 0;
}

/* The new CKA_ID and CKA_LABEL of a C_SetAttributeValue, checked. */
struct set_req {
	const struct p11_attr *id;
	char label[KS_STORE_LABEL_MAX + 1];
	int has_label;
};

static CK_RV
set_check(const struct p11_key *k, int priv, const struct p11_tmpl *t,
    struct set_req *q)
{
	union p11_attr_buf buf;
	const struct p11_attr *a;
	const void *v;
	size_t i, len;

	for (i = 0; i < t->n; i++) {
		a = &t->a[i];
		if (a->type == CKA_ID) {
			if (a->len == 0 || a->len > P11_ID_MAX)
				return CKR_ATTRIBUTE_VALUE_INVALID;
			/* Consumers pair a key with its certificate by ID:
			 * a second key with it would take the other's. */
			if (p11_id_taken(k, a->value, a->len))
				return CKR_ATTRIBUTE_VALUE_INVALID;
			q->id = a;
		} else if (a->type == CKA_LABEL) {
			if (a->len == 0 || a->len > KS_STORE_LABEL_MAX ||
			    memchr(a->value, '\0', a->len) != NULL)
				return CKR_ATTRIBUTE_VALUE_INVALID;
			memcpy(q->label, a->value, a->len);
			q->label[a->len] = '\0';
			q->has_label = 1;
		} else if (p11_key_attr(k, priv, a->type, &buf, &v, &len) ==
		    P11_ATTR_INVALID) {
			return CKR_ATTRIBUTE_TYPE_INVALID;
		} else {
			return CKR_ATTRIBUTE_READ_ONLY;
		}
	}
	return CKR_OK;
}

/* Both halves of a key share one label and ID, as one record holds both. */
static CK_RV
set_store_key(struct p11_key *k, const struct set_req *q)
{
	char *nl = NULL;
	int r;

	if (q->has_label && (nl = strdup(q->label)) == NULL)
		return CKR_HOST_MEMORY;
	r = ks_store_set_meta(p11.store, k->label,
	    q->has_label ? q->label : NULL, q->id != NULL ? q->id->value : NULL,
	    q->id != NULL ? q->id->len : 0);
	if (r != 0) {
		free(nl);
		if (r == KMES_ERR_EXISTS || r == KMES_ERR_INVALID_ARGUMENT)
			return CKR_ATTRIBUTE_VALUE_INVALID;
		if (r == KMES_ERR_KEY_NOT_FOUND)
			return CKR_OBJECT_HANDLE_INVALID;
		return p11_rv(r);
	}
	/* Renamed here first, so the rebuild keeps its handles. */
	if (nl != NULL) {
		free(k->label);
		k->label = nl;
	}
	return p11_rebuild();
}

CK_RV
p11_set_attrs(struct p11_session *s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_PTR attrs,
    CK_ULONG n)
{
	struct p11_tmpl t;
	struct set_req q;
	struct p11_key *k;
	char *nl = NULL;
	int priv, r;
	CK_RV rv;

	memset(&q, 0, sizeof(q));
	if (attrs == NULL || n == 0)
		return CKR_ARGUMENTS_BAD;
	if ((rv = p11_sync()) != CKR_OK)
		return rv;
	if ((k = p11_object(h, &priv)) == NULL)
		return CKR_OBJECT_HANDLE_INVALID;
	if ((rv = p11_tmpl_parse(attrs, n, &t)) != CKR_OK ||
	    (rv = set_check(k, priv, &t, &q)) != CKR_OK)
		return rv;
	if (k->session == 0) {
		if (!(s->flags & CKF_RW_SESSION))
			return CKR_SESSION_READ_ONLY;
		if (!p11_logged_in())
			return CKR_USER_NOT_LOGGED_IN;
		return set_store_key(k, &q);
	}
	/* A session object changes in memory only, in any session. */
	if (q.has_label && (nl = strdup(q.label)) == NULL)
		return CKR_HOST_MEMORY;
	if (q.id != NULL &&
	    (r = p11_key_set_id(k, q.id->value, q.id->len)) != 0) {
		free(nl);
		return p11_rv(r);
	}
	if (nl != NULL) {
		free(k->label);
		k->label = nl;
	}
	return CKR_OK;
}
