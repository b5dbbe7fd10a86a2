/* SPDX-License-Identifier: MIT */
/* The etcd control plane in this process, on its own event loop, against a real etcd: what it
 * hands to the agent (commands, rejections, stack descriptions, stored results) and what it
 * leaves in etcd. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "command.h"
#include "config.h"
#include "cp-etcd.h"
#include "etcd-gateway.h"
#include "fs-util.h"
#include "json-util.h"
#include "server-etcd.h"
#include "str-util.h"
#include "test-helpers.h"
#include "time-util.h"

#define P "/strata/v1"

typedef struct Sink {
        char **received; /* command ids */
        char **rejected; /* "id|reason" */
        char **stored;   /* result ids */
        json_object *stack;
        char *stack_error;
        bool stack_done;
        bool ack; /* ack every command received, as the agent does */
        unsigned state_changes;
        ControlPlane *cp;
} Sink;

static TestEtcd *etcd;
static char *dir;
static sd_event *event;
static Sink sink;
static ControlPlane *cp;

static void on_received(json_object *command, void *userdata) {
        Sink *s = userdata;

        ck_assert_int_eq(strv_extend(&s->received, command_id(command)), 0);
        if (s->ack)
                ck_assert_int_eq(s->cp->ops->ack(s->cp, command_id(command), NULL), 0);
}

static void on_rejected(const char *id, const char *reason, void *userdata) {
        Sink *s = userdata;

        ck_assert_int_eq(strv_push(&s->rejected, strf("%s|%s", id, reason)), 0);
}

static void on_result_done(const char *id, int r, const char *error, void *userdata) {
        Sink *s = userdata;

        ck_assert_msg(r >= 0, "result %s: %s", id, strempty(error));
        ck_assert_int_eq(strv_extend(&s->stored, id), 0);
}

static void on_stack_ready(json_object *stack, const char *error, void *userdata) {
        Sink *s = userdata;

        s->stack = json_object_get(stack);
        s->stack_error = error ? strdup(error) : NULL;
        s->stack_done = true;
}

static void on_state_changed(void *userdata) {
        Sink *s = userdata;

        s->state_changes++;
}

/* POSTs a built request (taken), asserting success. */
static void post_ok(const char *path, int r, json_object *req) {
        _cleanup_free_ char *body = NULL, *error = NULL;
        _cleanup_json_ json_object *reply = NULL;
        long status;

        ck_assert_int_eq(r, 0);
        status = test_etcd_post(etcd, path,
                                json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN), NULL,
                                &body);
        json_object_put(req);
        ck_assert_msg(etcd_parse_reply(status, body, strlen(body), &reply, &error) >= 0,
                      "POST %s: %s", path, strempty(error));
}

static void put(const char *k, const char *v) {
        json_object *req = NULL;
        int r = etcd_request_put(k, v, strlen(v), 0, &req);

        post_ok(ETCD_PATH_PUT, r, req);
}

static void del(const char *k) {
        json_object *req = NULL;
        int r = etcd_request_delete_range(k, false, &req);

        post_ok(ETCD_PATH_DELETE_RANGE, r, req);
}

/* The value of k and its length; NULL when absent. */
static char *get(const char *k, size_t *ret_len) {
        _cleanup_free_ char *body = NULL, *error = NULL;
        _cleanup_json_ json_object *req = NULL, *reply = NULL;
        _cleanup_(etcd_range_freep) EtcdRange *range = NULL;
        long status;
        char *v;

        ck_assert_int_eq(etcd_request_range(k, 0, 0, 0, &req), 0);
        status = test_etcd_post(etcd, ETCD_PATH_RANGE,
                                json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN), NULL,
                                &body);
        ck_assert_int_eq(etcd_parse_reply(status, body, strlen(body), &reply, &error), 0);
        ck_assert_int_eq(etcd_parse_range(reply, &range, &error), 0);
        if (range->n_kvs == 0)
                return NULL;
        v = malloc(range->kvs[0].value_len + 1);
        ck_assert_ptr_nonnull(v);
        memcpy(v, range->kvs[0].value, range->kvs[0].value_len + 1);
        if (ret_len)
                *ret_len = range->kvs[0].value_len;
        return v;
}

