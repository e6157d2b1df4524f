/* A session: the team, its conversations and runs, the backend and the
 * event stream, shared by the console and batch mode. */
#ifndef AGENTDECK_ORCH_SESSION_H
#define AGENTDECK_ORCH_SESSION_H

#include <stdbool.h>

#include "backend/backend.h"
#include "core/loop.h"
#include "model/conversation.h"
#include "model/event.h"
#include "model/team.h"
#include "net/wire.h"

struct run;
struct stats;
struct mcp_hub;

struct session {
    char *id;
    struct loop *loop;       /* not owned */
    struct backend *backend; /* owned */
    struct team *team;       /* owned */
    struct event_stream events;
    struct vec conversations; /* struct conversation *, owned */
    struct conversation *focused;
    struct vec runs; /* struct run * in flight, owned */
    unsigned next_conversation;
    unsigned next_run;
    unsigned next_pattern;
    struct vec patterns;      /* struct pattern *, owned (orch/pattern.h) */
    unsigned patterns_failed; /* patterns that ended in failure, ever */
    cJSON *state;             /* the shared state object (/state); never NULL */
    cJSON *handlers;          /* event -> [agent]; NULL until first used (orch/handlers.h) */
    struct vec deliveries;    /* handler runs to make, first one running when delivering */
    bool delivering;
    char *handler_conv; /* the handlers' shared conversation, once there is one */
    bool step_mode;         /* /step on: every request stops first (orch/debug.h) */
    struct vec breakpoints; /* struct breakpoint *, once breakpoints_ready */
    bool breakpoints_ready;
    int next_breakpoint;
    unsigned runs_failed;     /* runs that ended in run.error, ever */
    bool deltas;              /* emit message.output.delta events */
    bool interrupted;         /* SIGINT or SIGTERM: stop taking commands */
    int syncing;              /* team changes being carried to the backend */
    int queries;              /* questions to the backend (/conversation) awaiting answers */
    unsigned async_failures;  /* agent syncs and backend questions that failed, ever */
    struct stats *stats;      /* for /usage, /graph and /context (orch/stats.h) */
    /* Lets the user edit text (the console: in $EDITOR) for /edit with no
     * text; returns the new text, or NULL with *error set. NULL in batch mode. */
    char *(*edit_text)(void *ud, const char *text, char **error);
    void *edit_ud;
    struct wire *wire;        /* the recent HTTP exchanges, for /raw; owned */
    bool speaks_http;         /* the backend records its exchanges in wire (not offline) */
    struct vec latest_runs;   /* each conversation's latest run (session.c) */
    /* Whether function calls wait for the user's /allow (doc/commands.md#allow-deny): */
    bool allow_functions;      /* --yes: they run without asking */
    struct vec always_allowed; /* char *: functions the user allowed for the session (/allow --always) */
    struct vec unfinished;    /* what a crash cut off, for /retry: struct unfinished * (orch/resume.h) */
    bool replay;              /* a recorded session is replayed: commands that change it are refused */
    struct mcp_hub *mcp;      /* the profile's MCP servers (tools/mcp.h); may be NULL */
};

/* Takes ownership of backend and team. */
struct session *session_new(const char *id, struct loop *loop, struct backend *backend, struct team *team);
/* Cancels runs in flight and frees everything owned. */
void session_free(struct session *s);

struct conversation *session_find_conversation(const struct session *s, const char *id);
/* Finds the conversation holding entry id, or NULL. */
struct conversation *session_find_entry(const struct session *s, const char *id, size_t *index);
/* Removes conv, which has no run in flight, and frees it. */
void session_remove_conversation(struct session *s, struct conversation *conv);
/* Runs that are working (not waiting for the user). */
size_t session_runs_in_flight(const struct session *s);
/* Runs that wait for the user's /allow or /deny. */
size_t session_runs_waiting(const struct session *s);

/* Starts a new conversation with agent and runs it on text; it becomes the focused one. */
struct conversation *session_start(struct session *s, struct agent *agent, const char *text);
/* Appends text to conv and runs agent on it (the agent takes the conversation). */
void session_append(struct session *s, struct conversation *conv, struct agent *agent, const char *text);
/* For patterns: sends text to agent in *conv, or (NULL) in a new
 * conversation that becomes *conv; returns the run. response_format (may be
 * NULL) asks for an answer in that JSON shape where the backend can. The focus moves to it
 * only when it is new. */
struct run *session_send(struct session *s, struct conversation **conv, const struct agent *agent, const char *text,
                         const cJSON *response_format);
/* Branches a new conversation from conv's entries up to and including entry
 * index `upto`, appends text and runs the agent that held it there. */
struct conversation *session_restart(struct session *s, struct conversation *conv, size_t upto, const char *text);

/* Emits an `error` event; command names the command that caused it (may be NULL). */
void session_error(struct session *s, const char *command, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Carries a change of the team's agents to the backend (Mistral: the
 * agents on the server), in the background; a failure is an error event. */
void session_team_changed(struct session *s);

/* Answers calls that wait for confirmation: the one with tool_call_id, or
 * (NULL) all of them; each answer is a confirmation.answered event. With
 * always, the functions allowed run without asking from now on, and their
 * other waiting calls are allowed too. A run goes on once all its calls are
 * answered. Returns false with *error set (a new string) when none waits. */
bool session_confirm(struct session *s, const char *tool_call_id, bool allow, bool always, char **error);
/* Whether the user allowed function name for the session (/allow --always). */
bool session_always_allowed(const struct session *s, const char *name);

/* A function call that waits for the user's answer. */
struct waiting_call {
    const char *run, *conversation, *agent, *name, *arguments, *tool_call_id;
};
/* The oldest call that waits for confirmation, in *out; false when none
 * does. The strings are valid until the session next changes. */
bool session_waiting_call(const struct session *s, struct waiting_call *out);

/* Merges each "STATE: {...}" line of an agent's output into the shared
 * state (a `state` event each), when the profile asks for it. */
void session_read_state(struct session *s, const char *agent, const char *output);

/* Remembers run_id as conv's latest run; the runner calls it. */
void session_note_run(struct session *s, const struct conversation *conv, const char *run_id);
/* The id of conv's latest run, or NULL when it has had none. */
const char *session_latest_run(const struct session *s, const struct conversation *conv);

/* Cancels every run in flight (run.cancelled events). */
void session_cancel_runs(struct session *s, const char *why);

#endif
