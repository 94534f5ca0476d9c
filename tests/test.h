/* test.h: the suite's tiny harness. A test is a void function; CHECK records
 * a failure with file:line and carries on; SKIP ends the test as skipped.
 * Each test binary's main runs its tests with RUN_TEST and returns
 * test_finish(), which prints the "counts P F S" line run_tests.sh reads. */
#ifndef TINYLLM_TEST_H
#define TINYLLM_TEST_H

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

#endif
