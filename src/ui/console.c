/* The console: start-up and teardown of curses and readline, the event
 * sink that builds the panes and the timeline from the event stream, the
 * actions of the keys, and the one painter, run by a frame timer. */
#include "config.h"

#include "ui/console.h"

#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd/command.h"
#include "cmd/views.h"
#include "core/clock.h"
#include "core/file.h"
#include "core/xalloc.h"
#include "model/journal.h"
#include "orch/replay.h"
#include "orch/resume.h"
#include "orch/runner.h"
#include "ui/cmdline.h"
#include "ui/keys.h"
#include "ui/overlay.h"
#include "ui/pane.h"
#include "ui/timeline.h"

enum {
    FRAME_MS = 16,         /* at most about 60 frames a second */
    MESSAGE_MS = 6000,     /* how long a status message stays */
    CTRL_C_QUIT_MS = 2000, /* a second Ctrl-C within this quits */
    ESC_WAIT_MS = 25,      /* an Esc with nothing after it for this long is the Esc key */
};

static const int console_signals[] = {SIGWINCH, SIGCONT, SIGINT, SIGTERM, SIGHUP};

/* Terminal modes of our own: mouse reports (SGR) and bracketed paste. */
static const char modes_on[] = "\033[?1000h\033[?1006h\033[?2004h";
static const char modes_off[] = "\033[?2004l\033[?1006l\033[?1000l";

/* Returns 0, or -1 when s could not be written whole. */
static int write_all(int fd, const char *s)
{
    size_t len = strlen(s);
    while (len) {
        ssize_t n = write(fd, s, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        s += n;
        len -= (size_t)n;
    }
    return 0;
}

static struct console *fatal_console; /* for the fatal hook, which takes no data */

/* Before a fatal error aborts: give the terminal back. */
static void restore_terminal(void)
{
    fflush(stdout);
    write_all(STDOUT_FILENO, modes_off);
    endwin();
    if (fatal_console && fatal_console->saved_stderr >= 0)
        dup2(fatal_console->saved_stderr, STDERR_FILENO);
}

/* ---- marking and painting ------------------------------------------------ */

static void paint(struct console *c);

static void on_frame(struct loop *loop, void *ud)
{
    struct console *c = ud;
    c->frame_timer = 0;
    paint(c);
}

void console_mark(struct console *c)
{
    int64_t wait;
    if (c->frame_timer || c->quit)
        return;
    wait = c->last_frame_ms + FRAME_MS - clock_now_ms();
    c->frame_timer = loop_timer_add(c->s->loop, wait > 0 ? wait : 0, on_frame, c);
}

void console_mark_all(struct console *c)
{
    c->dirty_all = true;
    console_mark(c);
}

static void on_message_expired(struct loop *loop, void *ud)
{
    struct console *c = ud;
    c->message_timer = 0;
    free(c->message);
    c->message = NULL;
    c->dirty_status = true;
    console_mark(c);
}

void console_say(struct console *c, enum theme_role role, const char *fmt, ...)
{
    va_list ap;

    free(c->message);
    va_start(ap, fmt);
    c->message = xvasprintf(fmt, ap);
    va_end(ap);
    c->message_role = role;
    if (c->message_timer)
        loop_timer_cancel(c->s->loop, c->message_timer);
    c->message_timer = loop_timer_add(c->s->loop, MESSAGE_MS, on_message_expired, c);
    c->dirty_status = true;
    console_mark(c);
}

static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t console_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void paint_too_small(void)
{
    char line[128];
    snprintf(line, sizeof line, "Terminal too small (%dx%d): agentdeck needs at least 50x14.", COLS, LINES);
    werase(stdscr);
    mvwaddnstr(stdscr, LINES / 2 - 1, 0, line, COLS);
    mvwaddnstr(stdscr, LINES / 2, 0, "Make the window larger; /quit or Ctrl-C twice leaves.", COLS);
    wnoutrefresh(stdscr);
}

static void paint(struct console *c)
{
    int64_t cpu0 = cpu_ns();
    bool all, any = false;
    size_t n = c->panes.len;

    c->last_frame_ms = clock_now_ms();
    if (c->relayout) {
        werase(stdscr);
        wnoutrefresh(stdscr);
        layout_apply(c);
    }
    all = c->dirty_all;
    if (c->too_small) {
        paint_too_small();
        curs_set(0);
    } else {
        for (size_t i = 0; i < n; i++) {
            struct pane *p = c->panes.items[i];
            if (p->visible && p->win && (p->dirty || all)) {
                pane_paint(p, c, c->focus == i);
                wnoutrefresh(p->win);
                any = true;
            }
            p->dirty = false;
        }
        if (c->tl->visible && c->tl->win && (c->tl->dirty || all)) {
            timeline_paint(c->tl, c, c->focus >= n);
            wnoutrefresh(c->tl->win);
            any = true;
        }
        c->tl->dirty = false;
        if (c->dirty_status || all)
            statusbar_paint(c);
        c->dirty_status = false;
        if (c->ov->open && (any || all || c->ov->dirty))
            overlay_paint(c->ov, c);
        curs_set(c->ov->open ? 0 : 1);
        /* The command line last: the cursor stays in it. */
        cmdline_paint(c);
    }
    doupdate();
    c->dirty_all = false;
    c->frames++;
    c->paint_cpu_ns += cpu_ns() - cpu0;
    if (c->key_pending_ns) {
        int64_t *delay = xmalloc(sizeof *delay);
        *delay = console_now_ns() - c->key_pending_ns;
        if (c->stats_path && c->echo_ns.len < 100000)
            vec_push(&c->echo_ns, delay);
        else
            free(delay);
        c->key_pending_ns = 0;
    }
}

/* ---- the event sink -------------------------------------------------------- */

struct pane *console_find_pane(struct console *c, const char *agent)
{
    for (size_t i = 0; i < c->panes.len; i++) {
        struct pane *p = c->panes.items[i];
        if (strcmp(p->agent, agent) == 0)
            return p;
    }
    return NULL;
}

/* The run ended: panes still busy in it are idle now. */
static void end_run(struct console *c, const char *run)
{
    for (size_t i = 0; i < c->panes.len; i++) {
        struct pane *p = c->panes.items[i];
        if (p->run && strcmp(p->run, run) == 0 && p->state != PANE_HANDED_OFF && p->state != PANE_ERROR)
            pane_set_state(p, PANE_IDLE, NULL, NULL);
    }
}

/* A pane for agent; its title shows the model it runs on (chat --model: that one). */
static void add_pane(struct console *c, const char *agent, const char *model)
{
    vec_push(&c->panes, pane_new(agent, c->opt->model ? c->opt->model : model));
    c->relayout = true;
}

static void remove_pane(struct console *c, const char *agent)
{
    for (size_t i = 0; i < c->panes.len; i++) {
        struct pane *p = c->panes.items[i];
        if (strcmp(p->agent, agent) != 0)
            continue;
        pane_free(vec_remove(&c->panes, i));
        if (c->focus > i || c->focus > c->panes.len)
            c->focus--;
        if (c->last_pane >= c->panes.len)
            c->last_pane = c->panes.len ? c->panes.len - 1 : 0;
        c->relayout = true;
        return;
    }
}

static void render_agent_list(struct buf *out, const cJSON *ev)
{
    const cJSON *agent;
    cJSON_ArrayForEach(agent, cJSON_GetObjectItemCaseSensitive(ev, "agents")) {
        const cJSON *handoff;
        const char *sep = "  hands off to ";
        buf_printf(out, "%-12s %s", ev_str(agent, "name"), ev_str(agent, "model"));
        cJSON_ArrayForEach(handoff, cJSON_GetObjectItemCaseSensitive(agent, "handoffs")) {
            buf_printf(out, "%s%s", sep, cJSON_IsString(handoff) ? handoff->valuestring : "");
            sep = ", ";
        }
        if (*ev_str(agent, "description"))
            buf_printf(out, "\n    %s", ev_str(agent, "description"));
        buf_puts(out, "\n\n");
    }
}

static void render_sessions(struct buf *out, const cJSON *ev)
{
    const cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(ev, "sessions")) {
        bool current = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(item, "current"));
        buf_printf(out, "%s  %.16s  %s\n    %.0f conversation%s, %.0f run%s, ", ev_str(item, "session"),
                   ev_str(item, "started"), *ev_str(item, "profile") ? ev_str(item, "profile") : "(no profile)",
                   ev_num(item, "conversations"), ev_num(item, "conversations") == 1 ? "" : "s", ev_num(item, "runs"),
                   ev_num(item, "runs") == 1 ? "" : "s");
        if (current)
            buf_puts(out, "this session");
        else if (ev_num(item, "interrupted") > 0)
            buf_printf(out, "%.0f interrupted (--resume, then /retry)", ev_num(item, "interrupted"));
        else
            buf_puts(out, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(item, "clean")) ? "ended cleanly"
                                                                                        : "did not end cleanly");
        if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(item, "torn")))
            buf_printf(out, "; its last line is torn (byte %.0f)", ev_num(item, "torn"));
        buf_puts(out, "\n\n");
    }
}

