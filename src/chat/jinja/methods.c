/* chat/jinja/methods.c: Python's str methods (strip, split, replace, case
 * mapping, ...), dict methods (items, keys, values, get), loop.cycle, the
 * global functions (raise_exception, namespace, range, strftime_now) and
 * HF's tojson (json.dumps with ensure_ascii=False by default).
 * Case mapping covers ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic. */
#include <string.h>
#include <time.h>

#include "chat/jinja/jinja_impl.h"

const struct jval *jx_arg(const struct jargs *a, size_t i, const char *name)
{
    if (i < a->npos)
        return &a->pos[i];
    for (size_t k = 0; name && k < a->nkw; k++)
        if (!strcmp(a->kwn[k], name))
            return &a->kwv[k];
    return NULL;
}

static int need_str(struct jctx *c, const struct jnode *n, const struct jval *v, const char *what)
{
    if (v && v->kind == JV_STR)
        return TL_OK;
    return jx_fail(c, n, TL_EFORMAT, "%s must be a string, not '%s'", what, v ? jv_type_name(v) : "nothing");
}

/* ---- case mapping ---- */

/* Latin Extended-A pairs upper/lower as even/odd except in 0139-0148 and
 * 0179-017E, where the upper case is odd. */
static bool latin_a_upper(uint32_t cp)
{
    bool odd_upper = (cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17e);
    return (cp & 1) == odd_upper;
}

static uint32_t cp_lower(uint32_t cp)
{
    if ((cp >= 'A' && cp <= 'Z') || (cp >= 0xc0 && cp <= 0xde && cp != 0xd7) || (cp >= 0x391 && cp <= 0x3a9 && cp != 0x3a2) ||
        (cp >= 0x410 && cp <= 0x42f))
        return cp + 32;
    if (cp >= 0x400 && cp <= 0x40f)
        return cp + 80;
    if (cp == 0x178)
        return 0xff;
    if (cp >= 0x100 && cp <= 0x17e && cp != 0x138 && cp != 0x149 && latin_a_upper(cp))
        return cp + 1;
    return cp;
}

static uint32_t cp_upper(uint32_t cp)
{
    if ((cp >= 'a' && cp <= 'z') || (cp >= 0xe0 && cp <= 0xfe && cp != 0xf7) || (cp >= 0x3b1 && cp <= 0x3c9 && cp != 0x3c2) ||
        (cp >= 0x430 && cp <= 0x44f))
        return cp - 32;
    if (cp >= 0x450 && cp <= 0x45f)
        return cp - 80;
    if (cp == 0xff)
        return 0x178;
    if (cp == 0x3c2)
        return 0x3a3;
    if (cp == 0xb5)
        return 0x39c;
    if (cp >= 0x101 && cp <= 0x17f && cp != 0x138 && cp != 0x149 && !latin_a_upper(cp) && cp != 0x17f)
        return cp - 1;
    return cp;
}

static bool cp_cased(uint32_t cp) { return cp_lower(cp) != cp || cp_upper(cp) != cp || cp == 0xdf; }

/* Append cp in upper (or lower) case; ß upper-cases to "SS" as in Python. */
static void put_case(struct json_buf *b, uint32_t cp, bool upper)
{
    char tmp[4];
    if (upper && cp == 0xdf) {
        json_buf_put(b, "SS", 2);
        return;
    }
    json_buf_put(b, tmp, json_utf8_encode(upper ? cp_upper(cp) : cp_lower(cp), tmp));
}

static bool title_break(uint32_t cp)
{
    return cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || cp == ' ' || (cp >= 9 && cp <= 13) ||
           (cp >= 0x1c && cp <= 0x1f) || cp == 0x85 || cp == 0xa0;
}

int jx_str_case(struct jctx *c, const struct jnode *n, const struct jval *s, int mode, struct jval *out)
{
    struct json_buf b = jv_buf();
    bool prev_cased = false, prev_break = true;
    for (size_t i = 0, k; i < s->u.s.n; i += k) {
        k = u8_seqlen(s->u.s.p + i, s->u.s.n - i);
        uint32_t cp = u8_decode(s->u.s.p + i, k);
        if (k == 4) {
            json_buf_put(&b, s->u.s.p + i, k);   /* astral planes: no case mapping */
            prev_cased = prev_break = false;
            continue;
        }
        bool upper;
        switch (mode) {
        case CASE_UPPER: upper = true; break;
        case CASE_LOWER: upper = false; break;
        case CASE_CAPITALIZE: upper = i == 0; break;
        case CASE_TITLE_METHOD: upper = !prev_cased; break;
        default: upper = prev_break && !title_break(cp); break;
        }
        put_case(&b, cp, upper);
        prev_cased = cp_cased(cp);
        prev_break = title_break(cp);
    }
    return jv_from_buf(c, n, &b, out);
}

