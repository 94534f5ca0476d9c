/* util/json.c: JSON reader into a heap tree, and the json.dumps-compatible writing
 * helpers (capped buffer, string escaping, Python float repr). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"

struct jp {
    const char      *s;     /* text */
    size_t           n;     /* bytes */
    size_t           pos;   /* next byte */
    struct tl_error *err;
};

static int jp_line(const struct jp *p)
{
    int line = 1;
    for (size_t i = 0; i < p->pos && i < p->n; i++)
        line += p->s[i] == '\n';
    return line;
}

static int jp_fail(struct jp *p, const char *what)
{
    return tl_fail(p->err, TL_EFORMAT, "JSON line %d: %s", jp_line(p), what);
}

static void jp_ws(struct jp *p)
{
    while (p->pos < p->n && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                             p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

static bool jp_lit(struct jp *p, const char *word)
{
    size_t k = strlen(word);
    if (p->n - p->pos < k || memcmp(p->s + p->pos, word, k))
        return false;
    p->pos += k;
    return true;
}

/* Length of the UTF-8 sequence at s (at most n bytes), 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t k;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) { k = 2; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { k = 3; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { k = 4; cp = c & 0x07; }
    else return 0;
    if (n < k)
        return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((k == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (k == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return k;
}

size_t json_utf8_prefix(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t k = utf8_seq(u + i, len - i);
        if (!k)
            break;
        i += k;
    }
    return i;
}

bool json_utf8_valid(const char *s, size_t len)
{
    return json_utf8_prefix(s, len) == len;
}

size_t json_utf8_encode(unsigned cp, char *out)
{
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

/* A \u escape at p->pos (after the backslash and 'u'), joining surrogate
 * pairs; lone surrogates are refused (they cannot be written as UTF-8). */
static int jp_unicode(struct jp *p, unsigned *cp)
{
    unsigned hi, lo;
    if (p->n - p->pos < 4 || hex4(p->s + p->pos, &hi))
        return jp_fail(p, "bad \\u escape");
    p->pos += 4;
    if (hi < 0xd800 || hi > 0xdfff) {
        *cp = hi;
        return TL_OK;
    }
    if (hi >= 0xdc00 || p->n - p->pos < 6 || p->s[p->pos] != '\\' ||
        p->s[p->pos + 1] != 'u' || hex4(p->s + p->pos + 2, &lo) || lo < 0xdc00 || lo > 0xdfff)
        return jp_fail(p, "lone UTF-16 surrogate in \\u escape");
    p->pos += 6;
    *cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
    return TL_OK;
}

/* A string at p->pos (the opening quote) into a heap copy, unescaped. */
static int jp_string(struct jp *p, char **out, size_t *out_len)
{
    size_t start = ++p->pos, end = start;
    while (end < p->n && p->s[end] != '"')
        end += p->s[end] == '\\' ? 2 : 1;
    if (end >= p->n)
        return jp_fail(p, "unterminated string");
    /* unescaping never lengthens: \uXXXX (6 bytes) gives at most 3, a pair 4 */
    char *buf = malloc(end - start + 1);
    if (!buf)
        return tl_fail(p->err, TL_ENOMEM, "out of memory reading JSON");
    size_t o = 0;
    int rc = TL_OK;
    while (p->pos < end && rc == TL_OK) {
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c < 0x20) {
            rc = jp_fail(p, "control character in string");
        } else if (c == '\\') {
            char e = p->s[p->pos + 1];
            const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
            const char *hit = e ? strchr(from, e) : NULL;
            p->pos += 2;
            if (hit) {
                buf[o++] = to[hit - from];
            } else if (e == 'u') {
                unsigned cp = 0;
                rc = jp_unicode(p, &cp);
                if (rc == TL_OK)
                    o += json_utf8_encode(cp, buf + o);
            } else {
                p->pos -= 2;
                rc = jp_fail(p, "bad escape in string");
            }
        } else {
            size_t k = utf8_seq((const unsigned char *)p->s + p->pos, end - p->pos);
            if (!k) {
                rc = jp_fail(p, "invalid UTF-8 in string");
                break;
            }
            memcpy(buf + o, p->s + p->pos, k);
            o += k;
            p->pos += k;
        }
    }
    if (rc != TL_OK) {
        free(buf);
        return rc;
    }
    buf[o] = 0;
    p->pos = end + 1;
    *out = buf;
    *out_len = o;
    return TL_OK;
}

static int jp_number(struct jp *p, struct json_value *v)
{
    size_t i = p->pos;
    bool is_float = false;
    if (i < p->n && p->s[i] == '-')
        i++;
    if (i < p->n && p->s[i] == '0') {
        i++;
    } else if (i < p->n && p->s[i] >= '1' && p->s[i] <= '9') {
        while (i < p->n && p->s[i] >= '0' && p->s[i] <= '9')
            i++;
    } else {
        return jp_fail(p, "unexpected character");
    }
    if (i < p->n && p->s[i] == '.') {
        is_float = true;
        if (++i >= p->n || p->s[i] < '0' || p->s[i] > '9')
            return jp_fail(p, "bad number");
        while (i < p->n && p->s[i] >= '0' && p->s[i] <= '9')
            i++;
    }
    if (i < p->n && (p->s[i] == 'e' || p->s[i] == 'E')) {
        is_float = true;
        if (++i < p->n && (p->s[i] == '+' || p->s[i] == '-'))
            i++;
        if (i >= p->n || p->s[i] < '0' || p->s[i] > '9')
            return jp_fail(p, "bad number");
        while (i < p->n && p->s[i] >= '0' && p->s[i] <= '9')
            i++;
    }
    char tmp[64];
    if (i - p->pos >= sizeof tmp)
        return jp_fail(p, "number too long");
    memcpy(tmp, p->s + p->pos, i - p->pos);
    tmp[i - p->pos] = 0;
    errno = 0;
    if (is_float) {
        v->type = JSON_FLOAT;
        v->v.f = strtod(tmp, NULL);
    } else {
        v->type = JSON_INT;
        v->v.i = strtoll(tmp, NULL, 10);
        if (errno == ERANGE)
            return jp_fail(p, "integer out of the 64-bit range");
    }
    p->pos = i;
    return TL_OK;
}

static int jp_value(struct jp *p, struct json_value *v, int depth);

/* Grow a heap array of elem-byte items to hold at least need. */
static int jp_grow(struct jp *p, void **items, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return TL_OK;
    size_t nc = *cap ? *cap * 2 : 4;
    void *ni = nc > SIZE_MAX / elem ? NULL : realloc(*items, nc * elem);
    if (!ni)
        return tl_fail(p->err, TL_ENOMEM, "out of memory reading JSON");
    *items = ni;
    *cap = nc;
    return TL_OK;
}

/* One item of an array or object into v, the container (*cap: its room). */
typedef int jp_item_fn(struct jp *p, struct json_value *v, size_t *cap, int depth);

/* The items of v after its opening bracket: item() for each, separated by
 * ',' and ended by close; bad is the message for anything else after one. */
static int jp_items(struct jp *p, struct json_value *v, int depth, char close, jp_item_fn *item, const char *bad)
{
    size_t cap = 0;
    p->pos++;
    jp_ws(p);
    if (p->pos < p->n && p->s[p->pos] == close) {
        p->pos++;
        return TL_OK;
    }
    for (;;) {
        int rc = item(p, v, &cap, depth);
        if (rc != TL_OK)
            return rc;
        jp_ws(p);
        if (p->pos < p->n && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->n && p->s[p->pos] == close) {
            p->pos++;
            return TL_OK;
        }
        return jp_fail(p, bad);
    }
}

static int jp_element(struct jp *p, struct json_value *v, size_t *cap, int depth)
{
    void *items = v->v.arr.items;
    int rc = jp_grow(p, &items, cap, v->v.arr.n + 1, sizeof *v->v.arr.items);
    v->v.arr.items = items;
    if (rc != TL_OK)
        return rc;
    struct json_value *it = &v->v.arr.items[v->v.arr.n];
    it->type = JSON_NULL;
    v->v.arr.n++;
    return jp_value(p, it, depth + 1);
}

static int jp_array(struct jp *p, struct json_value *v, int depth)
{
    v->type = JSON_ARRAY;
    v->v.arr.items = NULL;
    v->v.arr.n = 0;
    return jp_items(p, v, depth, ']', jp_element, "expected ',' or ']' in array");
}

/* Python dicts keep the first position of a repeated key and its last value. */
static struct json_member *jp_find_member(struct json_value *v, const char *key, size_t len)
{
    for (size_t i = 0; i < v->v.obj.n; i++) {
        struct json_member *m = &v->v.obj.members[i];
        if (m->key_len == len && !memcmp(m->key, key, len))
            return m;
    }
    return NULL;
}

static int jp_member(struct jp *p, struct json_value *v, size_t *cap, int depth)
{
    char *key;
    size_t klen;
    int rc;
    jp_ws(p);
    if (p->pos >= p->n || p->s[p->pos] != '"')
        return jp_fail(p, "expected a string key in object");
    if ((rc = jp_string(p, &key, &klen)) != TL_OK)
        return rc;
    jp_ws(p);
    if (p->pos >= p->n || p->s[p->pos] != ':') {
        free(key);
        return jp_fail(p, "expected ':' after object key");
    }
    p->pos++;
    struct json_value val = { .type = JSON_NULL };
    if ((rc = jp_value(p, &val, depth + 1)) != TL_OK) {
        free(key);
        json_free(&val);
        return rc;
    }
    struct json_member *m = jp_find_member(v, key, klen);
    if (m) {
        free(key);
        json_free(&m->value);
        m->value = val;
        return TL_OK;
    }
    void *members = v->v.obj.members;
    rc = jp_grow(p, &members, cap, v->v.obj.n + 1, sizeof *v->v.obj.members);
    v->v.obj.members = members;
    if (rc != TL_OK) {
        free(key);
        json_free(&val);
        return rc;
    }
    m = &v->v.obj.members[v->v.obj.n++];
    m->key = key;
    m->key_len = klen;
    m->value = val;
    return TL_OK;
}

static int jp_object(struct jp *p, struct json_value *v, int depth)
{
    v->type = JSON_OBJECT;
    v->v.obj.members = NULL;
    v->v.obj.n = 0;
    return jp_items(p, v, depth, '}', jp_member, "expected ',' or '}' in object");
}

static int jp_value(struct jp *p, struct json_value *v, int depth)
{
    if (depth > JSON_MAX_DEPTH)
        return jp_fail(p, "nesting too deep");
    jp_ws(p);
    if (p->pos >= p->n)
        return jp_fail(p, "unexpected end of input");
    char c = p->s[p->pos];
    if (c == '{')
        return jp_object(p, v, depth);
    if (c == '[')
        return jp_array(p, v, depth);
    if (c == '"') {
        char *s;
        size_t len;
        int rc = jp_string(p, &s, &len);
        if (rc == TL_OK) {
            v->type = JSON_STRING;
            v->v.str.s = s;
            v->v.str.len = len;
        }
        return rc;
    }
    if (jp_lit(p, "null")) { v->type = JSON_NULL; return TL_OK; }
    if (jp_lit(p, "true")) { v->type = JSON_BOOL; v->v.b = true; return TL_OK; }
    if (jp_lit(p, "false")) { v->type = JSON_BOOL; v->v.b = false; return TL_OK; }
    if (jp_lit(p, "NaN")) { v->type = JSON_FLOAT; v->v.f = NAN; return TL_OK; }
    if (jp_lit(p, "Infinity")) { v->type = JSON_FLOAT; v->v.f = INFINITY; return TL_OK; }
    if (jp_lit(p, "-Infinity")) { v->type = JSON_FLOAT; v->v.f = -INFINITY; return TL_OK; }
    return jp_number(p, v);
}

int json_parse(const char *text, size_t len, struct json_value *out, struct tl_error *err)
{
    struct jp p = { text, len, 0, err };
    out->type = JSON_NULL;
    if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
        p.pos = 3;
    int rc = jp_value(&p, out, 0);
    if (rc == TL_OK) {
        jp_ws(&p);
        if (p.pos != p.n)
            rc = jp_fail(&p, "extra data after the value");
    }
    if (rc != TL_OK)
        json_free(out);
    return rc;
}

void json_free(struct json_value *v)
{
    if (v->type == JSON_STRING) {
        free((char *)v->v.str.s);
    } else if (v->type == JSON_ARRAY) {
        for (size_t i = 0; i < v->v.arr.n; i++)
            json_free(&v->v.arr.items[i]);
        free(v->v.arr.items);
    } else if (v->type == JSON_OBJECT) {
        for (size_t i = 0; i < v->v.obj.n; i++) {
            free((char *)v->v.obj.members[i].key);
            json_free(&v->v.obj.members[i].value);
        }
        free(v->v.obj.members);
    }
    v->type = JSON_NULL;
}

const struct json_value *json_get(const struct json_value *v, const char *key)
{
    if (!v || v->type != JSON_OBJECT)
        return NULL;
    size_t len = strlen(key);
    for (size_t i = 0; i < v->v.obj.n; i++)
        if (v->v.obj.members[i].key_len == len && !memcmp(v->v.obj.members[i].key, key, len))
            return &v->v.obj.members[i].value;
    return NULL;
}

bool json_buf_put(struct json_buf *b, const void *s, size_t n)
{
    size_t max = b->max ? b->max : SIZE_MAX / 2;
    if (b->overflow || b->nomem)
        return false;
    if (n > max - b->len) {
        b->overflow = true;
        return false;
    }
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 64;
        while (nc < b->len + n + 1)
            nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) {
            b->nomem = true;
            return false;
        }
        b->p = np;
        b->cap = nc;
    }
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return true;
}

