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
#include "p11t.h"

#include "crypto.h"
#include "kmes-err.h"
#include "store.h"
#include "testutil.h"

#define PIN "1357-pin"
#define SO_PIN "so-pin-2468"
#define BAD_SESSION ((CK_SESSION_HANDLE)0x7777)
#define BAD_SLOT ((CK_SLOT_ID)99)
/* p11.h's P11_ID_MAX and P11_MAX_SESSION_KEYS. */
#define P11_ID_MAX_TEST 64
#define P11_MAX_SESSION_KEYS_TEST 128

static CK_FUNCTION_LIST_3_0 *F;
static const char *store_path;
static const char *const labels[] = { "rsa", "p256", "p384", "p521", "ed" };
#define NKEYS (sizeof(labels) / sizeof(labels[0]))

static void
setup(void)
{
	static const enum ks_key_type types[] = { KS_KEY_RSA, KS_KEY_ECDSA_P256,
		KS_KEY_ECDSA_P384, KS_KEY_ECDSA_P521, KS_KEY_ED25519 };

	store_path = p11t_make_store("pkcs11-conf", "conf token", PIN, SO_PIN,
	    types, labels, NKEYS, 2048);
	F = p11t_load();
}

static void
teardown(void)
{
	p11t_unload();
}

static CK_SESSION_HANDLE
open_session(int rw, int login)
{
	return p11t_open_session(rw, login ? PIN : NULL);
}

/* Finds the object of class cls labelled label; 0 if none. */
static CK_OBJECT_HANDLE
find(CK_SESSION_HANDLE h, CK_OBJECT_CLASS cls, const char *label)
{
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_OBJECT_HANDLE o[2] = { 0, 0 };
	CK_ULONG n = 0;

	ck_assert_uint_eq(F->C_FindObjectsInit(h, t, 2), CKR_OK);
	ck_assert_uint_eq(F->C_FindObjects(h, o, 2, &n), CKR_OK);
	ck_assert_uint_eq(F->C_FindObjectsFinal(h), CKR_OK);
	ck_assert_uint_le(n, 1);
	return n == 1 ? o[0] : 0;
}

/* ---------------------------------------------------------- error order */

/*
 * Each session function called with every pointer NULL and every length
 * non-zero: bad arguments, whatever the session. has_args says whether a
 * valid session must then get CKR_ARGUMENTS_BAD (a function without
 * pointers has no bad arguments and is not called on a good session).
 */
