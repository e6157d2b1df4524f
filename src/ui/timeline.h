/* The timeline: every event of the session in order, one row each, with
 * its time, agent and kind; handoffs, tool calls and errors stand out. The
 * pieces of one streamed reply share one row that counts them. Bounded:
 * the oldest rows go first. */
#ifndef AGENTDECK_UI_TIMELINE_H
#define AGENTDECK_UI_TIMELINE_H

#include <cJSON.h>

#include "ui/ui.h"

struct tl_row {
    uint64_t serial;
    char time[9]; /* HH:MM:SS, UTC as in the event */
    char *agent;  /* drawable */
    const char *kind;
    char *text; /* drawable, one line */
    enum theme_role role;
    char *raw;      /* the event's JSON line, for the inspector */
    char *entry_id; /* a stream row: the reply it streams */
    unsigned pieces;
};

struct timeline {
    struct vec rows; /* struct tl_row *, oldest first */
    uint64_t next_serial;
    struct vec streams; /* struct tl_row * of replies still streaming (not owned) */
    struct scroll scroll;
    uint64_t selected; /* the selected row's serial; 0: the newest */
    size_t lines_below;

    struct rect r;
    bool visible, dirty;
    WINDOW *win;
};

void timeline_init(struct timeline *tl);
void timeline_fini(struct timeline *tl);
/* Adds the row for event ev (its JSON text is line). */
void timeline_add_event(struct timeline *tl, const cJSON *ev, const char *line);
/* Adds a row of the console's own (a notice, not an event). */
void timeline_add_notice(struct timeline *tl, enum theme_role role, const char *untrusted);
void timeline_scroll(struct timeline *tl, int lines);
/* Moves the selection by dir rows; it stays in view. */
void timeline_select(struct timeline *tl, int dir);
/* Selects the row drawn at row y of the window; returns whether there is one. */
bool timeline_select_at(struct timeline *tl, int y);
const struct tl_row *timeline_selected(const struct timeline *tl);
void timeline_paint(struct timeline *tl, struct console *c, bool focused);

#endif
