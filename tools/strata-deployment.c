/* SPDX-License-Identifier: MIT */
/* strata's deployment verbs: create-deployment, describe-deployments, describe-commands.
 *
 * A deployment is <prefix>/stacks/<stack>/deployments/<id> = {id, stack_id, app_id, command:
 * {name, args}, custom_json, comment, created_at, instance_ids, commands: {instance: command
 * id}}; with it, in the same transaction, each target gets a command in the agent's format
 * (docs/agent.md) at <prefix>/instances/<i>/commands/<cmd> = {id, type, args, custom_json,
 * comment, created_at, deployment_id}. All of it goes in one transaction when etcd takes one
 * that large (--max-txn-ops, --max-request-bytes), else in several of half, a quarter... as many
 * targets, the record in the last; when one fails, the error names its targets, and when it is
 * not the first, the commands already written are deleted again (best effort; the error says
 * whether it worked).
 * The agent answers at instances/<i>/results/<cmd> and instances/<i>/logs/<cmd>: a
 * deployment's status is what its commands' results add up to. */

#include "command.h"
#include "json-util.h"
#include "str-util.h"
#include "strata.h"
#include "time-util.h"

#define COMMAND_NAMES                                                                              \
        "setup, configure, deploy, undeploy, rollback, start, stop, restart, shutdown, "           \
        "execute_recipes, update_custom_cookbooks, install_dependencies, update_dependencies"

/* --command '{"Name": "deploy", "Args": {"key": ["value"]}}', checked the AWS way. */
static int parse_command(Strata *s, json_object **ret_name, json_object **ret_args,
                         char **ret_error) {
        _cleanup_json_ json_object *c = NULL;
        json_object *name, *args;
        int r;

        r = arg_json(s, "command", false, &c, ret_error);
        if (r < 0)
                return r;
        json_object_object_foreach (c, k, v) {
                (void)v;
                if (!STR_IN_SET(k, "Name", "Args"))
                        return error_set(ret_error, -EINVAL,
                                         "create-deployment: --command: unknown key '%s' "
                                         "(expected Name, Args)",
                                         k);
        }
        name = json_object_object_get(c, "Name");
        if (!json_object_is_type(name, json_type_string) ||
            command_type_from_string(json_object_get_string(name)) < 0)
                return error_set(
                        ret_error, -EINVAL,
                        "create-deployment: --command: Name: expected one of " COMMAND_NAMES);
        args = json_object_object_get(c, "Args");
        if (args && !json_object_is_type(args, json_type_object))
                return error_set(ret_error, -EINVAL,
                                 "create-deployment: --command: Args: expected an object of "
                                 "lists of strings");
        if (args) {
                json_object_object_foreach (args, key, list) {
                        bool ok = json_object_is_type(list, json_type_array);

                        for (size_t i = 0; ok && i < json_object_array_length(list); i++)
                                ok = json_object_is_type(json_object_array_get_idx(list, i),
                                                         json_type_string);
                        if (!ok)
                                return error_set(ret_error, -EINVAL,
                                                 "create-deployment: --command: Args.%s: "
                                                 "expected a list of strings",
                                                 key);
                }
        }
        *ret_name = json_object_get(name);
        *ret_args = args ? json_object_get(args) : json_object_new_object();
        return *ret_args ? 0 : -ENOMEM;
}

static bool list_has(json_object *list, const char *s) {
        for (size_t i = 0; i < json_object_array_length(list); i++)
                if (streq_ptr(json_object_get_string(json_object_array_get_idx(list, i)), s))
                        return true;
        return false;
}

