/* test_api.c: the OpenAI, Ollama and llama.cpp handlers driven in-process:
 * exactness against `tinyllm run` (same prompt, seed and sampling: the
 * same bytes; chat as `run --chat`), stream framing, stop strings, lengths
 * and the full context, logprobs, prefix reuse, field checking (wrong
 * types and fields we do not implement are 400s naming the field), and the
 * read-only routes. Over the committed models/stories260K.gguf. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api_util.h"
#include "format/quant.h"
#include "model_builder.h"
#include "test.h"

#define MODEL "models/stories260K.gguf"

static struct api_server srv;

/* `tinyllm run` on MODEL with ARGS: its stdout. */
static char *run_text(const char *args)
{
    struct test_cli r = { 0 };
    test_cli_run(&r, NULL, "run -m %s -t 1 --quiet %s", MODEL, args);
    CHECK(r.status == 0, "run %s: %s", args, r.err);
    char *out = strdup(r.out ? r.out : "");
    free(r.out);
    free(r.err);
    return out;
}

/* POST body to path on a; the answer must be a 200. */
static void post_ok(struct api_server *a, const char *path, const char *body, struct api_resp *r)
{
    CHECK(api_call(a, "POST", path, body, r) == 200, "%s %s: %d %s", path, body, r->status, r->body);
}

/* The tests over MODEL skip, each by name, when it did not open. */
static void no_model(void)
{
    SKIP("%s not found", MODEL);
}
#define RUN_MODEL_TEST(fn) test_run(#fn, srv.open ? fn : no_model)

static void completions_match_run(void)
{
    static const struct { const char *run, *body; } cases[] = {
        { "-p 'Once upon a time' -n 40 --seed 7 --temp 0.8",
          "{\"prompt\":\"Once upon a time\",\"max_tokens\":40,\"seed\":7,\"temperature\":0.8}" },
        { "-p 'Once upon a time' -n 40 --temp 0",
          "{\"prompt\":\"Once upon a time\",\"max_tokens\":40,\"temperature\":0}" },
        { "-p 'The cat' -n 60 --seed 3 --temp 1.2 --top-p 0.9",
          "{\"prompt\":\"The cat\",\"max_tokens\":60,\"seed\":3,\"temperature\":1.2,\"top_p\":0.9}" },
        { "-p 'Once upon a time' -n 80 --seed 11 --temp 0.7 --stop ' the'",
          "{\"prompt\":\"Once upon a time\",\"max_tokens\":80,\"seed\":11,\"temperature\":0.7,\"stop\":\" the\"}" },
        { "-p 'Once upon a time' -n 60 --seed 5 --temp 0.8 --presence-penalty 0.6 --frequency-penalty 0.4",
          "{\"prompt\":\"Once upon a time\",\"max_tokens\":60,\"seed\":5,\"temperature\":0.8,"
          "\"presence_penalty\":0.6,\"frequency_penalty\":0.4}" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *want = run_text(cases[i].run);
        /* twice: the second reuses the cached prompt */
        for (int k = 0; k < 2; k++) {
            struct api_resp r;
            post_ok(&srv, "/v1/completions", cases[i].body, &r);
            CHECK(!strcmp(api_jstr(&r.json, "choices.0.text"), want), "case %zu try %d: '%s' vs run '%s'", i, k,
                  api_jstr(&r.json, "choices.0.text"), want);
            if (k == 1)
                CHECK(api_jint(&r.json, "usage.prompt_tokens_details.cached_tokens") > 0, "%s", r.body);
            api_resp_free(&r);
        }
        /* the same through llama.cpp's /completion and Ollama's raw generate */
        char body[512], *b = strstr(cases[i].body, "\"max_tokens\"");
        snprintf(body, sizeof body, "%.*s\"n_predict\"%s", (int)(b - cases[i].body), cases[i].body,
                 b + strlen("\"max_tokens\""));
        struct api_resp r;
        post_ok(&srv, "/completion", body, &r);
        CHECK(!strcmp(api_jstr(&r.json, "content"), want), "/completion case %zu: '%s' vs '%s'", i,
              api_jstr(&r.json, "content"), want);
        api_resp_free(&r);
        free(want);
    }
}

/* Random quantized models (the tests' builder): the server's text equals
 * run's, also when the second request evaluates only the prompt's last
 * token over the cached prefix (a one-row product where run used the
 * batched one). */
static void generated_models_match_run(void)
{
    static const struct { uint32_t type; const char *name; } types[] = {
        { TL_Q8_0, "q8_0" }, { TL_Q4_K, "q4_k" }, { TL_F16, "f16" },
    };
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        struct model_builder_config c;
        struct tl_error err = { 0 };
        char path[512], args[1024];
        model_builder_defaults(&c);
        c.wtype = types[t].type;
        c.seed = 5 + t;
        snprintf(path, sizeof path, "%s/api-%s.gguf", test_tmpdir(), types[t].name);
        CHECK(model_builder_write_file(&c, path, &err) == TL_OK, "%s", err.msg);
        struct api_server a;
        CHECK(api_server_open(&a, path, 0, "chatml") == TL_OK, "open %s", path);
        if (!a.open)
            continue;
        const char *prompts[] = { "hello world", "a b c d e f g h i j k l m n o p q r s t u v w x y z "
                                  "a b c d e f g h i j k l m n o p q r s t u v w x y z" };
        for (int p = 0; p < 2; p++) {
            struct test_cli r = { 0 };
            test_cli_run(&r, NULL, "run -m %s -t 1 --quiet -p '%s' -n 30 --seed 3 --temp 0.9", path, prompts[p]);
            CHECK(r.status == 0, "%s", r.err);
            snprintf(args, sizeof args, "{\"prompt\":\"%s\",\"max_tokens\":30,\"seed\":3,\"temperature\":0.9}",
                     prompts[p]);
            for (int k = 0; k < 2; k++) {
                struct api_resp resp;
                post_ok(&a, "/v1/completions", args, &resp);
                /* the JSON string is the text with broken UTF-8 as U+FFFD, as run prints it */
                CHECK(r.out && !strcmp(api_jstr(&resp.json, "choices.0.text"), r.out), "%s prompt %d try %d differs",
                      types[t].name, p, k);
                api_resp_free(&resp);
            }
            free(r.out);
            free(r.err);
        }
        api_server_close(&a);
    }
}

