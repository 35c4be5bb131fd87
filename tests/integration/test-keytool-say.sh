#!/bin/bash
# kmes-keytool tells the user what it did and asks before what cannot be
# undone: one line with the label and fingerprint after init, import,
# rename, delete, passwd and unblock; a key already in the store (under
# any label) is not imported twice; delete asks on a terminal (no means
# nothing deleted, --yes answers for scripts); the PIN prompt names the
# store and the tries left.
#
# Run: AGENT=build/src/kmes-agent KEYTOOL=build/src/keytool/kmes-keytool \
#	bash tests/integration/test-keytool-say.sh

. "$(dirname "$0")/lib.sh"

kmes || { pass "# SKIP kmes-keytool is kmes-agent's"; done_testing; exit 0; }
require expect
. "$(dirname "$0")/store.sh"

store_init say
expect_eq "init succeeds" 0 "$RC"
expect_contains "init says which store it made" \
	"created key store 'say' at $STORE" "$ERR"

gen_key ed25519 "$TMP/id" say-key
FP=$(fingerprint "$TMP/id.pub")
run kt_pin --passphrase-fd 4 import -l first "$TMP/id" 4<<<""
expect_eq "import succeeds" 0 "$RC"
expect_contains "import names the key's type, fingerprint and label" \
	"imported ED25519 $FP as 'first'" "$ERR"
expect_eq "import keeps stdout for data (empty)" "" "$OUT"
run kt_pin --passphrase-fd 4 import -l second "$TMP/id" 4<<<""
expect_eq "the same key is not imported twice" 1 "$RC"
expect_contains "the refusal names the label it has" \
	"already in the store as 'first'" "$ERR"
expect_eq "the store still holds one key" 1 "$(kt list | grep -c "$FP")"

run kt_pin rename first work
expect_eq "rename succeeds" 0 "$RC"
expect_contains "rename says what it did" "renamed key 'first' to 'work'" \
	"$ERR"
expect_contains "the key is listed under its new label" "$FP work" \
	"$(kt list)"
run kt_pin rename nosuch other
expect_eq "renaming a missing label fails" 1 "$RC"

# ---------------------------------------------- delete asks on a terminal
cat >"$TMP/delete.exp" <<'EXP'
set timeout 30
spawn sh -c $env(TTY_CMD)
expect {
	-re {Delete key 'work' \(ED25519 SHA256:[^)]*\) from key store 'say'\? It cannot be undone\. \[y/N\] } {
		send "$env(TTY_ANSWER)\r"
	}
	timeout { exit 20 }
	eof { exit 21 }
}
if {$env(TTY_ANSWER) eq "y"} {
	expect {
		-re {Enter the PIN of key store 'say' \(10 tries left\): } {
			send "$env(TTY_PIN)\r"
		}
		timeout { exit 22 }
		eof { exit 23 }
	}
}
expect eof
catch wait result
exit [lindex $result 3]
EXP
printf -v CMD '%q ' "$KEYTOOL" --store "$STORE" delete work
TTY_CMD="exec $CMD" TTY_ANSWER=n TTY_PIN=$PIN run expect -f "$TMP/delete.exp"
expect_eq "on a terminal, 'n' to the question deletes nothing (exit 1)" 1 "$RC"
expect_contains "the key is still there after a no" "$FP work" "$(kt list)"
TTY_CMD="exec $CMD" TTY_ANSWER=y TTY_PIN=$PIN run expect -f "$TMP/delete.exp"
expect_eq "on a terminal, 'y' then the PIN (prompt names store and tries) deletes" \
	0 "$RC"
expect_lacks "the key is gone after a yes" "$FP" "$(kt list)"

run kt_pin --passphrase-fd 4 import -l again "$TMP/id" 4<<<""
printf '%s\n' "$PIN" >"$TMP/pin"
TTY_CMD="exec $(printf '%q ' "$KEYTOOL" --store "$STORE" --pin-fd 3 delete --yes again) 3<$(printf '%q' "$TMP/pin")" \
	TTY_ANSWER=x TTY_PIN=$PIN run expect -c '
