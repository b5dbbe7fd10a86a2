/* SPDX-License-Identifier: MIT */
/* The etcd control plane (cp-etcd.h): a small state machine over asynchronous gateway calls.
 * Connecting is authenticate (with a user) → register → up; up means the command watch runs,
 * the poll timer is armed, and heartbeats, results, logs and stack reads are sent. Every
 * failure goes through one path, connection_failed(): every request stops, the reason is
 * logged and shown in status(), and the connection is made again after a backoff. */
#include <malloc.h>
#include <sys/random.h>

#include "command.h"
#include "cp-etcd.h"
#include "curl-event.h"
#include "etcd-gateway.h"
#include "fs-util.h"
#include "json-util.h"
#include "log.h"
#include "stack.h"
#include "str-util.h"
#include "time-util.h"

/* The last this many bytes of a command's log go to etcd (the whole log stays local). */
#define LOG_MAX (1024U * 1024U)
/* A watch line carries at most one command (1 MiB, base64) and its metadata. */
#define WATCH_LINE_MAX (4U * 1024U * 1024U)
#define BACKOFF_BASE (USEC_PER_SEC / 2)
#define CONNECT_TIMEOUT_MS 3000L
#define REQUEST_TIMEOUT_MS 15000L
/* Commands named by watch events whose results are looked up in one transaction. */
#define CHECK_BATCH 64
#define PASSWORD_MAX 4096U
/* A stack read's ranges: the stack's key, its four directories, online/. */
#define STACK_RANGES 6

typedef enum EtcdState {
        STATE_DOWN,       /* waiting for the retry timer */
        STATE_CONNECTING, /* authenticate, register */
        STATE_UP,
} EtcdState;

typedef struct Put Put;
struct Put {
        char *key;
        char *value;
        size_t len;
        char *result_id; /* a result: the sink hears when it is stored */
        Put *next;
};

typedef struct CpEtcd {
        ControlPlane cp; /* first: the ControlPlane * handed out points here */

        CurlEvent *curl;
        char **endpoints;
        size_t endpoint;
        char *username, *password;
        char *ca_file, *cert_file, *key_file;
        char *prefix, *instance_id, *stack_id;
        usec_t poll_interval, backoff_max, health_timeout;

        char *k_registered, *k_alive, *k_commands, *k_results, *k_logs, *k_stack, *k_stack_dir;
        char *k_online_dir, *k_online;
        char *revision_path, *stack_path, *heartbeat_path;

        EtcdState state;
        char *token;
        char *last_error; /* why it is down */
        unsigned failures;
        usec_t retry_at; /* CLOCK_MONOTONIC */
        sd_event_source *retry_timer, *poll_timer, *start_source, *notify_source;

        CurlRequest *connect_req, *heartbeat_req, *put_req, *scan_req, *check_req, *stack_req;
        CurlRequest *watch_req;
        StrBuf watch_buf;

        int64_t revision;     /* every command event up to it is handled */
        int64_t lease;        /* 0: none yet, or lapsed */
        usec_t beat_started;  /* CLOCK_MONOTONIC: the beat in flight began; 0: none */
        json_object *alive;   /* the heartbeat record to put */
        json_object *acked;   /* ids the agent journalled that have no result yet */
        json_object *pending; /* ids named by watch events, to check and hand over */
        int64_t pending_revision;
        int64_t checking_revision;
        size_t checking;
        Put *puts, **puts_tail;
        bool stack_wanted;
        char *topology;           /* the stack's documents as of topology_revision, checked */
        json_object *marked;      /* the ids with an online mark then, as keys */
        int64_t topology_revision;
        int64_t topology_counts[STACK_RANGES]; /* the keys of each range then */
        bool stack_conditional;   /* the read in flight asks whether the topology changed */
        int64_t online_lease;     /* the lease its online mark was put with */
        bool online_denied;       /* this user may not put it */
        bool started;
} CpEtcd;

static CpEtcd *cp_etcd(ControlPlane *cp) {
        return (CpEtcd *)cp;
}

static void put_free(Put *p) {
        free(p->key);
        free(p->value);
        free(p->result_id);
        free(p);
}

static void cancel_requests(CpEtcd *e) {
        e->connect_req = curl_request_cancel(e->connect_req);
        e->heartbeat_req = curl_request_cancel(e->heartbeat_req);
        e->beat_started = 0;
        e->put_req = curl_request_cancel(e->put_req);
        e->scan_req = curl_request_cancel(e->scan_req);
        e->check_req = curl_request_cancel(e->check_req);
        e->stack_req = curl_request_cancel(e->stack_req);
        e->watch_req = curl_request_cancel(e->watch_req);
        strbuf_done(&e->watch_buf);
        e->checking = 0;
}

static void cp_etcd_free(ControlPlane *cp) {
        CpEtcd *e = cp_etcd(cp);

        cancel_requests(e);
        curl_event_free(e->curl);
        sd_event_source_disable_unref(e->retry_timer);
        sd_event_source_disable_unref(e->poll_timer);
        sd_event_source_disable_unref(e->start_source);
        sd_event_source_disable_unref(e->notify_source);
        while (e->puts) {
                Put *p = e->puts;

                e->puts = p->next;
                put_free(p);
        }
        strv_free(e->endpoints);
        free(e->username);
        if (e->password) {
                explicit_bzero(e->password, strlen(e->password));
                free(e->password);
        }
        free(e->ca_file);
        free(e->cert_file);
        free(e->key_file);
        free(e->prefix);
        free(e->instance_id);
        free(e->stack_id);
        free(e->k_registered);
        free(e->k_alive);
        free(e->k_commands);
        free(e->k_results);
        free(e->k_logs);
        free(e->k_stack);
        free(e->k_stack_dir);
        free(e->k_online_dir);
        free(e->k_online);
        free(e->revision_path);
        free(e->stack_path);
        free(e->heartbeat_path);
        free(e->token);
        free(e->last_error);
        json_object_put(e->alive);
        json_object_put(e->acked);
        json_object_put(e->pending);
        free(e->topology);
        json_object_put(e->marked);
        sd_event_unref(e->cp.event);
        free(e);
}

static void state_changed(CpEtcd *e) {
        if (e->cp.sink.state_changed)
                e->cp.sink.state_changed(e->cp.sink.userdata);
}

static void connection_failed(CpEtcd *e, int r, const char *what, const char *error);
static void connect_start(CpEtcd *e);
static char *cp_etcd_status(ControlPlane *cp);

/* --- requests --- */

/* POSTs body to path on the current endpoint; a watch streams its answer to on_data. */
static int call(CpEtcd *e, const char *path, json_object *body, curl_request_data_t on_data,
                curl_request_done_t on_done, CurlRequest **slot) {
        bool stream = on_data;
        _cleanup_free_ char *url = NULL, *auth = NULL;
        struct curl_slist *headers = NULL, *h;
        const char *text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
        const char *endpoint = e->endpoints[e->endpoint];
        size_t n = strlen(endpoint);
        CURL *easy;

        while (n > 0 && endpoint[n - 1] == '/')
                n--;
        url = strf("%.*s%s", (int)n, endpoint, path);
        if (!url || !text)
                return -ENOMEM;
        h = curl_slist_append(NULL, "Content-Type: application/json");
        if (!h)
                return -ENOMEM;
        headers = h;
        if (e->token && !streq(path, ETCD_PATH_AUTHENTICATE)) {
                auth = etcd_auth_header(e->token);
                h = auth ? curl_slist_append(headers, auth) : NULL;
                if (!h) {
                        curl_slist_free_all(headers);
                        return -ENOMEM;
                }
                headers = h;
        }
        easy = curl_easy_init();
        if (!easy) {
                curl_slist_free_all(headers);
                return -ENOMEM;
        }
        if (curl_easy_setopt(easy, CURLOPT_URL, url) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long)strlen(text)) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, text) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, stream ? 0L : REQUEST_TIMEOUT_MS) !=
                    CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
            (e->ca_file && curl_easy_setopt(easy, CURLOPT_CAINFO, e->ca_file) != CURLE_OK) ||
            (e->cert_file && curl_easy_setopt(easy, CURLOPT_SSLCERT, e->cert_file) != CURLE_OK) ||
            (e->key_file && curl_easy_setopt(easy, CURLOPT_SSLKEY, e->key_file) != CURLE_OK)) {
                curl_easy_cleanup(easy);
                curl_slist_free_all(headers);
                return -EIO;
        }
        return curl_event_start(e->curl, easy, headers, stream ? WATCH_LINE_MAX : ETCD_REPLY_MAX,
                                on_data, on_done, e, slot);
}

