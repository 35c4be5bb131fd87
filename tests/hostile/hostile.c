/*
 * hostile.c: kmes-agent against clients that lie about lengths, send
 * unknown or obsolete requests, cut requests short, send noise, walk away
 * mid-request, idle, trickle or never read. A real agent runs as a child,
 * holds one Ed25519 key, and after every kind of abuse must still be alive
 * and serving a well-behaved client; nothing a client sends may end the
 * daemon (STYLE.md, rule 6).
 *
 * usage: test-hostile /path/to/kmes-agent    (TAP on stdout)
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent-msg.h"
#include "crypto.h"
#include "hostile.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "testkit.h"

#define OVERALL_SECONDS 60
#define DROP_WAIT_MS 3000

static uint64_t data_seed = 1;

uint64_t
rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

void
rng_fill(uint64_t *s, uint8_t *p, size_t len)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		if (i % 8 == 0)
			v = rng_next(s);
		p[i] = (uint8_t)(v >> (8 * (i % 8)));
	}
}

int
put_sign_request(struct kbuf *b, const uint8_t *blob, size_t blob_len,
    const uint8_t *data, size_t dlen, uint32_t flags)
{
	int r;

	if ((r = kbuf_put_u8(b, SSH_AGENTC_SIGN_REQUEST)) != 0 ||
	    (r = kbuf_put_string(b, blob, blob_len)) != 0 ||
	    (r = kbuf_put_string(b, data, dlen)) != 0 ||
	    (r = kbuf_put_u32(b, flags)) != 0)
		return r;
	return 0;
}

int
put_add_identity(struct kbuf *b, const struct ks_key *k, const char *comment)
{
	int r;

	if ((r = kbuf_put_u8(b, SSH_AGENTC_ADD_IDENTITY)) != 0 ||
	    (r = ks_key_put_private(k, b)) != 0 ||
	    (r = kbuf_put_cstring(b, comment)) != 0)
		return r;
	return 0;
}

int
check_sign_reply(struct kbuf *reply, const struct ks_key *k,
    const uint8_t *data, size_t dlen)
{
	const uint8_t *sig;
	size_t slen;
	uint8_t type;
	int r;

	if ((r = kbuf_get_u8(reply, &type)) != 0)
		return r;
	if (type != SSH_AGENT_SIGN_RESPONSE)
		return type == SSH_AGENT_FAILURE ? KMES_ERR_AGENT_FAILURE :
						   KMES_ERR_AGENT_PROTOCOL;
	if ((r = kbuf_get_string_direct(reply, &sig, &slen)) != 0)
		return r;
	if (kbuf_len(reply) != 0)
		return KMES_ERR_INVALID_FORMAT;
	return ks_key_verify(k, sig, slen, data, dlen);
}

int
is_failure(const struct kbuf *reply)
{
	return kbuf_len(reply) == 1 && h_reply_type(reply) == SSH_AGENT_FAILURE;
}

/* Parses IDENTITIES_ANSWER: *np keys, *foundp if blob is among them. */
static int
parse_list(struct kbuf *reply, const uint8_t *blob, size_t blob_len,
    uint32_t *np, int *foundp)
{
	struct kbuf *kb = NULL;
	uint32_t i, n;
	uint8_t type;
	int r;

	*np = 0;
	*foundp = 0;
	if ((r = kbuf_get_u8(reply, &type)) != 0 ||
	    (r = kbuf_get_u32(reply, &n)) != 0)
		goto out;
	if (type != SSH_AGENT_IDENTITIES_ANSWER) {
		r = KMES_ERR_AGENT_PROTOCOL;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((r = kbuf_froms(reply, &kb)) != 0 ||
		    (r = kbuf_get_string_direct(reply, NULL, NULL)) != 0)
			goto out;
		if (kbuf_equal_bytes(kb, blob, blob_len))
			*foundp = 1;
		kbuf_free(kb);
		kb = NULL;
	}
	if (kbuf_len(reply) != 0) {
		r = KMES_ERR_INVALID_FORMAT;
		goto out;
	}
	*np = n;
	r = 0;
out:
	kbuf_free(kb);
	return r;
}

