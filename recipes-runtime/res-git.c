/* SPDX-License-Identifier: MIT */
/* git: a checkout of `repository` at `revision` in `path`.
 *
 * sync: clones when path is missing (or an empty directory), else fetches and checks out when
 * the checked-out commit is not the one the revision names now. The revision is a branch, a
 * tag or a commit id (default: the remote's HEAD); the checkout is always a detached HEAD at
 * that commit. Reports a change only when the checked-out commit changes.
 *
 * Git runs as the step user (`user`, else the run's run_as), unprivileged, through the step
 * runner: a repository is untrusted input. path itself is created by us, as root, and handed
 * to that user (and `group`) before git fills it; missing parents are created root-owned.
 *
 * What the revision names is asked of the repository with ls-remote, which changes nothing
 * locally, so why-run can tell whether a sync would change the checkout. Fetches go to
 * `repository` itself, not to whatever origin the checkout was cloned from. */

#include <dirent.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "fs-util.h"
#include "resource.h"
#include "step-runner.h"
#include "str-util.h"

#define GIT_ARGS_MAX 16
#define GIT_PARENT_MODE 0755
#define GIT_DIR_MODE 0755

/* Runs git with the given arguments (NULL-terminated) as the step user in cwd; on success,
 * *ret_output (when asked for) gets its output. */
/* No prompt for credentials: there is nobody to answer it. */
#define GIT_ENVIRONMENT ((char *[]){ (char *) "GIT_TERMINAL_PROMPT=0", NULL })

static int git(Resource *r, const char *cwd, char **ret_output, ...) {
        _cleanup_(step_result_done) StepResult result = {};
        _cleanup_free_ char *command = NULL;
        char *argv[GIT_ARGS_MAX + 4] = { (char *) "git", (char *) "-c",
                                         (char *) "advice.detachedHead=false" };
        size_t n = 3;
        va_list ap;
        int k;

        va_start(ap, ret_output);
        for (const char *a; n < GIT_ARGS_MAX + 3 && (a = va_arg(ap, const char *));)
                argv[n++] = (char *) a;
        va_end(ap);
        argv[n] = NULL;

        k = resource_run_step(r, argv, cwd, GIT_ENVIRONMENT, &result);
        if (k < 0)
                return k;

        command = strv_join(argv + 3, " ");
        if (!command)
                return resource_fail(r, -ENOMEM, "out of memory");
        if (result.timed_out)
                return resource_fail(r, -ETIME, "git %s timed out", command);
        if (result.exit_status != 0) {
                size_t len = strlen(strempty(result.output));

                while (len > 0 && strchr(" \t\r\n", result.output[len - 1]))
                        len--;
                return resource_fail(r, -EPROTO, "git %s failed with exit status %d: %.*s",
                                     command, result.exit_status, (int) len,
                                     strempty(result.output));
        }

        if (ret_output) {
                *ret_output = result.output ? TAKE_PTR(result.output) : strdup("");
                if (!*ret_output)
                        return resource_fail(r, -ENOMEM, "out of memory");
        }
        return 0;
}

/* A full object id: 40 (SHA-1) or 64 (SHA-256) hex digits. */
static bool is_object_id(const char *s, size_t n) {
        if (n != 40 && n != 64)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!strchr("0123456789abcdef", s[i]))
                        return false;
        return true;
}

static bool is_hex(const char *s) {
        return *s && s[strspn(s, "0123456789abcdef")] == 0;
}

/* The first line of output that is an object id, as a string; NULL if none. */
static char *first_object_id(const char *output) {
        for (const char *line = output; line && *line;) {
                size_t n = strcspn(line, "\r\n");

                if (is_object_id(line, n))
                        return strndup(line, n);
                line = strchr(line, '\n');
                if (line)
                        line++;
        }
        return NULL;
}

/* The commit `ref` names in ls-remote output ("<id>\t<ref>" lines); NULL if absent. */
static char *ls_remote_find(const char *output, const char *ref) {
        size_t k = strlen(ref);

        for (const char *line = output; line && *line;) {
                const char *tab = strchr(line, '\t');
                size_t n = strcspn(line, "\r\n");

                if (tab && tab < line + n && is_object_id(line, (size_t) (tab - line)) &&
                    (size_t) (line + n - tab - 1) == k && strncmp(tab + 1, ref, k) == 0)
                        return strndup(line, (size_t) (tab - line));
                line = strchr(line, '\n');
                if (line)
                        line++;
        }
        return NULL;
}

/* The commit the revision names in the repository now. *ret is NULL (and 0 returned) for an
 * abbreviated commit id, which only a local repository can resolve. */
