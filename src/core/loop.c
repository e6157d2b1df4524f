#include "config.h"

#include "core/loop.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/xalloc.h"

struct watch {
    uint64_t id;
    int fd;
    int events;
    loop_fd_fn *fn;
    void *ud;
    bool dead;
};

struct timer {
    uint64_t id;
    int64_t due;
    loop_timer_fn *fn;
    void *ud;
    bool dead;
};

struct child {
    uint64_t id;
    pid_t pid;
    bool kill_group;
    loop_child_fn *fn; /* NULL once unwatched: only reaped */
    void *ud;
};

struct signal_handler {
    int signo;
    loop_signal_fn *fn;
    void *ud;
};

struct loop {
    uint64_t next_id;
    struct watch *watches;
    size_t nwatches, watch_cap;
    struct timer *timers;
    size_t ntimers, timer_cap;
    struct child *children;
    size_t nchildren, child_cap;
    struct signal_handler signals[8];
    size_t nsignals;
    uint64_t signal_watch;
    struct pollfd *pfds;
    size_t pfd_cap;
};

/* The self-pipe is process-wide: signal handlers cannot find a loop. */
static int signal_pipe[2] = {-1, -1};

static void signal_trampoline(int signo)
{
    int saved = errno;
    unsigned char byte = (unsigned char)signo;
    if (signal_pipe[1] >= 0)
        (void)!write(signal_pipe[1], &byte, 1);
    errno = saved;
}

static void signal_pipe_readable(struct loop *loop, int fd, int revents, void *ud)
{
    unsigned char bytes[64];
    ssize_t n;

    while ((n = read(fd, bytes, sizeof bytes)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            for (size_t k = 0; k < loop->nsignals; k++) {
                if (loop->signals[k].signo == bytes[i])
                    loop->signals[k].fn(loop, bytes[i], loop->signals[k].ud);
            }
        }
    }
}

void loop_dispatch_signals(struct loop *loop)
{
    if (loop->signal_watch)
        signal_pipe_readable(loop, signal_pipe[0], LOOP_READ, NULL);
}

struct loop *loop_new(void)
{
    struct loop *loop = xcalloc(1, sizeof *loop);
    /* Peers that go away (a function's stdin, a socket) must be an EPIPE
     * to handle, never the death of the process. */
    signal(SIGPIPE, SIG_IGN);
    loop->next_id = 1;
    return loop;
}

void loop_free(struct loop *loop)
{
    if (!loop)
        return;
    for (size_t k = 0; k < loop->nsignals; k++)
        signal(loop->signals[k].signo, SIG_DFL);
    if (loop->nsignals && signal_pipe[0] >= 0) {
        close(signal_pipe[0]);
        close(signal_pipe[1]);
        signal_pipe[0] = signal_pipe[1] = -1;
    }
    free(loop->watches);
    free(loop->timers);
    free(loop->children);
    free(loop->pfds);
    free(loop);
}

uint64_t loop_watch_fd(struct loop *loop, int fd, int events, loop_fd_fn *fn, void *ud)
{
    if (loop->nwatches == loop->watch_cap) {
        loop->watch_cap = loop->watch_cap ? loop->watch_cap * 2 : 16;
        loop->watches = xreallocarray(loop->watches, loop->watch_cap, sizeof *loop->watches);
    }
    loop->watches[loop->nwatches++] = (struct watch){loop->next_id, fd, events, fn, ud, false};
    return loop->next_id++;
}

static struct watch *watch_find(struct loop *loop, uint64_t id)
{
    for (size_t i = 0; i < loop->nwatches; i++) {
        if (loop->watches[i].id == id && !loop->watches[i].dead)
            return &loop->watches[i];
    }
    return NULL;
}

void loop_watch_set_events(struct loop *loop, uint64_t id, int events)
{
    struct watch *w = watch_find(loop, id);
    if (w)
        w->events = events;
}

void loop_unwatch(struct loop *loop, uint64_t id)
{
    struct watch *w = watch_find(loop, id);
    if (w)
        w->dead = true;
}

