/* SPDX-License-Identifier: MIT */
#include "str-util.h"
#include "test-helpers.h"

static char *read_out(const char *name) {
        _cleanup_free_ char *p = strf("%s/%s", test_out, name);

        return test_read(p);
}

/* Runs cb::default expecting a compile error that contains needle. */
static void expect_error(const char *yaml, const char *needle) {
        _cleanup_json_ json_object *a = test_out_attributes();
        _cleanup_free_ char *error = test_compile_error(yaml, a);

        ck_assert_msg(strstr(error, needle), "error '%s' does not contain '%s'", error, needle);
}

START_TEST(unknown_resource_names_file_line) {
        _cleanup_free_ char *needle =
                strf("%s/cb/recipes/default.yaml:3: unknown resource type 'fiel'", test_cookbooks);

        expect_error("- file: {path: /tmp/x}\n\n- fiel: {path: /tmp/y}\n", needle);
}
END_TEST

START_TEST(unknown_property) {
        _cleanup_free_ char *needle = strf("default.yaml:2: file: unknown property 'paht'");

        expect_error("# comment\n- file:\n    paht: /tmp/x\n", needle);
}
END_TEST

START_TEST(wrong_property_type) {
        expect_error("- file: {path: [a, b]}\n", "default.yaml:1: file: property 'path' must be a string");
        expect_error("- file: {path: /x, mode: rw}\n", "property 'mode' must be an octal mode");
        expect_error("- execute: {command: ls, retries: many}\n", "property 'retries' must be an integer");
        expect_error("- execute: {command: ls, ignore_failure: maybe}\n",
                     "property 'ignore_failure' must be true or false");
        expect_error("- file: {}\n", "property 'path' is required");
        expect_error("- file: /tmp/x\n", "file expects a mapping of properties");
        expect_error("- file: {path: /x, action: explode}\n", "unknown action 'explode'");
        expect_error("- {file: {path: /x}, directory: {path: /y}}\n", "a mapping with one key");
        expect_error("file: {path: /x}\n", "a recipe must be a list of resources");
}
END_TEST

START_TEST(malformed_yaml) {
        expect_error("- file: {path: /x\n", "default.yaml:2:");
        expect_error("- file: &a {path: /x}\n- file: *a\n", "alias");
}
END_TEST

START_TEST(missing_recipe_and_dependency) {
        _cleanup_json_ json_object *report = NULL;
        _cleanup_free_ char *error = NULL;

        test_cookbook(test_cookbooks, "cb", "default", "- include_recipe: cb::nope\n");
        ck_assert_int_lt(test_converge(test_cookbooks, "cb", NULL, false, &report, &error), 0);
        ck_assert_ptr_nonnull(strstr(error, "default.yaml:1: recipe cb::nope not found"));
        error = mfree(error);

        ck_assert_int_lt(test_converge(test_cookbooks, "zz::default", NULL, false, &report, &error),
                         0);
        ck_assert_ptr_nonnull(strstr(error, "run list: recipe zz::default: cookbook 'zz' not found"));
        error = mfree(error);

        test_cookbook(test_cookbooks, "base", "default", "[]\n");
        test_cookbook(test_cookbooks, "cb", "default", "- include_recipe: base\n");
        {
                _cleanup_free_ char *meta = strf("%s/cb/metadata.yaml", test_cookbooks);
                test_write(meta, "name: cb\nversion: 1.0.0\ndepends: {base: '~> 2.1'}\n");
        }
        ck_assert_int_eq(test_converge(test_cookbooks, "cb", NULL, false, &report, &error),
                         -ERANGE);
        ck_assert_ptr_nonnull(strstr(error, "cookbook cb depends on base ~> 2.1, but base is version 1.0.0"));
}
END_TEST

