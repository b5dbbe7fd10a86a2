/* SPDX-License-Identifier: MIT */
/* remote_file: a file downloaded over http(s), with owner, group and mode.
 *
 * Not downloaded again when unchanged: with `sha256`, a file that already has that hash is left
 * alone without touching the network. Without it, the ETag and Last-Modified of the last
 * download are kept in <cache_dir>/remote_file/<sha256 of path>.json together with the hash of
 * what was written, and sent back as If-None-Match / If-Modified-Since; a 304 means up to date.
 * The validators are only used while the file still has the recorded hash, so a file edited by
 * hand is downloaded again.
 *
 * A download goes to a temporary file next to path and is renamed over it only when complete,
 * below REMOTE_FILE_MAX bytes and, with `sha256`, of that hash; otherwise nothing is written.
 * Downloaded bytes equal to the file's are not written either. TLS certificates and host names
 * are always verified; an HTTP error status fails the resource.
 *
 * Why-run asks the server with a conditional HEAD request when it has validators, and reports
 * the download otherwise. As for file (res-content.c), a directory or a symbolic link at path is
 * refused, and a new file gets mode 0644 unless `mode` says otherwise.
 *
 * This runs in the command worker, outside the agent's event loop, so it uses libcurl's easy
 * (blocking) interface. */

#include <curl/curl.h>
#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>

#include "fs-util.h"
#include "json-util.h"
#include "resource.h"
#include "str-util.h"

#define REMOTE_FILE_MAX (2ULL * 1024ULL * 1024ULL * 1024ULL)
#define REMOTE_FILE_CONNECT_TIMEOUT_SEC 30L
/* A transfer slower than LIMIT bytes/s for TIME seconds is abandoned. */
#define REMOTE_FILE_LOW_SPEED_LIMIT 1024L
#define REMOTE_FILE_LOW_SPEED_TIME_SEC 60L
#define REMOTE_FILE_MAX_REDIRS 10L
/* ETag and Last-Modified values past this are ignored, as is the state file past its max. */
#define REMOTE_FILE_VALIDATOR_MAX 1024U
#define REMOTE_FILE_STATE_MAX (16U * 1024U)
#define REMOTE_FILE_DEFAULT_CACHE_DIR "/var/cache/strata"

typedef struct Download {
        int fd; /* -1: a HEAD request */
        uint64_t size;
        bool too_big;
        int write_error;
        char *etag;
        char *last_modified;
} Download;

static void download_done(Download *d) {
        free(d->etag);
        free(d->last_modified);
}

/* The temporary download: unlinked unless renamed into place. */
static void unlink_and_freep(char **p) {
        if (*p) {
                (void) unlink(*p);
                free(*p);
        }
}

static void curl_easy_cleanupp(CURL **c) {
        if (*c)
                curl_easy_cleanup(*c);
}

static void curl_slist_free_allp(struct curl_slist **l) {
        curl_slist_free_all(*l);
}

static size_t download_write(char *p, size_t size, size_t n, void *userdata) {
        Download *d = userdata;
        size_t len = size * n;

        if (d->size + len > REMOTE_FILE_MAX) {
                d->too_big = true;
                return 0;
        }
        d->write_error = loop_write(d->fd, p, len);
        if (d->write_error < 0)
                return 0;
        d->size += len;
        return len;
}

static size_t download_header(char *p, size_t size, size_t n, void *userdata) {
        static const char etag[] = "etag:", last_modified[] = "last-modified:";
        Download *d = userdata;
        size_t len = size * n;

        /* Each response of a redirect chain starts with its status line: keep the last one's. */
        if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
                d->etag = mfree(d->etag);
                d->last_modified = mfree(d->last_modified);
        } else if (len > strlen(etag) && strncasecmp(p, etag, strlen(etag)) == 0) {
                free(d->etag);
                d->etag = http_header_value(p + strlen(etag), len - strlen(etag),
                                            REMOTE_FILE_VALIDATOR_MAX);
        } else if (len > strlen(last_modified) &&
                   strncasecmp(p, last_modified, strlen(last_modified)) == 0) {
                free(d->last_modified);
                d->last_modified = http_header_value(p + strlen(last_modified),
                                                     len - strlen(last_modified),
                                                     REMOTE_FILE_VALIDATOR_MAX);
        }
        return len;
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

