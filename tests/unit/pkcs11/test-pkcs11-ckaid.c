/*
 * test-pkcs11-ckaid.c: CKA_ID and CKA_LABEL of store keys (CKA_TOKEN
 * true) as consumers pair keys and certificates by them: kept from
 * C_GenerateKeyPair, unique, changeable with C_SetAttributeValue (NSS sets
 * CKA_ID right after keygen), and still there after C_Finalize and
 * C_Initialize because the store holds them. Driven through dlopen like
 * pkcs11test and NSS.
 *
 * KMES_PKCS11_MODULE names the module (meson sets it).
 */
#include <check.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11-compat.h"
#include "p11t.h"

#include "crypto.h"
#include "kmes-err.h"
#include "store.h"
#include "testutil.h"

#define PIN "2468-pin"
#define SO_PIN "so-pin-1357"

static CK_FUNCTION_LIST_3_0 *F;
static const char *store_path;
static CK_BBOOL yes = CK_TRUE;

static const uint8_t oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
	0x03, 0x01, 0x07 };
static const uint8_t oid_p384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
static const uint8_t oid_p521[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23 };
static const uint8_t oid_ed25519[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };

/* One key made by kmes-keytool's path, without an ID: "pre". */
static void
setup(void)
{
	static const enum ks_key_type types[] = { KS_KEY_ECDSA_P256 };
	static const char *const labels[] = { "pre" };

	store_path = p11t_make_store("pkcs11-ckaid", "ckaid token", PIN, SO_PIN,
	    types, labels, 1, 0);
	F = p11t_load();
}

static void
teardown(void)
{
	p11t_unload();
}

/* What a consumer sees on a fresh start of the module. */
static void
reinitialize(void)
{
	ck_assert_uint_eq(F->C_Finalize(NULL), CKR_OK);
	ck_assert_uint_eq(F->C_Initialize(NULL), CKR_OK);
}

static CK_SESSION_HANDLE
open_session(int rw, int login)
{
	return p11t_open_session(rw, login ? PIN : NULL);
}

/* The objects of class cls with attribute type = value; *n how many. */
static CK_OBJECT_HANDLE
find_by(CK_SESSION_HANDLE h, CK_OBJECT_CLASS cls, CK_ATTRIBUTE_TYPE type,
    const void *value, size_t len, CK_ULONG *n)
{
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ type, (void *)value, len },
	};
	CK_OBJECT_HANDLE o[4] = { 0, 0, 0, 0 };

	*n = 0;
	ck_assert_uint_eq(F->C_FindObjectsInit(h, t, 2), CKR_OK);
	ck_assert_uint_eq(F->C_FindObjects(h, o, 4, n), CKR_OK);
	ck_assert_uint_eq(F->C_FindObjectsFinal(h), CKR_OK);
	return o[0];
}

/* The one object of class cls with this CKA_ID (asserts exactly one). */
static CK_OBJECT_HANDLE
find_id(CK_SESSION_HANDLE h, CK_OBJECT_CLASS cls, const void *id, size_t len)
{
	CK_OBJECT_HANDLE o;
	CK_ULONG n;

	o = find_by(h, cls, CKA_ID, id, len, &n);
	ck_assert_uint_eq(n, 1);
	return o;
}

/* Reads a byte attribute into buf (NUL-terminated); returns its length. */
static CK_ULONG
get_bytes(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type,
    char *buf, size_t size)
{
	CK_ATTRIBUTE a = { type, buf, size - 1 };

	ck_assert_uint_eq(F->C_GetAttributeValue(h, o, &a, 1), CKR_OK);
	buf[a.ulValueLen] = '\0';
	return a.ulValueLen;
}

/*
 * A token pair of kind ("rsa", "p256", "p384", "p521", "ed") with label
 * and a len-byte id (NULL: none) on both halves. Returns the CKR.
 */
