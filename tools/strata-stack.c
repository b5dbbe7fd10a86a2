/* SPDX-License-Identifier: MIT */
/* strata's stack verbs: create-stack, describe-stacks, update-stack, delete-stack (refused while
 * the stack has instances or apps), clone-stack (layers, apps, custom JSON, optionally users;
 * never instances). A stack is <prefix>/stacks/<id>; what belongs to it is below
 * <prefix>/stacks/<id>/. */

#include "json-util.h"
#include "str-util.h"
#include "strata.h"
#include "time-util.h"

static const Field stack_fields[] = {
        {"name", "Name", "name", FIELD_STRING, "the stack's name"},
        {"region", "Region", "region", FIELD_STRING, "its region (free text)"},
        {"default-os", "DefaultOs", "default_os", FIELD_STRING, "the default OS of instances"},
        {"hostname-theme", "HostnameTheme", "hostname_theme", FIELD_STRING, "the hostname theme"},
        {"custom-json", "CustomJson", "custom_json", FIELD_OBJECT,
         "attributes over the cookbooks' defaults (a JSON object)"},
        {"custom-cookbooks-source", "CustomCookbooksSource", "custom_cookbooks_source",
         FIELD_SOURCE, "{\"Type\": \"git\", \"Url\": ..., \"Revision\": ...}"},
        {"use-custom-cookbooks", "UseCustomCookbooks", "use_custom_cookbooks", FIELD_BOOL,
         "whether the custom cookbooks are used"},
        {NULL, "CreatedAt", "created_at", FIELD_STRING},
        {},
};

#define STACK_FIELD_OPTIONS(name_required)                                                         \
        {"name", OPTION_VALUE, name_required, "NAME", "the stack's name"},                         \
                {"region", OPTION_VALUE, false, "REGION", "its region (free text)"},               \
                {"default-os", OPTION_VALUE, false, "OS", "the default OS of instances"},          \
                {"hostname-theme", OPTION_VALUE, false, "THEME", "the hostname theme"},            \
                {"custom-json", OPTION_VALUE, false, "JSON",                                       \
                 "attributes over the cookbooks' defaults (a JSON object)"},                       \
                {"custom-cookbooks-source", OPTION_VALUE, false, "JSON",                           \
                 "{\"Type\": \"git\"|\"s3\"|\"archive\"|\"http\", \"Url\": ..., "                  \
                 "\"Revision\": ...}"},                                                            \
                {"use-custom-cookbooks", OPTION_NEGATABLE, false, NULL,                            \
                 "use the custom cookbooks"},

