/*
 * keyblob.c: SSH key wire formats over the OpenSSL-free seam of
 * crypto-int.h: public key blobs (RFC 4253, 5656, 8709), the private key
 * encoding of SSH_AGENTC_ADD_IDENTITY, and OpenSSH certificates
 * (PROTOCOL.certkeys). Every byte is read through kbuf.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "crypto-int.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "match.h"
#include "secmem.h"

/* As OpenSSH (SSHKEY_CERT_MAX_PRINCIPALS). */
#define CERT_MAX_PRINCIPALS 256

struct ks_keytype {
	const char *name;
	const char *short_name;	/* as ssh-add -l prints it */
	const char *curve;	/* ECDSA curve identifier */
	const char *sigalg;	/* signature name (plain type name) */
	enum ks_key_type type;
	int cert;
};

static const struct ks_keytype keytypes[] = {
	{ "ssh-ed25519", "ED25519", NULL, "ssh-ed25519", KS_KEY_ED25519, 0 },
	{ "ecdsa-sha2-nistp256", "ECDSA", "nistp256", "ecdsa-sha2-nistp256",
	    KS_KEY_ECDSA_P256, 0 },
	{ "ecdsa-sha2-nistp384", "ECDSA", "nistp384", "ecdsa-sha2-nistp384",
	    KS_KEY_ECDSA_P384, 0 },
	{ "ecdsa-sha2-nistp521", "ECDSA", "nistp521", "ecdsa-sha2-nistp521",
	    KS_KEY_ECDSA_P521, 0 },
	{ "ssh-rsa", "RSA", NULL, "ssh-rsa", KS_KEY_RSA, 0 },
	{ "ssh-ed25519-cert-v01@openssh.com", "ED25519-CERT", NULL,
	    "ssh-ed25519", KS_KEY_ED25519, 1 },
	{ "ecdsa-sha2-nistp256-cert-v01@openssh.com", "ECDSA-CERT",
	    "nistp256", "ecdsa-sha2-nistp256", KS_KEY_ECDSA_P256, 1 },
	{ "ecdsa-sha2-nistp384-cert-v01@openssh.com", "ECDSA-CERT",
	    "nistp384", "ecdsa-sha2-nistp384", KS_KEY_ECDSA_P384, 1 },
	{ "ecdsa-sha2-nistp521-cert-v01@openssh.com", "ECDSA-CERT",
	    "nistp521", "ecdsa-sha2-nistp521", KS_KEY_ECDSA_P521, 1 },
	{ "ssh-rsa-cert-v01@openssh.com", "RSA-CERT", NULL, "ssh-rsa",
	    KS_KEY_RSA, 1 },
};

#define NKEYTYPES (sizeof(keytypes) / sizeof(keytypes[0]))

/* Types OpenSSH knows that this agent will not hold. */
static const char *const refused_types[] = {
	"ssh-dss",
	"ssh-dss-cert-v01@openssh.com",
	"sk-ecdsa-sha2-nistp256@openssh.com",
	"sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
	"sk-ssh-ed25519@openssh.com",
	"sk-ssh-ed25519-cert-v01@openssh.com",
	"ssh-xmss@openssh.com",
	"ssh-xmss-cert-v01@openssh.com",
};

struct ks_cert {
	uint32_t type;
	uint64_t serial;
	char *key_id;
	char **principals;
	size_t nprincipals;
	uint64_t valid_after;
	uint64_t valid_before;
	size_t critical_len;	/* bytes of critical options */
	int sha1_signed;	/* CA signed with ssh-rsa (SHA-1) */
	struct ks_key *ca;
};

struct ks_key {
	atomic_uint refs;
	const struct ks_keytype *kt;
	struct ks_pkey *pk;
	uint8_t *blob;		/* wire blob; the certificate for certs */
	size_t blob_len;
	uint8_t *plain;		/* plain public key blob (== blob if no cert) */
	size_t plain_len;
	struct ks_cert *cert;
};

/* Public key fields as borrowed views into a blob. */
struct pubfields {
	struct ks_num pk;	/* Ed25519 key or ECDSA point */
	struct ks_num e, n;	/* RSA */
};

static int key_from_blob(const uint8_t *, size_t, int, struct ks_key **);

