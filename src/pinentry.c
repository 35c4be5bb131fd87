/*
 * pinentry.c: one PIN question through a pinentry program, speaking the
 * Assuan protocol on the program's stdin and stdout.
 *
 * The program is not trusted to behave: every line it sends is capped, the
 * whole session is capped, every wait has a deadline, and whatever it
 * answers to GETPIN is decoded straight into locked memory. Every buffer
 * that may hold a PIN byte is locked: the session (one kmes_secure_alloc
 * block) and the kbuf its lines arrive in, both wiped when the question
 * ends.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "pinentry.h"
#include "readpass.h"
#include "secmem.h"

/* Assuan: a line is at most 1000 bytes including its LF; allow a little. */
#define PE_LINE_MAX 1002
/* What may wait in the session's input: a whole line, its CR LF, more. */
#define PE_IN_MAX 2048
/* What we send: 1000 bytes with the LF. */
#define PE_CMD_MAX 999
/* A whole session is a few short lines; a flood ends it. */
#define PE_TOTAL_MAX (64 * 1024)
/* After SETTIMEOUT, time for the program to notice and answer. */
#define PE_GRACE_S 5
/* How long the program may take to leave after BYE before SIGKILL. */
#define PE_EXIT_MS 1000
/* How often a wait looks at req->quit. */
#define PE_SLICE_MS 200

/* libgpg-error codes (low 16 bits of an Assuan ERR code). */
#define GPG_ERR_TIMEOUT 62
#define GPG_ERR_CANCELED 99
#define GPG_ERR_FULLY_CANCELED 198

extern char **environ;

/* One session. Locked memory: in, line and pin see the PIN. */
struct pe {
	pid_t pid;
	int fd;
	uint64_t deadline_ms;
	const atomic_int *quit;
	size_t total;	 /* bytes received so far */
	struct kbuf *in; /* kbuf_new_secure: what the program sent */
	char line[PE_LINE_MAX + 1];
	size_t llen;
	uint8_t pin[READPASS_MAX + 1];
	size_t pinlen;
	char cmd[PE_CMD_MAX + 2];
};

static int
quitting(const struct pe *pe)
{
	return pe->quit != NULL && atomic_load(pe->quit) != 0;
}

/* Waits for events on the session fd until the deadline. */
static int
pe_wait(struct pe *pe, short events)
{
	struct pollfd pfd;
	uint64_t now;
	int ms, pr;

	for (;;) {
		if (quitting(pe))
			return KMES_ERR_TIMEOUT;
		if ((now = agent_now_ms()) >= pe->deadline_ms)
			return KMES_ERR_TIMEOUT;
		ms = pe->deadline_ms - now > PE_SLICE_MS ?
		    PE_SLICE_MS :
		    (int)(pe->deadline_ms - now);
		pfd.fd = pe->fd;
		pfd.events = events;
		pfd.revents = 0;
		if ((pr = poll(&pfd, 1, ms)) == -1) {
			if (errno == EINTR)
				continue;
			return KMES_ERR_SYSTEM;
		}
		if (pr > 0)
			return 0;
	}
}

