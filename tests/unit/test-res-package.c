/* SPDX-License-Identifier: MIT */
/* Installs and removes the real Debian package `hello` from the Debian archive (apt-get update
 * must have been run). */

#include "spawn-program.h"
#include "str-util.h"
#include "test-helpers.h"

#define PACKAGE "hello"

static char *dir;

/* "install ok installed 2.10-3", or "" when dpkg does not know the package. */
static char *dpkg_status(void) {
        char *output = NULL;
        int status = -1;

        ck_assert_int_eq(spawn_program((char *[]){ (char *) "dpkg-query", (char *) "-W",
                                                   (char *) "-f", (char *) "${Status} ${Version}",
                                                   (char *) PACKAGE, NULL },
                                       NULL, &output, &status),
                         0);
        if (status != 0)
                output[0] = 0;
        return output;
}

static bool installed(void) {
        _cleanup_free_ char *s = dpkg_status();

        return startswith(s, "install ok installed ");
}

static void purge(void) {
        int status = -1;

        ck_assert_int_eq(spawn_program((char *[]){ (char *) "dpkg", (char *) "--purge",
                                                   (char *) PACKAGE, NULL },
                                       NULL, NULL, &status),
                         0);
        ck_assert_int_eq(status, 0);
        ck_assert(!installed());
}

/* The machine is left without the package even when a test fails: the parent process (an
 * unchecked fixture) purges it. */
static void setup_once(void) {
        test_lock_machine("strata-test-packages.lock");
        dir = test_tmpdir();
}

static void teardown_once(void) {
        purge();
        test_rmdir(dir);
        dir = mfree(dir);
        test_unlock_machine();
}

static json_object *expect(const char *yaml, bool why_run, const char *status) {
        json_object *report = NULL;
        _cleanup_free_ char *error = NULL;

        test_cookbook(dir, "packages", "default", yaml);
        ck_assert_msg(test_converge(dir, "packages", NULL, why_run, &report, &error) >= 0,
                      "converge: %s", strempty(error));
        ck_assert_str_eq(test_report_status(report, 0), status);
        return report;
}

#define expect_status(yaml, why_run, status) json_object_put(expect(yaml, why_run, status))

START_TEST(install_upgrade_remove) {
        _cleanup_json_ json_object *report = NULL;
        _cleanup_free_ char *status = NULL, *version = NULL, *yaml = NULL;
        const char *install = "- package: {name: " PACKAGE "}\n";
        const char *remove = "- package: {name: " PACKAGE ", action: remove}\n";

        purge();

        report = expect(install, true, "changed");
        ck_assert_str_eq(test_report_json(report, 0, "changes"), "[\"install " PACKAGE "\"]");
        ck_assert(!installed());

        expect_status(install, false, "changed");
        status = dpkg_status();
        ck_assert_msg(startswith(status, "install ok installed "), "dpkg says '%s'", status);
        version = strdup(status + strlen("install ok installed "));
        ck_assert_ptr_nonnull(version);

        expect_status(install, false, "up_to_date");
        expect_status("- package: {name: " PACKAGE ", action: upgrade}\n", false, "up_to_date");
        yaml = strf("- package: {name: " PACKAGE ", version: '%s'}\n", version);
        expect_status(yaml, false, "up_to_date");

        json_object_put(report);
        report = expect(remove, true, "changed");
        ck_assert(installed());
        expect_status(remove, false, "changed");
        ck_assert(!installed());
        expect_status(remove, false, "up_to_date");

        /* upgrade installs what is missing, and pins go through apt's name=version. */
        free(yaml);
        yaml = strf("- package: {name: " PACKAGE ", version: '%s', action: upgrade}\n", version);
        expect_status(yaml, false, "changed");
        ck_assert(installed());
}
END_TEST

START_TEST(missing_version) {
        _cleanup_json_ json_object *report = NULL;
        const char *error;

        purge();
        report = expect("- package: {name: " PACKAGE ", version: 9.9-9}\n", false, "failed");
        error = json_object_get_string(json_object_object_get(
                json_object_array_get_idx(json_object_object_get(report, "resources"), 0),
                "error"));
        ck_assert_msg(startswith(error, "apt-get -y -q -o Dpkg::Options::=--force-confdef -o "
                                        "Dpkg::Options::=--force-confold -o DPkg::Lock::Timeout=300 "
                                        "--allow-downgrades "
                                        "install " PACKAGE "=9.9-9 failed with exit status 100: ") &&
                              strstr(error, "E: Version '9.9-9' for '" PACKAGE "' was not found"),
                      "unexpected error: %s", error);
        ck_assert(!installed());
}
END_TEST

START_TEST(unknown_package) {
        _cleanup_json_ json_object *report = NULL;
        const char *error;

        purge();
        report = expect("- package: {name: [" PACKAGE ", strata-no-such-package]}\n", false,
                        "failed");
        error = json_object_get_string(json_object_object_get(
                json_object_array_get_idx(json_object_object_get(report, "resources"), 0),
                "error"));
        ck_assert_msg(strstr(error, "install " PACKAGE " strata-no-such-package failed with exit "
                                    "status 100: ") &&
                              strstr(error, "E: Unable to locate package strata-no-such-package"),
                      "unexpected error: %s", error);
}
END_TEST

static void expect_load_error(const char *yaml, const char *needle) {
        _cleanup_json_ json_object *report = NULL;
        _cleanup_free_ char *error = NULL;

        test_cookbook(dir, "packages", "default", yaml);
        ck_assert_int_lt(test_converge(dir, "packages", NULL, false, &report, &error), 0);
        ck_assert_ptr_nonnull(error);
        ck_assert_msg(strstr(error, needle), "'%s' does not contain '%s'", error, needle);
}

START_TEST(bad_properties) {
        expect_load_error("- package: {name: [a, b], version: '1.0'}\n",
                          "package[a, b]: version can only be given with a single package name");
        expect_load_error("- package: {name: '-o=x'}\n",
                          "name: '-o=x' is not a package name");
        expect_load_error("- package: {name: 'a b'}\n", "name: 'a b' is not a package name");
        expect_load_error("- package: {name: a, version: '-1'}\n",
                          "version '-1' is not a package version");
        expect_load_error("- package: {name: a, action: purge}\n", "unknown action 'purge'");
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("res-package");
        TCase *tc = tcase_create("package");

        tcase_add_unchecked_fixture(tc, setup_once, teardown_once);
        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, install_upgrade_remove);
        tcase_add_test(tc, missing_version);
        tcase_add_test(tc, unknown_package);
        tcase_add_test(tc, bad_properties);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
