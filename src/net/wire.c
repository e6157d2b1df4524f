#include "config.h"

#include "net/wire.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/xalloc.h"

/* Tags whose exchanges left the log, remembered so that /raw can say so;
 * the oldest names go once there are this many. */
#define WIRE_MAX_DROPPED_TAGS 1024
/* Where what is kept ends (a cut, or the end of a response), a tail that
 * begins a secret is scrubbed when it is at least this long: shorter ones
 * match ordinary text too often. */
#define WIRE_MIN_SECRET_TAIL 4
/* At most this many secrets: every exchange's body is searched for each. */
#define WIRE_MAX_SECRETS 16

static const char REDACTED[] = "[redacted]";

struct dropped_tag {
    char *tag;
    uint64_t count;
};

struct wire {
    struct vec exchanges;    /* struct wire_exchange *, owned, oldest first, ids consecutive */
    struct vec secrets;      /* char *, owned */
    struct vec dropped_tags; /* struct dropped_tag *, owned, oldest first */
    size_t max_exchanges, max_body, max_total;
    size_t total; /* body bytes kept, all exchanges */
    uint64_t next_id;
    uint64_t dropped;
};

static void exchange_free(void *item)
{
    struct wire_exchange *ex = item;
    free(ex->tag);
    free(ex->method);
    free(ex->url);
    vec_fini(&ex->headers);
    buf_fini(&ex->request);
    free(ex->content_type);
    free(ex->retry_after);
    buf_fini(&ex->response);
    free(ex->error);
    free(ex);
}

static void dropped_tag_free(void *item)
{
    struct dropped_tag *d = item;
    free(d->tag);
    free(d);
}

struct wire *wire_new(size_t max_exchanges, size_t max_body, size_t max_total)
{
    struct wire *w = xcalloc(1, sizeof *w);
    vec_init(&w->exchanges, exchange_free);
    vec_init(&w->secrets, free);
    vec_init(&w->dropped_tags, dropped_tag_free);
    w->max_exchanges = max_exchanges ? max_exchanges : 1;
    w->max_body = max_body;
    w->max_total = max_total;
    w->next_id = 1;
    return w;
}

void wire_free(struct wire *w)
{
    if (!w)
        return;
    vec_fini(&w->exchanges);
    vec_fini(&w->secrets);
    vec_fini(&w->dropped_tags);
    free(w);
}

void wire_add_secret(struct wire *w, const char *secret)
{
    if (!secret || strlen(secret) < WIRE_MIN_SECRET)
        return;
    for (size_t i = 0; i < w->secrets.len; i++) {
        if (strcmp(w->secrets.items[i], secret) == 0)
            return;
    }
    if (w->secrets.len == WIRE_MAX_SECRETS)
        free(vec_remove(&w->secrets, 0));
    vec_push(&w->secrets, xstrdup(secret));
}

/* ---- redaction ------------------------------------------------------------ */

/* Whether a header or parameter name says that its value is a credential. */
static bool secret_name(const char *name, size_t len)
{
    static const char *const words[] = {"authorization", "key", "token", "secret", "password", "cookie"};
    char *lower = xstrndup(name, len);
    bool found = false;

    for (char *p = lower; *p; p++)
        *p = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
    for (size_t i = 0; i < sizeof words / sizeof words[0] && !found; i++)
        found = strstr(lower, words[i]) != NULL;
    free(lower);
    return found;
}

char *wire_redact_header(const char *line, char **secret)
{
    const char *colon = strchr(line, ':');
    const char *value, *space;
    size_t name_len;

    if (secret)
        *secret = NULL;
    if (!colon)
        return xstrdup(line);
    name_len = (size_t)(colon - line);
    if (!secret_name(line, name_len))
        return xstrdup(line);
    value = colon + 1;
    while (*value == ' ' || *value == '\t')
        value++;
    space = strchr(value, ' ');
    /* An Authorization value keeps its scheme: "Bearer [redacted]". */
    if (space && strncasecmp(line, "authorization", name_len) == 0 && name_len == 13) {
        while (*space == ' ')
            space++;
        if (secret)
            *secret = xstrdup(space);
        return xasprintf("%.*s: %.*s %s", (int)name_len, line, (int)strcspn(value, " "), value, REDACTED);
    }
    if (secret)
        *secret = xstrdup(value);
    return xasprintf("%.*s: %s", (int)name_len, line, REDACTED);
}

