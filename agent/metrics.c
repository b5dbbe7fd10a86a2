/* SPDX-License-Identifier: MIT */
#include <stddef.h>
#include <sys/statvfs.h>

#include "fs-util.h"
#include "metrics.h"
#include "str-util.h"

/* /proc/stat carries a line per CPU and one number per interrupt: on a large machine that is
 * hundreds of kilobytes, all read to get at its first line. */
#define PROC_FILE_MAX (4U * 1024U * 1024U)
#define BOOT_ID_LEN 36

/* Cumulative clock ticks since boot, from the first line of /proc/stat. */
typedef struct CpuTicks {
        uint64_t user, nice, system, idle, iowait, irq, softirq, steal;
} CpuTicks;

typedef struct MemInfo {
        uint64_t total, available, cached, reclaimable, swap_total, swap_free; /* bytes */
} MemInfo;

/* What is averaged over the window. */
typedef struct Sample {
        usec_t time;
        CpuTicks cpu;
        MemInfo mem;
        uint64_t load[3]; /* hundredths */
        uint64_t processes;
} Sample;

/* What is reported from the newest sample alone. */
typedef struct Snapshot {
        char *disk_path;
        uint64_t disk_total, disk_used, disk_available; /* bytes */
        uint64_t uptime;                                /* seconds */
        char boot_id[BOOT_ID_LEN + 1];
} Snapshot;

struct Metrics {
        char *proc_root;
        char *deploy_root;
        Sample ring[METRICS_SAMPLES_MAX];
        size_t first, n_samples; /* the oldest sample is ring[first] */
        Snapshot latest;
};

static void snapshot_done(Snapshot *s) {
        s->disk_path = mfree(s->disk_path);
}

int metrics_new(const char *proc_root, const char *deploy_root, Metrics **ret) {
        _cleanup_(metrics_freep) Metrics *m = NULL;

        if (!proc_root || !deploy_root || deploy_root[0] != '/')
                return -EINVAL;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->proc_root = strdup(proc_root);
        m->deploy_root = strdup(deploy_root);
        if (!m->proc_root || !m->deploy_root)
                return -ENOMEM;

        *ret = TAKE_PTR(m);
        return 0;
}

Metrics *metrics_free(Metrics *m) {
        if (!m)
                return NULL;
        free(m->proc_root);
        free(m->deploy_root);
        snapshot_done(&m->latest);
        return mfree(m);
}

static const Sample *metrics_nth(const Metrics *m, size_t i) {
        return &m->ring[(m->first + i) % METRICS_SAMPLES_MAX];
}

/* Parsing works on spans of the file's text: a line, a field of a line. */

/* Decimal digits only, the whole span, at most limit. */
static int parse_number(const char *p, size_t n, uint64_t limit, uint64_t *ret) {
        uint64_t v = 0;

        if (n == 0)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                unsigned d;

                if (p[i] < '0' || p[i] > '9')
                        return -EINVAL;
                d = (unsigned)(p[i] - '0');
                if (v > (limit - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }

        *ret = v;
        return 0;
}

/* "12.34" → 1234: the kernel writes load averages and uptime with exactly two decimals. */
static int parse_hundredths(const char *p, size_t n, uint64_t *ret) {
        uint64_t whole, fraction;
        int r;

        if (n < 4 || p[n - 3] != '.')
                return -EINVAL;
        r = parse_number(p, n - 3, INT64_MAX / 100, &whole);
        if (r < 0)
                return r;
        r = parse_number(p + n - 2, 2, 99, &fraction);
        if (r < 0)
                return r;

        *ret = whole * 100 + fraction;
        return 0;
}

/* The next blank-separated field of the line [*p, end), advancing *p past it. */
static bool next_field(const char **p, const char *end, const char **ret_start, size_t *ret_len) {
        const char *s = *p, *e;

        while (s < end && (*s == ' ' || *s == '\t'))
                s++;
        if (s == end)
                return false;
        for (e = s; e < end && *e != ' ' && *e != '\t'; e++)
                ;

        *ret_start = s;
        *ret_len = (size_t)(e - s);
        *p = e;
        return true;
}

static bool span_eq(const char *p, size_t n, const char *s) {
        return strlen(s) == n && memcmp(p, s, n) == 0;
}

static const char *line_end(const char *line) {
        return line + strcspn(line, "\n");
}

static int read_proc_file(const Metrics *m, const char *name, char **ret_path, char **ret,
                          char **ret_error) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        size_t len;
        int r;

        path = strf("%s/%s", m->proc_root, name);
        if (!path)
                return -ENOMEM;

        r = read_full_file(path, PROC_FILE_MAX, &text, &len);
        if (r == -EFBIG)
                return error_set(ret_error, r, "%s: larger than %u bytes", path, PROC_FILE_MAX);
        if (r < 0)
                return error_set(ret_error, r, "%s: cannot read: %s", path, strerror(-r));
        if (strlen(text) != len)
                return error_set(ret_error, -EBADMSG, "%s: contains a NUL byte", path);

        *ret_path = TAKE_PTR(path);
        *ret = TAKE_PTR(text);
        return 0;
}

