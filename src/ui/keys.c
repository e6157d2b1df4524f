#include "config.h"

#include "ui/keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/xalloc.h"
#include "ui/cmdline.h"
#include "ui/overlay.h"

/* The help's rows: an action's row shows the key it has now. */
static const struct key_doc key_map[] = {
    {ACTION_HELP, -1, NULL, NULL},
    {-1, -1, "Tab", "complete a command, flag, @agent, entry id or theme"},
    {ACTION_FOCUS_NEXT, -1, NULL, NULL},
    {ACTION_FOCUS_PREVIOUS, -1, NULL, NULL},
    {ACTION_PAGE_UP, ACTION_PAGE_DOWN, NULL,
     "scroll the focused pane or the timeline; back at the bottom it follows the new lines"},
    {-1, -1, "mouse wheel", "scroll the pane or the timeline under the pointer"},
    {-1, -1, "click", "focus a pane; on a folded call or result: open or close it; in the timeline: select an event"},
    {-1, -1, "Up, Down", "the history; with the timeline focused and the line empty: select an event"},
    {-1, -1, "Enter", "send the line; with the timeline focused and the line empty: inspect the selected event"},
    {-1, -1, "Alt-Enter", "a new line inside the message"},
    {ACTION_FOLDS, -1, NULL, NULL},
    {ACTION_LAYOUT, -1, NULL, NULL},
    {ACTION_ZOOM, -1, NULL, NULL},
    {-1, -1, "Esc", "close the help or the inspector"},
    {ACTION_CANCEL, -1, NULL, NULL},
    {-1, -1, "Ctrl-D", "on an empty line: quit (like /quit)"},
    {ACTION_REDRAW, -1, NULL, NULL},
    {ACTION_SUSPEND, -1, NULL, NULL},
    {-1, -1, "y, a, n", "when a function call waits and the line is empty: allow it once, always, or deny it"},
    {-1, -1, "Ctrl-R", "search the history"},
    {-1, -1, "Space n + -", "--replay, on an empty line: pause and go on, play the next event, faster, slower"},
    {-1, -1, "other keys",
     "edit the line with readline: Emacs keys by default; ~/.inputrc is read (set editing-mode vi)"},
    {-1, -1, NULL, NULL},
};

static struct keymap keymap; /* the keys of the actions */

const struct key_doc *keys_table(void)
{
    return key_map;
}

const char *keys_of(enum key_action action)
{
    return keymap.keys[action] ? keymap.keys[action] : "(no key)";
}

void keys_help(struct buf *out)
{
    buf_puts(out, "Keys:\n");
    for (const struct key_doc *k = key_map; k->keys || k->action >= 0; k++) {
        char *keys = k->keys ? xstrdup(k->keys)
                     : k->second >= 0
                         ? xasprintf("%s, %s", keys_of((enum key_action)k->action), keys_of((enum key_action)k->second))
                         : xstrdup(keys_of((enum key_action)k->action));
        buf_printf(out, "  %-12s %s\n", keys, k->what ? k->what : keymap_action_help((enum key_action)k->action));
        free(keys);
    }
}

static struct buf pending; /* a sequence cut short, or pasted text */
static bool in_paste;
static struct buf paste;

void keys_init(const struct keymap *map)
{
    if (map)
        keymap = *map;
    else
        keymap_init(&keymap);
    buf_init(&pending);
    buf_init(&paste);
    in_paste = false;
}

void keys_fini(void)
{
    buf_fini(&pending);
    buf_fini(&paste);
}

bool keys_pending(void)
{
    return pending.len > 0 && !in_paste;
}

/* A key for readline. An overlay closes first: typing goes on below it. */
static void to_readline(struct console *c, const char *bytes, size_t n)
{
    if (c->ov->open) {
        overlay_close(c->ov);
        console_mark_all(c);
    }
    cmdline_feed(bytes, n);
}

/* Up or Down: the overlay, the timeline's selection, or readline's history. */
static void up_down(struct console *c, int dir, const char *bytes, size_t n)
{
    if (c->ov->open) {
        overlay_scroll(c->ov, dir);
        console_mark(c);
    } else if (console_timeline_focused(c) && cmdline_is_empty()) {
        console_select(c, dir);
    } else {
        cmdline_feed(bytes, n);
    }
}

static void page(struct console *c, int dir)
{
    if (c->ov->open) {
        overlay_scroll(c->ov, dir * (c->ov->page > 1 ? c->ov->page - 1 : 1));
        console_mark(c);
    } else {
        console_scroll(c, dir < 0 ? 1 : -1);
    }
}

static void close_overlay(struct console *c)
{
    overlay_close(c->ov);
    console_mark_all(c);
}

