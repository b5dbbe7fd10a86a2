/* SPDX-License-Identifier: MIT */
/* s3: URL forms and error texts, and downloads signed for a private s3rver (which checks SigV4
 * signatures) with credentials from the source, the environment and the fake IMDS. */
#include <sys/stat.h>

#include "fs-util.h"
#include "imds.h"
#include "s3.h"
#include "server-imds.h"
#include "server-s3.h"
#include "str-util.h"
#include "test-helpers.h"

#define KEY_ID "AKIDSTRATATEST"
#define SECRET "strata/secret+key"
#define ARCHIVE "\x1f\x8b\x08\x00s3 object\x00\xff bytes\n"
#define ARCHIVE_SIZE (sizeof(ARCHIVE) - 1)

static TestS3 *s3;
static char *cache;
static size_t requests_before; /* the length of s3rver's request log when the test started */

static void start_s3(void) {
        s3 = test_s3_start(KEY_ID, SECRET, STRV_MAKE("apps", "other"));
        test_s3_put(s3, "apps", "app.tgz", ARCHIVE, ARCHIVE_SIZE);
        test_s3_put(s3, "apps", "dir/with%20space.tgz", "spaced", 6);
}

static void stop_s3(void) {
        test_s3_free(s3);
        s3 = NULL;
}

static void setup(void) {
        _cleanup_free_ char *log = test_s3_requests(s3);

        /* test_s3_requests() drops the last newline. */
        requests_before = strlen(log) + (log[0] ? 1 : 0);
        cache = test_tmpdir();
        unsetenv("AWS_ACCESS_KEY_ID");
        unsetenv("AWS_SECRET_ACCESS_KEY");
        unsetenv("AWS_SESSION_TOKEN");
        unsetenv("http_proxy");
        unsetenv("HTTP_PROXY");
        unsetenv("all_proxy");
        unsetenv("ALL_PROXY");
        imds_forget();
}

static void teardown(void) {
        test_rmdir(cache);
        cache = mfree(cache);
        unsetenv("AWS_ACCESS_KEY_ID");
        unsetenv("AWS_SECRET_ACCESS_KEY");
        unsetenv("AWS_SESSION_TOKEN");
        imds_forget();
}

static HttpDownloadOptions options(void) {
        return (HttpDownloadOptions){
                .cache_dir = cache,
                .attempts = 2,
                .retry_delay = 10 * USEC_PER_MSEC,
        };
}

static void assert_bytes(const char *path, const char *data, size_t size) {
        _cleanup_free_ char *got = NULL;
        size_t len;

        ck_assert_int_eq(read_full_file(path, 1024, &got, &len), 0);
        ck_assert_uint_eq(len, size);
        ck_assert_mem_eq(got, data, size);
}

/* The requests s3rver saw since the test started. */
static void assert_s3_requests(const char *want) {
        _cleanup_free_ char *got = test_s3_requests(s3);

        ck_assert_uint_ge(strlen(got), requests_before);
        ck_assert_str_eq(got + requests_before, want);
}

START_TEST(source_credentials) {
        S3Source s = {.url = "s3://apps/app.tgz",
                      .endpoint = s3->endpoint,
                      .access_key_id = KEY_ID,
                      .secret_access_key = SECRET};
        HttpDownloadOptions o = options();
        HttpDownloadResult r = {}, r2 = {};
        _cleanup_free_ char *error = NULL;

        ck_assert_int_eq(s3_download(&s, &o, NULL, &r, &error), 0);
        ck_assert(r.downloaded);
        assert_bytes(r.path, ARCHIVE, ARCHIVE_SIZE);
        ck_assert_ptr_nonnull(r.etag);

        /* Unchanged: 304, signed like the first. */
        ck_assert_int_eq(s3_download(&s, &o, NULL, &r2, &error), 0);
        ck_assert(!r2.downloaded);
        ck_assert_str_eq(r2.path, r.path);
        ck_assert_str_eq(r2.etag, r.etag);
        assert_s3_requests("GET /apps/app.tgz token=-\nGET /apps/app.tgz token=-");
        http_download_result_done(&r);
        http_download_result_done(&r2);
}
END_TEST

