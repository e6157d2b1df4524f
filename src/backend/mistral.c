#include "config.h"

#include "backend/mistral.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/xalloc.h"
#include "net/http.h"
#include "net/sse.h"

struct mistral_backend {
    struct backend base;
    struct http *http;
    char *base_url;
    char *auth_header; /* "Authorization: Bearer ...": never logged */
    char *profile;
    int retries;
    long stall_timeout_s;
    char *handoff_execution; /* "server" or "client" */
    bool stream;             /* stream answers (SSE), or take them whole */
    struct team *team;       /* set by prepare: agent ids to names */
    struct vec calls;        /* struct api_call * in flight */
    int preparing;           /* prepare steps in flight: requests wait */
    struct vec waiting;      /* struct backend_call * that wait for them */
};

/* ---- errors ---------------------------------------------------------- */

/* The first string among detail[*].msg (with loc), or NULL. */
static char *detail_message(const cJSON *detail)
{
    const cJSON *item;

    if (cJSON_IsString(detail))
        return xstrdup(detail->valuestring);
    cJSON_ArrayForEach(item, detail) {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(item, "msg");
        const cJSON *loc = cJSON_GetObjectItemCaseSensitive(item, "loc");
        struct buf where = BUF_INIT;
        const cJSON *part;
        char *out;

        if (!cJSON_IsString(msg))
            continue;
        cJSON_ArrayForEach(part, loc) {
            if (cJSON_IsString(part) && strcmp(part->valuestring, "body") != 0)
                buf_printf(&where, "%s%s", where.len ? "." : "", part->valuestring);
            else if (cJSON_IsNumber(part))
                buf_printf(&where, "[%d]", part->valueint);
        }
        out = where.len ? xasprintf("%s: %s", buf_str(&where), msg->valuestring) : xstrdup(msg->valuestring);
        buf_fini(&where);
        return out;
    }
    return NULL;
}

char *mistral_error_message(long status, const char *body)
{
    cJSON *json = body ? cJSON_Parse(body) : NULL;
    const cJSON *message = cJSON_GetObjectItemCaseSensitive(json, "message");
    char *what = NULL, *out;

    if (cJSON_IsString(message))
        what = xstrdup(message->valuestring);
    else if (cJSON_IsObject(message))
        what = detail_message(cJSON_GetObjectItemCaseSensitive(message, "detail"));
    if (!what && cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(json, "error"))) {
        const cJSON *inner =
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(json, "error"), "message");
        if (cJSON_IsString(inner))
            what = xstrdup(inner->valuestring);
    }
    if (!what)
        what = detail_message(cJSON_GetObjectItemCaseSensitive(json, "detail"));
    if (!what && body && *body)
        what = xstrndup(body, 300);
    cJSON_Delete(json);

    if (status == 401)
        out = xasprintf("the API key was refused (401%s%s)", what ? ": " : "", what ? what : "");
    else if (status == 422)
        out = xasprintf("the request was rejected as invalid (422): %s", what ? what : "no detail");
    else
        out = xasprintf("HTTP %ld: %s", status, what ? what : "no detail");
    free(what);
    return out;
}

/* ---- one API request, with retries ----------------------------------- */

struct api_call;

struct api_call_ops {
    /* A streamed event (data parsed); returns false to stop the stream. */
    bool (*event)(struct api_call *c, const char *type, const cJSON *data);
    /* The exchange ended well: body is the JSON of a plain response (NULL when streamed). */
    void (*success)(struct api_call *c, const cJSON *body);
    void (*failure)(struct api_call *c, const char *message);
    void (*retrying)(struct api_call *c, const char *message);
    /* Frees the owner when the backend goes first. */
    void (*drop)(void *owner);
};

struct api_call {
    struct mistral_backend *mb;
    const struct api_call_ops *ops;
    void *owner;
    char *method, *path, *body;
    bool stream;
    int attempt;
    uint64_t retry_timer;
    struct http_transfer *transfer;
    struct buf raw; /* a plain body, or an error body */
    struct sse_parser sse;
    bool sse_ready;
    bool stream_began; /* an event came: the POST is never sent again */
    bool stream_ended; /* conversation.response.done or .error came */
    char *failure;     /* a failure found inside the stream */
};

static void api_send(struct api_call *c);

static void api_call_free(struct api_call *c)
{
    struct vec *calls = &c->mb->calls;
    for (size_t i = 0; i < calls->len; i++) {
        if (calls->items[i] == c) {
            vec_remove(calls, i);
            break;
        }
    }
    loop_timer_cancel(c->mb->base.loop, c->retry_timer);
    http_cancel(c->transfer);
    if (c->sse_ready)
        sse_parser_fini(&c->sse);
    buf_fini(&c->raw);
    free(c->method);
    free(c->path);
    free(c->body);
    free(c->failure);
    free(c);
}

static void on_sse_event(void *ud, const struct sse_event *ev)
{
    struct api_call *c = ud;
    cJSON *data;
    const cJSON *type;

    if (strcmp(ev->data, "[DONE]") == 0) {
        c->stream_ended = true;
        return;
    }
    data = cJSON_ParseWithLength(ev->data, ev->data_len);
    if (!data) {
        free(c->failure);
        c->failure = xasprintf("the server sent an event that is not JSON: %.200s", ev->data);
        sse_parser_stop(&c->sse);
        return;
    }
    type = cJSON_GetObjectItemCaseSensitive(data, "type");
    c->stream_began = true;
    if (!c->ops->event(c, cJSON_IsString(type) ? type->valuestring : ev->type, data))
        sse_parser_stop(&c->sse);
    cJSON_Delete(data);
}

static bool on_data(void *ud, long status, const char *bytes, size_t len)
{
    struct api_call *c = ud;

    if (c->stream && status >= 200 && status < 300) {
        if (sse_parser_feed(&c->sse, bytes, len) < 0) {
            free(c->failure);
            c->failure = xasprintf("the stream broke a limit: %s", sse_parser_error(&c->sse));
        }
        return !c->failure && !sse_parser_stopped(&c->sse);
    }
    if (c->raw.len < 8 * 1024 * 1024)
        buf_append(&c->raw, bytes, len);
    return true;
}

