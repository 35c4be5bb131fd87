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
 * own that file).
 *
 * Sessions. A login unwraps the data key into locked memory and checks the
 * whole-store MAC under it. Every later re-read (a mutation, a refresh)
 * checks the MAC again, so a file edited behind our back is refused rather
 * than merged, and two writers never lose each other's keys: each applies
 * its change to the file as it is under the lock, not as it was at login.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

struct ks_store {
	char *path;
	char *lock_path;
	char *tmp_path;
	char *dir;
	struct ks_image *img;
	struct stat st;		/* the file img was read from */
	struct ks_secrets *sec;	/* NULL unless logged in */
	int so;			/* the login was the SO's */
};

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
	free(s->path);
	free(s->lock_path);
	free(s->tmp_path);
	free(s->dir);
	free(s);
}

/* A store handle with its file names worked out, but nothing read. */
static int
store_new(const char *path, struct ks_store **sp)
{
	struct ks_store *s = NULL;
	const char *slash;
	size_t len;
	int r;

	*sp = NULL;
	if (path == NULL || (len = strlen(path)) == 0 ||
	    len > PATH_MAX - 8 || path[len - 1] == '/')
		return KMES_ERR_INVALID_ARGUMENT;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return KMES_ERR_ALLOC;
	if ((slash = strrchr(path, '/')) == NULL)
		s->dir = strdup(".");
	else if (slash == path)
		s->dir = strdup("/");
	else
		s->dir = strndup(path, (size_t)(slash - path));
	if (s->dir == NULL || (s->path = strdup(path)) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	/* asprintf leaves the pointer undefined when it fails. */
	if (asprintf(&s->lock_path, "%s.lock", path) < 0) {
		s->lock_path = NULL;
		r = KMES_ERR_ALLOC;
		goto out;
	}
	if (asprintf(&s->tmp_path, "%s.tmp", path) < 0) {
		s->tmp_path = NULL;
		r = KMES_ERR_ALLOC;
		goto out;
	}
	*sp = s;
	s = NULL;
	r = 0;
 out:
	ks_store_free(s);
	return r;
}

/*
 * Anyone who can write the directory can rename their own file over ours
 * (or plant PATH.tmp and PATH.lock): refuse such directories for writing.
 */
static int
check_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) != 0)
		return errno == ENOENT ? KMES_ERR_STORE_NOT_FOUND :
		    KMES_ERR_SYSTEM;
	if (!S_ISDIR(st.st_mode))
		return KMES_ERR_INVALID_ARGUMENT;
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 ||
	    (st.st_uid != geteuid() && st.st_uid != 0))
		return KMES_ERR_DENIED;
	return 0;
}

static int
fsync_dir(const char *dir)
{
	int fd, r = 0;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return KMES_ERR_SYSTEM;
	/* Some file systems cannot fsync a directory; they also need not. */
	if (fsync(fd) != 0 && errno != EINVAL)
		r = KMES_ERR_SYSTEM;
	close(fd);
	return r;
}

/* Creates dir and missing parents 0700, making each new entry durable. */
static int
make_dirs(const char *dir)
{
	struct stat st;
	char *parent = NULL, *slash;
	int r;

	if (stat(dir, &st) == 0)
		return 0; /* check_dir says whether it will do */
	if (errno != ENOENT)
		return KMES_ERR_SYSTEM;
	if ((parent = strdup(dir)) == NULL)
		return KMES_ERR_ALLOC;
	if ((slash = strrchr(parent, '/')) == NULL)
		strcpy(parent, ".");
	else if (slash == parent)
		strcpy(parent, "/");
	else
		*slash = '\0';
	if ((r = make_dirs(parent)) != 0)
		goto out;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		r = KMES_ERR_SYSTEM;
		goto out;
	}
	r = fsync_dir(parent);
 out:
	free(parent);
	return r;
}