START_TEST(include_once_and_cycle) {
        _cleanup_json_ json_object *report = NULL, *a = test_out_attributes();
        _cleanup_free_ char *error = NULL, *count = NULL;

        test_cookbook(test_cookbooks, "cb", "default",
                      "- include_recipe: cb::count\n- include_recipe: cb::count\n- include_recipe: "
                      "cb::count\n");
        test_cookbook(test_cookbooks, "cb", "count",
                      "- execute: {command: 'echo x >> {{out}}/count'}\n");
        ck_assert_int_eq(test_converge(test_cookbooks, "cb", a, false, &report, &error), 0);
        count = read_out("count");
        ck_assert_str_eq(count, "x\n");
        ck_assert_int_eq(test_report_total(report, "changed"), 1);

        json_object_put(report);
        report = NULL;
        test_cookbook(test_cookbooks, "cb", "a", "- include_recipe: cb::b\n");
        test_cookbook(test_cookbooks, "cb", "b", "- include_recipe: cb::a\n");
        ck_assert_int_eq(test_converge(test_cookbooks, "cb::a", a, false, &report, &error), -ELOOP);
        ck_assert_ptr_nonnull(strstr(error, "b.yaml:1: include_recipe cb::a forms a cycle"));
}
END_TEST

START_TEST(attributes_precedence) {
        _cleanup_json_ json_object *report = NULL, *a = test_out_attributes();
        _cleanup_free_ char *error = NULL, *got = NULL;
        _cleanup_free_ char *attr = strf("%s/cb/attributes/default.yaml", test_cookbooks);

        test_write(attr, "greeting: {word: hello, who: cookbook, punct: '.'}\n");
        test_cookbook(test_cookbooks, "cb", "default",
                      "- file:\n    path: '{{out}}/greeting'\n"
                      "    content: \"{{greeting.word}} {{greeting.who}}{{greeting.punct}}\\n\"\n");
        json_object_object_add(a, "greeting", json_tokener_parse("{\"who\": \"command\"}"));
        ck_assert_int_eq(test_converge(test_cookbooks, "cb", a, false, &report, &error), 0);
        got = read_out("greeting");
        ck_assert_str_eq(got, "hello command.\n");
}
END_TEST

START_TEST(for_each_list_and_map) {
        _cleanup_json_ json_object *report = NULL, *a = test_out_attributes();
        _cleanup_free_ char *error = NULL, *x = NULL, *y = NULL, *k1 = NULL;

        json_object_object_add(a, "sites", json_tokener_parse("{\"one\": {\"port\": 81}, \"two\": {\"port\": 82}}"));
        test_cookbook(test_cookbooks, "cb", "default",
                      "- file: {path: '{{out}}/{{item}}', content: '{{key}}', for_each: [x, y]}\n"
                      "- file: {path: '{{out}}/site-{{key}}', content: '{{item.port}}', for_each: "
                      "sites}\n");
        ck_assert_int_eq(test_converge(test_cookbooks, "cb", a, false, &report, &error), 0);
        ck_assert_int_eq(test_report_total(report, "changed"), 4);
        x = read_out("x");
        y = read_out("y");
        k1 = read_out("site-two");
        ck_assert_str_eq(x, "0");
        ck_assert_str_eq(y, "1");
        ck_assert_str_eq(k1, "82");
        json_object_put(report);
        report = NULL;

        test_cookbook(test_cookbooks, "cb", "default",
                      "- file: {path: '/x/{{item}}', for_each: nothing.here}\n");
        ck_assert_int_lt(test_converge(test_cookbooks, "cb", a, false, &report, &error), 0);
        ck_assert_ptr_nonnull(strstr(error, "for_each: attribute 'nothing.here' does not exist"));
}
END_TEST

START_TEST(guards) {
        _cleanup_json_ json_object *report = NULL, *a = test_out_attributes();
        _cleanup_free_ char *error = NULL, *f = NULL;

        test_cookbook(
                test_cookbooks, "cb", "default",
                "- file: {path: '{{out}}/only', content: a, only_if: 'false'}\n"
                "- file: {path: '{{out}}/not', content: b, not_if: [test, -d, /]}\n"
                "- file: {path: '{{out}}/yes', content: c, only_if: ['true'], not_if: 'exit 3'}\n");
        ck_assert_int_eq(test_converge(test_cookbooks, "cb", a, false, &report, &error), 0);
        ck_assert_str_eq(test_report_status(report, 0), "skipped");
        ck_assert_str_eq(test_report_status(report, 1), "skipped");
        ck_assert_str_eq(test_report_status(report, 2), "changed");
        ck_assert_str_eq(json_object_get_string(json_object_object_get(
                                 json_object_array_get_idx(json_object_object_get(report, "resources"), 1),
                                 "reason")),
                         "not_if succeeded");
        f = read_out("only");
        ck_assert_ptr_null(f);
}
END_TEST

