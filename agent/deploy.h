/* SPDX-License-Identifier: MIT */
#pragma once

#include <sys/types.h>

#include "command.h"
#include "config.h"
#include "macro.h"
#include "runtime.h"

/* What deploy, rollback, undeploy, start, stop and restart do for one app, in the command
 * worker (root). The app is an entry of the normalised stack's `apps`; its directory is
 * <deploy_root>/<shortname> (release.h has the layout). The deploy user is the app's `user`,
 * else the agent's run_as; root only with `privileged_steps: allow`.
 *
 * deploy: cleanup of what an interrupted command left → new release → the source fetched into
 * it as the deploy user (fetch_as_user) → shared dirs linked → shared/config written
 * (environment, data_sources.json, ssl.crt, ssl.key, ssl.chain.crt; 0600 where secret, owned
 * by the deploy user) → hooks deploy/before_migrate, deploy/before_symlink of the release →
 * ledger entry + `current` switched → deploy/before_restart → restart_command → after_restart
 * → prune to keep_releases. A failure before the switch removes the new release and leaves
 * `current` as it was; a failure after it leaves the new release current and fails the command.
 *
 * Hooks are files of the release, run as the deploy user with cwd the release, under the app's
 * hook_timeout (killed past it), with the app's environment plus STRATA_APP, DEPLOY_TO,
 * RELEASE_PATH, SHARED_PATH, CURRENT_PATH and REVISION; an executable file is run directly,
 * any other through /bin/sh. A missing hook is skipped.
 *
 * start, stop, restart: the app's start_command, stop_command, restart_command (shell strings),
 * the same way as hooks, in the current release. */

typedef struct DeployRun {
        const AgentConfig *config;
        json_object *app;
        RuntimeLogFn log; /* NULL: stderr */
        void *log_userdata;
        void (*step_started)(pid_t pgid, void *userdata);
        const char *agent_binary; /* the fetch helper's binary; NULL: this executable */
} DeployRun;

/* The apps a command is for: args.app_ids (each the shortname of an app), else every app
 * whose layer_ids meet the instance's layers (an app without layer_ids belongs to all). A new
 * array of the app objects. */
int deploy_select_apps(json_object *command, json_object *stack, const char *instance_id,
                       json_object **ret, char **ret_error);

/* deploy.<app> as recipes see it: {deploy_to, current_path, shared_path, release_path,
 * release, user} (release_path and release: what `current` points to, absent when nothing is
 * deployed). */
int deploy_paths(const AgentConfig *config, json_object *app, json_object **ret);

/* Runs `type` (COMMAND_DEPLOY, _ROLLBACK, _UNDEPLOY, _START, _STOP, _RESTART) for each app in
 * turn, stopping at the first failure. `deploy_attrs` (an object) gets deploy.<app> of each app
 * after its action; *ret_message what was done ("web: rolled back from A to B", ...; "; "
 * between apps). 0 on success; 1 on failure, with *ret_error "app web: ..."; < 0 only when out
 * of memory. */
int deploy_apps(const DeployRun *base, CommandType type, json_object *apps,
                json_object *deploy_attrs, char **ret_message, char **ret_error);