/* Replaces each whole occurrence of secret in b from byte `from` on. */
static void scrub_one(struct buf *b, size_t from, const char *secret)
{
    size_t slen = strlen(secret), pos = from;
    struct buf out = BUF_INIT;
    const char *hit;

    if (!b->len || from >= b->len || !memmem(b->data + from, b->len - from, secret, slen))
        return;
    buf_append(&out, b->data, from);
    while ((hit = memmem(b->data + pos, b->len - pos, secret, slen))) {
        buf_append(&out, b->data + pos, (size_t)(hit - (b->data + pos)));
        buf_puts(&out, REDACTED);
        pos = (size_t)(hit - b->data) + slen;
    }
    buf_append(&out, b->data + pos, b->len - pos);
    buf_fini(b);
    *b = out;
}

/* Scrubs every secret from b, where new bytes begin at `fresh`: a secret
 * may straddle the old and the new bytes. */
static void scrub(const struct wire *w, struct buf *b, size_t fresh)
{
    for (size_t i = 0; i < w->secrets.len; i++) {
        const char *s = w->secrets.items[i];
        size_t back = strlen(s) - 1;
        scrub_one(b, fresh > back ? fresh - back : 0, s);
    }
}

/* At the end of what is kept (a cut, or the end of the exchange), a tail
 * that begins a secret goes too: the rest of it will not come to complete it. */
static void scrub_tail(const struct wire *w, struct buf *b)
{
    for (size_t i = 0; i < w->secrets.len; i++) {
        const char *s = w->secrets.items[i];
        size_t slen = strlen(s);
        for (size_t n = slen - 1; n >= WIRE_MIN_SECRET_TAIL; n--) {
            if (b->len >= n && memcmp(b->data + b->len - n, s, n) == 0) {
                b->len -= n;
                b->data[b->len] = '\0';
                buf_puts(b, REDACTED);
                break;
            }
        }
    }
}

/* A copy of text with the secrets scrubbed (a new string; the caller frees it). */
static char *scrubbed(const struct wire *w, const char *text)
{
    struct buf b = BUF_INIT;
    buf_puts(&b, text ? text : "");
    scrub(w, &b, 0);
    return buf_steal(&b);
}

/* The URL with the values of credential-like query parameters redacted
 * (they become secrets too) and the known secrets scrubbed. */
static char *redact_url(struct wire *w, const char *url)
{
    const char *query = strchr(url, '?');
    struct buf out = BUF_INIT;
    char *result;

    if (!query) {
        buf_puts(&out, url);
    } else {
        const char *p = query + 1;
        buf_append(&out, url, (size_t)(p - url));
        while (*p) {
            size_t len = strcspn(p, "&#");
            const char *eq = memchr(p, '=', len);
            if (eq && secret_name(p, (size_t)(eq - p))) {
                char *value = xstrndup(eq + 1, len - (size_t)(eq + 1 - p));
                wire_add_secret(w, value);
                free(value);
                buf_append(&out, p, (size_t)(eq + 1 - p));
                buf_puts(&out, REDACTED);
            } else {
                buf_append(&out, p, len);
            }
            p += len;
            if (*p == '#') {
                buf_puts(&out, p);
                break;
            }
            if (*p)
                buf_putc(&out, *p++);
        }
    }
    result = scrubbed(w, buf_str(&out));
    buf_fini(&out);
    return result;
}

/* ---- the log --------------------------------------------------------------- */

static size_t exchange_size(const struct wire_exchange *ex)
{
    return ex->request.len + ex->response.len;
}

static void note_dropped(struct wire *w, const char *tag)
{
    struct dropped_tag *d;

    w->dropped++;
    for (size_t i = w->dropped_tags.len; i-- > 0;) {
        d = w->dropped_tags.items[i];
        if (strcmp(d->tag, tag) == 0) {
            d->count++;
            return;
        }
    }
    if (w->dropped_tags.len == WIRE_MAX_DROPPED_TAGS)
        dropped_tag_free(vec_remove(&w->dropped_tags, 0));
    d = xcalloc(1, sizeof *d);
    d->tag = xstrdup(tag);
    d->count = 1;
    vec_push(&w->dropped_tags, d);
}

