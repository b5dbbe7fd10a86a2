/* SPDX-License-Identifier: MIT */
/* strata-agent-cli against a real strata-agent on a temp spool: what an operator types and
 * what it prints, exit statuses included. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <time.h>

#include "fs-util.h"
#include "json-util.h"
#include "str-util.h"
#include "test-helpers.h"

#define INSTANCE "i-cli-test"
#define STACK "s-cli"
/* Ids the CLI makes: 20261125T115959Z-a1b2c3. */
#define FRESH_ID_LEN 23

static char *tmp, *config;
static pid_t agent_pid;

static char *path_in(const char *fmt, ...) _printf_(1, 2);
static char *path_in(const char *fmt, ...) {
        _cleanup_free_ char *rel = NULL;
        va_list ap;
        char *p;

        va_start(ap, fmt);
        ck_assert_int_ge(vasprintf(&rel, fmt, ap), 0);
        va_end(ap);
        p = strf("%s/%s", tmp, rel);
        ck_assert_ptr_nonnull(p);
        return p;
}

static void wait_for_file(const char *path) {
        for (unsigned i = 0; i < 1000; i++) {
                if (access(path, F_OK) == 0)
                        return;
                usleep(10 * 1000);
        }
        ck_abort_msg("%s did not appear within 10 s", path);
}

static void start_agent(void) {
        const char *bin = getenv("STRATA_AGENT");
        _cleanup_free_ char *log = path_in("agent.log"),
                            *heartbeat = path_in("spool/heartbeat.json");

        ck_assert_msg(bin, "STRATA_AGENT is not set (run through meson test)");
        agent_pid = fork();
        ck_assert_int_ge(agent_pid, 0);
        if (agent_pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

                if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
                        _exit(127);
                execl(bin, bin, "--config", config, (char *)NULL);
                _exit(127);
        }
        /* The first heartbeat goes out once the agent listens. */
        wait_for_file(heartbeat);
}

static void stop_agent(void) {
        int status;

        if (agent_pid <= 0)
                return;
        ck_assert_int_eq(kill(agent_pid, SIGTERM), 0);
        ck_assert_int_eq(waitpid(agent_pid, &status, 0), agent_pid);
        agent_pid = 0;
}

static void setup(void) {
        _cleanup_free_ char *yaml = NULL, *recipe = NULL, *stack = NULL, *cookbooks = NULL;

        tmp = test_tmpdir();
        config = path_in("agent.yaml");
        stack = path_in("stack.yaml");
        cookbooks = path_in("cookbooks");
        yaml = strf("instance_id: " INSTANCE "\n"
                    "stack_id: " STACK "\n"
                    "control_plane: {type: local, spool: %1$s/spool, stack_file: %1$s/stack.yaml}\n"
                    "cookbook_path: [%1$s/cookbooks]\n"
                    "state_dir: %1$s/state\n"
                    "cache_dir: %1$s/cache\n"
                    "log_dir: %1$s/log\n"
                    "deploy_root: %1$s/www\n"
                    "heartbeat_interval: 1s\n"
                    "health_timeout: 5s\n",
                    tmp);
        recipe = strf("- file: {path: %s/hello.txt, content: \"hello\\n\"}\n", tmp);
        ck_assert_ptr_nonnull(yaml);
        ck_assert_ptr_nonnull(recipe);
        test_write(config, yaml);
        test_write(stack, "stack: {name: Demo}\n"
                          "layers: [{shortname: web, recipes: {configure: [demo]}}]\n"
                          "instances: [{id: " INSTANCE ", hostname: web1, layer_ids: [web]}]\n"
                          "users: [{name: alice, sudo: true}]\n");
        test_cookbook(cookbooks, "demo", "default", recipe);
        test_cookbook(cookbooks, "demo", "fail",
                      "- execute: {command: 'echo broken >&2; exit 3'}\n");
        start_agent();
}

static void teardown(void) {
        stop_agent();
        test_rmdir(tmp);
        tmp = mfree(tmp);
        config = mfree(config);
}