int
list_and_sign(struct hostile *h, int fd)
{
	struct kbuf *req = NULL, *reply = NULL;
	uint32_t n;
	int found, ok = 0, r;

	if ((req = kbuf_new()) == NULL || (reply = kbuf_new()) == NULL)
		goto out;
	if (kbuf_put_u8(req, SSH_AGENTC_REQUEST_IDENTITIES) != 0)
		goto out;
	if ((r = h_request(fd, req, reply, H_REPLY_MS)) != 0) {
		tap_diag("list: %s", kmes_err(r));
		goto out;
	}
	if ((r = parse_list(reply, h->blob, h->blob_len, &n, &found)) != 0 ||
	    !found) {
		tap_diag("list: %s", r != 0 ? kmes_err(r) : "key missing");
		goto out;
	}
	ok = sign_ok(h, fd);
out:
	kbuf_free(req);
	kbuf_free(reply);
	return ok;
}

int
sign_ok(struct hostile *h, int fd)
{
	struct kbuf *req = NULL, *reply = NULL;
	uint8_t data[40];
	int ok = 0, r;

	if ((req = kbuf_new()) == NULL || (reply = kbuf_new()) == NULL)
		goto out;
	rng_fill(&data_seed, data, sizeof(data));
	if (put_sign_request(req, h->blob, h->blob_len, data, sizeof(data),
		0) != 0)
		goto out;
	if ((r = h_request(fd, req, reply, H_REPLY_MS)) != 0) {
		tap_diag("sign: %s", kmes_err(r));
		goto out;
	}
	if ((r = check_sign_reply(reply, h->key, data, sizeof(data))) != 0) {
		tap_diag("sign: %s", kmes_err(r));
		goto out;
	}
	ok = 1;
out:
	kbuf_free(req);
	kbuf_free(reply);
	return ok;
}

int
agent_serves(struct hostile *h)
{
	int fd, ok;

	if (!h_agent_alive(&h->agent)) {
		tap_diag("the agent is gone (wait status 0x%x)",
		    h->agent.status);
		return 0;
	}
	if ((fd = h_connect(h->agent.sock, 2000)) == -1) {
		tap_diag("connect: %s", strerror(errno));
		return 0;
	}
	ok = list_and_sign(h, fd);
	close(fd);
	return ok;
}

int
reconnect(struct hostile *h, int fd)
{
	if (fd != -1)
		close(fd);
	if ((fd = h_connect(h->agent.sock, 2000)) == -1)
		tap_bail("cannot connect to the agent any more");
	return fd;
}

static void
check_add_and_list(struct hostile *h)
{
	struct kbuf *req = NULL, *reply = NULL;
	int fd, r;

	fd = reconnect(h, -1);
	/* The request carries a private key: locked memory, wiped on free. */
	if ((req = kbuf_new_secure(AGENT_MSG_MAX)) == NULL ||
	    (reply = kbuf_new()) == NULL ||
	    put_add_identity(req, h->key, "hostile test key") != 0)
		tap_bail("cannot build ADD_IDENTITY");
	r = h_request(fd, req, reply, H_REPLY_MS);
	if (!tap_check(r == 0 && kbuf_len(reply) == 1 &&
		    h_reply_type(reply) == SSH_AGENT_SUCCESS,
		"adds an Ed25519 key with ADD_IDENTITY"))
		tap_bail("ADD_IDENTITY: %s", kmes_err(r));
	tap_check(list_and_sign(h, fd),
	    "lists the key and signs with it (signature verifies)");
	close(fd);
	kbuf_free(req);
	kbuf_free(reply);
}

/* Sends body (bare, then with a payload) and wants FAILURE for both. */
static int
refused_twice(struct hostile *h, int *fdp, uint8_t type)
{
	struct kbuf *req = NULL, *reply = NULL;
	uint8_t payload[16];
	int i, r, ok = 1;

	memset(payload, 0xa5, sizeof(payload));
	if ((req = kbuf_new()) == NULL || (reply = kbuf_new()) == NULL)
		tap_bail("out of memory");
	for (i = 0; i < 2; i++) {
		kbuf_reset(req);
		if (kbuf_put_u8(req, type) != 0 ||
		    (i == 1 && kbuf_put(req, payload, sizeof(payload)) != 0))
			tap_bail("out of memory");
		r = h_request(*fdp, req, reply, H_REPLY_MS);
		if (r != 0 || !is_failure(reply)) {
			tap_diag("type %u%s: %s", type,
			    i ? " with payload" : "",
			    r == 0 ? "a reply other than FAILURE" :
				     kmes_err(r));
			ok = 0;
			if (r != 0)
				*fdp = reconnect(h, *fdp);
		}
	}
	kbuf_free(req);
	kbuf_free(reply);
	return ok;
}

