/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <time.h>

#include "command.h"
#include "cp-local.h"
#include "fs-util.h"
#include "json-util.h"
#include "str-util.h"
#include "test-helpers.h"
#include "time-util.h"

#define SELF "i-1"
#define TYPES                                                                                      \
        "setup, configure, deploy, undeploy, rollback, start, stop, restart, shutdown, "           \
        "execute_recipes, update_custom_cookbooks, install_dependencies, update_dependencies"

/* What the backend handed to the agent. */
typedef struct Sink {
        char **received;  /* command ids, in delivery order */
        char **rejected;  /* "id|reason" */
        ControlPlane *cp; /* for ack_in_sink */
        bool ack_in_sink; /* ack as the agent does once it journalled the command */
} Sink;

typedef struct Spool {
        char *dir;   /* the temp dir */
        char *spool; /* <dir>/spool, created by start() */
        char *inbox;
        sd_event *event;
        Sink sink;
        ControlPlane *cp;
} Spool;

static void on_received(json_object *command, void *userdata) {
        Sink *s = userdata;

        ck_assert_int_eq(strv_extend(&s->received, command_id(command)), 0);
        if (s->ack_in_sink)
                ck_assert_int_eq(s->cp->ops->ack(s->cp, command_id(command), NULL), 0);
}

static void on_rejected(const char *id, const char *reason, void *userdata) {
        Sink *s = userdata;

        ck_assert_int_eq(strv_push(&s->rejected, strf("%s|%s", id, reason)), 0);
}

static void spool_open(Spool *s) {
        const ControlPlaneSink sink = {
                .command_received = on_received,
                .command_rejected = on_rejected,
                .userdata = &s->sink,
        };

        ck_assert_int_eq(cp_local_new(s->event, s->spool, NULL, SELF, "st", &sink, &s->cp), 0);
        s->sink.cp = s->cp;
}

static void spool_init(Spool *s) {
        *s = (Spool){};
        s->dir = test_tmpdir();
        s->spool = strf("%s/spool", s->dir);
        s->inbox = strf("%s/spool/inbox", s->dir);
        ck_assert_ptr_nonnull(s->inbox);
        ck_assert_int_ge(sd_event_new(&s->event), 0);
        spool_open(s);
}

static void spool_start(Spool *s) {
        _cleanup_free_ char *error = NULL;

        ck_assert_msg(s->cp->ops->start(s->cp, &error) == 0, "%s", strempty(error));
}

/* The backend gone, as in a crash: what it held in memory is lost, the spool stays. */
static void spool_close(Spool *s) {
        s->cp = control_plane_free(s->cp);
        strv_free(s->sink.received);
        strv_free(s->sink.rejected);
        s->sink = (Sink){};
}

static void spool_done(Spool *s) {
        spool_close(s);
        sd_event_unref(s->event);
        test_rmdir(s->dir);
        free(s->dir);
        free(s->spool);
        free(s->inbox);
}

/* Runs the loop until nothing more happens for a while, so a second delivery would be seen. */
static void settle(Spool *s) {
        while (sd_event_run(s->event, 100 * USEC_PER_MSEC) > 0)
                ;
}

static void run_until(Spool *s, size_t n_received, size_t n_rejected) {
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + 30 * USEC_PER_SEC;

        while (strv_length(s->sink.received) < n_received ||
               strv_length(s->sink.rejected) < n_rejected) {
                ck_assert_msg(now_usec(CLOCK_MONOTONIC) < deadline, "timed out with %zu received, %zu rejected",
                              strv_length(s->sink.received), strv_length(s->sink.rejected));
                ck_assert_int_ge(sd_event_run(s->event, 100 * USEC_PER_MSEC), 0);
        }
        settle(s);
        ck_assert_uint_eq(strv_length(s->sink.received), n_received);
        ck_assert_uint_eq(strv_length(s->sink.rejected), n_rejected);
}

static char *inbox_path(Spool *s, const char *name) {
        char *p = strf("%s/%s", s->inbox, name);

        ck_assert_ptr_nonnull(p);
        return p;
}

static char *spool_path(Spool *s, const char *name) {
        char *p = strf("%s/%s", s->spool, name);

        ck_assert_ptr_nonnull(p);
        return p;
}