static int
pe_write(struct pe *pe, const char *s, size_t len)
{
	ssize_t w;
	int r;

	while (len > 0) {
		/* A socket, not a pipe: MSG_NOSIGNAL, so a dead program
		 * cannot kill us (or kmes-keytool) with SIGPIPE. */
		w = send(pe->fd, s, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if ((r = pe_wait(pe, POLLOUT)) != 0)
					return r;
				continue;
			}
			return KMES_ERR_CONNECTION_CLOSED;
		}
		s += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Reads one line (without LF, CR) into pe->line, NUL-terminated. */
static int
pe_read_line(struct pe *pe)
{
	const char *line;
	uint8_t *p;
	size_t n, room;
	ssize_t got;
	int r, err;

	for (;;) {
		/*
		 * Assuan's limit: a longer line is hostile, and so is a NUL,
		 * which would let "OK\0anything" pass for "OK".
		 */
		r = kbuf_get_line(pe->in, PE_LINE_MAX, 0, &line, &n);
		if (r == 0)
			break;
		if (r != KMES_ERR_MESSAGE_INCOMPLETE)
			return r;
		if ((r = pe_wait(pe, POLLIN)) != 0)
			return r;
		room = kbuf_avail(pe->in);
		if ((r = kbuf_reserve(pe->in, room, &p)) != 0)
			return r;
		got = recv(pe->fd, p, room, MSG_DONTWAIT);
		err = errno;
		/* Give back what the read did not fill (wiped). */
		if ((r = kbuf_consume_end(pe->in,
			 got > 0 ? room - (size_t)got : room)) != 0)
			return r;
		if (got == -1) {
			if (err == EINTR || err == EAGAIN || err == EWOULDBLOCK)
				continue;
			return KMES_ERR_CONNECTION_CLOSED;
		}
		if (got == 0)
			return KMES_ERR_CONNECTION_CLOSED;
		if ((size_t)got > PE_TOTAL_MAX - pe->total)
			return KMES_ERR_MESSAGE_TOO_LARGE;
		pe->total += (size_t)got;
	}
	memcpy(pe->line, line, n);
	pe->line[n] = '\0';
	pe->llen = n;
	return 0;
}

/* Returns 1 if line is the word w alone or followed by a space. */
static int
is_word(const char *line, const char *w)
{
	size_t n = strlen(w);

	return strncmp(line, w, n) == 0 && (line[n] == '\0' || line[n] == ' ');
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Appends the percent-decoded data of a "D " line to pe->pin. */
static int
pe_take_data(struct pe *pe)
{
	size_t i;
	int hi, lo;
	uint8_t b;

	for (i = 2; i < pe->llen; i++) {
		b = (uint8_t)pe->line[i];
		if (b == '%') {
			if (i + 2 >= pe->llen)
				return KMES_ERR_INVALID_FORMAT;
			if ((hi = hexval(pe->line[i + 1])) < 0 ||
			    (lo = hexval(pe->line[i + 2])) < 0)
				return KMES_ERR_INVALID_FORMAT;
			b = (uint8_t)(hi << 4 | lo);
			i += 2;
		}
		/* The PIN is handed on NUL-terminated. */
		if (b == '\0')
			return KMES_ERR_INVALID_FORMAT;
		if (pe->pinlen >= READPASS_MAX)
			return KMES_ERR_STRING_TOO_LARGE;
		pe->pin[pe->pinlen++] = b;
	}
	b = 0;
	return 0;
}

/*
 * Reads the answer to one request, up to its OK or ERR. Data lines are
 * taken only when want_data is set. Returns 0 with *erred clear for OK,
 * 0 with *erred set and *code for ERR, or a negative KMES_ERR_*.
 */
static int
pe_response(struct pe *pe, int want_data, int *erred, unsigned long *code)
{
	char *end;
	int r;

	*erred = 0;
	*code = 0;
	for (;;) {
		if ((r = pe_read_line(pe)) != 0)
			return r;
		if (is_word(pe->line, "OK"))
			return 0;
		if (is_word(pe->line, "ERR")) {
			*erred = 1;
			errno = 0;
			*code = strtoul(pe->line + 3, &end, 10);
			if (errno != 0 || end == pe->line + 3)
				*code = 0;
			return 0;
		}
		/* Status and comment lines carry nothing we need. */
		if (is_word(pe->line, "S") || pe->line[0] == '#')
			continue;
		if (is_word(pe->line, "D")) {
			if (!want_data)
				return KMES_ERR_INVALID_FORMAT;
			if ((r = pe_take_data(pe)) != 0)
				return r;
			continue;
		}
		/*
		 * We have nothing to give (pinentry inquires only for the
		 * quality bar, which we never ask for): cancel; the program
		 * then ends the request with ERR.
		 */
		if (is_word(pe->line, "INQUIRE")) {
			if ((r = pe_write(pe, "CAN\n", 4)) != 0)
				return r;
			continue;
		}
		return KMES_ERR_INVALID_FORMAT;
	}
}

/*
 * Sends "verb arg" with arg percent-escaped ('%', and every control byte
 * such as CR and LF, which would end the line early). An arg too long for
 * one Assuan line is cut at a character boundary: these are our texts.
 */
static int
pe_send(struct pe *pe, const char *verb, const char *arg)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n;
	unsigned char c;

	n = strlen(verb);
	if (n > PE_CMD_MAX)
		return KMES_ERR_INTERNAL;
	memcpy(pe->cmd, verb, n);
	if (arg != NULL) {
		pe->cmd[n++] = ' ';
		for (; *arg != '\0'; arg++) {
			c = (unsigned char)*arg;
			if (c == '%' || c < 0x20 || c == 0x7f) {
				if (n + 3 > PE_CMD_MAX)
					break;
				pe->cmd[n++] = '%';
				pe->cmd[n++] = hex[c >> 4];
				pe->cmd[n++] = hex[c & 0xf];
				continue;
			}
			if (n + 1 > PE_CMD_MAX)
				break;
			pe->cmd[n++] = (char)c;
		}
		/* Cut before a UTF-8 sequence the limit split. */
		if (((unsigned char)*arg & 0xc0) == 0x80) {
			while (n > 0 &&
			    ((unsigned char)pe->cmd[n - 1] & 0xc0) == 0x80)
				n--;
			if (n > 0 && (unsigned char)pe->cmd[n - 1] >= 0xc0)
				n--;
		}
	}
	pe->cmd[n++] = '\n';
	return pe_write(pe, pe->cmd, n);
}

/* A request whose ERR does not matter (options, texts, timeout). */
static int
pe_tell(struct pe *pe, const char *verb, const char *arg)
{
	unsigned long code;
	int r, erred;

	if (arg == NULL)
		return 0;
	if ((r = pe_send(pe, verb, arg)) != 0 ||
	    (r = pe_response(pe, 0, &erred, &code)) != 0)
		return r;
	return 0;
}

static int
pe_option(struct pe *pe, const char *name, const char *value)
{
	char opt[512];

	if (value == NULL || *value == '\0')
		return 0;
	if ((size_t)snprintf(opt, sizeof(opt), "%s=%s", name, value) >=
	    sizeof(opt))
		return 0;
	return pe_tell(pe, "OPTION", opt);
}

static const char *
locale_ctype(void)
{
	static const char *vars[] = { "LC_ALL", "LC_CTYPE", "LANG" };
	const char *s;
	size_t i;

	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		if ((s = getenv(vars[i])) != NULL && *s != '\0')
			return s;
	}
	return NULL;
}

