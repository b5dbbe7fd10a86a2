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

static const StackChild layer_child = {
        .kind = "layers",
        .noun = "layer",
        .id_phrase = "a layer id",
        .result_key = "Layers",
        .fields = layer_fields,
        .output = layer_output,
        .shortname_option = "--shortname",
};

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
        r = stack_records(s, stack, "layers", &layers, &revision, &error);
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
        r = stack_child_check_shortname(s, &layer_child, stack, layers, revision, record, txn,
                                        &error);
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
        return stack_child_describe(s, &layer_child);
}

static int update_layer(Strata *s) {
        return stack_child_update(s, &layer_child);
}

static int delete_layer(Strata *s) {
        _cleanup_free_ char *stack = NULL, *key = NULL, *prefix = NULL, *error = NULL;
        const char *id;
        int r;

        r = record_locate(s, "layer-id", "layers", &id, &stack, &key, &error);
        if (r < 0)
                return strata_fail(r, error);
        prefix = strata_key(s, "stacks/%s/instances/", stack);
        if (!prefix)
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
