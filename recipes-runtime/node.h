/* SPDX-License-Identifier: MIT */
#pragma once

#include "cookbook.h"
#include "macro.h"

/* The node attributes of a run, deepest precedence last: every loaded cookbook's defaults
 * (in load order) < each custom JSON layer in order (stack < layer < command). The read-only
 * keys (stack, instance, layers, apps, users, command, deploy) are set on top and replace any
 * attribute of the same name. */
int node_build(CookbookSet *cookbooks, json_object **layers, size_t n_layers, json_object *readonly,
               json_object **ret);
