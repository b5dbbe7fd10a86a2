/* SPDX-License-Identifier: MIT */
#pragma once

#include <time.h>

#include "http-download.h"
#include "macro.h"

/* Downloading one S3 object, signed with SigV4 (libcurl's CURLOPT_AWS_SIGV4), through
 * http-download (ETag cache, sha256, retries).
 *
 * URLs: s3://bucket/key; virtual-hosted https://bucket.s3.REGION.amazonaws.com/key,
 * https://bucket.s3-REGION.amazonaws.com/key, https://bucket.s3.amazonaws.com/key; path-style
 * https://s3.REGION.amazonaws.com/bucket/key, https://s3.amazonaws.com/bucket/key. The region is
 * the source's `region`, else the URL's, else us-east-1. With `endpoint` (an S3-compatible
 * store, "http(s)://host[:port]") the object is asked for path-style there.
 * Credentials: the source's keys, else $AWS_ACCESS_KEY_ID / $AWS_SECRET_ACCESS_KEY /
 * $AWS_SESSION_TOKEN, else the instance profile (imds.h). */

#define S3_REGION_DEFAULT "us-east-1"
/* A server Date further than this from our clock is reported as clock skew. */
#define S3_CLOCK_SKEW_MAX_SEC (5 * 60)

typedef struct S3Source {
        const char *url;
        const char *region;   /* NULL: from the URL, else S3_REGION_DEFAULT */
        const char *endpoint; /* NULL: AWS */
        const char *access_key_id, *secret_access_key, *session_token; /* NULL: see above */
} S3Source;

typedef struct S3Location {
        char *bucket;
        char *key; /* without the leading '/', as in the URL (percent-encoded) */
        char *region;
        char *url; /* what is requested */
} S3Location;

/* Parses s->url with s->region and s->endpoint. Errors name the URL and what was expected. */
int s3_location(const S3Source *s, S3Location *ret, char **ret_error);
void s3_location_done(S3Location *l);

/* Downloads the object. `http` gives cache_dir, ca_file, sha256 and the retry knobs (its
 * headers, setup, describe_error and auth are S3's own); imds_endpoint NULL: the default. */
int s3_download(const S3Source *s, const HttpDownloadOptions *http, const char *imds_endpoint,
                HttpDownloadResult *ret, char **ret_error);

/* "clock skew: this machine's clock is N s off the server's" when the HTTP date differs from
 * `now` by more than S3_CLOCK_SKEW_MAX_SEC; NULL when it does not, cannot be parsed, or out of
 * memory. N is signed: positive when this machine is ahead. */
char *s3_clock_skew(const char *date, time_t now);

/* The detail of an S3 error response: "Code: Message" (or what of them is there); NULL when the
 * body is not an S3 error document. */
char *s3_error_detail(const char *body);
