/* SPDX-License-Identifier: MIT */
/* copy_tree() and tree_check_symlinks(): copying and checking trees from others, see
 * copy-tree.h. Everything works on directory fds and names relative to them, never on paths
 * that the kernel would resolve through the tree's own symlinks. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "copy-tree.h"
#include "str-util.h"

#define SYMLINK_HOPS_MAX 40
#define COPY_BUFFER (64U * 1024U)

typedef struct Walk {
        const char *top; /* the tree's path, for error messages */
        int root_fd;     /* tree_check_symlinks: the tree's root */
        size_t entries;
        char **ret_error;
} Walk;

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

static char *child_path(const char *rel, const char *name) {
        return *rel ? strf("%s/%s", rel, name) : strdup(name);
}

static const char *type_name(mode_t mode) {
        if (S_ISFIFO(mode))
                return "a fifo";
        if (S_ISSOCK(mode))
                return "a socket";
        if (S_ISCHR(mode) || S_ISBLK(mode))
                return "a device";
        return "of an unknown type";
}

static int copy_data(int in, int out) {
        _cleanup_free_ char *buf = malloc(COPY_BUFFER);

        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n = read(in, buf, COPY_BUFFER);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return 0;
                for (ssize_t done = 0; done < n;) {
                        ssize_t w = write(out, buf + done, (size_t) (n - done));

                        if (w < 0 && errno == EINTR)
                                continue;
                        if (w < 0)
                                return -errno;
                        done += w;
                }
        }
}

static int copy_file(Walk *w, int sdir, int ddir, const char *name, const char *rel) {
        _cleanup_close_ int in = -1, out = -1;
        struct stat st;
        int k;

        /* O_NONBLOCK: a fifo swapped in after the fstatat() must not hang the open. */
        in = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (in < 0)
                return error_set(w->ret_error, -errno, "%s/%s: cannot open: %m", w->top, rel);
        if (fstat(in, &st) < 0)
                return error_set(w->ret_error, -errno, "%s/%s: cannot stat: %m", w->top, rel);
        if (!S_ISREG(st.st_mode))
                return error_set(w->ret_error, -EBADF, "%s/%s: changed while being copied",
                                 w->top, rel);
        out = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (out < 0)
                return error_set(w->ret_error, -errno, "%s/%s: cannot create its copy: %m", w->top,
                                 rel);
        k = copy_data(in, out);
        if (k < 0)
                return error_set(w->ret_error, k, "%s/%s: cannot copy: %s", w->top, rel,
                                 strerror(-k));
        if (fchmod(out, st.st_mode & COPY_TREE_MODE_MASK) < 0)
                return error_set(w->ret_error, -errno, "%s/%s: cannot set the mode of its copy: %m",
                                 w->top, rel);
        return 0;
}

static int copy_link(Walk *w, int sdir, int ddir, const char *name, const char *rel) {
        char target[PATH_MAX];
        ssize_t n;

        n = readlinkat(sdir, name, target, sizeof(target) - 1);
        if (n < 0)
                return error_set(w->ret_error, -errno, "%s/%s: cannot read the symlink: %m",
                                 w->top, rel);
        target[n] = 0;
        if (target[0] == '/')
                return error_set(w->ret_error, -EPERM,
                                 "%s/%s: symlink to '%s' is absolute (expected a relative symlink "
                                 "inside the tree)",
                                 w->top, rel, target);
        if (symlinkat(target, ddir, name) < 0)
                return error_set(w->ret_error, -errno, "%s/%s: cannot copy the symlink: %m",
                                 w->top, rel);
        return 0;
}

static int copy_dir(Walk *w, int sfd, int dfd, const char *rel, unsigned depth);

