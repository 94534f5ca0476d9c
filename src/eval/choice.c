/* eval/choice.c: llama-perplexity's multiple-choice scores. HellaSwag: a
 * context and four endings, each ending scored by the mean log-probability
 * of its tokens after the context. Winogrande: a sentence with a blank and
 * two fillers, each scored by the tokens after it. Multiple choice: a
 * question and any number of answers, scored as endings. A task counts
 * when the right one scores highest. Tasks are drawn in llama-perplexity's random
 * order (mt19937 seeded 1), so the same N tasks are scored. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"

/* ---- mt19937 and libstdc++'s uniform_int_distribution ---- */
struct mt19937 { uint32_t s[624]; int i; };

static void mt_seed(struct mt19937 *m, uint32_t seed)
{
    m->s[0] = seed;
    for (int i = 1; i < 624; i++)
        m->s[i] = 1812433253u * (m->s[i - 1] ^ (m->s[i - 1] >> 30)) + (uint32_t)i;
    m->i = 624;
}

static uint32_t mt_next(struct mt19937 *m)
{
    if (m->i >= 624) {
        for (int k = 0; k < 624; k++) {
            uint32_t y = (m->s[k] & 0x80000000u) | (m->s[(k + 1) % 624] & 0x7fffffffu);
            m->s[k] = m->s[(k + 397) % 624] ^ (y >> 1) ^ (y & 1 ? 0x9908b0dfu : 0);
        }
        m->i = 0;
    }
    uint32_t y = m->s[m->i++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    return y ^ (y >> 18);
}

/* A value in [0, n) as libstdc++ draws it from a 32-bit engine: Lemire's
 * multiply-and-shift, redrawing when the low half falls below 2^32 mod n. */
static uint32_t mt_below(struct mt19937 *m, uint32_t n)
{
    uint64_t p = (uint64_t)mt_next(m) * n;
    if ((uint32_t)p < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while ((uint32_t)p < threshold)
            p = (uint64_t)mt_next(m) * n;
    }
    return (uint32_t)(p >> 32);
}

/* ---- one task ---- */
struct hs_task {
    const char *line[6];  /* context, gold index, four endings (NUL-terminated) */
    int32_t    *tok[4];   /* context + " " + ending, tokenized with BOS */
    int         n[4];
    int         prefix;   /* leading tokens the four share */
};

/* log softmax(row)[tok], in float as llama-perplexity's scorer does */
static float row_logprob(const float *l, int n_vocab, int tok)
{
    float max = l[0], sum = 0;
    for (int i = 1; i < n_vocab; i++)
        max = l[i] > max ? l[i] : max;
    for (int i = 0; i < n_vocab; i++)
        sum += expf(l[i] - max);
    return l[tok] - max - logf(sum);
}

struct ending_sink { const int32_t *tok; int at, n_vocab; double sum; };

/* Row at position p predicts token p + 1. */
static int sink_ending(void *ctx, const float *logits, int rows, int n_vocab, struct tl_error *err)
{
    (void)err;
    struct ending_sink *s = ctx;
    for (int r = 0; r < rows; r++, s->at++)
        s->sum += row_logprob(logits + (size_t)r * n_vocab, n_vocab, s->tok[s->at + 1]);
    return TL_OK;
}

/* The ending llama-perplexity would pick among n_end: each ending's
 * log-probability of its tokens after the shared prefix, over their count;
 * the first of equal scores wins. tok[s][0..n[s]) hold context + ending. */
static int pick_ending(struct engine *e, int n_end, int32_t *const *tok, const int *n, int cp, int idx, int *best,
                       struct tl_error *err)
{
    int nv = e->model.hp.n_vocab;
    /* llama-perplexity packs the prefix and every ending in one context */
    int need = cp;
    for (int s = 0; s < n_end; s++) {
        if (n[s] <= cp)
            return tl_fail(err, TL_EFORMAT, "task %d: ending %d adds no tokens", idx + 1, s + 1);
        need += n[s] - cp;
    }
    if (cp < 1 || need > e->st.n_ctx)
        return tl_fail(err, TL_ERANGE, "task %d needs %d tokens, more than the context of %d (raise -c)",
                       idx + 1, need, e->st.n_ctx);
    e->st.n_past = 0;
    int rc = engine_eval(e, tok[0], cp, NULL, NULL, err);
    if (rc)
        return rc;
    float *first_row = malloc((size_t)nv * sizeof *first_row);
    if (!first_row)
        return tl_fail(err, TL_ENOMEM, "out of memory");
    memcpy(first_row, engine_last_logits(e), (size_t)nv * sizeof *first_row);
    double best_score = 0;
    for (int s = 0; s < n_end && rc == TL_OK; s++) {
        struct ending_sink k = { tok[s], cp, nv, row_logprob(first_row, nv, tok[s][cp]) };
        e->st.n_past = cp;
        /* the last token predicts nothing scored, so it is not evaluated */
        if (n[s] - 1 > cp)
            rc = engine_eval(e, tok[s] + cp, n[s] - 1 - cp, sink_ending, &k, err);
        double score = k.sum / (n[s] - cp);
        if (s == 0 || score > best_score)
            best_score = score, *best = s;
    }
    free(first_row);
    return rc;
}

/* context + " " + ending, tokenized with BOS */
static int tokenize_pair(struct engine *e, const char *ctx, size_t lc, const char *end, size_t le, int32_t **ids,
                         int *n, struct tl_error *err)
{
    char *text = malloc(lc + 1 + le + 1);
    if (!text)
        return tl_fail(err, TL_ENOMEM, "out of memory");
    memcpy(text, ctx, lc);
    text[lc] = ' ';
    memcpy(text + lc + 1, end, le);
    text[lc + 1 + le] = 0;
    *ids = NULL;
    *n = 0;
    int rc = tokenizer_encode(&e->tok, text, lc + 1 + le, true, false, ids, n, err);
    free(text);
    return rc;
}

/* Tokens the n_end sequences share from the start. */
static int shared_prefix(int n_end, int32_t *const *tok, const int *n)
{
    for (int p = 0;; p++)
        for (int s = 0; s < n_end; s++)
            if (p >= n[s] || tok[s][p] != tok[0][p])
                return p;
}

static int hs_prepare(struct engine *e, struct hs_task *t, struct tl_error *err)
{
    for (int s = 0; s < 4; s++) {
        int rc = tokenize_pair(e, t->line[0], strlen(t->line[0]), t->line[2 + s], strlen(t->line[2 + s]),
                               &t->tok[s], &t->n[s], err);
        if (rc)
            return rc;
    }
    t->prefix = shared_prefix(4, t->tok, t->n);
    return TL_OK;
}

/* Split text (modified: '\n' become NULs) into lines; a final newline ends
 * the last line rather than starting an empty one, as getline reads it. */
static int split_lines(char *text, size_t len, char ***lines, size_t *n, struct tl_error *err)
{
    size_t cap = 64;
    char **v = malloc(cap * sizeof *v);
    *n = 0;
    for (size_t i = 0; v && i < len;) {
        if (*n == cap) {
            char **nv = realloc(v, (cap *= 2) * sizeof *v);
            if (!nv) {
                free(v);
                v = NULL;
                break;
            }
            v = nv;
        }
        v[(*n)++] = text + i;
        char *nl = memchr(text + i, '\n', len - i);
        if (!nl)
            break;
        *nl = 0;
        i = (size_t)(nl - text) + 1;
    }
    if (!v)
        return tl_fail(err, TL_ENOMEM, "out of memory for the lines of the task file");
    *lines = v;
    return TL_OK;
}

int hellaswag_run(struct engine *e, char *text, size_t len, size_t n_tasks, hs_task_fn on_task, void *ctx,
                  size_t *n_done, size_t *n_correct, struct tl_error *err)
{
    char **lines = NULL;
    size_t n_lines;
    *n_done = *n_correct = 0;
    int rc = split_lines(text, len, &lines, &n_lines, err);
    if (rc)
        return rc;
    if (n_lines == 0 || n_lines % 6) {
        free(lines);
        return tl_fail(err, TL_EFORMAT, "hellaswag: %zu lines, not a multiple of 6 (context, gold index, "
                       "4 endings a task)", n_lines);
    }
    size_t n_avail = n_lines / 6;
    if (n_tasks > n_avail)
        n_tasks = n_avail;
    struct mt19937 *mt = malloc(sizeof *mt);
    if (!mt) {
        free(lines);
        return tl_fail(err, TL_ENOMEM, "out of memory");
    }
    mt_seed(mt, 1);
    for (size_t i = 0; i < n_tasks && rc == TL_OK; i++) {
        /* draw from the tasks left and remove the one drawn */
        size_t left = n_avail - i, idx = mt_below(mt, (uint32_t)left);
        struct hs_task t = { 0 };
        memcpy(t.line, lines + idx * 6, sizeof t.line);
        memmove(lines + idx * 6, lines + (idx + 1) * 6, (left - idx - 1) * 6 * sizeof *lines);
        char *end;
        long gold = strtol(t.line[1], &end, 10);
        if (end == t.line[1] || gold < 0 || gold > 3)
            rc = tl_fail(err, TL_EFORMAT, "hellaswag: gold index '%s' is not 0..3", t.line[1]);
        int best = -1;
        if (rc == TL_OK && (rc = hs_prepare(e, &t, err)) == TL_OK && (rc = pick_ending(e, 4, t.tok, t.n, t.prefix, (int)i, &best, err)) == TL_OK) {
            *n_correct += best == gold;
            *n_done = i + 1;
            if (on_task)
                on_task(ctx, i, *n_correct);
        }
        for (int s = 0; s < 4; s++)
            free(t.tok[s]);
    }
    free(mt);
    free(lines);
    return rc;
}

/* ---- Winogrande ---- */
struct wg_task {
    char       *first, *second, *choice[2];  /* sentence around '_', the two fillers */
    int         answer;                      /* 1 or 2 */
    int32_t    *tok[2];                      /* first + choice + second, with BOS */
    int         n[2], n_base[2];             /* tokens of each, and of first + choice */
    int         prefix;                      /* tokens the two share */
};

/* One CSV line "index,sentence,choice1,choice2,answer" (the sentence may be
 * quoted) parsed in place into t, as llama-perplexity reads it: the first
 * four commas outside quotes split it. false when it is not a task. */
static bool wg_parse(char *line, struct wg_task *t)
{
    size_t len = strlen(line), comma[4];
    int nc = 0;
    bool quoted = false;
    for (size_t i = 0; i < len && nc < 4; i++) {
        if (line[i] == '"')
            quoted = !quoted;
        else if (line[i] == ',' && !quoted)
            comma[nc++] = i;
    }
    if (nc < 4)
        return false;
    char *sent = line + comma[0] + 1, *send = line + comma[1];
    if (*sent == '"' && send - sent >= 2)
        sent++, send--;
    *send = 0;
    char *blank = strchr(sent, '_');
    char *end;
    long a = strtol(line + comma[3] + 1, &end, 10);
    if (!blank || end == line + comma[3] + 1 || a < 1 || a > 2)
        return false;
    *blank = 0;
    line[comma[2]] = 0;
    line[comma[3]] = 0;
    t->first = sent;
    t->second = blank + 1;
    t->choice[0] = line + comma[1] + 1;
    t->choice[1] = line + comma[2] + 1;
    t->answer = (int)a;
    return true;
}

static int wg_tokenize(struct engine *e, const char *a, const char *b, const char *c, int32_t **ids, int *n,
                       struct tl_error *err)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *s = malloc(la + lb + lc + 1);
    if (!s)
        return tl_fail(err, TL_ENOMEM, "out of memory");
    memcpy(s, a, la);
    memcpy(s + la, b, lb);
    memcpy(s + la + lb, c, lc + 1);
    *ids = NULL;
    *n = 0;
    int rc = tokenizer_encode(&e->tok, s, la + lb + lc, true, false, ids, n, err);
    free(s);
    return rc;
}

