/* SPDX-License-Identifier: MIT */
#pragma once

#include <systemd/sd-event.h>

#include "macro.h"

/* What the agent needs from a control plane, and nothing about how a backend does it: the
 * local spool and etcd both implement it.
 *
 * A backend delivers commands through the sink: command_received() for a valid command (the
 * agent journals it, and only then calls control_plane_ack() so the backend may forget it),
 * command_rejected() for a document that is not a command (the agent reports a failed result
 * for `id`). Delivering a command twice is fine: the agent drops ids it has seen, and acks
 * them again so the backend may forget that copy too. The command is borrowed: take a
 * reference to keep it. Sinks are called from the event loop, never from inside a call into
 * the backend.
 *
 * A backend that talks to a server answers report_result() and stack() later: they return 0
 * and result_done() or stack_ready() follows. One that has the answer at hand returns 1. */

typedef struct ControlPlane ControlPlane;

typedef struct ControlPlaneSink {
        void (*command_received)(json_object *command, void *userdata);
        void (*command_rejected)(const char *id, const char *reason, void *userdata);
        /* The result of command `id` is stored durably (r >= 0), or was refused (r < 0, error
         * says why: the agent hands it over again later). */
        void (*result_done)(const char *id, int r, const char *error, void *userdata);
        /* The stack description asked for (borrowed), or NULL and why not. */
        void (*stack_ready)(json_object *stack, const char *error, void *userdata);
        /* The connection to the control plane came or went: status() changed. */
        void (*state_changed)(void *userdata);
        void *userdata;
} ControlPlaneSink;

typedef struct ControlPlaneOps {
        const char *name;
        /* Registers the instance and starts watching for commands (a first scan included). */
        int (*start)(ControlPlane *cp, char **ret_error);
        /* Publishes the heartbeat record. */
        int (*heartbeat)(ControlPlane *cp, json_object *record, char **ret_error);
        /* The command was journalled: the backend may drop its copy. */
        int (*ack)(ControlPlane *cp, const char *id, char **ret_error);
        /* Hands over a result: 1 once the control plane has it durably, 0 when it is on its
         * way (result_done() follows), < 0 when it was not taken (retry later). */
        int (*report_result)(ControlPlane *cp, json_object *result, char **ret_error);
        /* Hands over a command's log (bounded by the backend), before its result: whoever sees
         * the result finds the log. */
        int (*upload_log)(ControlPlane *cp, const char *id, const char *log, size_t len,
                          char **ret_error);
        /* Drops what it keeps of finished commands (results, logs) beyond the agent's
         * retention; NULL when the control plane keeps its own history. */
        int (*prune)(ControlPlane *cp, unsigned keep_count, unsigned keep_days,
                     char **ret_error);
        /* The current stack description, normalised (stack.h): 1 and *ret when at hand, 0
         * when it is being fetched (stack_ready() follows), < 0 on failure. */
        int (*stack)(ControlPlane *cp, json_object **ret, char **ret_error);
        /* What is wrong with the connection to the control plane, for STATUS= and the
         * heartbeat (a new string), or NULL when nothing is; NULL when it has no connection. */
        char *(*status)(ControlPlane *cp);
        void (*free)(ControlPlane *cp);
} ControlPlaneOps;

struct ControlPlane {
        const ControlPlaneOps *ops;
        sd_event *event;
        ControlPlaneSink sink;
};

ControlPlane *control_plane_free(ControlPlane *cp);
DEFINE_TRIVIAL_CLEANUP_FUNC(ControlPlane *, control_plane_free);
