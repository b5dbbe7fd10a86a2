/* SPDX-License-Identifier: MIT */
#include "command.h"
#include "converge.h"
#include "cookbook-update.h"
#include "deploy.h"
#include "json-util.h"
#include "lifecycle.h"
#include "stack.h"
#include "str-util.h"
#include "yaml-load.h"

#define SHUTDOWN_TIMEOUT_DEFAULT (120 * USEC_PER_SEC)

/* The recipes a layer runs for an event, appended to *list (each once). */
static int add_layer_recipes(json_object *layers, const char *event, char ***list) {
        for (size_t i = 0; i < json_object_array_length(layers); i++) {
                json_object *recipes = json_object_object_get(json_object_array_get_idx(layers, i),
                                                              "recipes");
                json_object *names = json_object_object_get(recipes, event);

                for (size_t j = 0; names && j < json_object_array_length(names); j++) {
                        const char *name = json_object_get_string(json_object_array_get_idx(names, j));

                        if (!strv_contains(*list, name) && strv_extend(list, name) < 0)
                                return -ENOMEM;
                }
        }
        return 0;
}

int lifecycle_run_list(json_object *command, json_object *stack, const char *instance_id,
                       char ***ret, char **ret_error) {
        _cleanup_json_ json_object *layers = NULL;
        _cleanup_strv_free_ char **list = calloc(1, sizeof(char *));
        json_object *recipes;
        int k;

        if (!list)
                return -ENOMEM;
        k = stack_self_layers(stack, instance_id, &layers);
        if (k < 0)
                return error_set(ret_error, k, "cannot find the layers of instance %s", instance_id);

        switch (command_type(command)) {
        case COMMAND_SETUP:
                k = strv_extend(&list, "strata::setup");
                if (k >= 0)
                        k = add_layer_recipes(layers, "setup", &list);
                break;
        case COMMAND_CONFIGURE:
                k = add_layer_recipes(layers, "configure", &list);
                break;
        case COMMAND_SHUTDOWN:
                k = add_layer_recipes(layers, "shutdown", &list);
                break;
        case COMMAND_DEPLOY:
                k = add_layer_recipes(layers, "deploy", &list);
                break;
        case COMMAND_UNDEPLOY:
                k = add_layer_recipes(layers, "undeploy", &list);
                break;
        case COMMAND_ROLLBACK:
        case COMMAND_START:
        case COMMAND_STOP:
        case COMMAND_RESTART:
                /* The apps' releases and commands only: deploy.c. */
                break;
        case COMMAND_INSTALL_DEPENDENCIES:
                k = strv_extend(&list, "strata::dependencies");
                break;
        case COMMAND_UPDATE_DEPENDENCIES:
                k = strv_extend(&list, "strata::update_dependencies");
                break;
        case COMMAND_EXECUTE_RECIPES:
                recipes = json_object_object_get(json_object_object_get(command, "args"), "recipes");
                if (!json_object_is_type(recipes, json_type_array) ||
                    json_object_array_length(recipes) == 0)
                        return error_set(ret_error, -EINVAL,
                                         "args.recipes: expected a non-empty list of recipe names "
                                         "(cookbook or cookbook::recipe)");
                for (size_t i = 0; i < json_object_array_length(recipes); i++) {
                        json_object *r = json_object_array_get_idx(recipes, i);

                        if (!json_object_is_type(r, json_type_string))
                                return error_set(ret_error, -EINVAL,
                                                 "args.recipes[%zu]: expected a recipe name", i);
                        k = strv_extend(&list, json_object_get_string(r));
                        if (k < 0)
                                return k;
                }
                break;
        default:
                return error_set(ret_error, -EOPNOTSUPP,
                                 "unsupported command: %s is not supported by this agent version",
                                 command_type_to_string(command_type(command)));
        }
        if (k < 0)
                return k;
        *ret = TAKE_PTR(list);
        return 0;
}

