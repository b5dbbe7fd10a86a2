/* SPDX-License-Identifier: MIT */
/* The commands the agent was given: list_commands, show_log, get_json. */
#include <fcntl.h>

#include "cli.h"
#include "fs-util.h"
#include "json-util.h"
#include "str-util.h"

/* A log shown as JSON is read whole; retention keeps logs well below this. */
#define LOG_JSON_MAX (64U * 1024U * 1024U)

static json_object *string_or_null(const char *s) {
        return s ? json_object_new_string(s) : NULL;
}

/* {received_at, id, type, status, result, duration_ms}: result and duration_ms from
 * result.json, null until there is one (or when it has no duration: a command rejected,
 * superseded or interrupted never ran to an end). */
static int command_row(Cli *cli, json_object *entry, json_object **ret) {
        _cleanup_json_ json_object *row = json_object_new_object(), *result = NULL;
        const char *status = json_get_string(entry, "status");
        json_object *ms = NULL;

        if (!row)
                return -ENOMEM;
        /* A result that cannot be read leaves the row without one, not the whole list. */
        if (streq_ptr(status, "finished") &&
            cli_read_doc(cli, entry_id(entry), "result.json", &result, NULL) >= 0)
                ms = json_object_object_get(result, "duration_ms");
        json_object_object_add(row, "received_at",
                               string_or_null(json_get_string(entry, "received_at")));
        json_object_object_add(row, "id", string_or_null(entry_id(entry)));
        json_object_object_add(row, "type", string_or_null(entry_type(entry)));
        json_object_object_add(row, "status", string_or_null(status));
        json_object_object_add(row, "result", string_or_null(json_get_string(result, "status")));
        json_object_object_add(row, "duration_ms",
                               json_object_is_type(ms, json_type_int)
                                       ? json_object_new_int64(json_object_get_int64(ms))
                                       : NULL);
        *ret = TAKE_PTR(row);
        return 0;
}

static void print_table(json_object *rows) {
        int id_width = (int)strlen("ID"), type_width = (int)strlen("TYPE");
        size_t n = json_object_array_length(rows);

        for (size_t i = 0; i < n; i++) {
                json_object *row = json_object_array_get_idx(rows, i);

                id_width = MAX(id_width, (int)strlen(strempty(json_get_string(row, "id"))));
                type_width = MAX(type_width, (int)strlen(strempty(json_get_string(row, "type"))));
        }
        printf("%-24s  %-*s  %-*s  %-8s  %-10s  %s\n", "RECEIVED", id_width, "ID", type_width,
               "TYPE", "STATUS", "RESULT", "DURATION");
        for (size_t i = 0; i < n; i++) {
                json_object *row = json_object_array_get_idx(rows, i), *ms;
                _cleanup_free_ char *duration = NULL;

                if (json_object_object_get_ex(row, "duration_ms", &ms) && ms)
                        duration = format_duration_ms(json_object_get_int64(ms));
                printf("%-24s  %-*s  %-*s  %-8s  %-10s  %s\n",
                       strempty(json_get_string(row, "received_at")), id_width,
                       strempty(json_get_string(row, "id")), type_width,
                       strempty(json_get_string(row, "type")),
                       strempty(json_get_string(row, "status")),
                       json_get_string(row, "result") ?: "-", duration ?: "-");
        }
}

int verb_list_commands(Cli *cli, char **args) {
        _cleanup_json_ json_object *entries = NULL, *rows = json_object_new_array();
        _cleanup_free_ char *error = NULL;
        int r;

        (void)args;
        if (!rows)
                return cli_fail(-ENOMEM, NULL);
        r = cli_journal_entries(cli, &entries, &error);
        if (r < 0)
                return cli_fail(r, error);
        for (size_t i = 0; i < json_object_array_length(entries); i++) {
                json_object *row = NULL;

                r = command_row(cli, json_object_array_get_idx(entries, i), &row);
                if (r < 0)
                        return cli_fail(r, NULL);
                json_object_array_add(rows, row);
        }
        if (cli->json)
                cli_print_json(rows);
        else
                print_table(rows);
        return CLI_EXIT_SUCCESS;
}

/* Copies a file to stdout as it is, however long. */
static int copy_to_stdout(const char *path) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        char buf[65536];
        ssize_t n;

        if (fd < 0)
                return -errno;
        while ((n = read(fd, buf, sizeof(buf))) != 0) {
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
                        return -EIO;
        }
        return fflush(stdout) == 0 ? 0 : -EIO;
}

int verb_show_log(Cli *cli, char **args) {
        _cleanup_json_ json_object *entry = NULL, *out = NULL;
        _cleanup_free_ char *error = NULL, *path = NULL, *log = NULL;
        const char *id;
        int r;

        r = cli_select(cli, args, NULL, &entry, &error);
        if (r < 0)
                return cli_fail(r, error);
        id = entry_id(entry);
        path = strf("%s/%s.log", cli->config->log_dir, id);
        if (!path)
                return cli_fail(-ENOMEM, NULL);

        if (cli->json) {
                r = read_full_file(path, LOG_JSON_MAX, &log, NULL);
                if (r >= 0) {
                        out = json_object_new_object();
                        if (!out)
                                return cli_fail(-ENOMEM, NULL);
                        json_object_object_add(out, "id", json_object_new_string(id));
                        json_object_object_add(out, "type", string_or_null(entry_type(entry)));
                        json_object_object_add(out, "log_file", json_object_new_string(path));
                        json_object_object_add(out, "log", json_object_new_string(log));
                        cli_print_json(out);
                }
        } else
                r = copy_to_stdout(path);
        if (r == -ENOENT && streq_ptr(json_get_string(entry, "status"), "queued"))
                return cli_error(CLI_EXIT_FAILED, "command %s has not started yet: no log", id);
        if (r < 0)
                return cli_error(CLI_EXIT_FAILED, "command %s: %s: %s", id, path, strerror(-r));
        return CLI_EXIT_SUCCESS;
}

int verb_get_json(Cli *cli, char **args) {
        _cleanup_json_ json_object *entry = NULL, *node = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        r = cli_select(cli, args, "node.json", &entry, &error);
        if (r < 0)
                return cli_fail(r, error);
        r = cli_read_doc(cli, entry_id(entry), "node.json", &node, &error);
        if (r < 0)
                return cli_fail(r, error);
        /* The attributes are JSON either way. */
        cli_print_json(node);
        return CLI_EXIT_SUCCESS;
}
