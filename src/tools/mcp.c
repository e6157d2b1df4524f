/* The MCP client's protocol: the handshake, tools/list with paging,
 * tools/call with time limits, cancellation and progress, and the hub that
 * keeps the servers of a team and hands their tools to its agents
 * (shared/api/MCP.md §1-§4, doc/mcp.md). */
#include "config.h"

#include "tools/mcp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/vec.h"
#include "core/xalloc.h"
#include "text/utf8.h"
#include "tools/mcp_internal.h"

/* A listing stops after this many pages: a server that pages forever. */
#define MAX_LIST_PAGES 100
/* A call whose server keeps reporting progress still ends after this. */
#define MAX_CALL_MS (10 * 60 * 1000)

enum server_state {
    SRV_IDLE,     /* not started yet */
    SRV_STARTING, /* the transport, the handshake and the first listing */
    SRV_READY,
    SRV_FAILED,   /* could not start, or died; error says why */
    SRV_STOPPING, /* closing as asked */
    SRV_STOPPED,
};

static const char *const state_names[] = {"not started", "starting", "ready", "failed", "stopping", "stopped"};

/* A tool as the server lists it, and the function name agents know it by. */
struct mcp_tool {
    char *tool;
    char *function;
    cJSON *def; /* the Tool object */
};

/* Someone waiting for a restart to end. */
struct ready_waiter {
    mcp_ready_fn *done;
    void *ud;
};

struct mcp_server {
    struct mcp_server_base base; /* first: the transports' view */
    struct mcp_hub *hub;
    const struct mcp_transport_ops *ops;
    enum server_state state;
    char *error;
    cJSON *info; /* serverInfo from the handshake, or NULL */
    int64_t next_id;
    int64_t init_id, list_id; /* the handshake's and the listing's requests in flight, or 0 */
    struct vec tools;         /* struct mcp_tool * */
    struct vec listing;       /* ... of the listing in progress */
    int pages;
    bool relist;  /* the list changed while it was being read */
    bool restart; /* start again once stopped */
    uint64_t start_timer, release_timer;
    struct vec waiters; /* struct ready_waiter * */
};

struct mcp_call {
    struct mcp_hub *hub;
    struct mcp_server *srv; /* NULL when it failed before reaching one */
    char *function;
    char *tool;
    cJSON *arguments;
    cJSON *context;
    int64_t id; /* the tools/call request, 0 until sent */
    int64_t started_ms;
    int timeout_ms;
    uint64_t timer; /* the deadline, then the delivery of the outcome */
    bool finished;
    bool ok;
    char *text;
    function_done_fn *done;
    void *ud;
};

struct hub_waiter {
    mcp_wake_fn *wake;
    void *ud;
};

struct mcp_hub {
    struct loop *loop;
    struct event_stream *events;
    struct team *team;
    struct vec servers; /* struct mcp_server * */
    struct vec calls;   /* struct mcp_call * whose done is still to come */
    struct vec waiters; /* struct hub_waiter * */
    uint64_t start_timer, wake_timer;
    mcp_changed_fn *changed;
    void *changed_ud;
};

static void start_server(struct mcp_server *srv);
static bool server_busy(const struct mcp_hub *hub, const struct mcp_server *srv);
static void call_finish(struct mcp_call *call, bool ok, const char *text);
static void send_call(struct mcp_call *call);

/* ---- small things ------------------------------------------------------ */

static void tool_free(void *item)
{
    struct mcp_tool *t = item;
    free(t->tool);
    free(t->function);
    cJSON_Delete(t->def);
    free(t);
}

static const char *str_field(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Adds text to fields as key, made valid UTF-8 first (servers write anything). */
static void add_text(cJSON *fields, const char *key, const char *text)
{
    char *clean = utf8_repair(text, strlen(text));
    cJSON_AddStringToObject(fields, key, clean);
    free(clean);
}

static void emit(struct mcp_hub *hub, const char *type, cJSON *fields)
{
    event_emit(hub->events, type, fields);
}

static cJSON *server_fields(const struct mcp_server *srv)
{
    cJSON *fields = cJSON_CreateObject();
    cJSON_AddStringToObject(fields, "server", srv->base.def->name);
    return fields;
}

static void emit_server_message(struct mcp_server *srv, const char *type, const char *message)
{
    cJSON *fields = server_fields(srv);
    add_text(fields, "message", message);
    emit(srv->hub, type, fields);
}

static struct mcp_server *find_server(const struct mcp_hub *hub, const char *name)
{
    for (size_t i = 0; hub && i < hub->servers.len; i++) {
        struct mcp_server *srv = hub->servers.items[i];
        if (strcmp(srv->base.def->name, name) == 0)
            return srv;
    }
    return NULL;
}

/* The server whose tools are named like function (SERVER__...), or NULL. */
static struct mcp_server *server_of_function(const struct mcp_hub *hub, const char *function)
{
    for (size_t i = 0; hub && i < hub->servers.len; i++) {
        struct mcp_server *srv = hub->servers.items[i];
        size_t n = strlen(srv->base.def->name);
        if (strncmp(function, srv->base.def->name, n) == 0 && strncmp(function + n, "__", 2) == 0)
            return srv;
    }
    return NULL;
}

static const struct mcp_tool *find_tool(const struct mcp_server *srv, const char *function)
{
    for (size_t i = 0; i < srv->tools.len; i++) {
        const struct mcp_tool *t = srv->tools.items[i];
        if (strcmp(t->function, function) == 0)
            return t;
    }
    return NULL;
}

/* ---- sending ------------------------------------------------------------ */

static void send_message(struct mcp_server *srv, cJSON *msg, int64_t id)
{
    char *text = cJSON_PrintUnformatted(msg);

    if (!text)
        fatal("out of memory printing an MCP message");
    srv->ops->send(srv, text, id);
    cJSON_free(text);
    cJSON_Delete(msg);
}

static cJSON *new_message(void)
{
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "jsonrpc", "2.0");
    return msg;
}

