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

static void write_template(const char *name, const char *text) {
        _cleanup_free_ char *p = strf("%s/cb/templates/%s", dir, name);

        ck_assert_ptr_nonnull(p);
        test_write(p, text);
}

/* Runs cb::default with node attributes out, name and port (which `variables` shadow) and
 * returns its report; r is what converge must return. */
static json_object *run(const char *yaml, bool why_run, int r) {
        _cleanup_json_ json_object *a = json_object_new_object();
        _cleanup_free_ char *error = NULL;
        json_object *report = NULL;

        json_object_object_add(a, "out", json_object_new_string(out));
        json_object_object_add(a, "name", json_object_new_string("<web&co>"));
        json_object_object_add(a, "port", json_object_new_int(1));
        test_cookbook(dir, "cb", "default", yaml);
        ck_assert_int_eq(test_converge(dir, "cb", a, why_run, &report, &error), r);
        ck_assert_ptr_nonnull(report);
        return report;
}

static const char site_yaml[] =
        "- template:\n"
        "    path: '{{out}}/site.conf'\n"
        "    source: site.conf.mustache\n"
        "    variables: {port: 8080, hosts: [a, b]}\n"
        "    owner: strata\n"
        "    group: nogroup\n"
        "    mode: '0640'\n";

static void write_site(void) {
        write_template("site.conf.mustache",
                       "server {{name}} {{{name}}}:{{port}}\n"
                       "{{#hosts}}\n"
                       "  host {{.}}\n"
                       "{{/hosts}}\n"
                       "{{> footer}}");
        write_template("footer.mustache", "# {{out}}\n");
}

START_TEST(render_then_up_to_date) {
        _cleanup_free_ char *p = out_path("site.conf"), *data = NULL, *want = NULL;
        _cleanup_json_ json_object *first = NULL, *second = NULL;
        struct stat st, st2;

        write_site();
        first = run(site_yaml, false, 0);
        ck_assert_str_eq(test_report_status(first, 0), "changed");
        want = strf("create file %s", p);
        ck_assert_str_eq(change(first, 0, 0), want);

        data = test_read(p);
        free(want);
        want = strf("server &lt;web&amp;co&gt; <web&co>:8080\n"
                    "  host a\n"
                    "  host b\n"
                    "# %s\n",
                    out);
        ck_assert_str_eq(data, want);
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0640);
        ck_assert_uint_eq(st.st_uid, strata_uid());
        ck_assert_uint_eq(st.st_gid, nogroup_gid());

        second = run(site_yaml, false, 0);
        ck_assert_str_eq(test_report_status(second, 0), "up_to_date");
        ck_assert_uint_eq(n_changes(second, 0), 0);
        ck_assert_int_eq(lstat(p, &st2), 0);
        assert_same_file(&st, &st2);
}
END_TEST

