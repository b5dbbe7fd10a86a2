/* SPDX-License-Identifier: MIT */
#include <time.h>

#include "converge.h"
#include "cookbook.h"
#include "json-util.h"
#include "mustache.h"
#include "node.h"
#include "resource.h"
#include "step-runner.h"
#include "str-util.h"
#include "yaml-load.h"
#include "time-util.h"

#define RESOURCES_MAX 100000U
#define INCLUDE_DEPTH_MAX 64U

typedef struct Step Step;

typedef struct Notification {
        Step *target;
        char *action;
        bool immediate;
        const char *from; /* id of the notifier, for delayed ones */
} Notification;

/* One compiled resource with the properties the engine itself acts on. */
struct Step {
        Resource *res;
        char **actions;
        json_object *only_if, *not_if; /* borrowed from res->props */
        bool ignore_failure;
        int64_t retries, retry_delay;
        Notification *notifies;
        size_t n_notifies;
        /* "notifies"/"subscribes" as written, resolved once every step exists. */
        json_object *notifies_spec, *subscribes_spec;
};

typedef struct Run {
        const RuntimeConfig *cfg;
        CookbookSet *cookbooks;
        json_object *node;
        json_object *recipes;  /* "cb::recipe" → loaded YAML, in inclusion order */
        json_object *expanded; /* list of {"recipe": .., "item": ..} in run order */
        Step **steps;
        size_t n_steps;

        json_object *entries; /* the report's resources */
        unsigned changed, up_to_date, skipped, failed;
        Notification *delayed;
        size_t n_delayed;
} Run;

static const char *const common_props[] = {
        "action", "only_if", "not_if", "notifies", "subscribes", "ignore_failure", "retries",
        "retry_delay", "timeout", "user", "for_each", "name", NULL,
};

