/* A team: the agents and local functions of a session, as a profile defines them. */
#ifndef AGENTDECK_MODEL_TEAM_H
#define AGENTDECK_MODEL_TEAM_H

#include <cJSON.h>

#include "core/vec.h"
#include "model/agent.h"

#define TEAM_DEFAULT_MAX_TURNS 10
#define FUNCTION_DEFAULT_TIMEOUT_MS 30000

/* A function tool that runs on the client: an argv, never a shell. */
struct function_def {
    char *name;
    char **argv; /* NULL-terminated; argv[0] resolved against the profile's folder when relative with a slash */
    int timeout_ms;
    char *description; /* may be NULL */
    cJSON *parameters; /* JSON schema object; never NULL */
};

struct team {
    char *name;           /* may be NULL */
    char *description;    /* may be NULL */
    char *path;           /* the profile file, NULL when empty */
    struct vec agents;    /* struct agent * */
    struct vec functions; /* struct function_def * */
    int max_turns;
};

struct team *team_new(void);
void team_free(struct team *team);
struct agent *team_find_agent(const struct team *team, const char *name);
const struct function_def *team_find_function(const struct team *team, const char *name);
/* Takes ownership of agent. */
void team_add_agent(struct team *team, struct agent *agent);
/* Removes and frees the named agent; returns false when there is none. */
bool team_delete_agent(struct team *team, const char *name);
/* The max_turns that applies to agent. */
int team_max_turns(const struct team *team, const struct agent *agent);

void function_def_free(struct function_def *fn);

#endif
