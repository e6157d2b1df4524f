/* The wire log: credentials redacted as they are recorded, the key scrubbed
 * wherever else it appears (also split across chunks), and the bounds on
 * exchanges, bodies and bytes. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/command.h"
#include "core/buf.h"
#include "core/xalloc.h"
#include "helpers.h"
#include "net/wire.h"

#define KEY "sk-test-SECRET-0123456789"

static const char *const mistral_headers[] = {"Authorization: Bearer " KEY, "Content-Type: application/json", NULL};

/* Adds text to the response of exchange id. */
static void feed(struct wire *w, uint64_t id, const char *text)
{
    wire_response_data(w, id, text, strlen(text));
}

static void redact(const char *line, const char *expected, const char *expected_secret)
{
    char *secret;
    char *got = wire_redact_header(line, &secret);

    assert_string_equal(got, expected);
    if (expected_secret)
        assert_string_equal(secret, expected_secret);
    else
        assert_null(secret);
    free(got);
    free(secret);
}

static void credential_headers_are_redacted(void **state)
{
    redact("Authorization: Bearer " KEY, "Authorization: Bearer [redacted]", KEY);
    redact("authorization:Basic dXNlcjpwYXNz", "authorization: Basic [redacted]", "dXNlcjpwYXNz");
    redact("Authorization: " KEY, "Authorization: [redacted]", KEY);
    redact("x-api-key: " KEY, "x-api-key: [redacted]", KEY);
    redact("X-Auth-Token: abc", "X-Auth-Token: [redacted]", "abc");
    redact("Proxy-Authorization: Basic xyz", "Proxy-Authorization: [redacted]", "Basic xyz");
    redact("Content-Type: application/json", "Content-Type: application/json", NULL);
    redact("Accept: text/event-stream", "Accept: text/event-stream", NULL);
    redact("not a header", "not a header", NULL);
}

static void the_key_never_enters_the_log(void **state)
{
    struct wire *w = wire_new(10, 1024, 1 << 20);
    uint64_t id = wire_begin(w, "r1", "POST", "https://example.test/v1/conversations?x=" KEY, mistral_headers,
                             "{\"inputs\":\"my key is " KEY "\"}");
    const struct wire_exchange *ex = wire_get(w, 0);

    assert_int_equal(wire_count(w), 1);
    assert_string_equal(ex->tag, "r1");
    assert_string_equal(ex->headers.items[0], "Authorization: Bearer [redacted]");
    assert_string_equal(ex->headers.items[1], "Content-Type: application/json");
    assert_string_equal(ex->url, "https://example.test/v1/conversations?x=[redacted]");
    assert_string_equal(buf_str(&ex->request), "{\"inputs\":\"my key is [redacted]\"}");

    /* The key split over three chunks of the answer. */
    feed(w, id, "event: x\ndata: {\"echo\":\"sk-te");
    feed(w, id, "st-SECRET-01");
    feed(w, id, "23456789\"}\n\n");
    wire_end(w, id, 200, "text/event-stream", NULL, "it ended with " KEY);
    assert_string_equal(buf_str(&ex->response), "event: x\ndata: {\"echo\":\"[redacted]\"}\n\n");
    assert_string_equal(ex->error, "it ended with [redacted]");
    assert_int_equal(ex->status, 200);
    assert_string_equal(ex->content_type, "text/event-stream");
    assert_true(ex->duration_ms >= 0);
    wire_free(w);
}

static void a_key_cut_short_at_the_end_goes_too(void **state)
{
    struct wire *w = wire_new(10, 1024, 1 << 20);
    uint64_t id;

    wire_add_secret(w, KEY);
    id = wire_begin(w, "r1", "GET", "https://example.test/", NULL, NULL);
    feed(w, id, "truncated: sk-test-SEC");
    wire_end(w, id, 200, NULL, NULL, "the stream broke");
    assert_string_equal(buf_str(&wire_get(w, 0)->response), "truncated: [redacted]");
    assert_false(wire_get(w, 0)->has_request);
    wire_free(w);
}

static void credential_query_parameters_are_redacted(void **state)
{
    struct wire *w = wire_new(10, 1024, 1 << 20);
    uint64_t id =
        wire_begin(w, "query", "GET", "https://example.test/v1/x?page=1&api_key=abcdefgh12&b=2#f", NULL, NULL);

    assert_string_equal(wire_get(w, 0)->url, "https://example.test/v1/x?page=1&api_key=[redacted]&b=2#f");
    /* Its value became a secret. */
    feed(w, id, "{\"k\":\"abcdefgh12\"}");
    assert_string_equal(buf_str(&wire_get(w, 0)->response), "{\"k\":\"[redacted]\"}");
    wire_free(w);
}

static void short_secrets_are_not_scrubbed(void **state)
{
    struct wire *w = wire_new(10, 1024, 1 << 20);

    wire_add_secret(w, "abc");
    wire_add_secret(w, NULL);
    wire_begin(w, "r1", "POST", "https://example.test/", NULL, "abc abc");
    assert_string_equal(buf_str(&wire_get(w, 0)->request), "abc abc");
    wire_free(w);
}

static void bodies_are_cut_and_say_how_much(void **state)
{
    struct wire *w = wire_new(10, 16, 1 << 20);
    uint64_t id = wire_begin(w, "r1", "POST", "https://example.test/", NULL, "0123456789abcdefghij");
    const struct wire_exchange *ex = wire_get(w, 0);

    assert_string_equal(buf_str(&ex->request), "0123456789abcdef");
    assert_int_equal(ex->request_cut, 4);
    /* A cut never splits a character: "é" is two bytes at 15 and 16. */
    feed(w, id, "0123456789abcde\xC3\xA9xyz");
    assert_string_equal(buf_str(&ex->response), "0123456789abcde");
    assert_int_equal(ex->response_cut, 5);
    /* Once cut, the rest is counted only. */
    feed(w, id, "more");
    assert_int_equal(ex->response.len, 15);
    assert_int_equal(ex->response_cut, 9);
    wire_free(w);
}

