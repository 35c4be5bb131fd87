/*
 * config.c: reads agent.conf, one "keyword value" per line (see
 * kmes-agent.conf(5)). The file names modules the agent will load and the
 * store it will unlock, so it must belong to the user (or root) and be
 * writable by nobody else; every value is checked here, so main() only
 * copies fields it finds set.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "kbuf.h"
#include "kmes-err.h"

/* A config file is a few dozen lines; anything this big is a mistake. */
#define CONFIG_FILE_MAX (64 * 1024)
/* Bytes on one line, not counting its newline. */
#define CONFIG_LINE_MAX 1024
/* Bytes of a bad value or keyword quoted back in a message. */
#define CONFIG_SHOW_MAX 64

enum config_kw {
	KW_STORE,
	KW_PIN,
	KW_PKCS11,
	KW_TOKEN,
	KW_PKCS11_TIMEOUT,
	KW_LOCK_IDLE,
	KW_LIFETIME,
	KW_AUDIT_LOG,
	KW_PINENTRY,
	KW_ALLOWED_PROVIDERS,
	KW_ALLOW_REMOTE_PKCS11,
	KW_COUNT
};

static const struct config_keyword {
	const char *name;
	int once;	    /* a second line is an error */
	const char *expect; /* what the value should be, for messages */
	long min, max;	    /* seconds, for times */
} keywords[KW_COUNT] = {
	[KW_STORE] = { "store", 1, "an absolute path or ~/path", 0, 0 },
	[KW_PIN] = { "pin", 1, "yes or no", 0, 0 },
	[KW_PKCS11] = { "pkcs11", 0, "an absolute path or ~/path", 0, 0 },
	[KW_TOKEN] = { "token", 0, "a token label or serial number", 0, 0 },
	[KW_PKCS11_TIMEOUT] = { "pkcs11-timeout", 1,
	    "a time from 1s to 1h, such as 30 or 2m", 1, 3600 },
	[KW_LOCK_IDLE] = { "lock-idle", 1,
	    "a time of at least 1s, such as 900 or 15m", 1, 0 },
	[KW_LIFETIME] = { "lifetime", 1,
	    "a time of at least 1s, such as 3600 or 1h30m", 1, 0 },
	[KW_AUDIT_LOG] = { "audit-log", 1, "an absolute path or ~/path", 0, 0 },
	[KW_PINENTRY] = { "pinentry", 1, "a program name or an absolute path",
	    0, 0 },
	[KW_ALLOWED_PROVIDERS] = { "allowed-providers", 1,
	    "a comma-separated list of patterns", 0, 0 },
	[KW_ALLOW_REMOTE_PKCS11] = { "allow-remote-pkcs11", 1, "yes or no", 0,
	    0 },
};

struct config_parser {
	const char *name;
	size_t line;
	size_t first[KW_COUNT]; /* line a keyword was first seen on */
	size_t module_line[CONFIG_MAX_PKCS11];
	size_t token_line[CONFIG_MAX_PKCS11];
	struct agent_config *cfg;
	char *err;
	size_t errlen;
};

/* Writes "name:LINE: message" to the caller's buffer; returns the code. */
static int __attribute__((format(printf, 2, 3)))
parse_error(struct config_parser *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->errlen == 0)
		return KMES_ERR_INVALID_FORMAT;
	n = snprintf(p->err, p->errlen, "%s:%zu: ", p->name, p->line);
	if (n >= 0 && (size_t)n < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return KMES_ERR_INVALID_FORMAT;
}

