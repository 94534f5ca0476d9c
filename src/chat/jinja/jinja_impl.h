/* chat/jinja/jinja_impl.h: what the files of chat/jinja/ share and nobody else uses: the
 * arena, the token stream, the syntax tree, runtime values and the
 * render context. */
#ifndef TINYLLM_JINJA_IMPL_H
#define TINYLLM_JINJA_IMPL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chat/jinja/jinja.h"
#include "util/json.h"

#define JINJA_MAX_ARGS 16   /* arguments of one call, filter or test */

/* ---- arena: everything of one parse or one render, freed at once ---- */
struct jarena_chunk;
struct jarena {
    struct jarena_chunk *head;  /* newest chunk first */
    size_t total;               /* bytes malloc'd so far */
    size_t limit;               /* cap on total; 0 = none */
    bool over_limit;            /* an allocation failed because of limit */
};
/* n bytes aligned for any type; NULL when malloc fails or limit is passed. */
void *jarena_alloc(struct jarena *a, size_t n);
char *jarena_strdup(struct jarena *a, const char *s, size_t n);
void jarena_free(struct jarena *a);

/* ---- errors ---- */
/* The one message format of lexer, parser and evaluator: "template line N: "
 * and fmt (line 0: no line known, "template: "). Returns code. */
int jinja_vfail(struct tl_error *err, int code, int line, const char *fmt, va_list ap);

/* ---- tokens ---- */
enum jtok_kind {
    JT_EOF, JT_DATA, JT_VAR_BEGIN, JT_VAR_END, JT_BLOCK_BEGIN, JT_BLOCK_END,
    JT_NAME, JT_STRING, JT_INT, JT_FLOAT, JT_OP,
};

/* Operators of tokens and of tree nodes. */
enum jop {
    OP_NONE, OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW, OP_TILDE,
    OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_NOTIN,
    OP_AND, OP_OR, OP_NOT, OP_NEG, OP_POS,
    OP_ASSIGN, OP_DOT, OP_COLON, OP_PIPE, OP_COMMA, OP_SEMI,
    OP_LPAREN, OP_RPAREN, OP_LBRACKET, OP_RBRACKET, OP_LBRACE, OP_RBRACE,
};

struct jtoken {
    int         kind;   /* enum jtok_kind */
    int         op;     /* JT_OP: enum jop */
    int         line;   /* 1-based template line */
    const char *s;      /* JT_DATA, JT_NAME, JT_STRING (unescaped): bytes in the arena */
    size_t      n;
    int64_t     i;      /* JT_INT */
    double      f;      /* JT_FLOAT */
};

struct jtokens {
    struct jtoken *t;   /* heap */
    size_t n, cap;
};

/* Tokenize normalized source (newlines are "\n", the final one removed),
 * applying trim_blocks/lstrip_blocks and the -/+ markers to the text
 * between tags. Ends with JT_EOF. */
int jinja_lex(const char *src, size_t n, struct jarena *a, struct jtokens *out, struct tl_error *err);

/* ---- runtime values ---- */
enum jv_kind {
    JV_UNDEF, JV_NONE, JV_BOOL, JV_INT, JV_FLOAT, JV_STR, JV_LIST, JV_DICT,
    JV_NS, JV_LOOP, JV_FUNC, JV_MACRO,
};

/* Global functions. */
enum jfunc { FN_RAISE, FN_NAMESPACE, FN_RANGE, FN_STRFTIME, FN_COUNT };

struct jnode;
struct jscope;
struct jlist;
struct jdict;
struct jloop;

struct jval {
    uint8_t kind;      /* enum jv_kind */
    uint8_t tuple;     /* JV_LIST made as a tuple: prints as (a, b) */
    union {
        bool    b;
        int64_t i;
        double  f;
        struct { const char *p; size_t n; } s;      /* JV_STR: UTF-8 bytes, immutable */
        struct jlist *l;                            /* JV_LIST, immutable */
        struct jdict *d;                            /* JV_DICT (immutable), JV_NS (mutable) */
        struct jloop *loop;                         /* JV_LOOP */
        int fn;                                     /* JV_FUNC: enum jfunc */
        struct { const struct jnode *node; struct jscope *scope; } macro;  /* JV_MACRO */
        /* JV_UNDEF: the access that made it (NULL: none) and the kind of
         * object it was made on, for the message when it is used */
        struct { const struct jnode *node; int of; } undef;
    } u;
};

