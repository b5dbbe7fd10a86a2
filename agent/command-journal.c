/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>

#include "command-journal.h"
#include "command.h"
#include "fs-util.h"
#include "json-util.h"
#include "str-util.h"
#include "time-util.h"

#define ENTRY_MAX (2U * 1024U * 1024U)
#define DOC_MAX (64U * 1024U * 1024U)

struct CommandJournal {
        char *dir; /* <state_dir>/commands */
        int64_t next_seq;
};

static int entry_write(CommandJournal *j, const char *id, json_object *entry) {
        _cleanup_free_ char *path = strf("%s/%s/command.json", j->dir, id);
        const char *s = json_object_to_json_string_ext(entry, JSON_C_TO_STRING_PRETTY |
                                                                      JSON_C_TO_STRING_NOSLASHESCAPE);

        if (!path || !s)
                return -ENOMEM;
        return write_file_atomic(path, s, strlen(s), 0600, (uid_t) -1, (gid_t) -1);
}

int command_journal_get(CommandJournal *j, const char *id, json_object **ret) {
        _cleanup_free_ char *path = strf("%s/%s/command.json", j->dir, id), *text = NULL;
        size_t len;
        int k;

        if (!path)
                return -ENOMEM;
        if (!command_id_valid(id))
                return -EINVAL;
        k = read_full_file(path, ENTRY_MAX, &text, &len);
        if (k < 0)
                return k;
        return json_parse_strict(path, text, len, ret, NULL);
}

static int scan(CommandJournal *j, json_object **ret_entries) {
        _cleanup_json_ json_object *entries = json_object_new_array();
        DIR *d = opendir(j->dir);
        struct dirent *de;

        if (!entries) {
                if (d)
                        closedir(d);
                return -ENOMEM;
        }
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                json_object *entry = NULL;

                if (!command_id_valid(de->d_name))
                        continue;
                /* A directory without a readable entry is a command that never got journalled
                 * (a crash inside command_journal_add): not seen, as if never received. */
                if (command_journal_get(j, de->d_name, &entry) < 0)
                        continue;
                json_object_array_add(entries, entry);
        }
        closedir(d);
        *ret_entries = TAKE_PTR(entries);
        return 0;
}

static int64_t entry_seq(json_object *e) {
        json_object *v;

        return json_object_object_get_ex(e, "seq", &v) ? json_object_get_int64(v) : 0;
}

static int by_seq(const void *a, const void *b) {
        int64_t x = entry_seq(*(json_object *const *) a), y = entry_seq(*(json_object *const *) b);

        return x < y ? -1 : x > y;
}

int command_journal_open(const char *state_dir, CommandJournal **ret) {
        _cleanup_(command_journal_freep) CommandJournal *j = calloc(1, sizeof(CommandJournal));
        _cleanup_json_ json_object *entries = NULL;
        int k;

        if (!j)
                return -ENOMEM;
        j->dir = strf("%s/commands", state_dir);
        if (!j->dir)
                return -ENOMEM;
        k = mkdir_parents(j->dir, 0700);
        if (k < 0)
                return k;
        k = scan(j, &entries);
        if (k < 0)
                return k;
        j->next_seq = 1;
        for (size_t i = 0; i < json_object_array_length(entries); i++)
                j->next_seq = MAX(j->next_seq, entry_seq(json_object_array_get_idx(entries, i)) + 1);
        *ret = TAKE_PTR(j);
        return 0;
}

CommandJournal *command_journal_free(CommandJournal *j) {
        if (!j)
                return NULL;
        free(j->dir);
        free(j);
        return NULL;
}

char *command_journal_dir(CommandJournal *j, const char *id) {
        return strf("%s/%s", j->dir, id);
}

bool command_journal_seen(CommandJournal *j, const char *id) {
        _cleanup_free_ char *path = strf("%s/%s/command.json", j->dir, id);

        return path && access(path, F_OK) == 0;
}

int command_journal_add(CommandJournal *j, json_object *command) {
        const char *id = command_id(command);
        _cleanup_free_ char *dir = NULL, *now = format_timestamp(now_usec(CLOCK_REALTIME));
        _cleanup_json_ json_object *entry = json_object_new_object();
        int k;

        if (!entry || !now)
                return -ENOMEM;
        if (!id || !command_id_valid(id))
                return -EINVAL;
        if (command_journal_seen(j, id))
                return -EEXIST;
        dir = command_journal_dir(j, id);
        if (!dir)
                return -ENOMEM;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -errno;

        json_object_object_add(entry, "command", json_object_get(command));
        json_object_object_add(entry, "seq", json_object_new_int64(j->next_seq));
        json_object_object_add(entry, "status", json_object_new_string("queued"));
        json_object_object_add(entry, "received_at", json_object_new_string(now));
        k = entry_write(j, id, entry);
        if (k < 0)
                return k;
        j->next_seq++;
        return 0;
}

