/* SPDX-License-Identifier: MIT */
#include <stdarg.h>

#include "runtime.h"
#include "str-util.h"

void runtime_log(const RuntimeConfig *cfg, int priority, const LogContext *ctx, const char *fmt,
                 ...) {
        static const LogContext empty = {};
        _cleanup_free_ char *message = NULL;
        va_list ap;

        va_start(ap, fmt);
        message = strfv(fmt, ap);
        va_end(ap);
        if (!message)
                return;

        if (!ctx)
                ctx = &empty;
        if (cfg && cfg->log) {
                cfg->log(priority, ctx, message, cfg->log_userdata);
                return;
        }
        if (ctx->resource)
                fprintf(stderr, "%s: %s\n", ctx->resource, message);
        else
                fprintf(stderr, "%s\n", message);
}
