/* SPDX-License-Identifier: MIT */
#include "cookbook.h"
#include "str-util.h"
#include "test-helpers.h"

static char *dir;

static void setup(void) {
        dir = test_tmpdir();
}

static void teardown(void) {
        test_rmdir(dir);
        dir = mfree(dir);
}

static void write_in(const char *rel, const char *content) {
        _cleanup_free_ char *p = strf("%s/%s", dir, rel);

        test_write(p, content);
}

START_TEST(load_metadata_and_attributes) {
        _cleanup_(cookbook_freep) Cookbook *c = NULL;
        _cleanup_free_ char *cb = strf("%s/web", dir), *error = NULL;

        write_in("web/metadata.yaml", "name: web\nversion: 1.2.3\ndepends:\n  base: '>= 1.0'\n");
        write_in("web/attributes/a.yaml", "web: {port: 80, names: [a]}\n");
        write_in("web/attributes/b.yaml", "web: {port: 8080}\nother: x\n");
        ck_assert_int_eq(cookbook_load(cb, &c, &error), 0);
        ck_assert_str_eq(c->name, "web");
        ck_assert_str_eq(c->version_string, "1.2.3");
        ck_assert_str_eq(json_object_to_json_string_ext(c->attributes, JSON_C_TO_STRING_PLAIN),
                         "{\"web\":{\"port\":8080,\"names\":[\"a\"]},\"other\":\"x\"}");
        ck_assert_str_eq(json_object_to_json_string_ext(c->depends, JSON_C_TO_STRING_PLAIN),
                         "{\"base\":\">= 1.0\"}");
}
END_TEST

static void expect_load_error(const char *metadata, const char *needle) {
        _cleanup_(cookbook_freep) Cookbook *c = NULL;
        _cleanup_free_ char *cb = strf("%s/bad", dir), *error = NULL;

        write_in("bad/metadata.yaml", metadata);
        ck_assert_int_lt(cookbook_load(cb, &c, &error), 0);
        ck_assert_ptr_nonnull(error);
        ck_assert_msg(strstr(error, needle), "'%s' does not contain '%s'", error, needle);
        ck_assert_msg(strstr(error, "bad/metadata.yaml"), "'%s' does not name the file", error);
}

START_TEST(bad_metadata) {
        expect_load_error("version: 1.0\n", "'name'");
        expect_load_error("name: bad\nversion: one\n", "version 'one'");
        expect_load_error("name: bad\nversoin: 1.0\n", "unknown key 'versoin'");
        expect_load_error("name: bad\ndepends: [a]\n", "'depends' must map");
        expect_load_error("name: bad\ndepends: {a: '>= x'}\n", "'>= x' is not a version constraint");
        expect_load_error("- a\n", "expected a mapping");
        expect_load_error("name: [bad\n", "metadata.yaml:");
}
END_TEST

START_TEST(cookbook_file_stays_inside) {
        _cleanup_(cookbook_freep) Cookbook *c = NULL;
        _cleanup_free_ char *cb = strf("%s/web", dir), *error = NULL, *p = NULL;

        write_in("web/metadata.yaml", "name: web\n");
        write_in("web/templates/site.conf.mustache", "x");
        ck_assert_int_eq(cookbook_load(cb, &c, &error), 0);
        ck_assert_int_eq(cookbook_file(c, "templates", "site.conf.mustache", &p, &error), 0);
        ck_assert(endswith(p, "/web/templates/site.conf.mustache"));
        p = mfree(p);
        ck_assert_int_eq(cookbook_file(c, "templates", "../metadata.yaml", &p, &error), -EINVAL);
        error = mfree(error);
        ck_assert_int_eq(cookbook_file(c, "templates", "/etc/passwd", &p, &error), -EINVAL);
        error = mfree(error);
        ck_assert_int_eq(cookbook_file(c, "files", "missing", &p, &error), -ENOENT);
        ck_assert_ptr_nonnull(strstr(error, "cookbook web has no files/missing"));
}
END_TEST

