/* SPDX-License-Identifier: MIT */
#include <sys/stat.h>

#include "str-util.h"
#include "test-helpers.h"

/* A resource that failed, stopping the run. */
static void expect_failure(const char *yaml, const char *error) {
        _cleanup_json_ json_object *report = test_run_recipe(yaml, false, 1);

        ck_assert_str_eq(json_object_get_string(json_object_object_get(report, "status")),
                         "failed");
        ck_assert_str_eq(test_report_status(report, 0), "failed");
        ck_assert_str_eq(test_report_field(report, 0, "error"), error);
}

START_TEST(runs_as_step_user) {
        _cleanup_free_ char *who = test_out_path("who"), *made = test_out_path("made"),
                            *argv = NULL;
        _cleanup_free_ char *data = NULL, *want0 = NULL, *want1 = NULL, *name1 = NULL;
        _cleanup_json_ json_object *report = NULL;
        struct stat st;

        report = test_run_recipe("- execute:\n"
                                 "    command: 'id -un > {{out}}/who && touch {{out}}/made'\n"
                                 "- execute:\n"
                                 "    command: [touch, '{{out}}/argv']\n",
                                 false, 0);
        argv = test_out_path("argv");
        ck_assert_str_eq(json_object_get_string(json_object_object_get(report, "status")),
                         "successful");
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        ck_assert_str_eq(test_report_status(report, 1), "changed");
        want0 = strf("run id -un > %s && touch %s", who, made);
        ck_assert_str_eq(test_report_change(report, 0, 0), want0);
        want1 = strf("run touch %s", argv);
        ck_assert_str_eq(test_report_change(report, 1, 0), want1);
        name1 = strf("touch %s", argv);
        ck_assert_str_eq(test_report_field(report, 1, "name"), name1);

        data = test_read(who);
        ck_assert_str_eq(data, TEST_USER "\n");
        ck_assert_int_eq(stat(made, &st), 0);
        ck_assert_uint_eq(st.st_uid, test_user_uid());
        ck_assert_int_eq(stat(argv, &st), 0);
        ck_assert_uint_eq(st.st_uid, test_user_uid());
}
END_TEST

START_TEST(creates_makes_it_idempotent) {
        static const char yaml[] =
                "- execute:\n"
                "    command: 'echo ran >> {{out}}/log; touch {{out}}/done'\n"
                "    creates: '{{out}}/done'\n"
                "- execute:\n"
                "    command: 'echo ran >> log2; touch done2'\n"
                "    cwd: '{{out}}'\n"
                "    creates: done2\n";
        _cleanup_free_ char *log = test_out_path("log"), *log2 = test_out_path("log2");
        _cleanup_free_ char *data = NULL, *data2 = NULL;
        _cleanup_json_ json_object *first = NULL, *second = NULL;

        first = test_run_recipe(yaml, false, 0);
        ck_assert_str_eq(test_report_status(first, 0), "changed");
        ck_assert_str_eq(test_report_status(first, 1), "changed");
        second = test_run_recipe(yaml, false, 0);
        ck_assert_str_eq(test_report_status(second, 0), "up_to_date");
        ck_assert_str_eq(test_report_status(second, 1), "up_to_date");
        ck_assert_int_eq(test_report_total(second, "changed"), 0);
        ck_assert_ptr_null(json_object_object_get(test_report_entry(second, 0), "changes"));

        data = test_read(log);
        ck_assert_str_eq(data, "ran\n");
        data2 = test_read(log2);
        ck_assert_str_eq(data2, "ran\n");
}
END_TEST

START_TEST(failure_quotes_output) {
        _cleanup_free_ char *never = test_out_path("never");

        expect_failure("- execute:\n"
                       "    command: 'echo oops; echo bad >&2; exit 3'\n"
                       "- execute:\n"
                       "    command: 'touch {{out}}/never'\n",
                       "command exited with status 3; last output:\noops\nbad");
        /* The run stopped at the failure. */
        ck_assert_int_eq(access(never, F_OK), -1);

        expect_failure("- execute: {command: 'seq 1 100; exit 1'}\n",
                       "command exited with status 1; last output:\n"
                       "91\n92\n93\n94\n95\n96\n97\n98\n99\n100");
        expect_failure("- execute: {command: 'exit 2'}\n", "command exited with status 2");
        expect_failure("- execute: {command: 'kill -KILL $$'}\n",
                       "command was killed by signal 9 (Killed)");
        expect_failure("- execute: {command: [no-such-command-strata, x]}\n",
                       "command exited with status 127; last output:\n"
                       "cannot execute 'no-such-command-strata': No such file or directory");
}
END_TEST