static char *command_text(const char *id) {
        char *t = strf("{\"id\": \"%s\", \"type\": \"configure\"}", id);

        ck_assert_ptr_nonnull(t);
        return t;
}

/* Written in place: open, write, close. */
static void drop_plain(Spool *s, const char *name, const char *content) {
        _cleanup_free_ char *path = inbox_path(s, name);

        test_write(path, content);
}

/* Written to a dot file, then renamed in: the way strata-agent-cli drops commands. */
static void drop_renamed(Spool *s, const char *name, const char *content) {
        _cleanup_free_ char *temp = NULL, *path = inbox_path(s, name);

        temp = strf("%s/.%s.tmp", s->inbox, name);
        test_write(temp, content);
        ck_assert_int_eq(rename(temp, path), 0);
}

static bool exists(const char *path) {
        struct stat st;

        return lstat(path, &st) == 0;
}

static void assert_received(Spool *s, const char *const *ids) {
        size_t n = 0;

        for (; ids[n]; n++) {
                ck_assert_ptr_nonnull(s->sink.received);
                ck_assert_ptr_nonnull(s->sink.received[n]);
                ck_assert_str_eq(s->sink.received[n], ids[n]);
        }
        ck_assert_uint_eq(strv_length(s->sink.received), n);
}

static void assert_mode(const char *path, mode_t type, mode_t mode) {
        struct stat st;

        ck_assert_msg(lstat(path, &st) == 0, "%s: %s", path, strerror(errno));
        ck_assert_uint_eq(st.st_mode & S_IFMT, type);
        ck_assert_uint_eq(st.st_mode & 07777, mode);
}

static void assert_file(const char *path, const char *content) {
        _cleanup_free_ char *got = test_read(path);

        ck_assert_msg(got, "%s is missing", path);
        ck_assert_str_eq(got, content);
}

START_TEST(test_start) {
        static const char *const dirs[] = {"", "/inbox", "/rejected", "/results", "/logs"};
        _cleanup_free_ char *error = NULL;
        Spool s;

        spool_init(&s);
        ck_assert_str_eq(s.cp->ops->name, "local");
        ck_assert(!exists(s.spool));

        spool_start(&s);
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                _cleanup_free_ char *d = strf("%s%s", s.spool, dirs[i]);

                assert_mode(d, S_IFDIR, 0755);
        }

        ck_assert_int_eq(s.cp->ops->start(s.cp, &error), -EBUSY);
        ck_assert_str_eq(error, "the local control plane is already started");
        spool_done(&s);
}
END_TEST

START_TEST(test_first_scan) {
        _cleanup_free_ char *c1 = command_text("c1"), *c2 = command_text("c2"),
                            *c3 = command_text("c3"), *d = NULL, *fifo = NULL, *link = NULL;
        Spool s;

        spool_init(&s);
        drop_plain(&s, "0003.json", c3);
        drop_plain(&s, "0001.json", c1);
        drop_plain(&s, "0002.json", c2);
        drop_plain(&s, ".0000.json", c1);
        drop_plain(&s, "notes.txt", "not a command\n");
        d = inbox_path(&s, "d.json");
        ck_assert_int_eq(mkdir(d, 0755), 0);
        fifo = inbox_path(&s, "fifo.json");
        ck_assert_int_eq(mkfifo(fifo, 0600), 0);
        link = inbox_path(&s, "link.json");
        ck_assert_int_eq(symlink("/etc/hostname", link), 0);

        /* Nothing is handed over from inside start(): only from the loop. */
        spool_start(&s);
        ck_assert_ptr_null(s.sink.received);
        ck_assert_ptr_null(s.sink.rejected);

        /* A FIFO is not opened for a blocking read: the loop would hang here. */
        run_until(&s, 3, 4);
        assert_received(&s, (const char *const[]){"c1", "c2", "c3", NULL});
        ck_assert_str_eq(s.sink.rejected[0], "d|inbox/d.json: not a regular file");
        ck_assert_str_eq(s.sink.rejected[1], "fifo|inbox/fifo.json: not a regular file");
        ck_assert_str_eq(s.sink.rejected[2], "link|inbox/link.json: not a regular file");
        ck_assert_str_eq(s.sink.rejected[3], "notes.txt|inbox/notes.txt: not a command file "
                                             "(expected a name ending in .json)");

        /* Delivered commands stay until acked; rejected documents moved, dot files ignored. */
        for (unsigned i = 1; i <= 3; i++) {
                _cleanup_free_ char *name = strf("0%03u.json", i), *p = inbox_path(&s, name);

                ck_assert(exists(p));
        }
        {
                _cleanup_free_ char *hidden = inbox_path(&s, ".0000.json"),
                                    *rd = spool_path(&s, "rejected/d.json"),
                                    *rf = spool_path(&s, "rejected/fifo.json"),
                                    *rl = spool_path(&s, "rejected/link.json"),
                                    *rn = spool_path(&s, "rejected/notes.txt");

                ck_assert(exists(hidden));
                ck_assert(!exists(d) && !exists(fifo) && !exists(link));
                assert_mode(rd, S_IFDIR, 0755);
                assert_mode(rf, S_IFIFO, 0600);
                assert_mode(rl, S_IFLNK, 0777);
                assert_file(rn, "not a command\n");
        }
        spool_done(&s);
}
END_TEST