usec_t lifecycle_timeout(json_object *command, json_object *stack, const char *instance_id,
                         usec_t agent_default) {
        _cleanup_json_ json_object *layers = NULL;
        usec_t t = command_timeout(command) ?: agent_default, bound = 0;

        if (command_type(command) != COMMAND_SHUTDOWN ||
            stack_self_layers(stack, instance_id, &layers) < 0)
                return t;
        for (size_t i = 0; i < json_object_array_length(layers); i++) {
                json_object *v = json_object_object_get(json_object_array_get_idx(layers, i),
                                                        "shutdown_timeout");
                usec_t s = v ? (usec_t) json_object_get_int64(v) * USEC_PER_SEC : 0;

                bound = MAX(bound, s);
        }
        return MIN(t, bound ?: SHUTDOWN_TIMEOUT_DEFAULT);
}

static bool instance_online(json_object *instance) {
        const char *status = json_get_string(instance, "status");

        return !status || STR_IN_SET(status, "online", "running_setup", "setup");
}

/* layers, each with the online instances that are in it: what configure recipes use for
 * service discovery. */
static json_object *topology(json_object *stack) {
        json_object *layers = json_object_object_get(stack, "layers");
        json_object *instances = json_object_object_get(stack, "instances");
        json_object *out = json_object_new_array();

        for (size_t i = 0; out && i < json_object_array_length(layers); i++) {
                json_object *layer = NULL, *members = json_object_new_array();
                const char *id = json_get_string(json_object_array_get_idx(layers, i), "id");

                if (yaml_copy(json_object_array_get_idx(layers, i), &layer) < 0 ||
                    !members) {
                        json_object_put(layer);
                        json_object_put(members);
                        json_object_put(out);
                        return NULL;
                }
                for (size_t j = 0; j < json_object_array_length(instances); j++) {
                        json_object *inst = json_object_array_get_idx(instances, j);
                        json_object *ids = json_object_object_get(inst, "layer_ids");

                        if (!instance_online(inst))
                                continue;
                        for (size_t l = 0; l < json_object_array_length(ids); l++)
                                if (streq_ptr(json_object_get_string(json_object_array_get_idx(ids, l)), id)) {
                                        json_object_array_add(members, json_object_get(inst));
                                        break;
                                }
                }
                json_object_object_add(layer, "instances", members);
                json_object_array_add(out, layer);
        }
        return out;
}

/* What the built-in strata cookbook reads: the users to create and the packages of the
 * instance's layers, flattened. */
static json_object *builtin_attributes(json_object *stack, json_object *layers) {
        json_object *users = json_object_object_get(stack, "users");
        json_object *out = json_object_new_object();
        json_object *packages = json_object_new_array(), *ulist = json_object_new_array();
        _cleanup_strv_free_ char **seen = NULL;

        if (!out || !packages || !ulist) {
                json_object_put(out);
                json_object_put(packages);
                json_object_put(ulist);
                return NULL;
        }
        for (size_t i = 0; i < json_object_array_length(layers); i++) {
                json_object *p = json_object_object_get(json_object_array_get_idx(layers, i),
                                                        "packages");

                for (size_t j = 0; j < json_object_array_length(p); j++) {
                        const char *name = json_object_get_string(json_object_array_get_idx(p, j));

                        if (strv_contains(seen, name))
                                continue;
                        (void) strv_extend(&seen, name);
                        json_object_array_add(packages, json_object_new_string(name));
                }
        }
        for (size_t i = 0; i < json_object_array_length(users); i++) {
                json_object *u = json_object_array_get_idx(users, i), *e = json_object_new_object();
                json_object *keys = json_object_new_array();
                const char *key = json_get_string(u, "ssh_public_key");

                if (key && *key)
                        json_object_array_add(keys, json_object_new_string(key));
                json_object_object_add(e, "name", json_object_new_string(json_get_string(u, "name")));
                json_object_object_add(e, "ssh_authorized_keys", keys);
                json_object_object_add(e, "sudo", json_object_new_boolean(json_object_get_boolean(
                                                          json_object_object_get(u, "sudo"))));
                json_object_array_add(ulist, e);
        }
        json_object_object_add(out, "packages", packages);
        json_object_object_add(out, "users", ulist);
        return out;
}

