/*
 * keytable.h: the agent's identity table, shared by every event-loop thread.
 *
 * An identity is a key with its comment and constraints. Identities are
 * immutable once in the table and reference counted: a lookup hands out a
 * reference, so a signer keeps a consistent view while another thread
 * replaces or removes the entry. Replacing (re-adding the same key) swaps in
 * a new identity object.
 */
#ifndef KMES_KEYTABLE_H
#define KMES_KEYTABLE_H

#include <stddef.h>
#include <stdint.h>

struct agent_constraints;
struct ks_key;
struct ks_table;
struct ks_identity;

enum ks_origin {
	KS_ORIGIN_ADDED = 0, /* ssh-add: removable over the protocol */
	KS_ORIGIN_STORE = 1, /* the encrypted key store */
	KS_ORIGIN_TOKEN = 2, /* a PKCS#11 token */
};

/* Returns a new empty table, or NULL. */
struct ks_table *ks_table_new(void);

/* Frees the table and drops its references; accepts NULL. */
void ks_table_free(struct ks_table *t);

/*
 * Adds an identity, replacing one with the same key blob. Takes ownership of
 * key (one reference), comment and the contents of *c (left empty), also on
 * error. expiry_ms: CLOCK_MONOTONIC deadline in milliseconds, 0 for none.
 * Returns 0 or a negative KMES_ERR_*.
 */
int ks_table_add(struct ks_table *t, struct ks_key *key, char *comment,
    struct agent_constraints *c, uint64_t expiry_ms, enum ks_origin origin);

/*
 * Removes the identity whose blob matches. Only identities of origin may be
 * removed this way. Returns 0 or KMES_ERR_KEY_NOT_FOUND.
 */
int ks_table_remove(struct ks_table *t, const uint8_t *blob, size_t len,
    enum ks_origin origin);

/*
 * Replaces, in one step, every identity of origin by the n given ones
 * (keys[i] with comments[i] and cons[i]; no expiry). Takes ownership of all
 * of them, also on error, and leaves the arrays' slots empty. A reader sees
 * the old set or the new one, never a mixture. Returns 0 or KMES_ERR_*.
 */
int ks_table_replace_origin(struct ks_table *t, enum ks_origin origin,
    struct ks_key **keys, char **comments, struct agent_constraints *cons,
    size_t n);

/*
 * The same for the identities of one source of origin (one PKCS#11
 * provider, say), which all get expiry_ms (CLOCK_MONOTONIC ms, 0 for none);
 * ks_table_replace_origin is this with source 0 and no expiry.
 */
int ks_table_replace_source(struct ks_table *t, enum ks_origin origin,
    uint32_t source, struct ks_key **keys, char **comments,
    struct agent_constraints *cons, size_t n, uint64_t expiry_ms);

/* Removes the identities of one source of origin; returns how many went. */
size_t ks_table_remove_source(struct ks_table *t, enum ks_origin origin,
    uint32_t source);

/* Removes every identity of origin; returns how many went. */
size_t ks_table_remove_all(struct ks_table *t, enum ks_origin origin);

/*
 * Returns a new reference to the live identity whose blob matches, or
 * NULL. An identity past its expiry (now_ms) is not returned.
 */
struct ks_identity *ks_table_lookup(struct ks_table *t, const uint8_t *blob,
    size_t len, uint64_t now_ms);

/*
 * Returns references to every live identity in insertion order, as a
 * malloc'd array in *listp (free with ks_identity_list_free).
 * Returns 0 or a negative KMES_ERR_*.
 */
int ks_table_snapshot(struct ks_table *t, uint64_t now_ms,
    struct ks_identity ***listp, size_t *np);

/* Drops the references in list and frees it; accepts NULL. */
void ks_identity_list_free(struct ks_identity **list, size_t n);

/*
 * Removes identities whose expiry has passed (their keys are wiped once the
 * last user lets go). Returns the nearest remaining expiry in ms, or 0.
 */
uint64_t ks_table_expire(struct ks_table *t, uint64_t now_ms, size_t *nremoved);

/* Returns the number of identities (live or not yet reaped). */
size_t ks_table_count(struct ks_table *t);

/* Identity accessors; the identity must be held by a reference. */
struct ks_identity *ks_identity_ref(struct ks_identity *id);
void ks_identity_unref(struct ks_identity *id);
struct ks_key *ks_identity_key(const struct ks_identity *id);
const char *ks_identity_comment(const struct ks_identity *id);
const struct agent_constraints *ks_identity_constraints(
    const struct ks_identity *id);
uint64_t ks_identity_expiry(const struct ks_identity *id);
enum ks_origin ks_identity_origin(const struct ks_identity *id);
uint32_t ks_identity_source(const struct ks_identity *id);

#endif /* KMES_KEYTABLE_H */
