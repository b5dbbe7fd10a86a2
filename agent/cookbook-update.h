/* SPDX-License-Identifier: MIT */
#pragma once

#include "fetch.h"
#include "macro.h"

/* update_custom_cookbooks: the stack's cookbook sources fetched into a new tree, checked, and
 * switched in at once.
 *
 *   <cache_dir>/cookbooks/trees/<UTC timestamp>/<cookbook>/   one tree per update, owned by root
 *   <cache_dir>/cookbooks/current -> trees/<timestamp>        switched with symlink + rename(2)
 *
 * Each source (an entry of stack.cookbook_sources, fetch.h says what it holds) is fetched by
 * the unprivileged fetch helper into a staging directory of the fetch user, then copied by
 * copy_tree() into root's hands. Its tree is either one cookbook (metadata.yaml at its root) or
 * a directory of cookbooks (each directory below it with a metadata.yaml; other entries are
 * ignored). A `cookbooks.yaml` at a source's root names further cookbooks and where they come
 * from, like a Berksfile:
 *
 *   cookbooks:
 *     nginx:
 *       source: {type: git, url: "https://git.example.com/nginx.git", revision: v2.1.0}
 *       version: "~> 2.1"          # optional, checked whoever provides nginx
 *
 * Such a cookbook is taken from its source (its root, or the directory of that name in it)
 * unless a source before it already provides the name; cookbooks.yaml files of those sources
 * are read in turn, at most COOKBOOK_SOURCES_MAX sources in all. Two of the stack's sources
 * providing the same cookbook, a cookbook named `strata` (the built-in one), a `version` not
 * met, a `depends` of any cookbook in the tree not met (searched in the built-in cookbooks, the
 * tree, then the configured cookbook path), or a symlink that leads out of the tree fail the
 * update: the error names the source or the dependency, the new tree is removed, `current` is
 * left as it was. On success the trees other than the new one and the one it replaced are
 * removed; a run that resolved `current` before the switch keeps a whole tree. No recipe runs. */

#define COOKBOOK_SOURCES_MAX 64U

typedef struct CookbookUpdate {
        const char *cache_dir;    /* the agent's cache; <cache_dir>/cookbooks is written */
        const char *user;         /* the fetch user */
        char **builtin_cookbooks; /* searched before the tree for dependencies */
        char **cookbook_path;     /* the configured path, searched after it; may be NULL */
        /* ca_file, imds_endpoint, log, agent_binary, timeout, step_started for the fetches;
         * cache_dir NULL: <cache_dir>/cookbooks/fetch/<user>, the fetch user's cache. */
        FetchOptions fetch;
} CookbookUpdate;

/* Runs the update over `sources` (a list of source mappings; NULL or empty: an empty tree).
 * *ret_info: {"tree": path, "cookbooks": [{"name", "version", "from"}], "sources": [fetch info
 * of each source fetched]}. */
int cookbook_update(const CookbookUpdate *u, json_object *sources, json_object **ret_info,
                    char **ret_error);

/* The tree <cache_dir>/cookbooks/current points to, resolved once so that a run reads one tree
 * from start to end. 0 with *ret NULL when there is none yet. */
int cookbook_current_tree(const char *cache_dir, char **ret);
