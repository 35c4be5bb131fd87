#!/bin/bash
# kmes-agent serving the embedded key store: keys made with kmes-keytool are
# listed by ssh-add -l, sign for ssh logins once the PIN is given (--pin-fd,
# --pin on a terminal, ssh-add -X, or the askpass prompt on first use), are
# wiped by ssh-add -x, appear and vanish without a restart, and are not
# removable with ssh-add -d/-D.
#
# Run: AGENT=build/src/kmes-agent KEYTOOL=build/src/keytool/kmes-keytool \
#      bash tests/integration/test-agent-store.sh

. "$(dirname "$0")/lib.sh"

[ -n "${KEYTOOL:-}" ] || bail_out "KEYTOOL is not set"
kmes || bail_out "this test is for kmes-agent (KMES=1)"

. "$(dirname "$0")/store.sh"

store_init work
tap_result "$RC" "kmes-keytool init makes a store" || _show_last init

declare -A PUB
for t in ed25519 ecdsa rsa; do
	run kt_pin generate -t "$t" -l "k-$t"
	tap_result "$RC" "generate $t key in the store" || _show_last generate
	PUB[$t]=$OUT
	printf '%s\n' "$OUT" >"$TMP/k-$t.pub"
done

# --- locked start: public keys listed, signing refused without a prompt
start_agent locked --store "$STORE"
run ssh-add -l
expect_eq "store keys are listed before any PIN (3 keys)" 3 \
	"$(printf '%s\n' "$OUT" | grep -c 'k-')"
expect_contains "the comment is the label" "k-ed25519 (ED25519)" "$OUT"
expect_fail "a locked store key does not sign without a PIN prompt" \
	ssh-add -T "$TMP/k-ed25519.pub"
expect_contains "the agent says how to unlock" "ssh-add -X" \
	"$(cat "$TMP/locked.log")"

# ssh-add -X with the store PIN unlocks it (askpass supplies the "password").
make_askpass "$TMP/askpass" "$TMP/answer" "$TMP/askpass.log"
printf '%s\n' "$PIN" >"$TMP/answer"
run env SSH_ASKPASS="$TMP/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=:0 \
	ssh-add -X
tap_result "$RC" "ssh-add -X with the PIN unlocks the store" ||
	_show_last ssh-add -X
for t in ed25519 ecdsa rsa; do
	expect_ok "unlocked store signs with its $t key (ssh-add -T)" \
		ssh-add -T "$TMP/k-$t.pub"
done

# ssh-add -d / -D do not remove store keys.
run ssh-add -d "$TMP/k-ed25519.pub"
expect_eq "ssh-add -d cannot delete a store key" 1 \
	"$(bounded ssh-add -l | grep -c 'k-ed25519')"
run ssh-add -D
expect_eq "ssh-add -D leaves store keys in place" 3 \
	"$(bounded ssh-add -l | grep -c 'k-')"

# ssh-add -x wipes the store's keys; -X with the lock password unlocks the
# agent but the store stays locked until its PIN is given.
printf 'lockpw\n' >"$TMP/answer"
run env SSH_ASKPASS="$TMP/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=:0 \
	ssh-add -x
tap_result "$RC" "ssh-add -x locks the agent" || _show_last ssh-add -x
expect_contains "locking wipes the store keys (log)" "keys were wiped" \
	"$(cat "$TMP/locked.log")"
run env SSH_ASKPASS="$TMP/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=:0 \
	ssh-add -X
tap_result "$RC" "ssh-add -X with the lock password unlocks the agent" ||
	_show_last ssh-add -X
expect_fail "after a lock, store keys need the PIN again" \
	ssh-add -T "$TMP/k-ed25519.pub"
stop_pid "$AGENT_PID"

