/*
 * keyfile.c: private key files for import. The openssh-key-v1 format
 * (OpenSSH's PROTOCOL.key) is parsed here, every byte through kbuf; what
 * needs OpenSSL (bcrypt_pbkdf, the ciphers, PEM and PKCS#8) is behind the
 * crypto.h calls of crypto-bcrypt.c.
 *
 * Both formats end in ks_key_parse_private: the private section of an
 * openssh-key-v1 file holds the key in the SSH_AGENTC_ADD_IDENTITY layout,
 * and PEM keys are rewritten into it, so one parser builds and checks every
 * key and puts it in the secure heap. Decoded, decrypted and rewritten key
 * bytes only ever sit in kbuf_new_secure buffers.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto-int.h"
#include "kbuf.h"
#include "keyfile.h"
#include "kmes-err.h"
#include "secmem.h"

/* A 16384-bit RSA key file is about 13 KiB; refuse anything absurd. */
#define KEYFILE_MAX (1024 * 1024)
/* Room for the agent form of the largest key PEM can give us. */
#define PEM_WIRE_MAX (64 * 1024)

#define MARK_BEGIN "-----BEGIN OPENSSH PRIVATE KEY-----"
#define MARK_END "-----END OPENSSH PRIVATE KEY-----"
#define PEM_PREFIX "-----BEGIN "
#define PEM_SUFFIX "-----"
#define PEM_PROC_ENCRYPTED "Proc-Type: 4,ENCRYPTED"

/* The binary format's magic, NUL included. */
static const char auth_magic[] = "openssh-key-v1";

enum kf_format {
	KF_OPENSSH,	   /* armoured openssh-key-v1 */
	KF_OPENSSH_BINARY, /* the same, already base64-decoded */
	KF_PEM,
};

/* The cleartext part of an openssh-key-v1 file, as views into it. */
struct kf_header {
	const struct ks_kf_cipher *cipher;
	int encrypted;
	const uint8_t *salt;
	size_t saltlen;
	uint32_t rounds;
	const uint8_t *pub;
	size_t publen;
	const uint8_t *enc;
	size_t enclen;
	const uint8_t *tag;
};

/* Text. */

/*
 * Takes the next line off b (see kbuf_get_line: no "\n", no "\r" before
 * it, no NUL); *nlp says whether it ended in "\n". The whole file is in b,
 * so running out of lines is a malformed file, not a message to wait for.
 */
static int
get_line(struct kbuf *b, const char **linep, size_t *lenp, int *nlp)
{
	int r;

	*nlp = 0;
	if ((r = kbuf_get_line(b, KEYFILE_MAX, 0, linep, lenp)) == 0) {
		*nlp = 1;
		return 0;
	}
	if (r == KMES_ERR_MESSAGE_INCOMPLETE)
		r = kbuf_get_line(b, KEYFILE_MAX, KBUF_LINE_LAST, linep, lenp);
	return r == KMES_ERR_MESSAGE_INCOMPLETE ? KMES_ERR_INVALID_FORMAT : r;
}

static int
line_is(const char *line, size_t len, const char *s)
{
	return len == strlen(s) && memcmp(line, s, len) == 0;
}

static int
is_blank(const char *line, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (line[i] != ' ' && line[i] != '\t')
			return 0;
	}
	return 1;
}

/* Takes lines off b up to and including the first one that is not blank. */
static int
first_line(struct kbuf *b, const char **linep, size_t *lenp)
{
	int nl, r;

	do {
		if ((r = get_line(b, linep, lenp, &nl)) != 0)
			return r;
	} while (is_blank(*linep, *lenp));
	return 0;
}

/*
 * Decodes the armour of text (whose BEGIN line must be next but for blank
 * lines) into a new secure buffer. As OpenSSH, the END line must end in a
 * newline; only blank lines may follow it.
 */