static CK_RV
gen_token(CK_SESSION_HANDLE h, const char *kind, const char *label,
    const void *id, size_t len, CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
	CK_MECHANISM m = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_ULONG bits = 2048;
	CK_ATTRIBUTE tpub[4], tpriv[4];
	CK_ULONG npub = 0, npriv = 0;

	if (strcmp(kind, "rsa") == 0) {
		m.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
		tpub[npub++] = (CK_ATTRIBUTE){ CKA_MODULUS_BITS, &bits,
			sizeof(bits) };
	} else if (strcmp(kind, "ed") == 0) {
		m.mechanism = CKM_EC_EDWARDS_KEY_PAIR_GEN;
		tpub[npub++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS,
			(void *)oid_ed25519, sizeof(oid_ed25519) };
	} else if (strcmp(kind, "p256") == 0) {
		tpub[npub++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)oid_p256,
			sizeof(oid_p256) };
	} else if (strcmp(kind, "p384") == 0) {
		tpub[npub++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)oid_p384,
			sizeof(oid_p384) };
	} else {
		tpub[npub++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)oid_p521,
			sizeof(oid_p521) };
	}
	tpub[npub++] = (CK_ATTRIBUTE){ CKA_TOKEN, &yes, 1 };
	tpriv[npriv++] = (CK_ATTRIBUTE){ CKA_TOKEN, &yes, 1 };
	tpriv[npriv++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label,
		strlen(label) };
	if (id != NULL) {
		tpub[npub++] = (CK_ATTRIBUTE){ CKA_ID, (void *)id, len };
		tpriv[npriv++] = (CK_ATTRIBUTE){ CKA_ID, (void *)id, len };
	}
	return F->C_GenerateKeyPair(h, &m, tpub, npub, tpriv, npriv, pub, priv);
}

/* Signs with priv and verifies with pub through the module. */
static void
assert_signs(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE pub, CK_OBJECT_HANDLE priv)
{
	static CK_BYTE msg[] = "paired by CKA_ID";
	CK_KEY_TYPE kt;
	CK_ATTRIBUTE a = { CKA_KEY_TYPE, &kt, sizeof(kt) };
	CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 };
	CK_BYTE sig[512];
	CK_ULONG len = sizeof(sig);

	ck_assert_uint_eq(F->C_GetAttributeValue(h, priv, &a, 1), CKR_OK);
	if (kt == CKK_RSA)
		m.mechanism = CKM_SHA256_RSA_PKCS;
	else if (kt == CKK_EC_EDWARDS)
		m.mechanism = CKM_EDDSA;
	ck_assert_uint_eq(F->C_SignInit(h, &m, priv), CKR_OK);
	ck_assert_uint_eq(F->C_Sign(h, msg, sizeof(msg), sig, &len), CKR_OK);
	ck_assert_uint_eq(F->C_VerifyInit(h, &m, pub), CKR_OK);
	ck_assert_uint_eq(F->C_Verify(h, msg, sizeof(msg), sig, len), CKR_OK);
}

/* The store's own view of a record's CKA_ID (len 0: none). */
static void
assert_store_id(const char *label, const void *id, size_t len)
{
	struct ks_store *s = NULL;
	struct ks_store_entry e;
	long i;

	ck_assert_int_eq(ks_store_open(store_path, &s), 0);
	ck_assert_int_ge(i = ks_store_find(s, label), 0);
	ck_assert_int_eq(ks_store_entry(s, (size_t)i, &e), 0);
	ck_assert_uint_eq(e.ckaid_len, len);
	if (len != 0)
		ck_assert_mem_eq(e.ckaid, id, len);
	ks_store_free(s);
}

static const char *const kinds[] = { "rsa", "p256", "p384", "p521", "ed" };
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

