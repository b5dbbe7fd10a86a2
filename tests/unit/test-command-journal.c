/* SPDX-License-Identifier: MIT */
#include <sys/stat.h>

#include "command-journal.h"
#include "command.h"
#include "fs-util.h"
#include "json-util.h"
#include "str-util.h"
#include "test-helpers.h"
#include "time-util.h"

static char *tmp;

static void setup(void) {
        tmp = test_tmpdir();
}

static void teardown(void) {
        test_rmdir(tmp);
        tmp = mfree(tmp);
}

static CommandJournal *journal_open(void) {
        CommandJournal *j = NULL;

        ck_assert_int_eq(command_journal_open(tmp, &j), 0);
        ck_assert_ptr_nonnull(j);
        return j;
}

static json_object *command(const char *id, const char *type) {
        _cleanup_free_ char *text = strf("{\"id\": \"%s\", \"type\": \"%s\"}", id, type);
        _cleanup_free_ char *error = NULL;
        json_object *c = NULL;

        ck_assert_ptr_nonnull(text);
        ck_assert_msg(command_parse("test", text, strlen(text), &c, &error) == 0, "%s",
                      strempty(error));
        return c;
}

static void add(CommandJournal *j, const char *id) {
        _cleanup_json_ json_object *c = command(id, "configure");

        ck_assert_int_eq(command_journal_add(j, c), 0);
}

static json_object *entry(CommandJournal *j, const char *id) {
        json_object *e = NULL;

        ck_assert_int_eq(command_journal_get(j, id, &e), 0);
        return e;
}

static void assert_list(CommandJournal *j, const char *status, const char *const *expected) {
        _cleanup_strv_free_ char **ids = NULL;
        size_t n = 0;

        ck_assert_int_eq(command_journal_list(j, status, &ids), 0);
        for (; expected[n]; n++) {
                ck_assert_ptr_nonnull(ids[n]);
                ck_assert_str_eq(ids[n], expected[n]);
        }
        ck_assert_ptr_null(ids[n]);
}

static void assert_mode(const char *path, mode_t mode) {
        struct stat st;

        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, mode);
}

START_TEST(test_add_and_get) {
        _cleanup_(command_journal_freep) CommandJournal *j = journal_open();
        _cleanup_json_ json_object *c = command("c-1", "setup"), *e = NULL;
        _cleanup_free_ char *dir = NULL, *file = NULL, *expected = NULL;
        const char *received;

        ck_assert(!command_journal_seen(j, "c-1"));
        ck_assert_int_eq(command_journal_add(j, c), 0);
        ck_assert(command_journal_seen(j, "c-1"));
        ck_assert(!command_journal_seen(j, "c-2"));

        dir = command_journal_dir(j, "c-1");
        expected = strf("%s/commands/c-1", tmp);
        ck_assert_str_eq(dir, expected);
        file = strf("%s/command.json", dir);
        /* Commands may carry secrets: root's only. */
        assert_mode(dir, 0700);
        assert_mode(file, 0600);

        e = entry(j, "c-1");
        ck_assert_str_eq(json_get_string(e, "status"), "queued");
        /* Counted from 1: 0 is an entry without one. */
        ck_assert_int_eq(json_object_get_int64(json_object_object_get(e, "seq")), 1);
        ck_assert(json_object_equal(json_object_object_get(e, "command"), c));
        received = json_get_string(e, "received_at");
        ck_assert_ptr_nonnull(received);
        ck_assert_uint_eq(strlen(received), strlen("2026-11-25T11:20:50.123Z"));
        ck_assert(endswith(received, "Z"));
        ck_assert_ptr_null(json_object_object_get(e, "started_at"));
        ck_assert_ptr_null(json_object_object_get(e, "finished_at"));
}
END_TEST

START_TEST(test_add_twice) {
        _cleanup_(command_journal_freep) CommandJournal *j = journal_open();
        _cleanup_json_ json_object *c = command("c-1", "setup"), *again = command("c-1", "deploy");
        _cleanup_json_ json_object *e = NULL;

        ck_assert_int_eq(command_journal_add(j, c), 0);
        ck_assert_int_eq(command_journal_add(j, again), -EEXIST);
        /* The first one stands. */
        e = entry(j, "c-1");
        ck_assert_str_eq(json_get_string(json_object_object_get(e, "command"), "type"), "setup");
}
END_TEST

