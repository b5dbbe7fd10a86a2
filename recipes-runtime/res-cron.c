/* SPDX-License-Identifier: MIT */
/* cron: one job as a file in /etc/cron.d (RuntimeConfig.cron_dir), which cron picks up itself.
 *
 * create: makes <cron_dir>/<name> exactly
 *     # Managed by Strata: cron[<name>]
 *     MAILTO=<mailto>                                (when mailto is set)
 *     VAR=value                                      (each entry of environment, in order)
 *     <minute> <hour> <day> <month> <weekday> <user> <command>
 * mode 0644, owned by root, replaced atomically; user defaults to root and every time field to
 * "*". delete: removes the file.
 *
 * Everything is validated when the recipe loads: cron silently skips a file whose name has a
 * dot in it and a line it cannot parse, so a mistake would otherwise never show anywhere. The
 * command is written as given: cron's own rules apply to it (a bare % starts stdin). */

#include <strings.h>
#include <sys/stat.h>

#include "fs-util.h"
#include "resource.h"
#include "str-util.h"

#define CRON_DEFAULT_DIR "/etc/cron.d"
#define CRON_FILE_MODE 0644
/* An existing file larger than this is not ours to compare: it is simply replaced. */
#define CRON_FILE_MAX (1024U * 1024U)

typedef struct CronField {
        const char *name;
        unsigned min, max;
        const char *const *names; /* three-letter names for min, min+1, ... */
} CronField;

static const char *const cron_month_names[] = { "jan", "feb", "mar", "apr", "may", "jun", "jul",
                                                "aug", "sep", "oct", "nov", "dec", NULL };
static const char *const cron_weekday_names[] = { "sun", "mon", "tue", "wed",
                                                  "thu", "fri", "sat", NULL };

static const CronField cron_fields[] = {
        { "minute", 0, 59, NULL },
        { "hour", 0, 23, NULL },
        { "day", 1, 31, NULL },
        { "month", 1, 12, cron_month_names },
        { "weekday", 0, 7, cron_weekday_names }, /* 0 and 7 are both Sunday */
};

/* One number or name of a field, s[0..n). */
static int cron_value(const CronField *f, const char *s, size_t n, unsigned *ret) {
        unsigned v = 0;

        if (f->names && n == 3)
                for (unsigned i = 0; f->names[i]; i++)
                        if (strncasecmp(s, f->names[i], 3) == 0) {
                                *ret = f->min + i;
                                return 0;
                        }

        if (n == 0 || n > 2)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned) (s[i] - '0');
        }
        if (v < f->min || v > f->max)
                return -ERANGE;
        *ret = v;
        return 0;
}

/* One element of a list: "*", "N" or "N-M", the first and last optionally with "/STEP". */
static int cron_element(const CronField *f, const char *s, size_t n) {
        const char *slash = memchr(s, '/', n);
        size_t base = slash ? (size_t) (slash - s) : n;
        unsigned lo, hi, step;
        const char *dash;
        int k;

        if (base == 1 && s[0] == '*')
                lo = f->min, hi = f->max;
        else {
                dash = memchr(s, '-', base);
                if (!dash && slash) /* cron takes a step only after * or a range */
                        return -EINVAL;
                k = cron_value(f, s, dash ? (size_t) (dash - s) : base, &lo);
                if (k < 0)
                        return k;
                hi = lo;
                if (dash) {
                        k = cron_value(f, dash + 1, base - (size_t) (dash + 1 - s), &hi);
                        if (k < 0)
                                return k;
                        if (hi < lo)
                                return -ERANGE;
                }
        }

        if (slash) {
                const CronField steps = { .min = 1, .max = f->max };

                k = cron_value(&steps, slash + 1, n - base - 1, &step);
                if (k < 0)
                        return k;
        }
        return 0;
}

static int cron_check_field(const CronField *f, const char *value, char **ret_error) {
        const char *p = value;

        for (;;) {
                size_t n = strcspn(p, ",");

                if (cron_element(f, p, n) < 0)
                        return error_set(ret_error, -EINVAL,
                                         "%s: '%s' is not a cron time field (expected *, a number "
                                         "%u-%u%s, a range like %u-%u, a step like */5, or a "
                                         "comma-separated list of those)",
                                         f->name, value, f->min, f->max,
                                         f->names == cron_month_names     ? " or jan-dec"
                                         : f->names == cron_weekday_names ? " or sun-sat"
                                                                          : "",
                                         f->min, f->min + 4);
                if (!p[n])
                        return 0;
                p += n + 1;
        }
}

static bool valid_name(const char *s, const char *extra) {
        if (!s || !*s)
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || strchr(extra, *p)))
                        return false;
        return true;
}

static bool valid_env_name(const char *s) {
        return valid_name(s, "_") && !(s[0] >= '0' && s[0] <= '9');
}

