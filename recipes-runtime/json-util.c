/* SPDX-License-Identifier: MIT */

#include <limits.h>

#include "fs-util.h"
#include "json-util.h"
#include "str-util.h"
#include "yaml-load.h"

/* json-c's strict mode still takes single quotes, NaN, Infinity, "-01", "2.", raw tabs and
 * newlines in strings. So a small RFC 8259 checker walks the text first and says precisely
 * what it expected where; json-c then only builds the objects from text known to be valid. */
typedef struct JsonCheck {
        const unsigned char *text;
        size_t len;
        size_t pos;
        unsigned depth;

        /* The first error: where, json-c's name for its kind, and what we wanted instead. */
        size_t error_pos;
        enum json_tokener_error error;
        const char *expected;
} JsonCheck;

static int check_value(JsonCheck *c);

/* json-c's words for the kind of error come first, so messages read like json-c's own; most
 * are simply "unexpected character" ("unexpected end of data" at the end), and `expected` says
 * the rest. */
static int check_fail(JsonCheck *c, enum json_tokener_error error, const char *expected) {
        c->error_pos = c->pos;
        c->error = c->pos >= c->len ? json_tokener_error_parse_eof : error;
        c->expected = expected;
        return -EINVAL;
}

static int check_unexpected(JsonCheck *c, const char *expected) {
        return check_fail(c, json_tokener_error_parse_unexpected, expected);
}

static int peek(const JsonCheck *c) {
        return c->pos < c->len ? c->text[c->pos] : -1;
}

static bool is_digit(int ch) {
        return ch >= '0' && ch <= '9';
}

static bool is_hex_digit(int ch) {
        return is_digit(ch) || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

static bool is_space(int ch) {
        return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static void skip_whitespace(JsonCheck *c) {
        while (is_space(peek(c)))
                c->pos++;
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong forms, no surrogates,
 * nothing past U+10FFFF), or 0. */
static size_t utf8_sequence_length(const unsigned char *p, size_t left) {
        unsigned char lo = 0x80, hi = 0xBF;
        size_t n;

        if (p[0] >= 0xC2 && p[0] <= 0xDF)
                n = 2;
        else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
                n = 3;
                if (p[0] == 0xE0)
                        lo = 0xA0;
                else if (p[0] == 0xED)
                        hi = 0x9F;
        } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
                n = 4;
                if (p[0] == 0xF0)
                        lo = 0x90;
                else if (p[0] == 0xF4)
                        hi = 0x8F;
        } else
                return 0;

        if (left < n || p[1] < lo || p[1] > hi)
                return 0;
        for (size_t i = 2; i < n; i++)
                if (p[i] < 0x80 || p[i] > 0xBF)
                        return 0;
        return n;
}

static int check_literal(JsonCheck *c, const char *word, const char *expected) {
        size_t n = strlen(word);

        for (size_t i = 0; i < n; i++) {
                if (peek(c) != word[i])
                        return check_unexpected(c, expected);
                c->pos++;
        }
        return 0;
}

static int check_digits(JsonCheck *c, const char *expected) {
        if (!is_digit(peek(c)))
                return check_unexpected(c, expected);
        while (is_digit(peek(c)))
                c->pos++;
        return 0;
}

static int check_number(JsonCheck *c) {
        int r;

        if (peek(c) == '-')
                c->pos++;

        if (peek(c) == '0') {
                c->pos++;
                if (is_digit(peek(c)))
                        return check_unexpected(c, "expected no leading zeros");
        } else {
                r = check_digits(c, "expected a digit");
                if (r < 0)
                        return r;
        }

        if (peek(c) == '.') {
                c->pos++;
                r = check_digits(c, "expected a digit after '.'");
                if (r < 0)
                        return r;
        }

        if (peek(c) == 'e' || peek(c) == 'E') {
                c->pos++;
                if (peek(c) == '+' || peek(c) == '-')
                        c->pos++;
                r = check_digits(c, "expected a digit in the exponent");
                if (r < 0)
                        return r;
        }
        return 0;
}

