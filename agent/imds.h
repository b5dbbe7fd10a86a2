/* SPDX-License-Identifier: MIT */
#pragma once

#include <time.h>

#include "macro.h"

/* The EC2 instance metadata service, version 2 (a session token first), for the credentials of
 * the instance profile: PUT /latest/api/token, GET /latest/meta-data/iam/security-credentials/
 * (the role), GET .../<role>. Never through a proxy, with short timeouts. */

#define IMDS_ENDPOINT_DEFAULT "http://169.254.169.254"
/* Credentials this close to their Expiration are fetched again. */
#define IMDS_REFRESH_MARGIN_SEC (5 * 60)

typedef struct ImdsCredentials {
        char *access_key_id;
        char *secret_access_key;
        char *session_token;
        time_t expiration;
} ImdsCredentials;

/* Asks the service at endpoint (NULL: IMDS_ENDPOINT_DEFAULT) for the role's credentials. Errors
 * start with "no instance profile: " when no role could be had. */
int imds_fetch_credentials(const char *endpoint, ImdsCredentials *ret, char **ret_error);
void imds_credentials_done(ImdsCredentials *c);

/* The same, cached in this process (per endpoint) until IMDS_REFRESH_MARGIN_SEC before their
 * Expiration, judged at `now`. *ret stays valid until the next call or imds_forget(). */
int imds_credentials(const char *endpoint, time_t now, const ImdsCredentials **ret,
                     char **ret_error);
/* Drops the cached credentials. */
void imds_forget(void);
