/*
 * fuzz-store.c: the key store file (kmes-keystore(5)) as ks_store_open and
 * every refresh read it: ks_image_parse, in memory, on the whole file.
 *
 * A parsed image must be what the format allows and must encode back to
 * the very bytes it came from (the MAC is computed over the re-encoding,
 * so a second encoding of one image would be a second valid file); a
 * format 1 or 2 file encodes as format 3, which must parse back to the
 * same image. Its public blobs go through ks_key_from_blob as the agent and
 * kmes-keytool would. The salvage parser (kmes-keytool recover) reads
 * every input too, and agrees with the strict one where that succeeds.
 *
 * The seed stores were made by tests/fuzz/gen-corpus.sh with FUZZ_PIN and
 * the cheapest scrypt cost. For such an image the harness also logs in
 * (ks_wrap_open), checks the whole-store MAC and opens every record, so
 * decryption, the record checks and ks_key_parse_private on a store's
 * plaintext run too. scrypt is the slow part and its answer depends only
 * on the header, so it is remembered for the last header seen: mutants of
 * a seed that keep its header cost no KDF at all.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "fuzz-common.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "secmem.h"
#include "store-int.h"

#define FUZZ_PIN "fuzz-pin-1234"

/* Everything ks_wrap_open reads for the user role. */
struct wrap_input {
	uint8_t id[KS_STORE_ID_LEN];
	uint32_t log2_n, r, p;
	struct ks_wrap wrap;
};

static struct {
	int valid;
	struct wrap_input in;
	int r;
	struct ks_secrets *sec; /* kmes_secure_alloc, set up once */
} login_cache;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init_crypto();
	login_cache.sec = kmes_secure_alloc(sizeof(*login_cache.sec));
	FUZZ_CHECK(login_cache.sec != NULL);
	return 0;
}

static void
check_record(const struct ks_image *img, size_t i)
{
	const struct ks_record *rec = &img->recs[i];
	struct kbuf *b = NULL;
	struct ks_key *k = NULL;
	const uint8_t *t;
	size_t tlen;
	int r;

	FUZZ_CHECK(rec->label != NULL && rec->type != NULL);
	FUZZ_CHECK(ks_label_valid(rec->label, strlen(rec->label), 1));
	FUZZ_CHECK(
	    strlen(rec->type) >= 1 && strlen(rec->type) <= KS_STORE_TYPE_MAX);
	FUZZ_CHECK(ks_image_find(img, rec->label) == (long)i);
	FUZZ_CHECK(rec->blob != NULL && rec->blob_len >= 1 &&
	    rec->blob_len <= KS_STORE_BLOB_MAX);
	FUZZ_CHECK(rec->sealed != NULL && rec->sealed_len > KS_AEAD_TAG_LEN &&
	    rec->sealed_len <= KS_STORE_PRIV_MAX + KS_AEAD_TAG_LEN);
	FUZZ_CHECK((rec->flags &
		       ~(uint32_t)(KS_REC_CONFIRM | KS_REC_GENERATED |
			   KS_REC_NEVER_EXTRACTABLE)) == 0);
	FUZZ_CHECK((rec->flags & KS_REC_NEVER_EXTRACTABLE) != 0);
	/* A CKA_ID only from format 3 on, bounded, and unique. */
	FUZZ_CHECK((rec->ckaid == NULL) == (rec->ckaid_len == 0));
	FUZZ_CHECK(rec->ckaid_len <= KS_STORE_CKAID_MAX);
	FUZZ_CHECK(rec->ckaid == NULL || img->version == KS_STORE_VERSION);
	FUZZ_CHECK(rec->ckaid == NULL ||
	    ks_image_find_ckaid(img, rec->ckaid, rec->ckaid_len) == (long)i);
	/* The blob starts with the type the record names. */
	FUZZ_CHECK((b = kbuf_from(rec->blob, rec->blob_len)) != NULL);
	FUZZ_CHECK(kbuf_get_string_direct(b, &t, &tlen) == 0);
	FUZZ_CHECK(
	    tlen == strlen(rec->type) && memcmp(t, rec->type, tlen) == 0);
	kbuf_free(b);

	r = ks_key_from_blob(rec->blob, rec->blob_len, &k);
	FUZZ_CHECK_CODE(r);
	if (r == 0) {
		FUZZ_CHECK(strcmp(ks_key_type_name(k), rec->type) == 0);
		fuzz_check_public_key(k, rec->blob, rec->blob_len);
	}
	ks_key_free(k);
}

