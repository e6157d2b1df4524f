/* Profiles: every error message a user can meet, the defaults, and the two
 * shipped profiles behaving as their offline demos promise. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/xalloc.h"
#include "model/profile.h"

#define FILE_NAME "profiles/x.json"

/* Test profiles are written with single quotes to keep them readable in C;
 * every ' becomes a ". Returns a new string. */
static char *dq(const char *squoted)
{
    char *s = xstrdup(squoted);

    for (char *p = s; *p; p++) {
        if (*p == '\'')
            *p = '"';
    }
    return s;
}

static struct team *parse_sq(const char *squoted, char **error)
{
    char *text = dq(squoted);
    struct team *team;

    *error = NULL;
    team = profile_parse(text, FILE_NAME, error);
    free(text);
    return team;
}

/* A profile that must fail with exactly this message. */
struct error_case {
    const char *profile; /* single-quoted JSON */
    const char *message;
};

static void check_error_cases(const struct error_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *error = NULL;
        struct team *team = parse_sq(cases[i].profile, &error);

        if (team) {
            team_free(team);
            fail_msg("loaded, but expected an error\n  profile:  %s\n  expected: %s", cases[i].profile,
                     cases[i].message);
        }
        if (!error)
            fail_msg("no message\n  profile: %s", cases[i].profile);
        if (strcmp(error, cases[i].message) != 0) {
            print_error("  profile:  %s\n  got:      %s\n  expected: %s\n", cases[i].profile, error, cases[i].message);
            free(error);
            fail();
        }
        free(error);
    }
}

#define CHECK_ERRORS(cases) check_error_cases(cases, sizeof cases / sizeof cases[0])

/* A profile that must load; the caller frees the team. */
static struct team *must_parse(const char *squoted)
{
    char *error = NULL;
    struct team *team = parse_sq(squoted, &error);

    if (!team)
        fail_msg("did not load: %s\n  profile: %s", error, squoted);
    return team;
}

static const char *srcdir(void)
{
    const char *dir = getenv("srcdir");
    return dir && *dir ? dir : ".";
}

/* The first rule of agent that matches input, as the offline backend tries
 * them; fills groups with the captures. */
static const struct offline_rule *first_rule(const struct agent *a, const char *input, regmatch_t groups[10])
{
    for (size_t i = 0; i < a->rules.len; i++) {
        const struct offline_rule *r = a->rules.items[i];
        if (!r->when) {
            memset(groups, -1, 10 * sizeof *groups);
            return r;
        }
        if (regexec(&r->when_re, input, 10, groups, 0) == 0)
            return r;
    }
    return NULL;
}

static char *group(const char *input, const regmatch_t *m)
{
    assert_true(m->rm_so >= 0);
    return xstrndup(input + m->rm_so, (size_t)(m->rm_eo - m->rm_so));
}

/* ---- Errors, area by area ---- */

static void test_json_errors(void **state)
{
    static const struct error_case cases[] = {
        {"", FILE_NAME ": line 1, column 1: not valid JSON"},
        {"{} x", FILE_NAME ": line 1, column 4: not valid JSON"},
        {"{\n  'agents': [\n    {'name': 'cs',}\n  ]\n}", FILE_NAME ": line 3, column 19: not valid JSON"},
        {"{\n  'name': 'caf\xc3\xa9' 'agents': []\n}", FILE_NAME ": line 2, column 18: not valid JSON"},
        {"[]", FILE_NAME ": expected a JSON object with \"agents\""},
        {"'agents'", FILE_NAME ": expected a JSON object with \"agents\""},
    };
    (void)state;
    CHECK_ERRORS(cases);
}

#define TEAM_FIELDS \
    "name, description, max_turns, functions, mcp, agents, routes, markers, prompts, state, handlers, workflows"

static void test_top_level_errors(void **state)
{
    static const struct error_case cases[] = {
        {"{}", FILE_NAME ": agents: missing, expected an array of agents"},
        {"{'agents': {}}", FILE_NAME ": agents: expected an array of agents"},
        {"{'agents': []}", FILE_NAME ": agents: expected at least one agent"},
        {"{'agent': [{'name': 'a'}]}", FILE_NAME ": agent: unknown field (expected one of " TEAM_FIELDS ")"},
        {"{'mcps': [], 'agents': [{'name': 'a'}]}",
         FILE_NAME ": mcps: unknown field (expected one of " TEAM_FIELDS ")"},
        {"{'my key': 1, 'agents': [{'name': 'a'}]}",
         FILE_NAME ": [\"my key\"]: unknown field (expected one of " TEAM_FIELDS ")"},
        {"{'name': 1, 'agents': [{'name': 'a'}]}", FILE_NAME ": name: expected a string"},
        {"{'description': [], 'agents': [{'name': 'a'}]}", FILE_NAME ": description: expected a string"},
        {"{'max_turns': 0, 'agents': [{'name': 'a'}]}", FILE_NAME ": max_turns: expected an integer >= 1, got 0"},
        {"{'max_turns': 2.5, 'agents': [{'name': 'a'}]}", FILE_NAME ": max_turns: expected an integer >= 1, got 2.5"},
        {"{'max_turns': '3', 'agents': [{'name': 'a'}]}", FILE_NAME ": max_turns: expected an integer >= 1"},
        {"{'max_turns': 1e10, 'agents': [{'name': 'a'}]}",
         FILE_NAME ": max_turns: expected an integer from 1 to 2147483647, got 10000000000"},
        {"{'agents': [{'name': 'a'}], 'agents': [{'name': 'b'}]}", FILE_NAME ": agents: duplicate key"},
    };
    (void)state;
    CHECK_ERRORS(cases);
}

static void test_function_errors(void **state)
{
    static const struct error_case cases[] = {
        {"{'functions': [], 'agents': [{'name': 'a'}]}",
         FILE_NAME ": functions: expected an object mapping function names to commands"},
        {"{'functions': {'get rate': ['x']}, 'agents': [{'name': 'a'}]}",
         FILE_NAME ": functions: \"get rate\" is not a valid function name (expected 1 to 64 letters, digits, _ or -)"},
        {"{'functions': {'': ['x']}, 'agents': [{'name': 'a'}]}",
         FILE_NAME ": functions: \"\" is not a valid function name (expected 1 to 64 letters, digits, _ or -)"},
        {"{'functions': {'f': ['x'], 'f': ['y']}, 'agents': [{'name': 'a'}]}",
         FILE_NAME ": functions.f: duplicate key"},
        {"{'functions': {'f': 'ls -l'}, 'agents': [{'name': 'a'}]}",
         FILE_NAME ": functions.f: expected a command (an array of strings) or an object with \"command\""},
        {"{'functions': {'f': []}, 'agents': [{'name': 'a'}]}",
         FILE_NAME ": functions.f: expected a non-empty array of strings"},
        {"{'functions': {'f': ['ls', 1]}, 'agents': [{'name': 'a'}]}", FILE_NAME ": functions.f[1]: expected a string"},
        {"{'functions': {'f': ['']}, 'agents': [{'name': 'a'}]}",
         FILE_NAME ": functions.f[0]: expected a non-empty string"},
        {"{'functions': {'f': {}}, 'agents': [{'name': 'a'}]}",
         FILE_NAME ": functions.f.command: missing, expected an array of strings"},
        {"{'functions': {'f': {'command': 'ls'}}, 'agents': [{'name': 'a'}]}",
         FILE_NAME ": functions.f.command: expected a non-empty array of strings"},
        {"{'functions': {'f': {'command': ['ls'], 'cmd': 1}}, 'agents': [{'name': 'a'}]}", FILE_NAME
         ": functions.f.cmd: unknown field (expected one of command, timeout, description, parameters, auto)"},
        {"{'functions': {'f': {'command': ['ls'], 'auto': 'yes'}}, 'agents': [{'name': 'a'}]}",
         FILE_NAME ": functions.f.auto: expected true or false"},
        {"{'functions': {'f': {'command': ['ls'], 'timeout': 0}}, 'agents': [{'name': 'a'}]}",
         FILE_NAME ": functions.f.timeout: expected a number > 0, got 0"},
        {"{'functions': {'f': {'command': ['ls'], 'timeout': -1.5}}, 'agents': [{'name': 'a'}]}",
         FILE_NAME ": functions.f.timeout: expected a number > 0, got -1.5"},
        {"{'functions': {'f': {'command': ['ls'], 'timeout': '10'}}, 'agents': [{'name': 'a'}]}",
         FILE_NAME ": functions.f.timeout: expected a number > 0"},
        {"{'functions': {'f': {'command': ['ls'], 'timeout': 100000}}, 'agents': [{'name': 'a'}]}",
         FILE_NAME ": functions.f.timeout: expected at most 86400 seconds, got 100000"},
        {"{'functions': {'f': {'command': ['ls'], 'description': 1}}, 'agents': [{'name': 'a'}]}",
         FILE_NAME ": functions.f.description: expected a string"},
        {"{'functions': {'f': {'command': ['ls'], 'parameters': []}}, 'agents': [{'name': 'a'}]}",
         FILE_NAME ": functions.f.parameters: expected an object"},
    };
    (void)state;
    CHECK_ERRORS(cases);
}

#define AGENT_FIELDS                                                                                        \
    "name, model, description, instructions, tools, completion_args, handoffs, demonstrations, max_turns, " \
    "metadata, guardrails, offline"