static void
check_unknown_types(struct hostile *h)
{
	static const uint8_t unknown[] = { 0, 2, 99, 200, 255 };
	static const uint8_t ssh1[] = {
		SSH_AGENTC_REQUEST_RSA_IDENTITIES,
		SSH_AGENTC_RSA_CHALLENGE,
		SSH_AGENTC_ADD_RSA_IDENTITY,
		SSH_AGENTC_REMOVE_RSA_IDENTITY,
		SSH_AGENTC_ADD_RSA_ID_CONSTRAINED,
	};
	size_t i;
	int fd;

	fd = reconnect(h, -1);
	for (i = 0; i < sizeof(unknown); i++)
		tap_check(refused_twice(h, &fd, unknown[i]),
		    "unknown message type %u gets FAILURE (bare and with a "
		    "payload)",
		    unknown[i]);
	tap_check(list_and_sign(h, fd),
	    "the connection stays usable after unknown types");
	for (i = 0; i < sizeof(ssh1); i++)
		tap_check(refused_twice(h, &fd, ssh1[i]),
		    "SSH1 message type %u gets FAILURE", ssh1[i]);
	tap_check(list_and_sign(h, fd),
	    "the connection stays usable after SSH1 types");
	close(fd);
}

/* Sends raw bytes on a fresh connection and wants it closed. */
static int
dropped_after(struct hostile *h, const struct kbuf *raw, const char *what)
{
	int fd, r;

	fd = reconnect(h, -1);
	r = h_send(fd, kbuf_ptr(raw), kbuf_len(raw), H_REPLY_MS);
	/* The agent may hang up before it has read everything we send. */
	if (r == 0 || r == KMES_ERR_CONNECTION_CLOSED)
		r = h_wait_drop(fd, DROP_WAIT_MS);
	close(fd);
	if (r != KMES_ERR_CONNECTION_CLOSED)
		tap_diag("%s: %s", what, r == 0 ? "got a reply" : kmes_err(r));
	return r == KMES_ERR_CONNECTION_CLOSED;
}