/* Runs strata-agent-cli --config <config> ARGS...: its exit status, stdout and stderr. Under
 * the valgrind test setup the CLI runs under valgrind too, so its leaks fail the test. */
static int cli(char **ret_out, char **ret_err, const char *first, ...) {
        const char *bin = getenv("STRATA_AGENT_CLI");
        _cleanup_free_ char *outpath = path_in(".cli-out"), *errpath = path_in(".cli-err");
        char *argv[64];
        size_t n = 0;
        va_list ap;
        pid_t pid;
        int status;

        ck_assert_msg(bin, "STRATA_AGENT_CLI is not set (run through meson test)");
        if (getenv("STRATA_UNDER_VALGRIND")) {
                argv[n++] = (char *)"valgrind";
                argv[n++] = (char *)"--quiet";
                argv[n++] = (char *)"--error-exitcode=99";
                argv[n++] = (char *)"--leak-check=full";
                argv[n++] = (char *)"--errors-for-leak-kinds=definite";
        }
        argv[n++] = (char *)bin;
        argv[n++] = (char *)"--config";
        argv[n++] = config;
        argv[n++] = (char *)first;
        va_start(ap, first);
        while ((argv[n] = va_arg(ap, char *)))
                ck_assert_uint_lt(++n, ELEMENTSOF(argv) - 1);
        va_end(ap);

        pid = fork();
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
        ck_assert_msg(WIFEXITED(status), "strata-agent-cli died of signal %d", WTERMSIG(status));
        *ret_out = test_read(outpath);
        *ret_err = test_read(errpath);
        ck_assert_ptr_nonnull(*ret_out);
        ck_assert_ptr_nonnull(*ret_err);
        return WEXITSTATUS(status);
}

static json_object *parse(const char *text) {
        json_object *o = NULL;

        ck_assert_msg(json_parse_strict("output", text, strlen(text), &o, NULL) >= 0, "%s", text);
        return o;
}

static json_object *read_json(const char *path) {
        _cleanup_free_ char *text = test_read(path);

        ck_assert_msg(text, "%s is missing", path);
        return parse(text);
}

/* A dotted path through objects and arrays: "layers.0.shortname". */
static json_object *get(json_object *o, const char *dotted) {
        _cleanup_free_ char *copy = strdup(dotted);
        char *p = copy, *dot;

        ck_assert_ptr_nonnull(copy);
        for (; p && o; p = dot ? dot + 1 : NULL) {
                uint32_t i;

                dot = strchr(p, '.');
                if (dot)
                        *dot = 0;
                if (json_object_is_type(o, json_type_array) && parse_uint32(p, &i) >= 0)
                        o = json_object_array_get_idx(o, i);
                else
                        o = json_object_object_get(o, p);
        }
        return o;
}

static const char *str(json_object *o, const char *dotted) {
        json_object *v = get(o, dotted);

        return v ? json_object_get_string(v) : NULL;
}

/* The keys of an object, in order, joined with ','. */
static char *keys(json_object *o) {
        _cleanup_(strbuf_done) StrBuf b = {};

        json_object_object_foreach (o, k, v) {
                (void)v;
                ck_assert_int_ge(strbuf_printf(&b, "%s%s", b.len ? "," : "", k), 0);
        }
        return strbuf_steal(&b);
}

/* 20261125T115959Z-a1b2c3 */
static bool fresh_id(const char *s) {
        return strlen(s) == FRESH_ID_LEN && strspn(s, "0123456789") == 8 && s[8] == 'T' &&
               strspn(s + 9, "0123456789") == 6 && s[15] == 'Z' && s[16] == '-' &&
               strspn(s + 17, "0123456789abcdef") == 6;
}

static void send_ok(const char *id, const char *custom_json) {
        _cleanup_free_ char *out = NULL, *err = NULL;

        ck_assert_int_eq(cli(&out, &err, "send_command", "--type", "execute_recipes", "--args",
                             "{\"recipes\": [\"demo\"]}", "--custom-json", custom_json, "--id", id,
                             NULL),
                         0);
}

