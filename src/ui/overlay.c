#include "config.h"

#include "ui/overlay.h"

#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "text/width.h"

void overlay_init(struct overlay *ov)
{
    memset(ov, 0, sizeof *ov);
    buf_init(&ov->text);
}

void overlay_fini(struct overlay *ov)
{
    if (ov->win)
        delwin(ov->win);
    free(ov->title);
    buf_fini(&ov->text);
}

void overlay_open(struct overlay *ov, const char *title, const char *text, bool trusted)
{
    struct buf t = BUF_INIT;

    free(ov->title);
    draw_clean(&t, title, true);
    ov->title = buf_steal(&t);
    buf_reset(&ov->text);
    if (trusted)
        width_append_drawable(&ov->text, text);
    else
        draw_clean(&ov->text, text, false);
    /* A final newline makes no empty last line. */
    while (ov->text.len && ov->text.data[ov->text.len - 1] == '\n')
        ov->text.data[--ov->text.len] = '\0';
    ov->top = 0;
    ov->open = true;
    ov->dirty = true;
}

void overlay_close(struct overlay *ov)
{
    ov->open = false;
    if (ov->win) {
        delwin(ov->win);
        ov->win = NULL;
    }
}

void overlay_scroll(struct overlay *ov, int lines)
{
    long top = (long)ov->top + lines, max = (long)ov->lines - ov->page;
    if (top > max)
        top = max;
    if (top < 0)
        top = 0;
    ov->top = (size_t)top;
    ov->dirty = true;
}

void overlay_paint(struct overlay *ov, struct console *c)
{
    struct rect r = {1, 2, LINES - 4, COLS - 4};
    const char *s = buf_str(&ov->text);
    size_t len = ov->text.len, pos = 0, line = 0;
    int inner, rows, y = 1;
    attr_t body = c->attrs[ROLE_OVERLAY];
    char foot[96];

    if (COLS < 60) {
        r.x = 0;
        r.w = COLS;
    }
    if (LINES < 20) {
        r.y = 0;
        r.h = LINES - 2;
    }
    if (!ov->win || memcmp(&r, &ov->r, sizeof r) != 0) {
        if (ov->win)
            delwin(ov->win);
        ov->win = newwin(r.h, r.w, r.y, r.x);
        ov->r = r;
        leaveok(ov->win, TRUE);
    }
    if (!ov->win)
        return;
    inner = r.w - 4;
    rows = r.h - 2;
    ov->page = rows > 1 ? rows : 1;
    wbkgdset(ov->win, ' ' | body);
    werase(ov->win);
    wattrset(ov->win, (int)c->attrs[ROLE_BORDER]);
    box(ov->win, 0, 0);
    wattrset(ov->win, A_NORMAL);
    wmove(ov->win, 0, 2);
    draw_text(ov->win, " ", 1, inner, c->attrs[ROLE_OVERLAY_TITLE]);
    draw_text(ov->win, ov->title, strlen(ov->title), inner - 2, c->attrs[ROLE_OVERLAY_TITLE]);
    draw_text(ov->win, " ", 1, 1, c->attrs[ROLE_OVERLAY_TITLE]);
    /* Wrap from the top: an overlay is painted only when it changes. */
    do {
        size_t next, n = width_wrap_line(s + pos, len - pos, (size_t)(inner > 0 ? inner : 1), &next);
        if (line >= ov->top && y <= rows) {
            wmove(ov->win, y++, 2);
            draw_text(ov->win, s + pos, n, inner, body);
        }
        pos += next;
        line++;
    } while (pos < len);
    ov->lines = line;
    snprintf(foot, sizeof foot, " Esc closes  Up/Down PgUp/PgDn scroll  %zu-%zu of %zu ", ov->top + 1,
             ov->top + (size_t)rows < line ? ov->top + (size_t)rows : line, line);
    if ((int)strlen(foot) + 4 <= r.w) {
        wmove(ov->win, r.h - 1, r.w - 2 - (int)strlen(foot));
        draw_text(ov->win, foot, strlen(foot), (int)strlen(foot), c->attrs[ROLE_DIM] | A_REVERSE);
    }
    wbkgdset(ov->win, ' ');
    touchwin(ov->win);
    wnoutrefresh(ov->win);
    ov->dirty = false;
}
