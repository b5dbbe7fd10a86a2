/* SPDX-License-Identifier: MIT */
/* git-source: checkouts from a real git daemon on loopback of a repository with branches, tags
 * and a submodule; errors for bad revisions and unreachable remotes; the deploy key's life. */

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "fs-util.h"
#include "git-source.h"
#include "server-git.h"
#include "str-util.h"
#include "test-helpers.h"

static GitServer server;
static char *root, *cache, *dest, *tmp, *url;
/* main at c2 (README v2, the submodule modules/sub), tag v1.0 (annotated) and branch feature
 * from c1, lightweight tag light at c2; sub.git at subc. */
static char *c1, *c2, *cfeature, *subc;
static char **logged;

static void log_line(int priority, const LogContext *ctx, const char *message, void *userdata) {
        (void)priority;
        (void)ctx;
        (void)userdata;
        ck_assert_int_eq(strv_extend(&logged, message), 0);
}

static char *path_in(const char *dir, const char *rel) {
        char *p = strf("%s/%s", dir, rel);

        ck_assert_ptr_nonnull(p);
        return p;
}

/* The repositories, once for the whole suite (tests only read them). */
static void setup_server(void) {
        _cleanup_free_ char *work = NULL, *readme = NULL, *feature = NULL, *run = NULL;

        /* The modes git checks files out with. */
        umask(022);
        git_server_start(&server);
        subc = git_server_repo(&server, "sub.git", "lib.txt", "sub v1\n", NULL);
        free(git_server_repo(&server, "app.git", "README", "v1\n", "bin/run", "#!/bin/sh\n", NULL));
        url = git_server_url(&server, "app.git");

        work = git_server_work(&server, "app.git");
        readme = path_in(work, "README");
        feature = path_in(work, "feature.txt");
        run = path_in(work, "bin/run");
        ck_assert_int_eq(chmod(run, 0755), 0);
        free(git_server_git(work, "commit", "-q", "-a", "-m", "executable", NULL));
        c1 = git_server_git(work, "rev-parse", "HEAD", NULL);
        free(git_server_git(work, "tag", "-a", "-m", "release 1.0", "v1.0", NULL));
        free(git_server_git(work, "checkout", "-q", "-b", "feature", NULL));
        test_write(feature, "feature\n");
        free(git_server_git(work, "add", "feature.txt", NULL));
        free(git_server_git(work, "commit", "-q", "-m", "feature", NULL));
        cfeature = git_server_git(work, "rev-parse", "HEAD", NULL);
        free(git_server_git(work, "checkout", "-q", "main", NULL));
        test_write(readme, "v2\n");
        free(git_server_git(work, "submodule", "--quiet", "add", "../sub.git", "modules/sub",
                            NULL));
        free(git_server_git(work, "commit", "-q", "-a", "-m", "v2", NULL));
        c2 = git_server_git(work, "rev-parse", "HEAD", NULL);
        free(git_server_git(work, "tag", "light", NULL));
        free(git_server_git(work, "push", "-q", "origin", "main", "feature", "v1.0", "light",
                            NULL));
        test_rmdir(work);
}

static void teardown_server(void) {
        git_server_stop(&server);
        url = mfree(url);
        c1 = mfree(c1);
        c2 = mfree(c2);
        cfeature = mfree(cfeature);
        subc = mfree(subc);
}

static void setup(void) {
        root = test_tmpdir();
        cache = path_in(root, "cache");
        dest = path_in(root, "dest");
        tmp = path_in(root, "tmp");
        ck_assert_int_eq(mkdir(cache, 0700), 0);
        ck_assert_int_eq(mkdir(dest, 0755), 0);
        ck_assert_int_eq(mkdir(tmp, 0700), 0);
        /* Where the deploy key and the private index go: must be empty after each run. */
        ck_assert_int_eq(setenv("TMPDIR", tmp, 1), 0);
}

static void teardown(void) {
        unsetenv("TMPDIR");
        test_rmdir(root);
        root = mfree(root);
        cache = mfree(cache);
        dest = mfree(dest);
        tmp = mfree(tmp);
        strv_free(logged);
        logged = NULL;
}

