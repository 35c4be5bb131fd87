/*
 * fuzz-keyfile.c: private key files as kmes-keytool import reads them
 * (openssh-key-v1, armoured or not; PEM and PKCS#8 through OpenSSL):
 * ks_keyfile_encrypted, then ks_keyfile_parse with no passphrase and with
 * a fixed one. A key that parses must be a sound private key; the two
 * answers must agree with each other and with ks_keyfile_encrypted.
 *
 * Two costs are capped here, not in the parser, so that one input takes
 * milliseconds and not minutes; the parsing paths are the same:
 *  - bcrypt_pbkdf: the parser allows up to KS_BCRYPT_ROUNDS_MAX (10000)
 *    rounds, about 18 ms each under ASan: three minutes for one input.
 *    This target is linked with --wrap=ks_bcrypt_pbkdf and refuses more
 *    than FUZZ_BCRYPT_ROUNDS, as the real function refuses rounds above
 *    its cap. It also remembers the last derivation, so mutants of an
 *    encrypted seed that keep its header reach the decrypted section at
 *    full speed (with a -ctr cipher, flipping ciphertext bits flips
 *    plaintext bits: the section parser gets fuzzed through the cipher).
 *  - PKCS#8 "ENCRYPTED PRIVATE KEY": OpenSSL runs PBKDF2 or scrypt with
 *    whatever cost the file names (any 32-bit iteration count), so such
 *    inputs get no passphrase; OpenSSL is not what is fuzzed here.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h> /* memmem: _GNU_SOURCE is a project argument */

#include "crypto.h"
#include "fuzz-common.h"
#include "keyfile.h"
#include "kmes-err.h"

#define FUZZ_PASSPHRASE "fuzz-passphrase"
#define FUZZ_BCRYPT_ROUNDS 4

int __real_ks_bcrypt_pbkdf(const uint8_t *pass, size_t passlen,
    const uint8_t *salt, size_t saltlen, unsigned int rounds, uint8_t *key,
    size_t keylen);
int __wrap_ks_bcrypt_pbkdf(const uint8_t *pass, size_t passlen,
    const uint8_t *salt, size_t saltlen, unsigned int rounds, uint8_t *key,
    size_t keylen);

/* The last successful derivation (a test passphrase: no secret here). */
static struct {
	int valid;
	uint8_t pass[64];
	size_t passlen;
	uint8_t salt[KS_BCRYPT_SALT_MAX];
	size_t saltlen;
	unsigned int rounds;
	uint8_t key[KS_BCRYPT_KEY_MAX];
	size_t keylen;
} bcrypt_cache;

int
__wrap_ks_bcrypt_pbkdf(const uint8_t *pass, size_t passlen, const uint8_t *salt,
    size_t saltlen, unsigned int rounds, uint8_t *key, size_t keylen)
{
	int r;

	/* The parser's own caps must already hold. */
	FUZZ_CHECK(rounds >= 1 && rounds <= KS_BCRYPT_ROUNDS_MAX);
	FUZZ_CHECK(saltlen >= 1 && saltlen <= KS_BCRYPT_SALT_MAX);
	FUZZ_CHECK(keylen >= 1 && keylen <= KS_BCRYPT_KEY_MAX);
	if (rounds > FUZZ_BCRYPT_ROUNDS)
		return KMES_ERR_INVALID_ARGUMENT;
	if (bcrypt_cache.valid && bcrypt_cache.passlen == passlen &&
	    memcmp(bcrypt_cache.pass, pass, passlen) == 0 &&
	    bcrypt_cache.saltlen == saltlen &&
	    memcmp(bcrypt_cache.salt, salt, saltlen) == 0 &&
	    bcrypt_cache.rounds == rounds && bcrypt_cache.keylen == keylen) {
		memcpy(key, bcrypt_cache.key, keylen);
		return 0;
	}
	r = __real_ks_bcrypt_pbkdf(pass, passlen, salt, saltlen, rounds, key,
	    keylen);
	if (r != 0 || passlen > sizeof(bcrypt_cache.pass))
		return r;
	bcrypt_cache.valid = 1;
	memcpy(bcrypt_cache.pass, pass, passlen);
	bcrypt_cache.passlen = passlen;
	memcpy(bcrypt_cache.salt, salt, saltlen);
	bcrypt_cache.saltlen = saltlen;
	bcrypt_cache.rounds = rounds;
	memcpy(bcrypt_cache.key, key, keylen);
	bcrypt_cache.keylen = keylen;
	return 0;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init_crypto();
	return 0;
}

static void
check_parsed(const struct ks_key *k, const char *comment)
{
	FUZZ_CHECK(k != NULL && comment != NULL);
	/* Key files hold plain keys; certificates come as -cert.pub. */
	FUZZ_CHECK(!ks_key_is_cert(k));
	fuzz_check_private_key(k);
}

static int
same_key(const struct ks_key *a, const struct ks_key *b)
{
	const uint8_t *ba, *bb;
	size_t la, lb;

	ba = ks_key_blob(a, &la);
	bb = ks_key_blob(b, &lb);
	return la == lb && memcmp(ba, bb, la) == 0 && ks_key_equal_public(a, b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char pkcs8_enc[] = "ENCRYPTED PRIVATE KEY";
	struct ks_key *k = NULL, *kp = NULL;
	char *comment = NULL, *commentp = NULL;
	int enc, r, rp;

	fuzz_begin();
	enc = ks_keyfile_encrypted(data, size);
	FUZZ_CHECK(enc == 0 || enc == 1 || (enc < 0 && enc > KMES_ERR_LAST));
	FUZZ_CHECK(enc != KMES_ERR_MESSAGE_INCOMPLETE);

	r = ks_keyfile_parse(data, size, NULL, 0, &k, &comment);
	FUZZ_CHECK_CODE(r);
	FUZZ_CHECK(r != KMES_ERR_MESSAGE_INCOMPLETE);
	if (r != 0)
		FUZZ_CHECK(k == NULL && comment == NULL);
	else {
		/* Parsed without a passphrase: it was not encrypted. */
		FUZZ_CHECK(enc == 0);
		check_parsed(k, comment);
	}
	if (enc == 1)
		FUZZ_CHECK(r != 0);

	if (memmem(data, size, pkcs8_enc, strlen(pkcs8_enc)) != NULL)
		goto out;
	rp = ks_keyfile_parse(data, size, (const uint8_t *)FUZZ_PASSPHRASE,
	    strlen(FUZZ_PASSPHRASE), &kp, &commentp);
	FUZZ_CHECK_CODE(rp);
	FUZZ_CHECK(rp != KMES_ERR_MESSAGE_INCOMPLETE);
	if (rp != 0)
		FUZZ_CHECK(kp == NULL && commentp == NULL);
	else
		check_parsed(kp, commentp);
	/* A passphrase changes nothing for a file that needs none. */
	if (r == 0) {
		FUZZ_CHECK(rp == 0 && same_key(k, kp));
		FUZZ_CHECK(strcmp(comment, commentp) == 0);
	}
out:
	ks_key_free(k);
	ks_key_free(kp);
	free(comment);
	free(commentp);
	fuzz_end();
	return 0;
}