static void ollama_raw_matches_run(void)
{
    char *want = run_text("-p 'Once upon a time' -n 30 --seed 5 --temp 0.9 --top-k 20 --repeat-penalty 1.1");
    struct api_resp r;
    post_ok(&srv, "/api/generate", "{\"model\":\"x\",\"prompt\":\"Once upon a time\",\"raw\":true,"
            "\"stream\":false,\"options\":{\"num_predict\":30,\"seed\":5,\"temperature\":0.9,\"top_k\":20,"
            "\"repeat_penalty\":1.1}}", &r);
    CHECK(!strcmp(api_jstr(&r.json, "response"), want), "'%s' vs '%s'", api_jstr(&r.json, "response"), want);
    CHECK(api_jpath(&r.json, "done")->v.b, "done");
    CHECK(!strcmp(api_jstr(&r.json, "done_reason"), "length"), "%s", r.body);
    CHECK(api_jint(&r.json, "eval_count") == 30, "%s", r.body);
    CHECK(api_jint(&r.json, "prompt_eval_count") > 0 && api_jint(&r.json, "eval_duration") > 0, "%s", r.body);
    api_resp_free(&r);
    /* streamed: one JSON object per line, the pieces add up to the same text */
    post_ok(&srv, "/api/generate", "{\"model\":\"x\",\"prompt\":\"Once upon a time\",\"raw\":true,"
            "\"options\":{\"num_predict\":30,\"seed\":5,\"temperature\":0.9,\"top_k\":20,"
            "\"repeat_penalty\":1.1}}", &r);
    CHECK(strstr(r.head, "application/x-ndjson") != NULL, "%s", r.head);
    char text[4096] = "";
    int lines = 0, done = 0;
    for (char *line = strtok(r.body, "\n"); line; line = strtok(NULL, "\n")) {
        struct json_value v;
        CHECK(json_parse(line, strlen(line), &v, NULL) == 0, "line %d not JSON: %s", lines, line);
        strncat(text, api_jstr(&v, "response"), sizeof text - strlen(text) - 1);
        done += api_jpath(&v, "done") && api_jpath(&v, "done")->v.b;
        lines++;
        json_free(&v);
    }
    CHECK(done == 1 && !strcmp(text, want), "%d done, '%s' vs '%s'", done, text, want);
    api_resp_free(&r);
    free(want);
}

