/* SPDX-License-Identifier: MIT */
#include "config.h"
#include "str-util.h"
#include "test-helpers.h"

static char *dir;
static char *path; /* <dir>/agent.yaml */

static void setup(void) {
        dir = test_tmpdir();
        path = strf("%s/agent.yaml", dir);
        ck_assert_ptr_nonnull(path);
}

static void teardown(void) {
        test_rmdir(dir);
        dir = mfree(dir);
        path = mfree(path);
}

static const char *plain(json_object *o) {
        return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE);
}

static AgentConfig *load(const char *text) {
        _cleanup_free_ char *error = NULL;
        AgentConfig *c = NULL;

        test_write(path, text);
        ck_assert_msg(agent_config_load(path, &c, &error) == 0, "%s", error);
        ck_assert_ptr_null(error);
        ck_assert_ptr_nonnull(c);
        return c;
}

/* tail is the error after the file name: ":LINE: key '...': ..." */
static void assert_fails(const char *text, int expected_r, const char *tail) {
        _cleanup_free_ char *error = NULL, *expected = strf("%s%s", path, tail);
        AgentConfig *c = NULL;
        int r;

        test_write(path, text);
        r = agent_config_load(path, &c, &error);
        ck_assert_msg(r == expected_r, "config:\n%s\nreturned %d, expected %d", text, r,
                      expected_r);
        ck_assert_ptr_null(c);
        ck_assert_msg(streq_ptr(error, expected), "config:\n%s\nexpected: %s\ngot:      %s", text,
                      expected, strempty(error));
}

static void assert_error(const char *text, const char *tail) {
        assert_fails(text, -EINVAL, tail);
}

static char *to_json(const AgentConfig *c) {
        _cleanup_json_ json_object *o = NULL;
        char *s;

        ck_assert_int_eq(agent_config_to_json(c, &o), 0);
        s = strdup(plain(o));
        ck_assert_ptr_nonnull(s);
        return s;
}

/* The machine id, or NULL when this machine has none (then instance_id must be set). */
static char *machine_id(void) {
        char *id = test_read("/etc/machine-id");

        if (!id)
                return NULL;
        id[strcspn(id, "\n")] = 0;
        if (strlen(id) != 32 || strspn(id, "0123456789abcdef") != 32)
                return mfree(id);
        return id;
}

#define DEFAULT_JSON_TAIL                                                                          \
        "\"stack_id\":\"default\","                                                                \
        "\"control_plane\":{\"type\":\"local\",\"spool\":\"/var/lib/strata/spool\"},"              \
        "\"cookbook_path\":[\"/etc/strata/cookbooks\"],"                                           \
        "\"state_dir\":\"/var/lib/strata\",\"cache_dir\":\"/var/cache/strata\","                   \
        "\"log_dir\":\"/var/log/strata\",\"run_as\":\"strata\",\"privileged_steps\":\"deny\","     \
        "\"heartbeat_interval\":\"60s\",\"health_timeout\":\"300s\","                              \
        "\"command_timeout\":\"3600s\",\"deploy_root\":\"/srv/www\",\"keep_releases\":5,"          \
        "\"command_log_retention\":{\"count\":100,\"days\":30},\"metrics_interval\":\"10s\"}"