static int
dearmour(struct kbuf *text, struct kbuf **outp)
{
	struct kbuf *out = NULL;
	struct ks_b64 st;
	const char *line;
	size_t len, i;
	int nl, r;

	*outp = NULL;
	memset(&st, 0, sizeof(st));
	if ((r = first_line(text, &line, &len)) != 0)
		goto out;
	if (!line_is(line, len, MARK_BEGIN)) {
		r = KMES_ERR_INVALID_FORMAT;
		goto out;
	}
	/* Decoded bytes are private key material in an unencrypted file. */
	if ((out = kbuf_new_secure(kbuf_len(text) / 4 * 3 + 3)) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	for (;;) {
		if ((r = get_line(text, &line, &len, &nl)) != 0)
			goto out;
		if (line_is(line, len, MARK_END))
			break;
		for (i = 0; i < len; i++) {
			/* Armour lines may carry spaces and CRs. */
			if (line[i] == ' ' || line[i] == '\t' ||
			    line[i] == '\r')
				continue;
			if ((r = ks_b64_feed(&st, line[i], out)) != 0)
				goto out;
		}
	}
	if (!nl) {
		r = KMES_ERR_INVALID_FORMAT;
		goto out;
	}
	if ((r = ks_b64_end(&st, 1, out)) != 0)
		goto out;
	while (kbuf_len(text) > 0) {
		if ((r = get_line(text, &line, &len, &nl)) != 0)
			goto out;
		if (!is_blank(line, len)) {
			r = KMES_ERR_INVALID_FORMAT;
			goto out;
		}
	}
	*outp = out;
	out = NULL;
	r = 0;
out:
	kmes_wipe(&st, sizeof(st));
	kbuf_free(out);
	return r;
}

/* If line is "-----BEGIN label-----", points *labelp at the label. */
static int
pem_begin(const char *line, size_t len, const char **labelp, size_t *lenp)
{
	size_t pl = strlen(PEM_PREFIX), sl = strlen(PEM_SUFFIX);

	if (len < pl + sl || memcmp(line, PEM_PREFIX, pl) != 0 ||
	    memcmp(line + len - sl, PEM_SUFFIX, sl) != 0)
		return 0;
	*labelp = line + pl;
	*lenp = len - pl - sl;
	return 1;
}

static int
ends_with(const char *s, size_t len, const char *tail)
{
	size_t tl = strlen(tail);

	return len >= tl && memcmp(s + len - tl, tail, tl) == 0;
}

/*
 * Finds what kind of file data is. PEM text may follow other blocks and
 * text (EC PARAMETERS from openssl ecparam, Bag Attributes from openssl
 * pkcs12), as OpenSSL skips them; the first private key block decides.
 * For PEM, *encp says whether it is encrypted: a PKCS#8 "ENCRYPTED PRIVATE
 * KEY", or a traditional key with a Proc-Type header.
 */
static int
detect(const uint8_t *data, size_t len, enum kf_format *fmtp, int *encp)
{
	static const char *const pem_labels[] = {
		"RSA PRIVATE KEY",
		"EC PRIVATE KEY",
		"PRIVATE KEY",
	};
	struct kbuf *text = NULL;
	const char *line, *label = NULL;
	size_t linelen, labellen = 0, i;
	int nl, r;

	*fmtp = KF_OPENSSH;
	*encp = 0;
	if ((text = kbuf_from(data, len)) == NULL)
		return KMES_ERR_ALLOC;
	if (kbuf_len(text) >= sizeof(auth_magic) &&
	    memcmp(kbuf_ptr(text), auth_magic, sizeof(auth_magic)) == 0) {
		*fmtp = KF_OPENSSH_BINARY;
		r = 0;
		goto out;
	}
	for (;;) {
		/* Running out of lines means there is no private key. */
		if ((r = get_line(text, &line, &linelen, &nl)) != 0)
			goto out;
		if (line_is(line, linelen, MARK_BEGIN)) {
			r = 0;
			goto out;
		}
		if (pem_begin(line, linelen, &label, &labellen) &&
		    ends_with(label, labellen, "PRIVATE KEY"))
			break;
	}
	*fmtp = KF_PEM;
	if (line_is(label, labellen, "ENCRYPTED PRIVATE KEY")) {
		*encp = 1;
		r = 0;
		goto out;
	}
	for (i = 0; i < sizeof(pem_labels) / sizeof(pem_labels[0]); i++) {
		if (line_is(label, labellen, pem_labels[i]))
			break;
	}
	if (i == sizeof(pem_labels) / sizeof(pem_labels[0])) {
		/* DSA, ssh.com, PuTTY...: private keys we do not take. */
		r = KMES_ERR_KEY_UNSUPPORTED;
		goto out;
	}
	if (kbuf_len(text) > 0 &&
	    (r = get_line(text, &line, &linelen, &nl)) == 0 &&
	    line_is(line, linelen, PEM_PROC_ENCRYPTED))
		*encp = 1;
	r = 0;
out:
	kbuf_free(text);
	return r;
}

/* openssh-key-v1. */

/*
 * Parses the cleartext header of file (the whole decoded file). It reads a
 * view, because consuming from an owned buffer wipes, and h points into it.
 */
static int
parse_header(const struct kbuf *file, struct kf_header *h)
{
	struct kbuf *d = NULL, *kdf = NULL;
	char *ciphername = NULL, *kdfname = NULL;
	uint32_t nkeys;
	size_t taglen;
	int r;

	memset(h, 0, sizeof(*h));
	if ((d = kbuf_from(kbuf_ptr(file), kbuf_len(file))) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	if (kbuf_len(d) < sizeof(auth_magic) ||
	    memcmp(kbuf_ptr(d), auth_magic, sizeof(auth_magic)) != 0) {
		r = KMES_ERR_INVALID_FORMAT;
		goto out;
	}
	if ((r = kbuf_consume(d, sizeof(auth_magic))) != 0 ||
	    (r = kbuf_get_cstring(d, &ciphername, NULL)) != 0 ||
	    (r = kbuf_get_cstring(d, &kdfname, NULL)) != 0 ||
	    (r = kbuf_froms(d, &kdf)) != 0 ||
	    (r = kbuf_get_u32(d, &nkeys)) != 0 ||
	    (r = kbuf_get_string_direct(d, &h->pub, &h->publen)) != 0 ||
	    (r = kbuf_get_string_direct(d, &h->enc, &h->enclen)) != 0)
		goto out;
	/* OpenSSH writes, and reads, exactly one key per file. */
	if (nkeys != 1) {
		r = KMES_ERR_INVALID_FORMAT;
		goto out;
	}
	if ((h->cipher = ks_kf_cipher_lookup(ciphername)) == NULL) {
		r = KMES_ERR_KEY_UNSUPPORTED; /* e.g. 3des-cbc */
		goto out;
	}
	h->encrypted = strcmp(ciphername, "none") != 0;
	if (strcmp(kdfname, "none") == 0) {
		if (h->encrypted || kbuf_len(kdf) != 0) {
			r = KMES_ERR_INVALID_FORMAT;
			goto out;
		}
	} else if (strcmp(kdfname, "bcrypt") == 0) {
		if (!h->encrypted) {
			r = KMES_ERR_INVALID_FORMAT;
			goto out;
		}
		if ((r = kbuf_get_string_direct(kdf, &h->salt, &h->saltlen)) !=
			0 ||
		    (r = kbuf_get_u32(kdf, &h->rounds)) != 0)
			goto out;
		if (kbuf_len(kdf) != 0 || h->saltlen == 0 || h->rounds == 0) {
			r = KMES_ERR_INVALID_FORMAT;
			goto out;
		}
		/* A hostile file could ask for hours of KDF work. */
		if (h->saltlen > KS_BCRYPT_SALT_MAX ||
		    h->rounds > KS_BCRYPT_ROUNDS_MAX) {
			r = KMES_ERR_KEY_UNSUPPORTED;
			goto out;
		}
	} else {
		r = KMES_ERR_KEY_UNSUPPORTED;
		goto out;
	}
	if (h->enclen < h->cipher->block_size ||
	    h->enclen % h->cipher->block_size != 0) {
		r = KMES_ERR_INVALID_FORMAT;
		goto out;
	}
	/* An AEAD tag follows the encrypted section; nothing else may. */
	taglen = h->cipher->tag_len;
	if (kbuf_len(d) != taglen) {
		r = KMES_ERR_INVALID_FORMAT;
		goto out;
	}
	h->tag = taglen != 0 ? kbuf_ptr(d) : NULL;
	if ((r = kbuf_consume(d, taglen)) != 0)
		goto out;
	r = 0;
out:
	if (r != 0)
		memset(h, 0, sizeof(*h));
	kbuf_free(kdf);
	kbuf_free(d);
	free(ciphername);
	free(kdfname);
	return r;
}

/* Decrypts the private section into a new secure buffer. */
static int
decrypt_section(const struct kf_header *h, const uint8_t *pass, size_t passlen,
    struct kbuf **plainp)
{
	const struct ks_kf_cipher *c = h->cipher;
	struct kbuf *plain = NULL;
	uint8_t *keyiv = NULL, *p;
	size_t klen = c->key_len + c->iv_len;
	int r;

	*plainp = NULL;
	if (h->encrypted && pass == NULL)
		return KMES_ERR_PASSPHRASE_REQUIRED;
	if ((plain = kbuf_new_secure(h->enclen)) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	if ((r = kbuf_reserve(plain, h->enclen, &p)) != 0)
		goto out;
	if (h->encrypted) {
		if ((keyiv = kmes_secure_alloc(klen)) == NULL) {
			r = KMES_ERR_ALLOC;
			goto out;
		}
		if ((r = ks_bcrypt_pbkdf(pass, passlen, h->salt, h->saltlen,
			 h->rounds, keyiv, klen)) != 0)
			goto out;
	}
	if ((r = ks_kf_decrypt(c, keyiv, h->enc, h->enclen, h->tag, p)) != 0)
		goto out;
	*plainp = plain;
	plain = NULL;
	r = 0;
out:
	kmes_secure_free(keyiv);
	kbuf_free(plain);
	return r;
}

/*
 * Parses the decrypted section: check integers, the key, its comment and
 * the padding 1, 2, 3, ... up to the cipher's block size.
 */
static int
parse_section(struct kbuf *p, const struct kf_header *h, struct ks_key **keyp,
    char **commentp)
{
	struct ks_key *k = NULL;
	const uint8_t *blob;
	char *comment = NULL;
	uint32_t check1, check2;
	size_t bloblen, i;
	uint8_t c;
	int r;

	*keyp = NULL;
	*commentp = NULL;
	if ((r = kbuf_get_u32(p, &check1)) != 0 ||
	    (r = kbuf_get_u32(p, &check2)) != 0)
		goto out;
	/* Random equal words: a wrong key makes them differ. */
	if (check1 != check2) {
		r = h->encrypted ? KMES_ERR_PASSPHRASE_INCORRECT :
				   KMES_ERR_INVALID_FORMAT;
		goto out;
	}
	if ((r = ks_key_parse_private(p, &k)) != 0)
		goto out;
	if (ks_key_is_cert(k)) {
		r = KMES_ERR_INVALID_FORMAT;
		goto out;
	}
	/* The cleartext public key is what a user sees; it must be this one. */
	blob = ks_key_blob(k, &bloblen);
	if (bloblen != h->publen || memcmp(blob, h->pub, bloblen) != 0) {
		r = KMES_ERR_KEY_MISMATCH;
		goto out;
	}
	if ((r = kbuf_get_cstring(p, &comment, NULL)) != 0)
		goto out;
	for (i = 1; kbuf_len(p) > 0; i++) {
		if ((r = kbuf_get_u8(p, &c)) != 0)
			goto out;
		if (c != (uint8_t)i || i >= h->cipher->block_size) {
			r = KMES_ERR_INVALID_FORMAT;
			goto out;
		}
	}
	*keyp = k;
	k = NULL;
	*commentp = comment;
	comment = NULL;
	r = 0;
out:
	ks_key_free(k);
	free(comment);
	return r;
}

/* Parses a decoded openssh-key-v1 file. */
static int
parse_openssh(const struct kbuf *d, const uint8_t *pass, size_t passlen,
    struct ks_key **keyp, char **commentp)
{
	struct kf_header h;
	struct kbuf *plain = NULL;
	int r;

	*keyp = NULL;
	*commentp = NULL;
	if ((r = parse_header(d, &h)) != 0 ||
	    (r = decrypt_section(&h, pass, passlen, &plain)) != 0 ||
	    (r = parse_section(plain, &h, keyp, commentp)) != 0)
		goto out;
	r = 0;
out:
	kbuf_free(plain);
	return r;
}

/* Returns the decoded openssh-key-v1 file: a view, or a secure copy. */
static int
openssh_bytes(const uint8_t *data, size_t len, enum kf_format fmt,
    struct kbuf **dp)
{
	struct kbuf *text = NULL;
	int r;

	*dp = NULL;
	if (fmt == KF_OPENSSH_BINARY) {
		if ((*dp = kbuf_from(data, len)) == NULL)
			return KMES_ERR_ALLOC;
		return 0;
	}
	if ((text = kbuf_from(data, len)) == NULL)
		return KMES_ERR_ALLOC;
	r = dearmour(text, dp);
	kbuf_free(text);
	return r;
}

/* PEM. */

static int
parse_pem(const uint8_t *data, size_t len, int encrypted, const uint8_t *pass,
    size_t passlen, struct ks_key **keyp, char **commentp)
{
	struct kbuf *wire = NULL;
	struct ks_key *k = NULL;
	char *comment = NULL;
	int r;

	*keyp = NULL;
	*commentp = NULL;
	if (encrypted && pass == NULL)
		return KMES_ERR_PASSPHRASE_REQUIRED;
	if ((wire = kbuf_new_secure(PEM_WIRE_MAX)) == NULL ||
	    (comment = strdup("")) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	if ((r = ks_pem_private_to_wire(data, len, pass, passlen, wire)) != 0 ||
	    (r = ks_key_parse_private(wire, &k)) != 0)
		goto out;
	if (kbuf_len(wire) != 0) {
		r = KMES_ERR_INTERNAL;
		goto out;
	}
	*keyp = k;
	k = NULL;
	*commentp = comment;
	comment = NULL;
	r = 0;
out:
	ks_key_free(k);
	free(comment);
	kbuf_free(wire);
	return r;
}

/* Public. */

int
ks_keyfile_encrypted(const uint8_t *data, size_t len)
{
	struct kf_header h;
	struct kbuf *d = NULL;
	enum kf_format fmt;
	int enc, r;

	if (data == NULL || len == 0 || len > KEYFILE_MAX)
		return KMES_ERR_INVALID_FORMAT;
	if ((r = detect(data, len, &fmt, &enc)) != 0)
		return r;
	if (fmt == KF_PEM)
		return enc;
	if ((r = openssh_bytes(data, len, fmt, &d)) != 0 ||
	    (r = parse_header(d, &h)) != 0)
		goto out;
	r = h.encrypted;
out:
	kbuf_free(d);
	return r == KMES_ERR_MESSAGE_INCOMPLETE ? KMES_ERR_INVALID_FORMAT : r;
}

int
ks_keyfile_parse(const uint8_t *data, size_t len, const uint8_t *passphrase,
    size_t passlen, struct ks_key **keyp, char **commentp)
{
	struct kbuf *d = NULL;
	struct ks_key *k = NULL;
	char *comment = NULL;
	enum kf_format fmt;
	int enc, r;

	*keyp = NULL;
	if (commentp != NULL)
		*commentp = NULL;
	if (data == NULL || len == 0 || len > KEYFILE_MAX)
		return KMES_ERR_INVALID_FORMAT;
	/* As for ssh-keygen, an empty passphrase is no passphrase. */
	if (passlen == 0)
		passphrase = NULL;
	if ((r = detect(data, len, &fmt, &enc)) != 0)
		goto out;
	if (fmt == KF_PEM)
		r = parse_pem(data, len, enc, passphrase, passlen, &k,
		    &comment);
	else if ((r = openssh_bytes(data, len, fmt, &d)) == 0)
		r = parse_openssh(d, passphrase, passlen, &k, &comment);
	if (r != 0)
		goto out;
	*keyp = k;
	k = NULL;
	if (commentp != NULL) {
		*commentp = comment;
		comment = NULL;
	}
	r = 0;
out:
	ks_key_free(k);
	free(comment);
	kbuf_free(d);
	/* A short file is broken, not a message still arriving. */
	return r == KMES_ERR_MESSAGE_INCOMPLETE ? KMES_ERR_INVALID_FORMAT : r;
}