/* ---- strip, replace, split ---- */

static bool in_chars(const struct jval *chars, const char *s, size_t k)
{
    const char *p = chars->u.s.p;
    for (size_t i = 0, m; i < chars->u.s.n; i += m) {
        m = u8_seqlen(p + i, chars->u.s.n - i);
        if (m == k && !memcmp(p + i, s, k))
            return true;
    }
    return false;
}

int jx_str_strip(struct jctx *c, const struct jnode *n, const struct jval *s, const struct jval *chars,
                 bool left, bool right, struct jval *out)
{
    const char *p = s->u.s.p;
    size_t a = 0, b = s->u.s.n, k;
    if (chars && chars->kind == JV_NONE)
        chars = NULL;
    if (chars && chars->kind != JV_STR)
        return need_str(c, n, chars, "strip characters");
    while (left && a < b) {
        k = chars ? u8_seqlen(p + a, b - a) : py_space(p + a, b - a);
        if (!k || (chars && !in_chars(chars, p + a, k)))
            break;
        a += k;
    }
    while (right && b > a) {
        if (chars) {
            k = 1;
            while (k < b - a && ((unsigned char)p[b - k] & 0xc0) == 0x80)
                k++;
            if (!in_chars(chars, p + b - k, k))
                break;
        } else if (!(k = py_space_before(p + a, b - a))) {
            break;
        }
        b -= k;
    }
    *out = jv_str(p + a, b - a);
    return TL_OK;
}

int jx_str_replace(struct jctx *c, const struct jnode *n, const struct jval *s, const struct jval *old,
                   const struct jval *new_, int64_t count, struct jval *out)
{
    int rc;
    if ((rc = need_str(c, n, old, "replace() argument 1")) != TL_OK ||
        (rc = need_str(c, n, new_, "replace() argument 2")) != TL_OK)
        return rc;
    struct json_buf b = jv_buf();
    const char *p = s->u.s.p;
    size_t len = s->u.s.n, i = 0;
    for (int64_t done = 0; count < 0 || done < count; done++) {
        if (old->u.s.n == 0) {
            /* an empty pattern matches before every character and at the end */
            json_buf_put(&b, new_->u.s.p, new_->u.s.n);
            if (i >= len)
                break;
            size_t k = u8_seqlen(p + i, len - i);
            json_buf_put(&b, p + i, k);
            i += k;
            continue;
        }
        const char *hit = memmem(p + i, len - i, old->u.s.p, old->u.s.n);
        if (!hit)
            break;
        json_buf_put(&b, p + i, (size_t)(hit - p) - i);
        json_buf_put(&b, new_->u.s.p, new_->u.s.n);
        i = (size_t)(hit - p) + old->u.s.n;
        if (b.overflow)
            break;
    }
    if (i < len)
        json_buf_put(&b, p + i, len - i);
    return jv_from_buf(c, n, &b, out);
}

static int push_piece(struct jctx *c, const struct jnode *n, struct jval *list, size_t *cap, const char *p, size_t len)
{
    if (list->u.l->n == *cap) {
        struct jval bigger;
        int rc = jv_new_list(c, n, *cap * 2, &bigger);
        if (rc != TL_OK)
            return rc;
        memcpy(bigger.u.l->v, list->u.l->v, *cap * sizeof(struct jval));
        bigger.u.l->n = list->u.l->n;
        *list = bigger;
        *cap *= 2;
    }
    list->u.l->v[list->u.l->n++] = jv_str(p, len);
    return TL_OK;
}

