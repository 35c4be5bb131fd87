/*
 * secmem.c: guarded, locked, no-dump allocations for secrets.
 */
#include <sys/mman.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "secmem.h"

/*
 * Layout: [guard page][header + user data, page aligned][guard page].
 * The header keeps the mapping size so free() needs no lookup table; it sits
 * in the locked area, so an overrun from below lands in the guard page.
 */
struct secmem_hdr {
	size_t map_len;
	size_t user_len;
	uint64_t magic;
};

#define SECMEM_MAGIC 0x6b6d65735345434dULL /* "kmesSECM" */

static atomic_ulong secmem_lock_failures;

static size_t
page_size(void)
{
	static size_t ps;

	if (ps == 0) {
		long v = sysconf(_SC_PAGESIZE);
		ps = v > 0 ? (size_t)v : 4096;
	}
	return ps;
}

void
kmes_wipe(void *p, size_t len)
{
	if (p != NULL && len != 0)
		explicit_bzero(p, len);
}

void
kmes_freezero(void *p, size_t len)
{
	if (p == NULL)
		return;
	kmes_wipe(p, len);
	free(p);
}

void
kmes_freezero_str(char *s)
{
	if (s != NULL)
		kmes_freezero(s, strlen(s));
}

int
kmes_ct_memcmp(const void *a, const void *b, size_t len)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char acc = 0;
	size_t i;

	for (i = 0; i < len; i++)
		acc |= x[i] ^ y[i];
	return acc != 0;
}

static void *
secmem_map(size_t len, int lock)
{
	size_t ps = page_size(), inner, map_len;
	unsigned char *base;
	struct secmem_hdr *h;

	/* Refuse sizes whose page rounding would wrap. */
	if (len == 0 || len > SIZE_MAX / 2 - sizeof(*h) - 3 * ps)
		return NULL;
	inner = (sizeof(*h) + len + ps - 1) & ~(ps - 1);
	map_len = inner + 2 * ps;
	base = mmap(NULL, map_len, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return NULL;
	if (mprotect(base, ps, PROT_NONE) != 0 ||
	    mprotect(base + ps + inner, ps, PROT_NONE) != 0) {
		munmap(base, map_len);
		return NULL;
	}
	(void)madvise(base + ps, inner, MADV_DONTDUMP);
	(void)madvise(base + ps, inner, MADV_DONTFORK);
	if (lock && mlock(base + ps, inner) != 0)
		atomic_fetch_add(&secmem_lock_failures, 1);
	h = (struct secmem_hdr *)(base + ps);
	h->map_len = map_len;
	h->user_len = len;
	h->magic = SECMEM_MAGIC;
	return h + 1;
}

void *
kmes_secure_alloc(size_t len)
{
	return secmem_map(len, 1);
}

void *
kmes_secure_alloc_unlocked(size_t len)
{
	return secmem_map(len, 0);
}

static struct secmem_hdr *
secmem_header(const void *p)
{
	struct secmem_hdr *h = (struct secmem_hdr *)p - 1;

	/* A bad pointer here is a broken invariant, not hostile input. */
	if (h->magic != SECMEM_MAGIC)
		abort();
	return h;
}

size_t
kmes_secure_size(const void *p)
{
	return p == NULL ? 0 : secmem_header(p)->user_len;
}

void
kmes_secure_free(void *p)
{
	struct secmem_hdr *h;
	size_t ps = page_size(), map_len;
	unsigned char *base;

	if (p == NULL)
		return;
	h = secmem_header(p);
	map_len = h->map_len;
	base = (unsigned char *)h - ps;
	explicit_bzero(h, map_len - 2 * ps);
	(void)munlock(h, map_len - 2 * ps);
	munmap(base, map_len);
}

unsigned long
kmes_secure_lock_failures(void)
{
	return atomic_load(&secmem_lock_failures);
}
