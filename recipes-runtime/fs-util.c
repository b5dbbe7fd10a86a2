/* SPDX-License-Identifier: MIT */

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "fs-util.h"
#include "str-util.h"

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

static void evp_md_ctx_freep(EVP_MD_CTX **c) {
        EVP_MD_CTX_free(*c);
}

int read_full_file(const char *path, size_t max, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = -1;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        return read_full_fd(fd, max, ret, ret_len);
}

int read_full_fd(int fd, size_t max, char **ret, size_t *ret_len) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, allocated = 0, cap;
        struct stat st;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max)
                return -EFBIG;

        /* st_size is only a hint (procfs says 0, a file may grow): read until EOF, and read one
         * byte past max so a file of exactly max bytes is told apart from a longer one. */
        cap = MIN(max, SIZE_MAX - 2) + 1;
        for (;;) {
                ssize_t n;

                if (len == allocated) {
                        size_t a = MIN(MAX(allocated * 2, (size_t)4096), cap);
                        char *b;

                        if (a <= len)
                                return -EFBIG;
                        b = realloc(buf, a + 1);
                        if (!b)
                                return -ENOMEM;
                        buf = b;
                        allocated = a;
                }

                n = read(fd, buf + len, allocated - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len > max)
                        return -EFBIG;
        }

        if (!buf) {
                buf = malloc(1);
                if (!buf)
                        return -ENOMEM;
        }
        buf[len] = 0;

        *ret = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = len;
        return 0;
}

int loop_write(int fd, const void *data, size_t len) {
        const char *p = data;

        while (len > 0) {
                ssize_t n = write(fd, p, len);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

/* Splits path into a malloc'd directory ("." when there is none) and a pointer to the file name
 * inside path. */
static int path_split(const char *path, char **ret_dir, const char **ret_base) {
        const char *slash = strrchr(path, '/');
        char *dir;

        if (!slash) {
                dir = strdup(".");
                if (!dir)
                        return -ENOMEM;
                *ret_dir = dir;
                *ret_base = path;
                return 0;
        }
        if (slash[1] == 0)
                return -EISDIR;

        dir = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
        if (!dir)
                return -ENOMEM;
        *ret_dir = dir;
        *ret_base = slash + 1;
        return 0;
}

int write_temp_file(int fd, const void *data, size_t len, mode_t mode, uid_t uid, gid_t gid,
                    WriteFlags flags) {
        int r;

        r = loop_write(fd, data, len);
        if (r < 0)
                return r;
        /* chown first: it clears set-id bits that fchmod sets. */
        if ((uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(fd, uid, gid) < 0)
                return -errno;
        if (fchmod(fd, mode) < 0)
                return -errno;
        if ((flags & WRITE_SYNC) && fsync(fd) < 0)
                return -errno;
        return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, uid_t uid,
                      gid_t gid) {
        return write_file_atomic_full(path, data, len, mode, uid, gid, WRITE_SYNC);
}

int write_file_atomic_full(const char *path, const void *data, size_t len, mode_t mode, uid_t uid,
                           gid_t gid, WriteFlags flags) {
        _cleanup_free_ char *dir = NULL, *temp = NULL;
        _cleanup_close_ int dfd = -1;
        const char *base;
        int fd, r;

        if (!path || !*path)
                return -EINVAL;

        r = path_split(path, &dir, &base);
        if (r < 0)
                return r;

        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;

        /* A dot-name in the same directory: rename() stays on one file system and a crash leaves
         * only an ignorable hidden file, never a half-written target. */
        temp = strf("%s/.#%s.XXXXXX", dir, base);
        if (!temp)
                return -ENOMEM;
        fd = mkostemp(temp, O_CLOEXEC);
        if (fd < 0)
                return -errno;

        r = write_temp_file(fd, data, len, mode, uid, gid, flags);
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(temp, path) < 0)
                r = -errno;
        if (r < 0) {
                unlink(temp);
                return r;
        }

        if ((flags & WRITE_SYNC) && fsync(dfd) < 0)
                return -errno;
        return 0;
}

/* Creates the directory itself too ("mkdir -p"). A created component gets exactly mode, not
 * mode masked by the umask, because resources declare the mode they want. */
int mkdir_parents(const char *path, mode_t mode) {
        _cleanup_free_ char *p = NULL;
        size_t i = 0;

        if (!path || !*path)
                return -EINVAL;

        p = strdup(path);
        if (!p)
                return -ENOMEM;

        for (;;) {
                struct stat st;
                char saved;

                /* Advance to the end of the next component. */
                while (p[i] == '/')
                        i++;
                if (p[i] == 0)
                        return 0;
                while (p[i] != 0 && p[i] != '/')
                        i++;

                saved = p[i];
                p[i] = 0;
                if (mkdir(p, mode) >= 0) {
                        if (chmod(p, mode) < 0)
                                return -errno;
                } else if (errno == EEXIST) {
                        if (stat(p, &st) < 0)
                                return -errno;
                        if (!S_ISDIR(st.st_mode))
                                return -ENOTDIR;
                } else
                        return -errno;
                p[i] = saved;
        }
}

/* Whether fd sits on another file system or is the root of a mount (a bind mount of the same
 * file system keeps st_dev, so STATX_ATTR_MOUNT_ROOT is needed as well). */
static bool is_other_mount(int fd, dev_t dev) {
        struct statx sx;

        if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) < 0)
                return true; /* When in doubt, do not descend. */
        if (makedev(sx.stx_dev_major, sx.stx_dev_minor) != dev)
                return true;
        return (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
               (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

/* Removes everything below the directory fd (which it takes). Keeps going past errors and
 * returns the first one, as rm -rf does. */
static int rm_rf_children(int fd, dev_t dev) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int r = 0;

        d = fdopendir(fd);
        if (!d) {
                r = -errno;
                close(fd);
                return r;
        }

        while ((errno = 0, de = readdir(d))) {
                struct stat st;
                int q = 0;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;

                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno != ENOENT && r == 0)
                                r = -errno;
                        continue;
                }

                if (S_ISDIR(st.st_mode)) {
                        int sub;

                        /* O_NOFOLLOW: a directory swapped for a symlink since fstatat() is not
                         * followed out of the tree. */
                        sub = openat(dirfd(d), de->d_name,
                                     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub < 0)
                                q = -errno;
                        else if (is_other_mount(sub, dev)) {
                                close(sub);
                                q = -EXDEV;
                        } else {
                                q = rm_rf_children(sub, dev);
                                if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0 && q == 0)
                                        q = -errno;
                        }
                } else if (unlinkat(dirfd(d), de->d_name, 0) < 0)
                        q = -errno;

                if (q < 0 && q != -ENOENT && r == 0)
                        r = q;
        }
        if (errno != 0 && r == 0)
                r = -errno;

        return r;
}