static Step *step_free(Step *s) {
        if (!s)
                return NULL;
        resource_free(s->res);
        strv_free(s->actions);
        for (size_t i = 0; i < s->n_notifies; i++)
                free(s->notifies[i].action);
        free(s->notifies);
        json_object_put(s->notifies_spec);
        json_object_put(s->subscribes_spec);
        free(s);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(Step *, step_free);

static void run_done(Run *run) {
        for (size_t i = 0; i < run->n_steps; i++)
                step_free(run->steps[i]);
        free(run->steps);
        for (size_t i = 0; i < run->n_delayed; i++)
                free(run->delayed[i].action);
        free(run->delayed);
        json_object_put(run->recipes);
        json_object_put(run->expanded);
        json_object_put(run->node);
        json_object_put(run->entries);
        cookbook_set_free(run->cookbooks);
}

/* "cb::recipe" or "cb" → cookbook and recipe names. */
static int split_recipe(const char *spec, char **ret_cookbook, char **ret_recipe) {
        const char *sep = strstr(spec, "::");
        _cleanup_free_ char *cb = sep ? strndup(spec, (size_t) (sep - spec)) : strdup(spec);
        _cleanup_free_ char *rc = strdup(sep ? sep + 2 : "default");

        if (!cb || !rc)
                return -ENOMEM;
        if (!*cb || !*rc || strchr(rc, '/') || strstr(rc, "::") || rc[0] == '.')
                return -EINVAL;
        *ret_cookbook = TAKE_PTR(cb);
        *ret_recipe = TAKE_PTR(rc);
        return 0;
}

static int where(json_object *o, const char *file, char **ret) {
        YamlMark m;

        *ret = yaml_mark(o, &m) ? strf("%s:%u", file, m.line) : strdup(file);
        return *ret ? 0 : -ENOMEM;
}

/* Loads recipe `spec` and, depth first, what it includes; appends the resources in run order. */
static int expand_recipe(Run *run, const char *spec, const char *from, json_object *stack,
                         char **ret_error) {
        _cleanup_free_ char *cb_name = NULL, *rc_name = NULL, *file = NULL, *rel = NULL;
        _cleanup_json_ json_object *doc = NULL;
        _cleanup_free_ char *full = NULL;
        Cookbook *cb;
        int k;

        k = split_recipe(spec, &cb_name, &rc_name);
        if (k < 0)
                return error_set(ret_error, k,
                                 "%s: '%s' is not a recipe name (expected cookbook or "
                                 "cookbook::recipe)",
                                 from, spec);
        full = strf("%s::%s", cb_name, rc_name);
        if (!full)
                return -ENOMEM;

        for (size_t i = 0; i < json_object_array_length(stack); i++)
                if (streq(json_object_get_string(json_object_array_get_idx(stack, i)), full))
                        return error_set(ret_error, -ELOOP, "%s: include_recipe %s forms a cycle",
                                         from, full);
        if (json_object_object_get_ex(run->recipes, full, NULL))
                return 0; /* each recipe at most once per run */
        if (json_object_array_length(stack) >= INCLUDE_DEPTH_MAX)
                return error_set(ret_error, -ELOOP, "%s: recipes nested deeper than %u", from,
                                 INCLUDE_DEPTH_MAX);

        k = cookbook_set_get(run->cookbooks, cb_name, &cb, ret_error);
        if (k < 0) {
                error_prefix(ret_error, "%s: recipe %s", from, full);
                return k;
        }
        rel = strf("%s.yaml", rc_name);
        if (!rel)
                return -ENOMEM;
        k = cookbook_file(cb, "recipes", rel, &file, NULL);
        if (k < 0)
                return error_set(ret_error, k, "%s: recipe %s not found (no %s/recipes/%s)", from,
                                 full, cb->dir, rel);
        k = yaml_load_file(file, &doc, ret_error);
        if (k < 0)
                return k;
        if (json_object_is_type(doc, json_type_null))
                doc = json_object_new_array();
        if (!json_object_is_type(doc, json_type_array))
                return error_set(ret_error, -EINVAL,
                                 "%s: a recipe must be a list of resources (- type: {...})", file);

        json_object_object_add(run->recipes, full, json_object_get(doc));
        json_object_array_add(stack, json_object_new_string(full));

        for (size_t i = 0; i < json_object_array_length(doc); i++) {
                json_object *item = json_object_array_get_idx(doc, i);
                _cleanup_free_ char *at = NULL;
                json_object *entry;

                k = where(item, file, &at);
                if (k < 0)
                        return k;
                if (!json_object_is_type(item, json_type_object) ||
                    json_object_object_length(item) != 1)
                        return error_set(ret_error, -EINVAL,
                                         "%s: expected a resource: a mapping with one key, the "
                                         "resource type (e.g. '- file: {path: ...}')",
                                         at);
                json_object_object_foreach(item, type, props) {
                        if (streq(type, "include_recipe")) {
                                if (!json_object_is_type(props, json_type_string))
                                        return error_set(ret_error, -EINVAL,
                                                         "%s: include_recipe expects a recipe "
                                                         "name as a string",
                                                         at);
                                k = expand_recipe(run, json_object_get_string(props), at, stack,
                                                  ret_error);
                                if (k < 0)
                                        return k;
                                continue;
                        }
                        if (json_object_array_length(run->expanded) >= RESOURCES_MAX)
                                return error_set(ret_error, -E2BIG, "%s: more than %u resources",
                                                 at, RESOURCES_MAX);
                        entry = json_object_new_object();
                        json_object_object_add(entry, "recipe", json_object_new_string(full));
                        json_object_object_add(entry, "cookbook", json_object_new_string(cb_name));
                        json_object_object_add(entry, "file", json_object_new_string(file));
                        json_object_object_add(entry, "item", json_object_get(item));
                        json_object_array_add(run->expanded, entry);
                }
        }
        json_object_array_del_idx(stack, json_object_array_length(stack) - 1, 1);
        return 0;
}

/* A string that is exactly one "{{dotted.name}}" takes the value it names with its type (a
 * list, a mapping, a boolean), so that `ssh_authorized_keys: "{{item.keys}}"` is a list. */
static json_object *typed_value(const char *s, json_object *node, json_object *extra) {
        _cleanup_free_ char *name = NULL;
        size_t n = strlen(s);
        json_object *v;

        if (n < 5 || !startswith(s, "{{") || !endswith(s, "}}"))
                return NULL;
        name = strndup(s + 2, n - 4);
        if (!name || !*name || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                              "0123456789_-.") != strlen(name) ||
            name[0] == '.')
                return NULL;
        v = extra ? json_get_path(extra, name) : NULL;
        if (!v) {
                size_t first = strcspn(name, ".");
                /* The first name found in extra shadows the node, as in templates. */
                _cleanup_free_ char *head = strndup(name, first);
                if (!head || (extra && json_object_object_get_ex(extra, head, NULL)))
                        return NULL;
                v = json_get_path(node, name);
        }
        if (!v || json_object_is_type(v, json_type_string) || json_object_is_type(v, json_type_int) ||
            json_object_is_type(v, json_type_double))
                return NULL;
        return v;
}

/* Interpolates every string inside v (recursively), replacing it in place. */
static int interpolate(json_object *v, const char *at, json_object *node, json_object *extra,
                       json_object **ret_new, char **ret_error) {
        int k;

        *ret_new = NULL;
        if (json_object_is_type(v, json_type_string)) {
                _cleanup_free_ char *out = NULL;
                json_object *typed;

                if (!strstr(json_object_get_string(v), "{{"))
                        return 0;
                typed = typed_value(json_object_get_string(v), node, extra);
                if (typed)
                        return yaml_copy(typed, ret_new);
                k = mustache_render_unescaped(at, json_object_get_string(v), node, extra, NULL, NULL, &out,
                                    ret_error);
                if (k < 0)
                        return k;
                *ret_new = json_object_new_string(out);
                return *ret_new ? 0 : -ENOMEM;
        }
        if (json_object_is_type(v, json_type_array)) {
                for (size_t i = 0; i < json_object_array_length(v); i++) {
                        json_object *n;

                        k = interpolate(json_object_array_get_idx(v, i), at, node, extra, &n,
                                        ret_error);
                        if (k < 0)
                                return k;
                        if (n)
                                json_object_array_put_idx(v, i, n);
                }
        } else if (json_object_is_type(v, json_type_object)) {
                json_object_object_foreach(v, key, val) {
                        json_object *n;

                        k = interpolate(val, at, node, extra, &n, ret_error);
                        if (k < 0)
                                return k;
                        if (n)
                                json_object_object_add(v, key, n);
                }
        }
        return 0;
}

