/* server/page.c: placeholder until the chat page lands (routing table only). */
#include "server/server.h"

const struct route page_routes[] = { { 0 } };
