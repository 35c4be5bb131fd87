/*
 * listen.c: the agent's listening socket.
 *
 * Either we bind one (0600 from birth, in a private 0700 directory unless
 * -a names the path), or systemd passed one (socket activation: the
 * LISTEN_PID/LISTEN_FDS protocol of sd_listen_fds(3)). An inherited socket
 * is checked to be what we would have made ourselves, a listening AF_UNIX
 * stream socket, because the agent trusts its peers' credentials to come
 * from SO_PEERCRED on a local socket and nothing else.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "listen.h"

#define PROGNAME "kmes-agent"
/* sd_listen_fds(3): the first passed descriptor. */
#define LISTEN_FDS_START 3

void
listen_sock_init(struct listen_sock *ls)
{
	memset(ls, 0, sizeof(*ls));
	ls->fd = -1;
}

/* A decimal environment value, or -1 if unset or not a plain number. */
static long
env_number(const char *name)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end != '\0' || errno != 0 || v < 0)
		return -1;
	return v;
}

static int
sockopt_int(int fd, int opt, int *v)
{
	socklen_t len = sizeof(*v);

	return getsockopt(fd, SOL_SOCKET, opt, v, &len) == 0 &&
		len == sizeof(*v) ?
	    0 :
	    -1;
}

int
listen_activated(struct listen_sock *ls)
{
	struct sockaddr_un sun;
	socklen_t slen = sizeof(sun);
	struct stat st;
	long pid, nfds;
	int fd = LISTEN_FDS_START, v, flags;

	pid = env_number("LISTEN_PID");
	nfds = env_number("LISTEN_FDS");
	/* Meant for another process (we were exec'd by it): not ours. */
	if (pid != (long)getpid())
		return 0;
	/* Whatever happens next, our children must not see these. */
	(void)unsetenv("LISTEN_PID");
	(void)unsetenv("LISTEN_FDS");
	(void)unsetenv("LISTEN_FDNAMES");
	if (nfds != 1) {
		fprintf(stderr,
		    PROGNAME
		    ": socket activation: expected one "
		    "socket, LISTEN_FDS says %ld (use one ListenStream= in "
		    "the .socket unit)\n",
		    nfds);
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
		fprintf(stderr,
		    PROGNAME ": socket activation: descriptor %d "
			     "is not a socket\n",
		    fd);
		return -1;
	}
	if (sockopt_int(fd, SO_DOMAIN, &v) != 0 || v != AF_UNIX ||
	    sockopt_int(fd, SO_TYPE, &v) != 0 || v != SOCK_STREAM) {
		fprintf(stderr,
		    PROGNAME
		    ": socket activation: descriptor %d "
		    "is not a UNIX stream socket (ListenStream= must be a "
		    "path)\n",
		    fd);
		return -1;
	}
	if (sockopt_int(fd, SO_ACCEPTCONN, &v) != 0 || v != 1) {
		fprintf(stderr,
		    PROGNAME ": socket activation: descriptor %d "
			     "is not listening (Accept=yes is not supported)\n",
		    fd);
		return -1;
	}
	/* The loops accept until EAGAIN; children must not inherit it. */
	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
		fprintf(stderr, PROGNAME ": socket activation: %s\n",
		    strerror(errno));
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	if (getsockname(fd, (struct sockaddr *)&sun, &slen) == 0 &&
	    slen > offsetof(struct sockaddr_un, sun_path) &&
	    sun.sun_path[0] != '\0') {
		sun.sun_path[sizeof(sun.sun_path) - 1] = '\0';
		snprintf(ls->path, sizeof(ls->path), "%s", sun.sun_path);
	} else
		snprintf(ls->path, sizeof(ls->path), "(socket activation)");
	ls->fd = fd;
	ls->activated = 1;
	return 1;
}

int
listen_bind(struct listen_sock *ls, const char *path)
{
	struct sockaddr_un sun;
	struct stat st;
	mode_t old;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path) ||
	    strlen(path) >= sizeof(ls->path)) {
		fprintf(stderr, PROGNAME ": socket path too long: %s\n", path);
		return -1;
	}
	if (lstat(path, &st) == 0) {
		fprintf(stderr,
		    PROGNAME ": cannot bind to %s: a file already "
			     "exists there (left untouched)\n",
		    path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		 0)) == -1) {
		perror(PROGNAME ": socket");
		return -1;
	}
	/* The socket is born 0600: no window where others may connect. */
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, PROGNAME ": cannot bind to %s: %s\n", path,
		    strerror(errno));
		umask(old);
		close(fd);
		return -1;
	}
	umask(old);
	if (listen(fd, 128) == -1) {
		perror(PROGNAME ": listen");
		(void)unlink(path);
		close(fd);
		return -1;
	}
	snprintf(ls->path, sizeof(ls->path), "%s", path);
	ls->fd = fd;
	return 0;
}

int
listen_private(struct listen_sock *ls, pid_t pid)
{
	const char *bases[] = { getenv("XDG_RUNTIME_DIR"), getenv("TMPDIR"),
		"/tmp" };
	char path[sizeof(ls->path)];
	struct stat st;
	size_t i;
	int n, saved = 0;

	for (i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		if (bases[i] == NULL || bases[i][0] != '/' ||
		    stat(bases[i], &st) != 0 || !S_ISDIR(st.st_mode))
			continue;
		n = snprintf(ls->dir, sizeof(ls->dir), "%s/kmes-agent.XXXXXX",
		    bases[i]);
		if (n < 0 || (size_t)n >= sizeof(ls->dir) ||
		    mkdtemp(ls->dir) == NULL) {
			saved = errno;
			ls->dir[0] = '\0';
			continue;
		}
		n = snprintf(path, sizeof(path), "%s/agent.%ld", ls->dir,
		    (long)pid);
		if (n < 0 || (size_t)n >= sizeof(path)) {
			(void)rmdir(ls->dir);
			ls->dir[0] = '\0';
			saved = ENAMETOOLONG;
			continue;
		}
		if (listen_bind(ls, path) != 0) {
			(void)rmdir(ls->dir);
			ls->dir[0] = '\0';
			return -1;
		}
		return 0;
	}
	fprintf(stderr,
	    PROGNAME ": cannot create a private socket "
		     "directory: %s\n",
	    strerror(saved != 0 ? saved : ENOENT));
	return -1;
}

void
listen_cleanup(struct listen_sock *ls)
{
	if (ls->activated)
		return;
	if (ls->path[0] != '\0')
		(void)unlink(ls->path);
	if (ls->dir[0] != '\0')
		(void)rmdir(ls->dir);
	ls->path[0] = '\0';
	ls->dir[0] = '\0';
}

int
listen_unit_socket_path(char *buf, size_t len)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");
	int n;

	/* What systemd's %t expands to in a user unit. */
	if (rt != NULL && rt[0] == '/')
		n = snprintf(buf, len, "%s/kmes-agent/socket", rt);
	else
		n = snprintf(buf, len, "/run/user/%lu/kmes-agent/socket",
		    (unsigned long)getuid());
	return n < 0 || (size_t)n >= len ? -1 : 0;
}
