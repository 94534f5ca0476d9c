/* cli/stream.c: generated text to a stream (see cli/stream.h). */
#include <string.h>

#include "cli/stream.h"

void out_write(struct out *o, const char *s, size_t n)
{
    if (o->closed || !n)
        return;
    if (o->sink) {
        o->closed = o->sink(o->sink_ctx, s, n) != 0;
        return;
    }
    if (fwrite(s, 1, n, o->f) != n || fflush(o->f))
        o->closed = 1;
}

/* Longest suffix of s[0..n) that is a proper prefix of a stop string. */
static size_t stop_prefix_len(const struct out *o, const char *s, size_t n)
{
    size_t best = 0;
    for (int i = 0; i < o->n_stops; i++) {
        size_t sl = strlen(o->stops[i]);
        for (size_t k = sl - 1 < n ? sl - 1 : n; k > best; k--)
            if (!memcmp(s + n - k, o->stops[i], k)) {
                best = k;
                break;
            }
    }
    return best;
}

int out_push(struct out *o, const char *s, size_t n)
{
    char buf[sizeof o->pend];
    while (n) {
        /* utf8_feed may write 3 bytes per input byte (each one a U+FFFD) */
        size_t take = n < (sizeof buf - 3) / 3 ? n : (sizeof buf - 3) / 3;
        size_t got = utf8_feed(&o->u8, s, take, buf, sizeof buf);
        s += take;
        n -= take;
        if (o->n_pend + got > sizeof o->pend) {      /* only without stop strings */
            out_write(o, o->pend, o->n_pend);
            o->n_pend = 0;
        }
        memcpy(o->pend + o->n_pend, buf, got);
        o->n_pend += got;
        for (int i = 0; i < o->n_stops; i++) {
            char *hit = memmem(o->pend, o->n_pend, o->stops[i], strlen(o->stops[i]));
            if (hit) {
                out_write(o, o->pend, (size_t)(hit - o->pend));
                o->n_pend = 0;
                return 1 + i;
            }
        }
        size_t hold = stop_prefix_len(o, o->pend, o->n_pend);
        out_write(o, o->pend, o->n_pend - hold);
        memmove(o->pend, o->pend + o->n_pend - hold, hold);
        o->n_pend = hold;
    }
    return 0;
}

void out_finish(struct out *o)
{
    char buf[16];
    size_t n = utf8_flush(&o->u8, buf, sizeof buf);
    out_write(o, o->pend, o->n_pend);
    out_write(o, buf, n);
    o->n_pend = 0;
}

