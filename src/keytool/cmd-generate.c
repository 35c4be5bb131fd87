/*
 * cmd-generate.c: "kmes-keytool generate": make a key inside the store and
 * print its public half. The private half never leaves the process except
 * sealed into the store.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "keytool.h"
#include "kmes-err.h"
#include "store.h"

#define RSA_BITS_MIN 2048
#define RSA_BITS_MAX 8192
#define RSA_BITS_DEFAULT 3072

static const struct option generate_options[] = {
	{ "type", required_argument, NULL, 't' },
	{ "bits", required_argument, NULL, 'b' },
	{ "label", required_argument, NULL, 'l' },
	{ "confirm", no_argument, NULL, 'c' },
	{ "id", required_argument, NULL, 'i' },
	{ NULL, 0, NULL, 0 },
};

/* --id: 1 to KS_STORE_CKAID_MAX bytes in hex. Returns 0 or -1. */
static int
parse_id(const char *hex, uint8_t *id, size_t *lenp)
{
	size_t i, n = strlen(hex);
	char byte[3] = { 0, 0, 0 };

	if (n == 0 || n % 2 != 0 || n / 2 > KS_STORE_CKAID_MAX ||
	    strspn(hex, "0123456789abcdefABCDEF") != n)
		return -1;
	for (i = 0; i < n / 2; i++) {
		memcpy(byte, hex + 2 * i, 2);
		id[i] = (uint8_t)strtoul(byte, NULL, 16);
	}
	*lenp = n / 2;
	return 0;
}

/* Maps -t and -b to a key type; prints why not and returns -1. */
static int
pick_type(const char *name, unsigned long bits, enum ks_key_type *typep,
    unsigned int *bitsp)
{
	*bitsp = 0;
	if (strcmp(name, "ed25519") == 0) {
		if (bits != 0 && bits != 256) {
			kt_warnx("ed25519 keys are always 256 bits");
			return -1;
		}
		*typep = KS_KEY_ED25519;
	} else if (strcmp(name, "ecdsa") == 0) {
		switch (bits) {
		case 0:
		case 256:
			*typep = KS_KEY_ECDSA_P256;
			break;
		case 384:
			*typep = KS_KEY_ECDSA_P384;
			break;
		case 521:
			*typep = KS_KEY_ECDSA_P521;
			break;
		default:
			kt_warnx("ecdsa keys are 256, 384 or 521 bits");
			return -1;
		}
	} else if (strcmp(name, "rsa") == 0) {
		if (bits == 0)
			bits = RSA_BITS_DEFAULT;
		if (bits < RSA_BITS_MIN || bits > RSA_BITS_MAX) {
			kt_warnx("rsa keys are %d to %d bits", RSA_BITS_MIN,
			    RSA_BITS_MAX);
			return -1;
		}
		*typep = KS_KEY_RSA;
		*bitsp = (unsigned int)bits;
	} else {
		kt_warnx("unknown key type '%s' (ed25519, ecdsa or rsa)", name);
		return -1;
	}
	return 0;
}

int
cmd_generate(struct keytool *kt, int argc, char **argv)
{
	struct ks_store *s = NULL;
	struct ks_key *key = NULL;
	enum ks_key_type type = KS_KEY_UNKNOWN;
	const char *tname = NULL, *label = NULL;
	unsigned long bits = 0;
	unsigned int kbits = 0;
	uint32_t flags = KS_REC_GENERATED | KS_REC_NEVER_EXTRACTABLE;
	uint8_t id[KS_STORE_CKAID_MAX];
	size_t id_len = 0;
	int ch, r, status;

	while ((ch = kt_getopt(argc, argv, ":t:b:l:ci:", generate_options)) !=
	    -1) {
		switch (ch) {
		case 't':
			tname = optarg;
			break;
		case 'b':
			if (kt_parse_uint(optarg, 1, 65536, &bits) != 0) {
				kt_warnx("-b wants a number of bits");
				return kt_usage(kt);
			}
			break;
		case 'l':
			label = optarg;
			break;
		case 'c':
			flags |= KS_REC_CONFIRM;
			break;
		case 'i':
			if (parse_id(optarg, id, &id_len) != 0) {
				kt_warnx("--id wants 1 to %d bytes in hex",
				    KS_STORE_CKAID_MAX);
				return kt_usage(kt);
			}
			break;
		default:
			return kt_bad_option(kt, ch, argv);
		}
	}
	if (optind != argc || tname == NULL || label == NULL)
		return kt_usage(kt);
	if (pick_type(tname, bits, &type, &kbits) != 0)
		return KT_EXIT_USAGE;
	if ((status = kt_check_label(label)) != KT_EXIT_OK)
		return status;

	/* Fail before the key generation if we can. */
	if ((status = kt_open_for_new_key(kt, label, &s)) != KT_EXIT_OK)
		goto out;
	if ((r = ks_key_generate(type, kbits, &key)) != 0) {
		kt_warnx("cannot generate the key: %s", kmes_err(r));
		status = KT_EXIT_FAIL;
		goto out;
	}
	if ((status = kt_add_key_id(s, label, key, flags,
		 id_len != 0 ? id : NULL, id_len)) != KT_EXIT_OK)
		goto out;
	if ((r = kt_print_public(key, label)) != 0) {
		kt_warnx("key stored, but its public key cannot be shown: "
			 "%s",
		    kmes_err(r));
		status = KT_EXIT_FAIL;
		goto out;
	}
	status = KT_EXIT_OK;
out:
	ks_key_free(key);
	ks_store_free(s);
	return status;
}
