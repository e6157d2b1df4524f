#include "config.h"

#include "net/http.h"

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/clock.h"
#include "core/vec.h"
#include "core/xalloc.h"

#define USER_AGENT "agentdeck/" PACKAGE_VERSION

struct http {
    struct loop *loop;
    CURLM *multi;
    uint64_t timer;
    struct vec transfers; /* struct http_transfer * in flight */
    int depth;            /* > 0 inside curl: removal is deferred */
    struct wire *wire;    /* where exchanges are recorded, or NULL; not owned */
};

struct http_transfer {
    struct http *http;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    struct http_handlers h;
    long status;
    long stall_s;
    bool got_bytes;
    int64_t last_activity; /* when a byte last came (monotonic ms) */
    uint64_t stall_timer;
    bool cancelled; /* marked inside curl; reaped when curl returns */
    bool finished;  /* done is running: cancel is a no-op */
    char *retry_after;
    char *content_type;
    uint64_t wire_id; /* its record in http->wire, or 0 */
    char errbuf[CURL_ERROR_SIZE];
};

static void transfer_free(struct http_transfer *t)
{
    loop_timer_cancel(t->http->loop, t->stall_timer);
    curl_slist_free_all(t->headers);
    free(t->body);
    free(t->retry_after);
    free(t->content_type);
    free(t);
}

static void forget(struct http *http, struct http_transfer *t)
{
    for (size_t i = 0; i < http->transfers.len; i++) {
        if (http->transfers.items[i] == t) {
            vec_remove(&http->transfers, i);
            return;
        }
    }
}

/* Removes and frees a transfer; never from inside a curl callback. */
static void transfer_remove(struct http_transfer *t)
{
    if (t->wire_id)
        wire_end(t->http->wire, t->wire_id, t->status, t->content_type, t->retry_after,
                 "cancelled by agentdeck before it ended");
    curl_multi_remove_handle(t->http->multi, t->easy);
    curl_easy_cleanup(t->easy);
    forget(t->http, t);
    transfer_free(t);
}

/* Ends a transfer: code is curl's, or CURLE_OPERATION_TIMEDOUT with stalled. */
static void finish(struct http_transfer *t, CURLcode code, bool stalled)
{
    struct http_result r = {0};
    char *error = NULL;

    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status);
    r.status = t->status;
    r.retry_after = t->retry_after;
    r.content_type = t->content_type;
    r.ok = code == CURLE_OK;
    if (!r.ok) {
        if (stalled) {
            r.stalled = true;
            error = xasprintf("the %s stalled: no data for %ld s", t->got_bytes ? "stream" : "server", t->stall_s);
        } else {
            error = xasprintf("%s%s%s", curl_easy_strerror(code), t->errbuf[0] ? ": " : "", t->errbuf);
        }
        r.error = error;
    }
    if (t->wire_id)
        wire_end(t->http->wire, t->wire_id, t->status, t->content_type, t->retry_after, error);
    curl_multi_remove_handle(t->http->multi, t->easy);
    forget(t->http, t);
    t->finished = true;
    t->h.done(t->h.ud, &r);
    free(error);
    curl_easy_cleanup(t->easy);
    transfer_free(t);
}

/* Ends the transfers curl has finished, and reaps the cancelled ones. */
static void process_done(struct http *http)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(http->multi, &left))) {
        struct http_transfer *t = NULL;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        if (t->cancelled)
            transfer_remove(t);
        else
            finish(t, msg->data.result, false);
    }
    for (size_t i = 0; i < http->transfers.len;) {
        struct http_transfer *t = http->transfers.items[i];
        if (t->cancelled) {
            transfer_remove(t);
            continue;
        }
        i++;
    }
}

static void socket_action(struct http *http, curl_socket_t fd, int action)
{
    int running;

    http->depth++;
    curl_multi_socket_action(http->multi, fd, action, &running);
    http->depth--;
    process_done(http);
}

static void on_fd(struct loop *loop, int fd, int revents, void *ud)
{
    int action = 0;

    if (revents & LOOP_READ)
        action |= CURL_CSELECT_IN;
    if (revents & LOOP_WRITE)
        action |= CURL_CSELECT_OUT;
    if (revents & LOOP_ERROR)
        action |= CURL_CSELECT_ERR;
    socket_action(ud, fd, action);
}

