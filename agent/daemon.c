/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <signal.h>
#include <systemd/sd-daemon.h>

#include "agent.h"
#include "cp-etcd.h"
#include "cp-local.h"
#include "json-util.h"
#include "log.h"
#include "str-util.h"
#include "worker.h"
#include "time-util.h"

#define SAMPLE_ACCURACY (USEC_PER_SEC / 10)

Agent *agent_free(Agent *a) {
        if (!a)
                return NULL;
        worker_free(a->worker);
        sd_event_source_disable_unref(a->sigterm);
        sd_event_source_disable_unref(a->sigint);
        sd_event_source_disable_unref(a->sighup);
        sd_event_source_disable_unref(a->heartbeat_timer);
        sd_event_source_disable_unref(a->metrics_timer);
        sd_event_source_disable_unref(a->outbox_timer);
        control_plane_free(a->cp);
        command_journal_free(a->journal);
        outbox_free(a->outbox);
        metrics_free(a->metrics);
        agent_config_free(a->config);
        json_object_put(a->unsaved);
        json_object_put(a->sending);
        free(a->preparing);
        strv_free(a->queue);
        free(a->last_command);
        free(a->config_path);
        sd_event_unref(a->event);
        free(a);
        return NULL;
}

static char *command_status(Agent *a) {
        if (a->stopping)
                return strdup("stopping");
        if (a->worker)
                return strf("running %s %s%s%s", a->worker->type, a->worker->id,
                            a->worker->recipe ? " " : "", strempty(a->worker->recipe));
        if (a->preparing)
                return strf("reading the stack description for %s", a->preparing);
        if (a->outbox_failures > 0 || json_object_object_length(a->sending) > 0)
                return strdup("idle (results waiting for the control plane)");
        return strdup("idle");
}

/* What the agent does, and what is wrong with the control plane when something is. */
char *agent_status(Agent *a) {
        _cleanup_free_ char *s = command_status(a), *cp = NULL;

        if (!s)
                return NULL;
        if (a->cp && a->cp->ops->status)
                cp = a->cp->ops->status(a->cp);
        if (!cp)
                return TAKE_PTR(s);
        return strf("%s; control plane %s: %s", s, a->cp->ops->name, cp);
}

void agent_update_status(Agent *a) {
        _cleanup_free_ char *s = agent_status(a);

        if (s)
                (void) sd_notifyf(false, "STATUS=%s", s);
}

static int send_heartbeat(Agent *a) {
        _cleanup_json_ json_object *record = json_object_new_object(), *metrics = NULL;
        /* What the agent does: the record itself says that the control plane is reached. */
        _cleanup_free_ char *status = command_status(a), *now = format_timestamp(now_usec(CLOCK_REALTIME));
        _cleanup_free_ char *error = NULL;
        int k;

        if (!record || !status || !now)
                return -ENOMEM;
        /* Without a good sample yet the record says so (null) rather than skipping a beat. */
        if (metrics_to_json(a->metrics, &metrics) < 0)
                metrics = NULL;
        json_object_object_add(record, "instance_id", json_object_new_string(a->config->instance_id));
        json_object_object_add(record, "stack_id", json_object_new_string(a->config->stack_id));
        json_object_object_add(record, "agent_version", json_object_new_string(STRATA_VERSION));
        json_object_object_add(record, "status", json_object_new_string(status));
        if (a->last_command)
                json_object_object_add(record, "last_command",
                                       json_object_new_string(a->last_command));
        json_object_object_add(record, "time", json_object_new_string(now));
        json_object_object_add(record, "metrics", TAKE_PTR(metrics));
        k = a->cp->ops->heartbeat(a->cp, record, &error);
        if (k < 0)
                log_warning("heartbeat: %s", error ?: strerror(-k));
        return k;
}

static int on_heartbeat(sd_event_source *s, uint64_t usec, void *userdata) {
        Agent *a = userdata;

        (void) usec;
        (void) send_heartbeat(a);
        (void) sd_event_source_set_time_relative(s, a->config->heartbeat_interval);
        return 0;
}

static int on_metrics(sd_event_source *s, uint64_t usec, void *userdata) {
        Agent *a = userdata;
        _cleanup_free_ char *error = NULL;

        if (metrics_sample(a->metrics, usec, &error) < 0)
                log_warning("metrics: %s", strempty(error));
        (void) sd_event_source_set_time_relative(s, a->config->metrics_interval);
        return 0;
}

