/* SPDX-License-Identifier: MIT */
#pragma once

#include <sys/types.h>

#include "macro.h"

/* A private etcd (Debian etcd-server) for tests: on free 127.0.0.1 ports, its data in a fresh
 * temp dir, with the fast raft timings and cheap password hashing, started and stopped by the
 * test. A server that does not come up is a test failure (with its log), never a skip. Link
 * the test with the agent library (the requests are built by etcd-gateway.h). */

typedef struct TestEtcd {
        char *dir;      /* the temp dir: data/ and etcd.log */
        char *endpoint; /* "http://127.0.0.1:<client_port>" */
        unsigned client_port, peer_port;
        unsigned max_txn_ops;    /* its --max-txn-ops; 0: etcd's default (128) */
        unsigned auth_token_ttl; /* its --auth-token-ttl in seconds; 0: etcd's default (300) */
        pid_t pid;               /* 0 while stopped */
} TestEtcd;

/* Starts a new etcd and waits (up to 10 s) until /health says it is healthy. */
TestEtcd *test_etcd_start(void);
/* The same, refusing transactions with more than max_txn_ops operations. */
TestEtcd *test_etcd_start_max_txn_ops(unsigned max_txn_ops);
/* The same, forgetting a password token once it was not used for auth_token_ttl seconds
 * (within a second more: etcd looks once a second). */
TestEtcd *test_etcd_start_auth_token_ttl(unsigned auth_token_ttl);
/* SIGTERM and wait; the data dir stays. */
void test_etcd_stop(TestEtcd *e);
/* Starts it again on the same dir and ports. */
void test_etcd_restart(TestEtcd *e);
/* Stops it, removes its dir, frees e. NULL is fine. */
void test_etcd_free(TestEtcd *e);

/* One POST of body (JSON) to the gateway path ("/v3/kv/put"), with the token when not NULL.
 * Returns the HTTP status (asserted to be answered at all); *ret_body the reply. */
long test_etcd_post(TestEtcd *e, const char *path, const char *body, const char *token,
                    char **ret_body);

/* A token for user/password (asserted to succeed). */
char *test_etcd_token(TestEtcd *e, const char *user, const char *password);

/* Creates user root with role root and that password, and enables authentication. */
void test_etcd_enable_auth(TestEtcd *e, const char *root_password);

/* Puts a key (asserted to succeed); reads one: its value, NULL when absent. */
void test_etcd_put(TestEtcd *e, const char *token, const char *key, const char *value);
char *test_etcd_get(TestEtcd *e, const char *token, const char *key);
/* The keys starting with prefix, in order, joined with "\n" ("" for none). */
char *test_etcd_keys(TestEtcd *e, const char *token, const char *prefix);
