/* SPDX-License-Identifier: MIT */
/* Git sources through the `git` program, each call an argv vector (spawn-program.h: clean
 * environment, no shell).
 *
 * The mirror is cloned under a temporary name and renamed into place, so a clone cut short never
 * passes for a mirror; a lock file beside it keeps two fetches of the same URL apart. A plain
 * checkout reads the commit's tree into the destination with a private index file and leaves
 * the mirror untouched; with submodules or keep_git the destination becomes a local clone of
 * the mirror (hardlinked objects) whose origin is the real URL. */

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "fs-util.h"
#include "git-source.h"
#include "spawn-program.h"
#include "str-util.h"

#define GIT_ARGS_MAX 24
#define GIT_CACHE_MODE 0700
#define GIT_KEY_MODE 0600
/* Lines of git's output an error quotes. */
#define GIT_ERROR_LINES 5
#define GIT_ERROR_MAX 1024U
/* A stalled transfer fails after this long below this speed (http); ssh gives up connecting. */
#define GIT_LOW_SPEED_BYTES "1000"
#define GIT_LOW_SPEED_SECONDS "60"
#define GIT_SSH_CONNECT_TIMEOUT "30"

typedef struct GitRun {
        const GitSource *s;
        const GitSourceOptions *o;
        char *masked_url;
        char *mirror;
        char *key_dir; /* the private temporary directory of the deploy key */
        char **env;
} GitRun;

static void git_run_done(GitRun *g) {
        if (g->key_dir) {
                (void)rm_rf(g->key_dir);
                free(g->key_dir);
        }
        free(g->masked_url);
        free(g->mirror);
        strv_free(g->env);
}

#define git_log(g, priority, ...) \
        runtime_log_to((g)->o->log, (g)->o->log_userdata, priority, NULL, __VA_ARGS__)

char *git_source_mask_url(const char *url) {
        const char *scheme, *at, *host;

        /* Only URLs with a scheme carry credentials; user@host:path names an ssh user. */
        scheme = strstr(url, "://");
        if (!scheme)
                return strdup(url);
        host = scheme + 3;
        at = memchr(host, '@', strcspn(host, "/?#"));
        if (!at)
                return strdup(url);
        return strf("%.*s***%s", (int)(host - url), url, at);
}

/* The user information of the URL (what git_source_mask_url hides), or NULL. */
static char *url_secret(const char *url) {
        const char *scheme = strstr(url, "://"), *host, *at;

        if (!scheme)
                return NULL;
        host = scheme + 3;
        at = memchr(host, '@', strcspn(host, "/?#"));
        if (!at || at == host)
                return NULL;
        return strndup(host, (size_t)(at - host));
}

/* The last GIT_ERROR_LINES lines of output, with the URL's credentials masked. */
static char *output_tail(const char *url, const char *output) {
        _cleanup_free_ char *secret = url_secret(url);
        StrBuf b = {.max = 0};
        const char *start, *end;
        unsigned lines = 0;

        end = output + strlen(output);
        while (end > output && strchr(" \t\r\n", end[-1]))
                end--;
        start = end;
        while (start > output && (end - start) < (ptrdiff_t)GIT_ERROR_MAX) {
                if (start[-1] == '\n' && ++lines >= GIT_ERROR_LINES)
                        break;
                start--;
        }

        for (const char *p = start; p < end;) {
                const char *hit =
                        secret ? memmem(p, (size_t)(end - p), secret, strlen(secret)) : NULL;
                size_t n = hit ? (size_t)(hit - p) : (size_t)(end - p);
                int r;

                r = strbuf_append(&b, p, n);
                if (r >= 0 && hit)
                        r = strbuf_appends(&b, "***");
                if (r < 0) {
                        strbuf_done(&b);
                        return NULL;
                }
                p += n + (hit ? strlen(secret) : 0);
        }
        return strbuf_steal(&b);
}

/* The revision as messages name it. */
static const char *revision_name(const GitRun *g) {
        return g->s->revision ?: "the default branch";
}

/* Runs git with the NULL-terminated arguments; on success *ret_output (may be NULL) gets its
 * output. A failure is reported as "<what> failed" with git's last lines. *ret_status (may be
 * NULL) gets the exit status; with it, a non-zero status is not an error of its own. */
