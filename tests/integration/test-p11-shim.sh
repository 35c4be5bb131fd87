#!/bin/bash
# The PKCS#11 fault shim and the SoftHSM2 fixtures, proven with OpenSC's
# pkcs11-tool before the agent relies on them: pass-through is faithful,
# each fault fires where and as often as its rule says, and the fixtures
# build the tokens the HSM tests expect.
#
# Run: SHIM_MODULE=build/tests/support/libkmes-p11-shim.so \
#	AGENT=/usr/bin/ssh-agent bash tests/integration/test-p11-shim.sh
# (lib.sh insists on an AGENT; this script never starts it.)

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/softhsm.sh"

require pkcs11-tool softhsm2-util openssl xxd date
softhsm_setup
shim_setup
diag "shim under test: $SHIM_MODULE"
preload_sanitizer_of "$SHIM_MODULE"

TOKEN=kmes-shim
PIN=1234-shim
DATA=$TMP/data
printf 'sign me\n' >"$DATA"

serial=$(softhsm_init_token "$TOKEN" "$PIN") || bail_out "no token"
expect_match "softhsm_init_token prints the token's serial" '^[0-9a-f]{16}$' "$serial"

# Every key type the HSM tests use, generated on the token.
softhsm_keygen "$TOKEN" "$PIN" EC:edwards25519 01 shim-ed25519
softhsm_keygen "$TOKEN" "$PIN" rsa:2048 02 shim-rsa2048
softhsm_keygen "$TOKEN" "$PIN" rsa:3072 03 shim-rsa3072
softhsm_keygen "$TOKEN" "$PIN" EC:prime256v1 04 shim-p256
softhsm_keygen "$TOKEN" "$PIN" EC:secp384r1 05 shim-p384
softhsm_keygen "$TOKEN" "$PIN" EC:secp521r1 06 shim-p521
softhsm_add_clutter "$TOKEN" "$PIN"

# real <args>, shim <args>: pkcs11-tool on SoftHSM directly / through the
# shim, logged in to the test token.
real() {
	bounded pkcs11-tool --module "$SOFTHSM_MODULE" --token-label "$TOKEN" \
		--login --pin "$PIN" "$@"
}
shim() {
	bounded pkcs11-tool --module "$SHIM_MODULE" --token-label "$TOKEN" \
		--login --pin "$PIN" "$@"
}

# shim_sign <out>: an Ed25519 signature of $DATA through the shim.  EdDSA
# is one-shot in SoftHSM, so a failed C_Sign cannot be rescued by
# pkcs11-tool's multi-part fallback: the command fails iff C_Sign did.
shim_sign() {
	shim --sign -m EDDSA --id 01 -i "$DATA" -o "$1"
}

# ------------------------------------------------------------ fixtures
out=$(softhsm_objects "$TOKEN" "$PIN")
for l in shim-ed25519 shim-rsa2048 shim-rsa3072 shim-p256 shim-p384 shim-p521 \
	clutter-cert clutter-aes clutter-privonly clutter-pubonly; do
	expect_contains "token holds object '$l'" "label:      $l" "$out"
done
expect_contains "token holds data object 'clutter-data'" "'clutter-data'" "$out"
expect_match "token holds a key pair with an empty label" 'label: +$' "$out"
expect_match "edwards25519 key: EC_PARAMS is the printable string" \
	'EC_PARAMS: +130c656477617264733235353139' "$out"
expect_eq "clutter: the private-only key has no public object" 0 \
	"$(printf '%s\n' "$out" | grep -c 'label:      clutter-privonly' | grep -cx 2)"

for id in 01 02 03 04 05 06; do
	run softhsm_ssh_pubkey "$TOKEN" "$PIN" $id
	printf '%s\n' "$OUT" >"$TMP/key$id.pub"
	expect_ok "softhsm_ssh_pubkey $id: ssh-keygen reads it" ssh-keygen -lf "$TMP/key$id.pub"
