/* SPDX-License-Identifier: MIT */
/* Deploys through the real strata-agent daemon and its local spool: deploy, rollback, undeploy
 * commands with the layers' deploy and undeploy recipes, and the agent killed with SIGKILL at
 * points spread over a deploy, after which `current` is always a complete release, the command
 * is reported once, and the next deploy leaves no stray release. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
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
#define PROMPTLY (20 * USEC_PER_SEC)
#define KILL_POINTS 20

static char *base, *tmp, *spool, *inbox, *results, *state, *logs, *work, *config, *errlog;
static char *www, *src;
static pid_t agent_pid;

static void pause_us(usec_t us) {
        struct timespec ts = { .tv_sec = (time_t) (us / USEC_PER_SEC),
                               .tv_nsec = (long) (us % USEC_PER_SEC) * 1000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static char *path_of(const char *fmt, ...) _printf_(1, 2);
static char *path_of(const char *fmt, ...) {
        va_list ap;
        char *p;

        va_start(ap, fmt);
        p = strfv(fmt, ap);
        va_end(ap);
        ck_assert_ptr_nonnull(p);
        return p;
}

static bool exists(const char *path) {
        return access(path, F_OK) == 0;
}

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
                pause_us(2000);
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

static json_object *wait_for_result(const char *id) {
        _cleanup_free_ char *path = path_of("%s/%s.json", results, id);

        wait_for_path(path, PROMPTLY);
        return read_json(path);
}

static void assert_result(json_object *r, const char *status, const char *exit_reason,
                          const char *reason) {
        const char *text = json_object_to_json_string_ext(r, JSON_C_TO_STRING_PRETTY);

        ck_assert_msg(streq_ptr(json_get_string(r, "status"), status), "%s", text);
        ck_assert_msg(streq_ptr(json_get_string(r, "exit_reason"), exit_reason), "%s", text);
        if (reason)
                ck_assert_msg(streq_ptr(json_get_string(r, "reason"), reason), "%s", text);
}

/* Drops {"id": id, "type": type, <extra>} the way a sender should: a dot-file renamed in. */
static void drop_command(const char *id, const char *type, const char *extra) {
        _cleanup_free_ char *text = path_of("{\"id\": \"%s\", \"type\": \"%s\"%s%s}", id, type,
                                            extra ? ", " : "", strempty(extra));
        _cleanup_free_ char *dot = path_of("%s/.%s.json", inbox, id);
        _cleanup_free_ char *path = path_of("%s/%s.json", inbox, id);

        test_write(dot, text);
        ck_assert_int_eq(rename(dot, path), 0);
}

/* Runs a command to its result. */
static json_object *run(const char *id, const char *type, const char *extra) {
        drop_command(id, type, extra);
        return wait_for_result(id);
}

/* The app's source is <src>/<version>; the deploy and undeploy recipes leave traces in work. */
static void write_stack(const char *version) {
        _cleanup_free_ char *path = path_of("%s/stack.yaml", tmp);
        _cleanup_free_ char *text = path_of(
                "stack:\n"
                "  name: test\n"
                "layers:\n"
                "  - shortname: web\n"
                "    recipes:\n"
                "      deploy: [\"t::deploy\"]\n"
                "      undeploy: [\"t::undeploy\"]\n"
                "apps:\n"
                "  - shortname: site\n"
                "    source: {type: local, url: \"%s/%s\"}\n"
                "    environment: {GREETING: hello}\n"
                "instances:\n"
                "  - id: " INSTANCE "\n"
                "    layer_ids: [web]\n",
                src, version);

        test_write(path, text);
}

static void write_cookbook(void) {
        _cleanup_free_ char *cookbooks = path_of("%s/cookbooks", tmp);
        _cleanup_free_ char *deploy = path_of(
                "- execute:\n"
                "    command: \"echo {{deploy.site.release}} {{deploy.site.release_path}} >> "
                "%s/deployed\"\n",
                work);
        _cleanup_free_ char *undeploy = path_of(
                "- execute:\n"
                "    command: \"echo {{deploy.site.release}} >> %s/undeployed\"\n",
                work);

        test_cookbook(cookbooks, "t", "deploy", deploy);
        test_cookbook(cookbooks, "t", "undeploy", undeploy);
}