/* Sends method with params (taken; may be NULL); returns the request's id. */
static int64_t send_request(struct mcp_server *srv, const char *method, cJSON *params)
{
    cJSON *msg = new_message();
    int64_t id = ++srv->next_id;

    cJSON_AddNumberToObject(msg, "id", (double)id);
    cJSON_AddStringToObject(msg, "method", method);
    if (params)
        cJSON_AddItemToObject(msg, "params", params);
    send_message(srv, msg, id);
    return id;
}

static void send_notification(struct mcp_server *srv, const char *method, cJSON *params)
{
    cJSON *msg = new_message();

    cJSON_AddStringToObject(msg, "method", method);
    if (params)
        cJSON_AddItemToObject(msg, "params", params);
    send_message(srv, msg, -1);
}

/* Answers a request of the server: result (taken), or an error when NULL. */
static void send_reply(struct mcp_server *srv, const cJSON *id, cJSON *result, int code, const char *message)
{
    cJSON *msg = new_message();

    cJSON_AddItemToObject(msg, "id", cJSON_Duplicate(id, 1));
    if (result) {
        cJSON_AddItemToObject(msg, "result", result);
    } else {
        cJSON *error = cJSON_AddObjectToObject(msg, "error");
        cJSON_AddNumberToObject(error, "code", code);
        cJSON_AddStringToObject(error, "message", message);
    }
    send_message(srv, msg, -1);
}

/* ---- the agents' tools ----------------------------------------------------- */

/* Whether function tool is one of server's (SERVER__...). */
static bool is_tool_of(const cJSON *tool, const char *server)
{
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
    const char *name = str_field(fn, "name");
    size_t n = strlen(server);
    return name && strncmp(name, server, n) == 0 && strncmp(name + n, "__", 2) == 0;
}

static bool use_wants(const cJSON *use, const char *tool)
{
    const cJSON *wanted = cJSON_GetObjectItemCaseSensitive(use, "tools"), *item;

    if (!wanted)
        return true;
    cJSON_ArrayForEach(item, wanted) {
        if (cJSON_IsString(item) && strcmp(item->valuestring, tool) == 0)
            return true;
    }
    return false;
}

/* Rewrites each agent's MCP function tools from what the servers list now. */
static void apply_tools(struct mcp_hub *hub)
{
    for (size_t i = 0; i < hub->team->agents.len; i++) {
        struct agent *a = hub->team->agents.items[i];
        const cJSON *use;

        cJSON_ArrayForEach(use, a->mcp) {
            const char *name = str_field(use, "server");
            struct mcp_server *srv = name ? find_server(hub, name) : NULL;
            cJSON *tool = a->tools->child;

            while (tool) {
                cJSON *next = tool->next;
                if (name && is_tool_of(tool, name))
                    cJSON_Delete(cJSON_DetachItemViaPointer(a->tools, tool));
                tool = next;
            }
            if (!srv || srv->state != SRV_READY)
                continue;
            for (size_t k = 0; k < srv->tools.len; k++) {
                const struct mcp_tool *t = srv->tools.items[k];
                if (use_wants(use, t->tool))
                    cJSON_AddItemToArray(a->tools, mcp_function_tool(t->function, t->def));
            }
        }
    }
}

/* A warning for each tool an agent asks for that srv does not list. */
static void warn_missing_tools(struct mcp_server *srv)
{
    struct mcp_hub *hub = srv->hub;

    for (size_t i = 0; i < hub->team->agents.len; i++) {
        const struct agent *a = hub->team->agents.items[i];
        const cJSON *use, *item;

        cJSON_ArrayForEach(use, a->mcp) {
            const char *name = str_field(use, "server");
            if (!name || strcmp(name, srv->base.def->name) != 0)
                continue;
            cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(use, "tools")) {
                bool found = false;
                for (size_t k = 0; k < srv->tools.len && !found; k++)
                    found = strcmp(((struct mcp_tool *)srv->tools.items[k])->tool, item->valuestring) == 0;
                if (!found) {
                    cJSON *fields = server_fields(srv);
                    char *message = xasprintf("agent %s asks for the tool \"%s\", which MCP server %s does not have",
                                              a->name, item->valuestring, srv->base.def->name);
                    cJSON_AddStringToObject(fields, "agent", a->name);
                    add_text(fields, "message", message);
                    emit(hub, "warning", fields);
                    free(message);
                }
            }
        }
    }
}

/* Wakes the waiting runs from the loop: they ask again. */
static void on_wake(struct loop *loop, void *ud)
{
    struct mcp_hub *hub = ud;
    struct vec waiters = hub->waiters;

    hub->wake_timer = 0;
    vec_init(&hub->waiters, free);
    for (size_t i = 0; i < waiters.len; i++) {
        struct hub_waiter *w = waiters.items[i];
        w->wake(w->ud);
    }
    vec_fini(&waiters);
}

