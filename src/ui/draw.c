/* Drawing text: always drawable UTF-8 (text/width.h), clipped to a column
 * count so that a wide character is never split at a window's edge and
 * curses never wraps. */
#include "config.h"

#include <string.h>

#include "text/sanitize.h"
#include "text/width.h"
#include "ui/ui.h"

int draw_text(WINDOW *w, const char *text, size_t len, int cols, attr_t attr)
{
    size_t used = 0, n;

    if (cols <= 0)
        return 0;
    n = width_clip(text, len, (size_t)cols, &used);
    wattrset(w, (int)attr);
    waddnstr(w, text, (int)n);
    wattrset(w, A_NORMAL);
    return (int)used;
}

void draw_row(WINDOW *w, int y, int cols, attr_t attr)
{
    if (cols > 0)
        mvwhline(w, y, 0, ' ' | attr, cols);
    wmove(w, y, 0);
}

void draw_clean(struct buf *out, const char *untrusted, bool one_line)
{
    struct buf safe = BUF_INIT;
    sanitize_append(&safe, untrusted ? untrusted : "", one_line);
    width_append_drawable(out, buf_str(&safe));
    buf_fini(&safe);
}
