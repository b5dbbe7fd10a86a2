/* SPDX-License-Identifier: MIT */
/* PID 1 is not systemd on the machines these unit tests run on: here the service resource must
 * fail clearly, whatever the action. Real units are tested in a systemd-nspawn container by the
 * integration tests. */
#include <systemd/sd-daemon.h>

#include "str-util.h"
#include "test-helpers.h"

#define NO_SYSTEMD "systemd is not running (PID 1 is not systemd); cannot manage units"

static char *dir;

static void setup(void) {
        dir = test_tmpdir();
        ck_assert_msg(sd_booted() <= 0, "these tests expect a machine without systemd as PID 1");
}

static void teardown(void) {
        test_rmdir(dir);
        dir = mfree(dir);
}

START_TEST(every_action_fails_clearly) {
        static const char *const actions[] = { "start",  "stop",   "restart", "reload",
                                               "enable", "disable", NULL };

        for (bool why_run = false;; why_run = true) {
                for (const char *const *a = actions; *a; a++) {
                        _cleanup_json_ json_object *report = NULL;
                        _cleanup_free_ char *yaml = NULL, *error = NULL;

                        yaml = strf("- service: {name: nginx, action: %s}\n", *a);
                        test_cookbook(dir, "web", "default", yaml);
                        ck_assert_int_eq(test_converge(dir, "web", NULL, why_run, &report,
                                                       &error),
                                         1);
                        ck_assert_str_eq(test_report_status(report, 0), "failed");
                        ck_assert_str_eq(test_report_field(report, 0, "action"), *a);
                        ck_assert_str_eq(test_report_error(report, 0), NO_SYSTEMD);
                        /* Nothing was done, nor claimed to be. */
                        ck_assert_ptr_null(
                                json_object_object_get(test_report_entry(report, 0), "changes"));
                }
                if (why_run)
                        break;
        }
}
END_TEST

START_TEST(action_list_fails_at_its_first_action) {
        _cleanup_json_ json_object *report = NULL;
        _cleanup_free_ char *error = NULL;

        test_cookbook(dir, "web", "default",
                      "- service: {name: nginx.service, action: [enable, start]}\n");
        ck_assert_int_eq(test_converge(dir, "web", NULL, false, &report, &error), 1);
        ck_assert_str_eq(test_report_status(report, 0), "failed");
        ck_assert_str_eq(test_report_field(report, 0, "name"), "nginx.service");
        ck_assert_str_eq(test_report_field(report, 0, "action"), "enable");
        ck_assert_str_eq(test_report_error(report, 0), NO_SYSTEMD);
}
END_TEST

static void expect_load_error(const char *yaml, const char *needle) {
        _cleanup_json_ json_object *report = NULL;
        _cleanup_free_ char *error = NULL;

        test_cookbook(dir, "web", "default", yaml);
        ck_assert_int_lt(test_converge(dir, "web", NULL, false, &report, &error), 0);
        ck_assert_ptr_nonnull(error);
        ck_assert_msg(strstr(error, needle), "'%s' does not contain '%s'", error, needle);
}

START_TEST(bad_properties) {
        expect_load_error("- service: {name: '-x'}\n", "service[-x]: name '-x' is not a unit name");
        expect_load_error("- service: {name: ../etc/passwd}\n",
                          "name '../etc/passwd' is not a unit name");
        expect_load_error("- service: {name: 'a b'}\n",
                          "name 'a b' is not a unit name (letters, digits and :_.\\@-)");
        expect_load_error("- service: {name: x, action: kill}\n", "unknown action 'kill'");
        expect_load_error("- service: {}\n", "property 'name' is required");
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("res-service");
        TCase *tc = tcase_create("service");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, every_action_fails_clearly);
        tcase_add_test(tc, action_list_fails_at_its_first_action);
        tcase_add_test(tc, bad_properties);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
