/* chat/jinja/lex.c: template source -> tokens, with jinja2's whitespace rules as
 * Hugging Face configures them: trim_blocks (one newline after a block or
 * comment tag is dropped), lstrip_blocks (spaces before a block or comment
 * tag on its own line are dropped), "-" markers (all whitespace on that
 * side is dropped) and "+" markers (lstrip/trim turned off for that tag). */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "chat/jinja/jinja_impl.h"

struct lexer {
    const char      *s;
    size_t           n, pos;
    int              line;           /* line of s[pos] */
    bool             line_starting;  /* the last thing consumed ended with '\n' */
    struct jarena   *a;
    struct jtokens  *out;
    struct tl_error *err;
};

static int lx_fail(struct lexer *L, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int lx_fail(struct lexer *L, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = jinja_vfail(L->err, TL_EFORMAT, line, fmt, ap);
    va_end(ap);
    return rc;
}

static int lx_push(struct lexer *L, int kind, int line, const char *s, size_t n)
{
    struct jtokens *o = L->out;
    if (o->n == o->cap) {
        size_t nc = o->cap ? o->cap * 2 : 256;
        struct jtoken *nt = nc > SIZE_MAX / sizeof *nt ? NULL : realloc(o->t, nc * sizeof *nt);
        if (!nt)
            return tl_fail(L->err, TL_ENOMEM, "out of memory reading the template");
        o->t = nt;
        o->cap = nc;
    }
    struct jtoken *t = &o->t[o->n++];
    memset(t, 0, sizeof *t);
    t->kind = kind;
    t->line = line;
    t->s = s;
    t->n = n;
    return TL_OK;
}

/* Move to to, counting lines. */
static void lx_advance(struct lexer *L, size_t to)
{
    for (; L->pos < to; L->pos++)
        L->line += L->s[L->pos] == '\n';
}

static size_t lx_skip_space(const struct lexer *L, size_t i)
{
    size_t k;
    while (i < L->n && (k = py_space(L->s + i, L->n - i)) > 0)
        i += k;
    return i;
}

/* Go on at end, just past a closing tag whose whitespace mark is mark:
 * '-' strips the whitespace that follows, '+' keeps it, none (0) lets
 * trim_blocks eat one newline. */
static void lx_after_tag(struct lexer *L, size_t end, char mark)
{
    if (mark == '-')
        end = lx_skip_space(L, end);
    else if (mark != '+' && end < L->n && L->s[end] == '\n')
        end++;
    lx_advance(L, end);
    L->line_starting = L->s[end - 1] == '\n';
}

static bool lx_at(const struct lexer *L, size_t i, const char *lit)
{
    size_t k = strlen(lit);
    return i <= L->n && L->n - i >= k && !memcmp(L->s + i, lit, k);
}

/* End of the text [from, to) before a tag whose marker is sign ('-', '+'
 * or 0); lstrip applies to block and comment tags only. */
static size_t lx_strip_text(const struct lexer *L, size_t from, size_t to, char sign, bool lstrip)
{
    if (sign == '-') {
        size_t k;
        while (to > from && (k = py_space_before(L->s + from, to - from)) > 0)
            to -= k;
        return to;
    }
    if (sign == '+' || !lstrip)
        return to;
    size_t l = to;
    while (l > from && L->s[l - 1] != '\n')
        l--;
    if (l == from && !L->line_starting)
        return to;
    if (l < to && lx_skip_space(L, l) == to)
        return l;
    return to;
}

/* After `{%` + sign at i: `\s*WORD\s*` then `%}`, `-%}` (or, when plus_ok,
 * `+%}`)? Sets *end past it and *mark to '-', '+' or 0. */
static bool lx_raw_tag(const struct lexer *L, size_t i, const char *word, bool plus_ok,
                       size_t *end, char *mark)
{
    i = lx_skip_space(L, i);
    if (!lx_at(L, i, word))
        return false;
    i = lx_skip_space(L, i + strlen(word));
    *mark = 0;
    if (lx_at(L, i, "-%}") || (plus_ok && lx_at(L, i, "+%}")))
        *mark = L->s[i++];
    if (!lx_at(L, i, "%}"))
        return false;
    *end = i + 2;
    return true;
}

static int lx_emit_text(struct lexer *L, size_t tag, char sign, bool lstrip)
{
    size_t end = lx_strip_text(L, L->pos, tag, sign, lstrip);
    int rc = TL_OK;
    if (end > L->pos)
        rc = lx_push(L, JT_DATA, L->line, L->s + L->pos, end - L->pos);
    lx_advance(L, tag);
    return rc;
}

/* {% raw %}...{% endraw %}: the body is text, taken as is. */
static int lx_raw(struct lexer *L, size_t after_begin, char mark)
{
    int line = L->line;
    lx_advance(L, mark == '-' ? lx_skip_space(L, after_begin) : after_begin);
    L->line_starting = L->pos > 0 && L->s[L->pos - 1] == '\n';
    for (size_t i = L->pos; i + 1 < L->n; i++) {
        if (L->s[i] != '{' || L->s[i + 1] != '%')
            continue;
        char sign = (L->s[i + 2] == '-' || L->s[i + 2] == '+') ? L->s[i + 2] : 0;
        size_t end;
        char end_mark;
        if (!lx_raw_tag(L, i + 2 + (sign != 0), "endraw", true, &end, &end_mark))
            continue;
        int rc = lx_emit_text(L, i, sign, true);
        if (rc != TL_OK)
            return rc;
        lx_after_tag(L, end, end_mark);
        return TL_OK;
    }
    return lx_fail(L, line, "%s", "missing {% endraw %} for the {% raw %} here");
}

static int lx_comment(struct lexer *L, size_t body)
{
    int line = L->line;
    const char *q = NULL;
    for (size_t i = body; i + 1 < L->n; i++)
        if (L->s[i] == '#' && L->s[i + 1] == '}') {
            q = L->s + i;
            break;
        }
    if (!q)
        return lx_fail(L, line, "%s", "unterminated comment ({# without #})");
    size_t at = (size_t)(q - L->s), end = at + 2;
    char mark = at > body ? L->s[at - 1] : 0;
    lx_after_tag(L, end, mark);
    return TL_OK;
}

/* Python unicode-escape decoding of a string literal body. */
static int lx_unescape_one(struct lexer *L, int line, const char *s, size_t n, size_t *i, char *o, size_t *k)
{
    static const char simple_from[] = "\\'\"abfnrtv", simple_to[] = "\\'\"\a\b\f\n\r\t\v";
    char e = s[*i + 1];
    const char *hit = strchr(simple_from, e);
    if (e && hit) {
        o[(*k)++] = simple_to[hit - simple_from];
        *i += 2;
        return TL_OK;
    }
    if (e == '\n') {
        *i += 2;
        return TL_OK;
    }
    unsigned cp = 0;
    size_t digits = 0, j = *i + 1;
    if (e >= '0' && e <= '7') {
        for (; j < n && digits < 3 && s[j] >= '0' && s[j] <= '7'; j++, digits++)
            cp = cp * 8 + (unsigned)(s[j] - '0');
    } else if (e == 'x' || e == 'u' || e == 'U') {
        size_t want = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        for (j++; digits < want; j++, digits++) {
            int d = j < n ? s[j] : 0;
            int v = d >= '0' && d <= '9' ? d - '0' : d >= 'a' && d <= 'f' ? d - 'a' + 10 :
                    d >= 'A' && d <= 'F' ? d - 'A' + 10 : -1;
            if (v < 0)
                return lx_fail(L, line, "truncated \\%c escape in a string", e);
            cp = cp * 16 + (unsigned)v;
        }
    } else if (e == 'N') {
        return lx_fail(L, line, "%s", "\\N{...} escapes are not supported");
    } else {
        o[(*k)++] = '\\';   /* unknown escapes stay as written */
        *i += 1;
        return TL_OK;
    }
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return lx_fail(L, line, "%s", "escape is not a valid character");
    char tmp[4];
    size_t len = json_utf8_encode(cp, tmp);
    memcpy(o + *k, tmp, len);
    *k += len;
    *i = j;
    return TL_OK;
}

static int lx_string(struct lexer *L)
{
    char quote = L->s[L->pos];
    int line = L->line;
    size_t i = L->pos + 1;
    while (i < L->n && L->s[i] != quote)
        i += L->s[i] == '\\' ? 2 : 1;
    if (i >= L->n)
        return lx_fail(L, line, "%s", "unterminated string");
    const char *body = L->s + L->pos + 1;
    size_t n = i - L->pos - 1, k = 0;
    /* an escape never decodes to more bytes than it is written with */
    char *o = jarena_alloc(L->a, n + 1);
    if (!o)
        return tl_fail(L->err, TL_ENOMEM, "out of memory reading the template");
    for (size_t j = 0; j < n;) {
        if (body[j] != '\\') {
            o[k++] = body[j++];
            continue;
        }
        int rc = lx_unescape_one(L, line, body, n, &j, o, &k);
        if (rc != TL_OK)
            return rc;
    }
    o[k] = 0;
    int rc = lx_push(L, JT_STRING, line, o, k);
    lx_advance(L, i + 1);
    return rc;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_name(char c) { return c == '_' || ((c | 32) >= 'a' && (c | 32) <= 'z'); }

static int lx_number(struct lexer *L)
{
    const char *s = L->s;
    size_t i = L->pos, n = L->n;
    int base = 10;
    bool is_float = false;
    if (s[i] == '0' && i + 1 < n && strchr("xXoObB", s[i + 1]) && s[i + 1]) {
        base = (s[i + 1] | 32) == 'x' ? 16 : (s[i + 1] | 32) == 'o' ? 8 : 2;
        i += 2;
        while (i < n && (is_digit(s[i]) || ((s[i] | 32) >= 'a' && (s[i] | 32) <= 'f') || s[i] == '_'))
            i++;
    } else {
        while (i < n && (is_digit(s[i]) || (s[i] == '_' && i + 1 < n && is_digit(s[i + 1]))))
            i++;
        if (i + 1 < n && s[i] == '.' && is_digit(s[i + 1])) {
            is_float = true;
            for (i++; i < n && (is_digit(s[i]) || (s[i] == '_' && i + 1 < n && is_digit(s[i + 1]))); i++)
                ;
        }
        size_t e = i + 1 < n && (s[i + 1] == '+' || s[i + 1] == '-') ? i + 2 : i + 1;
        if (i < n && (s[i] | 32) == 'e' && e < n && is_digit(s[e])) {
            is_float = true;
            for (i = e; i < n && (is_digit(s[i]) || s[i] == '_'); i++)
                ;
        }
    }
    char tmp[128];
    size_t k = 0;
    for (size_t j = L->pos + (base != 10 ? 2 : 0); j < i && k + 1 < sizeof tmp; j++)
        if (s[j] != '_')
            tmp[k++] = s[j];
    tmp[k] = 0;
    if (i - L->pos >= sizeof tmp || k == 0)
        return lx_fail(L, L->line, "%s", "bad number");
    int rc = lx_push(L, is_float ? JT_FLOAT : JT_INT, L->line, s + L->pos, i - L->pos);
    if (rc != TL_OK)
        return rc;
    struct jtoken *t = &L->out->t[L->out->n - 1];
    char *end;
    errno = 0;
    if (is_float)
        t->f = strtod(tmp, &end);
    else
        t->i = strtoll(tmp, &end, base);
    if (*end || (!is_float && errno == ERANGE))
        return lx_fail(L, L->line, "%s", "bad or too large number");
    lx_advance(L, i);
    return TL_OK;
}

static const struct { const char *text; int op; } lx_ops[] = {
    { "//", OP_FLOORDIV }, { "**", OP_POW }, { "==", OP_EQ }, { "!=", OP_NE },
    { "<=", OP_LE }, { ">=", OP_GE }, { "+", OP_ADD }, { "-", OP_SUB }, { "*", OP_MUL },
    { "/", OP_DIV }, { "%", OP_MOD }, { "~", OP_TILDE }, { "<", OP_LT }, { ">", OP_GT },
    { "=", OP_ASSIGN }, { ".", OP_DOT }, { ":", OP_COLON }, { "|", OP_PIPE },
    { ",", OP_COMMA }, { ";", OP_SEMI }, { "(", OP_LPAREN }, { ")", OP_RPAREN },
    { "[", OP_LBRACKET }, { "]", OP_RBRACKET }, { "{", OP_LBRACE }, { "}", OP_RBRACE },
};

/* One operator; brackets must balance (stack holds the closers expected). */
static int lx_operator(struct lexer *L, char *stack, int *depth)
{
    for (size_t k = 0; k < sizeof lx_ops / sizeof lx_ops[0]; k++) {
        if (!lx_at(L, L->pos, lx_ops[k].text))
            continue;
        int op = lx_ops[k].op;
        char ch = lx_ops[k].text[0];
        if (op == OP_LPAREN || op == OP_LBRACKET || op == OP_LBRACE) {
            if (*depth >= JINJA_MAX_NEST)
                return lx_fail(L, L->line, "%s", "brackets nested too deeply");
            stack[(*depth)++] = ch == '(' ? ')' : ch == '[' ? ']' : '}';
        } else if (op == OP_RPAREN || op == OP_RBRACKET || op == OP_RBRACE) {
            if (*depth == 0 || stack[*depth - 1] != ch)
                return lx_fail(L, L->line, "unexpected '%s'", lx_ops[k].text);
            (*depth)--;
        }
        int rc = lx_push(L, JT_OP, L->line, L->s + L->pos, strlen(lx_ops[k].text));
        if (rc == TL_OK)
            L->out->t[L->out->n - 1].op = op;
        lx_advance(L, L->pos + strlen(lx_ops[k].text));
        return rc;
    }
    char c[2] = { L->s[L->pos], 0 };
    return lx_fail(L, L->line, "unexpected character '%s' in a tag", c);
}

/* The end of a {{ }} or {% %} tag at L->pos? Consumes it with its marker. */
static bool lx_tag_end(struct lexer *L, bool block)
{
    const char *close = block ? "%}" : "}}";
    char mark = L->s[L->pos];
    if (((block && mark == '+') || mark == '-') && lx_at(L, L->pos + 1, close))
        lx_after_tag(L, L->pos + 3, mark);
    else if (lx_at(L, L->pos, close))
        lx_after_tag(L, L->pos + 2, block ? 0 : '+');   /* a plain }} keeps its newline, as '+' does */
    else
        return false;
    return true;
}

static int lx_tag(struct lexer *L, bool block, size_t body)
{
    int line = L->line, rc, depth = 0;
    char stack[JINJA_MAX_NEST];
    if ((rc = lx_push(L, block ? JT_BLOCK_BEGIN : JT_VAR_BEGIN, line, NULL, 0)) != TL_OK)
        return rc;
    lx_advance(L, body);
    for (;;) {
        if (L->pos >= L->n)
            return lx_fail(L, line, "unterminated tag (%s without its end)", block ? "{%" : "{{");
        if (depth == 0 && lx_tag_end(L, block))
            return lx_push(L, block ? JT_BLOCK_END : JT_VAR_END, L->line, NULL, 0);
        char c = L->s[L->pos];
        size_t sp = py_space(L->s + L->pos, L->n - L->pos);
        if (sp) {
            lx_advance(L, L->pos + sp);
            continue;
        }
        if (is_name(c)) {
            size_t i = L->pos;
            while (i < L->n && (is_name(L->s[i]) || is_digit(L->s[i])))
                i++;
            rc = lx_push(L, JT_NAME, L->line, L->s + L->pos, i - L->pos);
            lx_advance(L, i);
        } else if (is_digit(c)) {
            rc = lx_number(L);
        } else if (c == '\'' || c == '"') {
            rc = lx_string(L);
        } else {
            rc = lx_operator(L, stack, &depth);
        }
        if (rc != TL_OK)
            return rc;
    }
}

/* Earliest "{{", "{%" or "{#" at or after i; n when none. */
static size_t lx_next_tag(const struct lexer *L, size_t i)
{
    for (; i + 1 < L->n; i++) {
        const char *p = memchr(L->s + i, '{', L->n - i - 1);
        if (!p)
            break;
        i = (size_t)(p - L->s);
        if (p[1] == '{' || p[1] == '%' || p[1] == '#')
            return i;
    }
    return L->n;
}

int jinja_lex(const char *src, size_t n, struct jarena *a, struct jtokens *out, struct tl_error *err)
{
    struct lexer L = { src, n, 0, 1, true, a, out, err };
    int rc = TL_OK;
    while (rc == TL_OK && L.pos < n) {
        size_t tag = lx_next_tag(&L, L.pos);
        if (tag == n) {
            rc = lx_push(&L, JT_DATA, L.line, src + L.pos, n - L.pos);
            lx_advance(&L, n);
            break;
        }
        char kind = src[tag + 1];
        char sign = tag + 2 < n && (src[tag + 2] == '-' || src[tag + 2] == '+') ? src[tag + 2] : 0;
        size_t body = tag + 2 + (sign != 0), raw_end = 0;
        char raw_mark = 0;
        bool raw = kind == '%' && lx_raw_tag(&L, body, "raw", false, &raw_end, &raw_mark);
        if ((rc = lx_emit_text(&L, tag, sign, kind != '{')) != TL_OK)
            break;
        L.line_starting = false;
        if (raw)
            rc = lx_raw(&L, raw_end, raw_mark);
        else if (kind == '#')
            rc = lx_comment(&L, body);
        else
            rc = lx_tag(&L, kind == '%', body);
    }
    if (rc == TL_OK)
        rc = lx_push(&L, JT_EOF, L.line, NULL, 0);
    return rc;
}
