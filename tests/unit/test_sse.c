/* The SSE parser: the WHATWG rules, the Mistral stream, limits, and the
 * same events whatever the chunking. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/vec.h"
#include "core/xalloc.h"
#include "net/sse.h"

/* One event as the callback saw it. */
struct rec {
    char *type;
    char *data;
    size_t data_len;
    char *id;
};

static void rec_free(void *item)
{
    struct rec *r = item;
    free(r->type);
    free(r->data);
    free(r->id);
    free(r);
}

static struct rec *rec_new(const char *type, const char *data, size_t data_len, const char *id)
{
    struct rec *r = xmalloc(sizeof(*r));
    r->type = xstrdup(type);
    r->data = xmalloc(data_len + 1);
    memcpy(r->data, data, data_len + 1);
    r->data_len = data_len;
    r->id = xstrdup(id);
    return r;
}

/* A parser that records its events; stop_after > 0 stops it from inside the
 * callback once that many events came. */
struct recorder {
    struct sse_parser parser;
    struct vec events;
    size_t stop_after;
};

static void record(void *ud, const struct sse_event *ev)
{
    struct recorder *r = ud;

    assert_non_null(ev->type);
    assert_non_null(ev->data);
    assert_non_null(ev->id);
    assert_true(ev->type[0] != '\0');
    assert_int_equal(ev->data_len, strlen(ev->data));
    vec_push(&r->events, rec_new(ev->type, ev->data, ev->data_len, ev->id));
    if (r->stop_after && r->events.len == r->stop_after)
        sse_parser_stop(&r->parser);
}

static void recorder_init(struct recorder *r)
{
    sse_parser_init(&r->parser, record, r);
    vec_init(&r->events, rec_free);
    r->stop_after = 0;
}

static void recorder_fini(struct recorder *r)
{
    sse_parser_fini(&r->parser);
    vec_fini(&r->events);
}

static void feed(struct recorder *r, const char *s)
{
    assert_int_equal(sse_parser_feed(&r->parser, s, strlen(s)), 0);
}

static void expect_event(const struct recorder *r, size_t i, const char *type, const char *data, const char *id)
{
    const struct rec *got = vec_get(&r->events, i);

    assert_non_null(got);
    assert_string_equal(got->type, type);
    assert_string_equal(got->data, data);
    assert_string_equal(got->id, id);
}

/* Parses the whole of s in one feed; the stream must end cleanly. */
static void parse(struct recorder *r, const char *s)
{
    recorder_init(r);
    feed(r, s);
    assert_false(sse_parser_finish(&r->parser));
}

/* ---- the Mistral stream (MISTRAL_API.md §9, the examples as given) ---- */

static const char *const mistral_types[] = {
    "conversation.response.started", "tool.execution.started",      "tool.execution.delta",
    "tool.execution.done",           "message.output.delta",        "message.output.delta",
    "function.call.delta",           "agent.handoff.started",       "agent.handoff.done",
    "conversation.response.done",    "conversation.response.error",
};

static const char *const mistral_data[] = {
    "{\"type\":\"conversation.response.started\",\"conversation_id\":\"conv_067f2a98c1a773678000ce73a36b785a\"}",
    "{\"type\":\"tool.execution.started\",\"output_index\":0,\"id\":\"tool_exec_067f2a98ca357c8b8000ea212104b290\","
    "\"name\":\"web_search\"}",
    "{\"type\":\"tool.execution.delta\",\"output_index\":0,\"id\":\"tool_exec_…\",\"name\":\"code_interpreter\","
    "\"arguments\":\"print(1+\"}",
    "{\"type\":\"tool.execution.done\",\"output_index\":0,\"id\":\"tool_exec_067f2a98ca357c8b8000ea212104b290\","
    "\"name\":\"web_search\"}",
    "{\"type\":\"message.output.delta\",\"output_index\":1,\"id\":\"msg_067f2a9925d674ea8000e63c68ae0474\","
    "\"content_index\":0,\"model\":\"mistral-medium-latest\",\"agent_id\":\"ag_067f2a39ddd67bf68000fa921bc0c25d\","
    "\"role\":\"assistant\",\"content\":\"The\"}",
    "{\"type\":\"message.output.delta\",\"output_index\":1,\"id\":\"msg_…\",\"content_index\":1,\"role\":"
    "\"assistant\",\"content\":{\"type\":\"tool_reference\",\"tool\":\"web_search\",\"title\":\"UEFA Euro "
    "Winners\",\"url\":\"https://…\"}}",
    "{\"type\":\"function.call.delta\",\"output_index\":0,\"id\":\"fc_…\",\"name\":\"get_weather\","
    "\"tool_call_id\":\"AbC123xYz\",\"arguments\":\"{\\\"city\\\": \\\"Par\"}",
    "{\"type\":\"agent.handoff.started\",\"output_index\":0,\"id\":\"handoff_…\",\"previous_agent_id\":\"ag_…\","
    "\"previous_agent_name\":\"finance-agent\"}",
    "{\"type\":\"agent.handoff.done\",\"output_index\":0,\"id\":\"handoff_…\",\"next_agent_id\":\"ag_…\","
    "\"next_agent_name\":\"calculator-agent\"}",
    "{\"type\":\"conversation.response.done\",\"usage\":{\"prompt_tokens\":18709,\"total_tokens\":18892,"
    "\"completion_tokens\":183}}",
    "{\"type\":\"conversation.response.error\",\"message\":\"…\",\"code\":500}",
};

