/* SPDX-License-Identifier: MIT */
#pragma once

#include "macro.h"

/* YAML is only a surface syntax: documents load into json-c.
 *
 * - Plain scalars resolve like YAML 1.2's core schema: null/~, true/false, integers (decimal,
 *   0o octal, 0x hex), floats; quoted and block scalars are always strings. Tags are ignored.
 *   Numbers past int64/double and .inf/.nan stay strings: JSON cannot hold them. Note that a
 *   plain 0644 is the decimal integer 644 in YAML 1.2.
 * - One document per file; an empty file loads as NULL.
 * - Aliases are refused (an alias bomb cannot expand), as are documents past DOCUMENT_MAX and
 *   nesting deeper than YAML_DEPTH_MAX.
 * - Mapping keys must be scalars; a duplicate key is an error.
 * - Errors read "file:line:column: what was expected".
 * - Every mapping and sequence remembers where it started: yaml_mark() returns it. */

#define YAML_DEPTH_MAX 64

typedef struct YamlMark {
        unsigned line;   /* 1-based */
        unsigned column; /* 1-based */
} YamlMark;

int yaml_load(const char *what, const char *text, size_t len, json_object **ret, char **ret_error);
int yaml_load_file(const char *path, json_object **ret, char **ret_error);

/* Where o (a mapping or sequence produced by yaml_load) started; false when unknown.
 * The mark is kept in the object's json-c userdata. */
bool yaml_mark(json_object *o, YamlMark *ret);

/* Deep copy that keeps marks. Use it rather than json_object_deep_copy(), which fails (-1) on
 * any tree from yaml_load because json-c refuses to copy userdata it does not know.
 * A NULL src copies to NULL. */
int yaml_copy(json_object *src, json_object **ret);
