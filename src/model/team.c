#include "config.h"

#include "model/team.h"

#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

static void agent_free_item(void *a)
{
    agent_free(a);
}

static void function_free_item(void *fn)
{
    function_def_free(fn);
}

static void mcp_server_free_item(void *def)
{
    mcp_server_def_free(def);
}

static void workflow_free_item(void *item)
{
    struct workflow *w = item;
    free(w->name);
    free(w->description);
    pattern_params_fini(&w->params);
    free(w);
}

static void string_free_item(void *s)
{
    free(s);
}

/* clang-format off */
static const char *const pattern_names[] = {
#define X(e, name) name,
    PATTERN_KINDS(X)
#undef X
};
/* clang-format on */

const char *pattern_kind_name(enum pattern_kind kind)
{
    return pattern_names[kind];
}

int pattern_kind_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof pattern_names / sizeof pattern_names[0]; i++) {
        if (strcmp(pattern_names[i], name) == 0)
            return (int)i;
    }
    return -1;
}

void pattern_params_init(struct pattern_params *p, enum pattern_kind kind)
{
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->depth = PATTERN_DEFAULT_DEPTH;
    vec_init(&p->agents, string_free_item);
}

void pattern_params_fini(struct pattern_params *p)
{
    vec_fini(&p->agents);
    free(p->lead);
    free(p->executor);
    cJSON_Delete(p->prompts);
}

void pattern_params_copy(struct pattern_params *to, const struct pattern_params *from)
{
    pattern_params_init(to, from->kind);
    for (size_t i = 0; i < from->agents.len; i++)
        vec_push(&to->agents, xstrdup(from->agents.items[i]));
    to->lead = from->lead ? xstrdup(from->lead) : NULL;
    to->executor = from->executor ? xstrdup(from->executor) : NULL;
    to->depth = from->depth;
    to->timeout_ms = from->timeout_ms;
    to->all = from->all;
    to->prompts = from->prompts ? cJSON_Duplicate(from->prompts, 1) : NULL;
}

struct agent *team_find_agent_by_remote_id(const struct team *t, const char *remote_id)
{
    for (size_t i = 0; remote_id && i < t->agents.len; i++) {
        struct agent *a = t->agents.items[i];
        if (a->remote_id && strcmp(a->remote_id, remote_id) == 0)
            return a;
    }
    return NULL;
}

const struct workflow *team_find_workflow(const struct team *t, const char *name)
{
    for (size_t i = 0; i < t->workflows.len; i++) {
        const struct workflow *w = t->workflows.items[i];
        if (strcmp(w->name, name) == 0)
            return w;
    }
    return NULL;
}

char *route_label_normalize(const char *label)
{
    char *out = xmalloc(strlen(label) + 1);
    size_t n = 0;

    for (const unsigned char *p = (const unsigned char *)label; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))
            out[n++] = (char)*p;
        else if (*p >= 'A' && *p <= 'Z')
            out[n++] = (char)(*p - 'A' + 'a');
        else if (*p >= 0x80)
            out[n++] = (char)*p; /* other scripts are kept as they are */
    }
    out[n] = '\0';
    return out;
}

struct team *team_new(void)
{
    struct team *t = xcalloc(1, sizeof *t);
    vec_init(&t->agents, agent_free_item);
    vec_init(&t->functions, function_free_item);
    vec_init(&t->mcp_servers, mcp_server_free_item);
    vec_init(&t->workflows, workflow_free_item);
    t->max_turns = TEAM_DEFAULT_MAX_TURNS;
    t->state.initial = cJSON_CreateObject();
    return t;
}

void team_free(struct team *t)
{
    if (!t)
        return;
    free(t->name);
    free(t->description);
    free(t->path);
    vec_fini(&t->agents);
    vec_fini(&t->functions);
    vec_fini(&t->mcp_servers);
    vec_fini(&t->workflows);
    cJSON_Delete(t->routes);
    cJSON_Delete(t->markers);
    cJSON_Delete(t->prompts);
    cJSON_Delete(t->handlers);
    cJSON_Delete(t->state.initial);
    free(t);
}

