/* /conversation: the conversations as the backend keeps them. On Mistral
 * they are the server's (list, get, history, messages, delete over the
 * API); on the other backends agentdeck itself keeps them, and the same
 * commands answer from the session. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cmd/internal.h"
#include "core/xalloc.h"

static struct conversation *conversation_by_remote_id(const struct session *s, const char *remote_id)
{
    for (size_t i = 0; remote_id && i < s->conversations.len; i++) {
        struct conversation *c = s->conversations.items[i];
        if (c->remote_id && strcmp(c->remote_id, remote_id) == 0)
            return c;
    }
    return NULL;
}

static const char *json_string(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

static void add_string_if(cJSON *obj, const char *key, const char *value)
{
    if (value)
        cJSON_AddStringToObject(obj, key, value);
}

/* Names the conversation both ways: ours and the server's; and the
 * answer's source, when given. */
static cJSON *conversation_fields(const struct session *s, const char *remote_id, const char *source)
{
    cJSON *fields = cJSON_CreateObject();
    const struct conversation *local = conversation_by_remote_id(s, remote_id);

    add_string_if(fields, "source", source);
    if (local)
        cJSON_AddStringToObject(fields, "conversation", local->id);
    add_string_if(fields, "remote_id", remote_id);
    return fields;
}

/* ---- answers from the server ---------------------------------------------- */

static cJSON *server_summary(const struct session *s, const cJSON *item)
{
    cJSON *out = conversation_fields(s, json_string(item, "id"), NULL);
    const char *agent_id = json_string(item, "agent_id");
    const struct agent *agent = team_find_agent_by_remote_id(s->team, agent_id);

    add_string_if(out, "agent", agent ? agent->name : NULL);
    add_string_if(out, "agent_id", agent_id);
    add_string_if(out, "model", json_string(item, "model"));
    add_string_if(out, "name", json_string(item, "name"));
    add_string_if(out, "created_at", json_string(item, "created_at"));
    add_string_if(out, "updated_at", json_string(item, "updated_at"));
    return out;
}

static void on_queried(void *ud, enum backend_query q, const char *remote_id, const cJSON *result, const char *error)
{
    struct session *s = ud;
    cJSON *fields;
    const cJSON *item;

    s->queries--;
    if (error) {
        s->async_failures++;
        static const char *const what[] = {"list the server's conversations", "get conversation", "get the history of",
                                           "get the messages of", "delete"};
        session_error(s, NULL, "could not %s%s%s: %s", what[q], remote_id ? " " : "", remote_id ? remote_id : "",
                      error);
        return;
    }
    fields = conversation_fields(s, remote_id, "server");
    switch (q) {
    case BACKEND_QUERY_LIST: {
        cJSON *list = cJSON_AddArrayToObject(fields, "conversations");
        cJSON_ArrayForEach(item, result) {
            cJSON_AddItemToArray(list, server_summary(s, item));
        }
        event_emit(&s->events, "conversation.list", fields);
        break;
    }
    case BACKEND_QUERY_GET: {
        cJSON *summary = server_summary(s, result);
        cJSON *next;
        for (cJSON *f = summary->child; f; f = next) {
            next = f->next;
            if (!cJSON_GetObjectItemCaseSensitive(fields, f->string))
                cJSON_AddItemToObject(fields, f->string, cJSON_DetachItemViaPointer(summary, f));
        }
        cJSON_Delete(summary);
        cJSON_AddItemToObject(fields, "server", cJSON_Duplicate(result, 1));
        event_emit(&s->events, "conversation.show", fields);
        break;
    }
    case BACKEND_QUERY_HISTORY:
        cJSON_AddItemToObject(fields, "entries",
                              cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(result, "entries"), 1));
        event_emit(&s->events, "conversation.history", fields);
        break;
    case BACKEND_QUERY_MESSAGES:
        cJSON_AddItemToObject(fields, "messages",
                              cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(result, "messages"), 1));
        event_emit(&s->events, "conversation.messages", fields);
        break;
    case BACKEND_QUERY_DELETE: {
        struct conversation *local = conversation_by_remote_id(s, remote_id);
        if (local && local->runs_in_flight == 0)
            session_remove_conversation(s, local);
        event_emit(&s->events, "conversation.deleted", fields);
        break;
    }
    }
}

/* ---- the command ------------------------------------------------------------ */

/* The conversation argument i (the focused one when absent): ours (c1), or
 * a server id. Sets *local and/or *remote_id; fails when neither is known. */
