#!/bin/bash
# The agent's command line as scripts and shells use it: -s/-c output and
# eval, -k, command mode, -a on an existing path, signals, the default
# socket location, -t default lifetime, bad options, and peers of another
# uid.
#
# Run: AGENT=/usr/bin/ssh-agent bash tests/integration/test-cli.sh

. "$(dirname "$0")/lib.sh"

K=$TMP/keys
mkdir -p "$K"
gen_key ed25519 "$K/ed25519" cli-ed25519
gen_key ecdsa-256 "$K/ecdsa" cli-ecdsa
ED_FP=$(fingerprint "$K/ed25519.pub")
EC_FP=$(fingerprint "$K/ecdsa.pub")
AGENT_REAL=$(readlink -f "$AGENT")

# is_agent <pid>: that process is running the agent program under test.
is_agent() {
	pid_alive "$1" && [ "$(readlink -f "/proc/$1/exe")" = "$AGENT_REAL" ]
}

sock_gone() { [ ! -e "$1" ]; }

# mode_of <path>: permission bits in octal, e.g. 600.
mode_of() {
	stat -c %a "$1"
}

# ------------------------------------------------------------ -s and eval
S1=$TMP/s.sock
run "$AGENT" -s -a "$S1"
s_out=$OUT
s_rc=$RC
s_pid=$(printf '%s\n' "$s_out" | sed -n 's/^SSH_AGENT_PID=\([0-9][0-9]*\); export SSH_AGENT_PID;$/\1/p')
[ -n "$s_pid" ] && register_pid "$s_pid"
expect_eq "-s: the parent exits 0 once the agent is ready" 0 "$s_rc"
expect_eq "-s prints exactly the three Bourne-shell lines" \
	"SSH_AUTH_SOCK=$S1; export SSH_AUTH_SOCK;
SSH_AGENT_PID=${s_pid:-?}; export SSH_AGENT_PID;
echo Agent pid ${s_pid:-?};" "$s_out"
expect_eq "-s writes nothing to stderr" "" "$ERR"
if [ -n "$s_pid" ] && is_agent "$s_pid"; then
	pass "SSH_AGENT_PID names a running agent process"
else
	fail "SSH_AGENT_PID names a running agent process" "pid: ${s_pid:-none}"
fi
expect_eq "the -a socket is created mode 0600" 600 "$(mode_of "$S1" 2>&1)"

run sh -c "eval \"\$1\" >/dev/null; ssh-add -l" sh "$s_out"
expect_eq "after eval of -s output ssh-add -l reaches the agent (exit 1: no keys)" 1 "$RC"
expect_eq "after eval ssh-add -l says the agent has no identities" \
	"The agent has no identities." "$OUT"
run sh -c "eval \"\$1\" >/dev/null; ssh-add -q \"\$2\" && ssh-add -l" sh "$s_out" "$K/ed25519"
expect_contains "a key added after eval is listed by the same agent" "$ED_FP" "$OUT"

# -------------------------------------------------------------------- -k
run env SSH_AGENT_PID="${s_pid:-0}" SSH_AUTH_SOCK="$S1" "$AGENT" -k
expect_eq "-k exits 0" 0 "$RC"
expect_eq "-k prints the Bourne-shell unset lines" \
	"unset SSH_AUTH_SOCK;
unset SSH_AGENT_PID;
echo Agent pid ${s_pid:-?} killed;" "$OUT"
if [ -n "$s_pid" ] && wait_pid_gone "$s_pid" 15; then
	pass "-k kills the agent named by SSH_AGENT_PID"
else
	fail "-k kills the agent named by SSH_AGENT_PID"
fi
if wait_for 10 sock_gone "$S1"; then
	pass "the socket is removed when the agent is killed by -k"
else
	fail "the socket is removed when the agent is killed by -k"
fi

run env -u SSH_AGENT_PID "$AGENT" -k
expect_eq "-k without SSH_AGENT_PID exits 1" 1 "$RC"
expect_eq "-k without SSH_AGENT_PID prints no shell commands" "" "$OUT"