START_TEST(test_defaults) {
        _cleanup_(agent_config_freep) AgentConfig *c = NULL;
        _cleanup_free_ char *id = machine_id(), *error = NULL, *json = NULL, *expected = NULL;

        if (!id) {
                ck_assert_int_lt(agent_config_default(&c, &error), 0);
                ck_assert_ptr_null(c);
                ck_assert_str_eq(strempty(error), "key 'instance_id' is not set and "
                                                  "/etc/machine-id holds no machine ID");
                return;
        }

        ck_assert_int_eq(agent_config_default(&c, &error), 0);
        ck_assert_ptr_null(error);
        ck_assert_str_eq(c->instance_id, id);
        ck_assert_str_eq(c->stack_id, "default");
        ck_assert_int_eq(c->control_plane.type, CONTROL_PLANE_LOCAL);
        ck_assert_str_eq(c->control_plane.spool, "/var/lib/strata/spool");
        ck_assert_ptr_null(c->control_plane.stack_file);
        ck_assert_uint_eq(strv_length(c->control_plane.endpoints), 0);
        ck_assert_str_eq(c->control_plane.prefix, "/strata/v1");
        ck_assert_ptr_null(c->control_plane.username);
        ck_assert_ptr_null(c->control_plane.password_file);
        ck_assert_ptr_null(c->control_plane.ca_file);
        ck_assert_ptr_null(c->control_plane.cert_file);
        ck_assert_ptr_null(c->control_plane.key_file);
        ck_assert_uint_eq(c->control_plane.poll_interval, 30 * USEC_PER_SEC);
        ck_assert_uint_eq(c->control_plane.backoff_max, 60 * USEC_PER_SEC);
        ck_assert_uint_eq(strv_length(c->cookbook_path), 1);
        ck_assert_str_eq(c->cookbook_path[0], "/etc/strata/cookbooks");
        ck_assert_str_eq(c->state_dir, "/var/lib/strata");
        ck_assert_str_eq(c->cache_dir, "/var/cache/strata");
        ck_assert_str_eq(c->log_dir, "/var/log/strata");
        ck_assert_str_eq(c->run_as, "strata");
        ck_assert(!c->privileged_steps);
        ck_assert_uint_eq(c->heartbeat_interval, 60 * USEC_PER_SEC);
        ck_assert_uint_eq(c->health_timeout, 300 * USEC_PER_SEC);
        ck_assert_uint_eq(c->command_timeout, 3600 * USEC_PER_SEC);
        ck_assert_str_eq(c->deploy_root, "/srv/www");
        ck_assert_uint_eq(c->keep_releases, 5);
        ck_assert_uint_eq(c->command_log_retention.count, 100);
        ck_assert_uint_eq(c->command_log_retention.days, 30);
        ck_assert_uint_eq(c->metrics_interval, 10 * USEC_PER_SEC);

        json = to_json(c);
        expected = strf("{\"instance_id\":\"%s\"," DEFAULT_JSON_TAIL, id);
        ck_assert_str_eq(json, expected);
}
END_TEST

START_TEST(test_shipped_config_is_default) {
        _cleanup_(agent_config_freep) AgentConfig *shipped = NULL, *defaults = NULL;
        _cleanup_free_ char *id = machine_id(), *file = NULL, *error = NULL, *a = NULL, *b = NULL;
        const char *src = getenv("STRATA_SOURCE_DIR");

        if (!id) /* both fail the same way, as test_defaults checks */
                return;

        ck_assert_ptr_nonnull(src);
        file = strf("%s/config/agent.yaml", src);
        ck_assert_msg(agent_config_load(file, &shipped, &error) == 0, "%s", error);
        ck_assert_int_eq(agent_config_default(&defaults, NULL), 0);

        a = to_json(shipped);
        b = to_json(defaults);
        ck_assert_str_eq(a, b);
}
END_TEST

START_TEST(test_empty_file) {
        _cleanup_(agent_config_freep) AgentConfig *c = NULL;
        _cleanup_free_ char *id = machine_id(), *json = NULL, *expected = NULL;

        if (!id) /* instance_id comes from the machine id, as test_defaults checks */
                return;
        c = load("# nothing set\n");
        json = to_json(c);
        expected = strf("{\"instance_id\":\"%s\"," DEFAULT_JSON_TAIL, id);
        ck_assert_str_eq(json, expected);
}
END_TEST