static int on_stop(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Agent *a = userdata;

        (void) s;
        if (a->stopping)
                return 0;
        log_info("received %s: stopping", strsignal((int) si->ssi_signo));
        a->stopping = true;
        (void) sd_notify(false, "STOPPING=1\nSTATUS=stopping");
        if (a->worker) {
                /* The command is abandoned cleanly: its steps are stopped and it is reported
                 * interrupted; the loop ends once the worker is gone. */
                worker_kill(a->worker, "the agent is stopping");
                return 0;
        }
        return sd_event_exit(a->event, 0);
}

static int on_reload(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Agent *a = userdata;
        _cleanup_(agent_config_freep) AgentConfig *c = NULL;
        _cleanup_free_ char *error = NULL;
        int k;

        (void) s;
        (void) si;
        (void) sd_notify(false, "RELOADING=1");
        k = a->config_path ? agent_config_load(a->config_path, &c, &error)
                           : agent_config_default(&c, &error);
        if (k < 0)
                log_error("reload: keeping the current configuration: %s", error ?: strerror(-k));
        else if (!streq(c->instance_id, a->config->instance_id) ||
                 !streq(c->state_dir, a->config->state_dir) ||
                 c->control_plane.type != a->config->control_plane.type)
                log_error("reload: instance_id, state_dir and control_plane take effect only on "
                          "restart; keeping the current configuration");
        else {
                agent_config_free(a->config);
                a->config = TAKE_PTR(c);
                (void) sd_event_source_set_time_relative(a->heartbeat_timer,
                                                         a->config->heartbeat_interval);
                log_info("configuration reloaded from %s", a->config_path ?: "defaults");
        }
        (void) sd_notify(false, "READY=1");
        agent_update_status(a);
        return 0;
}

static int new_control_plane(Agent *a, char **ret_error) {
        const AgentConfig *c = a->config;
        ControlPlaneSink sink = {
                .command_received = agent_command_received,
                .command_rejected = agent_command_rejected,
                .result_done = agent_result_done,
                .stack_ready = agent_stack_ready,
                .state_changed = agent_control_plane_changed,
                .userdata = a,
        };

        if (c->control_plane.type == CONTROL_PLANE_ETCD)
                return cp_etcd_new(a->event, c, &sink, &a->cp, ret_error);
        return cp_local_new(a->event, c->control_plane.spool, c->control_plane.stack_file,
                            c->instance_id, c->stack_id, &sink, &a->cp);
}

int agent_new(const char *config_path, Agent **ret, char **ret_error) {
        _cleanup_(agent_freep) Agent *a = calloc(1, sizeof(Agent));
        int k;

        if (!a)
                return -ENOMEM;
        if (config_path && !(a->config_path = strdup(config_path)))
                return -ENOMEM;
        k = config_path ? agent_config_load(config_path, &a->config, ret_error)
                        : agent_config_default(&a->config, ret_error);
        if (k < 0)
                return k;

        a->unsaved = json_object_new_array();
        a->sending = json_object_new_object();
        if (!a->unsaved || !a->sending)
                return -ENOMEM;
        k = sd_event_default(&a->event);
        if (k < 0)
                return error_set(ret_error, k, "cannot create the event loop: %s", strerror(-k));
        k = command_journal_open(a->config->state_dir, &a->journal);
        if (k < 0)
                return error_set(ret_error, k, "%s/commands: cannot open the command journal: %s",
                                 a->config->state_dir, strerror(-k));
        k = outbox_open(a->config->state_dir, &a->outbox);
        if (k < 0)
                return error_set(ret_error, k, "%s/outbox: cannot open: %s", a->config->state_dir,
                                 strerror(-k));
        k = metrics_new("/proc", a->config->deploy_root, &a->metrics);
        if (k < 0)
                return error_set(ret_error, k, "cannot start the metrics sampler: %s",
                                 strerror(-k));
        k = new_control_plane(a, ret_error);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(a);
        return 0;
}

