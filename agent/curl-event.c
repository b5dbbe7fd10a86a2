/* SPDX-License-Identifier: MIT */
/* libcurl's multi-socket interface glued to sd-event: one io source per socket curl wants
 * watched, one timer for curl's timeout, and the finished transfers drained after every
 * curl_multi_socket_action(), outside of libcurl's own callbacks. */
#include "curl-event.h"
#include "str-util.h"

typedef struct IoWatch IoWatch;

struct IoWatch {
        CurlEvent *owner;
        curl_socket_t fd;
        sd_event_source *source;
        IoWatch *prev, *next;
};

struct CurlRequest {
        CurlEvent *owner;
        CURL *easy;
        struct curl_slist *headers;
        bool in_multi;
        bool linked;    /* in the owner's list */
        bool finishing; /* in its on_done */
        bool done;
        CURLcode code;
        bool too_large;
        StrBuf body;
        curl_request_data_t on_data;
        curl_request_done_t on_done;
        void *userdata;
        char errbuf[CURL_ERROR_SIZE];
        CurlRequest *prev, *next;
};

struct CurlEvent {
        sd_event *event;
        CURLM *multi;
        sd_event_source *timer;
        CurlRequest *requests;
        IoWatch *watches;
};

static void watch_free(IoWatch *w) {
        if (!w)
                return;
        sd_event_source_disable_unref(w->source);
        if (w->prev)
                w->prev->next = w->next;
        else
                w->owner->watches = w->next;
        if (w->next)
                w->next->prev = w->prev;
        free(w);
}

static void unlink_request(CurlRequest *req) {
        if (!req->linked)
                return;
        if (req->prev)
                req->prev->next = req->next;
        else
                req->owner->requests = req->next;
        if (req->next)
                req->next->prev = req->prev;
        req->prev = req->next = NULL;
        req->linked = false;
}

static void request_free(CurlRequest *req) {
        if (req->in_multi)
                (void)curl_multi_remove_handle(req->owner->multi, req->easy);
        curl_easy_cleanup(req->easy);
        curl_slist_free_all(req->headers);
        strbuf_done(&req->body);
        unlink_request(req);
        free(req);
}

CurlRequest *curl_request_cancel(CurlRequest *req) {
        /* A request in its on_done is freed once that returns. */
        if (req && !req->finishing)
                request_free(req);
        return NULL;
}

/* Marks the finished transfers; the callbacks run afterwards, from process(). */
static void drain_messages(CurlEvent *c) {
        CURLMsg *msg;
        int left;

        while ((msg = curl_multi_info_read(c->multi, &left))) {
                CurlRequest *req = NULL;

                if (msg->msg != CURLMSG_DONE)
                        continue;
                if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&req) !=
                            CURLE_OK ||
                    !req)
                        continue;
                req->code = msg->data.result;
                req->done = true;
                (void)curl_multi_remove_handle(c->multi, req->easy);
                req->in_multi = false;
        }
}

/* The first request with something to say: streamed bytes first, then the end. Searched
 * again from the start after every callback, which may have freed or started any request. */
static CurlRequest *next_pending(CurlEvent *c) {
        for (CurlRequest *req = c->requests; req; req = req->next)
                if ((req->on_data && req->body.len > 0) || req->done)
                        return req;
        return NULL;
}

static void process(CurlEvent *c) {
        CurlRequest *req;

        drain_messages(c);
        while ((req = next_pending(c))) {
                if (req->on_data && req->body.len > 0) {
                        size_t len = req->body.len;
                        _cleanup_free_ char *data = strbuf_steal(&req->body);

                        if (!data) {
                                req->done = true;
                                req->code = CURLE_OUT_OF_MEMORY;
                                continue;
                        }
                        req->on_data(req, data, len, req->userdata);
                        continue;
                }

                CurlResponse response = {
                        .code = req->code,
                        .error = req->errbuf[0] ? req->errbuf : curl_easy_strerror(req->code),
                        .body = req->body.data ?: "",
                        .len = req->body.len,
                        .body_too_large = req->too_large,
                };
                if (req->code == CURLE_OK)
                        (void)curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE,
                                                &response.status);
                /* Out of the list during its callback, which may cancel anything, even it. */
                unlink_request(req);
                req->finishing = true;
                req->on_done(req, &response, req->userdata);
                req->finishing = false;
                request_free(req);
        }
}

static int on_io(sd_event_source *s _unused_, int fd, uint32_t revents, void *userdata) {
        IoWatch *w = userdata;
        CurlEvent *c = w->owner;
        int flags = 0, running;

        if (revents & EPOLLIN)
                flags |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT)
                flags |= CURL_CSELECT_OUT;
        if (revents & (EPOLLERR | EPOLLHUP))
                flags |= CURL_CSELECT_ERR;
        (void)curl_multi_socket_action(c->multi, fd, flags, &running);
        process(c);
        return 0;
}

