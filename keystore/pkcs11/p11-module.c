/*
 * p11-module.c: the PKCS#11 entry points of libkmes-pkcs11.so: library,
 * slot and token information, sessions and login.
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
#include "store.h"
#include "p11.h"
#include "p11-stubs.h"

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
session_free(struct p11_session *s)
{
	if (s == NULL)
		return;
	p11_sign_op_end(&s->sign);
	p11_sign_op_end(&s->verify);
	p11_find_final(s);
	free(s);
}

static void
sessions_close_all(void)
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
static void
logout_all(void)
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

static void
state_free(void)
{
	logout_all();
	sessions_close_all();
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
	sessions_close_all();
	p11_objects_clear();	/* wipes the signers */
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

static void
leave(void)
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
		leave();
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

static struct p11_session *
session_get(CK_SESSION_HANDLE h)
{
	size_t i;

	for (i = 0; i < p11.nsessions; i++) {
		if (p11.sessions[i]->handle == h)
			return p11.sessions[i];
	}
	return NULL;
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
	if ((*sp = session_get(h)) == NULL) {
		leave();
		return CKR_SESSION_HANDLE_INVALID;
	}
	return CKR_OK;
}

static CK_RV
leave_with(CK_RV rv)
{
	leave();
	return rv;
}

/* Keeps the lock for a check that passed; gives it back for one that failed. */
static CK_RV
checked(CK_RV rv)
{
	if (rv != CKR_OK)
		leave();
	return rv;
}

/*
 * The checks an entry point makes before its own work, in the order
 * PKCS#11 applications rely on (and test-pkcs11-conf checks): the library
 * is initialised (CKR_CRYPTOKI_NOT_INITIALIZED), then the slot or session
 * exists (CKR_SLOT_ID_INVALID, CKR_SESSION_HANDLE_INVALID), then the
 * caller's arguments are usable (bad: CKR_ARGUMENTS_BAD). Each takes the
 * lock and keeps it only if every check passed. All but
 * check_session_keep spend the fresh login.
 */
static CK_RV
check_init(int bad)
{
	CK_RV rv;

	if ((rv = enter()) != CKR_OK)
		return rv;
	return checked(bad ? CKR_ARGUMENTS_BAD : CKR_OK);
}

static CK_RV
check_slot(CK_SLOT_ID slot, int bad)
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

static CK_RV
check_session(CK_SESSION_HANDLE h, struct p11_session **sp, int bad)
{
	CK_RV rv;

	if ((rv = enter_session_as(h, sp, 0)) != CKR_OK)
		return rv;
	return checked(bad ? CKR_ARGUMENTS_BAD : CKR_OK);
}

/* Only C_SignInit and the session's searches: see enter_keep. */
static CK_RV
check_session_keep(CK_SESSION_HANDLE h, struct p11_session **sp)
{
	return enter_session_as(h, sp, 1);
}

/*
 * An entry point's first line: makes its checks (one check_* call) and
 * returns their answer if one fails. Past it the lock is held, and every
 * way out goes through leave() or leave_with().
 */
#define ENTER(checks)							\
	do {								\
		CK_RV enter_rv_ = (checks);				\
		if (enter_rv_ != CKR_OK)				\
			return enter_rv_;				\
	} while (0)

CK_RV
p11_stub_entry(int at, CK_ULONG id, int bad, CK_RV answer)
{
	struct p11_session *s;

	if (at == 1)
		ENTER(check_session(id, &s, bad));
	else if (at == 2)
		ENTER(check_slot(id, bad));
	else
		ENTER(check_init(bad));
	return leave_with(answer);
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
	p11.path = ks_store_default_path();	/* NULL: never a token */
	p11.pid = getpid();
	p11.next_handle = 2;
	p11.next_session = 1;
	p11.initialized = 1;
	rv = p11_sync();
	if (rv != CKR_OK)
		state_free();
 out:
	leave();
	return rv;
}

static CK_RV
p11_C_Finalize(CK_VOID_PTR reserved)
{
	ENTER(check_init(reserved != NULL));
	state_free();
	return leave_with(CKR_OK);
}

static CK_RV
p11_C_GetInfo(CK_INFO_PTR info)
{
	ENTER(check_init(info == NULL));
	memset(info, 0, sizeof(*info));
	info->cryptokiVersion.major = 3;
	info->cryptokiVersion.minor = 0;
	p11_pad(info->manufacturerID, sizeof(info->manufacturerID),
	    "kmes-agent");
	p11_pad(info->libraryDescription, sizeof(info->libraryDescription),
	    "kmes key store");
	info->libraryVersion.major = 0;
	info->libraryVersion.minor = 1;
	return leave_with(CKR_OK);
}

