/* SPDX-License-Identifier: MIT */
#pragma once

#include "etcd-client.h"
#include "macro.h"

/* strata: the operator CLI, the verbs of `aws opsworks` over an etcd control plane. strata.c
 * parses the command line and picks the verb; strata-util.c holds what every verb shares
 * (keys, ids, records, option values, output); one file per noun holds its verbs.
 *
 * Records are stored as the agent reads them (agent/stack.h: snake_case fields) under
 * <prefix>/stacks/<stack>[/layers|apps|instances|users|deployments/<id>] and
 * <prefix>/instances/<id>/...; output is shaped like the AWS CLI's (PascalCase). */

#define STRATA_EXIT_SUCCESS 0
#define STRATA_EXIT_FAILED 1 /* etcd said no, something does not exist, a refusal */
#define STRATA_EXIT_USAGE 2  /* bad command line: verb, option, value */

#define STRATA_PREFIX_DEFAULT "/strata/v1"
#define STRATA_ENDPOINT_DEFAULT "http://127.0.0.1:2379"

/* How a verb option takes its value. */
typedef enum OptionKind {
        OPTION_VALUE,     /* --x VALUE */
        OPTION_LIST,      /* --x A B C (up to the next option), or one JSON list */
        OPTION_FLAG,      /* --x */
        OPTION_NEGATABLE, /* --x / --no-x */
} OptionKind;

typedef struct Option {
        const char *name; /* without "--" */
        OptionKind kind;
        bool required;
        const char *metavar;
        const char *help;
} Option;

typedef struct Strata Strata;

typedef struct Verb {
        const char *name;
        const char *summary;
        const Option *options; /* NULL-name terminated; NULL: none */
        int (*run)(Strata *s);
} Verb;

struct Strata {
        const Verb *verb;
        /* The verb's options as given: name -> string, array of strings (lists) or boolean
         * (flags). */
        json_object *args;

        /* Global options (or their STRATA_* variables). */
        char **endpoints;
        const char *user;
        const char *password_file;
        const char *prefix;
        const char *cacert;
        const char *cert, *key;

        EtcdClient *etcd; /* strata_etcd() connects on first use */
};

/* Prints "strata: <message>" on stderr and returns status. */
int strata_error(int status, const char *fmt, ...) _printf_(2, 3);
/* The status of a failed helper: -EINVAL (the user's bad input) is STRATA_EXIT_USAGE, anything
 * else STRATA_EXIT_FAILED; prints error (or strerror). */
int strata_fail(int r, const char *error);
/* Pretty JSON on stdout, like the AWS CLI. */
void strata_print_json(json_object *doc);

/* The client, authenticated as the global options say; NULL after printing why. The password
 * comes from --password-file. main() makes it before the verb runs, so that verbs find it. */
EtcdClient *strata_etcd(Strata *s);

/* A password file (named by option, for errors): its first line, without the newline. */
int strata_read_password(const char *option, const char *path, char **ret, char **ret_error);

/* Options of the verb. */
const char *arg_string(Strata *s, const char *name); /* NULL when not given */
json_object *arg_list(Strata *s, const char *name);  /* array of strings; NULL: not given */
int arg_bool(Strata *s, const char *name);           /* 1, 0, or -1 when not given */
/* A JSON object (or, with want_list, a list) given as an option value; *ret NULL when not
 * given. -EINVAL with *ret_error naming the option when it is not one. */
int arg_json(Strata *s, const char *name, bool want_list, json_object **ret, char **ret_error);
/* An identifier option (agent/stack.h's rule). */
int arg_identifier(Strata *s, const char *name, const char **ret, char **ret_error);
bool strata_identifier_valid(const char *s);

/* "<prefix>/<fmt...>". */
char *strata_key(Strata *s, const char *fmt, ...) _printf_(2, 3);

/* A new sortable id: "20261125T115959Z-a1b2c3", like the agent's command ids. */
int strata_new_id(char **ret);
/* 32 random bytes, base64url without padding (a password). */
int strata_random_secret(char **ret);

/* Records (JSON objects) in etcd. get: -ENOENT with "<what> '<id>' does not exist" when absent;
 * *ret_mod_revision may be NULL. */
int record_get(Strata *s, const char *key, const char *what, const char *id, json_object **ret,
               int64_t *ret_mod_revision, char **ret_error);
/* Every record below a prefix whose key has no further '/', as [{"key": id, "value": {...}}]
 * in key order, and the revision read at. */
int record_list(Strata *s, const char *prefix, json_object **ret, int64_t *ret_revision,
                char **ret_error);
/* The stack a layer, app, instance or deployment ("layers", ...) with this id is in. */
int record_find_stack(Strata *s, const char *kind, const char *id, char **ret_stack_id,
                      char **ret_error);
/* The records of this kind ("layers", ...) of a stack, as record_list(); -ENOENT with "stack
 * '<id>' does not exist" when the stack is absent. */