/* str.split(sep=None, maxsplit=-1). */
static int str_split(struct jctx *c, const struct jnode *n, const struct jval *s, const struct jval *sep,
                     int64_t maxsplit, struct jval *out)
{
    const char *p = s->u.s.p;
    size_t len = s->u.s.n, i = 0, cap = 8, k;
    int rc = jv_new_list(c, n, cap, out);
    if (rc != TL_OK)
        return rc;
    out->u.l->n = 0;
    if (sep && sep->kind == JV_NONE)
        sep = NULL;
    if (sep && (rc = need_str(c, n, sep, "split() separator")) != TL_OK)
        return rc;
    if (sep && sep->u.s.n == 0)
        return jx_fail(c, n, TL_EFORMAT, "empty separator");
    for (int64_t splits = 0; rc == TL_OK; splits++) {
        if (!sep) {
            while (i < len && (k = py_space(p + i, len - i)))
                i += k;
            if (i >= len)
                break;
        }
        size_t end = len;
        if (maxsplit < 0 || splits < maxsplit) {
            if (sep) {
                const char *hit = memmem(p + i, len - i, sep->u.s.p, sep->u.s.n);
                end = hit ? (size_t)(hit - p) : len;
            } else {
                for (end = i; end < len && !py_space(p + end, len - end); end += u8_seqlen(p + end, len - end))
                    ;
            }
        }
        rc = push_piece(c, n, out, &cap, p + i, end - i);
        if (end >= len) {
            break;
        }
        i = sep ? end + sep->u.s.n : end;
        if (sep && i == len && rc == TL_OK) {
            rc = push_piece(c, n, out, &cap, p + len, 0);
            break;
        }
    }
    return rc;
}

static int str_affix(struct jctx *c, const struct jnode *n, const struct jval *s, const struct jval *x, bool end,
                     bool *res)
{
    const struct jval *opts = x;
    size_t count = 1;
    *res = false;
    if (x && x->kind == JV_LIST) {
        opts = x->u.l->v;
        count = x->u.l->n;
    }
    for (size_t i = 0; i < count; i++) {
        int rc = need_str(c, n, &opts[i], end ? "endswith() argument" : "startswith() argument");
        if (rc != TL_OK)
            return rc;
        size_t k = opts[i].u.s.n;
        if (k <= s->u.s.n && !memcmp(s->u.s.p + (end ? s->u.s.n - k : 0), opts[i].u.s.p, k))
            *res = true;
    }
    return TL_OK;
}

static int str_join(struct jctx *c, const struct jnode *n, const struct jval *sep, const struct jval *seq,
                    struct jval *out)
{
    const struct jval *items;
    size_t count;
    int rc = jv_iterate(c, n, seq, &items, &count);
    struct json_buf b = jv_buf();
    for (size_t i = 0; i < count && rc == TL_OK; i++) {
        if ((rc = need_str(c, n, &items[i], "join() item")) != TL_OK)
            break;
        if (i)
            json_buf_put(&b, sep->u.s.p, sep->u.s.n);
        json_buf_put(&b, items[i].u.s.p, items[i].u.s.n);
    }
    if (rc != TL_OK) {
        json_buf_free(&b);
        return rc;
    }
    return jv_from_buf(c, n, &b, out);
}

static int64_t int_arg(const struct jval *v, int64_t dflt)
{
    return !v || v->kind == JV_NONE ? dflt : v->kind == JV_INT ? v->u.i : v->kind == JV_BOOL ? v->u.b : dflt;
}

