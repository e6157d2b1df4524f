/* The offline backend: rules, templates, the fallback and streaming. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "backend/offline.h"
#include "core/buf.h"
#include "core/clock.h"
#include "helpers.h"
#include "model/team.h"

/* clang-format off */
static const char *const team_json =
    "{\"agents\": ["
    " {\"name\": \"greeter\", \"handoffs\": [\"echo\"], \"offline\": ["
    "   {\"when\": \"^pass\", \"handoff\": \"echo\"},"
    "   {\"when\": \"my name is ([A-Za-z]+)\", \"say\": \"Hello {1}, I am {agent}.\"},"
    "   {\"when\": \"HELLO\", \"say\": \"hi there\"}]},"
    " {\"name\": \"echo\", \"offline\": [{\"say\": \"echo: {input}\"}]},"
    " {\"name\": \"silent\"}]}";
/* clang-format on */

static void expand_templates(void **state)
{
    const char *groups[10] = {"whole", "first", NULL};
    char *s = offline_expand("{agent} got {input}; {1}/{2}/{0} {unknown} {", "text", "cs", groups);
    assert_string_equal(s, "cs got text; first//whole {unknown} {");
    free(s);
}

static void rules_match_in_order_ignoring_case(void **state)
{
    struct harness h;
    harness_init(&h, team_json, 0);
    harness_exec(&h, "/start greeter hello, my name is Ada");
    assert_string_equal(harness_str(harness_event(&h, "message.output", 0), "content"), "Hello Ada, I am greeter.");
    harness_exec(&h, "why HeLLo");
    assert_string_equal(harness_str(harness_event(&h, "message.output", 1), "content"), "hi there");
    harness_fini(&h);
}

static void unmatched_input_gets_a_deterministic_reply(void **state)
{
    struct harness h;
    harness_init(&h, team_json, 0);
    harness_exec(&h, "/start silent what is \"this\"?");
    assert_string_equal(harness_str(harness_event(&h, "message.output", 0), "content"),
                        "[silent, offline: no rule matched] You said: \"what is \"this\"?\"");
    harness_fini(&h);
}

static void handoff_passes_the_same_input(void **state)
{
    struct harness h;
    const cJSON *handoff;
    harness_init(&h, team_json, 0);
    harness_exec(&h, "/start greeter pass this on");
    handoff = harness_event(&h, "agent.handoff", 0);
    assert_string_equal(harness_str(handoff, "previous_agent"), "greeter");
    assert_string_equal(harness_str(handoff, "next_agent"), "echo");
    assert_string_equal(harness_str(harness_event(&h, "message.output", 0), "agent"), "echo");
    assert_string_equal(harness_str(harness_event(&h, "message.output", 0), "content"), "echo: pass this on");
    assert_string_equal(h.session->focused->agent, "echo");
    harness_fini(&h);
}

static void streams_word_by_word_at_the_rate(void **state)
{
    struct harness h;
    struct buf joined = BUF_INIT;
    int64_t start;
    size_t deltas;

    harness_init(&h, team_json, 100); /* 10 ms a word */
    h.session->deltas = true;
    start = clock_now_ms();
    harness_exec(&h, "/start echo one two three four five six seven");
    /* "echo: one ... seven" is 8 words: 7 gaps of 10 ms. */
    assert_true(clock_now_ms() - start >= 60);
    deltas = harness_count(&h, "message.output.delta");
    assert_int_equal(deltas, 8);
    for (size_t i = 0; i < deltas; i++) {
        const cJSON *d = harness_event(&h, "message.output.delta", i);
        assert_string_equal(harness_str(d, "entry_id"),
                            harness_str(harness_event(&h, "message.output", 0), "entry_id"));
        buf_puts(&joined, harness_str(d, "content"));
    }
    assert_string_equal(buf_str(&joined), harness_str(harness_event(&h, "message.output", 0), "content"));
    buf_fini(&joined);
    harness_fini(&h);
}

