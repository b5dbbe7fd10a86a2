/* SPDX-License-Identifier: MIT */
/* file: a regular file with exact content (inline `content`, or `source` from the cookbook's
 * files/), owner, group and mode.
 *
 * The content is compared byte for byte and the file is only rewritten when it differs, always
 * atomically (temp file next to it, then rename), so readers never see half a file and a file
 * that is already right keeps its inode and mtime. Without content or source, create makes an
 * empty file when there is none and leaves an existing file's content alone.
 *
 * A file is created with mode 0644 unless `mode` says otherwise, whatever the umask; a rewrite
 * keeps the owner, group and mode of the file it replaces unless the resource sets them.
 *
 * A symbolic link at path is refused rather than written through: which file ends up changed
 * would depend on where the link points at converge time. A directory at path is refused too. */

#include <sys/stat.h>

#include "cookbook.h"
#include "fs-util.h"
#include "resource.h"
#include "str-util.h"

/* Files from a cookbook's files/ are read into memory; larger payloads belong in remote_file. */
#define FILE_SOURCE_MAX (64U * 1024U * 1024U)
#define FILE_DEFAULT_MODE 0644

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
                mode = st ? st->st_mode & 07777 : FILE_DEFAULT_MODE;
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

/* Brings the regular file at path to data (NULL: any content), then to the resource's owner,
 * group and mode. */
static int file_apply_content(Resource *r, const char *path, const char *data, size_t len) {
        struct stat st;
        int k, a;

        if (lstat(path, &st) < 0) {
                if (errno != ENOENT)
                        return resource_fail(r, -errno, "cannot stat %s: %m", path);
                if (resource_change(r, "create file %s", path)) {
                        k = write_content(r, path, NULL, strempty(data), data ? len : 0);
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

        k = data ? content_differs(path, &st, data, len) : 0;
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

static int file_delete(Resource *r, const char *path) {
        struct stat st;

        if (lstat(path, &st) < 0) {
                if (errno == ENOENT)
                        return 0;
                return resource_fail(r, -errno, "cannot stat %s: %m", path);
        }
        if (S_ISDIR(st.st_mode))
                return resource_fail(r, -EISDIR,
                                     "%s is a directory; use a directory resource to delete it",
                                     path);
        if (resource_change(r, "delete file %s", path) && unlink(path) < 0 && errno != ENOENT)
                return resource_fail(r, -errno, "cannot delete %s: %m", path);
        return 1;
}

static int file_apply(Resource *r, const char *action) {
        const char *path = resource_str(r, "path"), *source = resource_str(r, "source");
        json_object *content = resource_get(r, "content");
        _cleanup_free_ char *error = NULL, *src_path = NULL, *data = NULL;
        size_t len;
        int k;

        if (streq(action, "delete"))
                return file_delete(r, path);

        /* With its length: "\u0000" in a JSON or YAML string is a real NUL byte. */
        if (content)
                return file_apply_content(r, path, json_object_get_string(content),
                                          (size_t) json_object_get_string_len(content));
        if (!source)
                return file_apply_content(r, path, NULL, 0);

        k = cookbook_file(r->cookbook, "files", source, &src_path, &error);
        if (k < 0)
                return resource_fail(r, k, "%s", error ?: strerror(-k));
        k = read_full_file(src_path, FILE_SOURCE_MAX, &data, &len);
        if (k == -EFBIG)
                return resource_fail(r, k, "%s is larger than %u bytes; use remote_file", src_path,
                                     FILE_SOURCE_MAX);
        if (k < 0)
                return resource_fail(r, k, "cannot read %s: %s", src_path, strerror(-k));
        return file_apply_content(r, path, data, len);
}

static int file_check(Resource *r, char **ret_error) {
        const char *path = resource_str(r, "path"), *source = resource_str(r, "source");
        _cleanup_free_ char *src_path = NULL;

        if (path[0] != '/')
                return error_set(ret_error, -EINVAL, "path '%s' must be absolute", path);
        if (source && resource_get(r, "content"))
                return error_set(ret_error, -EINVAL,
                                 "content and source are mutually exclusive: give one of them");
        /* A missing source fails the whole run before anything changes. */
        if (source)
                return cookbook_file(r->cookbook, "files", source, &src_path, ret_error);
        return 0;
}

static const char *const file_actions[] = { "create", "delete", NULL };

static const PropSpec file_properties[] = {
        { "path", PROP_STRING, true },
        { "content", PROP_STRING },
        { "source", PROP_STRING },
        { "owner", PROP_STRING },
        { "group", PROP_STRING },
        { "mode", PROP_MODE },
        { NULL },
};

const ResourceType resource_type_file = {
        .name = "file",
        .actions = file_actions,
        .properties = file_properties,
        .identity = "path",
        .check = file_check,
        .apply = file_apply,
};