static int str_method(struct jctx *c, const struct jnode *n, const struct jval *s, const char *m,
                      const struct jargs *a, struct jval *out, bool *found)
{
    const struct jval *a0 = jx_arg(a, 0, NULL), *a1 = jx_arg(a, 1, NULL);
    bool res;
    int rc;
    *found = true;
    if (!strcmp(m, "strip")) return jx_str_strip(c, n, s, a0, true, true, out);
    if (!strcmp(m, "lstrip")) return jx_str_strip(c, n, s, a0, true, false, out);
    if (!strcmp(m, "rstrip")) return jx_str_strip(c, n, s, a0, false, true, out);
    if (!strcmp(m, "upper")) return jx_str_case(c, n, s, CASE_UPPER, out);
    if (!strcmp(m, "lower")) return jx_str_case(c, n, s, CASE_LOWER, out);
    if (!strcmp(m, "title")) return jx_str_case(c, n, s, CASE_TITLE_METHOD, out);
    if (!strcmp(m, "capitalize")) return jx_str_case(c, n, s, CASE_CAPITALIZE, out);
    if (!strcmp(m, "split"))
        return str_split(c, n, s, jx_arg(a, 0, "sep"), int_arg(jx_arg(a, 1, "maxsplit"), -1), out);
    if (!strcmp(m, "replace"))
        return jx_str_replace(c, n, s, a0, a1, int_arg(jx_arg(a, 2, "count"), -1), out);
    if (!strcmp(m, "join"))
        return a0 ? str_join(c, n, s, a0, out) : jx_fail(c, n, TL_EFORMAT, "join() needs an argument");
    if (!strcmp(m, "startswith") || !strcmp(m, "endswith")) {
        if (!a0)
            return jx_fail(c, n, TL_EFORMAT, "%s() needs an argument", m);
        if ((rc = str_affix(c, n, s, a0, m[0] == 'e', &res)) == TL_OK)
            *out = jv_bool(res);
        return rc;
    }
    if (!strcmp(m, "find")) {
        if ((rc = need_str(c, n, a0, "find() argument")) != TL_OK)
            return rc;
        const char *hit = a0->u.s.n ? memmem(s->u.s.p, s->u.s.n, a0->u.s.p, a0->u.s.n) : s->u.s.p;
        *out = jv_int(hit ? (int64_t)u8_len(s->u.s.p, (size_t)(hit - s->u.s.p)) : -1);
        return TL_OK;
    }
    *found = false;
    return TL_OK;
}

static int dict_method(struct jctx *c, const struct jnode *n, const struct jval *obj, const char *m,
                       const struct jargs *a, struct jval *out, bool *found)
{
    const struct jval self = *obj, *d = &self;   /* out may alias obj */
    int rc;
    size_t count = d->u.d->n;
    *found = true;
    if (!strcmp(m, "get")) {
        const struct jval *k = jx_arg(a, 0, NULL), *dflt = jx_arg(a, 1, NULL), *v;
        if (!k)
            return jx_fail(c, n, TL_EFORMAT, "get() needs a key");
        v = jv_dict_find(d->u.d, k);
        *out = v ? *v : dflt ? *dflt : jv_none();
        return TL_OK;
    }
    bool items = !strcmp(m, "items"), keys = !strcmp(m, "keys"), values = !strcmp(m, "values");
    if (!items && !keys && !values) {
        *found = false;
        return TL_OK;
    }
    if ((rc = jv_new_list(c, n, count, out)) != TL_OK)
        return rc;
    for (size_t i = 0; i < count && rc == TL_OK; i++) {
        const struct jkv *kv = &d->u.d->kv[i];
        if (!items) {
            out->u.l->v[i] = keys ? kv->k : kv->v;
            continue;
        }
        struct jval pair;
        if ((rc = jv_new_list(c, n, 2, &pair)) == TL_OK) {
            pair.tuple = 1;
            pair.u.l->v[0] = kv->k;
            pair.u.l->v[1] = kv->v;
            out->u.l->v[i] = pair;
        }
    }
    return rc;
}

int jx_method(struct jctx *c, const struct jnode *n, const struct jval *obj, const char *name,
              const struct jargs *a, struct jval *out, bool *found)
{
    *found = false;
    if (obj->kind == JV_STR)
        return str_method(c, n, obj, name, a, out, found);
    if (obj->kind == JV_DICT)
        return dict_method(c, n, obj, name, a, out, found);
    if (obj->kind == JV_LOOP && !strcmp(name, "cycle")) {
        *found = true;
        if (!a->npos)
            return jx_fail(c, n, TL_EFORMAT, "loop.cycle() needs at least one value");
        *out = a->pos[obj->u.loop->index0 % a->npos];
    }
    return TL_OK;
}

/* ---- global functions ---- */

static const char *const func_names[FN_COUNT] = {
    [FN_RAISE] = "raise_exception", [FN_NAMESPACE] = "namespace", [FN_RANGE] = "range",
    [FN_STRFTIME] = "strftime_now",
};

const char *jx_func_name(int fn) { return fn >= 0 && fn < FN_COUNT ? func_names[fn] : "?"; }

int jx_func_lookup(const char *name, size_t len)
{
    for (int i = 0; i < FN_COUNT; i++)
        if (strlen(func_names[i]) == len && !memcmp(func_names[i], name, len))
            return i;
    return -1;
}

