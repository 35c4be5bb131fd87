/*
 * hostile-random.c: noise and mutated requests. Valid requests of every
 * parsed kind (sign, add, constrained add, session-bind) are flipped, cut
 * and extended by a seeded generator, so a failure can be replayed:
 * HOSTILE_SEED=n reruns the check with another seed.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent-msg.h"
#include "crypto.h"
#include "hostile.h"
#include "kbuf.h"
#include "kmes-err.h"

#define RANDOM_FRAMES 1000
#define RANDOM_SEED 0x6b6d6573686f7374ULL /* "kmeshost" */
#define RANDOM_BODY_MAX 8192

/* ADD_ID_CONSTRAINED with every constraint kind ssh-add can send. */
static int
put_add_constrained(struct kbuf *b, const struct ks_key *k)
{
	struct agent_constraints c;
	struct agent_dest_constraint dc;
	struct agent_keyspec spec;
	const uint8_t *blob;
	size_t blob_len;
	int r;

	blob = ks_key_blob(k, &blob_len);
	memset(&c, 0, sizeof(c));
	memset(&dc, 0, sizeof(dc));
	memset(&spec, 0, sizeof(spec));
	spec.blob = (uint8_t *)blob;
	spec.blob_len = blob_len;
	dc.to.user = "alice";
	dc.to.hostname = "host.example";
	dc.to.keys = &spec;
	dc.to.nkeys = 1;
	c.lifetime = 3600;
	c.lifetime_set = 1;
	c.confirm = 1;
	c.dest = &dc;
	c.ndest = 1;
	if ((r = kbuf_put_u8(b, SSH_AGENTC_ADD_ID_CONSTRAINED)) != 0 ||
	    (r = ks_key_put_private(k, b)) != 0 ||
	    (r = kbuf_put_cstring(b, "random frames, constrained")) != 0 ||
	    (r = agent_constraints_put(b, &c)) != 0)
		return r;
	return 0;
}

/* A session-bind@openssh.com extension with hostkey k over sid. */
static int
put_session_bind(struct kbuf *b, const struct ks_key *k, const uint8_t *sid,
    size_t sid_len)
{
	struct kbuf *sig = NULL;
	const uint8_t *blob;
	size_t blob_len;
	int r;

	blob = ks_key_blob(k, &blob_len);
	if ((sig = kbuf_new()) == NULL)
		return KMES_ERR_ALLOC;
	if ((r = ks_key_sign(k, sid, sid_len, 0, sig)) != 0 ||
	    (r = kbuf_put_u8(b, SSH_AGENTC_EXTENSION)) != 0 ||
	    (r = kbuf_put_cstring(b, AGENT_EXT_SESSION_BIND)) != 0 ||
	    (r = kbuf_put_string(b, blob, blob_len)) != 0 ||
	    (r = kbuf_put_string(b, sid, sid_len)) != 0 ||
	    (r = kbuf_put_stringb(b, sig)) != 0 || (r = kbuf_put_u8(b, 0)) != 0)
		goto out;
	r = 0;
out:
	kbuf_free(sig);
	return r;
}

/*
 * One random frame body: plain noise, or a valid request with bytes
 * flipped, cut or appended (those get past the first checks and into the
 * parsers). Types that would legitimately wipe or lock the agent are
 * replaced so that later checks still mean something.
 */
static size_t
random_body(uint64_t *rng, uint8_t *buf, struct kbuf *const *tmpl, size_t ntmpl)
{
	const struct kbuf *t;
	size_t len, i, nflip, pos;
	uint64_t v = rng_next(rng);

	if (v % (ntmpl + 1) == 0) {
		len = 1 + rng_next(rng) % (v % 16 == 0 ? RANDOM_BODY_MAX : 512);
		rng_fill(rng, buf, len);
	} else {
		t = tmpl[v % (ntmpl + 1) - 1];
		len = kbuf_len(t);
		memcpy(buf, kbuf_ptr(t), len);
		nflip = 1 + rng_next(rng) % 4;
		for (i = 0; i < nflip; i++) {
			pos = rng_next(rng) % len;
			buf[pos] ^= (uint8_t)(1 + rng_next(rng) % 255);
		}
		if (rng_next(rng) % 4 == 0)
			len = 1 + rng_next(rng) % len;
		if (rng_next(rng) % 8 == 0) {
			i = 1 + rng_next(rng) % 64;
			rng_fill(rng, buf + len, i);
			len += i;
		}
	}
	while (buf[0] == SSH_AGENTC_REMOVE_ALL_RSA_IDENTITIES ||
	    buf[0] == SSH_AGENTC_REMOVE_IDENTITY ||
	    buf[0] == SSH_AGENTC_REMOVE_ALL_IDENTITIES ||
	    buf[0] == SSH_AGENTC_LOCK)
		buf[0] = (uint8_t)rng_next(rng);
	return len;
}

