/* SPDX-License-Identifier: MIT */
#pragma once

#include "control-plane.h"

/* The local control plane: a spool directory on this machine.
 *   <spool>/inbox/NAME.json   commands, picked up through inotify in file-name order
 *                             (files whose names start with '.' are ignored: write a temp
 *                             file there and rename it in, or write it in place: a file is
 *                             read once it is closed after writing or renamed in)
 *   <spool>/rejected/         documents that were not commands, moved here under their name
 *   <spool>/results/<id>.json results, written atomically (0644)
 *   <spool>/logs/<id>.log     command logs, their last 1 MiB (0640)
 *   <spool>/heartbeat.json    the last heartbeat record
 * A command file stays in the inbox until ack() of its id removes it; one not acked within 10 s
 * (the agent could not journal it) is handed over again. A rejected document is
 * reported under its own "id" when that is a valid command id, else under its file name
 * without ".json", each character outside [A-Za-z0-9._-] replaced by '_', cut to 128.
 * The stack description comes from stack_file (YAML or JSON), read at every stack() call;
 * without one the instance is a one-instance stack with no layers. */
int cp_local_new(sd_event *event, const char *spool, const char *stack_file,
                 const char *instance_id, const char *stack_id, const ControlPlaneSink *sink,
                 ControlPlane **ret);
