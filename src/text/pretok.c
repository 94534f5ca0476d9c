/* text/pretok.c: the pre-tokenizer regexes of llama.cpp's BPE vocabularies as
 * hand-written matchers. A type is a list of passes; each pass splits every
 * segment left by the previous one, as unicode_regex_split does. */

/* What llama.cpp's unicode_regex_split does, and so what this file mirrors:
 * - The text is decoded to codepoints (unicode_decode: a bad byte is one
 *   U+FFFD; 4-byte forms above U+10FFFF are one codepoint with no category,
 *   where llama.cpp later throws). All positions below count codepoints.
 * - Each regex of the list runs separately over each segment the previous
 *   ones left (at first the whole text): matches and the stretches between
 *   them become segments. Lookaheads and $ stop at the segment's end.
 * - Three engines, three slightly different alphabets:
 *   gpt2 and llama3 run hand-written code over the category table;
 *   regexes with \p{..} run std::regex over a "collapsed" text in which
 *   ASCII stays itself and every other codepoint becomes one byte naming its
 *   category (White_Space first), so \p{X} is the category again except
 *   that the ASCII list for \p{S} misses '~'; other regexes run std::wregex
 *   over the codepoints with each non-ASCII White_Space turned into U+000B.
 *   In all three \s means White_Space. std::regex alternation is ordered,
 *   not longest-match, and quantifiers backtrack: the matchers follow that. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/pretok.h"
#include "text/unicode.h"
#include "util/mem.h"

/* The text as codepoints, decoded once. */
struct pt_text {
    const uint32_t *cp;   /* [codepoints] */
    const uint8_t  *fl;   /* [codepoints] unicode_flags() of each */
};

/* Segment ends (codepoint indices, increasing); segment i is
 * [end[i-1], end[i]) with end[-1] = 0. Segments are never empty, so room
 * for one end per codepoint always suffices. */
struct cuts {
    size_t *end;
    size_t n;
};

/* Length in codepoints of the match anchored at p, in the segment ending at
 * end (p < end); 0 = no match here. Lookaheads and $ see the segment only. */
typedef size_t (*match_fn)(const struct pt_text *t, size_t p, size_t end);
/* Split segment [a, b) into pieces appended to out. */
typedef void (*cut_fn)(const struct pt_text *t, size_t a, size_t b, struct cuts *out);

/* Character-class tests (below); at() adds the segment bound. */
typedef int (*class_fn)(const struct pt_text *t, size_t i);

/* The regexes that are one character class, by their quantifier. */
enum class_match {
    CLASS_ONE,      /* [c] */
    CLASS_RUN,      /* [c]+ */
    CLASS_UPTO3,    /* [c]{1,3} */
    CLASS_EXACT3,   /* [c][c][c] */
    CLASS_WS_RUN,   /* \s?[c]+ */
};

/* One regex of a type's list, run as a leftmost search (unmatched stretches
 * become pieces too): a matcher, or a class with its quantifier; or a cut
 * for regexes a search would make quadratic. Exactly one of match, in and
 * cut is set. */
struct pass {
    match_fn         match;
    class_fn         in;
    enum class_match how;
    cut_fn           cut;
};

static void cuts_push(struct cuts *c, size_t end)
{
    c->end[c->n++] = end;
}

/* ---- character classes ---------------------------------------------- */

/* Each class tells the membership of codepoint i (i < t->n). */

static int is_ws(const struct pt_text *t, size_t i) { return t->fl[i] & UNICODE_WS; }
static int is_letter(const struct pt_text *t, size_t i) { return t->fl[i] & UNICODE_L; }
static int is_number(const struct pt_text *t, size_t i) { return t->fl[i] & UNICODE_N; }
static int is_crlf(const struct pt_text *t, size_t i) { return t->cp[i] == '\r' || t->cp[i] == '\n'; }
static int is_ascii_digit(const struct pt_text *t, size_t i) { return t->cp[i] - '0' < 10; }

/* [^\s\p{L}\p{N}] */
static int is_other(const struct pt_text *t, size_t i)
{
    return !(t->fl[i] & (UNICODE_WS | UNICODE_L | UNICODE_N));
}

