/*
 * agents.c: starting, loading, watching and stopping the agents under test.
 * Both are plain child processes in the foreground (-D), run by testkit.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "agent-client.h"
#include "agent-msg.h"
#include "bench.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "testkit.h"

#define STOP_TIMEOUT_MS 5000

int
bench_agent_start(struct bench_agent *a, int timeout_ms)
{
	struct tk_spawn sp = { .path = a->path,
		.sock = a->sock,
		.deathsig = SIGTERM };
	int logfd = -1, r;

	a->pid = -1;
	a->hwm_kb = a->rss_kb = -1;
	a->exit_status = 0;
	if ((logfd = open(a->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		 0600)) == -1) {
		r = KMES_ERR_SYSTEM;
		goto out;
	}
	sp.outfd = sp.errfd = logfd;
	if ((r = tk_agent_spawn(&sp, &a->pid)) != 0)
		goto out;
	if ((r = tk_agent_wait_ready(a->pid, a->sock, timeout_ms,
		 &a->exit_status)) == KMES_ERR_SYSTEM)
		a->pid = -1; /* it exited and was reaped: see the log */
out:
	if (logfd != -1)
		close(logfd);
	return r;
}

int
bench_agent_alive(struct bench_agent *a)
{
	return tk_child_alive(&a->pid, &a->exit_status);
}

void
bench_agent_stop(struct bench_agent *a)
{
	pid_t pid = a->pid;

	if (a->pid <= 0)
		return;
	a->hwm_kb = tk_proc_kb(a->pid, "VmHWM");
	a->rss_kb = tk_proc_kb(a->pid, "VmRSS");
	if (tk_child_stop(&a->pid, STOP_TIMEOUT_MS, &a->exit_status) != 0)
		fprintf(stderr,
		    "kmes-bench: %s (pid %ld) ignored SIGTERM; "
		    "killing it\n",
		    a->name, (long)pid);
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
