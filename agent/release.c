/* SPDX-License-Identifier: MIT */
/* The release directories of one app: layout, ledger, switch of `current`, rollback, prune,
 * removal and the cleanup of what an interrupted command left. See release.h for the layout
 * and the crash-safety contract. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "fs-util.h"
#include "json-util.h"
#include "release.h"
#include "str-util.h"
#include "time-util.h"

#define LEDGER_MAX (4U * 1024U * 1024U)
#define RELEASE_NAME_MAX 64
#define CURRENT_TEMP_PREFIX ".current."

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

/* A name we could have made: no '/', not "." or "..", not a dot-file, bounded. */
static bool release_name_valid(const char *s) {
        size_t n = s ? strlen(s) : 0;

        return n > 0 && n <= RELEASE_NAME_MAX && s[0] != '.' && !strchr(s, '/');
}

AppReleases *release_close(AppReleases *a) {
        if (!a)
                return NULL;
        if (a->dir_fd >= 0)
                close(a->dir_fd);
        json_object_put(a->ledger);
        free(a->app);
        free(a->deploy_to);
        free(a->releases_dir);
        free(a->shared_dir);
        free(a->current_link);
        free(a->ledger_path);
        free(a->current);
        free(a);
        return NULL;
}

char *release_path(const AppReleases *a, const char *name) {
        return strf("%s/%s", a->releases_dir, name);
}

static json_object *releases(const AppReleases *a) {
        return json_object_object_get(a->ledger, "releases");
}

size_t release_count(const AppReleases *a) {
        return json_object_array_length(releases(a));
}

static const char *entry_name(const AppReleases *a, size_t i) {
        return json_get_string(json_object_array_get_idx(releases(a), i), "name");
}

/* Index of a release in the ledger, -1 when absent. */
static ssize_t ledger_find(const AppReleases *a, const char *name) {
        for (size_t i = 0; name && i < release_count(a); i++)
                if (streq_ptr(entry_name(a, i), name))
                        return (ssize_t) i;
        return -1;
}

/* Creates a directory (when missing) with exactly mode and owner; an existing one gets the
 * owner. Refuses anything that is not a directory. */
