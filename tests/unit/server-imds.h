/* SPDX-License-Identifier: MIT */
#pragma once

#include <sys/types.h>

#include "macro.h"

/* A fake EC2 instance metadata service (IMDSv2) for tests: tests/servers/imds.py (python3
 * stdlib) on a free 127.0.0.1 port. It is the one mock of the test suite: EC2 itself cannot run
 * here. It hands out session tokens (PUT /latest/api/token with
 * X-aws-ec2-metadata-token-ttl-seconds), refuses metadata requests without a valid token (401),
 * and serves one role's credentials (with a session token) under
 * /latest/meta-data/iam/security-credentials/. Each request is logged as "METHOD PATH STATUS" to
 * <dir>/requests.log. */

typedef struct TestImds {
        char *dir;
        char *endpoint; /* "http://127.0.0.1:<port>" */
        unsigned port;
        pid_t pid;
} TestImds;

/* role NULL: the instance has no profile (the role list is 404). expiration: ISO 8601 UTC
 * ("2030-01-01T00:00:00Z"). */
TestImds *test_imds_start(const char *role, const char *access_key, const char *secret,
                          const char *token, const char *expiration);
void test_imds_free(TestImds *i);

/* The requests logged so far, joined with "\n". */
char *test_imds_requests(TestImds *i);