static void act(struct console *c, enum key_action action)
{
    switch (action) {
    case ACTION_HELP:
        if (c->ov->open)
            close_overlay(c);
        else
            console_help(c, NULL);
        break;
    case ACTION_FOLDS:
        console_toggle_folds(c);
        break;
    case ACTION_LAYOUT:
        console_cycle_layout(c);
        break;
    case ACTION_ZOOM:
        console_toggle_zoom(c);
        break;
    case ACTION_PAGE_UP:
    case ACTION_PAGE_DOWN:
        page(c, action == ACTION_PAGE_UP ? -1 : 1);
        break;
    case ACTION_FOCUS_NEXT:
    case ACTION_FOCUS_PREVIOUS:
        if (c->ov->open)
            close_overlay(c);
        console_focus_next(c, action == ACTION_FOCUS_NEXT ? 1 : -1);
        break;
    case ACTION_REDRAW:
        console_redraw(c);
        break;
    case ACTION_SUSPEND:
        console_suspend(c);
        break;
    case ACTION_CANCEL:
        console_ctrl_c(c);
        break;
    case ACTION_COUNT:
        break;
    }
}

/* Does the action of the key named name; false when it has none. Tab
 * focuses the next pane only on an empty line with no overlay: elsewhere
 * it completes, or closes the overlay. */
static bool pressed(struct console *c, const char *name)
{
    int action = name ? keymap_action_of(&keymap, name) : -1;

    if (action < 0)
        return false;
    if (action == ACTION_FOCUS_NEXT && strcmp(name, "Tab") == 0 && (c->ov->open || !cmdline_is_empty()))
        return false;
    act(c, (enum key_action)action);
    return true;
}

/* The name of the key of CSI number ~, or NULL. */
static const char *tilde_key(int num)
{
    static const char *const fkeys[] = {"F5", NULL, "F6", "F7", "F8", "F9", "F10", NULL, "F11", "F12"};
    static const char *const fourth[] = {"F1", "F2", "F3", "F4"};

    switch (num) {
    case 1:
    case 7:
        return "Home";
    case 2:
        return "Insert";
    case 3:
        return "Delete";
    case 4:
    case 8:
        return "End";
    case 5:
        return "PgUp";
    case 6:
        return "PgDn";
    default:
        if (num >= 11 && num <= 14)
            return fourth[num - 11];
        if (num >= 15 && num <= 24)
            return fkeys[num - 15];
        return NULL;
    }
}

/* Home and End scroll an open overlay when they do nothing else. */
static bool home_end(struct console *c, const char *name)
{
    bool home = strcmp(name, "Home") == 0;

    if (!c->ov->open || (!home && strcmp(name, "End") != 0))
        return false;
    overlay_scroll(c->ov, home ? -1000000 : 1000000);
    console_mark(c);
    return true;
}

/* SGR mouse report: params "<b;x;y", press when final is 'M'. */
static void mouse(struct console *c, const char *params, size_t n, bool press)
{
    char text[32];
    int b, x, y;

    if (n >= sizeof text)
        return;
    memcpy(text, params, n);
    text[n] = '\0';
    if (sscanf(text, "<%d;%d;%d", &b, &x, &y) == 3)
        console_mouse(c, b, x - 1, y - 1, press);
}

/* Handles CSI params final; returns false to hand the sequence to readline. */
static bool csi(struct console *c, const char *params, size_t n, char final, const char *seq, size_t seqlen)
{
    int num = n && params[0] != '<' ? atoi(params) : 0;
    const char *name = NULL;

    switch (final) {
    case '~':
        if (num == 200) {
            in_paste = true;
            buf_reset(&paste);
            return true;
        }
        if (num == 201)
            return true;
        name = tilde_key(num);
        break;
    case 'Z':
        name = "Shift-Tab";
        break;
    case 'H':
    case 'F':
        name = n ? NULL : final == 'H' ? "Home" : "End";
        break;
    case 'A':
    case 'B':
        if (n)
            return false;
        up_down(c, final == 'A' ? -1 : 1, seq, seqlen);
        return true;
    case 'M':
    case 'm':
        if (n && params[0] == '<') {
            mouse(c, params, n, final == 'M');
            return true;
        }
        return false;
    default:
        return false;
    }
    return name && (pressed(c, name) || home_end(c, name));
}

/* The name of control character ch ("Ctrl-L", "Tab"), or NULL. */
static const char *control_key(unsigned char ch)
{
    static char name[8];

    if (ch == '\t')
        return "Tab";
    if (ch < 1 || ch > 26)
        return NULL;
    snprintf(name, sizeof name, "Ctrl-%c", 'A' + ch - 1);
    return keymap_key_name(name);
}

/* Pasted text goes into the line as typed: a pasted newline never sends it. */
static void end_paste(struct console *c)
{
    struct buf text = BUF_INIT;
    for (size_t i = 0; i < paste.len; i++) {
        char ch = paste.data[i];
        if (ch == '\r' && i + 1 < paste.len && paste.data[i + 1] == '\n')
            continue;
        buf_putc(&text, ch == '\r' ? '\n' : ch);
    }
    if (c->ov->open)
        close_overlay(c);
    if (text.len)
        cmdline_insert(buf_str(&text));
    buf_fini(&text);
    buf_reset(&paste);
    in_paste = false;
}

