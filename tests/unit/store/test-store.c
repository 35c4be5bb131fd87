/*
 * test-store.c: the key store's API: creating and listing without a PIN,
 * logins, the failure counter and lockout, the SO unblock, PIN changes, and
 * keys of every type going in and coming back out able to sign.
 */
#include <sys/stat.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "store-util.h"
#include "store.h"

START_TEST(test_create_open_and_list_need_no_pin)
{
	struct ks_store *s = NULL, *w;
	struct ks_store_entry e;
	struct ks_store_kdf kdf;
	const uint8_t *blob;
	size_t blob_len;
	char *path;
	uint8_t id[KS_STORE_ID_LEN];

	path = su_path(0, "list/keystore");
	su_create(path);
	ck_assert_int_eq(ks_store_open(path, &s), 0);
	ck_assert_str_eq(ks_store_path(s), path);
	ck_assert_str_eq(ks_store_label(s), "test store");
	ck_assert_uint_eq(ks_store_count(s), 0);
	ck_assert_int_eq(ks_store_logged_in(s), 0);
	ck_assert_uint_eq(ks_store_pin_failures(s), 0);
	ck_assert_int_eq(ks_store_pin_blocked(s), 0);
	ks_store_kdf_params(s, &kdf);
	ck_assert_uint_eq(kdf.log2_n, 10);
	ck_assert_uint_eq(kdf.r, 8);
	ck_assert_uint_eq(kdf.p, 1);
	memcpy(id, ks_store_id(s), sizeof(id));

	w = su_open_login(path);
	ck_assert_int_eq(ks_store_add_key(w, "first", su_keys[0],
			     KS_REC_CONFIRM),
	    0);
	ck_assert_int_eq(ks_store_add_key(w, "second", su_keys[1], 0), 0);
	ks_store_free(w);

	/* A fresh handle lists the keys without any PIN. */
	ks_store_free(s);
	ck_assert_int_eq(ks_store_open(path, &s), 0);
	ck_assert_mem_eq(ks_store_id(s), id, sizeof(id));
	ck_assert_uint_eq(ks_store_count(s), 2);
	ck_assert_int_eq(ks_store_find(s, "second"), 1);
	ck_assert_int_eq(ks_store_find(s, "third"), -1);
	ck_assert_int_eq(ks_store_entry(s, 0, &e), 0);
	ck_assert_str_eq(e.label, "first");
	blob = ks_key_blob(su_keys[0], &blob_len);
	ck_assert_uint_eq(e.blob_len, blob_len);
	ck_assert_mem_eq(e.blob, blob, blob_len);
	ck_assert_uint_eq(e.flags, KS_REC_CONFIRM | KS_REC_NEVER_EXTRACTABLE);
	ck_assert_uint_gt(e.created, 1700000000);
	ck_assert_int_eq(ks_store_entry(s, 2, &e), KMES_ERR_INVALID_ARGUMENT);
	ck_assert_ptr_null(e.label);
	ks_store_free(s);
	free(path);
}
END_TEST

START_TEST(test_private_operations_need_a_login)
{
	struct ks_store *s = NULL, *w;
	struct ks_key *k = (struct ks_key *)1;
	long bad = 5;
	char *path;

	path = su_path(0, "nologin");
	su_create(path);
	w = su_open_login(path);
	ck_assert_int_eq(ks_store_add_key(w, "k", su_keys[0], 0), 0);
	ks_store_logout(w);
	ck_assert_int_eq(ks_store_logged_in(w), 0);
	ck_assert_int_eq(ks_store_load_key(w, 0, &k), KMES_ERR_NOT_LOGGED_IN);
	ck_assert_ptr_null(k);
	ks_store_free(w);

	ck_assert_int_eq(ks_store_open(path, &s), 0);
	ck_assert_int_eq(ks_store_add_key(s, "x", su_keys[0], 0),
	    KMES_ERR_NOT_LOGGED_IN);
	ck_assert_int_eq(ks_store_delete_key(s, "k"), KMES_ERR_NOT_LOGGED_IN);
	ck_assert_int_eq(ks_store_set_pin(s, (const uint8_t *)"999999", 6),
	    KMES_ERR_NOT_LOGGED_IN);
	ck_assert_int_eq(ks_store_verify(s, &bad), KMES_ERR_NOT_LOGGED_IN);
	ks_store_free(s);
	free(path);
}
END_TEST

