/* SPDX-License-Identifier: MIT */
/* A private etcd for tests (contract in server-etcd.h). Started as TESTING.md describes:
 * --heartbeat-interval 10 --election-timeout 50 make /health answer in about 0.1 s; with
 * --bcrypt-cost 4 an authentication costs about a millisecond instead of tens. */

#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "etcd-gateway.h"
#include "server-etcd.h"
#include "str-util.h"
#include "test-helpers.h"

static unsigned free_port(void) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
        close(fd);
        return ntohs(a.sin_port);
}

static size_t collect(char *p, size_t size, size_t n, void *userdata) {
        return strbuf_append(userdata, p, size * n) < 0 ? 0 : size * n;
}

/* One request; 0 when nothing answered. */
static long request(const char *url, const char *body, const char *token, long timeout_ms,
                    char **ret_body) {
        _cleanup_(strbuf_done) StrBuf b = {.max = ETCD_REPLY_MAX};
        _cleanup_free_ char *auth = NULL;
        struct curl_slist *headers = NULL;
        CURL *c = curl_easy_init();
        long status = 0;

        ck_assert_ptr_nonnull(c);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        if (body) {
                headers = curl_slist_append(headers, "Content-Type: application/json");
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        }
        if (token) {
                auth = etcd_auth_header(token);
                ck_assert_ptr_nonnull(auth);
                headers = curl_slist_append(headers, auth);
        }
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);

        if (curl_easy_perform(c) == CURLE_OK)
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(c);
        curl_slist_free_all(headers);

        if (ret_body) {
                *ret_body = strbuf_steal(&b);
                ck_assert_ptr_nonnull(*ret_body);
        }
        return status;
}

static void spawn(TestEtcd *e) {
        _cleanup_free_ char *data = strf("%s/data", e->dir), *log = strf("%s/etcd.log", e->dir),
                            *client = strf("http://127.0.0.1:%u", e->client_port),
                            *peer = strf("http://127.0.0.1:%u", e->peer_port),
                            *cluster = strf("t1=http://127.0.0.1:%u", e->peer_port),
                            *ops = strf("%u", e->max_txn_ops), *ttl = strf("%u", e->auth_token_ttl);
        const char *argv[40] = {"etcd", "--logger=zap", "--log-level=warn", "--name", "t1",
                                "--data-dir", data, "--listen-client-urls", client,
                                "--advertise-client-urls", client, "--listen-peer-urls", peer,
                                "--initial-advertise-peer-urls", peer, "--initial-cluster", cluster,
                                "--heartbeat-interval", "10", "--election-timeout", "50",
                                /* Every CLI run authenticates: the cheapest hash etcd allows. */
                                "--bcrypt-cost", "4"};
        size_t n = 0;
        pid_t pid;

        ck_assert(data && log && client && peer && cluster && ops && ttl);
        while (argv[n])
                n++;
        if (e->max_txn_ops > 0) {
                argv[n++] = "--max-txn-ops";
                argv[n++] = ops;
        }
        if (e->auth_token_ttl > 0) {
                argv[n++] = "--auth-token-ttl";
                argv[n++] = ttl;
        }
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

                if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
                        _exit(126);
                /* Its own process group: a Ctrl-C of the test run does not reach it first. */
                setpgid(0, 0);
                execvp("etcd", (char **)argv);
                _exit(127);
        }
        e->pid = pid;
}

static void wait_healthy(TestEtcd *e) {
        _cleanup_free_ char *url = strf("%s/health", e->endpoint);
        struct timespec pause = {0, 20 * 1000 * 1000};

        for (unsigned i = 0; i < 500; i++) {
                _cleanup_free_ char *body = NULL;
                int status;

                if (request(url, NULL, NULL, 500, &body) == 200 && strstr(body, "\"true\""))
                        return;
                if (waitpid(e->pid, &status, WNOHANG) == e->pid) {
                        _cleanup_free_ char *log = NULL, *path = strf("%s/etcd.log", e->dir);

                        e->pid = 0;
                        log = test_read(path);
                        ck_abort_msg("etcd exited with status %d (is etcd-server installed? "
                                     "tools/dev/deps installs it): %s",
                                     status, strempty(log));
                }
                nanosleep(&pause, NULL);
        }
        ck_abort_msg("etcd on %s was not healthy within 10 s", e->endpoint);
}

static TestEtcd *start(unsigned max_txn_ops, unsigned auth_token_ttl) {
        TestEtcd *e = calloc(1, sizeof(*e));

        ck_assert_ptr_nonnull(e);
        e->max_txn_ops = max_txn_ops;
        e->auth_token_ttl = auth_token_ttl;
        e->dir = test_tmpdir();
        e->client_port = free_port();
        do
                e->peer_port = free_port();
        while (e->peer_port == e->client_port);
        e->endpoint = strf("http://127.0.0.1:%u", e->client_port);
        ck_assert_ptr_nonnull(e->endpoint);

        spawn(e);
        wait_healthy(e);
        return e;
}

TestEtcd *test_etcd_start(void) {
        return start(0, 0);
}

