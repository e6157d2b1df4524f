/* The console, line mode: GNU readline in callback mode on the event loop,
 * with the event stream printed as readable lines above the prompt. Streamed
 * replies grow in place, a word at a time, while the user types. */
#include "config.h"

#include "ui/console.h"

#include <readline/history.h>
#include <readline/readline.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cmd/command.h"
#include "core/buf.h"
#include "core/xalloc.h"
#include "orch/runner.h"
#include "text/sanitize.h"

struct console {
    struct session *s;
    bool quit;
    struct buf partial;   /* the streamed line now shown above the prompt */
    char *streaming;      /* entry id whose deltas are being shown */
    struct buf text;      /* its text so far */
    size_t lines_printed; /* its wrapped lines that have scrolled up */
    bool partial_shown;
    bool in_line_handler;
    bool input_closed; /* Ctrl-D: quit once no run is in flight */
    uint64_t stdin_watch;
};

static struct console *the_console; /* readline's line handler has no user data */

static int term_width(void)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10)
        return ws.ws_col;
    return 80;
}

/* Prints text above the prompt, keeping what the user is typing. */
static void print_above(struct console *c, const char *untrusted)
{
    struct buf clean = BUF_INIT;
    const char *text;
    char *saved;
    int point;

    /* Whatever the callers missed, nothing reaches the terminal raw. */
    sanitize_append(&clean, untrusted, false);
    text = buf_str(&clean);
    if (c->in_line_handler || c->input_closed) {
        /* Readline has left the accepted line and shows a fresh prompt
         * when the handler returns (or shows none, input being closed):
         * plain printing is right here. */
        fputs(text, stdout);
        fflush(stdout);
        buf_fini(&clean);
        return;
    }
    saved = rl_copy_text(0, rl_end);
    point = rl_point;

    rl_save_prompt();
    rl_replace_line("", 0);
    rl_redisplay();
    fputs("\r\033[K", stdout);
    if (c->partial_shown) {
        fputs("\033[A\r\033[K", stdout);
        c->partial_shown = false;
    }
    fputs(text, stdout);
    if (c->partial.len) {
        fputs(buf_str(&c->partial), stdout);
        fputc('\n', stdout);
        c->partial_shown = true;
    }
    fflush(stdout);
    rl_restore_prompt();
    rl_replace_line(saved, 0);
    rl_point = point;
    rl_forced_update_display();
    free(saved);
    buf_fini(&clean);
}

static const char *str(const cJSON *ev, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(ev, key);
    return cJSON_IsString(item) ? item->valuestring : "";
}

static double num(const cJSON *ev, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(ev, key);
    return cJSON_IsNumber(item) ? item->valuedouble : 0;
}

/* Untrusted text, made harmless (text/sanitize.h). */
static void put_text(struct buf *out, const char *text, bool one_line)
{
    sanitize_append(out, text, one_line);
}

static void put_clean(struct buf *out, const char *text)
{
    put_text(out, text, false);
}

/* Columns a UTF-8 string takes, counting each character as one. */
static size_t columns(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xc0) != 0x80;
    return n;
}

/* Word-wraps text to width into lines (new strings). A line that wraps
 * goes on indented by two spaces; so does every line after the first when
 * body is set (a message's text under its "agent: " label). */
static void wrap_lines(const char *text, size_t width, bool body, struct vec *lines)
{
    const char *p = text;
    bool wrapped = false;

    do {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        bool indent = wrapped || (body && lines->len);
        size_t room = indent ? width - 2 : width;
        size_t cut = len;

        if (columns(p, len) > room) {
            /* The last blank that keeps the line within room. */
            size_t fit = 0;
            for (size_t i = 0; i < len && columns(p, i + 1) <= room; i++)
                fit = i + 1;
            cut = fit;
            while (cut > 0 && p[cut] != ' ')
                cut--;
            if (cut == 0)
                cut = fit ? fit : 1;
            while (cut < len && (((unsigned char)p[cut] & 0xc0) == 0x80))
                cut++;
        }
        vec_push(lines, xasprintf("%s%.*s", indent ? "  " : "", (int)cut, p));
        wrapped = cut < len;
        p += cut;
        if (*p == ' ' && wrapped)
            p++;
        else if (*p == '\n')
            p++;
    } while (*p);
}

