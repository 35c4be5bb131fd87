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

/* Takes the next line and checks it is want (a C string); max 64. */
static void
expect_line(struct kbuf *b, int flags, const char *want)
{
	const char *line = (const char *)1;
	size_t len = 99;

	ck_assert_int_eq(kbuf_get_line(b, 64, flags, &line, &len), 0);
	ck_assert_uint_eq(len, strlen(want));
	ck_assert_mem_eq(line, want, len);
}

/* Checks that no line comes out of b, and that nothing was taken. */
static void
expect_no_line(struct kbuf *b, size_t max, int flags, int want_r)
{
	const char *line = (const char *)1;
	size_t len = 99, before = kbuf_len(b);

	ck_assert_int_eq(kbuf_get_line(b, max, flags, &line, &len), want_r);
	ck_assert_ptr_null(line);
	ck_assert_uint_eq(len, 0);
	ck_assert_uint_eq(kbuf_len(b), before);
}

START_TEST(test_line_lf_crlf_and_empty_lines)
{
	static const char text[] = "one\r\ntwo\nskipped\n\n\r\nthree\r\r\n";
	struct kbuf *b = kbuf_from(text, sizeof(text) - 1);

	expect_line(b, 0, "one");
	expect_line(b, 0, "two");
	/* NULL out-pointers skip a line. */
	ck_assert_int_eq(kbuf_get_line(b, 64, 0, NULL, NULL), 0);
	expect_line(b, 0, "");
	expect_line(b, 0, "");
	/* One CR belongs to the line end; another is the line's own. */
	expect_line(b, 0, "three\r");
	ck_assert_uint_eq(kbuf_len(b), 0);
	expect_no_line(b, 64, 0, KMES_ERR_MESSAGE_INCOMPLETE);
	expect_no_line(b, 64, KBUF_LINE_LAST, KMES_ERR_MESSAGE_INCOMPLETE);
	kbuf_free(b);
}
END_TEST

START_TEST(test_line_waits_for_its_newline)
{
	struct kbuf *b = kbuf_new();

	ck_assert_int_eq(kbuf_put(b, "OK", 2), 0);
	expect_no_line(b, 64, 0, KMES_ERR_MESSAGE_INCOMPLETE);
	/* A CR alone is not a line end: its LF may still be on the way. */
	ck_assert_int_eq(kbuf_put(b, "\r", 1), 0);
	expect_no_line(b, 64, 0, KMES_ERR_MESSAGE_INCOMPLETE);
	ck_assert_int_eq(kbuf_put(b, "\nD 12", 5), 0);
	expect_line(b, 0, "OK");
	expect_no_line(b, 64, 0, KMES_ERR_MESSAGE_INCOMPLETE);
	ck_assert_int_eq(kbuf_put(b, "34\n", 3), 0);
	expect_line(b, 0, "D 1234");
	ck_assert_uint_eq(kbuf_len(b), 0);
	kbuf_free(b);
}
END_TEST

START_TEST(test_line_last_line_without_newline_only_at_eof)
{
	static const char text[] = "a\nlast";
	static const char crlast[] = "last\r";
	struct kbuf *b = kbuf_from(text, sizeof(text) - 1);

	expect_line(b, KBUF_LINE_LAST, "a");
	expect_no_line(b, 64, 0, KMES_ERR_MESSAGE_INCOMPLETE);
	expect_line(b, KBUF_LINE_LAST, "last");
	expect_no_line(b, 64, KBUF_LINE_LAST, KMES_ERR_MESSAGE_INCOMPLETE);
	kbuf_free(b);

	b = kbuf_from(crlast, sizeof(crlast) - 1);
	expect_line(b, KBUF_LINE_LAST, "last");
	kbuf_free(b);
}
END_TEST