START_TEST(test_burst_order) {
        _cleanup_free_ char *c1 = command_text("c1"), *c2 = command_text("c2"),
                            *c3 = command_text("c3"), *c4 = command_text("c4"),
                            *c5 = command_text("c5"), *c6 = command_text("c6");
        Spool s;

        spool_init(&s);
        s.sink.ack_in_sink = true;
        spool_start(&s);
        settle(&s);

        /* Events arrive in the order the files were completed; delivery is in name order. */
        drop_renamed(&s, "0005.json", c5);
        drop_renamed(&s, "0004.json", c4);
        drop_plain(&s, "0003.json", c3);
        drop_renamed(&s, "0002.json", c2);
        drop_plain(&s, "0001.json", c1);
        run_until(&s, 5, 0);
        assert_received(&s, (const char *const[]){"c1", "c2", "c3", "c4", "c5", NULL});

        /* Later files one at a time. */
        drop_renamed(&s, "0006.json", c6);
        run_until(&s, 6, 0);
        ck_assert_str_eq(s.sink.received[5], "c6");
        spool_done(&s);
}
END_TEST

static void assert_rejected_file(Spool *s, const char *name, const char *content) {
        _cleanup_free_ char *in = inbox_path(s, name), *rejected = NULL;

        rejected = strf("%s/rejected/%s", s->spool, name);
        ck_assert(!exists(in));
        assert_file(rejected, content);
}

START_TEST(test_rejected) {
        _cleanup_free_ char *big = malloc(COMMAND_SIZE_MAX + 2), *big_rejected = NULL;
        const char *reboot = "{\"id\": \"r1\", \"type\": \"reboot\"}";
        const char *bad_id = "{\"id\": \"../x\", \"type\": \"setup\"}";
        Spool s;

        ck_assert_ptr_nonnull(big);
        memset(big, ' ', COMMAND_SIZE_MAX + 1);
        big[COMMAND_SIZE_MAX + 1] = 0;
        memcpy(big, "{}", 2);

        spool_init(&s);
        spool_start(&s);
        settle(&s);

        drop_renamed(&s, "1-reboot.json", reboot);
        drop_renamed(&s, "2 bad name!.json", "{");
        drop_renamed(&s, "3-big.json", big);
        drop_renamed(&s, "4-badid.json", bad_id);
        drop_renamed(&s, "5-caf\xc3\xa9.json", "[]");
        run_until(&s, 0, 5);

        /* The document's id when it has a valid one, else the file name made into an id. */
        ck_assert_str_eq(s.sink.rejected[0],
                         "r1|inbox/1-reboot.json: field 'type': 'reboot' is not a command "
                         "(expected one of: " TYPES ")");
        ck_assert_str_eq(s.sink.rejected[1],
                         "2_bad_name_|inbox/2 bad name!.json: byte 1: unexpected end of data, "
                         "expected a property name in double quotes");
        ck_assert_str_eq(s.sink.rejected[2], "3-big|inbox/3-big.json: larger than 1 MiB");
        ck_assert_str_eq(s.sink.rejected[3],
                         "4-badid|inbox/4-badid.json: field 'id': '../x' is not a valid id "
                         "(expected 1 to 128 letters, digits, '.', '_' or '-', not starting with "
                         "'.')");
        ck_assert_str_eq(s.sink.rejected[4],
                         "5-caf__|inbox/5-caf\xc3\xa9.json: expected a JSON object, not an array");

        assert_rejected_file(&s, "1-reboot.json", reboot);
        assert_rejected_file(&s, "2 bad name!.json", "{");
        assert_rejected_file(&s, "3-big.json", big);
        assert_rejected_file(&s, "4-badid.json", bad_id);
        assert_rejected_file(&s, "5-caf\xc3\xa9.json", "[]");
        big_rejected = spool_path(&s, "rejected/3-big.json");
        assert_mode(big_rejected, S_IFREG, 0644);
        spool_done(&s);
}
END_TEST

