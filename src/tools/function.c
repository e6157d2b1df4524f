#include "config.h"

#include "tools/function.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/xalloc.h"
#include "tools/process.h"

struct function_run {
    struct loop *loop;
    char *name;
    int timeout_ms;
    pid_t pid;
    int in_fd, out_fd, err_fd;
    uint64_t in_watch, out_watch, err_watch, timer, child_watch;
    char *input;
    size_t input_len, input_off;
    struct buf out, err;
    bool truncated, exited, timed_out;
    int status;
    function_done_fn *done;
    void *ud;
    char *failure; /* set when it never started */
};

static void run_free(struct function_run *run)
{
    process_close_pipe(run->loop, &run->in_fd, &run->in_watch);
    process_close_pipe(run->loop, &run->out_fd, &run->out_watch);
    process_close_pipe(run->loop, &run->err_fd, &run->err_watch);
    loop_timer_cancel(run->loop, run->timer);
    loop_unwatch_child(run->loop, run->child_watch);
    free(run->name);
    free(run->input);
    free(run->failure);
    buf_fini(&run->out);
    buf_fini(&run->err);
    free(run);
}

/* The first line of what the command wrote to stderr, or "". */
static char *first_stderr_line(const struct function_run *run)
{
    const char *s = buf_str(&run->err);
    size_t n = strcspn(s, "\n");
    return xstrndup(s, n > 300 ? 300 : n);
}

/* The command's stdout as the result: NUL bytes (which would end the string
 * early) become U+FFFD, and like $(...) in a shell, the final newlines go. */
static char *result_text(struct function_run *run)
{
    struct buf text = BUF_INIT;

    buf_append(&text, "", 0);
    for (size_t i = 0; i < run->out.len; i++) {
        if (run->out.data[i] == '\0')
            buf_puts(&text, "\xEF\xBF\xBD");
        else
            buf_putc(&text, run->out.data[i]);
    }
    while (text.len && text.data[text.len - 1] == '\n')
        text.data[--text.len] = '\0';
    if (run->truncated)
        buf_printf(&text, "\n[output cut off at %d bytes]", FUNCTION_MAX_OUTPUT);
    return buf_steal(&text);
}

static void run_finish_if_done(struct function_run *run)
{
    char *message, *detail;
    bool ok = false;

    if (!run->exited || run->out_fd >= 0 || run->err_fd >= 0)
        return;
    detail = first_stderr_line(run);
    if (run->timed_out) {
        message = xasprintf("%s timed out after %g s", run->name, run->timeout_ms / 1000.0);
    } else if (WIFEXITED(run->status) && WEXITSTATUS(run->status) == 0) {
        ok = true;
        message = result_text(run);
    } else if (WIFEXITED(run->status)) {
        message =
            xasprintf("%s exited with status %d%s%s", run->name, WEXITSTATUS(run->status), *detail ? ": " : "", detail);
    } else {
        message =
            xasprintf("%s was killed by signal %d%s%s", run->name, WTERMSIG(run->status), *detail ? ": " : "", detail);
    }
    free(detail);
    function_done_fn *done = run->done;
    void *ud = run->ud;
    run_free(run);
    done(ud, ok, message);
    free(message);
}

static void on_exit_status(struct loop *loop, pid_t pid, int status, void *ud)
{
    struct function_run *run = ud;
    run->child_watch = 0;
    run->exited = true;
    run->status = status;
    run_finish_if_done(run);
}

static void on_output(struct loop *loop, int fd, int revents, void *ud)
{
    struct function_run *run = ud;
    bool is_out = fd == run->out_fd;
    struct buf *b = is_out ? &run->out : &run->err;
    char chunk[4096];
    ssize_t n = read(fd, chunk, sizeof chunk);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n > 0) {
        size_t room = b->len < FUNCTION_MAX_OUTPUT ? FUNCTION_MAX_OUTPUT - b->len : 0;
        if ((size_t)n > room) {
            run->truncated = run->truncated || is_out;
            n = (ssize_t)room;
        }
        buf_append(b, chunk, (size_t)n);
        return;
    }
    if (is_out)
        process_close_pipe(loop, &run->out_fd, &run->out_watch);
    else
        process_close_pipe(loop, &run->err_fd, &run->err_watch);
    run_finish_if_done(run);
}

