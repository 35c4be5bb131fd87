/*
 * test-store-ckaid.c: a record's optional PKCS#11 CKA_ID (format 3): kept
 * across opens, unique, changeable with the label while staying
 * authentic, covered by the MAC, and format 1 and 2 files still read.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "kmes-err.h"
#include "store-int.h"
#include "store-util.h"
#include "store.h"

/* The seed stores of tests/fuzz/gen-corpus.sh were made with this PIN. */
#define SEED_PIN ((const uint8_t *)"fuzz-pin-1234")
#define SEED_PIN_LEN 13

static const uint8_t id5[] = { 0x01, 0x02, 0x03, 0x04, 0x05 };
static const uint8_t id_mark[] = "ckaid-tamper-me!";

/* Record i has exactly the CKA_ID (len 0: none) in a fresh open. */
static void
assert_ckaid(const char *path, const char *label, const uint8_t *id, size_t len)
{
	struct ks_store *s = NULL;
	struct ks_store_entry e;
	long i;

	ck_assert_int_eq(ks_store_open(path, &s), 0);
	ck_assert_int_ge(i = ks_store_find(s, label), 0);
	ck_assert_int_eq(ks_store_entry(s, (size_t)i, &e), 0);
	ck_assert_uint_eq(e.ckaid_len, len);
	if (len == 0) {
		ck_assert_ptr_null(e.ckaid);
	} else {
		ck_assert_mem_eq(e.ckaid, id, len);
		ck_assert_int_eq(ks_store_find_ckaid(s, id, len), i);
	}
	ks_store_free(s);
}

/* Every record opens, signs as its public key says, and the MAC holds. */
static void
assert_intact(struct ks_store *s)
{
	struct ks_key *k = NULL, *pub = NULL;
	struct ks_store_entry e;
	long bad = 0;
	size_t i;

	ck_assert_int_eq(ks_store_verify(s, &bad), 0);
	for (i = 0; i < ks_store_count(s); i++) {
		ck_assert_int_eq(ks_store_entry(s, i, &e), 0);
		ck_assert_int_eq(ks_store_load_key(s, i, &k), 0);
		ck_assert_int_eq(ks_key_from_blob(e.blob, e.blob_len, &pub), 0);
		su_sign_verify(k, pub);
		ks_key_free(k);
		ks_key_free(pub);
		k = pub = NULL;
	}
}

START_TEST(test_ckaid_is_kept_across_opens_and_unkeyed_records_have_none)
{
	struct ks_store *s;
	char *path;

	path = su_path(0, "keep/keystore");
	su_create(path);
	s = su_open_login(path);
	ck_assert_int_eq(ks_store_add_key_id(s, "with id", su_keys[0], 0, id5,
			     sizeof(id5)),
	    0);
	ck_assert_int_eq(ks_store_add_key(s, "without", su_keys[1], 0), 0);
	ck_assert_int_eq(ks_store_find_ckaid(s, id5, sizeof(id5)), 0);
	ck_assert_int_eq(ks_store_find_ckaid(s, id5, 4), -1);
	ks_store_free(s);

	assert_ckaid(path, "with id", id5, sizeof(id5));
	assert_ckaid(path, "without", NULL, 0);
	/* The ID is in the sealed record's AAD: the key still opens. */
	s = su_open_login(path);
	assert_intact(s);
	ks_store_free(s);
	free(path);
}
END_TEST

START_TEST(test_duplicate_or_oversized_ckaid_is_refused)
{
	uint8_t big[KS_STORE_CKAID_MAX + 1];
	struct ks_store *s;
	char *path;

	memset(big, 0x42, sizeof(big));
	path = su_path(0, "dup/keystore");
	su_create(path);
	s = su_open_login(path);
	ck_assert_int_eq(ks_store_add_key_id(s, "a", su_keys[0], 0, id5,
			     sizeof(id5)),
	    0);
	/* Two keys with one ID: a consumer would pair the wrong one. */
	ck_assert_int_eq(ks_store_add_key_id(s, "b", su_keys[1], 0, id5,
			     sizeof(id5)),
	    KMES_ERR_EXISTS);
	ck_assert_int_eq(ks_store_add_key_id(s, "b", su_keys[1], 0, big,
			     sizeof(big)),
	    KMES_ERR_INVALID_ARGUMENT);
	ck_assert_int_eq(ks_store_add_key_id(s, "b", su_keys[1], 0, NULL, 3),
	    KMES_ERR_INVALID_ARGUMENT);
	ck_assert_int_eq(ks_store_add_key_id(s, "b", su_keys[1], 0, big,
			     KS_STORE_CKAID_MAX),
	    0);
	ck_assert_uint_eq(ks_store_count(s), 2);
	ks_store_free(s);
	assert_ckaid(path, "b", big, KS_STORE_CKAID_MAX);
	free(path);
}
END_TEST

