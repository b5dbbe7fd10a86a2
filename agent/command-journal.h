/* SPDX-License-Identifier: MIT */
#pragma once

#include "fs-util.h"
#include "macro.h"

/* The command journal: what the agent was given and how far it got, on disk before anything
 * happens, so that no command is lost or run twice.
 *
 *   <state_dir>/commands/<id>/command.json  {"command": {...}, "seq": n, "status": s,
 *                                            "received_at", "started_at", "finished_at"}
 *   <state_dir>/commands/<id>/result.json   the result, once finished
 *   <state_dir>/commands/<id>/stack.json    the stack description the command ran against
 *   <state_dir>/commands/<id>/node.json     the attributes the recipes saw
 *   <state_dir>/commands/<id>/step.json     the last step's process group {pgid, boot_id,
 *                                            start_time}, to stop it after a crash
 *
 * status: "queued" (journalled, not started), "running" (the worker was started), "finished"
 * (a result exists). Every write is atomic and fsynced. Times are UTC ISO 8601 with
 * milliseconds. */

typedef struct CommandJournal CommandJournal;

int command_journal_open(const char *state_dir, CommandJournal **ret);
CommandJournal *command_journal_free(CommandJournal *j);
DEFINE_TRIVIAL_CLEANUP_FUNC(CommandJournal *, command_journal_free);

/* The directory of a command, <state_dir>/commands/<id>. */
char *command_journal_dir(CommandJournal *j, const char *id);

bool command_journal_seen(CommandJournal *j, const char *id);

/* Journals a new command as queued. -EEXIST when its id was seen before. */
int command_journal_add(CommandJournal *j, json_object *command);

/* Moves a command to "running" or "finished", stamping the time. */
int command_journal_set_status(CommandJournal *j, const char *id, const char *status);

/* The entry (command.json) of a command. */
int command_journal_get(CommandJournal *j, const char *id, json_object **ret);

/* Ids with the given status, in the order they were received. */
int command_journal_list(CommandJournal *j, const char *status, char ***ret);

/* Writes <dir>/<name> (result.json, stack.json, node.json, ...) atomically; with WRITE_SYNC
 * also durably. Snapshots the agent can do without after a crash (stack.json, node.json)
 * skip the fsyncs that would delay a command's start. */
int command_journal_write(CommandJournal *j, const char *id, const char *name, json_object *doc,
                          WriteFlags flags);
int command_journal_read(CommandJournal *j, const char *id, const char *name, json_object **ret);

/* Removes finished commands beyond the newest keep_count and those older than keep_days
 * (0: no limit), and their logs in log_dir. Returns how many were removed. */
int command_journal_prune(CommandJournal *j, const char *log_dir, unsigned keep_count,
                          unsigned keep_days);

