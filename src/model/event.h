/* The one event stream (DESIGN §4): every entry, delta, run, error and
 * command result is an event; sinks write it to stdout, the journal, or the
 * screen. Field names are documented in doc/events.md and kept stable. */
#ifndef AGENTDECK_MODEL_EVENT_H
#define AGENTDECK_MODEL_EVENT_H

#include <cJSON.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/vec.h"

struct event_sink {
    /* ev holds seq, ts and type first; line is its one-line JSON text. */
    void (*write)(void *ud, const cJSON *ev, const char *line);
    void (*free)(void *ud);
    void *ud;
};

struct event_stream {
    int64_t seq;
    struct vec sinks; /* struct event_sink * */
};

void event_stream_init(struct event_stream *es);
/* Frees the sinks (calling their free function). */
void event_stream_fini(struct event_stream *es);
/* Adds a copy of sink; its write runs for every event emitted after this.
 * Returns a handle for event_stream_remove_sink(). */
struct event_sink *event_stream_add_sink(struct event_stream *es, const struct event_sink *sink);
/* Removes (and frees) a sink; never from inside a sink's write. */
void event_stream_remove_sink(struct event_stream *es, struct event_sink *handle);

/* Emits an event of type with the fields of `fields` (taken; may be NULL)
 * after seq, ts and type. Returns the event's seq. */
int64_t event_emit(struct event_stream *es, const char *type, cJSON *fields);
/* The same, with a "message" field made by fmt added to fields (taken; may be NULL). */
int64_t event_emit_message(struct event_stream *es, const char *type, cJSON *fields, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

/* item as JSON indented by two blanks, not tabs (a new string; "" for
 * NULL): a tab would show as one blank once sanitized. */
char *json_pretty(const cJSON *item);

#endif
