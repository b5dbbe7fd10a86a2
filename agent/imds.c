/* SPDX-License-Identifier: MIT */
/* The instance profile's credentials from IMDSv2; see imds.h. Requests go straight to the
 * service (no proxy, whatever the environment says), with short timeouts and bounded answers. */
#include <time.h>

#include "http-download.h"
#include "imds.h"
#include "json-util.h"
#include "str-util.h"

#define IMDS_CONNECT_TIMEOUT_MS 1000L
#define IMDS_TIMEOUT_MS 5000L
#define IMDS_BODY_MAX 65536
#define IMDS_TOKEN_TTL_SEC "21600"
#define IMDS_ROLE_PATH "/latest/meta-data/iam/security-credentials/"

/* The process's cached credentials: the fetch helper lives for one fetch, so this is small. */
static struct {
        char *endpoint;
        ImdsCredentials credentials;
} cache;

static void curl_easy_cleanupp(CURL **c) {
        if (*c)
                curl_easy_cleanup(*c);
}

static void curl_slist_free_allp(struct curl_slist **l) {
        curl_slist_free_all(*l);
}

static size_t body_write(char *p, size_t size, size_t n, void *userdata) {
        StrBuf *b = userdata;

        if (strbuf_append(b, p, size * n) < 0)
                return 0;
        return size * n;
}

/* One request; *ret_body gets the answer of a 200. Errors say "METHOD URL: what". */
static int imds_request(const char *method, const char *endpoint, const char *path,
                        const char *header, char **ret_body, long *ret_status, char **ret_error) {
        _cleanup_(curl_easy_cleanupp) CURL *c = curl_easy_init();
        _cleanup_(curl_slist_free_allp) struct curl_slist *headers = NULL;
        _cleanup_(strbuf_done) StrBuf body = {.max = IMDS_BODY_MAX};
        _cleanup_free_ char *url = strf("%s%s", endpoint, path);
        char errbuf[CURL_ERROR_SIZE] = "";
        long status = 0;
        CURLcode cc;

        if (!c || !url)
                return -ENOMEM;
        if (header) {
                headers = curl_slist_append(NULL, header);
                if (!headers)
                        return -ENOMEM;
        }
        if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_PROXY, "") != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_NOPROXY, "*") != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, IMDS_CONNECT_TIMEOUT_MS) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, IMDS_TIMEOUT_MS) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_WRITEDATA, &body) != CURLE_OK)
                return -EINVAL;
        cc = http_perform(c);
        if (cc != CURLE_OK)
                return error_set(ret_error, -EIO, "%s %s: %s", method, url,
                                 cc == CURLE_WRITE_ERROR
                                         ? "answer larger than " STRINGIFY(IMDS_BODY_MAX) " bytes"
                                 : errbuf[0] ? errbuf
                                             : curl_easy_strerror(cc));
        (void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        *ret_status = status;
        if (status != 200)
                return error_set(ret_error, -EIO, "%s %s: HTTP %ld", method, url, status);
        *ret_body = strbuf_steal(&body);
        return *ret_body ? 0 : -ENOMEM;
}

static bool valid_role(const char *s) {
        size_t n = strlen(s);

        return n > 0 && n <= 128 &&
               strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+=,.@_-") ==
                       n;
}

/* "2026-11-25T20:00:00Z" */
static int parse_expiration(const char *s, time_t *ret) {
        struct tm tm = {};
        const char *end;

        if (!s)
                return -EINVAL;
        end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (!end || *end)
                return -EINVAL;
        *ret = timegm(&tm);
        return 0;
}

