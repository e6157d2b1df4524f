#include "config.h"

#include "orch/handlers.h"

#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "orch/runner.h"

struct delivery {
    char *event;
    char *agent;
    char *text;
};

static void delivery_free(void *item)
{
    struct delivery *d = item;
    free(d->event);
    free(d->agent);
    free(d->text);
    free(d);
}

/* Whether name is a valid event name: 1 to 64 of A-Z a-z 0-9 _ . : -
 * When not, *error says so. */
static bool check_event_name(const char *name, char **error)
{
    size_t n = strlen(name);

    if (n >= 1 && n <= 64 && strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-") == n)
        return true;
    *error = xasprintf("\"%s\" is not a valid event name (1 to 64 letters, digits, _ . : or -)", name);
    return false;
}

/* The handlers start as the profile's (event -> agent). */
static void ensure_init(struct session *s)
{
    const cJSON *item;

    if (s->handlers)
        return;
    s->handlers = cJSON_CreateObject();
    vec_init(&s->deliveries, delivery_free);
    cJSON_ArrayForEach(item, s->team->handlers) {
        if (cJSON_IsString(item))
            cJSON_AddItemToArray(cJSON_AddArrayToObject(s->handlers, item->string),
                                 cJSON_CreateString(item->valuestring));
    }
}

bool handlers_emit_line(struct session *s, const char *line, const char *source, char **error)
{
    size_t n = strcspn(line, " \t");
    char *event = xstrndup(line, n);
    bool ok = handlers_emit(s, event, line + n + strspn(line + n, " \t"), source, error);
    free(event);
    return ok;
}

cJSON *handlers_list(struct session *s)
{
    ensure_init(s);
    return cJSON_Duplicate(s->handlers, 1);
}

static void emit_handler(struct session *s, const char *type, const char *event, const char *agent)
{
    cJSON *fields = cJSON_CreateObject();
    cJSON_AddStringToObject(fields, "event", event);
    if (agent)
        cJSON_AddStringToObject(fields, "agent", agent);
    event_emit(&s->events, type, fields);
}

bool handlers_add(struct session *s, const char *event, const char *agent, char **error)
{
    cJSON *list;
    const cJSON *item;

    if (!check_event_name(event, error))
        return false;
    if (!team_find_agent(s->team, agent)) {
        *error = xasprintf("no agent named \"%s\"", agent);
        return false;
    }
    ensure_init(s);
    list = cJSON_GetObjectItemCaseSensitive(s->handlers, event);
    if (!list)
        list = cJSON_AddArrayToObject(s->handlers, event);
    cJSON_ArrayForEach(item, list) {
        if (strcmp(item->valuestring, agent) == 0) {
            *error = xasprintf("%s already handles %s", agent, event);
            return false;
        }
    }
    cJSON_AddItemToArray(list, cJSON_CreateString(agent));
    emit_handler(s, "handler.added", event, agent);
    return true;
}

bool handlers_remove(struct session *s, const char *event, const char *agent, char **error)
{
    cJSON *list;
    int i = 0;
    const cJSON *item;

    ensure_init(s);
    list = cJSON_GetObjectItemCaseSensitive(s->handlers, event);
    if (!list) {
        *error = xasprintf("no handler for %s", event);
        return false;
    }
    if (!agent) {
        cJSON_DeleteItemFromObjectCaseSensitive(s->handlers, event);
        emit_handler(s, "handler.removed", event, NULL);
        return true;
    }
    cJSON_ArrayForEach(item, list) {
        if (strcmp(item->valuestring, agent) == 0) {
            cJSON_DeleteItemFromArray(list, i);
            if (!cJSON_GetArraySize(list))
                cJSON_DeleteItemFromObjectCaseSensitive(s->handlers, event);
            emit_handler(s, "handler.removed", event, agent);
            return true;
        }
        i++;
    }
    *error = xasprintf("%s does not handle %s", agent, event);
    return false;
}

static void deliver_next(struct session *s);

static void on_delivered(void *ud, const struct run_outcome *o)
{
    struct session *s = ud;
    if (strcmp(o->status, "error") == 0)
        s->runs_failed++;
    s->delivering = false;
    delivery_free(vec_remove(&s->deliveries, 0));
    if (!s->interrupted)
        deliver_next(s);
    else
        vec_truncate(&s->deliveries, 0);
}

/* Runs the first queued delivery, unless one runs now. */
static void deliver_next(struct session *s)
{
    while (!s->delivering && s->deliveries.len) {
        struct delivery *d = s->deliveries.items[0];
        const struct agent *agent = team_find_agent(s->team, d->agent);
        struct run *run;

        if (!agent) {
            session_error(s, NULL, "the handler %s of %s no longer exists", d->agent, d->event);
            delivery_free(vec_remove(&s->deliveries, 0));
            continue;
        }
        if (s->handler_conv && !session_find_conversation(s, s->handler_conv)) {
            free(s->handler_conv); /* deleted meanwhile: a new one */
            s->handler_conv = NULL;
        }
        {
            struct conversation *conv = s->handler_conv ? session_find_conversation(s, s->handler_conv) : NULL;
            struct conversation *keep_focus = s->focused;
            s->delivering = true;
            run = session_send(s, &conv, agent, d->text, NULL);
            if (keep_focus)
                s->focused = keep_focus; /* the user's conversation stays the focused one */
            if (!s->handler_conv)
                s->handler_conv = xstrdup(conv->id);
        }
        run_watch(run, on_delivered, s);
    }
}

bool handlers_emit(struct session *s, const char *event, const char *data, const char *source, char **error)
{
    const cJSON *list, *item;
    cJSON *fields, *agents;

    if (!check_event_name(event, error))
        return false;
    ensure_init(s);
    list = cJSON_GetObjectItemCaseSensitive(s->handlers, event);
    fields = cJSON_CreateObject();
    cJSON_AddStringToObject(fields, "event", event);
    cJSON_AddStringToObject(fields, "data", data);
    cJSON_AddStringToObject(fields, "source", source);
    agents = cJSON_AddArrayToObject(fields, "handlers");
    cJSON_ArrayForEach(item, list) {
        cJSON_AddItemToArray(agents, cJSON_CreateString(item->valuestring));
    }
    event_emit(&s->events, "event.emitted", fields);
    cJSON_ArrayForEach(item, list) {
        struct delivery *d = xcalloc(1, sizeof *d);
        d->event = xstrdup(event);
        d->agent = xstrdup(item->valuestring);
        d->text = xasprintf("EVENT %s: %s", event, data);
        vec_push(&s->deliveries, d);
    }
    deliver_next(s);
    return true;
}

void handlers_free(struct session *s)
{
    if (s->handlers) {
        vec_fini(&s->deliveries);
        cJSON_Delete(s->handlers);
        s->handlers = NULL;
    }
    free(s->handler_conv);
    s->handler_conv = NULL;
}
