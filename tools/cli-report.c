/* SPDX-License-Identifier: MIT */
/* The instance, its stack and the agent itself: instance_report, stack_state, agent_report. */
#include "cli.h"
#include "json-util.h"
#include "stack.h"
#include "str-util.h"

#define MIB (1024.0 * 1024.0)

/* "a, b, c" of the strings of an array (or of a field of its objects); "-" when empty. */
static char *join(json_object *array, const char *field) {
        _cleanup_(strbuf_done) StrBuf b = {};

        for (size_t i = 0; i < json_object_array_length(array); i++) {
                json_object *e = json_object_array_get_idx(array, i);
                const char *s = field ? json_get_string(e, field) : json_object_get_string(e);

                if (strbuf_printf(&b, "%s%s", b.len > 0 ? ", " : "", strempty(s)) < 0)
                        return NULL;
        }
        if (b.len == 0 && strbuf_appends(&b, "-") < 0)
                return NULL;
        return strbuf_steal(&b);
}

static const char *or_dash(const char *s) {
        return s && *s ? s : "-";
}

int verb_instance_report(Cli *cli, char **args) {
        _cleanup_json_ json_object *stack = NULL, *layers = NULL, *out = NULL;
        _cleanup_free_ char *source = NULL, *error = NULL, *names = NULL;
        json_object *self, *st;
        int r;

        (void)args;
        r = cli_stack(cli, &stack, &source, &error);
        if (r < 0)
                return cli_fail(r, error);
        self = stack_self(stack, cli->config->instance_id);
        if (!self || stack_self_layers(stack, cli->config->instance_id, &layers) < 0)
                return cli_error(CLI_EXIT_FAILED,
                                 "instance %s is not in the stack description (%s), or names a "
                                 "layer it does not have",
                                 cli->config->instance_id, source);
        st = json_object_object_get(stack, "stack");
        names = join(layers, "shortname");
        out = json_object_new_object();
        if (!names || !out)
                return cli_fail(-ENOMEM, NULL);

        if (cli->json) {
                json_object *brief = json_object_new_object(),
                            *shortnames = json_object_new_array();

                if (!brief || !shortnames) {
                        json_object_put(brief);
                        json_object_put(shortnames);
                        return cli_fail(-ENOMEM, NULL);
                }
                json_object_object_add(brief, "id",
                                       json_object_get(json_object_object_get(st, "id")));
                json_object_object_add(brief, "name",
                                       json_object_get(json_object_object_get(st, "name")));
                for (size_t i = 0; i < json_object_array_length(layers); i++)
                        json_object_array_add(
                                shortnames,
                                json_object_get(json_object_object_get(
                                        json_object_array_get_idx(layers, i), "shortname")));
                json_object_object_add(out, "agent_version",
                                       json_object_new_string(STRATA_VERSION));
                json_object_object_add(out, "instance", json_object_get(self));
                json_object_object_add(out, "stack", brief);
                json_object_object_add(out, "layers", shortnames);
                json_object_object_add(out, "source", json_object_new_string(source));
                cli_print_json(out);
                return CLI_EXIT_SUCCESS;
        }
        printf("Agent version    %s\n"
               "Instance         %s\n"
               "Hostname         %s\n"
               "Status           %s\n"
               "Stack            %s (%s)\n"
               "Layers           %s\n"
               "OS               %s\n"
               "Private IP       %s\n"
               "Public IP        %s\n"
               "Source           %s\n",
               STRATA_VERSION, or_dash(json_get_string(self, "id")),
               or_dash(json_get_string(self, "hostname")), or_dash(json_get_string(self, "status")),
               or_dash(json_get_string(st, "id")), or_dash(json_get_string(st, "name")), names,
               or_dash(json_get_string(self, "os")), or_dash(json_get_string(self, "private_ip")),
               or_dash(json_get_string(self, "public_ip")), source);
        return CLI_EXIT_SUCCESS;
}

