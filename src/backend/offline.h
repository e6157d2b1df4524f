/* The offline backend: an embedded scripted model driven by each agent's
 * `offline` rules, streaming word by word at a simulated rate. */
#ifndef AGENTDECK_BACKEND_OFFLINE_H
#define AGENTDECK_BACKEND_OFFLINE_H

#include "backend/backend.h"

/* words_per_second 0 streams each reply at once. */
struct backend *offline_backend_new(struct loop *loop, double words_per_second);

/* What the agent says for input (no rule matched, or a `say` rule):
 * exposed for tests. Returns a new string; the caller frees it. */
char *offline_expand(const char *templ, const char *input, const char *agent, const char *const groups[10]);

#endif