static int
name_is(const uint8_t *p, size_t len, const char *s)
{
	return strlen(s) == len && memcmp(p, s, len) == 0;
}

static int
lookup_type(const uint8_t *name, size_t len, const struct ks_keytype **ktp)
{
	size_t i;

	*ktp = NULL;
	for (i = 0; i < NKEYTYPES; i++) {
		if (name_is(name, len, keytypes[i].name)) {
			*ktp = &keytypes[i];
			return 0;
		}
	}
	for (i = 0; i < sizeof(refused_types) / sizeof(refused_types[0]); i++) {
		if (name_is(name, len, refused_types[i]))
			return KMES_ERR_KEY_UNSUPPORTED;
	}
	return KMES_ERR_KEY_TYPE_UNKNOWN;
}

static const struct ks_keytype *
plain_type(enum ks_key_type type)
{
	size_t i;

	for (i = 0; i < NKEYTYPES; i++) {
		if (keytypes[i].type == type && !keytypes[i].cert)
			return &keytypes[i];
	}
	return NULL;
}

static enum ks_hash
ecdsa_hash(enum ks_key_type type)
{
	switch (type) {
	case KS_KEY_ECDSA_P256:
		return KS_HASH_SHA256;
	case KS_KEY_ECDSA_P384:
		return KS_HASH_SHA384;
	default:
		return KS_HASH_SHA512;
	}
}

/* Key objects. */

static void
cert_free(struct ks_cert *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nprincipals; i++)
		free(c->principals[i]);
	free(c->principals);
	free(c->key_id);
	ks_key_free(c->ca);
	kmes_freezero(c, sizeof(*c));
}

struct ks_key *
ks_key_ref(struct ks_key *k)
{
	atomic_fetch_add_explicit(&k->refs, 1, memory_order_relaxed);
	return k;
}

void
ks_key_free(struct ks_key *k)
{
	if (k == NULL)
		return;
	if (atomic_fetch_sub_explicit(&k->refs, 1, memory_order_acq_rel) != 1)
		return;
	ks_pkey_free(k->pk);
	cert_free(k->cert);
	if (k->blob != k->plain)
		free(k->blob);
	free(k->plain);
	kmes_freezero(k, sizeof(*k));
}

/* Appends the plain public key blob of pk. */
static int
put_public(const struct ks_keytype *kt, const struct ks_pkey *pk,
    struct kbuf *b)
{
	const struct ks_keytype *pt = plain_type(kt->type);
	int r;

	if ((r = kbuf_put_cstring(b, pt->name)) != 0)
		return r;
	switch (kt->type) {
	case KS_KEY_ED25519:
		return ks_pkey_put(pk, KS_PART_ED25519_PK, b);
	case KS_KEY_RSA:
		if ((r = ks_pkey_put(pk, KS_PART_RSA_E, b)) != 0)
			return r;
		return ks_pkey_put(pk, KS_PART_RSA_N, b);
	default:
		if ((r = kbuf_put_cstring(b, kt->curve)) != 0)
			return r;
		return ks_pkey_put(pk, KS_PART_EC_Q, b);
	}
}

/*
 * Wraps pk (always consumed) in a new key of type kt. The plain blob is
 * re-encoded from the key, so two encodings of one key compare equal.
 */
static int
key_wrap(const struct ks_keytype *kt, struct ks_pkey *pk, struct ks_key **kp)
{
	struct ks_key *k = NULL;
	struct kbuf *b = NULL;
	int r;

	*kp = NULL;
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		ks_pkey_free(pk);
		return KMES_ERR_ALLOC;
	}
	atomic_init(&k->refs, 1);
	k->kt = kt;
	k->pk = pk;
	if ((b = kbuf_new()) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	if ((r = put_public(kt, pk, b)) != 0 ||
	    (r = kbuf_dup_bytes(b, &k->plain, &k->plain_len)) != 0)
		goto out;
	if (!kt->cert) {
		k->blob = k->plain;
		k->blob_len = k->plain_len;
	}
	*kp = k;
	k = NULL;
	r = 0;
 out:
	kbuf_free(b);
	ks_key_free(k);
	return r;
}

/* Parsing. */

static int
get_num(struct kbuf *b, struct ks_num *v)
{
	return kbuf_get_mpint_direct(b, &v->p, &v->len);
}

