/* The HTTP transports (MCP.md §3): Streamable HTTP, where each message is
 * a POST answered by JSON or an event stream, with the session and
 * protocol-version headers; and the older HTTP+SSE, where a GET stream
 * names an endpoint for the POSTs and carries every answer. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/vec.h"
#include "core/xalloc.h"
#include "net/http.h"
#include "net/sse.h"
#include "tools/mcp.h"
#include "tools/mcp_internal.h"

/* How long a DELETE of the session may take when we leave. */
#define CLOSE_TIMEOUT_S 2
/* The legacy event stream may be quiet for long: a day is "forever". */
#define STREAM_STALL_S 86400

struct message {
    char *json;
    int64_t id; /* -1: a notification or a response */
};

struct post {
    struct http_transport *ht;
    struct http_transfer *t;
    int64_t id;
    bool events; /* the answer is an event stream */
    struct sse_parser parser;
    struct buf body; /* a JSON answer, or an error's text */
    long status;
};

struct http_transport {
    struct mcp_server *srv;
    struct http *http;
    bool legacy;
    struct vec queue; /* struct message * to send, in order */
    struct vec posts; /* struct post * in flight */
    bool notifying;   /* a notification's POST is out: what follows waits for it */
    uint64_t flush_timer, closed_timer;
    char *session; /* Mcp-Session-Id */
    /* legacy only */
    struct http_transfer *stream;
    struct sse_parser stream_parser;
    char *endpoint; /* where POSTs go, once the stream named it */
    struct http_transfer *deleting;
    bool closing;
};

static struct http_transport *of(struct mcp_server *srv)
{
    return mcp_base(srv)->transport;
}

static const struct mcp_server_def *def_of(const struct http_transport *ht)
{
    return mcp_base(ht->srv)->def;
}

static void message_free(void *item)
{
    struct message *m = item;
    free(m->json);
    free(m);
}

static void post_free(struct post *p)
{
    sse_parser_fini(&p->parser);
    buf_fini(&p->body);
    free(p);
}

static void post_forget(struct post *p)
{
    struct vec *posts = &p->ht->posts;
    for (size_t i = 0; i < posts->len; i++) {
        if (posts->items[i] == p) {
            vec_remove(posts, i);
            break;
        }
    }
    post_free(p);
}

/* The headers of every request: ours, the session's, the profile's. New,
 * NULL-terminated; free with free_headers(). */
static char **request_headers(const struct http_transport *ht, const char *accept, bool json_body)
{
    const cJSON *extra = def_of(ht)->headers, *item;
    size_t n = 0;
    char **headers = xcalloc(8 + (size_t)cJSON_GetArraySize(extra), sizeof *headers);
    const char *version = mcp_base(ht->srv)->protocol_version;

    headers[n++] = xasprintf("Accept: %s", accept);
    if (json_body) {
        headers[n++] = xstrdup("Content-Type: application/json");
        headers[n++] = xstrdup("Expect:"); /* no waiting for 100 Continue */
    }
    if (ht->session)
        headers[n++] = xasprintf("Mcp-Session-Id: %s", ht->session);
    if (version && !ht->legacy)
        headers[n++] = xasprintf("MCP-Protocol-Version: %s", version);
    cJSON_ArrayForEach(item, extra) {
        if (cJSON_IsString(item))
            headers[n++] = xasprintf("%s: %s", item->string, item->valuestring);
    }
    return headers;
}

static void free_headers(char **headers)
{
    for (char **h = headers; *h; h++)
        free(*h);
    free(headers);
}

/* "HTTP 404 from URL: body..." for an answer that is not a message. */
static char *status_text(const struct http_transport *ht, long status, const struct buf *body)
{
    const char *text = buf_str(body);
    size_t n = strcspn(text, "\r\n");
    return xasprintf("HTTP %ld from %s%s%.*s", status, def_of(ht)->url, n ? ": " : "", (int)(n > 300 ? 300 : n), text);
}

/* ---- an answer's event stream, or JSON ---------------------------------- */

static void on_post_event(void *ud, const struct sse_event *ev)
{
    struct post *p = ud;

    /* Priming events carry an id and no data (2025-11-25). */
    if (ev->data_len && strcmp(ev->type, "message") == 0)
        mcp_server_received(p->ht->srv, ev->data);
}

static void on_post_header(void *ud, const char *name, const char *value)
{
    struct post *p = ud;
    struct http_transport *ht = p->ht;

    if (strcmp(name, "content-type") == 0)
        p->events = strncmp(value, "text/event-stream", 17) == 0;
    else if (strcmp(name, "mcp-session-id") == 0 && value[0] && !ht->legacy) {
        free(ht->session);
        ht->session = xstrdup(value);
    }
}

static bool on_post_data(void *ud, long status, const char *bytes, size_t len)
{
    struct post *p = ud;

    p->status = status;
    if (status < 300 && p->events)
        return sse_parser_feed(&p->parser, bytes, len) == 0;
    if (p->body.len < ((size_t)16 << 20))
        buf_append(&p->body, bytes, len);
    return true;
}