/* The servers' tools changed: the agents, the backend and waiting runs learn it. */
static void tools_changed(struct mcp_hub *hub)
{
    apply_tools(hub);
    if (hub->changed)
        hub->changed(hub->changed_ud);
    if (hub->waiters.len && !hub->wake_timer)
        hub->wake_timer = loop_timer_add(hub->loop, 0, on_wake, hub);
}

static void notify_ready_waiters(struct mcp_server *srv, const char *error)
{
    struct vec waiters = srv->waiters;

    vec_init(&srv->waiters, free);
    for (size_t i = 0; i < waiters.len; i++) {
        struct ready_waiter *w = waiters.items[i];
        w->done(w->ud, error);
    }
    vec_fini(&waiters);
}

/* ---- the life of a server -------------------------------------------------- */

static void on_release(struct loop *loop, void *ud)
{
    struct mcp_server *srv = ud;
    srv->release_timer = 0;
    if (srv->base.transport)
        srv->ops->kill(srv);
    if (srv->state == SRV_STOPPED && srv->restart)
        start_server(srv);
}

/* Frees the transport from the loop: we may be inside its callback. */
static void release_transport(struct mcp_server *srv)
{
    if (srv->base.transport && !srv->release_timer)
        srv->release_timer = loop_timer_add(srv->base.loop, 0, on_release, srv);
}

static void forget_session(struct mcp_server *srv)
{
    loop_timer_cancel(srv->base.loop, srv->start_timer);
    srv->start_timer = 0;
    srv->init_id = srv->list_id = 0;
    srv->relist = false;
    vec_truncate(&srv->listing, 0);
    vec_truncate(&srv->tools, 0);
    free(srv->base.protocol_version);
    srv->base.protocol_version = NULL;
}

/* Ends srv's calls (sent or waiting for it) with message. */
static void fail_calls(struct mcp_server *srv, const char *message)
{
    struct mcp_hub *hub = srv->hub;

    for (size_t i = 0; i < hub->calls.len; i++) {
        struct mcp_call *call = hub->calls.items[i];
        if (call->srv == srv && !call->finished) {
            char *text = xasprintf("%s: %s", call->function, message);
            call_finish(call, false, text);
            free(text);
        }
    }
}

/* The server could not start, or stopped working: say so once, end its
 * calls, and go on without it. */
static void server_failed(struct mcp_server *srv, const char *why)
{
    bool starting = srv->state == SRV_STARTING;
    char *message;

    if (srv->state != SRV_STARTING && srv->state != SRV_READY)
        return;
    message = xasprintf(starting ? "MCP server %s could not start: %s" : "MCP server %s stopped working: %s",
                        srv->base.def->name, why);
    srv->state = SRV_FAILED;
    free(srv->error);
    srv->error = xasprintf(starting ? "it could not start: %s" : "it stopped working: %s", why);
    forget_session(srv);
    release_transport(srv);
    emit_server_message(srv, "mcp.error", message);
    fail_calls(srv, message);
    tools_changed(srv->hub);
    notify_ready_waiters(srv, message);
    free(message);
}

static void on_start_timeout(struct loop *loop, void *ud)
{
    struct mcp_server *srv = ud;
    char *why = xasprintf("no answer to the handshake within %d s", MCP_START_TIMEOUT_MS / 1000);

    srv->start_timer = 0;
    server_failed(srv, why);
    free(why);
}

static const struct mcp_transport_ops *transport_of(const struct mcp_server_def *def)
{
    if (def->argv)
        return &mcp_stdio_ops;
    return def->legacy_sse ? &mcp_sse_ops : &mcp_http_ops;
}

/* Never from inside a transport's callback: a leftover transport is freed here. */
static void start_server(struct mcp_server *srv)
{
    char *error = NULL;

    if (srv->base.transport)
        srv->ops->kill(srv);
    loop_timer_cancel(srv->base.loop, srv->release_timer);
    srv->release_timer = 0;
    forget_session(srv);
    free(srv->error);
    srv->error = NULL;
    cJSON_Delete(srv->info);
    srv->info = NULL;
    srv->restart = false;
    srv->next_id = 0;
    srv->state = SRV_STARTING;
    srv->ops = transport_of(srv->base.def);
    srv->start_timer = loop_timer_add(srv->base.loop, MCP_START_TIMEOUT_MS, on_start_timeout, srv);
    if (!srv->ops->open(srv, &error)) {
        server_failed(srv, error);
        free(error);
    }
}

void mcp_server_transport_ready(struct mcp_server *srv)
{
    cJSON *params = cJSON_CreateObject();
    cJSON *info;

    if (srv->state != SRV_STARTING || srv->init_id)
        return;
    cJSON_AddStringToObject(params, "protocolVersion", MCP_PROTOCOL_VERSION);
    /* Tools only: declaring no capability, we get no server requests to answer. */
    cJSON_AddItemToObject(params, "capabilities", cJSON_CreateObject());
    info = cJSON_AddObjectToObject(params, "clientInfo");
    cJSON_AddStringToObject(info, "name", "agentdeck");
    cJSON_AddStringToObject(info, "version", PACKAGE_VERSION);
    srv->init_id = send_request(srv, "initialize", params);
}

