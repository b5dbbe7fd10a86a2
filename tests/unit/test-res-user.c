/* SPDX-License-Identifier: MIT */
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include "spawn-program.h"
#include "str-util.h"
#include "test-helpers.h"

#define USER "stratatest1"
#define GROUP1 "stratatestug1"
#define GROUP2 "stratatestug2"
#define UID 23461

static char *dir, *cookbooks, *sudoers, *home;

static void run_program(const char *program, const char *name) {
        _cleanup_free_ char *output = NULL;
        int status = -1;

        ck_assert_int_eq(spawn_program((char *[]){ (char *) program, (char *) name, NULL }, NULL,
                                       &output, &status),
                         0);
        ck_assert_msg(status == 0, "%s %s: %s", program, name, output);
}

/* Fixed gids: groupadd would otherwise take the highest gid + 1, which may be one the group
 * tests running alongside are about to use. */
static void add_group(const char *name, const char *gid) {
        _cleanup_free_ char *output = NULL;
        int status = -1;

        ck_assert_int_eq(spawn_program((char *[]){ (char *) "groupadd", (char *) "-g", (char *) gid,
                                                   (char *) name, NULL },
                                       NULL, &output, &status),
                         0);
        ck_assert_msg(status == 0, "groupadd %s: %s", name, output);
}

static void delete_accounts(void) {
        if (getpwnam(USER))
                run_program("userdel", USER);
        if (getgrnam(USER))
                run_program("groupdel", USER);
        if (getgrnam(GROUP1))
                run_program("groupdel", GROUP1);
        if (getgrnam(GROUP2))
                run_program("groupdel", GROUP2);
}

/* The accounts are deleted by the parent process (an unchecked fixture) too, so that they go
 * even when a test fails, which ends the test's own process on the spot. */
static void setup_once(void) {
        test_lock_machine("strata-test-accounts.lock");
        delete_accounts();
        ck_assert_ptr_null(getpwuid(UID));
        dir = test_tmpdir();
        cookbooks = strf("%s/cookbooks", dir);
        sudoers = strf("%s/sudoers.d", dir);
        home = strf("%s/home/" USER, dir);
        ck_assert_ptr_nonnull(cookbooks);
        ck_assert_ptr_nonnull(sudoers);
        ck_assert_ptr_nonnull(home);
}

static void teardown_once(void) {
        delete_accounts();
        test_rmdir(dir);
        dir = mfree(dir);
        cookbooks = mfree(cookbooks);
        sudoers = mfree(sudoers);
        home = mfree(home);
        test_unlock_machine();
}

static void setup(void) {
        _cleanup_free_ char *homes = strf("%s/home", dir);

        delete_accounts();
        test_rmdir(home);
        test_rmdir(sudoers);
        ck_assert_int_eq(mkdir(sudoers, 0755), 0);
        ck_assert(mkdir(homes, 0755) == 0 || errno == EEXIST);
        add_group(GROUP1, "23471");
        add_group(GROUP2, "23472");
}

/* test_converge() with the sudoers directory pointed into the test's temp dir. */
static int run(const char *yaml, bool why_run, json_object **ret_report) {
        char *path[] = { cookbooks, NULL };
        char *run_list[] = { (char *) "users", NULL };
        _cleanup_free_ char *cache = strf("%s/cache", dir), *error = NULL;
        RuntimeConfig cfg = {
                .cookbook_path = path,
                .run_as = TEST_USER,
                .why_run = why_run,
                .sudoers_dir = sudoers,
                .cache_dir = cache,
        };
        _cleanup_json_ json_object *attributes = json_object_new_object();
        ConvergeRequest req = {
                .run_list = run_list,
                .attributes = &attributes,
                .n_attributes = 1,
        };
        int k;

        /* Recipes name the home directory in the temp dir as {{home}}. */
        ck_assert_ptr_nonnull(attributes);
        json_object_object_add(attributes, "home", json_object_new_string(home));
        test_cookbook(cookbooks, "users", "default", yaml);
        *ret_report = NULL;
        k = converge(&cfg, &req, ret_report, NULL, &error);
        ck_assert_msg(k >= 0, "converge: %s", strempty(error));
        return k;
}

