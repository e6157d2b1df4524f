/* What the debugger's views explain, gathered as the session runs: usage
 * and latency per agent (/usage), the handoffs taken between agents
 * (/graph), and what each receiving agent was given (/context). */
#ifndef AGENTDECK_ORCH_STATS_H
#define AGENTDECK_ORCH_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "orch/session.h"

/* Starts gathering for s (handoffs come from its event stream). */
void stats_attach(struct session *s);
void stats_free(struct session *s);

/* One request to the backend ended: it was sent to agent, took latency_ms,
 * its first streamed piece came after first_ms (-1: none streamed), and it
 * failed or not. usage may be NULL. */
void stats_request(struct session *s, const char *agent, const struct usage *usage, int64_t latency_ms,
                   int64_t first_ms, bool failed);
/* A run ended with agent in control. */
void stats_run_ended(struct session *s, const char *agent);

/* The /usage answer: {"agents": [...], "total": {...}, "text": table}. */
cJSON *stats_usage_json(const struct session *s);
/* The /graph answer: {"agents": [...], "edges": [...], "text": drawing}. */
cJSON *stats_graph_json(const struct session *s);
/* The /context answer for the handoff entry entry_id, or NULL with *error
 * set (a new string). */
cJSON *stats_context_json(const struct session *s, const char *entry_id, char **error);

#endif
