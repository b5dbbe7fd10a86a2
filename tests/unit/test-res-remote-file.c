/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "fs-util.h"
#include "str-util.h"
#include "test-helpers.h"

static char *web; /* nginx prefix: nginx.conf, logs, docroot/ */
static pid_t nginx_pid;
static unsigned port;

#define PAYLOAD "payload bytes\n"
#define PAYLOAD_SHA256 "1ac30fd677168dffa8e69a4c83256bc951fd9d50ab6d8774f60d279f84ee6406"
#define PAYLOAD2 "second version, longer\n"

static unsigned free_port(void) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &a, sizeof(a)), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *) &a, &len), 0);
        close(fd);
        return ntohs(a.sin_port);
}

static bool port_open(unsigned p) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t) p),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool ok;

        ck_assert_int_ge(fd, 0);
        ok = connect(fd, (struct sockaddr *) &a, sizeof(a)) == 0;
        close(fd);
        return ok;
}

/* A private nginx on 127.0.0.1:port serving web/docroot, everything it writes inside web. */
static void nginx_start(void) {
        _cleanup_free_ char *conf = NULL, *conf_path = NULL, *docroot = NULL, *errlog = NULL;
        struct timespec pause = { 0, 10 * 1000 * 1000 };

        port = free_port();
        conf = strf("daemon off;\n"
                    "worker_processes 1;\n"
                    "pid %1$s/nginx.pid;\n"
                    "error_log %1$s/error.log;\n"
                    "events { worker_connections 64; }\n"
                    "http {\n"
                    "    access_log %1$s/access.log;\n"
                    "    client_body_temp_path %1$s/client_body;\n"
                    "    proxy_temp_path %1$s/proxy;\n"
                    "    fastcgi_temp_path %1$s/fastcgi;\n"
                    "    uwsgi_temp_path %1$s/uwsgi;\n"
                    "    scgi_temp_path %1$s/scgi;\n"
                    "    server { listen 127.0.0.1:%2$u; root %1$s/docroot; }\n"
                    "}\n",
                    web, port);
        conf_path = strf("%s/nginx.conf", web);
        docroot = strf("%s/docroot", web);
        errlog = strf("%s/error.log", web);
        test_write(conf_path, conf);
        ck_assert_int_eq(mkdir(docroot, 0755), 0);

        nginx_pid = fork();
        ck_assert_int_ge(nginx_pid, 0);
        if (nginx_pid == 0) {
                execlp("nginx", "nginx", "-p", web, "-c", conf_path, "-e", errlog, (char *) NULL);
                /* A PATH without sbin (a non-root shell) still finds Debian's nginx. */
                execl("/usr/sbin/nginx", "nginx", "-p", web, "-c", conf_path, "-e", errlog,
                      (char *) NULL);
                _exit(127);
        }

        for (unsigned i = 0; i < 1000; i++) {
                int status;

                if (port_open(port))
                        return;
                if (waitpid(nginx_pid, &status, WNOHANG) == nginx_pid) {
                        _cleanup_free_ char *log = test_read(errlog);

                        nginx_pid = 0;
                        ck_abort_msg("nginx exited with status %d (is nginx installed?): %s",
                                     status, strempty(log));
                }
                nanosleep(&pause, NULL);
        }
        ck_abort_msg("nginx did not listen on 127.0.0.1:%u within 10 s", port);
}

static void setup(void) {
        test_recipe_setup();
        web = test_tmpdir();
        nginx_start();
}

static void teardown(void) {
        if (nginx_pid > 0) {
                kill(nginx_pid, SIGTERM);
                waitpid(nginx_pid, NULL, 0);
                nginx_pid = 0;
        }
        test_recipe_teardown();
        test_rmdir(web);
        web = mfree(web);
}

static void serve(const char *name, const char *content) {
        _cleanup_free_ char *p = strf("%s/docroot/%s", web, name);

        test_write(p, content);
}

/* The requests nginx saw, "METHOD STATUS" joined with ",". */
static char *requests(void) {
        _cleanup_free_ char *p = strf("%s/access.log", web), *log = test_read(p);
        _cleanup_strv_free_ char **l = NULL;
        char *line = log, *r;

        while (line && *line) {
                char *nl = strchr(line, '\n'), *q = strchr(line, '"'), *sp, *end;

                ck_assert_ptr_nonnull(nl);
                ck_assert_ptr_nonnull(q);
                sp = strchr(q + 1, ' ');
                end = strchr(q + 1, '"');
                ck_assert_ptr_nonnull(sp);
                ck_assert_ptr_nonnull(end);
                ck_assert_int_eq(strv_push(&l, strf("%.*s %.3s", (int) (sp - q - 1), q + 1,
                                                    end + 2)),
                                 0);
                line = nl + 1;
        }
        r = l ? strv_join(l, ",") : strdup("");
        ck_assert_ptr_nonnull(r);
        return r;
}

/* nginx logs a request after it has answered it: give the log line a moment to appear. */
static void assert_requests(const char *want) {
        struct timespec pause = { 0, 10 * 1000 * 1000 };
        char *got = NULL;

        for (unsigned i = 0; i < 200; i++) {
                free(got);
                got = requests();
                if (streq(got, want))
                        break;
                nanosleep(&pause, NULL);
        }
        ck_assert_str_eq(got, want);
        free(got);
}

/* For "no request was made": wait longer than a log line takes, then compare. */
static void assert_no_new_requests(const char *want) {
        struct timespec settle = { 0, 200 * 1000 * 1000 };
        _cleanup_free_ char *got = NULL;

        nanosleep(&settle, NULL);
        got = requests();
        ck_assert_str_eq(got, want);
}

/* A recipe downloading name from the test's nginx to out/data. */
static char *recipe(const char *name, const char *more) {
        char *y = strf("- remote_file:\n"
                       "    path: '{{out}}/data'\n"
                       "    url: http://127.0.0.1:%u/%s\n"
                       "%s",
                       port, name, more);

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
        want = strf("download http://127.0.0.1:%u/data.bin to %s", port, p);
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
        url = strf("\"url\":\"http:\\/\\/127.0.0.1:%u\\/f\"", port);
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
                    port, zeros, PAYLOAD_SHA256, p);
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
        want = strf("GET http://127.0.0.1:%u/missing: HTTP status 404", port);
        ck_assert_str_eq(test_report_error(report, 0), want);
        ck_assert_int_eq(access(p, F_OK), -1);
        test_assert_out_entries(0);
        assert_requests("GET 404");
}
END_TEST

START_TEST(connection_refused) {
        _cleanup_free_ char *yaml = NULL, *want = NULL;
        _cleanup_json_ json_object *report = NULL;
        unsigned closed = free_port();

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
