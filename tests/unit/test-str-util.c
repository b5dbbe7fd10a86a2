/* SPDX-License-Identifier: MIT */
#include "str-util.h"
#include "test-helpers.h"

START_TEST(test_strf) {
        _cleanup_free_ char *s = strf("%s=%d", "x", 42);

        ck_assert_str_eq(s, "x=42");
}
END_TEST

START_TEST(test_error_set) {
        _cleanup_free_ char *e = NULL;

        ck_assert_int_eq(error_set(&e, -ENOENT, "%s: missing %s", "a.yaml", "name"), -ENOENT);
        ck_assert_str_eq(e, "a.yaml: missing name");
        /* A NULL destination still hands the errno back. */
        ck_assert_int_eq(error_set(NULL, -EINVAL, "ignored"), -EINVAL);
}
END_TEST

START_TEST(test_error_prefix) {
        _cleanup_free_ char *e = strdup("key \"mode\": expected octal");
        char *none = NULL;

        error_prefix(&e, "%s:%u", "recipe.yaml", 3u);
        ck_assert_str_eq(e, "recipe.yaml:3: key \"mode\": expected octal");

        /* Without a message, the prefix alone is kept. */
        error_prefix(&none, "file %s", "x");
        ck_assert_str_eq(none, "file x");
        free(none);

        error_prefix(NULL, "nothing");
}
END_TEST

START_TEST(test_starts_ends) {
        ck_assert(startswith("cookbook::recipe", "cookbook::"));
        ck_assert(startswith("abc", ""));
        ck_assert(!startswith("ab", "abc"));
        ck_assert(endswith("a.yaml", ".yaml"));
        ck_assert(endswith("a", ""));
        ck_assert(!endswith("yaml", ".yaml"));
        ck_assert(!endswith("a.yml", ".yaml"));
}
END_TEST

START_TEST(test_strv) {
        _cleanup_strv_free_ char **l = NULL, **c = NULL, **empty = NULL;
        _cleanup_free_ char *j = NULL, *js = NULL, *je = NULL;

        ck_assert_uint_eq(strv_length(NULL), 0);
        ck_assert_int_eq(strv_extend(&l, "a"), 0);
        ck_assert_int_eq(strv_push(&l, strdup("b")), 0);
        ck_assert_int_eq(strv_extend(&l, ""), 0);
        ck_assert_int_eq(strv_push(&l, NULL), -EINVAL);
        ck_assert_uint_eq(strv_length(l), 3);
        ck_assert_ptr_null(l[3]);
        ck_assert(strv_contains(l, "b"));
        ck_assert(strv_contains(l, ""));
        ck_assert(!strv_contains(l, "c"));
        ck_assert(!strv_contains(NULL, "a"));
        ck_assert(STR_IN_SET("b", "a", "b"));
        ck_assert(!STR_IN_SET("c", "a", "b"));

        c = strv_copy(l);
        ck_assert_uint_eq(strv_length(c), 3);
        ck_assert_ptr_ne(c[0], l[0]);
        ck_assert_str_eq(c[1], "b");

        empty = strv_copy(NULL);
        ck_assert_ptr_nonnull(empty);
        ck_assert_ptr_null(empty[0]);

        j = strv_join(l, ", ");
        ck_assert_str_eq(j, "a, b, ");
        js = strv_join(c, NULL);
        ck_assert_str_eq(js, "a b ");
        je = strv_join(NULL, ",");
        ck_assert_str_eq(je, "");
}
END_TEST

START_TEST(test_parse_int64) {
        int64_t v = 7;

        ck_assert_int_eq(parse_int64("0", &v), 0);
        ck_assert_int_eq(v, 0);
        ck_assert_int_eq(parse_int64("-42", &v), 0);
        ck_assert_int_eq(v, -42);
        ck_assert_int_eq(parse_int64("+42", &v), 0);
        ck_assert_int_eq(v, 42);
        ck_assert_int_eq(parse_int64("9223372036854775807", &v), 0);
        ck_assert_int_eq(v, INT64_MAX);
        ck_assert_int_eq(parse_int64("-9223372036854775808", &v), 0);
        ck_assert_int_eq(v, INT64_MIN);

        v = 7;
        ck_assert_int_eq(parse_int64("9223372036854775808", &v), -ERANGE);
        ck_assert_int_eq(parse_int64("-9223372036854775809", &v), -ERANGE);
        ck_assert_int_eq(parse_int64("", &v), -EINVAL);
        ck_assert_int_eq(parse_int64("-", &v), -EINVAL);
        ck_assert_int_eq(parse_int64(" 1", &v), -EINVAL);
        ck_assert_int_eq(parse_int64("1 ", &v), -EINVAL);
        ck_assert_int_eq(parse_int64("0x10", &v), -EINVAL);
        ck_assert_int_eq(parse_int64("1e3", &v), -EINVAL);
        ck_assert_int_eq(parse_int64("--1", &v), -EINVAL);
        ck_assert_int_eq(parse_int64(NULL, &v), -EINVAL);
        /* Failures leave the output alone. */
        ck_assert_int_eq(v, 7);
}
END_TEST