/* The examples as the server frames them, with the given line end. */
static char *mistral_stream(const char *eol)
{
    struct buf b = BUF_INIT;

    for (size_t i = 0; i < sizeof(mistral_types) / sizeof(mistral_types[0]); i++)
        buf_printf(&b, "event: %s%sdata: %s%s%s", mistral_types[i], eol, mistral_data[i], eol, eol);
    return buf_steal(&b);
}

static void expect_mistral_events(const struct recorder *r)
{
    size_t n = sizeof(mistral_types) / sizeof(mistral_types[0]);

    assert_int_equal(r->events.len, n);
    for (size_t i = 0; i < n; i++) {
        const struct rec *got = r->events.items[i];
        char *tag = xasprintf("{\"type\":\"%s\",", mistral_types[i]);

        expect_event(r, i, mistral_types[i], mistral_data[i], "");
        /* The event: value equals data.type. */
        assert_memory_equal(got->data, tag, strlen(tag));
        free(tag);
    }
}

static void mistral_examples(void **state)
{
    const char *eols[] = {"\n", "\r\n", "\r"};

    for (size_t i = 0; i < 3; i++) {
        struct recorder r;
        char *stream = mistral_stream(eols[i]);

        parse(&r, stream);
        expect_mistral_events(&r);
        recorder_fini(&r);
        free(stream);
    }
}

static void mistral_example_literal(void **state)
{
    struct recorder r;

    /* The first docs example, byte for byte, then the logical end. */
    parse(&r, "event: conversation.response.started\n"
              "data: {\"type\":\"conversation.response.started\",\"conversation_id\":"
              "\"conv_067f2a98c1a773678000ce73a36b785a\"}\n"
              "\n"
              "event: conversation.response.done\r\n"
              "data: {\"type\":\"conversation.response.done\",\"usage\":{\"prompt_tokens\":18709,"
              "\"total_tokens\":18892,\"completion_tokens\":183}}\r\n"
              "\r\n");
    assert_int_equal(r.events.len, 2);
    expect_event(&r, 0, "conversation.response.started", mistral_data[0], "");
    expect_event(&r, 1, "conversation.response.done", mistral_data[9], "");
    recorder_fini(&r);
}

static void done_sentinel(void **state)
{
    struct recorder r;
    const struct rec *got;

    parse(&r, "data: {\"choices\":[]}\n\ndata: [DONE]\n\n");
    assert_int_equal(r.events.len, 2);
    expect_event(&r, 1, "message", "[DONE]", "");
    got = r.events.items[1];
    assert_int_equal(got->data_len, 6);
    recorder_fini(&r);
}

/* ---- line ends ---------------------------------------------------------- */

static void every_line_end(void **state)
{
    struct recorder r;

    parse(&r, "data: lf\n\n"
              "data: crlf\r\n\r\n"
              "data: cr\r\r"
              "data: a\rdata: b\r\ndata: c\n\r"
              "data: d\r\n\n");
    assert_int_equal(r.events.len, 5);
    expect_event(&r, 0, "message", "lf", "");
    expect_event(&r, 1, "message", "crlf", "");
    expect_event(&r, 2, "message", "cr", "");
    expect_event(&r, 3, "message", "a\nb\nc", "");
    expect_event(&r, 4, "message", "d", "");
    recorder_fini(&r);
}