static int read_cpu(const Metrics *m, CpuTicks *ret, char **ret_error) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        const char *p, *end, *f;
        uint64_t v[8];
        size_t n;
        int r;

        r = read_proc_file(m, "stat", &path, &text, ret_error);
        if (r < 0)
                return r;

        p = text;
        end = line_end(text);
        if (!next_field(&p, end, &f, &n) || !span_eq(f, n, "cpu"))
                return error_set(ret_error, -EBADMSG,
                                 "%s: expected the first line to be the \"cpu\" total", path);

        /* Fields past steal (guest, guest_nice, and whatever later kernels add) are left alone:
         * guest time is already counted in user and nice. */
        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                if (!next_field(&p, end, &f, &n))
                        return error_set(ret_error, -EBADMSG,
                                         "%s: \"cpu\" line has %zu numbers, expected at least %zu",
                                         path, i, ELEMENTSOF(v));
                if (parse_number(f, n, UINT64_MAX, &v[i]) < 0)
                        return error_set(ret_error, -EBADMSG,
                                         "%s: \"cpu\" field %zu is \"%.*s\", expected a number",
                                         path, i + 1, (int)n, f);
        }

        *ret = (CpuTicks) {
                .user = v[0], .nice = v[1], .system = v[2], .idle = v[3],
                .iowait = v[4], .irq = v[5], .softirq = v[6], .steal = v[7],
        };
        return 0;
}

static int read_memory(const Metrics *m, MemInfo *ret, char **ret_error) {
        static const struct {
                const char *key;
                size_t offset;
        } keys[] = {
                { "MemTotal", offsetof(MemInfo, total) },
                { "MemAvailable", offsetof(MemInfo, available) },
                { "Cached", offsetof(MemInfo, cached) },
                { "SReclaimable", offsetof(MemInfo, reclaimable) },
                { "SwapTotal", offsetof(MemInfo, swap_total) },
                { "SwapFree", offsetof(MemInfo, swap_free) },
        };
        _cleanup_free_ char *path = NULL, *text = NULL;
        unsigned seen = 0, line_no = 0;
        MemInfo mem = {};
        int r;

        r = read_proc_file(m, "meminfo", &path, &text, ret_error);
        if (r < 0)
                return r;

        for (const char *line = text, *end; *line; line = *end ? end + 1 : end) {
                const char *colon, *p, *number, *unit, *rest;
                size_t n_number, n_unit, n_rest, i;
                uint64_t kb;

                end = line_end(line);
                line_no++;

                /* Only the lines we use are checked: the others may change shape in a later
                 * kernel without breaking us. */
                colon = memchr(line, ':', (size_t)(end - line));
                if (!colon)
                        continue;
                for (i = 0; i < ELEMENTSOF(keys); i++)
                        if (span_eq(line, (size_t)(colon - line), keys[i].key))
                                break;
                if (i == ELEMENTSOF(keys))
                        continue;

                p = colon + 1;
                if (!next_field(&p, end, &number, &n_number) ||
                    !next_field(&p, end, &unit, &n_unit) || !span_eq(unit, n_unit, "kB") ||
                    next_field(&p, end, &rest, &n_rest))
                        return error_set(ret_error, -EBADMSG,
                                         "%s:%u: %s: expected \"<number> kB\"", path, line_no,
                                         keys[i].key);
                r = parse_number(number, n_number, INT64_MAX / 1024, &kb);
                if (r < 0)
                        return error_set(ret_error, -EBADMSG,
                                         "%s:%u: %s: \"%.*s\" is not a number of kB below 8 EiB",
                                         path, line_no, keys[i].key, (int)n_number, number);

                *(uint64_t *)((char *)&mem + keys[i].offset) = kb * 1024;
                seen |= 1U << i;
        }

        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (!(seen & (1U << i)))
                        return error_set(ret_error, -EBADMSG, "%s: no %s line", path,
                                         keys[i].key);

        *ret = mem;
        return 0;
}

