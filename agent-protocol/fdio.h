/*
 * fdio.h: whole-buffer reads and writes on blocking descriptors.
 */
#ifndef KMES_FDIO_H
#define KMES_FDIO_H

#include <stddef.h>
#include <stdint.h>

/* Writes all len bytes, retrying on EINTR. Returns 0 or KMES_ERR_SYSTEM. */
int kmes_write_all(int fd, const void *p, size_t len)
    __attribute__((warn_unused_result));

/*
 * Reads exactly len bytes, retrying on EINTR. Returns 0,
 * KMES_ERR_CONNECTION_CLOSED at end of file, KMES_ERR_TIMEOUT when the
 * descriptor's SO_RCVTIMEO runs out, or KMES_ERR_SYSTEM.
 */
int kmes_read_all(int fd, void *p, size_t len)
    __attribute__((warn_unused_result));

#endif /* KMES_FDIO_H */
