/* Function tools that run on the client: the call's arguments JSON goes to
 * the command's stdin and its stdout is the result. An argv, never a shell. */
#ifndef AGENTDECK_TOOLS_FUNCTION_H
#define AGENTDECK_TOOLS_FUNCTION_H

#include <stdbool.h>

#include "core/loop.h"
#include "model/team.h"

/* ok: output is the command's stdout. !ok: output is one sentence saying
 * what went wrong (timeout, exit status, missing program) with the first
 * line the command wrote to stderr. Called once, from the loop. */
typedef void function_done_fn(void *ud, bool ok, const char *output);

struct function_run;

/* Starts fn with arguments on its stdin. Returns a handle for cancelling,
 * valid until done is called; a command that cannot start reports that
 * through done too. done is never called from inside this call. */
struct function_run *function_run_start(struct loop *loop, const struct function_def *fn, const char *arguments,
                                        function_done_fn *done, void *ud);
/* Kills the command; done is not called. */
void function_run_cancel(struct function_run *run);

/* Stdout beyond this is cut off, and the result says so. */
#define FUNCTION_MAX_OUTPUT (1024 * 1024)

#endif