static int
get_public_fields(struct kbuf *b, const struct ks_keytype *kt,
    struct pubfields *f)
{
	const uint8_t *curve;
	size_t clen;
	int r;

	memset(f, 0, sizeof(*f));
	switch (kt->type) {
	case KS_KEY_ED25519:
		return kbuf_get_string_direct(b, &f->pk.p, &f->pk.len);
	case KS_KEY_RSA:
		if ((r = get_num(b, &f->e)) != 0 || (r = get_num(b, &f->n)) != 0)
			return r;
		return 0;
	default:
		if ((r = kbuf_get_string_direct(b, &curve, &clen)) != 0 ||
		    (r = kbuf_get_string_direct(b, &f->pk.p, &f->pk.len)) != 0)
			return r;
		/* The curve is named twice; the two must agree. */
		if (!name_is(curve, clen, kt->curve))
			return KMES_ERR_KEY_INVALID;
		return 0;
	}
}

static int
pkey_public(const struct ks_keytype *kt, const struct pubfields *f,
    struct ks_pkey **pkp)
{
	switch (kt->type) {
	case KS_KEY_ED25519:
		return ks_pkey_ed25519(f->pk.p, f->pk.len, NULL, pkp);
	case KS_KEY_RSA:
		return ks_pkey_rsa(&f->n, &f->e, NULL, pkp);
	default:
		return ks_pkey_ecdsa(kt->type, f->pk.p, f->pk.len, NULL, pkp);
	}
}

/*
 * Verifies SSH signature blob sig over data with k's public key; sets
 * *sha1p if it is an ssh-rsa (SHA-1) signature.
 */
static int
verify_sig(const struct ks_key *k, const uint8_t *sig, size_t slen,
    const uint8_t *data, size_t dlen, int *sha1p)
{
	struct kbuf *b = NULL;
	const uint8_t *alg, *raw;
	size_t alen, rawlen;
	enum ks_hash hash;
	int r;

	*sha1p = 0;
	if (slen == 0 || dlen > KS_SIGN_DATA_MAX)
		return KMES_ERR_INVALID_ARGUMENT;
	if ((b = kbuf_from(sig, slen)) == NULL)
		return KMES_ERR_INVALID_FORMAT;
	if ((r = kbuf_get_string_direct(b, &alg, &alen)) != 0 ||
	    (r = kbuf_get_string_direct(b, &raw, &rawlen)) != 0)
		goto out;
	if (kbuf_len(b) != 0) {
		r = KMES_ERR_INVALID_FORMAT;
		goto out;
	}
	r = KMES_ERR_SIGNATURE_INVALID;
	switch (k->kt->type) {
	case KS_KEY_RSA:
		if (name_is(alg, alen, "ssh-rsa")) {
			hash = KS_HASH_SHA1;
			*sha1p = 1;
		} else if (name_is(alg, alen, "rsa-sha2-256"))
			hash = KS_HASH_SHA256;
		else if (name_is(alg, alen, "rsa-sha2-512"))
			hash = KS_HASH_SHA512;
		else
			goto out;
		break;
	case KS_KEY_ED25519:
		if (!name_is(alg, alen, k->kt->sigalg))
			goto out;
		hash = KS_HASH_NONE;
		break;
	default:
		if (!name_is(alg, alen, k->kt->sigalg))
			goto out;
		hash = ecdsa_hash(k->kt->type);
		break;
	}
	r = ks_pkey_verify(k->pk, hash, raw, rawlen, data, dlen);
 out:
	kbuf_free(b);
	return r;
}

/* Pairs of (string name, string data), as critical options and extensions. */
static int
check_options(const struct kbuf *section)
{
	struct kbuf *v;
	int r = 0;

	if ((v = kbuf_from(kbuf_ptr(section), kbuf_len(section))) == NULL)
		return KMES_ERR_ALLOC;
	while (kbuf_len(v) != 0) {
		if ((r = kbuf_get_string_direct(v, NULL, NULL)) != 0 ||
		    (r = kbuf_get_string_direct(v, NULL, NULL)) != 0) {
			r = KMES_ERR_INVALID_FORMAT;
			break;
		}
	}
	kbuf_free(v);
	return r;
}

