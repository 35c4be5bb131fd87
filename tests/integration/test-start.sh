#!/bin/bash
# What a person meets when starting the agent with a PIN: a store file
# others may read is refused with the chmod that fixes it; a blocked store
# says so before any PIN is read; a PIN of the wrong length is not counted
# as a try; a failed start says "no agent started" and exits non-zero
# (foreground and daemon); a second agent started while SSH_AUTH_SOCK
# names a live one warns.
#
# Run: AGENT=build/src/kmes-agent KEYTOOL=build/src/keytool/kmes-keytool \
#	bash tests/integration/test-start.sh

. "$(dirname "$0")/lib.sh"

kmes || { pass "# SKIP the start-up walls are kmes-agent's own"; done_testing; exit 0; }
. "$(dirname "$0")/store.sh"

store_init start
tap_result "$RC" "kmes-keytool init makes a store" || _show_last init
tries() {
	kt info | sed -n 's/^pin-tries-left: //p'
}
TRIES0=$(tries)

# A daemon start that must fail: no agent may be left running.
start_fails() {
	local desc=$1 want=$2
	shift 2
	run "$AGENT" "$@"
	expect_eq "$desc: the start fails" 1 "$RC"
	expect_contains "$desc: says why" "$want" "$ERR"
	expect_contains "$desc: says no agent started" "no agent started" "$ERR"
	expect_lacks "$desc: prints no environment" "SSH_AUTH_SOCK" "$OUT"
	started=$(sed -n 's/^SSH_AGENT_PID=\([0-9]*\);.*/\1/p' <<<"$OUT")
	[ -n "$started" ] && register_pid "$started"
}

# ----------------------------------------------------- exposed store file
chmod 644 "$STORE"
run "$AGENT" -s --pin-fd 3 3<<<"$PIN"
expect_eq "a store readable by others is refused" 1 "$RC"
expect_contains "the refusal gives the command that fixes it" \
	"chmod 600 $STORE" "$ERR"
expect_lacks "nothing is started on an exposed store" "SSH_AUTH_SOCK" "$OUT"
started=$(sed -n 's/^SSH_AGENT_PID=\([0-9]*\);.*/\1/p' <<<"$OUT")
[ -n "$started" ] && register_pid "$started"
expect_eq "the exposed store's PIN was not tried" "$TRIES0" "$(tries)"
chmod 600 "$STORE"

# ------------------------------------------------ a PIN of the wrong length
start_fails "a 3-character PIN" "a keystore PIN has 4 to 256 characters" \
	-s --pin-fd 3 3<<<"abc"
expect_eq "a PIN of the wrong length costs no try" "$TRIES0" "$(tries)"

# ------------------------------------------------- wrong PIN: no agent left
start_fails "a wrong PIN (daemon)" "wrong PIN for keystore 'start'" \
	-s --pin-fd 3 3<<<"999999"
start_fails "a wrong PIN (foreground)" "wrong PIN for keystore 'start'" \
	-D --pin-fd 3 3<<<"999999"

# ------------------------------------------- blocked: said before any PIN
left=$(tries)
for _ in $(seq "$left"); do
	run "$AGENT" -s --pin-fd 3 3<<<"999999"
done
expect_eq "the store is blocked after its tries" 0 "$(tries)"
# The descriptor is a FIFO nobody writes: reading a PIN would hang, so a
# prompt answer proves the state was read first.
mkfifo "$TMP/never"
exec 7<>"$TMP/never"
start_fails "a blocked store" "is blocked; unblock it with 'kmes-keytool unblock'" \
	-s --pin-fd 7
exec 7>&-

run kt --so-pin-fd 3 --new-pin-fd 4 unblock 3<<<"$SOPIN" 4<<<"$PIN"$'\n'"$PIN"
tap_result "$RC" "kmes-keytool unblock sets the PIN again" || _show_last unblock

# ----------------------------------------------- a second agent is noticed
run "$AGENT" -s --pin-fd 3 3<<<"$PIN"
expect_eq "the agent starts with the right PIN" 0 "$RC"
FIRST_SOCK=$(sed -n 's/^SSH_AUTH_SOCK=\([^;]*\);.*/\1/p' <<<"$OUT")
FIRST_PID=$(sed -n 's/^SSH_AGENT_PID=\([0-9]*\);.*/\1/p' <<<"$OUT")
[ -n "$FIRST_PID" ] && register_pid "$FIRST_PID"
expect_lacks "a first agent gives no warning" "already running" "$ERR"
run env SSH_AUTH_SOCK="$FIRST_SOCK" "$AGENT" -s --pin-fd 3 3<<<"$PIN"
SECOND_PID=$(sed -n 's/^SSH_AGENT_PID=\([0-9]*\);.*/\1/p' <<<"$OUT")
[ -n "$SECOND_PID" ] && register_pid "$SECOND_PID"
expect_eq "a second agent still starts" 0 "$RC"
expect_contains "a second agent warns that one already runs" \
	"an agent is already running at $FIRST_SOCK" "$ERR"
run env SSH_AUTH_SOCK="$TMP/no-such-socket" "$AGENT" -s --pin-fd 3 3<<<"$PIN"
THIRD_PID=$(sed -n 's/^SSH_AGENT_PID=\([0-9]*\);.*/\1/p' <<<"$OUT")
[ -n "$THIRD_PID" ] && register_pid "$THIRD_PID"
expect_lacks "a stale SSH_AUTH_SOCK gives no warning" "already running" "$ERR"
for p in "$FIRST_PID" "$SECOND_PID" "$THIRD_PID"; do
	[ -n "$p" ] && stop_pid "$p"
done

done_testing
