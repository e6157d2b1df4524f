/* The backend interface: one ops table, three implementations (offline,
 * mistral, chat), all asynchronous on the one loop.
 *
 * A request asks the backend for the next response of an agent in a
 * conversation. Its callbacks run later, from the loop, never from inside
 * backend_request(): zero or more delta() and entry() calls, then exactly
 * one of done() or error(), unless the request is cancelled first, after
 * which nothing is called. The call handle stays valid until done() or
 * error() returns, and a callback may cancel it (the backend frees it once
 * the callback returns). backend_request() copies from the request what it
 * needs later: the agent may be changed or freed once it returns. */
#ifndef AGENTDECK_BACKEND_BACKEND_H
#define AGENTDECK_BACKEND_BACKEND_H

#include <cJSON.h>
#include <stdbool.h>

#include "core/loop.h"
#include "model/agent.h"
#include "model/conversation.h"
#include "model/team.h"
#include "net/wire.h"

struct backend_reply {
    void *ud;
    /* A piece of streamed text of the message.output entry entry_id. */
    void (*delta)(void *ud, const char *agent, const char *entry_id, const char *text);
    /* A finished entry; the callee takes ownership. */
    void (*entry)(void *ud, struct entry *e);
    void (*done)(void *ud, const struct usage *usage);
    void (*error)(void *ud, const char *message);
    /* Something the user should know that is not a failure (a retry). May be NULL. */
    void (*warning)(void *ud, const char *message);
    /* The backend started a conversation of its own (remote_id) for this
     * one, replacing parent (another agent's; NULL for the first), with
     * carried entries taken over; conv->remote_span says how its entries
     * line up with the local ones. May be NULL. */
    void (*remote_started)(void *ud, const char *remote_id, const char *parent, size_t carried);
};

/* The user's answer to a call that waited for confirmation. */
struct tool_confirmation {
    const char *tool_call_id;
    bool allow;
};

struct backend_request {
    const struct team *team;
    const struct agent *agent;
    struct conversation *conv; /* valid until done, error or cancel; the backend may keep its remote id there */
    size_t first_new;          /* conv->entries from here on are new inputs */
    const struct tool_confirmation *confirmations; /* answers to pending calls, or NULL */
    size_t nconfirmations;
    const cJSON *response_format; /* a ResponseFormat the answer must follow (JSON schema), or NULL */
    bool client_handoffs;         /* agentdeck must carry out handoffs (the debugger stops at them) */
    const char *tag;              /* the run id: the tag of every HTTP exchange of the call (/raw); may be NULL */
    /* The request goes on with one that a crash cut off: a backend that
     * keeps conversations first picks up what its server finished since,
     * and sends nothing the server already holds (orch/resume.h). */
    bool resume;
    /* With resume: the id of the reply the crash cut in the middle (its
     * pieces are in the journal), for a backend that makes its own ids to
     * give the reply again; or NULL. */
    const char *resume_entry_id;
};

/* What backend_query() asks the server about its conversations. */
enum backend_query {
    BACKEND_QUERY_LIST,     /* a page of its conversations */
    BACKEND_QUERY_GET,      /* one conversation */
    BACKEND_QUERY_HISTORY,  /* its entries */
    BACKEND_QUERY_MESSAGES, /* its messages */
    BACKEND_QUERY_DELETE,   /* deletes it */
};

/* The answer to backend_query(): the server's JSON (NULL after a delete),
 * or an error. remote_id and result are valid during the call only. */
typedef void backend_queried_fn(void *ud, enum backend_query q, const char *remote_id, const cJSON *result,
                                const char *error);

/* Reports the end of backend_prepare(): error is NULL on success. */
typedef void backend_prepared_fn(void *ud, const char *error);

struct backend;
struct backend_call;

struct backend_ops {
    const char *name;  /* "offline" */
    const char *label; /* "offline (scripted)": what the UI shows */
    struct backend_call *(*request)(struct backend *b, const struct backend_request *req,
                                    const struct backend_reply *reply);
    void (*cancel)(struct backend *b, struct backend_call *call);
    void (*free)(struct backend *b);
    /* Optional: makes the team's agents ready on the backend (Mistral
     * creates or updates them on the server), then calls done from the loop. */
    void (*prepare)(struct backend *b, struct team *team, backend_prepared_fn *done, void *ud);
    /* Optional: asks the server about its conversations (remote_id is NULL
     * for a list; page counts from 0), then calls done from the loop. If the
     * backend is freed first, done is never called. */
    void (*query)(struct backend *b, enum backend_query q, const char *remote_id, int page, backend_queried_fn *done,
                  void *ud);
    /* Optional, for a backend that speaks HTTP: records its exchanges in
     * wire (not owned; it outlives the backend), with the secrets it knows
     * (its key) scrubbed. A backend without it sends no HTTP request. */
    void (*set_wire)(struct backend *b, struct wire *wire);
    /* Optional: an entry of a session rebuilt from its journal, so that
     * the ids the backend makes from now on do not repeat its ids. */
    void (*restore)(struct backend *b, const struct entry *e);
};

/* The base of every backend; implementations embed it first. */
struct backend {
    const struct backend_ops *ops;
    struct loop *loop;
    /* Tells the user something about agent outside any run (a tool of the
     * profile the backend cannot run): a warning event. Set by the
     * session; NULL until then. */
    void (*warn)(void *ud, const char *agent, const char *message);
    void *warn_ud;
};

static inline struct backend_call *backend_request(struct backend *b, const struct backend_request *req,
                                                   const struct backend_reply *reply)
{
    return b->ops->request(b, req, reply);
}

static inline void backend_cancel(struct backend *b, struct backend_call *call)
{
    b->ops->cancel(b, call);
}

/* Attaches the wire log (see set_wire); returns false when the backend
 * sends no HTTP request (the offline backend). */
static inline bool backend_set_wire(struct backend *b, struct wire *wire)
{
    if (!b->ops->set_wire)
        return false;
    b->ops->set_wire(b, wire);
    return true;
}

/* Runs the backend's prepare step, if it has one; done is called either way. */
void backend_prepare(struct backend *b, struct team *team, backend_prepared_fn *done, void *ud);

static inline void backend_free(struct backend *b)
{
    if (b)
        b->ops->free(b);
}

/* A rough token count for backends that cannot count: about four bytes a token. */
int64_t backend_estimate_tokens(const char *text);

#endif
