/*
 * test-keyblob.c: the wire formats against the real OpenSSH. Keys,
 * certificates and signatures are made by ssh-keygen at test time; the agent
 * must read them, agree on fingerprints, verify OpenSSH's signatures, have
 * its own accepted by ssh-keygen, and refuse every corrupted variant.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <check.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto-int.h"
#include "crypto.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "test-util.h"

static const struct plain {
	const char *name;
	const char *keygen; /* ssh-keygen type arguments */
} plains[] = {
	{ "ed25519", "-t ed25519" },
	{ "ecdsa256", "-t ecdsa -b 256" },
	{ "ecdsa384", "-t ecdsa -b 384" },
	{ "ecdsa521", "-t ecdsa -b 521" },
	{ "rsa2048", "-t rsa -b 2048" },
	{ "rsa3072", "-t rsa -b 3072" },
};

#define NPLAIN (int)(sizeof(plains) / sizeof(plains[0]))

/* certs[i] certifies plains[i]. */
static const struct certspec {
	const char *name;
	const char *ca;
	const char *args;
	unsigned int type;
	const char *key_id;
	const char *short_name;
} certs[] = {
	{ "ed25519-cert", "ca-ed25519", "-I 'alice id' -n alice,bob",
	    KS_CERT_USER, "alice id", "ED25519-CERT" },
	{ "ecdsa256-cert", "ca-rsa",
	    "-I 'host one' -h -n host.example.com,*.example.org", KS_CERT_HOST,
	    "host one", "ECDSA-CERT" },
	{ "ecdsa384-cert", "ca-rsa",
	    "-I 'sha1 host' -h -t ssh-rsa -n host.example.com", KS_CERT_HOST,
	    "sha1 host", "ECDSA-CERT" },
	{ "ecdsa521-cert", "ca-ecdsa",
	    "-I carol -n carol "
	    "-O force-command=/bin/true -O source-address=10.0.0.0/8",
	    KS_CERT_USER, "carol", "ECDSA-CERT" },
	{ "rsa2048-cert", "ca-ecdsa", "-I dave -n dave", KS_CERT_USER, "dave",
	    "RSA-CERT" },
	{ "rsa3072-cert", "ca-ed25519", "-I 'any host' -h", KS_CERT_HOST,
	    "any host", "RSA-CERT" },
};

static const char *const cas[] = { "ca-ed25519", "ca-ecdsa", "ca-rsa" };

/* Every public key file: plain keys, then certificates, then CAs. */
#define NPUB (NPLAIN + NPLAIN + 3)

static int have_dsa;

static const char *
pub_name(int i)
{
	if (i < NPLAIN)
		return plains[i].name;
	if (i < 2 * NPLAIN)
		return certs[i - NPLAIN].name;
	return cas[i - 2 * NPLAIN];
}

static struct ks_key *
load_pub(const char *name)
{
	char file[128];
	struct ks_key *k;

	snprintf(file, sizeof(file), "%s.pub", name);
	k = tu_load_pub(file);
	ck_assert_msg(k != NULL, "cannot load %s", file);
	return k;
}

static struct kbuf *
load_private(const char *name)
{
	struct kbuf *b = tu_private_blob(name);

	ck_assert_msg(b != NULL, "cannot read private key %s", name);
	return b;
}

static int
parse_private(const struct kbuf *enc, struct ks_key **kp)
{
	struct kbuf *v = kbuf_from(kbuf_ptr(enc), kbuf_len(enc));
	int r;

	ck_assert_ptr_nonnull(v);
	r = ks_key_parse_private(v, kp);
	if (r == 0)
		ck_assert_uint_eq(kbuf_len(v), 0);
	kbuf_free(v);
	return r;
}

static struct ks_key *
load_private_key(const char *name)
{
	struct kbuf *enc = load_private(name);
	struct ks_key *k = NULL;

	ck_assert_int_eq(parse_private(enc, &k), 0);
	kbuf_free(enc);
	return k;
}

/* Finds "bits SHA256:... comment (TYPE)" fields in ssh-keygen -l output. */
static void
keygen_fingerprint(const char *file, const char *hash, unsigned int *bits,
    char *fp, size_t fplen, char *type, size_t typelen)
{
	char *out, *p, *q;

	out = tu_sh_output("ssh-keygen -E %s -lf %s", hash, file);
	ck_assert_msg(out != NULL, "ssh-keygen -lf %s failed", file);
	*bits = (unsigned int)strtoul(out, &p, 10);
	ck_assert_int_eq(*p, ' ');
	q = strchr(++p, ' ');
	ck_assert_ptr_nonnull(q);
	ck_assert_uint_lt((size_t)(q - p), fplen);
	memcpy(fp, p, (size_t)(q - p));
	fp[q - p] = '\0';
	p = strrchr(out, '(');
	q = strrchr(out, ')');
	ck_assert(p != NULL && q != NULL && q > p);
	ck_assert_uint_lt((size_t)(q - p - 1), typelen);
	memcpy(type, p + 1, (size_t)(q - p - 1));
	type[q - p - 1] = '\0';
	free(out);
}

START_TEST(test_fingerprint_bits_and_type_match_ssh_keygen)
{
	char file[128], want[128], type[64], fp[KS_FP_MAX];
	struct ks_key *k = load_pub(pub_name(_i));
	unsigned int bits;

	snprintf(file, sizeof(file), "%s.pub", pub_name(_i));
	keygen_fingerprint(file, "sha256", &bits, want, sizeof(want), type,
	    sizeof(type));
	ck_assert_int_eq(ks_key_fingerprint(k, KS_FP_SHA256, fp, sizeof(fp)),
	    0);
	ck_assert_str_eq(fp, want);
	ck_assert_uint_eq(ks_key_bits(k), bits);
	ck_assert_str_eq(ks_key_short_name(k), type);
	keygen_fingerprint(file, "md5", &bits, want, sizeof(want), type,
	    sizeof(type));
	ck_assert_int_eq(ks_key_fingerprint(k, KS_FP_MD5, fp, sizeof(fp)), 0);
	ck_assert_str_eq(fp, want);
	ks_key_free(k);
}
END_TEST

START_TEST(test_key_line_reencodes_as_ssh_keygen_wrote_it)
{
	char file[128], *text, *line;
	struct ks_key *k = load_pub(pub_name(_i));
	size_t len;

	snprintf(file, sizeof(file), "%s.pub", pub_name(_i));
	text = tu_read(file, NULL);
	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(ks_key_to_openssh_line(k, NULL, &line), 0);
	len = strlen(line);
	/* Same type and base64; ssh-keygen adds " comment\n". */
	ck_assert_int_eq(strncmp(text, line, len), 0);
	ck_assert(text[len] == ' ' || text[len] == '\n');
	free(line);
	free(text);
	ks_key_free(k);
}
END_TEST