static bool retryable(long status)
{
    return status == 409 || status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

static void on_retry_timer(struct loop *loop, void *ud)
{
    struct api_call *c = ud;
    c->retry_timer = 0;
    api_send(c);
}

/* Schedules the next attempt; the delay honours Retry-After, else grows
 * exponentially with jitter. */
static void api_retry(struct api_call *c, const char *why, const char *retry_after)
{
    long delay = http_retry_after_ms(retry_after);
    char *message;

    if (delay < 0) {
        long base = 500L << (c->attempt < 6 ? c->attempt : 6);
        delay = base / 2 + rand() % (base / 2 + 1);
    }
    if (delay > 60000)
        delay = 60000;
    c->attempt++;
    message = xasprintf("%s %s: %s; retrying in %.1f s (retry %d of %d)", c->method, c->path, why, delay / 1000.0,
                        c->attempt, c->mb->retries);
    if (c->ops->retrying)
        c->ops->retrying(c, message);
    free(message);
    c->retry_timer = loop_timer_add(c->mb->base.loop, delay, on_retry_timer, c);
}

static void on_done(void *ud, const struct http_result *r)
{
    struct api_call *c = ud;
    char *message = NULL;

    c->transfer = NULL;
    if (c->failure) {
        c->ops->failure(c, c->failure);
    } else if (!r->ok) {
        if (!c->stream_began && c->attempt < c->mb->retries && !r->stalled) {
            api_retry(c, r->error, NULL);
            return;
        }
        message = c->stream_began ? xasprintf("the stream was cut off: %s", r->error) : xstrdup(r->error);
        c->ops->failure(c, message);
    } else if (r->status < 200 || r->status >= 300) {
        if (retryable(r->status) && c->attempt < c->mb->retries) {
            char *why = mistral_error_message(r->status, buf_str(&c->raw));
            buf_reset(&c->raw);
            api_retry(c, why, r->retry_after);
            free(why);
            return;
        }
        message = mistral_error_message(r->status, buf_str(&c->raw));
        c->ops->failure(c, message);
    } else if (c->stream) {
        if (sse_parser_finish(&c->sse) || !c->stream_ended)
            c->ops->failure(c, "the stream ended before conversation.response.done: a truncated response");
        else
            c->ops->success(c, NULL);
    } else if (c->raw.len == 0) {
        c->ops->success(c, NULL); /* 204 No Content, say after a DELETE */
    } else {
        cJSON *body = cJSON_Parse(buf_str(&c->raw));
        if (body)
            c->ops->success(c, body);
        else
            c->ops->failure(c, "the server's answer is not JSON");
        cJSON_Delete(body);
    }
    free(message);
}

static void api_send(struct api_call *c)
{
    char *url = xasprintf("%s%s", c->mb->base_url, c->path);
    const char *headers[] = {c->mb->auth_header, "Content-Type: application/json",
                             c->stream ? "Accept: text/event-stream" : "Accept: application/json", NULL};
    struct http_request req = {c->method, url, c->body, headers, 0, c->mb->stall_timeout_s};
    struct http_handlers h = {c, on_data, on_done, NULL};

    buf_reset(&c->raw);
    if (c->sse_ready)
        sse_parser_fini(&c->sse);
    sse_parser_init(&c->sse, on_sse_event, c);
    c->sse_ready = true;
    c->stream_began = c->stream_ended = false;
    c->transfer = http_start(c->mb->http, &req, &h);
    free(url);
}

/* Starts a call; body is taken (may be NULL). */
static struct api_call *api_call_start(struct mistral_backend *mb, const struct api_call_ops *ops, void *owner,
                                       const char *method, char *path, char *body, bool stream)
{
    struct api_call *c = xcalloc(1, sizeof *c);
    c->mb = mb;
    c->ops = ops;
    c->owner = owner;
    c->method = xstrdup(method);
    c->path = path;
    c->body = body;
    c->stream = stream;
    buf_init(&c->raw);
    vec_push(&mb->calls, c);
    api_send(c);
    return c;
}

/* ---- conversations ---------------------------------------------------- */

struct backend_call {
    struct mistral_backend *mb;
    struct backend_reply reply;
    struct api_call *api;
    struct conversation *conv;
    char *agent;       /* the agent speaking now */
    struct entry *cur; /* the output entry being assembled */
    int cur_index;
    struct usage usage;
    char *error;                   /* conversation.response.error */
    bool starting;                 /* a new server conversation: report its id */
    char *parent;                  /* the server conversation it replaces, or NULL */
    size_t carried;                /* entries carried over into it */
    size_t first_new;              /* the request's new inputs, kept while it waits */
    cJSON *confirmations;          /* tool_confirmations to send, or NULL */
    cJSON *response_format;        /* completion_args.response_format, or NULL */
    bool appending;                /* an append: once it succeeds, the conversation may be restarted */
    const char *handoff_execution; /* "server" or "client", for this request */
    bool delivering, cancelled;
};

static void conv_call_free(struct backend_call *call)
{
    entry_free(call->cur);
    free(call->agent);
    free(call->error);
    free(call->parent);
    cJSON_Delete(call->confirmations);
    cJSON_Delete(call->response_format);
    free(call);
}

static const char *agent_name_of(struct backend_call *call, const cJSON *data)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(data, "agent_id");
    const struct agent *a =
        call->mb->team && cJSON_IsString(id) ? team_find_agent_by_remote_id(call->mb->team, id->valuestring) : NULL;

    return a ? a->name : call->agent;
}

