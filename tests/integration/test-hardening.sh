#!/bin/bash
# The agent's process hardening, seen from outside as an attacker with the
# same uid would see it: no core files, not dumpable (its /proc files belong
# to root, ptrace and /proc/PID/mem refused), private keys in locked
# memory; the peer uid check; no secret in any line of a debug log; and a
# memcheck session with no error and no definite leak.
#
# Needs root (to act as other users) and two ordinary uids that every
# Debian system has: nobody/nogroup runs the agent, daemon plays the other
# user.  No account is created.  gdb and valgrind are needed too (Debian
# packages gdb and valgrind); without them the checks that need them fail.
# An agent built with a sanitizer is checked by its sanitizer instead of
# valgrind, which cannot run it.
#
# Run: AGENT=build/src/kmes-agent KEYTOOL=build/src/keytool/kmes-keytool \
#      KMES=1 bash tests/integration/test-hardening.sh

. "$(dirname "$0")/lib.sh"

kmes || bail_out "this test is for kmes-agent (KMES=1)"
[ -n "${KEYTOOL:-}" ] || bail_out "KEYTOOL must name the kmes-keytool under test"
[ "$(id -u)" -eq 0 ] || bail_out "must run as root, to act as the users nobody and daemon"
require setpriv od base64 openssl awk sed
OWNER=nobody
OTHER=daemon
id "$OWNER" >/dev/null 2>&1 || bail_out "no user $OWNER"
id "$OTHER" >/dev/null 2>&1 || bail_out "no user $OTHER"
OWNER_UID=$(id -u "$OWNER")
OTHER_UID=$(id -u "$OTHER")

# No agent here may pick up a default key store from the caller's home.
export KMES_STORE=$TMP/no-such-store

# as_user <user> <cmd...>: bounded, with that user's uids, gids and groups.
as_user() {
	local u=$1
	shift
	bounded setpriv --reuid="$u" --regid="$(id -gn "$u")" --init-groups "$@"
}

# answering <socket> <pid>: the process is alive and its agent answers.
answering() {
	pid_alive "$2" && agent_answers "$1"
}

# settled <socket> <pid>: answering, or dead (no use waiting any longer).
settled() {
	pid_gone "$2" || agent_answers "$1"
}

# launch <log> <socket> <seconds> <cmd...>: start an agent command line in
# the background (stdout and stderr to log), wait at most that long for it
# to answer; LAUNCHED is its PID.  The command must exec the agent (env,
# setpriv, valgrind), so that the PID is the agent's own.
LAUNCHED=
launch() {
	local log=$1 sock=$2 limit=$3
	shift 3
	"$@" >"$log" 2>&1 </dev/null &
	LAUNCHED=$!
	register_pid "$LAUNCHED"
	wait_for "$limit" settled "$sock" "$LAUNCHED"
	answering "$sock" "$LAUNCHED"
}

# hex <file>: the file's bytes as one line of lowercase hex.
hex() {
	od -An -v -tx1 "$1" | tr -d ' \n'
}

# unhex <hex>: the bytes themselves (printf writes NUL bytes to a pipe).
unhex() {
	# shellcheck disable=SC2059
	printf "$(printf '%s' "$1" | sed 's/../\\x&/g')"
}

# text_hex <text>: the text's bytes as hex.
text_hex() {
	printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'
}

# ------------------------------------------------ reading OpenSSH key files

