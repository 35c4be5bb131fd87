#!/bin/bash
# Socket activation as kmes-agent.socket does it: systemd-socket-activate
# holds a listening socket and execs the agent on the first connection with
# the socket on descriptor 3, LISTEN_FDS=1 and LISTEN_PID set to the
# agent's own pid.  The agent serves that socket (store keys, added keys,
# signatures, several clients), never unlinks it, and keeps LISTEN_* from
# its children.  A hand-over it cannot trust (descriptor 3 not a listening
# Unix stream socket, LISTEN_FDS other than 1, together with -a) is an
# error with exit status 1, never a hang; LISTEN_* meant for another
# process is ignored.  --print-socket names the socket unit's path.
#
# Run: AGENT=build/src/kmes-agent KEYTOOL=build/src/keytool/kmes-keytool \
#      bash tests/integration/test-socket-activation.sh

. "$(dirname "$0")/lib.sh"

[ -n "${KEYTOOL:-}" ] || bail_out "KEYTOOL is not set"
kmes || bail_out "this test is for kmes-agent (KMES=1)"
require systemd-socket-activate python3

AGENT_REAL=$(readlink -f "$AGENT")
STORE=$TMP/store/keystore
PIN=246813
SOPIN=97531864
mkdir -p "$TMP/home" "$XDG_CONFIG_HOME"

# ------------------------------------------------------------ the fixtures
run "$KEYTOOL" --store "$STORE" --pin-fd 3 --so-pin-fd 4 init \
	--label sa --kdf-cost 10 3<<<"$PIN" 4<<<"$SOPIN"
[ "$RC" -eq 0 ] || { _show_last kmes-keytool init; bail_out "cannot make a store"; }
run "$KEYTOOL" --store "$STORE" --pin-fd 3 generate -t ed25519 \
	-l sa-ed25519 3<<<"$PIN"
[ "$RC" -eq 0 ] || { _show_last kmes-keytool generate; bail_out "cannot make a store key"; }
printf '%s\n' "$OUT" >"$TMP/store-ed25519.pub"
STORE_FP=$(fingerprint "$TMP/store-ed25519.pub")
gen_key ecdsa-256 "$TMP/added" sa-added
ADDED_FP=$(fingerprint "$TMP/added.pub")
printf 'signed through an activated agent\n' >"$TMP/msg"

