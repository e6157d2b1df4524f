/* The stdio transport (MCP.md §1.2, §1.5): the server is a child process;
 * one JSON-RPC message a line on its stdin and stdout, its stderr kept as
 * log lines. It stops by its stdin closing, then SIGTERM, then SIGKILL. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/xalloc.h"
#include "tools/mcp.h"
#include "tools/mcp_internal.h"
#include "tools/process.h"

/* A message line longer than this ends the connection (the SDK's cap is 10 MiB). */
#define MAX_LINE ((size_t)16 << 20)
/* A stderr line is cut here in the log. */
#define MAX_LOG_LINE 4096

struct stdio_transport {
    struct process p;
    uint64_t in_watch, out_watch, err_watch, child_watch, stop_timer;
    struct buf queue; /* bytes to write to the server's stdin */
    size_t queue_off;
    struct buf out, err; /* partial lines read */
    char *last_err;      /* the last stderr line, for a message when it dies */
    bool exited, closing;
    int stop_step; /* 0: stdin closed, 1: SIGTERM sent, 2: SIGKILL sent */
};

static struct stdio_transport *of(struct mcp_server *srv)
{
    return mcp_base(srv)->transport;
}

/* The environment the server gets: the few variables the SDK passes on,
 * then the profile's env. Keys and other secrets stay with us. New. */
static char **server_environment(const cJSON *env)
{
    static const char *const inherited[] = {"HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER", NULL};
    size_t n = 0, cap = 8 + (size_t)cJSON_GetArraySize(env);
    char **envp = xcalloc(cap, sizeof *envp);
    const cJSON *item;

    for (size_t i = 0; inherited[i]; i++) {
        const char *value = getenv(inherited[i]);
        if (value && !cJSON_GetObjectItemCaseSensitive(env, inherited[i]))
            envp[n++] = xasprintf("%s=%s", inherited[i], value);
    }
    cJSON_ArrayForEach(item, env) {
        if (cJSON_IsString(item))
            envp[n++] = xasprintf("%s=%s", item->string, item->valuestring);
    }
    return envp;
}

static void free_environment(char **envp)
{
    for (char **p = envp; *p; p++)
        free(*p);
    free(envp);
}

/* Delivers each complete line of out; false once a line is too long. */
static bool deliver_lines(struct mcp_server *srv, struct stdio_transport *st)
{
    char *line;

    while ((line = buf_take_line(&st->out, false))) {
        size_t n = strlen(line);
        if (n && line[n - 1] == '\r')
            line[--n] = '\0';
        if (n)
            mcp_server_received(srv, line);
        free(line);
    }
    return st->out.len <= MAX_LINE;
}

static void log_stderr_lines(struct mcp_server *srv, struct stdio_transport *st, bool at_end)
{
    char *line;

    while ((line = buf_take_line(&st->err, at_end))) {
        size_t n = strlen(line);
        if (n && line[n - 1] == '\r')
            line[--n] = '\0';
        if (n > MAX_LOG_LINE)
            line[n = MAX_LOG_LINE] = '\0';
        if (n) {
            free(st->last_err);
            st->last_err = xstrndup(line, 300);
            mcp_server_log(srv, "stderr", line);
        }
        free(line);
    }
    if (st->err.len > MAX_LOG_LINE) {
        /* A line without end: log what there is. */
        buf_putc(&st->err, '\n');
        log_stderr_lines(srv, st, false);
    }
}

/* Reads what fd has now; returns false at the end of it (or an error). */
static bool read_some(int fd, struct buf *into)
{
    char chunk[8192];

    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n > 0) {
            buf_append(into, chunk, (size_t)n);
            if (n < (ssize_t)sizeof chunk)
                return true;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 && errno == EAGAIN;
    }
}

static void report_exit(struct mcp_server *srv, struct stdio_transport *st, int status)
{
    const char *detail = st->last_err ? st->last_err : "";
    char *why;

    if (WIFEXITED(status))
        why = xasprintf("the server exited with status %d%s%s", WEXITSTATUS(status), *detail ? ": " : "", detail);
    else
        why = xasprintf("the server was killed by signal %d%s%s", WTERMSIG(status), *detail ? ": " : "", detail);
    mcp_server_lost(srv, why);
    free(why);
}

static void on_stdout(struct loop *loop, int fd, int revents, void *ud)
{
    struct mcp_server *srv = ud;
    struct stdio_transport *st = of(srv);
    bool open = read_some(fd, &st->out);

    if (!deliver_lines(srv, st)) {
        process_close_pipe(loop, &st->p.out_fd, &st->out_watch);
        mcp_server_lost(srv, "the server sent a message line over 16 MiB");
        return;
    }
    if (!open)
        process_close_pipe(loop, &st->p.out_fd, &st->out_watch); /* the exit says why */
}

static void on_stderr(struct loop *loop, int fd, int revents, void *ud)
{
    struct mcp_server *srv = ud;
    struct stdio_transport *st = of(srv);
    bool open = read_some(fd, &st->err);

    log_stderr_lines(srv, st, !open);
    if (!open)
        process_close_pipe(loop, &st->p.err_fd, &st->err_watch);
}