START_TEST(path_first_wins_and_resolve) {
        _cleanup_free_ char *a = strf("%s/a", dir), *b = strf("%s/b", dir), *error = NULL;
        char *path[] = { a, b, NULL };
        _cleanup_(cookbook_set_freep) CookbookSet *s = NULL;
        Cookbook *c;

        write_in("a/web/metadata.yaml", "name: web\nversion: 2.0\ndepends: {base: '~> 1.2'}\n");
        write_in("b/web/metadata.yaml", "name: web\nversion: 1.0\n");
        write_in("b/base/metadata.yaml", "name: base\nversion: 1.4.1\ndepends: {lib: }\n");
        write_in("b/lib/metadata.yaml", "name: lib\nversion: 0.1\n");
        ck_assert_int_eq(cookbook_set_new(path, &s), 0);
        ck_assert_int_eq(cookbook_set_get(s, "web", &c, &error), 0);
        ck_assert_str_eq(c->version_string, "2.0");
        ck_assert_int_eq(cookbook_set_resolve(s, &error), 0);
        ck_assert_uint_eq(cookbook_set_size(s), 3);
        ck_assert_str_eq(cookbook_set_at(s, 1)->name, "base");
        ck_assert_str_eq(cookbook_set_at(s, 2)->name, "lib");
}
END_TEST

START_TEST(missing_dependency) {
        _cleanup_free_ char *error = NULL;
        char *path[] = { dir, NULL };
        _cleanup_(cookbook_set_freep) CookbookSet *s = NULL;
        Cookbook *c;

        write_in("web/metadata.yaml", "name: web\ndepends: {base: '>= 1'}\n");
        ck_assert_int_eq(cookbook_set_new(path, &s), 0);
        ck_assert_int_eq(cookbook_set_get(s, "web", &c, &error), 0);
        ck_assert_int_eq(cookbook_set_resolve(s, &error), -ENOENT);
        ck_assert_str_eq(error,
                         "cookbook web depends on base (>= 1), which is not in the cookbook path");
}
END_TEST

START_TEST(version_conflict) {
        _cleanup_free_ char *error = NULL, *expected = NULL;
        char *path[] = { dir, NULL };
        _cleanup_(cookbook_set_freep) CookbookSet *s = NULL;
        Cookbook *c;

        write_in("web/metadata.yaml", "name: web\ndepends: {base: '>= 2.0'}\n");
        write_in("base/metadata.yaml", "name: base\nversion: 1.5\n");
        ck_assert_int_eq(cookbook_set_new(path, &s), 0);
        ck_assert_int_eq(cookbook_set_get(s, "web", &c, &error), 0);
        ck_assert_int_eq(cookbook_set_resolve(s, &error), -ERANGE);
        expected = strf("cookbook web depends on base >= 2.0, but base is version 1.5 (%s/base)", dir);
        ck_assert_str_eq(error, expected);
}
END_TEST

START_TEST(not_found) {
        _cleanup_free_ char *error = NULL, *expected = NULL;
        char *path[] = { dir, NULL };
        _cleanup_(cookbook_set_freep) CookbookSet *s = NULL;
        Cookbook *c;

        ck_assert_int_eq(cookbook_set_new(path, &s), 0);
        ck_assert_int_eq(cookbook_set_get(s, "nope", &c, &error), -ENOENT);
        expected = strf("cookbook 'nope' not found in the cookbook path (%s)", dir);
        ck_assert_str_eq(error, expected);
        error = mfree(error);
        ck_assert_int_eq(cookbook_set_get(s, "../etc", &c, &error), -EINVAL);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("cookbook");
        TCase *tc = tcase_create("cookbook");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, load_metadata_and_attributes);
        tcase_add_test(tc, bad_metadata);
        tcase_add_test(tc, cookbook_file_stays_inside);
        tcase_add_test(tc, path_first_wins_and_resolve);
        tcase_add_test(tc, missing_dependency);
        tcase_add_test(tc, version_conflict);
        tcase_add_test(tc, not_found);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
