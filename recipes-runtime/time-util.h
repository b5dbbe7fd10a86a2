/* SPDX-License-Identifier: MIT */
#pragma once

#include <time.h>

#include "macro.h"

/* The time of a clock (CLOCK_MONOTONIC for durations and deadlines, CLOCK_REALTIME for
 * timestamps, CLOCK_BOOTTIME for timers that count suspend) in microseconds. */
usec_t now_usec(clockid_t clock);

/* "2026-11-25T11:20:50.123Z" for a CLOCK_REALTIME time; NULL on OOM. */
char *format_timestamp(usec_t t);
