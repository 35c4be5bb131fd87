/*
 * p11-shim.c: a deliberately faulty PKCS#11 module for the tests.
 *
 * It loads the real module named by $KMES_SHIM_MODULE (SoftHSM2 by default)
 * and hands out a 2.40 function list whose every entry first consults the
 * control file named by $KMES_SHIM_CTL, then forwards. One rule per line,
 * '#' starts a comment:
 *
 *	<function> <action> [once]
 *
 *	function  C_Sign, C_Login, ... or '*' for any entry of the function
 *	          list ('*' never matches C_GetFunctionList, C_GetInterface or
 *	          C_GetInterfaceList: name those to make loading itself fail)
 *	action    hang | abort | segv | exit | delay=<ms> | rv=<CKR_name|number>
 *	once      the rule fires once and is deleted from the file
 *
 * The first rule naming the function (or '*') in file order wins. No
 * variable, or no file: pure pass-through. The file is re-read on every
 * call, so a test changes faults between calls by replacing the file
 * (write a temporary file and rename it, so no call reads half a rule).
 *
 * "once" is exact across threads and processes: the file is read under
 * flock() and a consumed rule removed (temporary file, rename) before the
 * lock is dropped. "hang" blocks every signal in the calling thread, as a
 * wedged driver ignores SIGTERM: expect to need SIGKILL. A faked error on
 * C_Sign and the other operation calls also ends the real module's
 * operation, as PKCS#11 says an error does (see p11-shim-functions.h).
 *
 * A control file the shim cannot read or parse is a broken test, not a
 * fault to inject: the call fails with SHIM_CKR_BAD_CTL, a vendor code no
 * rule would name, and stderr says why. Every fired rule is logged on
 * stderr too, so a test log shows which fault a failure came from.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#include "p11-shim-functions.h"

#define SHIM_DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define SHIM_EXPORT __attribute__((visibility("default")))

/* "SHIM" in the vendor range: no real module or rule returns it. */
#define SHIM_CKR_BAD_CTL (CKR_VENDOR_DEFINED | 0x5348494dUL)

/* Control files are a few lines; anything larger is a mistake. */
#define SHIM_CTL_MAX (64 * 1024)
#define SHIM_DELAY_MAX_MS (10 * 60 * 1000UL)

/* p11-kit 0.24's header predates PKCS#11 3.0; this is 3.0's CK_INTERFACE. */
struct shim_interface {
	CK_UTF8CHAR *name;
	void *functions;
	CK_FLAGS flags;
};

SHIM_EXPORT CK_RV C_GetInterfaceList(struct shim_interface *, CK_ULONG_PTR);
SHIM_EXPORT CK_RV C_GetInterface(CK_UTF8CHAR *, CK_VERSION *,
    struct shim_interface **, CK_FLAGS);

enum shim_action {
	SHIM_HANG,
	SHIM_ABORT,
	SHIM_SEGV,
	SHIM_EXIT,
	SHIM_DELAY,
	SHIM_RV,
};

struct shim_rule {
	enum shim_action action;
	unsigned long arg; /* milliseconds for SHIM_DELAY, a CK_RV */
	int once;
};

#define SHIM_CKR(n) \
	{ \
#n, n \
	}
