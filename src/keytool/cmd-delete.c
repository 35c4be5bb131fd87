/*
 * cmd-delete.c: "kmes-keytool delete": remove a key from the store. On a
 * terminal it asks first (a key made inside the store exists nowhere
 * else); --yes answers for scripts.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "keytool.h"
#include "kmes-err.h"
#include "store.h"

static const struct option delete_options[] = {
	{ "yes", no_argument, NULL, 'y' },
	{ NULL, 0, NULL, 0 },
};

/* Asks on the terminal; returns 1 for yes. */
static int
confirmed(const char *label, const char *desc, const char *store)
{
	char line[16];

	fprintf(stderr,
	    "Delete key '%s' (%s) from key store '%s'? It "
	    "cannot be undone. [y/N] ",
	    label, desc, store);
	fflush(stderr);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 0;
	line[strcspn(line, "\r\n")] = '\0';
	return strcasecmp(line, "y") == 0 || strcasecmp(line, "yes") == 0;
}

int
cmd_delete(struct keytool *kt, int argc, char **argv)
{
	struct ks_store *s = NULL;
	struct ks_store_entry e;
	const char *label;
	char desc[128];
	long i;
	int ch, r, status, yes = 0;

	while ((ch = kt_getopt(argc, argv, "+:y", delete_options)) != -1) {
		if (ch != 'y')
			return kt_bad_option(kt, ch, argv);
		yes = 1;
	}
	if (optind != argc - 1)
		return kt_usage(kt);
	label = argv[optind];
	if ((status = kt_open_store(kt, &s)) != KT_EXIT_OK)
		return status;
	if ((i = kt_find_label(s, label)) < 0 ||
	    ks_store_entry(s, (size_t)i, &e) != 0) {
		status = KT_EXIT_FAIL;
		goto out;
	}
	kt_blob_desc(e.blob, e.blob_len, desc, sizeof(desc));
	if (!yes && isatty(STDIN_FILENO) && isatty(STDERR_FILENO) &&
	    !confirmed(label, desc, ks_store_label(s))) {
		kt_warnx("nothing deleted");
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
	kt_said("deleted key '%s' (%s)", label, desc);
	status = KT_EXIT_OK;
out:
	ks_store_free(s);
	return status;
}
