/*
 * test-kbuf.c: the bounds-checked buffer defends every parser; these tests
 * name what it must refuse.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kbuf.h"
#include "kmes-err.h"
#include "secmem.h"
#include "testutil.h"

START_TEST(test_put_get_roundtrip)
{
	struct kbuf *b = kbuf_new();
	uint8_t u8;
	uint32_t u32;
	uint64_t u64;
	char *s;
	size_t len;

	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(kbuf_put_u8(b, 0xab), 0);
	ck_assert_int_eq(kbuf_put_u32(b, 0xdeadbeef), 0);
	ck_assert_int_eq(kbuf_put_u64(b, 0x0102030405060708ULL), 0);
	ck_assert_int_eq(kbuf_put_cstring(b, "hello"), 0);
	ck_assert_uint_eq(kbuf_len(b), 1 + 4 + 8 + 4 + 5);
	ck_assert_int_eq(kbuf_get_u8(b, &u8), 0);
	ck_assert_uint_eq(u8, 0xab);
	ck_assert_int_eq(kbuf_get_u32(b, &u32), 0);
	ck_assert_uint_eq(u32, 0xdeadbeef);
	ck_assert_int_eq(kbuf_get_u64(b, &u64), 0);
	ck_assert(u64 == 0x0102030405060708ULL);
	ck_assert_int_eq(kbuf_get_cstring(b, &s, &len), 0);
	ck_assert_str_eq(s, "hello");
	ck_assert_uint_eq(len, 5);
	ck_assert_uint_eq(kbuf_len(b), 0);
	free(s);
	kbuf_free(b);
}
END_TEST

START_TEST(test_refuses_string_longer_than_data)
{
	/* Claims 2^32-1 bytes but carries 3. */
	const uint8_t wire[] = { 0xff, 0xff, 0xff, 0xff, 'a', 'b', 'c' };
	struct kbuf *b = kbuf_from(wire, sizeof(wire));
	const uint8_t *p;
	size_t len;

	ck_assert_int_ne(kbuf_get_string_direct(b, &p, &len), 0);
	ck_assert_ptr_null(p);
	/* Nothing consumed on error. */
	ck_assert_uint_eq(kbuf_len(b), sizeof(wire));
	kbuf_free(b);
}
END_TEST

START_TEST(test_refuses_embedded_nul_in_cstring)
{
	const uint8_t wire[] = { 0, 0, 0, 3, 'a', 0, 'c' };
	struct kbuf *b = kbuf_from(wire, sizeof(wire));
	char *s;

	ck_assert_int_eq(kbuf_get_cstring(b, &s, NULL),
	    KMES_ERR_INVALID_FORMAT);
	ck_assert_ptr_null(s);
	kbuf_free(b);
}
END_TEST

START_TEST(test_every_truncation_of_string_refused)
{
	const uint8_t wire[] = { 0, 0, 0, 5, 'a', 'b', 'c', 'd', 'e' };
	size_t cut;

	for (cut = 0; cut < sizeof(wire); cut++) {
		struct kbuf *b = kbuf_from(wire, cut);
		const uint8_t *p;
		size_t len;

		ck_assert_int_eq(kbuf_get_string_direct(b, &p, &len),
		    KMES_ERR_MESSAGE_INCOMPLETE);
		kbuf_free(b);
	}
}
END_TEST

START_TEST(test_mpint_refuses_negative)
{
	const uint8_t neg[] = { 0, 0, 0, 1, 0x80 };
	struct kbuf *b = kbuf_from(neg, sizeof(neg));
	const uint8_t *p;
	size_t len;

	ck_assert_int_eq(kbuf_get_mpint_direct(b, &p, &len),
	    KMES_ERR_BIGNUM_INVALID);
	kbuf_free(b);
}
END_TEST

START_TEST(test_mpint_roundtrip_strips_sign_byte)
{
	const uint8_t mag[] = { 0x00, 0x00, 0x80, 0x01 };
	struct kbuf *b = kbuf_new();
	const uint8_t *p;
	size_t len;

	ck_assert_int_eq(kbuf_put_mpint(b, mag, sizeof(mag)), 0);
	/* Leading zeros dropped, sign byte added: 00 80 01. */
	ck_assert_uint_eq(kbuf_len(b), 4 + 3);
	ck_assert_int_eq(kbuf_get_mpint_direct(b, &p, &len), 0);
	ck_assert_uint_eq(len, 2);
	ck_assert_uint_eq(p[0], 0x80);
	ck_assert_uint_eq(p[1], 0x01);
	kbuf_free(b);
}
END_TEST

START_TEST(test_mpint_refuses_oversize)
{
	struct kbuf *b = kbuf_new();
	uint8_t *big = calloc(1, KBUF_MPINT_MAX_BYTES + 8);
	const uint8_t *p;
	size_t len;

	big[0] = 0x01;
	ck_assert_int_eq(kbuf_put_string(b, big, KBUF_MPINT_MAX_BYTES + 8), 0);
	ck_assert_int_eq(kbuf_get_mpint_direct(b, &p, &len),
	    KMES_ERR_BIGNUM_TOO_LARGE);
	free(big);
	kbuf_free(b);
}
END_TEST