START_TEST(test_ack) {
        _cleanup_free_ char *a1 = command_text("a1"), *a2 = command_text("a2"),
                            *dup = command_text("dup"), *p1 = NULL, *p2 = NULL, *p3 = NULL,
                            *p4 = NULL, *error = NULL, *expected = NULL;
        Spool s;

        spool_init(&s);
        spool_start(&s);
        drop_renamed(&s, "0001.json", a1);
        run_until(&s, 1, 0);

        /* In the inbox until the agent says it journalled the command. */
        p1 = inbox_path(&s, "0001.json");
        ck_assert(exists(p1));
        ck_assert_int_eq(s.cp->ops->ack(s.cp, "a1", NULL), 0);
        ck_assert(!exists(p1));

        ck_assert_int_eq(s.cp->ops->ack(s.cp, "a1", &error), -ENOENT);
        expected = strf("no command 'a1' was delivered from %s", s.inbox);
        ck_assert_str_eq(error, expected);

        /* The agent acks from inside the sink. */
        s.sink.ack_in_sink = true;
        drop_renamed(&s, "0002.json", a2);
        run_until(&s, 2, 0);
        p2 = inbox_path(&s, "0002.json");
        ck_assert(!exists(p2));
        s.sink.ack_in_sink = false;

        /* Two files with one id: both delivered, one ack removes both. */
        drop_renamed(&s, "0003.json", dup);
        drop_renamed(&s, "0004.json", dup);
        run_until(&s, 4, 0);
        assert_received(&s, (const char *const[]){"a1", "a2", "dup", "dup", NULL});
        p3 = inbox_path(&s, "0003.json");
        p4 = inbox_path(&s, "0004.json");
        ck_assert(exists(p3) && exists(p4));
        ck_assert_int_eq(s.cp->ops->ack(s.cp, "dup", NULL), 0);
        ck_assert(!exists(p3) && !exists(p4));
        spool_done(&s);
}
END_TEST

START_TEST(test_redelivery) {
        _cleanup_free_ char *a1 = command_text("a1"), *a2 = command_text("a2"),
                            *a3 = command_text("a3"), *p1 = NULL;
        usec_t first;
        Spool s;

        spool_init(&s);
        spool_start(&s);
        drop_renamed(&s, "0001.json", a1);
        run_until(&s, 1, 0);
        first = now_usec(CLOCK_MONOTONIC);

        /* Not acked: a later scan, even one woken by this very file, does not hand it over
         * again. */
        drop_plain(&s, "0001.json", a1);
        drop_renamed(&s, "0002.json", a2);
        run_until(&s, 2, 0);
        drop_renamed(&s, "0003.json", a3);
        run_until(&s, 3, 0);
        assert_received(&s, (const char *const[]){"a1", "a2", "a3", NULL});
        ck_assert_int_eq(s.cp->ops->ack(s.cp, "a2", NULL), 0);
        ck_assert_int_eq(s.cp->ops->ack(s.cp, "a3", NULL), 0);

        /* The agent could not journal a1 (disk full): 10 s later it is handed over again, and
         * only a1, the acked ones being gone. */
        run_until(&s, 4, 0);
        ck_assert_str_eq(s.sink.received[3], "a1");
        ck_assert_uint_ge(now_usec(CLOCK_MONOTONIC) - first, 9 * USEC_PER_SEC);
        p1 = inbox_path(&s, "0001.json");
        ck_assert(exists(p1));

        /* A crash before the agent journalled a1: a new backend hands it over again. */
        spool_close(&s);
        spool_open(&s);
        spool_start(&s);
        run_until(&s, 1, 0);
        assert_received(&s, (const char *const[]){"a1", NULL});
        ck_assert(exists(p1));

        /* Journalled at last: acked, the file goes. */
        ck_assert_int_eq(s.cp->ops->ack(s.cp, "a1", NULL), 0);
        ck_assert(!exists(p1));
        spool_done(&s);
}
END_TEST

