/*
 * test-store-damage.c: a damaged store file is not a wrong PIN, one bad
 * bit does not lose every key (recover, the backup PATH.1), the counter
 * reset never installs an unverified file, and right PINs at once never
 * block the store while wrong ones still cannot overshoot the limit.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "store-int.h"
#include "store-util.h"
#include "store.h"

#define NKEYS 3
static const char *const labels[NKEYS] = { "k-ed25519", "k-p256", "k-p384" };

/* A store holding su_keys[0..2] under labels[]. */
static char *
three_key_store(const char *name, const struct ks_store_kdf *kdf)
{
	struct ks_store *s = NULL;
	char *path;
	int i;

	path = su_path(1, "%s", name);
	ck_assert_int_eq(ks_store_create(path, "damage", SU_PIN, SU_PIN_LEN,
			     SU_SO_PIN, SU_SO_PIN_LEN,
			     kdf != NULL ? kdf : &su_cheap_kdf),
	    0);
	ck_assert_int_eq(ks_store_open(path, &s), 0);
	ck_assert_int_eq(ks_store_login(s, 0, SU_PIN, SU_PIN_LEN, NULL), 0);
	for (i = 0; i < NKEYS; i++)
		ck_assert_int_eq(ks_store_add_key(s, labels[i], su_keys[i], 0),
		    0);
	ks_store_free(s);
	return path;
}

static char *
backup_of(const char *path)
{
	char *b;

	ck_assert_int_ne(asprintf(&b, "%s.1", path), -1);
	return b;
}

/*
 * One bit flipped in record i's sealed private key, the checksum made to
 * match again: only the data key can tell (its MAC and the record's tag).
 */
static void
damage_record(const char *path, size_t i)
{
	struct ks_image *img = su_parse_file(path);

	ck_assert_uint_gt(img->nrecs, i);
	img->recs[i].sealed[img->recs[i].sealed_len / 2] ^= 0x04;
	su_write_image(path, img);
	ks_image_free(img);
}

/* The same bit flipped in the file itself: the checksum no longer fits. */
static void
flip_record_bit(const char *path, size_t i)
{
	struct ks_image *img = su_parse_file(path);
	const struct ks_record *rec;
	uint8_t *file, *at;
	size_t len;

	ck_assert_uint_gt(img->nrecs, i);
	rec = &img->recs[i];
	file = su_read(path, &len);
	at = memmem(file, len, rec->sealed, rec->sealed_len);
	ck_assert_ptr_nonnull(at);
	at[rec->sealed_len / 2] ^= 0x04;
	su_write(path, file, len);
	free(file);
	ks_image_free(img);
}

static int
login_once(const char *path, int so, const uint8_t *pin, size_t len)
{
	struct ks_store *s = NULL;
	int r;

	if ((r = ks_store_open(path, &s)) != 0)
		return r;
	r = ks_store_login(s, so, pin, len, NULL);
	ks_store_free(s);
	return r;
}

static uint32_t
failures_of(const char *path, int so)
{
	struct ks_store *s = NULL;
	uint32_t n;

	ck_assert_int_eq(ks_store_open(path, &s), 0);
	n = so ? ks_store_so_pin_failures(s) : ks_store_pin_failures(s);
	ck_assert_uint_eq(ks_store_pin_in_flight(s), 0);
	ks_store_free(s);
	return n;
}

START_TEST(test_right_pin_on_a_damaged_record_says_damaged_and_never_counts)
{
	char *path;
	int i;

	path = three_key_store("mac-damage", NULL);
	damage_record(path, 1);
	/* Twice the limit: a right PIN on a damaged file is never a guess. */
	for (i = 0; i < 2 * KS_STORE_MAX_TRIES; i++) {
		ck_assert_int_eq(login_once(path, 0, SU_PIN, SU_PIN_LEN),
		    KMES_ERR_STORE_CORRUPT);
		ck_assert_uint_eq(failures_of(path, 0), 0);
	}
	ck_assert_int_eq(login_once(path, 1, SU_SO_PIN, SU_SO_PIN_LEN),
	    KMES_ERR_STORE_CORRUPT);
	ck_assert_uint_eq(failures_of(path, 1), 0);
	/* A wrong PIN is still a guess, damaged file or not. */
	ck_assert_int_eq(login_once(path, 0, (const uint8_t *)"wrong-pin", 9),
	    KMES_ERR_PIN_INCORRECT);
	ck_assert_uint_eq(failures_of(path, 0), 1);
	free(path);
}
END_TEST