/* As parse_error, for the file as a whole: "path: message". */
static int __attribute__((format(printf, 5, 6))) file_error(int r,
    const char *path, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	int n, saved = errno;

	if (errlen > 0) {
		n = snprintf(err, errlen, "%s: ", path);
		if (n >= 0 && (size_t)n < errlen) {
			va_start(ap, fmt);
			vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	/* KMES_ERR_SYSTEM callers may still want errno. */
	errno = saved;
	return r;
}

/*
 * Copies s for quoting in a message: at most CONFIG_SHOW_MAX bytes, and
 * anything but printable ASCII as '?', so a stray escape sequence in the
 * file cannot repaint the terminal or forge a log line.
 */
static const char *
show(char *buf, size_t len, const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < len; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	buf[i] = '\0';
	if (s[i] != '\0' && i >= 3)
		memcpy(buf + i - 3, "...", 3);
	return buf;
}

static int
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Expands a path value: absolute as is, or ~/ under $HOME. Anything else
 * would be resolved against whatever directory the agent started in.
 */
static int
expand_path(struct config_parser *p, enum config_kw kw, const char *v,
    char **outp)
{
	char shown[CONFIG_SHOW_MAX + 1];
	const char *home;
	char *s = NULL;
	size_t hlen;

	*outp = NULL;
	if (v[0] == '/') {
		if ((s = strdup(v)) == NULL)
			return KMES_ERR_ALLOC;
	} else if (v[0] == '~' && v[1] == '/') {
		if ((home = secure_getenv("HOME")) == NULL || home[0] != '/')
			return parse_error(p,
			    "%s: ~/ needs HOME set to an "
			    "absolute path",
			    keywords[kw].name);
		/* "/home/u/" and "/" must not give "//". */
		hlen = strlen(home);
		while (hlen > 0 && home[hlen - 1] == '/')
			hlen--;
		if (hlen > INT_MAX ||
		    asprintf(&s, "%.*s%s", (int)hlen, home, v + 1) < 0)
			return KMES_ERR_ALLOC;
	} else
		return parse_error(p,
		    "%s: \"%s\" is not an absolute path "
		    "(expected %s)",
		    keywords[kw].name, show(shown, sizeof(shown), v),
		    keywords[kw].expect);
	*outp = s;
	return 0;
}

static int
set_string(char **dst, const char *v)
{
	if ((*dst = strdup(v)) == NULL)
		return KMES_ERR_ALLOC;
	return 0;
}

static int
set_time(struct config_parser *p, enum config_kw kw, const char *v, long *dst)
{
	const struct config_keyword *k = &keywords[kw];
	char shown[CONFIG_SHOW_MAX + 1];
	long t;

	if ((t = agent_convtime(v)) < 0)
		return parse_error(p, "%s: bad time \"%s\" (expected %s)",
		    k->name, show(shown, sizeof(shown), v), k->expect);
	if (t < k->min || (k->max != 0 && t > k->max))
		return parse_error(p,
		    "%s: \"%s\" is out of range (expected "
		    "%s)",
		    k->name, show(shown, sizeof(shown), v), k->expect);
	*dst = t;
	return 0;
}

static int
add_pkcs11(struct config_parser *p, const char *v)
{
	struct agent_config *cfg = p->cfg;
	int r;

	if (cfg->npkcs11 == CONFIG_MAX_PKCS11)
		return parse_error(p, "pkcs11: more than %d modules",
		    CONFIG_MAX_PKCS11);
	if ((r = expand_path(p, KW_PKCS11, v,
		 &cfg->pkcs11[cfg->npkcs11].module)) != 0)
		return r;
	p->module_line[cfg->npkcs11++] = p->line;
	return 0;
}

static int
set_token(struct config_parser *p, const char *v)
{
	struct agent_config *cfg = p->cfg;
	size_t i;

	if (cfg->npkcs11 == 0)
		return parse_error(p,
		    "token: no pkcs11 line before it (a "
		    "token belongs to the module above it)");
	i = cfg->npkcs11 - 1;
	if (cfg->pkcs11[i].token != NULL)
		return parse_error(p,
		    "token: the pkcs11 module of line %zu "
		    "already has a token (line %zu); repeat the pkcs11 line "
		    "for another token",
		    p->module_line[i], p->token_line[i]);
	p->token_line[i] = p->line;
	return set_string(&cfg->pkcs11[i].token, v);
}

/* Parses one line, NUL-terminated and free of newlines, into p->cfg. */
static int
parse_line(struct config_parser *p, char *line)
{
	struct agent_config *cfg = p->cfg;
	char shown[CONFIG_SHOW_MAX + 1];
	const struct config_keyword *k;
	enum config_kw kw;
	char *s = line, *key, *v, sep;
	size_t n;

	/* Blanks at the end go, and so do stray CRs (the line end's is gone). */
	n = strlen(line);
	while (n > 0 && (is_blank(line[n - 1]) || line[n - 1] == '\r'))
		line[--n] = '\0';
	while (is_blank(*s))
		s++;
	if (*s == '\0' || *s == '#')
		return 0;

	key = s;
	while (*s != '\0' && !is_blank(*s) && *s != '=')
		s++;
	if (s == key)
		return parse_error(p, "missing keyword before '='");
	sep = *s;
	*s = '\0';
	if (sep != '\0')
		s++;
	while (is_blank(*s))
		s++;
	if (sep != '=' && *s == '=') {
		s++;
		while (is_blank(*s))
			s++;
	}
	v = s;

	for (kw = 0; kw < KW_COUNT; kw++)
		if (strcmp(key, keywords[kw].name) == 0)
			break;
	if (kw == KW_COUNT)
		return parse_error(p, "unknown keyword \"%s\"",
		    show(shown, sizeof(shown), key));
	k = &keywords[kw];
	if (k->once && p->first[kw] != 0)
		return parse_error(p, "%s given twice (first on line %zu)",
		    k->name, p->first[kw]);
	p->first[kw] = p->line;
	if (*v == '\0')
		return parse_error(p, "%s: missing value (expected %s)",
		    k->name, k->expect);

	switch (kw) {
	case KW_STORE:
		return expand_path(p, kw, v, &cfg->store);
	case KW_AUDIT_LOG:
		return expand_path(p, kw, v, &cfg->audit_log);
	case KW_PKCS11:
		return add_pkcs11(p, v);
	case KW_TOKEN:
		return set_token(p, v);
	case KW_PIN:
		/*
		 * Someone may write their PIN here: refuse it without
		 * quoting it, so it reaches no terminal or log.
		 */
		if (strcmp(v, "yes") == 0)
			cfg->pin = 1;
		else if (strcmp(v, "no") == 0)
			cfg->pin = 0;
		else
			return parse_error(p,
			    "pin: expected yes or no (a PIN "
			    "never goes in this file)");
		return 0;
	case KW_PKCS11_TIMEOUT:
		return set_time(p, kw, v, &cfg->pkcs11_timeout);
	case KW_LOCK_IDLE:
		return set_time(p, kw, v, &cfg->lock_idle);
	case KW_LIFETIME:
		return set_time(p, kw, v, &cfg->lifetime);
	case KW_PINENTRY:
		/* A bare name is searched on PATH; "bin/x" would depend on
		 * the directory the agent was started from. */
		if (strchr(v, '/') != NULL)
			return expand_path(p, kw, v, &cfg->pinentry);
		return set_string(&cfg->pinentry, v);
	case KW_ALLOWED_PROVIDERS:
		return set_string(&cfg->allowed_providers, v);
	case KW_ALLOW_REMOTE_PKCS11:
		if (strcmp(v, "yes") == 0)
			cfg->allow_remote_pkcs11 = 1;
		else if (strcmp(v, "no") == 0)
			cfg->allow_remote_pkcs11 = 0;
		else
			return parse_error(p, "%s: \"%s\" is not %s", k->name,
			    show(shown, sizeof(shown), v), k->expect);
		return 0;
	case KW_COUNT:
		break;
	}
	return KMES_ERR_INTERNAL;
}

static struct agent_config *
config_new(const char *name)
{
	struct agent_config *cfg;

	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		return NULL;
	cfg->pin = -1;
	cfg->lock_idle = -1;
	cfg->lifetime = -1;
	cfg->pkcs11_timeout = -1;
	cfg->allow_remote_pkcs11 = -1;
	if ((cfg->path = strdup(name)) == NULL) {
		free(cfg);
		return NULL;
	}
	return cfg;
}

char *
config_default_path(void)
{
	const char *v;
	char *p = NULL;

	/* The XDG spec says to ignore a relative XDG_CONFIG_HOME. */
	if ((v = secure_getenv("XDG_CONFIG_HOME")) != NULL && v[0] == '/') {
		if (asprintf(&p, "%s/kmes/agent.conf", v) < 0)
			return NULL;
	} else if ((v = secure_getenv("HOME")) != NULL && v[0] == '/') {
		if (asprintf(&p, "%s/.config/kmes/agent.conf", v) < 0)
			return NULL;
	}
	return p;
}

int
config_parse(const char *name, const char *text, size_t len,
    struct agent_config **cfgp, char *err, size_t errlen)
{
	struct config_parser p;
	struct kbuf *b = NULL;
	char line[CONFIG_LINE_MAX + 1];
	const char *l;
	size_t n;
	int r = KMES_ERR_INTERNAL;

	if (cfgp != NULL)
		*cfgp = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (name == NULL || (text == NULL && len != 0) || cfgp == NULL)
		return KMES_ERR_INVALID_ARGUMENT;
	memset(&p, 0, sizeof(p));
	p.name = name;
	p.err = err;
	p.errlen = err != NULL ? errlen : 0;
	if ((p.cfg = config_new(name)) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}

	if ((b = kbuf_from(text, len)) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	for (p.line = 1; kbuf_len(b) > 0; p.line++) {
		r = kbuf_get_line(b, CONFIG_LINE_MAX, KBUF_LINE_LAST, &l, &n);
		if (r == KMES_ERR_STRING_TOO_LARGE) {
			r = parse_error(&p, "line longer than %d bytes",
			    CONFIG_LINE_MAX);
			goto out;
		}
		/* A NUL would silently cut the line short: a wrong path. */
		if (r == KMES_ERR_INVALID_FORMAT) {
			r = parse_error(&p, "NUL byte in line");
			goto out;
		}
		if (r != 0)
			goto out;
		memcpy(line, l, n);
		line[n] = '\0';
		if ((r = parse_line(&p, line)) != 0)
			goto out;
	}
	*cfgp = p.cfg;
	p.cfg = NULL;
	r = 0;
out:
	if (r == KMES_ERR_ALLOC && p.errlen > 0)
		snprintf(err, errlen, "%s: %s", name, kmes_err(r));
	/* A PIN typed after "pin" was refused; leave no copy of it. */
	explicit_bzero(line, sizeof(line));
	kbuf_free(b);
	config_free(p.cfg);
	return r;
}

int
config_load(const char *path, int must_exist, struct agent_config **cfgp,
    char *err, size_t errlen)
{
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	ssize_t n;
	int fd = -1, saved, r = KMES_ERR_INTERNAL;

	if (cfgp != NULL)
		*cfgp = NULL;
	if (err == NULL)
		errlen = 0;
	if (errlen > 0)
		err[0] = '\0';
	if (path == NULL || cfgp == NULL)
		return KMES_ERR_INVALID_ARGUMENT;

	/*
	 * Symlinks are followed (dotfiles repositories use them) and the
	 * checks apply to what was opened. O_NONBLOCK: a FIFO planted at the
	 * path must not hang the agent's start before fstat refuses it.
	 */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) ==
	    -1) {
		if (errno == ENOENT && !must_exist) {
			r = config_parse(path, "", 0, cfgp, err, errlen);
			goto out;
		}
		r = file_error(KMES_ERR_SYSTEM, path, err, errlen, "%s",
		    strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) == -1) {
		r = file_error(KMES_ERR_SYSTEM, path, err, errlen, "%s",
		    strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = file_error(KMES_ERR_INVALID_ARGUMENT, path, err, errlen,
		    "not a regular file");
		goto out;
	}
	/* It names the modules the agent loads: only its user decides. */
	if (st.st_uid != getuid() && st.st_uid != 0) {
		r = file_error(KMES_ERR_DENIED, path, err, errlen,
		    "owned by uid %lu, not by you or root",
		    (unsigned long)st.st_uid);
		goto out;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		r = file_error(KMES_ERR_DENIED, path, err, errlen,
		    "writable by group or others; run chmod go-w %s", path);
		goto out;
	}
	if (st.st_size > CONFIG_FILE_MAX) {
		r = file_error(KMES_ERR_MESSAGE_TOO_LARGE, path, err, errlen,
		    "larger than %d KiB", CONFIG_FILE_MAX / 1024);
		goto out;
	}

	/* One byte more than the cap shows a file that grew since fstat. */
	if ((text = malloc(CONFIG_FILE_MAX + 1)) == NULL) {
		r = file_error(KMES_ERR_ALLOC, path, err, errlen, "%s",
		    kmes_err(KMES_ERR_ALLOC));
		goto out;
	}
	while (len < CONFIG_FILE_MAX + 1) {
		n = read(fd, text + len, CONFIG_FILE_MAX + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			r = file_error(KMES_ERR_SYSTEM, path, err, errlen,
			    "read: %s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > CONFIG_FILE_MAX) {
		r = file_error(KMES_ERR_MESSAGE_TOO_LARGE, path, err, errlen,
		    "larger than %d KiB", CONFIG_FILE_MAX / 1024);
		goto out;
	}
	r = config_parse(path, text, len, cfgp, err, errlen);
out:
	saved = errno;
	if (text != NULL) {
		explicit_bzero(text, len);
		free(text);
	}
	if (fd != -1)
		close(fd);
	errno = saved;
	return r;
}

void
config_free(struct agent_config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->npkcs11; i++) {
		free(cfg->pkcs11[i].module);
		free(cfg->pkcs11[i].token);
	}
	free(cfg->path);
	free(cfg->store);
	free(cfg->audit_log);
	free(cfg->pinentry);
	free(cfg->allowed_providers);
	free(cfg);
}
