/* chat/jinja/eval.c: evaluating the tree. Expressions follow Python's rules
 * (int overflow is an error instead of a bignum); statements follow
 * jinja2's scoping: each for-loop iteration and each macro call has a fresh
 * scope, `set` writes to the innermost one, `if` makes none. */
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "chat/jinja/jinja_impl.h"

int jx_fail(struct jctx *c, const struct jnode *n, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = jinja_vfail(c->err, code, n ? n->line : 0, fmt, ap);
    va_end(ap);
    return rc;
}

int jx_charge(struct jctx *c, const struct jnode *n, size_t units)
{
    if (units > JINJA_MAX_STEPS || (c->steps += units) > JINJA_MAX_STEPS)
        return jx_fail(c, n, TL_ERANGE, "template took more than %u steps", JINJA_MAX_STEPS);
    return TL_OK;
}

int jx_undefined_error(struct jctx *c, const struct jnode *at, const struct jval *v)
{
    const struct jnode *o = v->u.undef.node;
    struct jval of = { .kind = (uint8_t)v->u.undef.of };
    if (o && o->kind == JN_NAME)
        return jx_fail(c, at, TL_EFORMAT, "'%.*s' is undefined", (int)o->n, o->s);
    if (o && o->kind == JN_ATTR)
        return jx_fail(c, at, TL_EFORMAT, "'%s object' has no attribute '%.*s'", jv_type_name(&of),
                       (int)o->n, o->s);
    if (o && o->kind == JN_ITEM && o->b->kind == JN_CONST && o->b->cval.kind == JV_STR)
        return jx_fail(c, at, TL_EFORMAT, "'%s object' has no attribute '%.*s'", jv_type_name(&of),
                       (int)o->b->cval.u.s.n, o->b->cval.u.s.p);
    if (o && o->kind == JN_ITEM)
        return jx_fail(c, at, TL_EFORMAT, "'%s object' has no such item", jv_type_name(&of));
    return jx_fail(c, at, TL_EFORMAT, "an undefined value was used");
}

/* ---- scopes ---- */

int jx_scope_set(struct jctx *c, const struct jnode *n, struct jscope *s, const char *name, struct jval v)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < s->n; i++)
        if (s->vars[i].n == len && !memcmp(s->vars[i].name, name, len)) {
            s->vars[i].v = v;
            return TL_OK;
        }
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 8;
        struct jvar *nv = jarena_alloc(c->ar, nc * sizeof *nv);
        if (!nv)
            return jx_fail(c, n, c->ar->over_limit ? TL_ERANGE : TL_ENOMEM, "out of memory for variables");
        if (s->n)
            memcpy(nv, s->vars, s->n * sizeof *nv);
        s->vars = nv;
        s->cap = nc;
    }
    s->vars[s->n++] = (struct jvar){ name, len, v };
    return TL_OK;
}

struct jscope *jx_scope_new(struct jctx *c, const struct jnode *n, struct jscope *parent, int *rc)
{
    struct jscope *s = jarena_alloc(c->ar, sizeof *s);
    *rc = TL_OK;
    if (!s) {
        *rc = jx_fail(c, n, c->ar->over_limit ? TL_ERANGE : TL_ENOMEM, "out of memory for a scope");
        return NULL;
    }
    memset(s, 0, sizeof *s);
    s->parent = parent;
    return s;
}

int jx_lookup(struct jctx *c, const struct jnode *n, const char *name, size_t len, struct jval *out)
{
    for (const struct jscope *s = c->scope; s; s = s->parent)
        for (size_t i = s->n; i-- > 0;)
            if (s->vars[i].n == len && !memcmp(s->vars[i].name, name, len)) {
                *out = s->vars[i].v;
                return TL_OK;
            }
    int fn = jx_func_lookup(name, len);
    if (fn >= 0) {
        *out = (struct jval){ .kind = JV_FUNC };
        out->u.fn = fn;
    } else {
        *out = jv_undef(n, JV_UNDEF);
    }
    return TL_OK;
}

/* ---- attribute and item access ---- */

