/* SPDX-License-Identifier: MIT */
/* One app's deploy, rollback, undeploy, start, stop and restart in the command worker: the
 * order of the steps around the release mechanics of release.c, the shared config files, the
 * hooks and commands run as the deploy user. deploy.h has the contract. */
#include <limits.h>
#include <sys/stat.h>

#include "deploy.h"
#include "fetch.h"
#include "fs-util.h"
#include "json-util.h"
#include "release.h"
#include "stack.h"
#include "step-runner.h"
#include "str-util.h"

#define HOOK_TIMEOUT_DEFAULT (600 * USEC_PER_SEC)

/* Everything one app's action needs, resolved once. */
typedef struct AppContext {
        const DeployRun *run;
        const char *name;  /* shortname */
        const char *user;  /* deploy user */
        uid_t uid;
        gid_t gid;
        char *resource;    /* "app[name]", for the log */
        usec_t hook_timeout;
} AppContext;

static void app_context_done(AppContext *c) {
        c->resource = mfree(c->resource);
}

#define app_log(c, priority, ...)                                                           \
        runtime_log_to((c)->run->log, (c)->run->log_userdata, priority,                    \
                       &(LogContext){ .resource = (c)->resource, .app = (c)->name }, __VA_ARGS__)

static int app_context_init(const DeployRun *run, AppContext *ret, char **ret_error) {
        const AgentConfig *cfg = run->config;
        json_object *t = json_object_object_get(run->app, "hook_timeout");
        const char *name = json_get_string(run->app, "shortname");
        const char *user = json_get_string(run->app, "user") ?: cfg->run_as;
        int r;

        *ret = (AppContext){ .run = run, .name = name, .user = user };
        if (!name)
                return error_set(ret_error, -EINVAL, "the app has no shortname");
        r = resolve_user(user, &ret->uid, &ret->gid);
        if (r < 0 || ret->gid == (gid_t) -1)
                return error_set(ret_error, r < 0 ? r : -ESRCH,
                                 "user: the deploy user '%s' does not exist", user);
        if (ret->uid == 0 && !cfg->privileged_steps)
                return error_set(ret_error, -EPERM,
                                 "user: deploying as root is refused unless the agent config "
                                 "says privileged_steps: allow");
        ret->hook_timeout = t ? (usec_t) json_object_get_int64(t) * USEC_PER_SEC
                              : HOOK_TIMEOUT_DEFAULT;
        ret->resource = strf("app[%s]", name);
        return ret->resource ? 0 : -ENOMEM;
}

