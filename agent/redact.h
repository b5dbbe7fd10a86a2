/* SPDX-License-Identifier: MIT */
#pragma once

#include "macro.h"

/* Keeps secrets out of logs. Secrets are the string values, anywhere in the stack description
 * and the command, of keys that name one: password, passwd, secret, token, ssh_key,
 * private_key, key (the SSL key), and any key ending in _password, _secret, _token or _key
 * (numbers count, as written in JSON; a list or map under such a key counts whole).
 * Every occurrence of such a value (4 bytes or longer) in a log line becomes "********". */

typedef struct Redactor {
        char **secrets; /* longest first, so a secret containing another is masked whole */
} Redactor;

int redactor_add_from(Redactor *r, json_object *doc);
/* A copy of s with every secret masked; NULL on OOM. */
char *redact(const Redactor *r, const char *s);
/* Masks the secrets in every string value of doc, in place. */
int redact_json(const Redactor *r, json_object *doc);
void redactor_done(Redactor *r);

#define REDACTED "********"
