/*
 * gen-agent-msg.c: writes seed inputs for fuzz-agent-msg: framed agent
 * requests as ssh-add and ssh would send them, built with the project's
 * own encoders (ks_key_put_private, agent_constraints_put, ks_key_sign)
 * around freshly generated keys. Run by tests/fuzz/gen-corpus.sh.
 *
 * usage: fuzz-gen-agent-msg outdir [ed25519-key-file ed25519-cert.pub]
 * The optional pair (an unencrypted private key and a certificate over it,
 * from ssh-keygen) adds an ADD_ID_CONSTRAINED seed for a certificate.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent-msg.h"
#include "crypto.h"
#include "kbuf.h"
#include "keyfile.h"
#include "kmes-err.h"

#define SSH2_MSG_USERAUTH_REQUEST 50
#define SID_LEN 32

static const char *outdir;

static void
die(const char *what, int r)
{
	fprintf(stderr, "fuzz-gen-agent-msg: %s: %s\n", what, kmes_err(r));
	exit(1);
}

static void
check(const char *what, int r)
{
	if (r != 0)
		die(what, r);
}

static struct kbuf *
new_buf(void)
{
	struct kbuf *b;

	if ((b = kbuf_new()) == NULL)
		die("kbuf_new", KMES_ERR_ALLOC);
	return b;
}

/* Writes the unread bytes of b to outdir/name. */
static void
write_seed(const char *name, const struct kbuf *b)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, name);
	if ((f = fopen(path, "wb")) == NULL ||
	    fwrite(kbuf_ptr(b), 1, kbuf_len(b), f) != kbuf_len(b) ||
	    fclose(f) != 0) {
		fprintf(stderr, "fuzz-gen-agent-msg: %s: %s\n", path,
		    strerror(errno));
		exit(1);
	}
}

/* Appends body to stream as one framed message and empties body. */
static void
frame(struct kbuf *stream, struct kbuf *body)
{
	check("frame", agent_msg_put_framed(stream, body));
	kbuf_reset(body);
}

/* Writes the single message in body as a seed. */
static void
write_message(const char *name, struct kbuf *body)
{
	struct kbuf *stream = new_buf();

	frame(stream, body);
	write_seed(name, stream);
	kbuf_free(stream);
}

static struct ks_key *
generate(enum ks_key_type type, unsigned int bits)
{
	struct ks_key *k = NULL;

	check("ks_key_generate", ks_key_generate(type, bits, &k));
	return k;
}

static uint8_t *
dup_bytes(const uint8_t *p, size_t len)
{
	uint8_t *d;

	if ((d = malloc(len)) == NULL)
		die("malloc", KMES_ERR_ALLOC);
	memcpy(d, p, len);
	return d;
}

static char *
dup_str(const char *s)
{
	char *d;

	if ((d = strdup(s)) == NULL)
		die("strdup", KMES_ERR_ALLOC);
	return d;
}

/* Points hop h at host (NULL: any) known by key k (NULL: none). */
static void
set_hop(struct agent_hop *h, const char *user, const char *host,
    const struct ks_key *k, int is_ca)
{
	const uint8_t *blob;
	size_t len;

	memset(h, 0, sizeof(*h));
	h->user = user != NULL ? dup_str(user) : NULL;
	h->hostname = host != NULL ? dup_str(host) : NULL;
	if (k == NULL)
		return;
	if ((h->keys = calloc(1, sizeof(*h->keys))) == NULL)
		die("calloc", KMES_ERR_ALLOC);
	blob = ks_key_blob(k, &len);
	h->keys[0].blob = dup_bytes(blob, len);
	h->keys[0].blob_len = len;
	h->keys[0].is_ca = is_ca;
	h->nkeys = 1;
}