static void list_tools(struct mcp_server *srv, const char *cursor)
{
    cJSON *params = cJSON_CreateObject();

    if (cursor)
        cJSON_AddStringToObject(params, "cursor", cursor);
    srv->pages++;
    srv->list_id = send_request(srv, "tools/list", params);
}

static void begin_listing(struct mcp_server *srv)
{
    vec_truncate(&srv->listing, 0);
    srv->pages = 0;
    srv->relist = false;
    list_tools(srv, NULL);
}

static bool version_supported(const char *version)
{
    static const char *const versions[] = {"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05", NULL};
    for (size_t i = 0; version && versions[i]; i++) {
        if (strcmp(versions[i], version) == 0)
            return true;
    }
    return false;
}

static void finish_listing(struct mcp_server *srv);

static void on_initialized(struct mcp_server *srv, const cJSON *result)
{
    const char *version = str_field(result, "protocolVersion");
    const cJSON *caps = cJSON_GetObjectItemCaseSensitive(result, "capabilities");

    srv->init_id = 0;
    if (!version_supported(version)) {
        char *why = xasprintf("it speaks protocol version %s, which agentdeck does not (it knows 2024-11-05 to %s)",
                              version ? version : "(none)", MCP_PROTOCOL_VERSION);
        server_failed(srv, why);
        free(why);
        return;
    }
    srv->base.protocol_version = xstrdup(version);
    srv->info = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(result, "serverInfo"), 1);
    /* Only now: a server may set up its tools by what the client declared. */
    send_notification(srv, "notifications/initialized", NULL);
    if (!cJSON_GetObjectItemCaseSensitive(caps, "tools")) {
        finish_listing(srv); /* a server without tools is ready, with none */
        return;
    }
    begin_listing(srv);
}

/* Names the listed tools; a name taken by an earlier tool gets a hash. */
static void name_tools(struct mcp_server *srv)
{
    for (size_t i = 0; i < srv->listing.len; i++) {
        struct mcp_tool *t = srv->listing.items[i];
        t->function = mcp_function_name(srv->base.def->name, t->tool, false);
        for (size_t k = 0; k < i; k++) {
            if (strcmp(((struct mcp_tool *)srv->listing.items[k])->function, t->function) == 0) {
                free(t->function);
                t->function = mcp_function_name(srv->base.def->name, t->tool, true);
                break;
            }
        }
    }
}

static void send_waiting_calls(struct mcp_server *srv)
{
    struct mcp_hub *hub = srv->hub;

    for (size_t i = 0; i < hub->calls.len; i++) {
        struct mcp_call *call = hub->calls.items[i];
        if (call->srv == srv && !call->finished && !call->id)
            send_call(call);
    }
}

static void finish_listing(struct mcp_server *srv)
{
    bool first = srv->state == SRV_STARTING;
    struct vec done = srv->tools;
    cJSON *fields;

    name_tools(srv);
    srv->tools = srv->listing;
    srv->listing = done;
    vec_truncate(&srv->listing, 0);
    srv->list_id = 0;
    fields = server_fields(srv);
    if (first) {
        const char *name = str_field(srv->info, "name"), *version = str_field(srv->info, "version");
        loop_timer_cancel(srv->base.loop, srv->start_timer);
        srv->start_timer = 0;
        srv->state = SRV_READY;
        cJSON_AddStringToObject(fields, "transport", srv->ops->name);
        srv->ops->describe(srv, fields);
        if (name)
            add_text(fields, "server_name", name);
        if (version)
            add_text(fields, "server_version", version);
        cJSON_AddStringToObject(fields, "protocol_version", srv->base.protocol_version);
    }
    cJSON_AddNumberToObject(fields, "tools", (double)srv->tools.len);
    emit(srv->hub, first ? "mcp.started" : "mcp.tools_changed", fields);
    warn_missing_tools(srv);
    tools_changed(srv->hub);
    if (first)
        notify_ready_waiters(srv, NULL);
    send_waiting_calls(srv);
    if (srv->relist && srv->state == SRV_READY)
        begin_listing(srv);
}

static void on_tools_page(struct mcp_server *srv, const cJSON *result)
{
    const cJSON *tool;
    const char *cursor = str_field(result, "nextCursor");

    cJSON_ArrayForEach(tool, cJSON_GetObjectItemCaseSensitive(result, "tools")) {
        const char *name = str_field(tool, "name");
        const cJSON *execution = cJSON_GetObjectItemCaseSensitive(tool, "execution");
        const char *support = str_field(execution, "taskSupport");
        struct mcp_tool *t;
        if (!name || !name[0])
            continue;
        /* Tools that only run as tasks need a client that does tasks. */
        if (support && strcmp(support, "required") == 0)
            continue;
        t = xcalloc(1, sizeof *t);
        t->tool = xstrdup(name);
        t->def = cJSON_Duplicate(tool, 1);
        vec_push(&srv->listing, t);
    }
    if (cursor && cursor[0] && srv->pages < MAX_LIST_PAGES) {
        list_tools(srv, cursor);
        return;
    }
    finish_listing(srv);
}

/* ---- calls ------------------------------------------------------------------ */

static void call_free(struct mcp_call *call)
{
    loop_timer_cancel(call->hub->loop, call->timer);
    free(call->function);
    free(call->tool);
    cJSON_Delete(call->arguments);
    cJSON_Delete(call->context);
    free(call->text);
    free(call);
}

