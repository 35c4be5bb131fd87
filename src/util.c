/*
 * util.c: clocks, time specifications and host/user pattern matching.
 */
#include <ctype.h>
#include <limits.h>
#include <string.h>
#include <time.h>

#include "agent.h"

uint64_t
agent_now_ms(void)
{
	struct timespec ts;

	/* BOOTTIME keeps counting through suspend: a 1h key dies after 1h. */
	if (clock_gettime(CLOCK_BOOTTIME, &ts) != 0 &&
	    clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

long
agent_convtime(const char *s)
{
	long total = 0, secs, mult;
	const char *p = s;

	if (s == NULL || *s == '\0')
		return -1;
	while (*p != '\0') {
		if (!isdigit((unsigned char)*p))
			return -1;
		secs = 0;
		while (isdigit((unsigned char)*p)) {
			if (secs > (LONG_MAX - 9) / 10)
				return -1;
			secs = secs * 10 + (*p++ - '0');
		}
		switch (*p) {
		case '\0':
			mult = 1;
			break;
		case 's': case 'S':
			mult = 1;
			p++;
			break;
		case 'm': case 'M':
			mult = 60;
			p++;
			break;
		case 'h': case 'H':
			mult = 3600;
			p++;
			break;
		case 'd': case 'D':
			mult = 86400;
			p++;
			break;
		case 'w': case 'W':
			mult = 604800;
			p++;
			break;
		default:
			return -1;
		}
		if (secs > INT_MAX / mult)
			return -1;
		secs *= mult;
		if (total > INT_MAX - secs)
			return -1;
		total += secs;
	}
	return total;
}

int
agent_match_pattern(const char *s, const char *pattern)
{
	for (;;) {
		if (*pattern == '\0')
			return *s == '\0';
		if (*pattern == '*') {
			while (*pattern == '*')
				pattern++;
			if (*pattern == '\0')
				return 1;
			for (; *s != '\0'; s++) {
				if (agent_match_pattern(s, pattern))
					return 1;
			}
			return 0;
		}
		if (*s == '\0')
			return 0;
		if (*pattern != '?' && *pattern != *s)
			return 0;
		s++;
		pattern++;
	}
}

int
agent_match_pattern_list(const char *s, const char *list)
{
	char sub[1024];
	const char *p = list, *e;
	size_t len;
	int negated, got_positive = 0;

	while (*p != '\0') {
		e = strchr(p, ',');
		len = e == NULL ? strlen(p) : (size_t)(e - p);
		negated = (*p == '!');
		if (negated) {
			p++;
			len--;
		}
		if (len < sizeof(sub)) {
			memcpy(sub, p, len);
			sub[len] = '\0';
			if (agent_match_pattern(s, sub)) {
				if (negated)
					return -1;
				got_positive = 1;
			}
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return got_positive;
}