static void test_agent_errors(void **state)
{
    static const struct error_case cases[] = {
        {"{'agents': [1]}", FILE_NAME ": agents[0]: expected an object"},
        {"{'agents': [{}]}", FILE_NAME ": agents[0].name: missing, expected a string"},
        {"{'agents': [{'name': 5}]}", FILE_NAME ": agents[0].name: expected a string"},
        {"{'agents': [{'name': 'front desk'}]}",
         FILE_NAME ": agents[0].name: \"front desk\" is not a valid name (expected 1 to 64 letters, digits, _ or -, "
                   "not starting with -)"},
        {"{'agents': [{'name': '-x'}]}",
         FILE_NAME ": agents[0].name: \"-x\" is not a valid name (expected 1 to 64 letters, digits, _ or -, not "
                   "starting with -)"},
        {"{'agents': [{'name': ''}]}", FILE_NAME
         ": agents[0].name: \"\" is not a valid name (expected 1 to 64 letters, digits, _ or -, not starting with -)"},
        {"{'agents': [{'name': "
         "'a1234567890123456789012345678901234567890123456789012345678901234'}]}",
         FILE_NAME ": agents[0].name: \"a1234567890123456789012345678901234567890123456789012345678901234\" is not "
                   "a valid name (expected 1 to 64 letters, digits, _ or -, not starting with -)"},
        {"{'agents': [{'name': 'cs'}, {'name': 'cs'}]}",
         FILE_NAME ": agents[1].name: \"cs\" is already defined by agents[0]"},
        {"{'agents': [{'name': 'a'}, {'name': 'cs'}, {'name': 'cs'}]}",
         FILE_NAME ": agents[2].name: \"cs\" is already defined by agents[1]"},
        {"{'agents': [{'name': 'a', 'guardrails': {}}]}",
         FILE_NAME ": agents[0].guardrails: expected an array of guardrail objects"},
        {"{'agents': [{'name': 'a', 'guardrails': [{'block_on_error': 1}]}]}",
         FILE_NAME ": agents[0].guardrails[0].block_on_error: expected true or false"},
        {"{'agents': [{'name': 'a', 'guardrails': [{'moderation_llm_v1': 'strict'}]}]}",
         FILE_NAME ": agents[0].guardrails[0].moderation_llm_v1: expected an object"},
        {"{'agents': [{'name': 'a', 'guardrails': [{'block': true}]}]}",
         FILE_NAME ": agents[0].guardrails[0].block: unknown field (expected one of block_on_error, "
                   "moderation_llm_v1, moderation_llm_v2)"},
        {"{'agents': [{'name': 'a', 'temperature': 0.2}]}",
         FILE_NAME ": agents[0].temperature: unknown field (expected one of " AGENT_FIELDS ")"},
        {"{'agents': [{'name': 'a', 'Model': 'x'}]}",
         FILE_NAME ": agents[0].Model: unknown field (expected one of " AGENT_FIELDS ")"},
        {"{'agents': [{'name': 'a', 'name': 'b'}]}", FILE_NAME ": agents[0].name: duplicate key"},
        {"{'agents': [{'name': 'a', 'model': ''}]}", FILE_NAME ": agents[0].model: expected a non-empty string"},
        {"{'agents': [{'name': 'a', 'model': null}]}", FILE_NAME ": agents[0].model: expected a non-empty string"},
        {"{'agents': [{'name': 'a', 'description': 1}]}", FILE_NAME ": agents[0].description: expected a string"},
        {"{'agents': [{'name': 'a', 'instructions': ['x']}]}", FILE_NAME ": agents[0].instructions: expected a string"},
        {"{'agents': [{'name': 'a', 'max_turns': 0}]}",
         FILE_NAME ": agents[0].max_turns: expected an integer >= 1, got 0"},
        {"{'agents': [{'name': 'a', 'max_turns': true}]}", FILE_NAME ": agents[0].max_turns: expected an integer >= 1"},
        {"{'agents': [{'name': 'a', 'metadata': []}]}", FILE_NAME ": agents[0].metadata: expected an object"},
        {"{'agents': [{'name': 'a', 'tools': {}}]}", FILE_NAME ": agents[0].tools: expected an array of tools"},
        {"{'agents': [{'name': 'a', 'completion_args': []}]}",
         FILE_NAME ": agents[0].completion_args: expected an object"},
        {"{'agents': [{'name': 'a', 'demonstrations': {}}]}",
         FILE_NAME ": agents[0].demonstrations: expected an array of {\"input\", \"output\"} objects"},
        {"{'agents': [{'name': 'a', 'demonstrations': ['hi']}]}",
         FILE_NAME ": agents[0].demonstrations[0]: expected an object"},
        {"{'agents': [{'name': 'a', 'demonstrations': [{'input': 'hi'}]}]}",
         FILE_NAME ": agents[0].demonstrations[0].output: missing, expected a string"},
        {"{'agents': [{'name': 'a', 'demonstrations': [{'input': 'hi', 'output': 2}]}]}",
         FILE_NAME ": agents[0].demonstrations[0].output: expected a string"},
        {"{'agents': [{'name': 'a', 'demonstrations': [{'input': 'a', 'output': 'b', 'note': 'c'}]}]}",
         FILE_NAME ": agents[0].demonstrations[0].note: unknown field (expected one of input, output)"},
    };
    (void)state;
    CHECK_ERRORS(cases);
}

static void test_handoff_errors(void **state)
{
    static const struct error_case cases[] = {
        {"{'agents': [{'name': 'a', 'handoffs': 'b'}]}",
         FILE_NAME ": agents[0].handoffs: expected an array of agent names"},
        {"{'agents': [{'name': 'a', 'handoffs': [1]}]}", FILE_NAME ": agents[0].handoffs[0]: expected a string"},
        {"{'agents': [{'name': 'cs', 'handoffs': ['billing']}, {'name': 'sales'}, "
         "{'name': 'billing', 'handoffs': ['biling']}]}",
         FILE_NAME ": agents[2].handoffs[0]: no agent named \"biling\""},
        {"{'agents': [{'name': 'a', 'handoffs': ['bi\\'ling']}]}",
         FILE_NAME ": agents[0].handoffs[0]: no agent named \"bi\\\"ling\""},
        {"{'agents': [{'name': 'a', 'handoffs': ['a']}]}",
         FILE_NAME ": agents[0].handoffs[0]: an agent cannot hand off to itself"},
        {"{'agents': [{'name': 'a', 'handoffs': ['b', 'b']}, {'name': 'b'}]}",
         FILE_NAME ": agents[0].handoffs[1]: \"b\" is listed twice"},
    };
    (void)state;
    CHECK_ERRORS(cases);
}

#define FN_PROFILE(tools) \
    "{'functions': {'f': ['x'], 'get_rate': ['y']}, 'agents': [{'name': 'a', 'tools': " tools "}]}"
#define TOOL_TYPES \
    "function, web_search, web_search_premium, code_interpreter, image_generation, document_library, connector"

static void test_tool_errors(void **state)
{
    static const struct error_case cases[] = {
        {FN_PROFILE("[1]"), FILE_NAME ": agents[0].tools[0]: expected an object"},
        {FN_PROFILE("[{}]"), FILE_NAME ": agents[0].tools[0].type: missing, expected one of " TOOL_TYPES},
        {FN_PROFILE("[{'type': 3}]"), FILE_NAME ": agents[0].tools[0].type: expected one of " TOOL_TYPES},
        {FN_PROFILE("[{'type': 'retrieval'}]"),
         FILE_NAME ": agents[0].tools[0].type: expected one of " TOOL_TYPES ", got \"retrieval\""},
        {FN_PROFILE("[{'type': 'web_search', 'foo': 1}]"),
         FILE_NAME ": agents[0].tools[0].foo: unknown field (expected one of type, tool_configuration)"},
        {FN_PROFILE("[{'type': 'web_search', 'function': {'name': 'f'}}]"),
         FILE_NAME ": agents[0].tools[0].function: unknown field (expected one of type, tool_configuration)"},
        {FN_PROFILE("[{'type': 'function', 'tool_configuration': {}}]"),
         FILE_NAME ": agents[0].tools[0].tool_configuration: unknown field (expected one of type, function)"},
        {FN_PROFILE("[{'type': 'function'}]"),
         FILE_NAME ": agents[0].tools[0].function: missing, expected an object with name, description and parameters"},
        {FN_PROFILE("[{'type': 'function', 'function': 'f'}]"),
         FILE_NAME ": agents[0].tools[0].function: expected an object"},
        {FN_PROFILE("[{'type': 'function', 'function': {}}]"),
         FILE_NAME ": agents[0].tools[0].function.name: missing, expected a string"},
        {FN_PROFILE("[{'type': 'function', 'function': {'name': 'g'}}]"),
         FILE_NAME ": agents[0].tools[0].function.name: no function named \"g\" in functions"},
        {"{'agents': [{'name': 'a'}, {'name': 'ecb', 'tools': [{'type': 'function', "
         "'function': {'name': 'get_rate'}}]}]}",
         FILE_NAME ": agents[1].tools[0].function.name: no function named \"get_rate\" in functions"},
        {FN_PROFILE("[{'type': 'function', 'function': {'name': 'f', 'args': {}}}]"),
         FILE_NAME ": agents[0].tools[0].function.args: unknown field (expected one of name, description, "
                   "parameters, strict)"},
        {FN_PROFILE("[{'type': 'function', 'function': {'name': 'f', 'description': 1}}]"),
         FILE_NAME ": agents[0].tools[0].function.description: expected a string"},
        {FN_PROFILE("[{'type': 'function', 'function': {'name': 'f', 'parameters': 'x'}}]"),
         FILE_NAME ": agents[0].tools[0].function.parameters: expected an object"},
        {FN_PROFILE("[{'type': 'function', 'function': {'name': 'f', 'strict': 'yes'}}]"),
         FILE_NAME ": agents[0].tools[0].function.strict: expected true or false"},
        {FN_PROFILE("[{'type': 'function', 'function': {'name': 'f'}}, {'type': 'web_search'}, "
                    "{'type': 'function', 'function': {'name': 'f'}}]"),
         FILE_NAME ": agents[0].tools[2].function.name: \"f\" is already a tool of this agent (tools[0])"},
        {FN_PROFILE("[{'type': 'document_library'}]"),
         FILE_NAME ": agents[0].tools[0].library_ids: missing, expected a non-empty array of strings"},
        {FN_PROFILE("[{'type': 'document_library', 'library_ids': []}]"),
         FILE_NAME ": agents[0].tools[0].library_ids: expected a non-empty array of strings"},
        {FN_PROFILE("[{'type': 'document_library', 'library_ids': ['lib_1', 2]}]"),
         FILE_NAME ": agents[0].tools[0].library_ids[1]: expected a string"},
        {FN_PROFILE("[{'type': 'connector'}]"),
         FILE_NAME ": agents[0].tools[0].connector_id: missing, expected a string"},
        {FN_PROFILE("[{'type': 'connector', 'connector_id': ''}]"),
         FILE_NAME ": agents[0].tools[0].connector_id: expected a non-empty string"},
        {FN_PROFILE("[{'type': 'connector', 'connector_id': 'c', 'authorization': {'type': 'basic', 'value': 'v'}}]"),
         FILE_NAME ": agents[0].tools[0].authorization.type: expected one of oauth2-token, api-key, got \"basic\""},
        {FN_PROFILE("[{'type': 'connector', 'connector_id': 'c', 'authorization': {'type': 'api-key'}}]"),
         FILE_NAME ": agents[0].tools[0].authorization.value: missing, expected a string"},
        {FN_PROFILE("[{'type': 'code_interpreter', 'tool_configuration': {'include': 'x'}}]"),
         FILE_NAME ": agents[0].tools[0].tool_configuration.include: expected an array of strings"},
        {FN_PROFILE("[{'type': 'web_search_premium', 'tool_configuration': {'exclude': [1]}}]"),
         FILE_NAME ": agents[0].tools[0].tool_configuration.exclude[0]: expected a string"},
        {FN_PROFILE("[{'type': 'image_generation', 'tool_configuration': {'only': []}}]"),
         FILE_NAME ": agents[0].tools[0].tool_configuration.only: unknown field (expected one of include, exclude, "
                   "requires_confirmation)"},
        {FN_PROFILE("[{'type': 'web_search', 'tool_configuration': []}]"),
         FILE_NAME ": agents[0].tools[0].tool_configuration: expected an object"},
    };
    (void)state;
    CHECK_ERRORS(cases);
}

#define ARGS_PROFILE(args) "{'agents': [{'name': 'a', 'completion_args': " args "}]}"
#define ARGS_AT FILE_NAME ": agents[0].completion_args"
#define ARGS_FIELDS                                                                                             \
    "temperature, top_p, max_tokens, stop, random_seed, presence_penalty, frequency_penalty, response_format, " \
    "tool_choice, prediction, reasoning_effort"

