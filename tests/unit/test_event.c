/* Event encoding, entry fields and the journal. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/xalloc.h"
#include "model/entry.h"
#include "model/event.h"
#include "model/journal.h"

static void collect(void *ud, const cJSON *ev, const char *line)
{
    struct buf *b = ud;
    buf_puts(b, line);
    buf_putc(b, '\n');
}

static void seq_ts_type_come_first(void **state)
{
    struct event_stream es;
    struct buf out = BUF_INIT;
    struct event_sink sink = {collect, NULL, &out};
    cJSON *fields = cJSON_CreateObject();
    regex_t re;

    event_stream_init(&es);
    event_stream_add_sink(&es, &sink);
    cJSON_AddStringToObject(fields, "message", "hello");
    cJSON_AddStringToObject(fields, "type", "not allowed to shadow");
    assert_int_equal(event_emit(&es, "error", fields), 1);
    assert_int_equal(event_emit(&es, "warning", NULL), 2);
    assert_int_equal(
        regcomp(&re,
                "^\\{\"seq\":1,\"ts\":\"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z\","
                "\"type\":\"error\",\"message\":\"hello\"\\}\n"
                "\\{\"seq\":2,\"ts\":\"[^\"]+\",\"type\":\"warning\"\\}\n$",
                REG_EXTENDED),
        0);
    if (regexec(&re, buf_str(&out), 0, NULL, 0) != 0)
        fail_msg("unexpected encoding:\n%s", buf_str(&out));
    regfree(&re);
    buf_fini(&out);
    event_stream_fini(&es);
}

static void text_is_escaped(void **state)
{
    struct event_stream es;
    struct buf out = BUF_INIT;
    struct event_sink sink = {collect, NULL, &out};
    cJSON *fields = cJSON_CreateObject();

    event_stream_init(&es);
    event_stream_add_sink(&es, &sink);
    cJSON_AddStringToObject(fields, "content", "line\n\"quoted\" \x1b[2J");
    event_emit(&es, "message.output", fields);
    /* One line per event, whatever the text holds. */
    assert_non_null(strstr(buf_str(&out), "\"content\":\"line\\n\\\"quoted\\\" \\u001b[2J\""));
    assert_ptr_equal(strchr(buf_str(&out), '\n'), buf_str(&out) + out.len - 1);
    buf_fini(&out);
    event_stream_fini(&es);
}

static cJSON *fields_of(const struct entry *e)
{
    cJSON *obj = cJSON_CreateObject();
    entry_add_fields(e, obj);
    return obj;
}

static const char *get(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    assert_true(cJSON_IsString(item));
    return item->valuestring;
}

static void entry_fields_by_type(void **state)
{
    struct entry *e;
    cJSON *obj;

    assert_string_equal(entry_type_name(ENTRY_AGENT_HANDOFF), "agent.handoff");
    assert_int_equal(entry_type_from_name("function.result"), ENTRY_FUNCTION_RESULT);
    assert_int_equal(entry_type_from_name("bogus"), -1);

    e = entry_new(ENTRY_FUNCTION_CALL, "ecb");
    e->name = xstrdup("get_interest_rate");
    e->arguments = xstrdup("{\"year\":\"2023\"}");
    e->tool_call_id = xstrdup("abc123xyz");
    obj = fields_of(e);
    assert_true(strncmp(get(obj, "entry_id"), "fc_", 3) == 0);
    assert_string_equal(get(obj, "name"), "get_interest_rate");
    assert_string_equal(get(obj, "arguments"), "{\"year\":\"2023\"}");
    assert_string_equal(get(obj, "tool_call_id"), "abc123xyz");
    cJSON_Delete(obj);
    entry_free(e);

    e = entry_new(ENTRY_AGENT_HANDOFF, "cs");
    e->previous_agent = xstrdup("cs");
    e->next_agent = xstrdup("billing");
    obj = fields_of(e);
    assert_string_equal(get(obj, "previous_agent"), "cs");
    assert_string_equal(get(obj, "next_agent"), "billing");
    assert_string_equal(get(obj, "execution"), "server"); /* the default */
    cJSON_Delete(obj);
    entry_free(e);

    e = entry_new(ENTRY_TOOL_EXECUTION, "cs");
    e->name = xstrdup("web_search");
    obj = fields_of(e);
    assert_string_equal(get(obj, "arguments"), "");
    assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(obj, "info")));
    cJSON_Delete(obj);
    entry_free(e);

    e = entry_new(ENTRY_MESSAGE_INPUT, "cs");
    e->content = xstrdup("hi");
    obj = fields_of(e);
    assert_string_equal(get(obj, "role"), "user");
    assert_string_equal(get(obj, "content"), "hi");
    cJSON_Delete(obj);
    entry_free(e);
}

static void entry_ids_are_unique(void **state)
{
    struct entry *a = entry_new(ENTRY_MESSAGE_OUTPUT, "x");
    struct entry *b = entry_new(ENTRY_MESSAGE_OUTPUT, "x");
    struct entry *c = entry_clone(a);
    assert_string_not_equal(a->id, b->id);
    assert_string_equal(c->id, a->id);
    entry_free(a);
    entry_free(b);
    entry_free(c);
}

static void journal_gets_every_event(void **state)
{
    char dir[] = "/tmp/agentdeck-test-XXXXXX";
    struct event_stream es;
    struct journal *j;
    char *error = NULL, *path, *text;
    FILE *fp;
    long size;

    assert_non_null(mkdtemp(dir));
    setenv("XDG_STATE_HOME", dir, 1);
    j = journal_open("s1", &error);
    assert_non_null(j);
    path = xstrdup(journal_path(j));
    assert_non_null(strstr(path, "/agentdeck/sessions/s1/events.jsonl"));
    event_stream_init(&es);
    struct event_sink sink = journal_sink(j);
    event_stream_add_sink(&es, &sink);
    event_emit(&es, "warning", NULL);
    /* Flushed per event: the line is on disk before the stream closes. */
    fp = fopen(path, "r");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    size = ftell(fp);
    assert_true(size > 0);
    fclose(fp);
    event_emit(&es, "error", NULL);
    event_stream_fini(&es);

    fp = fopen(path, "r");
    text = xcalloc(1, 4096);
    assert_true(fread(text, 1, 4095, fp) > 0);
    fclose(fp);
    assert_non_null(strstr(text, "\"seq\":1,"));
    assert_non_null(strstr(text, "\"seq\":2,"));
    assert_non_null(strstr(text, "\"type\":\"error\"}\n"));
    free(text);
    unlink(path);
    free(path);
}

static void journal_reports_an_unusable_folder(void **state)
{
    char *error = NULL;
    setenv("XDG_STATE_HOME", "/proc/agentdeck-cannot-exist", 1);
    assert_null(journal_open("s1", &error));
    assert_non_null(strstr(error, "cannot create the session folder"));
    free(error);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(seq_ts_type_come_first),
        cmocka_unit_test(text_is_escaped),
        cmocka_unit_test(entry_fields_by_type),
        cmocka_unit_test(entry_ids_are_unique),
        cmocka_unit_test(journal_gets_every_event),
        cmocka_unit_test(journal_reports_an_unusable_folder),
    };
    /* clang-format on */
    return cmocka_run_group_tests_name("event", tests, NULL, NULL);
}
