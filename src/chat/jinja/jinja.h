/* chat/jinja/jinja.h: the Jinja2 subset that chat templates use, rendered the way
 * Hugging Face's apply_chat_template renders them: jinja2 with
 * trim_blocks and lstrip_blocks, the loopcontrols extension, tojson as
 * json.dumps(ensure_ascii=False), and the globals raise_exception and
 * strftime_now. The subset (and what is refused, by name and line) is
 * listed at the top of chat/jinja/jinja.c. */
#ifndef TINYLLM_JINJA_H
#define TINYLLM_JINJA_H

#include <stddef.h>

#include "util/json.h"
#include "tinyllm.h"

/* Bounds that keep a hostile template from crashing or hanging the
 * renderer; passing one is an error (TL_ERANGE), never a truncation. */
#define JINJA_MAX_OUTPUT   (16u << 20)   /* bytes of output, and of any one string */
#define JINJA_MAX_ITERS    1000000u      /* loop iterations in one render, all loops together */
#define JINJA_MAX_STEPS    50000000u     /* expressions and statements evaluated in one render */
#define JINJA_MAX_MEMORY   (256u << 20)  /* bytes of values made during one render */
#define JINJA_MAX_NEST     200           /* nesting of blocks and expressions; macro calls */

struct jinja_template;

/* Parse len bytes of template source (UTF-8). On failure returns
 * TL_EFORMAT (bad syntax: unterminated tags or strings, stray tokens) or
 * TL_EUNSUPPORTED (a tag, filter or test outside the subset), with the
 * template line in err, and leaves *out NULL. */
int jinja_parse(const char *src, size_t len, struct jinja_template **out, struct tl_error *err);

/* Render t with the members of vars (a JSON object, or NULL) as its
 * variables. *out is a NUL-terminated heap string of *out_len bytes (it
 * holds NULs when the data does). Failures name the template line:
 * raise_exception(msg) gives TL_EINVAL with msg; undefined names, type
 * errors and the like TL_EFORMAT; a passed limit TL_ERANGE. */
int jinja_render(const struct jinja_template *t, const struct json_value *vars,
                 char **out, size_t *out_len, struct tl_error *err);

/* Free a parsed template; NULL is fine. */
void jinja_free(struct jinja_template *t);

#endif
