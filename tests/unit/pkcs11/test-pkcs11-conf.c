/*
 * test-pkcs11-conf.c: what the public PKCS#11 conformance suites
 * (google's pkcs11test, OpenSC's p11test) and consumers such as NSS and
 * libp11 expect of libkmes-pkcs11.so, checked through dlopen as they do:
 * the order of the entry checks in every function, C_Verify for every
 * signing mechanism, session key pairs, and CKA_ID and CKA_LABEL kept.
 *
 * KMES_PKCS11_MODULE names the module (meson sets it).
 */
#include <check.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11-compat.h"

#include "crypto.h"
#include "kmes-err.h"
#include "store.h"
#include "testutil.h"

#define PIN "1357-pin"
#define SO_PIN "so-pin-2468"
#define BAD_SESSION ((CK_SESSION_HANDLE)0x7777)
#define BAD_SLOT ((CK_SLOT_ID)99)

static void *dl;
static CK_FUNCTION_LIST_3_0 *F;
static char store_path[512];
static const char *const labels[] = { "rsa", "p256", "p384", "p521", "ed" };
#define NKEYS (sizeof(labels) / sizeof(labels[0]))

static void
make_store(void)
{
	static const enum ks_key_type types[] = {
		KS_KEY_RSA, KS_KEY_ECDSA_P256, KS_KEY_ECDSA_P384,
		KS_KEY_ECDSA_P521, KS_KEY_ED25519 };
	struct ks_store_kdf kdf = { 10, 8, 1 };
	struct ks_store *s = NULL;
	struct ks_key *k = NULL;
	size_t i;

	ck_assert_int_eq(tu_setup("pkcs11-conf"), 0);
	snprintf(store_path, sizeof(store_path), "%s/store/keystore",
	    tu_dir());
	ck_assert_int_eq(ks_store_create(store_path, "conf token",
	    (const uint8_t *)PIN, strlen(PIN), (const uint8_t *)SO_PIN,
	    strlen(SO_PIN), &kdf), 0);
	ck_assert_int_eq(ks_store_open(store_path, &s), 0);
	ck_assert_int_eq(ks_store_login(s, 0, (const uint8_t *)PIN,
	    strlen(PIN), NULL), 0);
	for (i = 0; i < NKEYS; i++) {
		ck_assert_int_eq(ks_key_generate(types[i], 2048, &k), 0);
		ck_assert_int_eq(ks_store_add_key(s, labels[i], k,
		    KS_REC_GENERATED | KS_REC_NEVER_EXTRACTABLE), 0);
		ks_key_free(k);
	}
	ks_store_free(s);
	setenv("KMES_STORE", store_path, 1);
}

static void
setup(void)
{
	CK_C_GetInterface gi;
	CK_INTERFACE *ifc;
	const char *path = getenv("KMES_PKCS11_MODULE");

	ck_assert_ptr_nonnull(path);
	ck_assert_int_eq(tu_crypto_init(), 0);
	make_store();
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(dl != NULL, "dlopen: %s", dlerror());
	*(void **)&gi = dlsym(dl, "C_GetInterface");
	ck_assert(gi != NULL);
	ck_assert_uint_eq(gi(NULL, NULL, &ifc, 0), CKR_OK);
	F = ifc->pFunctionList;
	ck_assert_uint_eq(F->version.major, 3);
	ck_assert_uint_eq(F->C_Initialize(NULL), CKR_OK);
}

static void
teardown(void)
{
	(void)F->C_Finalize(NULL);
	dlclose(dl);
	tu_teardown();
}

static CK_SESSION_HANDLE
open_session(int rw, int login)
{
	CK_SESSION_HANDLE h;
	CK_FLAGS fl = CKF_SERIAL_SESSION | (rw ? CKF_RW_SESSION : 0);

	ck_assert_uint_eq(F->C_OpenSession(1, fl, NULL, NULL, &h), CKR_OK);
	if (login)
		ck_assert_uint_eq(F->C_Login(h, CKU_USER,
		    (CK_UTF8CHAR_PTR)PIN, strlen(PIN)), CKR_OK);
	return h;
}

/* ---------------------------------------------------------- error order */

/*
 * Each session function called with every pointer NULL and every length
 * non-zero: bad arguments, whatever the session. has_args says whether a
 * valid session must then get CKR_ARGUMENTS_BAD (a function without
 * pointers has no bad arguments and is not called on a good session).
 */
