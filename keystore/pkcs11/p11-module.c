/*
 * p11-module.c: the core of libkmes-pkcs11.so: its state and lock, the
 * checks every entry point makes first (p11-entry.h), C_Initialize,
 * C_Finalize, C_GetInfo, and the function lists and interfaces it exports.
 * The other entry points: p11-slot.c (slot, token, mechanisms),
 * p11-session.c (sessions, login), p11-ops.c (objects, signing, keygen),
 * p11-stubs.c (what the token does not do).
 *
 * Every entry point takes p11_lock for its whole run (CKF_OS_LOCKING_OK:
 * the module locks for itself whatever the application asks). A process
 * made by fork() inherits the parent's state but none of its threads, so
 * the first call in a child notices the new pid, forgets the parent's
 * state (wiping its copy of the data key and any decrypted key) and acts
 * as a never-initialised module until C_Initialize, as p11-kit expects.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "kmes-err.h"
#include "p11-entry.h"
#include "p11-stubs.h"
#include "p11.h"
#include "store.h"

/* Locked heap for decrypted keys: room for many RSA-16384 keys. */
#define SECURE_HEAP_BYTES (1024 * 1024)

struct p11_state p11;
static pthread_mutex_t p11_lock = PTHREAD_MUTEX_INITIALIZER;

CK_RV
p11_rv(int r)
{
	switch (r) {
	case 0:
		return CKR_OK;
	case KMES_ERR_ALLOC:
		return CKR_HOST_MEMORY;
	case KMES_ERR_PIN_INCORRECT:
		return CKR_PIN_INCORRECT;
	case KMES_ERR_PIN_LOCKED:
		return CKR_PIN_LOCKED;
	case KMES_ERR_NOT_LOGGED_IN:
		return CKR_USER_NOT_LOGGED_IN;
	case KMES_ERR_KEY_NOT_FOUND:
		return CKR_KEY_HANDLE_INVALID;
	case KMES_ERR_STORE_CORRUPT:
	case KMES_ERR_STORE_NOT_FOUND:
	case KMES_ERR_SYSTEM:
		return CKR_DEVICE_ERROR;
	case KMES_ERR_INVALID_ARGUMENT:
		return CKR_ARGUMENTS_BAD;
	default:
		return CKR_FUNCTION_FAILED;
	}
}

void
p11_pad(CK_UTF8CHAR *dst, size_t width, const char *s)
{
	size_t n = s == NULL ? 0 : strlen(s);

	if (n > width)
		n = width;
	memset(dst, ' ', width);
	if (n > 0)
		memcpy(dst, s, n);
}

static void
state_free(void)
{
	p11_logout_all();
	p11_sessions_close_all();
	p11_objects_clear();
	ks_store_free(p11.store);
	free(p11.path);
	memset(&p11, 0, sizeof(p11));
}

/*
 * In a child of fork(): the store's data key sits in MADV_DONTFORK pages
 * (secmem.c), which the child does not have, so the parent's store must
 * not be touched: it is dropped without freeing (its pages are the
 * parent's copy anyway). Decrypted keys live in OpenSSL's secure heap,
 * which the child does inherit: those are wiped.
 */
static void
state_forget_parent(void)
{
	size_t i;

	for (i = 0; i < p11.nsessions; i++)
		p11_sign_op_end(&p11.sessions[i]->sign);
	p11_sessions_close_all();
	p11_objects_clear(); /* wipes the signers */
	p11.store = NULL;
	free(p11.path);
	memset(&p11, 0, sizeof(p11));
}

/* Takes the lock, first shedding a parent's state after fork(). */
static void
lock_raw(void)
{
	/*
	 * Read unlocked on purpose: in a fresh child only this thread
	 * exists, and a lock held by a parent thread would never be freed.
	 */
	if (p11.initialized && p11.pid != getpid()) {
		(void)pthread_mutex_init(&p11_lock, NULL);
		state_forget_parent();
	}
	(void)pthread_mutex_lock(&p11_lock);
}

void
p11_leave(void)
{
	(void)pthread_mutex_unlock(&p11_lock);
}

/*
 * Locks for an entry point that may not spend the fresh login: only
 * C_SignInit, which takes it, and the searches of the session that logged
 * in. Every other entry point comes in through enter() (the check_* below).
 */
static CK_RV
enter_keep(void)
{
	lock_raw();
	if (!p11.initialized) {
		p11_leave();
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	}
	return CKR_OK;
}

static CK_RV
enter(void)
{
	CK_RV rv;

	if ((rv = enter_keep()) == CKR_OK)
		p11.fresh_login = 0;
	return rv;
}