/* Reads the whole file; O_NOFOLLOW and O_NONBLOCK: no symlinks, no FIFOs. */
static int
read_file(const char *path, struct kbuf **filep, struct stat *stp)
{
	struct kbuf *b = NULL;
	struct stat st;
	uint8_t *p, extra;
	size_t got = 0;
	ssize_t n;
	int fd, r;

	*filep = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY);
	if (fd == -1)
		return errno == ENOENT ? KMES_ERR_STORE_NOT_FOUND :
		    KMES_ERR_SYSTEM;
	if (fstat(fd, &st) != 0) {
		r = KMES_ERR_SYSTEM;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < 0 ||
	    (uintmax_t)st.st_size > KS_STORE_FILE_MAX) {
		r = KMES_ERR_STORE_CORRUPT;
		goto out;
	}
	if ((b = kbuf_new()) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	if ((r = kbuf_reserve(b, (size_t)st.st_size, &p)) != 0)
		goto out;
	while (got < (size_t)st.st_size) {
		n = read(fd, p + got, (size_t)st.st_size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n == 0 ? KMES_ERR_STORE_CORRUPT : KMES_ERR_SYSTEM;
			goto out;
		}
		got += (size_t)n;
	}
	/* The file is never written in place, but make sure it ended. */
	while ((n = read(fd, &extra, 1)) == -1 && errno == EINTR)
		;
	if (n != 0) {
		r = n > 0 ? KMES_ERR_STORE_CORRUPT : KMES_ERR_SYSTEM;
		goto out;
	}
	*filep = b;
	b = NULL;
	*stp = st;
	r = 0;
 out:
	kbuf_free(b);
	close(fd);
	return r;
}

