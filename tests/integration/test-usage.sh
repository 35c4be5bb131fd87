#!/bin/bash
# kmes-agent explains itself: --help and --version answer on stdout and
# exit 0, and every usage error says what was wrong before the usage;
# an abbreviated long option is refused, so "--lock 30m" starts nothing.
#
# Run: AGENT=build/src/kmes-agent bash tests/integration/test-usage.sh

. "$(dirname "$0")/lib.sh"

for opt in --help -h; do
	run "$AGENT" "$opt"
	expect_eq "$opt exits 0" 0 "$RC"
	expect_contains "$opt prints the usage on stdout" \
		"usage: kmes-agent" "$OUT"
	expect_contains "$opt describes the options" "--lock-idle time" "$OUT"
	expect_eq "$opt writes nothing on stderr" "" "$ERR"
done

run "$AGENT" --version
expect_eq "--version exits 0" 0 "$RC"
expect_match "--version prints the program and its version" \
	'^kmes-agent [0-9]+\.[0-9]+\.[0-9]+$' "$OUT"

# An abbreviation getopt_long would have taken: refused, nothing started.
run "$AGENT" -s --lock 30m
# An agent that took it would be running now: it is ended at exit.
started=$(sed -n 's/^SSH_AGENT_PID=\([0-9]*\);.*/\1/p' <<<"$OUT")
[ -n "$started" ] && register_pid "$started"
expect_eq "an abbreviated --lock-idle is a usage error" 1 "$RC"
expect_contains "the error names what was typed and what was meant" \
	"unknown option '--lock' (did you mean --lock-idle?)" "$ERR"
expect_lacks "no agent is started for it" "SSH_AUTH_SOCK" "$OUT"
run "$AGENT" --pin-f 3
expect_contains "a prefix of --pin-fd is refused too" \
	"unknown option '--pin-f' (did you mean --pin-fd?)" "$ERR"
run "$AGENT" --lock-idle=30m --print-socket
expect_eq "a full option name with = is taken" 0 "$RC"

# Each usage error says what was wrong, then the usage.
check_usage_error() {
	local desc=$1 want=$2
	shift 2
	run "$AGENT" "$@"
	expect_eq "$desc: exit 1" 1 "$RC"
	expect_contains "$desc: says why" "$want" "$ERR"
	expect_contains "$desc: then the usage" "usage: kmes-agent" "$ERR"
}
check_usage_error "a bad --lock-idle" 'bad --lock-idle time "30 minutes"' \
	--lock-idle "30 minutes"
check_usage_error "-c with -s" "-c and -s cannot be used together" -c -s
check_usage_error "-d with -D" "-d and -D are given once" -d -D
check_usage_error "a bad -t" 'bad -t lifetime "soon"' -t soon
check_usage_error "an unknown -O word" 'unknown -O option "no-such"' \
	-O no-such
check_usage_error "an unknown option" "unrecognized option '--bogus'" --bogus

done_testing