static void crlf_cut_between_chunks(void **state)
{
    struct recorder r;

    /* A CR ending one chunk and the LF starting the next are one line end:
     * no blank line between "a" and "b". */
    recorder_init(&r);
    feed(&r, "data: a\r");
    feed(&r, "\ndata: b\r\n\r\n");
    assert_int_equal(r.events.len, 1);
    expect_event(&r, 0, "message", "a\nb", "");

    /* An empty chunk in between changes nothing. */
    feed(&r, "data: c\r");
    assert_int_equal(sse_parser_feed(&r.parser, NULL, 0), 0);
    feed(&r, "");
    feed(&r, "\n");
    assert_int_equal(r.events.len, 1);
    feed(&r, "\n");
    assert_int_equal(r.events.len, 2);
    expect_event(&r, 1, "message", "c", "");

    /* CR then CR across chunks: the second one is a blank line. */
    feed(&r, "data: d\r");
    feed(&r, "\r");
    assert_int_equal(r.events.len, 3);
    expect_event(&r, 2, "message", "d", "");

    /* Only the LF right after the CR is skipped. */
    feed(&r, "data: e\r");
    feed(&r, "data: f\r");
    feed(&r, "\n\n");
    assert_int_equal(r.events.len, 4);
    expect_event(&r, 3, "message", "e\nf", "");
    assert_false(sse_parser_finish(&r.parser));
    recorder_fini(&r);
}

/* ---- the byte order mark ------------------------------------------------ */

static void bom_at_start_skipped(void **state)
{
    struct recorder r;

    parse(&r, "\xEF\xBB\xBF"
              "data: x\n\n");
    assert_int_equal(r.events.len, 1);
    expect_event(&r, 0, "message", "x", "");
    recorder_fini(&r);

    /* Cut into three chunks. */
    recorder_init(&r);
    feed(&r, "\xEF");
    feed(&r, "\xBB");
    feed(&r, "\xBF"
             "data: y\n\n");
    expect_event(&r, 0, "message", "y", "");
    recorder_fini(&r);
}

static void bom_only_at_start(void **state)
{
    struct recorder r;

    /* A second BOM, or one later on, is part of the field name. */
    parse(&r, "\xEF\xBB\xBF\xEF\xBB\xBF"
              "data: 1\n\n"
              "data: 2\n\n\xEF\xBB\xBF"
              "data: 3\n\n");
    assert_int_equal(r.events.len, 1);
    expect_event(&r, 0, "message", "2", "");
    recorder_fini(&r);

    /* The start of a BOM that is not one is kept as line content. */
    recorder_init(&r);
    feed(&r, "\xEF\xBB");
    feed(&r, "data: 4\n\ndata: 5\n\n");
    assert_int_equal(r.events.len, 1);
    expect_event(&r, 0, "message", "5", "");
    recorder_fini(&r);

    /* A BOM inside a value is content. */
    parse(&r, "data:\xEF\xBB\xBF"
              "6\n\n");
    expect_event(&r, 0, "message",
                 "\xEF\xBB\xBF"
                 "6",
                 "");
    recorder_fini(&r);
}

/* ---- fields ------------------------------------------------------------- */

static void comments_ignored(void **state)
{
    struct recorder r;

    parse(&r, ": keep-alive\n"
              ":\n"
              "data: a\n"
              ": between: data lines\n"
              "data: b\n"
              "\n"
              ":data: not data\n"
              "\n");
    assert_int_equal(r.events.len, 1);
    expect_event(&r, 0, "message", "a\nb", "");
    recorder_fini(&r);

    parse(&r, ": only\n: comments\n\n");
    assert_int_equal(r.events.len, 0);
    recorder_fini(&r);
}

