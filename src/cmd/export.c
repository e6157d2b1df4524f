/* /export md|json|jsonl FILE: the session written to a file
 * (doc/sessions.md#export). md is a transcript to read, json each
 * conversation's history in the shape of Mistral's ConversationHistory,
 * jsonl the session's events as the journal holds them. None holds the API
 * key: it is never in the session's entries or events to begin with. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cmd/internal.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/file.h"
#include "core/xalloc.h"
#include "model/journal.h"
#include "text/sanitize.h"

/* A journal larger than this is not copied into memory to be exported. */
#define JOURNAL_EXPORT_MAX ((size_t)1 << 30)

static void format_time(int64_t wall_ms, char *out, size_t size)
{
    clock_format_rfc3339(wall_ms, out, size);
}

/* The agent's id on the backend, or (offline, or an agent deleted since)
 * its name: the json export's agent ids. */
static const char *agent_id_of(const struct session *s, const char *name)
{
    const struct agent *a = name ? team_find_agent(s->team, name) : NULL;
    return a && a->remote_id ? a->remote_id : name ? name : "";
}

/* The function that tool_call_id called in conv, or NULL. */
static const char *called_function(const struct conversation *conv, const char *tool_call_id)
{
    for (size_t i = 0; tool_call_id && i < conv->entries.len; i++) {
        const struct entry *e = conv->entries.items[i];
        if (e->type == ENTRY_FUNCTION_CALL && e->tool_call_id && strcmp(e->tool_call_id, tool_call_id) == 0)
            return e->name;
    }
    return NULL;
}

/* Reads the session's journal into out; false with *error set when there is none. */
static bool read_journal(const struct session *s, struct buf *out, char **error)
{
    char *path = journal_session_path(s->id);
    char *why = NULL;
    bool ok = file_read(path, JOURNAL_EXPORT_MAX, out, &why);

    if (!ok) {
        *error = xasprintf("this session has no journal to read the events from (%s; was agentdeck started with "
                           "--no-journal?)",
                           why);
        free(why);
    }
    free(path);
    return ok;
}

/* ---- Markdown -------------------------------------------------------------
 * Every piece of text from a model, a tool or a user goes through the
 * sanitizer, so that no escape sequence or control character reaches a
 * terminal that shows the file; then it is made inert as Markdown: escaped
 * on a line of the transcript, or fenced in a block. */

/* One line of untrusted text, with Markdown's special characters escaped. */
static void md_text(struct buf *out, const char *text)
{
    struct buf clean = BUF_INIT;

    sanitize_append(&clean, text ? text : "", true);
    for (const char *p = buf_str(&clean); *p; p++) {
        if (strchr("\\`*_[]<>|~&#", *p))
            buf_putc(out, '\\');
        buf_putc(out, *p);
    }
    buf_fini(&clean);
}

/* The longest run of ch in text. */
static size_t longest_run(const char *text, char ch)
{
    size_t longest = 0, run = 0;

    for (const char *p = text; *p; p++) {
        run = *p == ch ? run + 1 : 0;
        if (run > longest)
            longest = run;
    }
    return longest;
}

static void put_repeated(struct buf *out, char ch, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf_putc(out, ch);
}

/* One line of untrusted text as a code span: its fence is longer than any
 * run of backticks inside. */
static void md_code(struct buf *out, const char *text)
{
    struct buf clean = BUF_INIT;
    const char *t;
    size_t fence, len;
    bool pad;

    sanitize_append(&clean, text ? text : "", true);
    t = buf_str(&clean);
    len = strlen(t);
    fence = longest_run(t, '`') + 1;
    pad = len == 0 || t[0] == '`' || t[len - 1] == '`';
    put_repeated(out, '`', fence);
    buf_puts(out, pad ? " " : "");
    buf_puts(out, t);
    buf_puts(out, pad ? " " : "");
    put_repeated(out, '`', fence);
    buf_fini(&clean);
}

/* Untrusted text of many lines as a fenced block: nothing inside can end it. */
static void md_block(struct buf *out, const char *info, const char *text)
{
    struct buf clean = BUF_INIT;
    size_t fence;

    sanitize_append(&clean, text ? text : "", false);
    fence = longest_run(buf_str(&clean), '`') + 1;
    fence = fence < 3 ? 3 : fence;
    put_repeated(out, '`', fence);
    buf_printf(out, "%s\n%s", info, buf_str(&clean));
    if (clean.len && clean.data[clean.len - 1] != '\n')
        buf_putc(out, '\n');
    put_repeated(out, '`', fence);
    buf_puts(out, "\n\n");
    buf_fini(&clean);
}