# A cursor over a hex string: _H the data, _P the position in hex digits,
# _V the last value read.  Every read checks that the bytes were there, so
# a bad length stops the parse instead of reading past the end.
_H=
_P=0
_V=
_take() {
	_V=${_H:_P:$(($1 * 2))}
	_P=$((_P + $1 * 2))
	[ ${#_V} -eq $(($1 * 2)) ]
}
_u32() {
	_take 4 && _V=$((16#$_V))
}
_string() {
	_u32 && [ "$_V" -le 65536 ] && _take "$_V"
}
# An mpint without the sign byte and leading zeros: the bare number.
_mpint() {
	_string || return 1
	while [ "${_V:0:2}" = 00 ]; do
		_V=${_V:2}
	done
}

# key_secrets <private key file>: the private numbers of an unencrypted
# openssh-key-v1 file as "name hex" lines: the Ed25519 seed and public
# half, the ECDSA scalar, or the first 32 bytes of RSA's d, p and q.
key_secrets() {
	local c1 type
	_H=$(sed '1d;$d' "$1" | base64 -d | od -An -v -tx1 | tr -d ' \n')
	_P=0
	_take 15 && [ "$_V" = "$(text_hex openssh-key-v1)00" ] || return 1
	# Cipher "none", kdf "none", empty options, one key.
	_string && [ "$_V" = "$(text_hex none)" ] || return 1
	_string && _string && _u32 && [ "$_V" -eq 1 ] || return 1
	_string && _string || return 1
	_H=$_V
	_P=0
	_u32 && c1=$_V && _u32 && [ "$_V" -eq "$c1" ] || return 1
	_string || return 1
	type=$(unhex "$_V")
	case $type in
	ssh-ed25519)
		_string && _string && [ ${#_V} -eq 128 ] || return 1
		printf 'seed %s\npublic %s\n' "${_V:0:64}" "${_V:64:64}" ;;
	ecdsa-sha2-*)
		_string && _string && _mpint || return 1
		printf 'd %s\n' "$_V" ;;
	ssh-rsa)
		_mpint && _mpint && _mpint || return 1
		printf 'd %s\n' "${_V:0:64}"
		_mpint && _mpint || return 1
		printf 'p %s\n' "${_V:0:64}"
		_mpint || return 1
		printf 'q %s\n' "${_V:0:64}" ;;
	*)	return 1 ;;
	esac
}

# secret_of <name> <key_secrets output>: that number's hex.
secret_of() {
	printf '%s\n' "$2" | awk -v n="$1" '$1 == n { print $2 }'
}

# openssl_field <PEM key file> <field>: a number openssl prints for the
# key ("priv", "privateExponent"...), as bare hex, to check key_secrets.
openssl_field() {
	openssl pkey -in "$1" -noout -text 2>/dev/null | awk -v f="$2:" '
		$0 == f { on = 1; next }
		on && /^ / { gsub(/[ :]/, ""); printf "%s", $0; next }
		on { exit }' | sed 's/^\(00\)*//'
}

# ----------------------------------------------------------- secret search

# secret_forms <hex>: strings a leak of these bytes could show in a log
# line: hex in both cases, colon-separated hex, and base64 (and base64url)
# at each of the three alignments the bytes could have inside a longer
# encoded blob, cut to whole groups so that no padding gets in the way.
secret_forms() {
	local h=$1 k n b64
	printf '%s\n' "$h" "${h^^}" "$(printf '%s' "$h" | sed 's/../&:/g; s/:$//')"
	for k in 0 1 2; do
		n=$(((${#h} / 2 - k) / 3 * 3))
		[ "$n" -ge 6 ] || continue
		b64=$(unhex "${h:$((k * 2)):$((n * 2))}" | base64 -w0)
		printf '%s\n' "$b64" "$(printf '%s' "$b64" | tr '+/' '-_')"
	done
}

# log_lacks_secret <description> <log file> <hex>: no form of the secret
# appears in the log, neither encoded nor as the raw bytes.
log_lacks_secret() {
	local desc=$1 log=$2 h=$3 f found=
	case $(hex "$log") in
	*"$h"*) found="raw bytes" ;;
	esac
	while IFS= read -r f; do
		grep -Fq -- "$f" "$log" && found="$found${found:+, }$f"
	done < <(secret_forms "$h")
	if [ -z "$found" ]; then
		pass "$desc"
	else
		fail "$desc" "found as: $found"
	fi
}

# ==================================================== 1. process hardening
# The agent runs as nobody, with its socket in a directory nobody owns
# outside $TMP (which only root can enter).
UDIR=$(mktemp -d /tmp/kmes-hard.XXXXXX) || bail_out "mktemp failed"
register_dir "$UDIR"
chown "$OWNER:$(id -gn "$OWNER")" "$UDIR"
chmod 0700 "$UDIR"
USOCK=$UDIR/sock
gen_key ed25519 "$UDIR/id_ed25519" hardening-owner
chown "$OWNER" "$UDIR/id_ed25519" "$UDIR/id_ed25519.pub"
OWN_FP=$(fingerprint "$UDIR/id_ed25519.pub")

launch "$TMP/owner.log" "$USOCK" 15 \
	setpriv --reuid="$OWNER" --regid="$(id -gn "$OWNER")" --init-groups \
	env HOME="$UDIR" XDG_CONFIG_HOME="$UDIR/config" "$AGENT" -D -a "$USOCK" ||
	{ diag_file "$TMP/owner.log"; bail_out "the agent did not start as $OWNER"; }
APID=$LAUNCHED
# Root's own ssh-add checks below go through this socket too.
export SSH_AUTH_SOCK=$USOCK
expect_eq "the agent under test runs as $OWNER (real, effective, saved uid)" \
	"$OWNER_UID $OWNER_UID $OWNER_UID" \
	"$(awk '$1 == "Uid:" { print $2, $3, $4 }' "/proc/$APID/status")"
expect_eq "the agent's process is the agent program itself" \
	"$(readlink -f "$AGENT")" "$(readlink -f "/proc/$APID/exe")"

run as_user "$OWNER" env SSH_AUTH_SOCK="$USOCK" ssh-add "$UDIR/id_ed25519"
tap_result "$RC" "$OWNER adds an Ed25519 key to its own agent" ||
	_show_last ssh-add
expect_ok "the agent holds $OWNER's key" agent_has "$OWN_FP"

expect_eq "core files are off: Max core file size is 0 (soft) and 0 (hard)" \
	"0 0" "$(awk '/^Max core file size/ { print $5, $6 }' "/proc/$APID/limits")"

# A process that is not dumpable has its /proc files owned by root, and
# ptrace access checks (ptrace, /proc/PID/mem, environ) fail even for
# its own uid: this is what keeps a same-uid attacker out of the keys.
expect_eq "not dumpable: /proc/PID/environ is owned by root" \
	"root" "$(stat -c %U "/proc/$APID/environ" 2>&1)"
expect_eq "not dumpable: /proc/PID/mem is owned by root" \
	"root" "$(stat -c %U "/proc/$APID/mem" 2>&1)"
expect_fail "$OWNER cannot read the agent's /proc/PID/environ" \
	as_user "$OWNER" cat "/proc/$APID/environ"
run as_user "$OWNER" dd if="/proc/$APID/mem" of=/dev/null bs=1 count=1
if [ "$RC" -ne 0 ] && [ "$RC" -ne 124 ] &&
	printf '%s\n' "$ERR" | grep -q 'Permission denied'; then
	pass "$OWNER cannot open the agent's /proc/PID/mem (permission denied)"
else
	fail "$OWNER cannot open the agent's /proc/PID/mem (permission denied)"
	_show_last dd
fi

ptrace_scope=$(cat /proc/sys/kernel/yama/ptrace_scope 2>/dev/null || echo none)
diag "kernel.yama.ptrace_scope: $ptrace_scope"
if command -v gdb >/dev/null; then
	# Control: the same gdb, as the same user, attaches to an ordinary
	# process of that user (its own child, which Yama scope 1 allows
	# too), so the refusal below is the agent's doing.
	run as_user "$OWNER" env HOME="$UDIR" sh -c \
		'sleep 60 & echo "control=$!"; exec gdb -nx -batch -p "$!" -ex "info proc"'
	cpid=$(printf '%s\n' "$OUT" | sed -n 's/^control=\([0-9][0-9]*\)$/\1/p')
	[ -n "$cpid" ] && kill -TERM "$cpid" 2>/dev/null
	if [ "$RC" -eq 0 ] && [ -n "$cpid" ] &&
		printf '%s\n' "$OUT" | grep -qx "process $cpid"; then
		pass "control: gdb as $OWNER attaches to an ordinary process of $OWNER"
	else
		fail "control: gdb as $OWNER attaches to an ordinary process of $OWNER" \
			"ptrace itself is unavailable here, so the refusal below proves nothing"
		_show_last gdb
	fi
	run as_user "$OWNER" env HOME="$UDIR" gdb -nx -batch -p "$APID" -ex "info proc"
	if printf '%s\n%s\n' "$OUT" "$ERR" | grep -q '^ptrace: Operation not permitted'; then
		pass "gdb -p as $OWNER, the agent's own uid, is refused by ptrace"
	else
		fail "gdb -p as $OWNER, the agent's own uid, is refused by ptrace"
		_show_last gdb -p "$APID"
	fi
else
	fail "control: gdb as $OWNER attaches to an ordinary process of $OWNER" \
		"gdb is not installed (Debian package: gdb)"
	fail "gdb -p as $OWNER, the agent's own uid, is refused by ptrace" \
		"gdb is not installed (Debian package: gdb)"
fi
expect_ok "the agent survives the attempts and still holds the key" \
	agent_has "$OWN_FP"

vmlck=$(awk '$1 == "VmLck:" { print $2 }' "/proc/$APID/status")
diag "VmLck: ${vmlck:-?} kB; $(grep '^Max locked memory' "/proc/$APID/limits")"
if [ "${vmlck:-0}" -gt 0 ]; then
	pass "holding a private key, the agent has locked memory (VmLck ${vmlck} kB)"
else
	fail "holding a private key, the agent has locked memory (VmLck ${vmlck:-?} kB)"
fi

# ======================================================= 2. peer uid check
# The socket is opened to everyone, and its directory made passable, so
# that only the agent's own check can stop the other user.  Exit status 1
# (or 141, SIGPIPE on a connection the agent already closed) shows that
# ssh-add did connect; 2 would mean connect() failed, proving nothing.
chmod 0711 "$UDIR"
chmod 0666 "$USOCK"
run as_user "$OTHER" env SSH_AUTH_SOCK="$USOCK" ssh-add -l
case $RC in
1 | 141) pass "a connection from $OTHER (uid $OTHER_UID) is refused by the agent" ;;
*)	fail "a connection from $OTHER (uid $OTHER_UID) is refused by the agent" \
		"ssh-add exit status $RC (want 1, or 141 for SIGPIPE)"
	_show_last ssh-add -l ;;
esac
expect_lacks "$OTHER learns no identity from the agent" "$OWN_FP" "$OUT$ERR"
expect_fail "$OTHER cannot remove the owner's keys" \
	as_user "$OTHER" env SSH_AUTH_SOCK="$USOCK" ssh-add -D

refusal_logged() {
	grep -Eq "refusing connection from uid $OTHER_UID pid [0-9]+" "$TMP/owner.log"
}
if wait_for 5 refusal_logged; then
	pass "the agent logs the refusal, naming uid $OTHER_UID"
else
	fail "the agent logs the refusal, naming uid $OTHER_UID"
	diag_file "$TMP/owner.log"
fi

run as_user "$OWNER" env SSH_AUTH_SOCK="$USOCK" ssh-add -l
expect_contains "the owner ($OWNER) is still served and sees its key" "$OWN_FP" "$OUT"
run ssh-add -l
expect_contains "root is served by $OWNER's agent" "$OWN_FP" "$OUT"
stop_pid "$APID"
unset SSH_AUTH_SOCK

# ============================================== 3. no secret in a debug log
K=$TMP/keys
mkdir -p "$K"
declare -A SECRET
for t in ed25519 ecdsa rsa; do
	case $t in
	ed25519) gen_key ed25519 "$K/$t" "leak-$t" ;;
	ecdsa) gen_key ecdsa-256 "$K/$t" "leak-$t" ;;
	rsa) gen_key rsa-3072 "$K/$t" "leak-$t" ;;
	esac
	SECRET[$t]=$(key_secrets "$K/$t") || bail_out "cannot read the $t key file"