static void stream_delta(struct console *c, const cJSON *ev)
{
    const char *id = str(ev, "entry_id");
    struct buf done = BUF_INIT;
    struct vec lines;

    if (!c->streaming || strcmp(c->streaming, id) != 0) {
        /* Another reply's half line stays on screen as it is. */
        c->partial_shown = false;
        free(c->streaming);
        c->streaming = xstrdup(id);
        buf_reset(&c->text);
        put_clean(&c->text, str(ev, "agent"));
        buf_puts(&c->text, ": ");
        c->lines_printed = 0;
    }
    put_clean(&c->text, str(ev, "content"));
    /* Every line but the last is complete and scrolls up for good; the
     * last one grows in place above the prompt. The whole reply is wrapped
     * again on each delta: fine for this line console, which the curses
     * console (issue 4) replaces. */
    vec_init(&lines, free);
    wrap_lines(buf_str(&c->text), (size_t)term_width() - 1, true, &lines);
    for (; c->lines_printed + 1 < lines.len; c->lines_printed++)
        buf_printf(&done, "%s\n", (char *)lines.items[c->lines_printed]);
    buf_reset(&c->partial);
    buf_puts(&c->partial, vec_last(&lines));
    vec_fini(&lines);
    print_above(c, buf_str(&done));
    buf_fini(&done);
}

/* Appends text word-wrapped to the terminal. */
static void put_wrapped(struct buf *out, const char *text, bool body)
{
    struct vec lines;
    vec_init(&lines, free);
    wrap_lines(text, (size_t)term_width() - 1, body, &lines);
    for (size_t i = 0; i < lines.len; i++)
        buf_printf(out, "%s\n", (char *)lines.items[i]);
    vec_fini(&lines);
}

static void end_stream(struct console *c)
{
    free(c->streaming);
    c->streaming = NULL;
    buf_reset(&c->partial);
    buf_reset(&c->text);
}

/* One line an agent: name, model, handoffs, description. */
static void render_agent_list(struct buf *out, const cJSON *ev)
{
    const cJSON *agent;

    cJSON_ArrayForEach(agent, cJSON_GetObjectItemCaseSensitive(ev, "agents")) {
        const cJSON *handoff;
        const char *sep = " => ";
        buf_printf(out, "  %-12s %-22s", str(agent, "name"), str(agent, "model"));
        cJSON_ArrayForEach(handoff, cJSON_GetObjectItemCaseSensitive(agent, "handoffs")) {
            buf_printf(out, "%s%s", sep, cJSON_IsString(handoff) ? handoff->valuestring : "");
            sep = ", ";
        }
        if (*str(agent, "description")) {
            buf_puts(out, "\n      ");
            put_clean(out, str(agent, "description"));
        }
        buf_putc(out, '\n');
    }
}

/* Pretty JSON with two-space indents. */
static void render_json(struct buf *out, const cJSON *item)
{
    char *pretty = item ? cJSON_Print(item) : NULL;
    if (!pretty)
        return;
    for (const char *p = pretty; *p; p++) {
        if (*p == '\t')
            buf_puts(out, "  ");
        else
            buf_putc(out, *p);
    }
    buf_putc(out, '\n');
    cJSON_free(pretty);
}

/* One line an entry: its id, its agent, and what it holds. */
static void render_history(struct buf *out, const cJSON *ev)
{
    const cJSON *e;

    buf_printf(out, "-- %s, held by %s\n", str(ev, "conversation"), str(ev, "agent"));
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(ev, "entries")) {
        const char *type = str(e, "type");
        buf_printf(out, "  %-14s %-10s ", str(e, "entry_id"), str(e, "agent"));
        if (strcmp(type, "message.input") == 0 || strcmp(type, "message.output") == 0) {
            buf_printf(out, "%s ", strcmp(type, "message.input") == 0 ? "<<" : ">>");
            put_text(out, str(e, "content"), true);
        } else if (strcmp(type, "function.call") == 0) {
            buf_printf(out, "calls %s ", str(e, "name"));
            put_clean(out, str(e, "arguments"));
        } else if (strcmp(type, "function.result") == 0) {
            buf_puts(out, "result ");
            put_text(out, str(e, "result"), true);
        } else if (strcmp(type, "agent.handoff") == 0) {
            buf_printf(out, "=> %s", str(e, "next_agent"));
        } else {
            buf_printf(out, "%s %s", type, str(e, "name"));
        }
        buf_putc(out, '\n');
    }
}

