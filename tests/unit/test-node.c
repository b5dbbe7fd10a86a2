/* SPDX-License-Identifier: MIT */
#include "node.h"
#include "str-util.h"
#include "test-helpers.h"

START_TEST(precedence_and_readonly) {
        _cleanup_free_ char *dir = test_tmpdir(), *error = NULL;
        _cleanup_free_ char *a1 = strf("%s/a/attributes/default.yaml", dir);
        _cleanup_free_ char *b1 = strf("%s/b/attributes/default.yaml", dir);
        _cleanup_free_ char *am = strf("%s/a/metadata.yaml", dir), *bm = strf("%s/b/metadata.yaml", dir);
        _cleanup_(cookbook_set_freep) CookbookSet *set = NULL;
        _cleanup_json_ json_object *stack = json_tokener_parse(
                "{\"app\": {\"port\": 81, \"tags\": [\"stack\"]}, \"stack\": \"forged\"}");
        _cleanup_json_ json_object *layer = json_tokener_parse("{\"app\": {\"port\": 82}}");
        _cleanup_json_ json_object *command = json_tokener_parse("{\"app\": {\"debug\": true}}");
        _cleanup_json_ json_object *readonly = json_tokener_parse("{\"stack\": {\"id\": \"s1\"}}");
        _cleanup_json_ json_object *node = NULL;
        json_object *layers[] = { stack, layer, command };
        char *path[] = { dir, NULL };
        Cookbook *c;

        test_write(am, "name: a\n");
        test_write(bm, "name: b\n");
        test_write(a1, "app: {port: 80, name: web, tags: [default]}\n");
        test_write(b1, "app: {name: other}\nonly_b: 1\n");
        ck_assert_int_eq(cookbook_set_new(path, &set), 0);
        ck_assert_int_eq(cookbook_set_get(set, "a", &c, &error), 0);
        ck_assert_int_eq(cookbook_set_get(set, "b", &c, &error), 0);

        ck_assert_int_eq(node_build(set, layers, 3, readonly, &node), 0);
        ck_assert_str_eq(json_object_to_json_string_ext(node, JSON_C_TO_STRING_PLAIN),
                         "{\"app\":{\"port\":82,\"name\":\"other\",\"tags\":[\"stack\"],"
                         "\"debug\":true},\"only_b\":1,\"stack\":{\"id\":\"s1\"}}");
        /* The inputs are untouched: the node holds copies. */
        ck_assert_str_eq(json_object_to_json_string_ext(layer, JSON_C_TO_STRING_PLAIN),
                         "{\"app\":{\"port\":82}}");
        ck_assert_str_eq(json_object_to_json_string_ext(c->attributes, JSON_C_TO_STRING_PLAIN),
                         "{\"app\":{\"name\":\"other\"},\"only_b\":1}");
        test_rmdir(dir);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("node");
        TCase *tc = tcase_create("node");

        tcase_add_test(tc, precedence_and_readonly);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
