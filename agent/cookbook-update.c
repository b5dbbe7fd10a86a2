/* SPDX-License-Identifier: MIT */
/* cookbook_update(): update_custom_cookbooks, see cookbook-update.h. Sources are taken in
 * order, breadth first: the stack's, then the ones their cookbooks.yaml files name. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>

#include "cookbook-update.h"
#include "cookbook.h"
#include "copy-tree.h"
#include "fs-util.h"
#include "json-util.h"
#include "str-util.h"
#include "time-util.h"
#include "yaml-load.h"

#define BUILTIN_COOKBOOK "strata"

typedef struct Update {
        const CookbookUpdate *u;
        FetchOptions fetch;
        uid_t uid;
        gid_t gid;
        char *fetch_cache;
        char *cookbooks; /* <cache_dir>/cookbooks */
        char *trees;     /* <cookbooks>/trees */
        char *name;      /* the new tree's name: a timestamp */
        char *tree;      /* <trees>/<name> */
        char *staging;   /* <trees>/<name>.fetch: where the fetch user puts each source */
        char *copies;    /* <trees>/<name>.src: root's copies of them */
        json_object *items;    /* [{source, from, only?}]: the sources, in order */
        json_object *wants;    /* [{name, version, from}]: what cookbooks.yaml files ask for */
        json_object *provided; /* name → {name, version, from} */
        json_object *fetched;  /* fetch info of each source */
        char **ret_error;
} Update;

static void update_done(Update *up) {
        free(up->fetch_cache);
        free(up->cookbooks);
        free(up->trees);
        free(up->name);
        free(up->tree);
        free(up->staging);
        free(up->copies);
        json_object_put(up->items);
        json_object_put(up->wants);
        json_object_put(up->provided);
        json_object_put(up->fetched);
}

#define update_log(up, priority, ...) \
        runtime_log_to((up)->fetch.log, (up)->fetch.log_userdata, priority, NULL, __VA_ARGS__)

