/*
 * readpass.c: PINs and passphrases from a descriptor, the terminal or
 * $SSH_ASKPASS, straight into locked memory. readpass_pin(), which may
 * also ask through a pinentry program, lives in pinentry.c.
 *
 * The terminal code follows OpenBSD's readpassphrase(3): echo off, every
 * catchable signal that would leave the terminal silent is caught, the
 * mode is restored, and only then is the signal re-raised (stop signals
 * prompt again after the process is continued).
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "kbuf.h"
#include "kmes-err.h"
#include "readpass.h"
#include "secmem.h"

/* A full-length secret, a CR before its newline, and a NUL. */
#define READPASS_BUFLEN (READPASS_MAX + 2)
#define READPASS_ROUNDS 3
#define READPASS_AGAIN "Enter the same again: "

static const int tty_signals[] = {
	SIGALRM,
	SIGHUP,
	SIGINT,
	SIGPIPE,
	SIGQUIT,
	SIGTERM,
	SIGTSTP,
	SIGTTIN,
	SIGTTOU,
};
#define N_TTY_SIGNALS (sizeof(tty_signals) / sizeof(tty_signals[0]))

static volatile sig_atomic_t tty_caught[NSIG];

static void
tty_catch(int signo)
{
	if (signo > 0 && signo < NSIG)
		tty_caught[signo] = 1;
}

/*
 * Reads one line into buf (READPASS_BUFLEN bytes, zeroed first so the
 * bytes after the secret are always zero), through a locked kbuf. A byte
 * at a time: a buffered read would swallow lines that belong to the next
 * reader of the same pipe. On a terminal a signal must end the read, hence
 * stop_on_eintr. A line with a NUL byte is refused: every consumer of a
 * C string would see a shorter secret than the one typed.
 */
static int
read_line(int fd, uint8_t *buf, size_t *lenp, int stop_on_eintr)
{
	struct kbuf *in = NULL;
	struct pollfd pfd;
	const char *line;
	uint8_t *p;
	ssize_t rr;
	size_t n = 0;
	int got = 0, toolong = 0, eof = 0, nl = 0, r;

	*lenp = 0;
	kmes_wipe(buf, READPASS_BUFLEN);
	if ((in = kbuf_new_secure(READPASS_BUFLEN)) == NULL)
		return KMES_ERR_ALLOC;
	for (;;) {
		r = kbuf_get_line(in, READPASS_MAX, eof ? KBUF_LINE_LAST : 0,
		    &line, &n);
		if (r == KMES_ERR_STRING_TOO_LARGE) {
			/* Keep consuming an overlong line so the next one is
			 * intact, holding no more of it than fits. */
			toolong = 1;
			kbuf_reset(in);
		} else if (r != KMES_ERR_MESSAGE_INCOMPLETE)
			break;
		/* The newline just read may be what showed the excess. */
		if (eof || (toolong && nl))
			break;
		if ((r = kbuf_reserve(in, 1, &p)) != 0)
			goto out;
		rr = read(fd, p, 1);
		nl = rr == 1 && *p == '\n';
		if (rr != 1 && (r = kbuf_consume_end(in, 1)) != 0)
			goto out;
		if (rr == -1) {
			if (errno == EINTR && !stop_on_eintr)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				pfd.fd = fd;
				pfd.events = POLLIN;
				(void)poll(&pfd, 1, -1);
				continue;
			}
			r = KMES_ERR_SYSTEM;
			goto out;
		}
		if (rr == 0) {
			if (!got) {
				r = KMES_ERR_CONNECTION_CLOSED;
				goto out;
			}
			eof = 1;
			continue;
		}
		got = 1;
	}
	if (toolong)
		r = KMES_ERR_STRING_TOO_LARGE;
	if (r != 0)
		goto out;
	if (n != 0)
		memcpy(buf, line, n);
	*lenp = n;
out:
	if (r != 0)
		kmes_wipe(buf, READPASS_BUFLEN);
	kbuf_free(in);
	return r;
}

/* Both buffers are READPASS_BUFLEN bytes, zero past the secret. */
static int
same_secret(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return (alen == blen) & (kmes_ct_memcmp(a, b, READPASS_BUFLEN) == 0);
}

