/* server/routes.c: dispatch over every API's route table (exact paths; HEAD
 * is served wherever GET is, with the body left out by the writers). */
#include <stdio.h>
#include <string.h>

#include "server/server.h"

/* Add m to the ", "-separated list in allow unless it is there. */
static void allow_add(char *allow, size_t cap, const char *m)
{
    size_t ml = strlen(m);
    for (const char *p = allow; (p = strstr(p, m)); p += ml)
        if ((p == allow || p[-1] == ' ') && (p[ml] == ',' || !p[ml]))
            return;
    size_t n = strlen(allow);
    snprintf(allow + n, cap - n, "%s%s", n ? ", " : "", m);
}

const struct route *routes_find(const char *method, const char *path, int *status,
                                char *allow, size_t allow_cap)
{
    const struct route *const tables[] = {
        server_routes, openai_routes, ollama_routes, llamacpp_routes, page_routes,
    };
    const char *m = strcmp(method, "HEAD") ? method : "GET";
    bool known = false;
    if (allow_cap)
        allow[0] = 0;
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
        for (const struct route *r = tables[t]; r->path; r++) {
            if (strcmp(r->path, path))
                continue;
            if (!strcmp(r->method, m)) {
                *status = 200;
                return r;
            }
            known = true;
            if (allow_cap) {
                allow_add(allow, allow_cap, r->method);
                if (!strcmp(r->method, "GET"))
                    allow_add(allow, allow_cap, "HEAD");
            }
        }
    }
    if (known && allow_cap)
        allow_add(allow, allow_cap, "OPTIONS");
    *status = known ? 405 : 404;
    return NULL;
}