static const struct {
	const char *name;
	CK_RV rv;
} shim_ckr_names[] = {
	SHIM_CKR(CKR_OK),
	SHIM_CKR(CKR_CANCEL),
	SHIM_CKR(CKR_HOST_MEMORY),
	SHIM_CKR(CKR_SLOT_ID_INVALID),
	SHIM_CKR(CKR_GENERAL_ERROR),
	SHIM_CKR(CKR_FUNCTION_FAILED),
	SHIM_CKR(CKR_ARGUMENTS_BAD),
	SHIM_CKR(CKR_ATTRIBUTE_SENSITIVE),
	SHIM_CKR(CKR_ATTRIBUTE_TYPE_INVALID),
	SHIM_CKR(CKR_DATA_INVALID),
	SHIM_CKR(CKR_DATA_LEN_RANGE),
	SHIM_CKR(CKR_DEVICE_ERROR),
	SHIM_CKR(CKR_DEVICE_MEMORY),
	SHIM_CKR(CKR_DEVICE_REMOVED),
	SHIM_CKR(CKR_FUNCTION_CANCELED),
	SHIM_CKR(CKR_FUNCTION_NOT_SUPPORTED),
	SHIM_CKR(CKR_KEY_HANDLE_INVALID),
	SHIM_CKR(CKR_KEY_FUNCTION_NOT_PERMITTED),
	SHIM_CKR(CKR_MECHANISM_INVALID),
	SHIM_CKR(CKR_MECHANISM_PARAM_INVALID),
	SHIM_CKR(CKR_OBJECT_HANDLE_INVALID),
	SHIM_CKR(CKR_OPERATION_ACTIVE),
	SHIM_CKR(CKR_OPERATION_NOT_INITIALIZED),
	SHIM_CKR(CKR_PIN_INCORRECT),
	SHIM_CKR(CKR_PIN_EXPIRED),
	SHIM_CKR(CKR_PIN_LOCKED),
	SHIM_CKR(CKR_SESSION_CLOSED),
	SHIM_CKR(CKR_SESSION_COUNT),
	SHIM_CKR(CKR_SESSION_HANDLE_INVALID),
	SHIM_CKR(CKR_SESSION_READ_ONLY),
	SHIM_CKR(CKR_TOKEN_NOT_PRESENT),
	SHIM_CKR(CKR_TOKEN_NOT_RECOGNIZED),
	SHIM_CKR(CKR_USER_ALREADY_LOGGED_IN),
	SHIM_CKR(CKR_USER_NOT_LOGGED_IN),
	SHIM_CKR(CKR_USER_PIN_NOT_INITIALIZED),
	SHIM_CKR(CKR_USER_TYPE_INVALID),
	SHIM_CKR(CKR_BUFFER_TOO_SMALL),
	SHIM_CKR(CKR_CRYPTOKI_NOT_INITIALIZED),
	SHIM_CKR(CKR_CRYPTOKI_ALREADY_INITIALIZED),
};

#define SHIM_NAME(name, params, args) #name,
#define SHIM_OP_NAME(name, params, args, end) #name,
static const char *const shim_function_names[] = {
	SHIM_FUNCTIONS(SHIM_NAME)
	    SHIM_OPERATIONS(SHIM_OP_NAME) "C_GetFunctionList",
	"C_GetInterface",
	"C_GetInterfaceList",
};

static CK_FUNCTION_LIST *shim_real;
static CK_FUNCTION_LIST shim_list;
static pthread_once_t shim_load_once = PTHREAD_ONCE_INIT;

static void shim_say(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void
shim_say(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	/* One write per message, so lines of concurrent callers don't mix. */
	n = snprintf(line, sizeof(line),
	    "kmes-p11-shim[%ld]: ", (long)getpid());
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	n = (int)strlen(line);
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) == -1)
		return; /* nowhere left to complain */
}

/* The entry points that find the function list, not members of it. */
static int
shim_entry_point(const char *name)
{
	return strcmp(name, "C_GetFunctionList") == 0 ||
	    strcmp(name, "C_GetInterface") == 0 ||
	    strcmp(name, "C_GetInterfaceList") == 0;
}

static int
shim_known_function(const char *name)
{
	size_t i;

	if (strcmp(name, "*") == 0)
		return 1;
	for (i = 0;
	     i < sizeof(shim_function_names) / sizeof(shim_function_names[0]);
	     i++)
		if (strcmp(name, shim_function_names[i]) == 0)
			return 1;
	return 0;
}

