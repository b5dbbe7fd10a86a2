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
        "- directory:\n"
        "    path: '{{out}}/d'\n"
        "    owner: strata\n"
        "    group: nogroup\n"
        "    mode: '2750'\n";

START_TEST(create_then_up_to_date) {
        _cleanup_free_ char *p = out_path("d"), *want = NULL;
        _cleanup_json_ json_object *first = NULL, *second = NULL;
        struct stat st, st2;

        first = run(create_yaml, false, 0);
        ck_assert_str_eq(test_report_status(first, 0), "changed");
        want = strf("create directory %s", p);
        ck_assert_str_eq(change(first, 0, 0), want);
        ck_assert_uint_eq(n_changes(first, 0), 1);

        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        ck_assert_uint_eq(st.st_mode & 07777, 02750);
        ck_assert_uint_eq(st.st_uid, strata_uid());
        ck_assert_uint_eq(st.st_gid, nogroup_gid());

        second = run(create_yaml, false, 0);
        ck_assert_str_eq(test_report_status(second, 0), "up_to_date");
        ck_assert_uint_eq(n_changes(second, 0), 0);
        ck_assert_int_eq(lstat(p, &st2), 0);
        assert_same_file(&st, &st2);
        ck_assert_int_eq(st.st_ctim.tv_nsec, st2.st_ctim.tv_nsec);
}
END_TEST

START_TEST(why_run_changes_nothing) {
        _cleanup_free_ char *p = out_path("d");
        _cleanup_json_ json_object *report = NULL;

        report = run(create_yaml, true, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        ck_assert_uint_eq(n_changes(report, 0), 1);
        ck_assert_int_eq(access(p, F_OK), -1);
        ck_assert_int_eq(errno, ENOENT);
}
END_TEST

START_TEST(default_mode_ignores_umask) {
        _cleanup_free_ char *p = out_path("plain");
        _cleanup_json_ json_object *report = NULL;
        mode_t old = umask(0077);
        struct stat st;

        report = run("- directory: {path: '{{out}}/plain'}\n", false, 0);
        umask(old);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0755);
        ck_assert_uint_eq(st.st_uid, 0);
        ck_assert_uint_eq(st.st_gid, 0);
}
END_TEST