static int
write_all(int fd, const uint8_t *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return KMES_ERR_SYSTEM;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Puts PATH.tmp in place of PATH, or beside nothing if create is set. */
static int
install_tmp(const struct ks_store *s, int create)
{
	if (!create)
		return rename(s->tmp_path, s->path) == 0 ? 0 : KMES_ERR_SYSTEM;
	if (renameat2(AT_FDCWD, s->tmp_path, AT_FDCWD, s->path,
	    RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EEXIST)
		return KMES_ERR_EXISTS;
	if (errno != EINVAL && errno != ENOSYS)
		return KMES_ERR_SYSTEM;
	/* No RENAME_NOREPLACE here: link(2) refuses to replace, too. */
	if (link(s->tmp_path, s->path) != 0)
		return errno == EEXIST ? KMES_ERR_EXISTS : KMES_ERR_SYSTEM;
	(void)unlink(s->tmp_path);
	return 0;
}

/*
 * Writes data as the new PATH: PATH.tmp, fsync, rename, fsync the
 * directory. The caller holds the exclusive lock.
 */
static int
write_file(const struct ks_store *s, const struct kbuf *data, int create,
    struct stat *stp)
{
	int fd = -1, tries, placed = 0, r;

	if ((r = check_dir(s->dir)) != 0)
		return r;
	for (tries = 0;; tries++) {
		fd = open(s->tmp_path, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd != -1)
			break;
		/* We hold the lock: an existing PATH.tmp is a crashed
		 * writer's. Remove it (never follow or reuse it). */
		if (errno != EEXIST || tries > 0 ||
		    (unlink(s->tmp_path) != 0 && errno != ENOENT))
			return KMES_ERR_SYSTEM;
	}
	/* The umask may have taken bits away; it never adds any. */
	if (fchmod(fd, 0600) != 0 ||
	    write_all(fd, kbuf_ptr(data), kbuf_len(data)) != 0 ||
	    fsync(fd) != 0) {
		r = KMES_ERR_SYSTEM;
		goto out;
	}
	if ((r = install_tmp(s, create)) != 0)
		goto out;
	placed = 1;
	/* After the rename, which changes the inode's ctime. */
	if (fstat(fd, stp) != 0) {
		r = KMES_ERR_SYSTEM;
		goto out;
	}
	r = fsync_dir(s->dir);
 out:
	if (!placed)
		(void)unlink(s->tmp_path);
	close(fd);
	return r;
}

static int
lock_take(const struct ks_store *s, int op, int *fdp)
{
	int fd;

	*fdp = -1;
	fd = open(s->lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1)
		return errno == ENOENT ? KMES_ERR_STORE_NOT_FOUND :
		    KMES_ERR_SYSTEM;
	while (flock(fd, op) != 0) {
		if (errno != EINTR) {
			close(fd);
			return KMES_ERR_SYSTEM;
		}
	}
	*fdp = fd;
	return 0;
}

static void
lock_release(int fd)
{
	if (fd != -1)
		close(fd); /* drops the flock */
}

/*
 * Reads PATH as it is now: it must be the same store (same id) and, while
 * logged in, carry a MAC made with our data key.
 */
static int
reload(const struct ks_store *s, struct ks_image **imgp, struct stat *stp)
{
	struct kbuf *file = NULL;
	struct ks_image *img = NULL;
	int r;

	*imgp = NULL;
	if ((r = read_file(s->path, &file, stp)) != 0 ||
	    (r = ks_image_parse(file, &img)) != 0)
		goto out;
	if (kmes_ct_memcmp(img->id, s->img->id, sizeof(img->id)) != 0) {
		r = KMES_ERR_STORE_CORRUPT;
		goto out;
	}
	if (s->sec != NULL && (r = ks_image_check_mac(img, s->sec)) != 0)
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

/* Writes *imgp as PATH and makes it current (lock held). */
static int
commit(struct ks_store *s, struct ks_image **imgp)
{
	struct kbuf *b = NULL;
	struct stat st;
	int r;

	if ((b = kbuf_new()) == NULL)
		return KMES_ERR_ALLOC;
	if ((r = ks_image_encode(*imgp, b)) != 0 ||
	    (r = write_file(s, b, 0, &st)) != 0)
		goto out;
	install(s, imgp, &st);
 out:
	kbuf_free(b);
	return r;
}

/* Re-read, change, MAC, write: all under the exclusive lock. */
static int
mutate(struct ks_store *s, int (*apply)(struct ks_image *, void *),
    void *arg)
{
	struct ks_image *img = NULL;
	struct stat st;
	int lockfd = -1, r;

	if (s->sec == NULL)
		return KMES_ERR_NOT_LOGGED_IN;
	if ((r = lock_take(s, LOCK_EX, &lockfd)) != 0 ||
	    (r = reload(s, &img, &st)) != 0 ||
	    (r = apply(img, arg)) != 0)
		goto out;
	img->generation++;
	if ((r = ks_image_set_mac(img, s->sec)) != 0 ||
	    (r = commit(s, &img)) != 0)
		goto out;
 out:
	ks_image_free(img);
	lock_release(lockfd);
	return r;
}

static int
valid_pin(const uint8_t *pin, size_t pinlen)
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
	    !valid_pin(pin, pinlen) || !valid_pin(so_pin, so_pinlen) ||
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
	if ((r = make_dirs(s->dir)) != 0 || (r = check_dir(s->dir)) != 0)
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
	if ((r = lock_take(s, LOCK_EX, &lockfd)) != 0 ||
	    (r = write_file(s, b, 1, &st)) != 0)
		goto out;
	r = 0;
 out:
	lock_release(lockfd);
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
	    (r = read_file(s->path, &file, &s->st)) != 0 ||
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

/* Every replacement is a new inode, and rename touches the ctime. */
static int
same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	    a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	    a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
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
	if (lstat(s->path, &st) != 0)
		return errno == ENOENT ? KMES_ERR_STORE_NOT_FOUND :
		    KMES_ERR_SYSTEM;
	if (same_file(&st, &s->st))
		return 0;
	if ((r = reload(s, &img, &st)) != 0)
		return r;
	install(s, &img, &st);
	if (changed != NULL)
		*changed = 1;
	return 0;
}

const char *
ks_store_path(const struct ks_store *s)
{
	return s->path;
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
	return 0;
}

long
ks_store_find(const struct ks_store *s, const char *label)
{
	if (label == NULL)
		return -1;
	return ks_image_find(s->img, label);
}

/*
 * Counts the attempt on disk before the KDF runs: killing the process
 * during the slow part must not give a free guess.
 */
static int
count_attempt(struct ks_store *s, enum ks_role role)
{
	struct ks_image *img = NULL;
	struct stat st;
	int lockfd = -1, r;

	if ((r = lock_take(s, LOCK_EX, &lockfd)) != 0 ||
	    (r = reload(s, &img, &st)) != 0)
		goto out;
	if (img->failures[role] >= KS_STORE_MAX_TRIES) {
		install(s, &img, &st);
		r = KMES_ERR_PIN_LOCKED;
		goto out;
	}
	img->failures[role]++;
	r = commit(s, &img);
 out:
	ks_image_free(img);
	lock_release(lockfd);
	return r;
}

/* A good PIN zeroes its counter (in the file as it is now). */
static int
reset_attempts(struct ks_store *s, enum ks_role role)
{
	struct ks_image *img = NULL;
	struct stat st;
	int lockfd = -1, r;

	if ((r = lock_take(s, LOCK_EX, &lockfd)) != 0 ||
	    (r = reload(s, &img, &st)) != 0)
		goto out;
	if (img->failures[role] == 0) {
		install(s, &img, &st);
		goto out;
	}
	img->failures[role] = 0;
	r = commit(s, &img);
 out:
	ks_image_free(img);
	lock_release(lockfd);
	return r;
}

void
ks_store_logout(struct ks_store *s)
{
	if (s == NULL)
		return;
	kmes_secure_free(s->sec);
	s->sec = NULL;
	s->so = 0;
}

int
ks_store_login(struct ks_store *s, int so, const uint8_t *pin,
    size_t pinlen, unsigned int *tries_left)
{
	enum ks_role role = so ? KS_ROLE_SO : KS_ROLE_USER;
	struct ks_secrets *sec = NULL;
	int r;

	/* The contract reports tries left on failure too. */
	if (tries_left != NULL)
		*tries_left = 0;
	if (s == NULL || (so != 0 && so != 1) || !valid_pin(pin, pinlen))
		return KMES_ERR_INVALID_ARGUMENT;
	ks_store_logout(s);
	if ((sec = kmes_secure_alloc(sizeof(*sec))) == NULL)
		return KMES_ERR_ALLOC;
	if ((r = count_attempt(s, role)) != 0 ||
	    (r = ks_wrap_open(s->img, role, pin, pinlen, sec->dk)) != 0 ||
	    (r = ks_secrets_derive(sec)) != 0)
		goto out;
	/* The PIN is right; the rest of the file must be untouched too. */
	if ((r = ks_image_check_mac(s->img, sec)) != 0)
		goto out;
	s->sec = sec;
	s->so = so;
	sec = NULL;
	if ((r = reset_attempts(s, role)) != 0) {
		ks_store_logout(s);
		goto out;
	}
	r = 0;
 out:
	if (tries_left != NULL)
		*tries_left = KS_STORE_MAX_TRIES -
		    s->img->failures[KS_ROLE_USER];
	kmes_secure_free(sec);
	return r;
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

	if (ks_image_find(img, rec->label) != -1)
		return KMES_ERR_EXISTS;
	return ks_image_append(img, rec);
}

int
ks_store_add_key(struct ks_store *s, const char *label,
    const struct ks_key *key, uint32_t flags)
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
	    (flags & ~(KS_REC_CONFIRM | KS_REC_GENERATED |
	    KS_REC_NEVER_EXTRACTABLE)) != 0)
		return KMES_ERR_INVALID_ARGUMENT;
	if (s->sec == NULL)
		return KMES_ERR_NOT_LOGGED_IN;
	/* Fail early; apply_add checks again against the file under lock. */
	if (ks_image_find(s->img, label) != -1)
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

/* Also the unblock: the counter is reset with the new PIN. */
static int
apply_set_pin(struct ks_image *img, void *arg)
{
	const struct ks_wrap *w = arg;

	img->wrap[KS_ROLE_USER] = *w;
	img->failures[KS_ROLE_USER] = 0;
	return 0;
}

int
ks_store_set_pin(struct ks_store *s, const uint8_t *new_pin,
    size_t new_pinlen)
{
	struct ks_wrap w;
	int r;

	if (s == NULL || !valid_pin(new_pin, new_pinlen))
		return KMES_ERR_INVALID_ARGUMENT;
	if (s->sec == NULL)
		return KMES_ERR_NOT_LOGGED_IN;
	/* The slow KDF runs before the lock is taken. */
	if ((r = ks_wrap_seal(s->img, KS_ROLE_USER, new_pin, new_pinlen,
	    s->sec->dk, &w)) != 0)
		return r;
	return mutate(s, apply_set_pin, &w);
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
