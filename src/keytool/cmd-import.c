/*
 * cmd-import.c: "kmes-keytool import": seal an existing private key file
 * (OpenSSH or PEM/PKCS#8, encrypted or not) into the store.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "keyfile.h"
#include "keytool.h"
#include "kmes-err.h"
#include "secmem.h"
#include "store.h"

/* An OpenSSH RSA-16384 key is about 13 KiB; nothing real comes near this. */
#define KEYFILE_MAX (64 * 1024)

static const struct option import_options[] = {
	{ "label", required_argument, NULL, 'l' },
	{ "confirm", no_argument, NULL, 'c' },
	{ NULL, 0, NULL, 0 },
};

/*
 * Reads the whole key file ("-" for stdin) into locked memory: an
 * unencrypted key file is the private key itself.
 */
static int
read_keyfile(const char *path, uint8_t **datap, size_t *lenp)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	ssize_t rr;
	int fd = -1, status = KT_EXIT_FAIL;

	*datap = NULL;
	*lenp = 0;
	if (strcmp(path, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		kt_warnx("%s: %s", path, strerror(errno));
		goto out;
	}
	/* One spare byte tells "exactly the cap" from "too big". */
	if ((buf = kmes_secure_alloc(KEYFILE_MAX + 1)) == NULL) {
		kt_warnx("out of locked memory");
		goto out;
	}
	for (;;) {
		rr = read(fd, buf + len, KEYFILE_MAX + 1 - len);
		if (rr == -1) {
			if (errno == EINTR)
				continue;
			kt_warnx("%s: %s", path, strerror(errno));
			goto out;
		}
		if (rr == 0)
			break;
		len += (size_t)rr;
		if (len > KEYFILE_MAX) {
			kt_warnx("%s: too large for a private key file", path);
			goto out;
		}
	}
	if (len == 0) {
		kt_warnx("%s: empty file", path);
		goto out;
	}
	*datap = buf;
	*lenp = len;
	buf = NULL;
	status = KT_EXIT_OK;
out:
	if (fd != -1 && fd != STDIN_FILENO)
		close(fd);
	kmes_secure_free(buf);
	return status;
}

static int
keyfile_error(const char *path, int r)
{
	switch (r) {
	case KMES_ERR_PASSPHRASE_INCORRECT:
		kt_warnx("%s: wrong passphrase", path);
		break;
	case KMES_ERR_PASSPHRASE_REQUIRED:
		kt_warnx("%s: the key is encrypted and needs a passphrase",
		    path);
		break;
	case KMES_ERR_KEY_UNSUPPORTED:
		kt_warnx("%s: unsupported key type or encryption", path);
		break;
	case KMES_ERR_INVALID_FORMAT:
		kt_warnx("%s: not an OpenSSH, PEM or PKCS#8 private key", path);
		break;
	default:
		kt_warnx("%s: %s", path, kmes_err(r));
		break;
	}
	return kt_exit_status(r);
}

int
cmd_import(struct keytool *kt, int argc, char **argv)
{
	struct ks_store *s = NULL;
	struct ks_key *key = NULL;
	const char *label = NULL, *path;
	uint8_t *data = NULL, *pass = NULL;
	size_t len = 0, passlen = 0;
	uint32_t flags = KS_REC_NEVER_EXTRACTABLE;
	struct ks_store_entry e;
	const uint8_t *blob;
	size_t blob_len;
	char desc[128];
	long dup;
	int ch, r, status, encrypted;

	while ((ch = kt_getopt(argc, argv, ":l:c", import_options)) != -1) {
		switch (ch) {
		case 'l':
			label = optarg;
			break;
		case 'c':
			flags |= KS_REC_CONFIRM;
			break;
		default:
			return kt_bad_option(kt, ch, argv);
		}
	}
	if (optind != argc - 1 || label == NULL)
		return kt_usage(kt);
	path = argv[optind];
	if ((status = kt_check_label(label)) != KT_EXIT_OK)
		return status;

	if ((status = read_keyfile(path, &data, &len)) != KT_EXIT_OK)
		goto out;
	if ((encrypted = ks_keyfile_encrypted(data, len)) < 0) {
		status = keyfile_error(path, encrypted);
		goto out;
	}
	/* The PIN first, then the passphrase: see "PINs" in the manual. */
	if ((status = kt_open_for_new_key(kt, label, &s)) != KT_EXIT_OK)
		goto out;
	if (encrypted &&
	    (status = kt_read_secret(kt, KT_PASSPHRASE,
		 "Enter the passphrase of the key file: ", 0, &pass,
		 &passlen)) != KT_EXIT_OK)
		goto out;
	if ((r = ks_keyfile_parse(data, len, pass, passlen, &key, NULL)) != 0) {
		status = keyfile_error(path, r);
		goto out;
	}
	/* Nothing left to decrypt: drop the file's bytes before storing. */
	kmes_secure_free(data);
	data = NULL;
	kmes_secure_free(pass);
	pass = NULL;
	/* One key, one record: a second copy would sign under two names. */
	if ((dup = kt_find_key(s, key)) >= 0 &&
	    ks_store_entry(s, (size_t)dup, &e) == 0) {
		kt_warnx("this key is already in the store as '%s'", e.label);
		status = KT_EXIT_FAIL;
		goto out;
	}
	if ((status = kt_add_key(s, label, key, flags)) == KT_EXIT_OK) {
		blob = ks_key_blob(key, &blob_len);
		kt_blob_desc(blob, blob_len, desc, sizeof(desc));
		kt_said("imported %s as '%s'", desc, label);
	}
out:
	kmes_secure_free(data);
	kmes_secure_free(pass);
	ks_key_free(key);
	ks_store_free(s);
	return status;
}
