/* SPDX-License-Identifier: MIT */
#include <sys/stat.h>

#include "str-util.h"
#include "test-helpers.h"

static void write_template(const char *name, const char *text) {
        _cleanup_free_ char *p = strf("%s/cb/templates/%s", test_cookbooks, name);

        ck_assert_ptr_nonnull(p);
        test_write(p, text);
}

/* Runs cb::default with node attributes out, name and port (which `variables` shadow) and
 * returns its report; r is what converge must return. */
static json_object *run(const char *yaml, bool why_run, int r) {
        _cleanup_json_ json_object *a = test_out_attributes();

        json_object_object_add(a, "name", json_object_new_string("<web&co>"));
        json_object_object_add(a, "port", json_object_new_int(1));
        return test_run_recipe_with(yaml, a, why_run, r);
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
        _cleanup_free_ char *p = test_out_path("site.conf"), *data = NULL, *want = NULL;
        _cleanup_json_ json_object *first = NULL, *second = NULL;
        struct stat st, st2;

        write_site();
        first = run(site_yaml, false, 0);
        ck_assert_str_eq(test_report_status(first, 0), "changed");
        want = strf("create file %s", p);
        ck_assert_str_eq(test_report_change(first, 0, 0), want);

        data = test_read(p);
        free(want);
        want = strf("server &lt;web&amp;co&gt; <web&co>:8080\n"
                    "  host a\n"
                    "  host b\n"
                    "# %s\n",
                    test_out);
        ck_assert_str_eq(data, want);
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0640);
        ck_assert_uint_eq(st.st_uid, test_user_uid());
        ck_assert_uint_eq(st.st_gid, test_nogroup_gid());

        second = run(site_yaml, false, 0);
        ck_assert_str_eq(test_report_status(second, 0), "up_to_date");
        ck_assert_uint_eq(test_report_n_changes(second, 0), 0);
        ck_assert_int_eq(lstat(p, &st2), 0);
        test_assert_same_file(&st, &st2);
}
END_TEST

START_TEST(why_run_changes_nothing) {
        _cleanup_free_ char *p = test_out_path("site.conf");
        _cleanup_json_ json_object *report = NULL;

        write_site();
        report = run(site_yaml, true, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        ck_assert_uint_eq(test_report_n_changes(report, 0), 1);
        ck_assert_int_eq(access(p, F_OK), -1);
        ck_assert_int_eq(errno, ENOENT);
}
END_TEST

START_TEST(rerender_after_template_change) {
        _cleanup_free_ char *p = test_out_path("v.conf"), *data = NULL, *want = NULL;
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
        ck_assert_str_eq(test_report_change(second, 0, 0), want);
        free(data);
        data = test_read(p);
        ck_assert_str_eq(data, "port=1;\n");
}
END_TEST

START_TEST(for_each_item_and_key) {
        _cleanup_free_ char *a = test_out_path("a.conf"), *b = test_out_path("b.conf");
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
        _cleanup_free_ char *p = test_out_path("bad.conf"), *want = NULL;
        _cleanup_json_ json_object *report = NULL;
        const char *error;

        write_template("bad.mustache", "line one\n{{#open}}\nno close\n");
        report = run("- template: {path: '{{out}}/bad.conf', source: bad.mustache}\n", false, 1);
        ck_assert_str_eq(test_report_status(report, 0), "failed");
        error = test_report_error(report, 0);
        want = strf("%s/cb/templates/bad.mustache:2:", test_cookbooks);
        ck_assert_msg(strstr(error, want), "error '%s' does not name %s", error, want);
        ck_assert_int_eq(access(p, F_OK), -1);
}
END_TEST

START_TEST(directory_in_the_way) {
        _cleanup_free_ char *p = test_out_path("d"), *want = NULL;
        _cleanup_json_ json_object *report = NULL;

        write_template("v", "x\n");
        ck_assert_int_eq(mkdir(p, 0755), 0);
        report = run("- template: {path: '{{out}}/d', source: v}\n", false, 1);
        want = strf("%s is a directory, not a file", p);
        ck_assert_str_eq(test_report_error(report, 0), want);
}
END_TEST

START_TEST(bad_properties) {
        write_template("v", "x\n");
        test_expect_error("- template: {path: /tmp/a, source: v}\n- template:\n    path: /tmp/b\n"
                          "    source: v\n    content: x\n",
                          "recipes/default.yaml:2:", "unknown property 'content'");
        test_expect_error("- template: {path: /tmp/a}\n",
                          "recipes/default.yaml:1:", "property 'source' is required");
        test_expect_error("\n\n- template: {path: /tmp/a, source: nope.mustache}\n",
                          "recipes/default.yaml:3:", "has no templates/nope.mustache");
        test_expect_error("- template: {path: /tmp/a, source: v, variables: [1]}\n",
                          "recipes/default.yaml:1:", "variables must be a mapping");
        test_expect_error("- template: {path: /tmp/a, source: v, owner: [a]}\n",
                          "recipes/default.yaml:1:", "property 'owner' must be a string");
        test_expect_error("- template: {path: /tmp/a, source: ../../etc/passwd}\n",
                          "recipes/default.yaml:1:", "must be a relative name inside");
        test_expect_error("- template: {path: /tmp/a, source: v, action: delete}\n",
                          "recipes/default.yaml:1:", "unknown action 'delete'");
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("res-template");
        TCase *tc = tcase_create("template");

        tcase_add_checked_fixture(tc, test_recipe_setup, test_recipe_teardown);
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
