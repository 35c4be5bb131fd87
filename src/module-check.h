/*
 * module-check.h: what a file must be before a PKCS#11 helper may dlopen()
 * it (src/ only). The agent opens and checks the module, hands the open
 * descriptor to the helper, and the helper checks that descriptor again and
 * loads it through /proc/self/fd: the file checked is the file loaded.
 */
#ifndef KMES_MODULE_CHECK_H
#define KMES_MODULE_CHECK_H

#include <sys/types.h>

#include <stddef.h>

/*
 * Checks the open file fd: a regular file, owned by root or uid, writable
 * by nobody else, starting with the ELF header of a shared object (ET_DYN)
 * of this program's class, byte order and machine. Returns 0 or a negative
 * KMES_ERR_*, with a message for the user in err.
 */
int modcheck_fd(int fd, uid_t uid, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * Opens canon (a path realpath() made) without following a final symlink
 * and without blocking on a FIFO, checks that the descriptor still names
 * canon (no directory on the way was swapped) and runs modcheck_fd on it.
 * Returns 0 with a close-on-exec descriptor in *fdp, or a negative
 * KMES_ERR_* with a message in err.
 */
int modcheck_open(const char *canon, uid_t uid, int *fdp, char *err,
    size_t errlen) __attribute__((warn_unused_result));

#endif /* KMES_MODULE_CHECK_H */
