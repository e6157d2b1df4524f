/* The chat backend: any server that speaks the OpenAI-style
 * /v1/chat/completions (Mistral's own, Ollama, llama.cpp's server, vLLM).
 *
 * agentdeck keeps the history: every request carries the whole
 * conversation, with the agent's instructions as the system message and its
 * demonstrations as few-shot pairs. The agent's tools are its function
 * tools, plus one transfer_to_AGENT function per handoff: a call of it is a
 * handoff that agentdeck carries out (an agent.handoff entry, execution
 * "client"). Built-in Mistral tools (web_search ...) cannot run here; the
 * backend warns once per agent and tool, and leaves them out.
 *
 * prepare() asks the server for its models (GET /v1/models): a server that
 * cannot be reached, or one without an agent's model, is a clear error. A
 * request made while the server is not known to be ready asks again first,
 * so that a server started later is found. */
#ifndef AGENTDECK_BACKEND_CHAT_H
#define AGENTDECK_BACKEND_CHAT_H

#include <stdbool.h>

#include "backend/backend.h"

struct chat_options {
    const char *base_url; /* "http://127.0.0.1:11434"; a trailing "/v1" is dropped */
    const char *api_key;  /* sent as a bearer token; NULL: none (local servers) */
    const char *model;    /* the model of every agent (--model), or NULL: each agent's own */
    int retries;          /* 429, 5xx and failed connections are retried this many times */
    long stall_timeout_s; /* a stream silent this long fails */
    bool no_stream;       /* take answers whole instead of streamed */
};

/* Returns the backend; base_url must be set. */
struct backend *chat_backend_new(struct loop *loop, const struct chat_options *options);

/* The function a handoff to agent is offered as: "transfer_to_AGENT". The
 * caller frees it. */
char *chat_transfer_name(const char *agent);

#endif