/* A new backend in cp for endpoint, with more control_plane keys (indented) when given. */
static void open_cp(const char *endpoint, const char *extra) {
        _cleanup_free_ char *config = NULL, *text = NULL, *error = NULL;
        _cleanup_(agent_config_freep) AgentConfig *c = NULL;
        const ControlPlaneSink s = {
                .command_received = on_received,
                .command_rejected = on_rejected,
                .result_done = on_result_done,
                .stack_ready = on_stack_ready,
                .state_changed = on_state_changed,
                .userdata = &sink,
        };

        config = strf("%s/agent.yaml", dir);
        text = strf("instance_id: i-1\n"
                    "stack_id: s1\n"
                    "control_plane:\n"
                    "  type: etcd\n"
                    "  endpoints: [%s]\n"
                    "  poll_interval: 1s\n"
                    "%s"
                    "state_dir: %s/state\n"
                    "log_dir: %s/log\n",
                    endpoint, strempty(extra), dir, dir);
        ck_assert_ptr_nonnull(text);
        test_write(config, text);
        ck_assert_msg(agent_config_load(config, &c, &error) >= 0, "%s", strempty(error));
        ck_assert_int_ge(mkdir_parents(c->state_dir, 0755), 0);
        cp = control_plane_free(cp);
        ck_assert_msg(cp_etcd_new(event, c, &s, &cp, &error) >= 0, "%s", strempty(error));
        sink.cp = cp;
}

static void setup(void) {
        etcd = test_etcd_start();
        dir = test_tmpdir();
        ck_assert_int_ge(sd_event_new(&event), 0);
        sink = (Sink){};
        open_cp(etcd->endpoint, NULL);
}

static void start(void) {
        _cleanup_free_ char *error = NULL;

        ck_assert_msg(cp->ops->start(cp, &error) == 0, "%s", strempty(error));
        ck_assert_str_eq(cp->ops->name, "etcd");
}

static void teardown(void) {
        cp = control_plane_free(cp);
        event = sd_event_unref(event);
        strv_free(sink.received);
        strv_free(sink.rejected);
        strv_free(sink.stored);
        json_object_put(sink.stack);
        free(sink.stack_error);
        sink = (Sink){};
        test_etcd_free(etcd);
        etcd = NULL;
        test_rmdir(dir);
        dir = mfree(dir);
}

/* Runs the loop until cond() holds (asserted within 10 s), then a little longer for anything
 * that should not come. */
static void run_until(bool (*cond)(void), usec_t settle) {
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + 10 * USEC_PER_SEC, end;

        while (!cond()) {
                ck_assert_msg(now_usec(CLOCK_MONOTONIC) < deadline, "timed out");
                ck_assert_int_ge(sd_event_run(event, 50 * USEC_PER_MSEC), 0);
        }
        end = now_usec(CLOCK_MONOTONIC) + settle;
        while (now_usec(CLOCK_MONOTONIC) < end)
                ck_assert_int_ge(sd_event_run(event, 50 * USEC_PER_MSEC), 0);
}

static bool stack_done(void) {
        return sink.stack_done;
}

static bool one_received_one_rejected(void) {
        return strv_length(sink.received) >= 1 && strv_length(sink.rejected) >= 2;
}

static bool one_stored(void) {
        return strv_length(sink.stored) >= 1;
}

static bool two_received(void) {
        return strv_length(sink.received) >= 2;
}

static bool own_mark_put(void) {
        _cleanup_free_ char *mark = get(P "/stacks/s1/online/i-1", NULL);

        return mark;
}

/* Starts the backend and beats until its online mark is in the stack. */
static void start_online(void) {
        _cleanup_json_ json_object *record = json_object_new_object();
        _cleanup_free_ char *error = NULL, *mark = NULL;

        start();
        ck_assert_int_ge(cp->ops->heartbeat(cp, record, &error), 0);
        run_until(own_mark_put, 0);
        mark = get(P "/stacks/s1/online/i-1", NULL);
        ck_assert_ptr_nonnull(strstr(mark, "\"instance_id\":\"i-1\",\"since\":\""));
}

/* The stack description is read from the stack's keys, names taken from the keys, and
 * normalised as a local stack file is. An instance defined online without an online mark is
 * connection_lost. */
