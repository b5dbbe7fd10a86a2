/* SPDX-License-Identifier: MIT */
/* link: a symbolic link (default) or a hard link at path, pointing to `to`.
 *
 * create: the new link is made under a temporary name in the same directory, given its owner
 * and group, then renamed over path, so path always names either the old or the new thing,
 * never nothing (switching a `current` symlink between releases relies on this). Whatever is
 * at path and not a directory (a regular file, another link) is replaced, as Chef does; a
 * directory is refused, since replacing it would throw a whole tree away. A symbolic link keeps
 * `to` verbatim; a relative hard link target is taken relative to the link's directory, as a
 * symbolic link's would be.
 *
 * delete: removes path when it is a symbolic link (link_type symbolic), or a hard link, i.e. a
 * file with another name left (link_type hard). Anything else is refused: deleting it would
 * lose data that no link resource created. */

#include <fcntl.h>
#include <limits.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "resource.h"
#include "str-util.h"

/* Attempts at finding an unused temporary name. */
#define LINK_TMP_TRIES 16

static void path_split(const char *path, char **ret_dir, const char **ret_base) {
        const char *slash = strrchr(path, '/');

        /* path is absolute and has no trailing slash (link_check): slash is never NULL. */
        *ret_dir = slash == path ? strdup("/") : strndup(path, (size_t) (slash - path));
        *ret_base = slash + 1;
}

/* Makes the link under a fresh temporary name in dfd and returns that name. */
static int link_make_temp(Resource *r, int dfd, const char *base, const char *to, bool hard,
                          char **ret) {
        for (unsigned i = 0; i < LINK_TMP_TRIES; i++) {
                _cleanup_free_ char *tmp = NULL;
                uint64_t rnd;
                int k;

                if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
                        return resource_fail(r, -errno, "getrandom: %m");
                tmp = strf(".#%s.%016" PRIx64, base, rnd);
                if (!tmp)
                        return resource_fail(r, -ENOMEM, "out of memory");

                k = hard ? linkat(dfd, to, dfd, tmp, 0) : symlinkat(to, dfd, tmp);
                if (k >= 0) {
                        *ret = TAKE_PTR(tmp);
                        return 0;
                }
                if (errno != EEXIST)
                        return resource_fail(r, -errno, "cannot create a %s link to %s: %m",
                                             hard ? "hard" : "symbolic", to);
        }
        return resource_fail(r, -EEXIST, "cannot find a free temporary name for %s", base);
}

/* Points path at `to`, replacing what is there (already checked not to be a directory). */
static int link_replace(Resource *r, int dfd, const char *path, const char *base, const char *to,
                        bool hard) {
        _cleanup_free_ char *tmp = NULL;
        uid_t uid;
        gid_t gid;
        int k;

        k = resource_owner(r, &uid, &gid);
        if (k < 0)
                return k;
        k = link_make_temp(r, dfd, base, to, hard, &tmp);
        if (k < 0)
                return k;

        /* For a hard link this changes the file's owner, the very file the link shares. */
        if ((uid != (uid_t) -1 || gid != (gid_t) -1) &&
            fchownat(dfd, tmp, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) {
                k = resource_fail(r, -errno, "cannot change owner of %s: %m", path);
                (void) unlinkat(dfd, tmp, 0);
                return k;
        }
        if (renameat(dfd, tmp, dfd, base) < 0) {
                k = resource_fail(r, -errno, "cannot rename a new link over %s: %m", path);
                (void) unlinkat(dfd, tmp, 0);
                return k;
        }
        if (fsync(dfd) < 0)
                return resource_fail(r, -errno, "cannot sync the directory of %s: %m", path);
        return 1;
}

static int link_create(Resource *r, const char *path, const char *to, bool hard) {
        _cleanup_free_ char *dir = NULL, *current = NULL;
        _cleanup_close_ int dfd = -1;
        const char *base;
        struct stat st, target = {};
        bool exists, have_target = false, go;

        path_split(path, &dir, &base);
        if (!dir)
                return resource_fail(r, -ENOMEM, "out of memory");
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        /* In why-run an earlier resource may only have pretended to create the directory. */
        if (dfd < 0 && errno == ENOENT && r->cfg->why_run) {
                resource_change(r, "create %s link %s -> %s", hard ? "hard" : "symbolic", path, to);
                return 1;
        }
        if (dfd < 0)
                return resource_fail(r, -errno, "cannot open the directory of %s: %m", path);

        if (hard) {
                have_target = fstatat(dfd, to, &target, AT_SYMLINK_NOFOLLOW) >= 0;
                /* In why-run an earlier resource may only have pretended to create the target. */
                if (!have_target && !(errno == ENOENT && r->cfg->why_run))
                        return resource_fail(r, -errno, "cannot link %s to %s: %m", path, to);
                if (have_target && S_ISDIR(target.st_mode))
                        return resource_fail(r, -EISDIR,
                                             "cannot hard link %s to %s: it is a directory", path,
                                             to);
        }

        exists = fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) >= 0;
        if (!exists && errno != ENOENT)
                return resource_fail(r, -errno, "cannot stat %s: %m", path);
        if (exists && S_ISDIR(st.st_mode))
                return resource_fail(r, -EISDIR,
                                     "%s is a directory; refusing to replace it with a link", path);

        if (exists && have_target && st.st_dev == target.st_dev && st.st_ino == target.st_ino)
                return resource_apply_attributes(r, path, false);
        if (exists && !hard && S_ISLNK(st.st_mode)) {
                /* Link targets are short; PATH_MAX bounds what readlink may return. */
                char buf[PATH_MAX];
                ssize_t n = readlinkat(dfd, base, buf, sizeof(buf));

                if (n < 0)
                        return resource_fail(r, -errno, "cannot read the link %s: %m", path);
                if ((size_t) n < sizeof(buf) && (size_t) n == strlen(to) &&
                    memcmp(buf, to, (size_t) n) == 0)
                        return resource_apply_attributes(r, path, true);
                current = strndup(buf, (size_t) n);
                if (!current)
                        return resource_fail(r, -ENOMEM, "out of memory");
        }

        if (!exists)
                go = resource_change(r, "create %s link %s -> %s", hard ? "hard" : "symbolic", path,
                                    to);
        else if (current)
                go = resource_change(r, "change symbolic link %s -> %s (was -> %s)", path, to,
                                    current);
        else
                go = resource_change(r, "replace %s with a %s link -> %s", path,
                                    hard ? "hard" : "symbolic", to);
        if (!go)
                return 1;
        return link_replace(r, dfd, path, base, to, hard);
}