static int add_timers(Agent *a) {
        _cleanup_free_ char *error = NULL;
        int k;

        /* A first sample now, so the first heartbeat has memory and load figures. */
        if (metrics_sample(a->metrics, now_usec(CLOCK_BOOTTIME), &error) < 0)
                log_warning("metrics: %s", strempty(error));

        k = sd_event_add_time_relative(a->event, &a->metrics_timer, CLOCK_BOOTTIME,
                                       a->config->metrics_interval,
                                       SAMPLE_ACCURACY, on_metrics, a);
        if (k < 0)
                return k;
        (void) sd_event_source_set_enabled(a->metrics_timer, SD_EVENT_ON);
        k = sd_event_add_time_relative(a->event, &a->heartbeat_timer, CLOCK_BOOTTIME, 0,
                                       SAMPLE_ACCURACY, on_heartbeat, a);
        if (k < 0)
                return k;
        return sd_event_source_set_enabled(a->heartbeat_timer, SD_EVENT_ON);
}

int agent_run(Agent *a) {
        _cleanup_free_ char *error = NULL;
        sigset_t mask;
        int k;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;

        k = sd_event_add_signal(a->event, &a->sigterm, SIGTERM, on_stop, a);
        if (k >= 0)
                k = sd_event_add_signal(a->event, &a->sigint, SIGINT, on_stop, a);
        if (k >= 0)
                k = sd_event_add_signal(a->event, &a->sighup, SIGHUP, on_reload, a);
        if (k >= 0)
                k = sd_event_set_watchdog(a->event, true);
        if (k >= 0)
                k = add_timers(a);
        if (k < 0) {
                log_error("cannot set up the event loop: %s", strerror(-k));
                return k;
        }

        k = a->cp->ops->start(a->cp, &error);
        if (k < 0) {
                log_error("control plane %s: %s", a->cp->ops->name, error ?: strerror(-k));
                return k;
        }
        k = agent_recover(a);
        if (k < 0) {
                log_error("cannot recover the command journal: %s", strerror(-k));
                return k;
        }

        log_info("strata-agent %s started: instance %s, stack %s, control plane %s",
                 STRATA_VERSION, a->config->instance_id, a->config->stack_id, a->cp->ops->name);
        (void) sd_notify(false, "READY=1");
        agent_update_status(a);
        agent_dispatch(a);

        k = sd_event_loop(a->event);
        (void) sd_notify(false, "STOPPING=1");
        return k;
}

static void daemon_help(void) {
        printf("Usage: strata-agent [--config FILE] [--check-config]\n"
               "\n"
               "Runs the agent: takes lifecycle commands from the control plane, runs them one at\n"
               "a time, reports their results and sends heartbeats.\n"
               "\n"
               "  --config FILE    the configuration (default " AGENT_CONFIG_PATH
               " when it exists)\n"
               "  --check-config   validate the configuration, print the effective one, exit\n");
}

int daemon_main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "check-config", no_argument, NULL, 'C' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(agent_freep) Agent *a = NULL;
        _cleanup_free_ char *error = NULL;
        const char *config_path = NULL;
        bool check = false;
        int c, k;

        optind = 1;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        config_path = optarg;
                        break;
                case 'C':
                        check = true;
                        break;
                case 'h':
                        daemon_help();
                        return 0;
                default:
                        return 2;
                }
        if (optind != argc) {
                fprintf(stderr, "strata-agent: unexpected argument '%s' (try --help)\n", argv[optind]);
                return 2;
        }
        if (!config_path && access(AGENT_CONFIG_PATH, F_OK) == 0)
                config_path = AGENT_CONFIG_PATH;

        if (check) {
                _cleanup_(agent_config_freep) AgentConfig *cfg = NULL;
                _cleanup_json_ json_object *j = NULL;

                k = config_path ? agent_config_load(config_path, &cfg, &error)
                                : agent_config_default(&cfg, &error);
                if (k >= 0)
                        k = agent_config_to_json(cfg, &j);
                if (k < 0) {
                        fprintf(stderr, "strata-agent: %s\n", error ?: strerror(-k));
                        return 2;
                }
                printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY |
                                                                        JSON_C_TO_STRING_NOSLASHESCAPE));
                return 0;
        }

        log_open();
        k = agent_new(config_path, &a, &error);
        if (k < 0) {
                log_error("%s", error ?: strerror(-k));
                (void) sd_notifyf(false, "STOPPING=1\nSTATUS=failed to start: %s",
                                  error ?: strerror(-k));
                return 1;
        }
        k = agent_run(a);
        return k < 0 ? 1 : 0;
}