static void test_completion_args_errors(void **state)
{
    static const struct error_case cases[] = {
        {ARGS_PROFILE("{'temperature': 1.5}"), ARGS_AT ".temperature: expected a number from 0 to 1, got 1.5"},
        {ARGS_PROFILE("{'temperature': -0.1}"), ARGS_AT ".temperature: expected a number from 0 to 1, got -0.1"},
        {ARGS_PROFILE("{'temperature': 'hot'}"), ARGS_AT ".temperature: expected a number from 0 to 1"},
        {ARGS_PROFILE("{'top_p': 2}"), ARGS_AT ".top_p: expected a number from 0 to 1, got 2"},
        {ARGS_PROFILE("{'max_tokens': -1}"), ARGS_AT ".max_tokens: expected an integer >= 0, got -1"},
        {ARGS_PROFILE("{'max_tokens': 10.5}"), ARGS_AT ".max_tokens: expected an integer >= 0, got 10.5"},
        {ARGS_PROFILE("{'random_seed': '42'}"), ARGS_AT ".random_seed: expected an integer >= 0"},
        {ARGS_PROFILE("{'presence_penalty': 3}"), ARGS_AT ".presence_penalty: expected a number from -2 to 2, got 3"},
        {ARGS_PROFILE("{'frequency_penalty': -2.5}"),
         ARGS_AT ".frequency_penalty: expected a number from -2 to 2, got -2.5"},
        {ARGS_PROFILE("{'stop': 1}"), ARGS_AT ".stop: expected a string or an array of strings"},
        {ARGS_PROFILE("{'stop': ['a', 1]}"), ARGS_AT ".stop: expected a string or an array of strings"},
        {ARGS_PROFILE("{'response_format': 'json'}"), ARGS_AT ".response_format: expected an object"},
        {ARGS_PROFILE("{'response_format': {'type': 'xml'}}"),
         ARGS_AT ".response_format.type: expected one of text, json_object, json_schema, got \"xml\""},
        {ARGS_PROFILE("{'response_format': {'type': 'text', 'schema': {}}}"),
         ARGS_AT ".response_format.schema: unknown field (expected one of type, json_schema)"},
        {ARGS_PROFILE("{'response_format': {'type': 'json_schema'}}"),
         ARGS_AT ".response_format.json_schema: missing, expected an object with name and schema"},
        {ARGS_PROFILE("{'response_format': {'type': 'json_schema', 'json_schema': {'name': 'book'}}}"),
         ARGS_AT ".response_format.json_schema.schema: missing, expected an object"},
        {ARGS_PROFILE("{'response_format': {'type': 'json_schema', 'json_schema': {'schema': {}}}}"),
         ARGS_AT ".response_format.json_schema.name: missing, expected a string"},
        {ARGS_PROFILE("{'response_format': {'type': 'json_schema', 'json_schema': {'name': 'b', 'schema': {}, "
                      "'strict': 1}}}"),
         ARGS_AT ".response_format.json_schema.strict: expected true or false"},
        {ARGS_PROFILE("{'tool_choice': 'sometimes'}"),
         ARGS_AT ".tool_choice: expected one of auto, none, any, required, got \"sometimes\""},
        {ARGS_PROFILE("{'tool_choice': {'type': 'function'}}"),
         ARGS_AT ".tool_choice: expected one of auto, none, any, required"},
        {ARGS_PROFILE("{'prediction': {'type': 'content', 'content': 1}}"),
         ARGS_AT ".prediction.content: expected a string"},
        {ARGS_PROFILE("{'prediction': {'type': 'text'}}"),
         ARGS_AT ".prediction.type: expected one of content, got \"text\""},
        {ARGS_PROFILE("{'reasoning_effort': 'max'}"),
         ARGS_AT ".reasoning_effort: expected one of none, minimal, low, medium, high, xhigh, got \"max\""},
        {ARGS_PROFILE("{'n': 2}"), ARGS_AT ".n: unknown field (expected one of " ARGS_FIELDS ")"},
        {ARGS_PROFILE("{'parallel_tool_calls': true}"),
         ARGS_AT ".parallel_tool_calls: unknown field (expected one of " ARGS_FIELDS ")"},
    };
    (void)state;
    CHECK_ERRORS(cases);
}

#define RULES_PROFILE(rules)                                                   \
    "{'functions': {'f': ['x']}, 'agents': [{'name': 'a', 'handoffs': ['b'], " \
    "'tools': [{'type': 'function', 'function': {'name': 'f'}}], 'offline': " rules "}, {'name': 'b'}]}"
#define RULES_AT FILE_NAME ": agents[0].offline"

#define MCP_SERVER "{'name': 'ev', 'command': ['node', 'srv.js']}"
#define MCP_PROFILE(servers) "{'mcp': " servers ", 'agents': [{'name': 'a'}]}"
#define MCP_TOOLS_PROFILE(tools) "{'mcp': [" MCP_SERVER "], 'agents': [{'name': 'a', 'tools': " tools "}]}"

static void test_mcp_errors(void **state)
{
    static const struct error_case cases[] = {
        {MCP_PROFILE("{}"),
         FILE_NAME ": mcp: expected an array of servers ({\"name\", \"command\": [...]} or {\"name\", \"url\"})"},
        {MCP_PROFILE("['x']"), FILE_NAME ": mcp[0]: expected an object"},
        {MCP_PROFILE("[{'command': ['x']}]"), FILE_NAME ": mcp[0].name: missing, expected a string"},
        {MCP_PROFILE("[{'name': 'a__b', 'command': ['x']}]"),
         FILE_NAME ": mcp[0].name: \"a__b\" is not a valid server name (expected 1 to 32 letters, digits, _ or -, "
                   "without \"__\")"},
        {MCP_PROFILE("[{'name': 'a.b', 'command': ['x']}]"),
         FILE_NAME ": mcp[0].name: \"a.b\" is not a valid server name (expected 1 to 32 letters, digits, _ or -, "
                   "without \"__\")"},
        {MCP_PROFILE("[" MCP_SERVER ", " MCP_SERVER "]"),
         FILE_NAME ": mcp[1].name: \"ev\" is already the name of another server"},
        {MCP_PROFILE("[{'name': 'ev'}]"),
         FILE_NAME ": mcp[0]: expected exactly one of command (a server to start) and url (a server to reach)"},
        {MCP_PROFILE("[{'name': 'ev', 'command': ['x'], 'url': 'http://h/mcp'}]"),
         FILE_NAME ": mcp[0]: expected exactly one of command (a server to start) and url (a server to reach)"},
        {MCP_PROFILE("[{'name': 'ev', 'command': []}]"),
         FILE_NAME ": mcp[0].command: expected a non-empty array of strings"},
        {MCP_PROFILE("[{'name': 'ev', 'url': 'ftp://h'}]"),
         FILE_NAME ": mcp[0].url: expected an http:// or https:// URL, got \"ftp://h\""},
        {MCP_PROFILE("[{'name': 'ev', 'url': 'http://h/mcp', 'env': {}}]"),
         FILE_NAME ": mcp[0].env: \"env\" goes with command only"},
        {MCP_PROFILE("[{'name': 'ev', 'command': ['x'], 'headers': {}}]"),
         FILE_NAME ": mcp[0].headers: \"headers\" goes with url only"},
        {MCP_PROFILE("[{'name': 'ev', 'command': ['x'], 'env': {'A': 1}}]"),
         FILE_NAME ": mcp[0].env.A: expected a string"},
        {MCP_PROFILE("[{'name': 'ev', 'url': 'http://h/mcp', 'headers': {'X-A': 'a\\nb'}}]"),
         FILE_NAME ": mcp[0].headers.X-A: a value may not hold a line break"},
        {MCP_PROFILE("[{'name': 'ev', 'url': 'http://h/mcp', 'transport': 'ws'}]"),
         FILE_NAME ": mcp[0].transport: expected one of http, sse, got \"ws\""},
        {MCP_PROFILE("[{'name': 'ev', 'command': ['x'], 'timeout': 0}]"),
         FILE_NAME ": mcp[0].timeout: expected a number > 0, got 0"},
        {MCP_PROFILE("[{'name': 'ev', 'command': ['x'], 'cmd': 'x'}]"), FILE_NAME
         ": mcp[0].cmd: unknown field (expected one of name, command, env, url, headers, transport, timeout)"},
        {"{'functions': {'ev__x': ['x']}, 'mcp': [" MCP_SERVER "], 'agents': [{'name': 'a'}]}",
         FILE_NAME ": mcp[0].name: the function \"ev__x\" would look like a tool of this server (ev__TOOL)"},
        {MCP_TOOLS_PROFILE("[{'type': 'mcp'}]"),
         FILE_NAME ": agents[0].tools[0].server: missing, expected the name of a server in mcp"},
        {MCP_TOOLS_PROFILE("[{'type': 'mcp', 'server': 'nope'}]"),
         FILE_NAME ": agents[0].tools[0].server: no MCP server named \"nope\" in mcp"},
        {MCP_TOOLS_PROFILE("[{'type': 'mcp', 'server': 'ev'}, {'type': 'mcp', 'server': 'ev'}]"),
         FILE_NAME ": agents[0].tools[1].server: \"ev\" is already used by another tool of this agent"},
        {MCP_TOOLS_PROFILE("[{'type': 'mcp', 'server': 'ev', 'tools': []}]"),
         FILE_NAME ": agents[0].tools[0].tools: expected a non-empty array of strings"},
        {MCP_TOOLS_PROFILE("[{'type': 'mcp', 'server': 'ev', 'tools': ['echo', 'echo']}]"),
         FILE_NAME ": agents[0].tools[0].tools[1]: \"echo\" is listed twice"},
        {MCP_TOOLS_PROFILE("[{'type': 'mcp', 'server': 'ev', 'only': ['echo']}]"),
         FILE_NAME ": agents[0].tools[0].only: unknown field (expected one of type, server, tools)"},
        {"{'mcp': [" MCP_SERVER "], 'agents': [{'name': 'a', 'offline': [{'call': {'name': 'ev__echo'}}]}]}",
         FILE_NAME ": agents[0].offline[0].call.name: \"ev__echo\" is not a function tool of this agent"},
    };
    (void)state;
    CHECK_ERRORS(cases);
}

/* MCP entries leave the tools (Mistral must never see them) for agent->mcp;
 * offline rules may call the server's tools by their function names. */
