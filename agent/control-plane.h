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
 * the backend. */

typedef struct ControlPlane ControlPlane;

typedef struct ControlPlaneSink {
        void (*command_received)(json_object *command, void *userdata);
        void (*command_rejected)(const char *id, const char *reason, void *userdata);
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
        /* Hands over a result; 0 once the control plane has it durably, < 0 to retry later. */
        int (*report_result)(ControlPlane *cp, json_object *result, char **ret_error);
        /* Hands over a command's log (bounded by the backend). */
        int (*upload_log)(ControlPlane *cp, const char *id, const char *log, size_t len,
                          char **ret_error);
        /* Drops what it keeps of finished commands (results, logs) beyond the agent's
         * retention; NULL when the control plane keeps its own history. */
        int (*prune)(ControlPlane *cp, unsigned keep_count, unsigned keep_days,
                     char **ret_error);
        /* The stack description: {stack, layers, apps, instances, users}. */
        int (*stack)(ControlPlane *cp, json_object **ret, char **ret_error);
        void (*free)(ControlPlane *cp);
} ControlPlaneOps;

struct ControlPlane {
        const ControlPlaneOps *ops;
        sd_event *event;
        ControlPlaneSink sink;
};

ControlPlane *control_plane_free(ControlPlane *cp);
DEFINE_TRIVIAL_CLEANUP_FUNC(ControlPlane *, control_plane_free);
