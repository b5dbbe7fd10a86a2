/* SPDX-License-Identifier: MIT */
/* user: a local account, managed through useradd, usermod and userdel.
 *
 * create: adds the user when missing (useradd, creating the home directory unless manage_home
 * is false); for an existing user changes only what differs: uid, home (moving its content
 * when manage_home), shell and, with `groups`, the exact list of supplementary groups.
 * `ssh_authorized_keys` makes <home>/.ssh/authorized_keys hold exactly those lines (mode 0600,
 * .ssh mode 0700, both owned by the user). `sudo: true` installs the drop-in
 * <sudoers_dir>/strata-<name> ("<name> ALL=(ALL) NOPASSWD:ALL", mode 0440), checked with
 * `visudo -cf` before it is put in place; `sudo: false` removes it. sudo skips drop-ins whose
 * name has a dot, so a dot of the user name becomes '_' in the file name.
 * remove: deletes the user and its sudoers drop-in; the home directory goes too only with
 * manage_home: true, as deleting data is never implied.
 *
 * The home directory belongs to the user, who may have put symbolic links in it: .ssh and
 * authorized_keys are reached through directory fds with O_NOFOLLOW, never by path. */

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include "fs-util.h"
#include "resource.h"
#include "spawn-program.h"
#include "str-util.h"

#define SUDOERS_DEFAULT_DIR "/etc/sudoers.d"
#define SUDOERS_MODE 0440
#define SSH_DIR_MODE 0700
#define KEYS_MODE 0600
/* A larger existing file is simply replaced. */
#define KEYS_MAX (1024U * 1024U)
#define SUDOERS_MAX (64U * 1024U)

/* Writes a new file `name` in dirfd with its final owner and mode, synced, for the caller to
 * rename into place. Whatever had that name goes first. */
static int write_temp_at(int dirfd, const char *name, const char *content, mode_t mode,
                         uid_t uid, gid_t gid) {
        _cleanup_close_ int fd = -1;
        int k;

        if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
                return -errno;
        fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;

        k = write_temp_file(fd, content, strlen(content), mode, uid, gid, WRITE_SYNC);
        if (k < 0)
                (void) unlinkat(dirfd, name, 0);
        return k;
}

static int rename_into_place(int dirfd, const char *temp, const char *name) {
        if (renameat(dirfd, temp, dirfd, name) < 0) {
                int k = -errno;

                (void) unlinkat(dirfd, temp, 0);
                return k;
        }
        (void) fsync(dirfd);
        return 0;
}

/* The content of a regular file `name` in dirfd (NULL when missing, not a regular file or past
 * max) and an fd on it (-1 when missing) to fix its attributes through. */
static int read_at(int dirfd, const char *name, size_t max, char **ret, int *ret_fd) {
        _cleanup_close_ int fd = -1;
        char *content = NULL;
        struct stat st;
        int k;

        /* O_NONBLOCK: a FIFO planted there must not hang the run. */
        fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0 && errno != ENOENT && errno != ELOOP)
                return -errno;
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                *ret = NULL;
                *ret_fd = -1;
                return 0;
        }

        k = read_full_fd(fd, max, &content, NULL);
        if (k < 0 && k != -EFBIG)
                return k;
        *ret = content; /* NULL past max */
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* Owner and mode of an open file or directory; `what` names it in changes and errors. */
static int fix_attributes(Resource *r, int fd, const char *what, mode_t mode, uid_t uid,
                          gid_t gid) {
        struct stat st;
        int changed = 0;

        if (fstat(fd, &st) < 0)
                return resource_fail(r, -errno, "cannot stat %s: %m", what);
        if (st.st_uid != uid || st.st_gid != gid) {
                if (resource_change(r, "change the owner of %s to %u:%u", what, (unsigned) uid,
                                    (unsigned) gid) &&
                    fchown(fd, uid, gid) < 0)
                        return resource_fail(r, -errno, "cannot change the owner of %s: %m",
                                             what);
                changed = 1;
        }
        if ((st.st_mode & 07777) != mode) {
                if (resource_change(r, "change the mode of %s from %04o to %04o", what,
                                    (unsigned) (st.st_mode & 07777), (unsigned) mode) &&
                    fchmod(fd, mode) < 0)
                        return resource_fail(r, -errno, "cannot change the mode of %s: %m", what);
                changed = 1;
        }
        return changed;
}

