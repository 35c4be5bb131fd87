/*
 * test-store-file.c: the key store as a file: every truncation and every
 * bit flip refused, swapped, deleted and re-MACed records caught, no
 * private byte on disk, concurrent writers keeping each other's keys,
 * crash leftovers, refresh, and the failure counter surviving a kill.
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
#include "secmem.h"
#include "store-int.h"
#include "store-util.h"
#include "store.h"

/* A small store: one Ed25519 and one P-256 key. */
static char *
sample_store(const char *name)
{
	struct ks_store *s;
	char *path;

	path = su_path(1, "%s", name);
	su_create(path);
	s = su_open_login(path);
	ck_assert_int_eq(ks_store_add_key(s, "ed", su_keys[0], 0), 0);
	ck_assert_int_eq(ks_store_add_key(s, "p256", su_keys[1],
			     KS_REC_CONFIRM),
	    0);
	ks_store_free(s);
	return path;
}

START_TEST(test_every_truncation_is_refused_by_open)
{
	struct ks_store *s = NULL;
	uint8_t *file;
	size_t len, i;
	char *path, *cut;

	path = sample_store("trunc");
	cut = su_path(1, "trunc-cut");
	file = su_read(path, &len);
	ck_assert_int_eq(su_store_rejected(path), 0);
	for (i = 0; i < len; i++) {
		su_write(cut, file, i);
		ck_assert_msg(ks_store_open(cut, &s) == KMES_ERR_STORE_CORRUPT,
		    "truncation to %zu bytes was not refused", i);
		ck_assert_ptr_null(s);
	}
	/* A byte too many is refused as well. */
	file[len] = 0;
	su_write(cut, file, len + 1);
	ck_assert_int_eq(ks_store_open(cut, &s), KMES_ERR_STORE_CORRUPT);
	free(file);
	free(cut);
	free(path);
}
END_TEST

/*
 * Every bit, the counters included: they sit outside the MAC by design (a
 * wrong PIN must be countable without the data key), but inside the
 * version 2 checksum, so a bad bit there is caught before any PIN.
 */
START_TEST(test_every_bit_flip_is_detected)
{
	const char *env = getenv("STORE_TEST_FLIP_STRIDE");
	size_t len, i, stride = 1, tested = 0;
	unsigned int bit;
	uint8_t *file;
	char *path, *flip;

	if (env != NULL && atoi(env) > 0)
		stride = (size_t)atoi(env);
	path = sample_store("flip");
	flip = su_path(1, "flip-bad");
	file = su_read(path, &len);
	for (i = 0; i < len; i += stride) {
		for (bit = 0; bit < 8; bit++) {
			file[i] ^= (uint8_t)(1u << bit);
			su_write(flip, file, len);
			file[i] ^= (uint8_t)(1u << bit);
			ck_assert_msg(su_store_rejected(flip),
			    "flipping bit %u of byte %zu went unnoticed", bit,
			    i);
			tested++;
		}
	}
	ck_assert_uint_gt(tested, 0);
	/* And the untouched copy still verifies. */
	su_write(flip, file, len);
	ck_assert_int_eq(su_store_rejected(flip), 0);
	free(file);
	free(flip);
	free(path);
}
END_TEST

