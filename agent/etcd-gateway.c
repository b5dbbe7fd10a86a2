/* SPDX-License-Identifier: MIT */
/* etcd v3 JSON gateway: request bodies, reply parsing, error mapping (contract in
 * etcd-gateway.h). base64 is libcrypto's; everything here is pure and does no I/O. */

#include <openssl/evp.h>

#include "etcd-gateway.h"
#include "json-util.h"
#include "str-util.h"

char *etcd_base64_encode(const void *data, size_t len) {
        char *s;

        if (len > INT32_MAX / 2)
                return NULL;
        s = malloc(4 * ((len + 2) / 3) + 1);
        if (!s)
                return NULL;
        EVP_EncodeBlock((unsigned char *)s, data, (int)len);
        return s;
}

int etcd_base64_decode(const char *s, char **ret, size_t *ret_len) {
        _cleanup_free_ char *out = NULL;
        size_t n = strlen(s), pad = 0;
        int k;

        /* EVP_DecodeBlock() takes whitespace and counts padding as zero bytes: check the text
         * first so that only canonical base64 passes, then drop what the padding stood for. */
        if (n % 4 != 0 || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                    "0123456789+/=") != n)
                return -EINVAL;
        if (n > 0 && s[n - 1] == '=')
                pad++;
        if (n > 1 && s[n - 2] == '=')
                pad++;
        if (strchr(s, '=') && (size_t)(strchr(s, '=') - s) != n - pad)
                return -EINVAL;
        if (n > INT32_MAX)
                return -EINVAL;

        out = malloc(n / 4 * 3 + 1);
        if (!out)
                return -ENOMEM;
        k = n ? EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n) : 0;
        if (k < 0 || (size_t)k < pad)
                return -EINVAL;
        k -= (int)pad;
        out[k] = 0;

        *ret = TAKE_PTR(out);
        if (ret_len)
                *ret_len = (size_t)k;
        return 0;
}

int etcd_prefix_range_end(const char *prefix, char **ret, size_t *ret_len) {
        char *end;
        size_t n = strlen(prefix);

        while (n > 0 && (unsigned char)prefix[n - 1] == 0xff)
                n--;
        if (n == 0) {
                end = calloc(1, 2);
                if (!end)
                        return -ENOMEM;
                *ret = end;
                *ret_len = 1;
                return 0;
        }

        end = strndup(prefix, n);
        if (!end)
                return -ENOMEM;
        end[n - 1] = (char)((unsigned char)end[n - 1] + 1);
        *ret = end;
        *ret_len = n;
        return 0;
}

char *etcd_auth_header(const char *token) {
        return strf("Authorization: %s", token);
}

/* --- building --- */