/* GETs url into d->fd (or HEADs it when d->fd < 0), sending the validators of state. Returns
 * the HTTP status (200 or 304), or < 0 with resource_fail() called. */
static int remote_fetch(Resource *r, const char *url, json_object *state, Download *d) {
        _cleanup_(curl_easy_cleanupp) CURL *c = NULL;
        _cleanup_(curl_slist_free_allp) struct curl_slist *headers = NULL;
        const char *etag = json_get_string(state, "etag");
        const char *last_modified = json_get_string(state, "last_modified");
        char errbuf[CURL_ERROR_SIZE] = "";
        long status = 0;
        CURLcode cc;

        c = curl_easy_init();
        if (!c)
                return resource_fail(r, -ENOMEM, "cannot initialize libcurl");

        if (etag) {
                _cleanup_free_ char *h = strf("If-None-Match: %s", etag);
                struct curl_slist *l = h ? curl_slist_append(headers, h) : NULL;

                if (!l)
                        return resource_fail(r, -ENOMEM, "out of memory");
                headers = l;
        }
        if (last_modified) {
                _cleanup_free_ char *h = strf("If-Modified-Since: %s", last_modified);
                struct curl_slist *l = h ? curl_slist_append(headers, h) : NULL;

                if (!l)
                        return resource_fail(r, -ENOMEM, "out of memory");
                headers = l;
        }

        if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK || restrict_protocols(c) < 0 ||
            curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_MAXREDIRS, REMOTE_FILE_MAX_REDIRS) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, REMOTE_FILE_CONNECT_TIMEOUT_SEC) !=
                    CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, REMOTE_FILE_LOW_SPEED_LIMIT) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, REMOTE_FILE_LOW_SPEED_TIME_SEC) !=
                    CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) REMOTE_FILE_MAX) !=
                    CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_USERAGENT, "strata-agent/" STRATA_VERSION) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, download_header) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_HEADERDATA, d) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, download_write) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_WRITEDATA, d) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_NOBODY, d->fd < 0 ? 1L : 0L) != CURLE_OK)
                return resource_fail(r, -EINVAL, "cannot set up the download of %s", url);

        cc = curl_easy_perform(c);
        (void) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);

        if (cc == CURLE_HTTP_RETURNED_ERROR)
                return resource_fail(r, -EIO, "GET %s: HTTP status %ld", url, status);
        if (d->too_big || cc == CURLE_FILESIZE_EXCEEDED)
                return resource_fail(r, -EFBIG, "GET %s: larger than %llu bytes", url,
                                     REMOTE_FILE_MAX);
        if (d->write_error < 0)
                return resource_fail(r, d->write_error, "GET %s: cannot write the download: %s",
                                     url, strerror(-d->write_error));
        if (cc != CURLE_OK)
                return resource_fail(r, -EIO, "GET %s: %s", url,
                                     errbuf[0] ? errbuf : curl_easy_strerror(cc));
        if (status != 200 && status != 304)
                return resource_fail(r, -EIO, "GET %s: unexpected HTTP status %ld", url, status);
        return (int) status;
}

static char *remote_state_path(Resource *r, const char *path) {
        char hash[65];

        if (sha256_hex(path, strlen(path), hash) < 0)
                return NULL;
        return strf("%s/remote_file/%s.json",
                    r->cfg->cache_dir ?: REMOTE_FILE_DEFAULT_CACHE_DIR, hash);
}

/* The validators recorded for path, when they still describe it: same URL, same content. */
static json_object *remote_state_load(const char *state_path, const char *url,
                                      const char *current_sha256) {
        _cleanup_free_ char *text = NULL;
        json_object *state = NULL;
        size_t len;

        if (!current_sha256 || read_full_file(state_path, REMOTE_FILE_STATE_MAX, &text, &len) < 0)
                return NULL;
        /* A damaged state file only costs a full download. */
        if (json_parse_strict(state_path, text, len, &state, NULL) < 0)
                return NULL;
        if (!streq_ptr(json_get_string(state, "url"), url) ||
            !streq_ptr(json_get_string(state, "sha256"), current_sha256)) {
                json_object_put(state);
                return NULL;
        }
        return state;
}

