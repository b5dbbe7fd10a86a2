/* SPDX-License-Identifier: MIT */
#include "test-helpers.h"
#include "version.h"

static bool satisfies(const char *constraint, const char *version) {
        Version v;
        bool ok = false;

        ck_assert_int_eq(version_parse(version, &v), 0);
        ck_assert_int_eq(version_constraint_check(constraint, &v, &ok), 0);
        return ok;
}

START_TEST(parse) {
        Version v;

        ck_assert_int_eq(version_parse("1.2.3", &v), 0);
        ck_assert_uint_eq(v.n, 3);
        ck_assert_uint_eq(v.part[0], 1);
        ck_assert_uint_eq(v.part[2], 3);
        ck_assert_int_eq(version_parse("7", &v), 0);
        ck_assert_uint_eq(v.part[1], 0);
        ck_assert_int_eq(version_parse("", &v), -EINVAL);
        ck_assert_int_eq(version_parse("1..2", &v), -EINVAL);
        ck_assert_int_eq(version_parse("1.2.3.4", &v), -EINVAL);
        ck_assert_int_eq(version_parse("1.2a", &v), -EINVAL);
        ck_assert_int_eq(version_parse("v1", &v), -EINVAL);
        ck_assert_int_eq(version_parse("99999999999", &v), -EINVAL);
}
END_TEST

START_TEST(compare) {
        Version a, b;

        ck_assert_int_eq(version_parse("1.10", &a), 0);
        ck_assert_int_eq(version_parse("1.9.9", &b), 0);
        ck_assert_int_eq(version_compare(&a, &b), 1);
        ck_assert_int_eq(version_compare(&b, &a), -1);
        ck_assert_int_eq(version_parse("1.10.0", &b), 0);
        ck_assert_int_eq(version_compare(&a, &b), 0);
}
END_TEST

START_TEST(constraints) {
        ck_assert(satisfies("= 1.2.0", "1.2"));
        ck_assert(satisfies("1.2.0", "1.2"));
        ck_assert(!satisfies("= 1.2.0", "1.2.1"));
        ck_assert(satisfies(">= 1.2", "1.2.0"));
        ck_assert(satisfies(">= 1.2", "2.0"));
        ck_assert(!satisfies(">= 1.2", "1.1.9"));
        ck_assert(satisfies("<= 1.2", "1.2"));
        ck_assert(!satisfies("<= 1.2", "1.2.1"));
        ck_assert(satisfies("> 1.2", "1.2.1"));
        ck_assert(!satisfies("> 1.2", "1.2"));
        ck_assert(satisfies("< 2", "1.99"));
        ck_assert(!satisfies("< 2", "2.0.0"));
        ck_assert(satisfies(">=1.0", "1.0"));
}
END_TEST

START_TEST(pessimistic) {
        ck_assert(satisfies("~> 1.2", "1.2"));
        ck_assert(satisfies("~> 1.2", "1.9.3"));
        ck_assert(!satisfies("~> 1.2", "2.0"));
        ck_assert(!satisfies("~> 1.2", "1.1"));
        ck_assert(satisfies("~> 1.2.3", "1.2.9"));
        ck_assert(!satisfies("~> 1.2.3", "1.3.0"));
        ck_assert(!satisfies("~> 1.2.3", "1.2.2"));
        ck_assert(satisfies("~> 1", "1.5"));
        ck_assert(!satisfies("~> 1", "2"));
}
END_TEST

START_TEST(bad_constraints) {
        Version v;
        bool ok;

        ck_assert_int_eq(version_parse("1.0", &v), 0);
        ck_assert_int_eq(version_constraint_check(">= x", &v, &ok), -EINVAL);
        ck_assert_int_eq(version_constraint_check("=> 1.0", &v, &ok), -EINVAL);
        ck_assert_int_eq(version_constraint_check("", &v, &ok), -EINVAL);
        ck_assert_int_eq(version_constraint_check("~>", &v, &ok), -EINVAL);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("version");
        TCase *tc = tcase_create("version");

        tcase_add_test(tc, parse);
        tcase_add_test(tc, compare);
        tcase_add_test(tc, constraints);
        tcase_add_test(tc, pessimistic);
        tcase_add_test(tc, bad_constraints);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
