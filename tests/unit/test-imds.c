/* SPDX-License-Identifier: MIT */
/* imds against the fake IMDSv2 server (tests/servers/imds.py): the token dance, the role's
 * credentials, the process cache and its refresh, the errors. */
#include "imds.h"
#include "server-imds.h"
#include "server-nginx.h"
#include "str-util.h"
#include "test-helpers.h"

#define EXPIRATION "2030-01-01T00:00:00Z"
#define EXPIRATION_TIME ((time_t)1893456000)
#define ROLE_PATH "/latest/meta-data/iam/security-credentials/"
#define ONE_ROUND                                                                                  \
        "PUT /latest/api/token 200\n"                                                              \
        "GET " ROLE_PATH " 200\n"                                                                  \
        "GET " ROLE_PATH "app-role 200"

static TestImds *imds;

static void setup(void) {
        imds = test_imds_start("app-role", "ASIAEXAMPLE", "role/secret", "session-token-1",
                               EXPIRATION);
        imds_forget();
}

static void teardown(void) {
        imds_forget();
        test_imds_free(imds);
        imds = NULL;
        unsetenv("http_proxy");
}

START_TEST(fetch_credentials) {
        _cleanup_(imds_credentials_done) ImdsCredentials c = {};
        _cleanup_free_ char *error = NULL, *requests = NULL;

        ck_assert_msg(imds_fetch_credentials(imds->endpoint, &c, &error) == 0, "%s", error);
        ck_assert_str_eq(c.access_key_id, "ASIAEXAMPLE");
        ck_assert_str_eq(c.secret_access_key, "role/secret");
        ck_assert_str_eq(c.session_token, "session-token-1");
        ck_assert_int_eq(c.expiration, EXPIRATION_TIME);
        requests = test_imds_requests(imds);
        ck_assert_str_eq(requests, ONE_ROUND);
}
END_TEST

START_TEST(cached_until_near_expiration) {
        const ImdsCredentials *a, *b, *c;
        _cleanup_free_ char *after_two = NULL, *after_three = NULL;

        ck_assert_int_eq(imds_credentials(imds->endpoint, EXPIRATION_TIME - 3600, &a, NULL), 0);
        ck_assert_int_eq(imds_credentials(imds->endpoint, EXPIRATION_TIME - 301, &b, NULL), 0);
        ck_assert_ptr_eq(a, b);
        ck_assert_str_eq(b->access_key_id, "ASIAEXAMPLE");
        after_two = test_imds_requests(imds);
        ck_assert_str_eq(after_two, ONE_ROUND);

        /* Within five minutes of Expiration: asked again. */
        ck_assert_int_eq(imds_credentials(imds->endpoint, EXPIRATION_TIME - 300, &c, NULL), 0);
        ck_assert_str_eq(c->session_token, "session-token-1");
        after_three = test_imds_requests(imds);
        ck_assert_str_eq(after_three, ONE_ROUND "\n" ONE_ROUND);
}
END_TEST

/* The metadata service is never reached through a proxy. */
START_TEST(never_proxied) {
        _cleanup_free_ char *proxy = strf("http://127.0.0.1:%u", test_free_port());
        _cleanup_(imds_credentials_done) ImdsCredentials c = {};
        _cleanup_free_ char *error = NULL;

        ck_assert_int_eq(setenv("http_proxy", proxy, 1), 0);
        ck_assert_msg(imds_fetch_credentials(imds->endpoint, &c, &error) == 0, "%s", error);
        ck_assert_str_eq(c.access_key_id, "ASIAEXAMPLE");
}
END_TEST

START_TEST(no_role) {
        TestImds *bare = test_imds_start(NULL, "-", "-", "-", EXPIRATION);
        _cleanup_(imds_credentials_done) ImdsCredentials c = {};
        _cleanup_free_ char *error = NULL, *want = NULL;

        ck_assert_int_eq(imds_fetch_credentials(bare->endpoint, &c, &error), -EIO);
        want = strf("no instance profile: this instance has no IAM role (GET %s" ROLE_PATH
                    ": HTTP 404)",
                    bare->endpoint);
        ck_assert_str_eq(error, want);
        test_imds_free(bare);
}
END_TEST

START_TEST(no_service) {
        _cleanup_free_ char *endpoint = strf("http://127.0.0.1:%u", test_free_port()),
                            *prefix = NULL, *error = NULL;
        _cleanup_(imds_credentials_done) ImdsCredentials c = {};

        ck_assert_int_eq(imds_fetch_credentials(endpoint, &c, &error), -EIO);
        prefix = strf("no instance profile: PUT %s/latest/api/token: Failed to connect to "
                      "127.0.0.1 port",
                      endpoint);
        ck_assert_msg(startswith(error, prefix), "error: %s", error);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("imds");
        TCase *tc = tcase_create("imds");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, fetch_credentials);
        tcase_add_test(tc, cached_until_near_expiration);
        tcase_add_test(tc, never_proxied);
        tcase_add_test(tc, no_role);
        tcase_add_test(tc, no_service);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
