/* SPDX-License-Identifier: MIT */

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "spawn-program.h"
#include "str-util.h"

/* How much of a failed program's output its error message quotes. */
#define SPAWN_ERROR_TAIL 1024U
#define SPAWN_CHUNK 4096U
#define SPAWN_EXIT_CHECK_MSEC 100

int spawn_find_program(const char *name, char **ret) {
        const char *p = SPAWN_PATH;

        if (!name || !*name || strchr(name, '/'))
                return -EINVAL;

        while (*p) {
                _cleanup_free_ char *f = NULL;
                size_t n = strcspn(p, ":");
                struct stat st;

                f = strf("%.*s/%s", (int) n, p, name);
                if (!f)
                        return -ENOMEM;
                if (stat(f, &st) == 0 && S_ISREG(st.st_mode) && access(f, X_OK) == 0) {
                        *ret = TAKE_PTR(f);
                        return 0;
                }

                p += n;
                if (*p == ':')
                        p++;
        }
        return -ENOENT;
}

static int spawn_environment(char **extra, char ***ret) {
        _cleanup_strv_free_ char **env = NULL;
        int r;

        r = strv_extend(&env, "PATH=" SPAWN_PATH);
        if (r < 0)
                return r;
        r = strv_extend(&env, "LC_ALL=C");
        if (r < 0)
                return r;
        for (char **e = extra; e && *e; e++) {
                r = strv_extend(&env, *e);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(env);
        return 0;
}

/* posix_spawn rather than fork: it reports a failed exec to us, and no code of ours runs in the
 * child. Every signal is reset to its default and unblocked, since the worker's loop blocks or
 * ignores some and exec would pass that on. */
static int spawn_child(const char *path, char **argv, char **env, int out_fd, pid_t *ret_pid) {
        posix_spawn_file_actions_t actions;
        posix_spawnattr_t attr;
        sigset_t mask, defaults;
        pid_t pid;
        int r;

        r = posix_spawn_file_actions_init(&actions);
        if (r != 0)
                return -r;
        r = posix_spawnattr_init(&attr);
        if (r != 0) {
                posix_spawn_file_actions_destroy(&actions);
                return -r;
        }

        sigemptyset(&mask);
        sigfillset(&defaults);

        r = posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        if (r == 0)
                r = posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
        if (r == 0)
                r = posix_spawn_file_actions_adddup2(&actions, out_fd, STDERR_FILENO);
        if (r == 0)
                r = posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
        if (r == 0)
                r = posix_spawnattr_setsigmask(&attr, &mask);
        if (r == 0)
                r = posix_spawnattr_setsigdefault(&attr, &defaults);
        if (r == 0)
                r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                                            POSIX_SPAWN_SETSIGDEF);
        if (r == 0)
                r = posix_spawn(&pid, path, &actions, &attr, argv, env);

        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attr);
        if (r != 0)
                return -r;

        *ret_pid = pid;
        return 0;
}

/* Keeps the last SPAWN_OUTPUT_MAX bytes; n is at most SPAWN_CHUNK. */
static void tail_append(char *buf, size_t *len, const char *p, size_t n) {
        if (*len + n > SPAWN_OUTPUT_MAX) {
                size_t drop = *len + n - SPAWN_OUTPUT_MAX;

                memmove(buf, buf + drop, *len - drop);
                *len -= drop;
        }
        memcpy(buf + *len, p, n);
        *len += n;
}

