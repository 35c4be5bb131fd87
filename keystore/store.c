/*
 * store.c: the encrypted key store's files, locks and sessions. The bytes
 * and their cryptography are in store-format.c; both are described in
 * kmes-keystore(5).
 *
 * Files. PATH is only ever replaced whole. A writer takes an exclusive
 * flock on PATH.lock, re-reads PATH, writes PATH.tmp (O_EXCL, 0600),
 * fsyncs it, renames it over PATH and fsyncs the directory. Readers take no
 * lock: rename is atomic, so they see the old file or the new one, never a
 * mixture. A crash leaves PATH as it was plus perhaps a stale PATH.tmp,
 * which the next writer removes (it holds the lock, so no live writer can
 * own that file). A write whose input passed its MAC first keeps the file
 * it replaces as PATH.1 (a hard link: PATH is never written in place).
 *
 * Sessions. A login unwraps the data key into locked memory and checks the
 * whole-store MAC under it. Every later re-read (a mutation, a refresh)
 * checks the MAC again, so a file edited behind our back is refused rather
 * than merged, and two writers never lose each other's keys: each applies
 * its change to the file as it is under the lock, not as it was at login.
 */
#include <sys/stat.h>

#include <errno.h>
#include <pwd.h>
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
#include "store.h"

char *
ks_store_default_path(void)
{
	const char *v;
	struct passwd *pw;
	char *p;

	if ((v = secure_getenv("KMES_STORE")) != NULL && *v != '\0')
		return strdup(v);
	/* The XDG spec says to ignore a relative XDG_DATA_HOME. */
	if ((v = secure_getenv("XDG_DATA_HOME")) != NULL && *v == '/') {
		if (asprintf(&p, "%s/kmes/keystore", v) < 0)
			return NULL;
		return p;
	}
	if ((v = secure_getenv("HOME")) == NULL || *v == '\0') {
		if ((pw = getpwuid(getuid())) == NULL)
			return NULL;
		v = pw->pw_dir;
	}
	if (v == NULL || *v == '\0')
		return NULL;
	if (asprintf(&p, "%s/.local/share/kmes/keystore", v) < 0)
		return NULL;
	return p;
}

void
ks_store_free(struct ks_store *s)
{
	if (s == NULL)
		return;
	kmes_secure_free(s->sec);
	ks_image_free(s->img);
	ks_files_clear(&s->f);
	free(s);
}

/* A store handle with its file names worked out, but nothing read. */
static int
store_new(const char *path, struct ks_store **sp)
{
	struct ks_store *s;
	int r;

	*sp = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return KMES_ERR_ALLOC;
	if ((r = ks_files_init(path, &s->f)) != 0) {
		ks_store_free(s);
		return r;
	}
	*sp = s;
	return 0;
}

/*
 * Reads PATH as it is now: it must be the same store (same id) and, if sec
 * is given, carry a MAC made with that data key.
 */
int
ks_store_reload(const struct ks_store *s, const struct ks_secrets *sec,
    struct ks_image **imgp, struct stat *stp)
{
	struct kbuf *file = NULL;
	struct ks_image *img = NULL;
	int r;

	*imgp = NULL;
	if ((r = ks_file_read(s->f.path, &file, stp)) != 0 ||
	    (r = ks_image_parse(file, &img)) != 0)
		goto out;
	if (kmes_ct_memcmp(img->id, s->img->id, sizeof(img->id)) != 0) {
		r = KMES_ERR_STORE_CORRUPT;
		goto out;
	}
	if (sec != NULL && (r = ks_image_check_mac(img, sec)) != 0)
		goto out;
	*imgp = img;
	img = NULL;
	r = 0;
out:
	ks_image_free(img);
	kbuf_free(file);
	return r;
}

static void
install(struct ks_store *s, struct ks_image **imgp, const struct stat *st)
{
	ks_image_free(s->img);
	s->img = *imgp;
	*imgp = NULL;
	s->st = *st;
}

