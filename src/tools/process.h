/* Child processes with pipes: what function tools and MCP stdio servers
 * share. The program runs from an argv (never a shell) in a process group
 * of its own, with its stdin, stdout and stderr on pipes whose ends here are
 * non-blocking and close on exec. Watching the pipes and the exit is the
 * caller's (loop_watch_fd, loop_watch_child with kill_group). */
#ifndef AGENTDECK_TOOLS_PROCESS_H
#define AGENTDECK_TOOLS_PROCESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/loop.h"

struct process {
    pid_t pid;
    int in_fd, out_fd, err_fd; /* our ends: write stdin, read stdout and stderr */
};

/* Starts argv[0] (looked up in PATH when it has no slash) with argv. envp is
 * the child's whole environment (NULL: ours without MISTRAL_API_KEY: no
 * child gets the key). Returns false with *error set
 * to a new sentence naming what failed (a pipe, the fork, or the exec with
 * its reason, e.g. "cannot run nosuch: No such file or directory"); a child
 * whose exec failed has been reaped. */
bool process_spawn(struct process *p, char *const argv[], char *const envp[], char **error);

/* Stops the watch *watch (if any) and closes *fd (if open); both become
 * "none" (0 and -1). */
void process_close_pipe(struct loop *loop, int *fd, uint64_t *watch);

#endif
