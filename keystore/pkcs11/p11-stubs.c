/*
 * p11-stubs.c: the functions a signing token does not offer, each with
 * the same entry checks as the rest (see p11-stubs.h).
 */
#include <stddef.h>

#include "p11-stubs.h"
#include "p11.h"

/* where expands to the two first arguments of p11_stub_entry. */
#define P11_STUB_DEF(name, args, where, bad, answer) \
	CK_RV \
	p11_C_##name args \
	{ \
		return p11_stub_entry(where, (bad), (answer)); \
	}
P11_STUBS(P11_STUB_DEF)

CK_RV
p11_C_CreateObject(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR attrs, CK_ULONG n,
    CK_OBJECT_HANDLE_PTR obj)
{
	struct p11_tmpl t;
	CK_RV rv;

	if ((rv = p11_stub_entry(1, h, attrs == NULL || n == 0 || obj == NULL,
		 CKR_OK)) != CKR_OK)
		return rv;
	/* Unlocked from here: only the caller's template is read. */
	if ((rv = p11_tmpl_parse(attrs, n, &t)) != CKR_OK)
		return rv;
	if (p11_tmpl_find(&t, CKA_CLASS) == NULL)
		return CKR_TEMPLATE_INCOMPLETE;
	return CKR_FUNCTION_NOT_SUPPORTED;
}
