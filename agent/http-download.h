/* SPDX-License-Identifier: MIT */
#pragma once

#include <curl/curl.h>
#include <time.h>

#include "macro.h"

/* Downloading one http(s) URL into a download cache, for the fetch helper (a short-lived,
 * unprivileged process: the transfer blocks, driven by libcurl's multi interface).
 *
 * The file of a URL is <cache_dir>/downloads/<sha256 of the URL>, its validators (ETag,
 * Last-Modified, the file's sha256) in <...>.json beside it. A later download of the same URL
 * sends If-None-Match / If-Modified-Since; a 304 reuses the cached file. Only a complete,
 * verified file is ever kept (written to a temporary file, then renamed); concurrent downloads
 * of one URL take turns on <...>.lock.
 *
 * Retries: on a 5xx and on connection-level errors (refused, reset, timeout, nothing
 * received), with exponential backoff; never on a 4xx or on a sha256 mismatch.
 * Proxies: libcurl's own http_proxy/https_proxy/all_proxy; $NO_PROXY / $no_proxy are combined
 * with 169.254.169.254 (the instance metadata service is never proxied). TLS peers are always
 * verified. Errors name the URL without its credentials. */

#define HTTP_DOWNLOAD_ATTEMPTS_DEFAULT 4
#define HTTP_DOWNLOAD_RETRY_DELAY_DEFAULT (1 * USEC_PER_SEC)
#define HTTP_DOWNLOAD_RETRY_DELAY_MAX_DEFAULT (8 * USEC_PER_SEC)
#define HTTP_DOWNLOAD_CONNECT_TIMEOUT_DEFAULT (30 * USEC_PER_SEC)
/* A transfer slower than 1 KiB/s for 60 s is aborted. */
#define HTTP_DOWNLOAD_LOW_SPEED_BYTES_DEFAULT 1024
#define HTTP_DOWNLOAD_LOW_SPEED_TIME_DEFAULT (60 * USEC_PER_SEC)
#define HTTP_DOWNLOAD_MAX_SIZE_DEFAULT ((uint64_t)4 << 30)
#define HTTP_DOWNLOAD_MAX_REDIRECTS 10
/* What is kept of an error response's body, for describe_error. */
#define HTTP_DOWNLOAD_ERROR_BODY_MAX (64 * 1024)

typedef struct HttpDownloadOptions {
        const char *cache_dir; /* required; downloads/ is created in it (0700) */
        const char *username;  /* basic auth when non-NULL */
        const char *password;
        char *const *headers; /* extra request headers "Name: value"; NULL-terminated or NULL */
        const char *sha256;   /* expected sha256 of the file (hex); NULL: not checked */
        const char *ca_file;  /* extra CA bundle; NULL: the system's */

        /* Called on every attempt's handle after the defaults are set (S3: SigV4). Returns 0 or
         * a negative errno with *ret_error set. */
        int (*setup)(CURL *curl, void *userdata, char **ret_error);
        /* Called on an HTTP error status: returns a malloc'd detail for the error text (e.g. an
         * S3 error's Code and Message), or NULL to say only the status. body is what the server
         * sent (at most HTTP_DOWNLOAD_ERROR_BODY_MAX bytes, NUL-terminated), date its Date
         * header or NULL. */
        char *(*describe_error)(long status, const char *body, const char *date, void *userdata);
        void *userdata;

        /* 0: the defaults above. Tests make the delays short. */
        unsigned attempts;
        usec_t retry_delay; /* before the 2nd attempt; doubled for each next one */
        usec_t retry_delay_max;
        usec_t connect_timeout;
        usec_t low_speed_time;
        uint64_t max_size;
} HttpDownloadOptions;

typedef struct HttpDownloadResult {
        char *path;        /* the cached file */
        char *etag;        /* the server's ETag, NULL without one */
        char *sha256;      /* of the file, hex */
        bool downloaded;   /* false: the server said 304 and the cached file was reused */
        unsigned attempts; /* requests made */
} HttpDownloadResult;

/* Downloads url (http or https). On success *ret is filled (free with
 * http_download_result_done()); on failure *ret_error says what went wrong. */
int http_download(const char *url, const HttpDownloadOptions *o, HttpDownloadResult *ret,
                  char **ret_error);
void http_download_result_done(HttpDownloadResult *r);

/* url without user:password@ and without the query string (which may hold a signature), for
 * logs and errors. NULL when out of memory. */
char *http_url_mask(const char *url);

/* Runs one prepared easy handle to completion on a multi handle of its own (polled here, so it
 * blocks) and returns the transfer's result. For other small requests of the fetch helper. */
CURLcode http_perform(CURL *c);

/* The value for CURLOPT_NOPROXY: $NO_PROXY and $no_proxy combined with 169.254.169.254 ("*"
 * when either is "*"). NULL when out of memory. */
char *http_no_proxy(void);