#define ZC(fn, ...) \
	static CK_RV z_##fn(CK_SESSION_HANDLE h) \
	{ \
		return F->C_##fn(__VA_ARGS__); \
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
#define S(fn, args) \
	{ \
#fn, z_##fn, args \
	}
	S(CloseSession, 0),
	S(GetSessionInfo, 1),
	S(GetOperationState, 1),
	S(SetOperationState, 1),
	S(Login, 1),
	S(LoginUser, 1),
	S(Logout, 0),
	S(SessionCancel, 0),
	S(CreateObject, 1),
	S(CopyObject, 1),
	S(DestroyObject, 0),
	S(GetObjectSize, 1),
	S(GetAttributeValue, 1),
	S(SetAttributeValue, 1),
	S(FindObjectsInit, 1),
	S(FindObjects, 1),
	S(FindObjectsFinal, 0),
	S(EncryptInit, 1),
	S(Encrypt, 1),
	S(EncryptUpdate, 1),
	S(EncryptFinal, 1),
	S(DecryptInit, 1),
	S(Decrypt, 1),
	S(DecryptUpdate, 1),
	S(DecryptFinal, 1),
	S(DigestInit, 1),
	S(Digest, 1),
	S(DigestUpdate, 1),
	S(DigestKey, 0),
	S(DigestFinal, 1),
	S(SignInit, 1),
	S(Sign, 1),
	S(SignUpdate, 1),
	S(SignFinal, 1),
	S(SignRecoverInit, 1),
	S(SignRecover, 1),
	S(VerifyInit, 1),
	S(Verify, 1),
	S(VerifyUpdate, 1),
	S(VerifyFinal, 1),
	S(VerifyRecoverInit, 1),
	S(VerifyRecover, 1),
	S(DigestEncryptUpdate, 1),
	S(DecryptDigestUpdate, 1),
	S(SignEncryptUpdate, 1),
	S(DecryptVerifyUpdate, 1),
	S(GenerateKey, 1),
	S(GenerateKeyPair, 1),
	S(WrapKey, 1),
	S(UnwrapKey, 1),
	S(DeriveKey, 1),
	S(SeedRandom, 1),
	S(GenerateRandom, 1),
	S(GetFunctionStatus, 0),
	S(CancelFunction, 0),
	S(MessageEncryptInit, 1),
	S(EncryptMessage, 1),
	S(EncryptMessageBegin, 1),
	S(EncryptMessageNext, 1),
	S(MessageEncryptFinal, 0),
	S(MessageDecryptInit, 1),
	S(DecryptMessage, 1),
	S(DecryptMessageBegin, 1),
	S(DecryptMessageNext, 1),
	S(MessageDecryptFinal, 0),
	S(MessageSignInit, 1),
	S(SignMessage, 1),
	S(SignMessageBegin, 1),
	S(SignMessageNext, 1),
	S(MessageSignFinal, 0),
	S(MessageVerifyInit, 1),
	S(VerifyMessage, 1),
	S(VerifyMessageBegin, 1),
	S(VerifyMessageNext, 1),
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
			CKR_CRYPTOKI_NOT_INITIALIZED,
		    "C_%s", session_fns[i].name);
	for (i = 0; i < NSLOT_FNS; i++)
		ck_assert_msg(slot_fns[i].call(BAD_SLOT) ==
			CKR_CRYPTOKI_NOT_INITIALIZED,
		    "C_%s", slot_fns[i].name);
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
			CKR_SESSION_HANDLE_INVALID,
		    "C_%s", session_fns[i].name);
	for (i = 0; i < NSLOT_FNS; i++)
		ck_assert_msg(slot_fns[i].call(BAD_SLOT) == CKR_SLOT_ID_INVALID,
		    "C_%s", slot_fns[i].name);
	/* C_LoginUser's user name is an argument, checked after. */
	ck_assert_uint_eq(F->C_LoginUser(BAD_SESSION, CKU_USER,
			      (CK_UTF8CHAR_PTR)PIN, strlen(PIN),
			      (CK_UTF8CHAR_PTR) "x", 1),
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
			      strlen(SO_PIN), (CK_UTF8CHAR_PTR) "label"),
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
			      &priv),
	    CKR_ARGUMENTS_BAD);
	ck_assert_uint_eq(F->C_GenerateKeyPair(h, &m, t, 1, NULL, 1, &pub,
			      &priv),
	    CKR_ARGUMENTS_BAD);
	ck_assert_uint_eq(F->C_GenerateKeyPair(h, &m, t, 1, t, 1, NULL, &priv),
	    CKR_ARGUMENTS_BAD);
	ck_assert_uint_eq(F->C_GenerateKeyPair(h, NULL, t, 1, t, 1, &pub,
			      &priv),
	    CKR_ARGUMENTS_BAD);
}
END_TEST

/* --------------------------------------------------------------- verify */

static CK_RSA_PKCS_PSS_PARAMS pss256 = { CKM_SHA256, CKG_MGF1_SHA256, 32 };
static CK_RSA_PKCS_PSS_PARAMS pss384 = { CKM_SHA384, CKG_MGF1_SHA384, 48 };
static CK_RSA_PKCS_PSS_PARAMS pss512 = { CKM_SHA512, CKG_MGF1_SHA512, 0 };

/* A DigestInfo (SHA-256 of nothing in particular) for raw CKM_RSA_PKCS. */
static CK_BYTE digest_info[19 + 32] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09,
	0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04,
	0x20, 1, 2, 3 };
static CK_BYTE hash32[32] = { 9, 8, 7, 6, 5 };
static CK_BYTE hash48[48] = { 4, 4, 4 };
static CK_BYTE message[300] = "the message every mechanism signs";

static const struct {
	const char *label;
	CK_MECHANISM_TYPE mech;
	void *param;
	CK_ULONG param_len;
	CK_BYTE *data; /* what the mechanism takes */
	CK_ULONG len;
} verify_cases[] = {
	{ "rsa", CKM_RSA_PKCS, NULL, 0, digest_info, sizeof(digest_info) },
	{ "rsa", CKM_SHA256_RSA_PKCS, NULL, 0, message, sizeof(message) },
	{ "rsa", CKM_SHA384_RSA_PKCS, NULL, 0, message, sizeof(message) },
	{ "rsa", CKM_SHA512_RSA_PKCS, NULL, 0, message, sizeof(message) },
	{ "rsa", CKM_RSA_PKCS_PSS, &pss256, sizeof(pss256), hash32,
	    sizeof(hash32) },
	{ "rsa", CKM_SHA256_RSA_PKCS_PSS, &pss256, sizeof(pss256), message,
	    sizeof(message) },
	{ "rsa", CKM_SHA384_RSA_PKCS_PSS, &pss384, sizeof(pss384), message,
	    sizeof(message) },
	{ "rsa", CKM_SHA512_RSA_PKCS_PSS, &pss512, sizeof(pss512), message,
	    sizeof(message) },
	{ "p256", CKM_ECDSA, NULL, 0, hash32, sizeof(hash32) },
	{ "p256", CKM_ECDSA_SHA256, NULL, 0, message, sizeof(message) },
	{ "p384", CKM_ECDSA, NULL, 0, hash48, sizeof(hash48) },
	{ "p384", CKM_ECDSA_SHA384, NULL, 0, message, sizeof(message) },
	{ "p521", CKM_ECDSA_SHA512, NULL, 0, message, sizeof(message) },
	{ "p521", CKM_ECDSA_SHA256, NULL, 0, message, sizeof(message) },
	{ "ed", CKM_EDDSA, NULL, 0, message, sizeof(message) },
};
#define NVERIFY_CASES (sizeof(verify_cases) / sizeof(verify_cases[0]))

