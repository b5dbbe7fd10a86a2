/* SPDX-License-Identifier: MIT */
/* strata-agent-cli VERB [OPTIONS] [ARGS]: the agent's state for the operator of an instance,
 * with the verbs of opsworks-agent-cli. This file only parses the command line and picks the
 * verb; the verbs live in cli-show.c, cli-report.c and cli-spool.c. */
#include <getopt.h>
#include <stdarg.h>

#include "cli.h"
#include "str-util.h"

enum {
        OPT_CONFIG = 0x100,
        OPT_JSON,
        OPT_HELP,
        OPT_TYPE,
        OPT_ARGS,
        OPT_CUSTOM_JSON,
        OPT_COMMENT,
        OPT_TIMEOUT,
        OPT_ID,
        OPT_NO_WAIT,
        OPT_WAIT_TIMEOUT,
};

/* The options only some verbs take. */
#define TAKES_SEND (1U << 0) /* --type --args --custom-json --comment --timeout --id */
#define TAKES_WAIT (1U << 1) /* --no-wait --wait-timeout */

typedef struct Verb {
        const char *name;
        const char *synopsis;
        const char *summary;
        unsigned max_args;
        unsigned takes;
        int (*run)(Cli *cli, char **args);
} Verb;

static const Verb verbs[] = {
        {
                .name = "list_commands",
                .synopsis = "",
                .summary = "every command in the journal: received, id, type, status, duration",
                .run = verb_list_commands,
        },
        {
                .name = "show_log",
                .synopsis = "[ID|TYPE] [DATE]",
                .summary = "the log of a command: by id, the newest of a type (on a date), or "
                           "the newest",
                .max_args = 2,
                .run = verb_show_log,
        },
        {
                .name = "get_json",
                .synopsis = "[ID|TYPE] [DATE]",
                .summary = "the attributes the recipes of a command saw",
                .max_args = 2,
                .run = verb_get_json,
        },
        {
                .name = "run_command",
                .synopsis = "[ID|TYPE|FILE] [DATE]",
                .summary = "run a stored command, or a command file, again as a new command",
                .max_args = 2,
                .takes = TAKES_WAIT,
                .run = verb_run_command,
        },
        {
                .name = "instance_report",
                .synopsis = "",
                .summary = "this instance in the stack, and the agent version",
                .run = verb_instance_report,
        },
        {
                .name = "stack_state",
                .synopsis = "",
                .summary = "the stack description: stack, layers, apps, instances, users",
                .run = verb_stack_state,
        },
        {
                .name = "agent_report",
                .synopsis = "",
                .summary = "agent version, configuration, status, queue and outbox",
                .run = verb_agent_report,
        },
        {
                .name = "send_command",
                .synopsis = "--type TYPE [--args JSON] [--custom-json JSON] ...",
                .summary = "send a new command to the agent and wait for its result",
                .takes = TAKES_SEND | TAKES_WAIT,
                .run = verb_send_command,
        },
};

int cli_error(int status, const char *fmt, ...) {
        va_list ap;

        fputs("strata-agent-cli: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return status;
}

int cli_fail(int r, const char *error) {
        return cli_error(r == -EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAILED, "%s",
                         error ?: strerror(-r));
}

void cli_print_json(json_object *doc) {
        const char *s = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
                                                                    JSON_C_TO_STRING_SPACED |
                                                                    JSON_C_TO_STRING_NOSLASHESCAPE);

        puts(s ?: "null");
}

static void help(const Verb *only) {
        if (only)
                printf("Usage: strata-agent-cli %s%s%s [--json] [--config FILE]\n\n%s: %s.\n",
                       only->name, *only->synopsis ? " " : "", only->synopsis, only->name,
                       only->summary);
        else {
                printf("Usage: strata-agent-cli VERB [ARGS] [--json] [--config FILE]\n\n"
                       "The strata-agent on this instance: its commands, logs and state.\n\n");
                for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                        printf("  %-16s %s\n", verbs[i].name, verbs[i].summary);
        }
        if (!only || only->takes & TAKES_SEND)
                printf("\nsend_command options:\n"
                       "  --type TYPE          the command: setup, configure, execute_recipes, "
                       "...\n"
                       "  --args JSON          its arguments, a JSON object\n"
                       "  --custom-json JSON   attributes over the stack's, a JSON object\n"
                       "  --comment TEXT       a note kept with the command\n"
                       "  --timeout SECONDS    its time limit (default: the agent's)\n"
                       "  --id ID              its id (default: a new sortable one)\n");
        if (!only || only->takes & TAKES_WAIT)
                printf("\nsend_command and run_command options:\n"
                       "  --no-wait            print the new command's id and return at once\n"
                       "  --wait-timeout SECS  give up waiting after this long (3600; 0: never)\n");
        printf("\nCommon options:\n"
               "  --json               machine-readable output\n"
               "  --config FILE        the agent's configuration (default " AGENT_CONFIG_PATH
               " when it exists)\n"
               "  --help               this text\n"
               "\nExit status: 0 success, 1 the command failed or was not found, 2 bad input.\n");
}

static const Verb *verb_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(verbs[i].name, name))
                        return &verbs[i];
        return NULL;
}