static const char *json_str(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* Hands the assembled entry to the runner. */
static void flush_entry(struct backend_call *call)
{
    struct entry *e = call->cur;
    call->cur = NULL;
    if (e)
        call->reply.entry(call->reply.ud, e);
}

/* The entry at output_index of type, starting a new one when needed. */
static struct entry *entry_at(struct backend_call *call, enum entry_type type, const cJSON *data)
{
    const cJSON *index = cJSON_GetObjectItemCaseSensitive(data, "output_index");
    int idx = cJSON_IsNumber(index) ? index->valueint : 0;
    const char *id = json_str(data, "id");

    if (call->cur && (call->cur_index != idx || call->cur->type != type))
        flush_entry(call);
    if (!call->cur) {
        call->cur = entry_new(type, agent_name_of(call, data));
        if (id) {
            free(call->cur->id);
            call->cur->id = xstrdup(id);
        }
        call->cur_index = idx;
    }
    return call->cur;
}

static void append_str(char **field, const char *more)
{
    char *joined;
    if (!more)
        return;
    joined = xasprintf("%s%s", *field ? *field : "", more);
    free(*field);
    *field = joined;
}

static bool conv_event(struct api_call *c, const char *type, const cJSON *data)
{
    struct backend_call *call = c->owner;
    struct entry *e;

    call->delivering = true;
    if (strcmp(type, "conversation.response.started") == 0) {
        const char *id = json_str(data, "conversation_id");
        if (id) {
            free(call->conv->remote_id);
            call->conv->remote_id = xstrdup(id);
            if (call->starting && call->parent && call->reply.remote_started)
                call->reply.remote_started(call->reply.ud, id, call->parent, call->carried);
        }
    } else if (strcmp(type, "message.output.delta") == 0) {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(data, "content");
        const char *text = cJSON_IsString(content) ? content->valuestring : json_str(content, "text");
        e = entry_at(call, ENTRY_MESSAGE_OUTPUT, data);
        if (text) {
            append_str(&e->content, text);
            call->reply.delta(call->reply.ud, e->agent, e->id, text);
        }
    } else if (strcmp(type, "function.call.delta") == 0) {
        e = entry_at(call, ENTRY_FUNCTION_CALL, data);
        if (!e->name)
            e->name = xstrdup(json_str(data, "name"));
        if (!e->tool_call_id)
            e->tool_call_id = xstrdup(json_str(data, "tool_call_id"));
        if (!e->confirmation && json_str(data, "confirmation_status"))
            e->confirmation = xstrdup(json_str(data, "confirmation_status"));
        append_str(&e->arguments, json_str(data, "arguments"));
    } else if (strncmp(type, "tool.execution.", 15) == 0) {
        e = entry_at(call, ENTRY_TOOL_EXECUTION, data);
        if (!e->name)
            e->name = xstrdup(json_str(data, "name"));
        append_str(&e->arguments, json_str(data, "arguments"));
        if (strcmp(type, "tool.execution.done") == 0) {
            const cJSON *info = cJSON_GetObjectItemCaseSensitive(data, "info");
            if (cJSON_IsObject(info))
                e->info = cJSON_Duplicate(info, 1);
            flush_entry(call);
        }
    } else if (strcmp(type, "agent.handoff.started") == 0) {
        e = entry_at(call, ENTRY_AGENT_HANDOFF, data);
        e->previous_agent = xstrdup(json_str(data, "previous_agent_name"));
    } else if (strcmp(type, "agent.handoff.done") == 0) {
        const char *next = json_str(data, "next_agent_name");
        e = entry_at(call, ENTRY_AGENT_HANDOFF, data);
        e->next_agent = xstrdup(next);
        e->execution = xstrdup(call->handoff_execution);
        /* Server execution: the next agent speaks in this same stream, and
         * keeps the server conversation. Client execution: the stream ends
         * here, and the runner starts the next agent on a conversation of
         * its own, carrying what came before. */
        if (next && strcmp(call->handoff_execution, "server") == 0) {
            free(call->agent);
            call->agent = xstrdup(next);
            free(call->conv->remote_agent);
            call->conv->remote_agent = xstrdup(next);
        }
        flush_entry(call);
    } else if (strcmp(type, "conversation.response.done") == 0) {
        const cJSON *usage = cJSON_GetObjectItemCaseSensitive(data, "usage");
        const cJSON *n;
        flush_entry(call);
        if ((n = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens")) && cJSON_IsNumber(n))
            call->usage.prompt_tokens = (int64_t)n->valuedouble;
        if ((n = cJSON_GetObjectItemCaseSensitive(usage, "completion_tokens")) && cJSON_IsNumber(n))
            call->usage.completion_tokens = (int64_t)n->valuedouble;
        if ((n = cJSON_GetObjectItemCaseSensitive(usage, "total_tokens")) && cJSON_IsNumber(n))
            call->usage.total_tokens = (int64_t)n->valuedouble;
        c->stream_ended = true;
    } else if (strcmp(type, "conversation.response.error") == 0) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(data, "code");
        flush_entry(call);
        free(call->error);
        call->error = xasprintf("the server reported an error: %s (code %d)",
                                json_str(data, "message") ? json_str(data, "message") : "no message",
                                cJSON_IsNumber(code) ? code->valueint : 0);
        c->stream_ended = true;
    }
    call->delivering = false;
    return !call->cancelled;
}

/* The call ends: done or error goes to the runner, then the call is freed. */
static void conv_end(struct backend_call *call, const char *failure)
{
    struct backend_reply reply = call->reply;
    struct usage usage = call->usage;
    char *message = failure ? xstrdup(failure) : call->error ? xstrdup(call->error) : NULL;

    /* What arrived of an entry before a failure is kept. */
    if (call->cur && !call->cancelled)
        flush_entry(call);
    if (!message && call->appending)
        call->conv->remote_span.appended = true;
    call->api = NULL;
    conv_call_free(call);
    if (message)
        reply.error(reply.ud, message);
    else
        reply.done(reply.ud, &usage);
    free(message);
}

/* Feeds one synthetic stream event of type, made of the output's fields. */
static void replay_event(struct api_call *c, const char *type, int index, const cJSON *output, const char *const *keys)
{
    cJSON *data = cJSON_CreateObject();

    cJSON_AddStringToObject(data, "type", type);
    cJSON_AddNumberToObject(data, "output_index", index);
    for (const char *const *k = keys; *k; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(output, *k);
        if (!v)
            continue;
        if (strcmp(*k, "arguments") == 0 && !cJSON_IsString(v)) {
            /* function.call arguments may come as an object: we keep JSON text. */
            char *text = cJSON_PrintUnformatted(v);
            cJSON_AddStringToObject(data, *k, text ? text : "{}");
            cJSON_free(text);
        } else if (strcmp(*k, "content") == 0 && cJSON_IsArray(v)) {
            /* Chunks: the text of the text chunks, in order. */
            struct buf text = BUF_INIT;
            const cJSON *chunk;
            cJSON_ArrayForEach(chunk, v) {
                const char *t = json_str(chunk, "text");
                if (t)
                    buf_puts(&text, t);
            }
            cJSON_AddStringToObject(data, *k, buf_str(&text));
            buf_fini(&text);
        } else {
            cJSON_AddItemToObject(data, *k, cJSON_Duplicate(v, 1));
        }
    }
    conv_event(c, type, data);
    cJSON_Delete(data);
}

/* A plain (not streamed) ConversationResponse, replayed as the events a
 * stream would have brought, so both take one path. */
static void replay_response(struct api_call *c, const cJSON *body)
{
    static const char *const started[] = {"conversation_id", NULL};
    static const char *const message[] = {"id", "agent_id", "model", "content", NULL};
    static const char *const call[] = {"id", "agent_id", "name", "tool_call_id", "arguments", "confirmation_status",
                                       NULL};
    static const char *const tool_start[] = {"id", "agent_id", "name", "arguments", NULL};
    static const char *const tool_done[] = {"id", "name", "info", NULL};
    static const char *const handoff_start[] = {"id", "previous_agent_name", NULL};
    static const char *const handoff_done[] = {"id", "next_agent_name", NULL};
    static const char *const done[] = {"usage", NULL};
    const cJSON *output;
    int i = 0;

    replay_event(c, "conversation.response.started", 0, body, started);
    cJSON_ArrayForEach(output, cJSON_GetObjectItemCaseSensitive(body, "outputs")) {
        const char *type = json_str(output, "type");
        if (!type)
            continue;
        if (strcmp(type, "message.output") == 0) {
            replay_event(c, "message.output.delta", i, output, message);
        } else if (strcmp(type, "function.call") == 0) {
            replay_event(c, "function.call.delta", i, output, call);
        } else if (strcmp(type, "tool.execution") == 0) {
            replay_event(c, "tool.execution.started", i, output, tool_start);
            replay_event(c, "tool.execution.done", i, output, tool_done);
        } else if (strcmp(type, "agent.handoff") == 0) {
            replay_event(c, "agent.handoff.started", i, output, handoff_start);
            replay_event(c, "agent.handoff.done", i, output, handoff_done);
        }
        i++;
    }
    replay_event(c, "conversation.response.done", i, body, done);
}

static void conv_success(struct api_call *c, const cJSON *body)
{
    struct backend_call *call = c->owner;
    if (body && !call->cancelled)
        replay_response(c, body);
    c->owner = NULL;
    api_call_free(c);
    if (call->cancelled)
        conv_call_free(call); /* cancelled from a callback: say nothing more */
    else
        conv_end(call, NULL);
}

static void conv_failure(struct api_call *c, const char *message)
{
    struct backend_call *call = c->owner;
    char *copy = xstrdup(message);
    c->owner = NULL;
    api_call_free(c);
    if (call->cancelled)
        conv_call_free(call);
    else
        conv_end(call, copy);
    free(copy);
}

static void conv_retrying(struct api_call *c, const char *message)
{
    struct backend_call *call = c->owner;
    if (call->reply.warning)
        call->reply.warning(call->reply.ud, message);
}

static void conv_drop(void *owner)
{
    conv_call_free(owner);
}

static const struct api_call_ops conv_ops = {conv_event, conv_success, conv_failure, conv_retrying, conv_drop};

/* An input entry for entry e, or NULL when it carries nothing over. */
static cJSON *input_entry(const struct entry *e)
{
    cJSON *in = cJSON_CreateObject();

    switch (e->type) {
    case ENTRY_MESSAGE_INPUT:
    case ENTRY_MESSAGE_OUTPUT:
        cJSON_AddStringToObject(in, "type", "message.input");
        cJSON_AddStringToObject(in, "role", e->type == ENTRY_MESSAGE_OUTPUT ? "assistant" : e->role ? e->role : "user");
        cJSON_AddStringToObject(in, "content", e->content ? e->content : "");
        return in;
    case ENTRY_FUNCTION_RESULT:
        cJSON_AddStringToObject(in, "type", "function.result");
        cJSON_AddStringToObject(in, "tool_call_id", e->tool_call_id ? e->tool_call_id : "");
        cJSON_AddStringToObject(in, "result", e->result ? e->result : "");
        return in;
    default:
        cJSON_Delete(in);
        return NULL;
    }
}

/* The input entries for conv's entries [from, to). */
static cJSON *input_entries(const struct conversation *conv, size_t from, size_t to, bool messages_only)
{
    cJSON *inputs = cJSON_CreateArray();
    for (size_t i = from; i < to && i < conv->entries.len; i++) {
        const struct entry *e = conv->entries.items[i];
        cJSON *in;
        if (messages_only && e->type != ENTRY_MESSAGE_INPUT && e->type != ENTRY_MESSAGE_OUTPUT)
            continue;
        if ((in = input_entry(e)))
            cJSON_AddItemToArray(inputs, in);
    }
    return inputs;
}

static char *print_json(cJSON *obj)
{
    char *text = cJSON_PrintUnformatted(obj);
    char *copy;
    if (!text)
        fatal("out of memory encoding a request");
    copy = xstrdup(text);
    cJSON_free(text);
    cJSON_Delete(obj);
    return copy;
}

/* The common fields of a start, append or restart body. */
static void add_turn_fields(const struct backend_call *call, cJSON *body)
{
    cJSON_AddBoolToObject(body, "stream", call->mb->stream);
    cJSON_AddStringToObject(body, "handoff_execution", call->handoff_execution);
    if (call->response_format)
        cJSON_AddItemToObject(cJSON_AddObjectToObject(body, "completion_args"), "response_format",
                              cJSON_Duplicate(call->response_format, 1));
}

/* Appends to the server conversation, which is this agent's: the new
 * entries, or the user's answers to calls that waited for confirmation. */
static void conv_call_append(struct backend_call *call)
{
    struct conversation *conv = call->conv;
    cJSON *body = cJSON_CreateObject();

    if (call->confirmations) {
        cJSON_AddItemToObject(body, "tool_confirmations", call->confirmations);
        call->confirmations = NULL;
    } else {
        cJSON_AddItemToObject(body, "inputs", input_entries(conv, call->first_new, conv->entries.len, false));
    }
    add_turn_fields(call, body);
    call->appending = true;
    call->api = api_call_start(call->mb, &conv_ops, call, "POST", xasprintf("/v1/conversations/%s", conv->remote_id),
                               print_json(body), call->mb->stream);
}

/* Starts a new server conversation for agent that carries what came
 * before: all of it, or only the messages when it was another agent's. */
static void conv_call_start(struct backend_call *call, const struct agent *agent)
{
    struct conversation *conv = call->conv;
    bool messages_only = conv->remote_id != NULL;
    cJSON *body = cJSON_CreateObject();
    cJSON *inputs = input_entries(conv, 0, call->first_new, messages_only);
    cJSON *more = input_entries(conv, call->first_new, conv->entries.len, messages_only);
    cJSON *item;

    /* Carried: what the new agent is given of the earlier entries. */
    call->starting = true;
    call->parent = xstrdup(conv->remote_id);
    /* With no new input (a handoff agentdeck carries out), the new agent
     * answers the user's latest message, not the reply that handed off. */
    while (cJSON_GetArraySize(more) == 0 && cJSON_GetArraySize(inputs) > 1) {
        const cJSON *last = cJSON_GetArrayItem(inputs, cJSON_GetArraySize(inputs) - 1);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(last, "role");
        if (!cJSON_IsString(role) || strcmp(role->valuestring, "assistant") != 0)
            break;
        cJSON_DeleteItemFromArray(inputs, cJSON_GetArraySize(inputs) - 1);
    }
    call->carried = (size_t)cJSON_GetArraySize(inputs);
    while ((item = cJSON_DetachItemFromArray(more, 0)))
        cJSON_AddItemToArray(inputs, item);
    cJSON_Delete(more);
    cJSON_AddStringToObject(body, "agent_id", agent->remote_id ? agent->remote_id : "");
    cJSON_AddItemToObject(body, "inputs", inputs);
    add_turn_fields(call, body);
    free(conv->remote_id);
    conv->remote_id = NULL;
    free(conv->remote_agent);
    conv->remote_agent = xstrdup(agent->name);
    conv->remote_span = (struct remote_span){call->first_new, call->carried, false};
    call->api = api_call_start(call->mb, &conv_ops, call, "POST", xstrdup("/v1/conversations"), print_json(body),
                               call->mb->stream);
}

/* Branches the source server conversation at its entry from_entry_id
 * (Mistral's restart), sending the new entries. */
static void conv_call_restart(struct backend_call *call, const char *from_entry_id, size_t kept)
{
    struct conversation *conv = call->conv;
    cJSON *body = cJSON_CreateObject();
    char *path = xasprintf("/v1/conversations/%s/restart", conv->branch.remote_id);

    cJSON_AddItemToObject(body, "inputs", input_entries(conv, call->first_new, conv->entries.len, false));
    add_turn_fields(call, body);
    cJSON_AddStringToObject(body, "from_entry_id", from_entry_id);
    call->starting = true;
    call->parent = xstrdup(conv->branch.remote_id);
    call->carried = kept;
    free(conv->remote_agent);
    conv->remote_agent = xstrdup(conv->branch.remote_agent);
    /* The new server conversation begins as the source did, up to the entry. */
    conv->remote_span = conv->branch.span;
    conv->remote_span.appended = false;
    conversation_clear_branch(conv);
    call->api = api_call_start(call->mb, &conv_ops, call, "POST", path, print_json(body), call->mb->stream);
}

static void conv_call_send(struct backend_call *call, const struct agent *agent);

/* The source's history came: find the server's id of the entry to branch from. */
static void branch_history(struct api_call *c, const cJSON *body)
{
    struct backend_call *call = c->owner;
    struct conversation *conv = call->conv;
    const struct remote_branch *b = &conv->branch;
    const struct agent *agent = team_find_agent(call->mb->team, call->agent);
    size_t k = b->span.carried + (b->from - b->span.first);
    const cJSON *at = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(body, "entries"), (int)k);
    const struct entry *local = conv->entries.items[b->from];
    char *id = json_str(at, "id") ? xstrdup(json_str(at, "id")) : NULL;
    const char *type = json_str(at, "type");
    bool lines_up = id && type && strcmp(type, entry_type_name(local->type)) == 0;

    c->owner = NULL;
    api_call_free(c);
    call->api = NULL;
    if (!agent) {
        char *message = xasprintf("agent \"%s\" no longer exists", call->agent);
        conv_end(call, message);
        free(message);
    } else if (lines_up) {
        conv_call_restart(call, id, k + 1);
    } else {
        if (call->reply.warning) {
            char *message = xasprintf("server conversation %s does not line up with the entries of %s; "
                                      "the branch carries them into a new server conversation instead",
                                      b->remote_id, conv->id);
            call->reply.warning(call->reply.ud, message);
            free(message);
        }
        conversation_clear_branch(conv);
        conv_call_send(call, agent);
    }
    free(id);
}

static void branch_failure(struct api_call *c, const char *message)
{
    struct backend_call *call = c->owner;
    const struct agent *agent = team_find_agent(call->mb->team, call->agent);
    char *why = xasprintf("could not read the history of %s to branch it (%s); "
                          "the branch carries the entries into a new server conversation instead",
                          call->conv->branch.remote_id, message);

    c->owner = NULL;
    api_call_free(c);
    call->api = NULL;
    conversation_clear_branch(call->conv);
    if (call->reply.warning)
        call->reply.warning(call->reply.ud, why);
    free(why);
    if (agent) {
        conv_call_send(call, agent);
    } else {
        char *gone = xasprintf("agent \"%s\" no longer exists", call->agent);
        conv_end(call, gone);
        free(gone);
    }
}

static const struct api_call_ops branch_ops = {NULL, branch_history, branch_failure, conv_retrying, conv_drop};

/* Whether conv's pending branch can be made with the restart endpoint:
 * Mistral restarts only a conversation appended to at least once, keeps
 * its agent, and can branch only from an entry it holds itself. */
static bool branch_on_server(const struct conversation *conv, const struct agent *agent)
{
    const struct remote_branch *b = &conv->branch;
    return b->remote_id && b->span.appended && b->remote_agent && strcmp(b->remote_agent, agent->name) == 0 &&
           b->from >= b->span.first;
}

/* Sends a conversation request for agent: an append to its server
 * conversation, a branch of another, or a new one. */
static void conv_call_send(struct backend_call *call, const struct agent *agent)
{
    struct conversation *conv = call->conv;

    if (!conv->remote_id && conv->branch.remote_id) {
        if (branch_on_server(conv, agent)) {
            call->api = api_call_start(call->mb, &branch_ops, call, "GET",
                                       xasprintf("/v1/conversations/%s/history", conv->branch.remote_id), NULL, false);
            return;
        }
        conversation_clear_branch(conv);
    }
    if (conv->remote_id && conv->remote_agent && strcmp(conv->remote_agent, agent->name) == 0)
        conv_call_append(call);
    else
        conv_call_start(call, agent);
}

static struct backend_call *mistral_request(struct backend *b, const struct backend_request *req,
                                            const struct backend_reply *reply)
{
    struct mistral_backend *mb = (struct mistral_backend *)b;
    struct backend_call *call = xcalloc(1, sizeof *call);

    call->mb = mb;
    call->reply = *reply;
    call->conv = req->conv;
    call->agent = xstrdup(req->agent->name);
    call->first_new = req->first_new;
    call->handoff_execution = req->client_handoffs ? "client" : mb->handoff_execution;
    if (req->response_format)
        call->response_format = cJSON_Duplicate(req->response_format, 1);
    if (req->nconfirmations) {
        call->confirmations = cJSON_CreateArray();
        for (size_t i = 0; i < req->nconfirmations; i++) {
            cJSON *c = cJSON_CreateObject();
            cJSON_AddStringToObject(c, "tool_call_id", req->confirmations[i].tool_call_id);
            cJSON_AddStringToObject(c, "confirmation", req->confirmations[i].allow ? "allow" : "deny");
            cJSON_AddItemToArray(call->confirmations, c);
        }
    }
    if (mb->preparing)
        vec_push(&mb->waiting, call); /* agents are being made ready on the server */
    else
        conv_call_send(call, req->agent);
    return call;
}

/* The agents are ready (or could not be made so): the waiting requests go. */
static void release_waiting(struct mistral_backend *mb, const char *error)
{
    while (mb->waiting.len) {
        struct backend_call *call = vec_remove(&mb->waiting, 0);
        const struct agent *agent = team_find_agent(mb->team, call->agent);
        char *message = error    ? xasprintf("the agents could not be made ready on the server: %s", error)
                        : !agent ? xasprintf("agent \"%s\" no longer exists", call->agent)
                                 : NULL;
        if (message) {
            struct backend_reply reply = call->reply;
            conv_call_free(call);
            reply.error(reply.ud, message);
            free(message);
        } else {
            conv_call_send(call, agent);
        }
    }
}

static void mistral_cancel(struct backend *b, struct backend_call *call)
{
    struct mistral_backend *mb = (struct mistral_backend *)b;

    for (size_t i = 0; i < mb->waiting.len; i++) {
        if (mb->waiting.items[i] == call) {
            vec_remove(&mb->waiting, i);
            conv_call_free(call);
            return;
        }
    }
    if (call->delivering) {
        call->cancelled = true; /* the stream callback frees it */
        return;
    }
    if (call->api) {
        call->api->owner = NULL;
        api_call_free(call->api);
    }
    conv_call_free(call);
}

/* ---- agents on the server --------------------------------------------- */

struct prepare {
    struct mistral_backend *mb;
    struct team *team;
    backend_prepared_fn *done;
    void *ud;
    cJSON *existing; /* the server's agents tagged with this profile */
    int page;
    size_t step;        /* the agent being created or updated */
    int deleted;        /* the existing agents looked at for deletion */
    bool handoffs_pass; /* the second pass sets handoffs by id */
};

static void prepare_next(struct prepare *p);
static void prepare_listed(struct api_call *c, const cJSON *body);
static void prepare_failure(struct api_call *c, const char *message);
static void prepare_drop(void *owner);
static const struct api_call_ops prepare_list_ops = {NULL, prepare_listed, prepare_failure, NULL, prepare_drop};

static void prepare_free(struct prepare *p)
{
    cJSON_Delete(p->existing);
    free(p);
}

static void prepare_drop(void *owner)
{
    prepare_free(owner);
}

static void prepare_end(struct prepare *p, const char *error)
{
    struct mistral_backend *mb = p->mb;
    backend_prepared_fn *done = p->done;
    void *ud = p->ud;

    prepare_free(p);
    if (--mb->preparing == 0)
        release_waiting(mb, error);
    done(ud, error);
}

static void prepare_failure(struct api_call *c, const char *message)
{
    struct prepare *p = c->owner;
    char *copy = xasprintf("%s %s failed: %s", c->method, c->path, message);
    api_call_free(c);
    prepare_end(p, copy);
    free(copy);
}

/* 64-bit FNV-1a of the definition: whether the server copy is current. */
static char *definition_hash(const char *text)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *s = (const unsigned char *)text; *s; s++)
        h = (h ^ *s) * 1099511628211ULL;
    return xasprintf("%016llx", (unsigned long long)h);
}

