/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "command-journal.h"
#include "command.h"
#include "fs-util.h"
#include "json-util.h"
#include "log.h"
#include "run-command.h"
#include "str-util.h"
#include "worker.h"
#include "time-util.h"

#define KILL_GRACE (5 * USEC_PER_SEC)
#define LINE_MAX_BYTES (64U * 1024U)
#define TAIL_MAX (16U * 1024U)
#define BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"

Worker *worker_free(Worker *w) {
        if (!w)
                return NULL;
        sd_event_source_disable_unref(w->child);
        sd_event_source_disable_unref(w->output);
        sd_event_source_disable_unref(w->timer);
        if (w->output_fd >= 0)
                close(w->output_fd);
        if (w->log)
                fclose(w->log);
        redactor_done(&w->redactor);
        free(w->partial);
        free(w->tail);
        free(w->id);
        free(w->type);
        free(w->started_at);
        free(w->recipe);
        free(w);
        return NULL;
}

/* Keeps the last TAIL_MAX bytes of the log, cut at a line start. */
static void tail_append(Worker *w, const char *line) {
        _cleanup_free_ char *t = strf("%s%s\n", strempty(w->tail), line);
        size_t n;

        if (!t)
                return;
        n = strlen(t);
        if (n > TAIL_MAX) {
                const char *cut = strchr(t + n - TAIL_MAX, '\n');
                char *shorter = strdup(cut ? cut + 1 : t + n - TAIL_MAX);

                if (!shorter)
                        return;
                free(t);
                t = shorter;
        }
        free(w->tail);
        w->tail = TAKE_PTR(t);
}

static int read_boot_id(char **ret) {
        char *id = NULL;
        int k;

        k = read_full_file(BOOT_ID_PATH, 64, &id, NULL);
        if (k < 0)
                return k;
        id[strcspn(id, "\n")] = 0;
        *ret = id;
        return 0;
}

/* Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot. With the
 * boot id it tells a process from a later one that got the same pid. */
static int process_start_time(pid_t pid, int64_t *ret) {
        _cleanup_free_ char *path = strf("/proc/%d/stat", (int) pid), *text = NULL, *field = NULL;
        const char *p;
        int k;

        if (!path)
                return -ENOMEM;
        k = read_full_file(path, 4096, &text, NULL);
        if (k < 0)
                return k;
        /* The name (field 2) may hold spaces and parentheses: count from its end. */
        p = strrchr(text, ')');
        for (int i = 2; p && i < 22; i++)
                p = strchr(p + 1, ' ');
        if (!p)
                return -EBADMSG;
        field = strndup(p + 1, strcspn(p + 1, " \n"));
        if (!field)
                return -ENOMEM;
        return parse_int64(field, ret);
}

/* Records the step's process group in the journal (step.json), so that an agent restarted
 * after a crash can stop a step that its dead worker left running. */
static void record_step(Worker *w) {
        _cleanup_json_ json_object *doc = json_object_new_object();
        _cleanup_free_ char *boot_id = NULL;
        int64_t start = 0; /* 0: the leader is gone already */
        int k;

        k = doc ? read_boot_id(&boot_id) : -ENOMEM;
        if (k >= 0) {
                (void) process_start_time(w->step_pgid, &start);
                json_object_object_add(doc, "pgid", json_object_new_int64(w->step_pgid));
                json_object_object_add(doc, "boot_id", json_object_new_string(boot_id));
                json_object_object_add(doc, "start_time", json_object_new_int64(start));
                k = command_journal_write(w->agent->journal, w->id, "step.json", doc, WRITE_SYNC);
        }
        if (k < 0)
                log_warning("command %s: cannot record its step %d: %s", w->id, (int) w->step_pgid,
                            strerror(-k));
}