/* Versions v1..vn: index.html "version i", and hooks that take a moment, so that a kill lands
 * in each part of a deploy. */
static void write_versions(unsigned n) {
        for (unsigned i = 1; i <= n; i++) {
                _cleanup_free_ char *index = path_of("%s/v%u/index.html", src, i);
                _cleanup_free_ char *content = path_of("version %u\n", i);
                _cleanup_free_ char *hook = path_of("%s/v%u/deploy/before_symlink", src, i);
                _cleanup_free_ char *after = path_of("%s/v%u/deploy/after_restart", src, i);

                test_write(index, content);
                for (unsigned f = 0; f < 20; f++) {
                        _cleanup_free_ char *p = path_of("%s/v%u/lib/f%u.txt", src, i, f);

                        test_write(p, content);
                }
                test_write(hook, "sleep 0.05\n");
                test_write(after, "sleep 0.05\n");
        }
}

static void write_config(void) {
        _cleanup_free_ char *text = path_of("instance_id: " INSTANCE "\n"
                                            "stack_id: " STACK "\n"
                                            "control_plane:\n"
                                            "  type: local\n"
                                            "  spool: %s\n"
                                            "  stack_file: %s/stack.yaml\n"
                                            "cookbook_path: [%s/cookbooks]\n"
                                            "state_dir: %s\n"
                                            "cache_dir: %s/cache\n"
                                            "log_dir: %s\n"
                                            "deploy_root: %s\n"
                                            "heartbeat_interval: 1s\n"
                                            "health_timeout: 5s\n"
                                            "command_timeout: 60s\n",
                                            spool, tmp, tmp, state, tmp, logs, www);

        test_write(config, text);
}

static void agent_start(void) {
        const char *bin = getenv("STRATA_AGENT");
        _cleanup_free_ char *heartbeat = path_of("%s/heartbeat.json", spool);
        pid_t pid;

        ck_assert_msg(bin, "STRATA_AGENT is not set (run through meson test)");
        (void) unlink(heartbeat);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int out = open(errlog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
                int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

                if (out < 0 || null < 0 || dup2(null, STDIN_FILENO) < 0 ||
                    dup2(out, STDOUT_FILENO) < 0 || dup2(out, STDERR_FILENO) < 0)
                        _exit(127);
                (void) unsetenv("NOTIFY_SOCKET");
                (void) unsetenv("WATCHDOG_PID");
                (void) unsetenv("WATCHDOG_USEC");
                (void) unsetenv("JOURNAL_STREAM");
                execl(bin, bin, "--config", config, (char *) NULL);
                _exit(127);
        }
        agent_pid = pid;
        wait_for_path(heartbeat, PROMPTLY);
}

static int agent_stop(int sig) {
        int status = 0;

        ck_assert_int_gt(agent_pid, 0);
        ck_assert_int_eq(kill(agent_pid, sig), 0);
        ck_assert_int_eq(waitpid(agent_pid, &status, 0), agent_pid);
        agent_pid = 0;
        return status;
}

static void setup(void) {
        tmp = path_of("%s/t-XXXXXX", base);
        ck_assert_ptr_nonnull(mkdtemp(tmp));
        ck_assert_int_eq(chmod(tmp, 0755), 0);
        spool = path_of("%s/spool", tmp);
        inbox = path_of("%s/inbox", spool);
        results = path_of("%s/results", spool);
        state = path_of("%s/state", tmp);
        logs = path_of("%s/log", tmp);
        work = path_of("%s/work", tmp);
        config = path_of("%s/agent.yaml", tmp);
        errlog = path_of("%s/agent.stderr", tmp);
        www = path_of("%s/www", tmp);
        src = path_of("%s/src", tmp);
        ck_assert_int_ge(mkdir_parents(state, 0755), 0);
        ck_assert_int_ge(mkdir_parents(work, 0777), 0);
        write_cookbook();
        write_config();
}

static void teardown(void) {
        _cleanup_free_ char *err = NULL;
        int status = 0;

        if (agent_pid > 0) {
                (void) kill(agent_pid, SIGTERM);
                (void) waitpid(agent_pid, &status, 0);
                agent_pid = 0;
        }
        err = test_read(errlog);
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
        www = mfree(www);
        src = mfree(src);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "strata-agent stopped with wait status 0x%x", status);
        ck_assert_msg(!strstr(strempty(err), "runtime error:") &&
                              !strstr(strempty(err), "Sanitizer"),
                      "the agent's stderr:\n%s", strempty(err));
}

