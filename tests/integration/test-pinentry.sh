#!/bin/bash
# PINs through pinentry programs: kmes-agent --pin without a terminal asks a
# pinentry (--pinentry, or "pinentry" on PATH) and falls back to
# SSH_ASKPASS; the running agent asks a pinentry when a locked store key
# must sign. The scripted fake (tests/support/fake-pinentry.c) logs what it
# is told and misbehaves on request; a real pinentry-tty runs under expect.
#
# Run: AGENT=build/src/kmes-agent KEYTOOL=build/src/keytool/kmes-keytool \
#      FAKE_PINENTRY=build/tests/support/fake-pinentry KMES=1 \
#      bash tests/integration/test-pinentry.sh

. "$(dirname "$0")/lib.sh"

[ -n "${KEYTOOL:-}" ] || bail_out "KEYTOOL is not set"
[ -x "${FAKE_PINENTRY:-}" ] || bail_out "FAKE_PINENTRY is not an executable"
kmes || bail_out "this test is for kmes-agent (KMES=1)"
require setsid expect pgrep

STORE=$TMP/store/keystore
PIN=246813
SOPIN=97531864
# '%' (with what looks like an escape after it), spaces, UTF-8.
WEIRD='50% off %0A ünïcødé pin'
FAKE=$FAKE_PINENTRY
SETSID=$(command -v setsid)

run bounded "$KEYTOOL" --store "$STORE" --pin-fd 3 --so-pin-fd 4 init \
	--label work --kdf-cost 10 3<<<"$PIN" 4<<<"$SOPIN"
tap_result "$RC" "kmes-keytool init makes a store" || _show_last init
run bounded "$KEYTOOL" --store "$STORE" --pin-fd 3 generate -t ed25519 \
	-l k-ed25519 3<<<"$PIN"
tap_result "$RC" "generate a store key" || _show_last generate
printf '%s\n' "$OUT" >"$TMP/k-ed25519.pub"
printf 'data to sign\n' >"$TMP/data"

# The fake's script and log.
PE_LOG=$TMP/pe.log
PE_ANS=$TMP/pe.answers
export FAKE_PINENTRY_LOG=$PE_LOG FAKE_PINENTRY_ANSWERS=$PE_ANS
# answers <answer...>: the fake's next GETPINs, in order; clears its log.
answers() {
	printf '%s\n' "$@" >"$PE_ANS"
	rm -f "$PE_ANS.next"
	: >"$PE_LOG"
}
pe_log() { cat "$PE_LOG" 2>/dev/null; }

# PATH directories: one whose "pinentry" is the fake, one without any
# pinentry (Debian's /usr/bin/pinentry must not be found there).
mkdir -p "$TMP/pebin" "$TMP/nopin"
ln -s "$FAKE" "$TMP/pebin/pinentry"
for p in head cat sh; do
	ln -s "$(command -v "$p")" "$TMP/nopin/$p"
done

make_askpass "$TMP/askpass" "$TMP/askpass.answer" "$TMP/askpass.log"
printf '%s\n' "$PIN" >"$TMP/askpass.answer"

DPID=
# daemon <name> [env assignments...] -- [agent options...]: "kmes-agent -s
# --store --pin" in a new session (no terminal), stdin /dev/null; remembers
# the daemon's pid in DPID.
daemon() {
	local name=$1 envs=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		envs+=("$1")
		shift
	done
	shift
	DPID=
	run env ${envs[@]+"${envs[@]}"} "$SETSID" -w "$AGENT" -s \
		-a "$TMP/$name.sock" --store "$STORE" --pin "$@"
	DPID=$(printf '%s\n' "$OUT" |
		sed -n 's/^SSH_AGENT_PID=\([0-9]*\);.*/\1/p')
	[ -n "$DPID" ] && register_pid "$DPID"
	return 0
}

stop_daemon() {
	[ -n "$DPID" ] && stop_pid "$DPID"
	DPID=
}

no_socket() {
	[ ! -e "$TMP/$1.sock" ] && echo none || echo left
}

