/* SPDX-License-Identifier: MIT */
/* Mustache in two steps. Parsing turns a template into a tree of nodes: tags are matched,
 * standalone lines are cut out and every node learns whether it begins a line, so syntax errors
 * surface (with line:column) before any output exists. Rendering walks the tree over a context
 * stack of json-c values. Partials are parsed on first use and kept until the render ends, so a
 * recursive partial is parsed once.
 *
 * Indentation is applied while rendering rather than by rewriting a partial's source: a line
 * that begins in template text gets the indentation of the standalone partial tags it is
 * expanded under, and interpolated values are never re-indented, as the spec wants. An
 * overriding block also loses the indentation it was written with before it gets the one of
 * the place it replaces ("Block reindentation" in the inheritance spec). */

#include <math.h>
#include <stdarg.h>

#include "mustache.h"
#include "str-util.h"

/* Longest tag delimiter {{=<% %>=}} may set. */
#define DELIMITER_MAX 16U
/* Room for a double as text ("-1.2345678901234567e-308"). */
#define NUMBER_MAX 32U

typedef enum NodeType {
        NODE_TEXT,
        NODE_ESCAPED,  /* {{name}} */
        NODE_RAW,      /* {{{name}}}, {{&name}} */
        NODE_SECTION,  /* {{#name}} */
        NODE_INVERTED, /* {{^name}} */
        NODE_PARTIAL,  /* {{>name}} */
        NODE_PARENT,   /* {{<name}}: a partial whose blocks the {{$name}} children replace */
        NODE_BLOCK,    /* {{$name}}: a part of a template that a child template may replace */
} NodeType;

typedef struct Node Node;
struct Node {
        NodeType type;
        unsigned line, column;
        bool bol;         /* begins a line of the template: takes the indentation */
        bool standalone;  /* PARTIAL, PARENT, BLOCK: the tag's line was cut out */
        bool dynamic;     /* PARTIAL, PARENT: {{>*name}}, the partial's name is looked up */
        const char *text; /* TEXT: points into the template's source */
        size_t len;
        char *name;  /* tags: as written, without the '*' of a dynamic name */
        char **path; /* names looked up in the context, split at '.'; NULL for "." */
        /* PARTIAL, PARENT: the whitespace before a standalone tag. BLOCK: the indentation a
         * replacement gets here; for a standalone block the one its default content is
         * written with, else the whitespace before the tag when nothing else is. */
        const char *indent;
        size_t indent_len;
        /* BLOCK: the indentation its own content is written with, which it loses when it
         * replaces a block elsewhere. */
        const char *body_indent;
        size_t body_indent_len;
        Node *children;
        size_t n_children, n_allocated;
};

typedef struct Template {
        char *what; /* prefixes messages: "site.conf.mustache" or "site.conf.mustache: partial x" */
        char *source;
        Node root;
} Template;

/* A tag, or the text between two tags, as the tokenizer saw it. */
typedef struct Token {
        char sigil;      /* 0: text; 'v': {{name}}; '&': raw; else # ^ / > < $ ! = */
        bool standalone; /* tags: alone on their line, which is cut out */
        bool dynamic;
        char closes; /* '/': the sigil of the tag it closes */
        unsigned line, column;
        size_t start, end;           /* the whole token in the source */
        size_t kept, kept_end;       /* text: what is left once standalone lines are cut out */
        size_t content, content_len; /* tags: what is between the sigil and the closing */
        size_t name, name_len;       /* tags: the name in it (without '*') */
        size_t indent, indent_len;   /* see Node */
        size_t body_indent, body_indent_len;
} Token;

typedef struct Parser {
        const char *what;
        const char *source;
        size_t size;
        char otag[DELIMITER_MAX + 1], ctag[DELIMITER_MAX + 1];
        Token *tokens;
        size_t n_tokens, allocated;
        size_t open[MUSTACHE_DEPTH_MAX]; /* indices of the tags whose close is still due */
        size_t n_open;
        /* how far line and column counting has got */
        size_t cursor;
        unsigned line, column;
        char **error;
} Parser;

static void node_done(Node *n) {
        for (size_t i = 0; i < n->n_children; i++)
                node_done(n->children + i);
        free(n->children);
        free(n->name);
        strv_free(n->path);
}

static Template *template_free(Template *t) {
        if (!t)
                return NULL;
        node_done(&t->root);
        free(t->what);
        free(t->source);
        free(t);
        return NULL;
}

static void template_freep(Template **t) {
        template_free(*t);
}

static void parser_done(Parser *p) {
        free(p->tokens);
}

static bool is_blank(char c) {
        return c == ' ' || c == '\t';
}

static bool is_space(char c) {
        return is_blank(c) || c == '\r' || c == '\n';
}