static bool is_scalar(json_object *v) {
        return json_object_is_type(v, json_type_string) || json_object_is_type(v, json_type_int) ||
               json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_boolean);
}

static bool is_string_list(json_object *v, bool allow_empty) {
        if (!json_object_is_type(v, json_type_array))
                return false;
        if (!allow_empty && json_object_array_length(v) == 0)
                return false;
        for (size_t i = 0; i < json_object_array_length(v); i++)
                if (!json_object_is_type(json_object_array_get_idx(v, i), json_type_string))
                        return false;
        return true;
}

static const char *prop_type_expected(PropType t) {
        switch (t) {
        case PROP_STRING:
                return "a string";
        case PROP_STRING_LIST:
                return "a string or a list of strings";
        case PROP_COMMAND:
                return "a command: a list of strings (argv) or a shell string";
        case PROP_BOOL:
                return "true or false";
        case PROP_INT:
                return "an integer";
        case PROP_MODE:
                return "an octal mode such as \"0644\"";
        case PROP_MAP:
                return "a mapping of names to values";
        case PROP_ANY:
                return "anything";
        }
        return "?";
}

/* Checks a value against its type, normalising what interpolation or YAML may have given in
 * another spelling ("true", "42", a number where a string is expected). */
static int check_prop(json_object *props, const char *key, json_object *v, PropType t) {
        const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
        int64_t n;
        mode_t m;

        if (json_object_is_type(v, json_type_null))
                return 0;
        switch (t) {
        case PROP_STRING:
                if (s)
                        return 0;
                if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) {
                        json_object_object_add(props, key,
                                               json_object_new_string(json_object_get_string(v)));
                        return 0;
                }
                return -EINVAL;
        case PROP_STRING_LIST:
                return s || is_string_list(v, true) ? 0 : -EINVAL;
        case PROP_COMMAND:
                return (s && *s) || is_string_list(v, false) ? 0 : -EINVAL;
        case PROP_BOOL:
                if (json_object_is_type(v, json_type_boolean))
                        return 0;
                if (s && (streq(s, "true") || streq(s, "false"))) {
                        json_object_object_add(props, key, json_object_new_boolean(streq(s, "true")));
                        return 0;
                }
                return -EINVAL;
        case PROP_INT:
                if (json_object_is_type(v, json_type_int))
                        return 0;
                if (s && parse_int64(s, &n) >= 0) {
                        json_object_object_add(props, key, json_object_new_int64(n));
                        return 0;
                }
                return -EINVAL;
        case PROP_MODE:
                if (s)
                        return parse_mode(s, &m) >= 0 ? 0 : -EINVAL;
                if (json_object_is_type(v, json_type_int)) {
                        _cleanup_free_ char *d = strf("%" PRId64, json_object_get_int64(v));
                        return d && parse_mode(d, &m) >= 0 ? 0 : -EINVAL;
                }
                return -EINVAL;
        case PROP_MAP:
                if (!json_object_is_type(v, json_type_object))
                        return -EINVAL;
                json_object_object_foreach(v, mk, mv) {
                        if (json_object_is_type(mv, json_type_null) || !is_scalar(mv))
                                return -EINVAL;
                        if (!json_object_is_type(mv, json_type_string))
                                json_object_object_add(
                                        v, mk, json_object_new_string(json_object_get_string(mv)));
                }
                return 0;
        case PROP_ANY:
                return 0;
        }
        return -EINVAL;
}

static const PropSpec common_specs[] = {
        { "only_if", PROP_COMMAND },      { "not_if", PROP_COMMAND },
        { "ignore_failure", PROP_BOOL },  { "retries", PROP_INT },
        { "retry_delay", PROP_INT },      { "timeout", PROP_INT },
        { "user", PROP_STRING },          { "name", PROP_STRING },
        { "action", PROP_STRING_LIST },   { NULL },
};

static const PropSpec *find_spec(const PropSpec *specs, const char *name) {
        for (const PropSpec *p = specs; p && p->name; p++)
                if (streq(p->name, name))
                        return p;
        return NULL;
}