START_TEST(test_openssh_private_key_parses_and_reencodes_exactly)
{
	struct kbuf *enc = load_private(plains[_i].name), *out = kbuf_new();
	struct ks_key *k = NULL, *pub = load_pub(plains[_i].name);

	ck_assert_int_eq(parse_private(enc, &k), 0);
	ck_assert_int_eq(ks_key_has_private(k), 1);
	ck_assert_int_eq(ks_key_equal_public(k, pub), 1);
	/* What ssh-add would send is byte for byte what we produce. */
	ck_assert_int_eq(ks_key_put_private(k, out), 0);
	ck_assert(kbuf_equal(enc, out));
	kbuf_free(out);
	kbuf_free(enc);
	ks_key_free(k);
	ks_key_free(pub);
}
END_TEST

/* SSHSIG (PROTOCOL.sshsig): what ssh-keygen -Y sign writes. */
struct sshsig {
	const uint8_t *pk, *ns, *hash, *sig;
	size_t pklen, nslen, hashlen, siglen;
};

static void
sshsig_parse(struct kbuf *b, struct sshsig *s)
{
	uint32_t version;

	ck_assert_uint_ge(kbuf_len(b), 6);
	ck_assert_mem_eq(kbuf_ptr(b), "SSHSIG", 6);
	ck_assert_int_eq(kbuf_consume(b, 6), 0);
	ck_assert_int_eq(kbuf_get_u32(b, &version), 0);
	ck_assert_uint_eq(version, 1);
	ck_assert_int_eq(kbuf_get_string_direct(b, &s->pk, &s->pklen), 0);
	ck_assert_int_eq(kbuf_get_string_direct(b, &s->ns, &s->nslen), 0);
	ck_assert_int_eq(kbuf_get_string_direct(b, NULL, NULL), 0);
	ck_assert_int_eq(kbuf_get_string_direct(b, &s->hash, &s->hashlen), 0);
	ck_assert_int_eq(kbuf_get_string_direct(b, &s->sig, &s->siglen), 0);
	ck_assert_uint_eq(kbuf_len(b), 0);
}

/* The bytes an SSHSIG signature covers. */
static struct kbuf *
sshsig_signed_data(const char *ns, const char *hashname, const void *m,
    size_t mlen)
{
	struct kbuf *b = kbuf_new();
	uint8_t h[KS_HASH_MAX_LEN];
	size_t hlen;

	ck_assert_int_eq(ks_digest(strcmp(hashname, "sha256") == 0 ?
				 KS_HASH_SHA256 :
				 KS_HASH_SHA512,
			     m, mlen, h, sizeof(h), &hlen),
	    0);
	ck_assert_int_eq(kbuf_put(b, "SSHSIG", 6), 0);
	ck_assert_int_eq(kbuf_put_cstring(b, ns), 0);
	ck_assert_int_eq(kbuf_put_cstring(b, ""), 0);
	ck_assert_int_eq(kbuf_put_cstring(b, hashname), 0);
	ck_assert_int_eq(kbuf_put_string(b, h, hlen), 0);
	return b;
}

START_TEST(test_ssh_keygen_signature_verifies)
{
	char file[128], *text, *m;
	struct ks_key *k = load_pub(plains[_i].name), *embedded;
	struct kbuf *b, *data;
	struct sshsig s;
	char ns[32], hash[16];
	uint8_t *bin;
	size_t mlen, blen;

	snprintf(file, sizeof(file), "msg-%s", plains[_i].name);
	m = tu_read(file, &mlen);
	ck_assert_ptr_nonnull(m);
	snprintf(file, sizeof(file), "msg-%s.sig", plains[_i].name);
	text = tu_read(file, NULL);
	ck_assert_ptr_nonnull(text);
	bin = tu_dearmor(text, "SSH SIGNATURE", &blen);
	ck_assert_ptr_nonnull(bin);
	ck_assert_ptr_nonnull(b = kbuf_from(bin, blen));
	sshsig_parse(b, &s);
	ck_assert_int_eq(ks_key_from_blob(s.pk, s.pklen, &embedded), 0);
	ck_assert_int_eq(ks_key_equal_public(embedded, k), 1);
	ck_assert_uint_lt(s.nslen, sizeof(ns));
	ck_assert_uint_lt(s.hashlen, sizeof(hash));
	memcpy(ns, s.ns, s.nslen);
	ns[s.nslen] = '\0';
	memcpy(hash, s.hash, s.hashlen);
	hash[s.hashlen] = '\0';

	data = sshsig_signed_data(ns, hash, m, mlen);
	ck_assert_int_eq(ks_key_verify(k, s.sig, s.siglen, kbuf_ptr(data),
			     kbuf_len(data)),
	    0);
	kbuf_free(data);
	m[0] ^= 1;
	data = sshsig_signed_data(ns, hash, m, mlen);
	ck_assert_int_eq(ks_key_verify(k, s.sig, s.siglen, kbuf_ptr(data),
			     kbuf_len(data)),
	    KMES_ERR_SIGNATURE_INVALID);
	kbuf_free(data);
	kbuf_free(b);
	free(bin);
	free(text);
	free(m);
	ks_key_free(embedded);
	ks_key_free(k);
}
END_TEST

/* Writes an armored SSHSIG made by the agent; returns 0 if ssh-keygen agrees. */
static int
keygen_checks_our_signature(const struct ks_key *k, uint32_t flags,
    const char *tag)
{
	static const char m[] = "signed by kmes-agent\n";
	struct kbuf *data, *sig = kbuf_new(), *blob = kbuf_new();
	const uint8_t *pk;
	char b64[8192], file[128], *armor, *p;
	size_t pklen, i, o, len;
	int r;

	data = sshsig_signed_data("file", "sha512", m, sizeof(m) - 1);
	ck_assert_int_eq(ks_key_sign(k, kbuf_ptr(data), kbuf_len(data), flags,
			     sig),
	    0);
	pk = ks_key_blob(k, &pklen);
	ck_assert_int_eq(kbuf_put(blob, "SSHSIG", 6), 0);
	ck_assert_int_eq(kbuf_put_u32(blob, 1), 0);
	ck_assert_int_eq(kbuf_put_string(blob, pk, pklen), 0);
	ck_assert_int_eq(kbuf_put_cstring(blob, "file"), 0);
	ck_assert_int_eq(kbuf_put_cstring(blob, ""), 0);
	ck_assert_int_eq(kbuf_put_cstring(blob, "sha512"), 0);
	ck_assert_int_eq(kbuf_put_stringb(blob, sig), 0);
	ck_assert_int_eq(ks_b64_encode(kbuf_ptr(blob), kbuf_len(blob), 1, b64,
			     sizeof(b64)),
	    0);
	len = strlen(b64);
	armor = malloc(len + len / 70 + 128);
	ck_assert_ptr_nonnull(armor);
	p = armor + sprintf(armor, "-----BEGIN SSH SIGNATURE-----\n");
	for (i = o = 0; i < len; i++) {
		*p++ = b64[i];
		if (++o == 70) {
			*p++ = '\n';
			o = 0;
		}
	}
	sprintf(p, "%s-----END SSH SIGNATURE-----\n", o ? "\n" : "");
	snprintf(file, sizeof(file), "ours-%s.sig", tag);
	ck_assert_int_eq(tu_write(file, armor, strlen(armor)), 0);
	ck_assert_int_eq(tu_write("ours-msg", m, sizeof(m) - 1), 0);
	r = tu_sh("ssh-keygen -Y check-novalidate -n file -s %s < ours-msg "
		  ">/dev/null 2>&1",
	    file);
	free(armor);
	kbuf_free(blob);
	kbuf_free(sig);
	kbuf_free(data);
	return r;
}