/* \p{P} and \p{S} as the collapsed text sees them (no '~' in \p{S}). */
static int is_punct(const struct pt_text *t, size_t i) { return t->fl[i] & UNICODE_P; }
static int is_symbol(const struct pt_text *t, size_t i)
{
    return (t->fl[i] & UNICODE_S) && t->cp[i] != '~';
}

/* Codepoint i as std::wregex sees it: a range such as U+3000..U+3002 does
 * not hold U+3000, a White_Space turned into U+000B. */
static uint32_t wide_cp(const struct pt_text *t, size_t i)
{
    return t->cp[i] >= 0x80 && (t->fl[i] & UNICODE_WS) ? 0x0B : t->cp[i];
}

static int is_ascii_punct(uint32_t c)   /* [!-/:-@\[-`{-~] */
{
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) ||
           (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
}

static int is_ascii_letter(const struct pt_text *t, size_t i) { return (t->cp[i] | 0x20) - 'a' < 26; }

/* c in the sorted, disjoint inclusive ranges r[0..n). */
static int in_ranges(uint32_t c, const uint32_t (*r)[2], size_t n)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c < r[mid][0])
            hi = mid;
        else if (c > r[mid][1])
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

#define N_RANGES(r) (sizeof r / sizeof r[0])

/* CJK class of the deepseek regexes: [一-龥ࠀ-一가-퟿] (sic: U+0800..U+4E00). */
static int is_deepseek_cjk(const struct pt_text *t, size_t i)
{
    static const uint32_t r[][2] = { {0x0800, 0x9FA5}, {0xAC00, 0xD7FF} };
    return in_ranges(wide_cp(t, i), r, N_RANGES(r));
}

/* deepseek-v3: [一-龥぀-ゟ゠-ヿ] */
static int is_deepseek3_cjk(const struct pt_text *t, size_t i)
{
    static const uint32_t r[][2] = { {0x3040, 0x30FF}, {0x4E00, 0x9FA5} };
    return in_ranges(wide_cp(t, i), r, N_RANGES(r));
}

/* deepseek-llm's spelled-out letter class [A-Za-zµÀ-ÖØ-ö...𞤀-𞥃] (cased
 * letters of some Unicode version), adjacent ranges merged. */
static int is_deepseek_letter(const struct pt_text *t, size_t i)
{
    static const uint32_t r[][2] = {
        {0x0041, 0x005A}, {0x0061, 0x007A}, {0x00B5, 0x00B5}, {0x00C0, 0x00D6}, {0x00D8, 0x00F6}, {0x00F8, 0x01BA},
        {0x01BC, 0x01BF}, {0x01C4, 0x0293}, {0x0295, 0x02AF}, {0x0370, 0x0373}, {0x0376, 0x0377}, {0x037B, 0x037D},
        {0x037F, 0x037F}, {0x0386, 0x0386}, {0x0388, 0x038A}, {0x038C, 0x038C}, {0x038E, 0x03A1}, {0x03A3, 0x03F5},
        {0x03F7, 0x0481}, {0x048A, 0x052F}, {0x0531, 0x0556}, {0x10A0, 0x10C5}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD},
        {0x1C90, 0x1CBA}, {0x1CBD, 0x1CBF}, {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A}, {0x1E00, 0x1F15},
        {0x1F18, 0x1F1D}, {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59}, {0x1F5B, 0x1F5B},
        {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE}, {0x1FC2, 0x1FC4},
        {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC}, {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC},
        {0x2102, 0x2102}, {0x2107, 0x2107}, {0x210A, 0x2113}, {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124},
        {0x2126, 0x2126}, {0x2128, 0x2128}, {0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139}, {0x213C, 0x213F},
        {0x2145, 0x2149}, {0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2C7B}, {0x2C7E, 0x2CE4}, {0x2CEB, 0x2CEE},
        {0x2CF2, 0x2CF3}, {0xA640, 0xA66D}, {0xA680, 0xA69B}, {0xA722, 0xA76F}, {0xA771, 0xA787}, {0xA78B, 0xA78E},
        {0xAB70, 0xABBF}, {0xFB00, 0xFB06}, {0xFB13, 0xFB17}, {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A}, {0x10400, 0x1044F},
        {0x104B0, 0x104D3}, {0x104D8, 0x104FB}, {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
    };
    return in_ranges(wide_cp(t, i), r, N_RANGES(r));
}

