/* SPDX-License-Identifier: MIT */
/* The mustache spec's own tests (shared/conformance/mustache, one Check test per module), then
 * what the spec leaves to us: error messages, limits, the extra context, values. */

#include "mustache.h"
#include "str-util.h"
#include "test-helpers.h"

/* Partials of a spec test: its "partials" object. */
static int spec_partial(const char *name, char **ret, void *userdata) {
        json_object *partials = userdata, *p;

        if (!json_object_object_get_ex(partials, name, &p))
                return -ENOENT;
        *ret = strdup(json_object_get_string(p));
        return *ret ? 0 : -ENOMEM;
}

/* Runs every test of one spec module; each failure prints its name, expected and actual. */
static void run_spec(const char *module) {
        _cleanup_free_ char *path = NULL;
        _cleanup_json_ json_object *spec = NULL;
        json_object *tests;
        size_t failed = 0, n;

        path = strf("%s/mustache/%s.json", test_conformance_dir(), module);
        ck_assert_ptr_nonnull(path);
        spec = json_object_from_file(path);
        ck_assert_msg(spec, "cannot read %s", path);
        ck_assert(json_object_object_get_ex(spec, "tests", &tests));
        n = json_object_array_length(tests);
        ck_assert_uint_gt(n, 0);

        for (size_t i = 0; i < n; i++) {
                json_object *t = json_object_array_get_idx(tests, i);
                json_object *data = json_object_object_get(t, "data");
                json_object *partials = json_object_object_get(t, "partials");
                const char *name = json_object_get_string(json_object_object_get(t, "name"));
                const char *template =
                        json_object_get_string(json_object_object_get(t, "template"));
                const char *expected =
                        json_object_get_string(json_object_object_get(t, "expected"));
                _cleanup_free_ char *out = NULL, *error = NULL;
                int r;

                r = mustache_render(name, template, data, NULL, spec_partial, partials, &out,
                                    &error);
                if (r < 0) {
                        fprintf(stderr, "%s: \"%s\": failed: %s\n", module, name, strempty(error));
                        failed++;
                } else if (!streq(out, expected)) {
                        fprintf(stderr, "%s: \"%s\":\n  expected: \"%s\"\n  got:      \"%s\"\n",
                                module, name, expected, out);
                        failed++;
                }
        }
        ck_assert_msg(failed == 0, "%zu of %zu tests of %s failed", failed, n, module);
}

START_TEST(test_spec_comments) {
        run_spec("comments");
}
END_TEST

START_TEST(test_spec_delimiters) {
        run_spec("delimiters");
}
END_TEST

START_TEST(test_spec_interpolation) {
        run_spec("interpolation");
}
END_TEST

START_TEST(test_spec_inverted) {
        run_spec("inverted");
}
END_TEST

START_TEST(test_spec_partials) {
        run_spec("partials");
}
END_TEST

START_TEST(test_spec_sections) {
        run_spec("sections");
}
END_TEST

START_TEST(test_spec_dynamic_names) {
        run_spec("~dynamic-names");
}
END_TEST

START_TEST(test_spec_inheritance) {
        run_spec("~inheritance");
}
END_TEST

/* Partials from a JSON object literal, counting the calls. */
typedef struct Partials {
        json_object *sources;
        unsigned calls;
        int fail; /* returned instead, when set */
} Partials;

static int test_partial(const char *name, char **ret, void *userdata) {
        Partials *p = userdata;

        p->calls++;
        if (p->fail)
                return p->fail;
        return spec_partial(name, ret, p->sources);
}

static json_object *parse(const char *json) {
        json_object *o;

        if (!json)
                return NULL;
        o = json_tokener_parse(json);
        ck_assert_msg(o, "bad test JSON: %s", json);
        return o;
}

/* Renders and returns r; *ret_out (output) or *ret_error (message) is set. */
static int render_full(const char *template, const char *data, const char *extra,
                       const char *partials, char **ret_out, char **ret_error) {
        _cleanup_json_ json_object *d = parse(data), *e = parse(extra);
        _cleanup_json_ json_object *sources = parse(partials);
        Partials p = {.sources = sources};
        char *out = NULL, *error = NULL;
        int r;

        r = mustache_render("t", template, d, e, test_partial, &p, &out, &error);
        if (r >= 0) {
                ck_assert_ptr_nonnull(out);
                ck_assert_ptr_null(error);
        } else
                ck_assert_ptr_null(out); /* ret is written only on success */
        *ret_out = out;
        *ret_error = error;
        return r;
}

