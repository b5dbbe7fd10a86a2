/* SPDX-License-Identifier: MIT */
/* New commands into the local control plane's spool (cp-local.h): send_command and
 * run_command drop a command file in <spool>/inbox and wait for <spool>/results/<id>.json. */
#include <poll.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "command.h"
#include "fs-util.h"
#include "json-util.h"
#include "report.h"
#include "str-util.h"
#include "time-util.h"

#define WAIT_TIMEOUT_DEFAULT 3600
/* The result file is looked for again this often even without an event, in case the results
 * directory was replaced while we watched the old one. */
#define RECHECK_MSEC 1000
#define SPOOL_DIR_MODE 0755
/* A command may carry secrets in custom_json: only the agent (root) reads it. */
#define COMMAND_FILE_MODE 0600
#define RESULT_MAX (64U * 1024U * 1024U)
#define ID_MAX 128 /* command.h: ids are 1 to 128 characters */
#define TIMEOUT_MAX 86400

/* The verbs here need a spool: checked first, so everything below may use it. */
static int check_local(Cli *cli) {
        if (cli->config->control_plane.type == CONTROL_PLANE_LOCAL)
                return 0;
        return cli_error(CLI_EXIT_USAGE,
                         "commands go to the local control plane only (control_plane.type is "
                         "etcd in %s)",
                         cli->config_path ?: "the configuration");
}

/* "20261125T115959Z-a1b2c3": sorts by time, as the inbox is read in file-name order. A re-run
 * is "<base>-rerun-20261125T115959Z-a1b2c3", base cut so the whole fits. The random part keeps
 * two ids made in the same second apart: the agent runs an id only once. */
static int new_command_id(const char *base, char **ret) {
        _cleanup_free_ char *suffix = NULL;
        uint8_t rnd[3];
        time_t now = time(NULL);
        struct tm tm;
        char stamp[32];
        char *id;

        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
                return -errno;
        if (!gmtime_r(&now, &tm) || strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) == 0)
                return -EINVAL;
        suffix = strf("%s-%02x%02x%02x", stamp, rnd[0], rnd[1], rnd[2]);
        if (!suffix)
                return -ENOMEM;
        if (base) {
                int keep = (int)MIN(strlen(base), ID_MAX - strlen("-rerun-") - strlen(suffix));

                id = strf("%.*s-rerun-%s", keep, base, suffix);
        } else
                id = strdup(suffix);
        if (!id)
                return -ENOMEM;
        *ret = id;
        return 0;
}

/* An id the agent knows already would not run again, and results/<id>.json would be the old
 * command's result. */
static bool id_used(Cli *cli, const char *id) {
        _cleanup_free_ char *inbox = strf("%s/inbox/%s.json", cli->config->control_plane.spool, id);
        _cleanup_free_ char *result =
                strf("%s/results/%s.json", cli->config->control_plane.spool, id);

        return cli_journal_has(cli, id) || !inbox || !result || access(inbox, F_OK) == 0 ||
               access(result, F_OK) == 0;
}

static int parse_seconds(const char *option, const char *value, uint32_t min, uint32_t max,
                         uint32_t *ret, char **ret_error) {
        uint32_t v;

        if (parse_uint32(value, &v) < 0 || v < min || v > max)
                return error_set(ret_error, -EINVAL,
                                 "--%s: '%s': expected a whole number of seconds from %u to %u",
                                 option, value, min, max);
        *ret = v;
        return 0;
}

static int parse_object(const char *option, const char *value, json_object **ret,
                        char **ret_error) {
        _cleanup_json_ json_object *v = NULL;
        _cleanup_free_ char *what = strf("--%s", option);
        int r;

        if (!what)
                return -ENOMEM;
        r = json_parse_strict(what, value, strlen(value), &v, ret_error);
        if (r < 0)
                return r == -EFBIG ? -EINVAL : r;
        if (!json_object_is_type(v, json_type_object))
                return error_set(ret_error, -EINVAL,
                                 "--%s: expected a JSON object, like {\"a\": 1}", option);
        *ret = TAKE_PTR(v);
        return 0;
}

/* Drops the command in the inbox: written to a dot-file there and renamed in, so the agent
 * never reads half a command. */