START_TEST(test_ssh_keygen_accepts_our_signature)
{
	struct ks_key *k = load_private_key(plains[_i].name), *g = NULL;
	char tag[64];

	snprintf(tag, sizeof(tag), "%s", plains[_i].name);
	ck_assert_int_eq(keygen_checks_our_signature(k, KS_SIGN_RSA_SHA2_512,
			     tag),
	    0);
	if (ks_key_type(k) == KS_KEY_RSA) {
		ck_assert_int_eq(keygen_checks_our_signature(k,
				     KS_SIGN_RSA_SHA2_256, tag),
		    0);
	}
	/* And a key the agent generated itself. */
	ck_assert_int_eq(ks_key_generate(ks_key_type(k), ks_key_bits(k), &g),
	    0);
	snprintf(tag, sizeof(tag), "gen-%s", plains[_i].name);
	ck_assert_int_eq(keygen_checks_our_signature(g, KS_SIGN_RSA_SHA2_512,
			     tag),
	    0);
	ks_key_free(g);
	ks_key_free(k);
}
END_TEST

START_TEST(test_certificate_fields_match_ssh_keygen)
{
	struct ks_key *c = load_pub(certs[_i].name);
	struct ks_key *plain = load_pub(plains[_i].name);
	struct ks_key *ca = load_pub(certs[_i].ca), *sk = NULL;
	const uint8_t *b1, *b2;
	size_t l1, l2;

	ck_assert_int_eq(ks_key_is_cert(c), 1);
	ck_assert_int_eq(ks_key_has_private(c), 0);
	ck_assert_uint_eq(ks_cert_type(c), certs[_i].type);
	ck_assert_str_eq(ks_cert_key_id(c), certs[_i].key_id);
	ck_assert_str_eq(ks_key_short_name(c), certs[_i].short_name);
	ck_assert_uint_eq(ks_key_bits(c), ks_key_bits(plain));
	ck_assert_int_eq(ks_key_type(c), ks_key_type(plain));
	ck_assert_int_eq(ks_key_equal_public(c, plain), 1);
	b1 = ks_key_plain_blob(c, &l1);
	b2 = ks_key_blob(plain, &l2);
	ck_assert_uint_eq(l1, l2);
	ck_assert_mem_eq(b1, b2, l1);
	b1 = ks_key_blob(c, &l1);
	ck_assert_uint_gt(l1, l2);
	ck_assert_int_eq(ks_cert_signature_key(c, &sk), 0);
	ck_assert_int_eq(ks_key_equal_public(sk, ca), 1);
	ck_assert_int_eq(ks_key_is_cert(sk), 0);
	ks_key_free(sk);
	ck_assert_int_eq(ks_cert_signature_key(plain, &sk),
	    KMES_ERR_INVALID_ARGUMENT);
	ck_assert_ptr_null(sk);
	ck_assert_uint_eq(ks_cert_type(plain), 0);
	ks_key_free(c);
	ks_key_free(plain);
	ks_key_free(ca);
}
END_TEST

START_TEST(test_host_certificate_checks_name_time_and_ca_hash)
{
	struct ks_key *host = load_pub("ecdsa256-cert");
	struct ks_key *sha1 = load_pub("ecdsa384-cert");
	struct ks_key *any = load_pub("rsa3072-cert");
	struct ks_key *user = load_pub("ed25519-cert");
	struct ks_key *plain = load_pub("ed25519");
	uint64_t now = (uint64_t)time(NULL);
	uint64_t future = 4200000000ULL; /* after the -V end, 2099 */

	ck_assert_int_eq(ks_cert_check_host(host, "host.example.com", now), 0);
	/*
	 * As in ssh-agent, the constraint's host name is the pattern and the
	 * principals are literal: "*.example.com" matches host.example.com,
	 * while the principal "*.example.org" matches only itself.
	 */
	ck_assert_int_eq(ks_cert_check_host(host, "*.example.com", now), 0);
	ck_assert_int_eq(ks_cert_check_host(host, "*.example.org", now), 0);
	ck_assert_int_eq(ks_cert_check_host(host, "www.example.org", now),
	    KMES_ERR_CERT_INVALID);
	ck_assert_int_eq(ks_cert_check_host(host, "example.org", now),
	    KMES_ERR_CERT_INVALID);
	ck_assert_int_eq(ks_cert_check_host(host, "evil.example.com", now),
	    KMES_ERR_CERT_INVALID);
	ck_assert_int_eq(ks_cert_check_host(host, "host.example.com.evil", now),
	    KMES_ERR_CERT_INVALID);
	ck_assert_int_eq(ks_cert_check_host(host, "host.example.com", 0),
	    KMES_ERR_CERT_INVALID);
	ck_assert_int_eq(ks_cert_check_host(host, "host.example.com", future),
	    KMES_ERR_CERT_INVALID);
	/* ssh-agent allows no SHA-1 (ssh-rsa) CA signatures. */
	ck_assert_int_eq(ks_cert_check_host(sha1, "host.example.com", now),
	    KMES_ERR_CERT_INVALID);
	/* No principals: any name. */
	ck_assert_int_eq(ks_cert_check_host(any, "whatever.example", now), 0);
	ck_assert_int_eq(ks_cert_check_host(user, "alice", now),
	    KMES_ERR_CERT_INVALID);
	ck_assert_int_eq(ks_cert_check_host(plain, "alice", now),
	    KMES_ERR_INVALID_ARGUMENT);
	ks_key_free(host);
	ks_key_free(sha1);
	ks_key_free(any);
	ks_key_free(user);
	ks_key_free(plain);
}
END_TEST

START_TEST(test_certificate_with_any_flipped_byte_is_refused)
{
	struct ks_key *c = load_pub(certs[_i].name), *k;
	const uint8_t *blob;
	uint8_t *bad;
	size_t len, i;

	blob = ks_key_blob(c, &len);
	bad = malloc(len);
	ck_assert_ptr_nonnull(bad);
	for (i = 0; i < len; i++) {
		memcpy(bad, blob, len);
		bad[i] ^= 0x01;
		k = (struct ks_key *)1;
		ck_assert_msg(ks_key_from_blob(bad, len, &k) != 0,
		    "%s accepted with byte %zu flipped", certs[_i].name, i);
		ck_assert_ptr_null(k);
	}
	free(bad);
	ks_key_free(c);
}
END_TEST

