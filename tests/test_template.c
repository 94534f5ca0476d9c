/* test_template.c: the chat-template renderer against jinja2's own output
 * (tests/templates/expected.txt, made by gen_expected.py), the built-ins,
 * choosing a template, the JSON reader/writer, hostile templates, and the
 * `tinyllm template` command. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chat/template.h"
#include "chat/jinja/jinja.h"
#include "util/json.h"
#include "test.h"
#include "util/mem.h"

#define TDIR "tests/templates/"

static bool load_json(const char *name, struct json_value *v)
{
    char path[256];
    size_t len;
    struct tl_error err = { 0 };
    snprintf(path, sizeof path, TDIR "%s", name);
    char *text = test_read_file(path, &len);
    int rc = text ? json_parse(text, len, v, &err) : TL_EIO;
    free(text);
    return rc == TL_OK;
}

/* ---- the fixtures against jinja2 ---- */

struct record {
    char tmpl[64], msgs[64], gen[8], tools[64], kind[8];
    const char *body;   /* into the expected file */
    size_t len;
};

static bool next_record(const char **p, const char *end, struct record *r)
{
    int used = 0;
    if (*p >= end || sscanf(*p, "=== %63s %63s %7s %63s %7s %zu%n", r->tmpl, r->msgs, r->gen, r->tools, r->kind,
                            &r->len, &used) != 6)
        return false;
    r->body = *p + used + 1;
    if (r->body + r->len + 1 > end)
        return false;
    *p = r->body + r->len + 1;
    return true;
}

/* Render a record's case: HF's variables through the chat_template API, or
 * (with a tools list) straight through jinja_render. */
static int render_record(const struct record *r, char **out, size_t *n, struct tl_error *err)
{
    struct json_value msgs, tools = { .type = JSON_NULL };
    char path[256];
    size_t tlen = 0;
    char *text = NULL;
    const char *tmpl;
    bool gen = !strcmp(r->gen, "gen");
    int rc = TL_EIO;
    if (!strncmp(r->tmpl, "builtin:", 8)) {
        tmpl = chat_template_builtin(r->tmpl + 8);
        tlen = tmpl ? strlen(tmpl) : 0;
    } else {
        snprintf(path, sizeof path, TDIR "%s", r->tmpl);
        tmpl = text = test_read_file(path, &tlen);
    }
    if (!tmpl || !load_json(r->msgs, &msgs)) {
        free(text);
        return tl_fail(err, TL_EIO, "cannot load %s or %s", r->tmpl, r->msgs);
    }
    if (strcmp(r->tools, "-") == 0) {
        rc = chat_template_render_json(tmpl, tlen, &msgs, "<s>", "</s>", gen, out, n, err);
    } else if (load_json(r->tools, &tools)) {
        struct json_member m[6] = {
            { "messages", 8, msgs }, { "tools", 5, tools }, { "documents", 9, { .type = JSON_NULL } },
            { "add_generation_prompt", 21, { .type = JSON_BOOL, .v.b = gen } },
            { "bos_token", 9, { .type = JSON_STRING, .v.str = { "<s>", 3 } } },
            { "eos_token", 9, { .type = JSON_STRING, .v.str = { "</s>", 4 } } },
        };
        struct json_value vars = { .type = JSON_OBJECT, .v.obj = { m, 6 } };
        struct jinja_template *t;
        if ((rc = jinja_parse(tmpl, tlen, &t, err)) == TL_OK) {
            rc = jinja_render(t, &vars, out, n, err);
            jinja_free(t);
        }
    }
    json_free(&tools);
    json_free(&msgs);
    free(text);
    return rc;
}

static void fixtures_match_jinja2(void)
{
    size_t len;
    char *exp = test_read_file(TDIR "expected.txt", &len);
    const char *p = exp, *end = exp + len;
    struct record r;
    int cases = 0, failed = 0;
    CHECK(exp != NULL, "cannot read " TDIR "expected.txt (tests run from the repository root)");
    while (exp && next_record(&p, end, &r)) {
        struct tl_error err = { 0 };
        char *out = NULL;
        size_t n = 0;
        int rc = render_record(&r, &out, &n, &err);
        bool ok;
        if (!strcmp(r.kind, "ok"))
            ok = rc == TL_OK && n == r.len && !memcmp(out, r.body, n);
        else if (!strcmp(r.kind, "raise"))
            ok = rc == TL_EINVAL && memmem(err.msg, strlen(err.msg), r.body, r.len) != NULL;
        else
            ok = rc != TL_OK && rc != TL_ENOMEM;
        if (!ok && failed++ < 10) {
            size_t at = 0;
            while (out && at < n && at < r.len && out[at] == r.body[at])
                at++;
            CHECK(ok, "%s %s %s %s: expected %s, got rc %d (%s), %zu bytes, first difference at byte %zu",
                  r.tmpl, r.msgs, r.gen, r.tools, r.kind, rc, err.msg, n, at);
        }
        free(out);
        cases++;
    }
    CHECK(exp && p == end, "expected.txt: a record does not parse at byte %td", p - exp);
    CHECK(cases >= 200, "only %d cases in expected.txt", cases);
    CHECK(failed == 0, "%d of %d cases differ from jinja2", failed, cases);
    free(exp);
}

