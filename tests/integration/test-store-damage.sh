#!/bin/bash
# A damaged key store file is not a wrong PIN, and one bad bit does not lose
# every key: kmes-keytool with real files (a bit flipped on disk, a record
# re-sealed with a stale MAC), verify with the right PIN never counting nor
# blocking, recover --out NEWFILE with and without the backup keystore.1,
# the recovered keys signing through kmes-agent, the agent refusing a
# damaged store and naming recover, and a crowd of right-PIN generates with
# a few wrong-PIN verifies never blocking the store.
#
# Run: AGENT=build/src/kmes-agent KEYTOOL=build/src/keytool/kmes-keytool \
#      bash tests/integration/test-store-damage.sh

. "$(dirname "$0")/lib.sh"

[ -n "${KEYTOOL:-}" ] || bail_out "KEYTOOL is not set"
kmes || bail_out "this test is for kmes-agent (KMES=1)"
require openssl od dd cmp grep

PIN=246813
SOPIN=97531864
STDIR=$TMP/store
ST=$STDIR/keystore

# kt <store> <args...>: the keytool on that store, bounded.
kt() {
	local st=$1
	shift
	bounded "$KEYTOOL" --store "$st" "$@"
}

# ktp <store> <args...>: the same with the right PIN on descriptor 3.
ktp() {
	local st=$1
	shift
	kt "$st" --pin-fd 3 "$@" 3<<<"$PIN"
}

# flip_at <file> <offset>: flips bit 2 of the byte at offset, in place.
flip_at() {
	local byte
	byte=$(od -An -tu1 -j "$2" -N 1 "$1" | tr -d ' ')
	printf '%b' "\\0$(printf '%03o' $((byte ^ 0x04)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# reseal <file>: recomputes the PIN-free checksum (the last 32 bytes), as a
# bit flipped in memory before the write would leave it: only the data
# key's MAC can then tell.
reseal() {
	local size body=$TMP/reseal.body
	size=$(stat -c %s "$1")
	head -c $((size - 32)) "$1" >"$body"
	openssl dgst -sha256 -mac HMAC -macopt "key:kmes-keystore/2 checksum" \
		-binary "$body" >"$body.sum"
	cat "$body" "$body.sum" >"$1"
}

# tag_offset <file> <next label>: an offset inside the AEAD tag of the
# record before the one labelled <next label> (its tag ends 4 bytes before
# that label's length field ends).
tag_offset() {
	local at
	at=$(grep -obUaF "$2" "$1" | head -n 1 | cut -d: -f1)
	[ -n "$at" ] && echo $((at - 4 - 6))
}

run kt "$ST" --pin-fd 3 --so-pin-fd 4 init --label damage --kdf-cost 10 \
	3<<<"$PIN" 4<<<"$SOPIN"
tap_result "$RC" "init a store" || _show_last init
for k in k-one:ed25519 k-two:ecdsa k-three:ed25519; do
	run ktp "$ST" generate -t "${k#*:}" -l "${k%%:*}"
	tap_result "$RC" "generate ${k%%:*}" || _show_last generate
	printf '%s\n' "$OUT" >"$TMP/${k%%:*}.pub"
done
cp -p "$ST" "$TMP/good"
if [ -f "$ST.1" ]; then
	pass "keystore.1 exists after the writes"
else
	fail "keystore.1 exists after the writes"
fi
expect_eq "keystore.1 is 0600" 600 "$(stat -c %a "$ST.1" 2>/dev/null)"

# ----------------------------------------------- one bit on the disk
off=$(tag_offset "$ST" k-three)
[ -n "$off" ] || bail_out "label k-three not found in the store"
flip_at "$ST" "$off"
cp "$ST" "$TMP/damaged"
blocked=0 counted=0 said=0
for i in $(seq 1 20); do
	run ktp "$ST" verify
	[ "$RC" -eq 5 ] || counted=$((counted + 1))
	case $ERR in *blocked*) blocked=$((blocked + 1)) ;; esac
	case $ERR in *damaged*"recover --out"*) said=$((said + 1)) ;; esac
done
expect_eq "20 right-PIN verifies on a damaged file: all exit 5 (damaged)" 0 "$counted"
expect_eq "none of them says the PIN is blocked" 0 "$blocked"
expect_eq "each says the file is damaged and names recover" 20 "$said"
expect_ok "no try was written to the damaged file" cmp "$ST" "$TMP/damaged"

run bounded "$AGENT" -D -a "$TMP/bad.sock" --store "$ST" --pin-fd 3 3<<<"$PIN"
expect_eq "the agent refuses the damaged store (exit 1)" 1 "$RC"
expect_match "and says to run kmes-keytool recover" \
	"damaged.*kmes-keytool --store .* recover --out NEWFILE" "$ERR"

# ----------------------------------------------------------- recover
touch "$TMP/exists"
run ktp "$ST" recover --out "$TMP/exists"
expect_eq "recover refuses an existing NEWFILE (exit 1)" 1 "$RC"
expect_contains "and says why" "never writes over" "$ERR"
expect_eq "the existing file is untouched" 0 "$(stat -c %s "$TMP/exists")"
run ktp "$ST" recover --out "$TMP/new"
tap_result "$RC" "recover --out NEWFILE" || _show_last recover
expect_contains "k-two comes back from keystore.1" \
	"restored from $ST.1: key 1 'k-two'" "$OUT"