START_TEST(test_every_truncated_blob_is_refused)
{
	struct ks_key *c = load_pub(pub_name(_i)), *k;
	const uint8_t *blob;
	uint8_t *longer;
	size_t len, i;

	blob = ks_key_blob(c, &len);
	for (i = 0; i < len; i++) {
		ck_assert_msg(ks_key_from_blob(blob, i, &k) != 0,
		    "%s accepted cut to %zu bytes", pub_name(_i), i);
		ck_assert_ptr_null(k);
	}
	longer = malloc(len + 1);
	ck_assert_ptr_nonnull(longer);
	memcpy(longer, blob, len);
	longer[len] = 0;
	ck_assert_int_eq(ks_key_from_blob(longer, len + 1, &k),
	    KMES_ERR_INVALID_FORMAT);
	ck_assert_int_eq(ks_key_from_blob(longer, len, &k), 0);
	ks_key_free(k);
	free(longer);
	ks_key_free(c);
}
END_TEST

static void
check_truncations(const struct kbuf *enc, const char *what)
{
	struct ks_key *k;
	struct kbuf *v;
	size_t i;

	for (i = 0; i < kbuf_len(enc); i++) {
		v = kbuf_from(kbuf_ptr(enc), i);
		ck_assert_ptr_nonnull(v);
		ck_assert_msg(ks_key_parse_private(v, &k) != 0,
		    "%s accepted cut to %zu bytes", what, i);
		ck_assert_ptr_null(k);
		/* A refused key leaves the message unconsumed. */
		ck_assert_uint_eq(kbuf_len(v), i);
		kbuf_free(v);
	}
}

START_TEST(test_every_truncated_private_key_is_refused)
{
	struct kbuf *enc = load_private(plains[_i].name), *cenc;
	struct ks_key *cert = load_pub(certs[_i].name);

	check_truncations(enc, plains[_i].name);
	cenc = tu_cert_private(cert, enc);
	ck_assert_ptr_nonnull(cenc);
	check_truncations(cenc, certs[_i].name);
	kbuf_free(cenc);
	kbuf_free(enc);
	ks_key_free(cert);
}
END_TEST

START_TEST(test_certificate_private_key_parses_signs_and_reencodes)
{
	struct kbuf *enc = load_private(plains[_i].name), *cenc, *out, *sig;
	struct ks_key *cert = load_pub(certs[_i].name);
	struct ks_key *plain = load_pub(plains[_i].name), *k = NULL;
	static const uint8_t m[] = "certified";
	char *alg;

	cenc = tu_cert_private(cert, enc);
	ck_assert_ptr_nonnull(cenc);
	ck_assert_int_eq(parse_private(cenc, &k), 0);
	ck_assert_int_eq(ks_key_is_cert(k), 1);
	ck_assert_int_eq(ks_key_has_private(k), 1);
	ck_assert_str_eq(ks_key_type_name(k), ks_key_type_name(cert));
	out = kbuf_new();
	ck_assert_int_eq(ks_key_put_private(k, out), 0);
	ck_assert(kbuf_equal(out, cenc));

	/* Certificates sign with the plain algorithm names. */
	sig = kbuf_new();
	ck_assert_int_eq(ks_key_sign(k, m, sizeof(m), KS_SIGN_RSA_SHA2_256,
			     sig),
	    0);
	ck_assert_int_eq(kbuf_get_cstring(sig, &alg, NULL), 0);
	if (ks_key_type(k) == KS_KEY_RSA)
		ck_assert_str_eq(alg, "rsa-sha2-256");
	else
		ck_assert_str_eq(alg, ks_key_type_name(plain));
	free(alg);
	kbuf_reset(sig);
	ck_assert_int_eq(ks_key_sign(k, m, sizeof(m), 0, sig), 0);
	ck_assert_int_eq(ks_key_verify(plain, kbuf_ptr(sig), kbuf_len(sig), m,
			     sizeof(m)),
	    0);
	ck_assert_int_eq(ks_key_verify(cert, kbuf_ptr(sig), kbuf_len(sig), m,
			     sizeof(m)),
	    0);
	kbuf_free(sig);
	kbuf_free(out);
	kbuf_free(cenc);
	kbuf_free(enc);
	ks_key_free(k);
	ks_key_free(cert);
	ks_key_free(plain);
}
END_TEST

/* Splits a plain private encoding into its length-prefixed fields. */
static size_t
fields(const struct kbuf *enc, const uint8_t **p, size_t *len, size_t max)
{
	struct kbuf *v = kbuf_from(kbuf_ptr(enc), kbuf_len(enc));
	size_t n = 0;

	while (kbuf_len(v) != 0 && n < max) {
		ck_assert_int_eq(kbuf_get_string_direct(v, &p[n], &len[n]), 0);
		n++;
	}
	kbuf_free(v);
	return n;
}

/* Re-assembles fields, taking field i from alt where use_alt[i]. */
static struct kbuf *
join_fields(const uint8_t **p, size_t *len, const uint8_t **ap, size_t *alen,
    const int *use_alt, size_t n)
{
	struct kbuf *b = kbuf_new();
	size_t i;

	for (i = 0; i < n; i++) {
		ck_assert_int_eq(use_alt[i] ?
			kbuf_put_string(b, ap[i], alen[i]) :
			kbuf_put_string(b, p[i], len[i]),
		    0);
	}
	return b;
}

/* Returns field i of enc re-encoded as an mpint one larger. */
static struct kbuf *
bump_field(const struct kbuf *enc, size_t which)
{
	const uint8_t *p[8];
	size_t len[8], n, i;
	struct kbuf *b = kbuf_new();
	uint8_t *v;

	n = fields(enc, p, len, 8);
	for (i = 0; i < n; i++) {
		if (i != which) {
			ck_assert_int_eq(kbuf_put_string(b, p[i], len[i]), 0);
			continue;
		}
		v = malloc(len[i]);
		memcpy(v, p[i], len[i]);
		v[len[i] - 1] ^= 0x02; /* stays odd or even, changes value */
		ck_assert_int_eq(kbuf_put_string(b, v, len[i]), 0);
		free(v);
	}
	return b;
}

static void
assert_mismatch(const struct kbuf *enc, const char *what)
{
	struct ks_key *k = NULL;
	int r = parse_private(enc, &k);

	ck_assert_msg(r == KMES_ERR_KEY_MISMATCH,
	    "%s: want key mismatch, got %s", what, kmes_err(r));
	ck_assert_ptr_null(k);
}