static void send_fail(const char *id) {
        _cleanup_free_ char *out = NULL, *err = NULL;

        ck_assert_int_eq(cli(&out, &err, "send_command", "--type", "execute_recipes", "--args",
                             "{\"recipes\": [\"demo::fail\"]}", "--id", id, NULL),
                         1);
}

static size_t inbox_files(void) {
        _cleanup_free_ char *inbox = path_in("spool/inbox");
        DIR *d = opendir(inbox);
        struct dirent *de;
        size_t n = 0;

        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d)))
                n += !streq(de->d_name, ".") && !streq(de->d_name, "..");
        closedir(d);
        return n;
}

START_TEST(send_command_waits_and_prints_the_result) {
        _cleanup_free_ char *out = NULL, *err = NULL, *hello = path_in("hello.txt");
        _cleanup_free_ char *content = NULL, *line = NULL,
                            *result_path = path_in("spool/results/t-ok.json");
        _cleanup_json_ json_object *result = NULL;

        ck_assert_int_eq(cli(&out, &err, "send_command", "--type", "execute_recipes", "--args",
                             "{\"recipes\": [\"demo\"]}", "--comment", "first", "--id", "t-ok",
                             NULL),
                         0);
        ck_assert_msg(startswith(out, "t-ok: successful (execute_recipes, "), "%s", out);
        line = strf("changed    file[%s] create (demo::default:1)\n"
                    "           - create file %s\n"
                    "successful: 1 changed, 0 up to date, 0 skipped, 0 failed in ",
                    hello, hello);
        ck_assert_msg(strstr(out, line), "%s", out);
        ck_assert_str_eq(err, "");
        content = test_read(hello);
        ck_assert_str_eq(content, "hello\n");
        result = read_json(result_path);
        ck_assert_str_eq(str(result, "status"), "successful");

        /* An id runs once: sending it again is refused before anything is written. */
        out = mfree(out);
        err = mfree(err);
        ck_assert_int_eq(
                cli(&out, &err, "send_command", "--type", "configure", "--id", "t-ok", NULL), 2);
        ck_assert_str_eq(err, "strata-agent-cli: --id: command t-ok was sent before; an id runs "
                              "only once\n");
        ck_assert_uint_eq(inbox_files(), 0);
}
END_TEST

START_TEST(send_command_json_output) {
        _cleanup_free_ char *out = NULL, *err = NULL;
        _cleanup_json_ json_object *result = NULL;

        ck_assert_int_eq(cli(&out, &err, "send_command", "--json", "--type", "execute_recipes",
                             "--args", "{\"recipes\": [\"demo\"]}", "--id", "t-json", NULL),
                         0);
        result = parse(out);
        ck_assert_str_eq(str(result, "id"), "t-json");
        ck_assert_str_eq(str(result, "type"), "execute_recipes");
        ck_assert_str_eq(str(result, "status"), "successful");
        ck_assert_str_eq(str(result, "report.resources.0.type"), "file");
}
END_TEST

START_TEST(failing_recipe_exits_1) {
        _cleanup_free_ char *out = NULL, *err = NULL;

        ck_assert_int_eq(cli(&out, &err, "send_command", "--type", "execute_recipes", "--args",
                             "{\"recipes\": [\"demo::fail\"]}", "--id", "t-fail", NULL),
                         1);
        ck_assert_msg(startswith(out, "t-fail: failed (execute_recipes, "), "%s", out);
        ck_assert_msg(strstr(out, "): execute[echo broken >&2; exit 3] (demo::fail line 1): "
                                  "command exited with status 3; last output:\nbroken\n"),
                      "%s", out);
        ck_assert_msg(strstr(out, "failed: 0 changed, 0 up to date, 0 skipped, 1 failed in "), "%s",
                      out);
}
END_TEST