static CK_RV
p11_C_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count)
{
	CK_ULONG n;
	CK_RV rv = CKR_OK;

	ENTER(check_init(count == NULL));
	(void)p11_sync();
	n = present && p11.store == NULL ? 0 : 1;
	if (list != NULL && *count < n)
		rv = CKR_BUFFER_TOO_SMALL;
	else if (list != NULL && n == 1)
		list[0] = P11_SLOT_ID;
	*count = n;
	return leave_with(rv);
}

static CK_RV
p11_C_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info)
{
	ENTER(check_slot(slot, info == NULL));
	(void)p11_sync();
	memset(info, 0, sizeof(*info));
	p11_pad(info->slotDescription, sizeof(info->slotDescription),
	    "kmes key store");
	p11_pad(info->manufacturerID, sizeof(info->manufacturerID),
	    "kmes-agent");
	info->flags = p11.store != NULL ? CKF_TOKEN_PRESENT : 0;
	info->hardwareVersion.major = 0;
	info->firmwareVersion.major = 0;
	return leave_with(CKR_OK);
}

static CK_FLAGS
pin_flags(void)
{
	uint32_t failures = ks_store_pin_failures(p11.store);

	if (ks_store_pin_blocked(p11.store))
		return CKF_USER_PIN_LOCKED;
	if (failures + 1 == KS_STORE_MAX_TRIES)
		return CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY;
	if (failures > 0)
		return CKF_USER_PIN_COUNT_LOW;
	return 0;
}

static CK_RV
p11_C_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
	const uint8_t *id;
	char serial[17];
	size_t i, rw = 0;

	ENTER(check_slot(slot, info == NULL));
	(void)p11_sync();
	if (p11.store == NULL)
		return leave_with(CKR_TOKEN_NOT_PRESENT);
	memset(info, 0, sizeof(*info));
	p11_pad(info->label, sizeof(info->label), ks_store_label(p11.store));
	p11_pad(info->manufacturerID, sizeof(info->manufacturerID),
	    "kmes-agent");
	p11_pad(info->model, sizeof(info->model), "kmes key store");
	id = ks_store_id(p11.store);
	for (i = 0; i < 8; i++)
		(void)snprintf(serial + 2 * i, 3, "%02x", id[i]);
	p11_pad(info->serialNumber, sizeof(info->serialNumber), serial);
	info->flags = CKF_TOKEN_INITIALIZED | CKF_LOGIN_REQUIRED |
	    CKF_USER_PIN_INITIALIZED | CKF_RNG | pin_flags();
	for (i = 0; i < p11.nsessions; i++)
		rw += (p11.sessions[i]->flags & CKF_RW_SESSION) != 0;
	info->ulMaxSessionCount = P11_MAX_SESSIONS;
	info->ulSessionCount = p11.nsessions;
	info->ulMaxRwSessionCount = P11_MAX_SESSIONS;
	info->ulRwSessionCount = rw;
	info->ulMaxPinLen = KS_STORE_PIN_MAX;
	info->ulMinPinLen = KS_STORE_PIN_MIN;
	info->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
	info->hardwareVersion.major = 0;
	info->firmwareVersion.major = 0;
	p11_pad(info->utcTime, sizeof(info->utcTime), NULL);
	return leave_with(CKR_OK);
}

static CK_RV
p11_C_GetMechanismList(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list,
    CK_ULONG_PTR count)
{
	size_t i;
	CK_RV rv = CKR_OK;

	ENTER(check_slot(slot, count == NULL));
	if (list != NULL && *count < p11_nmechs)
		rv = CKR_BUFFER_TOO_SMALL;
	else if (list != NULL) {
		for (i = 0; i < p11_nmechs; i++)
			list[i] = p11_mechs[i].type;
	}
	*count = p11_nmechs;
	return leave_with(rv);
}

static CK_RV
p11_C_GetMechanismInfo(CK_SLOT_ID slot, CK_MECHANISM_TYPE type,
    CK_MECHANISM_INFO_PTR info)
{
	size_t i;

	ENTER(check_slot(slot, info == NULL));
	for (i = 0; i < p11_nmechs; i++) {
		if (p11_mechs[i].type != type)
			continue;
		info->ulMinKeySize = p11_mechs[i].min_bits;
		info->ulMaxKeySize = p11_mechs[i].max_bits;
		info->flags = p11_mechs[i].flags;
		return leave_with(CKR_OK);
	}
	return leave_with(CKR_MECHANISM_INVALID);
}

