/* SPDX-License-Identifier: MIT */
/* template: a file rendered from templates/<source> of the resource's cookbook with mustache,
 * over the node attributes. `variables` (and, under for_each, `item` and `key`) are pushed on
 * top of the attributes, so they shadow attributes of the same name.
 *
 * Partials ({{> name}}) come from the same cookbook: templates/name.mustache, else
 * templates/name. A partial that exists in neither renders as empty, as the mustache spec says.
 *
 * The rendered text is written like a file resource's content: compared byte for byte,
 * rewritten atomically only when it differs, then owner, group and mode. */

#include <sys/stat.h>

#include "cookbook.h"
#include "fs-util.h"
#include "mustache.h"
#include "resource.h"
#include "str-util.h"

#define TEMPLATE_MAX (16U * 1024U * 1024U)
#define TEMPLATE_DEFAULT_MODE 0644

/* < 0 on error, 1 when the file at path (described by st) differs from data, else 0. */
static int content_differs(const char *path, const struct stat *st, const char *data, size_t len) {
        _cleanup_free_ char *current = NULL;
        size_t n;
        int k;

        if ((uint64_t) st->st_size != len)
                return 1;
        k = read_full_file(path, len, &current, &n);
        if (k == -EFBIG) /* grew since lstat() */
                return 1;
        if (k < 0)
                return k;
        return n != len || memcmp(current, data, len) != 0;
}

/* Writes data over path; what the resource leaves unset is taken from the file it replaces
 * (st, NULL when there is none). */
static int write_content(Resource *r, const char *path, const struct stat *st, const char *data,
                         size_t len) {
        mode_t mode = resource_mode(r, "mode");
        uid_t uid;
        gid_t gid;
        int k;

        k = resource_owner(r, &uid, &gid);
        if (k < 0)
                return k;
        if (mode == (mode_t) -1)
                mode = st ? st->st_mode & 07777 : TEMPLATE_DEFAULT_MODE;
        if (uid == (uid_t) -1 && st)
                uid = st->st_uid;
        if (gid == (gid_t) -1 && st)
                gid = st->st_gid;

        k = write_file_atomic(path, data, len, mode, uid, gid);
        if (k == -ENOENT)
                return resource_fail(r, k, "cannot write %s: its directory does not exist", path);
        if (k < 0)
                return resource_fail(r, k, "cannot write %s: %s", path, strerror(-k));
        return 0;
}

/* Brings the regular file at path to data, then to the resource's owner, group and mode. */
static int template_apply_content(Resource *r, const char *path, const char *data, size_t len) {
        struct stat st;
        int k, a;

        if (lstat(path, &st) < 0) {
                if (errno != ENOENT)
                        return resource_fail(r, -errno, "cannot stat %s: %m", path);
                if (resource_change(r, "create file %s", path)) {
                        k = write_content(r, path, NULL, data, len);
                        if (k < 0)
                                return k;
                }
                return 1;
        }

        if (S_ISDIR(st.st_mode))
                return resource_fail(r, -EISDIR, "%s is a directory, not a file", path);
        if (S_ISLNK(st.st_mode))
                return resource_fail(r, -ELOOP,
                                     "%s is a symbolic link; refusing to write through it", path);
        if (!S_ISREG(st.st_mode))
                return resource_fail(r, -EINVAL, "%s exists and is not a regular file", path);

        k = content_differs(path, &st, data, len);
        if (k < 0)
                return resource_fail(r, k, "cannot read %s: %s", path, strerror(-k));
        if (k > 0 && resource_change(r, "update content of %s", path)) {
                int q = write_content(r, path, &st, data, len);
                if (q < 0)
                        return q;
        }

        /* After a rewrite this finds nothing left to do; in why-run it reports what would
         * change on the file as it is. */
        a = resource_apply_attributes(r, path, false);
        if (a < 0)
                return a;
        return k > 0 || a > 0;
}

static int template_partial(const char *name, char **ret, void *userdata) {
        Resource *r = userdata;
        _cleanup_free_ char *with_ext = NULL, *path = NULL;
        int k;

        with_ext = strf("%s.mustache", name);
        if (!with_ext)
                return -ENOMEM;
        k = cookbook_file(r->cookbook, "templates", with_ext, &path, NULL);
        if (k == -ENOENT)
                k = cookbook_file(r->cookbook, "templates", name, &path, NULL);
        if (k < 0)
                return k;
        return read_full_file(path, TEMPLATE_MAX, ret, NULL);
}

/* The context above the node attributes: for_each's item and key, then variables. */
static json_object *template_extra(Resource *r) {
        json_object *variables = resource_get(r, "variables");
        json_object *extra = json_object_new_object();

        if (!extra)
                return NULL;
        /* json_object_object_foreach() declares variables: it needs a block of its own. */
        if (r->item) {
                json_object_object_foreach(r->item, ikey, ival)
                        json_object_object_add(extra, ikey, json_object_get(ival));
        }
        if (variables) {
                json_object_object_foreach(variables, vkey, vval)
                        json_object_object_add(extra, vkey, json_object_get(vval));
        }
        return extra;
}

static int template_apply(Resource *r, const char *action) {
        const char *path = resource_str(r, "path"), *source = resource_str(r, "source");
        _cleanup_free_ char *error = NULL, *src_path = NULL, *text = NULL, *out = NULL;
        _cleanup_json_ json_object *extra = NULL;
        int k;

        (void) action; /* create is the only action */

        k = cookbook_file(r->cookbook, "templates", source, &src_path, &error);
        if (k < 0)
                return resource_fail(r, k, "%s", error ?: strerror(-k));
        k = read_full_file(src_path, TEMPLATE_MAX, &text, NULL);
        if (k == -EFBIG)
                return resource_fail(r, k, "%s is larger than %u bytes", src_path, TEMPLATE_MAX);
        if (k < 0)
                return resource_fail(r, k, "cannot read %s: %s", src_path, strerror(-k));

        extra = template_extra(r);
        if (!extra)
                return resource_fail(r, -ENOMEM, "out of memory");
        k = mustache_render(src_path, text, r->node, extra, template_partial, r, &out, &error);
        if (k < 0)
                return resource_fail(r, k, "%s", error ?: strerror(-k));

        return template_apply_content(r, path, out, strlen(out));
}

static int template_check(Resource *r, char **ret_error) {
        const char *path = resource_str(r, "path");
        json_object *variables = resource_get(r, "variables");
        _cleanup_free_ char *src_path = NULL;

        if (path[0] != '/')
                return error_set(ret_error, -EINVAL, "path '%s' must be absolute", path);
        if (variables && !json_object_is_type(variables, json_type_object))
                return error_set(ret_error, -EINVAL,
                                 "variables must be a mapping of names to values");
        /* A missing template fails the whole run before anything changes. */
        return cookbook_file(r->cookbook, "templates", resource_str(r, "source"), &src_path,
                             ret_error);
}

static const char *const template_actions[] = { "create", NULL };

static const PropSpec template_properties[] = {
        { "path", PROP_STRING, true },
        { "source", PROP_STRING, true },
        { "variables", PROP_ANY },
        { "owner", PROP_STRING },
        { "group", PROP_STRING },
        { "mode", PROP_MODE },
        { NULL },
};

const ResourceType resource_type_template = {
        .name = "template",
        .actions = template_actions,
        .properties = template_properties,
        .identity = "path",
        .check = template_check,
        .apply = template_apply,
};
