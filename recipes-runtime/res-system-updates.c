/* SPDX-License-Identifier: MIT */
/* system_updates: the updates the distribution publishes for everything installed, not only for
 * packages a recipe names. It names no package, which is why it is not an action of package:
 * there `name` is required, and it would mean nothing here.
 *
 * security: installs the pending upgrades that a security archive provides, through apt or dnf,
 * whichever is installed.
 * - apt: `apt-get update`; then, of the upgrades `apt-get -s --with-new-pkgs upgrade` would make,
 *   those to a version from a security archive (res-system-updates.h) are installed with
 *   `apt-get install --only-upgrade`. --with-new-pkgs counts an upgrade that needs a new package
 *   too, a new kernel ABI above all; nothing is removed, and a held package stays as it is.
 * - dnf: the packages of the security advisories (`dnf updateinfo list --security`, metadata
 *   refreshed first), then `dnf upgrade --security`.
 * The package manager changes something only when there is something to upgrade.
 *
 * Why-run changes nothing, package lists included: it reads apt's lists and dnf's metadata cache
 * as they were last fetched (dnf fails when it has never fetched them). */

#include "res-system-updates.h"
#include "res-package.h"
#include "spawn-program.h"
#include "str-util.h"

static bool ascii_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Cuts the line that starts at *p off the rest (overwriting its newline) and moves *p to the
 * next one; NULL past the last. */
static char *next_line(char **p) {
        char *line = *p, *nl;

        if (!line)
                return NULL;
        nl = strchr(line, '\n');
        if (nl)
                *nl++ = 0;
        *p = nl;
        return line;
}

static int push_once(char ***packages, const char *name, size_t n) {
        _cleanup_free_ char *s = strndup(name, n);

        if (!s)
                return -ENOMEM;
        if (strv_contains(*packages, s))
                return 0;
        return strv_push(packages, TAKE_PTR(s));
}

/* A Debian package name, with ":arch" when apt shows one: nothing that apt-get could read as an
 * option. */