static void
check_frame_limits(struct hostile *h)
{
	struct kbuf *raw = NULL, *req = NULL, *reply = NULL;
	uint8_t *data = NULL, *p;
	uint64_t seed = 42;
	size_t dlen;
	int fd, r;

	if ((raw = kbuf_new()) == NULL || (req = kbuf_new()) == NULL ||
	    (reply = kbuf_new()) == NULL)
		tap_bail("out of memory");

	/* Lengths are judged before the body arrives, which it never does. */
	if (kbuf_put_u32(raw, AGENT_MSG_MAX + 1) != 0)
		tap_bail("out of memory");
	tap_check(dropped_after(h, raw, "cap + 1"),
	    "length prefix %u (cap + 1) drops the connection without waiting "
	    "for the body",
	    AGENT_MSG_MAX + 1);
	kbuf_reset(raw);
	if (kbuf_put_u32(raw, 0xffffffffU) != 0)
		tap_bail("out of memory");
	tap_check(dropped_after(h, raw, "0xffffffff"),
	    "length prefix 0xffffffff drops the connection");
	kbuf_reset(raw);
	if (kbuf_put_u32(raw, AGENT_MSG_MAX + 1) != 0 ||
	    kbuf_reserve(raw, AGENT_MSG_MAX + 1, &p) != 0)
		tap_bail("out of memory");
	memset(p, 0x0b, AGENT_MSG_MAX + 1);
	tap_check(dropped_after(h, raw, "cap + 1 with body"),
	    "a complete %u-byte message (cap + 1) drops the connection",
	    AGENT_MSG_MAX + 1);
	/* A valid request right behind the empty frame must not be served. */
	kbuf_reset(raw);
	if (kbuf_put_u32(raw, 0) != 0 || kbuf_put_u32(raw, 1) != 0 ||
	    kbuf_put_u8(raw, SSH_AGENTC_REQUEST_IDENTITIES) != 0)
		tap_bail("out of memory");
	tap_check(dropped_after(h, raw, "zero length"),
	    "a zero-length message drops the connection (and what follows "
	    "is not served)");

	/* Exactly the cap is allowed: noise gets FAILURE, a request a reply. */
	kbuf_reset(req);
	if (kbuf_put_u8(req, SSH_AGENTC_SIGN_REQUEST) != 0 ||
	    kbuf_reserve(req, AGENT_MSG_MAX - 1, &p) != 0)
		tap_bail("out of memory");
	rng_fill(&seed, p, AGENT_MSG_MAX - 1);
	fd = reconnect(h, -1);
	r = h_request(fd, req, reply, H_REPLY_MS);
	if (r != 0)
		tap_diag("cap-sized garbage: %s", kmes_err(r));
	tap_check(r == 0 && is_failure(reply),
	    "a %u-byte garbage SIGN_REQUEST (exactly the cap) gets FAILURE",
	    AGENT_MSG_MAX);
	if (r != 0)
		fd = reconnect(h, fd);

	dlen = AGENT_MSG_MAX - 1 - 4 - h->blob_len - 4 - 4;
	if ((data = malloc(dlen)) == NULL)
		tap_bail("out of memory");
	rng_fill(&seed, data, dlen);
	kbuf_reset(req);
	if (put_sign_request(req, h->blob, h->blob_len, data, dlen, 0) != 0)
		tap_bail("out of memory");
	if (kbuf_len(req) != AGENT_MSG_MAX)
		tap_bail("SIGN_REQUEST is %zu bytes, not %u", kbuf_len(req),
		    AGENT_MSG_MAX);
	if ((r = h_request(fd, req, reply, H_REPLY_MS)) != 0) {
		tap_diag("cap-sized SIGN_REQUEST: %s", kmes_err(r));
		r = KMES_ERR_AGENT_PROTOCOL;
	} else
		r = check_sign_reply(reply, h->key, data, dlen);
	tap_check(r == 0,
	    "a valid SIGN_REQUEST of exactly %u bytes is "
	    "signed%s%s",
	    AGENT_MSG_MAX, r != 0 ? ": " : "", r != 0 ? kmes_err(r) : "");
	close(fd);
	tap_check(agent_serves(h),
	    "the agent still serves after "
	    "frame-length abuse");
	free(data);
	kbuf_free(raw);
	kbuf_free(req);
	kbuf_free(reply);
}

/*
 * Sends every strict prefix of body as a complete frame of that length
 * over one connection. Returns 1 if each got FAILURE, else 0 (with the
 * first offender as a diagnostic); reconnects after drops.
 */
static int
cuts_refused(struct hostile *h, int *fdp, const struct kbuf *body,
    const char *what)
{
	struct kbuf *cut = NULL, *reply = NULL;
	size_t n, bad = 0;
	int r;

	if ((reply = kbuf_new()) == NULL)
		tap_bail("out of memory");
	for (n = 1; n < kbuf_len(body); n++) {
		if ((cut = kbuf_from(kbuf_ptr(body), n)) == NULL)
			tap_bail("out of memory");
		r = h_request(*fdp, cut, reply, H_REPLY_MS);
		kbuf_free(cut);
		if (r == 0 && is_failure(reply))
			continue;
		if (bad++ == 0)
			tap_diag("%s cut to %zu of %zu bytes: %s", what, n,
			    kbuf_len(body),
			    r == 0 ? "a reply other than FAILURE" :
				     kmes_err(r));
		if (r != 0)
			*fdp = reconnect(h, *fdp);
	}
	if (bad != 0)
		tap_diag("%s: %zu of %zu cuts not refused", what, bad,
		    kbuf_len(body) - 1);
	kbuf_free(reply);
	return bad == 0;
}