START_TEST(notifications) {
        _cleanup_json_ json_object *report = NULL, *a = test_out_attributes();
        _cleanup_free_ char *error = NULL, *log = NULL;

        test_cookbook(test_cookbooks, "cb", "default",
                      "- execute:\n"
                      "    name: late\n"
                      "    command: 'echo late >> {{out}}/log'\n"
                      "    action: nothing\n"
                      "- execute:\n"
                      "    name: now\n"
                      "    command: 'echo now >> {{out}}/log'\n"
                      "    action: nothing\n"
                      "- file:\n"
                      "    path: '{{out}}/conf'\n"
                      "    content: v1\n"
                      "    notifies:\n"
                      "      - {action: run, resource: 'execute[late]'}\n"
                      "      - {action: run, resource: 'execute[now]', timing: immediate}\n"
                      "- file:\n"
                      "    path: '{{out}}/conf2'\n"
                      "    content: v1\n"
                      "    notifies: {action: run, resource: 'execute[late]'}\n"
                      "- execute:\n"
                      "    name: watcher\n"
                      "    command: 'echo watcher >> {{out}}/log'\n"
                      "    action: nothing\n"
                      "    subscribes: [{action: run, resource: 'file[{{out}}/conf2]', timing: "
                      "immediately}]\n"
                      "- execute: {command: 'echo body >> {{out}}/log'}\n");
        ck_assert_int_eq(test_converge(test_cookbooks, "cb", a, false, &report, &error), 0);
        log = read_out("log");
        /* immediate right after conf; watcher right after conf2; late once, at the end */
        ck_assert_str_eq(log, "now\nwatcher\nbody\nlate\n");
        json_object_put(report);
        report = NULL;
        log = mfree(log);

        /* Nothing changed the second time: no notification fires. */
        ck_assert_int_eq(test_converge(test_cookbooks, "cb", a, false, &report, &error), 0);
        log = read_out("log");
        ck_assert_str_eq(log, "now\nwatcher\nbody\nlate\nbody\n");
        json_object_put(report);
        report = NULL;

        test_cookbook(
                test_cookbooks, "cb", "default",
                "- file: {path: /x, notifies: [{action: run, resource: 'execute[ghost]'}]}\n");
        ck_assert_int_lt(test_converge(test_cookbooks, "cb", a, false, &report, &error), 0);
        ck_assert_ptr_nonnull(strstr(error, "notifies names execute[ghost], which is not a resource of this run"));
}
END_TEST

START_TEST(failure_stops_run_unless_ignored) {
        _cleanup_json_ json_object *report = NULL, *a = test_out_attributes();
        _cleanup_free_ char *error = NULL, *f = NULL;
        json_object *e;

        test_cookbook(test_cookbooks, "cb", "default",
                      "- execute: {command: 'exit 4', ignore_failure: true}\n"
                      "- execute: {command: 'exit 5'}\n"
                      "- file: {path: '{{out}}/after', content: x}\n");
        ck_assert_int_eq(test_converge(test_cookbooks, "cb", a, false, &report, &error), 1);
        ck_assert_str_eq(json_object_get_string(json_object_object_get(report, "status")), "failed");
        ck_assert_str_eq(test_report_status(report, 0), "failed");
        ck_assert_str_eq(test_report_status(report, 1), "failed");
        ck_assert_ptr_null(test_report_status(report, 2));
        ck_assert_int_eq(test_report_total(report, "failed"), 2);
        e = json_object_array_get_idx(json_object_object_get(report, "resources"), 1);
        ck_assert_str_eq(json_object_get_string(json_object_object_get(e, "type")), "execute");
        ck_assert_str_eq(json_object_get_string(json_object_object_get(e, "name")), "exit 5");
        ck_assert_str_eq(json_object_get_string(json_object_object_get(e, "recipe")), "cb::default");
        ck_assert_int_eq(json_object_get_int(json_object_object_get(e, "line")), 2);
        ck_assert_ptr_nonnull(strstr(json_object_get_string(json_object_object_get(e, "error")), "5"));
        f = read_out("after");
        ck_assert_ptr_null(f);
}
END_TEST

