/* SPDX-License-Identifier: MIT */

#include <limits.h>

#include "json-util.h"
#include "stack.h"
#include "str-util.h"
#include "yaml-load.h"

/* Ids become file names, directory names (/srv/www/<app>) and etcd keys: the agent config's
 * rule for ids. */
#define IDENTIFIER_MAX 64
#define IDENTIFIER_RULE                                                                            \
        "an identifier of 1 to 64 letters, digits, '.', '_' or '-', not starting with '.' or '-'"
/* What useradd accepts and no option can be mistaken for, as the user resource checks it. */
#define USER_NAME_MAX 32
#define USER_NAME_RULE                                                                             \
        "a user name of 1 to 32 letters, digits, '.', '_' or '-', not starting with '-'"
#define ALNUM "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

#define EVENTS "setup, configure, deploy, undeploy, shutdown"
#define SOURCE_TYPES "git, s3, archive, http, local"

typedef enum FieldKind {
        FIELD_TEXT,
        FIELD_IDENTIFIER,
        FIELD_USER_NAME,
        FIELD_BOOLEAN,
        FIELD_NUMBER, /* a whole number from Field.min to Field.max */
        FIELD_MAPPING,
        FIELD_STRING_MAP,
        FIELD_STRING_LIST,
        FIELD_MAPPING_LIST,
        FIELD_IDENTIFIER_LIST,
        FIELD_RECIPES,
        FIELD_SOURCE,
        FIELD_SOURCE_LIST,
} FieldKind;

typedef struct Field {
        const char *key;
        FieldKind kind;
        bool required;
        const char *fallback; /* JSON text of the value filled in when absent; NULL: none */
        int64_t min, max;     /* FIELD_NUMBER */
        const char *unit;     /* FIELD_NUMBER: "seconds" or NULL */
} Field;

/* Defaults that depend on other fields (a layer's id and shortname stand in for each other,
 * names default to the shortname, hostnames to the id) are filled by the code below the
 * tables. */
static const Field stack_fields[] = {
        {"id", FIELD_IDENTIFIER},
        {"name", FIELD_TEXT},
        {"region", FIELD_TEXT},
        {"default_os", FIELD_TEXT},
        {"custom_json", FIELD_MAPPING, .fallback = "{}"},
        {"hostname_theme", FIELD_TEXT},
        {"cookbook_sources", FIELD_SOURCE_LIST},
        {},
};

static const Field layer_fields[] = {
        {"id", FIELD_IDENTIFIER},
        {"shortname", FIELD_IDENTIFIER},
        {"name", FIELD_TEXT},
        {"recipes", FIELD_RECIPES,
         .fallback = "{\"setup\": [], \"configure\": [], \"deploy\": [], \"undeploy\": [], "
                     "\"shutdown\": []}"},
        {"packages", FIELD_STRING_LIST, .fallback = "[]"},
        {"auto_healing", FIELD_BOOLEAN, .fallback = "true"},
        {"shutdown_timeout", FIELD_NUMBER, .fallback = "120", .min = 1, .max = 86400,
         .unit = "seconds"},
        {"mounts", FIELD_MAPPING_LIST, .fallback = "[]"},
        {"environment", FIELD_STRING_MAP, .fallback = "{}"},
        {"custom_json", FIELD_MAPPING, .fallback = "{}"},
        {},
};

