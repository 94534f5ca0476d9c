/* cli/cmd_serve.c: `tinyllm serve`: the model behind OpenAI's, Ollama's and
 * llama.cpp's HTTP APIs (server/server.h). stdout stays empty; stderr gets
 * the listening address, a line per request unless --quiet. */
#include <stddef.h>
#include <time.h>

#include "cli/cli.h"
#include "server/server.h"

#define SERVE_OPT(field) offsetof(struct server_opts, field)
static const struct opt serve_rows[] = {
    { "--host", "HOST", OPT_STR, SERVE_OPT(host), 1, 255,
      .help = "address to listen on (an IPv4 or IPv6 literal, or a name)", .def = "127.0.0.1" },
    { "--port", "N", OPT_INT, SERVE_OPT(port), 0, 65535, .help = "port, 0 = any free one (printed)",
      .def = "8080" },
    { "--api-key", "KEY", OPT_STR, SERVE_OPT(api_key), 1, 1024,
      .help = "require \"Authorization: Bearer KEY\" on every route but\n/health and the page" },
    { "--alias", "NAME", OPT_STR, SERVE_OPT(alias), 1, 255,
      .help = "the model's name for clients", .def = "the file's name" },
    { "-n, --n-predict", "N", OPT_INT, SERVE_OPT(n_predict), -1, 1 << 30,
      .help = "tokens a request generates when it does not say:\n-1 until the end of text or a full context",
      .def = "-1" },
    { "--queue", "N", OPT_INT, SERVE_OPT(queue), 1, 65536,
      .help = "requests that wait for the model before 503", .def = "16" },
    { "--timeout", "S", OPT_INT, SERVE_OPT(timeout_s), 1, 86400,
      .help = "seconds a client may take to send a request or read\na response", .def = "600" },
    { "--max-conns", "N", OPT_INT, SERVE_OPT(max_conns), 1, 65536, .help = "open connections",
      .def = "256" },
    { "--quiet", NULL, OPT_FLAG, SERVE_OPT(quiet), .help = "no log lines on stderr" },
    { "-v, --verbose", NULL, OPT_FLAG, SERVE_OPT(verbose), .help = "the chosen chat template and why" },
};

int cmd_serve(int argc, char **argv, struct tl_error *err)
{
    struct server_opts o = {
        .sp = sampler_defaults(), .host = "127.0.0.1", .port = 8080, .n_predict = -1, .queue = 16,
        .timeout_s = 600, .max_conns = 256, .limits = http_limits_default(),
    };
    o.sp.seed = (uint64_t)time(NULL);
    const struct opt_group groups[] = {
        cli_group_model(&o.eng), OPT_GROUP(NULL, serve_rows, &o), cli_group_template(&o.chat),
        cli_group_engine(&o.eng), cli_group_sampling(&o.sp),
    };
    const struct opt_cmd cmd = {
        "serve", "-m MODEL [--host HOST] [--port N] [options]",
        "Serve the model over HTTP: OpenAI's /v1 API, Ollama's /api, llama.cpp's\n"
        "/completion, and a chat page at /. The sampling options are the defaults a\n"
        "request's own fields override. SIGINT or SIGTERM ends the running request and\n"
        "exits.\n",
        groups, sizeof groups / sizeof groups[0],
    };
    bool help;
    int rc = opt_parse(&cmd, argc, argv, &help, err);
    if (rc || help)
        return rc;
    struct kernels k;
    if ((rc = cli_kernels(&o.eng.kernels, &k, err)))
        return rc;
    return server_run(&o, err);
}