static bool has_exited(pid_t pid) {
        siginfo_t si = {};

        /* WNOWAIT: look without reaping, wait_for() collects the status later. */
        return waitid(P_PID, (id_t) pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

/* Reads the output until the pipe ends or the program exits. A daemon the program started in
 * the background may hold the pipe open for ever, so while the pipe is quiet we look every
 * SPAWN_EXIT_CHECK_MSEC whether the program itself is gone, and then take only what is already
 * buffered. (A pidfd would avoid the periodic look, but valgrind cannot run pidfd_open.) */
static int collect_output(int out_fd, pid_t pid, char *buf, size_t *len) {
        char chunk[SPAWN_CHUNK];
        bool exited = false;

        for (;;) {
                ssize_t n;

                if (!exited) {
                        struct pollfd p = { .fd = out_fd, .events = POLLIN };
                        int k;

                        k = poll(&p, 1, SPAWN_EXIT_CHECK_MSEC);
                        if (k < 0) {
                                if (errno == EINTR)
                                        continue;
                                return -errno;
                        }
                        if (k == 0) {
                                if (!has_exited(pid))
                                        continue;
                                if (fcntl(out_fd, F_SETFL, O_NONBLOCK) < 0)
                                        return -errno;
                                exited = true;
                        }
                }

                n = read(out_fd, chunk, sizeof(chunk));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return 0;
                        return -errno;
                }
                if (n == 0)
                        return 0;
                tail_append(buf, len, chunk, (size_t) n);

                /* Draining after exit is bounded: a background writer must not keep us here. */
                if (exited && *len >= SPAWN_OUTPUT_MAX)
                        return 0;
        }
}

static int wait_for(pid_t pid, int *ret_status) {
        int status;

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;

        if (WIFEXITED(status))
                *ret_status = WEXITSTATUS(status);
        else if (WIFSIGNALED(status))
                *ret_status = 128 + WTERMSIG(status);
        else
                *ret_status = 255;
        return 0;
}

int spawn_program(char **argv, char **environment_extra, char **ret_output, int *ret_status) {
        _cleanup_free_ char *path = NULL, *buf = NULL;
        _cleanup_strv_free_ char **env = NULL;
        _cleanup_close_ int out_read = -1, out_write = -1;
        int pipefd[2], status = 0, r, q;
        size_t len = 0;
        pid_t pid;

        if (!argv || !argv[0])
                return -EINVAL;

        r = spawn_find_program(argv[0], &path);
        if (r < 0)
                return r;
        r = spawn_environment(environment_extra, &env);
        if (r < 0)
                return r;
        buf = malloc(SPAWN_OUTPUT_MAX + 1);
        if (!buf)
                return -ENOMEM;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        out_read = pipefd[0];
        out_write = pipefd[1];

        r = spawn_child(path, argv, env, out_write, &pid);
        if (r < 0)
                return r;
        /* Only the child writes: the pipe must end when it and its children are done. */
        close(TAKE_FD(out_write));

        r = collect_output(out_read, pid, buf, &len);
        q = wait_for(pid, &status);
        if (r < 0)
                return r;
        if (q < 0)
                return q;

        buf[len] = 0;
        if (ret_output)
                *ret_output = TAKE_PTR(buf);
        *ret_status = status;
        return 0;
}

/* The last lines of output, at most SPAWN_ERROR_TAIL bytes, without trailing whitespace. */
static void output_tail(const char *output, const char **ret, int *ret_len) {
        size_t n = strlen(output);
        const char *start = output;

        while (n > 0 && strchr(" \t\r\n", output[n - 1]))
                n--;
        if (n > SPAWN_ERROR_TAIL) {
                const char *nl;

                start = output + n - SPAWN_ERROR_TAIL;
                nl = memchr(start, '\n', SPAWN_ERROR_TAIL);
                if (nl)
                        start = nl + 1;
        }
        *ret = start;
        *ret_len = (int) (output + n - start);
}

int spawn_program_checked(char **argv, char **environment_extra, char **ret_output,
                          char **ret_error) {
        _cleanup_free_ char *output = NULL, *command = NULL;
        const char *tail;
        int status, r, n;

        command = strv_join(argv, " ");
        if (!command)
                return -ENOMEM;

        r = spawn_program(argv, environment_extra, &output, &status);
        if (r == -ENOENT)
                return error_set(ret_error, r, "%s: program not found in %s", argv[0], SPAWN_PATH);
        if (r < 0)
                return error_set(ret_error, r, "could not run %s: %s", command, strerror(-r));

        if (status != 0) {
                output_tail(output, &tail, &n);
                if (n == 0)
                        return error_set(ret_error, -EPROTO, "%s failed with exit status %d",
                                         command, status);
                return error_set(ret_error, -EPROTO, "%s failed with exit status %d: %.*s",
                                 command, status, n, tail);
        }

        if (ret_output)
                *ret_output = TAKE_PTR(output);
        return 0;
}