/* "CKR_X", "0x1f" or "31" into *rv; 0 or -1. */
static int
shim_parse_rv(const char *s, CK_RV *rv)
{
	unsigned long v;
	char *end;
	size_t i;

	for (i = 0; i < sizeof(shim_ckr_names) / sizeof(shim_ckr_names[0]);
	     i++) {
		if (strcmp(s, shim_ckr_names[i].name) == 0) {
			*rv = shim_ckr_names[i].rv;
			return 0;
		}
	}
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno != 0 || *end != '\0')
		return -1;
	*rv = v;
	return 0;
}

static int
shim_parse_action(const char *s, struct shim_rule *rule)
{
	unsigned long ms;
	char *end;

	if (strcmp(s, "hang") == 0)
		rule->action = SHIM_HANG;
	else if (strcmp(s, "abort") == 0)
		rule->action = SHIM_ABORT;
	else if (strcmp(s, "segv") == 0)
		rule->action = SHIM_SEGV;
	else if (strcmp(s, "exit") == 0)
		rule->action = SHIM_EXIT;
	else if (strncmp(s, "delay=", 6) == 0) {
		if (!isdigit((unsigned char)s[6]))
			return -1;
		errno = 0;
		ms = strtoul(s + 6, &end, 10);
		if (errno != 0 || *end != '\0' || ms > SHIM_DELAY_MAX_MS)
			return -1;
		rule->action = SHIM_DELAY;
		rule->arg = ms;
	} else if (strncmp(s, "rv=", 3) == 0) {
		rule->action = SHIM_RV;
		return shim_parse_rv(s + 3, &rule->arg);
	} else
		return -1;
	return 0;
}

/*
 * Parse one line (NUL-terminated, comment already cut). Returns 1 and
 * fills *rule if it is a rule for fn, 0 if blank or for another function,
 * -1 if malformed.
 */
static int
shim_parse_line(char *line, const char *fn, struct shim_rule *rule)
{
	char *tok[4], *t, *save = NULL;
	int n = 0;

	for (t = strtok_r(line, " \t\r", &save); t != NULL;
	     t = strtok_r(NULL, " \t\r", &save)) {
		if (n == 4)
			return -1;
		tok[n++] = t;
	}
	if (n == 0)
		return 0;
	if (n < 2 || n > 3 || !shim_known_function(tok[0]))
		return -1;
	memset(rule, 0, sizeof(*rule));
	if (shim_parse_action(tok[1], rule) != 0)
		return -1;
	if (n == 3) {
		if (strcmp(tok[2], "once") != 0)
			return -1;
		rule->once = 1;
	}
	if (strcmp(tok[0], fn) == 0)
		return 1;
	/* '*' is for the function list, not for finding it. */
	return strcmp(tok[0], "*") == 0 && !shim_entry_point(fn);
}

