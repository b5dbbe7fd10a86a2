/* SPDX-License-Identifier: MIT */
#pragma once

#include <sys/types.h>

#include "macro.h"

/* An HTTP server for retry tests: tests/servers/flaky-http.py (python3 stdlib) on a free
 * 127.0.0.1 port answers its first `failures` GETs with `status`, then serves `content` with 200.
 * Each request is logged as "GET PATH STATUS". */

typedef struct TestFlaky {
        char *dir;
        char *url; /* "http://127.0.0.1:<port>/file" */
        unsigned port;
        pid_t pid;
} TestFlaky;

TestFlaky *test_flaky_start(const char *content, unsigned failures, int status);
void test_flaky_free(TestFlaky *f);

/* The requests so far, joined with ","; "" for none. */
char *test_flaky_requests(TestFlaky *f);
