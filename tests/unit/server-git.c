/* SPDX-License-Identifier: MIT */
/* A git daemon on loopback for tests, and helpers that make the repositories it serves. */

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "server-git.h"
#include "spawn-program.h"
#include "str-util.h"
#include "test-helpers.h"

#define GIT_SERVER_TRIES 5
#define GIT_SERVER_WAIT_MSEC 5000
#define GIT_ARGS_MAX 32

/* Reproducible commits, and nothing from the machine's or root's git configuration. */
static char *const git_environment[] = {
        (char *)"GIT_AUTHOR_NAME=Test",
        (char *)"GIT_AUTHOR_EMAIL=test@example.com",
        (char *)"GIT_AUTHOR_DATE=2020-01-01T00:00:00Z",
        (char *)"GIT_COMMITTER_NAME=Test",
        (char *)"GIT_COMMITTER_EMAIL=test@example.com",
        (char *)"GIT_COMMITTER_DATE=2020-01-01T00:00:00Z",
        (char *)"GIT_CONFIG_NOSYSTEM=1",
        (char *)"GIT_CONFIG_GLOBAL=/dev/null",
        (char *)"HOME=/nonexistent",
        NULL,
};

static unsigned free_port(void) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(a);
        int fd;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
        close(fd);
        return ntohs(a.sin_port);
}

static bool can_connect(unsigned port) {
        struct sockaddr_in a = {
                .sin_family = AF_INET,
                .sin_port = htons((uint16_t)port),
                .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
        };
        int fd, r;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        r = connect(fd, (struct sockaddr *)&a, sizeof(a));
        close(fd);
        return r == 0;
}

static pid_t spawn_daemon(const char *base, unsigned port) {
        _cleanup_free_ char *base_arg = strf("--base-path=%s", base);
        _cleanup_free_ char *port_arg = strf("--port=%u", port);
        _cleanup_free_ char *git = NULL;
        pid_t pid, parent;

        ck_assert_ptr_nonnull(base_arg);
        ck_assert_ptr_nonnull(port_arg);
        ck_assert_int_eq(spawn_find_program("git", &git), 0);
        parent = getpid();
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                char *argv[] = {(char *)"git",
                                (char *)"daemon",
                                (char *)"--reuseaddr",
                                base_arg,
                                (char *)"--export-all",
                                (char *)"--listen=127.0.0.1",
                                port_arg,
                                NULL};
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);

                /* Its own process group, so that stopping it ends its connection children; and
                 * gone with the test process, should a failed test skip git_server_stop(). */
                (void)setpgid(0, 0);
                if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
                        _exit(127);
                if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0 ||
                    dup2(null, STDERR_FILENO) < 0)
                        _exit(127);
                execve(git, argv, git_environment);
                _exit(127);
        }
        return pid;
}

void git_server_start(GitServer *s) {
        *s = (GitServer){.base = test_tmpdir()};

        /* The port may be taken between our look and the daemon's bind: try another. */
        for (unsigned try = 0; try < GIT_SERVER_TRIES; try++) {
                struct timespec pause = {.tv_nsec = 10 * 1000 * 1000};
                unsigned port = free_port();
                pid_t pid = spawn_daemon(s->base, port);

                for (unsigned waited = 0; waited < GIT_SERVER_WAIT_MSEC; waited += 10) {
                        int status;

                        if (can_connect(port)) {
                                s->pid = pid;
                                s->port = port;
                                return;
                        }
                        if (waitpid(pid, &status, WNOHANG) == pid) {
                                pid = 0;
                                break;
                        }
                        nanosleep(&pause, NULL);
                }
                if (pid > 0) {
                        kill(-pid, SIGKILL);
                        waitpid(pid, NULL, 0);
                }
        }
        ck_abort_msg("git daemon did not start");
}

void git_server_stop(GitServer *s) {
        if (s->pid > 0) {
                (void)kill(-s->pid, SIGTERM);
                (void)waitpid(s->pid, NULL, 0);
                (void)kill(-s->pid, SIGKILL);
        }
        if (s->base)
                test_rmdir(s->base);
        free(s->base);
        *s = (GitServer){};
}

char *git_server_url(const GitServer *s, const char *name) {
        char *u = strf("git://127.0.0.1:%u/%s", s->port, name);

        ck_assert_ptr_nonnull(u);
        return u;
}

char *git_server_path(const GitServer *s, const char *name) {
        char *p = strf("%s/%s", s->base, name);

        ck_assert_ptr_nonnull(p);
        return p;
}

static char *git_run(const char *cwd, va_list ap) {
        char *argv[GIT_ARGS_MAX + 8] = {(char *)"git", (char *)"-c",
                                        (char *)"protocol.file.allow=always", (char *)"-c",
                                        (char *)"init.defaultBranch=main"};
        _cleanup_free_ char *output = NULL, *error = NULL;
        size_t n = 5, len;
        int r;

        if (cwd) {
                argv[n++] = (char *)"-C";
                argv[n++] = (char *)cwd;
        }
        for (const char *a; (a = va_arg(ap, const char *));) {
                ck_assert_uint_lt(n, ELEMENTSOF(argv) - 1);
                argv[n++] = (char *)a;
        }
        argv[n] = NULL;

        r = spawn_program_checked(argv, (char **)git_environment, &output, &error);
        ck_assert_msg(r >= 0, "%s", strempty(error));

        len = strlen(strempty(output));
        while (len > 0 && strchr(" \t\r\n", output[len - 1]))
                len--;
        return strndup(strempty(output), len);
}

char *git_server_git(const char *cwd, ...) {
        va_list ap;
        char *out;

        va_start(ap, cwd);
        out = git_run(cwd, ap);
        va_end(ap);
        ck_assert_ptr_nonnull(out);
        return out;
}

char *git_server_repo(GitServer *s, const char *name, ...) {
        _cleanup_free_ char *work = test_tmpdir(), *bare = git_server_path(s, name);
        char *commit;
        va_list ap;

        free(git_server_git(work, "init", "-q", NULL));
        va_start(ap, name);
        for (const char *path; (path = va_arg(ap, const char *));) {
                const char *content = va_arg(ap, const char *);
                _cleanup_free_ char *f = strf("%s/%s", work, path);

                test_write(f, content);
        }
        va_end(ap);
        free(git_server_git(work, "add", "-A", NULL));
        free(git_server_git(work, "commit", "-q", "-m", "initial", NULL));
        free(git_server_git(NULL, "clone", "-q", "--bare", work, bare, NULL));
        commit = git_server_git(work, "rev-parse", "HEAD", NULL);
        test_rmdir(work);
        return commit;
}

char *git_server_work(GitServer *s, const char *name) {
        _cleanup_free_ char *bare = git_server_path(s, name);
        char *work = test_tmpdir();

        free(git_server_git(NULL, "clone", "-q", bare, work, NULL));
        return work;
}
