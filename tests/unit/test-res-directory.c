/* SPDX-License-Identifier: MIT */
#include <sys/stat.h>

#include "str-util.h"
#include "test-helpers.h"

static const char create_yaml[] =
        "- directory:\n"
        "    path: '{{out}}/d'\n"
        "    owner: strata\n"
        "    group: nogroup\n"
        "    mode: '2750'\n";

START_TEST(create_then_up_to_date) {
        _cleanup_free_ char *p = test_out_path("d"), *want = NULL;
        _cleanup_json_ json_object *first = NULL, *second = NULL;
        struct stat st, st2;

        first = test_run_recipe(create_yaml, false, 0);
        ck_assert_str_eq(test_report_status(first, 0), "changed");
        want = strf("create directory %s", p);
        ck_assert_str_eq(test_report_change(first, 0, 0), want);
        ck_assert_uint_eq(test_report_n_changes(first, 0), 1);

        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        ck_assert_uint_eq(st.st_mode & 07777, 02750);
        ck_assert_uint_eq(st.st_uid, test_user_uid());
        ck_assert_uint_eq(st.st_gid, test_nogroup_gid());

        second = test_run_recipe(create_yaml, false, 0);
        ck_assert_str_eq(test_report_status(second, 0), "up_to_date");
        ck_assert_uint_eq(test_report_n_changes(second, 0), 0);
        ck_assert_int_eq(lstat(p, &st2), 0);
        test_assert_same_file(&st, &st2);
        ck_assert_int_eq(st.st_ctim.tv_nsec, st2.st_ctim.tv_nsec);
}
END_TEST

START_TEST(why_run_changes_nothing) {
        _cleanup_free_ char *p = test_out_path("d");
        _cleanup_json_ json_object *report = NULL;

        report = test_run_recipe(create_yaml, true, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        ck_assert_uint_eq(test_report_n_changes(report, 0), 1);
        ck_assert_int_eq(access(p, F_OK), -1);
        ck_assert_int_eq(errno, ENOENT);
}
END_TEST

START_TEST(default_mode_ignores_umask) {
        _cleanup_free_ char *p = test_out_path("plain");
        _cleanup_json_ json_object *report = NULL;
        mode_t old = umask(0077);
        struct stat st;

        report = test_run_recipe("- directory: {path: '{{out}}/plain'}\n", false, 0);
        umask(old);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0755);
        ck_assert_uint_eq(st.st_uid, 0);
        ck_assert_uint_eq(st.st_gid, 0);
}
END_TEST

