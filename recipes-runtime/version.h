/* SPDX-License-Identifier: MIT */
#pragma once

#include "macro.h"

/* Cookbook versions are dotted numbers ("1", "1.2", "1.2.3"); missing parts count as 0. */
#define VERSION_PARTS 3

typedef struct Version {
        uint32_t part[VERSION_PARTS];
        unsigned n; /* parts written */
} Version;

int version_parse(const char *s, Version *ret);
int version_compare(const Version *a, const Version *b);

/* A constraint is "OP VERSION" with OP one of = >= <= > < ~> (a bare version means =).
 * "~> 1.2" allows >= 1.2, < 2.0; "~> 1.2.3" allows >= 1.2.3, < 1.3. */
int version_constraint_check(const char *constraint, const Version *v, bool *ret_ok);
