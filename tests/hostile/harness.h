/*
 * harness.h: what the hostile-client test needs besides its checks: TAP
 * output, a real kmes-agent child process, and raw socket I/O in which every
 * wait has a deadline, so a wedged agent fails the test instead of hanging
 * it.
 */
#ifndef KMES_HOSTILE_HARNESS_H
#define KMES_HOSTILE_HARNESS_H

#include <sys/types.h>

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

struct kbuf;

/*
 * The raw I/O helpers return 0 or a negative KMES_ERR_*, of which these
 * are outcomes rather than faults: KMES_ERR_CONNECTION_CLOSED (the agent
 * hung up: EOF or reset), KMES_ERR_TIMEOUT (nothing before the deadline),
 * KMES_ERR_AGENT_PROTOCOL (the agent sent a malformed frame).
 */

/* Default wait for one reply from a healthy agent. */
#define H_REPLY_MS 5000

struct h_agent {
	pid_t pid;	    /* -1 once reaped */
	int status;	    /* wait status once reaped */
	char dir[PATH_MAX]; /* private temporary directory */
	char sock[108];	    /* fits sun_path */
	char out[PATH_MAX]; /* its stdout */
	char err[PATH_MAX]; /* its stderr */
};

/* TAP. Checks number themselves; the plan is printed by tap_done(). */
int tap_check(int ok, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Shows the last lines of a file as diagnostics. */
void tap_diag_file(const char *path, int lines);
/* Prints "Bail out!", stops the agent and exits 1. */
void tap_bail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
/* Prints the plan; returns the number of failed checks. */
int tap_done(void);

/*
 * Creates a temporary directory, starts path with "-D -a dir/agent.sock"
 * (stdout and stderr to files there) and waits for it to accept
 * connections. Returns 0 or -1.
 */
int h_agent_start(struct h_agent *a, const char *path);

/* Returns 1 if the agent is running (not exited, not a zombie), else 0. */
int h_agent_alive(struct h_agent *a);

/*
 * Sends SIGTERM and waits up to timeout_ms; kills it if it lingers.
 * Returns 0 if it exited by itself in time, else -1.
 */
int h_agent_stop(struct h_agent *a, int timeout_ms);

/* Removes the temporary directory and what the agent left in it. */
void h_agent_cleanup(struct h_agent *a);

/* Kills the agent and bails out if the whole test runs over seconds. */
void h_watchdog(struct h_agent *a, unsigned int seconds);

/* Connects to the agent socket. Returns a non-blocking descriptor or -1. */
int h_connect(const char *sock, int timeout_ms);

/*
 * Writes all of p. Returns 0, KMES_ERR_CONNECTION_CLOSED, KMES_ERR_TIMEOUT
 * or KMES_ERR_SYSTEM.
 */
int h_send(int fd, const void *p, size_t len, int timeout_ms);

/* Writes body as one frame (u32 length, body). As h_send. */
int h_send_frame(int fd, const struct kbuf *body, int timeout_ms);

/*
 * Reads one reply frame into body (reset first). Returns 0,
 * KMES_ERR_CONNECTION_CLOSED (closed before a frame started),
 * KMES_ERR_TIMEOUT, KMES_ERR_AGENT_PROTOCOL or another negative KMES_ERR_*.
 */
int h_recv_frame(int fd, struct kbuf *body, int timeout_ms);

/* h_send_frame, then h_recv_frame. */
int h_request(int fd, const struct kbuf *body, struct kbuf *reply,
    int timeout_ms);

/*
 * Waits for the agent to close fd. Returns KMES_ERR_CONNECTION_CLOSED if it
 * did, 0 if it sent something instead, or KMES_ERR_TIMEOUT.
 */
int h_wait_drop(int fd, int timeout_ms);

/* Returns the message type of a reply, or -1 if it is empty. */
int h_reply_type(const struct kbuf *reply);

#endif /* KMES_HOSTILE_HARNESS_H */