/* deepseek-llm: [!-/:-~！-／：-～‘-‟　-。] */
static int is_deepseek_punct(const struct pt_text *t, size_t i)
{
    static const uint32_t r[][2] = {
        {0x21, 0x2F}, {0x3A, 0x7E}, {0x2018, 0x201F}, {0x3000, 0x3002}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF5E},
    };
    return in_ranges(wide_cp(t, i), r, N_RANGES(r));
}

/* Length of the run of class members starting at p, stopping at end. */
static size_t run(const struct pt_text *t, size_t p, size_t end, class_fn in)
{
    size_t q = p;
    while (q < end && in(t, q))
        q++;
    return q - p;
}

/* Class test that is false at or past the segment end. */
static int at(const struct pt_text *t, size_t i, size_t end, class_fn in)
{
    return i < end && in(t, i);
}

/* ---- building blocks shared by several regexes ------------------------ */

/* 's|'t|'re|'ve|'m|'ll|'d, case-insensitive when fold (llama3's (?i:...);
 * no non-ASCII codepoint lowercases to these letters, so ASCII folding is
 * exact: scripts/gen_unicode.py checks it). */
static size_t match_contraction(const struct pt_text *t, size_t p, size_t end, int fold)
{
    uint32_t c1, c2;

    if (t->cp[p] != '\'' || p + 1 >= end)
        return 0;
    c1 = t->cp[p + 1];
    c1 = fold && c1 - 'A' < 26 ? c1 + 32 : c1;
    if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd')
        return 2;
    if (p + 2 >= end)
        return 0;
    c2 = t->cp[p + 2];
    c2 = fold && c2 - 'A' < 26 ? c2 + 32 : c2;
    if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l'))
        return 3;
    return 0;
}

/* \s+(?!\S)|\s+ : a whitespace run gives its last member to the word that
 * follows it, unless the run ends the segment or has only one member. */
static size_t match_ws_run(const struct pt_text *t, size_t p, size_t end)
{
    size_t k = run(t, p, end, is_ws);
    return k > 1 && p + k < end ? k - 1 : k;
}

/* \s*[\r\n]+|\s+(?!\S)|\s+ : as match_ws_run, but a run holding \r or \n
 * ends right after its last \r or \n. */
static size_t match_ws_lines(const struct pt_text *t, size_t p, size_t end)
{
    size_t k = run(t, p, end, is_ws), last = 0;

    for (size_t i = p; i < p + k; i++)
        if (is_crlf(t, i))
            last = i + 1 - p;
    return last ? last : match_ws_run(t, p, end);
}

/* \s?C+ for a class C without whitespace members. */
static size_t opt_ws_run(const struct pt_text *t, size_t p, size_t end, class_fn in)
{
    if (is_ws(t, p) && at(t, p + 1, end, in))
        return 1 + run(t, p + 1, end, in);
    return run(t, p, end, in);
}

/* A single-class regex (struct pass's in and how) at p. */
static size_t match_class(const struct pass *ps, const struct pt_text *t, size_t p, size_t end)
{
    switch (ps->how) {
    case CLASS_ONE:
        return ps->in(t, p) ? 1 : 0;
    case CLASS_RUN:
        return run(t, p, end, ps->in);
    case CLASS_UPTO3:
        return run(t, p, end - p > 3 ? p + 3 : end, ps->in);
    case CLASS_EXACT3:
        return run(t, p, end - p > 3 ? p + 3 : end, ps->in) == 3 ? 3 : 0;
    default: /* CLASS_WS_RUN */
        return opt_ws_run(t, p, end, ps->in);
    }
}

/* ---- the gpt2 and llama3 regexes (llama.cpp's hand-written splitters) -- */

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static size_t match_gpt2(const struct pt_text *t, size_t p, size_t end)
{
    size_t n = match_contraction(t, p, end, 0);
    size_t q = p + (t->cp[p] == ' ');   /* the optional leading space */

    if (n)
        return n;
    if (at(t, q, end, is_letter))
        return q - p + run(t, q, end, is_letter);
    if (at(t, q, end, is_number))
        return q - p + run(t, q, end, is_number);
    if (at(t, q, end, is_other))
        return q - p + run(t, q, end, is_other);
    n = match_ws_run(t, p, end);
    return n ? n : 1;   /* llama.cpp's fallback: one codepoint alone */
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,group}|
 *  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * group is 3 for llama3 (the hand-written splitter), 1 for qwen2 (a
 * std::regex with \p{N} that splits identically). */
