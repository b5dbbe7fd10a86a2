/* SPDX-License-Identifier: MIT */
/* The real strata-agent daemon on the etcd control plane: each test has its own etcd on free
 * loopback ports and its own agent, puts commands and stack documents the way the operator
 * CLI does, and reads the instance's keys back; etcd and the agent are stopped, paused and
 * restarted under it. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "etcd-gateway.h"
#include "fs-util.h"
#include "json-util.h"
#include "server-etcd.h"
#include "str-util.h"
#include "test-helpers.h"
#include "time-util.h"

#define STACK "s1"
#define P "/strata/v1"
#define ROOT_PASSWORD "root-pw-1"
#define AGENT_PASSWORD "agent-pw-Secret9"
#define PROMPTLY (10 * USEC_PER_SEC)

static TestEtcd *etcd;
static char *tmp, *state, *logs, *work, *config, *errlog, *password_file;
static char *token;           /* root's, once auth is enabled */
static const char *endpoints; /* the config's endpoints list; NULL: etcd's alone */
static const char *beat; /* the config's heartbeat_interval and health_timeout; NULL: 1 s, 2 s */
static pid_t agent_pid;

static void pause_ms(unsigned ms) {
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static char *path_in(const char *dir, const char *name) {
        char *p = strf("%s/%s", dir, name);

        ck_assert_ptr_nonnull(p);
        return p;
}

static char *key(const char *instance, const char *what, const char *id) {
        char *k = id ? strf(P "/instances/%s/%s/%s", instance, what, id)
                     : strf(P "/instances/%s/%s", instance, what);

        ck_assert_ptr_nonnull(k);
        return k;
}

/* POSTs a built request (taken; r is what building it returned) with root's token once auth is
 * on, asserting HTTP 200; the parsed reply. */
static json_object *post_ok(const char *path, int r, json_object *req) {
        _cleanup_free_ char *body = NULL, *error = NULL;
        json_object *reply = NULL;
        long status;

        ck_assert_int_eq(r, 0);
        status = test_etcd_post(etcd, path,
                                json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN), token,
                                &body);
        if (status == 401 && token) {
                /* etcd forgot root's idle token (--auth-token-ttl): a new one. */
                free(token);
                token = test_etcd_token(etcd, "root", ROOT_PASSWORD);
                body = mfree(body);
                status = test_etcd_post(etcd, path,
                                        json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN),
                                        token, &body);
        }
        json_object_put(req);
        ck_assert_msg(etcd_parse_reply(status, body, strlen(body), &reply, &error) >= 0,
                      "POST %s: %s", path, strempty(error));
        return reply;
}

static void put(const char *k, const char *v) {
        json_object *req = NULL;
        int r = etcd_request_put(k, v, strlen(v), 0, &req);

        json_object_put(post_ok(ETCD_PATH_PUT, r, req));
}

static EtcdRange *get_range(const char *k) {
        _cleanup_free_ char *error = NULL;
        _cleanup_json_ json_object *reply = NULL;
        json_object *req = NULL;
        EtcdRange *range = NULL;
        int r = etcd_request_range(k, 0, 0, 0, &req);

        reply = post_ok(ETCD_PATH_RANGE, r, req);
        ck_assert_msg(etcd_parse_range(reply, &range, &error) >= 0, "%s", strempty(error));
        return range;
}

/* The value of a key; NULL when absent. */
static char *get(const char *k) {
        _cleanup_(etcd_range_freep) EtcdRange *range = get_range(k);
        char *v;

        if (range->n_kvs == 0)
                return NULL;
        v = strdup(range->kvs[0].value);
        ck_assert_ptr_nonnull(v);
        return v;
}