expect_contains "and the summary counts it" \
	"2 key(s) kept, 1 restored" "$OUT"
expect_ok "the new file verifies" ktp "$TMP/new" verify
expect_eq "it lists all three keys" 3 "$(kt "$TMP/new" list | grep -c ' k-')"
expect_ok "the damaged file was not written" cmp "$ST" "$TMP/damaged"

# Without the backup, the damaged record is lost and named.
mv "$ST.1" "$TMP/backup-aside"
run ktp "$ST" recover --out "$TMP/new2"
tap_result "$RC" "recover without keystore.1" || _show_last recover
expect_contains "it names the lost key" "lost: key 1 'k-two'" "$OUT"
expect_ok "the salvaged file verifies" ktp "$TMP/new2" verify
expect_eq "it lists the two intact keys" "k-one k-three" \
	"$(kt "$TMP/new2" list | awk '{ print $3 }' | sort | paste -sd' ' | sed 's/ $//')"
run kt "$ST" --pin-fd 3 recover --out "$TMP/new3" 3<<<"000000"
expect_eq "a wrong PIN on recover: exit 3" 3 "$RC"
expect_eq "and no file" no "$([ -e "$TMP/new3" ] && echo yes || echo no)"

start_agent salvaged --store "$TMP/new2" --pin-fd 3 3<<<"$PIN"
expect_ok "the agent serves the salvaged store" ssh-add -T "$TMP/k-one.pub"
expect_ok "its other intact key signs too" ssh-add -T "$TMP/k-three.pub"
printf 'payload\n' >"$TMP/msg"
expect_ok "ssh-keygen -Y sign through the agent with a salvaged key" \
	sign_with_agent "$TMP/k-three.pub" "$TMP/msg"
expect_ok "the signature checks" check_sig "$TMP/k-three.pub" "$TMP/msg"
stop_pid "$AGENT_PID"

# ------------------------------- a stale MAC: the agent drops the store
cp -p "$TMP/good" "$ST"
mv "$TMP/backup-aside" "$ST.1"
flip_at "$ST" "$off"
reseal "$ST"
expect_ok "a re-sealed damaged file opens without a PIN" kt "$ST" list
start_agent stale --store "$ST"
expect_contains "a locked agent lists the store's keys" "k-one" \
	"$(bounded ssh-add -l)"
make_askpass "$TMP/askpass" "$TMP/answer" "$TMP/askpass.log"
printf '%s\n' "$PIN" >"$TMP/answer"
expect_fail "the right PIN does not unlock a damaged store (ssh-add -X)" \
	env SSH_ASKPASS="$TMP/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=:0 \
	ssh-add -X
expect_contains "the agent log names kmes-keytool recover" \
	"recover --out NEWFILE" "$(cat "$TMP/stale.log")"
expect_ok "and the agent no longer lists its keys" agent_empty
stop_pid "$AGENT_PID"
run ktp "$ST" verify
expect_eq "right-PIN verify on it: exit 5" 5 "$RC"
expect_contains "the failure counter did not move" "pin-failures: 0" \
	"$(kt "$ST" info 2>&1)"

# ----------------- a crowd of right PINs with a few wrong ones at once
CROWD=$TMP/crowd/keystore
run kt "$CROWD" --pin-fd 3 --so-pin-fd 4 init --kdf-cost 14 \
	3<<<"$PIN" 4<<<"$SOPIN"
tap_result "$RC" "init the crowd store" || _show_last init
pids=()
wrongs=()
for i in $(seq 1 12); do
	bounded "$KEYTOOL" --store "$CROWD" --pin-fd 3 generate -t ed25519 \
		-l "crowd-$i" 3<<<"$PIN" >"$TMP/crowd-$i.out" 2>"$TMP/crowd-$i.err" &
	pids+=($!)
	if [ $((i % 4)) -eq 0 ]; then
		bounded "$KEYTOOL" --store "$CROWD" --pin-fd 3 verify \
			3<<<"000000" >/dev/null 2>"$TMP/wrong-$i.err" &
		wrongs+=($!)
	fi
done
bad=0
for i in $(seq 1 12); do
	wait "${pids[$((i - 1))]}" || { bad=$((bad + 1)); diag_file "$TMP/crowd-$i.err"; }
done
wrong_rc=
for p in "${wrongs[@]}"; do
	wait "$p"
	wrong_rc="$wrong_rc $?"
done
expect_eq "12 right-PIN generates at once all succeed" 0 "$bad"
expect_eq "the 3 wrong-PIN verifies each fail as wrong (exit 3)" " 3 3 3" "$wrong_rc"
expect_lacks "no generate was told the PIN is blocked" blocked \
	"$(cat "$TMP"/crowd-*.err)"
expect_eq "all 12 keys are in the store" 12 "$(kt "$CROWD" list | grep -c crowd-)"
expect_ok "the crowd store verifies" ktp "$CROWD" verify

done_testing