static int add_string(json_object *o, const char *key, const char *value) {
        json_object *v = json_object_new_string(value);

        if (!v || json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static int add_item(Update *up, json_object *source, const char *from, const char *only) {
        _cleanup_json_ json_object *item = json_object_new_object();

        if (!item || json_object_object_add(item, "source", json_object_get(source)) < 0 ||
            add_string(item, "from", from) < 0 || (only && add_string(item, "only", only) < 0) ||
            json_object_array_add(up->items, item) < 0)
                return -ENOMEM;
        TAKE_PTR(item);
        return 0;
}

/* A name no other tree has, "20261125T141720.123456Z" or with "-N" after it. */
static int make_tree(Update *up) {
        usec_t now = now_usec(CLOCK_REALTIME);
        time_t sec = (time_t) (now / USEC_PER_SEC);
        char stamp[32];
        struct tm tm;

        if (!gmtime_r(&sec, &tm) || strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm) == 0)
                return -EINVAL;
        for (unsigned n = 0; n < 100; n++) {
                free(up->name);
                free(up->tree);
                up->name = n == 0 ? strf("%s.%06uZ", stamp, (unsigned) (now % USEC_PER_SEC))
                                  : strf("%s.%06uZ-%u", stamp, (unsigned) (now % USEC_PER_SEC), n);
                up->tree = up->name ? strf("%s/%s", up->trees, up->name) : NULL;
                if (!up->tree)
                        return -ENOMEM;
                if (mkdir(up->tree, 0755) >= 0)
                        break;
                if (errno != EEXIST)
                        return error_set(up->ret_error, -errno, "cannot create %s: %m", up->tree);
        }
        up->staging = strf("%s.fetch", up->tree);
        up->copies = strf("%s.src", up->tree);
        if (!up->staging || !up->copies)
                return -ENOMEM;
        if (mkdir(up->staging, 0755) < 0 || mkdir(up->copies, 0700) < 0)
                return error_set(up->ret_error, -errno, "cannot create a directory in %s: %m",
                                 up->trees);
        return 0;
}

/* ---- cookbooks.yaml ---- */

static bool name_valid(const char *s) {
        size_t n = strlen(s);

        return n > 0 && n <= 128 &&
               strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

static bool item_queued(Update *up, const char *name) {
        for (size_t i = 0; i < json_object_array_length(up->items); i++)
                if (streq_ptr(json_get_string(json_object_array_get_idx(up->items, i), "only"),
                              name))
                        return true;
        return false;
}

static int read_entry(Update *up, const char *what, const char *name, json_object *entry) {
        _cleanup_json_ json_object *want = NULL;
        _cleanup_free_ char *from = NULL;
        json_object *source = NULL, *version = NULL;
        const char *constraint = NULL;
        Version any = {};
        bool ok;

        if (!name_valid(name))
                return error_set(up->ret_error, -EINVAL,
                                 "%s: cookbooks: '%s' is not a cookbook name (letters, digits, "
                                 "'_' and '-')",
                                 what, name);
        if (!json_object_is_type(entry, json_type_object))
                return error_set(up->ret_error, -EINVAL,
                                 "%s: cookbooks.%s: expected a mapping with source and version",
                                 what, name);
        json_object_object_foreach(entry, key, value) {
                if (streq(key, "source"))
                        source = value;
                else if (streq(key, "version"))
                        version = value;
                else
                        return error_set(up->ret_error, -EINVAL,
                                         "%s: cookbooks.%s: unknown key '%s' (expected source, "
                                         "version)",
                                         what, name, key);
        }
        if (!json_object_is_type(source, json_type_object))
                return error_set(up->ret_error, -EINVAL,
                                 "%s: cookbooks.%s.source: expected a mapping (type, url, ...)",
                                 what, name);
        if (version) {
                constraint = json_object_get_string(version);
                if (!(json_object_is_type(version, json_type_string) ||
                      json_object_is_type(version, json_type_int) ||
                      json_object_is_type(version, json_type_double)) ||
                    version_constraint_check(constraint, &any, &ok) < 0)
                        return error_set(up->ret_error, -EINVAL,
                                         "%s: cookbooks.%s.version: expected a version "
                                         "constraint (=, >=, <=, >, < or ~> and a version)",
                                         what, name);
                want = json_object_new_object();
                if (!want || add_string(want, "name", name) < 0 ||
                    add_string(want, "version", constraint) < 0 ||
                    add_string(want, "from", what) < 0 ||
                    json_object_array_add(up->wants, want) < 0)
                        return -ENOMEM;
                TAKE_PTR(want);
        }

        if (json_object_object_get_ex(up->provided, name, NULL) || item_queued(up, name))
                return 0;
        if (json_object_array_length(up->items) >= COOKBOOK_SOURCES_MAX)
                return error_set(up->ret_error, -E2BIG,
                                 "%s: cookbooks.%s: more than %u cookbook sources in all", what,
                                 name, COOKBOOK_SOURCES_MAX);
        from = strf("%s: cookbooks.%s", what, name);
        if (!from)
                return -ENOMEM;
        return add_item(up, source, from, name);
}

/* Reads <copy>/cookbooks.yaml, if any, queueing the sources it names. *ret_found: it exists. */
static int read_cookbooks_yaml(Update *up, const char *copy, const char *from, bool *ret_found) {
        _cleanup_free_ char *path = strf("%s/cookbooks.yaml", copy), *what = NULL, *text = NULL;
        _cleanup_json_ json_object *doc = NULL;
        json_object *list = NULL;
        size_t len;
        int k;

        what = strf("%s: cookbooks.yaml", from);
        if (!path || !what)
                return -ENOMEM;
        k = read_full_file(path, DOCUMENT_MAX, &text, &len);
        if (k == -ENOENT) {
                *ret_found = false;
                return 0;
        }
        if (k < 0)
                return error_set(up->ret_error, k, "%s: cannot read: %s", what, strerror(-k));
        *ret_found = true;
        k = yaml_load(what, text, len, &doc, up->ret_error);
        if (k < 0)
                return k;
        if (!doc)
                return 0;
        if (!json_object_is_type(doc, json_type_object))
                return error_set(up->ret_error, -EINVAL, "%s: expected a mapping with 'cookbooks'",
                                 what);
        json_object_object_foreach(doc, key, value) {
                if (!streq(key, "cookbooks"))
                        return error_set(up->ret_error, -EINVAL,
                                         "%s: unknown key '%s' (expected cookbooks)", what, key);
                list = value;
        }
        if (!list || json_object_is_type(list, json_type_null))
                return 0;
        if (!json_object_is_type(list, json_type_object))
                return error_set(up->ret_error, -EINVAL,
                                 "%s: cookbooks: expected a mapping of cookbook names to "
                                 "{source, version}",
                                 what);
        json_object_object_foreach(list, name, entry) {
                k = read_entry(up, what, name, entry);
                if (k < 0)
                        return k;
        }
        return 0;
}

/* ---- taking cookbooks into the tree ---- */

static bool has_metadata(const char *dir) {
        _cleanup_free_ char *p = strf("%s/metadata.yaml", dir);
        struct stat st;

        return p && lstat(p, &st) >= 0 && S_ISREG(st.st_mode);
}

/* Moves the cookbook in dir into the tree. *ret_taken: it was (only matched). */
static int take_one(Update *up, const char *dir, const char *dirname, const char *from,
                    const char *only, bool *ret_taken) {
        _cleanup_(cookbook_freep) Cookbook *c = NULL;
        _cleanup_json_ json_object *entry = NULL;
        _cleanup_free_ char *dest = NULL;
        json_object *other;
        int k;

        *ret_taken = false;
        k = cookbook_load(dir, &c, up->ret_error);
        if (k < 0) {
                if (up->ret_error && *up->ret_error)
                        error_prefix(up->ret_error, "%s", from);
                return k;
        }
        if (dirname && !streq(c->name, dirname))
                return error_set(up->ret_error, -EINVAL,
                                 "%s: %s/metadata.yaml: name is '%s' but the directory is '%s'",
                                 from, dirname, c->name, dirname);
        if (only && !streq(c->name, only))
                return 0;
        if (streq(c->name, BUILTIN_COOKBOOK))
                return error_set(up->ret_error, -EINVAL,
                                 "%s: cookbook '%s' has the name of the built-in cookbook", from,
                                 c->name);
        if (json_object_object_get_ex(up->provided, c->name, &other))
                return error_set(up->ret_error, -EEXIST,
                                 "%s: cookbook '%s' also comes from %s", from, c->name,
                                 json_get_string(other, "from"));

        dest = strf("%s/%s", up->tree, c->name);
        if (!dest)
                return -ENOMEM;
        if (rename(dir, dest) < 0)
                return error_set(up->ret_error, -errno, "cannot move cookbook %s into %s: %m",
                                 c->name, up->tree);
        entry = json_object_new_object();
        if (!entry || add_string(entry, "name", c->name) < 0 ||
            add_string(entry, "version", c->version_string) < 0 ||
            add_string(entry, "from", from) < 0 ||
            json_object_object_add(up->provided, c->name, json_object_get(entry)) < 0)
                return -ENOMEM;
        update_log(up, LOG_INFO, "%s: cookbook %s %s", from, c->name, c->version_string);
        *ret_taken = true;
        return 0;
}

static int filter_visible(const struct dirent *de) {
        return de->d_name[0] != '.';
}

static int take_cookbooks(Update *up, const char *copy, const char *from, const char *only,
                          bool has_list) {
        struct dirent **list = NULL;
        size_t taken = 0;
        bool t;
        int n, k = 0;

        if (has_metadata(copy)) {
                k = take_one(up, copy, NULL, from, only, &t);
                if (k < 0)
                        return k;
                taken += t;
        } else {
                n = scandir(copy, &list, filter_visible, alphasort);
                if (n < 0)
                        return error_set(up->ret_error, -errno, "%s: cannot read %s: %m", from,
                                         copy);
                for (int i = 0; i < n; i++) {
                        _cleanup_free_ char *sub = k >= 0 ? strf("%s/%s", copy, list[i]->d_name)
                                                          : NULL;
                        struct stat st;

                        if (k >= 0 && !sub)
                                k = -ENOMEM;
                        if (k >= 0 && lstat(sub, &st) >= 0 && S_ISDIR(st.st_mode) &&
                            has_metadata(sub)) {
                                k = take_one(up, sub, list[i]->d_name, from, only, &t);
                                taken += k >= 0 && t;
                        }
                        free(list[i]);
                }
                free(list);
                if (k < 0)
                        return k;
        }

        if (only && taken == 0)
                return error_set(up->ret_error, -ENOENT,
                                 "%s: the source has no cookbook '%s' (no metadata.yaml naming it "
                                 "at its root or in %s/)",
                                 from, only, only);
        if (taken == 0 && !has_list)
                return error_set(up->ret_error, -ENOENT,
                                 "%s: no cookbook in the source (expected metadata.yaml at its "
                                 "root or in directories below it, or a cookbooks.yaml)",
                                 from);
        return 0;
}

static int process_item(Update *up, size_t i, json_object *item) {
        _cleanup_free_ char *stage = strf("%s/%zu", up->staging, i);
        _cleanup_free_ char *copy = strf("%s/%zu", up->copies, i);
        _cleanup_free_ char *error = NULL;
        _cleanup_json_ json_object *info = NULL;
        json_object *source = json_object_object_get(item, "source");
        const char *from = json_get_string(item, "from");
        const char *only = json_get_string(item, "only");
        json_object *other;
        bool has_list;
        int k;

        if (!stage || !copy)
                return -ENOMEM;
        if (only && json_object_object_get_ex(up->provided, only, &other)) {
                update_log(up, LOG_INFO, "%s: cookbook %s already comes from %s", from, only,
                           json_get_string(other, "from"));
                return 0;
        }

        if (mkdir(stage, 0700) < 0 || chown(stage, up->uid, up->gid) < 0)
                return error_set(up->ret_error, -errno, "cannot create %s: %m", stage);
        update_log(up, LOG_INFO, "%s: fetching (%s)", from,
                   strempty(json_get_string(source, "type")));
        k = fetch_as_user(source, stage, up->u->user, &up->fetch, &info, &error);
        if (k < 0)
                return error_set(up->ret_error, k, "%s: %s", from,
                                 error ?: strerror(-k));
        if (add_string(info, "from", from) < 0 ||
            json_object_array_add(up->fetched, json_object_get(info)) < 0)
                return -ENOMEM;

        /* From here on root reads only its own copy, which the fetch user cannot change. */
        if (mkdir(copy, 0755) < 0)
                return error_set(up->ret_error, -errno, "cannot create %s: %m", copy);
        k = copy_tree(stage, copy, &error);
        if (k < 0)
                return error_set(up->ret_error, k, "%s: %s", from, error ?: strerror(-k));
        (void) rm_rf(stage);

        k = read_cookbooks_yaml(up, copy, from, &has_list);
        if (k < 0)
                return k;
        return take_cookbooks(up, copy, from, only, has_list);
}

/* ---- checks over the whole tree ---- */

static int check_wants(Update *up) {
        for (size_t i = 0; i < json_object_array_length(up->wants); i++) {
                json_object *w = json_object_array_get_idx(up->wants, i), *have;
                const char *name = json_get_string(w, "name");
                const char *constraint = json_get_string(w, "version");
                Version v;
                bool ok;
                int k;

                if (!json_object_object_get_ex(up->provided, name, &have))
                        return error_set(up->ret_error, -ENOENT, "%s: cookbook %s not found",
                                         json_get_string(w, "from"), name);
                k = version_parse(json_get_string(have, "version"), &v);
                if (k >= 0)
                        k = version_constraint_check(constraint, &v, &ok);
                if (k < 0)
                        return k;
                if (!ok)
                        return error_set(up->ret_error, -ERANGE,
                                         "%s: wants cookbook %s %s, but %s has %s %s",
                                         json_get_string(w, "from"), name, constraint,
                                         json_get_string(have, "from"), name,
                                         json_get_string(have, "version"));
        }
        return 0;
}

static int check_depends(Update *up) {
        _cleanup_(cookbook_set_freep) CookbookSet *set = NULL;
        _cleanup_strv_free_ char **path = strv_copy(up->u->builtin_cookbooks);
        int k;

        if (!path || strv_extend(&path, up->tree) < 0)
                return -ENOMEM;
        for (char **p = up->u->cookbook_path; p && *p; p++)
                if (strv_extend(&path, *p) < 0)
                        return -ENOMEM;
        k = cookbook_set_new(path, &set);
        if (k < 0)
                return k;
        json_object_object_foreach(up->provided, name, entry) {
                Cookbook *c;

                (void) entry;
                k = cookbook_set_get(set, name, &c, up->ret_error);
                if (k < 0)
                        return k;
        }
        return cookbook_set_resolve(set, up->ret_error);
}

/* ---- the switch ---- */

static int sync_tree(Update *up) {
        _cleanup_close_ int fd = open(up->tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        /* One sync of the file system for the whole tree rather than one per file. */
        if (fd < 0 || syncfs(fd) < 0)
                return error_set(up->ret_error, -errno, "cannot sync %s: %m", up->tree);
        return 0;
}

/* Points `current` at the new tree; *ret_previous: the name of the tree it pointed to. */
static int switch_current(Update *up, char **ret_previous) {
        _cleanup_free_ char *current = strf("%s/current", up->cookbooks);
        _cleanup_free_ char *temp = strf("%s/.current.new", up->cookbooks);
        _cleanup_free_ char *target = strf("trees/%s", up->name);
        _cleanup_close_ int dfd = -1;
        char old[PATH_MAX];
        ssize_t n;

        if (!current || !temp || !target)
                return -ENOMEM;
        n = readlink(current, old, sizeof(old) - 1);
        old[n > 0 ? n : 0] = 0;

        (void) unlink(temp);
        if (symlink(target, temp) < 0 || rename(temp, current) < 0) {
                int k = -errno;

                (void) unlink(temp);
                return error_set(up->ret_error, k, "cannot switch %s to %s: %s", current, target,
                                 strerror(-k));
        }
        dfd = open(up->cookbooks, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) < 0)
                return error_set(up->ret_error, -errno, "cannot sync %s: %m", up->cookbooks);

        *ret_previous = startswith(old, "trees/") ? strdup(old + strlen("trees/")) : NULL;
        return 0;
}

/* Keeps the new tree and the one it replaced (a run may still be reading it). */
static void prune_trees(Update *up, const char *previous) {
        struct dirent **list = NULL;
        int n = scandir(up->trees, &list, NULL, alphasort);

        for (int i = 0; i < n; i++) {
                const char *name = list[i]->d_name;

                if (!streq(name, ".") && !streq(name, "..") && !streq(name, up->name) &&
                    !streq_ptr(name, previous)) {
                        _cleanup_free_ char *p = strf("%s/%s", up->trees, name);

                        if (p && rm_rf(p) < 0)
                                update_log(up, LOG_WARNING, "cannot remove the old tree %s", p);
                }
                free(list[i]);
        }
        free(list);
}

static int make_result(Update *up, json_object **ret) {
        _cleanup_json_ json_object *info = json_object_new_object();
        json_object *cookbooks = json_object_new_array();

        if (!info || !cookbooks || json_object_object_add(info, "cookbooks", cookbooks) < 0) {
                json_object_put(cookbooks);
                return -ENOMEM;
        }
        json_object_object_foreach(up->provided, name, entry) {
                (void) name;
                if (json_object_array_add(cookbooks, json_object_get(entry)) < 0)
                        return -ENOMEM;
        }
        if (add_string(info, "tree", up->tree) < 0 ||
            json_object_object_add(info, "sources", json_object_get(up->fetched)) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(info);
        return 0;
}

static int run_update(Update *up, json_object *sources) {
        _cleanup_free_ char *previous = NULL;
        int k;

        if (sources && !json_object_is_type(sources, json_type_array))
                return error_set(up->ret_error, -EINVAL,
                                 "stack.cookbook_sources: expected a list of sources");
        if (json_object_array_length(sources) > COOKBOOK_SOURCES_MAX)
                return error_set(up->ret_error, -E2BIG,
                                 "stack.cookbook_sources: more than %u sources",
                                 COOKBOOK_SOURCES_MAX);
        for (size_t i = 0; sources && i < json_object_array_length(sources); i++) {
                _cleanup_free_ char *from = strf("cookbook_sources[%zu]", i);

                if (!from)
                        return -ENOMEM;
                k = add_item(up, json_object_array_get_idx(sources, i), from, NULL);
                if (k < 0)
                        return k;
        }

        /* items grows while we walk it: cookbooks.yaml files add to it. */
        for (size_t i = 0; i < json_object_array_length(up->items); i++) {
                k = process_item(up, i, json_object_array_get_idx(up->items, i));
                if (k < 0)
                        return k;
        }

        k = check_wants(up);
        if (k >= 0)
                k = check_depends(up);
        if (k >= 0)
                k = tree_check_symlinks(up->tree, up->ret_error);
        if (k >= 0)
                k = sync_tree(up);
        if (k >= 0)
                k = switch_current(up, &previous);
        if (k < 0)
                return k;
        prune_trees(up, previous);
        update_log(up, LOG_NOTICE, "cookbooks: %s is current", up->tree);
        return 0;
}

int cookbook_update(const CookbookUpdate *u, json_object *sources, json_object **ret_info,
                    char **ret_error) {
        _cleanup_(update_done) Update up = {
                .u = u,
                .fetch = u->fetch,
                .ret_error = ret_error,
        };
        int k;

        if (!u->cache_dir || u->cache_dir[0] != '/' || !u->user)
                return -EINVAL;
        k = resolve_user(u->user, &up.uid, &up.gid);
        if (k < 0 || up.gid == (gid_t) -1)
                return error_set(ret_error, k < 0 ? k : -ESRCH, "fetch user '%s': no such user",
                                 u->user);

        up.fetch_cache = u->fetch.cache_dir ? strdup(u->fetch.cache_dir)
                                            : strf("%s/cookbooks/fetch/%s", u->cache_dir,
                                                   u->user);
        up.cookbooks = strf("%s/cookbooks", u->cache_dir);
        up.trees = strf("%s/cookbooks/trees", u->cache_dir);
        up.items = json_object_new_array();
        up.wants = json_object_new_array();
        up.provided = json_object_new_object();
        up.fetched = json_object_new_array();
        if (!up.fetch_cache || !up.cookbooks || !up.trees || !up.items || !up.wants ||
            !up.provided || !up.fetched)
                return -ENOMEM;
        up.fetch.cache_dir = up.fetch_cache;

        k = mkdir_parents(up.trees, 0755);
        if (k < 0)
                return error_set(ret_error, k, "cannot create %s: %s", up.trees, strerror(-k));
        k = make_tree(&up);
        if (k >= 0)
                k = run_update(&up, sources);
        if (up.staging)
                (void) rm_rf(up.staging);
        if (up.copies)
                (void) rm_rf(up.copies);
        if (k < 0) {
                if (up.tree)
                        (void) rm_rf(up.tree);
                return k;
        }
        return make_result(&up, ret_info);
}

int cookbook_current_tree(const char *cache_dir, char **ret) {
        _cleanup_free_ char *current = strf("%s/cookbooks/current", cache_dir);
        char *resolved;

        if (!current)
                return -ENOMEM;
        resolved = realpath(current, NULL);
        if (!resolved && errno != ENOENT)
                return -errno;
        *ret = resolved;
        return 0;
}
