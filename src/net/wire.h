/* The wire log: a bounded record of the recent HTTP exchanges, for the raw
 * view (/raw). src/net/http.c fills it when one is attached
 * (http_set_wire); each exchange carries the tag of whoever sent it (a run
 * id, or "prepare" and "query" for the backend's own requests).
 *
 * Secrets never enter it: request headers named Authorization, or whose
 * name holds "key" or "token", are redacted as they are recorded, URL query
 * parameters named so too, and every secret known to the log (the values of
 * those headers, and what wire_add_secret was given) is replaced by
 * "[redacted]" wherever else it appears: URL, bodies, errors. */
#ifndef AGENTDECK_NET_WIRE_H
#define AGENTDECK_NET_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/vec.h"

#define WIRE_MAX_EXCHANGES 200
#define WIRE_MAX_BODY (256 * 1024)
#define WIRE_MAX_TOTAL (32 * 1024 * 1024)

/* One recorded exchange. Fields are as recorded, secrets redacted. */
struct wire_exchange {
    uint64_t id;          /* counts from 1 over the log's life */
    char *tag;            /* "r3", "prepare", "query", or "" */
    char *method;         /* "POST" */
    char *url;            /* the full URL */
    struct vec headers;   /* char *: the request headers, "Name: value" */
    struct buf request;   /* the request body, maybe cut */
    bool has_request;     /* a body was sent (it may be empty) */
    size_t request_cut;   /* bytes of the request body not kept */
    long status;          /* the HTTP status; 0 when none came */
    char *content_type;   /* the response's Content-Type, or NULL */
    char *retry_after;    /* the response's Retry-After, or NULL */
    struct buf response;  /* the response body as received (an SSE stream: its event lines), maybe cut */
    size_t response_cut;  /* bytes of the response body not kept */
    int64_t started_wall; /* when it began, ms since the epoch */
    int64_t started;      /* ... on the monotonic clock */
    int64_t duration_ms;  /* -1 while in flight */
    char *error;          /* why the transfer failed, or NULL */
};

struct wire;

/* Returns a new log keeping at most max_exchanges exchanges, max_body bytes
 * of each body and max_total bytes of bodies in all (the oldest exchanges
 * go first). The caller frees it with wire_free. */
struct wire *wire_new(size_t max_exchanges, size_t max_body, size_t max_total);
void wire_free(struct wire *w);

/* Makes secret (copied) one that is never recorded. A value shorter than
 * WIRE_MIN_SECRET bytes is ignored: scrubbing it would mangle ordinary text. */
#define WIRE_MIN_SECRET 8
void wire_add_secret(struct wire *w, const char *secret);

/* Starts recording an exchange (tag may be NULL; headers is a NULL-ended
 * list of "Name: value" lines, may be NULL; body may be NULL). Returns its
 * id for the calls below, which do nothing once it has left the log. */
uint64_t wire_begin(struct wire *w, const char *tag, const char *method, const char *url, const char *const *headers,
                    const char *body);
/* Adds response body bytes as they arrive. */
void wire_response_data(struct wire *w, uint64_t id, const char *bytes, size_t len);
/* Ends an exchange: status (0: none), the response headers that matter
 * (may be NULL), and error (NULL when the transfer completed). */
void wire_end(struct wire *w, uint64_t id, long status, const char *content_type, const char *retry_after,
              const char *error);

/* The exchanges kept, oldest first: i from 0 to wire_count() - 1. */
size_t wire_count(const struct wire *w);
const struct wire_exchange *wire_get(const struct wire *w, size_t i);
/* How many exchanges have left the log, in all and with tag. */
uint64_t wire_dropped(const struct wire *w);
uint64_t wire_dropped_with_tag(const struct wire *w, const char *tag);
size_t wire_max_exchanges(const struct wire *w);

/* A request header line as the log keeps it (a new string; the caller
 * frees it): "Authorization: Bearer [redacted]", "X-Api-Key: [redacted]",
 * other lines as they are. *secret (may be NULL) gets the redacted value
 * (a new string) or NULL. */
char *wire_redact_header(const char *line, char **secret);

#endif
