/* Batch mode: the commands of a file or of -c options, run one after the
 * other without a screen; events go to stdout as JSON lines. */
#ifndef AGENTDECK_CMD_BATCH_H
#define AGENTDECK_CMD_BATCH_H

#include <stdbool.h>
#include <stdio.h>

#include "orch/session.h"

/* Adds the stdout sink (every event as one JSON line) and the stderr sink
 * (one readable line per error). */
void batch_add_sinks(struct session *s, FILE *events_out, FILE *diagnostics);

/* Runs one command and waits until the runs it started have ended.
 * Returns false when it failed (an error event or a failed run). Sets *quit on /quit. */
bool batch_run_command(struct session *s, const char *line, bool *quit);

/* Runs lines (char *) in order; stops at the first failure unless keep_going.
 * Returns whether every command succeeded. */
bool batch_run_lines(struct session *s, const struct vec *lines, bool keep_going);

/* Whether an event could not be written to stdout (said once on stderr). */
bool batch_events_lost(void);

/* Runs the commands read from fd (name says which in messages), one a line,
 * as they arrive; blank lines and lines starting with # are skipped. Stops
 * at the first failure unless keep_going, and on SIGINT or SIGTERM even
 * while waiting for a line. Returns whether all succeeded. */
bool batch_run_stream(struct session *s, int fd, const char *name, bool keep_going);

#endif
