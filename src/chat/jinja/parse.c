/* chat/jinja/parse.c: the parser's token helpers and the expression grammar,
 * following jinja2's operator precedence (lowest first): `x if c else y`,
 * or, and, not, comparisons and in/not in, + -, ~, * / // %, **, unary
 * - +, then postfix .attr [index] [a:b:c] (call), then | filter and `is`
 * test. Statements are in chat/jinja/stmt.c. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "chat/jinja/jinja_impl.h"

const struct jtoken *jp_cur(const struct jparser *P) { return &P->t[P->pos]; }

int jp_fail(struct jparser *P, int code, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = jinja_vfail(P->err, code, line, fmt, ap);
    va_end(ap);
    return rc;
}

int jp_nomem(struct jparser *P)
{
    return tl_fail(P->err, TL_ENOMEM, "out of memory parsing the template");
}

/* How a token reads in an error message. */
static const char *tok_desc(const struct jtoken *t, char *buf, size_t cap)
{
    switch (t->kind) {
    case JT_EOF: return "the end of the template";
    case JT_DATA: return "template text";
    case JT_VAR_BEGIN: return "'{{'";
    case JT_VAR_END: return "'}}'";
    case JT_BLOCK_BEGIN: return "'{%'";
    case JT_BLOCK_END: return "'%}'";
    case JT_STRING: return "a string";
    default:
        snprintf(buf, cap, "'%.*s'", (int)(t->n > 40 ? 40 : t->n), t->s);
        return buf;
    }
}

int jp_unexpected(struct jparser *P, const char *wanted)
{
    char buf[64];
    return jp_fail(P, TL_EFORMAT, jp_cur(P)->line, "expected %s, found %s", wanted,
                  tok_desc(jp_cur(P), buf, sizeof buf));
}

bool jp_is_op(const struct jparser *P, int op) { return jp_cur(P)->kind == JT_OP && jp_cur(P)->op == op; }

bool jp_is_word(const struct jparser *P, const char *w)
{
    const struct jtoken *t = jp_cur(P);
    return t->kind == JT_NAME && t->n == strlen(w) && !memcmp(t->s, w, t->n);
}

bool jp_accept_op(struct jparser *P, int op)
{
    if (!jp_is_op(P, op))
        return false;
    P->pos++;
    return true;
}

bool jp_accept_word(struct jparser *P, const char *w)
{
    if (!jp_is_word(P, w))
        return false;
    P->pos++;
    return true;
}

int jp_expect_op(struct jparser *P, int op, const char *desc)
{
    return jp_accept_op(P, op) ? TL_OK : jp_unexpected(P, desc);
}

int jp_expect_kind(struct jparser *P, int kind, const char *desc)
{
    if (jp_cur(P)->kind != kind)
        return jp_unexpected(P, desc);
    P->pos++;
    return TL_OK;
}

struct jnode *jp_new_node(struct jparser *P, int kind, int line)
{
    struct jnode *n = jarena_alloc(P->a, sizeof *n);
    if (n) {
        memset(n, 0, sizeof *n);
        n->kind = (uint8_t)kind;
        n->line = line;
    }
    return n;
}

int jp_nvec_push(struct jparser *P, struct jnvec *v, struct jnode *x)
{
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 4;
        struct jnode **nv = jarena_alloc(P->a, nc * sizeof *nv);
        if (!nv)
            return jp_nomem(P);
        if (v->n)
            memcpy(nv, v->v, v->n * sizeof *nv);
        v->v = nv;
        v->cap = nc;
    }
    v->v[v->n++] = x;
    return TL_OK;
}

/* A filter or test name: NAME ('.' NAME)*, as jinja2 reads it (dotted
 * names are never known ones, but fail only where jinja2 fails). */
static const char *dotted_name(struct jparser *P, const char *what)
{
    size_t start = P->pos;
    if (jp_cur(P)->kind != JT_NAME) {
        jp_unexpected(P, what);
        return NULL;
    }
    P->pos++;
    while (jp_is_op(P, OP_DOT) && P->pos + 1 < P->n && P->t[P->pos + 1].kind == JT_NAME)
        P->pos += 2;
    const char *from = P->t[start].s, *to = P->t[P->pos - 1].s + P->t[P->pos - 1].n;
    char *name = jarena_strdup(P->a, from, (size_t)(to - from));
    if (!name)
        jp_nomem(P);
    return name;
}

static char *tok_name(struct jparser *P, const struct jtoken *t)
{
    return jarena_strdup(P->a, t->s, t->n);
}

