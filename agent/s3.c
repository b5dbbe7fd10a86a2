/* SPDX-License-Identifier: MIT */
/* S3 objects through http-download: URL forms, region, credentials and SigV4 signing (done by
 * libcurl), and S3's error documents turned into error text; see s3.h. */
#include <ctype.h>
#include <stdlib.h>
#include <strings.h>

#include "imds.h"
#include "s3.h"
#include "str-util.h"

#define S3_URL_FORMS                                                                               \
        "s3://bucket/key, https://bucket.s3.REGION.amazonaws.com/key or "                          \
        "https://s3.REGION.amazonaws.com/bucket/key"
#define S3_ERROR_FIELD_MAX 1024

void s3_location_done(S3Location *l) {
        l->bucket = mfree(l->bucket);
        l->key = mfree(l->key);
        l->region = mfree(l->region);
        l->url = mfree(l->url);
}

static bool valid_bucket(const char *s, size_t n) {
        if (n < 3 || n > 63)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char)s[i]) && !strchr(".-_", s[i]))
                        return false;
        return true;
}

static bool valid_region(const char *s, size_t n) {
        if (n == 0 || n > 32)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '-')
                        return false;
        return true;
}

/* A key from an s3:// URL is literal: percent-encode what is not unreserved or '/'. */
static char *encode_key(const char *key) {
        _cleanup_(strbuf_done) StrBuf b = {};

        for (const char *p = key; *p; p++) {
                unsigned char ch = (unsigned char)*p;
                int k = isalnum(ch) || strchr("-._~/", ch) ? strbuf_append(&b, p, 1)
                                                           : strbuf_printf(&b, "%%%02X", ch);

                if (k < 0)
                        return NULL;
        }
        return strbuf_steal(&b);
}

/* Splits an AWS S3 host into bucket (virtual-hosted; NULL for path style) and region (NULL:
 * none named). Returns the domain suffix ("amazonaws.com" or "amazonaws.com.cn") or NULL when
 * host is not an S3 host. */
static const char *split_aws_host(const char *host, const char **bucket, size_t *bucket_len,
                                  const char **region, size_t *region_len) {
        static const char *const suffixes[] = {".amazonaws.com", ".amazonaws.com.cn"};
        size_t n = strlen(host);

        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                size_t sl = strlen(suffixes[i]);
                const char *s3 = NULL, *p;
                size_t head;

                if (n <= sl || strcasecmp(host + n - sl, suffixes[i]) != 0)
                        continue;
                head = n - sl; /* host[0..head) is "[bucket.]s3[.-region]" */
                /* The last "s3" label (a bucket name may hold "s3" too). */
                for (p = host; p < host + head; p++)
                        if ((p == host || p[-1] == '.') && strncmp(p, "s3", 2) == 0 &&
                            (p + 2 == host + head || p[2] == '.' || p[2] == '-'))
                                s3 = p;
                if (!s3)
                        return NULL;
                *bucket = s3 == host ? NULL : host;
                *bucket_len = s3 == host ? 0 : (size_t)(s3 - host - 1);
                p = s3 + 2;
                if (p == host + head) {
                        *region = NULL;
                        *region_len = 0;
                } else {
                        *region = p + 1;
                        *region_len = (size_t)(host + head - p - 1);
                        if (!valid_region(*region, *region_len))
                                return NULL;
                }
                return suffixes[i] + 1;
        }
        return NULL;
}

static void curl_url_cleanupp(CURLU **u) {
        if (*u)
                curl_url_cleanup(*u);
}

static void curl_freep(char **p) {
        if (*p)
                curl_free(*p);
}