static void builtins_and_struct_api(void)
{
    static const char *const names[] = { "chatml", "zephyr", "llama2", "llama3", "phi3", "gemma" };
    static const struct chat_msg msgs[] = {
        { "system", "Be brief." }, { "user", "Hi" }, { "assistant", "Hello" }, { "user", "Bye" },
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        CHECK(chat_template_builtin(names[i]) != NULL, "built-in %s missing", names[i]);
        CHECK(strstr(chat_template_builtin_names(), names[i]), "%s not listed", names[i]);
    }
    CHECK(chat_template_builtin("nonesuch") == NULL && chat_template_builtin(NULL) == NULL, "unknown built-in");
    const char *t = chat_template_builtin("chatml");
    char *out = NULL;
    size_t n = 0;
    struct tl_error err = { 0 };
    int rc = chat_template_render(t, strlen(t), msgs, 4, NULL, NULL, true, &out, &n, &err);
    const char *want = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                       "<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
                       "<|im_start|>assistant\n";
    CHECK(rc == TL_OK && n == strlen(want) && !strcmp(out, want), "chatml via chat_msg: %d %s", rc, err.msg);
    free(out);
    t = chat_template_builtin("llama2");
    rc = chat_template_render(t, strlen(t), msgs + 1, 1, "<s>", "</s>", false, &out, &n, &err);
    CHECK(rc == TL_OK && !strcmp(out, "<s>[INST] Hi [/INST]"), "llama2: %s", out ? out : err.msg);
    free(out);
    rc = chat_template_render(t, strlen(t), msgs + 1, 0, "<s>", "</s>", false, &out, &n, &err);
    CHECK(rc == TL_EFORMAT && out == NULL, "llama2 on no messages: %d", rc);
    const struct chat_msg bad = { "user", "\xff\xfe" };
    CHECK(chat_template_render(t, strlen(t), &bad, 1, "", "", true, &out, &n, &err) == TL_EFORMAT,
          "invalid UTF-8 content");
}

/* ---- choosing a template ---- */

static bool has_token(const void *ctx, const char *text)
{
    for (const char *const *t = ctx; *t; t++)
        if (!strcmp(*t, text))
            return true;
    return false;
}

