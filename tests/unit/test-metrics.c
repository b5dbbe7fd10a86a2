/* SPDX-License-Identifier: MIT */
#include <sys/statvfs.h>
#include <time.h>

#include "fs-util.h"
#include "metrics.h"
#include "str-util.h"
#include "test-helpers.h"
#include "time-util.h"

/* A fake proc tree holding exactly the files metrics.h lists. */
typedef struct Fake {
        char *dir;
        char *proc;
} Fake;

#define BOOT_ID "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"

/* A second line per CPU and an intr line, as the real file has: only the first line counts. */
static const char *stat_text(uint64_t user, uint64_t nice, uint64_t system, uint64_t idle,
                             uint64_t iowait, uint64_t irq, uint64_t softirq, uint64_t steal,
                             uint64_t guest) {
        static char buf[256];

        snprintf(buf, sizeof(buf),
                 "cpu  %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
                 " %" PRIu64 " %" PRIu64 " %" PRIu64 " 0\n"
                 "cpu0 1 2 3 4 5 6 7 8 9 10\n"
                 "intr 12345 0 9 0\n",
                 user, nice, system, idle, iowait, irq, softirq, steal, guest);
        return buf;
}

static const char *meminfo_text(uint64_t total_kb, uint64_t available_kb) {
        static char buf[512];

        snprintf(buf, sizeof(buf),
                 "MemTotal:       %" PRIu64 " kB\n"
                 "MemFree:          100000 kB\n"
                 "MemAvailable:   %" PRIu64 " kB\n"
                 "Buffers:           50000 kB\n"
                 "Cached:           800000 kB\n"
                 "SwapCached:         1234 kB\n"
                 "SwapTotal:       2000000 kB\n"
                 "SwapFree:        1500000 kB\n"
                 "SReclaimable:     100000 kB\n"
                 "HugePages_Total:       0\n",
                 total_kb, available_kb);
        return buf;
}

static void fake_write(const Fake *f, const char *name, const char *content) {
        _cleanup_free_ char *path = strf("%s/%s", f->proc, name);

        ck_assert_ptr_nonnull(path);
        test_write(path, content);
}

static void fake_init(Fake *f) {
        f->dir = test_tmpdir();
        f->proc = strf("%s/proc", f->dir);
        ck_assert_ptr_nonnull(f->proc);

        fake_write(f, "stat", stat_text(1000, 100, 500, 8000, 200, 50, 50, 100, 7));
        fake_write(f, "meminfo", meminfo_text(16000000, 12000000));
        fake_write(f, "loadavg", "0.52 0.58 0.59 3/345 12345\n");
        fake_write(f, "uptime", "1234.99 2000.50\n");
        fake_write(f, "sys/kernel/random/boot_id", BOOT_ID "\n");
}

static void fake_done(Fake *f) {
        test_rmdir(f->dir);
        free(f->dir);
        free(f->proc);
}

static Metrics *fake_metrics(const Fake *f) {
        Metrics *m = NULL;

        ck_assert_int_eq(metrics_new(f->proc, f->dir, &m), 0);
        return m;
}

static void sample_ok(Metrics *m, usec_t now) {
        _cleanup_free_ char *error = NULL;
        int r;

        r = metrics_sample(m, now, &error);
        ck_assert_msg(r == 0, "metrics_sample: %s", strempty(error));
}

static json_object *to_json(Metrics *m) {
        json_object *o = NULL;

        ck_assert_int_eq(metrics_to_json(m, &o), 0);
        ck_assert_ptr_nonnull(o);
        return o;
}

static const char *member(json_object *o, const char *key) {
        json_object *v;

        ck_assert_msg(json_object_object_get_ex(o, key, &v), "no \"%s\"", key);
        return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
}

static int64_t member_int(json_object *o, const char *key) {
        json_object *v;

        ck_assert_msg(json_object_object_get_ex(o, key, &v), "no \"%s\"", key);
        ck_assert(json_object_is_type(v, json_type_int));
        return json_object_get_int64(v);
}

