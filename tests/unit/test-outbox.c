/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <sys/stat.h>

#include "fs-util.h"
#include "json-util.h"
#include "outbox.h"
#include "str-util.h"
#include "test-helpers.h"

static char *tmp;

static void setup(void) {
        tmp = test_tmpdir();
}

static void teardown(void) {
        test_rmdir(tmp);
        tmp = mfree(tmp);
}

static Outbox *outbox(void) {
        Outbox *o = NULL;

        ck_assert_int_eq(outbox_open(tmp, &o), 0);
        ck_assert_ptr_nonnull(o);
        return o;
}

static json_object *result(const char *id, const char *status) {
        json_object *r = json_object_new_object();

        ck_assert_ptr_nonnull(r);
        if (id)
                json_object_object_add(r, "id", json_object_new_string(id));
        json_object_object_add(r, "status", json_object_new_string(status));
        return r;
}

static void put(Outbox *o, const char *id) {
        _cleanup_json_ json_object *r = result(id, "successful");

        ck_assert_int_eq(outbox_put(o, r), 0);
}

/* Sets the modification time of <outbox>/<id>.json to `sec` seconds after the epoch. */
static void set_age(const char *id, time_t sec) {
        _cleanup_free_ char *path = strf("%s/outbox/%s.json", tmp, id);
        struct timespec times[2] = { { .tv_sec = sec }, { .tv_sec = sec } };

        ck_assert_int_eq(utimensat(AT_FDCWD, path, times, 0), 0);
}

static void assert_list(Outbox *o, const char *const *expected) {
        _cleanup_strv_free_ char **ids = NULL;
        size_t n = 0;

        ck_assert_int_eq(outbox_list(o, &ids), 0);
        for (; expected[n]; n++) {
                ck_assert_ptr_nonnull(ids[n]);
                ck_assert_str_eq(ids[n], expected[n]);
        }
        ck_assert_ptr_null(ids[n]);
}

START_TEST(test_open) {
        _cleanup_(outbox_freep) Outbox *o = outbox();
        _cleanup_free_ char *dir = strf("%s/outbox", tmp);
        struct stat st;

        ck_assert_int_eq(stat(dir, &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        ck_assert_uint_eq(st.st_mode & 07777, 0700);
        assert_list(o, (const char *const[]){ NULL });

        /* Opening again is fine. */
        o = outbox_free(o);
        o = outbox();
        ck_assert_ptr_null(outbox_free(NULL));
}
END_TEST

START_TEST(test_put_get_remove) {
        _cleanup_(outbox_freep) Outbox *o = outbox();
        _cleanup_json_ json_object *r = result("c-1", "failed"), *back = NULL, *newer = NULL;
        _cleanup_json_ json_object *missing = NULL;
        _cleanup_free_ char *path = strf("%s/outbox/c-1.json", tmp), *text = NULL;
        struct stat st;

        json_object_object_add(r, "reason", json_object_new_string("a/b \"quoted\""));
        ck_assert_int_eq(outbox_put(o, r), 0);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0600);
        text = test_read(path);
        ck_assert(endswith(text, "}\n"));
        ck_assert_ptr_nonnull(strstr(text, "\"a/b \\\"quoted\\\"\""));
        ck_assert_int_eq(outbox_get(o, "c-1", &back), 0);
        ck_assert(json_object_equal(r, back));

        /* A second put of the same id replaces it. */
        newer = result("c-1", "successful");
        ck_assert_int_eq(outbox_put(o, newer), 0);
        json_object_put(TAKE_PTR(back));
        ck_assert_int_eq(outbox_get(o, "c-1", &back), 0);
        ck_assert_str_eq(json_get_string(back, "status"), "successful");
        assert_list(o, (const char *const[]){ "c-1", NULL });

        ck_assert_int_eq(outbox_remove(o, "c-1"), 0);
        ck_assert_int_eq(access(path, F_OK), -1);
        ck_assert_int_eq(outbox_get(o, "c-1", &missing), -ENOENT);
        ck_assert_ptr_null(missing);
        /* Removing twice is not an error: a result may be sent twice. */
        ck_assert_int_eq(outbox_remove(o, "c-1"), 0);
        assert_list(o, (const char *const[]){ NULL });
}
END_TEST

START_TEST(test_bad_ids) {
        _cleanup_(outbox_freep) Outbox *o = outbox();
        _cleanup_json_ json_object *none = result(NULL, "failed");
        _cleanup_json_ json_object *escape = result("../escape", "failed");
        _cleanup_json_ json_object *number = json_tokener_parse("{\"id\": 7}");
        _cleanup_free_ char *outside = strf("%s/escape.json", tmp);

        ck_assert_int_eq(outbox_put(o, none), -EINVAL);
        ck_assert_int_eq(outbox_put(o, escape), -EINVAL);
        ck_assert_int_eq(outbox_put(o, number), -EINVAL);
        ck_assert_int_eq(access(outside, F_OK), -1);
        assert_list(o, (const char *const[]){ NULL });
}
END_TEST

/* Oldest first, by modification time, then by name. */
START_TEST(test_list_order) {
        _cleanup_(outbox_freep) Outbox *o = outbox();

        put(o, "c-a");
        put(o, "c-b");
        put(o, "c-c");
        put(o, "c-d");
        set_age("c-a", 3000);
        set_age("c-b", 2000);
        set_age("c-c", 1000);
        set_age("c-d", 2000);
        assert_list(o, (const char *const[]){ "c-c", "c-b", "c-d", "c-a", NULL });
}
END_TEST

/* Temp files of a write in progress and anything that is not a result are not listed. */
START_TEST(test_list_ignores) {
        _cleanup_(outbox_freep) Outbox *o = outbox();
        const char *junk[] = { ".#c-x.json.abc123", "notes.txt", "bad id!.json", ".json" };

        for (size_t i = 0; i < ELEMENTSOF(junk); i++) {
                _cleanup_free_ char *path = strf("%s/outbox/%s", tmp, junk[i]);

                test_write(path, "{}");
        }
        put(o, "c-1");
        assert_list(o, (const char *const[]){ "c-1", NULL });
}
END_TEST

START_TEST(test_corrupt) {
        _cleanup_(outbox_freep) Outbox *o = outbox();
        _cleanup_free_ char *path = strf("%s/outbox/c-1.json", tmp);
        _cleanup_json_ json_object *r = NULL;

        test_write(path, "{\"id\": \"c-1\", ");
        assert_list(o, (const char *const[]){ "c-1", NULL });
        ck_assert_int_eq(outbox_get(o, "c-1", &r), -EINVAL);
        ck_assert_ptr_null(r);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("outbox");
        TCase *tc = tcase_create("outbox");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_open);
        tcase_add_test(tc, test_put_get_remove);
        tcase_add_test(tc, test_bad_ids);
        tcase_add_test(tc, test_list_order);
        tcase_add_test(tc, test_list_ignores);
        tcase_add_test(tc, test_corrupt);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