done

# The numbers read from the files must be the real private keys, or the
# search below would pass on garbage.
ed_pub_hex=$(awk '{ print $2 }' "$K/ed25519.pub" | base64 -d | od -An -v -tx1 |
	tr -d ' \n')
expect_eq "the Ed25519 key read from its file has the file's public key" \
	"${ed_pub_hex: -64}" "$(secret_of public "${SECRET[ed25519]}")"
for t in ecdsa rsa; do
	cp "$K/$t" "$K/$t.pem"
	bounded ssh-keygen -q -p -N '' -P '' -m PEM -f "$K/$t.pem" >/dev/null 2>&1 ||
		bail_out "ssh-keygen cannot write the $t key as PEM"
done
expect_eq "the ECDSA scalar read from its file matches openssl's" \
	"$(openssl_field "$K/ecdsa.pem" priv)" "$(secret_of d "${SECRET[ecdsa]}")"
expect_eq "the RSA d read from its file matches openssl's" \
	"$(openssl_field "$K/rsa.pem" privateExponent | cut -c1-64)" \
	"$(secret_of d "${SECRET[rsa]}")"

STORE=$TMP/store/keystore
PIN=Pin-5c0d47aa-store
BADPIN=Pin-e81f09b3-wrong
SOPIN=SoPin-3b96f10e-recovery
LOCKPW=LockPw-7f3c9e1d-agent
BADPW=LockPw-a81b22e0-wrong
kt() {
	bounded "$KEYTOOL" --store "$STORE" "$@"
}
run kt --pin-fd 3 --so-pin-fd 4 init --label hardening --kdf-cost 10 \
	3<<<"$PIN" 4<<<"$SOPIN"