static void multi_line_data(void **state)
{
    struct recorder r;

    parse(&r, "data: a\n"
              "data: b\n"
              "data\n"
              "data:\n"
              "\n"
              "data:\n\n"
              "data\n\n"
              "data: {\"x\":\n"
              "data:   1}\n\n");
    assert_int_equal(r.events.len, 4);
    expect_event(&r, 0, "message", "a\nb\n\n", "");
    /* data with an empty value still makes an event, with empty data. */
    expect_event(&r, 1, "message", "", "");
    expect_event(&r, 2, "message", "", "");
    expect_event(&r, 3, "message", "{\"x\":\n  1}", "");
    recorder_fini(&r);
}

static void fields_without_colon(void **state)
{
    struct recorder r;

    parse(&r, "id: 7\n"
              "event: typed\n"
              "event\n"
              "id\n"
              "data\n"
              "\n");
    assert_int_equal(r.events.len, 1);
    /* event with no value is the empty type, that is "message"; id with no
     * value resets the id. */
    expect_event(&r, 0, "message", "", "");
    recorder_fini(&r);
}

static void one_space_stripped(void **state)
{
    struct recorder r;

    parse(&r, "data:x\n\n"
              "data: x\n\n"
              "data:  x\n\n"
              "data:\tx\n\n"
              "data: x \n\n"
              "data: \n\n"
              "data :x\n\n"
              "event:  t\ndata:y\n\n"
              "data:a:b: c\n\n");
    assert_int_equal(r.events.len, 8);
    expect_event(&r, 0, "message", "x", "");
    expect_event(&r, 1, "message", "x", "");
    expect_event(&r, 2, "message", " x", "");
    expect_event(&r, 3, "message", "\tx", "");
    expect_event(&r, 4, "message", "x ", "");
    expect_event(&r, 5, "message", "", "");
    /* "data " is an unknown field: that block made no event. */
    expect_event(&r, 6, " t", "y", "");
    expect_event(&r, 7, "message", "a:b: c", "");
    recorder_fini(&r);
}

static void unknown_fields_ignored(void **state)
{
    struct recorder r;

    parse(&r, "foo: bar\n"
              "Data: upper\n"
              "EVENT: upper\n"
              "ID: 9\n"
              "data: y\n"
              "baz\n"
              "\n");
    assert_int_equal(r.events.len, 1);
    expect_event(&r, 0, "message", "y", "");
    recorder_fini(&r);
}

static void event_type_reset_after_dispatch(void **state)
{
    struct recorder r;

    parse(&r, "event: a\ndata: 1\n\n"
              "data: 2\n\n"
              "event: b\n\n" /* no data: no event, and the type is reset */
              "data: 3\n\n"
              "event: c\nevent: d\ndata: 4\n\n"
              "event: e\nevent:\ndata: 5\n\n");
    assert_int_equal(r.events.len, 5);
    expect_event(&r, 0, "a", "1", "");
    expect_event(&r, 1, "message", "2", "");
    expect_event(&r, 2, "message", "3", "");
    expect_event(&r, 3, "d", "4", "");
    expect_event(&r, 4, "message", "5", "");
    recorder_fini(&r);
}

static void id_persists(void **state)
{
    struct recorder r;

    recorder_init(&r);
    feed(&r, "id: 1\ndata: a\n\n"
             "data: b\n\n"
             "id\ndata: c\n\n"
             "id: 2\n\n" /* an id alone dispatches nothing but is kept */
             "data: d\n\n"
             "id: 3\n");
    /* An id with a NUL is ignored. */
    assert_int_equal(sse_parser_feed(&r.parser, "id: x\0y\ndata: e\n\n", 17), 0);
    feed(&r, "id:  spaced \ndata: f\n\n");
    assert_false(sse_parser_finish(&r.parser));
    assert_int_equal(r.events.len, 6);
    expect_event(&r, 0, "message", "a", "1");
    expect_event(&r, 1, "message", "b", "1");
    expect_event(&r, 2, "message", "c", "");
    expect_event(&r, 3, "message", "d", "2");
    expect_event(&r, 4, "message", "e", "3");
    expect_event(&r, 5, "message", "f", " spaced ");
    recorder_fini(&r);
}

