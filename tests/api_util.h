/* api_util.h: driving the API handlers in-process for the tests: a server
 * over a model, a request through a handler onto a socketpair, the raw
 * HTTP answer read back and de-chunked, and its body as JSON. */
#ifndef TINYLLM_API_UTIL_H
#define TINYLLM_API_UTIL_H

#include <stdbool.h>

#include "server/server.h"
#include "util/json.h"

struct api_server {
    struct server_opts o;
    struct server      s;
    bool               open;
};

/* Open model (-c n_ctx, 0: the model's) with the chat template named
 * (NULL: the model's own) and the CLI's sampling defaults, seed 0. */
int api_server_open(struct api_server *a, const char *model, int n_ctx, const char *tmpl);
void api_server_close(struct api_server *a);

struct api_resp {
    int    status;
    char  *head;          /* status line and headers (heap) */
    char  *body;          /* de-chunked body, NUL-terminated (heap) */
    size_t body_len;
    bool   chunked;
    struct json_value json;   /* the body parsed, JSON_NULL when it is not JSON */
};

/* Call the route method+path of s (looked up in the API tables) with body;
 * 404 when no table has it. */
int api_call(struct api_server *a, const char *method, const char *path, const char *body,
             struct api_resp *r);
void api_resp_free(struct api_resp *r);

/* Member by dotted path ("choices.0.message.content"); NULL when absent. */
const struct json_value *api_jpath(const struct json_value *v, const char *path);
/* The string at path, "" when absent or not a string. */
const char *api_jstr(const struct json_value *v, const char *path);
/* The integer at path, -12345 when absent. */
long long api_jint(const struct json_value *v, const char *path);

#endif