tap_result "$RC" "kmes-keytool init makes a store (PIN and SO PIN on descriptors)" ||
	_show_last kmes-keytool init
run kt --pin-fd 3 generate -t ed25519 -l leak-store 3<<<"$PIN"
tap_result "$RC" "kmes-keytool generates a key in the store" ||
	_show_last kmes-keytool generate
printf '%s\n' "$OUT" >"$K/store.pub"

make_askpass "$TMP/askpass" "$TMP/answer" "$TMP/askpass.log"
# askpass_ssh_add <answer> <ssh-add args...>: ssh-add reading a
# password or PIN from the askpass program, which answers <answer>.
askpass_ssh_add() {
	printf '%s\n' "$1" >"$TMP/answer"
	shift
	bounded env SSH_ASKPASS="$TMP/askpass" SSH_ASKPASS_REQUIRE=force \
		DISPLAY=:0 ssh-add "$@"
}

DLOG=$TMP/debug.log
DSOCK=$TMP/debug.sock
launch "$DLOG" "$DSOCK" 15 "$AGENT" -d -a "$DSOCK" --store "$STORE" --pin-fd 3 \
	3<<<"$PIN" ||
	{ diag_file "$DLOG"; bail_out "the agent did not start with -d and --store"; }
DPID=$LAUNCHED
export SSH_AUTH_SOCK=$DSOCK
for t in ed25519 ecdsa rsa; do
	expect_ok "debug session: ssh-add adds the $t key" ssh-add "$K/$t"
