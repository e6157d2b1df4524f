/* One request to a JSON HTTP API on the loop, shared by the backends that
 * talk to a server (mistral, chat): the answer taken whole as JSON, or
 * streamed as server-sent events; 409, 429 and 5xx answers and failed
 * connections retried with backoff (Retry-After honoured) until a stream
 * has begun, never after; error bodies turned into one sentence.
 *
 * It sits on net/http.c and net/sse.c and adds no transport of its own. */
#ifndef AGENTDECK_BACKEND_API_H
#define AGENTDECK_BACKEND_API_H

#include <cJSON.h>
#include <stdbool.h>

#include "core/buf.h"
#include "core/loop.h"
#include "core/vec.h"
#include "net/sse.h"

struct http;
struct wire;
struct http_transfer;

/* What the calls of one backend share. Embedded in the backend. */
struct api_client {
    struct loop *loop;
    struct http *http;
    char *base_url;         /* without a trailing slash */
    char *auth_header;      /* "Authorization: Bearer ...", or NULL: never logged */
    int retries;            /* 409, 429, 5xx and failed connections are retried this many times */
    long stall_timeout_s;   /* a silent server fails the call after this long */
    const char *stream_end; /* what ends a stream, for the message about a truncated one */
    struct vec calls;       /* struct api_call * in flight */
};

/* api_key may be NULL (no Authorization header); stream_end names what
 * ends a complete stream ("conversation.response.done", "data: [DONE]"). */
void api_client_init(struct api_client *cl, struct loop *loop, const char *base_url, const char *api_key, int retries,
                     long stall_timeout_s, const char *stream_end);
/* Records the client's exchanges in wire (or stops, with NULL); the key is
 * scrubbed from what is recorded wherever it appears. */
void api_client_set_wire(struct api_client *cl, struct wire *wire);
/* Frees every call still in flight (its owner dropped first, through its
 * ops' drop) and the client's own state. */
void api_client_fini(struct api_client *cl);

struct api_call;

struct api_call_ops {
    /* A streamed event, its data parsed (type: the data's "type" field,
     * else the SSE event type); returns false to stop the stream. A
     * "data: [DONE]" line is not passed on: it ends the stream. */
    bool (*event)(struct api_call *c, const char *type, const cJSON *data);
    /* The exchange ended well: body is the JSON of a plain answer (NULL
     * when streamed, or for an empty answer such as a 204). The callee
     * frees the call (api_call_free), now or later. */
    void (*success)(struct api_call *c, const cJSON *body);
    /* The exchange failed for good, message says why; the callee frees the call. */
    void (*failure)(struct api_call *c, const char *message);
    /* A retry was scheduled, message says why and when. May be NULL. */
    void (*retrying)(struct api_call *c, const char *message);
    /* Frees the owner when the client goes first (api_client_fini). */
    void (*drop)(void *owner);
};

/* One request. The owner and the two flags are the caller's to use; the
 * rest is the client's. */
struct api_call {
    struct api_client *client;
    const struct api_call_ops *ops;
    void *owner;       /* the caller's; NULL once it is detached */
    bool stream_ended; /* the stream's last event came: set by event(), or by [DONE] */
    char *tag; /* its exchanges' tag in the wire log: the run's id, "prepare" or "query" */
    char *method, *path, *body;
    bool stream;
    int retries; /* this call's limit: the client's unless lowered */
    long status; /* the last answer's HTTP status; 0 when none came (the server could not be reached) */
    int attempt;
    uint64_t retry_timer;
    struct http_transfer *transfer;
    struct buf raw; /* a plain body, or an error body */
    struct sse_parser sse;
    bool sse_ready;
    bool stream_began; /* an event came: the request is never sent again */
    char *failure;     /* a failure found inside the stream */
};

/* Starts a call; path ("/v1/...") and body (JSON text, may be NULL) are
 * taken. tag names its exchanges in the wire log (may be NULL). Its ops run
 * from the loop, never from inside this function. */
struct api_call *api_call_start(struct api_client *cl, const struct api_call_ops *ops, void *owner, const char *tag,
                                const char *method, char *path, char *body, bool stream);
/* Stops the call if it is in flight and frees it (no callback runs). */
void api_call_free(struct api_call *c);

/* Turns an error response body (any of the shapes of MISTRAL_API.md §11,
 * and OpenAI's {"error": {"message"}}) into one sentence; the caller frees it. */
char *api_error_message(long status, const char *body);

/* The JSON text of obj, which is deleted; the caller frees the text. */
char *api_print_json(cJSON *obj);

#endif
