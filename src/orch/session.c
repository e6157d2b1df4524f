#include "config.h"

#include "orch/session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "orch/debug.h"
#include "orch/handlers.h"
#include "orch/pattern.h"
#include "orch/resume.h"
#include "orch/runner.h"
#include "orch/stats.h"
#include "tools/mcp.h"

static void conversation_free_item(void *c)
{
    conversation_free(c);
}

static void run_free_item(void *run)
{
    run_free(run);
}

/* A conversation's latest run, by ids: the conversation may be gone. */
struct latest_run {
    char *conversation;
    char *run;
};

static void latest_run_free(void *item)
{
    struct latest_run *l = item;
    free(l->conversation);
    free(l->run);
    free(l);
}

/* The backend's warnings outside runs become warning events. */
static void backend_warning(void *ud, const char *agent, const char *message)
{
    struct session *s = ud;
    cJSON *fields = cJSON_CreateObject();
    if (agent)
        cJSON_AddStringToObject(fields, "agent", agent);
    cJSON_AddStringToObject(fields, "message", message);
    event_emit(&s->events, "warning", fields);
}

struct session *session_new(const char *id, struct loop *loop, struct backend *backend, struct team *team)
{
    struct session *s = xcalloc(1, sizeof *s);
    s->id = xstrdup(id);
    s->loop = loop;
    s->backend = backend;
    backend->warn = backend_warning;
    backend->warn_ud = s;
    s->team = team;
    event_stream_init(&s->events);
    vec_init(&s->conversations, conversation_free_item);
    vec_init(&s->runs, run_free_item);
    vec_init(&s->patterns, NULL);
    vec_init(&s->unfinished, unfinished_free);
    s->state = cJSON_Duplicate(team->state.initial, 1);
    stats_attach(s);
    s->wire = wire_new(WIRE_MAX_EXCHANGES, WIRE_MAX_BODY, WIRE_MAX_TOTAL);
    s->speaks_http = backend_set_wire(backend, s->wire);
    vec_init(&s->latest_runs, latest_run_free);
    vec_init(&s->always_allowed, free);
    return s;
}

void session_free(struct session *s)
{
    if (!s)
        return;
    vec_fini(&s->runs); /* cancels backend calls and functions without events */
    vec_fini(&s->unfinished);
    pattern_free_all(s);
    handlers_free(s);
    debug_free(s);
    stats_free(s);
    mcp_hub_free(s->mcp); /* after the runs, whose calls it holds */
    vec_fini(&s->patterns);
    cJSON_Delete(s->state);
    vec_fini(&s->always_allowed);
    vec_fini(&s->conversations);
    backend_free(s->backend);
    wire_free(s->wire); /* after the backend, which records into it to the end */
    vec_fini(&s->latest_runs);
    team_free(s->team);
    event_stream_fini(&s->events);
    free(s->id);
    free(s);
}

struct conversation *session_find_conversation(const struct session *s, const char *id)
{
    for (size_t i = 0; i < s->conversations.len; i++) {
        struct conversation *c = s->conversations.items[i];
        if (strcmp(c->id, id) == 0)
            return c;
    }
    return NULL;
}

void session_remove_conversation(struct session *s, struct conversation *conv)
{
    for (size_t i = 0; i < s->conversations.len; i++) {
        if (s->conversations.items[i] == conv) {
            vec_remove(&s->conversations, i);
            break;
        }
    }
    if (s->focused == conv)
        s->focused = s->conversations.len ? s->conversations.items[s->conversations.len - 1] : NULL;
    conversation_free(conv);
}

struct conversation *session_find_entry(const struct session *s, const char *id, size_t *index)
{
    for (size_t i = 0; i < s->conversations.len; i++) {
        struct conversation *c = s->conversations.items[i];
        if (conversation_find_entry(c, id, index))
            return c;
    }
    return NULL;
}

void session_note_run(struct session *s, const struct conversation *conv, const char *run_id)
{
    struct latest_run *l;

    for (size_t i = 0; i < s->latest_runs.len; i++) {
        l = s->latest_runs.items[i];
        if (strcmp(l->conversation, conv->id) == 0) {
            free(l->run);
            l->run = xstrdup(run_id);
            return;
        }
    }
    l = xcalloc(1, sizeof *l);
    l->conversation = xstrdup(conv->id);
    l->run = xstrdup(run_id);
    vec_push(&s->latest_runs, l);
}

const char *session_latest_run(const struct session *s, const struct conversation *conv)
{
    for (size_t i = 0; i < s->latest_runs.len; i++) {
        const struct latest_run *l = s->latest_runs.items[i];
        if (strcmp(l->conversation, conv->id) == 0)
            return l->run;
    }
    return NULL;
}

void session_error(struct session *s, const char *command, const char *fmt, ...)
{
    cJSON *fields = cJSON_CreateObject();
    va_list ap;
    char *message;

    va_start(ap, fmt);
    message = xvasprintf(fmt, ap);
    va_end(ap);
    cJSON_AddStringToObject(fields, "message", message);
    if (command)
        cJSON_AddStringToObject(fields, "command", command);
    event_emit(&s->events, "error", fields);
    free(message);
}

static void on_team_synced(void *ud, const char *error)
{
    struct session *s = ud;

    s->syncing--;
    if (error) {
        s->async_failures++;
        session_error(s, NULL, "the agents could not be changed on the %s backend: %s", s->backend->ops->name, error);
    }
}

void session_team_changed(struct session *s)
{
    if (!s->backend->ops->prepare)
        return;
    s->syncing++;
    backend_prepare(s->backend, s->team, on_team_synced, s);
}

