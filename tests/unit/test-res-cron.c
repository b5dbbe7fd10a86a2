/* SPDX-License-Identifier: MIT */
#include <sys/stat.h>

#include "str-util.h"
#include "test-helpers.h"

static char *dir, *cookbooks, *cron_dir;

static void setup(void) {
        dir = test_tmpdir();
        cookbooks = strf("%s/cookbooks", dir);
        cron_dir = strf("%s/cron.d", dir);
        ck_assert_ptr_nonnull(cookbooks);
        ck_assert_ptr_nonnull(cron_dir);
        ck_assert_int_eq(mkdir(cron_dir, 0755), 0);
}

static void teardown(void) {
        test_rmdir(dir);
        dir = mfree(dir);
        cookbooks = mfree(cookbooks);
        cron_dir = mfree(cron_dir);
}

/* test_converge() with the cron directory pointed into the test's temp dir. */
static int run(const char *yaml, bool why_run, json_object **ret_report, char **ret_error) {
        char *path[] = { cookbooks, NULL };
        char *run_list[] = { (char *) "jobs", NULL };
        _cleanup_free_ char *cache = strf("%s/cache", dir);
        RuntimeConfig cfg = {
                .cookbook_path = path,
                .run_as = TEST_USER,
                .why_run = why_run,
                .cron_dir = cron_dir,
                .cache_dir = cache,
        };
        ConvergeRequest req = { .run_list = run_list };

        test_cookbook(cookbooks, "jobs", "default", yaml);
        *ret_report = NULL;
        return converge(&cfg, &req, ret_report, NULL, ret_error);
}

static void expect(const char *yaml, bool why_run, const char *status) {
        _cleanup_json_ json_object *report = NULL;
        _cleanup_free_ char *error = NULL;

        ck_assert_msg(run(yaml, why_run, &report, &error) == 0, "converge: %s", strempty(error));
        ck_assert_str_eq(test_report_status(report, 0), status);
}

static char *job_path(const char *name) {
        char *p = strf("%s/%s", cron_dir, name);

        ck_assert_ptr_nonnull(p);
        return p;
}

/* A cron.d file as cron wants it: root's, not writable by others. */
static void assert_file(const char *path, const char *content) {
        test_assert_file(path, content, 0644, 0, 0);
}

static const char full_recipe[] =
        "- cron:\n"
        "    name: backup\n"
        "    minute: '*/15'\n"
        "    hour: 2-4\n"
        "    day: 1,15\n"
        "    month: jan-jun/2\n"
        "    weekday: Mon-fri\n"
        "    user: www-data\n"
        "    mailto: ops@example.com\n"
        "    environment: {PATH: /usr/bin:/bin, RETRIES: 3}\n"
        "    command: /usr/local/bin/backup --all > /dev/null 2>&1\n";

static const char full_content[] =
        "# Managed by Strata: cron[backup]\n"
        "MAILTO=ops@example.com\n"
        "PATH=/usr/bin:/bin\n"
        "RETRIES=3\n"
        "*/15 2-4 1,15 jan-jun/2 Mon-fri www-data /usr/local/bin/backup --all > /dev/null 2>&1\n";

START_TEST(create_exact_file) {
        _cleanup_free_ char *p = job_path("backup");

        expect(full_recipe, false, "changed");
        assert_file(p, full_content);

        expect(full_recipe, false, "up_to_date");
        assert_file(p, full_content);
}
END_TEST

START_TEST(defaults) {
        _cleanup_free_ char *p = job_path("tick_1");

        expect("- cron: {name: tick_1, minute: 5, command: date}\n", false, "changed");
        assert_file(p, "# Managed by Strata: cron[tick_1]\n5 * * * * root date\n");
}
END_TEST

START_TEST(empty_mailto) {
        _cleanup_free_ char *p = job_path("quiet");

        expect("- cron: {name: quiet, mailto: '', command: 'true'}\n", false, "changed");
        assert_file(p, "# Managed by Strata: cron[quiet]\nMAILTO=\"\"\n* * * * * root true\n");
}
END_TEST

START_TEST(why_run_writes_nothing) {
        _cleanup_json_ json_object *report = NULL;
        _cleanup_free_ char *p = job_path("backup"), *error = NULL;
        json_object *changes;

        ck_assert_int_eq(run(full_recipe, true, &report, &error), 0);
        ck_assert_str_eq(test_report_status(report, 0), "changed");
        changes = json_object_object_get(json_object_array_get_idx(
                                                 json_object_object_get(report, "resources"), 0),
                                         "changes");
        ck_assert_int_eq(json_object_array_length(changes), 1);
        ck_assert_ptr_null(test_read(p));
        ck_assert_int_eq(access(p, F_OK), -1);
}
END_TEST

