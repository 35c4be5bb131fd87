/*
 * p11-stubs.c: the functions a signing-only token does not offer.
 */
#include "p11-stubs.h"

#define P11_STUB_DEF(name, args)					\
CK_RV									\
p11_C_##name args							\
{									\
	return CKR_FUNCTION_NOT_SUPPORTED;				\
}
P11_STUBS(P11_STUB_DEF)

CK_RV
p11_C_SeedRandom(CK_SESSION_HANDLE h, CK_BYTE_PTR seed, CK_ULONG len)
{
	/* Our randomness is OpenSSL's; callers may not steer it. */
	return CKR_RANDOM_SEED_NOT_SUPPORTED;
}

CK_RV
p11_C_GetFunctionStatus(CK_SESSION_HANDLE h)
{
	return CKR_FUNCTION_NOT_PARALLEL;
}

CK_RV
p11_C_CancelFunction(CK_SESSION_HANDLE h)
{
	return CKR_FUNCTION_NOT_PARALLEL;
}
