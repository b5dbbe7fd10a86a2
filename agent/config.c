/* SPDX-License-Identifier: MIT */

#include <limits.h>
#include <stdarg.h>
#include <stddef.h>

#include "config.h"
#include "fs-util.h"
#include "str-util.h"
#include "yaml-load.h"

#define MACHINE_ID_PATH "/etc/machine-id"

/* Commands and timers count on these being short, positive and free of overflow. */
#define DURATION_MAX ((usec_t)365 * 24 * 3600 * USEC_PER_SEC)
#define DURATION_RULE                                                                              \
        "a duration such as 500ms, 60s, 5m or 1h (a bare number means seconds), from 1ms to 8760h"
#define DURATION_STRING_MAX 32

/* Ids become etcd keys and file names. */
#define IDENTIFIER_MAX 64
#define IDENTIFIER_RULE                                                                            \
        "an identifier of 1 to 64 letters, digits, '.', '_' or '-', not starting with '.' or '-'"

/* The same rule as the user resource: what useradd accepts and no option can be mistaken for. */
#define USER_NAME_MAX 32
#define USER_NAME_RULE                                                                             \
        "a user name of 1 to 32 letters, digits, '.', '_' or '-', not starting with '-'"

#define ALNUM "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

typedef struct ConfigKey ConfigKey;

/* How one kind of value is read from the file, written back as the file would say it, and
 * freed. parse() checks the value and replaces the field, or fails with an "expected ..."
 * message and leaves the field alone. dump() gives NULL for an unset optional value. */
typedef struct ConfigType {
        int (*parse)(const ConfigKey *key, json_object *value, void *field, char **ret_error);
        int (*dump)(const void *field, json_object **ret);
        void (*done)(void *field); /* NULL: nothing to free */
} ConfigType;

struct ConfigKey {
        const char *name;
        const ConfigType *type;   /* NULL for a section */
        size_t offset;            /* of the field in AgentConfig */
        const ConfigKey *section; /* keys of a nested mapping */
        const char *backend;      /* NULL: any control plane; else the only type the key is for */
        int64_t min, max;         /* range of an integer */
};

static void *field_of(AgentConfig *c, const ConfigKey *k) {
        return (uint8_t *)c + k->offset;
}

static const void *const_field_of(const AgentConfig *c, const ConfigKey *k) {
        return (const uint8_t *)c + k->offset;
}

/* json-c strings can hold a NUL from a "\0" escape, which a C string would silently cut. */
static const char *get_string(json_object *v) {
        const char *s;

        if (!json_object_is_type(v, json_type_string))
                return NULL;
        s = json_object_get_string(v);
        if (strlen(s) != (size_t)json_object_get_string_len(v))
                return NULL;
        return s;
}

