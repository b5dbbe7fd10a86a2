/* SPDX-License-Identifier: MIT */
#include <dirent.h>

#include "fs-util.h"
#include "json-util.h"
#include "str-util.h"
#include "test-helpers.h"
#include "yaml-load.h"

static const char *plain(json_object *o) {
        return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* Parses text as "t.json" and returns the error message, asserting that parsing failed. */
static char *parse_error(const char *text, size_t len) {
        json_object *o = NULL;
        char *error = NULL;

        ck_assert_int_eq(json_parse_strict("t.json", text, len, &o, &error), -EINVAL);
        ck_assert_ptr_null(o);
        ck_assert_ptr_nonnull(error);
        return error;
}

static void assert_error(const char *text, const char *expected) {
        _cleanup_free_ char *error = parse_error(text, strlen(text));

        ck_assert_str_eq(error, expected);
}

/* JSONTestSuite: y_ must parse, n_ must fail with a message, i_ may do either but not crash. */
START_TEST(test_conformance) {
        _cleanup_free_ char *dir = strf("%s/json/test_parsing", test_conformance_dir());
        _cleanup_(strbuf_done) StrBuf failures = {};
        unsigned n_yes = 0, n_no = 0, n_either = 0;
        struct dirent *de;
        DIR *d;

        d = opendir(dir);
        ck_assert_msg(d, "cannot open %s: %s", dir, strerror(errno));

        while ((de = readdir(d))) {
                _cleanup_free_ char *path = NULL, *text = NULL, *error = NULL;
                _cleanup_json_ json_object *o = NULL;
                size_t len;
                int r;

                if (!endswith(de->d_name, ".json"))
                        continue;
                path = strf("%s/%s", dir, de->d_name);
                ck_assert_int_eq(read_full_file(path, DOCUMENT_MAX, &text, &len), 0);

                r = json_parse_strict(de->d_name, text, len, &o, &error);
                if (startswith(de->d_name, "y_")) {
                        n_yes++;
                        if (r < 0)
                                strbuf_printf(&failures, "\n  rejected %s: %s", de->d_name,
                                              strempty(error));
                } else if (startswith(de->d_name, "n_")) {
                        n_no++;
                        if (r >= 0)
                                strbuf_printf(&failures, "\n  accepted %s", de->d_name);
                        else if (!error || !startswith(error, de->d_name) ||
                                 !strstr(error, ": byte ") || !strstr(error, ", expected "))
                                strbuf_printf(&failures, "\n  bad message for %s: %s", de->d_name,
                                              strempty(error));
                } else if (startswith(de->d_name, "i_")) {
                        n_either++;
                        if (r < 0 && (!error || !*error))
                                strbuf_printf(&failures, "\n  no message for %s", de->d_name);
                }
        }
        closedir(d);

        ck_assert_msg(failures.len == 0, "conformance failures:%s", failures.data);
        /* The whole corpus ran, not an empty or missing directory. */
        ck_assert_uint_eq(n_yes, 95);
        ck_assert_uint_eq(n_no, 188);
        ck_assert_uint_eq(n_either, 35);
}
END_TEST

START_TEST(test_values) {
        const char *text = "{\"a\": [1, 2.5, \"x\\u00e9\\u0000y\", true, null, -0, 1e2],\n"
                           " \"b\": {\"c\": -9223372036854775808}}  \n";
        _cleanup_json_ json_object *o = NULL;
        json_object *a, *s;

        ck_assert_int_eq(json_parse_strict("t.json", text, strlen(text), &o, NULL), 0);
        a = json_object_object_get(o, "a");
        ck_assert_int_eq(json_object_array_length(a), 7);
        ck_assert_int_eq(json_object_get_int(json_object_array_get_idx(a, 0)), 1);
        ck_assert_double_eq(json_object_get_double(json_object_array_get_idx(a, 1)), 2.5);
        s = json_object_array_get_idx(a, 2);
        ck_assert_int_eq(json_object_get_string_len(s), 5);
        ck_assert_int_eq(memcmp(json_object_get_string(s), "x\xc3\xa9\0y", 5), 0);
        ck_assert(json_object_get_boolean(json_object_array_get_idx(a, 3)));
        ck_assert_ptr_null(json_object_array_get_idx(a, 4));
        ck_assert_double_eq(json_object_get_double(json_object_array_get_idx(a, 6)), 100.0);
        ck_assert_int_eq(json_object_get_int64(json_get_path(o, "b.c")), INT64_MIN);
}
END_TEST

START_TEST(test_scalars_at_top) {
        json_object *o = (json_object *)1;
        _cleanup_json_ json_object *n = NULL, *s = NULL;

        /* null is a document too: success with a NULL object. */
        ck_assert_int_eq(json_parse_strict("t", " null ", 6, &o, NULL), 0);
        ck_assert_ptr_null(o);
        /* A number at the very end of the input is complete. */
        ck_assert_int_eq(json_parse_strict("t", "42", 2, &n, NULL), 0);
        ck_assert_int_eq(json_object_get_int(n), 42);
        /* Only len bytes count; what follows is not read. */
        ck_assert_int_eq(json_parse_strict("t", "\"ab\"garbage", 4, &s, NULL), 0);
        ck_assert_str_eq(json_object_get_string(s), "ab");
}
END_TEST

START_TEST(test_error_messages) {
        _cleanup_free_ char *nul = NULL, *unnamed = NULL;
        json_object *o = NULL;

        assert_error("[1,]", "t.json: byte 3: unexpected character, expected a JSON value "
                             "(object, array, string, number, true, false or null)");
        assert_error("{\"a\" 1}", "t.json: byte 5: unexpected character, expected ':'");
        assert_error("{\"a\":1,}",
                     "t.json: byte 7: unexpected character, expected a property name in double "
                     "quotes");
        assert_error("{'a':1}",
                     "t.json: byte 1: unexpected character, expected a property name in double "
                     "quotes");
        assert_error("{\"a\":1 \"b\":2}",
                     "t.json: byte 7: unexpected character, expected ',' or '}'");
        assert_error("[1", "t.json: byte 2: unexpected end of data, expected ',' or ']'");
        assert_error("{\"a\":1} x", "t.json: byte 8: unexpected character, expected the end of "
                                    "the document after the JSON value");
        assert_error("[1] // c", "t.json: byte 4: unexpected character, expected the end of the "
                                 "document after the JSON value");
        assert_error("01", "t.json: byte 1: unexpected character, expected no leading zeros");
        assert_error("-", "t.json: byte 1: unexpected end of data, expected a digit");
        assert_error("2.", "t.json: byte 2: unexpected end of data, expected a digit after '.'");
        assert_error("1e+", "t.json: byte 3: unexpected end of data, expected a digit in the "
                            "exponent");
        assert_error("NaN", "t.json: byte 0: unexpected character, expected a JSON value "
                            "(object, array, string, number, true, false or null)");
        assert_error("tru", "t.json: byte 3: unexpected end of data, expected true");
        assert_error("[nul]", "t.json: byte 4: unexpected character, expected null");
        assert_error("\"a\tb\"", "t.json: byte 2: invalid string sequence, expected control "
                                 "characters to be escaped");
        assert_error("\"\\x\"", "t.json: byte 2: invalid string sequence, expected an escape "
                                "(\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
        assert_error("\"\\u12G4\"", "t.json: byte 5: invalid string sequence, expected four hex "
                                    "digits after \\u");
        assert_error("\"abc", "t.json: byte 4: unexpected end of data, expected a closing '\"'");
        /* Overlong '/', an encoded surrogate, and a truncated sequence. */
        assert_error("[\"\xc0\xaf\"]", "t.json: byte 2: invalid utf-8 string, expected UTF-8 text");
        assert_error("\"\xed\xa0\x80\"", "t.json: byte 1: invalid utf-8 string, expected UTF-8 "
                                         "text");
        assert_error("\"\xe2\x82\"", "t.json: byte 1: invalid utf-8 string, expected UTF-8 text");
        assert_error("\xef\xbb\xbf{}", "t.json: byte 0: unexpected character, expected a JSON "
                                       "value, not a UTF-8 byte order mark");
        assert_error("", "t.json: byte 0: unexpected end of data, expected a JSON value (object, "
                         "array, string, number, true, false or null)");
        assert_error(" \n ", "t.json: byte 3: unexpected end of data, expected a JSON value "
                             "(object, array, string, number, true, false or null)");

        /* A NUL byte after the value is not whitespace. */
        nul = parse_error("[1]\0", 4);
        ck_assert_str_eq(nul, "t.json: byte 3: unexpected character, expected the end of the "
                              "document after the JSON value");

        ck_assert_int_eq(json_parse_strict(NULL, "[", 1, &o, &unnamed), -EINVAL);
        ck_assert_str_eq(unnamed, "JSON: byte 1: unexpected end of data, expected a JSON value "
                                  "(object, array, string, number, true, false or null)");
        /* No error pointer: still fails cleanly. */
        ck_assert_int_eq(json_parse_strict("t", "[", 1, &o, NULL), -EINVAL);
}
END_TEST

static char *nested(char open, char close, unsigned depth) {
        StrBuf b = {};

        for (unsigned i = 0; i < depth; i++)
                ck_assert_int_eq(
                        strbuf_append(&b, open == '{' ? "{\"k\":" : "[", open == '{' ? 5 : 1), 0);
        ck_assert_int_eq(strbuf_appends(&b, "1"), 0);
        for (unsigned i = 0; i < depth; i++)
                ck_assert_int_eq(strbuf_append(&b, &close, 1), 0);
        return strbuf_steal(&b);
}

START_TEST(test_depth) {
        _cleanup_free_ char *arrays = nested('[', ']', JSON_DEPTH_MAX),
                            *too_deep = nested('[', ']', JSON_DEPTH_MAX + 1),
                            *objects = nested('{', '}', JSON_DEPTH_MAX),
                            *objects_too_deep = nested('{', '}', JSON_DEPTH_MAX + 1),
                            *bomb = nested('[', ']', 100000), *e1 = NULL, *e2 = NULL, *e3 = NULL;
        _cleanup_json_ json_object *a = NULL, *o = NULL;

        ck_assert_int_eq(json_parse_strict("t", arrays, strlen(arrays), &a, NULL), 0);
        ck_assert_int_eq(json_parse_strict("t", objects, strlen(objects), &o, NULL), 0);
        ck_assert_int_eq(json_object_get_int(json_get_path(o, "k.k.k.k.k.k.k.k.k.k.k.k.k.k.k.k.k."
                                                              "k.k.k.k.k.k.k.k.k.k.k.k.k.k.k.k.k."
                                                              "k.k.k.k.k.k.k.k.k.k.k.k.k.k.k.k.k."
                                                              "k.k.k.k.k.k.k.k.k.k.k.k.k")),
                         1);

        e1 = parse_error(too_deep, strlen(too_deep));
        ck_assert_str_eq(e1, "t.json: byte 64: nesting too deep, expected at most 64 nested "
                             "arrays and objects");
        e2 = parse_error(objects_too_deep, strlen(objects_too_deep));
        ck_assert_str_eq(e2, "t.json: byte 320: nesting too deep, expected at most 64 nested "
                             "arrays and objects");
        e3 = parse_error(bomb, strlen(bomb));
        ck_assert(startswith(e3, "t.json: byte 64: nesting too deep"));
}
END_TEST

START_TEST(test_size_limit) {
        _cleanup_free_ char *big = malloc(DOCUMENT_MAX + 1), *error = NULL;
        json_object *o = NULL;

        ck_assert_ptr_nonnull(big);
        memset(big, ' ', DOCUMENT_MAX + 1);
        big[0] = '1';
        ck_assert_int_eq(json_parse_strict("big.json", big, DOCUMENT_MAX + 1, &o, &error), -EFBIG);
        ck_assert_str_eq(error, "big.json: 16777217 bytes, expected at most 16777216");
        ck_assert_ptr_null(o);
}
END_TEST

static json_object *parse(const char *text) {
        json_object *o = NULL;
        _cleanup_free_ char *error = NULL;

        ck_assert_msg(json_parse_strict("t", text, strlen(text), &o, &error) == 0, "%s", error);
        return o;
}

START_TEST(test_merge) {
        _cleanup_json_ json_object *dst = parse("{\"a\":{\"x\":1,\"y\":2},\"b\":[1],\"c\":\"s\","
                                                "\"e\":{\"f\":1}}");
        _cleanup_json_ json_object *src = parse("{\"a\":{\"y\":3,\"z\":{\"q\":true}},\"b\":[2],"
                                                "\"d\":null,\"e\":5}");
        _cleanup_json_ json_object *arr = parse("[1]");

        ck_assert_int_eq(json_merge(dst, src), 0);
        ck_assert_str_eq(plain(dst), "{\"a\":{\"x\":1,\"y\":3,\"z\":{\"q\":true}},\"b\":[2],"
                                     "\"c\":\"s\",\"e\":5,\"d\":null}");

        /* dst owns copies: changing src afterwards does not show through. */
        json_object_object_add(json_object_object_get(json_object_object_get(src, "a"), "z"), "q",
                               json_object_new_int(0));
        json_object_array_add(json_object_object_get(src, "b"), json_object_new_int(3));
        ck_assert_str_eq(plain(json_get_path(dst, "a.z")), "{\"q\":true}");
        ck_assert_str_eq(plain(json_object_object_get(dst, "b")), "[2]");

        ck_assert_int_eq(json_merge(dst, NULL), 0);
        ck_assert_int_eq(json_merge(dst, dst), 0);
        ck_assert_int_eq(json_merge(dst, arr), -EINVAL);
        ck_assert_int_eq(json_merge(arr, dst), -EINVAL);
        ck_assert_int_eq(json_merge(NULL, dst), -EINVAL);
}
END_TEST

START_TEST(test_merge_yaml) {
        const char *yaml = "deploy:\n  web:\n    paths: [a, b]\n";
        _cleanup_json_ json_object *dst = parse("{\"deploy\":{\"db\":{}}}"), *src = NULL;
        YamlMark m;

        /* Trees from YAML carry marks in userdata, which json_object_deep_copy() refuses. */
        ck_assert_int_eq(yaml_load("a.yaml", yaml, strlen(yaml), &src, NULL), 0);
        ck_assert_int_eq(json_merge(dst, src), 0);
        ck_assert_str_eq(plain(dst), "{\"deploy\":{\"db\":{},\"web\":{\"paths\":[\"a\",\"b\"]}}}");
        ck_assert(yaml_mark(json_get_path(dst, "deploy.web.paths"), &m));
        ck_assert_uint_eq(m.line, 3);
        ck_assert_uint_eq(m.column, 12);
        ck_assert_ptr_ne(json_get_path(dst, "deploy.web"), json_get_path(src, "deploy.web"));
}
END_TEST

START_TEST(test_get_path) {
        _cleanup_json_ json_object *o =
                parse("{\"deploy\":{\"web\":{\"current_path\":\"/srv/web/current\",\"n\":3}},"
                      "\"list\":[1],\"a.b\":1}");

        ck_assert_str_eq(json_object_get_string(json_get_path(o, "deploy.web.current_path")),
                         "/srv/web/current");
        ck_assert_str_eq(plain(json_get_path(o, "deploy.web")),
                         "{\"current_path\":\"/srv/web/current\",\"n\":3}");
        ck_assert_ptr_eq(json_get_path(o, "deploy"), json_object_object_get(o, "deploy"));
        ck_assert_ptr_null(json_get_path(o, "deploy.db"));
        ck_assert_ptr_null(json_get_path(o, "deploy.web.current_path.x"));
        ck_assert_ptr_null(json_get_path(o, "list.0"));
        ck_assert_ptr_null(json_get_path(o, "deploy..web"));
        ck_assert_ptr_null(json_get_path(o, "deploy."));
        ck_assert_ptr_null(json_get_path(o, ""));
        ck_assert_ptr_null(json_get_path(o, "a.b"));
        ck_assert_ptr_null(json_get_path(NULL, "deploy"));

        ck_assert_str_eq(json_get_string(json_get_path(o, "deploy.web"), "current_path"),
                         "/srv/web/current");
        ck_assert_ptr_null(json_get_string(json_get_path(o, "deploy.web"), "n"));
        ck_assert_ptr_null(json_get_string(json_get_path(o, "deploy.web"), "missing"));
        ck_assert_ptr_null(json_get_string(json_object_object_get(o, "list"), "x"));
        ck_assert_ptr_null(json_get_string(NULL, "x"));
}
END_TEST

static json_object *load_ok(const char *path) {
        _cleanup_free_ char *error = NULL;
        json_object *o = NULL;

        ck_assert_msg(attributes_load_file(path, &o, &error) == 0, "%s", error);
        return o;
}

static char *load_error(const char *path, int expected_r) {
        json_object *o = NULL;
        char *error = NULL;

        ck_assert_int_eq(attributes_load_file(path, &o, &error), expected_r);
        ck_assert_ptr_null(o);
        ck_assert_ptr_nonnull(error);
        return error;
}

START_TEST(test_attributes_load_file) {
        _cleanup_free_ char *dir = test_tmpdir();
        _cleanup_free_ char *json = strf("%s/a.json", dir), *yaml = strf("%s/a.yaml", dir),
                            *yml = strf("%s/a.yml", dir), *sniff_json = strf("%s/custom", dir),
                            *sniff_yaml = strf("%s/custom.conf", dir),
                            *json_as_yaml = strf("%s/c.yaml", dir);
        _cleanup_json_ json_object *o1 = NULL, *o2 = NULL, *o3 = NULL, *o4 = NULL, *o5 = NULL,
                                   *o6 = NULL;

        test_write(json, "{\"a\": 1}");
        o1 = load_ok(json);
        ck_assert_str_eq(plain(o1), "{\"a\":1}");

        test_write(yaml, "a: 1\nb: [x, 'y']\n");
        o2 = load_ok(yaml);
        ck_assert_str_eq(plain(o2), "{\"a\":1,\"b\":[\"x\",\"y\"]}");

        test_write(yml, "- 1\n");
        o3 = load_ok(yml);
        ck_assert_str_eq(plain(o3), "[1]");

        test_write(sniff_json, "\n  [1, {\"k\": null}]\n");
        o4 = load_ok(sniff_json);
        ck_assert_str_eq(plain(o4), "[1,{\"k\":null}]");

        test_write(sniff_yaml, "k: v\n");
        o5 = load_ok(sniff_yaml);
        ck_assert_str_eq(plain(o5), "{\"k\":\"v\"}");

        /* YAML's flow style is a superset of JSON, so a .yaml file may hold JSON. */
        test_write(json_as_yaml, "{\"a\": [1, 2]}");
        o6 = load_ok(json_as_yaml);
        ck_assert_str_eq(plain(o6), "{\"a\":[1,2]}");

        test_rmdir(dir);
}
END_TEST

START_TEST(test_attributes_load_file_errors) {
        _cleanup_free_ char *dir = test_tmpdir();
        _cleanup_free_ char *yaml_as_json = strf("%s/b.json", dir),
                            *bad_yaml = strf("%s/b.yaml", dir), *sniffed = strf("%s/b", dir),
                            *big = strf("%s/big.json", dir),
                            *missing = strf("%s/missing.json", dir),
                            *huge = malloc(DOCUMENT_MAX + 1);
        _cleanup_free_ char *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL, *e5 = NULL, *x1 = NULL,
                            *x2 = NULL, *x3 = NULL, *x4 = NULL, *x5 = NULL;

        /* The extension decides: YAML in a .json file is a JSON error. */
        test_write(yaml_as_json, "a: 1\n");
        e1 = load_error(yaml_as_json, -EINVAL);
        x1 = strf("%s: byte 0: unexpected character, expected a JSON value (object, array, "
                  "string, number, true, false or null)",
                  yaml_as_json);
        ck_assert_str_eq(e1, x1);

        test_write(bad_yaml, "a: 1\na: 2\n");
        e2 = load_error(bad_yaml, -EEXIST);
        x2 = strf("%s:2:1: duplicate key \"a\"", bad_yaml);
        ck_assert_str_eq(e2, x2);

        test_write(sniffed, "{\"a\": }");
        e3 = load_error(sniffed, -EINVAL);
        x3 = strf("%s: byte 6: unexpected character, expected a JSON value (object, array, "
                  "string, number, true, false or null)",
                  sniffed);
        ck_assert_str_eq(e3, x3);

        ck_assert_ptr_nonnull(huge);
        memset(huge, ' ', DOCUMENT_MAX + 1);
        huge[0] = '1';
        ck_assert_int_eq(write_file_atomic(big, huge, DOCUMENT_MAX + 1, 0644, -1, -1), 0);
        e4 = load_error(big, -EFBIG);
        x4 = strf("%s: larger than 16777216 bytes", big);
        ck_assert_str_eq(e4, x4);

        e5 = load_error(missing, -ENOENT);
        x5 = strf("%s: cannot read: No such file or directory", missing);
        ck_assert_str_eq(e5, x5);

        test_rmdir(dir);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("json-util");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_conformance);
        tcase_add_test(tc, test_values);
        tcase_add_test(tc, test_scalars_at_top);
        tcase_add_test(tc, test_error_messages);
        tcase_add_test(tc, test_depth);
        tcase_add_test(tc, test_size_limit);
        tcase_add_test(tc, test_merge);
        tcase_add_test(tc, test_merge_yaml);
        tcase_add_test(tc, test_get_path);
        tcase_add_test(tc, test_attributes_load_file);
        tcase_add_test(tc, test_attributes_load_file_errors);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