static int wg_prepare(struct engine *e, struct wg_task *t, struct tl_error *err)
{
    for (int s = 0; s < 2; s++) {
        int32_t *base = NULL;
        int rc = wg_tokenize(e, t->first, t->choice[s], t->second, &t->tok[s], &t->n[s], err);
        if (rc == TL_OK)
            rc = wg_tokenize(e, t->first, t->choice[s], "", &base, &t->n_base[s], err);
        free(base);
        if (rc)
            return rc;
    }
    int p = 0;
    while (p < t->n[0] && p < t->n[1] && t->tok[0][p] == t->tok[1][p])
        p++;
    t->prefix = p;
    return TL_OK;
}

/* Rows kept in llama-perplexity's batch order: [0] the last shared
 * position, then sequence 0's positions prefix.., then sequence 1's. */
struct wg_sink { float *rows; int pos, keep_from, dst; };

static int sink_wg(void *ctx, const float *logits, int rows, int n_vocab, struct tl_error *err)
{
    (void)err;
    struct wg_sink *s = ctx;
    for (int r = 0; r < rows; r++, s->pos++)
        if (s->pos >= s->keep_from)
            memcpy(s->rows + (size_t)s->dst++ * n_vocab, logits + (size_t)r * n_vocab, (size_t)n_vocab * sizeof *logits);
    return TL_OK;
}