int stack_records(Strata *s, const char *stack, const char *kind, json_object **ret,
                  int64_t *ret_revision, char **ret_error);
/* The id in option --<option>, the stack its record of this kind ("layers", ...) is in, and
 * the record's key. */
int record_locate(Strata *s, const char *option, const char *kind, const char **ret_id,
                  char **ret_stack_id, char **ret_key, char **ret_error);
/* The record of this kind with this id, wherever its stack; errors as record_find_stack() and
 * record_get(). */
int record_get_by_id(Strata *s, const char *kind, const char *what, const char *id,
                     json_object **ret, char **ret_error);
/* JSON text of a record as stored. */
const char *record_text(json_object *v);

/* Adds a put of value (as record_text()) to a txn's success branch. */
int txn_put(json_object *txn, const char *key, json_object *value);
int txn_delete(json_object *txn, const char *key, bool prefix);
/* Runs txn; a failed compare is -EBUSY with *ret_error = conflict. */
int txn_run(Strata *s, json_object *txn, const char *conflict, char **ret_error);

/* Record fields <-> AWS shapes. The table says how an option fills a record field and how the
 * field is shown. */
typedef enum FieldType {
        FIELD_STRING,
        FIELD_IDENTIFIER,
        FIELD_OBJECT,      /* option: JSON object; shown as its JSON text (like CustomJson) */
        FIELD_LIST,        /* option: list of strings */
        FIELD_BOOL,        /* option: --x / --no-x */
        FIELD_RECIPES,     /* {"Setup": [...], ...} <-> {"setup": [...], ...} */
        FIELD_SOURCE,      /* {"Type", "Url", "Revision", "SshKey", "Username", "Password"} */
        FIELD_ENVIRONMENT, /* [{"Key", "Value", "Secure"}] <-> {"K": "V"} (+ secure_environment) */
        FIELD_SSL,         /* {"Certificate", "PrivateKey", "Chain"} */
        FIELD_LIFECYCLE,   /* {"Shutdown": {"ExecutionTimeout": n}} <-> shutdown_timeout */
        FIELD_ATTRIBUTES,  /* {"DocumentRoot": ...} <-> document_root */
} FieldType;

typedef struct Field {
        const char *option; /* "custom-json"; NULL: shown only */
        const char *output; /* "CustomJson" */
        const char *key;    /* "custom_json" */
        FieldType type;
        const char *help;
} Field;

/* Sets the fields whose options were given into record. -EINVAL names the option. */
int fields_apply(Strata *s, const Field *fields, json_object *record, char **ret_error);
/* Adds the AWS-shaped fields of record to out. */
int fields_output(const Field *fields, json_object *record, json_object *out);

/* A kind of record a stack holds by id, with a shortname unique in the stack (layers, apps). */
typedef struct StackChild {
        const char *kind;       /* key segment: "layers" */
        const char *noun;       /* "layer": options --<noun>-id(s), messages "<noun> '<id>'" */
        const char *id_phrase;  /* "a layer id" */
        const char *result_key; /* AWS result key: "Layers" */
        const Field *fields;
        int (*output)(json_object *record, json_object **ret);
        const char *shortname_option; /* how messages name the shortname */
} StackChild;
/* describe-<kind>: --stack-id or --<noun>-ids; update-<noun>: --<noun>-id and the fields. */
int stack_child_describe(Strata *s, const StackChild *c);
int stack_child_update(Strata *s, const StackChild *c);
/* -EEXIST when another of the stack's records (as read at revision) has record's shortname;
 * else adds to txn that nothing changed in them since. */
int stack_child_check_shortname(Strata *s, const StackChild *c, const char *stack,
                                json_object *records, int64_t revision, json_object *record,
                                json_object *txn, char **ret_error);

/* Helpers for building output. */
int json_add_string(json_object *o, const char *key, const char *value); /* NULL: skipped */
int json_add(json_object *o, const char *key, json_object *v);           /* v taken */
/* {"<key>": value} printed, value taken. */
int print_result(const char *key, json_object *value);
int print_id(const char *key, const char *id);

/* The verbs, by noun. */
extern const Verb verbs_stack[], verbs_layer[], verbs_app[], verbs_instance[], verbs_user[],
        verbs_deployment[], verbs_init[];

/* Shared by instance and deployment verbs: the status of an instance record: "online" while
 * its <prefix>/instances/<id>/alive key exists (bound to the agent's lease), else
 * "connection_lost" once its agent has registered, else "registered" (register-instance) or
 * "stopped" (create-instance). *ret_alive (may be NULL): the alive record, NULL when absent. */
int instance_status(Strata *s, json_object *record, const char **ret, json_object **ret_alive,
                    char **ret_error);
/* The instance records of a stack, [{"key": id, "value": {...}}]; -ENOENT when the stack does
 * not exist. */
int stack_instances(Strata *s, const char *stack, json_object **ret, int64_t *ret_revision,
                    char **ret_error);