/* The whole file (at most SHIM_CTL_MAX bytes), NUL-terminated, into *out. */
static int
shim_read_all(int fd, const char *path, char **out, size_t *outlen)
{
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int r = -1;

	*out = NULL;
	if ((buf = malloc(SHIM_CTL_MAX + 1)) == NULL)
		goto out;
	for (;;) {
		n = read(fd, buf + len, SHIM_CTL_MAX + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			shim_say("%s: read: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > SHIM_CTL_MAX) {
			shim_say("%s: larger than %d bytes", path,
			    SHIM_CTL_MAX);
			goto out;
		}
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	buf = NULL;
	r = 0;
out:
	free(buf);
	return r;
}

/* Replace path with buf minus [cut, cut + cutlen): temp file, rename. */
static int
shim_rewrite(const char *path, mode_t mode, const char *buf, size_t len,
    size_t cut, size_t cutlen)
{
	char tmp[PATH_MAX];
	const char *part[2] = { buf, buf + cut + cutlen };
	size_t plen[2] = { cut, len - cut - cutlen };
	ssize_t n;
	int fd = -1, r = -1, i;

	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
		goto out;
	if ((fd = mkstemp(tmp)) == -1) {
		shim_say("%s: mkstemp: %s", path, strerror(errno));
		goto out;
	}
	for (i = 0; i < 2; i++) {
		while (plen[i] > 0) {
			n = write(fd, part[i], plen[i]);
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1) {
				shim_say("%s: write: %s", tmp, strerror(errno));
				goto out;
			}
			part[i] += n;
			plen[i] -= (size_t)n;
		}
	}
	if (fchmod(fd, mode & 07777) == -1) {
		shim_say("%s: fchmod: %s", tmp, strerror(errno));
		goto out;
	}
	i = close(fd);
	fd = -1;
	if (i == -1) {
		shim_say("%s: close: %s", tmp, strerror(errno));
		goto out;
	}
	if (rename(tmp, path) == -1) {
		shim_say("%s: rename: %s", path, strerror(errno));
		goto out;
	}
	r = 0;
out:
	if (fd != -1)
		close(fd);
	if (r != 0)
		unlink(tmp);
	return r;
}

/*
 * Open and lock the control file. flock() locks an inode, and a consumed
 * "once" rule replaces the file by rename: a caller that queued on the old
 * inode must not read the stale rule again, so after locking we check the
 * path still names what we locked, and start over if not. Returns the fd,
 * -1 for "no control file" or -2 on error.
 */
static int
shim_open_locked(const char *path, struct stat *st)
{
	struct stat now;
	int fd, tries;

	for (tries = 0; tries < 1000; tries++) {
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
			if (errno == ENOENT)
				return -1;
			shim_say("%s: open: %s", path, strerror(errno));
			return -2;
		}
		while (flock(fd, LOCK_EX) == -1) {
			if (errno != EINTR) {
				shim_say("%s: flock: %s", path,
				    strerror(errno));
				close(fd);
				return -2;
			}
		}
		if (fstat(fd, st) == -1) {
			shim_say("%s: fstat: %s", path, strerror(errno));
			close(fd);
			return -2;
		}
		if (stat(path, &now) == -1) {
			close(fd);
			if (errno == ENOENT)
				return -1;
			shim_say("%s: stat: %s", path, strerror(errno));
			return -2;
		}
		if (now.st_dev == st->st_dev && now.st_ino == st->st_ino)
			return fd;
		close(fd);
	}
	shim_say("%s: keeps being replaced", path);
	return -2;
}

/*
 * The rule for fn, if any: 1 and *rule filled, 0 for none, -1 if the
 * control file is unusable. A "once" rule is deleted before the lock is
 * released, so exactly one caller among all processes sees it.
 */
static int
shim_lookup(const char *fn, struct shim_rule *rule)
{
	const char *path = getenv("KMES_SHIM_CTL");
	char *buf = NULL, *line, *nl, *hash;
	size_t len = 0, start, next, hit_start = 0, hit_len = 0;
	struct shim_rule cand;
	struct stat st;
	int fd = -1, r = -1, found = 0, lineno = 0, pr;

	if (path == NULL || *path == '\0')
		return 0;
	if ((fd = shim_open_locked(path, &st)) < 0) {
		r = fd == -1 ? 0 : -1;
		fd = -1;
		goto out;
	}
	if (shim_read_all(fd, path, &buf, &len) != 0)
		goto out;
	if (memchr(buf, '\0', len) != NULL) {
		shim_say("%s: contains a NUL byte", path);
		goto out;
	}
	/* Parse every line, matching or not: a typo anywhere is loud. */
	for (start = 0; start < len; start = next) {
		lineno++;
		nl = memchr(buf + start, '\n', len - start);
		next = nl != NULL ? (size_t)(nl - buf) + 1 : len;
		if ((line = strndup(buf + start, next - start)) == NULL)
			goto out;
		line[strcspn(line, "\n")] = '\0';
		if ((hash = strchr(line, '#')) != NULL)
			*hash = '\0';
		pr = shim_parse_line(line, fn, &cand);
		free(line);
		if (pr == -1) {
			shim_say("%s:%d: bad rule (want '<function> "
				 "<action> [once]')",
			    path, lineno);
			goto out;
		}
		if (pr == 1 && !found) {
			found = 1;
			*rule = cand;
			hit_start = start;
			hit_len = next - start;
		}
	}
	if (found && rule->once &&
	    shim_rewrite(path, st.st_mode, buf, len, hit_start, hit_len) != 0)
		goto out;
	r = found;
out:
	if (fd != -1)
		close(fd); /* drops the lock, after any rewrite */
	free(buf);
	return r;
}