bool json_buf_puts(struct json_buf *b, const char *s)
{
    return json_buf_put(b, s, strlen(s));
}

void json_buf_free(struct json_buf *b)
{
    size_t max = b->max;
    free(b->p);
    memset(b, 0, sizeof *b);
    b->max = max;
}

static unsigned utf8_decode(const unsigned char *s, size_t k)
{
    static const unsigned lead_mask[5] = { 0, 0x7f, 0x1f, 0x0f, 0x07 };
    unsigned cp = s[0] & lead_mask[k];
    for (size_t i = 1; i < k; i++)
        cp = cp << 6 | (s[i] & 0x3f);
    return cp;
}

static bool put_u_escape(struct json_buf *b, unsigned u)
{
    char tmp[16];
    snprintf(tmp, sizeof tmp, "\\u%04x", u & 0xffff);
    return json_buf_put(b, tmp, 6);
}

bool json_buf_put_string(struct json_buf *b, const char *s, size_t n, bool ascii)
{
    const unsigned char *u = (const unsigned char *)s;
    json_buf_put(b, "\"", 1);
    size_t run = 0;   /* start of bytes copied verbatim */
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        const char *esc = NULL;
        size_t k = 1;
        if (c == '"') esc = "\\\"";
        else if (c == '\\') esc = "\\\\";
        else if (c == '\n') esc = "\\n";
        else if (c == '\r') esc = "\\r";
        else if (c == '\t') esc = "\\t";
        else if (c == '\b') esc = "\\b";
        else if (c == '\f') esc = "\\f";
        else if (c >= 0x80) {
            k = utf8_seq(u + i, n - i);
            if (!k)
                k = 1;   /* callers pass valid UTF-8; a stray byte goes out as is */
        }
        /* ensure_ascii escapes everything outside ' '..'~', DEL included */
        if (!esc && c >= 0x20 && (c < 0x7f || !ascii || (c != 0x7f && k == 1))) {
            i += k;
            continue;
        }
        json_buf_put(b, s + run, i - run);
        if (esc) {
            json_buf_puts(b, esc);
        } else if (c < 0x20) {
            put_u_escape(b, c);
        } else {
            unsigned cp = utf8_decode(u + i, k);
            if (cp >= 0x10000) {
                put_u_escape(b, 0xd800 + ((cp - 0x10000) >> 10));
                put_u_escape(b, 0xdc00 + ((cp - 0x10000) & 0x3ff));
            } else {
                put_u_escape(b, cp);
            }
        }
        i += k;
        run = i;
    }
    if (n > run)   /* s may be NULL when n is 0 */
        json_buf_put(b, s + run, n - run);
    return json_buf_put(b, "\"", 1);
}