static size_t count_entries(const char *dir) {
        DIR *d = opendir(dir);
        size_t n = 0;

        ck_assert_msg(d, "cannot open %s", dir);
        for (struct dirent *de; (de = readdir(d));)
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

static bool exists(const char *dir, const char *rel) {
        _cleanup_free_ char *p = path_in(dir, rel);
        struct stat st;

        return lstat(p, &st) == 0;
}

static void assert_dest_file(const char *rel, const char *content, mode_t mode) {
        _cleanup_free_ char *p = path_in(dest, rel);

        test_assert_file(p, content, mode, getuid(), getgid());
}

/* Fetches from_url with the given revision and flags, expecting success; returns the commit
 * id. */
static char *fetch_from(const char *from_url, const char *revision, bool submodules,
                        bool keep_git) {
        GitSource s = {
                .url = from_url,
                .revision = revision,
                .submodules = submodules,
                .keep_git = keep_git,
        };
        GitSourceOptions o = {.cache_dir = cache, .log = log_line};
        _cleanup_free_ char *e = NULL;
        char *commit = NULL;
        int r;

        r = git_source_fetch(&s, dest, &o, &commit, &e);
        ck_assert_msg(r == 0, "%d %s", r, strempty(e));
        ck_assert_ptr_null(e);
        ck_assert_int_eq(count_entries(tmp), 0);
        return commit;
}

static char *fetch(const char *revision, bool submodules, bool keep_git) {
        return fetch_from(url, revision, submodules, keep_git);
}

/* Fetches s expecting failure r with message error; dest and TMPDIR left empty. */
static void fetch_fails(const GitSource *s, int expect_r, const char *error) {
        GitSourceOptions o = {.cache_dir = cache, .log = log_line};
        _cleanup_free_ char *e = NULL, *commit = NULL;

        ck_assert_int_eq(git_source_fetch(s, dest, &o, &commit, &e), expect_r);
        ck_assert_ptr_null(commit);
        ck_assert_ptr_nonnull(e);
        ck_assert_str_eq(e, error);
        ck_assert_int_eq(count_entries(dest), 0);
        ck_assert_int_eq(count_entries(tmp), 0);
}

static void empty_dest(void) {
        test_rmdir(dest);
        ck_assert_int_eq(mkdir(dest, 0755), 0);
}

START_TEST(test_default_branch) {
        _cleanup_free_ char *commit = fetch(NULL, false, false);
        _cleanup_free_ char *gitmodules = NULL, *sub = NULL;

        ck_assert_str_eq(commit, c2);
        ck_assert_int_eq(count_entries(dest), 4);
        assert_dest_file("README", "v2\n", 0644);
        assert_dest_file("bin/run", "#!/bin/sh\n", 0755);
        gitmodules = strf("[submodule \"modules/sub\"]\n\tpath = modules/sub\n"
                          "\turl = ../sub.git\n");
        assert_dest_file(".gitmodules", gitmodules, 0644);
        /* Without submodules: the submodule's directory stays empty. */
        sub = path_in(dest, "modules/sub");
        ck_assert_int_eq(count_entries(sub), 0);
        ck_assert(!exists(dest, ".git"));
}
END_TEST

START_TEST(test_branch) {
        _cleanup_free_ char *commit = fetch("feature", false, false);

        ck_assert_str_eq(commit, cfeature);
        ck_assert_int_eq(count_entries(dest), 3);
        assert_dest_file("README", "v1\n", 0644);
        assert_dest_file("bin/run", "#!/bin/sh\n", 0755);
        assert_dest_file("feature.txt", "feature\n", 0644);
}
END_TEST

START_TEST(test_tags) {
        _cleanup_free_ char *annotated = fetch("v1.0", false, false), *light = NULL;

        ck_assert_str_eq(annotated, c1);
        ck_assert_int_eq(count_entries(dest), 2);
        assert_dest_file("README", "v1\n", 0644);

        empty_dest();
        light = fetch("light", false, false);
        ck_assert_str_eq(light, c2);
        assert_dest_file("README", "v2\n", 0644);
}
END_TEST

START_TEST(test_commit_ids) {
        _cleanup_free_ char *full = fetch(c1, false, false), *abbrev = NULL, *short_id = NULL;

        ck_assert_str_eq(full, c1);
        ck_assert_int_eq(count_entries(dest), 2);
        assert_dest_file("README", "v1\n", 0644);

        empty_dest();
        short_id = strndup(cfeature, 10);
        abbrev = fetch(short_id, false, false);
        ck_assert_str_eq(abbrev, cfeature);
        assert_dest_file("feature.txt", "feature\n", 0644);
}
END_TEST

/* The second fetch updates the mirror in place: a new commit on main is seen, a deleted branch
 * is gone. */
START_TEST(test_mirror_reused) {
        _cleanup_free_ char *app = git_server_path(&server, "app.git");
        _cleanup_free_ char *copy = git_server_path(&server, "reused.git");
        _cleanup_free_ char *copy_url = git_server_url(&server, "reused.git");
        _cleanup_free_ char *first = NULL, *second = NULL;
        _cleanup_free_ char *work = NULL, *readme = NULL, *c3 = NULL, *mirror = NULL;
        _cleanup_free_ char *cloning = NULL, *fetching = NULL, *done = NULL, *error = NULL;
        _cleanup_free_ char *git_dir = path_in(cache, "git");
        GitSource gone = {.url = copy_url, .revision = "feature"};
        char hash[65];
        struct stat a, b;

        /* This test changes the repository: a copy of its own. */
        free(git_server_git(NULL, "clone", "-q", "--mirror", app, copy, NULL));
        first = fetch_from(copy_url, NULL, false, false);
        ck_assert_str_eq(first, c2);
        cloning = strf("git %s: cloning a mirror", copy_url);
        done = strf("git %s: checked out %s (the default branch)", copy_url, c2);
        ck_assert_uint_eq(strv_length(logged), 2);
        ck_assert_str_eq(logged[0], cloning);
        ck_assert_str_eq(logged[1], done);

        ck_assert_int_eq(stat(git_dir, &a), 0);
        ck_assert_int_eq(a.st_mode & 07777, 0700);
        ck_assert_int_eq(sha256_hex(copy_url, strlen(copy_url), hash), 0);
        mirror = strf("%s/git/%s.git", cache, hash);
        ck_assert_int_eq(stat(mirror, &a), 0);

        work = git_server_work(&server, "reused.git");
        readme = path_in(work, "README");
        test_write(readme, "v3\n");
        free(git_server_git(work, "commit", "-q", "-a", "-m", "v3", NULL));
        c3 = git_server_git(work, "rev-parse", "HEAD", NULL);
        free(git_server_git(work, "push", "-q", "origin", "main", ":feature", NULL));
        test_rmdir(work);

        empty_dest();
        strv_free(logged);
        logged = NULL;
        second = fetch_from(copy_url, NULL, false, false);
        ck_assert_str_eq(second, c3);
        assert_dest_file("README", "v3\n", 0644);
        fetching = strf("git %s: fetching into the mirror", copy_url);
        ck_assert_uint_eq(strv_length(logged), 2);
        ck_assert_str_eq(logged[0], fetching);
        ck_assert_int_eq(stat(mirror, &b), 0);
        ck_assert_int_eq(a.st_ino, b.st_ino);

        empty_dest();
        error = strf("git %s: revision 'feature' is not a branch, tag or commit of the "
                     "repository",
                     copy_url);
        fetch_fails(&gone, -ENOENT, error);
        test_rmdir(copy);
}
END_TEST

START_TEST(test_keep_git) {
        _cleanup_free_ char *commit = fetch("v1.0", false, true), *head = NULL, *origin = NULL;
        _cleanup_free_ char *status = NULL;

        ck_assert_str_eq(commit, c1);
        ck_assert_int_eq(count_entries(dest), 3);
        assert_dest_file("README", "v1\n", 0644);
        head = git_server_git(dest, "rev-parse", "HEAD", NULL);
        ck_assert_str_eq(head, c1);
        origin = git_server_git(dest, "remote", "get-url", "origin", NULL);
        ck_assert_str_eq(origin, url);
        status = git_server_git(dest, "status", "--porcelain", NULL);
        ck_assert_str_eq(status, "");
}
END_TEST

START_TEST(test_submodules) {
        _cleanup_free_ char *commit = fetch(NULL, true, false), *sub = NULL;

        ck_assert_str_eq(commit, c2);
        ck_assert_int_eq(count_entries(dest), 4);
        assert_dest_file("README", "v2\n", 0644);
        assert_dest_file("bin/run", "#!/bin/sh\n", 0755);
        assert_dest_file("modules/sub/lib.txt", "sub v1\n", 0644);
        sub = path_in(dest, "modules/sub");
        ck_assert_int_eq(count_entries(sub), 1);
        ck_assert(!exists(dest, ".git"));
}
END_TEST

START_TEST(test_submodules_keep_git) {
        _cleanup_free_ char *commit = fetch(NULL, true, true), *sub = NULL, *head = NULL;

        ck_assert_str_eq(commit, c2);
        assert_dest_file("modules/sub/lib.txt", "sub v1\n", 0644);
        ck_assert(exists(dest, ".git"));
        ck_assert(exists(dest, "modules/sub/.git"));
        sub = path_in(dest, "modules/sub");
        head = git_server_git(sub, "rev-parse", "HEAD", NULL);
        ck_assert_str_eq(head, subc);
}
END_TEST

START_TEST(test_bad_revisions) {
        _cleanup_free_ char *missing = NULL, *option = NULL, *expr = NULL;
        GitSource nope = {.url = url, .revision = "nope"};
        GitSource dash = {.url = url, .revision = "--upload-pack=touch /tmp/x"};
        GitSource parent = {.url = url, .revision = "main~1"};

        missing = strf("git %s: revision 'nope' is not a branch, tag or commit of the repository",
                       url);
        fetch_fails(&nope, -ENOENT, missing);
        option = strf("git %s: revision '--upload-pack=touch /tmp/x' is not a branch, tag or "
                      "commit name",
                      url);
        fetch_fails(&dash, -EINVAL, option);
        expr = strf("git %s: revision 'main~1' is not a branch, tag or commit name", url);
        fetch_fails(&parent, -EINVAL, expr);
}
END_TEST

static unsigned closed_port(void) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
        close(fd);
        return ntohs(a.sin_port);
}

