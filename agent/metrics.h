/* SPDX-License-Identifier: MIT */
#pragma once

#include "macro.h"

/* The machine metrics the heartbeat reports: sampled from /proc and statvfs() every
 * METRICS_SAMPLE_INTERVAL by the daemon's timer, reported as averages over the samples of the
 * last METRICS_WINDOW.
 *
 * Files read below proc_root (a test points it at a fake tree holding exactly these):
 *   stat                    the first line, "cpu  user nice system idle iowait irq softirq
 *                           steal [guest guest_nice ...]", in clock ticks since boot
 *   meminfo                 MemTotal, MemAvailable, Cached, SReclaimable, SwapTotal, SwapFree
 *                           (each "Key: <n> kB")
 *   loadavg                 "1.00 5.00 15.00 running/total last_pid"
 *   uptime                  "seconds.cc idle.cc"
 *   sys/kernel/random/boot_id
 *
 * metrics_to_json() gives:
 *   {
 *     "cpu": { "user": 1.50, "system": 0.75, "iowait": 0.00, "steal": 0.00, "idle": 97.75 },
 *     "memory": { "total": n, "used": n, "cached": n, "swap_used": n },
 *     "load": { "1": 0.52, "5": 0.58, "15": 0.59 },
 *     "processes": n,
 *     "disk": { "path": "/srv/www", "total": n, "used": n, "used_percent": 41.27 },
 *     "uptime": n,
 *     "boot_id": "973f7bea-a194-4442-a644-3f9588a6608e",
 *     "window_seconds": 60,
 *     "samples": n
 *   }
 *
 * - cpu: percentages of the clock ticks between the oldest and the newest sample of the window,
 *   so the average weighs each stretch of time by its length. user = user + nice, system =
 *   system + irq + softirq (guest time is already inside user and nice). null while the window
 *   holds fewer than 2 samples, or when no tick passed between them.
 * - memory, bytes, averaged over the samples: used = MemTotal - MemAvailable, cached = Cached +
 *   SReclaimable (the "cache" column of free -w), swap_used = SwapTotal - SwapFree.
 * - load: the 1/5/15 minute load averages, averaged over the samples.
 * - processes: the total of loadavg's "running/total" (every thread the kernel schedules),
 *   averaged over the samples.
 * - disk: statvfs() of the deploy root, or of its nearest existing parent while it does not
 *   exist; "path" says which was measured. used_percent is computed as df(1) does, as used /
 *   (used + available to unprivileged users), so blocks reserved for root do not count.
 * - disk, uptime (whole seconds) and boot_id come from the newest sample alone.
 * Percentages and load averages are rounded to 2 decimals and written with exactly 2.
 *
 * The window keeps the samples at most METRICS_WINDOW old, measured from the newest: at the
 * usual interval that is 6 or 7 samples. It holds at most METRICS_SAMPLES_MAX samples; when
 * sampled faster than that allows, the oldest go first. */

#define METRICS_SAMPLE_INTERVAL (10 * USEC_PER_SEC)
#define METRICS_WINDOW (60 * USEC_PER_SEC)
#define METRICS_SAMPLES_MAX 32U

typedef struct Metrics Metrics;

/* proc_root: "/proc" outside of tests. deploy_root: an absolute path, which need not exist. */
int metrics_new(const char *proc_root, const char *deploy_root, Metrics **ret);
Metrics *metrics_free(Metrics *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Metrics *, metrics_free);

/* Takes a sample at `now` (any clock that does not go backwards, CLOCK_BOOTTIME in the daemon)
 * and drops the samples older than the window. A file that cannot be read or parsed fails the
 * whole sample, with an error naming the file; the samples taken before stay as they were.
 * A `now` not after the newest sample: -EINVAL. */
int metrics_sample(Metrics *m, usec_t now, char **ret_error);

/* The averages described above. Before the first sample: -ENODATA. */
int metrics_to_json(Metrics *m, json_object **ret);
