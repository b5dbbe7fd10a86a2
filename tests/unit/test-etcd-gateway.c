/* SPDX-License-Identifier: MIT */
/* etcd-gateway: request bodies byte for byte, and replies in the shapes etcd 3.4's gateway
 * really sends (taken from a live server): int64 as strings, omitted zero fields, watch lines
 * with canceled and in-band errors. */
#include "etcd-gateway.h"
#include "str-util.h"
#include "test-helpers.h"

static char *text(json_object *o) {
        char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                                   JSON_C_TO_STRING_NOSLASHESCAPE));

        ck_assert_ptr_nonnull(s);
        json_object_put(o);
        return s;
}

static void assert_request(int r, json_object *req, const char *want) {
        _cleanup_free_ char *got = NULL;

        ck_assert_int_eq(r, 0);
        got = text(req);
        ck_assert_str_eq(got, want);
}

static json_object *reply(const char *body) {
        json_object *o = NULL;
        _cleanup_free_ char *error = NULL;

        ck_assert_msg(etcd_parse_reply(200, body, strlen(body), &o, &error) == 0, "%s",
                      strempty(error));
        return o;
}

START_TEST(base64_both_ways) {
        _cleanup_free_ char *e = etcd_base64_encode("ab\0c", 4), *d = NULL, *empty = NULL;
        size_t n;

        ck_assert_str_eq(e, "YWIAYw==");
        ck_assert_int_eq(etcd_base64_decode(e, &d, &n), 0);
        ck_assert_uint_eq(n, 4);
        ck_assert_int_eq(memcmp(d, "ab\0c", 5), 0);
        ck_assert_int_eq(etcd_base64_decode("", &empty, &n), 0);
        ck_assert_uint_eq(n, 0);
        ck_assert_str_eq(empty, "");
        free(d);
        d = NULL;
        ck_assert_int_eq(etcd_base64_decode("eA=", &d, &n), -EINVAL);
        ck_assert_int_eq(etcd_base64_decode("e A=", &d, &n), -EINVAL);
        ck_assert_int_eq(etcd_base64_decode("eA=a", &d, &n), -EINVAL);
        ck_assert_ptr_null(d);
}
END_TEST