/* /mcp list and /mcp tools: a server (or tool) a paragraph. */
static void render_mcp(struct buf *out, const char *type, const cJSON *ev)
{
    const cJSON *item;

    if (strcmp(type, "mcp.list") == 0) {
        if (!cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ev, "servers")))
            buf_puts(out, "This profile has no MCP servers (doc/mcp.md says how to add one).\n");
        cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(ev, "servers")) {
            buf_printf(out, "%-12s %s, %s, %.0f tools", ev_str(item, "server"), ev_str(item, "state"),
                       ev_str(item, "transport"), ev_num(item, "tools"));
            if (*ev_str(item, "url"))
                buf_printf(out, "\n    %s", ev_str(item, "url"));
            if (*ev_str(item, "server_name"))
                buf_printf(out, "\n    %s %s", ev_str(item, "server_name"), ev_str(item, "server_version"));
            if (*ev_str(item, "error"))
                buf_printf(out, "\n    %s", ev_str(item, "error"));
            buf_puts(out, "\n\n");
        }
        return;
    }
    if (!cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ev, "tools")))
        buf_puts(out, "No tools: the server is not ready (see /mcp list).\n");
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(ev, "tools"))
        buf_printf(out, "%s\n    %s\n\n", ev_str(item, "function"), ev_str(item, "description"));
}

/* Answers to commands open in an overlay. */
static bool show_answer(struct console *c, const char *type, const cJSON *ev)
{
    struct buf text = BUF_INIT;
    char *title = NULL;

    if (strcmp(type, "help") == 0) {
        buf_puts(&text, ev_str(ev, "text"));
        if (!*ev_str(ev, "topic")) {
            buf_putc(&text, '\n');
            keys_help(&text);
        }
        overlay_open(c->ov, "help", buf_str(&text), false);
    } else if (strcmp(type, "agent.list") == 0) {
        render_agent_list(&text, ev);
        overlay_open(c->ov, "agents", buf_str(&text), false);
    } else if (strcmp(type, "agent.show") == 0) {
        char *json = json_pretty(cJSON_GetObjectItemCaseSensitive(ev, "definition"));
        title = xasprintf("agent %s", ev_str(ev, "agent"));
        overlay_open(c->ov, title, json, false);
        free(json);
    } else if (strcmp(type, "usage") == 0 || strcmp(type, "graph") == 0) {
        overlay_open(c->ov, strcmp(type, "usage") == 0 ? "usage and latency per agent" : "handoffs of the team",
                     ev_str(ev, "text"), false);
    } else if (strcmp(type, "context") == 0) {
        title = xasprintf("what %s was given at %s", ev_str(ev, "agent"), ev_str(ev, "entry_id"));
        overlay_open(c->ov, title, ev_str(ev, "text"), false);
    } else if (strcmp(type, "diff") == 0) {
        /* Laid out again for the overlay's width. */
        char *side = diff_render(cJSON_GetObjectItemCaseSensitive(ev, "left"),
                                 cJSON_GetObjectItemCaseSensitive(ev, "right"), COLS > 24 ? (size_t)COLS - 8 : 16, NULL);
        title = xasprintf("%s and %s side by side", ev_str(cJSON_GetObjectItemCaseSensitive(ev, "left"), "entry_id"),
                          ev_str(cJSON_GetObjectItemCaseSensitive(ev, "right"), "entry_id"));
        overlay_open(c->ov, title, side, false);
        free(side);
    } else if (strcmp(type, "session.list") == 0) {
        render_sessions(&text, ev);
        overlay_open(c->ov, "sessions (agentdeck --resume SESSION goes on with one)", buf_str(&text), false);
    } else if (strcmp(type, "mcp.list") == 0 || strcmp(type, "mcp.tool.list") == 0) {
        render_mcp(&text, type, ev);
        overlay_open(c->ov, type[4] == 'l' ? "MCP servers" : "MCP tools", buf_str(&text), false);
    } else if (strcmp(type, "conversation.history") == 0) {
        entries_render_text(&text, cJSON_GetObjectItemCaseSensitive(ev, "entries"));
        title = xasprintf("history of %s, held by %s", ev_str(ev, "conversation"), ev_str(ev, "agent"));
        overlay_open(c->ov, title, buf_str(&text), false);
    } else if (strcmp(type, "raw") == 0) {
        title = xasprintf("raw HTTP of %s", ev_str(ev, "tag"));
        overlay_open(c->ov, title, ev_str(ev, "text"), false);
    } else {
        buf_fini(&text);
        return false;
    }
    free(title);
    buf_fini(&text);
    c->dirty_all = true;
    return true;
}