static void assert_render(const char *template, const char *data, const char *extra,
                          const char *partials, const char *expected) {
        _cleanup_free_ char *out = NULL, *error = NULL;
        int r;

        r = render_full(template, data, extra, partials, &out, &error);
        ck_assert_msg(r == 0, "\"%s\" failed: %s", template, strempty(error));
        ck_assert_str_eq(out, expected);
}

static void assert_error(const char *template, const char *data, const char *partials, int err,
                         const char *message) {
        _cleanup_free_ char *out = NULL, *error = NULL;
        int r;

        r = render_full(template, data, NULL, partials, &out, &error);
        ck_assert_int_eq(r, err);
        ck_assert_ptr_nonnull(error);
        ck_assert_str_eq(error, message);
}

START_TEST(test_syntax_errors) {
        assert_error("a\n  {{foo", NULL, NULL, -EINVAL,
                     "t:2:3: tag is not closed: expected \"}}\"");
        assert_error("{{{foo}}", NULL, NULL, -EINVAL, "t:1:1: tag is not closed: expected \"}}}\"");
        assert_error("{{a {{b}}", NULL, NULL, -EINVAL,
                     "t:1:1: tag is not closed: expected \"}}\" before the next \"{{\"");
        assert_error("x\n{{#a}}\n{{#b}}\n{{/b}}\n", NULL, NULL, -EINVAL,
                     "t:2:1: section \"a\" is not closed: expected {{/a}}");
        assert_error("{{^a}}", NULL, NULL, -EINVAL,
                     "t:1:1: inverted section \"a\" is not closed: expected {{/a}}");
        assert_error("{{#a}}\n  {{/b}}", NULL, NULL, -EINVAL,
                     "t:2:3: expected {{/a}} but found {{/b}}");
        assert_error("ok\n{{/a}}", NULL, NULL, -EINVAL,
                     "t:2:1: unexpected {{/a}}: no section is open");
        assert_error("{{=<% %>=}}\n<%#a%><%/b%>", NULL, NULL, -EINVAL,
                     "t:2:7: expected <%/a%> but found <%/b%>");
        assert_error("{{=<%>=}}", NULL, NULL, -EINVAL,
                     "t:1:1: expected two delimiters separated by a space, as in {{=<% %>=}}");
        assert_error("{{=a b c=}}", NULL, NULL, -EINVAL,
                     "t:1:1: expected two delimiters separated by a space, as in {{=<% %>=}}");
        assert_error("{{= a b }}", NULL, NULL, -EINVAL,
                     "t:1:1: tag is not closed: expected \"=}}\"");
        assert_error("{{=12345678901234567 b=}}", NULL, NULL, -EINVAL,
                     "t:1:1: expected delimiters of at most 16 bytes");
        assert_error("{{ }}", NULL, NULL, -EINVAL, "t:1:1: expected a name in the tag");
        assert_error("{{#a b}}{{/a b}}", NULL, NULL, -EINVAL,
                     "t:1:1: expected a name without spaces, found \"a b\"");
        assert_error("{{a..b}}", NULL, NULL, -EINVAL,
                     "t:1:1: expected \".\" or names joined by single dots, found \"a..b\"");
        assert_error("{{>* }}", NULL, NULL, -EINVAL, "t:1:1: expected a name after \"*\"");
        /* columns count characters, not bytes */
        assert_error("\xc3\xa9t\xc3\xa9 {{#x}}", NULL, NULL, -EINVAL,
                     "t:1:5: section \"x\" is not closed: expected {{/x}}");
        assert_error("{{<p}}{{$b}}", NULL, NULL, -EINVAL,
                     "t:1:7: block \"b\" is not closed: expected {{/b}}");
}
END_TEST

