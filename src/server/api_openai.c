/* server/api_openai.c: placeholder until the API lands (routing table only). */
#include "server/server.h"

const struct route openai_routes[] = { { 0 } };