static void call_forget(struct mcp_call *call)
{
    struct vec *calls = &call->hub->calls;
    for (size_t i = 0; i < calls->len; i++) {
        if (calls->items[i] == call) {
            vec_remove(calls, i);
            break;
        }
    }
}

static void on_deliver(struct loop *loop, void *ud)
{
    struct mcp_call *call = ud;
    function_done_fn *done = call->done;
    void *done_ud = call->ud;
    bool ok = call->ok;
    char *text = call->text;

    call->timer = 0;
    call->text = NULL;
    call_forget(call);
    call_free(call);
    done(done_ud, ok, text);
    free(text);
}

/* The call's outcome, delivered from the loop: never from inside a
 * transport's callback or mcp_call_start(). */
static void call_finish(struct mcp_call *call, bool ok, const char *text)
{
    if (call->finished)
        return;
    call->finished = true;
    call->ok = ok;
    call->text = xstrdup(text);
    loop_timer_cancel(call->hub->loop, call->timer);
    call->timer = loop_timer_add(call->hub->loop, 0, on_deliver, call);
}

static void send_cancel(struct mcp_call *call, const char *reason)
{
    cJSON *params = cJSON_CreateObject();

    cJSON_AddNumberToObject(params, "requestId", (double)call->id);
    cJSON_AddStringToObject(params, "reason", reason);
    send_notification(call->srv, "notifications/cancelled", params);
}

static void on_call_timeout(struct loop *loop, void *ud)
{
    struct mcp_call *call = ud;
    char *text;

    call->timer = 0;
    if (call->id && call->srv->state == SRV_READY)
        send_cancel(call, "timed out");
    text = xasprintf("%s timed out after %g s (the call was cancelled)", call->function, call->timeout_ms / 1000.0);
    call_finish(call, false, text);
    free(text);
}

static void arm_deadline(struct mcp_call *call)
{
    int64_t left = call->started_ms + MAX_CALL_MS - clock_now_ms();
    int64_t wait = call->timeout_ms < left ? call->timeout_ms : left;

    loop_timer_cancel(call->hub->loop, call->timer);
    call->timer = loop_timer_add(call->hub->loop, wait, on_call_timeout, call);
}

/* Sends a call whose server is ready, or ends it when the tool is gone. */
static void send_call(struct mcp_call *call)
{
    const struct mcp_tool *t = find_tool(call->srv, call->function);
    cJSON *params, *meta;

    if (!t) {
        char *text = xasprintf("%s: MCP server %s has no such tool (it lists %zu: see /mcp tools %s)", call->function,
                               call->srv->base.def->name, call->srv->tools.len, call->srv->base.def->name);
        call_finish(call, false, text);
        free(text);
        return;
    }
    call->tool = xstrdup(t->tool);
    params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "name", t->tool);
    cJSON_AddItemToObject(params, "arguments", call->arguments);
    call->arguments = NULL;
    meta = cJSON_AddObjectToObject(params, "_meta");
    /* The request's own id, as the SDK does: send_request() takes the next. */
    cJSON_AddNumberToObject(meta, "progressToken", (double)(call->srv->next_id + 1));
    call->id = send_request(call->srv, "tools/call", params);
    arm_deadline(call);
}

struct mcp_call *mcp_call_start(struct mcp_hub *hub, const char *name, const char *arguments, const cJSON *context,
                                function_done_fn *done, void *ud)
{
    struct mcp_call *call = xcalloc(1, sizeof *call);
    cJSON *args = arguments && *arguments ? cJSON_Parse(arguments) : cJSON_CreateObject();
    struct mcp_server *srv = server_of_function(hub, name);

    call->hub = hub;
    call->function = xstrdup(name);
    call->context = context ? cJSON_Duplicate(context, 1) : NULL;
    call->started_ms = clock_now_ms();
    call->done = done;
    call->ud = ud;
    vec_push(&hub->calls, call);
    if (!cJSON_IsObject(args)) {
        char *text = xasprintf("%s: the arguments are not a JSON object", name);
        cJSON_Delete(args);
        call_finish(call, false, text);
        free(text);
        return call;
    }
    call->arguments = args;
    if (!srv) {
        char *text = xasprintf("%s: no MCP server of this profile has such a tool", name);
        call_finish(call, false, text);
        free(text);
        return call;
    }
    call->srv = srv;
    call->timeout_ms = srv->base.def->timeout_ms > 0 ? srv->base.def->timeout_ms : MCP_DEFAULT_TIMEOUT_MS;
    if (srv->state == SRV_READY) {
        send_call(call);
    } else if (server_busy(hub, srv)) {
        arm_deadline(call); /* sent once the server is ready */
    } else {
        char *text = srv->state == SRV_FAILED
                         ? xasprintf("%s: MCP server %s is not running (%s; /mcp restart %s tries again)", name,
                                     srv->base.def->name, srv->error, srv->base.def->name)
                         : xasprintf("%s: MCP server %s is not running", name, srv->base.def->name);
        call_finish(call, false, text);
        free(text);
    }
    return call;
}

void mcp_call_cancel(struct mcp_call *call)
{
    if (!call)
        return;
    if (!call->finished && call->id && call->srv->state == SRV_READY)
        send_cancel(call, "the run no longer needs it");
    call_forget(call);
    call_free(call);
}

static struct mcp_call *call_by_id(struct mcp_server *srv, int64_t id)
{
    struct mcp_hub *hub = srv->hub;