static int
get_principals(struct kbuf *pb, struct ks_cert *c)
{
	char **np;
	int r;

	while (kbuf_len(pb) != 0) {
		/* Each principal costs an allocation: cap the count. */
		if (c->nprincipals >= CERT_MAX_PRINCIPALS)
			return KMES_ERR_INVALID_FORMAT;
		np = reallocarray(c->principals, c->nprincipals + 1,
		    sizeof(*np));
		if (np == NULL)
			return KMES_ERR_ALLOC;
		c->principals = np;
		if ((r = kbuf_get_cstring(pb, &np[c->nprincipals], NULL)) != 0)
			return r;
		c->nprincipals++;
	}
	return 0;
}

/*
 * Parses the certificate fields after the public key and verifies the CA
 * signature over every byte of blob before the signature field.
 */
static int
cert_parse(struct kbuf *b, const uint8_t *blob, size_t blob_len,
    struct ks_cert **certp)
{
	struct kbuf *principals = NULL, *crit = NULL, *exts = NULL;
	struct ks_cert *c = NULL;
	const uint8_t *ca_blob, *sig;
	size_t ca_len, slen, signed_len;
	int r;

	*certp = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return KMES_ERR_ALLOC;
	if ((r = kbuf_get_u64(b, &c->serial)) != 0 ||
	    (r = kbuf_get_u32(b, &c->type)) != 0 ||
	    (r = kbuf_get_cstring(b, &c->key_id, NULL)) != 0 ||
	    (r = kbuf_froms(b, &principals)) != 0 ||
	    (r = kbuf_get_u64(b, &c->valid_after)) != 0 ||
	    (r = kbuf_get_u64(b, &c->valid_before)) != 0 ||
	    (r = kbuf_froms(b, &crit)) != 0 ||
	    (r = kbuf_froms(b, &exts)) != 0 ||
	    (r = kbuf_get_string_direct(b, NULL, NULL)) != 0 || /* reserved */
	    (r = kbuf_get_string_direct(b, &ca_blob, &ca_len)) != 0)
		goto out;
	signed_len = blob_len - kbuf_len(b);
	if ((r = kbuf_get_string_direct(b, &sig, &slen)) != 0)
		goto out;
	if (kbuf_len(b) != 0) {
		r = KMES_ERR_INVALID_FORMAT;
		goto out;
	}
	if (c->type != KS_CERT_USER && c->type != KS_CERT_HOST) {
		r = KMES_ERR_CERT_INVALID;
		goto out;
	}
	c->critical_len = kbuf_len(crit);
	if ((r = get_principals(principals, c)) != 0 ||
	    (r = check_options(crit)) != 0 || (r = check_options(exts)) != 0)
		goto out;
	/* A certificate may not certify with a certificate. */
	if ((r = key_from_blob(ca_blob, ca_len, 0, &c->ca)) != 0)
		goto out;
	if (verify_sig(c->ca, sig, slen, blob, signed_len,
	    &c->sha1_signed) != 0) {
		r = KMES_ERR_CERT_INVALID;
		goto out;
	}
	*certp = c;
	c = NULL;
	r = 0;
 out:
	kbuf_free(principals);
	kbuf_free(crit);
	kbuf_free(exts);
	cert_free(c);
	return r;
}

static int
key_from_blob(const uint8_t *blob, size_t len, int allow_cert,
    struct ks_key **kp)
{
	const struct ks_keytype *kt;
	struct kbuf *b = NULL;
	struct pubfields f;
	struct ks_pkey *pk = NULL;
	struct ks_key *k = NULL;
	const uint8_t *name;
	size_t nlen;
	int r;

