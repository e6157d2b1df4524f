/* The session journal: the event stream appended to
 * $XDG_STATE_HOME/agentdeck/sessions/<session-id>/events.jsonl, flushed per
 * event and synced to the disk at run boundaries, so nothing received is
 * lost when the process dies. Beside it, session.json says what the
 * session was started with, and profile.json keeps a copy of its profile:
 * together they are what --resume and --replay rebuild a session from. */
#ifndef AGENTDECK_MODEL_JOURNAL_H
#define AGENTDECK_MODEL_JOURNAL_H

#include <stdbool.h>
#include <sys/types.h>

#include "model/event.h"

struct journal;

/* Returns a new session id ("20261122T190701Z-4242"); the caller frees it. */
char *journal_new_session_id(void);
/* Returns the state folder ($XDG_STATE_HOME/agentdeck or ~/.local/state/agentdeck); the caller frees it. */
char *journal_state_dir(void);
/* Returns the folder of a session's journal; the caller frees it. */
char *journal_session_dir(const char *session_id);
/* Creates the session folder and opens its journal for appending, locked
 * against a second writer. Returns NULL with *error set (a new string, the
 * caller frees it) when that fails. */
struct journal *journal_open(const char *session_id, char **error);
/* Opens the journal of the session folder dir to go on appending to it:
 * the bytes from keep on are cut off first (a torn last line; -1 keeps
 * everything), and a last line without its newline gets one. NULL with
 * *error set when it cannot, or when another agentdeck has it open. */
struct journal *journal_reopen(const char *dir, off_t keep, char **error);
const char *journal_path(const struct journal *j);
/* fsync at run boundaries (on by default); off only to measure what it costs. */
void journal_set_sync(struct journal *j, bool on);
/* A sink that appends every event to j; the stream then owns j. */
struct event_sink journal_sink(struct journal *j);
void journal_close(struct journal *j);

/* The journal file of session_id (a new string), whether it exists or not. */
char *journal_session_path(const char *session_id);
/* ---- reading a journal back -------------------------------------------- */

struct journal_line {
    cJSON *event; /* an object with seq, ts and type */
    char *text;   /* the line as written, without its newline */
    off_t offset; /* where it starts in the file */
};

struct journal_contents {
    struct vec lines;     /* struct journal_line *, in the file's order */
    struct vec warnings;  /* char *: each line skipped, naming the file and the byte offset */
    off_t torn;           /* where a cut-off last line begins, or -1 */
    bool missing_newline; /* the last line is whole but lacks its newline */
    int64_t last_seq;     /* the seq of the last event, 0 when none */
};

/* Reads the journal at path. A last line cut off by a crash (no newline
 * and not JSON) and any other line that is not a JSON event are skipped,
 * each with a warning. Returns false with *error set when the file cannot
 * be read. */
bool journal_read(const char *path, struct journal_contents *out, char **error);
void journal_contents_fini(struct journal_contents *jc);

/* ---- the session folder ------------------------------------------------- */

/* The ids of the sessions kept in the state folder, oldest first (char *). */
void journal_list_sessions(struct vec *ids);
/* Finds the journal that name means: a session id of the state folder
 * (NULL: the newest session), a session folder, or a journal file. Sets
 * *dir (its folder) and *events (the file), new strings; returns false
 * with *error set when there is no such journal. */
bool journal_locate(const char *name, char **dir, char **events, char **error);
/* Writes dir/session.json (atomically: a new file renamed over the old one). */
bool journal_write_meta(const char *dir, const cJSON *meta, char **error);
/* Reads dir/session.json; NULL when it is missing or broken. */
cJSON *journal_read_meta(const char *dir);
/* Copies the profile file at path into dir as profile.json. */
bool journal_save_profile(const char *dir, const char *path, char **error);
/* The saved profile's text (a new string), or NULL when there is none. */
char *journal_read_profile(const char *dir);

/* Creates dir and its missing parents with mode 0700; returns 0 or -1 with errno. */
int mkdir_parents(const char *dir);

#endif
