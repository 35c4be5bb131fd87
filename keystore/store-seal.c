/*
 * store-seal.c: the key store's secrets: the record and MAC keys derived
 * from the data key, the data key wrapped under each PIN (scrypt, then
 * AEAD bound to the store, the role and the KDF cost), and each record's
 * private key sealed under the record key with every clear field of the
 * record as AAD, so no field can be swapped between records or stores.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "secmem.h"
#include "store-int.h"

int
ks_secrets_derive(struct ks_secrets *sec)
{
	int r;

	if ((r = ks_hmac_sha256(sec->dk, sizeof(sec->dk),
		 (const uint8_t *)KS_CTX_REK, strlen(KS_CTX_REK), sec->rek)) !=
		0 ||
	    (r = ks_hmac_sha256(sec->dk, sizeof(sec->dk),
		 (const uint8_t *)KS_CTX_MK, strlen(KS_CTX_MK), sec->mk)) != 0)
		return r;
	return 0;
}

/* AAD of a wrapped data key: the store, the role and the KDF cost. */
static int
wrap_aad(const struct ks_image *img, enum ks_role role, struct kbuf *b)
{
	int r;

	if ((r = kbuf_put_cstring(b, KS_CTX_WRAP)) != 0 ||
	    (r = kbuf_put(b, img->id, sizeof(img->id))) != 0 ||
	    (r = kbuf_put_u32(b, (uint32_t)role)) != 0 ||
	    (r = kbuf_put_u32(b, img->kdf.log2_n)) != 0 ||
	    (r = kbuf_put_u32(b, img->kdf.r)) != 0 ||
	    (r = kbuf_put_u32(b, img->kdf.p)) != 0)
		return r;
	return 0;
}

/* Runs the KDF for a PIN into a locked key-encryption key. */
static int
derive_kek(const struct ks_image *img, const struct ks_wrap *w,
    const uint8_t *pin, size_t pinlen, uint8_t **kekp)
{
	uint8_t *kek;
	int r;

	*kekp = NULL;
	if ((kek = kmes_secure_alloc(KS_AEAD_KEY_LEN)) == NULL)
		return KMES_ERR_ALLOC;
	if ((r = ks_kdf_scrypt(pin, pinlen, w->salt, sizeof(w->salt),
		 img->kdf.log2_n, img->kdf.r, img->kdf.p, kek,
		 KS_AEAD_KEY_LEN)) != 0) {
		kmes_secure_free(kek);
		return r;
	}
	*kekp = kek;
	return 0;
}

int
ks_wrap_seal(const struct ks_image *img, enum ks_role role, const uint8_t *pin,
    size_t pinlen, const uint8_t *dk, struct ks_wrap *w)
{
	struct ks_wrap nw;
	struct kbuf *aad = NULL;
	uint8_t *kek = NULL;
	int r;

	if ((r = ks_random(nw.salt, sizeof(nw.salt))) != 0 ||
	    (r = ks_random(nw.nonce, sizeof(nw.nonce))) != 0)
		return r;
	if ((aad = kbuf_new()) == NULL)
		return KMES_ERR_ALLOC;
	if ((r = wrap_aad(img, role, aad)) != 0 ||
	    (r = derive_kek(img, &nw, pin, pinlen, &kek)) != 0 ||
	    (r = ks_aead_seal(kek, nw.nonce, kbuf_ptr(aad), kbuf_len(aad), dk,
		 KS_STORE_DK_LEN, nw.ct, nw.tag)) != 0)
		goto out;
	*w = nw;
	r = 0;
out:
	kmes_secure_free(kek);
	kbuf_free(aad);
	return r;
}

int
ks_wrap_open(const struct ks_image *img, enum ks_role role, const uint8_t *pin,
    size_t pinlen, uint8_t *dk)
{
	const struct ks_wrap *w = &img->wrap[role];
	struct kbuf *aad = NULL;
	uint8_t *kek = NULL;
	int r;

	if ((aad = kbuf_new()) == NULL)
		return KMES_ERR_ALLOC;
	if ((r = wrap_aad(img, role, aad)) != 0 ||
	    (r = derive_kek(img, w, pin, pinlen, &kek)) != 0)
		goto out;
	r = ks_aead_open(kek, w->nonce, kbuf_ptr(aad), kbuf_len(aad), w->ct,
	    sizeof(w->ct), w->tag, dk);
	if (r == KMES_ERR_SIGNATURE_INVALID)
		r = KMES_ERR_PIN_INCORRECT;
out:
	kmes_secure_free(kek);
	kbuf_free(aad);
	return r;
}

