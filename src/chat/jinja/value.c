/* chat/jinja/value.c: runtime values with Python's meaning: truth, equality,
 * ordering, str() and repr(), iteration; arena-backed strings, lists and
 * dicts under the render's limits; UTF-8 and Python whitespace helpers. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "chat/jinja/jinja_impl.h"

struct jval jv_undef(const struct jnode *origin, int of)
{
    struct jval v = { .kind = JV_UNDEF };
    v.u.undef.node = origin;
    v.u.undef.of = of;
    return v;
}
struct jval jv_none(void) { return (struct jval){ .kind = JV_NONE }; }
struct jval jv_bool(bool b) { struct jval v = { .kind = JV_BOOL }; v.u.b = b; return v; }
struct jval jv_int(int64_t i) { struct jval v = { .kind = JV_INT }; v.u.i = i; return v; }
struct jval jv_float(double f) { struct jval v = { .kind = JV_FLOAT }; v.u.f = f; return v; }
struct jval jv_str(const char *p, size_t n)
{
    struct jval v = { .kind = JV_STR };
    v.u.s.p = p;
    v.u.s.n = n;
    return v;
}

bool jv_truthy(const struct jval *v)
{
    switch (v->kind) {
    case JV_UNDEF: case JV_NONE: return false;
    case JV_BOOL: return v->u.b;
    case JV_INT: return v->u.i != 0;
    case JV_FLOAT: return v->u.f != 0;
    case JV_STR: return v->u.s.n > 0;
    case JV_LIST: return v->u.l->n > 0;
    case JV_DICT: return v->u.d->n > 0;
    default: return true;
    }
}

static bool is_num(const struct jval *v) { return v->kind == JV_BOOL || v->kind == JV_INT || v->kind == JV_FLOAT; }
static double num_f(const struct jval *v)
{
    return v->kind == JV_FLOAT ? v->u.f : v->kind == JV_INT ? (double)v->u.i : v->u.b;
}
static int64_t num_i(const struct jval *v) { return v->kind == JV_INT ? v->u.i : v->u.b; }

bool jv_equal(const struct jval *a, const struct jval *b)
{
    if (is_num(a) && is_num(b)) {
        if (a->kind != JV_FLOAT && b->kind != JV_FLOAT)
            return num_i(a) == num_i(b);
        return num_f(a) == num_f(b);
    }
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case JV_UNDEF: case JV_NONE: return true;
    case JV_STR: return a->u.s.n == b->u.s.n && !memcmp(a->u.s.p, b->u.s.p, a->u.s.n);
    case JV_LIST:
        if (a->tuple != b->tuple || a->u.l->n != b->u.l->n)
            return false;
        for (size_t i = 0; i < a->u.l->n; i++)
            if (!jv_equal(&a->u.l->v[i], &b->u.l->v[i]))
                return false;
        return true;
    case JV_DICT:
        if (a->u.d->n != b->u.d->n)
            return false;
        for (size_t i = 0; i < a->u.d->n; i++) {
            const struct jval *w = jv_dict_find(b->u.d, &a->u.d->kv[i].k);
            if (!w || !jv_equal(&a->u.d->kv[i].v, w))
                return false;
        }
        return true;
    case JV_NS: return a->u.d == b->u.d;
    case JV_LOOP: return a->u.loop == b->u.loop;
    case JV_FUNC: return a->u.fn == b->u.fn;
    case JV_MACRO: return a->u.macro.node == b->u.macro.node;
    default: return false;
    }
}

int jv_compare(struct jctx *c, const struct jnode *n, const struct jval *a, const struct jval *b, int *cmp)
{
    if (a->kind == JV_UNDEF)
        return jx_undefined_error(c, n, a);
    if (b->kind == JV_UNDEF)
        return jx_undefined_error(c, n, b);
    if (is_num(a) && is_num(b)) {
        if (a->kind != JV_FLOAT && b->kind != JV_FLOAT)
            *cmp = (num_i(a) > num_i(b)) - (num_i(a) < num_i(b));
        else
            *cmp = (num_f(a) > num_f(b)) - (num_f(a) < num_f(b));
        return TL_OK;
    }
    if (a->kind == JV_STR && b->kind == JV_STR) {
        /* UTF-8 byte order is code point order */
        size_t k = a->u.s.n < b->u.s.n ? a->u.s.n : b->u.s.n;
        int r = memcmp(a->u.s.p, b->u.s.p, k);
        *cmp = r ? (r > 0) - (r < 0) : (a->u.s.n > b->u.s.n) - (a->u.s.n < b->u.s.n);
        return TL_OK;
    }
    if (a->kind == JV_LIST && b->kind == JV_LIST && a->tuple == b->tuple) {
        size_t na = a->u.l->n, nb = b->u.l->n;
        for (size_t i = 0; i < na && i < nb; i++) {
            if (jv_equal(&a->u.l->v[i], &b->u.l->v[i]))
                continue;
            return jv_compare(c, n, &a->u.l->v[i], &b->u.l->v[i], cmp);
        }
        *cmp = (na > nb) - (na < nb);
        return TL_OK;
    }
    return jx_fail(c, n, TL_EFORMAT, "cannot order '%s' and '%s'", jv_type_name(a), jv_type_name(b));
}

