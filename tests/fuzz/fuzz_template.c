/* fuzz_template.c: libFuzzer target over the chat template renderer: the
 * input is a template, rendered for a short conversation. Errors are fine;
 * crashes, sanitizer reports and unbounded work are not. */
#include <stdlib.h>

#include "chat/template.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static const struct chat_msg msgs[] = {
        { "system", "Be brief." }, { "user", "Hello" }, { "assistant", "Hi there" }, { "user", "2+2?" },
    };
    char *out = NULL;
    size_t len = 0;
    struct tl_error err = { 0 };
    if (chat_template_render((const char *)data, size, msgs, 4, "<s>", "</s>", true, &out, &len, &err) == TL_OK)
        free(out);
    return 0;
}
