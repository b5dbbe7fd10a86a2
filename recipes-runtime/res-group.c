/* SPDX-License-Identifier: MIT */
/* group: a local group, managed through groupadd, groupmod, gpasswd and groupdel.
 *
 * create: adds the group when it is missing (with `gid` when given), changes its gid when it
 * differs, and with `members` makes the member list exactly that list (order and repeats do
 * not matter). Without `members`, the member list is left alone.
 * remove: deletes the group when it exists. */

#include <grp.h>

#include "fs-util.h"
#include "resource.h"
#include "str-util.h"

/* Whether the group's members are exactly `want` (which may repeat names). */
static bool same_members(char *const *have, char *const *want) {
        for (char *const *w = want; *w; w++)
                if (!strv_contains(have, *w))
                        return false;
        for (char *const *h = have; *h; h++)
                if (!strv_contains(want, *h))
                        return false;
        return true;
}

static int group_members(Resource *r, const char *name, char *const *have) {
        _cleanup_strv_free_ char **want = resource_strv(r, "members");
        _cleanup_free_ char *list = NULL, *was = NULL;
        int k;

        if (!want)
                return resource_fail(r, -ENOMEM, "out of memory");
        if (same_members(have, want))
                return 0;

        list = strv_join(want, ",");
        was = strv_join((char **) have, ",");
        if (!list || !was)
                return resource_fail(r, -ENOMEM, "out of memory");
        if (!resource_change(r, "set the members of group %s to '%s' (were '%s')", name, list,
                             was))
                return 1;
        k = resource_run_program(r, (const char *[]){ "gpasswd", "-M", list, name, NULL }, NULL,
                                 NULL);
        return k < 0 ? k : 1;
}

static int group_create(Resource *r, const char *name) {
        int64_t gid = resource_int(r, "gid", -1);
        bool members = resource_get(r, "members");
        _cleanup_free_ char *gid_string = NULL;
        struct group *gr;
        int k, changed = 0;

        if (gid >= 0) {
                gid_string = strf("%" PRId64, gid);
                if (!gid_string)
                        return resource_fail(r, -ENOMEM, "out of memory");
        }

        /* getgrnam() sets errno inconsistently for a missing group: NULL means missing. */
        gr = getgrnam(name);
        if (!gr) {
                if (!resource_change(r, "create group %s", name)) {
                        k = members ? group_members(r, name, (char *[]){ NULL }) : 0;
                        return k < 0 ? k : 1;
                }
                if (gid_string)
                        k = resource_run_program(r,
                                                 (const char *[]){ "groupadd", "-g", gid_string,
                                                                   "--", name, NULL },
                                                 NULL, NULL);
                else
                        k = resource_run_program(r,
                                                 (const char *[]){ "groupadd", "--", name, NULL },
                                                 NULL, NULL);
                if (k < 0)
                        return k;
                if (!members)
                        return 1;
                gr = getgrnam(name);
                if (!gr)
                        return resource_fail(r, -ENOENT, "group %s is missing after groupadd",
                                             name);
                changed = 1;
        }

        if (gid >= 0 && gr->gr_gid != (gid_t) gid) {
                if (resource_change(r, "change the gid of group %s from %u to %s", name,
                                    (unsigned) gr->gr_gid, gid_string)) {
                        k = resource_run_program(r,
                                                 (const char *[]){ "groupmod", "-g", gid_string,
                                                                   "--", name, NULL },
                                                 NULL, NULL);
                        if (k < 0)
                                return k;
                        gr = getgrnam(name);
                        if (!gr)
                                return resource_fail(r, -ENOENT,
                                                     "group %s is missing after groupmod", name);
                }
                changed = 1;
        }

        if (members) {
                k = group_members(r, name, gr->gr_mem);
                if (k != 0)
                        return k;
        }
        return changed;
}

static int group_remove(Resource *r, const char *name) {
        int k;

        if (!getgrnam(name))
                return 0;
        if (!resource_change(r, "remove group %s", name))
                return 1;
        k = resource_run_program(r, (const char *[]){ "groupdel", "--", name, NULL }, NULL, NULL);
        return k < 0 ? k : 1;
}

static int group_apply(Resource *r, const char *action) {
        const char *name = resource_str(r, "name");

        if (streq(action, "remove"))
                return group_remove(r, name);
        return group_create(r, name);
}

static int group_check(Resource *r, char **ret_error) {
        _cleanup_strv_free_ char **members = resource_strv(r, "members");
        const char *name = resource_str(r, "name");
        int64_t gid = resource_int(r, "gid", 0);

        if (!members)
                return -ENOMEM;
        if (!valid_user_group_name(name))
                return error_set(ret_error, -EINVAL, "name '%s' is not a valid group name (%s)",
                                 name, USER_GROUP_NAME_RULE);
        if (gid < 0 || gid >= (int64_t) UINT32_MAX)
                return error_set(ret_error, -EINVAL, "gid %" PRId64 " is out of range", gid);
        for (char **m = members; *m; m++)
                if (!valid_user_group_name(*m))
                        return error_set(ret_error, -EINVAL,
                                         "members: '%s' is not a valid user name (%s)", *m,
                                         USER_GROUP_NAME_RULE);
        return 0;
}

static const char *const group_actions[] = { "create", "remove", NULL };

static const PropSpec group_properties[] = {
        { "name", PROP_STRING, true },
        { "gid", PROP_INT },
        { "members", PROP_STRING_LIST },
        { NULL },
};

const ResourceType resource_type_group = {
        .name = "group",
        .actions = group_actions,
        .properties = group_properties,
        .identity = "name",
        .check = group_check,
        .apply = group_apply,
};
