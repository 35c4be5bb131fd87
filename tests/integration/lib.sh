# Shared helpers for the kmes-agent integration tests.
#
# Sourced (never run) by each tests/integration/test-*.sh.  Every test talks
# to real OpenSSH programs (ssh, ssh-add, ssh-keygen, sshd) and to the agent
# named by $AGENT; nothing is mocked.  A script that passes with
# AGENT=/usr/bin/ssh-agent is the specification kmes-agent must meet; the
# few places where kmes-agent deliberately differs are guarded by KMES=1.
#
# Output is TAP: "ok N - property" lines, "# ..." diagnostics, and the plan
# "1..N" printed by done_testing.  Anything that makes further checks
# meaningless (no sshd, agent never came up) is a "Bail out!", never a skip.
#
# Everything a script starts is recorded by PID and stopped by the EXIT trap,
# which also removes the script's private temporary directory.

set -u
export LC_ALL=C
umask 077

# ---------------------------------------------------------------- TAP output

_tap_n=0
_tap_failed=0
_tap_done=0

# tap_result <status> <description>: report one check; 0 means it held.
tap_result() {
	_tap_n=$((_tap_n + 1))
	if [ "$1" -eq 0 ]; then
		printf 'ok %d - %s\n' "$_tap_n" "$2"
	else
		printf 'not ok %d - %s\n' "$_tap_n" "$2"
		_tap_failed=$((_tap_failed + 1))
	fi
	return "$1"
}

# diag <text...>: TAP comments, one argument per line, multi-line
# arguments prefixed line by line.
diag() {
	printf '%s\n' "$@" | sed 's/^/# /'
}

# diag_file <path>: show a captured output file as TAP comments.
diag_file() {
	[ -s "$1" ] && sed 's/^/#   /' "$1" | tail -n 40
	return 0
}

