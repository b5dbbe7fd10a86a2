/* SPDX-License-Identifier: MIT */
/* The real strata-agent daemon: a child process with its own config, spool, state and log
 * dirs, driven by command files dropped in its inbox the way an operator or the CLI drops them,
 * and killed, stopped and restarted the way systemd or a crash would. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "fs-util.h"
#include "json-util.h"
#include "str-util.h"
#include "test-helpers.h"
#include "time-util.h"

#define INSTANCE "i-test"
#define STACK "s-test"
#define DB_SECRET "s3cr3t-value"
#define APP_SECRET "hunter2-secret"
#define MASK "********"
#define ID_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"

/* How long a test waits for something the agent does at once. */
#define PROMPTLY (10 * USEC_PER_SEC)

static char *tmp, *spool, *inbox, *results, *state, *logs, *work, *config, *errlog;
/* Arguments of the sleeps our steps run, unique to this test so that a process left behind
 * is ours beyond doubt, whatever else runs on the machine. */
static char *long_sleep, *short_sleep;
static pid_t agent_pid;
static bool state_mounted;

static void pause_ms(unsigned ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static char *path_in(const char *dir, const char *name) {
        char *p = strf("%s/%s", dir, name);

        ck_assert_ptr_nonnull(p);
        return p;
}

static bool exists(const char *path) {
        return access(path, F_OK) == 0;
}

static size_t count_lines(const char *path) {
        _cleanup_free_ char *s = test_read(path);
        size_t n = 0;

        for (const char *p = s; p && *p; p++)
                n += *p == '\n';
        return n;
}

/* A test that waits must not wait for an agent that died: fail with what it said. */
static void assert_agent_alive(void) {
        int status;

        ck_assert_int_gt(agent_pid, 0);
        if (waitpid(agent_pid, &status, WNOHANG) == agent_pid) {
                _cleanup_free_ char *err = test_read(errlog);

                agent_pid = 0;
                ck_abort_msg("strata-agent exited (status 0x%x); its stderr:\n%s", status,
                             strempty(err));
        }
}

static void wait_for_path(const char *path, usec_t timeout) {
        usec_t end = now_usec(CLOCK_MONOTONIC) + timeout;

        while (!exists(path)) {
                assert_agent_alive();
                ck_assert_msg(now_usec(CLOCK_MONOTONIC) < end, "%s did not appear", path);
                pause_ms(2);
        }
}

static void wait_for_text(const char *path, const char *needle, usec_t timeout) {
        usec_t end = now_usec(CLOCK_MONOTONIC) + timeout;

        for (;;) {
                _cleanup_free_ char *s = test_read(path);

                if (s && strstr(s, needle))
                        return;
                assert_agent_alive();
                ck_assert_msg(now_usec(CLOCK_MONOTONIC) < end, "%s never said \"%s\"; it has:\n%s", path, needle,
                              strempty(s));
                pause_ms(5);
        }
}

static json_object *read_json(const char *path) {
        _cleanup_free_ char *text = test_read(path);
        json_object *o;

        ck_assert_msg(text, "cannot read %s", path);
        o = json_tokener_parse(text);
        ck_assert_msg(o, "%s is not JSON:\n%s", path, text);
        return o;
}

static json_object *wait_for_result(const char *id, usec_t timeout) {
        _cleanup_free_ char *name = strf("%s.json", id), *path = path_in(results, name);

        wait_for_path(path, timeout);
        return read_json(path);
}

static void assert_result(json_object *r, const char *id, const char *status,
                          const char *exit_reason, const char *reason) {
        const char *text = json_object_to_json_string_ext(r, JSON_C_TO_STRING_PRETTY);

        ck_assert_msg(streq_ptr(json_get_string(r, "id"), id), "%s", text);
        ck_assert_msg(streq_ptr(json_get_string(r, "status"), status), "%s", text);
        ck_assert_msg(streq_ptr(json_get_string(r, "exit_reason"), exit_reason), "%s", text);
        if (reason)
                ck_assert_msg(streq_ptr(json_get_string(r, "reason"), reason), "%s", text);
}

static int changed(json_object *result) {
        return json_object_get_int(json_object_object_get(result, "resources_changed"));
}

/* The status in <state_dir>/commands/<id>/command.json. */
static char *journal_status(const char *id) {
        _cleanup_free_ char *path = strf("%s/commands/%s/command.json", state, id);
        _cleanup_json_ json_object *entry = NULL;
        char *s;

        ck_assert_ptr_nonnull(path);
        entry = read_json(path);
        s = strdup(strempty(json_get_string(entry, "status")));
        ck_assert_ptr_nonnull(s);
        return s;
}

static void assert_journal_status(const char *id, const char *status) {
        _cleanup_free_ char *s = journal_status(id);

        ck_assert_str_eq(s, status);
}

static void wait_for_journal_status(const char *id, const char *status, usec_t timeout) {
        _cleanup_free_ char *path = strf("%s/commands/%s/command.json", state, id);
        usec_t end = now_usec(CLOCK_MONOTONIC) + timeout;

        ck_assert_ptr_nonnull(path);
        wait_for_path(path, timeout);
        for (;;) {
                _cleanup_free_ char *s = journal_status(id);

                if (streq(s, status))
                        return;
                assert_agent_alive();
                ck_assert_msg(now_usec(CLOCK_MONOTONIC) < end, "command %s stayed %s, expected %s", id, s,
                              status);
                pause_ms(2);
        }
}

/* Drops a command file the way a sender should: a dot-file renamed in. Returns the time of
 * the rename. */
static usec_t drop(const char *name, const char *text, size_t len) {
        _cleanup_free_ char *dot = strf("%s/.%s", inbox, name), *path = path_in(inbox, name);
        _cleanup_close_ int fd = -1;
        usec_t t;

        ck_assert_ptr_nonnull(dot);
        fd = open(dot, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, text, len), (ssize_t) len);
        ck_assert_int_eq(close(TAKE_FD(fd)), 0);
        t = now_usec(CLOCK_MONOTONIC);
        ck_assert_int_eq(rename(dot, path), 0);
        return t;
}

