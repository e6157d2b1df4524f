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
    harness_exec(&h, "/start silent 'what is \"this\"?'");
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
    };
    /* clang-format on */
    return cmocka_run_group_tests_name("offline", tests, NULL, NULL);
}