static int fn_range(struct jctx *c, const struct jnode *n, const struct jargs *a, struct jval *out)
{
    int64_t v[3] = { 0, 0, 1 };
    if (a->npos < 1 || a->npos > 3 || a->nkw)
        return jx_fail(c, n, TL_EFORMAT, "range() takes 1 to 3 integer arguments");
    for (size_t i = 0; i < a->npos; i++) {
        if (a->pos[i].kind != JV_INT && a->pos[i].kind != JV_BOOL)
            return jx_fail(c, n, TL_EFORMAT, "range() arguments must be integers, not '%s'", jv_type_name(&a->pos[i]));
        v[a->npos == 1 ? 1 : i] = int_arg(&a->pos[i], 0);
    }
    int64_t start = v[0], stop = v[1], step = v[2];
    if (step == 0)
        return jx_fail(c, n, TL_EFORMAT, "range() step must not be zero");
    /* unsigned differences: the bounds may be anywhere in int64 */
    uint64_t count = 0;
    if (step > 0 && stop > start)
        count = ((uint64_t)stop - (uint64_t)start - 1) / (uint64_t)step + 1;
    else if (step < 0 && start > stop)
        count = ((uint64_t)start - (uint64_t)stop - 1) / (0 - (uint64_t)step) + 1;
    if (count > JINJA_MAX_ITERS)
        return jx_fail(c, n, TL_ERANGE, "range() of more than %u items", JINJA_MAX_ITERS);
    int rc = jv_new_list(c, n, (size_t)count, out);
    for (size_t i = 0; i < count && rc == TL_OK; i++)
        out->u.l->v[i] = jv_int((int64_t)((uint64_t)start + (uint64_t)i * (uint64_t)step));
    return rc;
}

static int fn_namespace(struct jctx *c, const struct jnode *n, const struct jargs *a, struct jval *out)
{
    int rc = TL_OK;
    struct jdict *d = jarena_alloc(c->ar, sizeof *d);
    if (!d)
        return jx_fail(c, n, TL_ERANGE, "out of memory for a namespace");
    memset(d, 0, sizeof *d);
    *out = (struct jval){ .kind = JV_NS };
    out->u.d = d;
    if (a->npos > 1 || (a->npos == 1 && a->pos[0].kind != JV_DICT))
        return jx_fail(c, n, TL_EFORMAT, "namespace() takes keyword arguments or one dict");
    for (size_t i = 0; a->npos && i < a->pos[0].u.d->n && rc == TL_OK; i++)
        rc = jv_dict_set(c, n, d, &a->pos[0].u.d->kv[i].k, &a->pos[0].u.d->kv[i].v);
    for (size_t i = 0; i < a->nkw && rc == TL_OK; i++) {
        struct jval k = jv_str(a->kwn[i], strlen(a->kwn[i]));
        rc = jv_dict_set(c, n, d, &k, &a->kwv[i]);
    }
    return rc;
}

int jx_func(struct jctx *c, const struct jnode *n, int fn, const struct jargs *a, struct jval *out)
{
    const struct jval *a0 = jx_arg(a, 0, NULL);
    if (fn == FN_RANGE)
        return fn_range(c, n, a, out);
    if (fn == FN_NAMESPACE)
        return fn_namespace(c, n, a, out);
    if (fn == FN_RAISE) {
        struct json_buf b = jv_buf();
        if (a0)
            jv_write_str(c, n, &b, a0);
        int rc = jx_fail(c, n, TL_EINVAL, "%s", b.p ? b.p : "raise_exception() called");
        json_buf_free(&b);
        return rc;
    }
    /* FN_STRFTIME: the local date and time, as HF's strftime_now */
    int rc = need_str(c, n, a0, "strftime_now() format");
    char fmt[256], buf[512];
    if (rc != TL_OK)
        return rc;
    if (a0->u.s.n >= sizeof fmt)
        return jx_fail(c, n, TL_ERANGE, "strftime_now() format too long");
    memcpy(fmt, a0->u.s.p, a0->u.s.n);
    fmt[a0->u.s.n] = 0;
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    size_t len = strftime(buf, sizeof buf, fmt, &tm);
    char *p;
    if ((rc = jv_new_str(c, n, len, &p, out)) == TL_OK)
        memcpy(p, buf, len);
    return rc;
}