START_TEST(test_token_pairs_keep_ids_01_to_05_across_initialize)
{
	CK_SESSION_HANDLE h = open_session(1, 1);
	CK_OBJECT_HANDLE pub, priv;
	char label[32], got[300];
	CK_BYTE id;
	size_t i;

	for (i = 0; i < NKINDS; i++) {
		id = (CK_BYTE)(i + 1);
		snprintf(label, sizeof(label), "token-%s", kinds[i]);
		ck_assert_msg(gen_token(h, kinds[i], label, &id, 1, &pub,
				  &priv) == CKR_OK,
		    "%s", kinds[i]);
		ck_assert_uint_eq(get_bytes(h, priv, CKA_ID, got, sizeof(got)),
		    1);
		ck_assert_uint_eq((CK_BYTE)got[0], id);
		ck_assert_uint_eq(get_bytes(h, pub, CKA_ID, got, sizeof(got)),
		    1);
		ck_assert_uint_eq((CK_BYTE)got[0], id);
	}
	reinitialize();
	/* A consumer that knows only the IDs pairs every key again. */
	h = open_session(0, 1);
	for (i = 0; i < NKINDS; i++) {
		id = (CK_BYTE)(i + 1);
		snprintf(label, sizeof(label), "token-%s", kinds[i]);
		pub = find_id(h, CKO_PUBLIC_KEY, &id, 1);
		priv = find_id(h, CKO_PRIVATE_KEY, &id, 1);
		get_bytes(h, priv, CKA_LABEL, got, sizeof(got));
		ck_assert_str_eq(got, label);
		get_bytes(h, pub, CKA_LABEL, got, sizeof(got));
		ck_assert_str_eq(got, label);
		assert_signs(h, pub, priv);
		assert_store_id(label, &id, 1);
	}
}
END_TEST