/* etcd with --client-cert-auth ends a TLS connection whose client certificate it does not take;
 * over TLS 1.3 curl may see no more than the connection gone ("getpeername() failed"). */
static const char *tls_hint(CpEtcd *e, CURLcode code) {
        if (e->state != STATE_CONNECTING || !startswith(e->endpoints[e->endpoint], "https://") ||
            (code != CURLE_SSL_CONNECT_ERROR && code != CURLE_SEND_ERROR &&
             code != CURLE_RECV_ERROR))
                return "";
        return e->cert_file ? " (does etcd trust the CA that signed control_plane.cert_file?)"
                            : " (does etcd want a client certificate? control_plane.cert_file and "
                              "key_file give one)";
}

/* The reply of a finished call, or < 0 with the error, "<endpoint>: <what>: <why>". */
static int reply_parse(CpEtcd *e, const CurlResponse *resp, const char *what, json_object **ret,
                       char **ret_error) {
        _cleanup_free_ char *error = NULL;
        int r;

        if (resp->code != CURLE_OK)
                return error_set(ret_error, -EHOSTUNREACH, "%s: %s: %s%s",
                                 e->endpoints[e->endpoint], what, resp->error,
                                 tls_hint(e, resp->code));
        r = etcd_parse_reply(resp->status, resp->body, resp->len, ret, &error);
        if (r < 0)
                return error_set(ret_error, r, "%s: %s: %s", e->endpoints[e->endpoint], what,
                                 strempty(error));
        return 0;
}

/* A failed call (r < 0 from reply_parse()) puts the connection down. */
static void call_failed(CpEtcd *e, int r, const char *error) {
        connection_failed(e, r, NULL, error);
}

static int start_call(CpEtcd *e, const char *what, const char *path, json_object *body,
                      curl_request_done_t on_done, CurlRequest **slot) {
        int r = body ? call(e, path, body, NULL, on_done, slot) : -ENOMEM;

        if (r < 0)
                connection_failed(e, r, what, strerror(-r));
        return r;
}

static const char *after_prefix(const char *key, const char *prefix) {
        return startswith(key, prefix) ? key + strlen(prefix) : NULL;
}

/* The range of response i of a txn reply. */
static int txn_range(json_object *responses, size_t i, EtcdRange **ret, char **ret_error) {
        json_object *o = json_object_array_get_idx(responses, i);
        json_object *range = json_object_object_get(o, "response_range");

        if (!range)
                return error_set(ret_error, -EBADMSG,
                                 "etcd reply: txn: responses[%zu]: "
                                 "expected a response_range",
                                 i);
        return etcd_parse_range(range, ret, ret_error);
}

/* Adds a range of key (flags: EtcdRangeFlags) to txn's success branch, or its failure one. */
static int txn_add_range_to(json_object *txn, bool success, const char *key,
                            EtcdRangeFlags flags) {
        _cleanup_json_ json_object *range = NULL;
        int r = etcd_request_range(key, flags, 0, 0, &range);

        return r < 0 ? r : etcd_txn_add(txn, success, ETCD_OP_RANGE, TAKE_PTR(range));
}

static int txn_add_range(json_object *txn, const char *key, EtcdRangeFlags flags) {
        return txn_add_range_to(txn, true, key, flags);
}

/* The reply of a txn of n ranges, each parsed into ranges[] (the caller's to free, also on
 * failure); *ret_reply keeps what they point into, *ret_succeeded says whether its compares
 * held. */
static int reply_ranges(CpEtcd *e, const CurlResponse *resp, const char *what,
                        json_object **ret_reply, bool *ret_succeeded, EtcdRange **ranges,
                        size_t n, char **ret_error) {
        json_object *responses = NULL;
        int r;

        r = reply_parse(e, resp, what, ret_reply, ret_error);
        if (r >= 0)
                r = etcd_parse_txn(*ret_reply, ret_succeeded, &responses, ret_error);
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = txn_range(responses, i, &ranges[i], ret_error);
        return r;
}

/* --- revision and stack cache (local files) --- */

static void save_revision(CpEtcd *e, int64_t revision) {
        _cleanup_free_ char *text = NULL;

        if (revision <= e->revision)
                return;
        e->revision = revision;
        text = strf("%" PRId64 "\n", revision);
        /* Lost in a crash, the watch starts from an older revision: events come twice, and a
         * command is never handed over twice for that (the journal and results/ say so). */
        if (!text || write_file_atomic_full(e->revision_path, text, strlen(text), 0644, (uid_t)-1,
                                            (gid_t)-1, 0) < 0)
                log_warning("%s: cannot write the etcd revision", e->revision_path);
}

static void load_revision(CpEtcd *e) {
        _cleanup_free_ char *text = NULL;
        int64_t n;

        if (read_full_file(e->revision_path, 64, &text, NULL) < 0)
                return;
        if (text[0] && text[strlen(text) - 1] == '\n')
                text[strlen(text) - 1] = 0;
        if (parse_int64(text, &n) < 0 || n < 0) {
                log_warning("%s: not a revision: reading every command instead", e->revision_path);
                return;
        }
        e->revision = n;
}

/* The last stack description read, kept in stack_path for a command that starts while etcd is
 * away; NULL when there is none. */
static json_object *stack_cache_load(CpEtcd *e) {
        _cleanup_free_ char *text = NULL;
        json_object *stack = NULL;
        size_t len;

        if (read_full_file(e->stack_path, DOCUMENT_MAX, &text, &len) < 0 ||
            json_parse_strict(e->stack_path, text, len, &stack, NULL) < 0)
                return NULL;
        return stack;
}

/* --- commands --- */

/* Hands the command stored at commands/<id> over, or rejects it. */
static void hand_over(CpEtcd *e, const char *id, const char *value, size_t len) {
        _cleanup_free_ char *what = strf("%s%s", e->k_commands, id), *reason = NULL;
        _cleanup_json_ json_object *command = NULL;
        int r;

        if (!what)
                return;
        if (!command_id_valid(id)) {
                log_warning("etcd: %s: not a command id (1 to 128 of [A-Za-z0-9._-]): ignored",
                            what);
                return;
        }
        r = command_parse(what, value, len, &command, &reason);
        if (r >= 0 && !streq(command_id(command), id)) {
                reason = strf("%s: field 'id': expected '%s' as in the key, not '%s'", what, id,
                              command_id(command));
                r = -EINVAL;
        }
        if (r < 0) {
                /* Reported once: its failed result follows. */
                json_object_object_add(e->acked, id, NULL);
                e->cp.sink.command_rejected(id, reason ?: strerror(-r), e->cp.sink.userdata);
                return;
        }
        e->cp.sink.command_received(command, e->cp.sink.userdata);
}

static void watch_start(CpEtcd *e);

/* A full read of commands/ and of the results' keys: every command without a result that the
 * agent did not take yet is handed over, in id order. */
static void on_scan(CurlRequest *req _unused_, const CurlResponse *resp, void *userdata);

