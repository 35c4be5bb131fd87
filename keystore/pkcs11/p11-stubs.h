/*
 * p11-stubs.h: the PKCS#11 functions this token does not offer (it signs,
 * verifies and nothing else). Each still makes the checks every entry point
 * makes, in the order PKCS#11 applications rely on: the library is
 * initialised (CKR_CRYPTOKI_NOT_INITIALIZED), the session or slot exists
 * (CKR_SESSION_HANDLE_INVALID, CKR_SLOT_ID_INVALID), the arguments are
 * usable (CKR_ARGUMENTS_BAD); only then comes the answer about support.
 *
 * One row per function: name, parameters, what names the session or slot
 * (P11_AT_SESSION(x), P11_AT_SLOT(x) or P11_AT_NONE), an expression true
 * when the arguments are bad, and the answer. The answer for an operation
 * with an Init function is CKR_MECHANISM_INVALID from the Init (no
 * mechanism of ours has that use) and CKR_OPERATION_NOT_INITIALIZED from
 * its other functions (so none can be running).
 */
#ifndef KMES_P11_STUBS_H
#define KMES_P11_STUBS_H

#include "p11-compat.h"

#define P11_AT_NONE 0, 0
#define P11_AT_SESSION(x) 1, (x)
#define P11_AT_SLOT(x) 2, (x)

#define NOTINIT CKR_OPERATION_NOT_INITIALIZED
#define BADMECH CKR_MECHANISM_INVALID
#define NOTSUPP CKR_FUNCTION_NOT_SUPPORTED
/* A buffer given with a length but no pointer. */
#define NOBUF(p, n) ((p) == NULL && (n) != 0)

