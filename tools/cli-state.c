/* SPDX-License-Identifier: MIT */
/* What strata-agent-cli reads of the agent's state: the command journal, the documents kept
 * with each command, the stack description and the heartbeat. Nothing here writes: a reader
 * never creates the agent's directories. */
#include <dirent.h>
#include <time.h>

#include "cli.h"
#include "command.h"
#include "fs-util.h"
#include "json-util.h"
#include "redact.h"
#include "stack.h"
#include "str-util.h"

#define HEARTBEAT_MAX (1024U * 1024U)

int cli_journal_open(Cli *cli, char **ret_error) {
        _cleanup_free_ char *dir = strf("%s/commands", cli->config->state_dir);
        int r;

        if (!dir)
                return -ENOMEM;
        if (cli->journal)
                return 0;
        /* command_journal_open() creates the directory; before the agent's first command
         * there is simply nothing to read. */
        if (access(dir, F_OK) < 0) {
                if (errno == ENOENT)
                        return 0;
                r = -errno;
                return error_set(ret_error, r, "%s: %s", dir, strerror(-r));
        }
        r = command_journal_open(cli->config->state_dir, &cli->journal);
        if (r < 0)
                return error_set(ret_error, r, "%s: cannot open the command journal: %s", dir,
                                 strerror(-r));
        return 0;
}

json_object *entry_command(json_object *entry) {
        return json_object_object_get(entry, "command");
}

const char *entry_id(json_object *entry) {
        return json_get_string(entry_command(entry), "id");
}

const char *entry_type(json_object *entry) {
        return json_get_string(entry_command(entry), "type");
}

int cli_journal_entries(Cli *cli, json_object **ret, char **ret_error) {
        _cleanup_json_ json_object *entries = json_object_new_array();
        _cleanup_strv_free_ char **ids = NULL;
        int r;

        if (!entries)
                return -ENOMEM;
        r = cli_journal_open(cli, ret_error);
        if (r < 0)
                return r;
        if (cli->journal) {
                r = command_journal_list(cli->journal, NULL, &ids);
                if (r < 0)
                        return error_set(ret_error, r, "%s/commands: cannot list: %s",
                                         cli->config->state_dir, strerror(-r));
                for (char **id = ids; *id; id++) {
                        json_object *entry = NULL;

                        /* Gone since the listing: pruned by the agent meanwhile. */
                        if (command_journal_get(cli->journal, *id, &entry) < 0)
                                continue;
                        json_object_array_add(entries, entry);
                }
        }
        *ret = TAKE_PTR(entries);
        return 0;
}

bool cli_journal_has(Cli *cli, const char *id) {
        return cli->journal && command_id_valid(id) && command_journal_seen(cli->journal, id);
}

/* YYYY-MM-DD, a real calendar day. */
static bool date_valid(const char *s) {
        struct tm tm = {};
        const char *end;

        if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' || strspn(s, "0123456789-") != 10)
                return false;
        end = strptime(s, "%Y-%m-%d", &tm);
        return end && *end == 0;
}

static bool entry_has(Cli *cli, json_object *entry, const char *name) {
        _cleanup_free_ char *dir = command_journal_dir(cli->journal, entry_id(entry));
        _cleanup_free_ char *path = dir ? strf("%s/%s", dir, name) : NULL;

        return path && access(path, F_OK) == 0;
}

