/* SPDX-License-Identifier: MIT */
#pragma once

#include <sys/types.h>

#include "macro.h"

/* A private nginx (Debian's) for tests: on a free 127.0.0.1 port, serving <dir>/docroot, its
 * config, pid, logs and temp paths all inside a fresh temp dir, started and stopped by the test.
 * One that does not come up is a test failure with its error log, never a skip. */

typedef struct TestNginx {
        char *dir; /* nginx.conf, access.log, error.log, docroot/ */
        char *docroot;
        char *url; /* "http://127.0.0.1:<port>" */
        unsigned port;
        pid_t pid; /* 0 once stopped */
} TestNginx;

/* Starts nginx; server_config (may be NULL) is added inside its server { } block, e.g.
 * "location /private/ { auth_basic x; auth_basic_user_file %s/htpasswd; }" after writing the
 * file with test_nginx_htpasswd(). Waits (up to 10 s) until it listens. */
TestNginx *test_nginx_start(const char *server_config);
/* Stops it, removes its dir, frees n. NULL is fine. */
void test_nginx_free(TestNginx *n);

/* Writes <docroot>/<name> (parents created). */
void test_nginx_serve(TestNginx *n, const char *name, const char *content, size_t size);
/* Writes <dir>/<file> with user:{PLAIN}password, for auth_basic_user_file. */
void test_nginx_htpasswd(TestNginx *n, const char *file, const char *user, const char *password);

/* The requests nginx has logged, "METHOD STATUS" (with_uri: "METHOD URI STATUS") joined with
 * ","; "" for none. */
char *test_nginx_requests(TestNginx *n, bool with_uri);
/* nginx logs a request after answering it: waits (up to 2 s) for the log to say want. */
void test_nginx_assert_requests(TestNginx *n, bool with_uri, const char *want);
/* For "no request was made": waits longer than a log line takes, then compares. */
void test_nginx_assert_no_new_requests(TestNginx *n, bool with_uri, const char *want);

/* A TCP port on 127.0.0.1 that was free a moment ago; whether something listens on one. */
unsigned test_free_port(void);
bool test_port_open(unsigned port);
/* Waits (up to 10 s) until port listens; aborts with the log at log_path when pid exits first
 * or it never does. what names the server in the message. */
void test_wait_listening(const char *what, pid_t pid, unsigned port, const char *log_path);
/* SIGTERM to pid (and its process group when it leads one), then waits for it. */
void test_stop_server(pid_t pid);
