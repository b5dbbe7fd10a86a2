/* SPDX-License-Identifier: MIT */
/* strata's app verbs: create-app, describe-apps, update-app, delete-app. An app is
 * <prefix>/stacks/<stack>/apps/<id>, stored as the agent reads it (agent/stack.h), with a
 * shortname unique in its stack (the agent deploys it to <deploy_root>/<shortname>). */

#include <ctype.h>

#include "json-util.h"
#include "str-util.h"
#include "strata.h"
#include "time-util.h"

static const Field app_fields[] = {
        {"shortname", "Shortname", "shortname", FIELD_IDENTIFIER},
        {"name", "Name", "name", FIELD_STRING},
        {"type", "Type", "type", FIELD_STRING},
        {"app-source", "AppSource", "source", FIELD_SOURCE},
        {"domains", "Domains", "domains", FIELD_LIST},
        {"environment", "Environment", "environment", FIELD_ENVIRONMENT},
        {"enable-ssl", "EnableSsl", "enable_ssl", FIELD_BOOL},
        {"ssl-configuration", "SslConfiguration", "ssl", FIELD_SSL},
        {"attributes", "Attributes", "attributes", FIELD_ATTRIBUTES},
        {NULL, "CreatedAt", "created_at", FIELD_STRING},
        {},
};

#define APP_FIELD_OPTIONS(required)                                                                \
        {"name", OPTION_VALUE, required, "NAME", "the app's name"},                                \
                {"shortname", OPTION_VALUE, false, "NAME",                                         \
                 "its short name, unique in the stack (default: from the name)"},                  \
                {"type", OPTION_VALUE, required, "TYPE",                                           \
                 "its type (static, nodejs, php, other...)"},                                      \
                {"app-source", OPTION_VALUE, false, "JSON",                                        \
                 "{\"Type\": \"git\"|\"s3\"|\"archive\"|\"http\", \"Url\": ..., \"Revision\": "    \
                 "..., \"SshKey\": ..., \"Username\": ..., \"Password\": ...}"},                   \
                {"domains", OPTION_LIST, false, "DOMAIN", "its domains"},                          \
                {"environment", OPTION_VALUE, false, "JSON",                                       \
                 "[{\"Key\": ..., \"Value\": ..., \"Secure\": true|false}]"},                      \
                {"enable-ssl", OPTION_NEGATABLE, false, NULL, "serve it over TLS"},                \
                {"ssl-configuration", OPTION_VALUE, false, "JSON",                                 \
                 "{\"Certificate\": ..., \"PrivateKey\": ..., \"Chain\": ...}"},                   \
                {"attributes", OPTION_VALUE, false, "JSON",                                        \
                 "{\"DocumentRoot\": ..., ...} (strings)"},

static int app_output(json_object *record, json_object **ret) {
        _cleanup_json_ json_object *o = json_object_new_object();

        if (!o || json_add_string(o, "AppId", json_get_string(record, "id")) < 0 ||
            json_add_string(o, "StackId", json_get_string(record, "stack_id")) < 0 ||
            fields_output(app_fields, record, o) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

/* "My Web App!" -> "my_web_app_": what the AWS console would suggest, as an identifier. */
static char *shortname_from(const char *name) {
        size_t n = MIN(strlen(name), (size_t)64);
        char *s = strndup(name, n);

        if (!s)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];

                s[i] = isalnum(c) && c < 0x80   ? (char)tolower(c)
                       : (c == '-' || c == '.') ? (char)c
                                                : '_';
        }
        if (s[0] == '-' || s[0] == '.')
                s[0] = '_';
        return s;
}

static const StackChild app_child = {
        .kind = "apps",
        .noun = "app",
        .id_phrase = "an app id",
        .result_key = "Apps",
        .fields = app_fields,
        .output = app_output,
        .shortname_option = "shortname",
};

static int create_app(Strata *s) {
        _cleanup_json_ json_object *record = json_object_new_object(), *txn = NULL, *apps = NULL;
        _cleanup_free_ char *id = NULL, *key = NULL, *now = NULL, *error = NULL, *shortname = NULL;
        const char *stack;
        int64_t revision;
        int r;

        if (!record)
                return strata_fail(-ENOMEM, NULL);
        r = arg_identifier(s, "stack-id", &stack, &error);
        if (r >= 0)
                r = fields_apply(s, app_fields, record, &error);
        if (r < 0)
                return strata_fail(r, error);
        if (!json_object_object_get_ex(record, "shortname", NULL)) {
                shortname = shortname_from(arg_string(s, "name"));
                if (!shortname || json_add_string(record, "shortname", shortname) < 0)
                        return strata_fail(-ENOMEM, NULL);
        }
        r = stack_records(s, stack, "apps", &apps, &revision, &error);
        if (r < 0)
                return strata_fail(r, error);

        r = strata_new_id(&id);
        if (r < 0)
                return strata_fail(r, NULL);
        now = format_timestamp(now_usec(CLOCK_REALTIME));
        key = strata_key(s, "stacks/%s/apps/%s", stack, id);
        if (!now || !key || json_add_string(record, "id", id) < 0 ||
            json_add_string(record, "stack_id", stack) < 0 ||
            json_add_string(record, "created_at", now) < 0 || etcd_txn_new(&txn) < 0)
                return strata_fail(-ENOMEM, NULL);
        r = stack_child_check_shortname(s, &app_child, stack, apps, revision, record, txn, &error);
        if (r < 0)
                return strata_fail(r, error);
        if (txn_put(txn, key, record) < 0)
                return strata_fail(-ENOMEM, NULL);
        r = txn_run(s, TAKE_PTR(txn), "the stack's apps changed meanwhile; try again", &error);
        if (r < 0)
                return strata_fail(r, error);
        return print_id("AppId", id);
}

static int describe_apps(Strata *s) {
        return stack_child_describe(s, &app_child);
}

static int update_app(Strata *s) {
        return stack_child_update(s, &app_child);
}

static int delete_app(Strata *s) {
        _cleanup_free_ char *stack = NULL, *key = NULL, *error = NULL;
        int64_t deleted = 0;
        const char *id;
        int r;

        r = record_locate(s, "app-id", "apps", &id, &stack, &key, &error);
        if (r < 0)
                return strata_fail(r, error);
        r = etcd_client_delete(strata_etcd(s), key, false, &deleted, &error);
        if (r < 0)
                return strata_fail(r, error);
        if (deleted == 0)
                return strata_error(STRATA_EXIT_FAILED, "app '%s' does not exist", id);
        return STRATA_EXIT_SUCCESS;
}

static const Option create_options[] = {
        {"stack-id", OPTION_VALUE, true, "ID", "the stack"},
        APP_FIELD_OPTIONS(true)
        {},
};

static const Option describe_options[] = {
        {"stack-id", OPTION_VALUE, false, "ID", "every app of this stack"},
        {"app-ids", OPTION_LIST, false, "ID", "these apps"},
        {},
};

static const Option update_options[] = {
        {"app-id", OPTION_VALUE, true, "ID", "the app"},
        APP_FIELD_OPTIONS(false)
        {},
};

static const Option delete_options[] = {
        {"app-id", OPTION_VALUE, true, "ID", "the app"},
        {},
};

const Verb verbs_app[] = {
        {"create-app", "create an app in a stack; prints its AppId", create_options, create_app},
        {"describe-apps", "show the apps of a stack, or apps by id", describe_options,
         describe_apps},
        {"update-app", "change an app", update_options, update_app},
        {"delete-app", "delete an app", delete_options, delete_app},
        {},
};
