/*
 * test-keyfile.c: keyfile.c against private key files that the real
 * ssh-keygen (and openssl, for Ed25519 PKCS#8, which ssh-keygen 9.2 cannot
 * write) produce at test time: every key type, every cipher, PEM and PKCS#8,
 * encrypted or not, plus truncated and tampered copies.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "kbuf.h"
#include "keyfile.h"
#include "kmes-err.h"
#include "testutil.h"

#define PASS "correct horse"
#define KDF_ROUNDS "-a 4" /* keeps the suite fast; 16 is tried once */

struct fixture {
	const char *name; /* private key file in the scratch directory */
	const char *base; /* its .pub, or NULL: "name.der" from openssl */
	const char *pass; /* NULL for an unencrypted file */
	int openssh;	  /* openssh-key-v1 (has a comment) */
	enum ks_key_type type;
};

static const struct fixture fixtures[] = {
	{ "ed25519", "ed25519", NULL, 1, KS_KEY_ED25519 },
	{ "ed25519-ctr", "ed25519", PASS, 1, KS_KEY_ED25519 },
	{ "ed25519-ctr16", "ed25519", PASS, 1, KS_KEY_ED25519 },
	{ "ed25519-ctr128", "ed25519", PASS, 1, KS_KEY_ED25519 },
	{ "ed25519-gcm", "ed25519", PASS, 1, KS_KEY_ED25519 },
	{ "ed25519-cbc", "ed25519", PASS, 1, KS_KEY_ED25519 },
	{ "ed25519-chacha", "ed25519", PASS, 1, KS_KEY_ED25519 },
	{ "ed25519-pkcs8", NULL, NULL, 0, KS_KEY_ED25519 },
	{ "ed25519-pkcs8-enc", NULL, PASS, 0, KS_KEY_ED25519 },
#define EC_FIXTURES(b, t) \
	{ b, b, NULL, 1, t }, { b "-ctr", b, PASS, 1, t }, \
	    { b "-gcm", b, PASS, 1, t }, { b "-cbc", b, PASS, 1, t }, \
	    { b "-chacha", b, PASS, 1, t }, { b "-pem", b, NULL, 0, t }, \
	    { b "-pem-enc", b, PASS, 0, t }, { b "-pkcs8", b, NULL, 0, t }, \
	{ \
		b "-pkcs8-enc", b, PASS, 0, t \
	}
	EC_FIXTURES("ecdsa256", KS_KEY_ECDSA_P256),
	EC_FIXTURES("ecdsa384", KS_KEY_ECDSA_P384),
	EC_FIXTURES("ecdsa521", KS_KEY_ECDSA_P521),
	EC_FIXTURES("rsa2048", KS_KEY_RSA),
	{ "rsa3072", "rsa3072", NULL, 1, KS_KEY_RSA },
	{ "rsa3072-gcm", "rsa3072", PASS, 1, KS_KEY_RSA },
	{ "rsa3072-pem-enc", "rsa3072", PASS, 0, KS_KEY_RSA },
	{ "rsa3072-pkcs8-enc", "rsa3072", PASS, 0, KS_KEY_RSA },
	/* PEM after other blocks or text, as openssl ecparam / pkcs12 write. */
	{ "ecparam", "ecparam", NULL, 0, KS_KEY_ECDSA_P384 },
	{ "rsa-bag", "rsa2048", NULL, 0, KS_KEY_RSA },
};

#define NFIXTURES (sizeof(fixtures) / sizeof(fixtures[0]))

/*
 * The encrypted and the unencrypted fixtures, as indexes into fixtures[]:
 * a loop test for one kind runs over that kind only. Filled by main()
 * before the suite runs.
 */
static size_t enc_fixtures[NFIXTURES], plain_fixtures[NFIXTURES];
static size_t nenc, nplain;

static void
split_fixtures(void)
{
	size_t i;

	for (i = 0; i < NFIXTURES; i++) {
		if (fixtures[i].pass != NULL)
			enc_fixtures[nenc++] = i;
		else
			plain_fixtures[nplain++] = i;
	}
}

