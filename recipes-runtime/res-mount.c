/* SPDX-License-Identifier: MIT */
/* mount: a filesystem mounted on `path`, and its line in /etc/fstab (RuntimeConfig.fstab).
 *
 * mount: mounts `device` on path with mount(8) (`-t fstype` when given, `-o options`, default
 * "defaults") unless it is mounted there already. Something else mounted on path is an error,
 * not something to unmount behind the operator's back. The mount point must exist.
 * umount: unmounts path when something is mounted there.
 * enable: makes fstab hold exactly one line for path, "device path fstype options dump pass"
 * (dump and pass default to 0): the first line for path is replaced in place, any further one
 * dropped, every other line kept byte for byte; the file is replaced atomically.
 * disable: removes every fstab line for path.
 *
 * What is mounted is read from /proc/self/mountinfo (libmount is not a dependency). */

#include <sys/stat.h>

#include "fs-util.h"
#include "resource.h"
#include "str-util.h"

#define MOUNT_DEFAULT_FSTAB "/etc/fstab"
#define MOUNT_DEFAULT_OPTIONS "defaults"
#define MOUNTINFO "/proc/self/mountinfo"
#define MOUNTINFO_MAX (16U * 1024U * 1024U)
#define FSTAB_MAX (1024U * 1024U)
#define FSTAB_MODE 0644

