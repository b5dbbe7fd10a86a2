/* SPDX-License-Identifier: MIT */
/* strata's layer verbs: create-layer, describe-layers, update-layer, delete-layer (refused while
 * an instance is in the layer). A layer is <prefix>/stacks/<stack>/layers/<id>, stored as the
 * agent reads it (agent/stack.h), with a shortname unique in its stack. */

#include "json-util.h"
#include "str-util.h"
#include "strata.h"
#include "time-util.h"

static const Field layer_fields[] = {
        {"type", "Type", "type", FIELD_STRING},
        {"name", "Name", "name", FIELD_STRING},
        {"shortname", "Shortname", "shortname", FIELD_IDENTIFIER},
        {"custom-recipes", "CustomRecipes", "recipes", FIELD_RECIPES},
        {"packages", "Packages", "packages", FIELD_LIST},
        {"enable-auto-healing", "EnableAutoHealing", "auto_healing", FIELD_BOOL},
        {"custom-json", "CustomJson", "custom_json", FIELD_OBJECT},
        {"lifecycle-event-configuration", "LifecycleEventConfiguration", "shutdown_timeout",
         FIELD_LIFECYCLE},
        {NULL, "CreatedAt", "created_at", FIELD_STRING},
        {},
};

#define LAYER_FIELD_OPTIONS(required)                                                              \
        {"type", OPTION_VALUE, false, "TYPE", "the layer's type (default custom)"},                \
                {"name", OPTION_VALUE, required, "NAME", "its name"},                              \
                {"shortname", OPTION_VALUE, required, "NAME",                                      \
                 "its short name, unique in the stack (an identifier)"},                           \
                {"custom-recipes", OPTION_VALUE, false, "JSON",                                    \
                 "{\"Setup\": [\"cookbook::recipe\"], \"Configure\": [...], \"Deploy\": [...], "   \
                 "\"Undeploy\": [...], \"Shutdown\": [...]}"},                                     \
                {"packages", OPTION_LIST, false, "PACKAGE", "packages installed on setup"},        \
                {"enable-auto-healing", OPTION_NEGATABLE, false, NULL,                             \
                 "replace lost instances (default yes)"},                                          \
                {"custom-json", OPTION_VALUE, false, "JSON",                                       \
                 "attributes over the stack's (a JSON object)"},                                   \
                {"lifecycle-event-configuration", OPTION_VALUE, false, "JSON",                     \
                 "{\"Shutdown\": {\"ExecutionTimeout\": SECONDS}} (default 120)"},