int s3_location(const S3Source *s, S3Location *ret, char **ret_error) {
        _cleanup_(s3_location_done) S3Location l = {};
        /* An s3:// URL holds no credentials; an https one may. */
        _cleanup_free_ char *masked = startswith(s->url, "s3://") ? strdup(s->url)
                                                                  : http_url_mask(s->url),
                            *url_region = NULL;
        const char *url = s->url, *suffix = "amazonaws.com";

        if (!masked)
                return -ENOMEM;
        if (startswith(url, "s3://")) {
                const char *b = url + 5, *slash = strchr(b, '/');

                if (!slash || !valid_bucket(b, (size_t)(slash - b)) || !slash[1])
                        return error_set(ret_error, -EINVAL,
                                         "source.url %s: expected s3://bucket/key with a bucket "
                                         "name of 3-63 letters, digits, '.', '-', '_'",
                                         masked);
                l.bucket = strndup(b, (size_t)(slash - b));
                l.key = encode_key(slash + 1);
        } else {
                _cleanup_(curl_url_cleanupp) CURLU *u = curl_url();
                _cleanup_(curl_freep) char *scheme = NULL, *host = NULL, *path = NULL;
                const char *bucket = NULL, *region = NULL, *p;
                size_t bucket_len = 0, region_len = 0;

                if (!u)
                        return -ENOMEM;
                if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
                    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
                    !STR_IN_SET(scheme, "http", "https") ||
                    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
                    curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
                        return error_set(ret_error, -EINVAL,
                                         "source.url %s: expected " S3_URL_FORMS, masked);
                suffix = split_aws_host(host, &bucket, &bucket_len, &region, &region_len);
                p = path[0] == '/' ? path + 1 : path;
                if (!suffix && !s->endpoint)
                        return error_set(ret_error, -EINVAL,
                                         "source.url %s: expected " S3_URL_FORMS
                                         " (or an endpoint for an S3-compatible store)",
                                         masked);
                if (!suffix) {
                        /* An S3-compatible store: path style, on the endpoint. */
                        suffix = "amazonaws.com";
                        bucket = NULL;
                        region = NULL;
                }
                if (!bucket) {
                        const char *slash = strchr(p, '/');

                        if (!slash)
                                return error_set(ret_error, -EINVAL,
                                                 "source.url %s: expected a path /bucket/key",
                                                 masked);
                        bucket = p;
                        bucket_len = (size_t)(slash - p);
                        p = slash + 1;
                }
                if (!valid_bucket(bucket, bucket_len) || !*p)
                        return error_set(ret_error, -EINVAL,
                                         "source.url %s: expected a bucket name of 3-63 letters, "
                                         "digits, '.', '-', '_' and a key",
                                         masked);
                l.bucket = strndup(bucket, bucket_len);
                l.key = strdup(p);
                if (region) {
                        url_region = strndup(region, region_len);
                        if (!url_region)
                                return -ENOMEM;
                }
        }
        if (!l.bucket || !l.key)
                return -ENOMEM;

        if (s->region) {
                if (!valid_region(s->region, strlen(s->region)))
                        return error_set(ret_error, -EINVAL,
                                         "source.region: expected an AWS region name (lower-case "
                                         "letters, digits and '-', like eu-west-1)");
                l.region = strdup(s->region);
        } else if (url_region)
                l.region = TAKE_PTR(url_region);
        else
                l.region = strdup(S3_REGION_DEFAULT);
        if (!l.region)
                return -ENOMEM;

        if (s->endpoint) {
                size_t n = strlen(s->endpoint);

                if ((!startswith(s->endpoint, "http://") && !startswith(s->endpoint, "https://")) ||
                    strchr(s->endpoint, '?'))
                        return error_set(ret_error, -EINVAL,
                                         "source.endpoint: expected http(s)://host[:port]");
                while (n > 0 && s->endpoint[n - 1] == '/')
                        n--;
                l.url = strf("%.*s/%s/%s", (int)n, s->endpoint, l.bucket, l.key);
        } else if (strchr(l.bucket, '.') || strchr(l.bucket, '_'))
                /* Not a valid host name (or not one the wildcard certificate covers). */
                l.url = strf("https://s3.%s.%s/%s/%s", l.region, suffix, l.bucket, l.key);
        else
                l.url = strf("https://%s.s3.%s.%s/%s", l.bucket, l.region, suffix, l.key);
        if (!l.url)
                return -ENOMEM;
        *ret = l;
        l = (S3Location){};
        return 0;
}

char *s3_clock_skew(const char *date, time_t now) {
        time_t server;
        long long off;

        if (!date)
                return NULL;
        server = curl_getdate(date, NULL);
        if (server < 0)
                return NULL;
        off = (long long)now - (long long)server;
        if (llabs(off) <= S3_CLOCK_SKEW_MAX_SEC)
                return NULL;
        return strf("clock skew: this machine's clock is %lld s off the server's (%s)", llabs(off),
                    off > 0 ? "ahead" : "behind");
}

