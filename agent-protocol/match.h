/*
 * match.h: OpenSSH-style wildcard patterns ('*' any run, '?' one character),
 * used for destination-constraint users and host-certificate principals.
 */
#ifndef KMES_MATCH_H
#define KMES_MATCH_H

/* Returns 1 if s matches pattern, else 0. Linear time, no recursion. */
int kmes_match_pattern(const char *s, const char *pattern);

/*
 * Matches s against a comma-separated list of patterns, each optionally
 * negated with '!'. Returns 1 on a positive match, -1 if a negated pattern
 * matched, 0 otherwise.
 */
int kmes_match_pattern_list(const char *s, const char *list);

#endif /* KMES_MATCH_H */
