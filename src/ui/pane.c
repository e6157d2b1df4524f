/* Agent panes: blocks of text wrapped to the pane's width, drawn from the
 * bottom up. Each block keeps where its wrapped lines start, and a reply
 * that streams in is wrapped again only from its last line, so a frame
 * costs the rows on screen, not the length of the history. */
#include "config.h"

#include "ui/pane.h"

#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "text/width.h"

enum {
    PANE_MAX_BLOCKS = 2000,   /* beyond this, the oldest ... */
    PANE_DROP_BLOCKS = 200,   /* ... this many go at once */
    BLOCK_MAX_TEXT = 1 << 20, /* a block's text is cut here */
};

static void block_free(void *item)
{
    struct block *b = item;
    free(b->entry_id);
    free(b->label);
    buf_fini(&b->text);
    free(b->starts);
    free(b);
}

struct pane *pane_new(const char *agent, const char *model)
{
    struct pane *p = xcalloc(1, sizeof *p);
    p->agent = xstrdup(agent);
    p->model = xstrdup(model ? model : "");
    vec_init(&p->blocks, block_free);
    p->next_serial = 1;
    p->scroll.follow = true;
    p->dirty = true;
    return p;
}

void pane_free(void *pane)
{
    struct pane *p = pane;
    if (!p)
        return;
    if (p->win)
        delwin(p->win);
    free(p->agent);
    free(p->model);
    free(p->detail);
    free(p->run);
    vec_fini(&p->blocks);
    free(p->row_serial);
    free(p);
}

const char *pane_state_name(enum pane_state state)
{
    switch (state) {
    case PANE_IDLE:
        return "idle";
    case PANE_THINKING:
        return "thinking";
    case PANE_STREAMING:
        return "streaming";
    case PANE_TOOL:
        return "calling a tool";
    case PANE_HANDED_OFF:
        return "handed off";
    case PANE_WAITING:
        return "waiting";
    case PANE_ERROR:
        return "error";
    }
    return "?";
}

static void drop_old_blocks(struct pane *p)
{
    struct vec *v = &p->blocks;
    if (v->len <= PANE_MAX_BLOCKS)
        return;
    for (size_t i = 0; i < PANE_DROP_BLOCKS; i++)
        block_free(v->items[i]);
    memmove(v->items, v->items + PANE_DROP_BLOCKS, (v->len - PANE_DROP_BLOCKS) * sizeof *v->items);
    v->len -= PANE_DROP_BLOCKS;
    p->cut = true;
}

struct block *pane_add(struct pane *p, enum block_kind kind, const char *entry_id, const char *label, const char *text)
{
    struct block *b = xcalloc(1, sizeof *b);
    struct buf l = BUF_INIT;

    b->serial = p->next_serial++;
    b->kind = kind;
    b->entry_id = xstrdup(entry_id);
    draw_clean(&l, label ? label : "", true);
    b->label = buf_steal(&l);
    buf_init(&b->text);
    draw_clean(&b->text, text ? text : "", kind == BLOCK_CALL || kind == BLOCK_TOOL);
    b->foldable = kind == BLOCK_CALL || kind == BLOCK_RESULT || kind == BLOCK_TOOL;
    b->folded = b->foldable;
    vec_push(&p->blocks, b);
    drop_old_blocks(p);
    p->dirty = true;
    return b;
}

struct block *pane_find(struct pane *p, const char *entry_id)
{
    /* Streams are recent: look at the newest blocks only. */
    for (size_t i = p->blocks.len, n = 0; i-- > 0 && n < 64; n++) {
        struct block *b = p->blocks.items[i];
        if (b->entry_id && strcmp(b->entry_id, entry_id) == 0)
            return b;
    }
    return NULL;
}

void pane_append(struct pane *p, struct block *b, const char *text)
{
    if (b->text.len >= BLOCK_MAX_TEXT)
        return;
    draw_clean(&b->text, text, false);
    if (b->text.len >= BLOCK_MAX_TEXT)
        buf_puts(&b->text, " [cut: too long to show]");
    p->dirty = true;
}

void pane_set_text(struct pane *p, struct block *b, const char *text)
{
    buf_reset(&b->text);
    b->cache_cols = 0;
    draw_clean(&b->text, text, false);
    p->dirty = true;
}

void pane_set_state(struct pane *p, enum pane_state state, const char *detail, const char *run)
{
    p->state = state;
    free(p->detail);
    p->detail = xstrdup(detail);
    if (run) {
        free(p->run);
        p->run = xstrdup(run);
    }
    p->dirty = true;
}

/* ---- wrapping ---------------------------------------------------------- */