static void choose_template(void)
{
    static const char *const qwen[] = { "<|endoftext|>", "<|im_start|>", "<|im_end|>", NULL };
    static const char *const phi[] = { "<s>", "<|user|>", "<|assistant|>", "<|end|>", NULL };
    static const char *const llama3[] = { "<|begin_of_text|>", "<|start_header_id|>", NULL };
    static const char *const plain[] = { "<s>", "</s>", "a", NULL };
    struct chat_vocab v_qwen = { has_token, qwen }, v_phi = { has_token, phi };
    struct chat_vocab v_llama3 = { has_token, llama3 }, v_plain = { has_token, plain };
    struct chat_template_choice c;
    struct tl_error err = { 0 };
    const char *good = "{% for m in messages %}{{ m.content }}{% endfor %}";
    const char *raises = "{{ raise_exception('no') }}";
    const char *broken = "{% include 'x.jinja' %}<|im_start|>";
    const char *bad_filter = "<start_of_turn>{{ messages | frobnicate }}";

    CHECK(chat_template_choose(good, strlen(good), NULL, NULL, 0, &v_plain, &c, &err) == TL_OK &&
          c.text == good && !c.builtin && !c.warning[0] && strstr(c.why, "own"), "model's template: %s", c.why);
    CHECK(chat_template_choose(raises, strlen(raises), NULL, NULL, 0, NULL, &c, &err) == TL_OK && c.text == raises,
          "a template that raises is still the model's");
    CHECK(chat_template_choose(broken, strlen(broken), NULL, NULL, 0, &v_phi, &c, &err) == TL_OK &&
          !strcmp(c.builtin, "chatml") && strstr(c.warning, "include") && strstr(c.why, "template text"),
          "unparsable template, guessed from its text: %s | %s", c.warning, c.why);
    CHECK(chat_template_choose(bad_filter, strlen(bad_filter), NULL, NULL, 0, NULL, &c, &err) == TL_OK &&
          !strcmp(c.builtin, "gemma") && strstr(c.warning, "frobnicate"), "unknown filter: %s", c.warning);
    CHECK(chat_template_choose(NULL, 0, NULL, NULL, 0, &v_qwen, &c, &err) == TL_OK && !strcmp(c.builtin, "chatml") &&
          strstr(c.warning, "no chat template") && strstr(c.why, "<|im_start|>"), "qwen vocab: %s", c.why);
    CHECK(chat_template_choose(NULL, 0, NULL, NULL, 0, &v_phi, &c, &err) == TL_OK && !strcmp(c.builtin, "phi3"),
          "phi3 vocab");
    CHECK(chat_template_choose(NULL, 0, NULL, NULL, 0, &v_llama3, &c, &err) == TL_OK && !strcmp(c.builtin, "llama3"),
          "llama3 vocab");
    CHECK(chat_template_choose(NULL, 0, NULL, NULL, 0, &v_plain, &c, &err) == TL_OK && !strcmp(c.builtin, "chatml") &&
          strstr(c.why, "default") && c.text == chat_template_builtin("chatml"), "no hint: %s", c.why);
    CHECK(chat_template_choose(good, strlen(good), "gemma", NULL, 0, &v_qwen, &c, &err) == TL_OK &&
          !strcmp(c.builtin, "gemma") && !c.warning[0], "override by name wins");
    CHECK(chat_template_choose(NULL, 0, "{{ 'inline' }}", NULL, 0, NULL, &c, &err) == TL_OK && !c.builtin &&
          !strcmp(c.text, "{{ 'inline' }}"), "inline template text as the name");
    CHECK(chat_template_choose(NULL, 0, NULL, good, strlen(good), NULL, &c, &err) == TL_OK && c.text == good &&
          strstr(c.why, "file"), "override by file");
    CHECK(chat_template_choose(NULL, 0, "nonesuch", NULL, 0, NULL, &c, &err) == TL_EINVAL &&
          strstr(err.msg, "chatml"), "unknown name: %s", err.msg);
    CHECK(chat_template_choose(NULL, 0, "chatml", good, strlen(good), NULL, &c, &err) == TL_EINVAL, "both overrides");
    CHECK(chat_template_choose(NULL, 0, NULL, "{% if %}", 8, NULL, &c, &err) == TL_EFORMAT &&
          strstr(err.msg, "line 1"), "override that does not parse: %s", err.msg);
}

/* ---- JSON ---- */

static void json_reader(void)
{
    struct json_value v;
    struct tl_error err = { 0 };
    const char *doc = "\xef\xbb\xbf [ {\"a\": 1, \"b\": -2.5e1, \"a\": \"x\\u00e9\\ud83d\\ude00\\n\"}, true, null,"
                      " [], {}, 9223372036854775807, NaN ] ";
    CHECK(json_parse(doc, strlen(doc), &v, &err) == TL_OK && v.type == JSON_ARRAY && v.v.arr.n == 7, "%s", err.msg);
    if (v.type == JSON_ARRAY && v.v.arr.n == 7) {
        const struct json_value *o = &v.v.arr.items[0], *a = json_get(o, "a"), *b = json_get(o, "b");
        CHECK(o->v.obj.n == 2 && !strcmp(o->v.obj.members[0].key, "a"), "duplicate key keeps its first place");
        CHECK(a && a->type == JSON_STRING && !strcmp(a->v.str.s, "x\xc3\xa9\xf0\x9f\x98\x80\n"), "escapes");
        CHECK(b && b->type == JSON_FLOAT && b->v.f == -25.0, "float");
        CHECK(v.v.arr.items[5].type == JSON_INT && v.v.arr.items[5].v.i == INT64_MAX, "int64 max");
        CHECK(json_get(o, "zz") == NULL && json_get(&v, "a") == NULL, "json_get misses");
    }
    json_free(&v);
    CHECK(v.type == JSON_NULL, "json_free resets");
    static const char *const bad[] = {
        "", "[", "[1,]", "{\"a\" 1}", "{\"a\":1,}", "\"abc", "\"\\x\"", "\"\\ud800\"", "\"\\udc00x\"", "01",
        "1.", "-", "tru", "[1] 2", "\"tab\there\"", "\"\xc3\x28\"", "\"\xed\xa0\x80\"", "9223372036854775808",
        "{1: 2}", "\"\\u12\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(json_parse(bad[i], strlen(bad[i]), &v, &err) == TL_EFORMAT && v.type == JSON_NULL &&
              strstr(err.msg, "line 1"), "accepted bad JSON #%zu: %s", i, bad[i]);
    }
    char deep[600];
    memset(deep, '[', 300);
    memset(deep + 300, ']', 300);
    CHECK(json_parse(deep, 600, &v, &err) == TL_EFORMAT && strstr(err.msg, "deep"), "depth limit: %s", err.msg);
    CHECK(json_parse("[\n1,\n\n?]", 9, &v, &err) == TL_EFORMAT && strstr(err.msg, "line 4"), "line: %s", err.msg);
    CHECK(json_parse("[1 2]", 5, &v, &err) == TL_EFORMAT && strstr(err.msg, "expected ',' or ']' in array"),
          "array separator: %s", err.msg);
    CHECK(json_parse("{\"a\": [] \"b\"}", 14, &v, &err) == TL_EFORMAT &&
          strstr(err.msg, "expected ',' or '}' in object"), "object separator: %s", err.msg);
}