/* Every key away from its default, read back field by field and through to_json. */
START_TEST(test_every_key_local) {
        _cleanup_(agent_config_freep) AgentConfig *c = NULL, *again = NULL;
        _cleanup_free_ char *json = NULL, *json_again = NULL, *error = NULL;

        c = load("instance_id: i-0abc.123_x\n"
                 "stack_id: prod\n"
                 "control_plane:\n"
                 "  type: local\n"
                 "  spool: /srv/spool\n"
                 "  stack_file: /etc/strata/stack.yaml\n"
                 "cookbook_path: [/a, /b c]\n"
                 "state_dir: /s\n"
                 "cache_dir: /c\n"
                 "log_dir: /l\n"
                 "run_as: www-data\n"
                 "privileged_steps: allow\n"
                 "heartbeat_interval: 500ms\n"
                 "health_timeout: 2\n"
                 "command_timeout: 2h\n"
                 "deploy_root: /var/www\n"
                 "keep_releases: 100\n"
                 "command_log_retention: {count: 1, days: 3650}\n"
                 "metrics_interval: 5m\n");

        ck_assert_str_eq(c->instance_id, "i-0abc.123_x");
        ck_assert_str_eq(c->stack_id, "prod");
        ck_assert_int_eq(c->control_plane.type, CONTROL_PLANE_LOCAL);
        ck_assert_str_eq(c->control_plane.spool, "/srv/spool");
        ck_assert_str_eq(c->control_plane.stack_file, "/etc/strata/stack.yaml");
        ck_assert_uint_eq(strv_length(c->cookbook_path), 2);
        ck_assert_str_eq(c->cookbook_path[0], "/a");
        ck_assert_str_eq(c->cookbook_path[1], "/b c");
        ck_assert_str_eq(c->state_dir, "/s");
        ck_assert_str_eq(c->cache_dir, "/c");
        ck_assert_str_eq(c->log_dir, "/l");
        ck_assert_str_eq(c->run_as, "www-data");
        ck_assert(c->privileged_steps);
        ck_assert_uint_eq(c->heartbeat_interval, 500 * USEC_PER_MSEC);
        ck_assert_uint_eq(c->health_timeout, 2 * USEC_PER_SEC);
        ck_assert_uint_eq(c->command_timeout, 7200 * USEC_PER_SEC);
        ck_assert_str_eq(c->deploy_root, "/var/www");
        ck_assert_uint_eq(c->keep_releases, 100);
        ck_assert_uint_eq(c->command_log_retention.count, 1);
        ck_assert_uint_eq(c->command_log_retention.days, 3650);
        ck_assert_uint_eq(c->metrics_interval, 300 * USEC_PER_SEC);

        json = to_json(c);
        ck_assert_str_eq(json, "{\"instance_id\":\"i-0abc.123_x\",\"stack_id\":\"prod\","
                               "\"control_plane\":{\"type\":\"local\",\"spool\":\"/srv/spool\","
                               "\"stack_file\":\"/etc/strata/stack.yaml\"},"
                               "\"cookbook_path\":[\"/a\",\"/b c\"],\"state_dir\":\"/s\","
                               "\"cache_dir\":\"/c\",\"log_dir\":\"/l\",\"run_as\":\"www-data\","
                               "\"privileged_steps\":\"allow\",\"heartbeat_interval\":\"500ms\","
                               "\"health_timeout\":\"2s\",\"command_timeout\":\"7200s\","
                               "\"deploy_root\":\"/var/www\",\"keep_releases\":100,"
                               "\"command_log_retention\":{\"count\":1,\"days\":3650},"
                               "\"metrics_interval\":\"300s\"}");

        /* JSON is YAML: what to_json shows loads back as the same config. */
        test_write(path, json);
        ck_assert_msg(agent_config_load(path, &again, &error) == 0, "%s", error);
        json_again = to_json(again);
        ck_assert_str_eq(json_again, json);
}
END_TEST

