/*
 * p11-session.c: libkmes-pkcs11.so's sessions and login: opening and
 * closing sessions, their info, C_Login (user, context-specific for
 * confirm keys, SO always refused), C_Logout and C_SessionCancel, and the
 * session table's upkeep that C_Finalize and fork() share.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "kmes-err.h"
#include "p11-entry.h"
#include "p11.h"
#include "store.h"

static void
session_free(struct p11_session *s)
{
	if (s == NULL)
		return;
	p11_sign_op_end(&s->sign);
	p11_sign_op_end(&s->verify);
	p11_find_final(s);
	free(s);
}

void
p11_sessions_close_all(void)
{
	size_t i;

	p11_session_keys_drop(0);
	for (i = 0; i < p11.nsessions; i++)
		session_free(p11.sessions[i]);
	free(p11.sessions);
	p11.sessions = NULL;
	p11.nsessions = 0;
}

/* Forgets the login: data key and every decrypted key, wiped. */
void
p11_logout_all(void)
{
	size_t i;

	for (i = 0; i < p11.nsessions; i++)
		p11_sign_op_end(&p11.sessions[i]->sign);
	/* A session key's signer is the key itself: it goes with the key. */
	for (i = 0; i < p11.nkeys; i++) {
		if (p11.keys[i]->session != 0)
			continue;
		ks_p11_signer_free(p11.keys[i]->signer);
		p11.keys[i]->signer = NULL;
	}
	p11_session_keys_logout();
	if (p11.store != NULL)
		ks_store_logout(p11.store);
}

struct p11_session *
p11_session_get(CK_SESSION_HANDLE h)
{
	size_t i;

	for (i = 0; i < p11.nsessions; i++) {
		if (p11.sessions[i]->handle == h)
			return p11.sessions[i];
	}
	return NULL;
}

CK_RV
p11_C_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app,
    CK_NOTIFY notify, CK_SESSION_HANDLE_PTR hp)
{
	struct p11_session *s = NULL, **ns;
	CK_RV rv;

	P11_ENTER(p11_check_slot(slot, hp == NULL));
	if (!(flags & CKF_SERIAL_SESSION)) {
		rv = CKR_SESSION_PARALLEL_NOT_SUPPORTED;
		goto out;
	}
	(void)p11_sync();
	if (p11.store == NULL) {
		rv = CKR_TOKEN_NOT_PRESENT;
		goto out;
	}
	if (p11.nsessions >= P11_MAX_SESSIONS) {
		rv = CKR_SESSION_COUNT;
		goto out;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (ns = reallocarray(p11.sessions, p11.nsessions + 1, sizeof(*ns))) ==
		NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	p11.sessions = ns;
	s->handle = p11.next_session++;
	s->flags = flags & (CKF_SERIAL_SESSION | CKF_RW_SESSION);
	p11.sessions[p11.nsessions++] = s;
	*hp = s->handle;
	s = NULL;
	rv = CKR_OK;
out:
	free(s);
	p11_leave();
	return rv;
}

/* Closing the last session ends the login (PKCS#11 5.6, C_CloseSession). */
static void
session_close(struct p11_session *s)
{
	size_t i;

	for (i = 0; i < p11.nsessions; i++) {
		if (p11.sessions[i] != s)
			continue;
		p11.sessions[i] = p11.sessions[--p11.nsessions];
		break;
	}
	p11_session_keys_drop(s->handle);
	session_free(s);
	if (p11.nsessions == 0)
		p11_logout_all();
}

CK_RV
p11_C_CloseSession(CK_SESSION_HANDLE h)
{
	struct p11_session *s;

	P11_ENTER(p11_check_session(h, &s, 0));
	session_close(s);
	return p11_leave_with(CKR_OK);
}

CK_RV
p11_C_CloseAllSessions(CK_SLOT_ID slot)
{
	P11_ENTER(p11_check_slot(slot, 0));
	p11_logout_all();
	p11_sessions_close_all();
	return p11_leave_with(CKR_OK);
}

CK_RV
p11_C_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR info)
{
	struct p11_session *s;
	int rw;

	P11_ENTER(p11_check_session(h, &s, info == NULL));
	rw = (s->flags & CKF_RW_SESSION) != 0;
	memset(info, 0, sizeof(*info));
	info->slotID = P11_SLOT_ID;
	if (p11_logged_in())
		info->state = rw ? CKS_RW_USER_FUNCTIONS :
				   CKS_RO_USER_FUNCTIONS;
	else
		info->state = rw ? CKS_RW_PUBLIC_SESSION :
				   CKS_RO_PUBLIC_SESSION;
	info->flags = s->flags;
	info->ulDeviceError = 0;
	return p11_leave_with(CKR_OK);
}