/* Signs case i's data with priv; returns the signature length. */
static CK_ULONG
sign_case(CK_SESSION_HANDLE h, size_t i, CK_OBJECT_HANDLE priv, CK_BYTE *sig,
    CK_ULONG size)
{
	CK_MECHANISM m = { verify_cases[i].mech, verify_cases[i].param,
		verify_cases[i].param_len };
	CK_ULONG len = size;

	ck_assert_uint_eq(F->C_SignInit(h, &m, priv), CKR_OK);
	ck_assert_uint_eq(F->C_Sign(h, verify_cases[i].data,
			      verify_cases[i].len, sig, &len),
	    CKR_OK);
	return len;
}

static CK_RV
verify_case(CK_SESSION_HANDLE h, size_t i, CK_OBJECT_HANDLE pub, CK_BYTE *sig,
    CK_ULONG len, int parts)
{
	CK_MECHANISM m = { verify_cases[i].mech, verify_cases[i].param,
		verify_cases[i].param_len };
	CK_ULONG half = verify_cases[i].len / 2;
	CK_RV rv;

	ck_assert_uint_eq(F->C_VerifyInit(h, &m, pub), CKR_OK);
	if (!parts)
		return F->C_Verify(h, verify_cases[i].data, verify_cases[i].len,
		    sig, len);
	if ((rv = F->C_VerifyUpdate(h, verify_cases[i].data, half)) != CKR_OK ||
	    (rv = F->C_VerifyUpdate(h, verify_cases[i].data + half,
		 verify_cases[i].len - half)) != CKR_OK)
		return rv;
	return F->C_VerifyFinal(h, sig, len);
}

START_TEST(test_verify_accepts_each_mechanisms_signature)
{
	CK_SESSION_HANDLE h = open_session(0, 1);
	CK_BYTE sig[1024];
	CK_ULONG len;
	size_t i;

	for (i = 0; i < NVERIFY_CASES; i++) {
		len = sign_case(h, i,
		    find(h, CKO_PRIVATE_KEY, verify_cases[i].label), sig,
		    sizeof(sig));
		ck_assert_msg(verify_case(h, i,
				  find(h, CKO_PUBLIC_KEY,
				      verify_cases[i].label),
				  sig, len, 0) == CKR_OK,
		    "case %zu (mechanism 0x%lx)", i,
		    (unsigned long)verify_cases[i].mech);
		ck_assert_msg(verify_case(h, i,
				  find(h, CKO_PUBLIC_KEY,
				      verify_cases[i].label),
				  sig, len, 1) == CKR_OK,
		    "case %zu in parts", i);
	}
}
END_TEST

START_TEST(test_verify_refuses_a_flipped_bit_and_a_wrong_length)
{
	CK_SESSION_HANDLE h = open_session(0, 1);
	CK_BYTE sig[1024];
	CK_ULONG len;
	size_t i, bit;
	CK_OBJECT_HANDLE pub;
	CK_RV rv;

	for (i = 0; i < NVERIFY_CASES; i++) {
		pub = find(h, CKO_PUBLIC_KEY, verify_cases[i].label);
		len = sign_case(h, i,
		    find(h, CKO_PRIVATE_KEY, verify_cases[i].label), sig,
		    sizeof(sig));
		/* First, middle and last byte: each bit counts. */
		for (bit = 0; bit < 3; bit++) {
			size_t at = bit == 0 ? 0 : bit == 1 ? len / 2 : len - 1;

			sig[at] ^= 0x10;
			rv = verify_case(h, i, pub, sig, len, (int)bit & 1);
			ck_assert_msg(rv == CKR_SIGNATURE_INVALID,
			    "case %zu byte %zu: 0x%lx", i, at,
			    (unsigned long)rv);
			sig[at] ^= 0x10;
		}
		ck_assert_uint_eq(verify_case(h, i, pub, sig, len - 1, 0),
		    CKR_SIGNATURE_LEN_RANGE);
		ck_assert_uint_eq(verify_case(h, i, pub, sig, len + 1, 1),
		    CKR_SIGNATURE_LEN_RANGE);
		/* Each failure ended its operation. */
		ck_assert_uint_eq(F->C_VerifyFinal(h, sig, len),
		    CKR_OPERATION_NOT_INITIALIZED);
		/* The message matters as much as the signature. */
		verify_cases[i].data[0] ^= 1;
		rv = verify_case(h, i, pub, sig, len, 0);
		verify_cases[i].data[0] ^= 1;
		ck_assert_msg(rv == CKR_SIGNATURE_INVALID, "case %zu", i);
		ck_assert_uint_eq(verify_case(h, i, pub, sig, len, 0), CKR_OK);
	}
}
END_TEST

