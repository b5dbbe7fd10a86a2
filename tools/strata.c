/* SPDX-License-Identifier: MIT */
/* strata [GLOBAL OPTIONS] VERB [OPTIONS]: the operator CLI over an etcd control plane, with the
 * verbs of `aws opsworks`. This file only reads the command line and picks the verb (the verbs
 * are in strata-<noun>.c); options are checked against the verb's table so that every mistake
 * names the option. Exit: 0 success, 1 failure, 2 bad command line. */

#include <curl/curl.h>
#include <stdarg.h>

#include "str-util.h"
#include "strata.h"

static const Verb *const verb_tables[] = {
        verbs_init,     verbs_stack, verbs_layer,      verbs_app,
        verbs_instance, verbs_user,  verbs_deployment,
};

typedef struct Global {
        const char *name;
        const char *env;
        const char *metavar;
        const char *help;
} Global;

static const Global globals[] = {
        {"endpoints", "STRATA_ENDPOINTS", "URL[,URL...]",
         "etcd client URLs, tried in turn (default " STRATA_ENDPOINT_DEFAULT ")"},
        {"user", "STRATA_USER", "NAME", "etcd user to authenticate as"},
        {"password-file", "STRATA_PASSWORD_FILE", "FILE", "file holding that user's password"},
        {"prefix", "STRATA_PREFIX", "PREFIX", "key prefix (default " STRATA_PREFIX_DEFAULT ")"},
        {"cacert", "STRATA_CACERT", "FILE", "CA bundle to verify etcd's certificate"},
        {"cert", "STRATA_CERT", "FILE", "TLS client certificate (with --key)"},
        {"key", "STRATA_KEY", "FILE", "its private key"},
};

