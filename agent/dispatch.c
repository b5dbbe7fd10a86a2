/* SPDX-License-Identifier: MIT */
/* Commands from arrival to delivered result: journal, queue (configure bursts coalesce), one
 * worker at a time, outbox, control plane. */
#include "agent.h"
#include "command.h"
#include "fs-util.h"
#include "json-util.h"
#include "lifecycle.h"
#include "log.h"
#include "str-util.h"
#include "worker.h"
#include "time-util.h"

#define OUTBOX_RETRY_MIN (1 * USEC_PER_SEC)
#define OUTBOX_RETRY_MAX (60 * USEC_PER_SEC)

static json_object *new_result(const char *id, const char *type, const char *status,
                               const char *exit_reason, const char *reason) {
        _cleanup_free_ char *now = format_timestamp(now_usec(CLOCK_REALTIME));
        json_object *r = json_object_new_object();

        if (!r)
                return NULL;
        json_object_object_add(r, "id", json_object_new_string(id));
        if (type)
                json_object_object_add(r, "type", json_object_new_string(type));
        json_object_object_add(r, "status", json_object_new_string(status));
        json_object_object_add(r, "exit_reason", json_object_new_string(exit_reason));
        json_object_object_add(r, "reason", json_object_new_string(reason));
        json_object_object_add(r, "finished_at", json_object_new_string(strempty(now)));
        return r;
}

/* Puts a result in the outbox (durably) and tries to deliver everything waiting. */
static void deliver(Agent *a, json_object *result) {
        json_object_array_add(a->unsaved, json_object_get(result));
        agent_flush_outbox(a);
}

static int outbox_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) s;
        (void) usec;
        agent_flush_outbox(userdata);
        agent_dispatch(userdata);
        return 0;
}

static void schedule_retry(Agent *a) {
        usec_t delay = OUTBOX_RETRY_MIN << MIN(a->outbox_failures, 6U);

        delay = MIN(delay, OUTBOX_RETRY_MAX);
        a->outbox_failures++;
        if (!a->outbox_timer) {
                if (sd_event_add_time_relative(a->event, &a->outbox_timer, CLOCK_MONOTONIC, delay,
                                               USEC_PER_SEC / 10, outbox_retry, a) < 0)
                        return;
        } else
                (void) sd_event_source_set_time_relative(a->outbox_timer, delay);
        (void) sd_event_source_set_enabled(a->outbox_timer, SD_EVENT_ONESHOT);
}

/* Results that could not be written yet (disk full) wait in memory and go to the outbox
 * first. */
static int save_unsaved(Agent *a) {
        while (json_object_array_length(a->unsaved) > 0) {
                int k = outbox_put(a->outbox, json_object_array_get_idx(a->unsaved, 0));

                if (k < 0)
                        return k;
                json_object_array_del_idx(a->unsaved, 0, 1);
        }
        return 0;
}

void agent_flush_outbox(Agent *a) {
        _cleanup_strv_free_ char **ids = NULL;
        int k;

        k = save_unsaved(a);
        if (k < 0) {
                /* Disk full or worse: the result stays in memory until there is room. */
                log_error("cannot write %zu result(s) to the outbox: %s; retrying",
                          json_object_array_length(a->unsaved), strerror(-k));
                schedule_retry(a);
                return;
        }
        k = outbox_list(a->outbox, &ids);
        if (k < 0) {
                log_error("cannot read the outbox: %s", strerror(-k));
                schedule_retry(a);
                return;
        }
        for (char **id = ids; *id; id++) {
                _cleanup_json_ json_object *result = NULL;
                _cleanup_free_ char *error = NULL, *log = NULL, *log_path = NULL;

                if (json_object_object_get_ex(a->sending, *id, NULL))
                        continue;
                k = outbox_get(a->outbox, *id, &result);
                if (k < 0) {
                        log_error("outbox: cannot read the result of %s: %s", *id, strerror(-k));
                        continue;
                }
                /* The log first: whoever sees the result finds its log. */
                log_path = strf("%s/%s.log", a->config->log_dir, *id);
                if (log_path && read_full_file(log_path, 64U * 1024U * 1024U, &log, NULL) >= 0) {
                        k = a->cp->ops->upload_log(a->cp, *id, log, strlen(log), &error);
                        if (k < 0)
                                log_warning("command %s: cannot upload its log: %s", *id,
                                            error ?: strerror(-k));
                        error = mfree(error);
                }
                k = a->cp->ops->report_result(a->cp, result, &error);
                if (k < 0) {
                        log_warning("command %s: the control plane did not take its result yet: "
                                    "%s",
                                    *id, error ?: strerror(-k));
                        schedule_retry(a);
                        return;
                }
                if (k == 0) {
                        /* On its way: agent_result_done() says how it went. */
                        if (json_object_object_add(a->sending, *id, NULL) < 0)
                                return;
                        continue;
                }
                (void) outbox_remove(a->outbox, *id);
        }
        a->outbox_failures = 0;
}

