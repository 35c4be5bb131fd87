/*
 * testkit.c: the agent child process and the clock, for kmes-bench and the
 * tests. We only ever signal a child by the PID fork() gave us.
 */
#include <sys/prctl.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent-client.h"
#include "kmes-err.h"
#include "testkit.h"

#define POLL_MS 10

uint64_t
tk_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
tk_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int
tk_path_in(char *dst, size_t len, const char *dir, const char *name)
{
	int n = snprintf(dst, len, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

long
tk_proc_kb(pid_t pid, const char *field)
{
	char path[64], line[256], *end;
	size_t flen = strlen(field);
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, field, flen) != 0 || line[flen] != ':')
			continue;
		errno = 0;
		kb = strtol(line + flen + 1, &end, 10);
		if (errno != 0 || end == line + flen + 1 || kb < 0)
			kb = -1;
		break;
	}
	fclose(f);
	return kb;
}

/* Runs in the forked child: only async-signal-safe calls until exec. */
static void
exec_agent(const struct tk_spawn *sp)
{
	char *argv[] = { (char *)sp->path, "-D", "-a", (char *)sp->sock, NULL };
	int nullfd;

	/* An agent must not outlive a benchmark or test that crashed. */
	(void)prctl(PR_SET_PDEATHSIG, sp->deathsig, 0, 0, 0);
	/* Dispositions we set for ourselves are not the agent's business. */
	(void)signal(SIGPIPE, SIG_DFL);
	(void)signal(SIGALRM, SIG_DFL);
	if ((nullfd = open("/dev/null", O_RDONLY)) != -1)
		(void)dup2(nullfd, STDIN_FILENO);
	(void)dup2(sp->outfd, STDOUT_FILENO);
	(void)dup2(sp->errfd, STDERR_FILENO);
	execv(sp->path, argv);
	dprintf(STDERR_FILENO, "%s: exec %s: %s\n",
	    program_invocation_short_name, sp->path, strerror(errno));
	_exit(127);
}

int
tk_agent_spawn(const struct tk_spawn *sp, pid_t *pidp)
{
	pid_t pid;

	*pidp = -1;
	if ((pid = fork()) == -1)
		return KMES_ERR_SYSTEM;
	if (pid == 0)
		exec_agent(sp);
	*pidp = pid;
	return 0;
}

int
tk_agent_wait_ready(pid_t pid, const char *sock, int timeout_ms, int *status)
{
	uint64_t deadline = tk_now_ms() + (uint64_t)timeout_ms;
	struct agent_client *ac = NULL;
	int st;

	for (;;) {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			/* It gave up (bad path, socket in use): see its log. */
			*status = st;
			return KMES_ERR_SYSTEM;
		}
		if (agent_client_connect(sock, &ac) == 0) {
			agent_client_free(ac);
			return 0;
		}
		if (tk_now_ms() >= deadline)
			return KMES_ERR_TIMEOUT;
		tk_sleep_ms(POLL_MS);
	}
}

int
tk_child_alive(pid_t *pidp, int *status)
{
	int st;
	pid_t r;

	if (*pidp <= 0)
		return 0;
	/* kill(pid, 0) succeeds on a zombie; only waitpid tells the truth. */
	if ((r = waitpid(*pidp, &st, WNOHANG)) == 0)
		return 1;
	if (r == *pidp) {
		*status = st;
		*pidp = -1;
	}
	return 0;
}

int
tk_child_stop(pid_t *pidp, int timeout_ms, int *status)
{
	uint64_t deadline = tk_now_ms() + (uint64_t)timeout_ms;
	int st;
	pid_t r;

	if (*pidp <= 0)
		return -1;
	(void)kill(*pidp, SIGTERM);
	for (;;) {
		r = waitpid(*pidp, &st, WNOHANG);
		if (r == *pidp) {
			*status = st;
			*pidp = -1;
			return 0;
		}
		if ((r == -1 && errno != EINTR) || tk_now_ms() >= deadline)
			break;
		tk_sleep_ms(POLL_MS);
	}
	(void)kill(*pidp, SIGKILL);
	while ((r = waitpid(*pidp, &st, 0)) == -1 && errno == EINTR)
		;
	if (r == *pidp)
		*status = st;
	*pidp = -1;
	return -1;
}
