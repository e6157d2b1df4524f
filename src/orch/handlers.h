/* Event-driven handlers (the guide's event handlers): /on EVENT AGENT
 * registers an agent for an event, /emit EVENT DATA (or a line on the
 * --listen socket) fires it. The handlers share one conversation, and
 * their runs go one at a time, in the order the events came. */
#ifndef AGENTDECK_ORCH_HANDLERS_H
#define AGENTDECK_ORCH_HANDLERS_H

#include <stdbool.h>

#include "orch/session.h"

/* Registers agent for event (emits handler.added). Returns false with
 * *error set when the name or the agent is wrong, or it is registered. */
bool handlers_add(struct session *s, const char *event, const char *agent, char **error);
/* Removes agent (NULL: every agent) from event. Returns false with *error set
 * when there was nothing to remove. */
bool handlers_remove(struct session *s, const char *event, const char *agent, char **error);
/* Emits event.emitted and queues a run for each agent registered for it.
 * source says where it came from ("command", "socket"). Returns false with
 * *error set when the event name is not valid. */
bool handlers_emit(struct session *s, const char *event, const char *data, const char *source, char **error);

/* The same for a line `EVENT DATA...` (what /emit and the --listen socket
 * take): EVENT up to the first blank, DATA the rest as it came. */
bool handlers_emit_line(struct session *s, const char *line, const char *source, char **error);
/* Every event's agents: {"EVENT": ["agent", ...]}; the caller frees it. */
cJSON *handlers_list(struct session *s);
/* Frees the queue (at exit). */
void handlers_free(struct session *s);

#endif