START_TEST(test_parse_uint32) {
        uint32_t v = 7;

        ck_assert_int_eq(parse_uint32("4294967295", &v), 0);
        ck_assert_uint_eq(v, UINT32_MAX);
        ck_assert_int_eq(parse_uint32("0010", &v), 0);
        ck_assert_uint_eq(v, 10);

        v = 7;
        ck_assert_int_eq(parse_uint32("4294967296", &v), -ERANGE);
        ck_assert_int_eq(parse_uint32("99999999999999999999999", &v), -ERANGE);
        /* strtoul would turn "-1" into UINT32_MAX. */
        ck_assert_int_eq(parse_uint32("-1", &v), -EINVAL);
        ck_assert_int_eq(parse_uint32("+1", &v), -EINVAL);
        ck_assert_int_eq(parse_uint32("", &v), -EINVAL);
        ck_assert_int_eq(parse_uint32("12a", &v), -EINVAL);
        ck_assert_uint_eq(v, 7);
}
END_TEST

START_TEST(test_parse_mode) {
        mode_t m = 01;

        ck_assert_int_eq(parse_mode("0644", &m), 0);
        ck_assert_uint_eq(m, 0644);
        ck_assert_int_eq(parse_mode("644", &m), 0);
        ck_assert_uint_eq(m, 0644);
        ck_assert_int_eq(parse_mode("0o755", &m), 0);
        ck_assert_uint_eq(m, 0755);
        ck_assert_int_eq(parse_mode("4755", &m), 0);
        ck_assert_uint_eq(m, 04755);
        ck_assert_int_eq(parse_mode("07777", &m), 0);
        ck_assert_uint_eq(m, 07777);
        ck_assert_int_eq(parse_mode("0", &m), 0);
        ck_assert_uint_eq(m, 0);

        m = 01;
        ck_assert_int_eq(parse_mode("10000", &m), -ERANGE);
        ck_assert_int_eq(parse_mode("0o", &m), -EINVAL);
        ck_assert_int_eq(parse_mode("0648", &m), -EINVAL);
        ck_assert_int_eq(parse_mode("rwx", &m), -EINVAL);
        ck_assert_int_eq(parse_mode("-644", &m), -EINVAL);
        ck_assert_int_eq(parse_mode("", &m), -EINVAL);
        ck_assert_uint_eq(m, 01);
}
END_TEST

START_TEST(test_strbuf) {
        StrBuf b = {};
        _cleanup_free_ char *s = NULL, *empty = NULL;

        ck_assert_int_eq(strbuf_appends(&b, "hello"), 0);
        ck_assert_int_eq(strbuf_append(&b, ", world!!", 7), 0);
        ck_assert_int_eq(strbuf_printf(&b, " %d%s", 42, "x"), 0);
        ck_assert_uint_eq(b.len, 16);
        ck_assert_str_eq(b.data, "hello, world 42x");
        s = strbuf_steal(&b);
        ck_assert_str_eq(s, "hello, world 42x");
        ck_assert_ptr_null(b.data);
        ck_assert_uint_eq(b.len, 0);

        /* An untouched buffer still yields a string. */
        empty = strbuf_steal(&b);
        ck_assert_str_eq(empty, "");

        /* Binary data with NULs keeps its length. */
        ck_assert_int_eq(strbuf_append(&b, "a\0b", 3), 0);
        ck_assert_uint_eq(b.len, 3);
        ck_assert_int_eq(memcmp(b.data, "a\0b", 4), 0);
        strbuf_done(&b);
        ck_assert_ptr_null(b.data);
        strbuf_done(&b);
}
END_TEST

START_TEST(test_strbuf_max) {
        StrBuf b = {.max = 8};

        ck_assert_int_eq(strbuf_appends(&b, "12345"), 0);
        ck_assert_int_eq(strbuf_appends(&b, "6789"), -E2BIG);
        /* A refused append changes nothing. */
        ck_assert_str_eq(b.data, "12345");
        ck_assert_int_eq(strbuf_printf(&b, "%s", "6789"), -E2BIG);
        ck_assert_str_eq(b.data, "12345");
        ck_assert_int_eq(strbuf_appends(&b, "678"), 0);
        ck_assert_str_eq(b.data, "12345678");
        ck_assert_int_eq(strbuf_append(&b, "9", 1), -E2BIG);
        ck_assert_int_eq(strbuf_append(&b, "", 0), 0);
        ck_assert_uint_eq(b.len, 8);
        ck_assert_uint_le(b.allocated, 9);
        strbuf_done(&b);
        ck_assert_uint_eq(b.max, 8);
}
END_TEST

START_TEST(test_strbuf_large) {
        StrBuf b = {};
        char chunk[1000];

        memset(chunk, 'x', sizeof(chunk));
        for (unsigned i = 0; i < 1000; i++)
                ck_assert_int_eq(strbuf_append(&b, chunk, sizeof(chunk)), 0);
        ck_assert_uint_eq(b.len, 1000000);
        ck_assert_uint_eq(strlen(b.data), 1000000);
        strbuf_done(&b);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("str-util");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_strf);
        tcase_add_test(tc, test_error_set);
        tcase_add_test(tc, test_error_prefix);
        tcase_add_test(tc, test_starts_ends);
        tcase_add_test(tc, test_strv);
        tcase_add_test(tc, test_parse_int64);
        tcase_add_test(tc, test_parse_uint32);
        tcase_add_test(tc, test_parse_mode);
        tcase_add_test(tc, test_strbuf);
        tcase_add_test(tc, test_strbuf_max);
        tcase_add_test(tc, test_strbuf_large);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