# Only this test's fakes count (they carry its FAKE_PINENTRY_LOG): another
# suite running on the machine has fake pinentries of its own.
no_fake_left() {
	local p
	for p in $(pgrep -u "$(id -u)" -x fake-pinentry); do
		tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null |
			grep -qxF "FAKE_PINENTRY_LOG=$PE_LOG" && return 1
	done
	return 0
}

# ------------------------------------------------ start-time (no terminal)

answers "$PIN"
daemon ok -- --pinentry "$FAKE"
tap_result "$RC" "--pin with --pinentry and no terminal: the agent starts" ||
	_show_last daemon ok
expect_contains "the keystore key is listed" "k-ed25519" \
	"$(SSH_AUTH_SOCK=$TMP/ok.sock bounded ssh-add -l 2>&1)"
export SSH_AUTH_SOCK=$TMP/ok.sock
expect_ok "the unlocked store key signs (ssh-keygen -Y sign)" \
	sign_with_agent "$TMP/k-ed25519.pub" "$TMP/data"
expect_ok "a signature by the unlocked store key verifies" \
	check_sig "$TMP/k-ed25519.pub" "$TMP/data"
LOG=$(pe_log)
expect_match "the greeting is followed by the texts (SETTITLE)" \
	'^SETTITLE kmes-agent$' "$LOG"
expect_match "SETDESC names the keystore label" \
	"^SETDESC .*keystore 'work'" "$LOG"
expect_match "SETDESC gives the tries left (10)" \
	'^SETDESC .*10 tries left' "$LOG"
expect_match "SETPROMPT is sent" '^SETPROMPT PIN:' "$LOG"
expect_match "GETPIN is asked once" '^GETPIN$' "$LOG"
expect_match "the session ends with BYE" '^BYE$' "$LOG"
expect_lacks "no OPTION allow-external-password-cache (no keyring caching)" \
	"allow-external-password-cache" "$LOG"
expect_lacks "no ttyname is sent without a terminal" "ttyname" "$LOG"
expect_lacks "no SETERROR on a first try" "SETERROR" "$LOG"
expect_no_match "SETDESC is one line (newlines are %-escaped)" \
	'^(Please|[0-9]+ tries)' "$LOG"
stop_daemon

answers 999999 "$PIN"
daemon retry -- --pinentry "$FAKE"
tap_result "$RC" "a wrong PIN, then the right one: the agent starts" ||
	_show_last daemon retry
LOG=$(pe_log)
expect_eq "the pinentry was asked twice" 2 "$(grep -c '^GETPIN$' <<<"$LOG")"
expect_match "the second dialog says the PIN was wrong (SETERROR)" \
	'^SETERROR .*[Ww]rong PIN' "$LOG"
expect_match "the second dialog shows one try fewer (9)" \
	'^SET(DESC|ERROR) .*9 tries left' "$LOG"
expect_contains "stderr says the PIN was wrong" "wrong PIN" "$ERR"
stop_daemon

answers cancel
daemon cancel -- --pinentry "$FAKE"
expect_eq "cancel in the pinentry: exit status 1" 1 "$RC"
expect_match "cancel: the message says so" '[Cc]ancel' "$ERR"
expect_eq "cancel: no daemon (no SSH_AGENT_PID printed)" "" "$DPID"
expect_eq "cancel: no socket left" none "$(no_socket cancel)"
expect_eq "cancel: asked once, not again" 1 \
	"$(grep -c '^GETPIN$' "$PE_LOG")"

# '%', spaces and UTF-8 in a PIN: the fake percent-escapes as pinentry
# does; split over two D lines in the second run.
WSTORE=$TMP/wstore/keystore
run bounded "$KEYTOOL" --store "$WSTORE" --pin-fd 3 --so-pin-fd 4 init \
	--label odd --kdf-cost 10 3<<<"$WEIRD" 4<<<"$SOPIN"
tap_result "$RC" "a store whose PIN has '%', spaces and UTF-8" ||
	_show_last init weird
