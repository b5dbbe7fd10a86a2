/* SPDX-License-Identifier: MIT */
#pragma once

#include "etcd-gateway.h"
#include "macro.h"

/* A blocking client of etcd's JSON gateway (libcurl easy, one reused connection), for the
 * operator CLI and for tests. The daemon never uses it: its loop must not block.
 *
 * Endpoints are tried in order; one that cannot be reached (connection refused, timeout, TLS
 * failure, "unavailable") is left for the next, and the one that answered is used first from
 * then on. With a user, the client authenticates before its first request and again, once, when
 * etcd answers 401 code 16 (token expired). Errors come back as negative errno (etcd_error()'s
 * mapping: -EACCES for permission denied and wrong passwords) with *ret_error saying what
 * happened, naming the endpoint when none could be reached. */

typedef struct EtcdClientOptions {
        char *const *endpoints; /* base URLs ("https://etcd-1:2379"), at least one */
        const char *user;       /* NULL: no authentication */
        const char *password;   /* with user */
        const char *ca_file;    /* NULL: the system's CAs */
        const char *cert_file;  /* optional client certificate, with key_file */
        const char *key_file;
        usec_t timeout; /* per request; 0: 10 s */
} EtcdClientOptions;

typedef struct EtcdClient EtcdClient;

/* Copies what it needs from o (the password too, wiped when freed). No I/O yet. */
int etcd_client_new(const EtcdClientOptions *o, EtcdClient **ret);
EtcdClient *etcd_client_free(EtcdClient *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(EtcdClient *, etcd_client_free);

/* POSTs request (taken, even on failure) to path ("/v3/kv/range"); *ret the parsed reply. */
int etcd_client_call(EtcdClient *c, const char *path, json_object *request, json_object **ret,
                     char **ret_error);

/* One key: its value (NUL-terminated) and mod_revision; -ENOENT when it does not exist. */
int etcd_client_get(EtcdClient *c, const char *key, char **ret_value, int64_t *ret_mod_revision,
                    char **ret_error);
int etcd_client_range(EtcdClient *c, const char *key, EtcdRangeFlags flags, EtcdRange **ret,
                      char **ret_error);
int etcd_client_put(EtcdClient *c, const char *key, const char *value, int64_t lease,
                    char **ret_error);
/* How many keys went (NULL: not wanted). */
int etcd_client_delete(EtcdClient *c, const char *key, bool prefix, int64_t *ret_deleted,
                       char **ret_error);
/* Runs a transaction (etcd_txn_new(), taken); whether its compares held, and the reply when
 * ret_reply is not NULL. */
int etcd_client_txn(EtcdClient *c, json_object *txn, bool *ret_succeeded, json_object **ret_reply,
                    char **ret_error);
