/* SPDX-License-Identifier: MIT */
#pragma once

#include <syslog.h>

#include "macro.h"

/* The agent's log: journald with STRATA_* fields when stderr is connected to the journal
 * (started by systemd), plain "LEVEL: message" lines on stderr otherwise. */

typedef struct LogFields {
        const char *command_id; /* STRATA_COMMAND_ID */
        const char *event;      /* STRATA_EVENT: the command type */
        const char *cookbook;   /* STRATA_COOKBOOK */
        const char *recipe;     /* STRATA_RECIPE */
        const char *resource;   /* STRATA_RESOURCE */
        const char *app;        /* STRATA_APP */
} LogFields;

/* Decides once where log lines go: the journal when $JOURNAL_STREAM names our stderr. */
void log_open(void);
bool log_to_journal(void);

void log_full(int priority, const LogFields *fields, const char *fmt, ...) _printf_(3, 4);

#define log_info(...) log_full(LOG_INFO, NULL, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, NULL, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, NULL, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, NULL, __VA_ARGS__)
#define log_debug(...) log_full(LOG_DEBUG, NULL, __VA_ARGS__)