static size_t match_llama3_like(const struct pt_text *t, size_t p, size_t end, size_t group)
{
    size_t n = match_contraction(t, p, end, 1), q;

    if (n)
        return n;
    if (!is_crlf(t, p) && !is_number(t, p) &&
        (is_letter(t, p) || at(t, p + 1, end, is_letter)))
        return 1 + run(t, p + 1, end, is_letter);
    if (is_number(t, p))
        return run(t, p, end - p > group ? p + group : end, is_number);
    q = p + (t->cp[p] == ' ');
    if (at(t, q, end, is_other)) {
        q += run(t, q, end, is_other);
        q += run(t, q, end, is_crlf);
        return q - p;
    }
    n = match_ws_lines(t, p, end);
    return n ? n : 1;
}

static size_t match_llama3(const struct pt_text *t, size_t p, size_t end)
{
    return match_llama3_like(t, p, end, 3);
}

static size_t match_qwen2(const struct pt_text *t, size_t p, size_t end)
{
    return match_llama3_like(t, p, end, 1);
}

/* ---- classes of the single-class regexes ------------------------------- */

/* [\p{P}\$\+<=>\^~\|] (default), the same plus ` (falcon) */
static int is_default_punct(const struct pt_text *t, size_t i)
{
    uint32_t c = t->cp[i];
    return is_punct(t, i) || c == '$' || c == '+' || c == '<' || c == '=' || c == '>' ||
           c == '^' || c == '~' || c == '|';
}

static int is_falcon_punct(const struct pt_text *t, size_t i)
{
    return is_default_punct(t, i) || t->cp[i] == '`';
}

/* ---- deepseek ---------------------------------------------------------- */

/* \s+$ : the whitespace that ends the segment, if any. A cut, not a
 * matcher: a search would rescan each inner whitespace run from every one
 * of its positions. */
static void cut_trailing_ws(const struct pt_text *t, size_t a, size_t b, struct cuts *out)
{
    size_t q = b;

    while (q > a && is_ws(t, q - 1))
        q--;
    if (q > a && q < b)
        cuts_push(out, q);
    cuts_push(out, b);
}

/* [\p{L}\p{M}] and [\p{P}\p{S}] and deepseek-v3's [^\r\n\p{L}\p{P}\p{S}] */
static int is_letter_mark(const struct pt_text *t, size_t i)
{
    return t->fl[i] & (UNICODE_L | UNICODE_M);
}

static int is_punct_symbol(const struct pt_text *t, size_t i)
{
    return is_punct(t, i) || is_symbol(t, i);
}

static int is_deepseek3_lead(const struct pt_text *t, size_t i)
{
    return !is_crlf(t, i) && !is_letter(t, i) && !is_punct_symbol(t, i);
}

/* [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|
 * [^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|
 * \s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t match_deepseek3(const struct pt_text *t, size_t p, size_t end)
{
    size_t q;

    if (is_ascii_punct(t->cp[p]) && at(t, p + 1, end, is_ascii_letter))
        return 1 + run(t, p + 1, end, is_ascii_letter);
    if (is_deepseek3_lead(t, p) && at(t, p + 1, end, is_letter_mark))
        return 1 + run(t, p + 1, end, is_letter_mark);
    if (is_letter_mark(t, p))
        return run(t, p, end, is_letter_mark);
    q = p + (t->cp[p] == ' ' && at(t, p + 1, end, is_punct_symbol));
    if (is_punct_symbol(t, q)) {
        q += run(t, q, end, is_punct_symbol);
        q += run(t, q, end, is_crlf);
        return q - p;
    }
    return match_ws_lines(t, p, end);
}

/* ---- tekken ------------------------------------------------------------ */

