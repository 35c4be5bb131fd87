#!/bin/bash
# libkmes-pkcs11.so serving the programs people point PKCS#11 modules at
# for TLS and code signing, beyond OpenSSH: OpenSSL through libp11's engine
# (libengine-pkcs11-openssl) and NSS (libnss3-tools), each making a
# certificate request and a signature with a store key that openssl then
# checks against the public key kmes-keytool exports (not the module's).
# OpenSSL 3's pkcs11-provider is not packaged in Debian 12, so it is not
# run here (a diagnostic says so). A missing client is a failure (bail
# out), never a skip.
#
# Run: KEYTOOL=build/src/keytool/kmes-keytool AGENT=build/src/kmes-agent \
#	PKCS11_MODULE=build/keystore/pkcs11/libkmes-pkcs11.so \
#	bash tests/integration/pkcs11/test-pkcs11-consumers.sh

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
require openssl certutil modutil ssh-keygen sha256sum base64 cut awk
ENGINE=$(openssl version -e | sed -n 's/^ENGINESDIR: "\(.*\)"$/\1/p')/pkcs11.so
[ -r "$ENGINE" ] ||
	bail_out "libp11's OpenSSL engine not found at $ENGINE (libengine-pkcs11-openssl)"
if apt-cache show pkcs11-provider >/dev/null 2>&1; then
	diag "pkcs11-provider is packaged here but not yet tested"
else
	diag "pkcs11-provider: not packaged in this distribution, not tested"
fi
diag "module under test: $MODULE"
preload_sanitizer_of "$MODULE"

PIN=2580-pin
SOPIN=so-pin-0852
TOKEN=kmes-consumers
export KMES_STORE=$TMP/store/keystore
# libp11 loads the module this names (its default is p11-kit's proxy).
export PKCS11_MODULE_PATH=$MODULE

kt() {
	bounded "$KEYTOOL" --store "$KMES_STORE" "$@"
}

run kt --pin-fd 3 --so-pin-fd 4 init --kdf-cost 10 --label "$TOKEN" \
	3<<<"$PIN" 4<<<"$SOPIN"
[ "$RC" -eq 0 ] || bail_out "kmes-keytool init failed: $ERR"
KEYS="rsa-key ec-key ec384-key"
for spec in "rsa -b 2048 -l rsa-key" "ecdsa -b 256 -l ec-key" \
	"ecdsa -b 384 -l ec384-key"; do
	# shellcheck disable=SC2086
	kt --pin-fd 3 generate -t $spec >/dev/null 2>&1 3<<<"$PIN" ||
		bail_out "kmes-keytool generate -t $spec failed"
done

# pem_of <label>: the key's public half as PEM, from kmes-keytool's export.
# fp_of <file> <form>: SHA-256 of a public key's DER, to compare keys.
for l in $KEYS; do
	kt export-public "$l" >"$TMP/$l.pub" || bail_out "export-public $l"
	ssh-keygen -e -m PKCS8 -f "$TMP/$l.pub" >"$TMP/$l.pem" ||
		bail_out "no PEM for $l"
done
spki_fp() {
	openssl pkey -pubin -in "$1" -outform DER | sha256sum | cut -c1-64
}
# key_id <label>: CKA_ID as the module derives it for a store record.
key_id() {
	awk '{ print $2 }' "$TMP/$1.pub" | base64 -d | sha256sum | cut -c1-32
}
uri() {
	printf 'pkcs11:token=%s;object=%s;type=private?pin-value=%s' \
		"$TOKEN" "$1" "$PIN"
}
printf 'a release tarball, say\n' >"$TMP/data"

# -------------------------------------------- OpenSSL through libp11's engine
for l in $KEYS; do
	run openssl req -new -engine pkcs11 -keyform engine -key "$(uri "$l")" \
		-subj "/CN=$l/O=kmes" -out "$TMP/$l.csr"
	expect_eq "openssl req -engine pkcs11 makes a CSR with $l" 0 "$RC"
	[ "$RC" -eq 0 ] || diag "$ERR"
	run openssl req -in "$TMP/$l.csr" -verify -noout
	expect_contains "openssl req -verify accepts the engine's CSR ($l)" \
		"verify OK" "$OUT $ERR"
	run openssl req -in "$TMP/$l.csr" -noout -pubkey -out "$TMP/$l.csrkey"
	expect_eq "the CSR carries $l's public key" "$(spki_fp "$TMP/$l.pem")" \
		"$(spki_fp "$TMP/$l.csrkey")"

	run openssl dgst -sha256 -engine pkcs11 -keyform engine \
		-sign "$(uri "$l")" -out "$TMP/$l.sig" "$TMP/data"
	expect_eq "openssl dgst -sign through the engine ($l)" 0 "$RC"
	run openssl dgst -sha256 -verify "$TMP/$l.pem" \
		-signature "$TMP/$l.sig" "$TMP/data"
	expect_eq "openssl dgst -verify with the exported key ($l)" \
		"Verified OK" "$OUT"
done
# RSA-PSS: the engine asks the token for CKM_RSA_PKCS_PSS.
run openssl dgst -sha256 -engine pkcs11 -keyform engine \
	-sign "$(uri rsa-key)" -sigopt rsa_padding_mode:pss \
	-sigopt rsa_pss_saltlen:32 -out "$TMP/pss.sig" "$TMP/data"
