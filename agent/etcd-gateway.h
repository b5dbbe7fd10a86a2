/* SPDX-License-Identifier: MIT */
#pragma once

#include "macro.h"

/* etcd v3's JSON gateway (/v3/...), encoding and decoding only: no I/O, so the agent's
 * asynchronous backend and the blocking client (etcd-client.h) share it.
 *
 * What the gateway does that a reader would not guess: keys and values travel base64-encoded;
 * every int64 is a JSON string ("revision": "7"), though numbers are accepted too; fields that
 * are zero, false or empty are omitted (a failed txn has no "succeeded", a PUT event has no
 * "type", a missing key has no "kvs", a keep-alive of a lapsed lease has no "TTL"). A watch is
 * one long POST answering one {"result": {...}} object per line; a canceled watch keeps the
 * stream open, and a dying server ends it with an in-band {"error": {...}} line.
 *
 * Request builders return a new json_object (the body to POST to the ETCD_PATH_* next to it,
 * serialised with json_object_to_json_string_ext(JSON_C_TO_STRING_PLAIN)); they fail only with
 * -ENOMEM, or -EINVAL for arguments no request could carry. Parsers take the parsed reply
 * (etcd_parse_reply()) and fail with -EBADMSG and *ret_error naming the field when the reply
 * does not have the shape etcd gives it. */

#define ETCD_PATH_RANGE "/v3/kv/range"
#define ETCD_PATH_PUT "/v3/kv/put"
#define ETCD_PATH_DELETE_RANGE "/v3/kv/deleterange"
#define ETCD_PATH_TXN "/v3/kv/txn"
#define ETCD_PATH_COMPACTION "/v3/kv/compaction"
#define ETCD_PATH_LEASE_GRANT "/v3/lease/grant"
#define ETCD_PATH_LEASE_KEEPALIVE "/v3/lease/keepalive"
#define ETCD_PATH_LEASE_REVOKE "/v3/lease/revoke"
#define ETCD_PATH_WATCH "/v3/watch"
#define ETCD_PATH_AUTHENTICATE "/v3/auth/authenticate"
#define ETCD_PATH_AUTH_ENABLE "/v3/auth/enable"
#define ETCD_PATH_USER_ADD "/v3/auth/user/add"
#define ETCD_PATH_USER_DELETE "/v3/auth/user/delete"
#define ETCD_PATH_USER_GET "/v3/auth/user/get"
#define ETCD_PATH_USER_GRANT_ROLE "/v3/auth/user/grant"
#define ETCD_PATH_USER_CHANGE_PASSWORD "/v3/auth/user/changepw" /* etcd_request_user_add() */
#define ETCD_PATH_ROLE_ADD "/v3/auth/role/add"
#define ETCD_PATH_ROLE_DELETE "/v3/auth/role/delete"
#define ETCD_PATH_ROLE_GET "/v3/auth/role/get"
#define ETCD_PATH_ROLE_GRANT_PERMISSION "/v3/auth/role/grant"

/* Largest reply body accepted (a range of a whole stack with its logs fits well below). */
#define ETCD_REPLY_MAX (64U * 1024U * 1024U)

/* gRPC status codes, as the gateway reports them in "code" / "grpc_code". */
typedef enum EtcdCode {
        ETCD_CODE_OK = 0,
        ETCD_CODE_CANCELLED = 1,
        ETCD_CODE_UNKNOWN = 2,
        ETCD_CODE_INVALID_ARGUMENT = 3,
        ETCD_CODE_DEADLINE_EXCEEDED = 4,
        ETCD_CODE_NOT_FOUND = 5, /* "requested lease not found" */
        ETCD_CODE_ALREADY_EXISTS = 6,
        ETCD_CODE_PERMISSION_DENIED = 7,
        ETCD_CODE_RESOURCE_EXHAUSTED = 8,
        ETCD_CODE_FAILED_PRECONDITION = 9, /* user/role exists or not, auth not enabled */
        ETCD_CODE_ABORTED = 10,
        ETCD_CODE_OUT_OF_RANGE = 11, /* revision compacted or in the future */
        ETCD_CODE_UNIMPLEMENTED = 12,
        ETCD_CODE_INTERNAL = 13,
        ETCD_CODE_UNAVAILABLE = 14,
        ETCD_CODE_DATA_LOSS = 15,
        ETCD_CODE_UNAUTHENTICATED = 16, /* token expired or invalid: authenticate again */
} EtcdCode;

/* base64 (standard alphabet, padded). Decoding gives a NUL-terminated copy and its length and
 * fails with -EINVAL on anything that is not base64. */
char *etcd_base64_encode(const void *data, size_t len);
int etcd_base64_decode(const char *s, char **ret, size_t *ret_len);

