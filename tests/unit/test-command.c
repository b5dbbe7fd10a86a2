/* SPDX-License-Identifier: MIT */
#include <dirent.h>

#include "command.h"
#include "fs-util.h"
#include "json-util.h"
#include "str-util.h"
#include "test-helpers.h"

#define WHAT "inbox/0001.json"
#define TYPES                                                                                      \
        "setup, configure, deploy, undeploy, rollback, start, stop, restart, shutdown, "           \
        "execute_recipes, update_custom_cookbooks, install_dependencies, update_dependencies"
#define ID_RULE "1 to 128 letters, digits, '.', '_' or '-', not starting with '.'"

static const char *plain(json_object *o) {
        return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* Parses text as WHAT, asserts it failed with `expected_r` and left *ret alone, and returns the
 * message. */
static char *parse_fails(const char *text, size_t len, int expected_r) {
        json_object *c = (json_object *)1;
        char *error = NULL;

        ck_assert_int_eq(command_parse(WHAT, text, len, &c, &error), expected_r);
        ck_assert_ptr_eq(c, (json_object *)1);
        ck_assert_ptr_nonnull(error);
        return error;
}

static void assert_error(const char *text, const char *expected) {
        _cleanup_free_ char *error = parse_fails(text, strlen(text), -EINVAL);

        ck_assert_str_eq(error, expected);
}

static void assert_normalized(const char *text, const char *expected) {
        _cleanup_json_ json_object *c = NULL;
        char *error = NULL;

        ck_assert_int_eq(command_parse(WHAT, text, strlen(text), &c, &error), 0);
        ck_assert_ptr_null(error);
        ck_assert_str_eq(plain(c), expected);
}

START_TEST(test_types) {
        static const char *const names[] = {
                "setup",
                "configure",
                "deploy",
                "undeploy",
                "rollback",
                "start",
                "stop",
                "restart",
                "shutdown",
                "execute_recipes",
                "update_custom_cookbooks",
                "install_dependencies",
                "update_dependencies",
        };

        ck_assert_int_eq(ELEMENTSOF(names), _COMMAND_TYPE_MAX);
        for (CommandType t = 0; t < _COMMAND_TYPE_MAX; t++) {
                ck_assert_str_eq(command_type_to_string(t), names[t]);
                ck_assert_int_eq(command_type_from_string(names[t]), t);
        }
        ck_assert_int_eq(command_type_from_string("Setup"), _COMMAND_TYPE_INVALID);
        ck_assert_int_eq(command_type_from_string("reboot"), _COMMAND_TYPE_INVALID);
        ck_assert_int_eq(command_type_from_string(""), _COMMAND_TYPE_INVALID);
        ck_assert_int_eq(command_type_from_string(NULL), _COMMAND_TYPE_INVALID);
        ck_assert_ptr_null(command_type_to_string(_COMMAND_TYPE_MAX));
        ck_assert_ptr_null(command_type_to_string(_COMMAND_TYPE_INVALID));
}
END_TEST

START_TEST(test_id_valid) {
        char id[130];

        ck_assert(command_id_valid("a"));
        ck_assert(command_id_valid("2024-05-01T10.00.00_configure-7"));
        ck_assert(command_id_valid("-x"));
        ck_assert(command_id_valid("x."));
        memset(id, 'a', 128);
        id[128] = 0;
        ck_assert(command_id_valid(id));
        id[128] = 'a';
        id[129] = 0;
        ck_assert(!command_id_valid(id));

        ck_assert(!command_id_valid(NULL));
        ck_assert(!command_id_valid(""));
        ck_assert(!command_id_valid("."));
        ck_assert(!command_id_valid(".hidden"));
        ck_assert(!command_id_valid("a/b"));
        ck_assert(!command_id_valid(".."));
        ck_assert(!command_id_valid("a b"));
        ck_assert(!command_id_valid("a\nb"));
        ck_assert(!command_id_valid("caf\xc3\xa9"));
}
END_TEST

START_TEST(test_normalize) {
        _cleanup_json_ json_object *c = NULL;
        const char *full = "{\"timeout\": 600, \"comment\": \"after the release\", "
                           "\"created_at\": \"2026-11-25T11:20:50.123Z\", \"type\": \"deploy\", "
                           "\"custom_json\": {\"a\": {\"b\": [1, 2]}}, "
                           "\"args\": {\"app_ids\": [\"web\"]}, \"id\": \"0002\"}";

        /* Every optional field filled in, in one order. */
        assert_normalized("{\"id\": \"0001\", \"type\": \"configure\"}",
                          "{\"id\":\"0001\",\"type\":\"configure\",\"args\":{},\"custom_json\":{},"
                          "\"comment\":\"\",\"timeout\":0}");
        assert_normalized(full,
                          "{\"id\":\"0002\",\"type\":\"deploy\",\"args\":{\"app_ids\":[\"web\"]},"
                          "\"custom_json\":{\"a\":{\"b\":[1,2]}},\"comment\":\"after the "
                          "release\",\"timeout\":600,\"created_at\":\"2026-11-25T11:20:50.123Z\"}");
        /* The operator tool's deployment a command belongs to stays with it. */
        assert_normalized("{\"deployment_id\": \"d1\", \"id\": \"x\", \"type\": \"setup\"}",
                          "{\"id\":\"x\",\"type\":\"setup\",\"args\":{},\"custom_json\":{},"
                          "\"comment\":\"\",\"timeout\":0,\"deployment_id\":\"d1\"}");
        assert_normalized("{\"id\": \"x\", \"type\": \"setup\", \"timeout\": 1}",
                          "{\"id\":\"x\",\"type\":\"setup\",\"args\":{},\"custom_json\":{},"
                          "\"comment\":\"\",\"timeout\":1}");
        assert_normalized("{\"id\": \"x\", \"type\": \"setup\", \"timeout\": 86400}",
                          "{\"id\":\"x\",\"type\":\"setup\",\"args\":{},\"custom_json\":{},"
                          "\"comment\":\"\",\"timeout\":86400}");

        ck_assert_int_eq(command_parse(WHAT, full, strlen(full), &c, NULL), 0);
        ck_assert_str_eq(command_id(c), "0002");
        ck_assert_int_eq(command_type(c), COMMAND_DEPLOY);
        ck_assert_uint_eq(command_timeout(c), 600 * USEC_PER_SEC);
}
END_TEST

START_TEST(test_accessors_defaults) {
        _cleanup_json_ json_object *c = NULL;
        const char *text = "{\"id\": \"x\", \"type\": \"execute_recipes\"}";

        ck_assert_int_eq(command_parse(NULL, text, strlen(text), &c, NULL), 0);
        ck_assert_str_eq(command_id(c), "x");
        ck_assert_int_eq(command_type(c), COMMAND_EXECUTE_RECIPES);
        ck_assert_uint_eq(command_timeout(c), 0);

        ck_assert_ptr_null(command_id(NULL));
        ck_assert_int_eq(command_type(NULL), _COMMAND_TYPE_INVALID);
        ck_assert_uint_eq(command_timeout(NULL), 0);
}
END_TEST

START_TEST(test_not_an_object) {
        assert_error("[]", WHAT ": expected a JSON object, not an array");
        assert_error("null", WHAT ": expected a JSON object, not null");
        assert_error("\"setup\"", WHAT ": expected a JSON object, not a string");
        assert_error("42", WHAT ": expected a JSON object, not a number");
        assert_error("true", WHAT ": expected a JSON object, not a boolean");
}
END_TEST

START_TEST(test_syntax_errors) {
        _cleanup_free_ char *unnamed = NULL;

        assert_error("{\"id\": \"a\",}", WHAT ": byte 11: unexpected character, expected a "
                                              "property name in double quotes");
        assert_error("", WHAT ": byte 0: unexpected end of data, expected a JSON value (object, "
                              "array, string, number, true, false or null)");
        assert_error("{\"id\": \"a\", \"type\": \"setup\"} {}",
                     WHAT ": byte 29: unexpected character, expected the end of the document "
                          "after the JSON value");

        ck_assert_int_eq(command_parse(NULL, "{", 1, &(json_object *){NULL}, &unnamed), -EINVAL);
        ck_assert_str_eq(unnamed, "command: byte 1: unexpected end of data, expected a property "
                                  "name in double quotes");
}
END_TEST

START_TEST(test_unknown_field) {
        /* Reported before the missing "type" it probably meant. */
        assert_error("{\"id\": \"a\", \"typ\": \"setup\"}",
                     WHAT ": field 'typ': unknown (expected one of: id, type, args, custom_json, "
                          "comment, timeout, created_at, deployment_id)");
        assert_error("{\"id\": \"a\", \"type\": \"setup\", \"deployment_id\": 7}",
                     WHAT ": field 'deployment_id': expected a string, not a number");
        assert_error("{\"id\": \"a\", \"type\": \"setup\", \"a\\nb\": 1}",
                     WHAT ": field 'a\\x0ab': unknown (expected one of: id, type, args, "
                          "custom_json, comment, timeout, created_at, deployment_id)");
}
END_TEST

START_TEST(test_id_errors) {
        _cleanup_free_ char *long_id = NULL, *long_doc = NULL, *prefix = NULL;

        assert_error("{\"type\": \"setup\"}", WHAT ": field 'id': missing (expected " ID_RULE ")");
        assert_error("{\"id\": 1, \"type\": \"setup\"}",
                     WHAT ": field 'id': expected a string, not a number");
        assert_error("{\"id\": null, \"type\": \"setup\"}",
                     WHAT ": field 'id': expected a string, not null");
        assert_error("{\"id\": \"a/b\", \"type\": \"setup\"}",
                     WHAT ": field 'id': 'a/b' is not a valid id (expected " ID_RULE ")");
        assert_error("{\"id\": \"\", \"type\": \"setup\"}",
                     WHAT ": field 'id': '' is not a valid id (expected " ID_RULE ")");
        assert_error("{\"id\": \".x\", \"type\": \"setup\"}",
                     WHAT ": field 'id': '.x' is not a valid id (expected " ID_RULE ")");
        /* A NUL would cut "a" out of "a\0/../x" for C. */
        assert_error("{\"id\": \"a\\u0000/../x\", \"type\": \"setup\"}",
                     WHAT ": field 'id': 'a\\x00/../x' is not a valid id (expected " ID_RULE ")");
        assert_error("{\"id\": \"caf\\u00e9\", \"type\": \"setup\"}",
                     WHAT ": field 'id': 'caf\\xc3\\xa9' is not a valid id (expected " ID_RULE ")");

        /* 129 characters: the message quotes only the first 64. */
        long_id = malloc(130);
        ck_assert_ptr_nonnull(long_id);
        memset(long_id, 'x', 129);
        long_id[129] = 0;
        long_doc = strf("{\"id\": \"%s\", \"type\": \"setup\"}", long_id);
        long_id[64] = 0;
        prefix = strf(WHAT ": field 'id': '%s'... is not a valid id (expected " ID_RULE ")",
                      long_id);
        assert_error(long_doc, prefix);
}
END_TEST

START_TEST(test_type_errors) {
        assert_error("{\"id\": \"a\"}",
                     WHAT ": field 'type': missing (expected one of: " TYPES ")");
        assert_error("{\"id\": \"a\", \"type\": \"reboot\"}",
                     WHAT ": field 'type': 'reboot' is not a command (expected one of: " TYPES ")");
        assert_error("{\"id\": \"a\", \"type\": \"Setup\"}",
                     WHAT ": field 'type': 'Setup' is not a command (expected one of: " TYPES ")");
        assert_error("{\"id\": \"a\", \"type\": \"setup\\u0000\"}", WHAT
                     ": field 'type': 'setup\\x00' is not a command (expected one of: " TYPES ")");
        assert_error("{\"id\": \"a\", \"type\": [\"setup\"]}",
                     WHAT ": field 'type': expected a string, not an array");
}
END_TEST

START_TEST(test_optional_field_errors) {
        assert_error("{\"id\": \"a\", \"type\": \"setup\", \"args\": []}",
                     WHAT ": field 'args': expected an object, not an array");
        assert_error("{\"id\": \"a\", \"type\": \"setup\", \"args\": null}",
                     WHAT ": field 'args': expected an object, not null");
        assert_error("{\"id\": \"a\", \"type\": \"setup\", \"custom_json\": \"{}\"}",
                     WHAT ": field 'custom_json': expected an object, not a string");
        assert_error("{\"id\": \"a\", \"type\": \"setup\", \"comment\": 1}",
                     WHAT ": field 'comment': expected a string, not a number");
        assert_error("{\"id\": \"a\", \"type\": \"setup\", \"created_at\": {}}",
                     WHAT ": field 'created_at': expected a string, not an object");
}
END_TEST

static void assert_timeout_error(const char *value, const char *shown) {
        _cleanup_free_ char *doc =
                strf("{\"id\": \"a\", \"type\": \"setup\", \"timeout\": %s}", value);
        _cleanup_free_ char *expected = strf(WHAT ": field 'timeout': expected a whole number of "
                                                  "seconds from 1 to 86400, not %s",
                                             shown);

        assert_error(doc, expected);
}

START_TEST(test_timeout_errors) {
        assert_timeout_error("0", "0");
        assert_timeout_error("-1", "-1");
        assert_timeout_error("86401", "86401");
        assert_timeout_error("1.5", "1.5");
        assert_timeout_error("60.0", "60.0");
        assert_timeout_error("9223372036854775808", "9223372036854775808");
        assert_timeout_error("\"60\"", "a string");
        assert_timeout_error("true", "a boolean");
        assert_timeout_error("null", "null");
}
END_TEST

START_TEST(test_oversize) {
        const char *head = "{\"id\": \"big\", \"type\": \"setup\", \"comment\": \"";
        _cleanup_free_ char *text = malloc(COMMAND_SIZE_MAX + 2), *error = NULL;
        _cleanup_json_ json_object *c = NULL;
        size_t n = strlen(head);

        /* Exactly COMMAND_SIZE_MAX bytes: accepted. */
        ck_assert_ptr_nonnull(text);
        memcpy(text, head, n);
        memset(text + n, 'x', COMMAND_SIZE_MAX - n - 2);
        memcpy(text + COMMAND_SIZE_MAX - 2, "\"}", 3);
        ck_assert_int_eq(command_parse(WHAT, text, COMMAND_SIZE_MAX, &c, NULL), 0);
        ck_assert_int_eq(json_object_get_string_len(json_object_object_get(c, "comment")),
                         COMMAND_SIZE_MAX - n - 2);

        /* One more byte (whitespace, still valid JSON): refused before parsing. */
        memcpy(text + COMMAND_SIZE_MAX, " ", 2);
        error = parse_fails(text, COMMAND_SIZE_MAX + 1, -EFBIG);
        ck_assert_str_eq(error, WHAT ": larger than 1 MiB");
}
END_TEST

/* Every JSONTestSuite document that is not JSON is refused with json_parse_strict's message;
 * every valid one is refused too, none being a command, with what is wrong with it. */
START_TEST(test_conformance) {
        _cleanup_free_ char *dir = strf("%s/json/test_parsing", test_conformance_dir());
        _cleanup_(strbuf_done) StrBuf failures = {};
        unsigned n_no = 0, n_objects = 0, n_others = 0;
        struct dirent *de;
        DIR *d;

        d = opendir(dir);
        ck_assert_msg(d, "cannot open %s: %s", dir, strerror(errno));

        while ((de = readdir(d))) {
                _cleanup_free_ char *path = NULL, *text = NULL, *error = NULL, *valid = NULL;
                _cleanup_json_ json_object *c = NULL, *doc = NULL;
                size_t len;
                int r;

                if (!endswith(de->d_name, ".json") ||
                    !(startswith(de->d_name, "n_") || startswith(de->d_name, "y_")))
                        continue;
                path = strf("%s/%s", dir, de->d_name);
                ck_assert_int_eq(read_full_file(path, DOCUMENT_MAX, &text, &len), 0);

                r = command_parse(de->d_name, text, len, &c, &error);
                if (r >= 0) {
                        strbuf_printf(&failures, "\n  accepted %s", de->d_name);
                        continue;
                }
                if (!error || !startswith(error, de->d_name)) {
                        strbuf_printf(&failures, "\n  bad message for %s: %s", de->d_name,
                                      strempty(error));
                        continue;
                }

                if (startswith(de->d_name, "n_")) {
                        n_no++;
                        if (r != -EINVAL || !strstr(error, ": byte "))
                                strbuf_printf(&failures, "\n  not a syntax error for %s: %s",
                                              de->d_name, error);
                        continue;
                }

                ck_assert_int_eq(json_parse_strict(NULL, text, len, &doc, NULL), 0);
                if (json_object_is_type(doc, json_type_object)) {
                        n_objects++;
                        if (!strstr(error, ": field '"))
                                strbuf_printf(&failures, "\n  no field named for %s: %s",
                                              de->d_name, error);
                } else {
                        n_others++;
                        valid = strf("%s: expected a JSON object, not ", de->d_name);
                        if (!startswith(error, valid))
                                strbuf_printf(&failures, "\n  bad message for %s: %s", de->d_name,
                                              error);
                }
        }
        closedir(d);

        ck_assert_msg(failures.len == 0, "conformance failures:%s", failures.data);
        ck_assert_uint_eq(n_no, 188);
        ck_assert_uint_eq(n_objects + n_others, 95);
        ck_assert_uint_gt(n_objects, 10);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("command");
        TCase *tc = tcase_create("command");

        tcase_add_test(tc, test_types);
        tcase_add_test(tc, test_id_valid);
        tcase_add_test(tc, test_normalize);
        tcase_add_test(tc, test_accessors_defaults);
        tcase_add_test(tc, test_not_an_object);
        tcase_add_test(tc, test_syntax_errors);
        tcase_add_test(tc, test_unknown_field);
        tcase_add_test(tc, test_id_errors);
        tcase_add_test(tc, test_type_errors);
        tcase_add_test(tc, test_optional_field_errors);
        tcase_add_test(tc, test_timeout_errors);
        tcase_add_test(tc, test_oversize);
        tcase_add_test(tc, test_conformance);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
