/* SPDX-License-Identifier: MIT */
#pragma once

#include "command-journal.h"
#include "config.h"
#include "macro.h"

/* strata-agent-cli: the agent's state as an operator on the instance sees it (verbs in
 * cli-show.c, cli-report.c, cli-spool.c; what they read in cli-state.c). */

/* Exit statuses. */
#define CLI_EXIT_SUCCESS 0
#define CLI_EXIT_FAILED 1 /* the command failed, or what was asked for does not exist */
#define CLI_EXIT_USAGE 2  /* bad input: usage, option values, unknown id, type or verb */

typedef struct Cli {
        AgentConfig *config;
        const char *config_path; /* the file the config came from; NULL: the defaults */
        bool json;

        /* Opened by cli_journal_open(); NULL while the agent has journalled nothing. */
        CommandJournal *journal;

        /* Options of send_command and run_command, as given: the verb checks them, so that an
         * error names the option. NULL when not given. */
        const char *type, *args, *custom_json, *comment, *timeout, *id, *wait_timeout;
        bool no_wait;
} Cli;

/* Prints "strata-agent-cli: <message>" on stderr and returns status. */
int cli_error(int status, const char *fmt, ...) _printf_(2, 3);
/* Maps a helper's failure to an exit status and prints its error (or strerror): -EINVAL is the
 * user's bad input (CLI_EXIT_USAGE), anything else CLI_EXIT_FAILED. */
int cli_fail(int r, const char *error);
/* Prints a document as pretty JSON on stdout. */
void cli_print_json(json_object *doc);

/* Reading the agent's state (cli-state.c). Helpers return negative errno with *ret_error
 * naming the file or argument; -EINVAL only for bad input from the user, -ENOENT when what was
 * asked for does not exist, -EBADMSG when a state file cannot be parsed. */

/* Opens the command journal without creating it. */
int cli_journal_open(Cli *cli, char **ret_error);
/* Every journal entry (command.json), in the order received; empty without a journal. */
int cli_journal_entries(Cli *cli, json_object **ret, char **ret_error);
/* The entry selected by [ID|TYPE] [DATE] (args: at most two, NULL-terminated): the command of
 * that id, or the newest of that type, the newest on that date (YYYY-MM-DD, UTC), the newest
 * of that type on that date, or the newest of all. When `need` names a file (node.json), the
 * newest is the newest that has it. */
int cli_select(Cli *cli, char *const *args, const char *need, json_object **ret_entry,
               char **ret_error);
bool cli_journal_has(Cli *cli, const char *id);
/* command.json's "command" and its id and type (borrowed). */
json_object *entry_command(json_object *entry);
const char *entry_id(json_object *entry);
const char *entry_type(json_object *entry);
/* <state_dir>/commands/<id>/<name> (node.json, stack.json, result.json) as a document to
 * show: every secret value (redact.h) masked. -ENOENT when the command has none. */
int cli_read_doc(Cli *cli, const char *id, const char *name, json_object **ret, char **ret_error);
/* The stack description: the newest one a command ran against, else what the local control
 * plane would hand out now (its stack_file, or the one-instance stack). *ret_source says which
 * ("command ID" or a path or "no stack_file"). Secrets masked. */
int cli_stack(Cli *cli, json_object **ret, char **ret_source, char **ret_error);
/* <spool>/heartbeat.json and its age in seconds (-1 when its time cannot be read).
 * -EOPNOTSUPP without a local control plane, -ENOENT before the first heartbeat. */
int cli_heartbeat(Cli *cli, json_object **ret, int64_t *ret_age, char **ret_error);
/* Files in <dir> whose names end in ".json" and do not start with '.'; 0 for a missing dir. */
int cli_count_json_files(const char *dir, size_t *ret);
/* "46 ms", "4.2 s", "3m 05s", "1h 02m". */
char *format_duration_ms(int64_t ms);

/* The verbs. args: the positional arguments after the verb, NULL-terminated. Each returns an
 * exit status. */
int verb_list_commands(Cli *cli, char **args);
int verb_show_log(Cli *cli, char **args);
int verb_get_json(Cli *cli, char **args);
int verb_instance_report(Cli *cli, char **args);
int verb_stack_state(Cli *cli, char **args);
int verb_agent_report(Cli *cli, char **args);
int verb_run_command(Cli *cli, char **args);
int verb_send_command(Cli *cli, char **args);
