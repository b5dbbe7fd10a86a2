/* SPDX-License-Identifier: MIT */
/* What every verb of strata shares (contract in strata.h): the etcd connection, option values,
 * keys and ids, records in etcd, and the table-driven mapping between stored records and the
 * AWS-shaped options and output. */

#include <stdarg.h>
#include <sys/random.h>
#include <time.h>

#include "fs-util.h"
#include "json-util.h"
#include "str-util.h"
#include "strata.h"

#define FILTERED "*****FILTERED*****"
#define ALNUM "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
#define IDENTIFIER_RULE                                                                            \
        "an identifier of 1 to 64 letters, digits, '.', '_' or '-', not starting with '.' or '-'"

void strata_print_json(json_object *doc) {
        const char *s = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
                                                                    JSON_C_TO_STRING_SPACED |
                                                                    JSON_C_TO_STRING_NOSLASHESCAPE);

        puts(s ?: "null");
}

int strata_read_password(const char *option, const char *path, char **ret, char **ret_error) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        r = read_full_file(path, 4096, &text, &len);
        if (r < 0)
                return error_set(ret_error, r, "--%s %s: %s", option, path, strerror(-r));
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
                text[--len] = 0;
        if (len == 0 || strlen(text) != len)
                return error_set(ret_error, -EINVAL, "--%s %s: expected a password on one line",
                                 option, path);
        *ret = TAKE_PTR(text);
        return 0;
}

EtcdClient *strata_etcd(Strata *s) {
        _cleanup_free_ char *password = NULL, *error = NULL;
        EtcdClientOptions o = {
                .endpoints = s->endpoints,
                .user = s->user,
                .ca_file = s->cacert,
                .cert_file = s->cert,
                .key_file = s->key,
        };
        int r;

        if (s->etcd)
                return s->etcd;
        if (s->password_file) {
                r = strata_read_password("password-file", s->password_file, &password, &error);
                if (r < 0) {
                        strata_fail(r, error);
                        return NULL;
                }
                o.password = password;
        }
        r = etcd_client_new(&o, &s->etcd);
        if (password)
                explicit_bzero(password, strlen(password));
        if (r < 0) {
                strata_fail(r, NULL);
                return NULL;
        }
        return s->etcd;
}

const char *arg_string(Strata *s, const char *name) {
        json_object *v = json_object_object_get(s->args, name);

        return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

json_object *arg_list(Strata *s, const char *name) {
        json_object *v = json_object_object_get(s->args, name);

        return json_object_is_type(v, json_type_array) ? v : NULL;
}

int arg_bool(Strata *s, const char *name) {
        json_object *v = json_object_object_get(s->args, name);

        return json_object_is_type(v, json_type_boolean) ? json_object_get_boolean(v) : -1;
}

int arg_json(Strata *s, const char *name, bool want_list, json_object **ret, char **ret_error) {
        _cleanup_free_ char *what = strf("--%s", name), *error = NULL;
        _cleanup_json_ json_object *v = NULL;
        const char *text = arg_string(s, name);
        int r;

        *ret = NULL;
        if (!text)
                return 0;
        if (!what)
                return -ENOMEM;
        r = json_parse_strict(what, text, strlen(text), &v, &error);
        if (r < 0)
                return error_set(ret_error, -EINVAL, "%s: %s", s->verb->name, strempty(error));
        if (!json_object_is_type(v, want_list ? json_type_array : json_type_object))
                return error_set(ret_error, -EINVAL, "%s: --%s: expected a JSON %s", s->verb->name,
                                 name, want_list ? "list" : "object");
        *ret = TAKE_PTR(v);
        return 0;
}

bool strata_identifier_valid(const char *s) {
        size_t n;

        if (!s)
                return false;
        n = strlen(s);
        return n > 0 && n <= 64 && s[0] != '.' && s[0] != '-' && strspn(s, ALNUM "._-") == n;
}

int arg_identifier(Strata *s, const char *name, const char **ret, char **ret_error) {
        const char *v = arg_string(s, name);

        *ret = v;
        if (v && !strata_identifier_valid(v))
                return error_set(ret_error, -EINVAL, "%s: --%s '%s': expected " IDENTIFIER_RULE,
                                 s->verb->name, name, v);
        return 0;
}

char *strata_key(Strata *s, const char *fmt, ...) {
        _cleanup_free_ char *rest = NULL;
        va_list ap;

        va_start(ap, fmt);
        rest = strfv(fmt, ap);
        va_end(ap);
        return rest ? strf("%s/%s", s->prefix, rest) : NULL;
}

int strata_new_id(char **ret) {
        uint8_t rnd[3];
        time_t now = time(NULL);
        struct tm tm;
        char stamp[32];
        char *id;

        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
                return -errno;
        if (!gmtime_r(&now, &tm) || strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) == 0)
                return -EINVAL;
        id = strf("%s-%02x%02x%02x", stamp, rnd[0], rnd[1], rnd[2]);
        if (!id)
                return -ENOMEM;
        *ret = id;
        return 0;
}

