#!/bin/bash
# A forwarded connection must not load code (issue 12, item 1; the
# CVE-2023-38408 class). A client whose connection carries a session
# binding -- every agent channel ssh -A opens on the far host -- may not add
# or remove PKCS#11 providers unless the agent was started with
# -O allow-remote-pkcs11; and whatever the client, no file is handed to a
# helper's dlopen() unless it is a regular file owned by root or the user,
# writable by nobody else, and an ELF shared object for this machine.
#
# Proof of "nothing was loaded" is a marker library (tests/support/
# marker-lib.c, no PKCS#11 module) whose constructor appends to
# $KMES_MARKER_FILE; the agent and its helpers inherit that variable. A
# local ssh-add -s of the marker shows the marker does get written when the
# library is loaded, so its absence elsewhere means something.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/softhsm.sh"

kmes || bail_out "this script tests kmes-agent's PKCS#11 policy (KMES=1)"
[ -n "${MARKER_LIB:-}" ] && [ -r "$MARKER_LIB" ] ||
	bail_out "MARKER_LIB must name the built libkmes-marker.so"
[ -n "${AGENT_RAW:-}" ] && [ -x "$AGENT_RAW" ] ||
	bail_out "AGENT_RAW must name the built kmes-agent-raw"
require mkfifo dd xxd

softhsm_setup
TOK=remote
PIN=2468
softhsm_init_token "$TOK" "$PIN" >/dev/null
softhsm_keygen "$TOK" "$PIN" EC:prime256v1 01 tok-p256
MODULE=$(realpath "$SOFTHSM_MODULE")

# The allowed directory holds the marker library; SoftHSM's is allowed too.
MODS=$TMP/mods
mkdir -p "$MODS" "$TMP/outside"
cp "$MARKER_LIB" "$MODS/libmarker.so"
chmod 0755 "$MODS/libmarker.so"
MARKER_SO=$MODS/libmarker.so
ALLOW="$MODS/*,$(dirname "$MODULE")/*"
export KMES_MARKER_FILE=$TMP/marker.loaded

gen_key ed25519 "$TMP/hostkey" kmes-test-host
printf '%s\n' "$PIN" >"$TMP/askpass.answer"
make_askpass "$TMP/askpass" "$TMP/askpass.answer" "$TMP/askpass.log"

# raw <bind: none|auth|fwd> <add|add-constrained|remove> <module> [pin]:
# one connection to $SSH_AUTH_SOCK, bound (or not), then the request.
raw() {
	bounded "$AGENT_RAW" "$SSH_AUTH_SOCK" "$1" "$TMP/hostkey" "$2" "$3" \
		${4+"$4"}
}

# addcard <ssh-add args...>: ssh-add with the PIN from askpass.
addcard() {
	SSH_ASKPASS=$TMP/askpass SSH_ASKPASS_REQUIRE=force DISPLAY=:0 \
		bounded ssh-add "$@"
}

no_marker() { [ ! -e "$KMES_MARKER_FILE" ]; }

# helpers_started <log>: how many helper processes the agent started.
helpers_started() {
	grep -c "started a PKCS#11 helper" "$1"
}

# audit_has <audit log> <op> <module> <result>: a pkcs11-provider record.
audit_has() {
	grep -F '"event":"pkcs11-provider"' "$1" | grep -F "\"op\":\"$2\"" |
		grep -F "\"module\":\"$3\"" | grep -Fq "\"result\":\"$4\""
}

skip() {
	pass "$1 # SKIP $2"
}

TOKEN_FP=$(softhsm_ssh_pubkey "$TOK" "$PIN" 01 >"$TMP/tok.pub" &&
	fingerprint "$TMP/tok.pub") || bail_out "no public key for the token key"

# ------------------------------------------------ a session-bound client
start_agent a -P "$ALLOW" --pkcs11-timeout 5 --audit-log "$TMP/a-audit.log"
A_PID=$AGENT_PID
A_LOG=$TMP/a.log

# Controls: the raw client's add and remove work on an unbound connection.
run raw none add "$MODULE" "$PIN"
expect_eq "control: an unbound raw client adds the SoftHSM module" \
	"add: SUCCESS" "$OUT" || _show_last raw none add
expect_ok "control: the token's key is listed" agent_has "$TOKEN_FP"
expect_eq "control: the agent logged starting exactly one helper" 1 \
	"$(helpers_started "$A_LOG")"