static void
check_truncation(struct hostile *h)
{
	static const struct {
		const char *name;
		enum ks_key_type type;
		unsigned int bits;
	} kinds[] = {
		{ "Ed25519", KS_KEY_ED25519, 0 },
		{ "ECDSA P-256", KS_KEY_ECDSA_P256, 256 },
		{ "RSA-2048", KS_KEY_RSA, 2048 },
	};
	struct kbuf *req = NULL, *reply = NULL;
	struct ks_key *k = NULL;
	uint8_t data[48];
	uint64_t seed = 7;
	uint32_t n;
	size_t i;
	int fd, found, r;

	if ((req = kbuf_new_secure(AGENT_MSG_MAX)) == NULL ||
	    (reply = kbuf_new()) == NULL)
		tap_bail("out of memory");
	rng_fill(&seed, data, sizeof(data));
	if (put_sign_request(req, h->blob, h->blob_len, data, sizeof(data),
		0) != 0)
		tap_bail("out of memory");
	fd = reconnect(h, -1);
	tap_check(cuts_refused(h, &fd, req, "SIGN_REQUEST"),
	    "SIGN_REQUEST cut at each of its %zu shorter lengths gets FAILURE",
	    kbuf_len(req) - 1);
	r = h_request(fd, req, reply, H_REPLY_MS);
	tap_check(r == 0 &&
		check_sign_reply(reply, h->key, data, sizeof(data)) == 0,
	    "the uncut SIGN_REQUEST then signs on the same connection");
	if (r != 0)
		fd = reconnect(h, fd);

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if ((r = ks_key_generate(kinds[i].type, kinds[i].bits, &k)) !=
		    0)
			tap_bail("generating %s: %s", kinds[i].name,
			    kmes_err(r));
		kbuf_reset(req);
		if (put_add_identity(req, k, "never added") != 0)
			tap_bail("cannot build ADD_IDENTITY");
		tap_check(cuts_refused(h, &fd, req, kinds[i].name),
		    "%s ADD_IDENTITY cut at each of its %zu shorter lengths "
		    "gets FAILURE",
		    kinds[i].name, kbuf_len(req) - 1);
		ks_key_free(k);
		k = NULL;
	}

	kbuf_reset(req);
	if (kbuf_put_u8(req, SSH_AGENTC_REQUEST_IDENTITIES) != 0)
		tap_bail("out of memory");
	r = h_request(fd, req, reply, H_REPLY_MS);
	tap_check(r == 0 &&
		parse_list(reply, h->blob, h->blob_len, &n, &found) == 0 &&
		found && n == 1,
	    "no truncated ADD_IDENTITY left a key behind");
	close(fd);
	tap_check(agent_serves(h),
	    "the agent still serves after truncated "
	    "requests");
	kbuf_free(req);
	kbuf_free(reply);
}

/* Sends the first len bytes of raw, then hangs up without reading. */
static int
leave_after(struct hostile *h, const struct kbuf *raw, size_t len)
{
	int fd;

	fd = reconnect(h, -1);
	(void)h_send(fd, kbuf_ptr(raw), len, H_REPLY_MS);
	close(fd);
	/* Give the agent a moment to notice before judging it. */
	tk_sleep_ms(50);
	return agent_serves(h);
}

static void
check_disconnects(struct hostile *h)
{
	struct kbuf *body = NULL, *raw = NULL;
	uint8_t data[64], *p;
	uint64_t seed = 99;
	int i;

	if ((body = kbuf_new()) == NULL || (raw = kbuf_new()) == NULL)
		tap_bail("out of memory");
	rng_fill(&seed, data, sizeof(data));
	if (put_sign_request(body, h->blob, h->blob_len, data, sizeof(data),
		0) != 0 ||
	    agent_msg_put_framed(raw, body) != 0)
		tap_bail("out of memory");
	tap_check(leave_after(h, raw, 2),
	    "a client leaving inside a length prefix does no harm");
	tap_check(leave_after(h, raw, kbuf_len(raw) / 2),
	    "a client leaving in the middle of a SIGN_REQUEST does no harm");
	tap_check(leave_after(h, raw, kbuf_len(raw)),
	    "a client leaving right after a SIGN_REQUEST, reply unread, does "
	    "no harm");
	for (i = 1; i < 64; i++) {
		if (agent_msg_put_framed(raw, body) != 0)
			tap_bail("out of memory");
	}
	tap_check(leave_after(h, raw, kbuf_len(raw)),
	    "a client leaving after 64 pipelined SIGN_REQUESTs, replies "
	    "unread, does no harm");
	kbuf_reset(raw);
	if (kbuf_put_u32(raw, AGENT_MSG_MAX) != 0 ||
	    kbuf_reserve(raw, AGENT_MSG_MAX / 2, &p) != 0)
		tap_bail("out of memory");
	memset(p, 0, AGENT_MSG_MAX / 2);
	tap_check(leave_after(h, raw, kbuf_len(raw)),
	    "a client leaving halfway through a %u-byte message does no harm",
	    AGENT_MSG_MAX);
	kbuf_free(body);
	kbuf_free(raw);
}