static int ssh_keys_content(Resource *r, char **ret) {
        _cleanup_strv_free_ char **keys = resource_strv(r, "ssh_authorized_keys");
        _cleanup_free_ char *joined = NULL;

        if (!keys)
                return -ENOMEM;
        joined = strv_join(keys, "\n");
        if (!joined)
                return -ENOMEM;
        *ret = strf("%s\n", joined);
        return *ret ? 0 : -ENOMEM;
}

static int ssh_keys_ensure(Resource *r, const char *home, uid_t uid, gid_t gid) {
        _cleanup_free_ char *content = NULL, *old = NULL, *ssh = NULL, *keys = NULL;
        _cleanup_close_ int home_fd = -1, ssh_fd = -1, keys_fd = -1;
        int k, changed = 0;

        ssh = strf("%s/.ssh", home);
        keys = strf("%s/.ssh/authorized_keys", home);
        if (!ssh || !keys || ssh_keys_content(r, &content) < 0)
                return resource_fail(r, -ENOMEM, "out of memory");

        home_fd = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (home_fd < 0)
                return resource_fail(r, -errno, "cannot open the home directory %s: %m", home);

        ssh_fd = openat(home_fd, ".ssh", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (ssh_fd < 0 && errno == ENOENT) {
                if (!resource_change(r, "create %s", ssh)) {
                        resource_change(r, "write %s", keys);
                        return 1;
                }
                if (mkdirat(home_fd, ".ssh", SSH_DIR_MODE) < 0)
                        return resource_fail(r, -errno, "cannot create %s: %m", ssh);
                ssh_fd = openat(home_fd, ".ssh", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                changed = 1;
        }
        if (ssh_fd < 0)
                return resource_fail(r, -errno, "cannot open %s (it must be a directory, not a "
                                                "symbolic link): %m",
                                     ssh);
        k = fix_attributes(r, ssh_fd, ssh, SSH_DIR_MODE, uid, gid);
        if (k < 0)
                return k;
        changed |= k;

        k = read_at(ssh_fd, "authorized_keys", KEYS_MAX, &old, &keys_fd);
        if (k < 0)
                return resource_fail(r, k, "cannot read %s: %s", keys, strerror(-k));
        if (old && streq(old, content)) {
                k = fix_attributes(r, keys_fd, keys, KEYS_MODE, uid, gid);
                return k < 0 ? k : changed | k;
        }

        if (!resource_change(r, "write %s", keys))
                return 1;
        k = write_temp_at(ssh_fd, ".authorized_keys.strata-new", content, KEYS_MODE, uid, gid);
        if (k >= 0)
                k = rename_into_place(ssh_fd, ".authorized_keys.strata-new", "authorized_keys");
        if (k < 0)
                return resource_fail(r, k, "cannot write %s: %s", keys, strerror(-k));
        return 1;
}

static int sudoers_file_name(const char *user, char **ret) {
        char *f = strf("strata-%s", user);

        if (!f)
                return -ENOMEM;
        for (char *p = f; *p; p++)
                if (*p == '.')
                        *p = '_';
        *ret = f;
        return 0;
}

/* Installs the sudoers drop-in only once visudo accepts it: a broken drop-in would lock
 * everyone out of sudo. */
static int sudoers_install(Resource *r, int dir_fd, const char *dir, const char *file,
                           const char *content) {
        _cleanup_free_ char *temp = NULL, *temp_path = NULL, *error = NULL;
        int k;

        /* A leading dot: sudo ignores the file while it is being checked. */
        temp = strf(".%s.strata-new", file);
        temp_path = strf("%s/%s", dir, temp);
        if (!temp || !temp_path)
                return resource_fail(r, -ENOMEM, "out of memory");

        k = write_temp_at(dir_fd, temp, content, SUDOERS_MODE, 0, 0);
        if (k < 0)
                return resource_fail(r, k, "cannot write %s: %s", temp_path, strerror(-k));

        k = spawn_program_checked((char *[]){ (char *) "visudo", (char *) "-cf", temp_path, NULL },
                                  NULL, NULL, &error);
        if (k < 0) {
                (void) unlinkat(dir_fd, temp, 0);
                return resource_fail(r, k, "the sudoers drop-in %s/%s was refused: %s", dir, file,
                                     strempty(error));
        }

        k = rename_into_place(dir_fd, temp, file);
        if (k < 0)
                return resource_fail(r, k, "cannot install %s/%s: %s", dir, file, strerror(-k));
        return 1;
}

static int sudoers_ensure(Resource *r, const char *user, bool want) {
        const char *dir = r->cfg->sudoers_dir ?: SUDOERS_DEFAULT_DIR;
        _cleanup_free_ char *file = NULL, *path = NULL, *content = NULL, *old = NULL;
        _cleanup_close_ int dir_fd = -1, fd = -1;
        int k;

        if (sudoers_file_name(user, &file) < 0)
                return resource_fail(r, -ENOMEM, "out of memory");
        path = strf("%s/%s", dir, file);
        content = strf("%s ALL=(ALL) NOPASSWD:ALL\n", user);
        if (!path || !content)
                return resource_fail(r, -ENOMEM, "out of memory");

        dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0) {
                if (errno == ENOENT && !want)
                        return 0;
                return resource_fail(r, -errno, "cannot open the sudoers directory %s: %m", dir);
        }

        if (!want) {
                if (faccessat(dir_fd, file, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT)
                                return 0;
                        return resource_fail(r, -errno, "cannot access %s: %m", path);
                }
                if (!resource_change(r, "remove %s", path))
                        return 1;
                if (unlinkat(dir_fd, file, 0) < 0)
                        return resource_fail(r, -errno, "cannot remove %s: %m", path);
                return 1;
        }

        k = read_at(dir_fd, file, SUDOERS_MAX, &old, &fd);
        if (k < 0)
                return resource_fail(r, k, "cannot read %s: %s", path, strerror(-k));
        if (old && streq(old, content))
                return fix_attributes(r, fd, path, SUDOERS_MODE, 0, 0);

        if (!resource_change(r, "write %s", path))
                return 1;
        return sudoers_install(r, dir_fd, dir, file, content);
}

/* The supplementary groups of a user (its primary group left out), as gids. */
static int current_groups(const char *name, gid_t primary, gid_t **ret, int *ret_n) {
        _cleanup_free_ gid_t *groups = NULL;
        int n = 32, have;

        for (;;) {
                gid_t *g = reallocarray(groups, (size_t) n, sizeof(gid_t));

                if (!g)
                        return -ENOMEM;
                groups = g;
                have = n;
                if (getgrouplist(name, primary, groups, &have) >= 0)
                        break;
                if (have <= n)
                        return -EIO;
                n = have;
        }

        n = 0;
        for (int i = 0; i < have; i++)
                if (groups[i] != primary)
                        groups[n++] = groups[i];
        *ret = TAKE_PTR(groups);
        *ret_n = n;
        return 0;
}

static bool gid_in(const gid_t *l, int n, gid_t g) {
        for (int i = 0; i < n; i++)
                if (l[i] == g)
                        return true;
        return false;
}

/* Whether the user's supplementary groups differ from `want`; a group that does not exist (yet)
 * is a difference, which usermod then reports. *ret_was names the current ones. */
static int groups_differ(const char *name, gid_t primary, char **want, bool *ret,
                         char **ret_was) {
        _cleanup_strv_free_ char **was = NULL;
        _cleanup_free_ gid_t *have = NULL;
        int n, k, matched = 0;
        bool differ = false;

        k = current_groups(name, primary, &have, &n);
        if (k < 0)
                return k;

        for (char **w = want; *w; w++) {
                struct group *gr = getgrnam(*w);

                if (!gr || (gr->gr_gid != primary && !gid_in(have, n, gr->gr_gid)))
                        differ = true;
        }
        for (int i = 0; i < n; i++) {
                struct group *gr = getgrgid(have[i]);
                const char *g = gr ? gr->gr_name : NULL;
                _cleanup_free_ char *number = NULL;

                if (!g) {
                        number = strf("%u", (unsigned) have[i]);
                        if (!number)
                                return -ENOMEM;
                        g = number;
                }
                if (strv_contains(want, g))
                        matched++;
                else
                        differ = true;
                if (strv_extend(&was, g) < 0)
                        return -ENOMEM;
        }

        *ret_was = strv_join(was, ",");
        if (!*ret_was)
                return -ENOMEM;
        *ret = differ || matched != n;
        return 0;
}

static int user_add(Resource *r, const char *name) {
        const char *home = resource_str(r, "home"), *shell = resource_str(r, "shell");
        _cleanup_strv_free_ char **groups = resource_strv(r, "groups");
        _cleanup_free_ char *uid = NULL, *group_list = NULL;
        const char *argv[16];
        size_t n = 0;
        int k;

        if (!groups)
                return resource_fail(r, -ENOMEM, "out of memory");
        if (!resource_change(r, "create user %s", name))
                return 1;

        argv[n++] = "useradd";
        if (resource_get(r, "uid")) {
                uid = strf("%" PRId64, resource_int(r, "uid", 0));
                if (!uid)
                        return resource_fail(r, -ENOMEM, "out of memory");
                argv[n++] = "-u";
                argv[n++] = uid;
        }
        if (home) {
                argv[n++] = "-d";
                argv[n++] = home;
        }
        if (shell) {
                argv[n++] = "-s";
                argv[n++] = shell;
        }
        if (groups[0]) {
                group_list = strv_join(groups, ",");
                if (!group_list)
                        return resource_fail(r, -ENOMEM, "out of memory");
                argv[n++] = "-G";
                argv[n++] = group_list;
        }
        argv[n++] = resource_bool(r, "manage_home", true) ? "-m" : "-M";
        argv[n++] = "--";
        argv[n++] = name;
        argv[n] = NULL;

        k = resource_run_program(r, argv, NULL, NULL);
        return k < 0 ? k : 1;
}

/* usermod with every option whose value differs; 0 when nothing does. */
static int user_modify(Resource *r, const char *name, const struct passwd *pw) {
        const char *home = resource_str(r, "home"), *shell = resource_str(r, "shell");
        _cleanup_strv_free_ char **groups = resource_strv(r, "groups");
        _cleanup_free_ char *uid = NULL, *group_list = NULL, *was = NULL;
        const char *argv[16];
        bool go = true, differ = false;
        size_t n = 0;
        int k;

        if (!groups)
                return resource_fail(r, -ENOMEM, "out of memory");
        argv[n++] = "usermod";

        if (resource_get(r, "uid") && (int64_t) pw->pw_uid != resource_int(r, "uid", 0)) {
                uid = strf("%" PRId64, resource_int(r, "uid", 0));
                if (!uid)
                        return resource_fail(r, -ENOMEM, "out of memory");
                go = resource_change(r, "change the uid of %s from %u to %s", name,
                                     (unsigned) pw->pw_uid, uid);
                argv[n++] = "-u";
                argv[n++] = uid;
        }
        if (home && !streq(home, pw->pw_dir)) {
                go = resource_change(r, "change the home of %s from %s to %s", name, pw->pw_dir,
                                     home);
                argv[n++] = "-d";
                argv[n++] = home;
                if (resource_bool(r, "manage_home", true))
                        argv[n++] = "-m";
        }
        if (shell && !streq(shell, pw->pw_shell)) {
                go = resource_change(r, "change the shell of %s from %s to %s", name,
                                     pw->pw_shell, shell);
                argv[n++] = "-s";
                argv[n++] = shell;
        }
        if (resource_get(r, "groups")) {
                k = groups_differ(name, pw->pw_gid, groups, &differ, &was);
                if (k < 0)
                        return resource_fail(r, k, "cannot read the groups of %s: %s", name,
                                             strerror(-k));
                if (differ) {
                        group_list = strv_join(groups, ",");
                        if (!group_list)
                                return resource_fail(r, -ENOMEM, "out of memory");
                        go = resource_change(r,
                                             "set the supplementary groups of %s to '%s' (were "
                                             "'%s')",
                                             name, group_list, was);
                        argv[n++] = "-G";
                        argv[n++] = group_list;
                }
        }

        if (n == 1)
                return 0;
        if (!go)
                return 1;
        argv[n++] = "--";
        argv[n++] = name;
        argv[n] = NULL;
        k = resource_run_program(r, argv, NULL, NULL);
        return k < 0 ? k : 1;
}

static int user_create(Resource *r, const char *name) {
        struct passwd *pw;
        int k, changed;

        pw = getpwnam(name);
        changed = pw ? user_modify(r, name, pw) : user_add(r, name);
        if (changed < 0)
                return changed;

        if (resource_get(r, "ssh_authorized_keys")) {
                /* Again: useradd or usermod may have just made or changed the account. */
                pw = getpwnam(name);
                if (pw) {
                        _cleanup_free_ char *home = strdup(pw->pw_dir);

                        if (!home)
                                return resource_fail(r, -ENOMEM, "out of memory");
                        k = ssh_keys_ensure(r, home, pw->pw_uid, pw->pw_gid);
                        if (k < 0)
                                return k;
                        changed |= k;
                } else if (r->cfg->why_run)
                        resource_change(r, "install the authorized ssh keys of %s", name);
                else
                        return resource_fail(r, -ENOENT, "user %s does not exist after useradd",
                                             name);
        }

        if (resource_get(r, "sudo")) {
                k = sudoers_ensure(r, name, resource_bool(r, "sudo", false));
                if (k < 0)
                        return k;
                changed |= k;
        }
        return changed;
}

static int user_remove(Resource *r, const char *name) {
        int k, changed = 0;

        if (getpwnam(name)) {
                if (resource_change(r, "remove user %s", name)) {
                        if (resource_bool(r, "manage_home", false))
                                k = resource_run_program(
                                        r, (const char *[]){"userdel", "-r", "--", name, NULL},
                                        NULL, NULL);
                        else
                                k = resource_run_program(
                                        r, (const char *[]){"userdel", "--", name, NULL}, NULL,
                                        NULL);
                        if (k < 0)
                                return k;
                }
                changed = 1;
        }

        k = sudoers_ensure(r, name, false);
        if (k < 0)
                return k;
        return changed | k;
}

static int user_apply(Resource *r, const char *action) {
        const char *name = resource_str(r, "name");

        if (streq(action, "remove"))
                return user_remove(r, name);
        return user_create(r, name);
}

/* passwd fields are ':'-separated lines. */
static bool valid_passwd_path(const char *s) {
        return s[0] == '/' && !strpbrk(s, ":\r\n");
}

static int user_check(Resource *r, char **ret_error) {
        _cleanup_strv_free_ char **groups = resource_strv(r, "groups");
        _cleanup_strv_free_ char **keys = resource_strv(r, "ssh_authorized_keys");
        const char *name = resource_str(r, "name");
        const char *home = resource_str(r, "home"), *shell = resource_str(r, "shell");
        int64_t uid = resource_int(r, "uid", 0);

        if (!groups || !keys)
                return -ENOMEM;
        if (!valid_user_group_name(name))
                return error_set(ret_error, -EINVAL, "name '%s' is not a valid user name (%s)",
                                 name, USER_GROUP_NAME_RULE);
        if (uid < 0 || uid >= (int64_t) UINT32_MAX)
                return error_set(ret_error, -EINVAL, "uid %" PRId64 " is out of range", uid);
        if (home && !valid_passwd_path(home))
                return error_set(ret_error, -EINVAL,
                                 "home '%s' must be an absolute path without ':'", home);
        if (shell && !valid_passwd_path(shell))
                return error_set(ret_error, -EINVAL,
                                 "shell '%s' must be an absolute path without ':'", shell);
        for (char **g = groups; *g; g++)
                if (!valid_user_group_name(*g))
                        return error_set(ret_error, -EINVAL,
                                         "groups: '%s' is not a valid group name (%s)", *g,
                                         USER_GROUP_NAME_RULE);
        for (char **k = keys; *k; k++)
                if (!**k || strpbrk(*k, "\r\n"))
                        return error_set(ret_error, -EINVAL,
                                         "ssh_authorized_keys: each key must be one non-empty "
                                         "line");
        return 0;
}

static const char *const user_actions[] = { "create", "remove", NULL };

static const PropSpec user_properties[] = {
        { "name", PROP_STRING, true },
        { "uid", PROP_INT },
        { "home", PROP_STRING },
        { "shell", PROP_STRING },
        { "groups", PROP_STRING_LIST },
        { "ssh_authorized_keys", PROP_STRING_LIST },
        { "sudo", PROP_BOOL },
        { "manage_home", PROP_BOOL },
        { NULL },
};

const ResourceType resource_type_user = {
        .name = "user",
        .actions = user_actions,
        .properties = user_properties,
        .identity = "name",
        .check = user_check,
        .apply = user_apply,
};
