/* The debugger's stops: step mode and breakpoints (issue 6). A run stops
 * before a request (step mode, `agent:NAME`), before its function calls run
 * (`function[:NAME]`), before a handoff takes effect (`handoff`), or instead
 * of failing (`error`); it emits breakpoint.hit and waits for /next,
 * /continue, /edit, /skip, /redirect or /abort. */
#ifndef AGENTDECK_ORCH_DEBUG_H
#define AGENTDECK_ORCH_DEBUG_H

#include <stdbool.h>

#include "orch/session.h"

enum break_kind {
    BREAK_HANDOFF,  /* before the next agent gets control */
    BREAK_FUNCTION, /* before function calls run (NAME: only that function) */
    BREAK_TOOL,     /* after a built-in tool ran on the server (NAME: only that tool) */
    BREAK_AGENT,    /* before each request for agent NAME */
    BREAK_ERROR,    /* instead of a run failing */
};

struct breakpoint {
    int id;
    enum break_kind kind;
    char *name; /* NULL: any */
};

/* What the user says to a stopped run. */
enum debug_action {
    DEBUG_NEXT,     /* go on to the next stop (step mode: the next request) */
    DEBUG_CONTINUE, /* go on, stopping only at breakpoints */
    DEBUG_SKIP,     /* drop what was about to happen */
    DEBUG_ABORT,    /* end the run */
};

/* Parses SPEC (handoff, function[:NAME], tool[:NAME], agent:NAME, error),
 * adds it and emits breakpoint.added. Returns false with *error set. */
bool debug_break(struct session *s, const char *spec, char **error);
/* Removes breakpoint id. Returns false with *error set. */
bool debug_unbreak(struct session *s, int id, char **error);
/* The first breakpoint of kind that matches name (NULL: any name), or NULL. */
const struct breakpoint *debug_match(const struct session *s, enum break_kind kind, const char *name);
/* Whether requests should ask the backend to leave handoffs to agentdeck. */
bool debug_wants_client_handoffs(const struct session *s);
/* "function:get_rate" */
char *breakpoint_describe(const struct breakpoint *b);
/* The commands for a stopped run: run_id, or NULL for the one that is
 * stopped (the oldest when several are). Return false with *error set. */
bool session_debug_resume(struct session *s, const char *run_id, enum debug_action action, char **error);
/* Changes the pending input (a step stop) or the first call's arguments (a
 * function stop) to text; emits entry.edited. */
bool session_debug_edit(struct session *s, const char *run_id, const char *text, char **error);
/* What session_debug_edit() would change, as it is now (a new string), or
 * NULL with *error set. */
char *session_debug_editable(struct session *s, const char *run_id, char **error);
/* At a handoff stop, hands off to agent instead. */
bool session_debug_redirect(struct session *s, const char *run_id, const char *agent, char **error);

/* The breakpoints as a JSON array of {breakpoint, spec}. */
cJSON *debug_list(struct session *s);
void debug_free(struct session *s);

#endif