TestEtcd *test_etcd_start_max_txn_ops(unsigned max_txn_ops) {
        return start(max_txn_ops, 0);
}

TestEtcd *test_etcd_start_auth_token_ttl(unsigned auth_token_ttl) {
        return start(0, auth_token_ttl);
}

void test_etcd_stop(TestEtcd *e) {
        if (e->pid <= 0)
                return;
        kill(e->pid, SIGTERM);
        waitpid(e->pid, NULL, 0);
        e->pid = 0;
}

void test_etcd_restart(TestEtcd *e) {
        test_etcd_stop(e);
        spawn(e);
        wait_healthy(e);
}

void test_etcd_free(TestEtcd *e) {
        if (!e)
                return;
        test_etcd_stop(e);
        test_rmdir(e->dir);
        free(e->dir);
        free(e->endpoint);
        free(e);
}

long test_etcd_post(TestEtcd *e, const char *path, const char *body, const char *token,
                    char **ret_body) {
        _cleanup_free_ char *url = strf("%s%s", e->endpoint, path);
        long status;

        ck_assert_ptr_nonnull(url);
        status = request(url, body, token, 10000, ret_body);
        ck_assert_msg(status != 0, "etcd on %s did not answer POST %s", e->endpoint, path);
        return status;
}

/* POSTs a built request, asserting HTTP 200; the parsed reply. */
static json_object *call(TestEtcd *e, const char *path, json_object *req, const char *token) {
        _cleanup_free_ char *body = NULL, *error = NULL;
        json_object *reply = NULL;
        long status;
        int r;

        ck_assert_ptr_nonnull(req);
        status = test_etcd_post(
                e, path, json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN), token, &body);
        json_object_put(req);
        r = etcd_parse_reply(status, body, strlen(body), &reply, &error);
        ck_assert_msg(r >= 0, "POST %s: %s", path, strempty(error));
        return reply;
}

/* req points to the request just built (r: what building it returned). */
static json_object *build(int r, json_object **req) {
        ck_assert_int_eq(r, 0);
        return TAKE_PTR(*req);
}

char *test_etcd_token(TestEtcd *e, const char *user, const char *password) {
        _cleanup_json_ json_object *reply = NULL;
        _cleanup_free_ char *error = NULL;
        json_object *req = NULL;
        char *token = NULL;

        reply = call(e, ETCD_PATH_AUTHENTICATE,
                     build(etcd_request_authenticate(user, password, &req), &req), NULL);
        ck_assert_msg(etcd_parse_token(reply, &token, &error) >= 0, "%s", strempty(error));
        return token;
}

void test_etcd_enable_auth(TestEtcd *e, const char *root_password) {
        json_object *req = NULL;

        json_object_put(call(e, ETCD_PATH_USER_ADD,
                             build(etcd_request_user_add("root", root_password, &req), &req),
                             NULL));
        json_object_put(
                call(e, ETCD_PATH_ROLE_ADD, build(etcd_request_name("root", &req), &req), NULL));
        json_object_put(call(e, ETCD_PATH_USER_GRANT_ROLE,
                             build(etcd_request_user_grant_role("root", "root", &req), &req),
                             NULL));
        json_object_put(
                call(e, ETCD_PATH_AUTH_ENABLE, build(etcd_request_empty(&req), &req), NULL));
}

void test_etcd_put(TestEtcd *e, const char *token, const char *key, const char *value) {
        json_object *req = NULL;

        json_object_put(call(e, ETCD_PATH_PUT,
                             build(etcd_request_put(key, value, strlen(value), 0, &req), &req),
                             token));
}

static EtcdRange *range(TestEtcd *e, const char *token, const char *key, EtcdRangeFlags flags) {
        _cleanup_json_ json_object *reply = NULL;
        _cleanup_free_ char *error = NULL;
        json_object *req = NULL;
        EtcdRange *r = NULL;

        reply = call(e, ETCD_PATH_RANGE, build(etcd_request_range(key, flags, 0, 0, &req), &req),
                     token);
        ck_assert_msg(etcd_parse_range(reply, &r, &error) >= 0, "%s", strempty(error));
        return r;
}

char *test_etcd_get(TestEtcd *e, const char *token, const char *key) {
        _cleanup_(etcd_range_freep) EtcdRange *r = range(e, token, key, 0);
        char *v;

        if (r->n_kvs == 0)
                return NULL;
        v = strdup(r->kvs[0].value);
        ck_assert_ptr_nonnull(v);
        return v;
}

char *test_etcd_keys(TestEtcd *e, const char *token, const char *prefix) {
        _cleanup_(etcd_range_freep) EtcdRange *r =
                range(e, token, prefix, ETCD_RANGE_PREFIX | ETCD_RANGE_KEYS_ONLY);
        _cleanup_(strbuf_done) StrBuf b = {};
        char *s;

        for (size_t i = 0; i < r->n_kvs; i++)
                ck_assert_int_ge(strbuf_printf(&b, "%s%s", i ? "\n" : "", r->kvs[i].key), 0);
        s = strbuf_steal(&b);
        ck_assert_ptr_nonnull(s);
        return s;
}
