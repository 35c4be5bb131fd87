#!/bin/bash
# ssh-keygen -Y sign through the agent (the private key file is deleted
# after ssh-add, so only the agent can sign) and -Y verify against an
# allowed_signers file, for every key type.
#
# Run: AGENT=/usr/bin/ssh-agent bash tests/integration/test-keygen-sign.sh

. "$(dirname "$0")/lib.sh"

K=$TMP/keys
mkdir -p "$K"
printf 'kmes-agent signs this file\n' >"$TMP/data"
printf 'kmes-agent signs this fil3\n' >"$TMP/tampered"
: >"$TMP/allowed_signers"

start_agent sign

for t in $KEY_TYPES; do
	gen_key "$t" "$K/$t" "kmes-$t"
	printf '%s namespaces="file" %s\n' "signer-$t@kmes.test" \
		"$(cut -d' ' -f1,2 "$K/$t.pub")" >>"$TMP/allowed_signers"
done

# verify <identity> <namespace> <data file> <sig file>
verify() {
	bounded ssh-keygen -Y verify -f "$TMP/allowed_signers" -I "$1" -n "$2" \
		-s "$4" <"$3"
}

# sign_file <pub> <data>: the real ssh-keygen -Y sign invocation under test.
sign_file() {
	rm -f "$2.sig"
	bounded ssh-keygen -Y sign -f "$1" -n file "$2" </dev/null
}

# sig_algorithm <sig file>: the algorithm name inside an armored SSHSIG
# (PROTOCOL.sshsig: "SSHSIG", u32 version, then the strings publickey,
# namespace, reserved, hash_algorithm, signature; the signature blob itself
# starts with the algorithm name).  Parsed here so the check does not trust
# ssh-keygen's own reading of what the agent produced.
sig_algorithm() {
	local hex off n i name=
	hex=$(sed '1d;$d' "$1" | base64 -d | od -An -v -tx1 | tr -d ' \n')
	[ "${hex:0:12}" = 535348534947 ] || return 1	# "SSHSIG"
	off=20						# magic + version, in hex digits
	for _ in publickey namespace reserved hash_algorithm; do
		n=$((16#${hex:off:8}))
		off=$((off + 8 + 2 * n))
	done
	off=$((off + 8))				# length of the signature blob
	n=$((16#${hex:off:8}))
	off=$((off + 8))
	for ((i = 0; i < n; i++)); do
		name+=$(printf "\\x${hex:off + 2 * i:2}")
	done
	printf '%s\n' "$name"
}

for t in $KEY_TYPES; do
	id="signer-$t@kmes.test"
	fp=$(fingerprint "$K/$t.pub")
	expect_ok "ssh-add loads the $t key" ssh-add "$K/$t"
	# From here on only the agent holds the private half.
	rm -f "$K/$t"

	expect_ok "ssh-keygen -Y sign -f $t.pub signs through the agent" \
		sign_file "$K/$t.pub" "$TMP/data"
	run verify "$id" file "$TMP/data" "$TMP/data.sig"
	if [ "$RC" -eq 0 ]; then
		pass "ssh-keygen -Y verify accepts the agent's $t signature"
	else
		fail "ssh-keygen -Y verify accepts the agent's $t signature"
		_show_last verify
	fi
	expect_contains "-Y verify reports a good \"file\" signature for the $t signer" \
		"Good \"file\" signature for $id with" "$OUT"
	expect_contains "-Y verify names the $t fingerprint" "$fp" "$OUT"

	expect_fail "the $t signature does not verify for different data" \
		verify "$id" file "$TMP/tampered" "$TMP/data.sig"
	expect_fail "the $t signature does not verify in another namespace" \
		verify "$id" git "$TMP/data" "$TMP/data.sig"
	other=signer-ed25519@kmes.test
	[ "$t" = ed25519 ] && other=signer-rsa-3072@kmes.test
	expect_fail "the $t signature does not verify as another signer" \
		verify "$other" file "$TMP/data" "$TMP/data.sig"
	run bounded ssh-keygen -Y find-principals -f "$TMP/allowed_signers" \
		-s "$TMP/data.sig"
	expect_eq "-Y find-principals attributes the $t signature to its signer" \
		"$id" "$OUT"

	case $t in
	rsa-*)	expect_eq "RSA SSHSIG signatures use rsa-sha2-512" \
			rsa-sha2-512 "$(sig_algorithm "$TMP/data.sig")" ;;
	ecdsa-*) expect_eq "ECDSA P-${t#ecdsa-} signatures use their curve's algorithm" \
			"ecdsa-sha2-nistp${t#ecdsa-}" "$(sig_algorithm "$TMP/data.sig")" ;;
	ed25519) expect_eq "Ed25519 signatures use ssh-ed25519" \
			ssh-ed25519 "$(sig_algorithm "$TMP/data.sig")" ;;
	esac

	cp "$TMP/data.sig" "$TMP/first.sig"
	expect_ok "the agent signs the same data with $t a second time" \
		sign_file "$K/$t.pub" "$TMP/data"
	expect_ok "the second $t signature verifies too" \
		verify "$id" file "$TMP/data" "$TMP/data.sig"

	expect_ok "ssh-add -d drops the $t key" ssh-add -d "$K/$t.pub"
	expect_fail "with the $t key gone from the agent, -Y sign fails" \
		sign_file "$K/$t.pub" "$TMP/data"
done

done_testing