pass() { tap_result 0 "$1"; }
fail() {
	tap_result 1 "$1"
	shift
	[ $# -gt 0 ] && diag "$@"
	return 1
}

bail_out() {
	_tap_done=1
	printf 'Bail out! %s\n' "$*"
	exit 1
}

# done_testing: print the plan.  Run by hand, exit 1 if any check failed.
# Under a TAP harness (TAP_HARNESS set, as meson.build does) the "not ok"
# lines carry the failures and the exit status stays 0: meson reports a
# non-zero exit as a harness ERROR and would hide which checks FAILed.
done_testing() {
	_tap_done=1
	printf '1..%d\n' "$_tap_n"
	[ "$_tap_failed" -eq 0 ] && exit 0
	diag "$_tap_failed of $_tap_n checks failed"
	[ -n "${TAP_HARNESS:-}" ] && exit 0
	exit 1
}

# --------------------------------------------------------- bounded execution

# Upper bound for any single client command; an agent that wedges must turn
# into a failed check, not a hung test run.
CMD_TIMEOUT=${KMES_TEST_CMD_TIMEOUT:-30}

# bounded <cmd...>: run cmd, killing it after $CMD_TIMEOUT seconds.
bounded() {
	timeout -k 5 "$CMD_TIMEOUT" "$@"
}

# Output of the last run/expect_* call, kept for diagnostics and for checks
# that look at what a command printed.
OUT=
ERR=
RC=0

# run <cmd...>: bounded run capturing stdout in $OUT, stderr in $ERR and
# the exit status in $RC.  Never fails, so it is safe under any errexit.
# timeout(1) cannot run shell functions, so the helpers below bound every
# program they start themselves and run calls them directly, in a subshell
# so that a signal's exit trap never runs with stdout pointing at .out.
run() {
	if declare -F -- "$1" >/dev/null; then
		("$@") >"$TMP/.out" 2>"$TMP/.err" </dev/null
	else
		bounded "$@" >"$TMP/.out" 2>"$TMP/.err" </dev/null
	fi
	RC=$?
	OUT=$(cat "$TMP/.out")
	ERR=$(cat "$TMP/.err")
	return 0
}

_show_last() {
	diag "command: $*"
	diag "exit status: $RC"
	[ -n "$OUT" ] && diag "stdout:" && diag "$OUT"
	[ -n "$ERR" ] && diag "stderr:" && diag "$ERR"
	return 0
}

# expect_ok <description> <cmd...>: the check holds if cmd exits 0.
expect_ok() {
	local desc=$1
	shift
	run "$@"
	tap_result "$RC" "$desc" || _show_last "$@"
}

# expect_fail <description> <cmd...>: the check holds if cmd exits non-zero
# (but was not killed by the timeout: a hang is not a refusal).
expect_fail() {
	local desc=$1
	shift
	run "$@"
	if [ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] && [ "$RC" -ne 137 ]; then
		pass "$desc"
	else
		fail "$desc" "expected a non-zero exit without timing out"
		_show_last "$@"
		return 1
	fi
}

# expect_status <description> <status> <cmd...>: cmd exits with exactly status.
expect_status() {
	local desc=$1 want=$2
	shift 2
	run "$@"
	if [ "$RC" -eq "$want" ]; then
		pass "$desc"
	else
		fail "$desc" "expected exit status $want"
		_show_last "$@"
		return 1
	fi
}

# expect_eq <description> <expected> <actual>
expect_eq() {
	if [ "$2" = "$3" ]; then
		pass "$1"
	else
		fail "$1" "expected:" "$2" "got:" "$3"
	fi
}

# expect_match <description> <extended regex> <text>
expect_match() {
	if printf '%s\n' "$3" | grep -Eq -- "$2"; then
		pass "$1"
	else
		fail "$1" "expected a match for /$2/ in:" "$3"
	fi
}

# expect_contains <description> <fixed string> <text>
expect_contains() {
	if printf '%s\n' "$3" | grep -Fq -- "$2"; then
		pass "$1"
	else
		fail "$1" "expected to find '$2' in:" "$3"
	fi
}

# expect_lacks <description> <fixed string> <text>
expect_lacks() {
	if printf '%s\n' "$3" | grep -Fq -- "$2"; then
		fail "$1" "did not expect '$2' in:" "$3"
	else
		pass "$1"
	fi
}

# expect_no_match <description> <extended regex> <text>
expect_no_match() {
	if printf '%s\n' "$3" | grep -Eq -- "$2"; then
		fail "$1" "unexpected match for /$2/ in:" "$3"
	else
		pass "$1"
	fi
}

# ------------------------------------------------------------------ waiting

# Poll interval for wait_for; short, because every poll is a condition check
# and the overall bound is the timeout, not this.
POLL=0.05

# wait_for <seconds> <cmd...>: poll until cmd succeeds; 1 on timeout.
wait_for() {
	local limit=$1 start=$SECONDS
	shift
	until "$@"; do
		[ $((SECONDS - start)) -gt "$limit" ] && return 1
		sleep "$POLL"
	done
	return 0
}

# pid_alive <pid>: the process exists and is not a zombie.  Daemons that
# fork away are reaped by whoever adopted them, possibly never inside a
# container, so a zombie must count as dead.
pid_alive() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	[ "${st%% *}" != Z ]
}

pid_gone() { ! pid_alive "$1"; }

# wait_pid_gone <pid> <seconds>
wait_pid_gone() {
	wait_for "$2" pid_gone "$1"
}

# ---------------------------------------------------------- temp + cleanup

_pids=()
_extra_dirs=()

# register_pid <pid>: stop this process at exit if it is still running.
register_pid() {
	_pids+=("$1")
}

# register_dir <path>: remove this directory at exit (for dirs that cannot
# live under $TMP, e.g. ones another uid must be able to reach).
register_dir() {
	_extra_dirs+=("$1")
}

_cleanup() {
	local status=$? pid n
	trap - EXIT
	if [ "$_tap_done" -eq 0 ]; then
		printf 'Bail out! script ended before done_testing (status %d)\n' "$status"
		[ "$status" -eq 0 ] && status=1
	fi
	for pid in "${_pids[@]}"; do
		pid_alive "$pid" && kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${_pids[@]}"; do
		n=0
		while pid_alive "$pid" && [ $n -lt 100 ]; do
			sleep "$POLL"
			n=$((n + 1))
		done
		pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null
	done
	# Reap our own children so nothing lingers as a zombie.
	for pid in "${_pids[@]}"; do
		wait "$pid" 2>/dev/null
	done
	[ -n "${TMP:-}" ] && [ -d "$TMP" ] && rm -rf -- "$TMP"
	for d in "${_extra_dirs[@]}"; do
		rm -rf -- "$d"
	done
	exit "$status"
}