static void scan_start(CpEtcd *e) {
        _cleanup_json_ json_object *txn = NULL;

        if (e->scan_req || e->state != STATE_UP)
                return;
        if (etcd_txn_new(&txn) < 0 || txn_add_range(txn, e->k_commands, ETCD_RANGE_PREFIX) < 0 ||
            txn_add_range(txn, e->k_results, ETCD_RANGE_PREFIX | ETCD_RANGE_KEYS_ONLY) < 0) {
                connection_failed(e, -ENOMEM, "reading the commands", strerror(ENOMEM));
                return;
        }
        (void)start_call(e, "reading the commands", ETCD_PATH_TXN, txn, on_scan, &e->scan_req);
}

static void on_scan(CurlRequest *req _unused_, const CurlResponse *resp, void *userdata) {
        CpEtcd *e = userdata;
        _cleanup_json_ json_object *reply = NULL, *done = json_object_new_object();
        _cleanup_(etcd_range_freep) EtcdRange *commands = NULL, *results = NULL;
        _cleanup_free_ char *error = NULL;
        EtcdRange *ranges[2] = {};
        bool ok;
        int r;

        e->scan_req = NULL;
        r = reply_ranges(e, resp, "reading the commands", &reply, &ok, ranges, 2, &error);
        commands = ranges[0];
        results = ranges[1];
        if (r >= 0 && !done)
                r = -ENOMEM;
        if (r < 0) {
                call_failed(e, r, error);
                return;
        }

        for (size_t i = 0; i < results->n_kvs; i++) {
                const char *id = after_prefix(results->kvs[i].key, e->k_results);

                if (id)
                        json_object_object_add(done, id, NULL);
        }
        /* Journalled commands with a result are the agent's business only now. */
        json_object_object_foreach (done, finished, unused) {
                (void)unused;
                json_object_object_del(e->acked, finished);
        }
        for (size_t i = 0; i < commands->n_kvs; i++) {
                const char *id = after_prefix(commands->kvs[i].key, e->k_commands);

                if (!id || json_object_object_get_ex(done, id, NULL) ||
                    json_object_object_get_ex(e->acked, id, NULL))
                        continue;
                hand_over(e, id, commands->kvs[i].value, commands->kvs[i].value_len);
                if (e->state != STATE_UP)
                        return;
        }
        save_revision(e, commands->revision);
        if (!e->watch_req)
                watch_start(e);
}

static void on_check(CurlRequest *req _unused_, const CurlResponse *resp, void *userdata);

/* Looks up the commands named by watch events and their results, a batch at a time. */
static void check_start(CpEtcd *e) {
        _cleanup_json_ json_object *txn = NULL;
        size_t n = MIN(json_object_array_length(e->pending), (size_t)CHECK_BATCH);

        if (e->check_req || e->state != STATE_UP || n == 0)
                return;
        if (etcd_txn_new(&txn) < 0)
                goto fail;
        for (size_t i = 0; i < n; i++) {
                const char *id = json_object_get_string(json_object_array_get_idx(e->pending, i));
                _cleanup_free_ char *ck = strf("%s%s", e->k_commands, id);
                _cleanup_free_ char *rk = strf("%s%s", e->k_results, id);

                if (!ck || !rk || txn_add_range(txn, ck, 0) < 0 ||
                    txn_add_range(txn, rk, ETCD_RANGE_COUNT_ONLY) < 0)
                        goto fail;
        }
        e->checking = n;
        e->checking_revision = e->pending_revision;
        (void)start_call(e, "reading new commands", ETCD_PATH_TXN, txn, on_check, &e->check_req);
        return;
fail:
        connection_failed(e, -ENOMEM, "reading new commands", strerror(ENOMEM));
}

static void on_check(CurlRequest *req _unused_, const CurlResponse *resp, void *userdata) {
        CpEtcd *e = userdata;
        _cleanup_json_ json_object *reply = NULL;
        _cleanup_free_ char *error = NULL;
        json_object *responses = NULL;
        size_t n = e->checking;
        bool ok;
        int r;

        e->check_req = NULL;
        e->checking = 0;
        r = reply_parse(e, resp, "reading new commands", &reply, &error);
        if (r >= 0)
                r = etcd_parse_txn(reply, &ok, &responses, &error);
        if (r < 0) {
                call_failed(e, r, error);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                _cleanup_(etcd_range_freep) EtcdRange *c = NULL, *res = NULL;
                const char *id;

                r = txn_range(responses, 2 * i, &c, &error);
                if (r >= 0)
                        r = txn_range(responses, 2 * i + 1, &res, &error);
                if (r < 0) {
                        call_failed(e, r, error);
                        return;
                }
                id = json_object_get_string(json_object_array_get_idx(e->pending, i));
                if (c->n_kvs == 1 && res->count == 0 &&
                    !json_object_object_get_ex(e->acked, id, NULL))
                        hand_over(e, id, c->kvs[0].value, c->kvs[0].value_len);
                if (e->state != STATE_UP)
                        return;
        }
        json_object_array_del_idx(e->pending, 0, n);
        if (json_object_array_length(e->pending) == 0)
                save_revision(e, e->checking_revision);
        check_start(e);
}

static void watch_line(CpEtcd *e, const char *line, size_t len) {
        _cleanup_(etcd_watch_message_freep) EtcdWatchMessage *m = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        r = etcd_parse_watch_line(line, len, &m, &error);
        if (r < 0) {
                connection_failed(e, r, "watching the commands", error);
                return;
        }
        if (m->canceled) {
                if (m->compact_revision > 0) {
                        /* What happened since the revision we had is gone: read it all. */
                        log_notice("etcd: the commands since revision %" PRId64
                                   " were compacted (oldest kept: %" PRId64
                                   "): reading every command",
                                   e->revision + 1, m->compact_revision);
                        e->watch_req = curl_request_cancel(e->watch_req);
                        strbuf_done(&e->watch_buf);
                        e->revision = 0;
                        scan_start(e);
                        return;
                }
                error = strf("%s: watch of %s canceled: %s", e->endpoints[e->endpoint],
                             e->k_commands, m->cancel_reason ?: "no reason given");
                connection_failed(e, -ECANCELED, NULL, error);
                return;
        }
        for (size_t i = 0; i < m->n_events; i++) {
                const EtcdEvent *ev = m->events + i;
                const char *id = after_prefix(ev->kv.key, e->k_commands);

                e->pending_revision = MAX(e->pending_revision, ev->kv.mod_revision);
                if (ev->type != ETCD_EVENT_PUT || !id)
                        continue;
                if (json_object_array_add(e->pending, json_object_new_string(id)) < 0) {
                        connection_failed(e, -ENOMEM, "watching the commands", strerror(ENOMEM));
                        return;
                }
        }
        if (json_object_array_length(e->pending) == 0 && !e->check_req)
                save_revision(e, e->pending_revision);
        check_start(e);
}

static void on_watch_data(CurlRequest *req _unused_, const char *data, size_t len, void *userdata) {
        CpEtcd *e = userdata;
        char *nl;

        if (strbuf_append(&e->watch_buf, data, len) < 0) {
                connection_failed(e, -EFBIG, "watching the commands",
                                  "a watch message larger than 4 MiB");
                return;
        }
        while (e->watch_req && e->watch_buf.len > 0 &&
               (nl = memchr(e->watch_buf.data, '\n', e->watch_buf.len))) {
                size_t n = (size_t)(nl - e->watch_buf.data);
                _cleanup_free_ char *line = strndup(e->watch_buf.data, n);

                if (!line) {
                        connection_failed(e, -ENOMEM, "watching the commands", strerror(ENOMEM));
                        return;
                }
                memmove(e->watch_buf.data, nl + 1, e->watch_buf.len - n - 1);
                e->watch_buf.len -= n + 1;
                e->watch_buf.data[e->watch_buf.len] = 0;
                if (n > 0)
                        watch_line(e, line, n);
        }
}