/* Its letter classes: ((?=[\p{L}])([^a-z])) "upper" and ((?=[\p{L}])([^A-Z]))
 * "lower". Collapsing erases the case of non-ASCII letters, so those are
 * both. */
static int is_tekken_upper(const struct pt_text *t, size_t i)
{
    return is_letter(t, i) && t->cp[i] - 'a' >= 26;
}

static int is_tekken_lower(const struct pt_text *t, size_t i)
{
    return is_letter(t, i) && t->cp[i] - 'A' >= 26;
}

/* [^\r\n\p{L}\p{N}] */
static int is_tekken_lead(const struct pt_text *t, size_t i)
{
    return !is_crlf(t, i) && !(t->fl[i] & (UNICODE_L | UNICODE_N));
}

/* Upper*Lower+ at q, backtracking like the regex: the upper run gives back
 * codepoints until a lower one can start there. 0 when none can. */
static size_t upper_then_lower(const struct pt_text *t, size_t q, size_t end)
{
    size_t k = run(t, q, end, is_tekken_upper);

    for (;;) {
        if (at(t, q + k, end, is_tekken_lower))
            return k + run(t, q + k, end, is_tekken_lower);
        if (k == 0)
            return 0;
        k--;
    }
}

/* [^\r\n\p{L}\p{N}]?Upper*Lower+|[^\r\n\p{L}\p{N}]?Upper+Lower*|\p{N}|
 *  ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * (The lead class holds no letter, so retrying without it never helps.) */
static size_t match_tekken(const struct pt_text *t, size_t p, size_t end)
{
    size_t q = p + is_tekken_lead(t, p), n;

    if ((n = upper_then_lower(t, q, end)))
        return q - p + n;
    if ((n = run(t, q, end, is_tekken_upper))) {
        q += n;
        return q - p + run(t, q, end, is_tekken_lower);
    }
    if (is_number(t, p))
        return 1;
    q = p + (t->cp[p] == ' ' && at(t, p + 1, end, is_other));
    if (is_other(t, q)) {
        q += run(t, q, end, is_other);
        while (q < end && (is_crlf(t, q) || t->cp[q] == '/'))
            q++;
        return q - p;
    }
    return match_ws_lines(t, p, end);
}

/* ---- poro, bloom, gpt3-finnish, viking -------------------------------- */

/* [^(\s|.,!?…。，、।۔،)] */
static int is_poro_word(const struct pt_text *t, size_t i)
{
    static const uint32_t stop[] = {
        '(', '|', ')', '.', ',', '!', '?', 0x2026, 0x3002, 0xFF0C, 0x3001, 0x0964, 0x06D4, 0x060C,
    };
    uint32_t c = wide_cp(t, i);

    if (is_ws(t, i))
        return 0;
    for (size_t k = 0; k < sizeof stop / sizeof stop[0]; k++)
        if (c == stop[k])
            return 0;
    return 1;
}

/*  ?[^(\s|.,!?…。，、।۔،)]+ */
static size_t match_poro(const struct pt_text *t, size_t p, size_t end)
{
    size_t q = p + (t->cp[p] == ' ');
    size_t n = run(t, q, end, is_poro_word);
    return n ? q - p + n : 0;
}

/* ---- chameleon --------------------------------------------------------- */

/* Does the segment hold the ASCII string s at p? */
static int has_ascii(const struct pt_text *t, size_t p, size_t end, const char *s)
{
    for (; *s; s++, p++)
        if (p >= end || t->cp[p] != (unsigned char)*s)
            return 0;
    return 1;
}

/* <sentinel:[0-9]+> */
static size_t match_sentinel(const struct pt_text *t, size_t p, size_t end)
{
    size_t q = p + 10, n;

    if (!has_ascii(t, p, end, "<sentinel:"))
        return 0;
    n = run(t, q, end, is_ascii_digit);
    return n && has_ascii(t, q + n, end, ">") ? 10 + n + 1 : 0;
}

static int is_a_to_i(const struct pt_text *t, size_t i) { return t->cp[i] - 'A' < 9; }

/* (IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z : giving back letters cannot help, as
 * each one given back stands where the Z must. */