static double member_double(json_object *o, const char *key) {
        json_object *v;

        ck_assert_msg(json_object_object_get_ex(o, key, &v), "no \"%s\"", key);
        ck_assert(json_object_is_type(v, json_type_double));
        return json_object_get_double(v);
}

START_TEST(test_cpu_from_two_snapshots) {
        _cleanup_(fake_done) Fake f = {};
        _cleanup_(metrics_freep) Metrics *m = NULL;
        _cleanup_json_ json_object *o = NULL;
        json_object *cpu;

        fake_init(&f);
        m = fake_metrics(&f);
        sample_ok(m, 100 * USEC_PER_SEC);

        /* +1000 ticks: user 100 + nice 50, system 60 + irq 20 + softirq 20, iowait 25, steal 25,
         * idle 700. Guest (+500) is inside user already and must not count twice. */
        fake_write(&f, "stat", stat_text(1100, 150, 560, 8700, 225, 70, 70, 125, 507));
        sample_ok(m, 110 * USEC_PER_SEC);

        o = to_json(m);
        ck_assert_str_eq(member(o, "cpu"), "{\"user\":15.00,\"system\":10.00,\"iowait\":2.50,"
                                           "\"steal\":2.50,\"idle\":70.00}");
        ck_assert(json_object_object_get_ex(o, "cpu", &cpu));
        ck_assert_double_eq(member_double(cpu, "iowait"), 2.5);
        ck_assert_int_eq(member_int(o, "samples"), 2);
}
END_TEST

START_TEST(test_cpu_rounding) {
        _cleanup_(fake_done) Fake f = {};
        _cleanup_(metrics_freep) Metrics *m = NULL;
        _cleanup_json_ json_object *o = NULL;

        fake_init(&f);
        m = fake_metrics(&f);
        sample_ok(m, 0);
        /* 1 tick of user, 2 of idle: 33.333… and 66.666… */
        fake_write(&f, "stat", stat_text(1001, 100, 500, 8002, 200, 50, 50, 100, 7));
        sample_ok(m, 10 * USEC_PER_SEC);

        o = to_json(m);
        ck_assert_str_eq(member(o, "cpu"), "{\"user\":33.33,\"system\":0.00,\"iowait\":0.00,"
                                           "\"steal\":0.00,\"idle\":66.67}");
}
END_TEST

START_TEST(test_cpu_counter_stepping_back) {
        _cleanup_(fake_done) Fake f = {};
        _cleanup_(metrics_freep) Metrics *m = NULL;
        _cleanup_json_ json_object *o = NULL;

        fake_init(&f);
        m = fake_metrics(&f);
        sample_ok(m, 0);
        /* iowait drops by 50 (proc(5) says it can): counted as 0, not as a huge number. */
        fake_write(&f, "stat", stat_text(1100, 100, 500, 8300, 150, 50, 50, 100, 7));
        sample_ok(m, 10 * USEC_PER_SEC);

        o = to_json(m);
        ck_assert_str_eq(member(o, "cpu"), "{\"user\":25.00,\"system\":0.00,\"iowait\":0.00,"
                                           "\"steal\":0.00,\"idle\":75.00}");
}
END_TEST

START_TEST(test_cpu_null) {
        _cleanup_(fake_done) Fake f = {};
        _cleanup_(metrics_freep) Metrics *m = NULL;
        _cleanup_json_ json_object *one = NULL, *still = NULL;
        json_object *cpu = (json_object *)1;

        fake_init(&f);
        m = fake_metrics(&f);
        ck_assert_int_eq(metrics_to_json(m, &one), -ENODATA);
        ck_assert_ptr_null(one);

        sample_ok(m, 5 * USEC_PER_SEC);
        one = to_json(m);
        ck_assert(json_object_object_get_ex(one, "cpu", &cpu));
        ck_assert_ptr_null(cpu);
        ck_assert_int_eq(member_int(one, "samples"), 1);

        /* Two samples but not one tick between them: nothing to divide by. */
        sample_ok(m, 6 * USEC_PER_SEC);
        still = to_json(m);
        ck_assert_str_eq(member(still, "cpu"), "null");
        ck_assert_int_eq(member_int(still, "samples"), 2);
}
END_TEST

