/* chat/jinja/filters.c: the filters of the subset, with jinja2 3.1's behaviour
 * (HF's tojson is in chat/jinja/builtins.c). Filters that jinja2 makes
 * generators of (map, select, reverse, ...) give lists here; templates
 * pass them on to |list or |join, where the two agree. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/jinja/jinja_impl.h"

typedef int (*filter_fn)(struct jctx *c, const struct jnode *n, struct jval *v, const struct jargs *a);

static int as_str(struct jctx *c, const struct jnode *n, struct jval *v) { return jv_to_str(c, n, v, v); }

static int f_default(struct jctx *c, const struct jnode *n, struct jval *v, const struct jargs *a)
{
    const struct jval *d = jx_arg(a, 0, "default_value"), *b = jx_arg(a, 1, "boolean");
    if (v->kind == JV_UNDEF || (b && jv_truthy(b) && !jv_truthy(v)))
        *v = d ? *d : jv_str("", 0);
    return TL_OK;
}

static int f_length(struct jctx *c, const struct jnode *n, struct jval *v, const struct jargs *a)
{
    switch (v->kind) {
    case JV_UNDEF: *v = jv_int(0); return TL_OK;
    case JV_STR: *v = jv_int((int64_t)u8_len(v->u.s.p, v->u.s.n)); return TL_OK;
    case JV_LIST: *v = jv_int((int64_t)v->u.l->n); return TL_OK;
    case JV_DICT: *v = jv_int((int64_t)v->u.d->n); return TL_OK;
    default: return jx_fail(c, n, TL_EFORMAT, "object of type '%s' has no length", jv_type_name(v));
    }
}

static int f_string(struct jctx *c, const struct jnode *n, struct jval *v, const struct jargs *a) { return as_str(c, n, v); }
static int f_safe(struct jctx *c, const struct jnode *n, struct jval *v, const struct jargs *a) { return TL_OK; }

static int f_case(struct jctx *c, const struct jnode *n, struct jval *v, int mode)
{
    int rc = as_str(c, n, v);
    return rc == TL_OK ? jx_str_case(c, n, v, mode, v) : rc;
}
static int f_upper(struct jctx *c, const struct jnode *n, struct jval *v, const struct jargs *a) { return f_case(c, n, v, CASE_UPPER); }
static int f_lower(struct jctx *c, const struct jnode *n, struct jval *v, const struct jargs *a) { return f_case(c, n, v, CASE_LOWER); }
static int f_title(struct jctx *c, const struct jnode *n, struct jval *v, const struct jargs *a) { return f_case(c, n, v, CASE_TITLE_FILTER); }
static int f_capitalize(struct jctx *c, const struct jnode *n, struct jval *v, const struct jargs *a)
{ return f_case(c, n, v, CASE_CAPITALIZE); }

static int f_trim(struct jctx *c, const struct jnode *n, struct jval *v, const struct jargs *a)
{
    int rc = as_str(c, n, v);
    return rc == TL_OK ? jx_str_strip(c, n, v, jx_arg(a, 0, "chars"), true, true, v) : rc;
}

static int f_tojson(struct jctx *c, const struct jnode *n, struct jval *v, const struct jargs *a)
{
    return jx_tojson(c, n, v, a, v);
}

static int f_replace(struct jctx *c, const struct jnode *n, struct jval *v, const struct jargs *a)
{
    struct jval old = { .kind = JV_NONE }, new_ = old;
    const struct jval *o = jx_arg(a, 0, "old"), *w = jx_arg(a, 1, "new"), *k = jx_arg(a, 2, "count");
    int rc;
    if (!o || !w)
        return jx_fail(c, n, TL_EFORMAT, "replace needs two arguments");
    old = *o;
    new_ = *w;
    if ((rc = as_str(c, n, v)) != TL_OK || (rc = as_str(c, n, &old)) != TL_OK || (rc = as_str(c, n, &new_)) != TL_OK)
        return rc;
    int64_t count = k && k->kind == JV_INT ? k->u.i : -1;
    return jx_str_replace(c, n, v, &old, &new_, count, v);
}

static int f_abs(struct jctx *c, const struct jnode *n, struct jval *v, const struct jargs *a)
{
    if (v->kind == JV_FLOAT)
        *v = jv_float(fabs(v->u.f));
    else if ((v->kind == JV_INT && v->u.i != INT64_MIN) || v->kind == JV_BOOL)
        *v = jv_int(v->kind == JV_BOOL ? v->u.b : v->u.i < 0 ? -v->u.i : v->u.i);
    else
        return jx_fail(c, n, TL_EFORMAT, "bad operand type for abs(): '%s'", jv_type_name(v));
    return TL_OK;
}

/* Python's float(str): surrounding whitespace, underscores between digits,
 * inf/nan spelled in any case. */
