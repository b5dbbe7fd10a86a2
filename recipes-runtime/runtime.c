/* SPDX-License-Identifier: MIT */
#include <stdarg.h>

#include "runtime.h"
#include "str-util.h"

static void log_message(RuntimeLogFn log, void *userdata, int priority, const LogContext *ctx,
                        const char *fmt, va_list ap) {
        static const LogContext empty = {};
        _cleanup_free_ char *message = strfv(fmt, ap);

        if (!message)
                return;
        if (!ctx)
                ctx = &empty;
        if (log) {
                log(priority, ctx, message, userdata);
                return;
        }
        if (ctx->resource)
                fprintf(stderr, "%s: %s\n", ctx->resource, message);
        else
                fprintf(stderr, "%s\n", message);
}

void runtime_log(const RuntimeConfig *cfg, int priority, const LogContext *ctx, const char *fmt,
                 ...) {
        va_list ap;

        va_start(ap, fmt);
        log_message(cfg ? cfg->log : NULL, cfg ? cfg->log_userdata : NULL, priority, ctx, fmt, ap);
        va_end(ap);
}

void runtime_log_to(RuntimeLogFn log, void *userdata, int priority, const LogContext *ctx,
                    const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        log_message(log, userdata, priority, ctx, fmt, ap);
        va_end(ap);
}