START_TEST(test_memory) {
        _cleanup_(fake_done) Fake f = {};
        _cleanup_(metrics_freep) Metrics *m = NULL;
        _cleanup_json_ json_object *one = NULL, *two = NULL;

        fake_init(&f);
        m = fake_metrics(&f);
        sample_ok(m, 0);

        one = to_json(m);
        /* used = (16000000 - 12000000) kB, cached = Cached + SReclaimable = 900000 kB (not
         * SwapCached, not Buffers), swap_used = (2000000 - 1500000) kB. */
        ck_assert_str_eq(member(one, "memory"),
                         "{\"total\":16384000000,\"used\":4096000000,\"cached\":921600000,"
                         "\"swap_used\":512000000}");

        /* The average of used 4000000 kB and 5000001 kB, rounded to the byte. */
        fake_write(&f, "meminfo", meminfo_text(16000000, 10999999));
        sample_ok(m, 10 * USEC_PER_SEC);
        two = to_json(m);
        ck_assert_str_eq(member(two, "memory"),
                         "{\"total\":16384000000,\"used\":4608000512,\"cached\":921600000,"
                         "\"swap_used\":512000000}");
}
END_TEST

START_TEST(test_load_processes_uptime) {
        _cleanup_(fake_done) Fake f = {};
        _cleanup_(metrics_freep) Metrics *m = NULL;
        _cleanup_json_ json_object *one = NULL, *two = NULL;

        fake_init(&f);
        m = fake_metrics(&f);
        sample_ok(m, 0);
        one = to_json(m);
        ck_assert_str_eq(member(one, "load"), "{\"1\":0.52,\"5\":0.58,\"15\":0.59}");
        ck_assert_int_eq(member_int(one, "processes"), 345);
        ck_assert_int_eq(member_int(one, "uptime"), 1234);
        ck_assert_str_eq(member(one, "boot_id"), "\"" BOOT_ID "\"");

        fake_write(&f, "loadavg", "12.00 0.60 0.60 1/356 12346\n");
        fake_write(&f, "uptime", "1244.01 2010.00\n");
        sample_ok(m, 10 * USEC_PER_SEC);
        two = to_json(m);
        /* 0.59 and 0.60 average to 0.595, rounded up; 345 and 356 to 350.5, rounded up. Uptime
         * is the newest alone. */
        ck_assert_str_eq(member(two, "load"), "{\"1\":6.26,\"5\":0.59,\"15\":0.60}");
        ck_assert_int_eq(member_int(two, "processes"), 351);
        ck_assert_int_eq(member_int(two, "uptime"), 1244);
}
END_TEST

START_TEST(test_whole_document) {
        _cleanup_(fake_done) Fake f = {};
        _cleanup_(metrics_freep) Metrics *m = NULL;
        _cleanup_json_ json_object *o = NULL;
        json_object *disk;

        fake_init(&f);
        m = fake_metrics(&f);
        sample_ok(m, 0);
        fake_write(&f, "stat", stat_text(1100, 150, 560, 8700, 225, 70, 70, 125, 507));
        sample_ok(m, 10 * USEC_PER_SEC);
        o = to_json(m);

        /* The disk of a temp dir changes under us: checked in test_disk, taken out here. */
        ck_assert(json_object_object_get_ex(o, "disk", &disk));
        ck_assert_str_eq(json_object_get_string(json_object_object_get(disk, "path")), f.dir);
        json_object_object_del(o, "disk");

        ck_assert_str_eq(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                         "{\"cpu\":{\"user\":15.00,\"system\":10.00,\"iowait\":2.50,"
                         "\"steal\":2.50,\"idle\":70.00},"
                         "\"memory\":{\"total\":16384000000,\"used\":4096000000,"
                         "\"cached\":921600000,\"swap_used\":512000000},"
                         "\"load\":{\"1\":0.52,\"5\":0.58,\"15\":0.59},"
                         "\"processes\":345,\"uptime\":1234,\"boot_id\":\"" BOOT_ID "\","
                         "\"window_seconds\":60,\"samples\":2}");
}
END_TEST

