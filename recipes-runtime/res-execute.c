/* SPDX-License-Identifier: MIT */
/* execute: runs a command as the step user (the resource's `user`, else the run's run_as), with
 * the resource's timeout, through the step runner. `command` is an argv list run as is, or a
 * string run through /bin/sh -c.
 *
 * A command cannot tell whether it has run before; `creates` can: when that path exists, the
 * command is not run and the resource is up to date. Without it every run is a change. A
 * nonzero exit status, a signal or a timeout fails the resource, and the error quotes the last
 * lines of the output. In why-run nothing is run. */

#include <inttypes.h>
#include <signal.h>
#include <sys/stat.h>

#include "res-execute.h"
#include "step-runner.h"
#include "str-util.h"

/* How much of a failed command's output its error quotes. */
#define EXECUTE_ERROR_LINES 10
#define EXECUTE_ERROR_BYTES 2048U

int execute_check_common(Resource *r, char **ret_error) {
        const char *cwd = resource_str(r, "cwd"), *creates = resource_str(r, "creates");
        json_object *environment = resource_get(r, "environment");

        if (cwd && cwd[0] != '/')
                return error_set(ret_error, -EINVAL, "cwd '%s' must be an absolute path", cwd);
        if (creates && creates[0] == '\0')
                return error_set(ret_error, -EINVAL, "creates must not be empty");
        if (creates && creates[0] != '/' && !cwd)
                return error_set(ret_error, -EINVAL,
                                 "creates '%s' must be an absolute path, or cwd must be set",
                                 creates);
        if (!environment)
                return 0;
        json_object_object_foreach(environment, name, value) {
                if (name[0] == '\0' || strchr(name, '='))
                        return error_set(ret_error, -EINVAL,
                                         "environment name '%s' must be non-empty and must not "
                                         "contain '='",
                                         name);
                (void) value;
        }
        return 0;
}

int execute_creates_exists(Resource *r) {
        const char *creates = resource_str(r, "creates"), *cwd = resource_str(r, "cwd");
        _cleanup_free_ char *path = NULL;
        struct stat st;
        int k;

        if (!creates)
                return 0;
        if (creates[0] != '/') {
                path = strf("%s/%s", cwd, creates);
                if (!path)
                        return resource_fail(r, -ENOMEM, "out of memory");
                creates = path;
        }
        /* As `test -e` sees it: a dangling symbolic link does not count. */
        if (stat(creates, &st) >= 0)
                return 1;
        if (errno == ENOENT || errno == ENOTDIR)
                return 0;
        k = -errno;
        return resource_fail(r, k, "cannot check creates path %s: %s", creates, strerror(-k));
}

/* The environment property (names to strings, as the loader normalised it) as KEY=VALUE. */
static int execute_environment(Resource *r, char ***ret) {
        json_object *environment = resource_get(r, "environment");
        _cleanup_strv_free_ char **env = NULL;

        if (environment) {
                json_object_object_foreach(environment, name, value) {
                        char *e = strf("%s=%s", name, json_object_get_string(value));

                        if (!e || strv_push(&env, e) < 0)
                                return -ENOMEM;
                }
        }
        *ret = TAKE_PTR(env);
        return 0;
}

/* The last lines of output, at most EXECUTE_ERROR_LINES and EXECUTE_ERROR_BYTES, without the
 * final newline: where *ret_start points, *ret_len bytes. */
static void output_last_lines(const char *output, const char **ret_start, int *ret_len) {
        size_t len = strlen(output), start;
        unsigned lines = 0;

        while (len > 0 && output[len - 1] == '\n')
                len--;
        for (start = len; start > 0 && len - start < EXECUTE_ERROR_BYTES; start--)
                if (output[start - 1] == '\n' && ++lines == EXECUTE_ERROR_LINES)
                        break;
        *ret_start = output + start;
        *ret_len = (int) (len - start);
}

static int execute_fail(Resource *r, const StepResult *res, const char *what) {
        _cleanup_free_ char *headline = NULL;
        const char *tail;
        int tail_len;

        if (res->timed_out)
                headline = strf("%s timed out after %" PRId64 "s", what,
                                resource_int(r, "timeout", 0));
        else if (res->signal != 0)
                headline = strf("%s was killed by signal %d (%s)", what, res->signal,
                                strsignal(res->signal));
        else
                headline = strf("%s exited with status %d", what, res->exit_status);
        if (!headline)
                return resource_fail(r, -ENOMEM, "out of memory");

        output_last_lines(res->output, &tail, &tail_len);
        if (tail_len == 0)
                return resource_fail(r, -EIO, "%s", headline);
        return resource_fail(r, -EIO, "%s; last output:\n%.*s", headline, tail_len, tail);
}

int execute_run(Resource *r, char **argv, const char *what) {
        _cleanup_(step_result_done) StepResult res = {};
        _cleanup_strv_free_ char **env = NULL;
        int k;

        if (execute_environment(r, &env) < 0)
                return resource_fail(r, -ENOMEM, "out of memory");
        k = resource_run_step(r, argv, resource_str(r, "cwd"), env, &res);
        if (k < 0)
                return k;
        if (res.timed_out || res.signal != 0 || res.exit_status != 0)
                return execute_fail(r, &res, what);
        return 1;
}

static int execute_check(Resource *r, char **ret_error) {
        _cleanup_strv_free_ char **argv = NULL;
        int k;

        k = step_argv_from_json(resource_get(r, "command"), &argv, ret_error);
        if (k < 0)
                return k;
        return execute_check_common(r, ret_error);
}

static int execute_apply(Resource *r, const char *action) {
        json_object *command = resource_get(r, "command");
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *error = NULL, *shown = NULL;
        int k;

        (void) action; /* "run" is the only one; converge handles "nothing" */

        k = execute_creates_exists(r);
        if (k != 0)
                return k < 0 ? k : 0;

        k = step_argv_from_json(command, &argv, &error);
        if (k < 0)
                return resource_fail(r, k, "%s", strempty(error));
        /* What the recipe wrote: the shell string, or the argv joined. */
        if (json_object_is_type(command, json_type_string))
                shown = strdup(json_object_get_string(command));
        else
                shown = strv_join(argv, " ");
        if (!shown)
                return resource_fail(r, -ENOMEM, "out of memory");
        if (!resource_change(r, "run %s", shown))
                return 1;
        return execute_run(r, argv, "command");
}

static const char *const execute_actions[] = { "run", NULL };

static const PropSpec execute_properties[] = {
        { "command", PROP_COMMAND, true },
        { "cwd", PROP_STRING },
        { "environment", PROP_MAP },
        { "creates", PROP_STRING },
        { NULL },
};

const ResourceType resource_type_execute = {
        .name = "execute",
        .actions = execute_actions,
        .properties = execute_properties,
        .identity = "command",
        .check = execute_check,
        .apply = execute_apply,
};