/* ADD_IDENTITY (c NULL) or ADD_ID_CONSTRAINED. */
static void
add_message(struct kbuf *body, const struct ks_key *k, const char *comment,
    const struct agent_constraints *c)
{
	check("type",
	    kbuf_put_u8(body,
		c == NULL ? SSH_AGENTC_ADD_IDENTITY :
			    SSH_AGENTC_ADD_ID_CONSTRAINED));
	check("ks_key_put_private", ks_key_put_private(k, body));
	check("comment", kbuf_put_cstring(body, comment));
	if (c != NULL)
		check("agent_constraints_put", agent_constraints_put(body, c));
}

/* The data ssh signs for userauth: hostkey non-NULL for -hostbound. */
static void
userauth_data(struct kbuf *d, const uint8_t *sid, const char *user,
    const char *pkalg, const struct ks_key *k, const struct ks_key *hostkey)
{
	const uint8_t *blob;
	size_t len;

	blob = ks_key_blob(k, &len);
	check("userauth", kbuf_put_string(d, sid, SID_LEN));
	check("userauth", kbuf_put_u8(d, SSH2_MSG_USERAUTH_REQUEST));
	check("userauth", kbuf_put_cstring(d, user));
	check("userauth", kbuf_put_cstring(d, "ssh-connection"));
	check("userauth",
	    kbuf_put_cstring(d,
		hostkey != NULL ? "publickey-hostbound-v00@openssh.com" :
				  "publickey"));
	check("userauth", kbuf_put_u8(d, 1));
	check("userauth", kbuf_put_cstring(d, pkalg));
	check("userauth", kbuf_put_string(d, blob, len));
	if (hostkey != NULL) {
		blob = ks_key_blob(hostkey, &len);
		check("userauth", kbuf_put_string(d, blob, len));
	}
}

static void
sign_message(struct kbuf *body, const struct ks_key *k, const struct kbuf *d,
    uint32_t flags)
{
	const uint8_t *blob;
	size_t len;

	blob = ks_key_blob(k, &len);
	check("sign", kbuf_put_u8(body, SSH_AGENTC_SIGN_REQUEST));
	check("sign", kbuf_put_string(body, blob, len));
	check("sign", kbuf_put_stringb(body, d));
	check("sign", kbuf_put_u32(body, flags));
}

/* session-bind@openssh.com: the host key signs the session ID. */
static void
session_bind_message(struct kbuf *body, const struct ks_key *hostkey,
    const uint8_t *sid, int forwarding)
{
	struct kbuf *sig = new_buf();
	const uint8_t *blob;
	size_t len;

	blob = ks_key_blob(hostkey, &len);
	check("ks_key_sign", ks_key_sign(hostkey, sid, SID_LEN, 0, sig));
	check("bind", kbuf_put_u8(body, SSH_AGENTC_EXTENSION));
	check("bind", kbuf_put_cstring(body, AGENT_EXT_SESSION_BIND));
	check("bind", kbuf_put_string(body, blob, len));
	check("bind", kbuf_put_string(body, sid, SID_LEN));
	check("bind", kbuf_put_stringb(body, sig));
	check("bind", kbuf_put_u8(body, forwarding ? 1 : 0));
	kbuf_free(sig);
}

static void
string_message(struct kbuf *body, uint8_t type, const void *p, size_t len)
{
	check("message", kbuf_put_u8(body, type));
	check("message", kbuf_put_string(body, p, len));
}

static uint8_t *
read_file(const char *path, size_t *lenp)
{
	uint8_t *buf = NULL;
	size_t len = 0, n;
	FILE *f;

	if ((f = fopen(path, "rb")) == NULL)
		goto fail;
	if ((buf = malloc(1024 * 1024)) == NULL)
		die("malloc", KMES_ERR_ALLOC);
	while ((n = fread(buf + len, 1, 1024 * 1024 - len, f)) > 0)
		len += n;
	if (ferror(f) || fclose(f) != 0)
		goto fail;
	*lenp = len;
	return buf;
fail:
	fprintf(stderr, "fuzz-gen-agent-msg: %s: %s\n", path, strerror(errno));
	exit(1);
}

/*
 * A certificate's ADD_ID_CONSTRAINED: type, certificate, then the private
 * fields of the plain key (for Ed25519: its pk and sk strings).
 */