static struct conversation *session_new_conversation(struct session *s, const char *agent)
{
    char id[32];
    struct conversation *c;

    snprintf(id, sizeof id, "c%u", ++s->next_conversation);
    c = conversation_new(id, agent);
    vec_push(&s->conversations, c);
    s->focused = c;
    return c;
}

static void emit_conversation_started(struct session *s, const struct conversation *c, const char *from_entry)
{
    cJSON *fields = cJSON_CreateObject();
    cJSON_AddStringToObject(fields, "conversation", c->id);
    cJSON_AddStringToObject(fields, "agent", c->agent);
    if (c->parent) {
        cJSON_AddStringToObject(fields, "parent", c->parent);
        cJSON_AddStringToObject(fields, "from_entry", from_entry);
        cJSON_AddNumberToObject(fields, "carried", (double)c->entries.len);
    }
    event_emit(&s->events, "conversation.started", fields);
}

/* Appends a user message for agent to conv and runs the agent. */
static struct run *run_user_message(struct session *s, struct conversation *conv, const struct agent *agent,
                                    const char *text, const cJSON *response_format)
{
    struct entry *e = entry_new(ENTRY_MESSAGE_INPUT, agent->name);
    size_t first_new = conv->entries.len;

    e->role = xstrdup("user");
    if (s->team->state.inject) {
        /* The guide's shared state: every input carries it. */
        char *state = cJSON_PrintUnformatted(s->state);
        e->content = xasprintf("CURRENT STATE: %s\n\n%s", state ? state : "{}", text);
        cJSON_free(state);
    } else {
        e->content = xstrdup(text);
    }
    free(conv->agent);
    conv->agent = xstrdup(agent->name);
    conversation_append_entry(conv, e);
    session_emit_entry(s, conv, NULL, e);
    return run_start(s, conv, agent, first_new, response_format);
}

struct conversation *session_start(struct session *s, struct agent *agent, const char *text)
{
    struct conversation *c = session_new_conversation(s, agent->name);
    emit_conversation_started(s, c, NULL);
    run_user_message(s, c, agent, text, NULL);
    return c;
}

struct run *session_send(struct session *s, struct conversation **conv, const struct agent *agent, const char *text,
                         const cJSON *response_format)
{
    if (!*conv) {
        *conv = session_new_conversation(s, agent->name);
        emit_conversation_started(s, *conv, NULL);
    }
    return run_user_message(s, *conv, agent, text, response_format);
}

void session_append(struct session *s, struct conversation *conv, struct agent *agent, const char *text)
{
    s->focused = conv;
    run_user_message(s, conv, agent, text, NULL);
}

struct conversation *session_restart(struct session *s, struct conversation *conv, size_t upto, const char *text)
{
    const struct entry *from = conv->entries.items[upto];
    const char *holder = conv->agent;
    struct conversation *c;
    struct agent *agent;

    /* The agent that held the conversation at that entry. */
    for (size_t i = 0; i <= upto; i++) {
        const struct entry *e = conv->entries.items[i];
        if (e->type == ENTRY_AGENT_HANDOFF && e->next_agent)
            holder = e->next_agent;
        else if (e->agent)
            holder = e->agent;
    }
    agent = team_find_agent(s->team, holder);
    if (!agent)
        agent = team_find_agent(s->team, conv->agent);
    if (!agent)
        return NULL;
    c = session_new_conversation(s, agent->name);
    c->parent = xstrdup(conv->id);
    c->from_entry = xstrdup(from->id);
    for (size_t i = 0; i <= upto; i++)
        conversation_append_entry(c, entry_clone(conv->entries.items[i]));
    if (conv->remote_id) {
        /* The backend may branch its own conversation (Mistral's restart). */
        c->branch.remote_id = xstrdup(conv->remote_id);
        c->branch.remote_agent = conv->remote_agent ? xstrdup(conv->remote_agent) : NULL;
        c->branch.span = conv->remote_span;
        c->branch.from = upto;
    }
    emit_conversation_started(s, c, from->id);
    run_user_message(s, c, agent, text, NULL);
    return c;
}

void session_read_state(struct session *s, const char *agent, const char *output)
{
    for (const char *p = output; p && *p;) {
        const char *line = p, *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        cJSON *update, *item, *fields;
        char *json;

        p = end ? end + 1 : line + len;
        if (len < 7 || strncmp(line, "STATE:", 6) != 0)
            continue;
        json = xstrndup(line + 6, len - 6);
        update = cJSON_Parse(json);
        free(json);
        if (!cJSON_IsObject(update)) {
            fields = cJSON_CreateObject();
            cJSON_AddStringToObject(fields, "agent", agent);
            cJSON_AddStringToObject(fields, "message",
                                    "a STATE: line of the reply is not a JSON object; the state is unchanged");
            event_emit(&s->events, "warning", fields);
            cJSON_Delete(update);
            continue;
        }
        while ((item = update->child)) {
            cJSON_DetachItemViaPointer(update, item);
            cJSON_DeleteItemFromObjectCaseSensitive(s->state, item->string);
            cJSON_AddItemToObject(s->state, item->string, item);
        }
        cJSON_Delete(update);
        fields = cJSON_CreateObject();
        cJSON_AddStringToObject(fields, "change", "read");
        cJSON_AddStringToObject(fields, "agent", agent);
        cJSON_AddItemToObject(fields, "state", cJSON_Duplicate(s->state, 1));
        event_emit(&s->events, "state", fields);
    }
}
