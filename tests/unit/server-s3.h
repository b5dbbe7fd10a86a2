/* SPDX-License-Identifier: MIT */
#pragma once

#include <sys/types.h>

#include "macro.h"

/* A private S3 server for tests: @20minutes/s3rver 4.0.4 (it verifies SigV4 signatures), run by
 * tests/servers/s3rver.js with node, installed under $STRATA_S3RVER_PREFIX (tools/dev/deps puts
 * it in /var/cache/strata-test/s3rver). On a free 127.0.0.1 port, its objects in a fresh temp
 * dir; it knows one key pair. It logs each request with its x-amz-security-token header to
 * <dir>/requests.log. A server that does not come up is a test failure, never a skip. */

typedef struct TestS3 {
        char *dir;      /* data/, s3rver.log, requests.log */
        char *endpoint; /* "http://127.0.0.1:<port>" */
        unsigned port;
        pid_t pid;
} TestS3;

/* Starts a server that knows access_key:secret and has the buckets (NULL-terminated). */
TestS3 *test_s3_start(const char *access_key, const char *secret, char *const *buckets);
void test_s3_free(TestS3 *s);

/* Puts an object (asserted to succeed), signed with the server's key pair. */
void test_s3_put(TestS3 *s, const char *bucket, const char *key, const void *data, size_t size);

/* The requests logged so far: "METHOD PATH token=<x-amz-security-token or ->" joined with
 * "\n". */
char *test_s3_requests(TestS3 *s);