static int git(GitRun *g, const char *what, char **ret_output, int *ret_status, char **ret_error,
               ...) {
        char *argv[GIT_ARGS_MAX + 4] = {(char *)"git", (char *)"-c",
                                        (char *)"advice.detachedHead=false"};
        _cleanup_free_ char *output = NULL, *tail = NULL;
        size_t n = 3;
        int status, r;
        va_list ap;

        va_start(ap, ret_error);
        for (const char *a; (a = va_arg(ap, const char *));) {
                if (n >= GIT_ARGS_MAX + 3) {
                        va_end(ap);
                        return -E2BIG;
                }
                argv[n++] = (char *)a;
        }
        va_end(ap);
        argv[n] = NULL;

        r = spawn_program(argv, g->env, &output, &status);
        if (r == -ENOENT)
                return error_set(ret_error, r, "git %s (%s): git is not installed (looked in %s)",
                                 g->masked_url, revision_name(g), SPAWN_PATH);
        if (r < 0)
                return error_set(ret_error, r, "git %s (%s): cannot run git: %s", g->masked_url,
                                 revision_name(g), strerror(-r));

        if (ret_status)
                *ret_status = status;
        else if (status != 0) {
                tail = output_tail(g->s->url, strempty(output));
                if (!tail)
                        return -ENOMEM;
                return error_set(ret_error, -EPROTO,
                                 "git %s (%s): %s failed with exit status %d%s%s", g->masked_url,
                                 revision_name(g), what, status, *tail ? ": " : "", tail);
        }

        if (ret_output)
                *ret_output = TAKE_PTR(output);
        return 0;
}

/* 'x' → "'x'", for GIT_SSH_COMMAND, which git hands to a shell. */
static char *shell_quote(const char *s) {
        StrBuf b = {};
        int r;

        r = strbuf_appends(&b, "'");
        for (const char *p = s; r >= 0 && *p; p++)
                r = *p == '\'' ? strbuf_appends(&b, "'\\''") : strbuf_append(&b, p, 1);
        if (r >= 0)
                r = strbuf_appends(&b, "'");
        if (r < 0) {
                strbuf_done(&b);
                return NULL;
        }
        return strbuf_steal(&b);
}

/* Writes the deploy key 0600 into a fresh private directory. */
static int write_key(GitRun *g, char **ret_path) {
        _cleanup_free_ char *dir = NULL, *path = NULL;
        _cleanup_close_ int fd = -1;
        const char *key = g->s->ssh_key;
        size_t len = strlen(key);
        const char *tmp = getenv("TMPDIR");

        dir = strf("%s/strata-git-key-XXXXXX", tmp && *tmp == '/' ? tmp : "/tmp");
        if (!dir)
                return -ENOMEM;
        if (!mkdtemp(dir))
                return -errno;
        g->key_dir = TAKE_PTR(dir);

        path = strf("%s/key", g->key_dir);
        if (!path)
                return -ENOMEM;
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, GIT_KEY_MODE);
        if (fd < 0 || fchmod(fd, GIT_KEY_MODE) < 0)
                return -errno;
        /* ssh refuses a key file without its final newline. */
        if (write(fd, key, len) != (ssize_t)len ||
            (len > 0 && key[len - 1] != '\n' && write(fd, "\n", 1) != 1))
                return errno > 0 ? -errno : -EIO;

        *ret_path = TAKE_PTR(path);
        return 0;
}

static int build_environment(GitRun *g, char **ret_error) {
        _cleanup_free_ char *known_hosts = NULL, *known_hosts_q = NULL, *key = NULL;
        _cleanup_free_ char *key_q = NULL, *ssh = NULL, *home = NULL;
        int r;

        known_hosts = strf("%s/known_hosts", g->o->cache_dir);
        known_hosts_q = known_hosts ? shell_quote(known_hosts) : NULL;
        if (!known_hosts_q)
                return -ENOMEM;

        if (g->s->ssh_key) {
                r = write_key(g, &key);
                if (r < 0)
                        return error_set(ret_error, r, "git %s: cannot write the deploy key: %s",
                                         g->masked_url, strerror(-r));
                key_q = shell_quote(key);
                if (!key_q)
                        return -ENOMEM;
        }

        ssh = strf("GIT_SSH_COMMAND=ssh%s%s%s -o BatchMode=yes -o StrictHostKeyChecking=accept-new"
                   " -o UserKnownHostsFile=%s -o ConnectTimeout=" GIT_SSH_CONNECT_TIMEOUT,
                   key_q ? " -i " : "", strempty(key_q), key_q ? " -o IdentitiesOnly=yes" : "",
                   known_hosts_q);
        /* git and ssh look for their own files in HOME: the fetch user's cache. */
        home = strf("HOME=%s", g->o->cache_dir);
        if (!ssh || !home)
                return -ENOMEM;

        r = strv_push(&g->env, TAKE_PTR(ssh));
        if (r >= 0)
                r = strv_push(&g->env, TAKE_PTR(home));
        if (r >= 0)
                r = strv_extend(&g->env, "GIT_TERMINAL_PROMPT=0");
        if (r >= 0)
                r = strv_extend(&g->env, "GIT_HTTP_LOW_SPEED_LIMIT=" GIT_LOW_SPEED_BYTES);
        if (r >= 0)
                r = strv_extend(&g->env, "GIT_HTTP_LOW_SPEED_TIME=" GIT_LOW_SPEED_SECONDS);
        return r;
}