/* A file being written in place is not read before it is closed, even when another file wakes
 * the backend and the directory is read. */
START_TEST(test_incomplete_file) {
        _cleanup_free_ char *a2 = command_text("a2"), *p1 = NULL;
        const char *part1 = "{\"id\": \"a1\", ", *part2 = "\"type\": \"setup\"}";
        _cleanup_close_ int fd = -1;
        Spool s;

        spool_init(&s);
        s.sink.ack_in_sink = true;
        spool_start(&s);
        settle(&s);

        p1 = inbox_path(&s, "0001.json");
        fd = open(p1, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, part1, strlen(part1)), (ssize_t)strlen(part1));

        drop_renamed(&s, "0002.json", a2);
        run_until(&s, 1, 0);
        assert_received(&s, (const char *const[]){"a2", NULL});
        ck_assert(exists(p1));

        ck_assert_int_eq(write(fd, part2, strlen(part2)), (ssize_t)strlen(part2));
        ck_assert_int_eq(close(TAKE_FD(fd)), 0);
        run_until(&s, 2, 0);
        assert_received(&s, (const char *const[]){"a2", "a1", NULL});
        spool_done(&s);
}
END_TEST

/* An operator may clear the queue by removing or moving the inbox: the backend listens on the
 * new one. */
START_TEST(test_inbox_replaced) {
        _cleanup_free_ char *a1 = command_text("a1"), *a2 = command_text("a2"),
                            *a3 = command_text("a3"), *old = NULL, *old_file = NULL;
        usec_t deadline;
        Spool s;

        spool_init(&s);
        s.sink.ack_in_sink = true;
        spool_start(&s);
        settle(&s);

        ck_assert_int_eq(rm_rf(s.inbox), 0);
        deadline = now_usec(CLOCK_MONOTONIC) + 10 * USEC_PER_SEC;
        while (!exists(s.inbox)) {
                ck_assert(now_usec(CLOCK_MONOTONIC) < deadline);
                ck_assert_int_ge(sd_event_run(s.event, 100 * USEC_PER_MSEC), 0);
        }
        assert_mode(s.inbox, S_IFDIR, 0755);
        drop_renamed(&s, "0001.json", a1);
        run_until(&s, 1, 0);

        old = spool_path(&s, "inbox.old");
        ck_assert_int_eq(rename(s.inbox, old), 0);
        deadline = now_usec(CLOCK_MONOTONIC) + 10 * USEC_PER_SEC;
        while (!exists(s.inbox)) {
                ck_assert(now_usec(CLOCK_MONOTONIC) < deadline);
                ck_assert_int_ge(sd_event_run(s.event, 100 * USEC_PER_MSEC), 0);
        }
        settle(&s);
        old_file = strf("%s/0002.json", old);
        test_write(old_file, a2);
        drop_renamed(&s, "0003.json", a3);
        run_until(&s, 2, 0);
        assert_received(&s, (const char *const[]){"a1", "a3", NULL});
        spool_done(&s);
}
END_TEST

