/* SPDX-License-Identifier: MIT */
/* A fleet end to end: the operator CLI `strata` and two real strata-agent daemons on one real
 * etcd with authentication on. The CLI prepares the cluster, makes a stack with two layers (web,
 * worker) and an app whose archive nginx serves, and registers one instance per layer; each
 * agent runs with the config register-instance wrote for it (plus its own directories). A deploy
 * deployment must reach both instances and leave the app's exact files in each one's
 * deploy_root; an execute_recipes deployment for the worker layer must run on the worker only.
 * The time from create-deployment returning to the recipe's step starting is printed on stderr.
 * etcd, nginx and both agents are stopped, and every directory removed, also when it fails. */
#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "fs-util.h"
#include "json-util.h"
#include "server-etcd.h"
#include "server-nginx.h"
#include "str-util.h"
#include "test-helpers.h"
#include "time-util.h"

#define ADMIN_PASSWORD "fleet-admin-7"
#define PREFIX "/strata/v1"
#define PROMPTLY (20 * USEC_PER_SEC)
#define INDEX_HTML "<h1>site v1</h1>\n"
#define APP_JS "console.log('site v1');\n"

typedef struct Agent {
        const char *hostname;
        char *dir;    /* everything of this instance: config, password, state, www, work */
        char *config; /* written by register-instance, extended by the test */
        char *errlog; /* the agent's stdout and stderr */
        char *work;   /* where its recipes write (0777: steps run as TEST_USER) */
        char *id;
        pid_t pid;
} Agent;

/* Made by the suite's process (unchecked fixture), so that a failed test, whose process ends at
 * once in fork mode, still has everything stopped and removed. */
static TestEtcd *etcd;
static TestNginx *nginx;
static char *tmp, *admin_password_file;
static Agent agents[] = {{.hostname = "web1"}, {.hostname = "worker1"}};
#define WEB (&agents[0])
#define WORKER (&agents[1])

