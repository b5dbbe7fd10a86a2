/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "runtime.h"
#include "step-runner.h"
#include "str-util.h"
#include "time-util.h"

#define STEP_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* How often we look whether the rest of the process group is gone once the main process has
 * exited: nothing signals that, so we have to ask. */
#define GROUP_POLL_INTERVAL (20 * USEC_PER_MSEC)

/* How often we look whether the main process has exited when there is no pidfd to tell us
 * (kernels before 5.3, valgrind). */
#define EXIT_POLL_INTERVAL (10 * USEC_PER_MSEC)

/* At most this much output is read per wake-up, so that a step writing without pause cannot
 * keep us from noticing its exit or its timeout. */
#define READ_BURST_MAX (256U * 1024U)

/* The fd the child keeps its error pipe on until exec closes it. */
#define CHILD_ERROR_FD 3

void step_result_done(StepResult *r) {
        if (!r)
                return;
        free(r->output);
        r->output = NULL;
}

int step_argv_from_json(json_object *command, char ***ret, char **ret_error) {
        _cleanup_strv_free_ char **argv = NULL;

        if (json_object_is_type(command, json_type_string)) {
                const char *s = json_object_get_string(command);

                if (s[0] == '\0')
                        return error_set(ret_error, -EINVAL, "command is an empty string");
                if (strv_extend(&argv, "/bin/sh") < 0 || strv_extend(&argv, "-c") < 0 ||
                    strv_extend(&argv, s) < 0)
                        return -ENOMEM;
        } else if (json_object_is_type(command, json_type_array)) {
                size_t n = json_object_array_length(command);

                if (n == 0)
                        return error_set(ret_error, -EINVAL, "command is an empty list");
                for (size_t i = 0; i < n; i++) {
                        json_object *a = json_object_array_get_idx(command, i);

                        if (!json_object_is_type(a, json_type_string))
                                return error_set(ret_error, -EINVAL,
                                                 "command[%zu]: expected a string, got %s", i,
                                                 json_type_to_name(json_object_get_type(a)));
                        if (strv_extend(&argv, json_object_get_string(a)) < 0)
                                return -ENOMEM;
                }
                if (argv[0][0] == '\0')
                        return error_set(ret_error, -EINVAL, "command[0] is an empty string");
        } else
                return error_set(ret_error, -EINVAL,
                                 "command: expected a list of strings or a shell string, got %s",
                                 json_type_to_name(json_object_get_type(command)));

        *ret = TAKE_PTR(argv);
        return 0;
}

int step_runner_init(void) {
        if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
                return -errno;
        return 0;
}

/* The account a step runs as, looked up before fork: NSS is not safe to call in a child of a
 * possibly multi-threaded process. */
typedef struct StepUser {
        char *name;
        char *home;
        uid_t uid;
        gid_t gid;
        gid_t *groups;
        int n_groups;
} StepUser;

static void step_user_done(StepUser *u) {
        free(u->name);
        free(u->home);
        free(u->groups);
}