/* The unencrypted openssh-key-v1 files, one per type. */
static const char *const plain_files[] = {
	"ed25519",
	"ecdsa256",
	"ecdsa384",
	"ecdsa521",
	"rsa2048",
	"rsa3072",
};

#define NPLAIN (sizeof(plain_files) / sizeof(plain_files[0]))

static int have_dsa;

/* Derives "base-variant" from base with ssh-keygen -p. */
static int
variant(const char *base, const char *suffix, const char *pass,
    const char *opts)
{
	return tu_sh_quiet("cp %s %s-%s && "
			   "ssh-keygen -q -p -f %s-%s -P '' -N '%s' %s",
	    base, base, suffix, base, suffix, pass, opts);
}

static int
make_fixtures(void)
{
	static const struct {
		const char *name, *args;
	} bases[] = {
		{ "ed25519", "-t ed25519" },
		{ "ecdsa256", "-t ecdsa -b 256" },
		{ "ecdsa384", "-t ecdsa -b 384" },
		{ "ecdsa521", "-t ecdsa -b 521" },
		{ "rsa2048", "-t rsa -b 2048" },
		{ "rsa3072", "-t rsa -b 3072" },
	};
	size_t i;

	for (i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		if (tu_sh_quiet("ssh-keygen -q %s -N '' -C 'comment %s' -f %s",
			bases[i].args, bases[i].name, bases[i].name) != 0)
			return -1;
		if (variant(bases[i].name, "ctr", PASS, KDF_ROUNDS) != 0 ||
		    variant(bases[i].name, "gcm", PASS,
			KDF_ROUNDS " -Z aes256-gcm@openssh.com") != 0 ||
		    variant(bases[i].name, "cbc", PASS,
			KDF_ROUNDS " -Z aes256-cbc") != 0 ||
		    variant(bases[i].name, "chacha", PASS,
			KDF_ROUNDS " -Z chacha20-poly1305@openssh.com") != 0)
			return -1;
		/* ssh-keygen 9.2 writes Ed25519 "PEM" as openssh-key-v1. */
		if (i == 0)
			continue;
		if (variant(bases[i].name, "pem", "", "-m PEM") != 0 ||
		    variant(bases[i].name, "pem-enc", PASS, "-m PEM") != 0 ||
		    variant(bases[i].name, "pkcs8", "", "-m PKCS8") != 0 ||
		    variant(bases[i].name, "pkcs8-enc", PASS, "-m PKCS8") != 0)
			return -1;
	}
	if (variant("ed25519", "ctr16", PASS, "") != 0 ||
	    variant("ed25519", "ctr128", PASS, KDF_ROUNDS " -Z aes128-ctr") !=
		0 ||
	    variant("ed25519", "3des", PASS, KDF_ROUNDS " -Z 3des-cbc") != 0)
		return -1;
	if (tu_sh_quiet(
		"openssl genpkey -algorithm ed25519 "
		"-out ed25519-pkcs8 && "
		"openssl pkcs8 -topk8 -v2 aes-256-cbc -in ed25519-pkcs8 "
		"-out ed25519-pkcs8-enc -passout 'pass:" PASS "' && "
		"openssl pkey -in ed25519-pkcs8 -pubout -outform DER "
		"-out ed25519-pkcs8.der && "
		"cp ed25519-pkcs8.der ed25519-pkcs8-enc.der") != 0)
		return -1;
	if (tu_sh_quiet("openssl ecparam -name secp384r1 -genkey "
			"-out ecparam && "
			"ssh-keygen -y -f ecparam > ecparam.pub && "
			"{ echo 'Bag Attributes: <No Attributes>'; "
			"echo 'Key Attributes: <No Attributes>'; "
			"cat rsa2048-pkcs8; } > rsa-bag") != 0)
		return -1;
	/* OpenSSL makes DSA keys whatever ssh-keygen still does. */
	if (tu_sh_quiet(
		"openssl genpkey -genparam -algorithm DSA "
		"-pkeyopt dsa_paramgen_bits:1024 -out dsa-params && "
		"openssl genpkey -paramfile dsa-params -out dsa-pkcs8 && "
		"openssl pkey -in dsa-pkcs8 -traditional -out dsa-trad") != 0)
		return -1;
	/* DSA may be compiled out of a newer ssh-keygen. */
	have_dsa =
	    tu_sh_quiet(
		"ssh-keygen -q -t dsa -N '' -f dsa && "
		"cp dsa dsa-pem && ssh-keygen -q -p -f dsa-pem -P '' -N '' "
		"-m PEM") == 0;
	return 0;
}