static void render_event(void *ud, const cJSON *ev, const char *json)
{
    struct console *c = ud;
    const char *type = str(ev, "type");
    struct buf out = BUF_INIT;

    (void)json;
    if (strcmp(type, "message.output.delta") == 0) {
        stream_delta(c, ev);
        return;
    }
    if (strcmp(type, "message.output") == 0) {
        bool streamed = c->streaming && strcmp(c->streaming, str(ev, "entry_id")) == 0;
        if (streamed && c->partial_shown) {
            /* The partial line is final now: let it scroll up as it is. */
            c->partial_shown = false;
            end_stream(c);
            return;
        }
        if (streamed) {
            /* Never shown (input is closed): the last line goes out now. */
            buf_printf(&out, "%s\n", buf_str(&c->partial));
            end_stream(c);
            print_above(c, buf_str(&out));
            buf_fini(&out);
            return;
        }
        struct buf text = BUF_INIT;
        buf_printf(&text, "%s: ", str(ev, "agent"));
        put_clean(&text, str(ev, "content"));
        put_wrapped(&out, buf_str(&text), true);
        buf_fini(&text);
    } else if (strcmp(type, "message.input") == 0) {
        buf_printf(&out, "you -> %s: ", str(ev, "agent"));
        put_clean(&out, str(ev, "content"));
        buf_putc(&out, '\n');
    } else if (strcmp(type, "conversation.started") == 0) {
        buf_printf(&out, "-- conversation %s with %s", str(ev, "conversation"), str(ev, "agent"));
        if (*str(ev, "parent"))
            buf_printf(&out, " (branched from %s at %s)", str(ev, "parent"), str(ev, "from_entry"));
        buf_putc(&out, '\n');
    } else if (strcmp(type, "agent.handoff") == 0) {
        buf_printf(&out, "   %s => %s (handoff)\n", str(ev, "previous_agent"), str(ev, "next_agent"));
    } else if (strcmp(type, "function.call") == 0) {
        buf_printf(&out, "   %s calls %s ", str(ev, "agent"), str(ev, "name"));
        put_clean(&out, str(ev, "arguments"));
        buf_putc(&out, '\n');
    } else if (strcmp(type, "function.result") == 0) {
        buf_puts(&out, "   result: ");
        put_clean(&out, str(ev, "result"));
        buf_putc(&out, '\n');
    } else if (strcmp(type, "tool.execution") == 0) {
        buf_printf(&out, "   %s ran %s\n", str(ev, "agent"), str(ev, "name"));
    } else if (strcmp(type, "run.done") == 0) {
        const cJSON *usage = cJSON_GetObjectItemCaseSensitive(ev, "usage");
        buf_printf(&out, "   (%s done in %.1f s, %.0f tokens)\n", str(ev, "run"), num(ev, "latency_ms") / 1000.0,
                   num(usage, "total_tokens"));
    } else if (strcmp(type, "run.error") == 0 || strcmp(type, "run.cancelled") == 0) {
        /* What arrived of a cut-off reply stays on screen, and the stream ends. */
        if (!c->partial_shown && c->partial.len)
            buf_printf(&out, "%s\n", buf_str(&c->partial));
        c->partial_shown = false;
        end_stream(c);
        buf_printf(&out, "!! %s %s: ", str(ev, "run"), type + 4);
        put_clean(&out, str(ev, "message"));
        buf_putc(&out, '\n');
    } else if (strcmp(type, "error") == 0 || strcmp(type, "warning") == 0) {
        buf_printf(&out, "!! %s", *str(ev, "function") ? "function " : "");
        if (*str(ev, "function"))
            buf_printf(&out, "%s failed: ", str(ev, "function"));
        put_clean(&out, str(ev, "message"));
        buf_putc(&out, '\n');
    } else if (strcmp(type, "help") == 0) {
        buf_puts(&out, str(ev, "text"));
    } else if (strcmp(type, "agent.list") == 0) {
        render_agent_list(&out, ev);
    } else if (strcmp(type, "agent.show") == 0) {
        render_json(&out, cJSON_GetObjectItemCaseSensitive(ev, "definition"));
    } else if (strcmp(type, "conversation.history") == 0) {
        render_history(&out, ev);
    } else if (strncmp(type, "agent.", 6) == 0) {
        buf_printf(&out, "-- agent %s %s\n", str(ev, "agent"), type + 6);
    }
    if (out.len) {
        struct buf wrapped = BUF_INIT;
        put_wrapped(&wrapped, buf_str(&out), false);
        print_above(c, buf_str(&wrapped));
        buf_fini(&wrapped);
    }
    buf_fini(&out);
}

