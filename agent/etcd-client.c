/* SPDX-License-Identifier: MIT */
/* The blocking etcd client (contract in etcd-client.h): failover over endpoints, TLS options,
 * password authentication with one re-authentication on an expired token. */

#include <curl/curl.h>

#include "etcd-client.h"
#include "str-util.h"

#define TIMEOUT_DEFAULT (10 * USEC_PER_SEC)

struct EtcdClient {
        char **endpoints;
        size_t current; /* the endpoint that answered last */
        char *user;
        char *password;
        char *ca_file, *cert_file, *key_file;
        usec_t timeout;
        char *token; /* NULL until authenticated */
        CURL *curl;
};

static void free_secret(char *s) {
        if (!s)
                return;
        explicit_bzero(s, strlen(s));
        free(s);
}

EtcdClient *etcd_client_free(EtcdClient *c) {
        if (!c)
                return NULL;
        if (c->curl)
                curl_easy_cleanup(c->curl);
        strv_free(c->endpoints);
        free(c->user);
        free_secret(c->password);
        free_secret(c->token);
        free(c->ca_file);
        free(c->cert_file);
        free(c->key_file);
        return mfree(c);
}

static int dup_optional(const char *s, char **ret) {
        *ret = NULL;
        if (!s)
                return 0;
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

int etcd_client_new(const EtcdClientOptions *o, EtcdClient **ret) {
        _cleanup_(etcd_client_freep) EtcdClient *c = NULL;
        int r;

        if (strv_length(o->endpoints) == 0 || (!o->user != !o->password) ||
            (!o->cert_file != !o->key_file))
                return -EINVAL;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->endpoints = strv_copy(o->endpoints);
        if (!c->endpoints)
                return -ENOMEM;
        /* A trailing '/' would double the one every path starts with. */
        for (char **e = c->endpoints; *e; e++) {
                size_t n = strlen(*e);

                while (n > 0 && (*e)[n - 1] == '/')
                        (*e)[--n] = 0;
        }
        r = dup_optional(o->user, &c->user);
        if (r >= 0)
                r = dup_optional(o->password, &c->password);
        if (r >= 0)
                r = dup_optional(o->ca_file, &c->ca_file);
        if (r >= 0)
                r = dup_optional(o->cert_file, &c->cert_file);
        if (r >= 0)
                r = dup_optional(o->key_file, &c->key_file);
        if (r < 0)
                return r;
        c->timeout = o->timeout ?: TIMEOUT_DEFAULT;
        c->curl = curl_easy_init();
        if (!c->curl)
                return -ENOMEM;

        *ret = TAKE_PTR(c);
        return 0;
}

static size_t collect(char *p, size_t size, size_t n, void *userdata) {
        return strbuf_append(userdata, p, size * n) < 0 ? 0 : size * n;
}

/* One POST to one endpoint. < 0 with *ret_error when it could not be reached (the caller tries
 * the next); otherwise the HTTP status and the body. */
static int post_once(EtcdClient *c, const char *endpoint, const char *path, const char *body,
                     bool with_token, long *ret_status, char **ret_body, char **ret_error) {
        _cleanup_(strbuf_done) StrBuf b = {.max = ETCD_REPLY_MAX};
        _cleanup_free_ char *url = strf("%s%s", endpoint, path), *auth = NULL;
        char curl_error[CURL_ERROR_SIZE] = {};
        struct curl_slist *headers = NULL, *h;
        CURL *e = c->curl;
        CURLcode cc;
        long status = 0;

        if (!url)
                return -ENOMEM;
        h = curl_slist_append(NULL, "Content-Type: application/json");
        if (!h)
                return -ENOMEM;
        headers = h;
        if (with_token && c->token) {
                auth = etcd_auth_header(c->token);
                h = auth ? curl_slist_append(headers, auth) : NULL;
                if (!h) {
                        curl_slist_free_all(headers);
                        return -ENOMEM;
                }
                headers = h;
        }

        curl_easy_reset(e);
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(c->timeout / USEC_PER_MSEC));
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                         (long)MIN(c->timeout / USEC_PER_MSEC, (usec_t)5000));
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, curl_error);
        if (c->ca_file)
                curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
        if (c->cert_file) {
                curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert_file);
                curl_easy_setopt(e, CURLOPT_SSLKEY, c->key_file);
        }

        cc = curl_easy_perform(e);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
        curl_slist_free_all(headers);
        if (auth)
                explicit_bzero(auth, strlen(auth));
        if (cc == CURLE_WRITE_ERROR && b.len >= ETCD_REPLY_MAX)
                return error_set(ret_error, -EFBIG, "%s: reply larger than %u bytes", endpoint,
                                 ETCD_REPLY_MAX);
        if (cc != CURLE_OK)
                return error_set(ret_error, -EHOSTUNREACH, "%s: %s", endpoint,
                                 curl_error[0] ? curl_error : curl_easy_strerror(cc));
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);

        *ret_status = status;
        *ret_body = strbuf_steal(&b);
        return *ret_body ? 0 : -ENOMEM;
}