static int loop_attr(const struct jnode *n, const struct jloop *L, const char *name, struct jval *out)
{
    size_t i = L->index0, len = L->length;
    if (!strcmp(name, "index")) *out = jv_int((int64_t)i + 1);
    else if (!strcmp(name, "index0")) *out = jv_int((int64_t)i);
    else if (!strcmp(name, "revindex")) *out = jv_int((int64_t)(len - i));
    else if (!strcmp(name, "revindex0")) *out = jv_int((int64_t)(len - i - 1));
    else if (!strcmp(name, "first")) *out = jv_bool(i == 0);
    else if (!strcmp(name, "last")) *out = jv_bool(i + 1 == len);
    else if (!strcmp(name, "length")) *out = jv_int((int64_t)len);
    else if (!strcmp(name, "depth")) *out = jv_int(1);
    else if (!strcmp(name, "depth0")) *out = jv_int(0);
    else if (!strcmp(name, "previtem")) *out = i > 0 ? L->items[i - 1] : jv_undef(n, JV_LOOP);
    else if (!strcmp(name, "nextitem")) *out = i + 1 < len ? L->items[i + 1] : jv_undef(n, JV_LOOP);
    else *out = jv_undef(n, JV_LOOP);
    return TL_OK;
}

int jx_getattr(struct jctx *c, const struct jnode *n, const struct jval *obj,
               const char *name, size_t len, struct jval *out)
{
    const struct jval *v;
    switch (obj->kind) {
    case JV_UNDEF:
        return jx_undefined_error(c, n, obj);
    case JV_DICT:
    case JV_NS:
        v = jv_dict_get(obj->u.d, name, len);
        *out = v ? *v : jv_undef(n, obj->kind);
        return TL_OK;
    case JV_LOOP: {
        char tmp[16];
        if (len >= sizeof tmp) {
            *out = jv_undef(n, JV_LOOP);
            return TL_OK;
        }
        memcpy(tmp, name, len);
        tmp[len] = 0;
        return loop_attr(n, obj->u.loop, tmp, out);
    }
    default:
        *out = jv_undef(n, obj->kind);
        return TL_OK;
    }
}

int jx_getitem(struct jctx *c, const struct jnode *n, const struct jval *obj,
               const struct jval *key, struct jval *out)
{
    const struct jval *v;
    bool int_key = key->kind == JV_INT || key->kind == JV_BOOL;
    int64_t i = key->kind == JV_INT ? key->u.i : key->kind == JV_BOOL ? key->u.b : 0;
    *out = jv_undef(n, obj->kind);
    switch (obj->kind) {
    case JV_UNDEF:
        return jx_undefined_error(c, n, obj);
    case JV_DICT:
    case JV_NS:
        if ((v = jv_dict_find(obj->u.d, key)))
            *out = *v;
        return TL_OK;
    case JV_LIST:
        if (int_key) {
            int64_t len = (int64_t)obj->u.l->n;
            if (i < 0)
                i += len;
            if (i >= 0 && i < len)
                *out = obj->u.l->v[i];
        }
        return TL_OK;
    case JV_STR:
        if (int_key) {
            if (jx_charge(c, n, jv_cost(obj)) != TL_OK)
                return c->err->code;
            int64_t len = (int64_t)u8_len(obj->u.s.p, obj->u.s.n);
            if (i < 0)
                i += len;
            if (i >= 0 && i < len) {
                size_t at = u8_offset(obj->u.s.p, obj->u.s.n, (size_t)i);
                *out = jv_str(obj->u.s.p + at, u8_seqlen(obj->u.s.p + at, obj->u.s.n - at));
            }
        }
        return TL_OK;
    case JV_LOOP:
        if (key->kind == JV_STR)
            return jx_getattr(c, n, obj, key->u.s.p, key->u.s.n, out);
        return TL_OK;
    default:
        return TL_OK;
    }
}

/* Python's slice index normalization for a sequence of len items;
 * TL_EFORMAT for a bound that is not an integer or none. */