static bool which(struct cmd_call *call, size_t i, struct conversation **local, const char **remote_id)
{
    struct session *s = call->session;
    const char *name = cmd_arg(call, i);

    *local = name ? session_find_conversation(s, name) : s->focused;
    *remote_id = NULL;
    if (*local) {
        *remote_id = (*local)->remote_id;
        return true;
    }
    if (!name) {
        cmd_fail(call, "no conversation yet: name one, or start one with /start AGENT TEXT");
        return false;
    }
    if (!s->backend->ops->query) {
        cmd_fail(call, "no conversation named \"%s\" (/conversation list shows them)", name);
        return false;
    }
    *remote_id = name;
    return true;
}

/* Asks the server; false when the backend keeps no conversations of its
 * own, and the session answers instead. */
static bool ask_server(struct cmd_call *call, enum backend_query q, const struct conversation *local,
                       const char *remote_id, int page, enum cmd_status *status)
{
    struct session *s = call->session;

    if (!s->backend->ops->query)
        return false;
    *status = CMD_OK;
    if (q != BACKEND_QUERY_LIST && !remote_id) {
        *status =
            cmd_fail(call, "%s has no server conversation yet: its first run has not reached the server", local->id);
        return true;
    }
    s->queries++;
    s->backend->ops->query(s->backend, q, remote_id, page, on_queried, s);
    return true;
}

static const struct flag_spec list_flags[] = {
    {"page", "N", false, "the page of the server's list, from 0 (50 a page)"},
    {NULL, NULL, false, NULL},
};

static cJSON *local_summary(const struct conversation *c)
{
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "conversation", c->id);
    cJSON_AddStringToObject(out, "agent", c->agent);
    add_string_if(out, "parent", c->parent);
    add_string_if(out, "remote_id", c->remote_id);
    cJSON_AddNumberToObject(out, "entries", (double)c->entries.len);
    cJSON_AddNumberToObject(out, "runs_in_flight", c->runs_in_flight);
    return out;
}

static enum cmd_status cmd_conversation_list(struct cmd_call *call)
{
    struct session *s = call->session;
    enum cmd_status status;
    cJSON *fields, *list;
    long page = 0;

    for (size_t i = 0; i < call->flags.len; i++) {
        const struct flag_value *fv = call->flags.items[i];
        char *end;
        page = strtol(fv->value, &end, 10);
        if (end == fv->value || *end || page < 0 || page > 1000000)
            return cmd_fail(call, "--page %s: expected a page number from 0", fv->value);
    }
    if (ask_server(call, BACKEND_QUERY_LIST, NULL, NULL, (int)page, &status))
        return status;
    fields = cJSON_CreateObject();
    cJSON_AddStringToObject(fields, "source", "local");
    list = cJSON_AddArrayToObject(fields, "conversations");
    for (size_t i = 0; i < s->conversations.len; i++)
        cJSON_AddItemToArray(list, local_summary(s->conversations.items[i]));
    event_emit(&s->events, "conversation.list", fields);
    return CMD_OK;
}

static enum cmd_status cmd_conversation_show(struct cmd_call *call)
{
    struct conversation *local;
    const char *remote_id;
    enum cmd_status status;
    cJSON *fields, *summary;

    if (!which(call, 0, &local, &remote_id))
        return CMD_FAILED;
    if (ask_server(call, BACKEND_QUERY_GET, local, remote_id, 0, &status))
        return status;
    summary = local_summary(local);
    fields = cJSON_CreateObject();
    cJSON_AddStringToObject(fields, "source", "local");
    for (cJSON *f = summary->child, *next; f; f = next) {
        next = f->next;
        cJSON_AddItemToObject(fields, f->string, cJSON_DetachItemViaPointer(summary, f));
    }
    cJSON_Delete(summary);
    event_emit(&call->session->events, "conversation.show", fields);
    return CMD_OK;
}

/* history and messages: the entries, or only the messages. */
static enum cmd_status show_entries(struct cmd_call *call, bool messages)
{
    struct conversation *local;
    const char *remote_id;
    enum cmd_status status;
    cJSON *fields;

    if (!which(call, 0, &local, &remote_id))
        return CMD_FAILED;
    if (ask_server(call, messages ? BACKEND_QUERY_MESSAGES : BACKEND_QUERY_HISTORY, local, remote_id, 0, &status))
        return status;
    fields = cJSON_CreateObject();
    cJSON_AddStringToObject(fields, "source", "local");
    cJSON_AddStringToObject(fields, "conversation", local->id);
    cJSON_AddStringToObject(fields, "agent", local->agent);
    add_string_if(fields, "parent", local->parent);
    cJSON_AddItemToObject(fields, messages ? "messages" : "entries", conversation_entries_json(local, 0, messages));
    event_emit(&call->session->events, messages ? "conversation.messages" : "conversation.history", fields);
    return CMD_OK;
}

