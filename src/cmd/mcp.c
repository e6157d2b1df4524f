/* /mcp list|tools|restart: the profile's MCP servers (doc/mcp.md). */
#include "config.h"

#include <stdlib.h>

#include "cmd/internal.h"
#include "core/xalloc.h"
#include "tools/mcp.h"

static enum cmd_status cmd_mcp_list(struct cmd_call *call)
{
    cJSON *fields = cJSON_CreateObject();

    cJSON_AddItemToObject(fields, "servers", mcp_hub_describe(call->session->mcp));
    event_emit(&call->session->events, "mcp.list", fields);
    return CMD_OK;
}

static enum cmd_status cmd_mcp_tools(struct cmd_call *call)
{
    const char *server = cmd_arg(call, 0);
    char *error = NULL;
    cJSON *tools = mcp_hub_tools(call->session->mcp, server, &error), *fields;

    if (!tools)
        return cmd_result(call, false, error);
    fields = cJSON_CreateObject();
    if (server)
        cJSON_AddStringToObject(fields, "server", server);
    cJSON_AddItemToObject(fields, "tools", tools);
    event_emit(&call->session->events, "mcp.tool.list", fields);
    return CMD_OK;
}

/* The restart has ended: batch mode waits for it (s->syncing), and a
 * server that did not come back fails the command. */
static void on_restarted(void *ud, const char *error)
{
    struct session *s = ud;

    s->syncing--;
    if (error)
        s->async_failures++;
}

static enum cmd_status cmd_mcp_restart(struct cmd_call *call)
{
    struct session *s = call->session;
    char *error = NULL;
    bool ok;

    s->syncing++;
    ok = mcp_hub_restart(s->mcp, cmd_arg(call, 0), on_restarted, s, &error);
    if (!ok)
        s->syncing--;
    return cmd_result(call, ok, error);
}

/* clang-format off */
const struct command_spec cmd_mcp_subcommands[] = {
    {"list", "", "list the MCP servers and their state", NULL, 0, 0, NULL, NULL, cmd_mcp_list},
    {"tools", "[SERVER]", "list the servers' tools and the function names agents call them by", NULL, 0, 1, NULL,
     NULL, cmd_mcp_tools},
    {"restart", "NAME", "stop an MCP server and start it again", NULL, 1, 1, NULL, NULL, cmd_mcp_restart},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL, NULL},
};
/* clang-format on */
