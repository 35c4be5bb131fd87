/*
 * test-pkcs11.c: libkmes-pkcs11.so as an application sees it, loaded with
 * dlopen and driven through its function list: interfaces, initialisation
 * rules, token information, every attribute, hostile templates, signing
 * with each mechanism (checked with the keystore's own SSH verifier), size
 * queries, the PIN counter, key generation and deletion, fork and threads.
 *
 * KMES_PKCS11_MODULE names the module (meson sets it).
 */
#include <sys/wait.h>

#include <check.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p11-compat.h"

#include "crypto-p11.h"
#include "crypto.h"
#include "kbuf.h"
#include "kmes-err.h"
#include "store.h"
#include "testutil.h"

#define PIN "2468-pin"
#define SO_PIN "so-pin-1357"
#define LABEL "unit token"
/* p11.h's P11_TMPL_MAX, which a template may not exceed. */
#define P11_TMPL_MAX_TEST 64

static void *dl;
static CK_FUNCTION_LIST *f;
static char store_path[512];
/* Public blobs of the keys put in the store, by label. */
static const char *const labels[] = { "rsa", "p256", "p384", "ed" };
static struct ks_key *keys[4];

static void
make_store(void)
{
	static const enum ks_key_type types[] = { KS_KEY_RSA, KS_KEY_ECDSA_P256,
		KS_KEY_ECDSA_P384, KS_KEY_ED25519 };
	struct ks_store_kdf kdf = { 10, 8, 1 };
	struct ks_store *s = NULL;
	size_t i;

	ck_assert_int_eq(tu_setup("pkcs11"), 0);
	snprintf(store_path, sizeof(store_path), "%s/store/keystore", tu_dir());
	ck_assert_int_eq(ks_store_create(store_path, LABEL,
			     (const uint8_t *)PIN, strlen(PIN),
			     (const uint8_t *)SO_PIN, strlen(SO_PIN), &kdf),
	    0);
	ck_assert_int_eq(ks_store_open(store_path, &s), 0);
	ck_assert_int_eq(ks_store_login(s, 0, (const uint8_t *)PIN, strlen(PIN),
			     NULL),
	    0);
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(ks_key_generate(types[i], 2048, &keys[i]), 0);
		ck_assert_int_eq(ks_store_add_key(s, labels[i], keys[i],
				     KS_REC_GENERATED |
					 KS_REC_NEVER_EXTRACTABLE),
		    0);
	}
	ks_store_free(s);
	setenv("KMES_STORE", store_path, 1);
}

static void
setup(void)
{
	CK_C_GetFunctionList gfl;
	const char *path = getenv("KMES_PKCS11_MODULE");

	ck_assert_ptr_nonnull(path);
	ck_assert_int_eq(tu_crypto_init(), 0);
	make_store();
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(dl != NULL, "dlopen: %s", dlerror());
	*(void **)&gfl = dlsym(dl, "C_GetFunctionList");
	ck_assert(gfl != NULL);
	ck_assert_uint_eq(gfl(&f), CKR_OK);
	ck_assert_uint_eq(f->C_Initialize(NULL), CKR_OK);
}

static void
teardown(void)
{
	size_t i;

	(void)f->C_Finalize(NULL);
	dlclose(dl);
	for (i = 0; i < 4; i++)
		ks_key_free(keys[i]);
	tu_teardown();
}

static CK_SESSION_HANDLE
open_session(int rw, int login)
{
	CK_SESSION_HANDLE h;
	CK_FLAGS fl = CKF_SERIAL_SESSION | (rw ? CKF_RW_SESSION : 0);

	ck_assert_uint_eq(f->C_OpenSession(1, fl, NULL, NULL, &h), CKR_OK);
	if (login)
		ck_assert_uint_eq(f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)PIN,
				      strlen(PIN)),
		    CKR_OK);
	return h;
}

/* Finds the object of class cls labelled label; 0 if none. */
static CK_OBJECT_HANDLE
find(CK_SESSION_HANDLE h, CK_OBJECT_CLASS cls, const char *label)
{
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_OBJECT_HANDLE o[2] = { 0, 0 };
	CK_ULONG n = 0;

	ck_assert_uint_eq(f->C_FindObjectsInit(h, t, 2), CKR_OK);
	ck_assert_uint_eq(f->C_FindObjects(h, o, 2, &n), CKR_OK);
	ck_assert_uint_eq(f->C_FindObjectsFinal(h), CKR_OK);
	ck_assert_uint_le(n, 1);
	return n == 1 ? o[0] : 0;
}

static CK_FLAGS
token_flags(void)
{
	CK_TOKEN_INFO ti;

	ck_assert_uint_eq(f->C_GetTokenInfo(1, &ti), CKR_OK);
	return ti.flags;
}

START_TEST(test_interfaces_offer_3_0_and_2_40)
{
	CK_C_GetInterfaceList gil;
	CK_C_GetInterface gi;
	CK_INTERFACE list[2], *ifc;
	CK_VERSION v240 = { 2, 40 }, v99 = { 9, 9 };
	CK_ULONG n = 0;

	*(void **)&gil = dlsym(dl, "C_GetInterfaceList");
	*(void **)&gi = dlsym(dl, "C_GetInterface");
	ck_assert(gil != NULL);
	ck_assert(gi != NULL);
	ck_assert_uint_eq(gil(NULL, &n), CKR_OK);
	ck_assert_uint_eq(n, 2);
	n = 1;
	ck_assert_uint_eq(gil(list, &n), CKR_BUFFER_TOO_SMALL);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(gil(list, &n), CKR_OK);
	ck_assert_str_eq((char *)list[0].pInterfaceName, "PKCS 11");
	ck_assert_uint_eq(((CK_VERSION *)list[0].pFunctionList)->major, 3);
	ck_assert_uint_eq(gi(NULL, NULL, &ifc, 0), CKR_OK);
	ck_assert_uint_eq(
	    ((CK_FUNCTION_LIST_3_0 *)ifc->pFunctionList)->version.major, 3);
	ck_assert(
	    ((CK_FUNCTION_LIST_3_0 *)ifc->pFunctionList)->C_GetInterface == gi);
	ck_assert_uint_eq(gi((CK_UTF8CHAR_PTR) "PKCS 11", &v240, &ifc, 0),
	    CKR_OK);
	ck_assert_ptr_eq(ifc->pFunctionList, f);
	ck_assert_uint_eq(gi((CK_UTF8CHAR_PTR) "Vendor", NULL, &ifc, 0),
	    CKR_ARGUMENTS_BAD);
	ck_assert_uint_eq(gi(NULL, &v99, &ifc, 0), CKR_ARGUMENTS_BAD);
	/* We do not claim fork-safe semantics. */
	ck_assert_uint_eq(gi(NULL, NULL, &ifc, CKF_INTERFACE_FORK_SAFE),
	    CKR_ARGUMENTS_BAD);
}
END_TEST

