/*
 * askpass.c: asking the user through SSH_ASKPASS, as ssh-agent does, for a
 * yes/no confirmation before a confirm-constrained key signs, or for a
 * store PIN, without blocking anyone else: the askpass child's pipe and
 * pidfd are watched by the connection's event loop. The answer buffer is
 * locked memory, since it may hold a PIN.
 */
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "askpass.h"
#include "kmes-err.h"
#include "log.h"
#include "loop.h"
#include "request.h"
#include "secmem.h"

#define ASKPASS_DEFAULT "/usr/bin/ssh-askpass"
#define ANSWER_MAX 1024

extern char **environ;

struct askpass_job {
	pid_t pid;
	int pipefd;
	int pidfd;
	enum askpass_kind kind;
	askpass_done_fn done;
	char answer[ANSWER_MAX];
	size_t len;
	struct request *req;
	struct loop *loop;
};

static int
askpass_allowed(void)
{
	const char *s;
	int allowed = 0;

	if (((s = getenv("DISPLAY")) != NULL && *s != '\0') ||
	    ((s = getenv("WAYLAND_DISPLAY")) != NULL && *s != '\0'))
		allowed = 1;
	if ((s = getenv("SSH_ASKPASS_REQUIRE")) != NULL) {
		if (strcasecmp(s, "force") == 0)
			allowed = 1;
		else if (strcasecmp(s, "never") == 0)
			allowed = 0;
	}
	return allowed;
}

/* environ, plus SSH_ASKPASS_PROMPT=confirm for a yes/no question. */
static char **
askpass_env(enum askpass_kind kind)
{
	static char prompt_var[] = "SSH_ASKPASS_PROMPT=confirm";
	size_t n = 0, i, j = 0;
	char **env;

	while (environ[n] != NULL)
		n++;
	if ((env = calloc(n + 2, sizeof(*env))) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (strncmp(environ[i], "SSH_ASKPASS_PROMPT=", 19) != 0)
			env[j++] = environ[i];
	}
	if (kind == ASKPASS_CONFIRM)
		env[j++] = prompt_var;
	env[j] = NULL;
	return env;
}

static void
drain(struct askpass_job *j)
{
	char tmp[256];
	ssize_t n;
	size_t take;

	if (j->pipefd < 0)
		return;
	for (;;) {
		n = read(j->pipefd, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		/* Keep the first line's worth; discard the rest unread. */
		take = (size_t)n;
		if (take > sizeof(j->answer) - 1 - j->len)
			take = sizeof(j->answer) - 1 - j->len;
		memcpy(j->answer + j->len, tmp, take);
		j->len += take;
	}
	if (n == 0) {
		loop_unwatch_fd(j->loop, j->pipefd);
		close(j->pipefd);
		j->pipefd = -1;
	}
}

static void
job_free(struct askpass_job *j)
{
	struct loop *l = j->loop;

	if (j->pipefd >= 0) {
		loop_unwatch_fd(l, j->pipefd);
		close(j->pipefd);
	}
	if (j->pidfd >= 0) {
		loop_unwatch_fd(l, j->pidfd);
		close(j->pidfd);
	}
	kmes_secure_free(j);
}

static void
pipe_cb(struct loop *l, int fd, uint32_t ev, void *arg)
{
	drain(arg);
}

static void
exit_cb(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct askpass_job *j = arg;
	struct request *r = j->req;
	int status = 0, allowed = 0;
	pid_t pid;

	drain(j);
	do {
		pid = waitpid(j->pid, &status, WNOHANG);
	} while (pid == -1 && errno == EINTR);
	if (pid == 0)
		return; /* not yet */
	j->answer[j->len] = '\0';
	j->answer[strcspn(j->answer, "\r\n")] = '\0';
	if (pid == j->pid && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		if (j->kind == ASKPASS_SECRET)
			allowed = j->answer[0] != '\0';
		else
			allowed = j->answer[0] == '\0' ||
			    strcasecmp(j->answer, "yes") == 0;
	}
	r->cancel = NULL;
	r->job = NULL;
	/* The callback sees the answer first; then it is wiped. */
	j->done(r, allowed, (const uint8_t *)j->answer, strlen(j->answer));
	job_free(j);
}

/* The client left: the question no longer has anyone to answer. */
static void
askpass_cancel(struct request *r)
{
	struct askpass_job *j = r->job;

	r->job = NULL;
	(void)kill(j->pid, SIGKILL);
	while (waitpid(j->pid, NULL, 0) == -1 && errno == EINTR)
		;
	job_free(j);
}

int
askpass_start(struct request *r, enum askpass_kind kind, const char *prompt,
    askpass_done_fn done)
{
	posix_spawn_file_actions_t fa;
	struct askpass_job *j = NULL;
	const char *askpass;
	char *argv[3], **env = NULL;
	int p[2] = { -1, -1 }, rc = KMES_ERR_SYSTEM, fa_init = 0;

	if (!askpass_allowed()) {
		log_info("cannot ask the user: no askpass is allowed "
			 "(set DISPLAY or SSH_ASKPASS_REQUIRE=force)");
		return KMES_ERR_DENIED;
	}
	if ((askpass = getenv("SSH_ASKPASS")) == NULL)
		askpass = ASKPASS_DEFAULT;
	if ((j = kmes_secure_alloc(sizeof(*j))) == NULL)
		return KMES_ERR_ALLOC;
	j->pipefd = j->pidfd = -1;
	j->req = r;
	j->loop = r->loop;
	j->kind = kind;
	j->done = done;
	if (pipe2(p, O_CLOEXEC) != 0 || (env = askpass_env(kind)) == NULL)
		goto out;
	if (posix_spawn_file_actions_init(&fa) != 0)
		goto out;
	fa_init = 1;
	if (posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO) != 0)
		goto out;
	argv[0] = (char *)askpass;
	argv[1] = (char *)prompt;
	argv[2] = NULL;
	if ((errno = posix_spawnp(&j->pid, askpass, &fa, NULL, argv, env)) !=
	    0) {
		log_error("cannot run askpass %s: %s", askpass,
		    strerror(errno));
		goto out;
	}
	close(p[1]);
	p[1] = -1;
	j->pipefd = p[0];
	p[0] = -1;
	(void)fcntl(j->pipefd, F_SETFL, O_NONBLOCK);
	if ((j->pidfd = (int)syscall(SYS_pidfd_open, j->pid, 0)) < 0 ||
	    loop_watch_fd(j->loop, j->pidfd, exit_cb, j) != 0 ||
	    loop_watch_fd(j->loop, j->pipefd, pipe_cb, j) != 0) {
		(void)kill(j->pid, SIGKILL);
		(void)waitpid(j->pid, NULL, 0);
		goto out;
	}
	r->job = j;
	r->cancel = askpass_cancel;
	j = NULL;
	rc = 0;
out:
	if (fa_init)
		posix_spawn_file_actions_destroy(&fa);
	free(env);
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	if (j != NULL)
		job_free(j);
	return rc;
}