static int drop_command(Cli *cli, json_object *command, char **ret_error) {
        _cleanup_free_ char *inbox = strf("%s/inbox", cli->config->control_plane.spool);
        _cleanup_free_ char *path = NULL, *text = NULL;
        int r;

        path = strf("%s/%s.json", strempty(inbox), command_id(command));
        text = strf("%s\n",
                    json_object_to_json_string_ext(
                            command, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        if (!inbox || !path || !text)
                return -ENOMEM;
        r = mkdir_parents(inbox, SPOOL_DIR_MODE);
        if (r >= 0)
                r = write_file_atomic(path, text, strlen(text), COMMAND_FILE_MODE, (uid_t)-1,
                                      (gid_t)-1);
        if (r < 0)
                return error_set(ret_error, r, "%s: cannot write: %s", path, strerror(-r));
        return 0;
}

/* A warning, not an error: the command waits in the inbox until the agent comes. */
static void warn_if_agent_down(Cli *cli) {
        _cleanup_json_ json_object *hb = NULL;
        _cleanup_free_ char *error = NULL;
        int64_t age;

        if (cli_heartbeat(cli, &hb, &age, &error) < 0)
                fprintf(stderr, "strata-agent-cli: warning: %s: is strata-agent running?\n",
                        strempty(error));
        else if (age < 0 || (usec_t)age * USEC_PER_SEC > cli->config->health_timeout)
                fprintf(stderr,
                        "strata-agent-cli: warning: the last heartbeat is %" PRId64
                        " s old: is strata-agent running?\n",
                        age);
}

/* Waits for results/<id>.json: inotify on the results directory, the file checked after the
 * watch is in place so that a result written in between is not missed. timeout 0: forever. */
static int wait_result(Cli *cli, const char *id, uint32_t timeout, json_object **ret,
                       char **ret_error) {
        _cleanup_free_ char *results = strf("%s/results", cli->config->control_plane.spool);
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + (usec_t)timeout * USEC_PER_SEC;
        int r;

        path = strf("%s/%s.json", strempty(results), id);
        if (!results || !path)
                return -ENOMEM;
        r = mkdir_parents(results, SPOOL_DIR_MODE);
        if (r < 0)
                return error_set(ret_error, r, "%s: cannot create: %s", results, strerror(-r));
        fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (fd < 0 ||
            inotify_add_watch(fd, results, IN_MOVED_TO | IN_CLOSE_WRITE | IN_ONLYDIR) < 0) {
                r = -errno;
                return error_set(ret_error, r, "%s: cannot watch: %s", results, strerror(-r));
        }

        for (;;) {
                _cleanup_free_ char *text = NULL;
                struct pollfd p = {.fd = fd, .events = POLLIN};
                int wait_ms = RECHECK_MSEC;
                char buf[4096];
                size_t len;
                usec_t now;

                r = read_full_file(path, RESULT_MAX, &text, &len);
                if (r >= 0) {
                        r = json_parse_strict(path, text, len, ret, ret_error);
                        return r < 0 ? -EBADMSG : 0;
                }
                if (r != -ENOENT)
                        return error_set(ret_error, r, "%s: cannot read: %s", path, strerror(-r));

                now = now_usec(CLOCK_MONOTONIC);
                if (timeout > 0) {
                        if (now >= deadline)
                                return error_set(ret_error, -ETIME,
                                                 "no result for command %s after %u s; it may "
                                                 "still be waiting or running (see list_commands)",
                                                 id, timeout);
                        wait_ms = (int)MIN((usec_t)RECHECK_MSEC,
                                           (deadline - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC);
                }
                if (poll(&p, 1, wait_ms) < 0 && errno != EINTR) {
                        r = -errno;
                        return error_set(ret_error, r, "cannot wait for the result: %s",
                                         strerror(-r));
                }
                /* The events only wake us: the file itself is what counts. */
                while (read(fd, buf, sizeof(buf)) > 0)
                        ;
        }
}

/* The result, and the exit status it means: a command that ran or was skipped as superseded
 * succeeded; anything else failed. */
static int print_result(Cli *cli, json_object *result) {
        const char *status = json_get_string(result, "status");
        const char *reason = json_get_string(result, "reason");
        json_object *ms = json_object_object_get(result, "duration_ms");
        json_object *report = json_object_object_get(result, "report");
        _cleanup_free_ char *duration = NULL;

        if (cli->json)
                cli_print_json(result);
        else {
                if (json_object_is_type(ms, json_type_int))
                        duration = format_duration_ms(json_object_get_int64(ms));
                printf("%s: %s", strempty(json_get_string(result, "id")), status ?: "unknown");
                if (json_get_string(result, "type"))
                        printf(" (%s%s%s)", json_get_string(result, "type"), duration ? ", " : "",
                               strempty(duration));
                printf("%s%s\n", reason && *reason ? ": " : "", reason && *reason ? reason : "");
                if (json_object_is_type(report, json_type_object))
                        report_print(report, stdout);
        }
        return STR_IN_SET(strempty(status), "successful", "skipped") ? CLI_EXIT_SUCCESS
                                                                     : CLI_EXIT_FAILED;
}

/* Drops a checked command and, unless --no-wait, waits for its result and prints it. */
static int submit(Cli *cli, json_object *command) {
        _cleanup_json_ json_object *result = NULL;
        _cleanup_free_ char *error = NULL;
        const char *id = command_id(command);
        uint32_t timeout = WAIT_TIMEOUT_DEFAULT;
        int r;

        if (cli->wait_timeout) {
                r = parse_seconds("wait-timeout", cli->wait_timeout, 0, UINT32_MAX / 2, &timeout,
                                  &error);
                if (r < 0)
                        return cli_fail(r, error);
        }
        r = drop_command(cli, command, &error);
        if (r < 0)
                return cli_fail(r, error);
        if (cli->no_wait) {
                if (cli->json) {
                        _cleanup_json_ json_object *out = json_object_new_object();

                        if (!out)
                                return cli_fail(-ENOMEM, NULL);
                        json_object_object_add(out, "id", json_object_new_string(id));
                        cli_print_json(out);
                } else
                        printf("%s\n", id);
                return CLI_EXIT_SUCCESS;
        }
        warn_if_agent_down(cli);
        r = wait_result(cli, id, timeout, &result, &error);
        if (r < 0)
                return cli_error(CLI_EXIT_FAILED, "%s", error ?: strerror(-r));
        return print_result(cli, result);
}

/* Stamps the new id and created_at, then checks the whole document as the agent will (the
 * document itself is sent as it is, not the agent's normalised form of it). */
static int finish_command(const char *what, json_object *command, const char *id,
                          char **ret_error) {
        _cleanup_free_ char *now = format_timestamp(now_usec(CLOCK_REALTIME));
        _cleanup_json_ json_object *checked = NULL;
        const char *text;

        if (!now)
                return -ENOMEM;
        json_object_object_add(command, "id", json_object_new_string(id));
        json_object_object_add(command, "created_at", json_object_new_string(now));
        text = json_object_to_json_string_ext(command, JSON_C_TO_STRING_PLAIN);
        if (!text)
                return -ENOMEM;
        return command_parse(what, text, strlen(text), &checked, ret_error);
}

static char *type_names(void) {
        _cleanup_(strbuf_done) StrBuf b = {};

        for (CommandType t = 0; t < _COMMAND_TYPE_MAX; t++)
                if (strbuf_printf(&b, "%s%s", t > 0 ? ", " : "", command_type_to_string(t)) < 0)
                        return NULL;
        return strbuf_steal(&b);
}

int verb_send_command(Cli *cli, char **args) {
        _cleanup_json_ json_object *command = json_object_new_object();
        _cleanup_json_ json_object *cargs = NULL, *custom = NULL;
        _cleanup_free_ char *error = NULL, *id = NULL, *types = type_names();
        uint32_t timeout = 0;
        int r;

        (void)args;
        if (!command || !types)
                return cli_fail(-ENOMEM, NULL);
        r = check_local(cli);
        if (r != 0)
                return r;
        if (!cli->type)
                return cli_error(CLI_EXIT_USAGE, "send_command: --type is required (one of: %s)",
                                 types);
        if (command_type_from_string(cli->type) < 0)
                return cli_error(CLI_EXIT_USAGE,
                                 "--type: '%s' is not a command type (expected "
                                 "one of: %s)",
                                 cli->type, types);
        if (cli->args && (r = parse_object("args", cli->args, &cargs, &error)) < 0)
                return cli_fail(r, error);
        if (cli->custom_json &&
            (r = parse_object("custom-json", cli->custom_json, &custom, &error)) < 0)
                return cli_fail(r, error);
        if (cli->timeout &&
            (r = parse_seconds("timeout", cli->timeout, 1, TIMEOUT_MAX, &timeout, &error)) < 0)
                return cli_fail(r, error);
        r = cli_journal_open(cli, &error);
        if (r < 0)
                return cli_fail(r, error);
        if (cli->id) {
                if (!command_id_valid(cli->id))
                        return cli_error(CLI_EXIT_USAGE,
                                         "--id: '%s' is not a valid command id (1 to 128 letters, "
                                         "digits, '.', '_' or '-', not starting with '.')",
                                         cli->id);
                if (id_used(cli, cli->id))
                        return cli_error(CLI_EXIT_USAGE,
                                         "--id: command %s was sent before; an id runs only once",
                                         cli->id);
                id = strdup(cli->id);
                if (!id)
                        return cli_fail(-ENOMEM, NULL);
        } else if ((r = new_command_id(NULL, &id)) < 0)
                return cli_fail(r, NULL);

        json_object_object_add(command, "type", json_object_new_string(cli->type));
        json_object_object_add(command, "args", TAKE_PTR(cargs) ?: json_object_new_object());
        json_object_object_add(command, "custom_json",
                               TAKE_PTR(custom) ?: json_object_new_object());
        if (cli->comment)
                json_object_object_add(command, "comment", json_object_new_string(cli->comment));
        if (timeout > 0)
                json_object_object_add(command, "timeout", json_object_new_int64(timeout));
        r = finish_command("send_command", command, id, &error);
        if (r < 0)
                return cli_fail(r, error);
        return submit(cli, command);
}

/* A command file as a new command: its id (if any) only names the re-run. */
static int command_from_file(const char *path, json_object **ret, char **ret_error) {
        _cleanup_json_ json_object *doc = NULL;
        _cleanup_free_ char *text = NULL, *id = NULL;
        const char *base;
        size_t len;
        int r;

        r = read_full_file(path, COMMAND_SIZE_MAX, &text, &len);
        if (r == -EFBIG)
                return error_set(ret_error, -EINVAL, "%s: larger than 1 MiB", path);
        if (r < 0)
                return error_set(ret_error, -EINVAL, "%s: cannot read: %s", path, strerror(-r));
        r = json_parse_strict(path, text, len, &doc, ret_error);
        if (r < 0)
                return r;
        if (!json_object_is_type(doc, json_type_object))
                return error_set(ret_error, -EINVAL, "%s: expected a command, a JSON object", path);
        base = json_get_string(doc, "id");
        r = new_command_id(command_id_valid(base) ? base : NULL, &id);
        if (r < 0)
                return r;
        r = finish_command(path, doc, id, ret_error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(doc);
        return 0;
}

/* A journalled command again, under a new id. */
static int command_from_journal(Cli *cli, char **args, json_object **ret, char **ret_error) {
        _cleanup_json_ json_object *entry = NULL, *copy = NULL;
        _cleanup_free_ char *id = NULL, *what = NULL;
        int r;

        r = cli_select(cli, args, NULL, &entry, ret_error);
        if (r < 0)
                return r;
        if (json_object_deep_copy(entry_command(entry), &copy, NULL) < 0)
                return -ENOMEM;
        /* The journal keeps the command normalised: timeout 0 stands for "the agent's". */
        if (json_object_get_int64(json_object_object_get(copy, "timeout")) == 0)
                json_object_object_del(copy, "timeout");
        r = new_command_id(entry_id(entry), &id);
        if (r < 0)
                return r;
        what = strf("command %s", entry_id(entry));
        if (!what)
                return -ENOMEM;
        r = finish_command(what, copy, id, ret_error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(copy);
        return 0;
}

static bool names_file(Cli *cli, const char *arg) {
        struct stat st;

        /* An id never holds a '/'; otherwise the journal's ids come first. */
        if (strchr(arg, '/'))
                return true;
        return !cli_journal_has(cli, arg) && stat(arg, &st) == 0 && S_ISREG(st.st_mode);
}

int verb_run_command(Cli *cli, char **args) {
        _cleanup_json_ json_object *command = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        r = check_local(cli);
        if (r != 0)
                return r;
        r = cli_journal_open(cli, &error);
        if (r < 0)
                return cli_fail(r, error);
        if (args[0] && names_file(cli, args[0])) {
                if (args[1])
                        return cli_error(CLI_EXIT_USAGE,
                                         "run_command: a command file takes no "
                                         "date ('%s')",
                                         args[1]);
                r = command_from_file(args[0], &command, &error);
        } else
                r = command_from_journal(cli, args, &command, &error);
        if (r < 0)
                return cli_fail(r, error);
        return submit(cli, command);
}