static void chat_matches_run_chat(void)
{
    char *want = run_text("--chat --chat-template chatml -p 'Tell me a story' -n 40 --seed 9 --temp 0.8");
    char *want_sys = run_text("--chat --chat-template chatml --system 'Be brief' -p 'Hi' -n 20 --temp 0");
    struct api_resp r;
    post_ok(&srv, "/v1/chat/completions", "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
            "\"content\":\"Tell me a story\"}],\"max_tokens\":40,\"seed\":9,\"temperature\":0.8}", &r);
    CHECK(!strcmp(api_jstr(&r.json, "choices.0.message.content"), want), "'%s' vs '%s'",
          api_jstr(&r.json, "choices.0.message.content"), want);
    CHECK(!strcmp(api_jstr(&r.json, "object"), "chat.completion") && !strncmp(api_jstr(&r.json, "id"), "chatcmpl-", 9),
          "%s", r.body);
    CHECK(!strcmp(api_jstr(&r.json, "choices.0.message.role"), "assistant"), "%s", r.body);
    api_resp_free(&r);
    /* a system message, content as text parts */
    post_ok(&srv, "/v1/chat/completions", "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief\"},"
            "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hi\"}]}],\"max_tokens\":20,"
            "\"temperature\":0}", &r);
    CHECK(!strcmp(api_jstr(&r.json, "choices.0.message.content"), want_sys), "'%s' vs '%s'",
          api_jstr(&r.json, "choices.0.message.content"), want_sys);
    api_resp_free(&r);
    /* Ollama's chat and generate (not raw) render the same conversation */
    post_ok(&srv, "/api/chat", "{\"model\":\"m\",\"stream\":false,\"messages\":[{\"role\":\"user\","
            "\"content\":\"Tell me a story\"}],\"options\":{\"num_predict\":40,\"seed\":9,\"temperature\":0.8}}",
            &r);
    CHECK(!strcmp(api_jstr(&r.json, "message.content"), want), "'%s' vs '%s'", api_jstr(&r.json, "message.content"), want);
    api_resp_free(&r);
    post_ok(&srv, "/api/generate", "{\"model\":\"m\",\"stream\":false,\"system\":\"Be brief\","
            "\"prompt\":\"Hi\",\"options\":{\"num_predict\":20,\"temperature\":0}}", &r);
    CHECK(!strcmp(api_jstr(&r.json, "response"), want_sys), "'%s' vs '%s'", api_jstr(&r.json, "response"), want_sys);
    api_resp_free(&r);
    free(want);
    free(want_sys);
}

/* Split an SSE body into its events' data; checks the framing. */
static int sse_events(char *body, char **ev, int cap)
{
    int n = 0;
    char *p = body;
    while (*p && n < cap) {
        CHECK(!strncmp(p, "data: ", 6), "event %d does not start with 'data: ': %.40s", n, p);
        char *end = strstr(p, "\n\n");
        CHECK(end != NULL, "event %d not ended by a blank line", n);
        if (!end)
            break;
        *end = 0;
        ev[n++] = p + 6;
        p = end + 2;
    }
    return n;
}