int
readpass_fd(int fd, uint8_t **secp, size_t *lenp)
{
	uint8_t *buf = NULL;
	size_t len;
	int r;

	*secp = NULL;
	*lenp = 0;
	if (fd < 0)
		return KMES_ERR_INVALID_ARGUMENT;
	if ((buf = kmes_secure_alloc(READPASS_BUFLEN)) == NULL)
		return KMES_ERR_ALLOC;
	if ((r = read_line(fd, buf, &len, 0)) != 0)
		goto out;
	*secp = buf;
	*lenp = len;
	buf = NULL;
out:
	kmes_secure_free(buf);
	return r;
}

static void
tty_write(int fd, const char *s)
{
	size_t len = strlen(s);
	ssize_t w;

	while (len > 0) {
		if ((w = write(fd, s, len)) == -1) {
			if (errno == EINTR)
				continue;
			return;
		}
		s += w;
		len -= (size_t)w;
	}
}

/* One prompt and one line on the open terminal fd, echo off. */
static int
tty_read_once(int fd, const char *prompt, uint8_t *buf, size_t *lenp)
{
	struct sigaction sa, oact[N_TTY_SIGNALS];
	struct termios saved, quiet;
	size_t i;
	int r, restart, have_saved, saved_errno;

again:
	have_saved = 0;
	restart = 0;
	for (i = 0; i < N_TTY_SIGNALS; i++)
		tty_caught[tty_signals[i]] = 0;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: a signal must end read() */
	sa.sa_handler = tty_catch;
	/* A signal the caller ignores must not end the read either. */
	for (i = 0; i < N_TTY_SIGNALS; i++) {
		(void)sigaction(tty_signals[i], NULL, &oact[i]);
		if (oact[i].sa_handler != SIG_IGN)
			(void)sigaction(tty_signals[i], &sa, NULL);
	}

	if (tcgetattr(fd, &saved) != 0) {
		r = KMES_ERR_SYSTEM;
		goto restore;
	}
	have_saved = 1;
	quiet = saved;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
		r = KMES_ERR_SYSTEM;
		goto restore;
	}
	tty_write(fd, prompt);
	r = read_line(fd, buf, lenp, 1);
	/* The user's newline was not echoed. */
	tty_write(fd, "\n");

restore:
	saved_errno = errno;
	if (have_saved) {
		while (tcsetattr(fd, TCSAFLUSH, &saved) == -1 && errno == EINTR)
			continue;
	}
	for (i = 0; i < N_TTY_SIGNALS; i++)
		(void)sigaction(tty_signals[i], &oact[i], NULL);
	/* Deliver what we held back, now that the terminal is sane. */
	for (i = 0; i < N_TTY_SIGNALS; i++) {
		if (!tty_caught[tty_signals[i]])
			continue;
		(void)kill(getpid(), tty_signals[i]);
		switch (tty_signals[i]) {
		case SIGTSTP:
		case SIGTTIN:
		case SIGTTOU:
			restart = 1;
			break;
		default:
			break;
		}
	}
	if (restart) {
		kmes_wipe(buf, READPASS_BUFLEN);
		*lenp = 0;
		goto again;
	}
	errno = saved_errno;
	return r;
}

/* Length bounds for a new secret; {0, 0} takes any length. */
struct len_bounds {
	size_t min, max;
};

static const struct len_bounds any_length = { 0, 0 };

static int
out_of_bounds(const struct len_bounds *lb, size_t len)
{
	return lb->max != 0 && (len < lb->min || len > lb->max);
}

static int
tty_ask(int fd, const char *prompt, int confirm, const struct len_bounds *lb,
    uint8_t **secp, size_t *lenp)
{
	char msg[96];

	uint8_t *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;
	int r = KMES_ERR_INTERNAL, round;

	if ((a = kmes_secure_alloc(READPASS_BUFLEN)) == NULL ||
	    (confirm && (b = kmes_secure_alloc(READPASS_BUFLEN)) == NULL)) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	for (round = 0; round < READPASS_ROUNDS; round++) {
		if ((r = tty_read_once(fd, prompt, a, &alen)) != 0)
			goto out;
		/* Said before the repeat: typing a bad PIN twice is waste. */
		if (out_of_bounds(lb, alen)) {
			snprintf(msg, sizeof(msg),
			    "It must be %zu to %zu "
			    "characters long.\n",
			    lb->min, lb->max);
			tty_write(fd, msg);
			r = KMES_ERR_INVALID_ARGUMENT;
			continue;
		}
		if (!confirm)
			break;
		if ((r = tty_read_once(fd, READPASS_AGAIN, b, &blen)) != 0)
			goto out;
		if (same_secret(a, alen, b, blen))
			break;
		tty_write(fd, "The entries do not match.\n");
		r = KMES_ERR_DENIED;
	}
	if (r != 0)
		goto out;
	*secp = a;
	*lenp = alen;
	a = NULL;
out:
	kmes_secure_free(a);
	kmes_secure_free(b);
	return r;
}

