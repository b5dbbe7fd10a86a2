/* SPDX-License-Identifier: MIT */
#pragma once

#include "agent.h"
#include "redact.h"

/* The daemon's side of a command worker (`strata-agent run-command`): started as a child in
 * its own process group, its JSON lines logged (journal and the command's log file, secrets
 * masked), killed with its step's process group when the timeout passes or the agent stops,
 * and its result handed to agent_worker_finished() when it exits. */
struct Worker {
        Agent *agent;
        char *id;
        char *type;
        char *recipe;           /* the recipe it is in, from its log lines */
        pid_t pid;
        pid_t step_pgid;        /* the step running, 0 when none */
        usec_t started;         /* CLOCK_MONOTONIC */
        char *started_at;       /* ISO time */
        usec_t timeout;
        bool timed_out, abandoned;
        sd_event_source *child, *output, *timer;
        int output_fd;
        FILE *log;              /* <log_dir>/<id>.log */
        char *partial;          /* an output line not yet complete */
        size_t partial_len;
        char *tail;             /* the last lines of the log, for the result */
        Redactor redactor;
};

int worker_start(Agent *a, json_object *command, json_object *stack, usec_t timeout,
                 Worker **ret);
/* Kills the step a command's worker left running when the agent died (recorded in the
 * journal's step.json), unless the boot or the process behind that number changed since. */
void worker_stop_orphaned_step(Agent *a, const char *id);
/* TERM to the worker and its step, KILL after the grace. */
void worker_kill(Worker *w, const char *why);
Worker *worker_free(Worker *w);