START_TEST(test_garbage_headers_are_refused)
{
	struct ks_store *s = NULL;
	uint8_t *file;
	size_t len;
	char *path, *bad;

	path = sample_store("garbage");
	bad = su_path(1, "garbage-bad");
	file = su_read(path, &len);
	ck_assert_int_eq(ks_store_open(bad, &s), KMES_ERR_STORE_NOT_FOUND);
	/* Unknown version (with a checksum that matches). */
	ck_assert_int_eq(file[11], KS_STORE_VERSION);
	file[11] = KS_STORE_VERSION + 1;
	ck_assert_int_eq(ks_file_seal_checksum(file, len), 0);
	su_write(bad, file, len);
	ck_assert_int_eq(ks_store_open(bad, &s), KMES_ERR_STORE_CORRUPT);
	file[11] = KS_STORE_VERSION;
	/* A failure count no store ever holds. */
	file[KS_STORE_FAILURES_OFFSET + 3] = KS_STORE_MAX_TRIES + 1;
	ck_assert_int_eq(ks_file_seal_checksum(file, len), 0);
	su_write(bad, file, len);
	ck_assert_int_eq(ks_store_open(bad, &s), KMES_ERR_STORE_CORRUPT);
	file[KS_STORE_FAILURES_OFFSET + 3] = 0;
	file[KS_STORE_FAILURES_OFFSET + 7] = 0xff;
	ck_assert_int_eq(ks_file_seal_checksum(file, len), 0);
	su_write(bad, file, len);
	ck_assert_int_eq(ks_store_open(bad, &s), KMES_ERR_STORE_CORRUPT);
	file[KS_STORE_FAILURES_OFFSET + 7] = 0;
	/* Failures plus attempts in flight above the cap; unknown slots. */
	file[KS_STORE_FAILURES_OFFSET + 3] = KS_STORE_MAX_TRIES - 1;
	file[KS_STORE_INFLIGHT_OFFSET + 3] = 0x03;
	ck_assert_int_eq(ks_file_seal_checksum(file, len), 0);
	su_write(bad, file, len);
	ck_assert_int_eq(ks_store_open(bad, &s), KMES_ERR_STORE_CORRUPT);
	file[KS_STORE_FAILURES_OFFSET + 3] = 0;
	file[KS_STORE_INFLIGHT_OFFSET + 3] = 0;
	file[KS_STORE_INFLIGHT_OFFSET + 1] = 0x01;
	ck_assert_int_eq(ks_file_seal_checksum(file, len), 0);
	su_write(bad, file, len);
	ck_assert_int_eq(ks_store_open(bad, &s), KMES_ERR_STORE_CORRUPT);
	file[KS_STORE_INFLIGHT_OFFSET + 1] = 0;
	/* The valid count KS_STORE_MAX_TRIES reads as blocked. */
	file[KS_STORE_FAILURES_OFFSET + 3] = KS_STORE_MAX_TRIES;
	ck_assert_int_eq(ks_file_seal_checksum(file, len), 0);
	su_write(bad, file, len);
	ck_assert_int_eq(ks_store_open(bad, &s), 0);
	ck_assert_int_eq(ks_store_pin_blocked(s), 1);
	ks_store_free(s);
	s = NULL;
	/* Not a regular file. */
	ck_assert_int_eq(unlink(bad), 0);
	ck_assert_int_eq(mkdir(bad, 0700), 0);
	ck_assert_int_eq(ks_store_open(bad, &s), KMES_ERR_STORE_CORRUPT);
	ck_assert_int_eq(rmdir(bad), 0);
	ck_assert_int_eq(mkfifo(bad, 0600), 0);
	ck_assert_int_eq(ks_store_open(bad, &s), KMES_ERR_STORE_CORRUPT);
	ck_assert_ptr_null(s);
	free(file);
	free(bad);
	free(path);
}
END_TEST

static int
login_result(const char *path)
{
	struct ks_store *s = NULL;
	int r;

	ck_assert_int_eq(ks_store_open(path, &s), 0);
	r = ks_store_login(s, 0, SU_PIN, SU_PIN_LEN, NULL);
	ks_store_free(s);
	return r;
}

START_TEST(test_swapped_or_deleted_records_fail_the_mac)
{
	struct ks_image *img;
	struct ks_record tmp;
	char *path, *bad;

	path = sample_store("swap");
	bad = su_path(1, "swap-bad");
	img = su_parse_file(path);
	tmp = img->recs[0];
	img->recs[0] = img->recs[1];
	img->recs[1] = tmp;
	su_write_image(bad, img);
	ck_assert_int_eq(login_result(bad), KMES_ERR_STORE_CORRUPT);
	ks_image_free(img);

	img = su_parse_file(path);
	ks_image_remove(img, 1);
	su_write_image(bad, img);
	ck_assert_int_eq(login_result(bad), KMES_ERR_STORE_CORRUPT);
	ks_image_remove(img, 0);
	su_write_image(bad, img);
	ck_assert_int_eq(login_result(bad), KMES_ERR_STORE_CORRUPT);
	ks_image_free(img);

	/* Rolling one field of the header back is caught too. */
	img = su_parse_file(path);
	img->generation--;
	su_write_image(bad, img);
	ck_assert_int_eq(login_result(bad), KMES_ERR_STORE_CORRUPT);
	ks_image_free(img);

	/* Unchanged, the same round trip is accepted. */
	img = su_parse_file(path);
	su_write_image(bad, img);
	ck_assert_int_eq(login_result(bad), 0);
	ks_image_free(img);
	free(bad);
	free(path);
}
END_TEST

