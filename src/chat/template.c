/* chat/template.c: rendering chat templates with HF's variables, the
 * built-in templates (written here as Jinja that renders exactly what each
 * family's shipped template renders), and choosing a template for a model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/template.h"
#include "chat/jinja/jinja.h"

/* The built-ins. chatml: the generic <|im_start|> format (OpenHermes,
 * Qwen without a default system prompt). zephyr: TinyLlama-1.1B-Chat and
 * zephyr-7b. llama2: Llama-2-chat. llama3: Meta-Llama-3-Instruct.
 * phi3: Phi-3-mini-instruct. gemma: gemma-2b-it, taking a leading system
 * message into the first user turn as Gemma 3's template does (gemma-2b-it
 * refuses it). */
static const struct { const char *name, *text; } builtins[] = {
    { "chatml",
      "{%- for message in messages %}\n"
      "    {{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}\n"
      "{%- endfor %}\n"
      "{%- if add_generation_prompt %}\n"
      "    {{- '<|im_start|>assistant\\n' }}\n"
      "{%- endif %}\n" },
    { "zephyr",
      "{%- for message in messages %}\n"
      "    {%- if message['role'] == 'user' %}\n"
      "        {{- '<|user|>\\n' + message['content'] + eos_token + '\\n' }}\n"
      "    {%- elif message['role'] == 'system' %}\n"
      "        {{- '<|system|>\\n' + message['content'] + eos_token + '\\n' }}\n"
      "    {%- elif message['role'] == 'assistant' %}\n"
      "        {{- '<|assistant|>\\n' + message['content'] + eos_token + '\\n' }}\n"
      "    {%- endif %}\n"
      "    {%- if loop.last and add_generation_prompt %}\n"
      "        {{- '<|assistant|>\\n' }}\n"
      "    {%- endif %}\n"
      "{%- endfor %}\n" },
    { "llama2",
      "{%- if messages[0]['role'] == 'system' %}\n"
      "    {%- set loop_messages = messages[1:] %}\n"
      "    {%- set system_message = messages[0]['content'] %}\n"
      "{%- else %}\n"
      "    {%- set loop_messages = messages %}\n"
      "    {%- set system_message = false %}\n"
      "{%- endif %}\n"
      "{%- for message in loop_messages %}\n"
      "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\n"
      "        {{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}\n"
      "    {%- endif %}\n"
      "    {%- if loop.index0 == 0 and system_message != false %}\n"
      "        {%- set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}\n"
      "    {%- else %}\n"
      "        {%- set content = message['content'] %}\n"
      "    {%- endif %}\n"
      "    {%- if message['role'] == 'user' %}\n"
      "        {{- bos_token + '[INST] ' + content.strip() + ' [/INST]' }}\n"
      "    {%- elif message['role'] == 'assistant' %}\n"
      "        {{- ' ' + content.strip() + ' ' + eos_token }}\n"
      "    {%- endif %}\n"
      "{%- endfor %}\n" },
    { "llama3",
      "{%- for message in messages %}\n"
      "    {%- set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
      " + message['content'] | trim + '<|eot_id|>' %}\n"
      "    {%- if loop.index0 == 0 %}\n"
      "        {%- set content = bos_token + content %}\n"
      "    {%- endif %}\n"
      "    {{- content }}\n"
      "{%- endfor %}\n"
      "{%- if add_generation_prompt %}\n"
      "    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n"
      "{%- endif %}\n" },
    { "phi3",
      "{%- for message in messages %}\n"
      "    {%- if message['role'] == 'system' %}\n"
      "        {{- '<|system|>\\n' + message['content'] + '<|end|>\\n' }}\n"
      "    {%- elif message['role'] == 'user' %}\n"
      "        {{- '<|user|>\\n' + message['content'] + '<|end|>\\n' }}\n"
      "    {%- elif message['role'] == 'assistant' %}\n"
      "        {{- '<|assistant|>\\n' + message['content'] + '<|end|>\\n' }}\n"
      "    {%- endif %}\n"
      "{%- endfor %}\n"
      "{%- if add_generation_prompt %}\n"
      "    {{- '<|assistant|>\\n' }}\n"
      "{%- else %}\n"
      "    {{- eos_token }}\n"
      "{%- endif %}\n" },
    { "gemma",
      "{{- bos_token }}\n"
      "{%- if messages[0]['role'] == 'system' %}\n"
      "    {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' %}\n"
      "    {%- set loop_messages = messages[1:] %}\n"
      "{%- else %}\n"
      "    {%- set first_user_prefix = '' %}\n"
      "    {%- set loop_messages = messages %}\n"
      "{%- endif %}\n"
      "{%- for message in loop_messages %}\n"
      "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\n"
      "        {{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}\n"
      "    {%- endif %}\n"
      "    {%- if message['role'] == 'assistant' %}\n"
      "        {%- set role = 'model' %}\n"
      "    {%- else %}\n"
      "        {%- set role = message['role'] %}\n"
      "    {%- endif %}\n"
      "    {{- '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else '')"
      " + message['content'] | trim + '<end_of_turn>\\n' }}\n"
      "{%- endfor %}\n"
      "{%- if add_generation_prompt %}\n"
      "    {{- '<start_of_turn>model\\n' }}\n"
      "{%- endif %}\n" },
};