static int layer_output(json_object *record, json_object **ret) {
        _cleanup_json_ json_object *o = json_object_new_object();

        if (!o || json_add_string(o, "LayerId", json_get_string(record, "id")) < 0 ||
            json_add_string(o, "StackId", json_get_string(record, "stack_id")) < 0 ||
            fields_output(layer_fields, record, o) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

/* The stack's layers and the revision they were read at; -ENOENT when the stack does not
 * exist. */
static int stack_layers(Strata *s, const char *stack, json_object **ret, int64_t *ret_revision,
                        char **ret_error) {
        _cleanup_free_ char *key = strata_key(s, "stacks/%s", stack),
                            *prefix = strata_key(s, "stacks/%s/layers/", stack);
        _cleanup_json_ json_object *record = NULL;
        int r;

        if (!key || !prefix)
                return -ENOMEM;
        r = record_get(s, key, "stack", stack, &record, NULL, ret_error);
        if (r < 0)
                return r;
        return record_list(s, prefix, ret, ret_revision, ret_error);
}

/* Nothing in the txn happens when another layer took the shortname meanwhile: the layers
 * prefix must be as it was read. */
static int check_shortname(Strata *s, const char *stack, json_object *layers, int64_t revision,
                           json_object *record, json_object *txn, char **ret_error) {
        _cleanup_free_ char *prefix = strata_key(s, "stacks/%s/layers/", stack);
        const char *id = json_get_string(record, "id");
        const char *shortname = json_get_string(record, "shortname");

        if (!prefix)
                return -ENOMEM;
        for (size_t i = 0; i < json_object_array_length(layers); i++) {
                json_object *l =
                        json_object_object_get(json_object_array_get_idx(layers, i), "value");

                if (!streq_ptr(json_get_string(l, "id"), id) &&
                    streq_ptr(json_get_string(l, "shortname"), shortname))
                        return error_set(ret_error, -EEXIST,
                                         "%s: --shortname '%s': layer '%s' of stack '%s' has it "
                                         "already",
                                         s->verb->name, shortname, json_get_string(l, "id"), stack);
        }
        return etcd_txn_compare_prefix(txn, prefix, ETCD_COMPARE_MOD, ETCD_COMPARE_LESS,
                                       revision + 1);
}

static int create_layer(Strata *s) {
        _cleanup_json_ json_object *record = json_object_new_object(), *txn = NULL, *layers = NULL;
        _cleanup_free_ char *id = NULL, *key = NULL, *now = NULL, *error = NULL;
        const char *stack;
        int64_t revision;
        int r;

        if (!record)
                return strata_fail(-ENOMEM, NULL);
        r = arg_identifier(s, "stack-id", &stack, &error);
        if (r >= 0)
                r = fields_apply(s, layer_fields, record, &error);
        if (r < 0)
                return strata_fail(r, error);
        r = stack_layers(s, stack, &layers, &revision, &error);
        if (r < 0)
                return strata_fail(r, error);

        r = strata_new_id(&id);
        if (r < 0)
                return strata_fail(r, NULL);
        now = format_timestamp(now_usec(CLOCK_REALTIME));
        key = strata_key(s, "stacks/%s/layers/%s", stack, id);
        if (!now || !key || json_add_string(record, "id", id) < 0 ||
            json_add_string(record, "stack_id", stack) < 0 ||
            (!json_object_object_get_ex(record, "type", NULL) &&
             json_add_string(record, "type", "custom") < 0) ||
            json_add_string(record, "created_at", now) < 0 || etcd_txn_new(&txn) < 0)
                return strata_fail(-ENOMEM, NULL);
        r = check_shortname(s, stack, layers, revision, record, txn, &error);
        if (r < 0)
                return strata_fail(r, error);
        if (txn_put(txn, key, record) < 0)
                return strata_fail(-ENOMEM, NULL);
        r = txn_run(s, TAKE_PTR(txn), "the stack's layers changed meanwhile; try again", &error);
        if (r < 0)
                return strata_fail(r, error);
        return print_id("LayerId", id);
}

static int describe_layers(Strata *s) {
        _cleanup_json_ json_object *out = json_object_new_array();
        _cleanup_free_ char *error = NULL;
        json_object *ids = arg_list(s, "layer-ids");
        const char *stack;
        int r;

        if (!out)
                return strata_fail(-ENOMEM, NULL);
        r = arg_identifier(s, "stack-id", &stack, &error);
        if (r < 0)
                return strata_fail(r, error);
        if (!stack == !ids)
                return strata_error(STRATA_EXIT_USAGE,
                                    "describe-layers: expected --stack-id or --layer-ids");

        if (stack) {
                _cleanup_json_ json_object *layers = NULL;

                r = stack_layers(s, stack, &layers, NULL, &error);
                if (r < 0)
                        return strata_fail(r, error);
                for (size_t i = 0; i < json_object_array_length(layers); i++) {
                        _cleanup_json_ json_object *o = NULL;

                        if (layer_output(json_object_object_get(
                                                 json_object_array_get_idx(layers, i), "value"),
                                         &o) < 0 ||
                            json_object_array_add(out, TAKE_PTR(o)) < 0)
                                return strata_fail(-ENOMEM, NULL);
                }
                return print_result("Layers", TAKE_PTR(out));
        }

        for (size_t i = 0; i < json_object_array_length(ids); i++) {
                const char *id = json_object_get_string(json_object_array_get_idx(ids, i));
                _cleanup_free_ char *in_stack = NULL, *key = NULL;
                _cleanup_json_ json_object *record = NULL, *o = NULL;

                if (!strata_identifier_valid(id))
                        return strata_error(STRATA_EXIT_USAGE,
                                            "describe-layers: --layer-ids: '%s' is not a layer id",
                                            id);
                r = record_find_stack(s, "layers", id, &in_stack, &error);
                if (r < 0)
                        return strata_fail(r, error);
                key = strata_key(s, "stacks/%s/layers/%s", in_stack, id);
                if (!key)
                        return strata_fail(-ENOMEM, NULL);
                r = record_get(s, key, "layer", id, &record, NULL, &error);
                if (r < 0)
                        return strata_fail(r, error);
                if (layer_output(record, &o) < 0 || json_object_array_add(out, TAKE_PTR(o)) < 0)
                        return strata_fail(-ENOMEM, NULL);
        }
        return print_result("Layers", TAKE_PTR(out));
}

static int update_layer(Strata *s) {
        _cleanup_free_ char *stack = NULL, *key = NULL, *error = NULL;
        const char *id;
        int r;

        r = arg_identifier(s, "layer-id", &id, &error);
        if (r >= 0)
                r = record_find_stack(s, "layers", id, &stack, &error);
        if (r < 0)
                return strata_fail(r, error);
        key = strata_key(s, "stacks/%s/layers/%s", stack, id);
        if (!key)
                return strata_fail(-ENOMEM, NULL);

        for (unsigned attempt = 0;; attempt++) {
                _cleanup_json_ json_object *record = NULL, *txn = NULL, *layers = NULL;
                int64_t revision;

                error = mfree(error);
                r = stack_layers(s, stack, &layers, &revision, &error);
                if (r >= 0)
                        r = record_get(s, key, "layer", id, &record, NULL, &error);
                if (r >= 0)
                        r = fields_apply(s, layer_fields, record, &error);
                if (r >= 0)
                        r = etcd_txn_new(&txn);
                if (r >= 0)
                        r = check_shortname(s, stack, layers, revision, record, txn, &error);
                if (r >= 0)
                        r = txn_put(txn, key, record);
                if (r < 0)
                        return strata_fail(r, error);
                r = txn_run(s, TAKE_PTR(txn), "the stack's layers changed meanwhile; try again",
                            &error);
                if (r != -EBUSY || attempt >= 3)
                        return r < 0 ? strata_fail(r, error) : STRATA_EXIT_SUCCESS;
        }
}

static int delete_layer(Strata *s) {
        _cleanup_free_ char *stack = NULL, *key = NULL, *prefix = NULL, *error = NULL;
        const char *id;
        int r;

        r = arg_identifier(s, "layer-id", &id, &error);
        if (r >= 0)
                r = record_find_stack(s, "layers", id, &stack, &error);
        if (r < 0)
                return strata_fail(r, error);
        key = strata_key(s, "stacks/%s/layers/%s", stack, id);
        prefix = strata_key(s, "stacks/%s/instances/", stack);
        if (!key || !prefix)
                return strata_fail(-ENOMEM, NULL);

        for (unsigned attempt = 0;; attempt++) {
                _cleanup_json_ json_object *instances = NULL, *txn = NULL;
                _cleanup_(strbuf_done) StrBuf users = {};
                int64_t revision;

                error = mfree(error);
                r = record_list(s, prefix, &instances, &revision, &error);
                if (r < 0)
                        return strata_fail(r, error);
                for (size_t i = 0; i < json_object_array_length(instances); i++) {
                        json_object *e = json_object_array_get_idx(instances, i);
                        json_object *ids = json_object_object_get(
                                json_object_object_get(e, "value"), "layer_ids");

                        for (size_t j = 0; j < json_object_array_length(ids); j++)
                                if (streq_ptr(json_object_get_string(
                                                      json_object_array_get_idx(ids, j)),
                                              id) &&
                                    strbuf_printf(&users, "%s%s", users.len ? ", " : "",
                                                  json_get_string(e, "key")) < 0)
                                        return strata_fail(-ENOMEM, NULL);
                }
                if (users.len > 0)
                        return strata_error(STRATA_EXIT_FAILED,
                                            "delete-layer: layer '%s' still has instances (%s): "
                                            "deregister them or take them out of the layer first",
                                            id, users.data);

                if (etcd_txn_new(&txn) < 0 ||
                    etcd_txn_compare(txn, key, ETCD_COMPARE_VERSION, ETCD_COMPARE_GREATER, 0,
                                     NULL) < 0 ||
                    etcd_txn_compare_prefix(txn, prefix, ETCD_COMPARE_MOD, ETCD_COMPARE_LESS,
                                            revision + 1) < 0 ||
                    txn_delete(txn, key, false) < 0)
                        return strata_fail(-ENOMEM, NULL);
                r = txn_run(s, TAKE_PTR(txn), "the stack's instances changed meanwhile; try again",
                            &error);
                if (r != -EBUSY || attempt >= 3)
                        return r < 0 ? strata_fail(r, error) : STRATA_EXIT_SUCCESS;
        }
}

static const Option create_options[] = {
        {"stack-id", OPTION_VALUE, true, "ID", "the stack"},
        LAYER_FIELD_OPTIONS(true)
        {},
};

static const Option describe_options[] = {
        {"stack-id", OPTION_VALUE, false, "ID", "every layer of this stack"},
        {"layer-ids", OPTION_LIST, false, "ID", "these layers"},
        {},
};

static const Option update_options[] = {
        {"layer-id", OPTION_VALUE, true, "ID", "the layer"},
        LAYER_FIELD_OPTIONS(false)
        {},
};

static const Option delete_options[] = {
        {"layer-id", OPTION_VALUE, true, "ID", "the layer (no instance may be in it)"},
        {},
};

const Verb verbs_layer[] = {
        {"create-layer", "create a layer in a stack; prints its LayerId", create_options,
         create_layer},
        {"describe-layers", "show the layers of a stack, or layers by id", describe_options,
         describe_layers},
        {"update-layer", "change a layer", update_options, update_layer},
        {"delete-layer", "delete a layer", delete_options, delete_layer},
        {},
};
