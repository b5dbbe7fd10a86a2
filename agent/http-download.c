/* SPDX-License-Identifier: MIT */
/* http_download(): one URL into the download cache, with validators, sha256 check, retries and
 * limits; see http-download.h. The transfer is driven by a curl multi handle polled here: this
 * runs only in the short-lived fetch helper, where blocking is fine. */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "fs-util.h"
#include "http-download.h"
#include "json-util.h"
#include "str-util.h"

/* Longest validator (ETag, Last-Modified) or Date we keep. */
#define VALIDATOR_MAX 1024
#define STATE_MAX (64 * 1024)
#define POLL_TIMEOUT_MS 1000

typedef struct Transfer {
        int fd; /* the temp file the body goes to */
        uint64_t size;
        uint64_t max_size;
        bool too_big;
        int write_error;
        CURL *curl;
        StrBuf error_body; /* the body of a non-200 response */
        char *etag, *last_modified, *date;
} Transfer;

static void transfer_done(Transfer *t) {
        strbuf_done(&t->error_body);
        t->etag = mfree(t->etag);
        t->last_modified = mfree(t->last_modified);
        t->date = mfree(t->date);
}

static void curl_easy_cleanupp(CURL **c) {
        if (*c)
                curl_easy_cleanup(*c);
}

static void curl_multi_cleanupp(CURLM **m) {
        if (*m)
                curl_multi_cleanup(*m);
}

static void curl_slist_free_allp(struct curl_slist **l) {
        curl_slist_free_all(*l);
}

static void curl_url_cleanupp(CURLU **u) {
        if (*u)
                curl_url_cleanup(*u);
}

static void unlink_and_freep(char **p) {
        if (*p) {
                (void)unlink(*p);
                free(*p);
        }
}

static void unlockp(int *fd) {
        if (*fd >= 0) {
                (void)flock(*fd, LOCK_UN);
                close(*fd);
        }
}

char *http_url_mask(const char *url) {
        _cleanup_(curl_url_cleanupp) CURLU *u = curl_url();
        char *masked = NULL;

        if (!u)
                return NULL;
        if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
                return strdup("(an unparsable URL)");
        (void)curl_url_set(u, CURLUPART_USER, NULL, 0);
        (void)curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
        (void)curl_url_set(u, CURLUPART_OPTIONS, NULL, 0);
        (void)curl_url_set(u, CURLUPART_QUERY, NULL, 0);
        (void)curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0);
        if (curl_url_get(u, CURLUPART_URL, &masked, 0) != CURLUE_OK)
                return NULL;
        /* curl's memory, ours to hand out as malloc'd */
        char *r = strdup(masked);
        curl_free(masked);
        return r;
}

char *http_no_proxy(void) {
        const char *upper = getenv("NO_PROXY"), *lower = getenv("no_proxy");
        _cleanup_(strbuf_done) StrBuf b = {};

        if (streq_ptr(upper, "*") || streq_ptr(lower, "*"))
                return strdup("*");
        if ((upper && *upper && strbuf_printf(&b, "%s,", upper) < 0) ||
            (lower && *lower && !streq_ptr(lower, upper) && strbuf_printf(&b, "%s,", lower) < 0) ||
            strbuf_appends(&b, "169.254.169.254") < 0)
                return NULL;
        return strbuf_steal(&b);
}

/* Only http and https, also after a redirect: never file://, scp://, ... */
static int restrict_protocols(CURL *c) {
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85 replaced the bitmask options, now deprecated */
        if (curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK)
                return -EINVAL;
#else
        if (curl_easy_setopt(c, CURLOPT_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS) !=
                    CURLE_OK)
                return -EINVAL;
#endif
        return 0;
}