START_TEST(test_set_meta_persists_a_new_id_and_label_that_still_open)
{
	struct ks_store *s;
	char *path;

	path = su_path(0, "meta/keystore");
	su_create(path);
	s = su_open_login(path);
	ck_assert_int_eq(ks_store_add_key(s, "old", su_keys[0], 0), 0);
	ck_assert_int_eq(ks_store_add_key_id(s, "other", su_keys[1], 0, id5,
			     sizeof(id5)),
	    0);
	ck_assert_int_eq(ks_store_set_meta(s, "old", NULL, id_mark,
			     sizeof(id_mark)),
	    0);
	ck_assert_int_eq(ks_store_set_meta(s, "old", "new", NULL, 0), 0);
	/* The other key's ID or label is not free to take. */
	ck_assert_int_eq(ks_store_set_meta(s, "new", NULL, id5, sizeof(id5)),
	    KMES_ERR_EXISTS);
	ck_assert_int_eq(ks_store_set_meta(s, "new", "other", NULL, 0),
	    KMES_ERR_EXISTS);
	ck_assert_int_eq(ks_store_set_meta(s, "gone", "x", NULL, 0),
	    KMES_ERR_KEY_NOT_FOUND);
	ck_assert_int_eq(ks_store_set_meta(s, "new", "bad\n", NULL, 0),
	    KMES_ERR_INVALID_ARGUMENT);
	ks_store_logout(s);
	ck_assert_int_eq(ks_store_set_meta(s, "new", NULL, id5, 1),
	    KMES_ERR_NOT_LOGGED_IN);
	ks_store_free(s);

	assert_ckaid(path, "new", id_mark, sizeof(id_mark));
	assert_ckaid(path, "other", id5, sizeof(id5));
	s = su_open_login(path);
	ck_assert_int_eq(ks_store_find(s, "old"), -1);
	assert_intact(s);
	ks_store_free(s);
	free(path);
}
END_TEST

START_TEST(test_edited_ckaid_fails_the_mac)
{
	struct ks_store *s = NULL;
	uint8_t *file, *at;
	size_t len;
	char *path;

	path = su_path(0, "tamper/keystore");
	su_create(path);
	s = su_open_login(path);
	ck_assert_int_eq(ks_store_add_key_id(s, "k", su_keys[0], 0, id_mark,
			     sizeof(id_mark)),
	    0);
	ks_store_free(s);
	file = su_read(path, &len);
	ck_assert_ptr_nonnull(at = memmem(file, len, id_mark, sizeof(id_mark)));
	/* Someone who can write the file gives the key another ID. */
	at[0] ^= 0x01;
	ck_assert_int_eq(ks_file_seal_checksum(file, len), 0);
	su_write(path, file, len);
	s = NULL;
	ck_assert_int_eq(ks_store_open(path, &s), 0);
	ck_assert_int_eq(ks_store_login(s, 0, SU_PIN, SU_PIN_LEN, NULL),
	    KMES_ERR_STORE_CORRUPT);
	ks_store_free(s);
	free(file);
	free(path);
}
END_TEST

/*
 * PATH.1 still has key "old" with an ID that, since, was moved with a
 * rename to "new", and PATH's "old" (another key) is damaged: recovery
 * restores the backup's "old" but must not give it "new"'s ID.
 */