START_TEST(test_token_pair_with_a_taken_id_is_refused)
{
	CK_SESSION_HANDLE h = open_session(1, 1);
	CK_OBJECT_HANDLE pub, priv, pre;
	CK_MECHANISM m = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_ATTRIBUTE tpub[] = {
		{ CKA_EC_PARAMS, (void *)oid_p256, sizeof(oid_p256) },
		{ CKA_ID, "sess", 4 },
	};
	CK_ATTRIBUTE tpriv[] = { { CKA_ID, "sess", 4 } };
	char pre_id[300];
	CK_ULONG pre_len;
	struct ks_store *s = NULL;

	ck_assert_uint_eq(gen_token(h, "p256", "first", "\x01", 1, &pub, &priv),
	    CKR_OK);
	/* Another store key's ID: the code the session-key path uses. */
	ck_assert_uint_eq(gen_token(h, "p256", "second", "\x01", 1, &pub,
			      &priv),
	    CKR_ATTRIBUTE_VALUE_INVALID);
	/* A session key's ID. */
	ck_assert_uint_eq(F->C_GenerateKeyPair(h, &m, tpub, 2, tpriv, 1, &pub,
			      &priv),
	    CKR_OK);
	ck_assert_uint_eq(gen_token(h, "p256", "second", "sess", 4, &pub,
			      &priv),
	    CKR_ATTRIBUTE_VALUE_INVALID);
	/* The ID the module derived for a key that was given none. */
	pre = find_by(h, CKO_PRIVATE_KEY, CKA_LABEL, "pre", 3, &pre_len);
	ck_assert_uint_eq(pre_len, 1);
	pre_len = get_bytes(h, pre, CKA_ID, pre_id, sizeof(pre_id));
	ck_assert_uint_eq(pre_len, 16);
	ck_assert_uint_eq(gen_token(h, "p256", "second", pre_id, pre_len, &pub,
			      &priv),
	    CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_int_eq(ks_store_open(store_path, &s), 0);
	ck_assert_uint_eq(ks_store_count(s), 2);
	ck_assert_int_eq(ks_store_find(s, "second"), -1);
	ks_store_free(s);
}
END_TEST

START_TEST(test_keys_without_an_id_keep_the_derived_one)
{
	CK_SESSION_HANDLE h = open_session(1, 1);
	CK_OBJECT_HANDLE pub, priv, pre;
	char a[300], b[300];
	CK_ULONG n, alen;

	pre = find_by(h, CKO_PRIVATE_KEY, CKA_LABEL, "pre", 3, &n);
	ck_assert_uint_eq(n, 1);
	alen = get_bytes(h, pre, CKA_ID, a, sizeof(a));
	ck_assert_uint_eq(alen, 16);
	ck_assert_uint_eq(gen_token(h, "ed", "no id", NULL, 0, &pub, &priv),
	    CKR_OK);
	ck_assert_uint_eq(get_bytes(h, priv, CKA_ID, b, sizeof(b)), 16);
	assert_store_id("no id", NULL, 0);
	assert_store_id("pre", NULL, 0);
	reinitialize();
	h = open_session(0, 0);
	pre = find_by(h, CKO_PUBLIC_KEY, CKA_LABEL, "pre", 3, &n);
	ck_assert_uint_eq(get_bytes(h, pre, CKA_ID, b, sizeof(b)), alen);
	ck_assert_mem_eq(a, b, alen);
}
END_TEST

START_TEST(test_set_attribute_value_of_id_and_label_persists)
{
	CK_SESSION_HANDLE ro = open_session(0, 0), h;
	CK_OBJECT_HANDLE pub, priv, opub, opriv;
	CK_ATTRIBUTE set_id = { CKA_ID, "\x0a\x0b", 2 };
	CK_ATTRIBUTE set_label = { CKA_LABEL, "renamed", 7 };
	CK_ATTRIBUTE set_both[] = { { CKA_ID, "\x0c", 1 },
		{ CKA_LABEL, "again", 5 } };
	CK_ATTRIBUTE set_taken = { CKA_ID, "\x07", 1 };
	CK_ATTRIBUTE set_sign = { CKA_SIGN, &yes, 1 };
	CK_ATTRIBUTE set_odd = { CKA_VENDOR_DEFINED | 0x4242, "x", 1 };
	CK_ATTRIBUTE set_empty = { CKA_ID, "", 0 };
	char got[300];
	CK_ULONG n;

	pub = find_by(ro, CKO_PUBLIC_KEY, CKA_LABEL, "pre", 3, &n);
	ck_assert_uint_eq(n, 1);
	/* A store key changes only in a R/W session after login. */
	ck_assert_uint_eq(F->C_SetAttributeValue(ro, pub, &set_id, 1),
	    CKR_SESSION_READ_ONLY);
	h = open_session(1, 0);
	ck_assert_uint_eq(F->C_SetAttributeValue(h, pub, &set_id, 1),
	    CKR_USER_NOT_LOGGED_IN);
	ck_assert_uint_eq(F->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)PIN,
			      strlen(PIN)),
	    CKR_OK);
	priv = find_by(h, CKO_PRIVATE_KEY, CKA_LABEL, "pre", 3, &n);
	ck_assert_uint_eq(gen_token(h, "p256", "other", "\x07", 1, &opub,
			      &opriv),
	    CKR_OK);

	/* As NSS does after keygen: set CKA_ID on each half. */
	ck_assert_uint_eq(F->C_SetAttributeValue(h, priv, &set_id, 1), CKR_OK);
	ck_assert_uint_eq(F->C_SetAttributeValue(h, pub, &set_id, 1), CKR_OK);
	/* The handles stay; both halves show the new ID. */
	ck_assert_uint_eq(find_id(h, CKO_PRIVATE_KEY, "\x0a\x0b", 2), priv);
	ck_assert_uint_eq(find_id(h, CKO_PUBLIC_KEY, "\x0a\x0b", 2), pub);
	ck_assert_uint_eq(F->C_SetAttributeValue(h, pub, &set_label, 1),
	    CKR_OK);
	get_bytes(h, priv, CKA_LABEL, got, sizeof(got));
	ck_assert_str_eq(got, "renamed");
	assert_signs(h, pub, priv);

	/* Uniqueness, other attributes and bad values. */
	ck_assert_uint_eq(F->C_SetAttributeValue(h, priv, &set_taken, 1),
	    CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_uint_eq(F->C_SetAttributeValue(h, priv, &set_sign, 1),
	    CKR_ATTRIBUTE_READ_ONLY);
	ck_assert_uint_eq(F->C_SetAttributeValue(h, priv, &set_odd, 1),
	    CKR_ATTRIBUTE_TYPE_INVALID);
	ck_assert_uint_eq(F->C_SetAttributeValue(h, priv, &set_empty, 1),
	    CKR_ATTRIBUTE_VALUE_INVALID);
	set_label.pValue = "other";
	set_label.ulValueLen = 5;
	ck_assert_uint_eq(F->C_SetAttributeValue(h, priv, &set_label, 1),
	    CKR_ATTRIBUTE_VALUE_INVALID);
	assert_store_id("renamed", "\x0a\x0b", 2);

	/* Persisted: a new start of the module finds it by the new ID. */
	reinitialize();
	h = open_session(1, 1);
	priv = find_id(h, CKO_PRIVATE_KEY, "\x0a\x0b", 2);
	pub = find_id(h, CKO_PUBLIC_KEY, "\x0a\x0b", 2);
	get_bytes(h, pub, CKA_LABEL, got, sizeof(got));
	ck_assert_str_eq(got, "renamed");
	assert_signs(h, pub, priv);
	/* Both at once. */
	ck_assert_uint_eq(F->C_SetAttributeValue(h, priv, set_both, 2), CKR_OK);
	reinitialize();
	h = open_session(0, 1);
	priv = find_id(h, CKO_PRIVATE_KEY, "\x0c", 1);
	get_bytes(h, priv, CKA_LABEL, got, sizeof(got));
	ck_assert_str_eq(got, "again");
	assert_store_id("again", "\x0c", 1);
}
END_TEST

