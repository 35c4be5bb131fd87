#!/bin/bash
# kmes-agent signing with keys on PKCS#11 tokens (SoftHSM2 standing in for
# a KMES Series 3): --pkcs11/--token at start, ssh-add -s/-e at run time,
# the -P allow-list, ssh logins and ssh-keygen -Y with every key type, the
# key store and several tokens at once, and a faulty module (the fault
# shim over SoftHSM2) that fails, crashes and hangs.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/softhsm.sh"

kmes || bail_out "this script tests kmes-agent's PKCS#11 support (KMES=1)"
[ -n "${SHIM_MODULE:-}" ] && [ -r "$SHIM_MODULE" ] ||
	bail_out "SHIM_MODULE must name the built fault shim"
[ -n "${KEYTOOL:-}" ] || bail_out "KEYTOOL must name kmes-keytool"

softhsm_setup
TOK="Slot Token 0"
PIN=1234
SERIAL=$(softhsm_init_token "$TOK" "$PIN" 5678) || bail_out "no token"
softhsm_keygen "$TOK" "$PIN" rsa:3072 01 tok-rsa
softhsm_keygen "$TOK" "$PIN" EC:prime256v1 02 tok-p256
softhsm_keygen "$TOK" "$PIN" EC:secp384r1 03 tok-p384
softhsm_keygen "$TOK" "$PIN" EC:secp521r1 04 tok-p521
softhsm_keygen "$TOK" "$PIN" EC:edwards25519 05 tok-ed25519

# The module as ssh-add and ssh-agent name it after realpath.
MODULE=$(realpath "$SOFTHSM_MODULE")

# start_token_agent <name> <pin file> [agent options...]: start_agent with
# the PINs on descriptor 3.
start_token_agent() {
	local name=$1
	AGENT_FD3=$2
	shift 2
	start_agent "$name" --pin-fd 3 "$@"
	AGENT_FD3=
}

printf '%s\n' "$PIN" >"$TMP/pin"

# ------------------------------------------------------------ listing
start_token_agent tok "$TMP/pin" --pkcs11 "$SOFTHSM_MODULE" --token "$TOK"
TOK_PID=$AGENT_PID
TOK_SOCK=$SSH_AUTH_SOCK

run bounded ssh-add -L
tap_result "$RC" "ssh-add -L lists the token's keys" || _show_last ssh-add -L
awk '{ print $1, $2 }' <<<"$OUT" | sort >"$TMP/agent.keys"
run bounded ssh-keygen -D "$SOFTHSM_MODULE"
awk '$1 ~ /^(ssh|ecdsa)-/ { print $1, $2 }' <<<"$OUT" | sort >"$TMP/keygen.keys"
if [ -s "$TMP/keygen.keys" ] &&
	diff <(grep -v '^ssh-ed25519 ' "$TMP/agent.keys") "$TMP/keygen.keys" >"$TMP/diff"; then
	pass "ssh-add -L shows exactly what ssh-keygen -D shows (RSA, ECDSA)"
else
	fail "ssh-add -L shows exactly what ssh-keygen -D shows (RSA, ECDSA)"
	diag_file "$TMP/diff"
fi
expect_eq "the Ed25519 key (which ssh-keygen -D cannot read) is listed too" \
	1 "$(grep -c '^ssh-ed25519 ' "$TMP/agent.keys")"
# A second token, with a key and clutter (certificates, a secret key, an
# unlabelled key, halves without the other half), made after the
# comparison above: ssh-keygen -D lists public objects of every token,
# even those without a private key, which an agent cannot sign with.
SERIAL_2=$(softhsm_init_token Second 4321 8765) || bail_out "no second token"
softhsm_keygen Second 4321 EC:prime256v1 10 second-p256
# Certificates, secret keys, unlabelled keys, halves without the other half.
softhsm_add_clutter Second 4321
run bounded ssh-add -l
expect_contains "keys are named by CKA_LABEL" "tok-ed25519 (ED25519)" "$OUT"
expect_lacks "the key of the second token is not served (--token)" "second-p256" "$OUT"
expect_contains "the agent logs the token it serves by label and serial" \
	"token '$TOK' (serial $SERIAL)" "$(cat "$TMP/tok.log")"

# Public keys for each type, from the agent's own listing.
K=$TMP/keys
mkdir -p "$K"
bounded ssh-add -L >"$TMP/all.pub"
for name in rsa p256 p384 p521 ed25519; do
	grep " tok-$name\$" "$TMP/all.pub" >"$K/tok-$name.pub" ||
		bail_out "no tok-$name key listed"
done

