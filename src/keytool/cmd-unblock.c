/*
 * cmd-unblock.c: "kmes-keytool unblock": the SO (recovery) PIN sets a new
 * user PIN and clears the failure counter, blocked or not.
 */
#include "keytool.h"
#include "kmes-err.h"
#include "secmem.h"
#include "store.h"

int
cmd_unblock(struct keytool *kt, int argc, char **argv)
{
	struct ks_store *s = NULL;
	uint8_t *pin = NULL;
	size_t len = 0;
	int r, status;

	if ((status = kt_no_arguments(kt, argc, argv)) != KT_EXIT_OK)
		return status;
	if ((status = kt_open_store(kt, &s)) != KT_EXIT_OK)
		return status;
	if ((status = kt_login(kt, s, 1)) != KT_EXIT_OK ||
	    (status = kt_read_new_pin(kt, "Enter the new PIN: ", &pin,
	    &len)) != KT_EXIT_OK)
		goto out;
	if ((r = ks_store_set_pin(s, pin, len)) != 0) {
		kt_warnx("cannot set the new PIN: %s", kmes_err(r));
		status = kt_exit_status(r);
		goto out;
	}
	status = KT_EXIT_OK;
 out:
	kmes_secure_free(pin);
	ks_store_free(s);
	return status;
}