START_TEST(key_with_space) {
        S3Source s = {.url = "s3://apps/dir/with space.tgz",
                      .endpoint = s3->endpoint,
                      .access_key_id = KEY_ID,
                      .secret_access_key = SECRET};
        HttpDownloadOptions o = options();
        HttpDownloadResult r = {};
        _cleanup_free_ char *error = NULL;

        ck_assert_msg(s3_download(&s, &o, NULL, &r, &error) == 0, "%s", error);
        assert_bytes(r.path, "spaced", 6);
        http_download_result_done(&r);
}
END_TEST

START_TEST(wrong_secret) {
        S3Source s = {.url = "s3://apps/app.tgz",
                      .endpoint = s3->endpoint,
                      .access_key_id = KEY_ID,
                      .secret_access_key = "not the secret"};
        HttpDownloadOptions o = options();
        HttpDownloadResult r = {};
        _cleanup_free_ char *error = NULL, *want = NULL;

        ck_assert_int_eq(s3_download(&s, &o, NULL, &r, &error), -EIO);
        want = strf("GET %s/apps/app.tgz: HTTP 403: SignatureDoesNotMatch: The request "
                    "signature we calculated does not match the signature you provided. Check "
                    "your key and signing method.",
                    s3->endpoint);
        ck_assert_str_eq(error, want);
        /* A 4xx is not retried. */
        assert_s3_requests("GET /apps/app.tgz token=-");
}
END_TEST

START_TEST(unknown_key_id) {
        S3Source s = {.url = "s3://apps/app.tgz",
                      .endpoint = s3->endpoint,
                      .access_key_id = "AKIDUNKNOWN",
                      .secret_access_key = SECRET};
        HttpDownloadOptions o = options();
        HttpDownloadResult r = {};
        _cleanup_free_ char *error = NULL, *want = NULL;

        ck_assert_int_eq(s3_download(&s, &o, NULL, &r, &error), -EIO);
        want = strf("GET %s/apps/app.tgz: HTTP 403: InvalidAccessKeyId: The AWS Access Key Id "
                    "you provided does not exist in our records.",
                    s3->endpoint);
        ck_assert_str_eq(error, want);
}
END_TEST

START_TEST(missing_object) {
        S3Source s = {.url = "s3://apps/nope.tgz",
                      .endpoint = s3->endpoint,
                      .access_key_id = KEY_ID,
                      .secret_access_key = SECRET};
        HttpDownloadOptions o = options();
        HttpDownloadResult r = {};
        _cleanup_free_ char *error = NULL, *want = NULL;

        ck_assert_int_eq(s3_download(&s, &o, NULL, &r, &error), -EIO);
        want = strf("GET %s/apps/nope.tgz: HTTP 404: NoSuchKey: The specified key does not "
                    "exist.",
                    s3->endpoint);
        ck_assert_str_eq(error, want);
}
END_TEST

START_TEST(sha256_mismatch) {
        const char *zeros = "0000000000000000000000000000000000000000000000000000000000000000";
        S3Source s = {.url = "s3://apps/app.tgz",
                      .endpoint = s3->endpoint,
                      .access_key_id = KEY_ID,
                      .secret_access_key = SECRET};
        HttpDownloadOptions o = options();
        HttpDownloadResult r = {};
        _cleanup_free_ char *error = NULL, *want = NULL;
        char sum[65];

        ck_assert_int_eq(sha256_hex(ARCHIVE, ARCHIVE_SIZE, sum), 0);
        o.sha256 = zeros;
        ck_assert_int_eq(s3_download(&s, &o, NULL, &r, &error), -EBADMSG);
        want = strf("GET %s/apps/app.tgz: sha256 mismatch: expected %s, got %s", s3->endpoint,
                    zeros, sum);
        ck_assert_str_eq(error, want);
        o.sha256 = sum;
        ck_assert_int_eq(s3_download(&s, &o, NULL, &r, NULL), 0);
        http_download_result_done(&r);
}
END_TEST