START_TEST(test_initialize_rules)
{
	CK_C_INITIALIZE_ARGS a;
	CK_INFO info;

	ck_assert_uint_eq(f->C_Initialize(NULL),
	    CKR_CRYPTOKI_ALREADY_INITIALIZED);
	ck_assert_uint_eq(f->C_Finalize((void *)1), CKR_ARGUMENTS_BAD);
	ck_assert_uint_eq(f->C_Finalize(NULL), CKR_OK);
	ck_assert_uint_eq(f->C_GetInfo(&info), CKR_CRYPTOKI_NOT_INITIALIZED);
	ck_assert_uint_eq(f->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
	memset(&a, 0, sizeof(a));
	a.pReserved = &a;
	ck_assert_uint_eq(f->C_Initialize(&a), CKR_ARGUMENTS_BAD);
	a.pReserved = NULL;
	a.CreateMutex = (CK_CREATEMUTEX)1;
	ck_assert_uint_eq(f->C_Initialize(&a), CKR_ARGUMENTS_BAD);
	a.DestroyMutex = (CK_DESTROYMUTEX)1;
	a.LockMutex = (CK_LOCKMUTEX)1;
	a.UnlockMutex = (CK_UNLOCKMUTEX)1;
	ck_assert_uint_eq(f->C_Initialize(&a), CKR_CANT_LOCK);
	a.flags = CKF_OS_LOCKING_OK;
	ck_assert_uint_eq(f->C_Initialize(&a), CKR_OK);
	ck_assert_uint_eq(f->C_GetInfo(&info), CKR_OK);
	ck_assert_uint_eq(info.cryptokiVersion.major, 3);
}
END_TEST

START_TEST(test_token_shows_store_label_serial_and_flags)
{
	CK_SLOT_ID slots[2];
	CK_ULONG n = 0;
	CK_TOKEN_INFO ti;
	char want[33], serial[17];
	const uint8_t *id;
	struct ks_store *s;
	size_t i;

	ck_assert_uint_eq(f->C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK);
	ck_assert_uint_eq(n, 1);
	n = 0;
	ck_assert_uint_eq(f->C_GetSlotList(CK_TRUE, slots, &n),
	    CKR_BUFFER_TOO_SMALL);
	n = 2;
	ck_assert_uint_eq(f->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
	ck_assert_uint_eq(slots[0], 1);
	ck_assert_uint_eq(f->C_GetTokenInfo(7, &ti), CKR_SLOT_ID_INVALID);
	ck_assert_uint_eq(f->C_GetTokenInfo(1, &ti), CKR_OK);
	snprintf(want, sizeof(want), "%-32s", LABEL);
	ck_assert_int_eq(memcmp(ti.label, want, 32), 0);
	ck_assert_int_eq(ks_store_open(store_path, &s), 0);
	id = ks_store_id(s);
	for (i = 0; i < 8; i++)
		snprintf(serial + 2 * i, 3, "%02x", id[i]);
	ks_store_free(s);
	ck_assert_int_eq(memcmp(ti.serialNumber, serial, 16), 0);
	ck_assert_uint_eq(ti.flags,
	    CKF_TOKEN_INITIALIZED | CKF_LOGIN_REQUIRED |
		CKF_USER_PIN_INITIALIZED | CKF_RNG);
	ck_assert_uint_eq(ti.ulMinPinLen, KS_STORE_PIN_MIN);
}
END_TEST

START_TEST(test_private_objects_only_after_login)
{
	CK_SESSION_HANDLE h = open_session(0, 0);
	CK_OBJECT_HANDLE o[16];
	CK_ULONG n = 0;
	CK_SESSION_INFO si;

	ck_assert_uint_eq(f->C_FindObjectsInit(h, NULL, 0), CKR_OK);
	ck_assert_uint_eq(f->C_FindObjectsInit(h, NULL, 0),
	    CKR_OPERATION_ACTIVE);
	ck_assert_uint_eq(f->C_FindObjects(h, o, 16, &n), CKR_OK);
	ck_assert_uint_eq(f->C_FindObjectsFinal(h), CKR_OK);
	ck_assert_uint_eq(n, 4);
	ck_assert_uint_eq(find(h, CKO_PRIVATE_KEY, "p256"), 0);
	ck_assert_uint_eq(f->C_GetSessionInfo(h, &si), CKR_OK);
	ck_assert_uint_eq(si.state, CKS_RO_PUBLIC_SESSION);
	ck_assert_uint_eq(f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)PIN,
			      strlen(PIN)),
	    CKR_OK);
	ck_assert_uint_eq(f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)PIN,
			      strlen(PIN)),
	    CKR_USER_ALREADY_LOGGED_IN);
	ck_assert_uint_eq(f->C_GetSessionInfo(h, &si), CKR_OK);
	ck_assert_uint_eq(si.state, CKS_RO_USER_FUNCTIONS);
	ck_assert_uint_eq(f->C_FindObjectsInit(h, NULL, 0), CKR_OK);
	ck_assert_uint_eq(f->C_FindObjects(h, o, 16, &n), CKR_OK);
	ck_assert_uint_eq(f->C_FindObjectsFinal(h), CKR_OK);
	ck_assert_uint_eq(n, 8);
	ck_assert_uint_ne(find(h, CKO_PRIVATE_KEY, "p256"), 0);
	ck_assert_uint_eq(f->C_Logout(h), CKR_OK);
	ck_assert_uint_eq(f->C_Logout(h), CKR_USER_NOT_LOGGED_IN);
	ck_assert_uint_eq(find(h, CKO_PRIVATE_KEY, "p256"), 0);
}
END_TEST