START_TEST(test_bad_ids) {
        _cleanup_(command_journal_freep) CommandJournal *j = journal_open();
        _cleanup_json_ json_object *c = command("c-1", "setup"), *e = NULL;

        json_object_object_add(c, "id", json_object_new_string("../escape"));
        ck_assert_int_eq(command_journal_add(j, c), -EINVAL);
        json_object_object_del(c, "id");
        ck_assert_int_eq(command_journal_add(j, c), -EINVAL);
        ck_assert_int_eq(command_journal_get(j, "../commands", &e), -EINVAL);
        ck_assert_int_eq(command_journal_get(j, "missing", &e), -ENOENT);
        ck_assert_ptr_null(e);
}
END_TEST

START_TEST(test_status) {
        _cleanup_(command_journal_freep) CommandJournal *j = journal_open();
        _cleanup_json_ json_object *queued = NULL, *running = NULL, *finished = NULL;

        add(j, "c-1");
        queued = entry(j, "c-1");
        ck_assert_int_eq(command_journal_set_status(j, "c-1", "running"), 0);
        running = entry(j, "c-1");
        ck_assert_str_eq(json_get_string(running, "status"), "running");
        ck_assert_ptr_nonnull(json_get_string(running, "started_at"));
        ck_assert_ptr_null(json_object_object_get(running, "finished_at"));
        /* The rest of the entry stays as it was. */
        ck_assert_str_eq(json_get_string(running, "received_at"),
                         json_get_string(queued, "received_at"));
        ck_assert(json_object_equal(json_object_object_get(running, "command"),
                                    json_object_object_get(queued, "command")));

        ck_assert_int_eq(command_journal_set_status(j, "c-1", "finished"), 0);
        finished = entry(j, "c-1");
        ck_assert_str_eq(json_get_string(finished, "status"), "finished");
        ck_assert_str_eq(json_get_string(finished, "started_at"),
                         json_get_string(running, "started_at"));
        ck_assert_ptr_nonnull(json_get_string(finished, "finished_at"));

        ck_assert_int_eq(command_journal_set_status(j, "nope", "running"), -ENOENT);
}
END_TEST

/* Listed in the order received, not by name, and that order survives a restart. */
START_TEST(test_list_order) {
        _cleanup_(command_journal_freep) CommandJournal *j = journal_open();
        _cleanup_json_ json_object *e = NULL;

        add(j, "zz");
        add(j, "aa");
        add(j, "mm");
        ck_assert_int_eq(command_journal_set_status(j, "aa", "running"), 0);
        assert_list(j, NULL, (const char *const[]){ "zz", "aa", "mm", NULL });
        assert_list(j, "queued", (const char *const[]){ "zz", "mm", NULL });
        assert_list(j, "running", (const char *const[]){ "aa", NULL });
        assert_list(j, "finished", (const char *const[]){ NULL });

        j = command_journal_free(j);
        j = journal_open();
        add(j, "bb");
        assert_list(j, NULL, (const char *const[]){ "zz", "aa", "mm", "bb", NULL });
        e = entry(j, "bb");
        ck_assert_int_eq(json_object_get_int64(json_object_object_get(e, "seq")), 4);
}
END_TEST

/* A crash inside add leaves a directory without its entry: not a command. */
START_TEST(test_half_journalled) {
        _cleanup_(command_journal_freep) CommandJournal *j = NULL;
        _cleanup_free_ char *dir = strf("%s/commands/c-half", tmp);
        _cleanup_free_ char *junk = strf("%s/commands/not..valid!", tmp);
        _cleanup_free_ char *temp = strf("%s/commands/c-half/.#command.json.abcdef", tmp);

        j = journal_open();
        ck_assert_int_ge(mkdir_parents(dir, 0700), 0);
        test_write(temp, "{\"command\": {\"id\": \"c-half\"");
        ck_assert_int_ge(mkdir_parents(junk, 0700), 0);
        add(j, "c-1");

        ck_assert(!command_journal_seen(j, "c-half"));
        assert_list(j, NULL, (const char *const[]){ "c-1", NULL });
        /* It can still be journalled for real. */
        add(j, "c-half");
        assert_list(j, NULL, (const char *const[]){ "c-1", "c-half", NULL });
}
END_TEST