static bool printable(const char *s) {
        for (const char *p = s; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                        return false;
        return true;
}

static int store_string(void *field, const char *s) {
        char *copy = strdup(s);

        if (!copy)
                return -ENOMEM;
        free(*(char **)field);
        *(char **)field = copy;
        return 0;
}

/* A string that passes valid() or the error "expected <rule>". */
static int parse_checked_string(json_object *v, void *field, bool (*valid)(const char *s),
                                const char *rule, char **ret_error) {
        const char *s = get_string(v);

        if (!s || !valid(s))
                return error_set(ret_error, -EINVAL, "expected %s", rule);
        return store_string(field, s);
}

static int dump_string(const void *field, json_object **ret) {
        const char *s = *(char *const *)field;
        json_object *o = NULL;

        if (s) {
                o = json_object_new_string(s);
                if (!o)
                        return -ENOMEM;
        }
        *ret = o;
        return 0;
}

static void free_string(void *field) {
        free(*(char **)field);
}

static bool valid_identifier(const char *s) {
        size_t n = strlen(s);

        return n > 0 && n <= IDENTIFIER_MAX && s[0] != '.' && s[0] != '-' &&
               strspn(s, ALNUM "._-") == n;
}

static int parse_identifier(const ConfigKey *k _unused_, json_object *v, void *field,
                            char **ret_error) {
        return parse_checked_string(v, field, valid_identifier, IDENTIFIER_RULE, ret_error);
}

static bool valid_path(const char *s) {
        return s[0] == '/' && strlen(s) < PATH_MAX && printable(s);
}

static int parse_path(const ConfigKey *k _unused_, json_object *v, void *field, char **ret_error) {
        return parse_checked_string(v, field, valid_path, "an absolute path", ret_error);
}

static bool valid_user_name(const char *s) {
        size_t n = strlen(s);

        return n > 0 && n <= USER_NAME_MAX && s[0] != '-' && strspn(s, ALNUM "._-") == n;
}

static int parse_user_name(const ConfigKey *k _unused_, json_object *v, void *field,
                           char **ret_error) {
        return parse_checked_string(v, field, valid_user_name, USER_NAME_RULE, ret_error);
}

static bool valid_text(const char *s) {
        return *s && printable(s);
}

static int parse_text(const ConfigKey *k _unused_, json_object *v, void *field, char **ret_error) {
        return parse_checked_string(v, field, valid_text,
                                    "a non-empty string without control characters", ret_error);
}

/* Keys are built as prefix + "/instances/...", so no trailing or doubled slash. */
static bool valid_etcd_prefix(const char *s) {
        return s[0] == '/' && !endswith(s, "/") && !strstr(s, "//") && printable(s) &&
               !strchr(s, ' ');
}

static int parse_etcd_prefix(const ConfigKey *k _unused_, json_object *v, void *field,
                             char **ret_error) {
        return parse_checked_string(v, field, valid_etcd_prefix,
                                    "a key prefix starting with '/', without spaces, a trailing "
                                    "'/' or '//'",
                                    ret_error);
}

static bool valid_url(const char *s) {
        const char *host;

        if (startswith(s, "https://"))
                host = s + strlen("https://");
        else if (startswith(s, "http://"))
                host = s + strlen("http://");
        else
                return false;
        return *host && *host != '/' && printable(s) && !strchr(s, ' ');
}

/* A list whose items all pass valid(); item numbers in errors count from 1. */
static int parse_list(json_object *v, void *field, bool (*valid)(const char *s), const char *rule,
                      char **ret_error) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n;

        if (!json_object_is_type(v, json_type_array))
                return error_set(ret_error, -EINVAL, "expected a list of items, each %s", rule);

        n = json_object_array_length(v);
        l = calloc(n + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const char *s = get_string(json_object_array_get_idx(v, i));

                if (!s || !valid(s))
                        return error_set(ret_error, -EINVAL, "item %zu: expected %s", i + 1, rule);
                l[i] = strdup(s);
                if (!l[i])
                        return -ENOMEM;
        }

        strv_free(*(char ***)field);
        *(char ***)field = TAKE_PTR(l);
        return 0;
}

static int parse_path_list(const ConfigKey *k _unused_, json_object *v, void *field,
                           char **ret_error) {
        return parse_list(v, field, valid_path, "an absolute path", ret_error);
}

static int parse_url_list(const ConfigKey *k _unused_, json_object *v, void *field,
                          char **ret_error) {
        return parse_list(v, field, valid_url, "an http:// or https:// URL", ret_error);
}

static int dump_strv(const void *field, json_object **ret) {
        char *const *l = *(char **const *)field;
        _cleanup_json_ json_object *a = NULL;

        a = json_object_new_array();
        if (!a)
                return -ENOMEM;
        for (char *const *i = l; i && *i; i++) {
                json_object *s = json_object_new_string(*i);

                if (!s || json_object_array_add(a, s) < 0) {
                        json_object_put(s);
                        return -ENOMEM;
                }
        }
        *ret = TAKE_PTR(a);
        return 0;
}

static void free_strv(void *field) {
        strv_free(*(char ***)field);
}

static int duration_scale(int64_t v, usec_t unit, usec_t *ret) {
        if (v <= 0)
                return -EINVAL;
        if ((uint64_t)v > DURATION_MAX / unit)
                return -ERANGE;
        *ret = (usec_t)v * unit;
        return 0;
}

static int parse_duration_text(const char *s, usec_t *ret) {
        static const struct {
                const char *suffix;
                usec_t usec;
        } units[] = {
                {"", USEC_PER_SEC},       {"ms", USEC_PER_MSEC},      {"s", USEC_PER_SEC},
                {"m", 60 * USEC_PER_SEC}, {"h", 3600 * USEC_PER_SEC},
        };
        _cleanup_free_ char *digits = NULL;
        size_t n = strspn(s, "0123456789");
        int64_t v;

        if (n == 0)
                return -EINVAL;
        digits = strndup(s, n);
        if (!digits)
                return -ENOMEM;
        if (parse_int64(digits, &v) < 0)
                return -ERANGE;

        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (streq(s + n, units[i].suffix))
                        return duration_scale(v, units[i].usec, ret);
        return -EINVAL;
}

