/* A conversation: what the user sees as one thread, an ordered list of
 * entries that may span several agents. */
#ifndef AGENTDECK_MODEL_CONVERSATION_H
#define AGENTDECK_MODEL_CONVERSATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "core/buf.h"
#include "core/vec.h"
#include "model/entry.h"
#include "model/usage.h"

/* Where the backend's own conversation stands against the local entries.
 * A server conversation holds `carried` entries brought over from before,
 * then one entry for each local entry from index `first` on. */
struct remote_span {
    size_t first;
    size_t carried;
    bool appended; /* appended to at least once (Mistral restarts only those) */
};

/* A branch still to be made on the backend: the source conversation's
 * remote state, and the local index of the entry it branches from. */
struct remote_branch {
    char *remote_id; /* NULL: nothing to branch on the backend */
    char *remote_agent;
    struct remote_span span;
    size_t from; /* index into the branch's (and the source's) entries */
};

struct conversation {
    char *id;           /* "c1", unique in the session */
    char *agent;        /* the agent that has the conversation now */
    char *parent;       /* the conversation it was branched from, or NULL */
    char *from_entry;   /* a branch: the entry of parent it was branched at */
    struct vec entries; /* struct entry *, owned */
    char *remote_id;    /* the backend's conversation id, when it keeps one */
    char *remote_agent; /* the agent that remote conversation belongs to */
    struct remote_span remote_span;
    struct remote_branch branch; /* set by a restart until the backend takes it */
    struct usage usage;          /* summed over its runs */
    int runs_in_flight;
};

/* Returns a new empty conversation held by agent; the caller frees it. */
struct conversation *conversation_new(const char *id, const char *agent);
void conversation_free(struct conversation *c);
/* Forgets a pending branch (the backend took it, or could not). */
void conversation_clear_branch(struct conversation *c);
/* Takes ownership of e. */
void conversation_append_entry(struct conversation *c, struct entry *e);
struct entry *conversation_find_entry(const struct conversation *c, const char *id, size_t *index);
/* The latest input an agent would answer: the last user message.input or
 * function.result. NULL when there is none. */
const struct entry *conversation_latest_input(const struct conversation *c);
/* Entries from index from on (or only the messages), as /history shows
 * them: type, agent and the entry's fields. The caller frees the array. */
cJSON *conversation_entries_json(const struct conversation *c, size_t from, bool messages_only);
/* Appends entries (as conversation_entries_json() makes them) as text, a
 * line each: id, agent, and what the entry says. The text is untrusted. */
void entries_render_text(struct buf *out, const cJSON *entries);

#endif