static void assert_usage_error(const char *expected_err, const char *first, ...) {
        _cleanup_free_ char *out = NULL, *err = NULL;
        const char *args[16] = {first};
        size_t n = 1;
        va_list ap;
        int status;

        va_start(ap, first);
        while ((args[n] = va_arg(ap, const char *)))
                ck_assert_uint_lt(++n, ELEMENTSOF(args) - 1);
        va_end(ap);
        status = cli(&out, &err, args[0], args[1], args[2], args[3], args[4], args[5], args[6],
                     args[7], args[8], NULL);
        ck_assert_msg(status == 2, "%s: exit %d: %s%s", first, status, out, err);
        ck_assert_msg(startswith(err, expected_err), "expected '%s', got '%s'", expected_err, err);
        ck_assert_str_eq(out, "");
}

START_TEST(bad_input_exits_2) {
        assert_usage_error("strata-agent-cli: --args: byte 13: ", "send_command", "--type",
                           "execute_recipes", "--args", "{\"recipes\": [", NULL);
        assert_usage_error("strata-agent-cli: --args: expected a JSON object", "send_command",
                           "--type", "execute_recipes", "--args", "[1]", NULL);
        assert_usage_error("strata-agent-cli: --custom-json: byte 0: ", "send_command", "--type",
                           "configure", "--custom-json", "x", NULL);
        assert_usage_error("strata-agent-cli: --type: 'bogus' is not a command type (expected "
                           "one of: setup, configure, ",
                           "send_command", "--type", "bogus", NULL);
        assert_usage_error("strata-agent-cli: send_command: --type is required", "send_command",
                           NULL);
        assert_usage_error("strata-agent-cli: --timeout: '0': expected a whole number of seconds "
                           "from 1 to 86400\n",
                           "send_command", "--type", "configure", "--timeout", "0", NULL);
        assert_usage_error("strata-agent-cli: --wait-timeout: 'soon': ", "send_command", "--type",
                           "configure", "--wait-timeout", "soon", NULL);
        assert_usage_error("strata-agent-cli: --id: '.hidden' is not a valid command id",
                           "send_command", "--type", "configure", "--id", ".hidden", NULL);
        assert_usage_error("strata-agent-cli: unknown verb 'frobnicate' (expected one of: "
                           "list_commands, ",
                           "frobnicate", NULL);
        assert_usage_error("strata-agent-cli: list_commands does not take the option --type",
                           "list_commands", "--type", "configure", NULL);
        assert_usage_error("strata-agent-cli: list_commands: unexpected argument 'x'",
                           "list_commands", "x", NULL);
        assert_usage_error("strata-agent-cli: 'nosuch' is neither the id of a command in the "
                           "journal nor a command type\n",
                           "show_log", "nosuch", NULL);
        assert_usage_error("strata-agent-cli: '25/11/2026': expected a date as YYYY-MM-DD\n",
                           "show_log", "configure", "25/11/2026", NULL);
        assert_usage_error("strata-agent-cli: ", "get_json", "2026-13-01", NULL);
        /* Nothing reached the agent. */
        ck_assert_uint_eq(inbox_files(), 0);
}
END_TEST

START_TEST(bad_config_exits_2) {
        _cleanup_free_ char *out = NULL, *err = NULL, *bad = path_in("bad.yaml");
        char *good = config;

        test_write(bad, "state_dir: [1]\n");
        config = bad;
        ck_assert_int_eq(cli(&out, &err, "list_commands", NULL), 2);
        config = good;
        ck_assert_msg(startswith(err, "strata-agent-cli: ") && strstr(err, "bad.yaml:1:"), "%s",
                      err);
}
END_TEST

