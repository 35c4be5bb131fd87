/*
 * token-keys.c: finding the keys a PKCS#11 token can sign with, and their
 * public halves. Every value a module hands back is untrusted: attribute
 * lengths are capped before we allocate, EC points and parameters are
 * parsed with bounds checks, and each public key is validated by the SSH
 * blob parser before it is served.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

#include "crypto.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "token-int.h"
#include "token.h"

/* Caps on what a module may make us allocate or walk. */
#define ATTR_MAX (16 * 1024)
#define OBJECTS_MAX 4096

/*
 * Reads one attribute of obj into a malloc'd buffer (NUL-terminated for
 * convenience, the NUL not counted). Returns 0, KMES_ERR_KEY_NOT_FOUND if
 * the object has no such attribute, or another negative KMES_ERR_*.
 */
static int
get_attr(struct tok_module *m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj,
    CK_ATTRIBUTE_TYPE type, uint8_t **valp, size_t *lenp)
{
	CK_ATTRIBUTE a;
	uint8_t *v = NULL;
	CK_ULONG want;
	CK_RV rv;

	*valp = NULL;
	*lenp = 0;
	a.type = type;
	a.pValue = NULL;
	a.ulValueLen = 0;
	rv = m->f->C_GetAttributeValue(s, obj, &a, 1);
	if (rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE ||
	    a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
		return KMES_ERR_KEY_NOT_FOUND;
	if (rv != CKR_OK)
		return tok_rv_fail(NULL, "C_GetAttributeValue", rv);
	/* A module may claim any length: cap before allocating. */
	if (a.ulValueLen > ATTR_MAX)
		return KMES_ERR_KEY_INVALID;
	want = a.ulValueLen;
	if ((v = calloc(1, want + 1)) == NULL)
		return KMES_ERR_ALLOC;
	a.pValue = v;
	if ((rv = m->f->C_GetAttributeValue(s, obj, &a, 1)) != CKR_OK) {
		free(v);
		return tok_rv_fail(NULL, "C_GetAttributeValue", rv);
	}
	/* The value may have shrunk between the calls, never grown. */
	if (a.ulValueLen > want) {
		free(v);
		return KMES_ERR_KEY_INVALID;
	}
	v[a.ulValueLen] = '\0';
	*valp = v;
	*lenp = a.ulValueLen;
	return 0;
}

static int
get_ulong(struct tok_module *m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE obj,
    CK_ATTRIBUTE_TYPE type, CK_ULONG *out)
{
	uint8_t *v;
	size_t len;
	int r;

	if ((r = get_attr(m, s, obj, type, &v, &len)) != 0)
		return r;
	if (len != sizeof(*out)) {
		free(v);
		return KMES_ERR_KEY_INVALID;
	}
	memcpy(out, v, sizeof(*out));
	free(v);
	return 0;
}

/* Up to max objects matching tmpl; *objsp is malloc'd. */
static int
find_objects(struct tok_module *m, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl,
    CK_ULONG ntmpl, size_t max, CK_OBJECT_HANDLE **objsp, size_t *np)
{
	CK_OBJECT_HANDLE *objs = NULL, *no;
	CK_ULONG got;
	size_t n = 0, alloc = 0;
	CK_RV rv;
	int r = 0;

	*objsp = NULL;
	*np = 0;
	if ((rv = m->f->C_FindObjectsInit(s, tmpl, ntmpl)) != CKR_OK)
		return tok_rv_fail(NULL, "C_FindObjectsInit", rv);
	for (;;) {
		if (n == alloc) {
			if (alloc >= max)
				break;
			alloc = alloc == 0 ? 16 : alloc * 2;
			if (alloc > max)
				alloc = max;
			if ((no = reallocarray(objs, alloc, sizeof(*objs))) ==
			    NULL) {
				r = KMES_ERR_ALLOC;
				break;
			}
			objs = no;
		}
		got = 0;
		rv = m->f->C_FindObjects(s, objs + n, (CK_ULONG)(alloc - n),
		    &got);
		if (rv != CKR_OK) {
			r = tok_rv_fail(NULL, "C_FindObjects", rv);
			break;
		}
		if (got == 0)
			break;
		if (got > alloc - n)
			got = alloc - n;
		n += got;
	}
	(void)m->f->C_FindObjectsFinal(s);
	if (r != 0) {
		free(objs);
		return r;
	}
	*objsp = objs;
	*np = n;
	return 0;
}

/* DER of the curves we know, as CKA_EC_PARAMS carries them. */
static const struct {
	const uint8_t *der;
	size_t len;
	const char *type;  /* SSH key type */
	const char *curve; /* SSH curve name; NULL for Ed25519 */
} ec_params[] = {
	{ (const uint8_t *)"\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07", 10,
	    "ecdsa-sha2-nistp256", "nistp256" },
	{ (const uint8_t *)"\x06\x05\x2b\x81\x04\x00\x22", 7,
	    "ecdsa-sha2-nistp384", "nistp384" },
	{ (const uint8_t *)"\x06\x05\x2b\x81\x04\x00\x23", 7,
	    "ecdsa-sha2-nistp521", "nistp521" },
	/* id-Ed25519, and the PrintableString some tokens use instead. */
	{ (const uint8_t *)"\x06\x03\x2b\x65\x70", 5, "ssh-ed25519", NULL },
	{ (const uint8_t *)"\x13\x0c"
			   "edwards25519",
	    14, "ssh-ed25519", NULL },
};

/*
 * CKA_EC_POINT should be a DER OCTET STRING around the point, but some
 * tokens give the bare point. Points *pp at the point either way.
 */
static void
unwrap_point(const uint8_t *v, size_t len, const uint8_t **pp, size_t *lenp)
{
	struct kbuf *b;
	uint8_t tag, l0, l1;
	size_t inner = 0, hdr = 0;

	*pp = v;
	*lenp = len;
	if ((b = kbuf_from(v, len)) == NULL)
		return;
	if (kbuf_get_u8(b, &tag) != 0 || tag != 0x04 ||
	    kbuf_get_u8(b, &l0) != 0)
		goto out;
	if (l0 < 0x80) {
		inner = l0;
		hdr = 2;
	} else if (l0 == 0x81 && kbuf_get_u8(b, &l1) == 0) {
		inner = l1;
		hdr = 3;
	} else
		goto out;
	/* A bare uncompressed point also starts with 0x04: the length
	 * must then account for exactly the rest. */
	if (inner == kbuf_len(b) && inner > 0) {
		*pp = kbuf_ptr(b);
		*lenp = inner;
	}
	(void)hdr;
out:
	kbuf_free(b);
}

/* Builds and validates the SSH public key from a token's values. */
static int
ec_public_key(const uint8_t *params, size_t plen, const uint8_t *point,
    size_t ptlen, struct ks_key **keyp)
{
	struct kbuf *b = NULL;
	const uint8_t *q;
	size_t i, qlen;
	int r = KMES_ERR_KEY_UNSUPPORTED;

	*keyp = NULL;
	for (i = 0; i < sizeof(ec_params) / sizeof(ec_params[0]); i++) {
		if (ec_params[i].len == plen &&
		    memcmp(ec_params[i].der, params, plen) == 0)
			break;
	}
	if (i == sizeof(ec_params) / sizeof(ec_params[0]))
		return KMES_ERR_KEY_UNSUPPORTED;
	unwrap_point(point, ptlen, &q, &qlen);
	if ((b = kbuf_new()) == NULL)
		return KMES_ERR_ALLOC;
	if ((r = kbuf_put_cstring(b, ec_params[i].type)) != 0 ||
	    (ec_params[i].curve != NULL &&
		(r = kbuf_put_cstring(b, ec_params[i].curve)) != 0) ||
	    (r = kbuf_put_string(b, q, qlen)) != 0)
		goto out;
	r = ks_key_from_blob(kbuf_ptr(b), kbuf_len(b), keyp);
	if (r != 0 && (q != point || qlen != ptlen)) {
		/* The "wrapper" was the first bytes of a bare point. */
		kbuf_reset(b);
		if ((r = kbuf_put_cstring(b, ec_params[i].type)) != 0 ||
		    (ec_params[i].curve != NULL &&
			(r = kbuf_put_cstring(b, ec_params[i].curve)) != 0) ||
		    (r = kbuf_put_string(b, point, ptlen)) != 0)
			goto out;
		r = ks_key_from_blob(kbuf_ptr(b), kbuf_len(b), keyp);
	}
out:
	kbuf_free(b);
	return r;
}

static int
rsa_public_key(const uint8_t *n, size_t nlen, const uint8_t *e, size_t elen,
    struct ks_key **keyp)
{
	struct kbuf *b;
	int r;

	*keyp = NULL;
	if ((b = kbuf_new()) == NULL)
		return KMES_ERR_ALLOC;
	if ((r = kbuf_put_cstring(b, "ssh-rsa")) == 0 &&
	    (r = kbuf_put_mpint(b, e, elen)) == 0 &&
	    (r = kbuf_put_mpint(b, n, nlen)) == 0)
		r = ks_key_from_blob(kbuf_ptr(b), kbuf_len(b), keyp);
	kbuf_free(b);
	return r;
}

/*
 * The public object with the same CKA_ID (and key type) as a private key,
 * or 0 if there is none.
 */
static CK_OBJECT_HANDLE
find_public(struct tok_module *m, CK_SESSION_HANDLE s, const uint8_t *id,
    size_t idlen, CK_KEY_TYPE kt)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, (void *)id, (CK_ULONG)idlen },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
	};
	CK_OBJECT_HANDLE *objs = NULL, h = 0;
	size_t n = 0;

	if (find_objects(m, s, tmpl, 3, 2, &objs, &n) == 0 && n >= 1)
		h = objs[0];
	free(objs);
	return h;
}

