/* SPDX-License-Identifier: MIT */
#pragma once

/* The command worker: a child the daemon forked (worker.c), one per command, with the command
 * journalled in <state_dir>/commands/ID/ (command.json, stack.json) and the daemon's
 * configuration in config_path. It runs the lifecycle command, writes node.json and
 * result.json there, and streams what happens to stdout as JSON lines for the daemon:
 *   {"log": {"priority": 6, "cookbook": .., "recipe": .., "resource": .., "app": ..,
 *            "message": ..}}
 *   {"step": PGID}   a step's process group, so the daemon can kill it on timeout
 * Returns the exit code: 0 when result.json was written, whatever the command's status. */
int run_command(const char *config_path, const char *id);

/* Where the built-in `strata` cookbook lives: $STRATA_BUILTIN_COOKBOOKS when set (tests and
 * development trees), else the installed data directory. */
const char *builtin_cookbooks_dir(void);
