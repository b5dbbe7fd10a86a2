/* SPDX-License-Identifier: MIT */
#pragma once

#include <syslog.h>

#include "macro.h"

/* Where a log line comes from; fields are NULL when not known. The agent turns these into
 * journal fields (STRATA_COOKBOOK, STRATA_RECIPE, STRATA_RESOURCE, STRATA_APP). */
typedef struct LogContext {
        const char *cookbook;
        const char *recipe;
        const char *resource; /* "type[name]" */
        const char *app;      /* the app a deploy step is for (shortname) */
} LogContext;

typedef void (*RuntimeLogFn)(int priority, const LogContext *ctx, const char *message,
                             void *userdata);

/* Everything a run needs from its caller. Paths default to the real system ones; tests point
 * them into temp dirs. */
typedef struct RuntimeConfig {
        char **cookbook_path;      /* searched in order, first wins */
        const char *run_as;        /* default user of steps; NULL: "strata" */
        bool allow_privileged_steps;
        bool why_run;
        const char *cron_dir;      /* NULL: /etc/cron.d */
        const char *sudoers_dir;   /* NULL: /etc/sudoers.d */
        const char *fstab;         /* NULL: /etc/fstab */
        const char *cache_dir;     /* remote_file and git state; NULL: /var/cache/strata */
        RuntimeLogFn log;          /* NULL: stderr */
        void *log_userdata;
        /* Told the process group of every step as it starts; may be NULL. */
        void (*step_started)(pid_t pgid, void *userdata);
        void *step_userdata;
} RuntimeConfig;

#define RUNTIME_DEFAULT_USER "strata"

void runtime_log(const RuntimeConfig *cfg, int priority, const LogContext *ctx, const char *fmt,
                 ...) _printf_(4, 5);
/* The same for a caller that has only a log function (NULL: stderr); ctx may be NULL. */
void runtime_log_to(RuntimeLogFn log, void *userdata, int priority, const LogContext *ctx,
                    const char *fmt, ...) _printf_(5, 6);