START_TEST(test_line_over_long_refused_before_and_after_newline)
{
	struct kbuf *b;
	const char *line;
	size_t len;

	/* max bytes fit, with or without the CR that CRLF adds. */
	b = kbuf_from("abcd\r\nabcd\nabcde\n", 19);
	ck_assert_int_eq(kbuf_get_line(b, 4, 0, &line, &len), 0);
	ck_assert_uint_eq(len, 4);
	ck_assert_int_eq(kbuf_get_line(b, 4, 0, &line, &len), 0);
	ck_assert_uint_eq(len, 4);
	expect_no_line(b, 4, 0, KMES_ERR_STRING_TOO_LARGE);
	expect_no_line(b, 4, KBUF_LINE_LAST, KMES_ERR_STRING_TOO_LARGE);
	kbuf_free(b);

	/* A peer that never ends its line is refused once max + 2 bytes are
	 * in, without waiting for a newline that may never come. */
	b = kbuf_from("abcd\r", 5);
	expect_no_line(b, 4, 0, KMES_ERR_MESSAGE_INCOMPLETE);
	kbuf_free(b);
	b = kbuf_from("abcdef", 6);
	expect_no_line(b, 4, 0, KMES_ERR_STRING_TOO_LARGE);
	expect_no_line(b, 4, KBUF_LINE_LAST, KMES_ERR_STRING_TOO_LARGE);
	kbuf_free(b);
	b = kbuf_from("abcde", 5);
	expect_no_line(b, 4, KBUF_LINE_LAST, KMES_ERR_STRING_TOO_LARGE);
	kbuf_free(b);

	/* max 0 takes empty lines only. */
	b = kbuf_from("\r\nx\n", 5);
	ck_assert_int_eq(kbuf_get_line(b, 0, 0, &line, &len), 0);
	ck_assert_uint_eq(len, 0);
	expect_no_line(b, 0, 0, KMES_ERR_STRING_TOO_LARGE);
	kbuf_free(b);
}
END_TEST

START_TEST(test_line_with_nul_refused)
{
	static const char text[] = "OK\0junk\nOK\n";
	struct kbuf *b = kbuf_from(text, sizeof(text) - 1);

	/* "OK\0junk" must not pass for "OK" with a C string compare. */
	expect_no_line(b, 64, 0, KMES_ERR_INVALID_FORMAT);
	expect_no_line(b, 64, KBUF_LINE_LAST, KMES_ERR_INVALID_FORMAT);
	kbuf_free(b);
	b = kbuf_from("\0", 1);
	expect_no_line(b, 64, KBUF_LINE_LAST, KMES_ERR_INVALID_FORMAT);
	kbuf_free(b);
}
END_TEST

START_TEST(test_line_every_cut_gives_only_whole_lines)
{
	static const char text[] = "first\r\n\nthird line\n";
	static const char *const want[] = { "first", "", "third line" };
	const char *line;
	size_t cut, len, got;
	struct kbuf *b;
	int r;

	for (cut = 0; cut <= sizeof(text) - 1; cut++) {
		b = kbuf_from(text, cut);
		got = 0;
		while ((r = kbuf_get_line(b, 64, 0, &line, &len)) == 0) {
			ck_assert_uint_lt(got, 3);
			ck_assert_uint_eq(len, strlen(want[got]));
			ck_assert_mem_eq(line, want[got], len);
			got++;
		}
		ck_assert_int_eq(r, KMES_ERR_MESSAGE_INCOMPLETE);
		/* What is left is exactly the unfinished line. */
		ck_assert_ptr_null(memchr(kbuf_ptr(b), '\n', kbuf_len(b)));
		ck_assert_uint_eq(got,
		    (size_t)(cut >= 7) + (cut >= 8) + (cut >= 19));
		kbuf_free(b);
	}
}
END_TEST

START_TEST(test_line_of_secure_buffer_is_not_copied)
{
	struct kbuf *b = kbuf_new_secure(64);
	const uint8_t *where;
	const char *line;
	size_t len;

	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(kbuf_put(b, "D s3cret\n", 9), 0);
	where = kbuf_ptr(b);
	ck_assert_int_eq(kbuf_get_line(b, 64, 0, &line, &len), 0);
	/* The secret is handed back where the locked buffer holds it. */
	ck_assert_ptr_eq(line, (const char *)where);
	ck_assert_uint_eq(len, 8);
	ck_assert_mem_eq(line, "D s3cret", 8);
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
	tcase_add_test(tc, test_line_lf_crlf_and_empty_lines);
	tcase_add_test(tc, test_line_waits_for_its_newline);
	tcase_add_test(tc, test_line_last_line_without_newline_only_at_eof);
	tcase_add_test(tc,
	    test_line_over_long_refused_before_and_after_newline);
	tcase_add_test(tc, test_line_with_nul_refused);
	tcase_add_test(tc, test_line_every_cut_gives_only_whole_lines);
	tcase_add_test(tc, test_line_of_secure_buffer_is_not_copied);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(kbuf_suite());
}
