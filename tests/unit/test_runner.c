/* The runner: function calls on the client, their failures, asking the
 * user before a call runs, handoffs, max_turns and runs side by side. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/command.h"
#include "core/clock.h"
#include "helpers.h"

#define FN_TOOL(n) "{\"type\": \"function\", \"function\": {\"name\": \"" n "\"}}"

/* clang-format off */
static const char *const team_json =
    "{\"max_turns\": 4,"
    " \"functions\": {"
    "   \"ok\": {\"command\": [\"sh\", \"-c\", \"cat\"], \"auto\": true},"
    "   \"slow\": {\"command\": [\"sleep\", \"5\"], \"timeout\": 0.3, \"auto\": true},"
    "   \"crash\": {\"command\": [\"sh\", \"-c\", \"echo 'disk on fire' >&2; exit 3\"], \"auto\": true},"
    "   \"missing\": {\"command\": [\"/nonexistent/agentdeck-tool\"], \"auto\": true},"
    "   \"asked\": [\"sh\", \"-c\", \"cat\"]},"
    " \"agents\": ["
    "  {\"name\": \"caller\", \"tools\": [" FN_TOOL("ok") "," FN_TOOL("slow") "," FN_TOOL("crash") "," FN_TOOL("missing") "],"
    "   \"offline\": ["
    "     {\"when\": \"^error: (.*)\", \"say\": \"failed: {1}\"},"
    "     {\"when\": \"^\\\\{\\\"q\\\"\", \"say\": \"got {input}\"},"
    "     {\"when\": \"^slow\", \"call\": {\"name\": \"slow\"}},"
    "     {\"when\": \"^crash\", \"call\": {\"name\": \"crash\"}},"
    "     {\"when\": \"^missing\", \"call\": {\"name\": \"missing\"}},"
    "     {\"call\": {\"name\": \"ok\", \"arguments\": {\"q\": \"{input}\"}}}]},"
    "  {\"name\": \"asker\", \"tools\": [" FN_TOOL("asked") "],"
    "   \"offline\": ["
    "     {\"when\": \"^The user denied\", \"say\": \"denied\"},"
    "     {\"when\": \"^\\\\{\", \"say\": \"ran {input}\"},"
    "     {\"call\": {\"name\": \"asked\", \"arguments\": {\"q\": \"{input}\"}}}]},"
    "  {\"name\": \"ping\", \"handoffs\": [\"pong\"], \"offline\": [{\"handoff\": \"pong\"}]},"
    "  {\"name\": \"pong\", \"handoffs\": [\"ping\"], \"offline\": [{\"handoff\": \"ping\"}]},"
    "  {\"name\": \"talker\", \"offline\": [{\"say\": \"one two three four five six seven eight nine ten\"}]}]}";
/* clang-format on */

static void function_call_round_trip(void **state)
{
    struct harness h;
    const cJSON *call, *result;
    char *types;

    harness_init(&h, team_json, 0);
    harness_exec(&h, "/start caller say \"hi\"");
    types = harness_types(&h);
    assert_string_equal(types, "conversation.started message.input run.started function.call function.result "
                               "message.output run.done");
    free(types);
    call = harness_event(&h, "function.call", 0);
    result = harness_event(&h, "function.result", 0);
    assert_string_equal(harness_str(call, "name"), "ok");
    assert_string_equal(harness_str(call, "arguments"), "{\"q\":\"say \\\"hi\\\"\"}");
    assert_int_equal(strlen(harness_str(call, "tool_call_id")), 9);
    assert_string_equal(harness_str(result, "tool_call_id"), harness_str(call, "tool_call_id"));
    /* The arguments went to stdin, and cat gave them back as the result. */
    assert_string_equal(harness_str(result, "result"), harness_str(call, "arguments"));
    assert_string_equal(harness_str(harness_event(&h, "message.output", 0), "content"),
                        "got {\"q\":\"say \\\"hi\\\"\"}");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(harness_event(&h, "run.done", 0), "turns")->valueint, 2);

    /* A branch cannot end in a call without its result. */
    char line[64];
    snprintf(line, sizeof line, "/restart %s again", harness_str(call, "entry_id"));
    assert_int_equal(harness_exec(&h, line), CMD_FAILED);
    snprintf(line, sizeof line, "%s is a function call: restart", harness_str(call, "entry_id"));
    assert_true(strncmp(harness_str(harness_event(&h, "error", 0), "message"), line, strlen(line)) == 0);
    harness_fini(&h);
}

