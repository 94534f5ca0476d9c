/* server/request.h: what the three APIs share: decoding a request's JSON
 * body with strict field types (the first problem becomes a 400 naming the
 * field), refusing fields we do not implement, the prompt as tokens,
 * writing JSON answers, and running a generation for a request (the
 * server's KV cache, cancellation when the client goes or the server
 * stops, the counters for the log line and /metrics). */
#ifndef TINYLLM_REQUEST_H
#define TINYLLM_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/generate.h"
#include "server/server.h"
#include "util/json.h"

/* A request's body and the first problem found in it. */
struct req {
    struct json_value root;   /* the body: an object once req_parse succeeded */
    int   status;             /* 0, or the HTTP status of the first problem */
    char  param[96];          /* the field at fault ("messages[1].content"), "" for the body */
    char  msg[400];           /* one line for the client */
};

/* Parse the body as a JSON object. false with q->status 400 when it is not. */
bool req_parse(struct req *q, const struct http_request *r);
void req_free(struct req *q);

/* Record a problem (only the first is kept); returns false. */
bool req_fail(struct req *q, int status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Typed members of obj (NULL: none), named pre + key in messages
 * ("options.temperature"). Absent or null leaves *dst as it is; a wrong
 * type or a value out of [lo, hi] fails naming the field. All return true
 * when fine. */
bool req_bool(struct req *q, const struct json_value *obj, const char *pre, const char *key, bool *dst);
bool req_int(struct req *q, const struct json_value *obj, const char *pre, const char *key,
             long lo, long hi, int *dst);
bool req_float(struct req *q, const struct json_value *obj, const char *pre, const char *key,
               double lo, double hi, float *dst);
/* A seed: a whole number >= 0; -1 (llama.cpp's "random") leaves *dst. */
bool req_seed(struct req *q, const struct json_value *obj, const char *pre, const char *key,
              uint64_t *dst);
bool req_str(struct req *q, const struct json_value *obj, const char *pre, const char *key,
             const char **dst);
/* A member that must be an object when present (*dst NULL when absent). */
bool req_obj(struct req *q, const struct json_value *obj, const char *pre, const char *key,
             const struct json_value **dst);

/* Stop strings: a string or an array of strings (at most GEN_MAX_STOPS,
 * each 1..GEN_MAX_STOP_LEN bytes; empty ones are skipped). */
struct req_stops { const char *v[GEN_MAX_STOPS]; int n; };
bool req_stops(struct req *q, const struct json_value *obj, const char *pre, const char *key,
               struct req_stops *dst);

/* A member we do not implement: fails naming it when present, unless it
 * is null or equal to the value that changes nothing (allowed: a JSON
 * text such as "1", "false", "[]", "{}"; NULL: any value refused). */
bool req_refuse(struct req *q, const struct json_value *obj, const char *pre, const char *key,
                const char *allowed);

/* The prompt a member holds: a string (tokenized as `run` does: BOS as the
 * vocabulary asks, special tokens parsed), or an array of token ids, or
 * an array of one string. Fails naming the field when malformed, empty,
 * or longer than the context ("the prompt is N tokens but the context
 * holds M"). *ids is heap. */
bool req_prompt(struct req *q, const struct server *s, const struct json_value *v, const char *name,
                int32_t **ids, int *n);
/* Refuse a tokenized prompt that is empty or longer than the context. */
bool req_prompt_fits(struct req *q, const struct server *s, const char *name, int n);

/* The prompt of a conversation: messages (an array of {role, content}
 * where content is a string, null, or an array of {"type":"text"} parts
 * joined by newlines; "images" and "tool_calls" refused) rendered through
 * the chat template and tokenized exactly as `run --chat` does. */
bool req_messages(struct req *q, struct server *s, const struct json_value *msgs, const char *name,
                  int32_t **ids, int *n);
/* The same for a system text (NULL: none) and one user message. */
bool req_user_message(struct req *q, struct server *s, const char *system, const char *user,
                      const char *name, int32_t **ids, int *n);

/* The generation defaults of the server (its sampling options and -n),
 * the seed varied per request unless the request gives one. */
void req_gen_defaults(const struct server *s, struct gen_params *p);

/* JSON writing into a json_buf: a string literal (invalid UTF-8 becomes
 * U+FFFD), a number (non-finite written as -9999.0, as OpenAI does for
 * impossible tokens), printf text. */
void jw_str(struct json_buf *b, const char *s, size_t n);
void jw_cstr(struct json_buf *b, const char *s);
void jw_num(struct json_buf *b, double d);
void jw_fmt(struct json_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* [b0,b1,...]: the bytes of s as numbers */
void jw_bytes(struct json_buf *b, const char *s, size_t n);

/* t's entry, then ,"top_logprobs":[..] with an entry per alternative,
 * each closed, and t's entry closed: entry(ctx, b, id, logprob) writes
 * one entry without its closing brace (OpenAI's and llama.cpp's shapes
 * differ only there). */
void jw_token_with_top(struct json_buf *b, const struct gen_token *t,
                       void (*entry)(void *ctx, struct json_buf *b, int32_t id, float logprob), void *ctx);

struct gen_result;
/* "timings":{prompt_n, prompt_ms, ..., predicted_per_second}, as llama-server
 * writes them (also into OpenAI answers, where its chat page reads them). */
void jw_timings(struct json_buf *b, const struct gen_result *r);

/* Send b as application/json with status (500 when b overflowed), then
 * free it (json_buf_free: b is left empty). */
void api_send_json(struct http_out *out, int status, struct json_buf *b);
/* The answer's last part b: without stream the whole answer (as
 * api_send_json); with stream its last bytes, then the stream's end
 * (neither when b ran out of memory). Frees b. */
void api_send_last(struct http_out *out, bool stream, struct json_buf *b);

/* Run gen_run for a request on the model thread: the server's cache,
 * cancellation when s->stopping or the peer is gone (the sink's own
 * cancelled, if any, is asked too), out->n_prompt/n_gen and the
 * server's time counters filled. A cancelled run finishes as GEN_LENGTH
 * (none of the APIs has a reason for it). */
int api_generate(struct server *s, struct http_out *out, const int32_t *prompt, int n_prompt,
                 const struct gen_params *p, const struct gen_sink *sink, struct gen_result *r,
                 struct tl_error *err);

/* "stories260K" style facts for the model lists: file size in bytes,
 * "F32"/"Q4_K_M"/..., "260K"/"1.1B". */
long long api_model_size(const struct server *s);
const char *api_quant_name(const struct server *s);
void api_param_size(const struct server *s, char out[16]);

/* A text's UTF-8 cleaned up (broken sequences as U+FFFD) into a heap string. */
char *api_clean_utf8(const char *s, size_t n, size_t *out_len);

#endif