static void test_mcp_profile(void **state)
{
    struct team *team = must_parse(
        "{'mcp': [" MCP_SERVER ", {'name': 'web', 'url': 'http://127.0.0.1:9/mcp', 'headers': {'X-Key': 'k'}, "
        "'transport': 'sse', 'timeout': 5}],"
        " 'functions': {'f': ['true']},"
        " 'agents': [{'name': 'a', 'tools': [{'type': 'mcp', 'server': 'ev', 'tools': ['echo']},"
        " {'type': 'function', 'function': {'name': 'f'}}, {'type': 'mcp', 'server': 'web'}],"
        " 'offline': [{'call': {'name': 'ev__echo', 'arguments': {'message': 'hi'}}}]}]}");
    const struct agent *a = team->agents.items[0];
    const struct mcp_server_def *ev = team_find_mcp_server(team, "ev");
    const struct mcp_server_def *web = team_find_mcp_server(team, "web");
    char *tools = cJSON_PrintUnformatted(a->tools), *mcp = cJSON_PrintUnformatted(a->mcp);

    (void)state;
    assert_non_null(ev);
    assert_string_equal(ev->argv[0], "node");
    assert_null(ev->url);
    assert_int_equal(ev->timeout_ms, MCP_DEFAULT_TIMEOUT_MS);
    assert_non_null(web);
    assert_null(web->argv);
    assert_string_equal(web->url, "http://127.0.0.1:9/mcp");
    assert_true(web->legacy_sse);
    assert_int_equal(web->timeout_ms, 5000);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(web->headers, "X-Key")->valuestring, "k");
    assert_null(strstr(tools, "mcp"));
    assert_string_equal(mcp, "[{\"server\":\"ev\",\"tools\":[\"echo\"]},{\"server\":\"web\"}]");
    free(tools);
    free(mcp);
    team_free(team);
}

static void test_offline_errors(void **state)
{
    static const struct error_case cases[] = {
        {RULES_PROFILE("{}"), RULES_AT ": expected an array of rules"},
        {RULES_PROFILE("['hi']"), RULES_AT "[0]: expected an object"},
        {RULES_PROFILE("[{'say': 'ok'}, {'when': 'x'}]"), RULES_AT "[1]: expected exactly one of say, call, handoff"},
        {RULES_PROFILE("[{'say': 'ok', 'handoff': 'b'}]"), RULES_AT "[0]: expected exactly one of say, call, handoff"},
        {RULES_PROFILE("[{'say': 'ok', 'then': 'b'}]"),
         RULES_AT "[0].then: unknown field (expected one of when, say, call, handoff)"},
        {RULES_PROFILE("[{'when': 1, 'say': 'ok'}]"), RULES_AT "[0].when: expected a string"},
        {RULES_PROFILE("[{'say': 2}]"), RULES_AT "[0].say: expected a string"},
        {RULES_PROFILE("[{'handoff': 2}]"), RULES_AT "[0].handoff: expected a string"},
        {RULES_PROFILE("[{'handoff': 'billing'}]"),
         RULES_AT "[0].handoff: \"billing\" is not one of this agent's handoffs"},
        {RULES_PROFILE("[{'call': 'f'}]"), RULES_AT "[0].call: expected an object"},
        {RULES_PROFILE("[{'call': {}}]"), RULES_AT "[0].call.name: missing, expected a string"},
        {RULES_PROFILE("[{'call': {'name': 'f', 'args': {}}}]"),
         RULES_AT "[0].call.args: unknown field (expected one of name, arguments)"},
        {RULES_PROFILE("[{'call': {'name': 'get_rate'}}]"),
         RULES_AT "[0].call.name: \"get_rate\" is not a function tool of this agent"},
        {RULES_PROFILE("[{'call': {'name': 'f', 'arguments': ['x']}}]"),
         RULES_AT "[0].call.arguments: expected an object"},
        /* A function of the profile that is not a tool of this agent. */
        {"{'functions': {'f': ['x']}, 'agents': [{'name': 'a', 'offline': [{'call': {'name': 'f'}}]}]}",
         RULES_AT "[0].call.name: \"f\" is not a function tool of this agent"},
        {"{'agents': [{'name': 'a', 'handoffs': ['b']}, {'name': 'b', 'offline': [{'handoff': 'a'}]}]}",
         FILE_NAME ": agents[1].offline[0].handoff: \"a\" is not one of this agent's handoffs"},
    };
    (void)state;
    CHECK_ERRORS(cases);
}

/* The message quotes regerror's text, whatever the C library says. */
static void test_bad_regex(void **state)
{
    const char *patterns[] = {"(", "a{2,1}", "[z-a]"};
    (void)state;

    for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++) {
        regex_t re;
        char why[256], *profile, *expected, *error = NULL;
        struct team *team;
        int rc = regcomp(&re, patterns[i], REG_EXTENDED | REG_ICASE);

        assert_int_not_equal(rc, 0);
        regerror(rc, &re, why, sizeof why);
        profile = xasprintf("{'agents': [{'name': 'a', 'offline': [{'say': 'x'}, {'when': '%s', 'say': 'y'}]}]}",
                            patterns[i]);
        expected = xasprintf(FILE_NAME ": agents[0].offline[1].when: not a valid regular expression: %s", why);
        team = parse_sq(profile, &error);
        assert_null(team);
        assert_string_equal(error, expected);
        free(error);
        free(expected);
        free(profile);
    }
}

/* ---- What loads, and the defaults it gets ---- */

/* ---- Pattern sections: routes, markers, prompts, state, handlers, workflows ---- */

/* A profile with agents a, b and c, and the given top-level members. */
#define ABC(members) "{'agents': [{'name': 'a'}, {'name': 'b'}, {'name': 'c'}], " members "}"
#define WF(workflow) ABC("'workflows': {'w': " workflow "}")

static void test_route_errors(void **state)
{
    static const struct error_case cases[] = {
        {ABC("'routes': []"), FILE_NAME ": routes: expected an object mapping route labels to agent names"},
        {ABC("'routes': {'tech': 'x'}"), FILE_NAME ": routes.tech: no agent named \"x\""},
        {ABC("'routes': {'Technical Support': 'x'}"),
         FILE_NAME ": routes[\"Technical Support\"]: no agent named \"x\""},
        {ABC("'routes': {'tech': 1}"), FILE_NAME ": routes.tech: expected a string"},
        {ABC("'routes': {'tech': 'a', 'tech': 'b'}"), FILE_NAME ": routes.tech: duplicate key"},
        {ABC("'routes': {'Technical Support': 'a', 'billing': 'b', 'technicalsupport': 'c'}"),
         FILE_NAME ": routes.technicalsupport: \"technicalsupport\" is the same route label as \"Technical Support\" "
                   "(both match as \"technicalsupport\")"},
        {ABC("'routes': {'Fallback': 'a', 'fall-back.': 'b'}"),
         FILE_NAME ": routes[\"fall-back.\"]: \"fall-back.\" is the same route label as \"Fallback\" "
                   "(both match as \"fallback\")"},
        {ABC("'routes': {'--': 'a'}"),
         FILE_NAME ": routes: \"--\" is not a valid route label (expected at least one letter or digit)"},
        {ABC("'routes': {'': 'a'}"),
         FILE_NAME ": routes: \"\" is not a valid route label (expected at least one letter or digit)"},
    };
    (void)state;
    CHECK_ERRORS(cases);
}

static void test_marker_errors(void **state)
{
    static const struct error_case cases[] = {
        {ABC("'markers': ['BILLING']"), FILE_NAME ": markers: expected an object mapping markers to agent names"},
        {ABC("'markers': {'Billing': 'a'}"),
         FILE_NAME ": markers: \"Billing\" is not a valid marker (expected 1 to 32 capital letters, digits or _)"},
        {ABC("'markers': {'BILL-ING': 'a'}"),
         FILE_NAME ": markers: \"BILL-ING\" is not a valid marker (expected 1 to 32 capital letters, digits or _)"},
        {ABC("'markers': {'': 'a'}"),
         FILE_NAME ": markers: \"\" is not a valid marker (expected 1 to 32 capital letters, digits or _)"},
        {ABC("'markers': {'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456': 'a'}"),
         FILE_NAME ": markers: \"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456\" is not a valid marker (expected 1 to 32 "
                   "capital letters, digits or _)"},
        {ABC("'markers': {'BILLING': 'z'}"), FILE_NAME ": markers.BILLING: no agent named \"z\""},
        {ABC("'markers': {'BILLING': null}"), FILE_NAME ": markers.BILLING: expected a string"},
        {ABC("'markers': {'A': 'a', 'A': 'b'}"), FILE_NAME ": markers.A: duplicate key"},
    };
    (void)state;
    CHECK_ERRORS(cases);
}

static void test_prompt_errors(void **state)
{
    static const struct error_case cases[] = {
        {ABC("'prompts': 'Clean it.'"), FILE_NAME ": prompts: expected an object mapping agent names to prompts"},
        {ABC("'prompts': {'z': 'Clean it.'}"), FILE_NAME ": prompts.z: no agent named \"z\""},
        {ABC("'prompts': {'a': ''}"), FILE_NAME ": prompts.a: expected a non-empty string"},
        {ABC("'prompts': {'a': ['Clean it.']}"), FILE_NAME ": prompts.a: expected a non-empty string"},
        {ABC("'prompts': {'a': 'x', 'a': 'y'}"), FILE_NAME ": prompts.a: duplicate key"},
    };
    (void)state;
    CHECK_ERRORS(cases);
}

static void test_state_errors(void **state)
{
    static const struct error_case cases[] = {
        {ABC("'state': true"), FILE_NAME ": state: expected an object"},
        {ABC("'state': {'inject': 1}"), FILE_NAME ": state.inject: expected true or false"},
        {ABC("'state': {'read': 'yes'}"), FILE_NAME ": state.read: expected true or false"},
        {ABC("'state': {'initial': []}"), FILE_NAME ": state.initial: expected an object"},
        {ABC("'state': {'write': true}"),
         FILE_NAME ": state.write: unknown field (expected one of inject, read, initial)"},
    };
    (void)state;
    CHECK_ERRORS(cases);
}

static void test_handler_errors(void **state)
{
    static const struct error_case cases[] = {
        {ABC("'handlers': []"), FILE_NAME ": handlers: expected an object mapping event names to agent names"},
        {ABC("'handlers': {'order created': 'a'}"),
         FILE_NAME ": handlers: \"order created\" is not a valid event name (expected 1 to 64 letters, digits, _, ., "
                   ": or -)"},
        {ABC("'handlers': {'': 'a'}"),
         FILE_NAME ": handlers: \"\" is not a valid event name (expected 1 to 64 letters, digits, _, ., : or -)"},
        {ABC("'handlers': {'e1234567890123456789012345678901234567890123456789012345678901234': 'a'}"),
         FILE_NAME ": handlers: \"e1234567890123456789012345678901234567890123456789012345678901234\" is not a "
                   "valid event name (expected 1 to 64 letters, digits, _, ., : or -)"},
        {ABC("'handlers': {'order.created': 'z'}"), FILE_NAME ": handlers[\"order.created\"]: no agent named \"z\""},
        {ABC("'handlers': {'paid': false}"), FILE_NAME ": handlers.paid: expected a string"},
        {ABC("'handlers': {'paid': 'a', 'paid': 'b'}"), FILE_NAME ": handlers.paid: duplicate key"},
    };
    (void)state;
    CHECK_ERRORS(cases);
}

#define WORKFLOW_FIELDS                                                                                           \
    "description, pattern, agents, into, judge, classifier, manager, decomposer, executor, depth, timeout, all, " \
    "prompts"
#define PATTERNS "pipeline, route, fanout, compete, delegate, decompose"

