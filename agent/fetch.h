/* SPDX-License-Identifier: MIT */
#pragma once

#include <sys/types.h>

#include "macro.h"
#include "runtime.h"

/* Fetching an app's or a cookbook's source into a directory.
 *
 * A source is a JSON mapping (the app's `source`, or one entry of the stack's
 * `cookbook_sources`):
 *   type        git | s3 | archive | http | local
 *   url         git URL; s3://bucket/key or an https S3 URL; http(s) URL of an archive;
 *               for local, a directory on this machine
 *   revision    git: branch, tag or commit (default: the remote's HEAD)
 *   ssh_key     git: a private deploy key
 *   username, password       archive/http: basic auth
 *   sha256                   archive/http/s3: the archive's expected hash
 *   access_key_id, secret_access_key, session_token, region, endpoint   s3
 *   submodules  git: check out submodules too (bool)
 *   keep_git    git: keep .git in the tree (bool)
 *
 * Untrusted bytes are handled only by the fetch helper, `strata-agent fetch`, which runs as an
 * unprivileged user and writes only into directories that user owns. */

typedef struct FetchOptions {
        const char *cache_dir;     /* owned by the fetch user: downloads with their ETags,
                                    * git mirrors */
        const char *ca_file;       /* extra CA bundle for https; NULL: the system's */
        const char *imds_endpoint; /* NULL: http://169.254.169.254 (tests point it elsewhere) */
        RuntimeLogFn log;          /* NULL: stderr */
        void *log_userdata;
        /* fetch_as_user: the strata-agent binary to run; NULL: this process's own executable
         * (tests name the built one) */
        const char *agent_binary;
        usec_t timeout;            /* fetch_as_user: 0: FETCH_TIMEOUT_DEFAULT */
        /* fetch_as_user: told the helper's process group (with log_userdata) as it starts, so
         * that a supervisor can stop it; may be NULL */
        void (*step_started)(pid_t pgid, void *userdata);
} FetchOptions;

#define FETCH_TIMEOUT_DEFAULT (30 * 60 * USEC_PER_SEC)

/* In the fetch helper itself: fetches `source` and puts its tree into `dest`, an existing empty
 * directory. *ret_info gets {type, url, revision}: the commit id for git, the ETag or sha256 of
 * the archive otherwise, so that a ledger can say what was deployed. On failure `dest` may hold
 * a partial tree; the caller removes it. */
int fetch_source(json_object *source, const char *dest, const FetchOptions *o,
                 json_object **ret_info, char **ret_error);

/* From the (root) command worker: runs `strata-agent fetch` as `user` (name) with the request in
 * a 0600 file that user owns, so that the secrets of the source never appear in an argv or an
 * environment. `dest` must exist, be empty and be owned by `user`; `o->cache_dir` is the user's
 * cache (created, owned by the user, 0700). Log lines of the helper go to o->log. */
int fetch_as_user(json_object *source, const char *dest, const char *user, const FetchOptions *o,
                  json_object **ret_info, char **ret_error);
