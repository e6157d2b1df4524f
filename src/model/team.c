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

struct team *team_new(void)
{
    struct team *t = xcalloc(1, sizeof *t);
    vec_init(&t->agents, agent_free_item);
    vec_init(&t->functions, function_free_item);
    t->max_turns = TEAM_DEFAULT_MAX_TURNS;
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

int team_max_turns(const struct team *t, const struct agent *agent)
{
    if (agent && agent->max_turns > 0)
        return agent->max_turns;
    return t->max_turns > 0 ? t->max_turns : TEAM_DEFAULT_MAX_TURNS;
}
