/* SPDX-License-Identifier: MIT */
/* Both ends of the fetch helper: `strata-agent fetch REQUEST_FILE` (fetch_main, unprivileged)
 * and fetch_as_user() in the root worker, which starts it through the step runner and reads
 * its JSON lines. The request travels in a file so that secrets stay out of argv and the
 * environment. */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include "fetch-command.h"
#include "fetch.h"
#include "fs-util.h"
#include "json-util.h"
#include "step-runner.h"
#include "str-util.h"

#define REQUEST_MAX (1024U * 1024U)

/* What the helper takes from the worker's environment: S3 credentials (the second source after
 * the app's own) and the proxy settings libcurl reads. They travel in the request file and are
 * set with setenv() in the helper, so they never appear in its /proc/PID/environ. */
static const char *const passed_environment[] = {
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
        "http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
        "no_proxy", "NO_PROXY",
};

/* ---- the helper ---- */

static void emit(json_object *line) {
        _cleanup_free_ char *text = strf(
                "%s\n", json_object_to_json_string_ext(line, JSON_C_TO_STRING_PLAIN |
                                                                     JSON_C_TO_STRING_NOSLASHESCAPE));

        /* One write per line: the worker reads whole lines. */
        if (text) {
                fputs(text, stdout);
                fflush(stdout);
        }
}

static void helper_log(int priority, const LogContext *ctx, const char *message, void *userdata) {
        _cleanup_json_ json_object *line = json_object_new_object();
        json_object *log = json_object_new_object();

        (void) ctx;
        (void) userdata;
        if (!line || !log) {
                json_object_put(log);
                return;
        }
        json_object_object_add(log, "priority", json_object_new_int(priority));
        json_object_object_add(log, "message", json_object_new_string(message));
        json_object_object_add(line, "log", log);
        emit(line);
}

static int helper_fail(int k, const char *error) {
        _cleanup_json_ json_object *line = json_object_new_object();

        if (!line)
                return 1;
        json_object_object_add(line, "error",
                               json_object_new_string(error ?: strerror(k < 0 ? -k : EIO)));
        json_object_object_add(line, "errno", json_object_new_int(k < 0 ? -k : EIO));
        emit(line);
        return 1;
}

static int read_request(const char *path, json_object **ret, char **ret_error) {
        _cleanup_free_ char *text = NULL;
        _cleanup_json_ json_object *req = NULL;
        size_t len;
        int k;

        k = read_full_file(path, REQUEST_MAX, &text, &len);
        /* Gone before anything else: it may hold credentials. */
        (void) unlink(path);
        if (k < 0)
                return error_set(ret_error, k, "cannot read the request %s: %s", path,
                                 strerror(-k));
        k = json_parse_strict(path, text, len, &req, ret_error);
        if (k < 0)
                return k;
        if (!json_object_is_type(req, json_type_object))
                return error_set(ret_error, -EINVAL, "%s: expected a mapping", path);
        json_object_object_foreach(req, key, value) {
                if (!STR_IN_SET(key, "source", "dest", "cache_dir", "ca_file", "imds_endpoint",
                                "environment"))
                        return error_set(ret_error, -EINVAL,
                                         "%s: unknown key '%s' (expected source, dest, "
                                         "cache_dir, ca_file, imds_endpoint, environment)",
                                         path, key);
                if (!STR_IN_SET(key, "source", "environment") &&
                    !json_object_is_type(value, json_type_string))
                        return error_set(ret_error, -EINVAL, "%s: %s: expected a string", path,
                                         key);
        }
        if (!json_get_string(req, "dest") || !json_get_string(req, "cache_dir"))
                return error_set(ret_error, -EINVAL, "%s: dest and cache_dir are required", path);
        *ret = TAKE_PTR(req);
        return 0;
}

static int apply_environment(json_object *env, char **ret_error) {
        json_object_object_foreach(env, name, value) {
                bool known = false;

                for (size_t i = 0; i < ELEMENTSOF(passed_environment); i++)
                        known = known || streq(name, passed_environment[i]);
                if (!known || !json_object_is_type(value, json_type_string))
                        return error_set(ret_error, -EINVAL,
                                         "request: environment.%s: not a variable the fetch "
                                         "helper takes, or not a string",
                                         name);
                if (setenv(name, json_object_get_string(value), 1) < 0)
                        return -errno;
        }
        return 0;
}

