/* SPDX-License-Identifier: MIT */
#include "json-util.h"
#include "report.h"

static int64_t get_int(json_object *o, const char *key) {
        json_object *v;

        return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

void report_print(json_object *report, FILE *f) {
        json_object *resources = json_object_object_get(report, "resources");
        json_object *totals = json_object_object_get(report, "totals");
        bool why_run = json_object_get_boolean(json_object_object_get(report, "why_run"));

        for (size_t i = 0; resources && i < json_object_array_length(resources); i++) {
                json_object *e = json_object_array_get_idx(resources, i);
                json_object *changes = json_object_object_get(e, "changes");
                const char *status = json_get_string(e, "status");
                const char *error = json_get_string(e, "error");
                const char *reason = json_get_string(e, "reason");

                fprintf(f, "%-10s %s[%s] %s (%s:%" PRId64 ")%s%s\n",
                        streq_ptr(status, "changed") && why_run ? "would" : strempty(status),
                        strempty(json_get_string(e, "type")), strempty(json_get_string(e, "name")),
                        strempty(json_get_string(e, "action")), strempty(json_get_string(e, "recipe")),
                        get_int(e, "line"), reason ? ": " : "", strempty(reason));
                for (size_t j = 0; changes && j < json_object_array_length(changes); j++)
                        fprintf(f, "           - %s%s\n", why_run ? "would " : "",
                                json_object_get_string(json_object_array_get_idx(changes, j)));
                if (error)
                        fprintf(f, "           ! %s\n", error);
        }
        fprintf(f,
                "%s: %" PRId64 " changed, %" PRId64 " up to date, %" PRId64 " skipped, %" PRId64
                " failed in %" PRId64 " ms%s\n",
                strempty(json_get_string(report, "status")), get_int(totals, "changed"),
                get_int(totals, "up_to_date"), get_int(totals, "skipped"), get_int(totals, "failed"),
                get_int(report, "duration_ms"), why_run ? " (why-run: nothing was changed)" : "");
}
