/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "step-runner.h"
#include "str-util.h"
#include "test-helpers.h"

#define ARGV(...) ((char *[]) { __VA_ARGS__, NULL })

static struct passwd *test_user(void) {
        struct passwd *pw = getpwnam(TEST_USER);

        ck_assert_msg(pw, "user %s is missing: create it with tools/dev/test-users", TEST_USER);
        return pw;
}

/* Runs a step that must start, failing the test with its error otherwise. */
static void run_ok(const StepSpec *spec, StepResult *res) {
        _cleanup_free_ char *error = NULL;
        int r = step_run(spec, res, &error);

        ck_assert_msg(r == 0, "step_run: %d: %s", r, strempty(error));
        ck_assert_ptr_null(error);
}

/* step_run() that must refuse to start; returns the error message. */
static char *run_error(const StepSpec *spec, int expected) {
        StepResult res = { .output = (char *) "untouched" };
        char *error = NULL;
        int r = step_run(spec, &res, &error);

        ck_assert_int_eq(r, expected);
        ck_assert_ptr_nonnull(error);
        ck_assert_str_eq(res.output, "untouched");
        return error;
}

/* The numbers, one a line, that a step printed after `prefix` (e.g. "pid "). */
static void assert_gone(const char *output, const char *prefix) {
        _cleanup_free_ char *copy = strdup(output);
        unsigned n = 0;

        ck_assert_ptr_nonnull(copy);
        for (char *line = copy, *next; line && *line; line = next) {
                uint32_t pid;

                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                if (!startswith(line, prefix))
                        continue;
                ck_assert_int_eq(parse_uint32(line + strlen(prefix), &pid), 0);
                ck_assert_int_gt(pid, 1);
                ck_assert_msg(kill((pid_t) pid, 0) < 0 && errno == ESRCH,
                              "process %u of the step is still there", pid);
                n++;
        }
        ck_assert_uint_gt(n, 0);
}

START_TEST(test_argv_from_json) {
        _cleanup_json_ json_object *list = json_tokener_parse("[\"echo\", \"a b\", \"$HOME\"]");
        _cleanup_json_ json_object *shell = json_tokener_parse("\"echo $HOME | tr a b\"");
        struct {
                const char *json;
                const char *error;
        } bad[] = {
                { "[]", "command is an empty list" },
                { "\"\"", "command is an empty string" },
                { "[\"\", \"x\"]", "command[0] is an empty string" },
                { "[\"echo\", 1]", "command[1]: expected a string, got int" },
                { "[\"echo\", null]", "command[1]: expected a string, got null" },
                { "{\"a\": 1}", "command: expected a list of strings or a shell string, got object" },
                { "42", "command: expected a list of strings or a shell string, got int" },
        };
        char **argv = NULL;

        ck_assert_int_eq(step_argv_from_json(list, &argv, NULL), 0);
        ck_assert_uint_eq(strv_length(argv), 3);
        ck_assert_str_eq(argv[0], "echo");
        ck_assert_str_eq(argv[1], "a b");
        ck_assert_str_eq(argv[2], "$HOME");
        strv_free(argv);

        ck_assert_int_eq(step_argv_from_json(shell, &argv, NULL), 0);
        ck_assert_uint_eq(strv_length(argv), 3);
        ck_assert_str_eq(argv[0], "/bin/sh");
        ck_assert_str_eq(argv[1], "-c");
        ck_assert_str_eq(argv[2], "echo $HOME | tr a b");
        strv_free(argv);

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_json_ json_object *o = json_tokener_parse(bad[i].json);
                _cleanup_free_ char *error = NULL;
                char **untouched = (char **) 0x1;

                ck_assert_int_eq(step_argv_from_json(o, &untouched, &error), -EINVAL);
                ck_assert_ptr_eq(untouched, (char **) 0x1);
                ck_assert_str_eq(error, bad[i].error);
        }
}
END_TEST

static int gid_cmp(const void *a, const void *b) {
        gid_t x = *(const gid_t *) a, y = *(const gid_t *) b;

        return x < y ? -1 : x > y;
}

/* The step's credentials, signal state and no_new_privs as the kernel reports them, with the
 * parent blocking SIGTERM and ignoring SIGUSR1 so that neither may leak into the step. */