/* A NAME token copied out; NULL (with err set) when absent. */
const char *jp_expect_name(struct jparser *P, const char *what)
{
    if (jp_cur(P)->kind != JT_NAME) {
        jp_unexpected(P, what);
        return NULL;
    }
    char *s = tok_name(P, jp_cur(P));
    if (!s)
        jp_nomem(P);
    else
        P->pos++;
    return s;
}

int jp_enter(struct jparser *P)
{
    if (++P->depth > JINJA_MAX_NEST)
        return jp_fail(P, TL_ERANGE, jp_cur(P)->line, "template nested too deeply (over %d levels)", JINJA_MAX_NEST);
    return TL_OK;
}

static int parse_unary(struct jparser *P, bool with_filter, struct jnode **out);
static int parse_primary(struct jparser *P, struct jnode **out);
static int parse_postfix(struct jparser *P, struct jnode **node);

/* Left-associative chains deepen the tree without recursing here; count
 * them against the same bound so evaluation stays shallow. */
static int chain(struct jparser *P, int *k, int kind, int op, int line, struct jnode **left, struct jnode *right)
{
    if (P->depth + ++*k > JINJA_MAX_NEST)
        return jp_fail(P, TL_ERANGE, line, "expression chained too long (over %d operators)", JINJA_MAX_NEST);
    struct jnode *n = jp_new_node(P, kind, line);
    if (!n)
        return jp_nomem(P);
    n->op = (uint8_t)op;
    n->a = *left;
    n->b = right;
    *left = n;
    return TL_OK;
}

/* Arguments of a call, filter or test: `(a, b, name=c)`, the '(' current. */
static int parse_args(struct jparser *P, struct jnode *n)
{
    struct jnvec v = { 0 };
    const char *kw[JINJA_MAX_ARGS];
    size_t nkw = 0;
    int rc;
    P->pos++;
    while (!jp_is_op(P, OP_RPAREN)) {
        if (v.n && (rc = jp_expect_op(P, OP_COMMA, "',' or ')'")) != TL_OK)
            return rc;
        if (jp_is_op(P, OP_RPAREN))
            break;
        if (jp_is_op(P, OP_MUL) || jp_is_op(P, OP_POW))
            return jp_fail(P, TL_EUNSUPPORTED, jp_cur(P)->line, "*args and **kwargs are not supported");
        if (v.n >= JINJA_MAX_ARGS)
            return jp_fail(P, TL_EUNSUPPORTED, jp_cur(P)->line, "more than %d arguments", JINJA_MAX_ARGS);
        bool keyword = jp_cur(P)->kind == JT_NAME && P->pos + 1 < P->n &&
                       P->t[P->pos + 1].kind == JT_OP && P->t[P->pos + 1].op == OP_ASSIGN;
        if (keyword) {
            if (!(kw[nkw++] = jp_expect_name(P, "a name")))
                return P->err->code;
            P->pos++;
        } else if (nkw) {
            return jp_fail(P, TL_EFORMAT, jp_cur(P)->line, "positional argument after a keyword argument");
        }
        struct jnode *arg;
        if ((rc = jp_expr(P, &arg)) != TL_OK || (rc = jp_nvec_push(P, &v, arg)) != TL_OK)
            return rc;
    }
    P->pos++;
    n->kids = v.v;
    n->nkids = v.n;
    if (nkw) {
        n->names = jarena_alloc(P->a, nkw * sizeof *n->names);
        if (!n->names)
            return jp_nomem(P);
        memcpy(n->names, kw, nkw * sizeof *kw);
        n->nnames = nkw;
    }
    return TL_OK;
}

/* `[start:stop:step]` or `[index]`, the '[' current. */
/* *node(args...): *node becomes the call node whose a is the callee. */
static int parse_call(struct jparser *P, int line, struct jnode **node)
{
    struct jnode *n = jp_new_node(P, JN_CALL, line);
    if (!n)
        return jp_nomem(P);
    n->a = *node;
    int rc = parse_args(P, n);
    if (rc == TL_OK)
        *node = n;
    return rc;
}