/* The range_end that makes a range cover every key starting with prefix: the prefix with its
 * last byte below 0xff incremented and what follows it dropped; "\0" (every key) when there is
 * no such byte. *ret is NUL-terminated, *ret_len its length (1 for "\0"). */
int etcd_prefix_range_end(const char *prefix, char **ret, size_t *ret_len);

/* The header that carries a token from /v3/auth/authenticate: "Authorization: <token>" (no
 * "Bearer"). */
char *etcd_auth_header(const char *token);

/* --- Requests --- */

typedef enum EtcdRangeFlags {
        ETCD_RANGE_PREFIX = 1 << 0,       /* every key starting with key */
        ETCD_RANGE_KEYS_ONLY = 1 << 1,    /* no values */
        ETCD_RANGE_COUNT_ONLY = 1 << 2,   /* only "count" */
        ETCD_RANGE_SORT_DESCEND = 1 << 3, /* by key, last first (with limit: the newest ids) */
} EtcdRangeFlags;

/* limit 0: no limit; revision 0: the newest. */
int etcd_request_range(const char *key, EtcdRangeFlags flags, int64_t limit, int64_t revision,
                       json_object **ret);
/* lease 0: none. */
int etcd_request_put(const char *key, const void *value, size_t len, int64_t lease,
                     json_object **ret);
int etcd_request_delete_range(const char *key, bool prefix, json_object **ret);
int etcd_request_compaction(int64_t revision, bool physical, json_object **ret);

/* Transactions: {"compare": [...], "success": [...], "failure": [...]}, built up in place. */
typedef enum EtcdCompareTarget {
        ETCD_COMPARE_VERSION, /* number: the key's version; 0 when it does not exist */
        ETCD_COMPARE_CREATE,  /* number: create_revision; 0 when it does not exist */
        ETCD_COMPARE_MOD,     /* number: mod_revision */
        ETCD_COMPARE_VALUE,   /* value */
} EtcdCompareTarget;

typedef enum EtcdCompareResult {
        ETCD_COMPARE_EQUAL,
        ETCD_COMPARE_GREATER,
        ETCD_COMPARE_LESS,
        ETCD_COMPARE_NOT_EQUAL,
} EtcdCompareResult;

typedef enum EtcdOpType {
        ETCD_OP_RANGE, /* a request from etcd_request_range() */
        ETCD_OP_PUT,
        ETCD_OP_DELETE_RANGE,
} EtcdOpType;

int etcd_txn_new(json_object **ret);
/* number for VERSION, CREATE, MOD; value (NUL-terminated) for VALUE. */
int etcd_txn_compare(json_object *txn, const char *key, EtcdCompareTarget target,
                     EtcdCompareResult result, int64_t number, const char *value);
/* The same compare over every key starting with prefix: it holds when it holds for each of
 * them, and for a range with no keys when it holds for a key that does not exist (so CREATE
 * EQUAL 0 means "no key has this prefix"). */
int etcd_txn_compare_prefix(json_object *txn, const char *prefix, EtcdCompareTarget target,
                            EtcdCompareResult result, int64_t number);
/* Appends request (taken, even on failure) to the success or failure branch. */
int etcd_txn_add(json_object *txn, bool success, EtcdOpType type, json_object *request);

/* Leases: ttl in seconds. */
int etcd_request_lease_grant(int64_t ttl, json_object **ret);
int etcd_request_lease_keepalive(int64_t id, json_object **ret);
int etcd_request_lease_revoke(int64_t id, json_object **ret);

/* {"create_request": {...}}: a watch of key (or the prefix key) from start_revision (0: from
 * now on), with the previous values of changed keys when prev_kv. */
int etcd_request_watch(const char *key, bool prefix, int64_t start_revision, bool prev_kv,
                       json_object **ret);

/* Authentication and its administration. */
typedef enum EtcdPermission {
        ETCD_PERMISSION_READ,
        ETCD_PERMISSION_WRITE,
        ETCD_PERMISSION_READWRITE,
} EtcdPermission;

int etcd_request_authenticate(const char *user, const char *password, json_object **ret);
int etcd_request_user_add(const char *user, const char *password, json_object **ret);
/* For ETCD_PATH_USER_DELETE, ETCD_PATH_USER_GET, ETCD_PATH_ROLE_ADD, ETCD_PATH_ROLE_DELETE and
 * ETCD_PATH_ROLE_GET: {"name": name}. */
int etcd_request_name(const char *name, json_object **ret);
int etcd_request_user_grant_role(const char *user, const char *role, json_object **ret);
/* A permission on key, or on every key starting with key when prefix. */
int etcd_request_role_grant_permission(const char *role, EtcdPermission permission, const char *key,
                                       bool prefix, json_object **ret);
