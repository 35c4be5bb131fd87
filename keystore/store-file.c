/*
 * store-file.c: the key store's files: reading PATH whole, replacing it
 * atomically (PATH.tmp, fsync, rename, fsync the directory), the writers'
 * lock on PATH.lock, and the directory's permissions. See the top of
 * store.c for how they fit together.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdio.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "store-int.h"

void
ks_files_clear(struct ks_files *f)
{
	free(f->path);
	free(f->lock);
	free(f->tmp);
	free(f->slots);
	free(f->backup);
	free(f->backup_tmp);
	free(f->dir);
	memset(f, 0, sizeof(*f));
}

int
ks_files_init(const char *path, struct ks_files *f)
{
	const char *slash;
	size_t len;
	int r;

	memset(f, 0, sizeof(*f));
	if (path == NULL || (len = strlen(path)) == 0 || len > PATH_MAX - 8 ||
	    path[len - 1] == '/')
		return KMES_ERR_INVALID_ARGUMENT;
	r = KMES_ERR_ALLOC;
	if ((slash = strrchr(path, '/')) == NULL)
		f->dir = strdup(".");
	else if (slash == path)
		f->dir = strdup("/");
	else
		f->dir = strndup(path, (size_t)(slash - path));
	if (f->dir == NULL || (f->path = strdup(path)) == NULL)
		goto out;
	/* asprintf leaves the pointer undefined when it fails. */
	if (asprintf(&f->lock, "%s.lock", path) < 0) {
		f->lock = NULL;
		goto out;
	}
	if (asprintf(&f->tmp, "%s.tmp", path) < 0) {
		f->tmp = NULL;
		goto out;
	}
	if (asprintf(&f->slots, "%s.slots", path) < 0) {
		f->slots = NULL;
		goto out;
	}
	if (asprintf(&f->backup, "%s.1", path) < 0) {
		f->backup = NULL;
		goto out;
	}
	if (asprintf(&f->backup_tmp, "%s.1.tmp", path) < 0) {
		f->backup_tmp = NULL;
		goto out;
	}
	r = 0;
out:
	if (r != 0)
		ks_files_clear(f);
	return r;
}

/*
 * Anyone who can write the directory can rename their own file over ours
 * (or plant PATH.tmp and PATH.lock): refuse such directories for writing.
 */
