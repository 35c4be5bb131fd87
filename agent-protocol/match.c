/*
 * match.c: wildcard matching.
 */
#include <string.h>

#include "match.h"

int
kmes_match_pattern(const char *s, const char *pat)
{
	const char *star = NULL, *retry = NULL;

	/*
	 * One backtrack point suffices for '*'-only globs; patterns come
	 * from users and certificate authorities, so no recursion to abuse.
	 */
	while (*s != '\0') {
		if (*pat == '*') {
			star = pat++;
			retry = s;
		} else if (*pat == '?' || *pat == *s) {
			pat++;
			s++;
		} else if (star != NULL) {
			pat = star + 1;
			s = ++retry;
		} else
			return 0;
	}
	while (*pat == '*')
		pat++;
	return *pat == '\0';
}

int
kmes_match_pattern_list(const char *s, const char *list)
{
	char sub[1024];
	const char *p = list, *e;
	size_t len;
	int negated, got_positive = 0;

	while (*p != '\0') {
		e = strchr(p, ',');
		len = e == NULL ? strlen(p) : (size_t)(e - p);
		negated = (*p == '!');
		/* An over-long element matches nothing. */
		if (len - (size_t)negated < sizeof(sub)) {
			memcpy(sub, p + negated, len - (size_t)negated);
			sub[len - (size_t)negated] = '\0';
			if (kmes_match_pattern(s, sub)) {
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