#define N_BUILTINS (sizeof builtins / sizeof builtins[0])

const char *chat_template_builtin(const char *name)
{
    for (size_t i = 0; name && i < N_BUILTINS; i++)
        if (!strcmp(builtins[i].name, name))
            return builtins[i].text;
    return NULL;
}

const char *chat_template_builtin_names(void)
{
    return "chatml, zephyr, llama2, llama3, phi3, gemma";
}

static struct json_value jstr(const char *s)
{
    struct json_value v = { .type = JSON_STRING };
    v.v.str.s = s ? s : "";
    v.v.str.len = strlen(v.v.str.s);
    return v;
}

int chat_template_render_json(const char *tmpl, size_t tmpl_len, const struct json_value *messages,
                              const char *bos, const char *eos, bool add_generation_prompt,
                              char **out, size_t *out_len, struct tl_error *err)
{
    static const char *const names[] = { "messages", "bos_token", "eos_token", "add_generation_prompt",
                                         "tools", "documents" };
    struct json_member m[6];
    struct json_value vars = { .type = JSON_OBJECT };
    struct jinja_template *t = NULL;
    *out = NULL;
    *out_len = 0;
    if (!messages || messages->type != JSON_ARRAY)
        return tl_fail(err, TL_EINVAL, "chat messages must be a JSON array");
    if ((bos && !json_utf8_valid(bos, strlen(bos))) || (eos && !json_utf8_valid(eos, strlen(eos))))
        return tl_fail(err, TL_EFORMAT, "BOS/EOS token text is not valid UTF-8");
    for (int i = 0; i < 6; i++) {
        m[i].key = names[i];
        m[i].key_len = strlen(names[i]);
        m[i].value.type = JSON_NULL;
    }
    m[0].value = *messages;
    m[1].value = jstr(bos);
    m[2].value = jstr(eos);
    m[3].value.type = JSON_BOOL;
    m[3].value.v.b = add_generation_prompt;
    vars.v.obj.members = m;
    vars.v.obj.n = 6;
    int rc = jinja_parse(tmpl, tmpl_len, &t, err);
    if (rc == TL_OK)
        rc = jinja_render(t, &vars, out, out_len, err);
    jinja_free(t);
    return rc;
}

int chat_template_render(const char *tmpl, size_t tmpl_len, const struct chat_msg *msgs, size_t n_msgs,
                         const char *bos, const char *eos, bool add_generation_prompt,
                         char **out, size_t *out_len, struct tl_error *err)
{
    struct json_value list = { .type = JSON_ARRAY };
    struct json_value *items = calloc(n_msgs + 1, sizeof *items);
    struct json_member *members = calloc(2 * n_msgs + 1, sizeof *members);
    int rc = TL_OK;
    *out = NULL;
    *out_len = 0;
    if (!items || !members) {
        rc = tl_fail(err, TL_ENOMEM, "out of memory for chat messages");
        goto out;
    }
    for (size_t i = 0; i < n_msgs; i++) {
        const char *role = msgs[i].role ? msgs[i].role : "", *content = msgs[i].content ? msgs[i].content : "";
        if (!json_utf8_valid(role, strlen(role)) || !json_utf8_valid(content, strlen(content))) {
            rc = tl_fail(err, TL_EFORMAT, "chat message %zu is not valid UTF-8", i + 1);
            goto out;
        }
        members[2 * i] = (struct json_member){ "role", 4, jstr(role) };
        members[2 * i + 1] = (struct json_member){ "content", 7, jstr(content) };
        items[i].type = JSON_OBJECT;
        items[i].v.obj.members = &members[2 * i];
        items[i].v.obj.n = 2;
    }
    list.v.arr.items = items;
    list.v.arr.n = n_msgs;
    rc = chat_template_render_json(tmpl, tmpl_len, &list, bos, eos, add_generation_prompt, out, out_len, err);
out:
    free(items);
    free(members);
    return rc;
}

