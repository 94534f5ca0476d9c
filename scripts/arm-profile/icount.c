/* icount.c: a qemu-user TCG plugin that counts the guest instructions a
 * program executes, for scripts/arm-profile.sh.
 *
 *   qemu-aarch64 -plugin icount.so,out=FILE[,top=N] PROGRAM ARGS...
 *
 * FILE gets, when the guest exits:
 *   total N          guest instructions executed (all threads)
 *   threads K        guest threads (vCPUs) that started
 *   block R PC SYMBOL LEN RUNS SHARE%      (top=N: the N translation blocks
 *   code HEX HEX ...                        that executed the most instructions,
 *                                           with their instruction words)
 *
 * How: every translated block gets one inline "add 1 to this block's run
 * count" op; at exit instructions = sum over blocks of runs x length. With
 * one guest thread that is exact; with several the inline adds may race
 * (the script runs one). qemu-user ships no plugin header, so the few entry
 * points used are declared here after docs/devel/tcg-plugins.rst, at plugin
 * API version 1 (what qemu 7.2 accepts; later versions keep these calls).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API __attribute__((visibility("default")))

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef struct {
    const char *target_name;
    struct { int min, cur; } version;
    bool system_emulation;
    union { struct { int smp_vcpus, max_vcpus; } system; };
} qemu_info_t;
enum { QEMU_PLUGIN_INLINE_ADD_U64 = 0 };

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t,
                                           void (*)(qemu_plugin_id_t, struct qemu_plugin_tb *));
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *, int op, void *ptr, uint64_t imm);
void qemu_plugin_register_vcpu_init_cb(qemu_plugin_id_t, void (*)(qemu_plugin_id_t, unsigned int));
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t, void (*)(qemu_plugin_id_t, void *), void *);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *, size_t);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *);
const char *qemu_plugin_insn_symbol(const struct qemu_plugin_insn *);

API int qemu_plugin_version = 1;

/* One per translation: a block qemu translates again (after a flush) gets
 * a second record, merged with the first by (pc, len) when printing. */
struct tb_rec {
    uint64_t runs;      /* bumped by the inline op: keep it first and aligned */
    uint64_t pc;
    uint32_t len;
    const char *sym;
    uint32_t code[];
};

static struct tb_rec **recs;
static size_t n_recs, cap_recs;
static pthread_mutex_t recs_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned threads;
static const char *out_file;
static long top_n;

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t len = qemu_plugin_tb_n_insns(tb);
    struct tb_rec *r = calloc(1, sizeof *r + (top_n ? len : 0) * sizeof(uint32_t));
    if (!r)
        abort();
    r->pc = qemu_plugin_tb_vaddr(tb);
    r->len = (uint32_t)len;
    for (size_t i = 0; top_n && i < len; i++) {
        const struct qemu_plugin_insn *in = qemu_plugin_tb_get_insn(tb, i);
        if (!i)
            r->sym = qemu_plugin_insn_symbol(in);
        if (qemu_plugin_insn_size(in) == sizeof(uint32_t))
            memcpy(&r->code[i], qemu_plugin_insn_data(in), sizeof(uint32_t));
    }
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &r->runs, 1);
    pthread_mutex_lock(&recs_mu);
    if (n_recs == cap_recs) {
        cap_recs = cap_recs ? cap_recs * 2 : 8192;
        recs = realloc(recs, cap_recs * sizeof *recs);
        if (!recs)
            abort();
    }
    recs[n_recs++] = r;
    pthread_mutex_unlock(&recs_mu);
}

static void on_thread(qemu_plugin_id_t id, unsigned int vcpu)
{
    (void)id; (void)vcpu;
    __atomic_add_fetch(&threads, 1, __ATOMIC_RELAXED);
}

static int cmp_pc(const void *a, const void *b)
{
    const struct tb_rec *x = *(struct tb_rec *const *)a, *y = *(struct tb_rec *const *)b;
    if (x->pc != y->pc)
        return x->pc < y->pc ? -1 : 1;
    return (x->len > y->len) - (x->len < y->len);
}

static int cmp_weight(const void *a, const void *b)
{
    const struct tb_rec *x = *(struct tb_rec *const *)a, *y = *(struct tb_rec *const *)b;
    uint64_t wx = x->runs * x->len, wy = y->runs * y->len;
    return (wx < wy) - (wx > wy);
}

static void on_exit_guest(qemu_plugin_id_t id, void *unused)
{
    (void)id; (void)unused;
    uint64_t total = 0;
    for (size_t i = 0; i < n_recs; i++)
        total += recs[i]->runs * recs[i]->len;
    FILE *f = out_file ? fopen(out_file, "w") : stderr;
    if (!f) {
        fprintf(stderr, "icount: cannot write %s\n", out_file);
        f = stderr;
    }
    fprintf(f, "total %llu\nthreads %u\n", (unsigned long long)total, threads);
    if (top_n) {
        qsort(recs, n_recs, sizeof *recs, cmp_pc);
        size_t m = 0;
        for (size_t i = 0; i < n_recs; i++) {
            if (m && recs[m - 1]->pc == recs[i]->pc && recs[m - 1]->len == recs[i]->len)
                recs[m - 1]->runs += recs[i]->runs;
            else
                recs[m++] = recs[i];
        }
        qsort(recs, m, sizeof *recs, cmp_weight);
        for (size_t i = 0; i < m && (long)i < top_n && recs[i]->runs; i++) {
            const struct tb_rec *r = recs[i];
            fprintf(f, "block %zu 0x%llx %s %u %llu %.3f%%\ncode", i + 1, (unsigned long long)r->pc,
                    r->sym ? r->sym : "?", r->len, (unsigned long long)r->runs,
                    total ? 100.0 * (double)(r->runs * r->len) / (double)total : 0.0);
            for (uint32_t j = 0; j < r->len; j++)
                fprintf(f, " %08x", r->code[j]);
            fputc('\n', f);
        }
    }
    if (f != stderr)
        fclose(f);
}

API int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (!strncmp(argv[i], "out=", 4)) {
            out_file = argv[i] + 4;
        } else if (!strncmp(argv[i], "top=", 4)) {
            top_n = strtol(argv[i] + 4, NULL, 10);
        } else {
            fprintf(stderr, "icount: unknown option %s (out=FILE, top=N)\n", argv[i]);
            return -1;
        }
    }
    if (out_file)
        out_file = strdup(out_file);   /* argv is not ours to keep */
    qemu_plugin_register_vcpu_init_cb(id, on_thread);
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_exit_guest, NULL);
    return 0;
}
