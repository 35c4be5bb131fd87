#!/bin/bash
# libkmes-pkcs11.so driven by real PKCS#11 clients, on a store made by
# kmes-keytool: ssh-keygen -D, ssh -I into a private sshd, ssh-add -s into
# OpenSSH's own ssh-agent, pkcs11-tool (listing, signing checked with
# openssl, key generation and deletion seen by kmes-keytool), p11tool,
# p11-kit's proxy with the module registered in a user configuration,
# PyKCS11, a running kmes-agent seeing the module's writes, and the PIN
# counter (wrong PIN, lockout flags, CKR_PIN_LOCKED).
# A missing client is a failure (bail out), never a skip.
#
# Run: KEYTOOL=build/src/keytool/kmes-keytool AGENT=build/src/kmes-agent \
#	PKCS11_MODULE=build/keystore/pkcs11/libkmes-pkcs11.so \
#	bash tests/integration/pkcs11/test-pkcs11-module.sh

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../lib.sh"

abspath() {
	case $1 in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s/%s\n' "$PWD" "$1" ;;
	esac
}

[ -n "${KEYTOOL:-}" ] || bail_out "KEYTOOL must name the kmes-keytool under test"
[ -n "${PKCS11_MODULE:-}" ] || bail_out "PKCS11_MODULE must name libkmes-pkcs11.so"
KEYTOOL=$(abspath "$KEYTOOL")
MODULE=$(abspath "$PKCS11_MODULE")
[ -x "$KEYTOOL" ] || bail_out "KEYTOOL is not an executable: $KEYTOOL"
[ -r "$MODULE" ] || bail_out "no module at $MODULE"
PROXY=/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so
PYTHON=/usr/bin/python3
require pkcs11-tool p11tool p11-kit openssl xxd base64 sha256sum setpriv \
	ssh-agent "$PYTHON"
[ -r "$PROXY" ] || bail_out "p11-kit-proxy.so not found at $PROXY"
"$PYTHON" -c 'import PyKCS11, cryptography' 2>/dev/null ||
	bail_out "python3-pykcs11 and python3-cryptography are required"
diag "module under test: $MODULE"
preload_sanitizer_of "$MODULE"

PIN=4321-pin
SOPIN=so-pin-8765
TOKEN=kmes-p11-test
export KMES_STORE=$TMP/store/keystore

kt() {
	bounded "$KEYTOOL" --store "$KMES_STORE" "$@"
}
ktp() {
	kt --pin-fd 3 "$@" 3<<<"$PIN"
}
p11() {
	bounded pkcs11-tool --module "$MODULE" "$@"
}
p11_login() {
	p11 --login --pin "$PIN" "$@"
}

# key_id <label>: CKA_ID as the module derives it (SHA-256 of the public
# blob, first 16 bytes), computed here from kmes-keytool's export.
key_id() {
	kt export-public "$1" | awk '{ print $2 }' | base64 -d | sha256sum |
		cut -c1-32
}

# pem_of <label> <file>: the public key as PEM, made from kmes-keytool's
# export without the module (ssh-keygen for RSA and ECDSA; for Ed25519 the
# SPKI is a fixed prefix and the 32 key bytes at the end of the blob).
pem_of() {
	local line
	line=$(kt export-public "$1")
	case $line in
	ssh-ed25519*)
		{ printf '302a300506032b6570032100'
		  printf '%s\n' "$line" | awk '{ print $2 }' | base64 -d |
			tail -c 32 | xxd -p | tr -d '\n'; } | xxd -r -p |
			openssl pkey -pubin -inform DER -out "$2" ;;
	*)
		printf '%s\n' "$line" >"$TMP/pem.pub"
		ssh-keygen -e -m PKCS8 -f "$TMP/pem.pub" >"$2" ;;
	esac
}