static size_t match_image(const struct pt_text *t, size_t p, size_t end)
{
    size_t q = p + 6, n;

    if (!has_ascii(t, p, end, "IMGIMG"))
        return 0;
    n = run(t, q, end - q > 4 ? q + 4 : end, is_a_to_i);
    return n && has_ascii(t, q + n, end, "Z") ? 6 + n + 1 : 0;
}

/* ([\t\n]|    |  ) */
static size_t match_chameleon_space(const struct pt_text *t, size_t p, size_t end)
{
    if (t->cp[p] == '\t' || t->cp[p] == '\n')
        return 1;
    if (has_ascii(t, p, end, "    "))
        return 4;
    return has_ascii(t, p, end, "  ") ? 2 : 0;
}

/* [\p{P}!-/:-@\[-`{-~] */
static int is_chameleon_punct(const struct pt_text *t, size_t i)
{
    return is_punct(t, i) || is_ascii_punct(t->cp[i]);
}

/* ---- the regex lists of each type (llama-vocab.cpp, Feb 2025) ---------- */

/* M: a matcher; C: a cut; the others: a class with enum class_match's quantifier */
#define M(fn) { .match = fn }
#define C(fn) { .cut = fn }
#define ONE(c) { .in = c, .how = CLASS_ONE }
#define RUN(c) { .in = c, .how = CLASS_RUN }
#define UPTO3(c) { .in = c, .how = CLASS_UPTO3 }
#define EXACT3(c) { .in = c, .how = CLASS_EXACT3 }
#define WS_RUN(c) { .in = c, .how = CLASS_WS_RUN }

static const struct pass passes_default[] = {
    RUN(is_default_punct), M(match_gpt2), RUN(is_number), EXACT3(is_ascii_digit),
};
static const struct pass passes_gpt2[] = { M(match_gpt2) };
static const struct pass passes_llama3[] = { M(match_llama3) };
static const struct pass passes_qwen2[] = { M(match_qwen2) };
static const struct pass passes_starcoder[] = { ONE(is_number), M(match_gpt2) };
static const struct pass passes_falcon[] = {
    RUN(is_falcon_punct), M(match_gpt2), EXACT3(is_ascii_digit),
};
static const struct pass passes_deepseek_llm[] = {
    ONE(is_crlf), WS_RUN(is_deepseek_letter), WS_RUN(is_deepseek_punct),
    C(cut_trailing_ws), RUN(is_deepseek_cjk), RUN(is_number),
};
static const struct pass passes_deepseek_coder[] = {
    ONE(is_crlf), WS_RUN(is_letter), WS_RUN(is_punct), RUN(is_deepseek_cjk), ONE(is_number),
};
static const struct pass passes_deepseek3[] = {
    UPTO3(is_number), RUN(is_deepseek3_cjk), M(match_deepseek3),
};
static const struct pass passes_poro[] = { M(match_poro) };
static const struct pass passes_viking[] = { M(match_poro), ONE(is_number) };
static const struct pass passes_tekken[] = { M(match_tekken) };
static const struct pass passes_chameleon[] = {
    M(match_sentinel), M(match_image), M(match_chameleon_space), ONE(is_number),
    ONE(is_chameleon_punct), M(match_gpt2),
};

struct pass_list {
    const struct pass *pass;
    size_t n;
};

#define LIST(a) { a, sizeof a / sizeof a[0] }

