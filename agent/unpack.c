/* SPDX-License-Identifier: MIT */
/* Archive unpacking: one streaming pass of libarchive's reader into its disk writer, with our own
 * checks in front of the writer's secure flags so that a refusal can name the entry.
 *
 * The writer resolves paths against the working directory (its NOABSOLUTEPATHS check refuses
 * anything else), so the unpack runs with dest as working directory and restores the old one
 * after. Symlinks are checked twice: at once, lexically, and after the last entry, resolved
 * against what is really on disk, since a later entry may replace a directory a target passes
 * through. The top-level strip is decided from the names seen on the way and done at the end
 * with renames, so the data is read and written once. */

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "str-util.h"
#include "unpack.h"

#define UNPACK_READ_BLOCK (128U * 1024U)
/* Symlinks followed while resolving one target, as the kernel's own limit. */
#define UNPACK_SYMLINK_HOPS 40
#define UNPACK_STRIP_TEMP ".strata-unpack-top"

#define UNPACK_EXTRACT_FLAGS                                                                       \
        (ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_SECURE_NODOTDOT |           \
         ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS)

typedef struct Unpack {
        const char *name;
        const UnpackLimits *limits;
        struct archive *reader, *writer;
        int dest_fd;

        uint64_t n_entries;
        uint64_t total; /* regular file bytes written so far */

        /* Normalized paths of the symlinks made, to check where they lead at the end. */
        char **symlinks;
        size_t n_symlinks;

        /* The first component of every path so far, while they all share it. */
        char *top;
        bool single_top;
} Unpack;

static int entry_error(Unpack *u, const char *entry, char **ret_error, int r, const char *fmt, ...)
        _printf_(5, 6);

static int entry_error(Unpack *u, const char *entry, char **ret_error, int r, const char *fmt,
                       ...) {
        _cleanup_free_ char *what = NULL;
        va_list ap;

        va_start(ap, fmt);
        what = strfv(fmt, ap);
        va_end(ap);
        if (!what)
                return -ENOMEM;
        return error_set(ret_error, r, "%s: entry '%s': %s", u->name, entry, what);
}

/* "./a//b/./c/" → "a/b/c"; "." and "./" → "". -EINVAL for an absolute path, -ELOOP for a ".."
 * component. */
static int normalize_path(const char *p, char **ret) {
        _cleanup_free_ char *n = NULL;
        size_t len = 0;

        if (p[0] == '/')
                return -EINVAL;

        n = malloc(strlen(p) + 1);
        if (!n)
                return -ENOMEM;

        while (*p) {
                size_t k = strcspn(p, "/");

                if (k == 2 && p[0] == '.' && p[1] == '.')
                        return -ELOOP;
                if (k > 0 && !(k == 1 && p[0] == '.')) {
                        if (len > 0)
                                n[len++] = '/';
                        memcpy(n + len, p, k);
                        len += k;
                }
                p += k;
                p += strspn(p, "/");
        }
        n[len] = 0;

        *ret = TAKE_PTR(n);
        return 0;
}

/* Checks a normalized path an entry is to be written at or link to. */
static int check_path(Unpack *u, const char *entry, const char *raw, char **ret_path,
                      char **ret_error) {
        int r;

        r = normalize_path(raw, ret_path);
        if (r == -EINVAL)
                return entry_error(u, entry, ret_error, -EBADMSG, "absolute path");
        if (r == -ELOOP)
                return entry_error(u, entry, ret_error, -EBADMSG, "path escapes the release");
        return r;
}

/* Whether a proper prefix of path is a symlink on disk: an entry must never be written through
 * one (the writer refuses it too, without naming the entry). */