static int parse_duration(const ConfigKey *k _unused_, json_object *v, void *field,
                          char **ret_error) {
        const char *s = get_string(v);
        usec_t u = 0;
        int r = -EINVAL;

        if (json_object_is_type(v, json_type_int))
                r = duration_scale(json_object_get_int64(v), USEC_PER_SEC, &u);
        else if (s)
                r = parse_duration_text(s, &u);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return error_set(ret_error, -EINVAL, "expected " DURATION_RULE);

        *(usec_t *)field = u;
        return 0;
}

/* Parsing only ever yields whole milliseconds. */
static const char *format_duration(usec_t u, char buf[static DURATION_STRING_MAX]) {
        if (u % USEC_PER_SEC == 0)
                snprintf(buf, DURATION_STRING_MAX, "%" PRIu64 "s", u / USEC_PER_SEC);
        else
                snprintf(buf, DURATION_STRING_MAX, "%" PRIu64 "ms", u / USEC_PER_MSEC);
        return buf;
}

static int dump_duration(const void *field, json_object **ret) {
        char buf[DURATION_STRING_MAX];
        json_object *o;

        o = json_object_new_string(format_duration(*(const usec_t *)field, buf));
        if (!o)
                return -ENOMEM;
        *ret = o;
        return 0;
}

static int parse_unsigned(const ConfigKey *k, json_object *v, void *field, char **ret_error) {
        int64_t i = json_object_get_int64(v);

        if (!json_object_is_type(v, json_type_int) || i < k->min || i > k->max)
                return error_set(ret_error, -EINVAL,
                                 "expected an integer from %" PRId64 " to %" PRId64, k->min,
                                 k->max);
        *(unsigned *)field = (unsigned)i;
        return 0;
}

static int dump_unsigned(const void *field, json_object **ret) {
        json_object *o = json_object_new_int64(*(const unsigned *)field);

        if (!o)
                return -ENOMEM;
        *ret = o;
        return 0;
}

static const char *const control_plane_type_names[] = {
        [CONTROL_PLANE_LOCAL] = "local",
        [CONTROL_PLANE_ETCD] = "etcd",
};

static int parse_control_plane_type(const ConfigKey *k _unused_, json_object *v, void *field,
                                    char **ret_error) {
        const char *s = get_string(v);

        for (size_t i = 0; s && i < ELEMENTSOF(control_plane_type_names); i++)
                if (streq(s, control_plane_type_names[i])) {
                        *(ControlPlaneType *)field = (ControlPlaneType)i;
                        return 0;
                }
        return error_set(ret_error, -EINVAL, "expected 'local' or 'etcd'");
}

static int dump_control_plane_type(const void *field, json_object **ret) {
        json_object *o;

        o = json_object_new_string(control_plane_type_names[*(const ControlPlaneType *)field]);
        if (!o)
                return -ENOMEM;
        *ret = o;
        return 0;
}

static int parse_privileged_steps(const ConfigKey *k _unused_, json_object *v, void *field,
                                  char **ret_error) {
        const char *s = get_string(v);

        if (!s || !STR_IN_SET(s, "deny", "allow"))
                return error_set(ret_error, -EINVAL, "expected 'deny' or 'allow'");
        *(bool *)field = streq(s, "allow");
        return 0;
}

static int dump_privileged_steps(const void *field, json_object **ret) {
        json_object *o = json_object_new_string(*(const bool *)field ? "allow" : "deny");

        if (!o)
                return -ENOMEM;
        *ret = o;
        return 0;
}

static const ConfigType type_identifier = {parse_identifier, dump_string, free_string};
static const ConfigType type_path = {parse_path, dump_string, free_string};
static const ConfigType type_user_name = {parse_user_name, dump_string, free_string};
static const ConfigType type_text = {parse_text, dump_string, free_string};
static const ConfigType type_etcd_prefix = {parse_etcd_prefix, dump_string, free_string};
static const ConfigType type_path_list = {parse_path_list, dump_strv, free_strv};
static const ConfigType type_url_list = {parse_url_list, dump_strv, free_strv};
static const ConfigType type_duration = {parse_duration, dump_duration, NULL};
static const ConfigType type_unsigned = {parse_unsigned, dump_unsigned, NULL};
static const ConfigType type_control_plane = {parse_control_plane_type, dump_control_plane_type,
                                              NULL};