# bound <fwd|auth>: how the raw client binds, in words.
bound() {
	[ "$1" = fwd ] && echo "forwarding-bound" || echo "authentication-bound"
}

for bind in fwd auth; do
	run raw "$bind" remove "$MODULE"
	expect_eq "remove from a $(bound $bind) connection: bind accepted, remove FAILURE" \
		"bind: SUCCESS
remove: FAILURE" "$OUT" || _show_last raw "$bind" remove
	expect_ok "remove from a $(bound $bind) connection: the token's key stays" \
		agent_has "$TOKEN_FP"
done
expect_contains "a refused remove is logged" \
	"refusing to remove PKCS#11 provider \"$MODULE\" for a connection with a session binding" \
	"$(cat "$A_LOG")"
expect_ok "a refused remove is in the audit log" \
	audit_has "$TMP/a-audit.log" remove "$MODULE" refused

run raw none remove "$MODULE"
expect_eq "control: an unbound raw client removes the provider" \
	"remove: SUCCESS" "$OUT" || _show_last raw none remove
expect_ok "control: the token's key is gone" agent_lacks "$TOKEN_FP"

# The attack: bound connections ask for the marker library and for the
# real module with the right PIN.
run raw fwd add "$MODULE" "$PIN"
expect_eq "add of the SoftHSM module from a forwarded-bound connection: FAILURE" \
	"bind: SUCCESS
add: FAILURE" "$OUT" || _show_last raw fwd add
expect_ok "... and the token's key is not listed" agent_lacks "$TOKEN_FP"
for bind in fwd auth; do
	for op in add add-constrained; do
		run raw "$bind" "$op" "$MARKER_SO" "$PIN"
		expect_eq "$op of the marker library from a $(bound $bind) connection: FAILURE" \
			"bind: SUCCESS
add: FAILURE" "$OUT" || _show_last raw "$bind" "$op"
	done
done
expect_ok "no bound request loaded the marker library" no_marker
expect_eq "no bound request started a helper" 1 "$(helpers_started "$A_LOG")"
expect_contains "a refused add is logged with the module and the opt-in" \
	"refusing to add PKCS#11 provider \"$MARKER_SO\" for a connection with a session binding (uid $(id -u)" \
	"$(cat "$A_LOG")"
expect_contains "... and the opt-in is named" "-O allow-remote-pkcs11 allows it" \
	"$(cat "$A_LOG")"
expect_ok "a refused add is in the audit log" \
	audit_has "$TMP/a-audit.log" add "$MARKER_SO" refused
expect_eq "every refused add has its audit record" 5 \
	"$(grep -F '"op":"add"' "$TMP/a-audit.log" | grep -c '"result":"refused"')"
expect_no_match "a refused add never reaches the token (no C_Login)" \
	"C_Login|PIN_INCORRECT" "$(cat "$A_LOG")"