done
expect_eq "debug session: the agent lists the three keys and the store key" 4 \
	"$(agent_fingerprints | wc -l)"
for t in ed25519 ecdsa rsa store; do
	expect_ok "debug session: ssh-add -T signs with the $t key" \
		ssh-add -T "$K/$t.pub"
done
expect_ok "debug session: ssh-add -x locks with a password" \
	askpass_ssh_add "$LOCKPW" -x
expect_fail "debug session: ssh-add -X with a wrong password fails" \
	askpass_ssh_add "$BADPW" -X
expect_ok "debug session: ssh-add -X with the right password unlocks" \
	askpass_ssh_add "$LOCKPW" -X
expect_fail "debug session: ssh-add -X with a wrong store PIN fails" \
	askpass_ssh_add "$BADPIN" -X
expect_ok "debug session: ssh-add -X with the store PIN unlocks the store" \
	askpass_ssh_add "$PIN" -X
expect_ok "debug session: the store key signs again after its PIN" \
	ssh-add -T "$K/store.pub"
expect_ok "debug session: ssh-add -D removes the added keys" ssh-add -D
stop_pid "$DPID"
unset SSH_AUTH_SOCK

# The log must be a real debug log, or an empty one would pass.
dlog=$(cat "$DLOG")
diag "debug log: $(wc -l <"$DLOG") lines"
expect_match "the debug log has debug lines (new connection ...)" \
	'kmes-agent: new connection from uid 0 pid [0-9]+' "$dlog"