START_TEST(test_identity) {
        struct passwd *pw = test_user();
        _cleanup_(strbuf_done) StrBuf expected = {};
        _cleanup_(step_result_done) StepResult res = {};
        _cleanup_free_ char *want = NULL;
        gid_t groups[256];
        int n = ELEMENTSOF(groups);
        sigset_t term, saved_mask;
        struct sigaction ignore = { .sa_handler = SIG_IGN }, saved_usr1;
        StepSpec spec = {
                .argv = ARGV("grep", "-E",
                             "^(Uid|Gid|Groups|SigBlk|SigIgn|CapPrm|CapEff|NoNewPrivs):",
                             "/proc/self/status"),
                .user = TEST_USER,
        };

        ck_assert_int_ge(getgrouplist(pw->pw_name, pw->pw_gid, groups, &n), 0);
        qsort(groups, (size_t) n, sizeof(gid_t), gid_cmp);
        ck_assert_int_ge(strbuf_printf(&expected, "Uid:\t%1$u\t%1$u\t%1$u\t%1$u\n"
                                                  "Gid:\t%2$u\t%2$u\t%2$u\t%2$u\nGroups:\t",
                                       (unsigned) pw->pw_uid, (unsigned) pw->pw_gid),
                         0);
        for (int i = 0; i < n; i++)
                ck_assert_int_ge(strbuf_printf(&expected, "%u ", (unsigned) groups[i]), 0);
        ck_assert_int_ge(strbuf_appends(&expected, "\nSigBlk:\t0000000000000000\n"
                                                   "SigIgn:\t0000000000000000\n"
                                                   "CapPrm:\t0000000000000000\n"
                                                   "CapEff:\t0000000000000000\n"
                                                   "NoNewPrivs:\t1\n"),
                         0);

        sigemptyset(&term);
        sigaddset(&term, SIGTERM);
        ck_assert_int_eq(sigprocmask(SIG_BLOCK, &term, &saved_mask), 0);
        ck_assert_int_eq(sigaction(SIGUSR1, &ignore, &saved_usr1), 0);
        run_ok(&spec, &res);
        ck_assert_int_eq(sigaction(SIGUSR1, &saved_usr1, NULL), 0);
        ck_assert_int_eq(sigprocmask(SIG_SETMASK, &saved_mask, NULL), 0);

        want = strbuf_steal(&expected);
        ck_assert_ptr_nonnull(want);
        ck_assert_int_eq(res.exit_status, 0);
        ck_assert_str_eq(res.output, want);
        ck_assert(!res.output_truncated);
}
END_TEST

START_TEST(test_numeric_user) {
        _cleanup_free_ char *uid = strf("%u", (unsigned) test_user()->pw_uid);
        _cleanup_(step_result_done) StepResult res = {};
        StepSpec spec = { .argv = ARGV("id", "-un"), .user = uid };

        run_ok(&spec, &res);
        ck_assert_str_eq(res.output, TEST_USER "\n");
}
END_TEST

/* Only 0, 1, 2 reach the step (3 is the directory ls reads), even when the parent holds fds
 * without close-on-exec; stdin is /dev/null. */
START_TEST(test_fds) {
        _cleanup_(step_result_done) StepResult res = {}, res_stdin = {}, res_cat = {};
        StepSpec spec = { .argv = ARGV("ls", "/proc/self/fd"), .user = TEST_USER };
        StepSpec spec_stdin = { .argv = ARGV("readlink", "/proc/self/fd/0"), .user = TEST_USER };
        StepSpec spec_cat = { .argv = ARGV("cat"), .user = TEST_USER };
        int leak1 = open("/dev/null", O_RDONLY), leak2 = dup(STDERR_FILENO);

        ck_assert_int_ge(leak1, 0);
        ck_assert_int_ge(leak2, 0);
        run_ok(&spec, &res);
        run_ok(&spec_stdin, &res_stdin);
        run_ok(&spec_cat, &res_cat);
        close(leak1);
        close(leak2);

        ck_assert_str_eq(res.output, "0\n1\n2\n3\n");
        ck_assert_str_eq(res_stdin.output, "/dev/null\n");
        ck_assert_int_eq(res_cat.exit_status, 0);
        ck_assert_str_eq(res_cat.output, "");
}
END_TEST

