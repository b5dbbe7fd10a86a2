/* SPDX-License-Identifier: MIT */
#include "fs-util.h"
#include "json-util.h"
#include "str-util.h"
#include "test-helpers.h"
#include "yaml-load.h"

static const char *plain(json_object *o) {
        return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE);
}

static json_object *load(const char *text) {
        _cleanup_free_ char *error = NULL;
        json_object *o = NULL;

        ck_assert_msg(yaml_load("f.yaml", text, strlen(text), &o, &error) == 0, "%s", error);
        ck_assert_ptr_null(error);
        return o;
}

/* Loads text and compares its JSON form. */
static void assert_loads(const char *text, const char *json) {
        _cleanup_json_ json_object *o = load(text);

        ck_assert_str_eq(plain(o), json);
}

static void assert_fails(const char *text, size_t len, int expected_r, const char *message) {
        _cleanup_free_ char *error = NULL;
        json_object *o = NULL;

        ck_assert_int_eq(yaml_load("f.yaml", text, len, &o, &error), expected_r);
        ck_assert_ptr_null(o);
        ck_assert_str_eq(strempty(error), message);
}

static void assert_error(const char *text, int expected_r, const char *message) {
        assert_fails(text, strlen(text), expected_r, message);
}

START_TEST(test_scalars) {
        assert_loads("- ~\n- null\n- Null\n- NULL\n- \n- ''\n- \"\"",
                     "[null,null,null,null,null,\"\",\"\"]");
        assert_loads("[true, True, TRUE, false, False, FALSE, yes, no, on, tRUE]",
                     "[true,true,true,false,false,false,\"yes\",\"no\",\"on\",\"tRUE\"]");
        assert_loads("[0, 42, -17, +12, 007, 0644, 0o17, 0x1F, 0xff, 9223372036854775807, "
                     "-9223372036854775808]",
                     "[0,42,-17,12,7,644,15,31,255,9223372036854775807,-9223372036854775808]");
        assert_loads("[2.5, -0.5, 1., .5, -.5e3, 1e2, 1E-2, +1.5e+1]",
                     "[2.5,-0.5,1.0,0.5,-500.0,1e2,1E-2,15.0]");
        /* A float written as valid JSON keeps its spelling: version 1.10 is not 1.1. */
        assert_loads("[1.10, 0.1, 2.50]", "[1.10,0.1,2.50]");
        /* What JSON cannot hold without losing it stays text. */
        assert_loads("[.inf, -.Inf, .NAN, 1e999, 99999999999999999999, -9223372036854775809, "
                     "0x8000000000000000, 0o1777777777777777777777]",
                     "[\".inf\",\"-.Inf\",\".NAN\",\"1e999\",\"99999999999999999999\","
                     "\"-9223372036854775809\",\"0x8000000000000000\","
                     "\"0o1777777777777777777777\"]");
        /* Not numbers in the core schema. */
        assert_loads("[1_000, 12:30, 0b101, 0o8, 0x, 1.2.3, 1e, -, .]",
                     "[\"1_000\",\"12:30\",\"0b101\",\"0o8\",\"0x\",\"1.2.3\",\"1e\",\"-\",\".\"]");
        /* Quoted and block scalars are strings, whatever they look like. */
        assert_loads("- \"1\"\n- 'true'\n- \"null\"\n- |\n  text\n  more\n- >\n  folded\n  line\n",
                     "[\"1\",\"true\",\"null\",\"text\\nmore\\n\",\"folded line\\n\"]");
        /* Tags are ignored: a plain scalar resolves the same with or without one. */
        assert_loads("[!!str 123, !custom true]", "[123,true]");
        assert_loads("plain words: with spaces, commas and a:colon",
                     "{\"plain words\":\"with spaces, commas and a:colon\"}");
}
END_TEST

START_TEST(test_strings) {
        _cleanup_json_ json_object *o = load("a: \"x\\0y\\u00e9\"\nb: caf\xc3\xa9\n");
        json_object *a = json_object_object_get(o, "a");

        /* Escaped NULs keep their length. */
        ck_assert_int_eq(json_object_get_string_len(a), 5);
        ck_assert_int_eq(memcmp(json_object_get_string(a), "x\0y\xc3\xa9", 5), 0);
        ck_assert_str_eq(json_get_string(o, "b"), "caf\xc3\xa9");
}
END_TEST

