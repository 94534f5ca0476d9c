/* chat/chat.h: a conversation with a model through its chat template. The whole
 * conversation is re-rendered each turn and only the tokens after the
 * longest prefix already in the KV cache are evaluated, so a turn costs its
 * own tokens; when the context fills up, the oldest turns are dropped. */
#ifndef TINYLLM_CHAT_H
#define TINYLLM_CHAT_H

#include <stdbool.h>

#include "chat/template.h"
#include "engine/engine.h"

struct chat {
    struct engine              *e;
    struct chat_template_choice tmpl;
    char                       *tmpl_owned;   /* template file contents, if any */
    const char                 *bos, *eos;    /* token texts for the template */
    struct chat_msg            *msgs;         /* owned role/content copies */
    int                         n_msgs, cap_msgs;
    bool                        has_system;   /* msgs[0] is the system prompt */
    int32_t                    *cache;        /* tokens in the KV cache: e->st.n_past of them */
    int                         cap_cache;
};

struct chat_opts {
    const char *template_name;   /* --chat-template NAME (or inline template text) */
    const char *template_file;   /* --chat-template-file FILE */
    const char *system;          /* --system TEXT */
};

/* Choose the template (see chat_template_choose) for e's model. */
int  chat_init(struct chat *c, struct engine *e, const struct chat_opts *o, struct tl_error *err);
void chat_free(struct chat *c);

/* Append a message (copied). */
int chat_add(struct chat *c, const char *role, const char *content, struct tl_error *err);

/* Render the conversation with the generation prompt, evaluate what the
 * cache lacks, leaving the next token's logits in the engine. Keeps
 * `reserve` positions free for the answer by dropping the oldest turns
 * (never the system prompt or the last message); *dropped says how many
 * messages went. TL_ERANGE when even the last message alone does not fit. */
int chat_prepare(struct chat *c, int reserve, int *dropped, struct tl_error *err);

/* Evaluate a generated token (it joins the cache). */
int chat_feed(struct chat *c, int32_t tok, struct tl_error *err);

/* Tokens of the conversation rendered with the generation prompt (heap).
 * BOS is added only when the vocab asks for it and the template did not
 * already write it. */
int chat_tokens(const struct chat *c, int32_t **ids, int *n, struct tl_error *err);

/* Render the conversation into *out (heap), for `run --chat -v` and tests. */
int chat_render(const struct chat *c, bool add_generation_prompt, char **out, struct tl_error *err);

#endif