# The agent's own askpass (store PIN on first use): records which LISTEN_*
# variables and which sockets a child of the agent inherits, then answers
# with the PIN.
cat >"$TMP/askpass" <<EOF
#!/bin/sh
env | grep '^LISTEN_' >>'$TMP/askpass.env'
echo ran >>'$TMP/askpass.env'
for f in /proc/\$\$/fd/*; do readlink "\$f"; done >'$TMP/askpass.fds'
printf '%s\n' '$PIN'
EOF
chmod 0700 "$TMP/askpass"

# A launcher that hands sockets over the way a service manager does:
# listen-exec <kind> <path> <self|other> <LISTEN_FDS> <program> [args...]
# puts the socket(s) of <kind> on descriptors 3.., sets LISTEN_PID to its
# own pid (which the exec keeps) or its parent's, and execs the program.
cat >"$TMP/listen-exec" <<'EOF'
import fcntl, os, socket, sys

kind, path, pidmode, nfds = sys.argv[1:5]
argv = sys.argv[5:]
socks = []
if kind in ("unix", "unix-nolisten", "two"):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    if kind != "unix-nolisten":
        s.listen(16)
    socks.append(s)
    if kind == "two":
        t = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        t.bind(path + "2")
        t.listen(16)
        socks.append(t)
elif kind == "dgram":
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    socks.append(s)
elif kind == "tcp":
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    socks.append(s)
else:
    sys.exit("unknown kind " + kind)
# Move every socket above the target range first, so that placing one on
# descriptor 3 never overwrites another still to be placed.
high = [fcntl.fcntl(s.fileno(), fcntl.F_DUPFD_CLOEXEC, 20) for s in socks]
for s in socks:
    s.close()
for i, fd in enumerate(high):
    os.dup2(fd, 3 + i)
    os.set_inheritable(3 + i, True)
    os.close(fd)
env = dict(os.environ)
env["LISTEN_PID"] = str(os.getpid() if pidmode == "self" else os.getppid())
env["LISTEN_FDS"] = nfds
os.execve(argv[0], argv, env)
EOF

# The activator passes on only PATH, HOME, TERM and what -E names.
ACT_ENV=(-E HOME="$TMP/home" -E XDG_CONFIG_HOME="$XDG_CONFIG_HOME"
	-E SSH_ASKPASS="$TMP/askpass" -E SSH_ASKPASS_REQUIRE=force -E DISPLAY=:0)

is_agent() {
	pid_alive "$1" && [ "$(readlink -f "/proc/$1/exe")" = "$AGENT_REAL" ]
}
sock_exists() { [ -S "$1" ]; }

# ------------------------------------------- activation on first connect
SOCK=$TMP/sa.sock
systemd-socket-activate -l "$SOCK" "${ACT_ENV[@]}" -- \
	"$AGENT" -D --store "$STORE" >"$TMP/activated.log" 2>&1 </dev/null &
ACT_PID=$!
register_pid "$ACT_PID"
if ! wait_for 15 sock_exists "$SOCK"; then
	diag_file "$TMP/activated.log"
	bail_out "systemd-socket-activate did not create $SOCK"
fi
if is_agent "$ACT_PID"; then
	fail "the agent is not started before the first connection"
else
	pass "the agent is not started before the first connection"
fi

export SSH_AUTH_SOCK=$SOCK
run ssh-add -l
expect_eq "the first ssh-add -l activates the agent and gets the key list" 0 "$RC"
expect_contains "the activated agent lists the store key (label as comment)" \
	"$STORE_FP sa-ed25519" "$OUT"
if is_agent "$ACT_PID"; then
	pass "the activated process is the agent, with the pid LISTEN_PID named"
else
	fail "the activated process is the agent, with the pid LISTEN_PID named"
	diag_file "$TMP/activated.log"
fi

expect_ok "ssh-add adds a key through the activated socket" ssh-add -q "$TMP/added"
expect_ok "the added key is listed" agent_has "$ADDED_FP"
if sign_with_agent "$TMP/added.pub" "$TMP/msg" >/dev/null 2>&1 &&
	check_sig "$TMP/added.pub" "$TMP/msg" >/dev/null 2>&1; then
	pass "ssh-keygen -Y sign through the activated agent verifies"
else
	fail "ssh-keygen -Y sign through the activated agent verifies"
fi

: >"$TMP/askpass.env"
if sign_with_agent "$TMP/store-ed25519.pub" "$TMP/msg" >/dev/null 2>&1 &&
	check_sig "$TMP/store-ed25519.pub" "$TMP/msg" >/dev/null 2>&1; then
	pass "a store key signs after the askpass PIN prompt (activated agent)"
else
	fail "a store key signs after the askpass PIN prompt (activated agent)"
	diag_file "$TMP/activated.log"
fi
expect_contains "the agent ran its askpass child" ran "$(cat "$TMP/askpass.env")"
expect_eq "the agent's children see no LISTEN_* variables" "ran" \
	"$(cat "$TMP/askpass.env")"
# ss shows a listening Unix socket's inode after its path.
inode=$(ss -xlnH 2>/dev/null | awk -v p="$SOCK" '$5 == p { print $6 }')
if [ -n "$inode" ] && [ -s "$TMP/askpass.fds" ]; then
	expect_lacks "the agent's children do not inherit the listening socket" \
		"socket:[$inode]" "$(cat "$TMP/askpass.fds" 2>&1)"
else
	fail "the agent's children do not inherit the listening socket" \
		"ss does not show $SOCK listening, or the askpass listed nothing"
fi

if [ -S "$SOCK" ]; then
	pass "the socket file keeps existing while the agent serves"
else
	fail "the socket file keeps existing while the agent serves"
fi
# Two clients at once, then one more after they are done.
(SSH_AUTH_SOCK=$SOCK bounded ssh-add -l >"$TMP/c1" 2>&1) &
c1=$!
(SSH_AUTH_SOCK=$SOCK bounded ssh-add -l >"$TMP/c2" 2>&1) &
c2=$!
wait "$c1"
r1=$?
wait "$c2"
r2=$?
expect_eq "two concurrent clients are both served" "0 0" "$r1 $r2"
expect_eq "each of them sees the added key" 2 \
	"$(cat "$TMP/c1" "$TMP/c2" | grep -c -- "$ADDED_FP")"
run ssh-add -l
expect_contains "a later client is still served" "$ADDED_FP" "$OUT"
if is_agent "$ACT_PID"; then
	pass "the one activated agent process serves every connection"
else
	fail "the one activated agent process serves every connection"
fi

kill -TERM "$ACT_PID" 2>/dev/null
if wait_pid_gone "$ACT_PID" 15; then
	pass "SIGTERM stops the activated agent"
else
	fail "SIGTERM stops the activated agent"
fi
wait "$ACT_PID" 2>/dev/null
if [ -S "$SOCK" ]; then
	pass "the agent leaves the activator's socket file in place at exit"
else
	fail "the agent leaves the activator's socket file in place at exit"
fi
unset SSH_AUTH_SOCK

# --------------------------------------------- hand-overs to be refused
XRT=$TMP/xrt
mkdir -p "$XRT"
chmod 0700 "$XRT"

# refused <description> <cmd...>: exit status 1 within the time limit, a
# "kmes-agent: socket activation: ..." message, and no socket of its own.
refused() {
	local desc=$1
	shift
	run env XDG_RUNTIME_DIR="$XRT" "$@"
	expect_eq "$desc: exit status 1, no hang" 1 "$RC" || _show_last "$@"
	expect_match "$desc: says so (kmes-agent: socket activation: ...)" \
		'^kmes-agent: socket activation: .+' "$ERR"
	expect_eq "$desc: no socket of its own" "" \
		"$(find "$XRT" -mindepth 1 2>/dev/null)"
	rm -rf "${XRT:?}"/* "$TMP/h.sock" "$TMP/h.sock2"
}

# The inner shell's own pid, which its exec keeps, is LISTEN_PID.
# shellcheck disable=SC2016
refused "descriptor 3 is /dev/null" \
	bash -c 'exec 3</dev/null; LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" -D' "$AGENT"
# shellcheck disable=SC2016
refused "descriptor 3 is closed" \
	bash -c 'exec 3<&-; LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" -D' "$AGENT"
refused "descriptor 3 is a Unix socket that is not listening" \
	python3 "$TMP/listen-exec" unix-nolisten "$TMP/h.sock" self 1 "$AGENT" -D
refused "descriptor 3 is a datagram socket" \
	python3 "$TMP/listen-exec" dgram "$TMP/h.sock" self 1 "$AGENT" -D
refused "descriptor 3 is a TCP socket" \
	python3 "$TMP/listen-exec" tcp "$TMP/h.sock" self 1 "$AGENT" -D
refused "LISTEN_FDS=2" \
	python3 "$TMP/listen-exec" two "$TMP/h.sock" self 2 "$AGENT" -D
refused "LISTEN_FDS=0" \
	python3 "$TMP/listen-exec" unix "$TMP/h.sock" self 0 "$AGENT" -D

run env XDG_RUNTIME_DIR="$XRT" python3 "$TMP/listen-exec" unix "$TMP/h.sock" \
	self 1 "$AGENT" -D -a "$TMP/own.sock"
expect_eq "-a with socket activation: exit status 1, no hang" 1 "$RC" ||
	_show_last "-a with socket activation"
expect_match "-a with socket activation: an error message" '^kmes-agent: .+' "$ERR"
expect_eq "-a with socket activation: the -a path is not created" no \
	"$([ -e "$TMP/own.sock" ] && echo yes || echo no)"
rm -f "$TMP/h.sock"

# ------------------------------ LISTEN_PID naming another process: ignored
started() { grep -q '^SSH_AUTH_SOCK=' "$1"; }
env XDG_RUNTIME_DIR="$XRT" python3 "$TMP/listen-exec" unix "$TMP/h.sock" other 1 \
	"$AGENT" -D -s >"$TMP/other.log" 2>&1 </dev/null &
other_pid=$!
register_pid "$other_pid"
if wait_for 15 started "$TMP/other.log"; then
	pass "LISTEN_PID of another process: the agent starts as usual and prints SSH_AUTH_SOCK"
else
	fail "LISTEN_PID of another process: the agent starts as usual and prints SSH_AUTH_SOCK"
	diag_file "$TMP/other.log"
fi
own=$(sed -n 's/^SSH_AUTH_SOCK=\(.*\); export SSH_AUTH_SOCK;$/\1/p' "$TMP/other.log")
case $own in
"$XRT"/*) pass "LISTEN_PID of another process: its own socket is under XDG_RUNTIME_DIR" ;;
*) fail "LISTEN_PID of another process: its own socket is under XDG_RUNTIME_DIR" \
	"announced: ${own:-nothing}" ;;
esac
expect_ok "LISTEN_PID of another process: ssh-add reaches it on its own socket" \
	agent_answers "${own:-/nonexistent}"
stop_pid "$other_pid"
rm -rf "${XRT:?}"/* "$TMP/h.sock"

# ----------------------------------------------------------- --print-socket
run env XDG_RUNTIME_DIR="$XRT" "$AGENT" --print-socket
expect_eq "--print-socket names \$XDG_RUNTIME_DIR/kmes-agent/socket" \
	"0 $XRT/kmes-agent/socket" "$RC $OUT"
expect_eq "--print-socket writes nothing to stderr" "" "$ERR"
expect_eq "--print-socket creates nothing" "" "$(find "$XRT" -mindepth 1)"
run env -u XDG_RUNTIME_DIR "$AGENT" --print-socket
expect_eq "--print-socket without XDG_RUNTIME_DIR names /run/user/UID/kmes-agent/socket" \
	"0 /run/user/$(id -u)/kmes-agent/socket" "$RC $OUT"

done_testing