START_TEST(test_structures) {
        assert_loads("name: web\n"
                     "layers:\n"
                     "  - php\n"
                     "  - {id: 1, tags: [a, b]}\n"
                     "deploy:\n"
                     "  web:\n"
                     "    keep_releases: 5\n"
                     "    empty: {}\n"
                     "    none: []\n"
                     "1: numeric key\n"
                     "null: null key\n",
                     "{\"name\":\"web\",\"layers\":[\"php\",{\"id\":1,\"tags\":[\"a\",\"b\"]}],"
                     "\"deploy\":{\"web\":{\"keep_releases\":5,\"empty\":{},\"none\":[]}},"
                     "\"1\":\"numeric key\",\"null\":\"null key\"}");
        /* Anchors are allowed, just not used. */
        assert_loads("a: &anchor {x: 1}\n", "{\"a\":{\"x\":1}}");
        assert_loads("---\n- 1\n...\n", "[1]");
        assert_loads("%YAML 1.2\n---\nk: v\n", "{\"k\":\"v\"}");
        assert_loads("{\"a\": [1, \"b\"]}", "{\"a\":[1,\"b\"]}");
}
END_TEST

START_TEST(test_empty) {
        json_object *o = (json_object *)1;

        ck_assert_int_eq(yaml_load("f.yaml", "", 0, &o, NULL), 0);
        ck_assert_ptr_null(o);
        o = (json_object *)1;
        ck_assert_int_eq(yaml_load("f.yaml", "# only a comment\n\n", 18, &o, NULL), 0);
        ck_assert_ptr_null(o);
        o = (json_object *)1;
        ck_assert_int_eq(yaml_load("f.yaml", "---\n", 4, &o, NULL), 0);
        ck_assert_ptr_null(o);
}
END_TEST

static void assert_mark(json_object *o, unsigned line, unsigned column) {
        YamlMark m = {};

        ck_assert_msg(o, "no object");
        ck_assert(yaml_mark(o, &m));
        ck_assert_uint_eq(m.line, line);
        ck_assert_uint_eq(m.column, column);
}

START_TEST(test_marks) {
        _cleanup_json_ json_object *o = load("# recipe\n"
                                             "- package:\n"
                                             "    name: [nginx, git]\n"
                                             "- template:\n"
                                             "    path: /etc/x\n"
                                             "    notifies:\n"
                                             "      - {action: reload}\n");
        _cleanup_json_ json_object *copy = NULL;
        json_object *first = json_object_array_get_idx(o, 0),
                    *second = json_object_array_get_idx(o, 1), *none = (json_object *)1;
        YamlMark m = {9, 9};

        assert_mark(o, 2, 1);
        assert_mark(first, 2, 3);
        assert_mark(json_object_object_get(first, "package"), 3, 5);
        assert_mark(json_get_path(first, "package.name"), 3, 11);
        assert_mark(json_get_path(second, "template"), 5, 5);
        assert_mark(json_get_path(second, "template.notifies"), 7, 7);
        assert_mark(json_object_array_get_idx(json_get_path(second, "template.notifies"), 0), 7, 9);

        /* Scalars and objects not from YAML have no mark. */
        ck_assert(!yaml_mark(json_get_path(second, "template.path"), &m));
        ck_assert(!yaml_mark(NULL, &m));
        ck_assert_uint_eq(m.line, 9);

        /* Copies keep their marks; json_object_deep_copy() cannot copy them at all. */
        ck_assert_int_eq(yaml_copy(o, &copy), 0);
        ck_assert_ptr_ne(copy, o);
        ck_assert_str_eq(plain(copy), plain(o));
        assert_mark(json_get_path(json_object_array_get_idx(copy, 1), "template.notifies"), 7, 7);
        ck_assert_int_eq(yaml_copy(NULL, &none), 0);
        ck_assert_ptr_null(none);
}
END_TEST

START_TEST(test_aliases) {
        assert_error("a: &x 1\nb: *x\n", -EINVAL, "f.yaml:2:4: aliases are not supported");
        assert_error("a: &x 1\n*x : 2\n", -EINVAL, "f.yaml:2:1: aliases are not supported");
        assert_error("- &x [1]\n- [*x]\n", -EINVAL, "f.yaml:2:4: aliases are not supported");
}
END_TEST