/* No mirror is left behind by a clone that failed. */
static void assert_no_mirror(void) {
        _cleanup_free_ char *git_dir = path_in(cache, "git");
        DIR *d = opendir(git_dir);

        ck_assert_ptr_nonnull(d);
        for (struct dirent *de; (de = readdir(d));)
                ck_assert_msg(!endswith(de->d_name, ".git") && !endswith(de->d_name, ".new"),
                              "left behind: %s", de->d_name);
        closedir(d);
}

START_TEST(test_unreachable) {
        unsigned port = closed_port();
        _cleanup_free_ char *closed = strf("git://127.0.0.1:%u/app.git", port);
        _cleanup_free_ char *missing = git_server_url(&server, "none.git");
        _cleanup_free_ char *e1 = NULL, *e2 = NULL;
        GitSource s1 = {.url = closed};
        GitSource s2 = {.url = missing, .revision = "main"};

        e1 = strf("git %s (the default branch): cloning failed with exit status 128: fatal: "
                  "unable to connect to 127.0.0.1:\n127.0.0.1[0: 127.0.0.1]: "
                  "errno=Connection refused",
                  closed);
        fetch_fails(&s1, -EPROTO, e1);
        e2 = strf("git %s (main): cloning failed with exit status 128: fatal: remote error: "
                  "access denied or repository not exported: /none.git",
                  missing);
        fetch_fails(&s2, -EPROTO, e2);
        assert_no_mirror();
}
END_TEST

