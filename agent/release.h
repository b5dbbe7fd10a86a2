/* SPDX-License-Identifier: MIT */
#pragma once

#include <sys/types.h>

#include "macro.h"

/* The release directories of one app, on disk:
 *
 *   <deploy_root>/<app>/                 root, 0755
 *     releases/<name>/                   one per deploy, owned by the deploy user
 *     current -> releases/<name>         switched with symlink + rename(2) + fsync of the dir
 *     shared/                            root, 0755
 *       config/                          root, 0755 (files written by the deploy)
 *       log/ pids/ system/               the deploy user, 0755
 *     .strata/releases.json              the ledger, root, 0644, written atomically (fsync)
 *
 * Release names are UTC times, "20261125T141500Z", with "-2", "-3", ... for more releases in
 * that second; a new name always comes after the ledger's newest (a pruned name is not reused). The ledger is the truth about which releases are complete:
 *
 *   {"app": "web", "releases": [{"name": .., "revision": .., "source": {type, url, revision},
 *                                "deployed_at": "2026-11-25T14:15:00.123Z",
 *                                "state": "current" | "complete"}, ...]}   oldest first
 *
 * A release enters the ledger just before `current` is switched to it. Whatever a crash leaves
 * (a release directory the ledger does not list, a ledger entry newer than the release
 * `current` points to, a temporary link) is removed by release_cleanup(), which every deploy,
 * rollback and undeploy runs first. `current` itself always points at a complete release or is
 * absent. */

typedef struct AppReleases {
        char *app;
        char *deploy_to;    /* <deploy_root>/<app> */
        char *releases_dir; /* <deploy_to>/releases */
        char *shared_dir;   /* <deploy_to>/shared */
        char *current_link; /* <deploy_to>/current */
        char *ledger_path;  /* <deploy_to>/.strata/releases.json */
        uid_t uid;          /* the deploy user */
        gid_t gid;
        int dir_fd;         /* deploy_to */
        json_object *ledger;
        char *current;      /* the release `current` points to; NULL when none */
} AppReleases;

/* Opens the app's directory. With `create`, makes the layout above (existing parts are kept,
 * the deploy user's directories chowned to it); without, a missing directory is -ENOENT.
 * A ledger that cannot be read is an error naming its file. */
int release_open(const char *deploy_root, const char *app, uid_t uid, gid_t gid, bool create,
                 AppReleases **ret, char **ret_error);
AppReleases *release_close(AppReleases *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(AppReleases *, release_close);

/* Removes what an interrupted command left (see above) and brings the ledger's states in line
 * with `current`. *ret_removed (may be NULL) gets the names of the release directories removed. */
int release_cleanup(AppReleases *a, char ***ret_removed, char **ret_error);

/* <releases_dir>/<name>, malloc'd. */
char *release_path(const AppReleases *a, const char *name);

/* Makes a new, empty release directory owned by the deploy user (0755); *ret_name is its name. */
int release_create(AppReleases *a, char **ret_name, char **ret_error);

/* Links the shared directories into a release: for each `shared: in-release` pair of
 * RELEASE_DEFAULT_SYMLINKS merged with `symlinks` (a mapping of relative paths; the app's
 * entries win), <release>/<in-release> becomes a symlink to <shared_dir>/<shared>, replacing
 * what the release had there; missing directories on both sides are created, owned by the
 * deploy user. No path component inside the release is followed if it is a symlink. */
#define RELEASE_DEFAULT_SYMLINKS                                                                   \
        "{\"system\": \"public/system\", \"pids\": \"tmp/pids\", \"log\": \"log\"}"
int release_link_shared(AppReleases *a, const char *name, json_object *symlinks,
                        char **ret_error);

/* Enters the release in the ledger as the current one (entry: the fields of `entry`, a JSON
 * object, plus name, deployed_at and state) and switches `current` to it. When the switch
 * fails, the entry is taken out again; the caller removes the directory. */
int release_activate(AppReleases *a, const char *name, json_object *entry, char **ret_error);

/* Removes a release directory that never became current. */
int release_discard(AppReleases *a, const char *name);

/* Switches `current` to the release before it, takes the one it left out of the ledger and
 * removes its directory. 0 when it did (*ret_from, *ret_to: the names), 1 when there is no
 * older release (nothing is changed; *ret_from: the current one or NULL, *ret_to NULL). */
int release_rollback(AppReleases *a, char **ret_from, char **ret_to, char **ret_error);

/* Keeps the newest `keep` releases of the ledger (the current one always), removes the others:
 * first from the ledger, then from disk. *ret_removed (may be NULL): how many went. */
int release_prune(AppReleases *a, unsigned keep, unsigned *ret_removed, char **ret_error);

/* Undeploy: `current`, the ledger, every release and the app's whole directory removed, in an
 * order that leaves `current` pointing at a complete release or absent at every point. */
int release_remove_all(AppReleases *a, char **ret_error);

/* The number of releases in the ledger. */
size_t release_count(const AppReleases *a);