expect_match "the debug log records the signatures" \
	'kmes-agent: signed [0-9]+ bytes with ' "$dlog"
expect_match "the debug log records the lock" 'kmes-agent: agent locked$' "$dlog"
expect_match "the debug log records the failed unlock" \
	'kmes-agent: unlock failed' "$dlog"
expect_match "the debug log records the unlock" 'kmes-agent: agent unlocked$' "$dlog"
expect_match "the debug log records the store unlock" \
	'kmes-agent: keystore "hardening" unlocked' "$dlog"

log_lacks_secret "the debug log holds no trace of the lock password" \
	"$DLOG" "$(text_hex "$LOCKPW")"
log_lacks_secret "the debug log holds no trace of the wrong lock password" \
	"$DLOG" "$(text_hex "$BADPW")"
log_lacks_secret "the debug log holds no trace of the store PIN" \
	"$DLOG" "$(text_hex "$PIN")"
log_lacks_secret "the debug log holds no trace of the wrong store PIN" \
	"$DLOG" "$(text_hex "$BADPIN")"
log_lacks_secret "the debug log holds no trace of the SO PIN" \
	"$DLOG" "$(text_hex "$SOPIN")"
log_lacks_secret "the debug log holds no trace of the Ed25519 seed" \
	"$DLOG" "$(secret_of seed "${SECRET[ed25519]}")"
log_lacks_secret "the debug log holds no trace of the ECDSA private scalar" \
	"$DLOG" "$(secret_of d "${SECRET[ecdsa]}")"
for n in d p q; do
	log_lacks_secret "the debug log holds no trace of the RSA $n" \
		"$DLOG" "$(secret_of "$n" "${SECRET[rsa]}")"
done

# ============================================ 4. memcheck (or sanitizer)
# memory_session <label>: every kind of request an agent at $SSH_AUTH_SOCK
# serves, for a memory checker to watch: add, list, sign, remove, lock and
# unlock, the store's PIN.
memory_session() {
	local t
	for t in ed25519 ecdsa rsa; do
		expect_ok "$1 session: ssh-add adds the $t key" ssh-add "$K/$t"
	done
	expect_eq "$1 session: ssh-add -l lists the three keys and the store key" \
		4 "$(agent_fingerprints | wc -l)"
	for t in ed25519 ecdsa rsa store; do
		expect_ok "$1 session: ssh-add -T signs with the $t key" \
			ssh-add -T "$K/$t.pub"
	done
	expect_ok "$1 session: ssh-add -d removes the ecdsa key" \
		ssh-add -d "$K/ecdsa.pub"
	expect_ok "$1 session: ssh-add -x locks" askpass_ssh_add "$LOCKPW" -x
	expect_fail "$1 session: a wrong password does not unlock" \
		askpass_ssh_add "$BADPW" -X
	expect_ok "$1 session: ssh-add -X unlocks" askpass_ssh_add "$LOCKPW" -X
	expect_ok "$1 session: ssh-add -X with the PIN unlocks the store" \
		askpass_ssh_add "$PIN" -X
	expect_ok "$1 session: ssh-add -D removes the rest" ssh-add -D
}

# stop_status <pid>: SIGTERM a child of ours; STATUS is its exit status,
# or "timeout" if it had to be killed.  (Not for $(...): a subshell
# cannot wait for its parent's children.)
STATUS=
stop_status() {
	kill -TERM "$1"
	if wait_pid_gone "$1" 120; then
		wait "$1"
		STATUS=$?
	else
		kill -KILL "$1" 2>/dev/null
		wait "$1"
		STATUS=timeout
	fi
}