static void on_watch_done(CurlRequest *req _unused_, const CurlResponse *resp, void *userdata) {
        CpEtcd *e = userdata;
        _cleanup_free_ char *error = NULL, *last = NULL;
        size_t len = e->watch_buf.len;

        e->watch_req = NULL;
        /* A last line without its newline: a dying server's in-band error. */
        last = strbuf_steal(&e->watch_buf);
        strbuf_done(&e->watch_buf);
        if (last && len > 0) {
                watch_line(e, last, len);
                if (e->state == STATE_DOWN)
                        return;
        }
        if (resp->code != CURLE_OK)
                error = strf("%s: watching the commands: %s", e->endpoints[e->endpoint],
                             resp->error);
        else
                error = strf("%s: the watch of %s ended (HTTP %ld)", e->endpoints[e->endpoint],
                             e->k_commands, resp->status);
        call_failed(e, resp->code != CURLE_OK ? -EHOSTUNREACH : -EPIPE, error);
}

static void watch_start(CpEtcd *e) {
        _cleanup_json_ json_object *body = NULL;
        int r;

        if (e->watch_req || e->state != STATE_UP)
                return;
        e->watch_buf = (StrBuf){.max = WATCH_LINE_MAX};
        r = etcd_request_watch(e->k_commands, true, e->revision + 1, false, &body);
        if (r >= 0)
                r = call(e, ETCD_PATH_WATCH, body, on_watch_data, on_watch_done, &e->watch_req);
        if (r >= 0)
                return;
        connection_failed(e, r, "watching the commands", strerror(-r));
}

/* --- heartbeat: keep the lease alive (a new one when it lapsed), put the alive record --- */

static void heartbeat_send(CpEtcd *e);
static void online_put(CpEtcd *e);