void function_def_free(struct function_def *fn)
{
    if (!fn)
        return;
    free(fn->name);
    for (char **p = fn->argv; p && *p; p++)
        free(*p);
    free(fn->argv);
    free(fn->description);
    cJSON_Delete(fn->parameters);
    free(fn);
}

void mcp_server_def_free(struct mcp_server_def *def)
{
    if (!def)
        return;
    free(def->name);
    for (char **p = def->argv; p && *p; p++)
        free(*p);
    free(def->argv);
    cJSON_Delete(def->env);
    free(def->url);
    cJSON_Delete(def->headers);
    free(def);
}

const struct mcp_server_def *team_find_mcp_server(const struct team *t, const char *name)
{
    for (size_t i = 0; i < t->mcp_servers.len; i++) {
        const struct mcp_server_def *def = t->mcp_servers.items[i];
        if (strcmp(def->name, name) == 0)
            return def;
    }
    return NULL;
}

struct agent *team_find_agent(const struct team *t, const char *name)
{
    for (size_t i = 0; i < t->agents.len; i++) {
        struct agent *a = t->agents.items[i];
        if (strcmp(a->name, name) == 0)
            return a;
    }
    return NULL;
}

const struct function_def *team_find_function(const struct team *t, const char *name)
{
    for (size_t i = 0; i < t->functions.len; i++) {
        const struct function_def *fn = t->functions.items[i];
        if (strcmp(fn->name, name) == 0)
            return fn;
    }
    return NULL;
}

void team_add_agent(struct team *t, struct agent *agent)
{
    vec_push(&t->agents, agent);
}

bool team_delete_agent(struct team *t, const char *name)
{
    for (size_t i = 0; i < t->agents.len; i++) {
        struct agent *a = t->agents.items[i];
        if (strcmp(a->name, name) == 0) {
            agent_free(vec_remove(&t->agents, i));
            return true;
        }
    }
    return false;
}

/* The first key of obj (an object of strings) whose value is name, or NULL. */
static const char *key_naming(const cJSON *obj, const char *name)
{
    const cJSON *item;

    cJSON_ArrayForEach(item, obj) {
        if (cJSON_IsString(item) && strcmp(item->valuestring, name) == 0)
            return item->string;
    }
    return NULL;
}

static bool workflow_uses(const struct workflow *w, const char *name)
{
    const struct pattern_params *p = &w->params;

    for (size_t i = 0; i < p->agents.len; i++) {
        if (strcmp(p->agents.items[i], name) == 0)
            return true;
    }
    return (p->lead && strcmp(p->lead, name) == 0) || (p->executor && strcmp(p->executor, name) == 0) ||
           (p->prompts && cJSON_GetObjectItemCaseSensitive(p->prompts, name));
}

bool team_agent_is_referenced(const struct team *t, const char *name, char **why)
{
    const char *key;
    char *reason = NULL;

    if ((key = key_naming(t->routes, name)))
        reason = xasprintf("route \"%s\" goes to it", key);
    else if ((key = key_naming(t->markers, name)))
        reason = xasprintf("marker \"%s\" hands off to it", key);
    else if (t->prompts && cJSON_GetObjectItemCaseSensitive(t->prompts, name))
        reason = xstrdup("prompts has a prompt for it");
    else if ((key = key_naming(t->handlers, name)))
        reason = xasprintf("event \"%s\" is handled by it", key);
    for (size_t i = 0; !reason && i < t->workflows.len; i++) {
        const struct workflow *w = t->workflows.items[i];
        if (workflow_uses(w, name))
            reason = xasprintf("workflow \"%s\" uses it", w->name);
    }
    if (!reason)
        return false;
    if (why)
        *why = reason;
    else
        free(reason);
    return true;
}

int team_max_turns(const struct team *t, const struct agent *agent)
{
    if (agent && agent->max_turns > 0)
        return agent->max_turns;
    return t->max_turns > 0 ? t->max_turns : TEAM_DEFAULT_MAX_TURNS;
}
