/* SPDX-License-Identifier: MIT */
#pragma once

#include "macro.h"

/* Results waiting for the control plane: <state_dir>/outbox/<id>.json, written (fsync, atomic
 * rename) before the first attempt to send, removed once the control plane has it. */

typedef struct Outbox Outbox;

int outbox_open(const char *state_dir, Outbox **ret);
Outbox *outbox_free(Outbox *o);
DEFINE_TRIVIAL_CLEANUP_FUNC(Outbox *, outbox_free);

int outbox_put(Outbox *o, json_object *result);
int outbox_remove(Outbox *o, const char *id);
/* Ids waiting, oldest first (by file modification time, then name). */
int outbox_list(Outbox *o, char ***ret);
int outbox_get(Outbox *o, const char *id, json_object **ret);