START_TEST(test_stack) {
        json_object *layers, *apps, *users, *instances, *self;
        _cleanup_free_ char *kept = NULL, *path = NULL;

        put(P "/stacks/s1", "{\"name\": \"shop\", \"custom_json\": {\"a\": 1}}");
        put(P "/stacks/s1/layers/web", "{\"recipes\": {\"configure\": [\"t::c\"]}}");
        put(P "/stacks/s1/apps/site", "{\"type\": \"static\"}");
        put(P "/stacks/s1/users/alice", "{\"sudo\": true}");
        put(P "/stacks/s1/instances/i-1", "{\"layer_ids\": [\"web\"]}");
        /* i-2 beats, i-3 stopped beating, i-4 was stopped on purpose. */
        put(P "/stacks/s1/instances/i-2", "{}");
        put(P "/stacks/s1/instances/i-3", "{}");
        put(P "/stacks/s1/instances/i-4", "{\"status\": \"stopped\"}");
        put(P "/stacks/s1/online/i-2", "{}");
        put(P "/stacks/s1/deployments/d-1", "not a stack document");
        /* Another stack whose name starts the same is not ours. */
        put(P "/stacks/s10/layers/db", "{}");
        put(P "/stacks/s10/online/i-3", "{}");
        start_online();
        ck_assert_int_eq(cp->ops->stack(cp, &sink.stack, NULL), 0);
        run_until(stack_done, 0);
        ck_assert_msg(sink.stack, "%s", strempty(sink.stack_error));

        ck_assert_str_eq(json_get_string(json_object_object_get(sink.stack, "stack"), "name"),
                         "shop");
        layers = json_object_object_get(sink.stack, "layers");
        ck_assert_uint_eq(json_object_array_length(layers), 1);
        ck_assert_str_eq(json_get_string(json_object_array_get_idx(layers, 0), "id"), "web");
        ck_assert_str_eq(json_get_string(json_object_array_get_idx(layers, 0), "shortname"), "web");
        apps = json_object_object_get(sink.stack, "apps");
        ck_assert_uint_eq(json_object_array_length(apps), 1);
        ck_assert_str_eq(json_get_string(json_object_array_get_idx(apps, 0), "shortname"), "site");
        users = json_object_object_get(sink.stack, "users");
        ck_assert_uint_eq(json_object_array_length(users), 1);
        ck_assert_str_eq(json_get_string(json_object_array_get_idx(users, 0), "name"), "alice");
        instances = json_object_object_get(sink.stack, "instances");
        ck_assert_uint_eq(json_object_array_length(instances), 4);
        self = json_object_array_get_idx(instances, 0);
        ck_assert_str_eq(json_get_string(self, "id"), "i-1");
        ck_assert_str_eq(json_get_string(self, "status"), "online");
        ck_assert_str_eq(json_object_to_json_string(json_object_object_get(self, "layer_ids")),
                         "[ \"web\" ]");
        ck_assert_str_eq(json_get_string(json_object_array_get_idx(instances, 1), "status"),
                         "online");
        ck_assert_str_eq(json_get_string(json_object_array_get_idx(instances, 2), "status"),
                         "connection_lost");
        ck_assert_str_eq(json_get_string(json_object_array_get_idx(instances, 3), "status"),
                         "stopped");

        /* Kept for a command that starts while etcd is away. */
        path = strf("%s/state/etcd-stack.json", dir);
        kept = test_read(path);
        ck_assert_ptr_nonnull(kept);
        ck_assert_str_eq(
                kept, json_object_to_json_string_ext(
                              sink.stack, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}
END_TEST

/* More instances than etcd takes operations in one transaction: one read, each instance
 * getting its own status. */
START_TEST(test_stack_many_instances) {
        json_object *instances;

        cp = control_plane_free(cp);
        test_etcd_free(etcd);
        etcd = test_etcd_start_max_txn_ops(16);
        open_cp(etcd->endpoint, NULL);
        put(P "/stacks/s1", "{\"name\": \"shop\"}");
        put(P "/stacks/s1/instances/i-1", "{}");
        /* n-01 .. n-40: the even ones beat. */
        for (unsigned i = 1; i <= 40; i++) {
                _cleanup_free_ char *k = strf(P "/stacks/s1/instances/n-%02u", i),
                                    *mark = strf(P "/stacks/s1/online/n-%02u", i);

                put(k, "{}");
                if (i % 2 == 0)
                        put(mark, "{}");
        }
        start_online();
        ck_assert_int_eq(cp->ops->stack(cp, &sink.stack, NULL), 0);
        run_until(stack_done, 0);
        ck_assert_msg(sink.stack, "%s", strempty(sink.stack_error));

        instances = json_object_object_get(sink.stack, "instances");
        ck_assert_uint_eq(json_object_array_length(instances), 41);
        for (size_t i = 0; i < 41; i++) {
                json_object *instance = json_object_array_get_idx(instances, i);
                const char *id = json_get_string(instance, "id");
                unsigned n;

                ck_assert_ptr_nonnull(id);
                if (streq(id, "i-1")) {
                        ck_assert_str_eq(json_get_string(instance, "status"), "online");
                        continue;
                }
                ck_assert_int_eq(sscanf(id, "n-%u", &n), 1);
                ck_assert_str_eq(json_get_string(instance, "status"),
                                 n % 2 == 0 ? "online" : "connection_lost");
        }
}
END_TEST

/* Asks for the stack again; the description read. */
static json_object *read_stack(void) {
        json_object_put(TAKE_PTR(sink.stack));
        sink.stack_error = mfree(sink.stack_error);
        sink.stack_done = false;
        ck_assert_int_eq(cp->ops->stack(cp, &sink.stack, NULL), 0);
        run_until(stack_done, 0);
        ck_assert_msg(sink.stack, "%s", strempty(sink.stack_error));
        return json_object_get(sink.stack);
}

/* The ids of the stack's instances with their status, "id:status ...". */
static char *instances_of(json_object *stack) {
        json_object *instances = json_object_object_get(stack, "instances");
        _cleanup_(strbuf_done) StrBuf b = {};

        for (size_t i = 0; i < json_object_array_length(instances); i++) {
                json_object *instance = json_object_array_get_idx(instances, i);

                ck_assert_int_ge(strbuf_printf(&b, "%s%s:%s", i ? " " : "",
                                               json_get_string(instance, "id"),
                                               json_get_string(instance, "status")),
                                 0);
        }
        return strbuf_steal(&b) ?: strdup("");
}

/* Read again, the stack is what etcd holds now: unchanged (a deployment is not the
 * topology), a document changed, an instance deleted (nothing modified, one key fewer), a
 * mark gone, a layer added. */
START_TEST(test_stack_read_again) {
        _cleanup_json_ json_object *first = NULL, *again = NULL, *changed = NULL, *fewer = NULL,
                                   *lost = NULL, *more = NULL;
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;
        json_object *layers;

        put(P "/stacks/s1", "{\"name\": \"shop\"}");
        put(P "/stacks/s1/layers/web", "{\"name\": \"Web\"}");
        put(P "/stacks/s1/instances/i-1", "{}");
        put(P "/stacks/s1/instances/i-2", "{}");
        put(P "/stacks/s1/instances/i-3", "{}");
        put(P "/stacks/s1/online/i-2", "{}");
        put(P "/stacks/s1/online/i-3", "{}");
        start_online();
        first = read_stack();
        a = instances_of(first);
        ck_assert_str_eq(a, "i-1:online i-2:online i-3:online");

        put(P "/stacks/s1/deployments/d-1", "{}");
        again = read_stack();
        ck_assert_msg(json_object_equal(first, again), "%s", json_object_to_json_string(again));

        put(P "/stacks/s1/layers/web", "{\"name\": \"Web 2\"}");
        changed = read_stack();
        layers = json_object_object_get(changed, "layers");
        ck_assert_str_eq(json_get_string(json_object_array_get_idx(layers, 0), "name"), "Web 2");

        del(P "/stacks/s1/instances/i-3");
        fewer = read_stack();
        b = instances_of(fewer);
        ck_assert_str_eq(b, "i-1:online i-2:online");

        del(P "/stacks/s1/online/i-2");
        lost = read_stack();
        c = instances_of(lost);
        ck_assert_str_eq(c, "i-1:online i-2:connection_lost");

        put(P "/stacks/s1/layers/db", "{}");
        more = read_stack();
        layers = json_object_object_get(more, "layers");
        ck_assert_uint_eq(json_object_array_length(layers), 2);
        ck_assert_str_eq(json_get_string(json_object_array_get_idx(layers, 0), "id"), "db");
        ck_assert_str_eq(json_get_string(json_object_array_get_idx(layers, 1), "id"), "web");
}
END_TEST

static bool stack_kept(void) {
        _cleanup_free_ char *path = strf("%s/state/etcd-stack.json", dir);

        return access(path, F_OK) == 0;
}

/* With no command, the stack is read at the first poll (1 s here) and kept; nobody is handed
 * it. */
START_TEST(test_stack_read_at_first_poll) {
        _cleanup_free_ char *path = strf("%s/state/etcd-stack.json", dir), *kept = NULL;

        put(P "/stacks/s1", "{\"name\": \"shop\"}");
        put(P "/stacks/s1/instances/i-1", "{}");
        start();
        ck_assert(!stack_kept());
        run_until(stack_kept, 0);
        kept = test_read(path);
        ck_assert_ptr_nonnull(strstr(kept, "\"name\":\"shop\""));
        ck_assert(!sink.stack_done);
}
END_TEST

/* etcd away: a command that asks for the stack gets the last one read, from
 * <state_dir>/etcd-stack.json. */
START_TEST(test_stack_while_etcd_away) {
        _cleanup_json_ json_object *first = NULL, *cached = NULL;

        put(P "/stacks/s1", "{\"name\": \"shop\"}");
        put(P "/stacks/s1/instances/i-1", "{}");
        put(P "/stacks/s1/instances/i-2", "{}");
        start_online();
        first = read_stack();
        test_etcd_stop(etcd);
        /* Nothing known yet of the link going down: the read fails it, then the cache answers. */
        cached = read_stack();
        ck_assert_msg(json_object_equal(first, cached), "%s", json_object_to_json_string(cached));
        /* Down for good now: the cache answers at once. */
        json_object_put(TAKE_PTR(sink.stack));
        ck_assert_int_eq(cp->ops->stack(cp, &sink.stack, NULL), 1);
        ck_assert_msg(json_object_equal(first, sink.stack), "%s",
                      json_object_to_json_string(sink.stack));
}
END_TEST

/* A stack document that is not JSON fails the command that asked, naming its key. */
START_TEST(test_stack_bad_document) {
        put(P "/stacks/s1/layers/web", "{\"recipes\": ");
        start();
        ck_assert_int_eq(cp->ops->stack(cp, &sink.stack, NULL), 0);
        run_until(stack_done, 0);
        ck_assert_ptr_null(sink.stack);
        ck_assert_ptr_nonnull(sink.stack_error);
        ck_assert_msg(startswith(sink.stack_error, P "/stacks/s1/layers/web: byte "), "%s",
                      sink.stack_error);
        /* The link stays up: a bad document is not a connection problem. */
        ck_assert_ptr_null(cp->ops->status(cp));
}
END_TEST

/* What is not a command is rejected under its key's id with a reason naming the key. */
START_TEST(test_rejected) {
        sink.ack = true;
        put(P "/instances/i-1/commands/c-1", "{\"id\": \"c-1\", \"type\": \"configure\"}");
        put(P "/instances/i-1/commands/c-2", "{\"id\": \"c-9\", \"type\": \"configure\"}");
        put(P "/instances/i-1/commands/c-3", "{\"id\": \"c-3\", \"type\": \"reboot\"}");
        start();
        run_until(one_received_one_rejected, 1500 * USEC_PER_MSEC);
        ck_assert_uint_eq(strv_length(sink.received), 1);
        ck_assert_str_eq(sink.received[0], "c-1");
        ck_assert_uint_eq(strv_length(sink.rejected), 2);
        ck_assert_str_eq(sink.rejected[0], "c-2|" P "/instances/i-1/commands/c-2: field 'id': "
                                           "expected 'c-2' as in the key, not 'c-9'");
        ck_assert_msg(startswith(sink.rejected[1], "c-3|" P "/instances/i-1/commands/c-3: "), "%s",
                      sink.rejected[1]);
}
END_TEST

/* A command the agent did not take (it could not journal it) comes again with the next poll;
 * one it took does not. */
START_TEST(test_redelivery) {
        put(P "/instances/i-1/commands/c-1", "{\"id\": \"c-1\", \"type\": \"configure\"}");
        start();
        run_until(two_received, 0);
        ck_assert_str_eq(sink.received[0], "c-1");
        ck_assert_str_eq(sink.received[1], "c-1");
        ck_assert_int_eq(cp->ops->ack(cp, "c-1", NULL), 0);
        run_until(two_received, 1500 * USEC_PER_MSEC);
        ck_assert_uint_eq(strv_length(sink.received), 2);
}
END_TEST

/* A log goes before its result, cut to its last MiB; the result is stored once and said so. */
START_TEST(test_result_and_log) {
        _cleanup_json_ json_object *result = json_object_new_object(), *bad = NULL;
        _cleanup_free_ char *big = malloc(2 * 1024 * 1024), *log = NULL, *stored = NULL;
        _cleanup_free_ char *error = NULL;
        size_t len = 0;

        ck_assert_ptr_nonnull(big);
        for (size_t i = 0; i < 2 * 1024 * 1024; i++)
                big[i] = (char)('a' + (i / (1024 * 1024)));
        json_object_object_add(result, "id", json_object_new_string("c-1"));
        json_object_object_add(result, "status", json_object_new_string("successful"));
        start();
        ck_assert_int_eq(cp->ops->upload_log(cp, "c-1", big, 2 * 1024 * 1024, NULL), 0);
        ck_assert_int_eq(cp->ops->report_result(cp, result, NULL), 0);
        run_until(one_stored, 0);
        ck_assert_str_eq(sink.stored[0], "c-1");

        log = get(P "/instances/i-1/logs/c-1", &len);
        ck_assert_uint_eq(len, 1024 * 1024);
        ck_assert_int_eq(memcmp(log, big + 1024 * 1024, len), 0);
        stored = get(P "/instances/i-1/results/c-1", NULL);
        ck_assert_str_eq(stored, "{\"id\":\"c-1\",\"status\":\"successful\"}");

        bad = json_object_new_object();
        json_object_object_add(bad, "id", json_object_new_string("../x"));
        ck_assert_int_eq(cp->ops->report_result(cp, bad, &error), -EINVAL);
        ck_assert_str_eq(error, "result: field 'id': expected a command id");
}
END_TEST

static unsigned free_port(void) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
        close(fd);
        return ntohs(a.sin_port);
}

static void run(const char *cmd) {
        ck_assert_msg(system(cmd) == 0, "failed: %s", cmd);
}

/* etcd on https://127.0.0.1:<port> with a certificate from a CA of its own (<dir>/tls/ca.pem);
 * it dies with this process. With client_cert_auth it takes only clients with a certificate
 * from that CA: <dir>/tls/client.pem and client.key (no CN: etcd would take the CN for a user
 * name); <dir>/tls/stranger.pem and stranger.key are a client's from another CA. Returns its
 * pid. */
static pid_t tls_etcd_start(unsigned *ret_port, bool client_cert_auth) {
        _cleanup_free_ char *tls = strf("%s/tls", dir), *cmd = NULL, *client = NULL;
        _cleanup_free_ char *peer = NULL, *cluster = NULL, *data = NULL, *log = NULL;
        _cleanup_free_ char *cert = NULL, *key = NULL, *ca = NULL;
        unsigned port = free_port(), peer_port;
        const char **argv;
        pid_t pid;

        do
                peer_port = free_port();
        while (peer_port == port);
        ck_assert_int_ge(mkdir_parents(tls, 0700), 0);
        cmd = strf("cd '%s' && printf 'subjectAltName=IP:127.0.0.1\\n' > san && "
                   "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
                   "-subj /CN=strata-test-ca 2>/dev/null && "
                   "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
                   "-subj /CN=127.0.0.1 2>/dev/null && "
                   "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
                   "-out server.pem -days 2 -extfile san 2>/dev/null",
                   tls);
        ck_assert_ptr_nonnull(cmd);
        run(cmd);
        if (client_cert_auth) {
                free(cmd);
                cmd = strf(
                        "cd '%s' && "
                        "openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr "
                        "-subj /O=strata-test-client 2>/dev/null && "
                        "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key "
                        "-CAcreateserial -out client.pem -days 2 2>/dev/null && "
                        "openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key "
                        "-out other-ca.pem -days 2 -subj /CN=strata-test-other-ca 2>/dev/null && "
                        "openssl req -newkey rsa:2048 -nodes -keyout stranger.key "
                        "-out stranger.csr -subj /O=strata-test-client 2>/dev/null && "
                        "openssl x509 -req -in stranger.csr -CA other-ca.pem -CAkey other-ca.key "
                        "-CAcreateserial -out stranger.pem -days 2 2>/dev/null",
                        tls);
                ck_assert_ptr_nonnull(cmd);
                run(cmd);
        }
        client = strf("https://127.0.0.1:%u", port);
        peer = strf("http://127.0.0.1:%u", peer_port);
        cluster = strf("t1=http://127.0.0.1:%u", peer_port);
        data = strf("%s/data", tls);
        log = strf("%s/etcd.log", tls);
        cert = strf("%s/server.pem", tls);
        key = strf("%s/server.key", tls);
        ca = strf("%s/ca.pem", tls);
        ck_assert(client && peer && cluster && data && log && cert && key && ca);
        argv = (const char *[]){
                "etcd", "--logger=zap", "--log-level=warn", "--name", "t1", "--data-dir", data,
                "--listen-client-urls", client, "--advertise-client-urls", client, "--cert-file",
                cert, "--key-file", key, "--listen-peer-urls", peer,
                "--initial-advertise-peer-urls", peer, "--initial-cluster", cluster,
                "--heartbeat-interval", "10", "--election-timeout", "50",
                /* The list ends here without client_cert_auth. */
                client_cert_auth ? "--client-cert-auth" : NULL, "--trusted-ca-file", ca, NULL};
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

                if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0 ||
                    prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                        _exit(126);
                execvp("etcd", (char **)argv);
                _exit(127);
        }
        *ret_port = port;
        return pid;
}