    for (size_t i = 0; i < hub->calls.len; i++) {
        struct mcp_call *call = hub->calls.items[i];
        if (call->srv == srv && call->id == id && !call->finished)
            return call;
    }
    return NULL;
}

static void on_call_result(struct mcp_call *call, const cJSON *result)
{
    char *text = mcp_result_text(result);
    bool is_error = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(result, "isError"));

    if (is_error && !*text) {
        free(text);
        text = xstrdup("the tool reported an error without a message");
    }
    call_finish(call, !is_error, text);
    free(text);
}

/* ---- what comes in --------------------------------------------------------- */

/* "MCP error -32601: Method not found" from a JSON-RPC error object. */
static char *error_text(const cJSON *error)
{
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(error, "code");
    const char *message = str_field(error, "message");

    return xasprintf("MCP error %d: %s", cJSON_IsNumber(code) ? (int)code->valuedouble : 0,
                     message ? message : "(no message)");
}

static void on_response(struct mcp_server *srv, int64_t id, const cJSON *result, const cJSON *error)
{
    struct mcp_call *call;

    if (id && id == srv->init_id) {
        if (error) {
            char *why = error_text(error);
            server_failed(srv, why);
            free(why);
        } else {
            on_initialized(srv, result);
        }
    } else if (id && id == srv->list_id) {
        if (error) {
            char *why = error_text(error), *full = xasprintf("tools/list failed: %s", why);
            srv->list_id = 0;
            server_failed(srv, full);
            free(why);
            free(full);
        } else {
            on_tools_page(srv, result);
        }
    } else if ((call = call_by_id(srv, id))) {
        if (error) {
            char *why = error_text(error);
            call_finish(call, false, why);
            free(why);
        } else {
            on_call_result(call, result);
        }
    }
    /* Otherwise a late answer to a cancelled call: dropped. */
}

static void on_progress(struct mcp_server *srv, const cJSON *params)
{
    const cJSON *token = cJSON_GetObjectItemCaseSensitive(params, "progressToken");
    const cJSON *progress = cJSON_GetObjectItemCaseSensitive(params, "progress");
    const cJSON *total = cJSON_GetObjectItemCaseSensitive(params, "total");
    const char *message = str_field(params, "message");
    struct mcp_call *call;
    cJSON *fields;

    if (!cJSON_IsNumber(token) || !cJSON_IsNumber(progress))
        return;
    if (!(call = call_by_id(srv, (int64_t)token->valuedouble)))
        return;         /* a cancelled call's: dropped */
    arm_deadline(call); /* it is working: the time limit starts again */
    fields = call->context ? cJSON_Duplicate(call->context, 1) : cJSON_CreateObject();
    cJSON_AddStringToObject(fields, "server", srv->base.def->name);
    cJSON_AddStringToObject(fields, "tool", call->tool);
    cJSON_AddStringToObject(fields, "function", call->function);
    cJSON_AddNumberToObject(fields, "progress", progress->valuedouble);
    if (cJSON_IsNumber(total))
        cJSON_AddNumberToObject(fields, "total", total->valuedouble);
    if (message)
        add_text(fields, "message", message);
    emit(srv->hub, "mcp.progress", fields);
}

static void on_log_message(struct mcp_server *srv, const cJSON *params)
{
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(params, "data");
    const char *level = str_field(params, "level");
    char *text = cJSON_IsString(data) ? xstrdup(data->valuestring) : cJSON_PrintUnformatted(data);
    cJSON *fields = server_fields(srv);

    cJSON_AddStringToObject(fields, "stream", "notifications");
    if (level)
        add_text(fields, "level", level);
    add_text(fields, "text", text ? text : "");
    emit(srv->hub, "mcp.log", fields);
    if (cJSON_IsString(data))
        free(text);
    else
        cJSON_free(text);
}

static void on_notification(struct mcp_server *srv, const char *method, const cJSON *params)
{
    if (strcmp(method, "notifications/progress") == 0) {
        on_progress(srv, params);
    } else if (strcmp(method, "notifications/message") == 0) {
        on_log_message(srv, params);
    } else if (strcmp(method, "notifications/tools/list_changed") == 0 && srv->state == SRV_READY) {
        if (srv->list_id)
            srv->relist = true;
        else
            begin_listing(srv);
    }
}

void mcp_server_received(struct mcp_server *srv, const char *text)
{
    cJSON *msg = cJSON_Parse(text);
    const cJSON *id, *method;

    if (srv->state != SRV_STARTING && srv->state != SRV_READY) {
        cJSON_Delete(msg);
        return;
    }
    if (!cJSON_IsObject(msg)) {
        /* Not ours to judge harshly: note it and read on. */
        char *line = xasprintf("not a JSON-RPC message, ignored: %.200s", text);
        mcp_server_log(srv, "protocol", line);
        free(line);
        cJSON_Delete(msg);
        return;
    }
    id = cJSON_GetObjectItemCaseSensitive(msg, "id");
    method = cJSON_GetObjectItemCaseSensitive(msg, "method");
    if (cJSON_IsString(method) && id && !cJSON_IsNull(id)) {
        /* A request of the server: we answer pings, and declared nothing else. */
        if (strcmp(method->valuestring, "ping") == 0)
            send_reply(srv, id, cJSON_CreateObject(), 0, NULL);
        else
            send_reply(srv, id, NULL, -32601, "Method not found");
    } else if (cJSON_IsString(method)) {
        on_notification(srv, method->valuestring, cJSON_GetObjectItemCaseSensitive(msg, "params"));
    } else if (cJSON_IsNumber(id) && isfinite(id->valuedouble)) {
        const cJSON *result = cJSON_GetObjectItemCaseSensitive(msg, "result");
        const cJSON *error = cJSON_GetObjectItemCaseSensitive(msg, "error");
        on_response(srv, (int64_t)id->valuedouble, result, cJSON_IsObject(error) ? error : NULL);
    }
    cJSON_Delete(msg);
}

