/* SPDX-License-Identifier: MIT */

#include "command.h"
#include "json-util.h"
#include "str-util.h"

#define COMMAND_ID_MAX 128
#define COMMAND_ID_RULE "1 to 128 letters, digits, '.', '_' or '-', not starting with '.'"
#define COMMAND_TIMEOUT_MAX 86400
#define COMMAND_TYPES                                                                              \
        "setup, configure, deploy, undeploy, rollback, start, stop, restart, shutdown, "           \
        "execute_recipes, update_custom_cookbooks, install_dependencies, update_dependencies"
#define COMMAND_FIELDS "id, type, args, custom_json, comment, timeout, created_at, deployment_id"

/* A value quoted in an error message is cut to this many bytes. */
#define QUOTE_MAX 64

static const char *const command_type_table[_COMMAND_TYPE_MAX] = {
        [COMMAND_SETUP] = "setup",
        [COMMAND_CONFIGURE] = "configure",
        [COMMAND_DEPLOY] = "deploy",
        [COMMAND_UNDEPLOY] = "undeploy",
        [COMMAND_ROLLBACK] = "rollback",
        [COMMAND_START] = "start",
        [COMMAND_STOP] = "stop",
        [COMMAND_RESTART] = "restart",
        [COMMAND_SHUTDOWN] = "shutdown",
        [COMMAND_EXECUTE_RECIPES] = "execute_recipes",
        [COMMAND_UPDATE_CUSTOM_COOKBOOKS] = "update_custom_cookbooks",
        [COMMAND_INSTALL_DEPENDENCIES] = "install_dependencies",
        [COMMAND_UPDATE_DEPENDENCIES] = "update_dependencies",
};

const char *command_type_to_string(CommandType t) {
        if (t < 0 || t >= _COMMAND_TYPE_MAX)
                return NULL;
        return command_type_table[t];
}

CommandType command_type_from_string(const char *s) {
        if (!s)
                return _COMMAND_TYPE_INVALID;
        for (CommandType t = 0; t < _COMMAND_TYPE_MAX; t++)
                if (streq(command_type_table[t], s))
                        return t;
        return _COMMAND_TYPE_INVALID;
}

bool command_id_valid(const char *id) {
        size_t n;

        if (!id)
                return false;
        n = strlen(id);
        return n > 0 && n <= COMMAND_ID_MAX && id[0] != '.' &&
               strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* A json-c string may hold a NUL from a "\u0000" escape, which C would silently cut: such a
 * string is never a valid id or type. */
static const char *string_without_nul(json_object *v) {
        const char *s = json_object_get_string(v);

        return strlen(s) == (size_t)json_object_get_string_len(v) ? s : NULL;
}

static const char *type_name(json_object *v) {
        switch (json_object_get_type(v)) {
        case json_type_null:
                return "null";
        case json_type_boolean:
                return "a boolean";
        case json_type_double:
        case json_type_int:
                return "a number";
        case json_type_object:
                return "an object";
        case json_type_array:
                return "an array";
        case json_type_string:
                return "a string";
        }
        return "an unknown type";
}

/* 'value' for an error message: cut to QUOTE_MAX bytes, anything but printable ASCII as \xNN,
 * so a hostile document cannot flood or garble a log line. */
static char *quote(const char *s, size_t len) {
        _cleanup_(strbuf_done) StrBuf b = {};
        int r;

        r = strbuf_appends(&b, "'");
        for (size_t i = 0; r >= 0 && i < MIN(len, (size_t)QUOTE_MAX); i++) {
                unsigned char c = (unsigned char)s[i];

                if (c < 0x20 || c >= 0x7f)
                        r = strbuf_printf(&b, "\\x%02x", c);
                else
                        r = strbuf_append(&b, s + i, 1);
        }
        if (r >= 0)
                r = strbuf_appends(&b, len > QUOTE_MAX ? "'..." : "'");
        if (r < 0)
                return NULL;
        return strbuf_steal(&b);
}

static char *quote_string(json_object *v) {
        return quote(json_object_get_string(v), (size_t)json_object_get_string_len(v));
}

static int check_id(const char *what, json_object *doc, char **ret_error) {
        _cleanup_free_ char *q = NULL;
        json_object *v;

        if (!json_object_object_get_ex(doc, "id", &v))
                return error_set(ret_error, -EINVAL, "%s: field 'id': missing (expected %s)", what,
                                 COMMAND_ID_RULE);
        if (!json_object_is_type(v, json_type_string))
                return error_set(ret_error, -EINVAL, "%s: field 'id': expected a string, not %s",
                                 what, type_name(v));
        if (command_id_valid(string_without_nul(v)))
                return 0;

        q = quote_string(v);
        if (!q)
                return -ENOMEM;
        return error_set(ret_error, -EINVAL, "%s: field 'id': %s is not a valid id (expected %s)",
                         what, q, COMMAND_ID_RULE);
}

static int check_type(const char *what, json_object *doc, char **ret_error) {
        _cleanup_free_ char *q = NULL;
        json_object *v;

        if (!json_object_object_get_ex(doc, "type", &v))
                return error_set(ret_error, -EINVAL,
                                 "%s: field 'type': missing (expected one of: %s)", what,
                                 COMMAND_TYPES);
        if (!json_object_is_type(v, json_type_string))
                return error_set(ret_error, -EINVAL, "%s: field 'type': expected a string, not %s",
                                 what, type_name(v));
        if (command_type_from_string(string_without_nul(v)) >= 0)
                return 0;

        q = quote_string(v);
        if (!q)
                return -ENOMEM;
        return error_set(ret_error, -EINVAL,
                         "%s: field 'type': %s is not a command (expected one of: %s)", what, q,
                         COMMAND_TYPES);
}

/* An optional field of one JSON type. */
static int check_optional(const char *what, json_object *doc, const char *field, json_type type,
                          const char *expected, char **ret_error) {
        json_object *v;

        if (!json_object_object_get_ex(doc, field, &v) || json_object_is_type(v, type))
                return 0;
        return error_set(ret_error, -EINVAL, "%s: field '%s': expected %s, not %s", what, field,
                         expected, type_name(v));
}

static int check_timeout(const char *what, json_object *doc, char **ret_error) {
        const char *shown;
        json_object *v;
        int64_t t;

        if (!json_object_object_get_ex(doc, "timeout", &v))
                return 0;

        if (json_object_is_type(v, json_type_int)) {
                /* json-c clamps integers past int64 to INT64_MAX: out of range all the same. */
                t = json_object_get_int64(v);
                if (t >= 1 && t <= COMMAND_TIMEOUT_MAX)
                        return 0;
        }

        /* A number is shown as written; anything else by its type. */
        if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double))
                shown = json_object_to_json_string(v);
        else
                shown = type_name(v);
        return error_set(ret_error, -EINVAL,
                         "%s: field 'timeout': expected a whole number of seconds from 1 to %d, "
                         "not %s",
                         what, COMMAND_TIMEOUT_MAX, shown);
}