START_TEST(test_every_key_etcd) {
        _cleanup_(agent_config_freep) AgentConfig *c = NULL, *again = NULL;
        _cleanup_free_ char *json = NULL, *json_again = NULL, *error = NULL;

        c = load("instance_id: web1\n"
                 "control_plane:\n"
                 "  type: etcd\n"
                 "  endpoints:\n"
                 "    - https://etcd-1:2379\n"
                 "    - http://10.0.0.2:2379/\n"
                 "  prefix: /fleet/strata\n"
                 "  username: web1\n"
                 "  password_file: /etc/strata/pw\n"
                 "  ca_file: /etc/strata/ca.pem\n"
                 "  cert_file: /etc/strata/c.pem\n"
                 "  key_file: /etc/strata/c.key\n"
                 "  poll_interval: 1m\n"
                 "  backoff_max: 90\n");

        ck_assert_int_eq(c->control_plane.type, CONTROL_PLANE_ETCD);
        ck_assert_uint_eq(strv_length(c->control_plane.endpoints), 2);
        ck_assert_str_eq(c->control_plane.endpoints[0], "https://etcd-1:2379");
        ck_assert_str_eq(c->control_plane.endpoints[1], "http://10.0.0.2:2379/");
        ck_assert_str_eq(c->control_plane.prefix, "/fleet/strata");
        ck_assert_str_eq(c->control_plane.username, "web1");
        ck_assert_str_eq(c->control_plane.password_file, "/etc/strata/pw");
        ck_assert_str_eq(c->control_plane.ca_file, "/etc/strata/ca.pem");
        ck_assert_str_eq(c->control_plane.cert_file, "/etc/strata/c.pem");
        ck_assert_str_eq(c->control_plane.key_file, "/etc/strata/c.key");
        ck_assert_uint_eq(c->control_plane.poll_interval, 60 * USEC_PER_SEC);
        ck_assert_uint_eq(c->control_plane.backoff_max, 90 * USEC_PER_SEC);
        /* The local backend's default stays, but is not shown for etcd. */
        ck_assert_str_eq(c->control_plane.spool, "/var/lib/strata/spool");

        json = to_json(c);
        ck_assert_str_eq(json,
                         "{\"instance_id\":\"web1\",\"stack_id\":\"default\","
                         "\"control_plane\":{\"type\":\"etcd\","
                         "\"endpoints\":[\"https://etcd-1:2379\",\"http://10.0.0.2:2379/\"],"
                         "\"prefix\":\"/fleet/strata\",\"username\":\"web1\","
                         "\"password_file\":\"/etc/strata/pw\",\"ca_file\":\"/etc/strata/ca.pem\","
                         "\"cert_file\":\"/etc/strata/c.pem\",\"key_file\":\"/etc/strata/c.key\","
                         "\"poll_interval\":\"60s\",\"backoff_max\":\"90s\"},"
                         "\"cookbook_path\":[\"/etc/strata/cookbooks\"],"
                         "\"state_dir\":\"/var/lib/strata\",\"cache_dir\":\"/var/cache/strata\","
                         "\"log_dir\":\"/var/log/strata\",\"run_as\":\"strata\","
                         "\"privileged_steps\":\"deny\",\"heartbeat_interval\":\"60s\","
                         "\"health_timeout\":\"300s\",\"command_timeout\":\"3600s\","
                         "\"deploy_root\":\"/srv/www\",\"keep_releases\":5,"
                         "\"command_log_retention\":{\"count\":100,\"days\":30},"
                         "\"metrics_interval\":\"10s\"}");

        test_write(path, json);
        ck_assert_msg(agent_config_load(path, &again, &error) == 0, "%s", error);
        json_again = to_json(again);
        ck_assert_str_eq(json_again, json);
}
END_TEST

static usec_t heartbeat_of(const char *value) {
        _cleanup_(agent_config_freep) AgentConfig *c = NULL;
        _cleanup_free_ char *text = strf("instance_id: x\nhealth_timeout: 8760h\n"
                                         "heartbeat_interval: %s\n",
                                         value);

        c = load(text);
        return c->heartbeat_interval;
}

