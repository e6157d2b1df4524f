#include "config.h"

#include "model/agent.h"

#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

static void rule_free_item(void *rule)
{
    offline_rule_free(rule);
}

struct agent *agent_new(const char *name, const char *model)
{
    struct agent *a = xcalloc(1, sizeof *a);
    a->name = xstrdup(name);
    a->model = xstrdup(model ? model : AGENT_DEFAULT_MODEL);
    a->tools = cJSON_CreateArray();
    a->mcp = cJSON_CreateArray();
    a->completion_args = cJSON_CreateObject();
    a->demonstrations = cJSON_CreateArray();
    vec_init(&a->handoffs, free);
    vec_init(&a->rules, rule_free_item);
    return a;
}

void offline_rule_free(struct offline_rule *rule)
{
    if (!rule)
        return;
    if (rule->when) {
        regfree(&rule->when_re);
        free(rule->when);
    }
    free(rule->say);
    free(rule->call_name);
    free(rule->call_args);
    free(rule->handoff);
    free(rule);
}

void agent_free(struct agent *a)
{
    if (!a)
        return;
    free(a->name);
    free(a->model);
    free(a->description);
    free(a->instructions);
    cJSON_Delete(a->tools);
    cJSON_Delete(a->mcp);
    cJSON_Delete(a->completion_args);
    cJSON_Delete(a->demonstrations);
    cJSON_Delete(a->metadata);
    cJSON_Delete(a->guardrails);
    vec_fini(&a->handoffs);
    vec_fini(&a->rules);
    free(a->remote_id);
    free(a);
}

static struct offline_rule *rule_clone(const struct offline_rule *r)
{
    struct offline_rule *c = xcalloc(1, sizeof *c);
    c->action = r->action;
    if (r->when) {
        c->when = xstrdup(r->when);
        /* It compiled once, so it compiles again. */
        if (regcomp(&c->when_re, c->when, REG_EXTENDED | REG_ICASE) != 0)
            fatal("offline rule pattern \"%s\" stopped compiling", c->when);
    }
    c->say = xstrdup(r->say);
    c->call_name = xstrdup(r->call_name);
    c->call_args = xstrdup(r->call_args);
    c->handoff = xstrdup(r->handoff);
    return c;
}

struct agent *agent_clone(const struct agent *a)
{
    struct agent *c = agent_new(a->name, a->model);
    c->description = xstrdup(a->description);
    c->instructions = xstrdup(a->instructions);
    cJSON_Delete(c->tools);
    c->tools = cJSON_Duplicate(a->tools, 1);
    cJSON_Delete(c->mcp);
    c->mcp = cJSON_Duplicate(a->mcp, 1);
    cJSON_Delete(c->completion_args);
    c->completion_args = cJSON_Duplicate(a->completion_args, 1);
    cJSON_Delete(c->demonstrations);
    c->demonstrations = cJSON_Duplicate(a->demonstrations, 1);
    c->metadata = a->metadata ? cJSON_Duplicate(a->metadata, 1) : NULL;
    c->guardrails = a->guardrails ? cJSON_Duplicate(a->guardrails, 1) : NULL;
    for (size_t i = 0; i < a->handoffs.len; i++)
        vec_push(&c->handoffs, xstrdup(a->handoffs.items[i]));
    for (size_t i = 0; i < a->rules.len; i++)
        vec_push(&c->rules, rule_clone(a->rules.items[i]));
    c->max_turns = a->max_turns;
    c->remote_id = xstrdup(a->remote_id);
    c->usage = a->usage;
    return c;
}

bool agent_has_handoff(const struct agent *a, const char *name)
{
    for (size_t i = 0; i < a->handoffs.len; i++) {
        if (strcmp(a->handoffs.items[i], name) == 0)
            return true;
    }
    return false;
}

bool name_is_valid(const char *s)
{
    size_t n = 0;

    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return n >= 1 && n <= 64;
}

bool agent_name_is_valid(const char *name)
{
    return name[0] != '-' && name_is_valid(name);
}

char *agent_check_rule_handoffs(const struct agent *a)
{
    for (size_t i = 0; i < a->rules.len; i++) {
        const struct offline_rule *rule = a->rules.items[i];
        if (rule->action == OFFLINE_HANDOFF && !agent_has_handoff(a, rule->handoff))
            return xasprintf("%s's offline rule %zu hands off to \"%s\", which would no longer be among its handoffs",
                             a->name, i + 1, rule->handoff);
    }
    return NULL;
}

static void add_optional_string(cJSON *obj, const char *key, const char *value)
{
    if (value)
        cJSON_AddStringToObject(obj, key, value);
}

cJSON *agent_to_json(const struct agent *a)
{
    cJSON *obj = cJSON_CreateObject();
    cJSON *handoffs = cJSON_CreateArray();

    cJSON_AddStringToObject(obj, "name", a->name);
    cJSON_AddStringToObject(obj, "model", a->model);
    add_optional_string(obj, "description", a->description);
    add_optional_string(obj, "instructions", a->instructions);
    cJSON_AddItemToObject(obj, "tools", cJSON_Duplicate(a->tools, 1));
    if (cJSON_GetArraySize(a->mcp) > 0)
        cJSON_AddItemToObject(obj, "mcp", cJSON_Duplicate(a->mcp, 1));
    cJSON_AddItemToObject(obj, "completion_args", cJSON_Duplicate(a->completion_args, 1));
    for (size_t i = 0; i < a->handoffs.len; i++)
        cJSON_AddItemToArray(handoffs, cJSON_CreateString(a->handoffs.items[i]));
    cJSON_AddItemToObject(obj, "handoffs", handoffs);
    if (cJSON_GetArraySize(a->demonstrations) > 0)
        cJSON_AddItemToObject(obj, "demonstrations", cJSON_Duplicate(a->demonstrations, 1));
    if (a->guardrails)
        cJSON_AddItemToObject(obj, "guardrails", cJSON_Duplicate(a->guardrails, 1));
    if (a->metadata)
        cJSON_AddItemToObject(obj, "metadata", cJSON_Duplicate(a->metadata, 1));
    if (a->max_turns)
        cJSON_AddNumberToObject(obj, "max_turns", a->max_turns);
    if (a->rules.len)
        cJSON_AddNumberToObject(obj, "offline_rules", (double)a->rules.len);
    add_optional_string(obj, "remote_id", a->remote_id);
    return obj;
}
