#!/bin/sh
# Fails if mandoc reports any warning for the page, or if man-db's groff
# pipeline (what most Linux users actually read the page with) warns while
# rendering it at 80 columns.
out=$("$1" -T lint -W warning "$2" 2>&1)
if [ -n "$out" ]; then
	printf '%s\n' "$out"
	exit 1
fi
if command -v man >/dev/null 2>&1; then
	out=$(MANWIDTH=80 man --warnings -l "$2" 2>&1 >/dev/null)
	if [ -n "$out" ]; then
		printf 'man --warnings -l %s:\n%s\n' "$2" "$out"
		exit 1
	fi
fi