int json_format_double(double d, char out[32])
{
    if (isnan(d))
        return snprintf(out, 32, "nan");
    if (isinf(d))
        return snprintf(out, 32, d < 0 ? "-inf" : "inf");
    /* shortest %.Ne that reads back exactly: digits and decimal exponent */
    char e[40];
    for (int prec = 0; prec < 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec, d);
        if (strtod(e, NULL) == d)
            break;
    }
    char digits[24];
    int nd = 0, neg = e[0] == '-';
    const char *q = e + neg;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9')
            digits[nd++] = *q;
    int exp10 = atoi(q + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    int o = 0;
    if (neg)
        out[o++] = '-';
    if (exp10 >= -4 && exp10 < 16) {
        int point = exp10 + 1;     /* digits before the decimal point */
        if (point <= 0) {
            out[o++] = '0';
            out[o++] = '.';
            for (int i = 0; i < -point; i++)
                out[o++] = '0';
            for (int i = 0; i < nd; i++)
                out[o++] = digits[i];
        } else {
            for (int i = 0; i < point; i++)
                out[o++] = i < nd ? digits[i] : '0';
            out[o++] = '.';
            if (point >= nd)
                out[o++] = '0';
            for (int i = point; i < nd; i++)
                out[o++] = digits[i];
        }
        out[o] = 0;
        return o;
    }
    out[o++] = digits[0];
    if (nd > 1) {
        out[o++] = '.';
        for (int i = 1; i < nd; i++)
            out[o++] = digits[i];
    }
    return o + snprintf(out + o, 32 - (size_t)o, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
}
