/*
 * p11-entry.h: what the files holding libkmes-pkcs11.so's entry points
 * share: the checks every entry point makes first (p11-module.c), the
 * session table's upkeep (p11-session.c), and the entry points that
 * p11-module.c's function lists name. Private to the module.
 */
#ifndef KMES_P11_ENTRY_H
#define KMES_P11_ENTRY_H

#include "p11-compat.h"

struct p11_session;

/*
 * The checks an entry point makes before its own work, in the order
 * PKCS#11 applications rely on (test-pkcs11-conf holds us to it): the
 * library is initialised (CKR_CRYPTOKI_NOT_INITIALIZED), then the slot or
 * session exists (CKR_SLOT_ID_INVALID, CKR_SESSION_HANDLE_INVALID), then
 * the caller's arguments are usable (bad true: CKR_ARGUMENTS_BAD). Each
 * takes p11_lock and returns CKR_OK with it held, or the first failed
 * check's CKR_* with it released. All but p11_check_session_keep spend the
 * fresh login (struct p11_state); that one is for C_SignInit and the
 * searches of the session that logged in, which a PIN typed for one
 * signature must survive.
 */
CK_RV p11_check_init(int bad);
CK_RV p11_check_slot(CK_SLOT_ID slot, int bad);
CK_RV p11_check_session(CK_SESSION_HANDLE h, struct p11_session **sp, int bad);
CK_RV p11_check_session_keep(CK_SESSION_HANDLE h, struct p11_session **sp);

/*
 * An entry point's first line: makes its checks (one p11_check_* call) and
 * returns their answer if one fails. Past it the lock is held, and every
 * way out goes through p11_leave() or p11_leave_with().
 */
#define P11_ENTER(checks) \
	do { \
		CK_RV p11_enter_rv_ = (checks); \
		if (p11_enter_rv_ != CKR_OK) \
			return p11_enter_rv_; \
	} while (0)

/* Releases p11_lock. */
void p11_leave(void);

/* Releases p11_lock and returns rv: an entry point's last line. */
CK_RV p11_leave_with(CK_RV rv);

/* The open session with handle h, or NULL. */
struct p11_session *p11_session_get(CK_SESSION_HANDLE h);

/* Closes every session (their session keys go with them). */
void p11_sessions_close_all(void);

/* Forgets the login: data key and every decrypted key, wiped. */
void p11_logout_all(void);

/* Entry points, with the lock taken inside (p11-slot.c). */
CK_RV p11_C_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list,
    CK_ULONG_PTR count);
CK_RV p11_C_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info);
CK_RV p11_C_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info);
CK_RV p11_C_GetMechanismList(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list,
    CK_ULONG_PTR count);
CK_RV p11_C_GetMechanismInfo(CK_SLOT_ID slot, CK_MECHANISM_TYPE type,
    CK_MECHANISM_INFO_PTR info);

/* p11-session.c */
CK_RV p11_C_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app,
    CK_NOTIFY notify, CK_SESSION_HANDLE_PTR hp);
CK_RV p11_C_CloseSession(CK_SESSION_HANDLE h);
CK_RV p11_C_CloseAllSessions(CK_SLOT_ID slot);
CK_RV p11_C_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR info);
CK_RV p11_C_Login(CK_SESSION_HANDLE h, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin,
    CK_ULONG pinlen);
CK_RV p11_C_LoginUser(CK_SESSION_HANDLE h, CK_USER_TYPE user,
    CK_UTF8CHAR_PTR pin, CK_ULONG pinlen, CK_UTF8CHAR_PTR name,
    CK_ULONG namelen);
CK_RV p11_C_Logout(CK_SESSION_HANDLE h);
CK_RV p11_C_SessionCancel(CK_SESSION_HANDLE h, CK_FLAGS flags);

/* p11-ops.c */
CK_RV p11_C_DestroyObject(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj);
CK_RV p11_C_GetObjectSize(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj,
    CK_ULONG_PTR size);
CK_RV p11_C_GetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj,
    CK_ATTRIBUTE_PTR attrs, CK_ULONG n);
CK_RV p11_C_SetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj,
    CK_ATTRIBUTE_PTR attrs, CK_ULONG n);
CK_RV p11_C_FindObjectsInit(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR attrs,
    CK_ULONG n);
CK_RV p11_C_FindObjects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR out,
    CK_ULONG max, CK_ULONG_PTR count);
CK_RV p11_C_FindObjectsFinal(CK_SESSION_HANDLE h);
CK_RV p11_C_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech,
    CK_OBJECT_HANDLE key);
CK_RV p11_C_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len,
    CK_BYTE_PTR sig, CK_ULONG_PTR siglen);
CK_RV p11_C_SignUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len);
CK_RV p11_C_SignFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig,
    CK_ULONG_PTR siglen);
CK_RV p11_C_VerifyInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech,
    CK_OBJECT_HANDLE key);
CK_RV p11_C_Verify(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len,
    CK_BYTE_PTR sig, CK_ULONG siglen);
CK_RV p11_C_VerifyUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len);
CK_RV p11_C_VerifyFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG siglen);
CK_RV p11_C_GenerateKeyPair(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech,
    CK_ATTRIBUTE_PTR pub, CK_ULONG npub, CK_ATTRIBUTE_PTR priv, CK_ULONG npriv,
    CK_OBJECT_HANDLE_PTR hpub, CK_OBJECT_HANDLE_PTR hpriv);
CK_RV p11_C_GenerateRandom(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG len);

#endif /* KMES_P11_ENTRY_H */
