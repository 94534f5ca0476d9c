/* test.c: the harness behind test.h. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

struct test_state test_state;

void test_run(const char *name, void (*fn)(void))
{
    test_state.name = name;
    test_state.failed = 0;
    test_state.skipped = 0;
    fflush(stdout);
    fn();
    if (test_state.failed) {
        printf("FAIL %s (%d checks)\n", name, test_state.failed);
        test_state.n_fail++;
    } else if (test_state.skipped) {
        test_state.n_skip++;
    } else {
        printf("PASS %s\n", name);
        test_state.n_pass++;
    }
    fflush(stdout);
}

int test_finish(void)
{
    printf("counts %d %d %d\n", test_state.n_pass, test_state.n_fail, test_state.n_skip);
    return test_state.n_fail ? 1 : 0;
}

const char *test_shared_dir(void)
{
    const char *env = getenv("TINYLLM_SHARED");
    const char *dir = env && *env ? env : "../shared";
    struct stat st;
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return dir;
    return NULL;
}

const char *test_bin(void)
{
    const char *env = getenv("TINYLLM_BIN");
    return env && *env ? env : "./tinyllm";
}

const char *test_tmpdir(void)
{
    static char dir[256];
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/tinyllm-test-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(dir))
            snprintf(dir, sizeof dir, "/tmp");
    }
    return dir;
}
