/*
 * base64.c: the one strict base64 codec of keystore/, for public key lines
 * (keyblob.c) and the armour of private key files (keyfile.c). Strict so
 * that a key has one text form: the alphabet only, '=' only to complete
 * the last quantum, and the bits a short quantum drops must be zero.
 */
#include <stdint.h>

#include "crypto-int.h"
#include "kbuf.h"
#include "kmes-err.h"

int
ks_b64_encode(const uint8_t *p, size_t len, int pad, char *out, size_t outlen)
{
	static const char tbl[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0, rem = len % 3, need;
	uint32_t v;

	if (outlen > 0)
		out[0] = '\0';
	if (len > KBUF_SIZE_MAX)
		return KMES_ERR_NO_BUFFER_SPACE;
	need = len / 3 * 4 + (rem == 0 ? 0 : pad ? 4 : rem + 1) + 1;
	if (outlen < need)
		return KMES_ERR_NO_BUFFER_SPACE;
	for (i = 0; i + 3 <= len; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = tbl[v >> 18];
		out[o++] = tbl[(v >> 12) & 0x3f];
		out[o++] = tbl[(v >> 6) & 0x3f];
		out[o++] = tbl[v & 0x3f];
	}
	if (rem != 0) {
		v = (uint32_t)p[i] << 16;
		if (rem == 2)
			v |= (uint32_t)p[i + 1] << 8;
		out[o++] = tbl[v >> 18];
		out[o++] = tbl[(v >> 12) & 0x3f];
		if (rem == 2)
			out[o++] = tbl[(v >> 6) & 0x3f];
		else if (pad)
			out[o++] = '=';
		if (pad)
			out[o++] = '=';
	}
	out[o] = '\0';
	return 0;
}

static int
b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
ks_b64_feed(struct ks_b64 *st, char c, struct kbuf *out)
{
	int v, r;

	if (c == '=') {
		if (st->n < 2)
			return KMES_ERR_INVALID_FORMAT;
		st->pad++;
		v = 0;
	} else if (st->pad != 0 || (v = b64_value(c)) < 0)
		return KMES_ERR_INVALID_FORMAT;
	st->acc = st->acc << 6 | (uint32_t)v;
	if (++st->n < 4)
		return 0;
	if ((st->pad == 1 && (st->acc & 0xff) != 0) ||
	    (st->pad == 2 && (st->acc & 0xffff) != 0))
		return KMES_ERR_INVALID_FORMAT;
	if ((r = kbuf_put_u8(out, (uint8_t)(st->acc >> 16))) != 0)
		return r;
	if (st->pad < 2 && (r = kbuf_put_u8(out, (uint8_t)(st->acc >> 8))) != 0)
		return r;
	if (st->pad < 1 && (r = kbuf_put_u8(out, (uint8_t)st->acc)) != 0)
		return r;
	st->acc = 0;
	st->n = 0;
	return 0;
}

int
ks_b64_end(struct ks_b64 *st, int padded, struct kbuf *out)
{
	int r;

	if (st->n == 0)
		return 0;
	/* Half a padding ("xx=") is never a text, padded or not. */
	if (padded || st->pad != 0)
		return KMES_ERR_INVALID_FORMAT;
	switch (st->n) {
	case 2:
		if ((st->acc & 0xf) != 0)
			return KMES_ERR_INVALID_FORMAT;
		return kbuf_put_u8(out, (uint8_t)(st->acc >> 4));
	case 3:
		if ((st->acc & 0x3) != 0)
			return KMES_ERR_INVALID_FORMAT;
		if ((r = kbuf_put_u8(out, (uint8_t)(st->acc >> 10))) != 0)
			return r;
		return kbuf_put_u8(out, (uint8_t)(st->acc >> 2));
	default:
		return KMES_ERR_INVALID_FORMAT;
	}
}

int
ks_b64_decode(const char *s, size_t len, struct kbuf *out)
{
	struct ks_b64 st = { 0, 0, 0 };
	size_t i;
	int r;

	for (i = 0; i < len; i++) {
		if ((r = ks_b64_feed(&st, s[i], out)) != 0)
			return r;
	}
	return ks_b64_end(&st, 0, out);
}