START_TEST(timeout) {
        _cleanup_json_ json_object *report = NULL;
        int64_t duration_ms;

        report = test_run_recipe("- execute: {command: 'echo started; sleep 30', timeout: 1}\n",
                                 false, 1);
        ck_assert_str_eq(test_report_status(report, 0), "failed");
        ck_assert_str_eq(test_report_field(report, 0, "error"),
                         "command timed out after 1s; last output:\nstarted");
        duration_ms = json_object_get_int64(
                json_object_object_get(test_report_entry(report, 0), "duration_ms"));
        ck_assert_int_ge(duration_ms, 1000);
        ck_assert_int_lt(duration_ms, 3000);
}
END_TEST

START_TEST(root_refused) {
        _cleanup_free_ char *never = test_out_path("never");

        expect_failure("- execute: {command: 'touch {{out}}/never', user: root}\n",
                       "step runs as root (user 'root'), which is refused; set "
                       "privileged_steps: allow in the agent configuration to permit it");
        ck_assert_int_eq(access(never, F_OK), -1);
}
END_TEST

START_TEST(environment_and_cwd) {
        _cleanup_free_ char *env = test_out_path("env"), *here = test_out_path("here"),
                            *want = NULL;
        _cleanup_free_ char *data = NULL, *data_here = NULL;
        _cleanup_json_ json_object *report = NULL;

        report = test_run_recipe(
                "- execute:\n"
                "    command: 'printf \"%s|%s|%s\" \"$GREETING\" \"$COUNT\" \"$LANG\" > env; "
                "pwd > here'\n"
                "    cwd: '{{out}}'\n"
                "    environment: {GREETING: hello world, COUNT: 42, LANG: en_US.UTF-8}\n",
                false, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        data = test_read(env);
        ck_assert_str_eq(data, "hello world|42|en_US.UTF-8");
        data_here = test_read(here);
        want = strf("%s\n", test_out);
        ck_assert_str_eq(data_here, want);
}
END_TEST

START_TEST(why_run_runs_nothing) {
        _cleanup_free_ char *p = test_out_path("made"), *want = NULL;
        _cleanup_json_ json_object *report = NULL;

        report = test_run_recipe("- execute: {command: [touch, '{{out}}/made']}\n", true, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        want = strf("run touch %s", p);
        ck_assert_str_eq(test_report_change(report, 0, 0), want);
        ck_assert_int_eq(access(p, F_OK), -1);
        ck_assert_int_eq(errno, ENOENT);
}
END_TEST

START_TEST(action_nothing) {
        _cleanup_free_ char *p = test_out_path("made");
        _cleanup_json_ json_object *report = NULL;

        report = test_run_recipe("- execute: {command: [touch, '{{out}}/made'], action: nothing}\n",
                                 false, 0);
        ck_assert_str_eq(test_report_status(report, 0), "up_to_date");
        ck_assert_int_eq(access(p, F_OK), -1);
}
END_TEST

START_TEST(bad_properties) {
        test_expect_error_ending("- execute: {}\n",
                                 "property 'command' is required (a command: a list of "
                                 "strings (argv) or a shell string)");
        test_expect_error_ending(
                "- execute: {command: [echo, [nested]]}\n",
                "property 'command' must be a command: a list of strings (argv) or a shell "
                "string");
        test_expect_error_ending("- execute: {command: [''], name: empty}\n",
                                 "command[0] is an empty string");
        test_expect_error_ending("- execute: {command: 'true', cwd: relative}\n",
                                 "cwd 'relative' must be an absolute path");
        test_expect_error_ending("- execute: {command: 'true', creates: relative}\n",
                                 "creates 'relative' must be an absolute path, or cwd must be set");
        test_expect_error_ending(
                "- execute: {command: 'true', environment: {'A=B': x}}\n",
                "environment name 'A=B' must be non-empty and must not contain '='");
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("res-execute");
        TCase *tc = tcase_create("execute");

        tcase_add_checked_fixture(tc, test_recipe_setup_writable, test_recipe_teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, runs_as_step_user);
        tcase_add_test(tc, creates_makes_it_idempotent);
        tcase_add_test(tc, failure_quotes_output);
        tcase_add_test(tc, timeout);
        tcase_add_test(tc, root_refused);
        tcase_add_test(tc, environment_and_cwd);
        tcase_add_test(tc, why_run_runs_nothing);
        tcase_add_test(tc, action_nothing);
        tcase_add_test(tc, bad_properties);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