static int copy_entry(Walk *w, DIR *d, int dfd, const char *name, const char *rel,
                      unsigned depth) {
        _cleanup_close_ int sub_s = -1, sub_d = -1;
        struct stat st;
        int k;

        if (++w->entries > COPY_TREE_ENTRIES_MAX)
                return error_set(w->ret_error, -E2BIG, "%s: more than %u entries", w->top,
                                 COPY_TREE_ENTRIES_MAX);
        if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return error_set(w->ret_error, -errno, "%s/%s: cannot stat: %m", w->top, rel);
        if (S_ISREG(st.st_mode))
                return copy_file(w, dirfd(d), dfd, name, rel);
        if (S_ISLNK(st.st_mode))
                return copy_link(w, dirfd(d), dfd, name, rel);
        if (!S_ISDIR(st.st_mode))
                return error_set(w->ret_error, -EPERM,
                                 "%s/%s: is %s (expected a file, a directory or a symlink)", w->top,
                                 rel, type_name(st.st_mode));

        if (depth + 1 > COPY_TREE_DEPTH_MAX)
                return error_set(w->ret_error, -E2BIG, "%s/%s: more than %u levels deep", w->top,
                                 rel, COPY_TREE_DEPTH_MAX);
        sub_s = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub_s < 0)
                return error_set(w->ret_error, -errno, "%s/%s: cannot open: %m", w->top, rel);
        if (fstat(sub_s, &st) < 0)
                return error_set(w->ret_error, -errno, "%s/%s: cannot stat: %m", w->top, rel);
        if (mkdirat(dfd, name, 0700) < 0)
                return error_set(w->ret_error, -errno, "%s/%s: cannot create its copy: %m", w->top,
                                 rel);
        sub_d = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub_d < 0)
                return error_set(w->ret_error, -errno, "%s/%s: cannot open its copy: %m", w->top,
                                 rel);
        k = copy_dir(w, TAKE_FD(sub_s), sub_d, rel, depth + 1);
        if (k < 0)
                return k;
        /* Last, so that a read-only directory could still be filled. */
        if (fchmod(sub_d, (st.st_mode & COPY_TREE_MODE_MASK) | 0700) < 0)
                return error_set(w->ret_error, -errno, "%s/%s: cannot set the mode of its copy: %m",
                                 w->top, rel);
        return 0;
}

/* Takes sfd. */
static int copy_dir(Walk *w, int sfd, int dfd, const char *rel, unsigned depth) {
        _cleanup_(closedirp) DIR *d = fdopendir(sfd);
        struct dirent *de;
        int k;

        if (!d) {
                k = -errno;
                close(sfd);
                return error_set(w->ret_error, k, "%s/%s: cannot read: %s", w->top, rel,
                                 strerror(-k));
        }
        for (;;) {
                _cleanup_free_ char *child = NULL;

                errno = 0;
                de = readdir(d);
                if (!de)
                        break;
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                child = child_path(rel, de->d_name);
                if (!child)
                        return -ENOMEM;
                k = copy_entry(w, d, dfd, de->d_name, child, depth);
                if (k < 0)
                        return k;
        }
        if (errno != 0)
                return error_set(w->ret_error, -errno, "%s/%s: cannot read: %m", w->top, rel);
        return 0;
}

/* Resolves target, the content of the symlink at rel, as the kernel would, through the tree's
 * own symlinks, and says whether it stays inside. Below a component that does not exist the
 * rest is taken literally: nothing can be followed there. */