static void rate_zero_sends_one_delta(void **state)
{
    struct harness h;
    harness_init(&h, team_json, 0);
    h.session->deltas = true;
    harness_exec(&h, "/start echo a b c");
    assert_int_equal(harness_count(&h, "message.output.delta"), 1);
    harness_fini(&h);
}

static void usage_is_estimated(void **state)
{
    struct harness h;
    const cJSON *usage;
    harness_init(&h, team_json, 0);
    harness_exec(&h, "/start echo twelve bytes!");
    usage = cJSON_GetObjectItemCaseSensitive(harness_event(&h, "run.done", 0), "usage");
    /* "echo: twelve bytes!" is 19 bytes: 5 tokens at four bytes a token. */
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(usage, "completion_tokens")->valueint, 5);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens")->valueint, 4);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(usage, "total_tokens")->valueint, 9);
    harness_fini(&h);
}

/* A reply whose callbacks cancel the call they come from. */
struct canceller {
    struct backend *backend;
    struct backend_call *call;
    int cancel_in; /* 1: delta, 2: entry */
    int deltas, entries, dones;
};

static void cancel_on_delta(void *ud, const char *agent, const char *id, const char *text)
{
    struct canceller *c = ud;
    c->deltas++;
    if (c->cancel_in == 1 && c->call) {
        backend_cancel(c->backend, c->call);
        c->call = NULL;
    }
}

static void cancel_on_entry(void *ud, struct entry *e)
{
    struct canceller *c = ud;
    entry_free(e);
    c->entries++;
    if (c->cancel_in == 2 && c->call) {
        backend_cancel(c->backend, c->call);
        c->call = NULL;
    }
}

static void count_done(void *ud, const struct usage *u)
{
    ((struct canceller *)ud)->dones++;
}

static void count_error(void *ud, const char *message)
{
    ((struct canceller *)ud)->dones++;
}

static void cancel_from_inside_a_callback(void **state)
{
    for (int where = 1; where <= 2; where++) {
        struct loop *loop = loop_new();
        struct canceller c = {.backend = offline_backend_new(loop, 1000), .cancel_in = where};
        struct team *team = team_new();
        struct agent *agent = agent_new("a", NULL);
        struct conversation *conv = conversation_new("c1", "a");
        struct entry *in = entry_new(ENTRY_MESSAGE_INPUT, "a");
        struct backend_reply reply = {&c, cancel_on_delta, cancel_on_entry, count_done, count_error, NULL, NULL};
        struct backend_request req = {team, agent, conv, 0, NULL, 0, NULL, false, NULL, false, NULL};

        team_add_agent(team, agent);
        in->role = strdup("user");
        in->content = strdup("one two three four");
        conversation_append_entry(conv, in);
        c.call = backend_request(c.backend, &req, &reply);
        while (loop_run_once(loop, 50))
            ;
        /* Nothing after the cancel: no more deltas, no entry, no done. */
        assert_int_equal(c.deltas, where == 1 ? 1 : 11);
        assert_int_equal(c.entries, where == 2 ? 1 : 0);
        assert_int_equal(c.dones, 0);
        backend_free(c.backend);
        conversation_free(conv);
        team_free(team);
        loop_free(loop);
    }
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(expand_templates),
        cmocka_unit_test(rules_match_in_order_ignoring_case),
        cmocka_unit_test(unmatched_input_gets_a_deterministic_reply),
        cmocka_unit_test(handoff_passes_the_same_input),
        cmocka_unit_test(streams_word_by_word_at_the_rate),
        cmocka_unit_test(rate_zero_sends_one_delta),
        cmocka_unit_test(usage_is_estimated),
        cmocka_unit_test(cancel_from_inside_a_callback),
    };
    /* clang-format on */
    return cmocka_run_group_tests_name("offline", tests, NULL, NULL);
}