static int step_user_lookup(const char *user, StepUser *ret, char **ret_error) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_free_ gid_t *groups = NULL;
        struct passwd pw, *result = NULL;
        size_t bufsize = 1024;
        uint32_t uid;
        bool numeric;
        int n_groups = 16, r;

        numeric = parse_uint32(user, &uid) >= 0;
        for (;;) {
                buf = malloc(bufsize);
                if (!buf)
                        return -ENOMEM;
                if (numeric)
                        r = getpwuid_r((uid_t) uid, &pw, buf, bufsize, &result);
                else
                        r = getpwnam_r(user, &pw, buf, bufsize, &result);
                if (r != ERANGE)
                        break;
                if (bufsize >= 1024U * 1024U)
                        return error_set(ret_error, -ERANGE, "user '%s': account entry too long",
                                         user);
                bufsize *= 2;
                free(TAKE_PTR(buf));
        }
        if (r != 0)
                return error_set(ret_error, -r, "cannot look up user '%s': %s", user, strerror(r));
        if (!result)
                return error_set(ret_error, -ESRCH, "unknown user '%s'", user);

        for (;;) {
                int n = n_groups;

                groups = malloc(sizeof(gid_t) * (size_t) n);
                if (!groups)
                        return -ENOMEM;
                if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) >= 0) {
                        n_groups = n;
                        break;
                }
                /* getgrouplist() says how many there are when the buffer was too small. */
                if (n <= n_groups || n > NGROUPS_MAX)
                        return error_set(ret_error, -EINVAL,
                                         "cannot list the groups of user '%s'", pw.pw_name);
                n_groups = n;
                free(TAKE_PTR(groups));
        }

        _cleanup_free_ char *name = strdup(pw.pw_name);
        _cleanup_free_ char *home = strdup(pw.pw_dir ? pw.pw_dir : "/");
        if (!name || !home)
                return -ENOMEM;

        *ret = (StepUser) {
                .name = TAKE_PTR(name),
                .home = TAKE_PTR(home),
                .uid = pw.pw_uid,
                .gid = pw.pw_gid,
                .groups = TAKE_PTR(groups),
                .n_groups = n_groups,
        };
        return 0;
}

/* Sets KEY=VALUE in env, replacing an entry with the same key. */
static int env_set(char ***env, const char *assignment) {
        size_t klen = strcspn(assignment, "=") + 1;

        for (char **e = *env; e && *e; e++)
                if (strncmp(*e, assignment, klen) == 0) {
                        char *copy = strdup(assignment);

                        if (!copy)
                                return -ENOMEM;
                        free(*e);
                        *e = copy;
                        return 0;
                }
        return strv_extend(env, assignment);
}

static int step_environment(const StepUser *u, char **extra, char ***ret, char **ret_error) {
        _cleanup_strv_free_ char **env = NULL;
        _cleanup_free_ char *home = strf("HOME=%s", u->home);
        _cleanup_free_ char *user = strf("USER=%s", u->name);
        _cleanup_free_ char *logname = strf("LOGNAME=%s", u->name);

        if (!home || !user || !logname)
                return -ENOMEM;
        if (strv_extend(&env, "PATH=" STEP_PATH) < 0 || strv_extend(&env, home) < 0 ||
            strv_extend(&env, "LANG=C.UTF-8") < 0 || strv_extend(&env, user) < 0 ||
            strv_extend(&env, logname) < 0)
                return -ENOMEM;

        for (char **e = extra; e && *e; e++) {
                const char *eq = strchr(*e, '=');

                if (!eq || eq == *e)
                        return error_set(ret_error, -EINVAL,
                                         "environment entry '%s' is not KEY=VALUE", *e);
                if (env_set(&env, *e) < 0)
                        return -ENOMEM;
        }

        *ret = TAKE_PTR(env);
        return 0;
}

/* What the child tells the parent, through the error pipe, when it cannot get to exec. */
typedef enum ChildStage {
        STAGE_SIGNALS,
        STAGE_SESSION,
        STAGE_STDIO,
        STAGE_SETGROUPS,
        STAGE_SETRESGID,
        STAGE_SETRESUID,
        STAGE_REGAIN_ROOT,
        STAGE_NO_NEW_PRIVS,
        STAGE_CLOSE_FDS,
        STAGE_CHDIR,
        STAGE_EXEC,
} ChildStage;

typedef struct ChildFailure {
        int stage;
        int error;
} ChildFailure;

/* Everything the child needs, prepared before fork so the child allocates nothing. */
typedef struct ChildPlan {
        char **argv;
        char **envp;
        const char *cwd; /* NULL: home, else / */
        const StepUser *user;
        bool drop;       /* we are root and switch to the user */
        int null_fd;
        int output_fd;
        int error_fd;
} ChildPlan;

_noreturn_ static void child_fail(int error_fd, ChildStage stage, int error) {
        ChildFailure f = { .stage = stage, .error = error };

        (void) !write(error_fd, &f, sizeof(f));
        _exit(127);
}

/* Signal dispositions set to SIG_IGN and the signal mask survive exec: the agent's choices
 * must not leak into the step (an ignored SIGTERM would make a timeout wait for SIGKILL). */
