/*
 * kbuf.c: bounds-checked buffer.
 */
#include <stdlib.h>
#include <string.h>

#include "kbuf.h"
#include "kmes-err.h"
#include "secmem.h"

struct kbuf {
	uint8_t *d;	   /* storage (owned unless readonly) */
	const uint8_t *cd; /* read pointer base (== d when owned) */
	size_t off;	   /* first unread byte */
	size_t size;	   /* end of data */
	size_t alloc;	   /* bytes allocated */
	size_t max_size;   /* hard cap on size - off + appended */
	int readonly;
	int secure;
};

#define KBUF_INITIAL 256

struct kbuf *
kbuf_new(void)
{
	struct kbuf *b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	b->max_size = KBUF_SIZE_MAX;
	return b;
}

static struct kbuf *
new_secure(size_t max_size, int lock)
{
	struct kbuf *b;

	if (max_size == 0 || max_size > KBUF_SIZE_MAX)
		return NULL;
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	/* Secure storage is allocated once at full size: no copies to wipe. */
	b->d = lock ? kmes_secure_alloc(max_size) :
		      kmes_secure_alloc_unlocked(max_size);
	if (b->d == NULL) {
		free(b);
		return NULL;
	}
	b->cd = b->d;
	b->alloc = max_size;
	b->max_size = max_size;
	b->secure = 1;
	return b;
}

struct kbuf *
kbuf_new_secure(size_t max_size)
{
	return new_secure(max_size, 1);
}

struct kbuf *
kbuf_new_secure_unlocked(size_t max_size)
{
	return new_secure(max_size, 0);
}

struct kbuf *
kbuf_from(const void *p, size_t len)
{
	struct kbuf *b;

	if ((p == NULL && len != 0) || len > KBUF_SIZE_MAX)
		return NULL;
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	b->cd = p;
	b->size = len;
	b->alloc = len;
	b->max_size = len;
	b->readonly = 1;
	return b;
}

void
kbuf_free(struct kbuf *b)
{
	if (b == NULL)
		return;
	if (!b->readonly) {
		if (b->secure)
			kmes_secure_free(b->d);
		else
			kmes_freezero(b->d, b->alloc);
	}
	kmes_freezero(b, sizeof(*b));
}

void
kbuf_reset(struct kbuf *b)
{
	if (b->readonly) {
		b->off = b->size;
		return;
	}
	kmes_wipe(b->d, b->size);
	b->off = b->size = 0;
}

size_t
kbuf_len(const struct kbuf *b)
{
	return b->size - b->off;
}

size_t
kbuf_avail(const struct kbuf *b)
{
	if (b->readonly || kbuf_len(b) >= b->max_size)
		return 0;
	return b->max_size - kbuf_len(b);
}

const uint8_t *
kbuf_ptr(const struct kbuf *b)
{
	static const uint8_t empty[1];

	/* Never NULL + 0: a new buffer has no storage yet. */
	if (b->cd == NULL)
		return empty;
	return b->cd + b->off;
}

int
kbuf_set_max_size(struct kbuf *b, size_t max_size)
{
	if (b->readonly || max_size > KBUF_SIZE_MAX || max_size < kbuf_len(b) ||
	    (b->secure && max_size > b->alloc))
		return KMES_ERR_INVALID_ARGUMENT;
	b->max_size = max_size;
	return 0;
}

int
kbuf_consume(struct kbuf *b, size_t n)
{
	if (n > kbuf_len(b))
		return KMES_ERR_MESSAGE_INCOMPLETE;
	if (!b->readonly)
		kmes_wipe(b->d + b->off, n);
	b->off += n;
	if (b->off == b->size && !b->readonly)
		b->off = b->size = 0;
	return 0;
}

int
kbuf_consume_end(struct kbuf *b, size_t n)
{
	if (n > kbuf_len(b))
		return KMES_ERR_MESSAGE_INCOMPLETE;
	if (!b->readonly)
		kmes_wipe(b->d + b->size - n, n);
	b->size -= n;
	return 0;
}