# ---------------------------------------------------- signing, logins
printf 'signed by a token\n' >"$TMP/msg"
for name in rsa p256 p384 p521 ed25519; do
	run sign_with_agent "$K/tok-$name.pub" "$TMP/msg"
	tap_result "$RC" "ssh-keygen -Y sign with token key $name" ||
		_show_last sign "$name"
	expect_ok "the $name signature verifies" check_sig "$K/tok-$name.pub" "$TMP/msg"
done

start_sshd
authorize "$K"/tok-*.pub
for name in rsa p256 p384 p521 ed25519; do
	run ssh_test -i "$K/tok-$name.pub" kmes-test "echo login-$name"
	expect_eq "ssh login with token key $name" "login-$name" "$OUT" ||
		diag "$ERR"
done
for alg in rsa-sha2-256 rsa-sha2-512; do
	log_mark
	run ssh_test -o "PubkeyAcceptedAlgorithms=$alg" -i "$K/tok-rsa.pub" \
		kmes-test "echo $alg"
	expect_eq "ssh login with the token's RSA key using $alg" "$alg" "$OUT"
	expect_ok "sshd saw the $alg signature algorithm" \
		sshd_logged "pkalg $alg pkblob RSA"
done
stop_pid "$TOK_PID"

# ---------------------------------------------- errors at start-up
printf 'wrong\n' >"$TMP/badpin"
run bounded "$AGENT" -a "$TMP/bad.sock" --pkcs11 "$SOFTHSM_MODULE" \
	--token "$TOK" --pin-fd 3 3<"$TMP/badpin"
expect_eq "a wrong token PIN: exit status 1" 1 "$RC"
expect_contains "a wrong token PIN: the error says so" CKR_PIN_INCORRECT "$ERR"
[ ! -e "$TMP/bad.sock" ] && pass "a wrong token PIN: no socket left" ||
	fail "a wrong token PIN: no socket left"
expect_fail "a wrong token PIN: no agent left behind" \
	pgrep -f -- "-a $TMP/bad[.]sock"

run bounded "$AGENT" -a "$TMP/bad2.sock" --pkcs11 "$SOFTHSM_MODULE" \
	--token "No Such Token" --pin-fd 3 3<"$TMP/pin"
expect_eq "an unknown token: exit status 1" 1 "$RC"
expect_contains "an unknown token: the error names the tokens there are" \
	"'$TOK' (serial $SERIAL)" "$ERR"
[ ! -e "$TMP/bad2.sock" ] && pass "an unknown token: no socket left" ||
	fail "an unknown token: no socket left"

run bounded "$AGENT" -a "$TMP/bad3.sock" --pkcs11 "$TMP/nonexistent.so" \
	--pin-fd 3 3<"$TMP/pin"
expect_eq "a missing module: exit status 1" 1 "$RC"
run bounded "$AGENT" -a "$TMP/bad4.sock" --token "$TOK" --pin-fd 3 3<"$TMP/pin"
expect_eq "--token without --pkcs11 is a usage error" 1 "$RC"

# ------------------------------------------- ssh-add -s / -e, allow-list
start_agent plain
PLAIN_PID=$AGENT_PID
printf '%s\n' "$PIN" >"$TMP/askpass.answer"
make_askpass "$TMP/askpass" "$TMP/askpass.answer" "$TMP/askpass.log"
addcard() {
	SSH_ASKPASS=$TMP/askpass SSH_ASKPASS_REQUIRE=force DISPLAY=:0 \
		bounded ssh-add "$@"
}
run addcard -s "$SOFTHSM_MODULE"
tap_result "$RC" "ssh-add -s adds the token (PIN via askpass)" || _show_last addcard
run bounded ssh-add -l
expect_contains "ssh-add -s: the token's Ed25519 key is listed" "tok-ed25519 (ED25519)" "$OUT"
expect_lacks "ssh-add -s: a token the PIN does not open is skipped" "second-p256" "$OUT"
expect_contains "... and that is logged" "token 'Second': C_Login: CKR_PIN_INCORRECT" \
	"$(cat "$TMP/plain.log")"
run bounded ssh-add -e "$SOFTHSM_MODULE"
printf '4321\n' >"$TMP/askpass.answer"
run addcard -s "$SOFTHSM_MODULE"
tap_result "$RC" "ssh-add -s with the other token's PIN" || _show_last addcard
run bounded ssh-add -l
expect_contains "the second token's key is listed" "second-p256" "$OUT"
expect_contains "a key without a label gets a made-up name" "Second id cc04" "$OUT"
expect_lacks "a lone public key (no private key) is not listed" "clutter-pubonly" "$OUT"
expect_contains "a private key without its public half is skipped, and logged" \
	"key id cc05: no usable public key" "$(cat "$TMP/plain.log")"
expect_eq "cluttered token: exactly its two usable keys are listed" 2 \
	"$(bounded ssh-add -l | grep -c '(ECDSA)')"
