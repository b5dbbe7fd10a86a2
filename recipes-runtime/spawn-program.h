/* SPDX-License-Identifier: MIT */
#pragma once

#include "macro.h"

/* Runs a system program (apt-get, useradd, mount, ...) for a declarative resource, as the
 * calling user (root in the worker): these are our own argv vectors, never cookbook code, which
 * goes through the step runner instead.
 *
 * argv[0] is looked up in SPAWN_PATH (not in the caller's $PATH). The child gets its own
 * session, stdin from /dev/null, stdout and stderr on one pipe, an empty signal mask, and a
 * clean environment: PATH=SPAWN_PATH, LC_ALL=C (so output can be parsed) plus
 * environment_extra. The call returns when the program exits, even when a background child of
 * it still holds the output pipe. */

#define SPAWN_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define SPAWN_OUTPUT_MAX (64U * 1024U) /* the tail of the output we keep */

/* The full path of program `name` in SPAWN_PATH; -ENOENT when it is not installed. */
int spawn_find_program(const char *name, char **ret);

/* 0 when the program ran, whatever its exit status: *ret_status is its exit code, or 128 plus
 * the signal number when a signal killed it (as a shell reports it); *ret_output (may be NULL)
 * the NUL-terminated tail of stdout+stderr. < 0 when it could not be started (-ENOENT: not
 * installed). environment_extra may be NULL. */
int spawn_program(char **argv, char **environment_extra, char **ret_output, int *ret_status);

/* spawn_program() that also requires exit status 0. Otherwise returns < 0 (-EPROTO for a
 * non-zero status) with *ret_error saying which program failed, how, and the last lines of its
 * output. */
int spawn_program_checked(char **argv, char **environment_extra, char **ret_output,
                          char **ret_error);