int
p11_fresh_login_take(const struct p11_session *s)
{
	int fresh = p11.fresh_login != 0 && p11.fresh_login == s->handle;

	p11.fresh_login = 0;
	return fresh;
}

/*
 * Locks and finds the session; on failure the lock is not held. With keep,
 * the fresh login survives if it is this session's (its search for the
 * key to sign with); otherwise the call spends it.
 */
static CK_RV
enter_session_as(CK_SESSION_HANDLE h, struct p11_session **sp, int keep)
{
	CK_RV rv;

	if ((rv = enter_keep()) != CKR_OK)
		return rv;
	if (!keep || p11.fresh_login != h)
		p11.fresh_login = 0;
	if ((*sp = p11_session_get(h)) == NULL) {
		p11_leave();
		return CKR_SESSION_HANDLE_INVALID;
	}
	return CKR_OK;
}

CK_RV
p11_leave_with(CK_RV rv)
{
	p11_leave();
	return rv;
}

/* Keeps the lock for a check that passed, gives it back after a failure. */
static CK_RV
checked(CK_RV rv)
{
	if (rv != CKR_OK)
		p11_leave();
	return rv;
}

/* The p11_check_* order is PKCS#11's: see p11-entry.h. */
CK_RV
p11_check_init(int bad)
{
	CK_RV rv;

	if ((rv = enter()) != CKR_OK)
		return rv;
	return checked(bad ? CKR_ARGUMENTS_BAD : CKR_OK);
}

CK_RV
p11_check_slot(CK_SLOT_ID slot, int bad)
{
	CK_RV rv;

	if ((rv = enter()) != CKR_OK)
		return rv;
	if (slot != P11_SLOT_ID)
		rv = CKR_SLOT_ID_INVALID;
	else if (bad)
		rv = CKR_ARGUMENTS_BAD;
	return checked(rv);
}

CK_RV
p11_check_session(CK_SESSION_HANDLE h, struct p11_session **sp, int bad)
{
	CK_RV rv;

	if ((rv = enter_session_as(h, sp, 0)) != CKR_OK)
		return rv;
	return checked(bad ? CKR_ARGUMENTS_BAD : CKR_OK);
}

CK_RV
p11_check_session_keep(CK_SESSION_HANDLE h, struct p11_session **sp)
{
	return enter_session_as(h, sp, 1);
}

CK_RV
p11_stub_entry(int at, CK_ULONG id, int bad, CK_RV answer)
{
	struct p11_session *s;

	if (at == 1)
		P11_ENTER(p11_check_session(id, &s, bad));
	else if (at == 2)
		P11_ENTER(p11_check_slot(id, bad));
	else
		P11_ENTER(p11_check_init(bad));
	return p11_leave_with(answer);
}

static CK_RV
p11_C_Initialize(CK_VOID_PTR init_args)
{
	CK_C_INITIALIZE_ARGS *a = init_args;
	int nfn, r;
	CK_RV rv;

	if (a != NULL) {
		if (a->pReserved != NULL)
			return CKR_ARGUMENTS_BAD;
		nfn = (a->CreateMutex != NULL) + (a->DestroyMutex != NULL) +
		    (a->LockMutex != NULL) + (a->UnlockMutex != NULL);
		if (nfn != 0 && nfn != 4)
			return CKR_ARGUMENTS_BAD;
		/* We lock with pthreads; an application's own locks only. */
		if (nfn == 4 && !(a->flags & CKF_OS_LOCKING_OK))
			return CKR_CANT_LOCK;
	}
	lock_raw();
	if (p11.initialized) {
		p11.fresh_login = 0;
		rv = CKR_CRYPTOKI_ALREADY_INITIALIZED;
		goto out;
	}
	/* An unlockable heap (low RLIMIT_MEMLOCK) still serves, as keytool. */
	if ((r = ks_crypto_init(SECURE_HEAP_BYTES)) != 0 &&
	    r != KMES_ERR_SYSTEM) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	memset(&p11, 0, sizeof(p11));
	p11.path = ks_store_default_path(); /* NULL: never a token */
	p11.pid = getpid();
	p11.next_handle = 2;
	p11.next_session = 1;
	p11.initialized = 1;
	rv = p11_sync();
	if (rv != CKR_OK)
		state_free();
out:
	p11_leave();
	return rv;
}

static CK_RV
p11_C_Finalize(CK_VOID_PTR reserved)
{
	P11_ENTER(p11_check_init(reserved != NULL));
	state_free();
	return p11_leave_with(CKR_OK);
}