int
ks_dir_check(const char *dir)
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
int
ks_dir_make(const char *dir)
{
	struct stat st;
	char *parent = NULL, *slash;
	int r;

	if (stat(dir, &st) == 0)
		return 0; /* ks_dir_check says whether it will do */
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
	if ((r = ks_dir_make(parent)) != 0)
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
int
ks_file_read(const char *path, struct kbuf **filep, struct stat *stp)
{
	struct kbuf *b = NULL;
	struct stat st;
	uint8_t *p, extra;
	size_t got = 0;
	ssize_t n;
	int fd, r;

	*filep = NULL;
	fd = open(path,
	    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
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

/* Puts PATH.tmp in place of PATH, or beside nothing if create is set. */
static int
install_tmp(const struct ks_files *f, int create)
{
	if (!create)
		return rename(f->tmp, f->path) == 0 ? 0 : KMES_ERR_SYSTEM;
	if (renameat2(AT_FDCWD, f->tmp, AT_FDCWD, f->path, RENAME_NOREPLACE) ==
	    0)
		return 0;
	if (errno == EEXIST)
		return KMES_ERR_EXISTS;
	if (errno != EINVAL && errno != ENOSYS)
		return KMES_ERR_SYSTEM;
	/* No RENAME_NOREPLACE here: link(2) refuses to replace, too. */
	if (link(f->tmp, f->path) != 0)
		return errno == EEXIST ? KMES_ERR_EXISTS : KMES_ERR_SYSTEM;
	(void)unlink(f->tmp);
	return 0;
}

/*
 * Keeps the file now at PATH as PATH.1 before it is replaced. PATH is never
 * written in place, so a second name for its inode is an exact, already
 * fsynced copy with the same mode; link then rename makes the switch
 * atomic, so PATH.1 is always a whole file (the old backup or this one).
 * old is the stat of what the caller read and checked under the lock: if
 * PATH is some other file now, it is not kept.
 */
static int
keep_backup(const struct ks_files *f, const struct stat *old)
{
	struct stat st;

	if (lstat(f->path, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_dev != old->st_dev || st.st_ino != old->st_ino)
		return KMES_ERR_STORE_CORRUPT;
	/* We hold the lock: a PATH.1.tmp is a crashed writer's. */
	if (unlink(f->backup_tmp) != 0 && errno != ENOENT)
		return KMES_ERR_SYSTEM;
	if (link(f->path, f->backup_tmp) != 0)
		return KMES_ERR_SYSTEM;
	if (rename(f->backup_tmp, f->backup) != 0) {
		(void)unlink(f->backup_tmp);
		return KMES_ERR_SYSTEM;
	}
	return 0;
}

/*
 * Writes data as the new PATH: PATH.tmp, fsync, (PATH.1,) rename, fsync the
 * directory. The caller holds the exclusive lock.
 */
int
ks_file_replace(const struct ks_files *f, const struct kbuf *data, int create,
    const struct stat *old, struct stat *stp)
{
	int fd = -1, tries, placed = 0, r;

	if ((r = ks_dir_check(f->dir)) != 0)
		return r;
	for (tries = 0;; tries++) {
		fd = open(f->tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd != -1)
			break;
		/*
		 * We hold the lock, so an existing PATH.tmp is a crashed
		 * writer's: remove it (never follow or reuse it).
		 */
		if (errno != EEXIST || tries > 0 ||
		    (unlink(f->tmp) != 0 && errno != ENOENT))
			return KMES_ERR_SYSTEM;
	}
	/* The umask may have taken bits away; it never adds any. */
	if (fchmod(fd, 0600) != 0 ||
	    kmes_write_all(fd, kbuf_ptr(data), kbuf_len(data)) != 0 ||
	    fsync(fd) != 0) {
		r = KMES_ERR_SYSTEM;
		goto out;
	}
	/* The directory fsync below makes PATH.1 durable with PATH. */
	if (!create && old != NULL && (r = keep_backup(f, old)) != 0)
		goto out;
	if ((r = install_tmp(f, create)) != 0)
		goto out;
	placed = 1;
	/* After the rename, which changes the inode's ctime. */
	if (fstat(fd, stp) != 0) {
		r = KMES_ERR_SYSTEM;
		goto out;
	}
	r = fsync_dir(f->dir);
out:
	if (!placed)
		(void)unlink(f->tmp);
	close(fd);
	return r;
}

int
ks_file_lock(const struct ks_files *f, int *fdp)
{
	int fd;

	*fdp = -1;
	fd = open(f->lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1)
		return errno == ENOENT ? KMES_ERR_STORE_NOT_FOUND :
					 KMES_ERR_SYSTEM;
	while (flock(fd, LOCK_EX) != 0) {
		if (errno != EINTR) {
			close(fd);
			return KMES_ERR_SYSTEM;
		}
	}
	*fdp = fd;
	return 0;
}

int
ks_slots_open(const struct ks_files *f, int *fdp)
{
	int fd;

	*fdp = -1;
	fd = open(f->slots, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1)
		return errno == ENOENT ? KMES_ERR_STORE_NOT_FOUND :
					 KMES_ERR_SYSTEM;
	*fdp = fd;
	return 0;
}

static void
slot_range(struct flock *fl, short type, unsigned int i)
{
	memset(fl, 0, sizeof(*fl));
	fl->l_type = type;
	fl->l_whence = SEEK_SET;
	fl->l_start = (off_t)i;
	fl->l_len = 1;
}

/*
 * OFD locks, not flock or classic fcntl locks: the kernel drops them when
 * the last descriptor goes (a killed process included), and they belong
 * to the open file, so two threads of one process are two owners.
 */
int
ks_slot_lock(int fd, unsigned int i, int wait)
{
	struct flock fl;

	for (;;) {
		slot_range(&fl, F_WRLCK, i);
		if (fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EACCES)
			return KMES_ERR_LOCKED;
		return KMES_ERR_SYSTEM;
	}
}

void
ks_slot_unlock(int fd, unsigned int i)
{
	struct flock fl;

	slot_range(&fl, F_UNLCK, i);
	(void)fcntl(fd, F_OFD_SETLK, &fl);
}

int
ks_slot_held(int fd, unsigned int i)
{
	struct flock fl;

	slot_range(&fl, F_WRLCK, i);
	if (fcntl(fd, F_OFD_GETLK, &fl) != 0)
		return KMES_ERR_SYSTEM;
	return fl.l_type != F_UNLCK;
}

void
ks_file_unlock(int fd)
{
	if (fd != -1)
		close(fd); /* drops the flock */
}

/* Every replacement is a new inode, and rename touches the ctime. */
int
ks_file_same(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	    a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	    a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}