/* json-c asserts on the length of anything but an array. */
static size_t array_length(json_object *a) {
        return json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

int deploy_select_apps(json_object *command, json_object *stack, const char *instance_id,
                       json_object **ret, char **ret_error) {
        json_object *ids = json_object_object_get(json_object_object_get(command, "args"),
                                                  "app_ids");
        json_object *apps = json_object_object_get(stack, "apps");
        json_object *self = stack_self(stack, instance_id);
        json_object *mine = json_object_object_get(self, "layer_ids");
        _cleanup_json_ json_object *out = json_object_new_array();

        if (!out)
                return -ENOMEM;
        if (ids) {
                if (!json_object_is_type(ids, json_type_array))
                        return error_set(ret_error, -EINVAL,
                                         "args.app_ids: expected a list of app shortnames");
                for (size_t i = 0; i < json_object_array_length(ids); i++) {
                        json_object *id = json_object_array_get_idx(ids, i), *found = NULL;

                        for (size_t j = 0; json_object_is_type(id, json_type_string) &&
                                           j < array_length(apps);
                             j++)
                                if (streq_ptr(json_get_string(json_object_array_get_idx(apps, j),
                                                              "shortname"),
                                              json_object_get_string(id)))
                                        found = json_object_array_get_idx(apps, j);
                        if (!found)
                                return error_set(ret_error, -EINVAL,
                                                 "args.app_ids[%zu]: expected the shortname of "
                                                 "an app of the stack",
                                                 i);
                        json_object_array_add(out, json_object_get(found));
                }
                *ret = TAKE_PTR(out);
                return 0;
        }

        for (size_t i = 0; i < array_length(apps); i++) {
                json_object *app = json_object_array_get_idx(apps, i);
                json_object *layers = json_object_object_get(app, "layer_ids");
                bool in = !layers && array_length(mine) > 0;

                for (size_t j = 0; !in && j < array_length(layers); j++) {
                        const char *id = json_object_get_string(
                                json_object_array_get_idx(layers, j));

                        for (size_t l = 0; !in && l < array_length(mine); l++)
                                in = streq_ptr(id, json_object_get_string(
                                                           json_object_array_get_idx(mine, l)));
                }
                if (in)
                        json_object_array_add(out, json_object_get(app));
        }
        *ret = TAKE_PTR(out);
        return 0;
}

static void add_string(json_object *o, const char *key, const char *value) {
        if (value)
                json_object_object_add(o, key, json_object_new_string(value));
}

int deploy_paths(const AgentConfig *config, json_object *app, json_object **ret) {
        const char *name = json_get_string(app, "shortname");
        _cleanup_free_ char *deploy_to = strf("%s/%s", config->deploy_root, strempty(name));
        _cleanup_free_ char *current = strf("%s/current", strempty(deploy_to));
        _cleanup_free_ char *shared = strf("%s/shared", strempty(deploy_to));
        _cleanup_json_ json_object *o = json_object_new_object();
        char target[PATH_MAX];
        ssize_t n;

        if (!deploy_to || !current || !shared || !o)
                return -ENOMEM;
        add_string(o, "deploy_to", deploy_to);
        add_string(o, "current_path", current);
        add_string(o, "shared_path", shared);
        add_string(o, "user", json_get_string(app, "user") ?: config->run_as);
        n = readlink(current, target, sizeof(target) - 1);
        if (n > 0)
                target[n] = 0;
        if (n > 0 && startswith(target, "releases/")) {
                _cleanup_free_ char *release = strf("%s/%s", deploy_to, target);

                if (!release)
                        return -ENOMEM;
                add_string(o, "release_path", release);
                add_string(o, "release", target + strlen("releases/"));
        }
        *ret = TAKE_PTR(o);
        return 0;
}

/* The environment of hooks and commands: the app's, then ours (ours win). */
static int step_environment(const AppContext *c, AppReleases *a, const char *release,
                            const char *revision, char ***ret) {
        _cleanup_strv_free_ char **env = calloc(1, sizeof(char *));
        _cleanup_free_ char *path = release ? release_path(a, release) : NULL;
        json_object *app_env = json_object_object_get(c->run->app, "environment");

        if (!env || (release && !path))
                return -ENOMEM;
        if (app_env) {
                json_object_object_foreach (app_env, key, value)
                        if (strv_push(&env, strf("%s=%s", key, json_object_get_string(value))) < 0)
                                return -ENOMEM;
        }
        if (strv_push(&env, strf("STRATA_APP=%s", c->name)) < 0 ||
            strv_push(&env, strf("DEPLOY_TO=%s", a->deploy_to)) < 0 ||
            strv_push(&env, strf("SHARED_PATH=%s", a->shared_dir)) < 0 ||
            strv_push(&env, strf("CURRENT_PATH=%s", a->current_link)) < 0 ||
            (path && strv_push(&env, strf("RELEASE_PATH=%s", path)) < 0) ||
            (revision && strv_push(&env, strf("REVISION=%s", revision)) < 0))
                return -ENOMEM;
        *ret = TAKE_PTR(env);
        return 0;
}

typedef struct LineSink {
        const AppContext *c;
        const char *what;
} LineSink;

static void on_line(const char *line, void *userdata) {
        const LineSink *s = userdata;

        app_log(s->c, LOG_INFO, "%s: %s", s->what, line);
}

static void on_started(pid_t pgid, void *userdata) {
        const LineSink *s = userdata;

        if (s->c->run->step_started)
                s->c->run->step_started(pgid, s->c->run->log_userdata);
}

/* The last non-empty line of a step's output, for an error message. */
static char *last_line(const char *output) {
        const char *end = output + strlen(output), *start;

        while (end > output && end[-1] == '\n')
                end--;
        start = end;
        while (start > output && start[-1] != '\n')
                start--;
        return strndup(start, (size_t) (end - start));
}

/* Runs argv as the deploy user in cwd; `what` names it in the log and in errors. */
static int run_step(const AppContext *c, AppReleases *a, const char *what, char **argv,
                    const char *cwd, const char *release, const char *revision,
                    char **ret_error) {
        _cleanup_strv_free_ char **env = NULL;
        _cleanup_(step_result_done) StepResult res = {};
        _cleanup_free_ char *error = NULL, *tail = NULL;
        LineSink sink = { .c = c, .what = what };
        int r;

        r = step_environment(c, a, release, revision, &env);
        if (r < 0)
                return r;
        StepSpec spec = {
                .argv = argv,
                .cwd = cwd,
                .user = c->user,
                .environment = env,
                .timeout = c->hook_timeout,
                .allow_root = c->run->config->privileged_steps,
                .on_line = on_line,
                .on_started = on_started,
                .userdata = &sink,
        };
        app_log(c, LOG_INFO, "%s: running as %s", what, c->user);
        r = step_run(&spec, &res, &error);
        if (r < 0)
                return error_set(ret_error, r, "%s: %s", what, strempty(error));
        if (res.timed_out)
                return error_set(ret_error, -ETIME, "%s: killed after its timeout of %" PRIu64 " s",
                                 what, c->hook_timeout / USEC_PER_SEC);
        if (res.signal)
                return error_set(ret_error, -EINTR, "%s: killed by signal %d (%s)", what,
                                 res.signal, strsignal(res.signal));
        if (res.exit_status != 0) {
                tail = last_line(strempty(res.output));
                return error_set(ret_error, -EIO, "%s: exited with status %d%s%s", what,
                                 res.exit_status, tail && *tail ? ": " : "", strempty(tail));
        }
        return 0;
}

/* deploy/<hook> of the release, when it has one. */
static int run_hook(const AppContext *c, AppReleases *a, const char *release, const char *hook,
                    const char *revision, char **ret_error) {
        _cleanup_free_ char *dir = release_path(a, release);
        _cleanup_free_ char *path = strf("%s/deploy/%s", strempty(dir), hook);
        _cleanup_free_ char *what = strf("hook deploy/%s", hook);
        struct stat st;

        if (!dir || !path || !what)
                return -ENOMEM;
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
                return 0;
        char *direct[] = { path, NULL }, *shell[] = { (char *) "/bin/sh", path, NULL };
        return run_step(c, a, what, (st.st_mode & 0111) ? direct : shell, dir, release, revision,
                        ret_error);
}

/* The app's <action>_command in the current release; `required` makes a missing one an error. */
static int run_command(const AppContext *c, AppReleases *a, const char *action, bool required,
                       char **ret_error) {
        _cleanup_free_ char *key = strf("%s_command", action), *cwd = NULL;
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *error = NULL;
        json_object *command;
        int r;

        if (!key)
                return -ENOMEM;
        command = json_object_object_get(c->run->app, key);
        if (!command) {
                if (required)
                        return error_set(ret_error, -ENOENT, "%s: not set, nothing to %s", key,
                                         action);
                app_log(c, LOG_INFO, "no %s: nothing to %s", key, action);
                return 0;
        }
        if (!a->current)
                return error_set(ret_error, -ENOENT, "not deployed: nothing to %s", action);
        r = step_argv_from_json(command, &argv, &error);
        if (r < 0)
                return error_set(ret_error, r, "%s: %s", key, strempty(error));
        cwd = release_path(a, a->current);
        if (!cwd)
                return -ENOMEM;
        return run_step(c, a, key, argv, cwd, a->current, NULL, ret_error);
}

/* systemd EnvironmentFile and sh both read KEY="value" with these escaped. */
static int append_quoted(StrBuf *b, const char *s) {
        int r = strbuf_appends(b, "\"");

        for (; r >= 0 && *s; s++) {
                if (strchr("\\\"$`", *s))
                        r = strbuf_appends(b, "\\");
                if (r >= 0)
                        r = strbuf_append(b, s, 1);
        }
        return r < 0 ? r : strbuf_appends(b, "\"\n");
}

static int write_config_file(const AppContext *c, AppReleases *a, const char *name,
                             const char *data, mode_t mode, char **ret_error) {
        _cleanup_free_ char *path = strf("%s/config/%s", a->shared_dir, name);
        int r;

        if (!path)
                return -ENOMEM;
        if (!data) {
                if (unlink(path) < 0 && errno != ENOENT)
                        return error_set(ret_error, -errno, "%s: cannot remove: %m", path);
                return 0;
        }
        r = write_file_atomic(path, data, strlen(data), mode, c->uid, c->gid);
        if (r < 0)
                return error_set(ret_error, r, "%s: cannot write: %s", path, strerror(-r));
        return 0;
}

/* shared/config: environment, data_sources.json, the SSL material. */
static int write_shared_config(const AppContext *c, AppReleases *a, char **ret_error) {
        json_object *app = c->run->app;
        json_object *env = json_object_object_get(app, "environment");
        json_object *ssl = json_object_object_get(app, "ssl");
        json_object *sources = json_object_object_get(app, "data_sources");
        _cleanup_(strbuf_done) StrBuf b = {};
        _cleanup_free_ char *text = NULL, *data_sources = NULL;
        int flags = JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE, r = 0;

        if (env) {
                json_object_object_foreach (env, key, value) {
                        r = strbuf_printf(&b, "%s=", key);
                        if (r >= 0)
                                r = append_quoted(&b, json_object_get_string(value));
                        if (r < 0)
                                return r;
                }
        }
        text = strbuf_steal(&b);
        /* json-c writes an empty list as "[\n]". */
        data_sources = strf("%s\n", array_length(sources) == 0
                                             ? "[]"
                                             : json_object_to_json_string_ext(sources, flags));
        if (!text || !data_sources)
                return -ENOMEM;
        r = write_config_file(c, a, "environment", text, 0600, ret_error);
        if (r >= 0)
                r = write_config_file(c, a, "data_sources.json", data_sources, 0600, ret_error);
        if (r >= 0)
                r = write_config_file(c, a, "ssl.crt", json_get_string(ssl, "certificate"), 0644,
                                      ret_error);
        if (r >= 0)
                r = write_config_file(c, a, "ssl.key", json_get_string(ssl, "key"), 0600,
                                      ret_error);
        if (r >= 0)
                r = write_config_file(c, a, "ssl.chain.crt", json_get_string(ssl, "chain"), 0644,
                                      ret_error);
        return r;
}

/* What the ledger says about a source: type, url (without user:password@) and revision. */
static json_object *source_summary(json_object *source, json_object *info) {
        json_object *o = json_object_new_object();
        const char *url = json_get_string(info, "url") ?: json_get_string(source, "url");
        const char *scheme = url ? strstr(url, "://") : NULL;
        const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
        const char *slash = scheme ? strchr(scheme + 3, '/') : NULL;

        if (!o)
                return NULL;
        add_string(o, "type", json_get_string(source, "type"));
        if (at && (!slash || at < slash)) {
                _cleanup_free_ char *clean = strf("%.*s%s", (int) (scheme + 3 - url), url, at + 1);

                add_string(o, "url", clean);
        } else
                add_string(o, "url", url);
        add_string(o, "revision", json_get_string(source, "revision"));
        return o;
}

static int remove_strays(const AppContext *c, AppReleases *a, char **ret_error) {
        _cleanup_strv_free_ char **removed = NULL;
        int r;

        r = release_cleanup(a, &removed, ret_error);
        if (r < 0)
                return r;
        for (char **s = removed; *s; s++)
                app_log(c, LOG_NOTICE, "removed release %s, left by an interrupted command", *s);
        return 0;
}

/* Up to the switch of `current`: anything failing here removes the new release. */
static int prepare_and_activate(const AppContext *c, AppReleases *a, const char *name,
                                char **ret_revision, char **ret_error) {
        const AgentConfig *cfg = c->run->config;
        json_object *source = json_object_object_get(c->run->app, "source");
        _cleanup_free_ char *dir = release_path(a, name), *cache = NULL, *error = NULL;
        _cleanup_json_ json_object *info = NULL, *entry = NULL;
        const char *revision;
        int r;

        /* Per user: the helper refuses a cache that another user owns. */
        cache = strf("%s/apps/%s/%s", cfg->cache_dir, c->user, c->name);
        if (!dir || !cache)
                return -ENOMEM;
        FetchOptions fo = {
                .cache_dir = cache,
                .log = c->run->log,
                .log_userdata = c->run->log_userdata,
                .agent_binary = c->run->agent_binary,
                .step_started = c->run->step_started,
        };
        app_log(c, LOG_INFO, "fetching %s into release %s",
                strempty(json_get_string(source, "type")), name);
        r = fetch_as_user(source, dir, c->user, &fo, &info, &error);
        if (r < 0)
                return error_set(ret_error, r, "source: %s", error ?: strerror(-r));
        revision = json_get_string(info, "revision");

        r = release_link_shared(a, name, json_object_object_get(c->run->app, "symlinks"),
                                ret_error);
        if (r >= 0)
                r = write_shared_config(c, a, ret_error);
        if (r >= 0)
                r = run_hook(c, a, name, "before_migrate", revision, ret_error);
        if (r >= 0)
                r = run_hook(c, a, name, "before_symlink", revision, ret_error);
        if (r < 0)
                return r;

        entry = json_object_new_object();
        if (!entry)
                return -ENOMEM;
        add_string(entry, "revision", revision);
        json_object_object_add(entry, "source", source_summary(source, info));
        r = release_activate(a, name, entry, ret_error);
        if (r < 0)
                return r;
        *ret_revision = revision ? strdup(revision) : NULL;
        return revision && !*ret_revision ? -ENOMEM : 0;
}

static unsigned keep_releases(const AppContext *c) {
        json_object *k = json_object_object_get(c->run->app, "keep_releases");

        return k ? (unsigned) json_object_get_int(k) : c->run->config->keep_releases;
}

static int deploy_one(const AppContext *c, char **ret_message, char **ret_error) {
        const AgentConfig *cfg = c->run->config;
        _cleanup_(release_closep) AppReleases *a = NULL;
        _cleanup_free_ char *name = NULL, *revision = NULL;
        unsigned pruned = 0;
        int r;

        if (!json_object_object_get(c->run->app, "source"))
                return error_set(ret_error, -EINVAL, "source: missing, nothing to deploy");
        r = release_open(cfg->deploy_root, c->name, c->uid, c->gid, true, &a, ret_error);
        if (r >= 0)
                r = remove_strays(c, a, ret_error);
        if (r >= 0)
                r = release_create(a, &name, ret_error);
        if (r < 0)
                return r;

        r = prepare_and_activate(c, a, name, &revision, ret_error);
        if (r < 0) {
                int k = release_discard(a, name);

                if (k < 0)
                        app_log(c, LOG_ERR, "cannot remove release %s: %s", name, strerror(-k));
                else
                        app_log(c, LOG_INFO, "release %s removed; current unchanged", name);
                return r;
        }
        app_log(c, LOG_NOTICE, "current is release %s%s%s", name, revision ? ", revision " : "",
                strempty(revision));

        r = run_hook(c, a, name, "before_restart", revision, ret_error);
        if (r >= 0)
                r = run_command(c, a, "restart", false, ret_error);
        if (r >= 0)
                r = run_hook(c, a, name, "after_restart", revision, ret_error);
        if (r >= 0)
                r = release_prune(a, keep_releases(c), &pruned, ret_error);
        if (r < 0) {
                error_prefix(ret_error, "after the switch to release %s", name);
                return r;
        }
        *ret_message = strf("deployed release %s%s%s%s", name, revision ? " (" : "",
                            strempty(revision), revision ? ")" : "");
        if (pruned)
                app_log(c, LOG_INFO, "removed %u old release(s), keeping %u", pruned,
                        keep_releases(c));
        return *ret_message ? 0 : -ENOMEM;
}

/* The app's releases when it has a directory; -ENOENT (no error message) when not. */
static int open_existing(const AppContext *c, AppReleases **ret, char **ret_error) {
        _cleanup_free_ char *error = NULL;
        int r;

        r = release_open(c->run->config->deploy_root, c->name, c->uid, c->gid, false, ret, &error);
        if (r < 0 && r != -ENOENT)
                return error_set(ret_error, r, "%s", error ?: strerror(-r));
        return r;
}

static int rollback_one(const AppContext *c, char **ret_message, char **ret_error) {
        _cleanup_(release_closep) AppReleases *a = NULL;
        _cleanup_free_ char *from = NULL, *to = NULL;
        int r;

        r = open_existing(c, &a, ret_error);
        if (r == -ENOENT) {
                *ret_message = strf("nothing deployed, nothing to roll back");
                return *ret_message ? 0 : -ENOMEM;
        }
        if (r < 0)
                return r;
        r = remove_strays(c, a, ret_error);
        if (r >= 0)
                r = release_rollback(a, &from, &to, ret_error);
        if (r < 0)
                return r;
        if (r > 0) {
                *ret_message = from ? strf("no release older than %s: nothing rolled back, "
                                           "current unchanged",
                                           from)
                                    : strf("nothing deployed, nothing to roll back");
                return *ret_message ? 0 : -ENOMEM;
        }
        app_log(c, LOG_NOTICE, "current is release %s again; release %s removed", to, from);
        r = run_command(c, a, "restart", false, ret_error);
        if (r < 0) {
                error_prefix(ret_error, "after the rollback to release %s", to);
                return r;
        }
        *ret_message = strf("rolled back from release %s to %s", from, to);
        return *ret_message ? 0 : -ENOMEM;
}

static int undeploy_one(const AppContext *c, char **ret_message, char **ret_error) {
        _cleanup_(release_closep) AppReleases *a = NULL;
        size_t n;
        int r;

        r = open_existing(c, &a, ret_error);
        if (r == -ENOENT) {
                *ret_message = strf("nothing deployed");
                return *ret_message ? 0 : -ENOMEM;
        }
        if (r < 0)
                return r;
        n = release_count(a);
        r = release_remove_all(a, ret_error);
        if (r < 0)
                return r;
        *ret_message = strf("undeployed: %zu release(s) and %s removed", n, a->deploy_to);
        return *ret_message ? 0 : -ENOMEM;
}

static int service_one(const AppContext *c, const char *action, char **ret_message,
                       char **ret_error) {
        _cleanup_(release_closep) AppReleases *a = NULL;
        int r;

        r = open_existing(c, &a, ret_error);
        if (r == -ENOENT)
                return error_set(ret_error, r, "not deployed: nothing to %s", action);
        if (r < 0)
                return r;
        r = run_command(c, a, action, true, ret_error);
        if (r < 0)
                return r;
        *ret_message = strf("%s_command done", action);
        return *ret_message ? 0 : -ENOMEM;
}

static int action_one(const AppContext *c, CommandType type, char **ret_message,
                      char **ret_error) {
        switch (type) {
        case COMMAND_SETUP:
        case COMMAND_DEPLOY:
                return deploy_one(c, ret_message, ret_error);
        case COMMAND_ROLLBACK:
                return rollback_one(c, ret_message, ret_error);
        case COMMAND_UNDEPLOY:
                return undeploy_one(c, ret_message, ret_error);
        case COMMAND_START:
                return service_one(c, "start", ret_message, ret_error);
        case COMMAND_STOP:
                return service_one(c, "stop", ret_message, ret_error);
        case COMMAND_RESTART:
                return service_one(c, "restart", ret_message, ret_error);
        default:
                return error_set(ret_error, -EOPNOTSUPP, "%s is not an app action",
                                 command_type_to_string(type));
        }
}

int deploy_apps(const DeployRun *base, CommandType type, json_object *apps,
                json_object *deploy_attrs, char **ret_message, char **ret_error) {
        _cleanup_(strbuf_done) StrBuf messages = {};

        for (size_t i = 0; i < array_length(apps); i++) {
                json_object *app = json_object_array_get_idx(apps, i), *paths = NULL;
                _cleanup_(app_context_done) AppContext c = {};
                _cleanup_free_ char *message = NULL, *error = NULL;
                DeployRun run = *base;
                int r;

                run.app = app;
                r = app_context_init(&run, &c, &error);
                if (r >= 0)
                        r = action_one(&c, type, &message, &error);
                if (r == -ENOMEM)
                        return r;
                if (deploy_paths(base->config, app, &paths) < 0)
                        return -ENOMEM;
                json_object_object_add(deploy_attrs, json_get_string(app, "shortname"), paths);
                if (r < 0) {
                        *ret_error = strf("app %s: %s", strempty(json_get_string(app, "shortname")),
                                          error ?: strerror(-r));
                        return *ret_error ? 1 : -ENOMEM;
                }
                app_log(&c, LOG_NOTICE, "%s", message);
                if (strbuf_printf(&messages, "%s%s: %s", i > 0 ? "; " : "", c.name, message) < 0)
                        return -ENOMEM;
        }
        *ret_message = strbuf_steal(&messages);
        return *ret_message ? 0 : -ENOMEM;
}
