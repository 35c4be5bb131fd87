/*
 * store-format.c: the key store's bytes (kmes-keystore(5)): strict parsing,
 * canonical encoding, the whole-store MAC, and the image's record table.
 * The data key's wraps and the sealed records are store-seal.c's.
 *
 * The file is parsed only through kbuf and only into public data; nothing
 * secret is ever in a struct ks_image. Encoding is canonical (one byte
 * string per image), so the MAC is computed over the re-encoding of what
 * was parsed, never over raw file offsets.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "secmem.h"
#include "store-int.h"

/* Smallest record: five one-byte strings' worth, flags, time, nonce, tag. */
#define REC_MIN \
	(4 + 1 + 4 + 1 + 4 + 1 + 4 + 8 + KS_AEAD_NONCE_LEN + 4 + \
	    KS_AEAD_TAG_LEN + 1)

#define REC_FLAGS_KNOWN \
	(KS_REC_CONFIRM | KS_REC_GENERATED | KS_REC_NEVER_EXTRACTABLE)

int
ks_kdf_valid(const struct ks_store_kdf *kdf)
{
	if (kdf->log2_n < KS_SCRYPT_LOG2_N_MIN ||
	    kdf->log2_n > KS_SCRYPT_LOG2_N_MAX || kdf->r == 0 ||
	    kdf->r > KS_SCRYPT_R_MAX || kdf->p == 0 || kdf->p > KS_SCRYPT_P_MAX)
		return 0;
	/* The V array is 128 * r * N bytes. */
	return 128 * (uint64_t)kdf->r * (((uint64_t)1 << kdf->log2_n) + 2) <=
	    KS_SCRYPT_MEM_MAX;
}

int
ks_label_valid(const char *s, size_t len, size_t min)
{
	size_t i;

	if (len < min || len > KS_STORE_LABEL_MAX)
		return 0;
	/* Labels reach terminals: no escape sequences, no NUL. */
	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
			return 0;
	}
	return 1;
}

void
ks_record_clear(struct ks_record *rec)
{
	if (rec == NULL)
		return;
	free(rec->label);
	free(rec->type);
	free(rec->blob);
	free(rec->ckaid);
	free(rec->sealed);
	memset(rec, 0, sizeof(*rec));
}

void
ks_image_free(struct ks_image *img)
{
	size_t i;

	if (img == NULL)
		return;
	for (i = 0; i < img->nrecs; i++)
		ks_record_clear(&img->recs[i]);
	free(img->recs);
	free(img->label);
	free(img);
}

/* Copies exactly n bytes from the front of b. */
static int
get_raw(struct kbuf *b, void *out, size_t n)
{
	if (kbuf_len(b) < n)
		return KMES_ERR_MESSAGE_INCOMPLETE;
	memcpy(out, kbuf_ptr(b), n);
	return kbuf_consume(b, n);
}

/* Reads a string of min..max bytes as a malloc'd C string. */
static int
get_text(struct kbuf *b, size_t min, size_t max, char **sp)
{
	char *s = NULL;
	size_t len;
	int r;

	*sp = NULL;
	if ((r = kbuf_get_cstring(b, &s, &len)) != 0)
		return r;
	if (len < min || len > max || !ks_label_valid(s, len, min)) {
		free(s);
		return KMES_ERR_INVALID_FORMAT;
	}
	*sp = s;
	return 0;
}

/* Reads a string of min..max bytes as a malloc'd copy. */
static int
get_bytes(struct kbuf *b, size_t min, size_t max, uint8_t **pp, size_t *lenp)
{
	const uint8_t *p;
	size_t len;
	int r;

	*pp = NULL;
	*lenp = 0;
	if ((r = kbuf_peek_string_direct(b, &p, &len)) != 0)
		return r;
	if (len < min || len > max)
		return KMES_ERR_INVALID_FORMAT;
	return kbuf_get_string(b, pp, lenp);
}

