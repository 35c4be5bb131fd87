#!/bin/bash
# kmes-agent reading $XDG_CONFIG_HOME/kmes/agent.conf: the store, the PIN at
# start, PKCS#11 tokens, lock-idle, lifetime and the audit log come from the
# file; flags override it; a bad file stops the agent with "file:line" and
# leaves nothing behind; --config and --no-config choose another or none.
#
# Run: AGENT=build/src/kmes-agent KEYTOOL=build/src/keytool/kmes-keytool \
#      KMES=1 bash tests/integration/test-agent-config.sh

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/softhsm.sh"

kmes || bail_out "this test is for kmes-agent (KMES=1)"
[ -n "${KEYTOOL:-}" ] || bail_out "KEYTOOL is not set"

PIN=246813
# The file may say ~/: keep $HOME inside the test directory.
export HOME=$TMP/home
mkdir -p "$HOME"
SOPIN=97531864
CONF_DIR=$XDG_CONFIG_HOME/kmes
CONF=$CONF_DIR/agent.conf
mkdir -p "$CONF_DIR"
# No default store from anyone's home: only what the file or a flag names.
export KMES_STORE=$TMP/no-such-store

# mkstore <dir> <label> <key label>: a store with one ECDSA key; its public
# key line goes to <dir>/key.pub.
mkstore() {
	mkdir -p "$1"
	bounded "$KEYTOOL" --store "$1/keystore" --pin-fd 3 --so-pin-fd 4 \
		init --label "$2" --kdf-cost 10 3<<<"$PIN" 4<<<"$SOPIN" \
		>/dev/null 2>&1 || bail_out "cannot make store $2"
	bounded "$KEYTOOL" --store "$1/keystore" --pin-fd 3 generate -t ecdsa \
		-l "$3" 3<<<"$PIN" >"$1/key.pub" 2>/dev/null ||
		bail_out "cannot make a key in store $2"
}
mkstore "$TMP/s1" first key-one
mkstore "$TMP/s2" second key-two
FP1=$(fingerprint "$TMP/s1/key.pub")
FP2=$(fingerprint "$TMP/s2/key.pub")

# conf <lines...>: writes the config file, mode 0600.
conf() {
	printf '%s\n' "$@" >"$CONF"
	chmod 600 "$CONF"
}

# no_leftovers <name>: the agent that failed left no socket behind.
no_leftovers() {
	expect_eq "$1: no socket is left behind" no \
		"$([ -e "$TMP/$1.sock" ] && echo yes || echo no)"
}

# ------------------------------------------------- the store from the file
conf "# written by the test" "" "store $TMP/s1/keystore" "pin yes"
printf '%s\n' "$PIN" >"$TMP/pin"
AGENT_FD3=$TMP/pin start_agent cfg --pin-fd 3
AGENT_FD3=
expect_ok "the store named by the file is served" agent_has "$FP1"
echo "config test" >"$TMP/msg"
expect_ok "'pin yes' unlocked it at start: a store key signs" \
	sign_with_agent "$TMP/s1/key.pub" "$TMP/msg"
expect_ok "and the signature verifies" check_sig "$TMP/s1/key.pub" "$TMP/msg"
stop_pid "$AGENT_PID"

# 'pin yes' with no way to ask: a clear error, not a daemon without keys.
run bounded "$AGENT" -D -a "$TMP/nopin.sock"
expect_eq "'pin yes' without a terminal, pinentry or askpass fails" 1 \
	"$RC"
expect_contains "and says no PIN could be asked for" "cannot read the PIN" \
	"$ERR"
no_leftovers nopin

# --------------------------------------------------------- flags override
start_agent flag --store "$TMP/s2/keystore" --no-config
expect_ok "--no-config: the file's 'pin yes' is not applied" \
	agent_has "$FP2"
expect_fail "--no-config: the store stays locked" \
	sign_with_agent "$TMP/s2/key.pub" "$TMP/msg"
stop_pid "$AGENT_PID"

conf "store $TMP/s1/keystore"
start_agent override --store "$TMP/s2/keystore"
expect_ok "--store overrides the file's store" agent_has "$FP2"
expect_ok "and the file's store is not served" agent_lacks "$FP1"
stop_pid "$AGENT_PID"

# --config names another file; the default one is then not read.
printf 'store %s\n' "$TMP/s2/keystore" >"$TMP/other.conf"
chmod 600 "$TMP/other.conf"
start_agent other --config "$TMP/other.conf"
expect_ok "--config FILE is read instead of the default" agent_has "$FP2"
expect_ok "and the default file is ignored" agent_lacks "$FP1"
stop_pid "$AGENT_PID"

# ----------------------------------------- lifetime, lock-idle, audit log
conf "store $TMP/s1/keystore" "lifetime 2" "lock-idle = 3" \
	"audit-log ~/audit.jsonl"
gen_key ed25519 "$TMP/added" added-key
ADDED_FP=$(fingerprint "$TMP/added.pub")
AGENT_FD3=$TMP/pin start_agent timed --pin-fd 3 --pin
AGENT_FD3=
run bounded ssh-add "$TMP/added"
tap_result "$RC" "ssh-add a key into the configured agent" ||
	_show_last ssh-add
expect_ok "a store key signs right after the start" \
	sign_with_agent "$TMP/s1/key.pub" "$TMP/msg"
expect_ok "the audit log from the file exists (~/ is \$HOME)" \
	test -s "$HOME/audit.jsonl"
expect_contains "and records the signature" '"result":"ok"' \
	"$(cat "$HOME/audit.jsonl" 2>/dev/null)"