/* {"id": id, "type": type, <extra>} as <id>.json. */
static usec_t drop_command(const char *id, const char *type, const char *extra) {
        _cleanup_free_ char *name = strf("%s.json", id);
        _cleanup_free_ char *text = strf("{\"id\": \"%s\", \"type\": \"%s\"%s%s}", id, type,
                                         extra ? ", " : "", strempty(extra));

        ck_assert_ptr_nonnull(name);
        ck_assert_ptr_nonnull(text);
        return drop(name, text, strlen(text));
}

static usec_t drop_recipe(const char *id, const char *recipe, const char *extra) {
        _cleanup_free_ char *args = strf("\"args\": {\"recipes\": [\"%s\"]}%s%s", recipe,
                                         extra ? ", " : "", strempty(extra));

        ck_assert_ptr_nonnull(args);
        return drop_command(id, "execute_recipes", args);
}

/* The command line of process `name` (a /proc entry) when it is one of ours: the agent, its
 * worker and steps all carry `dir` or one of our sleep arguments. Zombies have none. NULL
 * otherwise; *ret_len is its length, NULs between the arguments included. */
static char *ours(const char *name, const char *dir, size_t *ret_len) {
        _cleanup_free_ char *path = NULL, *cmdline = NULL;
        size_t len = 0;
        int64_t pid;

        if (parse_int64(name, &pid) < 0 || pid == getpid())
                return NULL;
        path = strf("/proc/%s/cmdline", name);
        if (!path || read_full_file(path, 1U << 20, &cmdline, &len) < 0)
                return NULL;
        for (size_t i = 0; i < len; i += strlen(cmdline + i) + 1)
                if (strstr(cmdline + i, dir) || streq_ptr(cmdline + i, long_sleep) ||
                    streq_ptr(cmdline + i, short_sleep)) {
                        *ret_len = len;
                        return TAKE_PTR(cmdline);
                }
        return NULL;
}

/* How many processes of this test are alive, and their list. */
static size_t leftovers(char **ret_list) {
        _cleanup_(strbuf_done) StrBuf list = {};
        DIR *d = opendir("/proc");
        struct dirent *de;
        size_t n = 0;

        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d))) {
                size_t len = 0;
                _cleanup_free_ char *cmdline = ours(de->d_name, tmp, &len);

                if (!cmdline)
                        continue;
                n++;
                for (size_t i = 0; i + 1 < len; i++)
                        if (cmdline[i] == 0)
                                cmdline[i] = ' ';
                ck_assert_int_ge(strbuf_printf(&list, "  %s: %s\n", de->d_name, cmdline), 0);
        }
        closedir(d);
        *ret_list = strbuf_steal(&list);
        return n;
}

/* Waits up to 2 s for the processes of ours to come down to `expected` (a killed process takes
 * a moment to disappear); returns how many there are then. */
static size_t settle(size_t expected, char **ret_list) {
        usec_t end = now_usec(CLOCK_MONOTONIC) + 2 * USEC_PER_SEC;

        for (;;) {
                _cleanup_free_ char *list = NULL;
                size_t n = leftovers(&list);

                if (n == expected || now_usec(CLOCK_MONOTONIC) >= end) {
                        *ret_list = TAKE_PTR(list);
                        return n;
                }
                pause_ms(10);
        }
}

/* Nothing of ours runs but the agent (when `agent` is set). */
static void assert_no_leftovers(bool agent) {
        _cleanup_free_ char *list = NULL;
        size_t expected = agent ? 1 : 0, n = settle(expected, &list);

        ck_assert_msg(n == expected, "%zu process(es) left behind, expected %zu:\n%s", n, expected,
                      strempty(list));
}

static void write_cookbook(void) {
        _cleanup_free_ char *cookbooks = path_in(tmp, "cookbooks");
        _cleanup_free_ char *slow = strf("- execute:\n    command: \"echo run >> %s/counter; "
                                         "sleep %s\"\n",
                                         work, long_sleep);
        _cleanup_free_ char *block = strf("- execute:\n    command: \"sleep %s\"\n", short_sleep);
        _cleanup_free_ char *open_stdout = strf("- execute:\n    command: \"sleep %s & echo "
                                                "started\"\n",
                                                long_sleep);
        _cleanup_free_ char *count = strf("- execute:\n    command: \"echo {{command.id}} >> "
                                          "%s/count\"\n",
                                          work);
        _cleanup_free_ char *configure = strf("- execute:\n    command: \"echo {{command.id}} >> "
                                              "%s/configured\"\n",
                                              work);

        ck_assert_ptr_nonnull(slow);
        ck_assert_ptr_nonnull(block);
        ck_assert_ptr_nonnull(open_stdout);
        ck_assert_ptr_nonnull(count);
        ck_assert_ptr_nonnull(configure);
        test_cookbook(cookbooks, "t", "default", "- execute:\n    command: \"echo hello\"\n");
        test_cookbook(cookbooks, "t", "slow", slow);
        test_cookbook(cookbooks, "t", "block", block);
        test_cookbook(cookbooks, "t", "open_stdout", open_stdout);
        test_cookbook(cookbooks, "t", "count", count);
        test_cookbook(cookbooks, "t", "configure", configure);
        test_cookbook(cookbooks, "t", "secret",
                      "- execute:\n"
                      "    command: \"echo db={{db.password}} "
                      "app={{#apps}}{{source.password}}{{/apps}}\"\n");
}

