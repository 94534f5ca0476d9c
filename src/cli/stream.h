/* cli/stream.h: generated text on its way to a stream, flushed as it comes:
 * pieces that split a UTF-8 character wait for the rest, and text that
 * could still be the start of a stop string is held back until it no
 * longer can be. A closed stream (EPIPE) is noted, never an error. */
#ifndef TINYLLM_STREAM_H
#define TINYLLM_STREAM_H

#include <stdio.h>

#include "text/tokenizer.h"

struct out {
    struct utf8_stream u8;
    char               pend[1024];
    size_t             n_pend;
    const char *const *stops;    /* n_stops strings, each 1..256 bytes */
    int                n_stops;
    int                closed;      /* the stream is gone (EPIPE): stop quietly */
    FILE              *f;           /* where the text goes, unless sink is set */
    /* when set, text goes here instead of f; nonzero means the stream is gone */
    int              (*sink)(void *ctx, const char *s, size_t n);
    void              *sink_ctx;
};

/* Write n bytes as they are (no stop-string check). */
void out_write(struct out *o, const char *s, size_t n);

/* Add n bytes of decoded text; returns 1 + the index of the stop string
 * when one is complete (the text before it has been written, the rest
 * dropped), else 0. */
int out_push(struct out *o, const char *s, size_t n);

/* Write what is still held back. */
void out_finish(struct out *o);

#endif