static int stack_output(const char *id, json_object *record, json_object **ret) {
        _cleanup_json_ json_object *o = json_object_new_object();

        if (!o || json_add_string(o, "StackId", id) < 0 ||
            fields_output(stack_fields, record, o) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

static int create_stack(Strata *s) {
        _cleanup_json_ json_object *record = json_object_new_object(), *txn = NULL;
        _cleanup_free_ char *id = NULL, *key = NULL, *now = NULL, *error = NULL;
        int r;

        if (!record)
                return strata_fail(-ENOMEM, NULL);
        r = fields_apply(s, stack_fields, record, &error);
        if (r < 0)
                return strata_fail(r, error);

        r = strata_new_id(&id);
        if (r < 0)
                return strata_fail(r, NULL);
        now = format_timestamp(now_usec(CLOCK_REALTIME));
        key = strata_key(s, "stacks/%s", id);
        if (!now || !key || json_add_string(record, "id", id) < 0 ||
            json_add_string(record, "created_at", now) < 0 || etcd_txn_new(&txn) < 0 ||
            etcd_txn_compare(txn, key, ETCD_COMPARE_CREATE, ETCD_COMPARE_EQUAL, 0, NULL) < 0 ||
            txn_put(txn, key, record) < 0)
                return strata_fail(-ENOMEM, NULL);

        r = txn_run(s, TAKE_PTR(txn), "a stack with the new id exists already; try again", &error);
        if (r < 0)
                return strata_fail(r, error);
        return print_id("StackId", id);
}

static int describe_stacks(Strata *s) {
        _cleanup_json_ json_object *out = json_object_new_array(), *list = NULL;
        _cleanup_free_ char *prefix = strata_key(s, "stacks/"), *error = NULL;
        json_object *ids = arg_list(s, "stack-ids");
        int r;

        if (!out || !prefix)
                return strata_fail(-ENOMEM, NULL);

        if (ids)
                for (size_t i = 0; i < json_object_array_length(ids); i++) {
                        const char *id = json_object_get_string(json_object_array_get_idx(ids, i));
                        _cleanup_json_ json_object *record = NULL, *o = NULL;
                        _cleanup_free_ char *key = NULL;

                        if (!strata_identifier_valid(id))
                                return strata_error(STRATA_EXIT_USAGE,
                                                    "describe-stacks: --stack-ids: '%s' is not "
                                                    "a stack id",
                                                    id);
                        key = strata_key(s, "stacks/%s", id);
                        if (!key)
                                return strata_fail(-ENOMEM, NULL);
                        r = record_get(s, key, "stack", id, &record, NULL, &error);
                        if (r >= 0)
                                r = stack_output(id, record, &o);
                        if (r >= 0)
                                r = json_object_array_add(out, TAKE_PTR(o)) < 0 ? -ENOMEM : 0;
                        if (r < 0)
                                return strata_fail(r, error);
                }
        else {
                r = record_list(s, prefix, &list, NULL, &error);
                if (r < 0)
                        return strata_fail(r, error);
                for (size_t i = 0; i < json_object_array_length(list); i++) {
                        json_object *e = json_object_array_get_idx(list, i);
                        _cleanup_json_ json_object *o = NULL;

                        r = stack_output(json_get_string(e, "key"),
                                         json_object_object_get(e, "value"), &o);
                        if (r < 0 || json_object_array_add(out, TAKE_PTR(o)) < 0)
                                return strata_fail(-ENOMEM, NULL);
                }
        }
        return print_result("Stacks", TAKE_PTR(out));
}

static int update_stack(Strata *s) {
        _cleanup_free_ char *key = NULL, *error = NULL;
        const char *id;
        int r;

        r = arg_identifier(s, "stack-id", &id, &error);
        if (r < 0)
                return strata_fail(r, error);
        key = strata_key(s, "stacks/%s", id);
        if (!key)
                return strata_fail(-ENOMEM, NULL);

        /* Read, change, write back unless someone else wrote in between; then read again. */
        for (unsigned attempt = 0;; attempt++) {
                _cleanup_json_ json_object *record = NULL, *txn = NULL;
                int64_t mod;

                error = mfree(error);
                r = record_get(s, key, "stack", id, &record, &mod, &error);
                if (r >= 0)
                        r = fields_apply(s, stack_fields, record, &error);
                if (r < 0)
                        return strata_fail(r, error);
                if (etcd_txn_new(&txn) < 0 ||
                    etcd_txn_compare(txn, key, ETCD_COMPARE_MOD, ETCD_COMPARE_EQUAL, mod, NULL) <
                            0 ||
                    txn_put(txn, key, record) < 0)
                        return strata_fail(-ENOMEM, NULL);
                r = txn_run(s, TAKE_PTR(txn), "the stack changed while it was being updated",
                            &error);
                if (r != -EBUSY || attempt >= 3)
                        return r < 0 ? strata_fail(r, error) : STRATA_EXIT_SUCCESS;
        }
}

/* "2 instances and 1 app" */
static int count_children(Strata *s, const char *id, int64_t *ret_instances, int64_t *ret_apps,
                          char **ret_error) {
        const char *dirs[] = {"instances", "apps"};
        int64_t *counts[] = {ret_instances, ret_apps};
        int r;

        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                _cleanup_free_ char *prefix = strata_key(s, "stacks/%s/%s/", id, dirs[i]);
                _cleanup_(etcd_range_freep) EtcdRange *range = NULL;

                if (!prefix)
                        return -ENOMEM;
                r = etcd_client_range(strata_etcd(s), prefix,
                                      ETCD_RANGE_PREFIX | ETCD_RANGE_COUNT_ONLY, &range, ret_error);
                if (r < 0)
                        return r;
                *counts[i] = range->count;
        }
        return 0;
}

static int delete_stack(Strata *s) {
        _cleanup_free_ char *key = NULL, *dir = NULL, *instances = NULL, *apps = NULL,
                            *error = NULL;
        _cleanup_json_ json_object *record = NULL, *txn = NULL;
        int64_t n_instances = 0, n_apps = 0;
        const char *id;
        int r;

        r = arg_identifier(s, "stack-id", &id, &error);
        if (r < 0)
                return strata_fail(r, error);
        key = strata_key(s, "stacks/%s", id);
        dir = strata_key(s, "stacks/%s/", id);
        instances = strata_key(s, "stacks/%s/instances/", id);
        apps = strata_key(s, "stacks/%s/apps/", id);
        if (!key || !dir || !instances || !apps)
                return strata_fail(-ENOMEM, NULL);
        r = record_get(s, key, "stack", id, &record, NULL, &error);
        if (r < 0)
                return strata_fail(r, error);

        /* One transaction: no instance or app may appear between the check and the delete. */
        if (etcd_txn_new(&txn) < 0 ||
            etcd_txn_compare_prefix(txn, instances, ETCD_COMPARE_CREATE, ETCD_COMPARE_EQUAL, 0) <
                    0 ||
            etcd_txn_compare_prefix(txn, apps, ETCD_COMPARE_CREATE, ETCD_COMPARE_EQUAL, 0) < 0 ||
            txn_delete(txn, dir, true) < 0 || txn_delete(txn, key, false) < 0)
                return strata_fail(-ENOMEM, NULL);
        r = txn_run(s, TAKE_PTR(txn), "", &error);
        if (r != -EBUSY)
                return r < 0 ? strata_fail(r, error) : STRATA_EXIT_SUCCESS;

        error = mfree(error);
        r = count_children(s, id, &n_instances, &n_apps, &error);
        if (r < 0)
                return strata_fail(r, error);
        return strata_error(STRATA_EXIT_FAILED,
                            "delete-stack: stack '%s' still has %" PRIi64 " instance%s and %" PRIi64
                            " app%s: deregister the instances and delete the apps first",
                            id, n_instances, n_instances == 1 ? "" : "s", n_apps,
                            n_apps == 1 ? "" : "s");
}

static bool in_list(json_object *list, const char *s) {
        for (size_t i = 0; i < json_object_array_length(list); i++)
                if (streq_ptr(json_object_get_string(json_object_array_get_idx(list, i)), s))
                        return true;
        return false;
}

/* Puts copies of the records of one kind of the source stack under the new one, each with a new
 * id (except users, named by their name). */
static int clone_children(Strata *s, const char *source, const char *target, const char *kind,
                          json_object *only, const char *now, json_object *txn, char **ret_error) {
        _cleanup_free_ char *prefix = strata_key(s, "stacks/%s/%s/", source, kind);
        _cleanup_json_ json_object *list = NULL;
        int r;

        if (!prefix)
                return -ENOMEM;
        r = record_list(s, prefix, &list, NULL, ret_error);
        if (r < 0)
                return r;

        for (size_t i = 0; i < json_object_array_length(list); i++) {
                json_object *e = json_object_array_get_idx(list, i);
                json_object *v = json_object_object_get(e, "value");
                const char *old_id = json_get_string(e, "key");
                _cleanup_free_ char *id = NULL, *key = NULL;

                if (only && !in_list(only, old_id))
                        continue;
                if (streq(kind, "users"))
                        id = strdup(old_id);
                else {
                        r = strata_new_id(&id);
                        if (r < 0)
                                return r;
                        /* Made in the same second: the random part keeps them apart. */
                        if (json_add_string(v, "id", id) < 0 ||
                            json_add_string(v, "created_at", now) < 0)
                                return -ENOMEM;
                }
                if (!id)
                        return -ENOMEM;
                if (json_object_object_get_ex(v, "stack_id", NULL) &&
                    json_add_string(v, "stack_id", target) < 0)
                        return -ENOMEM;
                key = strata_key(s, "stacks/%s/%s/%s", target, kind, id);
                if (!key || txn_put(txn, key, v) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int clone_stack(Strata *s) {
        _cleanup_json_ json_object *record = NULL, *txn = NULL;
        _cleanup_free_ char *source_key = NULL, *id = NULL, *key = NULL, *now = NULL, *error = NULL,
                            *name = NULL;
        json_object *app_ids = arg_list(s, "clone-app-ids");
        const char *source;
        int r;

        r = arg_identifier(s, "source-stack-id", &source, &error);
        if (r < 0)
                return strata_fail(r, error);
        source_key = strata_key(s, "stacks/%s", source);
        if (!source_key)
                return strata_fail(-ENOMEM, NULL);
        r = record_get(s, source_key, "stack", source, &record, NULL, &error);
        if (r < 0)
                return strata_fail(r, error);

        if (!arg_string(s, "name")) {
                name = strf("Copy of %s", strempty(json_get_string(record, "name")));
                if (!name || json_add_string(record, "name", name) < 0)
                        return strata_fail(-ENOMEM, NULL);
        }
        r = fields_apply(s, stack_fields, record, &error);
        if (r < 0)
                return strata_fail(r, error);

        r = strata_new_id(&id);
        if (r < 0)
                return strata_fail(r, NULL);
        now = format_timestamp(now_usec(CLOCK_REALTIME));
        key = strata_key(s, "stacks/%s", id);
        if (!now || !key || json_add_string(record, "id", id) < 0 ||
            json_add_string(record, "created_at", now) < 0 || etcd_txn_new(&txn) < 0 ||
            etcd_txn_compare(txn, key, ETCD_COMPARE_CREATE, ETCD_COMPARE_EQUAL, 0, NULL) < 0 ||
            txn_put(txn, key, record) < 0)
                return strata_fail(-ENOMEM, NULL);

        for (size_t i = 0; app_ids && i < json_object_array_length(app_ids); i++) {
                const char *app = json_object_get_string(json_object_array_get_idx(app_ids, i));
                _cleanup_free_ char *app_key = strata_key(s, "stacks/%s/apps/%s", source, app);
                _cleanup_json_ json_object *a = NULL;

                if (!app_key)
                        return strata_fail(-ENOMEM, NULL);
                r = record_get(s, app_key, "app", app, &a, NULL, &error);
                if (r < 0) {
                        error_prefix(&error, "clone-stack: --clone-app-ids");
                        return strata_fail(r, error);
                }
        }

        r = clone_children(s, source, id, "layers", NULL, now, txn, &error);
        if (r >= 0)
                r = clone_children(s, source, id, "apps", app_ids, now, txn, &error);
        if (r >= 0 && arg_bool(s, "clone-permissions") > 0)
                r = clone_children(s, source, id, "users", NULL, now, txn, &error);
        if (r < 0)
                return strata_fail(r, error);

        r = txn_run(s, TAKE_PTR(txn), "a stack with the new id exists already; try again", &error);
        if (r < 0)
                return strata_fail(r, error);
        return print_id("StackId", id);
}

static const Option create_options[] = {
        STACK_FIELD_OPTIONS(true)
        {},
};

static const Option describe_options[] = {
        {"stack-ids", OPTION_LIST, false, "ID", "only these stacks (default: all)"},
        {},
};

static const Option update_options[] = {
        {"stack-id", OPTION_VALUE, true, "ID", "the stack"},
        STACK_FIELD_OPTIONS(false)
        {},
};

static const Option delete_options[] = {
        {"stack-id", OPTION_VALUE, true, "ID", "the stack (it must have no instances or apps)"},
        {},
};

static const Option clone_options[] = {
        {"source-stack-id", OPTION_VALUE, true, "ID", "the stack to copy"},
        STACK_FIELD_OPTIONS(false)
        {"clone-app-ids", OPTION_LIST, false, "ID", "only these apps (default: every app)"},
        {"clone-permissions", OPTION_NEGATABLE, false, NULL,
         "copy the users' permissions too (default: no)"},
        {},
};

const Verb verbs_stack[] = {
        {"create-stack", "create a stack; prints its StackId", create_options, create_stack},
        {"describe-stacks", "show stacks", describe_options, describe_stacks},
        {"update-stack", "change a stack's settings", update_options, update_stack},
        {"delete-stack", "delete a stack with its layers, users and deployments", delete_options,
         delete_stack},
        {"clone-stack",
         "copy a stack with its layers, apps and custom JSON (not its instances); prints the new "
         "StackId",
         clone_options, clone_stack},
        {},
};
