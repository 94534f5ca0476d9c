/* chat/jinja/builtins.c: the tests of the subset, with jinja2 3.1's behaviour,
 * and HF's tojson (json.dumps: ensure_ascii=False, indent, separators,
 * sort_keys). Filters are in chat/jinja/filters.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "chat/jinja/jinja_impl.h"

/* name is the test as called (several names share a function). */
typedef int (*test_fn)(struct jctx *c, const struct jnode *n, const char *name, const struct jval *v,
                       const struct jargs *a, bool *res);

static int as_str(struct jctx *c, const struct jnode *n, struct jval *v)
{
    return jv_to_str(c, n, v, v);
}

/* ---- tojson ---- */

struct json_opts {
    const char *indent;   /* NULL: no newlines */
    size_t      indent_n;
    const char *item_sep, *key_sep;
    size_t      item_n, key_n;
    bool        ascii, sort;
};

static int dump(struct jctx *c, const struct jnode *n, struct json_buf *b, const struct jval *v,
                const struct json_opts *o, int depth);

static void newline(struct json_buf *b, const struct json_opts *o, int depth)
{
    json_buf_put(b, "\n", 1);
    for (int i = 0; i < depth; i++)
        json_buf_put(b, o->indent, o->indent_n);
}

static int key_cmp(const void *x, const void *y)
{
    const struct jkv *a = *(const struct jkv *const *)x, *b = *(const struct jkv *const *)y;
    size_t k = a->k.u.s.n < b->k.u.s.n ? a->k.u.s.n : b->k.u.s.n;
    int r = memcmp(a->k.u.s.p, b->k.u.s.p, k);
    return r ? r : (a->k.u.s.n > b->k.u.s.n) - (a->k.u.s.n < b->k.u.s.n);
}

static int dump_key(struct jctx *c, const struct jnode *n, struct json_buf *b, const struct jval *k, bool ascii)
{
    if (k->kind == JV_STR)
        json_buf_put_string(b, k->u.s.p, k->u.s.n, ascii);
    else if (k->kind == JV_NONE || k->kind == JV_BOOL || k->kind == JV_INT || k->kind == JV_FLOAT) {
        struct json_buf t = jv_buf();
        static const struct json_opts plain = { NULL, 0, ", ", ": ", 2, 2, false, false };
        int rc = dump(c, n, &t, k, &plain, 0);
        json_buf_put_string(b, t.p, t.len, false);
        json_buf_free(&t);
        return rc;
    } else {
        return jx_fail(c, n, TL_EFORMAT, "tojson: keys must be str, int, float, bool or None, not '%s'",
                       jv_type_name(k));
    }
    return TL_OK;
}

static int dump_dict(struct jctx *c, const struct jnode *n, struct json_buf *b, const struct jdict *d,
                     const struct json_opts *o, int depth)
{
    int rc = TL_OK;
    const struct jkv **order = jarena_alloc(c->ar, (d->n + 1) * sizeof *order);
    if (!order)
        return jx_fail(c, n, TL_ERANGE, "out of memory in tojson");
    for (size_t i = 0; i < d->n; i++) {
        order[i] = &d->kv[i];
        if (o->sort && d->kv[i].k.kind != JV_STR)
            return jx_fail(c, n, TL_EUNSUPPORTED, "tojson: sort_keys needs string keys");
    }
    if (o->sort)
        qsort(order, d->n, sizeof *order, key_cmp);
    json_buf_put(b, "{", 1);
    for (size_t i = 0; i < d->n && rc == TL_OK; i++) {
        if (i)
            json_buf_put(b, o->item_sep, o->item_n);
        if (o->indent)
            newline(b, o, depth + 1);
        if ((rc = dump_key(c, n, b, &order[i]->k, o->ascii)) == TL_OK) {
            json_buf_put(b, o->key_sep, o->key_n);
            rc = dump(c, n, b, &order[i]->v, o, depth + 1);
        }
    }
    if (o->indent && d->n)
        newline(b, o, depth);
    json_buf_put(b, "}", 1);
    return rc;
}