static CK_RV
p11_C_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app,
    CK_NOTIFY notify, CK_SESSION_HANDLE_PTR hp)
{
	struct p11_session *s = NULL, **ns;
	CK_RV rv;

	ENTER(check_slot(slot, hp == NULL));
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
	    (ns = reallocarray(p11.sessions, p11.nsessions + 1,
	    sizeof(*ns))) == NULL) {
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
	leave();
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
		logout_all();
}

static CK_RV
p11_C_CloseSession(CK_SESSION_HANDLE h)
{
	struct p11_session *s;

	ENTER(check_session(h, &s, 0));
	session_close(s);
	return leave_with(CKR_OK);
}

static CK_RV
p11_C_CloseAllSessions(CK_SLOT_ID slot)
{
	ENTER(check_slot(slot, 0));
	logout_all();
	sessions_close_all();
	return leave_with(CKR_OK);
}

static CK_RV
p11_C_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR info)
{
	struct p11_session *s;
	int rw;

	ENTER(check_session(h, &s, info == NULL));
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
	return leave_with(CKR_OK);
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
	if ((rv = p11_rv(ks_store_check_pin(p11.store, pin, pinlen,
	    NULL))) != CKR_OK)
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

	ENTER(check_session(h, &s, named));
	if (user == CKU_CONTEXT_SPECIFIC)
		return leave_with(context_login(s, pin, pinlen));
	if (user == CKU_SO)
		return leave_with(so_login_refusal());
	if (user != CKU_USER)
		return leave_with(CKR_USER_TYPE_INVALID);
	if (pin == NULL)	/* no protected authentication path */
		return leave_with(CKR_ARGUMENTS_BAD);
	if (pinlen > KS_STORE_PIN_MAX)
		return leave_with(CKR_PIN_LEN_RANGE);
	(void)p11_sync();
	if (p11_logged_in())
		return leave_with(CKR_USER_ALREADY_LOGGED_IN);
	rv = p11_rv(ks_store_login(p11.store, 0, pin, pinlen, NULL));
	if (rv == CKR_ARGUMENTS_BAD)
		rv = CKR_PIN_LEN_RANGE;
	if (rv == CKR_OK)
		p11.fresh_login = s->handle;
	return leave_with(rv);
}

static CK_RV
p11_C_Login(CK_SESSION_HANDLE h, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin,
    CK_ULONG pinlen)
{
	return login(h, user, pin, pinlen, 0);
}

static CK_RV
p11_C_LoginUser(CK_SESSION_HANDLE h, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin,
    CK_ULONG pinlen, CK_UTF8CHAR_PTR name, CK_ULONG namelen)
{
	/* The token has one user, who has no name. */
	return login(h, user, pin, pinlen, name != NULL || namelen != 0);
}

static CK_RV
p11_C_Logout(CK_SESSION_HANDLE h)
{
	struct p11_session *s;

	ENTER(check_session(h, &s, 0));
	if (!p11_logged_in())
		return leave_with(CKR_USER_NOT_LOGGED_IN);
	logout_all();
	return leave_with(CKR_OK);
}

static CK_RV
p11_C_SessionCancel(CK_SESSION_HANDLE h, CK_FLAGS flags)
{
	struct p11_session *s;

	ENTER(check_session(h, &s, 0));
	if (flags & CKF_SIGN)
		p11_sign_op_end(&s->sign);
	if (flags & CKF_VERIFY)
		p11_sign_op_end(&s->verify);
	return leave_with(CKR_OK);
}

static CK_RV
p11_C_DestroyObject(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj)
{
	struct p11_session *s;

	ENTER(check_session(h, &s, 0));
	return leave_with(p11_destroy(s, obj));
}

static CK_RV
p11_C_GetObjectSize(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj,
    CK_ULONG_PTR size)
{
	struct p11_session *s;
	int priv;

	ENTER(check_session(h, &s, size == NULL));
	if (p11_object(obj, &priv) == NULL)
		return leave_with(CKR_OBJECT_HANDLE_INVALID);
	*size = CK_UNAVAILABLE_INFORMATION;
	return leave_with(CKR_OK);
}

static CK_RV
p11_C_GetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj,
    CK_ATTRIBUTE_PTR attrs, CK_ULONG n)
{
	struct p11_session *s;

	ENTER(check_session(h, &s, 0));
	return leave_with(p11_get_attrs(obj, attrs, n));
}