static const ConfigType type_privileged_steps = {parse_privileged_steps, dump_privileged_steps,
                                                 NULL};

/* Designated initialisers: each entry names only what it uses. */
#define KEY(n, t, f, ...)                                                                          \
        { .name = (n), .type = (t), .offset = offsetof(AgentConfig, f), __VA_ARGS__ }
#define SECTION(n, keys)                                                                           \
        { .name = (n), .section = (keys) }

static const ConfigKey control_plane_keys[] = {
        KEY("type", &type_control_plane, control_plane.type),
        KEY("spool", &type_path, control_plane.spool, .backend = "local"),
        KEY("stack_file", &type_path, control_plane.stack_file, .backend = "local"),
        KEY("endpoints", &type_url_list, control_plane.endpoints, .backend = "etcd"),
        KEY("prefix", &type_etcd_prefix, control_plane.prefix, .backend = "etcd"),
        KEY("username", &type_text, control_plane.username, .backend = "etcd"),
        KEY("password_file", &type_path, control_plane.password_file, .backend = "etcd"),
        KEY("ca_file", &type_path, control_plane.ca_file, .backend = "etcd"),
        KEY("cert_file", &type_path, control_plane.cert_file, .backend = "etcd"),
        KEY("key_file", &type_path, control_plane.key_file, .backend = "etcd"),
        KEY("poll_interval", &type_duration, control_plane.poll_interval, .backend = "etcd"),
        KEY("backoff_max", &type_duration, control_plane.backoff_max, .backend = "etcd"),
        {},
};

static const ConfigKey retention_keys[] = {
        KEY("count", &type_unsigned, command_log_retention.count, .min = 1, .max = 100000),
        KEY("days", &type_unsigned, command_log_retention.days, .min = 1, .max = 3650),
        {},
};

static const ConfigKey agent_keys[] = {
        KEY("instance_id", &type_identifier, instance_id),
        KEY("stack_id", &type_identifier, stack_id),
        SECTION("control_plane", control_plane_keys),
        KEY("cookbook_path", &type_path_list, cookbook_path),
        KEY("state_dir", &type_path, state_dir),
        KEY("cache_dir", &type_path, cache_dir),
        KEY("log_dir", &type_path, log_dir),
        KEY("run_as", &type_user_name, run_as),
        KEY("privileged_steps", &type_privileged_steps, privileged_steps),
        KEY("heartbeat_interval", &type_duration, heartbeat_interval),
        KEY("health_timeout", &type_duration, health_timeout),
        KEY("command_timeout", &type_duration, command_timeout),
        KEY("deploy_root", &type_path, deploy_root),
        KEY("keep_releases", &type_unsigned, keep_releases, .min = 1, .max = 100),
        SECTION("command_log_retention", retention_keys),
        KEY("metrics_interval", &type_duration, metrics_interval),
        {},
};

static void free_keys(const ConfigKey *table, AgentConfig *c) {
        for (const ConfigKey *k = table; k->name; k++)
                if (k->section)
                        free_keys(k->section, c);
                else if (k->type->done)
                        k->type->done(field_of(c, k));
}

AgentConfig *agent_config_free(AgentConfig *c) {
        if (!c)
                return NULL;
        free_keys(agent_keys, c);
        return mfree(c);
}

/* Everything but instance_id, which comes from the machine when the file does not set it. */
static int config_new(AgentConfig **ret) {
        _cleanup_(agent_config_freep) AgentConfig *c = NULL;

        c = malloc(sizeof(AgentConfig));
        if (!c)
                return -ENOMEM;
        *c = (AgentConfig){
                .control_plane =
                        {
                                .type = CONTROL_PLANE_LOCAL,
                                .spool = strdup("/var/lib/strata/spool"),
                                .endpoints = strv_copy(NULL),
                                .prefix = strdup("/strata/v1"),
                                .poll_interval = 30 * USEC_PER_SEC,
                                .backoff_max = 60 * USEC_PER_SEC,
                        },
                .stack_id = strdup("default"),
                .cookbook_path = strv_copy(STRV_MAKE("/etc/strata/cookbooks")),
                .state_dir = strdup("/var/lib/strata"),
                .cache_dir = strdup("/var/cache/strata"),
                .log_dir = strdup("/var/log/strata"),
                .run_as = strdup("strata"),
                .privileged_steps = false,
                .heartbeat_interval = 60 * USEC_PER_SEC,
                .health_timeout = 300 * USEC_PER_SEC,
                .command_timeout = 3600 * USEC_PER_SEC,
                .deploy_root = strdup("/srv/www"),
                .keep_releases = 5,
                .command_log_retention = {.count = 100, .days = 30},
                .metrics_interval = 10 * USEC_PER_SEC,
        };
        if (!c->control_plane.spool || !c->control_plane.endpoints || !c->control_plane.prefix ||
            !c->stack_id || !c->cookbook_path || !c->state_dir || !c->cache_dir || !c->log_dir ||
            !c->run_as || !c->deploy_root)
                return -ENOMEM;

        *ret = TAKE_PTR(c);
        return 0;
}

