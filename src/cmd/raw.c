/* /raw [RUN]: the HTTP exchanges of a run as they went over the wire, from
 * the session's wire log (src/net/wire.h), with the key redacted. */
#include "config.h"

#include <cJSON.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/internal.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/xalloc.h"

/* The tags of the backend's own exchanges, which /raw shows too. */
static const char *const other_tags[] = {"prepare", "query"};

/* Whether id is a run of this session: r1 up to the latest. */
static bool run_started(const struct session *s, const char *id)
{
    char *end;
    unsigned long n;

    if (id[0] != 'r' || !isdigit((unsigned char)id[1]) || id[1] == '0')
        return false;
    n = strtoul(id + 1, &end, 10);
    return *end == '\0' && n <= s->next_run;
}

static bool other_tag(const char *tag)
{
    for (size_t i = 0; i < sizeof other_tags / sizeof other_tags[0]; i++) {
        if (strcmp(tag, other_tags[i]) == 0)
            return true;
    }
    return false;
}

/* "runs so far: r1..r3", for an unknown run (a new string). */
static char *runs_so_far(const struct session *s)
{
    if (s->next_run == 0)
        return xstrdup("no run has started yet");
    if (s->next_run == 1)
        return xstrdup("the only run so far is r1");
    return xasprintf("runs so far: r1..r%u", s->next_run);
}

/* text as JSON indented by two blanks when it is JSON, else NULL (a new string). */
static char *pretty_json_text(const char *text)
{
    cJSON *json = cJSON_Parse(text);
    char *pretty = json ? json_pretty(json) : NULL;

    cJSON_Delete(json);
    return pretty;
}

/* A body as the text view shows it: JSON pretty-printed unless cut, other
 * text (an event stream) as it came, then what was cut. */
static void render_body(struct buf *out, const struct buf *body, size_t cut)
{
    char *pretty = cut ? NULL : pretty_json_text(buf_str(body));
    const char *text = pretty ? pretty : buf_str(body);
    size_t len = strlen(text);

    while (len && text[len - 1] == '\n')
        len--;
    buf_append(out, text, len);
    buf_putc(out, '\n');
    if (cut)
        buf_printf(out, "[... %zu bytes more]\n", cut);
    free(pretty);
}

static void render_exchange(struct buf *out, const struct wire_exchange *ex, size_t n, size_t of)
{
    char when[40];

    clock_format_rfc3339(ex->started_wall, when, sizeof when);
    buf_printf(out, "-- exchange %zu of %zu, %s, ", n, of, when);
    if (ex->duration_ms < 0)
        buf_printf(out, "in flight for %lld ms\n", (long long)(clock_now_ms() - ex->started));
    else
        buf_printf(out, "%lld ms\n", (long long)ex->duration_ms);
    buf_printf(out, "%s %s\n", ex->method, ex->url);
    for (size_t i = 0; i < ex->headers.len; i++)
        buf_printf(out, "%s\n", (const char *)ex->headers.items[i]);
    if (ex->has_request) {
        buf_putc(out, '\n');
        render_body(out, &ex->request, ex->request_cut);
    }
    buf_putc(out, '\n');
    if (ex->status) {
        buf_printf(out, "HTTP %ld\n", ex->status);
        if (ex->content_type)
            buf_printf(out, "Content-Type: %s\n", ex->content_type);
        if (ex->retry_after)
            buf_printf(out, "Retry-After: %s\n", ex->retry_after);
        if (ex->response.len || ex->response_cut) {
            buf_putc(out, '\n');
            render_body(out, &ex->response, ex->response_cut);
        }
    } else if (ex->duration_ms >= 0) {
        buf_puts(out, "no response\n");
    }
    if (ex->error)
        buf_printf(out, "failed: %s\n", ex->error);
    buf_putc(out, '\n');
}

/* A body as a string, with the cut said at its end. */
static void add_body(cJSON *obj, const char *name, const struct buf *body, size_t cut)
{
    char *text = cut ? xasprintf("%s[... %zu bytes more]", buf_str(body), cut) : xstrdup(buf_str(body));
    cJSON_AddStringToObject(obj, name, text);
    free(text);
}

