/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <sys/stat.h>

#include "fs-util.h"
#include "json-util.h"
#include "str-util.h"
#include "test-helpers.h"

char *test_tmpdir(void) {
        const char *base = getenv("TMPDIR") ?: "/tmp";
        char *d = strf("%s/strata-test-XXXXXX", base);

        ck_assert_ptr_nonnull(d);
        ck_assert_ptr_nonnull(mkdtemp(d));
        ck_assert_int_eq(chmod(d, 0755), 0);
        return d;
}

void test_rmdir(const char *dir) {
        if (dir)
                ck_assert_int_ge(rm_rf(dir), 0);
}

void test_write(const char *path, const char *content) {
        _cleanup_free_ char *parent = strdup(path);
        _cleanup_fclose_ FILE *f = NULL;

        ck_assert_ptr_nonnull(parent);
        *strrchr(parent, '/') = 0;
        ck_assert_int_ge(mkdir_parents(parent, 0755), 0);
        f = fopen(path, "we");
        ck_assert_msg(f, "cannot write %s", path);
        ck_assert_int_eq(fputs(content, f) >= 0, 1);
}

char *test_read(const char *path) {
        char *s = NULL;

        if (read_full_file(path, 64U * 1024U * 1024U, &s, NULL) < 0)
                return NULL;
        return s;
}

void test_cookbook(const char *dir, const char *cookbook, const char *recipe, const char *yaml) {
        _cleanup_free_ char *meta = strf("%s/%s/metadata.yaml", dir, cookbook);
        _cleanup_free_ char *rec = strf("%s/%s/recipes/%s.yaml", dir, cookbook, recipe);
        _cleanup_free_ char *metadata = strf("name: %s\nversion: 1.0.0\n", cookbook);

        ck_assert_ptr_nonnull(meta);
        ck_assert_ptr_nonnull(rec);
        test_write(meta, metadata);
        test_write(rec, yaml);
}

int test_converge(const char *cookbooks, const char *run_list_item, json_object *attributes,
                  bool why_run, json_object **ret_report, char **ret_error) {
        char *path[] = { (char *) cookbooks, NULL };
        char *run_list[] = { (char *) run_list_item, NULL };
        _cleanup_free_ char *cache = strf("%s/.cache", cookbooks);
        RuntimeConfig cfg = {
                .cookbook_path = path,
                .run_as = TEST_USER,
                .why_run = why_run,
                .cache_dir = cache,
        };
        ConvergeRequest req = {
                .run_list = run_list,
                .attributes = &attributes,
                .n_attributes = attributes ? 1 : 0,
        };
        json_object *report = NULL;
        int r;

        *ret_report = NULL;
        if (ret_error)
                *ret_error = NULL;
        r = converge(&cfg, &req, &report, NULL, ret_error);
        if (r >= 0) {
                *ret_report = report;
                if (getenv("STRATA_TEST_VERBOSE"))
                        fprintf(stderr, "%s\n",
                                json_object_to_json_string_ext(report, JSON_C_TO_STRING_PRETTY));
        } else if (ret_error && *ret_error && getenv("STRATA_TEST_VERBOSE"))
                fprintf(stderr, "converge: %s\n", *ret_error);
        return r;
}

const char *test_report_status(json_object *report, size_t n) {
        json_object *resources = json_object_object_get(report, "resources");
        json_object *e = json_object_array_get_idx(resources, n);

        return e ? json_get_string(e, "status") : NULL;
}

int test_report_total(json_object *report, const char *which) {
        json_object *totals = json_object_object_get(report, "totals");

        return json_object_get_int(json_object_object_get(totals, which));
}

const char *test_conformance_dir(void) {
        const char *d = getenv("STRATA_CONFORMANCE_DIR");

        ck_assert_msg(d, "STRATA_CONFORMANCE_DIR is not set (run through meson test)");
        return d;
}

int test_run_suite(Suite *s) {
        SRunner *sr = srunner_create(s);
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