int rm_rf(const char *path) {
        struct stat st, root;
        int fd, r;

        if (!path || !*path)
                return -EINVAL;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;

        if (!S_ISDIR(st.st_mode)) {
                if (unlink(path) < 0 && errno != ENOENT)
                        return -errno;
                return 0;
        }

        /* A last guard against a path that came out empty after templating. */
        if (stat("/", &root) >= 0 && root.st_dev == st.st_dev && root.st_ino == st.st_ino)
                return -EPERM;

        fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;

        r = rm_rf_children(fd, st.st_dev);
        if (rmdir(path) < 0 && errno != ENOENT && r == 0)
                r = -errno;
        return r;
}

/* Calls the reentrant NSS lookup with a buffer that grows on ERANGE. */
#define NSS_LOOKUP(func, key, result)                                                              \
        ({                                                                                         \
                _cleanup_free_ char *_buf = NULL;                                                  \
                size_t _size = 1024;                                                               \
                __typeof__(result) _found = NULL;                                                  \
                int _r;                                                                            \
                for (;;) {                                                                         \
                        free(_buf);                                                                \
                        _buf = malloc(_size);                                                      \
                        if (!_buf) {                                                               \
                                _r = ENOMEM;                                                       \
                                break;                                                             \
                        }                                                                          \
                        _r = func(key, result, _buf, _size, &_found);                              \
                        if (_r != ERANGE || _size > 1024 * 1024)                                   \
                                break;                                                             \
                        _size *= 2;                                                                \
                }                                                                                  \
                _r != 0 ? -_r : _found ? 0 : -ESRCH;                                               \
        })

/* Only the scalar fields of the entry are used, so the string buffer can go out of scope. */
static int lookup_passwd_name(const char *name, struct passwd *ret) {
        return NSS_LOOKUP(getpwnam_r, name, ret);
}

static int lookup_passwd_uid(uid_t uid, struct passwd *ret) {
        return NSS_LOOKUP(getpwuid_r, uid, ret);
}

static int lookup_group_name(const char *name, struct group *ret) {
        return NSS_LOOKUP(getgrnam_r, name, ret);
}

/* A number that is not in the user database is still a valid owner; its primary group is then
 * unknown and reported as (gid_t) -1, which chown() and write_file_atomic() read as "leave". */