START_TEST(test_documents) {
        _cleanup_(command_journal_freep) CommandJournal *j = journal_open();
        _cleanup_json_ json_object *doc = json_tokener_parse("{\"status\": \"successful\", "
                                                             "\"n\": [1, 2]}");
        _cleanup_json_ json_object *back = NULL, *missing = NULL;
        _cleanup_free_ char *path = strf("%s/commands/c-1/result.json", tmp), *text = NULL;

        add(j, "c-1");
        ck_assert_int_eq(command_journal_read(j, "c-1", "result.json", &missing), -ENOENT);
        ck_assert_int_eq(command_journal_write(j, "c-1", "result.json", doc, WRITE_SYNC), 0);
        ck_assert_int_eq(command_journal_read(j, "c-1", "result.json", &back), 0);
        ck_assert(json_object_equal(doc, back));
        assert_mode(path, 0600);
        text = test_read(path);
        ck_assert(endswith(text, "}\n"));
}
END_TEST

static void set_finished_at(CommandJournal *j, const char *id, const char *when) {
        _cleanup_json_ json_object *e = entry(j, id);
        _cleanup_free_ char *path = strf("%s/commands/%s/command.json", tmp, id);
        const char *s;

        json_object_object_add(e, "finished_at", json_object_new_string(when));
        s = json_object_to_json_string(e);
        ck_assert_int_eq(write_file_atomic(path, s, strlen(s), 0600, (uid_t) -1, (gid_t) -1), 0);
}

START_TEST(test_prune_count) {
        _cleanup_(command_journal_freep) CommandJournal *j = journal_open();
        _cleanup_free_ char *log_dir = strf("%s/log", tmp);
        const char *ids[] = { "c-1", "c-2", "c-3", "c-4", "c-5" };

        for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
                _cleanup_free_ char *log = strf("%s/%s.log", log_dir, ids[i]);

                add(j, ids[i]);
                ck_assert_int_eq(command_journal_set_status(j, ids[i], "finished"), 0);
                test_write(log, "a log\n");
        }
        add(j, "c-running");
        ck_assert_int_eq(command_journal_set_status(j, "c-running", "running"), 0);
        add(j, "c-queued");

        ck_assert_int_eq(command_journal_prune(j, log_dir, 2, 0), 3);
        assert_list(j, NULL, (const char *const[]){ "c-4", "c-5", "c-running", "c-queued", NULL });
        for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
                _cleanup_free_ char *log = strf("%s/%s.log", log_dir, ids[i]);
                _cleanup_free_ char *dir = strf("%s/commands/%s", tmp, ids[i]);

                ck_assert_int_eq(access(log, F_OK) == 0, i >= 3);
                ck_assert_int_eq(access(dir, F_OK) == 0, i >= 3);
        }
        /* Nothing more to do. */
        ck_assert_int_eq(command_journal_prune(j, log_dir, 2, 0), 0);
}
END_TEST

START_TEST(test_prune_days) {
        _cleanup_(command_journal_freep) CommandJournal *j = journal_open();

        add(j, "c-old");
        add(j, "c-new");
        add(j, "c-old-running");
        ck_assert_int_eq(command_journal_set_status(j, "c-old", "finished"), 0);
        ck_assert_int_eq(command_journal_set_status(j, "c-new", "finished"), 0);
        set_finished_at(j, "c-old", "2000-01-01T00:00:00.000Z");
        set_finished_at(j, "c-old-running", "2000-01-01T00:00:00.000Z");

        /* A log dir that does not exist is fine. */
        ck_assert_int_eq(command_journal_prune(j, "/nonexistent/log", 0, 30), 1);
        assert_list(j, NULL, (const char *const[]){ "c-new", "c-old-running", NULL });
        /* No limits: nothing goes. */
        ck_assert_int_eq(command_journal_prune(j, NULL, 0, 0), 0);
}
END_TEST

START_TEST(test_timestamp) {
        _cleanup_free_ char *epoch = format_timestamp(0);
        _cleanup_free_ char *t = format_timestamp(1764069650123456ULL);
        _cleanup_free_ char *now = format_timestamp(now_usec(CLOCK_REALTIME));

        ck_assert_str_eq(epoch, "1970-01-01T00:00:00.000Z");
        ck_assert_str_eq(t, "2025-11-25T11:20:50.123Z");
        ck_assert_uint_eq(strlen(now), strlen(t));
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("command-journal");
        TCase *tc = tcase_create("command-journal");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_add_and_get);
        tcase_add_test(tc, test_add_twice);
        tcase_add_test(tc, test_bad_ids);
        tcase_add_test(tc, test_status);
        tcase_add_test(tc, test_list_order);
        tcase_add_test(tc, test_half_journalled);
        tcase_add_test(tc, test_documents);
        tcase_add_test(tc, test_prune_count);
        tcase_add_test(tc, test_prune_days);
        tcase_add_test(tc, test_timestamp);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
