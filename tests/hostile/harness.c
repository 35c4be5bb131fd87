/*
 * harness.c: TAP output, the agent child process and deadline-bound socket
 * I/O for the hostile-client test.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent-msg.h"
#include "harness.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "testkit.h"

#define START_TIMEOUT_MS 10000

static unsigned int tap_n, tap_failed;
/* The agent to kill if we bail out or the watchdog fires. */
static struct h_agent *the_agent;
static volatile sig_atomic_t watchdog_pid = -1;

int
tap_check(int ok, const char *fmt, ...)
{
	va_list ap;

	tap_n++;
	if (!ok)
		tap_failed++;
	printf("%sok %u - ", ok ? "" : "not ", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	return ok;
}

void
tap_diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

void
tap_diag_file(const char *path, int lines)
{
	char line[512];
	long count = 0, skip;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
		count++;
	skip = count > lines ? count - lines : 0;
	rewind(f);
	tap_diag("last %ld line(s) of %s:", count - skip, path);
	for (count = 0; fgets(line, sizeof(line), f) != NULL; count++) {
		if (count < skip)
			continue;
		line[strcspn(line, "\n")] = '\0';
		tap_diag("  %s", line);
	}
	fclose(f);
}

void
tap_bail(const char *fmt, ...)
{
	va_list ap;

	printf("Bail out! ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (the_agent != NULL) {
		if (the_agent->pid > 0) {
			(void)kill(the_agent->pid, SIGKILL);
			(void)waitpid(the_agent->pid, NULL, 0);
			the_agent->pid = -1;
		}
		tap_diag_file(the_agent->err, 30);
		tap_diag("agent files kept in %s", the_agent->dir);
	}
	fflush(stdout);
	exit(1);
}

int
tap_done(void)
{
	printf("1..%u\n", tap_n);
	if (tap_failed != 0)
		tap_diag("%u of %u checks failed", tap_failed, tap_n);
	fflush(stdout);
	return (int)tap_failed;
}

static int
remaining_ms(uint64_t deadline)
{
	uint64_t now = tk_now_ms();

	return now >= deadline ? 0 : (int)(deadline - now);
}

/* Waits for events on fd until deadline. Returns 1 ready, 0 timed out. */
static int
wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd pfd;
	int n;

	for (;;) {
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, remaining_ms(deadline));
		if (n == -1 && errno == EINTR)
			continue;
		/* Errors and hang-ups count as ready: the caller sees why. */
		return n != 0;
	}
}

static void
watchdog_fired(int sig)
{
	static const char msg[] = "Bail out! the test ran out of time "
				  "(watchdog)\n";

	(void)sig;
	(void)!write(STDOUT_FILENO, msg, sizeof(msg) - 1);
	if (watchdog_pid > 0)
		(void)kill((pid_t)watchdog_pid, SIGKILL);
	_exit(1);
}

void
h_watchdog(struct h_agent *a, unsigned int seconds)
{
	watchdog_pid = a->pid;
	signal(SIGALRM, watchdog_fired);
	alarm(seconds);
}

int
h_agent_start(struct h_agent *a, const char *path)
{
	struct tk_spawn sp = { .path = path,
		.sock = a->sock,
		.outfd = -1,
		.errfd = -1,
		.deathsig = SIGKILL };
	const char *base;
	int r = -1;

	memset(a, 0, sizeof(*a));
	a->pid = -1;
	if ((base = getenv("TMPDIR")) == NULL || *base != '/')
		base = "/tmp";
	if (snprintf(a->dir, sizeof(a->dir), "%s/kmes-hostile.XXXXXX", base) >=
		(int)sizeof(a->dir) ||
	    mkdtemp(a->dir) == NULL) {
		tap_diag("mkdtemp under %s: %s", base, strerror(errno));
		a->dir[0] = '\0';
		return -1;
	}
	if (tk_path_in(a->sock, sizeof(a->sock), a->dir, "agent.sock") != 0 ||
	    tk_path_in(a->out, sizeof(a->out), a->dir, "agent.out") != 0 ||
	    tk_path_in(a->err, sizeof(a->err), a->dir, "agent.err") != 0) {
		tap_diag("%s: path too long for a socket", a->dir);
		goto out;
	}
	if ((sp.outfd = open(a->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		 0600)) == -1 ||
	    (sp.errfd = open(a->err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		 0600)) == -1) {
		tap_diag("%s: %s", a->dir, strerror(errno));
		goto out;
	}
	fflush(stdout);
	if (tk_agent_spawn(&sp, &a->pid) != 0) {
		tap_diag("fork: %s", strerror(errno));
		goto out;
	}
	the_agent = a;
	switch (tk_agent_wait_ready(a->pid, a->sock, START_TIMEOUT_MS,
	    &a->status)) {
	case 0:
		break;
	case KMES_ERR_TIMEOUT:
		tap_diag("%s did not listen on %s", path, a->sock);
		goto out;
	default:
		a->pid = -1;
		tap_diag("%s exited at start-up (status 0x%x)", path,
		    a->status);
		goto out;
	}
	r = 0;
out:
	if (sp.outfd != -1)
		close(sp.outfd);
	if (sp.errfd != -1)
		close(sp.errfd);
	return r;
}

int
h_agent_alive(struct h_agent *a)
{
	return tk_child_alive(&a->pid, &a->status);
}

int
h_agent_stop(struct h_agent *a, int timeout_ms)
{
	int r;

	if (a->pid <= 0)
		return -1;
	r = tk_child_stop(&a->pid, timeout_ms, &a->status);
	watchdog_pid = -1;
	return r;
}