/* Runs a failing function and checks the error event and result. */
static void expect_function_failure(const char *which, const char *message)
{
    struct harness h;
    char *start = NULL;
    const cJSON *err;

    harness_init(&h, team_json, 0);
    start = malloc(strlen(which) + 20);
    sprintf(start, "/start caller %s", which);
    harness_exec(&h, start);
    free(start);
    err = harness_event(&h, "error", 0);
    assert_non_null(err);
    assert_string_equal(harness_str(err, "function"), which);
    assert_string_equal(harness_str(err, "message"), message);
    assert_true(strncmp(harness_str(harness_event(&h, "function.result", 0), "result"), "error: ", 7) == 0);
    /* The model saw the failure and answered: the run itself succeeds. */
    assert_int_equal(harness_count(&h, "run.done"), 1);
    assert_true(strncmp(harness_str(harness_event(&h, "message.output", 0), "content"), "failed: ", 8) == 0);
    harness_fini(&h);
}

static void function_timeout(void **state)
{
    int64_t start = clock_now_ms();
    expect_function_failure("slow", "slow timed out after 0.3 s");
    assert_true(clock_now_ms() - start < 3000);
}

static void function_nonzero_exit(void **state)
{
    expect_function_failure("crash", "crash exited with status 3: disk on fire");
}

static void function_missing_program(void **state)
{
    expect_function_failure("missing", "missing: cannot run /nonexistent/agentdeck-tool: No such file or directory");
}

static void max_turns_is_a_run_error(void **state)
{
    struct harness h;
    const cJSON *err;

    harness_init(&h, team_json, 0);
    harness_exec(&h, "/start ping go");
    err = harness_event(&h, "run.error", 0);
    assert_non_null(err);
    assert_string_equal(harness_str(err, "message"), "max_turns (4) reached before ping gave a final answer");
    assert_int_equal(harness_count(&h, "agent.handoff"), 4);
    assert_int_equal(harness_count(&h, "run.done"), 0);
    assert_int_equal(h.session->runs_failed, 1);
    harness_fini(&h);
}

static void runs_share_one_loop(void **state)
{
    struct harness h;
    int64_t start, one, two;

    harness_init(&h, team_json, 100); /* ten words: about 90 ms */
    start = clock_now_ms();
    harness_exec(&h, "/start talker a");
    one = clock_now_ms() - start;
    start = clock_now_ms();
    command_execute(h.session, "/start talker b");
    command_execute(h.session, "/start talker c");
    command_execute(h.session, "/start talker d");
    harness_wait(&h);
    two = clock_now_ms() - start;
    assert_int_equal(harness_count(&h, "run.done"), 4);
    /* Three at once take about as long as one, not three times as long. */
    assert_true(two < one * 2);
    harness_fini(&h);
}

static void cancel_stops_everything(void **state)
{
    struct harness h;

    harness_init(&h, team_json, 10);
    command_execute(h.session, "/start talker a");
    command_execute(h.session, "/start caller slow");
    session_cancel_runs(h.session, "stop");
    harness_wait(&h);
    assert_int_equal(harness_count(&h, "run.cancelled"), 2);
    assert_int_equal(harness_count(&h, "message.output"), 0);
    assert_string_equal(harness_str(harness_event(&h, "run.cancelled", 0), "message"), "stop");
    harness_fini(&h);
}