static char *prop_names(const ResourceType *t) {
        _cleanup_(strbuf_done) StrBuf b = {};

        for (const PropSpec *p = t->properties; p && p->name; p++)
                if (strbuf_printf(&b, "%s%s", b.len ? ", " : "", p->name) < 0)
                        return NULL;
        return strbuf_steal(&b);
}

static char *resource_display_name(const ResourceType *t, json_object *props) {
        json_object *v = NULL;

        if (!json_object_object_get_ex(props, "name", &v) || !json_object_is_type(v, json_type_string))
                json_object_object_get_ex(props, t->identity, &v);
        if (v && json_object_is_type(v, json_type_array)) {
                _cleanup_strv_free_ char **l = NULL;

                for (size_t i = 0; i < json_object_array_length(v); i++)
                        if (strv_extend(&l, json_object_get_string(json_object_array_get_idx(v, i))) < 0)
                                return NULL;
                return l ? strv_join(l, json_object_is_type(props, json_type_object) &&
                                                        streq(t->identity, "command")
                                                ? " "
                                                : ", ")
                         : strdup("");
        }
        if (v && !json_object_is_type(v, json_type_null)) {
                const char *s = json_object_get_string(v);
                const char *nl = strchr(s, '\n');

                return nl ? strndup(s, (size_t) (nl - s)) : strdup(s);
        }
        return strdup(t->name);
}

/* Builds one step from a recipe item and an optional for_each item. */
static int compile_one(Run *run, json_object *entry, json_object *extra, char **ret_error) {
        json_object *item = json_object_object_get(entry, "item");
        const char *file = json_object_get_string(json_object_object_get(entry, "file"));
        const char *cb_name = json_object_get_string(json_object_object_get(entry, "cookbook"));
        _cleanup_(step_freep) Step *s = NULL;
        _cleanup_free_ char *at = NULL;
        const ResourceType *type = NULL;
        json_object *props_src = NULL, *v;
        Resource *r;
        YamlMark mark = {};
        Step **steps;
        int k;

        k = where(item, file, &at);
        if (k < 0)
                return k;
        (void) yaml_mark(item, &mark);
        json_object_object_foreach(item, tname, tprops) {
                type = resource_type_find(tname);
                if (!type) {
                        _cleanup_free_ char *known = NULL;
                        _cleanup_strv_free_ char **names = NULL;

                        for (const ResourceType *const *t = resource_types; *t; t++)
                                (void) strv_extend(&names, (*t)->name);
                        known = strv_join(names, ", ");
                        return error_set(ret_error, -EINVAL,
                                         "%s: unknown resource type '%s' (expected one of: %s, "
                                         "include_recipe)",
                                         at, tname, strempty(known));
                }
                props_src = tprops;
        }
        if (!json_object_is_type(props_src, json_type_object))
                return error_set(ret_error, -EINVAL, "%s: %s expects a mapping of properties", at,
                                 type->name);

        s = calloc(1, sizeof(Step));
        if (!s)
                return -ENOMEM;
        s->res = r = calloc(1, sizeof(Resource));
        if (!r)
                return -ENOMEM;
        r->type = type;
        r->cfg = run->cfg;
        r->node = run->node;
        r->line = mark.line;
        r->file = strdup(file);
        r->recipe = strdup(json_object_get_string(json_object_object_get(entry, "recipe")));
        if (!r->file || !r->recipe)
                return -ENOMEM;
        k = cookbook_set_get(run->cookbooks, cb_name, &r->cookbook, ret_error);
        if (k < 0)
                return k;
        if (extra)
                r->item = json_object_get(extra);

        /* Copy, leaving out what the engine consumes before interpolation. */
        k = yaml_copy(props_src, &r->props);
        if (k < 0)
                return -ENOMEM;
        json_object_object_del(r->props, "for_each");
        /* Notifications are resolved once every step exists, but interpolated here, with this
         * item's context: "service[{{item}}]". */
        if (json_object_object_get_ex(r->props, "notifies", &v))
                s->notifies_spec = json_object_get(v);
        if (json_object_object_get_ex(r->props, "subscribes", &v))
                s->subscribes_spec = json_object_get(v);
        json_object_object_del(r->props, "notifies");
        json_object_object_del(r->props, "subscribes");
        json_object *unused;
        json_object *specs[] = { s->notifies_spec, s->subscribes_spec };
        for (size_t i = 0; i < ELEMENTSOF(specs); i++) {
                if (!specs[i])
                        continue;
                k = interpolate(specs[i], at, run->node, extra, &unused, ret_error);
                if (k < 0)
                        return k;
        }

        json_object_object_foreach(r->props, key, val) {
                if (!find_spec(type->properties, key) && !strv_contains((char **) common_props, key)) {
                        _cleanup_free_ char *known = prop_names(type);
                        return error_set(ret_error, -EINVAL,
                                         "%s: %s: unknown property '%s' (expected %s%s%sa "
                                         "common property: action, only_if, not_if, notifies, "
                                         "subscribes, ignore_failure, retries, retry_delay, "
                                         "timeout, user, for_each, name)",
                                         at, type->name, key, known && *known ? "one of: " : "",
                                         strempty(known), known && *known ? "; or " : "");
                }
                (void) val;
        }

        k = interpolate(r->props, at, run->node, extra, &unused, ret_error);
        if (k < 0)
                return k;

        json_object_object_foreach(r->props, pkey, pval) {
                const PropSpec *spec = find_spec(type->properties, pkey) ?: find_spec(common_specs, pkey);

                if (spec && check_prop(r->props, pkey, pval, spec->type) < 0)
                        return error_set(ret_error, -EINVAL, "%s: %s: property '%s' must be %s",
                                         at, type->name, pkey, prop_type_expected(spec->type));
        }
        for (const PropSpec *p = type->properties; p && p->name; p++)
                if (p->required && !resource_get(r, p->name))
                        return error_set(ret_error, -EINVAL,
                                         "%s: %s: property '%s' is required (%s)", at, type->name,
                                         p->name, prop_type_expected(p->type));

        r->name = resource_display_name(type, r->props);
        if (!r->name)
                return -ENOMEM;
        r->id = strf("%s[%s]", type->name, r->name);
        if (!r->id)
                return -ENOMEM;

        /* Actions: a string or a list, each one the type knows, or "nothing". */
        s->actions = resource_strv(r, "action");
        if (!s->actions)
                return -ENOMEM;
        if (!s->actions[0] && strv_extend(&s->actions, type->actions[0]) < 0)
                return -ENOMEM;
        for (char **a = s->actions; *a; a++)
                if (!streq(*a, "nothing") && !strv_contains((char **) type->actions, *a)) {
                        _cleanup_free_ char *known = strv_join((char **) type->actions, ", ");
                        return error_set(ret_error, -EINVAL,
                                         "%s: %s: unknown action '%s' (expected one of: %s, "
                                         "nothing)",
                                         at, r->id, *a, strempty(known));
                }

        s->only_if = resource_get(r, "only_if");
        s->not_if = resource_get(r, "not_if");
        s->ignore_failure = resource_bool(r, "ignore_failure", false);
        s->retries = resource_int(r, "retries", 0);
        s->retry_delay = resource_int(r, "retry_delay", 2);
        if (s->retries < 0 || s->retries > 100 || s->retry_delay < 0 || s->retry_delay > 3600)
                return error_set(ret_error, -EINVAL,
                                 "%s: %s: retries must be 0..100 and retry_delay 0..3600 seconds",
                                 at, r->id);
        if (resource_int(r, "timeout", 0) < 0)
                return error_set(ret_error, -EINVAL, "%s: %s: timeout must be >= 0 seconds", at,
                                 r->id);

        if (type->check) {
                _cleanup_free_ char *e = NULL;

                k = type->check(r, &e);
                if (k < 0)
                        return error_set(ret_error, k, "%s: %s: %s", at, r->id,
                                         e ?: "invalid properties");
        }

        steps = reallocarray(run->steps, run->n_steps + 1, sizeof(Step *));
        if (!steps)
                return -ENOMEM;
        run->steps = steps;
        run->steps[run->n_steps++] = TAKE_PTR(s);
        return 0;
}

