/*
 * cmd-export-public.c: "kmes-keytool export-public": a key's OpenSSH public
 * key line, ready for authorized_keys. There is deliberately no command
 * that exports a private key.
 */
#include "crypto.h"
#include "keytool.h"
#include "kmes-err.h"
#include "store.h"

int
cmd_export_public(struct keytool *kt, int argc, char **argv)
{
	struct ks_store *s = NULL;
	struct ks_store_entry e;
	struct ks_key *key = NULL;
	const char *label;
	long i;
	int r, status;

	if ((status = kt_one_argument(kt, argc, argv, &label)) != KT_EXIT_OK)
		return status;
	if ((status = kt_open_store(kt, &s)) != KT_EXIT_OK)
		return status;
	if ((i = kt_find_label(s, label)) < 0) {
		status = KT_EXIT_FAIL;
		goto out;
	}
	if ((r = ks_store_entry(s, (size_t)i, &e)) != 0 ||
	    (r = ks_key_from_blob(e.blob, e.blob_len, &key)) != 0 ||
	    (r = kt_print_public(key, e.label)) != 0) {
		kt_warnx("'%s': unreadable public key (%s)", label,
		    kmes_err(r));
		status = KT_EXIT_CORRUPT;
		goto out;
	}
	status = KT_EXIT_OK;
out:
	ks_key_free(key);
	ks_store_free(s);
	return status;
}
