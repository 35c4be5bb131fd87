#!/bin/bash
# kmes-agent and kmes-keytool explain themselves: --help and --version
# answer on stdout and exit 0, and every usage error says what was wrong
# before the usage; an abbreviated long option is refused, so
# "kmes-agent --lock 30m" starts nothing and "kmes-keytool --sto x" does
# not touch a store called x.
#
# Run: AGENT=build/src/kmes-agent KEYTOOL=build/src/keytool/kmes-keytool \
#	bash tests/integration/test-usage.sh

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

# --------------------------------------------------------------- keytool
[ -x "${KEYTOOL:-}" ] || bail_out "KEYTOOL is not set to kmes-keytool"
# lib.sh keeps every test away from the user's own store and sockets.
run "$KEYTOOL" info
expect_contains "a test's default store is its own, under its temp dir" \
	"no key store at $TMP/data/kmes/keystore" "$ERR"
run "$AGENT" --print-socket
expect_eq "a test's default socket is its own, under its temp dir" \
	"$TMP/run/kmes-agent/socket" "$OUT"
export KMES_STORE=$TMP/store
run "$KEYTOOL" --help
expect_eq "kmes-keytool --help exits 0" 0 "$RC"
expect_contains "kmes-keytool --help lists the commands" "recover" "$OUT"
run "$KEYTOOL" --version
expect_match "kmes-keytool --version prints its version" \
	'^kmes-keytool [0-9]+\.[0-9]+\.[0-9]+$' "$OUT"
for cmd in init generate import list delete rename passwd so-passwd unblock info verify \
	recover export-public; do
	run "$KEYTOOL" "$cmd" --help
	expect_eq "kmes-keytool $cmd --help exits 0" 0 "$RC"
	expect_match "kmes-keytool $cmd --help shows its usage" \
		"^usage: kmes-keytool \\[global options\\] $cmd" "$OUT"
done
[ ! -e "$KMES_STORE" ]
expect_eq "no --help created a store" 0 "$?"

run "$KEYTOOL" init --label x --help
expect_eq "--help after other options still only shows the usage" 0 "$RC"
[ ! -e "$KMES_STORE" ]
expect_eq "init --help creates no store" 0 "$?"

run "$KEYTOOL" --sto "$TMP/other" list
expect_eq "kmes-keytool refuses an abbreviated --store" 2 "$RC"
expect_contains "the keytool error names the full option" \
	"unknown option '--sto' (did you mean --store?)" "$ERR"
run "$KEYTOOL" generate -t ed25519 -l k --conf
expect_contains "a command's abbreviated option is refused" \
	"unknown option '--conf' (did you mean --confirm?)" "$ERR"
run "$KEYTOOL" --store="$TMP/none" list
expect_contains "--store=path in full is taken" "no key store at $TMP/none" \
	"$ERR"

done_testing