START_TEST(test_recover_never_makes_two_keys_share_an_id)
{
	struct ks_recover_stats st;
	struct ks_store *s;
	uint8_t *before, *file;
	size_t blen, len;
	char *path, *backup, *out;

	path = su_path(0, "rec/keystore");
	out = su_path(0, "rec/recovered");
	su_create(path);
	s = su_open_login(path);
	ck_assert_int_eq(ks_store_add_key_id(s, "old", su_keys[0], 0, id5,
			     sizeof(id5)),
	    0);
	before = su_read(path, &blen);
	ck_assert_int_eq(ks_store_set_meta(s, "old", "new", NULL, 0), 0);
	ck_assert_int_eq(ks_store_add_key(s, "old", su_keys[1], 0), 0);
	ks_store_free(s);
	ck_assert_int_ge(asprintf(&backup, "%s.1", path), 0);
	su_write(backup, before, blen);
	/* The last record's tag ends before the MAC and the checksum. */
	file = su_read(path, &len);
	file[len - 2 * KS_HMAC_SHA256_LEN - 1] ^= 0x01;
	ck_assert_int_eq(ks_file_seal_checksum(file, len), 0);
	su_write(path, file, len);

	ck_assert_int_eq(ks_store_recover(path, SU_PIN, SU_PIN_LEN, out, NULL,
			     NULL, &st),
	    0);
	ck_assert_uint_eq(st.kept, 1);
	ck_assert_uint_eq(st.restored, 1);
	assert_ckaid(out, "new", id5, sizeof(id5));
	assert_ckaid(out, "old", NULL, 0);
	s = su_open_login(out);
	assert_intact(s);
	ks_store_free(s);
	free(before);
	free(file);
	free(backup);
	free(out);
	free(path);
}
END_TEST

/* The seeds kept in tests/fuzz/corpus/fuzz-store, by format version. */
static const char *const old_seeds[] = { "v1-two", "v2-two" };

START_TEST(test_format_1_and_2_stores_read_and_take_an_id)
{
	const char *dir = getenv("KMES_STORE_SEEDS");
	struct ks_store *s = NULL;
	uint8_t *file;
	size_t len;
	char *path, *src;

	ck_assert_ptr_nonnull(dir);
	ck_assert_int_ge(asprintf(&src, "%s/%s", dir, old_seeds[_i]), 0);
	path = su_path(0, "old-%d-keystore", _i);
	file = su_read(src, &len);
	ck_assert_uint_eq(file[11], (unsigned int)_i + 1);
	su_write(path, file, len);
	free(file);

	ck_assert_int_eq(ks_store_open(path, &s), 0);
	ck_assert_uint_eq(ks_store_count(s), 2);
	ck_assert_int_eq(ks_store_login(s, 0, SEED_PIN, SEED_PIN_LEN, NULL), 0);
	assert_intact(s);
	ck_assert_int_eq(ks_store_set_meta(s, "ed25519 key", NULL, id5,
			     sizeof(id5)),
	    0);
	ks_store_free(s);

	file = su_read(path, &len);
	ck_assert_uint_eq(file[11], KS_STORE_VERSION);
	free(file);
	assert_ckaid(path, "ed25519 key", id5, sizeof(id5));
	assert_ckaid(path, "ecdsa key", NULL, 0);
	s = NULL;
	ck_assert_int_eq(ks_store_open(path, &s), 0);
	ck_assert_int_eq(ks_store_login(s, 0, SEED_PIN, SEED_PIN_LEN, NULL), 0);
	assert_intact(s);
	ks_store_free(s);
	free(src);
	free(path);
}
END_TEST

static Suite *
ckaid_suite(void)
{
	Suite *s = suite_create("store-ckaid");
	TCase *tc;

	tc = tcase_create("ckaid");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc,
	    test_ckaid_is_kept_across_opens_and_unkeyed_records_have_none);
	tcase_add_test(tc, test_duplicate_or_oversized_ckaid_is_refused);
	tcase_add_test(tc,
	    test_set_meta_persists_a_new_id_and_label_that_still_open);
	tcase_add_test(tc, test_edited_ckaid_fails_the_mac);
	tcase_add_test(tc, test_recover_never_makes_two_keys_share_an_id);
	tcase_add_loop_test(tc, test_format_1_and_2_stores_read_and_take_an_id,
	    0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return su_run(ckaid_suite());
}