void mcp_server_lost(struct mcp_server *srv, const char *why)
{
    if (srv->state == SRV_STOPPING) {
        mcp_server_transport_closed(srv);
        return;
    }
    server_failed(srv, why);
}

void mcp_server_request_failed(struct mcp_server *srv, int64_t id, const char *why)
{
    struct mcp_call *call;

    if (id && (id == srv->init_id || id == srv->list_id)) {
        server_failed(srv, why);
    } else if ((call = call_by_id(srv, id))) {
        char *text = xasprintf("%s: %s", call->function, why);
        call_finish(call, false, text);
        free(text);
    }
}

void mcp_server_log(struct mcp_server *srv, const char *stream, const char *text)
{
    cJSON *fields = server_fields(srv);

    cJSON_AddStringToObject(fields, "stream", stream);
    add_text(fields, "text", text);
    emit(srv->hub, "mcp.log", fields);
}

void mcp_server_transport_closed(struct mcp_server *srv)
{
    if (srv->state != SRV_STOPPING)
        return;
    srv->state = SRV_STOPPED;
    emit(srv->hub, "mcp.stopped", server_fields(srv));
    /* A restart starts it from the loop, once the transport is freed. */
    release_transport(srv);
    if (srv->restart && !srv->release_timer)
        srv->release_timer = loop_timer_add(srv->base.loop, 0, on_release, srv);
}

/* Stops srv gracefully; restart starts it again once it has stopped. */
static void stop_server(struct mcp_server *srv, bool restart, const char *why)
{
    char *message;

    srv->restart = restart;
    if (srv->state != SRV_STARTING && srv->state != SRV_READY) {
        if (restart && srv->state != SRV_STOPPING)
            start_server(srv);
        return;
    }
    message = xasprintf("MCP server %s %s", srv->base.def->name, why);
    srv->state = SRV_STOPPING;
    forget_session(srv);
    fail_calls(srv, message);
    free(message);
    if (!restart)
        notify_ready_waiters(srv, "the server was stopped");
    tools_changed(srv->hub);
    srv->ops->close(srv);
}

/* ---- the hub ------------------------------------------------------------------ */

static void server_free(void *item)
{
    struct mcp_server *srv = item;

    loop_timer_cancel(srv->base.loop, srv->start_timer);
    loop_timer_cancel(srv->base.loop, srv->release_timer);
    if (srv->base.transport)
        srv->ops->kill(srv);
    vec_fini(&srv->tools);
    vec_fini(&srv->listing);
    vec_fini(&srv->waiters);
    free(srv->base.protocol_version);
    free(srv->error);
    cJSON_Delete(srv->info);
    free(srv);
}

struct mcp_hub *mcp_hub_new(struct loop *loop, struct event_stream *events, struct team *team)
{
    struct mcp_hub *hub = xcalloc(1, sizeof *hub);

    hub->loop = loop;
    hub->events = events;
    hub->team = team;
    vec_init(&hub->servers, server_free);
    vec_init(&hub->calls, NULL);
    vec_init(&hub->waiters, free);
    for (size_t i = 0; i < team->mcp_servers.len; i++) {
        struct mcp_server *srv = xcalloc(1, sizeof *srv);
        srv->base.loop = loop;
        srv->base.def = team->mcp_servers.items[i];
        srv->hub = hub;
        srv->ops = transport_of(srv->base.def);
        vec_init(&srv->tools, tool_free);
        vec_init(&srv->listing, tool_free);
        vec_init(&srv->waiters, free);
        vec_push(&hub->servers, srv);
    }
    return hub;
}

void mcp_hub_free(struct mcp_hub *hub)
{
    if (!hub)
        return;
    while (hub->calls.len)
        call_free(vec_remove(&hub->calls, hub->calls.len - 1));
    vec_fini(&hub->calls);
    vec_fini(&hub->servers);
    vec_fini(&hub->waiters);
    loop_timer_cancel(hub->loop, hub->start_timer);
    loop_timer_cancel(hub->loop, hub->wake_timer);
    free(hub);
}

void mcp_hub_on_change(struct mcp_hub *hub, mcp_changed_fn *fn, void *ud)
{
    hub->changed = fn;
    hub->changed_ud = ud;
}

static void on_hub_start(struct loop *loop, void *ud)
{
    struct mcp_hub *hub = ud;

    hub->start_timer = 0;
    for (size_t i = 0; i < hub->servers.len; i++) {
        struct mcp_server *srv = hub->servers.items[i];
        if (srv->state == SRV_IDLE)
            start_server(srv);
    }
}

void mcp_hub_start(struct mcp_hub *hub)
{
    if (hub && hub->servers.len && !hub->start_timer)
        hub->start_timer = loop_timer_add(hub->loop, 0, on_hub_start, hub);
}

