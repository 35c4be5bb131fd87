/*
 * keyblob-sign.c: what is done with an SSH key once parsed: signatures as
 * SSH signature blobs (made and checked), fingerprints, and the one-line
 * OpenSSH public key form (written and read).
 */
#include <stdlib.h>
#include <string.h>

#include "crypto-int.h"
#include "kbuf.h"
#include "keyblob-int.h"
#include "kmes-err.h"

/* Signatures. */

int
ks_key_sign(const struct ks_key *k, const uint8_t *data, size_t dlen,
    uint32_t flags, struct kbuf *sig)
{
	static const uint8_t empty;
	size_t before = kbuf_len(sig);
	const char *alg = k->kt->sigalg;
	enum ks_hash hash;
	int r;

	if (!ks_pkey_has_private(k->pk) || dlen > KS_SIGN_DATA_MAX)
		return KMES_ERR_INVALID_ARGUMENT;
	if (data == NULL && dlen == 0)
		data = &empty;
	switch (k->kt->type) {
	case KS_KEY_ED25519:
		hash = KS_HASH_NONE;
		break;
	case KS_KEY_RSA:
		/* SHA-256 wins when both are asked for, as in ssh-agent. */
		if (flags & KS_SIGN_RSA_SHA2_256) {
			alg = "rsa-sha2-256";
			hash = KS_HASH_SHA256;
		} else if (flags & KS_SIGN_RSA_SHA2_512) {
			alg = "rsa-sha2-512";
			hash = KS_HASH_SHA512;
		} else
			hash = KS_HASH_SHA1;
		break;
	default:
		hash = ks_ecdsa_hash(k->kt->type);
		break;
	}
	if ((r = kbuf_put_cstring(sig, alg)) != 0 ||
	    (r = ks_pkey_sign(k->pk, hash, data, dlen, sig)) != 0) {
		/* Leave no half-written signature behind. */
		if (kbuf_len(sig) > before &&
		    kbuf_consume_end(sig, kbuf_len(sig) - before) != 0)
			abort();
		return r;
	}
	return 0;
}

int
ks_key_verify(const struct ks_key *k, const uint8_t *sig, size_t slen,
    const uint8_t *data, size_t dlen)
{
	static const uint8_t empty;
	int sha1;

	if (data == NULL && dlen == 0)
		data = &empty;
	return ks_key_verify_sig(k, sig, slen, data, dlen, &sha1);
}

/* Text forms. */

int
ks_key_fingerprint(const struct ks_key *k, enum ks_fp_hash alg, char *out,
    size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t dg[KS_HASH_MAX_LEN];
	size_t dlen, i, o;
	int r;

	if (outlen > 0)
		out[0] = '\0';
	switch (alg) {
	case KS_FP_SHA256:
		if ((r = ks_digest(KS_HASH_SHA256, k->plain, k->plain_len, dg,
			 sizeof(dg), &dlen)) != 0)
			return r;
		if (outlen < 7 + 1)
			return KMES_ERR_NO_BUFFER_SPACE;
		memcpy(out, "SHA256:", 7);
		if ((r = ks_b64_encode(dg, dlen, 0, out + 7, outlen - 7)) !=
		    0) {
			out[0] = '\0';
			return r;
		}
		return 0;
	case KS_FP_MD5:
		if ((r = ks_digest(KS_HASH_MD5, k->plain, k->plain_len, dg,
			 sizeof(dg), &dlen)) != 0)
			return r;
		if (outlen < 4 + dlen * 3)
			return KMES_ERR_NO_BUFFER_SPACE;
		memcpy(out, "MD5:", 4);
		for (i = 0, o = 4; i < dlen; i++) {
			if (i > 0)
				out[o++] = ':';
			out[o++] = hex[dg[i] >> 4];
			out[o++] = hex[dg[i] & 0xf];
		}
		out[o] = '\0';
		return 0;
	}
	return KMES_ERR_INVALID_ARGUMENT;
}

int
ks_key_to_openssh_line(const struct ks_key *k, const char *comment,
    char **linep)
{
	size_t nlen = strlen(k->kt->name), b64len, clen, total, o;
	char *line;
	int r;

	*linep = NULL;
	clen = comment == NULL ? 0 : strlen(comment);
	b64len = (k->blob_len + 2) / 3 * 4;
	total = nlen + 1 + b64len + (comment == NULL ? 0 : 1 + clen) + 1;
	if ((line = malloc(total)) == NULL)
		return KMES_ERR_ALLOC;
	memcpy(line, k->kt->name, nlen);
	line[nlen] = ' ';
	o = nlen + 1;
	if ((r = ks_b64_encode(k->blob, k->blob_len, 1, line + o, total - o)) !=
	    0) {
		free(line);
		return r;
	}
	o += b64len;
	if (comment != NULL) {
		line[o++] = ' ';
		memcpy(line + o, comment, clen);
		o += clen;
	}
	line[o] = '\0';
	*linep = line;
	return 0;
}

int
ks_key_from_openssh_line(const char *line, struct ks_key **keyp)
{
	struct ks_key *k = NULL;
	struct kbuf *raw = NULL;
	size_t tlen, blen;
	const char *type, *b64;
	int r;

	*keyp = NULL;
	type = line + strspn(line, " \t");
	tlen = strcspn(type, " \t\r\n");
	b64 = type + tlen + strspn(type + tlen, " \t");
	blen = strcspn(b64, " \t\r\n");
	if (tlen == 0 || blen == 0)
		return KMES_ERR_INVALID_FORMAT;
	if ((raw = kbuf_new()) == NULL)
		return KMES_ERR_ALLOC;
	if ((r = ks_b64_decode(b64, blen, raw)) != 0 ||
	    (r = ks_key_from_blob(kbuf_ptr(raw), kbuf_len(raw), &k)) != 0)
		goto out;
	/* The type word must name the type inside the blob. */
	if (!ks_name_is((const uint8_t *)type, tlen, k->kt->name)) {
		r = KMES_ERR_INVALID_FORMAT;
		goto out;
	}
	*keyp = k;
	k = NULL;
	r = 0;
out:
	ks_key_free(k);
	kbuf_free(raw);
	return r;
}
