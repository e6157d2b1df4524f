#include "config.h"

#include "model/event.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/xalloc.h"
#include "text/utf8.h"

static void sink_free_item(void *item)
{
    struct event_sink *sink = item;
    if (sink->free)
        sink->free(sink->ud);
    free(sink);
}

void event_stream_init(struct event_stream *es)
{
    es->seq = 0;
    vec_init(&es->sinks, sink_free_item);
}

void event_stream_fini(struct event_stream *es)
{
    vec_fini(&es->sinks);
}

struct event_sink *event_stream_add_sink(struct event_stream *es, const struct event_sink *sink)
{
    struct event_sink *copy = xmalloc(sizeof *copy);
    *copy = *sink;
    vec_push(&es->sinks, copy);
    return copy;
}

void event_stream_remove_sink(struct event_stream *es, struct event_sink *handle)
{
    for (size_t i = 0; i < es->sinks.len; i++) {
        if (es->sinks.items[i] == handle) {
            sink_free_item(vec_remove(&es->sinks, i));
            return;
        }
    }
}

/* Repairs every string (and key) of item that is not UTF-8: the stream is
 * JSON, and its text comes from models, tools and terminals. */
static void repair_strings(cJSON *item)
{
    for (; item; item = item->next) {
        if (item->string && !(item->type & cJSON_StringIsConst) && !utf8_valid(item->string, strlen(item->string))) {
            char *key = utf8_repair(item->string, strlen(item->string));
            char *copy = cJSON_malloc(strlen(key) + 1);
            if (!copy)
                fatal("out of memory repairing an event");
            strcpy(copy, key);
            cJSON_free(item->string);
            item->string = copy;
            free(key);
        }
        if (cJSON_IsString(item) && !utf8_valid(item->valuestring, strlen(item->valuestring))) {
            char *value = utf8_repair(item->valuestring, strlen(item->valuestring));
            cJSON_SetValuestring(item, value);
            free(value);
        }
        repair_strings(item->child);
    }
}

int64_t event_emit(struct event_stream *es, const char *type, cJSON *fields)
{
    cJSON *ev = cJSON_CreateObject();
    char ts[40];
    char *line;

    clock_format_rfc3339(clock_wall_ms(), ts, sizeof ts);
    cJSON_AddNumberToObject(ev, "seq", (double)++es->seq);
    cJSON_AddStringToObject(ev, "ts", ts);
    cJSON_AddStringToObject(ev, "type", type);
    if (fields) {
        repair_strings(fields->child);
        /* Move the fields over, keeping their order. */
        cJSON *item;
        while ((item = fields->child) != NULL) {
            cJSON_DetachItemViaPointer(fields, item);
            /* A field must not shadow seq, ts or type. */
            if (cJSON_GetObjectItemCaseSensitive(ev, item->string))
                cJSON_Delete(item);
            else
                cJSON_AddItemToObject(ev, item->string, item);
        }
        cJSON_Delete(fields);
    }
    line = cJSON_PrintUnformatted(ev);
    if (!line)
        fatal("out of memory encoding an event");
    for (size_t i = 0; i < es->sinks.len; i++) {
        struct event_sink *sink = es->sinks.items[i];
        sink->write(sink->ud, ev, line);
    }
    cJSON_free(line);
    cJSON_Delete(ev);
    return es->seq;
}

int64_t event_emit_message(struct event_stream *es, const char *type, cJSON *fields, const char *fmt, va_list ap)
{
    char *message = xvasprintf(fmt, ap);
    int64_t seq;

    if (!fields)
        fields = cJSON_CreateObject();
    cJSON_AddStringToObject(fields, "message", message);
    free(message);
    seq = event_emit(es, type, fields);
    return seq;
}

char *json_pretty(const cJSON *item)
{
    char *printed = item ? cJSON_Print(item) : NULL;
    struct buf out = BUF_INIT;

    /* cJSON indents with tabs, and puts one after each key's colon. */
    for (const char *q = printed ? printed : ""; *q; q++) {
        if (*q == '\t')
            buf_puts(&out, q > printed && q[-1] == ':' ? " " : "  ");
        else
            buf_putc(&out, *q);
    }
    cJSON_free(printed);
    return buf_steal(&out);
}
