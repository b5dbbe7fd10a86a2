/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <sys/stat.h>

#include "cookbook.h"
#include "json-util.h"
#include "str-util.h"
#include "yaml-load.h"

#define COOKBOOKS_MAX 1024U

struct CookbookSet {
        char **path;
        Cookbook **items;
        size_t n;
};

Cookbook *cookbook_free(Cookbook *c) {
        if (!c)
                return NULL;
        free(c->name);
        free(c->dir);
        free(c->version_string);
        json_object_put(c->depends);
        json_object_put(c->attributes);
        free(c);
        return NULL;
}

static bool name_valid(const char *s) {
        if (!s || !*s || strlen(s) > 128)
                return false;
        for (const char *p = s; *p; p++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", *p))
                        return false;
        return true;
}

static int load_metadata(Cookbook *c, const char *dir, char **ret_error) {
        _cleanup_free_ char *path = strf("%s/metadata.yaml", dir);
        _cleanup_json_ json_object *m = NULL;
        json_object *v;
        int k;

        if (!path)
                return -ENOMEM;
        k = yaml_load_file(path, &m, ret_error);
        if (k < 0)
                return k;
        if (!json_object_is_type(m, json_type_object))
                return error_set(ret_error, -EINVAL, "%s: expected a mapping with name and version",
                                 path);

        json_object_object_foreach(m, key, val) {
                if (!streq(key, "name") && !streq(key, "version") && !streq(key, "depends") &&
                    !streq(key, "description") && !streq(key, "maintainer") &&
                    !streq(key, "license"))
                        return error_set(ret_error, -EINVAL,
                                         "%s: unknown key '%s' (expected name, version, depends, "
                                         "description, maintainer, license)",
                                         path, key);
                (void) val;
        }

        if (!json_object_object_get_ex(m, "name", &v) || !json_object_is_type(v, json_type_string) ||
            !name_valid(json_object_get_string(v)))
                return error_set(ret_error, -EINVAL,
                                 "%s: 'name' must be a string of letters, digits, '_' and '-'", path);
        c->name = strdup(json_object_get_string(v));

        if (!json_object_object_get_ex(m, "version", &v))
                c->version_string = strdup("0.0.0");
        else if (json_object_is_type(v, json_type_string) || json_object_is_type(v, json_type_int) ||
                 json_object_is_type(v, json_type_double))
                c->version_string = strdup(json_object_get_string(v));
        else
                return error_set(ret_error, -EINVAL, "%s: 'version' must be a string like \"1.2.3\"",
                                 path);
        if (!c->name || !c->version_string)
                return -ENOMEM;
        if (version_parse(c->version_string, &c->version) < 0)
                return error_set(ret_error, -EINVAL,
                                 "%s: version '%s' is not a dotted version like \"1.2.3\"", path,
                                 c->version_string);

        c->depends = json_object_new_object();
        if (json_object_object_get_ex(m, "depends", &v) && !json_object_is_type(v, json_type_null)) {
                if (!json_object_is_type(v, json_type_object))
                        return error_set(ret_error, -EINVAL,
                                         "%s: 'depends' must map cookbook names to version "
                                         "constraints like \">= 1.2\"",
                                         path);
                json_object_object_foreach(v, dep, con) {
                        const char *s = json_object_is_type(con, json_type_null)
                                                ? ">= 0"
                                                : json_object_get_string(con);
                        Version any = {};
                        bool ok;

                        if (!name_valid(dep))
                                return error_set(ret_error, -EINVAL,
                                                 "%s: depends: '%s' is not a cookbook name", path,
                                                 dep);
                        if (json_object_is_type(con, json_type_object) ||
                            json_object_is_type(con, json_type_array) ||
                            version_constraint_check(s, &any, &ok) < 0)
                                return error_set(ret_error, -EINVAL,
                                                 "%s: depends: %s: '%s' is not a version "
                                                 "constraint (expected =, >=, <=, >, < or ~> "
                                                 "and a version)",
                                                 path, dep, strempty(s));
                        json_object_object_add(c->depends, dep, json_object_new_string(s));
                }
        }
        return 0;
}

static int filter_yaml(const struct dirent *de) {
        return de->d_name[0] != '.' && (endswith(de->d_name, ".yaml") || endswith(de->d_name, ".yml"));
}

static int load_attributes(Cookbook *c, const char *dir, char **ret_error) {
        _cleanup_free_ char *adir = strf("%s/attributes", dir);
        struct dirent **list = NULL;
        int n, k = 0;

        if (!adir)
                return -ENOMEM;
        c->attributes = json_object_new_object();
        n = scandir(adir, &list, filter_yaml, alphasort);
        if (n < 0)
                return errno == ENOENT ? 0
                                       : error_set(ret_error, -errno, "%s: cannot read: %m", adir);

        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *p = k >= 0 ? strf("%s/%s", adir, list[i]->d_name) : NULL;
                _cleanup_json_ json_object *a = NULL;

                if (k >= 0 && !p)
                        k = -ENOMEM;
                if (k >= 0)
                        k = yaml_load_file(p, &a, ret_error);
                if (k >= 0 && !json_object_is_type(a, json_type_object) &&
                    !json_object_is_type(a, json_type_null))
                        k = error_set(ret_error, -EINVAL, "%s: attributes must be a mapping", p);
                if (k >= 0 && a)
                        k = json_merge(c->attributes, a);
                free(list[i]);
        }
        free(list);
        return k;
}