static int parse_error(Parser *p, const Token *t, const char *fmt, ...) _printf_(3, 4);
static int parse_error(Parser *p, const Token *t, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        msg = strfv(fmt, ap);
        va_end(ap);
        if (!msg)
                return -ENOMEM;
        return error_set(p->error, -EINVAL, "%s:%u:%u: %s", p->what, t->line, t->column, msg);
}

/* Moves line and column (in characters, not UTF-8 bytes) from offset `from` to `to`. */
static void advance(const char *s, size_t from, size_t to, unsigned *line, unsigned *column) {
        for (size_t i = from; i < to; i++) {
                unsigned char c = (unsigned char)s[i];

                if (c == '\n') {
                        (*line)++;
                        *column = 1;
                } else if ((c & 0xC0) != 0x80)
                        (*column)++;
        }
}

/* Line and column of offset, which never goes backwards. */
static void parser_locate(Parser *p, size_t offset, unsigned *ret_line, unsigned *ret_column) {
        advance(p->source, p->cursor, offset, &p->line, &p->column);
        p->cursor = offset;
        *ret_line = p->line;
        *ret_column = p->column;
}

static Token *parser_push(Parser *p, char sigil, size_t start, size_t end) {
        Token *t;

        if (p->n_tokens == p->allocated) {
                size_t a = MAX(p->allocated * 2, (size_t)64);

                t = reallocarray(p->tokens, a, sizeof(Token));
                if (!t)
                        return NULL;
                p->tokens = t;
                p->allocated = a;
        }

        t = p->tokens + p->n_tokens++;
        *t = (Token){.sigil = sigil, .start = start, .end = end};
        parser_locate(p, start, &t->line, &t->column);
        return t;
}

static int parser_text(Parser *p, size_t start, size_t end) {
        Token *t;

        if (start == end)
                return 0;
        t = parser_push(p, 0, start, end);
        if (!t)
                return -ENOMEM;
        t->kept = start;
        t->kept_end = end;
        return 0;
}

/* Names looked up in the context are "." or parts joined by single dots. */
static bool name_is_path(const char *s, size_t n) {
        if (n == 1 && s[0] == '.')
                return true;
        if (n == 0 || s[0] == '.' || s[n - 1] == '.')
                return false;
        for (size_t i = 1; i < n; i++)
                if (s[i] == '.' && s[i - 1] == '.')
                        return false;
        return true;
}

static const char *sigil_kind(char sigil) {
        switch (sigil) {
        case '^':
                return "inverted section";
        case '<':
                return "parent";
        case '$':
                return "block";
        default:
                return "section";
        }
}

/* {{=<% %>=}}: two delimiters without whitespace, separated by whitespace. */
static int parser_set_delimiters(Parser *p, const Token *t) {
        const char *s = p->source + t->content, *e = s + t->content_len, *o, *c;
        size_t on, cn;

        o = s;
        for (on = 0; o + on < e && !is_space(o[on]); on++)
                ;
        for (c = o + on; c < e && is_space(*c); c++)
                ;
        for (cn = 0; c + cn < e && !is_space(c[cn]); cn++)
                ;
        if (on == 0 || cn == 0 || c + cn != e || c == o + on)
                return parse_error(
                        p, t, "expected two delimiters separated by a space, as in %s=<%% %%>=%s",
                        p->otag, p->ctag);
        if (on > DELIMITER_MAX || cn > DELIMITER_MAX)
                return parse_error(p, t, "expected delimiters of at most %u bytes", DELIMITER_MAX);

        memcpy(p->otag, o, on);
        p->otag[on] = 0;
        memcpy(p->ctag, c, cn);
        p->ctag[cn] = 0;
        return 0;
}

/* Finds the name in a tag's content: '*' makes a partial's or parent's name dynamic. */
static int parser_name(Parser *p, Token *t) {
        const char *s = p->source;
        size_t a = t->content, n = t->content_len;

        if (n == 0)
                return parse_error(p, t, "expected a name in the tag");
        if (memmem(s + a, n, p->otag, strlen(p->otag)))
                return parse_error(p, t,
                                   "tag is not closed: expected \"%s\" before the next \"%s\"",
                                   p->ctag, p->otag);

        if ((t->sigil == '>' || t->sigil == '<') && s[a] == '*') {
                t->dynamic = true;
                for (a++, n--; n > 0 && is_space(s[a]); a++, n--)
                        ;
                if (n == 0)
                        return parse_error(p, t, "expected a name after \"*\"");
        }
        t->name = a;
        t->name_len = n;

        for (size_t i = 0; i < n; i++)
                if (is_space(s[a + i]))
                        return parse_error(p, t, "expected a name without spaces, found \"%.*s\"",
                                           (int)t->content_len, s + t->content);
        if ((t->dynamic || strchr("v&#^", t->sigil)) && !name_is_path(s + a, n))
                return parse_error(p, t,
                                   "expected \".\" or names joined by single dots, found \"%.*s\"",
                                   (int)n, s + a);
        return 0;
}