static void openai_stream_framing(void)
{
    struct api_resp whole, r;
    const char *req = "{\"messages\":[{\"role\":\"user\",\"content\":\"Once\"}],\"max_tokens\":25,\"seed\":4";
    char body[512];
    snprintf(body, sizeof body, "%s}", req);
    post_ok(&srv, "/v1/chat/completions", body, &whole);
    snprintf(body, sizeof body, "%s,\"stream\":true,\"stream_options\":{\"include_usage\":true}}", req);
    post_ok(&srv, "/v1/chat/completions", body, &r);
    CHECK(strstr(r.head, "text/event-stream") != NULL, "%s", r.head);
    char *ev[512], text[4096] = "";
    int n = sse_events(r.body, ev, 512), finishes = 0;
    CHECK(n >= 4 && !strcmp(ev[n - 1], "[DONE]"), "%d events, last '%s'", n, n ? ev[n - 1] : "");
    for (int i = 0; i + 1 < n; i++) {
        struct json_value v;
        CHECK(json_parse(ev[i], strlen(ev[i]), &v, NULL) == 0, "event %d: %s", i, ev[i]);
        CHECK(!strcmp(api_jstr(&v, "object"), "chat.completion.chunk"), "%s", ev[i]);
        if (i == 0)
            CHECK(!strcmp(api_jstr(&v, "choices.0.delta.role"), "assistant"), "first delta has the role: %s", ev[i]);
        if (i == n - 2) {   /* the usage chunk */
            CHECK(api_jpath(&v, "choices")->v.arr.n == 0, "%s", ev[i]);
            CHECK(api_jint(&v, "usage.completion_tokens") == api_jint(&whole.json, "usage.completion_tokens"),
                  "%s", ev[i]);
        } else {
            const struct json_value *f = api_jpath(&v, "choices.0.finish_reason");
            finishes += f && f->type == JSON_STRING;
            strncat(text, api_jstr(&v, "choices.0.delta.content"), sizeof text - strlen(text) - 1);
        }
        json_free(&v);
    }
    CHECK(finishes == 1, "one chunk with finish_reason, got %d", finishes);
    CHECK(!strcmp(text, api_jstr(&whole.json, "choices.0.message.content")), "stream '%s' vs whole '%s'", text,
          api_jstr(&whole.json, "choices.0.message.content"));
    api_resp_free(&r);
    api_resp_free(&whole);
    /* completions stream, no usage; llama.cpp's stream has no [DONE] */
    post_ok(&srv, "/v1/completions", "{\"prompt\":\"Once\",\"max_tokens\":10,\"stream\":true}", &r);
    n = sse_events(r.body, ev, 512);
    CHECK(n >= 3 && !strcmp(ev[n - 1], "[DONE]") && strstr(ev[n - 2], "\"finish_reason\":\"length\""), "%s",
          n > 1 ? ev[n - 2] : "");
    CHECK(!strstr(ev[0], "usage"), "no usage without include_usage");
    api_resp_free(&r);
    post_ok(&srv, "/completion", "{\"prompt\":\"Once\",\"n_predict\":10,\"stream\":true}", &r);
    n = sse_events(r.body, ev, 512);
    CHECK(n >= 2 && strstr(ev[n - 1], "\"stop\":true") && !strstr(r.body, "[DONE]"), "%s", n ? ev[n - 1] : "");
    CHECK(strstr(ev[n - 1], "\"stop_type\":\"limit\"") && strstr(ev[n - 1], "\"timings\""), "%s", ev[n - 1]);
    api_resp_free(&r);
}

static void lengths_and_full_context(void)
{
    struct api_server small;
    CHECK(api_server_open(&small, MODEL, 32, "chatml") == TL_OK, "open");
    struct api_resp r;
    post_ok(&small, "/v1/completions", "{\"prompt\":\"Once upon a time\",\"max_tokens\":1000}", &r);
    CHECK(!strcmp(api_jstr(&r.json, "choices.0.finish_reason"), "length"), "%s", r.body);
    /* as `run`: the token sampled when the cache is full needs no room */
    CHECK(api_jint(&r.json, "usage.total_tokens") == 33, "the context is full at 32: %s", r.body);
    api_resp_free(&r);
    char prompt[600] = "{\"prompt\":\"";
    for (int i = 0; i < 40; i++)
        strcat(prompt, "one two ");
    strcat(prompt, "\"}");
    CHECK(api_call(&small, "POST", "/v1/completions", prompt, &r) == 400, "%s", r.body);
    CHECK(strstr(api_jstr(&r.json, "error.message"), "context holds 32") != NULL, "%s", r.body);
    CHECK(!strcmp(api_jstr(&r.json, "error.code"), "context_length_exceeded"), "%s", r.body);
    api_resp_free(&r);
    CHECK(api_call(&small, "POST", "/api/generate", "{\"prompt\":\"Hi\",\"options\":{\"num_ctx\":4096}}", &r) == 400,
          "num_ctx above the server's: %s", r.body);
    CHECK(strstr(api_jstr(&r.json, "error"), "num_ctx") != NULL, "%s", r.body);
    api_resp_free(&r);
    api_server_close(&small);
    post_ok(&srv, "/v1/completions", "{\"prompt\":\"Once\",\"max_tokens\":5,\"temperature\":0}", &r);
    CHECK(api_jint(&r.json, "usage.completion_tokens") == 5, "%s", r.body);
    CHECK(!strcmp(api_jstr(&r.json, "choices.0.finish_reason"), "length"), "%s", r.body);
    api_resp_free(&r);
}

