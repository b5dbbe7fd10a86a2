/* SPDX-License-Identifier: MIT */
/* http-download against a private nginx (static files, basic auth, ETag/304, redirects) and a
 * flaky server (5xx then success) on 127.0.0.1. */
#include <ctype.h>
#include <dirent.h>
#include <sys/stat.h>

#include "fs-util.h"
#include "http-download.h"
#include "server-flaky.h"
#include "server-nginx.h"
#include "str-util.h"
#include "test-helpers.h"

/* Bytes with a NUL and high bytes in them, as an archive has. */
static const char ARCHIVE[] = "\x1f\x8b\x08\x00strata\x00\xff\xfe archive bytes\n";
#define ARCHIVE_SIZE (sizeof(ARCHIVE) - 1)
#define NGINX_CONFIG                                                                               \
        "location /private/ { auth_basic \"strata\"; auth_basic_user_file htpasswd; }\n"           \
        "location = /old.tgz { return 302 /a.tgz; }\n"                                             \
        "location = /loop { return 302 /loop; }\n"

static TestNginx *nginx;
static char *cache;

static void setup(void) {
        nginx = test_nginx_start(NGINX_CONFIG);
        test_nginx_htpasswd(nginx, "htpasswd", "deploy", "s3cr3t");
        test_nginx_serve(nginx, "a.tgz", ARCHIVE, ARCHIVE_SIZE);
        test_nginx_serve(nginx, "private/a.tgz", ARCHIVE, ARCHIVE_SIZE);
        cache = test_tmpdir();
        /* No proxy from the environment the tests run in, unless a test sets one. */
        unsetenv("http_proxy");
        unsetenv("HTTP_PROXY");
        unsetenv("https_proxy");
        unsetenv("HTTPS_PROXY");
        unsetenv("all_proxy");
        unsetenv("ALL_PROXY");
        unsetenv("NO_PROXY");
        unsetenv("no_proxy");
}

static void teardown(void) {
        test_nginx_free(nginx);
        nginx = NULL;
        test_rmdir(cache);
        cache = mfree(cache);
        unsetenv("http_proxy");
        unsetenv("NO_PROXY");
        unsetenv("no_proxy");
}

static HttpDownloadOptions options(void) {
        return (HttpDownloadOptions){
                .cache_dir = cache,
                .attempts = 3,
                .retry_delay = 10 * USEC_PER_MSEC,
                .retry_delay_max = 40 * USEC_PER_MSEC,
        };
}

static char *url(const char *path) {
        char *u = strf("%s/%s", nginx->url, path);

        ck_assert_ptr_nonnull(u);
        return u;
}

static char *sha256_of(const void *data, size_t size) {
        char h[65];

        ck_assert_int_eq(sha256_hex(data, size, h), 0);
        return strdup(h);
}

/* nginx's ETag of a served file: "<mtime hex>-<size hex>". */
static char *nginx_etag(const char *name) {
        _cleanup_free_ char *p = strf("%s/%s", nginx->docroot, name);
        struct stat st;

        ck_assert_int_eq(stat(p, &st), 0);
        return strf("\"%lx-%lx\"", (unsigned long)st.st_mtime, (unsigned long)st.st_size);
}

/* The cache's downloads/ holds exactly these names, sorted, joined with ",". */
static void assert_cache_entries(const char *want) {
        _cleanup_free_ char *dir = strf("%s/downloads", cache), *got = NULL;
        _cleanup_strv_free_ char **l = NULL;
        struct dirent **names = NULL;
        int n = scandir(dir, &names, NULL, alphasort);

        ck_assert_int_ge(n, 0);
        for (int i = 0; i < n; i++) {
                if (!streq(names[i]->d_name, ".") && !streq(names[i]->d_name, ".."))
                        ck_assert_int_eq(strv_extend(&l, names[i]->d_name), 0);
                free(names[i]);
        }
        free(names);
        got = l ? strv_join(l, ",") : strdup("");
        ck_assert_str_eq(got, want);
}