/* Keeps sections balanced as tags come, so errors are reported in the order of the source. */
static int parser_match(Parser *p, Token *t) {
        const char *s = p->source;
        const Token *o;

        if (strchr("#^<$", t->sigil)) {
                if (p->n_open >= MUSTACHE_DEPTH_MAX)
                        return parse_error(p, t, "sections nest deeper than %u",
                                           MUSTACHE_DEPTH_MAX);
                p->open[p->n_open++] = (size_t)(t - p->tokens);
                return 0;
        }
        if (t->sigil != '/')
                return 0;

        if (p->n_open == 0)
                return parse_error(p, t, "unexpected %s/%.*s%s: no section is open", p->otag,
                                   (int)t->content_len, s + t->content, p->ctag);
        o = p->tokens + p->open[p->n_open - 1];
        if (o->content_len != t->content_len ||
            memcmp(s + o->content, s + t->content, t->content_len) != 0)
                return parse_error(p, t, "expected %s/%.*s%s but found %s/%.*s%s", p->otag,
                                   (int)o->content_len, s + o->content, p->ctag, p->otag,
                                   (int)t->content_len, s + t->content, p->ctag);
        t->closes = o->sigil;
        p->n_open--;
        return 0;
}

/* Reads the tag at start (where the opening delimiter is); *ret_end is where text resumes. */
static int parser_tag(Parser *p, size_t start, size_t *ret_end) {
        const char *s = p->source, *c;
        char closing[DELIMITER_MAX + 2], sigil;
        size_t a, b;
        Token *t;
        int r;

        a = start + strlen(p->otag);
        sigil = s[a];
        if (sigil && strchr("#^/><$!&={", sigil))
                a++;
        else
                sigil = 'v';

        /* {{{name}}} and {{=<% %>=}} close with one more character than other tags */
        closing[0] = sigil == '{' ? '}' : sigil == '=' ? '=' : 0;
        memcpy(closing + !!closing[0], p->ctag, strlen(p->ctag) + 1);

        c = strstr(s + a, closing);
        t = parser_push(p, sigil == '{' ? '&' : sigil, start,
                        c ? (size_t)(c - s) + strlen(closing) : start);
        if (!t)
                return -ENOMEM;
        if (!c)
                return parse_error(p, t, "tag is not closed: expected \"%s\"", closing);

        for (b = (size_t)(c - s); b > a && is_space(s[b - 1]); b--)
                ;
        for (; a < b && is_space(s[a]); a++)
                ;
        t->content = a;
        t->content_len = b - a;

        if (t->sigil == '=')
                r = parser_set_delimiters(p, t);
        else if (t->sigil != '!')
                r = parser_name(p, t);
        else
                r = 0;
        if (r < 0)
                return r;
        r = parser_match(p, t);
        if (r < 0)
                return r;

        *ret_end = t->end;
        return 0;
}

static int parser_tokenize(Parser *p) {
        size_t pos = 0;
        int r;

        for (;;) {
                const char *o = strstr(p->source + pos, p->otag);
                size_t start = o ? (size_t)(o - p->source) : p->size;

                r = parser_text(p, pos, start);
                if (r < 0)
                        return r;
                if (!o)
                        break;
                r = parser_tag(p, start, &pos);
                if (r < 0)
                        return r;
        }

        if (p->n_open > 0) {
                const Token *o = p->tokens + p->open[p->n_open - 1];

                return parse_error(p, o, "%s \"%.*s\" is not closed: expected %s/%.*s%s",
                                   sigil_kind(o->sigil), (int)o->content_len,
                                   p->source + o->content, p->otag, (int)o->content_len,
                                   p->source + o->content, p->ctag);
        }
        return 0;
}

static bool is_blank_span(const Parser *p, size_t start, size_t end) {
        for (size_t i = start; i < end; i++)
                if (!is_blank(p->source[i]))
                        return false;
        return true;
}

static size_t blank_span(const Parser *p, size_t start) {
        size_t e = start;

        while (e < p->size && is_blank(p->source[e]))
                e++;
        return e - start;
}

/* A line holding only whitespace and tags that print nothing is cut out of the output, with
 * its line ending. The spec allows one such tag per line; parent tags ({{<p}}, {{/p}}) do not
 * count, as what is between them and their blocks is never printed, so "{{<parent}}{{$block}}"
 * is standalone too. The first tag takes the line's whitespace as its indentation.
 *
 * Tags first..last are the tags of one line: the text before the first one (if any) holds the
 * line's beginning after its last newline, the text after the last one the line's end up to its
 * first newline, and the text between them has no newline. */