/*
 * Starts the program on one end of a socketpair, as both its stdin and
 * stdout. Its stderr goes to /dev/null: in a daemon it would be the log
 * or nothing, and on a terminal pinentry-curses/-tty would scribble
 * diagnostics across the dialog they draw; what matters comes back as an
 * ERR line anyway. Nothing else of ours reaches it (closefrom), and it
 * starts with default signal handling, not the agent's blocked mask.
 */
static int
pe_spawn(struct pe *pe, const char *program)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t set;
	char *argv[2];
	int sv[2] = { -1, -1 }, r = KMES_ERR_SYSTEM, fa_init = 0;
	int attr_init = 0, err;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return KMES_ERR_SYSTEM;
	if (posix_spawn_file_actions_init(&fa) != 0)
		goto out;
	fa_init = 1;
	if (posix_spawnattr_init(&attr) != 0)
		goto out;
	attr_init = 1;
	sigemptyset(&set);
	if (posix_spawnattr_setsigmask(&attr, &set) != 0)
		goto out;
	sigaddset(&set, SIGPIPE);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGCHLD);
	if (posix_spawnattr_setsigdefault(&attr, &set) != 0 ||
	    posix_spawnattr_setflags(&attr,
		POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF) != 0)
		goto out;
	if (posix_spawn_file_actions_adddup2(&fa, sv[1], STDIN_FILENO) != 0 ||
	    posix_spawn_file_actions_adddup2(&fa, sv[1], STDOUT_FILENO) != 0 ||
	    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null",
		O_WRONLY, 0) != 0 ||
	    posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1) !=
		0)
		goto out;
	argv[0] = (char *)program;
	argv[1] = NULL;
	if ((err = posix_spawnp(&pe->pid, program, &fa, &attr, argv,
		 environ)) != 0) {
		pe->pid = -1;
		errno = err;
		goto out;
	}
	pe->fd = sv[0];
	sv[0] = -1;
	(void)fcntl(pe->fd, F_SETFL, O_NONBLOCK);
	r = 0;