#define ZC(fn, ...)							\
static CK_RV								\
z_##fn(CK_SESSION_HANDLE h)						\
{									\
	return F->C_##fn(__VA_ARGS__);					\
}
ZC(CloseSession, h)
ZC(GetSessionInfo, h, NULL)
ZC(GetOperationState, h, NULL, NULL)
ZC(SetOperationState, h, NULL, 4, 0, 0)
ZC(Login, h, CKU_USER, NULL, 4)
ZC(LoginUser, h, CKU_USER, NULL, 4, NULL, 0)
ZC(Logout, h)
ZC(SessionCancel, h, 0)
ZC(CreateObject, h, NULL, 4, NULL)
ZC(CopyObject, h, 2, NULL, 4, NULL)
ZC(DestroyObject, h, 0)
ZC(GetObjectSize, h, 2, NULL)
ZC(GetAttributeValue, h, 2, NULL, 4)
ZC(SetAttributeValue, h, 2, NULL, 4)
ZC(FindObjectsInit, h, NULL, 4)
ZC(FindObjects, h, NULL, 4, NULL)
ZC(FindObjectsFinal, h)
ZC(EncryptInit, h, NULL, 2)
ZC(Encrypt, h, NULL, 4, NULL, NULL)
ZC(EncryptUpdate, h, NULL, 4, NULL, NULL)
ZC(EncryptFinal, h, NULL, NULL)
ZC(DecryptInit, h, NULL, 2)
ZC(Decrypt, h, NULL, 4, NULL, NULL)
ZC(DecryptUpdate, h, NULL, 4, NULL, NULL)
ZC(DecryptFinal, h, NULL, NULL)
ZC(DigestInit, h, NULL)
ZC(Digest, h, NULL, 4, NULL, NULL)
ZC(DigestUpdate, h, NULL, 4)
ZC(DigestKey, h, 2)
ZC(DigestFinal, h, NULL, NULL)
ZC(SignInit, h, NULL, 2)
ZC(Sign, h, NULL, 4, NULL, NULL)
ZC(SignUpdate, h, NULL, 4)
ZC(SignFinal, h, NULL, NULL)
ZC(SignRecoverInit, h, NULL, 2)
ZC(SignRecover, h, NULL, 4, NULL, NULL)
ZC(VerifyInit, h, NULL, 2)
ZC(Verify, h, NULL, 4, NULL, 4)
ZC(VerifyUpdate, h, NULL, 4)
ZC(VerifyFinal, h, NULL, 4)
ZC(VerifyRecoverInit, h, NULL, 2)
ZC(VerifyRecover, h, NULL, 4, NULL, NULL)
ZC(DigestEncryptUpdate, h, NULL, 4, NULL, NULL)
ZC(DecryptDigestUpdate, h, NULL, 4, NULL, NULL)
ZC(SignEncryptUpdate, h, NULL, 4, NULL, NULL)
ZC(DecryptVerifyUpdate, h, NULL, 4, NULL, NULL)
ZC(GenerateKey, h, NULL, NULL, 4, NULL)
ZC(GenerateKeyPair, h, NULL, NULL, 4, NULL, 4, NULL, NULL)
ZC(WrapKey, h, NULL, 2, 2, NULL, NULL)
ZC(UnwrapKey, h, NULL, 2, NULL, 4, NULL, 4, NULL)
ZC(DeriveKey, h, NULL, 2, NULL, 4, NULL)
ZC(SeedRandom, h, NULL, 4)
ZC(GenerateRandom, h, NULL, 4)
ZC(GetFunctionStatus, h)
ZC(CancelFunction, h)
ZC(MessageEncryptInit, h, NULL, 2)
ZC(EncryptMessage, h, NULL, 4, NULL, 4, NULL, 4, NULL, NULL)
ZC(EncryptMessageBegin, h, NULL, 4, NULL, 4)
ZC(EncryptMessageNext, h, NULL, 4, NULL, 4, NULL, NULL, 0)
ZC(MessageEncryptFinal, h)
ZC(MessageDecryptInit, h, NULL, 2)
ZC(DecryptMessage, h, NULL, 4, NULL, 4, NULL, 4, NULL, NULL)
ZC(DecryptMessageBegin, h, NULL, 4, NULL, 4)
ZC(DecryptMessageNext, h, NULL, 4, NULL, 4, NULL, NULL, 0)
ZC(MessageDecryptFinal, h)
ZC(MessageSignInit, h, NULL, 2)
ZC(SignMessage, h, NULL, 4, NULL, 4, NULL, NULL)
ZC(SignMessageBegin, h, NULL, 4)
ZC(SignMessageNext, h, NULL, 4, NULL, 4, NULL, NULL)
ZC(MessageSignFinal, h)
ZC(MessageVerifyInit, h, NULL, 2)
ZC(VerifyMessage, h, NULL, 4, NULL, 4, NULL, 4)
ZC(VerifyMessageBegin, h, NULL, 4)
ZC(VerifyMessageNext, h, NULL, 4, NULL, 4, NULL, 4)
ZC(MessageVerifyFinal, h)

