#include "config.h"

#include "cmd/batch.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/command.h"
#include "core/buf.h"
#include "core/xalloc.h"
#include "orch/runner.h"

/* Whether writing the events failed: batch mode is one per process. */
static bool events_lost;

static void write_event_line(void *ud, const cJSON *ev, const char *line)
{
    FILE *out = ud;

    if (events_lost)
        return;
    if (fputs(line, out) == EOF || fputc('\n', out) == EOF || fflush(out) == EOF) {
        fprintf(stderr, "agentdeck: cannot write the events to stdout: %s\n", strerror(errno));
        events_lost = true;
    }
}

bool batch_events_lost(void)
{
    return events_lost;
}

static const char *field(const cJSON *ev, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(ev, key);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* Whether a pattern.step status is one the user should hear of. */
static bool is_problem(const char *status)
{
    static const char *const problems[] = {"failed", "skipped", "unmatched", "partial", "depth-limit", NULL};
    for (size_t i = 0; status && problems[i]; i++) {
        if (strcmp(status, problems[i]) == 0)
            return true;
    }
    return false;
}

/* One readable line on stderr for each error, run failure and warning. */
static void diagnostic_line(void *ud, const cJSON *ev, const char *line)
{
    FILE *out = ud;
    const char *type = field(ev, "type");
    const char *message = field(ev, "message");

    (void)line;
    if (!type || !message)
        return;
    if (strcmp(type, "error") == 0) {
        const char *fn = field(ev, "function");
        if (fn)
            fprintf(out, "agentdeck: function %s failed: %s\n", fn, message);
        else
            fprintf(out, "agentdeck: %s\n", message);
    } else if (strcmp(type, "mcp.error") == 0) {
        fprintf(out, "agentdeck: %s\n", message); /* it names the server */
    } else if (strcmp(type, "warning") == 0) {
        fprintf(out, "agentdeck: warning: %s\n", message);
    } else if (strcmp(type, "pattern.done") == 0) {
        fprintf(out, "agentdeck: %s %s %s: %s\n", field(ev, "kind"), field(ev, "pattern"), field(ev, "status"),
                message);
    } else if (strcmp(type, "pattern.step") == 0 && is_problem(field(ev, "status"))) {
        fprintf(out, "agentdeck: %s %s, step %s: %s\n", field(ev, "kind"), field(ev, "pattern"), field(ev, "step"),
                message);
    } else if (strcmp(type, "run.error") == 0 || strcmp(type, "run.cancelled") == 0) {
        fprintf(out, "agentdeck: run %s of %s in %s %s: %s\n", field(ev, "run"), field(ev, "agent"),
                field(ev, "conversation"), type[4] == 'e' ? "failed" : "cancelled", message);
    }
    fflush(out);
}

void batch_add_sinks(struct session *s, FILE *events_out, FILE *diagnostics)
{
    struct event_sink out = {write_event_line, NULL, events_out};
    struct event_sink err = {diagnostic_line, NULL, diagnostics};
    event_stream_add_sink(&s->events, &out);
    event_stream_add_sink(&s->events, &err);
}

static bool runs_finished(void *ud)
{
    struct session *s = ud;
    runner_reap(s);
    /* Patterns and event handlers move on only as their runs end: a run
     * stopped at a breakpoint holds them, and the next command (/next) must
     * be read. */
    return session_runs_in_flight(s) == 0 && s->syncing == 0 && s->queries == 0;
}

bool batch_run_command(struct session *s, const char *line, bool *quit)
{
    unsigned failed_before = s->runs_failed, async_failed_before = s->async_failures;
    unsigned patterns_failed_before = s->patterns_failed;
    enum cmd_status st;

    /* A Ctrl-C between commands that start no run is heard here. */
    loop_dispatch_signals(s->loop);
    if (s->interrupted)
        return false;
    st = command_execute(s, line);

    loop_run_until(s->loop, runs_finished, s);
    if (session_runs_in_flight(s)) {
        /* The loop has nothing left to wait for, yet a run is waiting: a
         * bug, and it must not pass for success. */
        session_error(s, line, "a run stopped with nothing left to wait for (a bug in agentdeck): cancelling it");
        session_cancel_runs(s, "stalled");
    }
    runner_reap(s);
    if (st == CMD_QUIT)
        *quit = true;
    return st != CMD_FAILED && s->runs_failed == failed_before && s->async_failures == async_failed_before &&
           s->patterns_failed == patterns_failed_before;
}

bool batch_run_lines(struct session *s, const struct vec *lines, bool keep_going)
{
    bool ok = true, quit = false;

    for (size_t i = 0; i < lines->len && !quit && !s->interrupted && !events_lost; i++) {
        if (!batch_run_command(s, lines->items[i], &quit)) {
            ok = false;
            if (!keep_going)
                break;
        }
    }
    return ok && !events_lost;
}

struct line_reader {
    struct session *s;
    int fd;
    struct buf pending; /* bytes read, not yet run */
    bool readable, eof;
    int error; /* errno of a failed read, or 0 */
};

static void on_readable(struct loop *loop, int fd, int revents, void *ud)
{
    struct line_reader *r = ud;
    r->readable = true;
}

static bool readable_or_interrupted(void *ud)
{
    struct line_reader *r = ud;
    return r->readable || r->s->interrupted;
}

/* Reads more of the input, waiting in the loop (where signals are heard). */
static void read_more(struct line_reader *r)
{
    char chunk[4096];
    ssize_t n;
    uint64_t watch = loop_watch_fd(r->s->loop, r->fd, LOOP_READ, on_readable, r);

    r->readable = false;
    loop_run_until(r->s->loop, readable_or_interrupted, r);
    loop_unwatch(r->s->loop, watch);
    if (r->s->interrupted)
        return;
    n = read(r->fd, chunk, sizeof chunk);
    if (n > 0)
        buf_append(&r->pending, chunk, (size_t)n);
    else if (n == 0)
        r->eof = true;
    else if (errno != EINTR && errno != EAGAIN)
        r->error = errno, r->eof = true;
}

/* Returns the next line (without its end) as a new string, or NULL at the end. */
static char *next_line(struct line_reader *r)
{
    for (;;) {
        char *line = buf_take_line(&r->pending, r->eof);
        if (line)
            return line;
        if (r->eof || r->s->interrupted)
            return NULL;
        read_more(r);
    }
}

bool batch_run_stream(struct session *s, int fd, const char *name, bool keep_going)
{
    struct line_reader r = {.s = s, .fd = fd};
    bool ok = true, quit = false;
    char *line;

    /* One line at a time, waiting in the loop: a pipe's commands run as
     * they come, and a signal is heard while we wait for the next. */
    buf_init(&r.pending);
    while (!quit && !s->interrupted && !events_lost && (line = next_line(&r))) {
        size_t n = strlen(line);
        const char *p = line;
        while (n > 0 && line[n - 1] == '\r')
            line[--n] = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p && *p != '#' && !batch_run_command(s, p, &quit)) {
            ok = false;
            if (!keep_going)
                quit = true;
        }
        free(line);
    }
    if (r.error) {
        fprintf(stderr, "agentdeck: %s: cannot read: %s\n", name, strerror(r.error));
        ok = false;
    }
    buf_fini(&r.pending);
    return ok && !events_lost;
}