START_TEST(list_commands_shows_each_command) {
        _cleanup_free_ char *out = NULL, *err = NULL, *line = NULL;
        _cleanup_json_ json_object *rows = NULL;
        const char *ids[] = {"t-ok", "t-fail"}, *results[] = {"successful", "failed"};

        send_ok("t-ok", "{}");
        send_fail("t-fail");
        ck_assert_int_eq(cli(&out, &err, "list_commands", "--json", NULL), 0);
        rows = parse(out);
        ck_assert_uint_eq(json_object_array_length(rows), 2);
        for (size_t i = 0; i < 2; i++) {
                json_object *row = json_object_array_get_idx(rows, i);
                _cleanup_free_ char *k = keys(row),
                                    *entry_path = path_in("state/commands/%s/command.json", ids[i]);
                _cleanup_free_ char *result_path = path_in("state/commands/%s/result.json", ids[i]);
                _cleanup_json_ json_object *entry = read_json(entry_path),
                                           *result = read_json(result_path);

                ck_assert_str_eq(k, "received_at,id,type,status,result,duration_ms");
                ck_assert_str_eq(str(row, "id"), ids[i]);
                ck_assert_str_eq(str(row, "type"), "execute_recipes");
                ck_assert_str_eq(str(row, "status"), "finished");
                ck_assert_str_eq(str(row, "result"), results[i]);
                ck_assert_str_eq(str(row, "received_at"), str(entry, "received_at"));
                ck_assert(json_object_is_type(json_object_object_get(row, "duration_ms"),
                                              json_type_int));
                ck_assert_int_eq(
                        json_object_get_int64(json_object_object_get(row, "duration_ms")),
                        json_object_get_int64(json_object_object_get(result, "duration_ms")));
        }

        out = mfree(out);
        err = mfree(err);
        ck_assert_int_eq(cli(&out, &err, "list_commands", NULL), 0);
        ck_assert_msg(startswith(out,
                                 "RECEIVED                  ID      TYPE             STATUS    "
                                 "RESULT      DURATION\n"),
                      "%s", out);
        line = strf("\n%s  t-fail  execute_recipes  finished  failed      ",
                    str(json_object_array_get_idx(rows, 1), "received_at"));
        ck_assert_msg(strstr(out, line), "%s", out);
}
END_TEST

START_TEST(show_log_by_id_type_and_date) {
        _cleanup_free_ char *out = NULL, *err = NULL, *ok_path = path_in("log/t-ok.log");
        _cleanup_free_ char *fail_path = path_in("log/t-fail.log"), *ok_log = NULL,
                            *fail_log = NULL;
        _cleanup_json_ json_object *doc = NULL;
        time_t now = time(NULL);
        struct tm tm;
        char today[16];

        send_ok("t-ok", "{}");
        send_fail("t-fail");
        ok_log = test_read(ok_path);
        fail_log = test_read(fail_path);
        ck_assert_ptr_nonnull(ok_log);
        ck_assert_ptr_nonnull(fail_log);
        ck_assert_msg(strstr(fail_log, "broken"), "%s", fail_log);
        ck_assert_ptr_nonnull(gmtime_r(&now, &tm));
        ck_assert_uint_gt(strftime(today, sizeof(today), "%Y-%m-%d", &tm), 0);

        ck_assert_int_eq(cli(&out, &err, "show_log", "t-ok", NULL), 0);
        ck_assert_str_eq(out, ok_log);
        out = mfree(out), err = mfree(err);
        ck_assert_int_eq(cli(&out, &err, "show_log", "execute_recipes", NULL), 0);
        ck_assert_str_eq(out, fail_log);
        out = mfree(out), err = mfree(err);
        ck_assert_int_eq(cli(&out, &err, "show_log", "execute_recipes", today, NULL), 0);
        ck_assert_str_eq(out, fail_log);
        out = mfree(out), err = mfree(err);
        ck_assert_int_eq(cli(&out, &err, "show_log", NULL), 0);
        ck_assert_str_eq(out, fail_log);
        out = mfree(out), err = mfree(err);
        ck_assert_int_eq(cli(&out, &err, "show_log", "--json", "t-ok", NULL), 0);
        doc = parse(out);
        ck_assert_str_eq(str(doc, "id"), "t-ok");
        ck_assert_str_eq(str(doc, "log_file"), ok_path);
        ck_assert_str_eq(str(doc, "log"), ok_log);

        out = mfree(out), err = mfree(err);
        ck_assert_int_eq(cli(&out, &err, "show_log", "configure", NULL), 1);
        ck_assert_msg(startswith(err, "strata-agent-cli: no configure command in the journal"),
                      "%s", err);
        out = mfree(out), err = mfree(err);
        ck_assert_int_eq(cli(&out, &err, "show_log", "execute_recipes", "2000-01-01", NULL), 1);
        ck_assert_msg(startswith(err, "strata-agent-cli: no execute_recipes command received on "
                                      "2000-01-01 in the journal"),
                      "%s", err);
}
END_TEST