START_TEST(session_token_sent) {
        S3Source s = {.url = "s3://apps/app.tgz",
                      .endpoint = s3->endpoint,
                      .access_key_id = KEY_ID,
                      .secret_access_key = SECRET,
                      .session_token = "FwoGZXIvYXdzEXAMPLE"};
        HttpDownloadOptions o = options();
        HttpDownloadResult r = {};

        ck_assert_int_eq(s3_download(&s, &o, NULL, &r, NULL), 0);
        assert_bytes(r.path, ARCHIVE, ARCHIVE_SIZE);
        assert_s3_requests("GET /apps/app.tgz token=FwoGZXIvYXdzEXAMPLE");
        http_download_result_done(&r);
}
END_TEST

START_TEST(half_credentials) {
        S3Source s = {
                .url = "s3://apps/app.tgz", .endpoint = s3->endpoint, .access_key_id = KEY_ID};
        HttpDownloadOptions o = options();
        HttpDownloadResult r = {};
        _cleanup_free_ char *error = NULL;

        ck_assert_int_eq(s3_download(&s, &o, NULL, &r, &error), -EINVAL);
        ck_assert_str_eq(error, "source.access_key_id and source.secret_access_key: expected both "
                                "(or neither, for the environment's or the instance profile's "
                                "credentials)");
}
END_TEST

START_TEST(environment_credentials) {
        S3Source s = {.url = "s3://apps/app.tgz", .endpoint = s3->endpoint};
        HttpDownloadOptions o = options();
        HttpDownloadResult r = {};
        _cleanup_free_ char *error = NULL;

        setenv("AWS_ACCESS_KEY_ID", KEY_ID, 1);
        setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
        setenv("AWS_SESSION_TOKEN", "env-token", 1);
        /* A dead IMDS: the environment's keys are used without asking it. */
        ck_assert_msg(s3_download(&s, &o, "http://127.0.0.1:1", &r, &error) == 0, "%s", error);
        assert_bytes(r.path, ARCHIVE, ARCHIVE_SIZE);
        assert_s3_requests("GET /apps/app.tgz token=env-token");
        http_download_result_done(&r);
}
END_TEST

START_TEST(instance_profile_credentials) {
        TestImds *imds = test_imds_start("strata-role", KEY_ID, SECRET, "role-session-token",
                                         "2099-01-01T00:00:00Z");
        S3Source s = {.url = "s3://apps/app.tgz", .endpoint = s3->endpoint};
        HttpDownloadOptions o = options();
        HttpDownloadResult r = {};
        _cleanup_free_ char *error = NULL, *imds_requests = NULL;

        ck_assert_msg(s3_download(&s, &o, imds->endpoint, &r, &error) == 0, "%s", error);
        assert_bytes(r.path, ARCHIVE, ARCHIVE_SIZE);
        assert_s3_requests("GET /apps/app.tgz token=role-session-token");
        imds_requests = test_imds_requests(imds);
        ck_assert_str_eq(imds_requests,
                         "PUT /latest/api/token 200\n"
                         "GET /latest/meta-data/iam/security-credentials/ 200\n"
                         "GET /latest/meta-data/iam/security-credentials/strata-role 200");
        http_download_result_done(&r);
        test_imds_free(imds);
}
END_TEST

START_TEST(no_credentials_anywhere) {
        TestImds *imds = test_imds_start(NULL, "-", "-", "-", "2099-01-01T00:00:00Z");
        S3Source s = {.url = "s3://apps/app.tgz", .endpoint = s3->endpoint};
        HttpDownloadOptions o = options();
        HttpDownloadResult r = {};
        _cleanup_free_ char *error = NULL, *want = NULL;

        ck_assert_int_eq(s3_download(&s, &o, imds->endpoint, &r, &error), -EIO);
        want = strf("s3 %s/apps/app.tgz: no credentials in the source or the environment: no "
                    "instance profile: this instance has no IAM role (GET "
                    "%s/latest/meta-data/iam/security-credentials/: HTTP 404)",
                    s3->endpoint, imds->endpoint);
        ck_assert_str_eq(error, want);
        test_imds_free(imds);
}
END_TEST