/* Losing the state only costs a full download next time, so a failure is only logged. */
static void remote_state_save(Resource *r, const char *state_path, const char *url,
                              const char *sha256, const Download *d) {
        _cleanup_json_ json_object *state = json_object_new_object();
        _cleanup_free_ char *dir = NULL;
        const char *text;
        int k = -ENOMEM;

        dir = strndup(state_path, (size_t) (strrchr(state_path, '/') - state_path));
        if (!state || !dir)
                goto fail;
        json_object_object_add(state, "url", json_object_new_string(url));
        json_object_object_add(state, "sha256", json_object_new_string(sha256));
        if (d->etag)
                json_object_object_add(state, "etag", json_object_new_string(d->etag));
        if (d->last_modified)
                json_object_object_add(state, "last_modified",
                                       json_object_new_string(d->last_modified));
        text = json_object_to_json_string_ext(state, JSON_C_TO_STRING_PLAIN);
        if (!text)
                goto fail;

        k = mkdir_parents(dir, 0700);
        if (k >= 0)
                k = write_file_atomic(state_path, text, strlen(text), 0600, (uid_t) -1,
                                      (gid_t) -1);
        if (k >= 0)
                return;
fail:
        resource_log(r, LOG_WARNING, "cannot record the download state in %s: %s", state_path,
                     strerror(-k));
}

/* Moves the complete download tmp over path, with the resource's owner, group and mode, or
 * those of the file it replaces (st, NULL when there is none). */
static int remote_install(Resource *r, int fd, const char *tmp, const char *path,
                          const struct stat *st) {
        mode_t mode;
        uid_t uid;
        gid_t gid;
        int k;

        k = resource_content_attributes(r, st, &mode, &uid, &gid);
        if (k < 0)
                return k;

        /* chown before chmod: chown clears the set-id bits that mode may ask for. */
        if ((uid != (uid_t) -1 || gid != (gid_t) -1) && fchown(fd, uid, gid) < 0)
                return resource_fail(r, -errno, "cannot change owner of %s: %m", tmp);
        if (fchmod(fd, mode) < 0)
                return resource_fail(r, -errno, "cannot change mode of %s: %m", tmp);
        if (fsync(fd) < 0)
                return resource_fail(r, -errno, "cannot write %s: %m", tmp);
        if (rename(tmp, path) < 0)
                return resource_fail(r, -errno, "cannot rename %s to %s: %m", tmp, path);
        return 0;
}

/* Makes the rename durable. */
static int sync_directory_of(Resource *r, const char *path) {
        const char *slash = strrchr(path, '/');
        _cleanup_free_ char *dir = NULL;
        _cleanup_close_ int dfd = -1;

        dir = slash == path ? strdup("/") : strndup(path, (size_t) (slash - path));
        if (!dir)
                return resource_fail(r, -ENOMEM, "out of memory");
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) < 0)
                return resource_fail(r, -errno, "cannot sync %s: %m", dir);
        return 0;
}

/* Why-run: what a real run would do, asking the server only with a conditional HEAD. */
static int remote_why_run(Resource *r, const char *url, const char *path, json_object *state) {
        _cleanup_(download_done) Download d = { .fd = -1 };
        int k;

        if (state && (json_get_string(state, "etag") || json_get_string(state, "last_modified"))) {
                k = remote_fetch(r, url, state, &d);
                if (k < 0)
                        return k;
                if (k == 304)
                        return resource_apply_attributes(r, path, false);
        }
        resource_change(r, "download %s to %s", url, path);
        return 1;
}