static int child_reset_signals(void) {
        sigset_t none;

        for (int sig = 1; sig < NSIG; sig++) {
                struct sigaction old;

                if (sig == SIGKILL || sig == SIGSTOP)
                        continue;
                /* sigaction() refuses the signals libc keeps for itself: those stay as they are. */
                if (sigaction(sig, NULL, &old) < 0 || old.sa_handler == SIG_DFL)
                        continue;
                if (sigaction(sig, &(struct sigaction) { .sa_handler = SIG_DFL }, NULL) < 0)
                        return -errno;
        }
        sigemptyset(&none);
        if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
                return -errno;
        return 0;
}

/* Closes every fd from `from` up, where close_range() does not exist yet. */
static int child_close_fds_proc(int from) {
        int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char buf[4096];

        if (dfd < 0)
                return -errno;
        for (;;) {
                long n = syscall(SYS_getdents64, dfd, buf, sizeof(buf));

                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                for (long off = 0; off < n;) {
                        /* struct linux_dirent64: ino, off, reclen, type, name */
                        unsigned short reclen;
                        const char *name = buf + off + 19;
                        uint32_t fd;

                        memcpy(&reclen, buf + off + 16, sizeof(reclen));
                        off += reclen;
                        if (parse_uint32(name, &fd) < 0 || (int) fd < from || (int) fd == dfd)
                                continue;
                        close((int) fd);
                }
        }
        close(dfd);
        return 0;
}

/* Runs in the forked child: only async-signal-safe calls, no allocation. */
_noreturn_ static void step_child(const ChildPlan *p) {
        int error_fd = p->error_fd, null_fd = p->null_fd, output_fd = p->output_fd, r;
        const StepUser *u = p->user;

        r = child_reset_signals();
        if (r < 0)
                child_fail(error_fd, STAGE_SIGNALS, -r);

        /* Our own session and process group, so a timeout can signal the whole tree. */
        if (setsid() < 0)
                child_fail(error_fd, STAGE_SESSION, errno);

        /* Lift every fd we keep above the stdio range first, so the dup2()s below cannot
         * overwrite one another whatever numbers the parent's pipes got. */
        error_fd = fcntl(error_fd, F_DUPFD_CLOEXEC, CHILD_ERROR_FD + 1);
        if (error_fd < 0)
                child_fail(p->error_fd, STAGE_STDIO, errno);
        null_fd = fcntl(null_fd, F_DUPFD_CLOEXEC, CHILD_ERROR_FD + 1);
        output_fd = fcntl(output_fd, F_DUPFD_CLOEXEC, CHILD_ERROR_FD + 1);
        if (null_fd < 0 || output_fd < 0)
                child_fail(error_fd, STAGE_STDIO, errno);
        if (dup2(null_fd, STDIN_FILENO) < 0 || dup2(output_fd, STDOUT_FILENO) < 0 ||
            dup2(output_fd, STDERR_FILENO) < 0)
                child_fail(error_fd, STAGE_STDIO, errno);
        /* The error pipe stays open (close-on-exec) at a fixed number until exec. */
        if (dup3(error_fd, CHILD_ERROR_FD, O_CLOEXEC) < 0)
                child_fail(error_fd, STAGE_STDIO, errno);
        error_fd = CHILD_ERROR_FD;

        if (p->drop) {
                if (setgroups((size_t) u->n_groups, u->groups) < 0)
                        child_fail(error_fd, STAGE_SETGROUPS, errno);
                if (setresgid(u->gid, u->gid, u->gid) < 0)
                        child_fail(error_fd, STAGE_SETRESGID, errno);
                if (setresuid(u->uid, u->uid, u->uid) < 0)
                        child_fail(error_fd, STAGE_SETRESUID, errno);
                if (u->uid != 0 && (setresuid(0, 0, 0) >= 0 || setuid(0) >= 0)) {
                        ChildFailure f = { .stage = STAGE_REGAIN_ROOT };

                        (void) !write(error_fd, &f, sizeof(f));
                        abort();
                }
        }

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                child_fail(error_fd, STAGE_NO_NEW_PRIVS, errno);

        /* The error pipe (CHILD_ERROR_FD) closes itself at exec; everything above it goes now. */
        if (close_range(CHILD_ERROR_FD + 1, ~0U, 0) < 0) {
                r = errno == ENOSYS ? child_close_fds_proc(CHILD_ERROR_FD + 1) : -errno;
                if (r < 0)
                        child_fail(error_fd, STAGE_CLOSE_FDS, -r);
        }

        if (p->cwd) {
                if (chdir(p->cwd) < 0)
                        child_fail(error_fd, STAGE_CHDIR, errno);
        } else if (chdir(u->home) < 0 && chdir("/") < 0)
                child_fail(error_fd, STAGE_CHDIR, errno);

        /* execvpe() searches the PATH of environ, not of envp. */
        environ = p->envp;
        execvpe(p->argv[0], p->argv, p->envp);

        r = errno;
        ChildFailure f = { .stage = STAGE_EXEC, .error = r };
        (void) !write(error_fd, &f, sizeof(f));
        /* What a shell answers: 127 for a command not found, 126 for one it cannot run. */
        _exit(r == ENOENT ? 127 : 126);
}