static void write_stack(void) {
        _cleanup_free_ char *path = path_in(tmp, "stack.yaml");

        test_write(path, "stack:\n"
                         "  name: test\n"
                         "layers:\n"
                         "  - shortname: web\n"
                         "    recipes:\n"
                         "      configure: [\"t::configure\"]\n"
                         "apps:\n"
                         "  - shortname: site\n"
                         "    source:\n"
                         "      type: git\n"
                         "      url: https://git.example.com/site.git\n"
                         "      username: deployer\n"
                         "      password: " APP_SECRET "\n"
                         "instances:\n"
                         "  - id: " INSTANCE "\n"
                         "    layer_ids: [web]\n"
                         "users:\n"
                         "  - name: alice\n"
                         "    ssh_public_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 alice\n"
                         "    sudo: true\n");
}

static void write_config(const char *extra) {
        _cleanup_free_ char *text = strf("instance_id: " INSTANCE "\n"
                                         "stack_id: " STACK "\n"
                                         "control_plane:\n"
                                         "  type: local\n"
                                         "  spool: %s\n"
                                         "  stack_file: %s/stack.yaml\n"
                                         "cookbook_path: [%s/cookbooks]\n"
                                         "state_dir: %s\n"
                                         "cache_dir: %s/cache\n"
                                         "log_dir: %s\n"
                                         "deploy_root: %s/www\n"
                                         "heartbeat_interval: 1s\n"
                                         "health_timeout: 5s\n"
                                         "metrics_interval: 1s\n"
                                         "command_timeout: 60s\n"
                                         "%s",
                                         spool, tmp, tmp, state, tmp, logs, tmp, strempty(extra));

        ck_assert_ptr_nonnull(text);
        test_write(config, text);
}

/* Kills what outlived a test, with its process group when it leads one (a step and its
 * children). */
static void kill_leftovers(const char *dir) {
        DIR *d = opendir("/proc");
        struct dirent *de;

        while (d && (de = readdir(d))) {
                size_t len = 0;
                _cleanup_free_ char *cmdline = ours(de->d_name, dir, &len);
                int64_t pid;

                if (!cmdline || parse_int64(de->d_name, &pid) < 0)
                        continue;
                if (getpgid((pid_t) pid) == (pid_t) pid && (pid_t) pid != getpgrp())
                        (void) kill(-(pid_t) pid, SIGKILL);
                else
                        (void) kill((pid_t) pid, SIGKILL);
        }
        if (d)
                closedir(d);
}

/* Every test's dir lives under this one, made and removed by the parent process: a test that
 * fails ends its process at once, without teardown (Check's fork mode), and what it leaves is
 * found here. */
static char *base;

static void suite_setup(void) {
        base = test_tmpdir();
}

static void suite_teardown(void) {
        DIR *d = opendir(base);
        struct dirent *de;

        kill_leftovers(base);
        while (d && (de = readdir(d))) {
                _cleanup_free_ char *mnt = strf("%s/%s/state", base, de->d_name);

                if (de->d_name[0] != '.' && mnt)
                        (void) umount2(mnt, MNT_DETACH);
        }
        if (d)
                closedir(d);
        (void) rm_rf(base);
        base = mfree(base);
}

static void setup(void) {
        static unsigned n;

        tmp = strf("%s/t-XXXXXX", base);
        ck_assert_ptr_nonnull(tmp);
        ck_assert_ptr_nonnull(mkdtemp(tmp));
        ck_assert_int_eq(chmod(tmp, 0755), 0);
        spool = path_in(tmp, "spool");
        inbox = path_in(spool, "inbox");
        results = path_in(spool, "results");
        state = path_in(tmp, "state");
        logs = path_in(tmp, "log");
        work = path_in(tmp, "work");
        config = path_in(tmp, "agent.yaml");
        errlog = path_in(tmp, "agent.stderr");
        long_sleep = strf("30.0%u%03u", (unsigned) getpid(), n);
        short_sleep = strf("2.0%u%03u", (unsigned) getpid(), n++);
        ck_assert_ptr_nonnull(long_sleep);
        ck_assert_ptr_nonnull(short_sleep);

        ck_assert_int_ge(mkdir_parents(state, 0755), 0);
        /* Steps run as the unprivileged user and leave their traces here. */
        ck_assert_int_ge(mkdir_parents(work, 0777), 0);
        write_cookbook();
        write_stack();
        write_config(NULL);
}