START_TEST(test_verify_needs_no_login_and_only_the_public_object)
{
	CK_SESSION_HANDLE h = open_session(0, 1);
	CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 };
	CK_MECHANISM rsa = { CKM_SHA256_RSA_PKCS, NULL, 0 };
	CK_BYTE sig[132];
	CK_ULONG len = sizeof(sig);
	CK_OBJECT_HANDLE pub = find(h, CKO_PUBLIC_KEY, "p256");
	CK_OBJECT_HANDLE priv = find(h, CKO_PRIVATE_KEY, "p256");

	ck_assert_uint_eq(F->C_SignInit(h, &m, priv), CKR_OK);
	ck_assert_uint_eq(F->C_Sign(h, message, 10, sig, &len), CKR_OK);
	/* A private object has no CKA_VERIFY. */
	ck_assert_uint_eq(F->C_VerifyInit(h, &m, priv),
	    CKR_KEY_FUNCTION_NOT_PERMITTED);
	/* A mechanism for another key type. */
	ck_assert_uint_eq(F->C_VerifyInit(h, &rsa, pub),
	    CKR_KEY_TYPE_INCONSISTENT);
	ck_assert_uint_eq(F->C_Logout(h), CKR_OK);
	h = open_session(0, 0);
	ck_assert_uint_eq(F->C_VerifyInit(h, &m, pub), CKR_OK);
	ck_assert_uint_eq(F->C_VerifyInit(h, &m, pub), CKR_OPERATION_ACTIVE);
	ck_assert_uint_eq(F->C_Verify(h, message, 10, sig, len), CKR_OK);
	/* Mechanisms say they verify. */
	{
		CK_MECHANISM_INFO mi;

		ck_assert_uint_eq(F->C_GetMechanismInfo(1, CKM_EDDSA, &mi),
		    CKR_OK);
		ck_assert(mi.flags & CKF_VERIFY);
		ck_assert_uint_eq(F->C_GetMechanismInfo(1,
				      CKM_SHA512_RSA_PKCS_PSS, &mi),
		    CKR_OK);
		ck_assert(mi.flags & CKF_VERIFY);
	}
}
END_TEST

/* --------------------------------------------------------- session keys */

static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
static const uint8_t oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
	0x03, 0x01, 0x07 };
static const uint8_t oid_p384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
static const uint8_t oid_p521[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23 };
static const uint8_t oid_ed25519[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };

/*
 * Generates a session pair of kind ("rsa", "p256", "p384", "p521", "ed")
 * with label and id (NULL: none) and CKA_PRIVATE priv on the private half
 * (-1: not given). Returns the CKR; *pub and *priv_h get the handles.
 */
static CK_RV
gen_session(CK_SESSION_HANDLE h, const char *kind, const char *label,
    const char *id, int priv, CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv_h)
{
	CK_MECHANISM m = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_ULONG bits = 2048;
	CK_ATTRIBUTE tpub[4], tpriv[4];
	CK_ULONG npub = 0, npriv = 0;

	if (strcmp(kind, "rsa") == 0) {
		m.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
		tpub[npub++] = (CK_ATTRIBUTE){ CKA_MODULUS_BITS, &bits,
			sizeof(bits) };
	} else if (strcmp(kind, "ed") == 0) {
		m.mechanism = CKM_EC_EDWARDS_KEY_PAIR_GEN;
		tpub[npub++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS,
			(void *)oid_ed25519, sizeof(oid_ed25519) };
	} else
		tpub[npub++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS,
			strcmp(kind, "p256") == 0     ? (void *)oid_p256 :
			    strcmp(kind, "p384") == 0 ? (void *)oid_p384 :
							(void *)oid_p521,
			strcmp(kind, "p256") == 0     ? sizeof(oid_p256) :
			    strcmp(kind, "p384") == 0 ? sizeof(oid_p384) :
							sizeof(oid_p521) };
	if (label != NULL) {
		tpub[npub++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label,
			strlen(label) };
		tpriv[npriv++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label,
			strlen(label) };
	}
	if (id != NULL) {
		tpub[npub++] = (CK_ATTRIBUTE){ CKA_ID, (void *)id, strlen(id) };
		tpriv[npriv++] = (CK_ATTRIBUTE){ CKA_ID, (void *)id,
			strlen(id) };
	}
	if (priv >= 0)
		tpriv[npriv++] = (CK_ATTRIBUTE){ CKA_PRIVATE, priv ? &yes : &no,
			1 };
	tpriv[npriv++] = (CK_ATTRIBUTE){ CKA_SIGN, &yes, 1 };
	return F->C_GenerateKeyPair(h, &m, tpub, npub, tpriv, npriv, pub,
	    priv_h);
}