static const char *stage_what(ChildStage stage) {
        switch (stage) {
        case STAGE_SIGNALS:
                return "reset signal handling";
        case STAGE_SESSION:
                return "create a session";
        case STAGE_STDIO:
                return "set up standard input and output";
        case STAGE_SETGROUPS:
                return "set the supplementary groups";
        case STAGE_SETRESGID:
                return "set the group id";
        case STAGE_SETRESUID:
                return "set the user id";
        case STAGE_NO_NEW_PRIVS:
                return "set no_new_privs";
        case STAGE_CLOSE_FDS:
                return "close inherited file descriptors";
        default:
                return "start";
        }
}

/* The output of a step: the tail we keep, and the line we are assembling for on_line. */
typedef struct StepOutput {
        char *tail; /* STEP_OUTPUT_MAX + 1 bytes */
        size_t len;
        bool truncated;
        char *line; /* STEP_OUTPUT_MAX + 1 bytes, only with on_line */
        size_t line_len;
        void (*on_line)(const char *line, void *userdata);
        void *userdata;
} StepOutput;

static void step_output_done(StepOutput *o) {
        free(o->tail);
        free(o->line);
}

static void step_output_flush_line(StepOutput *o) {
        o->line[o->line_len] = '\0';
        o->on_line(o->line, o->userdata);
        o->line_len = 0;
}

static void step_output_append(StepOutput *o, const char *p, size_t n) {
        if (n >= STEP_OUTPUT_MAX) {
                o->truncated = o->truncated || o->len > 0 || n > STEP_OUTPUT_MAX;
                memcpy(o->tail, p + n - STEP_OUTPUT_MAX, STEP_OUTPUT_MAX);
                o->len = STEP_OUTPUT_MAX;
        } else {
                if (o->len + n > STEP_OUTPUT_MAX) {
                        size_t drop = o->len + n - STEP_OUTPUT_MAX;

                        memmove(o->tail, o->tail + drop, o->len - drop);
                        o->len -= drop;
                        o->truncated = true;
                }
                memcpy(o->tail + o->len, p, n);
                o->len += n;
        }

        if (!o->on_line)
                return;
        for (size_t i = 0; i < n; i++) {
                if (p[i] == '\n') {
                        step_output_flush_line(o);
                        continue;
                }
                /* A line longer than what we keep is handed out in pieces. */
                if (o->line_len == STEP_OUTPUT_MAX)
                        step_output_flush_line(o);
                o->line[o->line_len++] = p[i];
        }
}

/* Reads what the pipe holds now. Returns 0 at end of file, 1 when it would block. */
static int step_output_read(StepOutput *o, int fd, size_t max) {
        char buf[16384];
        size_t total = 0;

        while (total < max) {
                ssize_t n = read(fd, buf, MIN(sizeof(buf), max - total));

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return 1;
                        return -errno;
                }
                if (n == 0)
                        return 0;
                step_output_append(o, buf, (size_t) n);
                total += (size_t) n;
        }
        return 1;
}