/* The idle counter of sample k is 8000 + 100 k; user jumps by 600 between the samples at 0 and
 * 10 s only, and the memory used is 1000000 kB at 0 s, 2000000 kB after. */
static void window_sample(const Fake *f, Metrics *m, unsigned k) {
        fake_write(f, "stat",
                   stat_text(k == 0 ? 1000 : 1600, 100, 500, 8000 + 100 * k, 200, 50, 50, 100, 7));
        fake_write(f, "meminfo", meminfo_text(16000000, k == 0 ? 15000000 : 14000000));
        sample_ok(m, k * 10 * USEC_PER_SEC);
}

START_TEST(test_window_expiry) {
        _cleanup_(fake_done) Fake f = {};
        _cleanup_(metrics_freep) Metrics *m = NULL;
        _cleanup_json_ json_object *full = NULL, *moved = NULL, *gap = NULL;
        json_object *mem;

        fake_init(&f);
        m = fake_metrics(&f);
        for (unsigned k = 0; k <= 6; k++)
                window_sample(&f, m, k);

        /* 0 … 60 s: 7 samples, 600 user + 600 idle ticks; used averages (1 + 6·2)/7 GB. */
        full = to_json(m);
        ck_assert_int_eq(member_int(full, "samples"), 7);
        ck_assert_str_eq(member(full, "cpu"), "{\"user\":50.00,\"system\":0.00,\"iowait\":0.00,"
                                              "\"steal\":0.00,\"idle\":50.00}");
        ck_assert(json_object_object_get_ex(full, "memory", &mem));
        ck_assert_int_eq(member_int(mem, "used"), 1901714286); /* 13312000000 / 7 */

        /* At 70 s the sample of 0 s is 70 s old and leaves: the user jump goes with it. */
        window_sample(&f, m, 7);
        moved = to_json(m);
        ck_assert_int_eq(member_int(moved, "samples"), 7);
        ck_assert_str_eq(member(moved, "cpu"), "{\"user\":0.00,\"system\":0.00,\"iowait\":0.00,"
                                               "\"steal\":0.00,\"idle\":100.00}");
        ck_assert(json_object_object_get_ex(moved, "memory", &mem));
        ck_assert_int_eq(member_int(mem, "used"), 2048000000);

        /* After a gap longer than the window only the new sample is left. */
        sample_ok(m, 200 * USEC_PER_SEC);
        gap = to_json(m);
        ck_assert_int_eq(member_int(gap, "samples"), 1);
        ck_assert_str_eq(member(gap, "cpu"), "null");
}
END_TEST

START_TEST(test_window_edge_and_capacity) {
        _cleanup_(fake_done) Fake f = {};
        _cleanup_(metrics_freep) Metrics *m = NULL;
        _cleanup_json_ json_object *edge = NULL, *past = NULL, *many = NULL;

        fake_init(&f);
        m = fake_metrics(&f);

        /* Exactly 60 s old still counts; one microsecond more does not. */
        sample_ok(m, 1000 * USEC_PER_SEC);
        sample_ok(m, 1060 * USEC_PER_SEC);
        edge = to_json(m);
        ck_assert_int_eq(member_int(edge, "samples"), 2);
        sample_ok(m, 1060 * USEC_PER_SEC + 1);
        past = to_json(m);
        ck_assert_int_eq(member_int(past, "samples"), 2);

        /* Sampled every second, the window would hold 61: it keeps the newest 32. */
        for (unsigned i = 1; i <= 60; i++)
                sample_ok(m, (2000 + i) * USEC_PER_SEC);
        many = to_json(m);
        ck_assert_int_eq(member_int(many, "samples"), METRICS_SAMPLES_MAX);
}
END_TEST

START_TEST(test_time_not_after_last) {
        _cleanup_(fake_done) Fake f = {};
        _cleanup_(metrics_freep) Metrics *m = NULL;
        _cleanup_json_ json_object *o = NULL;
        _cleanup_free_ char *error = NULL, *error2 = NULL;

        fake_init(&f);
        m = fake_metrics(&f);
        sample_ok(m, 10 * USEC_PER_SEC);
        ck_assert_int_eq(metrics_sample(m, 10 * USEC_PER_SEC, &error), -EINVAL);
        ck_assert_str_eq(error, "metrics: sample time 10000000 µs is not after the last one");
        ck_assert_int_eq(metrics_sample(m, 9 * USEC_PER_SEC, &error2), -EINVAL);

        o = to_json(m);
        ck_assert_int_eq(member_int(o, "samples"), 1);
}
END_TEST