static void on_timeout(struct loop *loop, void *ud)
{
    struct http *http = ud;
    http->timer = 0;
    socket_action(http, CURL_SOCKET_TIMEOUT, 0);
}

/* curl says which sockets to watch for what. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct http *http = userp;
    uint64_t watch = (uint64_t)(uintptr_t)socketp;
    int events = ((what & CURL_POLL_IN) ? LOOP_READ : 0) | ((what & CURL_POLL_OUT) ? LOOP_WRITE : 0);

    if (what == CURL_POLL_REMOVE) {
        if (watch)
            loop_unwatch(http->loop, watch);
        curl_multi_assign(http->multi, fd, NULL);
    } else if (watch) {
        loop_watch_set_events(http->loop, watch, events);
    } else {
        watch = loop_watch_fd(http->loop, fd, events, on_fd, http);
        curl_multi_assign(http->multi, fd, (void *)(uintptr_t)watch);
    }
    return 0;
}

/* curl says when it next wants to be called without socket activity. */
static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct http *http = userp;

    loop_timer_cancel(http->loop, http->timer);
    http->timer = timeout_ms >= 0 ? loop_timer_add(http->loop, timeout_ms, on_timeout, http) : 0;
    return 0;
}

/* Fails a transfer that has been silent for stall_s: a stream may last
 * long, so silence counts, not total time. Runs from the loop, outside curl. */
static void on_stall_check(struct loop *loop, void *ud)
{
    struct http_transfer *t = ud;
    int64_t idle = clock_now_ms() - t->last_activity;

    t->stall_timer = 0;
    if (idle >= t->stall_s * 1000) {
        finish(t, CURLE_OPERATION_TIMEDOUT, true);
        return;
    }
    t->stall_timer = loop_timer_add(loop, t->stall_s * 1000 - idle, on_stall_check, t);
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct http_transfer *t = ud;
    size_t n = size * nmemb;

    if (t->cancelled)
        return 0;
    t->got_bytes = true;
    t->last_activity = clock_now_ms();
    if (!t->status)
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status);
    if (t->wire_id)
        wire_response_data(t->http->wire, t->wire_id, ptr, n);
    if (!t->h.data(t->h.ud, t->status, ptr, n))
        return 0; /* curl ends it with a write error */
    return t->cancelled ? 0 : n;
}

/* Hands a "Name: value" header line to the caller's header handler. */
static void pass_header(struct http_transfer *t, const char *line, size_t n)
{
    const char *colon = memchr(line, ':', n);
    const char *v;
    size_t vlen;
    char *name, *value;

    if (!colon || colon == line)
        return; /* the status line, or the blank line that ends the headers */
    name = xstrndup(line, (size_t)(colon - line));
    for (char *c = name; *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
    v = colon + 1;
    vlen = n - (size_t)(v - line);
    while (vlen && (*v == ' ' || *v == '\t'))
        v++, vlen--;
    while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
        vlen--;
    value = xstrndup(v, vlen);
    t->h.header(t->h.ud, name, value);
    free(name);
    free(value);
}

/* Keeps the headers a caller needs: Retry-After and Content-Type. */
static size_t on_header(char *line, size_t size, size_t nmemb, void *ud)
{
    struct http_transfer *t = ud;
    size_t n = size * nmemb;
    static const struct {
        const char *name;
        size_t offset;
    } wanted[] = {
        {"retry-after:", offsetof(struct http_transfer, retry_after)},
        {"content-type:", offsetof(struct http_transfer, content_type)},
    };

    t->got_bytes = true;
    t->last_activity = clock_now_ms();
    if (strncmp(line, "HTTP/", 5) == 0) {
        /* A new response (after a 100 Continue, say): forget the last one's. */
        free(t->retry_after);
        free(t->content_type);
        t->retry_after = t->content_type = NULL;
        t->status = 0;
    }
    if (t->h.header)
        pass_header(t, line, n);
    for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
        size_t len = strlen(wanted[i].name);
        if (n > len && strncasecmp(line, wanted[i].name, len) == 0) {
            const char *v = line + len;
            size_t vlen = n - len;
            char **field = (char **)((char *)t + wanted[i].offset);
            while (vlen && (*v == ' ' || *v == '\t'))
                v++, vlen--;
            while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
                vlen--;
            free(*field);
            *field = xstrndup(v, vlen);
        }
    }
    return n;
}

