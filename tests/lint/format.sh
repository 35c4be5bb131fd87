#!/bin/sh
# format.sh SOURCE_ROOT: every C file is as .clang-format lays it out, so
# nobody argues about whitespace (STYLE.md 16). Fix with:
#   find src agent-protocol keystore tests bench -name '*.[ch]' |
#       xargs clang-format -i
set -u
root=${1:?usage: format.sh SOURCE_ROOT}
cd "$root" || exit 1
command -v clang-format >/dev/null 2>&1 || {
	echo "Bail out! clang-format is not installed (.ci/deps installs it)"
	exit 1
}
files=$(find src agent-protocol keystore tests bench -name '*.[ch]' | sort)
# One process for all files: the check costs a second, not a minute.
# shellcheck disable=SC2086
if out=$(clang-format --dry-run -Werror $files 2>&1); then
	echo "ok 1 - all $(echo "$files" | wc -l) C files are as .clang-format lays them out"
	echo "1..1"
	exit 0
fi
echo "not ok 1 - every C file is as .clang-format lays it out"
printf '%s\n' "$out" | sed -n 's/^\([^:]*\.[ch]\):[0-9]*:[0-9]*: error:.*/\1/p' |
    sort -u | sed 's/^/# not formatted: /'
echo "1..1"
exit 1