START_TEST(retries) {
        _cleanup_json_ json_object *report = NULL, *a = test_out_attributes();
        _cleanup_free_ char *error = NULL;

        /* Fails twice, then succeeds. */
        test_cookbook(test_cookbooks, "cb", "default",
                      "- execute:\n"
                      "    command: 'echo >> {{out}}/n; test $(wc -l < {{out}}/n) -ge 3'\n"
                      "    retries: 2\n    retry_delay: 0\n");
        ck_assert_int_eq(test_converge(test_cookbooks, "cb", a, false, &report, &error), 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
}
END_TEST

START_TEST(why_run_changes_nothing) {
        _cleanup_json_ json_object *report = NULL, *a = test_out_attributes();
        _cleanup_free_ char *error = NULL, *f = NULL;

        test_cookbook(test_cookbooks, "cb", "default",
                      "- file: {path: '{{out}}/w', content: x}\n"
                      "- execute: {command: 'touch {{out}}/e'}\n");
        ck_assert_int_eq(test_converge(test_cookbooks, "cb", a, true, &report, &error), 0);
        ck_assert_int_eq(test_report_total(report, "changed"), 2);
        ck_assert(json_object_get_boolean(json_object_object_get(report, "why_run")));
        f = read_out("w");
        ck_assert_ptr_null(f);
        f = read_out("e");
        ck_assert_ptr_null(f);
}
END_TEST

START_TEST(interpolation_errors_name_the_line) {
        expect_error("- file: {path: /x}\n- file: {path: '/x/{{#a}}'}\n", "default.yaml:2");
}
END_TEST

START_TEST(typed_interpolation) {
        _cleanup_json_ json_object *report = NULL, *a = test_out_attributes();
        _cleanup_free_ char *error = NULL, *f = NULL;
        _cleanup_free_ char *cmd = strf("echo typed > %s/typed", test_out);
        _cleanup_free_ char *name = strf("sh -c %s", cmd);
        json_object *argv = json_object_new_array();

        json_object_array_add(argv, json_object_new_string("sh"));
        json_object_array_add(argv, json_object_new_string("-c"));
        json_object_array_add(argv, json_object_new_string(cmd));
        json_object_object_add(a, "argv", argv);
        json_object_object_add(a, "flag", json_object_new_boolean(true));
        /* A property that is one tag takes the attribute with its type: here an argv list. */
        test_cookbook(test_cookbooks, "cb", "default",
                      "- execute: {command: '{{argv}}', ignore_failure: '{{flag}}'}\n");
        ck_assert_int_eq(test_converge(test_cookbooks, "cb", a, false, &report, &error), 0);
        f = read_out("typed");
        ck_assert_str_eq(f, "typed\n");
        ck_assert_str_eq(json_object_get_string(json_object_object_get(
                                 json_object_array_get_idx(json_object_object_get(report, "resources"), 0),
                                 "name")),
                         name);
}
END_TEST

START_TEST(empty_run_list) {
        _cleanup_json_ json_object *report = NULL;
        _cleanup_free_ char *error = NULL;

        ck_assert_int_lt(test_converge(test_cookbooks, "cb::", NULL, false, &report, &error), 0);
        ck_assert_ptr_nonnull(strstr(error, "'cb::' is not a recipe name"));
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("converge");
        TCase *tc = tcase_create("converge");

        tcase_set_timeout(tc, 60);
        tcase_add_checked_fixture(tc, test_recipe_setup_writable, test_recipe_teardown);
        tcase_add_test(tc, unknown_resource_names_file_line);
        tcase_add_test(tc, unknown_property);
        tcase_add_test(tc, wrong_property_type);
        tcase_add_test(tc, malformed_yaml);
        tcase_add_test(tc, missing_recipe_and_dependency);
        tcase_add_test(tc, include_once_and_cycle);
        tcase_add_test(tc, attributes_precedence);
        tcase_add_test(tc, for_each_list_and_map);
        tcase_add_test(tc, guards);
        tcase_add_test(tc, notifications);
        tcase_add_test(tc, failure_stops_run_unless_ignored);
        tcase_add_test(tc, retries);
        tcase_add_test(tc, why_run_changes_nothing);
        tcase_add_test(tc, interpolation_errors_name_the_line);
        tcase_add_test(tc, typed_interpolation);
        tcase_add_test(tc, empty_run_list);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
