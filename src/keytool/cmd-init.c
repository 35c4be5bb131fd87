/*
 * cmd-init.c: "kmes-keytool init": create a new, empty key store.
 */
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "keytool.h"
#include "kmes-err.h"
#include "secmem.h"
#include "store.h"

#define DEFAULT_STORE_LABEL "kmes"
/* scrypt's N is 2^log2n; beyond 2^30 no machine has the memory anyway. */
#define KDF_LOG2N_MAX 30

static const struct option init_options[] = {
	{ "label", required_argument, NULL, 'l' },
	{ "kdf-cost", required_argument, NULL, 'k' },
	{ NULL, 0, NULL, 0 },
};

int
cmd_init(struct keytool *kt, int argc, char **argv)
{
	struct ks_store_kdf kdf, *kdfp = NULL;
	struct stat st;
	const char *label = DEFAULT_STORE_LABEL;
	uint8_t *pin = NULL, *so_pin = NULL;
	size_t pinlen = 0, so_pinlen = 0;
	unsigned long v;
	int ch, r, status;

	while ((ch = kt_getopt(argc, argv, ":l:", init_options)) != -1) {
		switch (ch) {
		case 'l':
			label = optarg;
			break;
		case 'k':
			if (kt_parse_uint(optarg, 1, KDF_LOG2N_MAX, &v) != 0) {
				kt_warnx("--kdf-cost wants log2 of scrypt's N, "
					 "1 to %d",
				    KDF_LOG2N_MAX);
				return kt_usage(kt);
			}
			memset(&kdf, 0, sizeof(kdf));
			kdf.log2_n = (uint8_t)v;
			kdf.r = 8;
			kdf.p = 1;
			kdfp = &kdf;
			break;
		default:
			return kt_bad_option(kt, ch, argv);
		}
	}
	if (optind != argc)
		return kt_usage(kt);
	if ((status = kt_check_label(label)) != KT_EXIT_OK)
		return status;
	/* Say so before asking for two PINs; the library checks again. */
	if (lstat(kt->store_path, &st) == 0) {
		kt_warnx("%s already exists; refusing to overwrite it",
		    kt->store_path);
		return KT_EXIT_FAIL;
	}

	if ((status = kt_read_secret(kt, KT_PIN,
		 "Enter a PIN for the new key store: ", 1, &pin, &pinlen)) !=
		KT_EXIT_OK ||
	    (status = kt_read_secret(kt, KT_SO_PIN,
		 "Enter an SO (recovery) PIN: ", 1, &so_pin, &so_pinlen)) !=
		KT_EXIT_OK)
		goto out;
	r = ks_store_create(kt->store_path, label, pin, pinlen, so_pin,
	    so_pinlen, kdfp);
	switch (r) {
	case 0:
		kt_said("created key store '%s' at %s",
		    label != NULL ? label : "kmes", kt->store_path);
		status = KT_EXIT_OK;
		break;
	case KMES_ERR_EXISTS:
		kt_warnx("%s already exists; refusing to overwrite it",
		    kt->store_path);
		status = KT_EXIT_FAIL;
		break;
	case KMES_ERR_SYSTEM:
		kt_warnx("cannot create the key store %s: %s", kt->store_path,
		    strerror(errno));
		status = KT_EXIT_FAIL;
		break;
	default:
		kt_warnx("cannot create the key store %s: %s", kt->store_path,
		    kmes_err(r));
		status = KT_EXIT_FAIL;
		break;
	}
out:
	kmes_secure_free(pin);
	kmes_secure_free(so_pin);
	return status;
}
