/* SPDX-License-Identifier: MIT */
/* script: runs `code` with an interpreter ("bash" unless `interpreter` names another, either a
 * program or a program and its flags as a list) as the step user, like execute: same cwd,
 * environment, creates, user and timeout, same errors.
 *
 * The code goes to a file the interpreter reads: <tmp>/strata-script-XXXXXX/script, the
 * directory root's and mode 0711 (enterable, not listable), the file the step user's and mode
 * 0400, since code is often interpolated with secrets. Both are removed once the step is over.
 * /tmp because every user can reach it, and under systemd's PrivateTmp it is the agent's own. */

#include <fcntl.h>
#include <sys/stat.h>

#include "fs-util.h"
#include "res-execute.h"
#include "str-util.h"

#define SCRIPT_DEFAULT_INTERPRETER "bash"
#define SCRIPT_TMP_TEMPLATE "/tmp/strata-script-XXXXXX"

static void rm_rf_and_freep(char **dir) {
        if (*dir) {
                (void) rm_rf(*dir);
                free(*dir);
        }
}

/* Writes code into a new private directory; *ret_dir is the directory (to remove), *ret_path
 * the file. Returns < 0 after resource_fail(). */
static int script_write(Resource *r, const char *code, char **ret_dir, char **ret_path) {
        const char *user = resource_str(r, "user") ?: r->cfg->run_as ?: RUNTIME_DEFAULT_USER;
        _cleanup_(rm_rf_and_freep) char *dir = strdup(SCRIPT_TMP_TEMPLATE);
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;
        size_t len = strlen(code), done = 0;
        uid_t uid;
        int k;

        if (!dir)
                return resource_fail(r, -ENOMEM, "out of memory");
        if (!mkdtemp(dir)) {
                k = -errno;
                free(TAKE_PTR(dir)); /* nothing to remove */
                return resource_fail(r, k, "cannot create a directory for the script in /tmp: %s",
                                     strerror(-k));
        }
        if (chmod(dir, 0711) < 0) {
                k = -errno;
                return resource_fail(r, k, "cannot change mode of %s: %s", dir, strerror(-k));
        }

        path = strf("%s/script", dir);
        if (!path)
                return resource_fail(r, -ENOMEM, "out of memory");
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0400);
        if (fd < 0) {
                k = -errno;
                return resource_fail(r, k, "cannot create %s: %s", path, strerror(-k));
        }
        while (done < len) {
                ssize_t n = write(fd, code + done, len - done);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        k = -errno;
                        return resource_fail(r, k, "cannot write %s: %s", path, strerror(-k));
                }
                done += (size_t) n;
        }
        /* Readable by the user the step runs as (the one resource_run_step() picks). An unknown
         * user is left for the step runner to report. */
        if (resolve_user(user, &uid, NULL) >= 0 && fchown(fd, uid, (gid_t) -1) < 0) {
                k = -errno;
                return resource_fail(r, k, "cannot change owner of %s: %s", path, strerror(-k));
        }

        *ret_dir = TAKE_PTR(dir);
        *ret_path = TAKE_PTR(path);
        return 0;
}

static int script_check(Resource *r, char **ret_error) {
        _cleanup_strv_free_ char **interpreter = resource_strv(r, "interpreter");

        if (!interpreter)
                return -ENOMEM;
        for (char **i = interpreter; *i; i++)
                if ((*i)[0] == '\0')
                        return error_set(ret_error, -EINVAL, "interpreter must not be empty");
        return execute_check_common(r, ret_error);
}

static int script_apply(Resource *r, const char *action) {
        _cleanup_strv_free_ char **argv = resource_strv(r, "interpreter");
        _cleanup_(rm_rf_and_freep) char *dir = NULL;
        _cleanup_free_ char *path = NULL;
        int k;

        (void) action; /* "run" is the only one; converge handles "nothing" */

        if (!argv)
                return resource_fail(r, -ENOMEM, "out of memory");
        if (!argv[0] && strv_extend(&argv, SCRIPT_DEFAULT_INTERPRETER) < 0)
                return resource_fail(r, -ENOMEM, "out of memory");

        k = execute_creates_exists(r);
        if (k != 0)
                return k < 0 ? k : 0;
        if (!resource_change(r, "run script with %s", argv[0]))
                return 1;

        k = script_write(r, resource_str(r, "code"), &dir, &path);
        if (k < 0)
                return k;
        if (strv_push(&argv, TAKE_PTR(path)) < 0)
                return resource_fail(r, -ENOMEM, "out of memory");
        return execute_run(r, argv, "script");
}

static const char *const script_actions[] = { "run", NULL };

static const PropSpec script_properties[] = {
        { "code", PROP_STRING, true },
        { "interpreter", PROP_STRING_LIST },
        { "cwd", PROP_STRING },
        { "environment", PROP_MAP },
        { "creates", PROP_STRING },
        { NULL },
};

const ResourceType resource_type_script = {
        .name = "script",
        .actions = script_actions,
        .properties = script_properties,
        /* Unnamed, a script is known by the first line of its code. */
        .identity = "code",
        .check = script_check,
        .apply = script_apply,
};