static int revision_commit(Resource *r, const char *repository, const char *revision,
                           char **ret) {
        _cleanup_free_ char *output = NULL, *heads = NULL, *tags = NULL, *peeled = NULL;
        const char *candidates[4] = {};
        int k;

        if (revision && is_object_id(revision, strlen(revision))) {
                *ret = strdup(revision);
                return *ret ? 0 : resource_fail(r, -ENOMEM, "out of memory");
        }

        k = git(r, "/", &output, "ls-remote", repository, NULL);
        if (k < 0)
                return k;

        if (!revision)
                candidates[0] = "HEAD";
        else {
                heads = strf("refs/heads/%s", revision);
                peeled = strf("refs/tags/%s^{}", revision);
                tags = strf("refs/tags/%s", revision);
                if (!heads || !peeled || !tags)
                        return resource_fail(r, -ENOMEM, "out of memory");
                /* git's own order: a full ref name, a tag, a branch. An annotated tag names
                 * its tag object: the peeled line holds the commit. */
                candidates[0] = revision;
                candidates[1] = peeled;
                candidates[2] = tags;
                candidates[3] = heads;
        }

        for (size_t i = 0; i < ELEMENTSOF(candidates) && candidates[i]; i++) {
                *ret = ls_remote_find(output, candidates[i]);
                if (*ret)
                        return 0;
        }
        if (revision && is_hex(revision) && strlen(revision) >= 4) {
                *ret = NULL;
                return 0;
        }
        return resource_fail(r, -ENOENT, "%s names no branch or tag of %s", revision ?: "HEAD",
                             repository);
}

/* The commit `what` names in the checkout at path; NULL when it names none. */
static int local_commit(Resource *r, const char *path, const char *what, char **ret) {
        _cleanup_free_ char *spec = NULL, *output = NULL;
        _cleanup_(step_result_done) StepResult result = {};
        char *argv[] = { (char *) "git", (char *) "rev-parse", (char *) "--verify", (char *) "-q",
                         NULL, NULL };
        int k;

        spec = strf("%s^{commit}", what);
        if (!spec)
                return resource_fail(r, -ENOMEM, "out of memory");
        argv[4] = spec;
        /* Not git(): a revision that is not there is an answer here, not a failure. */
        k = resource_run_step(r, argv, path, GIT_ENVIRONMENT, &result);
        if (k < 0)
                return k;
        *ret = result.exit_status == 0 ? first_object_id(strempty(result.output)) : NULL;
        return 0;
}

static int checkout(Resource *r, const char *path, const char *repository, const char *revision,
                    const char *commit) {
        _cleanup_free_ char *resolved = NULL;
        int k;

        if (!commit) {
                k = local_commit(r, path, revision, &resolved);
                if (k < 0)
                        return k;
                if (!resolved)
                        return resource_fail(r, -ENOENT, "%s names no commit of %s", revision,
                                             repository);
                commit = resolved;
        }
        return git(r, path, NULL, "checkout", "--quiet", "--detach", commit, NULL);
}

/* "main (1a2b...)", or just the one when there is nothing to add. */
static char *describe(const char *revision, const char *commit) {
        revision = revision ?: "HEAD";
        if (!commit || streq(revision, commit))
                return strdup(revision);
        return strf("%s (%s)", revision, commit);
}

/* Creates path (and root-owned parents) for the step user, then clones into it. */
static int git_clone(Resource *r, const char *path, const char *repository, const char *revision,
                     const char *commit, uid_t uid, gid_t gid) {
        _cleanup_free_ char *parent = NULL, *what = describe(revision, commit);
        const char *slash;
        int k;

        if (!what)
                return resource_fail(r, -ENOMEM, "out of memory");
        if (!resource_change(r, "clone %s into %s at %s", repository, path, what))
                return 1;

        slash = strrchr(path, '/');
        parent = strndup(path, (size_t) (slash - path));
        if (!parent)
                return resource_fail(r, -ENOMEM, "out of memory");
        if (*parent) {
                k = mkdir_parents(parent, GIT_PARENT_MODE);
                if (k < 0)
                        return resource_fail(r, k, "cannot create %s: %s", parent, strerror(-k));
        }
        if (mkdir(path, GIT_DIR_MODE) < 0 && errno != EEXIST)
                return resource_fail(r, -errno, "cannot create %s: %m", path);
        if (chown(path, uid, gid) < 0)
                return resource_fail(r, -errno, "cannot hand %s to its owner: %m", path);

        k = git(r, "/", NULL, "clone", "--quiet", "--no-checkout", "--", repository, path, NULL);
        if (k < 0)
                return k;
        k = checkout(r, path, repository, revision, commit);
        return k < 0 ? k : 1;
}