/* item as JSON indented by two blanks, ending with a newline (a new
 * string): cJSON indents with tabs, which the sanitizer would make one blank. */
static char *print_indented(const cJSON *item)
{
    char *printed = cJSON_Print(item);
    struct buf out = BUF_INIT;

    if (!printed)
        fatal("out of memory exporting the session");
    /* A tab in a string is escaped as \t: every tab left is layout. */
    for (const char *p = printed; *p; p++) {
        if (*p == '\t')
            buf_puts(&out, p > printed && p[-1] == ':' ? " " : "  ");
        else
            buf_putc(&out, *p);
    }
    buf_putc(&out, '\n');
    cJSON_free(printed);
    return buf_steal(&out);
}

/* text as a block: indented JSON when it is JSON, else as it is. */
static void md_maybe_json_block(struct buf *out, const char *text)
{
    cJSON *parsed = text ? cJSON_Parse(text) : NULL;

    if (parsed) {
        char *pretty = print_indented(parsed);
        md_block(out, "json", pretty);
        free(pretty);
    } else {
        md_block(out, "text", text);
    }
    cJSON_Delete(parsed);
}

static void md_usage(struct buf *out, const struct usage *u)
{
    buf_printf(out, "%lld prompt + %lld completion = %lld tokens", (long long)u->prompt_tokens,
               (long long)u->completion_tokens, (long long)u->total_tokens);
}

static void md_agent(struct buf *out, const struct agent *a)
{
    const cJSON *tool;

    buf_puts(out, "### ");
    md_text(out, a->name);
    buf_puts(out, "\n\n- Model: ");
    md_text(out, a->model);
    if (a->description) {
        buf_puts(out, "\n- Description: ");
        md_text(out, a->description);
    }
    buf_puts(out, "\n- Hands off to: ");
    for (size_t i = 0; i < a->handoffs.len; i++) {
        buf_puts(out, i ? ", " : "");
        md_text(out, a->handoffs.items[i]);
    }
    buf_puts(out, a->handoffs.len ? "" : "nobody");
    /* The tools by kind and name only: a connector's authorization stays out. */
    buf_puts(out, "\n- Tools: ");
    cJSON_ArrayForEach(tool, a->tools) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(tool, "type");
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
        buf_puts(out, tool == a->tools->child ? "" : ", ");
        md_text(out, cJSON_IsString(type) ? type->valuestring : "?");
        if (cJSON_IsString(name)) {
            buf_putc(out, ' ');
            md_text(out, name->valuestring);
        }
    }
    buf_puts(out, cJSON_GetArraySize(a->tools) ? "" : "none");
    buf_puts(out, "\n- Usage: ");
    md_usage(out, &a->usage);
    buf_puts(out, "\n\n");
    if (a->instructions) {
        buf_puts(out, "Instructions:\n\n");
        md_block(out, "text", a->instructions);
    }
}

/* The heading of entry number n of conv. */
static void md_entry_title(struct buf *out, const struct conversation *conv, const struct entry *e, size_t n)
{
    buf_printf(out, "### %zu. ", n);
    switch (e->type) {
    case ENTRY_MESSAGE_INPUT:
        buf_puts(out, e->role && strcmp(e->role, "user") != 0 ? "Input (" : "You");
        if (e->role && strcmp(e->role, "user") != 0) {
            md_text(out, e->role);
            buf_putc(out, ')');
        }
        buf_puts(out, " to ");
        md_text(out, e->agent);
        break;
    case ENTRY_MESSAGE_OUTPUT:
        md_text(out, e->agent);
        buf_puts(out, " answers");
        break;
    case ENTRY_FUNCTION_CALL:
        md_text(out, e->agent);
        buf_puts(out, " calls ");
        md_text(out, e->name);
        break;
    case ENTRY_FUNCTION_RESULT:
        buf_puts(out, "Result of ");
        md_text(out, called_function(conv, e->tool_call_id) ? called_function(conv, e->tool_call_id) : "a call");
        break;
    case ENTRY_TOOL_EXECUTION:
        md_text(out, e->agent);
        buf_puts(out, " ran the tool ");
        md_text(out, e->name);
        break;
    case ENTRY_AGENT_HANDOFF:
        buf_puts(out, "Handoff: ");
        md_text(out, e->previous_agent);
        buf_puts(out, " \xE2\x86\x92 ");
        md_text(out, e->next_agent);
        break;
    }
    buf_puts(out, "\n\n");
}