static CK_BBOOL
get_bool(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type)
{
	CK_BBOOL v = 0xaa;
	CK_ATTRIBUTE a = { type, &v, sizeof(v) };

	ck_assert_uint_eq(F->C_GetAttributeValue(h, o, &a, 1), CKR_OK);
	return v;
}

/* Signs and verifies one message with the pair; returns C_Verify's CKR. */
static CK_RV
sign_verify(CK_SESSION_HANDLE h, CK_MECHANISM_TYPE mech, CK_OBJECT_HANDLE pub,
    CK_OBJECT_HANDLE priv)
{
	CK_MECHANISM m = { mech, NULL, 0 };
	CK_BYTE sig[512];
	CK_ULONG len = sizeof(sig);
	CK_RV rv;

	if ((rv = F->C_SignInit(h, &m, priv)) != CKR_OK ||
	    (rv = F->C_Sign(h, message, 20, sig, &len)) != CKR_OK ||
	    (rv = F->C_VerifyInit(h, &m, pub)) != CKR_OK)
		return rv;
	return F->C_Verify(h, message, 20, sig, len);
}

static int
store_bytes_equal(const char *a, size_t alen)
{
	char buf[1 << 16];
	FILE *fp;
	size_t n;

	ck_assert_ptr_nonnull(fp = fopen(store_path, "rb"));
	n = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	return n == alen && memcmp(a, buf, n) == 0;
}

START_TEST(test_session_pairs_for_every_mechanism_in_a_read_only_session)
{
	static const struct {
		const char *kind;
		CK_MECHANISM_TYPE mech;
	} kinds[] = {
		{ "rsa", CKM_SHA256_RSA_PKCS },
		{ "p256", CKM_ECDSA_SHA256 },
		{ "p384", CKM_ECDSA_SHA384 },
		{ "p521", CKM_ECDSA_SHA512 },
		{ "ed", CKM_EDDSA },
	};
	CK_SESSION_HANDLE h = open_session(0, 0);
	CK_OBJECT_HANDLE pub, priv;
	CK_ULONG before, after;
	char store[1 << 16], label[32], id[8];
	size_t i, store_len;
	FILE *fp;
	struct ks_store *st;

	ck_assert_ptr_nonnull(fp = fopen(store_path, "rb"));
	store_len = fread(store, 1, sizeof(store), fp);
	fclose(fp);
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		snprintf(label, sizeof(label), "session-%s", kinds[i].kind);
		snprintf(id, sizeof(id), "%02zu", i + 1);
		before = ks_crypto_secure_used();
		/* Public-only use: no login, a read-only session. */
		ck_assert_uint_eq(gen_session(h, kinds[i].kind, label, id, 0,
				      &pub, &priv),
		    CKR_OK);
		after = ks_crypto_secure_used();
		/* The private key went to the locked heap. */
		ck_assert_uint_gt(after, before);
		ck_assert_uint_eq(get_bool(h, pub, CKA_TOKEN), CK_FALSE);
		ck_assert_uint_eq(get_bool(h, priv, CKA_TOKEN), CK_FALSE);
		ck_assert_uint_eq(get_bool(h, priv, CKA_PRIVATE), CK_FALSE);
		ck_assert_uint_eq(get_bool(h, priv, CKA_SENSITIVE), CK_TRUE);
		ck_assert_uint_eq(find(h, CKO_PRIVATE_KEY, label), priv);
		ck_assert_uint_eq(find(h, CKO_PUBLIC_KEY, label), pub);
		ck_assert_msg(sign_verify(h, kinds[i].mech, pub, priv) ==
			CKR_OK,
		    "%s", kinds[i].kind);
	}
	/* Nothing was written: the store file is byte for byte the same. */
	ck_assert(store_bytes_equal(store, store_len));
	ck_assert_int_eq(ks_store_open(store_path, &st), 0);
	ck_assert_int_eq(ks_store_find(st, "session-rsa"), -1);
	ks_store_free(st);
}
END_TEST

