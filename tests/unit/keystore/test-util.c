/*
 * test-util.c: scratch directory, ssh-keygen runner and file readers for
 * the keystore tests. Parsing here deliberately avoids the code under test.
 */
#include <sys/wait.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "test-util.h"

static char scratch[64];

int
tu_setup(void)
{
	int r;

	strcpy(scratch, "/tmp/kmes-keystore-XXXXXX");
	if (mkdtemp(scratch) == NULL)
		return -1;
	r = ks_crypto_init(0);
	/* An unlocked heap still works; the heap test reports it. */
	if (r != 0 && r != KMES_ERR_SYSTEM) {
		fprintf(stderr, "ks_crypto_init: %s\n", kmes_err(r));
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

static char *command(const char *, va_list)
    __attribute__((format(printf, 1, 0)));

static char *
command(const char *fmt, va_list ap)
{
	char *cmd, *full;
	int n;

	if (vasprintf(&cmd, fmt, ap) < 0)
		return NULL;
	n = asprintf(&full, "cd '%s' && { %s; }", scratch, cmd);
	free(cmd);
	return n < 0 ? NULL : full;
}

int
tu_sh(const char *fmt, ...)
{
	va_list ap;
	char *cmd;
	int st;

	va_start(ap, fmt);
	cmd = command(fmt, ap);
	va_end(ap);
	if (cmd == NULL)
		return -1;
	st = system(cmd);
	free(cmd);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
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
	cmd = command(fmt, ap);
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

struct kbuf *
tu_b64_decode(const char *s, size_t len)
{
	static const char tbl[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct kbuf *b = kbuf_new();
	uint32_t acc = 0;
	int nbits = 0;
	const char *c;
	size_t i;

	if (b == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		if (s[i] == '=' || s[i] == '\n' || s[i] == '\r' || s[i] == ' ')
			continue;
		if ((c = strchr(tbl, s[i])) == NULL || s[i] == '\0') {
			kbuf_free(b);
			return NULL;
		}
		acc = acc << 6 | (uint32_t)(c - tbl);
		nbits += 6;
		if (nbits >= 8) {
			nbits -= 8;
			if (kbuf_put_u8(b, (uint8_t)(acc >> nbits)) != 0) {
				kbuf_free(b);
				return NULL;
			}
		}
	}
	return b;
}

struct kbuf *
tu_dearmor(const char *text, const char *label)
{
	char begin[80], end[80];
	const char *s, *e;

	snprintf(begin, sizeof(begin), "-----BEGIN %s-----", label);
	snprintf(end, sizeof(end), "-----END %s-----", label);
	if ((s = strstr(text, begin)) == NULL ||
	    (e = strstr(s, end)) == NULL)
		return NULL;
	s += strlen(begin);
	return tu_b64_decode(s, (size_t)(e - s));
}

struct ks_key *
tu_load_pub(const char *name)
{
	struct ks_key *k = NULL;
	char *text;

	if ((text = tu_read(name, NULL)) == NULL)
		return NULL;
	if (ks_key_from_openssh_line(text, &k) != 0)
		k = NULL;
	free(text);
	return k;
}

/* How many length-prefixed fields follow the type name. */
static int
private_fields(const uint8_t *name, size_t len)
{
	if (len == 11 && memcmp(name, "ssh-ed25519", 11) == 0)
		return 2;
	if (len == 7 && memcmp(name, "ssh-rsa", 7) == 0)
		return 6;
	if (len > 10 && memcmp(name, "ecdsa-sha2", 10) == 0)
		return 3;
	return -1;
}

struct kbuf *
tu_private_blob(const char *name)
{
	static const char magic[] = "openssh-key-v1";
	struct kbuf *file = NULL, *sec = NULL, *out = NULL, *ret = NULL;
	const uint8_t *start, *tname;
	size_t tlen, before;
	uint32_t check1, check2;
	char *text;
	int i, n;

	if ((text = tu_read(name, NULL)) == NULL)
		return NULL;
	file = tu_dearmor(text, "OPENSSH PRIVATE KEY");
	free(text);
	if (file == NULL || kbuf_len(file) < sizeof(magic) ||
	    memcmp(kbuf_ptr(file), magic, sizeof(magic)) != 0 ||
	    kbuf_consume(file, sizeof(magic)) != 0)
		goto out;
	/* cipher "none", kdf "none", kdf options, one key, public blob. */
	if (kbuf_get_string_direct(file, NULL, NULL) != 0 ||
	    kbuf_get_string_direct(file, NULL, NULL) != 0 ||
	    kbuf_get_string_direct(file, NULL, NULL) != 0 ||
	    kbuf_get_u32(file, NULL) != 0 ||
	    kbuf_get_string_direct(file, NULL, NULL) != 0 ||
	    kbuf_froms(file, &sec) != 0 ||
	    kbuf_get_u32(sec, &check1) != 0 ||
	    kbuf_get_u32(sec, &check2) != 0 || check1 != check2)
		goto out;
	start = kbuf_ptr(sec);
	before = kbuf_len(sec);
	if (kbuf_get_string_direct(sec, &tname, &tlen) != 0 ||
	    (n = private_fields(tname, tlen)) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (kbuf_get_string_direct(sec, NULL, NULL) != 0)
			goto out;
	}
	if ((out = kbuf_new()) == NULL ||
	    kbuf_put(out, start, before - kbuf_len(sec)) != 0)
		goto out;
	ret = out;
	out = NULL;
 out:
	kbuf_free(out);
	kbuf_free(sec);
	kbuf_free(file);
	return ret;
}

static int
copy_string(struct kbuf *from, struct kbuf *to)
{
	const uint8_t *p;
	size_t len;

	if (kbuf_get_string_direct(from, &p, &len) != 0)
		return -1;
	return kbuf_put_string(to, p, len) == 0 ? 0 : -1;
}

struct kbuf *
tu_cert_private(const struct ks_key *cert, const struct kbuf *plain_priv)
{
	struct kbuf *in, *out = NULL, *ret = NULL;
	const uint8_t *blob;
	size_t len;
	int i, skip = 0, copy = 0;

	if ((in = kbuf_from(kbuf_ptr(plain_priv), kbuf_len(plain_priv))) == NULL)
		return NULL;
	switch (ks_key_type(cert)) {
	case KS_KEY_ED25519:
		copy = 2;	/* pk, sk */
		break;
	case KS_KEY_RSA:
		skip = 2;	/* n, e */
		copy = 4;	/* d, iqmp, p, q */
		break;
	default:
		skip = 2;	/* curve, Q */
		copy = 1;	/* d */
		break;
	}
	blob = ks_key_blob(cert, &len);
	if ((out = kbuf_new()) == NULL ||
	    kbuf_put_cstring(out, ks_key_type_name(cert)) != 0 ||
	    kbuf_put_string(out, blob, len) != 0 ||
	    kbuf_get_string_direct(in, NULL, NULL) != 0)
		goto out;
	for (i = 0; i < skip; i++) {
		if (kbuf_get_string_direct(in, NULL, NULL) != 0)
			goto out;
	}
	for (i = 0; i < copy; i++) {
		if (copy_string(in, out) != 0)
			goto out;
	}
	ret = out;
	out = NULL;
 out:
	kbuf_free(in);
	kbuf_free(out);
	return ret;
}