/* Reads one attribute whole; returns its length (or UNAVAILABLE). */
static CK_ULONG
get(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, void *buf,
    CK_ULONG size, CK_RV *rvp)
{
	CK_ATTRIBUTE a = { type, buf, size };

	*rvp = f->C_GetAttributeValue(h, o, &a, 1);
	return a.ulValueLen;
}

static int
get_bool(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type)
{
	CK_BBOOL b = 7;
	CK_RV rv;

	ck_assert_uint_eq(get(h, o, type, &b, 1, &rv), 1);
	ck_assert_uint_eq(rv, CKR_OK);
	return b;
}

START_TEST(test_every_attribute_has_its_value)
{
	static const uint8_t p256_oid[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
		0x3d, 0x03, 0x01, 0x07 };
	static const uint8_t ed_oid[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };
	CK_SESSION_HANDLE h = open_session(0, 1);
	CK_OBJECT_HANDLE pub, priv;
	CK_ULONG ul, len;
	uint8_t buf[1024], id1[16], id2[16];
	const uint8_t *blob;
	size_t blob_len;
	CK_RV rv;

	pub = find(h, CKO_PUBLIC_KEY, "p256");
	priv = find(h, CKO_PRIVATE_KEY, "p256");
	ck_assert_uint_ne(pub, 0);
	ck_assert_uint_ne(priv, 0);
	ck_assert_uint_eq(get(h, pub, CKA_KEY_TYPE, &ul, sizeof(ul), &rv),
	    sizeof(ul));
	ck_assert_uint_eq(ul, CKK_EC);
	len = get(h, pub, CKA_EC_PARAMS, buf, sizeof(buf), &rv);
	ck_assert_uint_eq(len, sizeof(p256_oid));
	ck_assert_int_eq(memcmp(buf, p256_oid, len), 0);
	/* The point is a DER OCTET STRING around the SSH blob's point. */
	len = get(h, pub, CKA_EC_POINT, buf, sizeof(buf), &rv);
	ck_assert_uint_eq(len, 67);
	ck_assert_uint_eq(buf[0], 0x04);
	ck_assert_uint_eq(buf[1], 65);
	blob = ks_key_blob(keys[1], &blob_len);
	ck_assert_int_eq(memcmp(buf + 2, blob + blob_len - 65, 65), 0);
	ck_assert_uint_eq(get(h, pub, CKA_ID, id1, sizeof(id1), &rv), 16);
	ck_assert_uint_eq(get(h, priv, CKA_ID, id2, sizeof(id2), &rv), 16);
	ck_assert_int_eq(memcmp(id1, id2, 16), 0);
	ck_assert_uint_eq(get(h, priv, CKA_LABEL, buf, sizeof(buf), &rv), 4);
	ck_assert_int_eq(memcmp(buf, "p256", 4), 0);
	ck_assert_int_eq(get_bool(h, pub, CKA_TOKEN), 1);
	ck_assert_int_eq(get_bool(h, pub, CKA_PRIVATE), 0);
	ck_assert_int_eq(get_bool(h, pub, CKA_VERIFY), 1);
	ck_assert_int_eq(get_bool(h, priv, CKA_PRIVATE), 1);
	ck_assert_int_eq(get_bool(h, priv, CKA_SIGN), 1);
	ck_assert_int_eq(get_bool(h, priv, CKA_SENSITIVE), 1);
	ck_assert_int_eq(get_bool(h, priv, CKA_EXTRACTABLE), 0);
	ck_assert_int_eq(get_bool(h, priv, CKA_NEVER_EXTRACTABLE), 1);
	ck_assert_int_eq(get_bool(h, priv, CKA_ALWAYS_AUTHENTICATE), 0);
	ck_assert_int_eq(get_bool(h, priv, CKA_LOCAL), 1);
	ck_assert_int_eq(get_bool(h, priv, CKA_DECRYPT), 0);

	/* Private values: sensitive; unknown types: invalid. */
	ck_assert_uint_eq(get(h, priv, CKA_VALUE, buf, sizeof(buf), &rv),
	    CK_UNAVAILABLE_INFORMATION);
	ck_assert_uint_eq(rv, CKR_ATTRIBUTE_SENSITIVE);
	ck_assert_uint_eq(get(h, pub, CKA_MODULUS, buf, sizeof(buf), &rv),
	    CK_UNAVAILABLE_INFORMATION);
	ck_assert_uint_eq(rv, CKR_ATTRIBUTE_TYPE_INVALID);
	/* Size query, then a short buffer. */
	ck_assert_uint_eq(get(h, pub, CKA_EC_POINT, NULL, 0, &rv), 67);
	ck_assert_uint_eq(rv, CKR_OK);
	ck_assert_uint_eq(get(h, pub, CKA_EC_POINT, buf, 66, &rv),
	    CK_UNAVAILABLE_INFORMATION);
	ck_assert_uint_eq(rv, CKR_BUFFER_TOO_SMALL);

	/* RSA: modulus and exponent from the blob; private parts sensitive. */
	pub = find(h, CKO_PUBLIC_KEY, "rsa");
	priv = find(h, CKO_PRIVATE_KEY, "rsa");
	ck_assert_uint_eq(get(h, pub, CKA_MODULUS_BITS, &ul, sizeof(ul), &rv),
	    sizeof(ul));
	ck_assert_uint_eq(ul, 2048);
	ck_assert_uint_eq(get(h, pub, CKA_MODULUS, buf, sizeof(buf), &rv), 256);
	ck_assert_uint_eq(get(h, pub, CKA_PUBLIC_EXPONENT, buf, sizeof(buf),
			      &rv),
	    3);
	ck_assert_int_eq(memcmp(buf, "\x01\x00\x01", 3), 0);
	ck_assert_uint_eq(get(h, priv, CKA_PRIME_1, buf, sizeof(buf), &rv),
	    CK_UNAVAILABLE_INFORMATION);
	ck_assert_uint_eq(rv, CKR_ATTRIBUTE_SENSITIVE);

	/* Ed25519: CKK_EC_EDWARDS, id-Ed25519, a 32-byte point. */
	pub = find(h, CKO_PUBLIC_KEY, "ed");
	ck_assert_uint_eq(get(h, pub, CKA_KEY_TYPE, &ul, sizeof(ul), &rv),
	    sizeof(ul));
	ck_assert_uint_eq(ul, CKK_EC_EDWARDS);
	len = get(h, pub, CKA_EC_PARAMS, buf, sizeof(buf), &rv);
	ck_assert_uint_eq(len, sizeof(ed_oid));
	ck_assert_int_eq(memcmp(buf, ed_oid, len), 0);
	ck_assert_uint_eq(get(h, pub, CKA_EC_POINT, buf, sizeof(buf), &rv), 34);
}
END_TEST