static uint8_t *
must_read(const char *name, size_t *lenp)
{
	uint8_t *p;

	p = (uint8_t *)tu_read(name, lenp);
	ck_assert_msg(p != NULL, "cannot read %s", name);
	return p;
}

/* The public key the fixture should hold, read without keyfile.c. */
static struct ks_key *
expected_public(const struct fixture *f)
{
	struct ks_key *k = NULL;
	struct kbuf *b;
	uint8_t *text;
	char name[128];
	size_t len;

	if (f->base != NULL) {
		snprintf(name, sizeof(name), "%s.pub", f->base);
		text = must_read(name, &len);
		ck_assert_int_eq(ks_key_from_openssh_line((char *)text, &k), 0);
		free(text);
		return k;
	}
	/* An Ed25519 SubjectPublicKeyInfo ends in the raw 32-byte key. */
	snprintf(name, sizeof(name), "%s.der", f->name);
	text = must_read(name, &len);
	ck_assert_uint_eq(len, 44);
	ck_assert_ptr_nonnull(b = kbuf_new());
	ck_assert_int_eq(kbuf_put_cstring(b, "ssh-ed25519"), 0);
	ck_assert_int_eq(kbuf_put_string(b, text + 12, 32), 0);
	ck_assert_int_eq(ks_key_from_blob(kbuf_ptr(b), kbuf_len(b), &k), 0);
	kbuf_free(b);
	free(text);
	return k;
}

static const uint8_t *
upass(const char *s)
{
	return (const uint8_t *)s;
}

START_TEST(parses_every_fixture_to_the_right_key)
{
	const struct fixture *f = &fixtures[_i];
	static const uint8_t msg[] = "key file import";
	struct ks_key *k = NULL, *pub;
	struct kbuf *sig;
	const uint8_t *a, *b;
	char *comment = NULL, want[64];
	uint8_t *data;
	size_t len, alen, blen;
	uint32_t flags;

	data = must_read(f->name, &len);
	ck_assert_int_eq(ks_keyfile_encrypted(data, len), f->pass != NULL);
	ck_assert_msg(ks_keyfile_parse(data, len,
			  f->pass ? upass(f->pass) : NULL,
			  f->pass ? strlen(f->pass) : 0, &k, &comment) == 0,
	    "%s does not parse", f->name);
	ck_assert(ks_key_has_private(k));
	ck_assert_int_eq(ks_key_type(k), f->type);
	ck_assert_ptr_nonnull(comment);
	if (f->openssh) {
		snprintf(want, sizeof(want), "comment %s", f->base);
		ck_assert_str_eq(comment, want);
	} else
		ck_assert_str_eq(comment, "");

	pub = expected_public(f);
	a = ks_key_blob(k, &alen);
	b = ks_key_blob(pub, &blen);
	ck_assert_uint_eq(alen, blen);
	ck_assert_mem_eq(a, b, alen);
	ck_assert(ks_key_equal_public(k, pub));

	/* The private half really is the one: its signature verifies. */
	flags = f->type == KS_KEY_RSA ? KS_SIGN_RSA_SHA2_256 : 0;
	ck_assert_ptr_nonnull(sig = kbuf_new());
	ck_assert_int_eq(ks_key_sign(k, msg, sizeof(msg), flags, sig), 0);
	ck_assert_int_eq(ks_key_verify(pub, kbuf_ptr(sig), kbuf_len(sig), msg,
			     sizeof(msg)),
	    0);
	kbuf_free(sig);
	ks_key_free(pub);
	ks_key_free(k);
	free(comment);
	free(data);
}
END_TEST