static int dump(struct jctx *c, const struct jnode *n, struct json_buf *b, const struct jval *v,
                const struct json_opts *o, int depth)
{
    char tmp[40];
    int rc = TL_OK;
    if (depth > JINJA_MAX_NEST)
        return jx_fail(c, n, TL_ERANGE, "tojson: value nested too deeply");
    switch (v->kind) {
    case JV_NONE: json_buf_puts(b, "null"); break;
    case JV_BOOL: json_buf_puts(b, v->u.b ? "true" : "false"); break;
    case JV_INT: return jv_write_str(c, n, b, v);
    case JV_FLOAT:
        if (isnan(v->u.f) || isinf(v->u.f))
            json_buf_puts(b, isnan(v->u.f) ? "NaN" : v->u.f > 0 ? "Infinity" : "-Infinity");
        else {
            json_format_double(v->u.f, tmp);
            json_buf_puts(b, tmp);
        }
        break;
    case JV_STR: json_buf_put_string(b, v->u.s.p, v->u.s.n, o->ascii); break;
    case JV_LIST:
        json_buf_put(b, "[", 1);
        for (size_t i = 0; i < v->u.l->n && rc == TL_OK; i++) {
            if (i)
                json_buf_put(b, o->item_sep, o->item_n);
            if (o->indent)
                newline(b, o, depth + 1);
            rc = dump(c, n, b, &v->u.l->v[i], o, depth + 1);
        }
        if (o->indent && v->u.l->n)
            newline(b, o, depth);
        json_buf_put(b, "]", 1);
        break;
    case JV_DICT: return dump_dict(c, n, b, v->u.d, o, depth);
    default:
        return jx_fail(c, n, TL_EFORMAT, "tojson: object of type '%s' is not JSON serializable", jv_type_name(v));
    }
    return rc;
}

static int tojson_indent(struct jctx *c, const struct jnode *n, const struct jval *ind, struct json_opts *o)
{
    static const char spaces[] = "                                                                ";
    if (!ind || ind->kind == JV_NONE)
        return TL_OK;
    if (ind->kind == JV_STR) {
        o->indent = ind->u.s.p;
        o->indent_n = ind->u.s.n;
    } else if (ind->kind == JV_INT || ind->kind == JV_BOOL) {
        int64_t k = ind->kind == JV_INT ? ind->u.i : ind->u.b;
        if (k > (int64_t)sizeof spaces - 1)
            return jx_fail(c, n, TL_EUNSUPPORTED, "tojson: indent over %zu", sizeof spaces - 1);
        o->indent = spaces;
        o->indent_n = k > 0 ? (size_t)k : 0;
    } else {
        return jx_fail(c, n, TL_EFORMAT, "tojson: indent must be an int or a string");
    }
    o->item_sep = ",";
    o->item_n = 1;
    return TL_OK;
}

int jx_tojson(struct jctx *c, const struct jnode *n, const struct jval *v, const struct jargs *a, struct jval *out)
{
    struct json_opts o = { NULL, 0, ", ", ": ", 2, 2, false, false };
    const struct jval *ascii = jx_arg(a, 1, "ensure_ascii"), *seps = jx_arg(a, 2, "separators");
    const struct jval *sort = jx_arg(a, 3, "sort_keys");
    int rc = tojson_indent(c, n, jx_arg(a, 0, "indent"), &o);
    if (rc != TL_OK)
        return rc;
    o.ascii = ascii && jv_truthy(ascii);
    o.sort = sort && jv_truthy(sort);
    if (seps && seps->kind != JV_NONE) {
        if (seps->kind != JV_LIST || seps->u.l->n != 2 || seps->u.l->v[0].kind != JV_STR ||
            seps->u.l->v[1].kind != JV_STR)
            return jx_fail(c, n, TL_EFORMAT, "tojson: separators must be two strings");
        o.item_sep = seps->u.l->v[0].u.s.p;
        o.item_n = seps->u.l->v[0].u.s.n;
        o.key_sep = seps->u.l->v[1].u.s.p;
        o.key_n = seps->u.l->v[1].u.s.n;
    }
    struct json_buf b = jv_buf();
    if ((rc = dump(c, n, &b, v, &o, 0)) != TL_OK) {
        json_buf_free(&b);
        return rc;
    }
    return jv_from_buf(c, n, &b, out);
}

/* ---- tests ---- */

/* The tests that ask only a value's kind pass for a set of kinds (bits
 * 1 << enum jv_kind); they are rows of the table below with no function. */