static void md_entry(struct buf *out, const struct conversation *conv, const struct entry *e, size_t n)
{
    char when[40];

    md_entry_title(out, conv, e, n);
    format_time(e->created_ms, when, sizeof when);
    buf_printf(out, "%s ", entry_type_name(e->type));
    md_code(out, e->id);
    buf_printf(out, ", %s", when);
    if (e->tool_call_id) {
        buf_puts(out, ", tool call ");
        md_code(out, e->tool_call_id);
    }
    if (e->confirmation) {
        buf_puts(out, ", confirmation ");
        md_text(out, e->confirmation);
    }
    if (e->type == ENTRY_AGENT_HANDOFF)
        buf_printf(out, ", carried out by %s",
                   e->execution && strcmp(e->execution, "client") == 0 ? "agentdeck" : "the server");
    buf_puts(out, "\n\n");
    switch (e->type) {
    case ENTRY_MESSAGE_INPUT:
    case ENTRY_MESSAGE_OUTPUT:
        md_block(out, "text", e->content);
        break;
    case ENTRY_FUNCTION_CALL:
        buf_puts(out, "Arguments:\n\n");
        md_maybe_json_block(out, e->arguments ? e->arguments : "{}");
        break;
    case ENTRY_FUNCTION_RESULT:
        md_maybe_json_block(out, e->result);
        break;
    case ENTRY_TOOL_EXECUTION: {
        char *info = e->info ? print_indented(e->info) : NULL;
        buf_puts(out, "Arguments:\n\n");
        md_maybe_json_block(out, e->arguments);
        if (info) {
            buf_puts(out, "Information:\n\n");
            md_block(out, "json", info);
        }
        free(info);
        break;
    }
    case ENTRY_AGENT_HANDOFF:
        break;
    }
}

static void md_conversation(struct buf *out, const struct conversation *conv)
{
    buf_puts(out, "## Conversation ");
    md_text(out, conv->id);
    buf_puts(out, "\n\n- Held by: ");
    md_text(out, conv->agent);
    if (conv->parent) {
        buf_puts(out, "\n- Branched from: ");
        md_text(out, conv->parent);
        if (conv->from_entry) {
            buf_puts(out, " at ");
            md_code(out, conv->from_entry);
        }
    }
    if (conv->remote_id) {
        buf_puts(out, "\n- Server conversation: ");
        md_code(out, conv->remote_id);
    }
    buf_printf(out, "\n- Entries: %zu\n- Usage: ", conv->entries.len);
    md_usage(out, &conv->usage);
    buf_puts(out, "\n\n");
    for (size_t i = 0; i < conv->entries.len; i++)
        md_entry(out, conv, conv->entries.items[i], i + 1);
}

static const char *json_str(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(item) ? item->valuestring : "";
}

static double json_num(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(item) ? item->valuedouble : 0;
}

/* One row of the runs' table, for a run.done, run.error or run.cancelled event. */
static void md_run_row(struct buf *out, const cJSON *ev)
{
    const char *type = json_str(ev, "type");
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(ev, "usage");
    const char *cells[] = {json_str(ev, "run"), json_str(ev, "conversation"), json_str(ev, "agent"),
                           strcmp(type, "run.done") == 0    ? "done"
                           : strcmp(type, "run.error") == 0 ? "failed"
                                                            : "cancelled"};

    buf_puts(out, "|");
    for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++) {
        buf_putc(out, ' ');
        md_text(out, cells[i]);
        buf_puts(out, " |");
    }
    buf_printf(out, " %.0f | %.0f ms | %.0f | %.0f | %.0f |\n", json_num(ev, "turns"), json_num(ev, "latency_ms"),
               json_num(usage, "prompt_tokens"), json_num(usage, "completion_tokens"), json_num(usage, "total_tokens"));
}

/* The runs and their usage, from the journal (the session keeps no runs once they end). */
static void md_runs(struct buf *out, const struct session *s)
{
    struct buf journal = BUF_INIT;
    char *error = NULL, *line;
    size_t rows = 0;

    buf_puts(out, "## Runs\n\n");
    if (!read_journal(s, &journal, &error)) {
        buf_puts(out, "Not known: ");
        md_text(out, error);
        buf_puts(out, ".\n\n");
        free(error);
        buf_fini(&journal);
        return;
    }
    while ((line = buf_take_line(&journal, true))) {
        cJSON *ev = cJSON_Parse(line);
        const char *type = json_str(ev, "type");
        if (strcmp(type, "run.done") == 0 || strcmp(type, "run.error") == 0 || strcmp(type, "run.cancelled") == 0) {
            if (!rows++)
                buf_puts(out, "| run | conversation | agent | outcome | turns | latency | prompt tokens | "
                              "completion tokens | total tokens |\n|---|---|---|---|---|---|---|---|---|\n");
            md_run_row(out, ev);
        }
        cJSON_Delete(ev);
        free(line);
    }
    buf_puts(out, rows ? "\n" : "No run has ended yet.\n\n");
    buf_fini(&journal);
}