int strata_random_secret(char **ret) {
        uint8_t rnd[32];
        _cleanup_free_ char *b64 = NULL;

        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
                return -errno;
        b64 = etcd_base64_encode(rnd, sizeof(rnd));
        explicit_bzero(rnd, sizeof(rnd));
        if (!b64)
                return -ENOMEM;
        /* base64url without padding: nothing a shell or YAML would read differently. */
        for (char *p = b64; *p; p++)
                if (*p == '+')
                        *p = '-';
                else if (*p == '/')
                        *p = '_';
        b64[strcspn(b64, "=")] = 0;
        *ret = TAKE_PTR(b64);
        return 0;
}

static int parse_record(const EtcdKeyValue *kv, json_object **ret, char **ret_error) {
        _cleanup_json_ json_object *v = NULL;
        int r;

        r = json_parse_strict(kv->key, kv->value, kv->value_len, &v, ret_error);
        if (r < 0)
                return r == -EINVAL ? -EBADMSG : r;
        if (!json_object_is_type(v, json_type_object))
                return error_set(ret_error, -EBADMSG, "%s: expected a JSON object", kv->key);
        *ret = TAKE_PTR(v);
        return 0;
}

int record_get(Strata *s, const char *key, const char *what, const char *id, json_object **ret,
               int64_t *ret_mod_revision, char **ret_error) {
        _cleanup_(etcd_range_freep) EtcdRange *range = NULL;
        EtcdClient *c = strata_etcd(s);
        int r;

        if (!c)
                return -EIO;
        r = etcd_client_range(c, key, 0, &range, ret_error);
        if (r < 0)
                return r;
        if (range->n_kvs == 0)
                return error_set(ret_error, -ENOENT, "%s '%s' does not exist", what, id);
        r = parse_record(&range->kvs[0], ret, ret_error);
        if (r >= 0 && ret_mod_revision)
                *ret_mod_revision = range->kvs[0].mod_revision;
        return r;
}

int record_list(Strata *s, const char *prefix, json_object **ret, int64_t *ret_revision,
                char **ret_error) {
        _cleanup_(etcd_range_freep) EtcdRange *range = NULL;
        _cleanup_json_ json_object *list = json_object_new_array();
        EtcdClient *c = strata_etcd(s);
        int r;

        if (!c)
                return -EIO;
        if (!list)
                return -ENOMEM;
        r = etcd_client_range(c, prefix, ETCD_RANGE_PREFIX, &range, ret_error);
        if (r < 0)
                return r;

        for (size_t i = 0; i < range->n_kvs; i++) {
                const char *rel = range->kvs[i].key + strlen(prefix);
                _cleanup_json_ json_object *e = NULL, *v = NULL;

                if (!*rel || strchr(rel, '/'))
                        continue;
                r = parse_record(&range->kvs[i], &v, ret_error);
                if (r < 0)
                        return r;
                e = json_object_new_object();
                if (!e || json_add_string(e, "key", rel) < 0 ||
                    json_add(e, "value", TAKE_PTR(v)) < 0 || json_object_array_add(list, e) < 0)
                        return -ENOMEM;
                TAKE_PTR(e);
        }

        *ret = TAKE_PTR(list);
        if (ret_revision)
                *ret_revision = range->revision;
        return 0;
}

