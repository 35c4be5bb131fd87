#!/bin/bash
# Private key bytes from ssh-add never sit in the agent's ordinary memory.
# The agent's whole memory is read through /proc/PID/mem (memscan.py) and
# searched for each key's private numbers (the Ed25519 seed, the ECDSA
# scalar, RSA's d, p and q, in both byte orders, any piece of 24 bytes or
# more): every copy must lie in a mapping that is locked and excluded from
# core dumps (the OpenSSL secure heap, kmes_secure_alloc blocks), and none
# may be left once the key is removed.  The request that carries a key is
# caught half-read too, from a client that stops before its last byte,
# alone and pipelined behind another request: a request buffer in the
# ordinary heap would show there (and did, before requests that may carry
# secrets were read into secure memory).
#
# Reading the memory of a process that is not dumpable needs root.

. "$(dirname "$0")/lib.sh"

MEMSCAN=$(dirname "$0")/memscan.py
if [ "$(id -u)" -ne 0 ]; then
	_tap_done=1
	echo "1..0 # SKIP needs root to read the agent's /proc/PID/mem (the agent is not dumpable)"
	exit 0
fi
require python3
[ -r "$MEMSCAN" ] || bail_out "no $MEMSCAN"

# A sanitizer's runtime makes mlock() a no-op (OpenSSL's secure heap,
# locked by a raw system call, is the exception): for such an agent only
# "excluded from core dumps" can be checked.
SCAN_OPTS=()
if ldd "$AGENT" 2>/dev/null | grep -Eq '^[[:space:]]*lib(asan|tsan|msan)\.so'; then
	SCAN_OPTS=(--dd-only)
	diag "sanitizer build: secure memory is checked as no-dump only (mlock is a no-op)"
fi

# No agent here may pick up a default key store from the caller's home.
export KMES_STORE=$TMP/no-such-store

K=$TMP/keys
mkdir -p "$K"
gen_key ed25519 "$K/ed25519" mem-ed25519
gen_key ecdsa-256 "$K/ecdsa" mem-ecdsa
gen_key rsa-3072 "$K/rsa" mem-rsa
KEYS=("$K/ed25519" "$K/ecdsa" "$K/rsa")

start_agent mem
SCAN=

# scan_agent: SCAN is memscan's report on the agent's memory for all keys.
scan_agent() {
	run python3 "$MEMSCAN" scan ${SCAN_OPTS[@]+"${SCAN_OPTS[@]}"} \
		"$AGENT_PID" "${KEYS[@]}"
	SCAN=$OUT
	[ "$RC" -eq 0 ] || { _show_last memscan scan; bail_out "memscan failed"; }
	[ "$(printf '%s\n' "$SCAN" | grep -c '^numbers ')" -eq 3 ] ||
		bail_out "memscan did not read the three key files"
	if printf '%s\n' "$SCAN" | grep -q '^unreadable '; then
		diag "$SCAN"
		bail_out "part of the agent's memory could not be read"
	fi
}

# expect_only_secure <description>: no private number in plain memory.
expect_only_secure() {
	local plain
	plain=$(printf '%s\n' "$SCAN" | grep '^hit .* plain ')
	if [ -z "$plain" ]; then
		pass "$1"
	else
		fail "$1" "copies outside locked no-dump memory:" "$plain"
	fi
}

# expect_found <description> <where> <key file> <number...>: the numbers
# are found in the agent's memory, in a "secure" mapping or "any" (a
# control: the scan can see them).
expect_found() {
	local desc=$1 where=$2 key=$3 n missing='' kind=secure
	shift 3
	[ "$where" = any ] && kind='[a-z]*'
	for n in "$@"; do
		printf '%s\n' "$SCAN" | grep -q "^hit $key:$n [bl]e [0-9a-f]* $kind " ||
			missing="$missing $n"
	done
	if [ -z "$missing" ]; then
		pass "$desc"
	else
		fail "$desc" "not found ($where):$missing" "$SCAN"
	fi
}

# hold <key file> [--after-list]: a client sends all of the key's add
# request but its last byte and waits; the agent has read every byte sent
# when this returns.  HOLD_PID is the client, HOLD its coprocess pipes.
hold() {
	local line
	coproc HOLD { bounded python3 "$MEMSCAN" hold "$SSH_AUTH_SOCK" "$@"; }
	register_pid "$HOLD_PID"
	read -r -t 25 line <&"${HOLD[0]}"
	[ "$line" = held ] || bail_out "the half-sending client did not get going"
}

# release: the held client sends its last byte; prints the agent's reply.
release() {
	local line pid=$HOLD_PID
	echo go >&"${HOLD[1]}"
	read -r -t 25 line <&"${HOLD[0]}"
	wait "$pid" 2>/dev/null
	printf '%s\n' "$line"
}

# ------------------------------------------------ a request read half-way
hold "$K/ed25519"
scan_agent
expect_found "control: the half-read add request's Ed25519 seed is in the agent's memory" \
	any "$K/ed25519" seed
expect_only_secure "a half-read add request sits in locked no-dump memory only"
expect_eq "the rest of it completes the add (SSH_AGENT_SUCCESS)" \
	"reply 6" "$(release)"
expect_ok "the agent holds the Ed25519 key" \
	agent_has "$(fingerprint "$K/ed25519.pub")"
expect_ok "ssh-add -d removes it" ssh-add -d "$K/ed25519.pub"

hold "$K/rsa" --after-list
scan_agent
expect_found "control: the half-read RSA add request, pipelined behind a key list request, is in the agent's memory" \
	any "$K/rsa" d p q
expect_only_secure "an add request read together with the request before it sits in locked no-dump memory only"
expect_eq "the rest of it completes the add (SSH_AGENT_SUCCESS)" \
	"reply 6" "$(release)"
expect_ok "ssh-add -d removes the RSA key" ssh-add -d "$K/rsa.pub"

# ---------------------------------------------- ssh-add, then ssh-add -d
for k in "${KEYS[@]}"; do
	expect_ok "ssh-add adds $(basename "$k")" ssh-add "$k"
done
for k in "${KEYS[@]}"; do
	expect_ok "ssh-add -T signs with $(basename "$k")" ssh-add -T "$k.pub"
done
scan_agent
expect_found "the added Ed25519 seed is found in secure memory" \
	secure "$K/ed25519" seed
expect_found "the added ECDSA scalar is found in secure memory" \
	secure "$K/ecdsa" d
expect_found "the added RSA d, p and q are found in secure memory" \
	secure "$K/rsa" d p q
expect_only_secure "holding three added keys, no private number is outside locked no-dump memory"

for k in "${KEYS[@]}"; do
	expect_ok "ssh-add -d removes $(basename "$k")" ssh-add -d "$k.pub"
done
expect_ok "the agent holds no key" agent_empty
scan_agent
expect_only_secure "after ssh-add -d, no private number is outside locked no-dump memory"
expect_eq "after ssh-add -d, no copy of any private number is left at all" \
	"" "$(printf '%s\n' "$SCAN" | grep '^hit ')"

done_testing