static int check_no_symlink_parent(Unpack *u, const char *entry, const char *path, bool hardlink,
                                   char **ret_error) {
        _cleanup_free_ char *p = NULL;

        if (u->n_symlinks == 0)
                return 0;

        p = strdup(path);
        if (!p)
                return -ENOMEM;

        for (char *s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
                struct stat st;

                *s = 0;
                if (fstatat(u->dest_fd, p, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
                        return hardlink ? entry_error(u, entry, ret_error, -EBADMSG,
                                                      "hardlink to '%s' goes through the "
                                                      "symlink '%s'",
                                                      path, p)
                                        : entry_error(u, entry, ret_error, -EBADMSG,
                                                      "would be written through the symlink "
                                                      "'%s'",
                                                      p);
                *s = '/';
        }
        return 0;
}

/* Follows a symlink's target from the directory holding it, through the symlinks on disk when
 * on_disk (else only lexically), and fails with -EXDEV as soon as the walk leaves root (""
 * or a normalized directory path that `link` lies under), -ELOOP after too many hops. */
static int resolve_symlink(Unpack *u, const char *root, const char *link, const char *target,
                           bool on_disk) {
        _cleanup_free_ char *rest = NULL;
        char cur[PATH_MAX];
        size_t root_len = strlen(root), len;
        unsigned hops = 0;
        const char *slash;

        if (target[0] == '/')
                return -EXDEV;

        slash = strrchr(link, '/');
        len = slash ? (size_t)(slash - link) : 0;
        if (len < root_len || len >= sizeof(cur))
                return -EXDEV;
        memcpy(cur, link, len);
        cur[len] = 0;

        rest = strdup(target);
        if (!rest)
                return -ENOMEM;

        for (size_t i = 0; rest[i];) {
                const char *p = rest + i;
                size_t k = strcspn(p, "/");

                if (k == 2 && p[0] == '.' && p[1] == '.') {
                        char *s;

                        if (len <= root_len)
                                return -EXDEV;
                        s = strrchr(cur, '/');
                        len = s ? (size_t)(s - cur) : 0;
                        cur[len] = 0;
                } else if (k > 0 && !(k == 1 && p[0] == '.')) {
                        size_t parent_len = len;
                        struct stat st;

                        if (len + 1 + k >= sizeof(cur))
                                return -ENAMETOOLONG;
                        if (len > 0)
                                cur[len++] = '/';
                        memcpy(cur + len, p, k);
                        len += k;
                        cur[len] = 0;

                        if (on_disk && fstatat(u->dest_fd, cur, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                            S_ISLNK(st.st_mode)) {
                                char next[PATH_MAX];
                                char *joined;
                                ssize_t n;

                                if (++hops > UNPACK_SYMLINK_HOPS)
                                        return -ELOOP;
                                n = readlinkat(u->dest_fd, cur, next, sizeof(next) - 1);
                                if (n < 0)
                                        return -errno;
                                next[n] = 0;
                                if (next[0] == '/')
                                        return -EXDEV;

                                /* Go on with the link's target, then what was left after it,
                                 * from the directory holding the link. */
                                joined = strf("%s/%s", next, p + k);
                                if (!joined)
                                        return -ENOMEM;
                                free(rest);
                                rest = joined;
                                i = 0;
                                len = parent_len;
                                cur[len] = 0;
                                continue;
                        }
                }
                i += k;
                i += strspn(rest + i, "/");
        }
        return 0;
}

static int symlink_error(Unpack *u, const char *entry, int r, char **ret_error) {
        if (r == -EXDEV)
                return entry_error(u, entry, ret_error, -EBADMSG,
                                   "symlink points out of the release");
        if (r == -ELOOP)
                return entry_error(u, entry, ret_error, -EBADMSG, "too many levels of symlinks");
        if (r == -ENAMETOOLONG)
                return entry_error(u, entry, ret_error, -EBADMSG, "symlink target too long");
        return r;
}

/* Remembers the first path component while every entry shares it. */
static int track_top(Unpack *u, const char *path, bool is_dir) {
        size_t k = strcspn(path, "/");

        if (!u->single_top)
                return 0;
        if (path[k] == 0 && !is_dir) {
                /* A file or link at the top: nothing to strip. */
                u->single_top = false;
                return 0;
        }
        if (!u->top) {
                u->top = strndup(path, k);
                return u->top ? 0 : -ENOMEM;
        }
        if (strlen(u->top) != k || strncmp(u->top, path, k) != 0)
                u->single_top = false;
        return 0;
}

static int check_hardlink(Unpack *u, const char *entry, struct archive_entry *e, char **ret_error) {
        _cleanup_free_ char *target = NULL;
        struct stat st;
        int r;

        r = normalize_path(archive_entry_hardlink(e), &target);
        if (r == -EINVAL || r == -ELOOP)
                return entry_error(u, entry, ret_error, -EBADMSG,
                                   "hardlink to '%s' points out of the release",
                                   archive_entry_hardlink(e));
        if (r < 0)
                return r;
        r = check_no_symlink_parent(u, entry, target, true, ret_error);
        if (r < 0)
                return r;
        if (target[0] == 0 || fstatat(u->dest_fd, target, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            !S_ISREG(st.st_mode))
                return entry_error(u, entry, ret_error, -EBADMSG,
                                   "hardlink to '%s', which is not a file unpacked before it",
                                   archive_entry_hardlink(e));

        archive_entry_copy_hardlink(e, target);
        return 0;
}

static int check_symlink(Unpack *u, const char *entry, const char *path, struct archive_entry *e,
                         char **ret_error) {
        const char *target = archive_entry_symlink(e);
        int r;

        if (!target || !*target)
                return entry_error(u, entry, ret_error, -EBADMSG, "symlink without a target");

        r = resolve_symlink(u, "", path, target, false);
        if (r < 0)
                return symlink_error(u, entry, r, ret_error);

        r = strv_extend(&u->symlinks, path);
        if (r < 0)
                return r;
        u->n_symlinks++;
        return 0;
}

/* Checks one entry and makes it fit to hand to the writer: normalized names, no special bits. */
static int check_entry(Unpack *u, const char *entry, struct archive_entry *e, char **ret_path,
                       char **ret_error) {
        _cleanup_free_ char *path = NULL;
        mode_t type = archive_entry_filetype(e);
        bool hardlink = archive_entry_hardlink(e);
        int r;

        r = check_path(u, entry, entry, &path, ret_error);
        if (r < 0)
                return r;

        if (!hardlink)
                switch (type) {
                case AE_IFREG:
                case AE_IFDIR:
                case AE_IFLNK:
                        break;
                case AE_IFCHR:
                case AE_IFBLK:
                        return entry_error(u, entry, ret_error, -EBADMSG,
                                           "device nodes are not allowed");
                case AE_IFIFO:
                        return entry_error(u, entry, ret_error, -EBADMSG, "fifos are not allowed");
                case AE_IFSOCK:
                        return entry_error(u, entry, ret_error, -EBADMSG,
                                           "sockets are not allowed");
                default:
                        return entry_error(u, entry, ret_error, -EBADMSG, "unknown entry type 0%o",
                                           (unsigned)type);
                }

        if (path[0] == 0) {
                if (type != AE_IFDIR || hardlink)
                        return entry_error(u, entry, ret_error, -EBADMSG,
                                           "only a directory can stand for the release itself");
                *ret_path = TAKE_PTR(path);
                return 0;
        }

        r = check_no_symlink_parent(u, entry, path, false, ret_error);
        if (r < 0)
                return r;

        if (hardlink)
                r = check_hardlink(u, entry, e, ret_error);
        else if (type == AE_IFLNK)
                r = check_symlink(u, entry, path, e, ret_error);
        if (r < 0)
                return r;

        if (!hardlink && type == AE_IFREG && archive_entry_size_is_set(e) &&
            u->limits->max_size > 0 &&
            (uint64_t)archive_entry_size(e) > u->limits->max_size - u->total)
                return entry_error(u, entry, ret_error, -EFBIG,
                                   "the archive unpacks to more than %" PRIu64 " bytes",
                                   u->limits->max_size);

        r = track_top(u, path, type == AE_IFDIR && !hardlink);
        if (r < 0)
                return r;

        archive_entry_copy_pathname(e, path);
        archive_entry_set_perm(e, archive_entry_perm(e) & 0777);

        *ret_path = TAKE_PTR(path);
        return 0;
}

static int copy_data(Unpack *u, const char *entry, char **ret_error) {
        for (;;) {
                const void *buf;
                size_t size;
                la_int64_t offset;
                int r;

                r = archive_read_data_block(u->reader, &buf, &size, &offset);
                if (r == ARCHIVE_EOF)
                        return 0;
                if (r < ARCHIVE_WARN)
                        return entry_error(u, entry, ret_error, -EBADMSG, "%s",
                                           archive_error_string(u->reader));

                u->total += size;
                if (u->limits->max_size > 0 && u->total > u->limits->max_size)
                        return entry_error(u, entry, ret_error, -EFBIG,
                                           "the archive unpacks to more than %" PRIu64 " bytes",
                                           u->limits->max_size);
                /* Against the compressed bytes read so far, so that a bomb is caught early. */
                if (u->limits->max_ratio > 0 && u->total > u->limits->ratio_grace) {
                        la_int64_t consumed = archive_filter_bytes(u->reader, -1);

                        if (consumed >= 0 && u->total / u->limits->max_ratio > (uint64_t)consumed)
                                return entry_error(u, entry, ret_error, -EFBIG,
                                                   "the archive expands more than %" PRIu64
                                                   " times (%" PRIu64 " bytes from %" PRIu64 ")",
                                                   u->limits->max_ratio, u->total,
                                                   (uint64_t)consumed);
                }

                if (archive_write_data_block(u->writer, buf, size, offset) < ARCHIVE_WARN)
                        return entry_error(u, entry, ret_error, -EIO, "%s",
                                           archive_error_string(u->writer));
        }
}

static int extract_all(Unpack *u, char **ret_error) {
        uint64_t n_written = 0;

        for (;;) {
                _cleanup_free_ char *path = NULL, *entry = NULL;
                struct archive_entry *e;
                int r;

                r = archive_read_next_header(u->reader, &e);
                if (r == ARCHIVE_EOF)
                        break;
                if (r < ARCHIVE_WARN)
                        return error_set(ret_error, -EBADMSG, "%s: %s", u->name,
                                         archive_error_string(u->reader));

                u->n_entries++;
                if (!archive_entry_pathname(e))
                        return error_set(ret_error, -EBADMSG,
                                         "%s: entry %" PRIu64 ": its name cannot be read", u->name,
                                         u->n_entries);
                /* The writer may change the entry's name: keep the archive's own for messages. */
                entry = strdup(archive_entry_pathname(e));
                if (!entry)
                        return -ENOMEM;

                if (u->limits->max_entries > 0 && u->n_entries > u->limits->max_entries)
                        return entry_error(u, entry, ret_error, -EFBIG,
                                           "the archive has more than %" PRIu64 " entries",
                                           u->limits->max_entries);

                r = check_entry(u, entry, e, &path, ret_error);
                if (r < 0)
                        return r;
                if (path[0] == 0)
                        continue; /* "./": the release directory itself */

                r = archive_write_header(u->writer, e);
                if (r < ARCHIVE_WARN)
                        return entry_error(u, entry, ret_error, -EBADMSG, "%s",
                                           archive_error_string(u->writer));
                if (archive_entry_filetype(e) == AE_IFREG || archive_entry_hardlink(e)) {
                        r = copy_data(u, entry, ret_error);
                        if (r < 0)
                                return r;
                }
                r = archive_write_finish_entry(u->writer);
                if (r < ARCHIVE_WARN)
                        return entry_error(u, entry, ret_error, -EBADMSG, "%s",
                                           archive_error_string(u->writer));
                n_written++;
        }

        /* Directory modes and times are set last, by close. */
        if (archive_write_close(u->writer) < ARCHIVE_WARN)
                return error_set(ret_error, -EIO, "%s: %s", u->name,
                                 archive_error_string(u->writer));

        if (n_written == 0)
                return error_set(ret_error, -EBADMSG, "%s: the archive holds no files", u->name);
        return 0;
}

/* The symlinks as they are on disk now, resolved against the final root. */
static int check_symlinks(Unpack *u, const char *root, char **ret_error) {
        for (size_t i = 0; i < u->n_symlinks; i++) {
                char target[PATH_MAX];
                ssize_t n;
                int r;

                n = readlinkat(u->dest_fd, u->symlinks[i], target, sizeof(target) - 1);
                if (n < 0) {
                        if (errno == EINVAL || errno == ENOENT)
                                continue; /* replaced by a later entry */
                        return -errno;
                }
                target[n] = 0;

                r = resolve_symlink(u, root, u->symlinks[i], target, true);
                if (r < 0)
                        return symlink_error(u, u->symlinks[i], r, ret_error);
        }
        return 0;
}

/* Moves the children of the single top-level directory up into dest. */
static int strip_top(Unpack *u) {
        _cleanup_close_ int fd = -1;
        char temp[sizeof(UNPACK_STRIP_TEMP) + 16];
        DIR *d;
        int r = 0;

        if (fchmodat(u->dest_fd, u->top, 0700, 0) < 0)
                return -errno;
        fd = openat(u->dest_fd, u->top, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;

        /* A name for the top directory that none of its children has. */
        for (unsigned i = 0;; i++) {
                snprintf(temp, sizeof(temp), UNPACK_STRIP_TEMP "%u", i);
                if (faccessat(fd, temp, F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
                        break;
        }
        if (renameat(u->dest_fd, u->top, u->dest_fd, temp) < 0)
                return -errno;

        d = fdopendir(fd);
        if (!d)
                return -errno;
        fd = -1;
        for (struct dirent *de; (de = readdir(d));) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (renameat(dirfd(d), de->d_name, u->dest_fd, de->d_name) < 0) {
                        r = -errno;
                        break;
                }
        }
        closedir(d);
        if (r < 0)
                return r;

        if (unlinkat(u->dest_fd, temp, AT_REMOVEDIR) < 0)
                return -errno;
        return 0;
}

static bool is_dir_at(int dir_fd, const char *name) {
        struct stat st;

        return fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

/* Empties a directory after a failure, giving the owner full access to each directory below
 * first: the unprivileged user must be able to remove read-only directories it unpacked. */
static void remove_children(int dir_fd) {
        DIR *d;
        int fd;

        fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return;
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return;
        }
        for (struct dirent *de; (de = readdir(d));) {
                struct stat st;
                int sub;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (!S_ISDIR(st.st_mode)) {
                        (void)unlinkat(dirfd(d), de->d_name, 0);
                        continue;
                }
                /* One we cannot make ours to empty stays (and with it, its parent). */
                if (fchmodat(dirfd(d), de->d_name, (st.st_mode & 07777) | 0700, 0) < 0)
                        continue;
                sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub >= 0) {
                        remove_children(sub);
                        close(sub);
                }
                (void)unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
        }
        closedir(d);
}

static int dir_is_empty(int dir_fd) {
        DIR *d;
        int fd, r = 1;

        fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                r = -errno;
                close(fd);
                return r;
        }
        for (struct dirent *de; (de = readdir(d));)
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..")) {
                        r = 0;
                        break;
                }
        closedir(d);
        return r;
}

static int unpack_run(Unpack *u, int archive_fd, char **ret_error) {
        int r;

        u->reader = archive_read_new();
        u->writer = archive_write_disk_new();
        if (!u->reader || !u->writer)
                return -ENOMEM;

        if (archive_read_support_filter_gzip(u->reader) < ARCHIVE_WARN ||
            archive_read_support_filter_bzip2(u->reader) < ARCHIVE_WARN ||
            archive_read_support_filter_xz(u->reader) < ARCHIVE_WARN ||
            archive_read_support_format_tar(u->reader) != ARCHIVE_OK ||
            archive_read_support_format_zip(u->reader) != ARCHIVE_OK)
                return error_set(ret_error, -EOPNOTSUPP, "%s: %s", u->name,
                                 archive_error_string(u->reader));
        if (archive_write_disk_set_options(u->writer, UNPACK_EXTRACT_FLAGS) != ARCHIVE_OK)
                return -EINVAL;

        if (archive_read_open_fd(u->reader, archive_fd, UNPACK_READ_BLOCK) != ARCHIVE_OK)
                return error_set(ret_error, -EBADMSG, "%s: %s", u->name,
                                 archive_error_string(u->reader));

        r = extract_all(u, ret_error);
        if (r < 0)
                return r;

        if (u->single_top && u->top && is_dir_at(u->dest_fd, u->top)) {
                r = check_symlinks(u, u->top, ret_error);
                if (r < 0)
                        return r;
                r = strip_top(u);
                if (r < 0)
                        return error_set(ret_error, r, "%s: moving the contents of '%s' up: %s",
                                         u->name, u->top, strerror(-r));
                return 0;
        }
        return check_symlinks(u, "", ret_error);
}

int unpack_archive(const char *archive, const char *name, const char *dest,
                   const UnpackLimits *limits, char **ret_error) {
        const UnpackLimits defaults = UNPACK_LIMITS_DEFAULT;
        _cleanup_close_ int archive_fd = -1, dest_fd = -1, old_cwd = -1;
        _cleanup_free_ char *error = NULL;
        int r;

        if (!name) {
                const char *slash = strrchr(archive, '/');

                name = slash ? slash + 1 : archive;
        }

        archive_fd = open(archive, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (archive_fd < 0)
                return error_set(ret_error, -errno, "%s: cannot open %s: %m", name, archive);

        dest_fd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dest_fd < 0)
                return error_set(ret_error, -errno, "%s: cannot open %s: %m", name, dest);
        r = dir_is_empty(dest_fd);
        if (r < 0)
                return error_set(ret_error, r, "%s: cannot read %s: %s", name, dest, strerror(-r));
        if (r == 0)
                return error_set(ret_error, -ENOTEMPTY, "%s: %s is not empty", name, dest);

        old_cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (old_cwd < 0)
                return error_set(ret_error, -errno, "%s: cannot open the working directory: %m",
                                 name);
        if (fchdir(dest_fd) < 0)
                return error_set(ret_error, -errno, "%s: cannot enter %s: %m", name, dest);

        {
                Unpack u = {
                        .name = name,
                        .limits = limits ? limits : &defaults,
                        .dest_fd = dest_fd,
                        .single_top = true,
                };

                r = unpack_run(&u, archive_fd, &error);

                archive_read_free(u.reader);
                archive_write_free(u.writer); /* sets the modes of directories made so far */
                strv_free(u.symlinks);
                free(u.top);
        }

        if (r < 0)
                remove_children(dest_fd);
        if (fchdir(old_cwd) < 0 && r >= 0)
                return error_set(ret_error, -errno,
                                 "%s: cannot return to the working directory: %m", name);
        if (r < 0) {
                if (ret_error && error)
                        *ret_error = TAKE_PTR(error);
                else if (ret_error)
                        error_set(ret_error, r, "%s: %s", name, strerror(-r));
                return r;
        }
        return 0;
}
