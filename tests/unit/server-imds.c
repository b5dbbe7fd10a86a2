/* SPDX-License-Identifier: MIT */
/* The fake IMDSv2 for tests (contract in server-imds.h): tests/servers/imds.py. */

#include <check.h>
#include <fcntl.h>

#include "server-imds.h"
#include "server-nginx.h"
#include "str-util.h"
#include "test-helpers.h"

TestImds *test_imds_start(const char *role, const char *access_key, const char *secret,
                          const char *token, const char *expiration) {
        _cleanup_free_ char *script = NULL, *log = NULL, *requests = NULL, *port = NULL;
        const char *src = getenv("STRATA_SOURCE_DIR");
        TestImds *i = calloc(1, sizeof(*i));

        ck_assert_ptr_nonnull(i);
        ck_assert_msg(src, "STRATA_SOURCE_DIR is not set (run the tests with meson test)");
        i->dir = test_tmpdir();
        i->port = test_free_port();
        i->endpoint = strf("http://127.0.0.1:%u", i->port);
        script = strf("%s/tests/servers/imds.py", src);
        log = strf("%s/imds.log", i->dir);
        requests = strf("%s/requests.log", i->dir);
        port = strf("%u", i->port);
        ck_assert_ptr_nonnull(requests);
        test_write(requests, "");

        i->pid = fork();
        ck_assert_int_ge(i->pid, 0);
        if (i->pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

                if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
                        _exit(126);
                /* Debian's python3 (tools/dev/deps) first: a version manager's shim on PATH
                 * can take seconds to start. */
                execl("/usr/bin/python3", "python3", script, port, requests, role ?: "-",
                      access_key, secret, token, expiration, (char *)NULL);
                execlp("python3", "python3", script, port, requests, role ?: "-", access_key,
                       secret, token, expiration, (char *)NULL);
                _exit(127);
        }
        test_wait_listening("the fake IMDS (python3)", i->pid, i->port, log);
        return i;
}

void test_imds_free(TestImds *i) {
        if (!i)
                return;
        test_stop_server(i->pid);
        test_rmdir(i->dir);
        free(i->dir);
        free(i->endpoint);
        free(i);
}

char *test_imds_requests(TestImds *i) {
        _cleanup_free_ char *p = strf("%s/requests.log", i->dir);
        char *log = test_read(p);
        size_t n;

        ck_assert_ptr_nonnull(log);
        n = strlen(log);
        if (n > 0 && log[n - 1] == '\n')
                log[n - 1] = '\0';
        return log;
}