int cookbook_load(const char *dir, Cookbook **ret, char **ret_error) {
        _cleanup_(cookbook_freep) Cookbook *c = calloc(1, sizeof(Cookbook));
        int k;

        if (!c)
                return -ENOMEM;
        c->dir = strdup(dir);
        if (!c->dir)
                return -ENOMEM;
        k = load_metadata(c, dir, ret_error);
        if (k < 0)
                return k;
        k = load_attributes(c, dir, ret_error);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(c);
        return 0;
}

int cookbook_file(Cookbook *c, const char *kind, const char *name, char **ret, char **ret_error) {
        _cleanup_free_ char *p = NULL;
        struct stat st;

        /* Names are relative to the kind's directory and may have subdirectories, never "..". */
        if (!name || !*name || name[0] == '/' || streq(name, "..") || startswith(name, "../") ||
            strstr(name, "/../") || endswith(name, "/.."))
                return error_set(ret_error, -EINVAL,
                                 "%s '%s' must be a relative name inside the cookbook's %s/", kind,
                                 strempty(name), kind);
        p = strf("%s/%s/%s", c->dir, kind, name);
        if (!p)
                return -ENOMEM;
        if (stat(p, &st) < 0)
                return error_set(ret_error, -errno, "cookbook %s has no %s/%s (%s)", c->name, kind,
                                 name, p);
        if (!S_ISREG(st.st_mode))
                return error_set(ret_error, -EISDIR, "%s is not a regular file", p);
        *ret = TAKE_PTR(p);
        return 0;
}

int cookbook_set_new(char **cookbook_path, CookbookSet **ret) {
        CookbookSet *s = calloc(1, sizeof(CookbookSet));

        if (!s)
                return -ENOMEM;
        s->path = strv_copy(cookbook_path);
        if (!s->path) {
                free(s);
                return -ENOMEM;
        }
        *ret = s;
        return 0;
}

CookbookSet *cookbook_set_free(CookbookSet *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n; i++)
                cookbook_free(s->items[i]);
        free(s->items);
        strv_free(s->path);
        free(s);
        return NULL;
}

int cookbook_set_get(CookbookSet *s, const char *name, Cookbook **ret, char **ret_error) {
        _cleanup_free_ char *searched = NULL;
        int k;

        for (size_t i = 0; i < s->n; i++)
                if (streq(s->items[i]->name, name)) {
                        *ret = s->items[i];
                        return 0;
                }
        if (!name_valid(name))
                return error_set(ret_error, -EINVAL, "'%s' is not a cookbook name", name);

        for (char **p = s->path; p && *p; p++) {
                _cleanup_(cookbook_freep) Cookbook *c = NULL;
                _cleanup_free_ char *dir = strf("%s/%s", *p, name);
                struct stat st;
                Cookbook **items;

                if (!dir)
                        return -ENOMEM;
                if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
                        continue;
                k = cookbook_load(dir, &c, ret_error);
                if (k < 0)
                        return k;
                if (!streq(c->name, name))
                        return error_set(ret_error, -EINVAL,
                                         "%s/metadata.yaml: name is '%s' but the directory is '%s'",
                                         dir, c->name, name);
                if (s->n >= COOKBOOKS_MAX)
                        return error_set(ret_error, -E2BIG, "more than %u cookbooks", COOKBOOKS_MAX);
                items = reallocarray(s->items, s->n + 1, sizeof(Cookbook *));
                if (!items)
                        return -ENOMEM;
                s->items = items;
                s->items[s->n++] = c;
                *ret = TAKE_PTR(c);
                return 0;
        }

        searched = strv_join(s->path, ", ");
        return error_set(ret_error, -ENOENT, "cookbook '%s' not found in the cookbook path (%s)",
                         name, searched && *searched ? searched : "empty");
}

int cookbook_set_resolve(CookbookSet *s, char **ret_error) {
        /* s->n grows while we walk: dependencies found are appended and checked in turn. */
        for (size_t i = 0; i < s->n; i++) {
                json_object_object_foreach(s->items[i]->depends, dep, con) {
                        const char *constraint = json_object_get_string(con);
                        Cookbook *d;
                        bool ok;
                        int k;

                        k = cookbook_set_get(s, dep, &d, ret_error);
                        if (k == -ENOENT) {
                                if (ret_error)
                                        *ret_error = mfree(*ret_error);
                                return error_set(ret_error, k,
                                                 "cookbook %s depends on %s (%s), which is not in "
                                                 "the cookbook path",
                                                 s->items[i]->name, dep, constraint);
                        }
                        if (k < 0)
                                return k;
                        k = version_constraint_check(constraint, &d->version, &ok);
                        if (k < 0)
                                return k;
                        if (!ok)
                                return error_set(ret_error, -ERANGE,
                                                 "cookbook %s depends on %s %s, but %s is version "
                                                 "%s (%s)",
                                                 s->items[i]->name, dep, constraint, dep,
                                                 d->version_string, d->dir);
                }
        }
        return 0;
}

size_t cookbook_set_size(CookbookSet *s) {
        return s->n;
}

Cookbook *cookbook_set_at(CookbookSet *s, size_t i) {
        return i < s->n ? s->items[i] : NULL;
}