START_TEST(test_mismatched_private_and_public_are_refused)
{
	const uint8_t *p[8], *ap[8];
	size_t len[8], alen[8], n;
	struct kbuf *a, *alt, *bad, *cenc;
	struct ks_key *g, *cert;
	const int ed_tail[] = { 0, 0, 1 };	      /* other key's pk, sk */
	const int ec_d[] = { 0, 0, 0, 1 };	      /* other key's d */
	const int rsa_pq[] = { 0, 0, 0, 1, 1, 1, 1 }; /* d iqmp p q */
	uint8_t sk[64];

	/* Ed25519: the public key inside sk must be the public key. */
	a = load_private("ed25519");
	n = fields(a, p, len, 8);
	ck_assert_uint_eq(n, 3);
	memcpy(sk, p[2], 64);
	sk[40] ^= 1;
	ap[2] = sk;
	alen[2] = 64;
	bad = join_fields(p, len, ap, alen, ed_tail, n);
	assert_mismatch(bad, "ed25519 sk tail");
	kbuf_free(bad);
	/* ...and the seed must produce it. */
	ck_assert_int_eq(ks_key_generate(KS_KEY_ED25519, 0, &g), 0);
	alt = kbuf_new();
	ck_assert_int_eq(ks_key_put_private(g, alt), 0);
	ck_assert_uint_eq(fields(alt, ap, alen, 8), 3);
	memcpy(sk, ap[2], 32);
	memcpy(sk + 32, p[1], 32);
	ap[2] = sk;
	bad = join_fields(p, len, ap, alen, ed_tail, n);
	assert_mismatch(bad, "ed25519 seed of another key");
	kbuf_free(bad);
	/* A certificate for one key with another key's private half. */
	cert = load_pub("ed25519-cert");
	cenc = tu_cert_private(cert, alt);
	assert_mismatch(cenc, "ed25519 cert with other key");
	kbuf_free(cenc);
	ks_key_free(cert);
	kbuf_free(alt);
	ks_key_free(g);
	kbuf_free(a);

	/* ECDSA: d must generate Q. */
	a = load_private("ecdsa256");
	n = fields(a, p, len, 8);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(ks_key_generate(KS_KEY_ECDSA_P256, 0, &g), 0);
	alt = kbuf_new();
	ck_assert_int_eq(ks_key_put_private(g, alt), 0);
	ck_assert_uint_eq(fields(alt, ap, alen, 8), 4);
	bad = join_fields(p, len, ap, alen, ec_d, n);
	assert_mismatch(bad, "ecdsa d of another key");
	kbuf_free(bad);
	cert = load_pub("ecdsa256-cert");
	cenc = tu_cert_private(cert, alt);
	assert_mismatch(cenc, "ecdsa cert with other key");
	kbuf_free(cenc);
	ks_key_free(cert);
	kbuf_free(alt);
	ks_key_free(g);
	kbuf_free(a);

	/* RSA: n = pq, e*d = 1 mod p-1 and q-1, iqmp*q = 1 mod p. */
	a = load_private("rsa2048");
	n = fields(a, p, len, 8);
	ck_assert_uint_eq(n, 7);
	ck_assert_int_eq(ks_key_generate(KS_KEY_RSA, 2048, &g), 0);
	alt = kbuf_new();
	ck_assert_int_eq(ks_key_put_private(g, alt), 0);
	ck_assert_uint_eq(fields(alt, ap, alen, 8), 7);
	bad = join_fields(p, len, ap, alen, rsa_pq, n);
	assert_mismatch(bad, "rsa factors of another key");
	kbuf_free(bad);
	bad = bump_field(a, 3);
	assert_mismatch(bad, "rsa d changed");
	kbuf_free(bad);
	bad = bump_field(a, 4);
	assert_mismatch(bad, "rsa iqmp changed");
	kbuf_free(bad);
	cert = load_pub("rsa2048-cert");
	cenc = tu_cert_private(cert, alt);
	assert_mismatch(cenc, "rsa cert with other key");
	kbuf_free(cenc);
	ks_key_free(cert);
	kbuf_free(alt);
	ks_key_free(g);
	kbuf_free(a);
}
END_TEST

START_TEST(test_certificate_type_must_match_outer_type)
{
	struct kbuf *enc = load_private("ed25519"), *cenc, *bad;
	struct ks_key *cert = load_pub("ed25519-cert");
	struct ks_key *other = load_pub("ecdsa256-cert");
	const uint8_t *blob;
	struct kbuf *v;
	size_t len;

	cenc = tu_cert_private(cert, enc);
	/* Same fields, but the certificate is for an ECDSA key. */
	v = kbuf_from(kbuf_ptr(cenc), kbuf_len(cenc));
	ck_assert_int_eq(kbuf_get_string_direct(v, NULL, NULL), 0);
	ck_assert_int_eq(kbuf_get_string_direct(v, NULL, NULL), 0);
	bad = kbuf_new();
	blob = ks_key_blob(other, &len);
	ck_assert_int_eq(kbuf_put_cstring(bad, ks_key_type_name(cert)), 0);
	ck_assert_int_eq(kbuf_put_string(bad, blob, len), 0);
	ck_assert_int_eq(kbuf_putb(bad, v), 0);
	assert_mismatch(bad, "cert of another type");
	kbuf_free(bad);
	kbuf_free(v);
	kbuf_free(cenc);
	kbuf_free(enc);
	ks_key_free(cert);
	ks_key_free(other);
}
END_TEST

static int
blob_result(const char *type, const void *rest, size_t restlen)
{
	struct kbuf *b = kbuf_new();
	struct ks_key *k = NULL;
	int r;

	ck_assert_int_eq(kbuf_put_cstring(b, type), 0);
	if (restlen > 0)
		ck_assert_int_eq(kbuf_put(b, rest, restlen), 0);
	r = ks_key_from_blob(kbuf_ptr(b), kbuf_len(b), &k);
	ck_assert(r != 0 || k != NULL);
	ks_key_free(k);
	/* A private key with the same type word is refused the same way. */
	if (r == KMES_ERR_KEY_UNSUPPORTED || r == KMES_ERR_KEY_TYPE_UNKNOWN) {
		ck_assert_int_eq(ks_key_parse_private(b, &k), r);
		ck_assert_ptr_null(k);
	}
	kbuf_free(b);
	return r;
}