static void lone_escape(struct console *c)
{
    if (c->ov->open)
        close_overlay(c);
    else
        cmdline_feed("\x1b", 1); /* vi mode's Esc */
}

void keys_flush(struct console *c)
{
    if (!keys_pending())
        return;
    /* An Esc with nothing after it in time: the Esc key itself, then the rest. */
    struct buf rest = BUF_INIT;
    buf_append(&rest, pending.data + 1, pending.len - 1);
    buf_reset(&pending);
    lone_escape(c);
    if (rest.len)
        keys_feed(c, rest.data, rest.len);
    buf_fini(&rest);
}

void keys_feed(struct console *c, const char *bytes, size_t n)
{
    struct buf in = BUF_INIT;
    const char *d;
    size_t i = 0, len;

    if (!c->key_pending_ns)
        c->key_pending_ns = console_now_ns();
    buf_append(&in, pending.data, pending.len);
    buf_append(&in, bytes, n);
    buf_reset(&pending);
    d = buf_str(&in);
    len = in.len;
    if (c->hint) {
        free(c->hint);
        c->hint = NULL;
        c->dirty_status = true;
        console_mark(c);
    }
    while (i < len && !c->quit) {
        unsigned char ch = (unsigned char)d[i];

        if (in_paste) {
            const char *end = memmem(d + i, len - i, "\x1b[201~", 6);
            if (end) {
                buf_append(&paste, d + i, (size_t)(end - (d + i)));
                i = (size_t)(end - d) + 6;
                end_paste(c);
                continue;
            }
            /* Keep what may be the start of the end marker for later. */
            size_t keep = 0;
            for (size_t k = 1; k < 6 && k <= len - i; k++) {
                if (memcmp(d + len - k, "\x1b[201~", k) == 0)
                    keep = k;
            }
            buf_append(&paste, d + i, len - i - keep);
            buf_append(&pending, d + len - keep, keep);
            break;
        }
        if (ch == 0x1b) {
            if (i + 1 >= len) {
                buf_append(&pending, d + i, 1);
                break;
            }
            char next = d[i + 1];
            if (next == '[') {
                size_t j = i + 2;
                while (j < len && (unsigned char)d[j] >= 0x30 && (unsigned char)d[j] <= 0x3f)
                    j++;
                while (j < len && (unsigned char)d[j] >= 0x20 && (unsigned char)d[j] <= 0x2f)
                    j++;
                if (j >= len) {
                    buf_append(&pending, d + i, len - i);
                    break;
                }
                if (!csi(c, d + i + 2, j - i - 2, d[j], d + i, j - i + 1))
                    to_readline(c, d + i, j - i + 1);
                i = j + 1;
            } else if (next == 'O') {
                if (i + 2 >= len) {
                    buf_append(&pending, d + i, len - i);
                    break;
                }
                static const char *const fkeys[] = {"F1", "F2", "F3", "F4"};
                char f = d[i + 2];
                const char *name = f >= 'P' && f <= 'S' ? fkeys[f - 'P'] : f == 'H' ? "Home" : f == 'F' ? "End" : NULL;
                if (f == 'A' || f == 'B')
                    up_down(c, f == 'A' ? -1 : 1, d + i, 3);
                else if (!name || !(pressed(c, name) || home_end(c, name)))
                    to_readline(c, d + i, 3);
                i += 3;
            } else if (next == '\r' || next == '\n') {
                if (c->ov->open)
                    close_overlay(c);
                cmdline_insert("\n"); /* Alt-Enter */
                i += 2;
            } else if (next == 0x1b || c->ov->open) {
                /* Esc, then a key: over an overlay, Alt-keys mean nothing. */
                lone_escape(c);
                i += 1;
            } else {
                char name[8];
                snprintf(name, sizeof name, "Alt-%c", next);
                if (!pressed(c, keymap_key_name(name)))
                    to_readline(c, d + i, 2); /* Alt-key: readline's meta bindings */
                i += 2;
            }
            continue;
        }
        if (ch == '\r' || ch == '\n') {
            if (c->ov->open)
                close_overlay(c);
            else if (console_timeline_focused(c) && cmdline_is_empty())
                console_inspect(c);
            else
                cmdline_feed("\r", 1);
        } else if (ch == 'q' && c->ov->open) {
            close_overlay(c);
        } else if (!pressed(c, control_key(ch))) {
            if (ch == '\t' && c->ov->open)
                close_overlay(c);
            /* On an empty line: a call that waits takes its answer, a replay its keys. */
            else if (c->ov->open || !cmdline_is_empty() ||
                     !(console_answer_key(c, ch) || (ch != 'q' && console_replay_key(c, ch))))
                to_readline(c, d + i, 1);
        }
        i++;
    }
    buf_fini(&in);
}