START_TEST(test_a_bad_bit_is_found_before_any_pin_is_tried)
{
	uint8_t *before, *after;
	size_t blen, alen;
	char *path;
	int i;

	path = three_key_store("bit-damage", NULL);
	flip_record_bit(path, 1);
	before = su_read(path, &blen);
	for (i = 0; i < 2 * KS_STORE_MAX_TRIES; i++)
		ck_assert_int_eq(login_once(path, 0, SU_PIN, SU_PIN_LEN),
		    KMES_ERR_STORE_CORRUPT);
	/* Refused at open: no counter was written, no byte changed. */
	after = su_read(path, &alen);
	ck_assert_uint_eq(alen, blen);
	ck_assert_mem_eq(after, before, blen);
	free(after);
	free(before);
	free(path);
}
END_TEST

struct lost_log {
	int calls;
	long index;
	char label[64];
	int restored;
};

static void
note_lost(void *arg, long index, const char *label, int restored)
{
	struct lost_log *l = arg;

	l->calls++;
	l->index = index;
	snprintf(l->label, sizeof(l->label), "%s",
	    label != NULL ? label : "(none)");
	l->restored = restored;
}

/* out holds exactly the keys want[] (indexes into labels), all signing. */
static void
check_recovered(const char *out, const int *want, size_t nwant)
{
	struct ks_store *s;
	struct ks_key *k = NULL;
	long idx;
	size_t i;

	s = su_open_login(out);
	ck_assert_int_eq(ks_store_verify(s, NULL), 0);
	ck_assert_uint_eq(ks_store_count(s), nwant);
	for (i = 0; i < nwant; i++) {
		idx = ks_store_find(s, labels[want[i]]);
		ck_assert_int_ge(idx, 0);
		ck_assert_int_eq(ks_store_load_key(s, (size_t)idx, &k), 0);
		su_sign_verify(k, su_keys[want[i]]);
		ks_key_free(k);
		k = NULL;
	}
	ks_store_free(s);
}

START_TEST(test_recover_keeps_every_authentic_key_and_names_the_lost_one)
{
	static const int kept[] = { 0, 2 };
	struct ks_recover_stats st;
	struct lost_log lost;
	uint8_t *before, *after;
	size_t blen, alen;
	char *path, *bk, *out;
	int i;

	path = three_key_store("recover", NULL);
	bk = backup_of(path);
	out = su_path(1, "recovered");
	damage_record(path, 1);
	/* Without a backup, record 1 is simply lost. */
	ck_assert_int_eq(unlink(bk), 0);
	before = su_read(path, &blen);
	memset(&lost, 0, sizeof(lost));
	ck_assert_int_eq(ks_store_recover(path, SU_PIN, SU_PIN_LEN, out,
			     note_lost, &lost, &st),
	    0);
	ck_assert_uint_eq(st.kept, 2);
	ck_assert_uint_eq(st.lost, 1);
	ck_assert_uint_eq(st.restored, 0);
	ck_assert_int_eq(st.from_backup, 0);
	ck_assert_int_eq(lost.calls, 1);
	ck_assert_int_eq(lost.index, 1);
	ck_assert_str_eq(lost.label, labels[1]);
	ck_assert_int_eq(lost.restored, 0);
	check_recovered(out, kept, 2);
	/* The damaged file is left as it was (the try settled to zero). */
	after = su_read(path, &alen);
	ck_assert_uint_eq(alen, blen);
	ck_assert_mem_eq(after, before, blen);
	free(after);
	free(before);

	/* Never over an existing file; a wrong PIN counts. */
	ck_assert_int_eq(ks_store_recover(path, SU_PIN, SU_PIN_LEN, out, NULL,
			     NULL, &st),
	    KMES_ERR_EXISTS);
	ck_assert_int_eq(unlink(out), 0);
	ck_assert_int_eq(ks_store_recover(path, (const uint8_t *)"wrong-pin", 9,
			     out, NULL, NULL, &st),
	    KMES_ERR_PIN_INCORRECT);
	ck_assert_uint_eq(failures_of(path, 0), 1);
	ck_assert_int_eq(access(out, F_OK), -1);

	/* The new store is a whole store: the SO PIN unblocks it. */
	ck_assert_int_eq(ks_store_recover(path, SU_PIN, SU_PIN_LEN, out, NULL,
			     NULL, &st),
	    0);
	for (i = 0; i < KS_STORE_MAX_TRIES; i++)
		ck_assert_int_eq(login_once(out, 0,
				     (const uint8_t *)"wrong-pin", 9),
		    KMES_ERR_PIN_INCORRECT);
	ck_assert_int_eq(login_once(out, 0, SU_PIN, SU_PIN_LEN),
	    KMES_ERR_PIN_LOCKED);
	{
		struct ks_store *s = NULL;

		ck_assert_int_eq(ks_store_open(out, &s), 0);
		ck_assert_int_eq(ks_store_login(s, 1, SU_SO_PIN, SU_SO_PIN_LEN,
				     NULL),
		    0);
		ck_assert_int_eq(ks_store_set_pin(s, SU_PIN, SU_PIN_LEN), 0);
		ks_store_free(s);
	}
	check_recovered(out, kept, 2);
	free(out);
	free(bk);
	free(path);
}
END_TEST

