/* SPDX-License-Identifier: MIT */
#pragma once

#include "macro.h"

/* Mustache templates (https://mustache.github.io/mustache.5.html) rendered over json-c data,
 * following the mustache spec: variables (escaped and raw), sections, inverted sections,
 * comments, partials (with standalone-line indentation), set delimiter, dotted names and
 * implicit iterators. Lambdas do not exist in JSON data. */

/* Returns the source of partial `name` in *ret (malloc'd), or -ENOENT (a missing partial
 * renders as empty, as the spec says), or another negative errno. */
typedef int (*MustachePartialFn)(const char *name, char **ret, void *userdata);

/* The context stack's bottom is `data`; `extra` (may be NULL) is pushed above it, so its
 * keys (item, key) shadow the data's. On error *ret_error names line and column of the
 * template and what was expected, prefixed with `what`. */
int mustache_render(const char *what, const char *template, json_object *data, json_object *extra,
                    MustachePartialFn partial, void *userdata, char **ret, char **ret_error);
