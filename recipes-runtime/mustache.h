/* SPDX-License-Identifier: MIT */
#pragma once

#include "macro.h"

/* Mustache templates (https://mustache.github.io/mustache.5.html) rendered over json-c data,
 * following the mustache spec: variables (escaped and raw), sections, inverted sections,
 * comments, partials (with standalone-line indentation), set delimiter, dotted names and
 * implicit iterators. Lambdas do not exist in JSON data. The optional spec modules for
 * dynamic names ({{>*name}}) and inheritance ({{<parent}}, {{$block}}) are supported too;
 * docs/templates.md is the reference. */

/* Partials, parents and overridden blocks expand at most this deep, and sections nest at most
 * this deep in one template: a template that includes itself for ever fails with -ELOOP instead
 * of exhausting the stack. */
#define MUSTACHE_DEPTH_MAX 64U

/* Largest output: past it rendering fails with -E2BIG. */
#define MUSTACHE_OUTPUT_MAX (64U * 1024U * 1024U)

/* Returns the source of partial `name` in *ret (malloc'd), or -ENOENT (a missing partial
 * renders as empty, as the spec says), or another negative errno. */
typedef int (*MustachePartialFn)(const char *name, char **ret, void *userdata);

/* The context stack's bottom is `data`; `extra` (may be NULL) is pushed above it, so its
 * keys (item, key) shadow the data's. On error *ret_error names line and column of the
 * template and what was expected, prefixed with `what`. */
int mustache_render(const char *what, const char *template, json_object *data, json_object *extra,
                    MustachePartialFn partial, void *userdata, char **ret, char **ret_error);

/* Like mustache_render(), but {{name}} inserts values as they are, as {{{name}}} does: for text
 * that is not HTML, such as recipe properties. */
int mustache_render_unescaped(const char *what, const char *template, json_object *data,
                              json_object *extra, MustachePartialFn partial, void *userdata,
                              char **ret, char **ret_error);