/* The version of a key: 1 when it was put exactly once. */
static int64_t key_version(const char *k) {
        _cleanup_(etcd_range_freep) EtcdRange *range = get_range(k);

        ck_assert_uint_eq(range->n_kvs, 1);
        return range->kvs[0].version;
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

/* The value of k once it exists. */
static char *wait_for_key(const char *k, usec_t timeout) {
        usec_t end = now_usec(CLOCK_MONOTONIC) + timeout;

        for (;;) {
                char *v = get(k);

                if (v)
                        return v;
                assert_agent_alive();
                if (now_usec(CLOCK_MONOTONIC) >= end) {
                        _cleanup_free_ char *err = test_read(errlog);

                        ck_abort_msg("%s did not appear; the agent said:\n%s", k, strempty(err));
                }
                pause_ms(5);
        }
}

static void wait_for_no_key(const char *k, usec_t timeout) {
        usec_t end = now_usec(CLOCK_MONOTONIC) + timeout;

        for (;;) {
                _cleanup_free_ char *v = get(k);

                if (!v)
                        return;
                ck_assert_msg(now_usec(CLOCK_MONOTONIC) < end, "%s is still there", k);
                pause_ms(20);
        }
}

static size_t count(const char *haystack, const char *needle) {
        size_t n = 0;

        for (const char *p = haystack; p && (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

/* Waits until the agent's stderr holds needle at least n times. */
static void wait_for_log(const char *needle, size_t n, usec_t timeout) {
        usec_t end = now_usec(CLOCK_MONOTONIC) + timeout;

        for (;;) {
                _cleanup_free_ char *s = test_read(errlog);

                if (count(s, needle) >= n)
                        return;
                assert_agent_alive();
                ck_assert_msg(now_usec(CLOCK_MONOTONIC) < end,
                              "the agent never said \"%s\" %zu time(s); it said:\n%s", needle, n,
                              strempty(s));
                pause_ms(10);
        }
}

static void wait_for_file(const char *path, usec_t timeout) {
        usec_t end = now_usec(CLOCK_MONOTONIC) + timeout;

        while (access(path, F_OK) < 0) {
                assert_agent_alive();
                ck_assert_msg(now_usec(CLOCK_MONOTONIC) < end, "%s did not appear", path);
                pause_ms(1);
        }
}

static void put_command(const char *instance, const char *id, const char *recipe) {
        _cleanup_free_ char *k = key(instance, "commands", id);
        _cleanup_free_ char *v = strf("{\"id\": \"%s\", \"type\": \"execute_recipes\", "
                                      "\"args\": {\"recipes\": [\"%s\"]}}",
                                      id, recipe);

        ck_assert_ptr_nonnull(v);
        put(k, v);
}

static json_object *wait_for_result(const char *id, usec_t timeout) {
        _cleanup_free_ char *k = key("i-1", "results", id);
        _cleanup_free_ char *v = wait_for_key(k, timeout);
        json_object *o = json_tokener_parse(v);

        ck_assert_msg(o, "%s is not JSON: %s", k, v);
        return o;
}

static void write_cookbook(void) {
        _cleanup_free_ char *cookbooks = path_in(tmp, "cookbooks");
        _cleanup_free_ char *count_yaml = strf("- execute:\n    command: \"echo {{command.id}} >> "
                                               "%s/count\"\n",
                                               work);
        _cleanup_free_ char *topology = strf("- execute:\n    command: \"echo {{stack.name}} "
                                             "{{#layers}}{{shortname}}{{/layers}} > "
                                             "%s/topology\"\n",
                                             work);
        _cleanup_free_ char *slow = strf("- execute:\n    command: \"touch %s/slow-started; "
                                         "sleep 3\"\n",
                                         work);

        ck_assert_ptr_nonnull(count_yaml);
        ck_assert_ptr_nonnull(topology);
        ck_assert_ptr_nonnull(slow);
        test_cookbook(cookbooks, "t", "default", "- execute:\n    command: \"echo hello\"\n");
        test_cookbook(cookbooks, "t", "count", count_yaml);
        test_cookbook(cookbooks, "t", "topology", topology);
        test_cookbook(cookbooks, "t", "slow", slow);
}

static void write_stack(void) {
        put(P "/stacks/" STACK, "{\"name\": \"shop\"}");
        put(P "/stacks/" STACK "/layers/web",
            "{\"shortname\": \"web\", \"recipes\": {\"configure\": [\"t::count\"]}}");
        put(P "/stacks/" STACK "/instances/i-1", "{\"layer_ids\": [\"web\"]}");
}

/* The agent's config for instance, with a user (and its password file) when user is set. */
static void write_config(const char *instance, const char *user, const char *extra) {
        _cleanup_free_ char *auth =
                user ? strf("  username: %s\n  password_file: %s\n", user, password_file)
                     : strdup("");
        _cleanup_free_ char *text = NULL;

        ck_assert_ptr_nonnull(auth);
        text = strf("instance_id: %s\n"
                    "stack_id: " STACK "\n"
                    "control_plane:\n"
                    "  type: etcd\n"
                    "  endpoints: [%s%s]\n"
                    "  poll_interval: 30s\n"
                    "  backoff_max: 2s\n"
                    "%s"
                    "cookbook_path: [%s/cookbooks]\n"
                    "state_dir: %s\n"
                    "cache_dir: %s/cache\n"
                    "log_dir: %s\n"
                    "deploy_root: %s/www\n"
                    "%s"
                    "metrics_interval: 1s\n"
                    "command_timeout: 60s\n"
                    "%s",
                    instance, strempty(endpoints), etcd->endpoint, auth, tmp, state, tmp, logs, tmp,
                    beat ?: "heartbeat_interval: 1s\nhealth_timeout: 2s\n", strempty(extra));
        ck_assert_ptr_nonnull(text);
        test_write(config, text);
}

static void setup(void) {
        tmp = test_tmpdir();
        state = path_in(tmp, "state");
        logs = path_in(tmp, "log");
        work = path_in(tmp, "work");
        config = path_in(tmp, "agent.yaml");
        errlog = path_in(tmp, "agent.stderr");
        password_file = path_in(tmp, "password");
        ck_assert_int_ge(mkdir_parents(state, 0755), 0);
        /* Steps run as the unprivileged user and leave their traces here. */
        ck_assert_int_ge(mkdir_parents(work, 0777), 0);
        ck_assert_int_eq(chmod(work, 0777), 0);
        etcd = test_etcd_start();
        write_cookbook();
        write_stack();
        write_config("i-1", NULL, NULL);
}

/* Starts the agent and waits until it is connected to etcd with its alive record put, or only
 * until its event loop runs when it is not expected to connect. */
static void agent_start_full(bool connects) {
        const char *bin = getenv("STRATA_AGENT");
        _cleanup_free_ char *before = test_read(errlog);
        size_t started = count(before, "strata-agent " STRATA_VERSION " started");
        size_t connected = count(before, "etcd: connected to");
        pid_t pid;

        ck_assert_msg(bin, "STRATA_AGENT is not set (run through meson test)");
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int out = open(errlog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
                int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

                if (out < 0 || null < 0 || dup2(null, STDIN_FILENO) < 0 ||
                    dup2(out, STDOUT_FILENO) < 0 || dup2(out, STDERR_FILENO) < 0)
                        _exit(127);
                (void)unsetenv("NOTIFY_SOCKET");
                (void)unsetenv("WATCHDOG_PID");
                (void)unsetenv("WATCHDOG_USEC");
                (void)unsetenv("JOURNAL_STREAM");
                execl(bin, bin, "--config", config, (char *)NULL);
                _exit(127);
        }
        agent_pid = pid;
        wait_for_log("strata-agent " STRATA_VERSION " started", started + 1, PROMPTLY);
        if (connects) {
                _cleanup_free_ char *k = key("i-1", "alive", NULL);

                wait_for_log("etcd: connected to", connected + 1, PROMPTLY);
                free(wait_for_key(k, PROMPTLY));
        }
}

static void agent_start(void) {
        agent_start_full(true);
}

/* SIGTERM, and the agent must exit 0 without a sanitizer's word. */
static void agent_stop(void) {
        _cleanup_free_ char *err = NULL;
        int status = 0;

        if (agent_pid <= 0)
                return;
        (void)kill(agent_pid, SIGCONT);
        ck_assert_int_eq(kill(agent_pid, SIGTERM), 0);
        for (unsigned i = 0; i < 7500 && waitpid(agent_pid, &status, WNOHANG) == 0; i++)
                pause_ms(2);
        if (waitpid(agent_pid, &status, WNOHANG) == 0) {
                (void)kill(agent_pid, SIGKILL);
                (void)waitpid(agent_pid, &status, 0);
        }
        agent_pid = 0;
        err = test_read(errlog);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "strata-agent stopped with wait status 0x%x; it said:\n%s", status,
                      strempty(err));
        ck_assert_msg(!strstr(strempty(err), "runtime error:") &&
                              !strstr(strempty(err), "Sanitizer"),
                      "the agent's stderr:\n%s", strempty(err));
}

static void teardown(void) {
        if (agent_pid > 0) {
                (void)kill(agent_pid, SIGCONT);
                (void)kill(agent_pid, SIGKILL);
                (void)waitpid(agent_pid, NULL, 0);
                agent_pid = 0;
        }
        test_etcd_free(etcd);
        etcd = NULL;
        test_rmdir(tmp);
        tmp = mfree(tmp);
        state = mfree(state);
        logs = mfree(logs);
        work = mfree(work);
        config = mfree(config);
        errlog = mfree(errlog);
        password_file = mfree(password_file);
        token = mfree(token);
        endpoints = NULL;
        beat = NULL;
}

/* 1. Registration once, and a heartbeat record bound to a lease of TTL health_timeout. */
START_TEST(register_and_heartbeat) {
        _cleanup_free_ char *kr = key("i-1", "registered", NULL), *ka = key("i-1", "alive", NULL);
        _cleanup_free_ char *reg = NULL, *alive = NULL, *body = NULL, *ttl_req = NULL;
        _cleanup_free_ char *alive_req = NULL, *b64 = NULL;
        _cleanup_json_ json_object *r = NULL, *a = NULL, *ttl = NULL, *range = NULL;
        json_object *kvs;
        const char *lease;

        agent_start();
        reg = wait_for_key(kr, PROMPTLY);
        r = json_tokener_parse(reg);
        ck_assert_ptr_nonnull(r);
        ck_assert_str_eq(json_get_string(r, "instance_id"), "i-1");
        ck_assert_str_eq(json_get_string(r, "stack_id"), STACK);
        ck_assert_str_eq(json_get_string(r, "agent_version"), STRATA_VERSION);
        ck_assert_ptr_nonnull(json_get_string(r, "registered_at"));

        alive = wait_for_key(ka, PROMPTLY);
        a = json_tokener_parse(alive);
        ck_assert_ptr_nonnull(a);
        ck_assert_str_eq(json_get_string(a, "instance_id"), "i-1");
        ck_assert_str_eq(json_get_string(a, "stack_id"), STACK);
        ck_assert_str_eq(json_get_string(a, "agent_version"), STRATA_VERSION);
        ck_assert_str_eq(json_get_string(a, "status"), "idle");
        ck_assert(json_object_is_type(json_object_object_get(a, "metrics"), json_type_object) ||
                  json_object_object_get(a, "metrics") == NULL);

        /* Bound to a lease that etcd granted for the health timeout (2 s). */
        b64 = etcd_base64_encode(ka, strlen(ka));
        alive_req = strf("{\"key\": \"%s\"}", strempty(b64));
        ck_assert_int_eq(test_etcd_post(etcd, ETCD_PATH_RANGE, alive_req, NULL, &body), 200);
        range = json_tokener_parse(body);
        kvs = json_object_object_get(range, "kvs");
        ck_assert_uint_eq(json_object_array_length(kvs), 1);
        lease = json_get_string(json_object_array_get_idx(kvs, 0), "lease");
        ck_assert_ptr_nonnull(lease);
        ttl_req = strf("{\"ID\": \"%s\"}", lease);
        body = mfree(body);
        ck_assert_int_eq(test_etcd_post(etcd, "/v3/lease/timetolive", ttl_req, NULL, &body), 200);
        ttl = json_tokener_parse(body);
        ck_assert_str_eq(json_get_string(ttl, "grantedTTL"), "2");

        /* Registered once: a restart leaves the record alone. */
        agent_stop();
        agent_start();
        ck_assert_int_eq(key_version(kr), 1);
        agent_stop();
}
END_TEST

/* 2. A command put in etcd runs at once, with the stack read from etcd; its log and result
 * land under logs/ and results/, each put once. */
START_TEST(command_to_result) {
        _cleanup_free_ char *marker = path_in(work, "count"),
                            *topo_path = path_in(work, "topology");
        _cleanup_free_ char *klog = key("i-1", "logs", "c-1"), *kres = key("i-1", "results", "c-1");
        _cleanup_free_ char *counted = NULL, *topology = NULL, *log = NULL, *state_rev = NULL;
        _cleanup_free_ char *rev_path = path_in(state, "etcd-revision");
        _cleanup_json_ json_object *r = NULL;
        usec_t put, started;

        agent_start();
        put = now_usec(CLOCK_MONOTONIC);
        put_command("i-1", "c-1", "t::count");
        wait_for_file(marker, PROMPTLY);
        started = now_usec(CLOCK_MONOTONIC);
        printf("etcd put to step started: %.1f ms\n", (double)(started - put) / 1000.0);
        ck_assert_uint_lt(started - put, USEC_PER_SEC);

        r = wait_for_result("c-1", PROMPTLY);
        ck_assert_str_eq(json_get_string(r, "id"), "c-1");
        ck_assert_str_eq(json_get_string(r, "type"), "execute_recipes");
        ck_assert_str_eq(json_get_string(r, "status"), "successful");
        log = get(klog);
        ck_assert_msg(log && strstr(log, "execute[echo {{command.id}} >> ") == NULL &&
                              strstr(log, ": run changed\n"),
                      "log: %s", strempty(log));
        ck_assert_int_eq(key_version(kres), 1);
        ck_assert_int_eq(key_version(klog), 1);
        counted = test_read(marker);
        ck_assert_str_eq(counted, "c-1\n");

        /* The topology comes from etcd. */
        put_command("i-1", "c-2", "t::topology");
        json_object_put(wait_for_result("c-2", PROMPTLY));
        topology = test_read(topo_path);
        ck_assert_str_eq(strempty(topology), "shop web\n");

        state_rev = test_read(rev_path);
        ck_assert_ptr_nonnull(state_rev);
        agent_stop();
}
END_TEST

/* 3. A restart resumes from the revision it kept: what came meanwhile runs, nothing reruns; a
 * command whose result exists already is never run. */
START_TEST(restart_resumes) {
        _cleanup_free_ char *marker = path_in(work, "count"), *counted = NULL, *old = NULL;
        _cleanup_free_ char *k9 = key("i-1", "results", "c-0");

        /* Done by someone before this agent ever ran. */
        put(k9, "{\"id\": \"c-0\", \"status\": \"successful\"}");
        put_command("i-1", "c-0", "t::count");
        agent_start();
        put_command("i-1", "c-1", "t::count");
        json_object_put(wait_for_result("c-1", PROMPTLY));
        agent_stop();

        put_command("i-1", "c-2", "t::count");
        agent_start();
        json_object_put(wait_for_result("c-2", PROMPTLY));
        put_command("i-1", "c-3", "t::count");
        json_object_put(wait_for_result("c-3", PROMPTLY));
        counted = test_read(marker);
        ck_assert_str_eq(counted, "c-1\nc-2\nc-3\n");
        old = get(k9);
        ck_assert_str_eq(old, "{\"id\": \"c-0\", \"status\": \"successful\"}");
        agent_stop();
}
END_TEST

/* 4. The revision the agent kept was compacted away: the canceled watch makes it read every
 * command, and nothing is lost. */
START_TEST(compacted_revision) {
        _cleanup_free_ char *marker = path_in(work, "count"), *counted = NULL, *body = NULL;
        _cleanup_free_ char *compact = NULL, *filler = key("i-1", "filler", NULL);
        _cleanup_json_ json_object *req = NULL, *reply = NULL;
        _cleanup_free_ char *error = NULL;
        int64_t revision;
        long status;

        agent_start();
        put_command("i-1", "c-1", "t::count");
        json_object_put(wait_for_result("c-1", PROMPTLY));
        agent_stop();

        put_command("i-1", "c-2", "t::count");
        for (int i = 0; i < 5; i++)
                put(filler, "x");
        /* Compact up to now. */
        ck_assert_int_eq(etcd_request_range(filler, 0, 0, 0, &req), 0);
        status = test_etcd_post(etcd, ETCD_PATH_RANGE,
                                json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN), token,
                                &body);
        ck_assert_int_eq(etcd_parse_reply(status, body, strlen(body), &reply, &error), 0);
        ck_assert_int_eq(etcd_reply_revision(reply, &revision), 0);
        compact = strf("{\"revision\": \"%" PRId64 "\", \"physical\": true}", revision);
        body = mfree(body);
        ck_assert_int_eq(test_etcd_post(etcd, ETCD_PATH_COMPACTION, compact, token, &body), 200);

        agent_start();
        json_object_put(wait_for_result("c-2", PROMPTLY));
        wait_for_log("were compacted", 1, PROMPTLY);
        counted = test_read(marker);
        ck_assert_str_eq(counted, "c-1\nc-2\n");
        agent_stop();
}
END_TEST

/* Runs `strata-agent-cli agent_report` until its "Control plane" line holds needle. */
static void wait_for_report(const char *needle) {
        const char *cli = getenv("STRATA_AGENT_CLI");
        _cleanup_free_ char *cmd = NULL, *want = strf("Control plane      etcd, %s", needle);
        usec_t end = now_usec(CLOCK_MONOTONIC) + PROMPTLY;

        ck_assert_msg(cli, "STRATA_AGENT_CLI is not set (run through meson test)");
        cmd = strf("'%s' agent_report --config '%s' 2>&1", cli, config);
        ck_assert_ptr_nonnull(cmd);
        ck_assert_ptr_nonnull(want);
        for (;;) {
                _cleanup_(strbuf_done) StrBuf out = {};
                FILE *f = popen(cmd, "r");
                char buf[4096];
                size_t n;

                ck_assert_ptr_nonnull(f);
                while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
                        ck_assert_int_eq(strbuf_append(&out, buf, n), 0);
                ck_assert_int_eq(pclose(f), 0);
                if (out.data && strstr(out.data, want))
                        return;
                ck_assert_msg(now_usec(CLOCK_MONOTONIC) < end,
                              "agent_report never said \"%s\":\n%s", want, strempty(out.data));
                pause_ms(100);
        }
}

/* 5. etcd goes away while a command runs: the agent finishes it, and its result arrives once
 * etcd is back, exactly once. */
START_TEST(etcd_away_during_command) {
        _cleanup_free_ char *started = path_in(work, "slow-started");
        _cleanup_free_ char *kres = key("i-1", "results", "c-1");
        _cleanup_json_ json_object *r = NULL;

        agent_start();
        put_command("i-1", "c-1", "t::slow");
        wait_for_file(started, PROMPTLY);
        test_etcd_stop(etcd);
        /* The command ends (3 s) while etcd is down; the agent says it cannot reach it. */
        wait_for_log("etcd: ", 2, PROMPTLY);
        wait_for_log("[c-1 execute_recipes] successful", 1, PROMPTLY);
        /* Heartbeats go on locally: agent_report says that etcd is away. */
        wait_for_report("not connected: ");
        test_etcd_restart(etcd);
        r = wait_for_result("c-1", PROMPTLY);
        ck_assert_str_eq(json_get_string(r, "status"), "successful");
        ck_assert_int_eq(key_version(kres), 1);
        wait_for_log("etcd: connected to", 2, PROMPTLY);
        wait_for_report("connected to http://127.0.0.1:");
        agent_stop();
}
END_TEST

/* 6. A lapsed lease (the agent paused past the health timeout) takes the alive record and the
 * online mark in the stack away; both come back once the agent runs again. */
START_TEST(lease_lapse) {
        _cleanup_free_ char *ka = key("i-1", "alive", NULL), *back = NULL, *mark = NULL;
        const char *km = P "/stacks/" STACK "/online/i-1";

        agent_start();
        free(wait_for_key(km, PROMPTLY));
        ck_assert_int_eq(kill(agent_pid, SIGSTOP), 0);
        wait_for_no_key(ka, 6 * USEC_PER_SEC);
        wait_for_no_key(km, PROMPTLY);
        ck_assert_int_eq(kill(agent_pid, SIGCONT), 0);
        back = wait_for_key(ka, 5 * USEC_PER_SEC);
        mark = wait_for_key(km, 5 * USEC_PER_SEC);
        wait_for_log("lapsed", 1, PROMPTLY);
        agent_stop();
}
END_TEST

/* Auth on, with user i-1 that may read the stack and read/write its own prefix only. */
static void enable_auth(void) {
        _cleanup_json_ json_object *reply = NULL;
        _cleanup_free_ char *error = NULL;
        json_object *req = NULL;
        int r;

        r = etcd_request_user_add("root", ROOT_PASSWORD, &req);
        json_object_put(post_ok(ETCD_PATH_USER_ADD, r, req));
        r = etcd_request_name("root", &req);
        json_object_put(post_ok(ETCD_PATH_ROLE_ADD, r, req));
        r = etcd_request_user_grant_role("root", "root", &req);
        json_object_put(post_ok(ETCD_PATH_USER_GRANT_ROLE, r, req));
        r = etcd_request_empty(&req);
        json_object_put(post_ok(ETCD_PATH_AUTH_ENABLE, r, req));
        r = etcd_request_authenticate("root", ROOT_PASSWORD, &req);
        reply = post_ok(ETCD_PATH_AUTHENTICATE, r, req);
        ck_assert_msg(etcd_parse_token(reply, &token, &error) >= 0, "%s", strempty(error));
        r = etcd_request_user_add("i-1", AGENT_PASSWORD, &req);
        json_object_put(post_ok(ETCD_PATH_USER_ADD, r, req));
        r = etcd_request_name("i-1", &req);
        json_object_put(post_ok(ETCD_PATH_ROLE_ADD, r, req));
        r = etcd_request_role_grant_permission("i-1", ETCD_PERMISSION_READWRITE,
                                               P "/instances/i-1/", true, &req);
        json_object_put(post_ok(ETCD_PATH_ROLE_GRANT_PERMISSION, r, req));
        r = etcd_request_role_grant_permission("i-1", ETCD_PERMISSION_READ, P "/stacks/" STACK,
                                               true, &req);
        json_object_put(post_ok(ETCD_PATH_ROLE_GRANT_PERMISSION, r, req));
        r = etcd_request_user_grant_role("i-1", "i-1", &req);
        json_object_put(post_ok(ETCD_PATH_USER_GRANT_ROLE, r, req));
}

/* 7. With its own user and password the agent works as before (a role without the grant of
 * its online mark: the definitions say the instances' status); the password never reaches
 * the log. */
START_TEST(auth_works) {
        _cleanup_free_ char *err = NULL;

        enable_auth();
        put(P "/stacks/" STACK "/instances/i-2", "{}");
        test_write(password_file, AGENT_PASSWORD "\n");
        write_config("i-1", "i-1", NULL);
        agent_start();
        put_command("i-1", "c-1", "t::count");
        json_object_put(wait_for_result("c-1", PROMPTLY));
        wait_for_log("marking the instance online in its stack: permission denied (etcd: "
                     "etcdserver: permission denied); the other instances of the stack take its "
                     "status from its definition",
                     1, PROMPTLY);
        agent_stop();
        err = test_read(errlog);
        ck_assert_ptr_null(strstr(strempty(err), AGENT_PASSWORD));
}
END_TEST

/* 8. A wrong password: a clear error, tried again with backoff, the agent stays up. */
START_TEST(auth_wrong_password) {
        _cleanup_free_ char *err = NULL, *ka = key("i-1", "alive", NULL), *alive = NULL;

        enable_auth();
        test_write(password_file, "not-the-password\n");
        write_config("i-1", "i-1", NULL);
        agent_start_full(false);
        wait_for_log("etcd: ", 1, PROMPTLY);
        wait_for_log("authenticating as user 'i-1': authentication failed", 2, PROMPTLY);
        alive = get(ka);
        ck_assert_ptr_null(alive);
        agent_stop();
        err = test_read(errlog);
        ck_assert_ptr_null(strstr(err, "not-the-password"));
        ck_assert_ptr_nonnull(strstr(err, "; retrying in "));
}
END_TEST

/* 9. Credentials of instance i-1 used for instance i-2: permission denied, said clearly, and
 * the agent neither crashes nor gives up. */
START_TEST(permission_denied) {
        enable_auth();
        test_write(password_file, AGENT_PASSWORD "\n");
        write_config("i-2", "i-1", NULL);
        agent_start_full(false);
        wait_for_log("registering: permission denied", 2, PROMPTLY);
        assert_agent_alive();
        agent_stop();
}
END_TEST

/* 10. An endpoint that does not answer: the agent goes on with the next one. */
START_TEST(endpoint_failover) {
        _cleanup_free_ char *dead = NULL;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(sa);

        /* A port that was free a moment ago and refuses connections now. */
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
        close(fd);
        dead = strf("http://127.0.0.1:%u, ", (unsigned)ntohs(sa.sin_port));
        ck_assert_ptr_nonnull(dead);
        endpoints = dead;
        write_config("i-1", NULL, NULL);
        agent_start();
        wait_for_log("Couldn't connect to server; retrying in", 1, PROMPTLY);
        put_command("i-1", "c-1", "t::count");
        json_object_put(wait_for_result("c-1", PROMPTLY));
        agent_stop();
}
END_TEST

/* The revision at which the alive record was last put. */
static int64_t alive_revision(void) {
        _cleanup_free_ char *ka = key("i-1", "alive", NULL);
        _cleanup_(etcd_range_freep) EtcdRange *range = get_range(ka);

        ck_assert_uint_eq(range->n_kvs, 1);
        return range->kvs[0].mod_revision;
}

/* Waits until the alive record was put again after revision. */
static int64_t wait_for_alive_after(int64_t revision) {
        usec_t end = now_usec(CLOCK_MONOTONIC) + PROMPTLY;
        int64_t now;

        while ((now = alive_revision()) <= revision) {
                assert_agent_alive();
                ck_assert_msg(now_usec(CLOCK_MONOTONIC) < end,
                              "the alive record was not put again after revision %" PRId64,
                              revision);
                pause_ms(20);
        }
        return now;
}

/* 11. etcd forgets a token unused for --auth-token-ttl (2 s here); the agent beats every 4 s,
 * so each beat finds its token gone: the alive record's put is refused (401, code 16), the
 * agent authenticates again at once and goes on. The alive record keeps being put, and a
 * command put after an expiry runs once, its result put once. */
START_TEST(token_expiry) {
        _cleanup_free_ char *marker = path_in(work, "count"), *kres = key("i-1", "results", "c-1");
        _cleanup_free_ char *expired = NULL, *counted = NULL, *err = NULL;
        _cleanup_json_ json_object *r = NULL;
        int64_t revision;

        test_etcd_free(etcd);
        etcd = test_etcd_start_auth_token_ttl(2);
        enable_auth();
        write_stack();
        test_write(password_file, AGENT_PASSWORD "\n");
        beat = "heartbeat_interval: 4s\nhealth_timeout: 12s\n";
        write_config("i-1", "i-1", NULL);
        expired = strf("etcd: %s: putting the alive record: authentication token expired or "
                       "invalid: authenticate again (etcd: etcdserver: invalid auth token); "
                       "retrying in 0.0 s\n",
                       etcd->endpoint);
        ck_assert_ptr_nonnull(expired);

        agent_start();
        revision = alive_revision();
        /* The first beat after 2-3 s idle: refused, renewed, connected again, beat again. */
        wait_for_log(expired, 1, PROMPTLY);
        wait_for_log("etcd: connected to", 2, PROMPTLY);
        revision = wait_for_alive_after(revision);

        put_command("i-1", "c-1", "t::count");
        r = wait_for_result("c-1", PROMPTLY);
        ck_assert_str_eq(json_get_string(r, "status"), "successful");

        /* And again: the next beats still go through, nothing runs or is put twice. */
        wait_for_log(expired, 2, PROMPTLY);
        wait_for_log("etcd: connected to", 3, PROMPTLY);
        wait_for_alive_after(revision);
        ck_assert_int_eq(key_version(kres), 1);
        counted = test_read(marker);
        ck_assert_str_eq(counted, "c-1\n");
        agent_stop();
        err = test_read(errlog);
        ck_assert_ptr_null(strstr(err, AGENT_PASSWORD));
        /* Renewed at once each time, never after a backoff. */
        ck_assert_uint_eq(count(err, "invalid auth token); retrying in "),
                          count(err, "invalid auth token); retrying in 0.0 s\n"));
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("agent-etcd");
        TCase *tc = tcase_create("agent-etcd");

        tcase_add_unchecked_fixture(tc, test_adopt_orphans, test_kill_orphans);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, register_and_heartbeat);
        tcase_add_test(tc, command_to_result);
        tcase_add_test(tc, restart_resumes);
        tcase_add_test(tc, compacted_revision);
        tcase_add_test(tc, etcd_away_during_command);
        tcase_add_test(tc, lease_lapse);
        tcase_add_test(tc, auth_works);
        tcase_add_test(tc, auth_wrong_password);
        tcase_add_test(tc, permission_denied);
        tcase_add_test(tc, endpoint_failover);
        tcase_add_test(tc, token_expiry);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        setvbuf(stdout, NULL, _IOLBF, 0);
        return test_run_suite(suite());
}
