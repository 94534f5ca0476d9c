/* test_chat.c: conversations over the KV cache: piped chat answers each
 * line, the cache is reused between turns (only the new turn is
 * evaluated, with the same logits as a fresh evaluation), full contexts
 * drop the oldest turns, and `run --chat` renders the template. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "chat/chat.h"
#include "model_builder.h"
#include "format/quant.h"
#include "test.h"

static char model[512];

static int sh(const char *cmd, char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    size_t n = p ? fread(out, 1, cap - 1, p) : 0;
    out[n] = 0;
    int st = p ? pclose(p) : -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void piped_chat_answers_each_line(void)
{
    char cmd[2048], out[1 << 15];
    snprintf(cmd, sizeof cmd, "printf 'Hi\\nWhat is 2+2?\\n' | %s chat -m %s -n 6 --temp 0 2>/dev/null", test_bin(), model);
    CHECK(sh(cmd, out, sizeof out) == 0, "exit status");
    CHECK(test_count_lines(out) == 2, "two answers, one line each: '%s'", out);
    snprintf(cmd, sizeof cmd, "printf 'Hi\\n/exit\\nnot read\\n' | %s chat -m %s -n 4 --temp 0 2>/dev/null", test_bin(), model);
    CHECK(sh(cmd, out, sizeof out) == 0 && test_count_lines(out) == 1, "/exit ends: '%s'", out);
    snprintf(cmd, sizeof cmd, "%s chat -m %s --bogus 2>/dev/null </dev/null", test_bin(), model);
    CHECK(sh(cmd, out, sizeof out) == 2, "usage error exits 2");
    snprintf(cmd, sizeof cmd, "printf 'one two three four five\\nsix seven\\nmore words here\\n' | "
             "%s chat -m %s -c 128 -n 8 --temp 0 2>&1 >/dev/null", test_bin(), model);
    CHECK(sh(cmd, out, sizeof out) == 0, "small context still exits 0");
    CHECK(strstr(out, "dropped") != NULL, "oldest turns dropped with a notice: '%s'", out);
}

static void cache_reused_between_turns(void)
{
    struct engine e;
    struct engine_opts o = { .model_path = model, .n_ctx = 256, .n_threads = 1 };
    struct tl_error err = { 0 };
    CHECK(engine_open(&e, &o, &err) == TL_OK, "open: %s", err.msg);
    struct chat c;
    struct chat_opts co = { .template_name = "chatml", .system = "be brief" };
    CHECK(chat_init(&c, &e, &co, &err) == TL_OK, "init: %s", err.msg);
    int dropped;
    chat_add(&c, "user", "the cat", &err);
    CHECK(chat_prepare(&c, 16, &dropped, &err) == TL_OK, "prepare: %s", err.msg);
    int after_first = e.st.n_past;
    chat_feed(&c, 300, &err);
    chat_feed(&c, 301, &err);
    chat_add(&c, "assistant", "sat", &err);
    chat_add(&c, "user", "on the mat", &err);
    CHECK(chat_prepare(&c, 16, &dropped, &err) == TL_OK, "prepare 2: %s", err.msg);
    int nv = e.model.hp.n_vocab, n_total = e.st.n_past;
    float *incremental = malloc((size_t)nv * sizeof *incremental);
    memcpy(incremental, engine_last_logits(&e), (size_t)nv * sizeof *incremental);
    CHECK(n_total > after_first, "the second turn extends the cache");
    /* the same conversation from an empty cache gives the same logits */
    e.st.n_past = 0;
    CHECK(chat_prepare(&c, 16, &dropped, &err) == TL_OK, "fresh prepare: %s", err.msg);
    CHECK(e.st.n_past == n_total, "same length");
    double worst = 0;
    for (int i = 0; i < nv; i++) {
        double d = incremental[i] - engine_last_logits(&e)[i];
        worst = d > worst ? d : -d > worst ? -d : worst;
    }
    CHECK(worst < 1e-4, "incremental turns match a fresh evaluation (%.3g)", worst);
    free(incremental);
    chat_free(&c);
    engine_close(&e);
}

static void run_chat_renders_template(void)
{
    char cmd[2048], out[1 << 15];
    snprintf(cmd, sizeof cmd, "%s run --chat --chat-template chatml --system S -m %s -p hello -n 0 -v 2>&1 >/dev/null",
             test_bin(), model);
    CHECK(sh(cmd, out, sizeof out) == 0, "exit: %s", out);
    CHECK(strstr(out, "chatml") != NULL, "-v names the template: %s", out);
    snprintf(cmd, sizeof cmd, "%s run --system S -m %s -p hello -n 0 2>&1", test_bin(), model);
    CHECK(sh(cmd, out, sizeof out) == 2, "--system without --chat is a usage error");
    snprintf(cmd, sizeof cmd, "%s run --chat --chat-template nosuch -m %s -p hello -n 0 2>&1", test_bin(), model);
    CHECK(sh(cmd, out, sizeof out) != 0 && strstr(out, "nosuch"), "unknown template named: %s", out);
}

int main(void)
{
    model_builder_tmp_file(TL_Q8_0, "chat.gguf", model, sizeof model);
    RUN_TEST(piped_chat_answers_each_line);
    RUN_TEST(cache_reused_between_turns);
    RUN_TEST(run_chat_renders_template);
    return test_finish();
}
