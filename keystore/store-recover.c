/*
 * store-recover.c: salvaging a damaged key store into a new file
 * (kmes-keytool recover). Records are sealed one by one under the data key
 * with their metadata as AAD, so when the whole-store MAC fails, a record
 * whose own tag verifies is still exactly what this store sealed; only the
 * set (which records, in what order) is no longer vouched for. The new
 * file gets a fresh MAC over what was kept, and the damaged file is left
 * as it is for whoever wants to look at it.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "secmem.h"
#include "store-int.h"
#include "store.h"

/* The files recover reads and the secrets the PIN opened. */
struct salvage {
	struct ks_store *main;	 /* PATH, if it parses */
	struct ks_store *backup; /* PATH.1, if it parses */
	struct ks_image *src;	 /* the image the PIN opened */
	struct ks_image *rest;	 /* PATH salvaged, when it is unusable */
	size_t claimed;		 /* records PATH claims then */
	struct ks_secrets *sec;
	int from_backup; /* src is PATH.1's */
};

static void
salvage_clear(struct salvage *sv)
{
	ks_store_free(sv->main);
	ks_store_free(sv->backup);
	ks_image_free(sv->src);
	ks_image_free(sv->rest);
	kmes_secure_free(sv->sec);
	memset(sv, 0, sizeof(*sv));
}

/* Returns 1 if record i of img opens under sec (its tag verifies). */
static int
record_authentic(const struct ks_image *img, const struct ks_secrets *sec,
    size_t i)
{
	struct ks_key *key = NULL;
	int ok;

	ok = ks_record_open(img, sec, i, &key) == 0;
	ks_key_free(key);
	return ok;
}

/* Appends a copy of record i of img (authentic under sec) to out. */
static int
keep_record(struct ks_image *out, const struct ks_image *img, size_t i,
    const struct ks_secrets *sec)
{
	struct ks_record rec;
	struct ks_key *key = NULL;
	int r;

	if ((r = ks_record_copy(&img->recs[i], &rec)) != 0)
		return r;
	/*
	 * A key from the backup may carry a CKA_ID that a key kept from
	 * PATH has taken since: it keeps its key but not the ID (sealed
	 * again without it), so no two keys share one.
	 */
	if (rec.ckaid != NULL &&
	    ks_image_find_ckaid(out, rec.ckaid, rec.ckaid_len) != -1) {
		free(rec.ckaid);
		rec.ckaid = NULL;
		rec.ckaid_len = 0;
		if ((r = ks_record_open(img, sec, i, &key)) != 0 ||
		    (r = ks_record_seal(out, sec, key, &rec)) != 0)
			goto out;
	}
	r = ks_image_append(out, &rec);
out:
	ks_record_clear(&rec);
	ks_key_free(key);
	return r;
}

/*
 * Rewrites the user-PIN failure counter of a file that fails its checksum
 * (lock held), changing no other byte: the file is not re-encoded, so the
 * damage is neither repaired nor blessed with a new checksum.
 */
