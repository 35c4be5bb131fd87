/*
 * cmd-recover.c: "kmes-keytool recover --out NEWFILE": salvage a damaged
 * key store. Every record whose own seal verifies goes into a new, fully
 * valid store; the damaged file is left alone, and NEWFILE must not exist.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "keytool.h"
#include "kmes-err.h"
#include "secmem.h"
#include "store.h"

static const struct option recover_options[] = {
	{ "out", required_argument, NULL, 'o' },
	{ NULL, 0, NULL, 0 },
};

/* Labels come from a damaged file, but parsing let no control byte by. */
static void
report_record(void *arg, long index, const char *label, int restored)
{
	const char *backup = arg;

	if (index < 0)
		printf("restored from %s: '%s' (not readable in the damaged "
		       "file)\n",
		    backup, label);
	else if (restored)
		printf("restored from %s: key %ld '%s' (damaged here)\n",
		    backup, index, label);
	else if (label != NULL)
		printf("lost: key %ld '%s'\n", index, label);
	else
		printf("lost: key %ld (its label is unreadable)\n", index);
}

int
cmd_recover(struct keytool *kt, int argc, char **argv)
{
	struct ks_recover_stats st;
	const char *out = NULL;
	char *backup = NULL;
	uint8_t *pin = NULL;
	size_t len = 0;
	int ch, r, status;

	while ((ch = kt_getopt(argc, argv, ":o:", recover_options)) != -1) {
		switch (ch) {
		case 'o':
			out = optarg;
			break;
		default:
			return kt_bad_option(kt, ch, argv);
		}
	}
	if (optind != argc || out == NULL || *out == '\0')
		return kt_usage(kt);
	if (asprintf(&backup, "%s.1", kt->store_path) < 0) {
		kt_warnx("out of memory");
		return KT_EXIT_FAIL;
	}
	if ((status = kt_read_secret(kt, KT_PIN,
		 "Enter the key store's PIN: ", 0, &pin, &len)) != KT_EXIT_OK)
		goto out;
	r = ks_store_recover(kt->store_path, pin, len, out, report_record,
	    backup, &st);
	switch (r) {
	case 0:
		break;
	case KMES_ERR_EXISTS:
		kt_warnx("%s exists: recover never writes over a file", out);
		status = KT_EXIT_FAIL;
		goto out;
	case KMES_ERR_PIN_INCORRECT:
		kt_warnx("wrong PIN (it counts as a try)");
		status = KT_EXIT_PIN;
		goto out;
	case KMES_ERR_PIN_LOCKED:
		kt_warnx("the PIN is blocked: unblock it with '" KT_PROG
			 " unblock' and the SO PIN, then recover");
		status = KT_EXIT_BLOCKED;
		goto out;
	case KMES_ERR_STORE_CORRUPT:
		kt_warnx("neither %s nor its backup %s can be read: nothing "
			 "to recover",
		    kt->store_path, backup);
		status = KT_EXIT_CORRUPT;
		goto out;
	default:
		kt_warnx("cannot recover %s into %s: %s", kt->store_path, out,
		    kmes_err(r));
		status = kt_exit_status(r);
		goto out;
	}
	if (st.from_backup)
		printf("%s is unusable: the PIN opened its backup %s\n",
		    kt->store_path, backup);
	printf("%s: %zu key(s) kept, %zu restored from %s, %zu lost\n", out,
	    st.kept, st.restored, backup, st.lost);
	/* The user decides whether to move it into place. */
	printf("check it with '" KT_PROG " --store %s verify', then move it "
	       "over %s\n",
	    out, kt->store_path);
	status = KT_EXIT_OK;
out:
	kmes_secure_free(pin);
	free(backup);
	return status;
}
