/* SPDX-License-Identifier: MIT */
#include <strings.h>

#include "redact.h"
#include "str-util.h"

#define SECRET_MIN 4U

static bool key_is_secret(const char *key) {
        static const char *const names[] = { "password", "passwd", "secret", "token",
                                             "ssh_key", "private_key", "key" };
        static const char *const suffixes[] = { "_password", "_secret", "_token", "_key" };
        size_t n = strlen(key);

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (strcasecmp(key, names[i]) == 0)
                        return true;
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                size_t m = strlen(suffixes[i]);

                if (n > m && strcasecmp(key + n - m, suffixes[i]) == 0)
                        return true;
        }
        return false;
}

static int add_secret(Redactor *r, const char *s) {
        size_t n;

        if (strlen(s) < SECRET_MIN || strv_contains(r->secrets, s))
                return 0;
        if (strv_extend(&r->secrets, s) < 0)
                return -ENOMEM;
        /* Keep longest first. */
        n = strv_length(r->secrets);
        for (size_t i = n - 1; i > 0 && strlen(r->secrets[i]) > strlen(r->secrets[i - 1]); i--) {
                char *t = r->secrets[i];
                r->secrets[i] = r->secrets[i - 1];
                r->secrets[i - 1] = t;
        }
        return 0;
}

/* Adds every string under v (a secret key's value may be a list or a map of strings). A number
 * (a PIN, a numeric password) reaches templates and logs in its JSON spelling. */
static int add_all(Redactor *r, json_object *v) {
        int k;

        if (json_object_is_type(v, json_type_string) || json_object_is_type(v, json_type_int) ||
            json_object_is_type(v, json_type_double))
                return add_secret(r, json_object_get_string(v));
        if (json_object_is_type(v, json_type_array))
                for (size_t i = 0; i < json_object_array_length(v); i++) {
                        k = add_all(r, json_object_array_get_idx(v, i));
                        if (k < 0)
                                return k;
                }
        else if (json_object_is_type(v, json_type_object)) {
                json_object_object_foreach(v, key, val) {
                        (void) key;
                        k = add_all(r, val);
                        if (k < 0)
                                return k;
                }
        }
        return 0;
}

int redactor_add_from(Redactor *r, json_object *doc) {
        int k;

        if (json_object_is_type(doc, json_type_array)) {
                for (size_t i = 0; i < json_object_array_length(doc); i++) {
                        k = redactor_add_from(r, json_object_array_get_idx(doc, i));
                        if (k < 0)
                                return k;
                }
                return 0;
        }
        if (!json_object_is_type(doc, json_type_object))
                return 0;
        json_object_object_foreach(doc, key, val) {
                k = key_is_secret(key) ? add_all(r, val) : redactor_add_from(r, val);
                if (k < 0)
                        return k;
        }
        return 0;
}

char *redact(const Redactor *r, const char *s) {
        _cleanup_free_ char *cur = strdup(s);

        if (!cur)
                return NULL;
        for (char **secret = r->secrets; secret && *secret; secret++) {
                _cleanup_(strbuf_done) StrBuf b = {};
                const char *p = cur, *hit;
                size_t n = strlen(*secret);

                if (!strstr(cur, *secret))
                        continue;
                while ((hit = strstr(p, *secret))) {
                        if (strbuf_append(&b, p, (size_t) (hit - p)) < 0 ||
                            strbuf_appends(&b, REDACTED) < 0)
                                return NULL;
                        p = hit + n;
                }
                if (strbuf_appends(&b, p) < 0)
                        return NULL;
                free(cur);
                cur = strbuf_steal(&b);
                if (!cur)
                        return NULL;
        }
        return TAKE_PTR(cur);
}

int redact_json(const Redactor *r, json_object *doc) {
        int k;

        if (json_object_is_type(doc, json_type_string)) {
                _cleanup_free_ char *clean = redact(r, json_object_get_string(doc));

                if (!clean)
                        return -ENOMEM;
                if (!streq(clean, json_object_get_string(doc)) &&
                    json_object_set_string(doc, clean) != 1)
                        return -ENOMEM;
                return 0;
        }
        if (json_object_is_type(doc, json_type_array)) {
                for (size_t i = 0; i < json_object_array_length(doc); i++) {
                        k = redact_json(r, json_object_array_get_idx(doc, i));
                        if (k < 0)
                                return k;
                }
                return 0;
        }
        if (!json_object_is_type(doc, json_type_object))
                return 0;
        json_object_object_foreach(doc, key, val) {
                (void) key;
                k = redact_json(r, val);
                if (k < 0)
                        return k;
        }
        return 0;
}

void redactor_done(Redactor *r) {
        strv_free(r->secrets);
        r->secrets = NULL;
}
