/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <fcntl.h>
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

static char *link_target(const char *path) {
        char buf[4096];
        ssize_t n = readlink(path, buf, sizeof(buf) - 1);

        ck_assert_int_ge(n, 0);
        buf[n] = 0;
        return strdup(buf);
}

/* Temporary names must not be left behind in out. */
static void assert_entries(size_t n) {
        DIR *d = opendir(out);
        struct dirent *de;
        size_t found = 0;

        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        found++;
        closedir(d);
        ck_assert_uint_eq(found, n);
}

static const char create_yaml[] =
        "- link:\n"
        "    path: '{{out}}/current'\n"
        "    to: releases/1\n"
        "    owner: strata\n"
        "    group: nogroup\n";

START_TEST(create_then_up_to_date) {
        _cleanup_free_ char *p = out_path("current"), *t = NULL, *want = NULL;
        _cleanup_json_ json_object *first = NULL, *second = NULL;
        struct stat st, st2;

        first = run(create_yaml, false, 0);
        ck_assert_str_eq(test_report_status(first, 0), "changed");
        want = strf("create symbolic link %s -> releases/1", p);
        ck_assert_str_eq(change(first, 0, 0), want);
        ck_assert_uint_eq(n_changes(first, 0), 1);

        t = link_target(p);
        ck_assert_str_eq(t, "releases/1");
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert(S_ISLNK(st.st_mode));
        ck_assert_uint_eq(st.st_uid, strata_uid());
        ck_assert_uint_eq(st.st_gid, nogroup_gid());
        assert_entries(1);

        second = run(create_yaml, false, 0);
        ck_assert_str_eq(test_report_status(second, 0), "up_to_date");
        ck_assert_uint_eq(n_changes(second, 0), 0);
        ck_assert_int_eq(lstat(p, &st2), 0);
        assert_same_file(&st, &st2);
}
END_TEST