struct jlist { size_t n; struct jval v[]; };
struct jkv { struct jval k, v; };
struct jdict { size_t n, cap; struct jkv *kv; };   /* insertion order */
struct jloop {
    size_t index0;             /* current iteration */
    size_t length;             /* items after the loop's if-filter */
    const struct jval *items;  /* those items */
};

/* ---- syntax tree ---- */
enum jnode_kind {
    /* expressions */
    JN_CONST,    /* cval */
    JN_NAME,     /* s */
    JN_LIST,     /* kids = items */
    JN_TUPLE,    /* kids = items */
    JN_DICT,     /* kids = key, value, key, value, ... */
    JN_ATTR,     /* a.s */
    JN_ITEM,     /* a[b] */
    JN_SLICE,    /* a[kids[0] : kids[1] : kids[2]], NULL for absent parts */
    JN_CALL,     /* a(args) */
    JN_FILTER,   /* a | s(args) */
    JN_TEST,     /* a is [not] s(args); negate */
    JN_UNARY,    /* op a: OP_NOT, OP_NEG, OP_POS */
    JN_BINARY,   /* a op b: arithmetic, OP_TILDE, OP_AND, OP_OR */
    JN_COMPARE,  /* a ops[0] kids[0] ops[1] kids[1] ..., chained like Python */
    JN_COND,     /* a if b else c (c NULL: undefined) */
    /* statements */
    JN_BODY,     /* kids = statements */
    JN_TEXT,     /* s: literal output */
    JN_OUTPUT,   /* {{ a }} */
    JN_IF,       /* if a: b, else c (a JN_BODY, or a JN_IF for elif) */
    JN_FOR,      /* for names in a [if d]: b, else c */
    JN_SET,      /* names = a (several names unpack a sequence) */
    JN_SET_ATTR, /* names[0].s = a, on a namespace */
    JN_SET_BLOCK,/* names[0] = rendered b */
    JN_BREAK, JN_CONTINUE,
    JN_MACRO,    /* macro s(names = kids defaults, NULL for none): b */
};

/* Call arguments (JN_CALL, JN_FILTER, JN_TEST) are kids; the last nnames of
 * them are keyword arguments named by names. */
struct jnode {
    uint8_t  kind;        /* enum jnode_kind */
    uint8_t  op;          /* enum jop */
    bool     negate;      /* JN_TEST: `is not` */
    int      line;
    const char *s;        /* name, attribute, filter, test, text (arena) */
    size_t   n;           /* bytes of s */
    struct jval cval;     /* JN_CONST */
    struct jnode *a, *b, *c, *d;
    struct jnode **kids;
    size_t   nkids;
    const char **names;   /* NUL-terminated (arena) */
    size_t   nnames;
    uint8_t *ops;         /* JN_COMPARE: nkids operators */
};

/* ---- parser (chat/jinja/parse.c: helpers and expressions; chat/jinja/stmt.c: statements) ---- */
struct jparser {
    const struct jtoken *t;
    size_t           n, pos;
    struct jarena   *a;
    struct tl_error *err;
    int              depth;   /* recursion nesting, against JINJA_MAX_NEST */
    int              loops;   /* enclosing for loops, where break/continue may go */
};
/* A growable array of nodes in the arena (old storage stays until the end). */
struct jnvec { struct jnode **v; size_t n, cap; };