static int
parse_wrap(struct kbuf *b, struct ks_wrap *w)
{
	int r;

	if ((r = get_raw(b, w->salt, sizeof(w->salt))) != 0 ||
	    (r = get_raw(b, w->nonce, sizeof(w->nonce))) != 0 ||
	    (r = get_raw(b, w->ct, sizeof(w->ct))) != 0 ||
	    (r = get_raw(b, w->tag, sizeof(w->tag))) != 0)
		return r;
	return 0;
}

/* The blob must begin with the type name the record claims. */
static int
check_blob_type(const struct ks_record *rec)
{
	struct kbuf *b = NULL;
	const uint8_t *t;
	size_t tlen;
	int r;

	if ((b = kbuf_from(rec->blob, rec->blob_len)) == NULL)
		return KMES_ERR_ALLOC;
	if ((r = kbuf_get_string_direct(b, &t, &tlen)) != 0)
		goto out;
	if (tlen != strlen(rec->type) || memcmp(t, rec->type, tlen) != 0)
		r = KMES_ERR_INVALID_FORMAT;
out:
	kbuf_free(b);
	return r;
}

static int
parse_record(struct kbuf *b, uint32_t version, struct ks_record *rec)
{
	int r;

	if ((r = get_text(b, 1, KS_STORE_LABEL_MAX, &rec->label)) != 0 ||
	    (r = get_text(b, 1, KS_STORE_TYPE_MAX, &rec->type)) != 0 ||
	    (r = get_bytes(b, 1, KS_STORE_BLOB_MAX, &rec->blob,
		 &rec->blob_len)) != 0 ||
	    (r = kbuf_get_u32(b, &rec->flags)) != 0 ||
	    (r = kbuf_get_u64(b, &rec->created)) != 0 ||
	    (version >= KS_STORE_VERSION &&
		(r = get_bytes(b, 0, KS_STORE_CKAID_MAX, &rec->ckaid,
		     &rec->ckaid_len)) != 0) ||
	    (r = get_raw(b, rec->nonce, sizeof(rec->nonce))) != 0 ||
	    (r = get_bytes(b, KS_AEAD_TAG_LEN + 1,
		 KS_STORE_PRIV_MAX + KS_AEAD_TAG_LEN, &rec->sealed,
		 &rec->sealed_len)) != 0)
		return r;
	if ((rec->flags & ~REC_FLAGS_KNOWN) != 0 ||
	    (rec->flags & KS_REC_NEVER_EXTRACTABLE) == 0)
		return KMES_ERR_INVALID_FORMAT;
	/* One encoding per record: no ID is NULL, never an empty string. */
	if (rec->ckaid_len == 0) {
		free(rec->ckaid);
		rec->ckaid = NULL;
	}
	return check_blob_type(rec);
}

unsigned int
ks_image_inflight(const struct ks_image *img, enum ks_role role)
{
	return (unsigned int)__builtin_popcount(
	    img->inflight & KS_SLOTS_ROLE_MASK(role));
}

/*
 * Version 2's checksum: HMAC-SHA256 under a public key, so it needs no PIN.
 * It only catches accidents (a bad bit, a torn write) before any PIN is
 * tried; anyone who edits the file can recompute it, and the MAC under
 * the data key is what catches that.
 */
static int
compute_checksum(const uint8_t *p, size_t len,
    uint8_t sum[KS_STORE_CHECKSUM_LEN])
{
	return ks_hmac_sha256((const uint8_t *)KS_CTX_SUM, strlen(KS_CTX_SUM),
	    p, len, sum);
}

/* Strict: the checksum of a version 2 file must match. */
static int
check_checksum(const struct kbuf *file)
{
	uint8_t sum[KS_STORE_CHECKSUM_LEN];
	size_t len = kbuf_len(file);
	int r;

	if (len < KS_STORE_INFLIGHT_OFFSET + KS_STORE_CHECKSUM_LEN)
		return KMES_ERR_INVALID_FORMAT;
	if ((r = compute_checksum(kbuf_ptr(file), len - sizeof(sum), sum)) != 0)
		return r;
	if (kmes_ct_memcmp(sum, kbuf_ptr(file) + len - sizeof(sum),
		sizeof(sum)) != 0)
		return KMES_ERR_INVALID_FORMAT;
	return 0;
}