int fetch_main(int argc, char *argv[]) {
        _cleanup_json_ json_object *req = NULL, *info = NULL, *line = NULL;
        _cleanup_free_ char *error = NULL;
        int k;

        /* The fetch must not outlive the worker that waits for it. */
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);

        if (argc != 2) {
                fprintf(stderr, "usage: strata-agent fetch REQUEST_FILE\n");
                return 2;
        }
        if (geteuid() == 0)
                return helper_fail(-EPERM, "strata-agent fetch: refusing to run as root (it "
                                           "handles untrusted bytes; run it as the fetch user)");

        k = read_request(argv[1], &req, &error);
        if (k < 0)
                return helper_fail(k, error);
        k = apply_environment(json_object_object_get(req, "environment"), &error);
        if (k < 0)
                return helper_fail(k, error);

        FetchOptions o = {
                .cache_dir = json_get_string(req, "cache_dir"),
                .ca_file = json_get_string(req, "ca_file"),
                .imds_endpoint = json_get_string(req, "imds_endpoint"),
                .log = helper_log,
        };
        k = fetch_source(json_object_object_get(req, "source"), json_get_string(req, "dest"), &o,
                         &info, &error);
        if (k < 0)
                return helper_fail(k, error);

        line = json_object_new_object();
        if (!line)
                return helper_fail(-ENOMEM, NULL);
        json_object_object_add(line, "info", TAKE_PTR(info));
        emit(line);
        return 0;
}

/* ---- the caller ---- */

typedef struct HelperRun {
        const FetchOptions *o;
        json_object *info;
        char *error;
        int error_errno;
} HelperRun;

static void forward_log(const FetchOptions *o, int priority, const char *message) {
        if (o->log)
                o->log(priority, &(LogContext){}, message, o->log_userdata);
        else
                fprintf(stderr, "%s\n", message);
}

static void on_line(const char *text, void *userdata) {
        HelperRun *h = userdata;
        _cleanup_json_ json_object *line = json_tokener_parse(text);
        json_object *v;

        if (!json_object_is_type(line, json_type_object)) {
                /* Not one of ours: what a program the helper ran said on stderr. */
                forward_log(h->o, LOG_INFO, text);
                return;
        }
        if (json_object_object_get_ex(line, "log", &v)) {
                json_object *p = json_object_object_get(v, "priority");
                const char *m = json_get_string(v, "message");

                forward_log(h->o, p ? json_object_get_int(p) : LOG_INFO, strempty(m));
        } else if (json_object_object_get_ex(line, "info", &v) &&
                   json_object_is_type(v, json_type_object)) {
                json_object_put(h->info);
                h->info = json_object_get(v);
        } else if (json_get_string(line, "error")) {
                free(h->error);
                h->error = strdup(json_get_string(line, "error"));
                h->error_errno = json_object_get_int(json_object_object_get(line, "errno"));
        } else
                forward_log(h->o, LOG_INFO, text);
}

/* The step's userdata is ours: hand the supervisor its own. */
static void on_started(pid_t pgid, void *userdata) {
        HelperRun *h = userdata;

        if (h->o->step_started)
                h->o->step_started(pgid, h->o->log_userdata);
}

static int own_binary(const FetchOptions *o, char **ret, char **ret_error) {
        char path[PATH_MAX];
        ssize_t n;

        if (o->agent_binary) {
                *ret = strdup(o->agent_binary);
                return *ret ? 0 : -ENOMEM;
        }
        /* Read now, as root: once a process has dropped privileges its /proc/self/exe is not
         * readable any more. */
        n = readlink("/proc/self/exe", path, sizeof(path) - 1);
        if (n < 0)
                return error_set(ret_error, -errno, "cannot find the agent's own binary: %m");
        path[n] = 0;
        if (endswith(path, " (deleted)"))
                return error_set(ret_error, -ENOENT,
                                 "the agent's binary %s was replaced since it started; restart "
                                 "the agent",
                                 path);
        *ret = strdup(path);
        return *ret ? 0 : -ENOMEM;
}

/* dir exists, is a real directory and belongs to uid. */
static int check_owned_dir(const char *what, const char *dir, const char *user, uid_t uid,
                           char **ret_error) {
        struct stat st;

        if (lstat(dir, &st) < 0)
                return error_set(ret_error, -errno, "%s %s: %m", what, dir);
        if (!S_ISDIR(st.st_mode))
                return error_set(ret_error, -ENOTDIR, "%s %s: not a directory", what, dir);
        if (st.st_uid != uid)
                return error_set(ret_error, -EPERM,
                                 "%s %s: owned by uid %u, expected the fetch user %s (uid %u)", what,
                                 dir, (unsigned) st.st_uid, user, (unsigned) uid);
        return 0;
}

/* The user's cache: its parents as they are or 0755, itself 0700 and the user's. */
static int make_cache_dir(const char *dir, const char *user, uid_t uid, gid_t gid,
                          char **ret_error) {
        _cleanup_free_ char *parent = strdup(dir);
        char *slash;
        int k;

        if (!parent)
                return -ENOMEM;
        slash = strrchr(parent, '/');
        if (slash && slash != parent) {
                *slash = 0;
                k = mkdir_parents(parent, 0755);
                if (k < 0)
                        return error_set(ret_error, k, "cannot create %s: %s", parent,
                                         strerror(-k));
        }
        if (mkdir(dir, 0700) >= 0) {
                if (chown(dir, uid, gid) < 0 || chmod(dir, 0700) < 0)
                        return error_set(ret_error, -errno, "cannot give %s to user %s: %m", dir,
                                         user);
        } else if (errno != EEXIST)
                return error_set(ret_error, -errno, "cannot create %s: %m", dir);
        return check_owned_dir("fetch cache", dir, user, uid, ret_error);
}