static json_object *make_result(const char *status, const char *reason, json_object *report) {
        json_object *r = json_object_new_object();

        json_object_object_add(r, "status", json_object_new_string(status));
        if (reason)
                json_object_object_add(r, "reason", json_object_new_string(reason));
        if (report)
                json_object_object_add(r, "report", json_object_get(report));
        return r;
}

/* "file[/etc/x] (web::default line 4): cannot write ..." for the first failed resource. */
static char *failure_reason(json_object *report) {
        json_object *resources = json_object_object_get(report, "resources");

        for (size_t i = 0; i < json_object_array_length(resources); i++) {
                json_object *e = json_object_array_get_idx(resources, i);

                if (!streq_ptr(json_get_string(e, "status"), "failed") ||
                    json_object_get_boolean(json_object_object_get(e, "ignored")))
                        continue;
                return strf("%s[%s] (%s line %d): %s", json_get_string(e, "type"),
                            json_get_string(e, "name"), json_get_string(e, "recipe"),
                            json_object_get_int(json_object_object_get(e, "line")),
                            strempty(json_get_string(e, "error")));
        }
        return strdup("a resource failed");
}

/* Adds the resources and totals of `more` to `acc` (a report of an earlier run). */
static void merge_report(json_object *acc, json_object *more) {
        json_object *resources = json_object_object_get(acc, "resources");
        json_object *totals = json_object_object_get(acc, "totals");
        json_object *more_resources = json_object_object_get(more, "resources");
        int64_t ms = json_object_get_int64(json_object_object_get(acc, "duration_ms")) +
                     json_object_get_int64(json_object_object_get(more, "duration_ms"));

        for (size_t i = 0; i < json_object_array_length(more_resources); i++)
                json_object_array_add(resources, json_object_get(json_object_array_get_idx(
                                                         more_resources, i)));
        json_object_object_foreach (json_object_object_get(more, "totals"), key, value) {
                int n = json_object_get_int(json_object_object_get(totals, key)) +
                        json_object_get_int(value);

                json_object_object_add(totals, key, json_object_new_int(n));
        }
        json_object_object_add(acc, "duration_ms", json_object_new_int64(ms));
        json_object_object_add(acc, "status",
                               json_object_get(json_object_object_get(more, "status")));
}

/* Converges `list` (nothing when empty), the report going into (or merged with) *report.
 * 0: ran to the end; 1: failed, *ret_result says why; < 0: out of memory. */
static int run_recipes(const RuntimeConfig *rc, ConvergeRequest *req, char **list,
                       json_object **report, json_object **ret_node, json_object **ret_result) {
        _cleanup_json_ json_object *more = NULL;
        _cleanup_free_ char *error = NULL, *reason = NULL;
        int k;

        if (!list[0])
                return 0;
        req->run_list = list;
        /* The attributes of the last run are the ones kept. */
        if (*ret_node) {
                json_object_put(*ret_node);
                *ret_node = NULL;
        }
        k = converge(rc, req, &more, ret_node, &error);
        if (k == -ENOMEM)
                return k;
        if (k < 0) {
                *ret_result = make_result("failed", error, *report);
                return 1;
        }
        if (*report)
                merge_report(*report, more);
        else
                *report = TAKE_PTR(more);
        if (k > 0) {
                reason = failure_reason(*report);
                *ret_result = make_result("failed", reason, *report);
                return 1;
        }
        return 0;
}

static bool is_app_action(CommandType t) {
        return t == COMMAND_DEPLOY || t == COMMAND_UNDEPLOY || t == COMMAND_ROLLBACK ||
               t == COMMAND_START || t == COMMAND_STOP || t == COMMAND_RESTART;
}