static int read_machine_id(char **ret, char **ret_error) {
        _cleanup_free_ char *id = NULL;
        size_t len = 0;
        int r;

        r = read_full_file(MACHINE_ID_PATH, 64, &id, &len);
        if (r == -ENOMEM)
                return r;
        if (r < 0 && r != -EFBIG) /* too big is just as wrong as malformed, below */
                return error_set(ret_error, r,
                                 "key 'instance_id' is not set and " MACHINE_ID_PATH
                                 " cannot be read: %s",
                                 strerror(-r));
        if (id && len > 0 && id[len - 1] == '\n')
                id[--len] = 0;
        if (!id || len != 32 || strspn(id, "0123456789abcdef") != len)
                return error_set(ret_error, -EINVAL,
                                 "key 'instance_id' is not set and " MACHINE_ID_PATH
                                 " holds no machine ID");
        *ret = TAKE_PTR(id);
        return 0;
}

int agent_config_default(AgentConfig **ret, char **ret_error) {
        _cleanup_(agent_config_freep) AgentConfig *c = NULL;
        int r;

        r = config_new(&c);
        if (r < 0)
                return r;
        r = read_machine_id(&c->instance_id, ret_error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

/* The loader keeps the place of mappings and lists only, so an error points at the line of its
 * value when the value is one of those, and else at the line where the mapping holding the key
 * starts. */
static void key_error(char **error, const char *path, json_object *where, const char *section,
                      const char *key) {
        _cleanup_free_ char *name = section ? strf("%s.%s", section, key) : NULL;
        YamlMark m;

        if (yaml_mark(where, &m))
                error_prefix(error, "%s:%u: key '%s'", path, m.line, name ?: key);
        else
                error_prefix(error, "%s: key '%s'", path, name ?: key);
}

static const ConfigKey *key_find(const ConfigKey *table, const char *name) {
        for (const ConfigKey *k = table; k->name; k++)
                if (streq(k->name, name))
                        return k;
        return NULL;
}

static int parse_mapping(const char *path, const ConfigKey *table, const char *section,
                         json_object *mapping, AgentConfig *c, char **ret_error) {
        json_object_object_foreach (mapping, name, value) {
                const ConfigKey *k = key_find(table, name);
                YamlMark m;
                int r;

                if (!k)
                        r = error_set(ret_error, -EINVAL, "unknown key");
                else if (k->section && json_object_is_type(value, json_type_object)) {
                        r = parse_mapping(path, k->section, k->name, value, c, ret_error);
                        if (r < 0)
                                return r;
                        continue;
                } else if (k->section)
                        r = error_set(ret_error, -EINVAL, "expected a mapping");
                else
                        r = k->type->parse(k, value, field_of(c, k), ret_error);
                if (r < 0) {
                        key_error(ret_error, path, yaml_mark(value, &m) ? value : mapping, section,
                                  name);
                        return r;
                }
        }
        return 0;
}

static int fail_key(char **ret_error, const char *path, json_object *where, const char *section,
                    const char *key, const char *fmt, ...) _printf_(6, 7);

static int fail_key(char **ret_error, const char *path, json_object *where, const char *section,
                    const char *key, const char *fmt, ...) {
        va_list ap;

        if (ret_error) {
                va_start(ap, fmt);
                if (vasprintf(ret_error, fmt, ap) < 0)
                        *ret_error = NULL;
                va_end(ap);
        }
        key_error(ret_error, path, where, section, key);
        return -EINVAL;
}

/* Keys that are valid one by one but not together. The mapping a key is in gives the line. */
static int validate_control_plane(const char *path, json_object *root, const AgentConfig *c,
                                  char **ret_error) {
        const char *type = control_plane_type_names[c->control_plane.type];
        json_object *cp = json_object_object_get(root, "control_plane");

        for (const ConfigKey *k = control_plane_keys; k->name; k++)
                if (k->backend && !streq(k->backend, type) &&
                    json_object_object_get_ex(cp, k->name, NULL))
                        return fail_key(ret_error, path, cp, "control_plane", k->name,
                                        "only for control_plane.type %s", k->backend);

        if (c->control_plane.type != CONTROL_PLANE_ETCD)
                return 0;
        if (strv_length(c->control_plane.endpoints) == 0)
                return fail_key(ret_error, path, cp, "control_plane", "endpoints",
                                "expected at least one URL with control_plane.type etcd");
        if (!c->control_plane.username != !c->control_plane.password_file)
                return fail_key(ret_error, path, cp, "control_plane",
                                c->control_plane.username ? "password_file" : "username",
                                "expected together with control_plane.%s",
                                c->control_plane.username ? "username" : "password_file");
        if (!c->control_plane.cert_file != !c->control_plane.key_file)
                return fail_key(ret_error, path, cp, "control_plane",
                                c->control_plane.cert_file ? "key_file" : "cert_file",
                                "expected together with control_plane.%s",
                                c->control_plane.cert_file ? "cert_file" : "key_file");
        return 0;
}

static int validate(const char *path, json_object *root, const AgentConfig *c, char **ret_error) {
        char a[DURATION_STRING_MAX], b[DURATION_STRING_MAX];
        uint32_t uid;

        /* A lease that lapses between two heartbeats would mark a healthy instance lost. */
        if (c->health_timeout <= c->heartbeat_interval)
                return fail_key(ret_error, path, root, NULL, "health_timeout",
                                "expected more than heartbeat_interval (%s), got %s",
                                format_duration(c->heartbeat_interval, a),
                                format_duration(c->health_timeout, b));

        /* Every step would be refused later; say so where it can be fixed. */
        if (!c->privileged_steps &&
            (streq(c->run_as, "root") || (parse_uint32(c->run_as, &uid) >= 0 && uid == 0)))
                return fail_key(ret_error, path, root, NULL, "run_as",
                                "expected an unprivileged user, as privileged_steps is deny");

        return validate_control_plane(path, root, c, ret_error);
}

int agent_config_load(const char *path, AgentConfig **ret, char **ret_error) {
        _cleanup_(agent_config_freep) AgentConfig *c = NULL;
        _cleanup_json_ json_object *root = NULL;
        YamlMark m;
        int r;

        r = yaml_load_file(path, &root, ret_error);
        if (r < 0)
                return r;
        if (root && !json_object_is_type(root, json_type_object)) {
                if (yaml_mark(root, &m))
                        return error_set(ret_error, -EINVAL, "%s:%u: expected a mapping of keys",
                                         path, m.line);
                return error_set(ret_error, -EINVAL, "%s: expected a mapping of keys", path);
        }

        r = config_new(&c);
        if (r < 0)
                return r;
        if (root) {
                r = parse_mapping(path, agent_keys, NULL, root, c, ret_error);
                if (r < 0)
                        return r;
        }
        r = validate(path, root, c, ret_error);
        if (r < 0)
                return r;

        if (!c->instance_id) {
                r = read_machine_id(&c->instance_id, ret_error);
                if (r < 0) {
                        error_prefix(ret_error, "%s", path);
                        return r;
                }
        }

        *ret = TAKE_PTR(c);
        return 0;
}

static int dump_keys(const ConfigKey *table, const AgentConfig *c, json_object **ret) {
        const char *type = control_plane_type_names[c->control_plane.type];
        _cleanup_json_ json_object *o = NULL;
        int r;

        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        for (const ConfigKey *k = table; k->name; k++) {
                json_object *v = NULL;

                if (k->backend && !streq(k->backend, type))
                        continue;
                if (k->section)
                        r = dump_keys(k->section, c, &v);
                else
                        r = k->type->dump(const_field_of(c, k), &v);
                if (r < 0)
                        return r;
                if (v && json_object_object_add(o, k->name, v) < 0) {
                        json_object_put(v);
                        return -ENOMEM;
                }
        }
        *ret = TAKE_PTR(o);
        return 0;
}

int agent_config_to_json(const AgentConfig *c, json_object **ret) {
        return dump_keys(agent_keys, c, ret);
}