static int slice_bound(const struct jval *v, int64_t len, int64_t step, bool is_start, int64_t *out)
{
    if (!v || v->kind == JV_NONE) {
        *out = step < 0 ? (is_start ? len - 1 : -1) : (is_start ? 0 : len);
        return TL_OK;
    }
    if (v->kind != JV_INT && v->kind != JV_BOOL)
        return TL_EFORMAT;
    int64_t x = v->kind == JV_INT ? v->u.i : v->u.b;
    if (x < 0) {
        x = x < -len ? -len - 1 : x;
        x += len;
        if (x < 0)
            x = step < 0 ? -1 : 0;
    } else if (x >= len) {
        x = step < 0 ? len - 1 : len;
    }
    *out = x;
    return TL_OK;
}

static int eval_slice(struct jctx *c, const struct jnode *n, struct jval *out)
{
    struct jval obj, part[3];
    const struct jval *pp[3] = { NULL, NULL, NULL };
    int rc = jx_eval(c, n->a, &obj);
    for (int k = 0; k < 3 && rc == TL_OK; k++)
        if (n->kids[k] && (rc = jx_eval(c, n->kids[k], &part[k])) == TL_OK)
            pp[k] = &part[k];
    if (rc != TL_OK)
        return rc;
    if (obj.kind == JV_UNDEF)
        return jx_undefined_error(c, n, &obj);
    if (obj.kind != JV_LIST && obj.kind != JV_STR)
        return jx_fail(c, n, TL_EFORMAT, "'%s' object is not subscriptable", jv_type_name(&obj));
    if ((rc = jx_charge(c, n, jv_cost(&obj))) != TL_OK)
        return rc;
    int64_t step = 1, start, stop;
    if (pp[2] && pp[2]->kind != JV_NONE) {
        if (pp[2]->kind != JV_INT && pp[2]->kind != JV_BOOL)
            return jx_fail(c, n, TL_EFORMAT, "slice indices must be integers or none");
        if ((step = pp[2]->kind == JV_INT ? pp[2]->u.i : pp[2]->u.b) == 0)
            return jx_fail(c, n, TL_EFORMAT, "slice step cannot be zero");
        if (step == INT64_MIN)
            step = -INT64_MAX;
    }
    bool is_str = obj.kind == JV_STR;
    int64_t len = is_str ? (int64_t)u8_len(obj.u.s.p, obj.u.s.n) : (int64_t)obj.u.l->n;
    if (slice_bound(pp[0], len, step, true, &start) != TL_OK || slice_bound(pp[1], len, step, false, &stop) != TL_OK)
        return jx_fail(c, n, TL_EFORMAT, "slice indices must be integers or none");
    int64_t count = step > 0 ? (start < stop ? (stop - start - 1) / step + 1 : 0)
                             : (stop < start ? (start - stop - 1) / -step + 1 : 0);
    if (!is_str) {
        if ((rc = jv_new_list(c, n, (size_t)count, out)) != TL_OK)
            return rc;
        out->tuple = obj.tuple;
        for (int64_t k = 0; k < count; k++)
            out->u.l->v[k] = obj.u.l->v[start + k * step];
        return TL_OK;
    }
    if (step == 1) {
        size_t a = u8_offset(obj.u.s.p, obj.u.s.n, (size_t)start);
        size_t b = count ? u8_offset(obj.u.s.p, obj.u.s.n, (size_t)stop) : a;
        *out = jv_str(obj.u.s.p + a, b - a);
        return TL_OK;
    }
    const struct jval *chars;
    size_t nchars;
    struct json_buf b = jv_buf();
    if ((rc = jv_iterate(c, n, &obj, &chars, &nchars)) != TL_OK)
        return rc;
    for (int64_t k = 0; k < count; k++)
        json_buf_put(&b, chars[start + k * step].u.s.p, chars[start + k * step].u.s.n);
    return jv_from_buf(c, n, &b, out);
}

/* ---- calls ---- */

static int eval_args(struct jctx *c, const struct jnode *n, struct jargs *a)
{
    size_t npos = n->nkids - n->nnames;
    int rc = TL_OK;
    a->npos = npos;
    a->nkw = n->nnames;
    for (size_t i = 0; i < n->nkids && rc == TL_OK; i++) {
        if (i < npos) {
            rc = jx_eval(c, n->kids[i], &a->pos[i]);
        } else {
            a->kwn[i - npos] = n->names[i - npos];
            rc = jx_eval(c, n->kids[i], &a->kwv[i - npos]);
        }
    }
    return rc;
}