/* The CreateAgentRequest body for a (handoffs are set in a second pass). */
static cJSON *agent_body(const struct mistral_backend *mb, const struct agent *a, const char *hash)
{
    cJSON *body = cJSON_CreateObject();
    cJSON *meta = a->metadata ? cJSON_Duplicate(a->metadata, 1) : cJSON_CreateObject();

    cJSON_AddStringToObject(body, "model", a->model);
    cJSON_AddStringToObject(body, "name", a->name);
    if (a->description)
        cJSON_AddStringToObject(body, "description", a->description);
    if (a->instructions)
        cJSON_AddStringToObject(body, "instructions", a->instructions);
    cJSON_AddItemToObject(body, "tools", cJSON_Duplicate(a->tools, 1));
    cJSON_AddItemToObject(body, "completion_args", cJSON_Duplicate(a->completion_args, 1));
    if (a->guardrails)
        cJSON_AddItemToObject(body, "guardrails", cJSON_Duplicate(a->guardrails, 1));
    cJSON_AddStringToObject(meta, "agentdeck_profile", mb->profile);
    cJSON_AddStringToObject(meta, "agentdeck_agent", a->name);
    if (hash)
        cJSON_AddStringToObject(meta, "agentdeck_hash", hash);
    cJSON_AddItemToObject(body, "metadata", meta);
    return body;
}

