/* The session journal: the event stream appended to
 * $XDG_STATE_HOME/agentdeck/sessions/<session-id>/events.jsonl, flushed per
 * event, so nothing received is lost when the process dies. */
#ifndef AGENTDECK_MODEL_JOURNAL_H
#define AGENTDECK_MODEL_JOURNAL_H

#include "model/event.h"

struct journal;

/* Returns a new session id ("20261122T190701Z-4242"); the caller frees it. */
char *journal_new_session_id(void);
/* Returns the state folder ($XDG_STATE_HOME/agentdeck or ~/.local/state/agentdeck); the caller frees it. */
char *journal_state_dir(void);
/* Creates the session folder and opens its journal. Returns NULL with
 * *error set (a new string, the caller frees it) when that fails. */
struct journal *journal_open(const char *session_id, char **error);
const char *journal_path(const struct journal *j);
/* A sink that appends every event to j; the stream then owns j. */
struct event_sink journal_sink(struct journal *j);
void journal_close(struct journal *j);

/* The journal file of session_id (a new string), whether it exists or not. */
char *journal_session_path(const char *session_id);

/* Creates dir and its missing parents with mode 0700; returns 0 or -1 with errno. */
int mkdir_parents(const char *dir);

#endif