/* ETCD_PATH_AUTH_ENABLE takes {}. */
int etcd_request_empty(json_object **ret);

/* --- Replies --- */

/* Parses a reply body. HTTP 200 with a JSON object gives *ret. Anything else, and a 200 whose
 * object is an error ({"error": "...", "code": n} or the in-band {"error": {"grpc_code": n,
 * "message": ...}}), gives the error of etcd_error(). */
int etcd_parse_reply(long http_status, const char *body, size_t len, json_object **ret,
                     char **ret_error);

/* The errno and the message of an etcd error: grpc code (0: none known) with etcd's own message
 * (may be NULL) and the HTTP status (0: none). The message leads with what it means:
 *   16 -> -EKEYEXPIRED "authentication token expired or invalid: authenticate again"
 *    7 -> -EACCES      "permission denied"
 *    5 -> -ENOENT      "requested lease not found"
 *    3 with "authentication failed" -> -EACCES "authentication failed: wrong user name or
 *                                              password"
 *    9 -> -EPERM, 6 -> -EEXIST, 11 -> -ERANGE, 14 -> -EAGAIN, 4 -> -ETIMEDOUT, 8 -> -ENOSPC,
 *    3 -> -EINVAL, anything else -EIO;
 * followed by " (etcd: <etcd's message>)" when etcd said something. */
int etcd_error(long http_status, int code, const char *message, char **ret_error);

/* An int64 field as the gateway writes it: a string, a number, or absent (0). -EBADMSG when it
 * is something else. */
int etcd_get_int64(json_object *o, const char *key, int64_t *ret);
/* header.revision of a reply (0 when absent). */
int etcd_reply_revision(json_object *reply, int64_t *ret);

typedef struct EtcdKeyValue {
        char *key;   /* NUL-terminated */
        char *value; /* NUL-terminated; may hold NULs before value_len */
        size_t value_len;
        int64_t create_revision;
        int64_t mod_revision;
        int64_t version;
        int64_t lease;
} EtcdKeyValue;

void etcd_key_value_done(EtcdKeyValue *kv);

typedef struct EtcdRange {
        int64_t revision;
        int64_t count;
        bool more;
        EtcdKeyValue *kvs;
        size_t n_kvs;
} EtcdRange;

EtcdRange *etcd_range_free(EtcdRange *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(EtcdRange *, etcd_range_free);

/* A range reply, or the "response_range" of a txn reply. */
int etcd_parse_range(json_object *reply, EtcdRange **ret, char **ret_error);
/* A txn reply: whether the compares held, and its responses (borrowed; may be NULL: an empty
 * branch), each {"response_range": {...}} / {"response_put": ...} / {"response_delete_range":
 * ...}. */
int etcd_parse_txn(json_object *reply, bool *ret_succeeded, json_object **ret_responses,
                   char **ret_error);
/* A delete_range reply: how many keys went. */
int etcd_parse_deleted(json_object *reply, int64_t *ret_deleted, char **ret_error);
/* A lease grant: its id and TTL. */
int etcd_parse_lease_grant(json_object *reply, int64_t *ret_id, int64_t *ret_ttl, char **ret_error);
/* A keep-alive reply ({"result": {...}}): the TTL left; -ENOENT "requested lease not found"
 * when etcd no longer has the lease. */
int etcd_parse_lease_keepalive(json_object *reply, int64_t *ret_ttl, char **ret_error);
/* An authenticate reply: the token. */
int etcd_parse_token(json_object *reply, char **ret_token, char **ret_error);

typedef enum EtcdEventType {
        ETCD_EVENT_PUT,
        ETCD_EVENT_DELETE,
} EtcdEventType;

typedef struct EtcdEvent {
        EtcdEventType type;
        EtcdKeyValue kv;      /* for a DELETE: only key and mod_revision */
        EtcdKeyValue prev_kv; /* key NULL when not asked for or there was none */
} EtcdEvent;

typedef struct EtcdWatchMessage {
        int64_t watch_id;
        int64_t revision; /* header.revision */
        bool created;
        bool canceled;            /* the watch is over, though the stream stays open */
        char *cancel_reason;      /* NULL when etcd gave none */
        int64_t compact_revision; /* > 0: start_revision was compacted; resume from here */
        EtcdEvent *events;
        size_t n_events;
} EtcdWatchMessage;

EtcdWatchMessage *etcd_watch_message_free(EtcdWatchMessage *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(EtcdWatchMessage *, etcd_watch_message_free);

/* One line of a watch stream (without its newline). An in-band {"error": {...}} line gives the
 * error of etcd_error() (a dying server: -EAGAIN, code 14). */
int etcd_parse_watch_line(const char *line, size_t len, EtcdWatchMessage **ret, char **ret_error);
