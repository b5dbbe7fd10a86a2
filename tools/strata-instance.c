/* SPDX-License-Identifier: MIT */
/* strata's instance verbs: create-instance, register-instance, describe-instances,
 * update-instance, deregister-instance.
 *
 * An instance is <prefix>/stacks/<stack>/instances/<id>; what its agent writes lives below
 * <prefix>/instances/<id>/. register-instance also gives the instance its own etcd user
 * "instance-<id>" with a role of the same name that may READWRITE <prefix>/instances/<id>/ and
 * its online mark <prefix>/stacks/<stack>/online/<id>, and READ its stack
 * (<prefix>/stacks/<stack> and everything below it), a random password in a 0600 file, and the
 * agent.yaml that uses them. deregister-instance removes the record, its online mark, what the
 * agent wrote, the user and the role. */

#include <libgen.h>
#include <limits.h>

#include "fs-util.h"
#include "json-util.h"
#include "str-util.h"
#include "strata.h"
#include "time-util.h"

#define PASSWORD_FILE_DEFAULT "/etc/strata/etcd-password"

static const Field instance_fields[] = {
        {"hostname", "Hostname", "hostname", FIELD_STRING},
        {"layer-ids", "LayerIds", "layer_ids", FIELD_LIST},
        {"os", "Os", "os", FIELD_STRING},
        {"instance-type", "InstanceType", "instance_type", FIELD_STRING},
        {"private-ip", "PrivateIp", "private_ip", FIELD_STRING},
        {"public-ip", "PublicIp", "public_ip", FIELD_STRING},
        {NULL, "CreatedAt", "created_at", FIELD_STRING},
        {},
};

#define INSTANCE_FIELD_OPTIONS(layers_required)                                                    \
        {"layer-ids", OPTION_LIST, layers_required, "ID", "the layers the instance is in"},        \
                {"hostname", OPTION_VALUE, false, "NAME", "its host name"},                        \
                {"os", OPTION_VALUE, false, "OS", "its operating system"},                         \
                {"instance-type", OPTION_VALUE, false, "TYPE", "its instance type"},               \
                {"private-ip", OPTION_VALUE, false, "ADDRESS", "its private address"}, {           \
                "public-ip", OPTION_VALUE, false, "ADDRESS", "its public address"                  \
        }

int stack_instances(Strata *s, const char *stack, json_object **ret, int64_t *ret_revision,
                    char **ret_error) {
        return stack_records(s, stack, "instances", ret, ret_revision, ret_error);
}

int instance_status(Strata *s, json_object *record, const char **ret, json_object **ret_alive,
                    char **ret_error) {
        const char *id = json_get_string(record, "id");
        _cleanup_free_ char *alive_key = strata_key(s, "instances/%s/alive", id),
                            *registered_key = strata_key(s, "instances/%s/registered", id);
        _cleanup_json_ json_object *alive = NULL, *registered = NULL;
        int r;

        if (!alive_key || !registered_key)
                return -ENOMEM;
        r = record_get(s, alive_key, "alive record", id, &alive, NULL, ret_error);
        if (r >= 0)
                *ret = "online";
        else if (r == -ENOENT) {
                if (ret_error)
                        *ret_error = mfree(*ret_error);
                r = record_get(s, registered_key, "registration", id, &registered, NULL, ret_error);
                if (r == -ENOENT) {
                        if (ret_error)
                                *ret_error = mfree(*ret_error);
                        r = 0;
                        *ret = json_get_string(record, "etcd_user") ? "registered" : "stopped";
                } else if (r >= 0)
                        *ret = "connection_lost";
        }
        if (r < 0)
                return r;
        if (ret_alive)
                *ret_alive = TAKE_PTR(alive);
        return 0;
}

