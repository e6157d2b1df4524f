#include "config.h"

#include "backend/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "net/http.h"
#include "net/wire.h"

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

char *api_error_message(long status, const char *body)
{
    cJSON *json = body ? cJSON_Parse(body) : NULL;
    const cJSON *message = cJSON_GetObjectItemCaseSensitive(json, "message");
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(json, "error");
    char *what = NULL, *out;

    if (cJSON_IsString(message))
        what = xstrdup(message->valuestring);
    else if (cJSON_IsObject(message))
        what = detail_message(cJSON_GetObjectItemCaseSensitive(message, "detail"));
    if (!what && cJSON_IsObject(error)) {
        const cJSON *inner = cJSON_GetObjectItemCaseSensitive(error, "message");
        if (cJSON_IsString(inner))
            what = xstrdup(inner->valuestring);
    } else if (!what && cJSON_IsString(error)) {
        what = xstrdup(error->valuestring); /* Ollama: {"error": "model \"x\" not found"} */
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

char *api_print_json(cJSON *obj)
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

/* ---- the client --------------------------------------------------------- */

void api_client_init(struct api_client *cl, struct loop *loop, const char *base_url, const char *api_key, int retries,
                     long stall_timeout_s, const char *stream_end)
{
    size_t len;

    cl->loop = loop;
    cl->http = http_new(loop);
    cl->base_url = xstrdup(base_url);
    len = strlen(cl->base_url);
    while (len && cl->base_url[len - 1] == '/')
        cl->base_url[--len] = '\0';
    cl->auth_header = api_key ? xasprintf("Authorization: Bearer %s", api_key) : NULL;
    cl->retries = retries;
    cl->stall_timeout_s = stall_timeout_s;
    cl->stream_end = stream_end;
    vec_init(&cl->calls, NULL);
}

void api_client_fini(struct api_client *cl)
{
    while (cl->calls.len) {
        struct api_call *c = cl->calls.items[0];
        if (c->owner)
            c->ops->drop(c->owner);
        api_call_free(c);
    }
    vec_fini(&cl->calls);
    http_free(cl->http);
    free(cl->base_url);
    if (cl->auth_header) {
        memset(cl->auth_header, 0, strlen(cl->auth_header));
        free(cl->auth_header);
    }
}

/* ---- one request, with retries ----------------------------------------- */

static void api_send(struct api_call *c);

void api_call_free(struct api_call *c)
{
    struct vec *calls = &c->client->calls;
    for (size_t i = 0; i < calls->len; i++) {
        if (calls->items[i] == c) {
            vec_remove(calls, i);
            break;
        }
    }
    loop_timer_cancel(c->client->loop, c->retry_timer);
    http_cancel(c->transfer);
    if (c->sse_ready)
        sse_parser_fini(&c->sse);
    buf_fini(&c->raw);
    free(c->tag);
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
                        c->attempt, c->retries);
    if (c->ops->retrying)
        c->ops->retrying(c, message);
    free(message);
    c->retry_timer = loop_timer_add(c->client->loop, delay, on_retry_timer, c);
}

static void on_done(void *ud, const struct http_result *r)
{
    struct api_call *c = ud;
    char *message = NULL;

    c->transfer = NULL;
    c->status = r->status;
    if (c->failure) {
        c->ops->failure(c, c->failure);
    } else if (!r->ok) {
        if (!c->stream_began && c->attempt < c->retries && !r->stalled) {
            api_retry(c, r->error, NULL);
            return;
        }
        message = c->stream_began ? xasprintf("the stream was cut off: %s", r->error) : xstrdup(r->error);
        c->ops->failure(c, message);
    } else if (r->status < 200 || r->status >= 300) {
        if (retryable(r->status) && c->attempt < c->retries) {
            char *why = api_error_message(r->status, buf_str(&c->raw));
            buf_reset(&c->raw);
            api_retry(c, why, r->retry_after);
            free(why);
            return;
        }
        message = api_error_message(r->status, buf_str(&c->raw));
        c->ops->failure(c, message);
    } else if (c->stream) {
        if (sse_parser_finish(&c->sse) || !c->stream_ended) {
            message = xasprintf("the stream ended before %s: a truncated response", c->client->stream_end);
            c->ops->failure(c, message);
        } else {
            c->ops->success(c, NULL);
        }
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
    struct api_client *cl = c->client;
    char *url = xasprintf("%s%s", cl->base_url, c->path);
    const char *accept = c->stream ? "Accept: text/event-stream" : "Accept: application/json";
    const char *with_key[] = {cl->auth_header, "Content-Type: application/json", accept, NULL};
    const char *without_key[] = {"Content-Type: application/json", accept, NULL};
    struct http_request req = {c->method,          url, c->body, cl->auth_header ? with_key : without_key, 0,
                               cl->stall_timeout_s, c->tag};
    struct http_handlers h = {c, on_data, on_done, NULL};

    buf_reset(&c->raw);
    if (c->sse_ready)
        sse_parser_fini(&c->sse);
    sse_parser_init(&c->sse, on_sse_event, c);
    c->sse_ready = true;
    c->stream_began = c->stream_ended = false;
    c->transfer = http_start(cl->http, &req, &h);
    free(url);
}

struct api_call *api_call_start(struct api_client *cl, const struct api_call_ops *ops, void *owner, const char *tag,
                                const char *method, char *path, char *body, bool stream)
{
    struct api_call *c = xcalloc(1, sizeof *c);
    c->client = cl;
    c->ops = ops;
    c->owner = owner;
    c->tag = xstrdup(tag ? tag : "");
    c->method = xstrdup(method);
    c->path = path;
    c->body = body;
    c->stream = stream;
    c->retries = cl->retries;
    buf_init(&c->raw);
    vec_push(&cl->calls, c);
    api_send(c);
    return c;
}

void api_client_set_wire(struct api_client *cl, struct wire *wire)
{
    static const char bearer[] = "Authorization: Bearer ";

    if (wire && cl->auth_header && strncmp(cl->auth_header, bearer, sizeof bearer - 1) == 0)
        wire_add_secret(wire, cl->auth_header + sizeof bearer - 1);
    http_set_wire(cl->http, wire);
}