START_TEST(attributes_of_existing) {
        _cleanup_free_ char *p = out_path("d"), *want1 = NULL, *want2 = NULL;
        _cleanup_json_ json_object *report = NULL;
        struct stat st, st2;

        ck_assert_int_eq(mkdir(p, 0700), 0);
        ck_assert_int_eq(chmod(p, 0700), 0);
        ck_assert_int_eq(lstat(p, &st), 0);
        report = run(create_yaml, false, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        want1 = strf("change ownership of %s to strata:nogroup", p);
        want2 = strf("change mode of %s from 0700 to 2750", p);
        ck_assert_uint_eq(n_changes(report, 0), 2);
        ck_assert_str_eq(change(report, 0, 0), want1);
        ck_assert_str_eq(change(report, 0, 1), want2);
        ck_assert_int_eq(lstat(p, &st2), 0);
        ck_assert_uint_eq(st.st_ino, st2.st_ino);
        ck_assert_uint_eq(st2.st_mode & 07777, 02750);
        ck_assert_uint_eq(st2.st_uid, strata_uid());
}
END_TEST

START_TEST(recursive_create) {
        _cleanup_free_ char *a = out_path("a"), *ab = out_path("a/b"), *abc = out_path("a/b/c");
        _cleanup_json_ json_object *report = NULL;
        struct stat st;

        report = run("- directory: {path: '{{out}}/a/b/c', recursive: true, mode: '0700', "
                     "owner: strata}\n",
                     false, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        ck_assert_uint_eq(n_changes(report, 0), 1);
        /* Parents as mkdir -p makes them; attributes only on the leaf. */
        ck_assert_int_eq(lstat(a, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0755);
        ck_assert_uint_eq(st.st_uid, 0);
        ck_assert_int_eq(lstat(ab, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0755);
        ck_assert_int_eq(lstat(abc, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0700);
        ck_assert_uint_eq(st.st_uid, strata_uid());
}
END_TEST

START_TEST(missing_parent_without_recursive) {
        _cleanup_free_ char *p = out_path("a/b"), *want = NULL;
        _cleanup_json_ json_object *report = NULL;

        report = run("- directory: {path: '{{out}}/a/b'}\n", false, 1);
        ck_assert_str_eq(test_report_status(report, 0), "failed");
        want = strf("cannot create %s: its parent does not exist (set recursive: true to create "
                    "it)",
                    p);
        ck_assert_str_eq(error_of(report, 0), want);
}
END_TEST

START_TEST(file_in_the_way) {
        _cleanup_free_ char *p = out_path("f"), *want = NULL, *data = NULL;
        _cleanup_json_ json_object *report = NULL;

        test_write(p, "data");
        report = run("- directory: {path: '{{out}}/f'}\n", false, 1);
        want = strf("%s exists and is not a directory", p);
        ck_assert_str_eq(error_of(report, 0), want);
        data = test_read(p);
        ck_assert_str_eq(data, "data");
}
END_TEST

START_TEST(symlink_to_directory) {
        _cleanup_free_ char *p = out_path("l"), *t = out_path("t");
        _cleanup_json_ json_object *report = NULL;
        struct stat st;

        ck_assert_int_eq(mkdir(t, 0755), 0);
        ck_assert_int_eq(symlink("t", p), 0);
        report = run("- directory: {path: '{{out}}/l', mode: '0750'}\n", false, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert(S_ISLNK(st.st_mode));
        ck_assert_int_eq(lstat(t, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0750);
}
END_TEST

START_TEST(delete_empty_and_tree) {
        _cleanup_free_ char *e = out_path("empty"), *t = out_path("tree"), *f = NULL;
        _cleanup_json_ json_object *r1 = NULL, *r2 = NULL, *r3 = NULL, *r4 = NULL;
        _cleanup_free_ char *want = NULL;
        static const char tree_yaml[] =
                "- directory: {path: '{{out}}/tree', action: delete, recursive: true}\n";

        ck_assert_int_eq(mkdir(e, 0755), 0);
        f = strf("%s/sub/file", t);
        test_write(f, "x");

        r1 = run("- directory: {path: '{{out}}/empty', action: delete}\n"
                 "- directory: {path: '{{out}}/tree', action: delete, ignore_failure: true}\n",
                 false, 0);
        ck_assert_str_eq(test_report_status(r1, 0), "changed");
        ck_assert_int_eq(access(e, F_OK), -1);
        want = strf("cannot delete %s: it is not empty (set recursive: true to delete the tree)",
                    t);
        ck_assert_str_eq(error_of(r1, 1), want);
        ck_assert_int_eq(access(f, F_OK), 0);

        r2 = run(tree_yaml, true, 0);
        ck_assert_str_eq(test_report_status(r2, 0), "changed");
        ck_assert_int_eq(access(f, F_OK), 0);

        r3 = run(tree_yaml, false, 0);
        ck_assert_str_eq(test_report_status(r3, 0), "changed");
        ck_assert_int_eq(access(t, F_OK), -1);

        r4 = run(tree_yaml, false, 0);
        ck_assert_str_eq(test_report_status(r4, 0), "up_to_date");
}
END_TEST

START_TEST(delete_refuses_file_and_symlink) {
        _cleanup_free_ char *f = out_path("f"), *l = out_path("l"), *t = out_path("t");
        _cleanup_json_ json_object *r1 = NULL, *r2 = NULL;

        test_write(f, "x");
        ck_assert_int_eq(mkdir(t, 0755), 0);
        ck_assert_int_eq(symlink(t, l), 0);
        r1 = run("- directory: {path: '{{out}}/f', action: delete, recursive: true}\n", false, 1);
        ck_assert_ptr_nonnull(strstr(error_of(r1, 0), "is not a directory; refusing to delete"));
        ck_assert_int_eq(access(f, F_OK), 0);
        r2 = run("- directory: {path: '{{out}}/l', action: delete, recursive: true}\n", false, 1);
        ck_assert_ptr_nonnull(strstr(error_of(r2, 0), "is not a directory; refusing to delete"));
        ck_assert_int_eq(access(t, F_OK), 0);
}
END_TEST

START_TEST(bad_properties) {
        expect_error("- directory: {path: /tmp/a}\n"
                     "- directory:\n    path: /tmp/b\n    parents: true\n",
                     "recipes/default.yaml:2:", "unknown property 'parents'");
        expect_error("- directory: {path: /tmp/a, recursive: maybe}\n", "recipes/default.yaml:1:",
                     "property 'recursive' must be");
        expect_error("- directory: {mode: '0755'}\n", "recipes/default.yaml:1:",
                     "property 'path' is required");
        expect_error("- directory: {path: tmp/a}\n", "recipes/default.yaml:1:",
                     "path 'tmp/a' must be absolute");
        expect_error("- directory: {path: /tmp/a/}\n", "recipes/default.yaml:1:",
                     "without a trailing or doubled slash");
        expect_error("- directory: {path: /tmp/a, mode: '17777'}\n", "recipes/default.yaml:1:",
                     "property 'mode' must be");
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("res-directory");
        TCase *tc = tcase_create("directory");

        tcase_add_checked_fixture(tc, setup, teardown);
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