#define KIND(k) (1u << (k))
#define KINDS_NUMBER (KIND(JV_INT) | KIND(JV_FLOAT) | KIND(JV_BOOL))
/* jinja2 iterates an undefined value as empty */
#define KINDS_ITERABLE (KIND(JV_STR) | KIND(JV_LIST) | KIND(JV_DICT) | KIND(JV_UNDEF))
/* jinja2's Undefined has __call__ (it raises when called), so callable() is true */
#define KINDS_CALLABLE (KIND(JV_FUNC) | KIND(JV_MACRO) | KIND(JV_UNDEF))

static int t_true(struct jctx *c, const struct jnode *n, const char *name, const struct jval *v, const struct jargs *a,
               bool *r)
{ *r = v->kind == JV_BOOL && v->u.b; return TL_OK; }
static int t_false(struct jctx *c, const struct jnode *n, const char *name, const struct jval *v, const struct jargs *a,
               bool *r)
{ *r = v->kind == JV_BOOL && !v->u.b; return TL_OK; }

/* Python's value % div == want, for ints and floats as jinja2's tests compute it. */
static int t_odd_even(struct jctx *c, const struct jnode *n, const struct jval *v, int64_t div, int64_t want, bool *r)
{
    if (v->kind == JV_FLOAT) {
        double m = fmod(v->u.f, (double)div);
        if (m != 0 && ((m < 0) != (div < 0)))
            m += (double)div;
        *r = m == (double)want;
        return TL_OK;
    }
    if (v->kind != JV_INT && v->kind != JV_BOOL)
        return jx_fail(c, n, TL_EFORMAT, "test needs a number, not '%s'", jv_type_name(v));
    int64_t i = v->kind == JV_INT ? v->u.i : v->u.b;
    int64_t m = div == -1 ? 0 : i % div;
    if (m != 0 && ((m < 0) != (div < 0)))
        m += div;
    *r = m == want;
    return TL_OK;
}
static int t_odd(struct jctx *c, const struct jnode *n, const char *name, const struct jval *v, const struct jargs *a,
               bool *r)
{ return t_odd_even(c, n, v, 2, 1, r); }
static int t_even(struct jctx *c, const struct jnode *n, const char *name, const struct jval *v, const struct jargs *a,
               bool *r)
{ return t_odd_even(c, n, v, 2, 0, r); }
static int t_divisibleby(struct jctx *c, const struct jnode *n, const char *name, const struct jval *v, const struct jargs *a,
               bool *r)
{
    const struct jval *d = jx_arg(a, 0, "num");
    if (!d || d->kind != JV_INT || d->u.i == 0)
        return jx_fail(c, n, TL_EFORMAT, "divisibleby needs a non-zero integer");
    return t_odd_even(c, n, v, d->u.i, 0, r);
}

static int t_cmp(struct jctx *c, const struct jnode *n, const char *name, const struct jval *v, const struct jargs *a,
               bool *r)
{
    const struct jval *o = jx_arg(a, 0, NULL);
    const char *t = name;
    int cmp = 0, rc;
    if (!o)
        return jx_fail(c, n, TL_EFORMAT, "test '%s' needs an argument", t);
    if (!strcmp(t, "eq") || !strcmp(t, "equalto") || !strcmp(t, "==")) { *r = jv_equal(v, o); return TL_OK; }
    if (!strcmp(t, "ne") || !strcmp(t, "!=")) { *r = !jv_equal(v, o); return TL_OK; }
    if ((rc = jv_compare(c, n, v, o, &cmp)) != TL_OK)
        return rc;
    if (!strcmp(t, "lt") || !strcmp(t, "lessthan")) *r = cmp < 0;
    else if (!strcmp(t, "le")) *r = cmp <= 0;
    else if (!strcmp(t, "gt") || !strcmp(t, "greaterthan")) *r = cmp > 0;
    else *r = cmp >= 0;
    return TL_OK;
}

static int t_in(struct jctx *c, const struct jnode *n, const char *name, const struct jval *v, const struct jargs *a,
               bool *r)
{
    const struct jval *seq = jx_arg(a, 0, NULL), *items;
    size_t count;
    int rc;
    if (!seq)
        return jx_fail(c, n, TL_EFORMAT, "test 'in' needs a sequence");
    if (seq->kind == JV_STR) {
        if (v->kind != JV_STR)
            return jx_fail(c, n, TL_EFORMAT, "'in <string>' needs a string on the left");
        *r = v->u.s.n == 0 || memmem(seq->u.s.p, seq->u.s.n, v->u.s.p, v->u.s.n);
        return TL_OK;
    }
    if ((rc = jv_iterate(c, n, seq, &items, &count)) != TL_OK)
        return rc;
    *r = false;
    for (size_t i = 0; i < count && !*r; i++)
        *r = jv_equal(v, &items[i]);
    return TL_OK;
}