START_TEST(test_max_size_enforced)
{
	struct kbuf *b = kbuf_new();
	uint8_t data[100];

	memset(data, 'x', sizeof(data));
	ck_assert_int_eq(kbuf_set_max_size(b, 64), 0);
	ck_assert_int_eq(kbuf_put(b, data, 64), 0);
	ck_assert_int_eq(kbuf_put(b, data, 1), KMES_ERR_NO_BUFFER_SPACE);
	ck_assert_uint_eq(kbuf_avail(b), 0);
	ck_assert_int_eq(kbuf_consume(b, 10), 0);
	/* Consumed space is reusable. */
	ck_assert_int_eq(kbuf_put(b, data, 10), 0);
	ck_assert_uint_eq(kbuf_len(b), 64);
	kbuf_free(b);
}
END_TEST

START_TEST(test_readonly_view_cannot_be_written)
{
	const uint8_t wire[] = { 1, 2, 3 };
	struct kbuf *b = kbuf_from(wire, sizeof(wire));

	ck_assert_int_ne(kbuf_put_u8(b, 4), 0);
	ck_assert_uint_eq(kbuf_len(b), 3);
	kbuf_free(b);
}
END_TEST

START_TEST(test_froms_gives_bounded_view)
{
	struct kbuf *b = kbuf_new(), *sub;
	uint32_t v;

	ck_assert_int_eq(kbuf_put_u32(b, 4), 0);
	ck_assert_int_eq(kbuf_put_u32(b, 7), 0);
	ck_assert_int_eq(kbuf_put_u32(b, 9), 0);
	ck_assert_int_eq(kbuf_froms(b, &sub), 0);
	ck_assert_uint_eq(kbuf_len(sub), 4);
	ck_assert_int_eq(kbuf_get_u32(sub, &v), 0);
	ck_assert_uint_eq(v, 7);
	/* The view ends where the string ends, not where the parent does. */
	ck_assert_int_eq(kbuf_get_u32(sub, &v), KMES_ERR_MESSAGE_INCOMPLETE);
	ck_assert_int_eq(kbuf_get_u32(b, &v), 0);
	ck_assert_uint_eq(v, 9);
	kbuf_free(sub);
	kbuf_free(b);
}
END_TEST

START_TEST(test_secure_buffer_is_capped)
{
	struct kbuf *b = kbuf_new_secure(32);
	uint8_t data[33];

	ck_assert_ptr_nonnull(b);
	memset(data, 's', sizeof(data));
	ck_assert_int_eq(kbuf_put(b, data, 32), 0);
	ck_assert_int_eq(kbuf_put(b, data, 1), KMES_ERR_NO_BUFFER_SPACE);
	kbuf_free(b);
}
END_TEST

START_TEST(test_secure_alloc_zeroed_and_sized)
{
	uint8_t *p = kmes_secure_alloc(100);
	size_t i;

	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(kmes_secure_size(p), 100);
	for (i = 0; i < 100; i++)
		ck_assert_uint_eq(p[i], 0);
	memset(p, 0x55, 100);
	kmes_secure_free(p);
	ck_assert_ptr_null(kmes_secure_alloc(0));
}
END_TEST

START_TEST(test_ct_memcmp)
{
	ck_assert_int_eq(kmes_ct_memcmp("abcd", "abcd", 4), 0);
	ck_assert_int_ne(kmes_ct_memcmp("abcd", "abce", 4), 0);
	ck_assert_int_eq(kmes_ct_memcmp("", "", 0), 0);
}
END_TEST

START_TEST(test_growth_keeps_contents)
{
	struct kbuf *b = kbuf_new();
	uint32_t i, v;

	for (i = 0; i < 100000; i++)
		ck_assert_int_eq(kbuf_put_u32(b, i), 0);
	for (i = 0; i < 100000; i++) {
		ck_assert_int_eq(kbuf_get_u32(b, &v), 0);
		ck_assert_uint_eq(v, i);
	}
	kbuf_free(b);
}
END_TEST

static Suite *
kbuf_suite(void)
{
	Suite *s = suite_create("kbuf");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_put_get_roundtrip);
	tcase_add_test(tc, test_refuses_string_longer_than_data);
	tcase_add_test(tc, test_refuses_embedded_nul_in_cstring);
	tcase_add_test(tc, test_every_truncation_of_string_refused);
	tcase_add_test(tc, test_mpint_refuses_negative);
	tcase_add_test(tc, test_mpint_roundtrip_strips_sign_byte);
	tcase_add_test(tc, test_mpint_refuses_oversize);
	tcase_add_test(tc, test_max_size_enforced);
	tcase_add_test(tc, test_readonly_view_cannot_be_written);
	tcase_add_test(tc, test_froms_gives_bounded_view);
	tcase_add_test(tc, test_secure_buffer_is_capped);
	tcase_add_test(tc, test_secure_alloc_zeroed_and_sized);
	tcase_add_test(tc, test_ct_memcmp);
	tcase_add_test(tc, test_growth_keeps_contents);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(kbuf_suite());
}