run bounded ssh-add -e "$SOFTHSM_MODULE"
printf '%s\n' "$PIN" >"$TMP/askpass.answer"
run addcard -s "$SOFTHSM_MODULE"
run sign_with_agent "$K/tok-ed25519.pub" "$TMP/msg"
expect_ok "a key added with ssh-add -s signs" check_sig "$K/tok-ed25519.pub" "$TMP/msg"
run addcard -s "$SOFTHSM_MODULE"
expect_eq "the same module twice is refused" 1 "$RC"
run bounded ssh-add -e "$SOFTHSM_MODULE"
tap_result "$RC" "ssh-add -e removes the provider" || _show_last ssh-add -e
expect_ok "no token keys are left after ssh-add -e" agent_empty
run bounded ssh-add -e "$SOFTHSM_MODULE"
expect_eq "removing it again fails" 1 "$RC"

printf 'wrong\n' >"$TMP/askpass.answer"
run addcard -s "$SOFTHSM_MODULE"
expect_eq "ssh-add -s with a wrong PIN is refused" 1 "$RC"
expect_ok "nothing is listed after the refused add" agent_empty
printf '%s\n' "$PIN" >"$TMP/askpass.answer"

cp "$SOFTHSM_MODULE" "$TMP/copy.so"
run addcard -s "$TMP/copy.so"
expect_eq "a module outside the allow-list is refused" 1 "$RC"
expect_contains "the refusal is logged" "allow-list" "$(cat "$TMP/plain.log")"
ln -s "$TMP/copy.so" "$TMP/usr-lib-link.so"
run addcard -s "$TMP/usr-lib-link.so"
expect_eq "the allow-list is matched after realpath" 1 "$RC"
stop_pid "$PLAIN_PID"

start_agent allowed -P "$TMP/*,/usr/lib*/*"
run addcard -s "$TMP/copy.so"
tap_result "$RC" "-P lets that module in" || _show_last addcard
run addcard -c -t 60 -s "$SOFTHSM_MODULE"
expect_eq "ssh-add -s with confirm and lifetime constraints is accepted" 0 "$RC"
run bounded ssh-add -e "$TMP/copy.so"
tap_result "$RC" "ssh-add -e of the copy" || _show_last
stop_pid "$AGENT_PID"

# --------------------------------- the store and two tokens at once
STORE=$TMP/store
printf 'storepin\n' >"$TMP/spin"
printf 'sopin1234\n' >"$TMP/sopin"
run bounded "$KEYTOOL" --store "$STORE" --pin-fd 3 --so-pin-fd 4 init \
	--label work --kdf-cost 10 3<"$TMP/spin" 4<"$TMP/sopin"
tap_result "$RC" "a key store for the mixed agent" || _show_last init
run bounded "$KEYTOOL" --store "$STORE" --pin-fd 3 generate -t ed25519 \
	-l store-key 3<"$TMP/spin"
printf '%s\n' "$OUT" >"$K/store-key.pub"
printf 'storepin\n%s\n4321\n' "$PIN" >"$TMP/pins3"
start_token_agent mixed "$TMP/pins3" --store "$STORE" \
	--pkcs11 "$SOFTHSM_MODULE" --token "$TOK" \
	--pkcs11 "$SOFTHSM_MODULE" --token "$SERIAL_2"
run bounded ssh-add -l
expect_contains "mixed: the store key is listed" "store-key" "$OUT"
expect_contains "mixed: the first token's keys are listed" "tok-p256" "$OUT"
expect_contains "mixed: the second token (by serial) is listed" "second-p256" "$OUT"
bounded ssh-add -L >"$TMP/all2.pub"
grep ' second-p256$' "$TMP/all2.pub" >"$K/second.pub"
for k in store-key tok-p384 second; do
	run sign_with_agent "$K/$k.pub" "$TMP/msg"
	expect_ok "mixed: $k signs" check_sig "$K/$k.pub" "$TMP/msg"
done
stop_pid "$AGENT_PID"

# -------------------------------------------------- the fault shim
CTL=$TMP/shim.ctl
: >"$CTL"
AGENT_ENV=(KMES_SHIM_MODULE="$SOFTHSM_MODULE" KMES_SHIM_CTL="$CTL")
start_token_agent shim "$TMP/pin" --pkcs11 "$SHIM_MODULE" --token "$TOK" \
	--pkcs11-timeout 3
SHIM_PID=$AGENT_PID
gen_key ed25519 "$K/added" added-key
run bounded ssh-add "$K/added"
tap_result "$RC" "an ordinary key next to the shim's token" || _show_last