static void flush_later(struct http_transport *ht);

static void on_post_done(void *ud, const struct http_result *r)
{
    struct post *p = ud;
    struct http_transport *ht = p->ht;
    struct mcp_server *srv = ht->srv;
    int64_t id = p->id;

    p->t = NULL;
    if (p->id < 0 && ht->notifying) {
        ht->notifying = false;
        flush_later(ht);
    }
    if (!r->ok) {
        char *why = xasprintf("the connection to %s failed: %s", def_of(ht)->url, r->error);
        post_forget(p);
        mcp_server_lost(srv, why);
        free(why);
        return;
    }
    if (r->status >= 300) {
        char *why = status_text(ht, r->status, &p->body);
        /* A session the server no longer knows is a server we lost: 404
         * by the spec, 400 from the reference SDK's servers. */
        bool session_gone = (r->status == 404 || r->status == 400) && ht->session;
        post_forget(p);
        if (session_gone)
            mcp_server_lost(srv, why);
        else if (id >= 0)
            mcp_server_request_failed(srv, id, why);
        else
            mcp_server_log(srv, "http", why);
        free(why);
        return;
    }
    if (p->events)
        sse_parser_finish(&p->parser);
    else if (p->body.len && !ht->legacy) /* legacy answers come on the stream; the POST's body is "Accepted" */
        mcp_server_received(srv, buf_str(&p->body));
    post_forget(p);
    /* Answered by now, or never will be: a call must not wait for nothing. */
    if (id >= 0 && !ht->legacy)
        mcp_server_request_failed(srv, id, "the server closed its answer without a response");
}

/* ---- sending --------------------------------------------------------------- */

static void start_post(struct http_transport *ht, const struct message *m)
{
    struct post *p = xcalloc(1, sizeof *p);
    char **headers = request_headers(ht, "application/json, text/event-stream", true);
    const struct mcp_server_def *def = def_of(ht);
    /* A call's stream may be quiet while the tool works: its own limit applies. */
    long stall_s = (def->timeout_ms > 0 ? def->timeout_ms : MCP_DEFAULT_TIMEOUT_MS) / 1000 + 30;
    struct http_request req = {"POST", ht->legacy ? ht->endpoint : def->url, m->json, (const char *const *)headers, 0,
                               stall_s, NULL};
    struct http_handlers h = {p, on_post_data, on_post_done, on_post_header};

    p->ht = ht;
    p->id = m->id;
    buf_init(&p->body);
    sse_parser_init(&p->parser, on_post_event, p);
    vec_push(&ht->posts, p);
    p->t = http_start(ht->http, &req, &h);
    free_headers(headers);
}

static void on_flush(struct loop *loop, void *ud)
{
    struct http_transport *ht = ud;

    ht->flush_timer = 0;
    if (ht->legacy && !ht->endpoint)
        return; /* the stream has not named the endpoint yet */
    while (ht->queue.len && !ht->notifying) {
        struct message *m = vec_remove(&ht->queue, 0);
        start_post(ht, m);
        /* The server must see a notification (initialized) before what follows. */
        ht->notifying = m->id < 0;
        message_free(m);
    }
}

/* Sends from the loop: curl must not be started from inside its callbacks. */
static void flush_later(struct http_transport *ht)
{
    if (!ht->flush_timer && ht->queue.len)
        ht->flush_timer = loop_timer_add(mcp_base(ht->srv)->loop, 0, on_flush, ht);
}

static void http_send(struct mcp_server *srv, const char *json, int64_t id)
{
    struct http_transport *ht = of(srv);
    struct message *m = xcalloc(1, sizeof *m);

    m->json = xstrdup(json);
    m->id = id;
    vec_push(&ht->queue, m);
    flush_later(ht);
}

/* ---- the legacy event stream ---------------------------------------------- */

/* The endpoint the stream named, made absolute against the server's URL. New. */
static char *resolve_endpoint(const char *base, const char *ref)
{
    const char *scheme_end, *path;

    if (strncmp(ref, "http://", 7) == 0 || strncmp(ref, "https://", 8) == 0)
        return xstrdup(ref);
    scheme_end = strstr(base, "://");
    path = scheme_end ? strchr(scheme_end + 3, '/') : NULL;
    if (ref[0] == '/')
        return xasprintf("%.*s%s", (int)(path ? (size_t)(path - base) : strlen(base)), base, ref);
    if (!path)
        return xasprintf("%s/%s", base, ref);
    return xasprintf("%.*s%s", (int)(strrchr(path, '/') - base + 1), base, ref);
}

static void on_stream_event(void *ud, const struct sse_event *ev)
{
    struct http_transport *ht = ud;

    if (strcmp(ev->type, "endpoint") == 0 && !ht->endpoint && ev->data_len) {
        ht->endpoint = resolve_endpoint(def_of(ht)->url, ev->data);
        flush_later(ht);
        mcp_server_transport_ready(ht->srv);
    } else if (strcmp(ev->type, "message") == 0 && ev->data_len) {
        mcp_server_received(ht->srv, ev->data);
    }
}