/*
 * Even someone holding the MAC key cannot move a sealed private key to
 * other metadata: each record's clear fields are its AEAD data.
 */
START_TEST(test_records_are_bound_to_their_metadata)
{
	struct ks_image *img;
	struct ks_secrets *sec;
	struct ks_store *s = NULL;
	struct ks_key *k = NULL;
	struct ks_record *a, *b;
	uint8_t *p, nonce[KS_AEAD_NONCE_LEN];
	size_t n;
	long bad_i = 0;
	char *path, *bad;

	path = sample_store("bind");
	bad = su_path(1, "bind-bad");
	ck_assert_ptr_nonnull(sec = kmes_secure_alloc(sizeof(*sec)));

	/* Swap the sealed payloads of the two records, then re-MAC. */
	img = su_parse_file(path);
	ck_assert_int_eq(ks_wrap_open(img, KS_ROLE_USER, SU_PIN, SU_PIN_LEN,
			     sec->dk),
	    0);
	ck_assert_int_eq(ks_secrets_derive(sec), 0);
	a = &img->recs[0];
	b = &img->recs[1];
	p = a->sealed;
	a->sealed = b->sealed;
	b->sealed = p;
	n = a->sealed_len;
	a->sealed_len = b->sealed_len;
	b->sealed_len = n;
	memcpy(nonce, a->nonce, sizeof(nonce));
	memcpy(a->nonce, b->nonce, sizeof(nonce));
	memcpy(b->nonce, nonce, sizeof(nonce));
	ck_assert_int_eq(ks_image_set_mac(img, sec), 0);
	su_write_image(bad, img);
	ks_image_free(img);
	ck_assert_int_eq(ks_store_open(bad, &s), 0);
	ck_assert_int_eq(ks_store_login(s, 0, SU_PIN, SU_PIN_LEN, NULL), 0);
	ck_assert_int_eq(ks_store_load_key(s, 0, &k), KMES_ERR_STORE_CORRUPT);
	ck_assert_int_eq(ks_store_load_key(s, 1, &k), KMES_ERR_STORE_CORRUPT);
	ck_assert_ptr_null(k);
	ck_assert_int_eq(ks_store_verify(s, &bad_i), KMES_ERR_STORE_CORRUPT);
	ck_assert_int_eq(bad_i, 0);
	ks_store_free(s);
	s = NULL;

	/* Edit a policy flag (dropping "confirm"), then re-MAC. */
	img = su_parse_file(path);
	img->recs[1].flags &= ~(uint32_t)KS_REC_CONFIRM;
	ck_assert_int_eq(ks_image_set_mac(img, sec), 0);
	su_write_image(bad, img);
	ks_image_free(img);
	ck_assert_int_eq(ks_store_open(bad, &s), 0);
	ck_assert_int_eq(ks_store_login(s, 0, SU_PIN, SU_PIN_LEN, NULL), 0);
	ck_assert_int_eq(ks_store_load_key(s, 0, &k), 0);
	ks_key_free(k);
	k = NULL;
	ck_assert_int_eq(ks_store_load_key(s, 1, &k), KMES_ERR_STORE_CORRUPT);
	ck_assert_int_eq(ks_store_verify(s, &bad_i), KMES_ERR_STORE_CORRUPT);
	ck_assert_int_eq(bad_i, 1);
	ks_store_free(s);
	s = NULL;

	/* A record from a store with another id but the same data key. */
	img = su_parse_file(path);
	img->id[0] ^= 1;
	ck_assert_int_eq(ks_image_set_mac(img, sec), 0);
	su_write_image(bad, img);
	ks_image_free(img);
	/* The wrapped data key names the store id: the PIN no longer opens. */
	ck_assert_int_eq(login_result(bad), KMES_ERR_PIN_INCORRECT);

	kmes_secure_free(sec);
	free(bad);
	free(path);
}
END_TEST