static bool link_up(void) {
        _cleanup_free_ char *problem = cp->ops->status(cp);

        return !problem;
}

static bool link_failed(void) {
        _cleanup_free_ char *problem = cp->ops->status(cp);

        return problem && strstr(problem, "certificate");
}

/* TLS: verified with the CA file; without it, a clear error and no connection. */
START_TEST(test_tls) {
        _cleanup_free_ char *endpoint = NULL, *extra = NULL, *problem = NULL;
        unsigned port;
        pid_t pid = tls_etcd_start(&port, false);

        endpoint = strf("https://127.0.0.1:%u", port);
        extra = strf("  backoff_max: 1s\n  ca_file: %s/tls/ca.pem\n", dir);
        ck_assert_ptr_nonnull(endpoint);
        ck_assert_ptr_nonnull(extra);

        open_cp(endpoint, extra);
        start();
        /* etcd may still be starting: the backend tries again until it answers. */
        run_until(link_up, 0);
        ck_assert_int_eq(cp->ops->stack(cp, &sink.stack, NULL), 0);
        run_until(stack_done, 0);
        ck_assert_msg(sink.stack, "%s", strempty(sink.stack_error));

        open_cp(endpoint, "  backoff_max: 1s\n");
        start();
        run_until(link_failed, 0);
        problem = cp->ops->status(cp);
        ck_assert_msg(startswith(problem, endpoint), "%s", problem);
        cp = control_plane_free(cp);
        ck_assert_int_eq(kill(pid, SIGTERM), 0);
        ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
}
END_TEST