static bool on_stream_data(void *ud, long status, const char *bytes, size_t len)
{
    struct http_transport *ht = ud;

    if (status >= 300)
        return true; /* done says so */
    return sse_parser_feed(&ht->stream_parser, bytes, len) == 0;
}

static void on_stream_done(void *ud, const struct http_result *r)
{
    struct http_transport *ht = ud;
    char *why;

    ht->stream = NULL;
    if (!r->ok)
        why = xasprintf("the event stream from %s failed: %s", def_of(ht)->url, r->error);
    else if (r->status >= 300)
        why = xasprintf("HTTP %ld from %s", r->status, def_of(ht)->url);
    else
        why = xasprintf("the event stream from %s ended", def_of(ht)->url);
    mcp_server_lost(ht->srv, why);
    free(why);
}

/* ---- the transport ----------------------------------------------------------- */

static struct http_transport *transport_new(struct mcp_server *srv, bool legacy)
{
    struct http_transport *ht = xcalloc(1, sizeof *ht);

    ht->srv = srv;
    ht->legacy = legacy;
    ht->http = http_new(mcp_base(srv)->loop);
    vec_init(&ht->queue, message_free);
    vec_init(&ht->posts, NULL);
    sse_parser_init(&ht->stream_parser, on_stream_event, ht);
    mcp_base(srv)->transport = ht;
    return ht;
}

static bool http_open(struct mcp_server *srv, char **error)
{
    (void)error;
    transport_new(srv, false);
    mcp_server_transport_ready(srv); /* the first POST (initialize) opens it */
    return true;
}

static bool sse_open(struct mcp_server *srv, char **error)
{
    struct http_transport *ht = transport_new(srv, true);
    char **headers = request_headers(ht, "text/event-stream", false);
    struct http_request req = {"GET", def_of(ht)->url, NULL, (const char *const *)headers, 0, STREAM_STALL_S, NULL};
    struct http_handlers h = {ht, on_stream_data, on_stream_done, NULL};

    (void)error;
    ht->stream = http_start(ht->http, &req, &h);
    free_headers(headers);
    return true;
}

static void on_closed(struct loop *loop, void *ud)
{
    struct http_transport *ht = ud;
    ht->closed_timer = 0;
    mcp_server_transport_closed(ht->srv);
}

static void on_deleted(void *ud, const struct http_result *r)
{
    struct http_transport *ht = ud;

    ht->deleting = NULL;
    mcp_server_transport_closed(ht->srv);
}

static bool ignore_data(void *ud, long status, const char *bytes, size_t len)
{
    return true;
}

/* Cancels what is in flight; callbacks are never inside curl here. */
static void cancel_transfers(struct http_transport *ht)
{
    while (ht->posts.len) {
        struct post *p = vec_remove(&ht->posts, ht->posts.len - 1);
        http_cancel(p->t);
        post_free(p);
    }
    vec_truncate(&ht->queue, 0);
    http_cancel(ht->stream);
    ht->stream = NULL;
}

static void http_close(struct mcp_server *srv)
{
    struct http_transport *ht = of(srv);

    ht->closing = true;
    cancel_transfers(ht);
    if (ht->session && !ht->legacy) {
        /* Streamable HTTP ends a session with a DELETE. */
        char **headers = request_headers(ht, "application/json, text/event-stream", false);
        struct http_request req = {"DELETE", def_of(ht)->url, NULL, (const char *const *)headers, 0, CLOSE_TIMEOUT_S,
                                   NULL};
        struct http_handlers h = {ht, ignore_data, on_deleted, NULL};
        ht->deleting = http_start(ht->http, &req, &h);
        free_headers(headers);
        return;
    }
    ht->closed_timer = loop_timer_add(mcp_base(srv)->loop, 0, on_closed, ht);
}

static void http_kill(struct mcp_server *srv)
{
    struct http_transport *ht = of(srv);

    if (!ht)
        return;
    cancel_transfers(ht);
    http_free(ht->http); /* cancels the DELETE too, without callbacks */
    loop_timer_cancel(mcp_base(srv)->loop, ht->flush_timer);
    loop_timer_cancel(mcp_base(srv)->loop, ht->closed_timer);
    vec_fini(&ht->queue);
    vec_fini(&ht->posts);
    sse_parser_fini(&ht->stream_parser);
    free(ht->session);
    free(ht->endpoint);
    free(ht);
    mcp_base(srv)->transport = NULL;
}

static void http_describe(const struct mcp_server *srv, cJSON *obj)
{
    const struct http_transport *ht = ((const struct mcp_server_base *)srv)->transport;

    if (ht && ht->endpoint)
        cJSON_AddStringToObject(obj, "endpoint", ht->endpoint);
}

const struct mcp_transport_ops mcp_http_ops = {"http", http_open, http_send, http_close, http_kill, http_describe};
const struct mcp_transport_ops mcp_sse_ops = {"sse", sse_open, http_send, http_close, http_kill, http_describe};
