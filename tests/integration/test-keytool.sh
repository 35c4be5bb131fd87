#!/bin/bash
# kmes-keytool against a real store file: init, generate, import, list,
# export-public, delete, PIN counting, blocking and unblocking, passwd,
# info, verify, tampering, concurrent writers and writers killed with
# SIGKILL, and no private key bytes in the file.
#
# Secrets are passed with --pin-fd and friends on here-strings, as scripts
# would; scrypt runs at a cheap cost (--kdf-cost) so the test stays fast.
#
# Run: KEYTOOL=build/src/keytool/kmes-keytool AGENT=build/src/kmes-agent \
#	bash tests/integration/test-keytool.sh

. "$(dirname "$0")/lib.sh"

[ -n "${KEYTOOL:-}" ] || bail_out "KEYTOOL must name the kmes-keytool under test"
KEYTOOL=$(command -v "$KEYTOOL") || bail_out "KEYTOOL is not an executable"
case $KEYTOOL in
/*) ;;
*) KEYTOOL=$PWD/$KEYTOOL ;;
esac
require openssl xxd base64 setsid od dd
diag "keytool under test: $KEYTOOL"

PIN=1234-pin
SOPIN=so-recovery-5678
KDF=10
# A directory that does not exist yet: init must create it 0700.
STDIR=$TMP/data/kmes
ST=$STDIR/keystore
K=$TMP/keys
mkdir -p "$K"

# kt <args...>: the keytool on the test store, bounded.
kt() {
	bounded "$KEYTOOL" --store "$ST" "$@"
}

# ktp <args...>: the same with the right PIN on descriptor 3.
ktp() {
	kt --pin-fd 3 "$@" 3<<<"$PIN"
}

# notty <cmd...>: run without a controlling terminal, so nothing can
# prompt on /dev/tty even when the test is run by hand.
notty() {
	setsid -w timeout -k 5 "$CMD_TIMEOUT" "$@"
}

mode_of() {
	stat -c %a "$1"
}

# hex_of <file>: the file as one line of hex, for byte-string searches.
hex_of() {
	xxd -p "$1" | tr -d '\n'
}

# list_fp <label>: the fingerprint list shows for that label.
list_fp() {
	kt list | awk -v l="$1" '$3 == l { print $2 }'
}

# one_line <text>: the text is exactly one line (a clear error).
one_line() {
	[ -n "$1" ] && [ "$(printf '%s\n' "$1" | wc -l)" -eq 1 ]
}

# -------------------------------------------------------------- usage
expect_status "no command: usage error (exit 2)" 2 "$KEYTOOL"
expect_match "no command: a usage line" '^usage: kmes-keytool' "$ERR"
expect_status "unknown command: exit 2" 2 "$KEYTOOL" frobnicate
expect_match "unknown command: says which" "^kmes-keytool: unknown command 'frobnicate'" "$ERR"
expect_status "unknown global option: exit 2" 2 "$KEYTOOL" --bogus list
expect_status "--pin-fd on a closed descriptor: exit 2" 2 "$KEYTOOL" --pin-fd 97 list
expect_ok "help exits 0" "$KEYTOOL" help
expect_contains "help lists generate's arguments" "generate -t ed25519|ecdsa|rsa" "$OUT"

# ----------------------------------------------------------------- init
expect_status "list before init: no store (exit 6)" 6 kt list
expect_match "list before init: says how to create one" "kmes-keytool: no key store at .*kmes-keytool init" "$ERR"

run kt --pin-fd 3 --so-pin-fd 4 init --label itest --kdf-cost "$KDF" \
	3<<<"$PIN" 4<<<"$SOPIN"
tap_result "$RC" "init creates a store" || _show_last init
[ -f "$ST" ] || bail_out "no store file after init"
expect_eq "init: the store file is 0600" 600 "$(mode_of "$ST")"
expect_eq "init: its new directory is 0700" 700 "$(mode_of "$STDIR")"
cp "$ST" "$TMP/store.orig"
expect_fail "init refuses an existing store" \
	kt --pin-fd 3 --so-pin-fd 4 init --kdf-cost "$KDF" 3<<<"0000" 4<<<"00000"
expect_match "init: says it refuses to overwrite" "^kmes-keytool: .*already exists; refusing to overwrite" "$ERR"
expect_ok "init: the existing store is untouched" cmp -s "$ST" "$TMP/store.orig"
expect_fail "init refuses a 3-byte PIN" \
	kt --pin-fd 3 --so-pin-fd 4 --store "$TMP/short/ks" init --kdf-cost "$KDF" \
	3<<<"123" 4<<<"$SOPIN"
expect_match "init: short PIN message" "PIN is 4 to 256 bytes" "$ERR"

run kt info
tap_result "$RC" "info needs no PIN" || _show_last info
expect_match "info: label" '^label: itest$' "$OUT"
expect_match "info: no keys yet" '^keys: 0$' "$OUT"
expect_match "info: failure counter" '^pin-failures: 0$' "$OUT"
expect_match "info: tries left" '^pin-tries-left: 10$' "$OUT"
expect_match "info: not blocked" '^pin-blocked: no$' "$OUT"
expect_match "info: KDF parameters" "^kdf: scrypt log2n=$KDF r=[0-9]+ p=[0-9]+$" "$OUT"
expect_match "info: store id" '^id: [0-9a-f]{32}$' "$OUT"

# ------------------------------------------------------------- generate
# gen_check <label> <expected type word> <expected bits> <generate args...>
gen_check() {
	local label=$1 tword=$2 bits=$3 fp
	shift 3
	run ktp generate -l "$label" "$@"
	tap_result "$RC" "generate $*: exit 0" || { _show_last generate "$@"; return; }
	expect_match "generate $*: prints one OpenSSH public key line" \
		"^$tword [A-Za-z0-9+/]+=* $label\$" "$OUT"
	printf '%s\n' "$OUT" >"$K/$label.gen.pub"
	run ssh-keygen -lf "$K/$label.gen.pub"
	tap_result "$RC" "generate $*: ssh-keygen -l reads the line" || return
	fp=$(printf '%s\n' "$OUT" | awk '{ print $2 }')
	expect_match "generate $*: ssh-keygen sees $bits bits" "^$bits " "$OUT"
	expect_eq "generate $*: list shows the same fingerprint" "$fp" "$(list_fp "$label")"
	run kt export-public "$label"
	expect_eq "generate $*: export-public prints the same line" \
		"$(cat "$K/$label.gen.pub")" "$OUT"
}

gen_check g-ed25519 ssh-ed25519 256 -t ed25519
gen_check g-ecdsa256 ecdsa-sha2-nistp256 256 -t ecdsa
gen_check g-ecdsa384 ecdsa-sha2-nistp384 384 -t ecdsa -b 384
gen_check g-ecdsa521 ecdsa-sha2-nistp521 521 -t ecdsa -b 521
gen_check g-rsa ssh-rsa 3072 -t rsa
gen_check g-rsa2048 ssh-rsa 2048 -t rsa -b 2048
gen_check g-confirm ssh-ed25519 256 -t ed25519 --confirm

run kt list
expect_match "list: ssh-add -l form with the key type" \
	'^256 SHA256:[A-Za-z0-9+/]{43} g-ed25519 \(ED25519\)$' "$OUT"
expect_match "list: RSA bits and type" '^3072 SHA256:[^ ]+ g-rsa \(RSA\)$' "$OUT"
expect_match "list: ECDSA type" '^384 SHA256:[^ ]+ g-ecdsa384 \(ECDSA\)$' "$OUT"
expect_match "list: the confirm flag is shown" '^256 SHA256:[^ ]+ g-confirm \(ED25519\) \[confirm\]$' "$OUT"
expect_no_match "list: no confirm flag on other keys" 'g-ed25519 .*\[confirm\]' "$OUT"
run notty "$KEYTOOL" --store "$ST" list
expect_eq "list works without a PIN or a terminal" 0 "$RC"
expect_eq "list prints one line per key" 7 "$(printf '%s\n' "$OUT" | wc -l)"

expect_status "generate: unknown type is a usage error" 2 ktp generate -t dsa -l x
expect_status "generate: ecdsa -b 300 is a usage error" 2 ktp generate -t ecdsa -b 300 -l x
expect_status "generate: rsa -b 1024 is a usage error" 2 ktp generate -t rsa -b 1024 -l x
expect_status "generate: no label is a usage error" 2 ktp generate -t ed25519
expect_match "generate: usage line names the subcommand" '^usage: kmes-keytool .*generate -t' "$ERR"
expect_fail "generate: a label in use is refused" ktp generate -t ed25519 -l g-ed25519
expect_contains "generate: says the label exists" "a key labelled 'g-ed25519' already exists" "$ERR"
expect_status "generate: a label with a newline is refused" 2 ktp generate -t ed25519 -l $'a\nb'

# --------------------------------------------------------------- import
gen_key ed25519 "$K/i-ed" i-ed-comment
gen_key ecdsa-384 "$K/i-ec" i-ec-comment
ssh-keygen -q -t ecdsa -b 256 -N 'pass phrase' -C enc -f "$K/i-enc" </dev/null >/dev/null ||
	bail_out "ssh-keygen could not make an encrypted key"
ssh-keygen -q -t rsa -b 2048 -m PEM -N '' -C pem -f "$K/i-pem" </dev/null >/dev/null ||
	bail_out "ssh-keygen could not make a PEM key"
ssh-keygen -q -t ecdsa -b 256 -m PKCS8 -N '' -C p8 -f "$K/i-p8" </dev/null >/dev/null ||
	bail_out "ssh-keygen could not make a PKCS#8 key"
ssh-keygen -q -t rsa -b 2048 -m PKCS8 -N 'p8 secret' -C p8enc -f "$K/i-p8enc" </dev/null >/dev/null ||
	bail_out "ssh-keygen could not make an encrypted PKCS#8 key"

# import_check <label> <key file> [extra keytool args before the command]
import_check() {
	local label=$1 file=$2
	shift 2
	run ktp "$@" import -l "$label" "$file"
	tap_result "$RC" "import $(basename "$file"): exit 0" || { _show_last import "$file"; return; }
	run kt export-public "$label"
	expect_eq "import $(basename "$file"): public key equals the .pub" \
		"$(awk '{ print $1, $2 }' "$file.pub") $label" "$OUT"
	expect_eq "import $(basename "$file"): list shows the .pub's fingerprint" \
		"$(fingerprint "$file.pub")" "$(list_fp "$label")"
}

import_check i-ed "$K/i-ed"
import_check i-ec "$K/i-ec"
import_check i-pem "$K/i-pem"
import_check i-p8 "$K/i-p8"
import_check i-enc "$K/i-enc" --passphrase-fd 4 4<<<"pass phrase"
import_check i-p8enc "$K/i-p8enc" --passphrase-fd 4 4<<<"p8 secret"

run ktp --passphrase-fd 4 import -l i-enc-bad "$K/i-enc" 4<<<"wrong phrase"
expect_eq "import: a wrong passphrase exits 3" 3 "$RC"
expect_match "import: says the passphrase is wrong" '^kmes-keytool: .*wrong passphrase$' "$ERR"
expect_fail "import: an encrypted key without a passphrase source fails" \
	notty "$KEYTOOL" --store "$ST" --pin-fd 3 import -l i-enc-none "$K/i-enc" 3<<<"$PIN"
expect_contains "import: says to use --passphrase-fd" "--passphrase-fd" "$ERR"
expect_fail "import: a label in use is refused" ktp import -l i-ed "$K/i-ed"
# An encrypted PKCS#8 file names its own KDF cost: one asking for more
# PBKDF2 rounds than the cap (20 million here: seconds to use) is refused
# at once, before any derivation; the usual cost imports.

# pkcs8_iter <PEM from openssl pkcs8 -v2 aes-256-cbc> <rounds> <out PEM>:
# the same file (salt, IV, encrypted key) naming another PBKDF2 round count,
# rebuilt with openssl asn1parse -genconf. Having openssl pkcs8 really
# derive 20 million rounds cost this test 7 s (27 s on a loaded machine).
pkcs8_iter() {
	local salt iv data
	read -r salt iv data <<<"$(openssl asn1parse -in "$1" |
		sed -n 's/.*OCTET STRING *\[HEX DUMP\]://p' | xargs)"
	[ -n "$data" ] || return 1
	cat >"$TMP/pkcs8.cnf" <<EOF
asn1 = SEQUENCE:epki
[epki]
alg = SEQUENCE:alg
data = FORMAT:HEX,OCTETSTRING:$data
[alg]
oid = OID:PBES2
params = SEQUENCE:pbes2
[pbes2]
kdf = SEQUENCE:kdf
enc = SEQUENCE:enc
[kdf]
oid = OID:PBKDF2
params = SEQUENCE:pbkdf2
[pbkdf2]
salt = FORMAT:HEX,OCTETSTRING:$salt
iter = INTEGER:$2
prf = SEQUENCE:prf
[prf]
oid = OID:hmacWithSHA256
null = NULL
[enc]
oid = OID:aes-256-cbc
iv = FORMAT:HEX,OCTETSTRING:$iv
EOF
	openssl asn1parse -genconf "$TMP/pkcs8.cnf" -noout -out "$3.der" \
		>/dev/null || return 1
	{
		echo "-----BEGIN ENCRYPTED PRIVATE KEY-----"
		base64 -w 64 "$3.der"
		echo "-----END ENCRYPTED PRIVATE KEY-----"
	} >"$3"
}
openssl genpkey -algorithm ed25519 -out "$K/p8-src.pem" 2>/dev/null &&
openssl pkcs8 -topk8 -in "$K/p8-src.pem" -out "$K/p8-usual" \
	-v2 aes-256-cbc -iter 2048 -passout pass:pw 2>/dev/null &&
pkcs8_iter "$K/p8-usual" 20000000 "$K/p8-costly" ||
	bail_out "openssl could not make the PKCS#8 fixtures"
# Left at 2048 rounds, the rebuild gives openssl's own file back byte for
# byte: p8-costly differs from a real file in its round count only.
{ pkcs8_iter "$K/p8-usual" 2048 "$K/p8-same" && cmp -s "$K/p8-same" "$K/p8-usual"; } ||
	bail_out "the PKCS#8 rebuild does not reproduce openssl's file"
start=$(date +%s)
run ktp --passphrase-fd 4 import -l p8-costly "$K/p8-costly" 4<<<"pw"
expect_eq "import: a PKCS#8 file asking for a huge KDF cost is refused" \
	1 "$RC"
expect_eq "import: and refused before deriving anything (under 3 s)" yes \
	"$([ $(($(date +%s) - start)) -lt 3 ] && echo yes || echo no)"
expect_ok "import: the usual PKCS#8 cost imports" \
	ktp --passphrase-fd 4 import -l p8-usual "$K/p8-usual" 4<<<"pw"
printf 'not a key\n' >"$K/junk"
expect_fail "import: a file that is no key is refused" ktp import -l junk "$K/junk"
expect_fail "import: a missing file is refused" ktp import -l nofile "$K/does-not-exist"
ssh-keygen -q -t ecdsa -b 256 -m PKCS8 -N '' -C p8b -f "$K/i-p8b" </dev/null >/dev/null ||
	bail_out "ssh-keygen could not make a second PKCS#8 key"
import_stdin() {
	ktp import -l i-p8b --confirm - <"$K/i-p8b"
}
expect_ok "import: - reads the key from stdin" import_stdin
expect_match "import --confirm: list shows [confirm]" 'i-p8b \(ECDSA\) \[confirm\]$' "$(kt list)"
import_again() {
	ktp import -l i-p8-again - <"$K/i-p8"
}
expect_fail "import: a key already in the store (other label) is refused" \
	import_again
expect_contains "import: the refusal names the label it has" \
	"already in the store as 'i-p8'" "$ERR"

# An Ed25519 PKCS#8 key made by OpenSSL; ssh-keygen cannot read it, so the
# expected public line is built from the raw public key.
openssl genpkey -algorithm ed25519 -out "$K/o-ed.pem" 2>/dev/null ||
	bail_out "openssl could not make an ed25519 key"
chmod 600 "$K/o-ed.pem"
{
	printf '\000\000\000\013ssh-ed25519\000\000\000\040'
	openssl pkey -in "$K/o-ed.pem" -pubout -outform DER | tail -c 32
} >"$K/o-ed.blob"
printf 'ssh-ed25519 %s\n' "$(base64 -w0 "$K/o-ed.blob")" >"$K/o-ed.pem.pub"
import_check o-ed "$K/o-ed.pem"

# ------------------------------------------- no private key bytes in the file
# What is checked: (1) no line of any imported key file's base64 body
# appears in the store; (2) the raw 32-byte Ed25519 seeds of the ssh-keygen
# key (taken from the openssh-key-v1 private section) and of the OpenSSL
# key (the last 32 bytes of its PKCS#8 DER) are not in the store; (3) the
# raw private scalar of the PKCS#8 P-256 key and the first 32 bytes of the
# PEM RSA key's private exponent are not in the store. Sealed records are
# random-looking, so a hit means plaintext leaked.
store_hex=$(hex_of "$ST")
leaks=
for f in i-ed i-ec i-pem i-p8; do
	while IFS= read -r line; do
		case $line in -----*|'') continue ;; esac
		[ ${#line} -ge 16 ] || continue
		grep -Fq -- "$line" "$ST" && leaks="$leaks $f"
	done <"$K/$f"
done
expect_eq "store: no base64 line of an imported key file" "" "$leaks"

pubraw=$(awk '{ print $2 }' "$K/i-ed.pub" | base64 -d | tail -c 32 | xxd -p | tr -d '\n')
seed=$(sed '1d;$d' "$K/i-ed" | tr -d '\n' | base64 -d | xxd -p | tr -d '\n' |
	grep -oE "00000040[0-9a-f]{64}$pubraw" | head -n 1 | cut -c 9-72)
if [ ${#seed} -eq 64 ]; then
	expect_lacks "store: no raw Ed25519 seed (openssh-key-v1 import)" "$seed" "$store_hex"
else
	fail "could not find the Ed25519 seed in the key file"
fi
oseed=$(openssl pkey -in "$K/o-ed.pem" -outform DER | tail -c 32 | xxd -p | tr -d '\n')
expect_eq "the OpenSSL Ed25519 seed is 32 bytes" 64 "${#oseed}"
expect_lacks "store: no raw Ed25519 seed (PKCS#8 import)" "$oseed" "$store_hex"
ecpriv=$(openssl pkey -in "$K/i-p8" -text -noout |
	sed -n '/^priv:/,/^pub:/p' | sed '1d;$d' | tr -d ' :\n')
ecpriv=${ecpriv: -64}
expect_eq "the P-256 private scalar is 32 bytes" 64 "${#ecpriv}"
expect_lacks "store: no raw P-256 private scalar" "$ecpriv" "$store_hex"
rsad=$(openssl pkey -in "$K/i-pem" -text -noout |
	sed -n '/^privateExponent:/,/^prime1:/p' | sed '1d;$d' | tr -d ' :\n')
rsad=${rsad#00}
rsad=${rsad:0:64}
expect_eq "a 32-byte probe of the RSA private exponent" 64 "${#rsad}"
expect_lacks "store: no RSA private exponent bytes" "$rsad" "$store_hex"

# --------------------------------------------------------------- delete
expect_ok "delete removes a key" ktp delete g-rsa2048
expect_no_match "delete: list no longer shows it" ' g-rsa2048 ' "$(kt list)"
expect_fail "delete: export-public of it fails" kt export-public g-rsa2048
expect_fail "delete: deleting it again fails" ktp delete g-rsa2048
expect_contains "delete: says there is no such key" "no key labelled 'g-rsa2048'" "$ERR"
expect_fail "export-public of an unknown label fails" kt export-public nope
expect_status "export-public without a label: usage error" 2 kt export-public
expect_ok "a label may start with '-'" ktp generate -t ed25519 -l -dash
expect_ok "export-public -- takes a label starting with '-'" kt export-public -- -dash
expect_match "export-public -- prints that key" '^ssh-ed25519 [^ ]+ -dash$' "$OUT"
expect_ok "delete -- takes a label starting with '-'" ktp delete -- -dash

# ------------------------------------------------------------ wrong PINs
nkeys=$(kt info | sed -n 's/^keys: //p')
run kt --pin-fd 3 verify 3<<<"9999-wrong"
expect_eq "wrong PIN: exit 3" 3 "$RC"
expect_match "wrong PIN: says so with 9 tries left" '^kmes-keytool: wrong PIN: 9 tries left' "$ERR"
ok=0; one_line "$ERR" || ok=1
tap_result $ok "wrong PIN: one line on stderr"
run kt --pin-fd 3 delete g-ed25519 3<<<"9999-wrong"
expect_match "second wrong PIN: 8 tries left" 'wrong PIN: 8 tries left' "$ERR"
expect_match "info counts the failures" '^pin-failures: 2$' "$(kt info)"
expect_ok "the right PIN still works" ktp verify
expect_match "a right PIN resets the counter" '^pin-failures: 0$' "$(kt info)"
expect_contains "a wrong PIN deleted nothing" " g-ed25519 " "$(kt list)"

for i in 1 2 3 4 5 6 7 8 9 10; do
	run kt --pin-fd 3 verify 3<<<"bad-pin-$i"
done
expect_eq "10th wrong PIN: exit 4 (blocked)" 4 "$RC"
expect_match "10th wrong PIN: says the PIN is blocked" 'blocked' "$ERR"
run ktp verify
expect_eq "blocked: even the right PIN is refused (exit 4)" 4 "$RC"
expect_match "blocked: says how to unblock" "^kmes-keytool: the PIN is blocked .*kmes-keytool unblock" "$ERR"
expect_match "info: blocked" '^pin-blocked: yes$' "$(kt info)"
expect_match "info: no tries left" '^pin-tries-left: 0$' "$(kt info)"
expect_ok "blocked: list still works without a PIN" kt list

run kt --so-pin-fd 3 --new-pin-fd 4 unblock 3<<<"wrong-so-pin" 4<<<"new-pin-1"
expect_eq "unblock with a wrong SO PIN: exit 3" 3 "$RC"
expect_match "unblock: says the SO PIN is wrong" '^kmes-keytool: wrong SO PIN' "$ERR"
expect_ok "unblock with the SO PIN sets a new PIN" \
	kt --so-pin-fd 3 --new-pin-fd 4 unblock 3<<<"$SOPIN" 4<<<"new-pin-1"
expect_match "unblock: not blocked any more" '^pin-blocked: no$' "$(kt info)"
expect_match "unblock: counter cleared" '^pin-failures: 0$' "$(kt info)"
run ktp verify
expect_eq "unblock: the old PIN no longer works" 3 "$RC"
PIN=new-pin-1
expect_ok "unblock: the new PIN works" ktp verify
expect_match "unblock: no key was lost" "^keys: $nkeys\$" "$(kt info)"

# --------------------------------------------------------------- passwd
expect_ok "passwd: old PIN then new PIN" \
	kt --pin-fd 3 --new-pin-fd 4 passwd 3<<<"$PIN" 4<<<"second-pin"
run ktp verify
expect_eq "passwd: the old PIN is refused" 3 "$RC"
PIN=second-pin
expect_ok "passwd: the new PIN works" ktp verify
# Both secrets on one pipe: the reader must not swallow the second line.
pipe_passwd() {
	printf '%s\n%s\n' "$PIN" third-pin |
		bounded "$KEYTOOL" --store "$ST" --pin-fd 0 --new-pin-fd 0 passwd
}
expect_ok "passwd: PIN and new PIN on one pipe" pipe_passwd
PIN=third-pin
expect_ok "passwd: the PIN from the pipe's second line works" ktp verify
expect_status "passwd: a 2-byte new PIN is refused" 1 \
	kt --pin-fd 3 --new-pin-fd 4 passwd 3<<<"$PIN" 4<<<"ab"
expect_ok "passwd: a refused new PIN leaves the old one" ktp verify

# --------------------------------------------------------------- verify
run ktp verify
expect_eq "verify: exit 0 on an intact store" 0 "$RC"
expect_contains "verify: says it is intact" "intact" "$OUT"

# flip_check <offset> <what>: a copy of the store with one byte flipped at
# offset fails verify with a non-zero status and one clear line.
flip_check() {
	local off=$1 what=$2 copy=$TMP/flip/keystore byte
	rm -rf "$TMP/flip"
	mkdir -m 700 "$TMP/flip"
	cp "$ST" "$copy"
	byte=$(od -An -tu1 -j "$off" -N 1 "$copy" | tr -d ' ')
	printf "$(printf '\\%03o' $((byte ^ 0x20)))" |
		dd of="$copy" bs=1 seek="$off" conv=notrunc status=none
	run bounded "$KEYTOOL" --store "$copy" --pin-fd 3 verify 3<<<"$PIN"
	if [ "$RC" -ne 0 ] && [ "$RC" -lt 124 ]; then
		pass "tamper ($what, offset $off): verify fails (exit $RC)"
	else
		fail "tamper ($what, offset $off): verify fails" "exit status $RC"
		_show_last verify
	fi
	expect_match "tamper ($what): one clear line" \
		'^kmes-keytool: .*(damaged|integrity|corrupt)' "$ERR"
	run bounded "$KEYTOOL" --store "$copy" --pin-fd 3 export-public g-ed25519 3<<<"$PIN"
	[ "$RC" -lt 124 ] || fail "tamper ($what): export-public crashed (exit $RC)"
}
size=$(stat -c %s "$ST")
label_off=$(grep -obUaF "g-ecdsa384" "$ST" | head -n 1 | cut -d: -f1)
flip_check $((size - 1)) "last byte"
flip_check $((size / 2)) "middle"
if [ -n "$label_off" ]; then
	flip_check $((label_off + 3)) "a key label"
else
	fail "the label g-ecdsa384 is not in the store in the clear"
fi
expect_ok "tampering with copies left the store intact" ktp verify

# ---------------------------------------------------- concurrent writers
pids=()
for i in 1 2 3 4 5 6 7 8; do
	bounded "$KEYTOOL" --store "$ST" --pin-fd 3 generate -t ed25519 -l "par-$i" \
		3<<<"$PIN" >"$TMP/par-$i.out" 2>"$TMP/par-$i.err" &
	pids+=($!)
done
bad=0
for i in 1 2 3 4 5 6 7 8; do
	wait "${pids[$((i - 1))]}" || { bad=$((bad + 1)); diag_file "$TMP/par-$i.err"; }
done
expect_eq "8 concurrent generates all succeed" 0 "$bad"
listed=$(kt list)
missing=
for i in 1 2 3 4 5 6 7 8; do
	printf '%s\n' "$listed" | grep -q " par-$i (ED25519)$" || missing="$missing par-$i"
done
expect_eq "all 8 concurrently generated keys are listed" "" "$missing"
expect_ok "the store verifies after concurrent writers" ktp verify

# --------------------------------------------------------- kill -9 loops
# Writers killed at random moments: the store must stay intact and keep
# every key whose generate reported success (and lose every key whose
# delete did). A delete killed after its rename may or may not have
# happened, so its victim counts as neither. Every few rounds a verify (not killed) checks intactness
# and resets the failure counter, which a kill during the KDF leaves
# counted, by design.
t0=$(date +%s%N)
ktp generate -t ed25519 -l kill-probe >/dev/null 2>&1
dur=$((($(date +%s%N) - t0) / 1000000))
[ "$dur" -gt 5 ] || dur=5
[ "$dur" -lt 900 ] || dur=900
diag "one generate takes about $dur ms; killing within 0..$((dur * 5 / 4)) ms"
present=(kill-probe)
gone=()
kills=0
verify_bad=0
for i in $(seq 1 50); do
	if [ $((i % 3)) -eq 0 ] && [ ${#present[@]} -gt 3 ]; then
		victim=${present[0]}
		"$KEYTOOL" --store "$ST" --pin-fd 3 delete "$victim" 3<<<"$PIN" \
			>/dev/null 2>&1 &
		op=del
	else
		victim=kill-$i
		"$KEYTOOL" --store "$ST" --pin-fd 3 generate -t ed25519 -l "$victim" \
			3<<<"$PIN" >/dev/null 2>&1 &
		op=gen
	fi
	pid=$!
	sleep "$(printf '0.%03d' $((RANDOM % (dur * 5 / 4 + 1))))"
	kill -KILL "$pid" 2>/dev/null && kills=$((kills + 1))
	# (bash reports a killed job on wait's stderr.)
	{ wait "$pid"; } 2>/dev/null
	rc=$?
	if [ "$op" = del ]; then
		present=("${present[@]:1}")
		[ "$rc" -eq 0 ] && gone+=("$victim")
	elif [ "$rc" -eq 0 ]; then
		present+=("$victim")
	fi
	if [ $((i % 5)) -eq 0 ]; then
		run ktp verify
		[ "$RC" -eq 0 ] || { verify_bad=$((verify_bad + 1)); _show_last verify; }
	fi
done
diag "killed $kills of 50 writers; ${#present[@]} keys reported generated and kept, ${#gone[@]} deleted"
expect_eq "kill -9: every verify between rounds passed" 0 "$verify_bad"
expect_ok "kill -9: verify passes at the end" ktp verify
listed=$(kt list)
missing=
for l in "${present[@]}"; do
	printf '%s\n' "$listed" | grep -q " $l (ED25519)$" || missing="$missing $l"
done
expect_eq "kill -9: no key whose generate succeeded is lost" "" "$missing"
resurrected=
for l in "${gone[@]}"; do
	printf '%s\n' "$listed" | grep -q " $l (ED25519)$" && resurrected="$resurrected $l"
done
expect_eq "kill -9: no key whose delete succeeded came back" "" "$resurrected"
expect_eq "kill -9: the store file is still 0600" 600 "$(mode_of "$ST")"

done_testing
