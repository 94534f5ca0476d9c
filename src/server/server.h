/* server/server.h: `tinyllm serve`. One I/O thread accepts connections and
 * reads requests (poll, per-connection deadlines, limits); requests that
 * need the model wait in a bounded FIFO for the model thread, which runs
 * them one at a time and writes their responses (streaming as it
 * generates); the rest (health, lists, tokenize, the page) are answered on
 * the I/O thread at once. Handlers live per API: api_openai.c,
 * api_ollama.c, api_llamacpp.c; the routing table in routes.c. */
#ifndef TINYLLM_SERVER_H
#define TINYLLM_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "chat/chat.h"
#include "engine/engine.h"
#include "engine/sampler.h"
#include "server/generate.h"
#include "server/http.h"

struct server_opts {
    struct engine_opts    eng;
    struct sampler_params sp;          /* defaults a request's fields override */
    struct chat_opts      chat;        /* --chat-template, --chat-template-file */
    const char *host;                  /* default "127.0.0.1" */
    int         port;                  /* default 8080; 0: any free port (printed) */
    const char *api_key;               /* NULL: no auth */
    const char *alias;                 /* model name shown to clients; default: file name */
    int         n_predict;             /* default max tokens per request: -1 = until EOS/context */
    int         queue;                 /* waiting requests before 503; default 16 */
    int         timeout_s;             /* idle/read/write timeout per connection; default 600 */
    int         max_conns;             /* open connections; default 256 */
    struct http_limits limits;
    bool        quiet, verbose;
};

/* Counters for /metrics and the log. The server counts requests and adds
 * out->n_prompt / n_gen to the token counters after each handler; the
 * generation handlers add the time they spent to prompt_us / gen_us. */
struct server_metrics {
    atomic_llong requests, requests_failed;
    atomic_llong prompt_tokens, gen_tokens;
    atomic_llong prompt_us, gen_us;    /* time spent in prompt evaluation and generation */
    atomic_int  queue_depth, busy;
};

/* What handlers see. The engine (and everything that evaluates) is only
 * touched on the model thread; the tokenizer is read-only and safe on both. */
struct server {
    const struct server_opts *o;
    struct engine  e;
    struct gen_cache kv;               /* the tokens in e's KV cache (model thread only);
                                          server.c frees it with gen_cache_free */
    const char    *model_name;         /* alias or the model file's base name */
    const char    *chat_template;      /* the template chat_init chose (text, once ready) */
    size_t         chat_template_len;  /* bytes */
    int64_t        created;            /* unix time the model was loaded */
    atomic_bool    ready;              /* model loaded: /health says ok */
    atomic_bool    stopping;           /* SIGINT/SIGTERM seen: running generations end */
    struct server_metrics m;
    void          *impl;               /* server.c's private state */
};

/* A handler answers exactly once through out (http_send, or a stream),
 * including its errors in its API's error format. */
typedef void (*route_fn)(struct server *s, const struct http_request *req, struct http_out *out);

struct route {
    const char *method;    /* "GET" or "POST"; HEAD is accepted wherever GET is */
    const char *path;      /* exact path */
    route_fn    fn;
    bool        model;     /* true: queued for the model thread */
};

/* routes.c: every route of every API, for dispatch (404 for an unknown
 * path, 405 with Allow for a known path and another method). */
const struct route *routes_find(const char *method, const char *path, int *status,
                                char *allow, size_t allow_cap);

/* Each part's table, ending with a zeroed row: server_routes (server.c:
 * /health, /metrics, /props), openai_routes (api_openai.c), ollama_routes
 * (api_ollama.c), llamacpp_routes (api_llamacpp.c: /completion, /tokenize,
 * /detokenize), page_routes (page.c: the chat page at /). */
extern const struct route server_routes[], openai_routes[], ollama_routes[], llamacpp_routes[],
                          page_routes[];

/* The generic error body {"error":{"code":N,"message":MSG,"type":TYPE}}
 * (OpenAI's and llama-server's shape) with status; type NULL: chosen from
 * the status ("invalid_request_error", "authentication_error",
 * "not_found_error", "unavailable_error", "server_error", ...). */
int server_send_error(struct http_out *out, int status, const char *type, const char *msg);

/* Run until SIGINT/SIGTERM: load the model, listen, serve. Returns TL_OK
 * after a clean shutdown. */
int server_run(const struct server_opts *o, struct tl_error *err);

#endif