static int read_loadavg(const Metrics *m, uint64_t ret_load[static 3], uint64_t *ret_processes,
                        char **ret_error) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        const char *p, *end, *f, *slash;
        uint64_t load[3], running, total;
        size_t n;
        int r;

        r = read_proc_file(m, "loadavg", &path, &text, ret_error);
        if (r < 0)
                return r;

        p = text;
        end = line_end(text);
        for (size_t i = 0; i < ELEMENTSOF(load); i++)
                if (!next_field(&p, end, &f, &n) || parse_hundredths(f, n, &load[i]) < 0)
                        return error_set(ret_error, -EBADMSG,
                                         "%s: field %zu: expected a load average like 0.25",
                                         path, i + 1);

        if (!next_field(&p, end, &f, &n) || !(slash = memchr(f, '/', n)) ||
            parse_number(f, (size_t)(slash - f), UINT32_MAX, &running) < 0 ||
            parse_number(slash + 1, n - (size_t)(slash + 1 - f), UINT32_MAX, &total) < 0)
                return error_set(ret_error, -EBADMSG,
                                 "%s: field 4: expected processes as \"running/total\"", path);

        memcpy(ret_load, load, sizeof(load));
        *ret_processes = total;
        return 0;
}

static int read_uptime(const Metrics *m, uint64_t *ret, char **ret_error) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        const char *p, *f;
        uint64_t hundredths;
        size_t n;
        int r;

        r = read_proc_file(m, "uptime", &path, &text, ret_error);
        if (r < 0)
                return r;

        p = text;
        if (!next_field(&p, line_end(text), &f, &n) || parse_hundredths(f, n, &hundredths) < 0)
                return error_set(ret_error, -EBADMSG,
                                 "%s: expected the seconds since boot like 1234.56", path);

        *ret = hundredths / 100;
        return 0;
}

/* The kernel writes it lowercase, dashes at 8, 13, 18 and 23. */
static bool is_uuid(const char *s, size_t n) {
        if (n != BOOT_ID_LEN)
                return false;
        for (size_t i = 0; i < n; i++) {
                bool dash = i == 8 || i == 13 || i == 18 || i == 23;
                bool hex = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');

                if (dash ? s[i] != '-' : !hex)
                        return false;
        }
        return true;
}

static int read_boot_id(const Metrics *m, char ret[static BOOT_ID_LEN + 1], char **ret_error) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        size_t len;
        int r;

        r = read_proc_file(m, "sys/kernel/random/boot_id", &path, &text, ret_error);
        if (r < 0)
                return r;

        len = strlen(text);
        if (len > 0 && text[len - 1] == '\n')
                len--;
        if (!is_uuid(text, len))
                return error_set(ret_error, -EBADMSG,
                                 "%s: expected a UUID like 01234567-89ab-cdef-0123-456789abcdef",
                                 path);

        memcpy(ret, text, BOOT_ID_LEN);
        ret[BOOT_ID_LEN] = 0;
        return 0;
}

/* "/srv/www/" → "/srv", "/srv" → "/". path is absolute and not "/". */
static void path_to_parent(char *path) {
        size_t n = strlen(path);

        while (n > 1 && path[n - 1] == '/')
                n--;
        while (n > 1 && path[n - 1] != '/')
                n--;
        while (n > 1 && path[n - 1] == '/')
                n--;
        path[n] = 0;
}

static int measure_disk(const char *deploy_root, Snapshot *s, char **ret_error) {
        _cleanup_free_ char *path = NULL;
        uint64_t total, used, available;
        struct statvfs sv;

        path = strdup(deploy_root);
        if (!path)
                return -ENOMEM;

        /* Before the first deploy the root does not exist yet; the filesystem it will be made on
         * is the one that matters. */
        while (statvfs(path, &sv) < 0) {
                if ((errno != ENOENT && errno != ENOTDIR) || streq(path, "/"))
                        return error_set(ret_error, -errno, "%s: cannot measure disk use: %m",
                                         path);
                path_to_parent(path);
        }

        if (__builtin_mul_overflow((uint64_t)sv.f_blocks, (uint64_t)sv.f_frsize, &total) ||
            __builtin_mul_overflow((uint64_t)(sv.f_blocks - MIN(sv.f_bfree, sv.f_blocks)),
                                   (uint64_t)sv.f_frsize, &used) ||
            __builtin_mul_overflow((uint64_t)sv.f_bavail, (uint64_t)sv.f_frsize, &available) ||
            total > INT64_MAX || available > INT64_MAX)
                return error_set(ret_error, -EOVERFLOW, "%s: filesystem size out of range", path);

        free(s->disk_path);
        s->disk_path = TAKE_PTR(path);
        s->disk_total = total;
        s->disk_used = used;
        s->disk_available = available;
        return 0;
}