done
expect_match "Ed25519 key as ssh-ed25519" '^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI' \
	"$(cat "$TMP/key01.pub")"
expect_match "P-521 key as ecdsa-sha2-nistp521" '^ecdsa-sha2-nistp521 ' \
	"$(cat "$TMP/key06.pub")"

# The token's Ed25519 signature verifies under the public key we derived:
# proves both the key and the CKA_EC_POINT unwrapping.
expect_ok "SoftHSM signs with its Ed25519 key" real --sign -m EDDSA --id 01 \
	-i "$DATA" -o "$TMP/direct.sig"
base64 -d <<<"$(awk '{ print $2 }' "$TMP/key01.pub")" | tail -c 32 |
	cat <(printf '302a300506032b6570032100' | xxd -r -p) - >"$TMP/ed.spki"
expect_ok "that signature verifies under the derived public key" \
	openssl pkeyutl -verify -pubin -keyform DER -inkey "$TMP/ed.spki" \
	-rawin -in "$DATA" -sigfile "$TMP/direct.sig"

# --------------------------------------------------------- pass-through
run bounded pkcs11-tool --module "$SOFTHSM_MODULE" -L
direct=$OUT
run bounded pkcs11-tool --module "$SHIM_MODULE" -L
expect_eq "pass-through: -L lists what SoftHSM lists" "$direct" "$OUT"
run real -O
direct=$OUT
direct_err=$ERR
run shim -O
expect_eq "pass-through: -O lists what SoftHSM lists" "$direct" "$OUT"
expect_eq "pass-through: the same warnings" "$direct_err" "$ERR"

expect_ok "pass-through: Ed25519 sign" shim_sign "$TMP/shim.sig"
expect_eq "pass-through: same signature as SoftHSM (Ed25519 is deterministic)" \
	"$(xxd -p "$TMP/direct.sig")" "$(xxd -p "$TMP/shim.sig")"
real --sign -m RSA-PKCS --id 02 -i "$DATA" -o "$TMP/rsa.direct" >/dev/null 2>&1
expect_ok "pass-through: RSA PKCS#1 sign" shim --sign -m RSA-PKCS --id 02 \
	-i "$DATA" -o "$TMP/rsa.shim"
expect_eq "pass-through: same RSA signature" \
	"$(xxd -p "$TMP/rsa.direct")" "$(xxd -p "$TMP/rsa.shim")"
openssl dgst -sha256 -binary "$DATA" >"$TMP/digest"
expect_ok "pass-through: ECDSA P-384 sign of a digest" shim --sign -m ECDSA \
	--id 05 -i "$TMP/digest" -o "$TMP/ecdsa.sig"

# OpenSC 0.23 asks for C_GetInterface first and says when it has to fall
# back to C_GetFunctionList.
run bounded pkcs11-tool --module "$SHIM_MODULE" -L
expect_lacks "C_GetInterface answers (no 2.x fallback)" "retry 2.x" "$ERR"
shim_rules 'C_GetInterface rv=CKR_FUNCTION_FAILED'
expect_ok "C_GetInterface failing: the caller falls back to C_GetFunctionList" \
	bounded pkcs11-tool --module "$SHIM_MODULE" -L
expect_contains "... as OpenSC reports" "retry 2.x" "$ERR"

rm -f "$SHIM_CTL"
expect_ok "no control file: pass-through" shim_sign "$TMP/nofile.sig"
expect_lacks "no control file: the shim is silent" kmes-p11-shim "$ERR"

# ------------------------------------------------------------ rv=, once
shim_rules '# a comment' 'C_Sign rv=CKR_DEVICE_ERROR once'
expect_fail "rv=CKR_DEVICE_ERROR once: the first sign fails" shim_sign "$TMP/s1"
expect_contains "... and the shim says which rule fired" \
	"C_Sign: rv=0x30 (once)" "$ERR"
