/* SPDX-License-Identifier: MIT */
#pragma once

#include "macro.h"

/* Largest JSON or YAML document we accept from outside. */
#define DOCUMENT_MAX (16U * 1024U * 1024U)
/* Deepest nesting of arrays and objects we accept in JSON. */
#define JSON_DEPTH_MAX 64

/* Strictly parses one JSON document (RFC 8259: no trailing garbage, no comments, valid UTF-8,
 * nesting bounded). On error *ret_error says what was expected and where (byte offset),
 * prefixed with `what` (usually a file name): "what: byte N: <json-c's words>, expected ...", N
 * counting from 0. The document `null` yields *ret == NULL. */
int json_parse_strict(const char *what, const char *text, size_t len, json_object **ret,
                      char **ret_error);

/* Loads a .json file through json_parse_strict, or a .yaml/.yml file through yaml_load_file;
 * any other name is JSON if it starts with '{' or '[' and YAML otherwise. Whatever the top
 * level is, it is returned as is (an empty YAML file gives NULL). */
int attributes_load_file(const char *path, json_object **ret, char **ret_error);

/* Deep-merges src into dst: objects merge key by key, anything else in src replaces (with a deep
 * copy, so dst never shares objects with src). A NULL src changes nothing; a dst or src that is
 * not an object: -EINVAL. */
int json_merge(json_object *dst, json_object *src);

/* Looks up a dotted path ("deploy.web.current_path") in an object; NULL when absent. */
json_object *json_get_path(json_object *root, const char *path);

/* Type checks that return the value or a fallback: NULL when o is not an object, key is
 * missing or not a string. */
const char *json_get_string(json_object *o, const char *key);
