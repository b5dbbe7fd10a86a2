/* SPDX-License-Identifier: MIT */
/* fetch_source(): checks a source mapping and fetches it with the module of its type (git-source,
 * http-download and s3 with unpack, copy-tree for local). Runs inside the unprivileged fetch
 * helper; see fetch.h. */
#include <stdarg.h>
#include <sys/stat.h>

#include "copy-tree.h"
#include "fetch.h"
#include "git-source.h"
#include "http-download.h"
#include "json-util.h"
#include "s3.h"
#include "str-util.h"
#include "unpack.h"

#define SOURCE_TYPES "git, s3, archive, http, local"
#define SOURCE_KEYS                                                                                \
        "type, url, revision, ssh_key, submodules, keep_git, username, password, sha256, "         \
        "access_key_id, secret_access_key, session_token, region, endpoint"

typedef enum SourceType {
        SOURCE_GIT = 1 << 0,
        SOURCE_S3 = 1 << 1,
        SOURCE_ARCHIVE = 1 << 2, /* archive and http: an archive over http(s) */
        SOURCE_LOCAL = 1 << 3,
} SourceType;

typedef enum KeyKind {
        KEY_STRING,
        KEY_BOOLEAN,
        KEY_SHA256,
} KeyKind;

typedef struct SourceKey {
        const char *key;
        KeyKind kind;
        unsigned types; /* SourceType bits it applies to */
        const char *types_text;
} SourceKey;

static const SourceKey source_keys[] = {
        {"type", KEY_STRING, ~0U, NULL},
        {"url", KEY_STRING, ~0U, NULL},
        {"revision", KEY_STRING, SOURCE_GIT, "git"},
        {"ssh_key", KEY_STRING, SOURCE_GIT, "git"},
        {"submodules", KEY_BOOLEAN, SOURCE_GIT, "git"},
        {"keep_git", KEY_BOOLEAN, SOURCE_GIT, "git"},
        {"username", KEY_STRING, SOURCE_ARCHIVE, "archive and http"},
        {"password", KEY_STRING, SOURCE_ARCHIVE, "archive and http"},
        {"sha256", KEY_SHA256, SOURCE_ARCHIVE | SOURCE_S3, "archive, http and s3"},
        {"access_key_id", KEY_STRING, SOURCE_S3, "s3"},
        {"secret_access_key", KEY_STRING, SOURCE_S3, "s3"},
        {"session_token", KEY_STRING, SOURCE_S3, "s3"},
        {"region", KEY_STRING, SOURCE_S3, "s3"},
        {"endpoint", KEY_STRING, SOURCE_S3, "s3"},
        {},
};

#define fetch_log(o, priority, ...) \
        runtime_log_to((o)->log, (o)->log_userdata, priority, NULL, __VA_ARGS__)

static int parse_type(const char *s, SourceType *ret) {
        if (streq_ptr(s, "git"))
                *ret = SOURCE_GIT;
        else if (streq_ptr(s, "s3"))
                *ret = SOURCE_S3;
        else if (STR_IN_SET(s, "archive", "http"))
                *ret = SOURCE_ARCHIVE;
        else if (streq_ptr(s, "local"))
                *ret = SOURCE_LOCAL;
        else
                return -EINVAL;
        return 0;
}

/* A string without an embedded NUL (json-c keeps "\u0000"). */
static bool is_text(json_object *v) {
        return json_object_is_type(v, json_type_string) &&
               strlen(json_object_get_string(v)) == (size_t) json_object_get_string_len(v);
}

static bool is_sha256(json_object *v) {
        const char *s = json_object_get_string(v);

        return is_text(v) && strlen(s) == 64 && strspn(s, "0123456789abcdefABCDEF") == 64;
}

