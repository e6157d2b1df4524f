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

/* What the journal tells of a pattern step's run, after its retries. */
struct run_fate {
    char *run;     /* the latest run of the step */
    char *status;  /* "done", "error", "cancelled", or NULL: a crash cut it off */
    char *output;  /* done: the reply */
    char *message; /* error, cancelled: why */
};
void run_fate_fini(struct run_fate *fate);
/* Fills *fate (new strings) for run; false when the journal does not know it. */
typedef bool run_fate_fn(void *ud, const char *run, struct run_fate *fate);

/* Rebuilds a pattern that the journal shows started (started: its
 * pattern.started event) and not ended, from its pattern.step events
 * (steps, cJSON *): its own logic runs again and takes in the outcome of
 * each recorded step's run (fate tells it), sending nothing and emitting
 * none of the step events it had emitted. A step whose run a crash cut off
 * waits for /retry to go on with it, and so does a step it had yet to
 * start (both are in s->unfinished). Returns false when started is not a
 * pattern.started event it can read. */
bool pattern_resume(struct session *s, const cJSON *started, const struct vec *steps, run_fate_fn *fate, void *ud);

/* Frees the session's patterns (all finished, or dropped at exit). */
void pattern_free_all(struct session *s);

/* The JSON object at the heart of text: all of it, or what a ```json
 * fence holds, or from its first '{' to its last '}'. NULL when none parses. */
cJSON *pattern_parse_json(const char *text);

#endif
