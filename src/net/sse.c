/* The event-stream parser. Each byte is looked at once: a chunk is cut into
 * lines in place, and only a line cut by the end of a chunk is copied. */
#include "config.h"

#include "net/sse.h"

#include <assert.h>
#include <limits.h>
#include <string.h>

/* A NUL from the server becomes U+FFFD so that the strings we hand out are
 * whole C strings (JSON has no raw NUL, so this only shows garbage as such). */
static const char replacement[] = "\xEF\xBF\xBD";
static const char bom[] = "\xEF\xBB\xBF";

/* Buffers grown past this by a large event are freed after it rather than
 * kept for the life of the stream. */
enum { KEEP_CAPACITY = 64 * 1024 };

void sse_parser_init(struct sse_parser *p, sse_event_fn *fn, void *ud)
{
    memset(p, 0, sizeof(*p));
    p->fn = fn;
    p->ud = ud;
    buf_init(&p->line);
    buf_init(&p->data);
    buf_init(&p->type);
    buf_init(&p->id);
}

void sse_parser_fini(struct sse_parser *p)
{
    assert(!p->dispatching); /* the callback must not fini the parser */
    buf_fini(&p->line);
    buf_fini(&p->data);
    buf_fini(&p->type);
    buf_fini(&p->id);
}

static void release_if_large(struct buf *b)
{
    if (b->cap > KEEP_CAPACITY)
        buf_fini(b);
    else
        buf_reset(b);
}

/* Stops the parser for good and frees what it was holding. */
static void fail(struct sse_parser *p, const char *why)
{
    p->error = why;
    buf_fini(&p->line);
    buf_fini(&p->data);
    buf_fini(&p->type);
}

/* Appends s[0..n) to b with each NUL replaced by U+FFFD. */
static void append_without_nul(struct buf *b, const char *s, size_t n)
{
    const char *nul;

    while ((nul = memchr(s, '\0', n)) != NULL) {
        buf_append(b, s, (size_t)(nul - s));
        buf_append(b, replacement, sizeof(replacement) - 1);
        n -= (size_t)(nul - s) + 1;
        s = nul + 1;
    }
    buf_append(b, s, n);
}

static bool field_is(const char *name, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(name, want, len) == 0;
}

/* retry: only ASCII digits count; a huge value saturates. */
static void set_retry(struct sse_parser *p, const char *value, size_t len)
{
    unsigned long ms = 0;

    if (len == 0)
        return;
    for (size_t i = 0; i < len; i++) {
        if (value[i] < '0' || value[i] > '9')
            return;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned digit = (unsigned)(value[i] - '0');
        ms = ms > (ULONG_MAX - digit) / 10 ? ULONG_MAX : ms * 10 + digit;
    }
    p->retry_ms = ms;
}

static void process_field(struct sse_parser *p, const char *name, size_t name_len, const char *value, size_t len)
{
    if (field_is(name, name_len, "data")) {
        append_without_nul(&p->data, value, len);
        buf_putc(&p->data, '\n');
        /* The buffer holds the data plus the \n that dispatch removes. */
        if (p->data.len - 1 > SSE_MAX_EVENT)
            fail(p, "the server sent an event with more than 8 MiB of data");
    } else if (field_is(name, name_len, "event")) {
        buf_reset(&p->type);
        append_without_nul(&p->type, value, len);
    } else if (field_is(name, name_len, "id")) {
        if (memchr(value, '\0', len) == NULL) {
            buf_reset(&p->id);
            buf_append(&p->id, value, len);
        }
    } else if (field_is(name, name_len, "retry")) {
        set_retry(p, value, len);
    }
}

/* A blank line: dispatch the event, if it has data. */
static void dispatch(struct sse_parser *p)
{
    struct sse_event ev;

    p->event_pending = false;
    if (p->data.len == 0) {
        buf_reset(&p->type);
        return;
    }
    p->data.data[--p->data.len] = '\0'; /* the \n after the last data line */
    ev.type = p->type.len ? p->type.data : "message";
    ev.data = p->data.data;
    ev.data_len = p->data.len;
    ev.id = buf_str(&p->id);
    p->dispatching = true;
    p->fn(p->ud, &ev);
    p->dispatching = false;
    release_if_large(&p->data);
    release_if_large(&p->type);
}

