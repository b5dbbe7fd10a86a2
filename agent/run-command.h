/* SPDX-License-Identifier: MIT */
#pragma once

#include "command-journal.h"
#include "config.h"

/* The command worker: a child the daemon forked (worker.c), one per command, running command
 * (journalled in journal as <state_dir>/commands/ID/) against stack on the daemon's
 * configuration cfg, all as the daemon had them at the fork. It runs the lifecycle command,
 * writes node.json and result.json into the journal, and streams what happens to stdout as
 * JSON lines for the daemon:
 *   {"log": {"priority": 6, "cookbook": .., "recipe": .., "resource": .., "app": ..,
 *            "message": ..}}
 *   {"step": PGID}   a step's process group, so the daemon can kill it on timeout
 * Returns the exit code: 0 when result.json was written, whatever the command's status. */
int run_command(const AgentConfig *cfg, CommandJournal *journal, json_object *command,
                json_object *stack);

/* Where the built-in `strata` cookbook lives: $STRATA_BUILTIN_COOKBOOKS when set (tests and
 * development trees), else the installed data directory. */
const char *builtin_cookbooks_dir(void);