START_TEST(test_nesting_limit) {
        _cleanup_free_ char *ok = NULL, *deep = NULL, *message = NULL;
        StrBuf b = {};

        for (unsigned i = 0; i < MUSTACHE_DEPTH_MAX; i++)
                ck_assert_int_eq(strbuf_appends(&b, "{{#a}}"), 0);
        ck_assert_int_eq(strbuf_appends(&b, "x"), 0);
        for (unsigned i = 0; i < MUSTACHE_DEPTH_MAX; i++)
                ck_assert_int_eq(strbuf_appends(&b, "{{/a}}"), 0);
        ok = strbuf_steal(&b);
        assert_render(ok, "{\"a\": true}", NULL, NULL, "x");

        for (unsigned i = 0; i <= MUSTACHE_DEPTH_MAX; i++)
                ck_assert_int_eq(strbuf_appends(&b, "{{#a}}"), 0);
        deep = strbuf_steal(&b);
        message = strf("t:1:%u: sections nest deeper than %u", MUSTACHE_DEPTH_MAX * 6 + 1,
                       MUSTACHE_DEPTH_MAX);
        assert_error(deep, NULL, NULL, -EINVAL, message);
}
END_TEST

START_TEST(test_partial_errors) {
        _cleanup_free_ char *out = NULL, *error = NULL;
        Partials p = {.fail = -EACCES};
        int r;

        assert_error("{{>p}}", NULL, "{\"p\": \"ab{{c\"}", -EINVAL,
                     "t: partial p:1:3: tag is not closed: expected \"}}\"");
        assert_error("x\n {{>p}}", NULL, "{\"p\": \"{{>q}}\", \"q\": \"{{#a}}\"}", -EINVAL,
                     "t: partial q:1:1: section \"a\" is not closed: expected {{/a}}");

        r = mustache_render("t", "a\nb{{>p}}", NULL, NULL, test_partial, &p, &out, &error);
        ck_assert_int_eq(r, -EACCES);
        ck_assert_ptr_null(out);
        ck_assert_str_eq(error, "t:2:2: cannot load partial \"p\": Permission denied");

        /* without a callback every partial is missing, which renders as nothing */
        free(error);
        error = NULL;
        r = mustache_render("t", "[{{>p}}]", NULL, NULL, NULL, NULL, &out, &error);
        ck_assert_int_eq(r, 0);
        ck_assert_str_eq(out, "[]");
        ck_assert_ptr_null(error);
}
END_TEST

START_TEST(test_recursion_limit) {
        _cleanup_json_ json_object *sources = parse("{\"p\": \"<{{#n}}{{>p}}{{/n}}>\"}");
        _cleanup_json_ json_object *data = NULL;
        _cleanup_json_ json_object *deep_sources = NULL, *truthy = NULL;
        _cleanup_free_ char *message = NULL, *out = NULL, *error = NULL, *deep = NULL;
        Partials p = {.sources = sources}, d = {};
        StrBuf b = {};
        int r;

        message = strf("t: partial p:1:2: partials nest deeper than %u: does \"p\" include itself?",
                       MUSTACHE_DEPTH_MAX);
        assert_error("{{>p}}", NULL, "{\"p\": \"x{{>p}}\"}", -ELOOP, message);
        assert_error("{{>*name}}", "{\"name\": \"p\"}", "{\"p\": \"x{{>*name}}\"}", -ELOOP,
                     message);

        /* a block whose replacement contains itself */
        free(message);
        message = strf("t:1:13: blocks nest deeper than %u: does block \"a\" include itself?",
                       MUSTACHE_DEPTH_MAX);
        assert_error("{{<p}}{{$a}}{{$a}}{{/a}}{{/a}}{{/p}}", NULL, "{\"p\": \"{{$a}}{{/a}}\"}",
                     -ELOOP, message);

        /* the deepest recursion there can be: every partial nests sections as deep as they go */
        for (unsigned i = 1; i < MUSTACHE_DEPTH_MAX; i++)
                ck_assert_int_eq(strbuf_appends(&b, "{{#a}}"), 0);
        ck_assert_int_eq(strbuf_appends(&b, "{{>deep}}"), 0);
        for (unsigned i = 1; i < MUSTACHE_DEPTH_MAX; i++)
                ck_assert_int_eq(strbuf_appends(&b, "{{/a}}"), 0);
        deep = strbuf_steal(&b);
        deep_sources = json_object_new_object();
        json_object_object_add(deep_sources, "deep", json_object_new_string(deep));
        truthy = parse("{\"a\": true}");
        d.sources = deep_sources;
        r = mustache_render("t", "{{>deep}}", truthy, NULL, test_partial, &d, &out, &error);
        ck_assert_int_eq(r, -ELOOP);
        ck_assert_ptr_null(out);
        ck_assert_ptr_nonnull(strstr(error, "partials nest deeper than"));
        free(TAKE_PTR(error));

        /* recursion that the data ends is fine up to the limit: data nested as deep as
         * partials may be, {"n": {"n": ... {"n": false}}} */
        data = json_object_new_object();
        json_object_object_add(data, "n", json_object_new_boolean(false));
        for (unsigned i = 1; i < MUSTACHE_DEPTH_MAX; i++) {
                json_object *o = json_object_new_object();

                json_object_object_add(o, "n", data);
                data = o;
        }
        r = mustache_render("t", "{{>p}}", data, NULL, test_partial, &p, &out, &error);
        ck_assert_int_eq(r, 0);
        ck_assert_uint_eq(strlen(out), 2 * MUSTACHE_DEPTH_MAX);
        ck_assert_uint_eq(strspn(out, "<"), MUSTACHE_DEPTH_MAX);
        ck_assert_uint_eq(strspn(out + MUSTACHE_DEPTH_MAX, ">"), MUSTACHE_DEPTH_MAX);
}
END_TEST

