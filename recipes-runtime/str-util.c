/* SPDX-License-Identifier: MIT */

#include <limits.h>

#include "str-util.h"

char *strfv(const char *fmt, va_list ap) {
        char *s;

        if (vasprintf(&s, fmt, ap) < 0)
                return NULL;
        return s;
}

char *strf(const char *fmt, ...) {
        va_list ap;
        char *s;

        va_start(ap, fmt);
        s = strfv(fmt, ap);
        va_end(ap);
        return s;
}

/* *ret_error is an output: whatever it held is not read (nor freed), like every ret_ parameter.
 * Out of memory leaves it NULL; the errno still tells the caller something failed. */
int error_set(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;

        if (ret_error) {
                va_start(ap, fmt);
                *ret_error = strfv(fmt, ap);
                va_end(ap);
        }
        return r;
}

/* A callee that failed without a message (out of memory) still leaves the prefix behind, so the
 * caller's context is never lost. On allocation failure *error stays as it was. */
void error_prefix(char **error, const char *fmt, ...) {
        _cleanup_free_ char *prefix = NULL;
        char *joined;
        va_list ap;

        if (!error)
                return;

        va_start(ap, fmt);
        prefix = strfv(fmt, ap);
        va_end(ap);
        if (!prefix)
                return;

        if (!*error) {
                *error = TAKE_PTR(prefix);
                return;
        }

        joined = strf("%s: %s", prefix, *error);
        if (!joined)
                return;
        free(*error);
        *error = joined;
}

bool startswith(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool endswith(const char *s, const char *suffix) {
        size_t l = strlen(s), k = strlen(suffix);

        return l >= k && memcmp(s + l - k, suffix, k) == 0;
}

size_t strv_length(char *const *l) {
        size_t n = 0;

        if (!l)
                return 0;
        while (l[n])
                n++;
        return n;
}

int strv_push(char ***l, char *value) {
        size_t n;
        char **c;

        if (!value)
                return -EINVAL;

        n = strv_length(*l);
        c = reallocarray(*l, n + 2, sizeof(char *));
        if (!c) {
                free(value);
                return -ENOMEM;
        }
        c[n] = value;
        c[n + 1] = NULL;
        *l = c;
        return 0;
}

int strv_extend(char ***l, const char *value) {
        char *v;

        v = strdup(value);
        if (!v)
                return -ENOMEM;
        return strv_push(l, v);
}

/* A NULL vector copies to an empty one, so NULL always means out of memory. */
char **strv_copy(char *const *l) {
        size_t n = strv_length(l);
        _cleanup_strv_free_ char **c = NULL;

        c = calloc(n + 1, sizeof(char *));
        if (!c)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                c[i] = strdup(l[i]);
                if (!c[i])
                        return NULL;
        }
        return TAKE_PTR(c);
}

bool strv_contains(char *const *l, const char *s) {
        if (!l)
                return false;
        for (char *const *i = l; *i; i++)
                if (streq(*i, s))
                        return true;
        return false;
}

/* A NULL separator means a single space. */
char *strv_join(char *const *l, const char *sep) {
        size_t n = 0, k;
        char *r, *p;

        if (!sep)
                sep = " ";
        k = strlen(sep);

        for (char *const *i = l; i && *i; i++)
                n += strlen(*i) + (i == l ? 0 : k);

        r = malloc(n + 1);
        if (!r)
                return NULL;

        p = r;
        for (char *const *i = l; i && *i; i++) {
                if (i != l)
                        p = mempcpy(p, sep, k);
                p = mempcpy(p, *i, strlen(*i));
        }
        *p = 0;
        return r;
}

/* Decimal digits only: no whitespace, no base prefixes, which strtoll would quietly accept. */
static int parse_digits(const char *s, unsigned base, uint64_t limit, uint64_t *ret) {
        uint64_t v = 0;

        if (!s || !*s)
                return -EINVAL;

        for (const char *p = s; *p; p++) {
                unsigned d;

                if (*p < '0' || *p > '9')
                        return -EINVAL;
                d = (unsigned)(*p - '0');
                if (d >= base)
                        return -EINVAL;
                if (v > (limit - d) / base)
                        return -ERANGE;
                v = v * base + d;
        }

        *ret = v;
        return 0;
}

int parse_int64(const char *s, int64_t *ret) {
        bool negative = false;
        uint64_t v;
        int r;

        if (!s)
                return -EINVAL;
        if (*s == '-' || *s == '+') {
                negative = *s == '-';
                s++;
        }

        r = parse_digits(s, 10, negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, &v);
        if (r < 0)
                return r;

        *ret = negative ? (int64_t)(0 - v) : (int64_t)v;
        return 0;
}

int parse_uint32(const char *s, uint32_t *ret) {
        uint64_t v;
        int r;

        r = parse_digits(s, 10, UINT32_MAX, &v);
        if (r < 0)
                return r;

        *ret = (uint32_t)v;
        return 0;
}

int parse_mode(const char *s, mode_t *ret) {
        uint64_t v;
        int r;

        if (s && startswith(s, "0o"))
                s += 2;

        r = parse_digits(s, 8, 07777, &v);
        if (r < 0)
                return r;

        *ret = (mode_t)v;
        return 0;
}

static int strbuf_reserve(StrBuf *b, size_t n) {
        size_t need, a;
        char *d;

        if (n > SIZE_MAX - b->len - 1)
                return -E2BIG;
        if (b->max > 0 && b->len + n > b->max)
                return -E2BIG;

        need = b->len + n + 1;
        if (need <= b->allocated)
                return 0;

        a = MAX(need, MAX(b->allocated * 2, (size_t)64));
        if (b->max > 0)
                a = MIN(a, b->max + 1);
        d = realloc(b->data, a);
        if (!d)
                return -ENOMEM;
        b->data = d;
        b->allocated = a;
        return 0;
}

int strbuf_append(StrBuf *b, const char *p, size_t n) {
        int r;

        r = strbuf_reserve(b, n);
        if (r < 0)
                return r;

        if (n > 0)
                memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = 0;
        return 0;
}

int strbuf_appends(StrBuf *b, const char *s) {
        return strbuf_append(b, s, strlen(s));
}

int strbuf_printf(StrBuf *b, const char *fmt, ...) {
        va_list ap;
        int n, r;

        va_start(ap, fmt);
        n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -EINVAL;

        r = strbuf_reserve(b, (size_t)n);
        if (r < 0)
                return r;

        va_start(ap, fmt);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
        b->len += (size_t)n;
        return 0;
}

/* Leaves the buffer empty with the same max, ready for reuse. */
char *strbuf_steal(StrBuf *b) {
        char *d;

        if (!b->data)
                return strdup("");

        d = b->data;
        b->data = NULL;
        b->len = b->allocated = 0;
        return d;
}

void strbuf_done(StrBuf *b) {
        free(b->data);
        b->data = NULL;
        b->len = b->allocated = 0;
}

char *http_header_value(const char *p, size_t len, size_t max) {
        while (len > 0 && (*p == ' ' || *p == '\t'))
                p++, len--;
        while (len > 0 && (p[len - 1] == '\r' || p[len - 1] == '\n' || p[len - 1] == ' '))
                len--;
        if (len == 0 || len > max)
                return NULL;
        for (size_t i = 0; i < len; i++)
                if (p[i] < 0x20 || p[i] > 0x7e)
                        return NULL;
        return strndup(p, len);
}
