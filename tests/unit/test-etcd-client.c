/* SPDX-License-Identifier: MIT */
/* etcd-client against a real etcd (server-etcd.h): the key-value calls, failover past a dead
 * endpoint, password authentication, and authenticating again when etcd has forgotten the
 * token (a restart drops every token, as an expiry would: 401 code 16). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "etcd-client.h"
#include "server-etcd.h"
#include "str-util.h"
#include "test-helpers.h"

static TestEtcd *etcd;

static void setup(void) {
        etcd = test_etcd_start();
}

static void teardown(void) {
        test_etcd_free(etcd);
        etcd = NULL;
}

static EtcdClient *client(char *const *endpoints, const char *user, const char *password) {
        EtcdClientOptions o = {
                .endpoints = endpoints,
                .user = user,
                .password = password,
        };
        EtcdClient *c = NULL;

        ck_assert_int_eq(etcd_client_new(&o, &c), 0);
        return c;
}

/* A loopback port nothing listens on. */
static char *dead_endpoint(void) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        char *url;

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
        close(fd);
        url = strf("http://127.0.0.1:%u", ntohs(a.sin_port));
        ck_assert_ptr_nonnull(url);
        return url;
}

START_TEST(key_values_and_transactions) {
        _cleanup_(etcd_client_freep) EtcdClient *c = client(STRV_MAKE(etcd->endpoint), NULL, NULL);
        _cleanup_(etcd_range_freep) EtcdRange *range = NULL;
        _cleanup_free_ char *value = NULL, *error = NULL;
        _cleanup_json_ json_object *txn = NULL;
        json_object *req = NULL;
        int64_t mod = 0, deleted = 0;
        bool ok = true;

        ck_assert_int_eq(etcd_client_put(c, "/p/a", "1", 0, &error), 0);
        ck_assert_int_eq(etcd_client_put(c, "/p/b", "{\"x\":2}", 0, &error), 0);
        ck_assert_int_eq(etcd_client_put(c, "/q", "3", 0, &error), 0);
        ck_assert_int_eq(etcd_client_get(c, "/p/b", &value, &mod, &error), 0);
        ck_assert_str_eq(value, "{\"x\":2}");
        ck_assert_int_gt(mod, 0);
        value = mfree(value);
        ck_assert_int_eq(etcd_client_get(c, "/p/c", &value, NULL, &error), -ENOENT);
        ck_assert_str_eq(error, "/p/c: no such key");
        error = mfree(error);

        ck_assert_int_eq(etcd_client_range(c, "/p/", ETCD_RANGE_PREFIX, &range, &error), 0);
        ck_assert_uint_eq(range->n_kvs, 2);
        ck_assert_str_eq(range->kvs[0].key, "/p/a");
        ck_assert_str_eq(range->kvs[1].key, "/p/b");

        /* Create-if-absent fails on a key that exists; compare-and-put on its revision holds. */
        ck_assert_int_eq(etcd_txn_new(&txn), 0);
        ck_assert_int_eq(
                etcd_txn_compare(txn, "/p/b", ETCD_COMPARE_CREATE, ETCD_COMPARE_EQUAL, 0, NULL), 0);
        ck_assert_int_eq(etcd_request_put("/p/b", "no", 2, 0, &req), 0);
        ck_assert_int_eq(etcd_txn_add(txn, true, ETCD_OP_PUT, req), 0);
        ck_assert_int_eq(etcd_client_txn(c, TAKE_PTR(txn), &ok, NULL, &error), 0);
        ck_assert(!ok);
        ck_assert_int_eq(etcd_txn_new(&txn), 0);
        ck_assert_int_eq(
                etcd_txn_compare(txn, "/p/b", ETCD_COMPARE_MOD, ETCD_COMPARE_EQUAL, mod, NULL), 0);
        ck_assert_int_eq(etcd_request_put("/p/b", "yes", 3, 0, &req), 0);
        ck_assert_int_eq(etcd_txn_add(txn, true, ETCD_OP_PUT, req), 0);
        ck_assert_int_eq(etcd_client_txn(c, TAKE_PTR(txn), &ok, NULL, &error), 0);
        ck_assert(ok);
        ck_assert_int_eq(etcd_client_get(c, "/p/b", &value, NULL, &error), 0);
        ck_assert_str_eq(value, "yes");

        ck_assert_int_eq(etcd_client_delete(c, "/p/", true, &deleted, &error), 0);
        ck_assert_int_eq(deleted, 2);
        ck_assert_int_eq(etcd_client_delete(c, "/q", false, &deleted, &error), 0);
        ck_assert_int_eq(deleted, 1);
}
END_TEST

START_TEST(fails_over_to_the_next_endpoint) {
        _cleanup_free_ char *dead = dead_endpoint(), *dead2 = dead_endpoint(), *error = NULL,
                            *value = NULL, *want = NULL;
        _cleanup_(etcd_client_freep) EtcdClient *c =
                client(STRV_MAKE(dead, etcd->endpoint), NULL, NULL);
        _cleanup_(etcd_client_freep) EtcdClient *none = client(STRV_MAKE(dead, dead2), NULL, NULL);

        ck_assert_int_eq(etcd_client_put(c, "/k", "v", 0, &error), 0);
        ck_assert_int_eq(etcd_client_get(c, "/k", &value, NULL, &error), 0);
        ck_assert_str_eq(value, "v");

        ck_assert_int_eq(etcd_client_put(none, "/k", "v", 0, &error), -EHOSTUNREACH);
        want = strf("no etcd endpoint answered: %s: Failed to connect to 127.0.0.1 port %s after",
                    dead, strrchr(dead, ':') + 1);
        ck_assert_msg(startswith(error, want), "%s", error);
        ck_assert_ptr_nonnull(strstr(error, dead2));
}
END_TEST

START_TEST(authenticates_and_again_after_a_lost_token) {
        _cleanup_(etcd_client_freep) EtcdClient *c = NULL, *wrong = NULL, *nobody = NULL;
        _cleanup_free_ char *error = NULL, *value = NULL;

        test_etcd_enable_auth(etcd, "pw");
        c = client(STRV_MAKE(etcd->endpoint), "root", "pw");
        ck_assert_int_eq(etcd_client_put(c, "/k", "v1", 0, &error), 0);

        /* A restart forgets every token: the next call gets 401 code 16 and logs in again. */
        test_etcd_restart(etcd);
        ck_assert_int_eq(etcd_client_get(c, "/k", &value, NULL, &error), 0);
        ck_assert_str_eq(value, "v1");

        wrong = client(STRV_MAKE(etcd->endpoint), "root", "nope");
        ck_assert_int_eq(etcd_client_get(wrong, "/k", &value, NULL, &error), -EACCES);
        ck_assert_str_eq(error, "etcd user 'root': authentication failed: wrong user name or "
                                "password (etcd: etcdserver: authentication failed, invalid "
                                "user ID or password)");
        error = mfree(error);

        nobody = client(STRV_MAKE(etcd->endpoint), NULL, NULL);
        ck_assert_int_eq(etcd_client_put(nobody, "/k", "x", 0, &error), -EACCES);
        ck_assert_str_eq(error, "authentication required: etcd has auth enabled and no user was "
                                "given (etcd: etcdserver: user name is empty)");
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("etcd-client");
        TCase *tc = tcase_create("client");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, key_values_and_transactions);
        tcase_add_test(tc, fails_over_to_the_next_endpoint);
        tcase_add_test(tc, authenticates_and_again_after_a_lost_token);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