START_TEST(prefix_range_end) {
        char *end = NULL;
        size_t n;

        ck_assert_int_eq(etcd_prefix_range_end("/strata/v1/", &end, &n), 0);
        ck_assert_str_eq(end, "/strata/v10");
        ck_assert_uint_eq(n, 11);
        end = mfree(end);
        ck_assert_int_eq(etcd_prefix_range_end("a\xff\xff", &end, &n), 0);
        ck_assert_str_eq(end, "b");
        end = mfree(end);
        ck_assert_int_eq(etcd_prefix_range_end("\xff", &end, &n), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert_int_eq(end[0], 0);
        free(end);
}
END_TEST

START_TEST(request_bodies) {
        json_object *req = NULL, *txn = NULL;
        int r;

        /* "a/" -> range_end "a0". */
        r = etcd_request_range("a/", ETCD_RANGE_PREFIX | ETCD_RANGE_KEYS_ONLY, 10, 7, &req);
        assert_request(r, req,
                       "{\"key\":\"YS8=\",\"range_end\":\"YTA=\",\"limit\":\"10\",\"revision\":"
                       "\"7\",\"keys_only\":true}");
        r = etcd_request_range("k", ETCD_RANGE_COUNT_ONLY | ETCD_RANGE_SORT_DESCEND, 0, 0, &req);
        assert_request(r, req,
                       "{\"key\":\"aw==\",\"count_only\":true,\"sort_order\":\"DESCEND\","
                       "\"sort_target\":\"KEY\"}");
        r = etcd_request_put("k", "v", 1, 7587869284529350665, &req);
        assert_request(r, req,
                       "{\"key\":\"aw==\",\"value\":\"dg==\",\"lease\":"
                       "\"7587869284529350665\"}");
        r = etcd_request_delete_range("k/", true, &req);
        assert_request(r, req, "{\"key\":\"ay8=\",\"range_end\":\"azA=\"}");
        r = etcd_request_compaction(42, true, &req);
        assert_request(r, req, "{\"revision\":\"42\",\"physical\":true}");
        r = etcd_request_lease_grant(300, &req);
        assert_request(r, req, "{\"TTL\":\"300\"}");
        r = etcd_request_lease_keepalive(5, &req);
        assert_request(r, req, "{\"ID\":\"5\"}");
        r = etcd_request_lease_revoke(5, &req);
        assert_request(r, req, "{\"ID\":\"5\"}");
        r = etcd_request_watch("c/", true, 12, true, &req);
        assert_request(r, req,
                       "{\"create_request\":{\"key\":\"Yy8=\",\"range_end\":\"YzA=\","
                       "\"start_revision\":\"12\",\"prev_kv\":true}}");
        r = etcd_request_authenticate("u", "p", &req);
        assert_request(r, req, "{\"name\":\"u\",\"password\":\"p\"}");
        r = etcd_request_user_grant_role("u", "r", &req);
        assert_request(r, req, "{\"user\":\"u\",\"role\":\"r\"}");
        r = etcd_request_role_grant_permission("r", ETCD_PERMISSION_READWRITE, "i/", true, &req);
        assert_request(r, req,
                       "{\"name\":\"r\",\"perm\":{\"permType\":\"READWRITE\",\"key\":\"aS8=\","
                       "\"range_end\":\"aTA=\"}}");
        r = etcd_request_empty(&req);
        assert_request(r, req, "{}");
        ck_assert_int_eq(etcd_request_lease_grant(0, &req), -EINVAL);

        ck_assert_int_eq(etcd_txn_new(&txn), 0);
        ck_assert_int_eq(
                etcd_txn_compare(txn, "k", ETCD_COMPARE_CREATE, ETCD_COMPARE_EQUAL, 0, NULL), 0);
        ck_assert_int_eq(
                etcd_txn_compare(txn, "k", ETCD_COMPARE_VALUE, ETCD_COMPARE_NOT_EQUAL, 0, "v"), 0);
        ck_assert_int_eq(etcd_txn_compare_prefix(txn, "p/", ETCD_COMPARE_MOD, ETCD_COMPARE_LESS, 9),
                         0);
        ck_assert_int_eq(etcd_request_put("k", "v", 1, 0, &req), 0);
        ck_assert_int_eq(etcd_txn_add(txn, true, ETCD_OP_PUT, req), 0);
        ck_assert_int_eq(etcd_request_range("k", 0, 0, 0, &req), 0);
        ck_assert_int_eq(etcd_txn_add(txn, false, ETCD_OP_RANGE, req), 0);
        assert_request(0, txn,
                       "{\"compare\":[{\"key\":\"aw==\",\"target\":\"CREATE\",\"result\":"
                       "\"EQUAL\",\"create_revision\":\"0\"},{\"key\":\"aw==\",\"target\":"
                       "\"VALUE\",\"result\":\"NOT_EQUAL\",\"value\":\"dg==\"},{\"key\":\"cC8=\","
                       "\"range_end\":\"cDA=\",\"target\":\"MOD\",\"result\":\"LESS\","
                       "\"mod_revision\":\"9\"}],\"success\":[{\"request_put\":{\"key\":"
                       "\"aw==\",\"value\":\"dg==\"}}],\"failure\":[{\"request_range\":{\"key\":"
                       "\"aw==\"}}]}");
}
END_TEST

static void assert_error(long http, const char *body, int want_r, const char *want) {
        _cleanup_free_ char *error = NULL;
        json_object *o = NULL;

        ck_assert_int_eq(etcd_parse_reply(http, body, strlen(body), &o, &error), want_r);
        ck_assert_ptr_null(o);
        ck_assert_str_eq(error, want);
}

START_TEST(errors_say_what_they_mean) {
        assert_error(401,
                     "{\"error\":\"etcdserver: invalid auth token\",\"message\":\"etcdserver: "
                     "invalid auth token\",\"code\":16}",
                     -EKEYEXPIRED,
                     "authentication token expired or invalid: authenticate again (etcd: "
                     "etcdserver: invalid auth token)");
        assert_error(403,
                     "{\"error\":\"etcdserver: permission denied\",\"message\":\"etcdserver: "
                     "permission denied\",\"code\":7}",
                     -EACCES, "permission denied (etcd: etcdserver: permission denied)");
        assert_error(404,
                     "{\"error\":\"etcdserver: requested lease not found\",\"message\":"
                     "\"etcdserver: requested lease not found\",\"code\":5}",
                     -ENOENT,
                     "requested lease not found (etcd: etcdserver: requested lease not found)");
        assert_error(400,
                     "{\"error\":\"etcdserver: authentication failed, invalid user ID or "
                     "password\",\"message\":\"etcdserver: authentication failed, invalid user "
                     "ID or password\",\"code\":3}",
                     -EACCES,
                     "authentication failed: wrong user name or password (etcd: etcdserver: "
                     "authentication failed, invalid user ID or password)");
        assert_error(400,
                     "{\"error\":\"etcdserver: mvcc: required revision has been compacted\","
                     "\"message\":\"etcdserver: mvcc: required revision has been compacted\","
                     "\"code\":11}",
                     -ERANGE,
                     "revision out of range (etcd: etcdserver: mvcc: required revision has "
                     "been compacted)");
        assert_error(200,
                     "{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"transport is "
                     "closing\",\"http_status\":\"Service Unavailable\"}}",
                     -EAGAIN, "etcd unavailable (etcd: transport is closing)");
        assert_error(502, "<html>bad gateway</html>", -EIO, "etcd answered HTTP 502");
        assert_error(200, "not json", -EBADMSG, "etcd reply is not a JSON object: 'not json'");
}
END_TEST

START_TEST(range_replies) {
        _cleanup_json_ json_object *full = reply(
                "{\"header\":{\"cluster_id\":\"1\",\"revision\":\"9\"},\"kvs\":[{\"key\":"
                "\"eA==\",\"create_revision\":\"2\",\"mod_revision\":\"3\",\"version\":\"2\","
                "\"value\":\"eg==\",\"lease\":\"77\"},{\"key\":\"eQ==\",\"create_revision\":"
                "\"4\",\"mod_revision\":\"4\",\"version\":\"1\"}],\"count\":\"2\",\"more\":true}");
        _cleanup_json_ json_object *none = reply("{\"header\":{\"revision\":\"1\"}}");
        _cleanup_json_ json_object *bad =
                reply("{\"header\":{\"revision\":\"1\"},\"kvs\":[{\"key\":\"!!\"}]}");
        _cleanup_(etcd_range_freep) EtcdRange *r = NULL, *r2 = NULL;
        _cleanup_free_ char *error = NULL;
        EtcdRange *r3 = NULL;

        ck_assert_int_eq(etcd_parse_range(full, &r, &error), 0);
        ck_assert_int_eq(r->revision, 9);
        ck_assert_int_eq(r->count, 2);
        ck_assert(r->more);
        ck_assert_uint_eq(r->n_kvs, 2);
        ck_assert_str_eq(r->kvs[0].key, "x");
        ck_assert_str_eq(r->kvs[0].value, "z");
        ck_assert_int_eq(r->kvs[0].lease, 77);
        ck_assert_int_eq(r->kvs[0].create_revision, 2);
        ck_assert_int_eq(r->kvs[0].mod_revision, 3);
        ck_assert_int_eq(r->kvs[0].version, 2);
        /* An empty value is omitted like every zero field. */
        ck_assert_str_eq(r->kvs[1].value, "");
        ck_assert_uint_eq(r->kvs[1].value_len, 0);

        ck_assert_int_eq(etcd_parse_range(none, &r2, &error), 0);
        ck_assert_uint_eq(r2->n_kvs, 0);
        ck_assert_int_eq(r2->count, 0);
        ck_assert(!r2->more);

        ck_assert_int_eq(etcd_parse_range(bad, &r3, &error), -EBADMSG);
        ck_assert_str_eq(error, "etcd reply: kvs[0].key: expected base64");
        ck_assert_ptr_null(r3);
}
END_TEST

START_TEST(txn_lease_and_token_replies) {
        _cleanup_json_ json_object *failed = reply("{\"header\":{\"revision\":\"2\"}}");
        _cleanup_json_ json_object *ok =
                reply("{\"header\":{\"revision\":\"3\"},\"succeeded\":true,\"responses\":[{"
                      "\"response_put\":{\"header\":{\"revision\":\"3\"}}}]}");
        _cleanup_json_ json_object *grant = reply(
                "{\"header\":{\"revision\":\"2\"},\"ID\":\"2324035610360266761\",\"TTL\":\"5\"}");
        _cleanup_json_ json_object *alive =
                reply("{\"result\":{\"header\":{\"revision\":\"2\"},\"ID\":\"5\",\"TTL\":\"4\"}}");
        _cleanup_json_ json_object *gone =
                reply("{\"result\":{\"header\":{\"revision\":\"2\"},\"ID\":\"12345\"}}");
        _cleanup_json_ json_object *token =
                reply("{\"header\":{\"revision\":\"2\"},\"token\":\"xkQZEnLSRKTLvoBK.15\"}");
        _cleanup_json_ json_object *deleted =
                reply("{\"header\":{\"revision\":\"4\"},\"deleted\":\"3\"}");
        _cleanup_free_ char *error = NULL, *t = NULL;
        json_object *responses = NULL;
        int64_t id, ttl, n, rev;
        bool succeeded = true;

        ck_assert_int_eq(etcd_parse_txn(failed, &succeeded, &responses, &error), 0);
        ck_assert(!succeeded);
        ck_assert_ptr_null(responses);
        ck_assert_int_eq(etcd_parse_txn(ok, &succeeded, &responses, &error), 0);
        ck_assert(succeeded);
        ck_assert_uint_eq(json_object_array_length(responses), 1);
        ck_assert_int_eq(etcd_reply_revision(ok, &rev), 0);
        ck_assert_int_eq(rev, 3);

        ck_assert_int_eq(etcd_parse_lease_grant(grant, &id, &ttl, &error), 0);
        ck_assert_int_eq(id, 2324035610360266761);
        ck_assert_int_eq(ttl, 5);
        ck_assert_int_eq(etcd_parse_lease_keepalive(alive, &ttl, &error), 0);
        ck_assert_int_eq(ttl, 4);
        ck_assert_int_eq(etcd_parse_lease_keepalive(gone, &ttl, &error), -ENOENT);
        ck_assert_str_eq(error, "requested lease not found");
        ck_assert_int_eq(etcd_parse_token(token, &t, NULL), 0);
        ck_assert_str_eq(t, "xkQZEnLSRKTLvoBK.15");
        ck_assert_int_eq(etcd_parse_deleted(deleted, &n, NULL), 0);
        ck_assert_int_eq(n, 3);
}
END_TEST

static EtcdWatchMessage *watch_line(const char *line) {
        _cleanup_free_ char *error = NULL;
        EtcdWatchMessage *m = NULL;

        ck_assert_msg(etcd_parse_watch_line(line, strlen(line), &m, &error) == 0, "%s",
                      strempty(error));
        return m;
}

START_TEST(watch_lines) {
        _cleanup_(etcd_watch_message_freep) EtcdWatchMessage *created = watch_line(
                "{\"result\":{\"header\":{\"cluster_id\":\"1\",\"revision\":\"2\"},\"created\":"
                "true}}");
        _cleanup_(etcd_watch_message_freep) EtcdWatchMessage *put = watch_line(
                "{\"result\":{\"header\":{\"revision\":\"3\"},\"events\":[{\"kv\":{\"key\":"
                "\"eA==\",\"create_revision\":\"2\",\"mod_revision\":\"3\",\"version\":\"2\","
                "\"value\":\"eg==\"},\"prev_kv\":{\"key\":\"eA==\",\"create_revision\":\"2\","
                "\"mod_revision\":\"2\",\"version\":\"1\",\"value\":\"eQ==\"}}]}}");
        _cleanup_(etcd_watch_message_freep) EtcdWatchMessage *del = watch_line(
                "{\"result\":{\"header\":{\"revision\":\"4\"},\"events\":[{\"type\":\"DELETE\","
                "\"kv\":{\"key\":\"eA==\",\"mod_revision\":\"4\"}}]}}");
        _cleanup_(etcd_watch_message_freep) EtcdWatchMessage *canceled =
                watch_line("{\"result\":{\"header\":{\"raft_term\":\"2\"},\"canceled\":true,"
                           "\"compact_revision\":\"2\"}}");
        const char *dying = "{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":"
                            "\"transport is closing\",\"http_status\":\"Service Unavailable\"}}";
        _cleanup_free_ char *error = NULL;
        EtcdWatchMessage *m = NULL;

        ck_assert(created->created);
        ck_assert_int_eq(created->revision, 2);
        ck_assert_uint_eq(created->n_events, 0);

        ck_assert_uint_eq(put->n_events, 1);
        ck_assert_int_eq(put->events[0].type, ETCD_EVENT_PUT);
        ck_assert_str_eq(put->events[0].kv.value, "z");
        ck_assert_str_eq(put->events[0].prev_kv.value, "y");

        ck_assert_int_eq(del->events[0].type, ETCD_EVENT_DELETE);
        ck_assert_str_eq(del->events[0].kv.key, "x");
        ck_assert_int_eq(del->events[0].kv.mod_revision, 4);
        ck_assert_ptr_null(del->events[0].prev_kv.key);

        ck_assert(canceled->canceled);
        ck_assert_int_eq(canceled->compact_revision, 2);
        ck_assert_int_eq(canceled->revision, 0);
        ck_assert_ptr_null(canceled->cancel_reason);

        ck_assert_int_eq(etcd_parse_watch_line(dying, strlen(dying), &m, &error), -EAGAIN);
        ck_assert_str_eq(error, "etcd unavailable (etcd: transport is closing)");
        ck_assert_ptr_null(m);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("etcd-gateway");
        TCase *tc = tcase_create("gateway");

        tcase_add_test(tc, base64_both_ways);
        tcase_add_test(tc, prefix_range_end);
        tcase_add_test(tc, request_bodies);
        tcase_add_test(tc, errors_say_what_they_mean);
        tcase_add_test(tc, range_replies);
        tcase_add_test(tc, txn_lease_and_token_replies);
        tcase_add_test(tc, watch_lines);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
