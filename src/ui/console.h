/* The interactive console: a pane per agent, the timeline, a status bar
 * and a readline command line, on curses (doc/keys.md). */
#ifndef AGENTDECK_UI_CONSOLE_H
#define AGENTDECK_UI_CONSOLE_H

#include "model/keymap.h"
#include "orch/session.h"

struct console_options {
    const char *profile_path; /* may be NULL */
    const char *theme;        /* --theme NAME|FILE, or NULL for the default */
    const char *base_url;     /* the backend's address for the status bar, or NULL */
    /* The keys of the actions, or NULL for the defaults. */
    const struct keymap *keys;
    const cJSON *early;       /* events emitted before the screen was up (an array), shown first; may be NULL */
    const char *model;        /* the model every agent runs on (chat --model), or NULL: each agent's own */
    /* --resume: the events to show before the live ones (struct journal_line *) */
    const struct vec *history;
    /* --replay: the recorded events to play (struct journal_line *), and how fast */
    const struct vec *replay;
    double speed;
};

/* Runs the console on session until /quit; returns the exit status. */
int console_run(struct session *s, const struct console_options *o);

#endif
