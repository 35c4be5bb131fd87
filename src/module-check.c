/*
 * module-check.c: the checks a PKCS#11 module passes before anything
 * dlopen()s it.
 *
 * dlopen() runs a library's constructors before anyone can ask whether it
 * is a PKCS#11 module, so "is it a module?" comes too late to protect
 * anything: what can be checked is who controls the file and that it is a
 * shared object at all. The checks run on an open descriptor, and the
 * helper loads that very descriptor (/proc/self/fd/N), so nothing can swap
 * the file between the check and the load.
 *
 * The directories above the file are not checked: the inode checked is the
 * inode loaded, and a file that someone else planted through a writable
 * directory is owned by them and fails the owner check. (A hard link to a
 * file of root's needs read and write access to it when protected_hardlinks
 * is on, as it is by default.)
 */
#include <sys/stat.h>

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kmes-err.h"
#include "module-check.h"

/* Reads exactly len bytes at offset 0; -1 if the file is shorter. */
static int
read_head(int fd, void *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = pread(fd, (char *)buf + got, len - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

/* This program's own ELF header: what a module must match to load here. */
static int
self_ehdr(ElfW(Ehdr) * eh)
{
	int fd, r;

	if ((fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	r = read_head(fd, eh, sizeof(*eh));
	close(fd);
	return r;
}

int
modcheck_fd(int fd, uid_t uid, char *err, size_t errlen)
{
	ElfW(Ehdr) eh, self;
	struct stat st;

	err[0] = '\0';
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "fstat: %s", strerror(errno));
		return KMES_ERR_SYSTEM;
	}
	/* A FIFO would hang dlopen(); a device could be anything. */
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "not a regular file");
		return KMES_ERR_INVALID_ARGUMENT;
	}
	/* Whoever may write the file decides what code the agent runs. */
	if (st.st_uid != 0 && st.st_uid != uid) {
		snprintf(err, errlen,
		    "owned by uid %lu, not by root or uid %lu",
		    (unsigned long)st.st_uid, (unsigned long)uid);
		return KMES_ERR_DENIED;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		snprintf(err, errlen, "writable by group or others (mode %04o)",
		    (unsigned int)(st.st_mode & 07777));
		return KMES_ERR_DENIED;
	}
	if ((size_t)st.st_size < sizeof(eh) ||
	    read_head(fd, &eh, sizeof(eh)) != 0 ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
		snprintf(err, errlen, "not an ELF file");
		return KMES_ERR_INVALID_FORMAT;
	}
	if (self_ehdr(&self) != 0) {
		snprintf(err, errlen, "cannot read /proc/self/exe to compare");
		return KMES_ERR_SYSTEM;
	}
	/* Class and byte order first: only then are the fields ours. */
	if (eh.e_ident[EI_CLASS] != self.e_ident[EI_CLASS] ||
	    eh.e_ident[EI_DATA] != self.e_ident[EI_DATA] ||
	    eh.e_ident[EI_VERSION] != EV_CURRENT ||
	    eh.e_machine != self.e_machine) {
		snprintf(err, errlen,
		    "an ELF file for another machine "
		    "(class %u, data %u, machine %u; this agent: %u, %u, %u)",
		    eh.e_ident[EI_CLASS], eh.e_ident[EI_DATA],
		    (unsigned int)eh.e_machine, self.e_ident[EI_CLASS],
		    self.e_ident[EI_DATA], (unsigned int)self.e_machine);
		return KMES_ERR_INVALID_FORMAT;
	}
	if (eh.e_type != ET_DYN) {
		snprintf(err, errlen, "not a shared object (ELF type %u)",
		    (unsigned int)eh.e_type);
		return KMES_ERR_INVALID_FORMAT;
	}
	return 0;
}

int
modcheck_open(const char *canon, uid_t uid, int *fdp, char *err, size_t errlen)
{
	char proc[64], seen[PATH_MAX];
	ssize_t n;
	int fd = -1, r;

	*fdp = -1;
	err[0] = '\0';
	/*
	 * O_NONBLOCK: opening a FIFO for reading must not wait for a writer.
	 * O_NOFOLLOW: canon came from realpath(); a symlink here now was
	 * put there since.
	 */
	if ((fd = open(canon,
		 O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)) ==
	    -1) {
		snprintf(err, errlen, "%s",
		    errno == ELOOP ?
			"a symbolic link appeared in place of the file" :
			strerror(errno));
		r = errno == ENOENT ? KMES_ERR_INVALID_ARGUMENT :
				      KMES_ERR_SYSTEM;
		goto out;
	}
	/*
	 * The allow-list matched canon; make sure canon is what we opened
	 * (a directory on the way may have been renamed since realpath).
	 */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if ((n = readlink(proc, seen, sizeof(seen) - 1)) < 0) {
		snprintf(err, errlen, "readlink %s: %s", proc, strerror(errno));
		r = KMES_ERR_SYSTEM;
		goto out;
	}
	seen[n] = '\0';
	if (strcmp(seen, canon) != 0) {
		snprintf(err, errlen, "the file moved while it was checked");
		r = KMES_ERR_DENIED;
		goto out;
	}
	if ((r = modcheck_fd(fd, uid, err, errlen)) != 0)
		goto out;
	*fdp = fd;
	fd = -1;
	r = 0;
out:
	if (fd != -1)
		close(fd);
	return r;
}