static const struct {
        const char *file;
        const char *content;
        const char *error; /* after "<proc>/" */
} malformed[] = {
        { "stat", "intr 1 2 3\ncpu  1 2 3 4 5 6 7 8\n",
          "stat: expected the first line to be the \"cpu\" total" },
        { "stat", "cpu0 1 2 3 4 5 6 7 8\n",
          "stat: expected the first line to be the \"cpu\" total" },
        { "stat", "", "stat: expected the first line to be the \"cpu\" total" },
        { "stat", "cpu  1 2 3\n", "stat: \"cpu\" line has 3 numbers, expected at least 8" },
        { "stat", "cpu  1 2 x 4 5 6 7 8\n", "stat: \"cpu\" field 3 is \"x\", expected a number" },
        { "stat", "cpu  1 2 -3 4 5 6 7 8\n", "stat: \"cpu\" field 3 is \"-3\", expected a number" },
        { "stat", "cpu  18446744073709551616 2 3 4 5 6 7 8\n",
          "stat: \"cpu\" field 1 is \"18446744073709551616\", expected a number" },
        { "meminfo", "MemTotal: 100 kB\nMemAvailable: 50 MB\n",
          "meminfo:2: MemAvailable: expected \"<number> kB\"" },
        { "meminfo", "MemTotal: 100\n", "meminfo:1: MemTotal: expected \"<number> kB\"" },
        { "meminfo", "MemTotal: 100 kB extra\n", "meminfo:1: MemTotal: expected \"<number> kB\"" },
        { "meminfo", "Cached:\n", "meminfo:1: Cached: expected \"<number> kB\"" },
        { "meminfo", "MemTotal: 1e6 kB\n",
          "meminfo:1: MemTotal: \"1e6\" is not a number of kB below 8 EiB" },
        { "meminfo", "SwapFree: 9007199254740992 kB\n",
          "meminfo:1: SwapFree: \"9007199254740992\" is not a number of kB below 8 EiB" },
        { "meminfo",
          "MemTotal: 1 kB\nMemAvailable: 1 kB\nCached: 1 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n",
          "meminfo: no SReclaimable line" },
        { "loadavg", "0.5 0.50 0.50 1/2 3\n",
          "loadavg: field 1: expected a load average like 0.25" },
        { "loadavg", "0.50 0.50 .50 1/2 3\n",
          "loadavg: field 3: expected a load average like 0.25" },
        { "loadavg", "0.50 0.50\n", "loadavg: field 3: expected a load average like 0.25" },
        { "loadavg", "0.50 0.50 0.50 12 3\n",
          "loadavg: field 4: expected processes as \"running/total\"" },
        { "loadavg", "0.50 0.50 0.50 1/ 3\n",
          "loadavg: field 4: expected processes as \"running/total\"" },
        { "loadavg", "0.50 0.50 0.50\n",
          "loadavg: field 4: expected processes as \"running/total\"" },
        { "uptime", "", "uptime: expected the seconds since boot like 1234.56" },
        { "uptime", "12x4.00 5.00\n", "uptime: expected the seconds since boot like 1234.56" },
        { "sys/kernel/random/boot_id", "not-a-uuid\n",
          "sys/kernel/random/boot_id: expected a UUID like 01234567-89ab-cdef-0123-456789abcdef" },
        { "sys/kernel/random/boot_id", "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0\n",
          "sys/kernel/random/boot_id: expected a UUID like 01234567-89ab-cdef-0123-456789abcdef" },
        { "sys/kernel/random/boot_id", BOOT_ID "0\n",
          "sys/kernel/random/boot_id: expected a UUID like 01234567-89ab-cdef-0123-456789abcdef" },
};

