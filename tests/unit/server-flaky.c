/* SPDX-License-Identifier: MIT */
/* The flaky HTTP server for retry tests (contract in server-flaky.h). */

#include <check.h>
#include <fcntl.h>

#include "server-flaky.h"
#include "server-nginx.h"
#include "str-util.h"
#include "test-helpers.h"

TestFlaky *test_flaky_start(const char *content, unsigned failures, int status) {
        _cleanup_free_ char *script = NULL, *log = NULL, *requests = NULL, *file = NULL,
                            *port = NULL, *failures_text = NULL, *status_text = NULL;
        const char *src = getenv("STRATA_SOURCE_DIR");
        TestFlaky *f = calloc(1, sizeof(*f));

        ck_assert_ptr_nonnull(f);
        ck_assert_msg(src, "STRATA_SOURCE_DIR is not set (run the tests with meson test)");
        f->dir = test_tmpdir();
        f->port = test_free_port();
        f->url = strf("http://127.0.0.1:%u/file", f->port);
        script = strf("%s/tests/servers/flaky-http.py", src);
        log = strf("%s/server.log", f->dir);
        requests = strf("%s/requests.log", f->dir);
        file = strf("%s/file", f->dir);
        port = strf("%u", f->port);
        failures_text = strf("%u", failures);
        status_text = strf("%d", status);
        ck_assert_ptr_nonnull(status_text);
        test_write(requests, "");
        test_write(file, content);

        f->pid = fork();
        ck_assert_int_ge(f->pid, 0);
        if (f->pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

                if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
                        _exit(126);
                /* Debian's python3 (tools/dev/deps) first: a version manager's shim on PATH
                 * can take seconds to start. */
                execl("/usr/bin/python3", "python3", script, port, requests, file, failures_text,
                      status_text, (char *)NULL);
                execlp("python3", "python3", script, port, requests, file, failures_text,
                       status_text, (char *)NULL);
                _exit(127);
        }
        test_wait_listening("the flaky HTTP server (python3)", f->pid, f->port, log);
        return f;
}

void test_flaky_free(TestFlaky *f) {
        if (!f)
                return;
        test_stop_server(f->pid);
        test_rmdir(f->dir);
        free(f->dir);
        free(f->url);
        free(f);
}

char *test_flaky_requests(TestFlaky *f) {
        _cleanup_free_ char *p = strf("%s/requests.log", f->dir), *log = test_read(p);
        _cleanup_strv_free_ char **l = NULL;
        char *line = log, *r;

        while (line && *line) {
                char *nl = strchr(line, '\n');

                ck_assert_ptr_nonnull(nl);
                ck_assert_int_eq(strv_push(&l, strndup(line, (size_t)(nl - line))), 0);
                line = nl + 1;
        }
        r = l ? strv_join(l, ",") : strdup("");
        ck_assert_ptr_nonnull(r);
        return r;
}