/* Reaps the orphans of the group that were re-parented to us, then says whether any process
 * of the group is left. */
static bool process_group_gone(pid_t pgid) {
        while (waitpid(-pgid, NULL, WNOHANG) > 0)
                ;
        return kill(-pgid, 0) < 0 && errno == ESRCH;
}

typedef enum StepPhase {
        PHASE_RUNNING,
        PHASE_TERM_SENT,
        PHASE_KILL_SENT,
} StepPhase;

/* The earlier of two deadlines, 0 meaning none. */
static usec_t earliest(usec_t a, usec_t b) {
        if (a == 0)
                return b;
        if (b == 0)
                return a;
        return MIN(a, b);
}

/* Waits for the step: collects output, enforces the timeout, and once its main process is
 * gone clears out the rest of its process group. Closes *output_fd when it is done with it.
 * pidfd (may be -1) only wakes us up when the main process exits; without it we look every
 * EXIT_POLL_INTERVAL. */
static int step_wait(const StepSpec *spec, pid_t pid, int pidfd, int *output_fd, StepOutput *o,
                     usec_t start, int *ret_status, bool *ret_timed_out) {
        usec_t grace = spec->kill_grace > 0 ? spec->kill_grace : STEP_DEFAULT_GRACE;
        usec_t deadline = spec->timeout > 0 ? start + spec->timeout : 0, phase_deadline = 0;
        StepPhase phase = PHASE_RUNNING;
        bool exited = false, timed_out = false;
        int status = 0, r;

        for (;;) {
                struct pollfd fds[2];
                usec_t now, wake = 0;
                nfds_t n = 0;
                pid_t w;

                if (!exited) {
                        w = waitpid(pid, &status, WNOHANG);
                        if (w < 0)
                                return -errno;
                        exited = w > 0;
                        /* The step is over: take what it wrote before it exited, but do not
                         * wait for background children that still hold the pipe. Closing our
                         * end makes their further writes fail. */
                        if (exited && *output_fd >= 0) {
                                int size = fcntl(*output_fd, F_GETPIPE_SZ);

                                r = step_output_read(o, *output_fd,
                                                     size > 0 ? (size_t) size : READ_BURST_MAX);
                                if (r < 0)
                                        return r;
                                close(TAKE_FD(*output_fd));
                        }
                }

                now = now_usec(CLOCK_MONOTONIC);
                if (exited && process_group_gone(pid))
                        break;
                if (phase == PHASE_RUNNING && (exited || (deadline > 0 && now >= deadline))) {
                        timed_out = !exited;
                        (void) kill(-pid, SIGTERM);
                        phase = PHASE_TERM_SENT;
                        phase_deadline = now + grace;
                } else if (phase == PHASE_TERM_SENT && now >= phase_deadline) {
                        (void) kill(-pid, SIGKILL);
                        phase = PHASE_KILL_SENT;
                        phase_deadline = now + grace;
                } else if (phase == PHASE_KILL_SENT && exited && now >= phase_deadline)
                        break; /* only zombies that someone else must reap can be left */

                if (phase == PHASE_RUNNING)
                        wake = deadline;
                else
                        wake = phase_deadline;
                if (exited)
                        wake = earliest(wake, now + GROUP_POLL_INTERVAL);
                else if (pidfd < 0)
                        wake = earliest(wake, now + EXIT_POLL_INTERVAL);

                if (*output_fd >= 0)
                        fds[n++] = (struct pollfd) { .fd = *output_fd, .events = POLLIN };
                if (!exited && pidfd >= 0)
                        fds[n++] = (struct pollfd) { .fd = pidfd, .events = POLLIN };
                if (poll(fds, n,
                         wake == 0 ? -1
                                   : (int) MIN((wake - MIN(wake, now) + USEC_PER_MSEC - 1) /
                                                       USEC_PER_MSEC,
                                               (usec_t) INT_MAX)) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }

                if (*output_fd >= 0 && fds[0].revents != 0) {
                        r = step_output_read(o, *output_fd, READ_BURST_MAX);
                        if (r < 0)
                                return r;
                        if (r == 0)
                                close(TAKE_FD(*output_fd));
                }
        }

        *ret_status = status;
        *ret_timed_out = timed_out;
        return 0;
}

