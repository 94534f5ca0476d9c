/* chat/jinja/jinja.c: the renderer's entry points and its arena.
 *
 * The subset (what chat templates use), with jinja2 3.1's semantics as HF
 * configures it (trim_blocks, lstrip_blocks, loopcontrols):
 *   text; {{ expr }}; {# comments #}; -/+ whitespace markers; {% raw %};
 *   {% if %}/{% elif %}/{% else %}; {% for a[, b] in xs [if cond] %} with
 *   loop.index/index0/revindex/revindex0/first/last/length/previtem/
 *   nextitem/cycle(), {% else %}, {% break %}, {% continue %};
 *   {% set x = ... %}, {% set a, b = ... %}, {% set ns.attr = ... %},
 *   {% set x %}...{% endset %}; {% macro m(a, b=1) %} and calls;
 *   HF's {% generation %} (renders its body);
 *   literals (strings with Python escapes, ints, floats, true/false/none,
 *   lists, tuples, dicts); x.attr, x[i], x[a:b:c]; + - * / // % ** ~;
 *   comparisons (chained), in, not in, and, or, not, `a if c else b`;
 *   tests defined undefined none boolean true false integer float number
 *   string mapping iterable sequence callable odd even divisibleby
 *   eq/ne/lt/le/gt/ge (and their aliases) in sameas lower upper;
 *   filters default/d length/count string safe upper lower title
 *   capitalize trim tojson replace abs int float first last list reverse
 *   items join map select reject selectattr rejectattr unique indent sort
 *   dictsort;
 *   str methods strip lstrip rstrip upper lower title capitalize split
 *   replace join startswith endswith find; dict methods items keys values
 *   get; globals raise_exception, namespace, range, strftime_now.
 * Refused with the line: other tags (call, filter, include, import,
 * extends, block, with, do, ...) at parse; unknown filters and tests at
 * parse, or, inside an if or an inline if, when they run (as jinja2 3.x
 * does); unknown methods, %-formatting and \N{} escapes. Values differ
 * from Python's where Python has bignums (int64 overflow is an error),
 * in case mapping beyond Latin, Greek and Cyrillic, and in bound methods
 * used without a call (undefined here). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/jinja/jinja_impl.h"

#define CHUNK_BYTES (64u << 10)

int jinja_vfail(struct tl_error *err, int code, int line, const char *fmt, va_list ap)
{
    char msg[400];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (line > 0)
        return tl_fail(err, code, "template line %d: %s", line, msg);
    return tl_fail(err, code, "template: %s", msg);
}

struct jarena_chunk {
    struct jarena_chunk *next;
    size_t used, cap;            /* bytes of data */
    max_align_t data[];
};

void *jarena_alloc(struct jarena *a, size_t n)
{
    const size_t align = sizeof(max_align_t);
    if (n > SIZE_MAX / 2)
        return NULL;
    n = (n + align - 1) / align * align;
    struct jarena_chunk *h = a->head;
    if (h && h->cap - h->used >= n) {
        void *p = (char *)h->data + h->used;
        h->used += n;
        return p;
    }
    size_t cap = n > CHUNK_BYTES / 4 ? n : CHUNK_BYTES;
    size_t bytes = sizeof(struct jarena_chunk) + cap;
    if (a->limit && bytes > a->limit - (a->total < a->limit ? a->total : a->limit)) {
        a->over_limit = true;
        return NULL;
    }
    struct jarena_chunk *c = malloc(bytes);
    if (!c)
        return NULL;
    a->total += bytes;
    c->cap = cap;
    c->used = n;
    if (h && cap != CHUNK_BYTES) {
        /* a big block goes behind the current chunk, which keeps its room */
        c->next = h->next;
        h->next = c;
    } else {
        c->next = h;
        a->head = c;
    }
    return c->data;
}

char *jarena_strdup(struct jarena *a, const char *s, size_t n)
{
    char *p = jarena_alloc(a, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

void jarena_free(struct jarena *a)
{
    struct jarena_chunk *c = a->head;
    while (c) {
        struct jarena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->total = 0;
}

struct jinja_template {
    struct jarena arena;   /* the normalized source, token texts and the tree */
    struct jnode *root;    /* JN_BODY */
};

/* jinja2 reads "\r\n" and "\r" as "\n" and drops one final newline
 * (keep_trailing_newline=False). */
static size_t normalize(const char *src, size_t len, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            out[k++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n')
                i++;
        } else {
            out[k++] = src[i];
        }
    }
    if (k && out[k - 1] == '\n')
        k--;
    out[k] = 0;
    return k;
}

int jinja_parse(const char *src, size_t len, struct jinja_template **out, struct tl_error *err)
{
    struct jtokens toks = { 0 };
    int rc;
    *out = NULL;
    size_t good = json_utf8_prefix(src, len);
    if (good != len) {
        int line = 1;
        for (size_t i = 0; i < good; i++)
            line += src[i] == '\n';
        return tl_fail(err, TL_EFORMAT, "template line %d: not valid UTF-8", line);
    }
    struct jinja_template *t = calloc(1, sizeof *t);
    char *text = t ? jarena_alloc(&t->arena, len + 1) : NULL;
    if (!text) {
        rc = tl_fail(err, TL_ENOMEM, "out of memory reading the template");
        goto out;
    }
    size_t n = normalize(src, len, text);
    if ((rc = jinja_lex(text, n, &t->arena, &toks, err)) == TL_OK)
        rc = jinja_parse_tokens(&toks, &t->arena, &t->root, err);
out:
    free(toks.t);
    if (rc != TL_OK)
        jinja_free(t);
    else
        *out = t;
    return rc;
}

void jinja_free(struct jinja_template *t)
{
    if (!t)
        return;
    jarena_free(&t->arena);
    free(t);
}

int jinja_render(const struct jinja_template *t, const struct json_value *vars,
                 char **out, size_t *out_len, struct tl_error *err)
{
    struct jarena ar = { .limit = JINJA_MAX_MEMORY };
    struct json_buf buf = jv_buf();
    struct jscope globals = { 0 }, top = { .parent = &globals };
    struct jctx c = { .ar = &ar, .out = &buf, .scope = &top, .err = err };
    int rc = TL_OK;
    *out = NULL;
    *out_len = 0;
    if (vars && vars->type != JSON_OBJECT) {
        rc = tl_fail(err, TL_EINVAL, "template variables must be a JSON object");
        goto out;
    }
    for (size_t i = 0; vars && i < vars->v.obj.n && rc == TL_OK; i++) {
        struct jval v;
        if ((rc = jv_from_json(&c, &vars->v.obj.members[i].value, &v, 0)) == TL_OK)
            rc = jx_scope_set(&c, NULL, &globals, vars->v.obj.members[i].key, v);
    }
    if (rc == TL_OK)
        rc = jx_exec(&c, t->root);
    if (rc == TL_OK && !buf.p && !json_buf_put(&buf, "", 0))
        rc = jv_buf_error(&c, NULL, &buf);
out:
    if (rc == TL_OK) {
        *out = buf.p;
        *out_len = buf.len;
    } else {
        json_buf_free(&buf);
    }
    jarena_free(&ar);
    return rc;
}
