/*
 * audit.c: --audit-log, one JSON object per line for every sign request and
 * every unlock attempt. Records name keys by fingerprint and label and
 * clients by uid, pid and executable; they never carry a secret.
 *
 * The file is opened O_APPEND and each record is one write(2), so records
 * from several loops never interleave. Before each record the path is
 * checked against the open file: once logrotate has moved it away, the next
 * record goes to a fresh file at the same path, with no signal needed.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "crypto.h"
#include "keytable.h"
#include "log.h"
#include "request.h"

static pthread_mutex_t audit_mtx = PTHREAD_MUTEX_INITIALIZER;
static char *audit_path;
static int audit_fd = -1;
static dev_t audit_dev;
static ino_t audit_ino;

static int
audit_reopen(void)
{
	struct stat st;
	int fd;

	fd = open(audit_path,
	    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	if (audit_fd != -1)
		close(audit_fd);
	audit_fd = fd;
	audit_dev = st.st_dev;
	audit_ino = st.st_ino;
	return 0;
}

int
audit_open(const char *path)
{
	int r;

	if ((audit_path = strdup(path)) == NULL)
		return -1;
	pthread_mutex_lock(&audit_mtx);
	r = audit_reopen();
	pthread_mutex_unlock(&audit_mtx);
	return r;
}

int
audit_enabled(void)
{
	return audit_path != NULL;
}

void
audit_close(void)
{
	if (audit_fd != -1)
		close(audit_fd);
	audit_fd = -1;
	free(audit_path);
	audit_path = NULL;
}

/* Appends s as a JSON string (quoted, escaped) to buf at *off. */
static void
json_str(char *buf, size_t len, size_t *off, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
	size_t o = *off;

#define PUT(c) \
	do { \
		if (o + 1 < len) \
			buf[o++] = (c); \
	} while (0)
	PUT('"');
	for (; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\') {
			PUT('\\');
			PUT((char)*p);
		} else if (*p < 0x20 || *p == 0x7f) {
			PUT('\\');
			PUT('u');
			PUT('0');
			PUT('0');
			PUT(hex[*p >> 4]);
			PUT(hex[*p & 0xf]);
		} else
			PUT((char)*p);
	}
	PUT('"');
#undef PUT
	buf[o] = '\0';
	*off = o;
}

static void json_raw(char *, size_t, size_t *, const char *, ...)
    __attribute__((format(printf, 4, 5)));

static void
json_raw(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, len - *off, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off = (size_t)n >= len - *off ? len - 1 : *off + (size_t)n;
}

static void
write_record(const char *rec, size_t len)
{
	struct stat st;

	pthread_mutex_lock(&audit_mtx);
	/* Rotated or removed: start a new file at the same path. */
	if (audit_fd == -1 || stat(audit_path, &st) != 0 ||
	    st.st_dev != audit_dev || st.st_ino != audit_ino) {
		if (audit_reopen() != 0)
			log_error("audit log %s: %s", audit_path,
			    strerror(errno));
	}
	if (audit_fd != -1 && write(audit_fd, rec, len) != (ssize_t)len)
		log_error("audit log %s: short write", audit_path);
	pthread_mutex_unlock(&audit_mtx);
}

/* time, event and peer: the common head of every record. */
static void
record_head(char *buf, size_t len, size_t *off, const char *event,
    const struct peer *p)
{
	char tbuf[64], exe[PATH_MAX], proc[64];
	struct timespec ts;
	struct tm tm;
	ssize_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(proc, sizeof(proc), "/proc/%ld/exe", (long)p->pid);
	if ((n = readlink(proc, exe, sizeof(exe) - 1)) < 0)
		n = 0;
	exe[n] = '\0';
	json_raw(buf, len, off, "{\"time\":\"%s.%03ldZ\",\"event\":", tbuf,
	    ts.tv_nsec / 1000000);
	json_str(buf, len, off, event);
	json_raw(buf, len, off,
	    ",\"peer\":{\"uid\":%ld,\"pid\":%ld,\"exe\":", (long)p->uid,
	    (long)p->pid);
	if (n > 0)
		json_str(buf, len, off, exe);
	else
		json_raw(buf, len, off, "null");
	json_raw(buf, len, off, "}");
}