START_TEST(test_durations) {
        ck_assert_uint_eq(heartbeat_of("500ms"), 500 * USEC_PER_MSEC);
        ck_assert_uint_eq(heartbeat_of("1ms"), USEC_PER_MSEC);
        ck_assert_uint_eq(heartbeat_of("60s"), 60 * USEC_PER_SEC);
        ck_assert_uint_eq(heartbeat_of("5m"), 300 * USEC_PER_SEC);
        ck_assert_uint_eq(heartbeat_of("1h"), 3600 * USEC_PER_SEC);
        ck_assert_uint_eq(heartbeat_of("42"), 42 * USEC_PER_SEC);
        ck_assert_uint_eq(heartbeat_of("\"42\""), 42 * USEC_PER_SEC);
        ck_assert_uint_eq(heartbeat_of("'90s'"), 90 * USEC_PER_SEC);
        ck_assert_uint_eq(heartbeat_of("007s"), 7 * USEC_PER_SEC);
        ck_assert_uint_eq(heartbeat_of("8759h"), 8759 * 3600 * USEC_PER_SEC);
}
END_TEST

START_TEST(test_bad_durations) {
        static const char *const bad[] = {
                "5 minutes",
                "-1s",
                "\"\"",
                "0",
                "0s",
                "0ms",
                "-5",
                "1.5s",
                "1.5",
                "8761h",
                "31536001",
                "99999999999999999999s",
                "99999999999999999999",
                "5M",
                "1d",
                "s",
                "\" 5s\"",
                "\"5s \"",
                "true",
                "null",
                "",
                "5sec",
                "1h30m",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *text = strf("# a comment\nmetrics_interval: %s\n", bad[i]);

                assert_error(text, ":2: key 'metrics_interval': expected a duration such as "
                                   "500ms, 60s, 5m or 1h (a bare number means seconds), from 1ms "
                                   "to 8760h");
        }
        /* A list has a line of its own. */
        assert_error("stack_id: a\n\nmetrics_interval:\n  - 5s\n",
                     ":4: key 'metrics_interval': expected a duration such as 500ms, 60s, 5m or "
                     "1h (a bare number means seconds), from 1ms to 8760h");
}
END_TEST

#define ID_RULE                                                                                    \
        "expected an identifier of 1 to 64 letters, digits, '.', '_' or '-', not starting with "   \
        "'.' or '-'"
#define USER_RULE                                                                                  \
        "expected a user name of 1 to 32 letters, digits, '.', '_' or '-', not starting with '-'"
#define DURATION                                                                                   \
        "expected a duration such as 500ms, 60s, 5m or 1h (a bare number means seconds), from "    \
        "1ms to 8760h"
#define PREFIX_RULE                                                                                \
        "expected a key prefix starting with '/', without spaces, a trailing '/' or '//'"