# --------------------------------------------------------------- the store
run kt --pin-fd 3 --so-pin-fd 4 init --kdf-cost 10 --label "$TOKEN" \
	3<<<"$PIN" 4<<<"$SOPIN"
[ "$RC" -eq 0 ] || bail_out "kmes-keytool init failed: $ERR"
for spec in "rsa -b 2048 -l rsa-key" "ecdsa -b 256 -l ec-key" \
	"ecdsa -b 384 -l ec384-key" "ed25519 -l ed-key"; do
	# shellcheck disable=SC2086
	ktp generate -t $spec >/dev/null 2>&1 ||
		bail_out "kmes-keytool generate -t $spec failed"
done
for l in rsa-key ec-key ec384-key ed-key; do
	kt export-public "$l" >"$TMP/$l.pub" || bail_out "export-public $l"
done

# ------------------------------------------------------- exported symbols
run nm -D --defined-only "$MODULE"
expect_eq "module exports only the three C_Get* entry points" \
	"C_GetFunctionList C_GetInterface C_GetInterfaceList" \
	"$(printf '%s\n' "$OUT" | awk '{ print $3 }' | sort | xargs)"

# ---------------------------------------------------------- ssh-keygen -D
run ssh-keygen -D "$MODULE"
expect_eq "ssh-keygen -D lists exactly the RSA and ECDSA keys export-public prints" \
	"$(cat "$TMP/rsa-key.pub" "$TMP/ec-key.pub" "$TMP/ec384-key.pub" | sort)" \
	"$(printf '%s\n' "$OUT" | grep -v '^ssh-ed25519' | sort)"

# ------------------------------------------------------------ pkcs11-tool
run p11 -L
expect_contains "pkcs11-tool -L: token label is the store label" \
	"token label        : $TOKEN" "$OUT"
expect_match "pkcs11-tool -L: login required, token and PIN initialized" \
	'token flags +: login required, rng, token initialized, PIN initialized$' "$OUT"
STORE_ID=$(kt info | awk '/^[Ss]tore id|^id/ { print $NF; exit }')
diag "store id: ${STORE_ID:-?}"

run p11 -O
expect_eq "pkcs11-tool -O without login: four public objects" 4 \
	"$(printf '%s\n' "$OUT" | grep -c '^Public Key Object')"
expect_lacks "pkcs11-tool -O without login: no private object" \
	"Private Key Object" "$OUT"
run p11_login -O
expect_eq "pkcs11-tool -O after login: four private objects" 4 \
	"$(printf '%s\n' "$OUT" | grep -c '^Private Key Object')"
expect_contains "private objects are sensitive and never extractable" \
	"Access:     sensitive, always sensitive, never extractable, local" "$OUT"
expect_contains "Ed25519 is CKK_EC_EDWARDS with the id-Ed25519 OID" \
	"EC_PARAMS:  06032b6570 (OID 1.3.101.112)" "$OUT"
expect_contains "CKA_ID is derived from the public key" \
	"ID:         $(key_id ec-key)" "$OUT"

printf 'message signed through the kmes PKCS#11 module\n' >"$TMP/data"
for l in rsa-key ec-key ec384-key ed-key; do
	pem_of "$l" "$TMP/$l.pem" || bail_out "cannot make a PEM key for $l"
done
expect_ok "pkcs11-tool --sign ECDSA-SHA256" p11_login --sign -m ECDSA-SHA256 \
	--id "$(key_id ec-key)" --signature-format openssl -i "$TMP/data" \
	-o "$TMP/ec.sig"
expect_ok "openssl verifies the ECDSA P-256 signature" openssl dgst -sha256 \
	-verify "$TMP/ec-key.pem" -signature "$TMP/ec.sig" "$TMP/data"
expect_ok "pkcs11-tool --sign ECDSA (raw hash) with P-384" p11_login --sign \
	-m ECDSA-SHA384 --id "$(key_id ec384-key)" --signature-format openssl \
	-i "$TMP/data" -o "$TMP/ec384.sig"