static int ensure_dir(const char *path, mode_t mode, uid_t uid, gid_t gid) {
        struct stat st;

        if (mkdir(path, mode) < 0 && errno != EEXIST)
                return -errno;
        if (lstat(path, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        if ((st.st_uid != uid || st.st_gid != gid) && lchown(path, uid, gid) < 0)
                return -errno;
        if ((st.st_mode & 07777) != mode && chmod(path, mode) < 0)
                return -errno;
        return 0;
}

static int ledger_load(AppReleases *a, char **ret_error) {
        _cleanup_free_ char *text = NULL;
        _cleanup_json_ json_object *doc = NULL;
        _cleanup_free_ char *error = NULL;
        json_object *list;
        size_t len = 0;
        int r;

        r = read_full_file(a->ledger_path, LEDGER_MAX, &text, &len);
        if (r == -ENOENT) {
                doc = json_object_new_object();
                list = json_object_new_array();
                if (!doc || !list) {
                        json_object_put(list);
                        return -ENOMEM;
                }
                json_object_object_add(doc, "app", json_object_new_string(a->app));
                json_object_object_add(doc, "releases", list);
                a->ledger = TAKE_PTR(doc);
                return 0;
        }
        if (r < 0)
                return error_set(ret_error, r, "%s: cannot read: %s", a->ledger_path, strerror(-r));
        r = json_parse_strict(a->ledger_path, text, len, &doc, &error);
        if (r < 0)
                return error_set(ret_error, r, "%s", error);
        list = json_object_object_get(doc, "releases");
        if (!json_object_is_type(doc, json_type_object) ||
            !json_object_is_type(list, json_type_array))
                return error_set(ret_error, -EINVAL,
                                 "%s: expected a mapping with a list 'releases'", a->ledger_path);
        for (size_t i = 0; i < json_object_array_length(list); i++)
                if (!release_name_valid(json_get_string(json_object_array_get_idx(list, i),
                                                        "name")))
                        return error_set(ret_error, -EINVAL,
                                         "%s: releases[%zu].name: expected a release name",
                                         a->ledger_path, i);
        a->ledger = TAKE_PTR(doc);
        return 0;
}

/* The states follow `current`, then the file is replaced atomically. WRITE_SYNC where a lost
 * write would matter: a release must be in the ledger for good before `current` moves to it.
 * Writes that only take entries out need no sync: an entry that comes back after a crash is
 * newer than `current` or has no directory, and the next cleanup drops it again. */
static int ledger_write(AppReleases *a, WriteFlags flags, char **ret_error) {
        const char *text;
        int r;

        for (size_t i = 0; i < release_count(a); i++)
                json_object_object_add(json_object_array_get_idx(releases(a), i), "state",
                                       json_object_new_string(streq_ptr(entry_name(a, i),
                                                                        a->current)
                                                                      ? "current"
                                                                      : "complete"));
        text = json_object_to_json_string_ext(a->ledger, JSON_C_TO_STRING_PRETTY |
                                                                 JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!text)
                return -ENOMEM;
        r = write_file_atomic_full(a->ledger_path, text, strlen(text), 0644, 0, 0, flags);
        if (r < 0)
                return error_set(ret_error, r, "%s: cannot write: %s", a->ledger_path,
                                 strerror(-r));
        return 0;
}

/* Where `current` points: "releases/<name>" as we make it. */
static int read_current(AppReleases *a, char **ret_error) {
        char target[PATH_MAX];
        ssize_t n;

        n = readlinkat(a->dir_fd, "current", target, sizeof(target) - 1);
        if (n < 0) {
                if (errno == ENOENT)
                        return 0;
                return error_set(ret_error, -errno, "%s: cannot read the link: %m",
                                 a->current_link);
        }
        target[n] = 0;
        if (!startswith(target, "releases/") || !release_name_valid(target + strlen("releases/")))
                return error_set(ret_error, -EINVAL,
                                 "%s: points to '%s', expected releases/<name>", a->current_link,
                                 target);
        a->current = strdup(target + strlen("releases/"));
        return a->current ? 0 : -ENOMEM;
}

int release_open(const char *deploy_root, const char *app, uid_t uid, gid_t gid, bool create,
                 AppReleases **ret, char **ret_error) {
        _cleanup_(release_closep) AppReleases *a = calloc(1, sizeof(AppReleases));
        _cleanup_free_ char *meta = NULL;
        int r;

        if (!a)
                return -ENOMEM;
        a->dir_fd = -1;
        a->uid = uid;
        a->gid = gid;
        a->app = strdup(app);
        a->deploy_to = strf("%s/%s", deploy_root, app);
        if (!a->app || !a->deploy_to)
                return -ENOMEM;
        a->releases_dir = strf("%s/releases", a->deploy_to);
        a->shared_dir = strf("%s/shared", a->deploy_to);
        a->current_link = strf("%s/current", a->deploy_to);
        a->ledger_path = strf("%s/.strata/releases.json", a->deploy_to);
        meta = strf("%s/.strata", a->deploy_to);
        if (!a->releases_dir || !a->shared_dir || !a->current_link || !a->ledger_path || !meta)
                return -ENOMEM;

        if (create) {
                static const char *const user_dirs[] = { "log", "pids", "system" };

                r = mkdir_parents(deploy_root, 0755);
                if (r >= 0)
                        r = ensure_dir(a->deploy_to, 0755, 0, 0);
                if (r >= 0)
                        r = ensure_dir(a->releases_dir, 0755, 0, 0);
                if (r >= 0)
                        r = ensure_dir(a->shared_dir, 0755, 0, 0);
                if (r >= 0)
                        r = ensure_dir(meta, 0700, 0, 0);
                for (size_t i = 0; r >= 0 && i <= ELEMENTSOF(user_dirs); i++) {
                        _cleanup_free_ char *p = strf("%s/%s", a->shared_dir,
                                                      i < ELEMENTSOF(user_dirs) ? user_dirs[i]
                                                                                : "config");

                        if (!p)
                                return -ENOMEM;
                        r = i < ELEMENTSOF(user_dirs) ? ensure_dir(p, 0755, uid, gid)
                                                      : ensure_dir(p, 0755, 0, 0);
                }
                if (r < 0)
                        return error_set(ret_error, r, "%s: cannot create the release layout: %s",
                                         a->deploy_to, strerror(-r));
        }
        a->dir_fd = open(a->deploy_to, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (a->dir_fd < 0)
                return error_set(ret_error, -errno, "%s: cannot open: %m", a->deploy_to);
        r = ledger_load(a, ret_error);
        if (r >= 0)
                r = read_current(a, ret_error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(a);
        return 0;
}

/* `current` -> releases/<name>, atomically: a new link under a temp name renamed over it, then
 * the directory synced so that the switch survives a crash. */
static int switch_current(AppReleases *a, const char *name, char **ret_error) {
        _cleanup_free_ char *target = strf("releases/%s", name);
        _cleanup_free_ char *temp = strf(CURRENT_TEMP_PREFIX "%d", (int) getpid());
        char *copy;

        if (!target || !temp)
                return -ENOMEM;
        (void) unlinkat(a->dir_fd, temp, 0);
        if (symlinkat(target, a->dir_fd, temp) < 0)
                return error_set(ret_error, -errno, "%s: cannot make a link: %m", a->deploy_to);
        if (renameat(a->dir_fd, temp, a->dir_fd, "current") < 0) {
                int k = -errno;

                (void) unlinkat(a->dir_fd, temp, 0);
                return error_set(ret_error, k, "%s: cannot switch to %s: %s", a->current_link,
                                 name, strerror(-k));
        }
        if (fsync(a->dir_fd) < 0)
                return error_set(ret_error, -errno, "%s: cannot sync: %m", a->deploy_to);
        copy = strdup(name);
        if (!copy)
                return -ENOMEM;
        free(a->current);
        a->current = copy;
        return 0;
}

/* Removes a release directory below releases/, by name. */
static int remove_release_dir(AppReleases *a, const char *name) {
        _cleanup_free_ char *p = release_path(a, name);

        return p ? rm_rf(p) : -ENOMEM;
}

int release_cleanup(AppReleases *a, char ***ret_removed, char **ret_error) {
        _cleanup_(closedirp) DIR *d = NULL;
        _cleanup_strv_free_ char **removed = calloc(1, sizeof(char *));
        ssize_t ci = ledger_find(a, a->current);
        bool changed = false;
        struct dirent *de;
        int dfd, r;

        if (!removed)
                return -ENOMEM;

        /* A switch interrupted between symlink and rename. */
        dfd = fcntl(a->dir_fd, F_DUPFD_CLOEXEC, 3);
        if (dfd < 0)
                return -errno;
        d = fdopendir(dfd);
        if (!d) {
                close(dfd);
                return -errno;
        }
        while ((de = readdir(d)))
                if (startswith(de->d_name, CURRENT_TEMP_PREFIX))
                        (void) unlinkat(a->dir_fd, de->d_name, 0);
        d = (closedir(d), NULL);

        /* Entries newer than the current release never became current (or were abandoned by a
         * rollback), and entries whose directory is gone cannot be rolled back to. */
        for (size_t i = release_count(a); i > 0; i--) {
                _cleanup_free_ char *p = release_path(a, entry_name(a, i - 1));
                struct stat st;

                if (!p)
                        return -ENOMEM;
                if ((ssize_t) (i - 1) > ci ||
                    (lstat(p, &st) < 0 || !S_ISDIR(st.st_mode))) {
                        if ((ssize_t) (i - 1) == ci)
                                continue; /* never drop what `current` points to */
                        json_object_array_del_idx(releases(a), i - 1, 1);
                        changed = true;
                }
        }
        if (changed) {
                r = ledger_write(a, 0, ret_error);
                if (r < 0)
                        return r;
        }

        d = opendir(a->releases_dir);
        if (!d) {
                if (errno == ENOENT)
                        goto done;
                return error_set(ret_error, -errno, "%s: cannot open: %m", a->releases_dir);
        }
        while ((de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (ledger_find(a, de->d_name) >= 0 || streq_ptr(de->d_name, a->current))
                        continue;
                r = remove_release_dir(a, de->d_name);
                if (r < 0)
                        return error_set(ret_error, r, "%s/%s: cannot remove: %s",
                                         a->releases_dir, de->d_name, strerror(-r));
                if (strv_extend(&removed, de->d_name) < 0)
                        return -ENOMEM;
        }
done:
        if (ret_removed)
                *ret_removed = TAKE_PTR(removed);
        return 0;
}

/* Splits a release name into its second and its number in that second (1 without "-N"). */
static void name_split(const char *name, char base[static 32], unsigned *ret_n) {
        size_t len = strcspn(name, "-");

        snprintf(base, 32, "%.*s", (int) MIN(len, (size_t) 31), name);
        *ret_n = name[len] == '-' ? (unsigned) strtoul(name + len + 1, NULL, 10) : 1;
}

int release_create(AppReleases *a, char **ret_name, char **ret_error) {
        _cleanup_close_ int rfd = -1;
        time_t now = (time_t) (now_usec(CLOCK_REALTIME) / USEC_PER_SEC);
        char base[32];
        unsigned first = 1;
        struct tm tm;

        if (!gmtime_r(&now, &tm) || strftime(base, sizeof(base), "%Y%m%dT%H%M%SZ", &tm) == 0)
                return -EINVAL;
        /* A new release sorts after every release of the ledger, so that names keep the order
         * of deploys even when a pruned name's second comes round again (or the clock went
         * back): in the newest release's second, take the next number. */
        if (release_count(a) > 0) {
                char last[32];
                unsigned n;

                name_split(entry_name(a, release_count(a) - 1), last, &n);
                if (strcmp(base, last) <= 0) {
                        memcpy(base, last, sizeof(base));
                        first = n + 1;
                }
        }
        rfd = open(a->releases_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (rfd < 0)
                return error_set(ret_error, -errno, "%s: cannot open: %m", a->releases_dir);

        for (unsigned n = first; n < first + 1000; n++) {
                _cleanup_free_ char *name = n == 1 ? strdup(base) : strf("%s-%u", base, n);

                if (!name)
                        return -ENOMEM;
                if (ledger_find(a, name) >= 0)
                        continue;
                if (mkdirat(rfd, name, 0755) < 0) {
                        if (errno == EEXIST)
                                continue;
                        return error_set(ret_error, -errno, "%s/%s: cannot create: %m",
                                         a->releases_dir, name);
                }
                if (fchownat(rfd, name, a->uid, a->gid, AT_SYMLINK_NOFOLLOW) < 0 ||
                    fchmodat(rfd, name, 0755, 0) < 0) {
                        int k = -errno;

                        (void) unlinkat(rfd, name, AT_REMOVEDIR);
                        return error_set(ret_error, k, "%s/%s: cannot set its owner: %s",
                                         a->releases_dir, name, strerror(-k));
                }
                *ret_name = TAKE_PTR(name);
                return 0;
        }
        return error_set(ret_error, -EEXIST, "%s: too many releases named %s", a->releases_dir,
                         base);
}

/* A relative path with no empty, "." or ".." component. */
static bool relative_path_valid(const char *p) {
        const char *s = p;

        if (!p || !*p || *p == '/' || strlen(p) > 1024)
                return false;
        for (;;) {
                size_t n = strcspn(s, "/");

                if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
                        return false;
                if (s[n] == 0)
                        return true;
                s += n + 1;
        }
}

/* Opens the directory at relative `path` below fd, component by component, never following
 * a symlink; missing components are created (0755, the deploy user's). */
static int open_dir_below(AppReleases *a, int fd, const char *path, int *ret_fd) {
        _cleanup_free_ char *copy = strdup(path);
        _cleanup_close_ int cur = fcntl(fd, F_DUPFD_CLOEXEC, 3);

        if (!copy)
                return -ENOMEM;
        if (cur < 0)
                return -errno;
        for (char *c = copy, *end; *c; c = end) {
                int next;

                end = c + strcspn(c, "/");
                if (*end)
                        *end++ = 0;
                next = openat(cur, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

                if (next < 0 && errno == ENOENT) {
                        if (mkdirat(cur, c, 0755) < 0 && errno != EEXIST)
                                return -errno;
                        if (fchownat(cur, c, a->uid, a->gid, AT_SYMLINK_NOFOLLOW) < 0 ||
                            fchmodat(cur, c, 0755, 0) < 0)
                                return -errno;
                        next = openat(cur, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                }
                if (next < 0)
                        return errno == ELOOP ? -ENOTDIR : -errno;
                close(cur);
                cur = next;
        }
        *ret_fd = TAKE_FD(cur);
        return 0;
}

/* <release>/<in_release> -> <shared_dir>/<shared>. */
static int link_one(AppReleases *a, int release_fd, const char *release, const char *shared,
                    const char *in_release, char **ret_error) {
        _cleanup_free_ char *parent = strdup(in_release), *target = NULL;
        _cleanup_close_ int sfd = -1, shfd = -1, pfd = -1;
        const char *base;
        char *slash;
        struct stat st;
        int r;

        if (!parent)
                return -ENOMEM;
        sfd = open(a->shared_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sfd < 0)
                return error_set(ret_error, -errno, "%s: cannot open: %m", a->shared_dir);
        r = open_dir_below(a, sfd, shared, &shfd);
        if (r < 0)
                return error_set(ret_error, r, "%s/%s: cannot make the shared directory: %s",
                                 a->shared_dir, shared, strerror(-r));

        slash = strrchr(parent, '/');
        if (slash) {
                *slash = 0;
                base = in_release + (slash - parent) + 1;
                r = open_dir_below(a, release_fd, parent, &pfd);
        } else {
                base = in_release;
                pfd = fcntl(release_fd, F_DUPFD_CLOEXEC, 3);
                r = pfd < 0 ? -errno : 0;
        }
        if (r < 0)
                return error_set(ret_error, r, "%s/%s: %s", release, parent,
                                 r == -ENOTDIR ? "not a directory (or a symlink) in the release"
                                               : strerror(-r));

        if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) >= 0) {
                if (S_ISDIR(st.st_mode)) {
                        _cleanup_free_ char *p = strf("/proc/self/fd/%d/%s", pfd, base);

                        r = p ? rm_rf(p) : -ENOMEM;
                } else
                        r = unlinkat(pfd, base, 0) < 0 ? -errno : 0;
                if (r < 0)
                        return error_set(ret_error, r, "%s/%s: cannot replace: %s", release,
                                         in_release, strerror(-r));
        }
        target = strf("%s/%s", a->shared_dir, shared);
        if (!target)
                return -ENOMEM;
        if (symlinkat(target, pfd, base) < 0 ||
            fchownat(pfd, base, a->uid, a->gid, AT_SYMLINK_NOFOLLOW) < 0)
                return error_set(ret_error, -errno, "%s/%s: cannot link to %s: %m", release,
                                 in_release, target);
        return 0;
}

int release_link_shared(AppReleases *a, const char *name, json_object *symlinks,
                        char **ret_error) {
        _cleanup_json_ json_object *map = json_tokener_parse(RELEASE_DEFAULT_SYMLINKS);
        _cleanup_free_ char *release = release_path(a, name);
        _cleanup_close_ int rfd = -1;
        int r;

        if (!map || !release)
                return -ENOMEM;
        if (symlinks && !json_object_is_type(symlinks, json_type_object))
                return error_set(ret_error, -EINVAL, "symlinks: expected a mapping of shared "
                                                     "paths to paths in the release");
        if (symlinks) {
                json_object_object_foreach (symlinks, key, value) {
                        const char *v = json_object_is_type(value, json_type_string)
                                                ? json_object_get_string(value)
                                                : NULL;

                        if (!relative_path_valid(key) || !relative_path_valid(v))
                                return error_set(ret_error, -EINVAL,
                                                 "symlinks: '%s': expected a relative path under "
                                                 "shared/ mapped to a relative path in the "
                                                 "release (no '..')",
                                                 key);
                        json_object_object_add(map, key, json_object_get(value));
                }
        }

        rfd = open(release, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (rfd < 0)
                return error_set(ret_error, -errno, "%s: cannot open: %m", release);
        json_object_object_foreach (map, shared, in_release) {
                r = link_one(a, rfd, release, shared, json_object_get_string(in_release),
                             ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}

int release_activate(AppReleases *a, const char *name, json_object *entry, char **ret_error) {
        _cleanup_free_ char *deployed_at = format_timestamp(now_usec(CLOCK_REALTIME));
        _cleanup_free_ char *previous = a->current ? strdup(a->current) : NULL;
        json_object *e = json_object_new_object();
        size_t idx;
        int r;

        if (!e || !deployed_at || (a->current && !previous)) {
                json_object_put(e);
                return -ENOMEM;
        }
        if (entry) {
                json_object_object_foreach (entry, key, value)
                        json_object_object_add(e, key, json_object_get(value));
        }
        json_object_object_add(e, "name", json_object_new_string(name));
        json_object_object_add(e, "deployed_at", json_object_new_string(deployed_at));
        if (json_object_array_add(releases(a), e) < 0) {
                json_object_put(e);
                return -ENOMEM;
        }
        idx = release_count(a) - 1;

        /* In the ledger before `current` moves: a crash in between leaves an entry newer than
         * `current`, which the next cleanup removes. */
        free(a->current);
        a->current = strdup(name);
        if (!a->current)
                return -ENOMEM;
        r = ledger_write(a, WRITE_SYNC, ret_error);
        if (r >= 0)
                r = switch_current(a, name, ret_error);
        if (r < 0) {
                free(a->current);
                a->current = TAKE_PTR(previous);
                json_object_array_del_idx(releases(a), idx, 1);
                (void) ledger_write(a, 0, NULL);
        }
        return r;
}

int release_discard(AppReleases *a, const char *name) {
        return remove_release_dir(a, name);
}

int release_rollback(AppReleases *a, char **ret_from, char **ret_to, char **ret_error) {
        _cleanup_free_ char *from = a->current ? strdup(a->current) : NULL, *to = NULL;
        ssize_t ci = ledger_find(a, a->current);
        int r;

        if (a->current && !from)
                return -ENOMEM;
        if (ci <= 0) {
                *ret_from = TAKE_PTR(from);
                *ret_to = NULL;
                return 1;
        }
        to = strdup(entry_name(a, (size_t) ci - 1));
        if (!to)
                return -ENOMEM;
        r = switch_current(a, to, ret_error);
        if (r < 0)
                return r;
        /* `current` has moved; a crash from here on leaves the abandoned release newer than
         * `current`, which the next cleanup removes. */
        json_object_array_del_idx(releases(a), (size_t) ci, release_count(a) - (size_t) ci);
        r = ledger_write(a, 0, ret_error);
        if (r < 0)
                return r;
        r = remove_release_dir(a, from);
        if (r < 0)
                return error_set(ret_error, r, "%s/%s: cannot remove: %s", a->releases_dir, from,
                                 strerror(-r));
        *ret_from = TAKE_PTR(from);
        *ret_to = TAKE_PTR(to);
        return 0;
}

int release_prune(AppReleases *a, unsigned keep, unsigned *ret_removed, char **ret_error) {
        _cleanup_strv_free_ char **gone = calloc(1, sizeof(char *));
        ssize_t ci = ledger_find(a, a->current);
        size_t n = release_count(a), drop;
        int r;

        if (!gone)
                return -ENOMEM;
        keep = MAX(keep, 1U);
        drop = n > keep ? n - keep : 0;
        /* Never the current release, wherever it is in the list. */
        if (ci >= 0 && (size_t) ci < drop)
                drop = (size_t) ci;
        for (size_t i = 0; i < drop; i++)
                if (strv_extend(&gone, entry_name(a, i)) < 0)
                        return -ENOMEM;
        if (drop > 0) {
                /* Synced: an old entry must not come back once its directory is half gone. */
                json_object_array_del_idx(releases(a), 0, drop);
                r = ledger_write(a, WRITE_SYNC, ret_error);
                if (r < 0)
                        return r;
        }
        for (char **g = gone; *g; g++) {
                r = remove_release_dir(a, *g);
                if (r < 0)
                        return error_set(ret_error, r, "%s/%s: cannot remove: %s",
                                         a->releases_dir, *g, strerror(-r));
        }
        if (ret_removed)
                *ret_removed = (unsigned) drop;
        return 0;
}

int release_remove_all(AppReleases *a, char **ret_error) {
        int r;

        /* `current` first: from then on no release is complete, and an interrupted removal is
         * finished by the next cleanup or undeploy. */
        if (unlinkat(a->dir_fd, "current", 0) < 0 && errno != ENOENT)
                return error_set(ret_error, -errno, "%s: cannot remove: %m", a->current_link);
        if (fsync(a->dir_fd) < 0)
                return error_set(ret_error, -errno, "%s: cannot sync: %m", a->deploy_to);
        a->current = mfree(a->current);
        if (unlink(a->ledger_path) < 0 && errno != ENOENT)
                return error_set(ret_error, -errno, "%s: cannot remove: %m", a->ledger_path);
        r = rm_rf(a->deploy_to);
        if (r < 0)
                return error_set(ret_error, r, "%s: cannot remove: %s", a->deploy_to,
                                 strerror(-r));
        return 0;
}
