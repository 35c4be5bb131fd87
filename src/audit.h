/*
 * audit.h: --audit-log, one JSON line per signature, unlock attempt and
 * provider change; never a secret.
 */
#ifndef KMES_AUDIT_H
#define KMES_AUDIT_H

#include <stddef.h>
#include <stdint.h>

struct ks_identity;
struct peer;

/* Opens (creating 0600) the audit log. Returns 0, or -1 with errno set. */
int audit_open(const char *path);
int audit_enabled(void);
void audit_close(void);
/* A sign request's outcome; id may be NULL (unknown key: blob is used). */
void audit_sign(const struct peer *p, const struct ks_identity *id,
    const uint8_t *blob, size_t blob_len, const char *result,
    const char *reason);
/* An unlock attempt on target "agent", "keystore" or "token". */
void audit_unlock(const struct peer *p, const char *target, const char *result);
/* A PKCS#11 provider add or remove (op), its outcome and why. */
void audit_provider(const struct peer *p, const char *op, const char *module,
    const char *result, const char *reason);

#endif /* KMES_AUDIT_H */