static size_t transfer_write(char *p, size_t size, size_t n, void *userdata) {
        Transfer *t = userdata;
        size_t len = size * n;
        long status = 0;

        (void)curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200) {
                /* Kept for the error text, bounded; the rest is read and dropped. */
                size_t room = HTTP_DOWNLOAD_ERROR_BODY_MAX - t->error_body.len;

                if (strbuf_append(&t->error_body, p, MIN(len, room)) < 0)
                        return 0;
                return len;
        }
        if (t->size + len > t->max_size) {
                t->too_big = true;
                return 0;
        }
        t->write_error = loop_write(t->fd, p, len);
        if (t->write_error < 0)
                return 0;
        t->size += len;
        return len;
}

static void take_header(char **field, const char *name, const char *p, size_t len) {
        size_t n = strlen(name);

        if (len > n && strncasecmp(p, name, n) == 0) {
                free(*field);
                *field = http_header_value(p + n, len - n, VALIDATOR_MAX);
        }
}

static size_t transfer_header(char *p, size_t size, size_t n, void *userdata) {
        Transfer *t = userdata;
        size_t len = size * n;

        /* Each response of a redirect chain starts with its status line: keep the last one's. */
        if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
                t->etag = mfree(t->etag);
                t->last_modified = mfree(t->last_modified);
                t->date = mfree(t->date);
                t->error_body.len = 0;
                return len;
        }
        take_header(&t->etag, "etag:", p, len);
        take_header(&t->last_modified, "last-modified:", p, len);
        take_header(&t->date, "date:", p, len);
        return len;
}

static int append_header(struct curl_slist **l, const char *h) {
        struct curl_slist *n = curl_slist_append(*l, h);

        if (!n)
                return -ENOMEM;
        *l = n;
        return 0;
}

static long ms(usec_t u) {
        return (long)MIN(u / USEC_PER_MSEC, (usec_t)LONG_MAX);
}

static int transfer_setup(CURL *c, const char *url, const HttpDownloadOptions *o,
                          struct curl_slist *headers, const char *no_proxy, Transfer *t,
                          char *errbuf) {
        usec_t connect_timeout = o->connect_timeout ?: HTTP_DOWNLOAD_CONNECT_TIMEOUT_DEFAULT;
        usec_t low_speed_time = o->low_speed_time ?: HTTP_DOWNLOAD_LOW_SPEED_TIME_DEFAULT;

        if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK || restrict_protocols(c) < 0 ||
            curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long)HTTP_DOWNLOAD_MAX_REDIRECTS) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
            (o->ca_file && curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file) != CURLE_OK) ||
            curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_NOPROXY, no_proxy) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms(connect_timeout)) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT,
                             (long)HTTP_DOWNLOAD_LOW_SPEED_BYTES_DEFAULT) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
                             (long)MAX(low_speed_time / USEC_PER_SEC, (usec_t)1)) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)t->max_size) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_USERAGENT, "strata-agent/" STRATA_VERSION) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, transfer_header) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_HEADERDATA, t) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, transfer_write) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_WRITEDATA, t) != CURLE_OK)
                return -EINVAL;
        if (o->username &&
            (curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC) != CURLE_OK ||
             curl_easy_setopt(c, CURLOPT_USERNAME, o->username) != CURLE_OK ||
             curl_easy_setopt(c, CURLOPT_PASSWORD, strempty(o->password)) != CURLE_OK))
                return -EINVAL;
        return 0;
}

CURLcode http_perform(CURL *c) {
        _cleanup_(curl_multi_cleanupp) CURLM *m = curl_multi_init();
        CURLcode result = CURLE_OUT_OF_MEMORY;
        int running = 1;

        if (!m || curl_multi_add_handle(m, c) != CURLM_OK)
                return CURLE_OUT_OF_MEMORY;
        while (running > 0) {
                if (curl_multi_perform(m, &running) != CURLM_OK)
                        break;
                if (running > 0 && curl_multi_poll(m, NULL, 0, POLL_TIMEOUT_MS, NULL) != CURLM_OK)
                        break;
        }
        for (;;) {
                int left;
                CURLMsg *msg = curl_multi_info_read(m, &left);

                if (!msg)
                        break;
                if (msg->msg == CURLMSG_DONE && msg->easy_handle == c)
                        result = msg->data.result;
        }
        (void)curl_multi_remove_handle(m, c);
        return result;
}