static void agent_start(void) {
        const char *bin = getenv("STRATA_AGENT");
        _cleanup_free_ char *heartbeat = path_in(spool, "heartbeat.json");
        pid_t pid;

        ck_assert_msg(bin, "STRATA_AGENT is not set (run through meson test)");
        ck_assert_msg(getenv("STRATA_BUILTIN_COOKBOOKS"), "STRATA_BUILTIN_COOKBOOKS is not set");
        (void) unlink(heartbeat);

        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int out = open(errlog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
                int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

                if (out < 0 || null < 0 || dup2(null, STDIN_FILENO) < 0 ||
                    dup2(out, STDOUT_FILENO) < 0 || dup2(out, STDERR_FILENO) < 0)
                        _exit(127);
                /* Not the service manager's business, whoever runs the tests. */
                (void) unsetenv("NOTIFY_SOCKET");
                (void) unsetenv("WATCHDOG_PID");
                (void) unsetenv("WATCHDOG_USEC");
                (void) unsetenv("JOURNAL_STREAM");
                execl(bin, bin, "--config", config, (char *) NULL);
                _exit(127);
        }
        agent_pid = pid;
        /* The first heartbeat is written from the event loop, after the first inbox scan. */
        wait_for_path(heartbeat, PROMPTLY);
}

/* Signals the agent and waits for it; returns its wait status. */
static int agent_stop(int sig, usec_t timeout) {
        usec_t end = now_usec(CLOCK_MONOTONIC) + timeout;
        int status = 0;

        ck_assert_int_gt(agent_pid, 0);
        ck_assert_int_eq(kill(agent_pid, sig), 0);
        for (;;) {
                pid_t p = waitpid(agent_pid, &status, WNOHANG);

                ck_assert_int_ge(p, 0);
                if (p == agent_pid)
                        break;
                if (now_usec(CLOCK_MONOTONIC) >= end) {
                        (void) kill(agent_pid, SIGKILL);
                        (void) waitpid(agent_pid, NULL, 0);
                        agent_pid = 0;
                        ck_abort_msg("strata-agent did not exit within %" PRIu64 " ms of signal %d",
                                     timeout / USEC_PER_MSEC, sig);
                }
                pause_ms(2);
        }
        agent_pid = 0;
        return status;
}

static void teardown(void) {
        _cleanup_free_ char *list = NULL, *err = NULL;
        int status = 0;
        size_t left;

        /* A clean stop, as systemd does it; whatever a failed test left running goes too. */
        if (agent_pid > 0) {
                (void) kill(agent_pid, SIGTERM);
                for (unsigned i = 0; i < 7500 && waitpid(agent_pid, &status, WNOHANG) == 0; i++)
                        pause_ms(2);
                (void) kill(agent_pid, SIGKILL);
                (void) waitpid(agent_pid, NULL, 0);
                agent_pid = 0;
        }
        err = test_read(errlog);
        left = settle(0, &list);
        kill_leftovers(tmp);
        if (state_mounted) {
                (void) umount2(state, MNT_DETACH);
                state_mounted = false;
        }
        test_rmdir(tmp);
        tmp = mfree(tmp);
        spool = mfree(spool);
        inbox = mfree(inbox);
        results = mfree(results);
        state = mfree(state);
        logs = mfree(logs);
        work = mfree(work);
        config = mfree(config);
        errlog = mfree(errlog);
        long_sleep = mfree(long_sleep);
        short_sleep = mfree(short_sleep);
        ck_assert_msg(left == 0, "%zu process(es) outlived the agent:\n%s", left, strempty(list));
        /* The sanitizer build reports there (the agent's and its workers' stderr), and a leak
         * shows in the exit status. */
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "strata-agent stopped with wait status 0x%x", status);
        ck_assert_msg(!strstr(strempty(err), "runtime error:") &&
                              !strstr(strempty(err), "Sanitizer"),
                      "the agent's stderr:\n%s", strempty(err));
}

/* 1. A command file becomes a result file within a second. */
START_TEST(command_to_result_latency) {
        _cleanup_json_ json_object *r = NULL;
        _cleanup_free_ char *path = path_in(results, "c-fast.json");
        _cleanup_free_ char *log = NULL, *log_path = path_in(logs, "c-fast.log");
        _cleanup_free_ char *left = path_in(inbox, "c-fast.json");
        usec_t dropped, seen;

        agent_start();
        dropped = drop_recipe("c-fast", "t", NULL);
        while (!exists(path)) {
                assert_agent_alive();
                ck_assert_msg(now_usec(CLOCK_MONOTONIC) - dropped < 5 * USEC_PER_SEC, "no result after 5 s");
                pause_ms(1);
        }
        seen = now_usec(CLOCK_MONOTONIC);
        printf("command file to result file: %.1f ms\n", (double) (seen - dropped) / 1000.0);
        ck_assert_uint_lt(seen - dropped, USEC_PER_SEC);

        r = read_json(path);
        assert_result(r, "c-fast", "successful", "completed", NULL);
        ck_assert_str_eq(json_get_string(r, "type"), "execute_recipes");
        ck_assert_int_eq(changed(r), 1);
        ck_assert_ptr_nonnull(strstr(json_get_string(r, "log_tail"),
                                     "execute[echo hello]: hello\n"));
        assert_journal_status("c-fast", "finished");
        /* Acknowledged once journalled: the inbox keeps nothing. */
        ck_assert(!exists(left));
        log = test_read(log_path);
        ck_assert_ptr_nonnull(log);
        ck_assert_ptr_nonnull(strstr(log, "execute[echo hello]: hello\n"));
        assert_no_leftovers(true);
}
END_TEST

/* 2. A crash during a step: the restarted agent reports the command interrupted, runs it not
 * again, and its step does not go on unsupervised. */