size_t jv_cost(const struct jval *v)
{
    switch (v->kind) {
    case JV_LIST: return v->u.l->n;
    case JV_DICT: case JV_NS: return v->u.d->n;
    case JV_STR: return v->u.s.n / 64;
    default: return 0;
    }
}

const char *jv_type_name(const struct jval *v)
{
    switch (v->kind) {
    case JV_UNDEF: return "Undefined";
    case JV_NONE: return "NoneType";
    case JV_BOOL: return "bool";
    case JV_INT: return "int";
    case JV_FLOAT: return "float";
    case JV_STR: return "str";
    case JV_LIST: return v->tuple ? "tuple" : "list";
    case JV_DICT: return "dict";
    case JV_NS: return "Namespace";
    case JV_LOOP: return "LoopContext";
    case JV_FUNC: return "builtin_function_or_method";
    default: return "Macro";
    }
}

/* Characters Python's repr() escapes besides the ASCII controls: the
 * non-printable ones that chat data plausibly holds (C1 controls, odd
 * spaces, format characters, private use). */
static bool repr_escapes(uint32_t cp)
{
    return cp <= 0xa0 || cp == 0xad || (cp >= 0x600 && cp <= 0x605) || cp == 0x61c || cp == 0x6dd ||
           cp == 0x70f || cp == 0x1680 || cp == 0x180e || (cp >= 0x2000 && cp <= 0x200f) ||
           (cp >= 0x2028 && cp <= 0x202f) || (cp >= 0x205f && cp <= 0x2064) || (cp >= 0x2066 && cp <= 0x206f) ||
           cp == 0x3000 || (cp >= 0xd800 && cp <= 0xf8ff) || cp == 0xfeff || (cp >= 0xfff9 && cp <= 0xfffb) ||
           cp == 0xe0001 || (cp >= 0xe0020 && cp <= 0xe007f) || cp >= 0xf0000;
}

uint32_t u8_decode(const char *s, size_t k)
{
    const unsigned char *u = (const unsigned char *)s;
    if (k == 1)
        return u[0];
    uint32_t cp = u[0] & (0x7f >> k);
    for (size_t i = 1; i < k; i++)
        cp = cp << 6 | (u[i] & 0x3f);
    return cp;
}

static void repr_string(struct json_buf *b, const char *s, size_t n)
{
    bool has_sq = memchr(s, '\'', n) != NULL, has_dq = memchr(s, '"', n) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    char tmp[16];
    json_buf_put(b, &q, 1);
    for (size_t i = 0; i < n;) {
        size_t k = u8_seqlen(s + i, n - i);
        uint32_t cp = u8_decode(s + i, k);
        if (cp == (uint32_t)q || cp == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)cp;
            json_buf_put(b, tmp, 2);
        } else if (cp == '\t' || cp == '\n' || cp == '\r') {
            json_buf_puts(b, cp == '\t' ? "\\t" : cp == '\n' ? "\\n" : "\\r");
        } else if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && repr_escapes(cp))) {
            snprintf(tmp, sizeof tmp, cp <= 0xff ? "\\x%02x" : cp <= 0xffff ? "\\u%04x" : "\\U%08x", (unsigned)cp);
            json_buf_puts(b, tmp);
        } else {
            json_buf_put(b, s + i, k);
        }
        i += k;
    }
    json_buf_put(b, &q, 1);
}