static int bind_params(struct jctx *c, const struct jnode *at, const struct jnode *m, const struct jargs *a,
                       struct jscope *s)
{
    int rc = TL_OK;
    if (a->npos > m->nnames)
        return jx_fail(c, at, TL_EFORMAT, "macro '%s' takes at most %zu arguments", m->s, m->nnames);
    for (size_t k = 0; k < a->nkw; k++) {
        size_t p = 0;
        while (p < m->nnames && strcmp(m->names[p], a->kwn[k]))
            p++;
        if (p == m->nnames)
            return jx_fail(c, at, TL_EFORMAT, "macro '%s' has no parameter '%s'", m->s, a->kwn[k]);
    }
    for (size_t p = 0; p < m->nnames && rc == TL_OK; p++) {
        struct jval v;
        const struct jval *given = p < a->npos ? &a->pos[p] : jx_arg(a, SIZE_MAX, m->names[p]);
        if (given) {
            v = *given;
        } else if (m->kids[p]) {
            rc = jx_eval(c, m->kids[p], &v);   /* in the new scope: earlier parameters are visible */
        } else {
            struct jnode *name = jarena_alloc(c->ar, sizeof *name);
            if (!name)
                return jx_fail(c, at, TL_ERANGE, "out of memory calling a macro");
            memset(name, 0, sizeof *name);
            name->kind = JN_NAME;
            name->line = at->line;
            name->s = m->names[p];
            name->n = strlen(m->names[p]);
            v = jv_undef(name, JV_UNDEF);
        }
        if (rc == TL_OK)
            rc = jx_scope_set(c, at, s, m->names[p], v);
    }
    return rc;
}

static int call_macro(struct jctx *c, const struct jnode *at, const struct jval *fn, const struct jargs *a,
                      struct jval *out)
{
    const struct jnode *m = fn->u.macro.node;
    struct jscope *saved_scope = c->scope;
    struct json_buf *saved_out = c->out, buf = jv_buf();
    int rc;
    if (c->macro_depth >= JINJA_MAX_NEST / 4)
        return jx_fail(c, at, TL_ERANGE, "macro calls nested too deeply (over %d)", JINJA_MAX_NEST / 4);
    struct jscope *s = jx_scope_new(c, at, fn->u.macro.scope, &rc);
    if (!s)
        return rc;
    c->macro_depth++;
    c->scope = s;
    c->out = &buf;
    rc = bind_params(c, at, m, a, s);
    if (rc == TL_OK)
        rc = jx_exec(c, m->b);
    c->out = saved_out;
    c->scope = saved_scope;
    c->macro_depth--;
    if (rc != TL_OK) {
        json_buf_free(&buf);
        return rc;
    }
    return jv_from_buf(c, at, &buf, out);
}

int jx_call_value(struct jctx *c, const struct jnode *n, const struct jval *fn,
                  const struct jargs *args, struct jval *out)
{
    if (fn->kind == JV_FUNC)
        return jx_func(c, n, fn->u.fn, args, out);
    if (fn->kind == JV_MACRO)
        return call_macro(c, n, fn, args, out);
    if (fn->kind == JV_UNDEF)
        return jx_undefined_error(c, n, fn);
    return jx_fail(c, n, TL_EFORMAT, "'%s' object is not callable", jv_type_name(fn));
}

static int eval_call(struct jctx *c, const struct jnode *n, struct jval *out)
{
    struct jargs a;
    struct jval fn, obj;
    int rc;
    if (n->a->kind == JN_ATTR) {
        bool found = false;
        if ((rc = jx_eval(c, n->a->a, &obj)) != TL_OK || (rc = eval_args(c, n, &a)) != TL_OK)
            return rc;
        if (obj.kind == JV_UNDEF)
            return jx_undefined_error(c, n, &obj);
        if ((rc = jx_charge(c, n, jv_cost(&obj))) != TL_OK)
            return rc;
        if ((rc = jx_method(c, n, &obj, n->a->s, &a, out, &found)) != TL_OK || found)
            return rc;
        if ((rc = jx_getattr(c, n->a, &obj, n->a->s, n->a->n, &fn)) != TL_OK)
            return rc;
    } else if ((rc = jx_eval(c, n->a, &fn)) != TL_OK || (rc = eval_args(c, n, &a)) != TL_OK) {
        return rc;
    }
    return jx_call_value(c, n, &fn, &a, out);
}