/* The step leads its own session and process group. */
START_TEST(test_session) {
        _cleanup_(step_result_done) StepResult res = {};
        StepSpec spec = { .argv = ARGV("cut", "-d", " ", "-f1,5,6", "/proc/self/stat"),
                          .user = TEST_USER };
        char *field[3], *p;

        run_ok(&spec, &res);
        p = res.output;
        for (size_t i = 0; i < ELEMENTSOF(field); i++) {
                field[i] = p;
                p += strcspn(p, " \n");
                ck_assert_int_ne(*p, '\0');
                *p++ = '\0';
        }
        ck_assert_str_eq(p, "");
        ck_assert_str_ne(field[0], "");
        ck_assert_str_eq(field[1], field[0]); /* process group */
        ck_assert_str_eq(field[2], field[0]); /* session */
}
END_TEST

START_TEST(test_environment) {
        struct passwd *pw = test_user();
        _cleanup_(step_result_done) StepResult res = {};
        _cleanup_free_ char *expected = NULL;
        StepSpec spec = {
                .argv = ARGV("env"),
                .user = TEST_USER,
                .environment = ARGV("LANG=de_DE.UTF-8", "FOO=bar baz", "EMPTY=", "A=b=c"),
        };

        ck_assert_int_eq(setenv("STRATA_TEST_LEAK", "1", 1), 0);
        run_ok(&spec, &res);
        ck_assert_int_eq(unsetenv("STRATA_TEST_LEAK"), 0);

        expected = strf("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
                        "HOME=%s\nLANG=de_DE.UTF-8\nUSER=%s\nLOGNAME=%s\n"
                        "FOO=bar baz\nEMPTY=\nA=b=c\n",
                        pw->pw_dir, TEST_USER, TEST_USER);
        ck_assert_str_eq(res.output, expected);
}
END_TEST

START_TEST(test_environment_invalid) {
        StepSpec spec = { .argv = ARGV("env"), .user = TEST_USER, .environment = ARGV("NOEQUALS") };
        _cleanup_free_ char *e1 = run_error(&spec, -EINVAL);
        _cleanup_free_ char *e2 = NULL;

        ck_assert_str_eq(e1, "environment entry 'NOEQUALS' is not KEY=VALUE");
        spec.environment = ARGV("=value");
        e2 = run_error(&spec, -EINVAL);
        ck_assert_str_eq(e2, "environment entry '=value' is not KEY=VALUE");
}
END_TEST

START_TEST(test_root) {
        _cleanup_(step_result_done) StepResult res = {};
        StepSpec spec = { .argv = ARGV("id", "-u"), .user = "root" };
        _cleanup_free_ char *e1 = run_error(&spec, -EPERM);
        _cleanup_free_ char *e2 = NULL;

        ck_assert_str_eq(e1, "step runs as root (user 'root'), which is refused; set "
                             "privileged_steps: allow in the agent configuration to permit it");
        spec.user = "0";
        e2 = run_error(&spec, -EPERM);
        ck_assert_str_eq(e2, "step runs as root (user '0'), which is refused; set "
                             "privileged_steps: allow in the agent configuration to permit it");

        spec.allow_root = true;
        run_ok(&spec, &res);
        ck_assert_int_eq(res.exit_status, 0);
        ck_assert_str_eq(res.output, "0\n");
}
END_TEST

START_TEST(test_unknown_user) {
        StepSpec spec = { .argv = ARGV("true"), .user = "no-such-user-strata" };
        _cleanup_free_ char *e1 = run_error(&spec, -ESRCH);
        _cleanup_free_ char *e2 = NULL;

        ck_assert_str_eq(e1, "unknown user 'no-such-user-strata'");
        spec.user = "3999999999";
        e2 = run_error(&spec, -ESRCH);
        ck_assert_str_eq(e2, "unknown user '3999999999'");
}
END_TEST

/* A process that is not root may only run steps as itself. */
static int unprivileged_child(uid_t uid, gid_t gid) {
        _cleanup_free_ char *expected_error = NULL, *expected_output = NULL;
        _cleanup_free_ char *e_root = NULL, *e_nobody = NULL;
        _cleanup_(step_result_done) StepResult res = {};
        StepSpec spec = { .argv = ARGV("id", "-u"), .user = "root", .allow_root = true };

        expected_error = strf("cannot run a step as user 'root' (uid 0): this process runs as "
                              "uid %u, not as root",
                              (unsigned) uid);
        expected_output = strf("%u\n", (unsigned) uid);
        if (!expected_error || !expected_output)
                return 10;
        if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
            setresuid(uid, uid, uid) < 0)
                return 11;
        if (step_run(&spec, &res, &e_root) != -EPERM || !streq_ptr(e_root, expected_error))
                return 12;
        spec.user = "nobody";
        if (step_run(&spec, &res, &e_nobody) != -EPERM)
                return 13;
        spec.user = TEST_USER;
        if (step_run(&spec, &res, NULL) != 0 || res.exit_status != 0 ||
            !streq_ptr(res.output, expected_output))
                return 14;
        return 0;
}