static const struct pass_list type_passes[PRETOK_COUNT] = {
    [PRETOK_DEFAULT] = LIST(passes_default),
    [PRETOK_GPT2] = LIST(passes_gpt2), [PRETOK_MPT] = LIST(passes_gpt2),
    [PRETOK_OLMO] = LIST(passes_gpt2), [PRETOK_JAIS] = LIST(passes_gpt2),
    [PRETOK_LLAMA3] = LIST(passes_llama3), [PRETOK_DBRX] = LIST(passes_llama3),
    [PRETOK_SMAUG] = LIST(passes_llama3), [PRETOK_CHATGLM4] = LIST(passes_llama3),
    [PRETOK_QWEN2] = LIST(passes_qwen2), [PRETOK_STABLELM2] = LIST(passes_qwen2),
    [PRETOK_STARCODER] = LIST(passes_starcoder), [PRETOK_REFACT] = LIST(passes_starcoder),
    [PRETOK_COMMAND_R] = LIST(passes_starcoder), [PRETOK_SMOLLM] = LIST(passes_starcoder),
    [PRETOK_CODESHELL] = LIST(passes_starcoder), [PRETOK_EXAONE] = LIST(passes_starcoder),
    [PRETOK_MINERVA] = LIST(passes_starcoder),
    [PRETOK_FALCON] = LIST(passes_falcon),
    [PRETOK_DEEPSEEK_LLM] = LIST(passes_deepseek_llm),
    [PRETOK_DEEPSEEK_CODER] = LIST(passes_deepseek_coder),
    [PRETOK_DEEPSEEK3_LLM] = LIST(passes_deepseek3),
    [PRETOK_PORO] = LIST(passes_poro), [PRETOK_BLOOM] = LIST(passes_poro),
    [PRETOK_GPT3_FINNISH] = LIST(passes_poro),
    [PRETOK_VIKING] = LIST(passes_viking),
    [PRETOK_TEKKEN] = LIST(passes_tekken),
    [PRETOK_CHAMELEON] = LIST(passes_chameleon),
};

/* tokenizer.ggml.pre names, as llama-vocab.cpp maps them. */
static const struct { const char *name; int type; } pre_names[] = {
    {"default", PRETOK_DEFAULT},
    {"llama3", PRETOK_LLAMA3}, {"llama-v3", PRETOK_LLAMA3}, {"llama-bpe", PRETOK_LLAMA3},
    {"falcon3", PRETOK_LLAMA3},
    {"deepseek-llm", PRETOK_DEEPSEEK_LLM}, {"deepseek-coder", PRETOK_DEEPSEEK_CODER},
    {"deepseek-v3", PRETOK_DEEPSEEK3_LLM},
    {"falcon", PRETOK_FALCON}, {"mpt", PRETOK_MPT}, {"starcoder", PRETOK_STARCODER},
    {"gpt-2", PRETOK_GPT2}, {"phi-2", PRETOK_GPT2}, {"jina-es", PRETOK_GPT2},
    {"jina-de", PRETOK_GPT2}, {"gigachat", PRETOK_GPT2}, {"jina-v1-en", PRETOK_GPT2},
    {"jina-v2-es", PRETOK_GPT2}, {"jina-v2-de", PRETOK_GPT2}, {"jina-v2-code", PRETOK_GPT2},
    {"roberta-bpe", PRETOK_GPT2},
    {"refact", PRETOK_REFACT}, {"command-r", PRETOK_COMMAND_R},
    {"qwen2", PRETOK_QWEN2}, {"deepseek-r1-qwen", PRETOK_QWEN2}, {"megrez", PRETOK_QWEN2},
    {"stablelm2", PRETOK_STABLELM2}, {"olmo", PRETOK_OLMO}, {"dbrx", PRETOK_DBRX},
    {"smaug-bpe", PRETOK_SMAUG}, {"poro-chat", PRETOK_PORO}, {"chatglm-bpe", PRETOK_CHATGLM4},
    {"viking", PRETOK_VIKING}, {"jais", PRETOK_JAIS}, {"tekken", PRETOK_TEKKEN},
    {"smollm", PRETOK_SMOLLM}, {"codeshell", PRETOK_CODESHELL}, {"bloom", PRETOK_BLOOM},
    {"gpt3-finnish", PRETOK_GPT3_FINNISH}, {"exaone", PRETOK_EXAONE},
    {"chameleon", PRETOK_CHAMELEON}, {"minerva-7b", PRETOK_MINERVA},
    {"gpt-neox", PRETOK_GPT_NEOX},   /* not llama.cpp's */
};

int pretok_from_name(const char *name, size_t len, int *type, struct tl_error *err)
{
    if (!name || len == 0) {
        *type = PRETOK_DEFAULT;
        return TL_OK;
    }
    for (size_t i = 0; i < sizeof pre_names / sizeof pre_names[0]; i++) {
        if (strlen(pre_names[i].name) == len && memcmp(pre_names[i].name, name, len) == 0) {
            *type = pre_names[i].type;
            return TL_OK;
        }
    }
    return tl_fail(err, TL_EUNSUPPORTED, "unknown pre-tokenizer type '%.*s'",
                   len > 64 ? 64 : (int)len, name);
}

