/*
 * fdio.c: whole-buffer reads and writes.
 */
#include <errno.h>
#include <unistd.h>

#include "fdio.h"
#include "kmes-err.h"

int
kmes_write_all(int fd, const void *p, size_t len)
{
	const uint8_t *b = p;
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, b, len)) == -1) {
			if (errno == EINTR)
				continue;
			return KMES_ERR_SYSTEM;
		}
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

int
kmes_read_all(int fd, void *p, size_t len)
{
	uint8_t *b = p;
	ssize_t n;

	while (len > 0) {
		if ((n = read(fd, b, len)) == -1) {
			if (errno == EINTR)
				continue;
			/* A blocking fd whose SO_RCVTIMEO ran out. */
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return KMES_ERR_TIMEOUT;
			return KMES_ERR_SYSTEM;
		}
		if (n == 0)
			return KMES_ERR_CONNECTION_CLOSED;
		b += n;
		len -= (size_t)n;
	}
	return 0;
}
