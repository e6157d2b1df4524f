/* The command language: dispatch, flags, agents, conversations, errors. */
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
#include "helpers.h"

/* clang-format off */
static const char *const team_json =
    "{\"functions\": {\"lookup\": {\"command\": [\"cat\"], \"description\": \"Look a thing up.\"}},"
    " \"agents\": ["
    "  {\"name\": \"cs\", \"handoffs\": [\"billing\"], \"offline\": ["
    "     {\"when\": \"charge\", \"handoff\": \"billing\"}, {\"say\": \"cs here\"}]},"
    "  {\"name\": \"billing\", \"offline\": [{\"say\": \"billing here: {input}\"}]}]}";
/* clang-format on */

/* Runs line, expects it to fail with exactly one error event saying message. */
static void expect_failure(struct harness *h, const char *line, const char *message)
{
    size_t before = h->events.len;
    const cJSON *ev;

    assert_int_equal(harness_exec(h, line), CMD_FAILED);
    assert_int_equal(h->events.len, before + 1);
    ev = h->events.items[before];
    assert_string_equal(harness_str(ev, "type"), "error");
    assert_string_equal(harness_str(ev, "message"), message);
    assert_string_equal(harness_str(ev, "command"), line);
}

static void bad_lines_name_the_problem(void **state)
{
    struct harness h;
    harness_init(&h, team_json, 0);
    expect_failure(&h, "/frobnicate", "unknown command /frobnicate (/help lists the commands)");
    expect_failure(&h, "/", "unknown command / (/help lists the commands)");
    expect_failure(&h, "/start", "/start: missing argument (usage: /start AGENT TEXT...)");
    expect_failure(&h, "/start cs", "/start: missing argument (usage: /start AGENT TEXT...)");
    expect_failure(&h, "/start nobody hello", "no agent named \"nobody\" (agents: cs, billing)");
    expect_failure(&h, "@nobody hello", "no agent named \"nobody\" (agents: cs, billing)");
    expect_failure(&h, "/agent", "/agent needs a subcommand: create, list, show, update, delete");
    expect_failure(&h, "/agent frob x",
                   "/agent: unknown subcommand \"frob\" (expected one of create, list, show, "
                   "update, delete)");
    expect_failure(&h, "/agent show", "/agent show: missing argument (usage: /agent show NAME)");
    expect_failure(&h, "/agent show cs billing", "/agent show: too many arguments (usage: /agent show NAME)");
    expect_failure(&h, "/agent create x --colour red",
                   "/agent create: unknown flag --colour (expected --model, --description, --instructions, --tool, "
                   "--handoff, --temperature, --max-tokens)");
    expect_failure(&h, "/agent create x --model", "/agent create: --model needs a value (M)");
    expect_failure(&h, "/agent create x --model a --model b", "/agent create: --model is given twice");
    expect_failure(&h, "/agent show \"open", "unterminated \" quote at column 13");
    expect_failure(&h, "/append hello", "no conversation yet: start one with /start AGENT TEXT");
    expect_failure(&h, "/history", "no conversation yet: start one with /start AGENT TEXT");
    expect_failure(&h, "/restart msg_9999 again", "no entry with id \"msg_9999\" (see /history)");
    expect_failure(&h, "/help frob", "no command named /frob (/help lists them)");
    /* Nothing ran. */
    assert_int_equal(harness_count(&h, "run.started"), 0);
    assert_int_equal(h.session->conversations.len, 0);
    harness_fini(&h);

    harness_init(&h, NULL, 0);
    expect_failure(&h, "hello", "no agents yet: create one with /agent create NAME, or open a profile");
    harness_fini(&h);
}

static void text_without_a_conversation_starts_one(void **state)
{
    struct harness h;

    harness_init(&h, team_json, 0);
    /* Plain text goes to the team's first agent, its entry point. */
    assert_int_equal(harness_exec(&h, "I was charged twice"), CMD_OK);
    assert_string_equal(harness_str(harness_event(&h, "conversation.started", 0), "agent"), "cs");
    assert_string_equal(harness_str(harness_event(&h, "message.output", 0), "agent"), "billing");
    harness_fini(&h);

    harness_init(&h, team_json, 0);
    assert_int_equal(harness_exec(&h, "@billing hello"), CMD_OK);
    assert_string_equal(harness_str(harness_event(&h, "conversation.started", 0), "agent"), "billing");
    assert_string_equal(harness_str(harness_event(&h, "message.output", 0), "content"), "billing here: hello");
    harness_fini(&h);
}