static bool is_hex(const char *s, size_t min, size_t max) {
        size_t n = strspn(s, "0123456789abcdefABCDEF");

        return s[n] == 0 && n >= min && n <= max;
}

static void trim_end(char *s) {
        size_t n = strlen(s);

        while (n > 0 && strchr(" \t\r\n", s[n - 1]))
                n--;
        s[n] = 0;
}

/* The commit `spec` names in the mirror; -ENOENT when it names none. */
static int rev_parse(GitRun *g, const char *spec, char **ret_commit, char **ret_error) {
        _cleanup_free_ char *arg = NULL, *out = NULL;
        int status, r;

        arg = strf("%s^{commit}", spec);
        if (!arg)
                return -ENOMEM;
        r = git(g, "resolving the revision", &out, &status, ret_error, "-C", g->mirror, "rev-parse",
                "--verify", "--quiet", "--end-of-options", arg, NULL);
        if (r < 0)
                return r;
        if (status != 0)
                return -ENOENT;
        trim_end(out);
        if (!is_hex(out, 40, 64))
                return error_set(ret_error, -EPROTO, "git %s (%s): unexpected commit id '%s'",
                                 g->masked_url, revision_name(g), out);
        *ret_commit = TAKE_PTR(out);
        return 0;
}

/* The commit id the remote's HEAD names now, asked before the fetch so that the fetch brings
 * that commit: a mirror keeps the HEAD it was cloned with. */
static int remote_head(GitRun *g, char **ret_id, char **ret_error) {
        _cleanup_free_ char *out = NULL;
        int r;

        r = git(g, "asking for the remote's HEAD", &out, NULL, ret_error, "-C", g->mirror,
                "ls-remote", "--", "origin", "HEAD", NULL);
        if (r < 0)
                return r;
        /* "<commit>\tHEAD" lines; the pattern also matches refs ending in /HEAD. */
        for (char *line = out; *line;) {
                size_t len = strcspn(line, "\n"), n = strspn(line, "0123456789abcdef");

                if ((n == 40 || n == 64) && len == n + 5 && strncmp(line + n, "\tHEAD", 5) == 0) {
                        *ret_id = strndup(line, n);
                        return *ret_id ? 0 : -ENOMEM;
                }
                line += len + (line[len] == '\n');
        }
        return error_set(ret_error, -ENOENT, "git %s: the remote has no HEAD", g->masked_url);
}

/* Clones the mirror, or brings it up to date. *ret_head: see resolve_revision(). */
static int update_mirror(GitRun *g, char **ret_head, char **ret_error) {
        _cleanup_free_ char *temp = NULL, *head = NULL;
        struct stat st;
        int r;

        if (stat(g->mirror, &st) == 0) {
                if (!g->s->revision) {
                        r = remote_head(g, &head, ret_error);
                        if (r < 0)
                                return r;
                }
                git_log(g, LOG_INFO, "git %s: fetching into the mirror", g->masked_url);
                r = git(g, "fetching", NULL, NULL, ret_error, "-C", g->mirror, "fetch", "--quiet",
                        "--prune", "origin", NULL);
                if (r < 0)
                        return r;
                *ret_head = TAKE_PTR(head);
                return 0;
        }
        if (errno != ENOENT)
                return error_set(ret_error, -errno, "git %s: cannot look at %s: %m", g->masked_url,
                                 g->mirror);

        temp = strf("%s.new", g->mirror);
        if (!temp)
                return -ENOMEM;
        /* Left over from a clone cut short: we hold the lock, nobody else is writing it. */
        (void)rm_rf(temp);

        git_log(g, LOG_INFO, "git %s: cloning a mirror", g->masked_url);
        r = git(g, "cloning", NULL, NULL, ret_error, "clone", "--quiet", "--mirror", "--",
                g->s->url, temp, NULL);
        if (r < 0) {
                (void)rm_rf(temp);
                return r;
        }
        if (rename(temp, g->mirror) < 0) {
                r = -errno;
                (void)rm_rf(temp);
                return error_set(ret_error, r, "git %s: cannot rename %s: %s", g->masked_url, temp,
                                 strerror(-r));
        }
        *ret_head = NULL;
        return 0;
}