static int t_sameas(struct jctx *c, const struct jnode *n, const char *name, const struct jval *v, const struct jargs *a,
               bool *r)
{
    const struct jval *o = jx_arg(a, 0, "other");
    if (!o)
        return jx_fail(c, n, TL_EFORMAT, "test 'sameas' needs an argument");
    if (v->kind != o->kind)
        *r = false;
    else if (v->kind == JV_NONE || v->kind == JV_BOOL || v->kind == JV_UNDEF)
        *r = jv_equal(v, o);
    else if (v->kind == JV_STR)
        *r = v->u.s.p == o->u.s.p && v->u.s.n == o->u.s.n;
    else
        *r = v->kind == JV_LIST ? v->u.l == o->u.l : (v->kind == JV_DICT || v->kind == JV_NS) ? v->u.d == o->u.d : false;
    return TL_OK;
}

static int t_case(struct jctx *c, const struct jnode *n, const char *name, const struct jval *v, const struct jargs *a,
               bool *r)
{
    struct jval s = *v, up, lo;
    int rc;
    if ((rc = as_str(c, n, &s)) != TL_OK || (rc = jx_str_case(c, n, &s, CASE_UPPER, &up)) != TL_OK ||
        (rc = jx_str_case(c, n, &s, CASE_LOWER, &lo)) != TL_OK)
        return rc;
    bool cased = !jv_equal(&up, &lo);
    *r = cased && jv_equal(&s, name[0] == 'l' ? &lo : &up);
    return TL_OK;
}

static const struct jtest {
    const char *name;
    test_fn     fn;      /* NULL: a kind test */
    uint32_t    kinds;   /* kind test: the kinds that pass */
} tests[] = {
    { "defined", NULL, ~KIND(JV_UNDEF) }, { "undefined", NULL, KIND(JV_UNDEF) }, { "none", NULL, KIND(JV_NONE) },
    { "boolean", NULL, KIND(JV_BOOL) }, { "true", t_true, 0 }, { "false", t_false, 0 },
    { "integer", NULL, KIND(JV_INT) }, { "float", NULL, KIND(JV_FLOAT) }, { "number", NULL, KINDS_NUMBER },
    { "string", NULL, KIND(JV_STR) }, { "mapping", NULL, KIND(JV_DICT) }, { "iterable", NULL, KINDS_ITERABLE },
    { "sequence", NULL, KINDS_ITERABLE }, { "callable", NULL, KINDS_CALLABLE }, { "odd", t_odd, 0 },
    { "even", t_even, 0 }, { "divisibleby", t_divisibleby, 0 }, { "eq", t_cmp, 0 }, { "equalto", t_cmp, 0 },
    { "==", t_cmp, 0 }, { "ne", t_cmp, 0 }, { "!=", t_cmp, 0 }, { "lt", t_cmp, 0 }, { "lessthan", t_cmp, 0 },
    { "le", t_cmp, 0 }, { "gt", t_cmp, 0 }, { "greaterthan", t_cmp, 0 }, { "ge", t_cmp, 0 }, { "in", t_in, 0 },
    { "sameas", t_sameas, 0 }, { "lower", t_case, 0 }, { "upper", t_case, 0 },
};

static const struct jtest *find_test(const char *name)
{
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
        if (!strcmp(tests[i].name, name))
            return &tests[i];
    return NULL;
}

bool jinja_test_known(const char *name) { return find_test(name) != NULL; }

int jx_test(struct jctx *c, const struct jnode *n, const char *name, const struct jval *v,
            const struct jargs *a, bool *result)
{
    const struct jtest *t = find_test(name);
    *result = false;
    if (!t)
        return jx_fail(c, n, TL_EUNSUPPORTED, "unknown test '%s'", name);
    if (!t->fn) {
        *result = (t->kinds & KIND(v->kind)) != 0;
        return TL_OK;
    }
    return t->fn(c, n, name, v, a, result);
}