static cJSON *exchange_json(const struct wire_exchange *ex)
{
    cJSON *obj = cJSON_CreateObject();
    cJSON *headers = cJSON_CreateArray();
    char when[40];

    clock_format_rfc3339(ex->started_wall, when, sizeof when);
    cJSON_AddStringToObject(obj, "method", ex->method);
    cJSON_AddStringToObject(obj, "url", ex->url);
    for (size_t i = 0; i < ex->headers.len; i++)
        cJSON_AddItemToArray(headers, cJSON_CreateString(ex->headers.items[i]));
    cJSON_AddItemToObject(obj, "headers", headers);
    if (ex->has_request)
        add_body(obj, "request_body", &ex->request, ex->request_cut);
    if (ex->status)
        cJSON_AddNumberToObject(obj, "status", (double)ex->status);
    if (ex->content_type || ex->retry_after) {
        cJSON *rh = cJSON_AddObjectToObject(obj, "response_headers");
        if (ex->content_type)
            cJSON_AddStringToObject(rh, "content-type", ex->content_type);
        if (ex->retry_after)
            cJSON_AddStringToObject(rh, "retry-after", ex->retry_after);
    }
    if (ex->status || ex->response.len)
        add_body(obj, "response_body", &ex->response, ex->response_cut);
    cJSON_AddStringToObject(obj, "started", when);
    if (ex->duration_ms >= 0)
        cJSON_AddNumberToObject(obj, "duration_ms", (double)ex->duration_ms);
    else
        cJSON_AddBoolToObject(obj, "in_flight", true);
    if (ex->error)
        cJSON_AddStringToObject(obj, "error", ex->error);
    return obj;
}

/* Why tag has no exchange to show (a new string). */
static char *nothing_to_show(const struct session *s, const char *tag, bool is_run)
{
    uint64_t dropped = wire_dropped_with_tag(s->wire, tag);

    if (dropped)
        return xasprintf("the %llu HTTP exchange%s of %s %s dropped from the log, which keeps the last %zu",
                         (unsigned long long)dropped, dropped == 1 ? "" : "s", tag, dropped == 1 ? "was" : "were",
                         wire_max_exchanges(s->wire));
    if (is_run)
        return xasprintf("run %s has sent no HTTP request", tag);
    return xasprintf("no HTTP exchange is tagged %s yet", tag);
}

enum cmd_status cmd_raw(struct cmd_call *call)
{
    struct session *s = call->session;
    const char *tag = cmd_arg(call, 0);
    cJSON *exchanges, *fields;
    struct buf text = BUF_INIT;
    size_t n = 0, shown = 0;
    uint64_t dropped;
    bool is_run;

    if (!tag) {
        if (!s->focused)
            return cmd_fail(call, "no conversation yet: start one with /start AGENT TEXT");
        if (!(tag = session_latest_run(s, s->focused)))
            return cmd_fail(call, "%s has had no run yet", s->focused->id);
    }
    is_run = run_started(s, tag);
    if (!is_run && !other_tag(tag)) {
        char *known = runs_so_far(s);
        enum cmd_status st = cmd_fail(call, "no run %s; %s", tag, known);
        free(known);
        return st;
    }
    if (!s->speaks_http) {
        if (is_run)
            return cmd_fail(call, "run %s ran on the %s backend, which sends no HTTP request", tag,
                            s->backend->ops->name);
        return cmd_fail(call, "the %s backend sends no HTTP request", s->backend->ops->name);
    }

    for (size_t i = 0; i < wire_count(s->wire); i++)
        n += strcmp(wire_get(s->wire, i)->tag, tag) == 0;
    if (!n) {
        char *why = nothing_to_show(s, tag, is_run);
        return cmd_result(call, false, why);
    }

    dropped = wire_dropped_with_tag(s->wire, tag);
    buf_printf(&text, "%s: %zu HTTP exchange%s, the key redacted\n", tag, n, n == 1 ? "" : "s");
    if (dropped)
        buf_printf(&text, "(%llu earlier exchange%s of %s left the log, which keeps the last %zu)\n",
                   (unsigned long long)dropped, dropped == 1 ? "" : "s", tag, wire_max_exchanges(s->wire));
    buf_putc(&text, '\n');
    exchanges = cJSON_CreateArray();
    for (size_t i = 0; i < wire_count(s->wire); i++) {
        const struct wire_exchange *ex = wire_get(s->wire, i);
        if (strcmp(ex->tag, tag) != 0)
            continue;
        cJSON_AddItemToArray(exchanges, exchange_json(ex));
        render_exchange(&text, ex, ++shown, n);
    }

    fields = cJSON_CreateObject();
    if (is_run)
        cJSON_AddStringToObject(fields, "run", tag);
    cJSON_AddStringToObject(fields, "tag", tag);
    cJSON_AddStringToObject(fields, "backend", s->backend->ops->name);
    cJSON_AddItemToObject(fields, "exchanges", exchanges);
    if (dropped)
        cJSON_AddNumberToObject(fields, "dropped", (double)dropped);
    cJSON_AddStringToObject(fields, "text", buf_str(&text));
    event_emit(&s->events, "raw", fields);
    buf_fini(&text);
    return CMD_OK;
}