/*
 * Writes img as PATH (lock held) and, if keep is set, makes a copy of it
 * the handle's current image. If good is set, the file img was re-read
 * from (stat old) passed its MAC under the lock and is kept as PATH.1
 * first; a write that only counts a try cannot know that, and must not
 * push a last good copy out for a damaged one.
 */
int
ks_store_commit(struct ks_store *s, const struct ks_image *img,
    const struct stat *old, int keep, int good)
{
	struct ks_image *copy = NULL;
	struct kbuf *b = NULL;
	struct stat st;
	int r;

	if ((b = kbuf_new()) == NULL)
		return KMES_ERR_ALLOC;
	if ((r = ks_image_encode(img, b)) != 0 ||
	    (keep && (r = ks_image_dup(img, &copy)) != 0) ||
	    (r = ks_file_replace(&s->f, b, 0,
		 s->no_backup || !good ? NULL : old, &st)) != 0)
		goto out;
	if (keep)
		install(s, &copy, &st);
out:
	ks_image_free(copy);
	kbuf_free(b);
	return r;
}

/* Re-read, change, MAC, write: all under the exclusive lock. */
static int
mutate(struct ks_store *s, int (*apply)(struct ks_image *, void *), void *arg)
{
	struct ks_image *img = NULL;
	struct stat st;
	int lockfd = -1, r;

	if (s->sec == NULL)
		return KMES_ERR_NOT_LOGGED_IN;
	if ((r = ks_file_lock(&s->f, &lockfd)) != 0 ||
	    (r = ks_store_reload(s, s->sec, &img, &st)) != 0 ||
	    (r = apply(img, arg)) != 0)
		goto out;
	img->generation++;
	if ((r = ks_image_set_mac(img, s->sec)) == 0)
		r = ks_store_commit(s, img, &st, 1, 1);
out:
	ks_image_free(img);
	ks_file_unlock(lockfd);
	return r;
}

int
ks_pin_valid(const uint8_t *pin, size_t pinlen)
{
	return pin != NULL && pinlen >= KS_STORE_PIN_MIN &&
	    pinlen <= KS_STORE_PIN_MAX;
}