/* Runs a recipe and checks the status of its resource; returns the report. */
static json_object *expect(const char *yaml, bool why_run, const char *status) {
        json_object *report = NULL;

        run(yaml, why_run, &report);
        ck_assert_str_eq(test_report_status(report, 0), status);
        return report;
}

#define expect_status(yaml, why_run, status) json_object_put(expect(yaml, why_run, status))

static void assert_dir(const char *path, mode_t mode, uid_t uid, gid_t gid) {
        struct stat st;

        ck_assert_int_eq(lstat(path, &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        ck_assert_int_eq(st.st_mode & 07777, mode);
        ck_assert_int_eq(st.st_uid, uid);
        ck_assert_int_eq(st.st_gid, gid);
}

/* The supplementary groups of USER, as "a,b" in name order of /etc/group. */
static char *supplementary_groups(void) {
        struct passwd *pw = getpwnam(USER);
        _cleanup_strv_free_ char **names = NULL;
        gid_t groups[64];
        int n = ELEMENTSOF(groups);

        ck_assert_ptr_nonnull(pw);
        ck_assert_int_ge(getgrouplist(USER, pw->pw_gid, groups, &n), 0);
        for (int i = 0; i < n; i++)
                if (groups[i] != pw->pw_gid)
                        ck_assert_int_eq(strv_extend(&names, getgrgid(groups[i])->gr_name), 0);
        return names ? strv_join(names, ",") : strdup("");
}

static void assert_visudo_accepts(const char *path) {
        int status = -1;

        ck_assert_int_eq(spawn_program((char *[]){ (char *) "visudo", (char *) "-cf",
                                                   (char *) path, NULL },
                                       NULL, NULL, &status),
                         0);
        ck_assert_int_eq(status, 0);
}

#define CREATE                                                                                     \
        "- user:\n"                                                                                \
        "    name: " USER "\n"                                                                     \
        "    uid: 23461\n"                                                                         \
        "    home: '{{home}}'\n"                                                                   \
        "    shell: /bin/sh\n"                                                                     \
        "    groups: [" GROUP1 "]\n"                                                               \
        "    ssh_authorized_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA one@example', "        \
        "'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ two@example']\n"                                  \
        "    sudo: true\n"

#define KEYS                                                                                       \
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA one@example\n"                                     \
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ two@example\n"

START_TEST(create) {
        _cleanup_free_ char *ssh = strf("%s/.ssh", home);
        _cleanup_free_ char *keys = strf("%s/.ssh/authorized_keys", home);
        _cleanup_free_ char *drop_in = strf("%s/strata-" USER, sudoers), *groups = NULL;
        struct passwd *pw;
        struct stat st;
        gid_t gid;

        expect_status(CREATE, true, "changed");
        ck_assert_ptr_null(getpwnam(USER));
        ck_assert_int_eq(access(home, F_OK), -1);
        ck_assert_int_eq(access(drop_in, F_OK), -1);

        expect_status(CREATE, false, "changed");
        pw = getpwnam(USER);
        ck_assert_ptr_nonnull(pw);
        ck_assert_int_eq(pw->pw_uid, UID);
        ck_assert_str_eq(pw->pw_dir, home);
        ck_assert_str_eq(pw->pw_shell, "/bin/sh");
        gid = pw->pw_gid;
        ck_assert_int_eq(getgrnam(USER)->gr_gid, gid);
        groups = supplementary_groups();
        ck_assert_str_eq(groups, GROUP1);

        ck_assert_int_eq(stat(home, &st), 0);
        ck_assert_int_eq(st.st_uid, UID);
        ck_assert_int_eq(st.st_gid, gid);
        assert_dir(ssh, 0700, UID, gid);
        test_assert_file(keys, KEYS, 0600, UID, gid);
        test_assert_file(drop_in, USER " ALL=(ALL) NOPASSWD:ALL\n", 0440, 0, 0);
        assert_visudo_accepts(drop_in);

        expect_status(CREATE, false, "up_to_date");
}
END_TEST

START_TEST(change) {
        _cleanup_free_ char *keys = strf("%s/.ssh/authorized_keys", home);
        _cleanup_free_ char *drop_in = strf("%s/strata-" USER, sudoers), *groups = NULL;
        const char *yaml = "- user:\n"
                           "    name: " USER "\n"
                           "    home: '{{home}}'\n"
                           "    shell: /bin/bash\n"
                           "    groups: [" GROUP2 ", " GROUP1 "]\n"
                           "    ssh_authorized_keys: 'ssh-ed25519 AAAA three'\n"
                           "    sudo: false\n";
        _cleanup_json_ json_object *report = NULL;
        _cleanup_free_ char *changes = NULL;

        expect_status(CREATE, false, "changed");

        expect_status(yaml, true, "changed");
        ck_assert_str_eq(getpwnam(USER)->pw_shell, "/bin/sh");
        ck_assert_int_eq(access(drop_in, F_OK), 0);

        report = expect(yaml, false, "changed");
        changes = strf("[\"change the shell of " USER " from /bin/sh to /bin/bash\","
                       "\"set the supplementary groups of " USER " to '" GROUP2 "," GROUP1
                       "' (were '" GROUP1 "')\","
                       "\"write %s\","
                       "\"remove %s\"]",
                       keys, drop_in);
        ck_assert_str_eq(test_report_json(report, 0, "changes"), changes);
        ck_assert_str_eq(getpwnam(USER)->pw_shell, "/bin/bash");
        groups = supplementary_groups();
        ck_assert_str_eq(groups, GROUP1 "," GROUP2);
        test_assert_file(keys, "ssh-ed25519 AAAA three\n", 0600, UID, getpwnam(USER)->pw_gid);
        ck_assert_int_eq(access(drop_in, F_OK), -1);

        expect_status(yaml, false, "up_to_date");
        /* Unset properties are left alone. */
        expect_status("- user: {name: " USER "}\n", false, "up_to_date");
}
END_TEST

START_TEST(repair_keys) {
        _cleanup_free_ char *ssh = strf("%s/.ssh", home);
        _cleanup_free_ char *keys = strf("%s/.ssh/authorized_keys", home);
        _cleanup_free_ char *elsewhere = strf("%s/elsewhere", dir), *error = NULL;
        _cleanup_json_ json_object *report = NULL;
        gid_t gid;

        expect_status(CREATE, false, "changed");
        gid = getpwnam(USER)->pw_gid;

        ck_assert_int_eq(chmod(keys, 0644), 0);
        ck_assert_int_eq(chown(ssh, 0, 0), 0);
        expect_status(CREATE, false, "changed");
        assert_dir(ssh, 0700, UID, gid);
        test_assert_file(keys, KEYS, 0600, UID, gid);

        test_write(keys, "ssh-rsa intruder\n");
        expect_status(CREATE, false, "changed");
        test_assert_file(keys, KEYS, 0600, UID, gid);

        /* The user replaces .ssh by a symbolic link: nothing is written through it. */
        ck_assert_int_eq(mkdir(elsewhere, 0755), 0);
        test_rmdir(ssh);
        ck_assert_int_eq(symlink(elsewhere, ssh), 0);
        report = expect(CREATE, false, "failed");
        error = strf("\"cannot open %s (it must be a directory, not a symbolic link): Not a "
                     "directory\"",
                     ssh);
        ck_assert_str_eq(test_report_json(report, 0, "error"), error);
        assert_dir(elsewhere, 0755, 0, 0);
        ck_assert_int_eq(access(keys, F_OK), -1);
}
END_TEST

START_TEST(sudoers_repair_and_name) {
        _cleanup_free_ char *drop_in = strf("%s/strata-" USER, sudoers);

        expect_status(CREATE, false, "changed");
        test_write(drop_in, USER " ALL=(ALL) ALL\n");
        ck_assert_int_eq(chmod(drop_in, 0644), 0);
        expect_status(CREATE, false, "changed");
        test_assert_file(drop_in, USER " ALL=(ALL) NOPASSWD:ALL\n", 0440, 0, 0);

        ck_assert_int_eq(chmod(drop_in, 0400), 0);
        expect_status(CREATE, false, "changed");
        test_assert_file(drop_in, USER " ALL=(ALL) NOPASSWD:ALL\n", 0440, 0, 0);
        expect_status(CREATE, false, "up_to_date");
}
END_TEST

START_TEST(remove_user) {
        _cleanup_free_ char *drop_in = strf("%s/strata-" USER, sudoers);
        const char *yaml = "- user: {name: " USER ", action: remove}\n";

        expect_status(CREATE, false, "changed");
        expect_status(yaml, true, "changed");
        ck_assert_ptr_nonnull(getpwnam(USER));
        ck_assert_int_eq(access(drop_in, F_OK), 0);

        expect_status(yaml, false, "changed");
        ck_assert_ptr_null(getpwnam(USER));
        ck_assert_int_eq(access(drop_in, F_OK), -1);
        /* The home directory stays unless manage_home says otherwise. */
        ck_assert_int_eq(access(home, F_OK), 0);
        expect_status(yaml, false, "up_to_date");
}
END_TEST

START_TEST(remove_with_home) {
        expect_status(CREATE, false, "changed");
        expect_status("- user: {name: " USER ", manage_home: true, action: remove}\n", false,
               "changed");
        ck_assert_ptr_null(getpwnam(USER));
        ck_assert_int_eq(access(home, F_OK), -1);
}
END_TEST

START_TEST(unknown_group) {
        _cleanup_json_ json_object *report = NULL;
        _cleanup_free_ char *error = NULL;

        report = expect("- user: {name: " USER ", home: '{{home}}', groups: [stratatest-none]}\n",
                        false, "failed");
        error = strf("\"useradd -d %s -G stratatest-none -m -- " USER " failed with exit status 6: "
                     "useradd: group 'stratatest-none' does not exist\"",
                     home);
        ck_assert_str_eq(test_report_json(report, 0, "error"), error);
        ck_assert_ptr_null(getpwnam(USER));
}
END_TEST

static void expect_load_error(const char *yaml, const char *needle) {
        _cleanup_json_ json_object *report = NULL;
        _cleanup_free_ char *error = NULL;
        char *path[] = { cookbooks, NULL };
        char *run_list[] = { (char *) "users", NULL };
        RuntimeConfig cfg = { .cookbook_path = path, .run_as = TEST_USER };
        ConvergeRequest req = { .run_list = run_list };

        test_cookbook(cookbooks, "users", "default", yaml);
        ck_assert_int_lt(converge(&cfg, &req, &report, NULL, &error), 0);
        ck_assert_ptr_nonnull(error);
        ck_assert_msg(strstr(error, needle), "'%s' does not contain '%s'", error, needle);
}

START_TEST(bad_properties) {
        expect_load_error("- user: {name: '-u'}\n",
                          "user[-u]: name '-u' is not a valid user name (letters, digits, '.', "
                          "'_' and '-', not starting with '-', at most 32)");
        expect_load_error("- user: {name: u, uid: -5}\n", "uid -5 is out of range");
        expect_load_error("- user: {name: u, home: rel}\n",
                          "home 'rel' must be an absolute path without ':'");
        expect_load_error("- user: {name: u, shell: '/bin/sh:x'}\n", "shell '/bin/sh:x'");
        expect_load_error("- user: {name: u, groups: [a, 'b c']}\n",
                          "groups: 'b c' is not a valid group name");
        expect_load_error("- user: {name: u, ssh_authorized_keys: [\"a\\nb\"]}\n",
                          "ssh_authorized_keys: each key must be one non-empty line");
        expect_load_error("- user: {name: u, sudo: maybe}\n", "property 'sudo' must be true or "
                                                              "false");
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("res-user");
        TCase *tc = tcase_create("user");

        tcase_add_unchecked_fixture(tc, setup_once, teardown_once);
        tcase_add_checked_fixture(tc, setup, NULL);
        tcase_add_test(tc, create);
        tcase_add_test(tc, change);
        tcase_add_test(tc, repair_keys);
        tcase_add_test(tc, sudoers_repair_and_name);
        tcase_add_test(tc, remove_user);
        tcase_add_test(tc, remove_with_home);
        tcase_add_test(tc, unknown_group);
        tcase_add_test(tc, bad_properties);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