const struct jtoken *jp_cur(const struct jparser *P);
int jp_fail(struct jparser *P, int code, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int jp_nomem(struct jparser *P);
int jp_unexpected(struct jparser *P, const char *wanted);
bool jp_is_op(const struct jparser *P, int op);
bool jp_is_word(const struct jparser *P, const char *w);
bool jp_accept_op(struct jparser *P, int op);
bool jp_accept_word(struct jparser *P, const char *w);
int jp_expect_op(struct jparser *P, int op, const char *desc);
int jp_expect_kind(struct jparser *P, int kind, const char *desc);
struct jnode *jp_new_node(struct jparser *P, int kind, int line);
int jp_nvec_push(struct jparser *P, struct jnvec *v, struct jnode *x);
/* A NAME token copied out; NULL (with err set) when absent. */
const char *jp_expect_name(struct jparser *P, const char *what);
/* One more level of nesting, failing past JINJA_MAX_NEST (the caller undoes it). */
int jp_enter(struct jparser *P);
int jp_expr(struct jparser *P, struct jnode **out);         /* with `x if c else y` */
int jp_or(struct jparser *P, struct jnode **out);           /* without it */
int jp_tuple_expr(struct jparser *P, struct jnode **out);   /* `a, b` makes a tuple */

/* Parse tokens into a JN_BODY at *root. */
int jinja_parse_tokens(const struct jtokens *toks, struct jarena *a, struct jnode **root, struct tl_error *err);

/* ---- rendering ---- */
struct jvar { const char *name; size_t n; struct jval v; };
struct jscope {
    struct jscope *parent;
    struct jvar *vars;   /* arena */
    size_t n, cap;
};

struct jctx {
    struct jarena   *ar;      /* values of this render, capped at JINJA_MAX_MEMORY */
    struct json_buf *out;     /* where statements write (a macro or a set block swaps it) */
    struct jscope   *scope;   /* innermost scope */
    struct tl_error *err;
    size_t iters, steps;      /* against JINJA_MAX_ITERS, JINJA_MAX_STEPS */
    int depth;                /* evaluation nesting, against JINJA_MAX_NEST * 4 */
    int macro_depth;          /* against JINJA_MAX_NEST / 4 */
};

/* Evaluated call arguments. */
struct jargs {
    struct jval pos[JINJA_MAX_ARGS];
    size_t npos;
    const char *kwn[JINJA_MAX_ARGS];
    struct jval kwv[JINJA_MAX_ARGS];
    size_t nkw;
};

/* Statement results besides TL_OK and TL_E* codes. */
#define JX_BREAK    (-1)
#define JX_CONTINUE (-2)

/* chat/jinja/eval.c */
int jx_fail(struct jctx *c, const struct jnode *n, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int jx_eval(struct jctx *c, const struct jnode *n, struct jval *out);
/* Statements (chat/jinja/exec.c): TL_OK, JX_BREAK, JX_CONTINUE or an error. */
int jx_exec(struct jctx *c, const struct jnode *n);
/* Bind name in scope s (replacing a binding there); name must outlive the render. */
int jx_scope_set(struct jctx *c, const struct jnode *n, struct jscope *s, const char *name, struct jval v);
struct jscope *jx_scope_new(struct jctx *c, const struct jnode *n, struct jscope *parent, int *rc);
int jx_lookup(struct jctx *c, const struct jnode *n, const char *name, size_t len, struct jval *out);
int jx_getattr(struct jctx *c, const struct jnode *n, const struct jval *obj,
               const char *name, size_t len, struct jval *out);
int jx_getitem(struct jctx *c, const struct jnode *n, const struct jval *obj,
               const struct jval *key, struct jval *out);
int jx_call_value(struct jctx *c, const struct jnode *n, const struct jval *fn,
                  const struct jargs *args, struct jval *out);
/* Count units of work (a scan of a list or string) against JINJA_MAX_STEPS. */
int jx_charge(struct jctx *c, const struct jnode *n, size_t units);
/* An error for using undefined v where a value is needed. */
int jx_undefined_error(struct jctx *c, const struct jnode *at, const struct jval *v);

/* chat/jinja/value.c */
struct jval jv_undef(const struct jnode *origin, int of);
struct jval jv_none(void);
struct jval jv_bool(bool b);
struct jval jv_int(int64_t i);
struct jval jv_float(double f);
struct jval jv_str(const char *p, size_t n);
bool jv_truthy(const struct jval *v);
bool jv_equal(const struct jval *a, const struct jval *b);
/* Python ordering of a and b into *cmp (<0, 0, >0); TL_EFORMAT when unorderable. */
int jv_compare(struct jctx *c, const struct jnode *n, const struct jval *a, const struct jval *b, int *cmp);
const char *jv_type_name(const struct jval *v);
/* Work of scanning v once, in steps: items of a list or dict, 64ths of a string's bytes. */
size_t jv_cost(const struct jval *v);
/* Python's str(v) (undefined prints as nothing) and repr(v), appended. */
int jv_write_str(struct jctx *c, const struct jnode *n, struct json_buf *b, const struct jval *v);
int jv_write_repr(struct jctx *c, const struct jnode *n, struct json_buf *b, const struct jval *v, int depth);
/* str(v) as a JV_STR in the arena (strings come back as they are). */
int jv_to_str(struct jctx *c, const struct jnode *n, const struct jval *v, struct jval *out);
/* Copy a finished buffer into an arena JV_STR, failing on overflow; frees b. */
int jv_from_buf(struct jctx *c, const struct jnode *n, struct json_buf *b, struct jval *out);
/* New arena string / list of the given size, checking the limits. */
int jv_new_str(struct jctx *c, const struct jnode *n, size_t len, char **p, struct jval *out);
int jv_new_list(struct jctx *c, const struct jnode *n, size_t len, struct jval *out);
/* Grow-by-one for dicts and namespaces (insertion order, last value wins). */
int jv_dict_set(struct jctx *c, const struct jnode *n, struct jdict *d, const struct jval *k, const struct jval *v);
const struct jval *jv_dict_get(const struct jdict *d, const char *key, size_t n);
const struct jval *jv_dict_find(const struct jdict *d, const struct jval *k);
/* The items a for loop (or a filter) sees: list items, string characters,
 * dict keys; undefined is empty. TL_EFORMAT for non-iterables. */
int jv_iterate(struct jctx *c, const struct jnode *n, const struct jval *v, const struct jval **items, size_t *count);
/* A json_buf with the render's size cap. */
struct json_buf jv_buf(void);
/* Fail with the right code for a buffer that overflowed or ran out of memory. */
int jv_buf_error(struct jctx *c, const struct jnode *n, const struct json_buf *b);
/* JSON tree -> value: lists and dicts in the arena, strings pointing into
 * the tree (which outlives the render). */
int jv_from_json(struct jctx *c, const struct json_value *j, struct jval *out, int depth);

/* UTF-8 helpers (chat/jinja/value.c). */
size_t u8_len(const char *s, size_t n);                 /* code points */
size_t u8_offset(const char *s, size_t n, size_t cp);   /* byte offset of code point cp (clamped to n) */
size_t u8_seqlen(const char *s, size_t n);              /* bytes of the character at s (1 for a stray byte) */
uint32_t u8_decode(const char *s, size_t k);            /* the code point of the k-byte character at s */
size_t py_space(const char *s, size_t n);               /* bytes of the str.isspace() character at s, 0 if none */
size_t py_space_before(const char *s, size_t n);        /* same, for the character that ends at s[n] */
size_t py_linebreak(const char *s, size_t n);           /* bytes of the str.splitlines() break at s, 0 if none */

/* chat/jinja/filters.c (filters), chat/jinja/builtins.c (tests, tojson), chat/jinja/methods.c
 * (methods, global functions, str helpers) */
bool jinja_filter_known(const char *name);
bool jinja_test_known(const char *name);
int jx_filter(struct jctx *c, const struct jnode *n, const char *name, struct jval *v, const struct jargs *a);
int jx_test(struct jctx *c, const struct jnode *n, const char *name, const struct jval *v,
            const struct jargs *a, bool *result);
int jx_method(struct jctx *c, const struct jnode *n, const struct jval *obj, const char *name,
              const struct jargs *a, struct jval *out, bool *found);
int jx_func(struct jctx *c, const struct jnode *n, int fn, const struct jargs *a, struct jval *out);
int jx_tojson(struct jctx *c, const struct jnode *n, const struct jval *v, const struct jargs *a, struct jval *out);
const char *jx_func_name(int fn);
int jx_func_lookup(const char *name, size_t n);   /* enum jfunc, or -1 */
/* Argument i (positional) or keyword name, NULL when absent. */
const struct jval *jx_arg(const struct jargs *a, size_t i, const char *name);
/* Python str methods used by both filters and methods. */
int jx_str_strip(struct jctx *c, const struct jnode *n, const struct jval *s, const struct jval *chars,
                 bool left, bool right, struct jval *out);
int jx_str_case(struct jctx *c, const struct jnode *n, const struct jval *s, int mode, struct jval *out);
int jx_str_replace(struct jctx *c, const struct jnode *n, const struct jval *s, const struct jval *old,
                   const struct jval *new_, int64_t count, struct jval *out);
enum { CASE_UPPER, CASE_LOWER, CASE_CAPITALIZE, CASE_TITLE_METHOD, CASE_TITLE_FILTER };

#endif