static int remote_file_apply(Resource *r, const char *action) {
        const char *path = resource_str(r, "path"), *url = resource_str(r, "url");
        const char *want = resource_str(r, "sha256");
        _cleanup_(unlink_and_freep) char *tmp = NULL;
        _cleanup_free_ char *state_path = NULL;
        _cleanup_json_ json_object *state = NULL;
        _cleanup_(download_done) Download d = { .fd = -1 };
        _cleanup_close_ int fd = -1;
        char current[65] = "", got[65];
        struct stat st;
        bool exists;
        int k, a;

        (void) action; /* create is the only action */

        k = resource_content_stat(r, path, &st);
        if (k < 0)
                return k;
        exists = k > 0;

        if (exists) {
                k = sha256_file_hex(path, current);
                if (k < 0)
                        return resource_fail(r, k, "cannot read %s: %s", path, strerror(-k));
                if (want && streq(current, want))
                        return resource_apply_attributes(r, path, false);
        }

        state_path = remote_state_path(r, path);
        if (!state_path)
                return resource_fail(r, -ENOMEM, "out of memory");
        /* With sha256 a file that differs is always fetched whole. */
        if (exists && !want)
                state = remote_state_load(state_path, url, current);

        if (r->cfg->why_run)
                return remote_why_run(r, url, path, state);

        tmp = strf("%.*s/.#%s.XXXXXX", (int) (strrchr(path, '/') - path), path,
                   strrchr(path, '/') + 1);
        if (!tmp)
                return resource_fail(r, -ENOMEM, "out of memory");
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0) {
                k = -errno;
                tmp = mfree(tmp); /* nothing to unlink */
                if (k == -ENOENT)
                        return resource_fail(r, k, "cannot download to %s: its directory does not "
                                             "exist", path);
                return resource_fail(r, k, "cannot create a temporary file next to %s: %s", path,
                                     strerror(-k));
        }

        d.fd = fd;
        k = remote_fetch(r, url, state, &d);
        if (k < 0)
                return k;
        if (k == 304)
                return resource_apply_attributes(r, path, false);

        k = sha256_file_hex(tmp, got);
        if (k < 0)
                return resource_fail(r, k, "cannot read %s: %s", tmp, strerror(-k));
        if (want && !streq(got, want))
                return resource_fail(r, -EBADMSG,
                                     "GET %s: sha256 mismatch: expected %s, got %s; %s left "
                                     "unchanged",
                                     url, want, got, path);

        if (!exists || !streq(got, current)) {
                resource_change(r, "download %s to %s", url, path);
                k = remote_install(r, fd, tmp, path, exists ? &st : NULL);
                if (k < 0)
                        return k;
                tmp = mfree(tmp); /* renamed into place */
                k = sync_directory_of(r, path);
                if (k < 0)
                        return k;
        }
        remote_state_save(r, state_path, url, got, &d);

        a = resource_apply_attributes(r, path, false);
        if (a < 0)
                return a;
        return !exists || !streq(got, current) || a > 0;
}

static bool is_sha256_hex(const char *s) {
        size_t n = 0;

        for (; s[n]; n++)
                if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
                        return false;
        return n == 64;
}

static int remote_file_check(Resource *r, char **ret_error) {
        const char *path = resource_str(r, "path"), *url = resource_str(r, "url");
        const char *sha256 = resource_str(r, "sha256");

        if (path[0] != '/' || endswith(path, "/"))
                return error_set(ret_error, -EINVAL,
                                 "path '%s' must be absolute, without a trailing slash", path);
        if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
                return error_set(ret_error, -EINVAL, "url '%s' must be an http:// or https:// URL",
                                 url);
        if (sha256 && !is_sha256_hex(sha256))
                return error_set(ret_error, -EINVAL,
                                 "sha256 '%s' must be 64 lowercase hexadecimal digits", sha256);
        return 0;
}

static const char *const remote_file_actions[] = { "create", NULL };

static const PropSpec remote_file_properties[] = {
        { "path", PROP_STRING, true },
        { "url", PROP_STRING, true },
        { "sha256", PROP_STRING },
        { "owner", PROP_STRING },
        { "group", PROP_STRING },
        { "mode", PROP_MODE },
        { NULL },
};

const ResourceType resource_type_remote_file = {
        .name = "remote_file",
        .actions = remote_file_actions,
        .properties = remote_file_properties,
        .identity = "path",
        .check = remote_file_check,
        .apply = remote_file_apply,
};
