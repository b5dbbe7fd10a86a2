/* SPDX-License-Identifier: MIT */
#include "json-util.h"
#include "redact.h"
#include "str-util.h"
#include "test-helpers.h"

static void add_from(Redactor *r, const char *json) {
        _cleanup_json_ json_object *doc = json_tokener_parse(json);

        ck_assert_msg(doc, "bad JSON in the test: %s", json);
        ck_assert_int_eq(redactor_add_from(r, doc), 0);
}

static void assert_redacted(const Redactor *r, const char *in, const char *expected) {
        _cleanup_free_ char *out = redact(r, in);

        ck_assert_ptr_nonnull(out);
        ck_assert_str_eq(out, expected);
}

static void assert_secrets(const Redactor *r, const char *const *expected) {
        size_t n = 0;

        for (; expected[n]; n++) {
                ck_assert_ptr_nonnull(r->secrets);
                ck_assert_ptr_nonnull(r->secrets[n]);
                ck_assert_str_eq(r->secrets[n], expected[n]);
        }
        ck_assert(!r->secrets || !r->secrets[n]);
}

START_TEST(test_secret_keys) {
        _cleanup_(redactor_done) Redactor r = {};

        add_from(&r, "{\"password\": \"pw-0001\", \"Passwd\": \"pw-0002\","
                     " \"secret\": \"pw-0003\", \"TOKEN\": \"pw-0004\", \"ssh_key\": \"pw-0005\","
                     " \"private_key\": \"pw-0006\", \"key\": \"pw-0007\","
                     " \"db_password\": \"pw-0008\", \"api_secret\": \"pw-0009\","
                     " \"github_token\": \"pw-0010\", \"ssh_public_key\": \"pw-0011\","
                     " \"DB_PASSWORD\": \"pw-0012\"}");
        assert_secrets(&r, (const char *const[]){ "pw-0001", "pw-0002", "pw-0003", "pw-0004",
                                                  "pw-0005", "pw-0006", "pw-0007", "pw-0008",
                                                  "pw-0009", "pw-0010", "pw-0011", "pw-0012",
                                                  NULL });
}
END_TEST

/* Names that merely look like one are not secrets. */
START_TEST(test_plain_keys) {
        _cleanup_(redactor_done) Redactor r = {};

        add_from(&r, "{\"passwords_allowed\": \"value-1\", \"password_hint\": \"value-2\","
                     " \"monkey\": \"value-3\", \"keys\": \"value-4\", \"_key\": \"value-5\","
                     " \"tokenizer\": \"value-6\", \"name\": \"value-7\","
                     " \"secretary\": \"value-8\"}");
        assert_secrets(&r, (const char *const[]){ NULL });
        assert_redacted(&r, "value-1 value-5", "value-1 value-5");
}
END_TEST

/* Anywhere in the document: inside lists of objects, nested maps; a secret key's value may be
 * a list or a map of strings, or a number. */
START_TEST(test_nested) {
        _cleanup_(redactor_done) Redactor r = {};

        add_from(&r, "{\"apps\": [{\"shortname\": \"web\", \"source\": {\"type\": \"git\","
                     " \"password\": \"hunter2-secret\"}},"
                     " {\"ssl\": {\"key\": \"-----BEGIN KEY-----\", \"certificate\": \"public\"}}],"
                     " \"custom\": {\"tokens\": [\"not-this\"], \"secret\": [\"list-one\","
                     " {\"deep\": \"map-value\"}], \"pin_token\": 12345678}}");
        assert_redacted(&r, "git password=hunter2-secret, key -----BEGIN KEY----- (public)",
                        "git password=" REDACTED ", key " REDACTED " (public)");
        assert_redacted(&r, "list-one map-value not-this 12345678",
                        REDACTED " " REDACTED " not-this " REDACTED);
}
END_TEST

/* A top-level list (the stack's layers, say) is searched too. */
START_TEST(test_array_document) {
        _cleanup_(redactor_done) Redactor r = {};

        add_from(&r, "[{\"token\": \"tok-1234\"}, [{\"password\": \"pw-5678\"}], \"plain\"]");
        assert_redacted(&r, "tok-1234:pw-5678:plain", REDACTED ":" REDACTED ":plain");
}
END_TEST