int cli_select(Cli *cli, char *const *args, const char *need, json_object **ret_entry,
               char **ret_error) {
        _cleanup_json_ json_object *entries = NULL;
        const char *what = args[0], *second = what ? args[1] : NULL, *type = NULL, *date = NULL;
        int r;

        r = cli_journal_entries(cli, &entries, ret_error);
        if (r < 0)
                return r;

        if (what && cli_journal_has(cli, what)) {
                if (second)
                        return error_set(ret_error, -EINVAL,
                                         "'%s': a date goes with a command type, not an id",
                                         second);
                for (size_t i = json_object_array_length(entries); i > 0; i--) {
                        json_object *e = json_object_array_get_idx(entries, i - 1);

                        if (streq_ptr(entry_id(e), what)) {
                                *ret_entry = json_object_get(e);
                                return 0;
                        }
                }
                return error_set(ret_error, -ENOENT, "command %s: its journal entry is gone", what);
        }

        if (what && command_type_from_string(what) >= 0)
                type = what;
        else if (what && date_valid(what) && !second)
                date = what;
        else if (what)
                return error_set(ret_error, -EINVAL,
                                 "'%s' is neither the id of a command in the journal nor a "
                                 "command type",
                                 what);
        if (second) {
                if (!date_valid(second))
                        return error_set(ret_error, -EINVAL, "'%s': expected a date as YYYY-MM-DD",
                                         second);
                date = second;
        }

        /* Newest first: the journal lists them in the order received. */
        for (size_t i = json_object_array_length(entries); i > 0; i--) {
                json_object *e = json_object_array_get_idx(entries, i - 1);

                if (type && !streq_ptr(entry_type(e), type))
                        continue;
                if (date && !startswith(strempty(json_get_string(e, "received_at")), date))
                        continue;
                if (need && !entry_has(cli, e, need))
                        continue;
                *ret_entry = json_object_get(e);
                return 0;
        }
        return error_set(ret_error, -ENOENT, "no %s%scommand%s%s%s%s in the journal (%s/commands)",
                         strempty(type), type ? " " : "", date ? " received on " : "",
                         strempty(date), need ? " with a " : "", strempty(need),
                         cli->config->state_dir);
}

/* What is shown is no more than a log would say. */
static int mask_secrets(json_object *doc) {
        _cleanup_(redactor_done) Redactor r = {};
        int k;

        k = redactor_add_from(&r, doc);
        if (k < 0)
                return k;
        return redact_json(&r, doc);
}

int cli_read_doc(Cli *cli, const char *id, const char *name, json_object **ret, char **ret_error) {
        _cleanup_json_ json_object *doc = NULL;
        const char *dir = cli->config->state_dir;
        int r;

        r = cli_journal_open(cli, ret_error);
        if (r < 0)
                return r;
        if (!cli->journal)
                return error_set(ret_error, -ENOENT, "no command in the journal (%s/commands)",
                                 dir);
        r = command_journal_read(cli->journal, id, name, &doc);
        if (r == -ENOENT)
                return error_set(ret_error, r, "command %s has no %s (%s/commands/%s/%s)", id, name,
                                 dir, id, name);
        if (r == -EINVAL || r == -EFBIG || (r >= 0 && !doc))
                return error_set(ret_error, -EBADMSG, "%s/commands/%s/%s: not a JSON document", dir,
                                 id, name);
        if (r < 0)
                return error_set(ret_error, r, "%s/commands/%s/%s: cannot read: %s", dir, id, name,
                                 strerror(-r));
        r = mask_secrets(doc);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(doc);
        return 0;
}

/* The stack the local control plane would hand out now, as cp-local does. */
static int current_stack(Cli *cli, json_object **ret, char **ret_source, char **ret_error) {
        const AgentConfig *c = cli->config;
        _cleanup_json_ json_object *doc = NULL;
        char *source;
        int r;

        if (c->control_plane.type != CONTROL_PLANE_LOCAL)
                return error_set(ret_error, -ENOENT,
                                 "no command has run yet, and the stack of an etcd control plane "
                                 "is not kept on this instance");
        if (c->control_plane.stack_file) {
                r = attributes_load_file(c->control_plane.stack_file, &doc, ret_error);
                if (r < 0)
                        return r == -EINVAL ? -EBADMSG : r;
        }
        source = strdup(c->control_plane.stack_file ?: "no stack_file: a one-instance stack");
        if (!source)
                return -ENOMEM;
        r = stack_normalize(c->control_plane.stack_file ?: "stack", doc, c->instance_id,
                            c->stack_id, ret, ret_error);
        if (r < 0) {
                free(source);
                return r == -EINVAL ? -EBADMSG : r;
        }
        *ret_source = source;
        return 0;
}

