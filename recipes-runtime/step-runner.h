/* SPDX-License-Identifier: MIT */
#pragma once

#include <sys/types.h>

#include "macro.h"

/* Runs code from cookbooks and apps (execute, script, guards, hooks) as an unprivileged user.
 *
 * In the child, in this order: default signal dispositions and an empty signal mask, own
 * session and process group, stdin from /dev/null, stdout and stderr to one pipe, supplementary
 * groups set to the user's, setresgid, setresuid, a check that root cannot be regained (abort
 * otherwise), PR_SET_NO_NEW_PRIVS, every fd above 2 closed, a clean environment (PATH, HOME,
 * LANG, USER, LOGNAME plus spec->environment), cwd. The user and its groups are looked up
 * before fork. A caller that is not root can only run steps as its own uid, and then keeps its
 * groups.
 *
 * The step ends when its process exits, even when a background child still holds the output
 * pipe; what is left of its process group is then terminated (TERM, grace, KILL). On timeout
 * the whole group gets TERM, then KILL after the grace. Orphans of the group are reaped by us
 * only when step_runner_init() made this process their subreaper; a process that leaves the
 * group (setsid, setpgid) is out of reach.
 *
 * A command that cannot be executed (not found in PATH, not executable) is not an error of
 * step_run(): like a shell, the step exits 127 (not found) or 126 (any other exec failure) and
 * its output says "cannot execute 'foo': No such file or directory". Failures before exec
 * (a cwd that does not exist or that the user cannot enter, setgroups/setuid failing) are
 * errors of step_run(). */

#define STEP_OUTPUT_MAX (64U * 1024U) /* the tail of the output we keep */
#define STEP_DEFAULT_GRACE (5 * USEC_PER_SEC)

typedef struct StepSpec {
        char **argv;          /* argv[0] looked up in PATH */
        const char *cwd;      /* NULL: the user's home, else / */
        const char *user;     /* name or numeric uid; NULL: "strata" */
        char **environment;   /* extra KEY=VALUE entries; may be NULL */
        usec_t timeout;       /* 0: none */
        usec_t kill_grace;    /* 0: STEP_DEFAULT_GRACE */
        bool allow_root;      /* uid 0 is refused unless set */
        /* Called with each output line (without "\n") as it arrives, including a last line
         * that has no "\n"; a line longer than STEP_OUTPUT_MAX comes in pieces. May be NULL. */
        void (*on_line)(const char *line, void *userdata);
        /* Called once the step's process exists, with its pid, which is also its process
         * group: a supervisor may kill the group when the step must not outlive it. */
        void (*on_started)(pid_t pgid, void *userdata);
        void *userdata;
} StepSpec;

typedef struct StepResult {
        int exit_status; /* exit code, or -1 when killed by a signal */
        int signal;      /* the terminating signal, else 0 */
        bool timed_out;
        char *output;    /* NUL-terminated tail of stdout+stderr, at most STEP_OUTPUT_MAX */
        bool output_truncated;
        usec_t duration;
} StepResult;

void step_result_done(StepResult *r);

/* Builds argv from a property: a JSON array of strings is taken as is, a string runs through
 * /bin/sh -c. */
int step_argv_from_json(json_object *command, char ***ret, char **ret_error);

/* 0 when the step ran (whatever its exit status); < 0 with *ret_error when it could not be
 * started (unknown user, root refused, a caller that is neither root nor that user, bad
 * environment entry, missing cwd, fork failure). */
int step_run(const StepSpec *spec, StepResult *ret, char **ret_error);

/* Makes this process the subreaper of its steps' orphans, so they can be reaped; called once
 * before the first step. */
int step_runner_init(void);
