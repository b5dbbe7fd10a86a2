/* SPDX-License-Identifier: MIT */
#pragma once

#include "macro.h"
#include "runtime.h"

/* A run: compile, then converge.
 *
 * Compile: every recipe of the run list and of its include_recipe's is found (each at most once
 * per run; a cycle is an error), every cookbook and its dependencies found and version-checked,
 * the node attributes built, for_each expanded, every string property interpolated and every
 * property checked against its resource type, every notification target found. Any error here
 * returns < 0 and nothing on the system has changed.
 *
 * Converge: each resource in order (guards, retries, notifications, ignore_failure), delayed
 * notifications once at the end. */
typedef struct ConvergeRequest {
        char **run_list;           /* "cookbook::recipe" or "cookbook" */
        json_object **attributes;  /* custom JSON layers, lowest precedence first */
        size_t n_attributes;
        json_object *readonly;     /* stack, instance, layers, apps, users, command, deploy */
} ConvergeRequest;

/* 0: the run succeeded; 1: a resource failed (see the report); < 0: bad input, *ret_error says
 * which file, key or field. *ret_report is set whenever the run started (r >= 0). *ret_node, when
 * asked for, receives the attributes the recipes saw (also on 1). */
int converge(const RuntimeConfig *cfg, const ConvergeRequest *req, json_object **ret_report,
             json_object **ret_node, char **ret_error);