static void the_oldest_exchanges_go_first(void **state)
{
    struct wire *w = wire_new(3, 1024, 1 << 20);
    const char *tags[] = {"r1", "r1", "prepare", "r2", "r3"};
    uint64_t ids[5];

    for (size_t i = 0; i < 5; i++)
        ids[i] = wire_begin(w, tags[i], "GET", "https://example.test/", NULL, NULL);
    assert_int_equal(wire_count(w), 3);
    assert_string_equal(wire_get(w, 0)->tag, "prepare");
    assert_string_equal(wire_get(w, 2)->tag, "r3");
    assert_int_equal(wire_dropped(w), 2);
    assert_int_equal(wire_dropped_with_tag(w, "r1"), 2);
    assert_int_equal(wire_dropped_with_tag(w, "r2"), 0);
    assert_int_equal(wire_max_exchanges(w), 3);
    /* A transfer still going whose record left the log changes nothing. */
    feed(w, ids[0], "late");
    wire_end(w, ids[0], 200, NULL, NULL, NULL);
    wire_end(w, ids[3], 204, NULL, NULL, NULL);
    assert_int_equal(wire_get(w, 1)->status, 204);
    assert_int_equal(wire_get(w, 0)->duration_ms, -1);
    wire_free(w);
}

static void the_bytes_of_all_bodies_are_bounded(void **state)
{
    struct wire *w = wire_new(100, 64, 100);
    char body[41];
    uint64_t last = 0;

    memset(body, 'x', 40);
    body[40] = '\0';
    for (int i = 0; i < 5; i++)
        last = wire_begin(w, "r1", "POST", "https://example.test/", NULL, body);
    assert_int_equal(wire_count(w), 2); /* 2 * 40 <= 100 < 3 * 40 */
    feed(w, last, body);
    assert_int_equal(wire_count(w), 1); /* 40 + 80 > 100: the older one goes */
    assert_int_equal(wire_get(w, 0)->id, last);
    assert_int_equal(wire_dropped_with_tag(w, "r1"), 4);
    wire_free(w);
}

/* /raw on a log too small to keep a run's exchanges: it says what left. The
 * offline runs give the run ids; the exchanges are recorded as a backend
 * that speaks HTTP would record them. */
static void raw_says_what_the_bounded_log_dropped(void **state)
{
    struct harness h;
    struct wire *w = wire_new(2, 1024, 1 << 20);
    const cJSON *ev;
    uint64_t id;

    harness_init(&h, "{\"agents\": [{\"name\": \"cs\", \"offline\": [{\"say\": \"hi\"}]}]}", 0);
    assert_int_equal(harness_exec(&h, "/start cs one"), CMD_OK);
    assert_int_equal(harness_exec(&h, "/start cs two"), CMD_OK);
    wire_free(h.session->wire);
    h.session->wire = w;
    h.session->speaks_http = true;
    wire_begin(w, "r1", "POST", "https://example.test/v1/conversations", NULL, "{\"n\":1}");
    id = wire_begin(w, "r1", "POST", "https://example.test/v1/conversations", NULL, "{\"n\":2}");
    wire_end(w, id, 200, "application/json", NULL, NULL);
    wire_begin(w, "r2", "POST", "https://example.test/v1/conversations", mistral_headers, "{\"n\":3}");

    assert_int_equal(harness_exec(&h, "/raw r1"), CMD_OK);
    ev = harness_event(&h, "raw", 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ev, "exchanges")), 1);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(ev, "dropped")->valueint, 1);
    assert_non_null(strstr(harness_str(ev, "text"), "(1 earlier exchange of r1 left the log, which keeps the last 2)"));
    assert_non_null(strstr(harness_str(ev, "text"), "HTTP 200\nContent-Type: application/json\n"));

    /* Without RUN: the focused conversation's (c2's) latest run, still in flight. */
    assert_int_equal(harness_exec(&h, "/raw"), CMD_OK);
    ev = harness_event(&h, "raw", 1);
    assert_string_equal(harness_str(ev, "run"), "r2");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(ev, "exchanges"), 0), "in_flight")));
    assert_non_null(strstr(harness_str(ev, "text"), "Authorization: Bearer [redacted]\n"));
    assert_null(strstr(harness_str(ev, "text"), KEY));

    wire_begin(w, "r2", "GET", "https://example.test/", NULL, NULL);
    assert_int_equal(harness_exec(&h, "/raw r1"), CMD_FAILED);
    assert_string_equal(harness_str(harness_event(&h, "error", 0), "message"),
                        "the 2 HTTP exchanges of r1 were dropped from the log, which keeps the last 2");
    harness_fini(&h);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(credential_headers_are_redacted),
        cmocka_unit_test(the_key_never_enters_the_log),
        cmocka_unit_test(a_key_cut_short_at_the_end_goes_too),
        cmocka_unit_test(credential_query_parameters_are_redacted),
        cmocka_unit_test(short_secrets_are_not_scrubbed),
        cmocka_unit_test(bodies_are_cut_and_say_how_much),
        cmocka_unit_test(the_oldest_exchanges_go_first),
        cmocka_unit_test(the_bytes_of_all_bodies_are_bounded),
        cmocka_unit_test(raw_says_what_the_bounded_log_dropped),
    };
    /* clang-format on */
    return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