int resolve_user(const char *name, uid_t *ret_uid, gid_t *ret_gid) {
        struct passwd pw;
        uint32_t id;
        int r;

        if (!name || !*name)
                return -EINVAL;

        if (parse_uint32(name, &id) >= 0) {
                if (id == (uint32_t)-1)
                        return -EINVAL;
                r = lookup_passwd_uid((uid_t)id, &pw);
                if (r < 0 && r != -ESRCH)
                        return r;
                if (ret_uid)
                        *ret_uid = (uid_t)id;
                if (ret_gid)
                        *ret_gid = r >= 0 ? pw.pw_gid : (gid_t)-1;
                return 0;
        }

        r = lookup_passwd_name(name, &pw);
        if (r < 0)
                return r;
        if (ret_uid)
                *ret_uid = pw.pw_uid;
        if (ret_gid)
                *ret_gid = pw.pw_gid;
        return 0;
}

int resolve_group(const char *name, gid_t *ret_gid) {
        struct group gr;
        uint32_t id;
        int r;

        if (!name || !*name)
                return -EINVAL;

        if (parse_uint32(name, &id) >= 0) {
                if (id == (uint32_t)-1)
                        return -EINVAL;
                if (ret_gid)
                        *ret_gid = (gid_t)id;
                return 0;
        }

        r = lookup_group_name(name, &gr);
        if (r < 0)
                return r;
        if (ret_gid)
                *ret_gid = gr.gr_gid;
        return 0;
}

bool valid_user_group_name(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > 32 || s[0] == '-')
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || strchr("._-", *p)))
                        return false;
        return true;
}

static void hex_digest(const unsigned char *md, unsigned n, char ret[static 65]) {
        static const char hex[] = "0123456789abcdef";

        for (unsigned i = 0; i < n && i < 32; i++) {
                ret[2 * i] = hex[md[i] >> 4];
                ret[2 * i + 1] = hex[md[i] & 15];
        }
        ret[64] = 0;
}

int sha256_file_hex(const char *path, char ret[static 65]) {
        _cleanup_(evp_md_ctx_freep) EVP_MD_CTX *ctx = NULL;
        _cleanup_close_ int fd = -1;
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned n;
        char buf[64 * 1024];

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;

        ctx = EVP_MD_CTX_new();
        if (!ctx)
                return -ENOMEM;
        if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
                return -EIO;

        for (;;) {
                ssize_t k = read(fd, buf, sizeof(buf));

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                if (EVP_DigestUpdate(ctx, buf, (size_t)k) != 1)
                        return -EIO;
        }

        if (EVP_DigestFinal_ex(ctx, md, &n) != 1 || n != 32)
                return -EIO;

        hex_digest(md, n, ret);
        return 0;
}

int sha256_hex(const void *data, size_t len, char ret[static 65]) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned n;

        if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32)
                return -EIO;

        hex_digest(md, n, ret);
        return 0;
}

typedef struct Aged {
        char *name;
        struct timespec mtime;
} Aged;

static int newest_first(const void *a, const void *b) {
        const Aged *x = a, *y = b;

        if (x->mtime.tv_sec != y->mtime.tv_sec)
                return x->mtime.tv_sec > y->mtime.tv_sec ? -1 : 1;
        if (x->mtime.tv_nsec != y->mtime.tv_nsec)
                return x->mtime.tv_nsec > y->mtime.tv_nsec ? -1 : 1;
        return strcmp(y->name, x->name);
}

int prune_directory(const char *dir, unsigned keep_count, unsigned keep_days) {
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct timespec now;
        Aged *files = NULL;
        size_t n = 0;
        DIR *d;
        struct dirent *de;
        int r = 0, removed = 0;

        if (dfd < 0)
                return errno == ENOENT ? 0 : -errno;
        d = fdopendir(fcntl(dfd, F_DUPFD_CLOEXEC, 3));
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                struct stat st;
                Aged *more;

                if (de->d_name[0] == '.' ||
                    fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                        continue;
                more = reallocarray(files, n + 1, sizeof(Aged));
                if (!more) {
                        r = -ENOMEM;
                        break;
                }
                files = more;
                files[n].name = strdup(de->d_name);
                files[n].mtime = st.st_mtim;
                if (!files[n].name) {
                        r = -ENOMEM;
                        break;
                }
                n++;
        }
        closedir(d);

        clock_gettime(CLOCK_REALTIME, &now);
        if (r == 0 && n > 0)
                qsort(files, n, sizeof(Aged), newest_first);
        for (size_t i = 0; i < n; i++) {
                bool too_many = keep_count > 0 && i >= keep_count;
                bool too_old = keep_days > 0 &&
                               now.tv_sec - files[i].mtime.tv_sec > (time_t) keep_days * 86400;

                if (r == 0 && (too_many || too_old)) {
                        if (unlinkat(dfd, files[i].name, 0) < 0 && errno != ENOENT)
                                r = -errno;
                        else
                                removed++;
                }
                free(files[i].name);
        }
        free(files);
        return r < 0 ? r : removed;
}