static bool retryable_curl_error(CURLcode cc) {
        switch (cc) {
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_CONNECT:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
                return true;
        default:
                return false;
        }
}

typedef enum Outcome {
        OUTCOME_OK,     /* 200: the body is in the temp file */
        OUTCOME_CACHED, /* 304 */
        OUTCOME_RETRY,  /* failed, worth another attempt; *error says why */
        OUTCOME_FAILED, /* failed for good */
} Outcome;

typedef struct State {
        char *etag, *last_modified, *sha256;
} State;

static void state_done(State *s) {
        s->etag = mfree(s->etag);
        s->last_modified = mfree(s->last_modified);
        s->sha256 = mfree(s->sha256);
}

static char *state_string(json_object *o, const char *key) {
        const char *s = json_get_string(o, key);

        return s ? strdup(s) : NULL;
}

/* The validators of the cached file; none when there is no (usable) state, or the file is
 * missing or no longer has the hash it was saved with. */
static void state_load(const char *state_path, const char *file_path, State *ret) {
        _cleanup_free_ char *text = NULL;
        _cleanup_json_ json_object *o = NULL;
        char sha256[65];
        size_t len;

        if (read_full_file(state_path, STATE_MAX, &text, &len) < 0 ||
            json_parse_strict(state_path, text, len, &o, NULL) < 0 || !o)
                return;
        ret->sha256 = state_string(o, "sha256");
        if (!ret->sha256 || sha256_file_hex(file_path, sha256) < 0 || !streq(sha256, ret->sha256)) {
                state_done(ret);
                return;
        }
        ret->etag = state_string(o, "etag");
        ret->last_modified = state_string(o, "last_modified");
}

static int state_save(const char *state_path, const char *masked_url, const Transfer *t,
                      const char *sha256) {
        _cleanup_json_ json_object *o = json_object_new_object();
        const char *text;

        if (!o || json_object_object_add(o, "url", json_object_new_string(masked_url)) < 0 ||
            json_object_object_add(o, "sha256", json_object_new_string(sha256)) < 0 ||
            (t->etag && json_object_object_add(o, "etag", json_object_new_string(t->etag)) < 0) ||
            (t->last_modified &&
             json_object_object_add(o, "last_modified", json_object_new_string(t->last_modified)) <
                     0))
                return -ENOMEM;
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        return write_file_atomic_full(state_path, text, strlen(text), 0600, (uid_t)-1, (gid_t)-1,
                                      0);
}

static char *http_error(const char *masked, long status, const Transfer *t,
                        const HttpDownloadOptions *o) {
        _cleanup_free_ char *detail = NULL;
        const char *body = t->error_body.data ? t->error_body.data : "";

        if (o->describe_error)
                detail = o->describe_error(status, body, t->date, o->userdata);
        if (detail)
                return strf("GET %s: HTTP %ld: %s", masked, status, detail);
        return strf("GET %s: HTTP %ld", masked, status);
}

/* One attempt: GET url into fd with the validators of `cached` (when non-NULL). */
static Outcome failed(char **error, const char *fmt, ...) _printf_(2, 3);
static Outcome failed(char **error, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        *error = strfv(fmt, ap);
        va_end(ap);
        return OUTCOME_FAILED;
}

