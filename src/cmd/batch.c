#include "config.h"

#include "cmd/batch.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/command.h"
#include "core/xalloc.h"
#include "orch/runner.h"

static void write_event_line(void *ud, const cJSON *ev, const char *line)
{
    FILE *out = ud;
    fputs(line, out);
    fputc('\n', out);
    fflush(out);
}

static const char *field(const cJSON *ev, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(ev, key);
    return cJSON_IsString(item) ? item->valuestring : NULL;
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
    } else if (strcmp(type, "warning") == 0) {
        fprintf(out, "agentdeck: warning: %s\n", message);
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
    return session_runs_in_flight(s) == 0;
}

bool batch_run_command(struct session *s, const char *line, bool *quit)
{
    unsigned failed_before = s->runs_failed;
    enum cmd_status st = command_execute(s, line);

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
    return st != CMD_FAILED && s->runs_failed == failed_before;
}

bool batch_run_lines(struct session *s, const struct vec *lines, bool keep_going)
{
    bool ok = true, quit = false;

    for (size_t i = 0; i < lines->len && !quit && !s->interrupted; i++) {
        if (!batch_run_command(s, lines->items[i], &quit)) {
            ok = false;
            if (!keep_going)
                break;
        }
    }
    return ok;
}

int batch_read_file(const char *path, struct vec *lines, char **error)
{
    FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

    if (!fp) {
        *error = xasprintf("%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    while ((n = getline(&line, &cap, fp)) >= 0) {
        const char *p = line;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p && *p != '#')
            vec_push(lines, xstrdup(p));
    }
    free(line);
    if (ferror(fp)) {
        *error = xasprintf("%s: cannot read: %s", path, strerror(errno));
        if (fp != stdin)
            fclose(fp);
        return -1;
    }
    if (fp != stdin)
        fclose(fp);
    return 0;
}
