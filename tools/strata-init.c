/* SPDX-License-Identifier: MIT */
/* strata init: prepares an etcd cluster for Strata, and may be run again at any time.
 *
 * It makes the root role and the root user etcd insists on before authentication can be
 * enabled (with a random password nobody keeps: the admin user holds the root role), the user
 * "admin" with the password from --admin-password-file (set again when admin exists), the
 * marker <prefix>/meta, and then enables authentication. On a cluster that has authentication
 * enabled already it connects as --user, or else as admin with that password. */

#include "json-util.h"
#include "str-util.h"
#include "strata.h"
#include "time-util.h"

#define ADMIN_USER "admin"
#define ROOT "root"

/* An auth call whose "already exists" answer means there is nothing to do. */
/* req points to the request just built (built: what building it returned). */
static int ensure(Strata *s, const char *path, int built, json_object **req, char **ret_error) {
        _cleanup_json_ json_object *reply = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        if (built < 0) {
                json_object_put(TAKE_PTR(*req));
                return built;
        }
        r = etcd_client_call(s->etcd, path, TAKE_PTR(*req), &reply, &error);
        if (r == -EPERM && error && strstr(error, "already exists"))
                return 0;
        if (r < 0)
                return error_set(ret_error, r, "init: %s", strempty(error));
        return 0;
}

static int prepare(Strata *s, const char *admin_password, char **ret_error) {
        _cleanup_free_ char *root_password = NULL, *meta = strata_key(s, "meta"),
                            *now = format_timestamp(now_usec(CLOCK_REALTIME));
        _cleanup_json_ json_object *txn = NULL, *record = json_object_new_object(), *reply = NULL;
        json_object *req = NULL;
        bool created;
        int r;

        if (!meta || !now || !record)
                return -ENOMEM;
        r = strata_random_secret(&root_password);
        if (r < 0)
                return r;

        r = ensure(s, ETCD_PATH_ROLE_ADD, etcd_request_name(ROOT, &req), &req, ret_error);
        if (r >= 0)
                r = ensure(s, ETCD_PATH_USER_ADD, etcd_request_user_add(ROOT, root_password, &req),
                           &req, ret_error);
        if (r >= 0)
                r = ensure(s, ETCD_PATH_USER_GRANT_ROLE,
                           etcd_request_user_grant_role(ROOT, ROOT, &req), &req, ret_error);
        explicit_bzero(root_password, strlen(root_password));
        if (r < 0)
                return r;

        /* admin: made, or given this password again unless it has it already (a new password
         * ends every session of the user). */
        r = etcd_request_user_add(ADMIN_USER, admin_password, &req);
        if (r < 0)
                return r;
        r = etcd_client_call(s->etcd, ETCD_PATH_USER_ADD, req, &reply, ret_error);
        if (r == -EPERM && ret_error && *ret_error && strstr(*ret_error, "already exists")) {
                *ret_error = mfree(*ret_error);
                r = etcd_request_authenticate(ADMIN_USER, admin_password, &req);
                if (r < 0)
                        return r;
                json_object_put(TAKE_PTR(reply));
                r = etcd_client_call(s->etcd, ETCD_PATH_AUTHENTICATE, req, &reply, NULL);
                if (r < 0)
                        r = ensure(s, ETCD_PATH_USER_CHANGE_PASSWORD,
                                   etcd_request_user_add(ADMIN_USER, admin_password, &req), &req,
                                   ret_error);
        } else if (r < 0)
                error_prefix(ret_error, "init");
        if (r >= 0)
                r = ensure(s, ETCD_PATH_USER_GRANT_ROLE,
                           etcd_request_user_grant_role(ADMIN_USER, ROOT, &req), &req, ret_error);
        if (r < 0)
                return r;

        if (json_add_string(record, "schema", "strata/v1") < 0 ||
            json_add_string(record, "created_at", now) < 0 || etcd_txn_new(&txn) < 0 ||
            etcd_txn_compare(txn, meta, ETCD_COMPARE_CREATE, ETCD_COMPARE_EQUAL, 0, NULL) < 0 ||
            txn_put(txn, meta, record) < 0)
                return -ENOMEM;
        r = etcd_client_txn(s->etcd, TAKE_PTR(txn), &created, NULL, ret_error);
        if (r < 0) {
                error_prefix(ret_error, "init");
                return r;
        }

        return ensure(s, ETCD_PATH_AUTH_ENABLE, etcd_request_empty(&req), &req, ret_error);
}

static int init(Strata *s) {
        _cleanup_free_ char *password = NULL, *error = NULL;
        _cleanup_json_ json_object *out = json_object_new_object();
        const char *file = arg_string(s, "admin-password-file");
        EtcdClientOptions o = {
                .endpoints = s->endpoints,
                .user = ADMIN_USER,
                .ca_file = s->cacert,
                .cert_file = s->cert,
                .key_file = s->key,
        };
        int r;

        if (!out)
                return strata_fail(-ENOMEM, NULL);
        r = strata_read_password("admin-password-file", file, &password, &error);
        if (r < 0)
                return strata_fail(r, error);
        if (!strata_etcd(s))
                return STRATA_EXIT_FAILED;

        r = prepare(s, password, &error);
        if (r == -EACCES && !s->user) {
                /* Authentication is on already: go on as admin. */
                error = mfree(error);
                s->etcd = etcd_client_free(s->etcd);
                o.password = password;
                r = etcd_client_new(&o, &s->etcd);
                if (r >= 0)
                        r = prepare(s, password, &error);
        }
        explicit_bzero(password, strlen(password));
        if (r < 0)
                return strata_fail(r, error);

        if (json_add_string(out, "Prefix", s->prefix) < 0 ||
            json_add_string(out, "AdminUser", ADMIN_USER) < 0 ||
            json_add(out, "AuthEnabled", json_object_new_boolean(true)) < 0)
                return strata_fail(-ENOMEM, NULL);
        strata_print_json(out);
        return STRATA_EXIT_SUCCESS;
}

static const Option init_options[] = {
        {"admin-password-file", OPTION_VALUE, true, "FILE",
         "the password of the user admin (first line)"},
        {},
};

const Verb verbs_init[] = {
        {"init",
         "prepare an etcd cluster: root role and user, the user admin, the prefix, "
         "authentication on (idempotent)",
         init_options, init},
        {},
};
