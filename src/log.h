/*
 * log.h: the daemon's logging. To stderr in the foreground (-D, -d), else to
 * syslog(LOG_AUTH). Never pass a secret to these functions.
 */
#ifndef KMES_LOG_H
#define KMES_LOG_H

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_INFO = 1,
	LOG_LVL_VERBOSE = 2,
	LOG_LVL_DEBUG = 3,
};

/* Sets the program name, the most verbose level shown, and the sink. */
void log_init(const char *ident, enum log_level level, int to_stderr);

/* Returns 1 if messages at level would be shown. */
int log_enabled(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_verbose(...) log_msg(LOG_LVL_VERBOSE, __VA_ARGS__)
#define log_debug(...) \
	do { \
		if (log_enabled(LOG_LVL_DEBUG)) \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__); \
	} while (0)

#endif /* KMES_LOG_H */
