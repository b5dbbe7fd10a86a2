/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "fs-util.h"
#include "json-util.h"
#include "str-util.h"
#include "test-helpers.h"

char *test_tmpdir(void) {
        const char *base = getenv("TMPDIR") ?: "/tmp";
        char *d = strf("%s/strata-test-XXXXXX", base);

        ck_assert_ptr_nonnull(d);
        ck_assert_ptr_nonnull(mkdtemp(d));
        ck_assert_int_eq(chmod(d, 0755), 0);
        return d;
}

void test_rmdir(const char *dir) {
        if (dir)
                ck_assert_int_ge(rm_rf(dir), 0);
}

void test_write(const char *path, const char *content) {
        _cleanup_free_ char *parent = strdup(path);
        _cleanup_fclose_ FILE *f = NULL;

        ck_assert_ptr_nonnull(parent);
        *strrchr(parent, '/') = 0;
        ck_assert_int_ge(mkdir_parents(parent, 0755), 0);
        f = fopen(path, "we");
        ck_assert_msg(f, "cannot write %s", path);
        ck_assert_int_eq(fputs(content, f) >= 0, 1);
}

char *test_read(const char *path) {
        char *s = NULL;

        if (read_full_file(path, 64U * 1024U * 1024U, &s, NULL) < 0)
                return NULL;
        return s;
}

void test_cookbook(const char *dir, const char *cookbook, const char *recipe, const char *yaml) {
        _cleanup_free_ char *meta = strf("%s/%s/metadata.yaml", dir, cookbook);
        _cleanup_free_ char *rec = strf("%s/%s/recipes/%s.yaml", dir, cookbook, recipe);
        _cleanup_free_ char *metadata = strf("name: %s\nversion: 1.0.0\n", cookbook);

        ck_assert_ptr_nonnull(meta);
        ck_assert_ptr_nonnull(rec);
        test_write(meta, metadata);
        test_write(rec, yaml);
}

int test_converge(const char *cookbooks, const char *run_list_item, json_object *attributes,
                  bool why_run, json_object **ret_report, char **ret_error) {
        char *path[] = { (char *) cookbooks, NULL };
        char *run_list[] = { (char *) run_list_item, NULL };
        _cleanup_free_ char *cache = strf("%s/.cache", cookbooks);
        RuntimeConfig cfg = {
                .cookbook_path = path,
                .run_as = TEST_USER,
                .why_run = why_run,
                .cache_dir = cache,
        };
        ConvergeRequest req = {
                .run_list = run_list,
                .attributes = &attributes,
                .n_attributes = attributes ? 1 : 0,
        };
        json_object *report = NULL;
        int r;

        *ret_report = NULL;
        if (ret_error)
                *ret_error = NULL;
        r = converge(&cfg, &req, &report, NULL, ret_error);
        if (r >= 0) {
                *ret_report = report;
                if (getenv("STRATA_TEST_VERBOSE"))
                        fprintf(stderr, "%s\n",
                                json_object_to_json_string_ext(report, JSON_C_TO_STRING_PRETTY));
        } else if (ret_error && *ret_error && getenv("STRATA_TEST_VERBOSE"))
                fprintf(stderr, "converge: %s\n", *ret_error);
        return r;
}

const char *test_report_status(json_object *report, size_t n) {
        json_object *resources = json_object_object_get(report, "resources");
        json_object *e = json_object_array_get_idx(resources, n);

        return e ? json_get_string(e, "status") : NULL;
}

int test_report_total(json_object *report, const char *which) {
        json_object *totals = json_object_object_get(report, "totals");

        return json_object_get_int(json_object_object_get(totals, which));
}

const char *test_conformance_dir(void) {
        const char *d = getenv("STRATA_CONFORMANCE_DIR");

        ck_assert_msg(d, "STRATA_CONFORMANCE_DIR is not set (run through meson test)");
        return d;
}

uid_t test_user_uid(void) {
        struct passwd *pw = getpwnam(TEST_USER);

        ck_assert_ptr_nonnull(pw);
        return pw->pw_uid;
}

gid_t test_nogroup_gid(void) {
        struct group *gr = getgrnam("nogroup");

        ck_assert_ptr_nonnull(gr);
        return gr->gr_gid;
}

char *test_cookbooks;
char *test_out;

void test_recipe_setup(void) {
        test_cookbooks = test_tmpdir();
        test_out = test_tmpdir();
}

void test_recipe_setup_writable(void) {
        test_recipe_setup();
        ck_assert_int_eq(chmod(test_out, 0777), 0);
}

void test_recipe_teardown(void) {
        test_rmdir(test_cookbooks);
        test_rmdir(test_out);
        test_cookbooks = mfree(test_cookbooks);
        test_out = mfree(test_out);
}

char *test_out_path(const char *name) {
        char *p = strf("%s/%s", test_out, name);

        ck_assert_ptr_nonnull(p);
        return p;
}

json_object *test_out_attributes(void) {
        json_object *a = json_object_new_object();

        ck_assert_ptr_nonnull(a);
        json_object_object_add(a, "out", json_object_new_string(test_out));
        return a;
}

json_object *test_run_recipe(const char *yaml, bool why_run, int expect) {
        _cleanup_json_ json_object *a = test_out_attributes();

        return test_run_recipe_with(yaml, a, why_run, expect);
}

