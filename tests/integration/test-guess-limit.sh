#!/bin/bash
# Nobody guesses a PIN or a lock password faster than a human types
# (issue 12, section 2), attacked the way a hostile peer would:
# - a connection bound to a forwarded ssh session (session-bind with
#   is_forwarding = 1) cannot log in to the store, with a wrong PIN or the
#   right one: FAILURE, audited, and the store's tries-left is unchanged;
#   the agent's own lock password stays allowed from it, as in OpenSSH;
# - a client that opens a new connection per lock-password guess and never
#   reads a reply gets no more than the global rate admitted (counted in
#   the audit log: one record per checked guess); token PINs sent with
#   ADD_SMARTCARD_KEY the same way share that limit (counted in the log:
#   one line per PIN the token checked);
# - the user's ssh-add -X with the right password right after the attack
#   succeeds within a few seconds.
#
# Run: AGENT=build/src/kmes-agent KEYTOOL=build/src/keytool/kmes-keytool \
#      GUESS_CLIENT=build/tests/integration/guess-client \
#      bash tests/integration/test-guess-limit.sh

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/softhsm.sh"

[ -n "${KEYTOOL:-}" ] || bail_out "KEYTOOL is not set"
[ -n "${GUESS_CLIENT:-}" ] || bail_out "GUESS_CLIENT is not set"
kmes || bail_out "this test is for kmes-agent (KMES=1)"

# The limiter's values (src/ratelimit.h): burst 3, then one per second.
BURST=3
FLOOD_S=5
# Worst wait for the user once an attack stops: the 4 s delay cap plus
# the in-flight guesses' KDF; 8 s leaves room for ssh-add and askpass
# starting on a loaded (sanitizer) CI machine.
USER_BOUND_S=8
# A token check starts a PKCS#11 helper process (seconds each under a
# sanitizer on a loaded machine): the attack's last checks in flight, the
# 4 s delay after them, then the user's own check.
TOKEN_USER_BOUND_S=15

STORE=$TMP/store/keystore
PIN=246813
SOPIN=97531864
LOCKPW=lock-pw-4711
AUDIT=$TMP/audit.json

kt() { bounded "$KEYTOOL" --store "$STORE" "$@"; }

tries_left() {
	kt info | awk -F': ' '$1 == "pin-tries-left" { print $2 }'
}

# askpass <answer> <ssh-add args...>: ssh-add with SSH_ASKPASS answering.
askpass() {
	local answer=$1
	shift
	printf '%s\n' "$answer" >"$TMP/answer"
	bounded env SSH_ASKPASS="$TMP/askpass" SSH_ASKPASS_REQUIRE=force \
		DISPLAY=:0 ssh-add "$@" </dev/null
}

# audit_count <target> <result>: unlock records with that target and result.
audit_count() {
	grep -c "\"event\":\"unlock\".*\"target\":\"$1\",\"result\":\"$2\"" \
		"$AUDIT"
}

run kt --pin-fd 3 --so-pin-fd 4 init --label rate --kdf-cost 10 \
	3<<<"$PIN" 4<<<"$SOPIN"
tap_result "$RC" "kmes-keytool init makes a store" || _show_last init
run bounded "$KEYTOOL" --store "$STORE" --pin-fd 3 generate -t ed25519 \
	-l k-rate 3<<<"$PIN"
tap_result "$RC" "a key in the store" || _show_last generate
printf '%s\n' "$OUT" >"$TMP/k-rate.pub"
make_askpass "$TMP/askpass" "$TMP/answer" "$TMP/askpass.log"

start_agent rate --store "$STORE" --audit-log "$AUDIT"
expect_eq "the store starts with 10 tries left" 10 "$(tries_left)"

# --- a forwarded peer cannot log in to the store, nor touch its counter
for i in 1 2 3 4 5; do
	run "$GUESS_CLIENT" fwd-unlock "$SSH_AUTH_SOCK" "00000$i"
	expect_eq "forwarded UNLOCK with wrong store PIN $i is refused" \
		FAILURE "$OUT" || _show_last fwd-unlock
done
run env GUESS_SECRET="$PIN" "$GUESS_CLIENT" fwd-unlock "$SSH_AUTH_SOCK" -
expect_eq "forwarded UNLOCK with the right store PIN is refused too" \
	FAILURE "$OUT" || _show_last fwd-unlock
expect_eq "the store's tries-left is unchanged (10)" 10 "$(tries_left)"
expect_eq "each refusal is audited as refused-remote" 6 \
	"$(audit_count keystore refused-remote)"
expect_eq "no forwarded PIN reached the store (no wrong-pin record)" 0 \
	"$(audit_count keystore wrong-pin)"
expect_fail "the store is still locked" ssh-add -T "$TMP/k-rate.pub"
run askpass "$PIN" -X
tap_result "$RC" "a local ssh-add -X with the right PIN then unlocks it" ||
	_show_last ssh-add -X
expect_ok "and the store key signs" ssh-add -T "$TMP/k-rate.pub"

# --- the agent's own lock password stays allowed from a forwarded peer
# (ssh-add -x / -X on the far host of ssh -A, as with ssh-agent)
run env GUESS_SECRET="$LOCKPW" "$GUESS_CLIENT" fwd-lock-unlock \
	"$SSH_AUTH_SOCK" -