trap _cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# Socket paths are limited to 108 bytes (sun_path), so keep $TMP short:
# a long $TMPDIR falls back to /tmp.
_tmpbase=${TMPDIR:-/tmp}
[ ${#_tmpbase} -gt 40 ] && _tmpbase=/tmp
TMP=$(mktemp -d "$_tmpbase/kmes-it.XXXXXX") ||
	bail_out "cannot create a temporary directory"
# Nothing of the user's may be seen or spent by a test: the agent reads
# $XDG_CONFIG_HOME/kmes/agent.conf and serves the store at $KMES_STORE,
# else $XDG_DATA_HOME/kmes/keystore, else ~/.local/share/kmes/keystore; a
# test that saw the user's store would list its keys and could spend its
# PIN tries. Every such place points into $TMP (tests that want a config
# file or a store make one there), and the real HOME is out of reach.
export HOME="$TMP/home"
export XDG_CONFIG_HOME="$TMP/config"
export XDG_DATA_HOME="$TMP/data"
export XDG_RUNTIME_DIR="$TMP/run"
unset KMES_STORE
mkdir -p "$HOME" "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR" ||
	bail_out "cannot make the test's HOME"

# ------------------------------------------------------------ prerequisites

SSHD=/usr/sbin/sshd

# require <program...>: bail out (loudly) if a needed program is missing.
require() {
	local p
	for p in "$@"; do
		command -v "$p" >/dev/null 2>&1 || bail_out "required program not found: $p"
	done
}

require ssh ssh-add ssh-keygen timeout
[ -n "${AGENT:-}" ] ||
	bail_out "AGENT must name the agent under test (e.g. AGENT=/usr/bin/ssh-agent)"
AGENT=$(command -v "$AGENT") || bail_out "AGENT is not an executable: ${AGENT}"
case $AGENT in
/*) ;;
*) AGENT=$PWD/$AGENT ;;
esac

# preload_sanitizer_of <shared object>: a -Db_sanitize build's module needs
# its runtime loaded first in the clients that load it (ssh, pkcs11-tool,
# python), which are not built with it; export LD_PRELOAD for them.
preload_sanitizer_of() {
	local libs
	libs=$(ldd "$1" | awk '$1 ~ /^lib(asan|ubsan)\.so/ { print $3 }' | xargs)
	[ -n "$libs" ] || return 0
	export LD_PRELOAD="${libs// /:}"
	export ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0
	diag "sanitizer build: preloading $LD_PRELOAD"
}

# kmes: true when the checks for kmes-agent's intentional differences apply.
kmes() {
	[ "${KMES:-0}" = 1 ]
}

diag "agent under test: $AGENT (KMES=${KMES:-0})"

# Keep the caller's agent and askpass out of every test.
unset SSH_AUTH_SOCK SSH_AGENT_PID SSH_ASKPASS SSH_ASKPASS_REQUIRE DISPLAY \
	WAYLAND_DISPLAY

# ------------------------------------------------------------------- keys

# All key types an OpenSSH 9.2 agent is expected to hold, as type-bits
# (used by the scripts that source this file).
# shellcheck disable=SC2034
KEY_TYPES="ed25519 ecdsa-256 ecdsa-384 ecdsa-521 rsa-3072"

# gen_key <type-bits> <path> [comment]: unencrypted key pair at path(.pub).
gen_key() {
	local spec=$1 path=$2 comment=${3:-$1}
	local type=${spec%%-*} bits=
	[ "$type" != "$spec" ] && bits=${spec#*-}
	rm -f "$path" "$path.pub"
	ssh-keygen -q -t "$type" ${bits:+-b "$bits"} -N '' -C "$comment" \
		-f "$path" </dev/null >/dev/null ||
		bail_out "ssh-keygen could not make a $spec key"
}

# fingerprint <pubkey file>: the SHA256 fingerprint alone.
fingerprint() {
	ssh-keygen -lf "$1" | awk '{ print $2 }'
}

# --------------------------------------------------------------- the agent

AGENT_PID=
# Extra environment for the agent process (e.g. SSH_ASKPASS for -c).
AGENT_ENV=()

# agent_answers <socket>: ssh-add reached an agent there (0: keys, 1: none).
agent_answers() {
	local rc
	SSH_AUTH_SOCK=$1 bounded ssh-add -l >/dev/null 2>&1
	rc=$?
	[ $rc -eq 0 ] || [ $rc -eq 1 ]
}

_agent_up() {
	pid_alive "$2" || return 0
	agent_answers "$1"
}

# start_agent <name> [agent options...]: run "$AGENT -D -a $TMP/<name>.sock"
# in the background with $AGENT_ENV, wait until it answers, export
# SSH_AUTH_SOCK and set AGENT_PID.  Its stdout+stderr go to $TMP/<name>.log.
# A name containing "/" is taken as the socket path itself.  AGENT_FD3
# names a file the agent gets on descriptor 3 (for --pin-fd 3).
start_agent() {
	local name=$1 sock
	shift
	case $name in
	*/*)	sock=$name
		name=$(basename "$name") ;;
	*)	sock=$TMP/$name.sock ;;
	esac
	if [ -n "${AGENT_FD3:-}" ]; then
		env ${AGENT_ENV[@]+"${AGENT_ENV[@]}"} "$AGENT" -D -a "$sock" \
			"$@" >"$TMP/$name.log" 2>&1 </dev/null 3<"$AGENT_FD3" &
	else
		# Descriptors the caller opened (3<<<"$PIN") pass through.
		env ${AGENT_ENV[@]+"${AGENT_ENV[@]}"} "$AGENT" -D -a "$sock" \
			"$@" >"$TMP/$name.log" 2>&1 </dev/null &
	fi
	AGENT_PID=$!
	register_pid "$AGENT_PID"
	wait_for 15 _agent_up "$sock" "$AGENT_PID"
	if ! pid_alive "$AGENT_PID" || ! agent_answers "$sock"; then
		diag_file "$TMP/$name.log"
		bail_out "agent '$name' did not start answering on $sock"
	fi
	export SSH_AUTH_SOCK=$sock
}

