/* The orchestration patterns of Mistral's guide, run for real on the one
 * loop: pipeline, route, fan-out/fan-in, compete, delegate (manager and
 * workers) and decompose (recursive). A pattern is a small state machine
 * over runs: it starts runs, watches them end, and starts the next ones.
 * Its progress is pattern.started, pattern.step and pattern.done events. */
#ifndef AGENTDECK_ORCH_PATTERN_H
#define AGENTDECK_ORCH_PATTERN_H

#include <stdbool.h>

#include "model/team.h"
#include "orch/session.h"

/* Starts the pattern of params on text. workflow names the profile's
 * workflow it comes from (or NULL). Returns false with *error set (a new
 * string) when the parameters are wrong; nothing has started then. */
bool pattern_start(struct session *s, const struct pattern_params *params, const char *workflow, const char *text,
                   char **error);

/* Frees the session's patterns (all finished, or dropped at exit). */
void pattern_free_all(struct session *s);

/* The JSON object at the heart of text: all of it, or what a ```json
 * fence holds, or from its first '{' to its last '}'. NULL when none parses. */
cJSON *pattern_parse_json(const char *text);

#endif