START_TEST(test_recover_takes_what_the_file_lost_from_the_backup)
{
	static const int all[] = { 0, 1, 2 };
	struct ks_recover_stats st;
	struct lost_log lost;
	char *path, *out;

	/* A bad bit in the file: unusable, the backup still has record 1. */
	path = three_key_store("recover-bit", NULL);
	out = su_path(1, "recovered-bit");
	flip_record_bit(path, 1);
	memset(&lost, 0, sizeof(lost));
	ck_assert_int_eq(ks_store_recover(path, SU_PIN, SU_PIN_LEN, out,
			     note_lost, &lost, &st),
	    0);
	ck_assert_int_eq(st.from_backup, 1);
	ck_assert_uint_eq(st.kept, 2);
	ck_assert_uint_eq(st.restored, 1);
	ck_assert_uint_eq(st.lost, 0);
	ck_assert_int_eq(lost.index, 1);
	ck_assert_str_eq(lost.label, labels[1]);
	ck_assert_int_eq(lost.restored, 1);
	check_recovered(out, all, 3);
	free(out);
	free(path);
}
END_TEST

START_TEST(test_recover_reads_a_truncated_file_up_to_the_cut)
{
	static const int first_two[] = { 0, 1 };
	struct ks_recover_stats st;
	struct ks_store *s = NULL;
	struct lost_log lost;
	uint8_t *file;
	size_t len;
	char *path, *bk, *out;

	path = three_key_store("recover-cut", NULL);
	bk = backup_of(path);
	out = su_path(1, "recovered-cut");
	/* The backup holds only the first two keys: before the third. */
	ck_assert_int_eq(ks_store_open(path, &s), 0);
	ck_assert_int_eq(ks_store_login(s, 0, SU_PIN, SU_PIN_LEN, NULL), 0);
	ck_assert_int_eq(ks_store_delete_key(s, labels[2]), 0);
	ck_assert_int_eq(ks_store_add_key(s, labels[2], su_keys[2], 0), 0);
	ks_store_free(s);
	file = su_read(path, &len);
	su_write(path, file, len - 100); /* torn inside the last record */
	free(file);
	memset(&lost, 0, sizeof(lost));
	ck_assert_int_eq(ks_store_recover(path, SU_PIN, SU_PIN_LEN, out,
			     note_lost, &lost, &st),
	    0);
	ck_assert_int_eq(st.from_backup, 1);
	ck_assert_uint_eq(st.kept, 2);
	ck_assert_uint_eq(st.lost, 1);
	ck_assert_int_eq(lost.index, 2);
	ck_assert_str_eq(lost.label, "(none)");
	check_recovered(out, first_two, 2);
	free(out);
	free(bk);
	free(path);
}
END_TEST