START_TEST(kill9_during_command) {
        _cleanup_json_ json_object *r = NULL;
        _cleanup_free_ char *counter = path_in(work, "counter");
        _cleanup_free_ char *step = strf("%s/commands/c-crash/step.json", state);
        _cleanup_free_ char *result = path_in(results, "c-crash.json"), *text = NULL;
        _cleanup_free_ char *left = NULL;
        int status;

        agent_start();
        drop_recipe("c-crash", "t::slow", NULL);
        wait_for_text(counter, "run\n", PROMPTLY);
        /* The step's process group is on disk: that is what lets a new agent find it. */
        wait_for_path(step, PROMPTLY);
        assert_journal_status("c-crash", "running");

        status = agent_stop(SIGKILL, PROMPTLY);
        ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        ck_assert(!exists(result));
        /* The worker died with the agent (PR_SET_PDEATHSIG); its step, a session of its own,
         * did not: the shell and its sleep are left, for the next agent to stop. */
        ck_assert_uint_eq(settle(2, &left), 2);
        ck_assert_msg(!strstr(left, "strata-agent") && strstr(left, long_sleep), "%s", left);

        agent_start();
        r = wait_for_result("c-crash", PROMPTLY);
        assert_result(r, "c-crash", "failed", "interrupted", "interrupted by agent restart");
        ck_assert_str_eq(json_get_string(r, "type"), "execute_recipes");
        assert_journal_status("c-crash", "finished");
        /* Neither the old step nor a new run of it: one line, and it stays one. */
        assert_no_leftovers(true);
        pause_ms(1500);
        text = test_read(counter);
        ck_assert_str_eq(text, "run\n");
}
END_TEST

/* 3. A command past its own timeout is stopped, its whole tree with it. */
START_TEST(command_timeout) {
        _cleanup_json_ json_object *r = NULL;
        usec_t dropped, elapsed;

        agent_start();
        dropped = drop_recipe("c-timeout", "t::slow", "\"timeout\": 1");
        r = wait_for_result("c-timeout", 10 * USEC_PER_SEC);
        elapsed = now_usec(CLOCK_MONOTONIC) - dropped;
        printf("timeout 1 s: result after %.1f ms\n", (double) elapsed / 1000.0);
        assert_result(r, "c-timeout", "failed", "timeout",
                      "timeout: the command ran longer than 1 s");
        /* timeout + the 5 s grace + 1 s. */
        ck_assert_uint_lt(elapsed, 7 * USEC_PER_SEC);
        ck_assert_uint_ge(elapsed, USEC_PER_SEC);
        assert_journal_status("c-timeout", "finished");
        assert_no_leftovers(true);
}
END_TEST

/* 4. A step whose background child keeps stdout open ends when its shell does. */
START_TEST(open_stdout_child) {
        _cleanup_json_ json_object *r = NULL;
        usec_t dropped, elapsed;

        agent_start();
        dropped = drop_recipe("c-open", "t::open_stdout", NULL);
        r = wait_for_result("c-open", 10 * USEC_PER_SEC);
        elapsed = now_usec(CLOCK_MONOTONIC) - dropped;
        printf("step with an open-stdout child: result after %.1f ms\n", (double) elapsed / 1000.0);
        assert_result(r, "c-open", "successful", "completed", NULL);
        ck_assert_uint_lt(elapsed, 3 * USEC_PER_SEC);
        ck_assert_ptr_nonnull(strstr(json_get_string(r, "log_tail"), ": started\n"));
        assert_no_leftovers(true);
}
END_TEST

/* 5. A burst of configure commands behind a long one: only the newest runs. */
START_TEST(configure_coalescing) {
        _cleanup_free_ char *configured = path_in(work, "configured"), *text = NULL;
        _cleanup_json_ json_object *blocker = NULL, *newest = NULL;
        char id[16];

        agent_start();
        drop_recipe("c-block", "t::block", NULL);
        wait_for_journal_status("c-block", "running", PROMPTLY);
        for (int i = 1; i <= 5; i++) {
                snprintf(id, sizeof(id), "cfg-%d", i);
                drop_command(id, "configure", NULL);
        }
        for (int i = 1; i <= 5; i++) {
                snprintf(id, sizeof(id), "cfg-%d", i);
                wait_for_journal_status(id, "queued", PROMPTLY);
        }
        /* All five were queued while the blocker ran. */
        assert_journal_status("c-block", "running");

        blocker = wait_for_result("c-block", PROMPTLY);
        assert_result(blocker, "c-block", "successful", "completed", NULL);
        newest = wait_for_result("cfg-5", PROMPTLY);
        assert_result(newest, "cfg-5", "successful", "completed", NULL);
        ck_assert_int_eq(changed(newest), 1);
        for (int i = 1; i <= 4; i++) {
                _cleanup_json_ json_object *r = NULL;

                snprintf(id, sizeof(id), "cfg-%d", i);
                r = wait_for_result(id, PROMPTLY);
                assert_result(r, id, "skipped", "superseded", "superseded by cfg-5");
                ck_assert_str_eq(json_get_string(r, "type"), "configure");
                assert_journal_status(id, "finished");
        }
        assert_journal_status("cfg-5", "finished");
        text = test_read(configured);
        ck_assert_str_eq(text, "cfg-5\n");
}
END_TEST

