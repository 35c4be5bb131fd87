/*
 * agents.c: starting, loading, watching and stopping the agents under test.
 * Both are plain child processes in the foreground (-D); we only ever signal
 * them by the PID fork() gave us.
 */
#include <sys/prctl.h>
#include <sys/stat.h>
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
#include "agent-msg.h"
#include "bench.h"
#include "kbuf.h"
#include "kmes-err.h"

#define POLL_MS 10
#define STOP_TIMEOUT_MS 5000

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Runs in the forked child: only async-signal-safe calls until exec. */
static void
exec_agent(const struct bench_agent *a, int logfd)
{
	char *argv[] = { (char *)a->path, "-D", "-a", (char *)a->sock, NULL };
	int nullfd;

	/* An agent must not outlive a benchmark that crashed. */
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
	/* Dispositions we set for ourselves are not the agent's business. */
	(void)signal(SIGPIPE, SIG_DFL);
	if ((nullfd = open("/dev/null", O_RDONLY)) != -1)
		(void)dup2(nullfd, STDIN_FILENO);
	(void)dup2(logfd, STDOUT_FILENO);
	(void)dup2(logfd, STDERR_FILENO);
	execv(a->path, argv);
	dprintf(STDERR_FILENO, "kmes-bench: exec %s: %s\n", a->path,
	    strerror(errno));
	_exit(127);
}

int
bench_agent_start(struct bench_agent *a, int timeout_ms)
{
	struct agent_client *ac = NULL;
	pid_t pid;
	int logfd = -1, status, waited, r;

	a->pid = -1;
	a->hwm_kb = a->rss_kb = -1;
	a->exit_status = 0;
	if ((logfd = open(a->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1) {
		r = KMES_ERR_SYSTEM;
		goto out;
	}
	if ((pid = fork()) == -1) {
		r = KMES_ERR_SYSTEM;
		goto out;
	}
	if (pid == 0)
		exec_agent(a, logfd);
	a->pid = pid;
	for (waited = 0;; waited += POLL_MS) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			/* It gave up (bad path, socket in use): see the log. */
			a->pid = -1;
			a->exit_status = status;
			r = KMES_ERR_SYSTEM;
			goto out;
		}
		if (agent_client_connect(a->sock, &ac) == 0)
			break;
		if (waited >= timeout_ms) {
			r = KMES_ERR_TIMEOUT;
			goto out;
		}
		sleep_ms(POLL_MS);
	}
	r = 0;
 out:
	agent_client_free(ac);
	if (logfd != -1)
		close(logfd);
	return r;
}

int
bench_agent_alive(struct bench_agent *a)
{
	int status;
	pid_t r;

	if (a->pid <= 0)
		return 0;
	/* kill(pid, 0) succeeds on a zombie; only waitpid tells the truth. */
	if ((r = waitpid(a->pid, &status, WNOHANG)) == 0)
		return 1;
	if (r == a->pid) {
		a->exit_status = status;
		a->pid = -1;
	}
	return 0;
}

void
bench_agent_stop(struct bench_agent *a)
{
	int status, waited;
	pid_t r;

	if (a->pid <= 0)
		return;
	a->hwm_kb = bench_proc_kb(a->pid, "VmHWM");
	a->rss_kb = bench_proc_kb(a->pid, "VmRSS");
	(void)kill(a->pid, SIGTERM);
	for (waited = 0; waited < STOP_TIMEOUT_MS; waited += POLL_MS) {
		r = waitpid(a->pid, &status, WNOHANG);
		if (r == a->pid) {
			a->exit_status = status;
			a->pid = -1;
			return;
		}
		if (r == -1 && errno != EINTR)
			break;
		sleep_ms(POLL_MS);
	}
	fprintf(stderr, "kmes-bench: %s (pid %ld) ignored SIGTERM; killing "
	    "it\n", a->name, (long)a->pid);
	(void)kill(a->pid, SIGKILL);
	while ((r = waitpid(a->pid, &status, 0)) == -1 && errno == EINTR)
		;
	if (r == a->pid)
		a->exit_status = status;
	a->pid = -1;
}

long
bench_proc_kb(pid_t pid, const char *field)
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

int
bench_agent_add(const struct bench_agent *a, const struct bench_key *k)
{
	struct agent_client *ac = NULL;
	struct kbuf *req = NULL;
	char comment[64];
	int r;

	snprintf(comment, sizeof(comment), "kmes-bench %s", k->label);
	/* The request carries the private key: keep it in locked memory. */
	if ((req = kbuf_new_secure(AGENT_MSG_MAX)) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	if ((r = kbuf_put_u8(req, SSH_AGENTC_ADD_IDENTITY)) != 0 ||
	    (r = ks_key_put_private(k->key, req)) != 0 ||
	    (r = kbuf_put_cstring(req, comment)) != 0 ||
	    (r = agent_client_connect(a->sock, &ac)) != 0 ||
	    (r = agent_client_simple(ac, req)) != 0)
		goto out;
	r = 0;
 out:
	agent_client_free(ac);
	kbuf_free(req);
	return r;
}