int metrics_sample(Metrics *m, usec_t now, char **ret_error) {
        _cleanup_(snapshot_done) Snapshot snap = {};
        Sample s = { .time = now };
        int r;

        if (m->n_samples > 0 && now <= metrics_nth(m, m->n_samples - 1)->time)
                return error_set(ret_error, -EINVAL,
                                 "metrics: sample time %" PRIu64 " µs is not after the last one",
                                 now);

        r = read_cpu(m, &s.cpu, ret_error);
        if (r < 0)
                return r;
        r = read_memory(m, &s.mem, ret_error);
        if (r < 0)
                return r;
        r = read_loadavg(m, s.load, &s.processes, ret_error);
        if (r < 0)
                return r;
        r = read_uptime(m, &snap.uptime, ret_error);
        if (r < 0)
                return r;
        r = read_boot_id(m, snap.boot_id, ret_error);
        if (r < 0)
                return r;
        r = measure_disk(m->deploy_root, &snap, ret_error);
        if (r < 0)
                return r;

        /* Everything was read: only now is the window changed. */
        while (m->n_samples > 0 &&
               (now - metrics_nth(m, 0)->time > METRICS_WINDOW ||
                m->n_samples == METRICS_SAMPLES_MAX)) {
                m->first = (m->first + 1) % METRICS_SAMPLES_MAX;
                m->n_samples--;
        }
        m->ring[(m->first + m->n_samples) % METRICS_SAMPLES_MAX] = s;
        m->n_samples++;

        snapshot_done(&m->latest);
        m->latest = snap;
        snap.disk_path = NULL;
        return 0;
}

/* A fixed-point number written with exactly two decimals ("1.50"), not json-c's 17 digits. */
static json_object *json_new_hundredths(uint64_t h) {
        char s[32];

        snprintf(s, sizeof(s), "%" PRIu64 ".%02" PRIu64, h / 100, h % 100);
        return json_object_new_double_s((double)h / 100, s);
}

static uint64_t round_nonnegative(double v) {
        return v >= (double)INT64_MAX ? (uint64_t)INT64_MAX : (uint64_t)(v + 0.5);
}

