/*
 * cmd-delete.c: "kmes-keytool delete": remove a key from the store.
 */
#include "keytool.h"
#include "kmes-err.h"
#include "store.h"

int
cmd_delete(struct keytool *kt, int argc, char **argv)
{
	struct ks_store *s = NULL;
	const char *label;
	int r, status;

	if ((status = kt_one_argument(kt, argc, argv, &label)) != KT_EXIT_OK)
		return status;
	if ((status = kt_open_store(kt, &s)) != KT_EXIT_OK)
		return status;
	if (kt_find_label(s, label) < 0) {
		status = KT_EXIT_FAIL;
		goto out;
	}
	if ((status = kt_login(kt, s, 0)) != KT_EXIT_OK)
		goto out;
	if ((r = ks_store_delete_key(s, label)) != 0) {
		/* Someone else deleted it after we looked. */
		if (r == KMES_ERR_KEY_NOT_FOUND)
			kt_warnx("no key labelled '%s' in the store", label);
		else
			kt_warnx("cannot delete '%s': %s", label, kmes_err(r));
		status = kt_exit_status(r);
		goto out;
	}
	status = KT_EXIT_OK;
 out:
	ks_store_free(s);
	return status;
}
