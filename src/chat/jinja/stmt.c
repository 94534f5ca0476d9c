/* chat/jinja/stmt.c: the statement grammar: text, {{ }}, and the tags if/elif/
 * else, for (with a target tuple, an if-filter and else), set (name,
 * tuple, namespace attribute, block), break/continue, macro, raw (in the
 * lexer) and HF's generation block. Every other tag is refused by name. */
#include <stdio.h>
#include <string.h>

#include "chat/jinja/jinja_impl.h"

static int parse_body(struct jparser *P, const char *const *ends, const char *opener, int opener_line,
                      struct jnode **out, const char **which);

/* Tags that jinja2 knows and this subset does not do. */
static const char *const unsupported_tags[] = {
    "call", "filter", "include", "import", "from", "extends", "block", "with",
    "autoescape", "do", "trans", "pluralize", NULL,
};

static int expect_end(struct jparser *P)
{
    return jp_expect_kind(P, JT_BLOCK_END, "'%}'");
}

static int parse_if(struct jparser *P, int line, struct jnode **out)
{
    static const char *const ends[] = { "elif", "else", "endif", NULL };
    static const char *const end_only[] = { "endif", NULL };
    struct jnode *n = jp_new_node(P, JN_IF, line);
    const char *which;
    int rc;
    if (!n)
        return jp_nomem(P);
    *out = n;
    if ((rc = jp_expr(P, &n->a)) != TL_OK || (rc = expect_end(P)) != TL_OK ||
        (rc = parse_body(P, ends, "if", line, &n->b, &which)) != TL_OK)
        return rc;
    if (!strcmp(which, "elif")) {
        /* an elif is an if nested in the else: it counts as nesting */
        if ((rc = jp_enter(P)) != TL_OK)
            return rc;
        rc = parse_if(P, jp_cur(P)->line, &n->c);
        P->depth--;
        return rc;
    }
    if (!strcmp(which, "else") &&
        ((rc = expect_end(P)) != TL_OK || (rc = parse_body(P, end_only, "if", line, &n->c, &which)) != TL_OK))
        return rc;
    return expect_end(P);
}

/* Names bound by for and set: `x`, `a, b` or `(a, b)`. */
static int parse_targets(struct jparser *P, struct jnode *n)
{
    const char *names[JINJA_MAX_ARGS];
    size_t k = 0;
    bool paren = jp_accept_op(P, OP_LPAREN);
    do {
        if (k == JINJA_MAX_ARGS)
            return jp_fail(P, TL_EUNSUPPORTED, jp_cur(P)->line, "more than %d names to unpack", JINJA_MAX_ARGS);
        if (!(names[k++] = jp_expect_name(P, "a variable name")))
            return P->err->code;
    } while (jp_accept_op(P, OP_COMMA) && jp_cur(P)->kind == JT_NAME);
    if (paren) {
        int rc = jp_expect_op(P, OP_RPAREN, "')'");
        if (rc != TL_OK)
            return rc;
    }
    if (!(n->names = jarena_alloc(P->a, k * sizeof *n->names)))
        return jp_nomem(P);
    memcpy(n->names, names, k * sizeof *names);
    n->nnames = k;
    return TL_OK;
}

/* A for or set node in *out with its target names parsed. */
static int new_with_targets(struct jparser *P, enum jnode_kind kind, int line, struct jnode **out)
{
    struct jnode *n = jp_new_node(P, kind, line);
    if (!n)
        return jp_nomem(P);
    *out = n;
    return parse_targets(P, n);
}

static int parse_for(struct jparser *P, int line, struct jnode **out)
{
    static const char *const ends[] = { "else", "endfor", NULL };
    static const char *const end_only[] = { "endfor", NULL };
    struct jnode *n;
    const char *which;
    int rc;
    if ((rc = new_with_targets(P, JN_FOR, line, out)) != TL_OK)
        return rc;
    n = *out;
    if (!jp_accept_word(P, "in"))
        return jp_unexpected(P, "'in'");
    if ((rc = jp_or(P, &n->a)) != TL_OK)
        return rc;
    if (jp_accept_word(P, "if") && (rc = jp_expr(P, &n->d)) != TL_OK)
        return rc;
    if (jp_is_word(P, "recursive"))
        return jp_fail(P, TL_EUNSUPPORTED, line, "recursive for loops are not supported");
    if ((rc = expect_end(P)) != TL_OK)
        return rc;
    P->loops++;
    rc = parse_body(P, ends, "for", line, &n->b, &which);
    P->loops--;
    if (rc != TL_OK)
        return rc;
    if (!strcmp(which, "else") &&
        ((rc = expect_end(P)) != TL_OK || (rc = parse_body(P, end_only, "for", line, &n->c, &which)) != TL_OK))
        return rc;
    return expect_end(P);
}

