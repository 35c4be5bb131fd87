/*
 * p11-shim-functions.h: the PKCS#11 2.40 function list as X-macro tables,
 * for p11-shim.c only. The wrappers, the list the shim hands out and the
 * names a control-file rule may use are all generated from here, so a
 * function cannot be wrapped but unnamable, or named but left unwrapped.
 *
 * X(name, parameter list, argument list[, end]) with CK_* types from
 * <p11-kit/pkcs11.h>; every function except C_GetFunctionList, which the
 * shim exports itself.
 */
#ifndef KMES_P11_SHIM_FUNCTIONS_H
#define KMES_P11_SHIM_FUNCTIONS_H

/* Calls that neither run nor end a crypto operation. */
#define SHIM_FUNCTIONS(X) \
	X(C_Initialize, (CK_VOID_PTR a), (a)) \
	X(C_Finalize, (CK_VOID_PTR r), (r)) \
	X(C_GetInfo, (CK_INFO_PTR i), (i)) \
	X(C_GetSlotList, (CK_BBOOL p, CK_SLOT_ID_PTR l, CK_ULONG_PTR n), \
	    (p, l, n)) \
	X(C_GetSlotInfo, (CK_SLOT_ID s, CK_SLOT_INFO_PTR i), (s, i)) \
	X(C_GetTokenInfo, (CK_SLOT_ID s, CK_TOKEN_INFO_PTR i), (s, i)) \
	X(C_GetMechanismList, \
	    (CK_SLOT_ID s, CK_MECHANISM_TYPE_PTR l, CK_ULONG_PTR n), \
	    (s, l, n)) \
	X(C_GetMechanismInfo, \
	    (CK_SLOT_ID s, CK_MECHANISM_TYPE t, CK_MECHANISM_INFO_PTR i), \
	    (s, t, i)) \
	X(C_InitToken, \
	    (CK_SLOT_ID s, CK_UTF8CHAR_PTR p, CK_ULONG n, CK_UTF8CHAR_PTR l), \
	    (s, p, n, l)) \
	X(C_InitPIN, (CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR p, CK_ULONG n), \
	    (h, p, n)) \
	X(C_SetPIN, \
	    (CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR o, CK_ULONG on, \
		CK_UTF8CHAR_PTR p, CK_ULONG pn), \
	    (h, o, on, p, pn)) \
	X(C_OpenSession, \
	    (CK_SLOT_ID s, CK_FLAGS f, CK_VOID_PTR a, CK_NOTIFY cb, \
		CK_SESSION_HANDLE_PTR h), \
	    (s, f, a, cb, h)) \
	X(C_CloseSession, (CK_SESSION_HANDLE h), (h)) \
	X(C_CloseAllSessions, (CK_SLOT_ID s), (s)) \
	X(C_GetSessionInfo, (CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR i), \
	    (h, i)) \
	X(C_GetOperationState, \
	    (CK_SESSION_HANDLE h, CK_BYTE_PTR st, CK_ULONG_PTR n), (h, st, n)) \
	X(C_SetOperationState, \
	    (CK_SESSION_HANDLE h, CK_BYTE_PTR st, CK_ULONG n, \
		CK_OBJECT_HANDLE ek, CK_OBJECT_HANDLE ak), \
	    (h, st, n, ek, ak)) \
	X(C_Login, \
	    (CK_SESSION_HANDLE h, CK_USER_TYPE u, CK_UTF8CHAR_PTR p, \
		CK_ULONG n), \
	    (h, u, p, n)) \
	X(C_Logout, (CK_SESSION_HANDLE h), (h)) \
	X(C_CreateObject, \
	    (CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t, CK_ULONG n, \
		CK_OBJECT_HANDLE_PTR o), \
	    (h, t, n, o)) \
	X(C_CopyObject, \
	    (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, \
		CK_ULONG n, CK_OBJECT_HANDLE_PTR no), \
	    (h, o, t, n, no)) \
	X(C_DestroyObject, (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o), (h, o)) \
	X(C_GetObjectSize, \
	    (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ULONG_PTR n), \
	    (h, o, n)) \
	X(C_GetAttributeValue, \
	    (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, \
		CK_ULONG n), \
	    (h, o, t, n)) \
	X(C_SetAttributeValue, \
	    (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, \
		CK_ULONG n), \
	    (h, o, t, n)) \
	X(C_FindObjectsInit, \
	    (CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t, CK_ULONG n), (h, t, n)) \
	X(C_FindObjects, \
	    (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR o, CK_ULONG max, \
		CK_ULONG_PTR n), \
	    (h, o, max, n)) \
	X(C_FindObjectsFinal, (CK_SESSION_HANDLE h), (h)) \
	X(C_EncryptInit, \
	    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), \
	    (h, m, k)) \
	X(C_DecryptInit, \
	    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), \
	    (h, m, k)) \
	X(C_DigestInit, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m), (h, m)) \
	X(C_SignInit, \
	    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), \
	    (h, m, k)) \
	X(C_SignRecoverInit, \
	    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), \
	    (h, m, k)) \
	X(C_VerifyInit, \
	    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), \
	    (h, m, k)) \
	X(C_VerifyRecoverInit, \
	    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), \
	    (h, m, k)) \
	X(C_DigestEncryptUpdate, \
	    (CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inl, \
		CK_BYTE_PTR out, CK_ULONG_PTR outl), \
	    (h, in, inl, out, outl)) \
	X(C_DecryptDigestUpdate, \
	    (CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inl, \
		CK_BYTE_PTR out, CK_ULONG_PTR outl), \
	    (h, in, inl, out, outl)) \
	X(C_SignEncryptUpdate, \
	    (CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inl, \
		CK_BYTE_PTR out, CK_ULONG_PTR outl), \
	    (h, in, inl, out, outl)) \
	X(C_DecryptVerifyUpdate, \
	    (CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inl, \
		CK_BYTE_PTR out, CK_ULONG_PTR outl), \
	    (h, in, inl, out, outl)) \
	X(C_GenerateKey, \
	    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR t, \
		CK_ULONG n, CK_OBJECT_HANDLE_PTR k), \
	    (h, m, t, n, k)) \
	X(C_GenerateKeyPair, \
	    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR pt, \
		CK_ULONG pn, CK_ATTRIBUTE_PTR st, CK_ULONG sn, \
		CK_OBJECT_HANDLE_PTR pk, CK_OBJECT_HANDLE_PTR sk), \
	    (h, m, pt, pn, st, sn, pk, sk)) \
	X(C_WrapKey, \
	    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE wk, \
		CK_OBJECT_HANDLE k, CK_BYTE_PTR out, CK_ULONG_PTR outl), \
	    (h, m, wk, k, out, outl)) \
	X(C_UnwrapKey, \
	    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE uk, \
		CK_BYTE_PTR in, CK_ULONG inl, CK_ATTRIBUTE_PTR t, CK_ULONG n, \
		CK_OBJECT_HANDLE_PTR k), \
	    (h, m, uk, in, inl, t, n, k)) \
	X(C_DeriveKey, \
	    (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE bk, \
		CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR k), \
	    (h, m, bk, t, n, k)) \
	X(C_SeedRandom, (CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inl), \
	    (h, in, inl)) \
	X(C_GenerateRandom, \
	    (CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG outl), \
	    (h, out, outl)) \
	X(C_GetFunctionStatus, (CK_SESSION_HANDLE h), (h)) \
	X(C_CancelFunction, (CK_SESSION_HANDLE h), (h)) \
	X(C_WaitForSlotEvent, (CK_FLAGS f, CK_SLOT_ID_PTR s, CK_VOID_PTR r), \
	    (f, s, r))

