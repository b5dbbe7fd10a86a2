/* SPDX-License-Identifier: MIT */
/* strata's user verbs: create-user-profile, describe-user-profiles, update-user-profile,
 * delete-user-profile, set-permission, describe-permissions.
 *
 * A profile is <prefix>/users/<name> ({name, ssh_public_key, iam_user_arn}); a permission puts
 * the user into a stack as the agent reads it: <prefix>/stacks/<stack>/users/<name> = {name,
 * ssh_public_key, sudo, allow_ssh}. The key is copied into each permission, so a profile
 * update rewrites them, and a profile delete removes them, in one transaction. */

#include "fs-util.h"
#include "json-util.h"
#include "str-util.h"
#include "strata.h"

static int arg_user_name(Strata *s, const char **ret, char **ret_error) {
        const char *name = arg_string(s, "ssh-username");

        *ret = name;
        if (name && !valid_user_group_name(name))
                return error_set(ret_error, -EINVAL,
                                 "%s: --ssh-username '%s': expected " USER_GROUP_NAME_RULE,
                                 s->verb->name, name);
        return 0;
}

/* The keys of every stack's permission record of this user. */
static int permission_keys(Strata *s, const char *name, json_object **ret, char **ret_error) {
        _cleanup_free_ char *prefix = strata_key(s, "stacks/"), *tail = strf("/users/%s", name);
        _cleanup_(etcd_range_freep) EtcdRange *range = NULL;
        _cleanup_json_ json_object *keys = json_object_new_array();
        int r;

        if (!prefix || !tail || !keys)
                return -ENOMEM;
        r = etcd_client_range(strata_etcd(s), prefix, ETCD_RANGE_PREFIX | ETCD_RANGE_KEYS_ONLY,
                              &range, ret_error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < range->n_kvs; i++) {
                const char *rel = range->kvs[i].key + strlen(prefix);
                size_t n = strlen(rel), k = strlen(tail);

                if (n > k && streq(rel + n - k, tail) && !memchr(rel, '/', n - k) &&
                    json_object_array_add(keys, json_object_new_string(range->kvs[i].key)) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(keys);
        return 0;
}

static int profile_output(json_object *p, json_object **ret) {
        _cleanup_json_ json_object *o = json_object_new_object();

        if (!o || json_add_string(o, "SshUsername", json_get_string(p, "name")) < 0 ||
            json_add_string(o, "SshPublicKey", json_get_string(p, "ssh_public_key")) < 0 ||
            json_add_string(o, "IamUserArn", json_get_string(p, "iam_user_arn")) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

static int create_user_profile(Strata *s) {
        _cleanup_json_ json_object *p = json_object_new_object(), *txn = NULL;
        _cleanup_free_ char *key = NULL, *error = NULL, *conflict = NULL;
        const char *name;
        int r;

        r = arg_user_name(s, &name, &error);
        if (r < 0)
                return strata_fail(r, error);
        key = strata_key(s, "users/%s", name);
        conflict = strf("user profile '%s' exists already", name);
        if (!p || !key || !conflict || json_add_string(p, "name", name) < 0 ||
            json_add_string(p, "ssh_public_key", arg_string(s, "ssh-public-key")) < 0 ||
            json_add_string(p, "iam_user_arn", arg_string(s, "iam-user-arn")) < 0 ||
            etcd_txn_new(&txn) < 0 ||
            etcd_txn_compare(txn, key, ETCD_COMPARE_CREATE, ETCD_COMPARE_EQUAL, 0, NULL) < 0 ||
            txn_put(txn, key, p) < 0)
                return strata_fail(-ENOMEM, NULL);
        r = txn_run(s, TAKE_PTR(txn), conflict, &error);
        if (r < 0)
                return strata_fail(r, error);
        return print_id("SshUsername", name);
}

static int describe_user_profiles(Strata *s) {
        _cleanup_json_ json_object *out = json_object_new_array(), *list = NULL;
        _cleanup_free_ char *prefix = strata_key(s, "users/"), *error = NULL;
        json_object *names = arg_list(s, "ssh-usernames");
        int r;

        if (!out || !prefix)
                return strata_fail(-ENOMEM, NULL);
        for (size_t i = 0; names && i < json_object_array_length(names); i++) {
                const char *name = json_object_get_string(json_object_array_get_idx(names, i));
                _cleanup_free_ char *key = NULL;
                _cleanup_json_ json_object *p = NULL, *o = NULL;

                if (!valid_user_group_name(name))
                        return strata_error(STRATA_EXIT_USAGE,
                                            "describe-user-profiles: --ssh-usernames: '%s' is "
                                            "not a user name",
                                            name);
                key = strata_key(s, "users/%s", name);
                if (!key)
                        return strata_fail(-ENOMEM, NULL);
                r = record_get(s, key, "user profile", name, &p, NULL, &error);
                if (r < 0)
                        return strata_fail(r, error);
                if (profile_output(p, &o) < 0 || json_object_array_add(out, TAKE_PTR(o)) < 0)
                        return strata_fail(-ENOMEM, NULL);
        }
        if (!names) {
                r = record_list(s, prefix, &list, NULL, &error);
                if (r < 0)
                        return strata_fail(r, error);
                for (size_t i = 0; i < json_object_array_length(list); i++) {
                        _cleanup_json_ json_object *o = NULL;

                        if (profile_output(json_object_object_get(
                                                   json_object_array_get_idx(list, i), "value"),
                                           &o) < 0 ||
                            json_object_array_add(out, TAKE_PTR(o)) < 0)
                                return strata_fail(-ENOMEM, NULL);
                }
        }
        return print_result("UserProfiles", TAKE_PTR(out));
}

static int update_user_profile(Strata *s) {
        _cleanup_free_ char *key = NULL, *error = NULL;
        const char *name;
        int r;

        r = arg_user_name(s, &name, &error);
        if (r < 0)
                return strata_fail(r, error);
        key = strata_key(s, "users/%s", name);
        if (!key)
                return strata_fail(-ENOMEM, NULL);

        for (unsigned attempt = 0;; attempt++) {
                _cleanup_json_ json_object *p = NULL, *keys = NULL, *txn = NULL;
                int64_t mod;

                error = mfree(error);
                r = record_get(s, key, "user profile", name, &p, &mod, &error);
                if (r >= 0)
                        r = permission_keys(s, name, &keys, &error);
                if (r < 0)
                        return strata_fail(r, error);
                if (json_add_string(p, "ssh_public_key", arg_string(s, "ssh-public-key")) < 0 ||
                    json_add_string(p, "iam_user_arn", arg_string(s, "iam-user-arn")) < 0 ||
                    etcd_txn_new(&txn) < 0 ||
                    etcd_txn_compare(txn, key, ETCD_COMPARE_MOD, ETCD_COMPARE_EQUAL, mod, NULL) <
                            0 ||
                    txn_put(txn, key, p) < 0)
                        return strata_fail(-ENOMEM, NULL);

                /* Each permission gets the new key, as long as it is unchanged since read. */
                for (size_t i = 0; i < json_object_array_length(keys); i++) {
                        const char *k = json_object_get_string(json_object_array_get_idx(keys, i));
                        _cleanup_json_ json_object *perm = NULL;
                        int64_t pmod;

                        r = record_get(s, k, "permission", name, &perm, &pmod, &error);
                        if (r < 0)
                                return strata_fail(r, error);
                        if (json_add_string(perm, "ssh_public_key",
                                            json_get_string(p, "ssh_public_key")) < 0 ||
                            etcd_txn_compare(txn, k, ETCD_COMPARE_MOD, ETCD_COMPARE_EQUAL, pmod,
                                             NULL) < 0 ||
                            txn_put(txn, k, perm) < 0)
                                return strata_fail(-ENOMEM, NULL);
                }
                r = txn_run(s, TAKE_PTR(txn), "the user changed while it was being updated",
                            &error);
                if (r != -EBUSY || attempt >= 3)
                        return r < 0 ? strata_fail(r, error) : STRATA_EXIT_SUCCESS;
        }
}

static int delete_user_profile(Strata *s) {
        _cleanup_json_ json_object *p = NULL, *keys = NULL, *txn = NULL;
        _cleanup_free_ char *key = NULL, *error = NULL;
        const char *name;
        int r;

        r = arg_user_name(s, &name, &error);
        if (r < 0)
                return strata_fail(r, error);
        key = strata_key(s, "users/%s", name);
        if (!key)
                return strata_fail(-ENOMEM, NULL);
        r = record_get(s, key, "user profile", name, &p, NULL, &error);
        if (r >= 0)
                r = permission_keys(s, name, &keys, &error);
        if (r < 0)
                return strata_fail(r, error);
        if (etcd_txn_new(&txn) < 0 || txn_delete(txn, key, false) < 0)
                return strata_fail(-ENOMEM, NULL);
        for (size_t i = 0; i < json_object_array_length(keys); i++)
                if (txn_delete(txn, json_object_get_string(json_object_array_get_idx(keys, i)),
                               false) < 0)
                        return strata_fail(-ENOMEM, NULL);
        r = txn_run(s, TAKE_PTR(txn), "", &error);
        if (r < 0)
                return strata_fail(r, error);
        return STRATA_EXIT_SUCCESS;
}

static int set_permission(Strata *s) {
        _cleanup_free_ char *stack_key = NULL, *profile_key = NULL, *key = NULL, *error = NULL;
        _cleanup_json_ json_object *stack_record = NULL, *p = NULL, *perm = NULL, *txn = NULL;
        const char *stack, *name;
        int ssh = arg_bool(s, "allow-ssh"), sudo = arg_bool(s, "allow-sudo");
        int r;

        r = arg_identifier(s, "stack-id", &stack, &error);
        if (r >= 0)
                r = arg_user_name(s, &name, &error);
        if (r < 0)
                return strata_fail(r, error);
        stack_key = strata_key(s, "stacks/%s", stack);
        profile_key = strata_key(s, "users/%s", name);
        key = strata_key(s, "stacks/%s/users/%s", stack, name);
        if (!stack_key || !profile_key || !key)
                return strata_fail(-ENOMEM, NULL);
        r = record_get(s, stack_key, "stack", stack, &stack_record, NULL, &error);
        if (r >= 0)
                r = record_get(s, profile_key, "user profile", name, &p, NULL, &error);
        if (r < 0)
                return strata_fail(r, error);
        r = record_get(s, key, "permission", name, &perm, NULL, &error);
        if (r == -ENOENT) {
                error = mfree(error);
                perm = json_object_new_object();
                if (!perm || json_add(perm, "sudo", json_object_new_boolean(false)) < 0 ||
                    json_add(perm, "allow_ssh", json_object_new_boolean(false)) < 0)
                        return strata_fail(-ENOMEM, NULL);
        } else if (r < 0)
                return strata_fail(r, error);

        if (json_add_string(perm, "name", name) < 0 ||
            (json_get_string(p, "ssh_public_key") &&
             json_add_string(perm, "ssh_public_key", json_get_string(p, "ssh_public_key")) < 0) ||
            (ssh >= 0 && json_add(perm, "allow_ssh", json_object_new_boolean(ssh)) < 0) ||
            (sudo >= 0 && json_add(perm, "sudo", json_object_new_boolean(sudo)) < 0) ||
            etcd_txn_new(&txn) < 0 ||
            etcd_txn_compare(txn, stack_key, ETCD_COMPARE_VERSION, ETCD_COMPARE_GREATER, 0, NULL) <
                    0 ||
            etcd_txn_compare(txn, profile_key, ETCD_COMPARE_VERSION, ETCD_COMPARE_GREATER, 0,
                             NULL) < 0 ||
            txn_put(txn, key, perm) < 0)
                return strata_fail(-ENOMEM, NULL);
        r = txn_run(s, TAKE_PTR(txn), "the stack or the user profile was deleted meanwhile",
                    &error);
        if (r < 0)
                return strata_fail(r, error);
        return STRATA_EXIT_SUCCESS;
}

static int permission_output(const char *stack, json_object *perm, json_object *out) {
        _cleanup_json_ json_object *o = json_object_new_object();

        if (!o || json_add_string(o, "StackId", stack) < 0 ||
            json_add_string(o, "SshUsername", json_get_string(perm, "name")) < 0 ||
            json_add(o, "AllowSsh", json_object_get(json_object_object_get(perm, "allow_ssh"))) <
                    0 ||
            json_add(o, "AllowSudo", json_object_get(json_object_object_get(perm, "sudo"))) < 0 ||
            json_object_array_add(out, o) < 0)
                return -ENOMEM;
        TAKE_PTR(o);
        return 0;
}

static int describe_permissions(Strata *s) {
        _cleanup_json_ json_object *out = json_object_new_array(), *list = NULL;
        _cleanup_free_ char *error = NULL, *prefix = NULL;
        const char *stack, *name;
        int r;

        if (!out)
                return strata_fail(-ENOMEM, NULL);
        r = arg_identifier(s, "stack-id", &stack, &error);
        if (r >= 0)
                r = arg_user_name(s, &name, &error);
        if (r < 0)
                return strata_fail(r, error);
        if (!stack && !name)
                return strata_error(STRATA_EXIT_USAGE,
                                    "describe-permissions: expected --stack-id or --ssh-username");

        if (stack) {
                _cleanup_free_ char *key = strata_key(s, "stacks/%s", stack);
                _cleanup_json_ json_object *record = NULL;

                prefix = strata_key(s, "stacks/%s/users/", stack);
                if (!key || !prefix)
                        return strata_fail(-ENOMEM, NULL);
                r = record_get(s, key, "stack", stack, &record, NULL, &error);
                if (r >= 0)
                        r = record_list(s, prefix, &list, NULL, &error);
                if (r < 0)
                        return strata_fail(r, error);
                for (size_t i = 0; i < json_object_array_length(list); i++) {
                        json_object *perm =
                                json_object_object_get(json_object_array_get_idx(list, i), "value");

                        if (name && !streq_ptr(json_get_string(perm, "name"), name))
                                continue;
                        if (permission_output(stack, perm, out) < 0)
                                return strata_fail(-ENOMEM, NULL);
                }
                return print_result("Permissions", TAKE_PTR(out));
        }

        r = permission_keys(s, name, &list, &error);
        if (r < 0)
                return strata_fail(r, error);
        prefix = strata_key(s, "stacks/");
        if (!prefix)
                return strata_fail(-ENOMEM, NULL);
        for (size_t i = 0; i < json_object_array_length(list); i++) {
                const char *k = json_object_get_string(json_object_array_get_idx(list, i));
                _cleanup_free_ char *in_stack =
                        strndup(k + strlen(prefix), strcspn(k + strlen(prefix), "/"));
                _cleanup_json_ json_object *perm = NULL;

                if (!in_stack)
                        return strata_fail(-ENOMEM, NULL);
                r = record_get(s, k, "permission", name, &perm, NULL, &error);
                if (r < 0)
                        return strata_fail(r, error);
                if (permission_output(in_stack, perm, out) < 0)
                        return strata_fail(-ENOMEM, NULL);
        }
        return print_result("Permissions", TAKE_PTR(out));
}

static const Option create_options[] = {
        {"ssh-username", OPTION_VALUE, true, "NAME", "the user's name on the instances"},
        {"ssh-public-key", OPTION_VALUE, false, "KEY", "the user's SSH public key"},
        {"iam-user-arn", OPTION_VALUE, false, "ARN", "an identity kept with the profile"},
        {},
};

static const Option describe_options[] = {
        {"ssh-usernames", OPTION_LIST, false, "NAME", "only these users (default: all)"},
        {},
};

static const Option update_options[] = {
        {"ssh-username", OPTION_VALUE, true, "NAME", "the user"},
        {"ssh-public-key", OPTION_VALUE, false, "KEY", "the new SSH public key"},
        {"iam-user-arn", OPTION_VALUE, false, "ARN", "an identity kept with the profile"},
        {},
};

static const Option delete_options[] = {
        {"ssh-username", OPTION_VALUE, true, "NAME", "the user (removed from every stack)"},
        {},
};

static const Option set_permission_options[] = {
        {"stack-id", OPTION_VALUE, true, "ID", "the stack"},
        {"ssh-username", OPTION_VALUE, true, "NAME", "the user"},
        {"allow-ssh", OPTION_NEGATABLE, false, NULL, "may log in with SSH (new: no)"},
        {"allow-sudo", OPTION_NEGATABLE, false, NULL, "may use sudo (new: no)"},
        {},
};

static const Option describe_permissions_options[] = {
        {"stack-id", OPTION_VALUE, false, "ID", "the users of this stack"},
        {"ssh-username", OPTION_VALUE, false, "NAME", "the stacks of this user"},
        {},
};

const Verb verbs_user[] = {
        {"create-user-profile", "create a user profile", create_options, create_user_profile},
        {"describe-user-profiles", "show user profiles", describe_options, describe_user_profiles},
        {"update-user-profile", "change a user's SSH key (in every stack too)", update_options,
         update_user_profile},
        {"delete-user-profile", "delete a user profile and its permissions", delete_options,
         delete_user_profile},
        {"set-permission", "let a user into a stack: SSH and sudo", set_permission_options,
         set_permission},
        {"describe-permissions", "show who may do what in which stack",
         describe_permissions_options, describe_permissions},
        {},
};