START_TEST(test_refuses_dsa_security_key_and_unknown_types)
{
	static const uint8_t junk[] = { 0, 0, 0, 4, 'j', 'u', 'n', 'k' };
	static const uint8_t nul_name[] = { 0, 0, 0, 13, 's', 's', 'h', '-',
		'e', 'd', '2', '5', '5', '1', '9', 0, 'x' };
	struct ks_key *k = NULL;
	char *text;

	if (have_dsa) {
		text = tu_read("dsa.pub", NULL);
		ck_assert_ptr_nonnull(text);
		ck_assert_int_eq(ks_key_from_openssh_line(text, &k),
		    KMES_ERR_KEY_UNSUPPORTED);
		ck_assert_ptr_null(k);
		free(text);
	}
	ck_assert_int_eq(blob_result("ssh-dss", junk, sizeof(junk)),
	    KMES_ERR_KEY_UNSUPPORTED);
	ck_assert_int_eq(blob_result("ssh-dss-cert-v01@openssh.com", junk,
			     sizeof(junk)),
	    KMES_ERR_KEY_UNSUPPORTED);
	ck_assert_int_eq(blob_result("sk-ssh-ed25519@openssh.com", junk,
			     sizeof(junk)),
	    KMES_ERR_KEY_UNSUPPORTED);
	ck_assert_int_eq(blob_result("sk-ecdsa-sha2-nistp256@openssh.com", junk,
			     sizeof(junk)),
	    KMES_ERR_KEY_UNSUPPORTED);
	ck_assert_int_eq(blob_result("sk-ssh-ed25519-cert-v01@openssh.com",
			     junk, sizeof(junk)),
	    KMES_ERR_KEY_UNSUPPORTED);
	ck_assert_int_eq(blob_result("ssh-foo", junk, sizeof(junk)),
	    KMES_ERR_KEY_TYPE_UNKNOWN);
	/* Signature names and ssh-add -l names are not key types. */
	ck_assert_int_eq(blob_result("rsa-sha2-256", junk, sizeof(junk)),
	    KMES_ERR_KEY_TYPE_UNKNOWN);
	ck_assert_int_eq(blob_result("ED25519", junk, sizeof(junk)),
	    KMES_ERR_KEY_TYPE_UNKNOWN);
	ck_assert_int_eq(blob_result("", junk, sizeof(junk)),
	    KMES_ERR_KEY_TYPE_UNKNOWN);
	ck_assert_int_eq(ks_key_from_blob(nul_name, sizeof(nul_name), &k),
	    KMES_ERR_KEY_TYPE_UNKNOWN);
	ck_assert_int_eq(ks_key_from_blob(NULL, 0, &k),
	    KMES_ERR_MESSAGE_INCOMPLETE);
}
END_TEST

START_TEST(test_malformed_public_keys_are_refused)
{
	struct ks_key *ed = load_pub("ed25519"), *ec = load_pub("ecdsa256");
	struct kbuf *b, *v;
	const uint8_t *q, *pk;
	size_t qlen, pklen;
	uint8_t pt[65], n[96], e3[] = { 3 }, e4[] = { 4 };
	int r;

	/* Ed25519 keys are exactly 32 bytes. */
	pk = ks_key_blob(ed, &pklen);
	v = kbuf_from(pk, pklen);
	ck_assert_int_eq(kbuf_get_string_direct(v, NULL, NULL), 0);
	ck_assert_int_eq(kbuf_get_string_direct(v, &pk, &pklen), 0);
	b = kbuf_new();
	ck_assert_int_eq(kbuf_put_string(b, pk, 31), 0);
	ck_assert_int_ne(blob_result("ssh-ed25519", kbuf_ptr(b), kbuf_len(b)),
	    0);
	kbuf_free(b);
	kbuf_free(v);

	/* ECDSA: curve names agree, points are uncompressed and on curve. */
	q = ks_key_blob(ec, &qlen);
	v = kbuf_from(q, qlen);
	ck_assert_int_eq(kbuf_get_string_direct(v, NULL, NULL), 0);
	ck_assert_int_eq(kbuf_get_string_direct(v, NULL, NULL), 0);
	ck_assert_int_eq(kbuf_get_string_direct(v, &q, &qlen), 0);
	ck_assert_uint_eq(qlen, 65);
	b = kbuf_new();
	ck_assert_int_eq(kbuf_put_cstring(b, "nistp384"), 0);
	ck_assert_int_eq(kbuf_put_string(b, q, qlen), 0);
	ck_assert_int_ne(blob_result("ecdsa-sha2-nistp256", kbuf_ptr(b),
			     kbuf_len(b)),
	    0);
	kbuf_reset(b);
	memcpy(pt, q, 65);
	pt[64] ^= 1;
	ck_assert_int_eq(kbuf_put_cstring(b, "nistp256"), 0);
	ck_assert_int_eq(kbuf_put_string(b, pt, 65), 0);
	ck_assert_int_eq(blob_result("ecdsa-sha2-nistp256", kbuf_ptr(b),
			     kbuf_len(b)),
	    KMES_ERR_KEY_INVALID);
	kbuf_reset(b);
	pt[64] ^= 1;
	pt[0] = 2 + (pt[64] & 1); /* the same point, compressed */
	ck_assert_int_eq(kbuf_put_cstring(b, "nistp256"), 0);
	ck_assert_int_eq(kbuf_put_string(b, pt, 33), 0);
	ck_assert_int_eq(blob_result("ecdsa-sha2-nistp256", kbuf_ptr(b),
			     kbuf_len(b)),
	    KMES_ERR_KEY_INVALID);
	kbuf_free(b);
	kbuf_free(v);

	/* RSA: under 1024 bits, or an even exponent, is refused. */
	memset(n, 0xa5, sizeof(n));
	n[0] = 0xc1;
	n[95] |= 1;
	b = kbuf_new();
	ck_assert_int_eq(kbuf_put_mpint(b, e3, 1), 0);
	ck_assert_int_eq(kbuf_put_mpint(b, n, sizeof(n)), 0);
	r = blob_result("ssh-rsa", kbuf_ptr(b), kbuf_len(b));
	ck_assert_int_eq(r, KMES_ERR_KEY_INVALID);
	kbuf_reset(b);
	ck_assert_int_eq(kbuf_put_mpint(b, e4, 1), 0);
	ck_assert_int_eq(kbuf_put_mpint(b, n, sizeof(n)), 0);
	ck_assert_int_eq(blob_result("ssh-rsa", kbuf_ptr(b), kbuf_len(b)),
	    KMES_ERR_KEY_INVALID);
	kbuf_free(b);
	ks_key_free(ed);
	ks_key_free(ec);
}
END_TEST

/*
 * Builds a certificate for subject signed by signer, with ca_blob as the
 * claimed signature key, nprincipals principals, and the given critical
 * options section.
 */