void
audit_sign(const struct peer *p, const struct ks_identity *id,
    const uint8_t *blob, size_t blob_len, const char *result,
    const char *reason)
{
	char buf[4096], fp[KS_FP_MAX];
	struct ks_key *k = NULL;
	const struct peer_bind *b;
	size_t off = 0;

	if (!audit_enabled())
		return;
	record_head(buf, sizeof(buf), &off, "sign", p);
	fp[0] = '\0';
	if (id != NULL)
		(void)ks_key_fingerprint(ks_identity_key(id), KS_FP_SHA256, fp,
		    sizeof(fp));
	else if (blob != NULL && ks_key_from_blob(blob, blob_len, &k) == 0)
		(void)ks_key_fingerprint(k, KS_FP_SHA256, fp, sizeof(fp));
	ks_key_free(k);
	json_raw(buf, sizeof(buf), &off, ",\"key\":");
	json_str(buf, sizeof(buf), &off, fp);
	json_raw(buf, sizeof(buf), &off, ",\"label\":");
	if (id != NULL)
		json_str(buf, sizeof(buf), &off, ks_identity_comment(id));
	else
		json_raw(buf, sizeof(buf), &off, "null");
	json_raw(buf, sizeof(buf), &off, ",\"source\":\"%s\"",
	    id == NULL					  ? "none" :
		ks_identity_origin(id) == KS_ORIGIN_STORE ? "keystore" :
							    "ssh-add");
	json_raw(buf, sizeof(buf), &off, ",\"result\":");
	json_str(buf, sizeof(buf), &off, result);
	if (reason != NULL) {
		json_raw(buf, sizeof(buf), &off, ",\"reason\":");
		json_str(buf, sizeof(buf), &off, reason);
	}
	if (p->nbinds > 0) {
		b = &p->binds[p->nbinds - 1];
		if (ks_key_fingerprint(b->hostkey, KS_FP_SHA256, fp,
			sizeof(fp)) != 0)
			fp[0] = '\0';
		json_raw(buf, sizeof(buf), &off,
		    ",\"destination\":{"
		    "\"hostkey\":");
		json_str(buf, sizeof(buf), &off, fp);
		json_raw(buf, sizeof(buf), &off,
		    ",\"forwarded\":%s,"
		    "\"hops\":%zu}",
		    p->nbinds > 1 ? "true" : "false", p->nbinds);
	}
	json_raw(buf, sizeof(buf), &off, "}\n");
	write_record(buf, off);
}

void
audit_unlock(const struct peer *p, const char *target, const char *result)
{
	char buf[1024];
	size_t off = 0;

	if (!audit_enabled())
		return;
	record_head(buf, sizeof(buf), &off, "unlock", p);
	json_raw(buf, sizeof(buf), &off, ",\"target\":");
	json_str(buf, sizeof(buf), &off, target);
	json_raw(buf, sizeof(buf), &off, ",\"result\":");
	json_str(buf, sizeof(buf), &off, result);
	json_raw(buf, sizeof(buf), &off, "}\n");
	write_record(buf, off);
}

void
audit_provider(const struct peer *p, const char *op, const char *module,
    const char *result, const char *reason)
{
	/*
	 * The module name may be a remote peer's, up to a whole message
	 * long: cut it so that even fully escaped (6 bytes per byte) the
	 * record ends with its "}\n" instead of running into the next one.
	 */
	char buf[16 * 1024], name[1024];
	size_t off = 0;

	if (!audit_enabled())
		return;
	snprintf(name, sizeof(name), "%s", module != NULL ? module : "");
	record_head(buf, sizeof(buf), &off, "pkcs11-provider", p);
	json_raw(buf, sizeof(buf), &off, ",\"op\":");
	json_str(buf, sizeof(buf), &off, op);
	json_raw(buf, sizeof(buf), &off, ",\"module\":");
	if (module != NULL)
		json_str(buf, sizeof(buf), &off, name);
	else
		json_raw(buf, sizeof(buf), &off, "null");
	/* A bound connection may be a remote host's, over ssh -A. */
	json_raw(buf, sizeof(buf), &off,
	    ",\"session_binds\":%zu,\"result\":", p->nbinds);
	json_str(buf, sizeof(buf), &off, result);
	if (reason != NULL) {
		json_raw(buf, sizeof(buf), &off, ",\"reason\":");
		json_str(buf, sizeof(buf), &off, reason);
	}
	json_raw(buf, sizeof(buf), &off, "}\n");
	write_record(buf, off);
}