static int add(json_object *o, const char *key, json_object *v) {
        if (!v || json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static int add_string(json_object *o, const char *key, const char *s) {
        return add(o, key, json_object_new_string(s));
}

static int add_int64(json_object *o, const char *key, int64_t n) {
        char buf[32];

        snprintf(buf, sizeof(buf), "%" PRIi64, n);
        return add_string(o, key, buf);
}

static int add_bytes(json_object *o, const char *key, const void *data, size_t len) {
        _cleanup_free_ char *b = etcd_base64_encode(data, len);

        if (!b)
                return -ENOMEM;
        return add_string(o, key, b);
}

/* key, and range_end when prefix. */
static int add_key(json_object *o, const char *key, bool prefix) {
        _cleanup_free_ char *end = NULL;
        size_t end_len;
        int r;

        r = add_bytes(o, "key", key, strlen(key));
        if (r < 0 || !prefix)
                return r;
        r = etcd_prefix_range_end(key, &end, &end_len);
        if (r < 0)
                return r;
        return add_bytes(o, "range_end", end, end_len);
}

static int new_object(json_object **ret) {
        *ret = json_object_new_object();
        return *ret ? 0 : -ENOMEM;
}

int etcd_request_empty(json_object **ret) {
        return new_object(ret);
}

int etcd_request_range(const char *key, EtcdRangeFlags flags, int64_t limit, int64_t revision,
                       json_object **ret) {
        _cleanup_json_ json_object *o = NULL;
        int r;

        if (limit < 0 || revision < 0)
                return -EINVAL;
        r = new_object(&o);
        if (r >= 0)
                r = add_key(o, key, flags & ETCD_RANGE_PREFIX);
        if (r >= 0 && limit > 0)
                r = add_int64(o, "limit", limit);
        if (r >= 0 && revision > 0)
                r = add_int64(o, "revision", revision);
        if (r >= 0 && (flags & ETCD_RANGE_KEYS_ONLY))
                r = add(o, "keys_only", json_object_new_boolean(true));
        if (r >= 0 && (flags & ETCD_RANGE_COUNT_ONLY))
                r = add(o, "count_only", json_object_new_boolean(true));
        if (r >= 0 && (flags & ETCD_RANGE_SORT_DESCEND)) {
                r = add_string(o, "sort_order", "DESCEND");
                if (r >= 0)
                        r = add_string(o, "sort_target", "KEY");
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

int etcd_request_put(const char *key, const void *value, size_t len, int64_t lease,
                     json_object **ret) {
        _cleanup_json_ json_object *o = NULL;
        int r;

        if (lease < 0)
                return -EINVAL;
        r = new_object(&o);
        if (r >= 0)
                r = add_key(o, key, false);
        if (r >= 0)
                r = add_bytes(o, "value", value, len);
        if (r >= 0 && lease > 0)
                r = add_int64(o, "lease", lease);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

int etcd_request_delete_range(const char *key, bool prefix, json_object **ret) {
        _cleanup_json_ json_object *o = NULL;
        int r;

        r = new_object(&o);
        if (r >= 0)
                r = add_key(o, key, prefix);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

int etcd_request_compaction(int64_t revision, bool physical, json_object **ret) {
        _cleanup_json_ json_object *o = NULL;
        int r;

        if (revision <= 0)
                return -EINVAL;
        r = new_object(&o);
        if (r >= 0)
                r = add_int64(o, "revision", revision);
        if (r >= 0 && physical)
                r = add(o, "physical", json_object_new_boolean(true));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

int etcd_txn_new(json_object **ret) {
        _cleanup_json_ json_object *o = NULL;
        int r;

        r = new_object(&o);
        if (r >= 0)
                r = add(o, "compare", json_object_new_array());
        if (r >= 0)
                r = add(o, "success", json_object_new_array());
        if (r >= 0)
                r = add(o, "failure", json_object_new_array());
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

static int append(json_object *array, json_object *v) {
        if (!v || json_object_array_add(array, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static int txn_compare(json_object *txn, const char *key, bool prefix, EtcdCompareTarget target,
                       EtcdCompareResult result, int64_t number, const char *value) {
        static const char *const targets[] = {
                [ETCD_COMPARE_VERSION] = "VERSION",
                [ETCD_COMPARE_CREATE] = "CREATE",
                [ETCD_COMPARE_MOD] = "MOD",
                [ETCD_COMPARE_VALUE] = "VALUE",
        };
        static const char *const fields[] = {
                [ETCD_COMPARE_VERSION] = "version",
                [ETCD_COMPARE_CREATE] = "create_revision",
                [ETCD_COMPARE_MOD] = "mod_revision",
                [ETCD_COMPARE_VALUE] = "value",
        };
        static const char *const results[] = {
                [ETCD_COMPARE_EQUAL] = "EQUAL",
                [ETCD_COMPARE_GREATER] = "GREATER",
                [ETCD_COMPARE_LESS] = "LESS",
                [ETCD_COMPARE_NOT_EQUAL] = "NOT_EQUAL",
        };
        _cleanup_json_ json_object *c = NULL;
        json_object *list = json_object_object_get(txn, "compare");
        int r;

        if ((unsigned)target >= ELEMENTSOF(targets) || (unsigned)result >= ELEMENTSOF(results) ||
            !list || (target == ETCD_COMPARE_VALUE && !value))
                return -EINVAL;

        r = new_object(&c);
        if (r >= 0)
                r = add_key(c, key, prefix);
        if (r >= 0)
                r = add_string(c, "target", targets[target]);
        if (r >= 0)
                r = add_string(c, "result", results[result]);
        if (r >= 0)
                /* value is not NULL here (checked above); strempty() for the optimiser. */
                r = target == ETCD_COMPARE_VALUE
                            ? add_bytes(c, "value", value, strlen(strempty(value)))
                            : add_int64(c, fields[target], number);
        if (r < 0)
                return r;
        return append(list, TAKE_PTR(c));
}

int etcd_txn_compare(json_object *txn, const char *key, EtcdCompareTarget target,
                     EtcdCompareResult result, int64_t number, const char *value) {
        return txn_compare(txn, key, false, target, result, number, value);
}

int etcd_txn_compare_prefix(json_object *txn, const char *prefix, EtcdCompareTarget target,
                            EtcdCompareResult result, int64_t number) {
        if (target == ETCD_COMPARE_VALUE)
                return -EINVAL;
        return txn_compare(txn, prefix, true, target, result, number, NULL);
}

int etcd_txn_add(json_object *txn, bool success, EtcdOpType type, json_object *request) {
        static const char *const names[] = {
                [ETCD_OP_RANGE] = "request_range",
                [ETCD_OP_PUT] = "request_put",
                [ETCD_OP_DELETE_RANGE] = "request_delete_range",
        };
        _cleanup_json_ json_object *req = request, *op = NULL;
        json_object *list = json_object_object_get(txn, success ? "success" : "failure");
        int r;

        if ((unsigned)type >= ELEMENTSOF(names) || !list || !req)
                return -EINVAL;
        r = new_object(&op);
        if (r >= 0)
                r = add(op, names[type], TAKE_PTR(req));
        if (r < 0)
                return r;
        return append(list, TAKE_PTR(op));
}

static int request_with_int64(const char *key, int64_t n, json_object **ret) {
        _cleanup_json_ json_object *o = NULL;
        int r;

        r = new_object(&o);
        if (r >= 0)
                r = add_int64(o, key, n);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

int etcd_request_lease_grant(int64_t ttl, json_object **ret) {
        if (ttl <= 0)
                return -EINVAL;
        return request_with_int64("TTL", ttl, ret);
}

int etcd_request_lease_keepalive(int64_t id, json_object **ret) {
        return request_with_int64("ID", id, ret);
}

int etcd_request_lease_revoke(int64_t id, json_object **ret) {
        return request_with_int64("ID", id, ret);
}

int etcd_request_watch(const char *key, bool prefix, int64_t start_revision, bool prev_kv,
                       json_object **ret) {
        _cleanup_json_ json_object *o = NULL, *c = NULL;
        int r;

        if (start_revision < 0)
                return -EINVAL;
        r = new_object(&c);
        if (r >= 0)
                r = add_key(c, key, prefix);
        if (r >= 0 && start_revision > 0)
                r = add_int64(c, "start_revision", start_revision);
        if (r >= 0 && prev_kv)
                r = add(c, "prev_kv", json_object_new_boolean(true));
        if (r >= 0)
                r = new_object(&o);
        if (r >= 0)
                r = add(o, "create_request", TAKE_PTR(c));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

static int request_with_strings(const char *k1, const char *v1, const char *k2, const char *v2,
                                json_object **ret) {
        _cleanup_json_ json_object *o = NULL;
        int r;

        if (!v1 || (k2 && !v2))
                return -EINVAL;
        r = new_object(&o);
        if (r >= 0)
                r = add_string(o, k1, v1);
        if (r >= 0 && k2)
                r = add_string(o, k2, v2);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

int etcd_request_authenticate(const char *user, const char *password, json_object **ret) {
        return request_with_strings("name", user, "password", password, ret);
}

int etcd_request_user_add(const char *user, const char *password, json_object **ret) {
        return request_with_strings("name", user, "password", password, ret);
}

int etcd_request_name(const char *name, json_object **ret) {
        return request_with_strings("name", name, NULL, NULL, ret);
}

int etcd_request_user_grant_role(const char *user, const char *role, json_object **ret) {
        return request_with_strings("user", user, "role", role, ret);
}

int etcd_request_role_grant_permission(const char *role, EtcdPermission permission, const char *key,
                                       bool prefix, json_object **ret) {
        static const char *const names[] = {
                [ETCD_PERMISSION_READ] = "READ",
                [ETCD_PERMISSION_WRITE] = "WRITE",
                [ETCD_PERMISSION_READWRITE] = "READWRITE",
        };
        _cleanup_json_ json_object *o = NULL, *perm = NULL;
        int r;

        if ((unsigned)permission >= ELEMENTSOF(names))
                return -EINVAL;
        r = request_with_strings("permType", names[permission], NULL, NULL, &perm);
        if (r >= 0)
                r = add_key(perm, key, prefix);
        if (r >= 0)
                r = request_with_strings("name", role, NULL, NULL, &o);
        if (r >= 0)
                r = add(o, "perm", TAKE_PTR(perm));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

/* --- errors --- */

int etcd_error(long http_status, int code, const char *message, char **ret_error) {
        const char *what;
        int r;

        switch (code) {
        case ETCD_CODE_UNAUTHENTICATED:
                r = -EKEYEXPIRED;
                what = "authentication token expired or invalid: authenticate again";
                break;
        case ETCD_CODE_PERMISSION_DENIED:
                r = -EACCES;
                what = "permission denied";
                break;
        case ETCD_CODE_NOT_FOUND:
                r = -ENOENT;
                what = "requested lease not found";
                break;
        case ETCD_CODE_INVALID_ARGUMENT:
                if (message && strstr(message, "authentication failed")) {
                        r = -EACCES;
                        what = "authentication failed: wrong user name or password";
                } else if (message && strstr(message, "user name is empty")) {
                        r = -EACCES;
                        what = "authentication required: etcd has auth enabled and no user was "
                               "given";
                } else {
                        r = -EINVAL;
                        what = "invalid request";
                }
                break;
        case ETCD_CODE_FAILED_PRECONDITION:
                r = -EPERM;
                what = "failed precondition";
                break;
        case ETCD_CODE_ALREADY_EXISTS:
                r = -EEXIST;
                what = "already exists";
                break;
        case ETCD_CODE_OUT_OF_RANGE:
                r = -ERANGE;
                what = "revision out of range";
                break;
        case ETCD_CODE_UNAVAILABLE:
                r = -EAGAIN;
                what = "etcd unavailable";
                break;
        case ETCD_CODE_DEADLINE_EXCEEDED:
                r = -ETIMEDOUT;
                what = "deadline exceeded";
                break;
        case ETCD_CODE_RESOURCE_EXHAUSTED:
                r = -ENOSPC;
                what = "resource exhausted";
                break;
        default:
                r = -EIO;
                what = NULL;
                break;
        }

        if (!ret_error)
                return r;
        if (what && message)
                *ret_error = strf("%s (etcd: %s)", what, message);
        else if (what)
                *ret_error = strf("%s", what);
        else if (message)
                *ret_error = http_status > 0 ? strf("etcd error (HTTP %ld, code %d): %s",
                                                    http_status, code, message)
                                             : strf("etcd error (code %d): %s", code, message);
        else
                *ret_error = strf("etcd answered HTTP %ld", http_status);
        return r;
}

/* A short, printable excerpt of a body that was not what etcd sends. */
static char *excerpt(const char *body, size_t len) {
        _cleanup_(strbuf_done) StrBuf b = {};
        int r = 0;

        for (size_t i = 0; r >= 0 && i < MIN(len, (size_t)120); i++) {
                unsigned char ch = (unsigned char)body[i];

                r = ch < 0x20 || ch >= 0x7f ? strbuf_printf(&b, "\\x%02x", ch)
                                            : strbuf_append(&b, body + i, 1);
        }
        if (r >= 0 && len > 120)
                r = strbuf_appends(&b, "...");
        if (r < 0)
                return NULL;
        return strbuf_steal(&b);
}

/* {"error": "...", "code": n, "message": "..."} (unary calls) or {"error": {"grpc_code": n,
 * "message": ...}} (streams): 1 with the error set, 0 when o is no error. */
static int reply_error(long http_status, json_object *o, char **ret_error) {
        json_object *e = json_object_object_get(o, "error"), *c;
        const char *message;
        int code = 0;

        if (!e)
                return 0;
        if (json_object_is_type(e, json_type_object)) {
                c = json_object_object_get(e, "grpc_code");
                message = json_get_string(e, "message");
        } else {
                c = json_object_object_get(o, "code");
                message = json_get_string(o, "message") ?: json_get_string(o, "error");
        }
        if (json_object_is_type(c, json_type_int))
                code = (int)json_object_get_int64(c);
        return etcd_error(http_status, code, message, ret_error);
}

int etcd_parse_reply(long http_status, const char *body, size_t len, json_object **ret,
                     char **ret_error) {
        _cleanup_json_ json_object *o = NULL;
        _cleanup_free_ char *e = NULL;
        int r;

        if (len > ETCD_REPLY_MAX)
                return error_set(ret_error, -EFBIG, "etcd reply larger than %u bytes",
                                 ETCD_REPLY_MAX);

        r = json_parse_strict("etcd reply", body, len, &o, NULL);
        if (r < 0 || !json_object_is_type(o, json_type_object)) {
                if (http_status != 200)
                        return etcd_error(http_status, 0, NULL, ret_error);
                e = excerpt(body, len);
                return error_set(ret_error, -EBADMSG, "etcd reply is not a JSON object: '%s'",
                                 strempty(e));
        }

        r = reply_error(http_status, o, ret_error);
        if (r < 0)
                return r;
        if (http_status != 200)
                return etcd_error(http_status, 0, NULL, ret_error);

        *ret = TAKE_PTR(o);
        return 0;
}

/* --- parsing --- */

int etcd_get_int64(json_object *o, const char *key, int64_t *ret) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v)) {
                *ret = 0;
                return 0;
        }
        if (json_object_is_type(v, json_type_string))
                return parse_int64(json_object_get_string(v), ret) < 0 ? -EBADMSG : 0;
        if (json_object_is_type(v, json_type_int)) {
                *ret = json_object_get_int64(v);
                return 0;
        }
        return -EBADMSG;
}

static int get_int64(json_object *o, const char *what, const char *key, int64_t *ret,
                     char **ret_error) {
        if (etcd_get_int64(o, key, ret) < 0)
                return error_set(ret_error, -EBADMSG,
                                 "etcd reply: %s.%s: expected an integer (as a string)", what, key);
        return 0;
}

int etcd_reply_revision(json_object *reply, int64_t *ret) {
        return etcd_get_int64(json_object_object_get(reply, "header"), "revision", ret);
}

static bool get_bool(json_object *o, const char *key) {
        json_object *v = json_object_object_get(o, key);

        return json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
}

void etcd_key_value_done(EtcdKeyValue *kv) {
        if (!kv)
                return;
        free(kv->key);
        free(kv->value);
        *kv = (EtcdKeyValue){};
}

static int decode_field(json_object *o, const char *what, const char *key, char **ret,
                        size_t *ret_len, char **ret_error) {
        json_object *v;
        int r;

        if (!json_object_object_get_ex(o, key, &v)) {
                /* An empty key or value is omitted like every empty field. */
                *ret = strdup("");
                if (!*ret)
                        return -ENOMEM;
                if (ret_len)
                        *ret_len = 0;
                return 0;
        }
        if (!json_object_is_type(v, json_type_string))
                return error_set(ret_error, -EBADMSG, "etcd reply: %s.%s: expected base64", what,
                                 key);
        r = etcd_base64_decode(json_object_get_string(v), ret, ret_len);
        if (r == -EINVAL)
                return error_set(ret_error, -EBADMSG, "etcd reply: %s.%s: expected base64", what,
                                 key);
        return r;
}

static int parse_kv(json_object *o, const char *what, EtcdKeyValue *ret, char **ret_error) {
        EtcdKeyValue kv = {};
        int r;

        if (!json_object_is_type(o, json_type_object))
                return error_set(ret_error, -EBADMSG, "etcd reply: %s: expected an object", what);

        r = decode_field(o, what, "key", &kv.key, NULL, ret_error);
        if (r >= 0)
                r = decode_field(o, what, "value", &kv.value, &kv.value_len, ret_error);
        if (r >= 0)
                r = get_int64(o, what, "create_revision", &kv.create_revision, ret_error);
        if (r >= 0)
                r = get_int64(o, what, "mod_revision", &kv.mod_revision, ret_error);
        if (r >= 0)
                r = get_int64(o, what, "version", &kv.version, ret_error);
        if (r >= 0)
                r = get_int64(o, what, "lease", &kv.lease, ret_error);
        if (r < 0) {
                etcd_key_value_done(&kv);
                return r;
        }
        *ret = kv;
        return 0;
}

EtcdRange *etcd_range_free(EtcdRange *r) {
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->n_kvs; i++)
                etcd_key_value_done(&r->kvs[i]);
        free(r->kvs);
        return mfree(r);
}

static int get_array(json_object *o, const char *what, const char *key, json_object **ret,
                     char **ret_error) {
        json_object *v;

        *ret = NULL;
        if (!json_object_object_get_ex(o, key, &v))
                return 0;
        if (!json_object_is_type(v, json_type_array))
                return error_set(ret_error, -EBADMSG, "etcd reply: %s.%s: expected a list", what,
                                 key);
        *ret = v;
        return 0;
}

int etcd_parse_range(json_object *reply, EtcdRange **ret, char **ret_error) {
        _cleanup_(etcd_range_freep) EtcdRange *range = NULL;
        json_object *kvs;
        size_t n;
        int r;

        if (!json_object_is_type(reply, json_type_object))
                return error_set(ret_error, -EBADMSG, "etcd reply: expected a range response");

        range = calloc(1, sizeof(*range));
        if (!range)
                return -ENOMEM;
        if (etcd_reply_revision(reply, &range->revision) < 0)
                return error_set(ret_error, -EBADMSG,
                                 "etcd reply: header.revision: expected an integer");
        r = get_int64(reply, "range", "count", &range->count, ret_error);
        if (r < 0)
                return r;
        range->more = get_bool(reply, "more");
        r = get_array(reply, "range", "kvs", &kvs, ret_error);
        if (r < 0)
                return r;

        n = kvs ? json_object_array_length(kvs) : 0;
        if (n > 0) {
                range->kvs = calloc(n, sizeof(EtcdKeyValue));
                if (!range->kvs)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                char what[32];

                snprintf(what, sizeof(what), "kvs[%zu]", i);
                r = parse_kv(json_object_array_get_idx(kvs, i), what, &range->kvs[i], ret_error);
                if (r < 0)
                        return r;
                range->n_kvs++;
        }

        *ret = TAKE_PTR(range);
        return 0;
}

int etcd_parse_txn(json_object *reply, bool *ret_succeeded, json_object **ret_responses,
                   char **ret_error) {
        json_object *responses;
        int r;

        r = get_array(reply, "txn", "responses", &responses, ret_error);
        if (r < 0)
                return r;
        *ret_succeeded = get_bool(reply, "succeeded");
        if (ret_responses)
                *ret_responses = responses;
        return 0;
}

int etcd_parse_deleted(json_object *reply, int64_t *ret_deleted, char **ret_error) {
        return get_int64(reply, "delete_range", "deleted", ret_deleted, ret_error);
}

int etcd_parse_lease_grant(json_object *reply, int64_t *ret_id, int64_t *ret_ttl,
                           char **ret_error) {
        int64_t id, ttl;
        int r;

        r = get_int64(reply, "lease_grant", "ID", &id, ret_error);
        if (r >= 0)
                r = get_int64(reply, "lease_grant", "TTL", &ttl, ret_error);
        if (r < 0)
                return r;
        if (id == 0 || ttl <= 0)
                return error_set(ret_error, -EBADMSG,
                                 "etcd reply: lease_grant: expected an ID and a TTL");
        *ret_id = id;
        if (ret_ttl)
                *ret_ttl = ttl;
        return 0;
}

int etcd_parse_lease_keepalive(json_object *reply, int64_t *ret_ttl, char **ret_error) {
        json_object *result = json_object_object_get(reply, "result");
        int64_t ttl;
        int r;

        if (!json_object_is_type(result, json_type_object))
                return error_set(ret_error, -EBADMSG,
                                 "etcd reply: lease_keepalive: expected a result object");
        r = get_int64(result, "lease_keepalive.result", "TTL", &ttl, ret_error);
        if (r < 0)
                return r;
        /* etcd answers a lease it no longer has with TTL 0, which the gateway omits. */
        if (ttl <= 0)
                return etcd_error(200, ETCD_CODE_NOT_FOUND, NULL, ret_error);
        *ret_ttl = ttl;
        return 0;
}

int etcd_parse_token(json_object *reply, char **ret_token, char **ret_error) {
        const char *token = json_get_string(reply, "token");
        char *t;

        if (!token || !*token)
                return error_set(ret_error, -EBADMSG, "etcd reply: authenticate: expected a token");
        t = strdup(token);
        if (!t)
                return -ENOMEM;
        *ret_token = t;
        return 0;
}

EtcdWatchMessage *etcd_watch_message_free(EtcdWatchMessage *m) {
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->n_events; i++) {
                etcd_key_value_done(&m->events[i].kv);
                etcd_key_value_done(&m->events[i].prev_kv);
        }
        free(m->events);
        free(m->cancel_reason);
        return mfree(m);
}

static int parse_event(json_object *o, size_t i, EtcdEvent *ret, char **ret_error) {
        const char *type;
        json_object *prev;
        char what[48];
        int r;

        if (!json_object_is_type(o, json_type_object))
                return error_set(ret_error, -EBADMSG,
                                 "etcd reply: watch: events[%zu]: expected an object", i);

        /* PUT is the zero value and goes unnamed. */
        type = json_get_string(o, "type");
        if (!type || streq(type, "PUT"))
                ret->type = ETCD_EVENT_PUT;
        else if (streq(type, "DELETE"))
                ret->type = ETCD_EVENT_DELETE;
        else
                return error_set(ret_error, -EBADMSG,
                                 "etcd reply: watch: events[%zu].type: expected PUT or DELETE", i);

        snprintf(what, sizeof(what), "watch: events[%zu].kv", i);
        r = parse_kv(json_object_object_get(o, "kv"), what, &ret->kv, ret_error);
        if (r < 0)
                return r;
        prev = json_object_object_get(o, "prev_kv");
        if (!prev)
                return 0;
        snprintf(what, sizeof(what), "watch: events[%zu].prev_kv", i);
        return parse_kv(prev, what, &ret->prev_kv, ret_error);
}

int etcd_parse_watch_line(const char *line, size_t len, EtcdWatchMessage **ret, char **ret_error) {
        _cleanup_(etcd_watch_message_freep) EtcdWatchMessage *m = NULL;
        _cleanup_json_ json_object *o = NULL;
        json_object *result, *events;
        const char *reason;
        size_t n;
        int r;

        r = etcd_parse_reply(200, line, len, &o, ret_error);
        if (r < 0)
                return r;

        result = json_object_object_get(o, "result");
        if (!json_object_is_type(result, json_type_object))
                return error_set(ret_error, -EBADMSG,
                                 "etcd reply: watch: expected {\"result\": {...}}");

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        r = get_int64(result, "watch", "watch_id", &m->watch_id, ret_error);
        if (r >= 0)
                r = get_int64(result, "watch", "compact_revision", &m->compact_revision, ret_error);
        if (r < 0)
                return r;
        if (etcd_reply_revision(result, &m->revision) < 0)
                return error_set(ret_error, -EBADMSG,
                                 "etcd reply: watch: header.revision: expected an integer");
        m->created = get_bool(result, "created");
        m->canceled = get_bool(result, "canceled");
        reason = json_get_string(result, "cancel_reason");
        if (reason && *reason) {
                m->cancel_reason = strdup(reason);
                if (!m->cancel_reason)
                        return -ENOMEM;
        }

        r = get_array(result, "watch", "events", &events, ret_error);
        if (r < 0)
                return r;
        n = events ? json_object_array_length(events) : 0;
        if (n > 0) {
                m->events = calloc(n, sizeof(EtcdEvent));
                if (!m->events)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                r = parse_event(json_object_array_get_idx(events, i), i, &m->events[i], ret_error);
                if (r < 0) {
                        etcd_key_value_done(&m->events[i].kv);
                        etcd_key_value_done(&m->events[i].prev_kv);
                        return r;
                }
                m->n_events++;
        }

        *ret = TAKE_PTR(m);
        return 0;
}