/* Makes room for n more bytes: slide unread data down, else grow. */
static int
kbuf_make_room(struct kbuf *b, size_t n)
{
	size_t len = kbuf_len(b), need, nalloc;
	uint8_t *nd;

	if (b->readonly)
		return KMES_ERR_INVALID_ARGUMENT;
	if (n > b->max_size || len > b->max_size - n)
		return KMES_ERR_NO_BUFFER_SPACE;
	need = len + n;
	if (b->size + n <= b->alloc)
		return 0;
	if (need <= b->alloc) {
		memmove(b->d, b->d + b->off, len);
		kmes_wipe(b->d + len, b->size - len);
		b->off = 0;
		b->size = len;
		return 0;
	}
	if (b->secure)
		return KMES_ERR_NO_BUFFER_SPACE; /* cannot happen: alloc == max */
	nalloc = b->alloc < KBUF_INITIAL ? KBUF_INITIAL : b->alloc;
	while (nalloc < need)
		nalloc = nalloc > b->max_size / 2 ? b->max_size : nalloc * 2;
	if ((nd = malloc(nalloc)) == NULL)
		return KMES_ERR_ALLOC;
	/* Never realloc: the old block may hold secrets and must be wiped. */
	if (len != 0)
		memcpy(nd, b->d + b->off, len);
	kmes_freezero(b->d, b->alloc);
	b->d = nd;
	b->cd = nd;
	b->alloc = nalloc;
	b->off = 0;
	b->size = len;
	return 0;
}

int
kbuf_reserve(struct kbuf *b, size_t n, uint8_t **dp)
{
	int r;

	if (dp != NULL)
		*dp = NULL;
	if ((r = kbuf_make_room(b, n)) != 0)
		return r;
	if (b->d == NULL && n == 0) {
		if (dp != NULL)
			*dp = NULL;
		return 0;
	}
	if (dp != NULL)
		*dp = b->d + b->size;
	b->size += n;
	return 0;
}

int
kbuf_put(struct kbuf *b, const void *v, size_t len)
{
	uint8_t *p;
	int r;

	if (len == 0)
		return b->readonly ? KMES_ERR_INVALID_ARGUMENT : 0;
	if ((r = kbuf_reserve(b, len, &p)) != 0)
		return r;
	memcpy(p, v, len);
	return 0;
}

int
kbuf_putb(struct kbuf *b, const struct kbuf *v)
{
	return kbuf_put(b, kbuf_ptr(v), kbuf_len(v));
}

int
kbuf_put_u8(struct kbuf *b, uint8_t v)
{
	return kbuf_put(b, &v, 1);
}

int
kbuf_put_u32(struct kbuf *b, uint32_t v)
{
	uint8_t x[4] = { v >> 24, v >> 16, v >> 8, v };

	return kbuf_put(b, x, sizeof(x));
}

int
kbuf_put_u64(struct kbuf *b, uint64_t v)
{
	uint8_t x[8];
	int i;

	for (i = 0; i < 8; i++)
		x[i] = (uint8_t)(v >> (56 - 8 * i));
	return kbuf_put(b, x, sizeof(x));
}

int
kbuf_put_string(struct kbuf *b, const void *v, size_t len)
{
	uint8_t *p;
	int r;

	if (len > UINT32_MAX || len > KBUF_SIZE_MAX - 4)
		return KMES_ERR_STRING_TOO_LARGE;
	if ((r = kbuf_reserve(b, 4 + len, &p)) != 0)
		return r;
	p[0] = (uint8_t)(len >> 24);
	p[1] = (uint8_t)(len >> 16);
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	if (len != 0)
		memcpy(p + 4, v, len);
	return 0;
}

int
kbuf_put_cstring(struct kbuf *b, const char *s)
{
	return kbuf_put_string(b, s, s == NULL ? 0 : strlen(s));
}

int
kbuf_put_stringb(struct kbuf *b, const struct kbuf *v)
{
	return kbuf_put_string(b, kbuf_ptr(v), kbuf_len(v));
}

int
kbuf_put_mpint(struct kbuf *b, const uint8_t *be, size_t len)
{
	uint8_t *p;
	size_t pad;
	int r;

	while (len > 0 && *be == 0) {
		be++;
		len--;
	}
	if (len > KBUF_MPINT_MAX_BYTES - 1)
		return KMES_ERR_BIGNUM_TOO_LARGE;
	/* A set top bit would read as negative: prefix a zero byte. */
	pad = (len > 0 && (be[0] & 0x80)) ? 1 : 0;
	if ((r = kbuf_reserve(b, 4 + pad + len, &p)) != 0)
		return r;
	p[0] = 0;
	p[1] = 0;
	p[2] = (uint8_t)((len + pad) >> 8);
	p[3] = (uint8_t)(len + pad);
	if (pad)
		p[4] = 0;
	if (len != 0)
		memcpy(p + 4 + pad, be, len);
	return 0;
}