static int print_layer(json_object *layer) {
        static const char *const events[] = {"setup", "configure", "deploy", "undeploy",
                                             "shutdown"};
        json_object *recipes = json_object_object_get(layer, "recipes");
        _cleanup_free_ char *packages = join(json_object_object_get(layer, "packages"), NULL);

        if (!packages)
                return -ENOMEM;
        printf("  %s (id %s)\n", or_dash(json_get_string(layer, "shortname")),
               or_dash(json_get_string(layer, "id")));
        for (size_t i = 0; i < ELEMENTSOF(events); i++) {
                _cleanup_free_ char *list = join(json_object_object_get(recipes, events[i]), NULL);

                if (!list)
                        return -ENOMEM;
                printf("    %-11s%s\n", events[i], list);
        }
        printf("    %-11s%s\n", "packages", packages);
        return 0;
}

static int print_stack(json_object *stack, const char *source) {
        json_object *st = json_object_object_get(stack, "stack");
        json_object *layers = json_object_object_get(stack, "layers");
        json_object *apps = json_object_object_get(stack, "apps");
        json_object *instances = json_object_object_get(stack, "instances");
        json_object *users = json_object_object_get(stack, "users");
        int r;

        printf("Stack %s (%s), from %s\n", or_dash(json_get_string(st, "id")),
               or_dash(json_get_string(st, "name")), source);
        printf("\nLayers:%s\n", json_object_array_length(layers) ? "" : " none");
        for (size_t i = 0; i < json_object_array_length(layers); i++) {
                r = print_layer(json_object_array_get_idx(layers, i));
                if (r < 0)
                        return r;
        }
        printf("\nApps:%s\n", json_object_array_length(apps) ? "" : " none");
        for (size_t i = 0; i < json_object_array_length(apps); i++) {
                json_object *app = json_object_array_get_idx(apps, i);
                json_object *src = json_object_object_get(app, "source");

                printf("  %s  %s  %s %s%s%s\n", or_dash(json_get_string(app, "shortname")),
                       or_dash(json_get_string(app, "type")), or_dash(json_get_string(src, "type")),
                       or_dash(json_get_string(src, "url")),
                       json_get_string(src, "revision") ? " @ " : "",
                       strempty(json_get_string(src, "revision")));
        }
        printf("\nInstances:\n");
        for (size_t i = 0; i < json_object_array_length(instances); i++) {
                json_object *inst = json_object_array_get_idx(instances, i);
                _cleanup_free_ char *ids = join(json_object_object_get(inst, "layer_ids"), NULL);

                if (!ids)
                        return -ENOMEM;
                printf("  %s  %s  %s  layers: %s\n", or_dash(json_get_string(inst, "id")),
                       or_dash(json_get_string(inst, "hostname")),
                       or_dash(json_get_string(inst, "status")), ids);
        }
        printf("\nUsers:%s\n", json_object_array_length(users) ? "" : " none");
        for (size_t i = 0; i < json_object_array_length(users); i++) {
                json_object *user = json_object_array_get_idx(users, i);

                printf("  %s  sudo: %s  ssh: %s\n", or_dash(json_get_string(user, "name")),
                       json_object_get_boolean(json_object_object_get(user, "sudo")) ? "yes" : "no",
                       json_object_get_boolean(json_object_object_get(user, "allow_ssh")) ? "yes"
                                                                                          : "no");
        }
        return 0;
}

int verb_stack_state(Cli *cli, char **args) {
        _cleanup_json_ json_object *stack = NULL;
        _cleanup_free_ char *source = NULL, *error = NULL;
        int r;

        (void)args;
        r = cli_stack(cli, &stack, &source, &error);
        if (r < 0)
                return cli_fail(r, error);
        if (cli->json) {
                cli_print_json(stack);
                return CLI_EXIT_SUCCESS;
        }
        r = print_stack(stack, source);
        return r < 0 ? cli_fail(r, NULL) : CLI_EXIT_SUCCESS;
}