/* One event into the panes, the timeline and the status bar. */
static void feed(struct console *c, const cJSON *ev, const char *line)
{
    const char *type = ev_str(ev, "type"), *agent = ev_str(ev, "agent"), *run = ev_str(ev, "run");
    struct pane *p = *agent ? console_find_pane(c, agent) : NULL;
    const char *id = ev_str(ev, "entry_id");

    timeline_add_event(c->tl, ev, line);
    c->dirty_status = true;

    if (strcmp(type, "message.output.delta") == 0) {
        if (p) {
            struct block *b = pane_find(p, id);
            bool first = p->state != PANE_STREAMING || !p->run || strcmp(p->run, run) != 0;
            if (!b)
                b = pane_add(p, BLOCK_REPLY, id, "", "");
            else if (first)
                pane_set_text(p, b, ""); /* a reply cut off by a stop streams again from its start */
            pane_append(p, b, ev_str(ev, "content"));
            if (p->state != PANE_STREAMING)
                pane_set_state(p, PANE_STREAMING, NULL, run);
        }
    } else if (strcmp(type, "message.output") == 0) {
        if (p) {
            struct block *b = pane_find(p, id);
            if (b)
                pane_set_text(p, b, ev_str(ev, "content"));
            else
                pane_add(p, BLOCK_REPLY, id, "", ev_str(ev, "content"));
        }
    } else if (strcmp(type, "message.input") == 0) {
        if (p)
            pane_add(p, BLOCK_USER, id, "you:", ev_str(ev, "content"));
    } else if (strcmp(type, "run.started") == 0) {
        if (p)
            pane_set_state(p, PANE_THINKING, NULL, run);
    } else if (strcmp(type, "function.call") == 0) {
        if (p) {
            char *label = xasprintf("call %s", ev_str(ev, "name"));
            pane_add(p, BLOCK_CALL, id, label, ev_str(ev, "arguments"));
            pane_set_state(p, PANE_TOOL, ev_str(ev, "name"), run);
            free(label);
        }
    } else if (strcmp(type, "function.result") == 0) {
        if (p) {
            pane_add(p, BLOCK_RESULT, id, "result", ev_str(ev, "result"));
            pane_set_state(p, PANE_THINKING, NULL, run);
        }
    } else if (strcmp(type, "tool.execution") == 0) {
        if (p) {
            char *label = xasprintf("ran %s", ev_str(ev, "name"));
            pane_add(p, BLOCK_TOOL, id, label, ev_str(ev, "arguments"));
            pane_set_state(p, PANE_TOOL, ev_str(ev, "name"), run);
            free(label);
        }
    } else if (strcmp(type, "agent.handoff") == 0) {
        const char *prev = ev_str(ev, "previous_agent"), *next = ev_str(ev, "next_agent");
        struct pane *from = console_find_pane(c, prev), *to = console_find_pane(c, next);
        char *text;
        if (strcmp(ev_str(ev, "execution"), "user") == 0 && from) {
            /* A /redirect: the agent that was meant never took over. */
            text = xasprintf("the handoff was redirected to %s", next);
            pane_add(from, BLOCK_NOTICE, NULL, "", text);
            pane_set_state(from, PANE_IDLE, NULL, NULL);
            free(text);
            prev = agent;
            from = p;
        }
        if (from) {
            text = xasprintf("\xE2\x87\xA2 handed off to %s", next);
            pane_add(from, BLOCK_HANDOFF, id, "", text);
            pane_set_state(from, PANE_HANDED_OFF, next, run);
            free(text);
        }
        if (to) {
            text = xasprintf("\xE2\x87\xA0 taken over from %s", prev);
            pane_add(to, BLOCK_HANDOFF, id, "", text);
            pane_set_state(to, PANE_THINKING, NULL, run);
            free(text);
        }
    } else if (strcmp(type, "entry.edited") == 0) {
        if (p) {
            char *text = xasprintf("edited before sending: %s", ev_str(ev, "text"));
            pane_add(p, BLOCK_NOTICE, NULL, "", text);
            free(text);
        }
    } else if (strcmp(type, "breakpoint.hit") == 0) {
        if (p) {
            const char *reason = ev_str(ev, "reason");
            char *text;
            if (strcmp(reason, "confirmation") == 0)
                text = xasprintf("%s waits: y allow once, a allow always, n deny (or /allow, /deny %s)",
                                 ev_str(ev, "name"), ev_str(ev, "tool_call_id"));
            else if (strcmp(reason, "handoff") == 0)
                text =
                    xasprintf("stopped before the handoff to %s: %s", ev_str(ev, "next_agent"), ev_str(ev, "message"));
            else
                text = xasprintf("stopped (%s%s%s): %s", reason, *ev_str(ev, "spec") ? ", " : "", ev_str(ev, "spec"),
                                 ev_str(ev, "message"));
            pane_add(p, BLOCK_NOTICE, NULL, "", text);
            pane_set_state(p, PANE_WAITING, strcmp(reason, "confirmation") == 0 ? ev_str(ev, "name") : reason, run);
            free(text);
        }
        if (strcmp(ev_str(ev, "reason"), "handoff") == 0 && (p = console_find_pane(c, ev_str(ev, "next_agent"))))
            pane_set_state(p, PANE_WAITING, "handoff", run); /* not thinking: it waits for your choice */
    } else if (strcmp(type, "confirmation.answered") == 0) {
        if (p) {
            bool allowed = strcmp(ev_str(ev, "answer"), "allow") == 0;
            char *text = xasprintf("%s %s%s", allowed ? "allowed" : "denied", ev_str(ev, "name"),
                                   cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ev, "always")) ? ", from now on" : "");
            pane_add(p, BLOCK_NOTICE, NULL, "", text);
            pane_set_state(p, PANE_THINKING, NULL, run);
            free(text);
        }
    } else if (strcmp(type, "run.interrupted") == 0) {
        end_run(c, run);
        if (p) {
            pane_add(p, BLOCK_NOTICE, NULL, "", "(interrupted when agentdeck stopped: /retry goes on)");
            pane_set_state(p, PANE_IDLE, NULL, NULL);
        }
    } else if (strcmp(type, "run.done") == 0 || strcmp(type, "run.error") == 0 || strcmp(type, "run.cancelled") == 0) {
        const cJSON *usage = cJSON_GetObjectItemCaseSensitive(ev, "usage");
        c->tokens_in += (int64_t)ev_num(usage, "prompt_tokens");
        c->tokens_out += (int64_t)ev_num(usage, "completion_tokens");
        end_run(c, run);
        if (p && strcmp(type, "run.error") == 0) {
            pane_add(p, BLOCK_ERROR, NULL, "!", ev_str(ev, "message"));
            pane_set_state(p, PANE_ERROR, NULL, run);
        } else if (p && strcmp(type, "run.cancelled") == 0) {
            char *text = xasprintf("(%s)", ev_str(ev, "message"));
            pane_add(p, BLOCK_NOTICE, NULL, "", text);
            free(text);
        }
    } else if (strcmp(type, "error") == 0) {
        if (p && *ev_str(ev, "function")) {
            char *text = xasprintf("function %s failed: %s", ev_str(ev, "function"), ev_str(ev, "message"));
            pane_add(p, BLOCK_ERROR, NULL, "!", text);
            free(text);
        } else if (!c->quiet) {
            console_say(c, ROLE_ERROR, "%s", ev_str(ev, "message"));
        }
    } else if (strcmp(type, "warning") == 0) {
        if (!c->quiet)
            console_say(c, ROLE_WARNING, "%s", ev_str(ev, "message"));
    } else if (strcmp(type, "mcp.error") == 0) {
        console_say(c, ROLE_ERROR, "%s", ev_str(ev, "message"));
    } else if (strcmp(type, "mcp.progress") == 0) {
        /* A long MCP call: one line under the call, updated, and the fraction in the title. */
        if (p) {
            char *key = xasprintf("progress:%s", ev_str(ev, "tool_call_id"));
            char *amount = cJSON_GetObjectItemCaseSensitive(ev, "total")
                               ? xasprintf("%g/%g", ev_num(ev, "progress"), ev_num(ev, "total"))
                               : xasprintf("%g", ev_num(ev, "progress"));
            char *text =
                xasprintf("progress %s%s%s", amount, *ev_str(ev, "message") ? ": " : "", ev_str(ev, "message"));
            char *detail = xasprintf("%s %s", amount, ev_str(ev, "tool"));
            struct block *b = pane_find(p, key);
            if (b)
                pane_set_text(p, b, text);
            else
                pane_add(p, BLOCK_NOTICE, key, "", text);
            pane_set_state(p, PANE_TOOL, detail, run);
            free(key);
            free(amount);
            free(text);
            free(detail);
        }
    } else if (strcmp(type, "agent.created") == 0) {
        const cJSON *def = cJSON_GetObjectItemCaseSensitive(ev, "definition");
        if (!p)
            add_pane(c, agent, ev_str(def, "model"));
    } else if (strcmp(type, "agent.updated") == 0) {
        if (p) {
            free(p->model);
            p->model = xstrdup(c->opt->model ? c->opt->model
                                             : ev_str(cJSON_GetObjectItemCaseSensitive(ev, "definition"), "model"));
            p->dirty = true;
        }
    } else if (strcmp(type, "agent.deleted") == 0) {
        remove_pane(c, agent);
    } else if (strcmp(type, "export") == 0) {
        if (!c->quiet && !c->past)
            console_say(c, ROLE_TEXT, "exported %s to %s (%.0f bytes)", ev_str(ev, "format"), ev_str(ev, "path"),
                        ev_num(ev, "bytes"));
    } else if (!c->quiet && !c->past) {
        show_answer(c, type, ev);
    }
    console_mark(c);
}