static enum cmd_status cmd_conversation_history(struct cmd_call *call)
{
    return show_entries(call, false);
}

static enum cmd_status cmd_conversation_messages(struct cmd_call *call)
{
    return show_entries(call, true);
}

static enum cmd_status cmd_conversation_delete(struct cmd_call *call)
{
    struct session *s = call->session;
    struct conversation *local;
    const char *remote_id;
    enum cmd_status status;
    cJSON *fields;

    if (!which(call, 0, &local, &remote_id))
        return CMD_FAILED;
    if (local && local->runs_in_flight)
        return cmd_fail(call, "%s is still answering in %s: wait for it, or cancel it first", local->agent, local->id);
    if (remote_id && ask_server(call, BACKEND_QUERY_DELETE, local, remote_id, 0, &status))
        return status;
    fields = cJSON_CreateObject();
    cJSON_AddStringToObject(fields, "source", "local");
    cJSON_AddStringToObject(fields, "conversation", local->id);
    session_remove_conversation(s, local);
    event_emit(&s->events, "conversation.deleted", fields);
    return CMD_OK;
}

/* ---- branches ---------------------------------------------------------------- */

/* Adds conv and, under it, the branches made from it, depth first. */
static void add_branch_tree(const struct session *s, const struct conversation *conv, int depth, cJSON *list)
{
    cJSON *item = cJSON_CreateObject();

    cJSON_AddStringToObject(item, "conversation", conv->id);
    cJSON_AddStringToObject(item, "agent", conv->agent);
    add_string_if(item, "parent", conv->parent);
    add_string_if(item, "from_entry", conv->from_entry);
    cJSON_AddNumberToObject(item, "depth", depth);
    cJSON_AddNumberToObject(item, "entries", (double)conv->entries.len);
    cJSON_AddBoolToObject(item, "focused", conv == s->focused);
    cJSON_AddItemToArray(list, item);
    for (size_t i = 0; i < s->conversations.len; i++) {
        const struct conversation *c = s->conversations.items[i];
        if (c->parent && strcmp(c->parent, conv->id) == 0)
            add_branch_tree(s, c, depth + 1, list);
    }
}

enum cmd_status cmd_branches(struct cmd_call *call)
{
    const struct session *s = call->session;
    cJSON *fields = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(fields, "branches");

    /* Roots: conversations not branched from one still here. */
    for (size_t i = 0; i < s->conversations.len; i++) {
        const struct conversation *c = s->conversations.items[i];
        if (!c->parent || !session_find_conversation(s, c->parent))
            add_branch_tree(s, c, 0, list);
    }
    event_emit(&call->session->events, "branch.list", fields);
    return CMD_OK;
}

enum cmd_status cmd_switch(struct cmd_call *call)
{
    struct session *s = call->session;
    struct conversation *conv = session_find_conversation(s, cmd_arg(call, 0));
    cJSON *fields;

    if (!conv)
        return cmd_fail(call, "no conversation named \"%s\" (/branches lists them)", cmd_arg(call, 0));
    s->focused = conv;
    fields = cJSON_CreateObject();
    cJSON_AddStringToObject(fields, "conversation", conv->id);
    cJSON_AddStringToObject(fields, "agent", conv->agent);
    event_emit(&s->events, "conversation.focused", fields);
    return CMD_OK;
}

/* clang-format off */
const struct command_spec cmd_conversation_subcommands[] = {
    {"list", "", "list the conversations (on Mistral, the server's)", NULL, 0, 0, list_flags, NULL,
     cmd_conversation_list},
    {"show", "[CONVERSATION]", "show a conversation: its agent, ids and size", NULL, 0, 1, NULL, NULL,
     cmd_conversation_show},
    {"history", "[CONVERSATION]", "show its entries as the backend keeps them", NULL, 0, 1, NULL, NULL,
     cmd_conversation_history},
    {"messages", "[CONVERSATION]", "show only its messages", NULL, 0, 1, NULL, NULL, cmd_conversation_messages},
    {"delete", "CONVERSATION", "delete a conversation (on Mistral, on the server too)", NULL, 1, 1, NULL, NULL,
     cmd_conversation_delete},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL, NULL},
};
/* clang-format on */
