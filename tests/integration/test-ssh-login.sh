#!/bin/bash
# Real ssh logins to a private sshd on 127.0.0.1 where the only private keys
# are in the agent under test: every key type, user certificates, both RSA
# SHA-2 signature algorithms, and agent forwarding with a second hop.
#
# Run: AGENT=/usr/bin/ssh-agent bash tests/integration/test-ssh-login.sh

. "$(dirname "$0")/lib.sh"

start_sshd
ME=$(id -un)
MYUID=$(id -u)

K=$TMP/keys
mkdir -p "$K"
for t in $KEY_TYPES; do
	gen_key "$t" "$K/$t" "login-$t"
done
gen_key ed25519 "$K/stranger" stranger
# shellcheck disable=SC2046 # one argument per key type
authorize $(for t in $KEY_TYPES; do echo "$K/$t.pub"; done)

# User certificates: the certified keys are NOT in authorized_keys, so only
# the certificate (TrustedUserCAKeys) can let them in.
gen_key ed25519 "$TMP/ca" kmes-test-ca
trust_user_ca "$TMP/ca.pub"
for c in cert-ed25519:ed25519 cert-rsa:rsa-3072 cert-wrong:ed25519; do
	name=${c%%:*}
	gen_key "${c#*:}" "$K/$name" "login-$name"
	principal=$ME
	[ "$name" = cert-wrong ] && principal=kmes-nobody-else
	ssh-keygen -q -s "$TMP/ca" -I "kmes-$name" -n "$principal" -z 7 \
		-V -5m:+1h "$K/$name.pub" </dev/null >/dev/null 2>&1 ||
		bail_out "ssh-keygen -s could not certify $name"
done

start_agent login
for k in $KEY_TYPES stranger cert-ed25519 cert-rsa cert-wrong; do
	bounded ssh-add "$K/$k" >/dev/null 2>&1 || bail_out "ssh-add $k failed"
	# Only the agent can sign from here on.
	rm -f "$K/$k"
done

run ssh-add -l
expect_contains "ssh-add loads an ed25519 certificate next to its key" \
	"login-cert-ed25519 (ED25519-CERT)" "$OUT"
expect_contains "ssh-add loads an RSA certificate next to its key" \
	"login-cert-rsa (RSA-CERT)" "$OUT"

# accepted_fp <fingerprint>: sshd accepted a login by exactly that key.
accepted_fp() {
	sshd_logged "Accepted publickey for $ME from 127\\.0\\.0\\.1 port [0-9]+ ssh2: [A-Z0-9-]+ $(printf '%s' "$1" | sed 's/[+/.]/\\&/g')"
}

# ------------------------------------------------------- each key type
# One login per type carries all three checks (a login is most of this
# test's time): it succeeds, sshd accepted that key, its command's output
# comes back.
for t in $KEY_TYPES; do
	fp=$(fingerprint "$K/$t.pub")
	log_mark
	run ssh_test -i "$K/$t.pub" kmes-test "echo login-$t \$(id -u)"
	printed=$OUT
	tap_result "$RC" "ssh with the agent's $t key logs in to the test sshd and runs a command" ||
		_show_last ssh_test -i "$K/$t.pub"
	expect_ok "sshd accepted the $t key itself" accepted_fp "$fp"
	expect_eq "a command run over an agent-authenticated $t login prints its output" \
		"login-$t $MYUID" "$printed"
done

expect_fail "a key the agent holds but sshd does not authorize is refused" \
	ssh_test -i "$K/stranger.pub" kmes-test true

# ------------------------------------------------------ RSA SHA-2 variants
# sshd checks that the signature's algorithm is the one the client named,
# so a login with a single allowed algorithm proves the agent honoured the
# SHA-2 flag ssh passed with the sign request.
for alg in rsa-sha2-256 rsa-sha2-512; do
	log_mark
	run ssh_test -o "PubkeyAcceptedAlgorithms=$alg" -i "$K/rsa-3072.pub" \
		kmes-test "echo $alg"
	expect_eq "RSA login works with only $alg allowed" "$alg" "$OUT"
	expect_ok "sshd saw the $alg signature algorithm" \
		sshd_logged "pkalg $alg pkblob RSA"
