/* SPDX-License-Identifier: MIT */
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include "str-util.h"
#include "test-helpers.h"

static char *dir; /* cookbooks */
static char *out; /* where recipes write */

static void setup(void) {
        dir = test_tmpdir();
        out = test_tmpdir();
}

static void teardown(void) {
        test_rmdir(dir);
        test_rmdir(out);
        dir = mfree(dir);
        out = mfree(out);
}

static char *out_path(const char *name) {
        char *p = strf("%s/%s", out, name);

        ck_assert_ptr_nonnull(p);
        return p;
}

/* Runs cb::default (yaml with {{out}} for the output directory) and returns its report; r is
 * what converge must return (0: success, 1: a resource failed). */
static json_object *run(const char *yaml, bool why_run, int r) {
        _cleanup_json_ json_object *a = json_object_new_object();
        _cleanup_free_ char *error = NULL;
        json_object *report = NULL;

        json_object_object_add(a, "out", json_object_new_string(out));
        test_cookbook(dir, "cb", "default", yaml);
        ck_assert_int_eq(test_converge(dir, "cb", a, why_run, &report, &error), r);
        ck_assert_ptr_nonnull(report);
        return report;
}

static json_object *resource_entry(json_object *report, size_t n) {
        json_object *e = json_object_array_get_idx(json_object_object_get(report, "resources"), n);

        ck_assert_ptr_nonnull(e);
        return e;
}

static const char *change(json_object *report, size_t n, size_t i) {
        json_object *changes = json_object_object_get(resource_entry(report, n), "changes");

        return json_object_get_string(json_object_array_get_idx(changes, i));
}

static size_t n_changes(json_object *report, size_t n) {
        json_object *changes = json_object_object_get(resource_entry(report, n), "changes");

        return changes ? json_object_array_length(changes) : 0;
}

static const char *error_of(json_object *report, size_t n) {
        return json_object_get_string(json_object_object_get(resource_entry(report, n), "error"));
}

/* Runs cb::default expecting a compile error that contains each needle. */
static void expect_error(const char *yaml, const char *needle1, const char *needle2) {
        _cleanup_json_ json_object *report = NULL;
        _cleanup_free_ char *error = NULL;

        test_cookbook(dir, "cb", "default", yaml);
        ck_assert_int_lt(test_converge(dir, "cb", NULL, false, &report, &error), 0);
        ck_assert_ptr_null(report);
        ck_assert_ptr_nonnull(error);
        ck_assert_msg(strstr(error, needle1), "error '%s' does not contain '%s'", error, needle1);
        ck_assert_msg(strstr(error, needle2), "error '%s' does not contain '%s'", error, needle2);
}

static uid_t strata_uid(void) {
        struct passwd *pw = getpwnam(TEST_USER);

        ck_assert_ptr_nonnull(pw);
        return pw->pw_uid;
}

static gid_t nogroup_gid(void) {
        struct group *gr = getgrnam("nogroup");

        ck_assert_ptr_nonnull(gr);
        return gr->gr_gid;
}

static void assert_same_file(const struct stat *a, const struct stat *b) {
        ck_assert_uint_eq(a->st_ino, b->st_ino);
        ck_assert_int_eq(a->st_mtim.tv_sec, b->st_mtim.tv_sec);
        ck_assert_int_eq(a->st_mtim.tv_nsec, b->st_mtim.tv_nsec);
        ck_assert_uint_eq(a->st_mode, b->st_mode);
        ck_assert_uint_eq(a->st_uid, b->st_uid);
        ck_assert_uint_eq(a->st_gid, b->st_gid);
}

static const char create_yaml[] =
        "- file:\n"
        "    path: '{{out}}/motd'\n"
        "    content: \"hello\\nworld\\n\"\n"
        "    owner: strata\n"
        "    group: nogroup\n"
        "    mode: '0640'\n";