out:
	if (attr_init)
		posix_spawnattr_destroy(&attr);
	if (fa_init)
		posix_spawn_file_actions_destroy(&fa);
	if (sv[0] != -1)
		close(sv[0]);
	if (sv[1] != -1)
		close(sv[1]);
	return r;
}

/* Says goodbye, then makes sure the program is gone and reaped. */
static void
pe_finish(struct pe *pe)
{
	uint64_t until;
	pid_t w;

	if (pe->fd != -1) {
		(void)send(pe->fd, "BYE\n", 4, MSG_NOSIGNAL | MSG_DONTWAIT);
		close(pe->fd);
		pe->fd = -1;
	}
	if (pe->pid <= 0)
		return;
	until = agent_now_ms() + PE_EXIT_MS;
	for (;;) {
		w = waitpid(pe->pid, NULL, WNOHANG);
		if (w == pe->pid || (w == -1 && errno != EINTR))
			goto reaped;
		if (agent_now_ms() >= until)
			break;
		(void)usleep(10000);
	}
	/* A program that hangs must not keep the question alive. */
	(void)kill(pe->pid, SIGKILL);
	while (waitpid(pe->pid, NULL, 0) == -1 && errno == EINTR)
		continue;
reaped:
	pe->pid = -1;
}

static int
map_err(unsigned long code)
{
	switch (code & 0xffff) {
	case GPG_ERR_CANCELED:
	case GPG_ERR_FULLY_CANCELED:
		return KMES_ERR_DENIED;
	case GPG_ERR_TIMEOUT:
		return KMES_ERR_TIMEOUT;
	default:
		/* No tty, no display, ...: another way of asking may work. */
		return KMES_ERR_SYSTEM;
	}
}

/* A new session for req, its deadline counted from now. */
static int
pe_new(const struct pinentry_req *req, struct pe **pep)
{
	struct pe *pe;
	unsigned int wait_s;

	*pep = NULL;
	if ((pe = kmes_secure_alloc(sizeof(*pe))) == NULL)
		return KMES_ERR_ALLOC;
	pe->pid = -1;
	pe->fd = -1;
	pe->quit = req->quit;
	if ((pe->in = kbuf_new_secure(PE_IN_MAX)) == NULL) {
		kmes_secure_free(pe);
		return KMES_ERR_ALLOC;
	}
	/* The user may think for minutes; a program that hangs may not. */
	wait_s = req->timeout_s != 0 && req->timeout_s < 86400 ?
	    req->timeout_s + PE_GRACE_S :
	    PINENTRY_WAIT_DEFAULT;
	pe->deadline_ms = agent_now_ms() + (uint64_t)wait_s * 1000;
	*pep = pe;
	return 0;
}

/* Ends the session as pe_finish does, then wipes and frees it. */
static void
pe_free(struct pe *pe)
{
	if (pe == NULL)
		return;
	pe_finish(pe);
	kbuf_free(pe->in);
	kmes_secure_free(pe);
}