static void parser_line(Parser *p, size_t first, size_t last) {
        Token *before = first > 0 ? p->tokens + first - 1 : NULL;
        Token *after = last + 1 < p->n_tokens ? p->tokens + last + 1 : NULL;
        Token *f = p->tokens + first;
        size_t line_start = f->start, line_end = p->tokens[last].end, others = 0;
        bool blank = true;

        if (before) {
                const char *nl =
                        memrchr(p->source + before->start, '\n', before->end - before->start);

                line_start = nl ? (size_t)(nl - p->source) + 1 : before->start;
        }
        blank = is_blank_span(p, line_start, f->start);

        if (after) {
                const char *nl = memchr(p->source + after->start, '\n', after->end - after->start);
                size_t e = nl ? (size_t)(nl - p->source) : after->end;

                if (nl && e > after->start && p->source[e - 1] == '\r')
                        e--;
                blank = blank && is_blank_span(p, after->start, e);
                line_end = nl ? (size_t)(nl - p->source) + 1 : after->end;
        }

        for (size_t i = first; i <= last; i++) {
                const Token *t = p->tokens + i;

                if (t->sigil == 0)
                        blank = blank && is_blank_span(p, t->start, t->end);
                else if (t->sigil == 'v' || t->sigil == '&')
                        blank = false;
                else if (t->sigil != '<' && !(t->sigil == '/' && t->closes == '<'))
                        others++;
        }

        if (!blank || others > 1) {
                /* "  {{$block}}": what replaces the block here is indented like the block */
                if (f->sigil == '$' && is_blank_span(p, line_start, f->start)) {
                        f->indent = line_start;
                        f->indent_len = f->start - line_start;
                }
                return;
        }

        f->indent = line_start;
        f->indent_len = f->start - line_start;
        if (before)
                before->kept_end = line_start;
        if (after)
                after->kept = line_end;
        for (size_t i = first; i <= last; i++) {
                Token *t = p->tokens + i;

                if (t->sigil == 0) {
                        t->kept = t->kept_end = t->end;
                        continue;
                }
                t->standalone = true;
                if (t->sigil == '$') {
                        /* the content begins on the next line: its whitespace is the
                         * indentation both of this block's own content and of a replacement
                         * shown here */
                        t->body_indent = line_end;
                        t->body_indent_len = blank_span(p, line_end);
                        t->indent = t->body_indent;
                        t->indent_len = t->body_indent_len;
                }
        }
}

static void parser_mark_standalone(Parser *p) {
        for (size_t i = 0; i < p->n_tokens; i++) {
                size_t last = i;

                if (p->tokens[i].sigil == 0)
                        continue;
                /* the other tags on this line */
                for (size_t j = i + 1; j < p->n_tokens; j++) {
                        const Token *t = p->tokens + j;

                        if (t->sigil != 0)
                                last = j;
                        else if (memchr(p->source + t->start, '\n', t->end - t->start) ||
                                 j + 1 == p->n_tokens)
                                break;
                }
                parser_line(p, i, last);
                i = last;
        }
}

static Node *node_append(Node *parent) {
        Node *c;

        if (parent->n_children == parent->n_allocated) {
                size_t a = MAX(parent->n_allocated * 2, (size_t)4);

                c = reallocarray(parent->children, a, sizeof(Node));
                if (!c)
                        return NULL;
                parent->children = c;
                parent->n_allocated = a;
        }
        c = parent->children + parent->n_children++;
        *c = (Node){};
        return c;
}

