/* SPDX-License-Identifier: MIT */
#pragma once

#include <check.h>
#include <sys/stat.h>

#include "converge.h"
#include "macro.h"

/* A fresh directory under $TMPDIR (or /tmp), mode 0755 so unprivileged steps can enter it. */
char *test_tmpdir(void);
void test_rmdir(const char *dir);

/* Writes a file, creating parent directories. */
void test_write(const char *path, const char *content);
/* Reads a whole file; NULL when missing. */
char *test_read(const char *path);

/* Writes <dir>/<cookbook>/metadata.yaml (version 1.0.0) and recipes/<recipe>.yaml. */
void test_cookbook(const char *dir, const char *cookbook, const char *recipe, const char *yaml);

/* Runs converge on `run_list_item` over cookbook dir `cookbooks` with optional attributes.
 * Returns what converge returns. */
int test_converge(const char *cookbooks, const char *run_list_item, json_object *attributes,
                  bool why_run, json_object **ret_report, char **ret_error);

/* Field of the n-th resource of a report, or of the totals ("totals.changed"). */
const char *test_report_status(json_object *report, size_t n);
int test_report_total(json_object *report, const char *which);

/* Path of the shared conformance corpora (../shared/conformance beside the checkout). */
const char *test_conformance_dir(void);

/* The unprivileged user tests run steps as; created by tools/dev/test-users if missing. */
#define TEST_USER "strata"

/* Runs one Check suite and returns the process exit status. */
int test_run_suite(Suite *s);
