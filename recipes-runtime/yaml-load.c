/* SPDX-License-Identifier: MIT */

#include <locale.h>
#include <math.h>
#include <yaml.h>

#include "fs-util.h"
#include "json-util.h"
#include "str-util.h"
#include "yaml-load.h"

typedef struct YamlLoader {
        const char *what;
        const char *text;
        size_t len;
        yaml_parser_t parser;
        char **ret_error;
} YamlLoader;

static int load_node(YamlLoader *l, const yaml_event_t *event, unsigned depth, json_object **ret);

/* Marks live in the userdata of mappings and sequences, which nothing else in Strata uses. */
static void mark_free(json_object *o _unused_, void *userdata) {
        free(userdata);
}

static int mark_set(json_object *o, YamlMark mark) {
        YamlMark *m;

        m = malloc(sizeof(YamlMark));
        if (!m)
                return -ENOMEM;
        *m = mark;
        json_object_set_userdata(o, m, mark_free);
        return 0;
}

bool yaml_mark(json_object *o, YamlMark *ret) {
        YamlMark *m;

        if (!json_object_is_type(o, json_type_object) && !json_object_is_type(o, json_type_array))
                return false;
        m = json_object_get_userdata(o);
        if (!m)
                return false;
        *ret = *m;
        return true;
}

/* json-c's own shallow copy leaves userdata behind, and its deep copy then refuses any it does
 * not know; this one carries the mark over and tells json-c it did (return 2). */
static int copy_with_mark(json_object *src, json_object *parent, const char *key, size_t index,
                          json_object **dst) {
        YamlMark m;
        int r;

        r = json_c_shallow_copy_default(src, parent, key, index, dst);
        if (r < 0 || !yaml_mark(src, &m))
                return r;
        if (mark_set(*dst, m) < 0)
                return -1;
        return 2;
}

int yaml_copy(json_object *src, json_object **ret) {
        json_object *c = NULL;

        if (src && json_object_deep_copy(src, &c, copy_with_mark) < 0)
                return -ENOMEM;
        *ret = c;
        return 0;
}

static YamlMark mark_from(yaml_mark_t m) {
        return (YamlMark){
                .line = (unsigned)m.line + 1,
                .column = (unsigned)m.column + 1,
        };
}

static int fail_at(YamlLoader *l, yaml_mark_t at, int r, const char *message) {
        YamlMark m = mark_from(at);

        return error_set(l->ret_error, r, "%s:%u:%u: %s", l->what, m.line, m.column, message);
}

/* The reader (encoding, control characters) reports a byte offset rather than a mark; count
 * lines and characters up to it so every error reads file:line:column. */
static yaml_mark_t mark_at_offset(const YamlLoader *l, size_t offset) {
        yaml_mark_t m = {};

        for (size_t i = 0; i < offset && i < l->len; i++) {
                unsigned char ch = (unsigned char)l->text[i];

                if (ch == '\n') {
                        m.line++;
                        m.column = 0;
                } else if ((ch & 0xC0) != 0x80)
                        m.column++;
        }
        return m;
}

static int parser_error(YamlLoader *l) {
        const yaml_parser_t *p = &l->parser;
        _cleanup_free_ char *message = NULL;

        if (p->error == YAML_MEMORY_ERROR)
                return -ENOMEM;

        /* libyaml often notices a problem only at the end of the file; where the construct it
         * was reading began is then the more useful place to look. */
        if (p->context && (p->context_mark.line != p->problem_mark.line ||
                           p->context_mark.column != p->problem_mark.column))
                message = strf("%s %s (started at line %zu, column %zu)", strempty(p->problem),
                               p->context, p->context_mark.line + 1, p->context_mark.column + 1);
        else if (p->context)
                message = strf("%s %s", strempty(p->problem), p->context);
        else
                message = strdup(p->problem ?: "malformed YAML");
        if (!message)
                return -ENOMEM;

        if (p->error == YAML_READER_ERROR)
                return fail_at(l, mark_at_offset(l, p->problem_offset), -EINVAL, message);
        return fail_at(l, p->problem_mark, -EINVAL, message);
}

static int next_event(YamlLoader *l, yaml_event_t *ret) {
        if (!yaml_parser_parse(&l->parser, ret))
                return parser_error(l);
        return 0;
}

static bool all_of(const char *s, const char *set) {
        return *s && strspn(s, set) == strlen(s);
}

