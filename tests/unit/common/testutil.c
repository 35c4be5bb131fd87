/*
 * testutil.c: the Check runner, the scratch directory, the shell runner and
 * the file readers of the unit tests. Libc and Check only, so every layer's
 * tests can link it; nothing here parses with the code under test.
 */
#include <sys/wait.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static char scratch[64];

int
run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int
tu_setup(const char *name)
{
	int n;

	n = snprintf(scratch, sizeof(scratch), "/tmp/kmes-%s-XXXXXX", name);
	if (n < 0 || (size_t)n >= sizeof(scratch) || mkdtemp(scratch) == NULL) {
		scratch[0] = '\0';
		return -1;
	}
	return 0;
}

void
tu_teardown(void)
{
	if (scratch[0] != '\0')
		(void)tu_sh("rm -rf '%s'", scratch);
}

const char *
tu_dir(void)
{
	return scratch;
}

static char *command(int, const char *, va_list)
    __attribute__((format(printf, 2, 0)));

static char *
command(int quiet, const char *fmt, va_list ap)
{
	char *cmd, *full;
	int n;

	if (vasprintf(&cmd, fmt, ap) < 0)
		return NULL;
	n = asprintf(&full, "cd '%s' && { %s; }%s", scratch, cmd,
	    quiet ? " >/dev/null 2>&1" : "");
	free(cmd);
	return n < 0 ? NULL : full;
}

/* Runs and frees cmd; returns its exit status or -1. */
static int
run(char *cmd)
{
	int st;

	if (cmd == NULL)
		return -1;
	st = system(cmd);
	free(cmd);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

int
tu_sh(const char *fmt, ...)
{
	va_list ap;
	char *cmd;

	va_start(ap, fmt);
	cmd = command(0, fmt, ap);
	va_end(ap);
	return run(cmd);
}

int
tu_sh_quiet(const char *fmt, ...)
{
	va_list ap;
	char *cmd;

	va_start(ap, fmt);
	cmd = command(1, fmt, ap);
	va_end(ap);
	return run(cmd);
}

char *
tu_sh_output(const char *fmt, ...)
{
	va_list ap;
	char *cmd, *out = NULL;
	size_t len = 0, n;
	char buf[4096];
	FILE *f;

	va_start(ap, fmt);
	cmd = command(0, fmt, ap);
	va_end(ap);
	if (cmd == NULL || (f = popen(cmd, "r")) == NULL) {
		free(cmd);
		return NULL;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		char *nout = realloc(out, len + n + 1);

		if (nout == NULL)
			break;
		out = nout;
		memcpy(out + len, buf, n);
		len += n;
		out[len] = '\0';
	}
	if (pclose(f) != 0) {
		free(out);
		out = NULL;
	}
	free(cmd);
	return out;
}

char *
tu_read(const char *name, size_t *lenp)
{
	char path[256], *p = NULL, *np;
	size_t len = 0, n;
	FILE *f;

	if (lenp != NULL)
		*lenp = 0;
	snprintf(path, sizeof(path), "%s/%s", scratch, name);
	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	for (;;) {
		if ((np = realloc(p, len + 4097)) == NULL) {
			free(p);
			fclose(f);
			return NULL;
		}
		p = np;
		if ((n = fread(p + len, 1, 4096, f)) == 0)
			break;
		len += n;
	}
	fclose(f);
	p[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return p;
}

int
tu_write(const char *name, const void *p, size_t len)
{
	char path[256];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s", scratch, name);
	if ((f = fopen(path, "wb")) == NULL)
		return -1;
	ok = fwrite(p, 1, len, f) == len;
	return (fclose(f) == 0 && ok) ? 0 : -1;
}

uint8_t *
tu_dearmor(const char *text, const char *label, size_t *lenp)
{
	static const char tbl[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char begin[96], end[96];
	const char *s, *e, *c;
	uint8_t *out;
	uint32_t acc = 0;
	size_t n = 0;
	int nbits = 0;

	*lenp = 0;
	snprintf(begin, sizeof(begin), "-----BEGIN %s-----", label);
	snprintf(end, sizeof(end), "-----END %s-----", label);
	if ((s = strstr(text, begin)) == NULL || (e = strstr(s, end)) == NULL)
		return NULL;
	s += strlen(begin);
	/* Never empty: malloc(0) may return NULL. */
	if ((out = malloc((size_t)(e - s) + 1)) == NULL)
		return NULL;
	for (; s < e; s++) {
		if (*s == '=' || *s == '\n' || *s == '\r' || *s == ' ')
			continue;
		if ((c = strchr(tbl, *s)) == NULL) {
			free(out);
			return NULL;
		}
		acc = acc << 6 | (uint32_t)(c - tbl);
		nbits += 6;
		if (nbits >= 8) {
			nbits -= 8;
			out[n++] = (uint8_t)(acc >> nbits);
		}
	}
	*lenp = n;
	return out;
}