START_TEST(test_malformed) {
        _cleanup_(fake_done) Fake f = {};
        _cleanup_(metrics_freep) Metrics *m = NULL;
        _cleanup_json_ json_object *o = NULL;
        _cleanup_free_ char *error = NULL, *expected = NULL;

        fake_init(&f);
        m = fake_metrics(&f);
        sample_ok(m, 0);

        fake_write(&f, malformed[_i].file, malformed[_i].content);
        ck_assert_int_eq(metrics_sample(m, 10 * USEC_PER_SEC, &error), -EBADMSG);
        expected = strf("%s/%s", f.proc, malformed[_i].error);
        ck_assert_str_eq(error, expected);

        /* The sample before is untouched. */
        o = to_json(m);
        ck_assert_int_eq(member_int(o, "samples"), 1);
        ck_assert_str_eq(member(o, "boot_id"), "\"" BOOT_ID "\"");
}
END_TEST

START_TEST(test_unreadable) {
        static const char with_nul[] = "cpu  1 2 3 4 5 6 7 8\0 9\n";
        _cleanup_(fake_done) Fake f = {};
        _cleanup_(metrics_freep) Metrics *m = NULL;
        _cleanup_free_ char *loadavg = NULL, *stat = NULL, *big = NULL, *error_missing = NULL,
                            *error_big = NULL, *error_nul = NULL, *expected_missing = NULL,
                            *expected_big = NULL, *expected_nul = NULL;

        fake_init(&f);
        m = fake_metrics(&f);
        loadavg = strf("%s/loadavg", f.proc);
        stat = strf("%s/stat", f.proc);

        ck_assert_int_eq(unlink(loadavg), 0);
        ck_assert_int_eq(metrics_sample(m, 0, &error_missing), -ENOENT);
        expected_missing = strf("%s: cannot read: No such file or directory", loadavg);
        ck_assert_str_eq(error_missing, expected_missing);

        /* Past the hard limit: refused, not read into memory whole. */
        big = malloc(4U * 1024U * 1024U + 2);
        ck_assert_ptr_nonnull(big);
        memset(big, ' ', 4U * 1024U * 1024U + 1);
        big[4U * 1024U * 1024U + 1] = 0;
        fake_write(&f, "loadavg", big);
        ck_assert_int_eq(metrics_sample(m, 0, &error_big), -EFBIG);
        expected_big = strf("%s: larger than 4194304 bytes", loadavg);
        ck_assert_str_eq(error_big, expected_big);

        ck_assert_int_eq(write_file_atomic(stat, with_nul, sizeof(with_nul) - 1, 0644, (uid_t)-1,
                                           (gid_t)-1),
                         0);
        ck_assert_int_eq(metrics_sample(m, 0, &error_nul), -EBADMSG);
        expected_nul = strf("%s: contains a NUL byte", stat);
        ck_assert_str_eq(error_nul, expected_nul);
}
END_TEST

static void assert_disk(Metrics *m, usec_t now, const char *expected_path) {
        _cleanup_json_ json_object *o = NULL;
        json_object *disk;
        struct statvfs sv;
        int64_t total, used;
        double percent;

        sample_ok(m, now);
        o = to_json(m);
        ck_assert(json_object_object_get_ex(o, "disk", &disk));
        ck_assert_str_eq(json_object_get_string(json_object_object_get(disk, "path")),
                         expected_path);

        ck_assert_int_eq(statvfs(expected_path, &sv), 0);
        total = member_int(disk, "total");
        used = member_int(disk, "used");
        percent = member_double(disk, "used_percent");
        ck_assert_int_eq(total, (int64_t)(sv.f_blocks * sv.f_frsize));
        ck_assert_int_ge(used, 0);
        ck_assert_int_le(used, total);
        ck_assert_double_ge(percent, 0);
        ck_assert_double_le(percent, 100);
}