/*
 * The PIN for one signature with a CKA_ALWAYS_AUTHENTICATE key (the store's
 * confirm keys), after its C_SignInit. It counts against the PIN's tries
 * like any login, and a wrong one leaves the user's login as it was.
 */
static CK_RV
context_login(struct p11_session *s, CK_UTF8CHAR_PTR pin, CK_ULONG pinlen)
{
	CK_RV rv;

	if (!s->sign.active)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (!p11_logged_in())
		return CKR_USER_NOT_LOGGED_IN;
	if (pin == NULL)
		return CKR_ARGUMENTS_BAD;
	if (pinlen > KS_STORE_PIN_MAX)
		return CKR_PIN_LEN_RANGE;
	if (!s->sign.need_auth || s->sign.authed)
		return CKR_OK;
	if ((rv = p11_rv(ks_store_check_pin(p11.store, pin, pinlen, NULL))) !=
	    CKR_OK)
		return rv == CKR_ARGUMENTS_BAD ? CKR_PIN_LEN_RANGE : rv;
	s->sign.authed = 1;
	return CKR_OK;
}

/*
 * The SO PIN only unblocks, and kmes-keytool does that: an SO login is
 * always refused, after the conditions PKCS#11 puts before any SO login
 * (no read-only session, no user in).
 */
static CK_RV
so_login_refusal(void)
{
	size_t i;

	for (i = 0; i < p11.nsessions; i++) {
		if (!(p11.sessions[i]->flags & CKF_RW_SESSION))
			return CKR_SESSION_READ_ONLY_EXISTS;
	}
	if (p11_logged_in())
		return CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
	return CKR_USER_TYPE_INVALID;
}

/* named: C_LoginUser's user name was given (the token has no names). */
static CK_RV
login(CK_SESSION_HANDLE h, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin,
    CK_ULONG pinlen, int named)
{
	struct p11_session *s;
	CK_RV rv;

	P11_ENTER(p11_check_session(h, &s, named));
	if (user == CKU_CONTEXT_SPECIFIC)
		return p11_leave_with(context_login(s, pin, pinlen));
	if (user == CKU_SO)
		return p11_leave_with(so_login_refusal());
	if (user != CKU_USER)
		return p11_leave_with(CKR_USER_TYPE_INVALID);
	if (pin == NULL) /* no protected authentication path */
		return p11_leave_with(CKR_ARGUMENTS_BAD);
	if (pinlen > KS_STORE_PIN_MAX)
		return p11_leave_with(CKR_PIN_LEN_RANGE);
	(void)p11_sync();
	if (p11_logged_in())
		return p11_leave_with(CKR_USER_ALREADY_LOGGED_IN);
	rv = p11_rv(ks_store_login(p11.store, 0, pin, pinlen, NULL));
	if (rv == CKR_ARGUMENTS_BAD)
		rv = CKR_PIN_LEN_RANGE;
	if (rv == CKR_OK)
		p11.fresh_login = s->handle;
	return p11_leave_with(rv);
}

CK_RV
p11_C_Login(CK_SESSION_HANDLE h, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin,
    CK_ULONG pinlen)
{
	return login(h, user, pin, pinlen, 0);
}

CK_RV
p11_C_LoginUser(CK_SESSION_HANDLE h, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin,
    CK_ULONG pinlen, CK_UTF8CHAR_PTR name, CK_ULONG namelen)
{
	/* The token has one user, who has no name. */
	return login(h, user, pin, pinlen, name != NULL || namelen != 0);
}

CK_RV
p11_C_Logout(CK_SESSION_HANDLE h)
{
	struct p11_session *s;

	P11_ENTER(p11_check_session(h, &s, 0));
	if (!p11_logged_in())
		return p11_leave_with(CKR_USER_NOT_LOGGED_IN);
	p11_logout_all();
	return p11_leave_with(CKR_OK);
}

CK_RV
p11_C_SessionCancel(CK_SESSION_HANDLE h, CK_FLAGS flags)
{
	struct p11_session *s;

	P11_ENTER(p11_check_session(h, &s, 0));
	if (flags & CKF_SIGN)
		p11_sign_op_end(&s->sign);
	if (flags & CKF_VERIFY)
		p11_sign_op_end(&s->verify);
	return p11_leave_with(CKR_OK);
}