static void on_event(void *ud, const cJSON *ev, const char *line)
{
    feed(ud, ev, line);
}

/* --resume: the journal's events, and what resuming added, as they were. */
static void feed_history(struct console *c, const struct vec *history)
{
    c->quiet = true;
    for (size_t i = 0; i < history->len; i++) {
        const struct journal_line *l = history->items[i];
        feed(c, l->event, l->text);
    }
    c->quiet = false;
}

/* --replay: each event as it comes, into the screen and the session (so
 * that /history and the other commands that look see it). */
static void on_replayed(void *ud, const cJSON *ev, const char *line)
{
    struct console *c = ud;
    rebuild_event(c->replayed, ev);
    c->past = true;
    feed(c, ev, line);
    c->past = false;
    if (replay_finished(c->replay))
        console_say(c, ROLE_TEXT, "The replay is over (%zu events); /quit leaves", replay_length(c->replay));
}

bool console_replay_key(struct console *c, int ch)
{
    if (!c->replay)
        return false;
    switch (ch) {
    case ' ':
        replay_toggle_pause(c->replay);
        break;
    case 'n':
        if (!replay_paused(c->replay))
            replay_toggle_pause(c->replay);
        replay_step(c->replay);
        break;
    case '+':
    case '-':
        replay_change_speed(c->replay, ch == '+' ? 1 : -1);
        break;
    default:
        return false;
    }
    c->dirty_status = true;
    console_mark(c);
    return true;
}

/* ---- actions of the keys ---------------------------------------------------- */

bool console_timeline_focused(const struct console *c)
{
    return c->focus >= c->panes.len || (c->layout == LAYOUT_TIMELINE && !c->zoom);
}

static struct pane *focused_pane(struct console *c)
{
    return c->focus < c->panes.len ? c->panes.items[c->focus] : NULL;
}

