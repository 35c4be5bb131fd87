/*
 * policy.h: session binding (session-bind@openssh.com) and destination
 * constraints (restrict-destination-v00@openssh.com), enforced the way
 * OpenSSH's ssh-agent does so that ssh-add -h means the same here. Pure
 * functions of a peer and a key: no loop, no request.
 */
#ifndef KMES_POLICY_H
#define KMES_POLICY_H

#include <stddef.h>
#include <stdint.h>

struct kbuf;
struct ks_identity;
struct ks_key;
struct peer;

/* Records the binding in m on p. Returns 0 or a negative KMES_ERR_*. */
int policy_session_bind(struct peer *p, struct kbuf *m);
/* Returns 1 if p has a session binding, i.e. it may have come over ssh -A
 * from another host: such a peer may not load code or try PINs. */
int policy_peer_remote(const struct peer *p);
/* Returns 0 if p may see (user NULL) or sign for user with id; the hosts
 * the constraint names are returned when asked for. */
int policy_identity_permitted(const struct ks_identity *id,
    const struct peer *p, const char *user, const char **fwd_host,
    const char **dest_host);
/* Destination checks on a sign request (ssh-agent's order); *userp gets
 * the userauth request's user. Returns 0 or KMES_ERR_DENIED. */
int policy_check_sign(const struct peer *p, const struct ks_identity *id,
    const uint8_t *data, size_t dlen, char **userp);
/* Returns 1 if a and b are the same key (certificates: same cert). */
int policy_same_key(const struct ks_key *a, const struct ks_key *b);
/* Returns 1 if a userauth signature algorithm name fits key k. */
int policy_pkalg_matches(const char *pkalg, const struct ks_key *k);

#endif /* KMES_POLICY_H */