/* The public key of the private object priv (of key type kt). */
static int
object_public_key(struct tok_module *m, CK_SESSION_HANDLE s,
    CK_OBJECT_HANDLE priv, CK_KEY_TYPE kt, const uint8_t *id, size_t idlen,
    struct ks_key **keyp)
{
	CK_OBJECT_HANDLE pub;
	uint8_t *a = NULL, *b = NULL;
	size_t alen, blen;
	int r;

	*keyp = NULL;
	pub = find_public(m, s, id, idlen, kt);
	if (kt == CKK_RSA) {
		/* Private RSA objects usually carry the public values too. */
		if (pub == 0 ||
		    get_attr(m, s, pub, CKA_MODULUS, &a, &alen) != 0 ||
		    get_attr(m, s, pub, CKA_PUBLIC_EXPONENT, &b, &blen) != 0) {
			free(a);
			free(b);
			a = b = NULL;
			if ((r = get_attr(m, s, priv, CKA_MODULUS, &a,
				 &alen)) != 0 ||
			    (r = get_attr(m, s, priv, CKA_PUBLIC_EXPONENT, &b,
				 &blen)) != 0)
				goto out;
		}
		r = rsa_public_key(a, alen, b, blen, keyp);
		goto out;
	}
	/* EC and EdDSA: the point is only on the public object. */
	if (pub == 0) {
		r = KMES_ERR_KEY_NOT_FOUND;
		goto out;
	}
	if (get_attr(m, s, pub, CKA_EC_PARAMS, &a, &alen) != 0 &&
	    (r = get_attr(m, s, priv, CKA_EC_PARAMS, &a, &alen)) != 0)
		goto out;
	if ((r = get_attr(m, s, pub, CKA_EC_POINT, &b, &blen)) != 0)
		goto out;
	r = ec_public_key(a, alen, b, blen, keyp);
out:
	free(a);
	free(b);
	return r;
}