static const Field app_fields[] = {
        {"shortname", FIELD_IDENTIFIER, .required = true},
        {"name", FIELD_TEXT},
        {"type", FIELD_TEXT},
        {"source", FIELD_SOURCE},
        {"environment", FIELD_STRING_MAP, .fallback = "{}"},
        {"domains", FIELD_STRING_LIST, .fallback = "[]"},
        {"ssl", FIELD_STRING_MAP},
        {"data_sources", FIELD_MAPPING_LIST, .fallback = "[]"},
        {"document_root", FIELD_TEXT},
        {"attributes", FIELD_MAPPING, .fallback = "{}"},
        /* Absent: the agent config's keep_releases. */
        {"keep_releases", FIELD_NUMBER, .min = 1, .max = 100},
        /* Absent: every layer. */
        {"layer_ids", FIELD_IDENTIFIER_LIST},
        /* Absent: the agent config's run_as. */
        {"user", FIELD_USER_NAME},
        {"symlinks", FIELD_STRING_MAP, .fallback = "{}"},
        {"hook_timeout", FIELD_NUMBER, .fallback = "600", .min = 1, .max = 86400,
         .unit = "seconds"},
        /* start_command, stop_command, restart_command: a shell string or an argv list,
         * checked where they run. */
        {},
};

static const Field instance_fields[] = {
        {"id", FIELD_IDENTIFIER, .required = true},
        {"hostname", FIELD_TEXT},
        {"layer_ids", FIELD_IDENTIFIER_LIST, .fallback = "[]"},
        {"status", FIELD_TEXT, .fallback = "\"online\""},
        {"private_ip", FIELD_TEXT},
        {"public_ip", FIELD_TEXT},
        {"os", FIELD_TEXT},
        {},
};

static const Field user_fields[] = {
        {"name", FIELD_USER_NAME, .required = true},
        {"ssh_public_key", FIELD_TEXT},
        {"sudo", FIELD_BOOLEAN, .fallback = "false"},
        {"allow_ssh", FIELD_BOOLEAN, .fallback = "true"},
        {},
};

static const Field source_fields[] = {
        {"type", FIELD_TEXT, .required = true},
        {"url", FIELD_TEXT, .required = true},
        {"revision", FIELD_TEXT},
        {"ssh_key", FIELD_TEXT},
        {"username", FIELD_TEXT},
        {"password", FIELD_TEXT},
        {"sha256", FIELD_TEXT},
        {"submodules", FIELD_BOOLEAN},
        {"keep_git", FIELD_BOOLEAN},
        {"access_key_id", FIELD_TEXT},
        {"secret_access_key", FIELD_TEXT},
        {"session_token", FIELD_TEXT},
        {"region", FIELD_TEXT},
        {"endpoint", FIELD_TEXT},
        {},
};

/* Everything an error needs: the file (or key) and the out parameter. */
typedef struct Checker {
        const char *what;
        char **ret_error;
} Checker;

static int fail(const Checker *c, const char *path, const char *fmt, ...) _printf_(3, 4);
static int fail(const Checker *c, const char *path, const char *fmt, ...) {
        _cleanup_free_ char *message = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&message, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        return error_set(c->ret_error, -EINVAL, "%s: %s: %s", c->what, path, message);
}

/* A key for an error message: cut, and anything but printable ASCII as \xNN. */
static char *quote(const char *s) {
        _cleanup_(strbuf_done) StrBuf b = {};
        size_t n = strlen(s);
        int r;

        r = strbuf_appends(&b, "'");
        for (size_t i = 0; r >= 0 && i < MIN(n, (size_t)64); i++) {
                unsigned char ch = (unsigned char)s[i];

                if (ch < 0x20 || ch >= 0x7f)
                        r = strbuf_printf(&b, "\\x%02x", ch);
                else
                        r = strbuf_append(&b, s + i, 1);
        }
        if (r >= 0)
                r = strbuf_appends(&b, n > 64 ? "'..." : "'");
        if (r < 0)
                return NULL;
        return strbuf_steal(&b);
}

/* json-c strings can hold a NUL from a "\u0000" escape, which C would silently cut. */
static const char *get_string(json_object *v) {
        const char *s;

        if (!json_object_is_type(v, json_type_string))
                return NULL;
        s = json_object_get_string(v);
        return strlen(s) == (size_t)json_object_get_string_len(v) ? s : NULL;
}