/* Puts value at key with the lease, as the heartbeat's request. */
static void lease_put(CpEtcd *e, const char *what, const char *key, json_object *value,
                      curl_request_done_t on_done) {
        _cleanup_json_ json_object *body = NULL;
        const char *text = json_object_to_json_string_ext(
                value, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

        if (!text || etcd_request_put(key, text, strlen(text), e->lease, &body) < 0)
                json_object_put(TAKE_PTR(body));
        (void)start_call(e, what, ETCD_PATH_PUT, body, on_done, &e->heartbeat_req);
}

/* The reply to lease_put(): 0 stored, 1 the lease lapsed meanwhile (a new one is on its way),
 * < 0 with the error. */
static int lease_put_reply(CpEtcd *e, const CurlResponse *resp, const char *what,
                           char **ret_error) {
        _cleanup_json_ json_object *reply = NULL;
        int r;

        e->heartbeat_req = NULL;
        r = reply_parse(e, resp, what, &reply, ret_error);
        if (r != -ENOENT)
                return r;
        e->lease = 0;
        heartbeat_send(e);
        return 1;
}

static void on_online_put(CurlRequest *req _unused_, const CurlResponse *resp, void *userdata) {
        CpEtcd *e = userdata;
        _cleanup_free_ char *error = NULL;
        int r;

        r = lease_put_reply(e, resp, "marking the instance online in its stack", &error);
        if (r == -EACCES) {
                log_warning("etcd: %s; the other instances of the stack take its status from "
                            "its definition, and it theirs",
                            error);
                e->online_denied = true;
        } else if (r < 0)
                call_failed(e, r, error);
        else if (r == 0)
                e->online_lease = e->lease;
}

/* stacks/<stack>/online/<id>, with the lease: once per lease, it goes when the lease lapses. */
static void online_put(CpEtcd *e) {
        _cleanup_json_ json_object *mark = json_object_new_object();
        _cleanup_free_ char *now = format_timestamp(now_usec(CLOCK_REALTIME));

        if (!mark || !now) {
                connection_failed(e, -ENOMEM, "marking the instance online in its stack",
                                  strerror(ENOMEM));
                return;
        }
        json_object_object_add(mark, "instance_id", json_object_new_string(e->instance_id));
        json_object_object_add(mark, "since", json_object_new_string(now));
        lease_put(e, "marking the instance online in its stack", e->k_online, mark,
                  on_online_put);
}

static void on_alive_put(CurlRequest *req _unused_, const CurlResponse *resp, void *userdata) {
        CpEtcd *e = userdata;
        _cleanup_free_ char *error = NULL;
        int r;

        r = lease_put_reply(e, resp, "putting the alive record", &error);
        if (r < 0)
                call_failed(e, r, error);
        if (r != 0)
                return;
        /* The round trip of a beat (keep-alive or grant, then put), for fleet measurements. */
        log_debug("heartbeat round trip %.1f ms (lease kept alive, alive record put)",
                  (double)(now_usec(CLOCK_MONOTONIC) - e->beat_started) / USEC_PER_MSEC);
        e->beat_started = 0;
        if (!e->online_denied && e->online_lease != e->lease)
                online_put(e);
}

static void alive_put(CpEtcd *e) {
        lease_put(e, "putting the alive record", e->k_alive, e->alive, on_alive_put);
}

static void on_lease_granted(CurlRequest *req _unused_, const CurlResponse *resp, void *userdata) {
        CpEtcd *e = userdata;
        _cleanup_json_ json_object *reply = NULL;
        _cleanup_free_ char *error = NULL;
        int64_t id = 0, ttl = 0;
        int r;

        e->heartbeat_req = NULL;
        r = reply_parse(e, resp, "granting a lease", &reply, &error);
        if (r >= 0)
                r = etcd_parse_lease_grant(reply, &id, &ttl, &error);
        if (r < 0) {
                call_failed(e, r, error);
                return;
        }
        e->lease = id;
        alive_put(e);
}

static void on_keepalive(CurlRequest *req _unused_, const CurlResponse *resp, void *userdata) {
        CpEtcd *e = userdata;
        _cleanup_json_ json_object *reply = NULL;
        _cleanup_free_ char *error = NULL;
        int64_t ttl = 0;
        int r;

        e->heartbeat_req = NULL;
        r = reply_parse(e, resp, "keeping the lease alive", &reply, &error);
        if (r >= 0)
                r = etcd_parse_lease_keepalive(reply, &ttl, &error);
        if (r == -ENOENT) {
                log_notice("etcd: lease %" PRIx64 " lapsed (%s was gone): granting a new one",
                           (uint64_t)e->lease, e->k_alive);
                e->lease = 0;
                heartbeat_send(e);
                return;
        }
        if (r < 0) {
                call_failed(e, r, error);
                return;
        }
        alive_put(e);
}

static void heartbeat_send(CpEtcd *e) {
        _cleanup_json_ json_object *body = NULL;

        if (e->state != STATE_UP || e->heartbeat_req || !e->alive)
                return;
        if (e->beat_started == 0)
                e->beat_started = now_usec(CLOCK_MONOTONIC);
        if (e->lease == 0) {
                int64_t ttl = (int64_t)((e->health_timeout + USEC_PER_SEC - 1) / USEC_PER_SEC);

                (void)etcd_request_lease_grant(ttl, &body);
                (void)start_call(e, "granting a lease", ETCD_PATH_LEASE_GRANT, body,
                                 on_lease_granted, &e->heartbeat_req);
                return;
        }
        (void)etcd_request_lease_keepalive(e->lease, &body);
        (void)start_call(e, "keeping the lease alive", ETCD_PATH_LEASE_KEEPALIVE, body,
                         on_keepalive, &e->heartbeat_req);
}

/* --- results and logs, in the order they were handed over --- */

static void puts_send(CpEtcd *e);

static void on_put(CurlRequest *req _unused_, const CurlResponse *resp, void *userdata) {
        CpEtcd *e = userdata;
        _cleanup_json_ json_object *reply = NULL;
        _cleanup_free_ char *error = NULL, *what = NULL;
        Put *p = e->puts;
        int r;

        e->put_req = NULL;
        what = strf("putting %s", p->key);
        r = reply_parse(e, resp, strempty(what), &reply, &error);
        if (r < 0) {
                call_failed(e, r, error);
                return;
        }
        e->puts = p->next;
        if (!e->puts)
                e->puts_tail = &e->puts;
        if (p->result_id)
                e->cp.sink.result_done(p->result_id, 0, NULL, e->cp.sink.userdata);
        put_free(p);
        puts_send(e);
}

/* Created once: a put repeated after a lost reply changes nothing. */
static void puts_send(CpEtcd *e) {
        _cleanup_json_ json_object *txn = NULL, *put = NULL;
        Put *p = e->puts;

        if (!p || e->put_req || e->state != STATE_UP)
                return;
        if (etcd_txn_new(&txn) < 0 ||
            etcd_txn_compare(txn, p->key, ETCD_COMPARE_CREATE, ETCD_COMPARE_EQUAL, 0, NULL) < 0 ||
            etcd_request_put(p->key, p->value, p->len, 0, &put) < 0 ||
            etcd_txn_add(txn, true, ETCD_OP_PUT, TAKE_PTR(put)) < 0) {
                json_object_put(txn);
                txn = NULL;
        }
        (void)start_call(e, "putting a result", ETCD_PATH_TXN, txn, on_put, &e->put_req);
}

static int enqueue(CpEtcd *e, const char *key, const char *value, size_t len,
                   const char *result_id) {
        Put *p = calloc(1, sizeof(Put));

        if (!p)
                return -ENOMEM;
        p->key = strdup(key);
        p->value = malloc(len + 1);
        if (p->value) {
                memcpy(p->value, value, len);
                p->value[len] = 0;
        }
        p->len = len;
        p->result_id = result_id ? strdup(result_id) : NULL;
        if (!p->key || !p->value || (result_id && !p->result_id)) {
                put_free(p);
                return -ENOMEM;
        }
        *e->puts_tail = p;
        e->puts_tail = &p->next;
        puts_send(e);
        return 0;
}

/* --- the stack description --- */

/* What a stack read ranges below stacks/<stack>/ (deployments/ is history, not topology), the
 * array of the description each fills, and the field a key's name fills when the document
 * lacks it. Then online/: the marks the agents put with their leases. */
static const struct {
        const char *dir, *array, *name_field;
} stack_dirs[] = {
        {"layers/", "layers", "id"},
        {"apps/", "apps", "shortname"},
        {"instances/", "instances", "id"},
        {"users/", "users", "name"},
};
_Static_assert(ELEMENTSOF(stack_dirs) + 2 == STACK_RANGES, "a range per directory");

static int stack_add(CpEtcd *e, json_object *doc, size_t dir, const EtcdKeyValue *kv,
                     char **ret_error) {
        const char *rel = after_prefix(kv->key, e->k_stack_dir);
        const char *name = rel ? after_prefix(rel, stack_dirs[dir].dir) : NULL;
        _cleanup_json_ json_object *value = NULL;
        json_object *array;
        int r;

        /* Deeper keys are not the topology. */
        if (!name || !*name || strchr(name, '/'))
                return 0;
        r = json_parse_strict(kv->key, kv->value, kv->value_len, &value, ret_error);
        if (r < 0)
                return r;
        if (!json_object_is_type(value, json_type_object))
                return error_set(ret_error, -EINVAL, "%s: expected a JSON object", kv->key);
        if (!json_object_object_get_ex(value, stack_dirs[dir].name_field, NULL))
                json_object_object_add(value, stack_dirs[dir].name_field,
                                       json_object_new_string(name));
        if (!json_object_object_get_ex(doc, stack_dirs[dir].array, &array)) {
                array = json_object_new_array();
                if (!array || json_object_object_add(doc, stack_dirs[dir].array, array) < 0)
                        return -ENOMEM;
        }
        return json_object_array_add(array, TAKE_PTR(value)) < 0 ? -ENOMEM : 0;
}

/* Other instances defined as online (the default) that have no online mark are
 * "connection_lost" for the recipes. Only while this agent's own mark is in place: where the
 * agents may not put theirs, the definitions, which the controller keeps, say who is online. */
static void mark_lost(CpEtcd *e, json_object *stack) {
        json_object *instances = json_object_object_get(stack, "instances");

        if (e->lease == 0 || e->online_lease != e->lease)
                return;
        for (size_t i = 0; i < json_object_array_length(instances); i++) {
                json_object *instance = json_object_array_get_idx(instances, i);
                const char *id = json_get_string(instance, "id");

                if (id && !streq(id, e->instance_id) &&
                    streq_ptr(json_get_string(instance, "status"), "online") &&
                    !json_object_object_get_ex(e->marked, id, NULL))
                        json_object_object_add(instance, "status",
                                               json_object_new_string("connection_lost"));
        }
}

static void stack_fetch(CpEtcd *e);

static void stack_deliver(CpEtcd *e, json_object *stack, const char *error) {
        e->stack_wanted = false;
        e->cp.sink.stack_ready(stack, error, e->cp.sink.userdata);
}

/* Keeps the description read and hands it over when a command waits. */
static void stack_finish(CpEtcd *e, json_object *stack) {
        const char *text = json_object_to_json_string_ext(
                stack, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

        if (write_file_atomic_full(e->stack_path, text, strlen(text), 0600, (uid_t)-1, (gid_t)-1,
                                   0) < 0)
                log_warning("%s: cannot keep the stack description", e->stack_path);
        if (e->stack_wanted)
                stack_deliver(e, stack, NULL);
}

/* The stack from the ranges of a full read at revision, checked, and kept (as text, with the
 * online marks) for the reads after; < 0 with the error when a document in etcd is not what
 * it should be. */
static int topology_build(CpEtcd *e, EtcdRange *const ranges[STACK_RANGES], int64_t revision,
                          json_object **ret, char **ret_error) {
        _cleanup_json_ json_object *doc = json_object_new_object(), *stack = NULL, *norm = NULL,
                                   *marked = json_object_new_object();
        _cleanup_free_ char *what = strf("etcd %s", e->k_stack);
        const EtcdRange *online = ranges[STACK_RANGES - 1];
        int r = 0;

        e->topology = mfree(e->topology);
        if (!doc || !what || !marked)
                return -ENOMEM;
        for (size_t i = 0; i < online->n_kvs; i++) {
                const char *id = after_prefix(online->kvs[i].key, e->k_online_dir);

                if (id && json_object_object_add(marked, id, NULL) < 0)
                        return -ENOMEM;
        }
        if (ranges[0]->n_kvs == 1) {
                r = json_parse_strict(ranges[0]->kvs[0].key, ranges[0]->kvs[0].value,
                                      ranges[0]->kvs[0].value_len, &stack, ret_error);
                if (r >= 0)
                        r = json_object_object_add(doc, "stack", TAKE_PTR(stack)) < 0 ? -ENOMEM : 0;
        }
        for (size_t d = 0; r >= 0 && d < ELEMENTSOF(stack_dirs); d++)
                for (size_t i = 0; r >= 0 && i < ranges[1 + d]->n_kvs; i++)
                        r = stack_add(e, doc, d, ranges[1 + d]->kvs + i, ret_error);
        if (r >= 0)
                r = stack_normalize(what, doc, e->instance_id, e->stack_id, &norm, ret_error);
        if (r < 0)
                return r;
        e->topology = strdup(json_object_to_json_string_ext(
                norm, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        if (!e->topology)
                return -ENOMEM;
        json_object_put(e->marked);
        e->marked = TAKE_PTR(marked);
        e->topology_revision = revision;
        for (size_t i = 0; i < STACK_RANGES; i++)
                e->topology_counts[i] = ranges[i]->count;
        *ret = TAKE_PTR(norm);
        return 0;
}

/* After a conditional read whose compares held (no key modified since topology_revision):
 * whether each range still has as many keys, i.e. none was deleted. */
static bool topology_unchanged(CpEtcd *e, EtcdRange *const ranges[STACK_RANGES]) {
        for (size_t i = 0; i < STACK_RANGES; i++)
                if (ranges[i]->count != e->topology_counts[i])
                        return false;
        return true;
}

static void stack_read(CpEtcd *e, const CurlResponse *resp) {
        _cleanup_json_ json_object *reply = NULL, *stack = NULL;
        _cleanup_free_ char *error = NULL;
        EtcdRange *ranges[STACK_RANGES] = {};
        int64_t revision = 0;
        bool ok = false;
        int r;

        e->stack_req = NULL;
        r = reply_ranges(e, resp, "reading the stack", &reply, &ok, ranges, STACK_RANGES, &error);
        if (r >= 0 && etcd_reply_revision(reply, &revision) < 0)
                r = error_set(&error, -EBADMSG, "%s: reading the stack: a reply without a revision",
                              e->endpoints[e->endpoint]);
        if (r < 0) {
                call_failed(e, r, error);
                goto done;
        }
        if (e->stack_conditional && ok && !topology_unchanged(e, ranges)) {
                /* A key was deleted: read all of it. */
                e->topology = mfree(e->topology);
                stack_fetch(e);
                goto done;
        }
        if (e->stack_conditional && ok) {
                log_debug("etcd: the stack is as read at revision %" PRIi64,
                          e->topology_revision);
                stack = json_tokener_parse(e->topology);
                if (!stack) {
                        connection_failed(e, -ENOMEM, "reading the stack", strerror(ENOMEM));
                        goto done;
                }
        /* What is in etcd is read; a bad document there fails this command, not the link. */
        } else if (topology_build(e, ranges, revision, &stack, &error) < 0) {
                if (e->stack_wanted)
                        stack_deliver(e, NULL, error ?: strerror(ENOMEM));
                goto done;
        }
        mark_lost(e, stack);
        stack_finish(e, stack);
done:
        for (size_t i = 0; i < STACK_RANGES; i++)
                etcd_range_free(ranges[i]);
}

static void on_stack(CurlRequest *req _unused_, const CurlResponse *resp, void *userdata) {
        CpEtcd *e = userdata;

        stack_read(e, resp);
        /* A large stack's reply and documents are gone: their pages go back too, so that an
         * agent keeps no more than the text of the stack between commands. */
        (void)malloc_trim(0);
}

/* The ranges of a stack read to txn's success or failure branch: all of them with
 * ETCD_RANGE_COUNT_ONLY, or the documents and the keys of online/ with 0. */
static int stack_ranges(CpEtcd *e, json_object *txn, bool success, EtcdRangeFlags flags) {
        int r = txn_add_range_to(txn, success, e->k_stack, flags);

        for (size_t d = 0; r >= 0 && d < ELEMENTSOF(stack_dirs); d++) {
                _cleanup_free_ char *dir = strf("%s%s", e->k_stack_dir, stack_dirs[d].dir);

                r = dir ? txn_add_range_to(txn, success, dir, flags | ETCD_RANGE_PREFIX) : -ENOMEM;
        }
        if (r >= 0)
                r = txn_add_range_to(txn, success, e->k_online_dir,
                                     ETCD_RANGE_PREFIX | (flags ?: ETCD_RANGE_KEYS_ONLY));
        return r;
}

/* No key of the stack's documents nor online mark modified after topology_revision. */
static int topology_compares(CpEtcd *e, json_object *txn) {
        int64_t after = e->topology_revision + 1;
        int r = etcd_txn_compare(txn, e->k_stack, ETCD_COMPARE_MOD, ETCD_COMPARE_LESS, after,
                                 NULL);

        for (size_t d = 0; r >= 0 && d < ELEMENTSOF(stack_dirs); d++) {
                _cleanup_free_ char *dir = strf("%s%s", e->k_stack_dir, stack_dirs[d].dir);

                r = dir ? etcd_txn_compare_prefix(txn, dir, ETCD_COMPARE_MOD, ETCD_COMPARE_LESS,
                                                  after)
                        : -ENOMEM;
        }
        if (r >= 0)
                r = etcd_txn_compare_prefix(txn, e->k_online_dir, ETCD_COMPARE_MOD,
                                            ETCD_COMPARE_LESS, after);
        return r;
}

/* Reads the stack for a command waiting for it, or, at a poll, to know it before one comes.
 * With a topology read before, one transaction asks whether it changed: unchanged (no key
 * modified since, as many keys), etcd answers with counts only; changed, with all of it. */
static void stack_fetch(CpEtcd *e) {
        _cleanup_json_ json_object *txn = NULL;
        int r;

        if (e->stack_req || e->state != STATE_UP)
                return;
        e->stack_conditional = e->topology;
        r = etcd_txn_new(&txn);
        if (r >= 0 && e->stack_conditional)
                r = topology_compares(e, txn);
        if (r >= 0)
                r = stack_ranges(e, txn, true, e->stack_conditional ? ETCD_RANGE_COUNT_ONLY : 0);
        if (r >= 0 && e->stack_conditional)
                r = stack_ranges(e, txn, false, 0);
        if (r < 0)
                json_object_put(TAKE_PTR(txn));
        (void)start_call(e, "reading the stack", ETCD_PATH_TXN, txn, on_stack, &e->stack_req);
}

/* --- connection --- */

static void went_up(CpEtcd *e) {
        bool was_down = e->failures > 0;

        e->state = STATE_UP;
        e->failures = 0;
        e->last_error = mfree(e->last_error);
        log_full(was_down ? LOG_NOTICE : LOG_INFO, NULL, "etcd: connected to %s as instance %s",
                 e->endpoints[e->endpoint], e->instance_id);
        state_changed(e);
        if (e->revision > 0)
                watch_start(e);
        else
                scan_start(e);
        (void)sd_event_source_set_time_relative(e->poll_timer, e->poll_interval);
        (void)sd_event_source_set_enabled(e->poll_timer, SD_EVENT_ONESHOT);
        check_start(e);
        heartbeat_send(e);
        puts_send(e);
        if (e->stack_wanted)
                stack_fetch(e);
}

static void on_registered(CurlRequest *req _unused_, const CurlResponse *resp, void *userdata) {
        CpEtcd *e = userdata;
        _cleanup_json_ json_object *reply = NULL;
        _cleanup_free_ char *error = NULL;
        json_object *responses;
        bool created = false;
        int r;

        e->connect_req = NULL;
        r = reply_parse(e, resp, "registering", &reply, &error);
        if (r >= 0)
                r = etcd_parse_txn(reply, &created, &responses, &error);
        if (r < 0) {
                call_failed(e, r, error);
                return;
        }
        if (created)
                log_info("etcd: registered as %s", e->k_registered);
        went_up(e);
}

/* Creates the registration record once; later starts leave it as it is. */
static void register_instance(CpEtcd *e) {
        _cleanup_json_ json_object *txn = NULL, *put = NULL, *record = json_object_new_object();
        _cleanup_free_ char *now = format_timestamp(now_usec(CLOCK_REALTIME));
        char host[256] = "";
        const char *text;

        (void)gethostname(host, sizeof(host) - 1);
        if (!record || !now)
                goto fail;
        json_object_object_add(record, "instance_id", json_object_new_string(e->instance_id));
        json_object_object_add(record, "stack_id", json_object_new_string(e->stack_id));
        json_object_object_add(record, "hostname", json_object_new_string(host));
        json_object_object_add(record, "agent_version", json_object_new_string(STRATA_VERSION));
        json_object_object_add(record, "registered_at", json_object_new_string(now));
        text = json_object_to_json_string_ext(record, JSON_C_TO_STRING_PLAIN |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE);
        if (etcd_txn_new(&txn) < 0 ||
            etcd_txn_compare(txn, e->k_registered, ETCD_COMPARE_CREATE, ETCD_COMPARE_EQUAL, 0,
                             NULL) < 0 ||
            etcd_request_put(e->k_registered, text, strlen(text), 0, &put) < 0 ||
            etcd_txn_add(txn, true, ETCD_OP_PUT, TAKE_PTR(put)) < 0)
                goto fail;
        (void)start_call(e, "registering", ETCD_PATH_TXN, txn, on_registered, &e->connect_req);
        return;
fail:
        connection_failed(e, -ENOMEM, "registering", strerror(ENOMEM));
}

static void on_authenticated(CurlRequest *req _unused_, const CurlResponse *resp, void *userdata) {
        CpEtcd *e = userdata;
        _cleanup_json_ json_object *reply = NULL;
        _cleanup_free_ char *error = NULL, *what = NULL;
        int r;

        e->connect_req = NULL;
        what = strf("authenticating as user '%s'", e->username);
        r = reply_parse(e, resp, strempty(what), &reply, &error);
        if (r >= 0)
                r = etcd_parse_token(reply, &e->token, &error);
        if (r < 0) {
                call_failed(e, r, error);
                return;
        }
        register_instance(e);
}

static void connect_start(CpEtcd *e) {
        _cleanup_json_ json_object *body = NULL;

        e->state = STATE_CONNECTING;
        if (!e->username || e->token) {
                register_instance(e);
                return;
        }
        (void)etcd_request_authenticate(e->username, e->password, &body);
        (void)start_call(e, "authenticating", ETCD_PATH_AUTHENTICATE, body, on_authenticated,
                         &e->connect_req);
}

static int on_retry(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata) {
        connect_start(userdata);
        return 0;
}

static int on_start(sd_event_source *s _unused_, void *userdata) {
        connect_start(userdata);
        return 0;
}

static usec_t backoff(CpEtcd *e) {
        usec_t cap = BACKOFF_BASE << MIN(e->failures, 20U);
        uint64_t x = 0;

        cap = MIN(cap, e->backoff_max);
        if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != sizeof(x))
                x = now_usec(CLOCK_MONOTONIC);
        /* Full jitter: anywhere between now and the cap, so a fleet does not come back at
         * once. */
        return cap > 0 ? x % (cap + 1) : 0;
}

static void connection_failed(CpEtcd *e, int r, const char *what, const char *error) {
        _cleanup_free_ char *message = NULL;
        usec_t delay;

        if (e->state == STATE_DOWN)
                return;
        message = what ? strf("%s: %s: %s", e->endpoints[e->endpoint], what, strempty(error))
                       : strdup(strempty(error));
        cancel_requests(e);
        e->state = STATE_DOWN;
        if (r == -EHOSTUNREACH || r == -EAGAIN)
                /* No answer: the next endpoint may have one. */
                e->endpoint = (e->endpoint + 1) % strv_length(e->endpoints);
        if (r == -EKEYEXPIRED || (e->username && r == -EACCES))
                e->token = mfree(e->token);
        /* An expired token is renewed at once, the first time. */
        delay = r == -EKEYEXPIRED && e->failures == 0 ? 0 : backoff(e);
        e->failures++;
        free(e->last_error);
        e->last_error = TAKE_PTR(message);
        e->retry_at = now_usec(CLOCK_MONOTONIC) + delay;
        /* Refused credentials and permissions need the operator; the rest passes. */
        log_full(r == -EACCES || r == -EPERM ? LOG_ERR : LOG_WARNING, NULL,
                 "etcd: %s; retrying in %.1f s", strempty(e->last_error),
                 (double)delay / USEC_PER_SEC);
        (void)sd_event_source_set_enabled(e->poll_timer, SD_EVENT_OFF);
        (void)sd_event_source_set_time_relative(e->retry_timer, delay);
        (void)sd_event_source_set_enabled(e->retry_timer, SD_EVENT_ONESHOT);
        /* Failures happen inside calls into the backend too: the agent hears from the loop. */
        (void)sd_event_source_set_enabled(e->notify_source, SD_EVENT_ONESHOT);
}

static int on_notify(sd_event_source *s _unused_, void *userdata) {
        CpEtcd *e = userdata;

        /* A command waiting for its stack goes on with the last one read. */
        if (e->state == STATE_DOWN && e->stack_wanted) {
                _cleanup_json_ json_object *cached = stack_cache_load(e);

                if (cached) {
                        log_notice("etcd: using the last stack description read");
                        stack_deliver(e, cached, NULL);
                }
        }
        state_changed(e);
        return 0;
}

static int on_poll(sd_event_source *s, uint64_t usec _unused_, void *userdata) {
        CpEtcd *e = userdata;

        scan_start(e);
        /* Once known, the stack is read by a command with one small request. */
        if (!e->topology)
                stack_fetch(e);
        (void)sd_event_source_set_time_relative(s, e->poll_interval);
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

/* --- the interface --- */

static int cp_etcd_start(ControlPlane *cp, char **ret_error) {
        CpEtcd *e = cp_etcd(cp);
        int r;

        if (e->started)
                return error_set(ret_error, -EBUSY, "the etcd control plane is already started");
        e->started = true;
        load_revision(e);
        r = curl_event_new(cp->event, &e->curl);
        if (r >= 0)
                r = sd_event_add_time_relative(cp->event, &e->retry_timer, CLOCK_MONOTONIC, 0,
                                               USEC_PER_MSEC, on_retry, e);
        if (r >= 0)
                r = sd_event_source_set_enabled(e->retry_timer, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_time_relative(cp->event, &e->poll_timer, CLOCK_MONOTONIC,
                                               e->poll_interval, USEC_PER_SEC / 10, on_poll, e);
        if (r >= 0)
                r = sd_event_source_set_enabled(e->poll_timer, SD_EVENT_OFF);
        /* Connecting starts from the loop: nothing is handed over from inside this call. */
        if (r >= 0)
                r = sd_event_add_defer(cp->event, &e->start_source, on_start, e);
        if (r >= 0)
                r = sd_event_source_set_enabled(e->start_source, SD_EVENT_ONESHOT);
        if (r >= 0)
                r = sd_event_add_defer(cp->event, &e->notify_source, on_notify, e);
        if (r >= 0)
                r = sd_event_source_set_enabled(e->notify_source, SD_EVENT_OFF);
        if (r < 0)
                return error_set(ret_error, r, "cannot set up the etcd connection: %s",
                                 strerror(-r));
        return 0;
}

/* The last record, with the state of the link, for strata-agent-cli agent_report: it cannot
 * ask etcd when etcd is what is away. */
static void write_local_heartbeat(CpEtcd *e, json_object *record) {
        _cleanup_json_ json_object *copy = NULL, *link = json_object_new_object();
        _cleanup_free_ char *problem = cp_etcd_status(&e->cp);
        const char *text;

        if (!link || json_object_deep_copy(record, &copy, NULL) < 0)
                return;
        json_object_object_add(link, "type", json_object_new_string("etcd"));
        json_object_object_add(link, "endpoint", json_object_new_string(e->endpoints[e->endpoint]));
        json_object_object_add(link, "connected", json_object_new_boolean(e->state == STATE_UP));
        if (problem)
                json_object_object_add(link, "problem", json_object_new_string(problem));
        json_object_object_add(copy, "control_plane", TAKE_PTR(link));
        text = json_object_to_json_string_ext(copy, JSON_C_TO_STRING_PRETTY |
                                                            JSON_C_TO_STRING_NOSLASHESCAPE);
        /* A heartbeat a second: no fsync, the next one replaces it. */
        if (write_file_atomic_full(e->heartbeat_path, text, strlen(text), 0644, (uid_t)-1,
                                   (gid_t)-1, 0) < 0)
                log_warning("%s: cannot write the heartbeat", e->heartbeat_path);
}

static int cp_etcd_heartbeat(ControlPlane *cp, json_object *record, char **ret_error _unused_) {
        CpEtcd *e = cp_etcd(cp);

        json_object_put(e->alive);
        e->alive = json_object_get(record);
        write_local_heartbeat(e, record);
        heartbeat_send(e);
        return 0;
}

static int cp_etcd_ack(ControlPlane *cp, const char *id, char **ret_error _unused_) {
        CpEtcd *e = cp_etcd(cp);

        return json_object_object_add(e->acked, id, NULL) < 0 ? -ENOMEM : 0;
}

static int cp_etcd_report_result(ControlPlane *cp, json_object *result, char **ret_error) {
        CpEtcd *e = cp_etcd(cp);
        const char *id = json_get_string(result, "id");
        _cleanup_free_ char *key = NULL;
        const char *text;

        if (!command_id_valid(id))
                return error_set(ret_error, -EINVAL, "result: field 'id': expected a command id");
        key = strf("%s%s", e->k_results, id);
        text = json_object_to_json_string_ext(result, JSON_C_TO_STRING_PLAIN |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!key || !text)
                return -ENOMEM;
        return enqueue(e, key, text, strlen(text), id);
}

static int cp_etcd_upload_log(ControlPlane *cp, const char *id, const char *log, size_t len,
                              char **ret_error) {
        CpEtcd *e = cp_etcd(cp);
        _cleanup_free_ char *key = NULL;

        if (!command_id_valid(id))
                return error_set(ret_error, -EINVAL, "log: expected a command id");
        key = strf("%s%s", e->k_logs, id);
        if (!key)
                return -ENOMEM;
        /* The end of a log says how the command ended: keep that. */
        if (len > LOG_MAX) {
                log += len - LOG_MAX;
                len = LOG_MAX;
        }
        return enqueue(e, key, log, len, NULL);
}

static int cp_etcd_stack(ControlPlane *cp, json_object **ret, char **ret_error _unused_) {
        CpEtcd *e = cp_etcd(cp);

        if (e->state != STATE_UP && e->failures > 0) {
                json_object *cached = stack_cache_load(e);

                if (cached) {
                        log_notice("etcd: unreachable; using the last stack description read");
                        *ret = cached;
                        return 1;
                }
        }
        e->stack_wanted = true;
        stack_fetch(e);
        return 0;
}

static char *cp_etcd_status(ControlPlane *cp) {
        CpEtcd *e = cp_etcd(cp);
        usec_t now = now_usec(CLOCK_MONOTONIC);

        if (e->state == STATE_UP)
                return NULL;
        if (e->state == STATE_CONNECTING && e->failures == 0)
                return strf("connecting to %s", e->endpoints[e->endpoint]);
        return strf("%s; retrying in %" PRIu64 " s", strempty(e->last_error),
                    e->retry_at > now ? (e->retry_at - now + USEC_PER_SEC - 1) / USEC_PER_SEC : 0);
}

static const ControlPlaneOps cp_etcd_ops = {
        .name = "etcd",
        .start = cp_etcd_start,
        .heartbeat = cp_etcd_heartbeat,
        .ack = cp_etcd_ack,
        .report_result = cp_etcd_report_result,
        .upload_log = cp_etcd_upload_log,
        .stack = cp_etcd_stack,
        .status = cp_etcd_status,
        .free = cp_etcd_free,
};

static int read_password(const char *path, char **ret, char **ret_error) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        r = read_full_file(path, PASSWORD_MAX, &text, &len);
        if (r < 0)
                return error_set(ret_error, r, "control_plane.password_file %s: cannot read: %s",
                                 path, strerror(-r));
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
                text[--len] = 0;
        if (len == 0 || strlen(text) != len)
                return error_set(ret_error, -EINVAL,
                                 "control_plane.password_file %s: expected the password on one "
                                 "line",
                                 path);
        *ret = TAKE_PTR(text);
        return 0;
}

int cp_etcd_new(sd_event *event, const AgentConfig *c, const ControlPlaneSink *sink,
                ControlPlane **ret, char **ret_error) {
        _cleanup_(control_plane_freep) ControlPlane *cp = NULL;
        const char *p;
        CpEtcd *e;
        int r;

        if (!event || !c || !sink || !sink->command_received || !sink->command_rejected ||
            !sink->result_done || !sink->stack_ready ||
            strv_length(c->control_plane.endpoints) == 0)
                return -EINVAL;

        e = calloc(1, sizeof(CpEtcd));
        if (!e)
                return -ENOMEM;
        *e = (CpEtcd){
                .cp = {.ops = &cp_etcd_ops, .event = sd_event_ref(event), .sink = *sink},
                .poll_interval = c->control_plane.poll_interval,
                .backoff_max = c->control_plane.backoff_max,
                .health_timeout = c->health_timeout,
                .state = STATE_DOWN,
        };
        e->puts_tail = &e->puts;
        cp = &e->cp;

        p = c->control_plane.prefix;
        e->endpoints = strv_copy(c->control_plane.endpoints);
        e->prefix = strdup(p);
        e->instance_id = strdup(c->instance_id);
        e->stack_id = strdup(c->stack_id);
        e->k_registered = strf("%s/instances/%s/registered", p, c->instance_id);
        e->k_alive = strf("%s/instances/%s/alive", p, c->instance_id);
        e->k_commands = strf("%s/instances/%s/commands/", p, c->instance_id);
        e->k_results = strf("%s/instances/%s/results/", p, c->instance_id);
        e->k_logs = strf("%s/instances/%s/logs/", p, c->instance_id);
        e->k_stack = strf("%s/stacks/%s", p, c->stack_id);
        e->k_stack_dir = strf("%s/stacks/%s/", p, c->stack_id);
        e->k_online_dir = strf("%s/stacks/%s/online/", p, c->stack_id);
        e->k_online = strf("%s%s", strempty(e->k_online_dir), c->instance_id);
        e->revision_path = strf("%s/etcd-revision", c->state_dir);
        e->stack_path = strf("%s/etcd-stack.json", c->state_dir);
        e->heartbeat_path = strf("%s/heartbeat.json", c->state_dir);
        e->acked = json_object_new_object();
        e->pending = json_object_new_array();
        if (!e->endpoints || !e->prefix || !e->instance_id || !e->stack_id || !e->k_registered ||
            !e->k_alive || !e->k_commands || !e->k_results || !e->k_logs || !e->k_stack ||
            !e->k_stack_dir || !e->k_online_dir || !e->k_online || !e->revision_path ||
            !e->stack_path || !e->heartbeat_path ||
            !e->acked || !e->pending)
                return -ENOMEM;
        if ((c->control_plane.username && !(e->username = strdup(c->control_plane.username))) ||
            (c->control_plane.ca_file && !(e->ca_file = strdup(c->control_plane.ca_file))) ||
            (c->control_plane.cert_file && !(e->cert_file = strdup(c->control_plane.cert_file))) ||
            (c->control_plane.key_file && !(e->key_file = strdup(c->control_plane.key_file))))
                return -ENOMEM;
        if (c->control_plane.password_file) {
                r = read_password(c->control_plane.password_file, &e->password, ret_error);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(cp);
        return 0;
}