# --- first use asks the PIN through askpass (agent environment)
printf '%s\n' "$PIN" >"$TMP/answer"
: >"$TMP/askpass.log"
AGENT_ENV=(SSH_ASKPASS="$TMP/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=:0)
start_agent prompt --store "$STORE"
expect_ok "a locked store key signs after the askpass PIN prompt" \
	ssh-add -T "$TMP/k-ecdsa.pub"
expect_contains "the prompt names the store" \
	"Enter PIN for keystore 'work'" "$(cat "$TMP/askpass.log")"
expect_lacks "a PIN prompt is not a confirm prompt" \
	"SSH_ASKPASS_PROMPT=confirm" "$(cat "$TMP/askpass.log")"
stop_pid "$AGENT_PID"
AGENT_ENV=()

# --- --pin-fd at start: keys sign at once; wrong PIN: no daemon, no socket
start_agent pinfd --store "$STORE" --pin-fd 3 3<<<"$PIN"
expect_ok "--pin-fd unlocks the store at start" ssh-add -T "$TMP/k-rsa.pub"

# Keys generated or deleted while the agent runs appear or vanish.
run kt_pin generate -t ed25519 -l k-late
tap_result "$RC" "generate a key while the agent runs" || _show_last gen
printf '%s\n' "$OUT" >"$TMP/k-late.pub"
expect_contains "the new key is listed without a restart" "k-late" \
	"$(bounded ssh-add -l)"
expect_ok "the new key signs" ssh-add -T "$TMP/k-late.pub"
run kt_pin delete k-late
tap_result "$RC" "delete a key while the agent runs" || _show_last delete
expect_lacks "the deleted key vanishes without a restart" "k-late" \
	"$(bounded ssh-add -l)"

# ssh login to a loopback sshd with every store key.
start_sshd
for t in ed25519 ecdsa rsa; do
	: >"$SSHD_DIR/authorized_keys"
	authorize "$TMP/k-$t.pub"
	run ssh_test -i "$TMP/k-$t.pub" kmes-test echo "store-$t"
	expect_eq "ssh login with the store's $t key" "store-$t" "$OUT" ||
		_show_last ssh
done

# libssh2's agent API logs in with a store key too (Ed25519 and ECDSA:
# libssh2 1.10 asks only for SHA-1 RSA signatures, see test-libssh2.sh).
for t in ed25519 ecdsa; do
	: >"$SSHD_DIR/authorized_keys"
	authorize "$TMP/k-$t.pub"
	run "$LIBSSH2_CLIENT" 127.0.0.1 "$SSHD_PORT" "$(id -un)" \
		"$TMP/known_hosts" "echo l2-store-$t"
	expect_eq "libssh2 logs in with the store's $t key" 0 "$RC" ||
		_show_last libssh2-client
	expect_contains "libssh2 ran the command" "l2-store-$t" "$OUT"
done
stop_pid "$AGENT_PID"

# A key generated with --confirm asks through SSH_ASKPASS on every use.
run kt_pin generate -t ed25519 -l k-confirm --confirm
tap_result "$RC" "generate a --confirm key" || _show_last generate
printf '%s\n' "$OUT" >"$TMP/k-confirm.pub"
: >"$TMP/askpass.log"
AGENT_ENV=(SSH_ASKPASS="$TMP/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=:0)
start_agent confirm --store "$STORE" --pin-fd 3 3<<<"$PIN"
AGENT_ENV=()
printf 'no\n' >"$TMP/answer"
expect_fail "a --confirm store key refused when the user says no" \
	ssh-add -T "$TMP/k-confirm.pub"
printf 'yes\n' >"$TMP/answer"
expect_ok "a --confirm store key signs when the user says yes" \
	ssh-add -T "$TMP/k-confirm.pub"
expect_eq "the user was asked on each use (2 prompts)" 2 \
	"$(grep -c 'SSH_ASKPASS_PROMPT=confirm' "$TMP/askpass.log")"
expect_ok "a key without --confirm signs without asking" \
	ssh-add -T "$TMP/k-ed25519.pub"
expect_eq "and no prompt was shown for it" 2 \
	"$(grep -c 'SSH_ASKPASS_PROMPT=confirm' "$TMP/askpass.log")"
stop_pid "$AGENT_PID"
run kt_pin delete k-confirm

# --audit-log: one JSON object per sign request and unlock attempt, no
# secret in it; it follows logrotate (a moved file is replaced).
AUDIT=$TMP/audit-records.json
start_agent audit --store "$STORE" --audit-log "$AUDIT"
printf '%s\n' "$PIN" >"$TMP/answer"
run env SSH_ASKPASS="$TMP/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=:0 \
	ssh-add -X
tap_result "$RC" "unlock the store (audited)" || _show_last ssh-add -X
expect_ok "sign with a store key (audited)" ssh-add -T "$TMP/k-ed25519.pub"
expect_fail "sign with an unknown key (audited)" \
	ssh-add -T "$SSHD_HOSTKEY"
expect_eq "the audit log is 0600" 600 "$(stat -c %a "$AUDIT")"
# run() gives commands /dev/null as stdin: scripts go in files.
cat >"$TMP/json-lines.py" <<'PY'
import json, sys
for n, line in enumerate(open(sys.argv[1]), 1):
    try:
        json.loads(line)
    except ValueError as e:
        sys.exit("line %d is not JSON (%s): %r" % (n, e, line))
PY
run python3 "$TMP/json-lines.py" "$AUDIT"
tap_result "$RC" "every audit line is a JSON object" || _show_last json-check
cat >"$TMP/audit-check.py" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
unlock = [r for r in recs if r["event"] == "unlock"]
signs = [r for r in recs if r["event"] == "sign"]
ok = [r for r in signs if r["result"] == "ok"]
assert unlock and unlock[0]["target"] == "keystore" and unlock[0]["result"] == "ok", unlock
assert ok and ok[0]["key"] == sys.argv[2] and ok[0]["label"] == "k-ed25519", ok
assert ok[0]["peer"]["uid"] >= 0 and ok[0]["peer"]["pid"] > 0, ok
assert ok[0]["peer"]["exe"].endswith("ssh-add"), ok
assert any(r["result"] == "refused" for r in signs), signs
assert all("time" in r for r in recs)
print("checked %d records" % len(recs))
PY
run python3 "$TMP/audit-check.py" "$AUDIT" \
	"$(ssh-keygen -lf "$TMP/k-ed25519.pub" | cut -d' ' -f2)"
diag "$OUT"
tap_result "$RC" "audit records name the key, label, result and the peer's uid, pid, exe" ||
	_show_last audit-check
expect_lacks "the audit log holds no PIN" "$PIN" "$(cat "$AUDIT")"
mv "$AUDIT" "$AUDIT.1"
expect_ok "sign after logrotate moved the log" ssh-add -T "$TMP/k-ecdsa.pub"
expect_eq "a fresh log was started at the same path" 1 \
	"$(grep -c '"event":"sign"' "$AUDIT" 2>/dev/null)"
# A login through ssh to the loopback sshd records the bound host key.
: >"$SSHD_DIR/authorized_keys"
authorize "$TMP/k-ed25519.pub"
run ssh_test -i "$TMP/k-ed25519.pub" kmes-test true
tap_result "$RC" "ssh login with the audited agent" || _show_last ssh
expect_contains "the audit record names the destination host key" \
	"\"hostkey\":\"$(ssh-keygen -lf "$SSHD_HOSTKEY" | cut -d' ' -f2)\"" \
	"$(cat "$AUDIT")"
stop_pid "$AGENT_PID"

# --lock-idle: store keys are wiped after that long without a signature.
start_agent idle --store "$STORE" --pin-fd 3 --lock-idle 2 3<<<"$PIN"
expect_ok "an unlocked store signs" ssh-add -T "$TMP/k-ed25519.pub"
idle_locked() { grep -q "locking the keystore" "$TMP/idle.log"; }
wait_for 10 idle_locked
expect_contains "after 2 s idle the store is locked" \
	"locking the keystore" "$(cat "$TMP/idle.log")"
expect_fail "and its keys no longer sign without the PIN" \
	ssh-add -T "$TMP/k-ed25519.pub"
expect_contains "its keys are still listed" "k-ed25519" "$(bounded ssh-add -l)"
stop_pid "$AGENT_PID"

run "$AGENT" -D -a "$TMP/bad.sock" --store "$STORE" --pin-fd 3 3<<<"000000"
expect_eq "a wrong PIN makes the agent exit 1" 1 "$RC"
expect_match "it says the PIN was wrong and the tries left" \
	"wrong PIN .*9 tries left" "$ERR"
expect_eq "no socket is left behind" no \
	"$([ -e "$TMP/bad.sock" ] && echo yes || echo no)"

# Daemon mode: -s --pin-fd prints the environment only once unlocked.
run "$AGENT" -s -a "$TMP/d.sock" --store "$STORE" --pin-fd 3 3<<<"$PIN"
tap_result "$RC" "daemon mode with --pin-fd starts" || _show_last agent -s
dpid=$(printf '%s\n' "$OUT" | sed -n 's/^SSH_AGENT_PID=\([0-9]*\);.*/\1/p')
[ -n "$dpid" ] && register_pid "$dpid"
expect_ok "the daemon's store keys sign at once" \
	env SSH_AUTH_SOCK="$TMP/d.sock" ssh-add -T "$TMP/k-ed25519.pub"
[ -n "$dpid" ] && stop_pid "$dpid"
run "$AGENT" -s -a "$TMP/d2.sock" --store "$STORE" --pin-fd 3 3<<<"999999"
expect_eq "daemon mode with a wrong PIN exits 1" 1 "$RC"
expect_lacks "and prints no environment to eval" "SSH_AUTH_SOCK" "$OUT"
expect_eq "and leaves no socket" no \
	"$([ -e "$TMP/d2.sock" ] && echo yes || echo no)"

# --pin on a terminal: the prompt goes to the tty, never to stdout. expect
# types the PIN only once the prompt is shown (the prompt flushes typeahead).
agent_on_tty t 'Enter PIN for keystore .work. \([0-9]+ tries left\): ' \
	"$PIN" --store "$STORE" --pin
tap_result "$RC" "--pin asks on the terminal and the agent starts" ||
	_show_last expect
tpid=$TTY_AGENT_PID
expect_lacks "--pin prompts on the terminal, not on stdout" \
	"Enter PIN" "$(cat "$TMP/t.out")"
expect_contains "stdout holds the environment to eval" "SSH_AUTH_SOCK=" \
	"$(cat "$TMP/t.out")"
expect_ok "--pin from a terminal unlocks the store" \
	env SSH_AUTH_SOCK="$TMP/t.sock" ssh-add -T "$TMP/k-ecdsa.pub"
[ -n "$tpid" ] && stop_pid "$tpid"

done_testing