void worker_stop_orphaned_step(Agent *a, const char *id) {
        _cleanup_json_ json_object *doc = NULL;
        _cleanup_free_ char *boot_id = NULL;
        int64_t pgid, start, now_start;

        if (command_journal_read(a->journal, id, "step.json", &doc) < 0)
                return; /* no step ever started */
        pgid = json_object_get_int64(json_object_object_get(doc, "pgid"));
        start = json_object_get_int64(json_object_object_get(doc, "start_time"));
        /* After a reboot nothing of it runs; a live leader that started at another time is
         * someone else's process that got the number. */
        if (pgid <= 1 || pgid > INT_MAX || read_boot_id(&boot_id) < 0 ||
            !streq_ptr(json_get_string(doc, "boot_id"), boot_id))
                return;
        if (process_start_time((pid_t) pgid, &now_start) >= 0 && now_start != start)
                return;
        if (kill(-(pid_t) pgid, SIGKILL) >= 0)
                log_full(LOG_WARNING, &(LogFields){ .command_id = id },
                         "killed process group %d: a step its worker left running", (int) pgid);
}

static void handle_line(Worker *w, const char *text) {
        _cleanup_json_ json_object *line = NULL;
        _cleanup_free_ char *clean = NULL, *stamp = NULL, *resource = NULL;
        json_object *log, *step;

        if (json_parse_strict("worker", text, strlen(text), &line, NULL) < 0 ||
            !json_object_is_type(line, json_type_object)) {
                /* Not a protocol line: keep it, masked, as plain output. */
                line = NULL;
        }
        if (line && json_object_object_get_ex(line, "step", &step)) {
                w->step_pgid = (pid_t) json_object_get_int64(step);
                record_step(w);
                return;
        }
        log = line ? json_object_object_get(line, "log") : NULL;
        const char *message = log ? json_get_string(log, "message") : text;
        int priority = log ? json_object_get_int(json_object_object_get(log, "priority")) : LOG_INFO;
        LogFields f = {
                .command_id = w->id,
                .event = w->type,
                .cookbook = log ? json_get_string(log, "cookbook") : NULL,
                .recipe = log ? json_get_string(log, "recipe") : NULL,
                .resource = log ? json_get_string(log, "resource") : NULL,
                .app = log ? json_get_string(log, "app") : NULL,
        };

        clean = redact(&w->redactor, strempty(message));
        if (!clean)
                return;
        /* Resource names are interpolated from the attributes: they may hold a secret too. */
        if (f.resource) {
                resource = redact(&w->redactor, f.resource);
                if (!resource)
                        return;
                f.resource = resource;
        }
        log_full(priority, &f, "%s", clean);

        /* STATUS= names the recipe the command is in. */
        if (f.recipe && !streq_ptr(f.recipe, w->recipe)) {
                char *recipe = strdup(f.recipe);

                if (recipe) {
                        free(w->recipe);
                        w->recipe = recipe;
                        agent_update_status(w->agent);
                }
        }

        stamp = format_timestamp(now_usec(CLOCK_REALTIME));
        _cleanup_free_ char *entry = strf("%s %s%s%s", strempty(stamp), strempty(f.resource),
                                          f.resource ? ": " : "", clean);
        if (!entry)
                return;
        tail_append(w, entry);
        if (w->log) {
                fprintf(w->log, "%s\n", entry);
                fflush(w->log);
        }
}

static int on_output(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Worker *w = userdata;
        char buf[8192];
        ssize_t n;

        (void) revents;
        n = read(fd, buf, sizeof(buf));
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                n = 0;
        }
        if (n == 0) {
                sd_event_source_set_enabled(s, SD_EVENT_OFF);
                if (w->partial_len > 0) {
                        handle_line(w, w->partial);
                        w->partial_len = 0;
                }
                return 0;
        }
        for (ssize_t i = 0; i < n; i++) {
                if (buf[i] == '\n' || w->partial_len >= LINE_MAX_BYTES) {
                        w->partial[w->partial_len] = 0;
                        handle_line(w, w->partial);
                        w->partial_len = 0;
                        if (buf[i] == '\n')
                                continue;
                }
                w->partial[w->partial_len++] = buf[i];
        }
        return 0;
}