static void
check_image(const struct ks_image *img)
{
	size_t i;

	FUZZ_CHECK(img->version == KS_STORE_VERSION ||
	    img->version == KS_STORE_VERSION_2 ||
	    img->version == KS_STORE_VERSION_1);
	FUZZ_CHECK(img->failures[KS_ROLE_USER] +
		ks_image_inflight(img, KS_ROLE_USER) <=
	    KS_STORE_MAX_TRIES);
	FUZZ_CHECK(
	    img->failures[KS_ROLE_SO] + ks_image_inflight(img, KS_ROLE_SO) <=
	    KS_STORE_MAX_TRIES);
	FUZZ_CHECK(img->version != KS_STORE_VERSION_1 || img->inflight == 0);
	FUZZ_CHECK(ks_kdf_valid(&img->kdf));
	FUZZ_CHECK(img->label != NULL &&
	    ks_label_valid(img->label, strlen(img->label), 0));
	FUZZ_CHECK(img->nrecs <= KS_STORE_MAX_RECORDS);
	FUZZ_CHECK((img->recs == NULL) == (img->nrecs == 0));
	for (i = 0; i < img->nrecs; i++)
		check_record(img, i);
}

/*
 * Checks that img encodes to exactly the len bytes at data; a format 1 or
 * 2 image encodes as format 3, which must parse strictly and encode to the
 * same bytes again.
 */
static void
check_encoding(const struct ks_image *img, const uint8_t *data, size_t len)
{
	struct kbuf *b = NULL, *b2 = NULL;
	struct ks_image *v3 = NULL;

	FUZZ_CHECK((b = kbuf_new()) != NULL);
	FUZZ_CHECK(ks_image_encode(img, b) == 0);
	if (img->version == KS_STORE_VERSION) {
		FUZZ_CHECK(kbuf_equal_bytes(b, data, len));
		kbuf_free(b);
		return;
	}
	FUZZ_CHECK(ks_image_parse(b, &v3) == 0);
	FUZZ_CHECK(v3->version == KS_STORE_VERSION && v3->nrecs == img->nrecs &&
	    v3->inflight == img->inflight &&
	    memcmp(v3->mac, img->mac, sizeof(v3->mac)) == 0);
	FUZZ_CHECK((b2 = kbuf_new()) != NULL);
	FUZZ_CHECK(ks_image_encode(v3, b2) == 0);
	FUZZ_CHECK(kbuf_equal_bytes(b2, kbuf_ptr(b), kbuf_len(b)));
	ks_image_free(v3);
	kbuf_free(b2);
	kbuf_free(b);
}

/* The salvage parser never fails where the strict one succeeds. */
static void
check_salvage(const struct kbuf *file, const struct ks_image *strict)
{
	struct ks_image *img = NULL;
	size_t claimed = 0, i;
	int r;

	r = ks_image_parse_salvage(file, &img, &claimed);
	if (r != 0) {
		FUZZ_CHECK(r == KMES_ERR_STORE_CORRUPT || r == KMES_ERR_ALLOC);
		FUZZ_CHECK(img == NULL && strict == NULL);
		return;
	}
	FUZZ_CHECK(img != NULL && img->nrecs <= claimed &&
	    claimed <= KS_STORE_MAX_RECORDS);
	for (i = 0; i < img->nrecs; i++)
		check_record(img, i);
	if (strict != NULL)
		FUZZ_CHECK(
		    img->nrecs == strict->nrecs && claimed == strict->nrecs);
	ks_image_free(img);
}

static int
kdf_is_cheap(const struct ks_store_kdf *kdf)
{
	return kdf->log2_n == KS_SCRYPT_LOG2_N_MIN && kdf->r <= 8 &&
	    kdf->p == 1;
}