static void on_stdin_writable(struct loop *loop, int fd, int revents, void *ud)
{
    struct mcp_server *srv = ud;
    struct stdio_transport *st = of(srv);

    while (st->queue_off < st->queue.len) {
        ssize_t n = write(fd, st->queue.data + st->queue_off, st->queue.len - st->queue_off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            /* It closed its stdin: it is going, and its exit will say so. */
            process_close_pipe(loop, &st->p.in_fd, &st->in_watch);
            return;
        }
        st->queue_off += (size_t)n;
    }
    buf_reset(&st->queue);
    st->queue_off = 0;
    loop_watch_set_events(loop, st->in_watch, 0);
}

static void on_child_exit(struct loop *loop, pid_t pid, int status, void *ud)
{
    struct mcp_server *srv = ud;
    struct stdio_transport *st = of(srv);

    st->child_watch = 0;
    st->exited = true;
    loop_timer_cancel(loop, st->stop_timer);
    st->stop_timer = 0;
    /* What it wrote before going still counts: the last answer, its last words. */
    if (st->p.out_fd >= 0) {
        read_some(st->p.out_fd, &st->out);
        deliver_lines(srv, st);
    }
    if (st->p.err_fd >= 0) {
        read_some(st->p.err_fd, &st->err);
        log_stderr_lines(srv, st, true);
    }
    if (st->closing)
        mcp_server_transport_closed(srv);
    else
        report_exit(srv, st, status);
}

static bool stdio_open(struct mcp_server *srv, char **error)
{
    struct mcp_server_base *base = mcp_base(srv);
    struct stdio_transport *st;
    struct process p;
    char **envp = server_environment(base->def->env);
    bool ok = process_spawn(&p, base->def->argv, envp, error);

    free_environment(envp);
    if (!ok)
        return false;
    st = xcalloc(1, sizeof *st);
    st->p = p;
    buf_init(&st->queue);
    buf_init(&st->out);
    buf_init(&st->err);
    base->transport = st;
    st->child_watch = loop_watch_child(base->loop, p.pid, true, on_child_exit, srv);
    st->in_watch = loop_watch_fd(base->loop, p.in_fd, 0, on_stdin_writable, srv);
    st->out_watch = loop_watch_fd(base->loop, p.out_fd, LOOP_READ, on_stdout, srv);
    st->err_watch = loop_watch_fd(base->loop, p.err_fd, LOOP_READ, on_stderr, srv);
    mcp_server_transport_ready(srv);
    return true;
}

static void stdio_send(struct mcp_server *srv, const char *json, int64_t id)
{
    struct stdio_transport *st = of(srv);

    (void)id;
    if (st->p.in_fd < 0)
        return; /* it is going; its exit will end the calls */
    buf_puts(&st->queue, json);
    buf_putc(&st->queue, '\n');
    loop_watch_set_events(mcp_base(srv)->loop, st->in_watch, LOOP_WRITE);
}

static void on_stop_step(struct loop *loop, void *ud)
{
    struct mcp_server *srv = ud;
    struct stdio_transport *st = of(srv);

    st->stop_timer = 0;
    if (st->exited)
        return;
    /* Not reaped yet, so the group id is still its own. */
    kill(-st->p.pid, st->stop_step == 0 ? SIGTERM : SIGKILL);
    if (++st->stop_step < 2)
        st->stop_timer = loop_timer_add(loop, MCP_STOP_GRACE_MS, on_stop_step, srv);
}

static void stdio_close(struct mcp_server *srv)
{
    struct stdio_transport *st = of(srv);
    struct loop *loop = mcp_base(srv)->loop;

    st->closing = true;
    /* The end of its input is the polite way to ask it to go. */
    process_close_pipe(loop, &st->p.in_fd, &st->in_watch);
    st->stop_step = 0;
    st->stop_timer = loop_timer_add(loop, MCP_STOP_GRACE_MS, on_stop_step, srv);
}

static void stdio_kill(struct mcp_server *srv)
{
    struct mcp_server_base *base = mcp_base(srv);
    struct stdio_transport *st = base->transport;

    if (!st)
        return;
    if (!st->exited)
        kill(-st->p.pid, SIGKILL); /* the loop still reaps it */
    loop_unwatch_child(base->loop, st->child_watch);
    loop_timer_cancel(base->loop, st->stop_timer);
    process_close_pipe(base->loop, &st->p.in_fd, &st->in_watch);
    process_close_pipe(base->loop, &st->p.out_fd, &st->out_watch);
    process_close_pipe(base->loop, &st->p.err_fd, &st->err_watch);
    buf_fini(&st->queue);
    buf_fini(&st->out);
    buf_fini(&st->err);
    free(st->last_err);
    free(st);
    base->transport = NULL;
}

static void stdio_describe(const struct mcp_server *srv, cJSON *obj)
{
    const struct stdio_transport *st = ((const struct mcp_server_base *)srv)->transport;

    if (st && !st->exited)
        cJSON_AddNumberToObject(obj, "pid", (double)st->p.pid);
}

const struct mcp_transport_ops mcp_stdio_ops = {"stdio",     stdio_open, stdio_send,
                                                stdio_close, stdio_kill, stdio_describe};