START_TEST(test_hostile_templates_are_refused)
{
	CK_SESSION_HANDLE h = open_session(0, 0);
	CK_BBOOL t = CK_TRUE;
	CK_ULONG big = 0x01010101, cls = CKO_PUBLIC_KEY;
	uint8_t two = 2;
	CK_ATTRIBUTE lie_bool[] = { { CKA_TOKEN, &big, sizeof(big) } };
	CK_ATTRIBUTE bad_bool[] = { { CKA_TOKEN, &two, 1 } };
	CK_ATTRIBUTE short_ulong[] = { { CKA_CLASS, &t, 1 } };
	CK_ATTRIBUTE null_value[] = { { CKA_LABEL, NULL, 5 } };
	CK_ATTRIBUTE huge[] = { { CKA_LABEL, &t, 1UL << 40 } };
	CK_ATTRIBUTE dup[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_CLASS, &cls, sizeof(cls) },
	};
	CK_ATTRIBUTE many[P11_TMPL_MAX_TEST + 1];
	size_t i;

	ck_assert_uint_eq(f->C_FindObjectsInit(h, lie_bool, 1),
	    CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_uint_eq(f->C_FindObjectsInit(h, bad_bool, 1),
	    CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_uint_eq(f->C_FindObjectsInit(h, short_ulong, 1),
	    CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_uint_eq(f->C_FindObjectsInit(h, null_value, 1),
	    CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_uint_eq(f->C_FindObjectsInit(h, huge, 1),
	    CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_uint_eq(f->C_FindObjectsInit(h, dup, 2),
	    CKR_TEMPLATE_INCONSISTENT);
	ck_assert_uint_eq(f->C_FindObjectsInit(h, NULL, 3), CKR_ARGUMENTS_BAD);
	for (i = 0; i < P11_TMPL_MAX_TEST + 1; i++) {
		many[i].type = CKA_VENDOR_DEFINED + i;
		many[i].pValue = NULL;
		many[i].ulValueLen = 0;
	}
	ck_assert_uint_eq(f->C_FindObjectsInit(h, many, P11_TMPL_MAX_TEST + 1),
	    CKR_TEMPLATE_INCONSISTENT);
	/* None of the refusals left a search running. */
	ck_assert_uint_eq(f->C_FindObjectsFinal(h),
	    CKR_OPERATION_NOT_INITIALIZED);
	ck_assert_uint_eq(f->C_GetAttributeValue(h,
			      find(h, CKO_PUBLIC_KEY, "rsa"), NULL, 1),
	    CKR_ARGUMENTS_BAD);
}
END_TEST

/* Wraps a raw PKCS#11 signature as an SSH signature blob and verifies it. */
static void
check_sig(const struct ks_key *k, const char *alg, const uint8_t *sig,
    size_t siglen, const uint8_t *msg, size_t len)
{
	struct kbuf *b = kbuf_new(), *in = kbuf_new();

	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_nonnull(in);
	ck_assert_int_eq(kbuf_put_cstring(b, alg), 0);
	if (strncmp(alg, "ecdsa", 5) == 0) {
		ck_assert_int_eq(kbuf_put_mpint(in, sig, siglen / 2), 0);
		ck_assert_int_eq(kbuf_put_mpint(in, sig + siglen / 2,
				     siglen / 2),
		    0);
		ck_assert_int_eq(kbuf_put_stringb(b, in), 0);
	} else
		ck_assert_int_eq(kbuf_put_string(b, sig, siglen), 0);
	ck_assert_int_eq(ks_key_verify(k, kbuf_ptr(b), kbuf_len(b), msg, len),
	    0);
	kbuf_free(b);
	kbuf_free(in);
}

static void
sign_one(CK_SESSION_HANDLE h, const char *label, CK_MECHANISM_TYPE mt,
    const uint8_t *in, size_t inlen, int multi, uint8_t *sig, CK_ULONG *len)
{
	CK_MECHANISM m = { mt, NULL, 0 };
	CK_OBJECT_HANDLE key = find(h, CKO_PRIVATE_KEY, label);
	size_t off;

	ck_assert_uint_ne(key, 0);
	ck_assert_uint_eq(f->C_SignInit(h, &m, key), CKR_OK);
	if (!multi) {
		ck_assert_uint_eq(f->C_Sign(h, (CK_BYTE_PTR)in, inlen, sig,
				      len),
		    CKR_OK);
		return;
	}
	for (off = 0; off < inlen; off += 7)
		ck_assert_uint_eq(f->C_SignUpdate(h, (CK_BYTE_PTR)in + off,
				      inlen - off < 7 ? inlen - off : 7),
		    CKR_OK);
	ck_assert_uint_eq(f->C_SignFinal(h, sig, len), CKR_OK);
}

START_TEST(test_each_mechanism_signs_verifiably)
{
	static const uint8_t di256[] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09,
		0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
		0x00, 0x04, 0x20 };
	static const uint8_t msg[] = "the quick brown fox signs with a token";
	CK_SESSION_HANDLE h = open_session(0, 1);
	uint8_t sig[512], in[128];
	struct ks_p11_hash_ctx *hc;
	size_t dglen;
	CK_ULONG len;
	int multi;

	for (multi = 0; multi <= 1; multi++) {
		len = sizeof(sig);
		sign_one(h, "p256", CKM_ECDSA_SHA256, msg, sizeof(msg), multi,
		    sig, &len);
		ck_assert_uint_eq(len, 64);
		check_sig(keys[1], "ecdsa-sha2-nistp256", sig, len, msg,
		    sizeof(msg));
		len = sizeof(sig);
		sign_one(h, "p384", CKM_ECDSA_SHA384, msg, sizeof(msg), multi,
		    sig, &len);
		ck_assert_uint_eq(len, 96);
		check_sig(keys[2], "ecdsa-sha2-nistp384", sig, len, msg,
		    sizeof(msg));
		len = sizeof(sig);
		sign_one(h, "rsa", CKM_SHA256_RSA_PKCS, msg, sizeof(msg), multi,
		    sig, &len);
		ck_assert_uint_eq(len, 256);
		check_sig(keys[0], "rsa-sha2-256", sig, len, msg, sizeof(msg));
		len = sizeof(sig);
		sign_one(h, "rsa", CKM_SHA512_RSA_PKCS, msg, sizeof(msg), multi,
		    sig, &len);
		check_sig(keys[0], "rsa-sha2-512", sig, len, msg, sizeof(msg));
		len = sizeof(sig);
		sign_one(h, "ed", CKM_EDDSA, msg, sizeof(msg), multi, sig,
		    &len);
		ck_assert_uint_eq(len, 64);
		check_sig(keys[3], "ssh-ed25519", sig, len, msg, sizeof(msg));
	}
	/* The raw mechanisms: the caller hashes (and builds DigestInfo). */
	ck_assert_int_eq(ks_p11_hash_new(KS_P11_SHA256, &hc), 0);
	ck_assert_int_eq(ks_p11_hash_update(hc, msg, sizeof(msg)), 0);
	ck_assert_int_eq(ks_p11_hash_final(hc, in + sizeof(di256),
			     sizeof(in) - sizeof(di256), &dglen),
	    0);
	ks_p11_hash_free(hc);
	memcpy(in, di256, sizeof(di256));
	len = sizeof(sig);
	sign_one(h, "p256", CKM_ECDSA, in + sizeof(di256), dglen, 0, sig, &len);
	check_sig(keys[1], "ecdsa-sha2-nistp256", sig, len, msg, sizeof(msg));
	len = sizeof(sig);
	sign_one(h, "rsa", CKM_RSA_PKCS, in, sizeof(di256) + dglen, 0, sig,
	    &len);
	check_sig(keys[0], "rsa-sha2-256", sig, len, msg, sizeof(msg));
}
END_TEST

START_TEST(test_size_query_and_short_buffer_keep_the_operation)
{
	CK_SESSION_HANDLE h = open_session(0, 1);
	CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 };
	CK_MECHANISM bad = { CKM_SHA256_RSA_PKCS, NULL, 0 };
	CK_OBJECT_HANDLE key = find(h, CKO_PRIVATE_KEY, "p256");
	CK_OBJECT_HANDLE pub = find(h, CKO_PUBLIC_KEY, "p256");
	uint8_t sig[64], msg[] = "size me";
	CK_ULONG len = 0;

	ck_assert_uint_eq(f->C_SignInit(h, &bad, key),
	    CKR_KEY_TYPE_INCONSISTENT);
	ck_assert_uint_eq(f->C_SignInit(h, &m, pub),
	    CKR_KEY_FUNCTION_NOT_PERMITTED);
	ck_assert_uint_eq(f->C_SignInit(h, &m, key), CKR_OK);
	ck_assert_uint_eq(f->C_SignInit(h, &m, key), CKR_OPERATION_ACTIVE);
	ck_assert_uint_eq(f->C_Sign(h, msg, sizeof(msg), NULL, &len), CKR_OK);
	ck_assert_uint_eq(len, 64);
	len = 10;
	ck_assert_uint_eq(f->C_Sign(h, msg, sizeof(msg), sig, &len),
	    CKR_BUFFER_TOO_SMALL);
	ck_assert_uint_eq(len, 64);
	ck_assert_uint_eq(f->C_Sign(h, msg, sizeof(msg), sig, &len), CKR_OK);
	check_sig(keys[1], "ecdsa-sha2-nistp256", sig, len, msg, sizeof(msg));
	ck_assert_uint_eq(f->C_Sign(h, msg, sizeof(msg), sig, &len),
	    CKR_OPERATION_NOT_INITIALIZED);
	/* Too much input for CKM_RSA_PKCS is a length error, not a crash. */
	m.mechanism = CKM_RSA_PKCS;
	key = find(h, CKO_PRIVATE_KEY, "rsa");
	ck_assert_uint_eq(f->C_SignInit(h, &m, key), CKR_OK);
	ck_assert_uint_eq(f->C_SignUpdate(h, (CK_BYTE_PTR)store_path,
			      sizeof(store_path)),
	    CKR_DATA_LEN_RANGE);
	ck_assert_uint_eq(f->C_SignFinal(h, sig, &len),
	    CKR_OPERATION_NOT_INITIALIZED);
}
END_TEST

START_TEST(test_wrong_pins_count_and_lock)
{
	CK_SESSION_HANDLE h = open_session(0, 0);
	int i;

	ck_assert_uint_eq(f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR) "nope", 4),
	    CKR_PIN_INCORRECT);
	ck_assert_uint_eq(token_flags() &
		(CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY |
		    CKF_USER_PIN_LOCKED),
	    CKF_USER_PIN_COUNT_LOW);
	for (i = 1; i < KS_STORE_MAX_TRIES - 1; i++)
		ck_assert_uint_eq(f->C_Login(h, CKU_USER,
				      (CK_UTF8CHAR_PTR) "nope", 4),
		    CKR_PIN_INCORRECT);
	ck_assert_uint_ne(token_flags() & CKF_USER_PIN_FINAL_TRY, 0);
	ck_assert_uint_eq(f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR) "nope", 4),
	    CKR_PIN_INCORRECT);
	ck_assert_uint_ne(token_flags() & CKF_USER_PIN_LOCKED, 0);
	ck_assert_uint_eq(f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)PIN,
			      strlen(PIN)),
	    CKR_PIN_LOCKED);
	/* Never an SO login (a read-only session would be refused first). */
	ck_assert_uint_eq(f->C_CloseSession(h), CKR_OK);
	h = open_session(1, 0);
	ck_assert_uint_eq(f->C_Login(h, CKU_SO, (CK_UTF8CHAR_PTR)SO_PIN,
			      strlen(SO_PIN)),
	    CKR_USER_TYPE_INVALID);
}
END_TEST