for a in "$WEIRD" "split:$WEIRD"; do
	answers "$a"
	run "$SETSID" -w "$AGENT" -s -a "$TMP/w.sock" --store "$WSTORE" \
		--pin --pinentry "$FAKE"
	DPID=$(printf '%s\n' "$OUT" |
		sed -n 's/^SSH_AGENT_PID=\([0-9]*\);.*/\1/p')
	[ -n "$DPID" ] && register_pid "$DPID"
	tap_result "$RC" "that PIN unlocks through the pinentry (${a%%:*})" ||
		_show_last weird "$a"
	stop_daemon
done

# Hostile pinentries: a clear error, bounded time, nothing left running.
hostile() {
	local what=$1 want=$2 start
	answers "$what"
	start=$SECONDS
	daemon "h-$what" KMES_PINENTRY_TIMEOUT=2 -- --pinentry "$FAKE"
	expect_eq "pinentry '$what': exit status 1" 1 "$RC" || _show_last
	expect_contains "pinentry '$what': the error says why" "$want" "$ERR"
	expect_eq "pinentry '$what': no socket left" none \
		"$(no_socket "h-$what")"
	expect_ok "pinentry '$what': answered within 20 s" \
		test $((SECONDS - start)) -le 20
	expect_ok "pinentry '$what': the program is gone" \
		wait_for 5 no_fake_left
	stop_daemon
}
hostile hang "no answer from the pinentry in time"
hostile garbage "does not speak the pinentry protocol"
hostile huge "more than the protocol allows"
hostile toolong "more than the protocol allows"
hostile exit "went away before answering"

daemon missing -- --pinentry "$TMP/no-such-pinentry"
expect_eq "a missing pinentry program: exit status 1" 1 "$RC"
expect_contains "a missing pinentry program: the error names it" \
	"no-such-pinentry: the pinentry program could not be run" "$ERR"
expect_eq "a missing pinentry program: no socket left" none \
	"$(no_socket missing)"

# A pinentry that cannot show a dialog gives way to SSH_ASKPASS.
answers notty
: >"$TMP/askpass.log"
daemon notty SSH_ASKPASS="$TMP/askpass" -- --pinentry "$FAKE"
tap_result "$RC" "a pinentry without a display falls back to SSH_ASKPASS" ||
	_show_last daemon notty
expect_contains "SSH_ASKPASS was asked for the keystore PIN" \
	"Enter PIN for keystore 'work'" "$(cat "$TMP/askpass.log")"
stop_daemon

# "pinentry" on PATH, no terminal, no --pinentry.
answers "$PIN"
daemon path PATH="$TMP/pebin:$PATH" --
tap_result "$RC" "a pinentry found on PATH is used without a terminal" ||
	_show_last daemon path
expect_match "the PATH pinentry was asked" '^GETPIN$' "$(pe_log)"
stop_daemon

# No pinentry anywhere, SSH_ASKPASS set: askpass.
answers "$PIN"
: >"$TMP/askpass.log"
daemon nopin PATH="$TMP/nopin" SSH_ASKPASS="$TMP/askpass" --
tap_result "$RC" "no pinentry on PATH: SSH_ASKPASS supplies the PIN" ||
	_show_last daemon nopin
expect_contains "the askpass prompt names the store and the tries" \
	"Enter PIN for keystore 'work' (10 tries left)" \
	"$(cat "$TMP/askpass.log")"
expect_eq "the fake pinentry was not run" "" "$(pe_log)"
stop_daemon

# ---------------------------------------------- runtime (agent running)

# sign_store: ssh-keygen -Y sign with the store key through the agent.
sign_store() {
	sign_with_agent "$TMP/k-ed25519.pub" "$TMP/data"
}

answers "$PIN"
AGENT_ENV=(DISPLAY=:99 PATH="$TMP/pebin:$PATH")
start_agent rt --store "$STORE"
AGENT_ENV=()
expect_ok "runtime: a locked store key signs after the PATH pinentry" \
	sign_store
expect_ok "runtime: the signature verifies" \
	check_sig "$TMP/k-ed25519.pub" "$TMP/data"
LOG=$(pe_log)
expect_match "runtime: SETDESC names the keystore and the key" \
	"^SETDESC .*k-ed25519.*keystore 'work'" "$LOG"