START_TEST(test_billion_laughs) {
        _cleanup_(strbuf_done) StrBuf b = {};
        _cleanup_free_ char *error = NULL;
        json_object *o = NULL;

        ck_assert_int_eq(strbuf_appends(&b, "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\","
                                            "\"lol\",\"lol\",\"lol\",\"lol\"]\n"),
                         0);
        for (char c = 'b'; c <= 'i'; c++)
                ck_assert_int_eq(strbuf_printf(&b,
                                               "%c: &%c [*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c]\n", c,
                                               c, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1,
                                               c - 1, c - 1),
                                 0);

        ck_assert_int_eq(yaml_load("lol.yaml", b.data, b.len, &o, &error), -EINVAL);
        ck_assert_ptr_null(o);
        ck_assert_str_eq(error, "lol.yaml:2:8: aliases are not supported");
}
END_TEST

START_TEST(test_duplicate_keys) {
        assert_error("a: 1\nb: 2\na: 3\n", -EEXIST, "f.yaml:3:1: duplicate key \"a\"");
        assert_error("x:\n  k: 1\n  'k': 2\n", -EEXIST, "f.yaml:3:3: duplicate key \"k\"");
        assert_error("{a: 1, a: 1}", -EEXIST, "f.yaml:1:8: duplicate key \"a\"");
        /* Keys are compared as text: 1 and "1" are the same JSON key. */
        assert_error("1: a\n\"1\": b\n", -EEXIST, "f.yaml:2:1: duplicate key \"1\"");
}
END_TEST

START_TEST(test_keys) {
        assert_error("? [a]\n: 1\n", -EINVAL,
                     "f.yaml:1:3: mapping keys must be scalars, not sequences or mappings");
        assert_error("{a: 1}: x\n", -EINVAL,
                     "f.yaml:1:1: mapping keys must be scalars, not sequences or mappings");
        assert_error("\"a\\0b\": 1\n", -EINVAL,
                     "f.yaml:1:1: mapping keys must not contain NUL characters");
}
END_TEST

START_TEST(test_documents) {
        assert_error("a: 1\n---\nb: 2\n", -EINVAL,
                     "f.yaml:2:1: expected a single document, found a second one");
        assert_error("- a\n---\n", -EINVAL,
                     "f.yaml:2:1: expected a single document, found a second one");
        assert_error("---\na: 1\n...\n---\n", -EINVAL,
                     "f.yaml:4:1: expected a single document, found a second one");
}
END_TEST

START_TEST(test_syntax_errors) {
        assert_error("a: b: c\n", -EINVAL,
                     "f.yaml:1:5: mapping values are not allowed in this context");
        assert_error("a:\n - b\n c\n", -EINVAL,
                     "f.yaml:4:1: could not find expected ':' while scanning a simple key "
                     "(started at line 3, column 2)");
        assert_error("[1, 2\n", -EINVAL,
                     "f.yaml:2:1: did not find expected ',' or ']' while parsing a flow sequence "
                     "(started at line 1, column 1)");
        assert_error("\tx: 1\n", -EINVAL,
                     "f.yaml:1:1: found character that cannot start any token while scanning for "
                     "the next token");
        /* Reader errors come with a byte offset; they still read file:line:column. */
        assert_error("a: 1\nb: \x01\n", -EINVAL, "f.yaml:2:4: control characters are not allowed");
        assert_error("a: 1\nbb: caf\xc3\xa9 \xff\n", -EINVAL,
                     "f.yaml:2:10: invalid leading UTF-8 octet");
        assert_fails("a: \0", 4, -EINVAL, "f.yaml:1:4: control characters are not allowed");
}
END_TEST

static char *repeat(const char *head, unsigned n, const char *tail) {
        _cleanup_(strbuf_done) StrBuf b = {};

        for (unsigned i = 0; i < n; i++)
                ck_assert_int_eq(strbuf_appends(&b, head), 0);
        for (unsigned i = 0; i < n; i++)
                ck_assert_int_eq(strbuf_appends(&b, tail), 0);
        return strbuf_steal(&b);
}