static int cron_check(Resource *r, char **ret_error) {
        const char *name = resource_str(r, "name"), *command = resource_str(r, "command");
        const char *user = resource_str(r, "user"), *mailto = resource_str(r, "mailto");
        json_object *environment = resource_get(r, "environment");
        int k;

        if (!valid_name(name, "_-"))
                return error_set(ret_error, -EINVAL,
                                 "name '%s' must be letters, digits, '_' and '-' only: it names "
                                 "the file in the cron directory, and cron ignores files with "
                                 "other characters",
                                 name);

        for (size_t i = 0; i < ELEMENTSOF(cron_fields); i++) {
                const char *v = resource_str(r, cron_fields[i].name);

                if (!v)
                        continue;
                k = cron_check_field(&cron_fields[i], v, ret_error);
                if (k < 0)
                        return k;
        }

        if (!*command || strpbrk(command, "\r\n"))
                return error_set(ret_error, -EINVAL,
                                 "command must be one non-empty line (a cron line cannot span "
                                 "lines)");
        if (user && (!valid_name(user, "._-") || user[0] == '-'))
                return error_set(ret_error, -EINVAL, "user '%s' is not a valid user name", user);
        if (mailto && strpbrk(mailto, "\r\n"))
                return error_set(ret_error, -EINVAL, "mailto must be a single line");

        if (!environment)
                return 0;
        json_object_object_foreach(environment, key, value) {
                if (!valid_env_name(key))
                        return error_set(ret_error, -EINVAL,
                                         "environment: '%s' is not a variable name (letters, "
                                         "digits and '_', not starting with a digit)",
                                         key);
                if (strpbrk(json_object_get_string(value), "\r\n"))
                        return error_set(ret_error, -EINVAL,
                                         "environment: the value of %s must be a single line",
                                         key);
        }
        return 0;
}

static int cron_content(Resource *r, char **ret) {
        _cleanup_(strbuf_done) StrBuf b = {};
        json_object *environment = resource_get(r, "environment");
        const char *mailto = resource_str(r, "mailto");
        int k;

        k = strbuf_printf(&b, "# Managed by Strata: cron[%s]\n", resource_str(r, "name"));
        if (k >= 0 && mailto)
                k = strbuf_printf(&b, "MAILTO=%s\n", *mailto ? mailto : "\"\"");
        if (environment) {
                json_object_object_foreach(environment, key, value)
                        if (k >= 0)
                                k = strbuf_printf(&b, "%s=%s\n", key,
                                                  json_object_get_string(value));
        }
        for (size_t i = 0; k >= 0 && i < ELEMENTSOF(cron_fields); i++)
                k = strbuf_printf(&b, "%s ", resource_str(r, cron_fields[i].name) ?: "*");
        if (k >= 0)
                k = strbuf_printf(&b, "%s %s\n", resource_str(r, "user") ?: "root",
                                  resource_str(r, "command"));
        if (k < 0)
                return k;

        *ret = strbuf_steal(&b);
        return *ret ? 0 : -ENOMEM;
}

static int cron_create(Resource *r, const char *path) {
        _cleanup_free_ char *content = NULL, *old = NULL;
        struct stat st;
        int k;

        k = cron_content(r, &content);
        if (k < 0)
                return resource_fail(r, k, "out of memory");

        k = read_full_file(path, CRON_FILE_MAX, &old, NULL);
        if (k < 0 && k != -ENOENT && k != -EFBIG)
                return resource_fail(r, k, "cannot read %s: %s", path, strerror(-k));

        if (!old || !streq(old, content)) {
                if (!resource_change(r, "%s %s", old || k == -EFBIG ? "update" : "create", path))
                        return 1;
                k = write_file_atomic(path, content, strlen(content), CRON_FILE_MODE, 0, 0);
                if (k < 0)
                        return resource_fail(r, k, "cannot write %s: %s", path, strerror(-k));
                return 1;
        }

        if (lstat(path, &st) < 0)
                return resource_fail(r, -errno, "cannot stat %s: %m", path);
        if (!S_ISREG(st.st_mode) || (st.st_mode & 07777) != CRON_FILE_MODE || st.st_uid != 0 ||
            st.st_gid != 0) {
                if (!resource_change(r, "set %s to mode %04o, owner root:root", path,
                                     (unsigned) CRON_FILE_MODE))
                        return 1;
                /* Rewriting also replaces a symbolic link that happens to have our content. */
                k = write_file_atomic(path, content, strlen(content), CRON_FILE_MODE, 0, 0);
                if (k < 0)
                        return resource_fail(r, k, "cannot write %s: %s", path, strerror(-k));
                return 1;
        }
        return 0;
}

static int cron_delete(Resource *r, const char *path) {
        struct stat st;

        if (lstat(path, &st) < 0) {
                if (errno == ENOENT)
                        return 0;
                return resource_fail(r, -errno, "cannot stat %s: %m", path);
        }
        if (!resource_change(r, "delete %s", path))
                return 1;
        if (unlink(path) < 0)
                return resource_fail(r, -errno, "cannot delete %s: %m", path);
        return 1;
}

static int cron_apply(Resource *r, const char *action) {
        _cleanup_free_ char *path = NULL;

        path = strf("%s/%s", r->cfg->cron_dir ?: CRON_DEFAULT_DIR, resource_str(r, "name"));
        if (!path)
                return resource_fail(r, -ENOMEM, "out of memory");

        if (streq(action, "delete"))
                return cron_delete(r, path);
        return cron_create(r, path);
}

static const char *const cron_actions[] = { "create", "delete", NULL };

/* `user` (the crontab user) is the engine's common property of that name. */
static const PropSpec cron_properties[] = {
        { "name", PROP_STRING, true },
        { "minute", PROP_STRING },
        { "hour", PROP_STRING },
        { "day", PROP_STRING },
        { "month", PROP_STRING },
        { "weekday", PROP_STRING },
        { "command", PROP_STRING, true },
        { "mailto", PROP_STRING },
        { "environment", PROP_MAP },
        { NULL },
};

const ResourceType resource_type_cron = {
        .name = "cron",
        .actions = cron_actions,
        .properties = cron_properties,
        .identity = "name",
        .check = cron_check,
        .apply = cron_apply,
};