static CK_RV
p11_C_SetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj,
    CK_ATTRIBUTE_PTR attrs, CK_ULONG n)
{
	struct p11_session *s;

	ENTER(check_session(h, &s, 0));
	return leave_with(p11_set_attrs(s, obj, attrs, n));
}

static CK_RV
p11_C_FindObjectsInit(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR attrs,
    CK_ULONG n)
{
	struct p11_session *s;

	ENTER(check_session_keep(h, &s));
	return leave_with(p11_find_init(s, attrs, n));
}

static CK_RV
p11_C_FindObjects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR out,
    CK_ULONG max, CK_ULONG_PTR count)
{
	struct p11_session *s;

	ENTER(check_session_keep(h, &s));
	return leave_with(p11_find(s, out, max, count));
}

static CK_RV
p11_C_FindObjectsFinal(CK_SESSION_HANDLE h)
{
	struct p11_session *s;

	ENTER(check_session_keep(h, &s));
	if (!s->find_active)
		return leave_with(CKR_OPERATION_NOT_INITIALIZED);
	p11_find_final(s);
	return leave_with(CKR_OK);
}

static CK_RV
p11_C_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech,
    CK_OBJECT_HANDLE key)
{
	struct p11_session *s;

	/* p11_sign_init takes the fresh login, whosever it is. */
	ENTER(check_session_keep(h, &s));
	return leave_with(p11_sign_init(s, mech, key));
}

static CK_RV
p11_C_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len,
    CK_BYTE_PTR sig, CK_ULONG_PTR siglen)
{
	struct p11_session *s;

	ENTER(check_session(h, &s, 0));
	return leave_with(p11_sign(s, data, len, sig, siglen));
}

static CK_RV
p11_C_SignUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len)
{
	struct p11_session *s;

	ENTER(check_session(h, &s, 0));
	return leave_with(p11_sign_update(s, data, len));
}

static CK_RV
p11_C_SignFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG_PTR siglen)
{
	struct p11_session *s;

	ENTER(check_session(h, &s, 0));
	return leave_with(p11_sign_final(s, sig, siglen));
}

static CK_RV
p11_C_VerifyInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech,
    CK_OBJECT_HANDLE key)
{
	struct p11_session *s;

	ENTER(check_session(h, &s, 0));
	return leave_with(p11_verify_init(s, mech, key));
}

static CK_RV
p11_C_Verify(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len,
    CK_BYTE_PTR sig, CK_ULONG siglen)
{
	struct p11_session *s;

	ENTER(check_session(h, &s, 0));
	return leave_with(p11_verify(s, data, len, sig, siglen));
}

static CK_RV
p11_C_VerifyUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len)
{
	struct p11_session *s;

	ENTER(check_session(h, &s, 0));
	return leave_with(p11_verify_update(s, data, len));
}

static CK_RV
p11_C_VerifyFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG siglen)
{
	struct p11_session *s;

	ENTER(check_session(h, &s, 0));
	return leave_with(p11_verify_final(s, sig, siglen));
}

static CK_RV
p11_C_GenerateKeyPair(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech,
    CK_ATTRIBUTE_PTR pub, CK_ULONG npub, CK_ATTRIBUTE_PTR priv,
    CK_ULONG npriv, CK_OBJECT_HANDLE_PTR hpub, CK_OBJECT_HANDLE_PTR hpriv)
{
	struct p11_session *s;

	ENTER(check_session(h, &s, 0));
	return leave_with(p11_generate(s, mech, pub, npub, priv, npriv, hpub,
	    hpriv));
}

static CK_RV
p11_C_GenerateRandom(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG len)
{
	struct p11_session *s;

	ENTER(check_session(h, &s, out == NULL && len != 0));
	if (len != 0 && ks_random(out, len) != 0)
		return leave_with(CKR_FUNCTION_FAILED);
	return leave_with(CKR_OK);
}

