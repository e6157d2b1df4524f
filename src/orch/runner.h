/* The runner: drives one agent in a conversation until it gives a final
 * message or max_turns is reached, running function calls on the client
 * and following handoffs. */
#ifndef AGENTDECK_ORCH_RUNNER_H
#define AGENTDECK_ORCH_RUNNER_H

#include "orch/session.h"

/* Starts a run of agent on conv, whose newest entries (from first_new on)
 * are the inputs; response_format (may be NULL) asks for a JSON answer. The run registers itself in s->runs and emits run.started
 * now and run.done or run.error when it ends. */
struct run *run_start(struct session *s, struct conversation *conv, const struct agent *agent, size_t first_new,
                      const cJSON *response_format);
/* A run that goes on with run retry_of, which a crash cut off in conv
 * (started when conv had first_entry entries; streamed: the id of the
 * reply it was streaming when it was cut, or NULL): it looks at how the
 * conversation ends, runs again the function calls whose results were
 * lost, carries out a handoff, ends at a reply that had come, or sends the
 * request again (asking the backend to pick up what its server finished).
 * Its run.started names retry_of; it never ends before it returns, so
 * that the caller can watch it. Returns NULL with *error set when the
 * conversation's agent is gone. */
struct run *run_retry(struct session *s, struct conversation *conv, size_t first_entry, const cJSON *response_format,
                      const char *retry_of, const char *streamed, char **error);
/* How a run ended, for whoever watches it (patterns). */
struct run_outcome {
    const char *run_id;
    const char *status;  /* "done", "error" or "cancelled" */
    const char *agent;   /* the agent in control at the end */
    const char *output;  /* the last message.output of the run, or NULL */
    const char *message; /* error or cancellation: why; else NULL */
    struct conversation *conv;
};

typedef void run_ended_fn(void *ud, const struct run_outcome *outcome);

/* Calls ended once when the run ends, after its run.done, run.error or
 * run.cancelled event (not when it is freed without ending). A watched run
 * that fails does not count in s->runs_failed: the watcher decides. */
void run_watch(struct run *run, run_ended_fn *ended, void *ud);
/* Stops a run in flight with run.cancelled; it is freed later. */
void run_cancel(struct run *run, const char *why);
/* Frees runs that have ended; call between loop passes, never from a callback. */
void runner_reap(struct session *s);
void run_free(struct run *run);

/* The run's id ("r3"). */
const char *run_id_of(const struct run *run);
/* Adds conversation, agent and run fields common to events. */
void run_add_context(const struct run *run, cJSON *fields);
/* Emits an entry event for e in conv (run may be NULL). */
void session_emit_entry(struct session *s, const struct conversation *conv, const struct run *run,
                        const struct entry *e);

#endif