static void
shim_sleep_ms(unsigned long ms)
{
	struct timespec ts = { (time_t)(ms / 1000),
		(long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/*
 * Consult the control file for fn. Returns 1 with *rv set when the call
 * must return *rv without reaching the real module, 0 to forward. Crashing
 * actions do not return.
 */
static int
shim_gate(const char *fn, CK_RV *rv)
{
	struct shim_rule rule;
	sigset_t all;
	const char *once;
	int r;

	if ((r = shim_lookup(fn, &rule)) == 0)
		return 0;
	if (r < 0) {
		*rv = SHIM_CKR_BAD_CTL;
		return 1;
	}
	once = rule.once ? " (once)" : "";
	switch (rule.action) {
	case SHIM_HANG:
		shim_say("%s: hang%s", fn, once);
		/*
		 * A wedged token driver does not answer SIGTERM either: block
		 * every signal so only SIGKILL (or another thread taking a
		 * process-wide signal) ends this.
		 */
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, NULL);
		for (;;)
			pause();
	case SHIM_ABORT:
		shim_say("%s: abort%s", fn, once);
		abort();
	case SHIM_SEGV:
		shim_say("%s: segv%s", fn, once);
		/* Die of SIGSEGV even if the caller handles or blocks it. */
		signal(SIGSEGV, SIG_DFL);
		sigemptyset(&all);
		sigaddset(&all, SIGSEGV);
		pthread_sigmask(SIG_UNBLOCK, &all, NULL);
		raise(SIGSEGV);
		abort();
	case SHIM_EXIT:
		shim_say("%s: exit%s", fn, once);
		_exit(3);
	case SHIM_DELAY:
		shim_say("%s: delay=%lu%s", fn, rule.arg, once);
		shim_sleep_ms(rule.arg);
		return 0;
	case SHIM_RV:
		shim_say("%s: rv=0x%lx%s", fn, rule.arg, once);
		*rv = rule.arg;
		return 1;
	}
	abort(); /* unreachable: every action is handled above */
}

/* Let the real module finish a one-shot operation, output discarded. */
static void
shim_end_one(CK_C_Sign f, CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inl)
{
	CK_BYTE *buf;
	CK_ULONG n = 0, size;

	/* A failed call has ended the operation already. */
	if (f(h, in, inl, NULL, &n) != CKR_OK)
		return;
	size = n > 0 ? n : 1;
	if ((buf = malloc(size)) == NULL)
		return;
	(void)f(h, in, inl, buf, &n);
	explicit_bzero(buf, size);
	free(buf);
}

/* The same for a multi-part operation: its final call, output discarded. */
static void
shim_end_final(CK_C_SignFinal f, CK_SESSION_HANDLE h)
{
	CK_BYTE *buf;
	CK_ULONG n = 0, size;

	if (f(h, NULL, &n) != CKR_OK)
		return;
	size = n > 0 ? n : 1;
	if ((buf = malloc(size)) == NULL)
		return;
	(void)f(h, buf, &n);
	explicit_bzero(buf, size);
	free(buf);
}

/* PKCS#11: any error but CKR_BUFFER_TOO_SMALL ends the operation. */
static int
shim_ends_operation(CK_RV rv)
{
	return rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL;
}

#define SHIM_WRAPPER(name, params, args) \
	static CK_RV shim_##name params \
	{ \
		CK_RV rv; \
\
		if (shim_gate(#name, &rv)) \
			return rv; \
		return shim_real->name args; \
	}
SHIM_FUNCTIONS(SHIM_WRAPPER)

#define SHIM_OP_WRAPPER(name, params, args, end) \
	static CK_RV shim_##name params \
	{ \
		CK_RV rv; \
\
		if (shim_gate(#name, &rv)) { \
			if (shim_ends_operation(rv)) \
				end; \
			return rv; \
		} \
		return shim_real->name args; \
	}
SHIM_OPERATIONS(SHIM_OP_WRAPPER)

static void
shim_load(void)
{
	const char *path = getenv("KMES_SHIM_MODULE");
	CK_C_GetFunctionList get;
	CK_FUNCTION_LIST *list = NULL;
	void *handle, *sym;
	CK_RV rv;

	if (path == NULL || *path == '\0')
		path = SHIM_DEFAULT_MODULE;
	/* Never dlclose()d: the real module lives as long as we do. */
	if ((handle = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		shim_say("dlopen %s: %s", path, dlerror());
		return;
	}
	if ((sym = dlsym(handle, "C_GetFunctionList")) == NULL) {
		shim_say("%s: no C_GetFunctionList", path);
		return;
	}
	/* ISO C has no object-to-function pointer cast; POSIX makes this safe. */
	memcpy(&get, &sym, sizeof(get));
	if ((rv = get(&list)) != CKR_OK || list == NULL) {
		shim_say("%s: C_GetFunctionList: rv=0x%lx", path, rv);
		return;
	}

#define SHIM_ENTRY(name, params, args) shim_list.name = shim_##name;
#define SHIM_OP_ENTRY(name, params, args, end) shim_list.name = shim_##name;
	SHIM_FUNCTIONS(SHIM_ENTRY)
	SHIM_OPERATIONS(SHIM_OP_ENTRY)
#undef SHIM_ENTRY
#undef SHIM_OP_ENTRY
	shim_list.C_GetFunctionList = C_GetFunctionList;
	/* Claim no more than the real module offers, and no more than 2.40. */
	shim_list.version = list->version;
	if (list->version.major != 2 || list->version.minor > 40) {
		shim_list.version.major = 2;
		shim_list.version.minor = 40;
	}
	shim_real = list;
}

static CK_RV
shim_loaded(void)
{
	pthread_once(&shim_load_once, shim_load);
	return shim_real != NULL ? CKR_OK : CKR_GENERAL_ERROR;
}

SHIM_EXPORT CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
	CK_RV rv;

	if (shim_gate("C_GetFunctionList", &rv))
		return rv;
	if (out == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((rv = shim_loaded()) != CKR_OK)
		return rv;
	*out = &shim_list;
	return CKR_OK;
}

static struct shim_interface shim_iface = { (CK_UTF8CHAR *)"PKCS 11",
	&shim_list, 0 };

SHIM_EXPORT CK_RV
C_GetInterfaceList(struct shim_interface *list, CK_ULONG_PTR count)
{
	CK_RV rv;

	if (shim_gate("C_GetInterfaceList", &rv))
		return rv;
	if (count == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((rv = shim_loaded()) != CKR_OK)
		return rv;
	if (list == NULL) {
		*count = 1;
		return CKR_OK;
	}
	if (*count < 1) {
		*count = 1;
		return CKR_BUFFER_TOO_SMALL;
	}
	list[0] = shim_iface;
	*count = 1;
	return CKR_OK;
}

SHIM_EXPORT CK_RV
C_GetInterface(CK_UTF8CHAR *name, CK_VERSION *version,
    struct shim_interface **out, CK_FLAGS flags)
{
	CK_RV rv;

	if (shim_gate("C_GetInterface", &rv))
		return rv;
	if (out == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((rv = shim_loaded()) != CKR_OK)
		return rv;
	/* Only the 2.x list exists here; asking for 3.0 finds nothing. */
	if ((name != NULL && strcmp((const char *)name, "PKCS 11") != 0) ||
	    (version != NULL &&
		(version->major != shim_list.version.major ||
		    version->minor != shim_list.version.minor)) ||
	    (flags & ~shim_iface.flags) != 0)
		return CKR_ARGUMENTS_BAD;
	*out = &shim_iface;
	return CKR_OK;
}
