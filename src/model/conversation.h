/* A conversation: what the user sees as one thread, an ordered list of
 * entries that may span several agents. */
#ifndef AGENTDECK_MODEL_CONVERSATION_H
#define AGENTDECK_MODEL_CONVERSATION_H

#include <stdint.h>

#include "core/vec.h"
#include "model/entry.h"
#include "model/usage.h"

struct conversation {
    char *id;           /* "c1", unique in the session */
    char *agent;        /* the agent that has the conversation now */
    char *parent;       /* the conversation it was branched from, or NULL */
    struct vec entries; /* struct entry *, owned */
    char *remote_id;    /* the backend's conversation id, when it keeps one */
    char *remote_agent; /* the agent that remote conversation belongs to */
    struct usage usage; /* summed over its runs */
    int runs_in_flight;
};

/* Returns a new empty conversation held by agent; the caller frees it. */
struct conversation *conversation_new(const char *id, const char *agent);
void conversation_free(struct conversation *c);
/* Takes ownership of e. */
void conversation_append_entry(struct conversation *c, struct entry *e);
struct entry *conversation_find_entry(const struct conversation *c, const char *id, size_t *index);
/* The latest input an agent would answer: the last user message.input or
 * function.result. NULL when there is none. */
const struct entry *conversation_latest_input(const struct conversation *c);

#endif