expect_ok "openssl verifies the ECDSA P-384 signature" openssl dgst -sha384 \
	-verify "$TMP/ec384-key.pem" -signature "$TMP/ec384.sig" "$TMP/data"
expect_ok "pkcs11-tool --sign SHA256-RSA-PKCS" p11_login --sign \
	-m SHA256-RSA-PKCS --id "$(key_id rsa-key)" -i "$TMP/data" \
	-o "$TMP/rsa.sig"
expect_ok "openssl verifies the RSA PKCS#1 v1.5 signature" openssl dgst \
	-sha256 -verify "$TMP/rsa-key.pem" -signature "$TMP/rsa.sig" "$TMP/data"
expect_ok "pkcs11-tool --sign SHA256-RSA-PKCS-PSS" p11_login --sign \
	-m SHA256-RSA-PKCS-PSS --id "$(key_id rsa-key)" -i "$TMP/data" \
	-o "$TMP/pss.sig"
expect_ok "openssl verifies the RSA-PSS signature" openssl dgst -sha256 \
	-sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 \
	-verify "$TMP/rsa-key.pem" -signature "$TMP/pss.sig" "$TMP/data"
expect_ok "pkcs11-tool --sign EDDSA" p11_login --sign -m EDDSA \
	--id "$(key_id ed-key)" -i "$TMP/data" -o "$TMP/ed.sig"
expect_ok "openssl verifies the Ed25519 signature" openssl pkeyutl -verify \
	-pubin -inkey "$TMP/ed-key.pem" -rawin -in "$TMP/data" \
	-sigfile "$TMP/ed.sig"
expect_fail "signing without a login is refused" p11 --sign -m ECDSA-SHA256 \
	--id "$(key_id ec-key)" -i "$TMP/data" -o "$TMP/nologin.sig"

# ------------------------------------------------ key generation, deletion
expect_ok "pkcs11-tool --keypairgen EC P-256" p11_login --keypairgen \
	--key-type EC:prime256v1 --label p11-gen-ec
expect_ok "pkcs11-tool --keypairgen RSA 2048" p11_login --keypairgen \
	--key-type rsa:2048 --label p11-gen-rsa
run kt list
expect_match "kmes-keytool list shows the generated EC key" \
	' p11-gen-ec \(ECDSA\)$' "$OUT"
expect_match "kmes-keytool list shows the generated RSA key" \
	' p11-gen-rsa \(RSA\)$' "$OUT"
expect_ok "kmes-keytool verify: the store is intact after module writes" \
	ktp verify
expect_ok "pkcs11-tool signs with the generated key" p11_login --sign \
	-m ECDSA-SHA256 --id "$(key_id p11-gen-ec)" --signature-format openssl \
	-i "$TMP/data" -o "$TMP/gen.sig"
pem_of p11-gen-ec "$TMP/gen.pem"
expect_ok "openssl verifies the generated key's signature" openssl dgst \
	-sha256 -verify "$TMP/gen.pem" -signature "$TMP/gen.sig" "$TMP/data"
expect_ok "pkcs11-tool --delete-object removes the key" p11_login \
	--delete-object --type privkey --label p11-gen-ec
run kt list
expect_no_match "kmes-keytool list no longer shows it" ' p11-gen-ec ' "$OUT"
expect_match "the other generated key is still there" ' p11-gen-rsa ' "$OUT"
expect_ok "the RSA generated key is deleted too" p11_login \
	--delete-object --type pubkey --label p11-gen-rsa
run kt list
expect_eq "kmes-keytool list: back to the four keys" 4 \
	"$(printf '%s\n' "$OUT" | grep -c .)"

# -------------------------------------- a running kmes-agent sees the writes
start_agent kmes --store "$KMES_STORE"
KMES_AGENT_PID=$AGENT_PID
expect_ok "pkcs11-tool --keypairgen while kmes-agent serves the store" \
	p11_login --keypairgen --key-type EC:secp384r1 --label p11-live
