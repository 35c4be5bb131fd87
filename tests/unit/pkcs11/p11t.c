/*
 * p11t.c: the fixture the module's unit tests share (see p11t.h).
 */
#include <check.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11t.h"
#include "store.h"
#include "testutil.h"

static void *dl;
static CK_FUNCTION_LIST_3_0 *F;
static char store_path[512];

const char *
p11t_make_store(const char *name, const char *token_label, const char *pin,
    const char *so_pin, const enum ks_key_type *types,
    const char *const *labels, size_t n, unsigned int bits)
{
	struct ks_store_kdf kdf = { 10, 8, 1 };
	struct ks_store *s = NULL;
	struct ks_key *k = NULL;
	size_t i;

	ck_assert_int_eq(tu_crypto_init(), 0);
	ck_assert_int_eq(tu_setup(name), 0);
	snprintf(store_path, sizeof(store_path), "%s/store/keystore", tu_dir());
	ck_assert_int_eq(ks_store_create(store_path, token_label,
			     (const uint8_t *)pin, strlen(pin),
			     (const uint8_t *)so_pin, strlen(so_pin), &kdf),
	    0);
	ck_assert_int_eq(ks_store_open(store_path, &s), 0);
	ck_assert_int_eq(ks_store_login(s, 0, (const uint8_t *)pin, strlen(pin),
			     NULL),
	    0);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(ks_key_generate(types[i], bits, &k), 0);
		ck_assert_int_eq(ks_store_add_key(s, labels[i], k,
				     KS_REC_GENERATED |
					 KS_REC_NEVER_EXTRACTABLE),
		    0);
		ks_key_free(k);
		k = NULL;
	}
	ks_store_free(s);
	setenv("KMES_STORE", store_path, 1);
	return store_path;
}

CK_FUNCTION_LIST_3_0 *
p11t_load(void)
{
	CK_C_GetInterface gi;
	CK_INTERFACE *ifc;
	const char *path = getenv("KMES_PKCS11_MODULE");

	ck_assert_ptr_nonnull(path);
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(dl != NULL, "dlopen: %s", dlerror());
	*(void **)&gi = dlsym(dl, "C_GetInterface");
	ck_assert(gi != NULL);
	ck_assert_uint_eq(gi(NULL, NULL, &ifc, 0), CKR_OK);
	F = ifc->pFunctionList;
	ck_assert_uint_eq(F->version.major, 3);
	ck_assert_uint_eq(F->C_Initialize(NULL), CKR_OK);
	return F;
}

void
p11t_unload(void)
{
	(void)F->C_Finalize(NULL);
	dlclose(dl);
	F = NULL;
	dl = NULL;
	tu_teardown();
}

CK_SESSION_HANDLE
p11t_open_session(int rw, const char *pin)
{
	CK_SESSION_HANDLE h;
	CK_FLAGS fl = CKF_SERIAL_SESSION | (rw ? CKF_RW_SESSION : 0);

	ck_assert_uint_eq(F->C_OpenSession(1, fl, NULL, NULL, &h), CKR_OK);
	if (pin != NULL)
		ck_assert_uint_eq(F->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)pin,
				      strlen(pin)),
		    CKR_OK);
	return h;
}