uint64_t loop_timer_add(struct loop *loop, int64_t delay_ms, loop_timer_fn *fn, void *ud)
{
    if (loop->ntimers == loop->timer_cap) {
        loop->timer_cap = loop->timer_cap ? loop->timer_cap * 2 : 16;
        loop->timers = xreallocarray(loop->timers, loop->timer_cap, sizeof *loop->timers);
    }
    if (delay_ms < 0)
        delay_ms = 0;
    loop->timers[loop->ntimers++] = (struct timer){loop->next_id, clock_now_ms() + delay_ms, fn, ud, false};
    return loop->next_id++;
}

void loop_timer_cancel(struct loop *loop, uint64_t id)
{
    for (size_t i = 0; i < loop->ntimers; i++) {
        if (loop->timers[i].id == id)
            loop->timers[i].dead = true;
    }
}

void loop_on_signal(struct loop *loop, int signo, loop_signal_fn *fn, void *ud)
{
    struct sigaction sa;

    if (signal_pipe[0] < 0) {
        if (pipe(signal_pipe) < 0)
            fatal("cannot create the signal pipe: %s", strerror(errno));
        for (int i = 0; i < 2; i++) {
            fcntl(signal_pipe[i], F_SETFL, O_NONBLOCK);
            fcntl(signal_pipe[i], F_SETFD, FD_CLOEXEC);
        }
    }
    if (!loop->signal_watch)
        loop->signal_watch = loop_watch_fd(loop, signal_pipe[0], LOOP_READ, signal_pipe_readable, NULL);
    for (size_t k = 0; k < loop->nsignals; k++) {
        if (loop->signals[k].signo == signo) {
            loop->signals[k].fn = fn;
            loop->signals[k].ud = ud;
            return;
        }
    }
    if (loop->nsignals == sizeof loop->signals / sizeof loop->signals[0])
        fatal("too many signal handlers");
    loop->signals[loop->nsignals++] = (struct signal_handler){signo, fn, ud};
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = signal_trampoline;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(signo, &sa, NULL);
}

bool loop_handles_signal(const struct loop *loop, int signo)
{
    for (size_t k = 0; k < loop->nsignals; k++) {
        if (loop->signals[k].signo == signo)
            return true;
    }
    return false;
}

