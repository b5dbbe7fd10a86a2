/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <sys/stat.h>

#include "str-util.h"
#include "test-helpers.h"

static char *link_target(const char *path) {
        char buf[4096];
        ssize_t n = readlink(path, buf, sizeof(buf) - 1);

        ck_assert_int_ge(n, 0);
        buf[n] = 0;
        return strdup(buf);
}

static const char create_yaml[] =
        "- link:\n"
        "    path: '{{out}}/current'\n"
        "    to: releases/1\n"
        "    owner: strata\n"
        "    group: nogroup\n";

START_TEST(create_then_up_to_date) {
        _cleanup_free_ char *p = test_out_path("current"), *t = NULL, *want = NULL;
        _cleanup_json_ json_object *first = NULL, *second = NULL;
        struct stat st, st2;

        first = test_run_recipe(create_yaml, false, 0);
        ck_assert_str_eq(test_report_status(first, 0), "changed");
        want = strf("create symbolic link %s -> releases/1", p);
        ck_assert_str_eq(test_report_change(first, 0, 0), want);
        ck_assert_uint_eq(test_report_n_changes(first, 0), 1);

        t = link_target(p);
        ck_assert_str_eq(t, "releases/1");
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert(S_ISLNK(st.st_mode));
        ck_assert_uint_eq(st.st_uid, test_user_uid());
        ck_assert_uint_eq(st.st_gid, test_nogroup_gid());
        test_assert_out_entries(1);

        second = test_run_recipe(create_yaml, false, 0);
        ck_assert_str_eq(test_report_status(second, 0), "up_to_date");
        ck_assert_uint_eq(test_report_n_changes(second, 0), 0);
        ck_assert_int_eq(lstat(p, &st2), 0);
        test_assert_same_file(&st, &st2);
}
END_TEST