/* Values are never quoted in errors: some of them are secrets. */
static int check_source(json_object *source, SourceType *ret_type, char **ret_error) {
        const char *type_text;
        SourceType type;

        if (!json_object_is_type(source, json_type_object))
                return error_set(ret_error, -EINVAL,
                                 "source: expected a mapping (type, url, revision, ...)");
        type_text = json_get_string(source, "type");
        if (!json_object_object_get_ex(source, "type", NULL))
                return error_set(ret_error, -EINVAL, "source.type: missing (expected one of: "
                                                     SOURCE_TYPES ")");
        if (parse_type(type_text, &type) < 0)
                return error_set(ret_error, -EINVAL,
                                 "source.type: expected one of: " SOURCE_TYPES);
        if (!json_object_object_get_ex(source, "url", NULL))
                return error_set(ret_error, -EINVAL, "source.url: missing");

        json_object_object_foreach(source, key, value) {
                const SourceKey *k;

                for (k = source_keys; k->key && !streq(k->key, key); k++)
                        ;
                if (!k->key)
                        return error_set(ret_error, -EINVAL,
                                         "source: unknown key '%s' (expected " SOURCE_KEYS ")",
                                         key);
                if (!(k->types & type))
                        return error_set(ret_error, -EINVAL,
                                         "source.%s: only for type %s, not %s", key,
                                         k->types_text, type_text);
                switch (k->kind) {
                case KEY_STRING:
                        if (!is_text(value) || json_object_get_string_len(value) == 0)
                                return error_set(ret_error, -EINVAL,
                                                 "source.%s: expected a non-empty string", key);
                        break;
                case KEY_BOOLEAN:
                        if (!json_object_is_type(value, json_type_boolean))
                                return error_set(ret_error, -EINVAL,
                                                 "source.%s: expected true or false", key);
                        break;
                case KEY_SHA256:
                        if (!is_sha256(value))
                                return error_set(ret_error, -EINVAL,
                                                 "source.%s: expected 64 hex digits", key);
                        break;
                }
        }
        if (type == SOURCE_LOCAL && json_get_string(source, "url")[0] != '/')
                return error_set(ret_error, -EINVAL,
                                 "source.url: expected an absolute path of a directory for type "
                                 "local");
        *ret_type = type;
        return 0;
}

static bool get_bool(json_object *source, const char *key) {
        return json_object_get_boolean(json_object_object_get(source, key));
}

static int make_info(const char *type, const char *url, const char *revision,
                     json_object **ret) {
        _cleanup_json_ json_object *info = json_object_new_object();

        if (!info)
                return -ENOMEM;
        if (json_object_object_add(info, "type", json_object_new_string(type)) < 0 ||
            json_object_object_add(info, "url", json_object_new_string(url)) < 0 ||
            (revision &&
             json_object_object_add(info, "revision", json_object_new_string(revision)) < 0))
                return -ENOMEM;
        *ret = TAKE_PTR(info);
        return 0;
}

static int fetch_local(json_object *source, const char *dest, const FetchOptions *o,
                       json_object **ret_info, char **ret_error) {
        const char *url = json_get_string(source, "url");
        struct stat st;
        int k;

        if (stat(url, &st) < 0)
                return error_set(ret_error, -errno, "local source %s: %m", url);
        if (!S_ISDIR(st.st_mode))
                return error_set(ret_error, -ENOTDIR, "local source %s: not a directory", url);
        fetch_log(o, LOG_INFO, "copying %s", url);
        k = copy_tree(url, dest, ret_error);
        if (k < 0)
                return k;
        return make_info("local", url, NULL, ret_info);
}

static int fetch_git(json_object *source, const char *dest, const FetchOptions *o,
                     json_object **ret_info, char **ret_error) {
        _cleanup_free_ char *commit = NULL, *masked = NULL;
        GitSource s = {
                .url = json_get_string(source, "url"),
                .revision = json_get_string(source, "revision"),
                .ssh_key = json_get_string(source, "ssh_key"),
                .submodules = get_bool(source, "submodules"),
                .keep_git = get_bool(source, "keep_git"),
        };
        GitSourceOptions go = {
                .cache_dir = o->cache_dir,
                .log = o->log,
                .log_userdata = o->log_userdata,
        };
        int k;

        k = git_source_fetch(&s, dest, &go, &commit, ret_error);
        if (k < 0)
                return k;
        masked = git_source_mask_url(s.url);
        if (!masked)
                return -ENOMEM;
        return make_info("git", masked, commit, ret_info);
}

