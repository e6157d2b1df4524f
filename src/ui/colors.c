/* Themes on curses: a colour pair per role, colours mapped down to what
 * the terminal has (256, 16 or 8), attributes only with NO_COLOR or on a
 * terminal without colours. */
#include "config.h"

#include <stdlib.h>

#include "ui/ui.h"

void colors_start(struct console *c)
{
    const char *no_color = getenv("NO_COLOR");

    c->color = has_colors() && !(no_color && *no_color);
    if (c->color) {
        start_color();
        use_default_colors();
    }
}

/* The nearest of the 8 basic colours to a 256-colour index. */
static short to_basic(short color)
{
    if (color < 8)
        return color;
    if (color < 16)
        return (short)(color - 8);
    if (color >= 232)
        return color >= 244 ? COLOR_WHITE : COLOR_BLACK;
    color = (short)(color - 16);
    int r = color / 36, g = color / 6 % 6, b = color % 6;
    return (short)((r >= 3 ? 1 : 0) | (g >= 3 ? 2 : 0) | (b >= 3 ? 4 : 0));
}

static short map_color(short color)
{
    if (color < 0)
        return -1;
    if (COLORS >= 256)
        return color;
    if (COLORS >= 16 && color < 16)
        return color;
    return to_basic(color);
}

static attr_t to_attrs(int bits)
{
    attr_t a = A_NORMAL;
    if (bits & THEME_BOLD)
        a |= A_BOLD;
    if (bits & THEME_DIM)
        a |= A_DIM;
    if (bits & THEME_REVERSE)
        a |= A_REVERSE;
    if (bits & THEME_UNDERLINE)
        a |= A_UNDERLINE;
#ifdef A_ITALIC
    if (bits & THEME_ITALIC)
        a |= A_ITALIC;
#endif
    return a;
}

void colors_apply(struct console *c)
{
    struct theme mono;

    theme_init_mono(&mono);
    for (int r = 0; r < ROLE_COUNT; r++) {
        const struct theme_style *st = &c->theme.styles[r];
        if (c->color && r + 1 < COLOR_PAIRS) {
            short fg = map_color(st->fg), bg = map_color(st->bg);
            init_pair((short)(r + 1), fg, bg);
            c->attrs[r] = COLOR_PAIR(r + 1) | to_attrs(st->attrs);
        } else {
            /* No colours: a theme's colours say nothing, so the mono styles speak. */
            c->attrs[r] = to_attrs(mono.styles[r].attrs | (st->fg < 0 && st->bg < 0 ? st->attrs : 0));
        }
    }
    theme_fini(&mono);
}
