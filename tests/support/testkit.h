/*
 * testkit.h: process helpers shared by kmes-bench and the tests: a real
 * agent as a foreground child process, started, watched and stopped only
 * by the PID fork() gave us, plus the clock and /proc readings around it.
 */
#ifndef KMES_TESTKIT_H
#define KMES_TESTKIT_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

/* How to run one agent child. */
struct tk_spawn {
	const char *path; /* the agent program */
	const char *sock; /* its socket, given as "-D -a sock" */
	int outfd;	  /* its stdout */
	int errfd;	  /* its stderr */
	int deathsig;	  /* sent to it if we die first */
};

/* Returns the monotonic clock in milliseconds. */
uint64_t tk_now_ms(void);

/* Sleeps for ms milliseconds, resuming after signals. */
void tk_sleep_ms(long ms);

/* Writes "dir/name" to dst. Returns 0, or -1 if it does not fit in len. */
int tk_path_in(char *dst, size_t len, const char *dir, const char *name);

/* Reads "field:" (in kB) from /proc/pid/status; -1 if unavailable. */
long tk_proc_kb(pid_t pid, const char *field);

/*
 * Forks and execs sp->path in the foreground on sp->sock, stdin on
 * /dev/null. Returns 0 and the child in *pidp, or KMES_ERR_SYSTEM.
 */
int tk_agent_spawn(const struct tk_spawn *sp, pid_t *pidp);

/*
 * Waits up to timeout_ms for pid to accept connections on sock. Returns 0,
 * KMES_ERR_TIMEOUT, or KMES_ERR_SYSTEM if it exited first (its wait status
 * in *status; it has been reaped).
 */
int tk_agent_wait_ready(pid_t pid, const char *sock, int timeout_ms,
    int *status);

/*
 * Returns 1 if *pidp is running (not exited, not a zombie), else 0. Reaps
 * a child that has exited: its wait status to *status, -1 to *pidp.
 */
int tk_child_alive(pid_t *pidp, int *status);

/*
 * Sends SIGTERM to *pidp and waits up to timeout_ms, then SIGKILL if it
 * lingers; once reaped, its wait status goes to *status. Sets *pidp to -1.
 * Returns 0 if it exited by itself in time, else -1 (also if *pidp <= 0).
 */
int tk_child_stop(pid_t *pidp, int timeout_ms, int *status);

#endif /* KMES_TESTKIT_H */