/* The question, put to the program at the other end of pe->fd. */
static int
pe_ask(struct pe *pe, const struct pinentry_req *req, uint8_t **pinp,
    size_t *lenp)
{
	uint8_t *pin = NULL;
	unsigned long code;
	char num[16];
	int r, erred;

	*pinp = NULL;
	*lenp = 0;
	/* The greeting. A program that exits first could not be run. */
	if ((r = pe_response(pe, 0, &erred, &code)) != 0) {
		if (r == KMES_ERR_CONNECTION_CLOSED)
			r = KMES_ERR_SYSTEM;
		return r;
	}
	if (erred)
		return KMES_ERR_SYSTEM;
	/*
	 * Options a pinentry does not know are refused with ERR and are
	 * harmless. allow-external-password-cache is never sent: a token
	 * PIN must not land in a desktop keyring.
	 */
	if (req->ttyname != NULL &&
	    ((r = pe_option(pe, "ttyname", req->ttyname)) != 0 ||
		(r = pe_option(pe, "ttytype", getenv("TERM"))) != 0 ||
		(r = pe_option(pe, "lc-ctype", locale_ctype())) != 0))
		return r;
	snprintf(num, sizeof(num), "%u", req->timeout_s);
	if ((r = pe_tell(pe, "SETTITLE", req->title)) != 0 ||
	    (r = pe_tell(pe, "SETDESC", req->desc)) != 0 ||
	    (r = pe_tell(pe, "SETPROMPT", req->prompt)) != 0 ||
	    (r = pe_tell(pe, "SETERROR", req->error)) != 0 ||
	    (req->timeout_s != 0 && (r = pe_tell(pe, "SETTIMEOUT", num)) != 0))
		return r;

	if ((r = pe_send(pe, "GETPIN", NULL)) != 0 ||
	    (r = pe_response(pe, 1, &erred, &code)) != 0)
		return r;
	if (erred)
		return map_err(code);
	if (pe->pinlen == 0)
		return KMES_ERR_DENIED;
	if ((pin = kmes_secure_alloc(pe->pinlen + 1)) == NULL)
		return KMES_ERR_ALLOC;
	memcpy(pin, pe->pin, pe->pinlen);
	pin[pe->pinlen] = '\0';
	*pinp = pin;
	*lenp = pe->pinlen;
	return 0;
}

int
pinentry_getpin(const struct pinentry_req *req, uint8_t **pinp, size_t *lenp)
{
	struct pe *pe = NULL;
	int r;

	*pinp = NULL;
	*lenp = 0;
	if (req == NULL || req->program == NULL || *req->program == '\0')
		return KMES_ERR_INVALID_ARGUMENT;
	if ((r = pe_new(req, &pe)) != 0)
		return r;
	if ((r = pe_spawn(pe, req->program)) == 0)
		r = pe_ask(pe, req, pinp, lenp);
	pe_free(pe);
	return r;
}

int
pinentry_getpin_fd(int fd, const struct pinentry_req *req, uint8_t **pinp,
    size_t *lenp)
{
	struct pe *pe = NULL;
	int r;

	*pinp = NULL;
	*lenp = 0;
	if (fd < 0 || req == NULL)
		return KMES_ERR_INVALID_ARGUMENT;
	if ((r = pe_new(req, &pe)) != 0)
		return r;
	/* A descriptor of our own, which pe_free closes; fd stays open. */
	if ((pe->fd = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1)) == -1)
		r = KMES_ERR_SYSTEM;
	else
		r = pe_ask(pe, req, pinp, lenp);
	pe_free(pe);
	return r;
}

char *
pinentry_find(void)
{
	const char *path, *p, *colon;
	char cand[4096];
	struct stat st;
	size_t n;

	if ((path = getenv("PATH")) == NULL || *path == '\0')
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; *p != '\0'; p = *colon == '\0' ? colon : colon + 1) {
		if ((colon = strchr(p, ':')) == NULL)
			colon = p + strlen(p);
		n = (size_t)(colon - p);
		/* Empty and relative entries mean the working directory:
		 * whoever can write there would choose our PIN dialog. */
		if (n == 0 || *p != '/')
			continue;
		if ((size_t)snprintf(cand, sizeof(cand), "%.*s/pinentry",
			(int)n, p) >= sizeof(cand))
			continue;
		if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(cand, X_OK) == 0)
			return strdup(cand);
	}
	return NULL;
}

const char *
pinentry_err(int r)
{
	switch (r) {
	case 0:
		return "success";
	case KMES_ERR_DENIED:
		return "PIN entry cancelled";
	case KMES_ERR_TIMEOUT:
		return "no answer from the pinentry in time";
	case KMES_ERR_SYSTEM:
		return "the pinentry program could not be run or could not "
		       "show a dialog";
	case KMES_ERR_STRING_TOO_LARGE:
	case KMES_ERR_MESSAGE_TOO_LARGE:
		return "the pinentry sent more than the protocol allows";
	case KMES_ERR_INVALID_FORMAT:
		return "the pinentry does not speak the pinentry protocol";
	case KMES_ERR_CONNECTION_CLOSED:
		return "the pinentry went away before answering";
	default:
		return kmes_err(r);
	}
}

