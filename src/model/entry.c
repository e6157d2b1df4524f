#include "config.h"

#include "model/entry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/xalloc.h"

static const char *const type_names[] = {
#define X(e, name, prefix) name,
    ENTRY_TYPES(X)
#undef X
};

static const char *const id_prefixes[] = {
#define X(e, name, prefix) prefix,
    ENTRY_TYPES(X)
#undef X
};

static unsigned long long entry_serial;

const char *entry_type_name(enum entry_type type)
{
    return type_names[type];
}

int entry_type_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++) {
        if (strcmp(type_names[i], name) == 0)
            return (int)i;
    }
    return -1;
}

struct entry *entry_new(enum entry_type type, const char *agent)
{
    struct entry *e = xcalloc(1, sizeof *e);
    e->type = type;
    e->id = xasprintf("%s_%04llu", id_prefixes[type], ++entry_serial);
    e->agent = xstrdup(agent);
    e->created_ms = clock_wall_ms();
    return e;
}

struct entry *entry_new_with_id(enum entry_type type, const char *agent, const char *id)
{
    struct entry *e = xcalloc(1, sizeof *e);
    e->type = type;
    e->id = xstrdup(id);
    e->agent = xstrdup(agent);
    e->created_ms = clock_wall_ms();
    return e;
}

struct entry *entry_clone(const struct entry *e)
{
    struct entry *c = xcalloc(1, sizeof *c);
    c->type = e->type;
    c->id = xstrdup(e->id);
    c->agent = xstrdup(e->agent);
    c->role = xstrdup(e->role);
    c->content = xstrdup(e->content);
    c->name = xstrdup(e->name);
    c->arguments = xstrdup(e->arguments);
    c->tool_call_id = xstrdup(e->tool_call_id);
    c->result = xstrdup(e->result);
    c->info = e->info ? cJSON_Duplicate(e->info, 1) : NULL;
    c->previous_agent = xstrdup(e->previous_agent);
    c->next_agent = xstrdup(e->next_agent);
    c->execution = xstrdup(e->execution);
    c->confirmation = xstrdup(e->confirmation);
    c->created_ms = e->created_ms;
    return c;
}

void entry_free(struct entry *e)
{
    if (!e)
        return;
    free(e->id);
    free(e->agent);
    free(e->role);
    free(e->content);
    free(e->name);
    free(e->arguments);
    free(e->tool_call_id);
    free(e->result);
    cJSON_Delete(e->info);
    free(e->previous_agent);
    free(e->next_agent);
    free(e->execution);
    free(e->confirmation);
    free(e);
}

static void add_string(cJSON *obj, const char *key, const char *value)
{
    if (value)
        cJSON_AddStringToObject(obj, key, value);
}

void entry_add_fields(const struct entry *e, cJSON *obj)
{
    add_string(obj, "entry_id", e->id);
    switch (e->type) {
    case ENTRY_MESSAGE_INPUT:
        add_string(obj, "role", e->role ? e->role : "user");
        add_string(obj, "content", e->content ? e->content : "");
        break;
    case ENTRY_MESSAGE_OUTPUT:
        add_string(obj, "content", e->content ? e->content : "");
        break;
    case ENTRY_FUNCTION_CALL:
        add_string(obj, "name", e->name);
        add_string(obj, "arguments", e->arguments ? e->arguments : "{}");
        add_string(obj, "tool_call_id", e->tool_call_id);
        add_string(obj, "confirmation_status", e->confirmation);
        break;
    case ENTRY_FUNCTION_RESULT:
        add_string(obj, "tool_call_id", e->tool_call_id);
        add_string(obj, "result", e->result ? e->result : "");
        break;
    case ENTRY_TOOL_EXECUTION:
        add_string(obj, "name", e->name);
        add_string(obj, "arguments", e->arguments ? e->arguments : "");
        cJSON_AddItemToObject(obj, "info", e->info ? cJSON_Duplicate(e->info, 1) : cJSON_CreateObject());
        break;
    case ENTRY_AGENT_HANDOFF:
        add_string(obj, "previous_agent", e->previous_agent);
        add_string(obj, "next_agent", e->next_agent);
        add_string(obj, "execution", e->execution ? e->execution : "server");
        add_string(obj, "tool_call_id", e->tool_call_id); /* chat backend: the transfer_to_ call */
        break;
    }
}

static char *json_string(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(item) ? xstrdup(item->valuestring) : NULL;
}

struct entry *entry_from_json(const cJSON *obj)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(obj, "type");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "entry_id");
    const cJSON *info = cJSON_GetObjectItemCaseSensitive(obj, "info");
    int t = cJSON_IsString(type) ? entry_type_from_name(type->valuestring) : -1;
    struct entry *e;

    if (t < 0 || !cJSON_IsString(id))
        return NULL;
    e = xcalloc(1, sizeof *e);
    e->type = (enum entry_type)t;
    e->id = xstrdup(id->valuestring);
    e->agent = json_string(obj, "agent");
    e->role = json_string(obj, "role");
    e->content = json_string(obj, "content");
    e->name = json_string(obj, "name");
    e->arguments = json_string(obj, "arguments");
    e->tool_call_id = json_string(obj, "tool_call_id");
    e->result = json_string(obj, "result");
    e->info = cJSON_IsObject(info) && info->child ? cJSON_Duplicate(info, 1) : NULL;
    e->previous_agent = json_string(obj, "previous_agent");
    e->next_agent = json_string(obj, "next_agent");
    e->execution = json_string(obj, "execution");
    e->confirmation = json_string(obj, "confirmation_status");
    if (!clock_parse_rfc3339(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "ts")), &e->created_ms))
        e->created_ms = clock_wall_ms();
    return e;
}

void entry_serial_note(const char *id)
{
    const char *digits = strrchr(id, '_');
    unsigned long long n = 0;
    size_t len;

    if (!digits)
        return;
    digits++;
    len = strlen(digits);
    /* Our ids have four or more digits; a server's (32 hex digits) are not ours. */
    if (len < 4 || len > 12 || strspn(digits, "0123456789") != len)
        return;
    n = strtoull(digits, NULL, 10);
    if (n > entry_serial)
        entry_serial = n;
}