static size_t label_cols(const struct block *b)
{
    return *b->label ? width_str(b->label, strlen(b->label)) + 1 : 0;
}

/* Columns for text line i of b in a pane `cols` wide. */
static size_t line_cols(const struct block *b, size_t i, int cols)
{
    long n = cols;
    if (b->foldable)
        n -= 2;
    else if (*b->label)
        n -= i == 0 ? (long)label_cols(b) : 2;
    return n < 1 ? 1 : (size_t)n;
}

/* Brings b's line starts up to date for cols. */
static void block_wrap(struct block *b, int cols)
{
    bool folded = b->foldable && b->folded;
    const char *s = buf_str(&b->text);
    size_t len = b->text.len, pos = 0;

    if (b->cache_cols != cols || b->cache_folded != folded) {
        b->nstarts = 0;
        b->cache_cols = cols;
        b->cache_folded = folded;
    }
    if (folded || (b->nstarts && b->cache_len == len))
        return;
    if (b->nstarts)
        pos = b->starts[--b->nstarts]; /* the last line may grow: wrap it again */
    do {
        size_t next;
        if (b->nstarts == b->starts_cap) {
            b->starts_cap = b->starts_cap ? b->starts_cap * 2 : 8;
            b->starts = xreallocarray(b->starts, b->starts_cap, sizeof *b->starts);
        }
        b->starts[b->nstarts] = pos;
        width_wrap_line(s + pos, len - pos, line_cols(b, b->nstarts, cols), &next);
        b->nstarts++;
        pos += next;
    } while (pos < len);
    b->cache_len = len;
}

static size_t block_lines(struct block *b, int cols)
{
    block_wrap(b, cols);
    if (b->foldable)
        return b->folded ? 1 : 1 + b->nstarts;
    return b->nstarts;
}

/* The line of b that holds anchor (offset, header). */
static size_t line_of(struct block *b, int cols, const struct scroll *sc)
{
    size_t lines = block_lines(b, cols), first_text = b->foldable ? 1 : 0, i = 0;

    if ((b->foldable && (b->folded || sc->header)) || !b->nstarts)
        return 0;
    while (i + 1 < b->nstarts && b->starts[i + 1] <= sc->offset)
        i++;
    return i + first_text < lines ? i + first_text : lines - 1;
}

static void set_anchor(struct pane *p, size_t bi, size_t li)
{
    struct block *b = p->blocks.items[bi];
    p->scroll.follow = false;
    p->scroll.anchor = b->serial;
    p->scroll.header = b->foldable && li == 0;
    p->scroll.offset = 0;
    if (!p->scroll.header && b->nstarts) {
        size_t t = b->foldable ? li - 1 : li;
        p->scroll.offset = b->starts[t < b->nstarts ? t : b->nstarts - 1];
    }
}

/* The bottom row's block and line, from the scroll state. */
static void bottom(struct pane *p, int cols, size_t *bi, size_t *li)
{
    struct block *first = p->blocks.items[0];

    if (!p->scroll.follow && p->scroll.anchor < first->serial) {
        *bi = 0; /* the anchor was dropped: the oldest left */
        *li = 0;
    } else if (p->scroll.follow || p->scroll.anchor - first->serial >= p->blocks.len) {
        *bi = p->blocks.len - 1;
        *li = block_lines(p->blocks.items[*bi], cols) - 1;
    } else {
        *bi = p->scroll.anchor - first->serial;
        *li = line_of(p->blocks.items[*bi], cols, &p->scroll);
    }
}

/* Moves (bi, li) k lines down; returns whether it reached the last line. */
static bool move_down(struct pane *p, int cols, size_t *bi, size_t *li, size_t k)
{
    while (k > 0) {
        if (*li + 1 < block_lines(p->blocks.items[*bi], cols)) {
            ++*li;
        } else if (*bi + 1 < p->blocks.len) {
            ++*bi;
            *li = 0;
        } else {
            break;
        }
        k--;
    }
    return *bi + 1 == p->blocks.len && *li + 1 == block_lines(p->blocks.items[*bi], cols);
}

static void move_up(struct pane *p, int cols, size_t *bi, size_t *li, size_t k)
{
    while (k > 0) {
        if (*li > 0) {
            --*li;
        } else if (*bi > 0) {
            --*bi;
            *li = block_lines(p->blocks.items[*bi], cols) - 1;
        } else {
            break;
        }
        k--;
    }
}

/* Text columns: a blank margin on the left, the separator on the right. */
static int content_cols(const struct pane *p)
{
    /* A blank column on the left, and one before the separator. */
    return p->r.w - (p->sep ? 2 : 0) - 1;
}