START_TEST(test_create_refuses_to_overwrite_and_bad_arguments)
{
	static const struct ks_store_kdf huge = { 30, 8, 1 };
	struct ks_store *s = NULL;
	char *path;
	uint8_t id[KS_STORE_ID_LEN];

	path = su_path(0, "overwrite");
	su_create(path);
	ck_assert_int_eq(ks_store_open(path, &s), 0);
	memcpy(id, ks_store_id(s), sizeof(id));
	ks_store_free(s);
	ck_assert_int_eq(ks_store_create(path, "again", SU_PIN, SU_PIN_LEN,
			     SU_SO_PIN, SU_SO_PIN_LEN, &su_cheap_kdf),
	    KMES_ERR_EXISTS);
	ck_assert_int_eq(ks_store_open(path, &s), 0);
	ck_assert_mem_eq(ks_store_id(s), id, sizeof(id));
	ks_store_free(s);
	free(path);

	path = su_path(0, "badargs");
	ck_assert_int_eq(ks_store_create(path, "x", SU_PIN, 3, SU_SO_PIN,
			     SU_SO_PIN_LEN, &su_cheap_kdf),
	    KMES_ERR_INVALID_ARGUMENT);
	ck_assert_int_eq(ks_store_create(path, "x", SU_PIN, SU_PIN_LEN,
			     SU_SO_PIN, SU_SO_PIN_LEN, &huge),
	    KMES_ERR_INVALID_ARGUMENT);
	ck_assert_int_eq(ks_store_create(path, "bad\033[2J", SU_PIN, SU_PIN_LEN,
			     SU_SO_PIN, SU_SO_PIN_LEN, &su_cheap_kdf),
	    KMES_ERR_INVALID_ARGUMENT);
	ck_assert_int_eq(ks_store_open(path, &s), KMES_ERR_STORE_NOT_FOUND);
	ck_assert_ptr_null(s);
	free(path);
}
END_TEST

START_TEST(test_login_counts_wrong_pins_and_resets_on_success)
{
	struct ks_store *s = NULL, *o = NULL;
	unsigned int left = 99;
	char *path;

	path = su_path(0, "login");
	su_create(path);
	ck_assert_int_eq(ks_store_open(path, &s), 0);
	ck_assert_int_eq(ks_store_login(s, 0, (const uint8_t *)"654321", 6,
			     &left),
	    KMES_ERR_PIN_INCORRECT);
	ck_assert_uint_eq(left, KS_STORE_MAX_TRIES - 1);
	ck_assert_int_eq(ks_store_logged_in(s), 0);
	ck_assert_uint_eq(ks_store_pin_failures(s), 1);
	/* The count is on disk, for every other process to see. */
	ck_assert_int_eq(ks_store_open(path, &o), 0);
	ck_assert_uint_eq(ks_store_pin_failures(o), 1);
	ks_store_free(o);
	/* The SO PIN is not the user PIN, and vice versa. */
	ck_assert_int_eq(ks_store_login(s, 0, SU_SO_PIN, SU_SO_PIN_LEN, &left),
	    KMES_ERR_PIN_INCORRECT);
	ck_assert_uint_eq(left, KS_STORE_MAX_TRIES - 2);
	ck_assert_int_eq(ks_store_login(s, 1, SU_PIN, SU_PIN_LEN, &left),
	    KMES_ERR_PIN_INCORRECT);
	ck_assert_uint_eq(ks_store_so_pin_failures(s), 1);
	ck_assert_int_eq(ks_store_login(s, 0, SU_PIN, 3, &left),
	    KMES_ERR_INVALID_ARGUMENT);

	ck_assert_int_eq(ks_store_login(s, 0, SU_PIN, SU_PIN_LEN, &left), 0);
	ck_assert_uint_eq(left, KS_STORE_MAX_TRIES);
	ck_assert_int_eq(ks_store_logged_in(s), 1);
	ck_assert_uint_eq(ks_store_pin_failures(s), 0);
	ck_assert_int_eq(ks_store_login(s, 1, SU_SO_PIN, SU_SO_PIN_LEN, NULL),
	    0);
	ck_assert_uint_eq(ks_store_so_pin_failures(s), 0);
	ck_assert_int_eq(ks_store_open(path, &o), 0);
	ck_assert_uint_eq(ks_store_pin_failures(o), 0);
	ks_store_free(o);
	ks_store_free(s);
	free(path);
}
END_TEST