START_TEST(wrong_passphrase_is_incorrect)
{
	const struct fixture *f = &fixtures[enc_fixtures[_i]];
	struct ks_key *k = (struct ks_key *)1;
	char *comment = (char *)1;
	uint8_t *data;
	size_t len;

	data = must_read(f->name, &len);
	ck_assert_int_eq(ks_keyfile_parse(data, len, upass("correct horsf"), 13,
			     &k, &comment),
	    KMES_ERR_PASSPHRASE_INCORRECT);
	ck_assert_ptr_null(k);
	ck_assert_ptr_null(comment);
	ck_assert_int_eq(ks_keyfile_parse(data, len, upass(PASS " "),
			     strlen(PASS) + 1, &k, NULL),
	    KMES_ERR_PASSPHRASE_INCORRECT);
	free(data);
}
END_TEST

START_TEST(missing_passphrase_is_required)
{
	const struct fixture *f = &fixtures[enc_fixtures[_i]];
	struct ks_key *k = NULL;
	uint8_t *data;
	size_t len;

	data = must_read(f->name, &len);
	ck_assert_int_eq(ks_keyfile_parse(data, len, NULL, 0, &k, NULL),
	    KMES_ERR_PASSPHRASE_REQUIRED);
	/* An empty passphrase is no passphrase, as for ssh-keygen. */
	ck_assert_int_eq(ks_keyfile_parse(data, len, upass(""), 0, &k, NULL),
	    KMES_ERR_PASSPHRASE_REQUIRED);
	ck_assert_ptr_null(k);
	free(data);
}
END_TEST

START_TEST(unencrypted_file_ignores_passphrase)
{
	const struct fixture *f = &fixtures[plain_fixtures[_i]];
	struct ks_key *k = NULL, *k2 = NULL;
	const uint8_t *a, *b;
	size_t len, alen, blen;
	uint8_t *data;

	data = must_read(f->name, &len);
	ck_assert_int_eq(ks_keyfile_parse(data, len, upass(PASS), strlen(PASS),
			     &k, NULL),
	    0);
	/* The same key as without one. */
	ck_assert_int_eq(ks_keyfile_parse(data, len, NULL, 0, &k2, NULL), 0);
	a = ks_key_blob(k, &alen);
	b = ks_key_blob(k2, &blen);
	ck_assert_uint_eq(alen, blen);
	ck_assert_mem_eq(a, b, alen);
	ks_key_free(k2);
	ks_key_free(k);
	free(data);
}
END_TEST

static void
cut_everywhere(const uint8_t *data, size_t len, const char *pass,
    const char *what)
{
	struct ks_key *k;
	char *comment;
	size_t n;
	int r;

	for (n = 0; n < len; n++) {
		k = NULL;
		comment = NULL;
		r = ks_keyfile_parse(data, n, pass ? upass(pass) : NULL,
		    pass ? strlen(pass) : 0, &k, &comment);
		ck_assert_msg(r < 0, "%s cut at %zu of %zu parsed", what, n,
		    len);
		ck_assert_ptr_null(k);
		ck_assert_ptr_null(comment);
		r = ks_keyfile_encrypted(data, n);
		ck_assert(r == 0 || r == 1 || r < 0);
	}
}

START_TEST(survives_every_truncation)
{
	uint8_t *data;
	size_t len;

	data = must_read(plain_files[_i], &len);
	/* The END line needs its newline, so even len - 1 is refused. */
	cut_everywhere(data, len, NULL, plain_files[_i]);
	free(data);
}
END_TEST