/* Undoes the octal escapes (\040 for a space) of mountinfo and fstab fields, in place. */
static void unescape_octal(char *s) {
        char *w = s;

        for (char *p = s; *p; p++) {
                if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
                    p[3] >= '0' && p[3] <= '7') {
                        *w++ = (char) ((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
                        p += 3;
                } else
                        *w++ = *p;
        }
        *w = 0;
}

static int escape_octal(const char *s, StrBuf *b) {
        int k = 0;

        for (const char *p = s; *p && k >= 0; p++)
                k = strchr(" \t\n\\", *p) ? strbuf_printf(b, "\\%03o", (unsigned char) *p)
                                          : strbuf_append(b, p, 1);
        return k;
}

/* Splits a line at blanks in place into at most max fields; returns how many. */
static size_t split_fields(char *line, char **fields, size_t max) {
        size_t n = 0;
        char *p = line;

        while (n < max) {
                p += strspn(p, " \t");
                if (!*p)
                        break;
                fields[n++] = p;
                p += strcspn(p, " \t");
                if (*p)
                        *p++ = 0;
        }
        return n;
}

/* The source and type of the topmost mount on path: 1 when found, 0 when nothing is. */
static int mountinfo_find(const char *path, char **ret_source, char **ret_fstype) {
        _cleanup_free_ char *text = NULL, *source = NULL, *fstype = NULL;
        char *line, *next;
        int k;

        k = read_full_file(MOUNTINFO, MOUNTINFO_MAX, &text, NULL);
        if (k < 0)
                return k;

        /* "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue" */
        for (line = text; line && *line; line = next) {
                char *f[32];
                size_t n, dash;

                next = strchr(line, '\n');
                if (next)
                        *next++ = 0;

                n = split_fields(line, f, ELEMENTSOF(f));
                for (dash = 6; dash < n && !streq(f[dash], "-"); dash++)
                        ;
                if (n < 5 || dash + 2 >= n)
                        continue;
                unescape_octal(f[4]);
                if (!streq(f[4], path))
                        continue;

                /* Later lines are mounted on top of earlier ones: the last match wins. */
                unescape_octal(f[dash + 2]);
                free(source);
                free(fstype);
                source = strdup(f[dash + 2]);
                fstype = strdup(f[dash + 1]);
                if (!source || !fstype)
                        return -ENOMEM;
        }

        if (!source)
                return 0;
        *ret_source = TAKE_PTR(source);
        *ret_fstype = TAKE_PTR(fstype);
        return 1;
}

/* The device node a device spec names, for comparing "UUID=..." or a /dev/disk/by-* link with
 * what mountinfo shows; NULL when it names no local device (tmpfs, host:/export). */
static char *device_node(const char *device) {
        static const struct {
                const char *prefix, *dir;
        } tags[] = {
                { "UUID=", "/dev/disk/by-uuid/" },
                { "LABEL=", "/dev/disk/by-label/" },
                { "PARTUUID=", "/dev/disk/by-partuuid/" },
                { "PARTLABEL=", "/dev/disk/by-partlabel/" },
        };

        for (size_t i = 0; i < ELEMENTSOF(tags); i++)
                if (startswith(device, tags[i].prefix)) {
                        _cleanup_free_ char *link =
                                strf("%s%s", tags[i].dir, device + strlen(tags[i].prefix));
                        return link ? realpath(link, NULL) : NULL;
                }
        return device[0] == '/' ? realpath(device, NULL) : NULL;
}

static bool same_device(const char *want, const char *mounted) {
        _cleanup_free_ char *a = NULL, *b = NULL;

        if (streq(want, mounted))
                return true;
        a = device_node(want);
        b = device_node(mounted);
        return a && b && streq(a, b);
}

/* mount(8) canonicalises the mount point, so mountinfo shows the resolved path. */
static char *mount_point(const char *path) {
        return realpath(path, NULL) ?: strdup(path);
}

/* What is mounted on path: 1 with its source, type and canonical mount point (ret_where may be
 * NULL), 0 when nothing is, < 0 with the resource failed. */
static int mount_lookup(Resource *r, const char *path, char **ret_where, char **ret_source,
                        char **ret_type) {
        _cleanup_free_ char *where = NULL;
        int k;

        where = mount_point(path);
        if (!where)
                return resource_fail(r, -ENOMEM, "out of memory");
        k = mountinfo_find(where, ret_source, ret_type);
        if (k < 0)
                return resource_fail(r, k, "cannot read %s: %s", MOUNTINFO, strerror(-k));
        if (k > 0 && ret_where)
                *ret_where = TAKE_PTR(where);
        return k;
}

static int mount_mount(Resource *r, const char *path) {
        const char *device = resource_str(r, "device"), *fstype = resource_str(r, "fstype");
        const char *options = resource_str(r, "options") ?: MOUNT_DEFAULT_OPTIONS;
        _cleanup_free_ char *source = NULL, *type = NULL;
        const char *argv[10];
        struct stat st;
        size_t n = 0;
        int k;

        k = mount_lookup(r, path, NULL, &source, &type);
        if (k < 0)
                return k;
        if (k > 0) {
                if (!same_device(device, source))
                        return resource_fail(r, -EBUSY,
                                             "%s is mounted from %s (%s), not from %s; unmount it "
                                             "first",
                                             path, source, type, device);
                return 0;
        }

        if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
                return resource_fail(r, -ENOENT,
                                     "mount point %s is not a directory (create it first, e.g. "
                                     "with a directory resource)",
                                     path);

        if (!resource_change(r, "mount %s on %s", device, path))
                return 1;

        argv[n++] = "mount";
        if (fstype) {
                argv[n++] = "-t";
                argv[n++] = fstype;
        }
        argv[n++] = "-o";
        argv[n++] = options;
        argv[n++] = "--";
        argv[n++] = device;
        argv[n++] = path;
        argv[n] = NULL;

        k = resource_run_program(r, argv, NULL, NULL);
        return k < 0 ? k : 1;
}

static int mount_umount(Resource *r, const char *path) {
        _cleanup_free_ char *where = NULL, *source = NULL, *type = NULL;
        int k;

        k = mount_lookup(r, path, &where, &source, &type);
        if (k <= 0)
                return k;

        if (!resource_change(r, "unmount %s from %s", source, path))
                return 1;
        k = resource_run_program(r, (const char *[]){"umount", "--", where, NULL}, NULL, NULL);
        return k < 0 ? k : 1;
}

static int fstab_line(Resource *r, const char *path, char **ret) {
        _cleanup_(strbuf_done) StrBuf b = {};
        int k;

        k = escape_octal(resource_str(r, "device"), &b);
        if (k >= 0)
                k = strbuf_appends(&b, " ");
        if (k >= 0)
                k = escape_octal(path, &b);
        if (k >= 0)
                k = strbuf_appends(&b, " ");
        if (k >= 0)
                k = escape_octal(resource_str(r, "fstype"), &b);
        if (k >= 0)
                k = strbuf_printf(&b, " %s %" PRId64 " %" PRId64 "\n",
                                  resource_str(r, "options") ?: MOUNT_DEFAULT_OPTIONS,
                                  resource_int(r, "dump", 0), resource_int(r, "pass", 0));
        if (k < 0)
                return k;
        *ret = strbuf_steal(&b);
        return *ret ? 0 : -ENOMEM;
}

/* Whether an fstab line (without its newline) is an entry for path. */
static int fstab_line_is_for(const char *line, size_t len, const char *path, bool *ret) {
        _cleanup_free_ char *copy = strndup(line, len);
        char *f[2];

        if (!copy)
                return -ENOMEM;
        if (copy[strspn(copy, " \t")] == '#' || split_fields(copy, f, 2) < 2) {
                *ret = false;
                return 0;
        }
        unescape_octal(f[1]);
        /* "/srv/data/" and "/srv/data" are the same mount point. */
        for (size_t n = strlen(f[1]); n > 1 && f[1][n - 1] == '/'; n--)
                f[1][n - 1] = 0;
        *ret = streq(f[1], path);
        return 0;
}

/* Makes fstab hold `line` as the one entry for path, or no entry when line is NULL. */
static int fstab_set(Resource *r, const char *path, const char *line) {
        const char *fstab = r->cfg->fstab ?: MOUNT_DEFAULT_FSTAB;
        _cleanup_(strbuf_done) StrBuf b = {};
        _cleanup_free_ char *old = NULL;
        struct stat st = { .st_mode = FSTAB_MODE, .st_uid = 0, .st_gid = 0 };
        bool found = false, changed = false;
        size_t len = 0;
        int k;

        k = read_full_file(fstab, FSTAB_MAX, &old, &len);
        if (k < 0 && k != -ENOENT)
                return resource_fail(r, k, "cannot read %s: %s", fstab, strerror(-k));
        if (k >= 0 && stat(fstab, &st) < 0)
                return resource_fail(r, -errno, "cannot stat %s: %m", fstab);

        for (const char *p = old; p && p < old + len;) {
                const char *nl = memchr(p, '\n', (size_t) (old + len - p));
                size_t n = nl ? (size_t) (nl - p) : (size_t) (old + len - p);
                bool ours;

                k = fstab_line_is_for(p, n, path, &ours);
                if (k < 0)
                        return resource_fail(r, k, "out of memory");
                if (!ours) {
                        k = strbuf_append(&b, p, n);
                        if (k >= 0)
                                k = strbuf_appends(&b, "\n");
                } else if (line && !found) {
                        k = strbuf_appends(&b, line);
                        changed = changed || strlen(line) != n + 1 || memcmp(line, p, n) != 0;
                } else
                        changed = true; /* a second entry, or the one to remove */
                if (k < 0)
                        return resource_fail(r, k, "out of memory");
                found = found || ours;
                p += n + 1;
        }
        if (line && !found) {
                if (strbuf_appends(&b, line) < 0)
                        return resource_fail(r, -ENOMEM, "out of memory");
                changed = true;
        }
        if (!changed)
                return 0;

        if (!resource_change(r, "%s %s in %s",
                             !line   ? "remove the entry for"
                             : found ? "update the entry for"
                                     : "add an entry for",
                             path, fstab))
                return 1;
        k = write_file_atomic(fstab, strempty(b.data), b.len, st.st_mode & 07777, st.st_uid,
                              st.st_gid);
        if (k < 0)
                return resource_fail(r, k, "cannot write %s: %s", fstab, strerror(-k));
        return 1;
}

static int mount_apply(Resource *r, const char *action) {
        _cleanup_free_ char *line = NULL;
        const char *path = resource_str(r, "path");
        int k;

        if (streq(action, "umount"))
                return mount_umount(r, path);
        if (streq(action, "disable"))
                return fstab_set(r, path, NULL);
        if (streq(action, "enable")) {
                k = fstab_line(r, path, &line);
                if (k < 0)
                        return resource_fail(r, k, "out of memory");
                return fstab_set(r, path, line);
        }
        return mount_mount(r, path);
}

static bool valid_word(const char *s) {
        return *s && s[0] != '-' && !strpbrk(s, " \t\r\n");
}

static int mount_check(Resource *r, char **ret_error) {
        const char *path = resource_str(r, "path"), *device = resource_str(r, "device");
        const char *fstype = resource_str(r, "fstype"), *options = resource_str(r, "options");
        _cleanup_strv_free_ char **actions = resource_strv(r, "action");
        bool needs_device, needs_fstype;

        if (!actions)
                return -ENOMEM;
        if (path[0] != '/' || strstr(path, "//") || (!streq(path, "/") && endswith(path, "/")) ||
            strpbrk(path, "\r\n"))
                return error_set(ret_error, -EINVAL,
                                 "path '%s' must be an absolute path without a trailing or doubled "
                                 "slash",
                                 path);
        if (device && (!*device || device[0] == '-' || strpbrk(device, "\r\n")))
                return error_set(ret_error, -EINVAL, "device '%s' is not a device", device);
        if (fstype && !valid_word(fstype))
                return error_set(ret_error, -EINVAL, "fstype '%s' is not a filesystem type",
                                 fstype);
        if (options && !valid_word(options))
                return error_set(ret_error, -EINVAL,
                                 "options '%s' must be a comma-separated list without blanks",
                                 options);
        if (resource_int(r, "dump", 0) < 0 || resource_int(r, "dump", 0) > 1 ||
            resource_int(r, "pass", 0) < 0 || resource_int(r, "pass", 0) > 9)
                return error_set(ret_error, -EINVAL, "dump must be 0 or 1, and pass 0 to 9");

        needs_device = !actions[0] || strv_contains(actions, "mount") ||
                       strv_contains(actions, "enable");
        needs_fstype = strv_contains(actions, "enable");
        if (needs_device && !device)
                return error_set(ret_error, -EINVAL, "property 'device' is required to mount or "
                                                     "enable");
        if (needs_fstype && !fstype)
                return error_set(ret_error, -EINVAL,
                                 "property 'fstype' is required to enable (an fstab line needs "
                                 "it)");
        return 0;
}

static const char *const mount_actions[] = { "mount", "umount", "enable", "disable", NULL };

static const PropSpec mount_properties[] = {
        { "path", PROP_STRING, true },
        { "device", PROP_STRING },
        { "fstype", PROP_STRING },
        { "options", PROP_STRING },
        { "dump", PROP_INT },
        { "pass", PROP_INT },
        { NULL },
};

const ResourceType resource_type_mount = {
        .name = "mount",
        .actions = mount_actions,
        .properties = mount_properties,
        .identity = "path",
        .check = mount_check,
        .apply = mount_apply,
};