# stop_pid <pid>: SIGTERM a process we started and wait (bounded) for it.
stop_pid() {
	kill -TERM "$1" 2>/dev/null
	wait_pid_gone "$1" 10 || kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

# agent_fingerprints: the SHA256 fingerprints the agent lists, one per line.
agent_fingerprints() {
	bounded ssh-add -l 2>/dev/null | awk '$2 ~ /^SHA256:/ { print $2 }'
}

# agent_has <fingerprint>: the agent currently lists that key.
agent_has() {
	agent_fingerprints | grep -Fxq -- "$1"
}

# agent_lacks <fingerprint>: the agent answers and does not list that key
# (a dead agent lists nothing, which must not count as "removed").
agent_lacks() {
	agent_answers "$SSH_AUTH_SOCK" && ! agent_has "$1"
}

# agent_empty: the agent answers and reports no identities.
agent_empty() {
	local out
	out=$(bounded ssh-add -l 2>&1)
	[ $? -eq 1 ] && [ "$out" = "The agent has no identities." ]
}

# sign_with_agent <pubkey> <file>: ssh-keygen -Y sign through the agent,
# writing <file>.sig.  ssh-keygen falls back to the private key next to a
# .pub, so sign from a copy of the .pub that has no private sibling: success
# then proves the agent made the signature.
sign_with_agent() {
	local pub
	mkdir -p "$TMP/pubonly"
	pub=$TMP/pubonly/$(basename "$1")
	cp "$1" "$pub" || return 1
	rm -f "$2.sig"
	bounded ssh-keygen -Y sign -f "$pub" -n kmes-test "$2" </dev/null
}

# check_sig <pubkey> <file>: <file>.sig is a valid kmes-test signature of
# <file> by that key.
check_sig() {
	bounded ssh-keygen -Y check-novalidate -n kmes-test -f "$1" \
		-s "$2.sig" <"$2"
}

# --------------------------------------------------------------- askpass

# make_askpass <path> <answer file> <log file>: an SSH_ASKPASS program that
# appends its SSH_ASKPASS_PROMPT and argv to the log file, then answers with
# the first line of the answer file.  For confirmations the answer "yes"
# exits 0 and anything else exits 1 (OpenSSH's "no").
make_askpass() {
	cat >"$1" <<EOF
#!/bin/sh
{
	printf 'SSH_ASKPASS_PROMPT=%s\n' "\${SSH_ASKPASS_PROMPT-<unset>}"
	printf 'argc=%s\n' "\$#"
	for a in "\$@"; do printf 'argv=%s\n' "\$a"; done
} >>'$3'
answer=\$(head -n 1 '$2' 2>/dev/null)
if [ "\${SSH_ASKPASS_PROMPT-}" = confirm ]; then
	[ "\$answer" = yes ] || exit 1
fi
printf '%s\n' "\$answer"
EOF
	chmod 0700 "$1"
}

# ---------------------------------------------------- a terminal (expect)

# agent_on_tty <name> <prompt regex> <pin> [agent options...]: start
# "$AGENT -s -a $TMP/<name>.sock <options>" on a pseudo-terminal under
# expect(1) and type <pin> once a prompt matching the (Tcl) regex shows:
# typing earlier would be flushed with the typeahead. Sets RC (0 when the
# agent's start-up ended well; 2: no prompt in time, 3: the program ended
# without one) and TTY_AGENT_PID (registered); its stdout is in
# $TMP/<name>.out. Values reach expect through the environment, so no
# quoting of paths or PINs into Tcl is needed.
TTY_AGENT_PID=
agent_on_tty() {
	local name=$1 re=$2 pin=$3 cmd
	shift 3
	printf -v cmd '%q ' "$AGENT" -s -a "$TMP/$name.sock" "$@"
	cat >"$TMP/tty-agent.exp" <<'EXP'
set timeout 30
spawn sh -c $env(TTY_CMD)
expect {
	-re $env(TTY_RE) { send "$env(TTY_PIN)\r" }
	timeout { exit 2 }
	eof { exit 3 }
}
expect eof
catch wait result
exit [lindex $result 3]
EXP
	TTY_CMD="exec $cmd >$(printf '%q' "$TMP/$name.out")" TTY_RE=$re \
		TTY_PIN=$pin run expect -f "$TMP/tty-agent.exp"
	TTY_AGENT_PID=$(sed -n 's/^SSH_AGENT_PID=\([0-9]*\);.*/\1/p' \
		"$TMP/$name.out" 2>/dev/null)
	[ -n "$TTY_AGENT_PID" ] && register_pid "$TTY_AGENT_PID"
	return 0
}

# -------------------------------------------------------------------- sshd

SSHD_DIR=
SSHD_PORT=
SSHD_PID=
SSHD_LOG=
SSHD_HOSTKEY=
SSH_CONFIG=

_sshd_state() {
	# 0: listening; 1: still starting; 2: dead.
	grep -q "Server listening on 127.0.0.1 port $SSHD_PORT" "$SSHD_LOG" && return 0
	pid_alive "$SSHD_PID" || return 2
	return 1
}

_sshd_settled() {
	_sshd_state
	[ $? -ne 1 ]
}

# start_sshd [extra sshd_config lines...]: a private sshd on 127.0.0.1 and a
# free high port, with its own host key, authorized_keys and CA file, logging
# at DEBUG to $SSHD_LOG.  Writes $SSH_CONFIG for clients (host alias
# "kmes-test") with that host key already known.
start_sshd() {
	local cfg line user
	require "$SSHD"
	SSHD_DIR=$TMP/sshd
	mkdir -p "$SSHD_DIR"
	gen_key ed25519 "$SSHD_DIR/host_ed25519" kmes-test-host
	SSHD_HOSTKEY=$SSHD_DIR/host_ed25519.pub
	: >>"$SSHD_DIR/authorized_keys"
	: >>"$SSHD_DIR/trusted_user_ca_keys"
	# Privilege separation chroots into /run/sshd when started as root.
	if [ "$(id -u)" -eq 0 ] && [ ! -d /run/sshd ]; then
		mkdir -p /run/sshd && chmod 0755 /run/sshd
	fi
	cfg=$SSHD_DIR/sshd_config
	SSHD_LOG=$SSHD_DIR/sshd.log
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		SSHD_PORT=$((20000 + RANDOM % 40000))
		{
			echo "ListenAddress 127.0.0.1"
			echo "Port $SSHD_PORT"
			echo "HostKey $SSHD_DIR/host_ed25519"
			echo "PidFile $SSHD_DIR/sshd.pid"
			echo "AuthorizedKeysFile $SSHD_DIR/authorized_keys"
			echo "TrustedUserCAKeys $SSHD_DIR/trusted_user_ca_keys"
			echo "StrictModes no"
			echo "UsePAM no"
			echo "PubkeyAuthentication yes"
			echo "PasswordAuthentication no"
			echo "KbdInteractiveAuthentication no"
			echo "AllowAgentForwarding yes"
			echo "PermitRootLogin prohibit-password"
			echo "LogLevel DEBUG"
			echo "MaxAuthTries 20"
			for line in "$@"; do
				echo "$line"
			done
		} >"$cfg"
		: >"$SSHD_LOG"
		"$SSHD" -D -e -f "$cfg" 2>>"$SSHD_LOG" </dev/null &
		SSHD_PID=$!
		register_pid "$SSHD_PID"
		wait_for 15 _sshd_settled
		_sshd_state
		case $? in
		0)	break ;;
		2)	wait "$SSHD_PID" 2>/dev/null
			grep -q "Address already in use" "$SSHD_LOG" && continue
			diag_file "$SSHD_LOG"
			bail_out "sshd failed to start" ;;
		*)	diag_file "$SSHD_LOG"
			bail_out "sshd did not start listening" ;;
		esac
	done
	_sshd_state || bail_out "no free port for sshd after 10 attempts"

	user=$(id -un)
	printf '[127.0.0.1]:%s %s\n' "$SSHD_PORT" "$(cat "$SSHD_HOSTKEY")" \
		>"$TMP/known_hosts"
	SSH_CONFIG=$TMP/ssh_config
	cat >"$SSH_CONFIG" <<EOF