START_TEST(survives_every_truncation_of_binary)
{
	static const struct {
		const char *name, *pass;
	} files[] = {
		{ "ed25519", NULL },
		{ "ecdsa384", NULL },
		{ "rsa2048", NULL },
		{ "ed25519-gcm", PASS },
		{ "ed25519-chacha", PASS },
	};
	struct ks_key *k = NULL;
	uint8_t *text, *bin;
	size_t len, blen;
	const char *pass = files[_i].pass;

	text = must_read(files[_i].name, &len);
	bin = tu_dearmor((char *)text, "OPENSSH PRIVATE KEY", &blen);
	ck_assert_ptr_nonnull(bin);
	/* The decoded form parses as it stands... */
	ck_assert_int_eq(ks_keyfile_encrypted(bin, blen), pass != NULL);
	ck_assert_int_eq(ks_keyfile_parse(bin, blen, pass ? upass(pass) : NULL,
			     pass ? strlen(pass) : 0, &k, NULL),
	    0);
	ks_key_free(k);
	/* ...and no shorter prefix does. */
	cut_everywhere(bin, blen, pass, files[_i].name);
	free(bin);
	free(text);
}
END_TEST

START_TEST(pem_survives_truncation)
{
	static const char *const files[] = {
		"ecdsa256-pem",
		"ecdsa521-pkcs8",
		"rsa2048-pem",
		"ed25519-pkcs8",
	};
	struct ks_key *k;
	uint8_t *data;
	size_t len, n;

	data = must_read(files[_i], &len);
	/* OpenSSL does not insist on the final newline: stop before it. */
	for (n = 0; n + 1 < len; n++) {
		k = NULL;
		ck_assert_msg(ks_keyfile_parse(data, n, NULL, 0, &k, NULL) < 0,
		    "%s cut at %zu parsed", files[_i], n);
		ck_assert_ptr_null(k);
	}
	free(data);
}
END_TEST

/* Reads an unencrypted file's binary form, for tampering. */
static uint8_t *
plain_binary(const char *name, size_t *lenp)
{
	uint8_t *text, *bin;
	size_t len;

	text = must_read(name, &len);
	bin = tu_dearmor((char *)text, "OPENSSH PRIVATE KEY", lenp);
	ck_assert_ptr_nonnull(bin);
	free(text);
	return bin;
}

/* Offset of the public key blob's length in an unencrypted file. */
#define PLAIN_PUB_OFF (15 + 8 + 8 + 4 + 4)

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static int
parse_plain(const uint8_t *bin, size_t len)
{
	struct ks_key *k = NULL;
	int r;

	r = ks_keyfile_parse(bin, len, NULL, 0, &k, NULL);
	ks_key_free(k);
	return r;
}

START_TEST(refuses_tampered_files)
{
	uint8_t *bin, *big;
	size_t len, publen, sec;

	bin = plain_binary("ed25519", &len);
	ck_assert_int_eq(parse_plain(bin, len), 0);
	publen = get32(bin + PLAIN_PUB_OFF);
	sec = PLAIN_PUB_OFF + 4 + publen + 4; /* the private section */

	/* The cleartext public key must be the private key's. */
	bin[PLAIN_PUB_OFF + 4 + publen - 1] ^= 1;
	ck_assert_int_eq(parse_plain(bin, len), KMES_ERR_KEY_MISMATCH);
	bin[PLAIN_PUB_OFF + 4 + publen - 1] ^= 1;

	/* One key per file. */
	bin[PLAIN_PUB_OFF - 1] = 2;
	ck_assert_int_eq(parse_plain(bin, len), KMES_ERR_INVALID_FORMAT);
	bin[PLAIN_PUB_OFF - 1] = 1;

	/* Unequal check words in a clear file mean damage, not a passphrase. */
	bin[sec] ^= 0x80;
	ck_assert_int_eq(parse_plain(bin, len), KMES_ERR_INVALID_FORMAT);
	bin[sec] ^= 0x80;

	/* The magic, with its NUL. */
	bin[14] = 'x';
	ck_assert_int_eq(parse_plain(bin, len), KMES_ERR_INVALID_FORMAT);
	bin[14] = '\0';

	/* Nothing may follow the private section. */
	ck_assert_ptr_nonnull(big = malloc(len + 1));
	memcpy(big, bin, len);
	big[len] = 0;
	ck_assert_int_eq(parse_plain(big, len + 1), KMES_ERR_INVALID_FORMAT);
	free(big);

	/* Unknown cipher and kdf names. */
	memcpy(bin + 15 + 4, "nonf", 4);
	ck_assert_int_eq(parse_plain(bin, len), KMES_ERR_KEY_UNSUPPORTED);
	memcpy(bin + 15 + 4, "none", 4);
	memcpy(bin + 15 + 8 + 4, "nonf", 4);
	ck_assert_int_eq(parse_plain(bin, len), KMES_ERR_KEY_UNSUPPORTED);
	memcpy(bin + 15 + 8 + 4, "none", 4);
	ck_assert_int_eq(parse_plain(bin, len), 0);
	free(bin);
}
END_TEST

