#include "config.h"

#include "ui/keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "ui/cmdline.h"
#include "ui/overlay.h"

static const struct key_doc key_map[] = {
    {"F1", "this help: the commands and the keys (also /help)"},
    {"Tab", "complete a command, flag, @agent, entry id or theme; on an empty line: focus the next pane"},
    {"Shift-Tab", "focus the previous pane (the timeline comes after the last pane)"},
    {"PgUp, PgDn", "scroll the focused pane or the timeline; back at the bottom it follows the new lines"},
    {"mouse wheel", "scroll the pane or the timeline under the pointer"},
    {"click", "focus a pane; on a folded call or result: open or close it; in the timeline: select an event"},
    {"Up, Down", "the history; with the timeline focused and the line empty: select an event"},
    {"Enter", "send the line; with the timeline focused and the line empty: inspect the selected event"},
    {"Alt-Enter", "a new line inside the message"},
    {"F2", "open or close every folded tool call and result of the focused pane"},
    {"F3", "next layout: grid of panes + timeline, focused pane + timeline, timeline only"},
    {"F4", "zoom the focused pane (or the timeline) to the whole screen, and back"},
    {"Esc", "close the help or the inspector"},
    {"Ctrl-C", "cancel the runs in flight; with none: clear the line; twice in a row: quit"},
    {"Ctrl-D", "on an empty line: quit (like /quit)"},
    {"Ctrl-L", "redraw the screen"},
    {"Ctrl-Z", "suspend agentdeck (the shell's fg brings it back)"},
    {"Ctrl-R", "search the history"},
    {"Space n + -", "--replay, on an empty line: pause and go on, play the next event, faster, slower"},
    {"other keys", "edit the line with readline: Emacs keys by default; ~/.inputrc is read (set editing-mode vi)"},
    {NULL, NULL},
};

const struct key_doc *keys_table(void)
{
    return key_map;
}

void keys_help(struct buf *out)
{
    buf_puts(out, "Keys:\n");
    for (const struct key_doc *k = key_map; k->keys; k++)
        buf_printf(out, "  %-12s %s\n", k->keys, k->what);
}

static struct buf pending; /* a sequence cut short, or pasted text */
static bool in_paste;
static struct buf paste;

void keys_init(void)
{
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

static void function_key(struct console *c, int n)
{
    switch (n) {
    case 1:
        if (c->ov->open) {
            overlay_close(c->ov);
            console_mark_all(c);
        } else {
            console_help(c, NULL);
        }
        break;
    case 2:
        console_toggle_folds(c);
        break;
    case 3:
        console_cycle_layout(c);
        break;
    case 4:
        console_toggle_zoom(c);
        break;
    default:
        break;
    }
}

static void close_overlay(struct console *c)
{
    overlay_close(c->ov);
    console_mark_all(c);
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

    switch (final) {
    case '~':
        switch (num) {
        case 5:
            page(c, -1);
            return true;
        case 6:
            page(c, 1);
            return true;
        case 11:
        case 12:
        case 13:
        case 14:
            function_key(c, num - 10);
            return true;
        case 200:
            in_paste = true;
            buf_reset(&paste);
            return true;
        case 201:
            return true;
        case 1:
        case 7:
        case 4:
        case 8:
            if (c->ov->open) {
                overlay_scroll(c->ov, num == 1 || num == 7 ? -1000000 : 1000000);
                console_mark(c);
                return true;
            }
            return false;
        default:
            return false;
        }
    case 'Z':
        if (c->ov->open)
            close_overlay(c);
        console_focus_next(c, -1);
        return true;
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
                char f = d[i + 2];
                if (f >= 'P' && f <= 'S')
                    function_key(c, f - 'P' + 1);
                else if (f == 'A' || f == 'B')
                    up_down(c, f == 'A' ? -1 : 1, d + i, 3);
                else
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
                to_readline(c, d + i, 2); /* Alt-key: readline's meta bindings */
                i += 2;
            }
            continue;
        }
        switch (ch) {
        case 0x03:
            console_ctrl_c(c);
            break;
        case 0x0c:
            console_redraw(c);
            break;
        case 0x1a:
            console_suspend(c);
            break;
        case '\t':
            if (c->ov->open)
                close_overlay(c);
            else if (cmdline_is_empty())
                console_focus_next(c, 1);
            else
                cmdline_feed(d + i, 1);
            break;
        case '\r':
        case '\n':
            if (c->ov->open)
                close_overlay(c);
            else if (console_timeline_focused(c) && cmdline_is_empty())
                console_inspect(c);
            else
                cmdline_feed("\r", 1);
            break;
        case 'q':
            if (c->ov->open) {
                close_overlay(c);
                break;
            }
            /* fall through */
        case ' ':
        case 'n':
        case '+':
        case '-':
            if (ch != 'q' && !c->ov->open && cmdline_is_empty() && console_replay_key(c, ch))
                break;
            /* fall through */
        default:
            to_readline(c, d + i, 1);
            break;
        }
        i++;
    }
    buf_fini(&in);
}