/* Counts of the journal: commands waiting for the worker, and the one running (or NULL). */
static int journal_queue(Cli *cli, size_t *ret_queued, char **ret_running, char **ret_error) {
        _cleanup_json_ json_object *entries = NULL;
        _cleanup_free_ char *running = NULL;
        size_t queued = 0;
        int r;

        r = cli_journal_entries(cli, &entries, ret_error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < json_object_array_length(entries); i++) {
                json_object *e = json_object_array_get_idx(entries, i);
                const char *status = json_get_string(e, "status");

                if (streq_ptr(status, "queued"))
                        queued++;
                else if (streq_ptr(status, "running") && !running) {
                        running = strdup(strempty(entry_id(e)));
                        if (!running)
                                return -ENOMEM;
                }
        }
        *ret_queued = queued;
        *ret_running = TAKE_PTR(running);
        return 0;
}

static double metric(json_object *metrics, const char *group, const char *name) {
        return json_object_get_double(
                json_object_object_get(json_object_object_get(metrics, group), name));
}

static void print_metrics(json_object *m) {
        json_object *cpu = json_object_object_get(m, "cpu");
        json_object *disk = json_object_object_get(m, "disk");

        if (!m) {
                printf("Metrics            none sampled yet\n");
                return;
        }
        if (cpu)
                printf("CPU                %.2f%% user, %.2f%% system, %.2f%% iowait, %.2f%% "
                       "steal, "
                       "%.2f%% idle\n",
                       metric(m, "cpu", "user"), metric(m, "cpu", "system"),
                       metric(m, "cpu", "iowait"), metric(m, "cpu", "steal"),
                       metric(m, "cpu", "idle"));
        else
                printf("CPU                - (not enough samples yet)\n");
        printf("Memory             %.0f MiB used of %.0f MiB, %.0f MiB cached, %.0f MiB swap "
               "used\n",
               metric(m, "memory", "used") / MIB, metric(m, "memory", "total") / MIB,
               metric(m, "memory", "cached") / MIB, metric(m, "memory", "swap_used") / MIB);
        printf("Load               %.2f %.2f %.2f\n", metric(m, "load", "1"),
               metric(m, "load", "5"), metric(m, "load", "15"));
        printf("Processes          %" PRId64 "\n",
               json_object_get_int64(json_object_object_get(m, "processes")));
        printf("Disk               %s: %.2f%% used of %.0f MiB\n",
               or_dash(json_get_string(disk, "path")), metric(m, "disk", "used_percent"),
               metric(m, "disk", "total") / MIB);
}

static void print_agent_report(Cli *cli, json_object *report, const char *heartbeat_error) {
        const AgentConfig *c = cli->config;
        json_object *hb = json_object_object_get(report, "heartbeat");
        int64_t age =
                json_object_get_int64(json_object_object_get(report, "heartbeat_age_seconds"));
        bool alive = json_object_get_boolean(json_object_object_get(report, "alive"));

        printf("Agent version      %s", STRATA_VERSION);
        if (json_get_string(hb, "agent_version"))
                printf(" (running: %s)", json_get_string(hb, "agent_version"));
        printf("\nConfiguration      %s\n", cli->config_path ?: "defaults");
        printf("Instance           %s, stack %s\n", c->instance_id, c->stack_id);
        if (c->control_plane.type == CONTROL_PLANE_LOCAL)
                printf("Control plane      local, spool %s\n", c->control_plane.spool);
        else {
                json_object *link = json_object_object_get(hb, "control_plane");

                if (json_object_get_boolean(json_object_object_get(link, "connected")))
                        printf("Control plane      etcd, connected to %s\n",
                               or_dash(json_get_string(link, "endpoint")));
                else
                        printf("Control plane      etcd, not connected: %s\n",
                               or_dash(json_get_string(link, "problem")));
        }
        printf("State              %s, logs in %s\n", c->state_dir, c->log_dir);
        if (!hb)
                printf("Status             unknown: %s\n", heartbeat_error);
        else if (alive)
                printf("Status             %s (heartbeat %" PRId64 " s ago)\n",
                       or_dash(json_get_string(hb, "status")), age);
        else
                printf("Status             %s, but the last heartbeat is %" PRId64
                       " s old: is strata-agent running?\n",
                       or_dash(json_get_string(hb, "status")), age);
        printf("Last command       %s\n", or_dash(json_get_string(hb, "last_command")));
        printf("Running            %s\n", or_dash(json_get_string(report, "running")));
        printf("Queue              %" PRId64 " journalled, %s in the inbox\n",
               json_object_get_int64(json_object_object_get(report, "queued")),
               or_dash(json_object_get_string(json_object_object_get(report, "inbox"))));
        printf("Outbox             %" PRId64 " result(s) waiting for the control plane\n",
               json_object_get_int64(json_object_object_get(report, "outbox")));
        if (hb)
                print_metrics(json_object_object_get(hb, "metrics"));
}