/* head: the remote's HEAD asked before a fetch; NULL after a fresh clone, whose HEAD is the
 * remote's. */
static int resolve_revision(GitRun *g, const char *head, char **ret_commit, char **ret_error) {
        const char *rev = g->s->revision;
        int r;

        if (!rev) {
                r = rev_parse(g, head ?: "HEAD", ret_commit, ret_error);
                if (r == -ENOENT)
                        return error_set(ret_error, r,
                                         "git %s: the remote's HEAD names no commit of the "
                                         "repository",
                                         g->masked_url);
                return r;
        }

        /* A branch before a tag of the same name, then a (possibly abbreviated) commit id. */
        for (const char *const *prefix = (const char *const[]){"refs/heads/", "refs/tags/", NULL};
             *prefix; prefix++) {
                _cleanup_free_ char *ref = strf("%s%s", *prefix, rev);

                if (!ref)
                        return -ENOMEM;
                r = rev_parse(g, ref, ret_commit, ret_error);
                if (r != -ENOENT)
                        return r;
        }
        if (is_hex(rev, 4, 64)) {
                r = rev_parse(g, rev, ret_commit, ret_error);
                if (r != -ENOENT)
                        return r;
        }
        return error_set(ret_error, -ENOENT,
                         "git %s: revision '%s' is not a branch, tag or commit of the repository",
                         g->masked_url, rev);
}

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

/* Removes every .git below dir: the repository's own and those of its submodules. A tracked
 * path cannot be named .git, so each one is git's. */