START_TEST(why_run_changes_nothing) {
        _cleanup_free_ char *p = out_path("site.conf");
        _cleanup_json_ json_object *report = NULL;

        write_site();
        report = run(site_yaml, true, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        ck_assert_uint_eq(n_changes(report, 0), 1);
        ck_assert_int_eq(access(p, F_OK), -1);
        ck_assert_int_eq(errno, ENOENT);
}
END_TEST

START_TEST(rerender_after_template_change) {
        _cleanup_free_ char *p = out_path("v.conf"), *data = NULL, *want = NULL;
        _cleanup_json_ json_object *first = NULL, *second = NULL;
        static const char yaml[] = "- template: {path: '{{out}}/v.conf', source: v}\n";

        write_template("v", "port={{port}}\n");
        first = run(yaml, false, 0);
        ck_assert_str_eq(test_report_status(first, 0), "changed");
        data = test_read(p);
        ck_assert_str_eq(data, "port=1\n");

        /* Now the template text changes, as a new cookbook revision would. */
        write_template("v", "port={{port}};\n");
        second = run(yaml, false, 0);
        ck_assert_str_eq(test_report_status(second, 0), "changed");
        want = strf("update content of %s", p);
        ck_assert_str_eq(change(second, 0, 0), want);
        free(data);
        data = test_read(p);
        ck_assert_str_eq(data, "port=1;\n");
}
END_TEST

START_TEST(for_each_item_and_key) {
        _cleanup_free_ char *a = out_path("a.conf"), *b = out_path("b.conf");
        _cleanup_free_ char *da = NULL, *db = NULL;
        _cleanup_json_ json_object *report = NULL;

        write_template("item.mustache", "{{key}}={{item}} {{extra}}\n{{> plain}}");
        write_template("plain", "partial without extension\n");
        report = run("- template:\n"
                     "    for_each: [a, b]\n"
                     "    path: '{{out}}/{{item}}.conf'\n"
                     "    source: item.mustache\n"
                     "    variables: {extra: '{{item}}!'}\n",
                     false, 0);
        ck_assert_int_eq(test_report_total(report, "changed"), 2);
        da = test_read(a);
        db = test_read(b);
        ck_assert_str_eq(da, "0=a a!\npartial without extension\n");
        ck_assert_str_eq(db, "1=b b!\npartial without extension\n");
}
END_TEST

START_TEST(template_error_names_file_line) {
        _cleanup_free_ char *p = out_path("bad.conf"), *want = NULL;
        _cleanup_json_ json_object *report = NULL;
        const char *error;

        write_template("bad.mustache", "line one\n{{#open}}\nno close\n");
        report = run("- template: {path: '{{out}}/bad.conf', source: bad.mustache}\n", false, 1);
        ck_assert_str_eq(test_report_status(report, 0), "failed");
        error = error_of(report, 0);
        want = strf("%s/cb/templates/bad.mustache:2:", dir);
        ck_assert_msg(strstr(error, want), "error '%s' does not name %s", error, want);
        ck_assert_int_eq(access(p, F_OK), -1);
}
END_TEST

START_TEST(directory_in_the_way) {
        _cleanup_free_ char *p = out_path("d"), *want = NULL;
        _cleanup_json_ json_object *report = NULL;

        write_template("v", "x\n");
        ck_assert_int_eq(mkdir(p, 0755), 0);
        report = run("- template: {path: '{{out}}/d', source: v}\n", false, 1);
        want = strf("%s is a directory, not a file", p);
        ck_assert_str_eq(error_of(report, 0), want);
}
END_TEST

START_TEST(bad_properties) {
        write_template("v", "x\n");
        expect_error("- template: {path: /tmp/a, source: v}\n- template:\n    path: /tmp/b\n"
                     "    source: v\n    content: x\n",
                     "recipes/default.yaml:2:", "unknown property 'content'");
        expect_error("- template: {path: /tmp/a}\n", "recipes/default.yaml:1:",
                     "property 'source' is required");
        expect_error("\n\n- template: {path: /tmp/a, source: nope.mustache}\n",
                     "recipes/default.yaml:3:", "has no templates/nope.mustache");
        expect_error("- template: {path: /tmp/a, source: v, variables: [1]}\n",
                     "recipes/default.yaml:1:", "variables must be a mapping");
        expect_error("- template: {path: /tmp/a, source: v, owner: [a]}\n",
                     "recipes/default.yaml:1:", "property 'owner' must be a string");
        expect_error("- template: {path: /tmp/a, source: ../../etc/passwd}\n",
                     "recipes/default.yaml:1:", "must be a relative name inside");
        expect_error("- template: {path: /tmp/a, source: v, action: delete}\n",
                     "recipes/default.yaml:1:", "unknown action 'delete'");
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("res-template");
        TCase *tc = tcase_create("template");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, render_then_up_to_date);
        tcase_add_test(tc, why_run_changes_nothing);
        tcase_add_test(tc, rerender_after_template_change);
        tcase_add_test(tc, for_each_item_and_key);
        tcase_add_test(tc, template_error_names_file_line);
        tcase_add_test(tc, directory_in_the_way);
        tcase_add_test(tc, bad_properties);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
