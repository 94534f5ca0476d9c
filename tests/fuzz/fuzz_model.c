/* fuzz_model.c: libFuzzer target over model loading and a forward pass.
 * The input is written to a file (the loader maps files) and opened with a
 * small context; two tokens are evaluated when it loads. Every size in the
 * file is hostile here: nothing may crash, hang or read out of bounds.
 * Build and run with scripts/fuzz.sh. */
#include <stdio.h>
#include <unistd.h>

#include "engine/engine.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof path, "/dev/shm/tinyllm-fuzz-%d.gguf", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    struct engine e;
    struct engine_opts o = { .model_path = path, .n_ctx = 16, .n_threads = 1 };
    struct tl_error err = { 0 };
    if (engine_open(&e, &o, &err) == TL_OK) {
        int32_t tok[2] = { 1, 2 };
        engine_eval(&e, tok, 2, NULL, NULL, &err);
        engine_close(&e);
    }
    return 0;
}
