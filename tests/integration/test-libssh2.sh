#!/bin/bash
# A libssh2 program (libssh2-client.c) logs in to the test sshd through the
# agent under test with libssh2_agent_* and runs a command: a second,
# independent agent-protocol client besides OpenSSH's own.  One agent per
# key type, so each type is proven on its own.
#
# What Debian 12's libssh2 1.10.0 can do through an agent (found by running
# this against OpenSSH 9.2's ssh-agent):
#   - ssh-ed25519 and ecdsa-sha2-nistp256/384/521 identities log in.
#   - RSA: libssh2 < 1.11 never sets the SSH_AGENT_RSA_SHA2_* flags, so it
#     asks the agent for an "ssh-rsa" (SHA-1) signature.  OpenSSH 9.2's sshd
#     rejects that by default ("signature algorithm ssh-rsa not in
#     PubkeyAcceptedAlgorithms"), so the login is expected to FAIL, for that
#     reason only.  With "PubkeyAcceptedAlgorithms +ssh-rsa" on the server
#     the same RSA identity logs in, proving the agent made a valid SHA-1
#     RSA signature when asked with flags 0.  From libssh2 1.11 on the
#     default-server RSA login is expected to succeed instead.
#
# Run: AGENT=/usr/bin/ssh-agent bash tests/integration/test-libssh2.sh
# (LIBSSH2_CLIENT names the built client; without it the script builds one
# with cc and pkg-config's libssh2.)

. "$(dirname "$0")/lib.sh"

if [ -z "${LIBSSH2_CLIENT:-}" ]; then
	require cc pkg-config
	LIBSSH2_CLIENT=$TMP/libssh2-client
	# shellcheck disable=SC2046
	cc -std=c11 -D_GNU_SOURCE -O2 -o "$LIBSSH2_CLIENT" \
		"$(dirname "$0")/libssh2-client.c" \
		$(pkg-config --cflags --libs libssh2) >"$TMP/cc.log" 2>&1 || {
		diag_file "$TMP/cc.log"
		bail_out "cannot build libssh2-client (is libssh2-1-dev installed?)"
	}
fi
[ -x "$LIBSSH2_CLIENT" ] || bail_out "LIBSSH2_CLIENT is not executable: $LIBSSH2_CLIENT"

start_sshd
ME=$(id -un)

# libssh2 <command>: log in through the agent at $SSH_AUTH_SOCK.
libssh2() {
	bounded "$LIBSSH2_CLIENT" 127.0.0.1 "$SSHD_PORT" "$ME" "$TMP/known_hosts" "$1"
}

K=$TMP/keys
mkdir -p "$K"
for t in $KEY_TYPES; do
	gen_key "$t" "$K/$t" "libssh2-$t"
done
gen_key ed25519 "$K/stranger" stranger
# shellcheck disable=SC2046 # one argument per key type
authorize $(for t in $KEY_TYPES; do echo "$K/$t.pub"; done)

run libssh2 true
expect_eq "libssh2-client runs (no agent: exit 102, agent unreachable)" 102 "$RC"
L2VER=$(printf '%s\n' "$ERR" | sed -n 's/^libssh2-client: libssh2 //p')
diag "libssh2 version: ${L2VER:-unknown}"
case $L2VER in
1.[0-9].* | 1.10.*) RSA_SHA2=no ;;
*) RSA_SHA2=yes ;;
esac

for t in $KEY_TYPES; do
	start_agent "agent-$t"
	bounded ssh-add -q "$K/$t" 2>/dev/null || bail_out "ssh-add $t failed"
	rm -f "$K/$t"
	fp=$(fingerprint "$K/$t.pub")
	log_mark
	run libssh2 "echo libssh2-$t"
	if [ "${t%%-*}" = rsa ] && [ "$RSA_SHA2" = no ]; then
		expect_eq "libssh2 $L2VER cannot log in with an agent RSA key to a default sshd (ssh-rsa refused)" \
			103 "$RC"
		expect_ok "sshd refused it only for libssh2's SHA-1 ssh-rsa algorithm" \
			sshd_logged "signature algorithm ssh-rsa not in PubkeyAcceptedAlgorithms"
	else
		expect_eq "libssh2 logs in with the agent's $t key and runs a command" \
			"libssh2-$t" "$OUT"
		expect_eq "the $t login's command exit status 0 comes back over libssh2" \
			0 "$RC"
		expect_ok "sshd accepted the $t key from libssh2" \
			sshd_logged "Accepted publickey for $ME from 127\\.0\\.0\\.1 port [0-9]+ ssh2: [A-Z0-9]+ $(printf '%s' "$fp" | sed 's/[+/.]/\\&/g')"
	fi
	if [ "$t" = ed25519 ]; then
		run libssh2 "exit 7"
		expect_eq "a remote exit status (7) comes back through libssh2" 7 "$RC"
	fi
	stop_pid "$AGENT_PID"
done

start_agent agent-mixed
bounded ssh-add -q "$K/stranger" 2>/dev/null || bail_out "ssh-add stranger failed"
run libssh2 true
expect_eq "libssh2 is refused when the agent's only key is not authorized (exit 103)" \
	103 "$RC"
bounded ssh-add -D >/dev/null 2>&1
run libssh2 true
expect_eq "libssh2 sees an empty agent as having no identities (exit 102)" 102 "$RC"
stop_pid "$AGENT_PID"

# The agent's SHA-1 RSA signature (flags 0), checked by a server that
# still accepts ssh-rsa.
stop_pid "$SSHD_PID"
start_sshd "PubkeyAcceptedAlgorithms +ssh-rsa"
gen_key rsa-3072 "$K/rsa-sha1" libssh2-rsa-sha1
authorize "$K/rsa-sha1.pub"
start_agent agent-rsa-sha1
bounded ssh-add -q "$K/rsa-sha1" 2>/dev/null || bail_out "ssh-add rsa failed"
rm -f "$K/rsa-sha1"
log_mark
run libssh2 "echo libssh2-rsa-sha1"
expect_eq "libssh2 logs in with an agent RSA key where sshd allows ssh-rsa" \
	"libssh2-rsa-sha1" "$OUT"
if [ "$RSA_SHA2" = no ]; then
	expect_ok "that RSA login used an ssh-rsa (SHA-1) agent signature" \
		sshd_logged "pkalg ssh-rsa pkblob RSA"
else
	expect_ok "that RSA login used an RSA signature" \
		sshd_logged "pkalg (ssh-rsa|rsa-sha2-256|rsa-sha2-512) pkblob RSA"
fi
stop_pid "$AGENT_PID"

done_testing