static void test_workflow_errors(void **state)
{
    static const struct error_case cases[] = {
        {ABC("'workflows': []"), FILE_NAME ": workflows: expected an object mapping workflow names to workflows"},
        {ABC("'workflows': {'my flow': {'pattern': 'route', 'classifier': 'a'}}"),
         FILE_NAME ": workflows: \"my flow\" is not a valid workflow name (expected 1 to 64 letters, digits, _ or -)"},
        {ABC("'workflows': {'w': {'pattern': 'route', 'classifier': 'a'}, 'w': {'pattern': 'route', 'classifier': "
             "'b'}}"),
         FILE_NAME ": workflows.w: duplicate key"},
        {WF("'pipeline'"), FILE_NAME ": workflows.w: expected an object with \"pattern\""},
        {WF("{}"), FILE_NAME ": workflows.w.pattern: missing, expected one of " PATTERNS},
        {WF("{'pattern': 'chain'}"), FILE_NAME ": workflows.w.pattern: expected one of " PATTERNS ", got \"chain\""},
        {WF("{'pattern': 3}"), FILE_NAME ": workflows.w.pattern: expected one of " PATTERNS},
        {WF("{'pattern': 'route', 'clasifier': 'a'}"),
         FILE_NAME ": workflows.w.clasifier: unknown field (expected one of " WORKFLOW_FIELDS ")"},
        {WF("{'pattern': 'route', 'pattern': 'route', 'classifier': 'a'}"),
         FILE_NAME ": workflows.w.pattern: duplicate key"},
        {WF("{'pattern': 'route', 'classifier': 'a', 'description': 1}"),
         FILE_NAME ": workflows.w.description: expected a string"},
    };
    (void)state;
    CHECK_ERRORS(cases);
}

/* Each key belongs to some patterns only; one that does not is named. */
static void test_workflow_keys_per_pattern(void **state)
{
    static const struct error_case cases[] = {
        {ABC("'workflows': {'triage': {'pattern': 'route', 'classifier': 'a', 'judge': 'b'}}"),
         FILE_NAME ": workflows.triage.judge: \"judge\" is for compete workflows only"},
        {WF("{'pattern': 'compete', 'agents': ['a', 'b'], 'judge': 'c', 'into': 'c'}"),
         FILE_NAME ": workflows.w.into: \"into\" is for fanout workflows only"},
        {WF("{'pattern': 'delegate', 'manager': 'a', 'classifier': 'b'}"),
         FILE_NAME ": workflows.w.classifier: \"classifier\" is for route workflows only"},
        {WF("{'pattern': 'route', 'classifier': 'a', 'manager': 'b'}"),
         FILE_NAME ": workflows.w.manager: \"manager\" is for delegate workflows only"},
        {WF("{'pattern': 'delegate', 'manager': 'a', 'decomposer': 'b'}"),
         FILE_NAME ": workflows.w.decomposer: \"decomposer\" is for decompose workflows only"},
        {WF("{'pattern': 'delegate', 'manager': 'a', 'executor': 'b'}"),
         FILE_NAME ": workflows.w.executor: \"executor\" is for decompose workflows only"},
        {WF("{'pattern': 'fanout', 'agents': ['a', 'b'], 'depth': 2}"),
         FILE_NAME ": workflows.w.depth: \"depth\" is for decompose workflows only"},
        {WF("{'pattern': 'pipeline', 'agents': ['a', 'b'], 'timeout': 5}"),
         FILE_NAME ": workflows.w.timeout: \"timeout\" is for fanout and compete workflows only"},
        {WF("{'pattern': 'decompose', 'decomposer': 'a', 'executor': 'b', 'all': true}"),
         FILE_NAME ": workflows.w.all: \"all\" is for fanout and compete workflows only"},
        {WF("{'pattern': 'fanout', 'agents': ['a', 'b'], 'prompts': {'a': 'x'}}"),
         FILE_NAME ": workflows.w.prompts: \"prompts\" is for pipeline workflows only"},
        {WF("{'pattern': 'route', 'classifier': 'a', 'agents': ['b', 'c']}"),
         FILE_NAME ": workflows.w.agents: \"agents\" is for pipeline, fanout and compete workflows only"},
        {WF("{'pattern': 'delegate', 'manager': 'a', 'agents': ['b', 'c']}"),
         FILE_NAME ": workflows.w.agents: \"agents\" is for pipeline, fanout and compete workflows only"},
        {WF("{'pattern': 'decompose', 'decomposer': 'a', 'executor': 'b', 'agents': ['c']}"),
         FILE_NAME ": workflows.w.agents: \"agents\" is for pipeline, fanout and compete workflows only"},
    };
    (void)state;
    CHECK_ERRORS(cases);
}

static void test_workflow_required_keys(void **state)
{
    static const struct error_case cases[] = {
        {WF("{'pattern': 'pipeline'}"), FILE_NAME ": workflows.w.agents: missing, expected an array of agent names"},
        {WF("{'pattern': 'fanout', 'into': 'a'}"),
         FILE_NAME ": workflows.w.agents: missing, expected an array of agent names"},
        {WF("{'pattern': 'compete', 'judge': 'a'}"),
         FILE_NAME ": workflows.w.agents: missing, expected an array of agent names"},
        {WF("{'pattern': 'compete', 'agents': ['a', 'b']}"),
         FILE_NAME ": workflows.w.judge: missing, expected an agent name"},
        {WF("{'pattern': 'route'}"), FILE_NAME ": workflows.w.classifier: missing, expected an agent name"},
        {WF("{'pattern': 'delegate'}"), FILE_NAME ": workflows.w.manager: missing, expected an agent name"},
        {WF("{'pattern': 'decompose', 'executor': 'b'}"),
         FILE_NAME ": workflows.w.decomposer: missing, expected an agent name"},
        {WF("{'pattern': 'decompose', 'decomposer': 'a'}"),
         FILE_NAME ": workflows.w.executor: missing, expected an agent name"},
    };
    (void)state;
    CHECK_ERRORS(cases);
}

static void test_workflow_value_errors(void **state)
{
    static const struct error_case cases[] = {
        /* agents */
        {WF("{'pattern': 'pipeline', 'agents': 'a'}"),
         FILE_NAME ": workflows.w.agents: expected an array of agent names"},
        {WF("{'pattern': 'pipeline', 'agents': ['a']}"),
         FILE_NAME ": workflows.w.agents: a pipeline workflow needs at least 2 agents, got 1"},
        {WF("{'pattern': 'compete', 'agents': ['a'], 'judge': 'c'}"),
         FILE_NAME ": workflows.w.agents: a compete workflow needs at least 2 agents, got 1"},
        {WF("{'pattern': 'fanout', 'agents': []}"),
         FILE_NAME ": workflows.w.agents: a fanout workflow needs at least 1 agent, got 0"},
        {WF("{'pattern': 'pipeline', 'agents': ['a', 'z']}"),
         FILE_NAME ": workflows.w.agents[1]: no agent named \"z\""},
        {WF("{'pattern': 'pipeline', 'agents': ['a', 1]}"), FILE_NAME ": workflows.w.agents[1]: expected a string"},
        {WF("{'pattern': 'fanout', 'agents': ['a', 'b', 'a']}"),
         FILE_NAME ": workflows.w.agents[2]: \"a\" is listed twice"},
        /* the lead and the executor */
        {WF("{'pattern': 'fanout', 'agents': ['a', 'b'], 'into': 'z'}"),
         FILE_NAME ": workflows.w.into: no agent named \"z\""},
        {WF("{'pattern': 'compete', 'agents': ['a', 'b'], 'judge': 3}"),
         FILE_NAME ": workflows.w.judge: expected a string"},
        {WF("{'pattern': 'route', 'classifier': 'z'}"), FILE_NAME ": workflows.w.classifier: no agent named \"z\""},
        {WF("{'pattern': 'delegate', 'manager': 'z'}"), FILE_NAME ": workflows.w.manager: no agent named \"z\""},
        {WF("{'pattern': 'decompose', 'decomposer': 'z', 'executor': 'b'}"),
         FILE_NAME ": workflows.w.decomposer: no agent named \"z\""},
        {WF("{'pattern': 'decompose', 'decomposer': 'a', 'executor': 'z'}"),
         FILE_NAME ": workflows.w.executor: no agent named \"z\""},
        /* depth */
        {WF("{'pattern': 'decompose', 'decomposer': 'a', 'executor': 'b', 'depth': 0}"),
         FILE_NAME ": workflows.w.depth: expected an integer from 1 to 8, got 0"},
        {WF("{'pattern': 'decompose', 'decomposer': 'a', 'executor': 'b', 'depth': 9}"),
         FILE_NAME ": workflows.w.depth: expected an integer from 1 to 8, got 9"},
        {WF("{'pattern': 'decompose', 'decomposer': 'a', 'executor': 'b', 'depth': 2.5}"),
         FILE_NAME ": workflows.w.depth: expected an integer from 1 to 8, got 2.5"},
        {WF("{'pattern': 'decompose', 'decomposer': 'a', 'executor': 'b', 'depth': '3'}"),
         FILE_NAME ": workflows.w.depth: expected an integer from 1 to 8"},
        /* timeout and all */
        {WF("{'pattern': 'fanout', 'agents': ['a', 'b'], 'timeout': 0}"),
         FILE_NAME ": workflows.w.timeout: expected a number > 0, got 0"},
        {WF("{'pattern': 'compete', 'agents': ['a', 'b'], 'judge': 'c', 'timeout': '60'}"),
         FILE_NAME ": workflows.w.timeout: expected a number > 0"},
        {WF("{'pattern': 'fanout', 'agents': ['a', 'b'], 'timeout': 100000}"),
         FILE_NAME ": workflows.w.timeout: expected at most 86400 seconds, got 100000"},
        {WF("{'pattern': 'fanout', 'agents': ['a', 'b'], 'all': 'yes'}"),
         FILE_NAME ": workflows.w.all: expected true or false"},
        /* a pipeline's prompts */
        {WF("{'pattern': 'pipeline', 'agents': ['a', 'b'], 'prompts': []}"),
         FILE_NAME ": workflows.w.prompts: expected an object mapping agent names to prompts"},
        {WF("{'pattern': 'pipeline', 'agents': ['a', 'b'], 'prompts': {'z': 'x'}}"),
         FILE_NAME ": workflows.w.prompts.z: no agent named \"z\""},
        {WF("{'pattern': 'pipeline', 'agents': ['a', 'b'], 'prompts': {'c': 'x'}}"),
         FILE_NAME ": workflows.w.prompts.c: \"c\" is not one of this workflow's agents"},
        {WF("{'pattern': 'pipeline', 'agents': ['a', 'b'], 'prompts': {'b': ''}}"),
         FILE_NAME ": workflows.w.prompts.b: expected a non-empty string"},
    };
    (void)state;
    CHECK_ERRORS(cases);
}

