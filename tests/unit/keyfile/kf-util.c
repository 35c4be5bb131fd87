/*
 * kf-util.c: scratch directory, command runner and decoders for the key
 * file tests. Deliberately independent of keyfile.c.
 */
#include <sys/wait.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "kf-util.h"
#include "kmes-err.h"

static char scratch[64];

int
kf_setup(void)
{
	int r;

	strcpy(scratch, "/tmp/kmes-keyfile-XXXXXX");
	if (mkdtemp(scratch) == NULL)
		return -1;
	/* An unlocked heap (low RLIMIT_MEMLOCK) still serves the tests. */
	r = ks_crypto_init(0);
	if (r != 0 && r != KMES_ERR_SYSTEM) {
		fprintf(stderr, "ks_crypto_init: %s\n", kmes_err(r));
		return -1;
	}
	return 0;
}

void
kf_teardown(void)
{
	if (scratch[0] != '\0')
		(void)kf_sh("rm -rf '%s'", scratch);
}

int
kf_sh(const char *fmt, ...)
{
	va_list ap;
	char *cmd = NULL, *full = NULL;
	int n, st;

	va_start(ap, fmt);
	n = vasprintf(&cmd, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	n = asprintf(&full, "cd '%s' && { %s; } >/dev/null 2>&1", scratch,
	    cmd);
	free(cmd);
	if (n < 0)
		return -1;
	st = system(full);
	free(full);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

uint8_t *
kf_read(const char *name, size_t *lenp)
{
	char path[256];
	uint8_t *p = NULL, *np;
	size_t len = 0, n;
	FILE *f;

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
	*lenp = len;
	return p;
}

uint8_t *
kf_dearmour(const char *text, const char *label, size_t *lenp)
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
	if ((s = strstr(text, begin)) == NULL ||
	    (e = strstr(s, end)) == NULL)
		return NULL;
	s += strlen(begin);
	if ((out = malloc((size_t)(e - s))) == NULL)
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