/* POSTs to the first endpoint that answers and parses the reply. */
static int post(EtcdClient *c, const char *path, const char *body, bool with_token,
                json_object **ret, char **ret_error) {
        _cleanup_(strbuf_done) StrBuf failures = {};
        size_t n = strv_length(c->endpoints);
        int r;

        for (size_t i = 0; i < n; i++) {
                size_t k = (c->current + i) % n;
                _cleanup_free_ char *reply = NULL, *error = NULL;
                long status = 0;

                r = post_once(c, c->endpoints[k], path, body, with_token, &status, &reply, &error);
                if (r >= 0) {
                        r = etcd_parse_reply(status, reply, strlen(reply), ret, &error);
                        /* A member that lost its cluster says so; another may be fine. */
                        if (r == -EAGAIN) {
                                error_prefix(&error, "%s", c->endpoints[k]);
                                r = -EHOSTUNREACH;
                        }
                }
                if (r != -EHOSTUNREACH) {
                        if (r >= 0)
                                c->current = k;
                        else if (ret_error)
                                *ret_error = TAKE_PTR(error);
                        return r;
                }
                if (strbuf_printf(&failures, "%s%s", failures.len ? "; " : "", strempty(error)) < 0)
                        return -ENOMEM;
        }

        return error_set(ret_error, -EHOSTUNREACH, "no etcd endpoint answered: %s",
                         strempty(failures.data));
}

static int authenticate(EtcdClient *c, char **ret_error) {
        _cleanup_json_ json_object *req = NULL, *reply = NULL;
        _cleanup_free_ char *error = NULL;
        char *token = NULL;
        const char *body;
        int r;

        r = etcd_request_authenticate(c->user, c->password, &req);
        if (r < 0)
                return r;
        body = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
        r = post(c, ETCD_PATH_AUTHENTICATE, body, false, &reply, &error);
        /* The body holds the password. */
        explicit_bzero((char *)body, strlen(body));
        if (r >= 0)
                r = etcd_parse_token(reply, &token, &error);
        if (r < 0)
                return error_set(ret_error, r, "etcd user '%s': %s", c->user, strempty(error));

        free_secret(c->token);
        c->token = token;
        return 0;
}

int etcd_client_call(EtcdClient *c, const char *path, json_object *request, json_object **ret,
                     char **ret_error) {
        _cleanup_json_ json_object *req = request;
        const char *body;
        int r;

        if (!req)
                return -ENOMEM;
        if (c->user && !c->token) {
                r = authenticate(c, ret_error);
                if (r < 0)
                        return r;
        }

        body = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
        if (!body)
                return -ENOMEM;
        r = post(c, path, body, true, ret, ret_error);
        if (r != -EKEYEXPIRED || !c->user)
                return r;

        if (ret_error)
                *ret_error = mfree(*ret_error);
        r = authenticate(c, ret_error);
        if (r < 0)
                return r;
        return post(c, path, body, true, ret, ret_error);
}

int etcd_client_range(EtcdClient *c, const char *key, EtcdRangeFlags flags, EtcdRange **ret,
                      char **ret_error) {
        _cleanup_json_ json_object *reply = NULL;
        json_object *req = NULL;
        int r;

        r = etcd_request_range(key, flags, 0, 0, &req);
        if (r < 0)
                return r;
        r = etcd_client_call(c, ETCD_PATH_RANGE, req, &reply, ret_error);
        if (r < 0)
                return r;
        return etcd_parse_range(reply, ret, ret_error);
}

int etcd_client_get(EtcdClient *c, const char *key, char **ret_value, int64_t *ret_mod_revision,
                    char **ret_error) {
        _cleanup_(etcd_range_freep) EtcdRange *range = NULL;
        int r;

        r = etcd_client_range(c, key, 0, &range, ret_error);
        if (r < 0)
                return r;
        if (range->n_kvs == 0)
                return error_set(ret_error, -ENOENT, "%s: no such key", key);
        if (ret_mod_revision)
                *ret_mod_revision = range->kvs[0].mod_revision;
        if (ret_value)
                *ret_value = TAKE_PTR(range->kvs[0].value);
        return 0;
}

int etcd_client_put(EtcdClient *c, const char *key, const char *value, int64_t lease,
                    char **ret_error) {
        _cleanup_json_ json_object *reply = NULL;
        json_object *req = NULL;
        int r;

        r = etcd_request_put(key, value, strlen(value), lease, &req);
        if (r < 0)
                return r;
        return etcd_client_call(c, ETCD_PATH_PUT, req, &reply, ret_error);
}

int etcd_client_delete(EtcdClient *c, const char *key, bool prefix, int64_t *ret_deleted,
                       char **ret_error) {
        _cleanup_json_ json_object *reply = NULL;
        json_object *req = NULL;
        int r;

        r = etcd_request_delete_range(key, prefix, &req);
        if (r < 0)
                return r;
        r = etcd_client_call(c, ETCD_PATH_DELETE_RANGE, req, &reply, ret_error);
        if (r < 0 || !ret_deleted)
                return r;
        return etcd_parse_deleted(reply, ret_deleted, ret_error);
}

int etcd_client_txn(EtcdClient *c, json_object *txn, bool *ret_succeeded, json_object **ret_reply,
                    char **ret_error) {
        _cleanup_json_ json_object *reply = NULL;
        int r;

        r = etcd_client_call(c, ETCD_PATH_TXN, txn, &reply, ret_error);
        if (r < 0)
                return r;
        r = etcd_parse_txn(reply, ret_succeeded, NULL, ret_error);
        if (r < 0)
                return r;
        if (ret_reply)
                *ret_reply = TAKE_PTR(reply);
        return 0;
}
