/* test.c: the harness behind test.h. */
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

struct test_state test_state;
static char tmpdir[256];   /* test_tmpdir's scratch directory, "" until made */

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

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

/* The scratch directory goes when every test passed; after a failure it
 * stays for a look, and the log says where. */
int test_finish(void)
{
    if (tmpdir[0] && strcmp(tmpdir, "/tmp") != 0) {
        if (test_state.n_fail)
            printf("scratch files kept in %s\n", tmpdir);
        else
            nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
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
    if (!tmpdir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/tinyllm-test-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(tmpdir))
            snprintf(tmpdir, sizeof tmpdir, "/tmp");
    }
    return tmpdir;
}

int test_count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

char *test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0, got;
    if (!f)
        return NULL;
    do {
        if (n + 4096 + 1 > cap) {
            char *nb = realloc(buf, cap = 2 * cap + 8192);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
    } while (got > 0);
    fclose(f);
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

int test_cli_run(struct test_cli *r, const char *in, const char *fmt, ...)
{
    char args[4096], cmd[8192], out[600], err[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(out, sizeof out, "%s/stdout", test_tmpdir());
    snprintf(err, sizeof err, "%s/stderr", test_tmpdir());
    if (in && in[0] && in[0] != '<')
        snprintf(cmd, sizeof cmd, "%s | %s %s >%s 2>%s", in, test_bin(), args, out, err);
    else
        snprintf(cmd, sizeof cmd, "%s %s %s >%s 2>%s", test_bin(), args, in ? in : "</dev/null", out, err);
    free(r->out);
    free(r->err);
    int st = system(cmd);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    r->out = test_read_file(out, &r->out_len);
    r->err = test_read_file(err, NULL);
    if (!r->out) {   /* the command did not even start: empty outputs */
        r->out = calloc(1, 1);
        r->out_len = 0;
    }
    if (!r->err)
        r->err = calloc(1, 1);
    return r->status;
}