static void assert_location(const S3Source *s, const char *bucket, const char *key,
                            const char *region, const char *url) {
        _cleanup_(s3_location_done) S3Location l = {};
        _cleanup_free_ char *error = NULL;

        ck_assert_msg(s3_location(s, &l, &error) == 0, "%s: %s", s->url, error);
        ck_assert_str_eq(l.bucket, bucket);
        ck_assert_str_eq(l.key, key);
        ck_assert_str_eq(l.region, region);
        ck_assert_str_eq(l.url, url);
}

static void assert_location_error(const S3Source *s, const char *want) {
        _cleanup_(s3_location_done) S3Location l = {};
        _cleanup_free_ char *error = NULL;

        ck_assert_int_eq(s3_location(s, &l, &error), -EINVAL);
        ck_assert_str_eq(error, want);
}

START_TEST(url_forms) {
        assert_location(&(S3Source){.url = "s3://my-bucket/apps/a b.tgz"}, "my-bucket",
                        "apps/a%20b.tgz", "us-east-1",
                        "https://my-bucket.s3.us-east-1.amazonaws.com/apps/a%20b.tgz");
        assert_location(&(S3Source){.url = "s3://my-bucket/a.tgz", .region = "eu-west-1"},
                        "my-bucket", "a.tgz", "eu-west-1",
                        "https://my-bucket.s3.eu-west-1.amazonaws.com/a.tgz");
        assert_location(&(S3Source){.url = "https://my-bucket.s3.ap-south-1.amazonaws.com/k/a.tgz"},
                        "my-bucket", "k/a.tgz", "ap-south-1",
                        "https://my-bucket.s3.ap-south-1.amazonaws.com/k/a.tgz");
        assert_location(&(S3Source){.url = "https://my-bucket.s3-us-west-2.amazonaws.com/a.tgz"},
                        "my-bucket", "a.tgz", "us-west-2",
                        "https://my-bucket.s3.us-west-2.amazonaws.com/a.tgz");
        assert_location(&(S3Source){.url = "https://my-bucket.s3.amazonaws.com/a.tgz",
                                    .region = "eu-central-1"},
                        "my-bucket", "a.tgz", "eu-central-1",
                        "https://my-bucket.s3.eu-central-1.amazonaws.com/a.tgz");
        assert_location(&(S3Source){.url = "https://s3.eu-west-3.amazonaws.com/my-bucket/a.tgz"},
                        "my-bucket", "a.tgz", "eu-west-3",
                        "https://my-bucket.s3.eu-west-3.amazonaws.com/a.tgz");
        assert_location(&(S3Source){.url = "https://s3.amazonaws.com/my.dotted.bucket/a.tgz"},
                        "my.dotted.bucket", "a.tgz", "us-east-1",
                        "https://s3.us-east-1.amazonaws.com/my.dotted.bucket/a.tgz");
        assert_location(&(S3Source){.url = "https://s3bucket.s3.cn-north-1.amazonaws.com.cn/a"},
                        "s3bucket", "a", "cn-north-1",
                        "https://s3bucket.s3.cn-north-1.amazonaws.com.cn/a");
        assert_location(&(S3Source){.url = "s3://b-1/x.tgz", .endpoint = "http://minio:9000/"},
                        "b-1", "x.tgz", "us-east-1", "http://minio:9000/b-1/x.tgz");
        assert_location(
                &(S3Source){.url = "http://minio:9000/b-1/x.tgz", .endpoint = "http://minio:9000"},
                "b-1", "x.tgz", "us-east-1", "http://minio:9000/b-1/x.tgz");
}
END_TEST