START_TEST(test_every_verified_write_keeps_the_previous_file_as_backup)
{
	struct ks_store *s = NULL;
	struct stat sb;
	uint8_t *before, *kept;
	size_t blen, klen;
	char *path, *bk;

	path = su_path(1, "ring");
	bk = backup_of(path);
	su_create(path);
	s = su_open_login(path);
	before = su_read(path, &blen);
	ck_assert_int_eq(ks_store_add_key(s, "one", su_keys[0], 0), 0);
	kept = su_read(bk, &klen);
	ck_assert_uint_eq(klen, blen);
	ck_assert_mem_eq(kept, before, blen);
	ck_assert_int_eq(stat(bk, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0600);
	free(kept);
	free(before);

	before = su_read(path, &blen);
	ck_assert_int_eq(ks_store_delete_key(s, "one"), 0);
	kept = su_read(bk, &klen);
	ck_assert_uint_eq(klen, blen);
	ck_assert_mem_eq(kept, before, blen);
	free(kept);
	free(before);
	/* The backup is a store: it still has the deleted key. */
	{
		struct ks_store *b = NULL;

		ck_assert_int_eq(ks_store_open(bk, &b), 0);
		ck_assert_int_ge(ks_store_find(b, "one"), 0);
		ks_store_free(b);
	}
	/* After a PIN change the old PIN opens neither file. */
	ck_assert_int_eq(ks_store_set_pin(s, (const uint8_t *)"new-pin-1", 9),
	    0);
	ks_store_free(s);
	ck_assert_int_eq(login_once(bk, 0, SU_PIN, SU_PIN_LEN),
	    KMES_ERR_PIN_INCORRECT);
	ck_assert_int_eq(login_once(bk, 0, (const uint8_t *)"new-pin-1", 9), 0);
	/* A right PIN on a damaged file does not push the good copy out. */
	ck_assert_int_eq(unlink(bk), 0);
	s = NULL;
	ck_assert_int_eq(ks_store_open(path, &s), 0);
	ck_assert_int_eq(ks_store_login(s, 0, (const uint8_t *)"new-pin-1", 9,
			     NULL),
	    0);
	ck_assert_int_eq(ks_store_add_key(s, "two", su_keys[0], 0), 0);
	ks_store_free(s);
	before = su_read(bk, &blen);
	damage_record(path, 0);
	ck_assert_int_eq(login_once(path, 0, (const uint8_t *)"new-pin-1", 9),
	    KMES_ERR_STORE_CORRUPT);
	kept = su_read(bk, &klen);
	ck_assert_uint_eq(klen, blen);
	ck_assert_mem_eq(kept, before, blen);
	free(kept);
	free(before);
	free(bk);
	free(path);
}
END_TEST

/*
 * A file swapped in while a login runs its KDF (record 1 deleted, the
 * checksum right, the MAC stale) must not become the logged-in image when
 * the counter is reset.
 */
START_TEST(test_counter_reset_never_installs_an_unverified_reread)
{
	static const struct ks_store_kdf slow = { 16, 8, 1 };
	struct timespec ts = { 0, 200000 };
	struct ks_store *s = NULL;
	struct ks_image *img;
	pid_t pid;
	int st, seen = 0, i, r;
	char *path;

	path = three_key_store("reread", &slow);
	ck_assert_int_ne(pid = fork(), -1);
	if (pid == 0) {
		r = ks_store_open(path, &s);
		if (r == 0)
			r = ks_store_login(s, 0, SU_PIN, SU_PIN_LEN, NULL);
		/* 0: refused as damaged, logged out; else what it took. */
		if (r == KMES_ERR_STORE_CORRUPT && !ks_store_logged_in(s))
			_exit(0);
		_exit(r == 0 ? 10 + (int)ks_store_count(s) : 1);
	}
	for (i = 0; i < 100000 && !seen; i++) {
		if (ks_store_open(path, &s) == 0) {
			seen = ks_store_pin_in_flight(s) == 1;
			ks_store_free(s);
			s = NULL;
		}
		if (!seen)
			nanosleep(&ts, NULL);
	}
	ck_assert(seen);
	img = su_parse_file(path);
	ks_image_remove(img, 1);
	su_write_image(path, img);
	ks_image_free(img);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	ck_assert_msg(WEXITSTATUS(st) == 0,
	    "the login took the swapped file (exit %d)", WEXITSTATUS(st));
	/* The right PIN was not counted as a failure either. */
	ck_assert_uint_eq(failures_of(path, 0), 0);
	free(path);
}
END_TEST

/* Exit codes of the login children. */
enum { KID_OK, KID_INCORRECT, KID_LOCKED, KID_OTHER };

static pid_t
login_kid(const char *path, const int go[2], const uint8_t *pin, size_t len)
{
	struct ks_store *s = NULL;
	pid_t pid;
	char c;
	int r;

	ck_assert_int_ne(pid = fork(), -1);
	if (pid != 0)
		return pid;
	/* The starting gun: the pipe's write end closing (ours first). */
	close(go[1]);
	while (read(go[0], &c, 1) == -1 && errno == EINTR)
		;
	r = ks_store_open(path, &s);
	if (r == 0)
		r = ks_store_login(s, 0, pin, len, NULL);
	_exit(r == 0			    ? KID_OK :
		r == KMES_ERR_PIN_INCORRECT ? KID_INCORRECT :
		r == KMES_ERR_PIN_LOCKED    ? KID_LOCKED :
					      KID_OTHER);
}

#define NRIGHT 12
#define NWRONG 4
#define NGUESS 16

START_TEST(test_right_pins_at_once_never_block_and_only_wrong_ones_count)
{
	static const struct ks_store_kdf kdf = { 14, 8, 1 };
	pid_t right[NRIGHT], wrong[NGUESS];
	int go[2], i, st, n[4];
	uint32_t failures;
	char *path;

	path = su_path(1, "crowd");
	ck_assert_int_eq(ks_store_create(path, "crowd", SU_PIN, SU_PIN_LEN,
			     SU_SO_PIN, SU_SO_PIN_LEN, &kdf),
	    0);
	ck_assert_int_eq(pipe(go), 0);
	for (i = 0; i < NRIGHT + NWRONG; i++) {
		if (i % 4 == 3)
			wrong[i / 4] = login_kid(path, go,
			    (const uint8_t *)"wrong-pin", 9);
		else
			right[i - i / 4] = login_kid(path, go, SU_PIN,
			    SU_PIN_LEN);
	}
	close(go[0]);
	close(go[1]);
	memset(n, 0, sizeof(n));
	for (i = 0; i < NRIGHT; i++) {
		ck_assert_int_eq(waitpid(right[i], &st, 0), right[i]);
		ck_assert(WIFEXITED(st));
		ck_assert_msg(WEXITSTATUS(st) == KID_OK,
		    "right PIN %d refused (child status %d)", i,
		    WEXITSTATUS(st));
	}
	for (i = 0; i < NWRONG; i++) {
		ck_assert_int_eq(waitpid(wrong[i], &st, 0), wrong[i]);
		ck_assert(WIFEXITED(st));
		ck_assert_int_eq(WEXITSTATUS(st), KID_INCORRECT);
	}
	/*
	 * A right PIN that ends after a wrong one resets it, so the count
	 * left is at most the wrong ones, and nothing is left in flight.
	 */
	failures = failures_of(path, 0);
	ck_assert_uint_le(failures, NWRONG);
	free(path);

	/*
	 * Only wrong ones, more than the limit at once: exactly the limit
	 * are tried, the rest find the PIN blocked, however they overlap.
	 */
	path = su_path(1, "guessers");
	ck_assert_int_eq(ks_store_create(path, "guessers", SU_PIN, SU_PIN_LEN,
			     SU_SO_PIN, SU_SO_PIN_LEN, &kdf),
	    0);
	ck_assert_int_eq(pipe(go), 0);
	for (i = 0; i < NGUESS; i++)
		wrong[i] = login_kid(path, go, (const uint8_t *)"wrong-pin", 9);
	close(go[0]);
	close(go[1]);
	memset(n, 0, sizeof(n));
	for (i = 0; i < NGUESS; i++) {
		ck_assert_int_eq(waitpid(wrong[i], &st, 0), wrong[i]);
		ck_assert(WIFEXITED(st));
		ck_assert_int_lt(WEXITSTATUS(st), 4);
		n[WEXITSTATUS(st)]++;
	}
	ck_assert_int_eq(n[KID_INCORRECT], KS_STORE_MAX_TRIES);
	ck_assert_int_eq(n[KID_LOCKED], NGUESS - KS_STORE_MAX_TRIES);
	ck_assert_uint_eq(failures_of(path, 0), KS_STORE_MAX_TRIES);
	free(path);
}
END_TEST

static Suite *
damage_suite(void)
{
	Suite *s = suite_create("store-damage");
	TCase *tc;

	tc = tcase_create("damage");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc,
	    test_right_pin_on_a_damaged_record_says_damaged_and_never_counts);
	tcase_add_test(tc, test_a_bad_bit_is_found_before_any_pin_is_tried);
	tcase_add_test(tc,
	    test_recover_keeps_every_authentic_key_and_names_the_lost_one);
	tcase_add_test(tc,
	    test_recover_takes_what_the_file_lost_from_the_backup);
	tcase_add_test(tc, test_recover_reads_a_truncated_file_up_to_the_cut);
	tcase_add_test(tc,
	    test_every_verified_write_keeps_the_previous_file_as_backup);
	suite_add_tcase(s, tc);

	tc = tcase_create("counter");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc,
	    test_counter_reset_never_installs_an_unverified_reread);
	tcase_add_test(tc,
	    test_right_pins_at_once_never_block_and_only_wrong_ones_count);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return su_run(damage_suite());
}