static int link_delete(Resource *r, const char *path, bool hard) {
        struct stat st;

        if (lstat(path, &st) < 0) {
                if (errno == ENOENT)
                        return 0;
                return resource_fail(r, -errno, "cannot stat %s: %m", path);
        }
        if (!hard && !S_ISLNK(st.st_mode))
                return resource_fail(r, -EINVAL,
                                     "%s is not a symbolic link; refusing to delete it", path);
        if (hard && (S_ISDIR(st.st_mode) || st.st_nlink < 2))
                return resource_fail(r, -EINVAL,
                                     "%s is not a hard link (no other name for its data); "
                                     "refusing to delete it",
                                     path);

        if (resource_change(r, "delete %s link %s", hard ? "hard" : "symbolic", path) &&
            unlink(path) < 0 && errno != ENOENT)
                return resource_fail(r, -errno, "cannot delete %s: %m", path);
        return 1;
}

static bool link_is_hard(Resource *r) {
        return streq_ptr(resource_str(r, "link_type"), "hard");
}

static int link_apply(Resource *r, const char *action) {
        const char *path = resource_str(r, "path");

        if (streq(action, "delete"))
                return link_delete(r, path, link_is_hard(r));
        return link_create(r, path, resource_str(r, "to"), link_is_hard(r));
}

static int link_check(Resource *r, char **ret_error) {
        const char *path = resource_str(r, "path"), *type = resource_str(r, "link_type");
        const char *to = resource_str(r, "to");
        _cleanup_strv_free_ char **actions = NULL;

        if (path[0] != '/' || streq(path, "/") || endswith(path, "/"))
                return error_set(ret_error, -EINVAL,
                                 "path '%s' must be absolute, without a trailing slash", path);
        if (type && !streq(type, "symbolic") && !streq(type, "hard"))
                return error_set(ret_error, -EINVAL,
                                 "link_type '%s' must be symbolic or hard", type);
        if (to && !*to)
                return error_set(ret_error, -EINVAL, "to must not be empty");

        actions = resource_strv(r, "action");
        if (!actions)
                return -ENOMEM;
        /* No action given means the default, create. */
        if (!to && (!actions[0] || strv_contains(actions, "create")))
                return error_set(ret_error, -EINVAL,
                                 "property 'to' is required to create a link");
        return 0;
}

static const char *const link_actions[] = { "create", "delete", NULL };

static const PropSpec link_properties[] = {
        { "path", PROP_STRING, true },
        { "to", PROP_STRING },
        { "link_type", PROP_STRING },
        { "owner", PROP_STRING },
        { "group", PROP_STRING },
        { NULL },
};

const ResourceType resource_type_link = {
        .name = "link",
        .actions = link_actions,
        .properties = link_properties,
        .identity = "path",
        .check = link_check,
        .apply = link_apply,
};
