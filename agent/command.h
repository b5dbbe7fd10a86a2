/* SPDX-License-Identifier: MIT */
#pragma once

#include "macro.h"

/* A lifecycle command as the control plane hands it over:
 *   {"id": "...", "type": "configure", "args": {...}, "custom_json": {...},
 *    "comment": "...", "timeout": 600, "created_at": "..."}
 * id: 1..128 of [A-Za-z0-9._-], not starting with '.'; type: one of COMMAND_TYPES; args and
 * custom_json: objects (optional); comment: string (optional); timeout: seconds, 1..86400
 * (optional); created_at: string (optional). Unknown keys are refused. */

#define COMMAND_SIZE_MAX (1024U * 1024U)

typedef enum CommandType {
        COMMAND_SETUP,
        COMMAND_CONFIGURE,
        COMMAND_DEPLOY,
        COMMAND_UNDEPLOY,
        COMMAND_ROLLBACK,
        COMMAND_START,
        COMMAND_STOP,
        COMMAND_RESTART,
        COMMAND_SHUTDOWN,
        COMMAND_EXECUTE_RECIPES,
        COMMAND_UPDATE_CUSTOM_COOKBOOKS,
        COMMAND_INSTALL_DEPENDENCIES,
        COMMAND_UPDATE_DEPENDENCIES,
        _COMMAND_TYPE_MAX,
        _COMMAND_TYPE_INVALID = -1,
} CommandType;

const char *command_type_to_string(CommandType t);
CommandType command_type_from_string(const char *s);

bool command_id_valid(const char *id);

/* Parses and validates a command document. On error *ret_error names the field and what was
 * expected, prefixed with `what` (a file name or key). The result is a normalised copy (every
 * optional field present: args {}, custom_json {}, comment "", timeout 0 = agent default;
 * created_at only when given). Past COMMAND_SIZE_MAX: -EFBIG, "<what>: larger than 1 MiB". */
int command_parse(const char *what, const char *text, size_t len, json_object **ret,
                  char **ret_error);

/* Accessors of a parsed command. */
const char *command_id(json_object *c);
CommandType command_type(json_object *c);
usec_t command_timeout(json_object *c); /* 0: the agent's default */