/* Puts the confirm key "asks" in the store; *kp gets the key itself. */
static void
add_confirm_key(struct ks_key **kp)
{
	struct ks_store *st = NULL;

	ck_assert_int_eq(ks_store_open(store_path, &st), 0);
	ck_assert_int_eq(ks_store_login(st, 0, (const uint8_t *)PIN,
			     strlen(PIN), NULL),
	    0);
	ck_assert_int_eq(ks_key_generate(KS_KEY_ECDSA_P256, 0, kp), 0);
	ck_assert_int_eq(ks_store_add_key(st, "asks", *kp,
			     KS_REC_GENERATED | KS_REC_NEVER_EXTRACTABLE |
				 KS_REC_CONFIRM),
	    0);
	ks_store_free(st);
}

/*
 * Looks the confirm key up on h, as OpenSSH does, starts a signature with
 * it and returns what C_Sign answers without a context-specific login. A
 * refused signature is then finished with the PIN given for it, so every
 * path ends with a signature that verifies.
 */
static CK_RV
confirm_sign(CK_SESSION_HANDLE h, const struct ks_key *k)
{
	static const uint8_t msg[32] = { 4, 5, 6 };
	CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 };
	uint8_t sig[128];
	CK_ULONG len = sizeof(sig);
	CK_OBJECT_HANDLE key;
	CK_RV rv;

	ck_assert_uint_ne(key = find(h, CKO_PRIVATE_KEY, "asks"), 0);
	ck_assert_uint_eq(f->C_SignInit(h, &m, key), CKR_OK);
	rv = f->C_Sign(h, (CK_BYTE_PTR)msg, sizeof(msg), sig, &len);
	if (rv == CKR_USER_NOT_LOGGED_IN) {
		ck_assert_uint_eq(f->C_Login(h, CKU_CONTEXT_SPECIFIC,
				      (CK_UTF8CHAR_PTR)PIN, strlen(PIN)),
		    CKR_OK);
		ck_assert_uint_eq(f->C_Sign(h, (CK_BYTE_PTR)msg, sizeof(msg),
				      sig, &len),
		    CKR_OK);
	} else
		ck_assert_uint_eq(rv, CKR_OK);
	check_sig(k, "ecdsa-sha2-nistp256", sig, len, msg, sizeof(msg));
	return rv;
}

