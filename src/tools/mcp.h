/* The MCP client (doc/mcp.md): the profile's MCP servers, started over
 * stdio or reached over HTTP (Streamable HTTP, or the older HTTP+SSE), and
 * their tools handed to agents as ordinary function tools.
 *
 * A hub holds every server of a team. Once a server has listed its tools,
 * each agent that takes them ({"type": "mcp", "server": NAME} in its
 * profile, kept in agent->mcp) gets them in agent->tools as function tools
 * named SERVER__TOOL, so every backend sends them like any other function;
 * a call of such a function goes to mcp_call_start() instead of a program.
 * Server states, progress, logs and failures are events (mcp.*). */
#ifndef AGENTDECK_TOOLS_MCP_H
#define AGENTDECK_TOOLS_MCP_H

#include <cJSON.h>
#include <stdbool.h>

#include "core/loop.h"
#include "model/event.h"
#include "model/team.h"
#include "tools/function.h"

struct mcp_hub;
struct mcp_call;

/* The protocol revision we ask for, and a handshake's time limit. */
#define MCP_PROTOCOL_VERSION "2025-11-25"
#define MCP_START_TIMEOUT_MS 30000
/* How long a stopping stdio server gets after its stdin closes, and again
 * after SIGTERM, before the next step. */
#define MCP_STOP_GRACE_MS 2000

/* Called after a server's tools changed in the team's agents (listed,
 * listed again, or gone with the server), so that the backend learns them. */
typedef void mcp_changed_fn(void *ud);
/* The end of a start or restart: error is NULL when the server is ready. */
typedef void mcp_ready_fn(void *ud, const char *error);
/* For runs waiting for servers to settle (mcp_hub_wait). */
typedef void mcp_wake_fn(void *ud);

/* A hub for team's servers (none runs yet); events go to events. The team
 * and the stream must outlive it. */
struct mcp_hub *mcp_hub_new(struct loop *loop, struct event_stream *events, struct team *team);
/* Kills what still runs (no waiting: see mcp_hub_shutdown) and frees the
 * hub; calls in flight end without their done being called. NULL is fine. */
void mcp_hub_free(struct mcp_hub *hub);
void mcp_hub_on_change(struct mcp_hub *hub, mcp_changed_fn *fn, void *ud);

/* Starts every server, from the loop (so events come once sinks are set). */
void mcp_hub_start(struct mcp_hub *hub);
/* Whether no server is starting (each is ready, failed or stopped). */
bool mcp_hub_settled(const struct mcp_hub *hub);
/* Stops every server gracefully: stdio servers get their stdin closed,
 * then SIGTERM, then SIGKILL; HTTP sessions are deleted. */
void mcp_hub_shutdown(struct mcp_hub *hub);
/* Whether every server has stopped (true for NULL). */
bool mcp_hub_stopped(const struct mcp_hub *hub);
/* Stops server name and starts it again; done (may be NULL) comes from the
 * loop when it is ready or has failed. Returns false with *error (a new
 * string) when there is no such server. */
bool mcp_hub_restart(struct mcp_hub *hub, const char *name, mcp_ready_fn *done, void *ud, char **error);

/* Whether an agent with these MCP uses (agent->mcp) must wait for a server
 * still starting. If so, wake(ud) is called from the loop once one settles
 * (the caller then asks again) and true is returned. */
bool mcp_hub_wait(struct mcp_hub *hub, const cJSON *uses, mcp_wake_fn *wake, void *ud);
/* Forgets the waits of ud. */
void mcp_hub_unwait(struct mcp_hub *hub, void *ud);

/* Whether function name is an MCP tool (SERVER__TOOL of a server of the
 * profile), running or not. */
bool mcp_hub_claims(const struct mcp_hub *hub, const char *name);
/* Calls the tool behind function name with arguments (JSON object text).
 * context (copied; may be NULL) holds fields for the call's mcp.progress
 * events (conversation, agent, run, tool_call_id). done comes once, from
 * the loop: ok with the result as text, or !ok with a sentence (the tool's
 * error result, a timeout, a server that died). Returns a handle for
 * mcp_call_cancel(), valid until done is called. */
struct mcp_call *mcp_call_start(struct mcp_hub *hub, const char *name, const char *arguments, const cJSON *context,
                                function_done_fn *done, void *ud);
/* Cancels a call (the server is told); done is not called. NULL is fine. */
void mcp_call_cancel(struct mcp_call *call);

/* For /mcp list: one object per server (name, transport, state, tools,
 * and where they apply pid, url, server, protocol_version, error). New. */
cJSON *mcp_hub_describe(const struct mcp_hub *hub);
/* For /mcp tools: the tools of server (NULL: of all), each {server, tool,
 * function, description}. NULL with *error (new) for an unknown server. */
cJSON *mcp_hub_tools(const struct mcp_hub *hub, const char *server, char **error);

/* ---- pure helpers (mcp_text.c), exported for the tests ---- */

/* The function name of server's tool: SERVER__TOOL with every character
 * outside [a-zA-Z0-9_-] made "_", at most 64 characters. With hashed (or
 * when too long) it ends with "_" and 8 hex digits of a hash of the pair,
 * which tells apart tools whose plain names would be the same. New. */
char *mcp_function_name(const char *server, const char *tool, bool hashed);
/* The function tool for an MCP tool object: {"type": "function",
 * "function": {name, description, parameters}}, parameters made an object
 * schema. New. */
cJSON *mcp_function_tool(const char *function_name, const cJSON *tool);
/* A CallToolResult as the text a model reads: text blocks as they are,
 * images and audio as placeholders, resource links and embedded resources
 * described, structured content as JSON when no text block carries it. New. */
char *mcp_result_text(const cJSON *result);

#endif