START_TEST(test_credentials_masked) {
        unsigned port = closed_port();
        _cleanup_free_ char *secret = strf("http://deploy:s3cret@127.0.0.1:%u/app.git", port);
        _cleanup_free_ char *masked = strf("http://***@127.0.0.1:%u/app.git", port);
        _cleanup_free_ char *m = git_source_mask_url(secret), *e = NULL, *commit = NULL;
        GitSource s = {.url = secret};
        GitSourceOptions o = {.cache_dir = cache, .log = log_line};

        ck_assert_str_eq(m, masked);
        free(m);
        m = git_source_mask_url("https://ghp_token@github.com/o/r.git");
        ck_assert_str_eq(m, "https://***@github.com/o/r.git");
        free(m);
        m = git_source_mask_url("git@github.com:o/r.git");
        ck_assert_str_eq(m, "git@github.com:o/r.git");

        ck_assert_int_eq(git_source_fetch(&s, dest, &o, &commit, &e), -EPROTO);
        ck_assert_msg(strstr(e, "s3cret") == NULL && strstr(e, "deploy") == NULL, "%s", e);
        ck_assert_msg(startswith(e, "git ") && strstr(e, masked) &&
                              strstr(e, "(the default branch): cloning failed with exit status"),
                      "%s", e);
        for (char **l = logged; l && *l; l++)
                ck_assert_msg(strstr(*l, "s3cret") == NULL, "%s", *l);
}
END_TEST

