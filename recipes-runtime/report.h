/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdio.h>

#include "macro.h"

/* The run report:
 * {"status": "successful"|"failed", "why_run": bool, "duration_ms": n,
 *  "totals": {"changed", "up_to_date", "skipped", "failed"},
 *  "resources": [{"type", "name", "cookbook", "recipe", "file", "line", "action",
 *                 "status": "changed"|"up_to_date"|"skipped"|"failed", "duration_ms",
 *                 "changes": [..], "error", "notified_by"}]} */

/* A human summary: one line per resource, then the totals. */
void report_print(json_object *report, FILE *f);