static int string_field(json_object *o, const char *key, const char *what, char **ret,
                        char **ret_error) {
        const char *s = json_get_string(o, key);

        if (!s || !*s)
                return error_set(ret_error, -EBADMSG, "%s: expected a string %s", what, key);
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

int imds_fetch_credentials(const char *endpoint, ImdsCredentials *ret, char **ret_error) {
        _cleanup_free_ char *token = NULL, *token_header = NULL, *roles = NULL, *path = NULL,
                            *text = NULL, *what = NULL, *error = NULL;
        _cleanup_(imds_credentials_done) ImdsCredentials c = {};
        _cleanup_json_ json_object *o = NULL;
        long status = 0;
        char *nl;
        int k;

        endpoint = endpoint ?: IMDS_ENDPOINT_DEFAULT;
        k = imds_request("PUT", endpoint, "/latest/api/token",
                         "X-aws-ec2-metadata-token-ttl-seconds: " IMDS_TOKEN_TTL_SEC, &token,
                         &status, &error);
        if (k < 0)
                return error ? error_set(ret_error, k, "no instance profile: %s", error) : k;
        token[strcspn(token, "\r\n")] = '\0';
        if (!*token)
                return error_set(ret_error, -EBADMSG,
                                 "no instance profile: PUT %s/latest/api/token: empty token",
                                 endpoint);
        token_header = strf("X-aws-ec2-metadata-token: %s", token);
        if (!token_header)
                return -ENOMEM;

        k = imds_request("GET", endpoint, IMDS_ROLE_PATH, token_header, &roles, &status, &error);
        if (k < 0 && status == 404)
                return error_set(
                        ret_error, k,
                        "no instance profile: this instance has no IAM role (GET %s" IMDS_ROLE_PATH
                        ": HTTP 404)",
                        endpoint);
        if (k < 0)
                return error ? error_set(ret_error, k, "no instance profile: %s", error) : k;
        nl = roles + strcspn(roles, "\r\n");
        *nl = '\0';
        if (!valid_role(roles))
                return error_set(ret_error, -EBADMSG,
                                 "no instance profile: GET %s" IMDS_ROLE_PATH
                                 ": expected a role name",
                                 endpoint);

        path = strf(IMDS_ROLE_PATH "%s", roles);
        if (!path)
                return -ENOMEM;
        k = imds_request("GET", endpoint, path, token_header, &text, &status, &error);
        if (k < 0)
                return error ? error_set(ret_error, k, "instance profile %s: %s", roles, error) : k;
        what = strf("instance profile %s: GET %s%s", roles, endpoint, path);
        if (!what)
                return -ENOMEM;
        k = json_parse_strict(what, text, strlen(text), &o, ret_error);
        if (k < 0)
                return k;
        if (!json_object_is_type(o, json_type_object))
                return error_set(ret_error, -EBADMSG, "%s: expected a JSON object", what);
        if (json_get_string(o, "Code") && !streq(json_get_string(o, "Code"), "Success"))
                return error_set(ret_error, -EACCES, "%s: Code %s", what,
                                 json_get_string(o, "Code"));
        if ((k = string_field(o, "AccessKeyId", what, &c.access_key_id, ret_error)) < 0 ||
            (k = string_field(o, "SecretAccessKey", what, &c.secret_access_key, ret_error)) < 0 ||
            (k = string_field(o, "Token", what, &c.session_token, ret_error)) < 0)
                return k;
        if (parse_expiration(json_get_string(o, "Expiration"), &c.expiration) < 0)
                return error_set(ret_error, -EBADMSG,
                                 "%s: expected Expiration as YYYY-MM-DDTHH:MM:SSZ", what);
        *ret = c;
        c = (ImdsCredentials){};
        return 0;
}

void imds_credentials_done(ImdsCredentials *c) {
        c->access_key_id = mfree(c->access_key_id);
        c->secret_access_key = mfree(c->secret_access_key);
        c->session_token = mfree(c->session_token);
        c->expiration = 0;
}

int imds_credentials(const char *endpoint, time_t now, const ImdsCredentials **ret,
                     char **ret_error) {
        ImdsCredentials fresh = {};
        char *copy;
        int k;

        endpoint = endpoint ?: IMDS_ENDPOINT_DEFAULT;
        if (cache.endpoint && streq(cache.endpoint, endpoint) &&
            now + IMDS_REFRESH_MARGIN_SEC < cache.credentials.expiration) {
                *ret = &cache.credentials;
                return 0;
        }
        k = imds_fetch_credentials(endpoint, &fresh, ret_error);
        if (k < 0)
                return k;
        copy = strdup(endpoint);
        if (!copy) {
                imds_credentials_done(&fresh);
                return -ENOMEM;
        }
        imds_forget();
        cache.endpoint = copy;
        cache.credentials = fresh;
        *ret = &cache.credentials;
        return 0;
}

void imds_forget(void) {
        cache.endpoint = mfree(cache.endpoint);
        imds_credentials_done(&cache.credentials);
}