void console_focus_at(struct console *c, size_t index)
{
    size_t n = c->panes.len;
    if (index > n)
        index = n;
    c->focus = index;
    if (index < n)
        c->last_pane = index;
    /* The zoomed or focus layouts show the focused pane: a new one to place. */
    if (c->zoom || c->layout == LAYOUT_FOCUS || c->crowded)
        c->relayout = true;
    console_mark_all(c);
}

void console_focus_next(struct console *c, int dir)
{
    size_t n = c->panes.len + 1;
    console_focus_at(c, (c->focus + n + (size_t)(dir < 0 ? n - 1 : 1)) % n);
}

void console_scroll(struct console *c, int pages)
{
    struct pane *p = focused_pane(c);
    if (p && p->visible) {
        int rows = p->r.h - 1;
        pane_scroll(p, pages * (rows > 2 ? rows - 1 : 1));
    } else if (c->tl->visible) {
        int rows = c->tl->r.h - 1;
        timeline_scroll(c->tl, pages * (rows > 2 ? rows - 1 : 1));
    }
    console_mark(c);
}

void console_select(struct console *c, int dir)
{
    timeline_select(c->tl, dir);
    console_mark(c);
}

void console_cycle_layout(struct console *c)
{
    c->layout = (enum layout_mode)((c->layout + 1) % LAYOUT_COUNT);
    c->zoom = false;
    c->relayout = true;
    console_mark_all(c);
}

void console_toggle_zoom(struct console *c)
{
    c->zoom = !c->zoom;
    c->relayout = true;
    console_mark_all(c);
}

void console_toggle_folds(struct console *c)
{
    struct pane *p = focused_pane(c);
    if (p)
        pane_toggle_folds(p);
    console_mark(c);
}

void console_help(struct console *c, const char *topic)
{
    struct buf text = BUF_INIT;
    char *commands = command_help(topic);

    buf_puts(&text, commands);
    buf_putc(&text, '\n');
    keys_help(&text);
    overlay_open(c->ov, "help", buf_str(&text), true);
    free(commands);
    buf_fini(&text);
    console_mark_all(c);
}

void console_inspect(struct console *c)
{
    const struct tl_row *r = timeline_selected(c->tl);
    cJSON *ev;
    char *title, *pretty = NULL;

    if (!r)
        return;
    if (!r->raw) {
        overlay_open(c->ov, "notice", r->text, false);
        console_mark_all(c);
        return;
    }
    ev = cJSON_Parse(r->raw);
    pretty = ev ? json_pretty(ev) : NULL;
    if (r->pieces > 1)
        title = xasprintf("event %.0f %s: the first of %u pieces", ev_num(ev, "seq"), ev_str(ev, "type"), r->pieces);
    else
        title = xasprintf("event %.0f %s", ev_num(ev, "seq"), ev_str(ev, "type"));
    overlay_open(c->ov, title, pretty ? pretty : r->raw, false);
    free(pretty);
    cJSON_Delete(ev);
    free(title);
    console_mark_all(c);
}

void console_ctrl_c(struct console *c)
{
    int64_t now = clock_now_ms();
    size_t runs = session_runs_in_flight(c->s) + session_runs_waiting(c->s);

    if (c->ov->open) {
        overlay_close(c->ov);
        console_mark_all(c);
    } else if (runs) {
        char *why = xasprintf("cancelled with %s", keys_of(ACTION_CANCEL));
        session_cancel_runs(c->s, why);
        free(why);
        console_say(c, ROLE_WARNING, "cancelled %zu run%s", runs, runs == 1 ? "" : "s");
        c->ctrl_c_ms = 0;
    } else if (!cmdline_is_empty()) {
        cmdline_clear();
        c->ctrl_c_ms = now;
    } else if (c->ctrl_c_ms && now - c->ctrl_c_ms < CTRL_C_QUIT_MS) {
        c->quit = true;
    } else {
        c->ctrl_c_ms = now;
        console_say(c, ROLE_WARNING, "%s again to quit (or /quit)", keys_of(ACTION_CANCEL));
    }
}

void console_redraw(struct console *c)
{
    clearok(curscr, TRUE);
    console_mark_all(c);
}

static void resize(struct console *c)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
        resizeterm(ws.ws_row, ws.ws_col);
    c->relayout = true;
    console_mark_all(c);
}

void console_suspend(struct console *c)
{
    fflush(stdout);
    write_all(STDOUT_FILENO, modes_off);
    endwin();
    raise(SIGTSTP); /* stops here until the shell's fg */
    write_all(STDOUT_FILENO, modes_on);
    clearok(curscr, TRUE);
    resize(c);
}

/* Runs the editor on path with the terminal its own; returns its wait status or -1. */
static int run_editor(struct console *c, const char *editor, const char *path)
{
    struct sigaction ignore = {.sa_handler = SIG_IGN}, old_int, old_quit;
    char *command = xasprintf("%s \"$1\"", editor);
    int status = -1;
    pid_t pid;

    fflush(stdout);
    write_all(STDOUT_FILENO, modes_off);
    endwin();
    /* A Ctrl-C in the editor is the editor's, not a cancel of the runs. */
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGINT, &ignore, &old_int);
    sigaction(SIGQUIT, &ignore, &old_quit);
    pid = fork();
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGQUIT, SIG_DFL);
        if (c->saved_stderr >= 0)
            dup2(c->saved_stderr, STDERR_FILENO);
        execl("/bin/sh", "sh", "-c", command, "sh", path, (char *)NULL);
        _exit(127);
    }
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    write_all(STDOUT_FILENO, modes_on);
    clearok(curscr, TRUE);
    resize(c);
    free(command);
    return pid > 0 ? status : -1;
}

/* /edit with no text: the text in $VISUAL or $EDITOR (vi when neither is
 * set), the screen handed over meanwhile. The loop waits for the editor;
 * streams go on once it is closed. */
