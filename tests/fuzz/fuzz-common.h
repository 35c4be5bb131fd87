/*
 * fuzz-common.h: what the libFuzzer targets share: one-time crypto set-up,
 * invariant checks that abort (so libFuzzer records the input), a leak
 * check for the memory LeakSanitizer cannot see, and the checks every
 * successfully parsed key must pass whichever parser produced it.
 */
#ifndef KMES_FUZZ_COMMON_H
#define KMES_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

struct ks_key;

/* libFuzzer's entry points. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reports a broken invariant and aborts. */
void fuzz_fail(const char *file, int line, const char *what)
    __attribute__((noreturn));

#define FUZZ_CHECK(cond) \
	do { \
		if (!(cond)) \
			fuzz_fail(__FILE__, __LINE__, #cond); \
	} while (0)

/* Checks that r is 0 or one of the KMES_ERR_* codes. */
#define FUZZ_CHECK_CODE(r) FUZZ_CHECK((r) <= 0 && (r) > KMES_ERR_LAST)

/* Runs ks_crypto_init once (an unlocked secure heap is good enough). */
void fuzz_init_crypto(void);

/*
 * Bracket one input. Private key bytes live in OpenSSL's secure heap and
 * in kmes_secure_alloc mappings, both outside malloc, so LeakSanitizer
 * never sees a key that is not freed; fuzz_end aborts unless both are
 * back where fuzz_begin found them.
 */
void fuzz_begin(void);
void fuzz_end(void);

/*
 * Checks a parsed public key or certificate: its blob parses back to the
 * same key (a fixed point), it has fingerprints, and its OpenSSH line
 * round-trips. Certificates must also keep their blob verbatim: pass the
 * bytes it was parsed from in orig (or NULL to skip that check).
 */
void fuzz_check_public_key(const struct ks_key *k, const uint8_t *orig,
    size_t orig_len);

/*
 * Checks a parsed private key: everything fuzz_check_public_key checks,
 * its agent wire form parses back to the same key, and (below a size
 * where it is slow) a signature it makes verifies under its public key,
 * which is what "the private key matches the public key" promises.
 */
void fuzz_check_private_key(const struct ks_key *k);

#endif /* KMES_FUZZ_COMMON_H */