static const struct {
        const char *text;
        const char *error;
} bad_values[] = {
        {"instance_id: -x", ":1: key 'instance_id': " ID_RULE},
        {"instance_id: .x", ":1: key 'instance_id': " ID_RULE},
        {"instance_id: a b", ":1: key 'instance_id': " ID_RULE},
        {"instance_id: a/b", ":1: key 'instance_id': " ID_RULE},
        {"instance_id: 12345", ":1: key 'instance_id': " ID_RULE},
        {"instance_id: \"a\\0b\"", ":1: key 'instance_id': " ID_RULE},
        {"instance_id: x12345678901234567890123456789012345678901234567890123456789012345",
         ":1: key 'instance_id': " ID_RULE},
        {"stack_id: ''", ":1: key 'stack_id': " ID_RULE},
        {"stack_id: [a]", ":1: key 'stack_id': " ID_RULE},
        {"stack_id: a\ncontrol_plane: local", ":1: key 'control_plane': expected a mapping"},
        {"stack_id: a\ncontrol_plane: [local]", ":2: key 'control_plane': expected a mapping"},
        {"control_plane:\n  type: consul",
         ":2: key 'control_plane.type': expected 'local' or 'etcd'"},
        {"control_plane:\n  type: ETCD",
         ":2: key 'control_plane.type': expected 'local' or 'etcd'"},
        {"control_plane:\n  spool: spool",
         ":2: key 'control_plane.spool': expected an absolute path"},
        {"control_plane:\n  spool: ''", ":2: key 'control_plane.spool': expected an absolute path"},
        {"control_plane:\n  stack_file: ./stack.yaml",
         ":2: key 'control_plane.stack_file': expected an absolute path"},
        {"control_plane:\n  type: etcd\n  endpoints: https://etcd:2379",
         ":2: key 'control_plane.endpoints': expected a list of items, each an http:// or "
         "https:// URL"},
        {"control_plane:\n  type: etcd\n  endpoints: [ftp://etcd]",
         ":3: key 'control_plane.endpoints': item 1: expected an http:// or https:// URL"},
        {"control_plane:\n  type: etcd\n  endpoints:\n    - https://a\n    - https://",
         ":4: key 'control_plane.endpoints': item 2: expected an http:// or https:// URL"},
        {"control_plane:\n  type: etcd\n  endpoints: [https:///x]",
         ":3: key 'control_plane.endpoints': item 1: expected an http:// or https:// URL"},
        {"control_plane:\n  type: etcd\n  endpoints: [\"https://a b\"]",
         ":3: key 'control_plane.endpoints': item 1: expected an http:// or https:// URL"},
        {"control_plane:\n  type: etcd\n  endpoints: [2379]",
         ":3: key 'control_plane.endpoints': item 1: expected an http:// or https:// URL"},
        {"control_plane:\n  type: etcd\n  prefix: strata",
         ":2: key 'control_plane.prefix': " PREFIX_RULE},
        {"control_plane:\n  type: etcd\n  prefix: /strata/",
         ":2: key 'control_plane.prefix': " PREFIX_RULE},
        {"control_plane:\n  type: etcd\n  prefix: /a//b",
         ":2: key 'control_plane.prefix': " PREFIX_RULE},
        {"control_plane:\n  type: etcd\n  username: ''",
         ":2: key 'control_plane.username': expected a non-empty string without control "
         "characters"},
        {"control_plane:\n  type: etcd\n  username: \"a\\tb\"",
         ":2: key 'control_plane.username': expected a non-empty string without control "
         "characters"},
        {"control_plane:\n  type: etcd\n  password_file: pw",
         ":2: key 'control_plane.password_file': expected an absolute path"},
        {"control_plane:\n  type: etcd\n  ca_file: ca.pem",
         ":2: key 'control_plane.ca_file': expected an absolute path"},
        {"control_plane:\n  type: etcd\n  cert_file: c.pem",
         ":2: key 'control_plane.cert_file': expected an absolute path"},
        {"control_plane:\n  type: etcd\n  key_file: c.key",
         ":2: key 'control_plane.key_file': expected an absolute path"},
        {"control_plane:\n  type: etcd\n  poll_interval: 5 minutes",
         ":2: key 'control_plane.poll_interval': " DURATION},
        {"control_plane:\n  type: etcd\n  backoff_max: 0",
         ":2: key 'control_plane.backoff_max': " DURATION},
        {"cookbook_path: /etc/strata/cookbooks",
         ":1: key 'cookbook_path': expected a list of items, each an absolute path"},
        {"cookbook_path: [/a, cookbooks]",
         ":1: key 'cookbook_path': item 2: expected an absolute path"},
        {"state_dir: var/lib/strata", ":1: key 'state_dir': expected an absolute path"},
        {"cache_dir: ~", ":1: key 'cache_dir': expected an absolute path"},
        {"log_dir: \"/var/log\\nx\"", ":1: key 'log_dir': expected an absolute path"},
        {"run_as: -strata", ":1: key 'run_as': " USER_RULE},
        {"run_as: ''", ":1: key 'run_as': " USER_RULE},
        {"run_as: a b", ":1: key 'run_as': " USER_RULE},
        {"run_as: abcdefghijklmnopqrstuvwxyz1234567", ":1: key 'run_as': " USER_RULE},
        {"privileged_steps: true", ":1: key 'privileged_steps': expected 'deny' or 'allow'"},
        {"privileged_steps: yes", ":1: key 'privileged_steps': expected 'deny' or 'allow'"},
        {"heartbeat_interval: 5 minutes", ":1: key 'heartbeat_interval': " DURATION},
        {"health_timeout: -1s", ":1: key 'health_timeout': " DURATION},
        {"command_timeout: ''", ":1: key 'command_timeout': " DURATION},
        {"deploy_root: srv/www", ":1: key 'deploy_root': expected an absolute path"},
        {"keep_releases: 0", ":1: key 'keep_releases': expected an integer from 1 to 100"},
        {"keep_releases: 101", ":1: key 'keep_releases': expected an integer from 1 to 100"},
        {"keep_releases: '5'", ":1: key 'keep_releases': expected an integer from 1 to 100"},
        {"keep_releases: 5.0", ":1: key 'keep_releases': expected an integer from 1 to 100"},
        {"command_log_retention: 100", ":1: key 'command_log_retention': expected a mapping"},
        {"command_log_retention:\n  days: 7\n  count: 0",
         ":2: key 'command_log_retention.count': expected an integer from 1 to 100000"},
        {"command_log_retention: {count: 100001}",
         ":1: key 'command_log_retention.count': expected an integer from 1 to 100000"},
        {"command_log_retention: {days: 3651}",
         ":1: key 'command_log_retention.days': expected an integer from 1 to 3650"},
        {"metrics_interval: 1.5s", ":1: key 'metrics_interval': " DURATION},
};