START_TEST(test_session_pair_keeps_the_callers_id_and_label)
{
	CK_SESSION_HANDLE h = open_session(0, 0);
	CK_OBJECT_HANDLE pub, priv, p2, q2;
	CK_BYTE idv[P11_ID_MAX_TEST + 1];
	CK_ATTRIBUTE a[2] = {
		{ CKA_ID, idv, sizeof(idv) },
		{ CKA_LABEL, NULL, 0 },
	};
	char lab[32];

	ck_assert_uint_eq(gen_session(h, "p256", "kept", "\x01\x02", 0, &pub,
			      &priv),
	    CKR_OK);
	a[1].pValue = lab;
	a[1].ulValueLen = sizeof(lab);
	ck_assert_uint_eq(F->C_GetAttributeValue(h, priv, a, 2), CKR_OK);
	ck_assert_uint_eq(a[0].ulValueLen, 2);
	ck_assert_mem_eq(idv, "\x01\x02", 2);
	ck_assert_uint_eq(a[1].ulValueLen, 4);
	ck_assert_mem_eq(lab, "kept", 4);
	a[0].ulValueLen = sizeof(idv);
	ck_assert_uint_eq(F->C_GetAttributeValue(h, pub, a, 1), CKR_OK);
	ck_assert_uint_eq(a[0].ulValueLen, 2);
	/* An ID another key has: CKR_ATTRIBUTE_VALUE_INVALID. */
	ck_assert_uint_eq(gen_session(h, "p256", "other", "\x01\x02", 0, &p2,
			      &q2),
	    CKR_ATTRIBUTE_VALUE_INVALID);
	/* No label, no ID: an empty label and the derived 16-byte ID. */
	ck_assert_uint_eq(gen_session(h, "ed", NULL, NULL, 0, &p2, &q2),
	    CKR_OK);
	a[0].ulValueLen = sizeof(idv);
	a[1].ulValueLen = sizeof(lab);
	ck_assert_uint_eq(F->C_GetAttributeValue(h, q2, a, 2), CKR_OK);
	ck_assert_uint_eq(a[0].ulValueLen, 16);
	ck_assert_uint_eq(a[1].ulValueLen, 0);
}
END_TEST

START_TEST(test_session_pair_templates_that_disagree_are_refused)
{
	CK_SESSION_HANDLE h = open_session(1, 1);
	CK_MECHANISM m = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_ATTRIBUTE pub[] = {
		{ CKA_EC_PARAMS, (void *)oid_p256, sizeof(oid_p256) },
		{ CKA_ID, "a", 1 },
		{ CKA_TOKEN, &no, 1 },
	};
	CK_ATTRIBUTE priv[] = { { CKA_ID, "b", 1 }, { CKA_TOKEN, &no, 1 } };
	CK_ATTRIBUTE priv_token[] = { { CKA_TOKEN, &yes, 1 } };
	CK_BYTE long_id[P11_ID_MAX_TEST + 1];
	CK_ATTRIBUTE priv_long[] = { { CKA_ID, long_id, sizeof(long_id) } };
	CK_OBJECT_HANDLE hp, hq;

	memset(long_id, 7, sizeof(long_id));
	ck_assert_uint_eq(F->C_GenerateKeyPair(h, &m, pub, 3, priv, 2, &hp,
			      &hq),
	    CKR_TEMPLATE_INCONSISTENT);
	/* One half a record, the other a session object. */
	ck_assert_uint_eq(F->C_GenerateKeyPair(h, &m, pub, 3, priv_token, 1,
			      &hp, &hq),
	    CKR_TEMPLATE_INCONSISTENT);
	ck_assert_uint_eq(F->C_GenerateKeyPair(h, &m, pub, 1, priv_long, 1, &hp,
			      &hq),
	    CKR_ATTRIBUTE_VALUE_INVALID);
}
END_TEST

START_TEST(test_private_session_pair_needs_login_and_goes_at_logout)
{
	CK_SESSION_HANDLE h = open_session(0, 0);
	CK_OBJECT_HANDLE pub, priv;
	CK_BBOOL v;
	CK_ATTRIBUTE a = { CKA_SIGN, &v, sizeof(v) };

	/* CKA_PRIVATE is true by default on the private half. */
	ck_assert_uint_eq(gen_session(h, "p384", "secret", NULL, -1, &pub,
			      &priv),
	    CKR_USER_NOT_LOGGED_IN);
	ck_assert_uint_eq(gen_session(h, "p384", "secret", NULL, 1, &pub,
			      &priv),
	    CKR_USER_NOT_LOGGED_IN);
	ck_assert_uint_eq(F->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)PIN,
			      strlen(PIN)),
	    CKR_OK);
	ck_assert_uint_eq(gen_session(h, "p384", "secret", NULL, -1, &pub,
			      &priv),
	    CKR_OK);
	ck_assert_uint_eq(get_bool(h, priv, CKA_PRIVATE), CK_TRUE);
	ck_assert_uint_eq(sign_verify(h, CKM_ECDSA_SHA384, pub, priv), CKR_OK);
	ck_assert_uint_eq(F->C_Logout(h), CKR_OK);
	/* Destroyed at logout, and not back at the next login. */
	ck_assert_uint_eq(F->C_GetAttributeValue(h, priv, &a, 1),
	    CKR_OBJECT_HANDLE_INVALID);
	ck_assert_uint_eq(F->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)PIN,
			      strlen(PIN)),
	    CKR_OK);
	ck_assert_uint_eq(F->C_GetAttributeValue(h, priv, &a, 1),
	    CKR_OBJECT_HANDLE_INVALID);
	ck_assert_uint_eq(find(h, CKO_PRIVATE_KEY, "secret"), 0);
	/* The public half was not private: it stays. */
	ck_assert_uint_eq(find(h, CKO_PUBLIC_KEY, "secret"), pub);
}
END_TEST