done

# ------------------------------------------------------------ certificates
for name in cert-ed25519 cert-rsa; do
	log_mark
	run ssh_test -i "$K/$name.pub" -o "CertificateFile=$K/$name-cert.pub" \
		kmes-test "echo $name"
	expect_eq "login with the agent's $name certificate signed by the trusted CA" \
		"$name" "$OUT"
	expect_ok "sshd accepted $name as a certificate with its key ID" \
		sshd_logged "Accepted publickey for $ME .*-CERT .* ID kmes-$name \\(serial 7\\)"
done
expect_ok "the RSA certificate login used rsa-sha2-512-cert" \
	sshd_logged "pkalg rsa-sha2-512-cert-v01@openssh.com"
expect_fail "a certificate for another principal is refused" \
	ssh_test -i "$K/cert-wrong.pub" -o "CertificateFile=$K/cert-wrong-cert.pub" \
	kmes-test true

# ------------------------------------------------------------- forwarding
run ssh_test -i "$K/ed25519.pub" kmes-test \
	'echo "sock=[${SSH_AUTH_SOCK-}]"; ssh-add -l >/dev/null 2>&1; echo "rc=$?"'
expect_eq "without -A the remote session gets no agent" \
	"sock=[]
rc=2" "$OUT"

run ssh_test -A -i "$K/ed25519.pub" kmes-test 'ssh-add -l'
remote_list=$OUT
expect_eq "ssh -A: remote ssh-add -l lists exactly the local agent's keys" \
	"$(agent_fingerprints | sort)" \
	"$(printf '%s\n' "$remote_list" | awk '{ print $2 }' | sort)"

run ssh_test -A -i "$K/ed25519.pub" kmes-test 'ssh-add -L'
expect_eq "ssh -A: remote ssh-add -L matches the local one" \
	"$(bounded ssh-add -L | sort)" "$(printf '%s\n' "$OUT" | sort)"

log_mark
second="ssh -F $SSH_CONFIG -i $K/ecdsa-256.pub kmes-test 'echo second-hop \$(id -u)'"
run ssh_test -A -i "$K/ed25519.pub" kmes-test "$second"
expect_eq "a second ssh hop authenticates through the forwarded agent" \
	"second-hop $MYUID" "$OUT"
expect_ok "the second hop was accepted with the forwarded ecdsa-256 key" \
	accepted_fp "$(fingerprint "$K/ecdsa-256.pub")"

second="ssh -F $SSH_CONFIG -i $K/rsa-3072.pub -o PubkeyAcceptedAlgorithms=rsa-sha2-256 kmes-test 'echo rsa-hop'"
run ssh_test -A -i "$K/ed25519.pub" kmes-test "$second"
expect_eq "the forwarded agent honours rsa-sha2-256 on a second hop" \
	"rsa-hop" "$OUT"

second="ssh -F $SSH_CONFIG -i $K/stranger.pub kmes-test true"
expect_fail "the second hop still refuses a key sshd does not authorize" \
	ssh_test -A -i "$K/ed25519.pub" kmes-test "$second"

# ------------------------------------------------- the agent is required
expect_ok "ssh-add -d removes the ecdsa-521 key" ssh-add -d "$K/ecdsa-521.pub"
expect_fail "with its key gone from the agent, the ecdsa-521 login fails" \
	ssh_test -i "$K/ecdsa-521.pub" kmes-test true
stop_pid "$AGENT_PID"
expect_fail "with the agent stopped, no login works" \
	ssh_test -i "$K/ed25519.pub" kmes-test true

done_testing
