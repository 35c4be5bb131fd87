/*
 * kbuf.h: the one bounds-checked byte buffer for every untrusted byte.
 *
 * A kbuf is a window [off, off + len) over storage it owns (growable, wiped
 * whenever it is released or moved) or borrows (a read-only view made by
 * kbuf_from or kbuf_froms, which must not outlive what it looks at).
 * Getters consume from the front; putters append at the back. Every length
 * read off the wire is compared against what remains before it is used.
 */
#ifndef KMES_KBUF_H
#define KMES_KBUF_H

#include <stddef.h>
#include <stdint.h>

/* Largest buffer unless kbuf_set_max_size says otherwise. */
#define KBUF_SIZE_MAX (16 * 1024 * 1024)
/* Largest mpint on the wire: a 16384-bit magnitude plus a sign byte. */
#define KBUF_MPINT_MAX_BYTES (16384 / 8 + 1)

struct kbuf;

/* Returns a new empty growable buffer, or NULL. */
struct kbuf *kbuf_new(void);

/* Returns a growable buffer whose storage is locked secure memory, or NULL. */
struct kbuf *kbuf_new_secure(size_t max_size);

/* As kbuf_new_secure, on kmes_secure_alloc_unlocked memory, or NULL. */
struct kbuf *kbuf_new_secure_unlocked(size_t max_size);

/* Returns a read-only view of len bytes at p (not copied), or NULL. */
struct kbuf *kbuf_from(const void *p, size_t len);

/* Wipes and frees b; accepts NULL. */
void kbuf_free(struct kbuf *b);

/* Empties b, wiping its contents. */
void kbuf_reset(struct kbuf *b);

/* Returns the number of unread bytes. */
size_t kbuf_len(const struct kbuf *b);

/* Returns how many more bytes may be appended before the size limit. */
size_t kbuf_avail(const struct kbuf *b);

/* Returns a pointer to the unread bytes (valid until the next write). */
const uint8_t *kbuf_ptr(const struct kbuf *b);

/* Sets the size limit. Returns 0 or a negative KMES_ERR_*. */
int kbuf_set_max_size(struct kbuf *b, size_t max_size);

/* Drops n bytes from the front. Returns 0 or a negative KMES_ERR_*. */
int kbuf_consume(struct kbuf *b, size_t n) __attribute__((warn_unused_result));

/* Drops n bytes from the back. Returns 0 or a negative KMES_ERR_*. */
int kbuf_consume_end(struct kbuf *b, size_t n)
    __attribute__((warn_unused_result));

/* Appends n bytes of space and points *dp at it. Returns 0 or KMES_ERR_*. */
int kbuf_reserve(struct kbuf *b, size_t n, uint8_t **dp);

/* Appends bytes. Each returns 0 or a negative KMES_ERR_*. */
int kbuf_put(struct kbuf *b, const void *v, size_t len);
int kbuf_putb(struct kbuf *b, const struct kbuf *v);
int kbuf_put_u8(struct kbuf *b, uint8_t v);
int kbuf_put_u32(struct kbuf *b, uint32_t v);
int kbuf_put_u64(struct kbuf *b, uint64_t v);
int kbuf_put_string(struct kbuf *b, const void *v, size_t len);
int kbuf_put_cstring(struct kbuf *b, const char *s);
int kbuf_put_stringb(struct kbuf *b, const struct kbuf *v);
/* Appends an SSH mpint from an unsigned big-endian magnitude. */
int kbuf_put_mpint(struct kbuf *b, const uint8_t *be, size_t len);

/*
 * Getters. Each returns 0 or a negative KMES_ERR_* and consumes nothing on
 * error; a NULL out-pointer skips the value (except for the mpint getter).
 */
int kbuf_get_u8(struct kbuf *b, uint8_t *v) __attribute__((warn_unused_result));
int kbuf_get_u32(struct kbuf *b, uint32_t *v)
    __attribute__((warn_unused_result));
int kbuf_get_u64(struct kbuf *b, uint64_t *v)
    __attribute__((warn_unused_result));
int kbuf_get_bool(struct kbuf *b, int *v) __attribute__((warn_unused_result));
/* Points *p at the string's bytes inside b (no copy). */
int kbuf_get_string_direct(struct kbuf *b, const uint8_t **p, size_t *lenp)
    __attribute__((warn_unused_result));
/* As kbuf_get_string_direct without consuming. */
int kbuf_peek_string_direct(const struct kbuf *b, const uint8_t **p,
    size_t *lenp) __attribute__((warn_unused_result));
/* Returns a malloc'd, NUL-terminated copy of a string. */
int kbuf_get_string(struct kbuf *b, uint8_t **p, size_t *lenp)
    __attribute__((warn_unused_result));
/* As kbuf_get_string but refuses an embedded NUL. */
int kbuf_get_cstring(struct kbuf *b, char **s, size_t *lenp)
    __attribute__((warn_unused_result));
/* Consumes a string and returns a read-only view of its contents. */
int kbuf_froms(struct kbuf *b, struct kbuf **sub)
    __attribute__((warn_unused_result));
/*
 * Consumes a non-negative mpint and points *p at its magnitude with leading
 * zeros removed (len 0 for zero). Refuses negatives and magnitudes over
 * KBUF_MPINT_MAX_BYTES - 1 bytes; tolerates redundant leading zeros, as
 * OpenSSH does. p and lenp must not be NULL.
 */
int kbuf_get_mpint_direct(struct kbuf *b, const uint8_t **p, size_t *lenp)
    __attribute__((warn_unused_result));

/* kbuf_get_line: no more bytes will come, so a last line may lack its '\n'. */
#define KBUF_LINE_LAST 0x01

/*
 * Takes one text line off the front of b and points *linep at it inside b:
 * no copy and no NUL terminator; valid until b is next written, and wiped
 * with b's storage, so a secret line never leaves the memory b keeps it in.
 * The line is what comes before the first '\n', handed back without the
 * '\n' and without one '\r' just before it (CRLF text); *lenp is its
 * length. With KBUF_LINE_LAST in flags the input is complete and the bytes
 * after the last '\n', if any, are the last line (its '\r' dropped too).
 * Returns 0; KMES_ERR_MESSAGE_INCOMPLETE when no line is there (no '\n'
 * buffered yet, or b is empty); KMES_ERR_STRING_TOO_LARGE when the line is
 * longer than max bytes, or must be because more than max + 1 bytes are
 * buffered without a '\n'; KMES_ERR_INVALID_FORMAT when the line holds a
 * NUL byte. Consumes nothing on error; NULL out-pointers skip the line.
 * A reader that fills b from a stream must let it hold max + 2 bytes: the
 * longest line, its '\r' and '\n'.
 */
int kbuf_get_line(struct kbuf *b, size_t max, int flags, const char **linep,
    size_t *lenp) __attribute__((warn_unused_result));

/* Returns 1 if the unread bytes of a and b are equal, else 0. */
int kbuf_equal(const struct kbuf *a, const struct kbuf *b);

/* Returns a malloc'd copy of the unread bytes (in *p, *lenp), or KMES_ERR_*. */
int kbuf_dup_bytes(const struct kbuf *b, uint8_t **p, size_t *lenp);

/* Writes lowercase hex of len bytes into out (2*len+1 bytes). */
void kbuf_hex(const uint8_t *p, size_t len, char *out);

/* Returns 1 if the unread bytes of b equal len bytes at p, else 0. */
int kbuf_equal_bytes(const struct kbuf *b, const void *p, size_t len);

#endif /* KMES_KBUF_H */