static int compile_entry(Run *run, json_object *entry, char **ret_error) {
        json_object *item = json_object_object_get(entry, "item");
        const char *file = json_object_get_string(json_object_object_get(entry, "file"));
        json_object *props = NULL, *fe, *list;
        _cleanup_free_ char *at = NULL;
        int k;

        json_object_object_foreach(item, tname, tprops) {
                props = tprops;
                (void) tname;
        }
        if (!json_object_is_type(props, json_type_object) ||
            !json_object_object_get_ex(props, "for_each", &fe))
                return compile_one(run, entry, NULL, ret_error);

        k = where(item, file, &at);
        if (k < 0)
                return k;
        if (json_object_is_type(fe, json_type_string)) {
                const char *path = json_object_get_string(fe);

                list = json_get_path(run->node, path);
                if (!list)
                        return error_set(ret_error, -EINVAL,
                                         "%s: for_each: attribute '%s' does not exist", at, path);
        } else
                list = fe;

        if (json_object_is_type(list, json_type_array)) {
                for (size_t i = 0; i < json_object_array_length(list); i++) {
                        _cleanup_json_ json_object *extra = json_object_new_object();

                        json_object_object_add(extra, "item",
                                               json_object_get(json_object_array_get_idx(list, i)));
                        json_object_object_add(extra, "key", json_object_new_int64((int64_t) i));
                        k = compile_one(run, entry, extra, ret_error);
                        if (k < 0)
                                return k;
                }
                return 0;
        }
        if (json_object_is_type(list, json_type_object)) {
                json_object_object_foreach(list, key, val) {
                        _cleanup_json_ json_object *extra = json_object_new_object();

                        json_object_object_add(extra, "item", json_object_get(val));
                        json_object_object_add(extra, "key", json_object_new_string(key));
                        k = compile_one(run, entry, extra, ret_error);
                        if (k < 0)
                                return k;
                }
                return 0;
        }
        return error_set(ret_error, -EINVAL,
                         "%s: for_each must be a list, a mapping, or the name of a list or mapping "
                         "attribute",
                         at);
}