int jv_write_repr(struct jctx *c, const struct jnode *n, struct json_buf *b, const struct jval *v, int depth)
{
    int rc = TL_OK;
    if (depth > JINJA_MAX_NEST)   /* deeper than any JSON input or literal; a namespace holding itself */
        return jx_fail(c, n, TL_ERANGE, "value nested too deeply to print");
    if (v->kind == JV_STR) {
        repr_string(b, v->u.s.p, v->u.s.n);
    } else if (v->kind == JV_UNDEF) {
        json_buf_puts(b, "Undefined");
    } else if (v->kind == JV_LIST) {
        json_buf_puts(b, v->tuple ? "(" : "[");
        for (size_t i = 0; i < v->u.l->n && rc == TL_OK; i++) {
            if (i)
                json_buf_puts(b, ", ");
            rc = jv_write_repr(c, n, b, &v->u.l->v[i], depth + 1);
        }
        json_buf_puts(b, v->tuple ? (v->u.l->n == 1 ? ",)" : ")") : "]");
    } else if (v->kind == JV_DICT || v->kind == JV_NS) {
        json_buf_puts(b, v->kind == JV_NS ? "<Namespace {" : "{");
        for (size_t i = 0; i < v->u.d->n && rc == TL_OK; i++) {
            if (i)
                json_buf_puts(b, ", ");
            rc = jv_write_repr(c, n, b, &v->u.d->kv[i].k, depth + 1);
            json_buf_puts(b, ": ");
            if (rc == TL_OK)
                rc = jv_write_repr(c, n, b, &v->u.d->kv[i].v, depth + 1);
        }
        json_buf_puts(b, v->kind == JV_NS ? "}>" : "}");
    } else {
        rc = jv_write_str(c, n, b, v);
    }
    return rc;
}

int jv_write_str(struct jctx *c, const struct jnode *n, struct json_buf *b, const struct jval *v)
{
    char tmp[48];
    switch (v->kind) {
    case JV_UNDEF: break;
    case JV_NONE: json_buf_puts(b, "None"); break;
    case JV_BOOL: json_buf_puts(b, v->u.b ? "True" : "False"); break;
    case JV_INT:
        snprintf(tmp, sizeof tmp, "%" PRId64, v->u.i);
        json_buf_puts(b, tmp);
        break;
    case JV_FLOAT:
        json_format_double(v->u.f, tmp);
        json_buf_puts(b, tmp);
        break;
    case JV_STR: json_buf_put(b, v->u.s.p, v->u.s.n); break;
    case JV_LOOP:
        snprintf(tmp, sizeof tmp, "<LoopContext %zu/%zu>", v->u.loop->index0 + 1, v->u.loop->length);
        json_buf_puts(b, tmp);
        break;
    case JV_FUNC:
        json_buf_puts(b, "<built-in function ");
        json_buf_puts(b, jx_func_name(v->u.fn));
        json_buf_puts(b, ">");
        break;
    case JV_MACRO:
        json_buf_puts(b, "<Macro '");
        json_buf_put(b, v->u.macro.node->s, v->u.macro.node->n);
        json_buf_puts(b, "'>");
        break;
    default: return jv_write_repr(c, n, b, v, 0);
    }
    return TL_OK;
}

struct json_buf jv_buf(void)
{
    struct json_buf b = { .max = JINJA_MAX_OUTPUT };
    return b;
}

int jv_buf_error(struct jctx *c, const struct jnode *n, const struct json_buf *b)
{
    if (b->nomem)
        return tl_fail(c->err, TL_ENOMEM, "out of memory rendering the template");
    return jx_fail(c, n, TL_ERANGE, "text longer than the %u MB limit", JINJA_MAX_OUTPUT >> 20);
}

int jv_new_str(struct jctx *c, const struct jnode *n, size_t len, char **p, struct jval *out)
{
    if (len > JINJA_MAX_OUTPUT)
        return jx_fail(c, n, TL_ERANGE, "string longer than the %u MB limit", JINJA_MAX_OUTPUT >> 20);
    char *s = jarena_alloc(c->ar, len + 1);
    if (!s) {
        if (c->ar->over_limit)
            return jx_fail(c, n, TL_ERANGE, "template used more than %u MB of memory", JINJA_MAX_MEMORY >> 20);
        return tl_fail(c->err, TL_ENOMEM, "out of memory rendering the template");
    }
    s[len] = 0;
    *p = s;
    *out = jv_str(s, len);
    return TL_OK;
}