static json_object *finish_result(Worker *w, const siginfo_t *si) {
        _cleanup_free_ char *finished_at = format_timestamp(now_usec(CLOCK_REALTIME));
        json_object *result = NULL, *report;
        const char *reason = NULL;
        _cleanup_free_ char *owned = NULL;

        if (!w->timed_out && !w->abandoned && si->si_code == CLD_EXITED && si->si_status == 0 &&
            command_journal_read(w->agent->journal, w->id, "result.json", &result) >= 0 &&
            json_object_is_type(result, json_type_object)) {
                ;
        } else {
                json_object_put(result);
                result = json_object_new_object();
                if (!result)
                        return NULL;
                json_object_object_add(result, "status", json_object_new_string("failed"));
                if (w->timed_out) {
                        owned = strf("timeout: the command ran longer than %" PRIu64 " s",
                                     w->timeout / USEC_PER_SEC);
                        json_object_object_add(result, "exit_reason", json_object_new_string("timeout"));
                } else if (w->abandoned) {
                        reason = "interrupted: the agent was stopped during the command";
                        json_object_object_add(result, "exit_reason",
                                               json_object_new_string("interrupted"));
                } else if (si->si_code == CLD_EXITED)
                        owned = strf("the command worker exited with status %d", si->si_status);
                else
                        owned = strf("the command worker was killed by signal %d (%s)",
                                     si->si_status, strsignal(si->si_status));
                json_object_object_add(result, "reason",
                                       json_object_new_string(owned ?: strempty(reason)));
        }

        report = json_object_object_get(result, "report");
        json_object_object_add(result, "id", json_object_new_string(w->id));
        json_object_object_add(result, "type", json_object_new_string(w->type));
        json_object_object_add(result, "started_at", json_object_new_string(w->started_at));
        json_object_object_add(result, "finished_at", json_object_new_string(strempty(finished_at)));
        json_object_object_add(result, "duration_ms",
                               json_object_new_int64((int64_t) ((now_usec(CLOCK_MONOTONIC) - w->started) / 1000)));
        if (!json_object_object_get_ex(result, "exit_reason", NULL))
                json_object_object_add(
                        result, "exit_reason",
                        json_object_new_string(streq_ptr(json_get_string(result, "status"),
                                                         "successful")
                                                       ? "completed"
                                                       : "failed"));
        json_object_object_add(
                result, "resources_changed",
                json_object_new_int(json_object_get_int(json_object_object_get(
                        json_object_object_get(report, "totals"), "changed"))));
        json_object_object_add(result, "log_tail", json_object_new_string(strempty(w->tail)));
        /* The report names resources and changes with the values the recipes saw. */
        (void) redact_json(&w->redactor, result);
        return result;
}

static int on_worker_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Worker *w = userdata;
        _cleanup_json_ json_object *result = NULL;

        (void) s;
        /* Drain what the worker said before it went. */
        if (w->output && sd_event_source_get_enabled(w->output, NULL) > 0)
                while (on_output(w->output, w->output_fd, EPOLLIN, w) == 0 &&
                       sd_event_source_get_enabled(w->output, NULL) > 0)
                        ;
        /* Its step must not outlive it. */
        if (w->step_pgid > 0)
                (void) kill(-w->step_pgid, SIGKILL);
        result = finish_result(w, si);
        agent_worker_finished(w->agent, result);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Worker *w = userdata;

        (void) s;
        (void) usec;
        if (!w->timed_out && !w->abandoned) {
                w->timed_out = true;
                log_full(LOG_ERR, &(LogFields){ .command_id = w->id, .event = w->type },
                         "timed out after %" PRIu64 " s: stopping it", w->timeout / USEC_PER_SEC);
                worker_kill(w, NULL);
                return 0;
        }
        /* The grace is over. */
        if (w->step_pgid > 0)
                (void) kill(-w->step_pgid, SIGKILL);
        (void) kill(-w->pid, SIGKILL);
        return 0;
}

void worker_kill(Worker *w, const char *why) {
        if (why) {
                w->abandoned = true;
                log_full(LOG_WARNING, &(LogFields){ .command_id = w->id, .event = w->type },
                         "stopping the command: %s", why);
        }
        if (w->step_pgid > 0)
                (void) kill(-w->step_pgid, SIGTERM);
        (void) kill(-w->pid, SIGTERM);
        (void) sd_event_source_set_time_relative(w->timer, KILL_GRACE);
        (void) sd_event_source_set_enabled(w->timer, SD_EVENT_ONESHOT);
}

