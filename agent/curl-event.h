/* SPDX-License-Identifier: MIT */
#pragma once

#include <curl/curl.h>
#include <systemd/sd-event.h>

#include "macro.h"

/* libcurl's multi interface driven by an sd-event loop: curl's sockets become io sources and
 * its timeout one reused timer, so HTTP never blocks the loop.
 *
 * The caller sets up an easy handle (URL, headers, body, TLS) and hands it over with
 * curl_event_start(); the request owns it from then on. The response body is collected up to
 * a maximum (past it the transfer fails with CURLE_WRITE_ERROR and body_too_large set). A
 * streaming request (on_data set) hands its bytes over as they come instead, never more than
 * the maximum at once. Callbacks are called from the event loop, never from inside libcurl:
 * they may start and cancel requests, this one included. on_done is called once, then the
 * request is freed (cancelling it from inside on_done does nothing). */

typedef struct CurlEvent CurlEvent;
typedef struct CurlRequest CurlRequest;

typedef struct CurlResponse {
        CURLcode code;     /* CURLE_OK: an HTTP answer came */
        long status;       /* the HTTP status, 0 without an answer */
        const char *error; /* curl's words when code != CURLE_OK */
        const char *body;  /* NUL-terminated; what was not streamed */
        size_t len;
        bool body_too_large;
} CurlResponse;

/* Streamed bytes; to stop the transfer, cancel the request. */
typedef void (*curl_request_data_t)(CurlRequest *req, const char *data, size_t len, void *userdata);
typedef void (*curl_request_done_t)(CurlRequest *req, const CurlResponse *response, void *userdata);

int curl_event_new(sd_event *event, CurlEvent **ret);
/* Frees the pending requests without calling them back. */
CurlEvent *curl_event_free(CurlEvent *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(CurlEvent *, curl_event_free);

/* Takes easy and headers (its CURLOPT_HTTPHEADER list, may be NULL), also on failure. ret may
 * be NULL when the caller never cancels. */
int curl_event_start(CurlEvent *c, CURL *easy, struct curl_slist *headers, size_t max_body,
                     curl_request_data_t on_data, curl_request_done_t on_done, void *userdata,
                     CurlRequest **ret);
/* Stops a request without calling it back; NULL is fine. Returns NULL. */
CurlRequest *curl_request_cancel(CurlRequest *req);
