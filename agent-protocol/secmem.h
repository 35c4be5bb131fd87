/*
 * secmem.h: a small guarded allocator for secrets that never pass through
 * OpenSSL (lock passwords, PINs, raw key bytes in transit).
 *
 * Every allocation gets its own pages: locked in RAM (mlock), excluded from
 * core dumps (MADV_DONTDUMP), fenced by PROT_NONE guard pages on both sides,
 * and wiped before it is unmapped.
 */
#ifndef KMES_SECMEM_H
#define KMES_SECMEM_H

#include <stddef.h>

/* Returns zeroed locked memory of len bytes (len > 0), or NULL. */
void *kmes_secure_alloc(size_t len) __attribute__((warn_unused_result));

/*
 * As kmes_secure_alloc, but the pages are not locked: still guarded,
 * excluded from core dumps and wiped. For memory a client can make the
 * agent hold, past what it may lock (RLIMIT_MEMLOCK is shared with the
 * agent's other secrets). Returns NULL on failure.
 */
void *kmes_secure_alloc_unlocked(size_t len)
    __attribute__((warn_unused_result));

/* Wipes and releases memory from kmes_secure_alloc*; accepts NULL. */
void kmes_secure_free(void *p);

/* Returns the usable size of a kmes_secure_alloc block, or 0 for NULL. */
size_t kmes_secure_size(const void *p);

/* Returns how many allocations could not be locked with mlock (0 is good). */
unsigned long kmes_secure_lock_failures(void);

/* Wipes len bytes at p in a way the compiler may not elide; accepts NULL. */
void kmes_wipe(void *p, size_t len);

/* Wipes and frees ordinary heap memory of len bytes; accepts NULL. */
void kmes_freezero(void *p, size_t len);

/* Wipes and frees a NUL-terminated heap string; accepts NULL. */
void kmes_freezero_str(char *s);

/* Returns 0 if the len bytes at a and b are equal; time depends only on len. */
int kmes_ct_memcmp(const void *a, const void *b, size_t len);

#endif /* KMES_SECMEM_H */