shim_sign() {
	sign_with_agent "$K/tok-$1.pub" "$TMP/msg" && check_sig "$K/tok-$1.pub" "$TMP/msg"
}
expect_ok "through the shim, signing works" shim_sign p256

printf 'C_Sign rv=CKR_SESSION_HANDLE_INVALID once\n' >"$CTL"
expect_ok "a lost session is reopened and the signature still made" shim_sign p256
expect_eq "the shim's one-time fault was used" "" "$(grep -v '^#' "$CTL")"

printf 'C_Sign rv=CKR_USER_NOT_LOGGED_IN once\n' >"$CTL"
expect_ok "a lost login is redone with the kept PIN" shim_sign ed25519

printf 'C_Sign rv=CKR_DEVICE_REMOVED\n' >"$CTL"
expect_fail "a token that keeps failing: the request fails" shim_sign p256
expect_ok "... and the agent is still serving" agent_answers "$SSH_AUTH_SOCK"
: >"$CTL"
expect_ok "... and signs again once the token is back" shim_sign p256

printf 'C_Sign abort\n' >"$CTL"
expect_fail "a module that aborts: the request fails" shim_sign p256
expect_ok "... the agent survives the crash" pid_alive "$SHIM_PID"
expect_ok "... other keys still sign" sign_with_agent "$K/added.pub" "$TMP/msg"
: >"$CTL"
expect_ok "... the next request restarts the helper and signs" shim_sign p256
expect_contains "... the restart is logged" "restarting the PKCS#11 helper" "$(cat "$TMP/shim.log")"

printf 'C_Sign segv\n' >"$CTL"
expect_fail "a module that segfaults: the request fails" shim_sign ed25519
: >"$CTL"
expect_ok "... and the helper comes back" shim_sign ed25519

printf 'C_Sign hang\n' >"$CTL"
start=$SECONDS
( shim_sign p256 >/dev/null 2>&1; echo $? >"$TMP/hang.rc" ) &
hang_pid=$!
# The shim logs (to the agent's log) when the helper enters the hang.
hung() { grep -q 'C_Sign: hang' "$TMP/shim.log"; }
wait_for 10 hung || fail "the module was reached and hangs"
t0=$(date +%s%N)
run sign_with_agent "$K/added.pub" "$TMP/msg"
t1=$(date +%s%N)
tap_result "$RC" "while the module hangs, other keys sign" || _show_last
[ $(( (t1 - t0) / 1000000 )) -lt 1500 ] &&
	pass "... without waiting for the hung module" ||
	fail "... without waiting for the hung module" "took $(( (t1 - t0) / 1000000 )) ms"
run bounded ssh-add -l
expect_contains "... and listing works too" "tok-p256" "$OUT"
wait "$hang_pid"
[ "$(cat "$TMP/hang.rc")" != 0 ] && pass "the hung request fails (deadline 3 s)" ||
	fail "the hung request fails (deadline 3 s)"
[ $((SECONDS - start)) -lt 10 ] && pass "... within the deadline" ||
	fail "... within the deadline" "took $((SECONDS - start)) s"
expect_contains "... and the hang is logged" "did not answer" "$(cat "$TMP/shim.log")"
: >"$CTL"
expect_ok "after the hang, the restarted helper signs" shim_sign p256
stop_pid "$SHIM_PID"
AGENT_ENV=()

printf 'C_Initialize hang\n' >"$CTL"
run env KMES_SHIM_MODULE="$SOFTHSM_MODULE" KMES_SHIM_CTL="$CTL" \
	"$AGENT" -a "$TMP/hang.sock" --pkcs11 "$SHIM_MODULE" --token "$TOK" \
	--pkcs11-timeout 1 --pin-fd 3 3<"$TMP/pin"
expect_eq "a module that hangs at start: exit status 1" 1 "$RC"
expect_contains "... with a clear message" "did not answer within 1 s" "$ERR"
printf 'C_GetSlotList abort\n' >"$CTL"
run env KMES_SHIM_MODULE="$SOFTHSM_MODULE" KMES_SHIM_CTL="$CTL" \
	"$AGENT" -a "$TMP/crash.sock" --pkcs11 "$SHIM_MODULE" --token "$TOK" \
	--pin-fd 3 3<"$TMP/pin"
expect_eq "a module that crashes at start: exit status 1" 1 "$RC"
expect_contains "... with a clear message" "crashed" "$ERR"
# Only this test's helpers count (other agents may run on the machine):
# they are the ones whose environment names this test's shim control file.
our_helpers() {
	local p
	for p in $(pgrep -f -- "--pkcs11-helpe[r]"); do
		tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null |
			grep -Fqx "KMES_SHIM_CTL=$CTL" && echo "$p"
	done
	return 0
}
expect_eq "no helper process is left behind" "" "$(our_helpers)"

done_testing