# A sanitizer's runtime and memcheck cannot share a process (the agent
# dies at once under valgrind).  Such a build checks its own memory: run
# the same session without valgrind and read the sanitizer's verdict.
if grep -Eq '__(asan|tsan|msan|hwasan)_init' "$AGENT"; then
	diag "the agent is built with a sanitizer: checking with it, not valgrind"
	SLOG=$TMP/sanitized.log
	SSOCK=$TMP/san.sock
	launch "$SLOG" "$SSOCK" 60 "$AGENT" -D -a "$SSOCK" --store "$STORE" \
		--pin-fd 3 3<<<"$PIN" ||
		{ diag_file "$SLOG"; bail_out "the sanitized agent did not start"; }
	SPID=$LAUNCHED
	pass "sanitizer: the agent starts and answers"
	export SSH_AUTH_SOCK=$SSOCK
	memory_session sanitizer
	unset SSH_AUTH_SOCK
	# LeakSanitizer runs at exit and turns a leak into a non-zero status.
	stop_status "$SPID"
	expect_eq "sanitizer: the agent exits 0 after SIGTERM (no leak)" 0 "$STATUS"
	if grep -Eq 'Sanitizer|runtime error:' "$SLOG"; then
		fail "sanitizer: no sanitizer report in the agent's output"
		diag_file "$SLOG"
	else
		pass "sanitizer: no sanitizer report in the agent's output"
	fi
	done_testing
fi

VG_CHECKS=(
	"memcheck: the agent starts and answers under valgrind"
	"memcheck: the agent exits 0 after SIGTERM"
	"memcheck: valgrind's exit status is not 99 (no error, no definite leak)"
	"memcheck: ERROR SUMMARY reports 0 errors"
	"memcheck: no bytes definitely lost"
)
if ! command -v valgrind >/dev/null; then
	for d in "${VG_CHECKS[@]}"; do
		fail "$d" "valgrind is not installed (Debian package: valgrind)"
	done
	done_testing
fi

# Everything runs some twenty times slower under memcheck.
CMD_TIMEOUT=$((CMD_TIMEOUT * 4))
VLOG=$TMP/valgrind.log
VSOCK=$TMP/vg.sock
if ! launch "$TMP/vg-agent.log" "$VSOCK" 120 \
	valgrind --leak-check=full --errors-for-leak-kinds=definite \
	--error-exitcode=99 --track-fds=no --log-file="$VLOG" \
	"$AGENT" -D -a "$VSOCK" --store "$STORE" --pin-fd 3 3<<<"$PIN"; then
	fail "${VG_CHECKS[0]}"
	diag_file "$TMP/vg-agent.log"
	diag_file "$VLOG"
	done_testing
fi
VPID=$LAUNCHED
pass "${VG_CHECKS[0]}"
export SSH_AUTH_SOCK=$VSOCK
memory_session memcheck
unset SSH_AUTH_SOCK

stop_status "$VPID"
vrc=$STATUS
vg_bad=0
expect_eq "${VG_CHECKS[1]}" 0 "$vrc" || vg_bad=1
if [ "$vrc" != 99 ] && [ "$vrc" != timeout ]; then
	pass "${VG_CHECKS[2]}"
else
	fail "${VG_CHECKS[2]}" "exit status: $vrc"
	vg_bad=1
fi
vlog=$(cat "$VLOG" 2>/dev/null)
expect_match "${VG_CHECKS[3]}" 'ERROR SUMMARY: 0 errors from 0 contexts' "$vlog" ||
	vg_bad=1
if printf '%s\n' "$vlog" | grep -Eq 'definitely lost: 0 bytes|All heap blocks were freed' &&
	! printf '%s\n' "$vlog" | grep -Eq 'definitely lost: [1-9]'; then
	pass "${VG_CHECKS[4]}"
else
	fail "${VG_CHECKS[4]}"
	vg_bad=1
fi
# Valgrind 3.19 does not know mlock2 (325); the secure heap then simply
# stays unlocked under memcheck, which is what this run may accept.
printf '%s\n' "$vlog" | grep -q 'unhandled amd64-linux syscall: 325' &&
	diag "valgrind does not handle mlock2: memory was not locked under memcheck"
if [ "$vg_bad" -ne 0 ]; then
	# The first reports with their stacks, then the summary.
	diag "memcheck reports:"
	grep -E -A14 'Invalid|uninitialised|Conditional jump|Mismatched|are definitely lost' \
		"$VLOG" | head -n 150 | sed 's/^/#   /'
	diag_file "$VLOG"
fi

done_testing
