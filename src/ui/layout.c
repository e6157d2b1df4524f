/* Where everything goes: the panes in a grid that adapts to the terminal,
 * the timeline beside or below them, the status bar and the command line at
 * the bottom. Recomputed on resize and on layout changes only. */
#include "config.h"

#include "ui/pane.h"
#include "ui/timeline.h"

enum {
    MIN_COLS = 50, /* below this, or ... */
    MIN_ROWS = 14, /* ... this, the console says the terminal is too small */
    MIN_PANE_COLS = 18,
    MIN_PANE_ROWS = 3,
};

static void place(WINDOW **win, struct rect *dst, struct rect r)
{
    *dst = r;
    if (*win)
        delwin(*win);
    *win = r.h > 0 && r.w > 0 ? newwin(r.h, r.w, r.y, r.x) : NULL;
    if (*win)
        leaveok(*win, TRUE);
}

static void hide_pane(struct pane *p)
{
    p->visible = false;
    if (p->win)
        delwin(p->win);
    p->win = NULL;
}

/* Splits area into a grid of n panes; returns false when they would be too small. */
static bool grid(struct console *c, struct rect area, bool sep_last)
{
    size_t n = c->panes.len, best_cols = 1;
    double best = -1;

    for (size_t cols = 1; cols <= n; cols++) {
        size_t rows = (n + cols - 1) / cols;
        double w = (double)area.w / (double)cols, h = (double)area.h / (double)rows;
        /* Text wants width: a pane three times wider than tall reads best. */
        double score = w / 3 < h ? w / 3 : h;
        if (score > best + 0.01) {
            best = score;
            best_cols = cols;
        }
    }
    size_t rows = (n + best_cols - 1) / best_cols;
    if (area.w / (int)best_cols < MIN_PANE_COLS || area.h / (int)rows < MIN_PANE_ROWS)
        return false;
    for (size_t i = 0; i < n; i++) {
        struct pane *p = c->panes.items[i];
        size_t row = i / best_cols, col = i % best_cols;
        /* The last row may have fewer panes: they share its width. */
        size_t in_row = row + 1 == rows ? n - row * best_cols : best_cols;
        int x0 = area.x + (int)((size_t)area.w * col / in_row);
        int x1 = area.x + (int)((size_t)area.w * (col + 1) / in_row);
        int y0 = area.y + (int)((size_t)area.h * row / rows);
        int y1 = area.y + (int)((size_t)area.h * (row + 1) / rows);
        p->sep = col + 1 < in_row || sep_last;
        p->visible = true;
        place(&p->win, &p->r, (struct rect){y0, x0, y1 - y0, x1 - x0});
        p->dirty = true;
    }
    return true;
}

void layout_apply(struct console *c)
{
    struct timeline *tl = c->tl;
    struct rect area = {0, 0, LINES - 2, COLS};
    struct rect tl_r = area, panes_r = area;
    size_t n = c->panes.len;
    bool timeline_focused = c->focus >= n;
    struct pane *shown = n ? c->panes.items[c->last_pane < n ? c->last_pane : 0] : NULL;
    enum layout_mode mode = c->layout;

    c->relayout = false;
    c->too_small = COLS < MIN_COLS || LINES < MIN_ROWS;
    c->crowded = false;
    for (size_t i = 0; i < n; i++)
        hide_pane(c->panes.items[i]);
    tl->visible = false;
    place(&tl->win, &tl->r, (struct rect){0, 0, 0, 0});
    place(&c->status_win, &c->status_r, (struct rect){LINES - 2, 0, 1, COLS});
    place(&c->cmd_win, &c->cmd_r, (struct rect){LINES - 1, 0, 1, COLS});
    if (c->cmd_win)
        leaveok(c->cmd_win, FALSE);
    c->dirty_all = true;
    if (c->too_small)
        return;

    if (c->zoom || !n || mode == LAYOUT_TIMELINE) {
        if (!n || mode == LAYOUT_TIMELINE || (c->zoom && timeline_focused)) {
            tl->visible = true;
            place(&tl->win, &tl->r, area);
        } else {
            shown->visible = true;
            shown->sep = false;
            place(&shown->win, &shown->r, area);
        }
        return;
    }
    /* The timeline: a column on the right when wide, else a strip below. */
    if (COLS >= 140) {
        int w = COLS / 3 < 40 ? 40 : COLS / 3;
        tl_r = (struct rect){0, COLS - w, area.h, w};
        panes_r.w = COLS - w;
    } else {
        int h = area.h / 3 < 5 ? 5 : area.h / 3;
        tl_r = (struct rect){area.h - h, 0, h, COLS};
        panes_r.h = area.h - h;
    }
    tl->visible = true;
    place(&tl->win, &tl->r, tl_r);
    if (mode == LAYOUT_GRID && grid(c, panes_r, COLS >= 140))
        return;
    if (mode == LAYOUT_GRID) {
        c->crowded = true;
        for (size_t i = 0; i < n; i++)
            hide_pane(c->panes.items[i]);
    }
    shown->visible = true;
    shown->sep = COLS >= 140;
    place(&shown->win, &shown->r, panes_r);
}
