/* SPDX-License-Identifier: MIT */
/* A private nginx for tests, and the small helpers the test servers share (contract in
 * server-nginx.h). Run as TESTING.md describes: `daemon off;`, every path inside its dir. */

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "fs-util.h"
#include "server-nginx.h"
#include "str-util.h"
#include "test-helpers.h"

unsigned test_free_port(void) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
        close(fd);
        return ntohs(a.sin_port);
}

bool test_port_open(unsigned p) {
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)p),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool ok;

        ck_assert_int_ge(fd, 0);
        ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        close(fd);
        return ok;
}

void test_wait_listening(const char *what, pid_t pid, unsigned port, const char *log_path) {
        struct timespec pause = {0, 10 * 1000 * 1000};

        for (unsigned i = 0; i < 1000; i++) {
                int status;

                if (test_port_open(port))
                        return;
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        _cleanup_free_ char *log = log_path ? test_read(log_path) : NULL;

                        ck_abort_msg("%s exited with status %d (is it installed?): %s", what,
                                     status, strempty(log));
                }
                nanosleep(&pause, NULL);
        }
        ck_abort_msg("%s did not listen on 127.0.0.1:%u within 10 s", what, port);
}

void test_stop_server(pid_t pid) {
        if (pid <= 0)
                return;
        if (getpgid(pid) == pid)
                (void)kill(-pid, SIGTERM);
        else
                (void)kill(pid, SIGTERM);
        (void)waitpid(pid, NULL, 0);
}

TestNginx *test_nginx_start(const char *server_config) {
        _cleanup_free_ char *conf = NULL, *conf_path = NULL, *errlog = NULL;
        TestNginx *n = calloc(1, sizeof(*n));

        ck_assert_ptr_nonnull(n);
        n->dir = test_tmpdir();
        n->docroot = strf("%s/docroot", n->dir);
        n->port = test_free_port();
        n->url = strf("http://127.0.0.1:%u", n->port);
        conf = strf("daemon off;\n"
                    "worker_processes 1;\n"
                    "pid %1$s/nginx.pid;\n"
                    "error_log %1$s/error.log;\n"
                    "events { worker_connections 64; }\n"
                    "http {\n"
                    "    access_log %1$s/access.log;\n"
                    "    client_body_temp_path %1$s/client_body;\n"
                    "    proxy_temp_path %1$s/proxy;\n"
                    "    fastcgi_temp_path %1$s/fastcgi;\n"
                    "    uwsgi_temp_path %1$s/uwsgi;\n"
                    "    scgi_temp_path %1$s/scgi;\n"
                    "    server {\n"
                    "        listen 127.0.0.1:%2$u;\n"
                    "        root %1$s/docroot;\n"
                    "        %3$s\n"
                    "    }\n"
                    "}\n",
                    n->dir, n->port, strempty(server_config));
        conf_path = strf("%s/nginx.conf", n->dir);
        errlog = strf("%s/error.log", n->dir);
        ck_assert_ptr_nonnull(n->docroot);
        ck_assert_ptr_nonnull(n->url);
        ck_assert_ptr_nonnull(conf);
        ck_assert_ptr_nonnull(conf_path);
        ck_assert_ptr_nonnull(errlog);
        test_write(conf_path, conf);
        ck_assert_int_eq(mkdir(n->docroot, 0755), 0);

        n->pid = fork();
        ck_assert_int_ge(n->pid, 0);
        if (n->pid == 0) {
                execlp("nginx", "nginx", "-p", n->dir, "-c", conf_path, "-e", errlog, (char *)NULL);
                /* A PATH without sbin (a non-root shell) still finds Debian's nginx. */
                execl("/usr/sbin/nginx", "nginx", "-p", n->dir, "-c", conf_path, "-e", errlog,
                      (char *)NULL);
                _exit(127);
        }
        test_wait_listening("nginx", n->pid, n->port, errlog);
        return n;
}

void test_nginx_free(TestNginx *n) {
        if (!n)
                return;
        test_stop_server(n->pid);
        test_rmdir(n->dir);
        free(n->dir);
        free(n->docroot);
        free(n->url);
        free(n);
}

void test_nginx_serve(TestNginx *n, const char *name, const char *content, size_t size) {
        _cleanup_free_ char *p = strf("%s/%s", n->docroot, name), *parent = NULL;

        ck_assert_ptr_nonnull(p);
        parent = strndup(p, (size_t)(strrchr(p, '/') - p));
        ck_assert_ptr_nonnull(parent);
        ck_assert_int_ge(mkdir_parents(parent, 0755), 0);
        ck_assert_int_ge(write_file_atomic_full(p, content, size, 0644, (uid_t)-1, (gid_t)-1, 0),
                         0);
}

void test_nginx_htpasswd(TestNginx *n, const char *file, const char *user, const char *password) {
        _cleanup_free_ char *p = strf("%s/%s", n->dir, file),
                            *line = strf("%s:{PLAIN}%s\n", user, password);

        ck_assert_ptr_nonnull(p);
        ck_assert_ptr_nonnull(line);
        test_write(p, line);
}

char *test_nginx_requests(TestNginx *n, bool with_uri) {
        _cleanup_free_ char *p = strf("%s/access.log", n->dir), *log = test_read(p);
        _cleanup_strv_free_ char **l = NULL;
        char *line = log, *r;

        while (line && *line) {
                char *nl = strchr(line, '\n'), *q = strchr(line, '"'), *sp, *sp2, *end;

                ck_assert_ptr_nonnull(nl);
                ck_assert_ptr_nonnull(q);
                sp = strchr(q + 1, ' ');
                end = strchr(q + 1, '"');
                ck_assert_ptr_nonnull(sp);
                ck_assert_ptr_nonnull(end);
                sp2 = memchr(sp + 1, ' ', (size_t)(end - sp - 1));
                ck_assert_ptr_nonnull(sp2);
                if (with_uri)
                        ck_assert_int_eq(strv_push(&l, strf("%.*s %.3s", (int)(sp2 - q - 1), q + 1,
                                                            end + 2)),
                                         0);
                else
                        ck_assert_int_eq(
                                strv_push(&l, strf("%.*s %.3s", (int)(sp - q - 1), q + 1, end + 2)),
                                0);
                line = nl + 1;
        }
        r = l ? strv_join(l, ",") : strdup("");
        ck_assert_ptr_nonnull(r);
        return r;
}

void test_nginx_assert_requests(TestNginx *n, bool with_uri, const char *want) {
        struct timespec pause = {0, 10 * 1000 * 1000};
        char *got = NULL;

        for (unsigned i = 0; i < 200; i++) {
                free(got);
                got = test_nginx_requests(n, with_uri);
                if (streq(got, want))
                        break;
                nanosleep(&pause, NULL);
        }
        ck_assert_str_eq(got, want);
        free(got);
}

void test_nginx_assert_no_new_requests(TestNginx *n, bool with_uri, const char *want) {
        struct timespec settle = {0, 200 * 1000 * 1000};
        _cleanup_free_ char *got = NULL;

        nanosleep(&settle, NULL);
        got = test_nginx_requests(n, with_uri);
        ck_assert_str_eq(got, want);
}
