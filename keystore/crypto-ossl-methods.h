/*
 * crypto-ossl-methods.h: legacy RSA and EC_KEY objects bound to OpenSSL's
 * own methods, never the process's default ENGINE. Only the files that
 * include <openssl/...> (crypto-ossl.c, pkcs11/crypto-p11.c) include this.
 */
#ifndef KMES_CRYPTO_OSSL_METHODS_H
#define KMES_CRYPTO_OSSL_METHODS_H

#include <openssl/ec.h>
#include <openssl/rsa.h>

/*
 * A host of the PKCS#11 module may have set a default ENGINE (openssl
 * -engine pkcs11 sets libp11's for everything): it would be handed our
 * private keys, and fails on keys it did not make. Each returns a new
 * object with OpenSSL's own methods, or NULL.
 */
RSA *ks_ossl_rsa_new(void);
EC_KEY *ks_ossl_ec_key_new(int nid);

#endif /* KMES_CRYPTO_OSSL_METHODS_H */
