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

struct loop;

enum {
    LOOP_READ = 1,
    LOOP_WRITE = 2,
};

/* revents is a mask of LOOP_READ, LOOP_WRITE; hang-ups and errors report as LOOP_READ. */
typedef void loop_fd_fn(struct loop *loop, int fd, int revents, void *ud);
typedef void loop_timer_fn(struct loop *loop, void *ud);
typedef void loop_signal_fn(struct loop *loop, int signo, void *ud);

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

/* Waits at most max_wait_ms (-1: until something happens) and dispatches
 * what is ready. Returns false when there is nothing left to wait for. */
bool loop_run_once(struct loop *loop, int max_wait_ms);
/* Runs until done(ud) is true or nothing is left to wait for. */
void loop_run_until(struct loop *loop, bool (*done)(void *ud), void *ud);

#endif
