/* An agent's pane: its messages, its folded tool calls and its state, as
 * the events tell them; a bounded store of blocks drawn from the bottom, so
 * that painting costs what the pane shows, not what it holds. */
#ifndef AGENTDECK_UI_PANE_H
#define AGENTDECK_UI_PANE_H

#include "ui/ui.h"

enum pane_state {
    PANE_IDLE,
    PANE_THINKING,
    PANE_STREAMING,
    PANE_TOOL,       /* calling a tool */
    PANE_HANDED_OFF, /* handed the conversation to another agent */
    PANE_WAITING,    /* a call waits for /allow or /deny */
    PANE_ERROR,
};

enum block_kind {
    BLOCK_USER,   /* the user's message */
    BLOCK_REPLY,  /* the agent's reply, streamed or whole */
    BLOCK_CALL,   /* function.call: folded */
    BLOCK_RESULT, /* function.result: folded */
    BLOCK_TOOL,   /* tool.execution: folded */
    BLOCK_HANDOFF,
    BLOCK_NOTICE,
    BLOCK_ERROR,
};

struct block {
    uint64_t serial;
    enum block_kind kind;
    char *entry_id; /* may be NULL */
    char *label;    /* drawable, may be "" */
    struct buf text;
    bool foldable, folded;
    /* Where each wrapped line of text starts, for cache_cols columns. */
    int cache_cols;
    bool cache_folded;
    size_t cache_len;
    size_t *starts, nstarts, starts_cap;
};

struct pane {
    char *agent, *model;
    enum pane_state state;
    char *detail; /* the tool, or the agent handed off to */
    char *run;    /* the run that set the state */
    struct vec blocks;
    uint64_t next_serial;
    bool cut; /* old blocks were dropped */
    struct scroll scroll;
    size_t lines_below; /* for -MORE(n)-, as of the last paint */

    struct rect r;
    bool visible, sep, dirty;
    WINDOW *win;
    uint64_t *row_serial; /* the block drawn on each content row */
    int rows;
};

struct pane *pane_new(const char *agent, const char *model);
void pane_free(void *pane);

/* Adds a block; label and text are untrusted and made safe here. */
struct block *pane_add(struct pane *p, enum block_kind kind, const char *entry_id, const char *label, const char *text);
/* The newest block of entry_id, or NULL. */
struct block *pane_find(struct pane *p, const char *entry_id);
void pane_append(struct pane *p, struct block *b, const char *text);
void pane_set_text(struct pane *p, struct block *b, const char *text);
void pane_set_state(struct pane *p, enum pane_state state, const char *detail, const char *run);
const char *pane_state_name(enum pane_state state);

/* Scrolls by lines (> 0: back in time); back at the bottom it follows again. */
void pane_scroll(struct pane *p, int lines);
void pane_paint(struct pane *p, struct console *c, bool focused);
/* A click at row y (0: the title) of the pane: opens or closes a folded block. */
bool pane_click(struct pane *p, int y);
/* Opens every folded block, or closes them all when all are open. */
void pane_toggle_folds(struct pane *p);

#endif
