/* chat/jinja/exec.c: running statements: text and {{ }} output, if, for (loop
 * variable, if-filter, else, break/continue), set in its three forms, and
 * macro definitions. Output goes to c->out, which is capped. */
#include <string.h>

#include "chat/jinja/jinja_impl.h"

static int out_check(struct jctx *c, const struct jnode *n)
{
    if (c->out->overflow || c->out->nomem)
        return jv_buf_error(c, n, c->out);
    return TL_OK;
}

/* Bind the for/set targets names to v: one name takes v, several unpack it. */
static int bind_targets(struct jctx *c, const struct jnode *n, struct jscope *s, const struct jval *v)
{
    const struct jval *items;
    size_t count;
    int rc;
    if (n->nnames == 1)
        return jx_scope_set(c, n, s, n->names[0], *v);
    if (v->kind == JV_UNDEF)
        return jx_undefined_error(c, n, v);
    if ((rc = jv_iterate(c, n, v, &items, &count)) != TL_OK)
        return rc;
    if (count != n->nnames)
        return jx_fail(c, n, TL_EFORMAT, "%s values to unpack (expected %zu, got %zu)",
                       count < n->nnames ? "not enough" : "too many", n->nnames, count);
    for (size_t i = 0; i < count && rc == TL_OK; i++)
        rc = jx_scope_set(c, n, s, n->names[i], items[i]);
    return rc;
}

/* The items of a for loop, after its if-filter (evaluated with the targets
 * bound in scope s, before `loop` exists). */
static int loop_items(struct jctx *c, const struct jnode *n, struct jscope *s, const struct jval **items, size_t *count)
{
    struct jval seq, kept;
    int rc = jx_eval(c, n->a, &seq);
    if (rc == TL_OK)
        rc = jv_iterate(c, n, &seq, items, count);
    if (rc != TL_OK || !n->d)
        return rc;
    if ((rc = jv_new_list(c, n, *count, &kept)) != TL_OK)
        return rc;
    size_t k = 0;
    struct jscope *outer = c->scope;
    c->scope = s;
    for (size_t i = 0; i < *count && rc == TL_OK; i++) {
        struct jval ok;
        s->n = 0;
        if (++c->iters > JINJA_MAX_ITERS)
            rc = jx_fail(c, n, TL_ERANGE, "more than %u loop iterations", JINJA_MAX_ITERS);
        else if ((rc = bind_targets(c, n, s, &(*items)[i])) == TL_OK && (rc = jx_eval(c, n->d, &ok)) == TL_OK &&
                 jv_truthy(&ok))
            kept.u.l->v[k++] = (*items)[i];
    }
    c->scope = outer;
    *items = kept.u.l->v;
    *count = k;
    return rc;
}

static int exec_for(struct jctx *c, const struct jnode *n)
{
    const struct jval *items;
    size_t count;
    int rc;
    struct jscope *outer = c->scope, *s = jx_scope_new(c, n, outer, &rc);
    struct jloop *L = s ? jarena_alloc(c->ar, sizeof *L) : NULL;
    if (!L)
        return rc != TL_OK ? rc : jx_fail(c, n, TL_ERANGE, "out of memory for a loop");
    if ((rc = loop_items(c, n, s, &items, &count)) != TL_OK)
        return rc;
    *L = (struct jloop){ 0, count, items };
    struct jval loopv = { .kind = JV_LOOP };
    loopv.u.loop = L;
    for (size_t i = 0; i < count; i++) {
        if (++c->iters > JINJA_MAX_ITERS)
            return jx_fail(c, n, TL_ERANGE, "more than %u loop iterations", JINJA_MAX_ITERS);
        s->n = 0;   /* each iteration starts from the enclosing scope again */
        L->index0 = i;
        if ((rc = bind_targets(c, n, s, &items[i])) != TL_OK || (rc = jx_scope_set(c, n, s, "loop", loopv)) != TL_OK)
            return rc;
        c->scope = s;
        rc = jx_exec(c, n->b);
        c->scope = outer;
        if (rc == JX_BREAK)
            break;
        if (rc != TL_OK && rc != JX_CONTINUE)
            return rc;
    }
    if (count == 0 && n->c)
        return jx_exec(c, n->c);
    return TL_OK;
}

static int exec_set_attr(struct jctx *c, const struct jnode *n)
{
    struct jval ns, v, key = jv_str(n->s, n->n);
    int rc = jx_lookup(c, n, n->names[0], strlen(n->names[0]), &ns);
    if (rc == TL_OK && ns.kind != JV_NS)
        return jx_fail(c, n, TL_EFORMAT, "cannot set an attribute of '%s' (only of a namespace())", n->names[0]);
    if (rc == TL_OK)
        rc = jx_eval(c, n->a, &v);
    if (rc == TL_OK)
        rc = jv_dict_set(c, n, ns.u.d, &key, &v);
    return rc;
}

/* Render body b into a string instead of the output. */
static int capture(struct jctx *c, const struct jnode *n, const struct jnode *b, struct jval *out)
{
    struct json_buf *saved = c->out, buf = jv_buf();
    c->out = &buf;
    int rc = jx_exec(c, b);
    c->out = saved;
    if (rc != TL_OK) {
        json_buf_free(&buf);
        return rc;
    }
    return jv_from_buf(c, n, &buf, out);
}

static int exec_stmt(struct jctx *c, const struct jnode *n)
{
    struct jval v;
    int rc = TL_OK;
    switch (n->kind) {
    case JN_BODY:
        for (size_t i = 0; i < n->nkids && rc == TL_OK; i++)
            rc = jx_exec(c, n->kids[i]);
        return rc;
    case JN_TEXT:
        json_buf_put(c->out, n->s, n->n);
        return out_check(c, n);
    case JN_OUTPUT:
        if ((rc = jx_eval(c, n->a, &v)) == TL_OK && (rc = jv_write_str(c, n, c->out, &v)) == TL_OK)
            rc = out_check(c, n);
        return rc;
    case JN_IF:
        if ((rc = jx_eval(c, n->a, &v)) != TL_OK)
            return rc;
        if (jv_truthy(&v))
            return jx_exec(c, n->b);
        return n->c ? jx_exec(c, n->c) : TL_OK;
    case JN_FOR:
        return exec_for(c, n);
    case JN_SET:
        if ((rc = jx_eval(c, n->a, &v)) != TL_OK)
            return rc;
        return bind_targets(c, n, c->scope, &v);
    case JN_SET_ATTR:
        return exec_set_attr(c, n);
    case JN_SET_BLOCK:
        if ((rc = capture(c, n, n->b, &v)) != TL_OK)
            return rc;
        return jx_scope_set(c, n, c->scope, n->names[0], v);
    case JN_BREAK:
        return JX_BREAK;
    case JN_CONTINUE:
        return JX_CONTINUE;
    case JN_MACRO:
        v = (struct jval){ .kind = JV_MACRO };
        v.u.macro.node = n;
        v.u.macro.scope = c->scope;
        return jx_scope_set(c, n, c->scope, n->s, v);
    default:
        return jx_fail(c, n, TL_EFORMAT, "internal: expression where a statement belongs");
    }
}

int jx_exec(struct jctx *c, const struct jnode *n)
{
    if (++c->steps > JINJA_MAX_STEPS)
        return jx_fail(c, n, TL_ERANGE, "template took more than %u steps", JINJA_MAX_STEPS);
    if (c->depth >= JINJA_MAX_NEST * 4)
        return jx_fail(c, n, TL_ERANGE, "evaluation nested too deeply");
    c->depth++;
    int rc = exec_stmt(c, n);
    c->depth--;
    return rc;
}