/* {"l": [1, 1, ...]} with n items */
static char *list_json(unsigned n) {
        StrBuf b = {};

        ck_assert_int_eq(strbuf_appends(&b, "{\"l\": [1"), 0);
        for (unsigned i = 1; i < n; i++)
                ck_assert_int_eq(strbuf_appends(&b, ", 1"), 0);
        ck_assert_int_eq(strbuf_appends(&b, "]}"), 0);
        return strbuf_steal(&b);
}

START_TEST(test_output_limit) {
        _cleanup_free_ char *template = NULL, *fits = NULL, *too_much = NULL, *out = NULL,
                            *error = NULL;
        const size_t mib = 1024 * 1024;
        StrBuf b = {};
        int r;

        /* "{{#l}}" + 1 MiB of text + "{{/l}}": as many MiB of output as l has items */
        ck_assert_int_eq(strbuf_appends(&b, "{{#l}}"), 0);
        for (size_t i = 0; i < mib / 64; i++)
                ck_assert_int_eq(strbuf_appends(&b, "0123456789abcdef0123456789abcdef"
                                                    "0123456789abcdef0123456789abcdef"),
                                 0);
        ck_assert_int_eq(strbuf_appends(&b, "{{/l}}"), 0);
        template = strbuf_steal(&b);
        fits = list_json(MUSTACHE_OUTPUT_MAX / mib);
        too_much = list_json(MUSTACHE_OUTPUT_MAX / mib + 1);

        r = render_full(template, fits, NULL, NULL, &out, &error);
        ck_assert_int_eq(r, 0);
        ck_assert_uint_eq(strlen(out), MUSTACHE_OUTPUT_MAX);
        free(TAKE_PTR(out));

        r = render_full(template, too_much, NULL, NULL, &out, &error);
        ck_assert_int_eq(r, -E2BIG);
        ck_assert_str_eq(error, "t:1:7: output is larger than 64 MiB");
}
END_TEST

START_TEST(test_extra_context) {
        const char *data = "{\"item\": \"d\", \"x\": \"dx\", \"n\": {\"item\": \"nested\"}}";
        const char *t = "{{item}} {{x}} {{#n}}{{item}}{{/n}} {{#extra}}on{{/extra}}";

        assert_render(t, data, "{\"item\": \"e\", \"extra\": true}", NULL, "e dx nested on");
        assert_render(t, data, NULL, NULL, "d dx nested ");
        /* the extra frame is the top: "." is it */
        assert_render("{{.}}", "\"data\"", "\"extra\"", NULL, "extra");
        assert_render("{{.}}", "\"data\"", NULL, NULL, "data");
        /* a key the extra frame holds decides, even when its value is null */
        assert_render("[{{x}}]", data, "{\"x\": null}", NULL, "[]");
        /* no data at all */
        assert_render("[{{x}}{{#x}}y{{/x}}{{^x}}z{{/x}}]", NULL, NULL, NULL, "[z]");
}
END_TEST

