/* server/server_impl.h: what server.c and server_info.c share and no
 * handler needs. */
#ifndef TINYLLM_SERVER_IMPL_H
#define TINYLLM_SERVER_IMPL_H

#include "server/server.h"

/* Monotonic milliseconds. */
long long server_now_ms(void);

/* server_send_error with extra header lines ("Allow: GET\r\n") and the type
 * chosen from the status. */
int server_error_with(struct http_out *out, int status, const char *extra_headers, const char *msg);

/* --api-key: the request carries "Authorization: Bearer KEY" (compared in
 * time that depends only on the key's length), or the route is public
 * (/health and the page). */
bool server_authorized(const struct server *s, const struct route *rt, const struct http_request *r);

/* Routes that answer before the model is loaded: /health, /metrics, the page. */
bool server_route_while_loading(const struct route *rt);

#endif