expect_lacks "a faked error ended the real operation (no OPERATION_ACTIVE)" \
	CKR_OPERATION_ACTIVE "$ERR"
expect_eq "the once rule is gone from the file" "" "$(shim_rules_left)"
expect_contains "... and the comment stayed" "# a comment" "$(cat "$SHIM_CTL")"
expect_ok "the next sign succeeds" shim_sign "$TMP/s2"

# Eight processes race for one "once" rule: the flock + rename must let
# exactly one of them see it. They race on C_GetInfo (pkcs11-tool -I), as
# concurrent SoftHSM C_Initialize calls on one token directory sometimes
# miss the token ("No slot with token named ...") and would blur the count.
shim_rules 'C_GetInfo rv=CKR_DEVICE_ERROR once'
pids=()
for i in 1 2 3 4 5 6 7 8; do
	(bounded pkcs11-tool --module "$SHIM_MODULE" -I >"$TMP/race$i.log" 2>&1
	echo $? >"$TMP/race$i.rc") &
	pids+=($!)
	register_pid $!
done
for p in "${pids[@]}"; do
	wait "$p"
done
failed=0
for i in 1 2 3 4 5 6 7 8; do
	[ "$(cat "$TMP/race$i.rc")" = 0 ] && continue
	failed=$((failed + 1))
	diag "caller $i failed:"
	diag_file "$TMP/race$i.log"
done
fired=$(cat "$TMP"/race?.log | grep -c 'C_GetInfo: rv=0x30 (once)')
expect_eq "8 concurrent callers, one once rule: exactly one fails" 1 "$failed"
expect_eq "... and the rule fired exactly once" 1 "$fired"

shim_rules 'C_Sign rv=CKR_SESSION_HANDLE_INVALID'
expect_fail "rv=CKR_SESSION_HANDLE_INVALID: sign fails" shim_sign "$TMP/s3"
expect_fail "... and keeps failing without once" shim_sign "$TMP/s3"
expect_eq "... and the rule stays" "C_Sign rv=CKR_SESSION_HANDLE_INVALID" \
	"$(shim_rules_left)"

shim_rules 'C_GetSlotList rv=0xe0'
run bounded pkcs11-tool --module "$SHIM_MODULE" -L
expect_contains "rv=0xe0 (hex) reaches the caller as CKR_TOKEN_NOT_PRESENT" \
	CKR_TOKEN_NOT_PRESENT "$ERR"

shim_rules 'C_Login rv=CKR_PIN_INCORRECT once'
run shim -O
expect_contains "rv=CKR_PIN_INCORRECT on C_Login" CKR_PIN_INCORRECT "$ERR"

shim_rules '* rv=CKR_GENERAL_ERROR'
expect_fail "'*' fails every call (C_Initialize first)" \
	bounded pkcs11-tool --module "$SHIM_MODULE" -L
expect_contains "... by way of C_Initialize, after loading succeeded" \
	"C_Initialize: rv=0x5" "$ERR"

shim_rules 'C_GetFunctionList rv=CKR_GENERAL_ERROR' \
	'C_GetInterface rv=CKR_GENERAL_ERROR'
expect_fail "naming the entry points makes loading fail" \
	bounded pkcs11-tool --module "$SHIM_MODULE" -L

shim_rules 'C_Sgin hang'
expect_fail "a misspelt function: calls fail, nothing hangs" \
	bounded pkcs11-tool --module "$SHIM_MODULE" -L
expect_contains "... and stderr names the bad line" "shim.ctl:1: bad rule" "$ERR"
for bad in 'C_Sign' 'C_Sign rv=CKR_NOPE' 'C_Sign delay=abc' \
	'C_Sign hang twice' 'C_Sign exit once more'; do
	shim_rules "$bad"
	expect_fail "malformed rule '$bad' is refused" \
		bounded pkcs11-tool --module "$SHIM_MODULE" -L
done

