/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include "macro.h"
#include "runtime.h"

/* A git source: a checkout of one commit of a remote repository, in the unprivileged fetch
 * helper, through the `git` program.
 *
 * Each URL has a bare mirror in <cache_dir>/git/<sha256 of the URL>.git, cloned with
 * `git clone --mirror` the first time and updated with `git fetch --prune` after. The
 * revision (a branch, a tag or a commit id; NULL: the remote's HEAD) is resolved in the mirror
 * to a commit id, and that commit's tree is checked out into the destination, with submodules
 * when asked (recursively; relative submodule URLs resolve against the real remote URL). The
 * destination gets no .git unless keep_git.
 *
 * A deploy key is written 0600 into a private temporary directory for the run and removed after,
 * also on failure; ssh then accepts a new host key into <cache_dir>/known_hosts and refuses a
 * changed one. Git never prompts (GIT_TERMINAL_PROMPT=0): a wrong credential fails. */

typedef struct GitSource {
        const char *url;
        const char *revision; /* NULL: the remote's HEAD */
        const char *ssh_key;  /* a private key (its text); NULL: none */
        bool submodules;
        bool keep_git;
} GitSource;

typedef struct GitSourceOptions {
        const char *cache_dir; /* owned by the calling user */
        RuntimeLogFn log;      /* NULL: stderr */
        void *log_userdata;
} GitSourceOptions;

/* Checks `s` out into `dest`, an existing empty directory, and sets *ret_commit to the full
 * commit id. Errors name the URL (credentials in it masked) and the revision and quote git's
 * last lines of output: -ENOENT for a revision the remote does not have, -EPROTO when git
 * failed otherwise (unreachable remote, refused credential), -EINVAL for a bad source. On
 * failure `dest` may hold a partial tree; the caller removes it. */
int git_source_fetch(const GitSource *s, const char *dest, const GitSourceOptions *o,
                     char **ret_commit, char **ret_error);

/* The URL with its user information (a user name, a token, a password: what stands before the
 * "@" of the host) replaced by "***", for messages. An scp-like "git@host:path" is left alone
 * (its user is no secret). NULL when out of memory. */
char *git_source_mask_url(const char *url);
