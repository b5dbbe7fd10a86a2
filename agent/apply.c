/* SPDX-License-Identifier: MIT */
#include <getopt.h>

#include "apply.h"
#include "converge.h"
#include "fs-util.h"
#include "json-util.h"
#include "report.h"
#include "str-util.h"

#define EXIT_BAD_INPUT 2

typedef struct ApplyArgs {
        char **cookbook_path;
        char **json_files;
        char **run_list;
        const char *report_file;
        const char *run_as;
        bool why_run;
        bool allow_privileged;
} ApplyArgs;

static void apply_args_done(ApplyArgs *a) {
        strv_free(a->cookbook_path);
        strv_free(a->json_files);
        strv_free(a->run_list);
}

static void help(void) {
        printf("Usage: strata-agent apply [OPTIONS] RECIPE...\n"
               "\n"
               "Converge a run list (cookbook or cookbook::recipe) on this machine.\n"
               "\n"
               "  --cookbook-path DIR         a directory of cookbooks; repeat for more, the\n"
               "                              first that has a cookbook wins\n"
               "  --json FILE                 attributes (JSON or YAML), merged in the order given\n"
               "  --why-run                   report what would change, change nothing\n"
               "  --report FILE               write the JSON run report to FILE\n"
               "  --run-as USER               user for execute, script and guards (strata)\n"
               "  --allow-privileged-steps    let steps run as root\n"
               "  -h, --help                  show this help\n"
               "\n"
               "Exit status: 0 the run succeeded, 1 a resource failed, 2 bad input.\n");
}

static int parse_args(int argc, char *argv[], ApplyArgs *a) {
        enum { ARG_COOKBOOK_PATH = 0x100, ARG_JSON, ARG_WHY_RUN, ARG_REPORT, ARG_RUN_AS, ARG_PRIV };
        static const struct option options[] = {
                { "cookbook-path", required_argument, NULL, ARG_COOKBOOK_PATH },
                { "json", required_argument, NULL, ARG_JSON },
                { "why-run", no_argument, NULL, ARG_WHY_RUN },
                { "report", required_argument, NULL, ARG_REPORT },
                { "run-as", required_argument, NULL, ARG_RUN_AS },
                { "allow-privileged-steps", no_argument, NULL, ARG_PRIV },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int c;

        optind = 1;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_COOKBOOK_PATH:
                        if (strv_extend(&a->cookbook_path, optarg) < 0)
                                return -ENOMEM;
                        break;
                case ARG_JSON:
                        if (strv_extend(&a->json_files, optarg) < 0)
                                return -ENOMEM;
                        break;
                case ARG_WHY_RUN:
                        a->why_run = true;
                        break;
                case ARG_REPORT:
                        a->report_file = optarg;
                        break;
                case ARG_RUN_AS:
                        a->run_as = optarg;
                        break;
                case ARG_PRIV:
                        a->allow_privileged = true;
                        break;
                case 'h':
                        help();
                        return 0;
                default:
                        return -EINVAL;
                }

        for (int i = optind; i < argc; i++)
                if (strv_extend(&a->run_list, argv[i]) < 0)
                        return -ENOMEM;
        if (!a->run_list) {
                fprintf(stderr, "strata-agent apply: no recipe given (try --help)\n");
                return -EINVAL;
        }
        if (!a->cookbook_path) {
                fprintf(stderr, "strata-agent apply: no --cookbook-path given\n");
                return -EINVAL;
        }
        return 1;
}

/* The summary on stdout says what happened to each resource; the log adds only warnings and
 * errors (retries, step output of failures). */
static void log_stderr(int priority, const LogContext *ctx, const char *message, void *userdata) {
        (void) userdata;
        if (priority > LOG_WARNING)
                return;
        fprintf(stderr, "%s%s%s\n", strempty(ctx->resource), ctx->resource ? ": " : "", message);
}

static void free_layers(json_object **layers, size_t n) {
        for (size_t i = 0; i < n; i++)
                json_object_put(layers[i]);
        free(layers);
}

int apply_main(int argc, char *argv[]) {
        _cleanup_(apply_args_done) ApplyArgs a = {};
        _cleanup_json_ json_object *report = NULL;
        _cleanup_free_ char *error = NULL;
        size_t n = 0;
        json_object **layers = NULL;
        int k;

        k = parse_args(argc, argv, &a);
        if (k <= 0)
                return k == 0 ? EXIT_SUCCESS : EXIT_BAD_INPUT;

        n = strv_length(a.json_files);
        layers = calloc(n + 1, sizeof(json_object *));
        if (!layers)
                return EXIT_BAD_INPUT;
        for (size_t i = 0; i < n; i++) {
                k = attributes_load_file(a.json_files[i], &layers[i], &error);
                if (k >= 0 && !json_object_is_type(layers[i], json_type_object))
                        k = error_set(&error, -EINVAL,
                                      "%s: attributes must be a JSON object (a mapping)",
                                      a.json_files[i]);
                if (k < 0) {
                        fprintf(stderr, "strata-agent apply: %s\n",
                                error ?: strerror(-k));
                        free_layers(layers, n);
                        return EXIT_BAD_INPUT;
                }
        }

        RuntimeConfig cfg = {
                .cookbook_path = a.cookbook_path,
                .run_as = a.run_as,
                .allow_privileged_steps = a.allow_privileged,
                .why_run = a.why_run,
                .log = log_stderr,
        };
        ConvergeRequest req = {
                .run_list = a.run_list,
                .attributes = layers,
                .n_attributes = n,
        };
        k = converge(&cfg, &req, &report, NULL, &error);
        free_layers(layers, n);
        if (k < 0) {
                fprintf(stderr, "strata-agent apply: %s\n", error ?: strerror(-k));
                return EXIT_BAD_INPUT;
        }

        report_print(report, stdout);
        if (a.report_file) {
                const char *s = json_object_to_json_string_ext(report, JSON_C_TO_STRING_PRETTY |
                                                                               JSON_C_TO_STRING_NOSLASHESCAPE);
                _cleanup_free_ char *text = strf("%s\n", s);
                int w = text ? write_file_atomic(a.report_file, text, strlen(text), 0644,
                                                 (uid_t) -1, (gid_t) -1)
                             : -ENOMEM;
                if (w < 0) {
                        fprintf(stderr, "strata-agent apply: cannot write report %s: %s\n",
                                a.report_file, strerror(-w));
                        return EXIT_FAILURE;
                }
        }
        return k == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