# The refused name is the peer's: it must not forge log lines or records.
run raw fwd add "$MODS/evil
{\"time\":\"forged\"}" "$PIN"
expect_eq "a bound add with a newline in the name: FAILURE" "bind: SUCCESS
add: FAILURE" "$OUT"
expect_eq "... the audit log stays one record per line" "" \
	"$(grep -v '^{"time":"[0-9T:.-]*Z","event":.*}$' "$TMP/a-audit.log")"
expect_no_match "... and the log has no line the peer wrote" '^\{"time":"forged"' \
	"$(cat "$A_LOG")"

# ------------------------------------------ local clients: the file checks
# The user's own ssh-add -s of a shared object in the allow-list is loaded
# (as with OpenSSH's ssh-agent: the user chose it) -- and the marker shows.
run addcard -s "$MARKER_SO"
[ "$RC" -ne 0 ] && [ "$RC" -ne 124 ]
tap_result $? "local ssh-add -s of the marker library fails (no PKCS#11 module)" ||
	_show_last addcard -s "$MARKER_SO"
expect_contains "... because it is no PKCS#11 module" \
	"$MARKER_SO is not a PKCS#11 module (no C_GetFunctionList)" "$(cat "$A_LOG")"
expect_ok "control: the marker shows that the helper loaded it" \
	test -s "$KMES_MARKER_FILE"
rm -f "$KMES_MARKER_FILE"
HELPERS=$(helpers_started "$A_LOG")

# refused_locally <description> <path> <log text>: ssh-add -s of path
# fails, the log gives the reason, and no helper is started for it.
refused_locally() {
	local n
	run addcard -s "$2"
	if [ "$RC" -ne 0 ] && [ "$RC" -ne 124 ]; then
		pass "$1: refused"
	else
		fail "$1: refused"
		_show_last addcard -s "$2"
	fi
	expect_contains "$1: the log says why" "$3" "$(cat "$A_LOG")"
	n=$(helpers_started "$A_LOG")
	expect_eq "$1: no helper started" "$HELPERS" "$n"
	HELPERS=$n
}

printf 'not a library\n' >"$MODS/libtext.so"
chmod 0644 "$MODS/libtext.so"
refused_locally "a text file" "$MODS/libtext.so" "$MODS/libtext.so: not loaded: not an ELF file"

cp "$MARKER_SO" "$MODS/libgw.so"
chmod 0775 "$MODS/libgw.so"
refused_locally "a group-writable library" "$MODS/libgw.so" \
	"not loaded: writable by group or others (mode 0775)"
cp "$MARKER_SO" "$MODS/libow.so"
chmod 0757 "$MODS/libow.so"
refused_locally "a world-writable library" "$MODS/libow.so" \
	"not loaded: writable by group or others (mode 0757)"

if [ "$(id -u)" -eq 0 ]; then
	cp "$MARKER_SO" "$MODS/libnobody.so"
	chmod 0755 "$MODS/libnobody.so"
	chown nobody "$MODS/libnobody.so"
	refused_locally "a library owned by another user" "$MODS/libnobody.so" \
		"not loaded: owned by uid $(id -u nobody), not by root or uid 0"
else
	skip "a library owned by another user is refused" \
		"needs root to give a file to another user"
fi

cp "$MARKER_SO" "$TMP/outside/libmarker.so"
ln -s "$TMP/outside/libmarker.so" "$MODS/libescape.so"
refused_locally "a symlink out of the allowed directory" "$MODS/libescape.so" \
	"refusing PKCS#11 provider \"$TMP/outside/libmarker.so\": not allowed by the allow-list (-P)"

mkfifo "$MODS/libfifo.so"
refused_locally "a FIFO" "$MODS/libfifo.so" \
	"$MODS/libfifo.so: not loaded: not a regular file"
mkdir "$MODS/libdir.so"
refused_locally "a directory" "$MODS/libdir.so" \
	"$MODS/libdir.so: not loaded: not a regular file"

# ELF, but not a shared object (ET_REL), or for another machine.
cp "$MARKER_SO" "$MODS/librel.so"
printf '\001\000' | dd of="$MODS/librel.so" bs=1 seek=16 conv=notrunc status=none
refused_locally "an ELF relocatable object" "$MODS/librel.so" \
	"not loaded: not a shared object (ELF type 1)"
cp "$MARKER_SO" "$MODS/libarch.so"
if [ "$(xxd -s 18 -l 1 -p "$MODS/libarch.so")" = b7 ]; then
	printf '\076' # EM_X86_64
else
	printf '\267' # EM_AARCH64
fi | dd of="$MODS/libarch.so" bs=1 seek=18 conv=notrunc status=none
refused_locally "an ELF library for another machine" "$MODS/libarch.so" \
	"not loaded: an ELF file for another machine"
expect_ok "none of the refused files was loaded" no_marker
stop_pid "$A_PID"

# ------------------------------------------------------------ -O options
run bounded "$AGENT" -D -a "$TMP/o.sock" -O no-such-option
expect_eq "an unknown -O option: exit status 1" 1 "$RC"
expect_contains "... and it is named" 'unknown -O option "no-such-option"' "$ERR"
run bounded "$AGENT" -D -a "$TMP/o.sock" -O no-restrict-websafe
expect_eq "ssh-agent's -O no-restrict-websafe (no FIDO here): exit status 1" 1 "$RC"

# ------------------------------------------------ the opt-in, both ways
start_agent b -O allow-remote-pkcs11 -P "$ALLOW" --audit-log "$TMP/b-audit.log"
run raw fwd add "$MODULE" "$PIN"
expect_eq "with -O allow-remote-pkcs11 a forwarded-bound add succeeds" \
	"bind: SUCCESS
add: SUCCESS" "$OUT" || _show_last raw fwd add
expect_ok "... and the token's key is listed" agent_has "$TOKEN_FP"
expect_contains "... and the opt-in is logged" "allowed by -O allow-remote-pkcs11" \
	"$(cat "$TMP/b.log")"
expect_ok "... and audited" audit_has "$TMP/b-audit.log" add "$MODULE" ok
run raw fwd remove "$MODULE"
expect_eq "with -O allow-remote-pkcs11 a forwarded-bound remove succeeds" \
	"bind: SUCCESS
remove: SUCCESS" "$OUT" || _show_last raw fwd remove
stop_pid "$AGENT_PID"

mkdir -p "$XDG_CONFIG_HOME/kmes"
printf 'allow-remote-pkcs11 yes\nallowed-providers %s\n' "$ALLOW" \
	>"$XDG_CONFIG_HOME/kmes/agent.conf"
start_agent c
run raw fwd add "$MODULE" "$PIN"
expect_eq "allow-remote-pkcs11 yes in agent.conf opts in as -O does" \
	"bind: SUCCESS
add: SUCCESS" "$OUT" || _show_last raw fwd add
stop_pid "$AGENT_PID"
rm -f "$XDG_CONFIG_HOME/kmes/agent.conf"

# ------------------------------------------------------- real ssh -A
start_sshd
gen_key ed25519 "$TMP/user" kmes-user
authorize "$TMP/user.pub"
REMOTE_ENV="SSH_ASKPASS=$TMP/askpass SSH_ASKPASS_REQUIRE=force DISPLAY=:0"

# remote_add <module>: over ssh -A, the far side runs ssh-add -s against
# the forwarded socket (and says which socket that was).
remote_add() {
	run ssh_test -A -i "$TMP/user.pub" kmes-test \
		"echo sock=\$SSH_AUTH_SOCK; $REMOTE_ENV ssh-add -s '$1'"
}

start_agent d -P "$ALLOW" --audit-log "$TMP/d-audit.log"
expect_ok "ssh -A: the login key is in the agent" bounded ssh-add "$TMP/user"
# ssh exits with the far side's status: 1 is ssh-add's refusal; 255
# would be ssh failing to log in, and 124 a hang.
remote_add "$MARKER_SO"
expect_eq "ssh -A: the far side's ssh-add -s of the marker library fails" 1 "$RC" ||
	_show_last remote_add "$MARKER_SO"
REMOTE_SOCK=${OUT#sock=}
case $REMOTE_SOCK in
/*) [ "$REMOTE_SOCK" != "$SSH_AUTH_SOCK" ] ;;
*) false ;;
esac
tap_result $? "ssh -A: the far side used a forwarded socket ($REMOTE_SOCK)"
expect_ok "ssh -A: the marker library was not loaded" no_marker
remote_add "$SOFTHSM_MODULE"
expect_eq "ssh -A: the far side's ssh-add -s of SoftHSM fails" 1 "$RC" ||
	_show_last remote_add "$SOFTHSM_MODULE"
expect_ok "ssh -A: the token's key is not listed" agent_lacks "$TOKEN_FP"
expect_eq "ssh -A: no helper was started" 0 "$(helpers_started "$TMP/d.log")"
expect_contains "ssh -A: the refusal is logged" \
	"refusing to add PKCS#11 provider \"$MARKER_SO\" for a connection with a session binding" \
	"$(cat "$TMP/d.log")"
expect_ok "ssh -A: the refusal is audited" \
	audit_has "$TMP/d-audit.log" add "$SOFTHSM_MODULE" refused
stop_pid "$AGENT_PID"

start_agent e -O allow-remote-pkcs11 -P "$ALLOW"
bounded ssh-add "$TMP/user" 2>/dev/null || bail_out "cannot add the login key"
remote_add "$SOFTHSM_MODULE"
expect_eq "ssh -A with -O allow-remote-pkcs11: the far side's ssh-add -s succeeds" 0 "$RC" ||
	_show_last remote_add
expect_ok "ssh -A with -O allow-remote-pkcs11: the token's key is listed here" \
	agent_has "$TOKEN_FP"
stop_pid "$AGENT_PID"
expect_ok "nothing loaded the marker library after the local ssh-add's control" no_marker

done_testing