static bool identifier_valid(const char *s) {
        size_t n;

        if (!s)
                return false;
        n = strlen(s);
        return n > 0 && n <= IDENTIFIER_MAX && s[0] != '.' && s[0] != '-' &&
               strspn(s, ALNUM "._-") == n;
}

static bool user_name_valid(const char *s) {
        size_t n;

        if (!s)
                return false;
        n = strlen(s);
        return n > 0 && n <= USER_NAME_MAX && s[0] != '-' && strspn(s, ALNUM "._-") == n;
}

/* "cookbook" or "cookbook::recipe", as the converge engine splits a run list. */
static bool recipe_name_valid(const char *s) {
        const char *sep, *recipe;
        size_t n;

        if (!s)
                return false;
        sep = strstr(s, "::");
        n = sep ? (size_t)(sep - s) : strlen(s);
        if (n == 0 || n > 128 || strspn(s, ALNUM "_-") != n)
                return false;
        if (!sep)
                return true;
        recipe = sep + 2;
        return *recipe && recipe[0] != '.' && !strchr(recipe, '/') && !strstr(recipe, "::");
}

static char *path_key(const char *path, const char *key) {
        return strf("%s.%s", path, key);
}

static char *path_index(const char *path, size_t i) {
        return strf("%s[%zu]", path, i);
}

/* Each element of a list must pass valid(); the list itself must be a list. */
static int check_list(const Checker *c, const char *path, json_object *v,
                      bool (*valid)(json_object *e), const char *expected_list,
                      const char *expected_element) {
        if (!json_object_is_type(v, json_type_array))
                return fail(c, path, "expected %s", expected_list);

        for (size_t i = 0; i < json_object_array_length(v); i++) {
                _cleanup_free_ char *p = NULL;

                if (valid(json_object_array_get_idx(v, i)))
                        continue;
                p = path_index(path, i);
                if (!p)
                        return -ENOMEM;
                return fail(c, p, "expected %s", expected_element);
        }
        return 0;
}

static bool is_string(json_object *e) {
        return get_string(e) != NULL;
}

static bool is_mapping(json_object *e) {
        return json_object_is_type(e, json_type_object);
}

static bool is_identifier(json_object *e) {
        return identifier_valid(get_string(e));
}

static bool is_recipe_name(json_object *e) {
        return recipe_name_valid(get_string(e));
}

static int check_string_map(const Checker *c, const char *path, json_object *v) {
        if (!json_object_is_type(v, json_type_object))
                return fail(c, path, "expected a mapping of strings");

        json_object_object_foreach (v, key, value) {
                _cleanup_free_ char *p = NULL;

                if (get_string(value))
                        continue;
                p = path_key(path, key);
                if (!p)
                        return -ENOMEM;
                return fail(c, p, "expected a string");
        }
        return 0;
}

/* Fills in every event, so a reader finds a list for each. */
static int check_recipes(const Checker *c, const char *path, json_object *v) {
        static const char *const events[] = {"setup", "configure", "deploy", "undeploy",
                                             "shutdown"};
        int r;

        if (!json_object_is_type(v, json_type_object))
                return fail(c, path,
                            "expected a mapping of events (" EVENTS ") to lists of recipe names");

        json_object_object_foreach (v, key, value) {
                _cleanup_free_ char *p = NULL, *q = NULL;

                if (STR_IN_SET(key, "setup", "configure", "deploy", "undeploy", "shutdown")) {
                        p = path_key(path, key);
                        if (!p)
                                return -ENOMEM;
                        r = check_list(c, p, value, is_recipe_name, "a list of recipe names",
                                       "a recipe name (cookbook or cookbook::recipe)");
                        if (r < 0)
                                return r;
                        continue;
                }
                q = quote(key);
                if (!q)
                        return -ENOMEM;
                return fail(c, path, "unknown event %s (expected one of: " EVENTS ")", q);
        }

        for (size_t i = 0; i < ELEMENTSOF(events); i++) {
                json_object *empty;

                if (json_object_object_get_ex(v, events[i], NULL))
                        continue;
                empty = json_object_new_array();
                if (!empty || json_object_object_add(v, events[i], empty) < 0) {
                        json_object_put(empty);
                        return -ENOMEM;
                }
        }
        return 0;
}