/* ---- operators ---- */

static bool is_num(const struct jval *v) { return v->kind == JV_BOOL || v->kind == JV_INT || v->kind == JV_FLOAT; }
static int64_t as_int(const struct jval *v) { return v->kind == JV_INT ? v->u.i : v->u.b; }
static double as_float(const struct jval *v) { return v->kind == JV_FLOAT ? v->u.f : (double)as_int(v); }

static int int_pow(struct jctx *c, const struct jnode *n, int64_t base, int64_t e, int64_t *out)
{
    int64_t r = 1;
    while (e > 0) {
        if ((e & 1) && __builtin_mul_overflow(r, base, &r))
            return jx_fail(c, n, TL_ERANGE, "integer overflow in **");
        e >>= 1;
        if (e && __builtin_mul_overflow(base, base, &base))
            return jx_fail(c, n, TL_ERANGE, "integer overflow in **");
    }
    *out = r;
    return TL_OK;
}

static int arith_int(struct jctx *c, const struct jnode *n, int op, int64_t a, int64_t b, struct jval *out)
{
    int64_t r = 0;
    bool ovf = false;
    if ((op == OP_DIV || op == OP_FLOORDIV || op == OP_MOD) && b == 0)
        return jx_fail(c, n, TL_EFORMAT, "division by zero");
    switch (op) {
    case OP_ADD: ovf = __builtin_add_overflow(a, b, &r); break;
    case OP_SUB: ovf = __builtin_sub_overflow(a, b, &r); break;
    case OP_MUL: ovf = __builtin_mul_overflow(a, b, &r); break;
    case OP_DIV: *out = jv_float((double)a / (double)b); return TL_OK;
    case OP_FLOORDIV:
        if (a == INT64_MIN && b == -1)
            ovf = true;
        else
            r = a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
        break;
    case OP_MOD:
        r = b == -1 ? 0 : a % b;
        if (r != 0 && ((r < 0) != (b < 0)))
            r += b;
        break;
    default:   /* OP_POW */
        if (b < 0) {
            *out = jv_float(pow((double)a, (double)b));
            return TL_OK;
        }
        if (int_pow(c, n, a, b, &r) != TL_OK)
            return c->err->code;
    }
    if (ovf)
        return jx_fail(c, n, TL_ERANGE, "integer overflow");
    *out = jv_int(r);
    return TL_OK;
}

static int arith_float(struct jctx *c, const struct jnode *n, int op, double a, double b, struct jval *out)
{
    double r;
    if ((op == OP_DIV || op == OP_FLOORDIV || op == OP_MOD) && b == 0)
        return jx_fail(c, n, TL_EFORMAT, "float division by zero");
    switch (op) {
    case OP_ADD: r = a + b; break;
    case OP_SUB: r = a - b; break;
    case OP_MUL: r = a * b; break;
    case OP_DIV: r = a / b; break;
    case OP_FLOORDIV: r = floor(a / b); break;
    case OP_MOD:
        r = fmod(a, b);
        r = r != 0 && ((r < 0) != (b < 0)) ? r + b : r == 0 ? copysign(0, b) : r;
        break;
    default: r = pow(a, b); break;
    }
    *out = jv_float(r);
    return TL_OK;
}

