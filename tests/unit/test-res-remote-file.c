/* SPDX-License-Identifier: MIT */
#include <sys/stat.h>

#include "fs-util.h"
#include "server-nginx.h"
#include "str-util.h"
#include "test-helpers.h"

static TestNginx *nginx;

#define PAYLOAD "payload bytes\n"
#define PAYLOAD_SHA256 "1ac30fd677168dffa8e69a4c83256bc951fd9d50ab6d8774f60d279f84ee6406"
#define PAYLOAD2 "second version, longer\n"

static void setup(void) {
        test_recipe_setup();
        nginx = test_nginx_start(NULL);
}

static void teardown(void) {
        test_nginx_free(nginx);
        nginx = NULL;
        test_recipe_teardown();
}

static void serve(const char *name, const char *content) {
        test_nginx_serve(nginx, name, content, strlen(content));
}

static void assert_requests(const char *want) {
        test_nginx_assert_requests(nginx, false, want);
}

static void assert_no_new_requests(const char *want) {
        test_nginx_assert_no_new_requests(nginx, false, want);
}

/* A recipe downloading name from the test's nginx to out/data. */
static char *recipe(const char *name, const char *more) {
        char *y = strf("- remote_file:\n"
                       "    path: '{{out}}/data'\n"
                       "    url: http://127.0.0.1:%u/%s\n"
                       "%s",
                       nginx->port, name, more);

        ck_assert_ptr_nonnull(y);
        return y;
}

START_TEST(download_with_sha256) {
        _cleanup_free_ char *p = test_out_path("data"), *yaml = NULL, *data = NULL, *want = NULL;
        _cleanup_json_ json_object *first = NULL, *second = NULL;
        struct stat st, st2;

        serve("data.bin", PAYLOAD);
        yaml = recipe("data.bin", "    sha256: " PAYLOAD_SHA256 "\n"
                                  "    owner: strata\n"
                                  "    group: nogroup\n"
                                  "    mode: '0640'\n");
        first = test_run_recipe(yaml, false, 0);
        ck_assert_str_eq(test_report_status(first, 0), "changed");
        want = strf("download http://127.0.0.1:%u/data.bin to %s", nginx->port, p);
        ck_assert_str_eq(test_report_change(first, 0, 0), want);
        ck_assert_uint_eq(test_report_n_changes(first, 0), 1);
        data = test_read(p);
        ck_assert_str_eq(data, PAYLOAD);
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0640);
        ck_assert_uint_eq(st.st_uid, test_user_uid());
        ck_assert_uint_eq(st.st_gid, test_nogroup_gid());
        assert_requests("GET 200");
        test_assert_out_entries(1);

        /* The file has the hash: not even a request. */
        second = test_run_recipe(yaml, false, 0);
        ck_assert_str_eq(test_report_status(second, 0), "up_to_date");
        ck_assert_int_eq(lstat(p, &st2), 0);
        test_assert_same_file(&st, &st2);
        assert_no_new_requests("GET 200");
}
END_TEST

START_TEST(conditional_get) {
        _cleanup_free_ char *p = test_out_path("data"), *yaml = recipe("f", ""), *data = NULL;
        _cleanup_free_ char *state_path = NULL, *state = NULL, *url = NULL;
        _cleanup_json_ json_object *first = NULL, *second = NULL, *third = NULL;
        char hash[65];
        struct stat st, st2;

        serve("f", PAYLOAD);
        first = test_run_recipe(yaml, false, 0);
        ck_assert_str_eq(test_report_status(first, 0), "changed");
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0644);

        /* The validators are kept beside the cookbooks (test_converge's cache_dir). */
        ck_assert_int_eq(sha256_hex(p, strlen(p), hash), 0);
        state_path = strf("%s/.cache/remote_file/%s.json", test_cookbooks, hash);
        state = test_read(state_path);
        ck_assert_ptr_nonnull(state);
        url = strf("\"url\":\"http:\\/\\/127.0.0.1:%u\\/f\"", nginx->port);
        ck_assert_ptr_nonnull(strstr(state, url));
        ck_assert_ptr_nonnull(strstr(state, "\"sha256\":\"" PAYLOAD_SHA256 "\""));
        ck_assert_ptr_nonnull(strstr(state, "\"etag\":\"\\\""));

        second = test_run_recipe(yaml, false, 0);
        ck_assert_str_eq(test_report_status(second, 0), "up_to_date");
        ck_assert_int_eq(lstat(p, &st2), 0);
        test_assert_same_file(&st, &st2);
        assert_requests("GET 200,GET 304");

        serve("f", PAYLOAD2);
        third = test_run_recipe(yaml, false, 0);
        ck_assert_str_eq(test_report_status(third, 0), "changed");
        data = test_read(p);
        ck_assert_str_eq(data, PAYLOAD2);
        assert_requests("GET 200,GET 304,GET 200");
        test_assert_out_entries(1);
}
END_TEST