/* Checks that no 16-byte run of secret occurs in file (raw or reversed). */
static void
assert_absent(const uint8_t *file, size_t flen, const uint8_t *secret,
    size_t slen, const char *what)
{
	uint8_t rev[16];
	char hex[2 * 16 + 1];
	size_t i, j, w = slen < 16 ? slen : 16;

	ck_assert_uint_ge(slen, 16);
	for (i = 0; i + w <= slen; i++) {
		ck_assert_msg(memmem(file, flen, secret + i, w) == NULL,
		    "%s bytes %zu.. found in the store file", what, i);
		for (j = 0; j < w; j++)
			rev[j] = secret[i + w - 1 - j];
		ck_assert_msg(memmem(file, flen, rev, w) == NULL,
		    "%s bytes %zu.. found reversed in the store file", what, i);
		kbuf_hex(secret + i, w, hex);
		ck_assert_msg(memmem(file, flen, hex, 2 * w) == NULL,
		    "%s bytes %zu.. found as hex in the store file", what, i);
	}
}

/* Finds each private field of key k and checks the file lacks it. */
static void
assert_key_absent(const struct ks_key *k, const uint8_t *file, size_t flen)
{
	struct kbuf *priv;
	const uint8_t *v;
	size_t vlen;
	int i;

	ck_assert_ptr_nonnull(priv = kbuf_new_secure(64 * 1024));
	ck_assert_int_eq(ks_key_put_private(k, priv), 0);
	ck_assert_int_eq(kbuf_get_string_direct(priv, NULL, NULL), 0);
	switch (ks_key_type(k)) {
	case KS_KEY_ED25519:
		ck_assert_int_eq(kbuf_get_string_direct(priv, NULL, NULL), 0);
		ck_assert_int_eq(kbuf_get_string_direct(priv, &v, &vlen), 0);
		ck_assert_uint_eq(vlen, 64);
		assert_absent(file, flen, v, 32, "Ed25519 seed");
		break;
	case KS_KEY_RSA:
		ck_assert_int_eq(kbuf_get_mpint_direct(priv, &v, &vlen), 0);
		ck_assert_int_eq(kbuf_get_mpint_direct(priv, &v, &vlen), 0);
		for (i = 0; i < 4; i++) { /* d, iqmp, p, q */
			ck_assert_int_eq(kbuf_get_mpint_direct(priv, &v, &vlen),
			    0);
			assert_absent(file, flen, v, vlen, "RSA secret");
		}
		break;
	default:
		ck_assert_int_eq(kbuf_get_string_direct(priv, NULL, NULL), 0);
		ck_assert_int_eq(kbuf_get_string_direct(priv, NULL, NULL), 0);
		ck_assert_int_eq(kbuf_get_mpint_direct(priv, &v, &vlen), 0);
		assert_absent(file, flen, v, vlen, "ECDSA scalar");
		break;
	}
	ck_assert_uint_eq(kbuf_len(priv), 0);
	kbuf_free(priv);
}

START_TEST(test_no_private_key_bytes_reach_the_file)
{
	struct ks_store *s;
	uint8_t *file;
	size_t flen;
	int i;
	char *path;

	path = su_path(0, "noleak");
	su_create(path);
	s = su_open_login(path);
	for (i = 0; i < SU_NGEN; i++)
		ck_assert_int_eq(ks_store_add_key(s, su_gens[i].name,
				     su_keys[i], 0),
		    0);
	ks_store_free(s);
	file = su_read(path, &flen);
	for (i = 0; i < SU_NGEN; i++)
		assert_key_absent(su_keys[i], file, flen);
	free(file);
	free(path);
}
END_TEST

#define NWRITERS 8