static int
raw_set_failures(const struct ks_files *f, uint32_t failures)
{
	struct kbuf *file = NULL, *b = NULL;
	struct ks_image *img = NULL;
	struct stat st;
	size_t len, off = KS_STORE_FAILURES_OFFSET;
	int r;

	if ((r = ks_file_read(f->path, &file, &st)) != 0 ||
	    (r = ks_image_parse_salvage(file, &img, NULL)) != 0)
		goto out;
	len = kbuf_len(file);
	if ((b = kbuf_new()) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	if ((r = kbuf_put(b, kbuf_ptr(file), off)) != 0 ||
	    (r = kbuf_put_u32(b, failures)) != 0 ||
	    (r = kbuf_put(b, kbuf_ptr(file) + off + 4, len - off - 4)) != 0 ||
	    (r = ks_file_replace(f, b, 0, NULL, &st)) != 0)
		goto out;
out:
	ks_image_free(img);
	kbuf_free(b);
	kbuf_free(file);
	return r;
}

/*
 * The PIN against a PATH that fails its checksum and has no usable backup.
 * The slots need a file that parses; this one-off path counts the old way
 * instead: the failure is written (fsynced) before the KDF and taken back
 * after a right PIN, so a kill still costs the try.
 */
static int
raw_login(struct salvage *sv, const char *path, const uint8_t *pin,
    size_t pinlen)
{
	struct ks_files f;
	struct kbuf *file = NULL;
	struct ks_image *img = NULL;
	struct stat st;
	uint32_t failures;
	int lockfd = -1, r;

	if ((r = ks_files_init(path, &f)) != 0)
		return r;
	if ((r = ks_file_lock(&f, &lockfd)) != 0 ||
	    (r = ks_file_read(path, &file, &st)) != 0 ||
	    (r = ks_image_parse_salvage(file, &img, &sv->claimed)) != 0)
		goto out;
	failures = img->failures[KS_ROLE_USER];
	if (failures + ks_image_inflight(img, KS_ROLE_USER) >=
	    KS_STORE_MAX_TRIES) {
		r = KMES_ERR_PIN_LOCKED;
		goto out;
	}
	if ((r = raw_set_failures(&f, failures + 1)) != 0)
		goto out;
	ks_file_unlock(lockfd);
	lockfd = -1;
	if ((sv->sec = kmes_secure_alloc(sizeof(*sv->sec))) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	if ((r = ks_wrap_open(img, KS_ROLE_USER, pin, pinlen, sv->sec->dk)) !=
		0 ||
	    (r = ks_secrets_derive(sv->sec)) != 0)
		goto out;
	if ((r = ks_file_lock(&f, &lockfd)) != 0 ||
	    (r = raw_set_failures(&f, 0)) != 0)
		goto out;
	sv->rest = img;
	img = NULL;
	if ((r = ks_image_dup(sv->rest, &sv->src)) != 0)
		goto out;
out:
	ks_file_unlock(lockfd);
	ks_image_free(img);
	kbuf_free(file);
	ks_files_clear(&f);
	return r;
}

/*
 * Opens the data key: with PATH if it parses (a damaged MAC is what we
 * are here for), else with the backup PATH.1, else with what of PATH's
 * header still parses. The PIN try is counted in the file it opens.
 */
static int
open_sources(struct salvage *sv, const char *path, const uint8_t *pin,
    size_t pinlen)
{
	struct kbuf *file = NULL;
	struct stat st;
	int damaged, r;

	r = ks_store_open(path, &sv->main);
	if (r != 0 && r != KMES_ERR_STORE_CORRUPT)
		return r;
	/* A backup that does not parse is just not there. */
	if (ks_store_open_backup(path, &sv->backup) != 0)
		sv->backup = NULL;
	if (sv->main != NULL)
		return ks_store_salvage_login(sv->main, pin, pinlen, &sv->sec,
		    &sv->src, &damaged);
	if (sv->backup == NULL)
		return raw_login(sv, path, pin, pinlen);
	sv->from_backup = 1;
	if ((r = ks_store_salvage_login(sv->backup, pin, pinlen, &sv->sec,
		 &sv->src, &damaged)) != 0)
		return r;
	/* Whatever of PATH still parses may hold newer records. */
	if (ks_file_read(path, &file, &st) == 0 &&
	    ks_image_parse_salvage(file, &sv->rest, &sv->claimed) == 0 &&
	    kmes_ct_memcmp(sv->rest->id, sv->src->id, sizeof(sv->rest->id)) !=
		0) {
		ks_image_free(sv->rest);
		sv->rest = NULL;
	}
	kbuf_free(file);
	return 0;
}

/* The backup's authentic record with label, not yet in out; else -1. */
static long
backup_record(const struct ks_image *bimg, const struct ks_secrets *sec,
    const struct ks_image *out, const char *label)
{
	long j;

	if (bimg == NULL || label == NULL || ks_image_find(out, label) != -1 ||
	    (j = ks_image_find(bimg, label)) == -1 ||
	    !record_authentic(bimg, sec, (size_t)j))
		return -1;
	return j;
}

/*
 * Fills out with PATH's authentic records, in order, then the backup's
 * for those lost (and all its others when PATH is unusable: we cannot
 * tell which of them PATH still had).
 */
static int
collect(const struct salvage *sv, int from_backup, struct ks_image *out,
    ks_recover_fn *report, void *arg, struct ks_recover_stats *stats)
{
	const struct ks_image *mimg = sv->rest != NULL ? sv->rest : sv->src;
	const struct ks_image *bimg = NULL;
	size_t i, claimed = 0;
	const char *label;
	long j;
	int r;

	if (from_backup)
		bimg = sv->src;
	else if (sv->backup != NULL &&
	    kmes_ct_memcmp(ks_store_image(sv->backup)->id, sv->src->id,
		sizeof(sv->src->id)) == 0)
		bimg = ks_store_image(sv->backup);
	if (from_backup && sv->rest == NULL)
		mimg = NULL;
	if (mimg != NULL)
		claimed = sv->rest != NULL ? sv->claimed : mimg->nrecs;
	for (i = 0; i < claimed; i++) {
		label = mimg != NULL && i < mimg->nrecs ? mimg->recs[i].label :
							  NULL;
		if (label != NULL && ks_image_find(out, label) == -1 &&
		    record_authentic(mimg, sv->sec, i)) {
			if ((r = keep_record(out, mimg, i, sv->sec)) != 0)
				return r;
			stats->kept++;
			continue;
		}
		if ((j = backup_record(bimg, sv->sec, out, label)) >= 0) {
			if ((r = keep_record(out, bimg, (size_t)j, sv->sec)) !=
			    0)
				return r;
			stats->restored++;
		} else
			stats->lost++;
		if (report != NULL)
			report(arg, (long)i, label, j >= 0);
	}
	for (i = 0; from_backup && i < bimg->nrecs; i++) {
		label = bimg->recs[i].label;
		if ((j = backup_record(bimg, sv->sec, out, label)) < 0)
			continue;
		if ((r = keep_record(out, bimg, (size_t)j, sv->sec)) != 0)
			return r;
		stats->restored++;
		if (report != NULL)
			report(arg, -1, label, 1);
	}
	return 0;
}

/* A fresh store image: src's header (same id, KDF and wrapped keys). */
static int
new_image(const struct ks_image *src, struct ks_image **outp)
{
	struct ks_image *img;

	*outp = NULL;
	if ((img = calloc(1, sizeof(*img))) == NULL)
		return KMES_ERR_ALLOC;
	memcpy(img->id, src->id, sizeof(img->id));
	img->kdf = src->kdf;
	img->wrap[KS_ROLE_USER] = src->wrap[KS_ROLE_USER];
	img->wrap[KS_ROLE_SO] = src->wrap[KS_ROLE_SO];
	img->generation = src->generation + 1;
	img->version = KS_STORE_VERSION;
	if ((img->label = strdup(src->label)) == NULL) {
		ks_image_free(img);
		return KMES_ERR_ALLOC;
	}
	*outp = img;
	return 0;
}

/* Writes img as the new file out, never over an existing one. */
static int
write_new(const char *out, const struct ks_image *img)
{
	struct ks_files f;
	struct kbuf *b = NULL;
	struct stat st;
	int lockfd = -1, r;

	if ((r = ks_files_init(out, &f)) != 0)
		return r;
	if ((b = kbuf_new()) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	if ((r = ks_dir_check(f.dir)) != 0 ||
	    (r = ks_image_encode(img, b)) != 0 ||
	    (r = ks_file_lock(&f, &lockfd)) != 0)
		goto out;
	r = ks_file_replace(&f, b, 1, NULL, &st);
out:
	ks_file_unlock(lockfd);
	kbuf_free(b);
	ks_files_clear(&f);
	return r;
}

int
ks_store_recover(const char *path, const uint8_t *pin, size_t pinlen,
    const char *out, ks_recover_fn *report, void *arg,
    struct ks_recover_stats *stats)
{
	struct salvage sv;
	struct ks_image *img = NULL;
	struct stat st;
	int r;

	memset(&sv, 0, sizeof(sv));
	memset(stats, 0, sizeof(*stats));
	if (path == NULL || out == NULL)
		return KMES_ERR_INVALID_ARGUMENT;
	/* Before the PIN is spent; the final rename refuses atomically. */
	if (lstat(out, &st) == 0)
		return KMES_ERR_EXISTS;
	if (errno != ENOENT)
		return KMES_ERR_SYSTEM;
	if ((r = open_sources(&sv, path, pin, pinlen)) != 0 ||
	    (r = new_image(sv.src, &img)) != 0 ||
	    (r = collect(&sv, sv.from_backup, img, report, arg, stats)) != 0 ||
	    (r = ks_image_set_mac(img, sv.sec)) != 0)
		goto out;
	stats->from_backup = sv.from_backup;
	r = write_new(out, img);
out:
	ks_image_free(img);
	salvage_clear(&sv);
	return r;
}
