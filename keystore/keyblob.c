/*
 * keyblob.c: SSH key wire formats over the OpenSSL-free seam of
 * crypto-int.h: the key types, key objects, public key blobs (RFC 4253,
 * 5656, 8709) and OpenSSH certificates (PROTOCOL.certkeys), parsed and
 * read. The private key encoding of SSH_AGENTC_ADD_IDENTITY is
 * keyblob-private.c's; signatures and text forms are keyblob-sign.c's.
 * Every byte is read through kbuf.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "crypto-int.h"
#include "kbuf.h"
#include "keyblob-int.h"
#include "kmes-err.h"
#include "match.h"
#include "secmem.h"

/* As OpenSSH (SSHKEY_CERT_MAX_PRINCIPALS). */
#define CERT_MAX_PRINCIPALS 256

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
	{ "ecdsa-sha2-nistp256-cert-v01@openssh.com", "ECDSA-CERT", "nistp256",
	    "ecdsa-sha2-nistp256", KS_KEY_ECDSA_P256, 1 },
	{ "ecdsa-sha2-nistp384-cert-v01@openssh.com", "ECDSA-CERT", "nistp384",
	    "ecdsa-sha2-nistp384", KS_KEY_ECDSA_P384, 1 },
	{ "ecdsa-sha2-nistp521-cert-v01@openssh.com", "ECDSA-CERT", "nistp521",
	    "ecdsa-sha2-nistp521", KS_KEY_ECDSA_P521, 1 },
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

static int key_from_blob(const uint8_t *, size_t, int, struct ks_key **);

int
ks_name_is(const uint8_t *p, size_t len, const char *s)
{
	return strlen(s) == len && memcmp(p, s, len) == 0;
}

int
ks_keytype_lookup(const uint8_t *name, size_t len,
    const struct ks_keytype **ktp)
{
	size_t i;

	*ktp = NULL;
	for (i = 0; i < NKEYTYPES; i++) {
		if (ks_name_is(name, len, keytypes[i].name)) {
			*ktp = &keytypes[i];
			return 0;
		}
	}
	for (i = 0; i < sizeof(refused_types) / sizeof(refused_types[0]); i++) {
		if (ks_name_is(name, len, refused_types[i]))
			return KMES_ERR_KEY_UNSUPPORTED;
	}
	return KMES_ERR_KEY_TYPE_UNKNOWN;
}

const struct ks_keytype *
ks_keytype_plain(enum ks_key_type type)
{
	size_t i;

	for (i = 0; i < NKEYTYPES; i++) {
		if (keytypes[i].type == type && !keytypes[i].cert)
			return &keytypes[i];
	}
	return NULL;
}

enum ks_hash
ks_ecdsa_hash(enum ks_key_type type)
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
	const struct ks_keytype *pt = ks_keytype_plain(kt->type);
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
int
ks_key_wrap(const struct ks_keytype *kt, struct ks_pkey *pk, struct ks_key **kp)
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

int
ks_blob_get_num(struct kbuf *b, struct ks_num *v)
{
	return kbuf_get_mpint_direct(b, &v->p, &v->len);
}

int
ks_blob_get_public_fields(struct kbuf *b, const struct ks_keytype *kt,
    struct ks_pubfields *f)
{
	const uint8_t *curve;
	size_t clen;
	int r;

	memset(f, 0, sizeof(*f));
	switch (kt->type) {
	case KS_KEY_ED25519:
		return kbuf_get_string_direct(b, &f->pk.p, &f->pk.len);
	case KS_KEY_RSA:
		if ((r = ks_blob_get_num(b, &f->e)) != 0 ||
		    (r = ks_blob_get_num(b, &f->n)) != 0)
			return r;
		return 0;
	default:
		if ((r = kbuf_get_string_direct(b, &curve, &clen)) != 0 ||
		    (r = kbuf_get_string_direct(b, &f->pk.p, &f->pk.len)) != 0)
			return r;
		/* The curve is named twice; the two must agree. */
		if (!ks_name_is(curve, clen, kt->curve))
			return KMES_ERR_KEY_INVALID;
		return 0;
	}
}

static int
pkey_public(const struct ks_keytype *kt, const struct ks_pubfields *f,
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
int
ks_key_verify_sig(const struct ks_key *k, const uint8_t *sig, size_t slen,
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
		if (ks_name_is(alg, alen, "ssh-rsa")) {
			hash = KS_HASH_SHA1;
			*sha1p = 1;
		} else if (ks_name_is(alg, alen, "rsa-sha2-256"))
			hash = KS_HASH_SHA256;
		else if (ks_name_is(alg, alen, "rsa-sha2-512"))
			hash = KS_HASH_SHA512;
		else
			goto out;
		break;
	case KS_KEY_ED25519:
		if (!ks_name_is(alg, alen, k->kt->sigalg))
			goto out;
		hash = KS_HASH_NONE;
		break;
	default:
		if (!ks_name_is(alg, alen, k->kt->sigalg))
			goto out;
		hash = ks_ecdsa_hash(k->kt->type);
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
	if (ks_key_verify_sig(c->ca, sig, slen, blob, signed_len,
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
	struct ks_pubfields f;
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
	    (r = ks_keytype_lookup(name, nlen, &kt)) != 0)
		goto out;
	if (kt->cert && !allow_cert) {
		r = KMES_ERR_CERT_INVALID;
		goto out;
	}
	if (kt->cert && (r = kbuf_get_string_direct(b, NULL, NULL)) != 0)
		goto out; /* nonce */
	if ((r = ks_blob_get_public_fields(b, kt, &f)) != 0 ||
	    (r = pkey_public(kt, &f, &pk)) != 0)
		goto out;
	r = ks_key_wrap(kt, pk, &k);
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