/* The apps' part of a command (deploy.c) around its recipes: deploy, rollback, start, stop and
 * restart act before the recipes run (so deploy recipes see the new release in
 * deploy.<app>), undeploy after its recipes, setup ends with a deploy of the layers' apps and
 * their deploy recipes. */
static int run_phases(const LifecycleRun *run, json_object *layers, const RuntimeConfig *rc,
                      ConvergeRequest *req, json_object **ret_result, json_object **ret_node) {
        const AgentConfig *cfg = run->config;
        CommandType type = command_type(run->command);
        _cleanup_json_ json_object *apps = NULL, *deploy = NULL, *report = NULL;
        _cleanup_free_ char *error = NULL, *message = NULL;
        _cleanup_strv_free_ char **deploy_recipes = calloc(1, sizeof(char *));
        char **list = req->run_list;
        bool before = is_app_action(type) && type != COMMAND_UNDEPLOY;
        DeployRun dr = {
                .config = cfg,
                .log = run->log,
                .log_userdata = run->log_userdata,
                .step_started = run->step_started,
        };
        int k;

        if (!deploy_recipes)
                return -ENOMEM;
        if (is_app_action(type) || type == COMMAND_SETUP) {
                k = deploy_select_apps(run->command, run->stack, cfg->instance_id, &apps, &error);
                if (k == -ENOMEM)
                        return k;
                if (k < 0) {
                        *ret_result = make_result("failed", error, NULL);
                        return 0;
                }
                deploy = json_object_new_object();
                if (!deploy)
                        return -ENOMEM;
                for (size_t i = 0; i < json_object_array_length(apps); i++) {
                        json_object *app = json_object_array_get_idx(apps, i), *paths = NULL;

                        if (deploy_paths(cfg, app, &paths) < 0)
                                return -ENOMEM;
                        json_object_object_add(deploy, json_get_string(app, "shortname"), paths);
                }
                json_object_object_add(req->readonly, "deploy", json_object_get(deploy));
        }

        if (before) {
                k = deploy_apps(&dr, type, apps, deploy, &message, &error);
                if (k == 1)
                        *ret_result = make_result("failed", error, NULL);
                if (k != 0)
                        return k < 0 ? k : 0;
        }
        k = run_recipes(rc, req, list, &report, ret_node, ret_result);
        if (k != 0)
                return k < 0 ? k : 0;
        if (type == COMMAND_UNDEPLOY || (type == COMMAND_SETUP && json_object_array_length(apps))) {
                k = deploy_apps(&dr, type, apps, deploy, &message, &error);
                if (k == 1)
                        *ret_result = make_result("failed", error, report);
                if (k != 0)
                        return k < 0 ? k : 0;
        }
        if (type == COMMAND_SETUP && json_object_array_length(apps)) {
                if (add_layer_recipes(layers, "deploy", &deploy_recipes) < 0)
                        return -ENOMEM;
                k = run_recipes(rc, req, deploy_recipes, &report, ret_node, ret_result);
                if (k != 0)
                        return k < 0 ? k : 0;
        }
        *ret_result = make_result("successful",
                                  message ?: (report ? NULL : "no recipes to run"), report);
        return 0;
}

/* update_custom_cookbooks: fetched as run_as into <cache_dir>/cookbooks; runs no recipe. */
static int update_cookbooks(const LifecycleRun *run, json_object **ret_result) {
        _cleanup_json_ json_object *info = NULL;
        _cleanup_free_ char *error = NULL;
        CookbookUpdate u = {
                .cache_dir = run->config->cache_dir,
                .user = run->config->run_as,
                .builtin_cookbooks = run->builtin_cookbooks,
                .cookbook_path = run->config->cookbook_path,
                .fetch = {
                        .log = run->log,
                        .log_userdata = run->log_userdata,
                        .step_started = run->step_started,
                        .agent_binary = run->agent_binary,
                },
        };
        int k;

        k = cookbook_update(&u,
                            json_object_object_get(json_object_object_get(run->stack, "stack"),
                                                   "cookbook_sources"),
                            &info, &error);
        if (k == -ENOMEM)
                return k;
        *ret_result = make_result(k < 0 ? "failed" : "successful",
                                  k < 0 ? (error ?: strerror(-k)) : NULL, NULL);
        if (k >= 0)
                json_object_object_add(*ret_result, "cookbooks", TAKE_PTR(info));
        return 0;
}