static void
cert_message(struct kbuf *body, const char *keyfile, const char *certfile)
{
	struct ks_key *plain = NULL, *cert = NULL;
	struct agent_constraints c;
	struct kbuf *wire = NULL;
	const uint8_t *blob;
	uint8_t *data;
	char *comment = NULL, *line;
	size_t len;

	data = read_file(keyfile, &len);
	check(keyfile, ks_keyfile_parse(data, len, NULL, 0, &plain, &comment));
	free(data);
	data = read_file(certfile, &len);
	if ((line = calloc(1, len + 1)) == NULL)
		die("calloc", KMES_ERR_ALLOC);
	memcpy(line, data, len);
	free(data);
	check(certfile, ks_key_from_openssh_line(line, &cert));
	free(line);
	if (ks_key_type(plain) != KS_KEY_ED25519 || !ks_key_is_cert(cert))
		die("certificate seed wants an Ed25519 key and its cert",
		    KMES_ERR_INVALID_ARGUMENT);

	if ((wire = kbuf_new_secure(64 * 1024)) == NULL)
		die("kbuf_new_secure", KMES_ERR_ALLOC);
	check("ks_key_put_private", ks_key_put_private(plain, wire));
	check("skip type", kbuf_get_string_direct(wire, NULL, NULL));
	blob = ks_key_blob(cert, &len);
	memset(&c, 0, sizeof(c));
	c.confirm = 1;
	check("cert", kbuf_put_u8(body, SSH_AGENTC_ADD_ID_CONSTRAINED));
	check("cert", kbuf_put_cstring(body, ks_key_type_name(cert)));
	check("cert", kbuf_put_string(body, blob, len));
	check("cert", kbuf_putb(body, wire));
	check("cert", kbuf_put_cstring(body, "user@host cert"));
	check("cert", agent_constraints_put(body, &c));
	kbuf_free(wire);
	free(comment);
	ks_key_free(plain);
	ks_key_free(cert);
}