/* Every pattern section at once, written before "agents" (they are read after it). */
static const char *const patterns_profile =
    "{'routes': {'Technical Support': 'technical', 'research': 'researcher', 'fallback': 'generalist'},"
    " 'markers': {'TECHNICAL': 'technical', 'BILLING': 'billing', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ_01234': 'billing'},"
    " 'prompts': {'cleaner': 'Clean the data collected above.', 'analyst': 'Analyse it.'},"
    " 'state': {'inject': true, 'read': true, 'initial': {'stage': 'new'}},"
    " 'handlers': {'order.created': 'fulfilment', 'payment:failed-2_x': 'billing'},"
    " 'workflows': {"
    "  'research_report': {'description': 'Three researchers at once, then a synthesis', 'pattern': 'fanout',"
    "                      'agents': ['r1', 'r2', 'r3'], 'into': 'synthesizer', 'timeout': 120},"
    "  'data_analysis': {'pattern': 'pipeline', 'agents': ['collector', 'cleaner', 'analyst', 'writer'],"
    "                    'prompts': {'cleaner': 'Only the cleaning step.'}},"
    "  'triage': {'pattern': 'route', 'classifier': 'classifier'},"
    "  'debate': {'pattern': 'compete', 'agents': ['a', 'b'], 'judge': 'j', 'all': true, 'timeout': 0.5},"
    "  'plan': {'pattern': 'delegate', 'manager': 'manager'},"
    "  'split': {'pattern': 'decompose', 'decomposer': 'd', 'executor': 'x', 'depth': 3},"
    "  'split2': {'pattern': 'decompose', 'decomposer': 'd', 'executor': 'x'}"
    " },"
    " 'agents': [{'name': 'technical'}, {'name': 'researcher'}, {'name': 'generalist'}, {'name': 'billing'},"
    "  {'name': 'fulfilment'}, {'name': 'r1'}, {'name': 'r2'}, {'name': 'r3'}, {'name': 'synthesizer'},"
    "  {'name': 'collector'}, {'name': 'cleaner'}, {'name': 'analyst'}, {'name': 'writer'},"
    "  {'name': 'classifier'}, {'name': 'a'}, {'name': 'b'}, {'name': 'j'}, {'name': 'manager'},"
    "  {'name': 'd'}, {'name': 'x'}, {'name': 'idle'}]}";

static const char *str_member(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void test_pattern_sections(void **state)
{
    struct team *team = must_parse(patterns_profile);
    const struct workflow *w;
    (void)state;

    /* Routes: keys normalized, so a model's "Technical support." finds them. */
    assert_int_equal(cJSON_GetArraySize(team->routes), 3);
    assert_string_equal(str_member(team->routes, "technicalsupport"), "technical");
    assert_string_equal(str_member(team->routes, "research"), "researcher");
    assert_string_equal(str_member(team->routes, "fallback"), "generalist");
    assert_null(str_member(team->routes, "Technical Support"));

    assert_int_equal(cJSON_GetArraySize(team->markers), 3);
    assert_string_equal(str_member(team->markers, "TECHNICAL"), "technical");
    assert_string_equal(str_member(team->markers, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_01234"), "billing");
    assert_string_equal(str_member(team->prompts, "cleaner"), "Clean the data collected above.");
    assert_string_equal(str_member(team->prompts, "analyst"), "Analyse it.");

    assert_true(team->state.inject);
    assert_true(team->state.read);
    assert_int_equal(cJSON_GetArraySize(team->state.initial), 1);
    assert_string_equal(str_member(team->state.initial, "stage"), "new");

    assert_string_equal(str_member(team->handlers, "order.created"), "fulfilment");
    assert_string_equal(str_member(team->handlers, "payment:failed-2_x"), "billing");

    /* Workflows, in the order of the file. */
    assert_int_equal(team->workflows.len, 7);
    w = team->workflows.items[0];
    assert_string_equal(w->name, "research_report");
    assert_string_equal(w->description, "Three researchers at once, then a synthesis");
    assert_int_equal(w->params.kind, PATTERN_FANOUT);
    assert_int_equal(w->params.agents.len, 3);
    assert_string_equal(w->params.agents.items[0], "r1");
    assert_string_equal(w->params.agents.items[2], "r3");
    assert_string_equal(w->params.lead, "synthesizer");
    assert_int_equal(w->params.timeout_ms, 120000);
    assert_false(w->params.all);
    assert_null(w->params.prompts);

    w = team->workflows.items[1];
    assert_string_equal(w->name, "data_analysis");
    assert_null(w->description);
    assert_int_equal(w->params.kind, PATTERN_PIPELINE);
    assert_int_equal(w->params.agents.len, 4);
    assert_string_equal(w->params.agents.items[3], "writer");
    assert_null(w->params.lead);
    assert_int_equal(w->params.timeout_ms, 0);
    assert_int_equal(cJSON_GetArraySize(w->params.prompts), 1);
    assert_string_equal(str_member(w->params.prompts, "cleaner"), "Only the cleaning step.");

    w = team_find_workflow(team, "triage");
    assert_ptr_equal(w, team->workflows.items[2]);
    assert_int_equal(w->params.kind, PATTERN_ROUTE);
    assert_string_equal(w->params.lead, "classifier");
    assert_int_equal(w->params.agents.len, 0);

    w = team->workflows.items[3];
    assert_int_equal(w->params.kind, PATTERN_COMPETE);
    assert_string_equal(w->params.lead, "j");
    assert_true(w->params.all);
    assert_int_equal(w->params.timeout_ms, 500);

    w = team->workflows.items[4];
    assert_int_equal(w->params.kind, PATTERN_DELEGATE);
    assert_string_equal(w->params.lead, "manager");

    w = team->workflows.items[5];
    assert_int_equal(w->params.kind, PATTERN_DECOMPOSE);
    assert_string_equal(w->params.lead, "d");
    assert_string_equal(w->params.executor, "x");
    assert_int_equal(w->params.depth, 3);
    w = team->workflows.items[6];
    assert_int_equal(w->params.depth, PATTERN_DEFAULT_DEPTH);

    assert_null(team_find_workflow(team, "nope"));
    team_free(team);
}

/* What /agent delete refuses: the first section that names the agent. */
static void test_agent_references(void **state)
{
    static const struct {
        const char *agent;
        const char *why; /* NULL: not referenced */
    } cases[] = {
        {"technical", "route \"technicalsupport\" goes to it"},
        {"generalist", "route \"fallback\" goes to it"},
        {"billing", "marker \"BILLING\" hands off to it"},
        {"analyst", "prompts has a prompt for it"},
        {"fulfilment", "event \"order.created\" is handled by it"},
        {"r2", "workflow \"research_report\" uses it"},
        {"synthesizer", "workflow \"research_report\" uses it"},
        {"writer", "workflow \"data_analysis\" uses it"},
        {"classifier", "workflow \"triage\" uses it"},
        {"x", "workflow \"split\" uses it"},
        {"idle", NULL},
    };
    struct team *team = must_parse(patterns_profile);
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *why = NULL;
        bool referenced = team_agent_is_referenced(team, cases[i].agent, &why);
        if (!cases[i].why) {
            assert_false(referenced);
            assert_null(why);
            continue;
        }
        assert_true(referenced);
        assert_string_equal(why, cases[i].why);
        free(why);
    }
    assert_true(team_agent_is_referenced(team, "r1", NULL));
    team_free(team);

    /* A workflow's own prompts name an agent too. */
    team = must_parse(WF("{'pattern': 'pipeline', 'agents': ['a', 'b'], 'prompts': {'b': 'x'}}"));
    assert_true(team_agent_is_referenced(team, "b", NULL));
    assert_false(team_agent_is_referenced(team, "c", NULL));
    team_free(team);
}

static void test_minimal_profile_defaults(void **state)
{
    struct team *team = must_parse("{'agents': [{'name': 'solo'}]}");
    const struct agent *a;
    (void)state;

    assert_null(team->name);
    assert_null(team->description);
    assert_string_equal(team->path, FILE_NAME);
    assert_int_equal(team->max_turns, TEAM_DEFAULT_MAX_TURNS);
    assert_int_equal(team->functions.len, 0);
    assert_int_equal(team->agents.len, 1);
    a = team->agents.items[0];
    assert_string_equal(a->name, "solo");
    assert_string_equal(a->model, AGENT_DEFAULT_MODEL);
    assert_null(a->description);
    assert_null(a->instructions);
    assert_true(cJSON_IsArray(a->tools) && cJSON_GetArraySize(a->tools) == 0);
    assert_true(cJSON_IsObject(a->completion_args) && a->completion_args->child == NULL);
    assert_true(cJSON_IsArray(a->demonstrations) && cJSON_GetArraySize(a->demonstrations) == 0);
    assert_null(a->metadata);
    assert_int_equal(a->handoffs.len, 0);
    assert_int_equal(a->rules.len, 0);
    assert_int_equal(a->max_turns, 0);
    /* No pattern sections: nothing routed, no state, no workflows. */
    assert_null(team->routes);
    assert_null(team->markers);
    assert_null(team->prompts);
    assert_null(team->handlers);
    assert_false(team->state.inject);
    assert_false(team->state.read);
    assert_true(cJSON_IsObject(team->state.initial) && team->state.initial->child == NULL);
    assert_int_equal(team->workflows.len, 0);
    team_free(team);
}

static void test_full_agent(void **state)
{
    struct team *team = must_parse(
        "{'name': 'demo', 'description': 'A demo.', 'max_turns': 4, 'agents': [{"
        "'name': 'writer', 'model': 'mistral-small-latest', 'description': 'Writes.', 'instructions': 'Be brief.',"
        "'tools': [{'type': 'web_search'}, {'type': 'document_library', 'library_ids': ['lib_1']},"
        "  {'type': 'connector', 'connector_id': 'c1', 'authorization': {'type': 'api-key', 'value': 'k'},"
        "   'tool_configuration': {'include': ['a'], 'exclude': null, 'requires_confirmation': ['b']}}],"
        "'completion_args': {'temperature': 0, 'top_p': 1, 'max_tokens': 0, 'stop': ['\\n\\n'], 'random_seed': 7,"
        "  'presence_penalty': -2, 'frequency_penalty': 2, 'tool_choice': 'any', 'reasoning_effort': null,"
        "  'response_format': {'type': 'json_schema', 'json_schema': {'name': 'b', 'schema': {'type': 'object'},"
        "  'strict': true}}, 'prediction': {'type': 'content', 'content': 'x'}},"
        "'demonstrations': [{'input': 'hi', 'output': 'hello'}],"
        "'max_turns': 3, 'metadata': {'team': 'docs', 'anything': [1, {'goes': true}]}}]}");
    const struct agent *a = team->agents.items[0];
    char *args;
    (void)state;

    assert_string_equal(team->name, "demo");
    assert_string_equal(team->description, "A demo.");
    assert_int_equal(team->max_turns, 4);
    assert_string_equal(a->model, "mistral-small-latest");
    assert_string_equal(a->description, "Writes.");
    assert_string_equal(a->instructions, "Be brief.");
    assert_int_equal(cJSON_GetArraySize(a->tools), 3);
    assert_int_equal(cJSON_GetArraySize(a->demonstrations), 1);
    assert_int_equal(a->max_turns, 3);
    assert_int_equal(team_max_turns(team, a), 3);
    assert_non_null(cJSON_GetObjectItemCaseSensitive(a->metadata, "anything"));
    args = cJSON_PrintUnformatted(a->completion_args);
    assert_non_null(strstr(args, "\"tool_choice\":\"any\""));
    assert_non_null(strstr(args, "\"reasoning_effort\":null"));
    cJSON_free(args);
    team_free(team);
}

static void test_forward_handoffs(void **state)
{
    struct team *team = must_parse("{'agents': [{'name': 'a', 'handoffs': ['c', 'b']}, {'name': 'b', 'handoffs': "
                                   "['a']}, {'name': 'c'}]}");
    const struct agent *a = team->agents.items[0];
    (void)state;

    assert_int_equal(a->handoffs.len, 2);
    assert_string_equal(a->handoffs.items[0], "c");
    assert_string_equal(a->handoffs.items[1], "b");
    assert_true(agent_has_handoff(team_find_agent(team, "b"), "a"));
    team_free(team);
}

static void test_function_forms(void **state)
{
    struct team *team =
        must_parse("{'functions': {"
                   "  'bare': ['date', '-u'],"
                   "  'abs': {'command': ['/bin/echo', 'hi'], 'timeout': 2.5, 'description': 'Says hi.',"
                   "          'parameters': {'type': 'object', 'properties': {'x': {'type': 'string'}}}},"
                   "  'tiny': {'command': ['true'], 'timeout': 0.0001, 'auto': true}"
                   "}, 'agents': [{'name': 'a'}]}");
    const struct function_def *fn;
    const cJSON *params;
    (void)state;

    assert_int_equal(team->functions.len, 3);
    fn = team_find_function(team, "bare");
    assert_string_equal(fn->argv[0], "date");
    assert_string_equal(fn->argv[1], "-u");
    assert_null(fn->argv[2]);
    assert_int_equal(fn->timeout_ms, FUNCTION_DEFAULT_TIMEOUT_MS);
    assert_false(fn->auto_allow); /* asks before it runs */
    assert_null(fn->description);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(fn->parameters, "type")->valuestring, "object");
    assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(fn->parameters, "properties")));

    fn = team_find_function(team, "abs");
    assert_string_equal(fn->argv[0], "/bin/echo");
    assert_int_equal(fn->timeout_ms, 2500);
    assert_string_equal(fn->description, "Says hi.");
    params = cJSON_GetObjectItemCaseSensitive(fn->parameters, "properties");
    assert_non_null(cJSON_GetObjectItemCaseSensitive(params, "x"));

    fn = team_find_function(team, "tiny");
    assert_int_equal(fn->timeout_ms, 1); /* rounded up, never 0 */
    assert_true(fn->auto_allow);
    team_free(team);
}