static Step *find_step(Run *run, const char *id) {
        for (size_t i = 0; i < run->n_steps; i++)
                if (streq(run->steps[i]->res->id, id))
                        return run->steps[i];
        return NULL;
}

static int add_notification(Step *from, Step *target, const char *action, bool immediate) {
        Notification *n = reallocarray(from->notifies, from->n_notifies + 1, sizeof(Notification));

        if (!n)
                return -ENOMEM;
        from->notifies = n;
        n[from->n_notifies] = (Notification){ .target = target, .action = strdup(action),
                                              .immediate = immediate };
        if (!n[from->n_notifies].action)
                return -ENOMEM;
        from->n_notifies++;
        return 0;
}

/* notifies: [{action, resource, timing}] on s, or subscribes: the same naming the notifier. */
static int resolve_notifications(Run *run, Step *s, json_object *spec, bool subscribe,
                                 char **ret_error) {
        const char *what = subscribe ? "subscribes" : "notifies";
        _cleanup_free_ char *at = strf("%s:%u: %s", s->res->file, s->res->line, s->res->id);
        _cleanup_json_ json_object *list = NULL;

        if (!at)
                return -ENOMEM;
        if (json_object_is_type(spec, json_type_object)) {
                list = json_object_new_array();
                json_object_array_add(list, json_object_get(spec));
        } else if (json_object_is_type(spec, json_type_array))
                list = json_object_get(spec);
        else
                return error_set(ret_error, -EINVAL,
                                 "%s: %s must be a list of {action, resource, timing}", at, what);

        for (size_t i = 0; i < json_object_array_length(list); i++) {
                json_object *n = json_object_array_get_idx(list, i);
                const char *action, *resource, *timing;
                Step *other;
                int k;

                if (!json_object_is_type(n, json_type_object))
                        return error_set(ret_error, -EINVAL,
                                         "%s: %s entries must be {action, resource, timing}", at,
                                         what);
                json_object_object_foreach(n, key, val) {
                        if (!streq(key, "action") && !streq(key, "resource") && !streq(key, "timing"))
                                return error_set(ret_error, -EINVAL,
                                                 "%s: %s: unknown key '%s' (expected action, "
                                                 "resource, timing)",
                                                 at, what, key);
                        if (!json_object_is_type(val, json_type_string))
                                return error_set(ret_error, -EINVAL, "%s: %s: '%s' must be a string",
                                                 at, what, key);
                }
                action = json_get_string(n, "action");
                resource = json_get_string(n, "resource");
                timing = json_get_string(n, "timing") ?: "delayed";
                if (!action || !resource)
                        return error_set(ret_error, -EINVAL,
                                         "%s: %s needs 'action' and 'resource' (\"type[name]\")", at,
                                         what);
                if (!streq(timing, "delayed") && !streq(timing, "immediate") &&
                    !streq(timing, "immediately"))
                        return error_set(ret_error, -EINVAL,
                                         "%s: %s: timing '%s' must be delayed or immediate", at,
                                         what, timing);
                other = find_step(run, resource);
                if (!other)
                        return error_set(ret_error, -ENOENT,
                                         "%s: %s names %s, which is not a resource of this run", at,
                                         what, resource);

                /* The action belongs to whoever is notified. */
                Step *target = subscribe ? s : other;
                if (!streq(action, "nothing") &&
                    !strv_contains((char **) target->res->type->actions, action))
                        return error_set(ret_error, -EINVAL, "%s: %s: %s has no action '%s'", at,
                                         what, target->res->id, action);
                k = add_notification(subscribe ? other : s, target, action, !streq(timing, "delayed"));
                if (k < 0)
                        return k;
        }
        return 0;
}

