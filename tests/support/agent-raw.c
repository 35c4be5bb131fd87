/*
 * agent-raw.c: kmes-agent-raw, a raw agent-protocol client that does what
 * ssh-add cannot be made to do on purpose: bind its connection to a
 * session first (session-bind@openssh.com, signed by a host key made with
 * ssh-keygen, as ssh does on every connection it forwards), then ask for a
 * PKCS#11 provider to be added or removed on that same connection.
 *
 *   kmes-agent-raw SOCKET none|auth|fwd HOSTKEY add|add-constrained|remove
 *       MODULE [PIN]
 *
 * "fwd" binds with is_forwarding = 1 (the ssh -A hop), "auth" with 0,
 * "none" sends no bind (HOSTKEY is then ignored; give "-"). Prints one line
 * per reply ("bind: SUCCESS", "add: FAILURE") and exits 0 if the add or
 * remove succeeded, 1 if the agent answered FAILURE, 2 if anything else
 * went wrong (including a bind the agent refused: the test's premise).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent-client.h"
#include "agent-msg.h"
#include "crypto.h"
#include "kbuf.h"
#include "keyfile.h"
#include "kmes-err.h"

#define KEYFILE_MAX (64 * 1024)

static int
usage(void)
{
	fprintf(stderr,
	    "usage: kmes-agent-raw SOCKET none|auth|fwd HOSTKEY "
	    "add|add-constrained|remove MODULE [PIN]\n");
	return 2;
}

/* Reads an unencrypted private key file (ssh-keygen -N ''). */
static int
read_key(const char *path, struct ks_key **keyp)
{
	uint8_t *data = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, r;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return KMES_ERR_SYSTEM;
	}
	if ((data = malloc(KEYFILE_MAX)) == NULL) {
		close(fd);
		return KMES_ERR_ALLOC;
	}
	while (len < KEYFILE_MAX &&
	    (n = read(fd, data + len, KEYFILE_MAX - len)) > 0)
		len += (size_t)n;
	close(fd);
	r = ks_keyfile_parse(data, len, NULL, 0, keyp, NULL);
	if (r != 0)
		fprintf(stderr, "%s: %s\n", path, kmes_err(r));
	free(data);
	return r;
}

/* session-bind@openssh.com: host key, session ID, its signature, flag. */
static int
put_bind(struct kbuf *b, const struct ks_key *host, int forwarding)
{
	uint8_t sid[32];
	struct kbuf *sig = NULL;
	const uint8_t *blob;
	size_t blen;
	int r;

	if ((sig = kbuf_new()) == NULL)
		return KMES_ERR_ALLOC;
	blob = ks_key_blob(host, &blen);
	if ((r = ks_random(sid, sizeof(sid))) != 0 ||
	    (r = ks_key_sign(host, sid, sizeof(sid), 0, sig)) != 0 ||
	    (r = kbuf_put_u8(b, SSH_AGENTC_EXTENSION)) != 0 ||
	    (r = kbuf_put_cstring(b, AGENT_EXT_SESSION_BIND)) != 0 ||
	    (r = kbuf_put_string(b, blob, blen)) != 0 ||
	    (r = kbuf_put_string(b, sid, sizeof(sid))) != 0 ||
	    (r = kbuf_put_stringb(b, sig)) != 0 ||
	    (r = kbuf_put_u8(b, forwarding ? 1 : 0)) != 0)
		goto out;
	r = 0;
out:
	kbuf_free(sig);
	return r;
}

static int
put_provider_op(struct kbuf *b, const char *op, const char *module,
    const char *pin)
{
	struct agent_constraints c;
	int r;

	memset(&c, 0, sizeof(c));
	if (strcmp(op, "remove") == 0)
		r = kbuf_put_u8(b, SSH_AGENTC_REMOVE_SMARTCARD_KEY);
	else if (strcmp(op, "add") == 0)
		r = kbuf_put_u8(b, SSH_AGENTC_ADD_SMARTCARD_KEY);
	else if (strcmp(op, "add-constrained") == 0)
		r = kbuf_put_u8(b, SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED);
	else
		return KMES_ERR_INVALID_ARGUMENT;
	if (r != 0 || (r = kbuf_put_cstring(b, module)) != 0 ||
	    (r = kbuf_put_cstring(b, pin)) != 0)
		return r;
	if (strcmp(op, "add-constrained") == 0) {
		c.lifetime = 600;
		c.lifetime_set = 1;
		r = agent_constraints_put(b, &c);
	}
	return r;
}

/* Sends req; prints "what: SUCCESS|FAILURE|...". Returns 0, 1 or 2. */
static int
ask(struct agent_client *ac, const struct kbuf *req, const char *what)
{
	struct kbuf *reply;
	uint8_t type;
	int r, ret = 2;

	if ((reply = kbuf_new()) == NULL)
		return 2;
	if ((r = agent_client_request(ac, req, reply)) != 0) {
		printf("%s: %s\n", what, kmes_err(r));
		goto out;
	}
	if (kbuf_get_u8(reply, &type) != 0) {
		printf("%s: empty reply\n", what);
		goto out;
	}
	if (type == SSH_AGENT_SUCCESS) {
		printf("%s: SUCCESS\n", what);
		ret = 0;
	} else if (type == SSH_AGENT_FAILURE) {
		printf("%s: FAILURE\n", what);
		ret = 1;
	} else
		printf("%s: reply type %u\n", what, type);
out:
	kbuf_free(reply);
	return ret;
}

int
main(int argc, char **argv)
{
	struct agent_client *ac = NULL;
	struct ks_key *host = NULL;
	struct kbuf *req = NULL;
	const char *bind;
	int r, ret = 2;

	if (argc != 6 && argc != 7)
		return usage();
	bind = argv[2];
	if (strcmp(bind, "none") != 0 && strcmp(bind, "auth") != 0 &&
	    strcmp(bind, "fwd") != 0)
		return usage();
	/* A lock failure (no RLIMIT_MEMLOCK) is fine for a test client. */
	if ((r = ks_crypto_init(0)) != 0 && r != KMES_ERR_SYSTEM) {
		fprintf(stderr, "ks_crypto_init: %s\n", kmes_err(r));
		return 2;
	}
	if ((req = kbuf_new()) == NULL)
		goto out;
	if (strcmp(bind, "none") != 0 && read_key(argv[3], &host) != 0)
		goto out;
	if ((r = agent_client_connect(argv[1], &ac)) != 0) {
		fprintf(stderr, "%s: %s\n", argv[1], kmes_err(r));
		goto out;
	}
	if (host != NULL) {
		if ((r = put_bind(req, host, strcmp(bind, "fwd") == 0)) != 0) {
			fprintf(stderr, "session-bind: %s\n", kmes_err(r));
			goto out;
		}
		if (ask(ac, req, "bind") != 0)
			goto out;
		kbuf_reset(req);
	}
	if ((r = put_provider_op(req, argv[4], argv[5],
		 argc == 7 ? argv[6] : "")) != 0) {
		if (r == KMES_ERR_INVALID_ARGUMENT)
			ret = usage();
		goto out;
	}
	ret = ask(ac, req, strncmp(argv[4], "add", 3) == 0 ? "add" : "remove");
out:
	fflush(stdout);
	agent_client_free(ac);
	ks_key_free(host);
	kbuf_free(req);
	return ret;
}