/*
 * The calls that run or end a crypto operation, with a fourth column: how
 * to end the real module's operation when a rule fakes an error. PKCS#11
 * says such an error terminates the operation; if the real module still
 * had it active, a caller retrying on the same session would meet
 * CKR_OPERATION_ACTIVE, which no real token would say. So the shim lets
 * the real module finish the operation into a scratch buffer, then
 * reports the faked code. (The dual-function updates are left alone.)
 */
#define SHIM_OPERATIONS(X) \
	X(C_Encrypt, \
	    (CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inl, \
		CK_BYTE_PTR out, CK_ULONG_PTR outl), \
	    (h, in, inl, out, outl), \
	    shim_end_one(shim_real->C_Encrypt, h, in, inl)) \
	X(C_EncryptUpdate, \
	    (CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inl, \
		CK_BYTE_PTR out, CK_ULONG_PTR outl), \
	    (h, in, inl, out, outl), \
	    shim_end_final(shim_real->C_EncryptFinal, h)) \
	X(C_EncryptFinal, \
	    (CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outl), \
	    (h, out, outl), shim_end_final(shim_real->C_EncryptFinal, h)) \
	X(C_Decrypt, \
	    (CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inl, \
		CK_BYTE_PTR out, CK_ULONG_PTR outl), \
	    (h, in, inl, out, outl), \
	    shim_end_one(shim_real->C_Decrypt, h, in, inl)) \
	X(C_DecryptUpdate, \
	    (CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inl, \
		CK_BYTE_PTR out, CK_ULONG_PTR outl), \
	    (h, in, inl, out, outl), \
	    shim_end_final(shim_real->C_DecryptFinal, h)) \
	X(C_DecryptFinal, \
	    (CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outl), \
	    (h, out, outl), shim_end_final(shim_real->C_DecryptFinal, h)) \
	X(C_Digest, \
	    (CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inl, \
		CK_BYTE_PTR out, CK_ULONG_PTR outl), \
	    (h, in, inl, out, outl), \
	    shim_end_one(shim_real->C_Digest, h, in, inl)) \
	X(C_DigestUpdate, (CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inl), \
	    (h, in, inl), shim_end_final(shim_real->C_DigestFinal, h)) \
	X(C_DigestKey, (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE k), (h, k), \
	    shim_end_final(shim_real->C_DigestFinal, h)) \
	X(C_DigestFinal, \
	    (CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outl), \
	    (h, out, outl), shim_end_final(shim_real->C_DigestFinal, h)) \
	X(C_Sign, \
	    (CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inl, \
		CK_BYTE_PTR out, CK_ULONG_PTR outl), \
	    (h, in, inl, out, outl), \
	    shim_end_one(shim_real->C_Sign, h, in, inl)) \
	X(C_SignUpdate, (CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inl), \
	    (h, in, inl), shim_end_final(shim_real->C_SignFinal, h)) \
	X(C_SignFinal, \
	    (CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outl), \
	    (h, out, outl), shim_end_final(shim_real->C_SignFinal, h)) \
	X(C_SignRecover, \
	    (CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inl, \
		CK_BYTE_PTR out, CK_ULONG_PTR outl), \
	    (h, in, inl, out, outl), \
	    shim_end_one(shim_real->C_SignRecover, h, in, inl)) \
	X(C_Verify, \
	    (CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inl, \
		CK_BYTE_PTR sig, CK_ULONG sigl), \
	    (h, in, inl, sig, sigl), \
	    (void)shim_real->C_Verify(h, in, inl, sig, sigl)) \
	X(C_VerifyUpdate, (CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inl), \
	    (h, in, inl), (void)shim_real->C_VerifyFinal(h, in, 0)) \
	X(C_VerifyFinal, \
	    (CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG sigl), \
	    (h, sig, sigl), (void)shim_real->C_VerifyFinal(h, sig, sigl)) \
	X(C_VerifyRecover, \
	    (CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG sigl, \
		CK_BYTE_PTR out, CK_ULONG_PTR outl), \
	    (h, sig, sigl, out, outl), \
	    shim_end_one(shim_real->C_VerifyRecover, h, sig, sigl))

#endif /* KMES_P11_SHIM_FUNCTIONS_H */
