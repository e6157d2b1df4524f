#include "config.h"

#include "tools/function.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/xalloc.h"

struct function_run {
    struct loop *loop;
    char *name;
    int timeout_ms;
    pid_t pid;
    int in_fd, out_fd, err_fd;
    uint64_t in_watch, out_watch, err_watch, timer;
    char *input;
    size_t input_len, input_off;
    struct buf out, err;
    bool truncated, exited, timed_out;
    int status;
    function_done_fn *done;
    void *ud;
    char *failure; /* set when it never started */
};

/* Every run whose child has not been reaped, for the SIGCHLD handler. */
static struct vec live_runs = {NULL, 0, 0, NULL};

static void close_fd(struct loop *loop, int *fd, uint64_t *watch)
{
    if (*watch)
        loop_unwatch(loop, *watch);
    *watch = 0;
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void live_remove(struct function_run *run)
{
    for (size_t i = 0; i < live_runs.len; i++) {
        if (live_runs.items[i] == run) {
            vec_remove(&live_runs, i);
            return;
        }
    }
}

static void run_free(struct function_run *run)
{
    close_fd(run->loop, &run->in_fd, &run->in_watch);
    close_fd(run->loop, &run->out_fd, &run->out_watch);
    close_fd(run->loop, &run->err_fd, &run->err_watch);
    loop_timer_cancel(run->loop, run->timer);
    live_remove(run);
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
        if (run->truncated)
            buf_printf(&run->out, "\n[output cut off at %d bytes]", FUNCTION_MAX_OUTPUT);
        /* Like $(...) in a shell: the final newlines are not part of the result. */
        while (run->out.len && run->out.data[run->out.len - 1] == '\n')
            run->out.data[--run->out.len] = '\0';
        message = xstrdup(buf_str(&run->out));
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

static void reap_children(struct loop *loop, int signo, void *ud)
{
    for (size_t i = 0; i < live_runs.len;) {
        struct function_run *run = live_runs.items[i];
        if (!run->exited && waitpid(run->pid, &run->status, WNOHANG) == run->pid) {
            run->exited = true;
            vec_remove(&live_runs, i);
            /* Grandchildren may hold the pipes open: kill the group. */
            kill(-run->pid, SIGKILL);
            run_finish_if_done(run);
            continue;
        }
        i++;
    }
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
        close_fd(loop, &run->out_fd, &run->out_watch);
    else
        close_fd(loop, &run->err_fd, &run->err_watch);
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
        close_fd(loop, &run->in_fd, &run->in_watch);
}

static void on_timeout(struct loop *loop, void *ud)
{
    struct function_run *run = ud;
    run->timer = 0;
    run->timed_out = true;
    kill(-run->pid, SIGKILL);
    /* SIGKILL cannot be caught: reap it now rather than leave the loop
     * with nothing to wait on but a signal. */
    if (!run->exited && waitpid(run->pid, &run->status, 0) == run->pid) {
        run->exited = true;
        live_remove(run);
    }
    /* Whatever it holds open, stop waiting for its pipes. */
    close_fd(loop, &run->out_fd, &run->out_watch);
    close_fd(loop, &run->err_fd, &run->err_watch);
    run_finish_if_done(run);
}

static void set_nonblock_cloexec(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
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
    int in[2], out[2], err[2], report[2];
    int child_errno = 0;
    struct function_run *run;
    pid_t pid;

    if (!loop_handles_signal(loop, SIGCHLD))
        loop_on_signal(loop, SIGCHLD, reap_children, NULL);
    if (pipe(in) < 0)
        return fail_later(loop, done, ud, xasprintf("%s: cannot create a pipe: %s", fn->name, strerror(errno)));
    if (pipe(out) < 0) {
        close(in[0]), close(in[1]);
        return fail_later(loop, done, ud, xasprintf("%s: cannot create a pipe: %s", fn->name, strerror(errno)));
    }
    if (pipe(err) < 0 || pipe(report) < 0) {
        close(in[0]), close(in[1]), close(out[0]), close(out[1]);
        return fail_later(loop, done, ud, xasprintf("%s: cannot create a pipe: %s", fn->name, strerror(errno)));
    }
    fcntl(report[1], F_SETFD, FD_CLOEXEC);

    pid = fork();
    if (pid < 0) {
        int e = errno;
        close(in[0]), close(in[1]), close(out[0]), close(out[1]);
        close(err[0]), close(err[1]), close(report[0]), close(report[1]);
        return fail_later(loop, done, ud, xasprintf("%s: cannot start: %s", fn->name, strerror(e)));
    }
    if (pid == 0) {
        setpgid(0, 0);
        signal(SIGPIPE, SIG_DFL);
        dup2(in[0], STDIN_FILENO);
        dup2(out[1], STDOUT_FILENO);
        dup2(err[1], STDERR_FILENO);
        close(in[0]), close(in[1]), close(out[0]), close(out[1]), close(err[0]), close(err[1]);
        close(report[0]);
        execvp(fn->argv[0], fn->argv);
        child_errno = errno;
        (void)!write(report[1], &child_errno, sizeof child_errno);
        _exit(127);
    }
    setpgid(pid, pid); /* both sides set it: no race with kill(-pid) */
    close(in[0]), close(out[1]), close(err[1]), close(report[1]);
    /* The report pipe closes on a successful exec; otherwise it holds errno. */
    while (read(report[0], &child_errno, sizeof child_errno) < 0 && errno == EINTR)
        ;
    close(report[0]);

    run = xcalloc(1, sizeof *run);
    run->loop = loop;
    run->name = xstrdup(fn->name);
    run->timeout_ms = fn->timeout_ms > 0 ? fn->timeout_ms : FUNCTION_DEFAULT_TIMEOUT_MS;
    run->pid = pid;
    run->in_fd = in[1];
    run->out_fd = out[0];
    run->err_fd = err[0];
    run->input = xstrdup(arguments ? arguments : "{}");
    run->input_len = strlen(run->input);
    run->done = done;
    run->ud = ud;
    buf_init(&run->out);
    buf_init(&run->err);
    vec_push(&live_runs, run);
    set_nonblock_cloexec(run->in_fd);
    set_nonblock_cloexec(run->out_fd);
    set_nonblock_cloexec(run->err_fd);

    if (child_errno) {
        /* It never ran: reap it and report the exec error on the loop. */
        char *message = xasprintf("%s: cannot run %s: %s", fn->name, fn->argv[0], strerror(child_errno));
        waitpid(pid, NULL, 0);
        run->exited = true;
        run_free(run);
        return fail_later(loop, done, ud, message);
    }
    run->in_watch = loop_watch_fd(loop, run->in_fd, LOOP_WRITE, on_input_writable, run);
    run->out_watch = loop_watch_fd(loop, run->out_fd, LOOP_READ, on_output, run);
    run->err_watch = loop_watch_fd(loop, run->err_fd, LOOP_READ, on_output, run);
    run->timer = loop_timer_add(loop, run->timeout_ms, on_timeout, run);
    /* A child that exited before the handler was in place is reaped here. */
    reap_children(loop, SIGCHLD, NULL);
    return run;
}

void function_run_cancel(struct function_run *run)
{
    if (!run)
        return;
    if (!run->exited) {
        kill(-run->pid, SIGKILL);
        waitpid(run->pid, NULL, 0);
    }
    run_free(run);
}