START_TEST(test_unprivileged_caller) {
        struct passwd *pw = test_user();
        uid_t uid = pw->pw_uid;
        gid_t gid = pw->pw_gid;
        int status;
        pid_t pid;

        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
                /* No ck_assert here: this is not the test's process. */
                _exit(unprivileged_child(uid, gid));
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

START_TEST(test_exit_status) {
        _cleanup_(step_result_done) StepResult res = {}, res_signal = {};
        StepSpec spec = { .argv = ARGV("sh", "-c", "exit 3"), .user = TEST_USER };
        StepSpec spec_signal = {
                .argv = ARGV("sh", "-c", "echo out; echo err >&2; kill -USR1 $$"),
                .user = TEST_USER,
        };

        run_ok(&spec, &res);
        ck_assert_int_eq(res.exit_status, 3);
        ck_assert_int_eq(res.signal, 0);
        ck_assert(!res.timed_out);
        ck_assert_str_eq(res.output, "");

        run_ok(&spec_signal, &res_signal);
        ck_assert_int_eq(res_signal.exit_status, -1);
        ck_assert_int_eq(res_signal.signal, SIGUSR1);
        ck_assert(!res_signal.timed_out);
        ck_assert_str_eq(res_signal.output, "out\nerr\n");
}
END_TEST

/* A command that cannot be run is a step that fails as a shell would say it. */
START_TEST(test_cannot_execute) {
        _cleanup_free_ char *dir = test_tmpdir(), *script = strf("%s/script", dir);
        _cleanup_free_ char *expected = strf("cannot execute '%s': Permission denied\n", script);
        _cleanup_(step_result_done) StepResult res = {}, res_perm = {};
        StepSpec spec = { .argv = ARGV("no-such-command-strata"), .user = TEST_USER };
        StepSpec spec_perm = { .argv = ARGV(script), .user = TEST_USER };

        run_ok(&spec, &res);
        ck_assert_int_eq(res.exit_status, 127);
        ck_assert_int_eq(res.signal, 0);
        ck_assert_str_eq(res.output,
                         "cannot execute 'no-such-command-strata': No such file or directory\n");

        test_write(script, "#!/bin/sh\necho hi\n");
        ck_assert_int_eq(chmod(script, 0644), 0);
        run_ok(&spec_perm, &res_perm);
        ck_assert_int_eq(res_perm.exit_status, 126);
        ck_assert_str_eq(res_perm.output, expected);
        test_rmdir(dir);
}
END_TEST

START_TEST(test_cwd) {
        _cleanup_free_ char *dir = test_tmpdir(), *private = strf("%s/private", dir);
        _cleanup_free_ char *expected = strf("%s\n", dir), *e_missing = NULL, *e_denied = NULL;
        _cleanup_free_ char *expected_denied = NULL, *expected_home = NULL;
        _cleanup_(step_result_done) StepResult res = {}, res_home = {};
        struct passwd *pw = test_user();
        StepSpec spec = { .argv = ARGV("pwd"), .user = TEST_USER, .cwd = dir };
        struct stat st;

        run_ok(&spec, &res);
        ck_assert_str_eq(res.output, expected);

        /* No cwd: the user's home, or / when it has none. */
        expected_home = strf("%s\n", stat(pw->pw_dir, &st) == 0 ? pw->pw_dir : "/");
        spec.cwd = NULL;
        run_ok(&spec, &res_home);
        ck_assert_str_eq(res_home.output, expected_home);

        spec.cwd = "/nonexistent-strata-dir";
        e_missing = run_error(&spec, -ENOENT);
        ck_assert_str_eq(e_missing, "cannot change to directory '/nonexistent-strata-dir' as "
                                    "user 'strata': No such file or directory");

        /* chdir happens as the user, so root's access does not count. */
        ck_assert_int_eq(mkdir(private, 0700), 0);
        spec.cwd = private;
        e_denied = run_error(&spec, -EACCES);
        expected_denied = strf("cannot change to directory '%s' as user 'strata': "
                               "Permission denied", private);
        ck_assert_str_eq(e_denied, expected_denied);
        test_rmdir(dir);
}
END_TEST

START_TEST(test_timeout) {
        _cleanup_(step_result_done) StepResult res = {};
        StepSpec spec = {
                .argv = ARGV("sh", "-c", "echo pid $$; sleep 30 & echo pid $!; wait"),
                .user = TEST_USER,
                .timeout = 1 * USEC_PER_SEC,
        };

        run_ok(&spec, &res);
        ck_assert(res.timed_out);
        ck_assert_int_eq(res.exit_status, -1);
        ck_assert_int_eq(res.signal, SIGTERM);
        /* SIGTERM was enough: no wait for the 5 s grace. */
        ck_assert_uint_ge(res.duration, 1 * USEC_PER_SEC);
        ck_assert_uint_lt(res.duration, 2 * USEC_PER_SEC);
        assert_gone(res.output, "pid ");
}
END_TEST

/* A step that writes without pause still times out. */
START_TEST(test_timeout_flood) {
        _cleanup_(step_result_done) StepResult res = {};
        StepSpec spec = { .argv = ARGV("yes"), .user = TEST_USER, .timeout = 500 * USEC_PER_MSEC };

        run_ok(&spec, &res);
        ck_assert(res.timed_out);
        ck_assert_int_eq(res.signal, SIGTERM);
        ck_assert(res.output_truncated);
        ck_assert_uint_eq(strlen(res.output), STEP_OUTPUT_MAX);
        ck_assert_uint_lt(res.duration, 2 * USEC_PER_SEC);
}
END_TEST

/* A step that ignores SIGTERM gets SIGKILL after the grace. */
START_TEST(test_timeout_kill) {
        _cleanup_(step_result_done) StepResult res = {};
        StepSpec spec = {
                .argv = ARGV("sh", "-c", "trap '' TERM; echo pid $$; sleep 30 & echo pid $!; wait"),
                .user = TEST_USER,
                .timeout = 500 * USEC_PER_MSEC,
                .kill_grace = 500 * USEC_PER_MSEC,
        };

        run_ok(&spec, &res);
        ck_assert(res.timed_out);
        ck_assert_int_eq(res.signal, SIGKILL);
        ck_assert_uint_ge(res.duration, 1 * USEC_PER_SEC);
        ck_assert_uint_lt(res.duration, 2 * USEC_PER_SEC);
        assert_gone(res.output, "pid ");
}
END_TEST

/* The step ends with its main process, even when a background child holds the output pipe;
 * what is left of the group is terminated. */
START_TEST(test_background_child) {
        _cleanup_(step_result_done) StepResult res = {}, res_stubborn = {};
        StepSpec spec = { .argv = ARGV("sh", "-c", "sleep 30 & echo pid $!; echo hi"),
                          .user = TEST_USER };
        StepSpec spec_stubborn = {
                /* Waits until the background child ignores SIGTERM: it has exec'd sleep. */
                .argv = ARGV("sh", "-c",
                             "(trap '' TERM; exec sleep 30) & echo pid $!; "
                             "until read -r c </proc/$!/comm && [ \"$c\" = sleep ]; do :; done"),
                .user = TEST_USER,
                .kill_grace = 300 * USEC_PER_MSEC,
        };
        char *hi;

        run_ok(&spec, &res);
        ck_assert_int_eq(res.exit_status, 0);
        ck_assert(!res.timed_out);
        ck_assert_uint_lt(res.duration, 1 * USEC_PER_SEC);
        hi = strchr(res.output, '\n');
        ck_assert_ptr_nonnull(hi);
        ck_assert_str_eq(hi, "\nhi\n");
        assert_gone(res.output, "pid ");

        run_ok(&spec_stubborn, &res_stubborn);
        ck_assert_int_eq(res_stubborn.exit_status, 0);
        ck_assert(!res_stubborn.timed_out);
        ck_assert_uint_ge(res_stubborn.duration, 300 * USEC_PER_MSEC);
        ck_assert_uint_lt(res_stubborn.duration, 1500 * USEC_PER_MSEC);
        assert_gone(res_stubborn.output, "pid ");
}
END_TEST

START_TEST(test_output_tail) {
        _cleanup_(strbuf_done) StrBuf all = {};
        _cleanup_(step_result_done) StepResult res = {}, exact = {}, over = {};
        StepSpec spec = { .argv = ARGV("seq", "1", "30000"), .user = TEST_USER };
        StepSpec spec_exact = { .argv = ARGV("sh", "-c", "yes | head -c 65536"),
                                .user = TEST_USER };
        StepSpec spec_over = { .argv = ARGV("sh", "-c", "printf x; yes | head -c 65536"),
                               .user = TEST_USER };

        for (unsigned i = 1; i <= 30000; i++)
                ck_assert_int_ge(strbuf_printf(&all, "%u\n", i), 0);
        ck_assert_uint_gt(all.len, STEP_OUTPUT_MAX);

        run_ok(&spec, &res);
        ck_assert(res.output_truncated);
        ck_assert_uint_eq(strlen(res.output), STEP_OUTPUT_MAX);
        ck_assert_str_eq(res.output, all.data + all.len - STEP_OUTPUT_MAX);

        run_ok(&spec_exact, &exact);
        ck_assert(!exact.output_truncated);
        ck_assert_uint_eq(strlen(exact.output), STEP_OUTPUT_MAX);

        run_ok(&spec_over, &over);
        ck_assert(over.output_truncated);
        ck_assert_str_eq(over.output, exact.output);
}
END_TEST

static void collect_line(const char *line, void *userdata) {
        ck_assert_int_ge(strv_extend(userdata, line), 0);
}

START_TEST(test_on_line) {
        _cleanup_strv_free_ char **lines = NULL, **long_lines = NULL;
        _cleanup_(step_result_done) StepResult res = {}, res_long = {};
        StepSpec spec = {
                .argv = ARGV("printf", "one\ntwo\n\nthree"),
                .user = TEST_USER,
                .on_line = collect_line,
                .userdata = &lines,
        };
        StepSpec spec_long = {
                .argv = ARGV("sh", "-c", "head -c 70000 /dev/zero | tr '\\0' x"),
                .user = TEST_USER,
                .on_line = collect_line,
                .userdata = &long_lines,
        };

        run_ok(&spec, &res);
        ck_assert_str_eq(res.output, "one\ntwo\n\nthree");
        /* The last line counts too, even without its newline. */
        ck_assert_uint_eq(strv_length(lines), 4);
        ck_assert_str_eq(lines[0], "one");
        ck_assert_str_eq(lines[1], "two");
        ck_assert_str_eq(lines[2], "");
        ck_assert_str_eq(lines[3], "three");

        /* A line longer than the tail we keep comes in pieces. */
        run_ok(&spec_long, &res_long);
        ck_assert_uint_eq(strv_length(long_lines), 2);
        ck_assert_uint_eq(strlen(long_lines[0]), STEP_OUTPUT_MAX);
        ck_assert_uint_eq(strlen(long_lines[1]), 70000 - STEP_OUTPUT_MAX);
        ck_assert_uint_eq(strspn(long_lines[0], "x"), STEP_OUTPUT_MAX);
}
END_TEST

/* Orphaned grandchildren of steps come back to the test process to be reaped, as they do to
 * the worker. Set in each test's own process: a forked child does not inherit it. */
static void setup(void) {
        ck_assert_int_eq(step_runner_init(), 0);
}

static Suite *suite(void) {
        Suite *s = suite_create("step-runner");
        TCase *tc = tcase_create("core");

        tcase_set_timeout(tc, 60);
        tcase_add_checked_fixture(tc, setup, NULL);
        tcase_add_test(tc, test_argv_from_json);
        tcase_add_test(tc, test_identity);
        tcase_add_test(tc, test_numeric_user);
        tcase_add_test(tc, test_fds);
        tcase_add_test(tc, test_session);
        tcase_add_test(tc, test_environment);
        tcase_add_test(tc, test_environment_invalid);
        tcase_add_test(tc, test_root);
        tcase_add_test(tc, test_unknown_user);
        tcase_add_test(tc, test_unprivileged_caller);
        tcase_add_test(tc, test_exit_status);
        tcase_add_test(tc, test_cannot_execute);
        tcase_add_test(tc, test_cwd);
        tcase_add_test(tc, test_timeout);
        tcase_add_test(tc, test_timeout_flood);
        tcase_add_test(tc, test_timeout_kill);
        tcase_add_test(tc, test_background_child);
        tcase_add_test(tc, test_output_tail);
        tcase_add_test(tc, test_on_line);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
