/*
 * cmd-rename.c: "kmes-keytool rename": give a key a new label. The label
 * is sealed with the key (a record's metadata is authenticated), so this
 * needs the PIN like any change.
 */
#include "keytool.h"
#include "kmes-err.h"
#include "store.h"

int
cmd_rename(struct keytool *kt, int argc, char **argv)
{
	struct ks_store *s = NULL;
	const char *from, *to;
	int r, status;

	/* "+": labels after "--" stay labels. */
	if ((status = kt_no_options(kt, argc, argv)) != KT_EXIT_OK)
		return status;
	if (optind != argc - 2)
		return kt_usage(kt);
	from = argv[optind];
	to = argv[optind + 1];
	if ((status = kt_check_label(to)) != KT_EXIT_OK)
		return status;
	if ((status = kt_open_store(kt, &s)) != KT_EXIT_OK)
		return status;
	if (kt_find_label(s, from) < 0) {
		status = KT_EXIT_FAIL;
		goto out;
	}
	if (ks_store_find(s, to) >= 0) {
		kt_warnx("a key labelled '%s' already exists", to);
		status = KT_EXIT_FAIL;
		goto out;
	}
	if ((status = kt_login(kt, s, 0)) != KT_EXIT_OK)
		goto out;
	if ((r = ks_store_set_meta(s, from, to, NULL, 0)) != 0) {
		kt_warnx("cannot rename '%s': %s", from, kmes_err(r));
		status = kt_exit_status(r);
		goto out;
	}
	kt_said("renamed key '%s' to '%s'", from, to);
	status = KT_EXIT_OK;
out:
	ks_store_free(s);
	return status;
}