/* Everything up to the record count. */
static int
parse_header(struct kbuf *b, struct ks_image *img, uint32_t *countp)
{
	uint8_t magic[KS_STORE_MAGIC_LEN];
	uint32_t log2_n, role;
	int r;

	if ((r = get_raw(b, magic, sizeof(magic))) != 0 ||
	    (r = kbuf_get_u32(b, &img->version)) != 0)
		return r;
	if (memcmp(magic, KS_STORE_MAGIC, sizeof(magic)) != 0 ||
	    (img->version != KS_STORE_VERSION &&
		img->version != KS_STORE_VERSION_2 &&
		img->version != KS_STORE_VERSION_1))
		return KMES_ERR_INVALID_FORMAT;
	if ((r = kbuf_get_u32(b, &img->failures[KS_ROLE_USER])) != 0 ||
	    (r = kbuf_get_u32(b, &img->failures[KS_ROLE_SO])) != 0)
		return r;
	if (img->version != KS_STORE_VERSION_1 &&
	    (r = kbuf_get_u32(b, &img->inflight)) != 0)
		return r;
	if ((r = get_raw(b, img->id, sizeof(img->id))) != 0 ||
	    (r = kbuf_get_u32(b, &log2_n)) != 0 ||
	    (r = kbuf_get_u32(b, &img->kdf.r)) != 0 ||
	    (r = kbuf_get_u32(b, &img->kdf.p)) != 0 ||
	    (r = parse_wrap(b, &img->wrap[KS_ROLE_USER])) != 0 ||
	    (r = parse_wrap(b, &img->wrap[KS_ROLE_SO])) != 0 ||
	    (r = kbuf_get_u64(b, &img->generation)) != 0 ||
	    (r = get_text(b, 0, KS_STORE_LABEL_MAX, &img->label)) != 0 ||
	    (r = kbuf_get_u32(b, countp)) != 0)
		return r;
	/*
	 * The counters are outside the MAC, so anyone who can write the file
	 * can change them; at least refuse values no store ever holds. A slot
	 * in flight is a try that may yet fail, so it counts towards the cap.
	 */
	for (role = KS_ROLE_USER; role <= KS_ROLE_SO; role++) {
		if (img->failures[role] > KS_STORE_MAX_TRIES ||
		    img->failures[role] + ks_image_inflight(img, role) >
			KS_STORE_MAX_TRIES)
			return KMES_ERR_INVALID_FORMAT;
	}
	if ((img->inflight &
		~(KS_SLOTS_ROLE_MASK(KS_ROLE_USER) |
		    KS_SLOTS_ROLE_MASK(KS_ROLE_SO))) != 0 ||
	    ((img->inflight & 0xff) & (img->inflight >> 8)) != 0 ||
	    log2_n == 0 || log2_n > UINT8_MAX)
		return KMES_ERR_INVALID_FORMAT;
	img->kdf.log2_n = (uint8_t)log2_n;
	if (!ks_kdf_valid(&img->kdf))
		return KMES_ERR_INVALID_FORMAT;
	return 0;
}

/*
 * The whole file (salvage = 0), or as much of it as parses (salvage = 1:
 * no checksum, records up to the first bad one).
 */
