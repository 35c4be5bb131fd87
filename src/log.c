/*
 * log.c: stderr or syslog.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "log.h"

static const char *log_ident = "kmes-agent";
static enum log_level log_max = LOG_LVL_INFO;
static int log_stderr = 1;

void
log_init(const char *ident, enum log_level level, int to_stderr)
{
	log_ident = ident;
	log_max = level;
	log_stderr = to_stderr;
	if (!to_stderr)
		openlog(ident, LOG_PID, LOG_AUTH);
}

int
log_enabled(enum log_level level)
{
	return level <= log_max;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_INFO, LOG_INFO, LOG_DEBUG };
	char buf[1024];
	va_list ap;
	size_t i;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* Peer-supplied text (comments, names) must not forge log lines. */
	for (i = 0; buf[i] != '\0'; i++) {
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = '?';
	}
	if (log_stderr)
		fprintf(stderr, "%s: %s\n", log_ident, buf);
	else
		syslog(prio[level], "%s", buf);
}