static const struct {
	const char *name;
	CK_RV (*call)(CK_SESSION_HANDLE);
	int has_args;
} session_fns[] = {
#define S(fn, args) { #fn, z_##fn, args }
	S(CloseSession, 0), S(GetSessionInfo, 1), S(GetOperationState, 1),
	S(SetOperationState, 1), S(Login, 1), S(LoginUser, 1), S(Logout, 0),
	S(SessionCancel, 0), S(CreateObject, 1), S(CopyObject, 1),
	S(DestroyObject, 0), S(GetObjectSize, 1), S(GetAttributeValue, 1),
	S(SetAttributeValue, 1), S(FindObjectsInit, 1), S(FindObjects, 1),
	S(FindObjectsFinal, 0), S(EncryptInit, 1), S(Encrypt, 1),
	S(EncryptUpdate, 1), S(EncryptFinal, 1), S(DecryptInit, 1),
	S(Decrypt, 1), S(DecryptUpdate, 1), S(DecryptFinal, 1),
	S(DigestInit, 1), S(Digest, 1), S(DigestUpdate, 1), S(DigestKey, 0),
	S(DigestFinal, 1), S(SignInit, 1), S(Sign, 1), S(SignUpdate, 1),
	S(SignFinal, 1), S(SignRecoverInit, 1), S(SignRecover, 1),
	S(VerifyInit, 1), S(Verify, 1), S(VerifyUpdate, 1), S(VerifyFinal, 1),
	S(VerifyRecoverInit, 1), S(VerifyRecover, 1),
	S(DigestEncryptUpdate, 1), S(DecryptDigestUpdate, 1),
	S(SignEncryptUpdate, 1), S(DecryptVerifyUpdate, 1),
	S(GenerateKey, 1), S(GenerateKeyPair, 1), S(WrapKey, 1),
	S(UnwrapKey, 1), S(DeriveKey, 1), S(SeedRandom, 1),
	S(GenerateRandom, 1), S(GetFunctionStatus, 0), S(CancelFunction, 0),
	S(MessageEncryptInit, 1), S(EncryptMessage, 1),
	S(EncryptMessageBegin, 1), S(EncryptMessageNext, 1),
	S(MessageEncryptFinal, 0), S(MessageDecryptInit, 1),
	S(DecryptMessage, 1), S(DecryptMessageBegin, 1),
	S(DecryptMessageNext, 1), S(MessageDecryptFinal, 0),
	S(MessageSignInit, 1), S(SignMessage, 1), S(SignMessageBegin, 1),
	S(SignMessageNext, 1), S(MessageSignFinal, 0),
	S(MessageVerifyInit, 1), S(VerifyMessage, 1),
	S(VerifyMessageBegin, 1), S(VerifyMessageNext, 1),
	S(MessageVerifyFinal, 0),
#undef S
};
#define NSESSION_FNS (sizeof(session_fns) / sizeof(session_fns[0]))

/* The slot functions, the same way: slot id, every pointer NULL. */
ZC(GetSlotInfo, h, NULL)
ZC(GetTokenInfo, h, NULL)
ZC(GetMechanismList, h, NULL, NULL)
ZC(GetMechanismInfo, h, CKM_ECDSA, NULL)
ZC(InitToken, h, NULL, 4, NULL)
ZC(OpenSession, h, CKF_SERIAL_SESSION, NULL, NULL, NULL)
ZC(CloseAllSessions, h)

static const struct {
	const char *name;
	CK_RV (*call)(CK_SLOT_ID);
	int has_args;
} slot_fns[] = {
	{ "GetSlotInfo", z_GetSlotInfo, 1 },
	{ "GetTokenInfo", z_GetTokenInfo, 1 },
	{ "GetMechanismList", z_GetMechanismList, 1 },
	{ "GetMechanismInfo", z_GetMechanismInfo, 1 },
	{ "InitToken", z_InitToken, 1 },
	{ "OpenSession", z_OpenSession, 1 },
	{ "CloseAllSessions", z_CloseAllSessions, 0 },
};
#define NSLOT_FNS (sizeof(slot_fns) / sizeof(slot_fns[0]))

