/* SPDX-License-Identifier: MIT */
/* directory: a directory with owner, group and mode.
 *
 * create: makes the directory (with `recursive`, its missing parents too, mode 0755 and owned by
 * root, as mkdir -p would; owner, group and mode apply to the directory named by path only).
 * A new directory gets mode 0755 unless `mode` says otherwise, whatever the umask. A symbolic
 * link to a directory counts as that directory, and its target gets the attributes.
 *
 * delete: removes an empty directory, or with `recursive` the whole tree (not crossing mount
 * points). A symbolic link or a file at path is refused, never removed in its place. */

#include <sys/stat.h>

#include "fs-util.h"
#include "resource.h"
#include "str-util.h"

#define DIRECTORY_DEFAULT_MODE 0755
#define DIRECTORY_PARENT_MODE 0755

/* Creates path, its ownership and mode set before anyone else may enter it. */
static int directory_create(Resource *r, const char *path) {
        mode_t mode = resource_mode(r, "mode");
        bool recursive = resource_bool(r, "recursive", false);
        _cleanup_free_ char *parent = NULL;
        const char *slash;
        uid_t uid;
        gid_t gid;
        int k;

        k = resource_owner(r, &uid, &gid);
        if (k < 0)
                return k;
        if (mode == (mode_t) -1)
                mode = DIRECTORY_DEFAULT_MODE;

        if (!resource_change(r, "create directory %s", path))
                return 1;

        slash = strrchr(path, '/');
        if (recursive && slash && slash != path) {
                parent = strndup(path, (size_t) (slash - path));
                if (!parent)
                        return resource_fail(r, -ENOMEM, "out of memory");
                k = mkdir_parents(parent, DIRECTORY_PARENT_MODE);
                if (k < 0)
                        return resource_fail(r, k, "cannot create the parents of %s: %s", path,
                                             strerror(-k));
        }

        if (mkdir(path, 0700) < 0) {
                if (errno == ENOENT)
                        return resource_fail(r, -errno,
                                             "cannot create %s: its parent does not exist (set "
                                             "recursive: true to create it)",
                                             path);
                return resource_fail(r, -errno, "cannot create %s: %m", path);
        }
        /* chown before chmod: chown clears the set-id bits that mode may ask for. */
        if ((uid != (uid_t) -1 || gid != (gid_t) -1) && chown(path, uid, gid) < 0)
                return resource_fail(r, -errno, "cannot change owner of %s: %m", path);
        if (chmod(path, mode) < 0)
                return resource_fail(r, -errno, "cannot change mode of %s: %m", path);
        return 1;
}

static int directory_ensure(Resource *r, const char *path) {
        _cleanup_free_ char *target = NULL;
        struct stat st;

        if (lstat(path, &st) < 0) {
                if (errno == ENOENT)
                        return directory_create(r, path);
                return resource_fail(r, -errno, "cannot stat %s: %m", path);
        }

        if (S_ISLNK(st.st_mode)) {
                if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
                        return resource_fail(r, -ENOTDIR,
                                             "%s is a symbolic link that does not point to a "
                                             "directory",
                                             path);
                target = realpath(path, NULL);
                if (!target)
                        return resource_fail(r, -errno, "cannot resolve %s: %m", path);
                return resource_apply_attributes(r, target, false);
        }
        if (!S_ISDIR(st.st_mode))
                return resource_fail(r, -ENOTDIR, "%s exists and is not a directory", path);
        return resource_apply_attributes(r, path, false);
}

static int directory_delete(Resource *r, const char *path) {
        bool recursive = resource_bool(r, "recursive", false);
        struct stat st;
        int k;

        if (lstat(path, &st) < 0) {
                if (errno == ENOENT)
                        return 0;
                return resource_fail(r, -errno, "cannot stat %s: %m", path);
        }
        if (!S_ISDIR(st.st_mode))
                return resource_fail(r, -ENOTDIR, "%s is not a directory; refusing to delete it",
                                     path);

        if (!resource_change(r, recursive ? "delete directory tree %s" : "delete directory %s",
                             path))
                return 1;
        if (recursive) {
                k = rm_rf(path);
                if (k < 0)
                        return resource_fail(r, k, "cannot delete the tree %s: %s", path,
                                             strerror(-k));
                return 1;
        }
        if (rmdir(path) < 0) {
                if (errno == ENOTEMPTY || errno == EEXIST)
                        return resource_fail(r, -errno,
                                             "cannot delete %s: it is not empty (set recursive: "
                                             "true to delete the tree)",
                                             path);
                return resource_fail(r, -errno, "cannot delete %s: %m", path);
        }
        return 1;
}

static int directory_apply(Resource *r, const char *action) {
        const char *path = resource_str(r, "path");

        if (streq(action, "delete"))
                return directory_delete(r, path);
        return directory_ensure(r, path);
}

static int directory_check(Resource *r, char **ret_error) {
        const char *path = resource_str(r, "path");

        if (path[0] != '/')
                return error_set(ret_error, -EINVAL, "path '%s' must be absolute", path);
        if (streq(path, "/") || strstr(path, "//") || endswith(path, "/"))
                return error_set(ret_error, -EINVAL,
                                 "path '%s' must name a directory below / without a trailing "
                                 "or doubled slash",
                                 path);
        return 0;
}

static const char *const directory_actions[] = { "create", "delete", NULL };

static const PropSpec directory_properties[] = {
        { "path", PROP_STRING, true },
        { "owner", PROP_STRING },
        { "group", PROP_STRING },
        { "mode", PROP_MODE },
        { "recursive", PROP_BOOL },
        { NULL },
};

const ResourceType resource_type_directory = {
        .name = "directory",
        .actions = directory_actions,
        .properties = directory_properties,
        .identity = "path",
        .check = directory_check,
        .apply = directory_apply,
};