START_TEST(test_values) {
        _cleanup_json_ json_object *data = json_object_new_object();
        _cleanup_free_ char *out = NULL, *error = NULL;
        const char *t =
                "{{tenth}} {{two}} {{big}} {{half}} {{neg}} {{huge}} {{u64}} {{yes}} {{no}}";
        int r;

        /* doubles made in code (as yaml-load makes them), not parsed from JSON text */
        json_object_object_add(data, "tenth", json_object_new_double(0.1));
        json_object_object_add(data, "two", json_object_new_double(2.0));
        json_object_object_add(data, "big", json_object_new_double(1e300));
        json_object_object_add(data, "half", json_object_new_double(-1.5));
        json_object_object_add(data, "neg", json_object_new_int64(INT64_MIN));
        json_object_object_add(data, "huge", json_object_new_int64(INT64_MAX));
        json_object_object_add(data, "u64", json_object_new_uint64(UINT64_MAX));
        json_object_object_add(data, "yes", json_object_new_boolean(true));
        json_object_object_add(data, "no", json_object_new_boolean(false));
        r = mustache_render("t", t, data, NULL, NULL, NULL, &out, &error);
        ck_assert_int_eq(r, 0);
        ck_assert_str_eq(out, "0.1 2.0 1e+300 -1.5 -9223372036854775808 9223372036854775807 "
                              "18446744073709551615 true false");

        assert_render("{{l}} {{{o}}}", "{\"l\": [1, \"a\"], \"o\": {\"k\": \"/v\"}}", NULL, NULL,
                      "[1,&quot;a&quot;] {\"k\":\"/v\"}");
        assert_render("{{s}}|{{{s}}}|{{&s}}", "{\"s\": \"<a href='x'>&\\\"</a>\"}", NULL, NULL,
                      "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;|<a href='x'>&\"</a>|"
                      "<a href='x'>&\"</a>");
}
END_TEST

START_TEST(test_unescaped) {
        _cleanup_json_ json_object *data = parse("{\"s\": \"a & 'b' <c>\"}");
        _cleanup_free_ char *out = NULL, *error = NULL;
        int r;

        r = mustache_render_unescaped("t", "{{s}}|{{{s}}}|{{#s}}{{.}}{{/s}}", data, NULL, NULL,
                                      NULL, &out, &error);
        ck_assert_int_eq(r, 0);
        ck_assert_str_eq(out, "a & 'b' <c>|a & 'b' <c>|a & 'b' <c>");
}
END_TEST

START_TEST(test_truthiness) {
        const char *t = "{{#v}}T{{/v}}{{^v}}F{{/v}}";

        assert_render(t, "{\"v\": \"\"}", NULL, NULL, "F");
        assert_render(t, "{\"v\": []}", NULL, NULL, "F");
        assert_render(t, "{\"v\": null}", NULL, NULL, "F");
        assert_render(t, "{\"v\": false}", NULL, NULL, "F");
        assert_render(t, "{}", NULL, NULL, "F");
        assert_render(t, "{\"v\": \"0\"}", NULL, NULL, "T");
        assert_render(t, "{\"v\": 0}", NULL, NULL, "T");
        assert_render(t, "{\"v\": 0.0}", NULL, NULL, "T");
        assert_render(t, "{\"v\": {}}", NULL, NULL, "T");
        assert_render(t, "{\"v\": [false]}", NULL, NULL, "T");
        /* a scalar section pushes the scalar */
        assert_render("{{#v}}<{{.}}>{{/v}}", "{\"v\": 42}", NULL, NULL, "<42>");
}
END_TEST