int strata_error(int status, const char *fmt, ...) {
        va_list ap;

        fputs("strata: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return status;
}

int strata_fail(int r, const char *error) {
        return strata_error(r == -EINVAL ? STRATA_EXIT_USAGE : STRATA_EXIT_FAILED, "%s",
                            error ?: strerror(-r));
}

static void help_globals(void) {
        printf("\nGlobal options (or the variables named):\n");
        for (size_t i = 0; i < ELEMENTSOF(globals); i++) {
                _cleanup_free_ char *left = strf("--%s %s", globals[i].name, globals[i].metavar);

                printf("  %-28s %s [%s]\n", strempty(left), globals[i].help, globals[i].env);
        }
        printf("  %-28s %s\n", "--help", "this text");
        printf("\nExit status: 0 success, 1 failure (etcd refused, not found, conflict), 2 bad "
               "command line.\n");
}

static void help_all(void) {
        printf("Usage: strata [GLOBAL OPTIONS] VERB [OPTIONS]\n\n"
               "Stacks, layers, apps, instances, users and deployments of a Strata fleet, kept "
               "in etcd.\n\nVerbs:\n");
        for (size_t t = 0; t < ELEMENTSOF(verb_tables); t++)
                for (const Verb *v = verb_tables[t]; v->name; v++)
                        printf("  %-22s %s\n", v->name, v->summary);
        printf("\n`strata VERB --help` shows a verb's options.\n");
        help_globals();
}

static void help_verb(const Verb *v) {
        printf("Usage: strata [GLOBAL OPTIONS] %s%s\n\n%s.\n", v->name,
               v->options && v->options->name ? " [OPTIONS]" : "", v->summary);
        if (v->options && v->options->name) {
                printf("\nOptions:\n");
                for (const Option *o = v->options; o->name; o++) {
                        _cleanup_free_ char *left = NULL;

                        switch (o->kind) {
                        case OPTION_VALUE:
                                left = strf("--%s %s", o->name, o->metavar);
                                break;
                        case OPTION_LIST:
                                left = strf("--%s %s [%s...]", o->name, o->metavar, o->metavar);
                                break;
                        case OPTION_FLAG:
                                left = strf("--%s", o->name);
                                break;
                        case OPTION_NEGATABLE:
                                left = strf("--[no-]%s", o->name);
                                break;
                        }
                        printf("  %-28s %s%s\n", strempty(left), o->help,
                               o->required ? " (required)" : "");
                }
        }
        help_globals();
}

static const Verb *verb_find(const char *name) {
        for (size_t t = 0; t < ELEMENTSOF(verb_tables); t++)
                for (const Verb *v = verb_tables[t]; v->name; v++)
                        if (streq(v->name, name))
                                return v;
        return NULL;
}

/* "--name=value" or "--name value": the option's name (malloc'd) and its inline value. */
static char *option_name(const char *arg, const char **ret_inline) {
        const char *eq = strchr(arg, '=');

        *ret_inline = eq ? eq + 1 : NULL;
        return eq ? strndup(arg + 2, (size_t)(eq - arg - 2)) : strdup(arg + 2);
}

/* A global option at argv[*i]: 1 when it was one (and consumed its value), 0 when not. */
static int parse_global(Strata *s, int argc, char *argv[], int *i, const char *name,
                        const char *inline_value, bool *seen) {
        const char *value;

        for (size_t g = 0; g < ELEMENTSOF(globals); g++) {
                if (!streq(name, globals[g].name))
                        continue;
                if (seen[g])
                        return -strata_error(STRATA_EXIT_USAGE, "--%s given twice", name);
                seen[g] = true;
                if (inline_value)
                        value = inline_value;
                else if (*i + 1 < argc)
                        value = argv[++*i];
                else
                        return -strata_error(STRATA_EXIT_USAGE, "--%s needs a value (%s)", name,
                                             globals[g].metavar);

                switch (g) {
                case 0:
                        strv_free(s->endpoints);
                        s->endpoints = NULL;
                        for (const char *p = value; *p;) {
                                size_t n = strcspn(p, ",");

                                if (n > 0 && strv_push(&s->endpoints, strndup(p, n)) < 0)
                                        return -strata_error(STRATA_EXIT_FAILED, "out of memory");
                                p += n + (p[n] == ',');
                        }
                        break;
                case 1:
                        s->user = value;
                        break;
                case 2:
                        s->password_file = value;
                        break;
                case 3:
                        s->prefix = value;
                        break;
                case 4:
                        s->cacert = value;
                        break;
                case 5:
                        s->cert = value;
                        break;
                case 6:
                        s->key = value;
                        break;
                }
                return 1;
        }
        return 0;
}

static const Option *verb_option(const Verb *v, const char *name, bool *ret_negated) {
        *ret_negated = false;
        for (const Option *o = v->options; o && o->name; o++) {
                if (streq(o->name, name))
                        return o;
                if (o->kind == OPTION_NEGATABLE && startswith(name, "no-") &&
                    streq(o->name, name + 3)) {
                        *ret_negated = true;
                        return o;
                }
        }
        return NULL;
}

/* A list option's values: the arguments up to the next option, or one JSON list of strings. */
static int parse_list(Strata *s, const Option *o, int argc, char *argv[], int *i,
                      const char *inline_value, json_object **ret) {
        _cleanup_json_ json_object *list = json_object_new_array();

        if (!list)
                return -strata_error(STRATA_EXIT_FAILED, "out of memory");

        if (!inline_value && (*i + 1 >= argc || startswith(argv[*i + 1], "--")))
                return -strata_error(STRATA_EXIT_USAGE, "%s: --%s needs at least one %s",
                                     s->verb->name, o->name, o->metavar);

        for (const char *value = inline_value ?: argv[++*i];;) {
                if (value[0] == '[') {
                        _cleanup_json_ json_object *parsed = json_tokener_parse(value);
                        size_t n = json_object_array_length(parsed);

                        if (!json_object_is_type(parsed, json_type_array))
                                return -strata_error(STRATA_EXIT_USAGE,
                                                     "%s: --%s: expected a JSON list of strings",
                                                     s->verb->name, o->name);
                        for (size_t k = 0; k < n; k++) {
                                json_object *e = json_object_array_get_idx(parsed, k);

                                if (!json_object_is_type(e, json_type_string))
                                        return -strata_error(STRATA_EXIT_USAGE,
                                                             "%s: --%s[%zu]: expected a string",
                                                             s->verb->name, o->name, k);
                                json_object_array_add(list, json_object_get(e));
                        }
                } else
                        json_object_array_add(list, json_object_new_string(value));

                if (inline_value || *i + 1 >= argc || startswith(argv[*i + 1], "--"))
                        break;
                value = argv[++*i];
        }
        *ret = TAKE_PTR(list);
        return 0;
}

/* Fills s from argv; a status to exit with (after printing), or -1 to go on. */
static int parse(Strata *s, int argc, char *argv[]) {
        bool seen[ELEMENTSOF(globals)] = {}, help = false;
        int r;

        s->args = json_object_new_object();
        if (!s->args)
                return strata_error(STRATA_EXIT_FAILED, "out of memory");

        for (int i = 1; i < argc; i++) {
                _cleanup_free_ char *name = NULL;
                const char *inline_value;
                const Option *o;
                bool negated;
                json_object *v = NULL;

                if (!startswith(argv[i], "--")) {
                        if (s->verb)
                                return strata_error(STRATA_EXIT_USAGE,
                                                    "%s: unexpected argument '%s' (options are "
                                                    "--name VALUE)",
                                                    s->verb->name, argv[i]);
                        s->verb = verb_find(argv[i]);
                        if (!s->verb)
                                return strata_error(STRATA_EXIT_USAGE,
                                                    "unknown verb '%s' (try strata --help)",
                                                    argv[i]);
                        continue;
                }

                name = option_name(argv[i], &inline_value);
                if (!name)
                        return strata_error(STRATA_EXIT_FAILED, "out of memory");
                if (streq(name, "help")) {
                        help = true;
                        continue;
                }
                r = parse_global(s, argc, argv, &i, name, inline_value, seen);
                if (r < 0)
                        return -r;
                if (r > 0)
                        continue;

                o = s->verb ? verb_option(s->verb, name, &negated) : NULL;
                if (!o)
                        return s->verb ? strata_error(STRATA_EXIT_USAGE,
                                                      "%s: unknown option --%s (try strata %s "
                                                      "--help)",
                                                      s->verb->name, name, s->verb->name)
                                       : strata_error(STRATA_EXIT_USAGE,
                                                      "unknown option --%s before the verb "
                                                      "(try strata --help)",
                                                      name);
                if (json_object_object_get_ex(s->args, o->name, NULL))
                        return strata_error(STRATA_EXIT_USAGE, "%s: --%s given twice",
                                            s->verb->name, o->name);

                switch (o->kind) {
                case OPTION_VALUE:
                        if (!inline_value && i + 1 >= argc)
                                return strata_error(STRATA_EXIT_USAGE,
                                                    "%s: --%s needs a value (%s)", s->verb->name,
                                                    o->name, o->metavar);
                        v = json_object_new_string(inline_value ?: argv[++i]);
                        break;
                case OPTION_LIST:
                        r = parse_list(s, o, argc, argv, &i, inline_value, &v);
                        if (r < 0)
                                return -r;
                        break;
                case OPTION_FLAG:
                case OPTION_NEGATABLE:
                        if (inline_value)
                                return strata_error(STRATA_EXIT_USAGE, "%s: --%s takes no value",
                                                    s->verb->name, name);
                        v = json_object_new_boolean(!negated);
                        break;
                }
                if (!v || json_object_object_add(s->args, o->name, v) < 0) {
                        json_object_put(v);
                        return strata_error(STRATA_EXIT_FAILED, "out of memory");
                }
        }

        if (help) {
                if (s->verb)
                        help_verb(s->verb);
                else
                        help_all();
                return STRATA_EXIT_SUCCESS;
        }
        if (!s->verb)
                return strata_error(STRATA_EXIT_USAGE, "no verb given (try strata --help)");
        for (const Option *o = s->verb->options; o && o->name; o++)
                if (o->required && !json_object_object_get_ex(s->args, o->name, NULL))
                        return strata_error(STRATA_EXIT_USAGE,
                                            "%s: --%s is required (try strata %s --help)",
                                            s->verb->name, o->name, s->verb->name);

        /* Variables stand in for global options not given. */
        for (size_t g = 0; g < ELEMENTSOF(globals); g++) {
                const char *value = getenv(globals[g].env);
                const char *name = globals[g].name;
                int i = 0;

                if (seen[g] || !value || !*value)
                        continue;
                r = parse_global(s, 1, (char *[]){NULL}, &i, name, value, seen);
                if (r < 0)
                        return -r;
        }
        if (!s->endpoints && strv_extend(&s->endpoints, STRATA_ENDPOINT_DEFAULT) < 0)
                return strata_error(STRATA_EXIT_FAILED, "out of memory");
        if (!s->prefix)
                s->prefix = STRATA_PREFIX_DEFAULT;
        if (s->prefix[0] != '/' || endswith(s->prefix, "/") || strstr(s->prefix, "//"))
                return strata_error(STRATA_EXIT_USAGE,
                                    "--prefix '%s': expected a key prefix starting with '/', "
                                    "without a trailing '/' or '//'",
                                    s->prefix);
        if (!s->user != !s->password_file)
                return strata_error(STRATA_EXIT_USAGE, "--%s needs --%s",
                                    s->user ? "user" : "password-file",
                                    s->user ? "password-file" : "user");
        if (!s->cert != !s->key)
                return strata_error(STRATA_EXIT_USAGE, "--%s needs --%s", s->cert ? "cert" : "key",
                                    s->cert ? "key" : "cert");
        return -1;
}

int main(int argc, char *argv[]) {
        Strata s = {};
        int r;

        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return strata_error(STRATA_EXIT_FAILED, "cannot initialise libcurl");

        /* Every verb talks to etcd: the client (and the password file) first, so that a verb
         * finds it ready. */
        r = parse(&s, argc, argv);
        if (r < 0)
                r = strata_etcd(&s) ? s.verb->run(&s) : STRATA_EXIT_FAILED;

        etcd_client_free(s.etcd);
        json_object_put(s.args);
        strv_free(s.endpoints);
        curl_global_cleanup();
        return r;
}
