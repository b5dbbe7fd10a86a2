/* SPDX-License-Identifier: MIT */
/* A private s3rver for tests (contract in server-s3.h). */

#include <check.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <sys/wait.h>

#include "server-nginx.h"
#include "server-s3.h"
#include "str-util.h"
#include "test-helpers.h"

#define S3RVER_PREFIX_DEFAULT "/var/cache/strata-test/s3rver"

static const char *source_dir(void) {
        const char *d = getenv("STRATA_SOURCE_DIR");

        ck_assert_msg(d, "STRATA_SOURCE_DIR is not set (run the tests with meson test)");
        return d;
}

TestS3 *test_s3_start(const char *access_key, const char *secret, char *const *buckets) {
        _cleanup_json_ json_object *config = json_object_new_object(), *list = NULL;
        _cleanup_free_ char *config_path = NULL, *data = NULL, *requests = NULL, *log = NULL,
                            *script = NULL, *module = NULL;
        const char *prefix = getenv("STRATA_S3RVER_PREFIX") ?: S3RVER_PREFIX_DEFAULT;
        TestS3 *s = calloc(1, sizeof(*s));

        ck_assert_ptr_nonnull(s);
        ck_assert_ptr_nonnull(config);
        module = strf("%s/node_modules/@20minutes/s3rver/package.json", prefix);
        ck_assert_ptr_nonnull(module);
        ck_assert_msg(access(module, F_OK) == 0,
                      "%s is missing: run tools/dev/deps (it installs @20minutes/s3rver@4.0.4)",
                      module);
        s->dir = test_tmpdir();
        s->port = test_free_port();
        s->endpoint = strf("http://127.0.0.1:%u", s->port);
        config_path = strf("%s/config.json", s->dir);
        data = strf("%s/data", s->dir);
        requests = strf("%s/requests.log", s->dir);
        log = strf("%s/s3rver.log", s->dir);
        script = strf("%s/tests/servers/s3rver.js", source_dir());
        list = json_object_new_array();
        ck_assert_ptr_nonnull(list);
        for (char *const *b = buckets; b && *b; b++)
                ck_assert_int_eq(json_object_array_add(list, json_object_new_string(*b)), 0);
        json_object_object_add(config, "port", json_object_new_int((int)s->port));
        json_object_object_add(config, "directory", json_object_new_string(data));
        json_object_object_add(config, "accessKeyId", json_object_new_string(access_key));
        json_object_object_add(config, "secretAccessKey", json_object_new_string(secret));
        json_object_object_add(config, "buckets", json_object_get(list));
        json_object_object_add(config, "requestLog", json_object_new_string(requests));
        test_write(config_path, json_object_to_json_string(config));
        test_write(requests, "");

        s->pid = fork();
        ck_assert_int_ge(s->pid, 0);
        if (s->pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

                if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
                        _exit(126);
                setenv("STRATA_S3RVER_PREFIX", prefix, 1);
                execlp("node", "node", script, config_path, (char *)NULL);
                _exit(127);
        }
        test_wait_listening("s3rver (node)", s->pid, s->port, log);
        return s;
}

void test_s3_free(TestS3 *s) {
        if (!s)
                return;
        test_stop_server(s->pid);
        test_rmdir(s->dir);
        free(s->dir);
        free(s->endpoint);
        free(s);
}

typedef struct Upload {
        const char *data;
        size_t size, offset;
} Upload;

static size_t upload_read(char *p, size_t size, size_t n, void *userdata) {
        Upload *u = userdata;
        size_t len = MIN(size * n, u->size - u->offset);

        memcpy(p, u->data + u->offset, len);
        u->offset += len;
        return len;
}

static size_t discard(char *p, size_t size, size_t n, void *userdata) {
        (void)p;
        (void)userdata;
        return size * n;
}

void test_s3_put(TestS3 *s, const char *bucket, const char *key, const void *data, size_t size) {
        _cleanup_free_ char *url = strf("%s/%s/%s", s->endpoint, bucket, key);
        _cleanup_json_ json_object *config = NULL;
        _cleanup_free_ char *config_path = strf("%s/config.json", s->dir), *text = NULL;
        struct curl_slist *headers =
                curl_slist_append(NULL, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
        Upload u = {.data = data, .size = size};
        CURL *c = curl_easy_init();
        long status = 0;
        CURLcode cc;

        ck_assert_ptr_nonnull(c);
        ck_assert_ptr_nonnull(headers);
        text = test_read(config_path);
        ck_assert_ptr_nonnull(text);
        config = json_tokener_parse(text);
        ck_assert_ptr_nonnull(config);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, upload_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &u);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:s3");
        curl_easy_setopt(c, CURLOPT_USERNAME,
                         json_object_get_string(json_object_object_get(config, "accessKeyId")));
        curl_easy_setopt(c, CURLOPT_PASSWORD,
                         json_object_get_string(json_object_object_get(config, "secretAccessKey")));
        cc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(c);
        curl_slist_free_all(headers);
        ck_assert_msg(cc == CURLE_OK, "PUT %s: %s", url, curl_easy_strerror(cc));
        ck_assert_msg(status == 200, "PUT %s: HTTP %ld", url, status);
}

char *test_s3_requests(TestS3 *s) {
        _cleanup_free_ char *p = strf("%s/requests.log", s->dir);
        char *log = test_read(p);
        size_t n;

        ck_assert_ptr_nonnull(log);
        n = strlen(log);
        if (n > 0 && log[n - 1] == '\n')
                log[n - 1] = '\0';
        return log;
}