static int link_stays_inside(Walk *w, const char *rel, const char *target, bool *ret) {
        _cleanup_free_ char *cur = NULL, *pending = strdup(target);
        const char *slash = strrchr(rel, '/');
        bool missing = false;
        unsigned hops = 0;

        cur = slash ? strndup(rel, (size_t) (slash - rel)) : strdup("");
        if (!cur || !pending)
                return -ENOMEM;

        while (*pending) {
                _cleanup_free_ char *comp = NULL, *next = NULL;
                size_t n = strcspn(pending, "/");
                struct stat st;

                comp = strndup(pending, n);
                if (!comp)
                        return -ENOMEM;
                memmove(pending, pending + n + (pending[n] == '/'),
                        strlen(pending + n + (pending[n] == '/')) + 1);

                if (streq(comp, "") || streq(comp, "."))
                        continue;
                if (streq(comp, "..")) {
                        char *up;

                        if (!*cur) {
                                *ret = false;
                                return 0;
                        }
                        up = strrchr(cur, '/');
                        if (up)
                                *up = 0;
                        else
                                *cur = 0;
                        continue;
                }
                next = child_path(cur, comp);
                if (!next)
                        return -ENOMEM;
                if (strlen(next) >= PATH_MAX)
                        return error_set(w->ret_error, -ENAMETOOLONG,
                                         "%s/%s: symlink to '%s' resolves to a name too long",
                                         w->top, rel, target);
                if (!missing && fstatat(w->root_fd, next, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        missing = true;
                if (!missing && S_ISLNK(st.st_mode)) {
                        char hop[PATH_MAX];
                        char *joined;
                        ssize_t l;

                        if (++hops > SYMLINK_HOPS_MAX)
                                return error_set(w->ret_error, -ELOOP,
                                                 "%s/%s: symlink to '%s' loops", w->top, rel,
                                                 target);
                        l = readlinkat(w->root_fd, next, hop, sizeof(hop) - 1);
                        if (l < 0)
                                return error_set(w->ret_error, -errno,
                                                 "%s/%s: cannot read the symlink: %m", w->top,
                                                 next);
                        hop[l] = 0;
                        if (hop[0] == '/') {
                                *ret = false;
                                return 0;
                        }
                        joined = strf("%s/%s", hop, pending);
                        if (!joined)
                                return -ENOMEM;
                        free(pending);
                        pending = joined;
                        continue;
                }
                free(cur);
                cur = TAKE_PTR(next);
        }
        *ret = true;
        return 0;
}

static int check_dir(Walk *w, int fd, const char *rel, unsigned depth) {
        _cleanup_(closedirp) DIR *d = fdopendir(fd);
        struct dirent *de;
        int k;

        if (!d) {
                k = -errno;
                close(fd);
                return error_set(w->ret_error, k, "%s/%s: cannot read: %s", w->top, rel,
                                 strerror(-k));
        }
        for (;;) {
                _cleanup_free_ char *child = NULL;
                struct stat st;

                errno = 0;
                de = readdir(d);
                if (!de)
                        break;
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (++w->entries > COPY_TREE_ENTRIES_MAX)
                        return error_set(w->ret_error, -E2BIG, "%s: more than %u entries",
                                         w->top, COPY_TREE_ENTRIES_MAX);
                child = child_path(rel, de->d_name);
                if (!child)
                        return -ENOMEM;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return error_set(w->ret_error, -errno, "%s/%s: cannot stat: %m", w->top,
                                         child);
                if (S_ISLNK(st.st_mode)) {
                        char target[PATH_MAX];
                        bool inside;
                        ssize_t n = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);

                        if (n < 0)
                                return error_set(w->ret_error, -errno,
                                                 "%s/%s: cannot read the symlink: %m", w->top,
                                                 child);
                        target[n] = 0;
                        k = target[0] == '/' ? 0 : link_stays_inside(w, child, target, &inside);
                        if (k < 0)
                                return k;
                        if (target[0] == '/' || !inside)
                                return error_set(w->ret_error, -EPERM,
                                                 "%s/%s: symlink to '%s' leads out of the tree",
                                                 w->top, child, target);
                } else if (S_ISDIR(st.st_mode)) {
                        int sub;

                        if (depth + 1 > COPY_TREE_DEPTH_MAX)
                                return error_set(w->ret_error, -E2BIG,
                                                 "%s/%s: more than %u levels deep", w->top, child,
                                                 COPY_TREE_DEPTH_MAX);
                        sub = openat(dirfd(d), de->d_name,
                                     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub < 0)
                                return error_set(w->ret_error, -errno, "%s/%s: cannot open: %m",
                                                 w->top, child);
                        k = check_dir(w, sub, child, depth + 1);
                        if (k < 0)
                                return k;
                }
        }
        if (errno != 0)
                return error_set(w->ret_error, -errno, "%s/%s: cannot read: %m", w->top, rel);
        return 0;
}

int tree_check_symlinks(const char *root, char **ret_error) {
        _cleanup_close_ int fd = -1;
        int dup_fd;
        Walk w = {
                .top = root,
                .ret_error = ret_error,
        };

        fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return error_set(ret_error, -errno, "%s: cannot open: %m", root);
        dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (dup_fd < 0)
                return -errno;
        w.root_fd = fd;
        return check_dir(&w, dup_fd, "", 0);
}

int copy_tree(const char *src, const char *dest, char **ret_error) {
        _cleanup_close_ int dfd = -1;
        int sfd, k;
        Walk w = {
                .top = src,
                .ret_error = ret_error,
        };

        sfd = open(src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sfd < 0)
                return error_set(ret_error, -errno, "%s: cannot open the directory: %m", src);
        dfd = open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0) {
                k = -errno;
                close(sfd);
                return error_set(ret_error, k, "%s: cannot open the directory: %s", dest,
                                 strerror(-k));
        }
        k = copy_dir(&w, sfd, dfd, "", 0);
        if (k < 0)
                return k;
        /* Symlinks are judged in the copy: it no longer changes under us. */
        k = tree_check_symlinks(dest, ret_error);
        if (k < 0 && ret_error && *ret_error)
                error_prefix(ret_error, "copy of %s", src);
        return k;
}