START_TEST(test_user_pin_locks_after_ten_failures_until_so_unblocks)
{
	static const uint8_t newpin[] = "new-pin-2468";
	struct ks_store *s = NULL;
	struct ks_key *k = NULL;
	unsigned int left = 99, i;
	char *path;

	path = su_path(0, "lockout");
	su_create(path);
	s = su_open_login(path);
	ck_assert_int_eq(ks_store_add_key(s, "kept", su_keys[0], 0), 0);
	ks_store_logout(s);
	for (i = 1; i <= KS_STORE_MAX_TRIES; i++) {
		ck_assert_int_eq(ks_store_login(s, 0, (const uint8_t *)"000000",
				     6, &left),
		    KMES_ERR_PIN_INCORRECT);
		ck_assert_uint_eq(left, KS_STORE_MAX_TRIES - i);
	}
	ck_assert_int_eq(ks_store_pin_blocked(s), 1);
	/* Blocked means blocked: the right PIN is refused too. */
	ck_assert_int_eq(ks_store_login(s, 0, SU_PIN, SU_PIN_LEN, &left),
	    KMES_ERR_PIN_LOCKED);
	ck_assert_uint_eq(left, 0);
	ck_assert_int_eq(ks_store_logged_in(s), 0);
	ks_store_free(s);
	/* ...from any process. */
	ck_assert_int_eq(ks_store_open(path, &s), 0);
	ck_assert_int_eq(ks_store_pin_blocked(s), 1);
	ck_assert_int_eq(ks_store_login(s, 0, SU_PIN, SU_PIN_LEN, NULL),
	    KMES_ERR_PIN_LOCKED);

	/* The SO logs in and sets a new user PIN: unblocked. */
	ck_assert_int_eq(ks_store_login(s, 1, SU_SO_PIN, SU_SO_PIN_LEN, &left),
	    0);
	ck_assert_uint_eq(left, 0);
	ck_assert_int_eq(ks_store_set_pin(s, newpin, sizeof(newpin) - 1), 0);
	ck_assert_int_eq(ks_store_pin_blocked(s), 0);
	ks_store_free(s);
	ck_assert_int_eq(ks_store_open(path, &s), 0);
	ck_assert_int_eq(ks_store_pin_blocked(s), 0);
	ck_assert_int_eq(ks_store_login(s, 0, SU_PIN, SU_PIN_LEN, &left),
	    KMES_ERR_PIN_INCORRECT);
	ck_assert_int_eq(ks_store_login(s, 0, newpin, sizeof(newpin) - 1,
			     &left),
	    0);
	ck_assert_uint_eq(left, KS_STORE_MAX_TRIES);
	ck_assert_int_eq(ks_store_load_key(s, 0, &k), 0);
	su_sign_verify(k, su_keys[0]);
	ks_key_free(k);
	ks_store_free(s);
	free(path);
}
END_TEST

START_TEST(test_so_pin_locks_after_ten_failures)
{
	struct ks_store *s = NULL;
	unsigned int i;
	char *path;

	path = su_path(0, "so-lockout");
	su_create(path);
	ck_assert_int_eq(ks_store_open(path, &s), 0);
	for (i = 0; i < KS_STORE_MAX_TRIES; i++)
		ck_assert_int_eq(ks_store_login(s, 1, (const uint8_t *)"guess",
				     5, NULL),
		    KMES_ERR_PIN_INCORRECT);
	ck_assert_int_eq(ks_store_login(s, 1, SU_SO_PIN, SU_SO_PIN_LEN, NULL),
	    KMES_ERR_PIN_LOCKED);
	/* The user PIN is unaffected. */
	ck_assert_int_eq(ks_store_login(s, 0, SU_PIN, SU_PIN_LEN, NULL), 0);
	ks_store_free(s);
	free(path);
}
END_TEST