START_TEST(test_session_pair_goes_with_its_session_and_is_wiped)
{
	CK_SESSION_HANDLE a = open_session(0, 0), b = open_session(0, 0);
	CK_OBJECT_HANDLE pub, priv;
	CK_ULONG before;
	CK_BBOOL v;
	CK_ATTRIBUTE attr = { CKA_SIGN, &v, sizeof(v) };

	before = ks_crypto_secure_used();
	ck_assert_uint_eq(gen_session(a, "rsa", "short-lived", NULL, 0, &pub,
			      &priv),
	    CKR_OK);
	/* Visible to the application's other sessions while it lives. */
	ck_assert_uint_eq(find(b, CKO_PRIVATE_KEY, "short-lived"), priv);
	ck_assert_uint_eq(sign_verify(b, CKM_SHA256_RSA_PKCS, pub, priv),
	    CKR_OK);
	ck_assert_uint_eq(F->C_CloseSession(a), CKR_OK);
	ck_assert_uint_eq(find(b, CKO_PRIVATE_KEY, "short-lived"), 0);
	ck_assert_uint_eq(F->C_GetAttributeValue(b, pub, &attr, 1),
	    CKR_OBJECT_HANDLE_INVALID);
	/* Its locked memory was given back (and OpenSSL wiped it). */
	ck_assert_uint_eq(ks_crypto_secure_used(), before);
	/* C_CloseAllSessions and C_Finalize end every session's pairs. */
	a = open_session(0, 0);
	ck_assert_uint_eq(gen_session(a, "ed", "all", NULL, 0, &pub, &priv),
	    CKR_OK);
	ck_assert_uint_eq(F->C_CloseAllSessions(1), CKR_OK);
	a = open_session(0, 0);
	ck_assert_uint_eq(find(a, CKO_PRIVATE_KEY, "all"), 0);
	ck_assert_uint_eq(gen_session(a, "ed", "fin", NULL, 0, &pub, &priv),
	    CKR_OK);
	ck_assert_uint_eq(F->C_Finalize(NULL), CKR_OK);
	ck_assert_uint_eq(ks_crypto_secure_used(), before);
	ck_assert_uint_eq(F->C_Initialize(NULL), CKR_OK);
	a = open_session(0, 0);
	ck_assert_uint_eq(find(a, CKO_PRIVATE_KEY, "fin"), 0);
}
END_TEST

START_TEST(test_session_pair_halves_are_destroyed_one_by_one)
{
	CK_SESSION_HANDLE h = open_session(0, 0);
	CK_OBJECT_HANDLE pub, priv;
	CK_MECHANISM m = { CKM_EDDSA, NULL, 0 };
	CK_BYTE sig[64];
	CK_ULONG len = sizeof(sig);
	CK_BBOOL v;
	CK_ATTRIBUTE a = { CKA_SIGN, &v, sizeof(v) };

	ck_assert_uint_eq(gen_session(h, "ed", "halves", NULL, 0, &pub, &priv),
	    CKR_OK);
	/* As pkcs11test's KeyPair does: the public half, then the private. */
	ck_assert_uint_eq(F->C_DestroyObject(h, pub), CKR_OK);
	ck_assert_uint_eq(find(h, CKO_PUBLIC_KEY, "halves"), 0);
	ck_assert_uint_eq(F->C_SignInit(h, &m, priv), CKR_OK);
	ck_assert_uint_eq(F->C_Sign(h, message, 5, sig, &len), CKR_OK);
	ck_assert_uint_eq(F->C_DestroyObject(h, priv), CKR_OK);
	ck_assert_uint_eq(F->C_DestroyObject(h, priv),
	    CKR_OBJECT_HANDLE_INVALID);
	ck_assert_uint_eq(F->C_GetAttributeValue(h, priv, &a, 1),
	    CKR_OBJECT_HANDLE_INVALID);
}
END_TEST