int lifecycle_run(const LifecycleRun *run, json_object **ret_result, json_object **ret_node) {
        const AgentConfig *cfg = run->config;
        _cleanup_strv_free_ char **run_list = NULL, **path = NULL;
        _cleanup_json_ json_object *layers = NULL, *readonly = NULL;
        _cleanup_free_ char *error = NULL, *custom = NULL;
        json_object *stack_doc = json_object_object_get(run->stack, "stack");
        json_object *self = stack_self(run->stack, cfg->instance_id);
        json_object *attrs[64];
        size_t n = 0;
        int k;

        *ret_node = NULL;
        if (command_type(run->command) == COMMAND_UPDATE_CUSTOM_COOKBOOKS)
                return update_cookbooks(run, ret_result);
        k = lifecycle_run_list(run->command, run->stack, cfg->instance_id, &run_list, &error);
        if (k == -ENOMEM)
                return k;
        if (k < 0) {
                *ret_result = make_result("failed", error, NULL);
                return 0;
        }
        k = stack_self_layers(run->stack, cfg->instance_id, &layers);
        if (k < 0)
                return k;

        /* Resolved once, so the run reads one cookbook tree even if an update switches
         * `current` meanwhile. */
        k = cookbook_current_tree(cfg->cache_dir, &custom);
        if (k < 0) {
                error = strf("%s/cookbooks/current: %s", cfg->cache_dir, strerror(-k));
                *ret_result = make_result("failed", strempty(error), NULL);
                return 0;
        }
        path = strv_copy(run->builtin_cookbooks);
        if (path && custom && strv_extend(&path, custom) < 0)
                return -ENOMEM;
        for (char **p = cfg->cookbook_path; path && p && *p; p++)
                if (strv_extend(&path, *p) < 0)
                        return -ENOMEM;
        if (!path)
                return -ENOMEM;

        attrs[n++] = json_object_object_get(stack_doc, "custom_json");
        for (size_t i = 0; i < json_object_array_length(layers) && n < ELEMENTSOF(attrs) - 1; i++)
                attrs[n++] = json_object_object_get(json_object_array_get_idx(layers, i),
                                                    "custom_json");
        attrs[n++] = json_object_object_get(run->command, "custom_json");

        readonly = json_object_new_object();
        if (!readonly)
                return -ENOMEM;
        json_object_object_add(readonly, "stack", json_object_get(stack_doc));
        json_object_object_add(readonly, "instance", json_object_get(self));
        json_object_object_add(readonly, "layers", topology(run->stack));
        json_object_object_add(readonly, "instances",
                               json_object_get(json_object_object_get(run->stack, "instances")));
        json_object_object_add(readonly, "apps",
                               json_object_get(json_object_object_get(run->stack, "apps")));
        json_object_object_add(readonly, "users",
                               json_object_get(json_object_object_get(run->stack, "users")));
        json_object_object_add(readonly, "command", json_object_get(run->command));
        json_object_object_add(readonly, "strata", builtin_attributes(run->stack, layers));

        RuntimeConfig rc = {
                .cookbook_path = path,
                .run_as = cfg->run_as,
                .allow_privileged_steps = cfg->privileged_steps,
                .cache_dir = cfg->cache_dir,
                .log = run->log,
                .log_userdata = run->log_userdata,
                .step_started = run->step_started,
                .step_userdata = run->log_userdata,
        };
        ConvergeRequest req = {
                .run_list = run_list,
                .attributes = attrs,
                .n_attributes = n,
                .readonly = readonly,
        };

        return run_phases(run, layers, &rc, &req, ret_result, ret_node);
}