static void retry_field(void **state)
{
    struct recorder r;

    recorder_init(&r);
    assert_int_equal(sse_parser_retry_ms(&r.parser), 0);
    feed(&r, "retry: 1500\n");
    assert_int_equal(sse_parser_retry_ms(&r.parser), 1500);
    feed(&r, "retry: 15x\nretry: -1\nretry: 1.5\nretry:\nretry\nretry:  100\nretry: +7\nretry: 0x10\n");
    assert_int_equal(sse_parser_retry_ms(&r.parser), 1500);
    feed(&r, "retry:0\n");
    assert_int_equal(sse_parser_retry_ms(&r.parser), 0);
    feed(&r, "retry: 007\n\n");
    assert_int_equal(sse_parser_retry_ms(&r.parser), 7);
    feed(&r, "retry: 999999999999999999999999999999\n\n");
    assert_true(sse_parser_retry_ms(&r.parser) == ULONG_MAX);
    /* retry makes no event. */
    assert_int_equal(r.events.len, 0);
    recorder_fini(&r);
}

static void nul_bytes_in_values(void **state)
{
    static const char stream[] = "event: a\0b\ndata: x\0y\0\n\n";
    struct recorder r;
    const struct rec *got;

    recorder_init(&r);
    assert_int_equal(sse_parser_feed(&r.parser, stream, sizeof(stream) - 1), 0);
    assert_int_equal(r.events.len, 1);
    expect_event(&r, 0,
                 "a\xEF\xBF\xBD"
                 "b",
                 "x\xEF\xBF\xBDy\xEF\xBF\xBD", "");
    got = r.events.items[0];
    assert_int_equal(got->data_len, 8);
    recorder_fini(&r);
}

/* ---- the end of the stream --------------------------------------------- */

static void finish_drops_unterminated_event(void **state)
{
    static const struct {
        const char *stream;
        bool pending;
    } cases[] = {
        {"data: a\n\ndata: b\n", true},                              /* no blank line after b */
        {"data: a\n\ndata: b", true},                                /* a partial line */
        {"data: a\n\ndata: b\r", true},                              /* CR ended the line, not the event */
        {"data: a\n\nid: 5\n", true},                                /* any field starts an event */
        {"data: a\n\nevent: x\n", true}, {"data: a\n\n: bye", true}, /* a partial line, even a comment */
        {"data: a\n\n", false},          {"data: a\r\n\r\n", false},
        {"data: a\n\n: bye\n", false}, /* a whole comment is no event */
        {"data: a\n\n\n\n", false},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct recorder r;

        recorder_init(&r);
        feed(&r, cases[i].stream);
        assert_int_equal(sse_parser_finish(&r.parser), cases[i].pending);
        assert_int_equal(r.events.len, 1);
        expect_event(&r, 0, "message", "a", "");
        recorder_fini(&r);
    }
}

static void finish_on_short_streams(void **state)
{
    struct recorder r;

    recorder_init(&r);
    assert_false(sse_parser_finish(&r.parser)); /* nothing at all */
    feed(&r, "\xEF\xBB");
    assert_true(sse_parser_finish(&r.parser)); /* half a BOM */
    feed(&r, "\xEF\xBB\xBF");
    assert_false(sse_parser_finish(&r.parser)); /* a whole BOM */
    assert_int_equal(r.events.len, 0);
    recorder_fini(&r);
}

static void finish_starts_a_new_stream(void **state)
{
    struct recorder r;

    recorder_init(&r);
    feed(&r, "retry: 250\nid: 4\n\nevent: x\ndata: lost\ndata: par");
    assert_true(sse_parser_finish(&r.parser));
    /* The reconnection: a new BOM is skipped, nothing of the dropped event
     * leaks in, the id and the retry time carry over. */
    feed(&r, "\xEF\xBB\xBF"
             "data: kept\n\n");
    assert_false(sse_parser_finish(&r.parser));
    assert_int_equal(r.events.len, 1);
    expect_event(&r, 0, "message", "kept", "4");
    assert_int_equal(sse_parser_retry_ms(&r.parser), 250);
    recorder_fini(&r);
}

/* ---- limits ------------------------------------------------------------- */

/* Returns a new "name:" followed by fill bytes to make a line of len bytes. */
static char *long_line(const char *name, size_t len, char fill)
{
    size_t n = strlen(name);
    char *s = xmalloc(len + 1);

    memcpy(s, name, n);
    memset(s + n, fill, len - n);
    s[len] = '\0';
    return s;
}