/* The id a rejected file is reported under when it has no valid id of its own. */
static char *rejection_id(const char *name) {
        char *id = strndup(name, strlen(name) - strlen(".json"));

        ck_assert_ptr_nonnull(id);
        for (char *p = id; *p; p++)
                if (!strchr(ID_CHARS, *p))
                        *p = '_';
        return id;
}

/* 6. Every malformed document is rejected on its own; the agent goes on serving. */
START_TEST(malformed_and_oversized) {
        _cleanup_free_ char *dir = strf("%s/json/test_parsing", test_conformance_dir());
        _cleanup_free_ char *count = path_in(work, "count"), *big = NULL, *again = NULL;
        _cleanup_free_ char *first = NULL, *second = NULL, *again_path = path_in(inbox, "dup.json");
        _cleanup_json_ json_object *ids = json_object_new_object(), *r = NULL;
        _cleanup_free_ char *ok_path = path_in(results, "c-after.json");
        _cleanup_free_ char *no_result = path_in(results, "dup.json");
        struct dirent **entries = NULL;
        const char *head = "{\"id\": \"big\", \"type\": \"configure\", \"comment\": \"";
        size_t n_files = 0, big_len = 2U * 1024U * 1024U;
        int n;

        ck_assert_ptr_nonnull(dir);
        agent_start();
        n = scandir(dir, &entries, NULL, alphasort);
        ck_assert_int_gt(n, 0);
        for (int i = 0; i < n; i++) {
                const char *name = entries[i]->d_name;

                if (startswith(name, "n_") && endswith(name, ".json")) {
                        _cleanup_free_ char *src = path_in(dir, name), *text = NULL, *id = NULL;
                        size_t len = 0;

                        ck_assert_int_ge(read_full_file(src, 1U << 20, &text, &len), 0);
                        id = rejection_id(name);
                        ck_assert_msg(!json_object_object_get_ex(ids, id, NULL),
                                      "two files are reported as %s", id);
                        json_object_object_add(ids, id, json_object_new_string(name));
                        drop(name, text, len);
                        n_files++;
                }
                free(entries[i]);
        }
        free(entries);
        ck_assert_uint_ge(n_files, 180);

        json_object_object_foreach (ids, id, value) {
                const char *name = json_object_get_string(value);
                _cleanup_free_ char *prefix = strf("inbox/%s: ", name);
                _cleanup_free_ char *moved = strf("%s/rejected/%s", spool, name);
                _cleanup_free_ char *left = path_in(inbox, name);
                _cleanup_json_ json_object *res = wait_for_result(id, PROMPTLY);
                const char *reason = json_get_string(res, "reason");

                assert_result(res, id, "failed", "rejected", NULL);
                ck_assert_msg(reason && startswith(reason, prefix), "%s: %s", name,
                              strempty(reason));
                ck_assert_msg(exists(moved), "%s was not moved to rejected/", name);
                ck_assert(!exists(left));
        }
        printf("%zu malformed command files rejected\n", n_files);

        /* Past the size limit, whatever it holds. */
        big = malloc(big_len);
        ck_assert_ptr_nonnull(big);
        memset(big, ' ', big_len);
        memcpy(big, head, strlen(head));
        drop("big.json", big, big_len);
        r = wait_for_result("big", PROMPTLY);
        assert_result(r, "big", "failed", "rejected", "inbox/big.json: larger than 1 MiB");
        json_object_put(TAKE_PTR(r));

        /* Still serving. */
        drop_recipe("c-after", "t::count", NULL);
        r = wait_for_result("c-after", PROMPTLY);
        assert_result(r, "c-after", "successful", "completed", NULL);
        first = test_read(ok_path);

        /* The same id again, under another name: not run twice, its result left alone. */
        again = strf("{\"id\": \"c-after\", \"type\": \"execute_recipes\", "
                     "\"args\": {\"recipes\": [\"t::count\"]}}");
        ck_assert_ptr_nonnull(again);
        drop("dup.json", again, strlen(again));
        for (usec_t end = now_usec(CLOCK_MONOTONIC) + PROMPTLY; exists(again_path); pause_ms(2)) {
                assert_agent_alive();
                ck_assert_msg(now_usec(CLOCK_MONOTONIC) < end, "the duplicate stayed in the inbox");
        }
        pause_ms(500);
        second = test_read(ok_path);
        ck_assert_str_eq(first, second);
        ck_assert_uint_eq(count_lines(count), 1);
        ck_assert(!exists(no_result));
        assert_journal_status("c-after", "finished");
}
END_TEST

/* Counts results/<name> written (atomically: renamed in). */
static unsigned count_renames(int fd, const char *name) {
        unsigned n = 0;

        for (;;) {
                union {
                        struct inotify_event event;
                        char raw[4096];
                } buf;
                ssize_t len = read(fd, &buf, sizeof(buf));

                if (len <= 0)
                        return n;
                for (char *p = buf.raw; p < buf.raw + len;) {
                        const struct inotify_event *e = (const struct inotify_event *) p;

                        p += sizeof(struct inotify_event) + e->len;
                        if (e->len > 0 && streq(e->name, name))
                                n++;
                }
        }
}

/* 7. The state dir full: the command waits (not lost, not acknowledged), the agent says why
 * and stays up; once there is room it runs and its result is delivered once. */