static int compile(Run *run, const ConvergeRequest *req, char **ret_error) {
        _cleanup_json_ json_object *stack = json_object_new_array();
        int k;

        run->recipes = json_object_new_object();
        run->expanded = json_object_new_array();
        if (!stack || !run->recipes || !run->expanded)
                return -ENOMEM;
        if (!req->run_list || !req->run_list[0])
                return error_set(ret_error, -EINVAL, "the run list is empty: name at least one "
                                                     "recipe (cookbook or cookbook::recipe)");
        for (char **spec = req->run_list; *spec; spec++) {
                k = expand_recipe(run, *spec, "run list", stack, ret_error);
                if (k < 0)
                        return k;
        }
        k = cookbook_set_resolve(run->cookbooks, ret_error);
        if (k < 0)
                return k;
        k = node_build(run->cookbooks, req->attributes, req->n_attributes, req->readonly, &run->node);
        if (k < 0)
                return error_set(ret_error, k, "cannot build the node attributes");

        for (size_t i = 0; i < json_object_array_length(run->expanded); i++) {
                k = compile_entry(run, json_object_array_get_idx(run->expanded, i), ret_error);
                if (k < 0)
                        return k;
        }
        /* Every step holds its own copy now: the recipe documents can go. */
        json_object_put(run->expanded);
        json_object_put(run->recipes);
        run->expanded = run->recipes = NULL;

        for (size_t i = 0; i < run->n_steps; i++) {
                Step *s = run->steps[i];

                if (s->notifies_spec) {
                        k = resolve_notifications(run, s, s->notifies_spec, false, ret_error);
                        if (k < 0)
                                return k;
                }
                if (s->subscribes_spec) {
                        k = resolve_notifications(run, s, s->subscribes_spec, true, ret_error);
                        if (k < 0)
                                return k;
                }
        }
        return 0;
}

/* Runs a guard; true when it allows the resource to run. */
static int guard_allows(Step *s, json_object *command, bool want_success, char **ret_reason) {
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *error = NULL;
        _cleanup_(step_result_done) StepResult result = {};
        int k;

        k = step_argv_from_json(command, &argv, &error);
        if (k < 0)
                return resource_fail(s->res, k, "%s", strempty(error));
        k = resource_run_step(s->res, argv, NULL, NULL, &result);
        if (k < 0)
                return k;
        if (result.timed_out)
                return resource_fail(s->res, -ETIME, "guard timed out");
        bool success = result.exit_status == 0;
        if (success != want_success) {
                *ret_reason = strf("%s %s", want_success ? "only_if" : "not_if",
                                   want_success ? "failed" : "succeeded");
                return 0;
        }
        return 1;
}

static void record(Run *run, Step *s, const char *action, const char *status, usec_t started,
                   const char *reason, const char *notified_by) {
        Resource *r = s->res;
        json_object *e = json_object_new_object();

        json_object_object_add(e, "type", json_object_new_string(r->type->name));
        json_object_object_add(e, "name", json_object_new_string(r->name));
        json_object_object_add(e, "cookbook", json_object_new_string(r->cookbook->name));
        json_object_object_add(e, "recipe", json_object_new_string(r->recipe));
        json_object_object_add(e, "file", json_object_new_string(r->file));
        json_object_object_add(e, "line", json_object_new_int((int) r->line));
        json_object_object_add(e, "action", json_object_new_string(action));
        json_object_object_add(e, "status", json_object_new_string(status));
        json_object_object_add(e, "duration_ms",
                               json_object_new_int64((int64_t) ((now_usec(CLOCK_MONOTONIC) - started) / 1000)));
        if (r->changes)
                json_object_object_add(e, "changes", json_object_get(r->changes));
        if (r->error)
                json_object_object_add(e, "error", json_object_new_string(r->error));
        if (s->ignore_failure && streq(status, "failed"))
                json_object_object_add(e, "ignored", json_object_new_boolean(true));
        if (reason)
                json_object_object_add(e, "reason", json_object_new_string(reason));
        if (notified_by)
                json_object_object_add(e, "notified_by", json_object_new_string(notified_by));
        json_object_array_add(run->entries, e);

        if (streq(status, "changed"))
                run->changed++;
        else if (streq(status, "up_to_date"))
                run->up_to_date++;
        else if (streq(status, "skipped"))
                run->skipped++;
        else
                run->failed++;
        resource_log(r,
                     streq(status, "failed")       ? LOG_ERR
                     : streq(status, "up_to_date") ? LOG_DEBUG
                                                   : LOG_INFO,
                     "%s %s%s%s", action, status,
                     r->error ? ": " : "", strempty(r->error));
}

static int apply_with_retries(Run *run, Step *s, const char *action) {
        int k = 0;

        if (streq(action, "nothing"))
                return 0;
        for (int64_t attempt = 0; attempt <= s->retries; attempt++) {
                if (attempt > 0) {
                        struct timespec ts = { .tv_sec = (time_t) s->retry_delay };

                        resource_log(s->res, LOG_WARNING, "retrying (%" PRId64 "/%" PRId64 "): %s",
                                     attempt, s->retries, strempty(s->res->error));
                        s->res->error = mfree(s->res->error);
                        if (!run->cfg->why_run)
                                while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                                        ;
                }
                k = s->res->type->apply(s->res, action);
                if (k >= 0)
                        return k;
        }
        if (!s->res->error)
                resource_fail(s->res, k, "%s failed: %s", action, strerror(-k));
        return k;
}

