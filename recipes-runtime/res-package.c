/* SPDX-License-Identifier: MIT */
/* package: system packages through the distribution's package manager, apt (dpkg-query,
 * apt-cache, apt-get) or dnf (rpm, dnf), whichever is installed.
 *
 * install: installs each named package that is missing; with `version` (one name only) makes
 * exactly that version installed, downgrading if need be.
 * upgrade: as install, and upgrades an installed package whose candidate (the version the
 * package manager would install now) differs from the installed one.
 * remove: removes the installed ones (apt keeps their configuration files, as apt-get remove
 * does).
 *
 * The package database is asked first; the package manager runs only when something differs,
 * once for all the packages that need it. Package lists are not refreshed here (apt-get
 * update): a recipe that wants it says so with its own step. */

#include "res-package.h"
#include "spawn-program.h"
#include "str-util.h"

#define APT_LOCK_TIMEOUT "300" /* seconds */

typedef struct PackageManager {
        const char *query, *tool; /* both must be installed for this manager to be used */
        /* 1 with the installed version, 0 when the package is not installed. */
        int (*installed)(Resource *r, const char *package, char **ret_version);
        /* 1 with the version an upgrade would bring, 0 when there is none. */
        int (*upgrade)(Resource *r, const char *package, const char *installed,
                       char **ret_version);
        bool (*same_version)(const char *installed, const char *want);
        char *(*pin)(const char *package, const char *version);
        /* action is "install" or "remove" */
        int (*run)(Resource *r, const char *action, char **packages, bool pinned);
} PackageManager;

/* What follows prefix on the first line of s that starts with it (after blanks); NULL if none. */
static const char *find_line(const char *s, const char *prefix) {
        for (const char *line = s; line && *line;) {
                const char *p = line + strspn(line, " \t");

                if (startswith(p, prefix))
                        return p + strlen(prefix);
                line = strchr(line, '\n');
                if (line)
                        line++;
        }
        return NULL;
}

/* A copy of the word of p (blank-separated, up to the end of the line) after `skip` words. */
static char *nth_word(const char *p, size_t skip) {
        p += strspn(p, " \t");
        for (; skip > 0; skip--) {
                p += strcspn(p, " \t\r\n");
                p += strspn(p, " \t");
        }
        return strndup(p, strcspn(p, " \t\r\n"));
}

/* apt */

static int apt_installed(Resource *r, const char *package, char **ret_version) {
        _cleanup_free_ char *output = NULL;
        char *argv[] = { (char *) "dpkg-query", (char *) "-W", (char *) "-f",
                         (char *) "${Status} ${Version}\\n", (char *) package, NULL };
        int status, k;

        k = spawn_program(argv, NULL, &output, &status);
        if (k < 0)
                return resource_fail(r, k, "cannot run dpkg-query: %s", strerror(-k));
        /* 1: dpkg has never heard of the package. */
        if (status == 1)
                return 0;
        if (status != 0)
                return resource_fail(r, -EPROTO, "dpkg-query -W %s failed with exit status %d: %s",
                                     package, status, output);

        /* "install ok installed 2.10-3", one line per architecture; the package is installed
         * when its status (the third word) says so, whatever was wanted of it (hold too). */
        for (const char *line = output; line && *line;) {
                _cleanup_free_ char *state = nth_word(line, 2), *version = nth_word(line, 3);

                if (!state || !version)
                        return resource_fail(r, -ENOMEM, "out of memory");
                if (streq(state, "installed") && *version) {
                        *ret_version = TAKE_PTR(version);
                        return 1;
                }
                line = strchr(line, '\n');
                if (line)
                        line++;
        }
        return 0;
}

static int apt_upgrade(Resource *r, const char *package, const char *installed,
                       char **ret_version) {
        _cleanup_free_ char *output = NULL, *candidate = NULL;
        const char *p;
        int k;

        k = resource_run_program(r, (const char *[]){ "apt-cache", "policy", package, NULL },
                                 NULL, &output);
        if (k < 0)
                return k;
        p = find_line(output, "Candidate:");
        if (!p)
                return 0;
        candidate = nth_word(p, 0);
        if (!candidate)
                return resource_fail(r, -ENOMEM, "out of memory");
        if (!*candidate || streq(candidate, "(none)") || streq(candidate, installed))
                return 0;
        *ret_version = TAKE_PTR(candidate);
        return 1;
}

static bool apt_same_version(const char *installed, const char *want) {
        return streq(installed, want);
}

static char *apt_pin(const char *package, const char *version) {
        return strf("%s=%s", package, version);
}

