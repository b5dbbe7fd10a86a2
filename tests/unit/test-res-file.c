/* SPDX-License-Identifier: MIT */
#include <sys/stat.h>

#include "str-util.h"
#include "test-helpers.h"

static const char create_yaml[] =
        "- file:\n"
        "    path: '{{out}}/motd'\n"
        "    content: \"hello\\nworld\\n\"\n"
        "    owner: strata\n"
        "    group: nogroup\n"
        "    mode: '0640'\n";

START_TEST(create_then_up_to_date) {
        _cleanup_free_ char *p = test_out_path("motd"), *data = NULL, *want = NULL;
        _cleanup_json_ json_object *first = NULL, *second = NULL;
        struct stat st, st2;

        first = test_run_recipe(create_yaml, false, 0);
        ck_assert_str_eq(test_report_status(first, 0), "changed");
        want = strf("create file %s", p);
        ck_assert_str_eq(test_report_change(first, 0, 0), want);
        ck_assert_uint_eq(test_report_n_changes(first, 0), 1);

        data = test_read(p);
        ck_assert_str_eq(data, "hello\nworld\n");
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert(S_ISREG(st.st_mode));
        ck_assert_uint_eq(st.st_mode & 07777, 0640);
        ck_assert_uint_eq(st.st_uid, test_user_uid());
        ck_assert_uint_eq(st.st_gid, test_nogroup_gid());

        second = test_run_recipe(create_yaml, false, 0);
        ck_assert_str_eq(test_report_status(second, 0), "up_to_date");
        ck_assert_uint_eq(test_report_n_changes(second, 0), 0);
        ck_assert_int_eq(test_report_total(second, "changed"), 0);
        ck_assert_int_eq(lstat(p, &st2), 0);
        test_assert_same_file(&st, &st2);
}
END_TEST

