/* The one event loop: file descriptors, timers and signals, one thread.
 *
 * Callbacks run from loop_run_once(); they may add or remove watches and
 * timers freely: removal only marks, and the loop reaps after dispatch.
 * Watches and timers are named by ids, so a stale id is harmless.
 * loop_new() sets SIGPIPE to be ignored: a closed pipe is an EPIPE error. */
#ifndef AGENTDECK_CORE_LOOP_H
#define AGENTDECK_CORE_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct loop;

enum {
    LOOP_READ = 1,
    LOOP_WRITE = 2,
    LOOP_ERROR = 4, /* in revents only: an error or hang-up on the fd */
};

/* revents is a mask of LOOP_READ, LOOP_WRITE and LOOP_ERROR. An error or a
 * hang-up comes with the events the watch asked for, so that the handler's
 * own read or write meets it. A watch asking for no events is not polled. */
typedef void loop_fd_fn(struct loop *loop, int fd, int revents, void *ud);
typedef void loop_timer_fn(struct loop *loop, void *ud);
typedef void loop_signal_fn(struct loop *loop, int signo, void *ud);
/* status is the child's wait status (WIFEXITED ...). */
typedef void loop_child_fn(struct loop *loop, pid_t pid, int status, void *ud);

struct loop *loop_new(void);
void loop_free(struct loop *loop);

/* Watches fd for events; returns an id for loop_unwatch(). */
uint64_t loop_watch_fd(struct loop *loop, int fd, int events, loop_fd_fn *fn, void *ud);
void loop_watch_set_events(struct loop *loop, uint64_t id, int events);
void loop_unwatch(struct loop *loop, uint64_t id);

/* Calls fn once after delay_ms (0: on the next pass); returns an id. */
uint64_t loop_timer_add(struct loop *loop, int64_t delay_ms, loop_timer_fn *fn, void *ud);
void loop_timer_cancel(struct loop *loop, uint64_t id);

/* Routes signo through the self-pipe to fn, on the loop. One handler per signal. */
void loop_on_signal(struct loop *loop, int signo, loop_signal_fn *fn, void *ud);

bool loop_handles_signal(const struct loop *loop, int signo);

/* Calls fn once, from the loop, when child pid has exited; the loop reaps
 * it. With kill_group the process group pid is killed first, before the
 * reaping, while its id cannot yet belong to anyone else. A watched child
 * keeps the loop running. Returns an id for loop_unwatch_child(). */
uint64_t loop_watch_child(struct loop *loop, pid_t pid, bool kill_group, loop_child_fn *fn, void *ud);
/* fn will not be called; the child is still reaped when it exits. */
void loop_unwatch_child(struct loop *loop, uint64_t id);

/* Runs the handlers of signals that arrived, without waiting: for callers
 * that go a while without waiting in the loop. */
void loop_dispatch_signals(struct loop *loop);

/* Waits at most max_wait_ms (-1: until something happens) and dispatches
 * what is ready. Returns false when there is nothing left to wait for. */
bool loop_run_once(struct loop *loop, int max_wait_ms);
/* Runs until done(ud) is true or nothing is left to wait for. */
void loop_run_until(struct loop *loop, bool (*done)(void *ud), void *ud);

#endif