static int on_timer(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata) {
        CurlEvent *c = userdata;
        int running;

        (void)curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        process(c);
        return 0;
}

static int socket_cb(CURL *easy _unused_, curl_socket_t fd, int what, void *userp, void *socketp) {
        CurlEvent *c = userp;
        IoWatch *w = socketp;
        uint32_t events = 0;
        int r;

        if (what == CURL_POLL_REMOVE) {
                if (w) {
                        (void)curl_multi_assign(c->multi, fd, NULL);
                        watch_free(w);
                }
                return 0;
        }
        if (what & CURL_POLL_IN)
                events |= EPOLLIN;
        if (what & CURL_POLL_OUT)
                events |= EPOLLOUT;

        if (w) {
                r = sd_event_source_set_io_events(w->source, events);
                if (r >= 0)
                        r = sd_event_source_set_enabled(w->source, SD_EVENT_ON);
                return r < 0 ? -1 : 0;
        }

        w = calloc(1, sizeof(IoWatch));
        if (!w)
                return -1;
        *w = (IoWatch){.owner = c, .fd = fd, .next = c->watches};
        if (sd_event_add_io(c->event, &w->source, fd, events, on_io, w) < 0) {
                free(w);
                return -1;
        }
        if (c->watches)
                c->watches->prev = w;
        c->watches = w;
        (void)curl_multi_assign(c->multi, fd, w);
        return 0;
}

static int timer_cb(CURLM *multi _unused_, long timeout_ms, void *userp) {
        CurlEvent *c = userp;

        if (timeout_ms < 0)
                return sd_event_source_set_enabled(c->timer, SD_EVENT_OFF) < 0 ? -1 : 0;
        if (sd_event_source_set_time_relative(c->timer, (usec_t)timeout_ms * USEC_PER_MSEC) < 0 ||
            sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT) < 0)
                return -1;
        return 0;
}

static size_t write_cb(char *data, size_t size, size_t n, void *userdata) {
        CurlRequest *req = userdata;
        size_t len = size * n;

        if (strbuf_append(&req->body, data, len) < 0) {
                req->too_large = true;
                return 0;
        }
        return len;
}

int curl_event_new(sd_event *event, CurlEvent **ret) {
        _cleanup_(curl_event_freep) CurlEvent *c = NULL;
        int r;

        c = calloc(1, sizeof(CurlEvent));
        if (!c)
                return -ENOMEM;
        c->event = sd_event_ref(event);
        c->multi = curl_multi_init();
        if (!c->multi)
                return -ENOMEM;
        r = sd_event_add_time_relative(event, &c->timer, CLOCK_MONOTONIC, 0, USEC_PER_MSEC,
                                       on_timer, c);
        if (r < 0)
                return r;
        r = sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
        if (r < 0)
                return r;
        if (curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb) != CURLM_OK ||
            curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c) != CURLM_OK ||
            curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb) != CURLM_OK ||
            curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c) != CURLM_OK)
                return -EIO;
        *ret = TAKE_PTR(c);
        return 0;
}

CurlEvent *curl_event_free(CurlEvent *c) {
        if (!c)
                return NULL;
        while (c->requests)
                request_free(c->requests);
        if (c->multi)
                (void)curl_multi_cleanup(c->multi);
        while (c->watches)
                watch_free(c->watches);
        sd_event_source_disable_unref(c->timer);
        sd_event_unref(c->event);
        free(c);
        return NULL;
}

int curl_event_start(CurlEvent *c, CURL *easy, struct curl_slist *headers, size_t max_body,
                     curl_request_data_t on_data, curl_request_done_t on_done, void *userdata,
                     CurlRequest **ret) {
        CurlRequest *req;

        if (!c || !easy || !on_done) {
                curl_easy_cleanup(easy);
                curl_slist_free_all(headers);
                return -EINVAL;
        }
        req = calloc(1, sizeof(CurlRequest));
        if (!req) {
                curl_easy_cleanup(easy);
                curl_slist_free_all(headers);
                return -ENOMEM;
        }
        *req = (CurlRequest){
                .owner = c,
                .easy = easy,
                .headers = headers,
                .body = {.max = max_body},
                .on_data = on_data,
                .on_done = on_done,
                .userdata = userdata,
                .next = c->requests,
                .linked = true,
        };
        if (c->requests)
                c->requests->prev = req;
        c->requests = req;

        if (curl_easy_setopt(easy, CURLOPT_PRIVATE, req) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_cb) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_WRITEDATA, req) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, req->errbuf) != CURLE_OK ||
            curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
            (headers && curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers) != CURLE_OK) ||
            curl_multi_add_handle(c->multi, easy) != CURLM_OK) {
                request_free(req);
                return -EIO;
        }
        req->in_multi = true;
        if (ret)
                *ret = req;
        return 0;
}