/* s * count for strings and lists. */
static int repeat(struct jctx *c, const struct jnode *n, const struct jval *seq, int64_t count, struct jval *out)
{
    size_t k = count > 0 ? (size_t)count : 0;
    int rc;
    if (seq->kind == JV_STR) {
        char *p;
        size_t len = seq->u.s.n;
        if (len && k > JINJA_MAX_OUTPUT / len)
            return jx_fail(c, n, TL_ERANGE, "string longer than the %u MB limit", JINJA_MAX_OUTPUT >> 20);
        if ((rc = jv_new_str(c, n, len * k, &p, out)) != TL_OK)
            return rc;
        for (size_t i = 0; i < k; i++)
            memcpy(p + i * len, seq->u.s.p, len);
        return TL_OK;
    }
    size_t len = seq->u.l->n;
    if (len && k > JINJA_MAX_ITERS / len)
        return jx_fail(c, n, TL_ERANGE, "list longer than %u items", JINJA_MAX_ITERS);
    if ((rc = jv_new_list(c, n, len * k, out)) != TL_OK)
        return rc;
    out->tuple = seq->tuple;
    for (size_t i = 0; i < k; i++)
        memcpy(out->u.l->v + i * len, seq->u.l->v, len * sizeof(struct jval));
    return TL_OK;
}

static int concat(struct jctx *c, const struct jnode *n, const struct jval *a, const struct jval *b, struct jval *out)
{
    int rc;
    if (a->kind == JV_STR) {
        char *p;
        if ((rc = jv_new_str(c, n, a->u.s.n + b->u.s.n, &p, out)) != TL_OK)
            return rc;
        memcpy(p, a->u.s.p, a->u.s.n);
        memcpy(p + a->u.s.n, b->u.s.p, b->u.s.n);
        return TL_OK;
    }
    if ((rc = jv_new_list(c, n, a->u.l->n + b->u.l->n, out)) != TL_OK)
        return rc;
    out->tuple = a->tuple;
    memcpy(out->u.l->v, a->u.l->v, a->u.l->n * sizeof(struct jval));
    memcpy(out->u.l->v + a->u.l->n, b->u.l->v, b->u.l->n * sizeof(struct jval));
    return TL_OK;
}

static int arith(struct jctx *c, const struct jnode *n, int op, const struct jval *a, const struct jval *b,
                 struct jval *out)
{
    static const char *const sym[] = { [OP_ADD] = "+", [OP_SUB] = "-", [OP_MUL] = "*", [OP_DIV] = "/",
                                       [OP_FLOORDIV] = "//", [OP_MOD] = "%", [OP_POW] = "**" };
    if (a->kind == JV_UNDEF)
        return jx_undefined_error(c, n, a);
    if (b->kind == JV_UNDEF)
        return jx_undefined_error(c, n, b);
    if (is_num(a) && is_num(b)) {
        if (a->kind == JV_FLOAT || b->kind == JV_FLOAT)
            return arith_float(c, n, op, as_float(a), as_float(b), out);
        return arith_int(c, n, op, as_int(a), as_int(b), out);
    }
    bool seq_a = a->kind == JV_STR || a->kind == JV_LIST, seq_b = b->kind == JV_STR || b->kind == JV_LIST;
    if (op == OP_ADD && a->kind == b->kind && seq_a && a->tuple == b->tuple)
        return concat(c, n, a, b, out);
    if (op == OP_MUL && seq_a && (b->kind == JV_INT || b->kind == JV_BOOL))
        return repeat(c, n, a, as_int(b), out);
    if (op == OP_MUL && seq_b && (a->kind == JV_INT || a->kind == JV_BOOL))
        return repeat(c, n, b, as_int(a), out);
    if (op == OP_MOD && a->kind == JV_STR)
        return jx_fail(c, n, TL_EUNSUPPORTED, "%%-formatting of strings is not supported");
    if (op == OP_ADD && a->kind == JV_STR)
        return jx_fail(c, n, TL_EFORMAT, "can only concatenate str (not \"%s\") to str", jv_type_name(b));
    return jx_fail(c, n, TL_EFORMAT, "unsupported operand types for %s: '%s' and '%s'", sym[op],
                   jv_type_name(a), jv_type_name(b));
}