static void json_writer(void)
{
    static const struct { double d; const char *want; } floats[] = {
        { 1.0, "1.0" }, { 0.1, "0.1" }, { 1.5, "1.5" }, { 100.0, "100.0" }, { 1e16, "1e+16" }, { 1e15, "1000000000000000.0" },
        { 0.0001, "0.0001" }, { 0.00001, "1e-05" }, { -0.0, "-0.0" }, { 0.1 + 0.2, "0.30000000000000004" },
        { 1.7976931348623157e308, "1.7976931348623157e+308" }, { 5e-324, "5e-324" }, { 123456789.125, "123456789.125" },
        { 1.0 / 3, "0.3333333333333333" }, { 2.5e-7, "2.5e-07" }, { 1e22, "1e+22" },
    };
    char buf[32];
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++) {
        json_format_double(floats[i].d, buf);
        CHECK(!strcmp(buf, floats[i].want), "repr(%.17g) = %s, want %s", floats[i].d, buf, floats[i].want);
    }
    struct json_buf b = { 0 };
    const char s[] = "q\"b\\n\n\r\t\b\f\x01\x7f\xc3\xa9\xf0\x9f\x98\x80";
    json_buf_put_string(&b, s, sizeof s - 1, false);
    CHECK(b.p && !strcmp(b.p, "\"q\\\"b\\\\n\\n\\r\\t\\b\\f\\u0001\x7f\xc3\xa9\xf0\x9f\x98\x80\""), "escaped: %s", b.p);
    json_buf_free(&b);
    json_buf_put_string(&b, s, sizeof s - 1, true);
    CHECK(b.p && strstr(b.p, "\\u00e9\\ud83d\\ude00\""), "ensure_ascii: %s", b.p);
    json_buf_free(&b);
    b.max = 4;
    CHECK(json_buf_puts(&b, "abcd") && !json_buf_puts(&b, "e") && b.overflow && !strcmp(b.p, "abcd"), "cap");
    json_buf_free(&b);
}

/* ---- hostile templates: errors (or bounded output), never a crash ---- */

static int render_one(const char *tmpl, size_t len, char **out, size_t *n, struct tl_error *err)
{
    static const struct chat_msg m = { "user", "hi" };
    return chat_template_render(tmpl, len, &m, 1, "<s>", "</s>", true, out, n, err);
}

/* Render tmpl and expect code with want in the message. */
static void expect_failure(const char *tmpl, size_t len, int code, const char *want)
{
    struct tl_error err = { 0 };
    char *out = NULL;
    size_t n = 0;
    int rc = render_one(tmpl, len, &out, &n, &err);
    CHECK(rc == code && strstr(err.msg, want) && out == NULL, "%.60s...: rc %d (want %d), '%s' (want '%s')",
          tmpl, rc, code, err.msg, want);
    free(out);
}

/* prefix + count copies of unit + suffix, heap. */
static char *repeat(const char *prefix, const char *unit, int count, const char *suffix)
{
    size_t ul = strlen(unit), pl = strlen(prefix), sl = strlen(suffix);
    char *s = malloc(pl + ul * (size_t)count + sl + 1);
    if (!s)
        return NULL;
    memcpy(s, prefix, pl);
    for (int i = 0; i < count; i++)
        memcpy(s + pl + ul * (size_t)i, unit, ul);
    memcpy(s + pl + ul * (size_t)count, suffix, sl + 1);
    return s;
}

