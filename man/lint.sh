#!/bin/sh
# Fails if mandoc reports any warning for the page.
out=$("$1" -T lint -W warning "$2" 2>&1)
if [ -n "$out" ]; then
	printf '%s\n' "$out"
	exit 1
fi