static int contains(struct jctx *c, const struct jnode *n, const struct jval *x, const struct jval *seq, bool *res)
{
    *res = false;
    if (jx_charge(c, n, jv_cost(seq)) != TL_OK)
        return c->err->code;
    switch (seq->kind) {
    case JV_UNDEF:
        return TL_OK;
    case JV_STR:
        if (x->kind != JV_STR)
            return jx_fail(c, n, TL_EFORMAT, "'in <string>' needs a string on the left, not '%s'", jv_type_name(x));
        *res = x->u.s.n == 0 || memmem(seq->u.s.p, seq->u.s.n, x->u.s.p, x->u.s.n) != NULL;
        return TL_OK;
    case JV_LIST:
        for (size_t i = 0; i < seq->u.l->n && !*res; i++)
            *res = jv_equal(x, &seq->u.l->v[i]);
        return TL_OK;
    case JV_DICT:
        *res = jv_dict_find(seq->u.d, x) != NULL;
        return TL_OK;
    default:
        return jx_fail(c, n, TL_EFORMAT, "argument of type '%s' is not iterable", jv_type_name(seq));
    }
}

static int compare_chain(struct jctx *c, const struct jnode *n, struct jval *out)
{
    struct jval left, right;
    int rc = jx_eval(c, n->a, &left);
    bool res = true;
    for (size_t i = 0; i < n->nkids && res && rc == TL_OK; i++) {
        int op = n->ops[i], cmp = 0;
        if ((rc = jx_eval(c, n->kids[i], &right)) != TL_OK)
            break;
        if ((rc = jx_charge(c, n, jv_cost(&left) + jv_cost(&right))) != TL_OK)
            break;
        if (op == OP_EQ || op == OP_NE) {
            res = jv_equal(&left, &right) == (op == OP_EQ);
        } else if (op == OP_IN || op == OP_NOTIN) {
            rc = contains(c, n, &left, &right, &res);
            res = res == (op == OP_IN);
        } else if ((rc = jv_compare(c, n, &left, &right, &cmp)) == TL_OK) {
            res = op == OP_LT ? cmp < 0 : op == OP_LE ? cmp <= 0 : op == OP_GT ? cmp > 0 : cmp >= 0;
        }
        left = right;
    }
    *out = jv_bool(res);
    return rc;
}

static int eval_unary(struct jctx *c, const struct jnode *n, struct jval *out)
{
    struct jval v;
    int rc = jx_eval(c, n->a, &v);
    if (rc != TL_OK)
        return rc;
    if (n->op == OP_NOT) {
        *out = jv_bool(!jv_truthy(&v));
        return TL_OK;
    }
    if (v.kind == JV_UNDEF)
        return jx_undefined_error(c, n, &v);
    if (v.kind == JV_FLOAT) {
        *out = jv_float(n->op == OP_NEG ? -v.u.f : v.u.f);
    } else if (v.kind == JV_INT || v.kind == JV_BOOL) {
        int64_t i = as_int(&v);
        if (n->op == OP_NEG && i == INT64_MIN)
            return jx_fail(c, n, TL_ERANGE, "integer overflow");
        *out = jv_int(n->op == OP_NEG ? -i : i);
    } else {
        return jx_fail(c, n, TL_EFORMAT, "bad operand type for unary %s: '%s'", n->op == OP_NEG ? "-" : "+",
                       jv_type_name(&v));
    }
    return TL_OK;
}

static int eval_binary(struct jctx *c, const struct jnode *n, struct jval *out)
{
    struct jval a, b;
    int rc = jx_eval(c, n->a, &a);
    if (rc != TL_OK)
        return rc;
    if (n->op == OP_AND || n->op == OP_OR) {
        if (jv_truthy(&a) == (n->op == OP_OR)) {
            *out = a;
            return TL_OK;
        }
        return jx_eval(c, n->b, out);
    }
    if ((rc = jx_eval(c, n->b, &b)) != TL_OK)
        return rc;
    if (n->op != OP_TILDE)
        return arith(c, n, n->op, &a, &b, out);
    struct json_buf buf = jv_buf();
    if ((rc = jv_write_str(c, n, &buf, &a)) == TL_OK)
        rc = jv_write_str(c, n, &buf, &b);
    if (rc != TL_OK) {
        json_buf_free(&buf);
        return rc;
    }
    return jv_from_buf(c, n, &buf, out);
}

