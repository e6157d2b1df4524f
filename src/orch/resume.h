/* Resume (issue 8): a session rebuilt from its journal after a crash, a
 * kill or a power cut, or simply continued later. Its conversations and
 * entries, server conversations, agents, shared state, usage and patterns
 * come back from the events. The runs that were in flight are marked
 * run.interrupted and wait for /retry, which goes on with each where it
 * stopped (orch/runner.h run_retry); a pattern goes on from the step it
 * had reached (orch/pattern.h pattern_resume).
 *
 * The resumed session is the same session: it appends to the same journal,
 * its seq numbers go on from the last one, and a session.resumed event
 * marks where the new part begins (doc/sessions.md). */
#ifndef AGENTDECK_ORCH_RESUME_H
#define AGENTDECK_ORCH_RESUME_H

#include <stdbool.h>

#include "model/journal.h"
#include "orch/session.h"

struct run;

/* Something a crash cut off, for /retry: a run, or a pattern's step that
 * had yet to start. */
struct unfinished {
    char *run;              /* the run cut off, or NULL for a step not started */
    char *conversation;     /* its conversation (NULL: a step that starts a new one) */
    size_t first_entry;     /* how many entries the conversation had when the run started */
    char *pattern, *step;   /* the pattern and step it belongs to, or NULL */
    char *agent;            /* who was answering */
    char *streamed;         /* the reply it was streaming when cut, or NULL */
    cJSON *response_format; /* what the step asked for, or NULL */
    /* A pattern's: takes the run that goes on with the one cut off (or,
     * for a step not started, NULL: start it now). May be NULL. */
    bool (*go)(void *ud, struct run *run, char **error);
    void *ud;
};

void unfinished_free(void *item);
/* The unfinished run with that id, or NULL. */
struct unfinished *session_find_unfinished(struct session *s, const char *run);

/* /retry [RUN|PATTERN]: goes on with the runs and steps a crash cut off:
 * the one named, or every one. Returns false with *error set when there is
 * nothing to go on with (or a run cannot go on). */
bool session_retry(struct session *s, const char *what, char **error);

/* What --resume, --replay and /sessions read of a session folder. */
struct resume_source {
    char *dir;    /* the session folder */
    char *events; /* its journal */
    char *id;     /* the session's id: the folder's name */
    cJSON *meta;  /* its session.json, or NULL */
    struct journal_contents journal;
};

/* Reads the journal that name means (see journal_locate; NULL: the newest
 * session). Returns false with *error set. */
bool resume_source_open(const char *name, struct resume_source *src, char **error);
void resume_source_fini(struct resume_source *src);
/* The team the session began with: its saved profile (else the profile
 * file it names), or an empty team. NULL with *error set when the profile
 * cannot be read. profile_path is set to the profile's path (not a copy). */
struct team *resume_source_team(const struct resume_source *src, const char **profile_path, char **error);
/* What session.json says (a string field such as "backend"), or NULL. */
const char *resume_source_meta(const struct resume_source *src, const char *key);

/* Rebuilds s, a new session with resume_source_team's team and src's id,
 * from src's journal; then emits session.resumed, a warning for each line
 * of the journal that was skipped, and run.interrupted for each run that
 * was in flight, and brings back the patterns that had not ended. */
void resume_session(struct session *s, const struct resume_source *src);

/* The same rebuilding, one event at a time (what --replay shows). */
struct rebuild;
struct rebuild *rebuild_new(struct session *s);
void rebuild_event(struct rebuild *rb, const cJSON *ev);
void rebuild_free(struct rebuild *rb);

/* Writes session.json in the session folder dir: the session's id, start
 * time, profile (and a copy of it), backend (and base_url), when it was
 * resumed and whether it ended cleanly. what is "started" at the start,
 * "resumed" when it resumes, "ended" at a clean end. Says on stderr when
 * it cannot. */
void resume_record(const char *dir, const struct session *s, const char *what, const char *profile_path,
                   const char *base_url);

#endif