wait_for 10 agent_lacks "$ADDED_FP"
expect_ok "'lifetime 2' from the file expires the ssh-add'ed key" \
	agent_lacks "$ADDED_FP"
# The agent logs the idle lock; wait for that, not for a guessed time.
idle_locked() { grep -q "locked; its keys were wiped" "$TMP/timed.log"; }
wait_for 15 idle_locked
expect_ok "'lock-idle 3' from the file: the agent locked the idle store" \
	idle_locked
expect_fail "and a store key no longer signs without a PIN" \
	sign_with_agent "$TMP/s1/key.pub" "$TMP/msg"
expect_ok "the locked store's key is still listed" agent_has "$FP1"
stop_pid "$AGENT_PID"
rm -f "$HOME/audit.jsonl"

# -t on the command line beats the file's lifetime.
start_agent tflag -t 1h
run bounded ssh-add "$TMP/added"
# A probe key with a 3 s lifetime of its own: once it has gone, more than
# the file's 2 s have passed for the key added without -t.
gen_key ed25519 "$TMP/probe" probe-key
PROBE_FP=$(fingerprint "$TMP/probe.pub")
run bounded ssh-add -t 3 "$TMP/probe"
wait_for 15 agent_lacks "$PROBE_FP"
expect_ok "the probe key expired after its own 3 s" agent_lacks "$PROBE_FP"
expect_ok "-t overrides the file's lifetime" agent_has "$ADDED_FP"
stop_pid "$AGENT_PID"

# ------------------------------------------------------ PKCS#11 from file
softhsm_setup
TOK="Config Token"
TPIN=1234
softhsm_init_token "$TOK" "$TPIN" 5678 >/dev/null || bail_out "no token"
softhsm_keygen "$TOK" "$TPIN" EC:prime256v1 01 tok-p256
conf "pkcs11 $SOFTHSM_MODULE" "token   $TOK  " "pkcs11-timeout 10s"
printf '%s\n' "$TPIN" >"$TMP/tpin"
AGENT_FD3=$TMP/tpin start_agent tok --pin-fd 3
AGENT_FD3=
run bounded ssh-add -L
expect_contains "the file's pkcs11 and token lines serve the token key" \
	"tok-p256" "$OUT"
TOKPUB=$TMP/tok.pub
grep 'tok-p256' <<<"$OUT" >"$TOKPUB"
expect_ok "the token key signs" sign_with_agent "$TOKPUB" "$TMP/msg"
expect_ok "and the signature verifies" check_sig "$TOKPUB" "$TMP/msg"
stop_pid "$AGENT_PID"

conf "pkcs11 $SOFTHSM_MODULE" "token No Such Token"
run bounded "$AGENT" -D -a "$TMP/badtok.sock" --pin-fd 3 3<"$TMP/tpin"
expect_eq "a token the file names that does not exist: exit 1" 1 "$RC"
expect_contains "the message names the token" "No Such Token" "$ERR"
AGENT_FD3=$TMP/tpin start_agent clitok --pin-fd 3 \
	--pkcs11 "$SOFTHSM_MODULE" --token "$TOK"
AGENT_FD3=
expect_contains "--pkcs11 on the command line replaces the file's modules" \
	"tok-p256" "$(bounded ssh-add -L)"
stop_pid "$AGENT_PID"

# ---------------------------------------------------------------- bad files
# bad_conf <name> <expected message> <lines...>
bad_conf() {
	local name=$1 msg=$2
	shift 2
	conf "$@"
	run bounded "$AGENT" -D -a "$TMP/$name.sock"
	expect_eq "$name: the agent refuses to start" 1 "$RC"
	expect_contains "$name: the error says $msg" "$msg" "$ERR"
	no_leftovers "$name"
}
bad_conf unknown "$CONF:3: unknown keyword" "# ok" "store $TMP/s1/keystore" \
	"colour blue"
bad_conf badtime "$CONF:1:" "lock-idle soon"
bad_conf relpath "$CONF:2:" "" "store relative/keystore"
bad_conf orphan-token "$CONF:1:" "token lonely"
bad_conf twice "first on line 1" "store $TMP/s1/keystore" \
	"store $TMP/s2/keystore"
bad_conf badpin "$CONF:1:" "pin 1234"
expect_lacks "a PIN typed after 'pin' is never echoed" "1234" "$ERR"

conf "store $TMP/s1/keystore"
chmod 620 "$CONF"
run bounded "$AGENT" -D -a "$TMP/gw.sock"
expect_eq "a group-writable config file is refused" 1 "$RC"
expect_contains "with the fix in the message" "chmod go-w" "$ERR"
no_leftovers gw
chmod 600 "$CONF"

run bounded "$AGENT" -D -a "$TMP/missing.sock" --config "$TMP/nope.conf"
expect_eq "--config naming a missing file fails" 1 "$RC"
expect_contains "and names the file" "$TMP/nope.conf" "$ERR"

run bounded "$AGENT" -D -a "$TMP/both.sock" --config "$CONF" --no-config
expect_eq "--config with --no-config is a usage error" 1 "$RC"

conf "colour blue"
start_agent nocfg --no-config
expect_ok "--no-config starts despite a bad default file" \
	agent_answers "$TMP/nocfg.sock"
stop_pid "$AGENT_PID"
rm -f "$CONF"
start_agent noconf
expect_ok "no config file at all is fine" agent_answers "$TMP/noconf.sock"
stop_pid "$AGENT_PID"

done_testing