	*kp = NULL;
	if ((blob == NULL && len != 0) || len > KBUF_SIZE_MAX)
		return KMES_ERR_INVALID_FORMAT;
	if ((b = kbuf_from(blob, len)) == NULL)
		return KMES_ERR_ALLOC;
	if ((r = kbuf_get_string_direct(b, &name, &nlen)) != 0 ||
	    (r = lookup_type(name, nlen, &kt)) != 0)
		goto out;
	if (kt->cert && !allow_cert) {
		r = KMES_ERR_CERT_INVALID;
		goto out;
	}
	if (kt->cert && (r = kbuf_get_string_direct(b, NULL, NULL)) != 0)
		goto out; /* nonce */
	if ((r = get_public_fields(b, kt, &f)) != 0 ||
	    (r = pkey_public(kt, &f, &pk)) != 0)
		goto out;
	r = key_wrap(kt, pk, &k);
	pk = NULL;
	if (r != 0)
		goto out;
	if (kt->cert) {
		if ((r = cert_parse(b, blob, len, &k->cert)) != 0)
			goto out;
		/* Kept verbatim: the CA signed these exact bytes. */
		if ((k->blob = malloc(len)) == NULL) {
			r = KMES_ERR_ALLOC;
			goto out;
		}
		memcpy(k->blob, blob, len);
		k->blob_len = len;
	}
	if (kbuf_len(b) != 0) {
		r = KMES_ERR_INVALID_FORMAT;
		goto out;
	}
	*kp = k;
	k = NULL;
	r = 0;
 out:
	ks_pkey_free(pk);
	ks_key_free(k);
	kbuf_free(b);
	return r;
}

int
ks_key_from_blob(const uint8_t *blob, size_t len, struct ks_key **keyp)
{
	return key_from_blob(blob, len, 1, keyp);
}

/*
 * Parses the private fields of kt from b. For a certificate, cf holds the
 * certificate's public fields and only the private values are on the wire.
 */
static int
get_private(struct kbuf *b, const struct ks_keytype *kt,
    const struct pubfields *cf, struct ks_pkey **pkp)
{
	struct pubfields f;
	struct ks_rsa_priv rp;
	struct ks_num d;
	const uint8_t *pk, *sk;
	size_t pklen, sklen;
	int r;

	*pkp = NULL;
	switch (kt->type) {
	case KS_KEY_ED25519:
		if ((r = kbuf_get_string_direct(b, &pk, &pklen)) != 0 ||
		    (r = kbuf_get_string_direct(b, &sk, &sklen)) != 0)
			return r;
		if (pklen != KS_ED25519_PK_LEN || sklen != KS_ED25519_SK_LEN)
			return KMES_ERR_INVALID_FORMAT;
		/* The public key is sent twice (thrice for a cert): agree. */
		if (kmes_ct_memcmp(sk + KS_ED25519_SEED_LEN, pk, pklen) != 0 ||
		    (cf != NULL && (cf->pk.len != pklen ||
		    kmes_ct_memcmp(cf->pk.p, pk, pklen) != 0)))
			return KMES_ERR_KEY_MISMATCH;
		return ks_pkey_ed25519(pk, pklen, sk, pkp);
	case KS_KEY_RSA:
		if (cf == NULL) {
			memset(&f, 0, sizeof(f));
			if ((r = get_num(b, &f.n)) != 0 ||
			    (r = get_num(b, &f.e)) != 0)
				return r;
			cf = &f;
		}
		if ((r = get_num(b, &rp.d)) != 0 ||
		    (r = get_num(b, &rp.iqmp)) != 0 ||
		    (r = get_num(b, &rp.p)) != 0 ||
		    (r = get_num(b, &rp.q)) != 0)
			return r;
		return ks_pkey_rsa(&cf->n, &cf->e, &rp, pkp);
	default:
		if (cf == NULL) {
			if ((r = get_public_fields(b, kt, &f)) != 0)
				return r;
			cf = &f;
		}
		if ((r = get_num(b, &d)) != 0)
			return r;
		return ks_pkey_ecdsa(kt->type, cf->pk.p, cf->pk.len, &d, pkp);
	}
}