int
main(int argc, char **argv)
{
	struct ks_key *ed = NULL, *p256 = NULL, *p384 = NULL, *p521 = NULL;
	struct ks_key *rsa = NULL, *host1 = NULL, *host2 = NULL;
	struct agent_constraints c;
	struct kbuf *body, *data, *stream;
	const uint8_t *blob;
	uint8_t sid[SID_LEN];
	size_t len;
	int r;

	if (argc != 2 && argc != 4) {
		fprintf(stderr,
		    "usage: fuzz-gen-agent-msg outdir "
		    "[ed25519-key-file ed25519-cert.pub]\n");
		return 2;
	}
	outdir = argv[1];
	if ((r = ks_crypto_init(0)) != 0 && r != KMES_ERR_SYSTEM)
		die("ks_crypto_init", r);
	body = new_buf();
	data = new_buf();
	ed = generate(KS_KEY_ED25519, 0);
	p256 = generate(KS_KEY_ECDSA_P256, 0);
	p384 = generate(KS_KEY_ECDSA_P384, 0);
	p521 = generate(KS_KEY_ECDSA_P521, 0);
	rsa = generate(KS_KEY_RSA, 2048);
	host1 = generate(KS_KEY_ED25519, 0);
	host2 = generate(KS_KEY_ECDSA_P256, 0);
	check("ks_random", ks_random(sid, sizeof(sid)));

	check("message", kbuf_put_u8(body, SSH_AGENTC_REQUEST_IDENTITIES));
	write_message("request-identities", body);

	add_message(body, ed, "user@host ed25519", NULL);
	write_message("add-ed25519", body);
	add_message(body, p384, "p384", NULL);
	write_message("add-ecdsa-p384", body);
	add_message(body, p521, "p521", NULL);
	write_message("add-ecdsa-p521", body);

	memset(&c, 0, sizeof(c));
	c.lifetime = 3600;
	c.lifetime_set = 1;
	c.confirm = 1;
	add_message(body, ed, "lifetime and confirm", &c);
	write_message("add-constrained-lifetime-confirm", body);
	c.lifetime_set = 0;
	c.lifetime = 0;
	add_message(body, rsa, "rsa confirm", &c);
	write_message("add-constrained-rsa-confirm", body);

	/* ssh-add -h host1 -h "host1>alice@host2", host2 known by a CA. */
	memset(&c, 0, sizeof(c));
	if ((c.dest = calloc(2, sizeof(*c.dest))) == NULL)
		die("calloc", KMES_ERR_ALLOC);
	c.ndest = 2;
	set_hop(&c.dest[0].from, NULL, NULL, NULL, 0);
	set_hop(&c.dest[0].to, NULL, "host1.example.org", host1, 0);
	set_hop(&c.dest[1].from, NULL, "host1.example.org", host1, 0);
	set_hop(&c.dest[1].to, "alice", "host2.example.org", host2, 1);
	add_message(body, p256, "restricted", &c);
	write_message("add-constrained-restrict-dest", body);
	/* ssh-add -s provider -c -t 60 -h host1: the same constraints. */
	c.confirm = 1;
	c.lifetime = 60;
	c.lifetime_set = 1;
	check("message",
	    kbuf_put_u8(body, SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED));
	check("message", kbuf_put_cstring(body, "/usr/lib/pkcs11.so"));
	check("message", kbuf_put_cstring(body, "1234"));
	check("agent_constraints_put", agent_constraints_put(body, &c));
	write_message("add-smartcard-constrained", body);
	agent_constraints_clear(&c);

	if (argc == 4) {
		cert_message(body, argv[2], argv[3]);
		write_message("add-constrained-cert-ed25519", body);
	}

	userauth_data(data, sid, "alice", "ecdsa-sha2-nistp256", p256, host1);
	sign_message(body, p256, data, 0);
	write_message("sign-hostbound", body);
	kbuf_reset(data);
	userauth_data(data, sid, "bob", "rsa-sha2-512", rsa, NULL);
	sign_message(body, rsa, data, KS_SIGN_RSA_SHA2_512);
	write_message("sign-publickey-rsa", body);
	kbuf_reset(data);

	session_bind_message(body, host1, sid, 0);
	write_message("session-bind", body);
	session_bind_message(body, host2, sid, 1);
	write_message("session-bind-forwarding", body);
	check("message", kbuf_put_u8(body, SSH_AGENTC_EXTENSION));
	check("message", kbuf_put_cstring(body, AGENT_EXT_QUERY));
	write_message("extension-query", body);

	blob = ks_key_blob(ed, &len);
	string_message(body, SSH_AGENTC_REMOVE_IDENTITY, blob, len);
	write_message("remove-identity", body);
	check("message", kbuf_put_u8(body, SSH_AGENTC_REMOVE_ALL_IDENTITIES));
	write_message("remove-all", body);
	string_message(body, SSH_AGENTC_LOCK, "lock password", 13);
	write_message("lock", body);
	string_message(body, SSH_AGENTC_UNLOCK, "lock password", 13);
	write_message("unlock", body);

	/* One connection's worth: bind, add restricted, sign, remove. */
	stream = new_buf();
	session_bind_message(body, host1, sid, 0);
	frame(stream, body);
	add_message(body, ed, "in a stream", NULL);
	frame(stream, body);
	userauth_data(data, sid, "alice", "ssh-ed25519", ed, host1);
	sign_message(body, ed, data, 0);
	frame(stream, body);
	string_message(body, SSH_AGENTC_REMOVE_IDENTITY, blob, len);
	frame(stream, body);
	check("message", kbuf_put_u8(body, SSH_AGENTC_REQUEST_IDENTITIES));
	frame(stream, body);
	write_seed("stream", stream);

	kbuf_free(stream);
	kbuf_free(body);
	kbuf_free(data);
	ks_key_free(ed);
	ks_key_free(p256);
	ks_key_free(p384);
	ks_key_free(p521);
	ks_key_free(rsa);
	ks_key_free(host1);
	ks_key_free(host2);
	return 0;
}