static int parse_subscript(struct jparser *P, struct jnode **node)
{
    int line = jp_cur(P)->line, rc;
    struct jnode *part[3] = { NULL, NULL, NULL };
    int colons = 0;
    P->pos++;
    for (int i = 0; i < 3; i++) {
        if (!jp_is_op(P, OP_COLON) && !jp_is_op(P, OP_RBRACKET) && (rc = jp_expr(P, &part[i])) != TL_OK)
            return rc;
        if (i == 2 || !jp_accept_op(P, OP_COLON))
            break;
        colons++;
    }
    if ((rc = jp_expect_op(P, OP_RBRACKET, "']'")) != TL_OK)
        return rc;
    struct jnode *n = jp_new_node(P, colons ? JN_SLICE : JN_ITEM, line);
    if (!n)
        return jp_nomem(P);
    n->a = *node;
    if (colons) {
        n->kids = jarena_alloc(P->a, 3 * sizeof *n->kids);
        if (!n->kids)
            return jp_nomem(P);
        memcpy(n->kids, part, sizeof part);
        n->nkids = 3;
    } else {
        if (!part[0])
            return jp_fail(P, TL_EFORMAT, line, "empty subscript []");
        n->b = part[0];
    }
    *node = n;
    return TL_OK;
}

static int parse_postfix(struct jparser *P, struct jnode **node)
{
    int k = 0, rc;
    for (;;) {
        int line = jp_cur(P)->line;
        if (P->depth + k > JINJA_MAX_NEST)
            return jp_fail(P, TL_ERANGE, line, "expression chained too long (over %d operators)", JINJA_MAX_NEST);
        k++;
        if (jp_accept_op(P, OP_DOT)) {
            struct jnode *n;
            if (jp_cur(P)->kind == JT_INT) {
                struct jnode *idx = jp_new_node(P, JN_CONST, line);
                if (!(n = jp_new_node(P, JN_ITEM, line)) || !idx)
                    return jp_nomem(P);
                idx->cval = jv_int(jp_cur(P)->i);
                n->b = idx;
                P->pos++;
            } else {
                const char *name = jp_expect_name(P, "an attribute name");
                if (!name)
                    return P->err->code;
                if (!(n = jp_new_node(P, JN_ATTR, line)))
                    return jp_nomem(P);
                n->s = name;
                n->n = strlen(name);
            }
            n->a = *node;
            *node = n;
        } else if (jp_is_op(P, OP_LBRACKET)) {
            if ((rc = parse_subscript(P, node)) != TL_OK)
                return rc;
        } else if (jp_is_op(P, OP_LPAREN)) {
            if ((rc = parse_call(P, line, node)) != TL_OK)
                return rc;
        } else {
            return TL_OK;
        }
    }
}

/* A test or filter node: its (dotted) name parsed, a = the operand. NULL
 * with P->err filled on a missing name or no memory. */
static struct jnode *named_node(struct jparser *P, int kind, int line, const char *what, struct jnode *operand)
{
    const char *name = dotted_name(P, what);
    if (!name)
        return NULL;
    struct jnode *n = jp_new_node(P, kind, line);
    if (!n) {
        jp_nomem(P);
        return NULL;
    }
    n->s = name;
    n->n = strlen(name);
    n->a = operand;
    return n;
}

/* `is [not] name [args]`, `is` current. */
static int parse_test(struct jparser *P, struct jnode **node)
{
    int line = jp_cur(P)->line, rc;
    P->pos++;
    bool negate = jp_accept_word(P, "not");
    struct jnode *n = named_node(P, JN_TEST, line, "a test name", *node);
    if (!n)
        return P->err->code;
    n->negate = negate;
    const struct jtoken *t = jp_cur(P);
    if (jp_is_op(P, OP_LPAREN)) {
        if ((rc = parse_args(P, n)) != TL_OK)
            return rc;
    } else if ((t->kind == JT_NAME && !jp_is_word(P, "else") && !jp_is_word(P, "or") && !jp_is_word(P, "and")) ||
               t->kind == JT_STRING || t->kind == JT_INT || t->kind == JT_FLOAT ||
               jp_is_op(P, OP_LBRACKET) || jp_is_op(P, OP_LBRACE)) {
        struct jnode *arg;
        if (jp_is_word(P, "is"))
            return jp_fail(P, TL_EFORMAT, line, "tests cannot be chained with 'is'");
        if ((rc = parse_primary(P, &arg)) != TL_OK || (rc = parse_postfix(P, &arg)) != TL_OK)
            return rc;
        if (!(n->kids = jarena_alloc(P->a, sizeof *n->kids)))
            return jp_nomem(P);
        n->kids[0] = arg;
        n->nkids = 1;
    }
    *node = n;
    return TL_OK;
}