START_TEST(test_partial_indentation) {
        const char *partials = "{\"a\": \"x\\n  {{>b}}\\n\", \"b\": \"y\\n\\nz {{>c}}\\n\","
                               " \"c\": \"1\\n2\", \"d\": \"1\\n2\\n\"}";

        /* standalone partials nest their indentation; empty lines stay empty; an inline
         * partial's later lines get the indentation of the line it is on */
        assert_render("  {{>a}}\n", NULL, NULL, partials, "  x\n    y\n\n    z 1\n    2\n");
        assert_render("{{#l}}\n  {{>d}}\n{{/l}}\n", "{\"l\": [1, 2]}", NULL, partials,
                      "  1\n  2\n  1\n  2\n");
        /* a standalone partial takes the line's newline: "1\n2" ends without one */
        assert_render("  {{>c}}\n.", NULL, NULL, partials, "  1\n  2.");
}
END_TEST

START_TEST(test_partial_cache) {
        _cleanup_json_ json_object *data = parse("{\"n\": [{\"n\": [{\"n\": []}]}, {\"n\": []}]}");
        _cleanup_json_ json_object *sources = parse("{\"p\": \"({{#n}}{{>p}}{{>q}}{{/n}})\"}");
        _cleanup_free_ char *out = NULL, *error = NULL;
        Partials p = {.sources = sources};
        int r;

        /* each name is asked for once, found or not */
        r = mustache_render("t", "{{>p}}", data, NULL, test_partial, &p, &out, &error);
        ck_assert_int_eq(r, 0);
        ck_assert_str_eq(out, "((())())");
        ck_assert_uint_eq(p.calls, 2);
}
END_TEST

START_TEST(test_standalone_lines) {
        /* one tag per line is standalone; two are not (the spec's rule), parent tags aside */
        assert_render("a\n  {{#t}}\nb\n  {{/t}}\nc\n", "{\"t\": true}", NULL, NULL, "a\nb\nc\n");
        assert_render("a\n{{#t}}{{/t}}\nc\n", "{\"t\": true}", NULL, NULL, "a\n\nc\n");
        assert_render("{{<p}}{{$b}}\nB\n{{/b}}{{/p}}\nc\n", NULL, NULL,
                      "{\"p\": \"[{{$b}}{{/b}}]\"}", "[B\n]c\n");
        /* comments and delimiter changes leave the line's beginning to what follows */
        assert_render("  {{>p}}\n", NULL, NULL, "{\"p\": \"{{! c }}x\\n{{=| |=}}y\\n\"}",
                      "  x\n  y\n");
}
END_TEST

START_TEST(test_dynamic_names) {
        const char *partials = "{\"1\": \"one\", \"2.5\": \"two and a half\"}";

        assert_render("{{>*n}}|{{>*d}}|{{>*missing}}|{{>*e}}",
                      "{\"n\": 1, \"d\": 2.5, \"e\": \"\"}", NULL, partials,
                      "one|two and a half||");
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("mustache");
        TCase *tc;

        tc = tcase_create("spec");
        tcase_add_test(tc, test_spec_comments);
        tcase_add_test(tc, test_spec_delimiters);
        tcase_add_test(tc, test_spec_interpolation);
        tcase_add_test(tc, test_spec_inverted);
        tcase_add_test(tc, test_spec_partials);
        tcase_add_test(tc, test_spec_sections);
        tcase_add_test(tc, test_spec_dynamic_names);
        tcase_add_test(tc, test_spec_inheritance);
        suite_add_tcase(s, tc);

        tc = tcase_create("errors");
        tcase_add_test(tc, test_syntax_errors);
        tcase_add_test(tc, test_nesting_limit);
        tcase_add_test(tc, test_partial_errors);
        tcase_add_test(tc, test_recursion_limit);
        suite_add_tcase(s, tc);

        /* 128 MiB of output: slow under valgrind and the sanitizers. */
        tc = tcase_create("output limit");
        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, test_output_limit);
        suite_add_tcase(s, tc);

        tc = tcase_create("render");
        tcase_add_test(tc, test_extra_context);
        tcase_add_test(tc, test_values);
        tcase_add_test(tc, test_unescaped);
        tcase_add_test(tc, test_truthiness);
        tcase_add_test(tc, test_partial_indentation);
        tcase_add_test(tc, test_partial_cache);
        tcase_add_test(tc, test_standalone_lines);
        tcase_add_test(tc, test_dynamic_names);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        return test_run_suite(suite());
}