/* YAML 1.2 core schema floats:
 * [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool is_json_number(const char *s) {
        const char *p = s;

        if (*p == '-')
                p++;
        if (*p == '0')
                p++;
        else if (*p >= '1' && *p <= '9')
                p += strspn(p, "0123456789");
        else
                return false;
        if (*p == '.') {
                size_t n = strspn(++p, "0123456789");
                if (n == 0)
                        return false;
                p += n;
        }
        if (*p == 'e' || *p == 'E') {
                size_t n;

                p++;
                if (*p == '+' || *p == '-')
                        p++;
                n = strspn(p, "0123456789");
                if (n == 0)
                        return false;
                p += n;
        }
        return *p == 0;
}

static bool is_core_float(const char *s) {
        size_t n;

        if (*s == '+' || *s == '-')
                s++;
        n = strspn(s, "0123456789");
        if (*s == '.') {
                if (strspn(s + 1, "0123456789") == 0)
                        return false;
                s += 1 + strspn(s + 1, "0123456789");
        } else {
                if (n == 0)
                        return false;
                s += n;
                if (*s == '.')
                        s += 1 + strspn(s + 1, "0123456789");
        }
        if (*s == 'e' || *s == 'E') {
                s++;
                if (*s == '+' || *s == '-')
                        s++;
                if (strspn(s, "0123456789") == 0)
                        return false;
                s += strspn(s, "0123456789");
        }
        return *s == 0;
}

/* Numbers past int64 or double stay strings rather than losing digits, and so do .inf and .nan
 * (core schema floats), which JSON cannot express. */
static int resolve_plain(const char *s, json_object **ret) {
        json_object *o;
        int64_t i;
        int r;

        if (STR_IN_SET(s, "", "~", "null", "Null", "NULL")) {
                *ret = NULL;
                return 0;
        }

        /* parse_int64() takes exactly the core schema's decimal integers, [-+]?[0-9]+. */
        r = parse_int64(s, &i);

        if (STR_IN_SET(s, "true", "True", "TRUE", "false", "False", "FALSE"))
                o = json_object_new_boolean(s[0] == 't' || s[0] == 'T');
        else if (r >= 0)
                o = json_object_new_int64(i);
        else if (r == -ERANGE)
                o = json_object_new_string(s);
        else if ((startswith(s, "0o") && all_of(s + 2, "01234567")) ||
                 (startswith(s, "0x") && all_of(s + 2, "0123456789abcdefABCDEF"))) {
                unsigned long long v;

                errno = 0;
                v = strtoull(s + 2, NULL, s[1] == 'o' ? 8 : 16);
                o = errno == 0 && v <= INT64_MAX ? json_object_new_int64((int64_t)v)
                                                 : json_object_new_string(s);
        } else if (is_core_float(s)) {
                locale_t c_locale;
                double d;

                /* The decimal point must not depend on the caller's locale. */
                c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
                if (!c_locale)
                        return -ENOMEM;
                d = strtod_l(s, NULL, c_locale);
                freelocale(c_locale);
                /* Keep the spelling ("1.10" stays 1.10, not 1.1) where it is also valid JSON,
                 * so a value printed back is what the author wrote. */
                if (!isfinite(d))
                        o = json_object_new_string(s);
                else if (is_json_number(s))
                        o = json_object_new_double_s(d, s);
                else
                        o = json_object_new_double(d);
        } else
                o = json_object_new_string(s);

        if (!o)
                return -ENOMEM;
        *ret = o;
        return 0;
}