static void logprobs_are_log_softmax(void)
{
    struct api_resp r;
    post_ok(&srv, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
            "\"max_tokens\":8,\"temperature\":0,\"logprobs\":true,\"top_logprobs\":3}", &r);
    const struct json_value *c = api_jpath(&r.json, "choices.0.logprobs.content");
    CHECK(c && c->type == JSON_ARRAY && c->v.arr.n > 0, "%s", r.body);
    for (size_t i = 0; c && i < c->v.arr.n; i++) {
        const struct json_value *e = &c->v.arr.items[i], *top = api_jpath(e, "top_logprobs");
        double lp = api_jpath(e, "logprob")->v.f, sum = 0;
        CHECK(lp <= 0 && top && top->v.arr.n == 3, "entry %zu", i);
        /* greedy: the token taken is the most likely one */
        CHECK(fabs(api_jpath(top, "0.logprob")->v.f - lp) < 1e-6, "entry %zu: %g vs best %g", i, lp,
              api_jpath(top, "0.logprob")->v.f);
        for (size_t k = 0; top && k < top->v.arr.n; k++)
            sum += exp(api_jpath(&top->v.arr.items[k], "logprob")->v.f);
        CHECK(sum <= 1.0 + 1e-5, "probabilities add up to at most 1: %g", sum);
    }
    api_resp_free(&r);
    /* the legacy object of completions, with the prompt echoed */
    post_ok(&srv, "/v1/completions", "{\"prompt\":\"Once upon\",\"max_tokens\":4,\"temperature\":0,"
            "\"logprobs\":2,\"echo\":true}", &r);
    const struct json_value *t = api_jpath(&r.json, "choices.0.logprobs.tokens"),
                            *l = api_jpath(&r.json, "choices.0.logprobs.token_logprobs"),
                            *o = api_jpath(&r.json, "choices.0.logprobs.text_offset");
    CHECK(t && l && o && t->v.arr.n == l->v.arr.n && t->v.arr.n == o->v.arr.n && t->v.arr.n >= 5, "%s", r.body);
    CHECK(l && l->v.arr.items[0].type == JSON_NULL, "the first prompt token has no logprob");
    CHECK(!strncmp(api_jstr(&r.json, "choices.0.text"), "Once upon", 9), "echo: %s", r.body);
    api_resp_free(&r);
    post_ok(&srv, "/completion", "{\"prompt\":\"Once\",\"n_predict\":3,\"temperature\":0,\"n_probs\":2}", &r);
    CHECK(api_jpath(&r.json, "completion_probabilities.2.top_logprobs.1.logprob") != NULL, "%s", r.body);
    api_resp_free(&r);
}

/* The logprobs reported are log-softmax of the logits the model gives for
 * the prompt, computed here on an engine of our own. */