static int write_request(json_object *source, const char *dest, const FetchOptions *o, uid_t uid,
                         gid_t gid, char **ret_path, char **ret_error) {
        _cleanup_json_ json_object *req = json_object_new_object();
        _cleanup_free_ char *path = strf("%s/.request-XXXXXX", o->cache_dir);
        json_object *env;
        _cleanup_close_ int fd = -1;
        const char *text;
        int k;

        if (!req || !path)
                return -ENOMEM;
        json_object_object_add(req, "source", json_object_get(source));
        json_object_object_add(req, "dest", json_object_new_string(dest));
        json_object_object_add(req, "cache_dir", json_object_new_string(o->cache_dir));
        if (o->ca_file)
                json_object_object_add(req, "ca_file", json_object_new_string(o->ca_file));
        if (o->imds_endpoint)
                json_object_object_add(req, "imds_endpoint",
                                       json_object_new_string(o->imds_endpoint));
        env = json_object_new_object();
        if (!env)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(passed_environment); i++) {
                const char *v = getenv(passed_environment[i]);

                if (v)
                        json_object_object_add(env, passed_environment[i],
                                               json_object_new_string(v));
        }
        json_object_object_add(req, "environment", env);
        text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);

        /* The cache belongs to the user, who could have planted a name there: mkostemp() only
         * ever creates a new file. */
        fd = mkostemp(path, O_CLOEXEC);
        if (fd < 0)
                return error_set(ret_error, -errno, "cannot create a request file in %s: %m",
                                 o->cache_dir);
        k = write_temp_file(fd, text, strlen(text), 0600, uid, gid, 0);
        if (k < 0) {
                (void) unlink(path);
                return error_set(ret_error, k, "cannot write the request file %s: %s", path,
                                 strerror(-k));
        }
        *ret_path = TAKE_PTR(path);
        return 0;
}

int fetch_as_user(json_object *source, const char *dest, const char *user, const FetchOptions *o,
                  json_object **ret_info, char **ret_error) {
        _cleanup_free_ char *binary = NULL, *request = NULL;
        _cleanup_(step_result_done) StepResult r = {};
        HelperRun h = { .o = o };
        usec_t timeout = o->timeout ?: FETCH_TIMEOUT_DEFAULT;
        uid_t uid;
        gid_t gid;
        int k;

        if (!o->cache_dir || o->cache_dir[0] != '/' || !dest || dest[0] != '/')
                return error_set(ret_error, -EINVAL,
                                 "fetch: the cache directory and the destination must be "
                                 "absolute paths");
        k = resolve_user(user, &uid, &gid);
        if (k < 0)
                return error_set(ret_error, k, "fetch user '%s': %s", user,
                                 k == -ESRCH ? "no such user" : strerror(-k));
        if (uid == 0)
                return error_set(ret_error, -EPERM,
                                 "fetch user '%s' is root; sources are fetched by an unprivileged "
                                 "user",
                                 user);
        if (gid == (gid_t) -1)
                return error_set(ret_error, -ESRCH, "fetch user '%s': no such user", user);

        k = own_binary(o, &binary, ret_error);
        if (k < 0)
                return k;
        k = make_cache_dir(o->cache_dir, user, uid, gid, ret_error);
        if (k < 0)
                return k;
        k = check_owned_dir("fetch destination", dest, user, uid, ret_error);
        if (k < 0)
                return k;
        k = write_request(source, dest, o, uid, gid, &request, ret_error);
        if (k < 0)
                return k;

        StepSpec spec = {
                .argv = (char *[]){ binary, (char *) "fetch", request, NULL },
                .cwd = o->cache_dir,
                .user = user,
                .timeout = timeout,
                .on_line = on_line,
                .on_started = on_started,
                .userdata = &h,
        };
        k = step_run(&spec, &r, ret_error);
        /* Normally the helper removed it; not when it never got that far. */
        (void) unlink(request);
        if (k < 0) {
                json_object_put(h.info);
                free(h.error);
                if (ret_error && *ret_error)
                        error_prefix(ret_error, "cannot start the fetch helper");
                return k;
        }

        if (r.timed_out)
                k = error_set(ret_error, -ETIMEDOUT, "fetch timed out after %" PRIu64 " s",
                              timeout / USEC_PER_SEC);
        else if (r.exit_status == 0 && h.info) {
                *ret_info = TAKE_PTR(h.info);
                k = 0;
        } else if (h.error)
                k = error_set(ret_error, h.error_errno > 0 ? -h.error_errno : -EIO, "%s",
                              h.error);
        else if (r.signal)
                k = error_set(ret_error, -EIO, "fetch helper killed by signal %s",
                              strsignal(r.signal));
        else
                k = error_set(ret_error, -EIO, "fetch helper exited with status %d: %s",
                              r.exit_status, strempty(r.output));
        json_object_put(h.info);
        free(h.error);
        return k;
}