START_TEST(test_session_pairs_are_capped)
{
	CK_SESSION_HANDLE h = open_session(0, 0);
	CK_OBJECT_HANDLE pub, priv;
	size_t i;

	for (i = 0; i < P11_MAX_SESSION_KEYS_TEST; i++)
		ck_assert_uint_eq(gen_session(h, "ed", NULL, NULL, 0, &pub,
				      &priv),
		    CKR_OK);
	/* An application looping on C_GenerateKeyPair fills no heap. */
	ck_assert_uint_eq(gen_session(h, "ed", NULL, NULL, 0, &pub, &priv),
	    CKR_DEVICE_MEMORY);
	ck_assert_uint_eq(F->C_DestroyObject(h, pub), CKR_OK);
	ck_assert_uint_eq(F->C_DestroyObject(h, priv), CKR_OK);
	ck_assert_uint_eq(gen_session(h, "ed", NULL, NULL, 0, &pub, &priv),
	    CKR_OK);
}
END_TEST

START_TEST(test_so_login_is_refused_after_the_spec_checks)
{
	CK_SESSION_HANDLE ro = open_session(0, 0), rw = open_session(1, 0);

	ck_assert_uint_eq(F->C_Login(rw, CKU_SO, (CK_UTF8CHAR_PTR)SO_PIN,
			      strlen(SO_PIN)),
	    CKR_SESSION_READ_ONLY_EXISTS);
	ck_assert_uint_eq(F->C_CloseSession(ro), CKR_OK);
	/* By design: the store's SO PIN only unblocks (kmes-keytool). */
	ck_assert_uint_eq(F->C_Login(rw, CKU_SO, (CK_UTF8CHAR_PTR)SO_PIN,
			      strlen(SO_PIN)),
	    CKR_USER_TYPE_INVALID);
	ck_assert_uint_eq(F->C_Login(rw, CKU_USER, (CK_UTF8CHAR_PTR)PIN,
			      strlen(PIN)),
	    CKR_OK);
	ck_assert_uint_eq(F->C_Login(rw, CKU_SO, (CK_UTF8CHAR_PTR)SO_PIN,
			      strlen(SO_PIN)),
	    CKR_USER_ANOTHER_ALREADY_LOGGED_IN);
}
END_TEST

START_TEST(test_public_exponent_may_have_leading_zero_bytes)
{
	CK_SESSION_HANDLE h = open_session(0, 0);
	CK_MECHANISM m = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_ULONG bits = 1024;
	CK_BYTE e4[] = { 0, 1, 0, 1 }, e3[] = { 3 };
	CK_ATTRIBUTE pub[] = {
		{ CKA_MODULUS_BITS, &bits, sizeof(bits) },
		{ CKA_PUBLIC_EXPONENT, e4, sizeof(e4) },
	};
	CK_ATTRIBUTE priv[] = { { CKA_PRIVATE, &no, 1 } };
	CK_OBJECT_HANDLE hp, hq;

	ck_assert_uint_eq(F->C_GenerateKeyPair(h, &m, pub, 2, priv, 1, &hp,
			      &hq),
	    CKR_OK);
	pub[1].pValue = e3;
	pub[1].ulValueLen = sizeof(e3);
	ck_assert_uint_eq(F->C_GenerateKeyPair(h, &m, pub, 2, priv, 1, &hp,
			      &hq),
	    CKR_ATTRIBUTE_VALUE_INVALID);
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

	tc = tcase_create("verify");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_verify_accepts_each_mechanisms_signature);
	tcase_add_test(tc,
	    test_verify_refuses_a_flipped_bit_and_a_wrong_length);
	tcase_add_test(tc,
	    test_verify_needs_no_login_and_only_the_public_object);
	suite_add_tcase(s, tc);

	tc = tcase_create("session keys");
	tcase_set_timeout(tc, 240);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc,
	    test_session_pairs_for_every_mechanism_in_a_read_only_session);
	tcase_add_test(tc, test_session_pair_keeps_the_callers_id_and_label);
	tcase_add_test(tc,
	    test_session_pair_templates_that_disagree_are_refused);
	tcase_add_test(tc,
	    test_private_session_pair_needs_login_and_goes_at_logout);
	tcase_add_test(tc,
	    test_session_pair_goes_with_its_session_and_is_wiped);
	tcase_add_test(tc, test_session_pair_halves_are_destroyed_one_by_one);
	tcase_add_test(tc, test_session_pairs_are_capped);
	tcase_add_test(tc, test_so_login_is_refused_after_the_spec_checks);
	tcase_add_test(tc, test_public_exponent_may_have_leading_zero_bytes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(conf_suite());
}