# -------------------------------------------------------------- -c (csh)
S2=$TMP/c.sock
run "$AGENT" -c -a "$S2"
c_out=$OUT
c_pid=$(printf '%s\n' "$c_out" | sed -n 's/^setenv SSH_AGENT_PID \([0-9][0-9]*\);$/\1/p')
[ -n "$c_pid" ] && register_pid "$c_pid"
expect_eq "-c prints exactly the three csh lines" \
	"setenv SSH_AUTH_SOCK $S2;
setenv SSH_AGENT_PID ${c_pid:-?};
echo Agent pid ${c_pid:-?};" "$c_out"
expect_ok "the agent started with -c answers on its socket" agent_answers "$S2"
run env SSH_AGENT_PID="${c_pid:-0}" "$AGENT" -c -k
expect_eq "-c -k prints the csh unsetenv lines" \
	"unsetenv SSH_AUTH_SOCK;
unsetenv SSH_AGENT_PID;
echo Agent pid ${c_pid:-?} killed;" "$OUT"
if [ -n "$c_pid" ] && wait_pid_gone "$c_pid" 15 && wait_for 10 sock_gone "$S2"; then
	pass "-c -k kills the agent and removes its socket"
else
	fail "-c -k kills the agent and removes its socket"
fi

# Without -s or -c the syntax follows $SHELL.
for sh in /bin/tcsh:csh /bin/bash:sh; do
	S3=$TMP/shell-${sh#*:}.sock
	run env SHELL="${sh%%:*}" "$AGENT" -a "$S3"
	pid=$(printf '%s\n' "$OUT" | sed -n 's/^echo Agent pid \([0-9][0-9]*\);$/\1/p')
	[ -n "$pid" ] && register_pid "$pid"
	case $sh in
	*:csh) want="setenv SSH_AUTH_SOCK $S3;" ;;
	*) want="SSH_AUTH_SOCK=$S3; export SSH_AUTH_SOCK;" ;;
	esac
	expect_eq "with SHELL=${sh%%:*} and no -s/-c the output uses ${sh#*:} syntax" \
		"$want" "$(printf '%s\n' "$OUT" | head -n 1)"
	[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait_pid_gone "$pid" 10
done

# ---------------------------------------------------------- command mode
S4=$TMP/cmd.sock
run "$AGENT" -a "$S4" sh -c \
	'ssh-add -l; echo "sock=$SSH_AUTH_SOCK"; echo "pid=$SSH_AGENT_PID"; exit 3'
cmd_pid=$(printf '%s\n' "$OUT" | sed -n 's/^pid=\([0-9][0-9]*\)$/\1/p')
[ -n "$cmd_pid" ] && register_pid "$cmd_pid"
expect_eq "command mode runs the command with SSH_AUTH_SOCK set to the agent" \
	"The agent has no identities.
sock=$S4
pid=${cmd_pid:-?}" "$OUT"
expect_eq "command mode exits with the command's status" 3 "$RC"
# OpenSSH's agent notices its parent is gone on a 10 s timer.
if [ -n "$cmd_pid" ] && wait_pid_gone "$cmd_pid" 30; then
	pass "the agent exits after the command exits"
else
	fail "the agent exits after the command exits"
fi
if wait_for 10 sock_gone "$S4"; then
	pass "the command-mode socket is removed when the agent exits"
else
	fail "the command-mode socket is removed when the agent exits"
fi

run "$AGENT" -a "$TMP/cmd2.sock" sh -c \
	'echo "pid=$SSH_AGENT_PID"; ssh-add -q "$1" && ssh-add -l' sh "$K/ecdsa"
cmd_pid=$(printf '%s\n' "$OUT" | sed -n 's/^pid=\([0-9][0-9]*\)$/\1/p')
[ -n "$cmd_pid" ] && register_pid "$cmd_pid"
expect_contains "keys added inside command mode are held by its agent" "$EC_FP" "$OUT"
expect_eq "command mode propagates success" 0 "$RC"

# ------------------------------------------------ -a on an existing path
printf 'precious\n' >"$TMP/existing"
run "$AGENT" -D -a "$TMP/existing"
expect_eq "-D -a on an existing file exits 1" 1 "$RC"
expect_eq "-a on an existing file leaves it intact" "precious" "$(cat "$TMP/existing")"
expect_contains "the refusal names the path" "$TMP/existing" "$ERR"
if kmes; then
	expect_match "the refusal says clearly that the path exists or is in use" \
		"$TMP/existing.*(exist|in use)|(exist|in use).*$TMP/existing" "$ERR"
	expect_eq "the refusal is a single line" 1 "$(printf '%s\n' "$ERR" | wc -l)"
else
	# OpenSSH's log.c ends stderr lines with CR LF.
	expect_eq "reference ssh-agent reports bind's EADDRINUSE" \
		"unix_listener: cannot bind to path $TMP/existing: Address already in use" \
		"${ERR//$'\r'/}"
fi
run "$AGENT" -s -a "$TMP/existing"
expect_eq "-s -a on an existing file exits 1" 1 "$RC"
expect_eq "a failed -s start prints nothing a shell would eval" "" "$OUT"

start_agent live
live_pid=$AGENT_PID
bounded ssh-add -q "$K/ed25519" 2>/dev/null
run "$AGENT" -D -a "$TMP/live.sock"
expect_eq "-a on a live agent's socket exits 1" 1 "$RC"
expect_ok "the live agent still answers on its socket" agent_has "$ED_FP"
stop_pid "$live_pid"

# ------------------------------------------------------------- signals
for sig in TERM HUP INT; do
	start_agent "sig-$sig"
	pid=$AGENT_PID
	sock=$SSH_AUTH_SOCK
	kill -"$sig" "$pid"
	if wait_pid_gone "$pid" 15; then
		pass "SIG$sig stops the agent"
	else
		fail "SIG$sig stops the agent"
	fi
	wait "$pid" 2>/dev/null
	if [ ! -e "$sock" ]; then
		pass "SIG$sig removes the socket"
	else
		fail "SIG$sig removes the socket"
	fi
done

# ------------------------------------------------------- default socket
# OpenSSH 9.2: /tmp/ssh-XXXXXXXXXXXX/agent.<pid>, ignoring TMPDIR and
# XDG_RUNTIME_DIR.  kmes-agent: a fresh 0700 directory under
# $XDG_RUNTIME_DIR, else $TMPDIR, else /tmp, holding a 0600 socket.
mkdir -p "$TMP/xdg" "$TMP/tmpdir"
chmod 0700 "$TMP/xdg"

default_started() {
	grep -q '^SSH_AUTH_SOCK=' "$1"
}

for where in xdg tmpdir none; do
	envs=(-u XDG_RUNTIME_DIR -u TMPDIR)
	case $where in
	xdg)	envs+=(XDG_RUNTIME_DIR="$TMP/xdg" TMPDIR="$TMP/tmpdir")
		want_base=$TMP/xdg ;;
	tmpdir)	envs+=(TMPDIR="$TMP/tmpdir")
		want_base=$TMP/tmpdir ;;
	none)	want_base=/tmp ;;
	esac
	kmes || want_base=/tmp
	label="default socket ($where)"
	env "${envs[@]}" "$AGENT" -D -s >"$TMP/default-$where.out" 2>&1 </dev/null &
	pid=$!
	register_pid "$pid"
	if ! wait_for 15 default_started "$TMP/default-$where.out"; then
		fail "$label: the agent announces its socket"
		diag_file "$TMP/default-$where.out"
		stop_pid "$pid"
		continue
	fi
	sock=$(sed -n 's/^SSH_AUTH_SOCK=\(.*\); export SSH_AUTH_SOCK;$/\1/p' \
		"$TMP/default-$where.out")
	dir=$(dirname "$sock")
	# A fresh directory outside $TMP is the agent's to remove; make sure
	# it goes even if the agent does not.
	case $dir in
	/tmp/ssh-?* | /tmp/kmes-?*) register_dir "$dir" ;;
	esac
	expect_eq "$label: the socket's directory sits directly in $want_base" \
		"$want_base" "$(dirname "$dir")"
	if [ "$where" = xdg ] && kmes; then
		expect_eq "$label: the directory is fresh, not \$XDG_RUNTIME_DIR itself" \
			1 "$(find "$TMP/xdg" -mindepth 1 -maxdepth 1 | wc -l)"
	fi
	kmes || expect_match "$label: reference ssh-agent names it /tmp/ssh-*/agent.<pid>" \
		"^/tmp/ssh-[A-Za-z0-9]{12}/agent\\.$pid\$" "$sock"
	expect_eq "$label: the directory is mode 0700" 700 "$(mode_of "$dir" 2>&1)"
	expect_eq "$label: the directory is owned by us" "$(id -u)" \
		"$(stat -c %u "$dir" 2>&1)"
	if [ -S "$sock" ]; then
		pass "$label: the announced path is a socket"
	else
		fail "$label: the announced path is a socket" "$sock"
	fi
	expect_eq "$label: the socket is mode 0600" 600 "$(mode_of "$sock" 2>&1)"
	expect_ok "$label: ssh-add reaches the agent there" agent_answers "$sock"
	stop_pid "$pid"
	if [ ! -e "$sock" ] && [ ! -e "$dir" ]; then
		pass "$label: SIGTERM removes the socket and its directory"
	else
		fail "$label: SIGTERM removes the socket and its directory"
	fi