static int check_known_fields(const char *what, json_object *doc, char **ret_error) {
        json_object_object_foreach (doc, key, value) {
                _cleanup_free_ char *q = NULL;

                if (STR_IN_SET(key, "id", "type", "args", "custom_json", "comment", "timeout",
                               "created_at", "deployment_id"))
                        continue;

                q = quote(key, strlen(key));
                if (!q)
                        return -ENOMEM;
                return error_set(ret_error, -EINVAL, "%s: field %s: unknown (expected one of: %s)",
                                 what, q, COMMAND_FIELDS);
        }
        return 0;
}

static int check_command(const char *what, json_object *doc, char **ret_error) {
        int r;

        if (!json_object_is_type(doc, json_type_object))
                return error_set(ret_error, -EINVAL, "%s: expected a JSON object, not %s", what,
                                 type_name(doc));

        /* Unknown fields first: a misspelt "typ" is better reported as itself than as a missing
         * "type". */
        r = check_known_fields(what, doc, ret_error);
        if (r < 0)
                return r;
        r = check_id(what, doc, ret_error);
        if (r < 0)
                return r;
        r = check_type(what, doc, ret_error);
        if (r < 0)
                return r;
        r = check_optional(what, doc, "args", json_type_object, "an object", ret_error);
        if (r < 0)
                return r;
        r = check_optional(what, doc, "custom_json", json_type_object, "an object", ret_error);
        if (r < 0)
                return r;
        r = check_optional(what, doc, "comment", json_type_string, "a string", ret_error);
        if (r < 0)
                return r;
        r = check_timeout(what, doc, ret_error);
        if (r < 0)
                return r;
        r = check_optional(what, doc, "deployment_id", json_type_string, "a string", ret_error);
        if (r < 0)
                return r;
        return check_optional(what, doc, "created_at", json_type_string, "a string", ret_error);
}

/* Adds doc's field to c, or the default when doc lacks it. Takes the default. */
static int copy_field(json_object *c, json_object *doc, const char *field, json_object *def) {
        json_object *v;

        if (json_object_object_get_ex(doc, field, &v)) {
                json_object_put(def);
                v = json_object_get(v);
        } else
                v = def;
        if (!v || json_object_object_add(c, field, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

/* Every field in one order, the optional ones filled in, so readers need no fallbacks. */
static int normalize(json_object *doc, json_object **ret) {
        _cleanup_json_ json_object *c = json_object_new_object();
        int r;

        if (!c)
                return -ENOMEM;
        r = copy_field(c, doc, "id", NULL);
        if (r >= 0)
                r = copy_field(c, doc, "type", NULL);
        if (r >= 0)
                r = copy_field(c, doc, "args", json_object_new_object());
        if (r >= 0)
                r = copy_field(c, doc, "custom_json", json_object_new_object());
        if (r >= 0)
                r = copy_field(c, doc, "comment", json_object_new_string(""));
        if (r >= 0)
                r = copy_field(c, doc, "timeout", json_object_new_int64(0));
        if (r >= 0 && json_object_object_get_ex(doc, "created_at", NULL))
                r = copy_field(c, doc, "created_at", NULL);
        if (r >= 0 && json_object_object_get_ex(doc, "deployment_id", NULL))
                r = copy_field(c, doc, "deployment_id", NULL);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(c);
        return 0;
}

int command_parse(const char *what, const char *text, size_t len, json_object **ret,
                  char **ret_error) {
        _cleanup_json_ json_object *doc = NULL;
        int r;

        what = what ?: "command";

        if (len > COMMAND_SIZE_MAX)
                return error_set(ret_error, -EFBIG, "%s: larger than 1 MiB", what);

        r = json_parse_strict(what, text, len, &doc, ret_error);
        if (r < 0)
                return r;
        r = check_command(what, doc, ret_error);
        if (r < 0)
                return r;
        return normalize(doc, ret);
}

const char *command_id(json_object *c) {
        return json_get_string(c, "id");
}

CommandType command_type(json_object *c) {
        return command_type_from_string(json_get_string(c, "type"));
}

usec_t command_timeout(json_object *c) {
        json_object *v;
        int64_t t;

        if (!json_object_object_get_ex(c, "timeout", &v) || !json_object_is_type(v, json_type_int))
                return 0;
        t = json_object_get_int64(v);
        return t > 0 ? (usec_t)t * USEC_PER_SEC : 0;
}