START_TEST(refuses_bad_padding)
{
	uint8_t *bin;
	size_t len, i, j, npad, flipped = 0;

	/* Each trailing padding byte (1, 2, 3, ...) matters. */
	for (j = 0; j < NPLAIN; j++) {
		bin = plain_binary(plain_files[j], &len);
		/* Comments end in a digit here, so a byte < 8 is padding. */
		npad = bin[len - 1] < 8 ? bin[len - 1] : 0;
		for (i = len - npad; i < len; i++) {
			ck_assert_uint_eq(bin[i], i - (len - npad) + 1);
			bin[i] ^= 0x40;
			ck_assert_int_eq(parse_plain(bin, len),
			    KMES_ERR_INVALID_FORMAT);
			bin[i] ^= 0x40;
			flipped++;
		}
		ck_assert_int_eq(parse_plain(bin, len), 0);
		free(bin);
	}
	ck_assert_uint_gt(flipped, 0);
}
END_TEST

START_TEST(tampered_ciphertext_reads_as_wrong_passphrase)
{
	static const char *const files[] = { "ed25519-gcm", "ed25519-chacha" };
	struct ks_key *k = NULL;
	uint8_t *text, *bin;
	size_t len, blen;

	text = must_read(files[_i], &len);
	bin = tu_dearmor((char *)text, "OPENSSH PRIVATE KEY", &blen);
	ck_assert_ptr_nonnull(bin);
	/* The last ciphertext byte sits just before the 16-byte tag. */
	bin[blen - 17] ^= 1;
	ck_assert_int_eq(ks_keyfile_parse(bin, blen, upass(PASS), strlen(PASS),
			     &k, NULL),
	    KMES_ERR_PASSPHRASE_INCORRECT);
	ck_assert_ptr_null(k);
	free(bin);
	free(text);
}
END_TEST

START_TEST(refuses_costly_kdf)
{
	struct ks_key *k = NULL;
	uint8_t *text, *bin;
	size_t len, blen, off;

	text = must_read("ed25519-ctr", &len);
	bin = tu_dearmor((char *)text, "OPENSSH PRIVATE KEY", &blen);
	ck_assert_ptr_nonnull(bin);
	/* magic, "aes256-ctr", "bcrypt", kdf options: salt, rounds. */
	off = 15 + 4 + 10 + 4 + 6 + 4;
	ck_assert_uint_eq(get32(bin + off), 16);
	off += 4 + 16;
	ck_assert_uint_eq(get32(bin + off), 4);
	bin[off] = 0x7f;
	ck_assert_int_eq(ks_keyfile_parse(bin, blen, upass(PASS), strlen(PASS),
			     &k, NULL),
	    KMES_ERR_KEY_UNSUPPORTED);
	memset(bin + off, 0, 4);
	ck_assert_int_eq(ks_keyfile_parse(bin, blen, upass(PASS), strlen(PASS),
			     &k, NULL),
	    KMES_ERR_INVALID_FORMAT);
	ck_assert_ptr_null(k);
	free(bin);
	free(text);
}
END_TEST

static void
refuses_unsupported_file(const char *name)
{
	struct ks_key *k = NULL;
	uint8_t *data;
	size_t len;

	data = must_read(name, &len);
	ck_assert_msg(ks_keyfile_parse(data, len, NULL, 0, &k, NULL) ==
		KMES_ERR_KEY_UNSUPPORTED,
	    "%s is not refused as unsupported", name);
	ck_assert_ptr_null(k);
	free(data);
}

START_TEST(refuses_dsa_pem_and_pkcs8)
{
	refuses_unsupported_file("dsa-trad");
	refuses_unsupported_file("dsa-pkcs8");
}
END_TEST