static int remove_git_dirs(const char *dir) {
        _cleanup_(closedirp) DIR *d = NULL;
        int r = 0;

        d = opendir(dir);
        if (!d)
                return -errno;
        for (struct dirent *de; (de = readdir(d));) {
                _cleanup_free_ char *p = NULL;
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                p = strf("%s/%s", dir, de->d_name);
                if (!p)
                        return -ENOMEM;
                if (streq(de->d_name, ".git")) {
                        r = rm_rf(p);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (lstat(p, &st) < 0)
                        return -errno;
                if (S_ISDIR(st.st_mode)) {
                        r = remove_git_dirs(p);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* The commit's tree into dest, through a private index: the mirror is not changed. */
static int checkout_tree(GitRun *g, const char *commit, const char *dest, char **ret_error) {
        _cleanup_free_ char *index_dir = NULL, *index_env = NULL, *work_tree = NULL;
        const char *tmp = getenv("TMPDIR");
        size_t n;
        int r;

        index_dir = strf("%s/strata-git-index-XXXXXX", tmp && *tmp == '/' ? tmp : "/tmp");
        if (!index_dir)
                return -ENOMEM;
        if (!mkdtemp(index_dir))
                return error_set(ret_error, -errno, "git %s: cannot make a temporary directory: %m",
                                 g->masked_url);
        index_env = strf("GIT_INDEX_FILE=%s/index", index_dir);
        work_tree = strf("--work-tree=%s", dest);
        r = index_env && work_tree ? strv_extend(&g->env, index_env) : -ENOMEM;
        if (r >= 0) {
                r = git(g, "checking out", NULL, NULL, ret_error, "--git-dir", g->mirror, work_tree,
                        "read-tree", "--reset", "-u", "--end-of-options", commit, NULL);
                /* The index is this call's alone. */
                n = strv_length(g->env);
                g->env[n - 1] = mfree(g->env[n - 1]);
        }
        (void)rm_rf(index_dir);
        return r;
}

/* dest as a repository of its own at the commit, with submodules when asked. */
static int checkout_clone(GitRun *g, const char *commit, const char *dest, char **ret_error) {
        int r;

        r = git(g, "checking out", NULL, NULL, ret_error, "clone", "--quiet", "--no-checkout", "--",
                g->mirror, dest, NULL);
        if (r < 0)
                return r;
        /* Relative submodule URLs resolve against origin, and a kept .git points there. */
        r = git(g, "checking out", NULL, NULL, ret_error, "-C", dest, "remote", "set-url", "origin",
                "--", g->s->url, NULL);
        if (r < 0)
                return r;
        r = git(g, "checking out", NULL, NULL, ret_error, "-C", dest, "checkout", "--quiet",
                "--detach", commit, "--", NULL);
        if (r < 0)
                return r;
        if (g->s->submodules) {
                git_log(g, LOG_INFO, "git %s: updating submodules", g->masked_url);
                r = git(g, "updating submodules", NULL, NULL, ret_error, "-C", dest, "submodule",
                        "update", "--quiet", "--init", "--recursive", NULL);
                if (r < 0)
                        return r;
        }
        if (!g->s->keep_git) {
                r = remove_git_dirs(dest);
                if (r < 0)
                        return error_set(ret_error, r, "git %s: cannot remove .git from %s: %s",
                                         g->masked_url, dest, strerror(-r));
        }
        return 0;
}

/* Branch and tag names as git allows them, or a commit id; nothing git would read as an option
 * or a revision expression. */
static bool revision_valid(const char *rev) {
        if (!*rev || rev[0] == '-' || strstr(rev, "..") || strstr(rev, "@{") ||
            rev[strlen(rev) - 1] == '/' || endswith(rev, ".lock"))
                return false;
        for (const char *p = rev; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f || strchr(" ~^:?*[\\", *p))
                        return false;
        return true;
}

int git_source_fetch(const GitSource *s, const char *dest, const GitSourceOptions *o,
                     char **ret_commit, char **ret_error) {
        _cleanup_(git_run_done) GitRun g = {.s = s, .o = o};
        _cleanup_free_ char *dir = NULL, *lock = NULL, *commit = NULL, *head = NULL;
        _cleanup_close_ int lock_fd = -1;
        char hash[65];
        int r;

        if (!s->url || !*s->url)
                return error_set(ret_error, -EINVAL, "git: the source has no url");
        g.masked_url = git_source_mask_url(s->url);
        if (!g.masked_url)
                return -ENOMEM;
        if (s->url[0] == '-')
                return error_set(ret_error, -EINVAL, "git %s: not a repository URL", g.masked_url);
        if (s->revision && !revision_valid(s->revision))
                return error_set(ret_error, -EINVAL,
                                 "git %s: revision '%s' is not a branch, tag or commit name",
                                 g.masked_url, s->revision);

        r = sha256_hex(s->url, strlen(s->url), hash);
        if (r < 0)
                return r;
        dir = strf("%s/git", o->cache_dir);
        g.mirror = strf("%s/git/%s.git", o->cache_dir, hash);
        lock = strf("%s/git/%s.lock", o->cache_dir, hash);
        if (!dir || !g.mirror || !lock)
                return -ENOMEM;
        r = mkdir_parents(dir, GIT_CACHE_MODE);
        if (r < 0)
                return error_set(ret_error, r, "git %s: cannot create %s: %s", g.masked_url, dir,
                                 strerror(-r));

        lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (lock_fd < 0)
                return error_set(ret_error, -errno, "git %s: cannot open %s: %m", g.masked_url,
                                 lock);
        if (flock(lock_fd, LOCK_EX) < 0)
                return error_set(ret_error, -errno, "git %s: cannot lock %s: %m", g.masked_url,
                                 lock);

        r = build_environment(&g, ret_error);
        if (r < 0)
                return r;

        r = update_mirror(&g, &head, ret_error);
        if (r < 0)
                return r;
        r = resolve_revision(&g, head, &commit, ret_error);
        if (r < 0)
                return r;

        if (s->submodules || s->keep_git)
                r = checkout_clone(&g, commit, dest, ret_error);
        else
                r = checkout_tree(&g, commit, dest, ret_error);
        if (r < 0)
                return r;

        git_log(&g, LOG_INFO, "git %s: checked out %s (%s)", g.masked_url, commit,
                revision_name(&g));
        *ret_commit = TAKE_PTR(commit);
        return 0;
}