static unsigned option_needs(int c) {
        switch (c) {
        case OPT_TYPE:
        case OPT_ARGS:
        case OPT_CUSTOM_JSON:
        case OPT_COMMENT:
        case OPT_TIMEOUT:
        case OPT_ID:
                return TAKES_SEND;
        case OPT_NO_WAIT:
        case OPT_WAIT_TIMEOUT:
                return TAKES_WAIT;
        default:
                return 0;
        }
}

static int load_config(Cli *cli) {
        _cleanup_free_ char *error = NULL;
        int r;

        if (!cli->config_path && access(AGENT_CONFIG_PATH, F_OK) == 0)
                cli->config_path = AGENT_CONFIG_PATH;
        r = cli->config_path ? agent_config_load(cli->config_path, &cli->config, &error)
                             : agent_config_default(&cli->config, &error);
        if (r < 0)
                return cli_error(CLI_EXIT_USAGE, "%s", error ?: strerror(-r));
        return 0;
}

/* What the command line asked beyond the Cli fields: help, and the verb-specific options seen
 * (the first of each group, to name it when the verb does not take it). */
typedef struct Request {
        bool help;
        unsigned needs;
        const char *first_send, *first_wait;
} Request;

/* Options may come before or after the verb: getopt moves the verb and its arguments to
 * argv[optind...]. */
static int parse_options(int argc, char *argv[], Cli *cli, Request *req) {
        static const struct option options[] = {
                {"config", required_argument, NULL, OPT_CONFIG},
                {"json", no_argument, NULL, OPT_JSON},
                {"help", no_argument, NULL, OPT_HELP},
                {"type", required_argument, NULL, OPT_TYPE},
                {"args", required_argument, NULL, OPT_ARGS},
                {"custom-json", required_argument, NULL, OPT_CUSTOM_JSON},
                {"comment", required_argument, NULL, OPT_COMMENT},
                {"timeout", required_argument, NULL, OPT_TIMEOUT},
                {"id", required_argument, NULL, OPT_ID},
                {"no-wait", no_argument, NULL, OPT_NO_WAIT},
                {"wait-timeout", required_argument, NULL, OPT_WAIT_TIMEOUT},
                {},
        };
        int c, option_index;

        while ((c = getopt_long(argc, argv, "h", options, &option_index)) >= 0) {
                unsigned n = option_needs(c);

                if (n == TAKES_SEND && !req->first_send)
                        req->first_send = options[option_index].name;
                if (n == TAKES_WAIT && !req->first_wait)
                        req->first_wait = options[option_index].name;
                req->needs |= n;
                switch (c) {
                case OPT_CONFIG:
                        cli->config_path = optarg;
                        break;
                case OPT_JSON:
                        cli->json = true;
                        break;
                case 'h':
                case OPT_HELP:
                        req->help = true;
                        break;
                case OPT_TYPE:
                        cli->type = optarg;
                        break;
                case OPT_ARGS:
                        cli->args = optarg;
                        break;
                case OPT_CUSTOM_JSON:
                        cli->custom_json = optarg;
                        break;
                case OPT_COMMENT:
                        cli->comment = optarg;
                        break;
                case OPT_TIMEOUT:
                        cli->timeout = optarg;
                        break;
                case OPT_ID:
                        cli->id = optarg;
                        break;
                case OPT_NO_WAIT:
                        cli->no_wait = true;
                        break;
                case OPT_WAIT_TIMEOUT:
                        cli->wait_timeout = optarg;
                        break;
                default: /* getopt said what is wrong */
                        return CLI_EXIT_USAGE;
                }
        }
        return 0;
}

int main(int argc, char *argv[]) {
        Cli cli = {};
        Request req = {};
        const Verb *verb;
        int r;

        r = parse_options(argc, argv, &cli, &req);
        if (r != 0)
                return r;
        if (optind >= argc) {
                if (req.help) {
                        help(NULL);
                        return CLI_EXIT_SUCCESS;
                }
                return cli_error(CLI_EXIT_USAGE, "no verb given (try --help)");
        }
        verb = verb_find(argv[optind]);
        if (!verb) {
                _cleanup_(strbuf_done) StrBuf names = {};

                for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                        if (strbuf_printf(&names, "%s%s", i > 0 ? ", " : "", verbs[i].name) < 0)
                                return cli_error(CLI_EXIT_FAILED, "out of memory");
                return cli_error(CLI_EXIT_USAGE, "unknown verb '%s' (expected one of: %s)",
                                 argv[optind], names.data);
        }
        if (req.help) {
                help(verb);
                return CLI_EXIT_SUCCESS;
        }
        if (req.needs & ~verb->takes)
                return cli_error(CLI_EXIT_USAGE, "%s does not take the option --%s (try %s --help)",
                                 verb->name,
                                 (req.needs & ~verb->takes & TAKES_SEND) ? req.first_send
                                                                         : req.first_wait,
                                 verb->name);
        if ((unsigned)(argc - optind - 1) > verb->max_args)
                return cli_error(CLI_EXIT_USAGE, "%s: unexpected argument '%s' (try %s --help)",
                                 verb->name, argv[optind + 1 + verb->max_args], verb->name);

        r = load_config(&cli);
        if (r == 0)
                r = verb->run(&cli, argv + optind + 1);
        command_journal_free(cli.journal);
        agent_config_free(cli.config);
        return r;
}