void pane_scroll(struct pane *p, int lines)
{
    int cols = content_cols(p);
    size_t bi, li;

    if (!p->blocks.len || cols <= 0)
        return;
    bottom(p, cols, &bi, &li);
    if (lines > 0) {
        move_up(p, cols, &bi, &li, (size_t)lines);
        set_anchor(p, bi, li);
    } else if (move_down(p, cols, &bi, &li, (size_t)-lines)) {
        p->scroll.follow = true;
    } else {
        set_anchor(p, bi, li);
    }
    p->dirty = true;
}

/* ---- painting ----------------------------------------------------------- */

static void paint_title(struct pane *p, struct console *c, bool focused)
{
    attr_t title = c->attrs[focused ? ROLE_TITLE_FOCUSED : ROLE_TITLE];
    int cols = p->r.w - (p->sep ? 1 : 0);
    enum theme_role state_role = ROLE_STATE_IDLE;
    struct buf state = BUF_INIT, name = BUF_INIT;
    int state_w, x;

    switch (p->state) {
    case PANE_THINKING:
    case PANE_STREAMING:
    case PANE_TOOL:
        state_role = ROLE_STATE_BUSY;
        break;
    case PANE_WAITING:
        state_role = ROLE_STATE_WAITING;
        break;
    case PANE_ERROR:
        state_role = ROLE_STATE_ERROR;
        break;
    default:
        break;
    }
    buf_printf(&state, " %s", pane_state_name(p->state));
    if (p->state == PANE_HANDED_OFF && p->detail)
        buf_printf(&state, " \xE2\x87\xA2 %s", p->detail); /* ⇢ */
    else if (p->state == PANE_TOOL && p->detail)
        buf_printf(&state, ": %s", p->detail);
    buf_putc(&state, ' ');
    state_w = (int)width_str(state.data, state.len);
    if (state_w > cols / 2 && p->state == PANE_HANDED_OFF && p->detail) {
        /* Narrow: the arrow says "handed off". */
        buf_reset(&state);
        buf_printf(&state, " \xE2\x87\xA2 %s ", p->detail);
        state_w = (int)width_str(state.data, state.len);
    }
    if (state_w > cols / 2)
        state_w = cols / 2;

    draw_row(p->win, 0, cols, title);
    draw_clean(&name, p->agent, true);
    x = draw_text(p->win, " ", 1, cols, title);
    x += draw_text(p->win, name.data, name.len, cols - state_w - x, title | A_BOLD);
    if (*p->model) {
        /* The model, whole or not at all. */
        buf_reset(&name);
        buf_puts(&name, "  ");
        draw_clean(&name, p->model, true);
        if ((int)width_str(name.data, name.len) <= cols - state_w - x - 1)
            x += draw_text(p->win, name.data, name.len, cols - state_w - x - 1, title);
    }
    wmove(p->win, 0, cols - state_w);
    draw_text(p->win, state.data, state.len, state_w, c->attrs[state_role]);
    buf_fini(&state);
    buf_fini(&name);
}

/* Draws line li of b at row y. */
static void paint_line(struct pane *p, struct console *c, struct block *b, size_t li, int y, int cols)
{
    enum theme_role label_role = ROLE_AGENT, text_role = ROLE_TEXT;
    const char *s = buf_str(&b->text);
    int x = 0;

    switch (b->kind) {
    case BLOCK_USER:
        label_role = ROLE_USER;
        break;
    case BLOCK_CALL:
    case BLOCK_RESULT:
    case BLOCK_TOOL:
        label_role = ROLE_TOOL;
        text_role = b->folded ? ROLE_DIM : ROLE_TEXT;
        break;
    case BLOCK_HANDOFF:
        label_role = text_role = ROLE_HANDOFF;
        break;
    case BLOCK_NOTICE:
        label_role = text_role = ROLE_DIM;
        break;
    case BLOCK_ERROR:
        label_role = text_role = ROLE_ERROR;
        break;
    default:
        break;
    }
    wmove(p->win, y, 1);
    if (b->foldable && li == 0) {
        const char *marker = b->folded ? "\xE2\x96\xB8 " : "\xE2\x96\xBE "; /* ▸ ▾ */
        x += draw_text(p->win, marker, strlen(marker), cols, c->attrs[ROLE_TOOL]);
        x += draw_text(p->win, b->label, strlen(b->label), cols - x, c->attrs[label_role]);
        if (b->folded && x + 1 < cols) {
            x += draw_text(p->win, " ", 1, cols - x, c->attrs[text_role]);
            draw_text(p->win, s, b->text.len, cols - x, c->attrs[text_role]);
        }
        return;
    }
    size_t t = b->foldable ? li - 1 : li;
    if (t >= b->nstarts)
        return;
    if (b->foldable || (*b->label && t > 0)) {
        x = 2;
        wmove(p->win, y, 1 + x);
    } else if (*b->label) {
        x += draw_text(p->win, b->label, strlen(b->label), cols, c->attrs[label_role]);
        x += draw_text(p->win, " ", 1, cols - x, c->attrs[text_role]);
    }
    size_t start = b->starts[t], next;
    size_t n = width_wrap_line(s + start, b->text.len - start, line_cols(b, t, cols), &next);
    draw_text(p->win, s + start, n, cols - x, c->attrs[text_role]);
}

