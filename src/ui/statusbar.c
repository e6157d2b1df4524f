/* The status bar: the backend and its address, the focused conversation,
 * runs in flight, tokens in and out, the layout and modes; or a message
 * (an error, "Ctrl-C again to quit"), or the matches of a completion. */
#include "config.h"

#include <string.h>

#include "core/buf.h"
#include "orch/replay.h"
#include "text/width.h"
#include "ui/keys.h"
#include "ui/ui.h"

static void tokens(struct buf *out, int64_t n)
{
    if (n >= 1000000)
        buf_printf(out, "%.1fM", (double)n / 1e6);
    else if (n >= 10000)
        buf_printf(out, "%.0fk", (double)n / 1e3);
    else
        buf_printf(out, "%lld", (long long)n);
}

void statusbar_paint(struct console *c)
{
    static const char *const layouts[LAYOUT_COUNT] = {"grid", "focus", "timeline"};
    struct session *s = c->s;
    attr_t bar = c->attrs[ROLE_STATUS];
    struct buf left = BUF_INIT, right = BUF_INIT, clean = BUF_INIT;
    size_t running = session_runs_in_flight(s), waiting = session_runs_waiting(s);
    struct waiting_call asked;
    int cols = COLS, rw;
    WINDOW *w = c->status_win;

    if (!w)
        return;
    werase(w);
    draw_row(w, 0, cols, bar);
    if (c->hint) {
        draw_clean(&clean, c->hint, true);
        draw_text(w, " ", 1, cols, bar);
        draw_text(w, clean.data, clean.len, cols - 1, bar);
        buf_fini(&clean);
        wnoutrefresh(w);
        return;
    }
    if (!c->message && session_waiting_call(s, &asked)) {
        /* A call that waits for the user comes first: what, and the keys. */
        buf_printf(&left, " %s wants to run %s %s: y allow once · a always · n deny (on an empty line) ", asked.agent,
                   asked.name, asked.arguments);
        draw_clean(&clean, buf_str(&left), true);
        draw_text(w, clean.data, clean.len, cols, c->attrs[ROLE_WARNING] | A_REVERSE);
        wnoutrefresh(w);
        buf_fini(&left);
        buf_fini(&clean);
        return;
    }
    buf_printf(&left, " %s", s->backend->ops->label);
    if (c->opt->base_url)
        buf_printf(&left, " %s", c->opt->base_url);
    if (s->focused)
        buf_printf(&left, " | %s with %s", s->focused->id, s->focused->agent);
    buf_printf(&left, " | %zu run%s", running, running == 1 ? "" : "s");
    if (waiting)
        buf_printf(&left, ", %zu waiting", waiting);
    buf_puts(&left, " | tokens ");
    tokens(&left, c->tokens_in);
    buf_puts(&left, " in ");
    tokens(&left, c->tokens_out);
    buf_puts(&left, " out ");
    draw_clean(&clean, buf_str(&left), true);

    if (c->replay) {
        if (replay_finished(c->replay))
            buf_puts(&right, " REPLAY done |");
        else
            buf_printf(&right, " REPLAY %s%gx %zu/%zu |", replay_paused(c->replay) ? "paused " : "",
                       replay_speed(c->replay), replay_position(c->replay), replay_length(c->replay));
    }
    buf_printf(&right, " %s%s%s%s | %s help ", s->step_mode ? "STEP | " : "", c->zoom ? "zoom " : "",
               layouts[c->layout], c->crowded ? " (crowded)" : "", keys_of(ACTION_HELP));
    rw = (int)width_str(right.data, right.len);
    if (c->message) {
        struct buf msg = BUF_INIT;
        int room = cols - rw;
        buf_putc(&msg, ' ');
        draw_clean(&msg, c->message, true);
        buf_putc(&msg, ' ');
        /* A message takes the left part's place for a while: the left part
         * stays when both fit. */
        int mw = (int)width_str(msg.data, msg.len), lw = (int)width_str(clean.data, clean.len);
        if (mw > room)
            mw = room;
        if (lw + mw <= room) {
            draw_text(w, clean.data, clean.len, lw, bar);
            wmove(w, 0, room - mw);
        }
        draw_text(w, msg.data, msg.len, mw, c->attrs[c->message_role] | A_REVERSE);
        buf_fini(&msg);
    } else {
        draw_text(w, clean.data, clean.len, cols - rw, bar);
    }
    wmove(w, 0, cols - rw);
    draw_text(w, right.data, right.len, rw, bar);
    wnoutrefresh(w);
    buf_fini(&left);
    buf_fini(&right);
    buf_fini(&clean);
}
