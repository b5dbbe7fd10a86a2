/* SPDX-License-Identifier: MIT */
#pragma once

#include <sys/types.h>

#include "macro.h"
#include "runtime.h"

typedef struct Cookbook Cookbook;

/* The shape a property's value must have once the recipe is loaded and interpolated. */
typedef enum PropType {
        PROP_STRING,      /* a string */
        PROP_STRING_LIST, /* a string or a list of strings */
        PROP_COMMAND,     /* an argv list of strings, or a shell string */
        PROP_BOOL,        /* true/false */
        PROP_INT,         /* an integer (a string of digits is accepted) */
        PROP_MODE,        /* "0644", or digits read as octal: 644 and 0644 mean 0644 */
        PROP_MAP,         /* a mapping of strings to scalars */
        PROP_ANY,         /* anything (template variables) */
} PropType;

typedef struct PropSpec {
        const char *name;
        PropType type;
        bool required;
} PropSpec;

typedef struct Resource Resource;

/* One resource type: its properties, actions (the first is the default) and provider. */
typedef struct ResourceType {
        const char *name;
        const char *const *actions; /* NULL-terminated */
        const PropSpec *properties; /* terminated by { NULL } */
        const char *identity;       /* property whose value names the resource: "path", "name" */
        /* Checks property values beyond their type (e.g. a link needs `to` to create); may be
         * NULL. Runs at load time, before anything is converged. */
        int (*check)(Resource *r, char **ret_error);
        /* Brings the system to the state `action` asks for. Returns 0 when nothing needed to
         * change, 1 when something changed (or, in why-run, would have), < 0 on failure with
         * resource_fail() called. */
        int (*apply)(Resource *r, const char *action);
} ResourceType;

/* A resource as the converge engine runs it: type, interpolated properties and where it came
 * from. Providers read properties through the accessors below. */
struct Resource {
        const ResourceType *type;
        json_object *props; /* interpolated; owned */
        char *name;         /* for reports and notifications */
        char *id;           /* "type[name]" */
        Cookbook *cookbook;
        char *recipe;       /* "cookbook::recipe" */
        char *file;         /* recipe file */
        unsigned line;
        const RuntimeConfig *cfg;
        json_object *node;  /* the node attributes (templates render over them); borrowed */
        json_object *item;  /* {item, key} of for_each, else NULL; owned */

        /* Filled while the resource runs. */
        char *error;
        json_object *changes; /* array of strings: what changed / would change */
};

/* The registry of resource types. */
const ResourceType *resource_type_find(const char *name);
extern const ResourceType *const resource_types[];

/* Property accessors; values were type-checked at load time. */
const char *resource_str(Resource *r, const char *prop);   /* NULL when unset */
bool resource_bool(Resource *r, const char *prop, bool def);
int64_t resource_int(Resource *r, const char *prop, int64_t def);
/* (mode_t) -1 when unset */
mode_t resource_mode(Resource *r, const char *prop);
/* A NULL-terminated copy of a string-or-list property; an empty vector when unset. */
char **resource_strv(Resource *r, const char *prop);
json_object *resource_get(Resource *r, const char *prop);

/* Records a failure message (printf-style) and returns -EINVAL-like r for `return`. */
int resource_fail(Resource *r, int err, const char *fmt, ...) _printf_(3, 4);

/* Records that something changes ("create /etc/motd"). Returns true when the provider should
 * go ahead and change it, false in why-run mode. */
bool resource_change(Resource *r, const char *fmt, ...) _printf_(2, 3);

void resource_log(Resource *r, int priority, const char *fmt, ...) _printf_(3, 4);

/* Owner and group properties ("owner", "group") to ids; (uid_t) -1 when unset. */
int resource_owner(Resource *r, uid_t *ret_uid, gid_t *ret_gid);

/* Ensures path has the owner, group and mode the resource asks for (each when set), through
 * resource_change(). Returns 0 when it already had them, 1 when changed, < 0 on failure. */
int resource_apply_attributes(Resource *r, const char *path, bool is_link);

/* The regular file whose content a resource owns (file, template, remote_file; res-content.c
 * says how it is written). These fail the resource themselves on error. */
struct stat;
/* lstat()s the path to be written: 0 when it is missing, 1 with *ret_st when it is a regular
 * file; a directory, a symbolic link (never written through) or any other type fails. */
int resource_content_stat(Resource *r, const char *path, struct stat *ret_st);
/* The mode, owner and group a written file gets: those the resource sets, else those of the
 * file it replaces (`replaced`, NULL when there is none), else mode 0644 and the writer's ids
 * ((uid_t) -1 / (gid_t) -1: leave as created). */
int resource_content_attributes(Resource *r, const struct stat *replaced, mode_t *ret_mode,
                                uid_t *ret_uid, gid_t *ret_gid);
/* Brings the regular file at path to exactly data (len bytes; data NULL: any content, an empty
 * file when it is missing), rewriting it atomically only when it differs, then to the
 * resource's owner, group and mode. Reports "create file <path>" / "update content of <path>"
 * and the attribute changes. Returns 0 when nothing changed, 1 when something did (or would, in
 * why-run), < 0 on failure. */
int resource_write_content(Resource *r, const char *path, const char *data, size_t len);

/* Runs a system program (useradd, apt-get, mount, ...) for the resource through
 * spawn_program_checked(): environment_extra and ret_output (either may be NULL) as there. A
 * failure, including a non-zero exit status, fails the resource with the program's message. */
int resource_run_program(Resource *r, const char *const *argv, char **environment_extra,
                         char **ret_output);

/* Runs a step (an argv) as the resource's user (property "user", else the run's run_as)
 * with the resource's timeout; used by execute, script, git and guards. */
typedef struct StepResult StepResult;
int resource_run_step(Resource *r, char **argv, const char *cwd, char **environment,
                      StepResult *ret);

Resource *resource_free(Resource *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(Resource *, resource_free);

/* The providers, one file each (res-<type>.c). */
extern const ResourceType resource_type_package;
extern const ResourceType resource_type_service;
extern const ResourceType resource_type_file;
extern const ResourceType resource_type_template;
extern const ResourceType resource_type_directory;
extern const ResourceType resource_type_link;
extern const ResourceType resource_type_remote_file;
extern const ResourceType resource_type_execute;
extern const ResourceType resource_type_script;
extern const ResourceType resource_type_user;
extern const ResourceType resource_type_group;
extern const ResourceType resource_type_cron;
extern const ResourceType resource_type_git;
extern const ResourceType resource_type_mount;
extern const ResourceType resource_type_system_updates;