/* Unwraps the data key with FUZZ_PIN, remembering the last answer. */
static int
login(const struct ks_image *img, struct ks_secrets *sec)
{
	struct wrap_input in;

	memset(&in, 0, sizeof(in));
	memcpy(in.id, img->id, sizeof(in.id));
	in.log2_n = img->kdf.log2_n;
	in.r = img->kdf.r;
	in.p = img->kdf.p;
	in.wrap = img->wrap[KS_ROLE_USER];
	if (!login_cache.valid ||
	    memcmp(&in, &login_cache.in, sizeof(in)) != 0) {
		login_cache.valid = 0;
		login_cache.r = ks_wrap_open(img, KS_ROLE_USER,
		    (const uint8_t *)FUZZ_PIN, strlen(FUZZ_PIN),
		    login_cache.sec->dk);
		FUZZ_CHECK_CODE(login_cache.r);
		if (login_cache.r == 0)
			FUZZ_CHECK(ks_secrets_derive(login_cache.sec) == 0);
		login_cache.in = in;
		login_cache.valid = 1;
	}
	if (login_cache.r != 0)
		return login_cache.r;
	memcpy(sec, login_cache.sec, sizeof(*sec));
	return 0;
}

/* With the data key: the MAC, and every record opened. */
static void
check_with_key(const struct ks_image *img)
{
	struct ks_secrets *sec = NULL;
	struct ks_image *copy = NULL;
	struct ks_key *k = NULL;
	const uint8_t *blob;
	size_t i, blen;
	int r;

	if (!kdf_is_cheap(&img->kdf))
		return;
	FUZZ_CHECK((sec = kmes_secure_alloc(sizeof(*sec))) != NULL);
	if (login(img, sec) != 0)
		goto out;
	r = ks_image_check_mac(img, sec);
	FUZZ_CHECK(r == 0 || r == KMES_ERR_STORE_CORRUPT);
	for (i = 0; i < img->nrecs; i++) {
		r = ks_record_open(img, sec, i, &k);
		FUZZ_CHECK(r == 0 || r == KMES_ERR_STORE_CORRUPT);
		if (r != 0) {
			FUZZ_CHECK(k == NULL);
			continue;
		}
		/* An authentic record holds the key its clear fields name. */
		blob = ks_key_blob(k, &blen);
		FUZZ_CHECK(blen == img->recs[i].blob_len &&
		    memcmp(blob, img->recs[i].blob, blen) == 0);
		FUZZ_CHECK(strcmp(ks_key_type_name(k), img->recs[i].type) == 0);
		fuzz_check_private_key(k);
		ks_key_free(k);
		k = NULL;
	}
	FUZZ_CHECK(ks_record_open(img, sec, img->nrecs, &k) ==
		KMES_ERR_INVALID_ARGUMENT &&
	    k == NULL);
	/* A MAC set under the key is one that checks. */
	FUZZ_CHECK(ks_image_dup(img, &copy) == 0);
	FUZZ_CHECK(ks_image_set_mac(copy, sec) == 0);
	FUZZ_CHECK(ks_image_check_mac(copy, sec) == 0);
	ks_image_free(copy);
out:
	kmes_secure_free(sec);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kbuf *file = NULL;
	struct ks_image *img = NULL, *copy = NULL;
	int r;

	fuzz_begin();
	FUZZ_CHECK((file = kbuf_from(data, size)) != NULL);
	img = (struct ks_image *)&img; /* must be cleared on entry */
	r = ks_image_parse(file, &img);
	FUZZ_CHECK(kbuf_len(file) == size);
	if (r != 0) {
		FUZZ_CHECK(r == KMES_ERR_STORE_CORRUPT || r == KMES_ERR_ALLOC);
		FUZZ_CHECK(img == NULL);
		if (r == KMES_ERR_STORE_CORRUPT)
			check_salvage(file, NULL);
		goto out;
	}
	FUZZ_CHECK(img != NULL);
	check_salvage(file, img);
	check_image(img);
	check_encoding(img, data, size);

	FUZZ_CHECK(ks_image_dup(img, &copy) == 0);
	check_encoding(copy, data, size);
	if (copy->nrecs != 0) {
		ks_image_remove(copy, copy->nrecs - 1);
		FUZZ_CHECK(
		    ks_image_find(copy, img->recs[img->nrecs - 1].label) == -1);
	}
	ks_image_free(copy);

	check_with_key(img);
out:
	ks_image_free(img);
	kbuf_free(file);
	fuzz_end();
	return 0;
}