static void line_limit(void **state)
{
    struct recorder r;
    char *line = long_line("data:", SSE_MAX_LINE, 'x');

    /* A line of exactly the limit is fine, even fed in pieces. */
    recorder_init(&r);
    feed(&r, line);
    feed(&r, "\n\n");
    assert_int_equal(r.events.len, 1);
    assert_int_equal(((struct rec *)r.events.items[0])->data_len, SSE_MAX_LINE - 5);
    assert_null(sse_parser_error(&r.parser));

    /* One byte more fails as soon as it arrives, without a line end; the
     * event before it in the same chunk was delivered. */
    feed(&r, "data: before\n\ndata: half\n");
    feed(&r, line);
    assert_int_equal(sse_parser_feed(&r.parser, "x", 1), -1);
    assert_string_equal(sse_parser_error(&r.parser), "the server sent a line longer than 1 MiB in its event stream");
    assert_int_equal(r.events.len, 2);
    expect_event(&r, 1, "message", "before", "");
    /* Later input is ignored. */
    assert_int_equal(sse_parser_feed(&r.parser, "data: after\n\n", 13), -1);
    assert_int_equal(r.events.len, 2);
    assert_false(sse_parser_finish(&r.parser));
    recorder_fini(&r);

    /* In one chunk, with a line end, and a comment line counts too. */
    line[0] = ':';
    recorder_init(&r);
    feed(&r, line);
    feed(&r, "\n");
    assert_int_equal(sse_parser_feed(&r.parser, "x", 1), 0);
    assert_int_equal(sse_parser_feed(&r.parser, line, SSE_MAX_LINE), -1);
    assert_non_null(sse_parser_error(&r.parser));
    recorder_fini(&r);
    free(line);
}

static void event_limit(void **state)
{
    /* Eight lines of the longest value and a ninth make exactly the limit
     * with the eight \n that join them; one byte more is too much. */
    size_t last = SSE_MAX_EVENT - 8 * (SSE_MAX_LINE - 5) - 8;
    char *line = long_line("data:", SSE_MAX_LINE, 'y');
    char *tail = long_line("data:", 5 + last, 'z');
    struct recorder r;

    recorder_init(&r);
    for (int i = 0; i < 8; i++) {
        feed(&r, line);
        feed(&r, "\n");
    }
    feed(&r, tail);
    feed(&r, "\n\n");
    assert_int_equal(r.events.len, 1);
    assert_int_equal(((struct rec *)r.events.items[0])->data_len, SSE_MAX_EVENT);
    recorder_fini(&r);
    free(tail);

    tail = long_line("data:", 5 + last + 1, 'z');
    recorder_init(&r);
    for (int i = 0; i < 8; i++) {
        feed(&r, line);
        feed(&r, "\n");
    }
    assert_int_equal(sse_parser_feed(&r.parser, tail, strlen(tail)), 0); /* the line is not over yet */
    assert_int_equal(sse_parser_feed(&r.parser, "\n", 1), -1);
    assert_string_equal(sse_parser_error(&r.parser), "the server sent an event with more than 8 MiB of data");
    assert_int_equal(sse_parser_feed(&r.parser, "\n", 1), -1);
    assert_int_equal(r.events.len, 0);
    recorder_fini(&r);
    free(tail);
    free(line);
}

/* ---- stopping from the callback ---------------------------------------- */

static void stop_inside_callback(void **state)
{
    struct recorder r;

    recorder_init(&r);
    r.stop_after = 2;
    feed(&r, "data: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4");
    assert_int_equal(r.events.len, 2);
    expect_event(&r, 1, "message", "2", "");
    assert_true(sse_parser_stopped(&r.parser));
    /* The rest and later chunks are ignored, without an error. */
    feed(&r, "\n\ndata: 5\n\n");
    assert_int_equal(r.events.len, 2);
    assert_null(sse_parser_error(&r.parser));
    assert_false(sse_parser_finish(&r.parser));
    recorder_fini(&r);
}

/* ---- the same events whatever the chunking ----------------------------- */

/* xorshift64*: the same numbers on every libc. */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static size_t rng_below(size_t n)
{
    return (size_t)(rng_next() % n);
}

/* A stream of varied events and the events it must give. */
struct corpus {
    struct buf stream;
    struct vec want; /* struct rec * */
    unsigned long retry_ms;
    bool last_eol_cr;
};