/* Takes v, even on failure; v NULL is taken for an allocation that failed. */
static int json_add(json_object *o, const char *key, json_object *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

/* Counters can step back (iowait does, proc(5) says): that stretch counts as zero. */
static double ticks_delta(uint64_t old, uint64_t new) {
        return new > old ? (double)(new - old) : 0;
}

/* *ret NULL (JSON null) when there is no stretch of time to measure yet. */
static int cpu_to_json(const Metrics *m, json_object **ret) {
        _cleanup_json_ json_object *o = NULL;
        const CpuTicks *a, *b;
        double total = 0;
        int r;

        if (m->n_samples < 2) {
                *ret = NULL;
                return 0;
        }

        a = &metrics_nth(m, 0)->cpu;
        b = &metrics_nth(m, m->n_samples - 1)->cpu;
        const struct {
                const char *key;
                double ticks;
        } parts[] = {
                { "user", ticks_delta(a->user, b->user) + ticks_delta(a->nice, b->nice) },
                { "system", ticks_delta(a->system, b->system) + ticks_delta(a->irq, b->irq) +
                                    ticks_delta(a->softirq, b->softirq) },
                { "iowait", ticks_delta(a->iowait, b->iowait) },
                { "steal", ticks_delta(a->steal, b->steal) },
                { "idle", ticks_delta(a->idle, b->idle) },
        };

        for (size_t i = 0; i < ELEMENTSOF(parts); i++)
                total += parts[i].ticks;
        if (total == 0) {
                *ret = NULL;
                return 0;
        }

        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
                uint64_t percent = round_nonnegative(parts[i].ticks * 10000 / total);

                r = json_add(o, parts[i].key, json_new_hundredths(percent));
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(o);
        return 0;
}

static uint64_t saturating_sub(uint64_t a, uint64_t b) {
        return a > b ? a - b : 0;
}

/* Sums of bytes and hundredths, in double so that no sum can wrap; exact below 2^53. */
typedef struct Sums {
        double mem_total, mem_used, mem_cached, swap_used;
        double load[3];
        double processes;
} Sums;

static Sums metrics_sums(const Metrics *m) {
        Sums t = {};

        for (size_t i = 0; i < m->n_samples; i++) {
                const Sample *s = metrics_nth(m, i);

                t.mem_total += (double)s->mem.total;
                t.mem_used += (double)saturating_sub(s->mem.total, s->mem.available);
                t.mem_cached += (double)s->mem.cached + (double)s->mem.reclaimable;
                t.swap_used += (double)saturating_sub(s->mem.swap_total, s->mem.swap_free);
                for (size_t k = 0; k < ELEMENTSOF(t.load); k++)
                        t.load[k] += (double)s->load[k];
                t.processes += (double)s->processes;
        }
        return t;
}

static json_object *json_new_average(double sum, size_t n) {
        return json_object_new_int64((int64_t)round_nonnegative(sum / (double)n));
}

static int memory_to_json(const Sums *t, size_t n, json_object **ret) {
        _cleanup_json_ json_object *o = NULL;
        int r;

        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        r = json_add(o, "total", json_new_average(t->mem_total, n));
        if (r >= 0)
                r = json_add(o, "used", json_new_average(t->mem_used, n));
        if (r >= 0)
                r = json_add(o, "cached", json_new_average(t->mem_cached, n));
        if (r >= 0)
                r = json_add(o, "swap_used", json_new_average(t->swap_used, n));
        if (r < 0)
                return r;

        *ret = TAKE_PTR(o);
        return 0;
}

static int load_to_json(const Sums *t, size_t n, json_object **ret) {
        static const char *const keys[] = { "1", "5", "15" };
        _cleanup_json_ json_object *o = NULL;
        int r;

        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        for (size_t k = 0; k < ELEMENTSOF(keys); k++) {
                r = json_add(o, keys[k],
                             json_new_hundredths(round_nonnegative(t->load[k] / (double)n)));
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(o);
        return 0;
}

static int disk_to_json(const Snapshot *s, json_object **ret) {
        _cleanup_json_ json_object *o = NULL;
        uint64_t usable = s->disk_used + s->disk_available, percent = 0;
        int r;

        if (usable > 0)
                percent = round_nonnegative((double)s->disk_used * 10000 / (double)usable);

        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        r = json_add(o, "path", json_object_new_string(s->disk_path));
        if (r >= 0)
                r = json_add(o, "total", json_object_new_int64((int64_t)s->disk_total));
        if (r >= 0)
                r = json_add(o, "used", json_object_new_int64((int64_t)s->disk_used));
        if (r >= 0)
                r = json_add(o, "used_percent", json_new_hundredths(percent));
        if (r < 0)
                return r;

        *ret = TAKE_PTR(o);
        return 0;
}

int metrics_to_json(Metrics *m, json_object **ret) {
        _cleanup_json_ json_object *o = NULL, *cpu = NULL, *memory = NULL, *load = NULL,
                                   *disk = NULL;
        size_t n = m->n_samples;
        Sums t;
        int r;

        if (n == 0)
                return -ENODATA;
        t = metrics_sums(m);

        r = cpu_to_json(m, &cpu);
        if (r >= 0)
                r = memory_to_json(&t, n, &memory);
        if (r >= 0)
                r = load_to_json(&t, n, &load);
        if (r >= 0)
                r = disk_to_json(&m->latest, &disk);
        if (r < 0)
                return r;

        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        /* A NULL cpu is added as JSON null, which json_add would take for a failed allocation. */
        if (json_object_object_add(o, "cpu", cpu) < 0)
                return -ENOMEM;
        cpu = NULL;
        r = json_add(o, "memory", TAKE_PTR(memory));
        if (r >= 0)
                r = json_add(o, "load", TAKE_PTR(load));
        if (r >= 0)
                r = json_add(o, "processes", json_new_average(t.processes, n));
        if (r >= 0)
                r = json_add(o, "disk", TAKE_PTR(disk));
        if (r >= 0)
                r = json_add(o, "uptime", json_object_new_int64((int64_t)m->latest.uptime));
        if (r >= 0)
                r = json_add(o, "boot_id", json_object_new_string(m->latest.boot_id));
        if (r >= 0)
                r = json_add(o, "window_seconds",
                             json_object_new_int64((int64_t)(METRICS_WINDOW / USEC_PER_SEC)));
        if (r >= 0)
                r = json_add(o, "samples", json_object_new_int64((int64_t)n));
        if (r < 0)
                return r;

        *ret = TAKE_PTR(o);
        return 0;
}