/* The cached file holds exactly these bytes, 0600, owned by us (root). */
static void assert_download(const char *path, const char *data, size_t size) {
        _cleanup_free_ char *got = NULL;
        struct stat st;
        size_t len;

        ck_assert_int_eq(read_full_file(path, 1024, &got, &len), 0);
        ck_assert_uint_eq(len, size);
        ck_assert_mem_eq(got, data, size);
        ck_assert_int_eq(lstat(path, &st), 0);
        ck_assert(S_ISREG(st.st_mode));
        ck_assert_uint_eq(st.st_mode & 07777, 0600);
        ck_assert_uint_eq(st.st_uid, getuid());
}

static char *url_hash(const char *u) {
        return sha256_of(u, strlen(u));
}

START_TEST(download_and_reuse) {
        _cleanup_free_ char *u = url("a.tgz"), *hash = url_hash(u), *want_path = NULL,
                            *sum = sha256_of(ARCHIVE, ARCHIVE_SIZE), *etag = nginx_etag("a.tgz"),
                            *entries = NULL, *dir = strf("%s/downloads", cache);
        HttpDownloadOptions o = options();
        HttpDownloadResult r = {}, r2 = {}, r3 = {};
        _cleanup_free_ char *error = NULL;
        struct stat st;

        ck_assert_int_eq(http_download(u, &o, &r, &error), 0);
        want_path = strf("%s/downloads/%s", cache, hash);
        ck_assert_str_eq(r.path, want_path);
        ck_assert(r.downloaded);
        ck_assert_uint_eq(r.attempts, 1);
        ck_assert_str_eq(r.sha256, sum);
        ck_assert_str_eq(r.etag, etag);
        assert_download(r.path, ARCHIVE, ARCHIVE_SIZE);
        ck_assert_int_eq(stat(dir, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0700);
        entries = strf("%1$s,%1$s.json,%1$s.lock", hash);
        assert_cache_entries(entries);
        test_nginx_assert_requests(nginx, true, "GET /a.tgz 200");

        /* Unchanged: a 304, the cached file reused. */
        ck_assert_int_eq(http_download(u, &o, &r2, &error), 0);
        ck_assert(!r2.downloaded);
        ck_assert_str_eq(r2.path, want_path);
        ck_assert_str_eq(r2.sha256, sum);
        ck_assert_str_eq(r2.etag, etag);
        test_nginx_assert_requests(nginx, true, "GET /a.tgz 200,GET /a.tgz 304");

        /* Changed: downloaded again, the new bytes in the same place. */
        test_nginx_serve(nginx, "a.tgz", "new archive", 11);
        ck_assert_int_eq(http_download(u, &o, &r3, &error), 0);
        ck_assert(r3.downloaded);
        ck_assert_str_eq(r3.path, want_path);
        test_assert_file(r3.path, "new archive", 0600, 0, 0);
        test_nginx_assert_requests(nginx, true, "GET /a.tgz 200,GET /a.tgz 304,GET /a.tgz 200");
        assert_cache_entries(entries);

        http_download_result_done(&r);
        http_download_result_done(&r2);
        http_download_result_done(&r3);
}
END_TEST

/* The file behind the validators is gone: asked for without them. */
START_TEST(cached_file_removed) {
        _cleanup_free_ char *u = url("a.tgz"), *error = NULL;
        HttpDownloadOptions o = options();
        HttpDownloadResult r = {}, r2 = {};

        ck_assert_int_eq(http_download(u, &o, &r, &error), 0);
        ck_assert_int_eq(unlink(r.path), 0);
        ck_assert_int_eq(http_download(u, &o, &r2, &error), 0);
        ck_assert(r2.downloaded);
        test_nginx_assert_requests(nginx, true, "GET /a.tgz 200,GET /a.tgz 200");
        http_download_result_done(&r);
        http_download_result_done(&r2);
}
END_TEST

/* The cached file was changed behind our back: not trusted, asked for without validators. */
START_TEST(cached_file_changed) {
        _cleanup_free_ char *u = url("a.tgz"), *error = NULL;
        HttpDownloadOptions o = options();
        HttpDownloadResult r = {}, r2 = {};

        ck_assert_int_eq(http_download(u, &o, &r, &error), 0);
        test_write(r.path, "tampered");
        ck_assert_int_eq(http_download(u, &o, &r2, &error), 0);
        ck_assert(r2.downloaded);
        assert_download(r2.path, ARCHIVE, ARCHIVE_SIZE);
        test_nginx_assert_requests(nginx, true, "GET /a.tgz 200,GET /a.tgz 200");
        http_download_result_done(&r);
        http_download_result_done(&r2);
}
END_TEST

START_TEST(basic_auth) {
        _cleanup_free_ char *u = url("private/a.tgz"), *want = NULL, *error = NULL, *error2 = NULL,
                            *sum = sha256_of(ARCHIVE, ARCHIVE_SIZE);
        HttpDownloadOptions o = options();
        HttpDownloadResult r = {};

        /* No credentials, then a wrong password: 401, never retried. */
        want = strf("GET %s: HTTP 401", u);
        ck_assert_int_eq(http_download(u, &o, &r, &error), -EIO);
        ck_assert_str_eq(error, want);
        o.username = "deploy";
        o.password = "wrong";
        ck_assert_int_eq(http_download(u, &o, &r, &error2), -EIO);
        ck_assert_str_eq(error2, want);
        test_nginx_assert_requests(nginx, true, "GET /private/a.tgz 401,GET /private/a.tgz 401");

        o.password = "s3cr3t";
        ck_assert_int_eq(http_download(u, &o, &r, NULL), 0);
        ck_assert_str_eq(r.sha256, sum);
        test_nginx_assert_requests(nginx, true,
                                   "GET /private/a.tgz 401,GET /private/a.tgz 401,"
                                   "GET /private/a.tgz 200");
        http_download_result_done(&r);
}
END_TEST

START_TEST(sha256_checked) {
        _cleanup_free_ char *u = url("a.tgz"), *sum = sha256_of(ARCHIVE, ARCHIVE_SIZE),
                            *want = NULL, *error = NULL, *upper = strdup(sum);
        const char *zeros = "0000000000000000000000000000000000000000000000000000000000000000";
        HttpDownloadOptions o = options();
        HttpDownloadResult r = {};

        o.sha256 = zeros;
        ck_assert_int_eq(http_download(u, &o, &r, &error), -EBADMSG);
        want = strf("GET %s: sha256 mismatch: expected %s, got %s", u, zeros, sum);
        ck_assert_str_eq(error, want);
        /* Nothing kept: no file, no validators, no temporary file. */
        {
                _cleanup_free_ char *hash = url_hash(u), *lock = strf("%s.lock", hash);

                assert_cache_entries(lock);
        }

        for (char *p = upper; *p; p++)
                *p = (char)toupper((unsigned char)*p);
        o.sha256 = upper;
        ck_assert_int_eq(http_download(u, &o, &r, NULL), 0);
        ck_assert_str_eq(r.sha256, sum);
        http_download_result_done(&r);
}
END_TEST

START_TEST(not_found_not_retried) {
        _cleanup_free_ char *u = url("missing.tgz"), *want = NULL, *error = NULL;
        HttpDownloadOptions o = options();
        HttpDownloadResult r = {};

        o.attempts = 4;
        ck_assert_int_eq(http_download(u, &o, &r, &error), -EIO);
        want = strf("GET %s: HTTP 404", u);
        ck_assert_str_eq(error, want);
        test_nginx_assert_no_new_requests(nginx, true, "GET /missing.tgz 404");
}
END_TEST

START_TEST(server_error_retried) {
        TestFlaky *f = test_flaky_start("third time lucky\n", 2, 500);
        HttpDownloadOptions o = options();
        HttpDownloadResult r = {};
        _cleanup_free_ char *error = NULL, *requests = NULL;

        ck_assert_int_eq(http_download(f->url, &o, &r, &error), 0);
        ck_assert(r.downloaded);
        ck_assert_uint_eq(r.attempts, 3);
        test_assert_file(r.path, "third time lucky\n", 0600, 0, 0);
        requests = test_flaky_requests(f);
        ck_assert_str_eq(requests, "GET /file 500,GET /file 500,GET /file 200");
        http_download_result_done(&r);
        test_flaky_free(f);
}
END_TEST

START_TEST(server_error_gives_up) {
        TestFlaky *f = test_flaky_start("never\n", 10, 503);
        HttpDownloadOptions o = options();
        HttpDownloadResult r = {};
        _cleanup_free_ char *error = NULL, *requests = NULL, *want = NULL;

        ck_assert_int_eq(http_download(f->url, &o, &r, &error), -EIO);
        want = strf("GET %s: HTTP 503 (after 3 attempts)", f->url);
        ck_assert_str_eq(error, want);
        requests = test_flaky_requests(f);
        ck_assert_str_eq(requests, "GET /file 503,GET /file 503,GET /file 503");
        test_flaky_free(f);
}
END_TEST

START_TEST(forbidden_not_retried) {
        TestFlaky *f = test_flaky_start("later\n", 1, 403);
        HttpDownloadOptions o = options();
        HttpDownloadResult r = {};
        _cleanup_free_ char *error = NULL, *requests = NULL, *want = NULL;

        ck_assert_int_eq(http_download(f->url, &o, &r, &error), -EIO);
        want = strf("GET %s: HTTP 403", f->url);
        ck_assert_str_eq(error, want);
        requests = test_flaky_requests(f);
        ck_assert_str_eq(requests, "GET /file 403");
        test_flaky_free(f);
}
END_TEST

START_TEST(connection_refused_retried) {
        _cleanup_free_ char *u = strf("http://127.0.0.1:%u/a.tgz", test_free_port()),
                            *prefix = NULL, *error = NULL;
        HttpDownloadOptions o = options();
        HttpDownloadResult r = {};

        o.attempts = 2;
        ck_assert_int_eq(http_download(u, &o, &r, &error), -EIO);
        prefix = strf("GET %s: Failed to connect to 127.0.0.1 port", u);
        ck_assert_msg(startswith(error, prefix), "error: %s", error);
        ck_assert_msg(endswith(error, "(after 2 attempts)"), "error: %s", error);
}
END_TEST

START_TEST(proxy_from_environment) {
        _cleanup_free_ char *u = url("a.tgz"), *proxy = NULL, *error = NULL, *prefix = NULL;
        unsigned dead = test_free_port();
        HttpDownloadOptions o = options();
        HttpDownloadResult r = {};

        o.attempts = 1;
        proxy = strf("http://127.0.0.1:%u", dead);
        ck_assert_int_eq(setenv("http_proxy", proxy, 1), 0);
        ck_assert_int_eq(http_download(u, &o, &r, &error), -EIO);
        prefix = strf("GET %s: Failed to connect to 127.0.0.1 port %u", u, dead);
        ck_assert_msg(startswith(error, prefix), "error: %s", error);
        test_nginx_assert_no_new_requests(nginx, true, "");

        ck_assert_int_eq(setenv("NO_PROXY", "example.com,127.0.0.1", 1), 0);
        ck_assert_int_eq(http_download(u, &o, &r, NULL), 0);
        test_nginx_assert_requests(nginx, true, "GET /a.tgz 200");
        http_download_result_done(&r);
}
END_TEST

START_TEST(no_proxy_list) {
        _cleanup_free_ char *none = NULL, *both = NULL, *star = NULL;

        unsetenv("NO_PROXY");
        unsetenv("no_proxy");
        none = http_no_proxy();
        ck_assert_str_eq(none, "169.254.169.254");
        setenv("NO_PROXY", "a.example,10.0.0.0/8", 1);
        setenv("no_proxy", "b.example", 1);
        both = http_no_proxy();
        ck_assert_str_eq(both, "a.example,10.0.0.0/8,b.example,169.254.169.254");
        setenv("no_proxy", "*", 1);
        star = http_no_proxy();
        ck_assert_str_eq(star, "*");
}
END_TEST

START_TEST(redirects) {
        _cleanup_free_ char *u = url("old.tgz"), *loop = url("loop"), *want = NULL, *error = NULL,
                            *sum = sha256_of(ARCHIVE, ARCHIVE_SIZE);
        HttpDownloadOptions o = options();
        HttpDownloadResult r = {};

        ck_assert_int_eq(http_download(u, &o, &r, NULL), 0);
        ck_assert_str_eq(r.sha256, sum);
        test_nginx_assert_requests(nginx, true, "GET /old.tgz 302,GET /a.tgz 200");
        http_download_result_done(&r);

        ck_assert_int_eq(http_download(loop, &o, &r, &error), -EIO);
        want = strf("GET %s: Maximum (%d) redirects followed", loop, HTTP_DOWNLOAD_MAX_REDIRECTS);
        ck_assert_str_eq(error, want);
}
END_TEST

START_TEST(too_large) {
        _cleanup_free_ char *u = url("a.tgz"), *want = NULL, *error = NULL, *hash = url_hash(u),
                            *lock = strf("%s.lock", hash);
        HttpDownloadOptions o = options();
        HttpDownloadResult r = {};

        o.max_size = 10;
        ck_assert_int_eq(http_download(u, &o, &r, &error), -EIO);
        want = strf("GET %s: larger than 10 bytes", u);
        ck_assert_str_eq(error, want);
        assert_cache_entries(lock);
}
END_TEST

START_TEST(bad_urls) {
        HttpDownloadOptions o = options();
        HttpDownloadResult r = {};
        _cleanup_free_ char *e1 = NULL, *e2 = NULL;

        ck_assert_int_eq(http_download("ftp://127.0.0.1/a.tgz", &o, &r, &e1), -EINVAL);
        ck_assert_str_eq(e1, "ftp://127.0.0.1/a.tgz: expected an http or https URL");
        ck_assert_int_eq(http_download("file:///etc/passwd", &o, &r, &e2), -EINVAL);
        ck_assert_str_eq(e2, "file:///etc/passwd: expected an http or https URL");
}
END_TEST

START_TEST(url_mask) {
        _cleanup_free_ char *a = http_url_mask(
                                    "https://user:pw@example.com/a.tgz?X-Amz-Signature=1"),
                            *b = http_url_mask("http://example.com:8080/x/y.tgz");

        ck_assert_str_eq(a, "https://example.com/a.tgz");
        ck_assert_str_eq(b, "http://example.com:8080/x/y.tgz");
}
END_TEST

/* Credentials in the URL never reach the error text. */
START_TEST(error_hides_credentials) {
        _cleanup_free_ char *u = strf("http://deploy:s3cr3t@127.0.0.1:%u/missing", nginx->port),
                            *want = NULL, *error = NULL;
        HttpDownloadOptions o = options();
        HttpDownloadResult r = {};

        ck_assert_int_eq(http_download(u, &o, &r, &error), -EIO);
        want = strf("GET http://127.0.0.1:%u/missing: HTTP 404", nginx->port);
        ck_assert_str_eq(error, want);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("http-download");
        TCase *tc = tcase_create("http_download");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, download_and_reuse);
        tcase_add_test(tc, cached_file_removed);
        tcase_add_test(tc, cached_file_changed);
        tcase_add_test(tc, basic_auth);
        tcase_add_test(tc, sha256_checked);
        tcase_add_test(tc, not_found_not_retried);
        tcase_add_test(tc, server_error_retried);
        tcase_add_test(tc, server_error_gives_up);
        tcase_add_test(tc, forbidden_not_retried);
        tcase_add_test(tc, connection_refused_retried);
        tcase_add_test(tc, proxy_from_environment);
        tcase_add_test(tc, no_proxy_list);
        tcase_add_test(tc, redirects);
        tcase_add_test(tc, too_large);
        tcase_add_test(tc, bad_urls);
        tcase_add_test(tc, url_mask);
        tcase_add_test(tc, error_hides_credentials);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
