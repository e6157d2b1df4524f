/* A byte-oriented Server-Sent Events parser (WHATWG HTML, "Server-sent
 * events", "Interpreting an event stream"). It does no I/O: the HTTP layer
 * feeds it whatever chunks arrive and it calls back once per event. */
#ifndef AGENTDECK_NET_SSE_H
#define AGENTDECK_NET_SSE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

/* Limits against a hostile or broken server. A line is counted without its
 * line end; an event's data as dispatched (lines joined with \n). The fuzz
 * build lowers them to reach the error paths with small inputs. */
#ifndef SSE_MAX_LINE
#define SSE_MAX_LINE ((size_t)1 << 20) /* 1 MiB */
#endif
#ifndef SSE_MAX_EVENT
#define SSE_MAX_EVENT ((size_t)8 << 20) /* 8 MiB */
#endif

/* One dispatched event. The strings belong to the parser and are valid only
 * during the callback. A NUL byte from the server in the type or the data
 * arrives as U+FFFD, so data_len == strlen(data) always holds. */
struct sse_event {
    const char *type; /* the event: field, "message" when none */
    const char *data; /* data: lines joined with \n, NUL-terminated */
    size_t data_len;
    const char *id; /* the last id: seen, or "" */
};

/* Called for each complete event. It may call sse_parser_stop(); it must not
 * feed, finish or fini the parser (the parser is still working on the chunk). */
typedef void sse_event_fn(void *ud, const struct sse_event *ev);

/* Embeddable; the fields are private to sse.c. */
struct sse_parser {
    sse_event_fn *fn;
    void *ud;
    struct buf line;        /* the start of a line cut by the end of a chunk */
    struct buf data;        /* the data buffer: each data: value and a \n */
    struct buf type;        /* the event type buffer */
    struct buf id;          /* the last event ID buffer */
    unsigned long retry_ms; /* the last valid retry:, 0 when none */
    const char *error;      /* why feed failed, or NULL */
    unsigned bom_len;       /* bytes of a leading BOM matched so far */
    bool bom_done;          /* the start of the stream is behind us */
    bool skip_lf;           /* the last byte fed was a CR ending a line */
    bool event_pending;     /* a field line came after the last blank line */
    bool stopped;           /* sse_parser_stop() was called */
    bool dispatching;       /* inside the callback */
};

void sse_parser_init(struct sse_parser *p, sse_event_fn *fn, void *ud);
void sse_parser_fini(struct sse_parser *p);

/* Feeds bytes (any chunking; bytes may be NULL when len is 0) and calls fn
 * for each complete event, in order. Returns 0, or -1 once a limit was
 * exceeded: the events before the offending line have been delivered, the
 * parser then ignores all further input, and sse_parser_error() says why.
 * After sse_parser_stop() it ignores the input and returns 0. */
int sse_parser_feed(struct sse_parser *p, const char *bytes, size_t len);

/* The end of the stream. An event not yet ended by a blank line, and a line
 * not yet ended, are dropped, as the spec says. Returns whether there was
 * such a thing (a field line after the last blank line, or a partial line),
 * so that the caller can report a truncated stream; false after an error or
 * a stop. The parser is then ready for a new stream (a reconnection): the
 * last event ID and the retry time carry over. */
bool sse_parser_finish(struct sse_parser *p);

/* Makes the parser ignore the rest of the current chunk and all later input;
 * for a consumer cancelled from inside the callback. */
void sse_parser_stop(struct sse_parser *p);
/* Whether sse_parser_stop() was called: the consumer's write callback can
 * then end the transfer. */
bool sse_parser_stopped(const struct sse_parser *p);

/* Why feed returned -1 (a sentence naming the limit), or NULL. */
const char *sse_parser_error(const struct sse_parser *p);

/* The reconnection time the server asked for with the last valid retry:
 * field (ASCII digits only; saturates at ULONG_MAX), or 0 when none came. */
unsigned long sse_parser_retry_ms(const struct sse_parser *p);

#endif
