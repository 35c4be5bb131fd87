/*
 * keyfile.h: reading private key files for import into the store:
 * OpenSSH's "openssh-key-v1" format (unencrypted, or bcrypt-pbkdf with
 * aes128/192/256-ctr and -cbc, aes128/256-gcm@openssh.com,
 * chacha20-poly1305@openssh.com) and PEM / PKCS#8
 * (RSA, EC, Ed25519; encrypted or not).
 */
#ifndef KMES_KEYFILE_H
#define KMES_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

struct ks_key;

/* Returns 1 if the file needs a passphrase, 0 if not, or KMES_ERR_*. */
int ks_keyfile_encrypted(const uint8_t *data, size_t len);

/*
 * Parses a private key file. passphrase may be NULL for an unencrypted
 * file. On success *keyp holds the private key (in the secure heap) and
 * *commentp (if not NULL) a malloc'd comment, possibly empty.
 * Returns 0, KMES_ERR_PASSPHRASE_REQUIRED, KMES_ERR_PASSPHRASE_INCORRECT,
 * KMES_ERR_KEY_UNSUPPORTED, KMES_ERR_INVALID_FORMAT or KMES_ERR_*.
 */
int ks_keyfile_parse(const uint8_t *data, size_t len, const uint8_t *passphrase,
    size_t passlen, struct ks_key **keyp, char **commentp)
    __attribute__((warn_unused_result));

#endif /* KMES_KEYFILE_H */