START_TEST(disk_full) {
        _cleanup_free_ char *fill = path_in(state, "fill"), *count = path_in(work, "count");
        _cleanup_free_ char *heartbeat = path_in(spool, "heartbeat.json");
        _cleanup_free_ char *waiting = path_in(inbox, "d1.json"), *text = NULL;
        _cleanup_free_ char *outbox = path_in(state, "outbox");
        _cleanup_json_ json_object *r = NULL, *hb = NULL;
        _cleanup_close_ int fd = -1, ino = -1;
        char block[65536] = {};
        struct stat st1, st2;
        DIR *d;
        struct dirent *de;
        size_t in_outbox = 0;

        ck_assert_int_eq(mount("tmpfs", state, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755"),
                         0);
        state_mounted = true;
        agent_start();
        ck_assert_int_ge(mkdir_parents(results, 0755), 0);
        ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        ck_assert_int_ge(ino, 0);
        ck_assert_int_ge(inotify_add_watch(ino, results, IN_MOVED_TO | IN_CLOSE_WRITE), 0);

        fd = open(fill, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        while (write(fd, block, sizeof(block)) > 0)
                ;
        ck_assert_int_eq(errno, ENOSPC);
        ck_assert_int_eq(close(TAKE_FD(fd)), 0);

        drop_recipe("d1", "t::count", NULL);
        wait_for_text(errlog, "command d1: cannot journal it: No space left on device", PROMPTLY);
        /* Alive and still beating, the command kept by the control plane, nothing run. */
        ck_assert_int_eq(stat(heartbeat, &st1), 0);
        pause_ms(1200);
        assert_agent_alive();
        ck_assert_int_eq(stat(heartbeat, &st2), 0);
        ck_assert(st2.st_mtim.tv_sec != st1.st_mtim.tv_sec ||
                  st2.st_mtim.tv_nsec != st1.st_mtim.tv_nsec);
        hb = read_json(heartbeat);
        ck_assert_str_eq(json_get_string(hb, "status"), "idle");
        ck_assert(exists(waiting));
        ck_assert(!exists(count));
        ck_assert_uint_eq(count_renames(ino, "d1.json"), 0);

        ck_assert_int_eq(unlink(fill), 0);
        r = wait_for_result("d1", 30 * USEC_PER_SEC);
        assert_result(r, "d1", "successful", "completed", NULL);
        assert_journal_status("d1", "finished");
        text = test_read(count);
        ck_assert_str_eq(text, "d1\n");
        ck_assert(!exists(waiting));

        pause_ms(1500);
        ck_assert_uint_eq(count_renames(ino, "d1.json"), 1);
        d = opendir(outbox);
        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d)))
                in_outbox += de->d_name[0] != '.';
        closedir(d);
        ck_assert_uint_eq(in_outbox, 0);
}
END_TEST

static void assert_no_secret(const char *path, bool masked) {
        _cleanup_free_ char *text = test_read(path);

        ck_assert_msg(text, "cannot read %s", path);
        ck_assert_msg(!strstr(text, DB_SECRET), "%s has the password:\n%s", path, text);
        ck_assert_msg(!strstr(text, APP_SECRET), "%s has the app password:\n%s", path, text);
        if (masked)
                ck_assert_msg(strstr(text, "db=" MASK " app=" MASK), "%s has no mask:\n%s", path,
                              text);
}

/* 8. Secrets of the stack and the command are masked in every log and in the result. */
START_TEST(secrets_never_logged) {
        _cleanup_free_ char *log = path_in(logs, "c-secret.log");
        _cleanup_free_ char *spool_log = strf("%s/logs/c-secret.log", spool);
        _cleanup_free_ char *result = path_in(results, "c-secret.json");
        _cleanup_json_ json_object *r = NULL;

        agent_start();
        drop_recipe("c-secret", "t::secret",
                    "\"custom_json\": {\"db\": {\"password\": \"" DB_SECRET "\"}}");
        r = wait_for_result("c-secret", PROMPTLY);
        assert_result(r, "c-secret", "successful", "completed", NULL);
        /* The step did see them: the recipe ran with the real values. */
        ck_assert_int_eq(changed(r), 1);

        /* The log goes to the control plane right after the result. */
        wait_for_path(spool_log, PROMPTLY);
        assert_no_secret(log, true);
        assert_no_secret(spool_log, true);
        assert_no_secret(errlog, true);
        assert_no_secret(result, true);
}
END_TEST

