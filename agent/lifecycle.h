/* SPDX-License-Identifier: MIT */
#pragma once

#include "config.h"
#include "macro.h"
#include "runtime.h"

/* What a lifecycle command means on this instance, run inside the command worker:
 *
 *   setup                  strata::setup (stack users with keys and sudo, layer packages),
 *                          then each layer's setup recipes, then a deploy of the layers' apps
 *                          and each layer's deploy recipes
 *   configure              each layer's configure recipes, with the topology in the attributes
 *   shutdown               each layer's shutdown recipes, bounded by the longest
 *                          shutdown_timeout of the instance's layers
 *   execute_recipes        args.recipes
 *   install_dependencies   strata::dependencies (the layers' packages installed)
 *   update_dependencies    strata::update_dependencies (the layers' packages upgraded, then
 *                          pending security updates applied)
 *   deploy                 each app (deploy.h: args.app_ids, else the layers' apps) deployed,
 *                          then each layer's deploy recipes
 *   undeploy               each layer's undeploy recipes, then each app's releases removed
 *   rollback, start, stop, restart
 *                          each app's rollback or command (deploy.h); no recipes
 *   update_custom_cookbooks
 *                          the stack's cookbook_sources fetched into a new tree of
 *                          <cache_dir>/cookbooks, which becomes `current` (cookbook-update.h);
 *                          no recipes. The result has "cookbooks": what cookbook_update() said.
 *
 * The cookbook path: the built-in `strata` cookbook, then the tree `current` pointed to when
 * the command started (resolved once), then the configured cookbook_path. Attributes: stack
 * custom_json < each layer's custom_json < the command's custom_json; read-only: stack,
 * instance, layers (each with its online instances), instances, apps, users, command, and for
 * setup, deploy and undeploy deploy.<app> (deploy.h: deploy_paths). */

typedef struct LifecycleRun {
        const AgentConfig *config;
        char **builtin_cookbooks; /* the `strata` cookbook's directory parent(s) */
        json_object *command;
        json_object *stack;       /* normalised stack description */
        RuntimeLogFn log;
        void *log_userdata;
        void (*step_started)(pid_t pgid, void *userdata);
        const char *agent_binary; /* the fetch helper's binary; NULL: this executable */
} LifecycleRun;

/* Fills *ret_result with {status: successful|failed, reason?, report?} and *ret_node with
 * the attributes the recipes saw (when a run started). Returns < 0 only when it could not run
 * at all (out of memory). */
int lifecycle_run(const LifecycleRun *run, json_object **ret_result, json_object **ret_node);

/* The run list a command runs (without the built-in recipes), for reports and tests. */
int lifecycle_run_list(json_object *command, json_object *stack, const char *instance_id,
                       char ***ret, char **ret_error);

/* The timeout a command runs under: its own, else the agent's default; shutdown is further
 * bounded by the longest shutdown_timeout of the instance's layers. */
usec_t lifecycle_timeout(json_object *command, json_object *stack, const char *instance_id,
                         usec_t agent_default);