/* Whether srv will be ready or failed soon, without anyone asking. */
static bool server_busy(const struct mcp_hub *hub, const struct mcp_server *srv)
{
    return srv->state == SRV_STARTING || (srv->state == SRV_IDLE && hub->start_timer) ||
           (srv->state == SRV_STOPPING && srv->restart);
}

bool mcp_hub_settled(const struct mcp_hub *hub)
{
    for (size_t i = 0; hub && i < hub->servers.len; i++) {
        if (server_busy(hub, hub->servers.items[i]))
            return false;
    }
    return true;
}

void mcp_hub_shutdown(struct mcp_hub *hub)
{
    if (!hub)
        return;
    loop_timer_cancel(hub->loop, hub->start_timer);
    hub->start_timer = 0;
    for (size_t i = 0; i < hub->servers.len; i++)
        stop_server(hub->servers.items[i], false, "was stopped: agentdeck is ending");
}

bool mcp_hub_stopped(const struct mcp_hub *hub)
{
    for (size_t i = 0; hub && i < hub->servers.len; i++) {
        const struct mcp_server *srv = hub->servers.items[i];
        if (srv->state == SRV_STARTING || srv->state == SRV_READY || srv->state == SRV_STOPPING)
            return false;
    }
    return true;
}

bool mcp_hub_restart(struct mcp_hub *hub, const char *name, mcp_ready_fn *done, void *ud, char **error)
{
    struct mcp_server *srv = find_server(hub, name);

    if (!srv) {
        *error = hub && hub->servers.len ? xasprintf("no MCP server named \"%s\" (see /mcp list)", name)
                                         : xstrdup("this profile has no MCP servers (see doc/mcp.md)");
        return false;
    }
    if (done) {
        struct ready_waiter *w = xcalloc(1, sizeof *w);
        w->done = done;
        w->ud = ud;
        vec_push(&srv->waiters, w);
    }
    stop_server(srv, true, "was restarted");
    return true;
}

bool mcp_hub_wait(struct mcp_hub *hub, const cJSON *uses, mcp_wake_fn *wake, void *ud)
{
    const cJSON *use;
    struct hub_waiter *w;

    if (!hub)
        return false;
    cJSON_ArrayForEach(use, uses) {
        const char *name = str_field(use, "server");
        struct mcp_server *srv = name ? find_server(hub, name) : NULL;
        if (srv && server_busy(hub, srv)) {
            w = xcalloc(1, sizeof *w);
            w->wake = wake;
            w->ud = ud;
            vec_push(&hub->waiters, w);
            return true;
        }
    }
    return false;
}

void mcp_hub_unwait(struct mcp_hub *hub, void *ud)
{
    for (size_t i = 0; hub && i < hub->waiters.len;) {
        struct hub_waiter *w = hub->waiters.items[i];
        if (w->ud == ud) {
            free(vec_remove(&hub->waiters, i));
            continue;
        }
        i++;
    }
}

bool mcp_hub_claims(const struct mcp_hub *hub, const char *name)
{
    return server_of_function(hub, name) != NULL;
}

cJSON *mcp_hub_describe(const struct mcp_hub *hub)
{
    cJSON *list = cJSON_CreateArray();

    for (size_t i = 0; hub && i < hub->servers.len; i++) {
        const struct mcp_server *srv = hub->servers.items[i];
        cJSON *obj = server_fields(srv);
        const char *name = str_field(srv->info, "name"), *version = str_field(srv->info, "version");

        cJSON_AddStringToObject(obj, "transport", srv->ops->name);
        cJSON_AddStringToObject(obj, "state", state_names[srv->state]);
        if (srv->base.def->url)
            cJSON_AddStringToObject(obj, "url", srv->base.def->url);
        if (srv->base.transport)
            srv->ops->describe(srv, obj);
        cJSON_AddNumberToObject(obj, "tools", (double)srv->tools.len);
        if (name)
            add_text(obj, "server_name", name);
        if (version)
            add_text(obj, "server_version", version);
        if (srv->base.protocol_version)
            cJSON_AddStringToObject(obj, "protocol_version", srv->base.protocol_version);
        if (srv->error && srv->state == SRV_FAILED)
            add_text(obj, "error", srv->error);
        cJSON_AddItemToArray(list, obj);
    }
    return list;
}

cJSON *mcp_hub_tools(const struct mcp_hub *hub, const char *server, char **error)
{
    cJSON *list;

    if (server && !find_server(hub, server)) {
        *error = hub && hub->servers.len ? xasprintf("no MCP server named \"%s\" (see /mcp list)", server)
                                         : xstrdup("this profile has no MCP servers (see doc/mcp.md)");
        return NULL;
    }
    list = cJSON_CreateArray();
    for (size_t i = 0; hub && i < hub->servers.len; i++) {
        const struct mcp_server *srv = hub->servers.items[i];
        if (server && strcmp(srv->base.def->name, server) != 0)
            continue;
        for (size_t k = 0; k < srv->tools.len; k++) {
            const struct mcp_tool *t = srv->tools.items[k];
            const char *description = str_field(t->def, "description");
            cJSON *obj = server_fields(srv);
            add_text(obj, "tool", t->tool);
            cJSON_AddStringToObject(obj, "function", t->function);
            add_text(obj, "description", description ? description : "");
            cJSON_AddItemToArray(list, obj);
        }
    }
    return list;
}