static int
image_parse(const struct kbuf *file, int salvage, struct ks_image **imgp,
    size_t *claimedp)
{
	struct ks_image *img = NULL;
	struct kbuf *b = NULL;
	uint32_t count;
	size_t i, tail;
	int r;

	*imgp = NULL;
	if (claimedp != NULL)
		*claimedp = 0;
	if ((b = kbuf_from(kbuf_ptr(file), kbuf_len(file))) == NULL ||
	    (img = calloc(1, sizeof(*img))) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	if ((r = parse_header(b, img, &count)) != 0)
		goto out;
	/* A bad bit anywhere is found before any PIN is tried. */
	if (!salvage && img->version != KS_STORE_VERSION_1 &&
	    (r = check_checksum(file)) != 0)
		goto out;
	tail = img->version == KS_STORE_VERSION_1 ? 0 : KS_STORE_CHECKSUM_LEN;
	/*
	 * A hostile count must not size an allocation: bound it by the
	 * bytes that are really there.
	 */
	if (count > KS_STORE_MAX_RECORDS || count > kbuf_len(b) / REC_MIN) {
		r = KMES_ERR_INVALID_FORMAT;
		goto out;
	}
	if (claimedp != NULL)
		*claimedp = count;
	if (count != 0 &&
	    (img->recs = calloc(count, sizeof(*img->recs))) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	for (i = 0; i < count; i++) {
		img->nrecs = i + 1;
		if ((r = parse_record(b, img->version, &img->recs[i])) != 0 ||
		    ks_image_find(img, img->recs[i].label) != (long)i ||
		    (img->recs[i].ckaid != NULL &&
			ks_image_find_ckaid(img, img->recs[i].ckaid,
			    img->recs[i].ckaid_len) != (long)i)) {
			if (r == 0)
				r = KMES_ERR_INVALID_FORMAT; /* duplicate */
			if (!salvage)
				goto out;
			/* Lengths past here cannot be trusted: stop. */
			ks_record_clear(&img->recs[i]);
			img->nrecs = i;
			r = 0;
			goto done;
		}
	}
	if ((r = get_raw(b, img->mac, sizeof(img->mac))) != 0 && !salvage)
		goto out;
	if (kbuf_len(b) != tail && !salvage) {
		r = KMES_ERR_INVALID_FORMAT;
		goto out;
	}
done:
	*imgp = img;
	img = NULL;
	r = 0;
out:
	if (r != 0 && r != KMES_ERR_ALLOC)
		r = KMES_ERR_STORE_CORRUPT;
	ks_image_free(img);
	kbuf_free(b);
	return r;
}

int
ks_file_seal_checksum(uint8_t *file, size_t len)
{
	if (len < KS_STORE_INFLIGHT_OFFSET + KS_STORE_CHECKSUM_LEN)
		return KMES_ERR_INVALID_ARGUMENT;
	return compute_checksum(file, len - KS_STORE_CHECKSUM_LEN,
	    file + len - KS_STORE_CHECKSUM_LEN);
}

int
ks_image_parse(const struct kbuf *file, struct ks_image **imgp)
{
	return image_parse(file, 0, imgp, NULL);
}

int
ks_image_parse_salvage(const struct kbuf *file, struct ks_image **imgp,
    size_t *claimedp)
{
	return image_parse(file, 1, imgp, claimedp);
}

static int
put_wrap(struct kbuf *b, const struct ks_wrap *w)
{
	int r;

	if ((r = kbuf_put(b, w->salt, sizeof(w->salt))) != 0 ||
	    (r = kbuf_put(b, w->nonce, sizeof(w->nonce))) != 0 ||
	    (r = kbuf_put(b, w->ct, sizeof(w->ct))) != 0 ||
	    (r = kbuf_put(b, w->tag, sizeof(w->tag))) != 0)
		return r;
	return 0;
}

static int
put_record(struct kbuf *b, const struct ks_record *rec, int with_ckaid)
{
	int r;

	if ((r = kbuf_put_cstring(b, rec->label)) != 0 ||
	    (r = kbuf_put_cstring(b, rec->type)) != 0 ||
	    (r = kbuf_put_string(b, rec->blob, rec->blob_len)) != 0 ||
	    (r = kbuf_put_u32(b, rec->flags)) != 0 ||
	    (r = kbuf_put_u64(b, rec->created)) != 0 ||
	    (with_ckaid &&
		(r = kbuf_put_string(b, rec->ckaid, rec->ckaid_len)) != 0) ||
	    (r = kbuf_put(b, rec->nonce, sizeof(rec->nonce))) != 0 ||
	    (r = kbuf_put_string(b, rec->sealed, rec->sealed_len)) != 0)
		return r;
	return 0;
}

/* Returns 1 if a record of img carries a CKA_ID. */
static int
image_has_ckaid(const struct ks_image *img)
{
	size_t i;

	for (i = 0; i < img->nrecs; i++) {
		if (img->recs[i].ckaid != NULL)
			return 1;
	}
	return 0;
}

/*
 * Appends everything but the MAC (and the checksum). for_mac gives the MAC's
 * input: the layout of version 1 whatever the file's version, with the
 * counters zero, so that converting a file to version 2 or 3 or counting a
 * try needs no data key. Once a record has a CKA_ID, the MAC input instead
 * says version 3 and carries every record's ID field, so the IDs are
 * covered and no MAC input of one image can be read as another's.
 */
static int
encode_body(const struct ks_image *img, int for_mac, struct kbuf *b)
{
	size_t i;
	int ids = !for_mac || image_has_ckaid(img), r;

	if ((r = kbuf_put(b, KS_STORE_MAGIC, KS_STORE_MAGIC_LEN)) != 0 ||
	    (r = kbuf_put_u32(b,
		 ids ? KS_STORE_VERSION : KS_STORE_VERSION_1)) != 0 ||
	    (r = kbuf_put_u32(b, for_mac ? 0 : img->failures[KS_ROLE_USER])) !=
		0 ||
	    (r = kbuf_put_u32(b, for_mac ? 0 : img->failures[KS_ROLE_SO])) !=
		0 ||
	    (!for_mac && (r = kbuf_put_u32(b, img->inflight)) != 0) ||
	    (r = kbuf_put(b, img->id, sizeof(img->id))) != 0 ||
	    (r = kbuf_put_u32(b, img->kdf.log2_n)) != 0 ||
	    (r = kbuf_put_u32(b, img->kdf.r)) != 0 ||
	    (r = kbuf_put_u32(b, img->kdf.p)) != 0 ||
	    (r = put_wrap(b, &img->wrap[KS_ROLE_USER])) != 0 ||
	    (r = put_wrap(b, &img->wrap[KS_ROLE_SO])) != 0 ||
	    (r = kbuf_put_u64(b, img->generation)) != 0 ||
	    (r = kbuf_put_cstring(b, img->label)) != 0 ||
	    (r = kbuf_put_u32(b, (uint32_t)img->nrecs)) != 0)
		return r;
	for (i = 0; i < img->nrecs; i++) {
		if ((r = put_record(b, &img->recs[i], ids)) != 0)
			return r;
	}
	return 0;
}

int
ks_image_encode(const struct ks_image *img, struct kbuf *b)
{
	uint8_t sum[KS_STORE_CHECKSUM_LEN];
	size_t start = kbuf_len(b);
	int r;

	if ((r = encode_body(img, 0, b)) != 0 ||
	    (r = kbuf_put(b, img->mac, sizeof(img->mac))) != 0 ||
	    (r = compute_checksum(kbuf_ptr(b) + start, kbuf_len(b) - start,
		 sum)) != 0)
		return r;
	return kbuf_put(b, sum, sizeof(sum));
}

/* MAC over the file with the counters zeroed and without the MAC. */
static int
compute_mac(const struct ks_image *img, const struct ks_secrets *sec,
    uint8_t mac[KS_HMAC_SHA256_LEN])
{
	struct kbuf *b = NULL;
	int r;

	if ((b = kbuf_new()) == NULL)
		return KMES_ERR_ALLOC;
	if ((r = encode_body(img, 1, b)) != 0)
		goto out;
	r = ks_hmac_sha256(sec->mk, sizeof(sec->mk), kbuf_ptr(b), kbuf_len(b),
	    mac);
out:
	kbuf_free(b);
	return r;
}

int
ks_image_set_mac(struct ks_image *img, const struct ks_secrets *sec)
{
	return compute_mac(img, sec, img->mac);
}

int
ks_image_check_mac(const struct ks_image *img, const struct ks_secrets *sec)
{
	uint8_t mac[KS_HMAC_SHA256_LEN];
	int r;

	if ((r = compute_mac(img, sec, mac)) != 0)
		return r;
	if (kmes_ct_memcmp(mac, img->mac, sizeof(mac)) != 0)
		return KMES_ERR_STORE_CORRUPT;
	return 0;
}

int
ks_record_copy(const struct ks_record *src, struct ks_record *dst)
{
	memset(dst, 0, sizeof(*dst));
	if ((dst->label = strdup(src->label)) == NULL ||
	    (dst->type = strdup(src->type)) == NULL ||
	    (dst->blob = malloc(src->blob_len)) == NULL ||
	    (dst->sealed = malloc(src->sealed_len)) == NULL ||
	    (src->ckaid != NULL &&
		(dst->ckaid = malloc(src->ckaid_len)) == NULL)) {
		ks_record_clear(dst);
		return KMES_ERR_ALLOC;
	}
	if (src->ckaid != NULL) {
		memcpy(dst->ckaid, src->ckaid, src->ckaid_len);
		dst->ckaid_len = src->ckaid_len;
	}
	memcpy(dst->blob, src->blob, src->blob_len);
	dst->blob_len = src->blob_len;
	memcpy(dst->sealed, src->sealed, src->sealed_len);
	dst->sealed_len = src->sealed_len;
	dst->flags = src->flags;
	dst->created = src->created;
	memcpy(dst->nonce, src->nonce, sizeof(dst->nonce));
	return 0;
}

int
ks_image_dup(const struct ks_image *img, struct ks_image **copyp)
{
	struct ks_image *c = NULL;
	size_t i;
	int r;

	*copyp = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return KMES_ERR_ALLOC;
	*c = *img;
	c->label = NULL;
	c->recs = NULL;
	c->nrecs = 0;
	if ((c->label = strdup(img->label)) == NULL ||
	    (img->nrecs != 0 &&
		(c->recs = calloc(img->nrecs, sizeof(*c->recs))) == NULL)) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	for (i = 0; i < img->nrecs; i++) {
		if ((r = ks_record_copy(&img->recs[i], &c->recs[i])) != 0)
			goto out;
		c->nrecs = i + 1;
	}
	*copyp = c;
	c = NULL;
	r = 0;
out:
	ks_image_free(c);
	return r;
}

long
ks_image_find_ckaid(const struct ks_image *img, const uint8_t *id, size_t len)
{
	size_t i;

	for (i = 0; i < img->nrecs; i++) {
		if (img->recs[i].ckaid_len == len && len != 0 &&
		    memcmp(img->recs[i].ckaid, id, len) == 0)
			return (long)i;
	}
	return -1;
}

long
ks_image_find(const struct ks_image *img, const char *label)
{
	size_t i;

	for (i = 0; i < img->nrecs; i++) {
		if (strcmp(img->recs[i].label, label) == 0)
			return (long)i;
	}
	return -1;
}

int
ks_image_append(struct ks_image *img, struct ks_record *rec)
{
	struct ks_record *n;

	if (img->nrecs >= KS_STORE_MAX_RECORDS)
		return KMES_ERR_NO_BUFFER_SPACE;
	if ((n = reallocarray(img->recs, img->nrecs + 1, sizeof(*n))) == NULL)
		return KMES_ERR_ALLOC;
	img->recs = n;
	img->recs[img->nrecs++] = *rec;
	memset(rec, 0, sizeof(*rec));
	return 0;
}

void
ks_image_remove(struct ks_image *img, size_t i)
{
	if (i >= img->nrecs)
		return;
	ks_record_clear(&img->recs[i]);
	memmove(&img->recs[i], &img->recs[i + 1],
	    (img->nrecs - i - 1) * sizeof(*img->recs));
	img->nrecs--;
}