/* The last part of a masked URL's path: what messages call the archive. */
static char *archive_name(const char *masked) {
        const char *slash = strrchr(masked, '/');

        return strdup(slash && slash[1] ? slash + 1 : masked);
}

/* Unpacks a downloaded archive into dest; *ret_info says which bytes they were. */
static int unpack_download(const char *type, const char *url, const HttpDownloadResult *r,
                           const char *dest, const FetchOptions *o, json_object **ret_info,
                           char **ret_error) {
        _cleanup_json_ json_object *info = NULL;
        _cleanup_free_ char *masked = http_url_mask(url), *name = NULL;
        int k;

        name = masked ? archive_name(masked) : NULL;
        if (!name)
                return -ENOMEM;
        fetch_log(o, LOG_INFO, "%s %s (sha256 %s), unpacking", r->downloaded ? "downloaded" :
                  "not modified, using the cached", masked, r->sha256);
        k = unpack_archive(r->path, name, dest, NULL, ret_error);
        if (k < 0)
                return k;
        k = make_info(type, masked, r->sha256, &info);
        if (k < 0)
                return k;
        if (r->etag && json_object_object_add(info, "etag", json_object_new_string(r->etag)) < 0)
                return -ENOMEM;
        *ret_info = TAKE_PTR(info);
        return 0;
}

static int fetch_archive(json_object *source, const char *dest, const FetchOptions *o,
                         json_object **ret_info, char **ret_error) {
        _cleanup_(http_download_result_done) HttpDownloadResult r = {};
        const char *url = json_get_string(source, "url");
        HttpDownloadOptions ho = {
                .cache_dir = o->cache_dir,
                .username = json_get_string(source, "username"),
                .password = json_get_string(source, "password"),
                .sha256 = json_get_string(source, "sha256"),
                .ca_file = o->ca_file,
        };
        int k;

        if (!startswith(url, "http://") && !startswith(url, "https://"))
                return error_set(ret_error, -EINVAL,
                                 "source.url: expected an http:// or https:// URL of an archive");
        k = http_download(url, &ho, &r, ret_error);
        if (k < 0)
                return k;
        return unpack_download(json_get_string(source, "type"), url, &r, dest, o, ret_info,
                               ret_error);
}

static int fetch_s3(json_object *source, const char *dest, const FetchOptions *o,
                    json_object **ret_info, char **ret_error) {
        _cleanup_(http_download_result_done) HttpDownloadResult r = {};
        S3Source s = {
                .url = json_get_string(source, "url"),
                .region = json_get_string(source, "region"),
                .endpoint = json_get_string(source, "endpoint"),
                .access_key_id = json_get_string(source, "access_key_id"),
                .secret_access_key = json_get_string(source, "secret_access_key"),
                .session_token = json_get_string(source, "session_token"),
        };
        HttpDownloadOptions ho = {
                .cache_dir = o->cache_dir,
                .sha256 = json_get_string(source, "sha256"),
                .ca_file = o->ca_file,
        };
        int k;

        k = s3_download(&s, &ho, o->imds_endpoint, &r, ret_error);
        if (k < 0)
                return k;
        return unpack_download("s3", s.url, &r, dest, o, ret_info, ret_error);
}

int fetch_source(json_object *source, const char *dest, const FetchOptions *o,
                 json_object **ret_info, char **ret_error) {
        SourceType type = SOURCE_LOCAL;
        int k;

        k = check_source(source, &type, ret_error);
        if (k < 0)
                return k;
        switch (type) {
        case SOURCE_LOCAL:
                return fetch_local(source, dest, o, ret_info, ret_error);
        case SOURCE_S3:
                return fetch_s3(source, dest, o, ret_info, ret_error);
        case SOURCE_ARCHIVE:
                return fetch_archive(source, dest, o, ret_info, ret_error);
        case SOURCE_GIT:
                return fetch_git(source, dest, o, ret_info, ret_error);
        }
        return -EINVAL;
}