static void agent_create_show_update_delete(void **state)
{
    struct harness h;
    const cJSON *def, *tools;

    harness_init(&h, team_json, 0);
    assert_int_equal(harness_exec(&h, "/agent create writer --model mistral-small-latest --description 'Writes.' "
                                      "--instructions \"Be brief.\" --tool web_search --tool function:lookup "
                                      "--handoff cs --temperature 0.7 --max-tokens=300"),
                     CMD_OK);
    def = cJSON_GetObjectItemCaseSensitive(harness_event(&h, "agent.created", 0), "definition");
    assert_string_equal(harness_str(def, "model"), "mistral-small-latest");
    assert_string_equal(harness_str(def, "description"), "Writes.");
    assert_string_equal(harness_str(def, "instructions"), "Be brief.");
    tools = cJSON_GetObjectItemCaseSensitive(def, "tools");
    assert_int_equal(cJSON_GetArraySize(tools), 2);
    assert_string_equal(harness_str(cJSON_GetArrayItem(tools, 0), "type"), "web_search");
    /* The function tool took its description from the profile. */
    assert_string_equal(
        harness_str(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(tools, 1), "function"), "description"),
        "Look a thing up.");
    assert_true(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(def, "completion_args"), "temperature")
            ->valuedouble == 0.7);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(def, "handoffs"), 0)->valuestring, "cs");

    assert_int_equal(harness_exec(&h, "/agent update writer --temperature 0.2 --handoff billing"), CMD_OK);
    def = cJSON_GetObjectItemCaseSensitive(harness_event(&h, "agent.updated", 0), "definition");
    assert_string_equal(harness_str(def, "model"), "mistral-small-latest");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(def, "handoffs")), 1);

    assert_int_equal(harness_exec(&h, "/agent list"), CMD_OK);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(harness_event(&h, "agent.list", 0), "agents")),
                     3);

    expect_failure(&h, "/agent delete billing",
                   "cannot delete \"billing\": cs hands off to it (remove that handoff first)");
    assert_int_equal(harness_exec(&h, "/agent delete writer"), CMD_OK);
    assert_string_equal(harness_str(harness_event(&h, "agent.deleted", 0), "agent"), "writer");
    expect_failure(&h, "/agent show writer", "no agent named \"writer\" (agents: cs, billing)");
    harness_fini(&h);
}

static void a_bad_flag_changes_nothing(void **state)
{
    struct harness h;
    const cJSON *def;

    harness_init(&h, team_json, 0);
    expect_failure(&h, "/agent create cs", "an agent named \"cs\" already exists (use /agent update)");
    expect_failure(&h, "/agent create 'bad name'",
                   "\"bad name\" is not a valid agent name (expected 1 to 64 "
                   "letters, digits, _ or -, not starting with -)");
    expect_failure(&h, "/agent create -- --x",
                   "\"--x\" is not a valid agent name (expected 1 to 64 letters, "
                   "digits, _ or -, not starting with -)");
    expect_failure(&h, "/agent create x --handoff x", "--handoff x: an agent cannot hand off to itself");
    assert_int_equal(harness_exec(&h, "/agent create ops"), CMD_OK);
    expect_failure(&h, "/agent update cs --model new --temperature 3",
                   "completion_args.temperature: expected a number from 0 to 1, got 3");
    expect_failure(&h, "/agent update cs --model new --handoff nobody", "--handoff nobody: no agent named \"nobody\"");
    expect_failure(&h, "/agent update cs --handoff cs", "--handoff cs: an agent cannot hand off to itself");
    expect_failure(&h, "/agent update cs --tool telepathy",
                   "--tool telepathy: type: expected one of function, web_search, web_search_premium, "
                   "code_interpreter, image_generation, document_library, connector, got \"telepathy\"");
    expect_failure(&h, "/agent update cs --tool function:nope",
                   "--tool function:nope: function.name: no function named \"nope\" in functions");
    /* cs's offline rule hands off to billing: dropping that handoff would strand it. */
    expect_failure(&h, "/agent update cs --handoff ops",
                   "cs's offline rule 1 hands off to \"billing\", which would no longer be among its handoffs");
    expect_failure(&h, "/agent update cs --temperature warm", "--temperature: \"warm\" is not a number");
    expect_failure(&h, "/agent update cs", "/agent update cs: nothing to change (give at least one flag; /help agent)");
    assert_int_equal(harness_exec(&h, "/agent show cs"), CMD_OK);
    def = cJSON_GetObjectItemCaseSensitive(harness_event(&h, "agent.show", 0), "definition");
    assert_string_equal(harness_str(def, "model"), "mistral-medium-latest");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(def, "handoffs")), 1);
    assert_int_equal(h.session->team->agents.len, 3);
    harness_fini(&h);
}

