/* SPDX-License-Identifier: MIT */
#include <sys/stat.h>

#include "str-util.h"
#include "test-helpers.h"

/* The script file a step wrote down as $0 (or sys.argv[0]) must be gone with its directory. */
static void assert_script_removed(const char *name) {
        _cleanup_free_ char *p = test_out_path(name), *script = test_read(p), *parent = NULL;

        ck_assert_ptr_nonnull(script);
        ck_assert_msg(startswith(script, "/tmp/strata-script-"), "script was at %s", script);
        ck_assert(endswith(script, "/script\n"));
        script[strlen(script) - 1] = '\0';
        ck_assert_int_eq(access(script, F_OK), -1);
        parent = strndup(script, (size_t) (strrchr(script, '/') - script));
        ck_assert_ptr_nonnull(parent);
        ck_assert_int_eq(access(parent, F_OK), -1);
        ck_assert_int_eq(errno, ENOENT);
}

START_TEST(bash_by_default) {
        _cleanup_free_ char *p = test_out_path("bash"), *data = NULL;
        _cleanup_json_ json_object *report = NULL;
        struct stat st;

        report = test_run_recipe("- script:\n"
                                 "    code: |\n"
                                 "      set -e\n"
                                 "      words=(one two three)\n"
                                 "      [[ ${#words[@]} == 3 ]]\n"
                                 "      printf '%s\\n' \"${words[@]}\" > {{out}}/bash\n"
                                 "      stat -c '%a %U' \"$0\" \"${0%/*}\" >> {{out}}/bash\n"
                                 "      echo \"$0\" > {{out}}/path\n",
                                 false, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        /* Unnamed, the script is known by its first line. */
        ck_assert_str_eq(test_report_field(report, 0, "name"), "set -e");
        ck_assert_str_eq(test_report_change(report, 0, 0), "run script with bash");

        data = test_read(p);
        ck_assert_str_eq(data, "one\ntwo\nthree\n400 strata\n711 root\n");
        ck_assert_int_eq(stat(p, &st), 0);
        ck_assert_uint_eq(st.st_uid, test_user_uid());
        assert_script_removed("path");
}
END_TEST

START_TEST(python) {
        _cleanup_free_ char *p = test_out_path("py"), *p2 = test_out_path("py2"), *want = NULL;
        _cleanup_free_ char *data = NULL, *data2 = NULL;
        _cleanup_json_ json_object *report = NULL;

        report = test_run_recipe(
                "- script:\n"
                "    name: python as a program\n"
                "    interpreter: python3\n"
                "    environment: {GREETING: hello}\n"
                "    code: |\n"
                "      import os, sys\n"
                "      with open('{{out}}/py', 'w') as f:\n"
                "          f.write('%d %s\\n' % (os.getuid(), os.environ['GREETING']))\n"
                "      with open('{{out}}/path', 'w') as f:\n"
                "          f.write(sys.argv[0] + '\\n')\n"
                "- script:\n"
                "    name: python with flags\n"
                "    interpreter: [python3, -I, -S]\n"
                "    code: |\n"
                "      import sys\n"
                "      open('{{out}}/py2', 'w').write('%d %d\\n' % (sys.flags.isolated, "
                "sys.flags.no_site))\n",
                false, 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        ck_assert_str_eq(test_report_status(report, 1), "changed");
        ck_assert_str_eq(test_report_change(report, 0, 0), "run script with python3");

        data = test_read(p);
        want = strf("%u hello\n", (unsigned) test_user_uid());
        ck_assert_str_eq(data, want);
        data2 = test_read(p2);
        ck_assert_str_eq(data2, "1 1\n");
        assert_script_removed("path");
}
END_TEST

START_TEST(failure) {
        _cleanup_json_ json_object *report = NULL, *report_missing = NULL;

        report = test_run_recipe("- script:\n"
                                 "    interpreter: sh\n"
                                 "    code: |\n"
                                 "      echo \"$0\" > {{out}}/path\n"
                                 "      echo before\n"
                                 "      exit 4\n",
                                 false, 1);
        ck_assert_str_eq(test_report_status(report, 0), "failed");
        ck_assert_str_eq(test_report_field(report, 0, "error"),
                         "script exited with status 4; last output:\nbefore");
        assert_script_removed("path");

        report_missing = test_run_recipe(
                "- script: {interpreter: no-such-interpreter, code: 'true'}\n", false, 1);
        ck_assert_str_eq(test_report_field(report_missing, 0, "error"),
                         "script exited with status 127; last output:\n"
                         "cannot execute 'no-such-interpreter': No such file or directory");
}
END_TEST

START_TEST(creates_and_why_run) {
        static const char yaml[] =
                "- script:\n"
                "    code: 'echo ran >> {{out}}/log; touch {{out}}/done'\n"
                "    creates: '{{out}}/done'\n";
        _cleanup_free_ char *log = test_out_path("log"), *data = NULL;
        _cleanup_json_ json_object *dry = NULL, *first = NULL, *second = NULL;

        dry = test_run_recipe(yaml, true, 0);
        ck_assert_str_eq(test_report_status(dry, 0), "changed");
        ck_assert_int_eq(access(log, F_OK), -1);

        first = test_run_recipe(yaml, false, 0);
        ck_assert_str_eq(test_report_status(first, 0), "changed");
        second = test_run_recipe(yaml, false, 0);
        ck_assert_str_eq(test_report_status(second, 0), "up_to_date");
        data = test_read(log);
        ck_assert_str_eq(data, "ran\n");
}
END_TEST

START_TEST(root_refused) {
        _cleanup_json_ json_object *report = NULL;

        report = test_run_recipe("- script: {code: 'touch {{out}}/never', user: root}\n", false, 1);
        ck_assert_str_eq(test_report_field(report, 0, "error"),
                         "step runs as root (user 'root'), which is refused; set "
                         "privileged_steps: allow in the agent configuration to permit it");
}
END_TEST

START_TEST(bad_properties) {
        test_expect_error_ending("- script: {interpreter: bash}\n",
                                 "property 'code' is required (a string)");
        test_expect_error_ending("- script: {interpreter: [bash, ''], code: 'true'}\n",
                                 "interpreter must not be empty");
        test_expect_error_ending("- script: {code: 'true', cwd: tmp}\n",
                                 "cwd 'tmp' must be an absolute path");
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("res-script");
        TCase *tc = tcase_create("script");

        tcase_add_checked_fixture(tc, test_recipe_setup_writable, test_recipe_teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, bash_by_default);
        tcase_add_test(tc, python);
        tcase_add_test(tc, failure);
        tcase_add_test(tc, creates_and_why_run);
        tcase_add_test(tc, root_refused);
        tcase_add_test(tc, bad_properties);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