static char *current_release(void) {
        _cleanup_free_ char *link = path_of("%s/site/current", www);
        char buf[PATH_MAX];
        ssize_t n = readlink(link, buf, sizeof(buf) - 1);

        if (n < 0)
                return NULL;
        buf[n] = 0;
        ck_assert_msg(startswith(buf, "releases/"), "current -> %s", buf);
        return strdup(buf + strlen("releases/"));
}

static int compare_names(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The directories under releases/, sorted and joined with " ". */
static char *release_dirs(void) {
        _cleanup_free_ char *dir = path_of("%s/site/releases", www);
        _cleanup_strv_free_ char **names = calloc(1, sizeof(char *));
        DIR *d = opendir(dir);
        struct dirent *de;

        ck_assert_ptr_nonnull(names);
        while (d && (de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        ck_assert_int_ge(strv_extend(&names, de->d_name), 0);
        if (d)
                closedir(d);
        qsort(names, strv_length(names), sizeof(char *), compare_names);
        return strv_join(names, " ");
}

/* The ledger's releases, sorted and joined, and its current one. */
static char *ledger_releases(char **ret_current) {
        _cleanup_free_ char *path = path_of("%s/site/.strata/releases.json", www);
        _cleanup_json_ json_object *l = read_json(path);
        json_object *list = json_object_object_get(l, "releases");
        _cleanup_strv_free_ char **names = calloc(1, sizeof(char *));

        ck_assert_ptr_nonnull(names);
        *ret_current = NULL;
        for (size_t i = 0; i < json_object_array_length(list); i++) {
                json_object *e = json_object_array_get_idx(list, i);

                ck_assert_int_ge(strv_extend(&names, json_get_string(e, "name")), 0);
                if (streq_ptr(json_get_string(e, "state"), "current")) {
                        ck_assert_ptr_null(*ret_current);
                        *ret_current = strdup(json_get_string(e, "name"));
                }
        }
        qsort(names, strv_length(names), sizeof(char *), compare_names);
        return strv_join(names, " ");
}

/* `current` is a complete release: in the ledger, with a whole tree of one version.
 * *ret_version: which. After a finished command the ledger also marks it current; a kill between
 * the ledger's write and the switch may leave the ledger marking the newer release it was
 * switching to (the next command's cleanup brings the two in line): `interrupted` allows that. */
static void assert_current_in_ledger(unsigned *ret_version, bool interrupted) {
        _cleanup_free_ char *name = current_release(), *listed_current = NULL, *listed = NULL;
        _cleanup_free_ char *index = NULL, *text = NULL, *spaced = NULL, *needle = NULL;
        unsigned v = 0;

        ck_assert_msg(name, "current is missing");
        listed = ledger_releases(&listed_current);
        spaced = path_of(" %s ", listed);
        needle = path_of(" %s ", name);
        ck_assert_msg(strstr(spaced, needle), "current -> %s, not in the ledger (%s)", name, listed);
        if (!interrupted || streq_ptr(listed_current, name))
                ck_assert_str_eq(strempty(listed_current), name);
        else
                ck_assert_msg(listed_current && strcmp(listed_current, name) > 0,
                              "the ledger marks %s current, current -> %s",
                              strempty(listed_current), name);
        index = path_of("%s/site/current/index.html", www);
        text = test_read(index);
        ck_assert_msg(text && startswith(text, "version "), "%s: %s", index, strempty(text));
        for (const char *p = text + strlen("version "); *p >= '0' && *p <= '9'; p++)
                v = v * 10 + (unsigned) (*p - '0');
        for (unsigned f = 0; f < 20; f++) {
                _cleanup_free_ char *p = path_of("%s/site/current/lib/f%u.txt", www, f);
                _cleanup_free_ char *got = test_read(p);

                ck_assert_msg(streq_ptr(got, text), "%s: %s, expected %s", p, strempty(got), text);
        }
        *ret_version = v;
}

static void assert_current_complete(unsigned *ret_version) {
        assert_current_in_ledger(ret_version, false);
}

/* 1. Seven deploys through the agent keep five releases, each seen by the deploy recipe;
 * rollbacks walk back and stop at the oldest; undeploy runs its recipe and leaves nothing. */
START_TEST(deploy_rollback_undeploy) {
        _cleanup_free_ char *names = NULL, *deployed = NULL, *deployed_path = NULL;
        char *released[8] = {};
        unsigned v;

        write_versions(7);
        write_stack("v1");
        agent_start();
        for (unsigned i = 1; i <= 7; i++) {
                _cleanup_free_ char *id = path_of("c-deploy-%u", i), *v_name = path_of("v%u", i);
                _cleanup_free_ char *reason = NULL;
                _cleanup_json_ json_object *r = NULL;

                write_stack(v_name);
                r = run(id, "deploy", NULL);
                released[i] = current_release();
                ck_assert_ptr_nonnull(released[i]);
                reason = path_of("site: deployed release %s", released[i]);
                assert_result(r, "successful", "completed", reason);
                ck_assert_int_eq(
                        json_object_get_int(json_object_object_get(r, "resources_changed")), 1);
                assert_current_complete(&v);
                ck_assert_uint_eq(v, i);
        }
        deployed_path = path_of("%s/deployed", work);
        deployed = test_read(deployed_path);
        for (unsigned i = 1; i <= 7; i++) {
                _cleanup_free_ char *line = path_of("%s %s/site/releases/%s\n", released[i], www,
                                                    released[i]);

                ck_assert_msg(strstr(strempty(deployed), line), "%s not in:\n%s", line,
                              strempty(deployed));
        }
        names = release_dirs();
        {
                _cleanup_free_ char *want = path_of("%s %s %s %s %s", released[3], released[4],
                                                    released[5], released[6], released[7]);

                ck_assert_str_eq(names, want);
        }
        for (unsigned i = 7; i > 3; i--) {
                _cleanup_free_ char *id = path_of("c-rollback-%u", i);
                _cleanup_free_ char *reason = path_of("site: rolled back from release %s to %s",
                                                      released[i], released[i - 1]);
                _cleanup_json_ json_object *r = run(id, "rollback", NULL);

                assert_result(r, "successful", "completed", reason);
                assert_current_complete(&v);
                ck_assert_uint_eq(v, i - 1);
        }
        {
                _cleanup_free_ char *reason = path_of(
                        "site: no release older than %s: nothing rolled back, current unchanged",
                        released[3]);
                _cleanup_json_ json_object *r = run("c-rollback-last", "rollback", NULL);
                _cleanup_free_ char *undeployed_path = path_of("%s/undeployed", work);
                _cleanup_free_ char *undeployed = NULL, *line = NULL, *site = NULL;
                _cleanup_json_ json_object *u = NULL;

                assert_result(r, "successful", "completed", reason);
                assert_current_complete(&v);
                ck_assert_uint_eq(v, 3);

                u = run("c-undeploy", "undeploy", NULL);
                site = path_of("%s/site", www);
                free(reason);
                reason = path_of("site: undeployed: 1 release(s) and %s removed", site);
                assert_result(u, "successful", "completed", reason);
                undeployed = test_read(undeployed_path);
                line = path_of("%s\n", released[3]);
                ck_assert_str_eq(strempty(undeployed), line);
                ck_assert(!exists(site));
        }
        for (unsigned i = 1; i <= 7; i++)
                free(released[i]);
}
END_TEST

/* setup ends with a deploy of the layers' apps and their deploy recipes; an app that fails
 * fails the command, naming the app, with `current` untouched. */
START_TEST(setup_deploys) {
        _cleanup_free_ char *reason = NULL, *name = NULL, *deployed = NULL, *line = NULL;
        _cleanup_free_ char *deployed_path = path_of("%s/deployed", work);
        _cleanup_free_ char *broken = path_of("%s/v2/deploy/before_symlink", src);
        _cleanup_json_ json_object *r = NULL, *f = NULL;
        unsigned v;

        write_versions(2);
        write_stack("v1");
        agent_start();
        r = run("c-setup", "setup", NULL);
        name = current_release();
        ck_assert_ptr_nonnull(name);
        reason = path_of("site: deployed release %s", name);
        assert_result(r, "successful", "completed", reason);
        assert_current_complete(&v);
        ck_assert_uint_eq(v, 1);
        deployed = test_read(deployed_path);
        line = path_of("%s %s/site/releases/%s\n", name, www, name);
        ck_assert_str_eq(strempty(deployed), line);

        test_write(broken, "echo cannot migrate >&2\nexit 7\n");
        write_stack("v2");
        f = run("c-deploy-broken", "deploy", "\"args\": {\"app_ids\": [\"site\"]}");
        assert_result(f, "failed", "failed",
                      "app site: hook deploy/before_symlink: exited with status 7: cannot migrate");
        assert_current_complete(&v);
        ck_assert_uint_eq(v, 1);
        free(deployed);
        deployed = release_dirs();
        ck_assert_str_eq(deployed, name);
}
END_TEST

/* 2. SIGKILL of the agent at points spread over a deploy. */
START_TEST(kill9_during_deploy) {
        _cleanup_free_ char *dirs = NULL, *listed = NULL, *listed_current = NULL;
        _cleanup_json_ json_object *first = NULL, *last = NULL;
        unsigned interrupted = 0, v;
        usec_t t, duration;

        write_versions(2);
        write_stack("v1");
        agent_start();
        /* How long a whole deploy takes, from the command file to the result. */
        t = now_usec(CLOCK_MONOTONIC);
        first = run("c-first", "deploy", NULL);
        duration = now_usec(CLOCK_MONOTONIC) - t;
        assert_result(first, "successful", "completed", NULL);
        printf("a deploy through the agent: %.1f ms\n", (double) duration / 1000.0);
        srand((unsigned) getpid());

        for (unsigned i = 0; i < KILL_POINTS; i++) {
                _cleanup_free_ char *id = path_of("c-kill-%u", i);
                _cleanup_free_ char *version = path_of("v%u", 1 + i % 2);
                _cleanup_free_ char *result = path_of("%s/%s.json", results, id);
                _cleanup_json_ json_object *r = NULL;
                usec_t at = duration * i / KILL_POINTS +
                            (usec_t) rand() % (duration / KILL_POINTS + 1);
                int status;

                write_stack(version);
                drop_command(id, "deploy", NULL);
                pause_us(at);
                status = agent_stop(SIGKILL);
                ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
                /* Whatever the kill interrupted, `current` is whole. */
                assert_current_in_ledger(&v, true);

                agent_start();
                r = wait_for_result(id);
                if (streq_ptr(json_get_string(r, "exit_reason"), "interrupted")) {
                        assert_result(r, "failed", "interrupted", "interrupted by agent restart");
                        interrupted++;
                } else
                        assert_result(r, "successful", "completed", NULL);
                assert_current_in_ledger(&v, true);
                ck_assert(exists(result));
        }
        printf("%u of %d kills interrupted a deploy\n", interrupted, KILL_POINTS);
        ck_assert_uint_ge(interrupted, KILL_POINTS / 4);

        /* The next deploy removes what the interrupted ones left: the directories are exactly
         * the releases of the ledger. */
        write_stack("v2");
        last = run("c-last", "deploy", NULL);
        assert_result(last, "successful", "completed", NULL);
        assert_current_complete(&v);
        ck_assert_uint_eq(v, 2);
        dirs = release_dirs();
        listed = ledger_releases(&listed_current);
        ck_assert_str_eq(dirs, listed);
        /* Every interrupted command was reported once: one result file each, nothing pending. */
        for (unsigned i = 0; i < KILL_POINTS; i++) {
                _cleanup_free_ char *outbox = path_of("%s/outbox/c-kill-%u.json", state, i);

                ck_assert(!exists(outbox));
        }
}
END_TEST

static void suite_setup(void) {
        base = test_tmpdir();
}

static void suite_teardown(void) {
        (void) rm_rf(base);
        base = mfree(base);
}

static Suite *suite(void) {
        Suite *s = suite_create("deploy");
        TCase *tc = tcase_create("deploy");

        tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
        tcase_add_checked_fixture(tc, setup, teardown);
        /* Twenty agent restarts take their time under the sanitizers. */
        tcase_set_timeout(tc, 300);
        tcase_add_test(tc, deploy_rollback_undeploy);
        tcase_add_test(tc, setup_deploys);
        tcase_add_test(tc, kill9_during_deploy);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        setvbuf(stdout, NULL, _IOLBF, 0);
        return test_run_suite(suite());
}