/* Registered only where ssh-keygen still makes DSA keys (main says so). */
START_TEST(refuses_dsa_from_ssh_keygen)
{
	refuses_unsupported_file("dsa");
	refuses_unsupported_file("dsa-pem");
}
END_TEST

START_TEST(refuses_unsupported_cipher)
{
	struct ks_key *k = NULL;
	uint8_t *data;
	size_t len;

	data = must_read("ed25519-3des", &len);
	/* Refused before anyone is asked for a passphrase. */
	ck_assert_int_eq(ks_keyfile_encrypted(data, len),
	    KMES_ERR_KEY_UNSUPPORTED);
	ck_assert_int_eq(ks_keyfile_parse(data, len, NULL, 0, &k, NULL),
	    KMES_ERR_KEY_UNSUPPORTED);
	ck_assert_int_eq(ks_keyfile_parse(data, len, upass(PASS), strlen(PASS),
			     &k, NULL),
	    KMES_ERR_KEY_UNSUPPORTED);
	ck_assert_ptr_null(k);
	free(data);
}
END_TEST

START_TEST(refuses_what_is_not_a_private_key)
{
	static const char *const texts[] = {
		"",
		"hello\n",
		"\n\n\n",
		"-----BEGIN OPENSSH PRIVATE KEY-----\n"
		"-----END OPENSSH PRIVATE KEY-----\n",
		"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn!=\n"
		"-----END OPENSSH PRIVATE KEY-----\n",
		"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbg=a\n"
		"-----END OPENSSH PRIVATE KEY-----\n",
		"-----BEGIN CERTIFICATE-----\nAAAA\n"
		"-----END CERTIFICATE-----\n",
		"openssh-key-v1",
	};
	static const char ssh2[] =
	    "-----BEGIN SSH2 ENCRYPTED PRIVATE KEY-----\n";
	static const char bad_pem[] =
	    "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
	struct ks_key *k = NULL;
	uint8_t *data;
	size_t i, len;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		ck_assert_int_lt(ks_keyfile_parse(upass(texts[i]),
				     strlen(texts[i]), NULL, 0, &k, NULL),
		    0);
		ck_assert_int_lt(ks_keyfile_encrypted(upass(texts[i]),
				     strlen(texts[i])),
		    0);
		ck_assert_ptr_null(k);
	}
	/* PEM is read by OpenSSL; the label alone says it is in clear. */
	ck_assert_int_lt(ks_keyfile_parse(upass(bad_pem), strlen(bad_pem), NULL,
			     0, &k, NULL),
	    0);
	ck_assert_int_eq(ks_keyfile_encrypted(upass(bad_pem), strlen(bad_pem)),
	    0);
	/* A public key file is not a private key. */
	data = must_read("ed25519.pub", &len);
	ck_assert_int_eq(ks_keyfile_parse(data, len, NULL, 0, &k, NULL),
	    KMES_ERR_INVALID_FORMAT);
	free(data);
	ck_assert_int_eq(ks_keyfile_parse(upass(ssh2), strlen(ssh2), NULL, 0,
			     &k, NULL),
	    KMES_ERR_KEY_UNSUPPORTED);
}
END_TEST

START_TEST(accepts_crlf_and_surrounding_blank_lines)
{
	struct ks_key *k = NULL;
	uint8_t *data;
	char *crlf, *p;
	size_t len, i;

	data = must_read("ed25519", &len);
	ck_assert_ptr_nonnull(crlf = malloc(2 * len + 8));
	p = crlf;
	*p++ = '\n';
	for (i = 0; i < len; i++) {
		if (data[i] == '\n')
			*p++ = '\r';
		*p++ = (char)data[i];
	}
	*p++ = '\n';
	ck_assert_int_eq(ks_keyfile_parse(upass(crlf), (size_t)(p - crlf), NULL,
			     0, &k, NULL),
	    0);
	ks_key_free(k);
	free(crlf);
	free(data);
}
END_TEST

