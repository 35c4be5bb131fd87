/*
 * test-util.c: keys and private blobs for the keystore tests, cut from
 * ssh-keygen's files. Parsing here deliberately avoids the code under test.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "kbuf.h"
#include "test-util.h"

struct ks_key *
tu_load_pub(const char *name)
{
	struct ks_key *k = NULL;
	char *text;

	if ((text = tu_read(name, NULL)) == NULL)
		return NULL;
	if (ks_key_from_openssh_line(text, &k) != 0)
		k = NULL;
	free(text);
	return k;
}

/* How many length-prefixed fields follow the type name. */
static int
private_fields(const uint8_t *name, size_t len)
{
	if (len == 11 && memcmp(name, "ssh-ed25519", 11) == 0)
		return 2;
	if (len == 7 && memcmp(name, "ssh-rsa", 7) == 0)
		return 6;
	if (len > 10 && memcmp(name, "ecdsa-sha2", 10) == 0)
		return 3;
	return -1;
}

struct kbuf *
tu_private_blob(const char *name)
{
	static const char magic[] = "openssh-key-v1";
	struct kbuf *file = NULL, *sec = NULL, *out = NULL, *ret = NULL;
	const uint8_t *start, *tname;
	uint8_t *bin = NULL;
	size_t tlen, before, binlen;
	uint32_t check1, check2;
	char *text;
	int i, n;

	if ((text = tu_read(name, NULL)) == NULL)
		return NULL;
	/* A view: bin outlives file. */
	if ((bin = tu_dearmor(text, "OPENSSH PRIVATE KEY", &binlen)) != NULL)
		file = kbuf_from(bin, binlen);
	free(text);
	if (file == NULL || kbuf_len(file) < sizeof(magic) ||
	    memcmp(kbuf_ptr(file), magic, sizeof(magic)) != 0 ||
	    kbuf_consume(file, sizeof(magic)) != 0)
		goto out;
	/* cipher "none", kdf "none", kdf options, one key, public blob. */
	if (kbuf_get_string_direct(file, NULL, NULL) != 0 ||
	    kbuf_get_string_direct(file, NULL, NULL) != 0 ||
	    kbuf_get_string_direct(file, NULL, NULL) != 0 ||
	    kbuf_get_u32(file, NULL) != 0 ||
	    kbuf_get_string_direct(file, NULL, NULL) != 0 ||
	    kbuf_froms(file, &sec) != 0 || kbuf_get_u32(sec, &check1) != 0 ||
	    kbuf_get_u32(sec, &check2) != 0 || check1 != check2)
		goto out;
	start = kbuf_ptr(sec);
	before = kbuf_len(sec);
	if (kbuf_get_string_direct(sec, &tname, &tlen) != 0 ||
	    (n = private_fields(tname, tlen)) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (kbuf_get_string_direct(sec, NULL, NULL) != 0)
			goto out;
	}
	if ((out = kbuf_new()) == NULL ||
	    kbuf_put(out, start, before - kbuf_len(sec)) != 0)
		goto out;
	ret = out;
	out = NULL;
out:
	kbuf_free(out);
	kbuf_free(sec);
	kbuf_free(file);
	free(bin);
	return ret;
}

static int
copy_string(struct kbuf *from, struct kbuf *to)
{
	const uint8_t *p;
	size_t len;

	if (kbuf_get_string_direct(from, &p, &len) != 0)
		return -1;
	return kbuf_put_string(to, p, len) == 0 ? 0 : -1;
}

struct kbuf *
tu_cert_private(const struct ks_key *cert, const struct kbuf *plain_priv)
{
	struct kbuf *in, *out = NULL, *ret = NULL;
	const uint8_t *blob;
	size_t len;
	int i, skip = 0, copy = 0;

	if ((in = kbuf_from(kbuf_ptr(plain_priv), kbuf_len(plain_priv))) ==
	    NULL)
		return NULL;
	switch (ks_key_type(cert)) {
	case KS_KEY_ED25519:
		copy = 2; /* pk, sk */
		break;
	case KS_KEY_RSA:
		skip = 2; /* n, e */
		copy = 4; /* d, iqmp, p, q */
		break;
	default:
		skip = 2; /* curve, Q */
		copy = 1; /* d */
		break;
	}
	blob = ks_key_blob(cert, &len);
	if ((out = kbuf_new()) == NULL ||
	    kbuf_put_cstring(out, ks_key_type_name(cert)) != 0 ||
	    kbuf_put_string(out, blob, len) != 0 ||
	    kbuf_get_string_direct(in, NULL, NULL) != 0)
		goto out;
	for (i = 0; i < skip; i++) {
		if (kbuf_get_string_direct(in, NULL, NULL) != 0)
			goto out;
	}
	for (i = 0; i < copy; i++) {
		if (copy_string(in, out) != 0)
			goto out;
	}
	ret = out;
	out = NULL;
out:
	kbuf_free(in);
	kbuf_free(out);
	return ret;
}
