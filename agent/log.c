/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include "log.h"
#include "str-util.h"

/* Where the log goes is process-wide by nature (like stderr itself), so it is the one piece
 * of state kept outside the Agent. */
static int journal = -1;

void log_open(void) {
        const char *e = getenv("JOURNAL_STREAM");
        struct stat st;
        uint64_t dev, ino;
        const char *colon;
        int64_t d, i;

        journal = 0;
        if (!e || !(colon = strchr(e, ':')) || fstat(STDERR_FILENO, &st) < 0)
                return;
        _cleanup_free_ char *dev_s = strndup(e, (size_t) (colon - e));
        if (!dev_s || parse_int64(dev_s, &d) < 0 || parse_int64(colon + 1, &i) < 0)
                return;
        dev = (uint64_t) d;
        ino = (uint64_t) i;
        journal = st.st_dev == dev && st.st_ino == ino;
}

bool log_to_journal(void) {
        if (journal < 0)
                log_open();
        return journal > 0;
}

static const char *level_name(int priority) {
        static const char *const names[] = { "EMERG", "ALERT", "CRIT", "ERROR",
                                             "WARNING", "NOTICE", "INFO", "DEBUG" };

        return names[priority & 7];
}

void log_full(int priority, const LogFields *f, const char *fmt, ...) {
        static const LogFields none = {};
        _cleanup_free_ char *message = NULL;
        va_list ap;

        va_start(ap, fmt);
        message = strfv(fmt, ap);
        va_end(ap);
        if (!message)
                return;
        if (!f)
                f = &none;

        if (log_to_journal()) {
                const struct {
                        const char *key, *value;
                } fields[] = {
                        { "STRATA_COMMAND_ID=", f->command_id }, { "STRATA_EVENT=", f->event },
                        { "STRATA_COOKBOOK=", f->cookbook },     { "STRATA_RECIPE=", f->recipe },
                        { "STRATA_RESOURCE=", f->resource },     { "STRATA_APP=", f->app },
                };
                char *owned[ELEMENTSOF(fields) + 2] = {};
                struct iovec iov[ELEMENTSOF(fields) + 2];
                size_t n = 0;

                owned[n] = strf("MESSAGE=%s", message);
                owned[n + 1] = strf("PRIORITY=%d", priority & 7);
                n = 2;
                for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                        if (fields[i].value)
                                owned[n++] = strf("%s%s", fields[i].key, fields[i].value);
                size_t k = 0;
                for (size_t i = 0; i < n; i++)
                        if (owned[i])
                                iov[k++] = (struct iovec){ .iov_base = owned[i],
                                                           .iov_len = strlen(owned[i]) };
                (void) sd_journal_sendv(iov, (int) k);
                for (size_t i = 0; i < n; i++)
                        free(owned[i]);
                return;
        }

        if (f->command_id)
                fprintf(stderr, "%s: [%s%s%s] %s%s%s\n", level_name(priority), f->command_id,
                        f->event ? " " : "", strempty(f->event), strempty(f->resource),
                        f->resource ? ": " : "", message);
        else
                fprintf(stderr, "%s: %s\n", level_name(priority), message);
}