int
ks_store_create(const char *path, const char *label, const uint8_t *pin,
    size_t pinlen, const uint8_t *so_pin, size_t so_pinlen,
    const struct ks_store_kdf *kdf)
{
	struct ks_store *s = NULL;
	struct ks_image *img = NULL;
	struct ks_secrets *sec = NULL;
	struct kbuf *b = NULL;
	struct stat st;
	int lockfd = -1, r;

	if (label == NULL || !ks_label_valid(label, strlen(label), 0) ||
	    !ks_pin_valid(pin, pinlen) || !ks_pin_valid(so_pin, so_pinlen) ||
	    (kdf != NULL && kdf->log2_n != 0 && !ks_kdf_valid(kdf)))
		return KMES_ERR_INVALID_ARGUMENT;
	if ((r = store_new(path, &s)) != 0)
		return r;
	/* Before the slow part; the rename below refuses atomically. */
	if (lstat(path, &st) == 0) {
		r = KMES_ERR_EXISTS;
		goto out;
	}
	if (errno != ENOENT) {
		r = KMES_ERR_SYSTEM;
		goto out;
	}
	if ((r = ks_dir_make(s->f.dir)) != 0 ||
	    (r = ks_dir_check(s->f.dir)) != 0)
		goto out;
	if ((img = calloc(1, sizeof(*img))) == NULL ||
	    (img->label = strdup(label)) == NULL ||
	    (sec = kmes_secure_alloc(sizeof(*sec))) == NULL ||
	    (b = kbuf_new()) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	if (kdf != NULL && kdf->log2_n != 0)
		img->kdf = *kdf;
	else {
		img->kdf.log2_n = KS_STORE_KDF_LOG2_N;
		img->kdf.r = KS_STORE_KDF_R;
		img->kdf.p = KS_STORE_KDF_P;
	}
	img->generation = 1;
	if ((r = ks_random(img->id, sizeof(img->id))) != 0 ||
	    (r = ks_random(sec->dk, sizeof(sec->dk))) != 0 ||
	    (r = ks_secrets_derive(sec)) != 0 ||
	    (r = ks_wrap_seal(img, KS_ROLE_USER, pin, pinlen, sec->dk,
		 &img->wrap[KS_ROLE_USER])) != 0 ||
	    (r = ks_wrap_seal(img, KS_ROLE_SO, so_pin, so_pinlen, sec->dk,
		 &img->wrap[KS_ROLE_SO])) != 0 ||
	    (r = ks_image_set_mac(img, sec)) != 0 ||
	    (r = ks_image_encode(img, b)) != 0)
		goto out;
	if ((r = ks_file_lock(&s->f, &lockfd)) != 0 ||
	    (r = ks_file_replace(&s->f, b, 1, NULL, &st)) != 0)
		goto out;
	r = 0;
out:
	ks_file_unlock(lockfd);
	kbuf_free(b);
	kmes_secure_free(sec);
	ks_image_free(img);
	ks_store_free(s);
	return r;
}

int
ks_store_open(const char *path, struct ks_store **sp)
{
	struct ks_store *s = NULL;
	struct kbuf *file = NULL;
	int r;

	*sp = NULL;
	if ((r = store_new(path, &s)) != 0 ||
	    (r = ks_file_read(s->f.path, &file, &s->st)) != 0 ||
	    (r = ks_image_parse(file, &s->img)) != 0)
		goto out;
	*sp = s;
	s = NULL;
	r = 0;
out:
	kbuf_free(file);
	ks_store_free(s);
	return r;
}

int
ks_store_refresh(struct ks_store *s, int *changed)
{
	struct ks_image *img = NULL;
	struct stat st;
	int r;

	if (changed != NULL)
		*changed = 0;
	if (s == NULL)
		return KMES_ERR_INVALID_ARGUMENT;
	if (lstat(s->f.path, &st) != 0)
		return errno == ENOENT ? KMES_ERR_STORE_NOT_FOUND :
					 KMES_ERR_SYSTEM;
	if (ks_file_same(&st, &s->st))
		return 0;
	if ((r = ks_store_reload(s, s->sec, &img, &st)) != 0)
		return r;
	install(s, &img, &st);
	if (changed != NULL)
		*changed = 1;
	return 0;
}

int
ks_store_open_backup(const char *path, struct ks_store **sp)
{
	struct ks_store *s = NULL;
	struct kbuf *file = NULL;
	char *p = NULL, *t = NULL;
	int r;

	*sp = NULL;
	if ((r = store_new(path, &s)) != 0)
		return r;
	if ((p = strdup(s->f.backup)) == NULL ||
	    (t = strdup(s->f.backup_tmp)) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	free(s->f.path);
	free(s->f.tmp);
	s->f.path = p;
	s->f.tmp = t;
	p = t = NULL;
	s->no_backup = 1;
	if ((r = ks_file_read(s->f.path, &file, &s->st)) != 0 ||
	    (r = ks_image_parse(file, &s->img)) != 0)
		goto out;
	*sp = s;
	s = NULL;
out:
	free(p);
	free(t);
	kbuf_free(file);
	ks_store_free(s);
	return r;
}

const struct ks_image *
ks_store_image(const struct ks_store *s)
{
	return s->img;
}

const char *
ks_store_path(const struct ks_store *s)
{
	return s->f.path;
}

const char *
ks_store_label(const struct ks_store *s)
{
	return s->img->label;
}

const uint8_t *
ks_store_id(const struct ks_store *s)
{
	return s->img->id;
}

uint32_t
ks_store_pin_failures(const struct ks_store *s)
{
	return s->img->failures[KS_ROLE_USER];
}

unsigned int
ks_store_pin_in_flight(const struct ks_store *s)
{
	return ks_image_inflight(s->img, KS_ROLE_USER);
}

uint32_t
ks_store_so_pin_failures(const struct ks_store *s)
{
	return s->img->failures[KS_ROLE_SO];
}

int
ks_store_pin_blocked(const struct ks_store *s)
{
	return s->img->failures[KS_ROLE_USER] >= KS_STORE_MAX_TRIES;
}

void
ks_store_kdf_params(const struct ks_store *s, struct ks_store_kdf *kdf)
{
	*kdf = s->img->kdf;
}

int
ks_store_logged_in(const struct ks_store *s)
{
	return s->sec != NULL;
}

size_t
ks_store_count(const struct ks_store *s)
{
	return s->img->nrecs;
}

int
ks_store_entry(const struct ks_store *s, size_t i, struct ks_store_entry *e)
{
	const struct ks_record *rec;

	memset(e, 0, sizeof(*e));
	if (i >= s->img->nrecs)
		return KMES_ERR_INVALID_ARGUMENT;
	rec = &s->img->recs[i];
	e->label = rec->label;
	e->blob = rec->blob;
	e->blob_len = rec->blob_len;
	e->flags = rec->flags;
	e->created = rec->created;
	e->ckaid = rec->ckaid;
	e->ckaid_len = rec->ckaid_len;
	return 0;
}

long
ks_store_find(const struct ks_store *s, const char *label)
{
	if (label == NULL)
		return -1;
	return ks_image_find(s->img, label);
}

int
ks_store_load_key(const struct ks_store *s, size_t i, struct ks_key **keyp)
{
	*keyp = NULL;
	if (s->sec == NULL)
		return KMES_ERR_NOT_LOGGED_IN;
	return ks_record_open(s->img, s->sec, i, keyp);
}

static int
apply_add(struct ks_image *img, void *arg)
{
	struct ks_record *rec = arg;

	if (ks_image_find(img, rec->label) != -1 ||
	    (rec->ckaid != NULL &&
		ks_image_find_ckaid(img, rec->ckaid, rec->ckaid_len) != -1))
		return KMES_ERR_EXISTS;
	return ks_image_append(img, rec);
}

int
ks_store_add_key(struct ks_store *s, const char *label,
    const struct ks_key *key, uint32_t flags)
{
	return ks_store_add_key_id(s, label, key, flags, NULL, 0);
}

long
ks_store_find_ckaid(const struct ks_store *s, const uint8_t *id, size_t len)
{
	if (id == NULL || len == 0)
		return -1;
	return ks_image_find_ckaid(s->img, id, len);
}

int
ks_store_add_key_id(struct ks_store *s, const char *label,
    const struct ks_key *key, uint32_t flags, const uint8_t *ckaid,
    size_t ckaid_len)
{
	struct ks_record rec;
	const uint8_t *blob;
	size_t blob_len;
	time_t now;
	int r;

	memset(&rec, 0, sizeof(rec));
	if (s == NULL || label == NULL || key == NULL ||
	    !ks_label_valid(label, strlen(label), 1) ||
	    !ks_key_has_private(key) ||
	    (flags &
		~(KS_REC_CONFIRM | KS_REC_GENERATED |
		    KS_REC_NEVER_EXTRACTABLE)) != 0 ||
	    (ckaid == NULL) != (ckaid_len == 0) ||
	    ckaid_len > KS_STORE_CKAID_MAX)
		return KMES_ERR_INVALID_ARGUMENT;
	if (s->sec == NULL)
		return KMES_ERR_NOT_LOGGED_IN;
	/* Fail early; apply_add checks again against the file under lock. */
	if (ks_image_find(s->img, label) != -1 ||
	    ks_store_find_ckaid(s, ckaid, ckaid_len) != -1)
		return KMES_ERR_EXISTS;
	blob = ks_key_blob(key, &blob_len);
	if (blob_len == 0 || blob_len > KS_STORE_BLOB_MAX ||
	    strlen(ks_key_type_name(key)) > KS_STORE_TYPE_MAX)
		return KMES_ERR_KEY_UNSUPPORTED;
	if ((rec.label = strdup(label)) == NULL ||
	    (rec.type = strdup(ks_key_type_name(key))) == NULL ||
	    (rec.blob = malloc(blob_len)) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	memcpy(rec.blob, blob, blob_len);
	rec.blob_len = blob_len;
	if (ckaid_len != 0) {
		if ((rec.ckaid = malloc(ckaid_len)) == NULL) {
			r = KMES_ERR_ALLOC;
			goto out;
		}
		memcpy(rec.ckaid, ckaid, ckaid_len);
		rec.ckaid_len = ckaid_len;
	}
	rec.flags = flags | KS_REC_NEVER_EXTRACTABLE;
	now = time(NULL);
	rec.created = now > 0 ? (uint64_t)now : 0;
	if ((r = ks_record_seal(s->img, s->sec, key, &rec)) != 0)
		goto out;
	r = mutate(s, apply_add, &rec);
out:
	ks_record_clear(&rec);
	return r;
}

struct delete_arg {
	const char *label;
};

static int
apply_delete(struct ks_image *img, void *arg)
{
	const struct delete_arg *d = arg;
	long i;

	if ((i = ks_image_find(img, d->label)) == -1)
		return KMES_ERR_KEY_NOT_FOUND;
	ks_image_remove(img, (size_t)i);
	return 0;
}

int
ks_store_delete_key(struct ks_store *s, const char *label)
{
	struct delete_arg d = { label };

	if (s == NULL || label == NULL)
		return KMES_ERR_INVALID_ARGUMENT;
	return mutate(s, apply_delete, &d);
}

struct meta_arg {
	const struct ks_secrets *sec;
	const char *label;
	const char *new_label; /* NULL: keep */
	const uint8_t *ckaid;  /* NULL: keep, unless clear_ckaid */
	size_t ckaid_len;
};

/*
 * The label and CKA_ID are in the record's AAD: changing them means
 * opening the private key under the lock and sealing it again, so a
 * record never carries metadata its own tag does not vouch for.
 */
static int
apply_meta(struct ks_image *img, void *arg)
{
	const struct meta_arg *m = arg;
	struct ks_record *rec, nrec;
	struct ks_key *key = NULL;
	long i, j;
	int r;

	memset(&nrec, 0, sizeof(nrec));
	if ((i = ks_image_find(img, m->label)) == -1)
		return KMES_ERR_KEY_NOT_FOUND;
	if ((m->new_label != NULL &&
		((j = ks_image_find(img, m->new_label)) != -1 && j != i)) ||
	    (m->ckaid != NULL &&
		((j = ks_image_find_ckaid(img, m->ckaid, m->ckaid_len)) != -1 &&
		    j != i)))
		return KMES_ERR_EXISTS;
	rec = &img->recs[i];
	if ((r = ks_record_open(img, m->sec, (size_t)i, &key)) != 0 ||
	    (r = ks_record_copy(rec, &nrec)) != 0)
		goto out;
	if (m->new_label != NULL) {
		free(nrec.label);
		if ((nrec.label = strdup(m->new_label)) == NULL) {
			r = KMES_ERR_ALLOC;
			goto out;
		}
	}
	if (m->ckaid != NULL) {
		free(nrec.ckaid);
		if ((nrec.ckaid = malloc(m->ckaid_len)) == NULL) {
			nrec.ckaid_len = 0;
			r = KMES_ERR_ALLOC;
			goto out;
		}
		memcpy(nrec.ckaid, m->ckaid, m->ckaid_len);
		nrec.ckaid_len = m->ckaid_len;
	}
	if ((r = ks_record_seal(img, m->sec, key, &nrec)) != 0)
		goto out;
	ks_record_clear(rec);
	*rec = nrec;
	memset(&nrec, 0, sizeof(nrec));
out:
	ks_record_clear(&nrec);
	ks_key_free(key);
	return r;
}

int
ks_store_set_meta(struct ks_store *s, const char *label, const char *new_label,
    const uint8_t *ckaid, size_t ckaid_len)
{
	struct meta_arg m;

	if (s == NULL || label == NULL ||
	    (new_label != NULL &&
		!ks_label_valid(new_label, strlen(new_label), 1)) ||
	    (ckaid != NULL &&
		(ckaid_len == 0 || ckaid_len > KS_STORE_CKAID_MAX)))
		return KMES_ERR_INVALID_ARGUMENT;
	if (s->sec == NULL)
		return KMES_ERR_NOT_LOGGED_IN;
	m.sec = s->sec;
	m.label = label;
	m.new_label = new_label;
	m.ckaid = ckaid;
	m.ckaid_len = ckaid_len;
	return mutate(s, apply_meta, &m);
}

static int
apply_nothing(struct ks_image *img, void *arg)
{
	(void)img;
	(void)arg;
	return 0;
}

/* Also the unblock: the counter is reset with the new PIN. */
/* A new wrap of the data key for one role, its failure count cleared. */
struct new_wrap {
	enum ks_role role;
	struct ks_wrap w;
};

static int
apply_set_pin(struct ks_image *img, void *arg)
{
	const struct new_wrap *nw = arg;

	img->wrap[nw->role] = nw->w;
	img->failures[nw->role] = 0;
	return 0;
}

static int
set_role_pin(struct ks_store *s, enum ks_role role, const uint8_t *new_pin,
    size_t new_pinlen)
{
	struct new_wrap nw;
	int r;

	if (s == NULL || !ks_pin_valid(new_pin, new_pinlen))
		return KMES_ERR_INVALID_ARGUMENT;
	if (s->sec == NULL)
		return KMES_ERR_NOT_LOGGED_IN;
	nw.role = role;
	/* The slow KDF runs before the lock is taken. */
	if ((r = ks_wrap_seal(s->img, role, new_pin, new_pinlen, s->sec->dk,
		 &nw.w)) != 0)
		return r;
	if ((r = mutate(s, apply_set_pin, &nw)) != 0)
		return r;
	/*
	 * PATH.1 now holds the data key wrapped under the old PIN, which
	 * may be why the PIN was changed: write once more so that the
	 * backup, too, opens only with the new one.
	 */
	return mutate(s, apply_nothing, NULL);
}

int
ks_store_set_pin(struct ks_store *s, const uint8_t *new_pin, size_t new_pinlen)
{
	return set_role_pin(s, KS_ROLE_USER, new_pin, new_pinlen);
}

int
ks_store_set_so_pin(struct ks_store *s, const uint8_t *new_pin,
    size_t new_pinlen)
{
	return set_role_pin(s, KS_ROLE_SO, new_pin, new_pinlen);
}

int
ks_store_verify(const struct ks_store *s, long *bad)
{
	struct ks_key *key = NULL;
	size_t i;
	int r;

	if (bad != NULL)
		*bad = -1;
	if (s->sec == NULL)
		return KMES_ERR_NOT_LOGGED_IN;
	/* Records first, so that a damaged one is named. */
	for (i = 0; i < s->img->nrecs; i++) {
		if ((r = ks_record_open(s->img, s->sec, i, &key)) != 0) {
			if (bad != NULL && r == KMES_ERR_STORE_CORRUPT)
				*bad = (long)i;
			return r;
		}
		ks_key_free(key);
		key = NULL;
	}
	return ks_image_check_mac(s->img, s->sec);
}
