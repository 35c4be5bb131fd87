/*
 * store-util.c: fixtures for the key store tests.
 */
#include <sys/stat.h>

#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "store-int.h"
#include "store-util.h"
#include "store.h"
#include "testutil.h"

const struct ks_store_kdf su_cheap_kdf = { 10, 8, 1 };

const struct su_gen su_gens[SU_NGEN] = {
	{ KS_KEY_ED25519, 0, "ed25519" },
	{ KS_KEY_ECDSA_P256, 256, "ecdsa-p256" },
	{ KS_KEY_ECDSA_P384, 384, "ecdsa-p384" },
	{ KS_KEY_ECDSA_P521, 521, "ecdsa-p521" },
	{ KS_KEY_RSA, 2048, "rsa-2048" },
	{ KS_KEY_RSA, 3072, "rsa-3072" },
};

struct ks_key *su_keys[SU_NGEN];

static char scratch[64];
static char fast_scratch[64];

int
su_setup(void)
{
	int i, r;

	strcpy(scratch, "/tmp/kmes-store-XXXXXX");
	if (mkdtemp(scratch) == NULL)
		return -1;
	strcpy(fast_scratch, "/dev/shm/kmes-store-XXXXXX");
	if (mkdtemp(fast_scratch) == NULL)
		strcpy(fast_scratch, scratch);
	r = ks_crypto_init(0);
	if (r != 0 && r != KMES_ERR_SYSTEM) {
		fprintf(stderr, "ks_crypto_init: %s\n", kmes_err(r));
		return -1;
	}
	for (i = 0; i < SU_NGEN; i++) {
		if ((r = ks_key_generate(su_gens[i].type, su_gens[i].bits,
			 &su_keys[i])) != 0) {
			fprintf(stderr, "generate %s: %s\n", su_gens[i].name,
			    kmes_err(r));
			return -1;
		}
	}
	return 0;
}

static void
remove_tree(const char *dir)
{
	char *cmd;

	if (dir[0] == '\0' || asprintf(&cmd, "rm -rf '%s'", dir) < 0)
		return;
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	free(cmd);
}

void
su_teardown(void)
{
	int i;

	for (i = 0; i < SU_NGEN; i++)
		ks_key_free(su_keys[i]);
	if (strcmp(fast_scratch, scratch) != 0)
		remove_tree(fast_scratch);
	remove_tree(scratch);
}

char *
su_path(int fast, const char *fmt, ...)
{
	va_list ap;
	char *name, *path;

	va_start(ap, fmt);
	if (vasprintf(&name, fmt, ap) < 0)
		name = NULL;
	va_end(ap);
	ck_assert_ptr_nonnull(name);
	if (asprintf(&path, "%s/%s", fast ? fast_scratch : scratch, name) < 0)
		path = NULL;
	ck_assert_ptr_nonnull(path);
	free(name);
	return path;
}

void
su_create(const char *path)
{
	ck_assert_int_eq(ks_store_create(path, "test store", SU_PIN, SU_PIN_LEN,
			     SU_SO_PIN, SU_SO_PIN_LEN, &su_cheap_kdf),
	    0);
}

struct ks_store *
su_open_login(const char *path)
{
	struct ks_store *s = NULL;
	unsigned int left;

	ck_assert_int_eq(ks_store_open(path, &s), 0);
	ck_assert_int_eq(ks_store_login(s, 0, SU_PIN, SU_PIN_LEN, &left), 0);
	ck_assert_uint_eq(left, KS_STORE_MAX_TRIES);
	return s;
}

uint8_t *
su_read(const char *path, size_t *lenp)
{
	struct stat st;
	uint8_t *p;
	int fd;

	ck_assert_int_ne(fd = open(path, O_RDONLY | O_CLOEXEC), -1);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_ptr_nonnull(p = malloc((size_t)st.st_size + 1));
	ck_assert_int_eq(read(fd, p, (size_t)st.st_size), st.st_size);
	close(fd);
	*lenp = (size_t)st.st_size;
	return p;
}

void
su_write(const char *path, const void *p, size_t len)
{
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ne(fd, -1);
	if (len != 0)
		ck_assert_int_eq(write(fd, p, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

void
su_sign_verify(const struct ks_key *signer, const struct ks_key *checker)
{
	static const uint8_t msg[] = "stored keys must still sign";
	struct kbuf *sig;

	ck_assert_ptr_nonnull(sig = kbuf_new());
	ck_assert_int_eq(ks_key_sign(signer, msg, sizeof(msg),
			     KS_SIGN_RSA_SHA2_256, sig),
	    0);
	ck_assert_int_eq(ks_key_verify(checker, kbuf_ptr(sig), kbuf_len(sig),
			     msg, sizeof(msg)),
	    0);
	kbuf_free(sig);
}

int
su_store_rejected(const char *path)
{
	struct ks_store *s = NULL;
	long bad;
	int rejected = 1;

	if (ks_store_open(path, &s) != 0)
		return 1;
	if (ks_store_login(s, 0, SU_PIN, SU_PIN_LEN, NULL) != 0)
		goto out;
	if (ks_store_verify(s, &bad) != 0)
		goto out;
	rejected = 0;
out:
	ks_store_free(s);
	return rejected;
}

int
su_run(void *suite)
{
	int status;

	if (su_setup() != 0)
		return 1;
	status = run_suite(suite);
	su_teardown();
	return status;
}

struct ks_image *
su_parse_file(const char *path)
{
	struct ks_image *img = NULL;
	struct kbuf *b;
	uint8_t *file;
	size_t len;

	file = su_read(path, &len);
	ck_assert_ptr_nonnull(b = kbuf_from(file, len));
	ck_assert_int_eq(ks_image_parse(b, &img), 0);
	kbuf_free(b);
	free(file);
	return img;
}

void
su_write_image(const char *path, const struct ks_image *img)
{
	struct kbuf *b;
	char *tmp;

	ck_assert_ptr_nonnull(b = kbuf_new());
	ck_assert_int_eq(ks_image_encode(img, b), 0);
	ck_assert_int_ne(asprintf(&tmp, "%s.evil", path), -1);
	su_write(tmp, kbuf_ptr(b), kbuf_len(b));
	ck_assert_int_eq(rename(tmp, path), 0);
	free(tmp);
	kbuf_free(b);
}