done

# -------------------------------------------------- -t default lifetime
start_agent lifetime -t 3
expect_ok "a key added to an agent started with -t 3 is held at first" \
	ssh-add "$K/ed25519"
expect_ok "ssh-add -t 600 overrides the agent's default lifetime" \
	ssh-add -t 600 "$K/ecdsa"
if wait_for 20 agent_lacks "$ED_FP"; then
	pass "the agent's -t default lifetime removes keys added without -t"
else
	fail "the agent's -t default lifetime removes keys added without -t"
fi
expect_ok "a key with its own longer lifetime outlives the default" agent_has "$EC_FP"
stop_pid "$AGENT_PID"

# ----------------------------------------------------------- bad options
run "$AGENT" -Z
expect_eq "an unknown option exits 1" 1 "$RC"
expect_match "an unknown option prints usage on stderr" '^usage: ' "$ERR"
expect_eq "an unknown option prints nothing on stdout" "" "$OUT"
run "$AGENT" -D -a "$TMP/badlife.sock" -t not-a-time
expect_eq "an invalid -t lifetime exits 1" 1 "$RC"
expect_eq "an invalid -t lifetime starts no agent" no "$([ -e "$TMP/badlife.sock" ] && echo yes || echo no)"
run "$AGENT" -s -c -a "$TMP/sc.sock"
expect_eq "-s and -c together exit 1" 1 "$RC"
expect_eq "-s and -c together start no agent" no "$([ -e "$TMP/sc.sock" ] && echo yes || echo no)"