/* The 2.40 functions, shared by both lists. */
#define P11_FUNCTIONS_2_40						\
	.C_Initialize = p11_C_Initialize,				\
	.C_Finalize = p11_C_Finalize,					\
	.C_GetInfo = p11_C_GetInfo,					\
	.C_GetFunctionList = C_GetFunctionList,				\
	.C_GetSlotList = p11_C_GetSlotList,				\
	.C_GetSlotInfo = p11_C_GetSlotInfo,				\
	.C_GetTokenInfo = p11_C_GetTokenInfo,				\
	.C_GetMechanismList = p11_C_GetMechanismList,			\
	.C_GetMechanismInfo = p11_C_GetMechanismInfo,			\
	.C_InitToken = p11_C_InitToken,					\
	.C_InitPIN = p11_C_InitPIN,					\
	.C_SetPIN = p11_C_SetPIN,					\
	.C_OpenSession = p11_C_OpenSession,				\
	.C_CloseSession = p11_C_CloseSession,				\
	.C_CloseAllSessions = p11_C_CloseAllSessions,			\
	.C_GetSessionInfo = p11_C_GetSessionInfo,			\
	.C_GetOperationState = p11_C_GetOperationState,			\
	.C_SetOperationState = p11_C_SetOperationState,			\
	.C_Login = p11_C_Login,						\
	.C_Logout = p11_C_Logout,					\
	.C_CreateObject = p11_C_CreateObject,				\
	.C_CopyObject = p11_C_CopyObject,				\
	.C_DestroyObject = p11_C_DestroyObject,				\
	.C_GetObjectSize = p11_C_GetObjectSize,				\
	.C_GetAttributeValue = p11_C_GetAttributeValue,			\
	.C_SetAttributeValue = p11_C_SetAttributeValue,			\
	.C_FindObjectsInit = p11_C_FindObjectsInit,			\
	.C_FindObjects = p11_C_FindObjects,				\
	.C_FindObjectsFinal = p11_C_FindObjectsFinal,			\
	.C_EncryptInit = p11_C_EncryptInit,				\
	.C_Encrypt = p11_C_Encrypt,					\
	.C_EncryptUpdate = p11_C_EncryptUpdate,				\
	.C_EncryptFinal = p11_C_EncryptFinal,				\
	.C_DecryptInit = p11_C_DecryptInit,				\
	.C_Decrypt = p11_C_Decrypt,					\
	.C_DecryptUpdate = p11_C_DecryptUpdate,				\
	.C_DecryptFinal = p11_C_DecryptFinal,				\
	.C_DigestInit = p11_C_DigestInit,				\
	.C_Digest = p11_C_Digest,					\
	.C_DigestUpdate = p11_C_DigestUpdate,				\
	.C_DigestKey = p11_C_DigestKey,					\
	.C_DigestFinal = p11_C_DigestFinal,				\
	.C_SignInit = p11_C_SignInit,					\
	.C_Sign = p11_C_Sign,						\
	.C_SignUpdate = p11_C_SignUpdate,				\
	.C_SignFinal = p11_C_SignFinal,					\
	.C_SignRecoverInit = p11_C_SignRecoverInit,			\
	.C_SignRecover = p11_C_SignRecover,				\
	.C_VerifyInit = p11_C_VerifyInit,				\
	.C_Verify = p11_C_Verify,					\
	.C_VerifyUpdate = p11_C_VerifyUpdate,				\
	.C_VerifyFinal = p11_C_VerifyFinal,				\
	.C_VerifyRecoverInit = p11_C_VerifyRecoverInit,			\
	.C_VerifyRecover = p11_C_VerifyRecover,				\
	.C_DigestEncryptUpdate = p11_C_DigestEncryptUpdate,		\
	.C_DecryptDigestUpdate = p11_C_DecryptDigestUpdate,		\
	.C_SignEncryptUpdate = p11_C_SignEncryptUpdate,			\
	.C_DecryptVerifyUpdate = p11_C_DecryptVerifyUpdate,		\
	.C_GenerateKey = p11_C_GenerateKey,				\
	.C_GenerateKeyPair = p11_C_GenerateKeyPair,			\
	.C_WrapKey = p11_C_WrapKey,					\
	.C_UnwrapKey = p11_C_UnwrapKey,					\
	.C_DeriveKey = p11_C_DeriveKey,					\
	.C_SeedRandom = p11_C_SeedRandom,				\
	.C_GenerateRandom = p11_C_GenerateRandom,			\
	.C_GetFunctionStatus = p11_C_GetFunctionStatus,			\
	.C_CancelFunction = p11_C_CancelFunction,			\
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
		v = interfaces[i].pFunctionList;	/* version comes first */
		if (version != NULL && (version->major != v->major ||
		    version->minor != v->minor))
			continue;
		if ((interfaces[i].flags & flags) != flags)
			continue;
		*ifp = &interfaces[i];
		return CKR_OK;
	}
	return CKR_ARGUMENTS_BAD;
}