int worker_start(Agent *a, json_object *command, json_object *stack, usec_t timeout,
                 Worker **ret) {
        Worker *w = calloc(1, sizeof(Worker));
        _cleanup_free_ char *log_path = NULL;
        pid_t pid, daemon_pid = getpid();
        int pipefd[2], k;

        if (!w)
                return -ENOMEM;
        w->agent = a;
        w->output_fd = -1;
        w->timeout = timeout;
        w->id = strdup(command_id(command));
        w->type = strdup(command_type_to_string(command_type(command)));
        w->partial = malloc(LINE_MAX_BYTES + 1);
        w->started_at = format_timestamp(now_usec(CLOCK_REALTIME));
        if (!w->id || !w->type || !w->partial || !w->started_at) {
                worker_free(w);
                return -ENOMEM;
        }
        k = redactor_add_from(&w->redactor, command);
        if (k >= 0)
                k = redactor_add_from(&w->redactor, stack);
        if (k < 0) {
                worker_free(w);
                return k;
        }

        k = mkdir_parents(a->config->log_dir, 0750);
        log_path = strf("%s/%s.log", a->config->log_dir, w->id);
        if (k >= 0 && log_path)
                w->log = fopen(log_path, "ae");
        if (!w->log)
                log_warning("command %s: cannot open its log file %s: %m", w->id, strempty(log_path));

        if (pipe2(pipefd, O_CLOEXEC) < 0) {
                k = -errno;
                worker_free(w);
                return k;
        }
        /* Nothing the daemon buffered for stdout goes down the worker's pipe. */
        (void) fflush(stdout);
        pid = fork();
        if (pid < 0) {
                k = -errno;
                close(pipefd[0]);
                close(pipefd[1]);
                worker_free(w);
                return k;
        }
        if (pid == 0) {
                sigset_t all;

                /* It dies with the daemon, even one that died before this line. */
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != daemon_pid)
                        _exit(127);
                /* Its own process group, the signals the daemon blocked unblocked, the output
                 * pipe as stdout. stderr stays the daemon's (the journal). */
                (void) setpgid(0, 0);
                sigemptyset(&all);
                (void) sigprocmask(SIG_SETMASK, &all, NULL);
                if (dup2(pipefd[1], STDOUT_FILENO) < 0)
                        _exit(127);
                /* No exec: loading the binary and its libraries again would cost more than
                 * most commands. The worker keeps no descriptor of the daemon's but stdin,
                 * stdout and stderr, and never touches its loop, connections or log state
                 * (log.c): run_command() opens what it needs. */
                if (close_range(3, ~0U, 0) < 0)
                        _exit(127);
                /* The daemon's configuration, not whatever the file says now: an edit takes
                 * effect at reload, and a reload that was refused never does. */
                _exit(run_command(a->config, a->journal, command, stack));
        }
        close(pipefd[1]);
        (void) setpgid(pid, pid);
        w->pid = pid;
        w->started = now_usec(CLOCK_MONOTONIC);
        w->output_fd = pipefd[0];
        (void) fcntl(w->output_fd, F_SETFL, O_NONBLOCK);

        k = sd_event_add_io(a->event, &w->output, w->output_fd, EPOLLIN, on_output, w);
        if (k >= 0)
                k = sd_event_add_child(a->event, &w->child, pid, WEXITED, on_worker_exit, w);
        if (k >= 0)
                k = sd_event_add_time_relative(a->event, &w->timer, CLOCK_MONOTONIC,
                                               timeout ?: UINT64_MAX / 2, USEC_PER_SEC / 10,
                                               on_timer, w);
        if (k < 0) {
                (void) kill(-pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                worker_free(w);
                return k;
        }
        /* Output before exit: drain the pipe before the exit handler runs. */
        (void) sd_event_source_set_priority(w->output, SD_EVENT_PRIORITY_NORMAL - 1);
        *ret = w;
        return 0;
}