/* Returns 1 if the agent's stderr shows no sign of a crash or a bug. */
static int
stderr_clean(const char *path)
{
	static const char *const marks[] = { "Sanitizer",
		"runtime error:", "Assertion", "Segmentation", "double free",
		"corrupted", "leak" };
	char line[1024];
	size_t i;
	int clean = 1;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL)
		return 1;
	while (clean && fgets(line, sizeof(line), f) != NULL) {
		for (i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
			if (strstr(line, marks[i]) != NULL) {
				line[strcspn(line, "\n")] = '\0';
				tap_diag("agent stderr: %s", line);
				clean = 0;
				break;
			}
		}
	}
	fclose(f);
	return clean;
}

static void
check_end(struct hostile *h)
{
	struct stat st;
	int r, status;

	tap_check(h_agent_alive(&h->agent),
	    "the agent process is still running");
	tap_check(agent_serves(h),
	    "the agent still lists and signs for a fresh client");
	r = h_agent_stop(&h->agent, 5000);
	status = h->agent.status;
	if (r != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		tap_diag("%s %d%s",
		    WIFEXITED(status) ? "exit status" : "killed by signal",
		    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
		    r != 0 ? " (did not exit by itself within 5 s)" : "");
	tap_check(r == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "SIGTERM makes the agent exit cleanly within 5 s");
	/* After the exit, so that leak reports are seen too. */
	tap_check(stderr_clean(h->agent.err),
	    "the agent's stderr shows no crash, sanitizer or leak report");
	r = lstat(h->agent.sock, &st);
	tap_check(r == -1 && errno == ENOENT,
	    "the agent removed its socket on the way out");
}

int
main(int argc, char **argv)
{
	struct hostile h;
	int r, failed;

	if (argc != 2) {
		fprintf(stderr, "usage: test-hostile /path/to/kmes-agent\n");
		return 2;
	}
	/* An agent hanging up on us must be a result, not our death. */
	signal(SIGPIPE, SIG_IGN);
	memset(&h, 0, sizeof(h));
	if ((r = ks_crypto_init(0)) != 0 && r != KMES_ERR_SYSTEM)
		tap_bail("crypto: %s", kmes_err(r));
	if ((r = ks_key_generate(KS_KEY_ED25519, 0, &h.key)) != 0)
		tap_bail("generating an Ed25519 key: %s", kmes_err(r));
	h.blob = ks_key_blob(h.key, &h.blob_len);
	if (h_agent_start(&h.agent, argv[1]) != 0)
		tap_bail("%s did not start", argv[1]);
	h_watchdog(&h.agent, OVERALL_SECONDS);
	tap_diag("agent %s, pid %ld, files in %s", argv[1], (long)h.agent.pid,
	    h.agent.dir);

	check_add_and_list(&h);
	check_unknown_types(&h);
	check_frame_limits(&h);
	check_truncation(&h);
	check_random_frames(&h);
	check_disconnects(&h);
	check_idle_connections(&h);
	check_slow_writer(&h);
	check_pipelining(&h);
	check_end(&h);

	alarm(0);
	if ((failed = tap_done()) != 0) {
		tap_diag_file(h.agent.err, 40);
		tap_diag("agent files kept in %s", h.agent.dir);
	} else
		h_agent_cleanup(&h.agent);
	ks_key_free(h.key);
	return failed != 0;
}