int command_journal_set_status(CommandJournal *j, const char *id, const char *status) {
        _cleanup_json_ json_object *entry = NULL;
        _cleanup_free_ char *now = format_timestamp(now_usec(CLOCK_REALTIME));
        int k;

        if (!now)
                return -ENOMEM;
        k = command_journal_get(j, id, &entry);
        if (k < 0)
                return k;
        json_object_object_add(entry, "status", json_object_new_string(status));
        if (streq(status, "running"))
                json_object_object_add(entry, "started_at", json_object_new_string(now));
        else if (streq(status, "finished"))
                json_object_object_add(entry, "finished_at", json_object_new_string(now));
        return entry_write(j, id, entry);
}

int command_journal_list(CommandJournal *j, const char *status, char ***ret) {
        _cleanup_json_ json_object *entries = NULL;
        _cleanup_strv_free_ char **ids = calloc(1, sizeof(char *));
        int k;

        if (!ids)
                return -ENOMEM;
        k = scan(j, &entries);
        if (k < 0)
                return k;
        json_object_array_sort(entries, by_seq);
        for (size_t i = 0; i < json_object_array_length(entries); i++) {
                json_object *e = json_object_array_get_idx(entries, i);

                if (status && !streq_ptr(json_get_string(e, "status"), status))
                        continue;
                k = strv_extend(&ids, command_id(json_object_object_get(e, "command")));
                if (k < 0)
                        return k;
        }
        *ret = TAKE_PTR(ids);
        return 0;
}

int command_journal_write(CommandJournal *j, const char *id, const char *name, json_object *doc,
                          WriteFlags flags) {
        _cleanup_free_ char *path = strf("%s/%s/%s", j->dir, id, name), *text = NULL;
        const char *s = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
                                                                    JSON_C_TO_STRING_NOSLASHESCAPE);

        if (!path || !s)
                return -ENOMEM;
        text = strf("%s\n", s);
        if (!text)
                return -ENOMEM;
        return write_file_atomic_full(path, text, strlen(text), 0600, (uid_t) -1, (gid_t) -1,
                                      flags);
}

int command_journal_read(CommandJournal *j, const char *id, const char *name, json_object **ret) {
        _cleanup_free_ char *path = strf("%s/%s/%s", j->dir, id, name), *text = NULL;
        size_t len;
        int k;

        if (!path)
                return -ENOMEM;
        k = read_full_file(path, DOC_MAX, &text, &len);
        if (k < 0)
                return k;
        return json_parse_strict(path, text, len, ret, NULL);
}

static usec_t parse_timestamp(const char *s) {
        struct tm tm = {};
        const char *end;

        if (!s)
                return 0;
        end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!end)
                return 0;
        return (usec_t) timegm(&tm) * USEC_PER_SEC;
}

int command_journal_prune(CommandJournal *j, const char *log_dir, unsigned keep_count,
                          unsigned keep_days) {
        _cleanup_json_ json_object *entries = NULL;
        usec_t cutoff = keep_days > 0 ? now_usec(CLOCK_REALTIME) - (usec_t) keep_days * 86400 * USEC_PER_SEC : 0;
        size_t finished = 0, n;
        int k, removed = 0;

        k = scan(j, &entries);
        if (k < 0)
                return k;
        json_object_array_sort(entries, by_seq);
        n = json_object_array_length(entries);
        for (size_t i = 0; i < n; i++)
                if (streq_ptr(json_get_string(json_object_array_get_idx(entries, i), "status"),
                              "finished"))
                        finished++;

        /* Oldest first: drop while there are more finished ones than we keep, or they are old. */
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(entries, i);
                const char *id = command_id(json_object_object_get(e, "command"));
                bool too_many = keep_count > 0 && finished > keep_count;
                bool too_old = cutoff > 0 &&
                               parse_timestamp(json_get_string(e, "finished_at")) < cutoff;
                _cleanup_free_ char *dir = NULL, *log = NULL;

                if (!streq_ptr(json_get_string(e, "status"), "finished") || !id)
                        continue;
                if (!too_many && !too_old)
                        continue;
                dir = command_journal_dir(j, id);
                log = log_dir ? strf("%s/%s.log", log_dir, id) : NULL;
                if (!dir)
                        return -ENOMEM;
                k = rm_rf(dir);
                if (k < 0)
                        return k;
                if (log && unlink(log) < 0 && errno != ENOENT)
                        return -errno;
                finished--;
                removed++;
        }
        return removed;
}
