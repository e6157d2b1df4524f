/* The Mistral backend: server-side agents and conversations (Agents and
 * Conversations API), streamed over SSE, on the one loop. */
#ifndef AGENTDECK_BACKEND_MISTRAL_H
#define AGENTDECK_BACKEND_MISTRAL_H

#include <stdbool.h>

#include "backend/backend.h"

struct mistral_options {
    const char *base_url; /* "https://api.mistral.ai" */
    const char *api_key;  /* never written anywhere */
    const char *profile;  /* the profile's name, tagged on the agents it creates */
    int retries;          /* 429 and 5xx are retried this many times */
    long stall_timeout_s; /* a stream silent this long fails */
    bool client_handoffs; /* handoff_execution "client": agentdeck carries handoffs out */
    bool no_stream;       /* take answers whole instead of streamed */
};

/* Conversations listed a page at a time. */
#define MISTRAL_CONVERSATIONS_PAGE 50

struct backend *mistral_backend_new(struct loop *loop, const struct mistral_options *options);

#endif