/* The hash of a's whole definition, handoffs by name included. */
static char *agent_hash(const struct mistral_backend *mb, const struct agent *a)
{
    cJSON *body = agent_body(mb, a, NULL);
    cJSON *handoffs = cJSON_AddArrayToObject(body, "handoff_names");
    char *text, *hash;
    for (size_t i = 0; i < a->handoffs.len; i++)
        cJSON_AddItemToArray(handoffs, cJSON_CreateString(a->handoffs.items[i]));
    text = print_json(body);
    hash = definition_hash(text);
    free(text);
    return hash;
}

static const cJSON *existing_agent(const struct prepare *p, const char *name)
{
    const cJSON *item;
    cJSON_ArrayForEach(item, p->existing) {
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(item, "metadata");
        const char *tagged = json_str(meta, "agentdeck_agent");
        if (tagged && strcmp(tagged, name) == 0)
            return item;
    }
    return NULL;
}

static void prepare_step_done(struct api_call *c, const cJSON *body)
{
    struct prepare *p = c->owner;
    struct agent *a = p->team->agents.items[p->step];
    const char *id = json_str(body, "id");

    if (id && !a->remote_id)
        a->remote_id = xstrdup(id);
    api_call_free(c);
    p->step++;
    prepare_next(p);
}

static const struct api_call_ops prepare_step_ops = {NULL, prepare_step_done, prepare_failure, NULL, prepare_drop};

