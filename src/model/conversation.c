#include "config.h"

#include "model/conversation.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/xalloc.h"

void usage_add(struct usage *sum, const struct usage *u)
{
    sum->prompt_tokens += u->prompt_tokens;
    sum->completion_tokens += u->completion_tokens;
    sum->total_tokens += u->total_tokens;
}

cJSON *usage_to_json(const struct usage *u)
{
    cJSON *obj = cJSON_CreateObject();
    cJSON_AddNumberToObject(obj, "prompt_tokens", (double)u->prompt_tokens);
    cJSON_AddNumberToObject(obj, "completion_tokens", (double)u->completion_tokens);
    cJSON_AddNumberToObject(obj, "total_tokens", (double)u->total_tokens);
    return obj;
}

static void entry_free_item(void *e)
{
    entry_free(e);
}

struct conversation *conversation_new(const char *id, const char *agent)
{
    struct conversation *c = xcalloc(1, sizeof *c);
    c->id = xstrdup(id);
    c->agent = xstrdup(agent);
    vec_init(&c->entries, entry_free_item);
    return c;
}

void conversation_clear_branch(struct conversation *c)
{
    free(c->branch.remote_id);
    free(c->branch.remote_agent);
    memset(&c->branch, 0, sizeof c->branch);
}

void conversation_free(struct conversation *c)
{
    if (!c)
        return;
    free(c->id);
    free(c->agent);
    free(c->parent);
    free(c->from_entry);
    free(c->remote_id);
    free(c->remote_agent);
    conversation_clear_branch(c);
    vec_fini(&c->entries);
    free(c);
}

void conversation_append_entry(struct conversation *c, struct entry *e)
{
    vec_push(&c->entries, e);
}

struct entry *conversation_find_entry(const struct conversation *c, const char *id, size_t *index)
{
    for (size_t i = 0; i < c->entries.len; i++) {
        struct entry *e = c->entries.items[i];
        if (strcmp(e->id, id) == 0) {
            if (index)
                *index = i;
            return e;
        }
    }
    return NULL;
}

const struct entry *conversation_latest_input(const struct conversation *c)
{
    for (size_t i = c->entries.len; i-- > 0;) {
        const struct entry *e = c->entries.items[i];
        if (e->type == ENTRY_FUNCTION_RESULT)
            return e;
        if (e->type == ENTRY_MESSAGE_INPUT && (!e->role || strcmp(e->role, "user") == 0))
            return e;
    }
    return NULL;
}

cJSON *conversation_entries_json(const struct conversation *c, size_t from, bool messages_only)
{
    cJSON *list = cJSON_CreateArray();

    for (size_t i = from; i < c->entries.len; i++) {
        const struct entry *e = c->entries.items[i];
        cJSON *obj;
        if (messages_only && e->type != ENTRY_MESSAGE_INPUT && e->type != ENTRY_MESSAGE_OUTPUT)
            continue;
        obj = cJSON_CreateObject();
        cJSON_AddStringToObject(obj, "type", entry_type_name(e->type));
        if (e->agent)
            cJSON_AddStringToObject(obj, "agent", e->agent);
        entry_add_fields(e, obj);
        cJSON_AddItemToArray(list, obj);
    }
    return list;
}

static const char *str_field(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? v->valuestring : "";
}

void entries_render_text(struct buf *out, const cJSON *entries)
{
    const cJSON *e;

    cJSON_ArrayForEach(e, entries) {
        const char *type = str_field(e, "type");
        buf_printf(out, "%-14s %-10s ", str_field(e, "entry_id"), str_field(e, "agent"));
        if (strcmp(type, "message.input") == 0)
            buf_printf(out, "you: %s", str_field(e, "content"));
        else if (strcmp(type, "message.output") == 0)
            buf_printf(out, "%s", str_field(e, "content"));
        else if (strcmp(type, "function.call") == 0)
            buf_printf(out, "calls %s %s", str_field(e, "name"), str_field(e, "arguments"));
        else if (strcmp(type, "function.result") == 0)
            buf_printf(out, "result: %s", str_field(e, "result"));
        else if (strcmp(type, "agent.handoff") == 0)
            buf_printf(out, "\xE2\x87\xA2 %s", str_field(e, "next_agent"));
        else
            buf_printf(out, "%s %s", type, str_field(e, "name"));
        buf_putc(out, '\n');
    }
}