static struct kbuf *
make_cert(const struct ks_key *subject, const struct ks_key *signer,
    const uint8_t *ca_blob, size_t ca_len, uint32_t type, int nprincipals,
    const void *crit, size_t critlen)
{
	struct kbuf *b = kbuf_new(), *pr = kbuf_new(), *v, *sig = kbuf_new();
	const uint8_t *plain;
	char name[128];
	uint8_t nonce[32];
	size_t len;
	int i;

	snprintf(name, sizeof(name), "%s-cert-v01@openssh.com",
	    ks_key_type_name(subject));
	memset(nonce, 7, sizeof(nonce));
	plain = ks_key_plain_blob(subject, &len);
	v = kbuf_from(plain, len);
	ck_assert_int_eq(kbuf_get_string_direct(v, NULL, NULL), 0);
	for (i = 0; i < nprincipals; i++) {
		snprintf((char *)nonce, sizeof(nonce), "user%d", i);
		ck_assert_int_eq(kbuf_put_cstring(pr, (char *)nonce), 0);
	}
	memset(nonce, 7, sizeof(nonce));
	ck_assert_int_eq(kbuf_put_cstring(b, name), 0);
	ck_assert_int_eq(kbuf_put_string(b, nonce, sizeof(nonce)), 0);
	ck_assert_int_eq(kbuf_putb(b, v), 0);
	ck_assert_int_eq(kbuf_put_u64(b, 42), 0);
	ck_assert_int_eq(kbuf_put_u32(b, type), 0);
	ck_assert_int_eq(kbuf_put_cstring(b, "crafted"), 0);
	/* Not kbuf_put_stringb: kbuf_ptr of an empty new kbuf is NULL + 0. */
	if (kbuf_len(pr) == 0)
		ck_assert_int_eq(kbuf_put_string(b, NULL, 0), 0);
	else
		ck_assert_int_eq(kbuf_put_stringb(b, pr), 0);
	ck_assert_int_eq(kbuf_put_u64(b, 0), 0);
	ck_assert_int_eq(kbuf_put_u64(b, UINT64_MAX), 0);
	ck_assert_int_eq(kbuf_put_string(b, crit, critlen), 0);
	ck_assert_int_eq(kbuf_put_string(b, NULL, 0), 0);
	ck_assert_int_eq(kbuf_put_string(b, NULL, 0), 0);
	ck_assert_int_eq(kbuf_put_string(b, ca_blob, ca_len), 0);
	ck_assert_int_eq(ks_key_sign(signer, kbuf_ptr(b), kbuf_len(b),
			     KS_SIGN_RSA_SHA2_512, sig),
	    0);
	ck_assert_int_eq(kbuf_put_stringb(b, sig), 0);
	kbuf_free(sig);
	kbuf_free(v);
	kbuf_free(pr);
	return b;
}

static int
cert_result(const struct kbuf *b)
{
	struct ks_key *k = NULL;
	int r = ks_key_from_blob(kbuf_ptr(b), kbuf_len(b), &k);

	ks_key_free(k);
	return r;
}

START_TEST(test_crafted_certificates_are_checked)
{
	struct ks_key *subject = load_pub("ecdsa256");
	struct ks_key *ca = load_private_key("ca-ed25519");
	struct ks_key *other = load_private_key("ca-ecdsa");
	struct ks_key *cacert;
	static const uint8_t crit_ok[] = { 0, 0, 0, 1, 'x', 0, 0, 0, 0 };
	static const uint8_t crit_bad[] = { 0, 0, 0, 1, 'x', 0, 0 };
	const uint8_t *cab, *ob;
	size_t calen, olen;
	struct kbuf *b;

	cab = ks_key_blob(ca, &calen);
	ob = ks_key_blob(other, &olen);
	b = make_cert(subject, ca, cab, calen, KS_CERT_USER, 2, NULL, 0);
	ck_assert_int_eq(cert_result(b), 0);
	kbuf_free(b);
	b = make_cert(subject, ca, cab, calen, KS_CERT_HOST, 256, crit_ok,
	    sizeof(crit_ok));
	ck_assert_int_eq(cert_result(b), 0);
	kbuf_free(b);
	/* Only user and host certificates exist. */
	b = make_cert(subject, ca, cab, calen, 3, 0, NULL, 0);
	ck_assert_int_eq(cert_result(b), KMES_ERR_CERT_INVALID);
	kbuf_free(b);
	/* Principals are capped as in OpenSSH. */
	b = make_cert(subject, ca, cab, calen, KS_CERT_USER, 257, NULL, 0);
	ck_assert_int_ne(cert_result(b), 0);
	kbuf_free(b);
	/* Options must be (name, data) pairs. */
	b = make_cert(subject, ca, cab, calen, KS_CERT_USER, 0, crit_bad,
	    sizeof(crit_bad));
	ck_assert_int_ne(cert_result(b), 0);
	kbuf_free(b);
	/* Signed by a key other than the one it names. */
	b = make_cert(subject, other, cab, calen, KS_CERT_USER, 0, NULL, 0);
	ck_assert_int_eq(cert_result(b), KMES_ERR_CERT_INVALID);
	kbuf_free(b);
	b = make_cert(subject, ca, ob, olen, KS_CERT_USER, 0, NULL, 0);
	ck_assert_int_eq(cert_result(b), KMES_ERR_CERT_INVALID);
	kbuf_free(b);
	/* A certificate cannot be a CA, even a correctly signed one. */
	cacert = load_pub("ed25519-cert");
	cab = ks_key_blob(cacert, &calen);
	b = make_cert(subject, ca, cab, calen, KS_CERT_USER, 0, NULL, 0);
	ck_assert_int_eq(cert_result(b), KMES_ERR_CERT_INVALID);
	kbuf_free(b);
	ks_key_free(cacert);
	ks_key_free(subject);
	ks_key_free(ca);
	ks_key_free(other);
}
END_TEST