static Outcome attempt(const char *url, const char *masked, const HttpDownloadOptions *o,
                       const State *cached, const char *no_proxy, Transfer *t, char **error) {
        _cleanup_(curl_easy_cleanupp) CURL *c = curl_easy_init();
        _cleanup_(curl_slist_free_allp) struct curl_slist *headers = NULL;
        char errbuf[CURL_ERROR_SIZE] = "";
        long status = 0;
        CURLcode cc;
        int k;

        if (!c)
                return failed(error, "GET %s: out of memory", masked);
        for (char *const *h = o->headers; h && *h; h++)
                if (append_header(&headers, *h) < 0)
                        return failed(error, "GET %s: out of memory", masked);
        if (cached) {
                _cleanup_free_ char *inm =
                        cached->etag ? strf("If-None-Match: %s", cached->etag) : NULL;
                _cleanup_free_ char *ims =
                        cached->last_modified ? strf("If-Modified-Since: %s", cached->last_modified)
                                              : NULL;

                if ((inm && append_header(&headers, inm) < 0) ||
                    (ims && append_header(&headers, ims) < 0))
                        return failed(error, "GET %s: out of memory", masked);
        }
        t->curl = c;
        if (transfer_setup(c, url, o, headers, no_proxy, t, errbuf) < 0)
                return failed(error, "GET %s: cannot set up the transfer", masked);
        if (o->setup) {
                _cleanup_free_ char *e = NULL;

                k = o->setup(c, o->userdata, &e);
                if (k < 0)
                        return failed(error, "GET %s: %s", masked, e ? e : strerror(-k));
        }

        cc = http_perform(c);
        (void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        t->curl = NULL;

        if (t->too_big || cc == CURLE_FILESIZE_EXCEEDED)
                return failed(error, "GET %s: larger than %" PRIu64 " bytes", masked, t->max_size);
        if (t->write_error < 0)
                return failed(error, "GET %s: writing the download: %s", masked,
                              strerror(-t->write_error));
        if (cc != CURLE_OK) {
                *error = strf("GET %s: %s", masked, errbuf[0] ? errbuf : curl_easy_strerror(cc));
                return retryable_curl_error(cc) ? OUTCOME_RETRY : OUTCOME_FAILED;
        }
        if (status == 200)
                return OUTCOME_OK;
        if (status == 304 && cached)
                return OUTCOME_CACHED;
        *error = http_error(masked, status, t, o);
        return status >= 500 ? OUTCOME_RETRY : OUTCOME_FAILED;
}

static void pause_usec(usec_t u) {
        struct timespec ts = {.tv_sec = (time_t)(u / USEC_PER_SEC),
                              .tv_nsec = (long)(u % USEC_PER_SEC) * 1000};

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static int check_sha256(const char *masked, const char *want, const char *got, char **ret_error) {
        if (want && strcasecmp(want, got) != 0)
                return error_set(ret_error, -EBADMSG,
                                 "GET %s: sha256 mismatch: expected %s, got %s", masked, want, got);
        return 0;
}

int http_download(const char *url, const HttpDownloadOptions *o, HttpDownloadResult *ret,
                  char **ret_error) {
        _cleanup_free_ char *masked = NULL, *dir = NULL, *file = NULL, *state_path = NULL,
                            *lock_path = NULL, *no_proxy = NULL, *error = NULL, *scheme = NULL;
        _cleanup_(unlink_and_freep) char *temp = NULL;
        _cleanup_(unlockp) int lock = -1;
        _cleanup_(curl_url_cleanupp) CURLU *u = NULL;
        _cleanup_(state_done) State cached = {};
        unsigned attempts = o->attempts ?: HTTP_DOWNLOAD_ATTEMPTS_DEFAULT, n;
        usec_t delay = o->retry_delay ?: HTTP_DOWNLOAD_RETRY_DELAY_DEFAULT;
        usec_t delay_max = o->retry_delay_max ?: HTTP_DOWNLOAD_RETRY_DELAY_MAX_DEFAULT;
        char url_hash[65], sha256[65];
        Outcome outcome = OUTCOME_FAILED;
        _cleanup_(transfer_done) Transfer t = {};
        int k;

        masked = http_url_mask(url);
        u = curl_url();
        if (!masked || !u)
                return -ENOMEM;
        if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
            !STR_IN_SET(scheme, "http", "https")) {
                if (scheme)
                        curl_free(TAKE_PTR(scheme));
                return error_set(ret_error, -EINVAL, "%s: expected an http or https URL", masked);
        }
        curl_free(TAKE_PTR(scheme));

        if (sha256_hex(url, strlen(url), url_hash) < 0)
                return -ENOMEM;
        dir = strf("%s/downloads", o->cache_dir);
        file = strf("%s/%s", dir ? dir : "", url_hash);
        state_path = strf("%s.json", file ? file : "");
        lock_path = strf("%s.lock", file ? file : "");
        no_proxy = http_no_proxy();
        if (!dir || !file || !state_path || !lock_path || !no_proxy)
                return -ENOMEM;
        k = mkdir_parents(dir, 0700);
        if (k < 0)
                return error_set(ret_error, k, "download cache %s: %s", dir, strerror(-k));
        lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (lock < 0 || flock(lock, LOCK_EX) < 0)
                return error_set(ret_error, -errno, "download cache %s: %m", lock_path);

        state_load(state_path, file, &cached);
        for (n = 1;; n++) {
                _cleanup_close_ int fd = -1;

                if (temp) {
                        (void)unlink(temp);
                        temp = mfree(temp);
                }
                temp = strf("%s/.%s.XXXXXX", dir, url_hash);
                if (!temp)
                        return -ENOMEM;
                fd = mkostemp(temp, O_CLOEXEC);
                if (fd < 0) {
                        k = -errno;
                        temp = mfree(temp);
                        return error_set(ret_error, k, "download cache %s: %s", dir, strerror(-k));
                }
                transfer_done(&t);
                t = (Transfer){
                        .fd = fd,
                        .max_size = o->max_size ?: HTTP_DOWNLOAD_MAX_SIZE_DEFAULT,
                        .error_body.max = HTTP_DOWNLOAD_ERROR_BODY_MAX,
                };
                error = mfree(error);
                outcome = attempt(url, masked, o, cached.sha256 ? &cached : NULL, no_proxy, &t,
                                  &error);
                if (outcome != OUTCOME_RETRY || n >= attempts)
                        break;
                pause_usec(delay);
                delay = MIN(delay * 2, delay_max);
        }

        switch (outcome) {
        case OUTCOME_OK:
                break;
        case OUTCOME_CACHED:
                /* state_load() checked the file against it */
                memcpy(sha256, cached.sha256, sizeof(sha256));
                break;
        case OUTCOME_RETRY:
        case OUTCOME_FAILED:
                if (!error)
                        return -ENOMEM;
                if (n > 1)
                        return error_set(ret_error, -EIO, "%s (after %u attempts)", error, n);
                return error_set(ret_error, -EIO, "%s", error);
        }

        if (outcome == OUTCOME_OK) {
                k = sha256_file_hex(temp, sha256);
                if (k >= 0 && chmod(temp, 0600) < 0)
                        k = -errno;
                if (k < 0)
                        return error_set(ret_error, k, "download cache %s: %s", temp, strerror(-k));
        }
        k = check_sha256(masked, o->sha256, sha256, ret_error);
        if (k < 0)
                return k;
        if (outcome == OUTCOME_OK) {
                /* Without state first, so that a crash in between never pairs the old
                 * validators with the new file. */
                (void)unlink(state_path);
                if (rename(temp, file) < 0) {
                        k = -errno;
                        return error_set(ret_error, k, "download cache %s: %s", file, strerror(-k));
                }
                temp = mfree(temp);
                k = state_save(state_path, masked, &t, sha256);
                if (k < 0)
                        return error_set(ret_error, k, "download cache %s: %s", state_path,
                                         strerror(-k));
        }

        *ret = (HttpDownloadResult){
                .path = TAKE_PTR(file),
                .etag = outcome == OUTCOME_OK ? TAKE_PTR(t.etag) : TAKE_PTR(cached.etag),
                .sha256 = strdup(sha256),
                .downloaded = outcome == OUTCOME_OK,
                .attempts = n,
        };
        if (!ret->sha256) {
                http_download_result_done(ret);
                return -ENOMEM;
        }
        return 0;
}

void http_download_result_done(HttpDownloadResult *r) {
        r->path = mfree(r->path);
        r->etag = mfree(r->etag);
        r->sha256 = mfree(r->sha256);
}