START_TEST(test_session_key_id_changes_in_memory_only)
{
	CK_SESSION_HANDLE h = open_session(0, 0);
	CK_MECHANISM m = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_ATTRIBUTE tpub[] = { { CKA_EC_PARAMS, (void *)oid_p256,
	    sizeof(oid_p256) } };
	CK_BBOOL no = CK_FALSE;
	CK_ATTRIBUTE tpriv[] = { { CKA_SIGN, &yes, 1 },
		{ CKA_PRIVATE, &no, 1 } };
	CK_ATTRIBUTE set_id = { CKA_ID, "\x21", 1 };
	CK_OBJECT_HANDLE pub, priv;
	struct ks_store *s = NULL;

	ck_assert_uint_eq(F->C_GenerateKeyPair(h, &m, tpub, 1, tpriv, 2, &pub,
			      &priv),
	    CKR_OK);
	/* A session object may change in a read-only session. */
	ck_assert_uint_eq(F->C_SetAttributeValue(h, priv, &set_id, 1), CKR_OK);
	ck_assert_uint_eq(find_id(h, CKO_PRIVATE_KEY, "\x21", 1), priv);
	ck_assert_int_eq(ks_store_open(store_path, &s), 0);
	ck_assert_uint_eq(ks_store_count(s), 1);
	ck_assert_int_eq(ks_store_find_ckaid(s, (const uint8_t *)"\x21", 1),
	    -1);
	ks_store_free(s);
}
END_TEST

static Suite *
ckaid_suite(void)
{
	Suite *s = suite_create("pkcs11-ckaid");
	TCase *tc = tcase_create("ckaid");

	tcase_set_timeout(tc, 240);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc,
	    test_token_pairs_keep_ids_01_to_05_across_initialize);
	tcase_add_test(tc, test_token_pair_with_a_taken_id_is_refused);
	tcase_add_test(tc, test_keys_without_an_id_keep_the_derived_one);
	tcase_add_test(tc, test_set_attribute_value_of_id_and_label_persists);
	tcase_add_test(tc, test_session_key_id_changes_in_memory_only);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(ckaid_suite());
}