static int instance_output(Strata *s, json_object *record, json_object **ret, char **ret_error) {
        _cleanup_json_ json_object *o = json_object_new_object(), *alive = NULL;
        const char *status = NULL;
        int r;

        if (!o)
                return -ENOMEM;
        r = instance_status(s, record, &status, &alive, ret_error);
        if (r < 0)
                return r;
        if (json_add_string(o, "InstanceId", json_get_string(record, "id")) < 0 ||
            json_add_string(o, "StackId", json_get_string(record, "stack_id")) < 0 ||
            fields_output(instance_fields, record, o) < 0 ||
            json_add_string(o, "Status", status) < 0 ||
            json_add_string(o, "AgentVersion", json_get_string(alive, "agent_version")) < 0 ||
            json_add_string(o, "LastHeartbeat", json_get_string(alive, "time")) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

/* Every --layer-ids entry names a layer of the stack. */
static int check_layers(Strata *s, const char *stack, char **ret_error) {
        json_object *ids = arg_list(s, "layer-ids");

        for (size_t i = 0; ids && i < json_object_array_length(ids); i++) {
                const char *id = json_object_get_string(json_object_array_get_idx(ids, i));
                _cleanup_free_ char *key = NULL;
                _cleanup_json_ json_object *layer = NULL;
                int r;

                if (!strata_identifier_valid(id))
                        return error_set(ret_error, -EINVAL,
                                         "%s: --layer-ids: '%s' is not a layer id", s->verb->name,
                                         id);
                key = strata_key(s, "stacks/%s/layers/%s", stack, id);
                if (!key)
                        return -ENOMEM;
                r = record_get(s, key, "layer", id, &layer, NULL, ret_error);
                if (r < 0) {
                        error_prefix(ret_error, "%s: --layer-ids", s->verb->name);
                        if (r == -ENOENT && ret_error && *ret_error) {
                                char *e = strf("%s in stack '%s'", *ret_error, stack);

                                if (e) {
                                        free(*ret_error);
                                        *ret_error = e;
                                }
                        }
                        return r;
                }
        }
        return 0;
}

/* A new instance record of the stack from the options; the stack and layers exist. */
static int new_instance(Strata *s, const char *stack, json_object **ret, char **ret_error) {
        _cleanup_json_ json_object *record = json_object_new_object();
        _cleanup_free_ char *id = NULL, *now = NULL, *key = NULL;
        _cleanup_json_ json_object *stack_record = NULL;
        int r;

        if (!record)
                return -ENOMEM;
        r = fields_apply(s, instance_fields, record, ret_error);
        if (r < 0)
                return r;
        key = strata_key(s, "stacks/%s", stack);
        if (!key)
                return -ENOMEM;
        r = record_get(s, key, "stack", stack, &stack_record, NULL, ret_error);
        if (r >= 0)
                r = check_layers(s, stack, ret_error);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(record, "layer_ids", NULL) &&
            json_add(record, "layer_ids", json_object_new_array()) < 0)
                return -ENOMEM;

        r = strata_new_id(&id);
        if (r < 0)
                return r;
        now = format_timestamp(now_usec(CLOCK_REALTIME));
        if (!now || json_add_string(record, "id", id) < 0 ||
            json_add_string(record, "stack_id", stack) < 0 ||
            json_add_string(record, "created_at", now) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(record);
        return 0;
}

/* Puts the record, as long as its stack exists and the id is new. */
static int put_instance(Strata *s, json_object *record, char **ret_error) {
        const char *stack = json_get_string(record, "stack_id"),
                   *id = json_get_string(record, "id");
        _cleanup_free_ char *stack_key = strata_key(s, "stacks/%s", stack),
                            *key = strata_key(s, "stacks/%s/instances/%s", stack, id);
        _cleanup_json_ json_object *txn = NULL;

        if (!stack_key || !key || etcd_txn_new(&txn) < 0 ||
            etcd_txn_compare(txn, stack_key, ETCD_COMPARE_VERSION, ETCD_COMPARE_GREATER, 0, NULL) <
                    0 ||
            etcd_txn_compare(txn, key, ETCD_COMPARE_CREATE, ETCD_COMPARE_EQUAL, 0, NULL) < 0 ||
            txn_put(txn, key, record) < 0)
                return -ENOMEM;
        return txn_run(s, TAKE_PTR(txn), "the stack was deleted meanwhile", ret_error);
}

static int create_instance(Strata *s) {
        _cleanup_json_ json_object *record = NULL;
        _cleanup_free_ char *error = NULL;
        const char *stack;
        int r;

        r = arg_identifier(s, "stack-id", &stack, &error);
        if (r >= 0)
                r = new_instance(s, stack, &record, &error);
        if (r >= 0)
                r = put_instance(s, record, &error);
        if (r < 0)
                return strata_fail(r, error);
        return print_id("InstanceId", json_get_string(record, "id"));
}

/* req points to the request just built (built: what building it returned). */
static int call(Strata *s, const char *path, int built, json_object **req, char **ret_error) {
        _cleanup_json_ json_object *reply = NULL;

        if (built < 0) {
                json_object_put(TAKE_PTR(*req));
                return built;
        }
        return etcd_client_call(strata_etcd(s), path, TAKE_PTR(*req), &reply, ret_error);
}

/* The instance's etcd user and role; what was made is removed again on failure. */
static int create_credentials(Strata *s, const char *user, const char *password, const char *stack,
                              const char *instance, char **ret_error) {
        _cleanup_free_ char *own = strata_key(s, "instances/%s/", instance),
                            *stack_key = strata_key(s, "stacks/%s", stack),
                            *stack_dir = strata_key(s, "stacks/%s/", stack),
                            *online = strata_key(s, "stacks/%s/online/%s", stack, instance);
        json_object *req = NULL;
        int r;

        if (!own || !stack_key || !stack_dir || !online)
                return -ENOMEM;

        r = call(s, ETCD_PATH_USER_ADD, etcd_request_user_add(user, password, &req), &req,
                 ret_error);
        if (r < 0)
                return r;
        r = call(s, ETCD_PATH_ROLE_ADD, etcd_request_name(user, &req), &req, ret_error);
        if (r >= 0)
                r = call(s, ETCD_PATH_ROLE_GRANT_PERMISSION,
                         etcd_request_role_grant_permission(user, ETCD_PERMISSION_READWRITE, own,
                                                            true, &req),
                         &req, ret_error);
        if (r >= 0)
                r = call(s, ETCD_PATH_ROLE_GRANT_PERMISSION,
                         etcd_request_role_grant_permission(user, ETCD_PERMISSION_READWRITE,
                                                            online, false, &req),
                         &req, ret_error);
        if (r >= 0)
                r = call(s, ETCD_PATH_ROLE_GRANT_PERMISSION,
                         etcd_request_role_grant_permission(user, ETCD_PERMISSION_READ, stack_key,
                                                            false, &req),
                         &req, ret_error);
        if (r >= 0)
                r = call(s, ETCD_PATH_ROLE_GRANT_PERMISSION,
                         etcd_request_role_grant_permission(user, ETCD_PERMISSION_READ, stack_dir,
                                                            true, &req),
                         &req, ret_error);
        if (r >= 0)
                r = call(s, ETCD_PATH_USER_GRANT_ROLE,
                         etcd_request_user_grant_role(user, user, &req), &req, ret_error);
        if (r >= 0)
                return 0;

        /* Best effort: the error to report is the first one. */
        (void)call(s, ETCD_PATH_ROLE_DELETE, etcd_request_name(user, &req), &req, NULL);
        (void)call(s, ETCD_PATH_USER_DELETE, etcd_request_name(user, &req), &req, NULL);
        return r;
}

/* "user name not found" / "role name not found": already gone. */
static int remove_credential(Strata *s, const char *path, const char *name, char **ret_error) {
        _cleanup_free_ char *error = NULL;
        json_object *req = NULL;
        int r;

        r = call(s, path, etcd_request_name(name, &req), &req, &error);
        if (r == -EPERM && error && strstr(error, "not found"))
                return 0;
        if (r < 0 && ret_error)
                *ret_error = TAKE_PTR(error);
        return r;
}

static char *absolute(const char *path) {
        char cwd[PATH_MAX];

        if (path[0] == '/')
                return strdup(path);
        if (!getcwd(cwd, sizeof(cwd)))
                return NULL;
        return strf("%s/%s", cwd, path);
}

static char *quoted(const char *s) {
        _cleanup_json_ json_object *v = json_object_new_string(s);
        const char *t =
                v ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_NOSLASHESCAPE) : NULL;

        return t ? strdup(t) : NULL;
}

/* agent.yaml for the instance: JSON strings are YAML scalars that need no further quoting. */
static char *agent_yaml(Strata *s, const char *instance, const char *stack, const char *user,
                        const char *password_file) {
        _cleanup_(strbuf_done) StrBuf b = {};
        _cleanup_free_ char *qi = quoted(instance), *qs = quoted(stack), *qp = quoted(s->prefix),
                            *qu = quoted(user), *qf = quoted(password_file), *ca = NULL,
                            *qca = NULL;
        int r;

        if (!qi || !qs || !qp || !qu || !qf)
                return NULL;
        r = strbuf_printf(&b,
                          "# strata-agent configuration of instance %s in stack %s, written by "
                          "strata register-instance.\n"
                          "instance_id: %s\n"
                          "stack_id: %s\n"
                          "control_plane:\n"
                          "  type: etcd\n"
                          "  endpoints: [",
                          instance, stack, qi, qs);
        for (char **e = s->endpoints; r >= 0 && *e; e++) {
                _cleanup_free_ char *q = quoted(*e);

                r = q ? strbuf_printf(&b, "%s%s", e == s->endpoints ? "" : ", ", q) : -ENOMEM;
        }
        if (r >= 0)
                r = strbuf_printf(&b,
                                  "]\n"
                                  "  prefix: %s\n"
                                  "  username: %s\n"
                                  "  password_file: %s\n",
                                  qp, qu, qf);
        if (r >= 0 && s->cacert) {
                ca = absolute(s->cacert);
                qca = ca ? quoted(ca) : NULL;
                r = qca ? strbuf_printf(&b, "  ca_file: %s\n", qca) : -ENOMEM;
        }
        if (r < 0)
                return NULL;
        return strbuf_steal(&b);
}

static int register_instance(Strata *s) {
        _cleanup_json_ json_object *record = NULL;
        _cleanup_free_ char *error = NULL, *password = NULL, *password_file = NULL, *user = NULL,
                            *yaml = NULL, *config = NULL, *dir = NULL;
        const char *stack, *id, *output = arg_string(s, "output-config");
        int r;

        r = arg_identifier(s, "stack-id", &stack, &error);
        if (r >= 0)
                r = new_instance(s, stack, &record, &error);
        if (r < 0)
                return strata_fail(r, error);
        id = json_get_string(record, "id");

        if (arg_string(s, "output-password-file"))
                password_file = absolute(arg_string(s, "output-password-file"));
        else if (output) {
                dir = strdup(output);
                password_file = dir ? strf("%s/etcd-password", dirname(dir)) : NULL;
                if (password_file && password_file[0] != '/') {
                        char *a = absolute(password_file);

                        free(password_file);
                        password_file = a;
                }
        } else
                password_file = strdup(PASSWORD_FILE_DEFAULT);
        config = output ? absolute(output) : NULL;
        user = strf("instance-%s", id);
        if (!password_file || (output && !config) || !user ||
            json_add_string(record, "etcd_user", user) < 0)
                return strata_fail(-ENOMEM, NULL);
        r = strata_random_secret(&password);
        if (r < 0)
                return strata_fail(r, NULL);
        yaml = agent_yaml(s, id, stack, user, password_file);
        if (!yaml)
                return strata_fail(-ENOMEM, NULL);

        /* Files first, etcd after: whatever fails undoes what was done before it. */
        r = write_file_atomic(password_file, password, strlen(password), 0600, (uid_t)-1,
                              (gid_t)-1);
        if (r < 0)
                return strata_error(STRATA_EXIT_FAILED, "register-instance: %s: %s", password_file,
                                    strerror(-r));
        if (config) {
                r = write_file_atomic(config, yaml, strlen(yaml), 0644, (uid_t)-1, (gid_t)-1);
                if (r < 0) {
                        (void)unlink(password_file);
                        return strata_error(STRATA_EXIT_FAILED, "register-instance: %s: %s", config,
                                            strerror(-r));
                }
        }

        r = create_credentials(s, user, password, stack, id, &error);
        explicit_bzero(password, strlen(password));
        if (r >= 0) {
                r = put_instance(s, record, &error);
                if (r < 0) {
                        (void)remove_credential(s, ETCD_PATH_ROLE_DELETE, user, NULL);
                        (void)remove_credential(s, ETCD_PATH_USER_DELETE, user, NULL);
                }
        }
        if (r < 0) {
                (void)unlink(password_file);
                if (config)
                        (void)unlink(config);
                return strata_fail(r, error);
        }

        if (!config) {
                fputs(yaml, stdout);
                return STRATA_EXIT_SUCCESS;
        }
        return print_id("InstanceId", id);
}

static int describe_instances(Strata *s) {
        _cleanup_json_ json_object *out = json_object_new_array(), *list = NULL;
        _cleanup_free_ char *error = NULL, *layer_stack = NULL;
        json_object *ids = arg_list(s, "instance-ids");
        const char *stack, *layer;
        int r;

        if (!out)
                return strata_fail(-ENOMEM, NULL);
        r = arg_identifier(s, "stack-id", &stack, &error);
        if (r >= 0)
                r = arg_identifier(s, "layer-id", &layer, &error);
        if (r < 0)
                return strata_fail(r, error);
        if (!!stack + !!layer + !!ids != 1)
                return strata_error(STRATA_EXIT_USAGE,
                                    "describe-instances: expected one of --stack-id, --layer-id, "
                                    "--instance-ids");

        if (ids) {
                list = json_object_new_array();
                if (!list)
                        return strata_fail(-ENOMEM, NULL);
                for (size_t i = 0; i < json_object_array_length(ids); i++) {
                        const char *id = json_object_get_string(json_object_array_get_idx(ids, i));
                        _cleanup_json_ json_object *record = NULL, *e = NULL;

                        if (!strata_identifier_valid(id))
                                return strata_error(STRATA_EXIT_USAGE,
                                                    "describe-instances: --instance-ids: '%s' is "
                                                    "not an instance id",
                                                    id);
                        r = record_get_by_id(s, "instances", "instance", id, &record, &error);
                        if (r < 0)
                                return strata_fail(r, error);
                        e = json_object_new_object();
                        if (!e || json_add(e, "value", TAKE_PTR(record)) < 0 ||
                            json_object_array_add(list, TAKE_PTR(e)) < 0)
                                return strata_fail(-ENOMEM, NULL);
                }
        } else {
                if (layer) {
                        r = record_find_stack(s, "layers", layer, &layer_stack, &error);
                        if (r < 0)
                                return strata_fail(r, error);
                        stack = layer_stack;
                }
                r = stack_instances(s, stack, &list, NULL, &error);
                if (r < 0)
                        return strata_fail(r, error);
        }

        for (size_t i = 0; i < json_object_array_length(list); i++) {
                json_object *record =
                        json_object_object_get(json_object_array_get_idx(list, i), "value");
                json_object *layer_ids = json_object_object_get(record, "layer_ids");
                _cleanup_json_ json_object *o = NULL;
                bool in_layer = !layer;

                for (size_t j = 0; !in_layer && j < json_object_array_length(layer_ids); j++)
                        in_layer = streq_ptr(
                                json_object_get_string(json_object_array_get_idx(layer_ids, j)),
                                layer);
                if (!in_layer)
                        continue;
                r = instance_output(s, record, &o, &error);
                if (r < 0)
                        return strata_fail(r, error);
                if (json_object_array_add(out, TAKE_PTR(o)) < 0)
                        return strata_fail(-ENOMEM, NULL);
        }
        return print_result("Instances", TAKE_PTR(out));
}

static int update_instance(Strata *s) {
        _cleanup_free_ char *stack = NULL, *key = NULL, *error = NULL;
        const char *id;
        int r;

        r = record_locate(s, "instance-id", "instances", &id, &stack, &key, &error);
        if (r >= 0)
                r = check_layers(s, stack, &error);
        if (r < 0)
                return strata_fail(r, error);

        for (unsigned attempt = 0;; attempt++) {
                _cleanup_json_ json_object *record = NULL, *txn = NULL;
                int64_t mod;

                error = mfree(error);
                r = record_get(s, key, "instance", id, &record, &mod, &error);
                if (r >= 0)
                        r = fields_apply(s, instance_fields, record, &error);
                if (r < 0)
                        return strata_fail(r, error);
                if (etcd_txn_new(&txn) < 0 ||
                    etcd_txn_compare(txn, key, ETCD_COMPARE_MOD, ETCD_COMPARE_EQUAL, mod, NULL) <
                            0 ||
                    txn_put(txn, key, record) < 0)
                        return strata_fail(-ENOMEM, NULL);
                r = txn_run(s, TAKE_PTR(txn), "the instance changed while it was being updated",
                            &error);
                if (r != -EBUSY || attempt >= 3)
                        return r < 0 ? strata_fail(r, error) : STRATA_EXIT_SUCCESS;
        }
}

static int deregister_instance(Strata *s) {
        _cleanup_free_ char *stack = NULL, *key = NULL, *own = NULL, *online = NULL,
                            *error = NULL;
        _cleanup_json_ json_object *record = NULL, *txn = NULL;
        const char *id, *user;
        int r;

        r = record_locate(s, "instance-id", "instances", &id, &stack, &key, &error);
        if (r < 0)
                return strata_fail(r, error);
        own = strata_key(s, "instances/%s/", id);
        online = strata_key(s, "stacks/%s/online/%s", stack, id);
        if (!own || !online)
                return strata_fail(-ENOMEM, NULL);
        r = record_get(s, key, "instance", id, &record, NULL, &error);
        if (r < 0)
                return strata_fail(r, error);

        /* The credentials first: an instance left without them can be deregistered again, one
         * left with them after its record went could not be found any more. */
        user = json_get_string(record, "etcd_user");
        if (user) {
                r = remove_credential(s, ETCD_PATH_USER_DELETE, user, &error);
                if (r >= 0)
                        r = remove_credential(s, ETCD_PATH_ROLE_DELETE, user, &error);
                if (r < 0)
                        return strata_fail(r, error);
        }

        if (etcd_txn_new(&txn) < 0 || txn_delete(txn, key, false) < 0 ||
            txn_delete(txn, online, false) < 0 || txn_delete(txn, own, true) < 0)
                return strata_fail(-ENOMEM, NULL);
        r = txn_run(s, TAKE_PTR(txn), "", &error);
        if (r < 0)
                return strata_fail(r, error);
        return STRATA_EXIT_SUCCESS;
}

static const Option create_options[] = {
        {"stack-id", OPTION_VALUE, true, "ID", "the stack"},
        INSTANCE_FIELD_OPTIONS(true),
        {},
};

static const Option register_options[] = {
        {"stack-id", OPTION_VALUE, true, "ID", "the stack"},
        INSTANCE_FIELD_OPTIONS(false),
        {"output-config", OPTION_VALUE, false, "FILE",
         "write the instance's agent.yaml there (default: stdout)"},
        {"output-password-file", OPTION_VALUE, false, "FILE",
         "write its etcd password there, mode 0600 (default: etcd-password beside the config, "
         "or " PASSWORD_FILE_DEFAULT ")"},
        {},
};

static const Option describe_options[] = {
        {"stack-id", OPTION_VALUE, false, "ID", "every instance of this stack"},
        {"layer-id", OPTION_VALUE, false, "ID", "every instance in this layer"},
        {"instance-ids", OPTION_LIST, false, "ID", "these instances"},
        {},
};

static const Option update_options[] = {
        {"instance-id", OPTION_VALUE, true, "ID", "the instance"},
        INSTANCE_FIELD_OPTIONS(false),
        {},
};

static const Option deregister_options[] = {
        {"instance-id", OPTION_VALUE, true, "ID", "the instance"},
        {},
};

const Verb verbs_instance[] = {
        {"create-instance", "add an instance record to a stack; prints its InstanceId",
         create_options, create_instance},
        {"register-instance",
         "add an instance with its own etcd user, and write its agent.yaml and password file",
         register_options, register_instance},
        {"describe-instances", "show instances with their status (online, connection_lost, ...)",
         describe_options, describe_instances},
        {"update-instance", "change an instance's layers, host name, ...", update_options,
         update_instance},
        {"deregister-instance",
         "remove an instance: its record, what its agent wrote, its etcd user and role",
         deregister_options, deregister_instance},
        {},
};
