/* SPDX-License-Identifier: MIT */
#include <grp.h>

#include "spawn-program.h"
#include "str-util.h"
#include "test-helpers.h"

#define GROUP "stratatestg1"
#define GID 23451
#define GID2 23450

static char *dir;

static void delete_group(void) {
        _cleanup_free_ char *output = NULL;
        int status = -1;

        if (!getgrnam(GROUP))
                return;
        ck_assert_int_eq(spawn_program((char *[]){ (char *) "groupdel", (char *) GROUP, NULL },
                                       NULL, &output, &status),
                         0);
        ck_assert_msg(status == 0, "groupdel: %s", output);
        ck_assert_ptr_null(getgrnam(GROUP));
}

/* Made and removed by the parent process (an unchecked fixture), so that the group is deleted
 * even when a test fails, which ends the test's own process on the spot. */
static void setup_once(void) {
        test_lock_machine("strata-test-accounts.lock");
        delete_group();
        dir = test_tmpdir();
        ck_assert_ptr_null(getgrgid(GID));
        ck_assert_ptr_null(getgrgid(GID2));
}

static void teardown_once(void) {
        delete_group();
        test_rmdir(dir);
        dir = mfree(dir);
        test_unlock_machine();
}

static void expect(const char *yaml, bool why_run, const char *status) {
        _cleanup_json_ json_object *report = NULL;
        _cleanup_free_ char *error = NULL;

        test_cookbook(dir, "groups", "default", yaml);
        ck_assert_msg(test_converge(dir, "groups", NULL, why_run, &report, &error) == 0,
                      "converge: %s", strempty(error));
        ck_assert_str_eq(test_report_status(report, 0), status);
}

/* The group's gid and members ("a,b" in /etc/group order). */
static void assert_group(gid_t gid, const char *members) {
        struct group *gr = getgrnam(GROUP);
        _cleanup_free_ char *m = NULL;

        ck_assert_ptr_nonnull(gr);
        ck_assert_int_eq(gr->gr_gid, gid);
        m = strv_join(gr->gr_mem, ",");
        ck_assert_str_eq(m, members);
}

#define CREATE "- group: {name: " GROUP ", gid: 23451, members: [strata, root]}\n"

START_TEST(create) {
        delete_group();

        expect(CREATE, true, "changed");
        ck_assert_ptr_null(getgrnam(GROUP));

        expect(CREATE, false, "changed");
        assert_group(GID, "strata,root");
        expect(CREATE, false, "up_to_date");
        expect("- group: {name: " GROUP ", members: [root, strata, root]}\n", false,
               "up_to_date");
        expect("- group: {name: " GROUP "}\n", false, "up_to_date");
}
END_TEST

START_TEST(change) {
        delete_group();
        expect(CREATE, false, "changed");

        expect("- group: {name: " GROUP ", members: root}\n", true, "changed");
        assert_group(GID, "strata,root");
        expect("- group: {name: " GROUP ", members: root}\n", false, "changed");
        assert_group(GID, "root");

        expect("- group: {name: " GROUP ", gid: 23450}\n", false, "changed");
        assert_group(GID2, "root");
        expect("- group: {name: " GROUP ", gid: 23450, members: root}\n", false, "up_to_date");
}
END_TEST

START_TEST(unknown_member) {
        _cleanup_json_ json_object *report = NULL;
        _cleanup_free_ char *error = NULL;
        json_object *entry;

        delete_group();
        expect(CREATE, false, "changed");
        test_cookbook(dir, "groups", "default",
                      "- group: {name: " GROUP ", members: [stratatest-nobody]}\n");
        ck_assert_int_eq(test_converge(dir, "groups", NULL, false, &report, &error), 1);
        entry = json_object_array_get_idx(json_object_object_get(report, "resources"), 0);
        ck_assert_str_eq(json_object_get_string(json_object_object_get(entry, "error")),
                         "gpasswd -M stratatest-nobody " GROUP " failed with exit status 3: "
                         "gpasswd: user 'stratatest-nobody' does not exist");
        assert_group(GID, "strata,root");
}
END_TEST

START_TEST(remove_group) {
        const char *yaml = "- group: {name: " GROUP ", action: remove}\n";

        delete_group();
        expect(CREATE, false, "changed");
        expect(yaml, true, "changed");
        ck_assert_ptr_nonnull(getgrnam(GROUP));
        expect(yaml, false, "changed");
        ck_assert_ptr_null(getgrnam(GROUP));
        expect(yaml, false, "up_to_date");
}
END_TEST

static void expect_load_error(const char *yaml, const char *needle) {
        _cleanup_json_ json_object *report = NULL;
        _cleanup_free_ char *error = NULL;

        test_cookbook(dir, "groups", "default", yaml);
        ck_assert_int_lt(test_converge(dir, "groups", NULL, false, &report, &error), 0);
        ck_assert_ptr_nonnull(error);
        ck_assert_msg(strstr(error, needle), "'%s' does not contain '%s'", error, needle);
}

START_TEST(bad_properties) {
        expect_load_error("- group: {name: -g}\n",
                          "group[-g]: name '-g' is not a valid group name (letters, digits, '.', "
                          "'_' and '-', not starting with '-', at most 32)");
        expect_load_error("- group: {name: 'a b'}\n", "name 'a b' is not a valid group name");
        expect_load_error("- group: {name: g, gid: -1}\n", "gid -1 is out of range");
        expect_load_error("- group: {name: g, members: [a, '-b']}\n",
                          "members: '-b' is not a valid user name");
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("res-group");
        TCase *tc = tcase_create("group");

        tcase_add_unchecked_fixture(tc, setup_once, teardown_once);
        tcase_add_test(tc, create);
        tcase_add_test(tc, change);
        tcase_add_test(tc, unknown_member);
        tcase_add_test(tc, remove_group);
        tcase_add_test(tc, bad_properties);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