START_TEST(test_bad_value) {
        assert_error(bad_values[_i].text, bad_values[_i].error);
}
END_TEST

START_TEST(test_unknown_keys) {
        assert_error("stack_id: a\ncolour: red\n", ":1: key 'colour': unknown key");
        assert_error("# c\n\nstack_id: a\nStack_id: b\n", ":3: key 'Stack_id': unknown key");
        assert_error("control_plane:\n  type: local\n  spol: /x\n",
                     ":2: key 'control_plane.spol': unknown key");
        assert_error("command_log_retention:\n  count: 1\n  size: 5\n",
                     ":2: key 'command_log_retention.size': unknown key");
        /* A value that is a mapping or a list gives its own line. */
        assert_error("stack_id: a\nextra:\n\n  x: 1\n", ":4: key 'extra': unknown key");
        /* Keys of other sections are not valid here. */
        assert_error("type: etcd\n", ":1: key 'type': unknown key");
        assert_error("control_plane:\n  count: 1\n", ":2: key 'control_plane.count': unknown key");
}
END_TEST

START_TEST(test_health_timeout) {
        assert_error("heartbeat_interval: 300s\n",
                     ":1: key 'health_timeout': expected more than heartbeat_interval (300s), got "
                     "300s");
        assert_error("stack_id: a\nhealth_timeout: 30s\n",
                     ":1: key 'health_timeout': expected more than heartbeat_interval (60s), got "
                     "30s");
        assert_error("heartbeat_interval: 1500ms\nhealth_timeout: 1s\n",
                     ":1: key 'health_timeout': expected more than heartbeat_interval (1500ms), "
                     "got 1s");

        _cleanup_(agent_config_freep) AgentConfig *c = load("instance_id: a\nheartbeat_interval: "
                                                            "299s\n");
        ck_assert_uint_eq(c->heartbeat_interval, 299 * USEC_PER_SEC);
}
END_TEST

START_TEST(test_control_plane_rules) {
        assert_error("control_plane:\n  type: etcd\n",
                     ":2: key 'control_plane.endpoints': expected at least one URL with "
                     "control_plane.type etcd");
        assert_error("control_plane:\n  type: etcd\n  endpoints: []\n",
                     ":2: key 'control_plane.endpoints': expected at least one URL with "
                     "control_plane.type etcd");
        /* The other backend's keys, in either order with type. */
        assert_error("control_plane:\n  spool: /x\n  type: etcd\n  endpoints: [http://e]\n",
                     ":2: key 'control_plane.spool': only for control_plane.type local");
        assert_error("control_plane:\n  endpoints: [http://e]\n",
                     ":2: key 'control_plane.endpoints': only for control_plane.type etcd");
        assert_error("control_plane:\n  type: local\n  poll_interval: 5s\n",
                     ":2: key 'control_plane.poll_interval': only for control_plane.type etcd");
        assert_error("control_plane:\n  type: etcd\n  endpoints: [http://e]\n"
                     "  stack_file: /s.yaml\n",
                     ":2: key 'control_plane.stack_file': only for control_plane.type local");
        /* Credentials come in pairs. */
        assert_error("control_plane:\n  type: etcd\n  endpoints: [http://e]\n  username: u\n",
                     ":2: key 'control_plane.password_file': expected together with "
                     "control_plane.username");
        assert_error("control_plane:\n  type: etcd\n  endpoints: [http://e]\n"
                     "  password_file: /p\n",
                     ":2: key 'control_plane.username': expected together with "
                     "control_plane.password_file");
        assert_error("control_plane:\n  type: etcd\n  endpoints: [http://e]\n  cert_file: /c\n",
                     ":2: key 'control_plane.key_file': expected together with "
                     "control_plane.cert_file");
        assert_error("control_plane:\n  type: etcd\n  endpoints: [http://e]\n  key_file: /k\n",
                     ":2: key 'control_plane.cert_file': expected together with "
                     "control_plane.key_file");
}
END_TEST