#define P11_STUBS(X) \
	X(InitToken, \
	    (CK_SLOT_ID a, CK_UTF8CHAR_PTR b, CK_ULONG c, CK_UTF8CHAR_PTR d), \
	    P11_AT_SLOT(a), NOBUF(b, c) || d == NULL, NOTSUPP) \
	X(InitPIN, (CK_SESSION_HANDLE a, CK_UTF8CHAR_PTR b, CK_ULONG c), \
	    P11_AT_SESSION(a), NOBUF(b, c), NOTSUPP) \
	X(SetPIN, \
	    (CK_SESSION_HANDLE a, CK_UTF8CHAR_PTR b, CK_ULONG c, \
		CK_UTF8CHAR_PTR d, CK_ULONG e), \
	    P11_AT_SESSION(a), NOBUF(b, c) || NOBUF(d, e), NOTSUPP) \
	X(GetOperationState, \
	    (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c), \
	    P11_AT_SESSION(a), c == NULL, NOTSUPP) \
	X(SetOperationState, \
	    (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, \
		CK_OBJECT_HANDLE d, CK_OBJECT_HANDLE e), \
	    P11_AT_SESSION(a), b == NULL || c == 0, NOTSUPP) \
	X(CopyObject, \
	    (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c, \
		CK_ULONG d, CK_OBJECT_HANDLE_PTR e), \
	    P11_AT_SESSION(a), NOBUF(c, d) || e == NULL, NOTSUPP) \
	X(EncryptInit, \
	    (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), \
	    P11_AT_SESSION(a), b == NULL, BADMECH) \
	X(Encrypt, \
	    (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, \
		CK_ULONG_PTR e), \
	    P11_AT_SESSION(a), NOBUF(b, c) || e == NULL, NOTINIT) \
	X(EncryptUpdate, \
	    (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, \
		CK_ULONG_PTR e), \
	    P11_AT_SESSION(a), NOBUF(b, c) || e == NULL, NOTINIT) \
	X(EncryptFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c), \
	    P11_AT_SESSION(a), c == NULL, NOTINIT) \
	X(DecryptInit, \
	    (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), \
	    P11_AT_SESSION(a), b == NULL, BADMECH) \
	X(Decrypt, \
	    (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, \
		CK_ULONG_PTR e), \
	    P11_AT_SESSION(a), NOBUF(b, c) || e == NULL, NOTINIT) \
	X(DecryptUpdate, \
	    (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, \
		CK_ULONG_PTR e), \
	    P11_AT_SESSION(a), NOBUF(b, c) || e == NULL, NOTINIT) \
	X(DecryptFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c), \
	    P11_AT_SESSION(a), c == NULL, NOTINIT) \
	X(DigestInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b), \
	    P11_AT_SESSION(a), b == NULL, BADMECH) \
	X(Digest, \
	    (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, \
		CK_ULONG_PTR e), \
	    P11_AT_SESSION(a), NOBUF(b, c) || e == NULL, NOTINIT) \
	X(DigestUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c), \
	    P11_AT_SESSION(a), NOBUF(b, c), NOTINIT) \
	X(DigestKey, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b), \
	    P11_AT_SESSION(a), 0, NOTINIT) \
	X(DigestFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c), \
	    P11_AT_SESSION(a), c == NULL, NOTINIT) \
	X(SignRecoverInit, \
	    (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), \
	    P11_AT_SESSION(a), b == NULL, BADMECH) \
	X(SignRecover, \
	    (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, \
		CK_ULONG_PTR e), \
	    P11_AT_SESSION(a), NOBUF(b, c) || e == NULL, NOTINIT) \
	X(VerifyRecoverInit, \
	    (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), \
	    P11_AT_SESSION(a), b == NULL, BADMECH) \
	X(VerifyRecover, \
	    (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, \
		CK_ULONG_PTR e), \
	    P11_AT_SESSION(a), NOBUF(b, c) || e == NULL, NOTINIT) \
	X(DigestEncryptUpdate, \
	    (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, \
		CK_ULONG_PTR e), \
	    P11_AT_SESSION(a), NOBUF(b, c) || e == NULL, NOTINIT) \
	X(DecryptDigestUpdate, \
	    (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, \
		CK_ULONG_PTR e), \
	    P11_AT_SESSION(a), NOBUF(b, c) || e == NULL, NOTINIT) \
	X(SignEncryptUpdate, \
	    (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, \
		CK_ULONG_PTR e), \
	    P11_AT_SESSION(a), NOBUF(b, c) || e == NULL, NOTINIT) \
	X(DecryptVerifyUpdate, \
	    (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, \
		CK_ULONG_PTR e), \
	    P11_AT_SESSION(a), NOBUF(b, c) || e == NULL, NOTINIT) \
	X(GenerateKey, \
	    (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_ATTRIBUTE_PTR c, \
		CK_ULONG d, CK_OBJECT_HANDLE_PTR e), \
	    P11_AT_SESSION(a), b == NULL || NOBUF(c, d) || e == NULL, BADMECH) \
	X(WrapKey, \
	    (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c, \
		CK_OBJECT_HANDLE d, CK_BYTE_PTR e, CK_ULONG_PTR f), \
	    P11_AT_SESSION(a), b == NULL || f == NULL, BADMECH) \
	X(UnwrapKey, \
	    (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c, \
		CK_BYTE_PTR d, CK_ULONG e, CK_ATTRIBUTE_PTR f, CK_ULONG g, \
		CK_OBJECT_HANDLE_PTR h), \
	    P11_AT_SESSION(a), \
	    b == NULL || NOBUF(d, e) || NOBUF(f, g) || h == NULL, BADMECH) \
	X(DeriveKey, \
	    (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c, \
		CK_ATTRIBUTE_PTR d, CK_ULONG e, CK_OBJECT_HANDLE_PTR f), \
	    P11_AT_SESSION(a), b == NULL || NOBUF(d, e) || f == NULL, BADMECH) \
	X(SeedRandom, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c), \
	    P11_AT_SESSION(a), \
	    NOBUF(b, \
		c), /* Our randomness is OpenSSL's; callers may not steer it. */ \
	    CKR_RANDOM_SEED_NOT_SUPPORTED) \
	X(GetFunctionStatus, (CK_SESSION_HANDLE a), P11_AT_SESSION(a), 0, \
	    CKR_FUNCTION_NOT_PARALLEL) \
	X(CancelFunction, (CK_SESSION_HANDLE a), P11_AT_SESSION(a), 0, \
	    CKR_FUNCTION_NOT_PARALLEL) \
	X(WaitForSlotEvent, (CK_FLAGS a, CK_SLOT_ID_PTR b, CK_VOID_PTR c), \
	    P11_AT_NONE, b == NULL || c != NULL, NOTSUPP) \
	X(MessageInit, \
	    (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), \
	    P11_AT_SESSION(a), b == NULL, BADMECH) \
	X(CryptMessage, \
	    (CK_SESSION_HANDLE a, CK_VOID_PTR b, CK_ULONG c, CK_BYTE_PTR d, \
		CK_ULONG e, CK_BYTE_PTR f, CK_ULONG g, CK_BYTE_PTR h, \
		CK_ULONG_PTR i), \
	    P11_AT_SESSION(a), \
	    NOBUF(b, c) || NOBUF(d, e) || NOBUF(f, g) || i == NULL, NOTINIT) \
	X(CryptMessageBegin, \
	    (CK_SESSION_HANDLE a, CK_VOID_PTR b, CK_ULONG c, CK_BYTE_PTR d, \
		CK_ULONG e), \
	    P11_AT_SESSION(a), NOBUF(b, c) || NOBUF(d, e), NOTINIT) \
	X(CryptMessageNext, \
	    (CK_SESSION_HANDLE a, CK_VOID_PTR b, CK_ULONG c, CK_BYTE_PTR d, \
		CK_ULONG e, CK_BYTE_PTR f, CK_ULONG_PTR g, CK_FLAGS h), \
	    P11_AT_SESSION(a), NOBUF(b, c) || NOBUF(d, e) || g == NULL, \
	    NOTINIT) \
	X(MessageFinal, (CK_SESSION_HANDLE a), P11_AT_SESSION(a), 0, NOTINIT) \
	X(SignMessage, \
	    (CK_SESSION_HANDLE a, CK_VOID_PTR b, CK_ULONG c, CK_BYTE_PTR d, \
		CK_ULONG e, CK_BYTE_PTR f, CK_ULONG_PTR g), \
	    P11_AT_SESSION(a), NOBUF(b, c) || NOBUF(d, e) || g == NULL, \
	    NOTINIT) \
	X(MessageBegin, (CK_SESSION_HANDLE a, CK_VOID_PTR b, CK_ULONG c), \
	    P11_AT_SESSION(a), NOBUF(b, c), NOTINIT) \
	X(VerifyMessage, \
	    (CK_SESSION_HANDLE a, CK_VOID_PTR b, CK_ULONG c, CK_BYTE_PTR d, \
		CK_ULONG e, CK_BYTE_PTR f, CK_ULONG g), \
	    P11_AT_SESSION(a), NOBUF(b, c) || NOBUF(d, e) || NOBUF(f, g), \
	    NOTINIT)

#define P11_STUB_DECL(name, args, ...) CK_RV p11_C_##name args;
P11_STUBS(P11_STUB_DECL)

/* C_CreateObject makes nothing, but reads its template first. */
CK_RV p11_C_CreateObject(CK_SESSION_HANDLE, CK_ATTRIBUTE_PTR, CK_ULONG,
    CK_OBJECT_HANDLE_PTR);

/*
 * The entry checks of every function, for those in p11-stubs.c: with
 * at == 1 the session id must exist, with at == 2 the slot id; bad says
 * the arguments are not usable. Returns the first failure, else answer.
 */
CK_RV p11_stub_entry(int at, CK_ULONG id, int bad, CK_RV answer);

#endif /* KMES_P11_STUBS_H */