START_TEST(test_disk) {
        _cleanup_(fake_done) Fake f = {};
        _cleanup_(metrics_freep) Metrics *missing = NULL, *slash = NULL, *file = NULL;
        _cleanup_free_ char *www = NULL, *srv = NULL, *under_file = NULL, *a_file = NULL;
        Metrics *bad = NULL;

        fake_init(&f);
        ck_assert_int_eq(metrics_new(f.proc, "srv/www", &bad), -EINVAL);
        ck_assert_ptr_null(bad);

        /* Before the deploy root exists, the nearest existing parent is measured. */
        www = strf("%s/srv/www/", f.dir);
        srv = strf("%s/srv", f.dir);
        ck_assert_int_eq(metrics_new(f.proc, www, &missing), 0);
        assert_disk(missing, 0, f.dir);
        ck_assert_int_eq(mkdir(srv, 0755), 0);
        assert_disk(missing, 10 * USEC_PER_SEC, srv);
        ck_assert_int_eq(mkdir(www, 0755), 0);
        assert_disk(missing, 20 * USEC_PER_SEC, www);

        ck_assert_int_eq(metrics_new(f.proc, "/no-such-strata-dir/www", &slash), 0);
        assert_disk(slash, 0, "/");

        /* A file where a directory should be (ENOTDIR) is walked past the same way. */
        a_file = strf("%s/file", f.dir);
        under_file = strf("%s/file/www", f.dir);
        test_write(a_file, "x");
        ck_assert_int_eq(metrics_new(f.proc, under_file, &file), 0);
        assert_disk(file, 0, a_file);
}
END_TEST

START_TEST(test_real_proc) {
        _cleanup_(metrics_freep) Metrics *m = NULL;
        _cleanup_json_ json_object *o = NULL;
        _cleanup_free_ char *boot_id = NULL;
        json_object *cpu, *memory, *load;
        double sum = 0;

        ck_assert_int_eq(metrics_new("/proc", "/", &m), 0);
        sample_ok(m, now_usec(CLOCK_BOOTTIME));
        /* Enough for some clock ticks (USER_HZ is 100) to pass on every CPU. */
        usleep(300 * 1000);
        sample_ok(m, now_usec(CLOCK_BOOTTIME));
        o = to_json(m);

        ck_assert(json_object_object_get_ex(o, "cpu", &cpu));
        ck_assert_ptr_nonnull(cpu);
        json_object_object_foreach(cpu, key, value) {
                double v = json_object_get_double(value);

                ck_assert_msg(v >= 0 && v <= 100, "cpu %s = %f", key, v);
                sum += v;
        }
        ck_assert_msg(sum >= 99 && sum <= 101, "cpu percentages add up to %f", sum);

        ck_assert(json_object_object_get_ex(o, "memory", &memory));
        ck_assert_int_gt(member_int(memory, "total"), 0);
        ck_assert_int_le(member_int(memory, "used"), member_int(memory, "total"));
        ck_assert_int_ge(member_int(memory, "cached"), 0);
        ck_assert_int_ge(member_int(memory, "swap_used"), 0);

        ck_assert(json_object_object_get_ex(o, "load", &load));
        ck_assert_double_ge(member_double(load, "1"), 0);
        ck_assert_int_gt(member_int(o, "processes"), 0);
        ck_assert_int_gt(member_int(o, "uptime"), 0);

        boot_id = test_read("/proc/sys/kernel/random/boot_id");
        ck_assert_ptr_nonnull(boot_id);
        boot_id[strcspn(boot_id, "\n")] = 0;
        ck_assert_str_eq(json_object_get_string(json_object_object_get(o, "boot_id")), boot_id);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("metrics");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_cpu_from_two_snapshots);
        tcase_add_test(tc, test_cpu_rounding);
        tcase_add_test(tc, test_cpu_counter_stepping_back);
        tcase_add_test(tc, test_cpu_null);
        tcase_add_test(tc, test_memory);
        tcase_add_test(tc, test_load_processes_uptime);
        tcase_add_test(tc, test_whole_document);
        tcase_add_test(tc, test_window_expiry);
        tcase_add_test(tc, test_window_edge_and_capacity);
        tcase_add_test(tc, test_time_not_after_last);
        tcase_add_loop_test(tc, test_malformed, 0, ELEMENTSOF(malformed));
        tcase_add_test(tc, test_unreadable);
        tcase_add_test(tc, test_disk);
        tcase_add_test(tc, test_real_proc);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