int jv_from_buf(struct jctx *c, const struct jnode *n, struct json_buf *b, struct jval *out)
{
    char *p;
    int rc = b->overflow || b->nomem ? jv_buf_error(c, n, b) : jv_new_str(c, n, b->len, &p, out);
    if (rc == TL_OK && b->len)
        memcpy(p, b->p, b->len);
    json_buf_free(b);
    return rc;
}

int jv_to_str(struct jctx *c, const struct jnode *n, const struct jval *v, struct jval *out)
{
    if (v->kind == JV_STR) {
        *out = *v;
        return TL_OK;
    }
    struct json_buf b = jv_buf();
    int rc = jv_write_str(c, n, &b, v);
    if (rc != TL_OK) {
        json_buf_free(&b);
        return rc;
    }
    return jv_from_buf(c, n, &b, out);
}

static void *jv_alloc(struct jctx *c, const struct jnode *n, size_t bytes, int *rc)
{
    void *p = jarena_alloc(c->ar, bytes);
    *rc = TL_OK;
    if (!p)
        *rc = c->ar->over_limit
            ? jx_fail(c, n, TL_ERANGE, "template used more than %u MB of memory", JINJA_MAX_MEMORY >> 20)
            : tl_fail(c->err, TL_ENOMEM, "out of memory rendering the template");
    return p;
}

int jv_new_list(struct jctx *c, const struct jnode *n, size_t len, struct jval *out)
{
    int rc;
    if (len > JINJA_MAX_MEMORY / sizeof(struct jval))
        return jx_fail(c, n, TL_ERANGE, "list of %zu items is over the memory limit", len);
    struct jlist *l = jv_alloc(c, n, sizeof *l + len * sizeof(struct jval), &rc);
    if (!l)
        return rc;
    l->n = len;
    memset(l->v, 0, len * sizeof(struct jval));
    *out = (struct jval){ .kind = JV_LIST };
    out->u.l = l;
    return TL_OK;
}

const struct jval *jv_dict_find(const struct jdict *d, const struct jval *k)
{
    for (size_t i = 0; i < d->n; i++)
        if (jv_equal(&d->kv[i].k, k))
            return &d->kv[i].v;
    return NULL;
}

const struct jval *jv_dict_get(const struct jdict *d, const char *key, size_t n)
{
    for (size_t i = 0; i < d->n; i++) {
        const struct jval *k = &d->kv[i].k;
        if (k->kind == JV_STR && k->u.s.n == n && !memcmp(k->u.s.p, key, n))
            return &d->kv[i].v;
    }
    return NULL;
}

int jv_dict_set(struct jctx *c, const struct jnode *n, struct jdict *d, const struct jval *k, const struct jval *v)
{
    int rc;
    struct jval *old = (struct jval *)jv_dict_find(d, k);
    if (old) {
        *old = *v;
        return TL_OK;
    }
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 4;
        struct jkv *nkv = jv_alloc(c, n, nc * sizeof *nkv, &rc);
        if (!nkv)
            return rc;
        if (d->n)
            memcpy(nkv, d->kv, d->n * sizeof *nkv);
        d->kv = nkv;
        d->cap = nc;
    }
    d->kv[d->n].k = *k;
    d->kv[d->n].v = *v;
    d->n++;
    return TL_OK;
}

int jv_iterate(struct jctx *c, const struct jnode *n, const struct jval *v, const struct jval **items, size_t *count)
{
    struct jval tmp;
    int rc = jx_charge(c, n, jv_cost(v));
    *items = NULL;
    *count = 0;
    if (rc != TL_OK)
        return rc;
    switch (v->kind) {
    case JV_UNDEF:
        return TL_OK;
    case JV_LIST:
        *items = v->u.l->v;
        *count = v->u.l->n;
        return TL_OK;
    case JV_STR:
        if ((rc = jv_new_list(c, n, u8_len(v->u.s.p, v->u.s.n), &tmp)) != TL_OK)
            return rc;
        for (size_t i = 0, at = 0; i < tmp.u.l->n; i++) {
            size_t k = u8_seqlen(v->u.s.p + at, v->u.s.n - at);
            tmp.u.l->v[i] = jv_str(v->u.s.p + at, k);
            at += k;
        }
        break;
    case JV_DICT:
        if ((rc = jv_new_list(c, n, v->u.d->n, &tmp)) != TL_OK)
            return rc;
        for (size_t i = 0; i < v->u.d->n; i++)
            tmp.u.l->v[i] = v->u.d->kv[i].k;
        break;
    default:
        return jx_fail(c, n, TL_EFORMAT, "'%s' object is not iterable", jv_type_name(v));
    }
    *items = tmp.u.l->v;
    *count = tmp.u.l->n;
    return TL_OK;
}

