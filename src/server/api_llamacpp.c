/* server/api_llamacpp.c: placeholder until the API lands (routing table only). */
#include "server/server.h"

const struct route llamacpp_routes[] = { { 0 } };
