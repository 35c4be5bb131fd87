/*
 * cmd-verify.c: "kmes-keytool verify": decrypt and check every record and
 * the whole-store MAC; exit 0 only if all of it is intact.
 */
#include <stdio.h>

#include "keytool.h"
#include "kmes-err.h"
#include "store.h"

int
cmd_verify(struct keytool *kt, int argc, char **argv)
{
	struct ks_store *s = NULL;
	struct ks_store_entry e;
	long bad = -1;
	int r, status;

	if ((status = kt_no_arguments(kt, argc, argv)) != KT_EXIT_OK)
		return status;
	if ((status = kt_open_store(kt, &s)) != KT_EXIT_OK)
		return status;
	if ((status = kt_login(kt, s, 0)) != KT_EXIT_OK)
		goto out;
	if ((r = ks_store_verify(s, &bad)) != 0) {
		if (r != KMES_ERR_STORE_CORRUPT)
			kt_warnx("cannot verify %s: %s", kt->store_path,
			    kmes_err(r));
		else if (bad >= 0 && ks_store_entry(s, (size_t)bad, &e) == 0)
			kt_warnx(
			    "the key store %s is damaged: key %ld ('%s') "
			    "failed its integrity check; save the others with '" KT_PROG
			    " recover --out NEWFILE'",
			    kt->store_path, bad, e.label);
		else
			kt_warnx(
			    "the key store %s is damaged: its header or "
			    "MAC failed the integrity check; save its keys "
			    "with '" KT_PROG " recover --out NEWFILE'",
			    kt->store_path);
		status = r == KMES_ERR_STORE_CORRUPT ? KT_EXIT_CORRUPT :
						       kt_exit_status(r);
		goto out;
	}
	printf("%s: intact, %zu keys checked\n", kt->store_path,
	    ks_store_count(s));
	status = KT_EXIT_OK;
out:
	ks_store_free(s);
	return status;
}
