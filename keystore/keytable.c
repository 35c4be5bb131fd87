/*
 * keytable.c: the identity table.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "agent-msg.h"
#include "crypto.h"
#include "keytable.h"
#include "kmes-err.h"
#include "secmem.h"

struct ks_identity {
	atomic_uint refs;
	struct ks_key *key;
	char *comment;
	struct agent_constraints cons;
	uint64_t expiry_ms;
	enum ks_origin origin;
	uint32_t source;     /* which token of the origin, 0 for others */
	const uint8_t *blob; /* borrowed from key */
	size_t blob_len;
};

struct ks_table {
	pthread_rwlock_t lock;
	struct ks_identity **ids;
	size_t n;
	size_t alloc;
};

static void
identity_destroy(struct ks_identity *id)
{
	ks_key_free(id->key);
	if (id->comment != NULL)
		kmes_freezero_str(id->comment);
	agent_constraints_clear(&id->cons);
	free(id);
}

struct ks_identity *
ks_identity_ref(struct ks_identity *id)
{
	atomic_fetch_add_explicit(&id->refs, 1, memory_order_relaxed);
	return id;
}

void
ks_identity_unref(struct ks_identity *id)
{
	if (id == NULL)
		return;
	if (atomic_fetch_sub_explicit(&id->refs, 1, memory_order_acq_rel) == 1)
		identity_destroy(id);
}

struct ks_key *
ks_identity_key(const struct ks_identity *id)
{
	return id->key;
}

const char *
ks_identity_comment(const struct ks_identity *id)
{
	return id->comment;
}

const struct agent_constraints *
ks_identity_constraints(const struct ks_identity *id)
{
	return &id->cons;
}

uint64_t
ks_identity_expiry(const struct ks_identity *id)
{
	return id->expiry_ms;
}

enum ks_origin
ks_identity_origin(const struct ks_identity *id)
{
	return id->origin;
}

uint32_t
ks_identity_source(const struct ks_identity *id)
{
	return id->source;
}

struct ks_table *
ks_table_new(void)
{
	struct ks_table *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	if (pthread_rwlock_init(&t->lock, NULL) != 0) {
		free(t);
		return NULL;
	}
	return t;
}

void
ks_table_free(struct ks_table *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->n; i++)
		ks_identity_unref(t->ids[i]);
	free(t->ids);
	pthread_rwlock_destroy(&t->lock);
	free(t);
}

static int
live(const struct ks_identity *id, uint64_t now_ms)
{
	return id->expiry_ms == 0 || now_ms < id->expiry_ms;
}

/* Index of the identity with this blob, or -1. Caller holds the lock. */
static long
find(const struct ks_table *t, const uint8_t *blob, size_t len)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		if (t->ids[i]->blob_len == len &&
		    memcmp(t->ids[i]->blob, blob, len) == 0)
			return (long)i;
	}
	return -1;
}

static void
remove_at(struct ks_table *t, size_t i)
{
	ks_identity_unref(t->ids[i]);
	memmove(t->ids + i, t->ids + i + 1, (t->n - i - 1) * sizeof(*t->ids));
	t->n--;
}

static struct ks_identity *
identity_new(struct ks_key *key, char *comment, struct agent_constraints *c,
    uint64_t expiry_ms, enum ks_origin origin)
{
	struct ks_identity *id;

	if ((id = calloc(1, sizeof(*id))) == NULL) {
		ks_key_free(key);
		if (comment != NULL)
			kmes_freezero_str(comment);
		agent_constraints_clear(c);
		return NULL;
	}
	atomic_init(&id->refs, 1);
	id->key = key;
	id->comment = comment;
	agent_constraints_move(&id->cons, c);
	id->expiry_ms = expiry_ms;
	id->origin = origin;
	id->blob = ks_key_blob(key, &id->blob_len);
	return id;
}

static int
same_source(const struct ks_identity *id, enum ks_origin origin,
    uint32_t source)
{
	return id->origin == origin && id->source == source;
}

int
ks_table_replace_source(struct ks_table *t, enum ks_origin origin,
    uint32_t source, struct ks_key **keys, char **comments,
    struct agent_constraints *cons, size_t n, uint64_t expiry_ms)
{
	struct ks_identity **fresh = NULL, **nids;
	size_t i, j, keep, made = 0;
	int r = 0;

	if (n != 0 && (fresh = calloc(n, sizeof(*fresh))) == NULL)
		r = KMES_ERR_ALLOC;
	for (i = 0; i < n; i++) {
		if (r == 0) {
			fresh[made] = identity_new(keys[i], comments[i],
			    &cons[i], expiry_ms, origin);
			if (fresh[made] == NULL)
				r = KMES_ERR_ALLOC;
			else
				fresh[made++]->source = source;
		} else {
			ks_key_free(keys[i]);
			if (comments[i] != NULL)
				kmes_freezero_str(comments[i]);
			agent_constraints_clear(&cons[i]);
		}
		keys[i] = NULL;
		comments[i] = NULL;
	}
	if (r != 0)
		goto out;
	pthread_rwlock_wrlock(&t->lock);
	for (i = 0, keep = 0; i < t->n; i++) {
		if (same_source(t->ids[i], origin, source))
			continue;
		keep++;
	}
	if (keep + made > t->alloc) {
		size_t na = keep + made + 16;

		if ((nids = reallocarray(t->ids, na, sizeof(*nids))) == NULL) {
			pthread_rwlock_unlock(&t->lock);
			r = KMES_ERR_ALLOC;
			goto out;
		}
		t->ids = nids;
		t->alloc = na;
	}
	for (i = 0, j = 0; i < t->n; i++) {
		if (same_source(t->ids[i], origin, source))
			ks_identity_unref(t->ids[i]);
		else
			t->ids[j++] = t->ids[i];
	}
	for (i = 0; i < made; i++)
		t->ids[j++] = fresh[i];
	t->n = j;
	made = 0;
	pthread_rwlock_unlock(&t->lock);
out:
	for (i = 0; i < made; i++)
		ks_identity_unref(fresh[i]);
	free(fresh);
	return r;
}