static void logprobs_match_the_logits(void)
{
    struct engine e;
    struct engine_opts eo = { .model_path = MODEL, .n_threads = 1 };
    struct tl_error err = { 0 };
    int32_t *ids = NULL;
    int n = 0;
    CHECK(engine_open(&e, &eo, &err) == TL_OK, "%s", err.msg);
    CHECK(tokenizer_encode(&e.tok, "Once upon a time", 16, true, true, &ids, &n, &err) == TL_OK, "%s", err.msg);
    CHECK(engine_eval(&e, ids, n, NULL, NULL, &err) == TL_OK, "%s", err.msg);
    const float *l = engine_last_logits(&e);
    int nv = e.model.hp.n_vocab, best = argmax(l, nv);
    double mx = l[best], sum = 0;
    for (int i = 0; i < nv; i++)
        sum += exp(l[i] - mx);
    double want = l[best] - mx - log(sum);
    struct api_resp r;
    post_ok(&srv, "/completion", "{\"prompt\":\"Once upon a time\",\"n_predict\":1,"
            "\"temperature\":0,\"n_probs\":1}", &r);
    const struct json_value *lp = api_jpath(&r.json, "completion_probabilities.0.logprob");
    CHECK(lp && lp->type == JSON_FLOAT && fabs(lp->v.f - want) < 1e-5, "%g vs %g", lp ? lp->v.f : 0.0, want);
    CHECK(api_jint(&r.json, "completion_probabilities.0.id") == best, "%s", r.body);
    api_resp_free(&r);
    free(ids);
    engine_close(&e);
}

/* A stopping server or a client that went away ends the generation after
 * the token in flight; the next request is served as usual. */
static void generation_stops_when_asked(void)
{
    struct api_resp r;
    atomic_store(&srv.s.stopping, true);
    post_ok(&srv, "/v1/completions", "{\"prompt\":\"Once\",\"max_tokens\":100,\"temperature\":0}", &r);
    CHECK(api_jint(&r.json, "usage.completion_tokens") == 1, "%s", r.body);
    CHECK(!strcmp(api_jstr(&r.json, "choices.0.finish_reason"), "length"), "%s", r.body);
    api_resp_free(&r);
    atomic_store(&srv.s.stopping, false);
    /* the peer is gone before the first chunk: the stream head fails, nothing is generated past it */
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
    close(sv[1]);
    static const char body[] = "{\"prompt\":\"Once\",\"n_predict\":100,\"temperature\":0,\"stream\":true}";
    struct http_request req = { .method = "POST", .path = "/completion", .query = "", .minor = 1, .body = body,
                                .body_len = sizeof body - 1 };
    struct http_out out = { .fd = sv[0], .timeout_ms = 1000 };
    llamacpp_routes[0].fn(&srv.s, &req, &out);
    CHECK(out.failed && out.n_gen <= 1, "failed %d, %d tokens", out.failed, out.n_gen);
    close(sv[0]);
    post_ok(&srv, "/completion", "{\"prompt\":\"Once\",\"n_predict\":7,\"stop\":[\"zzz\"]}", &r);
    CHECK(api_jint(&r.json, "tokens_predicted") == 7 && !strcmp(api_jstr(&r.json, "stop_type"), "limit"), "%s", r.body);
    api_resp_free(&r);
}

/* A stop string cuts the text before it: llama.cpp reports which. */
static void stop_words(void)
{
    char *want = run_text("-p 'Once upon a time' -n 60 --temp 0 --stop Lily --stop tree");
    struct api_resp r;
    post_ok(&srv, "/completion", "{\"prompt\":\"Once upon a time\",\"n_predict\":60,"
            "\"temperature\":0,\"stop\":[\"Lily\",\"tree\"]}", &r);
    CHECK(!strcmp(api_jstr(&r.json, "content"), want), "'%s' vs '%s'", api_jstr(&r.json, "content"), want);
    CHECK(!strcmp(api_jstr(&r.json, "stop_type"), "word") && *api_jstr(&r.json, "stopping_word"), "%s", r.body);
    api_resp_free(&r);
    post_ok(&srv, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
            "\"temperature\":0,\"max_tokens\":60,\"stop\":\"e\",\"stream\":true}", &r);
    CHECK(strstr(r.body, "\"finish_reason\":\"stop\"") && !strstr(r.body, "\"content\":\"e"), "%s", r.body);
    api_resp_free(&r);
    free(want);
}

