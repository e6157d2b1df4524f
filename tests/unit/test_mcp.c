/* The MCP client's pure parts: function names made from server and tool
 * names, tools made function tools, and results made the text a model
 * reads. (The protocol runs against the real server in test_mcp.py.) */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "model/agent.h"
#include "tools/mcp.h"

static void check_name(const char *server, const char *tool, bool hashed, const char *expected)
{
    char *name = mcp_function_name(server, tool, hashed);
    assert_string_equal(name, expected);
    assert_true(name_is_valid(name));
    free(name);
}

static void test_function_names(void **state)
{
    char long_tool[200];
    char *a, *b;

    (void)state;
    check_name("everything", "get-sum", false, "everything__get-sum");
    /* Characters the APIs refuse become _. */
    check_name("fs", "read.file/v2", false, "fs__read_file_v2");
    check_name("fs", "caf\xc3\xa9", false, "fs__caf__");
    /* Too long: cut, with a hash that tells the tools apart. */
    memset(long_tool, 'x', sizeof long_tool - 1);
    long_tool[sizeof long_tool - 1] = '\0';
    a = mcp_function_name("srv", long_tool, false);
    long_tool[0] = 'y';
    b = mcp_function_name("srv", long_tool, false);
    assert_int_equal(strlen(a), 64);
    assert_int_equal(strlen(b), 64);
    assert_true(name_is_valid(a));
    assert_string_not_equal(a, b);
    assert_memory_equal(a, "srv__xxx", 8);
    assert_int_equal(a[55], '_');
    free(a);
    free(b);
    /* Two tools whose plain names meet: the hashed one differs, and stays put. */
    a = mcp_function_name("fs", "a.b", true);
    b = mcp_function_name("fs", "a_b", true);
    assert_string_not_equal(a, b);
    assert_memory_equal(a, "fs__a_b_", 8);
    assert_int_equal(strlen(a), strlen("fs__a_b_") + 8);
    free(b);
    b = mcp_function_name("fs", "a.b", true);
    assert_string_equal(a, b);
    free(a);
    free(b);
}

static char *printed(const cJSON *item)
{
    char *text = cJSON_PrintUnformatted(item);
    char *copy = strdup(text);
    cJSON_free(text);
    return copy;
}

static void check_tool(const char *mcp_tool, const char *expected)
{
    cJSON *tool = cJSON_Parse(mcp_tool);
    cJSON *fn = mcp_function_tool("srv__t", tool);
    char *text = printed(fn);

    assert_string_equal(text, expected);
    free(text);
    cJSON_Delete(fn);
    cJSON_Delete(tool);
}

static void test_function_tools(void **state)
{
    (void)state;
    /* The schema as the server gives it, without the dialect marker. */
    check_tool("{\"name\":\"t\",\"description\":\"Adds\",\"inputSchema\":{\"type\":\"object\",\"properties\":{\"a\":{"
               "\"type\":\"number\"}},\"required\":[\"a\"],\"$schema\":\"http://json-schema.org/draft-07/schema#\"}}",
               "{\"type\":\"function\",\"function\":{\"name\":\"srv__t\",\"description\":\"Adds\",\"parameters\":{"
               "\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"number\"}},\"required\":[\"a\"]}}}");
    /* No description: the title; no schema: an empty object schema. */
    check_tool("{\"name\":\"t\",\"title\":\"T\"}", "{\"type\":\"function\",\"function\":{\"name\":\"srv__t\","
                                                   "\"description\":\"T\",\"parameters\":{\"type\":\"object\","
                                                   "\"properties\":{}}}}");
    check_tool("{\"name\":\"t\",\"inputSchema\":{\"type\":\"string\",\"properties\":[]}}",
               "{\"type\":\"function\",\"function\":{\"name\":\"srv__t\",\"description\":\"\",\"parameters\":{"
               "\"type\":\"object\",\"properties\":{}}}}");
}

static void check_result(const char *result, const char *expected)
{
    cJSON *r = cJSON_Parse(result);
    char *text;

    assert_non_null(r);
    text = mcp_result_text(r);
    assert_string_equal(text, expected);
    free(text);
    cJSON_Delete(r);
}

static void test_result_text(void **state)
{
    (void)state;
    check_result("{\"content\":[{\"type\":\"text\",\"text\":\"Echo: hi\"}]}", "Echo: hi");
    check_result("{\"content\":[]}", "");
    /* Images and audio: what and how big, never the bytes. */
    check_result("{\"content\":[{\"type\":\"text\",\"text\":\"Here:\"},{\"type\":\"image\",\"data\":\"iVBORw0KGgo=\","
                 "\"mimeType\":\"image/png\"},{\"type\":\"audio\",\"data\":\"AAAA\",\"mimeType\":\"audio/wav\"}]}",
                 "Here:\n[image image/png: 8 bytes, not shown]\n[audio audio/wav: 3 bytes, not shown]");
    check_result("{\"content\":[{\"type\":\"resource_link\",\"uri\":\"demo://r/1\",\"name\":\"r1\",\"mimeType\":"
                 "\"text/plain\",\"description\":\"the first\"}]}",
                 "[resource link: r1 <demo://r/1> (text/plain): the first]");
    check_result("{\"content\":[{\"type\":\"resource\",\"resource\":{\"uri\":\"demo://t\",\"mimeType\":\"text/plain\","
                 "\"text\":\"Resource 1\"}},{\"type\":\"resource\",\"resource\":{\"uri\":\"demo://b\",\"blob\":"
                 "\"AAECAw==\"}}]}",
                 "[resource demo://t, text/plain]\nResource 1\n[resource demo://b: 4 bytes of binary data, not shown]");
    /* Structured content: as JSON, unless a text block already carries it. */
    check_result("{\"content\":[],\"structuredContent\":{\"temperature\":36}}", "{\"temperature\":36}");
    check_result("{\"content\":[{\"type\":\"text\",\"text\":\"{\\n  \\\"temperature\\\": 36\\n}\"}],"
                 "\"structuredContent\":{\"temperature\":36}}",
                 "{\n  \"temperature\": 36\n}");
    check_result("{\"content\":[{\"type\":\"text\",\"text\":\"Warm\"}],\"structuredContent\":{\"t\":1}}",
                 "Warm\n{\"t\":1}");
    check_result("{\"content\":[{\"type\":\"video\"}]}", "[content of type video, not shown]");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_function_names),
        cmocka_unit_test(test_function_tools),
        cmocka_unit_test(test_result_text),
    };

    return cmocka_run_group_tests_name("mcp", tests, NULL, NULL);
}