# ------------------------------------------------------- crashes, exits
shim_rules 'C_Login abort'
expect_status "C_Login abort: pkcs11-tool dies of SIGABRT" 134 shim -O
shim_rules 'C_FindObjectsInit segv'
expect_status "C_FindObjectsInit segv: dies of SIGSEGV" 139 shim -O
shim_rules 'C_OpenSession exit'
expect_status "C_OpenSession exit: exits with status 3" 3 shim -O

# ------------------------------------------------------------- delay
shim_rules ''
t0=$(date +%s%N)
shim_sign "$TMP/d0" >/dev/null 2>&1
base=$((($(date +%s%N) - t0) / 1000000))
shim_rules 'C_Sign delay=500'
t0=$(date +%s%N)
run shim_sign "$TMP/d1"
ms=$((($(date +%s%N) - t0) / 1000000))
diag "sign took ${base} ms plain, ${ms} ms with delay=500"
expect_eq "delay=500: the sign still succeeds" 0 "$RC"
expect_eq "delay=500: it took at least 500 ms" 1 "$((ms >= 500))"

# --------------------------------------------------------------- hang
shim_rules 'C_Sign hang'
pkcs11-tool --module "$SHIM_MODULE" --token-label "$TOKEN" --login \
	--pin "$PIN" --sign -m EDDSA --id 01 -i "$DATA" -o "$TMP/hang.sig" \
	>"$TMP/hang.log" 2>&1 </dev/null &
hang_pid=$!
register_pid "$hang_pid"
_hang_fired() { grep -q 'C_Sign: hang' "$TMP/hang.log"; }
# _sig_bit <mask line> <signo>: whether a /proc status mask has signo set.
_sig_bit() {
	[ -n "$1" ] && [ $((0x$1 & (1 << ($2 - 1)))) -ne 0 ]
}
# _blocked_everywhere <pid> <signo>: every thread of pid blocks signo, so
# no thread can take it (a process-wide signal goes to any that does not).
_blocked_everywhere() {
	local f
	for f in /proc/"$1"/task/*/status; do
		_sig_bit "$(awk '$1 == "SigBlk:" { print $2 }' "$f" \
			2>/dev/null)" "$2" || return 1
	done
}
# _held_pending <pid> <signo>: signo was sent to pid and waits undelivered.
_held_pending() {
	_sig_bit "$(awk '$1 == "ShdPnd:" { print $2 }' /proc/"$1"/status \
		2>/dev/null)" "$2"
}
wait_for 10 _hang_fired
expect_ok "C_Sign hang: the rule fired" _hang_fired
# The shim logs, then blocks every signal and pause()s for good: once no
# thread can take SIGTERM the call can neither return nor be interrupted,
# which no fixed wait would show any better.
wait_for 10 _blocked_everywhere "$hang_pid" 15
expect_ok "C_Sign hang: every thread blocks SIGTERM" \
	_blocked_everywhere "$hang_pid" 15
expect_ok "C_Sign hang: still running" pid_alive "$hang_pid"
kill -TERM "$hang_pid"
wait_for 10 _held_pending "$hang_pid" 15
expect_ok "C_Sign hang: SIGTERM arrives and is held pending" \
	_held_pending "$hang_pid" 15
expect_ok "C_Sign hang: SIGTERM does not end it" pid_alive "$hang_pid"
# bash reports a background job killed by a signal on its own stderr when
# it reaps it; that notice is expected here, so keep it out of the log.
exec 3>&2 2>/dev/null
kill -KILL "$hang_pid"
wait_pid_gone "$hang_pid" 5
wait "$hang_pid"
exec 2>&3 3>&-
expect_ok "C_Sign hang: SIGKILL does" pid_gone "$hang_pid"
expect_eq "... and it never wrote a signature" 1 "$([ -s "$TMP/hang.sig" ]; echo $?)"

shim_rules ''
expect_ok "after all that the token still signs" shim_sign "$TMP/final.sig"

done_testing