static char *export_markdown(const struct session *s)
{
    struct buf out = BUF_INIT;
    struct usage total = {0, 0, 0};
    char now[40];

    format_time(clock_wall_ms(), now, sizeof now);
    for (size_t i = 0; i < s->conversations.len; i++)
        usage_add(&total, &((const struct conversation *)s->conversations.items[i])->usage);
    buf_puts(&out, "# agentdeck session ");
    md_text(&out, s->id);
    buf_puts(&out, "\n\n- Backend: ");
    md_text(&out, s->backend->ops->label);
    if (s->team->name || s->team->path) {
        buf_puts(&out, "\n- Profile: ");
        md_text(&out, s->team->name ? s->team->name : s->team->path);
    }
    buf_printf(&out, "\n- Exported: %s\n- Conversations: %zu\n- Usage: ", now, s->conversations.len);
    md_usage(&out, &total);
    buf_puts(&out, "\n\n## Agents\n\n");
    for (size_t i = 0; i < s->team->agents.len; i++)
        md_agent(&out, s->team->agents.items[i]);
    buf_puts(&out, s->team->agents.len ? "" : "None.\n\n");
    for (size_t i = 0; i < s->conversations.len; i++)
        md_conversation(&out, s->conversations.items[i]);
    md_runs(&out, s);
    return buf_steal(&out);
}

/* ---- JSON: Mistral's ConversationHistory ---------------------------------- */

static void add_agent_fields(const struct session *s, cJSON *obj, const char *agent)
{
    const struct agent *a = agent ? team_find_agent(s->team, agent) : NULL;

    cJSON_AddStringToObject(obj, "agent_id", agent_id_of(s, agent));
    if (a)
        cJSON_AddStringToObject(obj, "model", a->model);
}

/* An entry as Mistral's entry objects are (MessageInputEntry ...). */
static cJSON *history_entry(const struct session *s, const struct entry *e)
{
    cJSON *obj = cJSON_CreateObject();
    char when[40];

    format_time(e->created_ms, when, sizeof when);
    cJSON_AddStringToObject(obj, "object", "entry");
    cJSON_AddStringToObject(obj, "type", entry_type_name(e->type));
    cJSON_AddStringToObject(obj, "created_at", when);
    cJSON_AddStringToObject(obj, "id", e->id);
    switch (e->type) {
    case ENTRY_MESSAGE_INPUT:
        cJSON_AddStringToObject(obj, "role", e->role ? e->role : "user");
        cJSON_AddStringToObject(obj, "content", e->content ? e->content : "");
        break;
    case ENTRY_MESSAGE_OUTPUT:
        add_agent_fields(s, obj, e->agent);
        cJSON_AddStringToObject(obj, "role", "assistant");
        cJSON_AddStringToObject(obj, "content", e->content ? e->content : "");
        break;
    case ENTRY_FUNCTION_CALL:
        add_agent_fields(s, obj, e->agent);
        cJSON_AddStringToObject(obj, "tool_call_id", e->tool_call_id ? e->tool_call_id : "");
        cJSON_AddStringToObject(obj, "name", e->name ? e->name : "");
        cJSON_AddStringToObject(obj, "arguments", e->arguments ? e->arguments : "{}");
        if (e->confirmation)
            cJSON_AddStringToObject(obj, "confirmation_status", e->confirmation);
        break;
    case ENTRY_FUNCTION_RESULT:
        cJSON_AddStringToObject(obj, "tool_call_id", e->tool_call_id ? e->tool_call_id : "");
        cJSON_AddStringToObject(obj, "result", e->result ? e->result : "");
        break;
    case ENTRY_TOOL_EXECUTION:
        add_agent_fields(s, obj, e->agent);
        cJSON_AddStringToObject(obj, "name", e->name ? e->name : "");
        cJSON_AddStringToObject(obj, "arguments", e->arguments ? e->arguments : "");
        cJSON_AddItemToObject(obj, "info", e->info ? cJSON_Duplicate(e->info, 1) : cJSON_CreateObject());
        break;
    case ENTRY_AGENT_HANDOFF:
        cJSON_AddStringToObject(obj, "previous_agent_id", agent_id_of(s, e->previous_agent));
        cJSON_AddStringToObject(obj, "previous_agent_name", e->previous_agent ? e->previous_agent : "");
        cJSON_AddStringToObject(obj, "next_agent_id", agent_id_of(s, e->next_agent));
        cJSON_AddStringToObject(obj, "next_agent_name", e->next_agent ? e->next_agent : "");
        break;
    }
    return obj;
}