expect_eq "a forwarded peer may lock and unlock the agent (as ssh-agent)" \
	"LOCK SUCCESS UNLOCK SUCCESS" "$OUT" || _show_last fwd-lock-unlock

# --- the lock password: one connection per guess, replies never read
run askpass "$LOCKPW" -x
tap_result "$RC" "ssh-add -x locks the agent" || _show_last ssh-add -x
run "$GUESS_CLIENT" flood "$SSH_AUTH_SOCK" "$FLOOD_S"
tap_result "$RC" "the flood client ran" || _show_last flood
read -r _ SENT _ FLOOD_MS <<<"$OUT"
diag "flood: $SENT guesses sent in $FLOOD_MS ms"
[ "${SENT:-0}" -ge 100 ]
tap_result $? "the attacker really tried (>= 100 guesses sent)" ||
	_show_last flood

# The user, right after the attack: the first ssh-add -X may be refused
# at once; it must succeed within USER_BOUND_S, counting every try.
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
user_unlock() { askpass "$LOCKPW" -X >/dev/null 2>&1; }
T0=$(now_ms)
wait_for "$USER_BOUND_S" user_unlock
RCU=$?
WAITED=$(($(now_ms) - T0))
[ "$RCU" -eq 0 ] && [ "$WAITED" -le $((USER_BOUND_S * 1000)) ]
tap_result $? "ssh-add -X with the right password succeeds within ${USER_BOUND_S} s of the attack (took $WAITED ms)" ||
	diag_file "$TMP/rate.log"
# Locking wiped the store's keys: its PIN is the user's next guess.
store_unlock() { askpass "$PIN" -X >/dev/null 2>&1; }
wait_for "$USER_BOUND_S" store_unlock
tap_result $? "then ssh-add -X with the store PIN within ${USER_BOUND_S} s"
expect_ok "the agent signs again" ssh-add -T "$TMP/k-rate.pub"
expect_eq "the store's tries-left is back at 10" 10 "$(tries_left)"

ADMITTED=$(audit_count agent wrong-password)
LIMITED=$(audit_count agent rate-limited)
diag "admitted $ADMITTED, refused at once $LIMITED"
MAX=$((BURST + (FLOOD_MS + 999) / 1000 + 1))
[ "$ADMITTED" -le "$MAX" ]
tap_result $? "at most $MAX of $SENT guesses in ${FLOOD_MS} ms were checked (burst $BURST + 1/s)" ||
	diag "admitted: $ADMITTED"
[ "$ADMITTED" -ge 1 ] && [ "$LIMITED" -ge 1 ]
tap_result $? "guesses were checked and refused, both audited" ||
	diag "admitted $ADMITTED limited $LIMITED"
expect_contains "the refusal says why in the log" "too many guesses" \
	"$(cat "$TMP/rate.log")"
expect_lacks "the audit log holds no secret" "$LOCKPW" "$(cat "$AUDIT")"

# --- token PINs (ssh-add -s) count against the same limit
softhsm_setup
TOK="Guess Token"
TOKPIN=1234
softhsm_init_token "$TOK" "$TOKPIN" 5678 >/dev/null || bail_out "no token"
softhsm_keygen "$TOK" "$TOKPIN" EC:prime256v1 01 tok-guess
MODULE=$(realpath "$SOFTHSM_MODULE")
start_agent card
run "$GUESS_CLIENT" card-flood "$SSH_AUTH_SOCK" "$FLOOD_S" "$MODULE"
tap_result "$RC" "the token PIN flood client ran" || _show_last card-flood
read -r _ SENT _ FLOOD_MS <<<"$OUT"
diag "token flood: $SENT guesses sent in $FLOOD_MS ms"
pid_alive "$AGENT_PID"
tap_result $? "the agent survives concurrent token adds (no crash)" ||
	diag_file "$TMP/card.log"
user_card() {
	printf '%s ' "$(now_ms)" >>"$TMP/user-card.log"
	askpass "$TOKPIN" -s "$MODULE" >>"$TMP/user-card.log" 2>&1
}
T0=$(now_ms)
wait_for "$TOKEN_USER_BOUND_S" user_card
RCU=$?
WAITED=$(($(now_ms) - T0))
[ "$RCU" -eq 0 ] && [ "$WAITED" -le $((TOKEN_USER_BOUND_S * 1000)) ]
tap_result $? "ssh-add -s with the right PIN succeeds within ${TOKEN_USER_BOUND_S} s of the attack (took $WAITED ms)" ||
	{ diag_file "$TMP/card.log"; diag_file "$TMP/user-card.log"; }
expect_contains "the token's key is served" "tok-guess" "$(bounded ssh-add -l)"
# One line per PIN the token refused (C_Login); requests turned away
# before any login (the provider busy with another add) do not count.
CHECKED=$(grep -c "cannot add PKCS#11 provider.*C_Login" "$TMP/card.log")
diag "token PINs checked: $CHECKED" \
	"$(grep "cannot add PKCS#11 provider" "$TMP/card.log" | sed "s/.*: //" | sort | uniq -c)"
MAX=$((BURST + (FLOOD_MS + 999) / 1000 + 1))
[ "${SENT:-0}" -ge 100 ] && [ "$CHECKED" -le "$MAX" ]
tap_result $? "at most $MAX of $SENT token PINs in ${FLOOD_MS} ms reached the token" ||
	diag "checked: $CHECKED"

done_testing