static void conversation_commands(void **state)
{
    struct harness h;
    const cJSON *history, *started;
    char line[128];

    harness_init(&h, team_json, 0);
    assert_int_equal(harness_exec(&h, "/start cs hello"), CMD_OK);
    assert_string_equal(harness_str(harness_event(&h, "message.output", 0), "content"), "cs here");
    /* Plain text goes to the conversation's current agent. */
    assert_int_equal(harness_exec(&h, "I was charged twice"), CMD_OK);
    assert_string_equal(harness_str(harness_event(&h, "message.output", 1), "agent"), "billing");
    assert_int_equal(harness_exec(&h, "/append   and \"again\""), CMD_OK);
    /* TEXT... is the rest of the line as typed, quotes and all. */
    assert_string_equal(harness_str(harness_event(&h, "message.input", 2), "content"), "and \"again\"");
    assert_string_equal(harness_str(harness_event(&h, "message.output", 2), "content"), "billing here: and \"again\"");
    /* @AGENT takes the text as typed. */
    assert_int_equal(harness_exec(&h, "@cs  back to \"you\""), CMD_OK);
    assert_string_equal(harness_str(harness_event(&h, "message.input", 3), "agent"), "cs");
    assert_string_equal(harness_str(harness_event(&h, "message.input", 3), "content"), "back to \"you\"");
    assert_int_equal(harness_exec(&h, "@billing it's wrong"), CMD_OK);
    assert_string_equal(harness_str(harness_event(&h, "message.input", 4), "content"), "it's wrong");

    assert_int_equal(harness_exec(&h, "/history"), CMD_OK);
    history = harness_event(&h, "conversation.history", 0);
    assert_string_equal(harness_str(history, "conversation"), "c1");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(history, "entries")), 11);

    snprintf(line, sizeof line, "/restart %s try again",
             harness_str(harness_event(&h, "message.output", 0), "entry_id"));
    assert_int_equal(harness_exec(&h, line), CMD_OK);
    started = harness_event(&h, "conversation.started", 1);
    assert_string_equal(harness_str(started, "conversation"), "c2");
    assert_string_equal(harness_str(started, "parent"), "c1");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(started, "carried")->valueint, 2);
    assert_string_equal(h.session->focused->id, "c2");
    assert_int_equal(h.session->focused->entries.len, 4);
    expect_failure(&h, "/history c9", "no conversation named \"c9\"");
    harness_fini(&h);
}

static void delete_refuses_an_agent_the_profile_names(void **state)
{
    /* clang-format off */
    static const char *const profile =
        "{\"agents\": [{\"name\": \"cs\"}, {\"name\": \"tech\"}, {\"name\": \"r1\"}, {\"name\": \"r2\"},"
        "  {\"name\": \"idle\"}],"
        " \"routes\": {\"Technical\": \"tech\"},"
        " \"workflows\": {\"research\": {\"pattern\": \"fanout\", \"agents\": [\"r1\", \"r2\"]}}}";
    /* clang-format on */
    struct harness h;

    harness_init(&h, profile, 0);
    expect_failure(&h, "/agent delete tech", "cannot delete \"tech\": route \"technical\" goes to it");
    expect_failure(&h, "/agent delete r2", "cannot delete \"r2\": workflow \"research\" uses it");
    assert_int_equal(h.session->team->agents.len, 5);
    assert_int_equal(harness_exec(&h, "/agent delete idle"), CMD_OK);
    assert_int_equal(h.session->team->agents.len, 4);
    harness_fini(&h);
}

static void help_comes_from_the_table(void **state)
{
    struct harness h;
    const char *text;

    harness_init(&h, NULL, 0);
    assert_int_equal(harness_exec(&h, "/help"), CMD_OK);
    text = harness_str(harness_event(&h, "help", 0), "text");
    for (const struct command_spec *c = command_table(); c->name; c++) {
        char want[64];
        snprintf(want, sizeof want, "/%s ", c->name);
        assert_non_null(strstr(text, want));
    }
    assert_int_equal(harness_exec(&h, "/help /agent"), CMD_OK);
    text = harness_str(harness_event(&h, "help", 1), "text");
    assert_non_null(strstr(text, "/agent create NAME [FLAG]..."));
    assert_non_null(strstr(text, "    --handoff NAME       an agent it may hand off to; repeatable\n"));
    assert_int_equal(harness_exec(&h, "/quit"), CMD_QUIT);
    assert_int_equal(harness_exec(&h, "   "), CMD_OK);
    harness_fini(&h);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_lines_name_the_problem),
        cmocka_unit_test(text_without_a_conversation_starts_one),
        cmocka_unit_test(agent_create_show_update_delete),
        cmocka_unit_test(a_bad_flag_changes_nothing),
        cmocka_unit_test(conversation_commands),
        cmocka_unit_test(delete_refuses_an_agent_the_profile_names),
        cmocka_unit_test(help_comes_from_the_table),
    };
    /* clang-format on */
    return cmocka_run_group_tests_name("commands", tests, NULL, NULL);
}
