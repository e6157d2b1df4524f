/* Overlays over the panes: the help (F1, /help), the inspector of a
 * timeline event (Enter), and the answers of /agent list, /agent show and
 * /history. One at a time; Esc closes it. */
#ifndef AGENTDECK_UI_OVERLAY_H
#define AGENTDECK_UI_OVERLAY_H

#include "ui/ui.h"

struct overlay {
    bool open, dirty;
    char *title;
    struct buf text; /* drawable */
    size_t top;      /* the first line shown */
    size_t lines;    /* as of the last paint */
    int page;
    WINDOW *win;
    struct rect r;
};

void overlay_init(struct overlay *ov);
void overlay_fini(struct overlay *ov);
/* Shows text (trusted: ours; else made safe) under title. */
void overlay_open(struct overlay *ov, const char *title, const char *text, bool trusted);
void overlay_close(struct overlay *ov);
void overlay_scroll(struct overlay *ov, int lines);
void overlay_paint(struct overlay *ov, struct console *c);

#endif