/* One conversation: agentdeck's names for it around its history. The
 * history's conversation_id is the server's id when the whole conversation
 * is one server conversation, else agentdeck's (offline; or on Mistral
 * after another agent took it on in a new server conversation). */
static cJSON *history_conversation(const struct session *s, const struct conversation *conv)
{
    cJSON *obj = cJSON_CreateObject();
    cJSON *history = cJSON_CreateObject();
    cJSON *entries;
    bool one_server_conversation = conv->remote_id && conv->remote_span.first == 0 && !conv->remote_span.carried;

    cJSON_AddStringToObject(obj, "conversation", conv->id);
    cJSON_AddStringToObject(obj, "agent", conv->agent);
    if (conv->parent)
        cJSON_AddStringToObject(obj, "parent", conv->parent);
    if (conv->from_entry)
        cJSON_AddStringToObject(obj, "from_entry", conv->from_entry);
    if (conv->remote_id)
        cJSON_AddStringToObject(obj, "server_conversation", conv->remote_id);
    cJSON_AddStringToObject(history, "object", "conversation.history");
    cJSON_AddStringToObject(history, "conversation_id", one_server_conversation ? conv->remote_id : conv->id);
    entries = cJSON_AddArrayToObject(history, "entries");
    for (size_t i = 0; i < conv->entries.len; i++)
        cJSON_AddItemToArray(entries, history_entry(s, conv->entries.items[i]));
    cJSON_AddItemToObject(obj, "history", history);
    return obj;
}

static char *export_json(const struct session *s)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *list;
    char now[40], *text;

    format_time(clock_wall_ms(), now, sizeof now);
    cJSON_AddStringToObject(root, "session", s->id);
    cJSON_AddStringToObject(root, "backend", s->backend->ops->name);
    cJSON_AddStringToObject(root, "exported_at", now);
    list = cJSON_AddArrayToObject(root, "conversations");
    for (size_t i = 0; i < s->conversations.len; i++)
        cJSON_AddItemToArray(list, history_conversation(s, s->conversations.items[i]));
    text = print_indented(root);
    cJSON_Delete(root);
    return text;
}

/* ---- the command ------------------------------------------------------------ */

static size_t count_lines(const char *text)
{
    size_t n = 0;
    for (const char *p = text; (p = strchr(p, '\n')); p++)
        n++;
    return n;
}

enum cmd_status cmd_export(struct cmd_call *call)
{
    struct session *s = call->session;
    const char *format = cmd_arg(call, 0), *path = cmd_arg(call, 1);
    struct buf events = BUF_INIT;
    char *text = NULL, *error = NULL;
    size_t len;
    cJSON *fields;

    if (strcmp(format, "md") == 0) {
        text = export_markdown(s);
    } else if (strcmp(format, "json") == 0) {
        text = export_json(s);
    } else if (strcmp(format, "jsonl") == 0) {
        if (!read_journal(s, &events, &error)) {
            buf_fini(&events);
            return cmd_result(call, false, error);
        }
        text = buf_steal(&events);
    } else {
        return cmd_fail(call, "/export: unknown format \"%s\" (expected md, json or jsonl)", format);
    }
    len = strlen(text);
    if (!file_write_atomic(path, text, len, &error)) {
        free(text);
        cmd_fail(call, "/export %s: %s", format, error);
        free(error);
        return CMD_FAILED;
    }
    fields = cJSON_CreateObject();
    cJSON_AddStringToObject(fields, "format", format);
    cJSON_AddStringToObject(fields, "path", path);
    cJSON_AddNumberToObject(fields, "bytes", (double)len);
    if (strcmp(format, "jsonl") == 0)
        cJSON_AddNumberToObject(fields, "events", (double)count_lines(text));
    else
        cJSON_AddNumberToObject(fields, "conversations", (double)s->conversations.len);
    free(text);
    event_emit(&s->events, "export", fields);
    return CMD_OK;
}