int record_find_stack(Strata *s, const char *kind, const char *id, char **ret_stack_id,
                      char **ret_error) {
        _cleanup_(etcd_range_freep) EtcdRange *range = NULL;
        _cleanup_free_ char *prefix = strata_key(s, "stacks/"), *tail = strf("/%s/%s", kind, id);
        EtcdClient *c = strata_etcd(s);
        int r;

        if (!c)
                return -EIO;
        if (!prefix || !tail)
                return -ENOMEM;
        r = etcd_client_range(c, prefix, ETCD_RANGE_PREFIX | ETCD_RANGE_KEYS_ONLY, &range,
                              ret_error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < range->n_kvs; i++) {
                const char *rel = range->kvs[i].key + strlen(prefix);
                size_t n = strlen(rel), k = strlen(tail);
                char *stack;

                if (n <= k || !streq(rel + n - k, tail) || memchr(rel, '/', n - k))
                        continue;
                stack = strndup(rel, n - k);
                if (!stack)
                        return -ENOMEM;
                *ret_stack_id = stack;
                return 0;
        }
        /* "layers" -> "layer" for the message. */
        return error_set(ret_error, -ENOENT, "%.*s '%s' does not exist", (int)(strlen(kind) - 1),
                         kind, id);
}

int stack_records(Strata *s, const char *stack, const char *kind, json_object **ret,
                  int64_t *ret_revision, char **ret_error) {
        _cleanup_free_ char *key = strata_key(s, "stacks/%s", stack),
                            *prefix = strata_key(s, "stacks/%s/%s/", stack, kind);
        _cleanup_json_ json_object *record = NULL;
        int r;

        if (!key || !prefix)
                return -ENOMEM;
        r = record_get(s, key, "stack", stack, &record, NULL, ret_error);
        if (r < 0)
                return r;
        return record_list(s, prefix, ret, ret_revision, ret_error);
}

int record_locate(Strata *s, const char *option, const char *kind, const char **ret_id,
                  char **ret_stack_id, char **ret_key, char **ret_error) {
        _cleanup_free_ char *stack = NULL, *key = NULL;
        const char *id;
        int r;

        r = arg_identifier(s, option, &id, ret_error);
        if (r >= 0)
                r = record_find_stack(s, kind, id, &stack, ret_error);
        if (r < 0)
                return r;
        key = strata_key(s, "stacks/%s/%s/%s", stack, kind, id);
        if (!key)
                return -ENOMEM;
        *ret_id = id;
        *ret_stack_id = TAKE_PTR(stack);
        *ret_key = TAKE_PTR(key);
        return 0;
}

int record_get_by_id(Strata *s, const char *kind, const char *what, const char *id,
                     json_object **ret, char **ret_error) {
        _cleanup_free_ char *stack = NULL, *key = NULL;
        int r;

        r = record_find_stack(s, kind, id, &stack, ret_error);
        if (r < 0)
                return r;
        key = strata_key(s, "stacks/%s/%s/%s", stack, kind, id);
        if (!key)
                return -ENOMEM;
        return record_get(s, key, what, id, ret, NULL, ret_error);
}

