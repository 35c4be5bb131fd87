/*
 * p11-stubs.h: the PKCS#11 functions this token does not offer (it signs
 * and nothing else). Each answers CKR_FUNCTION_NOT_SUPPORTED, except where
 * the standard names another code. The list is used twice: declarations
 * here, definitions in p11-stubs.c.
 */
#ifndef KMES_P11_STUBS_H
#define KMES_P11_STUBS_H

#include "p11-compat.h"

#define P11_STUBS(X)							\
	X(InitToken, (CK_SLOT_ID a, CK_UTF8CHAR_PTR b, CK_ULONG c,	\
	    CK_UTF8CHAR_PTR d))						\
	X(InitPIN, (CK_SESSION_HANDLE a, CK_UTF8CHAR_PTR b, CK_ULONG c)) \
	X(SetPIN, (CK_SESSION_HANDLE a, CK_UTF8CHAR_PTR b, CK_ULONG c,	\
	    CK_UTF8CHAR_PTR d, CK_ULONG e))				\
	X(GetOperationState, (CK_SESSION_HANDLE a, CK_BYTE_PTR b,	\
	    CK_ULONG_PTR c))						\
	X(SetOperationState, (CK_SESSION_HANDLE a, CK_BYTE_PTR b,	\
	    CK_ULONG c, CK_OBJECT_HANDLE d, CK_OBJECT_HANDLE e))	\
	X(CreateObject, (CK_SESSION_HANDLE a, CK_ATTRIBUTE_PTR b,	\
	    CK_ULONG c, CK_OBJECT_HANDLE_PTR d))			\
	X(CopyObject, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b,		\
	    CK_ATTRIBUTE_PTR c, CK_ULONG d, CK_OBJECT_HANDLE_PTR e))	\
	X(EncryptInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b,	\
	    CK_OBJECT_HANDLE c))					\
	X(Encrypt, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c,	\
	    CK_BYTE_PTR d, CK_ULONG_PTR e))				\
	X(EncryptUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, \
	    CK_BYTE_PTR d, CK_ULONG_PTR e))				\
	X(EncryptFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b,		\
	    CK_ULONG_PTR c))						\
	X(DecryptInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b,	\
	    CK_OBJECT_HANDLE c))					\
	X(Decrypt, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c,	\
	    CK_BYTE_PTR d, CK_ULONG_PTR e))				\
	X(DecryptUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, \
	    CK_BYTE_PTR d, CK_ULONG_PTR e))				\
	X(DecryptFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b,		\
	    CK_ULONG_PTR c))						\
	X(DigestInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b))	\
	X(Digest, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c,	\
	    CK_BYTE_PTR d, CK_ULONG_PTR e))				\
	X(DigestUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c)) \
	X(DigestKey, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b))		\
	X(DigestFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b,		\
	    CK_ULONG_PTR c))						\
	X(SignRecoverInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b,	\
	    CK_OBJECT_HANDLE c))					\
	X(SignRecover, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c,	\
	    CK_BYTE_PTR d, CK_ULONG_PTR e))				\
	X(VerifyInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b,		\
	    CK_OBJECT_HANDLE c))					\
	X(Verify, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c,	\
	    CK_BYTE_PTR d, CK_ULONG e))					\
	X(VerifyUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c)) \
	X(VerifyFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c)) \
	X(VerifyRecoverInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b,	\
	    CK_OBJECT_HANDLE c))					\
	X(VerifyRecover, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, \
	    CK_BYTE_PTR d, CK_ULONG_PTR e))				\
	X(DigestEncryptUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b,	\
	    CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e))			\
	X(DecryptDigestUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b,	\
	    CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e))			\
	X(SignEncryptUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b,	\
	    CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e))			\
	X(DecryptVerifyUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b,	\
	    CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e))			\
	X(GenerateKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b,	\
	    CK_ATTRIBUTE_PTR c, CK_ULONG d, CK_OBJECT_HANDLE_PTR e))	\
	X(WrapKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b,		\
	    CK_OBJECT_HANDLE c, CK_OBJECT_HANDLE d, CK_BYTE_PTR e,	\
	    CK_ULONG_PTR f))						\
	X(UnwrapKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b,		\
	    CK_OBJECT_HANDLE c, CK_BYTE_PTR d, CK_ULONG e,		\
	    CK_ATTRIBUTE_PTR f, CK_ULONG g, CK_OBJECT_HANDLE_PTR h))	\
	X(DeriveKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b,		\
	    CK_OBJECT_HANDLE c, CK_ATTRIBUTE_PTR d, CK_ULONG e,		\
	    CK_OBJECT_HANDLE_PTR f))					\
	X(WaitForSlotEvent, (CK_FLAGS a, CK_SLOT_ID_PTR b, CK_VOID_PTR c)) \
	X(MessageInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b,	\
	    CK_OBJECT_HANDLE c))					\
	X(CryptMessage, (CK_SESSION_HANDLE a, CK_VOID_PTR b, CK_ULONG c, \
	    CK_BYTE_PTR d, CK_ULONG e, CK_BYTE_PTR f, CK_ULONG g,	\
	    CK_BYTE_PTR h, CK_ULONG_PTR i))				\
	X(CryptMessageBegin, (CK_SESSION_HANDLE a, CK_VOID_PTR b,	\
	    CK_ULONG c, CK_BYTE_PTR d, CK_ULONG e))			\
	X(CryptMessageNext, (CK_SESSION_HANDLE a, CK_VOID_PTR b,	\
	    CK_ULONG c, CK_BYTE_PTR d, CK_ULONG e, CK_BYTE_PTR f,	\
	    CK_ULONG_PTR g, CK_FLAGS h))				\
	X(MessageFinal, (CK_SESSION_HANDLE a))				\
	X(SignMessage, (CK_SESSION_HANDLE a, CK_VOID_PTR b, CK_ULONG c,	\
	    CK_BYTE_PTR d, CK_ULONG e, CK_BYTE_PTR f, CK_ULONG_PTR g))	\
	X(MessageBegin, (CK_SESSION_HANDLE a, CK_VOID_PTR b, CK_ULONG c)) \
	X(VerifyMessage, (CK_SESSION_HANDLE a, CK_VOID_PTR b, CK_ULONG c, \
	    CK_BYTE_PTR d, CK_ULONG e, CK_BYTE_PTR f, CK_ULONG g))

#define P11_STUB_DECL(name, args) CK_RV p11_C_##name args;
P11_STUBS(P11_STUB_DECL)

CK_RV p11_C_SeedRandom(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG);
CK_RV p11_C_GetFunctionStatus(CK_SESSION_HANDLE);
CK_RV p11_C_CancelFunction(CK_SESSION_HANDLE);

#endif /* KMES_P11_STUBS_H */