START_TEST(create_then_up_to_date) {
        _cleanup_free_ char *p = out_path("motd"), *data = NULL, *want = NULL;
        _cleanup_json_ json_object *first = NULL, *second = NULL;
        struct stat st, st2;

        first = run(create_yaml, false, 0);
        ck_assert_str_eq(test_report_status(first, 0), "changed");
        want = strf("create file %s", p);
        ck_assert_str_eq(change(first, 0, 0), want);
        ck_assert_uint_eq(n_changes(first, 0), 1);

        data = test_read(p);
        ck_assert_str_eq(data, "hello\nworld\n");
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert(S_ISREG(st.st_mode));
        ck_assert_uint_eq(st.st_mode & 07777, 0640);
        ck_assert_uint_eq(st.st_uid, strata_uid());
        ck_assert_uint_eq(st.st_gid, nogroup_gid());

        second = run(create_yaml, false, 0);
        ck_assert_str_eq(test_report_status(second, 0), "up_to_date");
        ck_assert_uint_eq(n_changes(second, 0), 0);
        ck_assert_int_eq(test_report_total(second, "changed"), 0);
        ck_assert_int_eq(lstat(p, &st2), 0);
        assert_same_file(&st, &st2);
}
END_TEST

START_TEST(why_run_changes_nothing) {
        _cleanup_free_ char *p = out_path("motd"), *want = NULL;
        _cleanup_json_ json_object *report = NULL;

        report = run(create_yaml, true, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        want = strf("create file %s", p);
        ck_assert_str_eq(change(report, 0, 0), want);
        ck_assert_int_eq(access(p, F_OK), -1);
        ck_assert_int_eq(errno, ENOENT);
}
END_TEST

START_TEST(why_run_existing_file) {
        _cleanup_free_ char *p = out_path("motd"), *data = NULL;
        _cleanup_json_ json_object *report = NULL;
        struct stat st, st2;

        test_write(p, "old\n");
        ck_assert_int_eq(chmod(p, 0600), 0);
        ck_assert_int_eq(lstat(p, &st), 0);

        report = run(create_yaml, true, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        /* Content, then owner and mode of the file as it is. */
        ck_assert_uint_eq(n_changes(report, 0), 3);
        data = test_read(p);
        ck_assert_str_eq(data, "old\n");
        ck_assert_int_eq(lstat(p, &st2), 0);
        assert_same_file(&st, &st2);
}
END_TEST

START_TEST(update_keeps_attributes) {
        _cleanup_free_ char *p = out_path("conf"), *data = NULL, *yaml = NULL, *want = NULL;
        _cleanup_json_ json_object *report = NULL;
        struct stat st, st2;

        test_write(p, "old content that is longer\n");
        ck_assert_int_eq(chown(p, strata_uid(), nogroup_gid()), 0);
        ck_assert_int_eq(chmod(p, 0600), 0);
        ck_assert_int_eq(lstat(p, &st), 0);

        report = run("- file: {path: '{{out}}/conf', content: \"new\\n\"}\n", false, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        want = strf("update content of %s", p);
        ck_assert_str_eq(change(report, 0, 0), want);
        ck_assert_uint_eq(n_changes(report, 0), 1);

        data = test_read(p);
        ck_assert_str_eq(data, "new\n");
        ck_assert_int_eq(lstat(p, &st2), 0);
        ck_assert_uint_ne(st.st_ino, st2.st_ino); /* replaced by rename, not rewritten in place */
        ck_assert_uint_eq(st2.st_mode & 07777, 0600);
        ck_assert_uint_eq(st2.st_uid, strata_uid());
        ck_assert_uint_eq(st2.st_gid, nogroup_gid());
}
END_TEST

START_TEST(same_length_other_bytes) {
        _cleanup_free_ char *p = out_path("conf"), *data = NULL;
        _cleanup_json_ json_object *report = NULL;

        test_write(p, "abcd");
        report = run("- file: {path: '{{out}}/conf', content: abce}\n", false, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        data = test_read(p);
        ck_assert_str_eq(data, "abce");
}
END_TEST

START_TEST(mode_only_keeps_inode) {
        _cleanup_free_ char *p = out_path("conf"), *want = NULL;
        _cleanup_json_ json_object *report = NULL;
        struct stat st, st2;

        test_write(p, "x\n");
        ck_assert_int_eq(chmod(p, 0644), 0);
        ck_assert_int_eq(lstat(p, &st), 0);

        report = run("- file: {path: '{{out}}/conf', content: \"x\\n\", mode: '4750'}\n", false, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        want = strf("change mode of %s from 0644 to 4750", p);
        ck_assert_str_eq(change(report, 0, 0), want);
        ck_assert_int_eq(lstat(p, &st2), 0);
        ck_assert_uint_eq(st.st_ino, st2.st_ino);
        ck_assert_uint_eq(st2.st_mode & 07777, 04750);
}
END_TEST

/* chown(2) clears the set-id bits: a mode that was right before an owner change must still be
 * right after it. */
START_TEST(setuid_survives_owner_change) {
        _cleanup_free_ char *p = out_path("tool");
        _cleanup_json_ json_object *report = NULL;
        struct stat st;

        test_write(p, "x\n");
        ck_assert_int_eq(chmod(p, 04750), 0);
        report = run("- file: {path: '{{out}}/tool', content: \"x\\n\", owner: strata, "
                     "mode: '4750'}\n",
                     false, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert_uint_eq(st.st_uid, strata_uid());
        ck_assert_uint_eq(st.st_mode & 07777, 04750);
}
END_TEST

START_TEST(setuid_with_owner_on_create) {
        _cleanup_free_ char *p = out_path("tool");
        _cleanup_json_ json_object *report = NULL;
        struct stat st;

        report = run("- file: {path: '{{out}}/tool', content: \"#!/bin/sh\\n\", owner: strata, "
                     "group: nogroup, mode: '06755'}\n",
                     false, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 06755);
        ck_assert_uint_eq(st.st_uid, strata_uid());
        ck_assert_uint_eq(st.st_gid, nogroup_gid());
}
END_TEST

START_TEST(default_mode_ignores_umask) {
        _cleanup_free_ char *p = out_path("plain"), *data = NULL;
        _cleanup_json_ json_object *report = NULL;
        mode_t old = umask(0077);
        struct stat st;

        report = run("- file: {path: '{{out}}/plain'}\n", false, 0);
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
        _cleanup_free_ char *p = out_path("plain"), *data = NULL;
        _cleanup_json_ json_object *report = NULL;

        test_write(p, "keep me\n");
        ck_assert_int_eq(chmod(p, 0644), 0);
        report = run("- file: {path: '{{out}}/plain', mode: '0644'}\n", false, 0);
        ck_assert_str_eq(test_report_status(report, 0), "up_to_date");
        data = test_read(p);
        ck_assert_str_eq(data, "keep me\n");
}
END_TEST

START_TEST(source_from_files) {
        _cleanup_free_ char *p = out_path("motd"), *src = NULL, *data = NULL;
        _cleanup_json_ json_object *first = NULL, *second = NULL;

        src = strf("%s/cb/files/etc/motd", dir);
        test_write(src, "from the cookbook\n");
        first = run("- file: {path: '{{out}}/motd', source: etc/motd}\n", false, 0);
        ck_assert_str_eq(test_report_status(first, 0), "changed");
        data = test_read(p);
        ck_assert_str_eq(data, "from the cookbook\n");

        second = run("- file: {path: '{{out}}/motd', source: etc/motd}\n", false, 0);
        ck_assert_str_eq(test_report_status(second, 0), "up_to_date");
}
END_TEST

START_TEST(delete) {
        _cleanup_free_ char *p = out_path("gone"), *want = NULL;
        _cleanup_json_ json_object *why = NULL, *first = NULL, *second = NULL;
        static const char yaml[] = "- file: {path: '{{out}}/gone', action: delete}\n";

        test_write(p, "x");
        why = run(yaml, true, 0);
        ck_assert_str_eq(test_report_status(why, 0), "changed");
        ck_assert_int_eq(access(p, F_OK), 0);

        first = run(yaml, false, 0);
        ck_assert_str_eq(test_report_status(first, 0), "changed");
        want = strf("delete file %s", p);
        ck_assert_str_eq(change(first, 0, 0), want);
        ck_assert_int_eq(access(p, F_OK), -1);

        second = run(yaml, false, 0);
        ck_assert_str_eq(test_report_status(second, 0), "up_to_date");
}
END_TEST

START_TEST(directory_in_the_way) {
        _cleanup_free_ char *p = out_path("d"), *want = NULL;
        _cleanup_json_ json_object *report = NULL;

        ck_assert_int_eq(mkdir(p, 0755), 0);
        report = run("- file: {path: '{{out}}/d', content: x}\n", false, 1);
        ck_assert_str_eq(test_report_status(report, 0), "failed");
        want = strf("%s is a directory, not a file", p);
        ck_assert_str_eq(error_of(report, 0), want);
}
END_TEST

START_TEST(symlink_in_the_way) {
        _cleanup_free_ char *p = out_path("l"), *t = out_path("t"), *data = NULL;
        _cleanup_json_ json_object *report = NULL;

        test_write(t, "target\n");
        ck_assert_int_eq(symlink(t, p), 0);
        report = run("- file: {path: '{{out}}/l', content: x}\n", false, 1);
        ck_assert_str_eq(test_report_status(report, 0), "failed");
        ck_assert_ptr_nonnull(strstr(error_of(report, 0), "is a symbolic link"));
        data = test_read(t);
        ck_assert_str_eq(data, "target\n");
}
END_TEST

START_TEST(missing_directory) {
        _cleanup_free_ char *p = out_path("no/such"), *want = NULL;
        _cleanup_json_ json_object *report = NULL;

        report = run("- file: {path: '{{out}}/no/such', content: x}\n", false, 1);
        want = strf("cannot write %s: its directory does not exist", p);
        ck_assert_str_eq(error_of(report, 0), want);
}
END_TEST

START_TEST(unknown_owner_fails) {
        _cleanup_free_ char *p = out_path("f");
        _cleanup_json_ json_object *report = NULL;

        report = run("- file: {path: '{{out}}/f', content: x, owner: no-such-user-xyz}\n", false,
                     1);
        ck_assert_str_eq(error_of(report, 0), "owner 'no-such-user-xyz' does not exist");
        ck_assert_int_eq(access(p, F_OK), -1);
}
END_TEST

START_TEST(bad_properties) {
        expect_error("- file: {path: /tmp/a, content: x}\n"
                     "- file:\n    path: /tmp/b\n    colour: red\n",
                     "recipes/default.yaml:2:", "unknown property 'colour'");
        expect_error("- file: {path: /tmp/a, content: [1, 2]}\n", "recipes/default.yaml:1:",
                     "property 'content' must be a string");
        expect_error("\n- file: {path: /tmp/a, mode: rw-r--r--}\n", "recipes/default.yaml:2:",
                     "property 'mode' must be");
        expect_error("- file: {content: x}\n", "recipes/default.yaml:1:",
                     "property 'path' is required");
        expect_error("- file: {path: /tmp/a}\n- file: {path: /tmp/b, content: x, source: y}\n",
                     "recipes/default.yaml:2:",
                     "content and source are mutually exclusive");
        expect_error("- file: {path: relative/a, content: x}\n", "recipes/default.yaml:1:",
                     "path 'relative/a' must be absolute");
        expect_error("- file: {path: /tmp/a, source: missing.txt}\n", "recipes/default.yaml:1:",
                     "has no files/missing.txt");
        expect_error("- file: {path: /tmp/a, action: truncate}\n", "recipes/default.yaml:1:",
                     "unknown action 'truncate'");
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("res-file");
        TCase *tc = tcase_create("file");

        tcase_add_checked_fixture(tc, setup, teardown);
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