/* Markers of each family, in the order they are tried; the second must be
 * present too when given. */
static const struct { const char *mark, *also, *name; } families[] = {
    { "<|im_start|>", NULL, "chatml" },
    { "<|start_header_id|>", NULL, "llama3" },
    { "<start_of_turn>", NULL, "gemma" },
    { "<|user|>", "<|end|>", "phi3" },
    { "<|user|>", NULL, "zephyr" },
    { "[INST]", NULL, "llama2" },
};

static bool text_has(const void *ctx, const char *mark)
{
    const struct { const char *s; size_t n; } *t = ctx;
    return memmem(t->s, t->n, mark, strlen(mark)) != NULL;
}

static const char *guess(bool (*has)(const void *, const char *), const void *ctx, const char **mark)
{
    for (size_t i = 0; has && i < sizeof families / sizeof families[0]; i++)
        if (has(ctx, families[i].mark) && (!families[i].also || has(ctx, families[i].also))) {
            *mark = families[i].mark;
            return families[i].name;
        }
    return NULL;
}

/* 1 when the template parses and renders (or raises on) a one-message chat. */
static int probe(const char *tmpl, size_t len, struct tl_error *why)
{
    static const struct chat_msg hello = { "user", "Hello" };
    char *out = NULL;
    size_t n;
    int rc = chat_template_render(tmpl, len, &hello, 1, "", "", true, &out, &n, why);
    free(out);
    return rc == TL_OK || rc == TL_EINVAL;
}

static int choose_override(const char *name, const char *text, size_t len, struct chat_template_choice *out,
                           struct tl_error *err)
{
    struct jinja_template *t = NULL;
    bool inline_text = false;
    int rc;
    if (name) {
        const char *b = chat_template_builtin(name);
        if (b) {
            out->text = b;
            out->len = strlen(b);
            out->builtin = name;
            snprintf(out->why, sizeof out->why, "chat template: the built-in '%s', as asked", name);
            return TL_OK;
        }
        if (!strstr(name, "{{") && !strstr(name, "{%"))
            return tl_fail(err, TL_EINVAL, "unknown chat template '%s' (built-ins: %s)", name,
                           chat_template_builtin_names());
        text = name;
        len = strlen(name);
        inline_text = true;
    }
    if ((rc = jinja_parse(text, len, &t, err)) != TL_OK)
        return rc;
    jinja_free(t);
    out->text = text;
    out->len = len;
    snprintf(out->why, sizeof out->why, "chat template: %s (%zu bytes)",
             inline_text ? "the template text given" : "from the file given", len);
    return TL_OK;
}

int chat_template_choose(const char *model_tmpl, size_t model_len,
                         const char *override_name, const char *override_text, size_t override_len,
                         const struct chat_vocab *vocab, struct chat_template_choice *out,
                         struct tl_error *err)
{
    struct tl_error why = { 0 };
    const char *name = NULL, *mark = NULL;
    struct { const char *s; size_t n; } text = { model_tmpl, model_len };
    memset(out, 0, sizeof *out);
    if (override_name && override_text)
        return tl_fail(err, TL_EINVAL, "give a chat template file or a chat template name, not both");
    if (override_name || override_text)
        return choose_override(override_name, override_text, override_len, out, err);
    if (model_tmpl && model_len && probe(model_tmpl, model_len, &why)) {
        out->text = model_tmpl;
        out->len = model_len;
        snprintf(out->why, sizeof out->why, "chat template: the model's own (tokenizer.chat_template, %zu bytes)",
                 model_len);
        return TL_OK;
    }
    const char *source = "its template text";
    if (model_tmpl && model_len)
        name = guess(text_has, &text, &mark);
    if (!name && vocab) {
        name = guess(vocab->has, vocab->ctx, &mark);
        source = "its vocabulary";
    }
    if (name)
        snprintf(out->why, sizeof out->why, "chat template: the built-in '%s', since %s has %s", name, source, mark);
    else
        snprintf(out->why, sizeof out->why, "chat template: the built-in 'chatml', the default (no family marker found)");
    out->builtin = name ? name : "chatml";
    out->text = chat_template_builtin(out->builtin);
    out->len = strlen(out->text);
    if (model_tmpl && model_len)
        snprintf(out->warning, sizeof out->warning, "the model's chat template cannot be used (%.300s); using the "
                 "built-in '%s' template instead", why.msg, out->builtin);
    else
        snprintf(out->warning, sizeof out->warning, "the model has no chat template; using the built-in '%s' "
                 "template%s", out->builtin, name ? " (guessed from its vocabulary)" : "");
    return TL_OK;
}