/* A fake ssh server: accepts one connection, reports the deploy key's mode and bytes as ssh
 * is connecting, then hangs up without a banner. */
static pid_t fake_ssh_server(unsigned *ret_port, const char *report) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        pid_t pid;

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        ck_assert_int_eq(listen(fd, 1), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
        *ret_port = ntohs(a.sin_port);

        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                _cleanup_free_ char *content = NULL, *line = NULL;
                char **keys = NULL;
                struct stat st;
                DIR *d;
                int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

                /* What went wrong shows as a missing report: under valgrind the exit status
                 * of a child is valgrind's. */
                if (c < 0)
                        _exit(EXIT_FAILURE);
                d = opendir(tmp);
                if (!d)
                        _exit(EXIT_FAILURE);
                for (struct dirent *de; (de = readdir(d));)
                        if (startswith(de->d_name, "strata-git-key-"))
                                (void)strv_push(&keys, strf("%s/%s/key", tmp, de->d_name));
                closedir(d);
                if (strv_length(keys) != 1 || stat(keys[0], &st) < 0 ||
                    read_full_file(keys[0], 4096, &content, NULL) < 0)
                        _exit(EXIT_FAILURE);
                line = strf("%o %s", (unsigned)(st.st_mode & 07777), content);
                if (!line || write_file_atomic_full(report, line, strlen(line), 0644, (uid_t)-1,
                                                    (gid_t)-1, 0) < 0)
                        _exit(EXIT_FAILURE);
                close(c);
                _exit(0);
        }
        close(fd);
        return pid;
}

START_TEST(test_deploy_key) {
        _cleanup_free_ char *report = path_in(root, "report"), *ssh_url = NULL, *got = NULL;
        _cleanup_free_ char *e = NULL, *commit = NULL, *masked = NULL;
        GitSourceOptions o = {.cache_dir = cache, .log = log_line};
        unsigned port;
        pid_t pid = fake_ssh_server(&port, report);
        GitSource s = {
                .url = NULL,
                .ssh_key = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot really\n"
                           "-----END OPENSSH PRIVATE KEY-----",
        };

        ssh_url = strf("ssh://git@127.0.0.1:%u/app.git", port);
        s.url = ssh_url;
        ck_assert_int_eq(git_source_fetch(&s, dest, &o, &commit, &e), -EPROTO);
        ck_assert_int_eq(waitpid(pid, NULL, 0), pid);

        /* 0600 while ssh ran, with the final newline ssh needs; gone after. */
        got = test_read(report);
        ck_assert_str_eq(got, "600 -----BEGIN OPENSSH PRIVATE KEY-----\nnot really\n"
                              "-----END OPENSSH PRIVATE KEY-----\n");
        ck_assert_int_eq(count_entries(tmp), 0);
        ck_assert_int_eq(count_entries(dest), 0);

        masked = strf("git ssh://***@127.0.0.1:%u/app.git (the default branch): cloning failed "
                      "with exit status 128: ",
                      port);
        ck_assert_msg(startswith(e, masked) && strstr(e, "Could not read from remote repository"),
                      "%s", e);
}
END_TEST

static Suite *git_source_suite(void) {
        Suite *s = suite_create("git-source");
        TCase *tc = tcase_create("git-source");

        tcase_add_unchecked_fixture(tc, setup_server, teardown_server);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_default_branch);
        tcase_add_test(tc, test_branch);
        tcase_add_test(tc, test_tags);
        tcase_add_test(tc, test_commit_ids);
        tcase_add_test(tc, test_mirror_reused);
        tcase_add_test(tc, test_keep_git);
        tcase_add_test(tc, test_submodules);
        tcase_add_test(tc, test_submodules_keep_git);
        tcase_add_test(tc, test_bad_revisions);
        tcase_add_test(tc, test_unreachable);
        tcase_add_test(tc, test_credentials_masked);
        tcase_add_test(tc, test_deploy_key);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(git_source_suite());
}