struct http *http_new(struct loop *loop)
{
    static bool initialized;
    struct http *http;

    if (!initialized) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
            fatal("libcurl could not be initialized");
        initialized = true;
    }
    http = xcalloc(1, sizeof *http);
    http->loop = loop;
    http->multi = curl_multi_init();
    if (!http->multi)
        fatal("libcurl could not make a multi handle");
    vec_init(&http->transfers, NULL);
    curl_multi_setopt(http->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(http->multi, CURLMOPT_SOCKETDATA, http);
    curl_multi_setopt(http->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(http->multi, CURLMOPT_TIMERDATA, http);
    return http;
}

void http_free(struct http *http)
{
    if (!http)
        return;
    while (http->transfers.len)
        transfer_remove(http->transfers.items[0]);
    vec_fini(&http->transfers);
    loop_timer_cancel(http->loop, http->timer);
    curl_multi_cleanup(http->multi);
    free(http);
}

void http_set_wire(struct http *http, struct wire *wire)
{
    /* Transfers in flight were recorded in the old log, if any: they stop. */
    for (size_t i = 0; i < http->transfers.len; i++)
        ((struct http_transfer *)http->transfers.items[i])->wire_id = 0;
    http->wire = wire;
}

/* Records the start of t's exchange: the caller's headers and the User-Agent
 * that curl sends for us (curl adds Host, Content-Length, Accept-Encoding). */
static void record_start(struct http_transfer *t, const struct http_request *req)
{
    size_t n = 0;
    const char **headers;

    while (req->headers && req->headers[n])
        n++;
    headers = xcalloc(n + 2, sizeof *headers);
    for (size_t i = 0; i < n; i++)
        headers[i] = req->headers[i];
    headers[n] = "User-Agent: " USER_AGENT;
    t->wire_id = wire_begin(t->http->wire, req->tag, req->method, req->url, headers, req->body);
    free(headers);
}

struct http_transfer *http_start(struct http *http, const struct http_request *req, const struct http_handlers *h)
{
    struct http_transfer *t = xcalloc(1, sizeof *t);
    CURL *e = curl_easy_init();

    if (!e)
        fatal("libcurl could not make a transfer");
    t->http = http;
    t->easy = e;
    t->h = *h;
    t->stall_s = req->stall_timeout_s > 0 ? req->stall_timeout_s : 60;
    for (const char *const *hd = req->headers; hd && *hd; hd++)
        t->headers = curl_slist_append(t->headers, *hd);
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
    if (req->body) {
        t->body = xstrdup(req->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(t->body));
    } else if (strcmp(req->method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms > 0 ? req->connect_timeout_ms : 10000L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    if (http->wire)
        record_start(t, req);
    vec_push(&http->transfers, t);
    t->last_activity = clock_now_ms();
    t->stall_timer = loop_timer_add(http->loop, t->stall_s * 1000, on_stall_check, t);
    curl_multi_add_handle(http->multi, e);
    return t;
}

void http_cancel(struct http_transfer *t)
{
    if (!t || t->finished)
        return;
    if (t->http->depth > 0)
        t->cancelled = true; /* curl is on the stack: the loop reaps it */
    else
        transfer_remove(t);
}

long http_retry_after_ms(const char *value)
{
    char *end;
    long secs;
    struct tm tm;

    if (!value || !*value)
        return -1;
    secs = strtol(value, &end, 10);
    if (end != value && *end == '\0')
        return secs < 0 ? -1 : secs * 1000;
    memset(&tm, 0, sizeof tm);
    end = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end && *end == '\0') {
        double diff = difftime(timegm(&tm), time(NULL));
        return diff > 0 ? (long)(diff * 1000) : 0;
    }
    return -1;
}