START_TEST(get_json_shows_the_attributes) {
        _cleanup_free_ char *out = NULL, *err = NULL;
        _cleanup_json_ json_object *node = NULL, *newest = NULL;

        send_ok("t-ok", "{\"greeting\": \"world\", \"db_password\": \"hunter22\"}");
        send_fail("t-fail");
        ck_assert_int_eq(cli(&out, &err, "get_json", "t-ok", NULL), 0);
        node = parse(out);
        ck_assert_str_eq(str(node, "greeting"), "world");
        ck_assert_str_eq(str(node, "command.id"), "t-ok");
        ck_assert_str_eq(str(node, "instance.hostname"), "web1");
        /* Secrets are masked as in the logs. */
        ck_assert_str_eq(str(node, "db_password"), "********");
        ck_assert_ptr_null(strstr(out, "hunter22"));

        out = mfree(out), err = mfree(err);
        ck_assert_int_eq(cli(&out, &err, "get_json", NULL), 0);
        newest = parse(out);
        ck_assert_str_eq(str(newest, "command.id"), "t-fail");

        out = mfree(out), err = mfree(err);
        ck_assert_int_eq(cli(&out, &err, "get_json", "setup", NULL), 1);
        ck_assert_msg(startswith(err, "strata-agent-cli: no setup command with a node.json in "),
                      "%s", err);
}
END_TEST

START_TEST(run_command_runs_again_as_a_new_command) {
        _cleanup_free_ char *out = NULL, *err = NULL, *hello = path_in("hello.txt");
        _cleanup_free_ char *file = path_in("cmd.json"), *copy_path = NULL, *old_path = NULL;
        _cleanup_json_ json_object *rows = NULL, *copy = NULL, *old = NULL;
        const char *id;

        send_ok("t-ok", "{\"greeting\": \"world\"}");
        ck_assert_int_eq(unlink(hello), 0);
        ck_assert_int_eq(cli(&out, &err, "run_command", "t-ok", NULL), 0);
        ck_assert_msg(startswith(out, "t-ok-rerun-"), "%s", out);
        ck_assert_msg(strstr(out, ": successful (execute_recipes, "), "%s", out);
        /* It ran: the file is back. */
        ck_assert_int_eq(access(hello, F_OK), 0);

        out = mfree(out), err = mfree(err);
        ck_assert_int_eq(cli(&out, &err, "list_commands", "--json", NULL), 0);
        rows = parse(out);
        ck_assert_uint_eq(json_object_array_length(rows), 2);
        id = str(json_object_array_get_idx(rows, 1), "id");
        ck_assert_msg(startswith(id, "t-ok-rerun-") && fresh_id(id + strlen("t-ok-rerun-")), "%s",
                      id);
        ck_assert_str_eq(str(json_object_array_get_idx(rows, 1), "result"), "successful");
        copy_path = path_in("state/commands/%s/command.json", id);
        old_path = path_in("state/commands/t-ok/command.json");
        copy = read_json(copy_path);
        old = read_json(old_path);
        ck_assert_str_eq(json_object_to_json_string(get(copy, "command.args")),
                         json_object_to_json_string(get(old, "command.args")));
        ck_assert_str_eq(str(copy, "command.custom_json.greeting"), "world");

        /* A command file, without an id of its own. */
        test_write(file, "{\"type\": \"execute_recipes\", \"args\": {\"recipes\": [\"demo\"]}}\n");
        out = mfree(out), err = mfree(err);
        ck_assert_int_eq(cli(&out, &err, "run_command", file, NULL), 0);
        ck_assert_msg(fresh_id(strndupa(out, FRESH_ID_LEN)) && out[FRESH_ID_LEN] == ':', "%s", out);
        ck_assert_msg(strstr(out, ": successful (execute_recipes, "), "%s", out);

        /* A bad command file is bad input, named. */
        test_write(file, "{\"type\": \"reboot\"}\n");
        out = mfree(out), err = mfree(err);
        ck_assert_int_eq(cli(&out, &err, "run_command", file, NULL), 2);
        ck_assert_msg(strstr(err, "cmd.json: field 'type': 'reboot' is not a command"), "%s", err);
}
END_TEST

