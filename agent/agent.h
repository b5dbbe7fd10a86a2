/* SPDX-License-Identifier: MIT */
#pragma once

#include <systemd/sd-event.h>

#include "command-journal.h"
#include "config.h"
#include "control-plane.h"
#include "macro.h"
#include "metrics.h"
#include "outbox.h"

typedef struct Worker Worker;

/* The daemon: one owner of the event loop, every event source and every module. */
typedef struct Agent {
        sd_event *event;
        char *config_path; /* NULL: defaults */
        AgentConfig *config;

        ControlPlane *cp;
        CommandJournal *journal;
        Outbox *outbox;
        Metrics *metrics;

        sd_event_source *sigterm, *sigint, *sighup;
        sd_event_source *heartbeat_timer, *metrics_timer, *outbox_timer;

        char **queue;       /* journalled command ids waiting, in arrival order */
        Worker *worker;     /* the command running, if any */
        char *preparing;    /* the command whose stack description is being fetched */
        json_object *sending; /* ids of results on their way to the control plane */
        char *last_command; /* "id type status" of the last finished command */
        json_object *unsaved; /* results not yet in the outbox (disk full) */
        unsigned outbox_failures;
        bool stopping;
} Agent;

int agent_new(const char *config_path, Agent **ret, char **ret_error);
Agent *agent_free(Agent *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(Agent *, agent_free);

/* Runs until SIGTERM/SIGINT; returns the exit status. */
int agent_run(Agent *a);

/* Commands (dispatch.c). */
void agent_command_received(json_object *command, void *userdata);
void agent_command_rejected(const char *id, const char *reason, void *userdata);
void agent_result_done(const char *id, int r, const char *error, void *userdata);
void agent_stack_ready(json_object *stack, const char *error, void *userdata);
void agent_control_plane_changed(void *userdata);
int agent_recover(Agent *a);
void agent_dispatch(Agent *a);
void agent_worker_finished(Agent *a, json_object *result);
void agent_flush_outbox(Agent *a);

/* STATUS= for systemd and agent_report. */
void agent_update_status(Agent *a);
char *agent_status(Agent *a);

/* `strata-agent [--config FILE] [--check-config]`. */
int daemon_main(int argc, char *argv[]);