/* Values shorter than 4 bytes would mask half the log: they are left alone. */
START_TEST(test_short_values) {
        _cleanup_(redactor_done) Redactor r = {};

        add_from(&r, "{\"password\": \"abc\", \"token\": \"\", \"secret\": \"abcd\"}");
        assert_secrets(&r, (const char *const[]){ "abcd", NULL });
        assert_redacted(&r, "abc abcd abcde", "abc " REDACTED " " REDACTED "e");
}
END_TEST

/* A secret that contains another is masked whole, whatever order they came in. */
START_TEST(test_longest_first) {
        _cleanup_(redactor_done) Redactor r = {};

        add_from(&r, "{\"a_password\": \"pass\", \"b_password\": \"password-long\","
                     " \"c_password\": \"passwd\", \"d_password\": \"pass\"}");
        assert_secrets(&r, (const char *const[]){ "password-long", "passwd", "pass", NULL });
        assert_redacted(&r, "password-long/passwd/pass/passport",
                        REDACTED "/" REDACTED "/" REDACTED "/" REDACTED "port");
}
END_TEST

START_TEST(test_occurrences) {
        _cleanup_(redactor_done) Redactor r = {};

        add_from(&r, "{\"token\": \"xyzw\"}");
        assert_redacted(&r, "xyzw", REDACTED);
        assert_redacted(&r, "xyzwxyzw", REDACTED REDACTED);
        assert_redacted(&r, "a xyzw b xyzw", "a " REDACTED " b " REDACTED);
        assert_redacted(&r, "xyz wxyz", "xyz wxyz");
        assert_redacted(&r, "", "");
}
END_TEST

START_TEST(test_empty) {
        _cleanup_(redactor_done) Redactor r = {};

        assert_redacted(&r, "nothing to hide", "nothing to hide");
        add_from(&r, "{}");
        add_from(&r, "\"password\"");
        assert_secrets(&r, (const char *const[]){ NULL });
        assert_redacted(&r, "password", "password");
        redactor_done(&r);
        redactor_done(&r);
}
END_TEST

/* A whole result: every string masked in place, keys and other values untouched. */
START_TEST(test_redact_json) {
        _cleanup_(redactor_done) Redactor r = {};
        _cleanup_json_ json_object *doc = NULL, *expected = NULL;

        add_from(&r, "{\"db\": {\"password\": \"s3cr3t-value\"}}");
        doc = json_tokener_parse("{\"status\": \"successful\", \"n\": 3, \"ok\": true,"
                                 " \"s3cr3t-value\": null, \"report\": {\"resources\": [{\"name\":"
                                 " \"echo s3cr3t-value\", \"changes\": [\"run echo s3cr3t-value\","
                                 " \"plain\"]}]}}");
        expected = json_tokener_parse("{\"status\": \"successful\", \"n\": 3, \"ok\": true,"
                                      " \"s3cr3t-value\": null, \"report\": {\"resources\":"
                                      " [{\"name\": \"echo ********\", \"changes\":"
                                      " [\"run echo ********\", \"plain\"]}]}}");
        ck_assert_ptr_nonnull(doc);
        ck_assert_ptr_nonnull(expected);
        ck_assert_int_eq(redact_json(&r, doc), 0);
        ck_assert_msg(json_object_equal(doc, expected), "%s", json_object_to_json_string(doc));

        /* A bare string and NULL. */
        json_object_put(doc);
        doc = json_object_new_string("s3cr3t-value!");
        ck_assert_int_eq(redact_json(&r, doc), 0);
        ck_assert_str_eq(json_object_get_string(doc), REDACTED "!");
        ck_assert_int_eq(redact_json(&r, NULL), 0);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("redact");
        TCase *tc = tcase_create("redact");

        tcase_add_test(tc, test_secret_keys);
        tcase_add_test(tc, test_plain_keys);
        tcase_add_test(tc, test_nested);
        tcase_add_test(tc, test_array_document);
        tcase_add_test(tc, test_short_values);
        tcase_add_test(tc, test_longest_first);
        tcase_add_test(tc, test_occurrences);
        tcase_add_test(tc, test_empty);
        tcase_add_test(tc, test_redact_json);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
