/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdarg.h>
#include <sys/types.h>

#include "macro.h"

/* Formats a malloc'd string; NULL when out of memory. */
char *strf(const char *fmt, ...) _printf_(1, 2);
/* The value of an HTTP response header line "Name: value\r\n" after its name (`p`, `len` start
 * past the colon), as it may be sent back verbatim in a later request (ETag, Last-Modified):
 * trimmed, printable ASCII, at most `max` bytes; NULL otherwise or without memory. */
char *http_header_value(const char *p, size_t len, size_t max);
char *strfv(const char *fmt, va_list ap) _printf_(1, 0);

/* Sets *ret_error (when ret_error is non-NULL) to a formatted message and returns r (< 0).
 * Lets a helper say what went wrong and hand the errno back in one statement. */
int error_set(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);

/* Prefixes an existing *error with "prefix: ". */
void error_prefix(char **error, const char *fmt, ...) _printf_(2, 3);

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

bool startswith(const char *s, const char *prefix);
bool endswith(const char *s, const char *suffix);

/* NULL-terminated string vectors. */
size_t strv_length(char *const *l);
int strv_push(char ***l, char *value);          /* takes value, even on failure */
int strv_extend(char ***l, const char *value);  /* copies value */
char **strv_copy(char *const *l);               /* NULL copies to an empty vector */
bool strv_contains(char *const *l, const char *s);
char *strv_join(char *const *l, const char *sep); /* sep NULL: " " */

#define STRV_MAKE(...) ((char *const[]) { __VA_ARGS__, NULL })
#define STR_IN_SET(s, ...) strv_contains(STRV_MAKE(__VA_ARGS__), (s))

/* Checked number parsing: the whole string must be consumed. */
int parse_int64(const char *s, int64_t *ret);
int parse_uint32(const char *s, uint32_t *ret);
/* "0644", "644", "0o644": octal, at most 07777. */
int parse_mode(const char *s, mode_t *ret);

/* A growable byte buffer with a hard maximum. */
typedef struct StrBuf {
        char *data;
        size_t len;
        size_t allocated;
        size_t max; /* 0: unbounded */
} StrBuf;

int strbuf_append(StrBuf *b, const char *p, size_t n); /* -E2BIG past max */
int strbuf_appends(StrBuf *b, const char *s);
int strbuf_printf(StrBuf *b, const char *fmt, ...) _printf_(2, 3);
char *strbuf_steal(StrBuf *b); /* NUL-terminated, never NULL unless OOM */
void strbuf_done(StrBuf *b);