/* 9. The heartbeat record is rewritten every interval, during a command too. */
START_TEST(heartbeat) {
        _cleanup_free_ char *path = path_in(spool, "heartbeat.json"), *boot_id = NULL;
        _cleanup_json_ json_object *first = NULL, *later = NULL, *busy = NULL;
        json_object *metrics, *memory;
        usec_t end;

        agent_start();
        first = read_json(path);
        ck_assert_str_eq(json_get_string(first, "instance_id"), INSTANCE);
        ck_assert_str_eq(json_get_string(first, "stack_id"), STACK);
        ck_assert_str_eq(json_get_string(first, "agent_version"), STRATA_VERSION);
        ck_assert_str_eq(json_get_string(first, "status"), "idle");
        metrics = json_object_object_get(first, "metrics");
        memory = json_object_object_get(metrics, "memory");
        ck_assert_int_gt(json_object_get_int64(json_object_object_get(memory, "total")), 0);
        ck_assert_int_gt(json_object_get_int64(json_object_object_get(memory, "used")), 0);
        ck_assert_int_gt(json_object_get_int64(json_object_object_get(metrics, "processes")), 0);
        ck_assert_int_ge(read_full_file("/proc/sys/kernel/random/boot_id", 64, &boot_id, NULL), 0);
        boot_id[strcspn(boot_id, "\n")] = 0;
        ck_assert_str_eq(json_get_string(metrics, "boot_id"), boot_id);

        /* Rewritten (a new time) within an interval and a bit. */
        end = now_usec(CLOCK_MONOTONIC) + 2500 * USEC_PER_MSEC;
        for (;;) {
                later = read_json(path);
                if (!streq(json_get_string(later, "time"), json_get_string(first, "time")))
                        break;
                json_object_put(TAKE_PTR(later));
                ck_assert_msg(now_usec(CLOCK_MONOTONIC) < end, "heartbeat.json was not rewritten");
                pause_ms(20);
        }
        ck_assert_str_eq(json_get_string(later, "status"), "idle");

        /* A command runs: the heartbeat goes on and says so. */
        drop_recipe("c-busy", "t::block", NULL);
        end = now_usec(CLOCK_MONOTONIC) + 2500 * USEC_PER_MSEC;
        for (;;) {
                busy = read_json(path);
                if (streq(json_get_string(busy, "status"), "running execute_recipes c-busy t::block"))
                        break;
                json_object_put(TAKE_PTR(busy));
                ck_assert_msg(now_usec(CLOCK_MONOTONIC) < end, "no heartbeat during the command");
                pause_ms(20);
        }
        json_object_put(wait_for_result("c-busy", PROMPTLY));
}
END_TEST

/* 10. A deploy of an app the stack does not have fails, and says why (test-deploy.c has the
 * deploys that work). */
START_TEST(deploy_unknown_app) {
        _cleanup_json_ json_object *r = NULL;

        agent_start();
        drop_command("c-deploy", "deploy", "\"args\": {\"app_ids\": [\"nope\"]}");
        r = wait_for_result("c-deploy", PROMPTLY);
        assert_result(r, "c-deploy", "failed", "failed",
                      "args.app_ids[0]: expected the shortname of an app of the stack");
        ck_assert_str_eq(json_get_string(r, "type"), "deploy");
        assert_journal_status("c-deploy", "finished");
}
END_TEST

/* 11. SIGTERM during a step: the step is stopped, the command reported interrupted, and the
 * agent exits within the grace; a restart runs nothing again. */
START_TEST(sigterm_during_command) {
        _cleanup_json_ json_object *r = NULL;
        _cleanup_free_ char *counter = path_in(work, "counter"), *text = NULL;
        _cleanup_free_ char *result = path_in(results, "c-term.json");
        usec_t t;
        int status;

        agent_start();
        drop_recipe("c-term", "t::slow", NULL);
        wait_for_text(counter, "run\n", PROMPTLY);
        t = now_usec(CLOCK_MONOTONIC);
        status = agent_stop(SIGTERM, 10 * USEC_PER_SEC);
        printf("SIGTERM during a step: exited after %.1f ms\n",
               (double) (now_usec(CLOCK_MONOTONIC) - t) / 1000.0);
        ck_assert_uint_lt(now_usec(CLOCK_MONOTONIC) - t, 6 * USEC_PER_SEC);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "wait status 0x%x", status);
        assert_no_leftovers(false);

        r = read_json(result);
        assert_result(r, "c-term", "failed", "interrupted",
                      "interrupted: the agent was stopped during the command");
        assert_journal_status("c-term", "finished");

        agent_start();
        pause_ms(1000);
        text = test_read(counter);
        ck_assert_str_eq(text, "run\n");
        assert_journal_status("c-term", "finished");
}
END_TEST

/* SIGHUP reloads the configuration; a broken one is refused and the old one kept. */
START_TEST(sighup_reload) {
        _cleanup_free_ char *expected = strf("configuration reloaded from %s", config);
        _cleanup_free_ char *refused = strf("reload: keeping the current configuration: %s:",
                                            config);
        _cleanup_json_ json_object *r = NULL;

        ck_assert_ptr_nonnull(expected);
        ck_assert_ptr_nonnull(refused);
        agent_start();
        ck_assert_int_eq(kill(agent_pid, SIGHUP), 0);
        wait_for_text(errlog, expected, PROMPTLY);

        write_config("no_such_key: 1\n");
        ck_assert_int_eq(kill(agent_pid, SIGHUP), 0);
        wait_for_text(errlog, refused, PROMPTLY);

        drop_recipe("c-after-hup", "t", NULL);
        r = wait_for_result("c-after-hup", PROMPTLY);
        assert_result(r, "c-after-hup", "successful", "completed", NULL);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("agent");
        TCase *tc = tcase_create("agent");

        tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, command_to_result_latency);
        tcase_add_test(tc, kill9_during_command);
        tcase_add_test(tc, command_timeout);
        tcase_add_test(tc, open_stdout_child);
        tcase_add_test(tc, configure_coalescing);
        tcase_add_test(tc, malformed_and_oversized);
        tcase_add_test(tc, disk_full);
        tcase_add_test(tc, secrets_never_logged);
        tcase_add_test(tc, heartbeat);
        tcase_add_test(tc, deploy_unknown_app);
        tcase_add_test(tc, sigterm_during_command);
        tcase_add_test(tc, sighup_reload);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        /* Our stdout interleaves with Check's: print each figure as it comes. */
        setvbuf(stdout, NULL, _IOLBF, 0);
        return test_run_suite(suite());
}