int jv_from_json(struct jctx *c, const struct json_value *j, struct jval *out, int depth)
{
    int rc = TL_OK;
    if (depth > JSON_MAX_DEPTH + 1)
        return tl_fail(c->err, TL_ERANGE, "template variables nested too deeply");
    switch (j->type) {
    case JSON_NULL: *out = jv_none(); break;
    case JSON_BOOL: *out = jv_bool(j->v.b); break;
    case JSON_INT: *out = jv_int(j->v.i); break;
    case JSON_FLOAT: *out = jv_float(j->v.f); break;
    case JSON_STRING: *out = jv_str(j->v.str.s, j->v.str.len); break;   /* the tree outlives the render */
    case JSON_ARRAY:
        if ((rc = jv_new_list(c, NULL, j->v.arr.n, out)) != TL_OK)
            return rc;
        for (size_t i = 0; i < j->v.arr.n && rc == TL_OK; i++)
            rc = jv_from_json(c, &j->v.arr.items[i], &out->u.l->v[i], depth + 1);
        break;
    default: {
        struct jdict *d = jv_alloc(c, NULL, sizeof *d, &rc);
        struct jkv *kv = d ? jv_alloc(c, NULL, (j->v.obj.n + 1) * sizeof *kv, &rc) : NULL;
        if (!kv)
            return rc;
        d->kv = kv;
        d->n = d->cap = j->v.obj.n;
        for (size_t i = 0; i < j->v.obj.n && rc == TL_OK; i++) {
            kv[i].k = jv_str(j->v.obj.members[i].key, j->v.obj.members[i].key_len);
            rc = jv_from_json(c, &j->v.obj.members[i].value, &kv[i].v, depth + 1);
        }
        *out = (struct jval){ .kind = JV_DICT };
        out->u.d = d;
        break;
    }
    }
    return rc;
}

size_t u8_seqlen(const char *s, size_t n)
{
    unsigned char c = (unsigned char)s[0];
    size_t k = c < 0xc0 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    return k > n ? n : k;
}

size_t u8_len(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += ((unsigned char)s[i] & 0xc0) != 0x80;
    return k;
}

size_t u8_offset(const char *s, size_t n, size_t cp)
{
    size_t i = 0;
    while (cp-- > 0 && i < n)
        i += u8_seqlen(s + i, n - i);
    return i;
}

/* Python's str.isspace() characters beyond ASCII, as UTF-8. */
static const char *const py_space_mb[] = {
    "\xc2\x85", "\xc2\xa0", "\xe1\x9a\x80", "\xe2\x80\x80", "\xe2\x80\x81", "\xe2\x80\x82",
    "\xe2\x80\x83", "\xe2\x80\x84", "\xe2\x80\x85", "\xe2\x80\x86", "\xe2\x80\x87", "\xe2\x80\x88",
    "\xe2\x80\x89", "\xe2\x80\x8a", "\xe2\x80\xa8", "\xe2\x80\xa9", "\xe2\x80\xaf", "\xe2\x81\x9f",
    "\xe3\x80\x80", NULL,
};

size_t py_space(const char *s, size_t n)
{
    unsigned char c = (unsigned char)s[0];
    if (n == 0)
        return 0;
    if (c < 0x80)
        return (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x20);
    for (const char *const *w = py_space_mb; *w; w++) {
        size_t k = strlen(*w);
        if (k <= n && !memcmp(s, *w, k))
            return k;
    }
    return 0;
}

size_t py_space_before(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    if ((unsigned char)s[n - 1] < 0x80)
        return py_space(s + n - 1, 1);
    for (size_t k = 2; k <= 3 && k <= n; k++)
        if (py_space(s + n - k, k) == k)
            return k;
    return 0;
}

size_t py_linebreak(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    unsigned char c = (unsigned char)s[0];
    if (c == '\r')
        return n > 1 && s[1] == '\n' ? 2 : 1;
    if (c == '\n' || c == 0x0b || c == 0x0c || (c >= 0x1c && c <= 0x1e))
        return 1;
    if (n >= 2 && !memcmp(s, "\xc2\x85", 2))
        return 2;
    if (n >= 3 && (!memcmp(s, "\xe2\x80\xa8", 3) || !memcmp(s, "\xe2\x80\xa9", 3)))
        return 3;
    return 0;
}