/* Logs out and in again on h: a PIN just typed, nothing done since. */
static void
relogin(CK_SESSION_HANDLE h)
{
	ck_assert_uint_eq(f->C_Logout(h), CKR_OK);
	ck_assert_uint_eq(f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)PIN,
			      strlen(PIN)),
	    CKR_OK);
}

/*
 * A confirm key (kmes-keytool --confirm) carries CKA_ALWAYS_AUTHENTICATE and
 * signs only with the PIN entered for that signature: the user login just
 * made, or a context-specific login after C_SignInit. The module cannot ask
 * yes/no, so it asks for the PIN (OpenSSH does so for such keys). A wrong
 * PIN there counts and does not log the user out.
 */
START_TEST(test_confirm_key_wants_the_pin_for_each_signature)
{
	static const uint8_t msg[32] = { 1, 2, 3 };
	struct ks_key *k = NULL;
	CK_SESSION_HANDLE h;
	CK_OBJECT_HANDLE key;
	CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 };
	CK_BBOOL always = CK_FALSE;
	CK_ATTRIBUTE a = { CKA_ALWAYS_AUTHENTICATE, &always, sizeof(always) };
	uint8_t sig[256];
	CK_ULONG len = sizeof(sig);
	int round;

	add_confirm_key(&k);
	/* The PIN of the user login just made covers one signature, when
	 * the application only looked the key up in between (OpenSSH). */
	h = open_session(0, 1);
	ck_assert_uint_eq(confirm_sign(h, k), CKR_OK);

	ck_assert_uint_ne(key = find(h, CKO_PRIVATE_KEY, "asks"), 0);
	ck_assert_uint_eq(f->C_GetAttributeValue(h, key, &a, 1), CKR_OK);
	ck_assert_uint_eq(always, CK_TRUE);
	/* The other keys do not ask. */
	a.pValue = &always;
	ck_assert_uint_eq(f->C_GetAttributeValue(h,
			      find(h, CKO_PRIVATE_KEY, "p256"), &a, 1),
	    CKR_OK);
	ck_assert_uint_eq(always, CK_FALSE);

	/* Not before a signature is being made. */
	ck_assert_uint_eq(f->C_Login(h, CKU_CONTEXT_SPECIFIC,
			      (CK_UTF8CHAR_PTR)PIN, strlen(PIN)),
	    CKR_OPERATION_NOT_INITIALIZED);
	/* Every later one wants the PIN again. */
	for (round = 0; round < 2; round++) {
		len = sizeof(sig);
		ck_assert_uint_eq(f->C_SignInit(h, &m, key), CKR_OK);
		ck_assert_uint_eq(f->C_Sign(h, (CK_BYTE_PTR)msg, sizeof(msg),
				      sig, &len),
		    CKR_USER_NOT_LOGGED_IN);
		ck_assert_uint_eq(f->C_SignUpdate(h, (CK_BYTE_PTR)msg, 1),
		    CKR_USER_NOT_LOGGED_IN);
		ck_assert_uint_eq(f->C_Login(h, CKU_CONTEXT_SPECIFIC,
				      (CK_UTF8CHAR_PTR) "nope", 4),
		    CKR_PIN_INCORRECT);
		ck_assert_uint_ne(token_flags() & CKF_USER_PIN_COUNT_LOW, 0);
		ck_assert_uint_eq(f->C_Sign(h, (CK_BYTE_PTR)msg, sizeof(msg),
				      sig, &len),
		    CKR_USER_NOT_LOGGED_IN);
		ck_assert_uint_eq(f->C_Login(h, CKU_CONTEXT_SPECIFIC,
				      (CK_UTF8CHAR_PTR)PIN, strlen(PIN)),
		    CKR_OK);
		/* The user's own login survived the wrong PIN. */
		ck_assert_uint_eq(token_flags() & CKF_USER_PIN_COUNT_LOW, 0);
		ck_assert_uint_eq(f->C_Sign(h, (CK_BYTE_PTR)msg, sizeof(msg),
				      sig, &len),
		    CKR_OK);
		check_sig(k, "ecdsa-sha2-nistp256", sig, len, msg, sizeof(msg));
	}
	ks_key_free(k);
}
END_TEST