static unsigned tls_port;

static size_t collect(char *p, size_t size, size_t n, void *userdata) {
        return strbuf_append(userdata, p, size * n) < 0 ? 0 : size * n;
}

/* The value of k in the etcd of tls_etcd_start(), read with the client certificate; NULL when
 * absent. */
static char *tls_get(const char *k) {
        _cleanup_free_ char *url = strf("https://127.0.0.1:%u" ETCD_PATH_RANGE, tls_port);
        _cleanup_free_ char *ca = strf("%s/tls/ca.pem", dir),
                            *cert = strf("%s/tls/client.pem", dir);
        _cleanup_free_ char *key = strf("%s/tls/client.key", dir), *error = NULL;
        _cleanup_(strbuf_done) StrBuf b = {.max = ETCD_REPLY_MAX};
        _cleanup_json_ json_object *req = NULL, *reply = NULL;
        _cleanup_(etcd_range_freep) EtcdRange *range = NULL;
        CURL *c = curl_easy_init();
        long status = 0;
        CURLcode code;
        char *v;

        ck_assert(url && ca && cert && key && c);
        ck_assert_int_eq(etcd_request_range(k, 0, 0, 0, &req), 0);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
        curl_easy_setopt(c, CURLOPT_CAINFO, ca);
        curl_easy_setopt(c, CURLOPT_SSLCERT, cert);
        curl_easy_setopt(c, CURLOPT_SSLKEY, key);
        curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS,
                         json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN));
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        code = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(c);
        ck_assert_msg(code == CURLE_OK, "%s: %s", url, curl_easy_strerror(code));
        ck_assert_int_eq(etcd_parse_reply(status, b.data, b.len, &reply, &error), 0);
        ck_assert_int_eq(etcd_parse_range(reply, &range, &error), 0);
        if (range->n_kvs == 0)
                return NULL;
        v = strdup(range->kvs[0].value);
        ck_assert_ptr_nonnull(v);
        return v;
}