static int git_update(Resource *r, const char *path, const char *repository, const char *revision,
                      const char *commit) {
        _cleanup_free_ char *current = NULL, *wanted = NULL, *what = NULL;
        int k;

        k = local_commit(r, path, "HEAD", &current);
        if (k < 0)
                return k;
        /* An abbreviated id may already be here; if not, only a fetch can tell. */
        if (!commit) {
                k = local_commit(r, path, revision, &wanted);
                if (k < 0)
                        return k;
                commit = wanted;
        }
        if (commit && streq_ptr(current, commit))
                return 0;

        what = describe(revision, commit);
        if (!what)
                return resource_fail(r, -ENOMEM, "out of memory");
        if (!resource_change(r, "check out %s in %s (was %s)", what, path, current ?: "no commit"))
                return 1;

        k = git(r, path, NULL, "fetch", "--quiet", "--tags", "--", repository,
                "+refs/heads/*:refs/remotes/origin/*", NULL);
        if (k < 0)
                return k;
        k = checkout(r, path, repository, revision, commit);
        return k < 0 ? k : 1;
}

/* 1 for an empty directory, 0 for one with entries, < 0 when it cannot be read. */
static int dir_is_empty(const char *path) {
        DIR *d = opendir(path);
        struct dirent *e;
        int empty = 1;

        if (!d)
                return -errno;
        while ((e = readdir(d)))
                if (!streq(e->d_name, ".") && !streq(e->d_name, "..")) {
                        empty = 0;
                        break;
                }
        closedir(d);
        return empty;
}

static int git_apply(Resource *r, const char *action) {
        const char *path = resource_str(r, "path"), *repository = resource_str(r, "repository");
        const char *revision = resource_str(r, "revision"), *group = resource_str(r, "group");
        const char *user = resource_str(r, "user") ?: r->cfg->run_as ?: RUNTIME_DEFAULT_USER;
        _cleanup_free_ char *commit = NULL, *dotgit = NULL;
        struct stat st;
        uid_t uid;
        gid_t gid;
        int k;

        (void) action; /* sync is the only one */
        k = resolve_user(user, &uid, &gid);
        if (k < 0)
                return resource_fail(r, k, "user '%s' does not exist", user);
        if (group && resolve_group(group, &gid) < 0)
                return resource_fail(r, -ENOENT, "group '%s' does not exist", group);

        k = revision_commit(r, repository, revision, &commit);
        if (k < 0)
                return k;

        if (lstat(path, &st) < 0) {
                if (errno != ENOENT)
                        return resource_fail(r, -errno, "cannot stat %s: %m", path);
                return git_clone(r, path, repository, revision, commit, uid, gid);
        }
        if (!S_ISDIR(st.st_mode))
                return resource_fail(r, -ENOTDIR, "%s exists and is not a directory", path);

        dotgit = strf("%s/.git", path);
        if (!dotgit)
                return resource_fail(r, -ENOMEM, "out of memory");
        if (access(dotgit, F_OK) == 0)
                return git_update(r, path, repository, revision, commit);

        k = dir_is_empty(path);
        if (k < 0)
                return resource_fail(r, k, "cannot read %s: %s", path, strerror(-k));
        if (k == 0)
                return resource_fail(r, -EEXIST,
                                     "%s exists and is neither empty nor a git checkout", path);
        return git_clone(r, path, repository, revision, commit, uid, gid);
}

static bool valid_argument(const char *s) {
        return *s && s[0] != '-' && !strpbrk(s, " \t\r\n");
}

static int git_check(Resource *r, char **ret_error) {
        const char *path = resource_str(r, "path"), *repository = resource_str(r, "repository");
        const char *revision = resource_str(r, "revision");
        const char *colon = strchr(repository, ':'), *slash = strchr(repository, '/');

        if (path[0] != '/' || streq(path, "/") || endswith(path, "/") || strstr(path, "//"))
                return error_set(ret_error, -EINVAL,
                                 "path '%s' must be an absolute path below / without a trailing "
                                 "or doubled slash",
                                 path);
        /* A URL, "host:path" (scp syntax) or an absolute path: a relative one would depend on
         * the directory git happens to run in. */
        if (!valid_argument(repository) ||
            !(strstr(repository, "://") || (colon && (!slash || colon < slash)) ||
              repository[0] == '/'))
                return error_set(ret_error, -EINVAL,
                                 "repository '%s' must be a URL, host:path or an absolute path",
                                 repository);
        if (revision && (!valid_argument(revision) || strstr(revision, "..")))
                return error_set(ret_error, -EINVAL,
                                 "revision '%s' must be a branch, tag or commit id", revision);
        return 0;
}

static const char *const git_actions[] = { "sync", NULL };

/* `user` (who runs git and owns the checkout) is the engine's common property. */
static const PropSpec git_properties[] = {
        { "path", PROP_STRING, true },
        { "repository", PROP_STRING, true },
        { "revision", PROP_STRING },
        { "group", PROP_STRING },
        { NULL },
};

const ResourceType resource_type_git = {
        .name = "git",
        .actions = git_actions,
        .properties = git_properties,
        .identity = "path",
        .check = git_check,
        .apply = git_apply,
};
