/*
 * util.c: clocks, time specifications and host/user pattern matching.
 */
#include <ctype.h>
#include <limits.h>
#include <time.h>

#include "clock.h"

static const uint64_t *fake_ms;

void
clock_set_fake(const uint64_t *ms)
{
	fake_ms = ms;
}

uint64_t
agent_now_us(void)
{
	struct timespec ts;

	if (fake_ms != NULL)
		return *fake_ms * 1000;
	if (clock_gettime(CLOCK_BOOTTIME, &ts) != 0 &&
	    clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t
agent_now_ms(void)
{
	struct timespec ts;

	if (fake_ms != NULL)
		return *fake_ms;
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
		case 's':
		case 'S':
			mult = 1;
			p++;
			break;
		case 'm':
		case 'M':
			mult = 60;
			p++;
			break;
		case 'h':
		case 'H':
			mult = 3600;
			p++;
			break;
		case 'd':
		case 'D':
			mult = 86400;
			p++;
			break;
		case 'w':
		case 'W':
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