START_TEST(test_depth) {
        _cleanup_free_ char *ok = repeat("[", YAML_DEPTH_MAX, "]"),
                            *deep = repeat("[", YAML_DEPTH_MAX + 1, "]"),
                            *bomb = repeat("[", 100000, "]"), *block = NULL;
        _cleanup_json_ json_object *o = NULL;
        _cleanup_(strbuf_done) StrBuf b = {};

        o = load(ok);
        ck_assert_int_eq(json_object_get_type(o), json_type_array);
        assert_error(deep, -ELOOP, "f.yaml:1:65: nesting deeper than 64 levels");
        assert_error(bomb, -ELOOP, "f.yaml:1:65: nesting deeper than 64 levels");

        /* Block style, one level per line. */
        for (unsigned i = 0; i <= YAML_DEPTH_MAX; i++)
                ck_assert_int_eq(strbuf_printf(&b, "%*sk:\n", (int)i, ""), 0);
        block = strbuf_steal(&b);
        assert_error(block, -ELOOP, "f.yaml:65:65: nesting deeper than 64 levels");
}
END_TEST

START_TEST(test_size_limit) {
        _cleanup_free_ char *dir = test_tmpdir(), *path = strf("%s/big.yaml", dir),
                            *big = malloc(DOCUMENT_MAX + 1), *error = NULL, *expected = NULL;
        json_object *o = NULL;

        ck_assert_ptr_nonnull(big);
        memset(big, '#', DOCUMENT_MAX + 1);
        assert_fails(big, DOCUMENT_MAX + 1, -EFBIG,
                     "f.yaml: 16777217 bytes, expected at most 16777216");

        /* Exactly the maximum is fine (a comment is an empty document). */
        ck_assert_int_eq(yaml_load("f.yaml", big, DOCUMENT_MAX, &o, NULL), 0);
        ck_assert_ptr_null(o);

        ck_assert_int_eq(write_file_atomic(path, big, DOCUMENT_MAX + 1, 0644, -1, -1), 0);
        ck_assert_int_eq(yaml_load_file(path, &o, &error), -EFBIG);
        expected = strf("%s: larger than 16777216 bytes", path);
        ck_assert_str_eq(error, expected);

        test_rmdir(dir);
}
END_TEST

START_TEST(test_load_file) {
        _cleanup_free_ char *dir = test_tmpdir(), *path = strf("%s/recipes/default.yaml", dir),
                            *missing = strf("%s/missing.yaml", dir), *error = NULL, *error2 = NULL,
                            *expected = NULL, *expected2 = NULL;
        _cleanup_json_ json_object *o = NULL;
        json_object *none = NULL;

        test_write(path, "- package: {name: nginx}\n");
        ck_assert_int_eq(yaml_load_file(path, &o, &error), 0);
        ck_assert_str_eq(plain(o), "[{\"package\":{\"name\":\"nginx\"}}]");
        assert_mark(json_object_array_get_idx(o, 0), 1, 3);

        /* The file name leads every error. */
        test_write(path, "- package: {name: nginx}\n- a: *b\n");
        ck_assert_int_eq(yaml_load_file(path, &none, &error), -EINVAL);
        expected = strf("%s:2:6: aliases are not supported", path);
        ck_assert_str_eq(error, expected);

        ck_assert_int_eq(yaml_load_file(missing, &none, &error2), -ENOENT);
        expected2 = strf("%s: cannot read: No such file or directory", missing);
        ck_assert_str_eq(error2, expected2);
        ck_assert_ptr_null(none);

        test_rmdir(dir);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("yaml-load");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_scalars);
        tcase_add_test(tc, test_strings);
        tcase_add_test(tc, test_structures);
        tcase_add_test(tc, test_empty);
        tcase_add_test(tc, test_marks);
        tcase_add_test(tc, test_aliases);
        tcase_add_test(tc, test_billion_laughs);
        tcase_add_test(tc, test_duplicate_keys);
        tcase_add_test(tc, test_keys);
        tcase_add_test(tc, test_documents);
        tcase_add_test(tc, test_syntax_errors);
        tcase_add_test(tc, test_depth);
        tcase_add_test(tc, test_size_limit);
        tcase_add_test(tc, test_load_file);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