START_TEST(test_set_pin_retires_old_pin_and_keeps_keys)
{
	static const uint8_t newpin[] = "correct horse battery";
	struct ks_store *s;
	struct ks_key *k = NULL;
	char *path;

	path = su_path(0, "setpin");
	su_create(path);
	s = su_open_login(path);
	ck_assert_int_eq(ks_store_add_key(s, "a", su_keys[0], 0), 0);
	ck_assert_int_eq(ks_store_add_key(s, "b", su_keys[4], 0), 0);
	ck_assert_int_eq(ks_store_set_pin(s, newpin, 3),
	    KMES_ERR_INVALID_ARGUMENT);
	ck_assert_int_eq(ks_store_set_pin(s, newpin, sizeof(newpin) - 1), 0);
	/* Still logged in: the data key did not change. */
	ck_assert_int_eq(ks_store_load_key(s, 1, &k), 0);
	ks_key_free(k);
	k = NULL;
	ks_store_logout(s);
	ck_assert_int_eq(ks_store_login(s, 0, SU_PIN, SU_PIN_LEN, NULL),
	    KMES_ERR_PIN_INCORRECT);
	ck_assert_int_eq(ks_store_login(s, 0, newpin, sizeof(newpin) - 1, NULL),
	    0);
	ck_assert_int_eq(ks_store_verify(s, NULL), 0);
	ck_assert_int_eq(ks_store_load_key(s, 0, &k), 0);
	su_sign_verify(k, su_keys[0]);
	ks_key_free(k);
	ck_assert_int_eq(ks_store_load_key(s, 1, &k), 0);
	su_sign_verify(k, su_keys[4]);
	ks_key_free(k);
	ks_store_free(s);
	free(path);
}
END_TEST

START_TEST(test_each_key_type_round_trips_and_signs)
{
	const struct su_gen *g = &su_gens[_i];
	struct ks_store *s;
	struct ks_key *k = NULL;
	struct ks_store_entry e;
	long bad = 7;
	char *path;

	path = su_path(0, "types-%s", g->name);
	su_create(path);
	s = su_open_login(path);
	ck_assert_int_eq(ks_store_add_key(s, g->name, su_keys[_i],
			     KS_REC_GENERATED),
	    0);
	ck_assert_int_eq(ks_store_add_key(s, "other", su_keys[0], 0), 0);
	ks_store_free(s);

	s = su_open_login(path);
	ck_assert_int_eq(ks_store_verify(s, &bad), 0);
	ck_assert_int_eq(bad, -1);
	ck_assert_int_eq(ks_store_find(s, g->name), 0);
	ck_assert_int_eq(ks_store_entry(s, 0, &e), 0);
	ck_assert_uint_eq(e.flags, KS_REC_GENERATED | KS_REC_NEVER_EXTRACTABLE);
	ck_assert_int_eq(ks_store_load_key(s, 0, &k), 0);
	ck_assert_int_eq(ks_key_has_private(k), 1);
	ck_assert_int_eq(ks_key_type(k), g->type);
	ck_assert_int_eq(ks_key_equal_public(k, su_keys[_i]), 1);
	su_sign_verify(k, su_keys[_i]);
	su_sign_verify(su_keys[_i], k);
	ks_key_free(k);
	k = NULL;
	ck_assert_int_eq(ks_store_load_key(s, 2, &k),
	    KMES_ERR_INVALID_ARGUMENT);

	ck_assert_int_eq(ks_store_delete_key(s, g->name), 0);
	ck_assert_int_eq(ks_store_delete_key(s, g->name),
	    KMES_ERR_KEY_NOT_FOUND);
	ck_assert_uint_eq(ks_store_count(s), 1);
	ks_store_free(s);
	s = su_open_login(path);
	ck_assert_uint_eq(ks_store_count(s), 1);
	ck_assert_int_eq(ks_store_find(s, g->name), -1);
	ck_assert_int_eq(ks_store_find(s, "other"), 0);
	ck_assert_int_eq(ks_store_verify(s, NULL), 0);
	ks_store_free(s);
	free(path);
}
END_TEST