START_TEST(repairs_content_mode_and_owner) {
        _cleanup_free_ char *p = job_path("backup");
        struct stat st;

        test_write(p, "* * * * * root rm -rf /\n");
        expect(full_recipe, false, "changed");
        assert_file(p, full_content);

        ck_assert_int_eq(chmod(p, 0600), 0);
        expect(full_recipe, true, "changed");
        ck_assert_int_eq(stat(p, &st), 0);
        ck_assert_int_eq(st.st_mode & 07777, 0600);
        expect(full_recipe, false, "changed");
        assert_file(p, full_content);

        ck_assert_int_eq(chown(p, 1, 1), 0);
        expect(full_recipe, false, "changed");
        assert_file(p, full_content);
        expect(full_recipe, false, "up_to_date");
}
END_TEST

START_TEST(delete) {
        _cleanup_free_ char *p = job_path("backup");
        const char *del = "- cron: {name: backup, command: x, action: delete}\n";

        expect(full_recipe, false, "changed");
        expect(del, true, "changed");
        ck_assert_int_eq(access(p, F_OK), 0);
        expect(del, false, "changed");
        ck_assert_int_eq(access(p, F_OK), -1);
        ck_assert_int_eq(errno, ENOENT);
        expect(del, false, "up_to_date");
}
END_TEST

static void expect_load_error(const char *yaml, const char *needle) {
        _cleanup_json_ json_object *report = NULL;
        _cleanup_free_ char *error = NULL;

        ck_assert_int_lt(run(yaml, false, &report, &error), 0);
        ck_assert_ptr_null(report);
        ck_assert_ptr_nonnull(error);
        ck_assert_msg(strstr(error, needle), "'%s' does not contain '%s'", error, needle);
        ck_assert_msg(strstr(error, "recipes/default.yaml:1"), "'%s' does not name the file",
                      error);
}

START_TEST(bad_fields) {
        expect_load_error("- cron: {name: j, minute: 61, command: x}\n",
                          "cron[j]: minute: '61' is not a cron time field (expected *, a number "
                          "0-59, a range like 0-4, a step like */5, or a comma-separated list of "
                          "those)");
        expect_load_error("- cron: {name: j, hour: '1-24', command: x}\n", "hour: '1-24'");
        expect_load_error("- cron: {name: j, hour: '5-1', command: x}\n", "hour: '5-1'");
        expect_load_error("- cron: {name: j, day: 0, command: x}\n", "day: '0'");
        expect_load_error("- cron: {name: j, day: '1,,2', command: x}\n", "day: '1,,2'");
        expect_load_error("- cron: {name: j, month: jun-foo, command: x}\n",
                          "month: 'jun-foo' is not a cron time field (expected *, a number 1-12 "
                          "or jan-dec");
        expect_load_error("- cron: {name: j, weekday: '5/2', command: x}\n", "weekday: '5/2'");
        expect_load_error("- cron: {name: j, minute: '*/0', command: x}\n", "minute: '*/0'");
        expect_load_error("- cron: {name: j, minute: '1 2', command: x}\n", "minute: '1 2'");
        expect_load_error("- cron: {name: j, weekday: '', command: x}\n", "weekday: ''");
        expect_load_error("- cron: {name: a.b, command: x}\n", "name 'a.b' must be letters");
        expect_load_error("- cron: {name: j, command: \"a\\nb\"}\n", "command must be one");
        expect_load_error("- cron: {name: j}\n", "property 'command' is required");
        expect_load_error("- cron: {name: j, command: x, environment: {1A: b}}\n",
                          "environment: '1A' is not a variable name");
        expect_load_error("- cron: {name: j, command: x, user: 'a b'}\n", "user 'a b'");
}
END_TEST

START_TEST(good_fields) {
        expect("- cron: {name: j, minute: '0,30', hour: '*/2', day: '1-31/3', month: DEC, "
               "weekday: '0-7', command: x}\n",
               false, "changed");
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("res-cron");
        TCase *tc = tcase_create("cron");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, create_exact_file);
        tcase_add_test(tc, defaults);
        tcase_add_test(tc, empty_mailto);
        tcase_add_test(tc, why_run_writes_nothing);
        tcase_add_test(tc, repairs_content_mode_and_owner);
        tcase_add_test(tc, delete);
        tcase_add_test(tc, bad_fields);
        tcase_add_test(tc, good_fields);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
