/*
 * test-util.h: helpers for the keystore unit tests on top of testutil.h:
 * keys, private blobs and certificate forms cut from what ssh-keygen
 * writes into the scratch directory.
 */
#ifndef KMES_TEST_UTIL_H
#define KMES_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "testutil.h"

struct kbuf;
struct ks_key;

/* Loads name.pub (or any OpenSSH public key line file) as a key. */
struct ks_key *tu_load_pub(const char *name);

/*
 * Returns a new buffer holding exactly the private key as ssh-add sends it
 * (type name and fields, no comment), cut from an unencrypted OpenSSH
 * private key file without using the code under test.
 */
struct kbuf *tu_private_blob(const char *name);

/*
 * Builds the ADD_IDENTITY private form of a certificate from the
 * certificate and the plain private form of its key.
 */
struct kbuf *tu_cert_private(const struct ks_key *cert,
    const struct kbuf *plain_priv);

#endif /* KMES_TEST_UTIL_H */
