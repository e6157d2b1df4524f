/* The console's shared state, for the files of src/ui/ only: the one place
 * besides them that knows curses is nowhere (DESIGN §6).
 *
 * The console is an event sink: events and keys change this state and mark
 * what they change dirty; nothing draws from a callback. One frame timer
 * paints what is dirty (wnoutrefresh each window, the command line last) and
 * calls doupdate once, at most about 60 times a second. */
#ifndef AGENTDECK_UI_UI_H
#define AGENTDECK_UI_UI_H

#include <curses.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/vec.h"
#include "model/theme.h"
#include "orch/session.h"
#include "ui/console.h"

struct rect {
    int y, x, h, w;
};

/* Where a scrolled view stands: following the newest line, or with its
 * bottom row on item `anchor` (a serial number, so that dropping old items
 * does not move it); in a pane, at the line that starts at byte `offset`
 * of the block's text, so that a new width does not move it either. */
struct scroll {
    bool follow;
    uint64_t anchor;
    size_t offset; /* panes: byte offset in the block's text of the bottom line */
    bool header;   /* panes: the bottom line is the block's header line */
};

enum layout_mode {
    LAYOUT_GRID,     /* every pane in a grid, and the timeline */
    LAYOUT_FOCUS,    /* the focused pane and the timeline */
    LAYOUT_TIMELINE, /* the timeline alone */
    LAYOUT_COUNT
};

struct pane;
struct timeline;
struct overlay;

struct console {
    struct session *s;
    const struct console_options *opt;
    struct event_sink *sink;

    struct theme theme;
    attr_t attrs[ROLE_COUNT];
    bool color;
    char *exe_dir;       /* the folder of the binary: themes/ next to it */
    char *theme_dirs[4]; /* NULL-terminated */

    struct vec panes; /* struct pane *, in the team's order */
    size_t focus;     /* a pane's index, or panes.len: the timeline */
    size_t last_pane; /* the pane shown by LAYOUT_FOCUS when the timeline has focus */
    enum layout_mode layout;
    bool zoom;
    bool crowded; /* the grid does not fit: the focused pane is shown instead */
    struct timeline *tl;
    struct overlay *ov;
    WINDOW *status_win, *cmd_win;
    struct rect status_r, cmd_r;
    bool too_small;

    bool relayout, dirty_all, dirty_status, dirty_cmd;
    uint64_t frame_timer, message_timer;
    int64_t last_frame_ms;

    bool quit;
    int64_t ctrl_c_ms; /* when Ctrl-C was last pressed with nothing to cancel */
    char *message;     /* a line for the status bar, or NULL */
    enum theme_role message_role;
    char *hint; /* completion matches, until the next key */
    int64_t tokens_in, tokens_out;
    bool quiet;               /* resumed events of the past: no overlays, no status messages */
    bool past;                /* a replayed event: no overlay (the answers of live commands have one) */
    struct replay *replay;    /* --replay: the player, or NULL */
    struct rebuild *replayed; /* --replay: the session as far as it has played */

    SCREEN *screen;
    uint64_t stdin_watch, stderr_watch;
    int saved_stderr, stderr_pipe;
    struct buf stderr_buf;

    /* Figures for bench/ (AGENTDECK_STATS=FILE): frames, painting CPU,
     * keystroke-to-echo delays. */
    const char *stats_path;
    uint64_t frames;
    int64_t paint_cpu_ns;
    int64_t key_pending_ns; /* when the oldest key not yet echoed was read; 0: none */
    struct vec echo_ns;     /* int64_t delays, boxed */
};

/* ---- console.c ---- */
void console_mark(struct console *c); /* schedules a frame */
int64_t console_now_ns(void);         /* the monotonic clock, for the figures */
void console_mark_all(struct console *c);
void console_say(struct console *c, enum theme_role role, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void console_submit(struct console *c, const char *line);
void console_focus_next(struct console *c, int dir);
void console_focus_at(struct console *c, size_t index);
void console_scroll(struct console *c, int pages);
void console_cycle_layout(struct console *c);
void console_toggle_zoom(struct console *c);
void console_help(struct console *c, const char *topic);
void console_inspect(struct console *c);
void console_ctrl_c(struct console *c);
void console_redraw(struct console *c);
void console_suspend(struct console *c);
void console_mouse(struct console *c, int button, int x, int y, bool press);
void console_toggle_folds(struct console *c);
void console_select(struct console *c, int dir);
bool console_timeline_focused(const struct console *c);
bool console_set_theme(struct console *c, const char *name, char **error);
struct pane *console_find_pane(struct console *c, const char *agent);
/* y, a or n answers the oldest call that waits for confirmation (allow
 * once, allow always, deny); returns false for another key or when none waits. */
bool console_answer_key(struct console *c, int key);
/* --replay, on an empty line: Space, n, + or - drive the player; returns
 * false for any other key. */
bool console_replay_key(struct console *c, int ch);

/* ---- draw.c: text in a window, clipped to columns ---- */
/* Draws drawable UTF-8 text at the cursor in attr, at most cols columns;
 * returns the columns used. */
int draw_text(WINDOW *w, const char *text, size_t len, int cols, attr_t attr);
/* Fills row y from column 0 to cols with blanks in attr, for text drawn
 * over it (by position: a text that ends at the right edge moves the
 * cursor to the next row). */
void draw_row(WINDOW *w, int y, int cols, attr_t attr);
/* Appends untrusted text made safe and drawable (sanitize + width). */
void draw_clean(struct buf *out, const char *untrusted, bool one_line);

/* ---- colors.c ---- */
void colors_start(struct console *c);
void colors_apply(struct console *c);

/* ---- layout.c ---- */
void layout_apply(struct console *c);

/* ---- statusbar.c ---- */
void statusbar_paint(struct console *c);

/* An event's string field, or "" when it has none. */
static inline const char *ev_str(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(item) ? item->valuestring : "";
}

/* An event's number field, or 0 when it has none. */
static inline double ev_num(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(item) ? item->valuedouble : 0;
}

#endif