static void
key_free(struct tok_key *k)
{
	if (k == NULL)
		return;
	ks_key_free(k->pub);
	free(k->label);
	free(k->id);
	free(k);
}

void
tok_keys_free(struct tok_key **keys, size_t n)
{
	size_t i;

	if (keys == NULL)
		return;
	for (i = 0; i < n; i++)
		key_free(keys[i]);
	free(keys);
}

static void notef(void (*note)(void *, const char *), void *arg,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
notef(void (*note)(void *, const char *), void *arg, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (note == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	note(arg, buf);
}

/* Returns 1 if keys[0..n) already has a key with this CKA_ID or blob. */
static int
seen_key(struct tok_key **keys, size_t n, const struct tok_token *t,
    const uint8_t *id, size_t idlen, const struct ks_key *pub)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (keys[i]->token == t && keys[i]->id_len == idlen &&
		    memcmp(keys[i]->id, id, idlen) == 0)
			return 1;
		if (pub != NULL && ks_key_equal_public(keys[i]->pub, pub))
			return 1;
	}
	return 0;
}

int
tok_token_keys(struct tok_token *t, struct tok_key ***keysp, size_t *np,
    void (*note)(void *, const char *), void *arg)
{
	struct tok_module *m = t->m;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof(cls) } };
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE *objs = NULL;
	CK_KEY_TYPE kt;
	CK_ULONG can_sign;
	struct tok_key *k = NULL, **nk;
	struct ks_key *pub = NULL;
	uint8_t *id = NULL, *label = NULL, *v;
	size_t i, nobjs = 0, idlen, llen, vlen;
	char idhex[2 * 16 + 1];
	CK_RV rv;
	int r;

	if ((rv = m->f->C_OpenSession(t->slot, CKF_SERIAL_SESSION, NULL, NULL,
		 &s)) != CKR_OK)
		return tok_rv_fail(NULL, "C_OpenSession", rv);
	if ((r = find_objects(m, s, tmpl, 1, OBJECTS_MAX, &objs, &nobjs)) != 0)
		goto out;
	for (i = 0; i < nobjs; i++) {
		free(id);
		free(label);
		id = label = NULL;
		ks_key_free(pub);
		pub = NULL;
		if (get_attr(m, s, objs[i], CKA_ID, &id, &idlen) != 0)
			idlen = 0;
		if (get_attr(m, s, objs[i], CKA_LABEL, &label, &llen) != 0)
			llen = 0;
		kbuf_hex(id, idlen > 16 ? 16 : idlen, idhex);
		if (idlen == 0) {
			notef(note, arg,
			    "token '%s': private key \"%s\" has "
			    "no CKA_ID; skipped",
			    t->label, llen != 0 ? (char *)label : "");
			continue;
		}
		if (get_ulong(m, s, objs[i], CKA_KEY_TYPE, &kt) != 0 ||
		    (kt != CKK_RSA && kt != CKK_EC && kt != CKK_EC_EDWARDS)) {
			notef(note, arg,
			    "token '%s': key id %s is not RSA, "
			    "ECDSA or Ed25519; skipped",
			    t->label, idhex);
			continue;
		}
		/* CKA_SIGN absent counts as allowed; false does not. */
		if (get_attr(m, s, objs[i], CKA_SIGN, &v, &vlen) == 0) {
			can_sign = vlen == 1 && v[0] != 0;
			free(v);
			if (!can_sign) {
				notef(note, arg,
				    "token '%s': key id %s may "
				    "not sign; skipped",
				    t->label, idhex);
				continue;
			}
		}
		if ((r = object_public_key(m, s, objs[i], kt, id, idlen,
			 &pub)) != 0) {
			if (r == KMES_ERR_ALLOC)
				goto out;
			notef(note, arg,
			    "token '%s': key id %s: no usable "
			    "public key (%s); skipped",
			    t->label, idhex, kmes_err(r));
			continue;
		}
		if (seen_key(*keysp, *np, t, id, idlen, pub)) {
			notef(note, arg,
			    "token '%s': key id %s appears more "
			    "than once; only the first is served",
			    t->label, idhex);
			continue;
		}
		if ((k = calloc(1, sizeof(*k))) == NULL) {
			r = KMES_ERR_ALLOC;
			goto out;
		}
		k->token = t;
		k->pub = pub;
		pub = NULL;
		k->id = id;
		k->id_len = idlen;
		id = NULL;
		if (llen != 0 && strlen((char *)label) == llen) {
			k->label = (char *)label;
			label = NULL;
		} else if (asprintf(&k->label, "%s id %s", t->label, idhex) ==
		    -1) {
			k->label = NULL;
			r = KMES_ERR_ALLOC;
			goto out;
		}
		if ((nk = reallocarray(*keysp, *np + 1, sizeof(*nk))) == NULL) {
			r = KMES_ERR_ALLOC;
			goto out;
		}
		*keysp = nk;
		nk[(*np)++] = k;
		k = NULL;
	}
	r = 0;
out:
	key_free(k);
	ks_key_free(pub);
	free(id);
	free(label);
	free(objs);
	(void)m->f->C_CloseSession(s);
	return r;
}
