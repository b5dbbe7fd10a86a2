/* SPDX-License-Identifier: MIT */
/* A local bare repository (main: three commits, tags v1 (annotated) and light), cloned by path
 * as the unprivileged test user. */
#include <sys/stat.h>

#include "fs-util.h"
#include "spawn-program.h"
#include "str-util.h"
#include "test-helpers.h"

static char *dir, *repo, *checkout, *commits[3];

/* Runs a shell script in dir as root; returns its output without the trailing newline. */
static char *sh(const char *script) {
        _cleanup_free_ char *global = strf("GIT_CONFIG_GLOBAL=%s/gitconfig", dir);
        char *output = NULL;
        int status = -1;
        size_t n;

        ck_assert_int_eq(spawn_program((char *[]){ (char *) "sh", (char *) "-ec", (char *) script,
                                                   (char *) "sh", dir, NULL },
                                       (char *[]){ (char *) "HOME=/nonexistent",
                                                   (char *) "GIT_CONFIG_NOSYSTEM=1", global, NULL },
                                       &output, &status),
                         0);
        ck_assert_msg(status == 0, "script failed: %s\n%s", script, output);
        n = strlen(output);
        while (n > 0 && output[n - 1] == '\n')
                output[--n] = 0;
        return output;
}

#define GIT "git -c user.name=Test -c user.email=test@example.com -c init.defaultBranch=main "
/* The bare repository belongs to the test user, who reads it: git refuses repositories of other
 * users. Root, who writes it here, trusts it through its global config (the one git does not
 * drop for the receiving side of a local push). */
#define HAND_OVER "chown -R " TEST_USER ": \"$1/repo.git\"\n"

static char *add_commit(const char *file) {
        _cleanup_free_ char *script = strf("cd \"$1/work\"\n"
                                           "echo %s > %s\n"
                                           GIT "add %s\n" GIT "commit -q -m %s\n" GIT
                                           "push -q origin main\n" HAND_OVER GIT "rev-parse HEAD\n",
                                           file, file, file, file);

        ck_assert_ptr_nonnull(script);
        return sh(script);
}

static void setup(void) {
        dir = test_tmpdir();
        repo = strf("%s/repo.git", dir);
        checkout = strf("%s/srv/app", dir);
        ck_assert_ptr_nonnull(repo);
        ck_assert_ptr_nonnull(checkout);

        free(sh("printf '[safe]\\n\\tdirectory = *\\n' > \"$1/gitconfig\"\n"));
        free(sh(GIT "init -q --bare \"$1/repo.git\"\n" GIT "init -q \"$1/work\"\n"
                   "cd \"$1/work\" && " GIT "remote add origin \"$1/repo.git\"\n"));
        commits[0] = add_commit("one");
        free(sh("cd \"$1/work\"\n" GIT "tag -a -m first v1\n" GIT "push -q origin v1\n" HAND_OVER));
        commits[1] = add_commit("two");
        free(sh("cd \"$1/work\"\n" GIT "tag light\n" GIT "push -q origin light\n" HAND_OVER));
        commits[2] = NULL;
}

static void teardown(void) {
        test_rmdir(dir);
        dir = mfree(dir);
        repo = mfree(repo);
        checkout = mfree(checkout);
        for (size_t i = 0; i < ELEMENTSOF(commits); i++)
                commits[i] = mfree(commits[i]);
}

/* The recipe's %s stand for the checkout path and the repository; returns the report. */
static json_object *sync_to(const char *revision, bool why_run, const char *status) {
        json_object *report = NULL;
        _cleanup_free_ char *yaml = NULL, *cookbooks = strf("%s/cookbooks", dir), *error = NULL;

        if (revision)
                yaml = strf("- git: {path: '%s', repository: '%s', revision: '%s'}\n", checkout,
                            repo, revision);
        else
                yaml = strf("- git: {path: '%s', repository: '%s'}\n", checkout, repo);
        ck_assert_ptr_nonnull(yaml);
        test_cookbook(cookbooks, "app", "default", yaml);
        ck_assert_msg(test_converge(cookbooks, "app", NULL, why_run, &report, &error) >= 0,
                      "converge: %s", strempty(error));
        ck_assert_str_eq(test_report_status(report, 0), status);
        return report;
}

#define expect_sync(revision, why_run, status) json_object_put(sync_to(revision, why_run, status))

/* What the checkout has checked out: a detached HEAD holds the commit id itself. */
static void assert_head(const char *commit) {
        _cleanup_free_ char *head = strf("%s/.git/HEAD", checkout), *content = NULL;
        _cleanup_free_ char *want = strf("%s\n", commit);

        content = test_read(head);
        ck_assert_ptr_nonnull(content);
        ck_assert_str_eq(content, want);
}

