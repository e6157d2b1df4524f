/* Agents: every field of a Mistral agent, plus demonstrations and the
 * offline rules of the scripted backend. */
#ifndef AGENTDECK_MODEL_AGENT_H
#define AGENTDECK_MODEL_AGENT_H

#include <cJSON.h>
#include <regex.h>
#include <stdbool.h>

#include "core/vec.h"
#include "model/usage.h"

enum offline_action {
    OFFLINE_SAY,
    OFFLINE_CALL,
    OFFLINE_HANDOFF,
};

/* One rule of the offline backend, tried in order. */
struct offline_rule {
    char *when;      /* the source of the pattern, NULL: always matches */
    regex_t when_re; /* compiled REG_EXTENDED | REG_ICASE, valid when `when` is set */
    enum offline_action action;
    char *say;       /* OFFLINE_SAY: text with {input} and {agent} */
    char *call_name; /* OFFLINE_CALL */
    char *call_args; /* OFFLINE_CALL: the arguments as a JSON string */
    char *handoff;   /* OFFLINE_HANDOFF: an agent name among the handoffs */
};

struct agent {
    char *name; /* unique in the team; the handle users type */
    char *model;
    char *description;      /* may be NULL */
    char *instructions;     /* may be NULL */
    cJSON *tools;           /* array of Mistral tool objects; never NULL */
    cJSON *mcp;             /* the profile's {"type": "mcp", "server", "tools"?} entries, kept out of
                               tools: each becomes function tools there once its server lists them
                               (tools/mcp.h); an array, never NULL */
    cJSON *completion_args; /* Mistral CompletionArgs object; never NULL */
    struct vec handoffs;    /* char *: agent names */
    cJSON *demonstrations;  /* array of {"input","output"}; never NULL */
    cJSON *metadata;        /* may be NULL */
    cJSON *guardrails;      /* Mistral GuardrailConfig array; may be NULL */
    struct vec rules;       /* struct offline_rule * */
    int max_turns;          /* 0: the team's */
    char *remote_id;        /* the backend's id, once created there */
    struct usage usage;     /* summed over this session's runs it finished */
};

#define AGENT_DEFAULT_MODEL "mistral-medium-latest"

/* Returns a new agent with empty tools, args, demonstrations and no rules. */
struct agent *agent_new(const char *name, const char *model);
void agent_free(struct agent *agent);
/* Returns a deep copy; the caller frees it with agent_free(). */
struct agent *agent_clone(const struct agent *agent);
bool agent_has_handoff(const struct agent *agent, const char *name);

/* The names of functions: 1 to 64 of [a-zA-Z0-9_-], as the APIs require. */
bool name_is_valid(const char *name);
#define NAME_RULE "1 to 64 letters, digits, _ or -"
/* The names of agents: the same, not starting with "-" so a name never reads as a flag. */
bool agent_name_is_valid(const char *name);
#define AGENT_NAME_RULE NAME_RULE ", not starting with -"

/* Checks that every offline rule's handoff is among the agent's handoffs.
 * Returns NULL, or a new message naming the rule (the caller frees it). */
char *agent_check_rule_handoffs(const struct agent *agent);

/* Frees a rule and its compiled pattern. */
void offline_rule_free(struct offline_rule *rule);

/* The agent as a JSON object of agentdeck's profile shape (for events and
 * /agent show); the caller frees it. */
cJSON *agent_to_json(const struct agent *agent);

#endif