START_TEST(why_run) {
        _cleanup_free_ char *p = test_out_path("data"), *yaml = recipe("f", ""), *data = NULL;
        _cleanup_json_ json_object *r1 = NULL, *r2 = NULL, *r3 = NULL, *r4 = NULL;

        serve("f", PAYLOAD);
        r1 = test_run_recipe(yaml, true, 0);
        ck_assert_str_eq(test_report_status(r1, 0), "changed");
        ck_assert_uint_eq(test_report_n_changes(r1, 0), 1);
        ck_assert_int_eq(access(p, F_OK), -1);
        test_assert_out_entries(0);
        assert_no_new_requests("");

        r2 = test_run_recipe(yaml, false, 0);
        ck_assert_str_eq(test_report_status(r2, 0), "changed");

        /* With validators why-run asks with a conditional HEAD. */
        r3 = test_run_recipe(yaml, true, 0);
        ck_assert_str_eq(test_report_status(r3, 0), "up_to_date");
        assert_requests("GET 200,HEAD 304");

        serve("f", PAYLOAD2);
        r4 = test_run_recipe(yaml, true, 0);
        ck_assert_str_eq(test_report_status(r4, 0), "changed");
        assert_requests("GET 200,HEAD 304,HEAD 200");
        data = test_read(p);
        ck_assert_str_eq(data, PAYLOAD);
        test_assert_out_entries(1);
}
END_TEST

START_TEST(sha256_mismatch) {
        _cleanup_free_ char *p = test_out_path("data"), *yaml = NULL, *want = NULL, *data = NULL;
        _cleanup_json_ json_object *r1 = NULL, *r2 = NULL;
        static const char zeros[] =
                "0000000000000000000000000000000000000000000000000000000000000000";
        _cleanup_free_ char *more = strf("    sha256: '%s'\n", zeros);

        serve("f", PAYLOAD);
        yaml = recipe("f", more);
        r1 = test_run_recipe(yaml, false, 1);
        ck_assert_str_eq(test_report_status(r1, 0), "failed");
        want = strf("GET http://127.0.0.1:%u/f: sha256 mismatch: expected %s, got %s; %s left "
                    "unchanged",
                    nginx->port, zeros, PAYLOAD_SHA256, p);
        ck_assert_str_eq(test_report_error(r1, 0), want);
        ck_assert_uint_eq(test_report_n_changes(r1, 0), 0);
        test_assert_out_entries(0);

        /* An existing file stays as it was. */
        test_write(p, "old\n");
        r2 = test_run_recipe(yaml, false, 1);
        ck_assert_str_eq(test_report_error(r2, 0), want);
        data = test_read(p);
        ck_assert_str_eq(data, "old\n");
        test_assert_out_entries(1);
}
END_TEST