/* The target instances: those named, or the online ones of the layers, or of the stack. */
static int targets(Strata *s, const char *stack, json_object **ret, char **ret_error) {
        _cleanup_json_ json_object *instances = NULL, *out = json_object_new_array();
        json_object *ids = arg_list(s, "instance-ids"), *layers = arg_list(s, "layer-ids");
        int r;

        if (!out)
                return -ENOMEM;
        r = stack_instances(s, stack, &instances, NULL, ret_error);
        if (r < 0)
                return r;

        for (size_t i = 0; ids && i < json_object_array_length(ids); i++) {
                const char *id = json_object_get_string(json_object_array_get_idx(ids, i));
                bool found = false;

                for (size_t j = 0; !found && j < json_object_array_length(instances); j++)
                        found = streq_ptr(
                                json_get_string(json_object_array_get_idx(instances, j), "key"),
                                id);
                if (!found)
                        return error_set(ret_error, -ENOENT,
                                         "create-deployment: --instance-ids: instance '%s' is "
                                         "not in stack '%s'",
                                         id, stack);
                if (!list_has(out, id) &&
                    json_object_array_add(out, json_object_new_string(id)) < 0)
                        return -ENOMEM;
        }
        if (ids) {
                *ret = TAKE_PTR(out);
                return 0;
        }

        for (size_t i = 0; layers && i < json_object_array_length(layers); i++) {
                const char *id = json_object_get_string(json_object_array_get_idx(layers, i));
                _cleanup_free_ char *key = strata_key(s, "stacks/%s/layers/%s", stack, id);
                _cleanup_json_ json_object *layer = NULL;

                if (!key)
                        return -ENOMEM;
                r = record_get(s, key, "layer", id, &layer, NULL, ret_error);
                if (r < 0) {
                        error_prefix(ret_error, "create-deployment: --layer-ids");
                        return r;
                }
        }

        for (size_t i = 0; i < json_object_array_length(instances); i++) {
                json_object *record =
                        json_object_object_get(json_object_array_get_idx(instances, i), "value");
                json_object *in = json_object_object_get(record, "layer_ids");
                const char *status;
                bool wanted = !layers;

                for (size_t j = 0; !wanted && j < json_object_array_length(in); j++)
                        wanted = list_has(layers,
                                          json_object_get_string(json_object_array_get_idx(in, j)));
                if (!wanted)
                        continue;
                r = instance_status(s, record, &status, NULL, ret_error);
                if (r < 0)
                        return r;
                if (streq(status, "online") &&
                    json_object_array_add(
                            out, json_object_new_string(json_get_string(record, "id"))) < 0)
                        return -ENOMEM;
        }
        if (json_object_array_length(out) == 0)
                return error_set(ret_error, -ENOENT,
                                 "create-deployment: no online instance in %s of stack '%s' "
                                 "(name them with --instance-ids to queue commands for them)",
                                 layers ? "the layers" : "any layer", stack);
        *ret = TAKE_PTR(out);
        return 0;
}

/* Deletes the commands of the first n targets again, after a later transaction failed; appends
 * to *error what came of it. */
static void withdraw_commands(Strata *s, json_object *ids, json_object *commands, size_t n,
                              char **error) {
        EtcdClient *c = strata_etcd(s);
        _cleanup_free_ char *first_error = NULL;
        size_t failed = 0;
        char *joined;

        for (size_t i = 0; c && i < n; i++) {
                const char *instance = json_object_get_string(json_object_array_get_idx(ids, i));
                _cleanup_free_ char *key = strata_key(
                        s, "instances/%s/commands/%s", instance,
                        json_object_get_string(json_object_object_get(commands, instance)));
                _cleanup_free_ char *e = NULL;

                if (!key || etcd_client_delete(c, key, false, NULL, &e) < 0) {
                        failed++;
                        if (!first_error)
                                first_error = key ? strf("%s: %s", key, strempty(e)) : NULL;
                }
        }
        if (!c || failed > 0)
                joined = strf("%s; %zu of the %zu commands already queued could not be deleted "
                              "again (%s): delete them by hand",
                              strempty(*error), c ? failed : n, n,
                              first_error ?: "no connection to etcd");
        else
                joined = strf("%s; the %zu commands already queued were deleted again",
                              strempty(*error), n);
        if (joined) {
                free(*error);
                *error = joined;
        }
}

/* The transaction that queues commands sent[first..end) for targets ids[first..end), each if
 * its instance (and the stack) still exists, with the deployment record dep when given. */