static void pause_ms(unsigned ms) {
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

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

static void assert_agents_alive(void) {
        for (size_t i = 0; i < ELEMENTSOF(agents); i++) {
                Agent *a = &agents[i];
                int status;

                if (a->pid <= 0 || waitpid(a->pid, &status, WNOHANG) != a->pid)
                        continue;
                a->pid = 0;
                {
                        _cleanup_free_ char *err = test_read(a->errlog);

                        ck_abort_msg("strata-agent of %s exited (wait status 0x%x); it said:\n%s",
                                     a->hostname, status, strempty(err));
                }
        }
}

/* Runs argv[0] (a NULL-ended list) with stdout and stderr into files; its exit status. */
static int run(const char *outpath, const char *errpath, char **argv) {
        pid_t pid = fork();
        int status;

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int out = open(outpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                int err = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

                if (out < 0 || err < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
                        _exit(127);
                execvp(argv[0], argv);
                _exit(127);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status), "%s died of signal %d", argv[0], WTERMSIG(status));
        return WEXITSTATUS(status);
}

/* Runs strata as admin and asserts exit 0 and nothing on stderr; its stdout parsed (NULL when
 * it printed nothing). The agents are checked to be still running. */
static json_object *strata(const char *first, ...) {
        const char *bin = getenv("STRATA_CLI");
        _cleanup_free_ char *outpath = path_of("%s/cli.out", tmp),
                            *errpath = path_of("%s/cli.err", tmp), *out = NULL, *err = NULL;
        _cleanup_free_ char *error = NULL;
        json_object *o = NULL;
        char *argv[64];
        size_t n = 0;
        va_list ap;
        int r;

        ck_assert_msg(bin, "STRATA_CLI is not set (run through meson test)");
        argv[n++] = (char *)bin;
        argv[n++] = (char *)first;
        va_start(ap, first);
        while ((argv[n] = va_arg(ap, char *)))
                ck_assert_uint_lt(++n, ELEMENTSOF(argv) - 1);
        va_end(ap);

        r = run(outpath, errpath, argv);
        out = test_read(outpath);
        err = test_read(errpath);
        ck_assert_ptr_nonnull(out);
        ck_assert_ptr_nonnull(err);
        ck_assert_msg(r == 0, "strata %s: exit %d: %s", first, r, err);
        ck_assert_msg(streq(err, ""), "strata %s wrote to stderr: %s", first, err);
        assert_agents_alive();
        if (!*out)
                return NULL;
        ck_assert_msg(json_parse_strict("output", out, strlen(out), &o, &error) >= 0, "%s: %s",
                      strempty(error), out);
        return o;
}

/* The id printed as {"<name>": "<id>"}, for the caller to free. */
static char *id_of(json_object *o, const char *name) {
        char *id;

        ck_assert_msg(json_get_string(o, name), "no %s in %s", name,
                      json_object_to_json_string(o));
        id = strdup(json_get_string(o, name));
        ck_assert_ptr_nonnull(id);
        json_object_put(o);
        return id;
}

/* Two ids sorted and joined with ",". */
static char *pair(const char *a, const char *b) {
        return strcmp(a, b) < 0 ? path_of("%s,%s", a, b) : path_of("%s,%s", b, a);
}

/* The strings of a JSON list, sorted and joined with ",". */
static char *joined_sorted(json_object *list) {
        size_t n = json_object_array_length(list);

        ck_assert_msg(n == 1 || n == 2, "%s", json_object_to_json_string(list));
        if (n == 1)
                return path_of("%s", json_object_get_string(json_object_array_get_idx(list, 0)));
        return pair(json_object_get_string(json_object_array_get_idx(list, 0)),
                    json_object_get_string(json_object_array_get_idx(list, 1)));
}

/* Cookbook t: a deploy recipe and a recipe for execute_recipes, each writing into the work
 * directory of the instance it runs on ({{instance.hostname}} picks it). */
static void write_cookbook(void) {
        _cleanup_free_ char *cookbooks = path_of("%s/cookbooks", tmp);
        _cleanup_free_ char *deploy = path_of(
                "- execute:\n"
                "    command: \"echo {{instance.id}} {{deploy.site.release}} >> "
                "%s/{{instance.hostname}}/work/deployed\"\n",
                tmp);
        _cleanup_free_ char *mark = path_of("- execute:\n"
                                            "    command: \"date +%%s%%N > "
                                            "%s/{{instance.hostname}}/work/mark\"\n",
                                            tmp);

        test_cookbook(cookbooks, "t", "deploy", deploy);
        test_cookbook(cookbooks, "t", "mark", mark);
}

/* The app's release: site.tar.gz with index.html (0644) and lib/app.js (0640), served by
 * nginx. */
static void write_archive(void) {
        _cleanup_free_ char *src = path_of("%s/src", tmp), *index = path_of("%s/index.html", src),
                            *js = path_of("%s/lib/app.js", src),
                            *archive = path_of("%s/site.tar.gz", nginx->docroot),
                            *outpath = path_of("%s/tar.out", tmp),
                            *errpath = path_of("%s/tar.err", tmp), *err = NULL;
        char *argv[] = {(char *)"tar",        (char *)"-C", src, (char *)"-czf", archive,
                        (char *)"index.html", (char *)"lib", NULL};

        test_write(index, INDEX_HTML);
        test_write(js, APP_JS);
        ck_assert_int_eq(chmod(index, 0644), 0);
        ck_assert_int_eq(chmod(js, 0640), 0);
        ck_assert_int_ge(mkdir_parents(nginx->docroot, 0755), 0);
        if (run(outpath, errpath, argv) != 0) {
                err = test_read(errpath);
                ck_abort_msg("tar failed: %s", strempty(err));
        }
}

static void suite_setup(void) {
        _cleanup_free_ char *outpath = NULL, *errpath = NULL, *err = NULL;
        char *argv[] = {NULL, (char *)"init", (char *)"--admin-password-file", NULL, NULL};

        test_adopt_orphans();
        tmp = test_tmpdir();
        admin_password_file = path_of("%s/admin-password", tmp);
        test_write(admin_password_file, ADMIN_PASSWORD "\n");
        etcd = test_etcd_start();
        nginx = test_nginx_start(NULL);
        write_cookbook();
        write_archive();

        /* Everything after runs as admin, on this etcd, under the default prefix. */
        ck_assert_int_eq(setenv("STRATA_ENDPOINTS", etcd->endpoint, 1), 0);
        ck_assert_int_eq(setenv("STRATA_PREFIX", PREFIX, 1), 0);
        ck_assert_int_eq(unsetenv("STRATA_USER"), 0);
        ck_assert_int_eq(unsetenv("STRATA_PASSWORD_FILE"), 0);
        argv[0] = (char *)getenv("STRATA_CLI");
        ck_assert_msg(argv[0], "STRATA_CLI is not set (run through meson test)");
        argv[3] = admin_password_file;
        outpath = path_of("%s/init.out", tmp);
        errpath = path_of("%s/init.err", tmp);
        if (run(outpath, errpath, argv) != 0) {
                err = test_read(errpath);
                ck_abort_msg("strata init failed: %s", strempty(err));
        }
        ck_assert_int_eq(setenv("STRATA_USER", "admin", 1), 0);
        ck_assert_int_eq(setenv("STRATA_PASSWORD_FILE", admin_password_file, 1), 0);

        for (size_t i = 0; i < ELEMENTSOF(agents); i++) {
                Agent *a = &agents[i];

                a->dir = path_of("%s/%s", tmp, a->hostname);
                a->config = path_of("%s/agent.yaml", a->dir);
                a->errlog = path_of("%s/agent.stderr", a->dir);
                a->work = path_of("%s/work", a->dir);
                ck_assert_int_ge(mkdir_parents(a->work, 0777), 0);
                ck_assert_int_eq(chmod(a->work, 0777), 0);
        }
}

/* Stops the servers, kills what the test left running (its agents, when it failed: they are
 * this process's now), removes every directory. */
static void suite_teardown(void) {
        test_nginx_free(nginx);
        nginx = NULL;
        test_etcd_free(etcd);
        etcd = NULL;
        test_kill_orphans();
        test_rmdir(tmp);
        tmp = mfree(tmp);
        admin_password_file = mfree(admin_password_file);
        for (size_t i = 0; i < ELEMENTSOF(agents); i++) {
                Agent *a = &agents[i];

                a->dir = mfree(a->dir);
                a->config = mfree(a->config);
                a->errlog = mfree(a->errlog);
                a->work = mfree(a->work);
                a->id = mfree(a->id);
                a->pid = 0;
        }
}

/* Registers the agent's instance in layer, with the config and password file in its dir, and
 * adds its own directories and short timings to that config. */
static void register_agent(Agent *a, const char *stack, const char *layer) {
        _cleanup_free_ char *password = path_of("%s/etcd-password", a->dir), *config = NULL,
                            *extended = NULL, *head = NULL;
        struct stat st;

        a->id = id_of(strata("register-instance", "--stack-id", stack, "--hostname", a->hostname,
                             "--layer-ids", layer, "--output-config", a->config, NULL),
                      "InstanceId");
        ck_assert_int_eq(stat(password, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0600);
        config = test_read(a->config);
        ck_assert_ptr_nonnull(config);
        head = path_of("# strata-agent configuration of instance %s in stack %s, written by "
                       "strata register-instance.\n"
                       "instance_id: \"%s\"\n"
                       "stack_id: \"%s\"\n"
                       "control_plane:\n"
                       "  type: etcd\n"
                       "  endpoints: [\"%s\"]\n"
                       "  prefix: \"" PREFIX "\"\n"
                       "  username: \"instance-%s\"\n"
                       "  password_file: \"%s\"\n",
                       a->id, stack, a->id, stack, etcd->endpoint, a->id, password);
        ck_assert_str_eq(config, head);

        extended = path_of("%s"
                           "cookbook_path: [%s/cookbooks]\n"
                           "state_dir: %s/state\n"
                           "cache_dir: %s/cache\n"
                           "log_dir: %s/log\n"
                           "deploy_root: %s/www\n"
                           "heartbeat_interval: 1s\n"
                           "health_timeout: 3s\n"
                           "command_timeout: 60s\n",
                           config, tmp, a->dir, a->dir, a->dir, a->dir);
        test_write(a->config, extended);
}

static void agent_start(Agent *a) {
        const char *bin = getenv("STRATA_AGENT");
        _cleanup_free_ char *state = path_of("%s/state", a->dir);
        pid_t pid;

        ck_assert_msg(bin, "STRATA_AGENT is not set (run through meson test)");
        ck_assert_int_ge(mkdir_parents(state, 0755), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int out = open(a->errlog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
                int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

                if (out < 0 || null < 0 || dup2(null, STDIN_FILENO) < 0 ||
                    dup2(out, STDOUT_FILENO) < 0 || dup2(out, STDERR_FILENO) < 0)
                        _exit(127);
                (void)unsetenv("NOTIFY_SOCKET");
                (void)unsetenv("WATCHDOG_PID");
                (void)unsetenv("WATCHDOG_USEC");
                (void)unsetenv("JOURNAL_STREAM");
                execl(bin, bin, "--config", a->config, (char *)NULL);
                _exit(127);
        }
        a->pid = pid;
}

/* SIGTERM: the agent must exit 0, without a sanitizer's word. */
static void agent_stop(Agent *a) {
        _cleanup_free_ char *err = NULL;
        int status = 0;

        ck_assert_int_gt(a->pid, 0);
        ck_assert_int_eq(kill(a->pid, SIGTERM), 0);
        for (unsigned i = 0; i < 5000 && waitpid(a->pid, &status, WNOHANG) == 0; i++)
                pause_ms(2);
        if (waitpid(a->pid, &status, WNOHANG) == 0) {
                (void)kill(a->pid, SIGKILL);
                (void)waitpid(a->pid, &status, 0);
        }
        a->pid = 0;
        err = test_read(a->errlog);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "strata-agent of %s stopped with wait status 0x%x; it said:\n%s",
                      a->hostname, status, strempty(err));
        ck_assert_msg(!strstr(strempty(err), "runtime error:") &&
                              !strstr(strempty(err), "Sanitizer"),
                      "the stderr of the agent of %s:\n%s", a->hostname, strempty(err));
}

/* The agents' stderr, for a failure message. */
static char *agents_said(void) {
        _cleanup_free_ char *web = test_read(WEB->errlog), *worker = test_read(WORKER->errlog);

        return path_of("--- %s:\n%s--- %s:\n%s", WEB->hostname, strempty(web), WORKER->hostname,
                       strempty(worker));
}

/* Waits until describe-instances shows both instances online. */
static void wait_online(const char *stack) {
        usec_t end = now_usec(CLOCK_MONOTONIC) + PROMPTLY;

        for (;;) {
                _cleanup_json_ json_object *o = strata("describe-instances", "--stack-id", stack,
                                                       NULL);
                json_object *list = json_object_object_get(o, "Instances");
                size_t online = 0;

                ck_assert_uint_eq(json_object_array_length(list), 2);
                for (size_t i = 0; i < 2; i++)
                        if (streq_ptr(json_get_string(json_object_array_get_idx(list, i),
                                                      "Status"),
                                      "online"))
                                online++;
                if (online == 2)
                        return;
                if (now_usec(CLOCK_MONOTONIC) >= end) {
                        _cleanup_free_ char *said = agents_said();

                        ck_abort_msg("not both online: %s\nthe agents said:\n%s",
                                     json_object_to_json_string(list), said);
                }
                pause_ms(50);
        }
}

/* Waits until the deployment is no longer running; the deployment as describe-deployments
 * shows it. */
static json_object *wait_deployment(const char *deployment) {
        usec_t end = now_usec(CLOCK_MONOTONIC) + PROMPTLY;

        for (;;) {
                json_object *o = strata("describe-deployments", "--deployment-ids", deployment,
                                        NULL);
                json_object *list = json_object_object_get(o, "Deployments");
                json_object *d = json_object_array_get_idx(list, 0);

                ck_assert_uint_eq(json_object_array_length(list), 1);
                ck_assert_str_eq(json_get_string(d, "DeploymentId"), deployment);
                if (!streq_ptr(json_get_string(d, "Status"), "running")) {
                        json_object *copy = json_object_get(d);

                        json_object_put(o);
                        return copy;
                }
                json_object_put(o);
                if (now_usec(CLOCK_MONOTONIC) >= end) {
                        _cleanup_free_ char *said = agents_said();

                        ck_abort_msg("deployment %s still running; the agents said:\n%s",
                                     deployment, said);
                }
                pause_ms(20);
        }
}

/* The deployment's commands per describe-commands: both (or the one) successful, of type, for
 * the instances joined in want. Returns {instance id: command id}. */
static json_object *assert_commands(const char *deployment, const char *type, const char *want) {
        _cleanup_json_ json_object *o = strata("describe-commands", "--deployment-id", deployment,
                                               NULL),
                                   *instances = json_object_new_array(),
                                   *ids = json_object_new_object();
        _cleanup_free_ char *got = NULL;
        json_object *list = json_object_object_get(o, "Commands");

        ck_assert_ptr_nonnull(instances);
        ck_assert_ptr_nonnull(ids);
        for (size_t i = 0; i < json_object_array_length(list); i++) {
                json_object *c = json_object_array_get_idx(list, i);

                ck_assert_ptr_nonnull(json_get_string(c, "CommandId"));
                ck_assert_ptr_nonnull(json_get_string(c, "InstanceId"));
                ck_assert_int_eq(json_object_object_add(ids, json_get_string(c, "InstanceId"),
                                                        json_object_new_string(json_get_string(
                                                                c, "CommandId"))),
                                 0);

                ck_assert_str_eq(json_get_string(c, "DeploymentId"), deployment);
                ck_assert_str_eq(json_get_string(c, "Type"), type);
                ck_assert_msg(streq_ptr(json_get_string(c, "Status"), "successful"), "%s",
                              json_object_to_json_string(c));
                ck_assert_ptr_nonnull(json_get_string(c, "CompletedAt"));
                ck_assert_int_eq(json_object_array_add(instances,
                                                       json_object_new_string(
                                                               json_get_string(c, "InstanceId"))),
                                 0);
        }
        got = joined_sorted(instances);
        ck_assert_str_eq(got, want);
        return TAKE_PTR(ids);
}

static int compare_names(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of a directory, sorted and joined with " ". */
static char *entries(const char *dir) {
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_free_ char *joined = NULL;
        DIR *d = opendir(dir);
        struct dirent *de;

        ck_assert_msg(d, "%s: %m", dir);
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        ck_assert_int_ge(strv_extend(&names, de->d_name), 0);
        closedir(d);
        ck_assert_ptr_nonnull(names);
        qsort(names, strv_length(names), sizeof(char *), compare_names);
        joined = strv_join(names, " ");
        ck_assert_ptr_nonnull(joined);
        return TAKE_PTR(joined);
}

/* The instance has the app's release current, with exactly the archive's files, owned by the
 * deploy user; the deploy recipe ran once, with that release. */
static void assert_deployed(Agent *a, uid_t uid, gid_t gid) {
        _cleanup_free_ char *link = path_of("%s/www/site/current", a->dir),
                            *index = path_of("%s/index.html", link),
                            *js = path_of("%s/lib/app.js", link), *top = NULL, *lib = NULL,
                            *libdir = path_of("%s/lib", link),
                            *trace_path = path_of("%s/deployed", a->work), *trace = NULL,
                            *want = NULL;
        char target[PATH_MAX];
        ssize_t n = readlink(link, target, sizeof(target) - 1);

        ck_assert_msg(n > 0, "%s: %m", link);
        target[n] = 0;
        ck_assert_msg(startswith(target, "releases/"), "current -> %s", target);
        test_assert_file(index, INDEX_HTML, 0644, uid, gid);
        test_assert_file(js, APP_JS, 0640, uid, gid);
        /* The archive's files and the shared directories linked in, nothing else. */
        top = entries(link);
        ck_assert_str_eq(top, "index.html lib log public tmp");
        lib = entries(libdir);
        ck_assert_str_eq(lib, "app.js");

        trace = test_read(trace_path);
        want = path_of("%s %s\n", a->id, target + strlen("releases/"));
        ck_assert_str_eq(strempty(trace), want);
}

START_TEST(fleet) {
        _cleanup_free_ char *stack = NULL, *web = NULL, *worker = NULL, *app = NULL, *source = NULL,
                            *d1 = NULL, *d2 = NULL, *both = NULL, *ids = NULL, *mark = NULL,
                            *web_mark = NULL, *worker_mark = NULL, *keys = NULL, *token = NULL,
                            *web_commands = NULL, *worker_commands = NULL, *want = NULL,
                            *online = NULL;
        _cleanup_json_ json_object *dep1 = NULL, *dep2 = NULL, *c1 = NULL, *c2 = NULL;
        struct passwd *pw = getpwnam(TEST_USER);
        usec_t before, returned, started;
        int64_t stamp_ns;

        ck_assert_msg(pw, "no user " TEST_USER);

        /* 1. The stack: two layers whose deploy event runs t::deploy, and an app from an
         * archive, in every layer. */
        stack = id_of(strata("create-stack", "--name", "fleet", NULL), "StackId");
        web = id_of(strata("create-layer", "--stack-id", stack, "--name", "Web", "--shortname",
                           "web", "--custom-recipes", "{\"Deploy\": [\"t::deploy\"]}", NULL),
                    "LayerId");
        worker = id_of(strata("create-layer", "--stack-id", stack, "--name", "Worker",
                              "--shortname", "worker", "--custom-recipes",
                              "{\"Deploy\": [\"t::deploy\"]}", NULL),
                       "LayerId");
        source = path_of("{\"Type\": \"archive\", \"Url\": \"%s/site.tar.gz\"}", nginx->url);
        app = id_of(strata("create-app", "--stack-id", stack, "--name", "site", "--type", "static",
                           "--app-source", source, NULL),
                    "AppId");

        /* 2. One instance per layer, each with the config register-instance wrote. */
        register_agent(WEB, stack, web);
        register_agent(WORKER, stack, worker);
        both = pair(WEB->id, WORKER->id);
        agent_start(WEB);
        agent_start(WORKER);
        wait_online(stack);
        /* Each agent marks itself online in the stack (what the others' recipes are told). */
        token = test_etcd_token(etcd, "admin", ADMIN_PASSWORD);
        online = path_of(PREFIX "/stacks/%s/online/", stack);
        want = path_of("%1$s%2$s\n%1$s%3$s", online,
                       strcmp(WEB->id, WORKER->id) < 0 ? WEB->id : WORKER->id,
                       strcmp(WEB->id, WORKER->id) < 0 ? WORKER->id : WEB->id);
        for (usec_t end = now_usec(CLOCK_MONOTONIC) + 10 * USEC_PER_SEC;
             keys = test_etcd_keys(etcd, token, online),
                    !streq(keys, want) && now_usec(CLOCK_MONOTONIC) < end;
             keys = mfree(keys))
                (void)usleep(50 * 1000);
        ck_assert_str_eq(keys, want);
        keys = mfree(keys);
        want = mfree(want);

        /* 3. A deploy of the app reaches both instances. */
        d1 = id_of(strata("create-deployment", "--stack-id", stack, "--app-id", app, "--command",
                          "{\"Name\": \"deploy\"}", NULL),
                   "DeploymentId");
        dep1 = wait_deployment(d1);
        ck_assert_msg(streq_ptr(json_get_string(dep1, "Status"), "successful"), "%s",
                      json_object_to_json_string(dep1));
        ck_assert_str_eq(json_get_string(dep1, "AppId"), app);
        ids = joined_sorted(json_object_object_get(dep1, "InstanceIds"));
        ck_assert_str_eq(ids, both);
        c1 = assert_commands(d1, "deploy", both);
        assert_deployed(WEB, pw->pw_uid, pw->pw_gid);
        assert_deployed(WORKER, pw->pw_uid, pw->pw_gid);

        /* 4. execute_recipes for the worker layer runs on the worker only. */
        before = now_usec(CLOCK_REALTIME);
        d2 = id_of(strata("create-deployment", "--stack-id", stack, "--layer-ids", worker,
                          "--command",
                          "{\"Name\": \"execute_recipes\", \"Args\": {\"recipes\": [\"t::mark\"]}}",
                          NULL),
                   "DeploymentId");
        returned = now_usec(CLOCK_REALTIME);
        dep2 = wait_deployment(d2);
        ck_assert_msg(streq_ptr(json_get_string(dep2, "Status"), "successful"), "%s",
                      json_object_to_json_string(dep2));
        free(ids);
        ids = joined_sorted(json_object_object_get(dep2, "InstanceIds"));
        ck_assert_str_eq(ids, WORKER->id);
        c2 = assert_commands(d2, "execute_recipes", WORKER->id);

        worker_mark = path_of("%s/mark", WORKER->work);
        web_mark = path_of("%s/mark", WEB->work);
        mark = test_read(worker_mark);
        ck_assert_msg(mark, "%s is missing", worker_mark);
        ck_assert_msg(access(web_mark, F_OK) < 0 && errno == ENOENT, "%s exists", web_mark);
        /* The web instance has the deploy's command and no other; the worker has both. */
        web_commands = path_of(PREFIX "/instances/%s/commands/", WEB->id);
        keys = test_etcd_keys(etcd, token, web_commands);
        want = path_of("%s%s", web_commands, json_get_string(c1, WEB->id));
        ck_assert_str_eq(keys, want);
        free(keys);
        free(want);
        worker_commands = path_of(PREFIX "/instances/%s/commands/", WORKER->id);
        keys = test_etcd_keys(etcd, token, worker_commands);
        {
                /* Ids sort by their second, then at random. */
                const char *a = json_get_string(c1, WORKER->id),
                           *b = json_get_string(c2, WORKER->id);

                ck_assert_ptr_nonnull(a);
                ck_assert_ptr_nonnull(b);
                want = path_of("%1$s%2$s\n%1$s%3$s", worker_commands, strcmp(a, b) < 0 ? a : b,
                               strcmp(a, b) < 0 ? b : a);
                ck_assert_str_eq(keys, want);
        }

        /* 5. From create-deployment returning to the step starting. */
        ck_assert_msg(endswith(mark, "\n"), "mark: %s", mark);
        mark[strlen(mark) - 1] = 0;
        ck_assert_msg(parse_int64(mark, &stamp_ns) >= 0 && stamp_ns > 0, "mark: %s", mark);
        started = (usec_t)(stamp_ns / 1000);
        ck_assert_uint_ge(started, before);
        fprintf(stderr,
                "dispatch latency: %.1f ms from create-deployment returning to the step "
                "starting (%.1f ms from starting the CLI)\n",
                ((double)started - (double)returned) / 1000.0,
                (double)(started - before) / 1000.0);
        ck_assert_msg(started <= returned + 2 * USEC_PER_SEC, "the step started %.1f ms late",
                      ((double)started - (double)returned) / 1000.0);

        /* 6. Both agents stop cleanly. */
        agent_stop(WEB);
        agent_stop(WORKER);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("fleet");
        TCase *tc = tcase_create("fleet");

        tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, fleet);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