void pane_paint(struct pane *p, struct console *c, bool focused)
{
    int cols = content_cols(p), rows = p->r.h - 1;
    size_t bi, li, n = 0, *row_b, *row_l;

    werase(p->win);
    paint_title(p, c, focused);
    if (p->sep) {
        wattrset(p->win, (int)c->attrs[ROLE_BORDER]);
        mvwvline(p->win, 0, p->r.w - 1, ACS_VLINE, p->r.h);
        wattrset(p->win, A_NORMAL);
    }
    if (rows != p->rows) {
        p->rows = rows > 0 ? rows : 0;
        p->row_serial = xreallocarray(p->row_serial, (size_t)p->rows + 1, sizeof *p->row_serial);
    }
    memset(p->row_serial, 0, ((size_t)p->rows + 1) * sizeof *p->row_serial);
    p->lines_below = 0;
    if (rows <= 0 || cols <= 0)
        return;
    if (!p->blocks.len) {
        wmove(p->win, 1, 1);
        draw_text(p->win, "no messages yet", 15, cols - 1, c->attrs[ROLE_DIM]);
        return;
    }
    bottom(p, cols, &bi, &li);
    row_b = xcalloc((size_t)rows, sizeof *row_b);
    row_l = xcalloc((size_t)rows, sizeof *row_l);
    for (int pass = 0; pass < 2; pass++) {
        size_t i = bi, l = li;
        n = 0;
        while (n < (size_t)rows) {
            row_b[rows - 1 - n] = i;
            row_l[rows - 1 - n] = l;
            n++;
            if (l > 0)
                l--;
            else if (i > 0)
                l = block_lines(p->blocks.items[--i], cols) - 1;
            else
                break;
        }
        /* Scrolled up past the top: the screen fills from the top line. */
        if (n == (size_t)rows || p->scroll.follow || pass == 1)
            break;
        if (move_down(p, cols, &bi, &li, (size_t)rows - n))
            p->scroll.follow = true;
        else
            set_anchor(p, bi, li);
    }
    for (size_t k = 0; k < n; k++) {
        size_t row = (size_t)rows - n + k;
        struct block *b = p->blocks.items[row_b[row]];
        /* Short content sits at the top of the pane. */
        int y = 1 + (int)k;
        paint_line(p, c, b, row_l[row], y, cols);
        p->row_serial[y] = b->serial;
    }
    if (!p->scroll.follow) {
        struct block *b = p->blocks.items[bi];
        p->lines_below = block_lines(b, cols) - 1 - li;
        for (size_t i = bi + 1; i < p->blocks.len; i++)
            p->lines_below += block_lines(p->blocks.items[i], cols);
        char more[32];
        int len = snprintf(more, sizeof more, "-MORE(%zu)-", p->lines_below);
        if (len < cols) {
            wmove(p->win, rows, 1 + cols - len);
            draw_text(p->win, more, (size_t)len, len, c->attrs[ROLE_MORE]);
        }
    }
    free(row_b);
    free(row_l);
}

bool pane_click(struct pane *p, int y)
{
    uint64_t serial;
    struct block *first;

    if (y <= 0 || y > p->rows || !p->blocks.len || !(serial = p->row_serial[y]))
        return false;
    first = p->blocks.items[0];
    if (serial < first->serial || serial - first->serial >= p->blocks.len)
        return false;
    struct block *b = p->blocks.items[serial - first->serial];
    if (!b->foldable)
        return false;
    b->folded = !b->folded;
    p->dirty = true;
    return true;
}

void pane_toggle_folds(struct pane *p)
{
    bool any_folded = false;
    for (size_t i = 0; i < p->blocks.len; i++) {
        struct block *b = p->blocks.items[i];
        any_folded |= b->foldable && b->folded;
    }
    for (size_t i = 0; i < p->blocks.len; i++) {
        struct block *b = p->blocks.items[i];
        if (b->foldable)
            b->folded = !any_folded;
    }
    p->dirty = true;
}