static uint32_t
peek_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int
kbuf_get_u8(struct kbuf *b, uint8_t *v)
{
	if (kbuf_len(b) < 1)
		return KMES_ERR_MESSAGE_INCOMPLETE;
	if (v != NULL)
		*v = kbuf_ptr(b)[0];
	return kbuf_consume(b, 1);
}

int
kbuf_get_bool(struct kbuf *b, int *v)
{
	uint8_t x;
	int r;

	if ((r = kbuf_get_u8(b, &x)) != 0)
		return r;
	if (v != NULL)
		*v = x != 0;
	return 0;
}

int
kbuf_get_u32(struct kbuf *b, uint32_t *v)
{
	if (kbuf_len(b) < 4)
		return KMES_ERR_MESSAGE_INCOMPLETE;
	if (v != NULL)
		*v = peek_u32(kbuf_ptr(b));
	return kbuf_consume(b, 4);
}

int
kbuf_get_u64(struct kbuf *b, uint64_t *v)
{
	const uint8_t *p = kbuf_ptr(b);

	if (kbuf_len(b) < 8)
		return KMES_ERR_MESSAGE_INCOMPLETE;
	if (v != NULL)
		*v = (uint64_t)peek_u32(p) << 32 | peek_u32(p + 4);
	return kbuf_consume(b, 8);
}

int
kbuf_peek_string_direct(const struct kbuf *b, const uint8_t **p, size_t *lenp)
{
	size_t avail = kbuf_len(b);
	uint32_t len;

	if (p != NULL)
		*p = NULL;
	if (lenp != NULL)
		*lenp = 0;
	if (avail < 4)
		return KMES_ERR_MESSAGE_INCOMPLETE;
	len = peek_u32(kbuf_ptr(b));
	/* A peer may claim 2^32-1 bytes: compare with what is really there. */
	if (len > KBUF_SIZE_MAX - 4)
		return KMES_ERR_STRING_TOO_LARGE;
	if (len > avail - 4)
		return KMES_ERR_MESSAGE_INCOMPLETE;
	if (p != NULL)
		*p = kbuf_ptr(b) + 4;
	if (lenp != NULL)
		*lenp = len;
	return 0;
}

int
kbuf_get_string_direct(struct kbuf *b, const uint8_t **p, size_t *lenp)
{
	const uint8_t *v;
	size_t len;
	int r;

	if (p != NULL)
		*p = NULL;
	if (lenp != NULL)
		*lenp = 0;
	if ((r = kbuf_peek_string_direct(b, &v, &len)) != 0)
		return r;
	/*
	 * Consume without wiping: the caller holds a pointer into the data.
	 * Storage is wiped when the buffer is reset, compacted or freed.
	 */
	b->off += 4 + len;
	if (p != NULL)
		*p = v;
	if (lenp != NULL)
		*lenp = len;
	return 0;
}

int
kbuf_get_string(struct kbuf *b, uint8_t **p, size_t *lenp)
{
	const uint8_t *v;
	uint8_t *copy;
	size_t len;
	int r;

	if (p != NULL)
		*p = NULL;
	if (lenp != NULL)
		*lenp = 0;
	if ((r = kbuf_peek_string_direct(b, &v, &len)) != 0)
		return r;
	if (p != NULL) {
		if ((copy = malloc(len + 1)) == NULL)
			return KMES_ERR_ALLOC;
		if (len != 0)
			memcpy(copy, v, len);
		copy[len] = '\0';
		*p = copy;
	}
	if (lenp != NULL)
		*lenp = len;
	b->off += 4 + len;
	return 0;
}

int
kbuf_get_cstring(struct kbuf *b, char **s, size_t *lenp)
{
	const uint8_t *v;
	size_t len;
	int r;

	if (s != NULL)
		*s = NULL;
	if (lenp != NULL)
		*lenp = 0;
	if ((r = kbuf_peek_string_direct(b, &v, &len)) != 0)
		return r;
	if (len != 0 && memchr(v, '\0', len) != NULL)
		return KMES_ERR_INVALID_FORMAT;
	return kbuf_get_string(b, (uint8_t **)s, lenp);
}