START_TEST(test_concurrent_writers_keep_every_key)
{
	struct ks_store *s;
	struct ks_key *k;
	pid_t pids[NWRITERS];
	int go[2], i, st, r;
	char *path, label[32], c;

	path = su_path(0, "concurrent");
	su_create(path);
	ck_assert_int_eq(pipe(go), 0);
	for (i = 0; i < NWRITERS; i++) {
		ck_assert_int_ne(pids[i] = fork(), -1);
		if (pids[i] != 0)
			continue;
		/* Wait for the starting gun: the pipe closing. */
		close(go[1]);
		while (read(go[0], &c, 1) == -1 && errno == EINTR)
			;
		s = NULL;
		k = NULL;
		snprintf(label, sizeof(label), "writer-%d", i);
		r = ks_store_open(path, &s);
		if (r == 0)
			r = ks_store_login(s, 0, SU_PIN, SU_PIN_LEN, NULL);
		if (r == 0)
			r = ks_key_generate(KS_KEY_ED25519, 0, &k);
		if (r == 0)
			r = ks_store_add_key(s, label, k, 0);
		ks_key_free(k);
		ks_store_free(s);
		free(path);
		_exit(r == 0 ? 0 : 1);
	}
	close(go[0]);
	close(go[1]);
	for (i = 0; i < NWRITERS; i++) {
		ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
		ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	s = su_open_login(path);
	ck_assert_uint_eq(ks_store_count(s), NWRITERS);
	for (i = 0; i < NWRITERS; i++) {
		snprintf(label, sizeof(label), "writer-%d", i);
		ck_assert_int_ge(ks_store_find(s, label), 0);
	}
	ck_assert_int_eq(ks_store_verify(s, NULL), 0);
	ck_assert_uint_eq(ks_store_pin_failures(s), 0);
	ks_store_free(s);
	free(path);
}
END_TEST

START_TEST(test_stale_tmp_from_a_crash_does_not_break_writes)
{
	static const char junk[] = "half-written by a writer that crashed";
	struct ks_store *s;
	char *path, *tmp;

	path = su_path(0, "stale");
	tmp = su_path(0, "stale.tmp");
	su_create(path);
	s = su_open_login(path);
	su_write(tmp, junk, sizeof(junk));
	ck_assert_int_eq(chmod(tmp, 0644), 0);
	ck_assert_int_eq(ks_store_add_key(s, "after-crash", su_keys[0], 0), 0);
	ck_assert_int_eq(access(tmp, F_OK), -1);
	/* A stale tmp that is a symlink is removed, never followed. */
	ck_assert_int_eq(symlink("/nonexistent/target", tmp), 0);
	ck_assert_int_eq(ks_store_delete_key(s, "after-crash"), 0);
	ck_assert_int_eq(access(tmp, F_OK), -1);
	ck_assert_int_eq(ks_store_add_key(s, "again", su_keys[0], 0), 0);
	ks_store_free(s);
	s = su_open_login(path);
	ck_assert_uint_eq(ks_store_count(s), 1);
	ck_assert_int_eq(ks_store_verify(s, NULL), 0);
	ks_store_free(s);
	free(tmp);
	free(path);
}
END_TEST

START_TEST(test_refresh_sees_another_writers_change)
{
	struct ks_store *a, *b, *o = NULL;
	struct ks_key *k = NULL;
	int changed = 5;
	char *path, *other;

	path = su_path(0, "refresh");
	su_create(path);
	a = su_open_login(path);
	b = su_open_login(path);
	/* b's login rewrote the counter: a notices, then settles. */
	ck_assert_int_eq(ks_store_refresh(a, &changed), 0);
	ck_assert_int_eq(changed, 1);
	ck_assert_int_eq(ks_store_refresh(a, &changed), 0);
	ck_assert_int_eq(changed, 0);
	ck_assert_int_eq(ks_store_add_key(b, "from-b", su_keys[2], 0), 0);
	ck_assert_uint_eq(ks_store_count(a), 0);
	ck_assert_int_eq(ks_store_refresh(a, &changed), 0);
	ck_assert_int_eq(changed, 1);
	ck_assert_uint_eq(ks_store_count(a), 1);
	ck_assert_int_eq(ks_store_logged_in(a), 1);
	ck_assert_int_eq(ks_store_load_key(a, 0, &k), 0);
	su_sign_verify(k, su_keys[2]);
	ks_key_free(k);
	ck_assert_int_eq(ks_store_refresh(a, &changed), 0);
	ck_assert_int_eq(changed, 0);
	/* A PIN change elsewhere keeps our session (same data key). */
	ck_assert_int_eq(ks_store_set_pin(b, (const uint8_t *)"7777777", 7), 0);
	ck_assert_int_eq(ks_store_refresh(a, &changed), 0);
	ck_assert_int_eq(changed, 1);
	ck_assert_int_eq(ks_store_logged_in(a), 1);
	ck_assert_int_eq(ks_store_delete_key(a, "from-b"), 0);

	/* Another store moved into place is refused, not adopted. */
	other = su_path(0, "refresh-other");
	su_create(other);
	ck_assert_int_eq(rename(other, path), 0);
	ck_assert_int_eq(ks_store_refresh(a, &changed), KMES_ERR_STORE_CORRUPT);
	ck_assert_int_eq(changed, 0);
	ck_assert_int_eq(ks_store_add_key(a, "x", su_keys[0], 0),
	    KMES_ERR_STORE_CORRUPT);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(ks_store_refresh(a, &changed),
	    KMES_ERR_STORE_NOT_FOUND);
	ck_assert_int_eq(ks_store_open(path, &o), KMES_ERR_STORE_NOT_FOUND);
	ks_store_free(a);
	ks_store_free(b);
	free(other);
	free(path);
}
END_TEST

/*
 * The attempt must reach the disk before the KDF runs: an attacker who
 * kills the process while it is busy with a guess has still spent it. It
 * is marked in flight, and the next locked read turns the dead mark into
 * a failure.
 */
START_TEST(test_failed_guess_is_counted_before_the_kdf_runs)
{
	static const struct ks_store_kdf slow = { 16, 8, 1 };
	struct ks_store *s = NULL;
	struct timespec ts = { 0, 200000 };
	pid_t pid;
	int st, seen = 0, alive = 0, i, r;
	char *path;

	path = su_path(0, "killed");
	ck_assert_int_eq(ks_store_create(path, "slow", SU_PIN, SU_PIN_LEN,
			     SU_SO_PIN, SU_SO_PIN_LEN, &slow),
	    0);
	ck_assert_int_ne(pid = fork(), -1);
	if (pid == 0) {
		r = ks_store_open(path, &s);
		if (r == 0)
			r = ks_store_login(s, 0, (const uint8_t *)"wrong!", 6,
			    NULL);
		ks_store_free(s);
		free(path);
		_exit(r == KMES_ERR_PIN_INCORRECT ? 0 : 1);
	}
	for (i = 0; i < 100000 && !seen; i++) {
		if (ks_store_open(path, &s) == 0) {
			seen = ks_store_pin_in_flight(s) == 1;
			ks_store_free(s);
			s = NULL;
		}
		if (seen)
			alive = waitpid(pid, &st, WNOHANG) == 0;
		else
			nanosleep(&ts, NULL);
	}
	ck_assert_int_eq(kill(pid, SIGKILL), alive ? 0 : -1);
	ck_assert_int_eq(waitpid(pid, &st, 0), alive ? pid : -1);
	ck_assert(seen);
	ck_assert_msg(alive, "the guess finished before it was counted");
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	ck_assert_int_eq(ks_store_open(path, &s), 0);
	ck_assert_uint_eq(ks_store_pin_in_flight(s), 1);
	/* The next try finds the dead one's mark: two failures, not one. */
	ck_assert_int_eq(ks_store_login(s, 0, (const uint8_t *)"wrong!", 6,
			     NULL),
	    KMES_ERR_PIN_INCORRECT);
	ck_assert_uint_eq(ks_store_pin_failures(s), 2);
	ck_assert_uint_eq(ks_store_pin_in_flight(s), 0);
	ks_store_free(s);
	free(path);
}
END_TEST

static Suite *
file_suite(void)
{
	Suite *s = suite_create("store-file");
	TCase *tc;

	tc = tcase_create("tamper");
	tcase_set_timeout(tc, 1800);
	tcase_add_test(tc, test_every_truncation_is_refused_by_open);
	tcase_add_test(tc, test_every_bit_flip_is_detected);
	tcase_add_test(tc, test_garbage_headers_are_refused);
	tcase_add_test(tc, test_swapped_or_deleted_records_fail_the_mac);
	tcase_add_test(tc, test_records_are_bound_to_their_metadata);
	tcase_add_test(tc, test_no_private_key_bytes_reach_the_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_concurrent_writers_keep_every_key);
	tcase_add_test(tc, test_stale_tmp_from_a_crash_does_not_break_writes);
	tcase_add_test(tc, test_refresh_sees_another_writers_change);
	tcase_add_test(tc, test_failed_guess_is_counted_before_the_kdf_runs);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return su_run(file_suite());
}
