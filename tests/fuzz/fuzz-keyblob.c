/*
 * fuzz-keyblob.c: public key and certificate blobs (ks_key_from_blob,
 * which every blob from a client, a store file or a .pub file goes
 * through, certificate CA signatures included), and the same bytes as an
 * OpenSSH public key line (ks_key_from_openssh_line). What parses must
 * round-trip: blob, plain blob, fingerprints, OpenSSH line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "fuzz-common.h"
#include "kmes-err.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init_crypto();
	return 0;
}

static void
blob(const uint8_t *data, size_t size)
{
	struct ks_key *k = NULL;
	int r;

	r = ks_key_from_blob(data, size, &k);
	FUZZ_CHECK_CODE(r);
	if (r != 0) {
		FUZZ_CHECK(k == NULL);
		return;
	}
	FUZZ_CHECK(k != NULL && !ks_key_has_private(k));
	fuzz_check_public_key(k, data, size);
	ks_key_free(k);
}

static void
line(const uint8_t *data, size_t size)
{
	struct ks_key *k = NULL;
	char *text;
	int r;

	/* The parser takes a C string: what follows a NUL is not seen. */
	FUZZ_CHECK((text = malloc(size + 1)) != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	r = ks_key_from_openssh_line(text, &k);
	FUZZ_CHECK_CODE(r);
	if (r == 0) {
		FUZZ_CHECK(k != NULL && !ks_key_has_private(k));
		/* The type word must have named the key's own type. */
		FUZZ_CHECK(strstr(text, ks_key_type_name(k)) != NULL);
		fuzz_check_public_key(k, NULL, 0);
	} else
		FUZZ_CHECK(k == NULL);
	ks_key_free(k);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_begin();
	blob(data, size);
	line(data, size);
	fuzz_end();
	return 0;
}
