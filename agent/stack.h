/* SPDX-License-Identifier: MIT */
#pragma once

#include "macro.h"

/* The stack description an instance converges against, whatever control plane it came from:
 *
 *   stack:     {id (stack_id), name (id), region, default_os, custom_json: {}, hostname_theme}
 *   layers:    [{id, shortname (either one, the other follows it), name (shortname),
 *                recipes: {setup: [], configure: [], deploy: [], undeploy: [], shutdown: []}
 *                ("cookbook" or "cookbook::recipe"), packages: [], auto_healing: bool (true),
 *                shutdown_timeout: seconds 1..86400 (120), mounts: [{...}], environment: {},
 *                custom_json: {}}]
 *   apps:      [{shortname, name (shortname), type, source: {type: git|s3|archive|http, url,
 *                revision, ssh_key, username, password}, environment: {}, domains: [],
 *                ssl: {certificate, key, chain}, data_sources: [{...}], document_root,
 *                attributes: {}, keep_releases: 1..100 (the agent's keep_releases),
 *                layer_ids: [] (absent: every layer), user (the agent's run_as),
 *                symlinks: {shared path: path in the release} ({}), hook_timeout: seconds
 *                1..86400 (600), start_command, stop_command, restart_command (a shell string
 *                or an argv list), ...}]
 *   instances: [{id, hostname (this machine's name for this instance, else the id),
 *                layer_ids: [], status ("online"), private_ip, public_ip, os}]
 *   users:     [{name, ssh_public_key, sudo: bool (false), allow_ssh: bool (true)}]
 *
 * Defaults in parentheses; a field without one stays absent when not given. Ids and app
 * shortnames are identifiers (1 to 64 of [A-Za-z0-9._-], not starting with '.' or '-'),
 * unique in their list, as are layer shortnames and user names; layer_ids name existing
 * layers. Environment and ssl values are strings. A NULL doc is an empty stack.
 *
 * stack_normalize() checks the types of these fields (unknown keys inside the stack, a layer,
 * app, instance or user are kept: recipes may read them; unknown top-level keys are errors),
 * fills defaults, and makes sure this instance is in `instances` (added with no layers when
 * absent). The result is a new object. Errors name the field:
 * "stack.yaml: layers[1].recipes.setup: expected a list of recipe names". */
int stack_normalize(const char *what, json_object *doc, const char *instance_id,
                    const char *stack_id, json_object **ret, char **ret_error);

/* This instance's entry (borrowed; NULL when absent), and a new array of the layers it is in,
 * in its layer_ids order (-ENOENT when the instance or one of its layers is missing). */
json_object *stack_self(json_object *stack, const char *instance_id);
int stack_self_layers(json_object *stack, const char *instance_id, json_object **ret_array);
