/* fuzz_llama2c.c: libFuzzer target over `tinyllm convert`'s reader: the
 * input is a llama2.c checkpoint and a tokenizer file (a little-endian u32
 * length of the checkpoint, the checkpoint, then the tokenizer), opened,
 * validated and, when accepted, written as a GGUF into memory. Errors are
 * fine; crashes, sanitizer reports and unbounded work are not. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/llama2c.h"

static int write_file(const char *path, const unsigned char *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(p, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static char ckpt[256], tok[256];
    if (!ckpt[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(ckpt, sizeof ckpt, "%s/fuzz-llama2c-%d.bin", t && *t ? t : "/tmp", (int)getpid());
        snprintf(tok, sizeof tok, "%s/fuzz-llama2c-%d.tok", t && *t ? t : "/tmp", (int)getpid());
    }
    if (size < 4)
        return 0;
    uint32_t n = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
    size_t rest = size - 4, nc = n < rest ? n : rest;
    if (write_file(ckpt, data + 4, nc) || write_file(tok, data + 4 + nc, rest - nc))
        return 0;
    struct llama2c m;
    struct tl_error err = { 0 };
    if (llama2c_open(&m, ckpt, tok, &err) == TL_OK) {
        struct gguf_writer w;
        void *buf = NULL;
        size_t len = 0;
        gguf_writer_init(&w);
        if (llama2c_add_to_gguf(&m, &w, &err) == TL_OK && gguf_writer_write_mem(&w, &buf, &len, &err) == TL_OK)
            free(buf);
        gguf_writer_free(&w);
        llama2c_close(&m);
    }
    return 0;
}