int
kbuf_froms(struct kbuf *b, struct kbuf **sub)
{
	const uint8_t *v;
	size_t len;
	struct kbuf *s;
	int r;

	*sub = NULL;
	if ((r = kbuf_peek_string_direct(b, &v, &len)) != 0)
		return r;
	if ((s = kbuf_from(v, len)) == NULL)
		return KMES_ERR_ALLOC;
	b->off += 4 + len;
	*sub = s;
	return 0;
}

int
kbuf_get_mpint_direct(struct kbuf *b, const uint8_t **p, size_t *lenp)
{
	const uint8_t *v;
	size_t len, wire_len;
	int r;

	*p = NULL;
	*lenp = 0;
	if ((r = kbuf_peek_string_direct(b, &v, &len)) != 0)
		return r;
	wire_len = len;
	if (len > 0 && (v[0] & 0x80))
		return KMES_ERR_BIGNUM_INVALID; /* negative */
	/* Tolerate redundant leading zeros, as OpenSSH does; cap the rest. */
	while (len > 0 && v[0] == 0) {
		v++;
		len--;
	}
	if (len > KBUF_MPINT_MAX_BYTES - 1)
		return KMES_ERR_BIGNUM_TOO_LARGE;
	b->off += 4 + wire_len;
	*p = v;
	*lenp = len;
	return 0;
}

int
kbuf_get_line(struct kbuf *b, size_t max, int flags, const char **linep,
    size_t *lenp)
{
	const uint8_t *p = kbuf_ptr(b), *nl;
	size_t avail = kbuf_len(b), scan, n, used;

	if (linep != NULL)
		*linep = NULL;
	if (lenp != NULL)
		*lenp = 0;
	if (max > KBUF_SIZE_MAX)
		max = KBUF_SIZE_MAX;
	/*
	 * Look no further than the longest line could reach: a peer that
	 * never sends '\n' costs one bounded scan per call, not the buffer.
	 */
	scan = avail < max + 2 ? avail : max + 2;
	if ((nl = memchr(p, '\n', scan)) != NULL) {
		n = (size_t)(nl - p);
		used = n + 1;
	} else if (avail > max + 1)
		return KMES_ERR_STRING_TOO_LARGE;
	else if ((flags & KBUF_LINE_LAST) != 0 && avail != 0) {
		n = avail;
		used = avail;
	} else
		return KMES_ERR_MESSAGE_INCOMPLETE;
	if (n > 0 && p[n - 1] == '\r')
		n--;
	if (n > max)
		return KMES_ERR_STRING_TOO_LARGE;
	/* A NUL would let "OK\0junk" pass for "OK" or cut a path short. */
	if (n != 0 && memchr(p, '\0', n) != NULL)
		return KMES_ERR_INVALID_FORMAT;
	/* No wipe: *linep points here. Reset, compaction and free wipe. */
	b->off += used;
	if (linep != NULL)
		*linep = (const char *)p;
	if (lenp != NULL)
		*lenp = n;
	return 0;
}

int
kbuf_equal(const struct kbuf *a, const struct kbuf *b)
{
	return kbuf_equal_bytes(a, kbuf_ptr(b), kbuf_len(b));
}

int
kbuf_equal_bytes(const struct kbuf *b, const void *p, size_t len)
{
	if (kbuf_len(b) != len)
		return 0;
	return len == 0 || memcmp(kbuf_ptr(b), p, len) == 0;
}

int
kbuf_dup_bytes(const struct kbuf *b, uint8_t **p, size_t *lenp)
{
	size_t len = kbuf_len(b);
	uint8_t *c;

	*p = NULL;
	*lenp = 0;
	if ((c = malloc(len == 0 ? 1 : len)) == NULL)
		return KMES_ERR_ALLOC;
	if (len != 0)
		memcpy(c, kbuf_ptr(b), len);
	*p = c;
	*lenp = len;
	return 0;
}

void
kbuf_hex(const uint8_t *p, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 0xf];
	}
	out[2 * len] = '\0';
}