static char *edit_in_editor(void *ud, const char *text, char **error)
{
    struct console *c = ud;
    const char *tmp = getenv("TMPDIR"), *editor = getenv("VISUAL");
    char *path, *edited = NULL;
    int fd, status;

    if (!editor || !*editor)
        editor = getenv("EDITOR");
    if (!editor || !*editor)
        editor = "vi";
    path = xasprintf("%s/agentdeck-edit-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if ((fd = mkstemp(path)) < 0) {
        *error = xasprintf("cannot make a file to edit in %s: %s", tmp && *tmp ? tmp : "/tmp", strerror(errno));
        free(path);
        return NULL;
    }
    if (write_all(fd, text) < 0 || write_all(fd, "\n") < 0 || close(fd) < 0) {
        *error = xasprintf("cannot write %s: %s", path, strerror(errno));
        unlink(path);
        free(path);
        return NULL;
    }
    status = run_editor(c, editor, path);
    if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        *error = xasprintf("the editor (%s) failed%s: nothing was changed", editor,
                           status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 127 ? " to start" : "");
    else {
        struct buf back = BUF_INIT;
        if (file_read(path, SIZE_MAX, &back, error))
            edited = buf_steal(&back);
        buf_fini(&back);
    }
    unlink(path);
    free(path);
    if (edited) {
        size_t len = strlen(edited);
        while (len && edited[len - 1] == '\n')
            edited[--len] = '\0';
        if (!len) {
            *error = xstrdup("the editor left the text empty: nothing was changed");
            free(edited);
            edited = NULL;
        }
    }
    return edited;
}

void console_mouse(struct console *c, int button, int x, int y, bool press)
{
    bool wheel = button & 64;
    int lines = (button & 1) ? -3 : 3;

    if (!press)
        return;
    if (c->ov->open) {
        if (wheel)
            overlay_scroll(c->ov, -lines);
        console_mark(c);
        return;
    }
    for (size_t i = 0; i < c->panes.len; i++) {
        struct pane *p = c->panes.items[i];
        if (!p->visible || y < p->r.y || y >= p->r.y + p->r.h || x < p->r.x || x >= p->r.x + p->r.w)
            continue;
        if (wheel) {
            pane_scroll(p, lines);
        } else if ((button & 3) == 0) {
            if (c->focus != i)
                console_focus_at(c, i);
            pane_click(p, y - p->r.y);
        }
        console_mark(c);
        return;
    }
    struct timeline *tl = c->tl;
    if (tl->visible && y >= tl->r.y && y < tl->r.y + tl->r.h && x >= tl->r.x && x < tl->r.x + tl->r.w) {
        if (wheel) {
            timeline_scroll(tl, lines);
        } else if ((button & 3) == 0) {
            if (c->focus != c->panes.len)
                console_focus_at(c, c->panes.len);
            timeline_select_at(tl, y - tl->r.y);
        }
        console_mark(c);
    }
}

bool console_set_theme(struct console *c, const char *name, char **error)
{
    char *path = theme_find(name, (const char *const *)c->theme_dirs);
    struct theme t;

    if (!path && (strcmp(name, "default") == 0 || strcmp(name, "dark") == 0)) {
        theme_init_default(&t); /* built in, even when themes/ is not installed */
    } else if (!path) {
        struct vec names;
        struct buf list = BUF_INIT;
        vec_init(&names, free);
        theme_list((const char *const *)c->theme_dirs, &names);
        for (size_t i = 0; i < names.len; i++)
            buf_printf(&list, "%s%s", i ? ", " : "", (char *)names.items[i]);
        *error = xasprintf("no theme named \"%s\" (themes: %s)", name, buf_str(&list));
        buf_fini(&list);
        vec_fini(&names);
        return false;
    } else if (!theme_load(&t, path, error)) {
        /* The default stands in. */
        free(path);
        theme_fini(&c->theme);
        c->theme = t;
        if (c->screen)
            colors_apply(c);
        console_mark_all(c);
        return false;
    }
    free(path);
    theme_fini(&c->theme);
    c->theme = t;
    if (c->screen)
        colors_apply(c);
    console_mark_all(c);
    return true;
}

static void theme_command(struct console *c, const char *args)
{
    char *name = xstrdup(args), *error = NULL;
    char *end = name + strlen(name);

    while (end > name && (end[-1] == ' ' || end[-1] == '\t'))
        *--end = '\0';
    if (!*name) {
        console_say(c, ROLE_TEXT, "theme: %s (/theme NAME switches; Tab lists the themes)", c->theme.name);
    } else if (console_set_theme(c, name, &error)) {
        console_say(c, ROLE_TEXT, "theme: %s", c->theme.name);
    } else {
        if (strstr(error, "no theme named"))
            console_say(c, ROLE_ERROR, "%s", error);
        else
            console_say(c, ROLE_ERROR, "Using the default theme: %s", error);
        timeline_add_notice(c->tl, ROLE_ERROR, error);
        free(error);
    }
    free(name);
}

void console_submit(struct console *c, const char *line)
{
    const char *p = line;

    while (*p == ' ' || *p == '\t')
        p++;
    c->ctrl_c_ms = 0;
    if (c->message_timer) {
        /* A new line makes the last status message old news. */
        loop_timer_cancel(c->s->loop, c->message_timer);
        on_message_expired(c->s->loop, c);
    }
    /* /theme changes the screen: the console's own (batch mode has none). */
    if (strncmp(p, "/theme", 6) == 0 && (p[6] == '\0' || p[6] == ' ' || p[6] == '\t')) {
        theme_command(c, p + 6 + strspn(p + 6, " \t"));
        return;
    }
    if (command_execute(c->s, line) == CMD_QUIT)
        c->quit = true;
    console_mark(c);
}

bool console_answer_key(struct console *c, int key)
{
    struct waiting_call w;
    char *error = NULL;
    char *id;

    if ((key != 'y' && key != 'a' && key != 'n') || !session_waiting_call(c->s, &w))
        return false;
    id = xstrdup(w.tool_call_id); /* the answer may free the call */
    if (!session_confirm(c->s, id, key != 'n', key == 'a', &error)) {
        console_say(c, ROLE_ERROR, "%s", error);
        free(error);
    }
    free(id);
    c->dirty_status = true;
    console_mark(c);
    return true;
}

/* ---- the loop ---------------------------------------------------------------- */

static void on_esc_timeout(struct loop *loop, void *ud)
{
    keys_flush(ud);
}

static void on_stdin(struct loop *loop, int fd, int revents, void *ud)
{
    struct console *c = ud;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);

    if (n > 0) {
        keys_feed(c, buf, (size_t)n);
        if (keys_pending())
            loop_timer_add(loop, ESC_WAIT_MS, on_esc_timeout, c);
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        c->quit = true; /* the terminal is gone */
    }
}

