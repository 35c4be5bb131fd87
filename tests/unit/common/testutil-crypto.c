/*
 * testutil-crypto.c: crypto set-up for the tests that link the keystore.
 * Its own file, so the archive member (and OpenSSL) stays out of the
 * agent-protocol tests, which never call it.
 */
#include <stdio.h>

#include "crypto.h"
#include "kmes-err.h"
#include "testutil.h"

int
tu_crypto_init(void)
{
	int r;

	/* An unlocked heap still works; the heap tests report it. */
	r = ks_crypto_init(0);
	if (r != 0 && r != KMES_ERR_SYSTEM) {
		fprintf(stderr, "ks_crypto_init: %s\n", kmes_err(r));
		return -1;
	}
	return 0;
}