/* Both scores of t: the mean log-probability of the tokens after the choice
 * (after the shared prefix when either tail is 3 tokens or fewer), the
 * sentence's last token left out; the second sequence reads its rows from
 * index n0 - prefix + n_base - prefix, as llama-perplexity does (which for
 * the short-tail case is sequence 0's last row: its FIXME, kept to agree). */
static int wg_score(struct engine *e, const struct wg_task *t, int idx, float score[2], struct tl_error *err)
{
    int nv = e->model.hp.n_vocab, cp = t->prefix, n0 = t->n[0], n1 = t->n[1];
    int total = 1 + (n0 - cp) + (n1 - cp);
    if (cp < 1 || total - 1 + cp > e->st.n_ctx)
        return tl_fail(err, cp < 1 ? TL_EFORMAT : TL_ERANGE, "winogrande task %d %s", idx + 1,
                       cp < 1 ? "shares no tokens" : "does not fit in the context (raise -c)");
    float *rows = malloc((size_t)total * nv * sizeof *rows);
    if (!rows)
        return tl_fail(err, TL_ENOMEM, "out of memory");
    struct wg_sink s0 = { rows, 0, cp - 1, 0 }, s1 = { rows, cp, cp, 1 + n0 - cp };
    e->st.n_past = 0;
    int rc = engine_eval(e, t->tok[0], n0, sink_wg, &s0, err);
    e->st.n_past = cp;
    if (rc == TL_OK && n1 > cp)
        rc = engine_eval(e, t->tok[1] + cp, n1 - cp, sink_wg, &s1, err);
    bool skip_choice = n0 - cp > 3 && n1 - cp > 3;
    for (int s = 0; s < 2 && rc == TL_OK; s++) {
        int n = t->n[s], base = skip_choice ? t->n_base[s] : cp, last = n - base > 1;
        long k = s == 0 ? base - cp : (n0 - cp) + (base - cp);
        float sum = 0;
        for (int j = base - 1; j < n - 1 - last; j++, k++) {
            if (k < 0 || k >= total) {
                rc = tl_fail(err, TL_EFORMAT, "winogrande task %d: the choice does not tokenize apart", idx + 1);
                break;
            }
            sum += row_logprob(rows + (size_t)k * nv, nv, t->tok[s][j + 1]);
        }
        score[s] = sum / (float)(n - base - last);
    }
    free(rows);
    return rc;
}