/* What is written on stderr while curses owns the screen comes here, and
 * shows in the timeline. */
static void on_stderr(struct loop *loop, int fd, int revents, void *ud)
{
    struct console *c = ud;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    char *nl;

    if (n <= 0) {
        if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
            loop_unwatch(loop, c->stderr_watch);
            c->stderr_watch = 0;
        }
        return;
    }
    buf_append(&c->stderr_buf, buf, (size_t)n);
    while ((nl = memchr(c->stderr_buf.data, '\n', c->stderr_buf.len))) {
        size_t len = (size_t)(nl - c->stderr_buf.data);
        char *text = xstrndup(c->stderr_buf.data, len);
        timeline_add_notice(c->tl, ROLE_WARNING, text);
        free(text);
        memmove(c->stderr_buf.data, nl + 1, c->stderr_buf.len - len - 1);
        c->stderr_buf.len -= len + 1;
        c->stderr_buf.data[c->stderr_buf.len] = '\0';
    }
    console_mark(c);
}

static void on_signal(struct loop *loop, int signo, void *ud)
{
    struct console *c = ud;

    switch (signo) {
    case SIGWINCH:
    case SIGCONT:
        if (signo == SIGCONT)
            clearok(curscr, TRUE);
        resize(c);
        break;
    case SIGINT:
        if (session_runs_in_flight(c->s) || session_runs_waiting(c->s))
            session_cancel_runs(c->s, "cancelled with Ctrl-C");
        else
            c->quit = true;
        break;
    default:
        session_cancel_runs(c->s, signo == SIGHUP ? "the terminal went away (SIGHUP)" : "terminated (SIGTERM)");
        c->quit = true;
        break;
    }
}

/* After the console: its handlers would reach a console that is gone. */
static void on_late_signal(struct loop *loop, int signo, void *ud)
{
    struct session *s = ud;
    if (signo != SIGWINCH && signo != SIGCONT)
        s->interrupted = true;
}

static bool console_done(void *ud)
{
    struct console *c = ud;
    runner_reap(c->s);
    return c->quit;
}

/* ---- start-up and teardown ------------------------------------------------ */

/* The folder of the running binary, for themes/ beside it in a build tree. */
static char *exe_dir(void)
{
    char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    char *slash;
    if (n <= 0)
        return NULL;
    path[n] = '\0';
    slash = strrchr(path, '/');
    return slash ? xstrndup(path, (size_t)(slash - path)) : NULL;
}

/* $XDG_STATE_HOME/agentdeck/history, making its folder; NULL when there is no home. */
static char *history_path(void)
{
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    char *dir, *path;

    if (xdg && *xdg == '/')
        dir = xasprintf("%s/agentdeck", xdg);
    else if (home && *home)
        dir = xasprintf("%s/.local/state/agentdeck", home);
    else
        return NULL;
    /* mkdir -p */
    for (char *p = dir + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(dir, 0700);
            *p = '/';
        }
    }
    mkdir(dir, 0700);
    path = xasprintf("%s/history", dir);
    free(dir);
    return path;
}

static void redirect_stderr(struct console *c)
{
    int fds[2];

    c->saved_stderr = -1;
    c->stderr_pipe = -1;
    if (pipe(fds) < 0)
        return;
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    c->saved_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    dup2(fds[1], STDERR_FILENO);
    close(fds[1]);
    c->stderr_pipe = fds[0];
    c->stderr_watch = loop_watch_fd(c->s->loop, fds[0], LOOP_READ, on_stderr, c);
}

static void restore_stderr(struct console *c)
{
    char buf[4096];
    ssize_t n;

    if (c->saved_stderr < 0)
        return;
    dup2(c->saved_stderr, STDERR_FILENO);
    close(c->saved_stderr);
    c->saved_stderr = -1;
    if (c->stderr_watch)
        loop_unwatch(c->s->loop, c->stderr_watch);
    /* What is left goes where it was meant to go. */
    if (c->stderr_buf.len)
        write_all(STDERR_FILENO, buf_str(&c->stderr_buf));
    while ((n = read(c->stderr_pipe, buf, sizeof buf - 1)) > 0) {
        buf[n] = '\0';
        write_all(STDERR_FILENO, buf);
    }
    close(c->stderr_pipe);
}

static int compare_i64(const void *a, const void *b)
{
    int64_t x = **(int64_t *const *)a, y = **(int64_t *const *)b;
    return x < y ? -1 : x > y;
}

/* AGENTDECK_STATS=FILE: the figures bench/paint reads. */
static void write_stats(struct console *c, int64_t started_ms)
{
    FILE *fp;
    size_t n = c->echo_ns.len;
    double wall = (double)(clock_now_ms() - started_ms) / 1000.0;

    if (!c->stats_path || !(fp = fopen(c->stats_path, "we")))
        return;
    qsort(c->echo_ns.items, n, sizeof(void *), compare_i64);
#define ECHO_MS(q) (n ? (double)*(int64_t *)c->echo_ns.items[(size_t)((double)(n - 1) * (q))] / 1e6 : 0.0)
    fprintf(fp,
            "{\"frames\": %llu, \"wall_s\": %.3f, \"paint_cpu_s\": %.3f, \"echo_count\": %zu, "
            "\"echo_median_ms\": %.3f, \"echo_p95_ms\": %.3f, \"echo_max_ms\": %.3f}\n",
            (unsigned long long)c->frames, wall, (double)c->paint_cpu_ns / 1e9, n, ECHO_MS(0.5), ECHO_MS(0.95),
            ECHO_MS(1.0));
#undef ECHO_MS
    fclose(fp);
}

static void start_locale(void)
{
    /* Only LC_CTYPE: cJSON must keep writing numbers with a dot. */
    setlocale(LC_CTYPE, "");
    if (strcmp(nl_langinfo(CODESET), "UTF-8") != 0)
        setlocale(LC_CTYPE, "C.UTF-8"); /* our text is UTF-8, whatever the locale */
}