int stack_child_check_shortname(Strata *s, const StackChild *c, const char *stack,
                                json_object *records, int64_t revision, json_object *record,
                                json_object *txn, char **ret_error) {
        _cleanup_free_ char *prefix = strata_key(s, "stacks/%s/%s/", stack, c->kind);
        const char *id = json_get_string(record, "id");
        const char *shortname = json_get_string(record, "shortname");

        if (!prefix)
                return -ENOMEM;
        for (size_t i = 0; i < json_object_array_length(records); i++) {
                json_object *o =
                        json_object_object_get(json_object_array_get_idx(records, i), "value");

                if (!streq_ptr(json_get_string(o, "id"), id) &&
                    streq_ptr(json_get_string(o, "shortname"), shortname))
                        return error_set(ret_error, -EEXIST,
                                         "%s: %s '%s': %s '%s' of stack '%s' has it already",
                                         s->verb->name, c->shortname_option, shortname, c->noun,
                                         json_get_string(o, "id"), stack);
        }
        return etcd_txn_compare_prefix(txn, prefix, ETCD_COMPARE_MOD, ETCD_COMPARE_LESS,
                                       revision + 1);
}

int stack_child_describe(Strata *s, const StackChild *c) {
        _cleanup_json_ json_object *out = json_object_new_array(), *records = NULL;
        _cleanup_free_ char *error = NULL, *ids_option = strf("%s-ids", c->noun);
        json_object *ids;
        const char *stack;
        int r;

        if (!out || !ids_option)
                return strata_fail(-ENOMEM, NULL);
        ids = arg_list(s, ids_option);
        r = arg_identifier(s, "stack-id", &stack, &error);
        if (r < 0)
                return strata_fail(r, error);
        if (!stack == !ids)
                return strata_error(STRATA_EXIT_USAGE, "%s: expected --stack-id or --%s",
                                    s->verb->name, ids_option);

        if (stack) {
                r = stack_records(s, stack, c->kind, &records, NULL, &error);
                if (r < 0)
                        return strata_fail(r, error);
                for (size_t i = 0; i < json_object_array_length(records); i++) {
                        _cleanup_json_ json_object *o = NULL;

                        if (c->output(json_object_object_get(json_object_array_get_idx(records, i),
                                                             "value"),
                                      &o) < 0 ||
                            json_object_array_add(out, TAKE_PTR(o)) < 0)
                                return strata_fail(-ENOMEM, NULL);
                }
                return print_result(c->result_key, TAKE_PTR(out));
        }

        for (size_t i = 0; i < json_object_array_length(ids); i++) {
                const char *id = json_object_get_string(json_object_array_get_idx(ids, i));
                _cleanup_json_ json_object *record = NULL, *o = NULL;

                if (!strata_identifier_valid(id))
                        return strata_error(STRATA_EXIT_USAGE, "%s: --%s: '%s' is not %s",
                                            s->verb->name, ids_option, id, c->id_phrase);
                r = record_get_by_id(s, c->kind, c->noun, id, &record, &error);
                if (r < 0)
                        return strata_fail(r, error);
                if (c->output(record, &o) < 0 || json_object_array_add(out, TAKE_PTR(o)) < 0)
                        return strata_fail(-ENOMEM, NULL);
        }
        return print_result(c->result_key, TAKE_PTR(out));
}

int stack_child_update(Strata *s, const StackChild *c) {
        _cleanup_free_ char *stack = NULL, *key = NULL, *error = NULL,
                            *id_option = strf("%s-id", c->noun),
                            *conflict =
                                    strf("the stack's %s changed meanwhile; try again", c->kind);
        const char *id;
        int r;

        if (!id_option || !conflict)
                return strata_fail(-ENOMEM, NULL);
        r = record_locate(s, id_option, c->kind, &id, &stack, &key, &error);
        if (r < 0)
                return strata_fail(r, error);

        for (unsigned attempt = 0;; attempt++) {
                _cleanup_json_ json_object *record = NULL, *txn = NULL, *records = NULL;
                int64_t revision;

                error = mfree(error);
                r = stack_records(s, stack, c->kind, &records, &revision, &error);
                if (r >= 0)
                        r = record_get(s, key, c->noun, id, &record, NULL, &error);
                if (r >= 0)
                        r = fields_apply(s, c->fields, record, &error);
                if (r >= 0)
                        r = etcd_txn_new(&txn);
                if (r >= 0)
                        r = stack_child_check_shortname(s, c, stack, records, revision, record, txn,
                                                        &error);
                if (r >= 0)
                        r = txn_put(txn, key, record);
                if (r < 0)
                        return strata_fail(r, error);
                r = txn_run(s, TAKE_PTR(txn), conflict, &error);
                if (r != -EBUSY || attempt >= 3)
                        return r < 0 ? strata_fail(r, error) : STRATA_EXIT_SUCCESS;
        }
}