static void prepare_deleted(struct api_call *c, const cJSON *body)
{
    struct prepare *p = c->owner;
    api_call_free(c);
    prepare_next(p);
}

static const struct api_call_ops prepare_delete_ops = {NULL, prepare_deleted, prepare_failure, NULL, prepare_drop};

static void prepare_next(struct prepare *p)
{
    struct mistral_backend *mb = p->mb;

    /* First, the server agents of this profile that the team no longer has. */
    while (p->deleted < cJSON_GetArraySize(p->existing)) {
        const cJSON *old = cJSON_GetArrayItem(p->existing, p->deleted++);
        const char *name = json_str(cJSON_GetObjectItemCaseSensitive(old, "metadata"), "agentdeck_agent");
        const char *id = json_str(old, "id");
        if (name && id && !team_find_agent(p->team, name)) {
            api_call_start(mb, &prepare_delete_ops, p, "DELETE", xasprintf("/v1/agents/%s", id), NULL, false);
            return;
        }
    }

    for (; p->step < p->team->agents.len; p->step++) {
        struct agent *a = p->team->agents.items[p->step];
        char *hash = agent_hash(mb, a);
        const cJSON *old = existing_agent(p, a->name);
        const char *old_hash =
            old ? json_str(cJSON_GetObjectItemCaseSensitive(old, "metadata"), "agentdeck_hash") : NULL;
        bool current = old_hash && strcmp(old_hash, hash) == 0;

        if (!p->handoffs_pass) {
            if (old && !a->remote_id)
                a->remote_id = xstrdup(json_str(old, "id"));
            if (current) {
                free(hash);
                continue;
            }
            /* Create, or update to a new version; handoffs come after, by id. */
            char *path = a->remote_id ? xasprintf("/v1/agents/%s", a->remote_id) : xstrdup("/v1/agents");
            api_call_start(mb, &prepare_step_ops, p, a->remote_id ? "PATCH" : "POST", path,
                           print_json(agent_body(mb, a, hash)), false);
            free(hash);
            return;
        }
        /* A new agent without handoffs needs nothing more; an updated one
         * may have had some: null clears them (an empty list is a 422). */
        if (current || !a->remote_id || (!a->handoffs.len && !old)) {
            free(hash);
            continue;
        }
        cJSON *body = cJSON_CreateObject();
        if (a->handoffs.len) {
            cJSON *ids = cJSON_AddArrayToObject(body, "handoffs");
            for (size_t i = 0; i < a->handoffs.len; i++) {
                const struct agent *to = team_find_agent(p->team, a->handoffs.items[i]);
                if (to && to->remote_id)
                    cJSON_AddItemToArray(ids, cJSON_CreateString(to->remote_id));
            }
        } else {
            cJSON_AddNullToObject(body, "handoffs");
        }
        free(hash);
        api_call_start(mb, &prepare_step_ops, p, "PATCH", xasprintf("/v1/agents/%s", a->remote_id), print_json(body),
                       false);
        return;
    }
    if (!p->handoffs_pass) {
        p->handoffs_pass = true;
        p->step = 0;
        prepare_next(p);
        return;
    }
    prepare_end(p, NULL);
}

