/* test.h: the suite's tiny harness. A test is a void function; CHECK records
 * a failure with file:line and carries on; SKIP ends the test as skipped.
 * Each test binary's main runs its tests with RUN_TEST and returns
 * test_finish(), which prints the "counts P F S" line run_tests.sh reads. */
#ifndef TINYLLM_TEST_H
#define TINYLLM_TEST_H

#include <stddef.h>
#include <stdio.h>

struct test_state {
    const char *name;   /* running test */
    int failed;         /* checks failed in it */
    int skipped;        /* 1 once SKIP was called */
    int n_pass, n_fail, n_skip;
};
extern struct test_state test_state;

#define CHECK(cond, ...) do { if (!(cond)) { \
    test_state.failed++; \
    printf("  %s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
    printf(__VA_ARGS__); printf("\n"); } } while (0)

/* Skip the rest of the running test, saying why. */
#define SKIP(...) do { test_state.skipped = 1; \
    printf("SKIP %s: ", test_state.name); printf(__VA_ARGS__); printf("\n"); \
    return; } while (0)

#define RUN_TEST(fn) test_run(#fn, fn)

void test_run(const char *name, void (*fn)(void));
int  test_finish(void);

/* ../shared relative to the repo root (tests run from there), or
 * $TINYLLM_SHARED; NULL when absent. */
const char *test_shared_dir(void);

/* Path of the tinyllm binary under test ($TINYLLM_BIN or ./tinyllm). */
const char *test_bin(void);

/* A fresh scratch directory for this test binary (under $TMPDIR), created once. */
const char *test_tmpdir(void);

/* The whole file, NUL-terminated, in a malloc'd buffer (*len its length if
 * len is not NULL); NULL if it cannot be read. */
char *test_read_file(const char *path, size_t *len);

/* Newlines in s. */
int test_count_lines(const char *s);

/* The outcome of one run of the binary under test: exit status (128 when
 * it did not exit normally), stdout and stderr (malloc'd, NUL-terminated;
 * freed by the next test_cli_run on the same record). */
struct test_cli { int status; char *out, *err; size_t out_len; };

/* Run `tinyllm ARGS` (ARGS from fmt) through sh with stdout and stderr to
 * files, so neither is a terminal. stdin comes from `in`: NULL for
 * /dev/null, a redirection ("<file"), "" when ARGS redirect it themselves,
 * or a pipeline that feeds it ("printf x"). Fills *r and returns the exit
 * status. */
int test_cli_run(struct test_cli *r, const char *in, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
