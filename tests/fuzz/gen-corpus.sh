#!/bin/bash
# Regenerates the fuzz seed corpora in tests/fuzz/corpus/ with the real
# tools: ssh-keygen and openssl for key files, public keys and
# certificates; kmes-keytool for stores; fuzz-gen-agent-msg (the project's
# own encoders) for agent requests. Keys are fresh each time, so running
# this rewrites every seed; commit the result deliberately.
#
# usage: tests/fuzz/gen-corpus.sh [builddir]   (default: build-fuzz)
# The build dir must be a -Dfuzz=true build (tests/fuzz/run.sh makes one).
#
# The passphrase and PIN are the ones the harnesses try (fuzz-keyfile.c,
# fuzz-store.c); bcrypt and scrypt run at their cheapest, so a seed costs
# the fuzzers milliseconds.
set -euo pipefail

cd "$(dirname "$0")/../.."
BUILD=${1:-build-fuzz}
case $BUILD in
/*) ;;
*) BUILD=$PWD/$BUILD ;;
esac
GEN=$BUILD/tests/fuzz/fuzz-gen-agent-msg
KEYTOOL=$BUILD/src/keytool/kmes-keytool
for tool in "$GEN" "$KEYTOOL"; do
	[ -x "$tool" ] || { echo "gen-corpus: $tool not built" >&2; exit 1; }
done
for tool in ssh-keygen openssl base64; do
	command -v "$tool" >/dev/null ||
	    { echo "gen-corpus: $tool not found" >&2; exit 1; }
done

PASS=fuzz-passphrase
PIN=fuzz-pin-1234
SOPIN=fuzz-so-pin-5678
CORPUS=$PWD/tests/fuzz/corpus
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# The tools are built with ASan; their exit is not what is tested here.
export ASAN_OPTIONS=detect_leaks=0

for t in fuzz-agent-msg fuzz-keyblob fuzz-keyfile; do
	rm -rf "${CORPUS:?}/$t"
	mkdir -p "$CORPUS/$t"
done
# fuzz-store's v1-* and v2-* seeds are format 1 and 2 stores, which
# kmes-keytool no longer writes (tests/unit/store reads them too): they are
# kept, and everything else there is made anew.
mkdir -p "$CORPUS/fuzz-store"
find "$CORPUS/fuzz-store" -type f ! -name 'v1-*' ! -name 'v2-*' -delete

# key <file> <ssh-keygen args...>: a new key pair, quietly.
key() {
	local f=$1
	shift
	ssh-keygen -q -C "seed@kmes" -f "$TMP/$f" "$@" </dev/null
}

# blob <pubfile> <seed>: the binary blob of an OpenSSH public key line.
blob() {
	cut -d' ' -f2 "$1" | base64 -d >"$CORPUS/fuzz-keyblob/$2"
}

# --- key files -----------------------------------------------------------
KF=$CORPUS/fuzz-keyfile
key ed25519 -t ed25519 -N ''
key ed25519-aes256-ctr -t ed25519 -N "$PASS" -a 1
key ed25519-aes128-cbc -t ed25519 -N "$PASS" -a 1 -Z aes128-cbc
key ed25519-aes256-gcm -t ed25519 -N "$PASS" -a 1 -Z aes256-gcm@openssh.com
key ed25519-chacha -t ed25519 -N "$PASS" -a 1 -Z chacha20-poly1305@openssh.com
key ecdsa256 -t ecdsa -b 256 -N ''
key ecdsa384-enc -t ecdsa -b 384 -N "$PASS" -a 1
key ecdsa521 -t ecdsa -b 521 -N ''
key rsa1024 -t rsa -b 1024 -N ''
key rsa1024-pem -t rsa -b 1024 -N '' -m PEM
key rsa1024-pem-enc -t rsa -b 1024 -N "$PASS" -m PEM
key ecdsa256-pem -t ecdsa -b 256 -N '' -m PEM
key ecdsa256-pkcs8 -t ecdsa -b 256 -N '' -m PKCS8
key rsa1024-pkcs8-enc -t rsa -b 1024 -N "$PASS" -m PKCS8
for f in ed25519 ed25519-aes256-ctr ed25519-aes128-cbc ed25519-aes256-gcm \
    ed25519-chacha ecdsa256 ecdsa384-enc ecdsa521 rsa1024 rsa1024-pem \
    rsa1024-pem-enc ecdsa256-pem ecdsa256-pkcs8 rsa1024-pkcs8-enc; do
	cp "$TMP/$f" "$KF/$f"
done
openssl genpkey -algorithm ed25519 -out "$KF/ed25519-pkcs8" 2>/dev/null
# The binary openssh-key-v1 form, as after base64 decoding.
sed '1d;$d' "$TMP/ed25519" | base64 -d >"$KF/ed25519-binary"

# --- public keys and certificates -----------------------------------------
key ca-ecdsa -t ecdsa -b 256 -N ''
key ca-rsa -t rsa -b 1024 -N ''
key ca-ed25519 -t ed25519 -N ''
# A user certificate with critical options, extensions and principals.
cp "$TMP/ed25519.pub" "$TMP/user.pub"
ssh-keygen -q -s "$TMP/ca-ecdsa" -I "user cert" -n alice,bob -V -1d:+3650d \
    -O force-command=/bin/true -O source-address=192.0.2.0/24 \
    -z 42 "$TMP/user.pub"
# A host certificate with wildcard principals, signed by an RSA CA.
cp "$TMP/ecdsa256.pub" "$TMP/host.pub"
ssh-keygen -q -s "$TMP/ca-rsa" -t rsa-sha2-512 -I "host cert" -h \
    -n 'host.example.org,*.example.org' "$TMP/host.pub"
# An RSA key certified by an Ed25519 CA, valid forever.
cp "$TMP/rsa1024.pub" "$TMP/rsauser.pub"
ssh-keygen -q -s "$TMP/ca-ed25519" -I "rsa user" -n carol "$TMP/rsauser.pub"
KB=$CORPUS/fuzz-keyblob
blob "$TMP/ed25519.pub" ed25519.blob
blob "$TMP/ecdsa256.pub" ecdsa256.blob
blob "$TMP/ecdsa384-enc.pub" ecdsa384.blob
blob "$TMP/ecdsa521.pub" ecdsa521.blob
blob "$TMP/rsa1024.pub" rsa1024.blob
blob "$TMP/user-cert.pub" ed25519-user-cert.blob
blob "$TMP/host-cert.pub" ecdsa-host-cert.blob
blob "$TMP/rsauser-cert.pub" rsa-user-cert.blob
cp "$TMP/ed25519.pub" "$KB/ed25519.pub"
cp "$TMP/rsa1024.pub" "$KB/rsa1024.pub"
cp "$TMP/user-cert.pub" "$KB/ed25519-user-cert.pub"
cp "$TMP/host-cert.pub" "$KB/ecdsa-host-cert.pub"

# --- agent requests --------------------------------------------------------
"$GEN" "$CORPUS/fuzz-agent-msg" "$TMP/ed25519" "$TMP/user-cert.pub"

# --- key stores ------------------------------------------------------------
# kt <store> <args...>: kmes-keytool with the PINs on descriptors 3 and 4.
kt() {
	local st=$1
	shift
	"$KEYTOOL" --store "$st" --pin-fd 3 --so-pin-fd 4 "$@" \
	    3<<<"$PIN" 4<<<"$SOPIN" >/dev/null
}
KS=$CORPUS/fuzz-store
kt "$TMP/empty" init --label "empty store" --kdf-cost 10
kt "$TMP/two" init --label "two keys" --kdf-cost 10
kt "$TMP/two" generate -t ed25519 -l "ed25519 key"
kt "$TMP/two" generate -t ecdsa -l "ecdsa key" --confirm --id 0102030405
# Labels one byte apart: a mutant can make two records share a label.
kt "$TMP/three" init --kdf-cost 10
kt "$TMP/three" generate -t ecdsa -b 384 -l key1
kt "$TMP/three" import -l key2 "$TMP/rsa1024"
kt "$TMP/three" generate -t ed25519 -l key3
for s in empty two three; do
	cp "$TMP/$s" "$KS/$s"
done

du -sh "$CORPUS"
