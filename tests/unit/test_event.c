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
#include "core/clock.h"
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

/* Every entry type back from its event's fields, as --resume reads them. */
static void entries_come_back_from_their_events(void **state)
{
    for (int t = ENTRY_MESSAGE_INPUT; t <= ENTRY_AGENT_HANDOFF; t++) {
        struct entry *e = entry_new((enum entry_type)t, "cs"), *back;
        cJSON *obj = cJSON_CreateObject(), *again = cJSON_CreateObject();
        char *a, *b;

        e->content = xstrdup("hello \"there\"\n");
        e->name = xstrdup("get_rate");
        e->arguments = xstrdup("{\"year\":\"2023\"}");
        e->tool_call_id = xstrdup("of0000042");
        e->result = xstrdup("4.50%");
        e->previous_agent = xstrdup("cs");
        e->next_agent = xstrdup("billing");
        e->execution = xstrdup("client");
        if (t == ENTRY_TOOL_EXECUTION)
            e->info = cJSON_Parse("{\"results\": 3}");
        cJSON_AddStringToObject(obj, "type", entry_type_name(e->type));
        cJSON_AddStringToObject(obj, "agent", e->agent);
        entry_add_fields(e, obj);
        back = entry_from_json(obj);
        assert_non_null(back);
        assert_int_equal(back->type, e->type);
        assert_string_equal(back->id, e->id);
        cJSON_AddStringToObject(again, "type", entry_type_name(back->type));
        cJSON_AddStringToObject(again, "agent", back->agent);
        entry_add_fields(back, again);
        a = cJSON_PrintUnformatted(obj);
        b = cJSON_PrintUnformatted(again);
        assert_string_equal(a, b);
        cJSON_free(a);
        cJSON_free(b);
        cJSON_Delete(obj);
        cJSON_Delete(again);
        entry_free(e);
        entry_free(back);
    }
    assert_null(entry_from_json(NULL));
}

/* After a rebuild, new ids come after the journal's own, never a server's. */
static void ids_go_on_after_the_journal(void **state)
{
    struct entry *e;
    unsigned long long n;

    entry_serial_note("msg_0900");
    entry_serial_note("msg_068f0000000000008000000000000099"); /* a server's: not ours */
    entry_serial_note("fc_12");                                /* too short to be ours */
    e = entry_new(ENTRY_MESSAGE_OUTPUT, "cs");
    n = strtoull(strchr(e->id, '_') + 1, NULL, 10);
    assert_true(n == 901);
    entry_free(e);
}

static void rfc3339_stamps_read_back(void **state)
{
    char ts[40];
    int64_t ms = 0;

    clock_format_rfc3339(1795382594644LL, ts, sizeof ts);
    assert_true(clock_parse_rfc3339(ts, &ms));
    assert_true(ms == 1795382594644LL);
    assert_true(clock_parse_rfc3339("2026-11-22T19:23:14Z", &ms));
    assert_false(clock_parse_rfc3339("2026-11-22 19:23:14", &ms));
    assert_false(clock_parse_rfc3339("2026-11-22T19:23:14.644+01:00", &ms));
    assert_false(clock_parse_rfc3339(NULL, &ms));
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* A torn last line and a broken line are skipped, each named with its byte. */
static void journal_reads_back_and_skips_what_is_torn(void **state)
{
    char dir[] = "/tmp/agentdeck-test-XXXXXX";
    char *path, *error = NULL;
    struct journal_contents jc;
    const char *good = "{\"seq\":1,\"ts\":\"2026-11-22T19:23:14.644Z\",\"type\":\"warning\"}\n";

    assert_non_null(mkdtemp(dir));
    path = xasprintf("%s/events.jsonl", dir);
    write_text(path, "{\"seq\":1,\"ts\":\"2026-11-22T19:23:14.644Z\",\"type\":\"warning\"}\n"
                     "not json\n"
                     "{\"seq\":2,\"ts\":\"2026-11-22T19:23:14.645Z\",\"type\":\"error\"}\n"
                     "{\"seq\":3,\"ts\":\"2026-11-2");
    assert_true(journal_read(path, &jc, &error));
    assert_int_equal(jc.lines.len, 2);
    assert_true(jc.last_seq == 2);
    assert_int_equal(jc.warnings.len, 2);
    assert_non_null(strstr(jc.warnings.items[0], "line 2 (from byte 59) is not a JSON event"));
    assert_non_null(strstr(jc.warnings.items[1], "the last line (from byte 125) was cut off"));
    assert_true(jc.torn == 125);
    assert_false(jc.missing_newline);
    assert_true(((struct journal_line *)jc.lines.items[1])->offset == 68);
    journal_contents_fini(&jc);

    /* A whole last line without its newline counts. */
    write_text(path, "{\"seq\":1,\"ts\":\"2026-11-22T19:23:14.644Z\",\"type\":\"warning\"}");
    assert_true(journal_read(path, &jc, &error));
    assert_int_equal(jc.lines.len, 1);
    assert_true(jc.missing_newline && jc.torn == -1);
    journal_contents_fini(&jc);

    /* Reopened to go on: the torn bytes go, a missing newline comes back. */
    write_text(path, "{\"seq\":1,\"ts\":\"2026-11-22T19:23:14.644Z\",\"type\":\"warning\"}\n{\"seq\":2,");
    struct journal *j = journal_reopen(dir, 59, &error);
    assert_non_null(j);
    journal_close(j);
    assert_true(journal_read(path, &jc, &error));
    assert_int_equal(jc.lines.len, 1);
    assert_int_equal(jc.warnings.len, 0);
    journal_contents_fini(&jc);
    write_text(path, "{\"seq\":1,\"ts\":\"2026-11-22T19:23:14.644Z\",\"type\":\"warning\"}");
    j = journal_reopen(dir, -1, &error);
    assert_non_null(j);
    journal_close(j);
    {
        FILE *fp = fopen(path, "r");
        char text[256] = {0};
        assert_true(fread(text, 1, sizeof text - 1, fp) > 0);
        fclose(fp);
        assert_string_equal(text, good);
    }
    assert_false(journal_read("/nonexistent/events.jsonl", &jc, &error));
    assert_non_null(strstr(error, "cannot read"));
    free(error);
    unlink(path);
    rmdir(dir);
    free(path);
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
        cmocka_unit_test(entries_come_back_from_their_events),
        cmocka_unit_test(ids_go_on_after_the_journal),
        cmocka_unit_test(rfc3339_stamps_read_back),
        cmocka_unit_test(journal_reads_back_and_skips_what_is_torn),
    };
    /* clang-format on */
    return cmocka_run_group_tests_name("event", tests, NULL, NULL);
}