/* Stops a step we cannot go on with, so it leaves no process behind. */
static void step_abandon(pid_t pid) {
        (void) kill(-pid, SIGKILL);
        (void) kill(pid, SIGKILL);
        (void) waitpid(pid, NULL, 0);
        (void) process_group_gone(pid);
}

static int step_start_error(const StepSpec *spec, const StepUser *u, const ChildFailure *f,
                            char **ret_error) {
        switch (f->stage) {
        case STAGE_CHDIR:
                return error_set(ret_error, -f->error,
                                 "cannot change to directory '%s' as user '%s': %s",
                                 spec->cwd ? spec->cwd : u->home, u->name, strerror(f->error));
        case STAGE_REGAIN_ROOT:
                return error_set(ret_error, -EPERM,
                                 "step as user '%s' could regain root after dropping privileges; "
                                 "refusing to run it",
                                 u->name);
        default:
                return error_set(ret_error, -f->error, "cannot %s for a step as user '%s': %s",
                                 stage_what(f->stage), u->name, strerror(f->error));
        }
}

/* Waits for the child to exec (end of file on the close-on-exec error pipe) or to report why
 * it could not. Returns 0 when it exec'd or when exec itself failed (*ret_exec_error then holds
 * the errno), < 0 when it failed before. */
static int step_wait_exec(const StepSpec *spec, const StepUser *u, int error_fd,
                          int *ret_exec_error, char **ret_error) {
        ChildFailure f;
        ssize_t n;

        do
                n = read(error_fd, &f, sizeof(f));
        while (n < 0 && errno == EINTR);
        if (n == 0) {
                *ret_exec_error = 0;
                return 0;
        }
        if (n != (ssize_t) sizeof(f))
                return error_set(ret_error, -EIO, "step as user '%s' failed to start", u->name);
        if (f.stage == STAGE_EXEC) {
                *ret_exec_error = f.error;
                return 0;
        }
        return step_start_error(spec, u, &f, ret_error);
}

