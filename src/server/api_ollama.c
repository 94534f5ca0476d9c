/* server/api_ollama.c: placeholder until the API lands (routing table only). */
#include "server/server.h"

const struct route ollama_routes[] = { { 0 } };