static int load_scalar(const yaml_event_t *event, json_object **ret) {
        const char *value = (const char *)event->data.scalar.value;
        json_object *o;

        if (event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
                return resolve_plain(value, ret);

        o = json_object_new_string_len(value, (int)event->data.scalar.length);
        if (!o)
                return -ENOMEM;
        *ret = o;
        return 0;
}

static int new_collection(YamlLoader *l, const yaml_event_t *start, unsigned depth,
                          json_object *(*constructor)(void), json_object **ret) {
        _cleanup_json_ json_object *o = NULL;
        int r;

        if (depth >= YAML_DEPTH_MAX)
                return fail_at(l, start->start_mark, -ELOOP,
                               "nesting deeper than " STRINGIFY(YAML_DEPTH_MAX) " levels");

        o = constructor();
        if (!o)
                return -ENOMEM;
        r = mark_set(o, mark_from(start->start_mark));
        if (r < 0)
                return r;

        *ret = TAKE_PTR(o);
        return 0;
}

static int load_sequence(YamlLoader *l, const yaml_event_t *start, unsigned depth,
                         json_object **ret) {
        _cleanup_json_ json_object *array = NULL;
        int r;

        r = new_collection(l, start, depth, json_object_new_array, &array);
        if (r < 0)
                return r;

        for (;;) {
                _cleanup_(yaml_event_delete) yaml_event_t event = {};
                json_object *item = NULL;

                r = next_event(l, &event);
                if (r < 0)
                        return r;
                if (event.type == YAML_SEQUENCE_END_EVENT)
                        break;

                r = load_node(l, &event, depth + 1, &item);
                if (r < 0)
                        return r;
                if (json_object_array_add(array, item) < 0) {
                        json_object_put(item);
                        return -ENOMEM;
                }
        }

        *ret = TAKE_PTR(array);
        return 0;
}

static int load_key(YamlLoader *l, const yaml_event_t *event, json_object *mapping,
                    const char **ret) {
        _cleanup_free_ char *message = NULL;
        const char *key;

        if (event->type == YAML_ALIAS_EVENT)
                return fail_at(l, event->start_mark, -EINVAL, "aliases are not supported");
        if (event->type != YAML_SCALAR_EVENT)
                return fail_at(l, event->start_mark, -EINVAL,
                               "mapping keys must be scalars, not sequences or mappings");

        key = (const char *)event->data.scalar.value;
        /* json-c keys are C strings: a "\0" escape would silently cut the key short. */
        if (strlen(key) != event->data.scalar.length)
                return fail_at(l, event->start_mark, -EINVAL,
                               "mapping keys must not contain NUL characters");

        if (json_object_object_get_ex(mapping, key, NULL)) {
                message = strf("duplicate key \"%s\"", key);
                if (!message)
                        return -ENOMEM;
                return fail_at(l, event->start_mark, -EEXIST, message);
        }

        *ret = key;
        return 0;
}

static int load_mapping(YamlLoader *l, const yaml_event_t *start, unsigned depth,
                        json_object **ret) {
        _cleanup_json_ json_object *mapping = NULL;
        int r;

        r = new_collection(l, start, depth, json_object_new_object, &mapping);
        if (r < 0)
                return r;

        for (;;) {
                _cleanup_(yaml_event_delete) yaml_event_t key_event = {}, value_event = {};
                json_object *value = NULL;
                const char *key = NULL;

                r = next_event(l, &key_event);
                if (r < 0)
                        return r;
                if (key_event.type == YAML_MAPPING_END_EVENT)
                        break;

                r = load_key(l, &key_event, mapping, &key);
                if (r < 0)
                        return r;

                r = next_event(l, &value_event);
                if (r < 0)
                        return r;
                r = load_node(l, &value_event, depth + 1, &value);
                if (r < 0)
                        return r;
                if (json_object_object_add(mapping, key, value) < 0) {
                        json_object_put(value);
                        return -ENOMEM;
                }
        }

        *ret = TAKE_PTR(mapping);
        return 0;
}

static int load_node(YamlLoader *l, const yaml_event_t *event, unsigned depth, json_object **ret) {
        switch (event->type) {
        case YAML_SCALAR_EVENT:
                return load_scalar(event, ret);
        case YAML_SEQUENCE_START_EVENT:
                return load_sequence(l, event, depth, ret);
        case YAML_MAPPING_START_EVENT:
                return load_mapping(l, event, depth, ret);
        case YAML_ALIAS_EVENT:
                /* Refusing every alias is what makes an alias bomb harmless. */
                return fail_at(l, event->start_mark, -EINVAL, "aliases are not supported");
        default:
                return fail_at(l, event->start_mark, -EINVAL, "expected a value");
        }
}

/* Reads the event that must come next and must be of the given type. */
static int expect_event(YamlLoader *l, yaml_event_type_t type, const char *message) {
        _cleanup_(yaml_event_delete) yaml_event_t event = {};
        int r;

        r = next_event(l, &event);
        if (r < 0)
                return r;
        if (event.type != type)
                return fail_at(l, event.start_mark, -EINVAL, message);
        return 0;
}

static int load_stream(YamlLoader *l, json_object **ret) {
        _cleanup_(yaml_event_delete) yaml_event_t start = {}, node = {};
        _cleanup_json_ json_object *o = NULL;
        int r;

        r = expect_event(l, YAML_STREAM_START_EVENT, "expected the start of the stream");
        if (r < 0)
                return r;

        r = next_event(l, &start);
        if (r < 0)
                return r;
        if (start.type == YAML_STREAM_END_EVENT) {
                *ret = NULL; /* An empty file is an empty document. */
                return 0;
        }

        r = next_event(l, &node);
        if (r < 0)
                return r;
        r = load_node(l, &node, 0, &o);
        if (r < 0)
                return r;

        r = expect_event(l, YAML_DOCUMENT_END_EVENT, "expected the end of the document");
        if (r < 0)
                return r;
        r = expect_event(l, YAML_STREAM_END_EVENT,
                         "expected a single document, found a second one");
        if (r < 0)
                return r;

        *ret = TAKE_PTR(o);
        return 0;
}

int yaml_load(const char *what, const char *text, size_t len, json_object **ret, char **ret_error) {
        YamlLoader l = {
                .what = what ?: "YAML",
                .text = text,
                .len = len,
                .ret_error = ret_error,
        };
        int r;

        if (len > DOCUMENT_MAX)
                return error_set(ret_error, -EFBIG, "%s: %zu bytes, expected at most %u", l.what,
                                 len, DOCUMENT_MAX);

        if (!yaml_parser_initialize(&l.parser))
                return -ENOMEM;
        yaml_parser_set_input_string(&l.parser, (const unsigned char *)text, len);

        r = load_stream(&l, ret);
        yaml_parser_delete(&l.parser);
        return r;
}

int yaml_load_file(const char *path, json_object **ret, char **ret_error) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        r = read_full_file(path, DOCUMENT_MAX, &text, &len);
        if (r == -EFBIG)
                return error_set(ret_error, r, "%s: larger than %u bytes", path, DOCUMENT_MAX);
        if (r < 0)
                return error_set(ret_error, r, "%s: cannot read: %s", path, strerror(-r));

        return yaml_load(path, text, len, ret, ret_error);
}