static int queue_delayed(Run *run, Notification *n, const char *from) {
        Notification *d;

        for (size_t i = 0; i < run->n_delayed; i++)
                if (run->delayed[i].target == n->target && streq(run->delayed[i].action, n->action))
                        return 0;
        d = reallocarray(run->delayed, run->n_delayed + 1, sizeof(Notification));
        if (!d)
                return -ENOMEM;
        run->delayed = d;
        d[run->n_delayed] = (Notification){ .target = n->target, .action = strdup(n->action),
                                            .from = from };
        if (!d[run->n_delayed].action)
                return -ENOMEM;
        run->n_delayed++;
        return 0;
}

static void reset(Resource *r) {
        r->error = mfree(r->error);
        json_object_put(r->changes);
        r->changes = NULL;
}

/* Runs one step (or a notified action of it). Returns < 0 when the run must stop. */
static int run_step(Run *run, Step *s, char **actions, const char *notified_by);

static int notify(Run *run, Step *s) {
        for (size_t i = 0; i < s->n_notifies; i++) {
                Notification *n = &s->notifies[i];
                char *one[] = { n->action, NULL };
                int k;

                if (n->immediate)
                        k = run_step(run, n->target, one, s->res->id);
                else
                        k = queue_delayed(run, n, s->res->id);
                if (k < 0)
                        return k;
        }
        return 0;
}

static int run_step(Run *run, Step *s, char **actions, const char *notified_by) {
        for (char **a = actions; *a; a++) {
                _cleanup_free_ char *reason = NULL;
                usec_t started = now_usec(CLOCK_MONOTONIC);
                int k = 1;

                reset(s->res);
                if (s->only_if)
                        k = guard_allows(s, s->only_if, true, &reason);
                if (k > 0 && s->not_if)
                        k = guard_allows(s, s->not_if, false, &reason);
                if (k == 0) {
                        record(run, s, *a, "skipped", started, reason, notified_by);
                        continue;
                }
                if (k > 0)
                        k = apply_with_retries(run, s, *a);
                if (k < 0) {
                        record(run, s, *a, "failed", started, NULL, notified_by);
                        if (s->ignore_failure)
                                continue;
                        return -EIO;
                }
                record(run, s, *a, k > 0 ? "changed" : "up_to_date", started, NULL, notified_by);
                if (k > 0) {
                        k = notify(run, s);
                        if (k < 0)
                                return k;
                }
        }
        return 0;
}

static json_object *make_report(Run *run, bool ok, usec_t started) {
        json_object *report = json_object_new_object(), *totals = json_object_new_object();

        json_object_object_add(report, "status", json_object_new_string(ok ? "successful" : "failed"));
        json_object_object_add(report, "why_run", json_object_new_boolean(run->cfg->why_run));
        json_object_object_add(report, "duration_ms",
                               json_object_new_int64((int64_t) ((now_usec(CLOCK_MONOTONIC) - started) / 1000)));
        json_object_object_add(totals, "changed", json_object_new_int((int) run->changed));
        json_object_object_add(totals, "up_to_date", json_object_new_int((int) run->up_to_date));
        json_object_object_add(totals, "skipped", json_object_new_int((int) run->skipped));
        json_object_object_add(totals, "failed", json_object_new_int((int) run->failed));
        json_object_object_add(report, "totals", totals);
        json_object_object_add(report, "resources", json_object_get(run->entries));
        return report;
}

int converge(const RuntimeConfig *cfg, const ConvergeRequest *req, json_object **ret_report,
             json_object **ret_node, char **ret_error) {
        _cleanup_(run_done) Run run = { .cfg = cfg };
        usec_t started = now_usec(CLOCK_MONOTONIC);
        int k;

        k = cookbook_set_new(cfg->cookbook_path, &run.cookbooks);
        if (k < 0)
                return k;
        run.entries = json_object_new_array();
        if (!run.entries)
                return -ENOMEM;

        k = compile(&run, req, ret_error);
        if (k < 0)
                return k;
        k = step_runner_init();
        if (k < 0)
                return error_set(ret_error, k, "cannot become the subreaper of steps: %s",
                                 strerror(-k));

        for (size_t i = 0; i < run.n_steps && k >= 0; i++)
                k = run_step(&run, run.steps[i], run.steps[i]->actions, NULL);
        /* Delayed notifications run once, at the end, in the order they were first queued;
         * a delayed action may queue further ones, which join the end of the list. */
        for (size_t i = 0; i < run.n_delayed && k >= 0; i++) {
                char *one[] = { run.delayed[i].action, NULL };

                k = run_step(&run, run.delayed[i].target, one, run.delayed[i].from);
        }

        /* Providers write files without an fsync each (1,000 fsyncs would dominate a run);
         * one sync makes the run's changes durable together. */
        if (run.changed > 0 && !cfg->why_run)
                sync();

        if (ret_node)
                *ret_node = json_object_get(run.node);
        *ret_report = make_report(&run, k >= 0, started);
        return k >= 0 ? 0 : 1;
}