void agent_result_done(const char *id, int r, const char *error, void *userdata) {
        Agent *a = userdata;

        json_object_object_del(a->sending, id);
        if (r < 0) {
                log_warning("command %s: the control plane did not take its result yet: %s", id,
                            error ?: strerror(-r));
                schedule_retry(a);
                return;
        }
        (void) outbox_remove(a->outbox, id);
        a->outbox_failures = 0;
        agent_update_status(a);
}

void agent_control_plane_changed(void *userdata) {
        agent_update_status(userdata);
}

static void finish_without_running(Agent *a, const char *id, const char *type, const char *status,
                                   const char *exit_reason, const char *reason) {
        _cleanup_json_ json_object *result = new_result(id, type, status, exit_reason, reason);

        if (!result)
                return;
        log_full(streq(status, "failed") ? LOG_ERR : LOG_NOTICE,
                 &(LogFields){ .command_id = id, .event = type }, "%s: %s", status, reason);
        if (command_journal_seen(a->journal, id)) {
                (void) command_journal_write(a->journal, id, "result.json", result, WRITE_SYNC);
                (void) command_journal_set_status(a->journal, id, "finished");
        }
        deliver(a, result);
}

void agent_command_rejected(const char *id, const char *reason, void *userdata) {
        Agent *a = userdata;

        finish_without_running(a, id, NULL, "failed", "rejected", reason);
}

void agent_command_received(json_object *command, void *userdata) {
        Agent *a = userdata;
        const char *id = command_id(command);
        _cleanup_free_ char *error = NULL;
        int k;

        if (command_journal_seen(a->journal, id)) {
                log_warning("command %s was seen before: not run again", id);
                (void) a->cp->ops->ack(a->cp, id, NULL);
                return;
        }
        k = command_journal_add(a->journal, command);
        if (k < 0) {
                /* Not journalled, not acknowledged: the control plane still has it, and hands
                 * it over again once we can write (disk full). */
                log_error("command %s: cannot journal it: %s", id, strerror(-k));
                return;
        }
        k = a->cp->ops->ack(a->cp, id, &error);
        if (k < 0)
                log_warning("command %s: cannot acknowledge it: %s", id, error ?: strerror(-k));
        log_full(LOG_INFO,
                 &(LogFields){ .command_id = id,
                               .event = command_type_to_string(command_type(command)) },
                 "received");
        if (strv_extend(&a->queue, id) < 0)
                return;
        agent_dispatch(a);
}

static void queue_pop(Agent *a) {
        free(a->queue[0]);
        memmove(a->queue, a->queue + 1, strv_length(a->queue) * sizeof(char *));
}

/* A configure with a newer configure behind it in the queue has nothing left to do. The
 * command was popped already: the whole queue is behind it. */
static const char *superseded_by(Agent *a, json_object *command) {
        if (command_type(command) != COMMAND_CONFIGURE)
                return NULL;
        for (size_t i = strv_length(a->queue); i > 0; i--) {
                _cleanup_json_ json_object *e = NULL;

                if (command_journal_get(a->journal, a->queue[i - 1], &e) >= 0 &&
                    command_type(json_object_object_get(e, "command")) == COMMAND_CONFIGURE)
                        return a->queue[i - 1];
        }
        return NULL;
}

/* Starts command `id` (taken) with the stack description fetched for it, or reports why it
 * cannot. Returns < 0 when dispatching must pause: the command went back to the queue. */
static int start_command(Agent *a, char *id_taken, json_object *stack, const char *stack_error) {
        _cleanup_free_ char *id = id_taken, *why = NULL;
        _cleanup_json_ json_object *entry = NULL;
        json_object *command;
        const char *type;
        int k;

        k = command_journal_get(a->journal, id, &entry);
        if (k < 0) {
                log_error("command %s: cannot read its journal entry: %s", id, strerror(-k));
                return 0;
        }
        command = json_object_object_get(entry, "command");
        type = command_type_to_string(command_type(command));
        if (!stack) {
                why = strf("cannot read the stack description: %s", strempty(stack_error));
                finish_without_running(a, id, type, "failed", "failed", strempty(why));
                return 0;
        }
        k = command_journal_write(a->journal, id, "stack.json", stack, 0);
        if (k >= 0)
                k = command_journal_set_status(a->journal, id, "running");
        if (k < 0) {
                /* Not marked running: it never started, so it stays queued. */
                log_error("command %s: cannot record its start: %s; retrying later", id,
                          strerror(-k));
                (void) strv_push(&a->queue, TAKE_PTR(id));
                schedule_retry(a);
                return k;
        }
        usec_t timeout = lifecycle_timeout(command, stack, a->config->instance_id,
                                           a->config->command_timeout);
        k = worker_start(a, command, stack, timeout, &a->worker);
        if (k < 0) {
                why = strf("cannot start the command worker: %s", strerror(-k));
                finish_without_running(a, id, type, "failed", "failed", strempty(why));
                return 0;
        }
        log_full(LOG_INFO, &(LogFields){ .command_id = id, .event = type }, "started");
        agent_update_status(a);
        return 0;
}

