/* The debugger's views that explain what happened: /usage, /graph,
 * /context and /diff (orch/stats.h, text/sidebyside.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cmd/views.h"

#include "cmd/internal.h"
#include "core/buf.h"
#include "core/xalloc.h"
#include "orch/stats.h"

/* The width /diff lays its columns out in (the console uses its own). */
#define DIFF_WIDTH 100

enum cmd_status cmd_usage(struct cmd_call *call)
{
    event_emit(&call->session->events, "usage", stats_usage_json(call->session));
    return CMD_OK;
}

enum cmd_status cmd_graph(struct cmd_call *call)
{
    event_emit(&call->session->events, "graph", stats_graph_json(call->session));
    return CMD_OK;
}

enum cmd_status cmd_context(struct cmd_call *call)
{
    char *error = NULL;
    cJSON *fields = stats_context_json(call->session, cmd_arg(call, 0), &error);

    if (!fields)
        return cmd_result(call, false, error);
    event_emit(&call->session->events, "context", fields);
    return CMD_OK;
}

/* What an entry says, as the text /diff compares (a new string). */
static char *entry_diff_text(const struct entry *e)
{
    cJSON *obj;
    char *json, *text;

    switch (e->type) {
    case ENTRY_MESSAGE_INPUT:
    case ENTRY_MESSAGE_OUTPUT:
        return xstrdup(e->content ? e->content : "");
    case ENTRY_FUNCTION_RESULT:
        return xstrdup(e->result ? e->result : "");
    case ENTRY_FUNCTION_CALL:
        return xasprintf("%s %s", e->name ? e->name : "", e->arguments ? e->arguments : "{}");
    default:
        obj = cJSON_CreateObject();
        entry_add_fields(e, obj);
        json = cJSON_PrintUnformatted(obj);
        text = xstrdup(json ? json : "");
        cJSON_free(json);
        cJSON_Delete(obj);
        return text;
    }
}

/* One side of /diff, or NULL (with the command failed) when id names no entry. */
static cJSON *diff_side(struct cmd_call *call, const char *id)
{
    size_t index;
    const struct conversation *conv = session_find_entry(call->session, id, &index);
    const struct entry *e;
    cJSON *side;
    char *text;

    if (!conv) {
        cmd_fail(call, "no entry \"%s\" (/history lists a conversation's entries)", id);
        return NULL;
    }
    e = conv->entries.items[index];
    side = cJSON_CreateObject();
    cJSON_AddStringToObject(side, "entry_id", e->id);
    cJSON_AddStringToObject(side, "type", entry_type_name(e->type));
    cJSON_AddStringToObject(side, "conversation", conv->id);
    if (e->agent)
        cJSON_AddStringToObject(side, "agent", e->agent);
    text = entry_diff_text(e);
    cJSON_AddStringToObject(side, "text", text);
    free(text);
    return side;
}

char *diff_render(const cJSON *left, const cJSON *right, size_t width, struct side_by_side_stats *stats)
{
    struct buf out = BUF_INIT, head_l = BUF_INIT, head_r = BUF_INIT;
    const cJSON *sides[2] = {left, right};

    for (int k = 0; k < 2; k++) {
        const cJSON *agent = cJSON_GetObjectItemCaseSensitive(sides[k], "agent");
        buf_printf(k ? &head_r : &head_l, "%s, %s in %s",
                   cJSON_GetObjectItemCaseSensitive(sides[k], "entry_id")->valuestring,
                   cJSON_IsString(agent) ? agent->valuestring : "?",
                   cJSON_GetObjectItemCaseSensitive(sides[k], "conversation")->valuestring);
    }
    side_by_side_heading(&out, buf_str(&head_l), buf_str(&head_r), width);
    side_by_side(&out, cJSON_GetObjectItemCaseSensitive(left, "text")->valuestring,
                 cJSON_GetObjectItemCaseSensitive(right, "text")->valuestring, width, stats);
    buf_fini(&head_l);
    buf_fini(&head_r);
    return buf_steal(&out);
}

enum cmd_status cmd_diff(struct cmd_call *call)
{
    cJSON *left, *right, *fields;
    struct side_by_side_stats st;
    char *text;

    if (!(left = diff_side(call, cmd_arg(call, 0))))
        return CMD_FAILED;
    if (!(right = diff_side(call, cmd_arg(call, 1)))) {
        cJSON_Delete(left);
        return CMD_FAILED;
    }
    text = diff_render(left, right, DIFF_WIDTH, &st);
    fields = cJSON_CreateObject();
    cJSON_AddItemToObject(fields, "left", left);
    cJSON_AddItemToObject(fields, "right", right);
    cJSON_AddNumberToObject(fields, "same", (double)st.same);
    cJSON_AddNumberToObject(fields, "changed", (double)st.changed);
    cJSON_AddNumberToObject(fields, "left_only", (double)st.left_only);
    cJSON_AddNumberToObject(fields, "right_only", (double)st.right_only);
    cJSON_AddStringToObject(fields, "text", text);
    free(text);
    event_emit(&call->session->events, "diff", fields);
    return CMD_OK;
}