expect_match "runtime: SETDESC gives the tries left" \
	'^SETDESC .*10 tries left' "$LOG"
expect_match "runtime: the dialog has a timeout (SETTIMEOUT)" \
	'^SETTIMEOUT [0-9]+$' "$LOG"
expect_lacks "runtime: no allow-external-password-cache" \
	"allow-external-password-cache" "$LOG"
answers "$PIN"
expect_ok "runtime: once unlocked, no further dialog" sign_store
expect_eq "runtime: the pinentry was not run again" "" "$(pe_log)"
stop_pid "$AGENT_PID"

answers 999999 "$PIN"
start_agent rt2 --store "$STORE" --pinentry "$FAKE"
expect_ok "runtime: a wrong PIN is asked again, then the key signs" \
	sign_store
expect_match "runtime: the second dialog says the PIN was wrong" \
	'^SETERROR Wrong PIN \(9 tries left\)' "$(pe_log)"
stop_pid "$AGENT_PID"

answers 111111 222222 "$PIN"
start_agent rt3 --store "$STORE" --pinentry "$FAKE"
expect_fail "runtime: two wrong PINs refuse the signature" sign_store
expect_eq "runtime: the user is asked at most twice per request" 2 \
	"$(grep -c '^GETPIN$' "$PE_LOG")"
answers "$PIN"
expect_ok "runtime: a later request asks again and signs" sign_store
stop_pid "$AGENT_PID"

answers cancel
: >"$TMP/askpass.log"
AGENT_ENV=(SSH_ASKPASS="$TMP/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=:99)
start_agent rt4 --store "$STORE" --pinentry "$FAKE"
expect_fail "runtime: cancel refuses the signature" sign_store
expect_eq "runtime: a cancel does not fall back to askpass" "" \
	"$(cat "$TMP/askpass.log")"
answers notty
expect_ok "runtime: a pinentry without a display falls back to askpass" \
	sign_store
expect_contains "runtime: askpass was asked" "Enter PIN for keystore" \
	"$(cat "$TMP/askpass.log")"
stop_pid "$AGENT_PID"

answers hang
AGENT_ENV=(KMES_PINENTRY_TIMEOUT=1)
start_agent rt5 --store "$STORE" --pinentry "$FAKE"
AGENT_ENV=()
start=$SECONDS
expect_fail "runtime: a hanging pinentry refuses the signature" sign_store
expect_ok "runtime: ...within the dialog timeout plus grace (20 s)" \
	test $((SECONDS - start)) -le 20
expect_ok "runtime: the hung pinentry was killed" wait_for 5 no_fake_left
expect_ok "runtime: the agent still answers" agent_answers "$SSH_AUTH_SOCK"
expect_contains "runtime: the log says why" \
	"no answer from the pinentry in time" "$(cat "$TMP/rt5.log")"
answers hang
sign_store >/dev/null 2>&1 &
spid=$!
register_pid "$spid"
wait_for 10 grep -q '^GETPIN$' "$PE_LOG"
stime=$SECONDS
stop_pid "$AGENT_PID"
expect_ok "runtime: the agent stops promptly while a dialog is open" \
	test $((SECONDS - stime)) -le 8
expect_ok "runtime: ...and the pinentry is gone too" wait_for 5 no_fake_left

# -------------------------------------------- a real pinentry-tty (pty)

if [ -x /usr/bin/pinentry-tty ]; then
	agent_on_tty tty "keystore 'work'.*10 tries left.*PIN:" "$PIN" \
		--store "$STORE" --pin --pinentry /usr/bin/pinentry-tty
	tap_result "$RC" "pinentry-tty on a terminal shows the store and tries; the PIN typed unlocks" ||
		_show_last expect
	tpid=$TTY_AGENT_PID
	expect_ok "pinentry-tty: the store key signs" \
		env SSH_AUTH_SOCK="$TMP/tty.sock" ssh-add -T "$TMP/k-ed25519.pub"
	[ -n "$tpid" ] && stop_pid "$tpid"
else
	fail "pinentry-tty is installed (.ci/deps)"
fi

done_testing