# ------------------------------------------------------------ other uid
# The socket is opened up to everyone so that only the agent's own peer
# check can stop the other user; exit status 1 (not 2) proves the other
# user did connect and was then refused.
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	UDIR=$(mktemp -d /tmp/kmes-uid.XXXXXX) || bail_out "mktemp failed"
	register_dir "$UDIR"
	chmod 0711 "$UDIR"
	start_agent "$UDIR/sock"
	bounded ssh-add -q "$K/ed25519" 2>/dev/null
	chmod 0666 "$UDIR/sock"
	run setpriv --reuid=nobody --regid=nogroup --clear-groups \
		env SSH_AUTH_SOCK="$UDIR/sock" ssh-add -l
	# 1: ssh-add connected and its request failed; 141: it connected and
	# was killed by SIGPIPE writing to a connection the agent had already
	# closed.  2 would mean connect() itself failed, proving nothing.
	case $RC in
	1 | 141) pass "a connection from another uid is refused by the agent itself" ;;
	*)	fail "a connection from another uid is refused by the agent itself" \
			"ssh-add exit status $RC (want 1, or 141 for SIGPIPE)"
		_show_last ssh-add -l ;;
	esac
	expect_lacks "another uid learns no key from the agent" "$ED_FP" "$OUT"
	run setpriv --reuid=nobody --regid=nogroup --clear-groups \
		env SSH_AUTH_SOCK="$UDIR/sock" ssh-add -D
	if [ "$RC" -ne 0 ]; then
		pass "another uid cannot remove keys"
	else
		fail "another uid cannot remove keys"
		_show_last ssh-add -D
	fi
	expect_ok "the agent keeps serving its owner after refusing another uid" \
		agent_has "$ED_FP"
	stop_pid "$AGENT_PID"
else
	for d in "a connection from another uid is refused by the agent itself" \
		"another uid learns no key from the agent" \
		"another uid cannot remove keys" \
		"the agent keeps serving its owner after refusing another uid"; do
		pass "$d # SKIP needs root and setpriv to act as user nobody"
	done
fi

done_testing