static void hostile_nesting(void)
{
    char *ifs = repeat("", "{% if true %}", 600, "x");
    char *deep = ifs ? repeat(ifs, "{% endif %}", 600, "") : NULL;
    char *parens = repeat("{{ ", "(", 5000, "1");
    char *chain = repeat("{{ 1", " + 1", 5000, " }}");
    char *attrs = repeat("{{ x", ".a", 5000, " }}");
    char *nots = repeat("{{ ", "not ", 5000, "x }}");
    CHECK(deep && parens && chain && attrs && nots, "out of memory");
    if (deep && parens && chain && attrs && nots) {
        expect_failure(deep, strlen(deep), TL_ERANGE, "nested too deeply");
        expect_failure(parens, strlen(parens), TL_EFORMAT, "nested too deeply");
        expect_failure(chain, strlen(chain), TL_ERANGE, "chained too long");
        expect_failure(attrs, strlen(attrs), TL_ERANGE, "chained too long");
        expect_failure(nots, strlen(nots), TL_ERANGE, "nested too deeply");
    }
    mem_free_all(ifs, deep, parens, chain, attrs, nots);
    const char *rec = "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}";
    expect_failure(rec, strlen(rec), TL_ERANGE, "macro calls nested too deeply");
}

static void hostile_sizes(void)
{
    static const struct { const char *tmpl, *want; } cases[] = {
        { "{% for i in range(2000) %}{% for j in range(2000) %}{% endfor %}{% endfor %}", "loop iterations" },
        { "{{ range(100000000) | length }}", "range() of more than" },
        { "{% for i in range(1000) %}{{ 'x' * 20000 }}{% endfor %}", "16 MB" },
        { "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}", "16 MB" },
        { "{{ 'x' * 1000000000000 }}", "16 MB" },
        { "{{ ([1] * 100000000) | length }}", "items" },
        { "{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = ns.l + [i] %}{% endfor %}", "MB of memory" },
        { "{% set big = range(1000000) | list %}{% for i in range(100000) %}{{ 5 in big }}{% endfor %}", "steps" },
        { "{{ 9223372036854775807 + 1 }}", "overflow" },
        { "{{ 2 ** 64 }}", "overflow" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_failure(cases[i].tmpl, strlen(cases[i].tmpl), TL_ERANGE, cases[i].want);
    char *out = NULL;
    size_t n = 0;
    struct tl_error err = { 0 };
    const char *ok = "{% for i in range(100000) %}{{ i % 10 }}{% endfor %}";
    CHECK(render_one(ok, strlen(ok), &out, &n, &err) == TL_OK && n == 100000 && out[99999] == '9', "big but fine");
    free(out);
    /* an attribute path with a number past int64 is a key, not an index (found by fuzzing) */
    const char *huge = "{{ messages | map(attribute='777777777777777777777777role') | list | length }}"
                       "{{ messages | map(attribute='0.777777777777777777777777') | list | length }}";
    out = NULL;
    int rc = render_one(huge, strlen(huge), &out, &n, &err);
    CHECK(rc == TL_OK || rc == TL_EFORMAT, "huge attribute index: rc %d %s", rc, err.msg);
    free(out);
}

static void hostile_syntax(void)
{
    static const struct { const char *tmpl; int code; const char *want; } cases[] = {
        { "a\nb {{ x", TL_EFORMAT, "line 2: unterminated tag" },
        { "a\n{% if x %}\nno end", TL_EFORMAT, "line 2: unterminated 'if' (no {% endif %}" },
        { "{% for m in messages %}\n\n{% if x %}{% endfor %}", TL_EFORMAT, "line 3: unexpected 'endfor'" },
        { "\n\n{# never closed", TL_EFORMAT, "line 3: unterminated comment" },
        { "{{ 'abc }}", TL_EFORMAT, "line 1: unterminated string" },
        { "x\n{% raw %}{{ y }}", TL_EFORMAT, "line 2: missing {% endraw %}" },
        { "{% endif %}", TL_EFORMAT, "unexpected 'endif'" },
        { "{{ }}", TL_EFORMAT, "expected an expression" },
        { "{{ x | }}", TL_EFORMAT, "expected a filter name" },
        { "{{ (1 }}", TL_EFORMAT, "unexpected '}'" },
        { "{{ 1 ] }}", TL_EFORMAT, "unexpected ']'" },
        { "{{ x ! y }}", TL_EFORMAT, "unexpected character '!'" },
        { "{% break %}", TL_EFORMAT, "'break' outside a for loop" },
        { "{{ '\\N{BULLET}' }}", TL_EFORMAT, "not supported" },
        { "ok\n\n\xff\xfe", TL_EFORMAT, "line 3: not valid UTF-8" },
        { "\n{{ messages | frobnicate }}", TL_EUNSUPPORTED, "line 2: unknown filter 'frobnicate'" },
        { "{% include 'other.jinja' %}", TL_EUNSUPPORTED, "unsupported tag 'include'" },
        { "{% frob %}", TL_EUNSUPPORTED, "unknown tag 'frob'" },
        { "{{ x is frobbed }}", TL_EUNSUPPORTED, "unknown test 'frobbed'" },
        { "{% for x in y recursive %}{% endfor %}", TL_EUNSUPPORTED, "recursive" },
        { "{{ f(*args) }}", TL_EUNSUPPORTED, "*args" },
        { "{{ '%s' % 1 }}", TL_EUNSUPPORTED, "%-formatting" },
        { "{{ 'abc'.frob() }}", TL_EFORMAT, "'str object' has no attribute 'frob'" },
        { "\n\n{{ undefined_thing.attr }}", TL_EFORMAT, "line 3: 'undefined_thing' is undefined" },
        { "{{ messages[0].missing.deeper }}", TL_EFORMAT, "'dict object' has no attribute 'missing'" },
        { "{{ 1 / 0 }}", TL_EFORMAT, "division by zero" },
        { "{{ 'a' + 1 }}", TL_EFORMAT, "can only concatenate str" },
        { "{% for x in 5 %}{% endfor %}", TL_EFORMAT, "'int' object is not iterable" },
        { "{% set x = 1 %}{% set x.y = 2 %}", TL_EFORMAT, "namespace" },
        { "{% set a, b = [1] %}", TL_EFORMAT, "not enough values to unpack" },
        { "{{ raise_exception('stop ' ~ messages | length) }}", TL_EINVAL, "line 1: stop 1" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_failure(cases[i].tmpl, strlen(cases[i].tmpl), cases[i].code, cases[i].want);
    char *out = NULL;
    size_t n = 0;
    struct tl_error err = { 0 };
    /* as in jinja2 3.x, an unknown filter inside an if fails only when it runs */
    const char *lazy = "{% if messages | length > 5 %}{{ x | frobnicate }}{% endif %}";
    const char *taken = "{{ 'y' if false else 1 is frob }}";
    const char *in_loop = "{% if true %}{% for x in [1] %}{{ x | frob }}{% endfor %}{% endif %}";
    CHECK(render_one(lazy, strlen(lazy), &out, &n, &err) == TL_OK && n == 0, "untaken branch: %s", err.msg);
    free(out);
    out = NULL;
    expect_failure(taken, strlen(taken), TL_EUNSUPPORTED, "line 1: unknown test 'frob'");
    expect_failure(in_loop, strlen(in_loop), TL_EUNSUPPORTED, "unknown filter 'frob'");
    CHECK(render_one("a\0b{{ '\\x00' }}", 15, &out, &n, &err) == TL_OK && n == 4 && !memcmp(out, "a\0b\0", 4),
          "NUL bytes pass through: %s", err.msg);
    free(out);
    struct jinja_template *t = NULL;
    CHECK(jinja_parse("{{ x }}", 7, &t, &err) == TL_OK, "parse");
    if (t) {
        struct json_value arr = { .type = JSON_ARRAY };
        CHECK(jinja_render(t, &arr, &out, &n, &err) == TL_EINVAL && out == NULL, "vars must be an object");
        CHECK(jinja_render(t, NULL, &out, &n, &err) == TL_OK && n == 0 && out && !out[0], "no vars");
        free(out);
        jinja_free(t);
    }
}

/* ---- the command ---- */

static struct test_cli cli;

/* Run `tinyllm template ARGS`; stdin from /dev/null unless ARGS redirect it. */
static int run_cli(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run_cli(const char *fmt, ...)
{
    char args[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    return test_cli_run(&cli, strstr(args, "<") ? "" : NULL, "template %s", args);
}

/* The expected record for a case, or NULL. */
static bool find_record(const char *exp, size_t len, const char *tmpl, const char *msgs, const char *gen,
                        struct record *r)
{
    const char *p = exp;
    while (exp && next_record(&p, exp + len, r))
        if (!strcmp(r->tmpl, tmpl) && !strcmp(r->msgs, msgs) && !strcmp(r->gen, gen) && !strcmp(r->tools, "-"))
            return true;
    return false;
}

/* The binary exists and runs here (a cross build may not). */
static bool cli_available(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "%s --version >/dev/null 2>&1 </dev/null", test_bin());
    return access(test_bin(), X_OK) == 0 && system(cmd) == 0;
}

static void cli_prints_exactly(void)
{
    static const struct { const char *tmpl, *msgs, *gen, *flags; } cases[] = {
        { "t_inst_alternate.jinja", "m_basic.json", "gen", "" },
        { "t_whitespace.jinja", "m_unicode.json", "nogen", "--no-generation-prompt" },
        { "t_tojson.jinja", "m_escapes.json", "gen", "" },
        { "builtin:llama3", "m_no_system.json", "gen", "" },
        { "builtin:zephyr", "m_empty_content.json", "nogen", "--no-generation-prompt" },
    };
    if (!cli_available())
        SKIP("no runnable tinyllm binary at %s", test_bin());
    size_t len;
    char *exp = test_read_file(TDIR "expected.txt", &len);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct record r;
        bool builtin = !strncmp(cases[i].tmpl, "builtin:", 8);
        if (!find_record(exp, len, cases[i].tmpl, cases[i].msgs, cases[i].gen, &r)) {
            CHECK(0, "no record for %s %s", cases[i].tmpl, cases[i].msgs);
            continue;
        }
        run_cli("%s%s --messages " TDIR "%s --bos '<s>' --eos '</s>' %s", builtin ? "--chat-template " :
                "--chat-template-file " TDIR, builtin ? cases[i].tmpl + 8 : cases[i].tmpl, cases[i].msgs,
                cases[i].flags);
        CHECK(cli.status == 0 && cli.out && cli.out_len == r.len && !memcmp(cli.out, r.body, r.len),
              "%s %s: exit %d, %zu bytes (want %zu): %s", cases[i].tmpl, cases[i].msgs, cli.status, cli.out_len,
              r.len, cli.err ? cli.err : "");
    }
    struct record r;
    if (find_record(exp, len, "builtin:chatml", "m_single.json", "gen", &r)) {
        run_cli("--chat-template chatml --messages - < " TDIR "m_single.json");
        CHECK(cli.status == 0 && cli.out_len == r.len && !memcmp(cli.out, r.body, r.len), "messages from stdin");
    }
    free(exp);
}

static void cli_usage_errors(void)
{
    if (!cli_available())
        SKIP("no runnable tinyllm binary at %s", test_bin());
    const char *m = "--messages " TDIR "m_basic.json";
    CHECK(run_cli("--help") == 0 && strstr(cli.out, "--messages") && strstr(cli.out, "chatml"), "--help");
    CHECK(run_cli("%s", "") == 2 && strstr(cli.err, "--messages"), "no flags: %s", cli.err);
    CHECK(run_cli("--chat-template chatml") == 2 && strstr(cli.err, "--messages"), "no --messages: %s", cli.err);
    CHECK(run_cli("%s", m) == 2 && strstr(cli.err, "-m MODEL"), "no template source: %s", cli.err);
    CHECK(run_cli("--bogus %s", m) == 2 && strstr(cli.err, "--bogus"), "unknown flag: %s", cli.err);
    CHECK(run_cli("--chat-template chatml --messages") == 2 && strstr(cli.err, "needs a value"), "%s", cli.err);
    CHECK(run_cli("--chat-template nonesuch %s", m) == 2 && strstr(cli.err, "nonesuch"), "unknown name");
    CHECK(run_cli("--chat-template chatml --chat-template-file x %s", m) == 2, "two template sources");
    CHECK(run_cli("--chat-template-file /nonexistent.jinja %s", m) == 1 && cli.out_len == 0, "missing template");
    CHECK(run_cli("--chat-template chatml --messages /nonexistent.json") == 1, "missing messages");
    CHECK(run_cli("--chat-template chatml --messages " TDIR "t_loops.jinja") == 1 && strstr(cli.err, "JSON"),
          "messages not JSON: %s", cli.err);
    CHECK(run_cli("--chat-template llama2 --messages " TDIR "m_not_alternating.json") == 2 &&
          strstr(cli.err, "must alternate") && cli.out_len == 0, "raise_exception: %s", cli.err);
}

static void put32(FILE *f, uint32_t v) { unsigned char b[4] = { v, v >> 8, v >> 16, v >> 24 }; fwrite(b, 1, 4, f); }
static void put64(FILE *f, uint64_t v) { put32(f, (uint32_t)v); put32(f, (uint32_t)(v >> 32)); }
static void putstr(FILE *f, const char *s) { put64(f, strlen(s)); fwrite(s, 1, strlen(s), f); }

/* A vocabulary-only GGUF: tokens, BOS 1, EOS 2 and (when tmpl) a chat template. */
static bool write_gguf(const char *path, const char *const *tokens, uint32_t n, const char *tmpl)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    fwrite("GGUF", 1, 4, f);
    put32(f, 3);
    put64(f, 0);
    put64(f, tmpl ? 5 : 4);
    putstr(f, "general.architecture"); put32(f, 8); putstr(f, "llama");
    putstr(f, "tokenizer.ggml.tokens"); put32(f, 9); put32(f, 8); put64(f, n);
    for (uint32_t i = 0; i < n; i++)
        putstr(f, tokens[i]);
    putstr(f, "tokenizer.ggml.bos_token_id"); put32(f, 4); put32(f, 1);
    putstr(f, "tokenizer.ggml.eos_token_id"); put32(f, 4); put32(f, 2);
    if (tmpl) {
        putstr(f, "tokenizer.chat_template"); put32(f, 8); putstr(f, tmpl);
    }
    for (long pad = ftell(f); pad % 32; pad++)
        fputc(0, f);
    return fclose(f) == 0;
}

static void cli_with_model(void)
{
    static const char *const toks[] = { "<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>", "hello" };
    const char *tmpl = "{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content }}{{ eos_token }}{% endfor %}"
                       "{% if add_generation_prompt %}[assistant]{% endif %}";
    char with[512], without[512];
    if (!cli_available())
        SKIP("no runnable tinyllm binary at %s", test_bin());
    snprintf(with, sizeof with, "%s/with_template.gguf", test_tmpdir());
    snprintf(without, sizeof without, "%s/without_template.gguf", test_tmpdir());
    CHECK(write_gguf(with, toks, 6, tmpl) && write_gguf(without, toks, 6, NULL), "cannot write GGUFs");
    const char *want = "<s>[system]You are a helpful assistant.</s>[user]Hello, who are you?</s>"
                       "[assistant]  I am an assistant.  </s>[user]What can you do?</s>[assistant]";
    CHECK(run_cli("-m %s --messages " TDIR "m_basic.json", with) == 0 && cli.out && !strcmp(cli.out, want) &&
          cli.err && !cli.err[0], "model's template with its BOS/EOS: %s | %s", cli.out, cli.err);
    CHECK(run_cli("-m %s --messages " TDIR "m_single.json --bos B --eos E --no-generation-prompt", with) == 0 &&
          cli.out && !strcmp(cli.out, "B[user]Summarize: the cat sat on the mat.E"), "--bos/--eos: %s", cli.out);
    CHECK(run_cli("-m %s --chat-template gemma --messages " TDIR "m_single.json", with) == 0 && cli.out &&
          !strncmp(cli.out, "<s><start_of_turn>user\n", 23), "override beats the model's: %s", cli.out);
    CHECK(run_cli("-m %s -v --messages " TDIR "m_single.json", without) == 0 && cli.out &&
          !strcmp(cli.out, "<|im_start|>user\nSummarize: the cat sat on the mat.<|im_end|>\n<|im_start|>assistant\n") &&
          strstr(cli.err, "warning") && strstr(cli.err, "<|im_start|>"), "guessed chatml: %s", cli.err);
    CHECK(run_cli("-m /nonexistent.gguf --messages " TDIR "m_single.json") == 1, "missing model");
    const char *shared = test_shared_dir();
    if (!shared)
        SKIP("../shared not present for the phi3 model");
    run_cli("-m %s/oracle/models/phi3-mini-f32.gguf --messages " TDIR "m_no_system.json", shared);
    CHECK(cli.status == 0 && cli.out && !strncmp(cli.out, "<s><|user|>\nHi there!<|end|>\n<|assistant|>\n", 41),
          "phi3 model's template: %s %s", cli.out, cli.err);
}

int main(void)
{
    RUN_TEST(fixtures_match_jinja2);
    RUN_TEST(builtins_and_struct_api);
    RUN_TEST(choose_template);
    RUN_TEST(json_reader);
    RUN_TEST(json_writer);
    RUN_TEST(hostile_nesting);
    RUN_TEST(hostile_sizes);
    RUN_TEST(hostile_syntax);
    RUN_TEST(cli_prints_exactly);
    RUN_TEST(cli_usage_errors);
    RUN_TEST(cli_with_model);
    free(cli.out);
    free(cli.err);
    return test_finish();
}