/* The penalties reach the sampler: greedy text with a strong frequency
 * or presence penalty differs from greedy text without. */
static void penalties_are_applied(void)
{
    static const char *const bodies[] = {
        "{\"prompt\":\"Once upon a time\",\"max_tokens\":60,\"temperature\":0}",
        "{\"prompt\":\"Once upon a time\",\"max_tokens\":60,\"temperature\":0,\"frequency_penalty\":2}",
        "{\"prompt\":\"Once upon a time\",\"max_tokens\":60,\"temperature\":0,\"presence_penalty\":2}",
    };
    char text[3][4096];
    for (int i = 0; i < 3; i++) {
        struct api_resp r;
        post_ok(&srv, "/v1/completions", bodies[i], &r);
        snprintf(text[i], sizeof text[i], "%s", api_jstr(&r.json, "choices.0.text"));
        api_resp_free(&r);
    }
    CHECK(strcmp(text[0], text[1]) && strcmp(text[0], text[2]), "'%s' / '%s' / '%s'", text[0], text[1], text[2]);
}

/* Each body must be a 400 whose message names field. */
static void refused(const char *path, const char *body, const char *field)
{
    struct api_resp r;
    CHECK(api_call(&srv, "POST", path, body, &r) == 400, "%s %s: %d %s", path, body, r.status, r.body);
    CHECK(strstr(r.body, field) != NULL, "%s %s: '%s' not named: %s", path, body, field, r.body);
    api_resp_free(&r);
}