void
check_random_frames(struct hostile *h)
{
	struct kbuf *tmpl[4] = { NULL }, *body = NULL, *reply = NULL;
	struct ks_key *k3 = NULL;
	uint8_t *buf = NULL, data[32], sid[32];
	const uint8_t *blob3;
	uint64_t seed = RANDOM_SEED, rng;
	unsigned long nreply = 0, nfail = 0, ndrop = 0, nbad = 0;
	const size_t ntmpl = sizeof(tmpl) / sizeof(tmpl[0]);
	const char *s;
	size_t i, len;
	int fd, r;

	if ((s = getenv("HOSTILE_SEED")) != NULL)
		seed = strtoull(s, NULL, 0);
	rng = seed != 0 ? seed : RANDOM_SEED;
	if ((buf = malloc(RANDOM_BODY_MAX + 64)) == NULL ||
	    (reply = kbuf_new()) == NULL)
		tap_bail("out of memory");
	for (i = 0; i < ntmpl; i++) {
		if ((tmpl[i] = kbuf_new_secure(AGENT_MSG_MAX)) == NULL)
			tap_bail("out of memory");
	}
	/* A throwaway key: a mutation that only hits a comment adds it. */
	rng_fill(&rng, data, sizeof(data));
	rng_fill(&rng, sid, sizeof(sid));
	if (ks_key_generate(KS_KEY_ED25519, 0, &k3) != 0 ||
	    put_sign_request(tmpl[0], h->blob, h->blob_len, data, sizeof(data),
		0) != 0 ||
	    put_add_identity(tmpl[1], k3, "random frames") != 0 ||
	    put_add_constrained(tmpl[2], k3) != 0 ||
	    put_session_bind(tmpl[3], k3, sid, sizeof(sid)) != 0)
		tap_bail("cannot build the request templates");
	for (i = 0; i < ntmpl; i++) {
		if (kbuf_len(tmpl[i]) > RANDOM_BODY_MAX)
			tap_bail("template %zu is too long", i);
	}

	fd = reconnect(h, -1);
	for (i = 0; i < RANDOM_FRAMES; i++) {
		len = random_body(&rng, buf, tmpl, ntmpl);
		if ((body = kbuf_from(buf, len)) == NULL)
			tap_bail("out of memory");
		r = h_request(fd, body, reply, H_REPLY_MS);
		kbuf_free(body);
		if (r == 0) {
			nreply++;
			nfail += is_failure(reply);
			continue;
		}
		if (r == KMES_ERR_CONNECTION_CLOSED)
			ndrop++;
		else if (nbad++ == 0)
			tap_diag("frame %zu (%zu bytes, type %u): %s", i, len,
			    buf[0], kmes_err(r));
		fd = reconnect(h, fd);
	}
	tap_check(nbad == 0,
	    "%d random and mutated frames (seed %#llx) "
	    "each get a reply or a drop (%lu replies, %lu of them FAILURE; "
	    "%lu drops)",
	    RANDOM_FRAMES, (unsigned long long)seed, nreply, nfail, ndrop);

	/* Take the throwaway key out again if a mutation added it. */
	close(fd);
	fd = reconnect(h, -1);
	blob3 = ks_key_blob(k3, &len);
	kbuf_reset(tmpl[0]);
	if (kbuf_put_u8(tmpl[0], SSH_AGENTC_REMOVE_IDENTITY) != 0 ||
	    kbuf_put_string(tmpl[0], blob3, len) != 0)
		tap_bail("out of memory");
	(void)h_request(fd, tmpl[0], reply, H_REPLY_MS);
	close(fd);
	tap_check(agent_serves(h),
	    "a fresh client lists and signs after the "
	    "random frames");
	ks_key_free(k3);
	free(buf);
	for (i = 0; i < ntmpl; i++)
		kbuf_free(tmpl[i]);
	kbuf_free(reply);
}