int step_run(const StepSpec *spec, StepResult *ret, char **ret_error) {
        const char *user = spec->user ? spec->user : RUNTIME_DEFAULT_USER;
        _cleanup_(step_user_done) StepUser u = {};
        _cleanup_(step_output_done) StepOutput o = {
                .on_line = spec->on_line,
                .userdata = spec->userdata,
        };
        _cleanup_strv_free_ char **envp = NULL;
        _cleanup_close_ int null_fd = -1, pidfd = -1;
        int output_pipe[2], error_pipe[2], status = 0, exec_error = 0, r;
        bool timed_out = false;
        sigset_t all, saved;
        usec_t start;
        pid_t pid;

        if (!spec->argv || !spec->argv[0])
                return error_set(ret_error, -EINVAL, "step has no command");

        r = step_user_lookup(user, &u, ret_error);
        if (r < 0)
                return r;
        if (u.uid == 0 && !spec->allow_root)
                return error_set(ret_error, -EPERM,
                                 "step runs as root (user '%s'), which is refused; set "
                                 "privileged_steps: allow in the agent configuration to permit it",
                                 user);
        if (geteuid() != 0 && u.uid != geteuid())
                return error_set(ret_error, -EPERM,
                                 "cannot run a step as user '%s' (uid %u): this process runs as "
                                 "uid %u, not as root",
                                 user, (unsigned) u.uid, (unsigned) geteuid());

        r = step_environment(&u, spec->environment, &envp, ret_error);
        if (r < 0)
                return r;

        o.tail = malloc(STEP_OUTPUT_MAX + 1);
        if (!o.tail)
                return -ENOMEM;
        if (o.on_line) {
                o.line = malloc(STEP_OUTPUT_MAX + 1);
                if (!o.line)
                        return -ENOMEM;
        }

        null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null_fd < 0) {
                r = -errno;
                return error_set(ret_error, r, "cannot open /dev/null: %s", strerror(-r));
        }
        if (pipe2(output_pipe, O_CLOEXEC) < 0) {
                r = -errno;
                return error_set(ret_error, r, "cannot create a pipe: %s", strerror(-r));
        }
        _cleanup_close_ int output_fd = output_pipe[0], output_child = output_pipe[1];
        if (pipe2(error_pipe, O_CLOEXEC) < 0) {
                r = -errno;
                return error_set(ret_error, r, "cannot create a pipe: %s", strerror(-r));
        }
        _cleanup_close_ int error_fd = error_pipe[0], error_child = error_pipe[1];
        /* Only our end: the step's stdout must stay blocking. */
        if (fcntl(output_fd, F_SETFL, O_NONBLOCK) < 0)
                return -errno;

        ChildPlan plan = {
                .argv = spec->argv,
                .envp = envp,
                .cwd = spec->cwd,
                .user = &u,
                .drop = geteuid() == 0,
                .null_fd = null_fd,
                .output_fd = output_child,
                .error_fd = error_child,
        };

        /* Signals wait from fork until on_started has told the supervisor about the step: one
         * that ends us in between (the agent's SIGTERM) would leave the step running with no
         * one knowing its process group. The child resets its mask first thing. */
        sigfillset(&all);
        if (sigprocmask(SIG_BLOCK, &all, &saved) < 0)
                return -errno;
        start = now_usec(CLOCK_MONOTONIC);
        pid = fork();
        if (pid < 0) {
                r = -errno;
                (void) sigprocmask(SIG_SETMASK, &saved, NULL);
                return error_set(ret_error, r, "cannot fork a step: %s", strerror(-r));
        }
        if (pid == 0)
                step_child(&plan);

        close(TAKE_FD(output_child));
        close(TAKE_FD(error_child));
        if (spec->on_started)
                spec->on_started(pid, spec->userdata);
        (void) sigprocmask(SIG_SETMASK, &saved, NULL);

        pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (pidfd < 0 && errno != ENOSYS) {
                r = -errno;
                step_abandon(pid);
                return error_set(ret_error, r, "cannot watch the step's process: %s",
                                 strerror(-r));
        }

        r = step_wait_exec(spec, &u, error_fd, &exec_error, ret_error);
        if (r < 0) {
                step_abandon(pid);
                return r;
        }
        if (exec_error != 0) {
                /* Like a shell: a command that cannot run is a step that exits 127 or 126,
                 * and says why in its output. */
                _cleanup_free_ char *msg = strf("cannot execute '%s': %s\n", spec->argv[0],
                                                strerror(exec_error));
                if (!msg) {
                        step_abandon(pid);
                        return -ENOMEM;
                }
                step_output_append(&o, msg, strlen(msg));
        }

        r = step_wait(spec, pid, pidfd, &output_fd, &o, start, &status, &timed_out);
        if (r < 0) {
                step_abandon(pid);
                return error_set(ret_error, r, "cannot wait for the step: %s", strerror(-r));
        }
        if (o.on_line && o.line_len > 0)
                step_output_flush_line(&o);

        o.tail[o.len] = '\0';
        char *output = realloc(o.tail, o.len + 1);
        if (output)
                o.tail = output;

        /* When exec failed, the status is the shell's answer, whatever the child's exit code
         * (a child still under a checker such as valgrind may exit with the checker's code). */
        *ret = (StepResult) {
                .exit_status = exec_error != 0              ? (exec_error == ENOENT ? 127 : 126)
                               : WIFEXITED(status)          ? WEXITSTATUS(status)
                                                            : -1,
                .signal = exec_error == 0 && WIFSIGNALED(status) ? WTERMSIG(status) : 0,
                .timed_out = timed_out,
                .output = TAKE_PTR(o.tail),
                .output_truncated = o.truncated,
                .duration = now_usec(CLOCK_MONOTONIC) - start,
        };
        return 0;
}