START_TEST(no_wait_returns_the_id_at_once) {
        _cleanup_free_ char *out = NULL, *err = NULL, *result_path = NULL;
        _cleanup_json_ json_object *result = NULL;

        ck_assert_int_eq(cli(&out, &err, "send_command", "--type", "execute_recipes", "--args",
                             "{\"recipes\": [\"demo\"]}", "--no-wait", NULL),
                         0);
        ck_assert_uint_eq(strlen(out), FRESH_ID_LEN + 1);
        ck_assert_int_eq(out[FRESH_ID_LEN], '\n');
        out[FRESH_ID_LEN] = 0;
        ck_assert_msg(fresh_id(out), "%s", out);
        result_path = path_in("spool/results/%s.json", out);
        wait_for_file(result_path);
        result = read_json(result_path);
        ck_assert_str_eq(str(result, "status"), "successful");
}
END_TEST

START_TEST(wait_gives_up_when_no_agent_answers) {
        _cleanup_free_ char *out = NULL, *err = NULL, *heartbeat = path_in("spool/heartbeat.json");
        _cleanup_free_ char *queued = path_in("spool/inbox/t-late.json");

        _cleanup_free_ char *expected = NULL;

        stop_agent();
        ck_assert_int_eq(unlink(heartbeat), 0);
        ck_assert_int_eq(cli(&out, &err, "send_command", "--type", "configure", "--id", "t-late",
                             "--wait-timeout", "1", NULL),
                         1);
        expected =
                strf("strata-agent-cli: warning: %s: no heartbeat yet: is strata-agent running?\n"
                     "strata-agent-cli: no result for command t-late after 1 s; it may still be "
                     "waiting or running (see list_commands)\n",
                     heartbeat);
        ck_assert_str_eq(err, expected);
        ck_assert_str_eq(out, "");
        /* The command waits in the inbox for the agent. */
        ck_assert_int_eq(access(queued, F_OK), 0);
}
END_TEST

START_TEST(instance_report_and_stack_state) {
        _cleanup_free_ char *out = NULL, *err = NULL, *stack_file = path_in("stack.yaml");
        _cleanup_json_ json_object *doc = NULL;

        /* Before any command: the stack file. */
        ck_assert_int_eq(cli(&out, &err, "instance_report", "--json", NULL), 0);
        doc = parse(out);
        ck_assert_str_eq(str(doc, "agent_version"), STRATA_VERSION);
        ck_assert_str_eq(str(doc, "instance.id"), INSTANCE);
        ck_assert_str_eq(str(doc, "instance.hostname"), "web1");
        ck_assert_str_eq(str(doc, "stack.id"), STACK);
        ck_assert_str_eq(str(doc, "stack.name"), "Demo");
        ck_assert_str_eq(str(doc, "layers.0"), "web");
        ck_assert_str_eq(str(doc, "source"), stack_file);

        send_ok("t-ok", "{}");
        out = mfree(out), err = mfree(err);
        ck_assert_int_eq(cli(&out, &err, "instance_report", NULL), 0);
        ck_assert_msg(strstr(out, "Instance         " INSTANCE "\nHostname         web1\n"
                                  "Status           online\nStack            " STACK " (Demo)\n"
                                  "Layers           web\n"),
                      "%s", out);
        ck_assert_msg(strstr(out, "Source           command t-ok\n"), "%s", out);

        json_object_put(doc);
        out = mfree(out), err = mfree(err);
        ck_assert_int_eq(cli(&out, &err, "stack_state", "--json", NULL), 0);
        doc = parse(out);
        ck_assert_str_eq(str(doc, "layers.0.shortname"), "web");
        ck_assert_str_eq(str(doc, "layers.0.recipes.configure.0"), "demo");
        ck_assert_str_eq(str(doc, "users.0.name"), "alice");
        out = mfree(out), err = mfree(err);
        ck_assert_int_eq(cli(&out, &err, "stack_state", NULL), 0);
        ck_assert_msg(startswith(out, "Stack " STACK " (Demo), from command t-ok\n"), "%s", out);
        ck_assert_msg(strstr(out, "    configure  demo\n"), "%s", out);
        ck_assert_msg(strstr(out, "\nUsers:\n  alice  sudo: yes  ssh: yes\n"), "%s", out);
}
END_TEST