/* AAD of a record: the store and every clear field of the record. */
static int
record_aad(const struct ks_image *img, const struct ks_record *rec,
    struct kbuf *b)
{
	int r;

	if ((r = kbuf_put_cstring(b, KS_CTX_RECORD)) != 0 ||
	    (r = kbuf_put(b, img->id, sizeof(img->id))) != 0 ||
	    (r = kbuf_put_cstring(b, rec->label)) != 0 ||
	    (r = kbuf_put_cstring(b, rec->type)) != 0 ||
	    (r = kbuf_put_string(b, rec->blob, rec->blob_len)) != 0 ||
	    (r = kbuf_put_u32(b, rec->flags)) != 0 ||
	    (r = kbuf_put_u64(b, rec->created)) != 0)
		return r;
	/* Only when set, so records sealed before IDs existed still open. */
	if (rec->ckaid != NULL &&
	    (r = kbuf_put_string(b, rec->ckaid, rec->ckaid_len)) != 0)
		return r;
	return 0;
}

int
ks_record_seal(const struct ks_image *img, const struct ks_secrets *sec,
    const struct ks_key *key, struct ks_record *rec)
{
	struct kbuf *priv = NULL, *aad = NULL;
	uint8_t *sealed = NULL;
	size_t len;
	int r;

	/* The private serialization exists only in locked memory. */
	if ((priv = kbuf_new_secure(KS_STORE_PRIV_MAX)) == NULL ||
	    (aad = kbuf_new()) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	if ((r = ks_key_put_private(key, priv)) != 0 ||
	    (r = record_aad(img, rec, aad)) != 0 ||
	    (r = ks_random(rec->nonce, sizeof(rec->nonce))) != 0)
		goto out;
	len = kbuf_len(priv);
	if ((sealed = malloc(len + KS_AEAD_TAG_LEN)) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	if ((r = ks_aead_seal(sec->rek, rec->nonce, kbuf_ptr(aad),
		 kbuf_len(aad), kbuf_ptr(priv), len, sealed, sealed + len)) !=
	    0)
		goto out;
	free(rec->sealed);
	rec->sealed = sealed;
	rec->sealed_len = len + KS_AEAD_TAG_LEN;
	sealed = NULL;
	r = 0;
out:
	free(sealed); /* ciphertext only: nothing to wipe */
	kbuf_free(aad);
	kbuf_free(priv);
	return r;
}

int
ks_record_open(const struct ks_image *img, const struct ks_secrets *sec,
    size_t i, struct ks_key **keyp)
{
	const struct ks_record *rec;
	struct kbuf *priv = NULL, *aad = NULL;
	struct ks_key *key = NULL;
	const uint8_t *blob;
	uint8_t *pt;
	size_t len, blob_len;
	int r;

	*keyp = NULL;
	if (i >= img->nrecs)
		return KMES_ERR_INVALID_ARGUMENT;
	rec = &img->recs[i];
	/* Parsing guaranteed KS_AEAD_TAG_LEN < sealed_len. */
	len = rec->sealed_len - KS_AEAD_TAG_LEN;
	if ((priv = kbuf_new_secure(len)) == NULL ||
	    (aad = kbuf_new()) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	if ((r = record_aad(img, rec, aad)) != 0 ||
	    (r = kbuf_reserve(priv, len, &pt)) != 0)
		goto out;
	if ((r = ks_aead_open(sec->rek, rec->nonce, kbuf_ptr(aad),
		 kbuf_len(aad), rec->sealed, len, rec->sealed + len, pt)) != 0)
		goto out;
	if ((r = ks_key_parse_private(priv, &key)) != 0)
		goto out;
	/* Authentic but inconsistent would be a bug of ours: still refuse. */
	blob = ks_key_blob(key, &blob_len);
	if (kbuf_len(priv) != 0 || blob_len != rec->blob_len ||
	    memcmp(blob, rec->blob, blob_len) != 0 ||
	    strcmp(ks_key_type_name(key), rec->type) != 0) {
		r = KMES_ERR_STORE_CORRUPT;
		goto out;
	}
	*keyp = key;
	key = NULL;
	r = 0;
out:
	/* Whatever fails past the lookup is a record we cannot trust. */
	if (r != 0 && r != KMES_ERR_ALLOC)
		r = KMES_ERR_STORE_CORRUPT;
	ks_key_free(key);
	kbuf_free(aad);
	kbuf_free(priv);
	return r;
}