/*
 * The PIN typed for a login authorises at most the very next signature,
 * and only if that is with a confirm key: an application that signs with
 * an ordinary key first must not find the confirm key's PIN still paid
 * for later (the flag used to wait for a confirm key indefinitely).
 */
START_TEST(test_login_pin_is_spent_by_a_signature_with_another_key)
{
	static const uint8_t msg[] = "ordinary key first";
	struct ks_key *k = NULL;
	CK_SESSION_HANDLE h;
	uint8_t sig[64];
	CK_ULONG len = sizeof(sig);

	add_confirm_key(&k);
	h = open_session(0, 1);
	sign_one(h, "p256", CKM_ECDSA_SHA256, msg, sizeof(msg), 0, sig, &len);
	ck_assert_uint_eq(confirm_sign(h, k), CKR_USER_NOT_LOGGED_IN);
	/* Even a multi-part signature with another key spends it. */
	relogin(h);
	len = sizeof(sig);
	sign_one(h, "ed", CKM_EDDSA, msg, sizeof(msg), 1, sig, &len);
	ck_assert_uint_eq(confirm_sign(h, k), CKR_USER_NOT_LOGGED_IN);
	/* Control: a fresh login with only the key's lookup between. */
	relogin(h);
	ck_assert_uint_eq(confirm_sign(h, k), CKR_OK);
	ks_key_free(k);
}
END_TEST

/*
 * Only the session that logged in may look its key up between the login
 * and the signature: a search on another session means the login was not
 * made for this signature. Reading an attribute, even on the same session,
 * spends it too.
 */
START_TEST(test_login_pin_is_spent_by_a_search_elsewhere_first)
{
	struct ks_key *k = NULL;
	CK_SESSION_HANDLE h = open_session(0, 0), other = open_session(0, 0);
	CK_BBOOL always = CK_FALSE;
	CK_ATTRIBUTE a = { CKA_ALWAYS_AUTHENTICATE, &always, sizeof(always) };
	CK_OBJECT_HANDLE key;

	add_confirm_key(&k);
	ck_assert_uint_eq(f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)PIN,
			      strlen(PIN)),
	    CKR_OK);
	ck_assert_uint_ne(find(other, CKO_PRIVATE_KEY, "asks"), 0);
	ck_assert_uint_eq(confirm_sign(h, k), CKR_USER_NOT_LOGGED_IN);

	relogin(h);
	ck_assert_uint_ne(key = find(h, CKO_PRIVATE_KEY, "asks"), 0);
	ck_assert_uint_eq(f->C_GetAttributeValue(h, key, &a, 1), CKR_OK);
	ck_assert_uint_eq(confirm_sign(h, k), CKR_USER_NOT_LOGGED_IN);

	relogin(h);
	ck_assert_uint_eq(confirm_sign(h, k), CKR_OK);
	ks_key_free(k);
}
END_TEST

/*
 * The login is the module's, not the session's: a signature on another
 * session (with any key) spends the PIN, and never borrows it.
 */
START_TEST(test_login_pin_is_spent_by_another_session)
{
	static const uint8_t msg[] = "another session";
	struct ks_key *k = NULL;
	CK_SESSION_HANDLE h = open_session(0, 0), other = open_session(0, 0);
	uint8_t sig[64];
	CK_ULONG len = sizeof(sig);

	add_confirm_key(&k);
	ck_assert_uint_eq(f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)PIN,
			      strlen(PIN)),
	    CKR_OK);
	sign_one(other, "ed", CKM_EDDSA, msg, sizeof(msg), 0, sig, &len);
	ck_assert_uint_eq(confirm_sign(h, k), CKR_USER_NOT_LOGGED_IN);

	/* The confirm signature on the other session does not get it... */
	relogin(h);
	ck_assert_uint_eq(confirm_sign(other, k), CKR_USER_NOT_LOGGED_IN);
	/* ...and leaves nothing for the session that logged in. */
	ck_assert_uint_eq(confirm_sign(h, k), CKR_USER_NOT_LOGGED_IN);
	ks_key_free(k);
}
END_TEST

/* Another thread's session, started after the login: what C_Sign said. */
static void *
confirm_thread(void *arg)
{
	static const uint8_t msg[32] = { 7 };
	CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 };
	CK_SESSION_HANDLE h;
	uint8_t sig[128];
	CK_ULONG len = sizeof(sig);
	CK_RV *rv = arg;

	*rv = CKR_GENERAL_ERROR;
	if (f->C_OpenSession(1, CKF_SERIAL_SESSION, NULL, NULL, &h) != CKR_OK ||
	    f->C_SignInit(h, &m, find(h, CKO_PRIVATE_KEY, "asks")) != CKR_OK)
		return NULL;
	*rv = f->C_Sign(h, (CK_BYTE_PTR)msg, sizeof(msg), sig, &len);
	(void)f->C_CloseSession(h);
	return NULL;
}

/*
 * The flag is module state under the module's lock: a second thread that
 * tries a confirm signature right after another thread's login neither
 * gets the PIN's authority nor leaves it for the thread that logged in.
 */
START_TEST(test_login_pin_is_spent_by_a_second_thread)
{
	struct ks_key *k = NULL;
	CK_SESSION_HANDLE h = open_session(0, 0);
	pthread_t t;
	CK_RV rv;

	add_confirm_key(&k);
	ck_assert_uint_eq(f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)PIN,
			      strlen(PIN)),
	    CKR_OK);
	ck_assert_int_eq(pthread_create(&t, NULL, confirm_thread, &rv), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_uint_eq(rv, CKR_USER_NOT_LOGGED_IN);
	ck_assert_uint_eq(confirm_sign(h, k), CKR_USER_NOT_LOGGED_IN);
	ks_key_free(k);
}
END_TEST