static void on_input_writable(struct loop *loop, int fd, int revents, void *ud)
{
    struct function_run *run = ud;
    ssize_t n = write(fd, run->input + run->input_off, run->input_len - run->input_off);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n > 0)
        run->input_off += (size_t)n;
    /* Done, or the command closed its stdin (EPIPE): either way, close ours. */
    if (n <= 0 || run->input_off == run->input_len)
        process_close_pipe(loop, &run->in_fd, &run->in_watch);
}

static void on_timeout(struct loop *loop, void *ud)
{
    struct function_run *run = ud;
    run->timer = 0;
    run->timed_out = true;
    /* Not reaped yet, so the group id is still its own. The exit comes
     * through the child watch; whatever holds the pipes, stop reading. */
    kill(-run->pid, SIGKILL);
    process_close_pipe(loop, &run->in_fd, &run->in_watch);
    process_close_pipe(loop, &run->out_fd, &run->out_watch);
    process_close_pipe(loop, &run->err_fd, &run->err_watch);
}

static void report_failed_start(struct loop *loop, void *ud)
{
    struct function_run *run = ud;
    function_done_fn *done = run->done;
    void *done_ud = run->ud;
    char *message = run->failure;

    run->timer = 0;
    run->failure = NULL;
    run_free(run);
    done(done_ud, false, message);
    free(message);
}

/* A run that never started: it reports message from the loop, and can be cancelled until then. */
static struct function_run *fail_later(struct loop *loop, function_done_fn *done, void *ud, char *message)
{
    struct function_run *run = xcalloc(1, sizeof *run);
    run->loop = loop;
    run->in_fd = run->out_fd = run->err_fd = -1;
    run->exited = true;
    run->done = done;
    run->ud = ud;
    run->failure = message;
    buf_init(&run->out);
    buf_init(&run->err);
    run->timer = loop_timer_add(loop, 0, report_failed_start, run);
    return run;
}

struct function_run *function_run_start(struct loop *loop, const struct function_def *fn, const char *arguments,
                                        function_done_fn *done, void *ud)
{
    struct function_run *run;
    struct process p;
    char *error = NULL;

    if (!process_spawn(&p, fn->argv, NULL, &error)) {
        char *message = xasprintf("%s: %s", fn->name, error);
        free(error);
        return fail_later(loop, done, ud, message);
    }
    run = xcalloc(1, sizeof *run);
    run->loop = loop;
    run->name = xstrdup(fn->name);
    run->timeout_ms = fn->timeout_ms > 0 ? fn->timeout_ms : FUNCTION_DEFAULT_TIMEOUT_MS;
    run->pid = p.pid;
    run->in_fd = p.in_fd;
    run->out_fd = p.out_fd;
    run->err_fd = p.err_fd;
    run->input = xstrdup(arguments ? arguments : "{}");
    run->input_len = strlen(run->input);
    run->done = done;
    run->ud = ud;
    buf_init(&run->out);
    buf_init(&run->err);
    /* Reaped by the loop, which also kills what it left running. */
    run->child_watch = loop_watch_child(loop, p.pid, true, on_exit_status, run);
    run->in_watch = loop_watch_fd(loop, run->in_fd, LOOP_WRITE, on_input_writable, run);
    run->out_watch = loop_watch_fd(loop, run->out_fd, LOOP_READ, on_output, run);
    run->err_watch = loop_watch_fd(loop, run->err_fd, LOOP_READ, on_output, run);
    run->timer = loop_timer_add(loop, run->timeout_ms, on_timeout, run);
    return run;
}

void function_run_cancel(struct function_run *run)
{
    if (!run)
        return;
    if (!run->exited)
        kill(-run->pid, SIGKILL); /* the loop still reaps it */
    run_free(run);
}
