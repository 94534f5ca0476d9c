/* oracle.h: reading llama.cpp's reference outputs in ../shared/oracle/ref
 * and scoring our logits against them (criteria: ../shared/oracle/README.md). */
#ifndef TINYLLM_TEST_ORACLE_H
#define TINYLLM_TEST_ORACLE_H

#include <stdint.h>

struct oracle_ref {
    int      n_vocab, rows;
    int32_t *prompt, *greedy, *argmax, *logit_rows;
    int      n_prompt, n_greedy, n_argmax, n_logit_rows;
    float   *logits;      /* n_logit_rows x n_vocab */
};

/* Load dir/NAME.ref and dir/NAME.logits; 0 on success. */
int  oracle_load(struct oracle_ref *r, const char *dir, const char *name);
void oracle_free(struct oracle_ref *r);

/* max|ours - ref| / (max ref - min ref) for one row */
double oracle_row_err(const float *ours, const float *ref, int n);

struct oracle_tol { double median, max, argmax; };

/* The tolerance for a weight type named in a file name ("f32", "q4_0", ...). */
struct oracle_tol oracle_tolerance(const char *type_name);

struct engine;

/* Teacher-force the open engine e through ref (its prompt, then its greedy
 * tokens but the last), print one line "  LABEL: rows, err median/max,
 * argmax, greedy" and CHECK the oracle's criteria for weight type `type`:
 * every row evaluated, median and max error, argmax agreement (one
 * near-tie row may differ), and for float types the first 8 greedy tokens.
 * The caller checks the prompt's tokenization. */
void oracle_check(struct engine *e, const struct oracle_ref *ref, const char *type, const char *label);

#endif