LIVE_FP=$(kt list | awk '$3 == "p11-live" { print $2 }')
[ -n "$LIVE_FP" ] && wait_for 10 agent_has "$LIVE_FP"
tap_result $? "kmes-agent lists the key the module generated"
expect_ok "pkcs11-tool --delete-object while kmes-agent runs" p11_login \
	--delete-object --type pubkey --label p11-live
[ -n "$LIVE_FP" ] && wait_for 10 agent_lacks "$LIVE_FP"
tap_result $? "kmes-agent drops the key the module deleted"
stop_pid "$KMES_AGENT_PID"
unset SSH_AUTH_SOCK

# ---------------------------------------------------------------- p11tool
run bounded p11tool --provider "$MODULE" --list-all
expect_eq "p11tool --list-all: four public keys" 4 \
	"$(printf '%s\n' "$OUT" | grep -c 'Type: Public key')"
expect_contains "p11tool names the token by the store label" \
	"token=$TOKEN" "$OUT"
expect_contains "p11tool reads the Ed25519 key" "EdDSA (Ed25519)" "$OUT"
run env GNUTLS_PIN="$PIN" timeout 30 p11tool --provider "$MODULE" --login \
	--list-privkeys
expect_eq "p11tool --login --list-privkeys: four private keys" 4 \
	"$(printf '%s\n' "$OUT" | grep -c 'Type: Private key')"

# ---------------------------------------------------------------- PyKCS11
run "$PYTHON" "$HERE/pykcs11-sign.py" "$MODULE" "$TOKEN" "$PIN"
if [ "$RC" -eq 0 ] && ! printf '%s\n' "$OUT" | grep -q '^FAIL'; then
	pass "PyKCS11: every key signs (single and multi-part), cryptography verifies"
else
	fail "PyKCS11: every key signs (single and multi-part), cryptography verifies"
	diag "$OUT" "$ERR"
fi
diag "$OUT"

# ---------------------------------------------------------------- p11-kit
# p11-kit ignores user configuration for root: as root, this part runs as
# nobody, with a copy of the store and a configuration nobody owns.
P11U=$TMP/p11kit
mkdir -p "$P11U/xdg/pkcs11/modules" "$P11U/store"
cp "$KMES_STORE" "$P11U/store/keystore"
cp "$TMP/data" "$P11U/data"
printf 'user-config: only\n' >"$P11U/xdg/pkcs11/pkcs11.conf"
printf 'module: %s\ncritical: yes\n' "$MODULE" \
	>"$P11U/xdg/pkcs11/modules/kmes.module"
as_user() {
	if [ "$(id -u)" -eq 0 ]; then
		bounded setpriv --reuid=nobody --regid="$(id -gn nobody)" \
			--clear-groups env HOME="$P11U" XDG_CONFIG_HOME="$P11U/xdg" \
			KMES_STORE="$P11U/store/keystore" "$@"
	else
		bounded env HOME="$P11U" XDG_CONFIG_HOME="$P11U/xdg" \
			KMES_STORE="$P11U/store/keystore" "$@"
	fi
}
if [ "$(id -u)" -eq 0 ]; then
	chmod 0711 "$TMP"
	chown -R nobody "$P11U"
fi
run as_user p11-kit list-modules
expect_match "p11-kit list-modules shows the registered module" '^kmes: ' "$OUT"
expect_contains "p11-kit sees the token" "token: $TOKEN" "$OUT"
run as_user pkcs11-tool --module "$PROXY" -L
expect_contains "pkcs11-tool through p11-kit-proxy.so lists the token" \
	"token label        : $TOKEN" "$OUT"