static int check_fields(const Checker *c, const char *path, json_object *o, const Field *fields);

static int check_source(const Checker *c, const char *path, json_object *v) {
        _cleanup_free_ char *p = NULL;
        const char *type;
        int r;

        if (!json_object_is_type(v, json_type_object))
                return fail(c, path, "expected a mapping (type, url, revision, ...)");
        r = check_fields(c, path, v, source_fields);
        if (r < 0)
                return r;

        type = get_string(json_object_object_get(v, "type"));
        if (STR_IN_SET(type, "git", "s3", "archive", "http", "local"))
                return 0;

        p = path_key(path, "type");
        if (!p)
                return -ENOMEM;
        return fail(c, p, "expected one of: " SOURCE_TYPES);
}

static int check_source_list(const Checker *c, const char *path, json_object *v) {
        if (!json_object_is_type(v, json_type_array))
                return fail(c, path, "expected a list of sources");

        for (size_t i = 0; i < json_object_array_length(v); i++) {
                _cleanup_free_ char *p = path_index(path, i);
                int r;

                if (!p)
                        return -ENOMEM;
                r = check_source(c, p, json_object_array_get_idx(v, i));
                if (r < 0)
                        return r;
        }
        return 0;
}

static int check_value(const Checker *c, const char *path, json_object *v, const Field *f) {
        int64_t n;

        switch (f->kind) {
        case FIELD_TEXT:
                return get_string(v) ? 0 : fail(c, path, "expected a string");
        case FIELD_IDENTIFIER:
                return is_identifier(v) ? 0 : fail(c, path, "expected " IDENTIFIER_RULE);
        case FIELD_USER_NAME:
                return user_name_valid(get_string(v)) ? 0
                                                      : fail(c, path, "expected " USER_NAME_RULE);
        case FIELD_BOOLEAN:
                return json_object_is_type(v, json_type_boolean)
                               ? 0
                               : fail(c, path, "expected true or false");
        case FIELD_NUMBER:
                /* json-c clamps integers past int64 to INT64_MAX: out of range all the same. */
                n = json_object_get_int64(v);
                if (json_object_is_type(v, json_type_int) && n >= f->min && n <= f->max)
                        return 0;
                return fail(c, path, "expected a whole number%s%s from %" PRIi64 " to %" PRIi64,
                            f->unit ? " of " : "", strempty(f->unit), f->min, f->max);
        case FIELD_MAPPING:
                return is_mapping(v) ? 0 : fail(c, path, "expected a mapping");
        case FIELD_STRING_MAP:
                return check_string_map(c, path, v);
        case FIELD_STRING_LIST:
                return check_list(c, path, v, is_string, "a list of strings", "a string");
        case FIELD_MAPPING_LIST:
                return check_list(c, path, v, is_mapping, "a list of mappings", "a mapping");
        case FIELD_IDENTIFIER_LIST:
                return check_list(c, path, v, is_identifier, "a list of identifiers",
                                  IDENTIFIER_RULE);
        case FIELD_RECIPES:
                return check_recipes(c, path, v);
        case FIELD_SOURCE:
                return check_source(c, path, v);
        case FIELD_SOURCE_LIST:
                return check_source_list(c, path, v);
        }
        return -EINVAL;
}