/* The text of <name>...</name> in an XML document, entities decoded; NULL when absent. */
static char *xml_field(const char *body, const char *name) {
        _cleanup_free_ char *open = strf("<%s>", name), *close = strf("</%s>", name);
        _cleanup_(strbuf_done) StrBuf b = {.max = S3_ERROR_FIELD_MAX};
        static const struct {
                const char *entity, *ch;
        } entities[] = {
                {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"},
        };
        const char *start, *end;

        if (!open || !close)
                return NULL;
        start = strstr(body, open);
        if (!start)
                return NULL;
        start += strlen(open);
        end = strstr(start, close);
        if (!end)
                return NULL;
        for (const char *p = start; p < end; p++) {
                size_t i;
                int k;

                for (i = 0; i < ELEMENTSOF(entities); i++)
                        if (startswith(p, entities[i].entity))
                                break;
                if (i < ELEMENTSOF(entities)) {
                        k = strbuf_appends(&b, entities[i].ch);
                        p += strlen(entities[i].entity) - 1;
                } else
                        /* Control characters would garble a log line. */
                        k = strbuf_append(&b, (unsigned char)*p < 0x20 ? " " : p, 1);
                if (k == -E2BIG)
                        break;
                if (k < 0)
                        return NULL;
        }
        return strbuf_steal(&b);
}

char *s3_error_detail(const char *body) {
        _cleanup_free_ char *code = NULL, *message = NULL;

        if (!body || !strstr(body, "<Error>"))
                return NULL;
        code = xml_field(body, "Code");
        message = xml_field(body, "Message");
        if (code && message)
                return strf("%s: %s", code, message);
        if (code)
                return TAKE_PTR(code);
        return TAKE_PTR(message);
}

typedef struct S3Request {
        const char *access_key_id, *secret_access_key;
        const char *sigv4;
} S3Request;

static char *s3_describe_error(long status, const char *body, const char *date, void *userdata) {
        _cleanup_free_ char *detail = s3_error_detail(body), *skew = NULL;

        (void)status;
        (void)userdata;
        skew = s3_clock_skew(date, time(NULL));
        if (skew && detail)
                return strf("%s (%s)", skew, detail);
        if (skew)
                return TAKE_PTR(skew);
        return TAKE_PTR(detail);
}

static int s3_setup(CURL *c, void *userdata, char **ret_error) {
        S3Request *r = userdata;

        if (curl_easy_setopt(c, CURLOPT_AWS_SIGV4, r->sigv4) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_USERNAME, r->access_key_id) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_PASSWORD, r->secret_access_key) != CURLE_OK)
                return error_set(ret_error, -EOPNOTSUPP,
                                 "this libcurl cannot sign S3 requests (CURLOPT_AWS_SIGV4)");
        return 0;
}

static const char *nonempty_env(const char *name) {
        const char *v = getenv(name);

        return v && *v ? v : NULL;
}

int s3_download(const S3Source *s, const HttpDownloadOptions *http, const char *imds_endpoint,
                HttpDownloadResult *ret, char **ret_error) {
        _cleanup_(s3_location_done) S3Location l = {};
        _cleanup_free_ char *token_header = NULL, *sigv4 = NULL;
        _cleanup_strv_free_ char **headers = NULL;
        S3Request r = {};
        const char *token = NULL;
        HttpDownloadOptions o;
        int k;

        k = s3_location(s, &l, ret_error);
        if (k < 0)
                return k;

        if (s->access_key_id || s->secret_access_key || s->session_token) {
                if (!s->access_key_id || !s->secret_access_key)
                        return error_set(ret_error, -EINVAL,
                                         "source.access_key_id and source.secret_access_key: "
                                         "expected both (or neither, for the environment's or "
                                         "the instance profile's credentials)");
                r.access_key_id = s->access_key_id;
                r.secret_access_key = s->secret_access_key;
                token = s->session_token;
        } else if (nonempty_env("AWS_ACCESS_KEY_ID") && nonempty_env("AWS_SECRET_ACCESS_KEY")) {
                r.access_key_id = nonempty_env("AWS_ACCESS_KEY_ID");
                r.secret_access_key = nonempty_env("AWS_SECRET_ACCESS_KEY");
                token = nonempty_env("AWS_SESSION_TOKEN");
        } else {
                const ImdsCredentials *c;

                k = imds_credentials(imds_endpoint, time(NULL), &c, ret_error);
                if (k < 0) {
                        error_prefix(ret_error,
                                     "s3 %s: no credentials in the source or the environment",
                                     l.url);
                        return k;
                }
                r.access_key_id = c->access_key_id;
                r.secret_access_key = c->secret_access_key;
                token = c->session_token;
        }

        sigv4 = strf("aws:amz:%s:s3", l.region);
        if (!sigv4 || strv_extend(&headers, "x-amz-content-sha256: UNSIGNED-PAYLOAD") < 0)
                return -ENOMEM;
        if (token) {
                token_header = strf("x-amz-security-token: %s", token);
                if (!token_header || strv_extend(&headers, token_header) < 0)
                        return -ENOMEM;
        }
        r.sigv4 = sigv4;

        o = *http;
        o.username = o.password = NULL;
        o.headers = headers;
        o.setup = s3_setup;
        o.describe_error = s3_describe_error;
        o.userdata = &r;
        return http_download(l.url, &o, ret, ret_error);
}