static int check_string(JsonCheck *c) {
        c->pos++; /* the opening quote */

        for (;;) {
                int ch = peek(c);

                if (ch < 0)
                        return check_fail(c, json_tokener_error_parse_eof,
                                          "expected a closing '\"'");
                if (ch == '"') {
                        c->pos++;
                        return 0;
                }
                if (ch < 0x20)
                        return check_fail(c, json_tokener_error_parse_string,
                                          "expected control characters to be escaped");

                if (ch == '\\') {
                        c->pos++;
                        ch = peek(c);
                        if (ch == 'u') {
                                c->pos++;
                                for (unsigned i = 0; i < 4; i++, c->pos++)
                                        if (!is_hex_digit(peek(c)))
                                                return check_fail(
                                                        c, json_tokener_error_parse_string,
                                                        "expected four hex digits after \\u");
                        } else if (ch > 0 && strchr("\"\\/bfnrt", ch)) { /* ch 0 matches "" */
                                c->pos++;
                        } else
                                return check_fail(c, json_tokener_error_parse_string,
                                                  "expected an escape (\\\" \\\\ \\/ \\b \\f \\n "
                                                  "\\r \\t \\uXXXX)");
                } else if (ch < 0x80) {
                        c->pos++;
                } else {
                        size_t n = utf8_sequence_length(c->text + c->pos, c->len - c->pos);

                        if (n == 0)
                                return check_fail(c, json_tokener_error_parse_utf8_string,
                                                  "expected UTF-8 text");
                        c->pos += n;
                }
        }
}

static int check_nesting(JsonCheck *c) {
        if (c->depth >= JSON_DEPTH_MAX)
                return check_fail(
                        c, json_tokener_error_depth,
                        "expected at most " STRINGIFY(JSON_DEPTH_MAX) " nested arrays and objects");
        c->depth++;
        c->pos++; /* the opening bracket */
        skip_whitespace(c);
        return 0;
}

static int check_array(JsonCheck *c) {
        int r;

        r = check_nesting(c);
        if (r < 0)
                return r;

        if (peek(c) != ']')
                for (;;) {
                        r = check_value(c);
                        if (r < 0)
                                return r;
                        skip_whitespace(c);
                        if (peek(c) != ',')
                                break;
                        c->pos++;
                }

        if (peek(c) != ']')
                return check_unexpected(c, "expected ',' or ']'");
        c->pos++;
        c->depth--;
        return 0;
}

static int check_object(JsonCheck *c) {
        int r;

        r = check_nesting(c);
        if (r < 0)
                return r;

        if (peek(c) != '}')
                for (;;) {
                        if (peek(c) != '"')
                                return check_unexpected(
                                        c, "expected a property name in double quotes");
                        r = check_string(c);
                        if (r < 0)
                                return r;
                        skip_whitespace(c);
                        if (peek(c) != ':')
                                return check_unexpected(c, "expected ':'");
                        c->pos++;
                        r = check_value(c);
                        if (r < 0)
                                return r;
                        skip_whitespace(c);
                        if (peek(c) != ',')
                                break;
                        c->pos++;
                        skip_whitespace(c);
                }

        if (peek(c) != '}')
                return check_unexpected(c, "expected ',' or '}'");
        c->pos++;
        c->depth--;
        return 0;
}

static int check_value(JsonCheck *c) {
        int ch;

        skip_whitespace(c);
        ch = peek(c);

        switch (ch) {
        case '{':
                return check_object(c);
        case '[':
                return check_array(c);
        case '"':
                return check_string(c);
        case 't':
                return check_literal(c, "true", "expected true");
        case 'f':
                return check_literal(c, "false", "expected false");
        case 'n':
                return check_literal(c, "null", "expected null");
        default:
                if (ch == '-' || is_digit(ch))
                        return check_number(c);
                /* Editors on some systems add a byte order mark, which RFC 8259 forbids. */
                if (c->pos == 0 && c->len >= 3 && memcmp(c->text, "\xEF\xBB\xBF", 3) == 0)
                        return check_unexpected(
                                c, "expected a JSON value, not a UTF-8 byte order mark");
                return check_unexpected(
                        c, "expected a JSON value (object, array, string, number, true, "
                           "false or null)");
        }
}

static int check_document(JsonCheck *c) {
        int r;

        r = check_value(c);
        if (r < 0)
                return r;

        skip_whitespace(c);
        if (c->pos < c->len)
                return check_unexpected(c, "expected the end of the document after the JSON value");
        return 0;
}

static void json_tokener_freep(struct json_tokener **t) {
        if (*t)
                json_tokener_free(*t);
}