static int deployment_txn(Strata *s, const char *stack, const char *id, json_object *ids,
                          json_object *sent, size_t first, size_t end, json_object *dep,
                          json_object **ret) {
        _cleanup_free_ char *stack_key = strata_key(s, "stacks/%s", stack), *key = NULL;
        _cleanup_json_ json_object *txn = NULL;

        if (!stack_key || etcd_txn_new(&txn) < 0 ||
            etcd_txn_compare(txn, stack_key, ETCD_COMPARE_VERSION, ETCD_COMPARE_GREATER, 0,
                             NULL) < 0)
                return -ENOMEM;
        for (size_t i = first; i < end; i++) {
                const char *instance = json_object_get_string(json_object_array_get_idx(ids, i));
                json_object *c = json_object_array_get_idx(sent, i);
                _cleanup_free_ char *cmd_key = strata_key(s, "instances/%s/commands/%s", instance,
                                                          json_get_string(c, "id")),
                                    *instance_key = strata_key(s, "stacks/%s/instances/%s", stack,
                                                               instance);

                if (!cmd_key || !instance_key ||
                    etcd_txn_compare(txn, instance_key, ETCD_COMPARE_VERSION, ETCD_COMPARE_GREATER,
                                     0, NULL) < 0 ||
                    txn_put(txn, cmd_key, c) < 0)
                        return -ENOMEM;
        }
        if (dep) {
                key = strata_key(s, "stacks/%s/deployments/%s", stack, id);
                if (!key || txn_put(txn, key, dep) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(txn);
        return 0;
}

/* etcd's refusals of a transaction for its size: more operations than --max-txn-ops, more
 * bytes than --max-request-bytes. */
static bool txn_too_large(const char *error) {
        return strstr(strempty(error), "too many operations in txn request") ||
               strstr(strempty(error), "request is too large");
}

static int create_deployment(Strata *s) {
        _cleanup_json_ json_object *name = NULL, *args = NULL, *custom = NULL, *dep = NULL,
                                   *sent = json_object_new_array(), *ids = NULL, *commands = NULL,
                                   *command = NULL, *app = NULL;
        _cleanup_free_ char *error = NULL, *id = NULL, *now = NULL;
        const char *stack, *app_id, *comment = arg_string(s, "comment");
        int r;

        r = arg_identifier(s, "stack-id", &stack, &error);
        if (r >= 0)
                r = arg_identifier(s, "app-id", &app_id, &error);
        if (r >= 0)
                r = parse_command(s, &name, &args, &error);
        if (r >= 0)
                r = arg_json(s, "custom-json", false, &custom, &error);
        if (r < 0)
                return strata_fail(r, error);
        if (arg_list(s, "instance-ids") && arg_list(s, "layer-ids"))
                return strata_error(STRATA_EXIT_USAGE,
                                    "create-deployment: --instance-ids and --layer-ids exclude "
                                    "each other");
        if (app_id) {
                _cleanup_free_ char *app_key = strata_key(s, "stacks/%s/apps/%s", stack, app_id);

                if (!app_key)
                        return strata_fail(-ENOMEM, NULL);
                r = record_get(s, app_key, "app", app_id, &app, NULL, &error);
                if (r < 0) {
                        error_prefix(&error, "create-deployment: --app-id");
                        return strata_fail(r, error);
                }
                /* The agent names apps by shortname, in Args' shape: a list of strings. */
                if (!json_object_object_get_ex(args, "app_ids", NULL)) {
                        json_object *l = json_object_new_array();

                        if (json_add(args, "app_ids", l) < 0 ||
                            json_object_array_add(l, json_object_new_string(strempty(
                                                             json_get_string(app, "shortname")))) <
                                    0)
                                return strata_fail(-ENOMEM, NULL);
                }
        }
        r = targets(s, stack, &ids, &error);
        if (r < 0)
                return strata_fail(r, error);

        r = strata_new_id(&id);
        if (r < 0)
                return strata_fail(r, NULL);
        now = format_timestamp(now_usec(CLOCK_REALTIME));
        command = json_object_new_object();
        commands = json_object_new_object();
        dep = json_object_new_object();
        if (!now || !command || !commands || !dep || !sent ||
            json_add_string(command, "name", json_object_get_string(name)) < 0 ||
            json_add(command, "args", json_object_get(args)) < 0 ||
            json_add_string(dep, "id", id) < 0 || json_add_string(dep, "stack_id", stack) < 0 ||
            json_add_string(dep, "app_id", app_id) < 0 ||
            json_add(dep, "command", json_object_get(command)) < 0 ||
            json_add(dep, "custom_json",
                     custom ? json_object_get(custom) : json_object_new_object()) < 0 ||
            json_add_string(dep, "comment", comment ?: "") < 0 ||
            json_add_string(dep, "created_at", now) < 0 ||
            json_add(dep, "instance_ids", json_object_get(ids)) < 0)
                return strata_fail(-ENOMEM, NULL);

        for (size_t i = 0; i < json_object_array_length(ids); i++) {
                const char *instance = json_object_get_string(json_object_array_get_idx(ids, i));
                _cleanup_free_ char *cmd_id = NULL, *check_error = NULL;
                _cleanup_json_ json_object *c = json_object_new_object(), *checked = NULL;
                const char *text;

                r = strata_new_id(&cmd_id);
                if (r < 0)
                        return strata_fail(r, NULL);
                if (!c || json_add_string(c, "id", cmd_id) < 0 ||
                    json_add_string(c, "type", json_object_get_string(name)) < 0 ||
                    json_add(c, "args", json_object_get(args)) < 0 ||
                    json_add(c, "custom_json",
                             json_object_get(json_object_object_get(dep, "custom_json"))) < 0 ||
                    json_add_string(c, "comment", comment ?: "") < 0 ||
                    json_add_string(c, "created_at", now) < 0)
                        return strata_fail(-ENOMEM, NULL);

                /* What the agent will check, checked now: a command it would reject is not
                 * sent. */
                text = record_text(c);
                r = command_parse("--command", text, strlen(text), &checked, &check_error);
                if (r < 0)
                        return strata_fail(r, check_error);

                if (json_add_string(c, "deployment_id", id) < 0 ||
                    json_add_string(commands, instance, cmd_id) < 0 ||
                    json_object_array_add(sent, TAKE_PTR(c)) < 0)
                        return strata_fail(-ENOMEM, NULL);
        }
        if (json_add(dep, "commands", json_object_get(commands)) < 0)
                return strata_fail(-ENOMEM, NULL);

        /* As many targets to a transaction as etcd takes: all of them first, half as many
         * each time it refuses one as too large. */
        for (size_t done = 0, n = json_object_array_length(ids), batch = n; done < n;) {
                size_t end = MIN(done + batch, n);
                _cleanup_json_ json_object *txn = NULL;

                r = deployment_txn(s, stack, id, ids, sent, done, end, end == n ? dep : NULL,
                                   &txn);
                if (r < 0)
                        return strata_fail(r, NULL);
                r = txn_run(s, TAKE_PTR(txn),
                            "the stack or one of the target instances went away meanwhile; try "
                            "again",
                            &error);
                if (r < 0 && batch > 1 && txn_too_large(error)) {
                        batch = (batch + 1) / 2;
                        error = mfree(error);
                        continue;
                }
                if (r < 0) {
                        /* Which of several transactions failed, by the targets it held. */
                        if (done > 0 || end < n)
                                error_prefix(
                                        &error,
                                        "create-deployment: the commands for targets %zu to %zu of "
                                        "%zu (%s to %s)%s",
                                        done + 1, end, n,
                                        json_object_get_string(
                                                json_object_array_get_idx(ids, done)),
                                        json_object_get_string(
                                                json_object_array_get_idx(ids, end - 1)),
                                        end == n ? " and the deployment record" : "");
                        if (done > 0)
                                withdraw_commands(s, ids, commands, done, &error);
                        return strata_fail(r, error);
                }
                done = end;
        }
        return print_id("DeploymentId", id);
}

/* The state of one command: its result when there is one. *ret_result may be NULL. */
static int command_state(Strata *s, const char *instance, const char *cmd, const char **ret,
                         json_object **ret_result, char **ret_error) {
        _cleanup_free_ char *rk = strata_key(s, "instances/%s/results/%s", instance, cmd),
                            *ak = strata_key(s, "instances/%s/alive", instance);
        _cleanup_json_ json_object *result = NULL, *alive = NULL;
        const char *status = NULL;
        int r;

        if (!rk || !ak)
                return -ENOMEM;
        r = record_get(s, rk, "result", cmd, &result, NULL, ret_error);
        if (r >= 0) {
                status = json_get_string(result, "status");
                *ret = STR_IN_SET(strempty(status), "successful", "failed", "skipped") ? status
                                                                                       : "failed";
                if (ret_result)
                        *ret_result = TAKE_PTR(result);
                return 0;
        }
        if (r != -ENOENT)
                return r;
        if (ret_error)
                *ret_error = mfree(*ret_error);

        /* Not answered yet: running when the agent's heartbeat says so. */
        r = record_get(s, ak, "alive record", instance, &alive, NULL, NULL);
        if (r < 0 && r != -ENOENT)
                return error_set(ret_error, r, "%s: %s", ak, strerror(-r));
        *ret = strstr(strempty(json_get_string(alive, "status")), cmd) ? "running" : "pending";
        if (ret_result)
                *ret_result = NULL;
        return 0;
}

/* "successful", "failed" or "running"; *ret_completed the last finished_at once done. */
static int deployment_status(Strata *s, json_object *dep, const char **ret, char **ret_completed,
                             char **ret_error) {
        json_object *commands = json_object_object_get(dep, "commands");
        _cleanup_free_ char *completed = NULL;
        bool running = false, failed = false;
        int r;

        if (!json_object_is_type(commands, json_type_object))
                return error_set(ret_error, -EBADMSG, "deployment '%s': expected its commands",
                                 strempty(json_get_string(dep, "id")));
        json_object_object_foreach (commands, instance, cmd) {
                _cleanup_json_ json_object *result = NULL;
                const char *status, *finished;

                r = command_state(s, instance, json_object_get_string(cmd), &status, &result,
                                  ret_error);
                if (r < 0)
                        return r;
                running = running || !result;
                failed = failed || streq(status, "failed");
                finished = json_get_string(result, "finished_at");
                if (finished && (!completed || strcmp(finished, completed) > 0)) {
                        free(completed);
                        completed = strdup(finished);
                        if (!completed)
                                return -ENOMEM;
                }
        }
        *ret = running ? "running" : failed ? "failed" : "successful";
        *ret_completed = running ? NULL : TAKE_PTR(completed);
        return 0;
}

static int deployment_output(Strata *s, json_object *dep, json_object *out, char **ret_error) {
        _cleanup_json_ json_object *o = json_object_new_object(), *command = NULL;
        json_object *c = json_object_object_get(dep, "command");
        _cleanup_free_ char *completed = NULL;
        const char *status = NULL;
        int r;

        if (!o)
                return -ENOMEM;
        r = deployment_status(s, dep, &status, &completed, ret_error);
        if (r < 0)
                return r;
        command = json_object_new_object();
        if (!command || json_add_string(command, "Name", json_get_string(c, "name")) < 0 ||
            json_add(command, "Args", json_object_get(json_object_object_get(c, "args"))) < 0 ||
            json_add_string(o, "DeploymentId", json_get_string(dep, "id")) < 0 ||
            json_add_string(o, "StackId", json_get_string(dep, "stack_id")) < 0 ||
            json_add_string(o, "AppId", json_get_string(dep, "app_id")) < 0 ||
            json_add_string(o, "CreatedAt", json_get_string(dep, "created_at")) < 0 ||
            json_add_string(o, "CompletedAt", completed) < 0 ||
            json_add(o, "Command", TAKE_PTR(command)) < 0 ||
            json_add_string(o, "Status", status) < 0 ||
            json_add_string(o, "CustomJson",
                            record_text(json_object_object_get(dep, "custom_json"))) < 0 ||
            json_add_string(o, "Comment", json_get_string(dep, "comment")) < 0 ||
            json_add(o, "InstanceIds",
                     json_object_get(json_object_object_get(dep, "instance_ids"))) < 0 ||
            json_object_array_add(out, o) < 0)
                return -ENOMEM;
        TAKE_PTR(o);
        return 0;
}

static int deployment_get(Strata *s, const char *id, json_object **ret, char **ret_error) {
        _cleanup_free_ char *stack = NULL, *key = NULL;
        int r;

        r = record_find_stack(s, "deployments", id, &stack, ret_error);
        if (r < 0)
                return r;
        key = strata_key(s, "stacks/%s/deployments/%s", stack, id);
        if (!key)
                return -ENOMEM;
        return record_get(s, key, "deployment", id, ret, NULL, ret_error);
}

static int describe_deployments(Strata *s) {
        _cleanup_json_ json_object *out = json_object_new_array(), *list = NULL;
        _cleanup_free_ char *error = NULL, *app_stack = NULL, *prefix = NULL;
        json_object *ids = arg_list(s, "deployment-ids");
        const char *stack, *app;
        int r;

        if (!out)
                return strata_fail(-ENOMEM, NULL);
        r = arg_identifier(s, "stack-id", &stack, &error);
        if (r >= 0)
                r = arg_identifier(s, "app-id", &app, &error);
        if (r < 0)
                return strata_fail(r, error);
        if (!!stack + !!app + !!ids != 1)
                return strata_error(STRATA_EXIT_USAGE,
                                    "describe-deployments: expected one of --stack-id, --app-id, "
                                    "--deployment-ids");

        if (ids) {
                for (size_t i = 0; i < json_object_array_length(ids); i++) {
                        const char *id = json_object_get_string(json_object_array_get_idx(ids, i));
                        _cleanup_json_ json_object *dep = NULL;

                        if (!strata_identifier_valid(id))
                                return strata_error(STRATA_EXIT_USAGE,
                                                    "describe-deployments: --deployment-ids: '%s' "
                                                    "is not a deployment id",
                                                    id);
                        r = deployment_get(s, id, &dep, &error);
                        if (r >= 0)
                                r = deployment_output(s, dep, out, &error);
                        if (r < 0)
                                return strata_fail(r, error);
                }
                return print_result("Deployments", TAKE_PTR(out));
        }

        if (app) {
                r = record_find_stack(s, "apps", app, &app_stack, &error);
                if (r < 0)
                        return strata_fail(r, error);
                stack = app_stack;
        } else {
                _cleanup_free_ char *key = strata_key(s, "stacks/%s", stack);
                _cleanup_json_ json_object *record = NULL;

                if (!key)
                        return strata_fail(-ENOMEM, NULL);
                r = record_get(s, key, "stack", stack, &record, NULL, &error);
                if (r < 0)
                        return strata_fail(r, error);
        }
        prefix = strata_key(s, "stacks/%s/deployments/", stack);
        if (!prefix)
                return strata_fail(-ENOMEM, NULL);
        r = record_list(s, prefix, &list, NULL, &error);
        if (r < 0)
                return strata_fail(r, error);
        for (size_t i = 0; i < json_object_array_length(list); i++) {
                json_object *dep =
                        json_object_object_get(json_object_array_get_idx(list, i), "value");

                if (app && !streq_ptr(json_get_string(dep, "app_id"), app))
                        continue;
                r = deployment_output(s, dep, out, &error);
                if (r < 0)
                        return strata_fail(r, error);
        }
        return print_result("Deployments", TAKE_PTR(out));
}

/* Adds {"instance": ..., "command": ...} for each command id of one instance found below its
 * commands/ and results/, each once, in id order. */
static int instance_commands(Strata *s, const char *instance, json_object *out, char **ret_error) {
        const char *dirs[] = {"commands", "results"};
        _cleanup_json_ json_object *seen = json_object_new_object();
        int r;

        if (!seen)
                return -ENOMEM;
        for (size_t d = 0; d < ELEMENTSOF(dirs); d++) {
                _cleanup_free_ char *prefix = strata_key(s, "instances/%s/%s/", instance, dirs[d]);
                _cleanup_(etcd_range_freep) EtcdRange *range = NULL;

                if (!prefix)
                        return -ENOMEM;
                r = etcd_client_range(strata_etcd(s), prefix,
                                      ETCD_RANGE_PREFIX | ETCD_RANGE_KEYS_ONLY, &range, ret_error);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < range->n_kvs; i++)
                        if (json_add(seen, range->kvs[i].key + strlen(prefix),
                                     json_object_new_boolean(true)) < 0)
                                return -ENOMEM;
        }
        json_object_object_foreach (seen, cmd, v) {
                _cleanup_json_ json_object *e = json_object_new_object();

                (void)v;
                if (!e || json_add_string(e, "instance", instance) < 0 ||
                    json_add_string(e, "command", cmd) < 0 || json_object_array_add(out, e) < 0)
                        return -ENOMEM;
                TAKE_PTR(e);
        }
        return 0;
}

static int compare_targets(const void *a, const void *b) {
        json_object *x = *(json_object *const *)a, *y = *(json_object *const *)b;

        return strcmp(strempty(json_get_string(x, "command")),
                      strempty(json_get_string(y, "command")));
}

/* The instance a command id was sent to. */
static int find_command(Strata *s, const char *cmd, json_object *out, char **ret_error) {
        _cleanup_free_ char *prefix = strata_key(s, "instances/");
        _cleanup_(etcd_range_freep) EtcdRange *range = NULL;
        int r;

        if (!prefix)
                return -ENOMEM;
        r = etcd_client_range(strata_etcd(s), prefix, ETCD_RANGE_PREFIX | ETCD_RANGE_KEYS_ONLY,
                              &range, ret_error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < range->n_kvs; i++) {
                const char *rel = range->kvs[i].key + strlen(prefix);
                size_t n = strcspn(rel, "/");
                _cleanup_free_ char *instance = NULL;
                _cleanup_json_ json_object *e = NULL;

                if (!rel[n] ||
                    !(startswith(rel + n + 1, "commands/") ||
                      startswith(rel + n + 1, "results/")) ||
                    !streq(strchr(rel + n + 1, '/') + 1, cmd))
                        continue;
                instance = strndup(rel, n);
                e = json_object_new_object();
                if (!instance || !e || json_add_string(e, "instance", instance) < 0 ||
                    json_add_string(e, "command", cmd) < 0 || json_object_array_add(out, e) < 0)
                        return -ENOMEM;
                TAKE_PTR(e);
                return 0;
        }
        return error_set(ret_error, -ENOENT, "command '%s' does not exist", cmd);
}

static int command_output(Strata *s, const char *instance, const char *cmd, json_object *out,
                          char **ret_error) {
        _cleanup_free_ char *ck = strata_key(s, "instances/%s/commands/%s", instance, cmd),
                            *lk = strata_key(s, "instances/%s/logs/%s", instance, cmd);
        _cleanup_json_ json_object *o = json_object_new_object(), *command = NULL, *result = NULL;
        const char *status = NULL;
        int r;

        if (!ck || !lk || !o)
                return -ENOMEM;
        r = record_get(s, ck, "command", cmd, &command, NULL, ret_error);
        if (r == -ENOENT && ret_error)
                *ret_error = mfree(*ret_error);
        else if (r < 0)
                return r;
        r = command_state(s, instance, cmd, &status, &result, ret_error);
        if (r < 0)
                return r;

        if (json_add_string(o, "CommandId", cmd) < 0 ||
            json_add_string(o, "InstanceId", instance) < 0 ||
            json_add_string(o, "DeploymentId", json_get_string(command, "deployment_id")) < 0 ||
            json_add_string(o, "Type",
                            json_get_string(command, "type") ?: json_get_string(result, "type")) <
                    0 ||
            json_add_string(o, "CreatedAt", json_get_string(command, "created_at")) < 0 ||
            json_add_string(o, "StartedAt", json_get_string(result, "started_at")) < 0 ||
            json_add_string(o, "CompletedAt", json_get_string(result, "finished_at")) < 0 ||
            json_add_string(o, "Status", status) < 0 ||
            json_add_string(o, "ExitReason", json_get_string(result, "exit_reason")) < 0 ||
            json_add_string(o, "LogKey", lk) < 0 || json_object_array_add(out, o) < 0)
                return -ENOMEM;
        TAKE_PTR(o);
        return 0;
}

static int print_log(Strata *s, json_object *c, bool header, char **ret_error) {
        const char *instance = json_get_string(c, "InstanceId"),
                   *cmd = json_get_string(c, "CommandId");
        _cleanup_free_ char *log = NULL;
        int r;

        r = etcd_client_get(strata_etcd(s), json_get_string(c, "LogKey"), &log, NULL, ret_error);
        if (r == -ENOENT)
                return error_set(ret_error, r, "command '%s' on instance '%s' has no log yet", cmd,
                                 instance);
        if (r < 0)
                return r;
        if (header)
                printf("==> %s on %s (%s) <==\n", cmd, instance, json_get_string(c, "Status"));
        fputs(log, stdout);
        if (*log && log[strlen(log) - 1] != '\n')
                putchar('\n');
        return 0;
}

static int describe_commands(Strata *s) {
        _cleanup_json_ json_object *targets_list = json_object_new_array(),
                                   *out = json_object_new_array();
        _cleanup_free_ char *error = NULL;
        json_object *ids = arg_list(s, "command-ids");
        const char *deployment, *instance;
        int r;

        if (!targets_list || !out)
                return strata_fail(-ENOMEM, NULL);
        r = arg_identifier(s, "deployment-id", &deployment, &error);
        if (r >= 0)
                r = arg_identifier(s, "instance-id", &instance, &error);
        if (r < 0)
                return strata_fail(r, error);
        if (!!deployment + !!instance + !!ids != 1)
                return strata_error(STRATA_EXIT_USAGE,
                                    "describe-commands: expected one of --deployment-id, "
                                    "--instance-id, --command-ids");

        if (deployment) {
                _cleanup_json_ json_object *dep = NULL;

                json_object *commands;

                r = deployment_get(s, deployment, &dep, &error);
                if (r < 0)
                        return strata_fail(r, error);
                commands = json_object_object_get(dep, "commands");
                if (!json_object_is_type(commands, json_type_object))
                        return strata_error(STRATA_EXIT_FAILED,
                                            "deployment '%s': expected its commands", deployment);
                json_object_object_foreach (commands, i, cmd) {
                        _cleanup_json_ json_object *e = json_object_new_object();

                        if (!e || json_add_string(e, "instance", i) < 0 ||
                            json_add(e, "command", json_object_get(cmd)) < 0 ||
                            json_object_array_add(targets_list, e) < 0)
                                return strata_fail(-ENOMEM, NULL);
                        TAKE_PTR(e);
                }
        } else if (instance) {
                _cleanup_free_ char *stack = NULL;

                r = record_find_stack(s, "instances", instance, &stack, &error);
                if (r >= 0)
                        r = instance_commands(s, instance, targets_list, &error);
                if (r < 0)
                        return strata_fail(r, error);
        } else
                for (size_t i = 0; i < json_object_array_length(ids); i++) {
                        const char *cmd = json_object_get_string(json_object_array_get_idx(ids, i));

                        if (!strata_identifier_valid(cmd))
                                return strata_error(STRATA_EXIT_USAGE,
                                                    "describe-commands: --command-ids: '%s' is "
                                                    "not a command id",
                                                    cmd);
                        r = find_command(s, cmd, targets_list, &error);
                        if (r < 0)
                                return strata_fail(r, error);
                }

        json_object_array_sort(targets_list, compare_targets);
        for (size_t i = 0; i < json_object_array_length(targets_list); i++) {
                json_object *e = json_object_array_get_idx(targets_list, i);

                r = command_output(s, json_get_string(e, "instance"), json_get_string(e, "command"),
                                   out, &error);
                if (r < 0)
                        return strata_fail(r, error);
        }

        if (arg_bool(s, "log") <= 0)
                return print_result("Commands", TAKE_PTR(out));
        for (size_t i = 0; i < json_object_array_length(out); i++) {
                r = print_log(s, json_object_array_get_idx(out, i),
                              json_object_array_length(out) > 1, &error);
                if (r < 0)
                        return strata_fail(r, error);
        }
        return STRATA_EXIT_SUCCESS;
}

static const Option create_options[] = {
        {"stack-id", OPTION_VALUE, true, "ID", "the stack"},
        {"command", OPTION_VALUE, true, "JSON",
         "{\"Name\": \"deploy\", \"Args\": {\"key\": [\"value\", ...]}}; Name: " COMMAND_NAMES},
        {"app-id", OPTION_VALUE, false, "ID",
         "the app (the agent gets its shortname in Args.app_ids)"},
        {"instance-ids", OPTION_LIST, false, "ID", "these instances (default: every online one)"},
        {"layer-ids", OPTION_LIST, false, "ID", "the online instances of these layers"},
        {"custom-json", OPTION_VALUE, false, "JSON",
         "attributes over the stack's and layers' (a JSON object)"},
        {"comment", OPTION_VALUE, false, "TEXT", "a note kept with the deployment"},
        {},
};

static const Option describe_options[] = {
        {"stack-id", OPTION_VALUE, false, "ID", "the deployments of this stack"},
        {"app-id", OPTION_VALUE, false, "ID", "the deployments of this app"},
        {"deployment-ids", OPTION_LIST, false, "ID", "these deployments"},
        {},
};

static const Option describe_commands_options[] = {
        {"deployment-id", OPTION_VALUE, false, "ID", "the commands of this deployment"},
        {"instance-id", OPTION_VALUE, false, "ID", "the commands of this instance"},
        {"command-ids", OPTION_LIST, false, "ID", "these commands"},
        {"log", OPTION_FLAG, false, NULL, "print their logs instead"},
        {},
};

const Verb verbs_deployment[] = {
        {"create-deployment", "send a command to instances of a stack; prints its DeploymentId",
         create_options, create_deployment},
        {"describe-deployments", "show deployments with their status: running, successful, failed",
         describe_options, describe_deployments},
        {"describe-commands", "show the commands of a deployment or an instance, or their logs",
         describe_commands_options, describe_commands},
        {},
};