const char *record_text(json_object *v) {
        return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE);
}

int txn_put(json_object *txn, const char *key, json_object *value) {
        const char *text = record_text(value);
        json_object *req = NULL;
        int r;

        if (!text)
                return -ENOMEM;
        r = etcd_request_put(key, text, strlen(text), 0, &req);
        if (r < 0)
                return r;
        return etcd_txn_add(txn, true, ETCD_OP_PUT, req);
}

int txn_delete(json_object *txn, const char *key, bool prefix) {
        json_object *req = NULL;
        int r;

        r = etcd_request_delete_range(key, prefix, &req);
        if (r < 0)
                return r;
        return etcd_txn_add(txn, true, ETCD_OP_DELETE_RANGE, req);
}

int txn_run(Strata *s, json_object *txn, const char *conflict, char **ret_error) {
        EtcdClient *c = strata_etcd(s);
        bool ok = false;
        int r;

        if (!c) {
                json_object_put(txn);
                return -EIO;
        }
        r = etcd_client_txn(c, txn, &ok, NULL, ret_error);
        if (r < 0)
                return r;
        if (!ok)
                return error_set(ret_error, -EBUSY, "%s", conflict);
        return 0;
}

int json_add(json_object *o, const char *key, json_object *v) {
        if (!v || json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

int json_add_string(json_object *o, const char *key, const char *value) {
        if (!value)
                return 0;
        return json_add(o, key, json_object_new_string(value));
}

int print_result(const char *key, json_object *value) {
        _cleanup_json_ json_object *o = json_object_new_object();

        if (!o || json_add(o, key, value) < 0)
                return strata_error(STRATA_EXIT_FAILED, "out of memory");
        strata_print_json(o);
        return STRATA_EXIT_SUCCESS;
}

int print_id(const char *key, const char *id) {
        return print_result(key, json_object_new_string(id));
}

/* --- fields --- */

typedef struct Rename {
        const char *aws, *stored;
        bool secret; /* shown as FILTERED */
} Rename;

static const Rename recipe_names[] = {
        {"Setup", "setup"},       {"Configure", "configure"}, {"Deploy", "deploy"},
        {"Undeploy", "undeploy"}, {"Shutdown", "shutdown"},   {},
};

static const Rename source_names[] = {
        {"Type", "type"},
        {"Url", "url"},
        {"Revision", "revision"},
        {"SshKey", "ssh_key", true},
        {"Username", "username"},
        {"Password", "password", true},
        {},
};

static const Rename ssl_names[] = {
        {"Certificate", "certificate"},
        {"PrivateKey", "key", true},
        {"Chain", "chain"},
        {},
};

static const char *expected_keys(const Rename *names, StrBuf *b) {
        for (const Rename *n = names; n->aws; n++)
                if (strbuf_printf(b, "%s%s", n == names ? "" : ", ", n->aws) < 0)
                        return NULL;
        return b->data;
}

/* An AWS-shaped object of strings (or, for recipes, lists of strings) to a stored one. */
static int rename_in(Strata *s, const char *option, json_object *in, const Rename *names,
                     json_type type, json_object **ret, char **ret_error) {
        _cleanup_json_ json_object *out = json_object_new_object();

        if (!out)
                return -ENOMEM;
        json_object_object_foreach (in, k, v) {
                const Rename *n;

                for (n = names; n->aws && !streq(n->aws, k); n++)
                        ;
                if (!n->aws) {
                        _cleanup_(strbuf_done) StrBuf b = {};

                        return error_set(ret_error, -EINVAL,
                                         "%s: --%s: unknown key '%s' (expected %s)", s->verb->name,
                                         option, k, strempty(expected_keys(names, &b)));
                }
                if (!json_object_is_type(v, type))
                        return error_set(ret_error, -EINVAL, "%s: --%s: %s: expected %s",
                                         s->verb->name, option, k,
                                         type == json_type_string ? "a string"
                                                                  : "a list of strings");
                if (type == json_type_array)
                        for (size_t i = 0; i < json_object_array_length(v); i++)
                                if (!json_object_is_type(json_object_array_get_idx(v, i),
                                                         json_type_string))
                                        return error_set(ret_error, -EINVAL,
                                                         "%s: --%s: %s[%zu]: expected a string",
                                                         s->verb->name, option, k, i);
                if (json_add(out, n->stored, json_object_get(v)) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

static int rename_out(json_object *in, const Rename *names, json_object **ret) {
        _cleanup_json_ json_object *out = json_object_new_object();

        if (!out)
                return -ENOMEM;
        for (const Rename *n = names; n->aws; n++) {
                json_object *v = json_object_object_get(in, n->stored);

                if (!v)
                        continue;
                if (json_add(out, n->aws,
                             n->secret ? json_object_new_string(FILTERED) : json_object_get(v)) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

static int apply_recipes(Strata *s, const Field *f, json_object *in, json_object *record,
                         char **ret_error) {
        _cleanup_json_ json_object *out = NULL;
        int r;

        r = rename_in(s, f->option, in, recipe_names, json_type_array, &out, ret_error);
        if (r < 0)
                return r;
        /* Every event gets its list, as the agent normalises it. */
        for (const Rename *n = recipe_names; n->aws; n++)
                if (!json_object_object_get_ex(out, n->stored, NULL) &&
                    json_add(out, n->stored, json_object_new_array()) < 0)
                        return -ENOMEM;
        return json_add(record, f->key, TAKE_PTR(out));
}

static int apply_source(Strata *s, const Field *f, json_object *in, json_object *record,
                        char **ret_error) {
        _cleanup_json_ json_object *out = NULL;
        const char *type;
        int r;

        r = rename_in(s, f->option, in, source_names, json_type_string, &out, ret_error);
        if (r < 0)
                return r;
        type = json_get_string(out, "type");
        if (!type || !STR_IN_SET(type, "git", "s3", "archive", "http"))
                return error_set(ret_error, -EINVAL,
                                 "%s: --%s: Type: expected one of git, s3, archive, http",
                                 s->verb->name, f->option);
        if (!json_get_string(out, "url"))
                return error_set(ret_error, -EINVAL, "%s: --%s: Url: missing", s->verb->name,
                                 f->option);
        return json_add(record, f->key, TAKE_PTR(out));
}

static int apply_environment(Strata *s, const Field *f, json_object *in, json_object *record,
                             char **ret_error) {
        _cleanup_json_ json_object *env = json_object_new_object(),
                                   *secure = json_object_new_array();

        if (!env || !secure)
                return -ENOMEM;
        for (size_t i = 0; i < json_object_array_length(in); i++) {
                json_object *e = json_object_array_get_idx(in, i), *sec;
                const char *k = json_get_string(e, "Key"), *v = json_get_string(e, "Value");

                if (!json_object_is_type(e, json_type_object) || !k || !*k || !v ||
                    json_object_object_length(e) >
                            2 + (int)json_object_object_get_ex(e, "Secure", NULL))
                        return error_set(ret_error, -EINVAL,
                                         "%s: --%s[%zu]: expected {\"Key\": \"...\", \"Value\": "
                                         "\"...\", \"Secure\": true|false}",
                                         s->verb->name, f->option, i);
                sec = json_object_object_get(e, "Secure");
                if (sec && !json_object_is_type(sec, json_type_boolean))
                        return error_set(ret_error, -EINVAL,
                                         "%s: --%s[%zu].Secure: expected true or false",
                                         s->verb->name, f->option, i);
                if (json_add_string(env, k, v) < 0)
                        return -ENOMEM;
                if (json_object_get_boolean(sec) &&
                    json_object_array_add(secure, json_object_new_string(k)) < 0)
                        return -ENOMEM;
        }
        if (json_add(record, f->key, TAKE_PTR(env)) < 0)
                return -ENOMEM;
        if (json_object_array_length(secure) == 0) {
                json_object_object_del(record, "secure_environment");
                return 0;
        }
        return json_add(record, "secure_environment", TAKE_PTR(secure));
}

static int apply_lifecycle(Strata *s, const Field *f, json_object *in, json_object *record,
                           char **ret_error) {
        json_object *shutdown = json_object_object_get(in, "Shutdown"),
                    *t = json_object_object_get(shutdown, "ExecutionTimeout");
        int64_t n = json_object_get_int64(t);

        if (json_object_object_length(in) != 1 || !json_object_is_type(t, json_type_int) || n < 1 ||
            n > 86400)
                return error_set(ret_error, -EINVAL,
                                 "%s: --%s: expected {\"Shutdown\": {\"ExecutionTimeout\": "
                                 "seconds from 1 to 86400}}",
                                 s->verb->name, f->option);
        return json_add(record, f->key, json_object_new_int64(n));
}

static int apply_attributes(Strata *s, const Field *f, json_object *in, json_object *record,
                            char **ret_error) {
        _cleanup_json_ json_object *attributes = json_object_new_object();

        if (!attributes)
                return -ENOMEM;
        json_object_object_foreach (in, k, v) {
                if (!json_object_is_type(v, json_type_string))
                        return error_set(ret_error, -EINVAL, "%s: --%s: %s: expected a string",
                                         s->verb->name, f->option, k);
                if (streq(k, "DocumentRoot")) {
                        if (json_add(record, "document_root", json_object_get(v)) < 0)
                                return -ENOMEM;
                } else if (json_add(attributes, k, json_object_get(v)) < 0)
                        return -ENOMEM;
        }
        return json_add(record, f->key, TAKE_PTR(attributes));
}

static int apply_one(Strata *s, const Field *f, json_object *record, char **ret_error) {
        _cleanup_json_ json_object *in = NULL;
        const char *value;
        int r;

        switch (f->type) {
        case FIELD_STRING:
        case FIELD_IDENTIFIER:
                if (f->type == FIELD_IDENTIFIER) {
                        r = arg_identifier(s, f->option, &value, ret_error);
                        if (r < 0)
                                return r;
                } else
                        value = arg_string(s, f->option);
                return value ? json_add_string(record, f->key, value) : 0;
        case FIELD_LIST: {
                json_object *list = arg_list(s, f->option); /* borrowed */

                return list ? json_add(record, f->key, json_object_get(list)) : 0;
        }
        case FIELD_BOOL:
                r = arg_bool(s, f->option);
                return r < 0 ? 0 : json_add(record, f->key, json_object_new_boolean(r));
        default:
                break;
        }

        r = arg_json(s, f->option, f->type == FIELD_ENVIRONMENT, &in, ret_error);
        if (r < 0 || !in)
                return r;
        switch (f->type) {
        case FIELD_OBJECT:
                return json_add(record, f->key, TAKE_PTR(in));
        case FIELD_RECIPES:
                return apply_recipes(s, f, in, record, ret_error);
        case FIELD_SOURCE:
                return apply_source(s, f, in, record, ret_error);
        case FIELD_ENVIRONMENT:
                return apply_environment(s, f, in, record, ret_error);
        case FIELD_SSL: {
                _cleanup_json_ json_object *out = NULL;

                r = rename_in(s, f->option, in, ssl_names, json_type_string, &out, ret_error);
                return r < 0 ? r : json_add(record, f->key, TAKE_PTR(out));
        }
        case FIELD_LIFECYCLE:
                return apply_lifecycle(s, f, in, record, ret_error);
        case FIELD_ATTRIBUTES:
                return apply_attributes(s, f, in, record, ret_error);
        default:
                return -EINVAL;
        }
}

int fields_apply(Strata *s, const Field *fields, json_object *record, char **ret_error) {
        int r;

        for (const Field *f = fields; f->output; f++) {
                if (!f->option)
                        continue;
                r = apply_one(s, f, record, ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int output_environment(json_object *record, json_object *env, json_object **ret) {
        _cleanup_json_ json_object *list = json_object_new_array();
        json_object *secure = json_object_object_get(record, "secure_environment");

        if (!list)
                return -ENOMEM;
        json_object_object_foreach (env, k, v) {
                _cleanup_json_ json_object *e = json_object_new_object();
                bool is_secure = false;

                for (size_t i = 0; i < json_object_array_length(secure); i++)
                        if (streq_ptr(json_object_get_string(json_object_array_get_idx(secure, i)),
                                      k))
                                is_secure = true;
                if (!e || json_add_string(e, "Key", k) < 0 ||
                    json_add_string(e, "Value", is_secure ? FILTERED : json_object_get_string(v)) <
                            0 ||
                    json_add(e, "Secure", json_object_new_boolean(is_secure)) < 0 ||
                    json_object_array_add(list, e) < 0)
                        return -ENOMEM;
                TAKE_PTR(e);
        }
        *ret = TAKE_PTR(list);
        return 0;
}

static int output_one(const Field *f, json_object *record, json_object *out) {
        _cleanup_json_ json_object *o = NULL;
        json_object *v = json_object_object_get(record, f->key);
        int r;

        if (!v && f->type != FIELD_ATTRIBUTES)
                return 0;
        switch (f->type) {
        case FIELD_STRING:
        case FIELD_IDENTIFIER:
        case FIELD_LIST:
        case FIELD_BOOL:
                return json_add(out, f->output, json_object_get(v));
        case FIELD_OBJECT:
                return json_add_string(out, f->output, record_text(v));
        case FIELD_RECIPES:
                r = rename_out(v, recipe_names, &o);
                break;
        case FIELD_SOURCE:
                r = rename_out(v, source_names, &o);
                break;
        case FIELD_SSL:
                r = rename_out(v, ssl_names, &o);
                break;
        case FIELD_ENVIRONMENT:
                r = output_environment(record, v, &o);
                break;
        case FIELD_LIFECYCLE:
                o = json_object_new_object();
                r = o ? json_add(o, "Shutdown", json_object_new_object()) : -ENOMEM;
                if (r >= 0)
                        r = json_add(json_object_object_get(o, "Shutdown"), "ExecutionTimeout",
                                     json_object_get(v));
                break;
        case FIELD_ATTRIBUTES:
                o = json_object_new_object();
                r = o ? json_add_string(o, "DocumentRoot", json_get_string(record, "document_root"))
                      : -ENOMEM;
                if (v) {
                        json_object_object_foreach (v, k, a)
                                if (r >= 0)
                                        r = json_add(o, k, json_object_get(a));
                }
                break;
        default:
                return -EINVAL;
        }
        if (r < 0)
                return r;
        return json_add(out, f->output, TAKE_PTR(o));
}

int fields_output(const Field *fields, json_object *record, json_object *out) {
        int r;

        for (const Field *f = fields; f->output; f++) {
                r = output_one(f, record, out);
                if (r < 0)
                        return r;
        }
        return 0;
}
