/*
 * keyblob-private.c: the private key encoding of SSH_AGENTC_ADD_IDENTITY
 * (and of the store's records), read and written: plain keys and
 * certificates with their private values, each private half checked
 * against its public key; and new keys (ks_key_generate).
 */
#include <stdlib.h>
#include <string.h>

#include "crypto-int.h"
#include "kbuf.h"
#include "keyblob-int.h"
#include "kmes-err.h"
#include "secmem.h"

/*
 * Parses the private fields of kt from b. For a certificate, cf holds the
 * certificate's public fields and only the private values are on the wire.
 */
static int
get_private(struct kbuf *b, const struct ks_keytype *kt,
    const struct ks_pubfields *cf, struct ks_pkey **pkp)
{
	struct ks_pubfields f;
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
		    (cf != NULL &&
			(cf->pk.len != pklen ||
			    kmes_ct_memcmp(cf->pk.p, pk, pklen) != 0)))
			return KMES_ERR_KEY_MISMATCH;
		return ks_pkey_ed25519(pk, pklen, sk, pkp);
	case KS_KEY_RSA:
		if (cf == NULL) {
			memset(&f, 0, sizeof(f));
			if ((r = ks_blob_get_num(b, &f.n)) != 0 ||
			    (r = ks_blob_get_num(b, &f.e)) != 0)
				return r;
			cf = &f;
		}
		if ((r = ks_blob_get_num(b, &rp.d)) != 0 ||
		    (r = ks_blob_get_num(b, &rp.iqmp)) != 0 ||
		    (r = ks_blob_get_num(b, &rp.p)) != 0 ||
		    (r = ks_blob_get_num(b, &rp.q)) != 0)
			return r;
		return ks_pkey_rsa(&cf->n, &cf->e, &rp, pkp);
	default:
		if (cf == NULL) {
			if ((r = ks_blob_get_public_fields(b, kt, &f)) != 0)
				return r;
			cf = &f;
		}
		if ((r = ks_blob_get_num(b, &d)) != 0)
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
	struct ks_pubfields cf;
	const uint8_t *name, *cblob;
	size_t nlen, clen;
	int r;

	*keyp = NULL;
	if ((r = kbuf_get_string_direct(b, &name, &nlen)) != 0 ||
	    (r = ks_keytype_lookup(name, nlen, &kt)) != 0)
		return r;
	if (!kt->cert) {
		if ((r = get_private(b, kt, NULL, &pk)) != 0)
			return r;
		if ((r = ks_key_wrap(kt, pk, &k)) != 0)
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
	    (r = ks_blob_get_public_fields(pb, kt, &cf)) != 0 ||
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
ks_key_generate(enum ks_key_type type, unsigned int bits, struct ks_key **keyp)
{
	const struct ks_keytype *kt;
	struct ks_pkey *pk = NULL;
	int r;

	*keyp = NULL;
	if ((kt = ks_keytype_plain(type)) == NULL)
		return KMES_ERR_INVALID_ARGUMENT;
	if ((r = ks_pkey_generate(type, bits, &pk)) != 0)
		return r;
	return ks_key_wrap(kt, pk, keyp);
}