static int parse_set(struct jparser *P, int line, struct jnode **out)
{
    static const char *const ends[] = { "endset", NULL };
    struct jnode *n;
    const char *which;
    int rc;
    if ((rc = new_with_targets(P, JN_SET, line, out)) != TL_OK)
        return rc;
    n = *out;
    if (n->nnames == 1 && jp_accept_op(P, OP_DOT)) {
        n->kind = JN_SET_ATTR;
        if (!(n->s = jp_expect_name(P, "an attribute name")))
            return P->err->code;
        n->n = strlen(n->s);
    }
    if (jp_accept_op(P, OP_ASSIGN)) {
        if ((rc = jp_tuple_expr(P, &n->a)) != TL_OK)
            return rc;
        return expect_end(P);
    }
    if (n->kind != JN_SET || n->nnames != 1)
        return jp_unexpected(P, "'='");
    if (jp_is_op(P, OP_PIPE))
        return jp_fail(P, TL_EUNSUPPORTED, line, "filtered {%% set %%} blocks are not supported");
    n->kind = JN_SET_BLOCK;
    if ((rc = expect_end(P)) != TL_OK || (rc = parse_body(P, ends, "set", line, &n->b, &which)) != TL_OK)
        return rc;
    return expect_end(P);
}

static int parse_macro(struct jparser *P, int line, struct jnode **out)
{
    static const char *const ends[] = { "endmacro", NULL };
    struct jnode *n = jp_new_node(P, JN_MACRO, line);
    const char *names[JINJA_MAX_ARGS], *which;
    struct jnode *defaults[JINJA_MAX_ARGS];
    size_t k = 0;
    int rc, loops = P->loops;
    if (!n)
        return jp_nomem(P);
    *out = n;
    if (!(n->s = jp_expect_name(P, "a macro name")))
        return P->err->code;
    n->n = strlen(n->s);
    if ((rc = jp_expect_op(P, OP_LPAREN, "'('")) != TL_OK)
        return rc;
    while (!jp_accept_op(P, OP_RPAREN)) {
        if (k && (rc = jp_expect_op(P, OP_COMMA, "',' or ')'")) != TL_OK)
            return rc;
        if (jp_accept_op(P, OP_RPAREN))
            break;
        if (k == JINJA_MAX_ARGS)
            return jp_fail(P, TL_EUNSUPPORTED, line, "more than %d macro parameters", JINJA_MAX_ARGS);
        if (!(names[k] = jp_expect_name(P, "a parameter name")))
            return P->err->code;
        defaults[k] = NULL;
        if (jp_accept_op(P, OP_ASSIGN) && (rc = jp_expr(P, &defaults[k])) != TL_OK)
            return rc;
        k++;
    }
    n->names = jarena_alloc(P->a, (k + 1) * sizeof *n->names);
    n->kids = jarena_alloc(P->a, (k + 1) * sizeof *n->kids);
    if (!n->names || !n->kids)
        return jp_nomem(P);
    memcpy(n->names, names, k * sizeof *names);
    memcpy(n->kids, defaults, k * sizeof *defaults);
    n->nnames = n->nkids = k;
    P->loops = 0;   /* a break in a macro cannot leave the caller's loop */
    if ((rc = expect_end(P)) == TL_OK)
        rc = parse_body(P, ends, "macro", line, &n->b, &which);
    P->loops = loops;
    return rc == TL_OK ? expect_end(P) : rc;
}

/* One tag after `{%`; *out may stay NULL (generation adds to body itself). */
static int parse_tag(struct jparser *P, struct jnvec *body, struct jnode **out)
{
    int line = jp_cur(P)->line, rc;
    const struct jtoken *t = jp_cur(P);
    char name[32];
    if (t->kind != JT_NAME)
        return jp_unexpected(P, "a tag name");
    snprintf(name, sizeof name, "%.*s", (int)(t->n < 31 ? t->n : 31), t->s);
    P->pos++;
    if (!strcmp(name, "if"))
        return parse_if(P, line, out);
    if (!strcmp(name, "for"))
        return parse_for(P, line, out);
    if (!strcmp(name, "set"))
        return parse_set(P, line, out);
    if (!strcmp(name, "macro"))
        return parse_macro(P, line, out);
    if (!strcmp(name, "break") || !strcmp(name, "continue")) {
        if (!P->loops)
            return jp_fail(P, TL_EFORMAT, line, "'%s' outside a for loop", name);
        if (!(*out = jp_new_node(P, name[0] == 'b' ? JN_BREAK : JN_CONTINUE, line)))
            return jp_nomem(P);
        return expect_end(P);
    }
    if (!strcmp(name, "generation")) {
        /* HF's marker for assistant text: renders its body in place */
        static const char *const ends[] = { "endgeneration", NULL };
        struct jnode *inner;
        const char *which;
        if ((rc = expect_end(P)) != TL_OK ||
            (rc = parse_body(P, ends, "generation", line, &inner, &which)) != TL_OK)
            return rc;
        for (size_t i = 0; i < inner->nkids; i++)
            if ((rc = jp_nvec_push(P, body, inner->kids[i])) != TL_OK)
                return rc;
        return expect_end(P);
    }
    for (const char *const *u = unsupported_tags; *u; u++)
        if (!strcmp(name, *u))
            return jp_fail(P, TL_EUNSUPPORTED, line, "unsupported tag '%s'", name);
    return jp_fail(P, TL_EUNSUPPORTED, line, "unknown tag '%s'", name);
}