START_TEST(url_errors) {
        assert_location_error(&(S3Source){.url = "s3://bucket"},
                              "source.url s3://bucket: expected s3://bucket/key with a bucket "
                              "name of 3-63 letters, digits, '.', '-', '_'");
        assert_location_error(&(S3Source){.url = "s3://b/key"},
                              "source.url s3://b/key: expected s3://bucket/key with a bucket "
                              "name of 3-63 letters, digits, '.', '-', '_'");
        assert_location_error(&(S3Source){.url = "https://example.com/bucket/key"},
                              "source.url https://example.com/bucket/key: expected "
                              "s3://bucket/key, https://bucket.s3.REGION.amazonaws.com/key or "
                              "https://s3.REGION.amazonaws.com/bucket/key (or an endpoint for "
                              "an S3-compatible store)");
        assert_location_error(&(S3Source){.url = "https://s3.amazonaws.com/bucket"},
                              "source.url https://s3.amazonaws.com/bucket: expected a path "
                              "/bucket/key");
        assert_location_error(&(S3Source){.url = "s3://bucket/k", .region = "EU West"},
                              "source.region: expected an AWS region name (lower-case letters, "
                              "digits and '-', like eu-west-1)");
        assert_location_error(&(S3Source){.url = "s3://bucket/k", .endpoint = "minio:9000"},
                              "source.endpoint: expected http(s)://host[:port]");
}
END_TEST

START_TEST(clock_skew) {
        /* Wed, 25 Nov 2026 14:00:00 GMT */
        const time_t server = 1795615200;
        const char *date = "Wed, 25 Nov 2026 14:00:00 GMT";
        _cleanup_free_ char *ahead = s3_clock_skew(date, server + 301),
                            *behind = s3_clock_skew(date, server - 3600);

        ck_assert_str_eq(ahead,
                         "clock skew: this machine's clock is 301 s off the server's (ahead)");
        ck_assert_str_eq(behind,
                         "clock skew: this machine's clock is 3600 s off the server's (behind)");
        ck_assert_ptr_null(s3_clock_skew(date, server + 300));
        ck_assert_ptr_null(s3_clock_skew(date, server - 300));
        ck_assert_ptr_null(s3_clock_skew(date, server));
        ck_assert_ptr_null(s3_clock_skew("not a date", server));
        ck_assert_ptr_null(s3_clock_skew(NULL, server));
}
END_TEST

START_TEST(error_documents) {
        _cleanup_free_ char *full = s3_error_detail(
                                    "<?xml version=\"1.0\"?>\n<Error><Code>AccessDenied</Code>"
                                    "<Message>Access &amp; &lt;denied&gt;</Message>"
                                    "<RequestId>1</RequestId></Error>"),
                            *code = s3_error_detail("<Error><Code>RequestTimeTooSkewed</Code>"
                                                    "</Error>");

        ck_assert_str_eq(full, "AccessDenied: Access & <denied>");
        ck_assert_str_eq(code, "RequestTimeTooSkewed");
        ck_assert_ptr_null(s3_error_detail("<html>502 Bad Gateway</html>"));
        ck_assert_ptr_null(s3_error_detail(""));
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("s3");
        TCase *tc = tcase_create("s3rver"), *parse = tcase_create("parse");

        /* One server for the case (it starts in about a second); each test its own cache. */
        tcase_add_unchecked_fixture(tc, start_s3, stop_s3);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, source_credentials);
        tcase_add_test(tc, key_with_space);
        tcase_add_test(tc, wrong_secret);
        tcase_add_test(tc, unknown_key_id);
        tcase_add_test(tc, missing_object);
        tcase_add_test(tc, sha256_mismatch);
        tcase_add_test(tc, session_token_sent);
        tcase_add_test(tc, half_credentials);
        tcase_add_test(tc, environment_credentials);
        tcase_add_test(tc, instance_profile_credentials);
        tcase_add_test(tc, no_credentials_anywhere);
        suite_add_tcase(s, tc);

        tcase_add_test(parse, url_forms);
        tcase_add_test(parse, url_errors);
        tcase_add_test(parse, clock_skew);
        tcase_add_test(parse, error_documents);
        suite_add_tcase(s, parse);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