static int
tty_open(void)
{
	return open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
}

int
readpass_tty(const char *prompt, int confirm, uint8_t **secp, size_t *lenp)
{
	int fd, r, saved_errno;

	*secp = NULL;
	*lenp = 0;
	if ((fd = tty_open()) == -1)
		return KMES_ERR_SYSTEM;
	r = tty_ask(fd, prompt, confirm, &any_length, secp, lenp);
	saved_errno = errno;
	close(fd);
	errno = saved_errno;
	return r;
}

int
readpass_askpass(const char *prompt, uint8_t **secp, size_t *lenp)
{
	const char *prog;
	uint8_t *buf = NULL;
	size_t len = 0;
	pid_t pid = -1;
	int p[2] = { -1, -1 }, status, r;

	*secp = NULL;
	*lenp = 0;
	if ((prog = getenv("SSH_ASKPASS")) == NULL || *prog == '\0')
		return KMES_ERR_INVALID_ARGUMENT;
	if (pipe2(p, O_CLOEXEC) == -1)
		return KMES_ERR_SYSTEM;
	if ((pid = fork()) == -1) {
		r = KMES_ERR_SYSTEM;
		goto out;
	}
	if (pid == 0) {
		/* dup2 onto itself would keep close-on-exec. */
		if (p[1] == STDOUT_FILENO) {
			if (fcntl(p[1], F_SETFD, 0) == -1)
				_exit(127);
		} else if (dup2(p[1], STDOUT_FILENO) == -1)
			_exit(127);
		/* The program sees nothing of ours but the three std fds. */
		closefrom(STDERR_FILENO + 1);
		execlp(prog, prog, prompt, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	p[1] = -1;
	r = readpass_fd(p[0], &buf, &len);
	/* Closing first: a program that keeps talking gets EPIPE, not a hang. */
	close(p[0]);
	p[0] = -1;
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR) {
			r = KMES_ERR_SYSTEM;
			goto out;
		}
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		r = KMES_ERR_DENIED;
		goto out;
	}
	if (r != 0)
		goto out;
	*secp = buf;
	*lenp = len;
	buf = NULL;
out:
	if (p[0] != -1)
		close(p[0]);
	if (p[1] != -1)
		close(p[1]);
	kmes_secure_free(buf);
	return r;
}

static int
askpass_ask(const char *prompt, int confirm, const struct len_bounds *lb,
    uint8_t **secp, size_t *lenp)
{
	uint8_t *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;
	int r;

	if ((r = readpass_askpass(prompt, &a, &alen)) != 0)
		goto out;
	if (out_of_bounds(lb, alen)) {
		r = KMES_ERR_INVALID_ARGUMENT;
		goto out;
	}
	if (confirm) {
		if ((r = readpass_askpass(READPASS_AGAIN, &b, &blen)) != 0)
			goto out;
		if (!same_secret(a, alen, b, blen)) {
			r = KMES_ERR_DENIED;
			goto out;
		}
	}
	*secp = a;
	*lenp = alen;
	a = NULL;
	r = 0;
out:
	kmes_secure_free(a);
	kmes_secure_free(b);
	return r;
}

static int
interactive(const char *prompt, int confirm, const struct len_bounds *lb,
    uint8_t **secp, size_t *lenp)
{
	const char *askpass;
	int fd, r, saved_errno;

	*secp = NULL;
	*lenp = 0;
	if ((fd = tty_open()) == -1) {
		saved_errno = errno;
		askpass = getenv("SSH_ASKPASS");
		if (askpass != NULL && *askpass != '\0')
			return askpass_ask(prompt, confirm, lb, secp, lenp);
		errno = saved_errno;
		return KMES_ERR_SYSTEM;
	}
	r = tty_ask(fd, prompt, confirm, lb, secp, lenp);
	saved_errno = errno;
	close(fd);
	errno = saved_errno;
	return r;
}

int
readpass_interactive(const char *prompt, int confirm, uint8_t **secp,
    size_t *lenp)
{
	return interactive(prompt, confirm, &any_length, secp, lenp);
}

int
readpass_new_secret(const char *prompt, size_t min, size_t max, uint8_t **secp,
    size_t *lenp)
{
	struct len_bounds lb = { min, max };

	return interactive(prompt, 1, &lb, secp, lenp);
}
