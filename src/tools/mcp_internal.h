/* What the MCP client's protocol (mcp.c) and its transports (mcp_stdio.c,
 * mcp_http.c) share, and nothing else uses. A transport moves whole
 * JSON-RPC messages; the protocol never sees bytes or HTTP. */
#ifndef AGENTDECK_TOOLS_MCP_INTERNAL_H
#define AGENTDECK_TOOLS_MCP_INTERNAL_H

#include <cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/loop.h"
#include "model/team.h"

struct mcp_server;

struct mcp_transport_ops {
    const char *name; /* "stdio", "http" or "sse": what /mcp list shows */
    /* Starts the transport. Once messages may be sent it calls
     * mcp_server_transport_ready() (perhaps before returning). Returns
     * false with *error (a new sentence) when it cannot start at all. */
    bool (*open)(struct mcp_server *srv, char **error);
    /* Sends one message (no newline in it); id is the request's id, or -1
     * for a notification or a response. Never calls back from inside. */
    void (*send)(struct mcp_server *srv, const char *json, int64_t id);
    /* Ends the connection gracefully; mcp_server_transport_closed() comes
     * from the loop when it has. */
    void (*close)(struct mcp_server *srv);
    /* Ends it at once and frees the transport; no callback follows. Also
     * the release after a loss or a close. */
    void (*kill)(struct mcp_server *srv);
    /* Adds where the server is to obj (pid, url). */
    void (*describe)(const struct mcp_server *srv, cJSON *obj);
};

extern const struct mcp_transport_ops mcp_stdio_ops;
extern const struct mcp_transport_ops mcp_http_ops;
extern const struct mcp_transport_ops mcp_sse_ops;

/* The part of a server that transports use. */
struct mcp_server_base {
    struct loop *loop;
    const struct mcp_server_def *def;
    void *transport;        /* the transport's own state, NULL when none */
    char *protocol_version; /* once negotiated: HTTP sends it as a header */
};

/* Calls from a transport to the protocol. They may be made from inside the
 * transport's own callbacks: the protocol never frees the transport there. */
void mcp_server_transport_ready(struct mcp_server *srv);
/* One complete message text (a line, or an SSE event's data). */
void mcp_server_received(struct mcp_server *srv, const char *text);
/* The connection is gone (the process exited, the stream broke); why is a
 * sentence. Nothing more comes from the transport. */
void mcp_server_lost(struct mcp_server *srv, const char *why);
/* A request could not be delivered, or was answered without JSON-RPC (an
 * HTTP error status): it fails with why; the server stays. */
void mcp_server_request_failed(struct mcp_server *srv, int64_t id, const char *why);
/* A graceful close has finished. */
void mcp_server_transport_closed(struct mcp_server *srv);
/* A line for the log: the server's stderr, or a transport's remark. */
void mcp_server_log(struct mcp_server *srv, const char *stream, const char *text);

static inline struct mcp_server_base *mcp_base(struct mcp_server *srv)
{
    return (struct mcp_server_base *)srv; /* the base comes first */
}

#endif
