#!/bin/bash
# ssh-add against the agent under test: every key type, listing, deletion,
# locking, lifetimes, confirmation, usability tests, comment replacement,
# DSA, and destination constraints (-h/-H) enforced on real ssh logins.
#
# Run: AGENT=/usr/bin/ssh-agent bash tests/integration/test-ssh-add.sh

. "$(dirname "$0")/lib.sh"

K=$TMP/keys
mkdir -p "$K"
for t in $KEY_TYPES; do
	gen_key "$t" "$K/$t" "kmes-$t"
done

# ------------------------------------------------------------------ adding
start_agent main

expect_status "a fresh agent reports no identities (ssh-add -l exits 1)" 1 \
	ssh-add -l
expect_eq "a fresh agent says so in ssh-add's words" \
	"The agent has no identities." "$OUT"

for t in $KEY_TYPES; do
	expect_ok "ssh-add adds the $t key" ssh-add "$K/$t"
done

# ------------------------------------------------------------- -l and -L
run ssh-add -l
listing=$OUT
for t in $KEY_TYPES; do
	want=$(ssh-keygen -lf "$K/$t.pub")
	if printf '%s\n' "$listing" | grep -Fxq -- "$want"; then
		pass "ssh-add -l shows the $t key exactly as ssh-keygen -lf does"
	else
		fail "ssh-add -l shows the $t key exactly as ssh-keygen -lf does" \
			"wanted: $want" "listing:" "$listing"
	fi
done
expect_eq "ssh-add -l lists each added key once" \
	"$(echo $KEY_TYPES | wc -w)" "$(printf '%s\n' "$listing" | grep -c SHA256:)"

run ssh-add -l -E md5
listing_md5=$OUT
want=$(for t in $KEY_TYPES; do ssh-keygen -E md5 -lf "$K/$t.pub"; done | sort)
expect_eq "ssh-add -l -E md5 matches ssh-keygen -E md5 -lf" \
	"$want" "$(printf '%s\n' "$listing_md5" | sort)"

run ssh-add -L
public=$OUT
for t in $KEY_TYPES; do
	want=$(cat "$K/$t.pub")
	if printf '%s\n' "$public" | grep -Fxq -- "$want"; then
		pass "ssh-add -L prints the $t public key line identical to its .pub"
	else
		fail "ssh-add -L prints the $t public key line identical to its .pub" \
			"wanted: $want" "got:" "$public"
	fi
done

# -------------------------------------------------------------------- -T
for t in $KEY_TYPES; do
	expect_ok "ssh-add -T: the agent signs with the $t key" \
		ssh-add -T "$K/$t.pub"
done
gen_key ed25519 "$TMP/absent" absent
expect_fail "ssh-add -T fails for a key the agent does not hold" \
	ssh-add -T "$TMP/absent.pub"

# -------------------------------------------------------------- -d and -D
victim=ecdsa-384
victim_fp=$(fingerprint "$K/$victim.pub")
expect_ok "ssh-add -d accepts a held key" ssh-add -d "$K/$victim.pub"
expect_eq "ssh-add -d removes that key" "" "$(agent_fingerprints | grep -Fx -- "$victim_fp")"
left=$(agent_fingerprints | sort)
want=$(for t in $KEY_TYPES; do
	[ "$t" = "$victim" ] || fingerprint "$K/$t.pub"
done | sort)
expect_eq "ssh-add -d removes only that key" "$want" "$left"
expect_fail "ssh-add -T no longer works for the removed key" \
	ssh-add -T "$K/$victim.pub"
expect_fail "ssh-add -d of a key the agent does not hold fails" \
	ssh-add -d "$K/$victim.pub"

expect_ok "ssh-add -D succeeds" ssh-add -D
expect_ok "ssh-add -D removes every key" agent_empty
expect_fail "no key signs after ssh-add -D" ssh-add -T "$K/ed25519.pub"

# ------------------------------------------------------ comment replacement
cp "$K/ed25519" "$TMP/recomment"
cp "$K/ed25519.pub" "$TMP/recomment.pub"
ssh-keygen -q -c -C first -P '' -f "$TMP/recomment" >/dev/null </dev/null ||
	bail_out "ssh-keygen -c failed"