static int parse_filter_expr(struct jparser *P, struct jnode **node)
{
    int k = 0, rc;
    for (;;) {
        int line = jp_cur(P)->line;
        if (P->depth + k++ > JINJA_MAX_NEST)
            return jp_fail(P, TL_ERANGE, line, "expression chained too long (over %d operators)", JINJA_MAX_NEST);
        if (jp_accept_op(P, OP_PIPE)) {
            struct jnode *n = named_node(P, JN_FILTER, line, "a filter name", *node);
            if (!n)
                return P->err->code;
            if (jp_is_op(P, OP_LPAREN) && (rc = parse_args(P, n)) != TL_OK)
                return rc;
            *node = n;
        } else if (jp_is_word(P, "is")) {
            if ((rc = parse_test(P, node)) != TL_OK)
                return rc;
        } else if (jp_is_op(P, OP_LPAREN)) {
            if ((rc = parse_call(P, line, node)) != TL_OK)
                return rc;
        } else {
            return TL_OK;
        }
    }
}

/* Items up to the closer: `[a, b]`, `(a, b)`, `{k: v, ...}` (dict: pairs). */
static int parse_items(struct jparser *P, int closer, bool dict, struct jnode *n)
{
    struct jnvec v = { 0 };
    int rc;
    while (!jp_is_op(P, closer)) {
        if (v.n && (rc = jp_expect_op(P, OP_COMMA, "','")) != TL_OK)
            return rc;
        if (jp_is_op(P, closer))
            break;
        struct jnode *x;
        if ((rc = jp_expr(P, &x)) != TL_OK || (rc = jp_nvec_push(P, &v, x)) != TL_OK)
            return rc;
        if (dict) {
            if ((rc = jp_expect_op(P, OP_COLON, "':' in a dict")) != TL_OK ||
                (rc = jp_expr(P, &x)) != TL_OK || (rc = jp_nvec_push(P, &v, x)) != TL_OK)
                return rc;
        }
    }
    P->pos++;
    n->kids = v.v;
    n->nkids = v.n;
    return TL_OK;
}

static int parse_const(struct jparser *P, struct jnode **out)
{
    const struct jtoken *t = jp_cur(P);
    struct jnode *n = jp_new_node(P, JN_CONST, t->line);
    if (!n)
        return jp_nomem(P);
    if (t->kind == JT_INT) {
        n->cval = jv_int(t->i);
    } else if (t->kind == JT_FLOAT) {
        n->cval = jv_float(t->f);
    } else {
        /* adjacent string literals join, as in Python */
        size_t len = 0, k = P->pos;
        for (; k < P->n && P->t[k].kind == JT_STRING; k++)
            len += P->t[k].n;
        char *s = jarena_alloc(P->a, len + 1);
        if (!s)
            return jp_nomem(P);
        len = 0;
        for (; P->pos < k; P->pos++) {
            memcpy(s + len, P->t[P->pos].s, P->t[P->pos].n);
            len += P->t[P->pos].n;
        }
        s[len] = 0;
        n->cval = jv_str(s, len);
        *out = n;
        return TL_OK;
    }
    P->pos++;
    *out = n;
    return TL_OK;
}

/* After '(': `()` an empty tuple, `(x)` x, `(x,)` and `(x, y)` tuples. */
static int parse_paren(struct jparser *P, int line, struct jnode **out)
{
    struct jnode *n = NULL;
    struct jnvec v = { 0 };
    int rc = TL_OK;
    if (jp_is_op(P, OP_RPAREN) || (rc = jp_expr(P, &n)) != TL_OK || !jp_is_op(P, OP_COMMA)) {
        if (rc == TL_OK && !n && !(n = jp_new_node(P, JN_TUPLE, line)))
            rc = jp_nomem(P);
        *out = n;
        return rc == TL_OK ? jp_expect_op(P, OP_RPAREN, "')'") : rc;
    }
    struct jnode *tup = jp_new_node(P, JN_TUPLE, line);
    if (!tup)
        return jp_nomem(P);
    if ((rc = jp_nvec_push(P, &v, n)) != TL_OK)
        return rc;
    while (rc == TL_OK && jp_accept_op(P, OP_COMMA) && !jp_is_op(P, OP_RPAREN) && (rc = jp_expr(P, &n)) == TL_OK)
        rc = jp_nvec_push(P, &v, n);
    tup->kids = v.v;
    tup->nkids = v.n;
    *out = tup;
    return rc == TL_OK ? jp_expect_op(P, OP_RPAREN, "')'") : rc;
}