int package_apt_get(Resource *r, char *const *args) {
        /* The lock timeout: on a fresh instance unattended-upgrades often holds the dpkg lock
         * for a while, and apt-get would otherwise fail at once. */
        static const char *const common[] = {
                "apt-get", "-y", "-q",
                "-o", "Dpkg::Options::=--force-confdef",
                "-o", "Dpkg::Options::=--force-confold",
                "-o", "DPkg::Lock::Timeout=" APT_LOCK_TIMEOUT,
        };
        char *environment[] = { (char *) "DEBIAN_FRONTEND=noninteractive", NULL };
        _cleanup_strv_free_ char **argv = NULL;

        for (size_t i = 0; i < ELEMENTSOF(common); i++)
                if (strv_extend(&argv, common[i]) < 0)
                        return resource_fail(r, -ENOMEM, "out of memory");
        for (char *const *a = args; *a; a++)
                if (strv_extend(&argv, *a) < 0)
                        return resource_fail(r, -ENOMEM, "out of memory");

        return resource_run_program(r, (const char *const *) argv, environment, NULL);
}

static int apt_run(Resource *r, const char *action, char **packages, bool pinned) {
        _cleanup_strv_free_ char **args = NULL;

        /* A pinned version may be older than the installed one. */
        if ((pinned && strv_extend(&args, "--allow-downgrades") < 0) ||
            strv_extend(&args, action) < 0)
                return resource_fail(r, -ENOMEM, "out of memory");
        for (char **p = packages; *p; p++)
                if (strv_extend(&args, *p) < 0)
                        return resource_fail(r, -ENOMEM, "out of memory");

        return package_apt_get(r, args);
}

/* dnf */

static int rpm_installed(Resource *r, const char *package, char **ret_version) {
        _cleanup_free_ char *output = NULL;
        char *argv[] = { (char *) "rpm", (char *) "-q", (char *) "--qf",
                         (char *) "%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n", (char *) package, NULL };
        int status, k;

        k = spawn_program(argv, NULL, &output, &status);
        if (k < 0)
                return resource_fail(r, k, "cannot run rpm: %s", strerror(-k));
        /* 1: "package x is not installed". Several lines: several versions (kernels); the
         * first one stands for them. */
        if (status == 1)
                return 0;
        if (status != 0)
                return resource_fail(r, -EPROTO, "rpm -q %s failed with exit status %d: %s",
                                     package, status, output);
        *ret_version = strndup(output, strcspn(output, "\n"));
        if (!*ret_version)
                return resource_fail(r, -ENOMEM, "out of memory");
        return 1;
}

static int dnf_upgrade(Resource *r, const char *package, const char *installed,
                       char **ret_version) {
        _cleanup_free_ char *output = NULL, *prefix = NULL, *candidate = NULL;
        const char *p;
        char *argv[] = { (char *) "dnf", (char *) "-q", (char *) "check-update", (char *) package,
                         NULL };
        int status, k;

        (void) installed;
        k = spawn_program(argv, NULL, &output, &status);
        if (k < 0)
                return resource_fail(r, k, "cannot run dnf: %s", strerror(-k));
        /* 100: updates are available, 0: none. */
        if (status == 0)
                return 0;
        if (status != 100)
                return resource_fail(r, -EPROTO,
                                     "dnf check-update %s failed with exit status %d: %s",
                                     package, status, output);

        /* "nginx.x86_64   1:1.20.1-14.el9   appstream" */
        prefix = strf("%s.", package);
        if (!prefix)
                return resource_fail(r, -ENOMEM, "out of memory");
        p = find_line(output, prefix);
        candidate = p ? nth_word(p, 1) : strdup("");
        if (!candidate)
                return resource_fail(r, -ENOMEM, "out of memory");
        if (!*candidate) {
                free(candidate);
                candidate = strdup("a newer version");
                if (!candidate)
                        return resource_fail(r, -ENOMEM, "out of memory");
        }
        *ret_version = TAKE_PTR(candidate);
        return 1;
}

/* rpm reports "epoch:version-release"; a recipe may pin "version", "version-release" or all
 * three. */
static bool rpm_same_version(const char *installed, const char *want) {
        const char *colon = strchr(installed, ':'), *vr = colon ? colon + 1 : installed;
        const char *dash = strrchr(vr, '-');

        if (strchr(want, ':'))
                return streq(installed, want);
        if (streq(vr, want))
                return true;
        return dash && strlen(want) == (size_t) (dash - vr) && strncmp(vr, want, strlen(want)) == 0;
}

static char *dnf_pin(const char *package, const char *version) {
        return strf("%s-%s", package, version);
}

static int dnf_run(Resource *r, const char *action, char **packages, bool pinned) {
        _cleanup_strv_free_ char **argv = NULL;

        (void) pinned; /* dnf install downgrades to a pinned version by itself */
        if (strv_extend(&argv, "dnf") < 0 || strv_extend(&argv, "-y") < 0 ||
            strv_extend(&argv, "-q") < 0 || strv_extend(&argv, action) < 0)
                return resource_fail(r, -ENOMEM, "out of memory");
        for (char **p = packages; *p; p++)
                if (strv_extend(&argv, *p) < 0)
                        return resource_fail(r, -ENOMEM, "out of memory");
        return resource_run_program(r, (const char *const *) argv, NULL, NULL);
}

