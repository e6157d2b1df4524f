/* HTTP on the one loop: libcurl's multi interface, driven by the loop's fd
 * watches and timers (curl's socket and timer callbacks), so that any
 * number of transfers, streamed or not, share the one thread.
 *
 * This is the only module that includes curl. */
#ifndef AGENTDECK_NET_HTTP_H
#define AGENTDECK_NET_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "core/loop.h"
#include "net/wire.h"

struct http;
struct http_transfer;

struct http_request {
    const char *method; /* "GET", "POST", "PATCH", "DELETE" */
    const char *url;
    const char *body;           /* JSON text, or NULL */
    const char *const *headers; /* "Name: value" lines, NULL-terminated; may be NULL */
    long connect_timeout_ms;    /* 0: 10 s */
    long stall_timeout_s;       /* no byte for this long fails the transfer; 0: 60 s */
    const char *tag;            /* whose exchange it is, in the wire log (a run id); may be NULL */
};

/* How a transfer ended. */
struct http_result {
    bool ok;                  /* the exchange completed (any HTTP status) */
    long status;              /* the HTTP status, 0 when none arrived */
    const char *error;        /* !ok: why, in one sentence */
    bool stalled;             /* !ok because no byte came for stall_timeout_s */
    const char *retry_after;  /* the Retry-After header, or NULL */
    const char *content_type; /* the Content-Type header, or NULL */
};

struct http_handlers {
    void *ud;
    /* Body bytes as they arrive, status known. Returns false to abort the
     * transfer (done still comes, with an error). May cancel it instead. */
    bool (*data)(void *ud, long status, const char *bytes, size_t len);
    /* Called once at the end (not after http_cancel); the transfer is freed after it returns. */
    void (*done)(void *ud, const struct http_result *result);
    /* Optional: each header of the final response, name lowercased and
     * value trimmed, before its body's data (MCP reads Mcp-Session-Id). It must not cancel. */
    void (*header)(void *ud, const char *name, const char *value);
};

/* Returns a client on loop with the User-Agent agentdeck/VERSION. */
struct http *http_new(struct loop *loop);
/* Cancels every transfer (no done calls) and frees the client. */
void http_free(struct http *http);

/* Records every exchange started from now on in wire (not owned; it must
 * outlive the client), or (NULL) none. */
void http_set_wire(struct http *http, struct wire *wire);

/* Starts a transfer; handlers run from the loop. Returns a handle valid
 * until done returns or http_cancel. */
struct http_transfer *http_start(struct http *http, const struct http_request *req, const struct http_handlers *h);
/* Stops a transfer; done is not called. Safe from inside its data callback. */
void http_cancel(struct http_transfer *t);

/* Parses a Retry-After value (delay seconds or an HTTP date) into
 * milliseconds from now; -1 when it is neither. */
long http_retry_after_ms(const char *value);

#endif