/* One whole line, without its line end. */
static void process_line(struct sse_parser *p, const char *line, size_t len)
{
    const char *colon;
    const char *value;
    size_t name_len, value_len;

    if (len == 0) {
        dispatch(p);
        return;
    }
    if (line[0] == ':')
        return; /* a comment, often a keep-alive */
    p->event_pending = true;
    colon = memchr(line, ':', len);
    if (colon) {
        name_len = (size_t)(colon - line);
        value = colon + 1;
        value_len = len - name_len - 1;
        if (value_len > 0 && value[0] == ' ') {
            value++;
            value_len--;
        }
    } else {
        name_len = len;
        value = "";
        value_len = 0;
    }
    process_field(p, line, name_len, value, value_len);
}

static const char line_too_long[] = "the server sent a line longer than 1 MiB in its event stream";

/* Cuts bytes into lines and processes them, keeping a line cut by the end
 * of the chunk in p->line. Stops early on an error or a stop. */
static void feed_lines(struct sse_parser *p, const char *bytes, size_t len)
{
    size_t pos = 0;

    if (len > 0 && p->skip_lf && bytes[0] == '\n')
        pos = 1; /* the LF of a CRLF cut between two chunks */
    if (len > 0)
        p->skip_lf = false;
    while (pos < len && !p->error && !p->stopped) {
        size_t end = pos;

        while (end < len && bytes[end] != '\n' && bytes[end] != '\r')
            end++;
        if (p->line.len + (end - pos) > SSE_MAX_LINE) {
            fail(p, line_too_long);
            return;
        }
        if (end == len) {
            buf_append(&p->line, bytes + pos, end - pos);
            return;
        }
        if (p->line.len > 0) {
            buf_append(&p->line, bytes + pos, end - pos);
            process_line(p, p->line.data, p->line.len);
            release_if_large(&p->line);
        } else {
            process_line(p, bytes + pos, end - pos);
        }
        if (bytes[end] == '\r') {
            if (end + 1 == len)
                p->skip_lf = true;
            else if (bytes[end + 1] == '\n')
                end++;
        }
        pos = end + 1;
    }
}

int sse_parser_feed(struct sse_parser *p, const char *bytes, size_t len)
{
    assert(!p->dispatching); /* the callback must not feed the parser */
    if (p->error)
        return -1;
    if (p->stopped)
        return 0;
    /* One BOM at the very start is skipped, even when cut across chunks;
     * the start of a BOM that turns out not to be one is line content. */
    while (!p->bom_done && len > 0) {
        if (*bytes == bom[p->bom_len]) {
            bytes++;
            len--;
            if (++p->bom_len == sizeof(bom) - 1)
                p->bom_done = true;
        } else {
            p->bom_done = true;
            feed_lines(p, bom, p->bom_len);
        }
    }
    feed_lines(p, bytes, len);
    return p->error ? -1 : 0;
}

bool sse_parser_finish(struct sse_parser *p)
{
    bool pending;

    assert(!p->dispatching);
    pending = !p->error && !p->stopped && (p->event_pending || p->line.len > 0 || (!p->bom_done && p->bom_len > 0));
    release_if_large(&p->line);
    release_if_large(&p->data);
    release_if_large(&p->type);
    p->bom_len = 0;
    p->bom_done = false;
    p->skip_lf = false;
    p->event_pending = false;
    return pending;
}

void sse_parser_stop(struct sse_parser *p)
{
    p->stopped = true;
}

bool sse_parser_stopped(const struct sse_parser *p)
{
    return p->stopped;
}

const char *sse_parser_error(const struct sse_parser *p)
{
    return p->error;
}

unsigned long sse_parser_retry_ms(const struct sse_parser *p)
{
    return p->retry_ms;
}