int cli_stack(Cli *cli, json_object **ret, char **ret_source, char **ret_error) {
        _cleanup_json_ json_object *entries = NULL, *stack = NULL;
        _cleanup_free_ char *source = NULL;
        int r;

        r = cli_journal_entries(cli, &entries, ret_error);
        if (r < 0)
                return r;
        /* The newest command may still be queued, without a stack yet. */
        for (size_t i = json_object_array_length(entries); i > 0 && !stack; i--) {
                const char *id = entry_id(json_object_array_get_idx(entries, i - 1));
                _cleanup_free_ char *error = NULL;

                r = cli_read_doc(cli, id, "stack.json", &stack, &error);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return error_set(ret_error, r, "%s", error ?: strerror(-r));
                source = strf("command %s", id);
                if (!source)
                        return -ENOMEM;
        }
        if (!stack) {
                r = current_stack(cli, &stack, &source, ret_error);
                if (r < 0)
                        return r;
                r = mask_secrets(stack);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(stack);
        *ret_source = TAKE_PTR(source);
        return 0;
}

static int64_t seconds_since(const char *iso) {
        struct tm tm = {};
        const char *end;

        if (!iso)
                return -1;
        end = strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!end)
                return -1;
        return MAX((int64_t)time(NULL) - (int64_t)timegm(&tm), (int64_t)0);
}

int cli_heartbeat(Cli *cli, json_object **ret, int64_t *ret_age, char **ret_error) {
        const AgentConfig *c = cli->config;
        _cleanup_free_ char *path = NULL, *text = NULL;
        _cleanup_json_ json_object *doc = NULL;
        size_t len;
        int r;

        /* With etcd the agent keeps a copy, with the state of its link to etcd. */
        path = strf("%s/heartbeat.json", c->control_plane.type == CONTROL_PLANE_LOCAL
                                                 ? c->control_plane.spool
                                                 : c->state_dir);
        if (!path)
                return -ENOMEM;
        r = read_full_file(path, HEARTBEAT_MAX, &text, &len);
        if (r == -ENOENT)
                return error_set(ret_error, r, "%s: no heartbeat yet", path);
        if (r < 0)
                return error_set(ret_error, r, "%s: cannot read: %s", path, strerror(-r));
        r = json_parse_strict(path, text, len, &doc, ret_error);
        if (r < 0)
                return -EBADMSG;
        if (!json_object_is_type(doc, json_type_object))
                return error_set(ret_error, -EBADMSG, "%s: expected a JSON object", path);
        *ret_age = seconds_since(json_get_string(doc, "time"));
        *ret = TAKE_PTR(doc);
        return 0;
}

int cli_count_json_files(const char *dir, size_t *ret) {
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = 0;

        if (!d) {
                if (errno != ENOENT)
                        return -errno;
                *ret = 0;
                return 0;
        }
        while ((de = readdir(d)))
                if (de->d_name[0] != '.' && endswith(de->d_name, ".json"))
                        n++;
        closedir(d);
        *ret = n;
        return 0;
}

char *format_duration_ms(int64_t ms) {
        if (ms < 1000)
                return strf("%" PRId64 " ms", MAX(ms, (int64_t)0));
        if (ms < 60 * 1000)
                return strf("%.1f s", (double)ms / 1000.0);
        if (ms < 3600 * 1000)
                return strf("%" PRId64 "m %02" PRId64 "s", ms / 60000, ms / 1000 % 60);
        return strf("%" PRId64 "h %02" PRId64 "m", ms / 3600000, ms / 60000 % 60);
}