START_TEST(http_error) {
        _cleanup_free_ char *p = test_out_path("data"), *yaml = recipe("missing", ""), *want = NULL;
        _cleanup_json_ json_object *report = NULL;

        report = test_run_recipe(yaml, false, 1);
        ck_assert_str_eq(test_report_status(report, 0), "failed");
        want = strf("GET http://127.0.0.1:%u/missing: HTTP status 404", nginx->port);
        ck_assert_str_eq(test_report_error(report, 0), want);
        ck_assert_int_eq(access(p, F_OK), -1);
        test_assert_out_entries(0);
        assert_requests("GET 404");
}
END_TEST

START_TEST(connection_refused) {
        _cleanup_free_ char *yaml = NULL, *want = NULL;
        _cleanup_json_ json_object *report = NULL;
        unsigned closed = test_free_port();

        yaml = strf("- remote_file: {path: '{{out}}/data', url: 'http://127.0.0.1:%u/f'}\n",
                    closed);
        report = test_run_recipe(yaml, false, 1);
        want = strf("GET http://127.0.0.1:%u/f: ", closed);
        ck_assert_msg(startswith(test_report_error(report, 0), want), "error: %s",
                      test_report_error(report, 0));
        test_assert_out_entries(0);
}
END_TEST

START_TEST(local_edit_is_replaced) {
        _cleanup_free_ char *p = test_out_path("data"), *yaml = recipe("f", ""), *data = NULL;
        _cleanup_json_ json_object *first = NULL, *second = NULL;

        serve("f", PAYLOAD);
        first = test_run_recipe(yaml, false, 0);
        ck_assert_str_eq(test_report_status(first, 0), "changed");
        test_write(p, "edited by hand\n");

        /* The recorded hash no longer matches: no conditional request, a full download. */
        second = test_run_recipe(yaml, false, 0);
        ck_assert_str_eq(test_report_status(second, 0), "changed");
        data = test_read(p);
        ck_assert_str_eq(data, PAYLOAD);
        assert_requests("GET 200,GET 200");
}
END_TEST

START_TEST(bad_properties) {
        test_expect_error("- remote_file: {path: /tmp/a, url: 'http://h/x'}\n- remote_file:\n"
                          "    path: /tmp/b\n    url: 'http://h/x'\n    checksum: abc\n",
                          "recipes/default.yaml:2:", "unknown property 'checksum'");
        test_expect_error("- remote_file: {path: /tmp/a}\n",
                          "recipes/default.yaml:1:", "property 'url' is required");
        test_expect_error(
                "- remote_file: {path: /tmp/a, url: 'ftp://h/x'}\n",
                "recipes/default.yaml:1:", "url 'ftp://h/x' must be an http:// or https:// URL");
        test_expect_error("- remote_file: {path: /tmp/a, url: 'file:///etc/passwd'}\n",
                          "recipes/default.yaml:1:", "must be an http:// or https:// URL");
        test_expect_error("- remote_file: {path: /tmp/a, url: 'http://h/x', sha256: " PAYLOAD_SHA256
                          "0}\n",
                          "recipes/default.yaml:1:", "must be 64 lowercase hexadecimal digits");
        test_expect_error(
                "- remote_file: {path: /tmp/a, url: 'http://h/x', "
                "sha256: 1AC30FD677168DFFA8E69A4C83256BC951FD9D50AB6D8774F60D279F84EE6406}\n",
                "recipes/default.yaml:1:", "must be 64 lowercase hexadecimal digits");
        test_expect_error("- remote_file: {path: /tmp/a, url: 'http://h/x', mode: 'abc'}\n",
                          "recipes/default.yaml:1:", "property 'mode' must be");
        test_expect_error("- remote_file: {path: a, url: 'http://h/x'}\n",
                          "recipes/default.yaml:1:", "path 'a' must be absolute");
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("res-remote-file");
        TCase *tc = tcase_create("remote_file");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, download_with_sha256);
        tcase_add_test(tc, conditional_get);
        tcase_add_test(tc, why_run);
        tcase_add_test(tc, sha256_mismatch);
        tcase_add_test(tc, http_error);
        tcase_add_test(tc, connection_refused);
        tcase_add_test(tc, local_edit_is_replaced);
        tcase_add_test(tc, bad_properties);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