static bool parse_float(const struct jval *s, double *out)
{
    char buf[128];
    size_t k = 0;
    struct jval t;
    jx_str_strip(NULL, NULL, s, NULL, true, true, &t);
    if (t.u.s.n == 0 || t.u.s.n >= sizeof buf)
        return false;
    for (size_t i = 0; i < t.u.s.n; i++) {
        char ch = t.u.s.p[i];
        if (ch == '_' && i > 0 && i + 1 < t.u.s.n && t.u.s.p[i - 1] >= '0' && t.u.s.p[i - 1] <= '9' &&
            t.u.s.p[i + 1] >= '0' && t.u.s.p[i + 1] <= '9')
            continue;
        if (ch == 'x' || ch == 'X' || ch == 'p' || ch == 'P')   /* strtod reads hex floats, Python does not */
            return false;
        buf[k++] = ch;
    }
    buf[k] = 0;
    char *end;
    *out = strtod(buf, &end);
    return *end == 0;
}

/* Python's int(str, base) for the bases templates use: sign, optional
 * 0x/0o/0b prefix matching base, underscores between digits. */
static bool parse_int(const struct jval *s, int base, int64_t *out)
{
    struct jval t;
    jx_str_strip(NULL, NULL, s, NULL, true, true, &t);
    const char *p = t.u.s.p, *e = p + t.u.s.n;
    bool neg = false, any = false;
    uint64_t v = 0;
    if (p < e && (*p == '+' || *p == '-'))
        neg = *p++ == '-';
    if (e - p > 2 && p[0] == '0' && ((base == 16 && (p[1] | 32) == 'x') || (base == 8 && (p[1] | 32) == 'o') ||
                                     (base == 2 && (p[1] | 32) == 'b')))
        p += 2;
    for (; p < e; p++) {
        int d = *p >= '0' && *p <= '9' ? *p - '0' : (*p | 32) >= 'a' && (*p | 32) <= 'z' ? (*p | 32) - 'a' + 10 : -1;
        if (*p == '_' && any && p + 1 < e && p[1] != '_')
            continue;
        if (d < 0 || d >= base || v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
            return false;
        v = v * (uint64_t)base + (uint64_t)d;
        any = true;
    }
    if (!any || v > (uint64_t)INT64_MAX + neg)
        return false;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

static bool float_to_int(double f, int64_t *out)
{
    if (!(f > -9223372036854775808.0 && f < 9223372036854775808.0))
        return false;
    *out = (int64_t)f;
    return true;
}

static int f_int(struct jctx *c, const struct jnode *n, struct jval *v, const struct jargs *a)
{
    const struct jval *d = jx_arg(a, 0, "default"), *b = jx_arg(a, 1, "base");
    int base = b && b->kind == JV_INT && b->u.i >= 2 && b->u.i <= 36 ? (int)b->u.i : 10;
    int64_t i = 0;
    double f;
    bool ok = false;
    if (v->kind == JV_UNDEF)
        return jx_undefined_error(c, n, v);
    if (v->kind == JV_INT || v->kind == JV_BOOL) {
        i = v->kind == JV_INT ? v->u.i : v->u.b;
        ok = true;
    } else if (v->kind == JV_FLOAT) {
        ok = float_to_int(v->u.f, &i);
    } else if (v->kind == JV_STR) {
        ok = parse_int(v, base, &i) || (parse_float(v, &f) && float_to_int(f, &i));
    }
    *v = ok ? jv_int(i) : d ? *d : jv_int(0);
    return TL_OK;
}

static int f_float(struct jctx *c, const struct jnode *n, struct jval *v, const struct jargs *a)
{
    const struct jval *d = jx_arg(a, 0, "default");
    double f = 0;
    bool ok = true;
    if (v->kind == JV_UNDEF)
        return jx_undefined_error(c, n, v);
    if (v->kind == JV_INT || v->kind == JV_BOOL)
        f = v->kind == JV_INT ? (double)v->u.i : v->u.b;
    else if (v->kind == JV_FLOAT)
        f = v->u.f;
    else
        ok = v->kind == JV_STR && parse_float(v, &f);
    *v = ok ? jv_float(f) : d ? *d : jv_float(0);
    return TL_OK;
}

static int f_first_last(struct jctx *c, const struct jnode *n, struct jval *v, bool last)
{
    const struct jval *items;
    size_t count;
    int rc = jv_iterate(c, n, v, &items, &count);
    if (rc == TL_OK)
        *v = count ? items[last ? count - 1 : 0] : jv_undef(NULL, JV_UNDEF);
    return rc;
}
static int f_first(struct jctx *c, const struct jnode *n, struct jval *v, const struct jargs *a) { return f_first_last(c, n, v, false); }
static int f_last(struct jctx *c, const struct jnode *n, struct jval *v, const struct jargs *a) { return f_first_last(c, n, v, true); }

/* A fresh (non-tuple) list of count items. */
static int new_list(struct jctx *c, const struct jnode *n, const struct jval *items, size_t count, struct jval *out)
{
    int rc = jv_new_list(c, n, count, out);
    if (rc == TL_OK && count)
        memcpy(out->u.l->v, items, count * sizeof *items);
    return rc;
}

static int f_list(struct jctx *c, const struct jnode *n, struct jval *v, const struct jargs *a)
{
    const struct jval *items;
    size_t count;
    int rc = jv_iterate(c, n, v, &items, &count);
    return rc == TL_OK ? new_list(c, n, items, count, v) : rc;
}

static int f_reverse(struct jctx *c, const struct jnode *n, struct jval *v, const struct jargs *a)
{
    const struct jval *items;
    size_t count;
    bool is_str = v->kind == JV_STR;
    int rc = jv_iterate(c, n, v, &items, &count);
    if (rc != TL_OK)
        return rc;
    if (is_str) {
        struct json_buf b = jv_buf();
        for (size_t i = count; i-- > 0;)
            json_buf_put(&b, items[i].u.s.p, items[i].u.s.n);
        return jv_from_buf(c, n, &b, v);
    }
    if ((rc = jv_new_list(c, n, count, v)) == TL_OK)
        for (size_t i = 0; i < count; i++)
            v->u.l->v[i] = items[count - 1 - i];
    return rc;
}

static int f_items(struct jctx *c, const struct jnode *n, struct jval *v, const struct jargs *a)
{
    static const struct jargs none = { .npos = 0 };
    bool found;
    if (v->kind == JV_UNDEF)
        return jv_new_list(c, n, 0, v);
    if (v->kind != JV_DICT)
        return jx_fail(c, n, TL_EFORMAT, "items needs a mapping, not '%s'", jv_type_name(v));
    return jx_method(c, n, v, "items", &none, v, &found);
}

/* jinja2's attribute getter: "a.b.0" walks items, digits as indexes. */
static int attr_path(struct jctx *c, const struct jnode *n, const struct jval *obj, const struct jval *path,
                     struct jval *out)
{
    *out = *obj;
    if (path->kind == JV_INT)
        return jx_getitem(c, n, obj, path, out);
    if (path->kind != JV_STR)
        return jx_fail(c, n, TL_EFORMAT, "attribute must be a string or an integer");
    const char *p = path->u.s.p, *e = p + path->u.s.n;
    while (p <= e) {
        const char *dot = memchr(p, '.', (size_t)(e - p));
        size_t len = dot ? (size_t)(dot - p) : (size_t)(e - p);
        struct jval key = jv_str(p, len), next;
        bool digits = len > 0;
        int64_t idx = 0;
        for (size_t i = 0; i < len && digits; i++) {
            digits = p[i] >= '0' && p[i] <= '9' && idx < INT64_MAX / 10;   /* too long: a key */
            if (digits)
                idx = idx * 10 + (p[i] - '0');
        }
        if (digits)
            key = jv_int(idx);
        int rc = jx_getitem(c, n, out, &key, &next);
        if (rc != TL_OK)
            return rc;
        *out = next;
        if (!dot)
            break;
        p = dot + 1;
    }
    return TL_OK;
}

static int f_join(struct jctx *c, const struct jnode *n, struct jval *v, const struct jargs *a)
{
    const struct jval *sep = jx_arg(a, 0, "d"), *attr = jx_arg(a, 1, "attribute"), *items;
    struct jval s = sep ? *sep : jv_str("", 0);
    size_t count;
    int rc;
    if ((rc = as_str(c, n, &s)) != TL_OK || (rc = jv_iterate(c, n, v, &items, &count)) != TL_OK)
        return rc;
    struct json_buf b = jv_buf();
    for (size_t i = 0; i < count && rc == TL_OK; i++) {
        struct jval x = items[i];
        if (i)
            json_buf_put(&b, s.u.s.p, s.u.s.n);
        if (attr && attr->kind != JV_NONE)
            rc = attr_path(c, n, &items[i], attr, &x);
        if (rc == TL_OK)
            rc = jv_write_str(c, n, &b, &x);
    }
    if (rc != TL_OK) {
        json_buf_free(&b);
        return rc;
    }
    return jv_from_buf(c, n, &b, v);
}

/* Arguments a without its first skip positional ones. */
static void shift_args(const struct jargs *a, size_t skip, struct jargs *out)
{
    *out = *a;
    out->npos = a->npos > skip ? a->npos - skip : 0;
    for (size_t i = 0; i < out->npos; i++)
        out->pos[i] = a->pos[i + skip];
}

static int f_map(struct jctx *c, const struct jnode *n, struct jval *v, const struct jargs *a)
{
    const struct jval *attr = jx_arg(a, SIZE_MAX, "attribute"), *dflt = jx_arg(a, SIZE_MAX, "default");
    const struct jval *fname = jx_arg(a, 0, NULL), *items;
    struct jargs rest;
    size_t count = 0;
    int rc = jv_truthy(v) ? jv_iterate(c, n, v, &items, &count) : TL_OK;   /* jinja2 maps falsy values to nothing */
    if (rc != TL_OK)
        return rc;
    if (!attr && (!fname || fname->kind != JV_STR))
        return jx_fail(c, n, TL_EFORMAT, "map needs a filter name or attribute=");
    char name[32] = "";
    if (!attr) {
        if (fname->u.s.n < sizeof name)
            snprintf(name, sizeof name, "%.*s", (int)fname->u.s.n, fname->u.s.p);
        if (!jinja_filter_known(name))
            return jx_fail(c, n, TL_EUNSUPPORTED, "map: unknown filter '%.*s'", (int)fname->u.s.n, fname->u.s.p);
        shift_args(a, 1, &rest);
    }
    struct jval out;
    if ((rc = jv_new_list(c, n, count, &out)) != TL_OK)
        return rc;
    for (size_t i = 0; i < count && rc == TL_OK; i++) {
        struct jval *x = &out.u.l->v[i];
        *x = items[i];
        if (attr) {
            rc = attr_path(c, n, &items[i], attr, x);
            if (rc == TL_OK && x->kind == JV_UNDEF && dflt)
                *x = *dflt;
        } else {
            rc = jx_filter(c, n, name, x, &rest);
        }
    }
    *v = out;
    return rc;
}

/* select/reject/selectattr/rejectattr: attr_arg is 1 for the *attr forms. */
static int select_common(struct jctx *c, const struct jnode *n, struct jval *v, const struct jargs *a,
                         bool keep, bool by_attr)
{
    const struct jval *items, *attr = by_attr ? jx_arg(a, 0, NULL) : NULL;
    const struct jval *tname = jx_arg(a, by_attr ? 1 : 0, NULL);
    struct jargs rest;
    char name[32] = "";
    size_t count = 0, k = 0;
    int rc = jv_truthy(v) ? jv_iterate(c, n, v, &items, &count) : TL_OK;   /* falsy values select nothing */
    if (rc != TL_OK)
        return rc;
    if (by_attr && !attr)
        return jx_fail(c, n, TL_EFORMAT, "%s needs an attribute", n->s);
    if (tname) {
        if (tname->kind != JV_STR || tname->u.s.n >= sizeof name)
            return jx_fail(c, n, TL_EFORMAT, "%s: the test must be named by a string", n->s);
        snprintf(name, sizeof name, "%.*s", (int)tname->u.s.n, tname->u.s.p);
        if (!jinja_test_known(name))
            return jx_fail(c, n, TL_EUNSUPPORTED, "%s: unknown test '%s'", n->s, name);
    }
    shift_args(a, by_attr ? 2 : 1, &rest);
    struct jval out;
    if ((rc = jv_new_list(c, n, count, &out)) != TL_OK)
        return rc;
    for (size_t i = 0; i < count && rc == TL_OK; i++) {
        struct jval x = items[i];
        bool ok = false;
        if (attr)
            rc = attr_path(c, n, &items[i], attr, &x);
        if (rc == TL_OK && tname)
            rc = jx_test(c, n, name, &x, &rest, &ok);
        else if (rc == TL_OK)
            ok = jv_truthy(&x);
        if (ok == keep)
            out.u.l->v[k++] = items[i];
    }
    out.u.l->n = k;
    *v = out;
    return rc;
}
static int f_select(struct jctx *c, const struct jnode *n, struct jval *v, const struct jargs *a) { return select_common(c, n, v, a, true, false); }
static int f_reject(struct jctx *c, const struct jnode *n, struct jval *v, const struct jargs *a) { return select_common(c, n, v, a, false, false); }
static int f_selectattr(struct jctx *c, const struct jnode *n, struct jval *v, const struct jargs *a) { return select_common(c, n, v, a, true, true); }
static int f_rejectattr(struct jctx *c, const struct jnode *n, struct jval *v, const struct jargs *a) { return select_common(c, n, v, a, false, true); }

static int f_unique(struct jctx *c, const struct jnode *n, struct jval *v, const struct jargs *a)
{
    const struct jval *cs = jx_arg(a, 0, "case_sensitive"), *attr = jx_arg(a, 1, "attribute"), *items;
    size_t count, k = 0;
    int rc = jv_iterate(c, n, v, &items, &count);
    struct jval out, keys;
    if (rc != TL_OK || (rc = jv_new_list(c, n, count, &out)) != TL_OK || (rc = jv_new_list(c, n, count, &keys)) != TL_OK)
        return rc;
    for (size_t i = 0; i < count && rc == TL_OK; i++) {
        struct jval key = items[i];
        bool seen = false;
        if (attr && attr->kind != JV_NONE)
            rc = attr_path(c, n, &items[i], attr, &key);
        if (rc == TL_OK && key.kind == JV_STR && !(cs && jv_truthy(cs)))
            rc = jx_str_case(c, n, &key, CASE_LOWER, &key);
        for (size_t j = 0; j < k && !seen && rc == TL_OK; j++) {
            if ((c->steps += 1) > JINJA_MAX_STEPS)
                rc = jx_fail(c, n, TL_ERANGE, "template took more than %u steps", JINJA_MAX_STEPS);
            seen = jv_equal(&keys.u.l->v[j], &key);
        }
        if (!seen) {
            keys.u.l->v[k] = key;
            out.u.l->v[k++] = items[i];
        }
    }
    out.u.l->n = k;
    *v = out;
    return rc;
}

static int f_indent(struct jctx *c, const struct jnode *n, struct jval *v, const struct jargs *a)
{
    const struct jval *w = jx_arg(a, 0, "width"), *first = jx_arg(a, 1, "first"), *blank = jx_arg(a, 2, "blank");
    struct jval ind = jv_str("    ", 4);
    int rc;
    if (w && w->kind == JV_STR) {
        ind = *w;
    } else if (w && (w->kind == JV_INT || w->kind == JV_BOOL)) {
        int64_t k = w->kind == JV_INT ? w->u.i : w->u.b;
        char *p;
        if (k > 4096)
            return jx_fail(c, n, TL_ERANGE, "indent width over 4096");
        if ((rc = jv_new_str(c, n, k > 0 ? (size_t)k : 0, &p, &ind)) != TL_OK)
            return rc;
        memset(p, ' ', ind.u.s.n);
    }
    if ((rc = as_str(c, n, v)) != TL_OK)
        return rc;
    struct json_buf b = jv_buf();
    const char *s = v->u.s.p;
    size_t len = v->u.s.n, i = 0;
    bool all = blank && jv_truthy(blank);
    if (first && jv_truthy(first))
        json_buf_put(&b, ind.u.s.p, ind.u.s.n);
    /* jinja2 appends "\n" and splits lines, so there is one line more than
     * line breaks; each but the first gets the indent (empty ones only with
     * blank=true), joined by "\n" */
    for (bool line_one = true;; line_one = false) {
        size_t end = i, br = 0;
        while (end < len && !(br = py_linebreak(s + end, len - end)))
            end += u8_seqlen(s + end, len - end);
        if (!line_one) {
            json_buf_put(&b, "\n", 1);
            if (end > i || all)
                json_buf_put(&b, ind.u.s.p, ind.u.s.n);
        }
        json_buf_put(&b, s + i, end - i);
        if (end >= len)
            break;
        i = end + br;
    }
    return jv_from_buf(c, n, &b, v);
}

/* A stable merge sort of items by keys (Python's sorted), failing like
 * Python when two keys cannot be ordered. */
struct sort_job {
    struct jctx *c;
    const struct jnode *n;
    bool reverse;
    int rc;
};

static bool sort_before(struct sort_job *j, const struct jval *a, const struct jval *b)
{
    int cmp = 0;
    if (j->rc == TL_OK)
        j->rc = jv_compare(j->c, j->n, j->reverse ? b : a, j->reverse ? a : b, &cmp);
    return cmp < 0;
}

static void merge_sort(struct sort_job *j, struct jkv *v, struct jkv *tmp, size_t count)
{
    if (count < 2 || j->rc != TL_OK)
        return;
    size_t half = count / 2, a = 0, b = half, k = 0;
    merge_sort(j, v, tmp, half);
    merge_sort(j, v + half, tmp, count - half);
    while (a < half && b < count)
        tmp[k++] = sort_before(j, &v[b].k, &v[a].k) ? v[b++] : v[a++];
    while (a < half)
        tmp[k++] = v[a++];
    while (b < count)
        tmp[k++] = v[b++];
    memcpy(v, tmp, count * sizeof *v);
}

/* Sort (key, value) pairs by key, lower-casing string keys unless
 * case_sensitive. */
static int sort_pairs(struct jctx *c, const struct jnode *n, struct jkv *pairs, size_t count, bool case_sensitive,
                      bool reverse)
{
    struct sort_job j = { c, n, reverse, TL_OK };
    struct jkv *tmp = jarena_alloc(c->ar, (count + 1) * sizeof *tmp);
    if (!tmp)
        return jx_fail(c, n, TL_ERANGE, "out of memory sorting");
    for (size_t i = 0; i < count && j.rc == TL_OK; i++)
        if (pairs[i].k.kind == JV_STR && !case_sensitive)
            j.rc = jx_str_case(c, n, &pairs[i].k, CASE_LOWER, &pairs[i].k);
    if (j.rc == TL_OK && (j.rc = jx_charge(c, n, count * 20)) == TL_OK)
        merge_sort(&j, pairs, tmp, count);
    return j.rc;
}

static int f_sort(struct jctx *c, const struct jnode *n, struct jval *v, const struct jargs *a)
{
    const struct jval *rev = jx_arg(a, 0, "reverse"), *cs = jx_arg(a, 1, "case_sensitive");
    const struct jval *attr = jx_arg(a, 2, "attribute"), *items;
    size_t count;
    int rc = jv_iterate(c, n, v, &items, &count);
    struct jkv *pairs = rc == TL_OK ? jarena_alloc(c->ar, (count + 1) * sizeof *pairs) : NULL;
    if (rc != TL_OK || !pairs)
        return rc != TL_OK ? rc : jx_fail(c, n, TL_ERANGE, "out of memory sorting");
    for (size_t i = 0; i < count && rc == TL_OK; i++) {
        pairs[i].v = pairs[i].k = items[i];
        if (attr && attr->kind != JV_NONE)
            rc = attr_path(c, n, &items[i], attr, &pairs[i].k);
    }
    if (rc == TL_OK)
        rc = sort_pairs(c, n, pairs, count, cs && jv_truthy(cs), rev && jv_truthy(rev));
    if (rc == TL_OK && (rc = jv_new_list(c, n, count, v)) == TL_OK)
        for (size_t i = 0; i < count; i++)
            v->u.l->v[i] = pairs[i].v;
    return rc;
}

static int f_dictsort(struct jctx *c, const struct jnode *n, struct jval *v, const struct jargs *a)
{
    const struct jval *cs = jx_arg(a, 0, "case_sensitive"), *by = jx_arg(a, 1, "by"), *rev = jx_arg(a, 2, "reverse");
    bool by_value = by && by->kind == JV_STR && by->u.s.n == 5 && !memcmp(by->u.s.p, "value", 5);
    int rc;
    if (v->kind != JV_DICT)
        return jx_fail(c, n, TL_EFORMAT, "dictsort needs a mapping, not '%s'", jv_type_name(v));
    if (by && !by_value && !(by->kind == JV_STR && by->u.s.n == 3 && !memcmp(by->u.s.p, "key", 3)))
        return jx_fail(c, n, TL_EFORMAT, "dictsort: by must be 'key' or 'value'");
    const struct jdict *d = v->u.d;
    struct jkv *pairs = jarena_alloc(c->ar, (d->n + 1) * sizeof *pairs);
    if (!pairs)
        return jx_fail(c, n, TL_ERANGE, "out of memory sorting");
    for (size_t i = 0; i < d->n; i++) {
        pairs[i].k = by_value ? d->kv[i].v : d->kv[i].k;
        if ((rc = jv_new_list(c, n, 2, &pairs[i].v)) != TL_OK)
            return rc;
        pairs[i].v.tuple = 1;
        pairs[i].v.u.l->v[0] = d->kv[i].k;
        pairs[i].v.u.l->v[1] = d->kv[i].v;
    }
    if ((rc = sort_pairs(c, n, pairs, d->n, cs && jv_truthy(cs), rev && jv_truthy(rev))) != TL_OK ||
        (rc = jv_new_list(c, n, d->n, v)) != TL_OK)
        return rc;
    for (size_t i = 0; i < v->u.l->n; i++)
        v->u.l->v[i] = pairs[i].v;
    return TL_OK;
}

static const struct { const char *name; filter_fn fn; } filters[] = {
    { "default", f_default }, { "d", f_default }, { "length", f_length }, { "count", f_length },
    { "string", f_string }, { "safe", f_safe }, { "upper", f_upper }, { "lower", f_lower },
    { "title", f_title }, { "capitalize", f_capitalize }, { "trim", f_trim }, { "tojson", f_tojson },
    { "replace", f_replace }, { "abs", f_abs }, { "int", f_int }, { "float", f_float },
    { "first", f_first }, { "last", f_last }, { "list", f_list }, { "reverse", f_reverse },
    { "items", f_items }, { "join", f_join }, { "map", f_map }, { "select", f_select },
    { "reject", f_reject }, { "selectattr", f_selectattr }, { "rejectattr", f_rejectattr },
    { "unique", f_unique }, { "indent", f_indent }, { "sort", f_sort }, { "dictsort", f_dictsort },
};

static filter_fn find_filter(const char *name)
{
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++)
        if (!strcmp(filters[i].name, name))
            return filters[i].fn;
    return NULL;
}

bool jinja_filter_known(const char *name) { return find_filter(name) != NULL; }

int jx_filter(struct jctx *c, const struct jnode *n, const char *name, struct jval *v, const struct jargs *a)
{
    filter_fn fn = find_filter(name);
    if (!fn)
        return jx_fail(c, n, TL_EUNSUPPORTED, "unknown filter '%s'", name);
    return fn(c, n, v, a);
}