static bool valid_apt_name(const char *s, size_t n) {
        if (n == 0 || !ascii_alnum(s[0]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!ascii_alnum(s[i]) && !strchr("+-.:", s[i]))
                        return false;
        return true;
}

/* One archive as apt shows it, "label:version/suite" (each part may be missing); cut at the
 * label. */
static bool apt_origin_is_security(char *origin) {
        char *colon = strchr(origin, ':');

        if (colon) {
                *colon = 0;
                if (strstr(origin, "Security"))
                        return true;
                origin = colon + 1;
        }
        return endswith(origin, "-security");
}

/* "Inst <name> [<installed>] (<version> <origin>, <origin> [<arch>])", maybe followed by more:
 * adds the name when it is an upgrade to a version from a security archive. -EBADMSG for any
 * other shape. */
static int apt_inst_line(const char *line, char ***packages) {
        _cleanup_free_ char *copy = strdup(line);
        char *name, *p, *close, *origins, *arch;
        size_t name_len;
        bool upgrade;

        if (!copy)
                return -ENOMEM;
        name = copy + strlen("Inst ");
        name_len = strcspn(name, " ");
        if (!valid_apt_name(name, name_len))
                return -EBADMSG;
        p = name + name_len;
        upgrade = startswith(p, " [");
        if (upgrade) {
                p = strchr(p, ']');
                if (!p)
                        return -EBADMSG;
                p++;
        }
        if (!startswith(p, " ("))
                return -EBADMSG;
        p += strlen(" (");
        close = strchr(p, ')');
        if (!close)
                return -EBADMSG;
        *close = 0;

        /* The origins lie between the new version and the architecture. */
        origins = strchr(p, ' ');
        if (!origins)
                return -EBADMSG;
        origins++;
        arch = strrchr(origins, '[');
        if (arch) {
                if (arch == origins || arch[-1] != ' ')
                        return -EBADMSG;
                arch[-1] = 0;
        }
        if (!upgrade)
                return 0;

        for (char *o = origins, *next; o; o = next) {
                next = strstr(o, ", ");
                if (next) {
                        *next = 0;
                        next += strlen(", ");
                }
                if (apt_origin_is_security(o))
                        return push_once(packages, name, name_len);
        }
        return 0;
}

int system_updates_parse_apt(const char *output, char ***ret_packages, char **ret_error) {
        _cleanup_strv_free_ char **packages = calloc(1, sizeof(char *));
        _cleanup_free_ char *copy = strdup(output);
        char *line;
        int k;

        if (!packages || !copy)
                return -ENOMEM;
        for (char *p = copy; (line = next_line(&p));) {
                if (!startswith(line, "Inst "))
                        continue;
                k = apt_inst_line(line, &packages);
                if (k == -EBADMSG)
                        return error_set(ret_error, k, "unexpected line '%s'", line);
                if (k < 0)
                        return k;
        }
        *ret_packages = TAKE_PTR(packages);
        return 0;
}

/* The length of the name in an RPM "name-[epoch:]version-release.arch" word; 0 when the word is
 * something else (an advisory id, a severity, a date). */
static size_t nevra_name_length(const char *w, size_t n) {
        const char *dot = NULL, *release = NULL, *version = NULL;

        for (const char *c = w; c < w + n; c++)
                if (*c == '.')
                        dot = c;
        if (!dot || dot == w + n - 1)
                return 0;
        for (const char *c = w; c < dot; c++)
                if (*c == '-') {
                        version = release;
                        release = c;
                }
        if (!version || version == w || !(version[1] >= '0' && version[1] <= '9'))
                return 0;
        return (size_t) (version - w);
}

int system_updates_parse_dnf(const char *output, char ***ret_packages) {
        _cleanup_strv_free_ char **packages = calloc(1, sizeof(char *));
        _cleanup_free_ char *copy = strdup(output);
        char *line;
        int k;

        if (!packages || !copy)
                return -ENOMEM;
        for (char *p = copy; (line = next_line(&p));) {
                /* Past the first word, the advisory, the first word that is a package. */
                const char *w = line + strspn(line, " \t");

                for (w += strcspn(w, " \t"); *w;) {
                        size_t n, name;

                        w += strspn(w, " \t");
                        n = strcspn(w, " \t");
                        name = nevra_name_length(w, n);
                        if (name > 0) {
                                k = push_once(&packages, w, name);
                                if (k < 0)
                                        return k;
                                break;
                        }
                        w += n;
                }
        }
        *ret_packages = TAKE_PTR(packages);
        return 0;
}

/* spawn_program() keeps only the last SPAWN_OUTPUT_MAX bytes of a program's output: a longer list
 * has lost its beginning, and maybe security updates with it. */
static int require_whole(Resource *r, const char *output, const char *what) {
        if (strlen(output) < SPAWN_OUTPUT_MAX)
                return 0;
        return resource_fail(r, -E2BIG,
                             "%s printed more than %u KiB: too many pending updates to find the "
                             "security ones among them; upgrade the others first",
                             what, SPAWN_OUTPUT_MAX / 1024U);
}

static int apt_security(Resource *r) {
        _cleanup_strv_free_ char **packages = NULL, **args = NULL;
        _cleanup_free_ char *output = NULL, *error = NULL, *list = NULL;
        int k;

        if (!r->cfg->why_run) {
                k = package_apt_get(r, STRV_MAKE("update"));
                if (k < 0)
                        return k;
        }
        /* No lock: the simulation only reads, and must not wait behind unattended-upgrades. */
        k = resource_run_program(r,
                                 (const char *[]){ "apt-get", "-s", "-o", "Debug::NoLocking=1",
                                                   "--with-new-pkgs", "upgrade", NULL },
                                 NULL, &output);
        if (k < 0)
                return k;
        k = require_whole(r, output, "apt-get -s upgrade");
        if (k < 0)
                return k;
        k = system_updates_parse_apt(output, &packages, &error);
        if (k < 0)
                return resource_fail(r, k, "cannot read the output of apt-get -s upgrade: %s",
                                     error ?: strerror(-k));
        if (!packages[0])
                return 0;

        list = strv_join(packages, ", ");
        if (!list)
                return resource_fail(r, -ENOMEM, "out of memory");
        if (!resource_change(r, "upgrade: %s", list))
                return 1;
        if (strv_extend(&args, "install") < 0 || strv_extend(&args, "--only-upgrade") < 0)
                return resource_fail(r, -ENOMEM, "out of memory");
        for (char **p = packages; *p; p++)
                if (strv_extend(&args, *p) < 0)
                        return resource_fail(r, -ENOMEM, "out of memory");
        k = package_apt_get(r, args);
        return k < 0 ? k : 1;
}

static int dnf_security(Resource *r) {
        _cleanup_strv_free_ char **packages = NULL;
        _cleanup_free_ char *output = NULL, *list = NULL;
        int k;

        /* --refresh: the advisories published by now, as apt-get update does; -C: the metadata
         * cache as it is, which why-run must not touch. */
        k = resource_run_program(r,
                                 (const char *[]){ "dnf", "-q",
                                                   r->cfg->why_run ? "-C" : "--refresh",
                                                   "updateinfo", "list", "--security", NULL },
                                 NULL, &output);
        if (k < 0)
                return k;
        k = require_whole(r, output, "dnf updateinfo list --security");
        if (k < 0)
                return k;
        k = system_updates_parse_dnf(output, &packages);
        if (k < 0)
                return resource_fail(r, k, "out of memory");
        if (!packages[0])
                return 0;

        list = strv_join(packages, ", ");
        if (!list)
                return resource_fail(r, -ENOMEM, "out of memory");
        if (!resource_change(r, "upgrade: %s", list))
                return 1;
        k = resource_run_program(r,
                                 (const char *[]){ "dnf", "-y", "-q", "upgrade", "--security",
                                                   NULL },
                                 NULL, NULL);
        return k < 0 ? k : 1;
}

/* 1 when the program is installed, 0 when not. */
static int program_installed(Resource *r, const char *program) {
        _cleanup_free_ char *path = NULL;
        int k;

        k = spawn_find_program(program, &path);
        if (k == -ENOENT)
                return 0;
        if (k < 0)
                return resource_fail(r, k, "cannot look for %s: %s", program, strerror(-k));
        return 1;
}

static int system_updates_apply(Resource *r, const char *action) {
        int k;

        (void) action; /* security is the only one */
        k = program_installed(r, "apt-get");
        if (k != 0)
                return k < 0 ? k : apt_security(r);
        k = program_installed(r, "dnf");
        if (k != 0)
                return k < 0 ? k : dnf_security(r);
        return resource_fail(r, -ENOENT,
                             "no supported package manager: neither apt-get nor dnf is installed "
                             "in %s",
                             SPAWN_PATH);
}

static const char *const system_updates_actions[] = { "security", NULL };

static const PropSpec system_updates_properties[] = {
        { NULL },
};

const ResourceType resource_type_system_updates = {
        .name = "system_updates",
        .actions = system_updates_actions,
        .properties = system_updates_properties,
        .identity = "name",
        .apply = system_updates_apply,
};