START_TEST(test_run_as_root) {
        _cleanup_(agent_config_freep) AgentConfig *c = NULL;

        assert_error("run_as: root\n",
                     ":1: key 'run_as': expected an unprivileged user, as privileged_steps is "
                     "deny");
        assert_error("run_as: '0'\nprivileged_steps: deny\n",
                     ":1: key 'run_as': expected an unprivileged user, as privileged_steps is "
                     "deny");
        c = load("instance_id: a\nrun_as: root\nprivileged_steps: allow\n");
        ck_assert_str_eq(c->run_as, "root");
        ck_assert(c->privileged_steps);
}
END_TEST

START_TEST(test_bad_files) {
        _cleanup_free_ char *error = NULL, *expected = NULL, *missing = NULL;
        AgentConfig *c = NULL;

        missing = strf("%s/missing.yaml", dir);
        expected = strf("%s: cannot read: No such file or directory", missing);
        ck_assert_int_eq(agent_config_load(missing, &c, &error), -ENOENT);
        ck_assert_ptr_null(c);
        ck_assert_str_eq(strempty(error), expected);

        assert_error("# c\n- a\n- b\n", ":2: expected a mapping of keys");
        assert_error("just text\n", ": expected a mapping of keys");
        assert_fails("stack_id: a\nstack_id: b\n", -EEXIST, ":2:1: duplicate key \"stack_id\"");
        assert_error("stack_id: [a\n",
                     ":2:1: did not find expected ',' or ']' while parsing a flow sequence "
                     "(started at line 1, column 11)");
}
END_TEST

/* The error is written only on failure, and a failure leaves *ret alone. */
START_TEST(test_no_error_on_success) {
        _cleanup_(agent_config_freep) AgentConfig *c = NULL;
        char *error = NULL;

        test_write(path, "instance_id: a\n");
        ck_assert_int_eq(agent_config_load(path, &c, &error), 0);
        ck_assert_ptr_null(error);
        ck_assert_str_eq(c->instance_id, "a");

        /* Without an error pointer the failure still comes back. */
        test_write(path, "keep_releases: 0\n");
        ck_assert_int_eq(agent_config_load(path, &c, NULL), -EINVAL);
        ck_assert_str_eq(c->instance_id, "a");
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("config");
        TCase *tc = tcase_create("core");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_defaults);
        tcase_add_test(tc, test_shipped_config_is_default);
        tcase_add_test(tc, test_empty_file);
        tcase_add_test(tc, test_every_key_local);
        tcase_add_test(tc, test_every_key_etcd);
        tcase_add_test(tc, test_durations);
        tcase_add_test(tc, test_bad_durations);
        tcase_add_loop_test(tc, test_bad_value, 0, ELEMENTSOF(bad_values));
        tcase_add_test(tc, test_unknown_keys);
        tcase_add_test(tc, test_health_timeout);
        tcase_add_test(tc, test_control_plane_rules);
        tcase_add_test(tc, test_run_as_root);
        tcase_add_test(tc, test_bad_files);
        tcase_add_test(tc, test_no_error_on_success);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