/* Reads exactly len bytes, waiting at most a few seconds. */
static int
read_full(int fd, void *p, size_t len)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint8_t *d = p;
	ssize_t n;

	while (len > 0) {
		if (poll(&pfd, 1, 10000) != 1)
			return -1;
		if ((n = read(fd, d, len)) <= 0)
			return -1;
		d += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Plays ssh-agent for one "ssh-add name" and returns the ADD_IDENTITY
 * bodies (key and comment) it sent, at most max of them.
 */
static int
capture_ssh_add(const char *name, struct kbuf **adds, int max)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct pollfd pfd;
	uint8_t hdr[4], *body, reply[5] = { 0, 0, 0, 1, 6 };
	uint32_t len;
	int ls, fd, n = 0, st;
	pid_t pid;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/agent.sock", tu_dir());
	unlink(sun.sun_path);
	ls = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(ls, 0);
	ck_assert_int_eq(bind(ls, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(listen(ls, 1), 0);
	if ((pid = fork()) == 0) {
		setenv("SSH_AUTH_SOCK", sun.sun_path, 1);
		if (chdir(tu_dir()) != 0)
			_exit(127);
		if ((fd = open("/dev/null", O_WRONLY)) < 0 || dup2(fd, 1) < 0 ||
		    dup2(fd, 2) < 0)
			_exit(127);
		execlp("ssh-add", "ssh-add", name, (char *)NULL);
		_exit(127);
	}
	ck_assert_int_gt(pid, 0);
	pfd.fd = ls;
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
	fd = accept(ls, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	while (read_full(fd, hdr, 4) == 0) {
		len = (uint32_t)hdr[0] << 24 | hdr[1] << 16 | hdr[2] << 8 |
		    hdr[3];
		ck_assert_uint_gt(len, 0);
		ck_assert_uint_lt(len, 256 * 1024);
		body = malloc(len);
		ck_assert_ptr_nonnull(body);
		ck_assert_int_eq(read_full(fd, body, len), 0);
		/* 17: SSH2_AGENTC_ADD_IDENTITY; anything else gets FAILURE. */
		reply[4] = 5;
		if (body[0] == 17 && n < max) {
			adds[n] = kbuf_new();
			ck_assert_int_eq(kbuf_put(adds[n], body + 1, len - 1),
			    0);
			n++;
			reply[4] = 6;
		}
		free(body);
		ck_assert_int_eq(write(fd, reply, sizeof(reply)),
		    (ssize_t)sizeof(reply));
	}
	close(fd);
	close(ls);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return n;
}

START_TEST(test_keys_sent_by_real_ssh_add_parse_and_reencode)
{
	struct kbuf *adds[4], *v, *out;
	struct ks_key *k, *pub = load_pub(plains[_i].name);
	struct ks_key *cert = load_pub(certs[_i].name);
	char *comment, want[64];
	size_t before;
	int n, i;

	/* ssh-add sends the key, then the certificate it finds beside it. */
	n = capture_ssh_add(plains[_i].name, adds, 4);
	ck_assert_int_eq(n, 2);
	snprintf(want, sizeof(want), "%s key", plains[_i].name);
	for (i = 0; i < n; i++) {
		v = kbuf_from(kbuf_ptr(adds[i]), kbuf_len(adds[i]));
		before = kbuf_len(v);
		ck_assert_int_eq(ks_key_parse_private(v, &k), 0);
		ck_assert_int_eq(kbuf_get_cstring(v, &comment, NULL), 0);
		ck_assert_str_eq(comment, want);
		ck_assert_uint_eq(kbuf_len(v), 0);
		out = kbuf_new();
		ck_assert_int_eq(ks_key_put_private(k, out), 0);
		ck_assert_uint_eq(kbuf_len(out), before - 4 - strlen(want));
		ck_assert_mem_eq(kbuf_ptr(out), kbuf_ptr(adds[i]),
		    kbuf_len(out));
		ck_assert_int_eq(ks_key_equal_public(k, pub), 1);
		ck_assert_int_eq(ks_key_is_cert(k), i == 1);
		if (i == 1)
			ck_assert_str_eq(ks_key_type_name(k),
			    ks_key_type_name(cert));
		free(comment);
		kbuf_free(out);
		kbuf_free(v);
		kbuf_free(adds[i]);
		ks_key_free(k);
	}
	ks_key_free(pub);
	ks_key_free(cert);
}
END_TEST

static Suite *
keyblob_suite(void)
{
	Suite *s = suite_create("keyblob");
	TCase *tc;

	tc = tcase_create("ssh-keygen interop");
	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, test_fingerprint_bits_and_type_match_ssh_keygen,
	    0, NPUB);
	tcase_add_loop_test(tc, test_key_line_reencodes_as_ssh_keygen_wrote_it,
	    0, NPUB);
	tcase_add_loop_test(tc,
	    test_openssh_private_key_parses_and_reencodes_exactly, 0, NPLAIN);
	tcase_add_loop_test(tc, test_ssh_keygen_signature_verifies, 0, NPLAIN);
	tcase_add_loop_test(tc, test_ssh_keygen_accepts_our_signature, 0,
	    NPLAIN);
	tcase_add_loop_test(tc,
	    test_keys_sent_by_real_ssh_add_parse_and_reencode, 0, NPLAIN);
	suite_add_tcase(s, tc);

	tc = tcase_create("certificates");
	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, test_certificate_fields_match_ssh_keygen, 0,
	    NPLAIN);
	tcase_add_test(tc, test_host_certificate_checks_name_time_and_ca_hash);
	tcase_add_loop_test(tc,
	    test_certificate_private_key_parses_signs_and_reencodes, 0, NPLAIN);
	tcase_add_loop_test(tc,
	    test_certificate_with_any_flipped_byte_is_refused, 0, NPLAIN);
	tcase_add_test(tc, test_certificate_type_must_match_outer_type);
	tcase_add_test(tc, test_crafted_certificates_are_checked);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile input");
	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, test_every_truncated_blob_is_refused, 0, NPUB);
	tcase_add_loop_test(tc, test_every_truncated_private_key_is_refused, 0,
	    NPLAIN);
	tcase_add_test(tc, test_mismatched_private_and_public_are_refused);
	tcase_add_test(tc, test_refuses_dsa_security_key_and_unknown_types);
	tcase_add_test(tc, test_malformed_public_keys_are_refused);
	suite_add_tcase(s, tc);
	return s;
}

/* Makes every key, certificate and signature the tests read. */
static int
make_fixtures(void)
{
	int i;

	for (i = 0; i < NPLAIN; i++) {
		if (tu_sh("ssh-keygen -q -N '' -C '%s key' %s -f %s "
			  "</dev/null >/dev/null",
			plains[i].name, plains[i].keygen,
			plains[i].name) != 0 ||
		    tu_sh("printf 'message for %s\\n' > msg-%s", plains[i].name,
			plains[i].name) != 0 ||
		    tu_sh("ssh-keygen -Y sign -f %s -n file msg-%s "
			  ">/dev/null 2>&1",
			plains[i].name, plains[i].name) != 0)
			return -1;
	}
	if (tu_sh(
		"ssh-keygen -q -N '' -t ed25519 -f ca-ed25519 </dev/null &&"
		"ssh-keygen -q -N '' -t ecdsa -b 384 -f ca-ecdsa </dev/null &&"
		"ssh-keygen -q -N '' -t rsa -b 2048 -f ca-rsa </dev/null") != 0)
		return -1;
	for (i = 0; i < NPLAIN; i++) {
		if (tu_sh("ssh-keygen -q -s %s %s -V 20200101:20991231 %s.pub "
			  ">/dev/null 2>&1",
			certs[i].ca, certs[i].args, plains[i].name) != 0)
			return -1;
	}
	have_dsa = tu_sh("ssh-keygen -q -N '' -t dsa -f dsa </dev/null "
			 ">/dev/null 2>&1") == 0;
	return 0;
}

int
main(void)
{
	int status;

	if (tu_setup("keystore") != 0 || tu_crypto_init() != 0)
		return 1;
	if (make_fixtures() != 0) {
		fprintf(stderr, "ssh-keygen fixtures failed in %s\n", tu_dir());
		return 1;
	}
	status = run_suite(keyblob_suite());
	tu_teardown();
	return status;
}