static void on_line(char *line)
{
    struct console *c = the_console;

    if (!line) {
        /* End of input: let the runs in flight finish, then leave. */
        c->input_closed = true;
        fputs("\r\033[K", stdout); /* the empty prompt Ctrl-D was typed at */
        rl_callback_handler_remove();
        loop_unwatch(c->s->loop, c->stdin_watch);
        return;
    }
    if (*line) {
        add_history(line);
        if (c->partial_shown) {
            /* The screen holds the half line, then the accepted input: take
             * both down, put the input back, and the half line below it. */
            size_t width = (size_t)term_width();
            size_t rows = (strlen(rl_prompt) + columns(line, strlen(line))) / width + 1;
            struct buf input = BUF_INIT;
            printf("\033[%zuA\r\033[J", rows + 1);
            buf_printf(&input, "%s", rl_prompt);
            put_clean(&input, line);
            printf("%s\n", buf_str(&input));
            buf_fini(&input);
            c->partial_shown = false;
        }
        c->in_line_handler = true;
        if (command_execute(c->s, line) == CMD_QUIT) {
            /* Leave readline now, so it shows no new prompt. */
            c->quit = true;
            c->input_closed = true;
            rl_callback_handler_remove();
            loop_unwatch(c->s->loop, c->stdin_watch);
        }
        c->in_line_handler = false;
        if (c->partial.len && c->streaming && !c->quit) {
            printf("%s\n", buf_str(&c->partial));
            c->partial_shown = true;
        }
        fflush(stdout);
    }
    free(line);
}

static void on_stdin(struct loop *loop, int fd, int revents, void *ud)
{
    rl_callback_read_char();
}

static void on_interrupt(struct loop *loop, int signo, void *ud)
{
    struct console *c = ud;
    if (session_runs_in_flight(c->s)) {
        session_cancel_runs(c->s, "cancelled with Ctrl-C");
    } else {
        c->quit = true;
    }
}

static void on_terminate(struct loop *loop, int signo, void *ud)
{
    struct console *c = ud;
    session_cancel_runs(c->s, signo == SIGHUP ? "the terminal went away (SIGHUP)" : "terminated (SIGTERM)");
    c->quit = true;
}

/* Before a fatal error aborts: give the terminal back as it was. */
static void restore_terminal(void)
{
    rl_callback_handler_remove();
    fputc('\n', stdout);
    fflush(stdout);
}

static bool console_done(void *ud)
{
    struct console *c = ud;
    runner_reap(c->s);
    return c->quit || (c->input_closed && session_runs_in_flight(c->s) == 0);
}

int console_run(struct session *s, const char *profile_path)
{
    struct console c = {.s = s};
    struct event_sink sink = {render_event, NULL, &c};
    struct buf banner, line;
    struct event_sink *sink_handle;

    the_console = &c;
    buf_init(&c.partial);
    buf_init(&c.text);
    s->deltas = true; /* the console streams replies as they come */
    sink_handle = event_stream_add_sink(&s->events, &sink);
    rl_catch_signals = 0;
    rl_callback_handler_install("agentdeck> ", on_line);
    buf_init(&line);
    buf_printf(&line, "agentdeck %s -- %s -- %s", PACKAGE_VERSION, s->backend->ops->label,
               profile_path ? profile_path : "no profile");
    for (size_t i = 0; i < s->team->agents.len; i++)
        buf_printf(&line, "%s%s", i ? ", " : ": ", ((struct agent *)s->team->agents.items[i])->name);
    buf_init(&banner);
    put_wrapped(&banner, buf_str(&line), false);
    buf_puts(&banner, s->team->agents.len ? "Type a message to begin, /help for the commands, /quit to leave.\n"
                                          : "/agent create NAME makes an agent; /help lists the commands.\n");
    print_above(&c, buf_str(&banner));
    buf_fini(&banner);
    buf_fini(&line);
    c.stdin_watch = loop_watch_fd(s->loop, STDIN_FILENO, LOOP_READ, on_stdin, NULL);
    loop_on_signal(s->loop, SIGINT, on_interrupt, &c);
    loop_on_signal(s->loop, SIGTERM, on_terminate, &c);
    loop_on_signal(s->loop, SIGHUP, on_terminate, &c);
    xalloc_set_fatal_hook(restore_terminal);
    loop_run_until(s->loop, console_done, &c);
    if (!c.input_closed) {
        loop_unwatch(s->loop, c.stdin_watch);
        rl_callback_handler_remove();
        fputc('\n', stdout);
        c.input_closed = true; /* from here on, plain printing */
    }
    /* Runs still going end now, and say so while the console shows it. */
    session_cancel_runs(s, "quit");
    runner_reap(s);
    xalloc_set_fatal_hook(NULL);
    /* The session outlives us: stop rendering into a console that is gone. */
    event_stream_remove_sink(&s->events, sink_handle);
    end_stream(&c);
    buf_fini(&c.partial);
    buf_fini(&c.text);
    the_console = NULL;
    return 0;
}
