/*
 * cmd-info.c: "kmes-keytool info": facts about the store from its public
 * header, one "name: value" line each, so no PIN is asked.
 */
#include <stdio.h>

#include "keytool.h"
#include "store.h"

int
cmd_info(struct keytool *kt, int argc, char **argv)
{
	struct ks_store *s = NULL;
	struct ks_store_kdf kdf;
	const uint8_t *id;
	uint32_t failures, so;
	int i, status;

	if ((status = kt_no_arguments(kt, argc, argv)) != KT_EXIT_OK)
		return status;
	if ((status = kt_open_store(kt, &s)) != KT_EXIT_OK)
		return status;
	failures = ks_store_pin_failures(s);
	ks_store_kdf_params(s, &kdf);

	printf("path: %s\n", ks_store_path(s));
	printf("label: %s\n", ks_store_label(s));
	printf("id: ");
	id = ks_store_id(s);
	for (i = 0; i < KS_STORE_ID_LEN; i++)
		printf("%02x", id[i]);
	printf("\n");
	printf("keys: %zu\n", ks_store_count(s));
	printf("pin-failures: %u\n", (unsigned int)failures);
	printf("pin-tries-left: %u\n",
	    failures >= KS_STORE_MAX_TRIES ?
		0 :
		(unsigned int)(KS_STORE_MAX_TRIES - failures));
	printf("pin-blocked: %s\n", ks_store_pin_blocked(s) ? "yes" : "no");
	/* A blocked SO PIN cannot be unblocked by anything: say how close. */
	so = ks_store_so_pin_failures(s);
	printf("so-pin-failures: %u\n", (unsigned int)so);
	printf("so-pin-tries-left: %u\n",
	    so >= KS_STORE_MAX_TRIES ? 0 :
				       (unsigned int)(KS_STORE_MAX_TRIES - so));
	printf("so-pin-blocked: %s\n", so >= KS_STORE_MAX_TRIES ? "yes" : "no");
	printf("kdf: scrypt log2n=%u r=%u p=%u\n", (unsigned int)kdf.log2_n,
	    (unsigned int)kdf.r, (unsigned int)kdf.p);
	ks_store_free(s);
	return KT_EXIT_OK;
}
