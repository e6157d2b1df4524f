/* A team: the agents and local functions of a session, as a profile defines them. */
#ifndef AGENTDECK_MODEL_TEAM_H
#define AGENTDECK_MODEL_TEAM_H

#include <cJSON.h>
#include <stdbool.h>

#include "core/vec.h"
#include "model/agent.h"

#define TEAM_DEFAULT_MAX_TURNS 10
#define FUNCTION_DEFAULT_TIMEOUT_MS 30000

/* A function tool that runs on the client: an argv, never a shell. */
struct function_def {
    char *name;
    char **argv; /* NULL-terminated; argv[0] resolved against the profile's folder when relative with a slash */
    int timeout_ms;
    char *description; /* may be NULL */
    cJSON *parameters; /* JSON schema object; never NULL */
    bool auto_allow;   /* "auto": runs without asking the user first */
};

/* An MCP server of the profile (doc/mcp.md): a command spoken to over its
 * stdin and stdout, or an HTTP endpoint. Its tools reach agents as function
 * tools named SERVER__TOOL. */
struct mcp_server_def {
    char *name;      /* [a-zA-Z0-9_-], no "__", at most MCP_SERVER_NAME_MAX */
    char **argv;     /* stdio: NULL-terminated, resolved like a function's; NULL for HTTP */
    cJSON *env;      /* stdio: name -> value, added to the few variables passed on; never NULL */
    char *url;       /* HTTP: the endpoint; NULL for stdio */
    bool legacy_sse; /* HTTP: the older HTTP+SSE transport (GET the URL for an endpoint) */
    cJSON *headers;  /* HTTP: name -> value, sent with every request; never NULL */
    int timeout_ms;  /* a tool call's time limit */
};

#define MCP_SERVER_NAME_MAX 32
#define MCP_DEFAULT_TIMEOUT_MS 60000

/* The orchestration patterns of Mistral's guide (src/orch/pattern.c). */
#define PATTERN_KINDS(X)                                                                                \
    X(PATTERN_PIPELINE, "pipeline")   /* agents run in turn in one conversation */                      \
    X(PATTERN_ROUTE, "route")         /* lead classifies; routes pick the specialist */                 \
    X(PATTERN_FANOUT, "fanout")       /* agents at once; lead (optional) fans in */                     \
    X(PATTERN_COMPETE, "compete")     /* agents at once; lead judges */                                 \
    X(PATTERN_DELEGATE, "delegate")   /* lead plans subtasks as JSON, workers run them, lead answers */ \
    X(PATTERN_DECOMPOSE, "decompose") /* lead decides execute or split, recursively; executor executes */

enum pattern_kind {
#define X(e, name) e,
    PATTERN_KINDS(X)
#undef X
};

const char *pattern_kind_name(enum pattern_kind kind);
/* Returns -1 when name is no pattern. */
int pattern_kind_from_name(const char *name);

#define PATTERN_DEFAULT_DEPTH 2

/* A pattern's parameters: from a command's arguments, or a workflow. */
struct pattern_params {
    enum pattern_kind kind;
    struct vec agents; /* char *: pipeline steps, fan-out branches, analysts */
    char *lead;        /* route: classifier; fanout: into (may be NULL); compete: judge;
                          delegate: manager; decompose: decomposer */
    char *executor;    /* decompose */
    int depth;         /* decompose: the deepest level that may still split */
    int timeout_ms;    /* fanout, compete: a branch's time limit; 0: none */
    bool all;          /* fanout, compete: one failed branch fails the pattern */
    cJSON *prompts;    /* pipeline: agent name -> its step's prompt; may be NULL */
};

void pattern_params_init(struct pattern_params *p, enum pattern_kind kind);
void pattern_params_fini(struct pattern_params *p);
void pattern_params_copy(struct pattern_params *to, const struct pattern_params *from);

/* A named pattern of the profile, run with /run NAME TEXT. */
struct workflow {
    char *name;
    char *description; /* may be NULL */
    struct pattern_params params;
};

/* The explicit state object of the guide's "shared state" pattern. */
struct state_config {
    bool inject;    /* each input gets "CURRENT STATE: {...}" first */
    bool read;      /* "STATE: {...}" in an output is merged into the state */
    cJSON *initial; /* an object; never NULL */
};

struct team {
    char *name;           /* may be NULL */
    char *description;    /* may be NULL */
    char *path;           /* the profile file, NULL when empty */
    struct vec agents;    /* struct agent * */
    struct vec functions; /* struct function_def * */
    /* struct mcp_server_def *, the profile's "mcp" */
    struct vec mcp_servers;
    int max_turns;
    cJSON *routes;  /* route: normalized label -> agent; "fallback" is the default; may be NULL */
    cJSON *markers; /* text handoffs: MARKER (as in "HANDOFF: MARKER") -> agent; may be NULL */
    cJSON *prompts; /* pipeline: agent -> its step's prompt; may be NULL */
    struct state_config state;
    cJSON *handlers;      /* events: event name -> agent, registered at start-up; may be NULL */
    struct vec workflows; /* struct workflow * */
};

/* The workflow named name, or NULL. */
const struct workflow *team_find_workflow(const struct team *team, const char *name);
/* Lowers a route label and keeps only its letters and digits, for matching:
 * "Technical support." -> "technicalsupport". The caller frees it. */
char *route_label_normalize(const char *label);

struct team *team_new(void);
void team_free(struct team *team);
struct agent *team_find_agent(const struct team *team, const char *name);
/* The agent the backend knows by remote_id (may be NULL), or NULL. */
struct agent *team_find_agent_by_remote_id(const struct team *team, const char *remote_id);
const struct function_def *team_find_function(const struct team *team, const char *name);
const struct mcp_server_def *team_find_mcp_server(const struct team *team, const char *name);
/* Takes ownership of agent. */
void team_add_agent(struct team *team, struct agent *agent);
/* Removes and frees the named agent; returns false when there is none. */
bool team_delete_agent(struct team *team, const char *name);
/* Whether routes, markers, prompts, handlers or a workflow name the agent,
 * which must then not be deleted. When it is, *why (if why is not NULL)
 * becomes a new string saying what names it first, such as
 * `workflow "report" uses it`; the caller frees it. */
bool team_agent_is_referenced(const struct team *team, const char *name, char **why);
/* The max_turns that applies to agent. */
int team_max_turns(const struct team *team, const struct agent *agent);

void function_def_free(struct function_def *fn);
void mcp_server_def_free(struct mcp_server_def *def);

#endif