/* A function the profile does not mark "auto" waits for the user. */
static void a_call_waits_for_the_users_answer(void **state)
{
    struct harness h;
    struct waiting_call w;
    const cJSON *hit, *answer;
    char *types;

    harness_init(&h, team_json, 0);
    harness_exec(&h, "/start asker one");
    types = harness_types(&h);
    assert_string_equal(types, "conversation.started message.input run.started function.call breakpoint.hit");
    free(types);
    hit = harness_event(&h, "breakpoint.hit", 0);
    assert_string_equal(harness_str(hit, "reason"), "confirmation");
    assert_string_equal(harness_str(hit, "asked_by"), "agentdeck");
    assert_string_equal(harness_str(hit, "name"), "asked");
    assert_int_equal(session_runs_waiting(h.session), 1);
    assert_true(session_waiting_call(h.session, &w));
    assert_string_equal(w.name, "asked");
    assert_string_equal(w.arguments, "{\"q\":\"one\"}");
    assert_string_equal(w.tool_call_id, harness_str(hit, "tool_call_id"));

    /* Denied: the model is told, and answers without the result. */
    assert_int_equal(harness_exec(&h, "/deny"), CMD_OK);
    answer = harness_event(&h, "confirmation.answered", 0);
    assert_string_equal(harness_str(answer, "answer"), "deny");
    assert_null(cJSON_GetObjectItemCaseSensitive(answer, "always"));
    assert_string_equal(harness_str(harness_event(&h, "function.result", 0), "result"),
                        "The user denied the call to asked.");
    assert_string_equal(harness_str(harness_event(&h, "message.output", 0), "content"), "denied");
    assert_int_equal(harness_count(&h, "run.done"), 1);
    assert_false(session_waiting_call(h.session, &w));

    /* Allowed once: it runs, and the next call asks again. */
    harness_exec(&h, "/start asker two");
    assert_int_equal(harness_exec(&h, "/allow"), CMD_OK);
    assert_string_equal(harness_str(harness_event(&h, "function.result", 1), "result"), "{\"q\":\"two\"}");
    assert_string_equal(harness_str(harness_event(&h, "message.output", 1), "content"), "ran {\"q\":\"two\"}");
    harness_exec(&h, "/start asker three");
    assert_int_equal(harness_count(&h, "breakpoint.hit"), 3);

    /* Allowed always: later calls of the function run without asking. */
    assert_int_equal(harness_exec(&h, "/allow --always"), CMD_OK);
    answer = harness_event(&h, "confirmation.answered", 2);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(answer, "always")));
    assert_true(session_always_allowed(h.session, "asked"));
    harness_exec(&h, "/start asker four");
    assert_int_equal(harness_count(&h, "breakpoint.hit"), 3);
    assert_int_equal(harness_count(&h, "run.done"), 4);

    /* Nothing waits: /allow says so. */
    assert_int_equal(harness_exec(&h, "/allow"), CMD_FAILED);
    assert_string_equal(harness_str(harness_event(&h, "error", 0), "message"),
                        "no function call waits for confirmation");
    harness_fini(&h);
}

/* --yes: nothing asks. */
static void allow_functions_runs_without_asking(void **state)
{
    struct harness h;

    harness_init(&h, team_json, 0);
    h.session->allow_functions = true;
    harness_exec(&h, "/start asker one");
    assert_int_equal(harness_count(&h, "breakpoint.hit"), 0);
    assert_int_equal(harness_count(&h, "confirmation.answered"), 0);
    assert_int_equal(harness_count(&h, "run.done"), 1);
    harness_fini(&h);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(function_call_round_trip),
        cmocka_unit_test(function_timeout),
        cmocka_unit_test(function_nonzero_exit),
        cmocka_unit_test(function_missing_program),
        cmocka_unit_test(max_turns_is_a_run_error),
        cmocka_unit_test(runs_share_one_loop),
        cmocka_unit_test(cancel_stops_everything),
        cmocka_unit_test(a_call_waits_for_the_users_answer),
        cmocka_unit_test(allow_functions_runs_without_asking),
    };
    /* clang-format on */
    return cmocka_run_group_tests_name("runner", tests, NULL, NULL);
}