START_TEST(test_report_result) {
        _cleanup_free_ char *path = NULL, *results = NULL, *error = NULL, *error2 = NULL;
        _cleanup_json_ json_object *r1 = NULL, *r2 = NULL, *bad = NULL;
        const char *t1 = "{\"id\": \"a1\", \"status\": \"successful\", \"log_tail\": \"a/b\"}";
        const char *t2 = "{\"id\": \"a1\", \"status\": \"failed\", \"resources\": [1, 2]}";
        Spool s;

        ck_assert_int_eq(json_parse_strict(NULL, t1, strlen(t1), &r1, NULL), 0);
        ck_assert_int_eq(json_parse_strict(NULL, t2, strlen(t2), &r2, NULL), 0);

        /* Works before start(), and creates what it needs. */
        spool_init(&s);
        ck_assert_int_eq(s.cp->ops->report_result(s.cp, r1, NULL), 1);
        path = spool_path(&s, "results/a1.json");
        assert_file(path, "{\n  \"id\":\"a1\",\n  \"status\":\"successful\",\n"
                          "  \"log_tail\":\"a/b\"\n}\n");
        assert_mode(path, S_IFREG, 0644);
        results = spool_path(&s, "results");
        assert_mode(results, S_IFDIR, 0755);

        /* Sent again: replaced whole. */
        ck_assert_int_eq(s.cp->ops->report_result(s.cp, r2, NULL), 1);
        assert_file(path, "{\n  \"id\":\"a1\",\n  \"status\":\"failed\",\n  \"resources\":[\n"
                          "    1,\n    2\n  ]\n}\n");
        assert_mode(path, S_IFREG, 0644);

        /* The id becomes a file name. */
        bad = json_object_new_object();
        ck_assert_int_eq(s.cp->ops->report_result(s.cp, bad, &error), -EINVAL);
        ck_assert_str_eq(error, "result: field 'id': expected a command id");
        json_object_object_add(bad, "id", json_object_new_string("../a1"));
        ck_assert_int_eq(s.cp->ops->report_result(s.cp, bad, &error2), -EINVAL);
        ck_assert_str_eq(error2, "result: field 'id': expected a command id");
        spool_done(&s);
}
END_TEST

START_TEST(test_upload_log) {
        _cleanup_free_ char *path = NULL, *big = malloc(2 * 1024 * 1024), *got = NULL,
                            *error = NULL;
        size_t len;
        Spool s;

        spool_init(&s);
        ck_assert_int_eq(s.cp->ops->upload_log(s.cp, "a1", "line 1\nline 2\n", 14, NULL), 0);
        path = spool_path(&s, "logs/a1.log");
        assert_file(path, "line 1\nline 2\n");
        assert_mode(path, S_IFREG, 0640);

        /* Past 1 MiB, the end is kept. */
        ck_assert_ptr_nonnull(big);
        for (size_t i = 0; i < 2 * 1024 * 1024; i++)
                big[i] = (char)('a' + i % 26);
        ck_assert_int_eq(s.cp->ops->upload_log(s.cp, "a1", big, 2 * 1024 * 1024, NULL), 0);
        ck_assert_int_eq(read_full_file(path, 4 * 1024 * 1024, &got, &len), 0);
        ck_assert_uint_eq(len, 1024 * 1024);
        ck_assert_int_eq(memcmp(got, big + 1024 * 1024, 1024 * 1024), 0);

        ck_assert_int_eq(s.cp->ops->upload_log(s.cp, ".x", "x", 1, &error), -EINVAL);
        ck_assert_str_eq(error, "log: expected a command id");
        spool_done(&s);
}
END_TEST

START_TEST(test_heartbeat) {
        _cleanup_free_ char *path = NULL;
        _cleanup_json_ json_object *record = NULL;
        const char *text = "{\"instance_id\": \"i-1\", \"status\": \"idle\", \"load\": [0.5, 1]}";
        Spool s;

        ck_assert_int_eq(json_parse_strict(NULL, text, strlen(text), &record, NULL), 0);
        spool_init(&s);
        ck_assert_int_eq(s.cp->ops->heartbeat(s.cp, record, NULL), 0);
        path = spool_path(&s, "heartbeat.json");
        assert_file(path, "{\n  \"instance_id\":\"i-1\",\n  \"status\":\"idle\",\n"
                          "  \"load\":[\n    0.5,\n    1\n  ]\n}\n");
        assert_mode(path, S_IFREG, 0644);
        spool_done(&s);
}
END_TEST

START_TEST(test_stack_default) {
        _cleanup_json_ json_object *stack = NULL, *expected = NULL;
        _cleanup_free_ char *text = NULL;
        char host[HOST_NAME_MAX + 1] = {};
        Spool s;

        ck_assert_int_eq(gethostname(host, sizeof(host) - 1), 0);
        text = strf("{\"stack\": {\"id\": \"st\", \"name\": \"st\", \"custom_json\": {}}, "
                    "\"layers\": [], \"apps\": [], \"instances\": [{\"id\": \"" SELF "\", "
                    "\"hostname\": \"%s\", \"layer_ids\": [], \"status\": \"online\"}], "
                    "\"users\": []}",
                    host);
        ck_assert_int_eq(json_parse_strict(NULL, text, strlen(text), &expected, NULL), 0);

        spool_init(&s);
        ck_assert_int_eq(s.cp->ops->stack(s.cp, &stack, NULL), 1);
        ck_assert_msg(json_object_equal(stack, expected), "%s", json_object_to_json_string(stack));
        spool_done(&s);
}
END_TEST