int json_parse_strict(const char *what, const char *text, size_t len, json_object **ret,
                      char **ret_error) {
        _cleanup_(json_tokener_freep) struct json_tokener *tok = NULL;
        _cleanup_json_ json_object *o = NULL;
        JsonCheck c = {
                .text = (const unsigned char *)text,
                .len = len,
        };
        enum json_tokener_error e;

        what = what ?: "JSON";

        if (len > DOCUMENT_MAX)
                return error_set(ret_error, -EFBIG, "%s: %zu bytes, expected at most %u", what, len,
                                 DOCUMENT_MAX);

        if (check_document(&c) < 0)
                return error_set(ret_error, -EINVAL, "%s: byte %zu: %s, %s", what, c.error_pos,
                                 json_tokener_error_desc(c.error), c.expected);

        /* Depth + 1: json-c counts the top level as well. The checker already bounded it. */
        tok = json_tokener_new_ex(JSON_DEPTH_MAX + 1);
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT
#ifdef JSON_TOKENER_VALIDATE_UTF8
                                            | JSON_TOKENER_VALIDATE_UTF8
#endif
        );

        o = json_tokener_parse_ex(tok, text, (int)len);
        e = json_tokener_get_error(tok);
        /* A number at the very end could still go on: a NUL tells json-c the input ended. */
        if (e == json_tokener_continue) {
                o = json_tokener_parse_ex(tok, "", 1);
                e = json_tokener_get_error(tok);
        }
        if (e != json_tokener_success)
                return error_set(ret_error, -EINVAL, "%s: byte %zu: %s, expected valid JSON", what,
                                 json_tokener_get_parse_end(tok), json_tokener_error_desc(e));

        *ret = TAKE_PTR(o);
        return 0;
}

/* Files named neither .json nor .yaml/.yml are JSON when they start like JSON. YAML flow style
 * also starts with '{' or '[', but JSON's errors are the more precise ones for such a file. */
static bool looks_like_json(const char *text, size_t len) {
        for (size_t i = 0; i < len; i++)
                if (!is_space((unsigned char)text[i]))
                        return text[i] == '{' || text[i] == '[';
        return false;
}

int attributes_load_file(const char *path, json_object **ret, char **ret_error) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        if (endswith(path, ".yaml") || endswith(path, ".yml"))
                return yaml_load_file(path, ret, ret_error);

        r = read_full_file(path, DOCUMENT_MAX, &text, &len);
        if (r == -EFBIG)
                return error_set(ret_error, r, "%s: larger than %u bytes", path, DOCUMENT_MAX);
        if (r < 0)
                return error_set(ret_error, r, "%s: cannot read: %s", path, strerror(-r));

        if (endswith(path, ".json") || looks_like_json(text, len))
                return json_parse_strict(path, text, len, ret, ret_error);
        return yaml_load(path, text, len, ret, ret_error);
}

int json_merge(json_object *dst, json_object *src) {
        if (!json_object_is_type(dst, json_type_object))
                return -EINVAL;
        if (!src || src == dst)
                return 0;
        if (!json_object_is_type(src, json_type_object))
                return -EINVAL;

        json_object_object_foreach (src, key, value) {
                json_object *old = json_object_object_get(dst, key), *copy = NULL;
                int r;

                if (json_object_is_type(old, json_type_object) &&
                    json_object_is_type(value, json_type_object)) {
                        r = json_merge(old, value);
                        if (r < 0)
                                return r;
                        continue;
                }

                /* A copy, so later changes to dst never show through in src. */
                r = yaml_copy(value, &copy);
                if (r < 0)
                        return r;
                if (json_object_object_add(dst, key, copy) < 0) {
                        json_object_put(copy);
                        return -ENOMEM;
                }
        }
        return 0;
}

json_object *json_get_path(json_object *root, const char *path) {
        json_object *o = root;
        const char *p = path;

        for (;;) {
                _cleanup_free_ char *key = NULL;
                size_t n = strcspn(p, ".");

                if (n == 0)
                        return NULL;
                key = strndup(p, n);
                if (!key)
                        return NULL;
                if (!json_object_is_type(o, json_type_object) ||
                    !json_object_object_get_ex(o, key, &o))
                        return NULL;

                if (p[n] == 0)
                        return o;
                p += n + 1;
        }
}

const char *json_get_string(json_object *o, const char *key) {
        json_object *v;

        if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v) ||
            !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}