static CK_RV
p11_C_GetInfo(CK_INFO_PTR info)
{
	P11_ENTER(p11_check_init(info == NULL));
	memset(info, 0, sizeof(*info));
	info->cryptokiVersion.major = 3;
	info->cryptokiVersion.minor = 0;
	p11_pad(info->manufacturerID, sizeof(info->manufacturerID),
	    "kmes-agent");
	p11_pad(info->libraryDescription, sizeof(info->libraryDescription),
	    "kmes key store");
	info->libraryVersion.major = 0;
	info->libraryVersion.minor = 1;
	return p11_leave_with(CKR_OK);
}

/* The 2.40 functions, shared by both lists. */
#define P11_FUNCTIONS_2_40 \
	.C_Initialize = p11_C_Initialize, .C_Finalize = p11_C_Finalize, \
	.C_GetInfo = p11_C_GetInfo, .C_GetFunctionList = C_GetFunctionList, \
	.C_GetSlotList = p11_C_GetSlotList, \
	.C_GetSlotInfo = p11_C_GetSlotInfo, \
	.C_GetTokenInfo = p11_C_GetTokenInfo, \
	.C_GetMechanismList = p11_C_GetMechanismList, \
	.C_GetMechanismInfo = p11_C_GetMechanismInfo, \
	.C_InitToken = p11_C_InitToken, .C_InitPIN = p11_C_InitPIN, \
	.C_SetPIN = p11_C_SetPIN, .C_OpenSession = p11_C_OpenSession, \
	.C_CloseSession = p11_C_CloseSession, \
	.C_CloseAllSessions = p11_C_CloseAllSessions, \
	.C_GetSessionInfo = p11_C_GetSessionInfo, \
	.C_GetOperationState = p11_C_GetOperationState, \
	.C_SetOperationState = p11_C_SetOperationState, \
	.C_Login = p11_C_Login, .C_Logout = p11_C_Logout, \
	.C_CreateObject = p11_C_CreateObject, \
	.C_CopyObject = p11_C_CopyObject, \
	.C_DestroyObject = p11_C_DestroyObject, \
	.C_GetObjectSize = p11_C_GetObjectSize, \
	.C_GetAttributeValue = p11_C_GetAttributeValue, \
	.C_SetAttributeValue = p11_C_SetAttributeValue, \
	.C_FindObjectsInit = p11_C_FindObjectsInit, \
	.C_FindObjects = p11_C_FindObjects, \
	.C_FindObjectsFinal = p11_C_FindObjectsFinal, \
	.C_EncryptInit = p11_C_EncryptInit, .C_Encrypt = p11_C_Encrypt, \
	.C_EncryptUpdate = p11_C_EncryptUpdate, \
	.C_EncryptFinal = p11_C_EncryptFinal, \
	.C_DecryptInit = p11_C_DecryptInit, .C_Decrypt = p11_C_Decrypt, \
	.C_DecryptUpdate = p11_C_DecryptUpdate, \
	.C_DecryptFinal = p11_C_DecryptFinal, \
	.C_DigestInit = p11_C_DigestInit, .C_Digest = p11_C_Digest, \
	.C_DigestUpdate = p11_C_DigestUpdate, .C_DigestKey = p11_C_DigestKey, \
	.C_DigestFinal = p11_C_DigestFinal, .C_SignInit = p11_C_SignInit, \
	.C_Sign = p11_C_Sign, .C_SignUpdate = p11_C_SignUpdate, \
	.C_SignFinal = p11_C_SignFinal, \
	.C_SignRecoverInit = p11_C_SignRecoverInit, \
	.C_SignRecover = p11_C_SignRecover, .C_VerifyInit = p11_C_VerifyInit, \
	.C_Verify = p11_C_Verify, .C_VerifyUpdate = p11_C_VerifyUpdate, \
	.C_VerifyFinal = p11_C_VerifyFinal, \
	.C_VerifyRecoverInit = p11_C_VerifyRecoverInit, \
	.C_VerifyRecover = p11_C_VerifyRecover, \
	.C_DigestEncryptUpdate = p11_C_DigestEncryptUpdate, \
	.C_DecryptDigestUpdate = p11_C_DecryptDigestUpdate, \
	.C_SignEncryptUpdate = p11_C_SignEncryptUpdate, \
	.C_DecryptVerifyUpdate = p11_C_DecryptVerifyUpdate, \
	.C_GenerateKey = p11_C_GenerateKey, \
	.C_GenerateKeyPair = p11_C_GenerateKeyPair, \
	.C_WrapKey = p11_C_WrapKey, .C_UnwrapKey = p11_C_UnwrapKey, \
	.C_DeriveKey = p11_C_DeriveKey, .C_SeedRandom = p11_C_SeedRandom, \
	.C_GenerateRandom = p11_C_GenerateRandom, \
	.C_GetFunctionStatus = p11_C_GetFunctionStatus, \
	.C_CancelFunction = p11_C_CancelFunction, \
	.C_WaitForSlotEvent = p11_C_WaitForSlotEvent