START_TEST(attributes_of_existing) {
        _cleanup_free_ char *p = test_out_path("d"), *want1 = NULL, *want2 = NULL;
        _cleanup_json_ json_object *report = NULL;
        struct stat st, st2;

        ck_assert_int_eq(mkdir(p, 0700), 0);
        ck_assert_int_eq(chmod(p, 0700), 0);
        ck_assert_int_eq(lstat(p, &st), 0);
        report = test_run_recipe(create_yaml, false, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        want1 = strf("change ownership of %s to strata:nogroup", p);
        want2 = strf("change mode of %s from 0700 to 2750", p);
        ck_assert_uint_eq(test_report_n_changes(report, 0), 2);
        ck_assert_str_eq(test_report_change(report, 0, 0), want1);
        ck_assert_str_eq(test_report_change(report, 0, 1), want2);
        ck_assert_int_eq(lstat(p, &st2), 0);
        ck_assert_uint_eq(st.st_ino, st2.st_ino);
        ck_assert_uint_eq(st2.st_mode & 07777, 02750);
        ck_assert_uint_eq(st2.st_uid, test_user_uid());
}
END_TEST

START_TEST(recursive_create) {
        _cleanup_free_ char *a = test_out_path("a"), *ab = test_out_path("a/b"),
                            *abc = test_out_path("a/b/c");
        _cleanup_json_ json_object *report = NULL;
        struct stat st;

        report = test_run_recipe(
                "- directory: {path: '{{out}}/a/b/c', recursive: true, mode: '0700', "
                "owner: strata}\n",
                false, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        ck_assert_uint_eq(test_report_n_changes(report, 0), 1);
        /* Parents as mkdir -p makes them; attributes only on the leaf. */
        ck_assert_int_eq(lstat(a, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0755);
        ck_assert_uint_eq(st.st_uid, 0);
        ck_assert_int_eq(lstat(ab, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0755);
        ck_assert_int_eq(lstat(abc, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0700);
        ck_assert_uint_eq(st.st_uid, test_user_uid());
}
END_TEST

START_TEST(missing_parent_without_recursive) {
        _cleanup_free_ char *p = test_out_path("a/b"), *want = NULL;
        _cleanup_json_ json_object *report = NULL;

        report = test_run_recipe("- directory: {path: '{{out}}/a/b'}\n", false, 1);
        ck_assert_str_eq(test_report_status(report, 0), "failed");
        want = strf("cannot create %s: its parent does not exist (set recursive: true to create "
                    "it)",
                    p);
        ck_assert_str_eq(test_report_error(report, 0), want);
}
END_TEST

START_TEST(file_in_the_way) {
        _cleanup_free_ char *p = test_out_path("f"), *want = NULL, *data = NULL;
        _cleanup_json_ json_object *report = NULL;

        test_write(p, "data");
        report = test_run_recipe("- directory: {path: '{{out}}/f'}\n", false, 1);
        want = strf("%s exists and is not a directory", p);
        ck_assert_str_eq(test_report_error(report, 0), want);
        data = test_read(p);
        ck_assert_str_eq(data, "data");
}
END_TEST

START_TEST(symlink_to_directory) {
        _cleanup_free_ char *p = test_out_path("l"), *t = test_out_path("t");
        _cleanup_json_ json_object *report = NULL;
        struct stat st;

        ck_assert_int_eq(mkdir(t, 0755), 0);
        ck_assert_int_eq(symlink("t", p), 0);
        report = test_run_recipe("- directory: {path: '{{out}}/l', mode: '0750'}\n", false, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert(S_ISLNK(st.st_mode));
        ck_assert_int_eq(lstat(t, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0750);
}
END_TEST

START_TEST(delete_empty_and_tree) {
        _cleanup_free_ char *e = test_out_path("empty"), *t = test_out_path("tree"), *f = NULL;
        _cleanup_json_ json_object *r1 = NULL, *r2 = NULL, *r3 = NULL, *r4 = NULL;
        _cleanup_free_ char *want = NULL;
        static const char tree_yaml[] =
                "- directory: {path: '{{out}}/tree', action: delete, recursive: true}\n";

        ck_assert_int_eq(mkdir(e, 0755), 0);
        f = strf("%s/sub/file", t);
        test_write(f, "x");

        r1 = test_run_recipe(
                "- directory: {path: '{{out}}/empty', action: delete}\n"
                "- directory: {path: '{{out}}/tree', action: delete, ignore_failure: true}\n",
                false, 0);
        ck_assert_str_eq(test_report_status(r1, 0), "changed");
        ck_assert_int_eq(access(e, F_OK), -1);
        want = strf("cannot delete %s: it is not empty (set recursive: true to delete the tree)",
                    t);
        ck_assert_str_eq(test_report_error(r1, 1), want);
        ck_assert_int_eq(access(f, F_OK), 0);

        r2 = test_run_recipe(tree_yaml, true, 0);
        ck_assert_str_eq(test_report_status(r2, 0), "changed");
        ck_assert_int_eq(access(f, F_OK), 0);

        r3 = test_run_recipe(tree_yaml, false, 0);
        ck_assert_str_eq(test_report_status(r3, 0), "changed");
        ck_assert_int_eq(access(t, F_OK), -1);

        r4 = test_run_recipe(tree_yaml, false, 0);
        ck_assert_str_eq(test_report_status(r4, 0), "up_to_date");
}
END_TEST

START_TEST(delete_refuses_file_and_symlink) {
        _cleanup_free_ char *f = test_out_path("f"), *l = test_out_path("l"),
                            *t = test_out_path("t");
        _cleanup_json_ json_object *r1 = NULL, *r2 = NULL;

        test_write(f, "x");
        ck_assert_int_eq(mkdir(t, 0755), 0);
        ck_assert_int_eq(symlink(t, l), 0);
        r1 = test_run_recipe("- directory: {path: '{{out}}/f', action: delete, recursive: true}\n",
                             false, 1);
        ck_assert_ptr_nonnull(
                strstr(test_report_error(r1, 0), "is not a directory; refusing to delete"));
        ck_assert_int_eq(access(f, F_OK), 0);
        r2 = test_run_recipe("- directory: {path: '{{out}}/l', action: delete, recursive: true}\n",
                             false, 1);
        ck_assert_ptr_nonnull(
                strstr(test_report_error(r2, 0), "is not a directory; refusing to delete"));
        ck_assert_int_eq(access(t, F_OK), 0);
}
END_TEST

START_TEST(bad_properties) {
        test_expect_error("- directory: {path: /tmp/a}\n"
                          "- directory:\n    path: /tmp/b\n    parents: true\n",
                          "recipes/default.yaml:2:", "unknown property 'parents'");
        test_expect_error("- directory: {path: /tmp/a, recursive: maybe}\n",
                          "recipes/default.yaml:1:", "property 'recursive' must be");
        test_expect_error("- directory: {mode: '0755'}\n",
                          "recipes/default.yaml:1:", "property 'path' is required");
        test_expect_error("- directory: {path: tmp/a}\n",
                          "recipes/default.yaml:1:", "path 'tmp/a' must be absolute");
        test_expect_error("- directory: {path: /tmp/a/}\n",
                          "recipes/default.yaml:1:", "without a trailing or doubled slash");
        test_expect_error("- directory: {path: /tmp/a, mode: '17777'}\n",
                          "recipes/default.yaml:1:", "property 'mode' must be");
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("res-directory");
        TCase *tc = tcase_create("directory");

        tcase_add_checked_fixture(tc, test_recipe_setup, test_recipe_teardown);
        tcase_add_test(tc, create_then_up_to_date);
        tcase_add_test(tc, why_run_changes_nothing);
        tcase_add_test(tc, default_mode_ignores_umask);
        tcase_add_test(tc, attributes_of_existing);
        tcase_add_test(tc, recursive_create);
        tcase_add_test(tc, missing_parent_without_recursive);
        tcase_add_test(tc, file_in_the_way);
        tcase_add_test(tc, symlink_to_directory);
        tcase_add_test(tc, delete_empty_and_tree);
        tcase_add_test(tc, delete_refuses_file_and_symlink);
        tcase_add_test(tc, bad_properties);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