/* ---- splitting ---------------------------------------------------------- */

/* Leftmost-first search of segment [a, b) as std::regex_iterator walks it:
 * each match is a piece, and so is each stretch between matches. */
static void search_split(const struct pt_text *t, size_t a, size_t b, const struct pass *ps,
                         struct cuts *out)
{
    size_t gap = a;   /* start of the unmatched stretch */

    for (size_t p = a; p < b;) {
        size_t n = ps->match ? ps->match(t, p, b) : match_class(ps, t, p, b);
        if (!n) {
            p++;
            continue;
        }
        assert(n <= b - p);
        if (gap < p)
            cuts_push(out, p);
        p += n;
        cuts_push(out, p);
        gap = p;
    }
    if (gap < b)
        cuts_push(out, b);
}

/* Run one pass over every segment of *in, leaving the result in *out. */
static void run_pass(const struct pt_text *t, const struct pass *ps,
                     const struct cuts *in, struct cuts *out)
{
    size_t a = 0;

    out->n = 0;
    for (size_t i = 0; i < in->n; i++) {
        if (ps->cut)
            ps->cut(t, a, in->end[i], out);
        else
            search_split(t, a, in->end[i], ps, out);
        a = in->end[i];
    }
}

/* Byte spans of the final segments into s[c->n]: nb[i] is the byte length
 * of codepoint i. */
static void spans_from_cuts(const struct cuts *c, const uint8_t *nb, struct pretok_span *s)
{
    size_t off = 0, a = 0;

    for (size_t i = 0; i < c->n; i++) {
        size_t bytes = 0;
        for (; a < c->end[i]; a++)
            bytes += nb[a];
        s[i].off = off;
        s[i].len = bytes;
        off += bytes;
    }
}

int pretok_split(int type, const char *text, size_t len,
                 struct pretok_span **spans, size_t *n, struct tl_error *err)
{
    uint32_t *cp = NULL;
    uint8_t *fl = NULL, *nb = NULL, ascii_fl[0x80];
    struct cuts cur = {0}, next = {0}, swap;
    const struct pass_list *list;
    size_t m = 0;
    int rc = TL_OK;

    if (!spans || !n || (!text && len) || type < 0 || type >= PRETOK_COUNT)
        return tl_fail(err, TL_EINVAL, "pretok_split: bad arguments (type %d)", type);
    *spans = NULL;
    *n = 0;
    if (len == 0)
        return TL_OK;
    /* At most len codepoints, so len bounds every array. */
    if (len <= SIZE_MAX / sizeof(size_t)) {
        cp = malloc(len * sizeof *cp);
        cur.end = malloc(len * sizeof *cur.end);
        next.end = malloc(len * sizeof *next.end);
    }
    fl = malloc(len);
    nb = malloc(len);
    if (!cp || !fl || !nb || !cur.end || !next.end) {
        rc = tl_fail(err, TL_ENOMEM, "pretok_split: out of memory for %zu bytes of text", len);
        goto out;
    }

    for (uint32_t c = 0; c < 0x80; c++)   /* most text is mostly ASCII */
        ascii_fl[c] = (uint8_t)unicode_flags(c);
    for (size_t off = 0, k; off < len; off += k, m++) {
        cp[m] = unicode_decode((const unsigned char *)text + off, len - off, &k);
        fl[m] = cp[m] < 0x80 ? ascii_fl[cp[m]] : (uint8_t)unicode_flags(cp[m]);
        nb[m] = (uint8_t)k;
    }

    cuts_push(&cur, m);
    list = &type_passes[type];
    for (size_t i = 0; i < list->n; i++) {
        run_pass(&(struct pt_text){ cp, fl }, &list->pass[i], &cur, &next);
        swap = cur;
        cur = next;
        next = swap;
    }
    if (!(*spans = malloc(cur.n * sizeof **spans))) {
        rc = tl_fail(err, TL_ENOMEM, "pretok_split: out of memory for %zu words", cur.n);
        goto out;
    }
    spans_from_cuts(&cur, nb, *spans);
    *n = cur.n;
out:
    mem_free_all(cp, fl, nb, cur.end, next.end);
    return rc;
}