expect_ok "ssh-add accepts a key with comment 'first'" ssh-add "$TMP/recomment"
ssh-keygen -q -c -C second -P '' -f "$TMP/recomment" >/dev/null </dev/null ||
	bail_out "ssh-keygen -c failed"
expect_ok "ssh-add accepts the same key again with comment 'second'" \
	ssh-add "$TMP/recomment"
run ssh-add -l
expect_eq "re-adding a key keeps a single entry and replaces its comment" \
	"$(ssh-keygen -lf "$TMP/recomment.pub")" "$OUT"
ssh-add -D >/dev/null 2>&1

# ----------------------------------------------------------- lock / unlock
LOCK_ANSWER=$TMP/lock-answer
make_askpass "$TMP/askpass-lock" "$LOCK_ANSWER" "$TMP/askpass-lock.log"
# ssh-add reads lock passwords through SSH_ASKPASS when forced to.
askpass_ssh_add() {
	SSH_ASKPASS=$TMP/askpass-lock SSH_ASKPASS_REQUIRE=force DISPLAY=:0 \
		bounded ssh-add "$@"
}
ssh-add "$K/ed25519" "$K/rsa-3072" 2>/dev/null || bail_out "cannot add keys"
before_lock=$(agent_fingerprints | sort)
echo data >"$TMP/data"

echo 'correct horse' >"$LOCK_ANSWER"
expect_ok "ssh-add -x locks the agent with a password" askpass_ssh_add -x
expect_ok "while locked, ssh-add -l shows no identities" agent_empty
run ssh-add -L
expect_eq "while locked, ssh-add -L shows no identities" \
	"The agent has no identities." "$OUT"
expect_fail "while locked, the agent refuses to sign" \
	sign_with_agent "$K/ed25519.pub" "$TMP/data"
expect_fail "while locked, ssh-add -T fails" ssh-add -T "$K/rsa-3072.pub"
expect_fail "while locked, the agent refuses new keys" ssh-add "$K/ecdsa-256"
expect_fail "while locked, ssh-add -D is refused" ssh-add -D
expect_fail "locking an already locked agent fails" askpass_ssh_add -x
echo 'wrong horse' >"$LOCK_ANSWER"
expect_fail "ssh-add -X with the wrong password fails" askpass_ssh_add -X
expect_ok "after a wrong password the agent stays locked" agent_empty
echo 'correct horse' >"$LOCK_ANSWER"
expect_ok "ssh-add -X with the right password unlocks" askpass_ssh_add -X
expect_eq "unlocking restores exactly the keys held before the lock" \
	"$before_lock" "$(agent_fingerprints | sort)"
expect_ok "after unlocking the agent signs again" \
	sign_with_agent "$K/ed25519.pub" "$TMP/data"
expect_fail "ssh-add -X on an unlocked agent fails" askpass_ssh_add -X
expect_ok "the key refused while locked was not added behind our back" \
	agent_lacks "$(fingerprint "$K/ecdsa-256.pub")"
ssh-add -D >/dev/null 2>&1

# --------------------------------------------------------------- lifetime
# now_ms: wall clock in milliseconds, to bound how early a key vanished.
now_ms() {
	local t=${EPOCHREALTIME/./}
	echo $((t / 1000))
}
timed_fp=$(fingerprint "$K/ecdsa-256.pub")
keep_fp=$(fingerprint "$K/ed25519.pub")
ssh-add "$K/ed25519" 2>/dev/null || bail_out "cannot add key"
t0=$(now_ms)
expect_ok "ssh-add -t 3 adds a key with a lifetime" ssh-add -t 3 "$K/ecdsa-256"
expect_ok "a key with a lifetime is listed right after adding" agent_has "$timed_fp"
if wait_for 20 agent_lacks "$timed_fp"; then
	pass "a key added with -t 3 is removed once its lifetime expires"
else
	fail "a key added with -t 3 is removed once its lifetime expires"
fi
# OpenSSH keeps deadlines in whole seconds of a monotonic clock, so a key
# may go up to one second before its nominal lifetime, never earlier.
elapsed=$(($(now_ms) - t0))
if [ "$elapsed" -ge 2000 ]; then
	pass "a key with a 3 s lifetime is not removed early"