/* argv[0] with a slash resolves against the profile's folder. */
static void test_relative_commands(void **state)
{
    const char *profile = "{'functions': {'f': ['./bin/f.sh', './arg'], 'g': ['tools/g'], 'h': ['h']}, "
                          "'agents': [{'name': 'a'}]}";
    char *text = dq(profile), *error = NULL, *cwd = getcwd(NULL, 0), *expected;
    struct team *team;
    (void)state;

    /* A folder that does not exist: joined, made absolute. */
    team = profile_parse(text, "/no/such/dir/p.json", &error);
    assert_non_null(team);
    assert_string_equal(team_find_function(team, "f")->argv[0], "/no/such/dir/bin/f.sh");
    assert_string_equal(team_find_function(team, "f")->argv[1], "./arg"); /* only argv[0] */
    assert_string_equal(team_find_function(team, "g")->argv[0], "/no/such/dir/tools/g");
    assert_string_equal(team_find_function(team, "h")->argv[0], "h"); /* found in PATH later */
    team_free(team);

    team = profile_parse(text, "no/such/p.json", &error);
    assert_non_null(team);
    expected = xasprintf("%s/no/such/bin/f.sh", cwd);
    assert_string_equal(team_find_function(team, "f")->argv[0], expected);
    free(expected);
    team_free(team);

    team = profile_parse(text, "p.json", &error);
    assert_non_null(team);
    expected = xasprintf("%s/bin/f.sh", cwd);
    assert_string_equal(team_find_function(team, "f")->argv[0], expected);
    free(expected);
    team_free(team);

    free(cwd);
    free(text);
}

static void test_check_tool_directly(void **state)
{
    struct team *team = must_parse("{'functions': {'f': {'command': ['x'], 'description': 'Does f.'}}, "
                                   "'agents': [{'name': 'a'}]}");
    char *error = NULL, *text = dq("{'type': 'function', 'function': {'name': 'f'}}");
    cJSON *tool = cJSON_Parse(text), *fn, *params;
    (void)state;

    /* Filled from the definition. */
    assert_true(profile_check_tool(tool, team, "tools[0]", &error));
    fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(fn, "description")->valuestring, "Does f.");
    params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(params, "type")->valuestring, "object");
    assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(params, "properties")));
    cJSON_Delete(tool);
    free(text);

    /* What the profile gives is kept. */
    text = dq("{'type': 'function', 'function': {'name': 'f', 'description': 'Mine.', 'parameters': {'type': "
              "'object', 'required': []}, 'strict': true}}");
    tool = cJSON_Parse(text);
    assert_true(profile_check_tool(tool, team, "tools[0]", &error));
    fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(fn, "description")->valuestring, "Mine.");
    assert_non_null(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(fn, "parameters"), "required"));
    cJSON_Delete(tool);
    free(text);

    /* The message starts at where, without a file. */
    text = dq("{'type': 'function', 'function': {'name': 'nope'}}");
    tool = cJSON_Parse(text);
    assert_false(profile_check_tool(tool, team, "agents[0].tools[1]", &error));
    assert_string_equal(error, "agents[0].tools[1].function.name: no function named \"nope\" in functions");
    free(error);
    cJSON_Delete(tool);
    free(text);

    /* Without a team there is nothing to check the name against. */
    text = dq("{'type': 'function', 'function': {'name': 'anything'}}");
    tool = cJSON_Parse(text);
    assert_true(profile_check_tool(tool, NULL, "tools[0]", &error));
    fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
    assert_null(cJSON_GetObjectItemCaseSensitive(fn, "description"));
    assert_non_null(cJSON_GetObjectItemCaseSensitive(fn, "parameters"));
    cJSON_Delete(tool);
    free(text);

    tool = cJSON_CreateString("web_search");
    assert_false(profile_check_tool(tool, team, "tools[3]", &error));
    assert_string_equal(error, "tools[3]: expected an object");
    free(error);
    cJSON_Delete(tool);
    team_free(team);
}

static void test_check_completion_args_directly(void **state)
{
    char *error = NULL;
    char *text = dq("{'temperature': 0.7, 'max_tokens': 100, 'stop': 'END', 'response_format': {'type': "
                    "'json_object'}, 'tool_choice': 'auto', 'top_p': null}");
    cJSON *args = cJSON_Parse(text);
    (void)state;

    assert_true(profile_check_completion_args(args, "completion_args", &error));
    cJSON_Delete(args);
    free(text);

    args = cJSON_Parse("{\"temperature\": 1.5}");
    assert_false(profile_check_completion_args(args, "completion_args", &error));
    assert_string_equal(error, "completion_args.temperature: expected a number from 0 to 1, got 1.5");
    free(error);
    assert_false(profile_check_completion_args(args, "", &error));
    assert_string_equal(error, "temperature: expected a number from 0 to 1, got 1.5");
    free(error);
    cJSON_Delete(args);

    args = cJSON_Parse("[]");
    assert_false(profile_check_completion_args(args, "/agent update cs", &error));
    assert_string_equal(error, "/agent update cs: expected an object");
    free(error);
    cJSON_Delete(args);
}

static void test_rules_compiled(void **state)
{
    struct team *team = must_parse(
        "{'functions': {'lookup': ['x']}, 'agents': [{'name': 'a', 'handoffs': ['b'],"
        "'tools': [{'type': 'function', 'function': {'name': 'lookup'}}], 'offline': ["
        "  {'when': 'HELP|support', 'handoff': 'b'},"
        "  {'when': '((19|20)[0-9]{2})', 'call': {'name': 'lookup', 'arguments': {'year': '{1}', 'n': [1, 2]}}},"
        "  {'call': {'name': 'lookup'}},"
        "  {'say': 'You said: {input}'}]}, {'name': 'b'}]}");
    const struct agent *a = team->agents.items[0];
    const struct offline_rule *r;
    regmatch_t m[10];
    char *year;
    (void)state;

    assert_int_equal(a->rules.len, 4);
    r = a->rules.items[0];
    assert_int_equal(r->action, OFFLINE_HANDOFF);
    assert_string_equal(r->when, "HELP|support");
    assert_string_equal(r->handoff, "b");
    assert_int_equal(regexec(&r->when_re, "i need help now", 0, NULL, 0), 0); /* case-insensitive */

    r = a->rules.items[1];
    assert_int_equal(r->action, OFFLINE_CALL);
    assert_string_equal(r->call_name, "lookup");
    assert_string_equal(r->call_args, "{\"year\":\"{1}\",\"n\":[1,2]}");
    assert_int_equal(regexec(&r->when_re, "the rate in 2023?", 10, m, 0), 0); /* groups are kept */
    year = group("the rate in 2023?", &m[1]);
    assert_string_equal(year, "2023");
    free(year);

    r = a->rules.items[2];
    assert_null(r->when);
    assert_string_equal(r->call_args, "{}");

    r = a->rules.items[3];
    assert_null(r->when);
    assert_int_equal(r->action, OFFLINE_SAY);
    assert_string_equal(r->say, "You said: {input}");
    team_free(team);
}

/* ---- Files ---- */

static void test_load_errors(void **state)
{
    char dir[] = "/tmp/test_profile.XXXXXX";
    char *path, *error = NULL;
    FILE *f;
    (void)state;

    assert_null(profile_load("/no/such/dir/x.json", &error));
    assert_string_equal(error, "/no/such/dir/x.json: cannot read: No such file or directory");
    free(error);

    assert_non_null(mkdtemp(dir));
    assert_null(profile_load(dir, &error));
    path = xasprintf("%s: cannot read: Is a directory", dir);
    assert_string_equal(error, path);
    free(path);
    free(error);

    /* A NUL byte hides what follows from the parser: it is an error where it is. */
    path = xasprintf("%s/nul.json", dir);
    f = fopen(path, "wb");
    assert_non_null(f);
    fwrite("{\"agents\": [{\"name\": \"a\"}]}\n\0 trailing", 1, 38, f);
    fclose(f);
    assert_null(profile_load(path, &error));
    free(path);
    path = xasprintf("%s/nul.json: line 2, column 1: not valid JSON", dir);
    assert_string_equal(error, path);
    free(error);
    free(path);

    path = xasprintf("%s/bad.json", dir);
    f = fopen(path, "w");
    fputs("{\n  \"agents\": [\n    {\"name\": \"cs\", \"handoffs\": [\"biling\"]}\n  ]\n}\n", f);
    fclose(f);
    assert_null(profile_load(path, &error));
    free(path);
    path = xasprintf("%s/bad.json: agents[0].handoffs[0]: no agent named \"biling\"", dir);
    assert_string_equal(error, path);
    free(error);
    free(path);

    path = xasprintf("%s/nul.json", dir);
    unlink(path);
    free(path);
    path = xasprintf("%s/bad.json", dir);
    unlink(path);
    free(path);
    rmdir(dir);
}