static int
parse_private(struct kbuf *b, struct ks_key **keyp)
{
	const struct ks_keytype *kt;
	struct ks_key *k = NULL;
	struct ks_pkey *pk = NULL;
	struct kbuf *pb = NULL;
	struct pubfields cf;
	const uint8_t *name, *cblob;
	size_t nlen, clen;
	int r;

	*keyp = NULL;
	if ((r = kbuf_get_string_direct(b, &name, &nlen)) != 0 ||
	    (r = lookup_type(name, nlen, &kt)) != 0)
		return r;
	if (!kt->cert) {
		if ((r = get_private(b, kt, NULL, &pk)) != 0)
			return r;
		if ((r = key_wrap(kt, pk, &k)) != 0)
			return r;
		*keyp = k;
		return 0;
	}
	if ((r = kbuf_get_string_direct(b, &cblob, &clen)) != 0 ||
	    (r = ks_key_from_blob(cblob, clen, &k)) != 0)
		goto out;
	if (k->kt != kt) {
		r = KMES_ERR_KEY_MISMATCH;
		goto out;
	}
	/* Take the public values from the certificate's own key. */
	if ((pb = kbuf_from(k->plain, k->plain_len)) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	if ((r = kbuf_get_string_direct(pb, NULL, NULL)) != 0 ||
	    (r = get_public_fields(pb, kt, &cf)) != 0 ||
	    (r = get_private(b, kt, &cf, &pk)) != 0)
		goto out;
	ks_pkey_free(k->pk);
	k->pk = pk;
	*keyp = k;
	k = NULL;
	r = 0;
 out:
	kbuf_free(pb);
	ks_key_free(k);
	return r;
}

int
ks_key_parse_private(struct kbuf *b, struct ks_key **keyp)
{
	struct kbuf *v;
	size_t before;
	int r;

	*keyp = NULL;
	if (kbuf_len(b) == 0)
		return KMES_ERR_MESSAGE_INCOMPLETE;
	/* Parse a view so that b is untouched unless the whole key parses. */
	if ((v = kbuf_from(kbuf_ptr(b), kbuf_len(b))) == NULL)
		return KMES_ERR_ALLOC;
	before = kbuf_len(v);
	r = parse_private(v, keyp);
	/* Consuming also wipes the key material from an owned buffer. */
	if (r == 0 && kbuf_consume(b, before - kbuf_len(v)) != 0)
		abort(); /* cannot happen: the view never outgrows b */
	kbuf_free(v);
	return r;
}

int
ks_key_put_private(const struct ks_key *k, struct kbuf *b)
{
	const struct ks_pkey *pk = k->pk;
	int r;

	if (!ks_pkey_has_private(pk))
		return KMES_ERR_INVALID_ARGUMENT;
	if ((r = kbuf_put_cstring(b, k->kt->name)) != 0)
		return r;
	if (k->cert != NULL &&
	    (r = kbuf_put_string(b, k->blob, k->blob_len)) != 0)
		return r;
	switch (k->kt->type) {
	case KS_KEY_ED25519:
		if ((r = ks_pkey_put(pk, KS_PART_ED25519_PK, b)) != 0 ||
		    (r = ks_pkey_put(pk, KS_PART_ED25519_SK, b)) != 0)
			return r;
		return 0;
	case KS_KEY_RSA:
		if (k->cert == NULL &&
		    ((r = ks_pkey_put(pk, KS_PART_RSA_N, b)) != 0 ||
		    (r = ks_pkey_put(pk, KS_PART_RSA_E, b)) != 0))
			return r;
		if ((r = ks_pkey_put(pk, KS_PART_RSA_D, b)) != 0 ||
		    (r = ks_pkey_put(pk, KS_PART_RSA_IQMP, b)) != 0 ||
		    (r = ks_pkey_put(pk, KS_PART_RSA_P, b)) != 0 ||
		    (r = ks_pkey_put(pk, KS_PART_RSA_Q, b)) != 0)
			return r;
		return 0;
	default:
		if (k->cert == NULL &&
		    ((r = kbuf_put_cstring(b, k->kt->curve)) != 0 ||
		    (r = ks_pkey_put(pk, KS_PART_EC_Q, b)) != 0))
			return r;
		return ks_pkey_put(pk, KS_PART_EC_D, b);
	}
}

int
ks_key_generate(enum ks_key_type type, unsigned int bits,
    struct ks_key **keyp)
{
	const struct ks_keytype *kt;
	struct ks_pkey *pk = NULL;
	int r;

	*keyp = NULL;
	if ((kt = plain_type(type)) == NULL)
		return KMES_ERR_INVALID_ARGUMENT;
	if ((r = ks_pkey_generate(type, bits, &pk)) != 0)
		return r;
	return key_wrap(kt, pk, keyp);
}

/* Accessors. */

const uint8_t *
ks_key_blob(const struct ks_key *k, size_t *lenp)
{
	*lenp = k->blob_len;
	return k->blob;
}

const uint8_t *
ks_key_plain_blob(const struct ks_key *k, size_t *lenp)
{
	*lenp = k->plain_len;
	return k->plain;
}

enum ks_key_type
ks_key_type(const struct ks_key *k)
{
	return k->kt->type;
}

const char *
ks_key_type_name(const struct ks_key *k)
{
	return k->kt->name;
}

const char *
ks_key_short_name(const struct ks_key *k)
{
	return k->kt->short_name;
}

unsigned int
ks_key_bits(const struct ks_key *k)
{
	return ks_pkey_bits(k->pk);
}

int
ks_key_is_cert(const struct ks_key *k)
{
	return k->cert != NULL;
}

int
ks_key_has_private(const struct ks_key *k)
{
	return ks_pkey_has_private(k->pk);
}

int
ks_key_equal_public(const struct ks_key *a, const struct ks_key *b)
{
	return a->plain_len == b->plain_len &&
	    memcmp(a->plain, b->plain, a->plain_len) == 0;
}

/* Signatures. */

int
ks_key_sign(const struct ks_key *k, const uint8_t *data, size_t dlen,
    uint32_t flags, struct kbuf *sig)
{
	static const uint8_t empty;
	size_t before = kbuf_len(sig);
	const char *alg = k->kt->sigalg;
	enum ks_hash hash;
	int r;

	if (!ks_pkey_has_private(k->pk) || dlen > KS_SIGN_DATA_MAX)
		return KMES_ERR_INVALID_ARGUMENT;
	if (data == NULL && dlen == 0)
		data = &empty;
	switch (k->kt->type) {
	case KS_KEY_ED25519:
		hash = KS_HASH_NONE;
		break;
	case KS_KEY_RSA:
		/* SHA-256 wins when both are asked for, as in ssh-agent. */
		if (flags & KS_SIGN_RSA_SHA2_256) {
			alg = "rsa-sha2-256";
			hash = KS_HASH_SHA256;
		} else if (flags & KS_SIGN_RSA_SHA2_512) {
			alg = "rsa-sha2-512";
			hash = KS_HASH_SHA512;
		} else
			hash = KS_HASH_SHA1;
		break;
	default:
		hash = ecdsa_hash(k->kt->type);
		break;
	}
	if ((r = kbuf_put_cstring(sig, alg)) != 0 ||
	    (r = ks_pkey_sign(k->pk, hash, data, dlen, sig)) != 0) {
		/* Leave no half-written signature behind. */
		if (kbuf_len(sig) > before &&
		    kbuf_consume_end(sig, kbuf_len(sig) - before) != 0)
			abort();
		return r;
	}
	return 0;
}

int
ks_key_verify(const struct ks_key *k, const uint8_t *sig, size_t slen,
    const uint8_t *data, size_t dlen)
{
	static const uint8_t empty;
	int sha1;

	if (data == NULL && dlen == 0)
		data = &empty;
	return verify_sig(k, sig, slen, data, dlen, &sha1);
}

/* Text forms. */

int
ks_key_fingerprint(const struct ks_key *k, enum ks_fp_hash alg, char *out,
    size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t dg[KS_HASH_MAX_LEN];
	size_t dlen, i, o;
	int r;

	if (outlen > 0)
		out[0] = '\0';
	switch (alg) {
	case KS_FP_SHA256:
		if ((r = ks_digest(KS_HASH_SHA256, k->plain, k->plain_len, dg,
		    sizeof(dg), &dlen)) != 0)
			return r;
		if (outlen < 7 + 1)
			return KMES_ERR_NO_BUFFER_SPACE;
		memcpy(out, "SHA256:", 7);
		if ((r = ks_b64_encode(dg, dlen, 0, out + 7, outlen - 7)) != 0) {
			out[0] = '\0';
			return r;
		}
		return 0;
	case KS_FP_MD5:
		if ((r = ks_digest(KS_HASH_MD5, k->plain, k->plain_len, dg,
		    sizeof(dg), &dlen)) != 0)
			return r;
		if (outlen < 4 + dlen * 3)
			return KMES_ERR_NO_BUFFER_SPACE;
		memcpy(out, "MD5:", 4);
		for (i = 0, o = 4; i < dlen; i++) {
			if (i > 0)
				out[o++] = ':';
			out[o++] = hex[dg[i] >> 4];
			out[o++] = hex[dg[i] & 0xf];
		}
		out[o] = '\0';
		return 0;
	}
	return KMES_ERR_INVALID_ARGUMENT;
}

int
ks_key_to_openssh_line(const struct ks_key *k, const char *comment,
    char **linep)
{
	size_t nlen = strlen(k->kt->name), b64len, clen, total, o;
	char *line;
	int r;

	*linep = NULL;
	clen = comment == NULL ? 0 : strlen(comment);
	b64len = (k->blob_len + 2) / 3 * 4;
	total = nlen + 1 + b64len + (comment == NULL ? 0 : 1 + clen) + 1;
	if ((line = malloc(total)) == NULL)
		return KMES_ERR_ALLOC;
	memcpy(line, k->kt->name, nlen);
	line[nlen] = ' ';
	o = nlen + 1;
	if ((r = ks_b64_encode(k->blob, k->blob_len, 1, line + o,
	    total - o)) != 0) {
		free(line);
		return r;
	}
	o += b64len;
	if (comment != NULL) {
		line[o++] = ' ';
		memcpy(line + o, comment, clen);
		o += clen;
	}
	line[o] = '\0';
	*linep = line;
	return 0;
}

int
ks_key_from_openssh_line(const char *line, struct ks_key **keyp)
{
	struct ks_key *k = NULL;
	struct kbuf *raw = NULL;
	size_t tlen, blen;
	const char *type, *b64;
	int r;

	*keyp = NULL;
	type = line + strspn(line, " \t");
	tlen = strcspn(type, " \t\r\n");
	b64 = type + tlen + strspn(type + tlen, " \t");
	blen = strcspn(b64, " \t\r\n");
	if (tlen == 0 || blen == 0)
		return KMES_ERR_INVALID_FORMAT;
	if ((raw = kbuf_new()) == NULL)
		return KMES_ERR_ALLOC;
	if ((r = ks_b64_decode(b64, blen, raw)) != 0 ||
	    (r = ks_key_from_blob(kbuf_ptr(raw), kbuf_len(raw), &k)) != 0)
		goto out;
	/* The type word must name the type inside the blob. */
	if (!name_is((const uint8_t *)type, tlen, k->kt->name)) {
		r = KMES_ERR_INVALID_FORMAT;
		goto out;
	}
	*keyp = k;
	k = NULL;
	r = 0;
 out:
	ks_key_free(k);
	kbuf_free(raw);
	return r;
}

/* Certificates. */

int
ks_cert_signature_key(const struct ks_key *k, struct ks_key **cap)
{
	*cap = NULL;
	if (k->cert == NULL)
		return KMES_ERR_INVALID_ARGUMENT;
	*cap = ks_key_ref(k->cert->ca);
	return 0;
}

unsigned int
ks_cert_type(const struct ks_key *k)
{
	return k->cert == NULL ? 0 : k->cert->type;
}

const char *
ks_cert_key_id(const struct ks_key *k)
{
	return k->cert == NULL ? NULL : k->cert->key_id;
}

int
ks_cert_check_host(const struct ks_key *k, const char *name, uint64_t now)
{
	const struct ks_cert *c = k->cert;
	size_t i;

	if (c == NULL)
		return KMES_ERR_INVALID_ARGUMENT;
	if (c->type != KS_CERT_HOST || now < c->valid_after ||
	    now >= c->valid_before)
		return KMES_ERR_CERT_INVALID;
	/* As ssh-agent: no critical options are defined for host certs. */
	if (c->critical_len != 0)
		return KMES_ERR_CERT_INVALID;
	/* SSH_ALLOWED_CA_SIGALGS leaves out SHA-1 RSA signatures. */
	if (c->sha1_signed)
		return KMES_ERR_CERT_INVALID;
	if (c->nprincipals == 0 || name == NULL)
		return 0;
	for (i = 0; i < c->nprincipals; i++) {
		/* As OpenSSH: the hop's host name is the pattern. */
		if (kmes_match_pattern(c->principals[i], name))
			return 0;
	}
	return KMES_ERR_CERT_INVALID;
}