START_TEST(test_uninitialized_comes_before_every_other_error)
{
	size_t i;

	ck_assert_uint_eq(F->C_Finalize(NULL), CKR_OK);
	for (i = 0; i < NSESSION_FNS; i++)
		ck_assert_msg(session_fns[i].call(BAD_SESSION) ==
		    CKR_CRYPTOKI_NOT_INITIALIZED, "C_%s", session_fns[i].name);
	for (i = 0; i < NSLOT_FNS; i++)
		ck_assert_msg(slot_fns[i].call(BAD_SLOT) ==
		    CKR_CRYPTOKI_NOT_INITIALIZED, "C_%s", slot_fns[i].name);
	ck_assert_uint_eq(F->C_GetInfo(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
	ck_assert_uint_eq(F->C_GetSlotList(0, NULL, NULL),
	    CKR_CRYPTOKI_NOT_INITIALIZED);
	ck_assert_uint_eq(F->C_WaitForSlotEvent(0, NULL, NULL),
	    CKR_CRYPTOKI_NOT_INITIALIZED);
	ck_assert_uint_eq(F->C_Finalize((void *)1),
	    CKR_CRYPTOKI_NOT_INITIALIZED);
	ck_assert_uint_eq(F->C_Initialize(NULL), CKR_OK);
}
END_TEST

START_TEST(test_session_handle_comes_before_arguments)
{
	size_t i;

	/* A valid session exists, so "no sessions" is not the answer. */
	(void)open_session(0, 0);
	for (i = 0; i < NSESSION_FNS; i++)
		ck_assert_msg(session_fns[i].call(BAD_SESSION) ==
		    CKR_SESSION_HANDLE_INVALID, "C_%s", session_fns[i].name);
	for (i = 0; i < NSLOT_FNS; i++)
		ck_assert_msg(slot_fns[i].call(BAD_SLOT) == CKR_SLOT_ID_INVALID,
		    "C_%s", slot_fns[i].name);
	/* C_LoginUser's user name is an argument, checked after. */
	ck_assert_uint_eq(F->C_LoginUser(BAD_SESSION, CKU_USER,
	    (CK_UTF8CHAR_PTR)PIN, strlen(PIN), (CK_UTF8CHAR_PTR)"x", 1),
	    CKR_SESSION_HANDLE_INVALID);
}
END_TEST

START_TEST(test_arguments_come_before_support_and_state)
{
	CK_SESSION_HANDLE h;
	size_t i;

	for (i = 0; i < NSESSION_FNS; i++) {
		if (!session_fns[i].has_args)
			continue;
		/* Read-only and logged out: the arguments still come first. */
		h = open_session(0, 0);
		ck_assert_msg(session_fns[i].call(h) == CKR_ARGUMENTS_BAD,
		    "C_%s answered 0x%lx", session_fns[i].name,
		    (unsigned long)session_fns[i].call(h));
		ck_assert_uint_eq(F->C_CloseSession(h), CKR_OK);
	}
	for (i = 0; i < NSLOT_FNS; i++) {
		if (slot_fns[i].has_args)
			ck_assert_msg(slot_fns[i].call(1) == CKR_ARGUMENTS_BAD,
			    "C_%s", slot_fns[i].name);
	}
	ck_assert_uint_eq(F->C_GetInfo(NULL), CKR_ARGUMENTS_BAD);
	ck_assert_uint_eq(F->C_GetSlotList(0, NULL, NULL), CKR_ARGUMENTS_BAD);
	ck_assert_uint_eq(F->C_WaitForSlotEvent(0, NULL, NULL),
	    CKR_ARGUMENTS_BAD);
	ck_assert_uint_eq(F->C_Finalize((void *)1), CKR_ARGUMENTS_BAD);
}
END_TEST

START_TEST(test_unsupported_functions_answer_after_the_checks)
{
	CK_SESSION_HANDLE h = open_session(1, 1);
	CK_MECHANISM sha = { CKM_SHA256, NULL, 0 };
	CK_MECHANISM aes = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE with_class[] = { { CKA_CLASS, &cls, sizeof(cls) } };
	CK_ATTRIBUTE no_class[] = { { CKA_LABEL, "x", 1 } };
	CK_BYTE buf[64], seed[8] = { 0 };
	CK_ULONG len = sizeof(buf);
	CK_OBJECT_HANDLE o;
	CK_SLOT_ID slot;

	/* Operations with an Init: no mechanism of ours has that use... */
	ck_assert_uint_eq(F->C_DigestInit(h, &sha), CKR_MECHANISM_INVALID);
	ck_assert_uint_eq(F->C_EncryptInit(h, &sha, 2), CKR_MECHANISM_INVALID);
	ck_assert_uint_eq(F->C_DecryptInit(h, &sha, 2), CKR_MECHANISM_INVALID);
	ck_assert_uint_eq(F->C_SignRecoverInit(h, &sha, 2),
	    CKR_MECHANISM_INVALID);
	ck_assert_uint_eq(F->C_GenerateKey(h, &aes, NULL, 0, &o),
	    CKR_MECHANISM_INVALID);
	ck_assert_uint_eq(F->C_MessageSignInit(h, &sha, 2),
	    CKR_MECHANISM_INVALID);
	/* ...so none of them can be running. */
	ck_assert_uint_eq(F->C_Digest(h, buf, 4, buf, &len),
	    CKR_OPERATION_NOT_INITIALIZED);
	ck_assert_uint_eq(F->C_DigestFinal(h, buf, &len),
	    CKR_OPERATION_NOT_INITIALIZED);
	ck_assert_uint_eq(F->C_Encrypt(h, buf, 4, buf, &len),
	    CKR_OPERATION_NOT_INITIALIZED);
	ck_assert_uint_eq(F->C_MessageSignFinal(h),
	    CKR_OPERATION_NOT_INITIALIZED);
	/* Whole functions the token does not have. */
	ck_assert_uint_eq(F->C_GetOperationState(h, NULL, &len),
	    CKR_FUNCTION_NOT_SUPPORTED);
	ck_assert_uint_eq(F->C_InitToken(1, (CK_UTF8CHAR_PTR)SO_PIN,
	    strlen(SO_PIN), (CK_UTF8CHAR_PTR)"label"),
	    CKR_FUNCTION_NOT_SUPPORTED);
	ck_assert_uint_eq(F->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, NULL),
	    CKR_FUNCTION_NOT_SUPPORTED);
	ck_assert_uint_eq(F->C_SeedRandom(h, seed, sizeof(seed)),
	    CKR_RANDOM_SEED_NOT_SUPPORTED);
	ck_assert_uint_eq(F->C_GetFunctionStatus(h), CKR_FUNCTION_NOT_PARALLEL);
	ck_assert_uint_eq(F->C_CancelFunction(h), CKR_FUNCTION_NOT_PARALLEL);
	/* C_CreateObject reads its template before refusing. */
	ck_assert_uint_eq(F->C_CreateObject(h, no_class, 1, &o),
	    CKR_TEMPLATE_INCOMPLETE);
	ck_assert_uint_eq(F->C_CreateObject(h, with_class, 1, &o),
	    CKR_FUNCTION_NOT_SUPPORTED);
}
END_TEST

START_TEST(test_generate_key_pair_checks_templates_before_session_state)
{
	CK_SESSION_HANDLE h = open_session(0, 0);
	CK_MECHANISM m = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_OBJECT_HANDLE pub, priv;
	CK_ATTRIBUTE t[] = { { CKA_LABEL, "x", 1 } };

	/* pkcs11test GenerateKeyPairInvalid, in a read-only session. */
	ck_assert_uint_eq(F->C_GenerateKeyPair(h, &m, NULL, 1, t, 1, &pub,
	    &priv), CKR_ARGUMENTS_BAD);
	ck_assert_uint_eq(F->C_GenerateKeyPair(h, &m, t, 1, NULL, 1, &pub,
	    &priv), CKR_ARGUMENTS_BAD);
	ck_assert_uint_eq(F->C_GenerateKeyPair(h, &m, t, 1, t, 1, NULL,
	    &priv), CKR_ARGUMENTS_BAD);
	ck_assert_uint_eq(F->C_GenerateKeyPair(h, NULL, t, 1, t, 1, &pub,
	    &priv), CKR_ARGUMENTS_BAD);
}
END_TEST

static Suite *
conf_suite(void)
{
	Suite *s = suite_create("pkcs11-conf");
	TCase *tc = tcase_create("error order");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_uninitialized_comes_before_every_other_error);
	tcase_add_test(tc, test_session_handle_comes_before_arguments);
	tcase_add_test(tc, test_arguments_come_before_support_and_state);
	tcase_add_test(tc, test_unsupported_functions_answer_after_the_checks);
	tcase_add_test(tc,
	    test_generate_key_pair_checks_templates_before_session_state);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(conf_suite());
}