int console_run(struct session *s, const struct console_options *o)
{
    struct console c = {.s = s, .opt = o};
    struct event_sink sink = {on_event, NULL, &c};
    struct timeline tl;
    struct overlay ov;
    char *theme_error = NULL, *hist;
    int64_t started_ms = clock_now_ms();
    struct buf banner = BUF_INIT;

    start_locale();
    c.screen = newterm(NULL, stdout, stdin);
    if (!c.screen) {
        const char *term = getenv("TERM");
        fprintf(stderr, "agentdeck: cannot drive the terminal \"%s\" (check TERM; tmux, xterm and screen work)\n",
                term ? term : "");
        return 2;
    }
    set_term(c.screen);
    c.tl = &tl;
    c.ov = &ov;
    timeline_init(&tl);
    overlay_init(&ov);
    vec_init(&c.panes, pane_free);
    vec_init(&c.echo_ns, free);
    buf_init(&c.stderr_buf);
    c.stats_path = getenv("AGENTDECK_STATS");
    c.exe_dir = exe_dir();
    c.theme_dirs[0] = xstrdup(PKGDATADIR "/themes");
    c.theme_dirs[1] = c.exe_dir ? xasprintf("%s/themes", c.exe_dir) : NULL;
    /* AGENTDECK_THEMES: one more folder (the tests' source tree). */
    if (getenv("AGENTDECK_THEMES") && c.theme_dirs[1])
        c.theme_dirs[2] = xstrdup(getenv("AGENTDECK_THEMES"));
    else if (getenv("AGENTDECK_THEMES"))
        c.theme_dirs[1] = xstrdup(getenv("AGENTDECK_THEMES"));
    theme_init_default(&c.theme);
    if (o->theme)
        console_set_theme(&c, o->theme, &theme_error);
    for (size_t i = 0; i < s->team->agents.len; i++) {
        const struct agent *a = s->team->agents.items[i];
        add_pane(&c, a->name, a->model);
    }
    s->deltas = true; /* replies stream in */
    s->edit_text = edit_in_editor;
    s->edit_ud = &c;
    if (o->history)
        feed_history(&c, o->history);
    c.sink = event_stream_add_sink(&s->events, &sink);
    keys_init(o->keys);
    fatal_console = &c;
    /* From here on stderr shows in the timeline: readline's complaints
     * about ~/.inputrc too. */
    redirect_stderr(&c);
    hist = history_path();
    cmdline_init(&c, hist);
    free(hist);

    raw();
    noecho();
    nonl();
    intrflush(stdscr, FALSE);
    colors_start(&c);
    colors_apply(&c);
    xalloc_set_fatal_hook(restore_terminal);
    fflush(stdout);
    write_all(STDOUT_FILENO, modes_on);
    c.relayout = true;

    buf_printf(&banner, "agentdeck %s, %s, %s", PACKAGE_VERSION, s->backend->ops->label,
               o->profile_path ? o->profile_path : "no profile");
    for (size_t i = 0; i < s->team->agents.len; i++)
        buf_printf(&banner, "%s%s", i ? ", " : ": ", ((struct agent *)s->team->agents.items[i])->name);
    timeline_add_notice(&tl, ROLE_DIM, buf_str(&banner));
    buf_fini(&banner);
    if (theme_error) {
        console_say(&c, ROLE_ERROR, "Using the default theme: %s", theme_error);
        timeline_add_notice(&tl, ROLE_ERROR, theme_error);
        free(theme_error);
    } else if (o->replay) {
        console_say(&c, ROLE_TEXT, "Replaying %s: Space pauses, n steps, + and - change the speed", s->id);
    } else if (o->history) {
        console_say(&c, ROLE_TEXT, "Resumed %s: %zu run%s or step%s cut off%s", s->id, s->unfinished.len,
                    s->unfinished.len == 1 ? "" : "s", s->unfinished.len == 1 ? "" : "s",
                    s->unfinished.len ? "; /retry goes on" : "");
    } else {
        console_say(&c, ROLE_TEXT,
                    s->team->agents.len ? "Type a message to begin; %s for help, /quit to leave"
                                        : "/agent create NAME makes an agent; %s for help, /quit to leave",
                    keys_of(ACTION_HELP));
    }
    /* What happened before the screen was up (the backend's warnings, a
     * chat server that is down) is shown first. */
    for (const cJSON *ev = o->early ? o->early->child : NULL; ev; ev = ev->next) {
        char *line = cJSON_PrintUnformatted(ev);
        on_event(&c, ev, line ? line : "{}");
        cJSON_free(line);
    }

    c.stdin_watch = loop_watch_fd(s->loop, STDIN_FILENO, LOOP_READ, on_stdin, &c);
    for (size_t i = 0; i < sizeof console_signals / sizeof console_signals[0]; i++)
        loop_on_signal(s->loop, console_signals[i], on_signal, &c);
    if (o->replay) {
        c.replayed = rebuild_new(s);
        c.replay = replay_new(s->loop, o->replay, o->speed, on_replayed, &c);
        replay_start(c.replay);
    }
    console_mark_all(&c);
    loop_run_until(s->loop, console_done, &c);
    replay_free(c.replay);
    c.replay = NULL;
    rebuild_free(c.replayed);

    /* Runs still going end now. */
    c.quit = true;
    loop_unwatch(s->loop, c.stdin_watch);
    for (size_t i = 0; i < sizeof console_signals / sizeof console_signals[0]; i++)
        loop_on_signal(s->loop, console_signals[i], on_late_signal, s);
    session_cancel_runs(s, "quit");
    runner_reap(s);
    event_stream_remove_sink(&s->events, c.sink);
    if (c.frame_timer)
        loop_timer_cancel(s->loop, c.frame_timer);
    if (c.message_timer)
        loop_timer_cancel(s->loop, c.message_timer);
    cmdline_fini();
    keys_fini();
    vec_fini(&c.panes);
    timeline_fini(&tl);
    overlay_fini(&ov);
    if (c.status_win)
        delwin(c.status_win);
    if (c.cmd_win)
        delwin(c.cmd_win);
    fflush(stdout);
    write_all(STDOUT_FILENO, modes_off);
    endwin();
    delscreen(c.screen);
    xalloc_set_fatal_hook(NULL);
    fatal_console = NULL;
    restore_stderr(&c);
    write_stats(&c, started_ms);
    vec_fini(&c.echo_ns);
    buf_fini(&c.stderr_buf);
    theme_fini(&c.theme);
    free(c.message);
    free(c.hint);
    free(c.exe_dir);
    for (size_t i = 0; i < 4; i++)
        free(c.theme_dirs[i]);
    return 0;
}