static struct corpus corpus;

/* Appends a line with a random line end. An empty line after a CR cannot end
 * with a bare LF: the two would make one CRLF. */
static void put_line(struct corpus *c, const char *line, size_t len)
{
    static const char *const eols[] = {"\n", "\r\n", "\r"};
    size_t k = rng_below(3);

    if (len == 0 && c->last_eol_cr && k == 0)
        k = 1;
    buf_append(&c->stream, line, len);
    buf_puts(&c->stream, eols[k]);
    c->last_eol_cr = k == 2;
}

static void put_str(struct corpus *c, const char *line)
{
    put_line(c, line, strlen(line));
}

static const char *const values[] = {
    "{\"type\":\"message.output.delta\",\"content\":\"The\"}",
    "plain text",
    "",
    " leading space kept",
    "colons: a:b:c",
    "Grüße, 世界 👋",
    "[DONE]",
    "trailing space ",
    "\t tab",
    "\xEF\xBB\xBF not a BOM here",
};

static void build_corpus(struct corpus *c)
{
    char id[32] = "";
    char line[64];
    const size_t nvalues = sizeof(values) / sizeof(values[0]);

    buf_init(&c->stream);
    vec_init(&c->want, rec_free);
    c->retry_ms = 0;
    c->last_eol_cr = false;
    rng_state = 0x5EEDC0FFEEULL;
    buf_puts(&c->stream, "\xEF\xBB\xBF");
    put_str(c, ": stream opened");

    for (int i = 0; i < 50; i++) {
        struct buf data = BUF_INIT;
        char type[32] = "message";
        int lines = 1 + (int)rng_below(4);

        if (rng_below(4) == 0)
            put_str(c, rng_below(2) ? ":" : ": keep-alive: 1");
        if (rng_below(6) == 0) {
            c->retry_ms = 100 + (unsigned long)i;
            snprintf(line, sizeof(line), "retry: %lu", c->retry_ms);
            put_str(c, line);
        }
        if (rng_below(6) == 0)
            put_str(c, rng_below(2) ? "retry: 12x" : "unknown: field");
        switch (rng_below(4)) {
        case 0:
            break;
        case 1:
            snprintf(type, sizeof(type), "type.%d", i);
            snprintf(line, sizeof(line), "event: %s", type);
            put_str(c, line);
            break;
        case 2:
            snprintf(type, sizeof(type), "t%d", i);
            snprintf(line, sizeof(line), "event:%s", type);
            put_str(c, line);
            break;
        default:
            put_str(c, "event: dropped");
            put_str(c, "event"); /* empty: back to "message" */
            break;
        }
        switch (rng_below(5)) {
        case 0:
            snprintf(id, sizeof(id), "%d", i);
            snprintf(line, sizeof(line), "id: %s", id);
            put_str(c, line);
            break;
        case 1:
            put_str(c, "id");
            id[0] = '\0';
            break;
        default:
            break;
        }
        for (int l = 0; l < lines; l++) {
            size_t v = rng_below(nvalues + 2);
            struct buf text = BUF_INIT;

            if (l > 0)
                buf_putc(&data, '\n');
            if (v == nvalues) {
                /* A long value, to cross many chunk boundaries. */
                size_t n = 500 + rng_below(4000);
                buf_puts(&text, "data: ");
                for (size_t k = 0; k < n; k++)
                    buf_putc(&text, (char)('a' + (k * 7 + (size_t)i) % 26));
                buf_append(&data, text.data + 6, n);
            } else if (v > nvalues) {
                buf_puts(&text, "data"); /* no colon: an empty line of data */
            } else if (rng_below(2)) {
                buf_printf(&text, "data: %s", values[v]);
                buf_puts(&data, values[v]);
            } else {
                /* Without the space, a value's own leading space goes. */
                buf_printf(&text, "data:%s", values[v]);
                buf_puts(&data, values[v][0] == ' ' ? values[v] + 1 : values[v]);
            }
            put_line(c, text.data, text.len);
            buf_fini(&text);
        }
        put_str(c, "");
        if (rng_below(5) == 0)
            put_str(c, ""); /* a second blank line dispatches nothing */
        vec_push(&c->want, rec_new(type, buf_str(&data), data.len, id));
        buf_fini(&data);
    }
    /* An event block without data updates the id, then a last event. */
    put_str(c, "id: final");
    put_str(c, "event: ignored");
    put_str(c, "");
    put_str(c, "data: last");
    put_str(c, "");
    vec_push(&c->want, rec_new("message", "last", 4, "final"));
}