START_TEST(test_duplicate_and_bad_labels_are_refused)
{
	struct ks_store *s, *t;
	struct ks_key *pub = NULL;
	const uint8_t *blob;
	size_t blob_len;
	char *path, longlabel[KS_STORE_LABEL_MAX + 2];

	path = su_path(0, "labels");
	su_create(path);
	s = su_open_login(path);
	t = su_open_login(path);
	ck_assert_int_eq(ks_store_add_key(s, "same", su_keys[0], 0), 0);
	ck_assert_int_eq(ks_store_add_key(s, "same", su_keys[1], 0),
	    KMES_ERR_EXISTS);
	/* t has not seen the add; the check under the lock still does. */
	ck_assert_int_eq(ks_store_add_key(t, "same", su_keys[2], 0),
	    KMES_ERR_EXISTS);
	ck_assert_int_eq(ks_store_add_key(s, "", su_keys[0], 0),
	    KMES_ERR_INVALID_ARGUMENT);
	ck_assert_int_eq(ks_store_add_key(s, "tab\there", su_keys[0], 0),
	    KMES_ERR_INVALID_ARGUMENT);
	memset(longlabel, 'x', sizeof(longlabel) - 1);
	longlabel[sizeof(longlabel) - 1] = '\0';
	ck_assert_int_eq(ks_store_add_key(s, longlabel, su_keys[0], 0),
	    KMES_ERR_INVALID_ARGUMENT);
	longlabel[KS_STORE_LABEL_MAX] = '\0';
	ck_assert_int_eq(ks_store_add_key(s, longlabel, su_keys[0], 0), 0);
	ck_assert_int_eq(ks_store_add_key(s, "flags", su_keys[0], 0x80),
	    KMES_ERR_INVALID_ARGUMENT);
	/* A public key alone cannot be stored. */
	blob = ks_key_blob(su_keys[0], &blob_len);
	ck_assert_int_eq(ks_key_from_blob(blob, blob_len, &pub), 0);
	ck_assert_int_eq(ks_store_add_key(s, "public", pub, 0),
	    KMES_ERR_INVALID_ARGUMENT);
	ks_key_free(pub);
	ks_store_free(t);
	ks_store_free(s);
	s = su_open_login(path);
	ck_assert_uint_eq(ks_store_count(s), 2);
	ks_store_free(s);
	free(path);
}
END_TEST

START_TEST(test_default_path_follows_environment)
{
	char *p;

	ck_assert_int_eq(setenv("KMES_STORE", "/x/store", 1), 0);
	ck_assert_ptr_nonnull(p = ks_store_default_path());
	ck_assert_str_eq(p, "/x/store");
	free(p);
	ck_assert_int_eq(unsetenv("KMES_STORE"), 0);
	ck_assert_int_eq(setenv("XDG_DATA_HOME", "/xdg", 1), 0);
	ck_assert_ptr_nonnull(p = ks_store_default_path());
	ck_assert_str_eq(p, "/xdg/kmes/keystore");
	free(p);
	/* A relative XDG_DATA_HOME is ignored, as the spec says. */
	ck_assert_int_eq(setenv("XDG_DATA_HOME", "rel", 1), 0);
	ck_assert_int_eq(setenv("HOME", "/home/u", 1), 0);
	ck_assert_ptr_nonnull(p = ks_store_default_path());
	ck_assert_str_eq(p, "/home/u/.local/share/kmes/keystore");
	free(p);
}
END_TEST

START_TEST(test_store_is_0600_in_a_0700_directory_whatever_the_umask)
{
	struct stat st;
	mode_t old;
	char *dir, *path;

	dir = su_path(0, "modes/a/b");
	path = su_path(0, "modes/a/b/keystore");
	old = umask(0);
	su_create(path);
	umask(old);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0700);
	free(dir);
	free(path);
}
END_TEST

START_TEST(test_group_writable_directory_is_refused)
{
	char *dir, *path;

	dir = su_path(0, "shared");
	path = su_path(0, "shared/keystore");
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_eq(chmod(dir, 0770), 0);
	ck_assert_int_eq(ks_store_create(path, "x", SU_PIN, SU_PIN_LEN,
			     SU_SO_PIN, SU_SO_PIN_LEN, &su_cheap_kdf),
	    KMES_ERR_DENIED);
	ck_assert_int_eq(access(path, F_OK), -1);
	free(dir);
	free(path);
}
END_TEST

static Suite *
store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc;

	tc = tcase_create("api");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_create_open_and_list_need_no_pin);
	tcase_add_test(tc, test_private_operations_need_a_login);
	tcase_add_test(tc, test_create_refuses_to_overwrite_and_bad_arguments);
	tcase_add_test(tc, test_default_path_follows_environment);
	tcase_add_test(tc,
	    test_store_is_0600_in_a_0700_directory_whatever_the_umask);
	tcase_add_test(tc, test_group_writable_directory_is_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("pins");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_login_counts_wrong_pins_and_resets_on_success);
	tcase_add_test(tc,
	    test_user_pin_locks_after_ten_failures_until_so_unblocks);
	tcase_add_test(tc, test_so_pin_locks_after_ten_failures);
	tcase_add_test(tc, test_set_pin_retires_old_pin_and_keeps_keys);
	suite_add_tcase(s, tc);

	tc = tcase_create("keys");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, test_each_key_type_round_trips_and_signs, 0,
	    SU_NGEN);
	tcase_add_test(tc, test_duplicate_and_bad_labels_are_refused);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return su_run(store_suite());
}
