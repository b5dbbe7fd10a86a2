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

/* The uid of TEST_USER and the gid of group nogroup, the owners resource tests ask for. */
uid_t test_user_uid(void);
gid_t test_nogroup_gid(void);

/* The fixture of the tests that run one recipe: test_cookbooks holds the cookbook cb, whose
 * recipe default each test writes, and test_out is where the recipe writes (named {{out}} in
 * it). Both are fresh for each test: add test_recipe_setup (out mode 0755) or
 * test_recipe_setup_writable (out mode 0777, for steps that run as TEST_USER and write there)
 * with test_recipe_teardown as a checked fixture. */
extern char *test_cookbooks;
extern char *test_out;
void test_recipe_setup(void);
void test_recipe_setup_writable(void);
void test_recipe_teardown(void);

/* <test_out>/<name>, for the caller to free. */
char *test_out_path(const char *name);

/* The node attributes {"out": test_out}, for the caller to json_object_put(). */
json_object *test_out_attributes(void);

/* Writes yaml as cb::default, converges it over attributes (test_run_recipe: those of
 * test_out_attributes()) and returns the report; `expect` is what converge must return (0:
 * success, 1: a resource failed). */
json_object *test_run_recipe(const char *yaml, bool why_run, int expect);
json_object *test_run_recipe_with(const char *yaml, json_object *attributes, bool why_run,
                                  int expect);

/* Writes yaml as cb::default and converges it, expecting it not to compile (converge < 0, no
 * report); returns the error message, for the caller to free. attributes may be NULL. */
char *test_compile_error(const char *yaml, json_object *attributes);
/* The same without attributes, asserting that the message contains both needles (typically
 * "recipes/default.yaml:<line>:" and what is wrong), or that it ends with suffix (the whole of
 * what is wrong). */
void test_expect_error(const char *yaml, const char *needle1, const char *needle2);
void test_expect_error_ending(const char *yaml, const char *suffix);

/* The n-th resource of a report (asserted to exist) and its fields: a string field, the
 * "error" field, the i-th and the number of "changes", and any field as plain JSON text
 * (for lists and numbers). */
json_object *test_report_entry(json_object *report, size_t n);
const char *test_report_field(json_object *report, size_t n, const char *key);
const char *test_report_error(json_object *report, size_t n);
const char *test_report_change(json_object *report, size_t n, size_t i);
size_t test_report_n_changes(json_object *report, size_t n);
const char *test_report_json(json_object *report, size_t n, const char *key);

/* The regular file at path holds exactly content, with that mode (07777 bits), owner and
 * group. */
void test_assert_file(const char *path, const char *content, mode_t mode, uid_t uid, gid_t gid);
/* a and b stat the same, untouched file: inode, mtime, mode, owner and group. */
void test_assert_same_file(const struct stat *a, const struct stat *b);
/* test_out holds exactly n entries: nothing temporary was left behind. */
void test_assert_out_entries(size_t n);

/* Accounts and packages are the machine's own: the same tests run from other build
 * directories may be changing them right now. A suite that changes them holds the lock
 * /run/lock/<name> from its unchecked setup to its unchecked teardown, so they take turns. */
void test_lock_machine(const char *name);
void test_unlock_machine(void);

/* Runs one Check suite and returns the process exit status. */
int test_run_suite(Suite *s);

/* Servers and daemons a test starts outlive it when it fails (Check's fork mode ends the test
 * process at once). test_adopt_orphans() in the suite's process makes them its children when
 * their parent dies; test_kill_orphans(), from an unchecked teardown, kills and reaps every
 * child it has left. */
void test_adopt_orphans(void);
void test_kill_orphans(void);