START_TEST(refuses_nul_in_text_lines)
{
	static const char *const files[] = { "rsa-bag", "ed25519" };
	struct ks_key *k = NULL;
	uint8_t *data;
	size_t len;

	/* Text is read line by line (kbuf_get_line): a NUL in any line read,
	 * before the key block or in the armour, is a malformed file. */
	data = must_read(files[_i], &len);
	ck_assert_int_eq(ks_keyfile_parse(data, len, NULL, 0, &k, NULL), 0);
	ks_key_free(k);
	k = NULL;
	data[3] = '\0';
	ck_assert_int_eq(ks_keyfile_parse(data, len, NULL, 0, &k, NULL),
	    KMES_ERR_INVALID_FORMAT);
	ck_assert_int_eq(ks_keyfile_encrypted(data, len),
	    KMES_ERR_INVALID_FORMAT);
	ck_assert_ptr_null(k);
	free(data);
}
END_TEST

START_TEST(private_key_lives_in_the_secure_heap)
{
	static const char *const files[] = {
		"ed25519-gcm",
		"ecdsa521-pem-enc",
		"rsa2048-pkcs8-enc",
		"ed25519-pkcs8-enc",
	};
	struct ks_key *k = NULL;
	uint8_t *data;
	size_t len, before;

	data = must_read(files[_i], &len);
	before = ks_crypto_secure_used();
	ck_assert_int_eq(ks_keyfile_parse(data, len, upass(PASS), strlen(PASS),
			     &k, NULL),
	    0);
	ck_assert_uint_gt(ks_crypto_secure_used(), before);
	ks_key_free(k);
	/* Nothing the import made stays behind in the heap. */
	ck_assert_uint_eq(ks_crypto_secure_used(), before);
	free(data);
}
END_TEST

static Suite *
keyfile_suite(void)
{
	Suite *s = suite_create("keyfile");
	TCase *tc;

	tc = tcase_create("fixtures");
	tcase_set_timeout(tc, 240);
	tcase_add_loop_test(tc, parses_every_fixture_to_the_right_key, 0,
	    (int)NFIXTURES);
	tcase_add_loop_test(tc, wrong_passphrase_is_incorrect, 0, (int)nenc);
	tcase_add_loop_test(tc, missing_passphrase_is_required, 0, (int)nenc);
	tcase_add_loop_test(tc, unencrypted_file_ignores_passphrase, 0,
	    (int)nplain);
	tcase_add_loop_test(tc, private_key_lives_in_the_secure_heap, 0, 4);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_set_timeout(tc, 240);
	tcase_add_loop_test(tc, survives_every_truncation, 0, (int)NPLAIN);
	tcase_add_loop_test(tc, survives_every_truncation_of_binary, 0, 5);
	tcase_add_loop_test(tc, pem_survives_truncation, 0, 4);
	tcase_add_test(tc, refuses_tampered_files);
	tcase_add_test(tc, refuses_bad_padding);
	tcase_add_loop_test(tc, tampered_ciphertext_reads_as_wrong_passphrase,
	    0, 2);
	tcase_add_test(tc, refuses_costly_kdf);
	tcase_add_test(tc, refuses_dsa_pem_and_pkcs8);
	if (have_dsa)
		tcase_add_test(tc, refuses_dsa_from_ssh_keygen);
	else
		fprintf(stderr,
		    "this ssh-keygen makes no DSA keys: "
		    "refuses_dsa_from_ssh_keygen not run\n");
	tcase_add_test(tc, refuses_unsupported_cipher);
	tcase_add_test(tc, refuses_what_is_not_a_private_key);
	tcase_add_test(tc, accepts_crlf_and_surrounding_blank_lines);
	tcase_add_loop_test(tc, refuses_nul_in_text_lines, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	int status;

	if (tu_setup("keyfile") != 0 || tu_crypto_init() != 0 ||
	    make_fixtures() != 0) {
		fprintf(stderr, "cannot make fixtures (ssh-keygen, openssl)\n");
		tu_teardown();
		return EXIT_FAILURE;
	}
	split_fixtures();
	status = run_suite(keyfile_suite());
	tu_teardown();
	return status;
}