static bool alive_stored(void) {
        _cleanup_free_ char *v = tls_get(P "/instances/i-1/alive");

        return v;
}

/* Three failed connections in a row, each said in status(). */
static bool failed_three_times(void) {
        _cleanup_free_ char *problem = cp->ops->status(cp);

        ck_assert_ptr_nonnull(problem);
        return sink.state_changes >= 3;
}

/* The backend with these control_plane keys fails again and again, the problem naming the
 * endpoint, the step, curl's words (the TLS alert, or over TLS 1.3 at times only the connection
 * gone) and then hint. */
static void assert_refused(const char *endpoint, const char *extra, const char *hint) {
        _cleanup_free_ char *prefix = strf("%s: registering: ", endpoint), *problem = NULL;
        _cleanup_free_ char *end = strf("%s; retrying in ", hint);

        ck_assert(prefix && end);
        open_cp(endpoint, extra);
        sink.state_changes = 0;
        start();
        run_until(failed_three_times, 0);
        problem = cp->ops->status(cp);
        ck_assert_msg(startswith(problem, prefix) && strstr(problem, end) &&
                              (strstr(problem, "alert bad certificate") ||
                               strstr(problem, "getpeername() failed")),
                      "%s", problem);
}

/* mTLS: etcd takes only clients with a certificate from its CA. With cert_file and key_file the
 * backend registers and beats; without a certificate, or with one from another CA, each try
 * fails with a clear error naming the endpoint and what the TLS handshake said, and it keeps
 * trying. */