json_object *test_run_recipe_with(const char *yaml, json_object *attributes, bool why_run,
                                  int expect) {
        _cleanup_free_ char *error = NULL;
        json_object *report = NULL;

        test_cookbook(test_cookbooks, "cb", "default", yaml);
        ck_assert_int_eq(test_converge(test_cookbooks, "cb", attributes, why_run, &report, &error),
                         expect);
        ck_assert_ptr_nonnull(report);
        return report;
}

char *test_compile_error(const char *yaml, json_object *attributes) {
        _cleanup_json_ json_object *report = NULL;
        char *error = NULL;

        test_cookbook(test_cookbooks, "cb", "default", yaml);
        ck_assert_int_lt(test_converge(test_cookbooks, "cb", attributes, false, &report, &error),
                         0);
        ck_assert_ptr_null(report);
        ck_assert_ptr_nonnull(error);
        return error;
}

void test_expect_error(const char *yaml, const char *needle1, const char *needle2) {
        _cleanup_free_ char *error = test_compile_error(yaml, NULL);

        ck_assert_msg(strstr(error, needle1), "error '%s' does not contain '%s'", error, needle1);
        ck_assert_msg(strstr(error, needle2), "error '%s' does not contain '%s'", error, needle2);
}

void test_expect_error_ending(const char *yaml, const char *suffix) {
        _cleanup_free_ char *error = test_compile_error(yaml, NULL);

        ck_assert_msg(endswith(error, suffix), "error '%s' does not end with '%s'", error, suffix);
}

json_object *test_report_entry(json_object *report, size_t n) {
        json_object *e = json_object_array_get_idx(json_object_object_get(report, "resources"), n);

        ck_assert_ptr_nonnull(e);
        return e;
}

const char *test_report_field(json_object *report, size_t n, const char *key) {
        return json_object_get_string(json_object_object_get(test_report_entry(report, n), key));
}

const char *test_report_error(json_object *report, size_t n) {
        return test_report_field(report, n, "error");
}

const char *test_report_change(json_object *report, size_t n, size_t i) {
        json_object *changes = json_object_object_get(test_report_entry(report, n), "changes");

        return json_object_get_string(json_object_array_get_idx(changes, i));
}

size_t test_report_n_changes(json_object *report, size_t n) {
        json_object *changes = json_object_object_get(test_report_entry(report, n), "changes");

        return changes ? json_object_array_length(changes) : 0;
}

const char *test_report_json(json_object *report, size_t n, const char *key) {
        return json_object_to_json_string_ext(
                json_object_object_get(test_report_entry(report, n), key),
                JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

void test_assert_file(const char *path, const char *content, mode_t mode, uid_t uid, gid_t gid) {
        _cleanup_free_ char *got = test_read(path);
        struct stat st;

        ck_assert_ptr_nonnull(got);
        ck_assert_str_eq(got, content);
        ck_assert_int_eq(lstat(path, &st), 0);
        ck_assert(S_ISREG(st.st_mode));
        ck_assert_uint_eq(st.st_mode & 07777, mode);
        ck_assert_uint_eq(st.st_uid, uid);
        ck_assert_uint_eq(st.st_gid, gid);
}

void test_assert_same_file(const struct stat *a, const struct stat *b) {
        ck_assert_uint_eq(a->st_ino, b->st_ino);
        ck_assert_int_eq(a->st_mtim.tv_sec, b->st_mtim.tv_sec);
        ck_assert_int_eq(a->st_mtim.tv_nsec, b->st_mtim.tv_nsec);
        ck_assert_uint_eq(a->st_mode, b->st_mode);
        ck_assert_uint_eq(a->st_uid, b->st_uid);
        ck_assert_uint_eq(a->st_gid, b->st_gid);
}

void test_assert_out_entries(size_t n) {
        DIR *d = opendir(test_out);
        struct dirent *de;
        size_t found = 0;

        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        found++;
        closedir(d);
        ck_assert_uint_eq(found, n);
}

/* One lock per test program: its suite holds it from setup to teardown. */
static int machine_lock_fd = -1;

void test_lock_machine(const char *name) {
        _cleanup_free_ char *path = strf("/run/lock/%s", name);

        ck_assert_ptr_nonnull(path);
        machine_lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        ck_assert_int_ge(machine_lock_fd, 0);
        ck_assert_int_eq(flock(machine_lock_fd, LOCK_EX), 0);
}

void test_unlock_machine(void) {
        close(machine_lock_fd);
        machine_lock_fd = -1;
}

void test_adopt_orphans(void) {
        ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
}

/* The parent pid of a process, from /proc/<pid>/stat ("pid (comm) state ppid ..."). */
static pid_t parent_of(const char *pid) {
        _cleanup_free_ char *path = strf("/proc/%s/stat", pid), *stat = NULL;
        char *p, *end;
        int64_t ppid;

        stat = path ? test_read(path) : NULL;
        p = stat ? strrchr(stat, ')') : NULL;
        if (!p || strlen(p) < 5)
                return 0;
        p += 4;
        end = strchr(p, ' ');
        if (end)
                *end = 0;
        return parse_int64(p, &ppid) < 0 ? 0 : (pid_t)ppid;
}

void test_kill_orphans(void) {
        DIR *d = opendir("/proc");
        struct dirent *de;
        int64_t pid;

        while (d && (de = readdir(d)))
                if (parse_int64(de->d_name, &pid) >= 0 && parent_of(de->d_name) == getpid())
                        (void)kill((pid_t)pid, SIGKILL);
        if (d)
                closedir(d);
        while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
                ;
}

int test_run_suite(Suite *s) {
        SRunner *sr = srunner_create(s);
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