set timeout 30
spawn sh -c $env(TTY_CMD)
expect {
	-re {\[y/N\]} { exit 30 }
	eof
}
catch wait result
exit [lindex $result 3]'
expect_eq "delete --yes on a terminal asks nothing and deletes" 0 "$RC"
expect_lacks "the key deleted with --yes is gone" "$FP" "$(kt list)"
run kt_pin --passphrase-fd 4 import -l script "$TMP/id" 4<<<""
run kt_pin delete script
expect_eq "without a terminal (a script), delete does not ask" 0 "$RC"
expect_contains "delete says what it deleted" \
	"deleted key 'script' (ED25519 $FP)" "$ERR"

# ------------------------ a new PIN's length is checked before the repeat
cat >"$TMP/init.exp" <<'EXP'
set timeout 30
spawn sh -c $env(TTY_CMD)
proc answer {re text code} {
	expect {
		-re $re { send "$text\r" }
		timeout { exit $code }
		eof { exit [expr {$code + 1}] }
	}
}
answer {Enter a PIN for the new key store: } "12" 40
expect {
	-re {It must be 4 to 256 characters long\.} {}
	timeout { exit 42 }
	eof { exit 43 }
}
# No repeat was asked for the short one: the first prompt comes again.
expect {
	-re {Enter the same again} { exit 44 }
	-re {Enter a PIN for the new key store: } { send "$env(TTY_PIN)\r" }
	timeout { exit 45 }
}
answer {Enter the same again: } $env(TTY_PIN) 46
answer {Enter an SO \(recovery\) PIN: } $env(TTY_SOPIN) 48
answer {Enter the same again: } $env(TTY_SOPIN) 50
expect eof
catch wait result
exit [lindex $result 3]
EXP
printf -v CMD '%q ' "$KEYTOOL" --store "$TMP/store2" init --kdf-cost 10
TTY_CMD="exec $CMD" TTY_PIN=$PIN TTY_SOPIN=$SOPIN run expect -f "$TMP/init.exp"
expect_eq "a too short new PIN is refused before it is repeated, then init goes on" \
	0 "$RC"
[ -s "$TMP/store2" ]
expect_eq "the store was made with the PIN given after the short one" 0 "$?"

# ------------------------------------------------------- passwd, unblock
NEWPIN=135792
run kt --pin-fd 3 --new-pin-fd 4 passwd 3<<<"$PIN" 4<<<"$NEWPIN"$'\n'"$NEWPIN"
expect_eq "passwd succeeds" 0 "$RC"
expect_contains "passwd says so" "changed the PIN of key store 'say'" "$ERR"
run kt --so-pin-fd 3 --new-pin-fd 4 unblock 3<<<"$SOPIN" 4<<<"$PIN"$'\n'"$PIN"
expect_eq "unblock succeeds" 0 "$RC"
expect_contains "unblock says what it reset" \
	"unblocked key store 'say': new PIN set, 10 tries" "$ERR"

# ------------------------------------------------------------ the SO PIN
expect_contains "info shows the SO PIN's tries" "so-pin-tries-left: 10" \
	"$(kt info)"
run kt --so-pin-fd 3 --new-pin-fd 4 unblock 3<<<"00000000" \
	4<<<"$PIN"$'\n'"$PIN"
expect_eq "a wrong SO PIN: exit 3" 3 "$RC"
expect_contains "a wrong SO PIN says how many tries remain" \
	"wrong SO PIN: 9 tries left before the SO PIN is blocked for good" "$ERR"
expect_contains "info counts the SO PIN failure" "so-pin-failures: 1" \
	"$(kt info)"
NEWSO=24681357
run kt --so-pin-fd 3 --new-pin-fd 4 so-passwd 3<<<"$SOPIN" \
	4<<<"$NEWSO"$'\n'"$NEWSO"
expect_eq "so-passwd with the SO PIN succeeds" 0 "$RC"
expect_contains "so-passwd says so" "changed the SO PIN of key store 'say'" \
	"$ERR"
expect_contains "so-passwd clears the SO failures" "so-pin-tries-left: 10" \
	"$(kt info)"
run kt --so-pin-fd 3 --new-pin-fd 4 unblock 3<<<"$SOPIN" \
	4<<<"$PIN"$'\n'"$PIN"
expect_eq "the old SO PIN no longer unblocks" 3 "$RC"
run kt --so-pin-fd 3 --new-pin-fd 4 unblock 3<<<"$NEWSO" \
	4<<<"$PIN"$'\n'"$PIN"
expect_eq "the new SO PIN unblocks" 0 "$RC"

done_testing