START_TEST(test_tls_client_cert) {
        _cleanup_free_ char *endpoint = NULL, *mine = NULL, *none = NULL, *stranger = NULL;
        _cleanup_free_ char *registered = NULL, *alive = NULL;
        _cleanup_json_ json_object *record = json_object_new_object(), *reg = NULL;
        pid_t pid = tls_etcd_start(&tls_port, true);

        endpoint = strf("https://127.0.0.1:%u", tls_port);
        mine = strf("  backoff_max: 1s\n  ca_file: %1$s/tls/ca.pem\n"
                    "  cert_file: %1$s/tls/client.pem\n  key_file: %1$s/tls/client.key\n",
                    dir);
        none = strf("  backoff_max: 1s\n  ca_file: %s/tls/ca.pem\n", dir);
        stranger = strf("  backoff_max: 1s\n  ca_file: %1$s/tls/ca.pem\n"
                        "  cert_file: %1$s/tls/stranger.pem\n  key_file: %1$s/tls/stranger.key\n",
                        dir);
        ck_assert(endpoint && mine && none && stranger && record);

        open_cp(endpoint, mine);
        start();
        /* etcd may still be starting: the backend tries again until it answers. */
        run_until(link_up, 0);
        registered = tls_get(P "/instances/i-1/registered");
        ck_assert_ptr_nonnull(registered);
        ck_assert_int_eq(
                json_parse_strict("registered", registered, strlen(registered), &reg, NULL), 0);
        ck_assert_str_eq(json_get_string(reg, "instance_id"), "i-1");
        ck_assert_str_eq(json_get_string(reg, "stack_id"), "s1");
        json_object_object_add(record, "instance_id", json_object_new_string("i-1"));
        json_object_object_add(record, "status", json_object_new_string("idle"));
        ck_assert_int_eq(cp->ops->heartbeat(cp, record, NULL), 0);
        run_until(alive_stored, 0);
        alive = tls_get(P "/instances/i-1/alive");
        ck_assert_str_eq(alive, "{\"instance_id\":\"i-1\",\"status\":\"idle\"}");

        assert_refused(endpoint, none,
                       " (does etcd want a client certificate? control_plane.cert_file and "
                       "key_file give one)");
        assert_refused(endpoint, stranger,
                       " (does etcd trust the CA that signed control_plane.cert_file?)");

        cp = control_plane_free(cp);
        ck_assert_int_eq(kill(pid, SIGTERM), 0);
        ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("cp-etcd");
        TCase *tc = tcase_create("cp-etcd");

        tcase_add_unchecked_fixture(tc, test_adopt_orphans, test_kill_orphans);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_stack);
        tcase_add_test(tc, test_stack_many_instances);
        tcase_add_test(tc, test_stack_read_again);
        tcase_add_test(tc, test_stack_while_etcd_away);
        tcase_add_test(tc, test_stack_read_at_first_poll);
        tcase_add_test(tc, test_stack_bad_document);
        tcase_add_test(tc, test_rejected);
        tcase_add_test(tc, test_redelivery);
        tcase_add_test(tc, test_result_and_log);
        tcase_add_test(tc, test_tls);
        tcase_add_test(tc, test_tls_client_cert);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