static int add_parsed(json_object *o, const char *key, const char *json) {
        json_object *v = json_tokener_parse(json);

        if (!v || json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

/* Checks the known fields of one mapping and fills the defaults of absent ones. Other keys stay:
 * recipes may read them. */
static int check_fields(const Checker *c, const char *path, json_object *o, const Field *fields) {
        int r;

        for (const Field *f = fields; f->key; f++) {
                _cleanup_free_ char *p = path_key(path, f->key);
                json_object *v;

                if (!p)
                        return -ENOMEM;

                if (!json_object_object_get_ex(o, f->key, &v)) {
                        if (f->required)
                                return fail(c, p, "missing");
                        if (f->fallback) {
                                r = add_parsed(o, f->key, f->fallback);
                                if (r < 0)
                                        return r;
                        }
                        continue;
                }

                r = check_value(c, p, v, f);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int set_string(json_object *o, const char *key, const char *value) {
        json_object *v = json_object_new_string(value);

        if (!v || json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

/* Sets key to the string at `from` when key is absent. */
static int default_from(json_object *o, const char *key, const char *from) {
        const char *s = json_get_string(o, from);

        if (json_object_object_get_ex(o, key, NULL) || !s)
                return 0;
        return set_string(o, key, s);
}

/* Two entries of a list may not share `key`: ids are how the rest of the stack refers to them.
 * One pass, with what was seen in a hash: stacks have thousands of instances. */
static int check_unique(const Checker *c, const char *list_name, json_object *list,
                        const char *key) {
        _cleanup_json_ json_object *seen = json_object_new_object();
        size_t n = json_object_array_length(list);

        if (!seen)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const char *a = json_get_string(json_object_array_get_idx(list, i), key);
                _cleanup_free_ char *p = NULL;
                json_object *first;

                if (!a)
                        continue;
                if (!json_object_object_get_ex(seen, a, &first)) {
                        if (json_object_object_add(seen, a, json_object_new_int64((int64_t) i)) < 0)
                                return -ENOMEM;
                        continue;
                }
                p = strf("%s[%zu].%s", list_name, i, key);
                if (!p)
                        return -ENOMEM;
                /* Ids and names passed their rules: safe to print as they are. */
                return fail(c, p, "'%s' is also the %s of %s[%" PRIi64 "]", a, key, list_name,
                            json_object_get_int64(first));
        }
        return 0;
}

/* A top-level list of mappings, each checked against `fields`. */
static int check_entries(const Checker *c, json_object *doc, const char *name,
                         const Field *fields) {
        json_object *list = json_object_object_get(doc, name);
        int r;

        if (!json_object_is_type(list, json_type_array))
                return fail(c, name, "expected a list of mappings");

        for (size_t i = 0; i < json_object_array_length(list); i++) {
                _cleanup_free_ char *p = path_index(name, i);
                json_object *e = json_object_array_get_idx(list, i);

                if (!p)
                        return -ENOMEM;
                if (!json_object_is_type(e, json_type_object))
                        return fail(c, p, "expected a mapping");
                r = check_fields(c, p, e, fields);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int check_stack(const Checker *c, json_object *doc, const char *stack_id) {
        json_object *s = json_object_object_get(doc, "stack");
        int r;

        if (!json_object_is_type(s, json_type_object))
                return fail(c, "stack", "expected a mapping");
        r = check_fields(c, "stack", s, stack_fields);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(s, "id", NULL)) {
                r = set_string(s, "id", stack_id);
                if (r < 0)
                        return r;
        }
        return default_from(s, "name", "id");
}

static int check_layers(const Checker *c, json_object *doc) {
        json_object *layers = json_object_object_get(doc, "layers");
        int r;

        r = check_entries(c, doc, "layers", layer_fields);
        if (r < 0)
                return r;

        for (size_t i = 0; i < json_object_array_length(layers); i++) {
                json_object *l = json_object_array_get_idx(layers, i);

                /* Either names the layer; the other follows it. */
                if (!json_object_object_get_ex(l, "id", NULL) &&
                    !json_object_object_get_ex(l, "shortname", NULL)) {
                        _cleanup_free_ char *p = path_index("layers", i);

                        if (!p)
                                return -ENOMEM;
                        return fail(c, p, "expected an id or a shortname");
                }
                r = default_from(l, "id", "shortname");
                if (r >= 0)
                        r = default_from(l, "shortname", "id");
                if (r >= 0)
                        r = default_from(l, "name", "shortname");
                if (r < 0)
                        return r;
        }

        r = check_unique(c, "layers", layers, "id");
        if (r < 0)
                return r;
        return check_unique(c, "layers", layers, "shortname");
}

static json_object *find_by(json_object *list, const char *key, const char *value);

static int check_apps(const Checker *c, json_object *doc) {
        json_object *apps = json_object_object_get(doc, "apps");
        int r;

        r = check_entries(c, doc, "apps", app_fields);
        if (r < 0)
                return r;
        for (size_t i = 0; i < json_object_array_length(apps); i++) {
                json_object *ids = json_object_object_get(json_object_array_get_idx(apps, i),
                                                          "layer_ids");

                r = default_from(json_object_array_get_idx(apps, i), "name", "shortname");
                if (r < 0)
                        return r;
                for (size_t j = 0; ids && j < json_object_array_length(ids); j++) {
                        const char *id = json_object_get_string(json_object_array_get_idx(ids, j));
                        _cleanup_free_ char *p = NULL;

                        if (find_by(json_object_object_get(doc, "layers"), "id", id))
                                continue;
                        p = strf("apps[%zu].layer_ids[%zu]", i, j);
                        if (!p)
                                return -ENOMEM;
                        return fail(c, p, "no layer has the id '%s'", id);
                }
        }
        return check_unique(c, "apps", apps, "shortname");
}

static json_object *find_by(json_object *list, const char *key, const char *value) {
        for (size_t i = 0; i < json_object_array_length(list); i++) {
                json_object *e = json_object_array_get_idx(list, i);

                if (streq_ptr(json_get_string(e, key), value))
                        return e;
        }
        return NULL;
}

/* Adds this instance when the description lacks it: every instance converges as a member of
 * its stack, if only with no layers. */
static int add_self(json_object *instances, const char *instance_id) {
        _cleanup_json_ json_object *self = json_object_new_object();
        int r;

        if (!self)
                return -ENOMEM;
        r = set_string(self, "id", instance_id);
        if (r < 0)
                return r;
        if (json_object_array_add(instances, self) < 0)
                return -ENOMEM;
        TAKE_PTR(self);
        return 0;
}

static int set_hostname(json_object *instance) {
        char name[HOST_NAME_MAX + 1] = {};

        if (gethostname(name, sizeof(name) - 1) < 0)
                return -errno;
        return set_string(instance, "hostname", name);
}

static int check_instances(const Checker *c, json_object *doc, const char *instance_id) {
        json_object *instances = json_object_object_get(doc, "instances");
        json_object *layers = json_object_object_get(doc, "layers");
        int r;

        /* Before the fields are checked, so this instance gets its defaults like any other. */
        if (json_object_is_type(instances, json_type_array) &&
            !find_by(instances, "id", instance_id)) {
                r = add_self(instances, instance_id);
                if (r < 0)
                        return r;
        }

        r = check_entries(c, doc, "instances", instance_fields);
        if (r < 0)
                return r;

        for (size_t i = 0; i < json_object_array_length(instances); i++) {
                json_object *e = json_object_array_get_idx(instances, i);
                json_object *layer_ids = json_object_object_get(e, "layer_ids");

                if (!json_object_object_get_ex(e, "hostname", NULL)) {
                        /* This machine knows its own name; of the others only the id is known. */
                        r = streq_ptr(json_get_string(e, "id"), instance_id)
                                    ? set_hostname(e)
                                    : default_from(e, "hostname", "id");
                        if (r < 0)
                                return r;
                }

                for (size_t j = 0; j < json_object_array_length(layer_ids); j++) {
                        const char *id =
                                json_object_get_string(json_object_array_get_idx(layer_ids, j));
                        _cleanup_free_ char *p = NULL;

                        if (find_by(layers, "id", id))
                                continue;
                        p = strf("instances[%zu].layer_ids[%zu]", i, j);
                        if (!p)
                                return -ENOMEM;
                        return fail(c, p, "no layer has the id '%s'", id);
                }
        }
        return check_unique(c, "instances", instances, "id");
}

static int check_users(const Checker *c, json_object *doc) {
        int r;

        r = check_entries(c, doc, "users", user_fields);
        if (r < 0)
                return r;
        return check_unique(c, "users", json_object_object_get(doc, "users"), "name");
}

/* Top-level keys are a closed set, so that a misspelt "layer:" is an error rather than a stack
 * without layers. */
static int check_top_level(const Checker *c, json_object *doc) {
        static const char *const lists[] = {"layers", "apps", "instances", "users"};

        json_object_object_foreach (doc, key, value) {
                _cleanup_free_ char *q = NULL;

                if (STR_IN_SET(key, "stack", "layers", "apps", "instances", "users"))
                        continue;
                q = quote(key);
                if (!q)
                        return -ENOMEM;
                return error_set(c->ret_error, -EINVAL,
                                 "%s: unknown key %s (expected stack, layers, apps, instances, "
                                 "users)",
                                 c->what, q);
        }

        /* Absent sections are empty ones. */
        if (!json_object_object_get_ex(doc, "stack", NULL) && add_parsed(doc, "stack", "{}") < 0)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(lists); i++)
                if (!json_object_object_get_ex(doc, lists[i], NULL) &&
                    add_parsed(doc, lists[i], "[]") < 0)
                        return -ENOMEM;
        return 0;
}

int stack_normalize(const char *what, json_object *doc, const char *instance_id,
                    const char *stack_id, json_object **ret, char **ret_error) {
        _cleanup_json_ json_object *s = NULL;
        Checker c = {
                .what = what ?: "stack",
                .ret_error = ret_error,
        };
        int r;

        if (!instance_id || !stack_id)
                return -EINVAL;

        /* An empty YAML file describes an empty stack. */
        if (doc && !json_object_is_type(doc, json_type_object))
                return error_set(ret_error, -EINVAL,
                                 "%s: expected a mapping of stack, layers, apps, instances, users",
                                 c.what);

        /* A copy that keeps YAML marks: json_object_deep_copy() fails on them. */
        r = doc ? yaml_copy(doc, &s) : 0;
        if (r < 0)
                return r;
        if (!s) {
                s = json_object_new_object();
                if (!s)
                        return -ENOMEM;
        }

        r = check_top_level(&c, s);
        if (r >= 0)
                r = check_stack(&c, s, stack_id);
        if (r >= 0)
                r = check_layers(&c, s);
        if (r >= 0)
                r = check_apps(&c, s);
        if (r >= 0)
                r = check_instances(&c, s, instance_id);
        if (r >= 0)
                r = check_users(&c, s);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(s);
        return 0;
}

json_object *stack_self(json_object *stack, const char *instance_id) {
        return find_by(json_object_object_get(stack, "instances"), "id", instance_id);
}

int stack_self_layers(json_object *stack, const char *instance_id, json_object **ret_array) {
        json_object *self = stack_self(stack, instance_id);
        json_object *layer_ids = json_object_object_get(self, "layer_ids");
        json_object *layers = json_object_object_get(stack, "layers");
        _cleanup_json_ json_object *a = NULL;

        if (!self)
                return -ENOENT;
        a = json_object_new_array();
        if (!a)
                return -ENOMEM;

        for (size_t i = 0; i < json_object_array_length(layer_ids); i++) {
                json_object *l =
                        find_by(layers, "id",
                                json_object_get_string(json_object_array_get_idx(layer_ids, i)));

                if (!l)
                        return -ENOENT;
                if (json_object_array_add(a, json_object_get(l)) < 0) {
                        json_object_put(l);
                        return -ENOMEM;
                }
        }

        *ret_array = TAKE_PTR(a);
        return 0;
}