/* Reaps the children that have exited, calling their watchers. */
static void reap_children(struct loop *loop, int signo, void *ud)
{
    for (size_t i = 0; i < loop->nchildren;) {
        struct child c = loop->children[i];
        siginfo_t info;
        int status = 0;

        memset(&info, 0, sizeof info);
        /* WNOWAIT: the group is killed while the pid is still ours. */
        if (waitid(P_PID, (id_t)c.pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0 || info.si_pid != c.pid) {
            i++;
            continue;
        }
        if (c.kill_group)
            kill(-c.pid, SIGKILL);
        waitpid(c.pid, &status, 0);
        loop->children[i] = loop->children[--loop->nchildren];
        if (c.fn)
            c.fn(loop, c.pid, status, c.ud); /* may add children: i is not advanced */
    }
}

uint64_t loop_watch_child(struct loop *loop, pid_t pid, bool kill_group, loop_child_fn *fn, void *ud)
{
    unsigned char byte = SIGCHLD;

    if (!loop_handles_signal(loop, SIGCHLD))
        loop_on_signal(loop, SIGCHLD, reap_children, NULL);
    if (loop->nchildren == loop->child_cap) {
        loop->child_cap = loop->child_cap ? loop->child_cap * 2 : 8;
        loop->children = xreallocarray(loop->children, loop->child_cap, sizeof *loop->children);
    }
    loop->children[loop->nchildren++] = (struct child){loop->next_id, pid, kill_group, fn, ud};
    /* It may have exited before anyone listened: look on the next pass. */
    (void)!write(signal_pipe[1], &byte, 1);
    return loop->next_id++;
}

void loop_unwatch_child(struct loop *loop, uint64_t id)
{
    for (size_t i = 0; i < loop->nchildren; i++) {
        if (loop->children[i].id == id)
            loop->children[i].fn = NULL;
    }
}

/* Drops dead watches and timers; runs only between dispatches. */
static void loop_reap(struct loop *loop)
{
    size_t j = 0;
    for (size_t i = 0; i < loop->nwatches; i++) {
        if (!loop->watches[i].dead)
            loop->watches[j++] = loop->watches[i];
    }
    loop->nwatches = j;
    j = 0;
    for (size_t i = 0; i < loop->ntimers; i++) {
        if (!loop->timers[i].dead)
            loop->timers[j++] = loop->timers[i];
    }
    loop->ntimers = j;
}

/* Whether anything but the signal pipe could still wake us. */
static bool loop_has_work(const struct loop *loop)
{
    for (size_t i = 0; i < loop->ntimers; i++) {
        if (!loop->timers[i].dead)
            return true;
    }
    for (size_t i = 0; i < loop->nwatches; i++) {
        if (!loop->watches[i].dead && loop->watches[i].id != loop->signal_watch)
            return true;
    }
    for (size_t i = 0; i < loop->nchildren; i++) {
        if (loop->children[i].fn)
            return true;
    }
    return false;
}

static void loop_run_timers(struct loop *loop)
{
    int64_t now = clock_now_ms();
    /* Timers added by a callback wait for the next pass. */
    size_t n = loop->ntimers;

    for (size_t i = 0; i < n; i++) {
        struct timer *t = &loop->timers[i];
        if (t->dead || t->due > now)
            continue;
        t->dead = true;
        loop_timer_fn *fn = t->fn;
        void *ud = t->ud;
        fn(loop, ud); /* may grow loop->timers: t is not used after this */
    }
}

bool loop_run_once(struct loop *loop, int max_wait_ms)
{
    int64_t now, timeout = max_wait_ms;
    size_t n;
    int rc;

    loop_reap(loop);
    if (!loop_has_work(loop))
        return false;

    now = clock_now_ms();
    for (size_t i = 0; i < loop->ntimers; i++) {
        int64_t wait = loop->timers[i].due - now;
        if (wait < 0)
            wait = 0;
        if (timeout < 0 || wait < timeout)
            timeout = wait;
    }

    n = loop->nwatches;
    if (n > loop->pfd_cap) {
        loop->pfd_cap = n * 2;
        loop->pfds = xreallocarray(loop->pfds, loop->pfd_cap, sizeof *loop->pfds);
    }
    for (size_t i = 0; i < n; i++) {
        struct watch *w = &loop->watches[i];
        loop->pfds[i].fd = w->events && !w->dead ? w->fd : -1;
        loop->pfds[i].events =
            (short)(((w->events & LOOP_READ) ? POLLIN : 0) | ((w->events & LOOP_WRITE) ? POLLOUT : 0));
        loop->pfds[i].revents = 0;
    }

    rc = poll(loop->pfds, n, timeout > 1000000 ? 1000000 : (int)timeout);
    if (rc < 0 && errno != EINTR)
        fatal("poll failed: %s", strerror(errno));

    for (size_t i = 0; rc > 0 && i < n; i++) {
        short re = loop->pfds[i].revents;
        int revents = 0;
        if (!re)
            continue;
        if (re & POLLIN)
            revents |= LOOP_READ;
        if (re & POLLOUT)
            revents |= LOOP_WRITE;
        if (re & (POLLHUP | POLLERR | POLLNVAL))
            revents |= LOOP_ERROR | (loop->watches[i].events & (LOOP_READ | LOOP_WRITE));
        /* Index, not pointer: a callback may grow the array. */
        if (!loop->watches[i].dead && (revents & loop->watches[i].events))
            loop->watches[i].fn(loop, loop->watches[i].fd, revents, loop->watches[i].ud);
        else if (!loop->watches[i].dead && (re & POLLNVAL))
            loop->watches[i].dead = true; /* a closed fd would spin */
    }

    loop_run_timers(loop);
    loop_reap(loop);
    return true;
}

void loop_run_until(struct loop *loop, bool (*done)(void *ud), void *ud)
{
    while (!done(ud)) {
        if (!loop_run_once(loop, -1))
            break;
    }
}