static void prepare_listed(struct api_call *c, const cJSON *body)
{
    struct prepare *p = c->owner;
    const cJSON *item;
    int n = 0;

    cJSON_ArrayForEach(item, body) {
        const char *tag = json_str(cJSON_GetObjectItemCaseSensitive(item, "metadata"), "agentdeck_profile");
        n++;
        if (tag && strcmp(tag, p->mb->profile) == 0)
            cJSON_AddItemToArray(p->existing, cJSON_Duplicate(item, 1));
    }
    api_call_free(c);
    if (n == 100) {
        p->page++;
        api_call_start(p->mb, &prepare_list_ops, p, "GET", xasprintf("/v1/agents?page=%d&page_size=100", p->page), NULL,
                       false);
        return;
    }
    prepare_next(p);
}

static void mistral_prepare(struct backend *b, struct team *team, backend_prepared_fn *done, void *ud)
{
    struct mistral_backend *mb = (struct mistral_backend *)b;
    struct prepare *p = xcalloc(1, sizeof *p);

    mb->team = team;
    mb->preparing++;
    p->mb = mb;
    p->team = team;
    p->done = done;
    p->ud = ud;
    p->existing = cJSON_CreateArray();
    api_call_start(mb, &prepare_list_ops, p, "GET", xstrdup("/v1/agents?page=0&page_size=100"), NULL, false);
}