run as_user pkcs11-tool --module "$PROXY" --token-label "$TOKEN" --login \
	--pin "$PIN" --sign -m ECDSA-SHA256 --id "$(key_id ec-key)" \
	--signature-format openssl -i "$P11U/data" -o "$P11U/proxy.sig"
expect_eq "pkcs11-tool signs through p11-kit-proxy.so" 0 "$RC" || diag "$ERR"
expect_ok "openssl verifies the signature made through the proxy" openssl \
	dgst -sha256 -verify "$TMP/ec-key.pem" -signature "$P11U/proxy.sig" \
	"$TMP/data"

# ------------------------------------------------------------ ssh -I, sshd
start_sshd
authorize "$TMP/rsa-key.pub" "$TMP/ec-key.pub"
printf '%s\n' "$PIN" >"$TMP/answer"
make_askpass "$TMP/askpass" "$TMP/answer" "$TMP/askpass.log"
ASKPASS_ENV=(SSH_ASKPASS="$TMP/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=:0)

log_mark
run env "${ASKPASS_ENV[@]}" timeout 60 ssh -F "$SSH_CONFIG" \
	-o BatchMode=no -o IdentitiesOnly=no -I "$MODULE" kmes-test \
	echo logged-in-with-pkcs11
expect_eq "ssh -I logs in with a store key" "logged-in-with-pkcs11" "$OUT" ||
	diag "$ERR"
expect_contains "ssh asked for the PIN of the token by its label" \
	"Enter PIN for '$TOKEN'" "$(cat "$TMP/askpass.log" 2>/dev/null)"
sshd_logged "Accepted publickey for .* (RSA|ECDSA) SHA256:"
tap_result $? "sshd accepted a store key offered through the module"

# ------------------------------------------- ssh-add -s into OpenSSH's agent
AGENT_SOCK=$TMP/openssh-agent.sock
MODDIR=$(dirname "$(readlink -f "$MODULE")")
/usr/bin/ssh-agent -D -a "$AGENT_SOCK" -P "$MODDIR/*" \
	>"$TMP/openssh-agent.log" 2>&1 </dev/null &
OA_PID=$!
register_pid "$OA_PID"
wait_for 10 agent_answers "$AGENT_SOCK" ||
	bail_out "OpenSSH's ssh-agent did not start"
run env SSH_AUTH_SOCK="$AGENT_SOCK" "${ASKPASS_ENV[@]}" \
	timeout 60 ssh-add -s "$MODULE"
expect_eq "ssh-add -s adds the module to OpenSSH's ssh-agent" 0 "$RC" ||
	diag "$ERR" "$(cat "$TMP/openssh-agent.log")"
run env SSH_AUTH_SOCK="$AGENT_SOCK" ssh-add -L
expect_eq "ssh-agent lists the RSA and ECDSA store keys" \
	"$(cat "$TMP/rsa-key.pub" "$TMP/ec-key.pub" "$TMP/ec384-key.pub" |
		awk '{ print $1, $2 }' | sort)" \
	"$(printf '%s\n' "$OUT" | awk '{ print $1, $2 }' | sort)"
log_mark
run env SSH_AUTH_SOCK="$AGENT_SOCK" timeout 60 ssh -F "$SSH_CONFIG" \
	-o IdentitiesOnly=no kmes-test echo via-agent
expect_eq "ssh logs in through ssh-agent holding the module's keys" \
	"via-agent" "$OUT" || diag "$ERR"
sshd_logged "Accepted publickey for .* (RSA|ECDSA) SHA256:"
tap_result $? "sshd accepted the key the agent signed with through the module"
stop_pid "$OA_PID"