/* Drops the oldest exchanges while there are too many or too many bytes. */
static void evict(struct wire *w)
{
    while (w->exchanges.len && (w->exchanges.len > w->max_exchanges || w->total > w->max_total)) {
        struct wire_exchange *ex = vec_remove(&w->exchanges, 0);
        w->total -= exchange_size(ex);
        note_dropped(w, ex->tag);
        exchange_free(ex);
    }
}

static struct wire_exchange *find(const struct wire *w, uint64_t id)
{
    const struct wire_exchange *first = vec_get(&w->exchanges, 0);
    if (!first || id < first->id || id - first->id >= w->exchanges.len)
        return NULL;
    return w->exchanges.items[id - first->id];
}

/* Appends up to the body limit; what does not fit is counted in *cut. A
 * cut never splits a UTF-8 character. */
static void append_bounded(const struct wire *w, struct buf *b, size_t *cut, const char *bytes, size_t len)
{
    size_t room = *cut ? 0 : (b->len < w->max_body ? w->max_body - b->len : 0);
    size_t keep = len, old = b->len;

    if (keep > room) {
        keep = room;
        while (keep && ((unsigned char)bytes[keep] & 0xC0) == 0x80)
            keep--;
    }
    buf_append(b, bytes, keep);
    scrub(w, b, old);
    if (keep < len) {
        *cut += len - keep;
        scrub_tail(w, b);
    }
}

uint64_t wire_begin(struct wire *w, const char *tag, const char *method, const char *url, const char *const *headers,
                    const char *body)
{
    struct wire_exchange *ex = xcalloc(1, sizeof *ex);
    uint64_t id;

    ex->id = w->next_id++;
    ex->tag = xstrdup(tag ? tag : "");
    ex->method = xstrdup(method);
    vec_init(&ex->headers, free);
    /* Headers first: their credentials become secrets for the rest. */
    for (const char *const *h = headers; h && *h; h++) {
        char *secret;
        char *line = wire_redact_header(*h, &secret);
        wire_add_secret(w, secret);
        free(secret);
        vec_push(&ex->headers, line);
    }
    ex->url = redact_url(w, url);
    buf_init(&ex->request);
    buf_init(&ex->response);
    if (body) {
        ex->has_request = true;
        append_bounded(w, &ex->request, &ex->request_cut, body, strlen(body));
    }
    ex->started_wall = clock_wall_ms();
    ex->started = clock_now_ms();
    ex->duration_ms = -1;
    id = ex->id;
    vec_push(&w->exchanges, ex);
    w->total += exchange_size(ex);
    evict(w); /* with tiny limits, ex itself: it is not touched after this */
    return id;
}

void wire_response_data(struct wire *w, uint64_t id, const char *bytes, size_t len)
{
    struct wire_exchange *ex = find(w, id);
    size_t before;

    if (!ex)
        return;
    before = exchange_size(ex);
    append_bounded(w, &ex->response, &ex->response_cut, bytes, len);
    w->total = w->total - before + exchange_size(ex);
    evict(w); /* may drop ex itself: it is not touched after this */
}

void wire_end(struct wire *w, uint64_t id, long status, const char *content_type, const char *retry_after,
              const char *error)
{
    struct wire_exchange *ex = find(w, id);
    size_t before;

    if (!ex)
        return;
    before = exchange_size(ex);
    ex->status = status;
    free(ex->content_type);
    free(ex->retry_after);
    ex->content_type = content_type ? xstrdup(content_type) : NULL;
    ex->retry_after = retry_after ? xstrdup(retry_after) : NULL;
    free(ex->error);
    ex->error = error ? scrubbed(w, error) : NULL;
    ex->duration_ms = clock_now_ms() - ex->started;
    if (!ex->response_cut)
        scrub_tail(w, &ex->response);
    w->total = w->total - before + exchange_size(ex);
}

size_t wire_count(const struct wire *w)
{
    return w->exchanges.len;
}

const struct wire_exchange *wire_get(const struct wire *w, size_t i)
{
    return vec_get(&w->exchanges, i);
}

uint64_t wire_dropped(const struct wire *w)
{
    return w->dropped;
}

uint64_t wire_dropped_with_tag(const struct wire *w, const char *tag)
{
    for (size_t i = 0; i < w->dropped_tags.len; i++) {
        const struct dropped_tag *d = w->dropped_tags.items[i];
        if (strcmp(d->tag, tag) == 0)
            return d->count;
    }
    return 0;
}

size_t wire_max_exchanges(const struct wire *w)
{
    return w->max_exchanges;
}
