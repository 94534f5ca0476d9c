/* server/page.c: the chat page at / (and /index.html). The page is
 * src/server/page.html, turned into the bytes of a C array at build time
 * (the Makefile's page_html.inc rule), so the binary serves it with no file
 * at run time and the page fetches nothing but the server's own API. */
#include "server/server.h"

static const unsigned char page_html[] = {
#include "page_html.inc"
};

/* The page's script and style are inline; everything it fetches is this
 * server's. */
#define PAGE_HEADERS                                                                          \
    "Cache-Control: no-cache\r\n"                                                             \
    "X-Content-Type-Options: nosniff\r\n"                                                     \
    "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; "               \
    "style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; " \
    "form-action 'none'; frame-ancestors 'none'\r\n"

static void page(struct server *s, const struct http_request *req, struct http_out *out)
{
    (void)s;
    (void)req;
    http_send(out, 200, "text/html; charset=utf-8", PAGE_HEADERS, page_html, sizeof page_html);
}

const struct route page_routes[] = {
    { "GET", "/", page, false },
    { "GET", "/index.html", page, false },
    { 0 },
};
