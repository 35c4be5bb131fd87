/*
 * token.c: the PKCS#11 client side: load a vendor module, find a token by
 * label or serial, log in (and again when the HSM forgets us), and have the
 * token sign. Listing a token's keys is in token-keys.c.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

#include "crypto-int.h"
#include "crypto.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "secmem.h"
#include "token-int.h"
#include "token.h"

#define SLOTS_MAX 256
#define SIG_MAX 2048 /* RSA-16384 */

/* A cached private-key handle of one key in one session. */
struct tok_cached {
	const struct tok_key *key;
	CK_OBJECT_HANDLE h;
};

struct tok_session {
	struct tok_token *t;
	CK_SESSION_HANDLE h;
	int open;
	unsigned long login_gen; /* the login this session saw */
	struct tok_cached *cache;
	size_t ncache;
};

static const struct {
	CK_RV rv;
	const char *name;
} rv_names[] = {
	{ CKR_OK, "CKR_OK" },
	{ CKR_HOST_MEMORY, "CKR_HOST_MEMORY" },
	{ CKR_SLOT_ID_INVALID, "CKR_SLOT_ID_INVALID" },
	{ CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR" },
	{ CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED" },
	{ CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD" },
	{ CKR_ATTRIBUTE_SENSITIVE, "CKR_ATTRIBUTE_SENSITIVE" },
	{ CKR_ATTRIBUTE_TYPE_INVALID, "CKR_ATTRIBUTE_TYPE_INVALID" },
	{ CKR_DATA_INVALID, "CKR_DATA_INVALID" },
	{ CKR_DATA_LEN_RANGE, "CKR_DATA_LEN_RANGE" },
	{ CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR" },
	{ CKR_DEVICE_MEMORY, "CKR_DEVICE_MEMORY" },
	{ CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED" },
	{ CKR_FUNCTION_CANCELED, "CKR_FUNCTION_CANCELED" },
	{ CKR_FUNCTION_NOT_SUPPORTED, "CKR_FUNCTION_NOT_SUPPORTED" },
	{ CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID" },
	{ CKR_KEY_TYPE_INCONSISTENT, "CKR_KEY_TYPE_INCONSISTENT" },
	{ CKR_KEY_FUNCTION_NOT_PERMITTED, "CKR_KEY_FUNCTION_NOT_PERMITTED" },
	{ CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID" },
	{ CKR_MECHANISM_PARAM_INVALID, "CKR_MECHANISM_PARAM_INVALID" },
	{ CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID" },
	{ CKR_OPERATION_ACTIVE, "CKR_OPERATION_ACTIVE" },
	{ CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT" },
	{ CKR_PIN_INVALID, "CKR_PIN_INVALID" },
	{ CKR_PIN_LEN_RANGE, "CKR_PIN_LEN_RANGE" },
	{ CKR_PIN_EXPIRED, "CKR_PIN_EXPIRED" },
	{ CKR_PIN_LOCKED, "CKR_PIN_LOCKED" },
	{ CKR_SESSION_CLOSED, "CKR_SESSION_CLOSED" },
	{ CKR_SESSION_COUNT, "CKR_SESSION_COUNT" },
	{ CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID" },
	{ CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT" },
	{ CKR_TOKEN_NOT_RECOGNIZED, "CKR_TOKEN_NOT_RECOGNIZED" },
	{ CKR_USER_ALREADY_LOGGED_IN, "CKR_USER_ALREADY_LOGGED_IN" },
	{ CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN" },
	{ CKR_USER_PIN_NOT_INITIALIZED, "CKR_USER_PIN_NOT_INITIALIZED" },
	{ CKR_USER_TYPE_INVALID, "CKR_USER_TYPE_INVALID" },
	{ CKR_BUFFER_TOO_SMALL, "CKR_BUFFER_TOO_SMALL" },
	{ CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED" },
	{ CKR_CRYPTOKI_ALREADY_INITIALIZED,
	    "CKR_CRYPTOKI_ALREADY_INITIALIZED" },
};

const char *
tok_rv_name(unsigned long rv)
{
	size_t i;

	for (i = 0; i < sizeof(rv_names) / sizeof(rv_names[0]); i++) {
		if (rv_names[i].rv == rv)
			return rv_names[i].name;
	}
	return NULL;
}

/* Writes "what: CKR_X" into err and returns the matching KMES_ERR_*. */
int
tok_rv_fail(char *err, const char *what, CK_RV rv)
{
	const char *name = tok_rv_name(rv);

	if (err != NULL) {
		if (name != NULL)
			snprintf(err, TOK_ERRMSG_MAX, "%s: %s", what, name);
		else
			snprintf(err, TOK_ERRMSG_MAX, "%s: CK_RV 0x%lx", what,
			    (unsigned long)rv);
	}
	switch (rv) {
	case CKR_PIN_INCORRECT:
	case CKR_PIN_INVALID:
	case CKR_PIN_LEN_RANGE:
		return KMES_ERR_PIN_INCORRECT;
	case CKR_PIN_LOCKED:
	case CKR_PIN_EXPIRED:
		return KMES_ERR_PIN_LOCKED;
	case CKR_USER_NOT_LOGGED_IN:
		return KMES_ERR_NOT_LOGGED_IN;
	case CKR_HOST_MEMORY:
		return KMES_ERR_ALLOC;
	default:
		return KMES_ERR_TOKEN;
	}
}

/* The HSM went away or forgot us: worth one new session and login. */
static int
rv_session_lost(CK_RV rv)
{
	return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED ||
	    rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT ||
	    rv == CKR_USER_NOT_LOGGED_IN;
}

/* PKCS#11 pads labels and serials with blanks; keep them as C strings. */
static void
copy_padded(char *dst, const CK_UTF8CHAR *src, size_t len)
{
	size_t i;

	memcpy(dst, src, len);
	dst[len] = '\0';
	for (i = len; i > 0 && (dst[i - 1] == ' ' || dst[i - 1] == '\0'); i--)
		dst[i - 1] = '\0';
	/* Control bytes would garble logs and prompts. */
	for (i = 0; dst[i] != '\0'; i++) {
		if ((unsigned char)dst[i] < 0x20 || dst[i] == 0x7f)
			dst[i] = '?';
	}
}

int
tok_module_load(const char *path, const char *name, struct tok_module **mp,
    char err[TOK_ERRMSG_MAX])
{
	struct tok_module *m = NULL;
	CK_RV (*getfl)(CK_FUNCTION_LIST **);
	CK_C_INITIALIZE_ARGS args;
	CK_RV rv;
	int r;

	*mp = NULL;
	err[0] = '\0';
	if (name == NULL)
		name = path;
	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->path = strdup(name)) == NULL) {
		r = KMES_ERR_ALLOC;
		goto out;
	}
	if ((m->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		snprintf(err, TOK_ERRMSG_MAX, "cannot load %s: %s", name,
		    dlerror());
		r = KMES_ERR_TOKEN;
		goto out;
	}
	*(void **)&getfl = dlsym(m->dl, "C_GetFunctionList");
	if (getfl == NULL) {
		snprintf(err, TOK_ERRMSG_MAX,
		    "%s is not a PKCS#11 module "
		    "(no C_GetFunctionList)",
		    name);
		r = KMES_ERR_TOKEN;
		goto out;
	}
	if ((rv = getfl(&m->f)) != CKR_OK || m->f == NULL) {
		r = tok_rv_fail(err, "C_GetFunctionList",
		    rv != CKR_OK ? rv : CKR_GENERAL_ERROR);
		m->f = NULL;
		goto out;
	}
	if (m->f->version.major != 2 && m->f->version.major != 3) {
		snprintf(err, TOK_ERRMSG_MAX, "%s speaks PKCS#11 %u.%u", name,
		    m->f->version.major, m->f->version.minor);
		r = KMES_ERR_TOKEN;
		m->f = NULL;
		goto out;
	}
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	if ((rv = m->f->C_Initialize(&args)) != CKR_OK &&
	    rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		r = tok_rv_fail(err, "C_Initialize", rv);
		m->f = NULL;
		goto out;
	}
	*mp = m;
	m = NULL;
	r = 0;
out:
	tok_module_free(m);
	return r;
}

static void
token_free(struct tok_token *t)
{
	if (t == NULL)
		return;
	kmes_secure_free(t->pin);
	pthread_mutex_destroy(&t->mtx);
	free(t);
}

void
tok_module_free(struct tok_module *m)
{
	size_t i;

	if (m == NULL)
		return;
	if (m->f != NULL)
		(void)m->f->C_Finalize(NULL);
	for (i = 0; i < m->ntokens; i++)
		token_free(m->tokens[i]);
	free(m->tokens);
	if (m->dl != NULL)
		dlclose(m->dl);
	free(m->path);
	free(m);
}

/* The slots with a token in them; *slotsp is malloc'd. */
static int
present_slots(struct tok_module *m, CK_SLOT_ID **slotsp, CK_ULONG *np,
    char *err)
{
	CK_SLOT_ID *slots = NULL;
	CK_ULONG n = 0;
	CK_RV rv;

	*slotsp = NULL;
	*np = 0;
	if ((rv = m->f->C_GetSlotList(CK_TRUE, NULL, &n)) != CKR_OK)
		return tok_rv_fail(err, "C_GetSlotList", rv);
	if (n > SLOTS_MAX)
		n = SLOTS_MAX;
	if ((slots = calloc(n == 0 ? 1 : n, sizeof(*slots))) == NULL)
		return KMES_ERR_ALLOC;
	/* A slot may appear between the two calls: ask once more. */
	if ((rv = m->f->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK &&
	    rv != CKR_BUFFER_TOO_SMALL) {
		free(slots);
		return tok_rv_fail(err, "C_GetSlotList", rv);
	}
	*slotsp = slots;
	*np = n > SLOTS_MAX ? SLOTS_MAX : n;
	return 0;
}

int
tok_module_tokens(struct tok_module *m, const char *want,
    struct tok_token ***tokensp, size_t *np, char err[TOK_ERRMSG_MAX])
{
	CK_SLOT_ID *slots = NULL;
	CK_ULONG i, nslots = 0;
	CK_TOKEN_INFO ti;
	struct tok_token *t = NULL, **nt;
	char seen[TOK_ERRMSG_MAX / 2], label[33], serial[17];
	size_t seen_len = 0;
	int r;

	*tokensp = NULL;
	*np = 0;
	err[0] = '\0';
	seen[0] = '\0';
	if ((r = present_slots(m, &slots, &nslots, err)) != 0)
		goto out;
	for (i = 0; i < nslots; i++) {
		if (m->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		copy_padded(label, ti.label, sizeof(ti.label));
		copy_padded(serial, ti.serialNumber, sizeof(ti.serialNumber));
		if (!(ti.flags & CKF_TOKEN_INITIALIZED))
			continue;
		if (want != NULL && strcmp(want, label) != 0 &&
		    strcmp(want, serial) != 0) {
			if (seen_len < sizeof(seen)) {
				int n = snprintf(seen + seen_len,
				    sizeof(seen) - seen_len,
				    "%s'%s' (serial "
				    "%s)",
				    seen_len == 0 ? "" : ", ", label, serial);

				if (n > 0)
					seen_len += (size_t)n;
			}
			continue;
		}
		if ((t = calloc(1, sizeof(*t))) == NULL) {
			r = KMES_ERR_ALLOC;
			goto out;
		}
		pthread_mutex_init(&t->mtx, NULL);
		t->m = m;
		t->slot = slots[i];
		memcpy(t->label, label, sizeof(label));
		memcpy(t->serial, serial, sizeof(serial));
		t->login_required = (ti.flags & CKF_LOGIN_REQUIRED) != 0;
		if ((nt = reallocarray(m->tokens, m->ntokens + 1,
			 sizeof(*nt))) == NULL) {
			r = KMES_ERR_ALLOC;
			goto out;
		}
		m->tokens = nt;
		m->tokens[m->ntokens++] = t;
		t = NULL;
		(*np)++;
	}
	if (*np == 0) {
		if (want != NULL)
			snprintf(err, TOK_ERRMSG_MAX,
			    "no token '%s' in %s; "
			    "tokens there: %s",
			    want, m->path, seen_len == 0 ? "none" : seen);
		else
			snprintf(err, TOK_ERRMSG_MAX,
			    "no initialised token "
			    "in %s",
			    m->path);
		r = KMES_ERR_TOKEN_NOT_FOUND;
		goto out;
	}
	*tokensp = m->tokens + (m->ntokens - *np);
	r = 0;
out:
	token_free(t);
	free(slots);
	return r;
}

const char *
tok_token_label(const struct tok_token *t)
{
	return t->label;
}

const char *
tok_token_serial(const struct tok_token *t)
{
	return t->serial;
}

/*
 * After a refused PIN, what the token says about its retry counter (the
 * only count PKCS#11 offers), appended to err for the user.
 */
static void
pin_state_note(struct tok_module *m, CK_SLOT_ID slot, char *err)
{
	CK_TOKEN_INFO ti;
	const char *note = NULL;
	size_t used;

	if (err == NULL || m->f->C_GetTokenInfo(slot, &ti) != CKR_OK)
		return;
	if (ti.flags & CKF_USER_PIN_LOCKED)
		note = "; the token has now locked its user PIN";
	else if (ti.flags & CKF_USER_PIN_FINAL_TRY)
		note = "; one try left before the token locks the PIN";
	else if (ti.flags & CKF_USER_PIN_COUNT_LOW)
		note = "; the token is counting wrong PINs and may lock";
	if (note == NULL || (used = strlen(err)) >= TOK_ERRMSG_MAX - 1)
		return;
	snprintf(err + used, TOK_ERRMSG_MAX - used, "%s", note);
}

/*
 * Finds t's slot again (a network HSM may come back on another slot
 * number) and opens the session that holds the login. Caller holds t->mtx.
 */
static int
token_login_locked(struct tok_token *t, char *err)
{
	struct tok_module *m = t->m;
	CK_SLOT_ID *slots = NULL;
	CK_ULONG i, n = 0;
	CK_TOKEN_INFO ti;
	char label[33], serial[17];
	CK_RV rv;
	int r, found = 0;

	if (t->have_login_session) {
		(void)m->f->C_CloseSession(t->login_session);
		t->have_login_session = 0;
	}
	if ((r = present_slots(m, &slots, &n, err)) != 0)
		goto out;
	for (i = 0; i < n && !found; i++) {
		if (m->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		copy_padded(label, ti.label, sizeof(ti.label));
		copy_padded(serial, ti.serialNumber, sizeof(ti.serialNumber));
		if (strcmp(label, t->label) == 0 &&
		    strcmp(serial, t->serial) == 0) {
			t->slot = slots[i];
			found = 1;
		}
	}
	if (!found) {
		snprintf(err, TOK_ERRMSG_MAX,
		    "token '%s' (serial %s) is no "
		    "longer present",
		    t->label, t->serial);
		r = KMES_ERR_TOKEN_NOT_FOUND;
		goto out;
	}
	if ((rv = m->f->C_OpenSession(t->slot, CKF_SERIAL_SESSION, NULL, NULL,
		 &t->login_session)) != CKR_OK) {
		r = tok_rv_fail(err, "C_OpenSession", rv);
		goto out;
	}
	t->have_login_session = 1;
	if (t->login_required) {
		rv = m->f->C_Login(t->login_session, CKU_USER, t->pin,
		    (CK_ULONG)t->pinlen);
		if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
			r = tok_rv_fail(err, "C_Login", rv);
			if (r == KMES_ERR_PIN_INCORRECT ||
			    r == KMES_ERR_PIN_LOCKED)
				pin_state_note(m, t->slot, err);
			(void)m->f->C_CloseSession(t->login_session);
			t->have_login_session = 0;
			goto out;
		}
	}
	t->login_gen++;
	r = 0;
out:
	free(slots);
	return r;
}

int
tok_token_login(struct tok_token *t, const uint8_t *pin, size_t len,
    char err[TOK_ERRMSG_MAX])
{
	uint8_t *copy;
	int r;

	err[0] = '\0';
	if ((copy = kmes_secure_alloc(len == 0 ? 1 : len)) == NULL)
		return KMES_ERR_ALLOC;
	memcpy(copy, pin, len);
	pthread_mutex_lock(&t->mtx);
	kmes_secure_free(t->pin);
	t->pin = copy;
	t->pinlen = len;
	r = token_login_locked(t, err);
	if (r != 0) {
		/* A PIN the token refused is not kept for re-logins. */
		kmes_secure_free(t->pin);
		t->pin = NULL;
		t->pinlen = 0;
	}
	pthread_mutex_unlock(&t->mtx);
	return r;
}

int
tok_session_open(struct tok_token *t, struct tok_session **sp)
{
	struct tok_session *s;

	*sp = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return KMES_ERR_ALLOC;
	s->t = t;
	*sp = s;
	return 0;
}

static void
session_close(struct tok_session *s)
{
	if (s->open)
		(void)s->t->m->f->C_CloseSession(s->h);
	s->open = 0;
	free(s->cache);
	s->cache = NULL;
	s->ncache = 0;
}

void
tok_session_free(struct tok_session *s)
{
	if (s == NULL)
		return;
	session_close(s);
	free(s);
}

/* Opens the session if needed. */
static CK_RV
session_ensure(struct tok_session *s)
{
	struct tok_token *t = s->t;
	CK_RV rv;

	if (s->open)
		return CKR_OK;
	pthread_mutex_lock(&t->mtx);
	s->login_gen = t->login_gen;
	pthread_mutex_unlock(&t->mtx);
	rv = t->m->f->C_OpenSession(t->slot, CKF_SERIAL_SESSION, NULL, NULL,
	    &s->h);
	if (rv == CKR_OK)
		s->open = 1;
	return rv;
}

/* The private key handle of k in s, from the cache or a search. */
static CK_RV
private_handle(struct tok_session *s, const struct tok_key *k,
    CK_OBJECT_HANDLE *hp)
{
	struct tok_module *m = s->t->m;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, k->id, (CK_ULONG)k->id_len },
	};
	CK_OBJECT_HANDLE h = 0;
	CK_ULONG got = 0;
	struct tok_cached *nc;
	size_t i;
	CK_RV rv;

	for (i = 0; i < s->ncache; i++) {
		if (s->cache[i].key == k) {
			*hp = s->cache[i].h;
			return CKR_OK;
		}
	}
	if ((rv = m->f->C_FindObjectsInit(s->h, tmpl, 2)) != CKR_OK)
		return rv;
	rv = m->f->C_FindObjects(s->h, &h, 1, &got);
	(void)m->f->C_FindObjectsFinal(s->h);
	if (rv != CKR_OK)
		return rv;
	if (got != 1)
		return CKR_KEY_HANDLE_INVALID;
	if ((nc = reallocarray(s->cache, s->ncache + 1, sizeof(*nc))) != NULL) {
		s->cache = nc;
		s->cache[s->ncache].key = k;
		s->cache[s->ncache++].h = h;
	}
	*hp = h;
	return CKR_OK;
}

/* One attempt: C_SignInit + C_Sign of in with mech. */
static CK_RV
sign_once(struct tok_session *s, const struct tok_key *k, CK_MECHANISM_TYPE mt,
    const uint8_t *in, size_t inlen, uint8_t *out, CK_ULONG *outlen)
{
	CK_FUNCTION_LIST *f = s->t->m->f;
	CK_MECHANISM mech = { mt, NULL, 0 };
	CK_OBJECT_HANDLE h;
	CK_RV rv;

	if ((rv = session_ensure(s)) != CKR_OK ||
	    (rv = private_handle(s, k, &h)) != CKR_OK)
		return rv;
	if ((rv = f->C_SignInit(s->h, &mech, h)) != CKR_OK)
		return rv;
	*outlen = SIG_MAX;
	return f->C_Sign(s->h, (CK_BYTE *)in, (CK_ULONG)inlen, out, outlen);
}

/* Logs in again unless another thread did since this session began. */
static int
session_relogin(struct tok_session *s, char *err)
{
	struct tok_token *t = s->t;
	int r = 0;

	session_close(s);
	pthread_mutex_lock(&t->mtx);
	if (t->login_gen == s->login_gen)
		r = token_login_locked(t, err);
	pthread_mutex_unlock(&t->mtx);
	return r;
}

/* ASN.1 DigestInfo prefixes for PKCS#1 v1.5 (RFC 8017, 9.2 note 1). */
static const uint8_t di_sha1[] = { 0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b,
	0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14 };
static const uint8_t di_sha256[] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
	0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04,
	0x20 };
static const uint8_t di_sha512[] = { 0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60,
	0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04,
	0x40 };

/* How one signature is asked of the token and handed back to SSH. */
struct sign_plan {
	CK_MECHANISM_TYPE mech;
	enum ks_hash hash;     /* KS_HASH_NONE: the token gets the data */
	const uint8_t *prefix; /* PKCS#1 DigestInfo prefix, or NULL */
	size_t plen;
	const char *alg; /* SSH signature algorithm name */
};

/* Picks the plan for k and the agent's flags. Returns 0 or KMES_ERR_*. */
static int
sign_plan(const struct tok_key *k, uint32_t flags, struct sign_plan *p)
{
	memset(p, 0, sizeof(*p));
	p->alg = ks_key_type_name(k->pub);
	switch (ks_key_type(k->pub)) {
	case KS_KEY_RSA:
		p->mech = CKM_RSA_PKCS;
		if (flags & KS_SIGN_RSA_SHA2_512) {
			p->hash = KS_HASH_SHA512;
			p->prefix = di_sha512;
			p->plen = sizeof(di_sha512);
			p->alg = "rsa-sha2-512";
		} else if (flags & KS_SIGN_RSA_SHA2_256) {
			p->hash = KS_HASH_SHA256;
			p->prefix = di_sha256;
			p->plen = sizeof(di_sha256);
			p->alg = "rsa-sha2-256";
		} else {
			p->hash = KS_HASH_SHA1;
			p->prefix = di_sha1;
			p->plen = sizeof(di_sha1);
		}
		return 0;
	case KS_KEY_ECDSA_P256:
		p->mech = CKM_ECDSA;
		p->hash = KS_HASH_SHA256;
		return 0;
	case KS_KEY_ECDSA_P384:
		p->mech = CKM_ECDSA;
		p->hash = KS_HASH_SHA384;
		return 0;
	case KS_KEY_ECDSA_P521:
		p->mech = CKM_ECDSA;
		p->hash = KS_HASH_SHA512;
		return 0;
	case KS_KEY_ED25519:
		p->mech = CKM_EDDSA;
		p->hash = KS_HASH_NONE;
		return 0;
	default:
		return KMES_ERR_KEY_UNSUPPORTED;
	}
}

/*
 * Appends the SSH signature blob of the token's signature out (outlen
 * bytes) by k under alg. Returns 0 or a negative KMES_ERR_*.
 */
static int
put_ssh_sig(const struct tok_key *k, const char *alg, const uint8_t *out,
    size_t outlen, struct kbuf *sig)
{
	struct kbuf *inner = NULL;
	size_t half;
	int r;

	if ((r = kbuf_put_cstring(sig, alg)) != 0)
		return r;
	switch (ks_key_type(k->pub)) {
	case KS_KEY_ECDSA_P256:
	case KS_KEY_ECDSA_P384:
	case KS_KEY_ECDSA_P521:
		/* PKCS#11 gives r || s; SSH wants two mpints in a string. */
		if (outlen % 2 != 0)
			return KMES_ERR_TOKEN;
		half = outlen / 2;
		if ((inner = kbuf_new()) == NULL)
			return KMES_ERR_ALLOC;
		if ((r = kbuf_put_mpint(inner, out, half)) != 0 ||
		    (r = kbuf_put_mpint(inner, out + half, half)) != 0 ||
		    (r = kbuf_put_stringb(sig, inner)) != 0)
			goto out;
		break;
	default:
		if ((r = kbuf_put_string(sig, out, outlen)) != 0)
			return r;
		break;
	}
	r = 0;
out:
	kbuf_free(inner);
	return r;
}

int
tok_session_sign(struct tok_session *s, const struct tok_key *k,
    const uint8_t *data, size_t dlen, uint32_t flags, struct kbuf *sig,
    char err[TOK_ERRMSG_MAX])
{
	uint8_t in[sizeof(di_sha512) + KS_HASH_MAX_LEN], out[SIG_MAX];
	struct sign_plan plan;
	size_t hlen, inlen = 0;
	CK_ULONG outlen = 0;
	CK_RV rv;
	int r, attempt;

	err[0] = '\0';
	if (k->token != s->t)
		return KMES_ERR_INVALID_ARGUMENT;
	if ((r = sign_plan(k, flags, &plan)) != 0)
		return r;
	if (plan.hash != KS_HASH_NONE) {
		if (plan.plen != 0)
			memcpy(in, plan.prefix, plan.plen);
		if ((r = ks_digest(plan.hash, data, dlen, in + plan.plen,
			 sizeof(in) - plan.plen, &hlen)) != 0)
			return r;
		inlen = plan.plen + hlen;
	}
	for (attempt = 0;; attempt++) {
		if (plan.hash == KS_HASH_NONE)
			rv = sign_once(s, k, plan.mech, data, dlen, out,
			    &outlen);
		else
			rv = sign_once(s, k, plan.mech, in, inlen, out,
			    &outlen);
		if (rv == CKR_OK)
			break;
		/* The HSM lost our session or login: reopen, once. */
		if (attempt == 0 &&
		    (rv_session_lost(rv) || rv == CKR_KEY_HANDLE_INVALID ||
			rv == CKR_OBJECT_HANDLE_INVALID)) {
			if ((r = session_relogin(s, err)) != 0)
				goto out;
			continue;
		}
		r = tok_rv_fail(err, "C_Sign", rv);
		session_close(s);
		goto out;
	}
	if (outlen == 0 || outlen > SIG_MAX) {
		snprintf(err, TOK_ERRMSG_MAX, "C_Sign returned %lu bytes",
		    (unsigned long)outlen);
		r = KMES_ERR_TOKEN;
		goto out;
	}
	r = put_ssh_sig(k, plan.alg, out, outlen, sig);
out:
	kmes_wipe(in, sizeof(in));
	return r;
}
