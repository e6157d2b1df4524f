/* Conversation entries: the six entry types of Mistral's Conversations API. */
#ifndef AGENTDECK_MODEL_ENTRY_H
#define AGENTDECK_MODEL_ENTRY_H

#include <cJSON.h>
#include <stdint.h>

#define ENTRY_TYPES(X)                                     \
    X(ENTRY_MESSAGE_INPUT, "message.input", "msg")         \
    X(ENTRY_MESSAGE_OUTPUT, "message.output", "msg")       \
    X(ENTRY_FUNCTION_CALL, "function.call", "fc")          \
    X(ENTRY_FUNCTION_RESULT, "function.result", "fr")      \
    X(ENTRY_TOOL_EXECUTION, "tool.execution", "tool_exec") \
    X(ENTRY_AGENT_HANDOFF, "agent.handoff", "handoff")

enum entry_type {
#define X(e, name, prefix) e,
    ENTRY_TYPES(X)
#undef X
};

struct entry {
    enum entry_type type;
    char *id;             /* "msg_...", unique in the session */
    char *agent;          /* the agent that produced it, or received it (inputs) */
    char *role;           /* message.input: "user" or "assistant" */
    char *content;        /* message.input, message.output */
    char *name;           /* function.call, tool.execution */
    char *arguments;      /* function.call, tool.execution: a JSON string */
    char *tool_call_id;   /* function.call, function.result */
    char *result;         /* function.result */
    cJSON *info;          /* tool.execution: free-form object, may be NULL */
    char *previous_agent; /* agent.handoff */
    char *next_agent;     /* agent.handoff */
    char *execution;      /* agent.handoff: "server" or "client" */
    char *confirmation;   /* function.call: "pending", "allowed", "denied", or NULL */
    int64_t created_ms;   /* wall clock */
};

const char *entry_type_name(enum entry_type type);
/* Parses a type name; returns -1 when unknown. */
int entry_type_from_name(const char *name);

/* Returns a new, empty entry of type with a fresh id; free with entry_free(). */
struct entry *entry_new(enum entry_type type, const char *agent);
/* The same with the given id, which takes no new serial number. */
struct entry *entry_new_with_id(enum entry_type type, const char *agent, const char *id);
/* Returns a deep copy (same id); the caller frees it. */
struct entry *entry_clone(const struct entry *e);
void entry_free(struct entry *e);
/* Adds the entry's fields (not seq/ts/type) to obj, as documented in doc/events.md. */
void entry_add_fields(const struct entry *e, cJSON *obj);
/* The entry that an entry event (or an item of conversation.history)
 * describes: the inverse of entry_add_fields. Returns a new entry, or NULL
 * when obj has no entry type or no entry_id. */
struct entry *entry_from_json(const cJSON *obj);
/* Makes the next new ids come after id when it is one of agentdeck's own
 * ("msg_0012"), so that a session rebuilt from its journal makes no id twice. */
void entry_serial_note(const char *id);

#endif