int verb_agent_report(Cli *cli, char **args) {
        const AgentConfig *c = cli->config;
        _cleanup_json_ json_object *report = json_object_new_object(), *config = NULL, *hb = NULL;
        _cleanup_free_ char *error = NULL, *hb_error = NULL, *running = NULL;
        _cleanup_free_ char *outbox = strf("%s/outbox", c->state_dir), *inbox = NULL;
        size_t queued, inbox_files = 0, outbox_files;
        int64_t age = -1;
        int r;

        (void)args;
        if (!report || !outbox)
                return cli_fail(-ENOMEM, NULL);
        r = agent_config_to_json(c, &config);
        if (r < 0)
                return cli_fail(r, NULL);
        r = journal_queue(cli, &queued, &running, &error);
        if (r < 0)
                return cli_fail(r, error);
        if (c->control_plane.type == CONTROL_PLANE_LOCAL) {
                inbox = strf("%s/inbox", c->control_plane.spool);
                if (!inbox)
                        return cli_fail(-ENOMEM, NULL);
                r = cli_count_json_files(inbox, &inbox_files);
                if (r < 0)
                        return cli_error(CLI_EXIT_FAILED, "%s: %s", inbox, strerror(-r));
        }
        r = cli_count_json_files(outbox, &outbox_files);
        if (r < 0)
                return cli_error(CLI_EXIT_FAILED, "%s: %s", outbox, strerror(-r));
        /* No heartbeat is something to report, not a failure of the report. */
        if (cli_heartbeat(cli, &hb, &age, &hb_error) < 0)
                hb = NULL;

        json_object_object_add(report, "agent_version", json_object_new_string(STRATA_VERSION));
        json_object_object_add(report, "config_file",
                               cli->config_path ? json_object_new_string(cli->config_path) : NULL);
        json_object_object_add(report, "config", TAKE_PTR(config));
        json_object_object_add(report, "status",
                               json_object_get(json_object_object_get(hb, "status")));
        /* Alive: a heartbeat newer than the health timeout, as the control plane judges it. */
        json_object_object_add(
                report, "alive",
                json_object_new_boolean(hb && age >= 0 &&
                                        (usec_t)age * USEC_PER_SEC <= c->health_timeout));
        json_object_object_add(report, "heartbeat_age_seconds",
                               hb && age >= 0 ? json_object_new_int64(age) : NULL);
        json_object_object_add(report, "last_command",
                               json_object_get(json_object_object_get(hb, "last_command")));
        json_object_object_add(report, "running", running ? json_object_new_string(running) : NULL);
        json_object_object_add(report, "queued", json_object_new_int64((int64_t)queued));
        json_object_object_add(report, "inbox",
                               c->control_plane.type == CONTROL_PLANE_LOCAL
                                       ? json_object_new_int64((int64_t)inbox_files)
                                       : NULL);
        json_object_object_add(report, "outbox", json_object_new_int64((int64_t)outbox_files));
        json_object_object_add(report, "heartbeat", json_object_get(hb));

        if (cli->json)
                cli_print_json(report);
        else
                print_agent_report(cli, report, strempty(hb_error));
        return CLI_EXIT_SUCCESS;
}