expect_eq "openssl dgst -sign RSA-PSS through the engine" 0 "$RC"
run openssl dgst -sha256 -verify "$TMP/rsa-key.pem" \
	-sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 \
	-signature "$TMP/pss.sig" "$TMP/data"
expect_eq "openssl verifies the engine's RSA-PSS signature" "Verified OK" \
	"$OUT"
# A wrong PIN signs nothing.
run openssl dgst -sha256 -engine pkcs11 -keyform engine \
	-sign "pkcs11:token=$TOKEN;object=ec-key;type=private?pin-value=0000-bad" \
	-out "$TMP/bad.sig" "$TMP/data"
expect_eq "the engine with a wrong PIN fails" 1 "$([ "$RC" -ne 0 ] && echo 1)"

# ------------------------------------------------------------------- NSS
NSSDB=sql:$TMP/nssdb
mkdir -p "$TMP/nssdb"
printf '%s\n' "$PIN" >"$TMP/pinfile"
run certutil -N -d "$NSSDB" --empty-password
[ "$RC" -eq 0 ] || bail_out "certutil -N failed: $ERR"
run modutil -dbdir "$NSSDB" -add kmes -libfile "$MODULE" -force
expect_eq "modutil -add loads the module into the NSS database" 0 "$RC"
run modutil -dbdir "$NSSDB" -list kmes
expect_match "modutil -list shows the store as a token" \
	"Token Name: $TOKEN *\$" "$OUT"
run certutil -K -h all -d "$NSSDB" -f "$TMP/pinfile"
for l in $KEYS; do
	expect_match "certutil -K -h all lists $l with its CKA_ID" \
		"^<[ 0-9]+> (rsa|ec) +$(key_id "$l") +$l\$" "$OUT"
done
for l in $KEYS; do
	run certutil -R -d "$NSSDB" -h "$TOKEN" -k "$(key_id "$l")" \
		-s "CN=nss-$l,O=kmes" -a -o "$TMP/nss-$l.csr" -f "$TMP/pinfile"
	expect_eq "certutil -R signs a CSR with the token's $l" 0 "$RC"
	[ "$RC" -eq 0 ] || diag "$ERR"
	run openssl req -in "$TMP/nss-$l.csr" -verify -noout
	expect_contains "openssl accepts NSS's CSR signed by $l" "verify OK" \
		"$OUT $ERR"
	run openssl req -in "$TMP/nss-$l.csr" -noout -pubkey \
		-out "$TMP/nss-$l.csrkey"
	expect_eq "NSS's CSR carries $l's public key" \
		"$(spki_fp "$TMP/$l.pem")" "$(spki_fp "$TMP/nss-$l.csrkey")"
done

# NSS generating on the token: certutil -R -k makes the pair with
# C_GenerateKeyPair, then sets CKA_ID (a hash of the public key) on both
# halves with C_SetAttributeValue, and finds the key by it to sign; the
# store must keep that ID for the next process (certutil -K) too.
head -c 1024 /dev/urandom >"$TMP/noise"	# -z: no keyboard noise prompt
for spec in "ec -q nistp256" "rsa -g 2048"; do
	kind=${spec%% *}
	kt list >"$TMP/before-$kind" || bail_out "kmes-keytool list failed"
	# shellcheck disable=SC2086
	run certutil -R -d "$NSSDB" -h "$TOKEN" -k $spec -z "$TMP/noise" \
		-s "CN=nss-gen-$kind,O=kmes" -a -o "$TMP/gen-$kind.csr" \
		-f "$TMP/pinfile"
	expect_eq "certutil -R -k $kind generates its key on the token" 0 "$RC"
	[ "$RC" -eq 0 ] || diag "$ERR"
	run openssl req -in "$TMP/gen-$kind.csr" -verify -noout
	expect_contains "openssl accepts the CSR of NSS's new $kind key" \
		"verify OK" "$OUT $ERR"
	run kt list
	new=$(grep -vxF -f "$TMP/before-$kind" <<<"$OUT")
	expect_match "the store keeps the CKA_ID NSS set on its $kind key" \
		'^[0-9]+ SHA256:[^ ]+ [^ ]+ \((RSA|ECDSA)\) \[id=[0-9a-f]+\]$' "$new"
	label=$(awk '{ print $3 }' <<<"$new")
	id=$(sed -n 's/.*\[id=\([0-9a-f]*\)\]$/\1/p' <<<"$new")
	kt export-public "$label" >"$TMP/gen-$kind.pub" 2>/dev/null &&
		ssh-keygen -e -m PKCS8 -f "$TMP/gen-$kind.pub" \
			>"$TMP/gen-$kind.pem" 2>/dev/null
	run openssl req -in "$TMP/gen-$kind.csr" -noout -pubkey \
		-out "$TMP/gen-$kind.csrkey"
	# Two missing keys must not compare equal.
	expect_eq "NSS's CSR carries the stored $kind key" \
		"$([ -s "$TMP/gen-$kind.pem" ] && spki_fp "$TMP/gen-$kind.pem")" \
		"$([ -s "$TMP/gen-$kind.csrkey" ] &&
			spki_fp "$TMP/gen-$kind.csrkey" || echo no CSR key)"
	run certutil -K -h all -d "$NSSDB" -f "$TMP/pinfile"
	expect_match "a new certutil finds NSS's $kind key by its CKA_ID" \
		"^<[ 0-9]+> $kind +${id:-none} +${label:-none}\$" "$OUT"
done

done_testing