else
	fail "a key with a 3 s lifetime is not removed early" "gone after ${elapsed} ms"
fi
expect_fail "sign refused after lifetime expires" \
	sign_with_agent "$K/ecdsa-256.pub" "$TMP/data"
expect_ok "expiry removes only the key that had a lifetime" agent_has "$keep_fp"
ssh-add -D >/dev/null 2>&1

# ---------------------------------------------------------- confirmation
# The agent (not ssh-add) runs SSH_ASKPASS for -c keys, so the askpass
# program goes into the agent's environment.
CONFIRM_ANSWER=$TMP/confirm-answer
CONFIRM_LOG=$TMP/askpass-confirm.log
make_askpass "$TMP/askpass-confirm" "$CONFIRM_ANSWER" "$CONFIRM_LOG"
AGENT_ENV=(SSH_ASKPASS="$TMP/askpass-confirm" DISPLAY=:0)
start_agent confirm
AGENT_ENV=()
confirm_fp=$(fingerprint "$K/ed25519.pub")
: >"$CONFIRM_LOG"
expect_ok "ssh-add -c adds a key that needs confirmation" ssh-add -c "$K/ed25519"
expect_ok "ssh-add accepts a second key without -c" ssh-add "$K/ecdsa-521"
expect_eq "adding a -c key asks nothing yet" "" "$(cat "$CONFIRM_LOG")"

echo yes >"$CONFIRM_ANSWER"
expect_ok "a -c key signs when the user answers yes" \
	sign_with_agent "$K/ed25519.pub" "$TMP/data"
expect_ok "the yes-confirmed signature verifies" \
	check_sig "$K/ed25519.pub" "$TMP/data"
expect_match "the confirmation runs askpass with SSH_ASKPASS_PROMPT=confirm" \
	'^SSH_ASKPASS_PROMPT=confirm$' "$(cat "$CONFIRM_LOG")"
expect_eq "the confirmation prompt is a single askpass argument" \
	"argc=1" "$(grep '^argc=' "$CONFIRM_LOG")"
expect_contains "the confirmation prompt names the key fingerprint" \
	"$confirm_fp" "$(cat "$CONFIRM_LOG")"
expect_eq "askpass ran once for one signature" 1 \
	"$(grep -c '^SSH_ASKPASS_PROMPT=' "$CONFIRM_LOG")"

: >"$CONFIRM_LOG"
echo no >"$CONFIRM_ANSWER"
expect_fail "a -c key refuses to sign when the user answers no" \
	sign_with_agent "$K/ed25519.pub" "$TMP/data"
expect_fail "ssh-add -T fails for a -c key when the user answers no" \
	ssh-add -T "$K/ed25519.pub"
expect_eq "each refused use asked the user" 2 \
	"$(grep -c '^SSH_ASKPASS_PROMPT=confirm$' "$CONFIRM_LOG")"

: >"$CONFIRM_LOG"
expect_ok "a key added without -c signs without asking" \
	ssh-add -T "$K/ecdsa-521.pub"
expect_eq "no askpass ran for the key added without -c" "" "$(cat "$CONFIRM_LOG")"
stop_pid "$AGENT_PID"
export SSH_AUTH_SOCK=$TMP/main.sock

# -------------------------------------------------------------------- DSA
# OpenSSH 9.2's ssh-keygen still makes DSA keys and its ssh-agent still
# holds them; kmes-agent refuses DSA outright (1024-bit, SHA-1 only).
if ssh-keygen -q -t dsa -N '' -C kmes-dsa -f "$TMP/dsa" </dev/null >/dev/null 2>&1; then
	pass "ssh-keygen can make a DSA key to offer the agent"
else
	fail "ssh-keygen can make a DSA key to offer the agent" \
		"OpenSSH 9.2 is expected to support ssh-keygen -t dsa"
