/* SPDX-License-Identifier: MIT */
/* template: a file rendered from templates/<source> of the resource's cookbook with mustache,
 * over the node attributes. `variables` (and, under for_each, `item` and `key`) are pushed on
 * top of the attributes, so they shadow attributes of the same name.
 *
 * Partials ({{> name}}) come from the same cookbook: templates/name.mustache, else
 * templates/name. A partial that exists in neither renders as empty, as the mustache spec says.
 *
 * The rendered text is written like a file resource's content (res-content.c): compared byte
 * for byte, rewritten atomically only when it differs, then owner, group and mode. */

#include "cookbook.h"
#include "fs-util.h"
#include "mustache.h"
#include "resource.h"
#include "str-util.h"

#define TEMPLATE_MAX (16U * 1024U * 1024U)

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

        return resource_write_content(r, path, out, strlen(out));
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
