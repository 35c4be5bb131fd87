/*
 * p11-ops.c: libkmes-pkcs11.so's entry points for objects, searches,
 * signing, verifying, key generation and random bytes. Each makes the
 * common checks and hands its session, under the lock, to the file that
 * does the work (p11-object.c, p11-store.c, p11-sign.c, p11-verify.c,
 * p11-keygen.c).
 */
#include <stddef.h>

#include "crypto.h"
#include "p11-entry.h"
#include "p11.h"

CK_RV
p11_C_DestroyObject(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj)
{
	struct p11_session *s;

	P11_ENTER(p11_check_session(h, &s, 0));
	return p11_leave_with(p11_destroy(s, obj));
}

CK_RV
p11_C_GetObjectSize(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj,
    CK_ULONG_PTR size)
{
	struct p11_session *s;
	int priv;

	P11_ENTER(p11_check_session(h, &s, size == NULL));
	if (p11_object(obj, &priv) == NULL)
		return p11_leave_with(CKR_OBJECT_HANDLE_INVALID);
	*size = CK_UNAVAILABLE_INFORMATION;
	return p11_leave_with(CKR_OK);
}

CK_RV
p11_C_GetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj,
    CK_ATTRIBUTE_PTR attrs, CK_ULONG n)
{
	struct p11_session *s;

	P11_ENTER(p11_check_session(h, &s, 0));
	return p11_leave_with(p11_get_attrs(obj, attrs, n));
}

CK_RV
p11_C_SetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj,
    CK_ATTRIBUTE_PTR attrs, CK_ULONG n)
{
	struct p11_session *s;

	P11_ENTER(p11_check_session(h, &s, 0));
	return p11_leave_with(p11_set_attrs(s, obj, attrs, n));
}

CK_RV
p11_C_FindObjectsInit(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR attrs, CK_ULONG n)
{
	struct p11_session *s;

	P11_ENTER(p11_check_session_keep(h, &s));
	return p11_leave_with(p11_find_init(s, attrs, n));
}

CK_RV
p11_C_FindObjects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR out, CK_ULONG max,
    CK_ULONG_PTR count)
{
	struct p11_session *s;

	P11_ENTER(p11_check_session_keep(h, &s));
	return p11_leave_with(p11_find(s, out, max, count));
}

CK_RV
p11_C_FindObjectsFinal(CK_SESSION_HANDLE h)
{
	struct p11_session *s;

	P11_ENTER(p11_check_session_keep(h, &s));
	if (!s->find_active)
		return p11_leave_with(CKR_OPERATION_NOT_INITIALIZED);
	p11_find_final(s);
	return p11_leave_with(CKR_OK);
}

CK_RV
p11_C_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
	struct p11_session *s;

	/* p11_sign_init takes the fresh login, whosever it is. */
	P11_ENTER(p11_check_session_keep(h, &s));
	return p11_leave_with(p11_sign_init(s, mech, key));
}

CK_RV
p11_C_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig,
    CK_ULONG_PTR siglen)
{
	struct p11_session *s;

	P11_ENTER(p11_check_session(h, &s, 0));
	return p11_leave_with(p11_sign(s, data, len, sig, siglen));
}

CK_RV
p11_C_SignUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len)
{
	struct p11_session *s;

	P11_ENTER(p11_check_session(h, &s, 0));
	return p11_leave_with(p11_sign_update(s, data, len));
}

CK_RV
p11_C_SignFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG_PTR siglen)
{
	struct p11_session *s;

	P11_ENTER(p11_check_session(h, &s, 0));
	return p11_leave_with(p11_sign_final(s, sig, siglen));
}

CK_RV
p11_C_VerifyInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech,
    CK_OBJECT_HANDLE key)
{
	struct p11_session *s;

	P11_ENTER(p11_check_session(h, &s, 0));
	return p11_leave_with(p11_verify_init(s, mech, key));
}

CK_RV
p11_C_Verify(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len,
    CK_BYTE_PTR sig, CK_ULONG siglen)
{
	struct p11_session *s;

	P11_ENTER(p11_check_session(h, &s, 0));
	return p11_leave_with(p11_verify(s, data, len, sig, siglen));
}

CK_RV
p11_C_VerifyUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len)
{
	struct p11_session *s;

	P11_ENTER(p11_check_session(h, &s, 0));
	return p11_leave_with(p11_verify_update(s, data, len));
}

CK_RV
p11_C_VerifyFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG siglen)
{
	struct p11_session *s;

	P11_ENTER(p11_check_session(h, &s, 0));
	return p11_leave_with(p11_verify_final(s, sig, siglen));
}

CK_RV
p11_C_GenerateKeyPair(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech,
    CK_ATTRIBUTE_PTR pub, CK_ULONG npub, CK_ATTRIBUTE_PTR priv, CK_ULONG npriv,
    CK_OBJECT_HANDLE_PTR hpub, CK_OBJECT_HANDLE_PTR hpriv)
{
	struct p11_session *s;

	P11_ENTER(p11_check_session(h, &s, 0));
	return p11_leave_with(
	    p11_generate(s, mech, pub, npub, priv, npriv, hpub, hpriv));
}

CK_RV
p11_C_GenerateRandom(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG len)
{
	struct p11_session *s;

	P11_ENTER(p11_check_session(h, &s, out == NULL && len != 0));
	if (len != 0 && ks_random(out, len) != 0)
		return p11_leave_with(CKR_FUNCTION_FAILED);
	return p11_leave_with(CKR_OK);
}
