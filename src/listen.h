/*
 * listen.h: the agent's listening socket: one it binds itself (a private
 * directory, or -a path), or one inherited from systemd's socket activation.
 */
#ifndef KMES_LISTEN_H
#define KMES_LISTEN_H

#include <sys/types.h>
#include <sys/un.h>

#include <limits.h>

struct listen_sock {
	int fd;
	int activated;	    /* inherited: the activator owns the file */
	char dir[PATH_MAX]; /* our private directory, or "" */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

/* Sets ls to "no socket yet". */
void listen_sock_init(struct listen_sock *ls);

/*
 * Takes over the socket systemd (or systemd-socket-activate) passed, if
 * LISTEN_PID names this process; unsets LISTEN_* so that children do not
 * inherit them. Returns 1 when a socket was taken, 0 when the process was
 * not socket-activated, -1 after printing why the passed descriptors are
 * unusable.
 */
int listen_activated(struct listen_sock *ls);

/*
 * Binds and listens on path (mode 0600, no window where others may
 * connect); an existing file is left untouched. Returns 0, or -1 after
 * printing the reason.
 */
int listen_bind(struct listen_sock *ls, const char *path);

/*
 * Binds in a fresh 0700 directory under $XDG_RUNTIME_DIR, $TMPDIR or /tmp,
 * named after pid as ssh-agent does. Returns 0, or -1 after printing why.
 */
int listen_private(struct listen_sock *ls, pid_t pid);

/* Removes what listen_bind/listen_private created (never an inherited
 * socket's file); the descriptor stays open. Safe to call twice. */
void listen_cleanup(struct listen_sock *ls);

/*
 * The socket path the systemd user units use, $XDG_RUNTIME_DIR/kmes-agent/
 * socket (or /run/user/UID/...), into buf. Returns 0, or -1 if it does not
 * fit.
 */
int listen_unit_socket_path(char *buf, size_t len);

#endif /* KMES_LISTEN_H */