static const PackageManager package_managers[] = {
        {
                .query = "dpkg-query",
                .tool = "apt-get",
                .installed = apt_installed,
                .upgrade = apt_upgrade,
                .same_version = apt_same_version,
                .pin = apt_pin,
                .run = apt_run,
        },
        {
                .query = "rpm",
                .tool = "dnf",
                .installed = rpm_installed,
                .upgrade = dnf_upgrade,
                .same_version = rpm_same_version,
                .pin = dnf_pin,
                .run = dnf_run,
        },
};

static const PackageManager *package_manager_find(void) {
        for (size_t i = 0; i < ELEMENTSOF(package_managers); i++) {
                _cleanup_free_ char *a = NULL, *b = NULL;

                if (spawn_find_program(package_managers[i].query, &a) >= 0 &&
                    spawn_find_program(package_managers[i].tool, &b) >= 0)
                        return &package_managers[i];
        }
        return NULL;
}

/* What one package needs: NULL when nothing, else the argument for the package manager. */
static int package_plan(Resource *r, const PackageManager *pm, const char *action,
                        const char *package, char **ret) {
        const char *version = resource_str(r, "version");
        _cleanup_free_ char *installed = NULL, *candidate = NULL;
        int k;

        *ret = NULL;
        k = pm->installed(r, package, &installed);
        if (k < 0)
                return k;

        if (streq(action, "remove")) {
                if (!installed)
                        return 0;
                if (!resource_change(r, "remove %s %s", package, installed))
                        return 1;
                *ret = strdup(package);
                return *ret ? 1 : resource_fail(r, -ENOMEM, "out of memory");
        }

        if (version) {
                if (installed && pm->same_version(installed, version))
                        return 0;
                if (installed && !resource_change(r, "change %s from %s to %s", package,
                                                  installed, version))
                        return 1;
                if (!installed && !resource_change(r, "install %s %s", package, version))
                        return 1;
                *ret = pm->pin(package, version);
                return *ret ? 1 : resource_fail(r, -ENOMEM, "out of memory");
        }

        if (installed && streq(action, "upgrade")) {
                k = pm->upgrade(r, package, installed, &candidate);
                if (k <= 0)
                        return k;
                if (!resource_change(r, "upgrade %s from %s to %s", package, installed, candidate))
                        return 1;
        } else if (installed)
                return 0;
        else if (!resource_change(r, "install %s", package))
                return 1;

        *ret = strdup(package);
        return *ret ? 1 : resource_fail(r, -ENOMEM, "out of memory");
}

static int package_apply(Resource *r, const char *action) {
        _cleanup_strv_free_ char **names = resource_strv(r, "name"), **todo = NULL;
        const PackageManager *pm;
        int k, changed = 0;

        if (!names)
                return resource_fail(r, -ENOMEM, "out of memory");
        pm = package_manager_find();
        if (!pm)
                return resource_fail(r, -ENOENT,
                                     "no supported package manager: neither apt (dpkg-query, "
                                     "apt-get) nor dnf (rpm, dnf) is installed in %s",
                                     SPAWN_PATH);

        for (char **n = names; *n; n++) {
                _cleanup_free_ char *arg = NULL;

                k = package_plan(r, pm, action, *n, &arg);
                if (k < 0)
                        return k;
                changed |= k;
                if (arg && strv_push(&todo, TAKE_PTR(arg)) < 0)
                        return resource_fail(r, -ENOMEM, "out of memory");
        }

        if (!todo)
                return changed;
        k = pm->run(r, streq(action, "remove") ? "remove" : "install", todo,
                    resource_str(r, "version") != NULL);
        return k < 0 ? k : 1;
}

/* Debian and RPM package names, plus an ":arch" qualifier; nothing that could be read as an
 * option or a pattern. */
static bool valid_package(const char *s) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || strchr("+-._:", *p)))
                        return false;
        return true;
}

static bool valid_version(const char *s) {
        if (!(*s >= '0' && *s <= '9'))
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || strchr("+-._:~^", *p)))
                        return false;
        return true;
}

static int package_check(Resource *r, char **ret_error) {
        _cleanup_strv_free_ char **names = resource_strv(r, "name");
        const char *version = resource_str(r, "version");

        if (!names)
                return -ENOMEM;
        for (char **n = names; *n; n++)
                if (!valid_package(*n))
                        return error_set(ret_error, -EINVAL,
                                         "name: '%s' is not a package name (letters, digits and "
                                         "+-._: starting with a letter or digit)",
                                         *n);
        if (version && strv_length(names) != 1)
                return error_set(ret_error, -EINVAL,
                                 "version can only be given with a single package name");
        if (version && !valid_version(version))
                return error_set(ret_error, -EINVAL,
                                 "version '%s' is not a package version (starting with a digit)",
                                 version);
        return 0;
}

static const char *const package_actions[] = { "install", "upgrade", "remove", NULL };

static const PropSpec package_properties[] = {
        { "name", PROP_STRING_LIST, true },
        { "version", PROP_STRING },
        { NULL },
};

const ResourceType resource_type_package = {
        .name = "package",
        .actions = package_actions,
        .properties = package_properties,
        .identity = "name",
        .check = package_check,
        .apply = package_apply,
};