START_TEST(test_stack_file) {
        const ControlPlaneSink sink = {
                .command_received = on_received,
                .command_rejected = on_rejected,
        };
        _cleanup_(control_plane_freep) ControlPlane *cp = NULL;
        _cleanup_json_ json_object *s1 = NULL, *s2 = NULL, *s3 = NULL;
        _cleanup_free_ char *dir = test_tmpdir(), *file = NULL, *error = NULL, *expected = NULL;
        sd_event *e = NULL;

        ck_assert_int_ge(sd_event_new(&e), 0);
        file = strf("%s/stack.yaml", dir);
        ck_assert_int_eq(cp_local_new(e, dir, file, SELF, "st", &sink, &cp), 0);

        test_write(file, "layers: [{id: web}]\ninstances: [{id: " SELF ", layer_ids: [web]}]\n");
        ck_assert_int_eq(cp->ops->stack(cp, &s1, NULL), 1);
        ck_assert_int_eq(json_object_array_length(json_object_object_get(s1, "layers")), 1);
        ck_assert_str_eq(json_get_string(json_get_path(s1, "stack"), "id"), "st");

        /* Read again at every call. */
        test_write(file, "layers: [{id: web}, {id: db}]\n");
        ck_assert_int_eq(cp->ops->stack(cp, &s2, NULL), 1);
        ck_assert_int_eq(json_object_array_length(json_object_object_get(s2, "layers")), 2);

        test_write(file, "layers: [{id: web, recipes: {setup: nginx}}]\n");
        ck_assert_int_eq(cp->ops->stack(cp, &s3, &error), -EINVAL);
        ck_assert_ptr_null(s3);
        expected = strf("%s: layers[0].recipes.setup: expected a list of recipe names", file);
        ck_assert_str_eq(error, expected);

        cp = control_plane_free(cp);
        sd_event_unref(e);
        test_rmdir(dir);
}
END_TEST

START_TEST(test_new_arguments) {
        const ControlPlaneSink sink = {
                .command_received = on_received,
                .command_rejected = on_rejected,
        };
        const ControlPlaneSink half = {
                .command_received = on_received,
        };
        ControlPlane *cp = (ControlPlane *)1;
        sd_event *e = NULL;

        ck_assert_int_ge(sd_event_new(&e), 0);
        ck_assert_int_eq(cp_local_new(NULL, "/x", NULL, SELF, "st", &sink, &cp), -EINVAL);
        ck_assert_int_eq(cp_local_new(e, NULL, NULL, SELF, "st", &sink, &cp), -EINVAL);
        ck_assert_int_eq(cp_local_new(e, "/x", NULL, NULL, "st", &sink, &cp), -EINVAL);
        ck_assert_int_eq(cp_local_new(e, "/x", NULL, SELF, NULL, &sink, &cp), -EINVAL);
        ck_assert_int_eq(cp_local_new(e, "/x", NULL, SELF, "st", NULL, &cp), -EINVAL);
        ck_assert_int_eq(cp_local_new(e, "/x", NULL, SELF, "st", &half, &cp), -EINVAL);
        ck_assert_ptr_eq(cp, (ControlPlane *)1);
        ck_assert_ptr_null(control_plane_free(NULL));
        sd_event_unref(e);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("cp-local");
        TCase *tc = tcase_create("cp-local");

        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_start);
        tcase_add_test(tc, test_first_scan);
        tcase_add_test(tc, test_burst_order);
        tcase_add_test(tc, test_rejected);
        tcase_add_test(tc, test_ack);
        tcase_add_test(tc, test_redelivery);
        tcase_add_test(tc, test_incomplete_file);
        tcase_add_test(tc, test_inbox_replaced);
        tcase_add_test(tc, test_report_result);
        tcase_add_test(tc, test_upload_log);
        tcase_add_test(tc, test_heartbeat);
        tcase_add_test(tc, test_stack_default);
        tcase_add_test(tc, test_stack_file);
        tcase_add_test(tc, test_new_arguments);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