static int parse_primary(struct jparser *P, struct jnode **out)
{
    const struct jtoken *t = jp_cur(P);
    int line = t->line, rc;
    if (t->kind == JT_STRING || t->kind == JT_INT || t->kind == JT_FLOAT)
        return parse_const(P, out);
    if (t->kind == JT_NAME) {
        struct jnode *n = jp_new_node(P, JN_CONST, line);
        if (!n)
            return jp_nomem(P);
        if (jp_is_word(P, "true") || jp_is_word(P, "True")) n->cval = jv_bool(true);
        else if (jp_is_word(P, "false") || jp_is_word(P, "False")) n->cval = jv_bool(false);
        else if (jp_is_word(P, "none") || jp_is_word(P, "None")) n->cval = jv_none();
        else {
            n->kind = JN_NAME;
            if (!(n->s = tok_name(P, t)))
                return jp_nomem(P);
            n->n = t->n;
        }
        P->pos++;
        *out = n;
        return TL_OK;
    }
    if ((rc = jp_enter(P)) != TL_OK)
        return rc;
    if (jp_accept_op(P, OP_LPAREN)) {
        rc = parse_paren(P, line, out);
    } else if (jp_is_op(P, OP_LBRACKET) || jp_is_op(P, OP_LBRACE)) {
        bool dict = jp_is_op(P, OP_LBRACE);
        struct jnode *n = jp_new_node(P, dict ? JN_DICT : JN_LIST, line);
        if (!n)
            return jp_nomem(P);
        P->pos++;
        rc = parse_items(P, dict ? OP_RBRACE : OP_RBRACKET, dict, n);
        *out = n;
    } else {
        rc = jp_unexpected(P, "an expression");
    }
    P->depth--;
    return rc;
}

static int parse_unary(struct jparser *P, bool with_filter, struct jnode **out)
{
    int line = jp_cur(P)->line, rc;
    if ((rc = jp_enter(P)) != TL_OK)
        return rc;
    if (jp_is_op(P, OP_SUB) || jp_is_op(P, OP_ADD)) {
        struct jnode *n = jp_new_node(P, JN_UNARY, line);
        if (!n)
            return jp_nomem(P);
        n->op = jp_is_op(P, OP_SUB) ? OP_NEG : OP_POS;
        P->pos++;
        if ((rc = parse_unary(P, false, &n->a)) != TL_OK)
            return rc;
        *out = n;
    } else if ((rc = parse_primary(P, out)) != TL_OK) {
        return rc;
    }
    if ((rc = parse_postfix(P, out)) == TL_OK && with_filter)
        rc = parse_filter_expr(P, out);
    P->depth--;
    return rc;
}

/* One left-associative binary level: sub parses the operands. */
static int parse_level(struct jparser *P, const int *ops, int (*sub)(struct jparser *, struct jnode **),
                       struct jnode **out)
{
    int rc = sub(P, out), k = 0;
    while (rc == TL_OK && jp_cur(P)->kind == JT_OP) {
        int op = jp_cur(P)->op, line = jp_cur(P)->line;
        const int *o = ops;
        while (*o && *o != op)
            o++;
        if (!*o)
            break;
        P->pos++;
        struct jnode *right;
        if ((rc = sub(P, &right)) == TL_OK)
            rc = chain(P, &k, JN_BINARY, op, line, out, right);
    }
    return rc;
}

static int parse_unary_f(struct jparser *P, struct jnode **out) { return parse_unary(P, true, out); }
static int parse_pow(struct jparser *P, struct jnode **out)
{
    static const int ops[] = { OP_POW, 0 };
    return parse_level(P, ops, parse_unary_f, out);
}
static int parse_math2(struct jparser *P, struct jnode **out)
{
    static const int ops[] = { OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, 0 };
    return parse_level(P, ops, parse_pow, out);
}
static int parse_concat(struct jparser *P, struct jnode **out)
{
    static const int ops[] = { OP_TILDE, 0 };
    return parse_level(P, ops, parse_math2, out);
}
static int parse_math1(struct jparser *P, struct jnode **out)
{
    static const int ops[] = { OP_ADD, OP_SUB, 0 };
    return parse_level(P, ops, parse_concat, out);
}