static void assert_owner(const char *path, uid_t uid) {
        struct stat st;

        ck_assert_int_eq(lstat(path, &st), 0);
        ck_assert_int_eq(st.st_uid, uid);
}

START_TEST(clone_and_follow) {
        _cleanup_free_ char *parent = strf("%s/srv", dir), *file = strf("%s/one", checkout);
        _cleanup_free_ char *content = NULL, *abbreviated = NULL;
        uid_t uid;
        gid_t gid;

        ck_assert_int_eq(resolve_user(TEST_USER, &uid, &gid), 0);

        expect_sync("v1", true, "changed");
        ck_assert_int_eq(access(checkout, F_OK), -1);

        expect_sync("v1", false, "changed");
        assert_head(commits[0]);
        content = test_read(file);
        ck_assert_str_eq(content, "one\n");
        assert_owner(checkout, uid);
        assert_owner(file, uid);
        assert_owner(parent, 0);
        expect_sync("v1", false, "up_to_date");

        expect_sync("main", false, "changed");
        assert_head(commits[1]);
        expect_sync("main", false, "up_to_date");
        expect_sync(NULL, false, "up_to_date");
        expect_sync("light", false, "up_to_date");
        expect_sync("refs/heads/main", false, "up_to_date");

        /* A new commit on the branch is fetched; why-run only tells. */
        commits[2] = add_commit("three");
        expect_sync("main", true, "changed");
        assert_head(commits[1]);
        expect_sync("main", false, "changed");
        assert_head(commits[2]);
        assert_owner(checkout, uid);

        expect_sync(commits[0], false, "changed");
        assert_head(commits[0]);
        expect_sync(commits[0], false, "up_to_date");

        abbreviated = strndup(commits[1], 10);
        ck_assert_ptr_nonnull(abbreviated);
        expect_sync(abbreviated, false, "changed");
        assert_head(commits[1]);
        expect_sync(abbreviated, false, "up_to_date");
}
END_TEST

START_TEST(unknown_revision) {
        _cleanup_json_ json_object *report = NULL;
        _cleanup_free_ char *error = NULL;

        report = sync_to("nope", false, "failed");
        error = strf("nope names no branch or tag of %s", repo);
        ck_assert_str_eq(test_report_error(report, 0), error);
        ck_assert_int_eq(access(checkout, F_OK), -1);
}
END_TEST

START_TEST(into_empty_directory) {
        uid_t uid;

        ck_assert_int_eq(resolve_user(TEST_USER, &uid, NULL), 0);
        ck_assert_int_eq(mkdir_parents(checkout, 0755), 0);
        expect_sync("v1", false, "changed");
        assert_head(commits[0]);
        assert_owner(checkout, uid);
}
END_TEST

START_TEST(refuses_other_content) {
        _cleanup_json_ json_object *report = NULL;
        _cleanup_free_ char *file = strf("%s/precious", checkout), *error = NULL;

        test_write(file, "data\n");
        report = sync_to("v1", false, "failed");
        error = strf("%s exists and is neither empty nor a git checkout", checkout);
        ck_assert_str_eq(test_report_error(report, 0), error);
}
END_TEST

static void expect_load_error(const char *yaml, const char *needle) {
        _cleanup_json_ json_object *report = NULL;
        _cleanup_free_ char *error = NULL, *cookbooks = strf("%s/cookbooks", dir);

        test_cookbook(cookbooks, "app", "default", yaml);
        ck_assert_int_lt(test_converge(cookbooks, "app", NULL, false, &report, &error), 0);
        ck_assert_ptr_nonnull(error);
        ck_assert_msg(strstr(error, needle), "'%s' does not contain '%s'", error, needle);
}

START_TEST(bad_properties) {
        expect_load_error("- git: {path: /srv/app, repository: repo.git}\n",
                          "git[/srv/app]: repository 'repo.git' must be a URL, host:path or an "
                          "absolute path");
        expect_load_error("- git: {path: /srv/app, repository: '--upload-pack=x:y'}\n",
                          "repository '--upload-pack=x:y' must be");
        expect_load_error("- git: {path: /srv/app, repository: /r, revision: '-x'}\n",
                          "revision '-x' must be a branch, tag or commit id");
        expect_load_error("- git: {path: srv/app, repository: /r}\n",
                          "path 'srv/app' must be an absolute path");
        expect_load_error("- git: {path: /srv/app}\n", "property 'repository' is required");
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("res-git");
        TCase *tc = tcase_create("git");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, clone_and_follow);
        tcase_add_test(tc, unknown_revision);
        tcase_add_test(tc, into_empty_directory);
        tcase_add_test(tc, refuses_other_content);
        tcase_add_test(tc, bad_properties);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