static void bad_requests_are_400s(void)
{
    static const struct { const char *path, *body, *field; } bad[] = {
        { "/v1/completions", "{\"prompt\":", "JSON" },
        { "/v1/completions", "[1,2]", "object" },
        { "/v1/completions", "{\"prompt\":\"x\",\"temperature\":\"hot\"}", "temperature" },
        { "/v1/completions", "{\"prompt\":\"x\",\"max_tokens\":1.5}", "max_tokens" },
        { "/v1/completions", "{\"prompt\":\"x\",\"n\":2}", "'n'" },
        { "/v1/completions", "{\"prompt\":\"x\",\"logit_bias\":{\"5\":1}}", "logit_bias" },
        { "/v1/completions", "{\"prompt\":[1,99999]}", "prompt[1]" },
        { "/v1/completions", "{}", "prompt" },
        { "/v1/completions", "{\"prompt\":\"x\",\"stop\":[1]}", "stop" },
        { "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":"
          "\"function\"}]}", "tools" },
        { "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":"
          "{\"type\":\"json_object\"}}", "response_format" },
        { "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}",
          "messages[0].content" },
        { "/v1/chat/completions", "{\"messages\":[]}", "messages" },
        { "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_logprobs\":2}",
          "top_logprobs" },
        { "/api/generate", "{\"prompt\":\"x\",\"format\":\"json\"}", "format" },
        { "/api/generate", "{\"prompt\":\"x\",\"template\":\"{{ .Prompt }}\"}", "template" },
        { "/api/generate", "{\"prompt\":\"x\",\"options\":{\"top_k\":\"many\"}}", "options.top_k" },
        { "/api/chat", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"images\":[\"AAAA\"]}]}", "images" },
        { "/completion", "{\"prompt\":\"x\",\"grammar\":\"root ::= \\\"a\\\"\"}", "grammar" },
        { "/completion", "{\"prompt\":\"x\",\"n_probs\":-1}", "n_probs" },
        { "/tokenize", "{\"content\":5}", "content" },
        { "/detokenize", "{\"tokens\":[\"a\"]}", "tokens[0]" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        refused(bad[i].path, bad[i].body, bad[i].field);
    /* the error shapes: OpenAI's object, Ollama's string, llama.cpp's object with a code */
    struct api_resp r;
    api_call(&srv, "POST", "/v1/completions", "{\"prompt\":\"x\",\"n\":3}", &r);
    CHECK(!strcmp(api_jstr(&r.json, "error.type"), "invalid_request_error") && !strcmp(api_jstr(&r.json, "error.param"), "n"),
          "%s", r.body);
    api_resp_free(&r);
    api_call(&srv, "POST", "/api/generate", "{\"prompt\":\"x\",\"format\":\"json\"}", &r);
    CHECK(api_jpath(&r.json, "error") && api_jpath(&r.json, "error")->type == JSON_STRING, "%s", r.body);
    api_resp_free(&r);
    api_call(&srv, "POST", "/completion", "{\"prompt\":3}", &r);
    CHECK(api_jint(&r.json, "error.code") == 400, "%s", r.body);
    api_resp_free(&r);
}

static void read_only_routes(void)
{
    struct api_resp r;
    post_ok(&srv, "/tokenize", "{\"content\":\"Once upon a time\",\"add_special\":true}", &r);
    const struct json_value *t = api_jpath(&r.json, "tokens");
    CHECK(t && t->v.arr.n >= 2 && api_jint(t, "0") == 1, "BOS first: %s", r.body);
    char body[512] = "{\"tokens\":[";
    for (size_t i = 1; t && i < t->v.arr.n; i++)
        snprintf(body + strlen(body), sizeof body - strlen(body), "%s%lld", i > 1 ? "," : "", (long long)t->v.arr.items[i].v.i);
    strcat(body, "]}");
    api_resp_free(&r);
    post_ok(&srv, "/detokenize", body, &r);
    CHECK(!strcmp(api_jstr(&r.json, "content"), " Once upon a time"), "%s", r.body);
    api_resp_free(&r);
    post_ok(&srv, "/tokenize", "{\"content\":\"hi\",\"with_pieces\":true}", &r);
    CHECK(api_jpath(&r.json, "tokens.0.piece") != NULL && api_jint(&r.json, "tokens.0.id") >= 0, "%s", r.body);
    api_resp_free(&r);
    CHECK(api_call(&srv, "GET", "/v1/models", NULL, &r) == 200 && !strcmp(api_jstr(&r.json, "data.0.id"), "test-model"),
          "%s", r.body);
    api_resp_free(&r);
    CHECK(api_call(&srv, "GET", "/api/tags", NULL, &r) == 200, "%s", r.body);
    CHECK(!strcmp(api_jstr(&r.json, "models.0.details.format"), "gguf") &&
          !strcmp(api_jstr(&r.json, "models.0.details.family"), "llama") &&
          !strcmp(api_jstr(&r.json, "models.0.details.quantization_level"), "F32"), "%s", r.body);
    api_resp_free(&r);
    post_ok(&srv, "/api/show", "{\"model\":\"test-model\"}", &r);
    CHECK(strstr(r.body, "\"general.architecture\":\"llama\"") && strstr(r.body, "\"llama.context_length\":512"), "%s",
          r.body);
    api_resp_free(&r);
    CHECK(api_call(&srv, "GET", "/api/version", NULL, &r) == 200 && *api_jstr(&r.json, "version"), "%s", r.body);
    api_resp_free(&r);
    post_ok(&srv, "/api/generate", "{\"model\":\"m\"}", &r);
    CHECK(!strcmp(api_jstr(&r.json, "done_reason"), "load"), "no prompt: the model is loaded: %s", r.body);
    api_resp_free(&r);
}

int main(void)
{
    if (api_server_open(&srv, MODEL, 0, "chatml"))
        srv.open = false;
    RUN_MODEL_TEST(completions_match_run);
    RUN_TEST(generated_models_match_run);
    RUN_MODEL_TEST(ollama_raw_matches_run);
    RUN_MODEL_TEST(chat_matches_run_chat);
    RUN_MODEL_TEST(openai_stream_framing);
    RUN_MODEL_TEST(lengths_and_full_context);
    RUN_MODEL_TEST(logprobs_are_log_softmax);
    RUN_MODEL_TEST(logprobs_match_the_logits);
    RUN_MODEL_TEST(generation_stops_when_asked);
    RUN_MODEL_TEST(stop_words);
    RUN_MODEL_TEST(penalties_are_applied);
    RUN_MODEL_TEST(bad_requests_are_400s);
    RUN_MODEL_TEST(read_only_routes);
    api_server_close(&srv);
    return test_finish();
}