/* Before any command: a heartbeat written while a command ran would say "running". */
START_TEST(agent_report_of_an_idle_agent) {
        _cleanup_free_ char *out = NULL, *err = NULL;
        _cleanup_json_ json_object *doc = NULL;

        ck_assert_int_eq(cli(&out, &err, "agent_report", "--json", NULL), 0);
        doc = parse(out);
        ck_assert_str_eq(str(doc, "status"), "idle");
        ck_assert(json_object_get_boolean(json_object_object_get(doc, "alive")));
        ck_assert_str_eq(str(doc, "agent_version"), STRATA_VERSION);
        ck_assert_str_eq(str(doc, "config_file"), config);
        ck_assert_str_eq(str(doc, "config.instance_id"), INSTANCE);
        ck_assert_ptr_null(json_object_object_get(doc, "running"));
        ck_assert_ptr_null(json_object_object_get(doc, "last_command"));
        ck_assert_int_eq(json_object_get_int(json_object_object_get(doc, "queued")), 0);
        ck_assert_int_eq(json_object_get_int(json_object_object_get(doc, "inbox")), 0);
        ck_assert_int_eq(json_object_get_int(json_object_object_get(doc, "outbox")), 0);
        ck_assert_str_eq(str(doc, "heartbeat.instance_id"), INSTANCE);
        out = mfree(out), err = mfree(err);
        ck_assert_int_eq(cli(&out, &err, "agent_report", NULL), 0);
        ck_assert_msg(strstr(out, "\nStatus             idle (heartbeat "), "%s", out);
        ck_assert_msg(strstr(out, "\nQueue              0 journalled, 0 in the inbox\n"), "%s",
                      out);

        /* A command nobody takes is counted in the inbox. */
        stop_agent();
        out = mfree(out), err = mfree(err);
        ck_assert_int_eq(cli(&out, &err, "send_command", "--type", "configure", "--no-wait", NULL),
                         0);
        json_object_put(doc);
        out = mfree(out), err = mfree(err);
        ck_assert_int_eq(cli(&out, &err, "agent_report", "--json", NULL), 0);
        doc = parse(out);
        ck_assert_int_eq(json_object_get_int(json_object_object_get(doc, "inbox")), 1);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("agent-cli");
        TCase *tc = tcase_create("cli");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, send_command_waits_and_prints_the_result);
        tcase_add_test(tc, send_command_json_output);
        tcase_add_test(tc, failing_recipe_exits_1);
        tcase_add_test(tc, bad_input_exits_2);
        tcase_add_test(tc, bad_config_exits_2);
        tcase_add_test(tc, list_commands_shows_each_command);
        tcase_add_test(tc, show_log_by_id_type_and_date);
        tcase_add_test(tc, get_json_shows_the_attributes);
        tcase_add_test(tc, run_command_runs_again_as_a_new_command);
        tcase_add_test(tc, no_wait_returns_the_id_at_once);
        tcase_add_test(tc, wait_gives_up_when_no_agent_answers);
        tcase_add_test(tc, instance_report_and_stack_state);
        tcase_add_test(tc, agent_report_of_an_idle_agent);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