static int eval_collection(struct jctx *c, const struct jnode *n, struct jval *out)
{
    int rc;
    if (n->kind != JN_DICT) {
        if ((rc = jv_new_list(c, n, n->nkids, out)) != TL_OK)
            return rc;
        out->tuple = n->kind == JN_TUPLE;
        for (size_t i = 0; i < n->nkids && rc == TL_OK; i++)
            rc = jx_eval(c, n->kids[i], &out->u.l->v[i]);
        return rc;
    }
    struct jdict *d = jarena_alloc(c->ar, sizeof *d);
    if (!d)
        return jx_fail(c, n, TL_ERANGE, "out of memory for a dict");
    memset(d, 0, sizeof *d);
    *out = (struct jval){ .kind = JV_DICT };
    out->u.d = d;
    for (size_t i = 0; i + 1 < n->nkids; i += 2) {
        struct jval k, v;
        if ((rc = jx_eval(c, n->kids[i], &k)) != TL_OK || (rc = jx_eval(c, n->kids[i + 1], &v)) != TL_OK)
            return rc;
        if (k.kind == JV_LIST && !k.tuple)
            return jx_fail(c, n, TL_EFORMAT, "unhashable type: '%s'", jv_type_name(&k));
        if (k.kind == JV_DICT || k.kind == JV_UNDEF)
            return jx_fail(c, n, TL_EFORMAT, "unhashable type: '%s'", jv_type_name(&k));
        if ((rc = jv_dict_set(c, n, d, &k, &v)) != TL_OK)
            return rc;
    }
    return TL_OK;
}

static int eval_filter_or_test(struct jctx *c, const struct jnode *n, struct jval *out)
{
    struct jargs a;
    struct jval v;
    int rc;
    if ((rc = jx_eval(c, n->a, &v)) != TL_OK || (rc = eval_args(c, n, &a)) != TL_OK ||
        (rc = jx_charge(c, n, jv_cost(&v))) != TL_OK)
        return rc;
    if (n->kind == JN_FILTER) {
        *out = v;
        return jx_filter(c, n, n->s, out, &a);
    }
    bool res = false;
    if ((rc = jx_test(c, n, n->s, &v, &a, &res)) == TL_OK)
        *out = jv_bool(res != n->negate);
    return rc;
}

static int eval_node(struct jctx *c, const struct jnode *n, struct jval *out)
{
    struct jval obj, key;
    int rc;
    switch (n->kind) {
    case JN_CONST: *out = n->cval; return TL_OK;
    case JN_NAME: return jx_lookup(c, n, n->s, n->n, out);
    case JN_LIST: case JN_TUPLE: case JN_DICT: return eval_collection(c, n, out);
    case JN_ATTR:
        if ((rc = jx_eval(c, n->a, &obj)) != TL_OK)
            return rc;
        return jx_getattr(c, n, &obj, n->s, n->n, out);
    case JN_ITEM:
        if ((rc = jx_eval(c, n->a, &obj)) != TL_OK || (rc = jx_eval(c, n->b, &key)) != TL_OK)
            return rc;
        return jx_getitem(c, n, &obj, &key, out);
    case JN_SLICE: return eval_slice(c, n, out);
    case JN_CALL: return eval_call(c, n, out);
    case JN_FILTER: case JN_TEST: return eval_filter_or_test(c, n, out);
    case JN_UNARY: return eval_unary(c, n, out);
    case JN_BINARY: return eval_binary(c, n, out);
    case JN_COMPARE: return compare_chain(c, n, out);
    case JN_COND:
        if ((rc = jx_eval(c, n->b, &obj)) != TL_OK)
            return rc;
        if (jv_truthy(&obj))
            return jx_eval(c, n->a, out);
        if (n->c)
            return jx_eval(c, n->c, out);
        *out = jv_undef(NULL, JV_UNDEF);
        return TL_OK;
    default:
        return jx_fail(c, n, TL_EFORMAT, "internal: statement where an expression belongs");
    }
}

int jx_eval(struct jctx *c, const struct jnode *n, struct jval *out)
{
    if (++c->steps > JINJA_MAX_STEPS)
        return jx_fail(c, n, TL_ERANGE, "template took more than %u steps", JINJA_MAX_STEPS);
    if (c->depth >= JINJA_MAX_NEST * 4)
        return jx_fail(c, n, TL_ERANGE, "evaluation nested too deeply");
    c->depth++;
    int rc = eval_node(c, n, out);
    c->depth--;
    return rc;
}
