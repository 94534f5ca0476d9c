/* test_serve_clients.c: real clients against `tinyllm serve` on an
 * ephemeral loopback port over models/stories260K.gguf: OpenAI's official
 * `openai` package (tests/serve/openai.mjs), Ollama's `ollama` package
 * (ollama.mjs), llama.cpp's API through Node's fetch (llamacpp.mjs), the
 * chat page in headless Chromium through playwright-core (page.mjs), and
 * 2 x 200 mixed requests from 16 concurrent clients (stress.mjs).
 * Each script checks its answers against what `tinyllm run` prints for the
 * same prompt, seed and sampling. Node comes from PATH, the packages from
 * $TINYLLM_NODE_PATH (default /tmp/npm/node_modules); without them the
 * tests say so and skip. */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#define MODEL "models/stories260K.gguf"
#define COMPLETION_ARGS "-p 'Once upon a time' -n 40 --seed 7 --temp 0.8"
#define CHAT_ARGS "--chat --chat-template chatml -p 'Tell me a story' -n 40 --seed 9 --temp 0.8"

static pid_t server_pid;
static int   server_port;
static char  expect_completion[8192], expect_chat[8192];

static const char *node_path(void)
{
    const char *p = getenv("TINYLLM_NODE_PATH");
    return p && *p ? p : "/tmp/npm/node_modules";
}

static bool have_node(void)
{
    return system("node --version >/dev/null 2>&1") == 0;
}

static bool have_package(const char *name)
{
    char path[1024];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s/package.json", node_path(), name);
    return stat(path, &st) == 0;
}

static void run_expect(const char *args, char *out, size_t cap)
{
    struct test_cli r = { 0 };
    test_cli_run(&r, NULL, "run -m %s -t 1 --quiet %s", MODEL, args);
    CHECK(r.status == 0, "run %s: %s", args, r.err);
    snprintf(out, cap, "%s", r.out ? r.out : "");
    free(r.out);
    free(r.err);
}

/* Start the server (port 0: the kernel picks one) and read the port from
 * its log line. false when it did not come up. */
static bool start_server(void)
{
    char log[512];
    snprintf(log, sizeof log, "%s/serve.log", test_tmpdir());
    server_pid = fork();
    if (server_pid == 0) {
        if (!freopen(log, "w", stderr) || !freopen("/dev/null", "w", stdout))
            _exit(127);
        /* Under ASan freed blocks wait in a quarantine that grows the RSS
         * stress.mjs checks; without it a flat RSS means what it says (and
         * LeakSanitizer still checks the exit). Other builds ignore it. */
        char asan[512];
        const char *prev = getenv("ASAN_OPTIONS");
        snprintf(asan, sizeof asan, "%s%squarantine_size_mb=0:thread_local_quarantine_size_kb=0",
                 prev ? prev : "", prev && *prev ? ":" : "");
        setenv("ASAN_OPTIONS", asan, 1);
        execl("/bin/sh", "sh", "-c", "exec $0 serve -m " MODEL " --port 0 -t 1 --chat-template chatml --queue 64",
              test_bin(), (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200 && !server_port; i++) {
        struct timespec ts = { 0, 50 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        char *text = test_read_file(log, NULL);
        const char *p = text ? strstr(text, "listening on http://127.0.0.1:") : NULL;
        if (p)
            server_port = atoi(p + strlen("listening on http://127.0.0.1:"));
        free(text);
        if (waitpid(server_pid, NULL, WNOHANG) == server_pid) {
            server_pid = 0;
            break;
        }
    }
    return server_port > 0;
}

static void serve_exits_cleanly(void)
{
    if (server_pid <= 0)
        SKIP("no server was started");
    int st = 0;
    kill(server_pid, SIGTERM);
    waitpid(server_pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "serve exits 0 on SIGTERM (status %d)", st);
    server_pid = 0;
}

/* Run tests/serve/SCRIPT with node; its output is shown on failure. */
static void run_script(const char *script)
{
    char base[64], cmd[1024], out_path[512];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", server_port);
    setenv("BASE_URL", base, 1);
    setenv("EXPECT_COMPLETION", expect_completion, 1);
    setenv("EXPECT_CHAT", expect_chat, 1);
    setenv("TINYLLM_NODE_PATH", node_path(), 1);
    char pid[32];
    snprintf(pid, sizeof pid, "%d", (int)server_pid);
    setenv("SERVER_PID", pid, 1);
    snprintf(out_path, sizeof out_path, "%s/%s.out", test_tmpdir(), script);
    snprintf(cmd, sizeof cmd, "timeout 120 node tests/serve/%s >%s 2>&1", script, out_path);
    int rc = system(cmd);
    char *out = test_read_file(out_path, NULL);
    CHECK(rc == 0 && out && strstr(out, "\ndone\n"), "node %s exited %d:\n%s", script, rc, out ? out : "");
    free(out);
}

static bool serve_built;

/* Skips only when `serve` is not in this build; a server that is built but
 * does not come up is a failure. */
static bool ready(void)
{
    if (serve_built && server_port <= 0) {
        char log[512];
        snprintf(log, sizeof log, "%s/serve.log", test_tmpdir());
        char *text = test_read_file(log, NULL);
        CHECK(server_port > 0, "tinyllm serve did not start: %s", text ? text : "(no log)");
        free(text);
    }
    return server_port > 0;
}

static const char *chromium(void)
{
    const char *p = getenv("CHROMIUM");
    return p && *p ? p : "/usr/bin/chromium";
}

/* One client script: the test's name, the npm package it needs (NULL:
 * Node alone) and whether it drives Chromium. */
static const struct client {
    const char *test, *script, *package;
    bool        browser;
} clients[] = {
    { "openai_client", "openai.mjs", "openai", false },
    { "ollama_client", "ollama.mjs", "ollama", false },
    { "llamacpp_fetch", "llamacpp.mjs", NULL, false },
    { "page_in_chromium", "page.mjs", "playwright-core", true },
    { "many_clients", "stress.mjs", NULL, false },
};
static const struct client *client;   /* the one run_client runs (test_run takes no argument) */

static void run_client(void)
{
    if (!have_node())
        SKIP("node is not installed");
    if (client->package && !have_package(client->package))
        SKIP("the %s npm package is not in %s (set TINYLLM_NODE_PATH)", client->package, node_path());
    if (client->browser && access(chromium(), X_OK) != 0)
        SKIP("no Chromium at %s (apt-get install chromium, or set CHROMIUM)", chromium());
    if (!ready())
        SKIP("tinyllm serve is not built or the model is missing");
    if (client->browser)
        setenv("CHROMIUM", chromium(), 1);
    run_script(client->script);
}

int main(void)
{
    struct stat st;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s serve --help >/dev/null 2>&1", test_bin());
    /* the server only when something will talk to it */
    serve_built = stat(MODEL, &st) == 0 && system(cmd) == 0;
    if (have_node() && serve_built) {
        run_expect(COMPLETION_ARGS, expect_completion, sizeof expect_completion);
        run_expect(CHAT_ARGS, expect_chat, sizeof expect_chat);
        start_server();
    }
    for (size_t i = 0; i < sizeof clients / sizeof clients[0]; i++) {
        client = &clients[i];
        test_run(client->test, run_client);
    }
    RUN_TEST(serve_exits_cleanly);
    return test_finish();
}