static int corpus_setup(void **state)
{
    build_corpus(&corpus);
    return 0;
}

static int corpus_teardown(void **state)
{
    buf_fini(&corpus.stream);
    vec_fini(&corpus.want);
    return 0;
}

static void expect_corpus(struct recorder *r)
{
    assert_false(sse_parser_finish(&r->parser));
    assert_null(sse_parser_error(&r->parser));
    assert_int_equal(sse_parser_retry_ms(&r->parser), corpus.retry_ms);
    assert_int_equal(r->events.len, corpus.want.len);
    for (size_t i = 0; i < corpus.want.len; i++) {
        const struct rec *want = corpus.want.items[i];
        const struct rec *got = r->events.items[i];

        assert_string_equal(got->type, want->type);
        assert_int_equal(got->data_len, want->data_len);
        assert_memory_equal(got->data, want->data, want->data_len);
        assert_string_equal(got->id, want->id);
    }
}

static void corpus_all_at_once(void **state)
{
    struct recorder r;

    assert_true(corpus.want.len > 50);
    assert_true(corpus.stream.len > 20000);
    recorder_init(&r);
    assert_int_equal(sse_parser_feed(&r.parser, corpus.stream.data, corpus.stream.len), 0);
    expect_corpus(&r);
    recorder_fini(&r);
}

static void corpus_byte_by_byte(void **state)
{
    struct recorder r;

    recorder_init(&r);
    for (size_t i = 0; i < corpus.stream.len; i++)
        assert_int_equal(sse_parser_feed(&r.parser, corpus.stream.data + i, 1), 0);
    expect_corpus(&r);
    recorder_fini(&r);
}

static void corpus_random_splits(void **state)
{
    static const size_t max_chunk[] = {4, 64, 4096, 65536};

    rng_state = 20240601;
    for (int round = 0; round < 1000; round++) {
        struct recorder r;
        size_t pos = 0, most = max_chunk[round % 4];

        recorder_init(&r);
        while (pos < corpus.stream.len) {
            size_t n = rng_below(most + 1); /* empty chunks too */

            if (n > corpus.stream.len - pos)
                n = corpus.stream.len - pos;
            assert_int_equal(sse_parser_feed(&r.parser, corpus.stream.data + pos, n), 0);
            pos += n;
        }
        expect_corpus(&r);
        recorder_fini(&r);
    }
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mistral_examples),
        cmocka_unit_test(mistral_example_literal),
        cmocka_unit_test(done_sentinel),
        cmocka_unit_test(every_line_end),
        cmocka_unit_test(crlf_cut_between_chunks),
        cmocka_unit_test(bom_at_start_skipped),
        cmocka_unit_test(bom_only_at_start),
        cmocka_unit_test(comments_ignored),
        cmocka_unit_test(multi_line_data),
        cmocka_unit_test(fields_without_colon),
        cmocka_unit_test(one_space_stripped),
        cmocka_unit_test(unknown_fields_ignored),
        cmocka_unit_test(event_type_reset_after_dispatch),
        cmocka_unit_test(id_persists),
        cmocka_unit_test(retry_field),
        cmocka_unit_test(nul_bytes_in_values),
        cmocka_unit_test(finish_drops_unterminated_event),
        cmocka_unit_test(finish_on_short_streams),
        cmocka_unit_test(finish_starts_a_new_stream),
        cmocka_unit_test(line_limit),
        cmocka_unit_test(event_limit),
        cmocka_unit_test(stop_inside_callback),
        cmocka_unit_test_setup_teardown(corpus_all_at_once, corpus_setup, corpus_teardown),
        cmocka_unit_test_setup_teardown(corpus_byte_by_byte, corpus_setup, corpus_teardown),
        cmocka_unit_test_setup_teardown(corpus_random_splits, corpus_setup, corpus_teardown),
    };
    /* clang-format on */
    return cmocka_run_group_tests_name("sse", tests, NULL, NULL);
}