static CK_FUNCTION_LIST functions_2_40 = {
	.version = { 2, 40 },
	P11_FUNCTIONS_2_40,
};

static CK_FUNCTION_LIST_3_0 functions_3_0 = {
	.version = { 3, 0 },
	P11_FUNCTIONS_2_40,
	.C_GetInterfaceList = C_GetInterfaceList,
	.C_GetInterface = C_GetInterface,
	.C_LoginUser = p11_C_LoginUser,
	.C_SessionCancel = p11_C_SessionCancel,
	.C_MessageEncryptInit = p11_C_MessageInit,
	.C_EncryptMessage = p11_C_CryptMessage,
	.C_EncryptMessageBegin = p11_C_CryptMessageBegin,
	.C_EncryptMessageNext = p11_C_CryptMessageNext,
	.C_MessageEncryptFinal = p11_C_MessageFinal,
	.C_MessageDecryptInit = p11_C_MessageInit,
	.C_DecryptMessage = p11_C_CryptMessage,
	.C_DecryptMessageBegin = p11_C_CryptMessageBegin,
	.C_DecryptMessageNext = p11_C_CryptMessageNext,
	.C_MessageDecryptFinal = p11_C_MessageFinal,
	.C_MessageSignInit = p11_C_MessageInit,
	.C_SignMessage = p11_C_SignMessage,
	.C_SignMessageBegin = p11_C_MessageBegin,
	.C_SignMessageNext = p11_C_SignMessage,
	.C_MessageSignFinal = p11_C_MessageFinal,
	.C_MessageVerifyInit = p11_C_MessageInit,
	.C_VerifyMessage = p11_C_VerifyMessage,
	.C_VerifyMessageBegin = p11_C_MessageBegin,
	.C_VerifyMessageNext = p11_C_VerifyMessage,
	.C_MessageVerifyFinal = p11_C_MessageFinal,
};

static CK_CHAR interface_name[] = "PKCS 11";

/* The newest first: C_GetInterface with no name or version takes it. */
static CK_INTERFACE interfaces[] = {
	{ interface_name, &functions_3_0, 0 },
	{ interface_name, &functions_2_40, 0 },
};
#define NINTERFACES (sizeof(interfaces) / sizeof(interfaces[0]))

/* Built with -fvisibility=hidden; the version script lists these too. */
#define P11_EXPORT __attribute__((visibility("default")))

P11_EXPORT CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	if (list == NULL)
		return CKR_ARGUMENTS_BAD;
	*list = &functions_2_40;
	return CKR_OK;
}

P11_EXPORT CK_RV
C_GetInterfaceList(CK_INTERFACE_PTR list, CK_ULONG_PTR count)
{
	size_t i;

	if (count == NULL)
		return CKR_ARGUMENTS_BAD;
	if (list == NULL) {
		*count = NINTERFACES;
		return CKR_OK;
	}
	if (*count < NINTERFACES) {
		*count = NINTERFACES;
		return CKR_BUFFER_TOO_SMALL;
	}
	for (i = 0; i < NINTERFACES; i++)
		list[i] = interfaces[i];
	*count = NINTERFACES;
	return CKR_OK;
}

P11_EXPORT CK_RV
C_GetInterface(CK_UTF8CHAR_PTR name, CK_VERSION_PTR version,
    CK_INTERFACE_PTR_PTR ifp, CK_FLAGS flags)
{
	const CK_VERSION *v;
	size_t i;

	if (ifp == NULL)
		return CKR_ARGUMENTS_BAD;
	if (name != NULL && strcmp((const char *)name, "PKCS 11") != 0)
		return CKR_ARGUMENTS_BAD;
	for (i = 0; i < NINTERFACES; i++) {
		v = interfaces[i].pFunctionList; /* version comes first */
		if (version != NULL &&
		    (version->major != v->major || version->minor != v->minor))
			continue;
		if ((interfaces[i].flags & flags) != flags)
			continue;
		*ifp = &interfaces[i];
		return CKR_OK;
	}
	return CKR_ARGUMENTS_BAD;
}