unsigned int
pinentry_timeout_env(unsigned int dflt)
{
	const char *s;
	char *end;
	unsigned long v;

	if ((s = getenv("KMES_PINENTRY_TIMEOUT")) == NULL || *s == '\0')
		return dflt;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > 3600)
		return dflt;
	return (unsigned int)v;
}

/*
 * readpass_pin() (declared in readpass.h) lives here rather than in
 * readpass.c, so that programs which never run a pinentry (kmes-keytool)
 * link readpass.c alone.
 */

static int
have_terminal(void)
{
	int fd;

	if ((fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)) == -1)
		return 0;
	close(fd);
	return 1;
}

/* "N tries left", "1 try left", or "" when unknown. */
static void
tries_text(int tries_left, char *buf, size_t len)
{
	if (tries_left < 0)
		buf[0] = '\0';
	else
		snprintf(buf, len, "%d %s left", tries_left,
		    tries_left == 1 ? "try" : "tries");
}

/*
 * The terminal a pinentry-tty/-curses should draw on: ours, as named by a
 * standard descriptor, or /dev/tty (same controlling terminal: the
 * pinentry is our child) when only that is open. NULL when there is none.
 */
static const char *
terminal_name(void)
{
	static const int fds[] = { STDIN_FILENO, STDERR_FILENO, STDOUT_FILENO };
	const char *name;
	size_t i;

	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (isatty(fds[i]) && (name = ttyname(fds[i])) != NULL)
			return name;
	}
	if (!have_terminal())
		return NULL;
	return "/dev/tty";
}

static int
ask_pinentry(const struct readpass_prompt *p, const char *program,
    const char *ttyname, uint8_t **secp, size_t *lenp)
{
	struct pinentry_req req;
	char desc[512], tries[32];
	int r;

	tries_text(p->tries_left, tries, sizeof(tries));
	snprintf(desc, sizeof(desc), "Please enter the PIN for %s.%s%s",
	    p->name, tries[0] != '\0' ? "\n" : "", tries);
	memset(&req, 0, sizeof(req));
	req.program = program;
	req.title = "kmes-agent";
	req.desc = desc;
	req.prompt = "PIN:";
	req.error = p->error;
	req.ttyname = ttyname;
	req.timeout_s = pinentry_timeout_env(0);
	r = pinentry_getpin(&req, secp, lenp);
	/* A cancel is the user's own doing; anything else deserves a why. */
	if (r != 0 && r != KMES_ERR_DENIED)
		fprintf(stderr, "%s: pinentry %s: %s%s\n",
		    program_invocation_short_name, program, pinentry_err(r),
		    r == KMES_ERR_SYSTEM ? "; trying another way" : "");
	return r;
}

int
readpass_pin(const struct readpass_prompt *p, uint8_t **secp, size_t *lenp)
{
	const char *askpass;
	char prompt[640], tries[32], *found = NULL;
	int r;

	*secp = NULL;
	*lenp = 0;
	if (p == NULL || p->name == NULL)
		return KMES_ERR_INVALID_ARGUMENT;
	if (p->pinentry != NULL && *p->pinentry != '\0') {
		r = ask_pinentry(p, p->pinentry, terminal_name(), secp, lenp);
		if (r != KMES_ERR_SYSTEM)
			return r;
	}
	tries_text(p->tries_left, tries, sizeof(tries));
	snprintf(prompt, sizeof(prompt), "Enter PIN for %s%s%s%s: ", p->name,
	    tries[0] != '\0' ? " (" : "", tries, tries[0] != '\0' ? ")" : "");
	/*
	 * On the terminal p->error is not repeated: the caller has just
	 * reported the failure on stderr, normally that same terminal.
	 */
	if (have_terminal())
		return readpass_tty(prompt, 0, secp, lenp);
	/* No terminal: a desktop pinentry (it fails fast without one). */
	if ((p->pinentry == NULL || *p->pinentry == '\0') &&
	    (found = pinentry_find()) != NULL) {
		r = ask_pinentry(p, found, NULL, secp, lenp);
		free(found);
		if (r != KMES_ERR_SYSTEM)
			return r;
	}
	if ((askpass = getenv("SSH_ASKPASS")) != NULL && *askpass != '\0')
		return readpass_askpass(prompt, secp, lenp);
	return KMES_ERR_SYSTEM;
}