fi
dsa_fp=$(fingerprint "$TMP/dsa.pub")
if kmes; then
	expect_fail "adding a DSA key fails" ssh-add "$TMP/dsa"
	expect_ok "a refused DSA key is not listed" agent_lacks "$dsa_fp"
	expect_fail "a refused DSA key cannot sign" ssh-add -T "$TMP/dsa.pub"
else
	expect_ok "reference ssh-agent 9.2 accepts a DSA key (kmes-agent refuses: KMES=1)" \
		ssh-add "$TMP/dsa"
	expect_ok "reference ssh-agent 9.2 lists the DSA key" agent_has "$dsa_fp"
fi
expect_ok "the agent still serves after the DSA request" ssh-add "$K/ed25519"
ssh-add -D >/dev/null 2>&1

# ------------------------------------------- destination constraints (-h/-H)
start_sshd
D=$TMP/dest
mkdir -p "$D"
for k in allowed elsewhere hopper wronguser; do
	gen_key ed25519 "$D/$k" "dest-$k"
done
authorize "$D"/*.pub
gen_key ed25519 "$TMP/other-host" other-host
# ssh-add -h looks names up in known_hosts files; the agent then binds the
# key to the host key found there, whatever name ssh uses to connect.
{
	echo "kmes-allowed $(cat "$SSHD_HOSTKEY")"
	echo "kmes-other $(cat "$TMP/other-host.pub")"
} >"$TMP/dest_known_hosts"
H=(-H "$TMP/dest_known_hosts")

expect_fail "ssh-add -h refuses a host missing from the -H known_hosts file" \
	ssh-add "${H[@]}" -h kmes-nosuch "$D/allowed"
expect_fail "ssh-add -h without -H does not find a host only the -H file names" \
	ssh-add -h kmes-allowed "$D/allowed"
expect_ok "ssh-add -H file -h host adds a key constrained to that host" \
	ssh-add "${H[@]}" -h kmes-allowed "$D/allowed"
expect_ok "ssh-add -h adds a key constrained to another host" \
	ssh-add "${H[@]}" -h kmes-other "$D/elsewhere"
expect_ok "ssh-add -h accepts a forwarding hop constraint (a>b)" \
	ssh-add "${H[@]}" -h kmes-allowed -h 'kmes-allowed>kmes-allowed' "$D/hopper"
expect_ok "ssh-add -h accepts a user@host constraint" \
	ssh-add "${H[@]}" -h "nobody@kmes-allowed" "$D/wronguser"
rm -f "$D/allowed" "$D/elsewhere" "$D/hopper" "$D/wronguser"

run ssh-add -l
for k in allowed elsewhere hopper wronguser; do
	expect_contains "destination-constrained key '$k' is listed to the local user" \
		"$(fingerprint "$D/$k.pub")" "$OUT"
done
expect_fail "a destination-constrained key will not sign on an unbound local connection" \
	sign_with_agent "$D/allowed.pub" "$TMP/data"

expect_ok "ssh through the constraint works for the allowed host" \
	ssh_test -i "$D/allowed.pub" kmes-test true
expect_fail "a key constrained to another host is refused for this one" \
	ssh_test -i "$D/elsewhere.pub" kmes-test true
expect_fail "a key constrained to another user is refused for this user" \
	ssh_test -i "$D/wronguser.pub" kmes-test true
remote="ssh -F $SSH_CONFIG -i $D/allowed.pub kmes-test echo second-hop"
expect_fail "a key without a hop constraint cannot be used through a forwarded agent" \
	ssh_test -A -i "$D/allowed.pub" kmes-test "$remote"
remote="ssh -F $SSH_CONFIG -i $D/hopper.pub kmes-test echo second-hop"
run ssh_test -A -i "$D/hopper.pub" kmes-test "$remote"
expect_eq "a key with an allowed>allowed hop works through the forwarded agent" \
	"second-hop" "$OUT"
run ssh_test -A -i "$D/hopper.pub" kmes-test 'ssh-add -l'
forwarded=$OUT
expect_contains "the forwarded agent offers the key whose hop is permitted" \
	"$(fingerprint "$D/hopper.pub")" "$forwarded"
expect_lacks "the forwarded agent hides keys not permitted past the first hop" \
	"$(fingerprint "$D/allowed.pub")" "$forwarded"

done_testing
