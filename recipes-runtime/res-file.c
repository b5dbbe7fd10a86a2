/* SPDX-License-Identifier: MIT */
/* file: a regular file with exact content (inline `content`, or `source` from the cookbook's
 * files/), owner, group and mode.
 *
 * The content is written as res-content.c says: compared byte for byte, rewritten atomically
 * only when it differs, mode 0644 for a new file, a rewrite keeping the owner, group and mode
 * the resource leaves unset; a symbolic link or a directory at path is refused. Without content
 * or source, create makes an empty file when there is none and leaves an existing file's
 * content alone. */

#include <sys/stat.h>

#include "cookbook.h"
#include "fs-util.h"
#include "resource.h"
#include "str-util.h"

/* Files from a cookbook's files/ are read into memory; larger payloads belong in remote_file. */
#define FILE_SOURCE_MAX (64U * 1024U * 1024U)

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
                return resource_write_content(r, path, json_object_get_string(content),
                                              (size_t) json_object_get_string_len(content));
        if (!source)
                return resource_write_content(r, path, NULL, 0);

        k = cookbook_file(r->cookbook, "files", source, &src_path, &error);
        if (k < 0)
                return resource_fail(r, k, "%s", error ?: strerror(-k));
        k = read_full_file(src_path, FILE_SOURCE_MAX, &data, &len);
        if (k == -EFBIG)
                return resource_fail(r, k, "%s is larger than %u bytes; use remote_file", src_path,
                                     FILE_SOURCE_MAX);
        if (k < 0)
                return resource_fail(r, k, "cannot read %s: %s", src_path, strerror(-k));
        return resource_write_content(r, path, data, len);
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
