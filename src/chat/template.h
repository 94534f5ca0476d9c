/* chat/template.h: chat prompts from a list of messages, as Hugging Face's
 * apply_chat_template makes them: the model's tokenizer.chat_template (a
 * Jinja template, rendered by chat/jinja/jinja.h), built-in templates for common model
 * families, and the choice between them. Nothing here prints. */
#ifndef TINYLLM_CHAT_TEMPLATE_H
#define TINYLLM_CHAT_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/json.h"
#include "tinyllm.h"

struct chat_msg {
    const char *role;      /* "system", "user", "assistant", ... (UTF-8) */
    const char *content;   /* UTF-8 */
};

/* Render tmpl (tmpl_len bytes) for n_msgs messages with the variables HF
 * passes: messages, bos_token, eos_token (NULL means ""),
 * add_generation_prompt, tools = none, documents = none. *out is a
 * NUL-terminated heap string of *out_len bytes. Errors: jinja_parse's and
 * jinja_render's (raise_exception in the template gives TL_EINVAL with its
 * message); TL_EFORMAT for strings that are not UTF-8. */
int chat_template_render(const char *tmpl, size_t tmpl_len, const struct chat_msg *msgs, size_t n_msgs,
                         const char *bos, const char *eos, bool add_generation_prompt,
                         char **out, size_t *out_len, struct tl_error *err);

/* The same with messages as a JSON array (of objects; keys besides role and
 * content, such as tool_calls, reach the template as they are). */
int chat_template_render_json(const char *tmpl, size_t tmpl_len, const struct json_value *messages,
                              const char *bos, const char *eos, bool add_generation_prompt,
                              char **out, size_t *out_len, struct tl_error *err);

/* Text of the built-in template called name, NULL when there is none. */
const char *chat_template_builtin(const char *name);

/* The built-in names, ", "-separated, for messages and --help. */
const char *chat_template_builtin_names(void);

/* The model's vocabulary, asked whether text is one of its tokens. has may
 * be NULL (no vocabulary to ask). */
struct chat_vocab {
    bool (*has)(const void *ctx, const char *text);
    const void *ctx;
};

struct chat_template_choice {
    const char *text;       /* template to render (the model's, the override's or a built-in's; not owned) */
    size_t      len;        /* bytes of text */
    const char *builtin;    /* name of the built-in chosen, NULL for another template */
    char warning[512];      /* non-empty when the user should be told (a fallback was taken) */
    char why[512];          /* one line on how the choice was made, for -v */
};

/* Choose the template to use. A user override wins: override_text (the
 * contents of a template file, override_len bytes) or override_name (a
 * built-in name, or template text itself when it holds "{{" or "{%");
 * giving both is TL_EINVAL, as is an unknown name, and an override that
 * does not parse is its parse error. Otherwise the model's own template
 * (model_tmpl, model_len bytes; NULL when the model has none) when it
 * parses and renders a one-message conversation (raise_exception counts as
 * rendering: the template works, it just rejects the probe); otherwise a
 * built-in guessed from the model's template text, then from the
 * vocabulary (<|im_start|> chatml, <|start_header_id|> llama3,
 * <start_of_turn> gemma, <|user|> with <|end|> phi3, <|user|> zephyr,
 * [INST] llama2, else chatml), with a warning. Text pointers in *out point
 * into the arguments or static storage. */
int chat_template_choose(const char *model_tmpl, size_t model_len,
                         const char *override_name, const char *override_text, size_t override_len,
                         const struct chat_vocab *vocab, struct chat_template_choice *out,
                         struct tl_error *err);

#endif
