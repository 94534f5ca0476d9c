/* fuzz_api.c: libFuzzer target over the API handlers' request decoding
 * (and, for bodies that decode, generation): the first input byte picks a
 * POST route of the OpenAI, Ollama or llama.cpp table, the rest is the
 * body. The model is TINYLLM_FUZZ_MODEL (default models/stories260K.gguf)
 * with a 64-position context, so any generation ends quickly; answers go
 * to an in-memory sink. Checks that every request gets exactly one
 * complete answer. */
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

static struct server_opts opts;
static struct server srv;
static const struct route *routes[32];
static int n_routes = -1;

static void load(void)
{
    struct tl_error err = { 0 };
    const char *m = getenv("TINYLLM_FUZZ_MODEL");
    opts.eng.model_path = m && *m ? m : "models/stories260K.gguf";
    opts.eng.n_ctx = 64;
    opts.eng.n_threads = 1;
    opts.sp = sampler_defaults();
    opts.chat.template_name = "chatml";
    opts.n_predict = -1;
    srv.o = &opts;
    srv.model_name = "fuzz";
    if (engine_open(&srv.e, &opts.eng, &err))
        abort();   /* nothing to fuzz without the model */
    const struct route *tables[] = { openai_routes, ollama_routes, llamacpp_routes };
    n_routes = 0;
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (const struct route *r = tables[t]; r->path; r++)
            if (!strcmp(r->method, "POST") && n_routes < 32)
                routes[n_routes++] = r;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (n_routes < 0)
        load();
    if (size < 1)
        return 0;
    const struct route *r = routes[data[0] % n_routes];
    /* the parser hands handlers a NUL-terminated copy of the body */
    char *body = malloc(size);
    memcpy(body, data + 1, size - 1);
    body[size - 1] = 0;
    struct http_request req = { .method = "POST", .path = r->path, .query = "", .minor = 1, .body = body,
                                .body_len = size - 1, .keep_alive = true };
    struct json_buf sink = { 0 };
    struct http_out out = { .fd = -1, .timeout_ms = 1000, .sink = &sink, .keep_alive = true };
    r->fn(&srv, &req, &out);
    if (!out.started || out.chunked || out.failed)
        abort();   /* no answer, an unfinished stream, or a write that failed on a sink */
    json_buf_free(&sink);
    free(body);
    return 0;
}