START_TEST(test_generate_writes_and_destroy_deletes)
{
	static const uint8_t p384_oid[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00,
		0x22 };
	CK_SESSION_HANDLE ro = open_session(0, 1), rw = open_session(1, 0);
	CK_MECHANISM m = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE pub[] = {
		{ CKA_EC_PARAMS, (void *)p384_oid, sizeof(p384_oid) },
		{ CKA_LABEL, "made-here", 9 },
		{ CKA_TOKEN, &yes, 1 },
	};
	CK_ATTRIBUTE priv[] = { { CKA_SIGN, &yes, 1 } };
	CK_OBJECT_HANDLE hpub, hpriv;
	struct ks_store *s;

	ck_assert_uint_eq(f->C_GenerateKeyPair(ro, &m, pub, 3, priv, 1, &hpub,
			      &hpriv),
	    CKR_SESSION_READ_ONLY);
	ck_assert_uint_eq(f->C_GenerateKeyPair(rw, &m, pub, 3, priv, 1, &hpub,
			      &hpriv),
	    CKR_OK);
	ck_assert_uint_eq(hpriv, hpub + 1);
	ck_assert_uint_eq(find(rw, CKO_PRIVATE_KEY, "made-here"), hpriv);
	ck_assert_int_eq(ks_store_open(store_path, &s), 0);
	ck_assert_int_ge(ks_store_find(s, "made-here"), 0);
	ks_store_free(s);
	ck_assert_uint_eq(f->C_DestroyObject(ro, hpriv), CKR_SESSION_READ_ONLY);
	ck_assert_uint_eq(f->C_DestroyObject(rw, hpriv), CKR_OK);
	ck_assert_uint_eq(find(rw, CKO_PUBLIC_KEY, "made-here"), 0);
	ck_assert_int_eq(ks_store_open(store_path, &s), 0);
	ck_assert_int_eq(ks_store_find(s, "made-here"), -1);
	ks_store_free(s);
}
END_TEST

START_TEST(test_fork_child_starts_afresh)
{
	CK_SESSION_HANDLE h = open_session(0, 1);
	CK_INFO info;
	uint8_t sig[64], msg[] = "parent";
	CK_ULONG len = sizeof(sig);
	pid_t pid;
	int st;

	/* A decrypted key in the parent: the child must wipe its copy. */
	sign_one(h, "p256", CKM_ECDSA_SHA256, msg, sizeof(msg), 0, sig, &len);
	len = sizeof(sig);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* The child inherits no initialisation and no login. */
		if (f->C_GetInfo(&info) != CKR_CRYPTOKI_NOT_INITIALIZED)
			_exit(2);
		if (f->C_Initialize(NULL) != CKR_OK ||
		    f->C_GetInfo(&info) != CKR_OK)
			_exit(3);
		if (f->C_OpenSession(1, CKF_SERIAL_SESSION, NULL, NULL, &h) !=
		    CKR_OK)
			_exit(4);
		if (find(h, CKO_PRIVATE_KEY, "p256") != 0 ||
		    find(h, CKO_PUBLIC_KEY, "p256") == 0)
			_exit(5);
		if (f->C_Finalize(NULL) != CKR_OK)
			_exit(6);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st), "child died of signal %d", WTERMSIG(st));
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	/* The parent is still initialised and logged in. */
	sign_one(h, "p256", CKM_ECDSA_SHA256, msg, sizeof(msg), 0, sig, &len);
	check_sig(keys[1], "ecdsa-sha2-nistp256", sig, len, msg, sizeof(msg));
}
END_TEST

static void *
signer_thread(void *arg)
{
	CK_SESSION_HANDLE h;
	CK_MECHANISM m = { CKM_EDDSA, NULL, 0 };
	uint8_t sig[64], msg[] = "threads";
	CK_ULONG len;
	int i;

	(void)arg;
	if (f->C_OpenSession(1, CKF_SERIAL_SESSION, NULL, NULL, &h) != CKR_OK)
		return (void *)1;
	for (i = 0; i < 50; i++) {
		len = sizeof(sig);
		if (f->C_SignInit(h, &m, find(h, CKO_PRIVATE_KEY, "ed")) !=
			CKR_OK ||
		    f->C_Sign(h, msg, sizeof(msg), sig, &len) != CKR_OK)
			return (void *)1;
	}
	return NULL;
}

START_TEST(test_threads_sign_at_once)
{
	pthread_t t[4];
	void *ret;
	size_t i;

	(void)open_session(0, 1);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, signer_thread,
				     NULL),
		    0);
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(t[i], &ret), 0);
		ck_assert_ptr_null(ret);
	}
}
END_TEST

static Suite *
pkcs11_suite(void)
{
	Suite *s = suite_create("pkcs11");
	TCase *tc = tcase_create("module");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_interfaces_offer_3_0_and_2_40);
	tcase_add_test(tc, test_initialize_rules);
	tcase_add_test(tc, test_token_shows_store_label_serial_and_flags);
	tcase_add_test(tc, test_private_objects_only_after_login);
	tcase_add_test(tc, test_every_attribute_has_its_value);
	tcase_add_test(tc, test_hostile_templates_are_refused);
	tcase_add_test(tc, test_each_mechanism_signs_verifiably);
	tcase_add_test(tc, test_size_query_and_short_buffer_keep_the_operation);
	tcase_add_test(tc, test_wrong_pins_count_and_lock);
	tcase_add_test(tc, test_confirm_key_wants_the_pin_for_each_signature);
	tcase_add_test(tc,
	    test_login_pin_is_spent_by_a_signature_with_another_key);
	tcase_add_test(tc, test_login_pin_is_spent_by_a_search_elsewhere_first);
	tcase_add_test(tc, test_login_pin_is_spent_by_another_session);
	tcase_add_test(tc, test_login_pin_is_spent_by_a_second_thread);
	tcase_add_test(tc, test_generate_writes_and_destroy_deletes);
	tcase_add_test(tc, test_fork_child_starts_afresh);
	tcase_add_test(tc, test_threads_sign_at_once);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(pkcs11_suite());
}