START_TEST(why_run_changes_nothing) {
        _cleanup_free_ char *p = test_out_path("current");
        _cleanup_json_ json_object *report = NULL;

        report = test_run_recipe(create_yaml, true, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        ck_assert_uint_eq(test_report_n_changes(report, 0), 1);
        ck_assert_int_eq(access(p, F_OK), -1);
        test_assert_out_entries(0);
}
END_TEST

START_TEST(switch_target) {
        _cleanup_free_ char *p = test_out_path("current"), *t = NULL, *want = NULL;
        _cleanup_json_ json_object *report = NULL;
        struct stat st;

        ck_assert_int_eq(symlink("releases/0", p), 0);
        report = test_run_recipe(create_yaml, false, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        want = strf("change symbolic link %s -> releases/1 (was -> releases/0)", p);
        ck_assert_str_eq(test_report_change(report, 0, 0), want);
        t = link_target(p);
        ck_assert_str_eq(t, "releases/1");
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert_uint_eq(st.st_uid, test_user_uid());
        test_assert_out_entries(1);
}
END_TEST

START_TEST(owner_of_existing_link) {
        _cleanup_free_ char *p = test_out_path("current"), *want = NULL;
        _cleanup_json_ json_object *report = NULL;
        struct stat st, st2;

        ck_assert_int_eq(symlink("releases/1", p), 0);
        ck_assert_int_eq(lstat(p, &st), 0);
        report = test_run_recipe(create_yaml, false, 0);
        want = strf("change ownership of %s to strata:nogroup", p);
        ck_assert_str_eq(test_report_change(report, 0, 0), want);
        ck_assert_int_eq(lstat(p, &st2), 0);
        ck_assert_uint_eq(st.st_ino, st2.st_ino);
        ck_assert_uint_eq(st2.st_uid, test_user_uid());
        ck_assert_uint_eq(st2.st_gid, test_nogroup_gid());
}
END_TEST

START_TEST(file_is_replaced) {
        _cleanup_free_ char *p = test_out_path("current"), *t = NULL, *want = NULL;
        _cleanup_json_ json_object *report = NULL;

        test_write(p, "a file\n");
        report = test_run_recipe(create_yaml, false, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        want = strf("replace %s with a symbolic link -> releases/1", p);
        ck_assert_str_eq(test_report_change(report, 0, 0), want);
        t = link_target(p);
        ck_assert_str_eq(t, "releases/1");
        test_assert_out_entries(1);
}
END_TEST

START_TEST(directory_is_refused) {
        _cleanup_free_ char *p = test_out_path("current"), *want = NULL;
        _cleanup_json_ json_object *report = NULL;
        struct stat st;

        ck_assert_int_eq(mkdir(p, 0755), 0);
        report = test_run_recipe(create_yaml, false, 1);
        want = strf("%s is a directory; refusing to replace it with a link", p);
        ck_assert_str_eq(test_report_error(report, 0), want);
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        test_assert_out_entries(1);
}
END_TEST

START_TEST(hard_link) {
        _cleanup_free_ char *p = test_out_path("hard"), *t = test_out_path("data"), *want = NULL;
        _cleanup_json_ json_object *first = NULL, *second = NULL, *third = NULL;
        struct stat sp, st, sp2;
        static const char yaml[] = "- link: {path: '{{out}}/hard', to: data, link_type: hard}\n";

        test_write(t, "shared bytes");
        first = test_run_recipe(yaml, false, 0);
        ck_assert_str_eq(test_report_status(first, 0), "changed");
        want = strf("create hard link %s -> data", p);
        ck_assert_str_eq(test_report_change(first, 0, 0), want);
        ck_assert_int_eq(lstat(p, &sp), 0);
        ck_assert_int_eq(lstat(t, &st), 0);
        ck_assert(S_ISREG(sp.st_mode));
        ck_assert_uint_eq(sp.st_ino, st.st_ino);
        ck_assert_uint_eq(sp.st_nlink, 2);

        second = test_run_recipe(yaml, false, 0);
        ck_assert_str_eq(test_report_status(second, 0), "up_to_date");
        ck_assert_int_eq(lstat(p, &sp2), 0);
        test_assert_same_file(&sp, &sp2);

        third = test_run_recipe("- link: {path: '{{out}}/hard', link_type: hard, action: delete}\n",
                                false, 0);
        ck_assert_str_eq(test_report_status(third, 0), "changed");
        ck_assert_int_eq(access(p, F_OK), -1);
        ck_assert_int_eq(access(t, F_OK), 0);
}
END_TEST

START_TEST(hard_link_replaces_other_file) {
        _cleanup_free_ char *p = test_out_path("hard"), *t = test_out_path("data");
        _cleanup_json_ json_object *report = NULL;
        struct stat sp, st;

        test_write(t, "new");
        test_write(p, "old");
        report = test_run_recipe(
                "- link: {path: '{{out}}/hard', to: '{{out}}/data', link_type: hard}\n", false, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        ck_assert_int_eq(lstat(p, &sp), 0);
        ck_assert_int_eq(lstat(t, &st), 0);
        ck_assert_uint_eq(sp.st_ino, st.st_ino);
        test_assert_out_entries(2);
}
END_TEST

START_TEST(delete_symlink) {
        _cleanup_free_ char *p = test_out_path("current"), *f = test_out_path("file");
        _cleanup_json_ json_object *why = NULL, *first = NULL, *second = NULL, *refused = NULL;
        static const char yaml[] = "- link: {path: '{{out}}/current', action: delete}\n";

        ck_assert_int_eq(symlink("releases/1", p), 0);
        why = test_run_recipe(yaml, true, 0);
        ck_assert_str_eq(test_report_status(why, 0), "changed");
        ck_assert_int_eq(faccessat(AT_FDCWD, p, F_OK, AT_SYMLINK_NOFOLLOW), 0);

        first = test_run_recipe(yaml, false, 0);
        ck_assert_str_eq(test_report_status(first, 0), "changed");
        ck_assert_int_eq(faccessat(AT_FDCWD, p, F_OK, AT_SYMLINK_NOFOLLOW), -1);
        second = test_run_recipe(yaml, false, 0);
        ck_assert_str_eq(test_report_status(second, 0), "up_to_date");

        test_write(f, "data");
        refused = test_run_recipe("- link: {path: '{{out}}/file', action: delete}\n", false, 1);
        ck_assert_ptr_nonnull(strstr(test_report_error(refused, 0), "is not a symbolic link"));
        ck_assert_int_eq(access(f, F_OK), 0);
}
END_TEST

START_TEST(bad_properties) {
        test_expect_error(
                "- link: {path: /tmp/a, to: b}\n- link:\n    path: /tmp/b\n    target: c\n",
                "recipes/default.yaml:2:", "unknown property 'target'");
        test_expect_error("- link: {path: /tmp/a}\n",
                          "recipes/default.yaml:1:", "property 'to' is required to create a link");
        test_expect_error("- link: {path: /tmp/a, to: b, link_type: soft}\n",
                          "recipes/default.yaml:1:", "link_type 'soft' must be symbolic or hard");
        test_expect_error("- link: {to: b}\n",
                          "recipes/default.yaml:1:", "property 'path' is required");
        test_expect_error("- link: {path: /tmp/a, to: {x: 1}}\n",
                          "recipes/default.yaml:1:", "property 'to' must be a string");
        test_expect_error("- link: {path: a, to: b}\n",
                          "recipes/default.yaml:1:", "path 'a' must be absolute");
        test_expect_error("- link: {path: /tmp/a, to: b, mode: '0777'}\n",
                          "recipes/default.yaml:1:", "unknown property 'mode'");
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("res-link");
        TCase *tc = tcase_create("link");

        tcase_add_checked_fixture(tc, test_recipe_setup, test_recipe_teardown);
        tcase_add_test(tc, create_then_up_to_date);
        tcase_add_test(tc, why_run_changes_nothing);
        tcase_add_test(tc, switch_target);
        tcase_add_test(tc, owner_of_existing_link);
        tcase_add_test(tc, file_is_replaced);
        tcase_add_test(tc, directory_is_refused);
        tcase_add_test(tc, hard_link);
        tcase_add_test(tc, hard_link_replaces_other_file);
        tcase_add_test(tc, delete_symlink);
        tcase_add_test(tc, bad_properties);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
