/*
 * cmd-list.c: "kmes-keytool list": the keys as "ssh-add -l" shows them.
 * Reads only the public part of the store, so no PIN is asked.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "keytool.h"
#include "kmes-err.h"
#include "store.h"

static const struct option list_options[] = {
	{ NULL, 0, NULL, 0 },
};

/* A PKCS#11 CKA_ID given to the key, in hex as --id takes it. */
static void
print_id(const struct ks_store_entry *e)
{
	size_t i;

	if (e->ckaid_len == 0)
		return;
	printf(" [id=");
	for (i = 0; i < e->ckaid_len; i++)
		printf("%02x", e->ckaid[i]);
	putchar(']');
}

int
cmd_list(struct keytool *kt, int argc, char **argv)
{
	struct ks_store *s = NULL;
	struct ks_store_entry e;
	struct ks_key *key = NULL;
	enum ks_fp_hash alg = KS_FP_SHA256;
	char fp[KS_FP_MAX];
	size_t i, n;
	int ch, r, status;

	while ((ch = kt_getopt(argc, argv, ":E:", list_options)) != -1) {
		switch (ch) {
		case 'E':
			if (strcmp(optarg, "sha256") == 0)
				alg = KS_FP_SHA256;
			else if (strcmp(optarg, "md5") == 0)
				alg = KS_FP_MD5;
			else {
				kt_warnx("-E wants sha256 or md5");
				return kt_usage(kt);
			}
			break;
		default:
			return kt_bad_option(kt, ch, argv);
		}
	}
	if (optind != argc)
		return kt_usage(kt);
	if ((status = kt_open_store(kt, &s)) != KT_EXIT_OK)
		return status;

	n = ks_store_count(s);
	for (i = 0; i < n; i++) {
		if ((r = ks_store_entry(s, i, &e)) != 0 ||
		    (r = ks_key_from_blob(e.blob, e.blob_len, &key)) != 0 ||
		    (r = ks_key_fingerprint(key, alg, fp, sizeof(fp))) != 0) {
			kt_warnx("record %zu: unreadable public key (%s)", i,
			    kmes_err(r));
			status = KT_EXIT_CORRUPT;
			ks_key_free(key);
			key = NULL;
			continue;
		}
		printf("%u %s %s (%s)%s", ks_key_bits(key), fp, e.label,
		    ks_key_short_name(key),
		    (e.flags & KS_REC_CONFIRM) ? " [confirm]" : "");
		print_id(&e);
		putchar('\n');
		ks_key_free(key);
		key = NULL;
	}
	ks_store_free(s);
	return status;
}