void agent_stack_ready(json_object *stack, const char *error, void *userdata) {
        Agent *a = userdata;
        char *id = TAKE_PTR(a->preparing);

        if (!id)
                return;
        if (a->stopping) {
                /* Still queued in the journal: it runs after the restart. */
                free(id);
                (void) sd_event_exit(a->event, 0);
                return;
        }
        if (start_command(a, id, stack, error) < 0)
                return;
        agent_dispatch(a);
}

void agent_dispatch(Agent *a) {
        while (!a->worker && !a->preparing && !a->stopping && a->queue && a->queue[0]) {
                _cleanup_json_ json_object *entry = NULL, *stack = NULL;
                _cleanup_free_ char *id = strdup(a->queue[0]), *error = NULL, *why = NULL;
                json_object *command;
                const char *newer;
                int k;

                queue_pop(a);
                if (!id)
                        return;
                k = command_journal_get(a->journal, id, &entry);
                if (k < 0) {
                        log_error("command %s: cannot read its journal entry: %s", id, strerror(-k));
                        continue;
                }
                command = json_object_object_get(entry, "command");
                const char *type = command_type_to_string(command_type(command));

                newer = superseded_by(a, command);
                if (newer) {
                        why = strf("superseded by %s", newer);
                        finish_without_running(a, id, type, "skipped", "superseded", strempty(why));
                        continue;
                }

                k = a->cp->ops->stack(a->cp, &stack, &error);
                if (k == 0) {
                        /* Fetched: agent_stack_ready() goes on. */
                        a->preparing = TAKE_PTR(id);
                        agent_update_status(a);
                        return;
                }
                if (k < 0 && !error)
                        error = strdup(strerror(-k));
                if (start_command(a, TAKE_PTR(id), k > 0 ? stack : NULL, error) < 0)
                        return;
        }
}

/* Finished commands beyond the retention go: the journal's entries and logs, and what the
 * control plane keeps of them. */
static void prune(Agent *a) {
        unsigned count = a->config->command_log_retention.count;
        unsigned days = a->config->command_log_retention.days;
        _cleanup_free_ char *error = NULL;
        int k;

        k = command_journal_prune(a->journal, a->config->log_dir, count, days);
        if (k < 0)
                log_warning("cannot prune the command journal: %s", strerror(-k));
        if (a->cp->ops->prune) {
                k = a->cp->ops->prune(a->cp, count, days, &error);
                if (k < 0)
                        log_warning("control plane %s: %s", a->cp->ops->name,
                                    error ?: strerror(-k));
        }
}

void agent_worker_finished(Agent *a, json_object *result) {
        Worker *w = a->worker;
        const char *status = json_get_string(result, "status");
        int k;

        if (result) {
                k = command_journal_write(a->journal, w->id, "result.json", result, WRITE_SYNC);
                if (k < 0)
                        log_error("command %s: cannot write its result: %s", w->id, strerror(-k));
                (void) command_journal_set_status(a->journal, w->id, "finished");
                log_full(streq_ptr(status, "successful") ? LOG_INFO : LOG_ERR,
                         &(LogFields){ .command_id = w->id, .event = w->type }, "%s%s%s",
                         strempty(status), json_get_string(result, "reason") ? ": " : "",
                         strempty(json_get_string(result, "reason")));
                free(a->last_command);
                a->last_command = strf("%s %s %s", w->id, w->type, strempty(status));
                deliver(a, result);
        }
        a->worker = worker_free(w);
        if (a->stopping) {
                (void) sd_event_exit(a->event, 0);
                return;
        }
        prune(a);
        agent_update_status(a);
        agent_dispatch(a);
}

int agent_recover(Agent *a) {
        _cleanup_strv_free_ char **running = NULL, **queued = NULL;
        int k;

        /* A command found running was interrupted by a crash or restart: it is reported,
         * never run again by itself. */
        k = command_journal_list(a->journal, "running", &running);
        if (k < 0)
                return k;
        for (char **id = running; *id; id++) {
                _cleanup_json_ json_object *e = NULL;
                const char *type = NULL;

                if (command_journal_get(a->journal, *id, &e) >= 0)
                        type = command_type_to_string(command_type(json_object_object_get(e, "command")));
                /* Outside systemd nothing else stops a step that outlived its worker. */
                worker_stop_orphaned_step(a, *id);
                finish_without_running(a, *id, type, "failed", "interrupted",
                                       "interrupted by agent restart");
        }
        k = command_journal_list(a->journal, "queued", &queued);
        if (k < 0)
                return k;
        for (char **id = queued; *id; id++)
                if (strv_extend(&a->queue, *id) < 0)
                        return -ENOMEM;
        agent_flush_outbox(a);
        return 0;
}