int
ks_table_replace_origin(struct ks_table *t, enum ks_origin origin,
    struct ks_key **keys, char **comments, struct agent_constraints *cons,
    size_t n)
{
	return ks_table_replace_source(t, origin, 0, keys, comments, cons, n,
	    0);
}

size_t
ks_table_remove_source(struct ks_table *t, enum ks_origin origin,
    uint32_t source)
{
	size_t i, n = 0;

	pthread_rwlock_wrlock(&t->lock);
	for (i = t->n; i > 0; i--) {
		if (same_source(t->ids[i - 1], origin, source)) {
			remove_at(t, i - 1);
			n++;
		}
	}
	pthread_rwlock_unlock(&t->lock);
	return n;
}

int
ks_table_add(struct ks_table *t, struct ks_key *key, char *comment,
    struct agent_constraints *c, uint64_t expiry_ms, enum ks_origin origin)
{
	struct ks_identity *id, **nids;
	long i;
	int r;

	if ((id = identity_new(key, comment, c, expiry_ms, origin)) == NULL)
		return KMES_ERR_ALLOC;

	pthread_rwlock_wrlock(&t->lock);
	if ((i = find(t, id->blob, id->blob_len)) >= 0) {
		ks_identity_unref(t->ids[i]);
		t->ids[i] = id;
		id = NULL;
		r = 0;
		goto out;
	}
	if (t->n == t->alloc) {
		size_t na = t->alloc == 0 ? 16 : t->alloc * 2;

		if ((nids = reallocarray(t->ids, na, sizeof(*nids))) == NULL) {
			r = KMES_ERR_ALLOC;
			goto out;
		}
		t->ids = nids;
		t->alloc = na;
	}
	t->ids[t->n++] = id;
	id = NULL;
	r = 0;
out:
	pthread_rwlock_unlock(&t->lock);
	if (id != NULL)
		ks_identity_unref(id);
	return r;
}

int
ks_table_remove(struct ks_table *t, const uint8_t *blob, size_t len,
    enum ks_origin origin)
{
	long i;
	int r = KMES_ERR_KEY_NOT_FOUND;

	pthread_rwlock_wrlock(&t->lock);
	if ((i = find(t, blob, len)) >= 0 && t->ids[i]->origin == origin) {
		remove_at(t, (size_t)i);
		r = 0;
	}
	pthread_rwlock_unlock(&t->lock);
	return r;
}

size_t
ks_table_remove_all(struct ks_table *t, enum ks_origin origin)
{
	size_t i, n = 0;

	pthread_rwlock_wrlock(&t->lock);
	for (i = t->n; i > 0; i--) {
		if (t->ids[i - 1]->origin == origin) {
			remove_at(t, i - 1);
			n++;
		}
	}
	pthread_rwlock_unlock(&t->lock);
	return n;
}

struct ks_identity *
ks_table_lookup(struct ks_table *t, const uint8_t *blob, size_t len,
    uint64_t now_ms)
{
	struct ks_identity *id = NULL;
	long i;

	pthread_rwlock_rdlock(&t->lock);
	if ((i = find(t, blob, len)) >= 0 && live(t->ids[i], now_ms))
		id = ks_identity_ref(t->ids[i]);
	pthread_rwlock_unlock(&t->lock);
	return id;
}

int
ks_table_snapshot(struct ks_table *t, uint64_t now_ms,
    struct ks_identity ***listp, size_t *np)
{
	struct ks_identity **list = NULL;
	size_t i, n = 0;
	int r = 0;

	*listp = NULL;
	*np = 0;
	pthread_rwlock_rdlock(&t->lock);
	if (t->n != 0 && (list = calloc(t->n, sizeof(*list))) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	for (i = 0; i < t->n; i++) {
		if (live(t->ids[i], now_ms))
			list[n++] = ks_identity_ref(t->ids[i]);
	}
	*listp = list;
	*np = n;
out:
	pthread_rwlock_unlock(&t->lock);
	return r;
}

void
ks_identity_list_free(struct ks_identity **list, size_t n)
{
	size_t i;

	if (list == NULL)
		return;
	for (i = 0; i < n; i++)
		ks_identity_unref(list[i]);
	free(list);
}

uint64_t
ks_table_expire(struct ks_table *t, uint64_t now_ms, size_t *nremoved)
{
	uint64_t next = 0;
	size_t i, n = 0;

	pthread_rwlock_wrlock(&t->lock);
	for (i = t->n; i > 0; i--) {
		struct ks_identity *id = t->ids[i - 1];

		if (id->expiry_ms == 0)
			continue;
		if (!live(id, now_ms)) {
			remove_at(t, i - 1);
			n++;
		} else if (next == 0 || id->expiry_ms < next)
			next = id->expiry_ms;
	}
	pthread_rwlock_unlock(&t->lock);
	if (nremoved != NULL)
		*nremoved = n;
	return next;
}

size_t
ks_table_count(struct ks_table *t)
{
	size_t n;

	pthread_rwlock_rdlock(&t->lock);
	n = t->n;
	pthread_rwlock_unlock(&t->lock);
	return n;
}