Host kmes-test
	HostName 127.0.0.1
	Port $SSHD_PORT
	User $user
Host *
	BatchMode yes
	StrictHostKeyChecking accept-new
	UserKnownHostsFile $TMP/known_hosts
	GlobalKnownHostsFile /dev/null
	UpdateHostKeys no
	IdentitiesOnly yes
	PreferredAuthentications publickey
	PasswordAuthentication no
	KbdInteractiveAuthentication no
	ConnectTimeout 10
	ConnectionAttempts 1
	ControlMaster no
	ControlPath none
	ForwardAgent no
	LogLevel ERROR
EOF
}

# authorize <pubkey file...>: allow these keys to log in to the test sshd.
authorize() {
	cat "$@" >>"$SSHD_DIR/authorized_keys"
}

# trust_user_ca <CA pubkey file>: sshd accepts user certs signed by it.
trust_user_ca() {
	cat "$1" >>"$SSHD_DIR/trusted_user_ca_keys"
}

# log_mark: remember how far the sshd log has been read; log_since shows
# what sshd logged after the mark (so each check sees only its own login).
LOG_MARK=0
log_mark() {
	LOG_MARK=$(wc -c <"$SSHD_LOG")
}
log_since() {
	tail -c +"$((LOG_MARK + 1))" "$SSHD_LOG"
}

# sshd_logged <ERE>: sshd logged a matching line since log_mark.  sshd may
# write its last lines just after the client exits, hence the bounded wait.
_sshd_logged_now() {
	log_since | grep -Eq -- "$1"
}
sshd_logged() {
	wait_for 5 _sshd_logged_now "$1"
}

# ssh_test [ssh args...]: ssh to the test sshd with the test client config.
ssh_test() {
	bounded ssh -F "$SSH_CONFIG" "$@"
}