static bool is_end(const struct jparser *P, const char *const *ends, const char **which)
{
    if (jp_cur(P)->kind != JT_BLOCK_BEGIN || P->pos + 1 >= P->n || P->t[P->pos + 1].kind != JT_NAME)
        return false;
    const struct jtoken *t = &P->t[P->pos + 1];
    for (; ends && *ends; ends++)
        if (strlen(*ends) == t->n && !memcmp(*ends, t->s, t->n)) {
            *which = *ends;
            return true;
        }
    return false;
}

static bool is_stray_end(const struct jparser *P)
{
    static const char *const closers[] = { "elif", "else", "endif", "endfor", "endset", "endmacro",
                                           "endgeneration", "endraw", NULL };
    const char *which;
    return is_end(P, closers, &which);
}

/* Statements up to one of ends (NULL: the end of the template). On return
 * the end tag's name has been consumed and *which says which it was. */
static int parse_body(struct jparser *P, const char *const *ends, const char *opener, int opener_line,
                      struct jnode **out, const char **which)
{
    struct jnvec v = { 0 };
    int rc;
    struct jnode *body = jp_new_node(P, JN_BODY, jp_cur(P)->line);
    if (!body)
        return jp_nomem(P);
    if ((rc = jp_enter(P)) != TL_OK)
        return rc;
    *out = body;
    for (;;) {
        const struct jtoken *t = jp_cur(P);
        struct jnode *st = NULL;
        if (ends && is_end(P, ends, which)) {
            P->pos += 2;
            break;
        }
        if (t->kind == JT_EOF) {
            if (!ends)
                break;
            const char *const *last = ends;
            while (last[1])
                last++;
            return jp_fail(P, TL_EFORMAT, opener_line, "unterminated '%s' (no {%% %s %%} before the end)",
                           opener, *last);
        }
        if (t->kind == JT_DATA) {
            if (!(st = jp_new_node(P, JN_TEXT, t->line)))
                return jp_nomem(P);
            st->s = t->s;
            st->n = t->n;
            P->pos++;
        } else if (t->kind == JT_VAR_BEGIN) {
            P->pos++;
            if (!(st = jp_new_node(P, JN_OUTPUT, t->line)))
                return jp_nomem(P);
            if ((rc = jp_tuple_expr(P, &st->a)) != TL_OK ||
                (rc = jp_expect_kind(P, JT_VAR_END, "'}}'")) != TL_OK)
                return rc;
        } else if (t->kind == JT_BLOCK_BEGIN) {
            if (is_stray_end(P))
                return jp_fail(P, TL_EFORMAT, t->line, "unexpected '%.*s'", (int)P->t[P->pos + 1].n,
                               P->t[P->pos + 1].s);
            P->pos++;
            if ((rc = parse_tag(P, &v, &st)) != TL_OK)
                return rc;
        } else {
            return jp_unexpected(P, "template text or a tag");
        }
        if (st && (rc = jp_nvec_push(P, &v, st)) != TL_OK)
            return rc;
    }
    body->kids = v.v;
    body->nkids = v.n;
    P->depth--;
    return TL_OK;
}

/* jinja2 3.x checks filter and test names when it compiles, except inside
 * an if statement or an inline if (a "soft" frame), where an unknown name
 * fails only if it runs; loop, macro and set-block bodies are not soft. */
static int check_names(struct jparser *P, const struct jnode *n, bool soft)
{
    int rc = TL_OK;
    if (!n)
        return TL_OK;
    if (!soft && ((n->kind == JN_FILTER && !jinja_filter_known(n->s)) ||
                  (n->kind == JN_TEST && !jinja_test_known(n->s))))
        return jp_fail(P, TL_EUNSUPPORTED, n->line, "unknown %s '%s'", n->kind == JN_FILTER ? "filter" : "test", n->s);
    bool inner = n->kind == JN_IF || n->kind == JN_COND || soft;
    if (n->kind == JN_FOR || n->kind == JN_MACRO || n->kind == JN_SET_BLOCK) {
        rc = check_names(P, n->a, soft);
        inner = false;
    } else {
        rc = check_names(P, n->a, inner);
    }
    if (rc == TL_OK && (rc = check_names(P, n->b, inner)) == TL_OK && (rc = check_names(P, n->c, inner)) == TL_OK)
        rc = check_names(P, n->d, inner);
    for (size_t i = 0; i < n->nkids && rc == TL_OK; i++)
        rc = check_names(P, n->kids[i], inner);
    return rc;
}

int jinja_parse_tokens(const struct jtokens *toks, struct jarena *a, struct jnode **root, struct tl_error *err)
{
    struct jparser P = { toks->t, toks->n, 0, a, err, 0, 0 };
    const char *which = NULL;
    int rc = parse_body(&P, NULL, NULL, 0, root, &which);
    return rc == TL_OK ? check_names(&P, *root, false) : rc;
}