/* ---- questions about the server's conversations ------------------------ */

struct query {
    enum backend_query q;
    char *remote_id;
    backend_queried_fn *done;
    void *ud;
};

static void query_free(struct query *qu)
{
    free(qu->remote_id);
    free(qu);
}

static void query_drop(void *owner)
{
    query_free(owner);
}

static void query_answer(struct api_call *c, const cJSON *body, const char *error)
{
    struct query *qu = c->owner;
    api_call_free(c);
    qu->done(qu->ud, qu->q, qu->remote_id, body, error);
    query_free(qu);
}

static void query_success(struct api_call *c, const cJSON *body)
{
    query_answer(c, body, NULL);
}

static void query_failure(struct api_call *c, const char *message)
{
    query_answer(c, NULL, message);
}

static const struct api_call_ops query_ops = {NULL, query_success, query_failure, NULL, query_drop};

static void mistral_query(struct backend *b, enum backend_query q, const char *remote_id, int page,
                          backend_queried_fn *done, void *ud)
{
    struct mistral_backend *mb = (struct mistral_backend *)b;
    struct query *qu = xcalloc(1, sizeof *qu);
    const char *method = "GET";
    char *path;

    qu->q = q;
    qu->remote_id = remote_id ? xstrdup(remote_id) : NULL;
    qu->done = done;
    qu->ud = ud;
    switch (q) {
    case BACKEND_QUERY_LIST:
        path = xasprintf("/v1/conversations?page=%d&page_size=%d", page, MISTRAL_CONVERSATIONS_PAGE);
        break;
    case BACKEND_QUERY_HISTORY:
        path = xasprintf("/v1/conversations/%s/history", remote_id);
        break;
    case BACKEND_QUERY_MESSAGES:
        path = xasprintf("/v1/conversations/%s/messages", remote_id);
        break;
    case BACKEND_QUERY_DELETE:
        method = "DELETE";
        path = xasprintf("/v1/conversations/%s", remote_id);
        break;
    case BACKEND_QUERY_GET:
    default:
        path = xasprintf("/v1/conversations/%s", remote_id);
        break;
    }
    api_call_start(mb, &query_ops, qu, method, path, NULL, false);
}

/* ---- the backend ------------------------------------------------------ */

static void mistral_free(struct backend *b)
{
    struct mistral_backend *mb = (struct mistral_backend *)b;
    while (mb->calls.len) {
        struct api_call *c = mb->calls.items[0];
        if (c->owner)
            c->ops->drop(c->owner);
        api_call_free(c);
    }
    vec_fini(&mb->calls);
    while (mb->waiting.len)
        conv_call_free(vec_remove(&mb->waiting, 0));
    vec_fini(&mb->waiting);
    http_free(mb->http);
    free(mb->base_url);
    free(mb->auth_header);
    free(mb->profile);
    free(mb->handoff_execution);
    free(mb);
}

static const struct backend_ops mistral_ops = {
    .name = "mistral",
    .label = "mistral",
    .request = mistral_request,
    .cancel = mistral_cancel,
    .free = mistral_free,
    .prepare = mistral_prepare,
    .query = mistral_query,
};

struct backend *mistral_backend_new(struct loop *loop, const struct mistral_options *o)
{
    struct mistral_backend *mb = xcalloc(1, sizeof *mb);
    size_t len;

    mb->base.ops = &mistral_ops;
    mb->base.loop = loop;
    mb->http = http_new(loop);
    mb->base_url = xstrdup(o->base_url ? o->base_url : "https://api.mistral.ai");
    len = strlen(mb->base_url);
    while (len && mb->base_url[len - 1] == '/')
        mb->base_url[--len] = '\0';
    mb->auth_header = xasprintf("Authorization: Bearer %s", o->api_key ? o->api_key : "");
    mb->profile = xstrdup(o->profile ? o->profile : "default");
    mb->retries = o->retries >= 0 ? o->retries : 4;
    mb->stall_timeout_s = o->stall_timeout_s > 0 ? o->stall_timeout_s : 60;
    mb->handoff_execution = xstrdup(o->client_handoffs ? "client" : "server");
    mb->stream = !o->no_stream;
    vec_init(&mb->calls, NULL);
    vec_init(&mb->waiting, NULL);
    return &mb->base;
}