# ---------------------------------------- a confirm key: the PIN every time
# The module cannot ask yes/no; a --confirm key is CKA_ALWAYS_AUTHENTICATE,
# so ssh asks for the PIN again (a context-specific login) to sign with it.
run ktp generate -t ecdsa -b 256 -l ask-key --confirm
tap_result "$RC" "kmes-keytool makes a confirm key" || _show_last generate
kt export-public ask-key >"$TMP/ask-key.pub" || bail_out "export ask-key"
cp "$SSHD_DIR/authorized_keys" "$TMP/authorized_keys.saved"
cp "$TMP/ask-key.pub" "$SSHD_DIR/authorized_keys"
: >"$TMP/askpass.log"
log_mark
run env "${ASKPASS_ENV[@]}" timeout 60 ssh -F "$SSH_CONFIG" \
	-o BatchMode=no -o IdentitiesOnly=no -I "$MODULE" kmes-test \
	echo logged-in-with-confirm-key
expect_eq "ssh -I logs in with the confirm key" \
	"logged-in-with-confirm-key" "$OUT" || diag "$ERR"
expect_eq "ssh asked for the PIN once: a fresh login covers one signature" \
	1 "$(grep -c "^argv=Enter PIN for '$TOKEN'" "$TMP/askpass.log")"
# A fingerprint may hold '+': match it as text, not as an ERE.
ask_fp=$(fingerprint "$TMP/ask-key.pub")
sshd_logged "Accepted publickey for .* ECDSA " &&
	log_since | grep -F "Accepted publickey" | grep -Fq -- "$ask_fp"
tap_result $? "sshd accepted the confirm key's signature"
printf 'wrong-pin\n' >"$TMP/answer"
run env "${ASKPASS_ENV[@]}" timeout 60 ssh -F "$SSH_CONFIG" \
	-o BatchMode=no -o IdentitiesOnly=no -o PreferredAuthentications=publickey \
	-I "$MODULE" kmes-test echo should-not-log-in
expect_lacks "with a wrong PIN the confirm key does not sign" \
	should-not-log-in "$OUT"
printf '%s\n' "$PIN" >"$TMP/answer"
cp "$TMP/authorized_keys.saved" "$SSHD_DIR/authorized_keys"
run ktp delete ask-key
tap_result "$RC" "the confirm key is deleted again" || _show_last delete
# The wrong PIN above counted; a good login resets the counter.
run p11 --login --pin "$PIN" -L

# ------------------------------------------------------ wrong PIN, lockout
# token_flags: the flags pkcs11-tool -L shows for the token.
token_flags() {
	p11 -L 2>/dev/null | awk -F': ' '/token flags/ { print $2 }'
}
run p11 --login --pin wrong-pin -O
expect_contains "a wrong PIN answers CKR_PIN_INCORRECT" \
	"CKR_PIN_INCORRECT" "$OUT$ERR"
expect_contains "after one failure the token says user PIN count low" \
	"user PIN count low" "$(token_flags)"
run p11_login -O
expect_eq "the right PIN still logs in (and resets the counter)" 0 "$RC"
expect_lacks "a good login clears the count-low flag" "count low" \
	"$(token_flags)"
for i in 1 2 3 4 5 6 7 8 9; do
	p11 --login --pin "wrong-$i" -O >/dev/null 2>&1
done
expect_contains "after nine failures: final try" "final user PIN try" \
	"$(token_flags)"
run p11 --login --pin wrong-10 -O
expect_contains "the tenth wrong PIN is still CKR_PIN_INCORRECT" \
	"CKR_PIN_INCORRECT" "$OUT$ERR"
expect_contains "then the token says user PIN locked" "user PIN locked" \
	"$(token_flags)"
run p11_login -O
expect_contains "even the right PIN answers CKR_PIN_LOCKED" \
	"CKR_PIN_LOCKED" "$OUT$ERR"
run kt --so-pin-fd 3 --new-pin-fd 4 unblock 3<<<"$SOPIN" 4<<<"$PIN"
expect_eq "kmes-keytool unblock with the SO PIN" 0 "$RC"
expect_lacks "after unblock the token is not locked" "locked" "$(token_flags)"
expect_ok "and the PIN logs in again through the module" p11_login -O

done_testing