static int parse_compare(struct jparser *P, struct jnode **out)
{
    int rc = parse_math1(P, out), line = jp_cur(P)->line;
    struct jnvec v = { 0 };
    uint8_t ops[JINJA_MAX_NEST];
    while (rc == TL_OK) {
        int op = OP_NONE;
        if (jp_cur(P)->kind == JT_OP && jp_cur(P)->op >= OP_EQ && jp_cur(P)->op <= OP_GE) {
            op = jp_cur(P)->op;
            P->pos++;
        } else if (jp_accept_word(P, "in")) {
            op = OP_IN;
        } else if (jp_is_word(P, "not") && P->pos + 1 < P->n && P->t[P->pos + 1].kind == JT_NAME &&
                   P->t[P->pos + 1].n == 2 && !memcmp(P->t[P->pos + 1].s, "in", 2)) {
            op = OP_NOTIN;
            P->pos += 2;
        } else {
            break;
        }
        if (P->depth + (int)v.n >= JINJA_MAX_NEST)
            return jp_fail(P, TL_ERANGE, line, "comparison chained too long");
        ops[v.n] = (uint8_t)op;
        struct jnode *right;
        if ((rc = parse_math1(P, &right)) == TL_OK)
            rc = jp_nvec_push(P, &v, right);
    }
    if (rc != TL_OK || !v.n)
        return rc;
    struct jnode *n = jp_new_node(P, JN_COMPARE, line);
    if (!n || !(n->ops = jarena_alloc(P->a, v.n)))
        return jp_nomem(P);
    memcpy(n->ops, ops, v.n);
    n->a = *out;
    n->kids = v.v;
    n->nkids = v.n;
    *out = n;
    return TL_OK;
}

static int parse_not(struct jparser *P, struct jnode **out)
{
    int line = jp_cur(P)->line, rc;
    if (!jp_is_word(P, "not"))
        return parse_compare(P, out);
    if ((rc = jp_enter(P)) != TL_OK)
        return rc;
    P->pos++;
    struct jnode *n = jp_new_node(P, JN_UNARY, line);
    if (!n)
        return jp_nomem(P);
    n->op = OP_NOT;
    rc = parse_not(P, &n->a);
    *out = n;
    P->depth--;
    return rc;
}

static int parse_andor(struct jparser *P, const char *word, int op, int (*sub)(struct jparser *, struct jnode **),
                       struct jnode **out)
{
    int rc = sub(P, out), k = 0;
    while (rc == TL_OK && jp_is_word(P, word)) {
        int line = jp_cur(P)->line;
        P->pos++;
        struct jnode *right;
        if ((rc = sub(P, &right)) == TL_OK)
            rc = chain(P, &k, JN_BINARY, op, line, out, right);
    }
    return rc;
}

static int parse_and(struct jparser *P, struct jnode **out) { return parse_andor(P, "and", OP_AND, parse_not, out); }
int jp_or(struct jparser *P, struct jnode **out) { return parse_andor(P, "or", OP_OR, parse_and, out); }

int jp_expr(struct jparser *P, struct jnode **out)
{
    int rc, k = 0;
    if ((rc = jp_enter(P)) != TL_OK)
        return rc;
    rc = jp_or(P, out);
    while (rc == TL_OK && jp_is_word(P, "if")) {
        int line = jp_cur(P)->line;
        P->pos++;
        struct jnode *n = jp_new_node(P, JN_COND, line);
        if (!n)
            return jp_nomem(P);
        n->a = *out;
        if ((rc = jp_or(P, &n->b)) == TL_OK && jp_accept_word(P, "else"))
            rc = jp_expr(P, &n->c);
        if (rc == TL_OK && P->depth + ++k > JINJA_MAX_NEST)
            rc = jp_fail(P, TL_ERANGE, line, "expression chained too long");
        *out = n;
    }
    P->depth--;
    return rc;
}

/* `a, b` without brackets (in {{ }} and set): a tuple. */
int jp_tuple_expr(struct jparser *P, struct jnode **out)
{
    int line = jp_cur(P)->line, rc = jp_expr(P, out);
    if (rc != TL_OK || !jp_is_op(P, OP_COMMA))
        return rc;
    struct jnvec v = { 0 };
    struct jnode *tup = jp_new_node(P, JN_TUPLE, line);
    if (!tup || (rc = jp_nvec_push(P, &v, *out)) != TL_OK)
        return tup ? rc : jp_nomem(P);
    while (jp_accept_op(P, OP_COMMA)) {
        int k = jp_cur(P)->kind;
        if (k == JT_VAR_END || k == JT_BLOCK_END)
            break;
        struct jnode *x;
        if ((rc = jp_expr(P, &x)) != TL_OK || (rc = jp_nvec_push(P, &v, x)) != TL_OK)
            return rc;
    }
    tup->kids = v.v;
    tup->nkids = v.n;
    *out = tup;
    return TL_OK;
}
