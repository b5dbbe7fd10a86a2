/* SPDX-License-Identifier: MIT */
#pragma once

#include <sys/types.h>

/* A real `git daemon` for tests: on 127.0.0.1, on a free port, serving every repository under
 * a fresh temporary base path (export-all, read-only). Started and stopped by the test; a
 * failure to start fails the test. */

typedef struct GitServer {
        pid_t pid;
        unsigned port;
        char *base; /* the temporary base path; repositories are <base>/<name> */
} GitServer;

/* Starts the daemon and waits until it accepts connections. */
void git_server_start(GitServer *s);
/* Stops it and removes the base path. Accepts a stopped or zeroed server. */
void git_server_stop(GitServer *s);

/* git://127.0.0.1:<port>/<name>, for the caller to free. */
char *git_server_url(const GitServer *s, const char *name);
/* <base>/<name>, for the caller to free. */
char *git_server_path(const GitServer *s, const char *name);

/* Runs git with the NULL-terminated arguments in directory cwd (NULL: the current one), with
 * a fixed author, committer and dates so that commit ids are reproducible; fails the test when
 * git fails. Returns its trimmed stdout, for the caller to free. */
char *git_server_git(const char *cwd, ...) __attribute__((sentinel));

/* Creates bare repository <base>/<name> from the files given as NULL-terminated pairs
 * (path, content), committed on branch main (HEAD). Returns the commit id, for the caller to
 * free. */
char *git_server_repo(GitServer *s, const char *name, ...) __attribute__((sentinel));

/* A work tree in a fresh temporary directory cloned from <base>/<name>, for adding commits,
 * branches and tags and pushing them back (git_server_git(work, "push", ...)). Returns its
 * path, for the caller to free (and test_rmdir). */
char *git_server_work(GitServer *s, const char *name);
