/* SPDX-License-Identifier: MIT */
#pragma once

#include "resource.h"

/* What execute and script share: both run a command through the step runner, as the step user,
 * with the properties cwd, environment and creates. */

/* Load-time checks of cwd (absolute), creates (absolute, or relative to cwd) and environment
 * (names without '='). */
int execute_check_common(Resource *r, char **ret_error);

/* 1 when the `creates` path exists (the command ran before and is not run again), 0 when it
 * does not or is unset, < 0 after resource_fail(). */
int execute_creates_exists(Resource *r);

/* Runs argv as the step user in cwd with the environment. 1 when it exited with status 0;
 * otherwise < 0 after resource_fail() with what happened ("<what> exited with status 3",
 * "... timed out after 10s") and the last lines of its output. */
int execute_run(Resource *r, char **argv, const char *what);