/* Relative commands resolve against the real folder of the file. */
static void test_load_resolves_commands(void **state)
{
    char dir[] = "/tmp/test_profile.XXXXXX";
    char *sub, *path, *real, *expected, *error = NULL;
    struct team *team;
    FILE *f;
    (void)state;

    assert_non_null(mkdtemp(dir));
    sub = xasprintf("%s/profiles", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    path = xasprintf("%s/profiles/../profiles/t.json", dir);
    f = fopen(path, "w");
    fputs("{\"functions\": {\"f\": [\"./bin/f\"]}, \"agents\": [{\"name\": \"a\"}]}", f);
    fclose(f);
    team = profile_load(path, &error);
    assert_non_null(team);
    assert_string_equal(team->path, path);
    real = realpath(sub, NULL);
    expected = xasprintf("%s/bin/f", real);
    assert_string_equal(team_find_function(team, "f")->argv[0], expected);
    team_free(team);
    unlink(path);
    rmdir(sub);
    rmdir(dir);
    free(expected);
    free(real);
    free(path);
    free(sub);
}

static struct team *load_shipped(const char *name)
{
    char *path = xasprintf("%s/profiles/%s", srcdir(), name), *error = NULL;
    struct team *team = profile_load(path, &error);

    if (!team)
        fail_msg("%s", error);
    free(path);
    return team;
}

/* What the offline backend does with input for agent: the action of the
 * first matching rule, as "handoff NAME", "call NAME ARGS" or "say TEXT",
 * with {1}..{9} and {input} expanded. Returns a new string. */
static char *offline_step(const struct agent *a, const char *input)
{
    regmatch_t m[10];
    const struct offline_rule *r = first_rule(a, input, m);
    const char *tmpl;
    char *out, *p;
    size_t n = 0;

    if (!r)
        return xstrdup("none");
    if (r->action == OFFLINE_HANDOFF)
        return xasprintf("handoff %s", r->handoff);
    tmpl = r->action == OFFLINE_SAY ? r->say : r->call_args;
    out = xmalloc(strlen(tmpl) * 4 + strlen(input) * 4 + 64);
    for (p = (char *)tmpl; *p; p++) {
        if (p[0] == '{' && p[1] >= '1' && p[1] <= '9' && p[2] == '}') {
            const regmatch_t *g = &m[p[1] - '0'];
            if (g->rm_so >= 0) {
                memcpy(out + n, input + g->rm_so, (size_t)(g->rm_eo - g->rm_so));
                n += (size_t)(g->rm_eo - g->rm_so);
            }
            p += 2;
        } else if (strncmp(p, "{input}", 7) == 0) {
            strcpy(out + n, input);
            n += strlen(input);
            p += 6;
        } else {
            out[n++] = *p;
        }
    }
    out[n] = '\0';
    if (r->action == OFFLINE_SAY) {
        p = xasprintf("say %s", out);
    } else {
        p = xasprintf("call %s %s", r->call_name, out);
    }
    free(out);
    return p;
}

static void assert_step(const struct team *team, const char *agent, const char *input, const char *prefix,
                        const char *contains)
{
    const struct agent *a = team_find_agent(team, agent);
    char *step;

    assert_non_null(a);
    step = offline_step(a, input);
    if (strncmp(step, prefix, strlen(prefix)) != 0 || (contains && !strstr(step, contains)))
        fail_msg("%s given \"%s\": %s\n  expected %s...%s", agent, input, step, prefix, contains ? contains : "");
    free(step);
}

static void test_shipped_support(void **state)
{
    struct team *team = load_shipped("support.json");
    const char *names[] = {"cs", "technical", "billing", "sales"};
    const struct agent *cs;
    const cJSON *temperature;
    (void)state;

    assert_string_equal(team->name, "support");
    assert_int_equal(team->agents.len, 4);
    for (size_t i = 0; i < 4; i++) {
        const struct agent *a = team->agents.items[i];
        const struct offline_rule *last;
        assert_string_equal(a->name, names[i]);
        assert_string_equal(a->model, "mistral-medium-latest");
        assert_non_null(a->description);
        assert_non_null(a->instructions);
        assert_true(a->rules.len >= 3);
        last = vec_last(&a->rules);
        assert_null(last->when); /* a catch-all ends every agent's rules */
        assert_int_equal(last->action, OFFLINE_SAY);
        if (i > 0) {
            assert_true(agent_has_handoff(a, "cs"));
            assert_non_null(strstr(last->say, "{input}"));
        }
    }
    cs = team->agents.items[0];
    assert_int_equal(cs->handoffs.len, 3);
    assert_string_equal(cs->handoffs.items[0], "technical");
    assert_string_equal(cs->handoffs.items[1], "billing");
    assert_string_equal(cs->handoffs.items[2], "sales");
    temperature = cJSON_GetObjectItemCaseSensitive(cs->completion_args, "temperature");
    assert_true(cJSON_IsNumber(temperature) && temperature->valuedouble == 0.3);

    /* The demo: routing, then an answer that addresses the question. */
    assert_step(team, "cs", "Why was I charged twice?", "handoff billing", NULL);
    assert_step(team, "billing", "Why was I charged twice?", "say ", "duplicate charge");
    assert_step(team, "cs", "I need a refund for my last invoice", "handoff billing", NULL);
    assert_step(team, "cs", "The app crashes when I open a project", "handoff technical", NULL);
    assert_step(team, "cs", "I forgot my password", "handoff technical", NULL);
    assert_step(team, "cs", "How much is the Pro plan?", "handoff sales", NULL);
    assert_step(team, "cs", "Can I get a discount for 30 users?", "handoff sales", NULL);
    assert_step(team, "cs", "Hello there", "say ", "technical support, billing or sales");
    assert_step(team, "technical", "I forgot my password", "say ", "reset");
    assert_step(team, "technical", "The app crashes when I open a project", "say ", "error message");
    assert_step(team, "sales", "How much is the Pro plan?", "say ", "29 EUR");
    assert_step(team, "billing", "Something else", "say ", "You asked: \"Something else\"");
    team_free(team);
}

/* Runs the shipped function as the runner would, returning its stdout. */
static char *run_function(const struct function_def *fn, const char *arguments)
{
    char *cmd = xasprintf("printf '%%s' '%s' | '%s'", arguments, fn->argv[0]);
    char out[512];
    size_t n;
    FILE *p = popen(cmd, "r");

    assert_non_null(p);
    n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
    free(cmd);
    if (n && out[n - 1] == '\n')
        out[n - 1] = '\0';
    return xstrdup(out);
}

static void test_shipped_finance(void **state)
{
    struct team *team = load_shipped("finance.json");
    const struct function_def *fn = team_find_function(team, "get_interest_rate");
    const struct agent *finance, *ecb;
    const cJSON *function;
    char *profiles = xasprintf("%s/profiles", srcdir()), *real = realpath(profiles, NULL), *expected;
    char *result;
    (void)state;

    assert_int_equal(team->agents.len, 2);
    finance = team->agents.items[0];
    ecb = team->agents.items[1];
    assert_string_equal(finance->name, "finance");
    assert_string_equal(ecb->name, "ecb");
    assert_int_equal(finance->handoffs.len, 1);
    assert_string_equal(finance->handoffs.items[0], "ecb");

    /* The function: absolute, executable, not run at load time. */
    assert_non_null(fn);
    assert_non_null(real);
    expected = xasprintf("%s/finance/get_interest_rate.sh", real);
    assert_string_equal(fn->argv[0], expected);
    assert_null(fn->argv[1]);
    assert_int_equal(access(fn->argv[0], X_OK), 0);
    assert_int_equal(fn->timeout_ms, 10000);

    /* The ecb agent's tool, completed from the function definition. */
    assert_int_equal(cJSON_GetArraySize(ecb->tools), 1);
    function = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(ecb->tools, 0), "function");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(function, "name")->valuestring, "get_interest_rate");
    assert_non_null(cJSON_GetObjectItemCaseSensitive(function, "description"));
    assert_string_equal(
        cJSON_GetArrayItem(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(function, "parameters"), "required"), 0)
            ->valuestring,
        "year");

    /* The demo: finance → ecb → get_interest_rate {"year":"2023"} → 4.50%. */
    assert_step(team, "finance", "What was the ECB interest rate in 2023?", "handoff ecb", NULL);
    assert_step(team, "ecb", "What was the ECB interest rate in 2023?", "call get_interest_rate {\"year\":\"2023\"}",
                NULL);
    result = run_function(fn, "{\"year\":\"2023\"}");
    assert_step(team, "ecb", result, "say The ECB main refinancing operations rate at the end of 2023 was 4.50%.",
                NULL);
    free(result);

    /* A year the function does not know ends in an answer, not another call. */
    assert_step(team, "ecb", "And in 1999?", "call get_interest_rate {\"year\":\"1999\"}", NULL);
    result = run_function(fn, "{\"year\":\"1999\"}");
    assert_step(team, "ecb", result, "say I could not get that rate: ", NULL);
    free(result);

    assert_step(team, "ecb", "What is the rate?", "say ", "Which year");
    assert_step(team, "finance", "How should I start investing?", "say ", "index funds");
    assert_step(team, "finance", "Hello", "say ", "You asked: \"Hello\"");

    free(expected);
    free(real);
    free(profiles);
    team_free(team);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_top_level_errors),
        cmocka_unit_test(test_function_errors),
        cmocka_unit_test(test_agent_errors),
        cmocka_unit_test(test_handoff_errors),
        cmocka_unit_test(test_tool_errors),
        cmocka_unit_test(test_completion_args_errors),
        cmocka_unit_test(test_offline_errors),
        cmocka_unit_test(test_mcp_errors),
        cmocka_unit_test(test_mcp_profile),
        cmocka_unit_test(test_bad_regex),
        cmocka_unit_test(test_route_errors),
        cmocka_unit_test(test_marker_errors),
        cmocka_unit_test(test_prompt_errors),
        cmocka_unit_test(test_state_errors),
        cmocka_unit_test(test_handler_errors),
        cmocka_unit_test(test_workflow_errors),
        cmocka_unit_test(test_workflow_keys_per_pattern),
        cmocka_unit_test(test_workflow_required_keys),
        cmocka_unit_test(test_workflow_value_errors),
        cmocka_unit_test(test_pattern_sections),
        cmocka_unit_test(test_agent_references),
        cmocka_unit_test(test_minimal_profile_defaults),
        cmocka_unit_test(test_full_agent),
        cmocka_unit_test(test_forward_handoffs),
        cmocka_unit_test(test_function_forms),
        cmocka_unit_test(test_relative_commands),
        cmocka_unit_test(test_check_tool_directly),
        cmocka_unit_test(test_check_completion_args_directly),
        cmocka_unit_test(test_rules_compiled),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_load_resolves_commands),
        cmocka_unit_test(test_shipped_support),
        cmocka_unit_test(test_shipped_finance),
    };
    /* clang-format on */

    return cmocka_run_group_tests_name("profile", tests, NULL, NULL);
}