void
h_agent_cleanup(struct h_agent *a)
{
	if (a->dir[0] == '\0')
		return;
	(void)unlink(a->sock);
	(void)unlink(a->out);
	(void)unlink(a->err);
	if (rmdir(a->dir) != 0)
		tap_diag("rmdir %s: %s", a->dir, strerror(errno));
	a->dir[0] = '\0';
}

int
h_connect(const char *sock, int timeout_ms)
{
	uint64_t deadline = tk_now_ms() + (uint64_t)timeout_ms;
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(sock) >= sizeof(sun.sun_path))
		return -1;
	memcpy(sun.sun_path, sock, strlen(sock));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		 0)) == -1)
		return -1;
	for (;;) {
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			return fd;
		/* A full backlog says EAGAIN on a Unix socket: retry. */
		if ((errno != EAGAIN && errno != EINTR) ||
		    tk_now_ms() >= deadline)
			break;
		tk_sleep_ms(5);
	}
	close(fd);
	return -1;
}

int
h_send(int fd, const void *p, size_t len, int timeout_ms)
{
	uint64_t deadline = tk_now_ms() + (uint64_t)timeout_ms;
	const uint8_t *cp = p;
	ssize_t n;

	while (len > 0) {
		n = send(fd, cp, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			cp += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EPIPE || errno == ECONNRESET))
			return KMES_ERR_CONNECTION_CLOSED;
		if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
			return KMES_ERR_SYSTEM;
		if (!wait_fd(fd, POLLOUT, deadline))
			return KMES_ERR_TIMEOUT;
	}
	return 0;
}

int
h_send_frame(int fd, const struct kbuf *body, int timeout_ms)
{
	struct kbuf *f;
	int r;

	if ((f = kbuf_new()) == NULL)
		return KMES_ERR_ALLOC;
	if ((r = agent_msg_put_framed(f, body)) == 0)
		r = h_send(fd, kbuf_ptr(f), kbuf_len(f), timeout_ms);
	kbuf_free(f);
	return r;
}

/*
 * Reads exactly len bytes; *got says how many arrived. Returns 0,
 * KMES_ERR_CONNECTION_CLOSED (EOF or reset), KMES_ERR_TIMEOUT or
 * KMES_ERR_SYSTEM.
 */
static int
read_full(int fd, uint8_t *p, size_t len, uint64_t deadline, size_t *got)
{
	ssize_t n;

	*got = 0;
	while (*got < len) {
		n = recv(fd, p + *got, len - *got, MSG_DONTWAIT);
		if (n > 0) {
			*got += (size_t)n;
			continue;
		}
		if (n == 0 || (n == -1 && errno == ECONNRESET))
			return KMES_ERR_CONNECTION_CLOSED;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return KMES_ERR_SYSTEM;
		if (!wait_fd(fd, POLLIN, deadline))
			return KMES_ERR_TIMEOUT;
	}
	return 0;
}

int
h_recv_frame(int fd, struct kbuf *body, int timeout_ms)
{
	uint64_t deadline = tk_now_ms() + (uint64_t)timeout_ms;
	struct kbuf *hb = NULL;
	uint8_t hdr[4], *p;
	uint32_t len;
	size_t got;
	int r;

	kbuf_reset(body);
	if ((r = read_full(fd, hdr, sizeof(hdr), deadline, &got)) != 0) {
		/* A close inside a frame header is not a clean drop. */
		if (r == KMES_ERR_CONNECTION_CLOSED && got != 0)
			r = KMES_ERR_AGENT_PROTOCOL;
		goto out;
	}
	if ((hb = kbuf_from(hdr, sizeof(hdr))) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	if ((r = kbuf_get_u32(hb, &len)) != 0)
		goto out;
	if (len == 0 || len > AGENT_MSG_MAX) {
		r = KMES_ERR_AGENT_PROTOCOL;
		goto out;
	}
	if ((r = kbuf_reserve(body, len, &p)) != 0)
		goto out;
	r = read_full(fd, p, len, deadline, &got);
	/* So is a close inside the body. */
	if (r == KMES_ERR_CONNECTION_CLOSED)
		r = KMES_ERR_AGENT_PROTOCOL;
out:
	kbuf_free(hb);
	return r;
}

int
h_request(int fd, const struct kbuf *body, struct kbuf *reply, int timeout_ms)
{
	int r;

	if ((r = h_send_frame(fd, body, timeout_ms)) != 0)
		return r;
	return h_recv_frame(fd, reply, timeout_ms);
}

int
h_wait_drop(int fd, int timeout_ms)
{
	uint64_t deadline = tk_now_ms() + (uint64_t)timeout_ms;
	uint8_t c;
	ssize_t n;

	for (;;) {
		n = recv(fd, &c, 1, MSG_DONTWAIT);
		if (n == 0 || (n == -1 && errno == ECONNRESET))
			return KMES_ERR_CONNECTION_CLOSED;
		if (n == 1)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return KMES_ERR_SYSTEM;
		if (!wait_fd(fd, POLLIN, deadline))
			return KMES_ERR_TIMEOUT;
	}
}

int
h_reply_type(const struct kbuf *reply)
{
	struct kbuf *v;
	uint8_t type;
	int r = -1;

	if ((v = kbuf_from(kbuf_ptr(reply), kbuf_len(reply))) == NULL)
		return -1;
	if (kbuf_get_u8(v, &type) == 0)
		r = type;
	kbuf_free(v);
	return r;
}