START_TEST(why_run_changes_nothing) {
        _cleanup_free_ char *p = out_path("current");
        _cleanup_json_ json_object *report = NULL;

        report = run(create_yaml, true, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        ck_assert_uint_eq(n_changes(report, 0), 1);
        ck_assert_int_eq(access(p, F_OK), -1);
        assert_entries(0);
}
END_TEST

START_TEST(switch_target) {
        _cleanup_free_ char *p = out_path("current"), *t = NULL, *want = NULL;
        _cleanup_json_ json_object *report = NULL;
        struct stat st;

        ck_assert_int_eq(symlink("releases/0", p), 0);
        report = run(create_yaml, false, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        want = strf("change symbolic link %s -> releases/1 (was -> releases/0)", p);
        ck_assert_str_eq(change(report, 0, 0), want);
        t = link_target(p);
        ck_assert_str_eq(t, "releases/1");
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert_uint_eq(st.st_uid, strata_uid());
        assert_entries(1);
}
END_TEST

START_TEST(owner_of_existing_link) {
        _cleanup_free_ char *p = out_path("current"), *want = NULL;
        _cleanup_json_ json_object *report = NULL;
        struct stat st, st2;

        ck_assert_int_eq(symlink("releases/1", p), 0);
        ck_assert_int_eq(lstat(p, &st), 0);
        report = run(create_yaml, false, 0);
        want = strf("change ownership of %s to strata:nogroup", p);
        ck_assert_str_eq(change(report, 0, 0), want);
        ck_assert_int_eq(lstat(p, &st2), 0);
        ck_assert_uint_eq(st.st_ino, st2.st_ino);
        ck_assert_uint_eq(st2.st_uid, strata_uid());
        ck_assert_uint_eq(st2.st_gid, nogroup_gid());
}
END_TEST

START_TEST(file_is_replaced) {
        _cleanup_free_ char *p = out_path("current"), *t = NULL, *want = NULL;
        _cleanup_json_ json_object *report = NULL;

        test_write(p, "a file\n");
        report = run(create_yaml, false, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        want = strf("replace %s with a symbolic link -> releases/1", p);
        ck_assert_str_eq(change(report, 0, 0), want);
        t = link_target(p);
        ck_assert_str_eq(t, "releases/1");
        assert_entries(1);
}
END_TEST

START_TEST(directory_is_refused) {
        _cleanup_free_ char *p = out_path("current"), *want = NULL;
        _cleanup_json_ json_object *report = NULL;
        struct stat st;

        ck_assert_int_eq(mkdir(p, 0755), 0);
        report = run(create_yaml, false, 1);
        want = strf("%s is a directory; refusing to replace it with a link", p);
        ck_assert_str_eq(error_of(report, 0), want);
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        assert_entries(1);
}
END_TEST

START_TEST(hard_link) {
        _cleanup_free_ char *p = out_path("hard"), *t = out_path("data"), *want = NULL;
        _cleanup_json_ json_object *first = NULL, *second = NULL, *third = NULL;
        struct stat sp, st, sp2;
        static const char yaml[] = "- link: {path: '{{out}}/hard', to: data, link_type: hard}\n";

        test_write(t, "shared bytes");
        first = run(yaml, false, 0);
        ck_assert_str_eq(test_report_status(first, 0), "changed");
        want = strf("create hard link %s -> data", p);
        ck_assert_str_eq(change(first, 0, 0), want);
        ck_assert_int_eq(lstat(p, &sp), 0);
        ck_assert_int_eq(lstat(t, &st), 0);
        ck_assert(S_ISREG(sp.st_mode));
        ck_assert_uint_eq(sp.st_ino, st.st_ino);
        ck_assert_uint_eq(sp.st_nlink, 2);

        second = run(yaml, false, 0);
        ck_assert_str_eq(test_report_status(second, 0), "up_to_date");
        ck_assert_int_eq(lstat(p, &sp2), 0);
        assert_same_file(&sp, &sp2);

        third = run("- link: {path: '{{out}}/hard', link_type: hard, action: delete}\n", false, 0);
        ck_assert_str_eq(test_report_status(third, 0), "changed");
        ck_assert_int_eq(access(p, F_OK), -1);
        ck_assert_int_eq(access(t, F_OK), 0);
}
END_TEST

START_TEST(hard_link_replaces_other_file) {
        _cleanup_free_ char *p = out_path("hard"), *t = out_path("data");
        _cleanup_json_ json_object *report = NULL;
        struct stat sp, st;

        test_write(t, "new");
        test_write(p, "old");
        report = run("- link: {path: '{{out}}/hard', to: '{{out}}/data', link_type: hard}\n",
                     false, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        ck_assert_int_eq(lstat(p, &sp), 0);
        ck_assert_int_eq(lstat(t, &st), 0);
        ck_assert_uint_eq(sp.st_ino, st.st_ino);
        assert_entries(2);
}
END_TEST

START_TEST(delete_symlink) {
        _cleanup_free_ char *p = out_path("current"), *f = out_path("file");
        _cleanup_json_ json_object *why = NULL, *first = NULL, *second = NULL, *refused = NULL;
        static const char yaml[] = "- link: {path: '{{out}}/current', action: delete}\n";

        ck_assert_int_eq(symlink("releases/1", p), 0);
        why = run(yaml, true, 0);
        ck_assert_str_eq(test_report_status(why, 0), "changed");
        ck_assert_int_eq(faccessat(AT_FDCWD, p, F_OK, AT_SYMLINK_NOFOLLOW), 0);

        first = run(yaml, false, 0);
        ck_assert_str_eq(test_report_status(first, 0), "changed");
        ck_assert_int_eq(faccessat(AT_FDCWD, p, F_OK, AT_SYMLINK_NOFOLLOW), -1);
        second = run(yaml, false, 0);
        ck_assert_str_eq(test_report_status(second, 0), "up_to_date");

        test_write(f, "data");
        refused = run("- link: {path: '{{out}}/file', action: delete}\n", false, 1);
        ck_assert_ptr_nonnull(strstr(error_of(refused, 0), "is not a symbolic link"));
        ck_assert_int_eq(access(f, F_OK), 0);
}
END_TEST

START_TEST(bad_properties) {
        expect_error("- link: {path: /tmp/a, to: b}\n- link:\n    path: /tmp/b\n    target: c\n",
                     "recipes/default.yaml:2:", "unknown property 'target'");
        expect_error("- link: {path: /tmp/a}\n", "recipes/default.yaml:1:",
                     "property 'to' is required to create a link");
        expect_error("- link: {path: /tmp/a, to: b, link_type: soft}\n", "recipes/default.yaml:1:",
                     "link_type 'soft' must be symbolic or hard");
        expect_error("- link: {to: b}\n", "recipes/default.yaml:1:", "property 'path' is required");
        expect_error("- link: {path: /tmp/a, to: {x: 1}}\n", "recipes/default.yaml:1:",
                     "property 'to' must be a string");
        expect_error("- link: {path: a, to: b}\n", "recipes/default.yaml:1:",
                     "path 'a' must be absolute");
        expect_error("- link: {path: /tmp/a, to: b, mode: '0777'}\n", "recipes/default.yaml:1:",
                     "unknown property 'mode'");
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("res-link");
        TCase *tc = tcase_create("link");

        tcase_add_checked_fixture(tc, setup, teardown);
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
