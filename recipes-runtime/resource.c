/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "cookbook.h"
#include "fs-util.h"
#include "resource.h"
#include "spawn-program.h"
#include "step-runner.h"
#include "str-util.h"

const ResourceType *const resource_types[] = {
        &resource_type_cron,   &resource_type_directory, &resource_type_execute,
        &resource_type_file,   &resource_type_git,       &resource_type_group,
        &resource_type_link,   &resource_type_mount,     &resource_type_package,
        &resource_type_remote_file, &resource_type_script, &resource_type_service,
        &resource_type_system_updates, &resource_type_template, &resource_type_user,
        NULL,
};

const ResourceType *resource_type_find(const char *name) {
        for (const ResourceType *const *t = resource_types; *t; t++)
                if (streq((*t)->name, name))
                        return *t;
        return NULL;
}

json_object *resource_get(Resource *r, const char *prop) {
        json_object *v;

        if (!json_object_object_get_ex(r->props, prop, &v) || json_object_is_type(v, json_type_null))
                return NULL;
        return v;
}

const char *resource_str(Resource *r, const char *prop) {
        json_object *v = resource_get(r, prop);

        return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

bool resource_bool(Resource *r, const char *prop, bool def) {
        json_object *v = resource_get(r, prop);

        return v && json_object_is_type(v, json_type_boolean) ? json_object_get_boolean(v) : def;
}

int64_t resource_int(Resource *r, const char *prop, int64_t def) {
        json_object *v = resource_get(r, prop);
        int64_t n;

        if (!v)
                return def;
        if (json_object_is_type(v, json_type_int))
                return json_object_get_int64(v);
        if (json_object_is_type(v, json_type_string) &&
            parse_int64(json_object_get_string(v), &n) >= 0)
                return n;
        return def;
}

mode_t resource_mode(Resource *r, const char *prop) {
        json_object *v = resource_get(r, prop);
        mode_t m;

        if (!v)
                return (mode_t) -1;
        /* An integer in YAML (mode: 0644) was read as octal by the loader's core schema only
         * when written 0o644; a bare 644 or 0644 is meant as octal digits, as everyone writes
         * modes, so integers are reinterpreted through their decimal spelling. */
        if (json_object_is_type(v, json_type_int)) {
                _cleanup_free_ char *s = strf("%" PRId64, json_object_get_int64(v));
                return s && parse_mode(s, &m) >= 0 ? m : (mode_t) -1;
        }
        return parse_mode(json_object_get_string(v), &m) >= 0 ? m : (mode_t) -1;
}

char **resource_strv(Resource *r, const char *prop) {
        json_object *v = resource_get(r, prop);
        char **l = calloc(1, sizeof(char *));

        if (!l || !v)
                return l;
        if (json_object_is_type(v, json_type_array)) {
                for (size_t i = 0; i < json_object_array_length(v); i++)
                        if (strv_extend(&l, json_object_get_string(
                                                    json_object_array_get_idx(v, i))) < 0)
                                return strv_free(l), NULL;
        } else if (strv_extend(&l, json_object_get_string(v)) < 0)
                return strv_free(l), NULL;
        return l;
}

int resource_fail(Resource *r, int err, const char *fmt, ...) {
        va_list ap;
        char *m;

        va_start(ap, fmt);
        m = strfv(fmt, ap);
        va_end(ap);
        free(r->error);
        r->error = m;
        return err < 0 ? err : -EIO;
}

bool resource_change(Resource *r, const char *fmt, ...) {
        _cleanup_free_ char *m = NULL;
        va_list ap;

        va_start(ap, fmt);
        m = strfv(fmt, ap);
        va_end(ap);
        if (m) {
                resource_log(r, LOG_INFO, "%s%s", r->cfg->why_run ? "would " : "", m);
                if (!r->changes)
                        r->changes = json_object_new_array();
                json_object_array_add(r->changes, json_object_new_string(m));
        }
        return !r->cfg->why_run;
}

void resource_log(Resource *r, int priority, const char *fmt, ...) {
        _cleanup_free_ char *m = NULL;
        va_list ap;

        va_start(ap, fmt);
        m = strfv(fmt, ap);
        va_end(ap);
        if (!m)
                return;

        LogContext ctx = {
                .cookbook = r->cookbook ? r->cookbook->name : NULL,
                .recipe = r->recipe,
                .resource = r->id,
        };
        runtime_log(r->cfg, priority, &ctx, "%s", m);
}

int resource_owner(Resource *r, uid_t *ret_uid, gid_t *ret_gid) {
        const char *owner = resource_str(r, "owner"), *group = resource_str(r, "group");
        uid_t uid = (uid_t) -1;
        gid_t gid = (gid_t) -1;
        int k;

        if (owner) {
                k = resolve_user(owner, &uid, NULL);
                if (k < 0)
                        return resource_fail(r, k, "owner '%s' does not exist", owner);
        }
        if (group) {
                k = resolve_group(group, &gid);
                if (k < 0)
                        return resource_fail(r, k, "group '%s' does not exist", group);
        }
        *ret_uid = uid;
        *ret_gid = gid;
        return 0;
}

int resource_apply_attributes(Resource *r, const char *path, bool is_link) {
        mode_t mode = resource_mode(r, "mode");
        struct stat st;
        uid_t uid;
        gid_t gid;
        int k, changed = 0;

        k = resource_owner(r, &uid, &gid);
        if (k < 0)
                return k;
        if (fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                /* In why-run the path may not exist yet: its creation was reported already. */
                if (errno == ENOENT && r->cfg->why_run)
                        return 0;
                return resource_fail(r, -errno, "cannot stat %s: %m", path);
        }

        if ((uid != (uid_t) -1 && st.st_uid != uid) || (gid != (gid_t) -1 && st.st_gid != gid)) {
                const char *owner = resource_str(r, "owner"), *group = resource_str(r, "group");

                if (resource_change(r, "change ownership of %s to %s%s%s", path,
                                    owner ? owner : "", group ? ":" : "", group ? group : "")) {
                        if (fchownat(AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
                                return resource_fail(r, -errno, "cannot change owner of %s: %m",
                                                     path);
                        /* chown(2) clears the set-id bits of a file: look again. */
                        if (fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
                                return resource_fail(r, -errno, "cannot stat %s: %m", path);
                } else if (S_ISREG(st.st_mode))
                        st.st_mode &= ~(mode_t) (S_ISUID | S_ISGID);
                changed = 1;
        }

        if (!is_link && mode != (mode_t) -1 && (st.st_mode & 07777) != mode) {
                if (resource_change(r, "change mode of %s from %04o to %04o", path,
                                    (unsigned) (st.st_mode & 07777), (unsigned) mode) &&
                    chmod(path, mode) < 0)
                        return resource_fail(r, -errno, "cannot change mode of %s: %m", path);
                changed = 1;
        }
        return changed;
}

int resource_run_program(Resource *r, const char *const *argv, char **environment_extra,
                         char **ret_output) {
        _cleanup_free_ char *error = NULL;
        int k;

        /* spawn_program_checked() only reads argv. */
        k = spawn_program_checked((char **) argv, environment_extra, ret_output, &error);
        if (k < 0)
                return resource_fail(r, k, "%s", strempty(error));
        return 0;
}

static void step_line(const char *line, void *userdata) {
        resource_log(userdata, LOG_INFO, "%s", line);
}

static void step_started(pid_t pgid, void *userdata) {
        Resource *r = userdata;

        if (r->cfg->step_started)
                r->cfg->step_started(pgid, r->cfg->step_userdata);
}

int resource_run_step(Resource *r, char **argv, const char *cwd, char **environment,
                      StepResult *ret) {
        _cleanup_free_ char *error = NULL;
        const char *user = resource_str(r, "user");
        StepSpec spec = {
                .argv = argv,
                .cwd = cwd,
                .user = user ?: r->cfg->run_as ?: RUNTIME_DEFAULT_USER,
                .environment = environment,
                .timeout = (usec_t) resource_int(r, "timeout", 0) * USEC_PER_SEC,
                .allow_root = r->cfg->allow_privileged_steps,
                .on_line = step_line,
                .on_started = step_started,
                .userdata = r,
        };
        int k;

        k = step_run(&spec, ret, &error);
        if (k < 0)
                return resource_fail(r, k, "%s", error ?: "cannot start step");
        return 0;
}

Resource *resource_free(Resource *r) {
        if (!r)
                return NULL;
        json_object_put(r->props);
        json_object_put(r->item);
        json_object_put(r->changes);
        free(r->name);
        free(r->id);
        free(r->recipe);
        free(r->file);
        free(r->error);
        free(r);
        return NULL;
}