START_TEST(why_run_changes_nothing) {
        _cleanup_free_ char *p = test_out_path("motd"), *want = NULL;
        _cleanup_json_ json_object *report = NULL;

        report = test_run_recipe(create_yaml, true, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        want = strf("create file %s", p);
        ck_assert_str_eq(test_report_change(report, 0, 0), want);
        ck_assert_int_eq(access(p, F_OK), -1);
        ck_assert_int_eq(errno, ENOENT);
}
END_TEST

START_TEST(why_run_existing_file) {
        _cleanup_free_ char *p = test_out_path("motd"), *data = NULL;
        _cleanup_json_ json_object *report = NULL;
        struct stat st, st2;

        test_write(p, "old\n");
        ck_assert_int_eq(chmod(p, 0600), 0);
        ck_assert_int_eq(lstat(p, &st), 0);

        report = test_run_recipe(create_yaml, true, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        /* Content, then owner and mode of the file as it is. */
        ck_assert_uint_eq(test_report_n_changes(report, 0), 3);
        data = test_read(p);
        ck_assert_str_eq(data, "old\n");
        ck_assert_int_eq(lstat(p, &st2), 0);
        test_assert_same_file(&st, &st2);
}
END_TEST

START_TEST(update_keeps_attributes) {
        _cleanup_free_ char *p = test_out_path("conf"), *data = NULL, *yaml = NULL, *want = NULL;
        _cleanup_json_ json_object *report = NULL;
        struct stat st, st2;

        test_write(p, "old content that is longer\n");
        ck_assert_int_eq(chown(p, test_user_uid(), test_nogroup_gid()), 0);
        ck_assert_int_eq(chmod(p, 0600), 0);
        ck_assert_int_eq(lstat(p, &st), 0);

        report = test_run_recipe("- file: {path: '{{out}}/conf', content: \"new\\n\"}\n", false, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        want = strf("update content of %s", p);
        ck_assert_str_eq(test_report_change(report, 0, 0), want);
        ck_assert_uint_eq(test_report_n_changes(report, 0), 1);

        data = test_read(p);
        ck_assert_str_eq(data, "new\n");
        ck_assert_int_eq(lstat(p, &st2), 0);
        ck_assert_uint_ne(st.st_ino, st2.st_ino); /* replaced by rename, not rewritten in place */
        ck_assert_uint_eq(st2.st_mode & 07777, 0600);
        ck_assert_uint_eq(st2.st_uid, test_user_uid());
        ck_assert_uint_eq(st2.st_gid, test_nogroup_gid());
}
END_TEST

START_TEST(same_length_other_bytes) {
        _cleanup_free_ char *p = test_out_path("conf"), *data = NULL;
        _cleanup_json_ json_object *report = NULL;

        test_write(p, "abcd");
        report = test_run_recipe("- file: {path: '{{out}}/conf', content: abce}\n", false, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        data = test_read(p);
        ck_assert_str_eq(data, "abce");
}
END_TEST

START_TEST(mode_only_keeps_inode) {
        _cleanup_free_ char *p = test_out_path("conf"), *want = NULL;
        _cleanup_json_ json_object *report = NULL;
        struct stat st, st2;

        test_write(p, "x\n");
        ck_assert_int_eq(chmod(p, 0644), 0);
        ck_assert_int_eq(lstat(p, &st), 0);

        report = test_run_recipe(
                "- file: {path: '{{out}}/conf', content: \"x\\n\", mode: '4750'}\n", false, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        want = strf("change mode of %s from 0644 to 4750", p);
        ck_assert_str_eq(test_report_change(report, 0, 0), want);
        ck_assert_int_eq(lstat(p, &st2), 0);
        ck_assert_uint_eq(st.st_ino, st2.st_ino);
        ck_assert_uint_eq(st2.st_mode & 07777, 04750);
}
END_TEST

/* chown(2) clears the set-id bits: a mode that was right before an owner change must still be
 * right after it. */
START_TEST(setuid_survives_owner_change) {
        _cleanup_free_ char *p = test_out_path("tool");
        _cleanup_json_ json_object *report = NULL;
        struct stat st;

        test_write(p, "x\n");
        ck_assert_int_eq(chmod(p, 04750), 0);
        report = test_run_recipe("- file: {path: '{{out}}/tool', content: \"x\\n\", owner: strata, "
                                 "mode: '4750'}\n",
                                 false, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert_uint_eq(st.st_uid, test_user_uid());
        ck_assert_uint_eq(st.st_mode & 07777, 04750);
}
END_TEST

START_TEST(setuid_with_owner_on_create) {
        _cleanup_free_ char *p = test_out_path("tool");
        _cleanup_json_ json_object *report = NULL;
        struct stat st;

        report = test_run_recipe(
                "- file: {path: '{{out}}/tool', content: \"#!/bin/sh\\n\", owner: strata, "
                "group: nogroup, mode: '06755'}\n",
                false, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 06755);
        ck_assert_uint_eq(st.st_uid, test_user_uid());
        ck_assert_uint_eq(st.st_gid, test_nogroup_gid());
}
END_TEST

START_TEST(default_mode_ignores_umask) {
        _cleanup_free_ char *p = test_out_path("plain"), *data = NULL;
        _cleanup_json_ json_object *report = NULL;
        mode_t old = umask(0077);
        struct stat st;

        report = test_run_recipe("- file: {path: '{{out}}/plain'}\n", false, 0);
        umask(old);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0644);
        ck_assert_uint_eq(st.st_uid, 0);
        data = test_read(p);
        ck_assert_str_eq(data, "");
}
END_TEST

START_TEST(no_content_leaves_existing_content) {
        _cleanup_free_ char *p = test_out_path("plain"), *data = NULL;
        _cleanup_json_ json_object *report = NULL;

        test_write(p, "keep me\n");
        ck_assert_int_eq(chmod(p, 0644), 0);
        report = test_run_recipe("- file: {path: '{{out}}/plain', mode: '0644'}\n", false, 0);
        ck_assert_str_eq(test_report_status(report, 0), "up_to_date");
        data = test_read(p);
        ck_assert_str_eq(data, "keep me\n");
}
END_TEST

START_TEST(source_from_files) {
        _cleanup_free_ char *p = test_out_path("motd"), *src = NULL, *data = NULL;
        _cleanup_json_ json_object *first = NULL, *second = NULL;

        src = strf("%s/cb/files/etc/motd", test_cookbooks);
        test_write(src, "from the cookbook\n");
        first = test_run_recipe("- file: {path: '{{out}}/motd', source: etc/motd}\n", false, 0);
        ck_assert_str_eq(test_report_status(first, 0), "changed");
        data = test_read(p);
        ck_assert_str_eq(data, "from the cookbook\n");

        second = test_run_recipe("- file: {path: '{{out}}/motd', source: etc/motd}\n", false, 0);
        ck_assert_str_eq(test_report_status(second, 0), "up_to_date");
}
END_TEST

START_TEST(delete) {
        _cleanup_free_ char *p = test_out_path("gone"), *want = NULL;
        _cleanup_json_ json_object *why = NULL, *first = NULL, *second = NULL;
        static const char yaml[] = "- file: {path: '{{out}}/gone', action: delete}\n";

        test_write(p, "x");
        why = test_run_recipe(yaml, true, 0);
        ck_assert_str_eq(test_report_status(why, 0), "changed");
        ck_assert_int_eq(access(p, F_OK), 0);

        first = test_run_recipe(yaml, false, 0);
        ck_assert_str_eq(test_report_status(first, 0), "changed");
        want = strf("delete file %s", p);
        ck_assert_str_eq(test_report_change(first, 0, 0), want);
        ck_assert_int_eq(access(p, F_OK), -1);

        second = test_run_recipe(yaml, false, 0);
        ck_assert_str_eq(test_report_status(second, 0), "up_to_date");
}
END_TEST

START_TEST(directory_in_the_way) {
        _cleanup_free_ char *p = test_out_path("d"), *want = NULL;
        _cleanup_json_ json_object *report = NULL;

        ck_assert_int_eq(mkdir(p, 0755), 0);
        report = test_run_recipe("- file: {path: '{{out}}/d', content: x}\n", false, 1);
        ck_assert_str_eq(test_report_status(report, 0), "failed");
        want = strf("%s is a directory, not a file", p);
        ck_assert_str_eq(test_report_error(report, 0), want);
}
END_TEST

START_TEST(symlink_in_the_way) {
        _cleanup_free_ char *p = test_out_path("l"), *t = test_out_path("t"), *data = NULL;
        _cleanup_json_ json_object *report = NULL;

        test_write(t, "target\n");
        ck_assert_int_eq(symlink(t, p), 0);
        report = test_run_recipe("- file: {path: '{{out}}/l', content: x}\n", false, 1);
        ck_assert_str_eq(test_report_status(report, 0), "failed");
        ck_assert_ptr_nonnull(strstr(test_report_error(report, 0), "is a symbolic link"));
        data = test_read(t);
        ck_assert_str_eq(data, "target\n");
}
END_TEST

START_TEST(missing_directory) {
        _cleanup_free_ char *p = test_out_path("no/such"), *want = NULL;
        _cleanup_json_ json_object *report = NULL;

        report = test_run_recipe("- file: {path: '{{out}}/no/such', content: x}\n", false, 1);
        want = strf("cannot write %s: its directory does not exist", p);
        ck_assert_str_eq(test_report_error(report, 0), want);
}
END_TEST

START_TEST(unknown_owner_fails) {
        _cleanup_free_ char *p = test_out_path("f");
        _cleanup_json_ json_object *report = NULL;

        report = test_run_recipe(
                "- file: {path: '{{out}}/f', content: x, owner: no-such-user-xyz}\n", false, 1);
        ck_assert_str_eq(test_report_error(report, 0), "owner 'no-such-user-xyz' does not exist");
        ck_assert_int_eq(access(p, F_OK), -1);
}
END_TEST

START_TEST(bad_properties) {
        test_expect_error("- file: {path: /tmp/a, content: x}\n"
                          "- file:\n    path: /tmp/b\n    colour: red\n",
                          "recipes/default.yaml:2:", "unknown property 'colour'");
        test_expect_error("- file: {path: /tmp/a, content: [1, 2]}\n",
                          "recipes/default.yaml:1:", "property 'content' must be a string");
        test_expect_error("\n- file: {path: /tmp/a, mode: rw-r--r--}\n",
                          "recipes/default.yaml:2:", "property 'mode' must be");
        test_expect_error("- file: {content: x}\n",
                          "recipes/default.yaml:1:", "property 'path' is required");
        test_expect_error("- file: {path: /tmp/a}\n- file: {path: /tmp/b, content: x, source: y}\n",
                          "recipes/default.yaml:2:", "content and source are mutually exclusive");
        test_expect_error("- file: {path: relative/a, content: x}\n",
                          "recipes/default.yaml:1:", "path 'relative/a' must be absolute");
        test_expect_error("- file: {path: /tmp/a, source: missing.txt}\n",
                          "recipes/default.yaml:1:", "has no files/missing.txt");
        test_expect_error("- file: {path: /tmp/a, action: truncate}\n",
                          "recipes/default.yaml:1:", "unknown action 'truncate'");
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("res-file");
        TCase *tc = tcase_create("file");

        tcase_add_checked_fixture(tc, test_recipe_setup, test_recipe_teardown);
        tcase_add_test(tc, create_then_up_to_date);
        tcase_add_test(tc, why_run_changes_nothing);
        tcase_add_test(tc, why_run_existing_file);
        tcase_add_test(tc, update_keeps_attributes);
        tcase_add_test(tc, same_length_other_bytes);
        tcase_add_test(tc, mode_only_keeps_inode);
        tcase_add_test(tc, setuid_with_owner_on_create);
        tcase_add_test(tc, setuid_survives_owner_change);
        tcase_add_test(tc, default_mode_ignores_umask);
        tcase_add_test(tc, no_content_leaves_existing_content);
        tcase_add_test(tc, source_from_files);
        tcase_add_test(tc, delete);
        tcase_add_test(tc, directory_in_the_way);
        tcase_add_test(tc, symlink_in_the_way);
        tcase_add_test(tc, missing_directory);
        tcase_add_test(tc, unknown_owner_fails);
        tcase_add_test(tc, bad_properties);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