int winogrande_run(struct engine *e, char *text, size_t len, size_t n_tasks, wg_task_fn on_task, void *ctx,
                   size_t *n_done, size_t *n_correct, struct tl_error *err)
{
    char **lines = NULL;
    size_t n_lines, n = 0;
    *n_done = *n_correct = 0;
    /* a last line without its newline is not read, as with getline's eof */
    if (len && text[len - 1] != '\n')
        while (len && text[len - 1] != '\n')
            text[--len] = 0;
    int rc = split_lines(text, len, &lines, &n_lines, err);
    if (rc)
        return rc;
    struct wg_task *all = calloc(n_lines ? n_lines : 1, sizeof *all);
    uint32_t *aux = malloc((n_lines ? n_lines : 1) * sizeof *aux);
    struct mt19937 *mt = malloc(sizeof *mt);
    if (!all || !aux || !mt) {
        rc = tl_fail(err, TL_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n_lines; i++)
        n += wg_parse(lines[i], &all[n]);
    if (n == 0) {
        rc = tl_fail(err, TL_EFORMAT, "winogrande: no tasks (CSV lines: index,sentence with _,choice1,choice2,1|2)");
        goto out;
    }
    /* n_tasks < all: llama-perplexity's draw, j = floor(u * left) with u a
     * float in [0, 1) from one mt19937 output, the drawn slot refilled
     * from the end */
    size_t use = n_tasks > 0 && n_tasks < n ? n_tasks : n;
    for (size_t i = 0; i < n; i++)
        aux[i] = (uint32_t)i;
    mt_seed(mt, 1);
    size_t left = n;
    for (size_t i = 0; i < use && rc == TL_OK; i++) {
        size_t pick = i;
        if (use < n) {
            float scale = 1 / (1.f + 4294967295.f);
            size_t j = (size_t)(scale * (float)mt_next(mt) * (float)left);
            pick = aux[j];
            aux[j] = aux[--left];
        }
        struct wg_task *t = &all[pick];
        float score[2];
        if ((rc = wg_prepare(e, t, err)) == TL_OK && (rc = wg_score(e, t, (int)i, score, err)) == TL_OK) {
            int result = score[0] > score[1] ? 1 : 2;
            *n_correct += result == t->answer;
            *n_done = i + 1;
            if (on_task)
                on_task(ctx, i, *n_correct, score, result, t->answer);
        }
        free(t->tok[0]);
        free(t->tok[1]);
        t->tok[0] = t->tok[1] = NULL;
    }
out:
    free(mt);
    free(aux);
    free(all);
    free(lines);
    return rc;
}

/* ---- multiple choice (llama.cpp's binary TruthfulQA/ARC/MMLU files) ----
 * uint32 n_task, uint32 offset[n_task] (from the file's start), then per
 * task: string question, mc1, mc2; a string is uint32 length + bytes, an
 * answer set uint32 n (<= 100), n strings, int32 labels[n] (1 = right).
 * Only mc1 is scored, as there. */
struct mc_reader { const uint8_t *p; size_t len, at; };

static bool mc_u32(struct mc_reader *r, uint32_t *v)
{
    if (r->len - r->at < 4)
        return false;
    memcpy(v, r->p + r->at, 4);
    r->at += 4;
    return true;
}

static bool mc_str(struct mc_reader *r, const char **s, size_t *n)
{
    uint32_t len;
    if (!mc_u32(r, &len) || r->len - r->at < len)
        return false;
    *s = (const char *)r->p + r->at;
    *n = len;
    r->at += len;
    return true;
}

#define MC_MAX 100
struct mc_task {
    const char *q, *a[MC_MAX];
    size_t      lq, la[MC_MAX];
    int32_t     label[MC_MAX];
    int         n;
};

/* An answer set; keep: fill t (mc1), else only skip over it (mc2). */
static bool mc_answers(struct mc_reader *r, struct mc_task *t, bool keep)
{
    uint32_t n;
    const char *s;
    size_t len;
    if (!mc_u32(r, &n) || n > MC_MAX)
        return false;
    for (uint32_t i = 0; i < n; i++) {
        if (!mc_str(r, &s, &len))
            return false;
        if (keep)
            t->a[i] = s, t->la[i] = len;
    }
    if (r->len - r->at < 4 * (size_t)n)
        return false;
    if (keep) {
        memcpy(t->label, r->p + r->at, 4 * (size_t)n);
        t->n = (int)n;
    }
    r->at += 4 * (size_t)n;
    return true;
}

static bool mc_task_at(struct mc_reader *r, struct mc_task *t)
{
    return mc_str(r, &t->q, &t->lq) && mc_answers(r, t, true) && mc_answers(r, t, false);
}

/* Score one task: *right when the best-scoring answer is labelled 1. */
static int mc_score(struct engine *e, const struct mc_task *t, int idx, bool *right, struct tl_error *err)
{
    if (t->lq == 0 || t->n == 0)
        return tl_fail(err, TL_EFORMAT, "multiple choice task %d: empty question or no answers", idx + 1);
    int32_t *tok[MC_MAX] = { 0 };
    int n[MC_MAX], rc = TL_OK, best = 0;
    for (int s = 0; s < t->n && rc == TL_OK; s++)
        if (t->la[s] == 0)
            rc = tl_fail(err, TL_EFORMAT, "multiple choice task %d: answer %d is empty", idx + 1, s + 1);
        else
            rc = tokenize_pair(e, t->q, t->lq, t->a[s], t->la[s], &tok[s], &n[s], err);
    if (rc == TL_OK)
        rc = pick_ending(e, t->n, tok, n, shared_prefix(t->n, tok, n), idx, &best, err);
    *right = rc == TL_OK && t->label[best] == 1;
    for (int s = 0; s < t->n; s++)
        free(tok[s]);
    return rc;
}

int multiple_choice_run(struct engine *e, const uint8_t *data, size_t len, size_t n_tasks, hs_task_fn on_task,
                        void *ctx, size_t *n_done, size_t *n_correct, size_t *n_answers, size_t *n_all,
                        struct tl_error *err)
{
    struct mc_reader r = { data, len, 0 };
    uint32_t n_file;
    *n_done = *n_correct = *n_answers = *n_all = 0;
    if (!mc_u32(&r, &n_file) || n_file == 0)
        return tl_fail(err, TL_EFORMAT, "multiple choice: no tasks");
    if ((len - 4) / 4 < n_file)
        return tl_fail(err, TL_EFORMAT, "multiple choice: the file is too short for %u task offsets", n_file);
    *n_all = n_file;
    const uint8_t *offsets = data + 4;
    r.at = 4 + 4 * (size_t)n_file;
    size_t use = n_tasks > 0 && n_tasks < n_file ? n_tasks : n_file;
    uint32_t *aux = use < n_file ? malloc(n_file * sizeof *aux) : NULL;
    struct mt19937 *mt = malloc(sizeof *mt);
    struct mc_task *t = malloc(sizeof *t);
    int rc = TL_OK;
    if (!mt || !t || (use < n_file && !aux)) {
        rc = tl_fail(err, TL_ENOMEM, "out of memory");
        goto out;
    }
    mt_seed(mt, 1);
    for (uint32_t i = 0; aux && i < n_file; i++)
        aux[i] = i;
    size_t left = n_file;
    /* every task: read one after another; fewer: drawn as Winogrande's are,
     * each read at its offset */
    for (size_t i = 0; i < use && rc == TL_OK; i++) {
        if (aux) {
            float scale = 1 / (1.f + 4294967295.f);
            size_t j = (size_t)(scale * (float)mt_next(mt) * (float)left);
            uint32_t off;
            memcpy(&off, offsets + 4 * (size_t)aux[j], 4);
            aux[j] = aux[--left];
            r.at = off;
        }
        bool right;
        if (r.at > len || !mc_task_at(&r, t)) {
            rc = tl_fail(err, TL_EFORMAT, "multiple choice: cannot read task %zu", i + 1);
            break;
        }
        if ((rc = mc_score(e, t, (int)i, &right, err)) == TL_OK) {
            *n_correct += right;
            *n_answers += (size_t)t->n;
            *n_done = i + 1;
            if (on_task)
                on_task(ctx, i, *n_correct);
        }
    }
out:
    free(t);
    free(mt);
    free(aux);
    return rc;
}
