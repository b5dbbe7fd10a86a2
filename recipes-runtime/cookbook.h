/* SPDX-License-Identifier: MIT */
#pragma once

#include "macro.h"
#include "version.h"

/* A cookbook on disk:
 *   <dir>/metadata.yaml      name, version, depends: {other: ">= 1.2"}
 *   <dir>/attributes/NAME.yaml  default attributes, merged in file-name order
 *   <dir>/recipes/<r>.yaml   a list of resources
 *   <dir>/templates/, files/ */
struct Cookbook {
        char *name;
        char *dir;
        Version version;
        char *version_string;
        json_object *depends;    /* name → constraint */
        json_object *attributes; /* merged attributes/NAME.yaml */
};
typedef struct Cookbook Cookbook;

Cookbook *cookbook_free(Cookbook *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Cookbook *, cookbook_free);

int cookbook_load(const char *dir, Cookbook **ret, char **ret_error);

/* Path of <cookbook>/<kind>/<name> (kind: "templates", "files", "recipes"), refusing names
 * that leave that directory. -ENOENT when missing. */
int cookbook_file(Cookbook *c, const char *kind, const char *name, char **ret, char **ret_error);

/* The cookbooks of a run: found on the cookbook path (first directory wins), loaded once. */
typedef struct CookbookSet CookbookSet;

int cookbook_set_new(char **cookbook_path, CookbookSet **ret);
CookbookSet *cookbook_set_free(CookbookSet *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(CookbookSet *, cookbook_set_free);

/* Finds and loads a cookbook by name; -ENOENT with a message naming the path searched. */
int cookbook_set_get(CookbookSet *s, const char *name, Cookbook **ret, char **ret_error);

/* Loads every dependency of every loaded cookbook, recursively, checking each constraint. */
int cookbook_set_resolve(CookbookSet *s, char **ret_error);

/* Cookbooks in load order, for attribute merging. */
size_t cookbook_set_size(CookbookSet *s);
Cookbook *cookbook_set_at(CookbookSet *s, size_t i);