static int path_split(const char *name, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        const char *s = name;

        if (streq(name, ".")) {
                *ret = NULL;
                return 0;
        }
        for (;;) {
                size_t n = strcspn(s, ".");
                int r;

                r = strv_push(&l, strndup(s, n));
                if (r < 0)
                        return -ENOMEM;
                if (!s[n])
                        break;
                s += n + 1;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static const NodeType node_types[] = {
        ['v'] = NODE_ESCAPED, ['&'] = NODE_RAW,    ['#'] = NODE_SECTION, ['^'] = NODE_INVERTED,
        ['>'] = NODE_PARTIAL, ['<'] = NODE_PARENT, ['$'] = NODE_BLOCK,
};

static int node_from_tag(const Parser *p, const Token *t, Node *n) {
        const char *s = p->source;

        n->type = node_types[(unsigned char)t->sigil];
        n->line = t->line;
        n->column = t->column;
        n->standalone = t->standalone;
        n->dynamic = t->dynamic;
        n->indent = s + t->indent;
        n->indent_len = t->indent_len;
        n->body_indent = s + t->body_indent;
        n->body_indent_len = t->body_indent_len;
        n->name = strndup(s + t->name, t->name_len);
        if (!n->name)
                return -ENOMEM;
        if (n->dynamic || strchr("v&#^", t->sigil))
                return path_split(n->name, &n->path);
        return 0;
}

static int parser_build(Parser *p, Template *t) {
        Node *stack[MUSTACHE_DEPTH_MAX + 1];
        size_t depth = 0;
        bool bol = true;

        stack[0] = &t->root;
        for (size_t i = 0; i < p->n_tokens; i++) {
                const Token *k = p->tokens + i;
                Node *n;
                int r;

                if (k->sigil == 0) {
                        /* text after a standalone line begins a line */
                        if (k->kept > k->start)
                                bol = true;
                        if (k->kept == k->kept_end)
                                continue;
                        n = node_append(stack[depth]);
                        if (!n)
                                return -ENOMEM;
                        n->type = NODE_TEXT;
                        n->line = k->line;
                        n->column = k->column;
                        advance(p->source, k->start, k->kept, &n->line, &n->column);
                        n->bol = bol;
                        n->text = p->source + k->kept;
                        n->len = k->kept_end - k->kept;
                        bol = n->text[n->len - 1] == '\n';
                        continue;
                }

                /* tags that print nothing leave the line's beginning to what follows */
                if (k->sigil == '!' || k->sigil == '=')
                        continue;
                if (k->sigil == '/') {
                        depth--;
                        continue;
                }

                n = node_append(stack[depth]);
                if (!n)
                        return -ENOMEM;
                r = node_from_tag(p, k, n);
                if (r < 0)
                        return r;
                if (!k->standalone) {
                        n->bol = bol;
                        bol = false;
                }
                if (strchr("#^<$", k->sigil))
                        stack[++depth] = n;
        }
        return 0;
}

static int template_parse(const char *what, const char *source, Template **ret, char **ret_error) {
        _cleanup_(template_freep) Template *t = NULL;
        _cleanup_(parser_done) Parser p = {
                .otag = "{{",
                .ctag = "}}",
                .line = 1,
                .column = 1,
                .error = ret_error,
        };
        int r;

        t = calloc(1, sizeof(Template));
        if (!t)
                return -ENOMEM;
        t->what = strdup(what);
        t->source = strdup(source);
        if (!t->what || !t->source)
                return -ENOMEM;

        p.what = t->what;
        p.source = t->source;
        p.size = strlen(t->source);
        r = parser_tokenize(&p);
        if (r < 0)
                return r;
        parser_mark_standalone(&p);
        r = parser_build(&p, t);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(t);
        return 0;
}

/* The context stack, top first; it lives on the C stack of the render. */
typedef struct Frame {
        json_object *value;
        const struct Frame *below;
} Frame;

/* The parent tags being expanded, innermost first, with the template each is written in. */
typedef struct Overrides {
        const Node *parent;
        const Template *template;
        const struct Overrides *outer;
} Overrides;

/* What happens to each line of the template being rendered: `strip` comes off its beginning,
 * then `add` goes in front. */
typedef struct Indent {
        const char *strip;
        size_t strip_len;
        const char *add;
        size_t add_len;
} Indent;

/* What a list of nodes renders with. */
typedef struct Scope {
        const Template *template; /* the nodes' own, for messages */
        const Frame *context;
        const Overrides *overrides;
        const Indent *indent;
} Scope;

typedef struct Partial {
        char *name;
        Template *template; /* NULL: there is no such partial */
} Partial;

typedef struct Renderer {
        const char *what;
        MustachePartialFn partial;
        void *userdata;
        bool escape; /* {{name}} escapes HTML */
        StrBuf out;
        Partial *partials;
        size_t n_partials;
        unsigned depth; /* partials, parents and replaced blocks being expanded */
        char *error;
} Renderer;

static void renderer_done(Renderer *r) {
        for (size_t i = 0; i < r->n_partials; i++) {
                free(r->partials[i].name);
                template_free(r->partials[i].template);
        }
        free(r->partials);
        strbuf_done(&r->out);
        free(r->error);
}

static int render_error(Renderer *r, const Scope *s, const Node *n, int err, const char *fmt, ...)
        _printf_(5, 6);
static int render_error(Renderer *r, const Scope *s, const Node *n, int err, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        msg = strfv(fmt, ap);
        va_end(ap);
        if (!msg)
                return -ENOMEM;
        return error_set(&r->error, err, "%s:%u:%u: %s", s->template->what, n->line, n->column,
                         msg);
}

static int emit(Renderer *r, const Scope *s, const Node *n, const char *p, size_t len) {
        int k;

        k = strbuf_append(&r->out, p, len);
        if (k == -E2BIG)
                return render_error(r, s, n, k, "output is larger than %u MiB",
                                    MUSTACHE_OUTPUT_MAX / 1024U / 1024U);
        return k;
}

static int emit_escaped(Renderer *r, const Scope *s, const Node *n, const char *p, size_t len) {
        size_t done = 0;
        int k;

        for (size_t i = 0; i < len; i++) {
                const char *e;

                switch (p[i]) {
                case '&':
                        e = "&amp;";
                        break;
                case '<':
                        e = "&lt;";
                        break;
                case '>':
                        e = "&gt;";
                        break;
                case '"':
                        e = "&quot;";
                        break;
                case '\'':
                        e = "&#39;";
                        break;
                default:
                        continue;
                }
                k = emit(r, s, n, p + done, i - done);
                if (k < 0)
                        return k;
                k = emit(r, s, n, e, strlen(e));
                if (k < 0)
                        return k;
                done = i + 1;
        }
        return emit(r, s, n, p + done, len - done);
}

/* The shortest text that reads back as the same double, keeping a ".0" on whole numbers the
 * way json-c writes them: 1.21 stays "1.21" (not "1.2099999999999999"), 2.0 stays "2.0". */
static void format_double(double d, char buf[static NUMBER_MAX]) {
        for (int precision = 1; precision <= 17; precision++) {
                snprintf(buf, NUMBER_MAX, "%.*g", precision, d);
                if (strtod(buf, NULL) == d)
                        break;
        }
        if (isfinite(d) && !strpbrk(buf, ".e"))
                memcpy(buf + strlen(buf), ".0", 3); /* fits: "%.17g" is at most 24 bytes */
}

/* The text a value interpolates as. buf holds a number's text. */
static int value_text(json_object *v, char buf[static NUMBER_MAX], const char **ret,
                      size_t *ret_len) {
        const char *t;

        switch (json_object_get_type(v)) {
        case json_type_null:
                t = "";
                break;
        case json_type_boolean:
                t = json_object_get_boolean(v) ? "true" : "false";
                break;
        case json_type_double:
                format_double(json_object_get_double(v), buf);
                t = buf;
                break;
        case json_type_string:
                *ret = json_object_get_string(v);
                *ret_len = (size_t)json_object_get_string_len(v);
                return 0;
        default: /* integers as digits, objects and arrays as JSON */
                t = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE);
                if (!t)
                        return -ENOMEM;
        }
        *ret = t;
        *ret_len = strlen(t);
        return 0;
}

/* false, null, a missing name, an empty list and an empty string are falsey. */
static bool value_truthy(json_object *v) {
        switch (json_object_get_type(v)) {
        case json_type_null:
                return false;
        case json_type_boolean:
                return json_object_get_boolean(v);
        case json_type_array:
                return json_object_array_length(v) > 0;
        case json_type_string:
                return json_object_get_string_len(v) > 0;
        default:
                return true;
        }
}

/* Resolves a name as the spec says: the topmost frame that holds the first part decides, the
 * other parts are looked up only in what it holds. NULL when missing (or null). */
static json_object *context_lookup(const Frame *f, char *const *path) {
        json_object *v = NULL;

        if (!path)
                return f->value;
        for (; f; f = f->below)
                if (json_object_object_get_ex(f->value, path[0], &v))
                        break;
        if (!f)
                return NULL;
        for (char *const *p = path + 1; *p; p++)
                if (!json_object_object_get_ex(v, *p, &v))
                        return NULL;
        return v;
}

static int render_nodes(Renderer *r, const Scope *s, const Node *nodes, size_t n,
                        bool inline_start);

static size_t common_prefix(const char *a, size_t a_len, const char *b, size_t b_len) {
        size_t i = 0;

        while (i < a_len && i < b_len && a[i] == b[i])
                i++;
        return i;
}

static bool line_is_empty(const char *t, size_t len) {
        return (len == 1 && t[0] == '\n') || (len == 2 && t[0] == '\r' && t[1] == '\n');
}

/* Every line of the text loses s->indent->strip and gains s->indent->add; the first one only
 * when it begins a line of the template (bol), and gains only when it is not expanded in the
 * middle of an output line (indent). */
static int render_text(Renderer *r, const Scope *s, const Node *n, bool indent) {
        const char *t = n->text, *end = n->text + n->len;
        bool bol = n->bol;
        int k;

        while (t < end) {
                const char *nl = memchr(t, '\n', (size_t)(end - t));
                const char *e = nl ? nl + 1 : end;

                if (bol)
                        t += common_prefix(t, (size_t)(e - t), s->indent->strip,
                                           s->indent->strip_len);
                /* empty lines stay empty: no trailing whitespace from indentation */
                if (indent && !line_is_empty(t, (size_t)(e - t))) {
                        k = emit(r, s, n, s->indent->add, s->indent->add_len);
                        if (k < 0)
                                return k;
                }
                k = emit(r, s, n, t, (size_t)(e - t));
                if (k < 0)
                        return k;
                t = e;
                bol = indent = true;
        }
        return 0;
}

static int render_variable(Renderer *r, const Scope *s, const Node *n) {
        char buf[NUMBER_MAX];
        const char *t;
        size_t len;
        int k;

        k = value_text(context_lookup(s->context, n->path), buf, &t, &len);
        if (k < 0)
                return k;
        if (n->type == NODE_ESCAPED && r->escape)
                return emit_escaped(r, s, n, t, len);
        return emit(r, s, n, t, len);
}

static int render_section(Renderer *r, const Scope *s, const Node *n) {
        json_object *v = context_lookup(s->context, n->path);
        Scope sub = *s;
        Frame f = {.below = s->context};
        size_t count = 1;

        if (n->type == NODE_INVERTED) {
                if (value_truthy(v))
                        return 0;
                return render_nodes(r, s, n->children, n->n_children, false);
        }

        if (!value_truthy(v))
                return 0;
        if (json_object_is_type(v, json_type_array))
                count = json_object_array_length(v);

        sub.context = &f;
        for (size_t i = 0; i < count; i++) {
                int k;

                f.value = json_object_is_type(v, json_type_array) ? json_object_array_get_idx(v, i)
                                                                  : v;
                k = render_nodes(r, &sub, n->children, n->n_children, false);
                if (k < 0)
                        return k;
        }
        return 0;
}

/* The indentation of a template expanded at a tag that has `site` before it (NULL: inline),
 * whose own lines lose `strip`. *ret_buf keeps what needs freeing. */
static int indent_nest(const Indent *outer, const char *site, size_t site_len, const char *strip,
                       size_t strip_len, Indent *ret, char **ret_buf) {
        size_t i;
        char *b;

        /* the site is written in the outer template, whose lines lose outer->strip */
        i = common_prefix(site, site_len, outer->strip, outer->strip_len);
        site += i;
        site_len -= i;

        *ret = (Indent){
                .strip = strip,
                .strip_len = strip_len,
                .add = outer->add,
                .add_len = outer->add_len,
        };
        *ret_buf = NULL;
        if (site_len == 0)
                return 0;

        b = malloc(outer->add_len + site_len);
        if (!b)
                return -ENOMEM;
        memcpy(b, outer->add, outer->add_len);
        memcpy(b + outer->add_len, site, site_len);
        ret->add = *ret_buf = b;
        ret->add_len = outer->add_len + site_len;
        return 0;
}

static int renderer_find_partial(Renderer *r, const Scope *s, const Node *n, const char *name,
                                 const Template **ret) {
        _cleanup_(template_freep) Template *t = NULL;
        _cleanup_free_ char *source = NULL, *what = NULL, *copy = NULL;
        Partial *p;
        int k;

        for (size_t i = 0; i < r->n_partials; i++)
                if (streq(r->partials[i].name, name)) {
                        *ret = r->partials[i].template;
                        return 0;
                }

        k = r->partial ? r->partial(name, &source, r->userdata) : -ENOENT;
        if (k < 0 && k != -ENOENT)
                return render_error(r, s, n, k, "cannot load partial \"%s\": %s", name,
                                    strerror(-k));
        if (k >= 0) {
                what = strf("%s: partial %s", r->what, name);
                if (!what)
                        return -ENOMEM;
                k = template_parse(what, strempty(source), &t, &r->error);
                if (k < 0)
                        return k;
        }

        p = reallocarray(r->partials, r->n_partials + 1, sizeof(Partial));
        if (!p)
                return -ENOMEM;
        r->partials = p;
        copy = strdup(name);
        if (!copy)
                return -ENOMEM;
        p[r->n_partials++] = (Partial){.name = TAKE_PTR(copy), .template = t};
        *ret = TAKE_PTR(t);
        return 0;
}

/* Partials and parents: the template named by the tag, in the same context. */
static int render_partial(Renderer *r, const Scope *s, const Node *n) {
        _cleanup_free_ char *buf = NULL;
        const Template *t = NULL;
        const char *name = n->name;
        char number[NUMBER_MAX];
        Overrides o = {.parent = n, .template = s->template, .outer = s->overrides};
        Indent indent;
        Scope sub;
        int k;

        if (n->dynamic) {
                size_t len;

                k = value_text(context_lookup(s->context, n->path), number, &name, &len);
                if (k < 0)
                        return k;
                if (len == 0 || strlen(name) != len)
                        return 0;
        }

        k = renderer_find_partial(r, s, n, name, &t);
        if (k < 0)
                return k;
        if (!t)
                return 0;

        if (r->depth >= MUSTACHE_DEPTH_MAX)
                return render_error(r, s, n, -ELOOP,
                                    "partials nest deeper than %u: does \"%s\" include itself?",
                                    MUSTACHE_DEPTH_MAX, name);
        k = indent_nest(s->indent, n->indent, n->standalone ? n->indent_len : 0, "", 0, &indent,
                        &buf);
        if (k < 0)
                return k;
        sub = (Scope){
                .template = t,
                .context = s->context,
                .overrides = n->type == NODE_PARENT ? &o : s->overrides,
                .indent = &indent,
        };

        r->depth++;
        k = render_nodes(r, &sub, t->root.children, t->root.n_children, !n->standalone);
        r->depth--;
        return k;
}

/* A block shows what the outermost parent tag being expanded gives for it, else its own
 * content. */
static int render_block(Renderer *r, const Scope *s, const Node *n) {
        _cleanup_free_ char *buf = NULL;
        const Overrides *from = NULL;
        const Node *body = NULL;
        Indent indent;
        Scope sub;
        int k;

        for (const Overrides *o = s->overrides; o; o = o->outer)
                for (size_t i = 0; i < o->parent->n_children; i++) {
                        const Node *c = o->parent->children + i;

                        if (c->type == NODE_BLOCK && streq(c->name, n->name)) {
                                from = o;
                                body = c;
                                break;
                        }
                }
        if (!body)
                return render_nodes(r, s, n->children, n->n_children, false);

        if (r->depth >= MUSTACHE_DEPTH_MAX)
                return render_error(r, s, n, -ELOOP,
                                    "blocks nest deeper than %u: does block \"%s\" include itself?",
                                    MUSTACHE_DEPTH_MAX, n->name);
        k = indent_nest(s->indent, n->indent, n->indent_len, body->body_indent,
                        body->body_indent_len, &indent, &buf);
        if (k < 0)
                return k;
        sub = (Scope){
                .template = from->template,
                .context = s->context,
                .overrides = s->overrides,
                .indent = &indent,
        };

        r->depth++;
        k = render_nodes(r, &sub, body->children, body->n_children, !n->standalone);
        r->depth--;
        return k;
}

/* inline_start: the nodes are expanded in the middle of a line, so the first one takes no
 * indentation even if it begins a line of its template. */
static int render_nodes(Renderer *r, const Scope *s, const Node *nodes, size_t n,
                        bool inline_start) {
        for (size_t i = 0; i < n; i++) {
                const Node *node = nodes + i;
                bool indent = node->bol && !(inline_start && i == 0);
                int k = 0;

                if (node->type == NODE_TEXT) {
                        k = render_text(r, s, node, indent);
                        if (k < 0)
                                return k;
                        continue;
                }

                if (indent) {
                        k = emit(r, s, node, s->indent->add, s->indent->add_len);
                        if (k < 0)
                                return k;
                }
                switch (node->type) {
                case NODE_ESCAPED:
                case NODE_RAW:
                        k = render_variable(r, s, node);
                        break;
                case NODE_SECTION:
                case NODE_INVERTED:
                        k = render_section(r, s, node);
                        break;
                case NODE_PARTIAL:
                case NODE_PARENT:
                        k = render_partial(r, s, node);
                        break;
                case NODE_BLOCK:
                        k = render_block(r, s, node);
                        break;
                case NODE_TEXT:
                        break;
                }
                if (k < 0)
                        return k;
        }
        return 0;
}

static int render(const char *what, const char *template, json_object *data, json_object *extra,
                  MustachePartialFn partial, void *userdata, bool escape, char **ret,
                  char **ret_error) {
        _cleanup_(template_freep) Template *t = NULL;
        _cleanup_(renderer_done) Renderer r = {
                .partial = partial,
                .userdata = userdata,
                .escape = escape,
                .out.max = MUSTACHE_OUTPUT_MAX,
        };
        Frame bottom = {.value = data}, top = {.value = extra, .below = &bottom};
        Indent none = {.strip = "", .add = ""};
        Scope s = {.context = extra ? &top : &bottom, .indent = &none};
        char *out;
        int k;

        r.what = what = what ?: "template";
        if (!template)
                return error_set(ret_error, -EINVAL, "%s: no template", what);

        k = template_parse(what, template, &t, ret_error);
        if (k == -ENOMEM)
                return error_set(ret_error, k, "%s: out of memory", what);
        if (k < 0)
                return k;

        s.template = t;
        k = render_nodes(&r, &s, t->root.children, t->root.n_children, false);
        if (k < 0 && !r.error)
                return error_set(ret_error, k, "%s: %s", what, strerror(-k));
        if (k < 0) {
                if (ret_error)
                        *ret_error = TAKE_PTR(r.error);
                return k;
        }

        out = strbuf_steal(&r.out);
        if (!out)
                return error_set(ret_error, -ENOMEM, "%s: out of memory", what);
        *ret = out;
        return 0;
}

int mustache_render(const char *what, const char *template, json_object *data, json_object *extra,
                    MustachePartialFn partial, void *userdata, char **ret, char **ret_error) {
        return render(what, template, data, extra, partial, userdata, true, ret, ret_error);
}

int mustache_render_unescaped(const char *what, const char *template, json_object *data,
                              json_object *extra, MustachePartialFn partial, void *userdata,
                              char **ret, char **ret_error) {
        return render(what, template, data, extra, partial, userdata, false, ret, ret_error);
}
